# SPDX-License-Identifier: MIT
#
# cmake -DVERANIC=... -DPROTOC_C=... -DPROTOC=... [-DPROTOC_GEN_ES=...] -DSOURCE_DIR=<repo>
#       -DOUT_DIR=<scratch> -P golden.cmake
#
# The golden test: regenerate every schema/*.verani into OUT_DIR exactly as
# the `regenerate` target does (cmake/regenerate.cmake), then `diff -ru`
# against the checked-in generated/. Also: every line veranic wrote is at
# most 100 columns, and protoc accepts every emitted .proto
# (--descriptor_set_out), so any protobuf toolchain can use it.
set(SCHEMA_DIR "${SOURCE_DIR}/schema")
file(REMOVE_RECURSE "${OUT_DIR}")
set(ALLOW_NO_TS ON)   # a build without the TypeScript client compares all but ts/
include("${SOURCE_DIR}/cmake/regenerate.cmake")

set(skip -x README.md)
if(NOT PROTOC_GEN_ES)
    list(APPEND skip -x ts)
endif()
execute_process(COMMAND diff -ru ${skip} "${SOURCE_DIR}/generated" "${OUT_DIR}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(SEND_ERROR "generated/ differs from what veranic makes now (diff above): run "
                       "`cmake --build <build> --target regenerate` and commit the result")
endif()

file(GLOB_RECURSE outputs "${OUT_DIR}/*_*.c" "${OUT_DIR}/*_*.h" "${OUT_DIR}/*.proto")
foreach(f ${outputs})
    file(STRINGS "${f}" lines)
    foreach(line IN LISTS lines)
        string(LENGTH "${line}" len)
        if(len GREATER 100)
            message(SEND_ERROR "${f}: a line of ${len} columns: ${line}")
        endif()
    endforeach()
endforeach()

if(PROTOC)
    file(GLOB_RECURSE protos "${OUT_DIR}/*.proto")
    foreach(p ${protos})
        get_filename_component(dir "${p}" DIRECTORY)
        execute_process(COMMAND "${PROTOC}" "-I${dir}" "--descriptor_set_out=${p}.desc" "${p}"
                        RESULT_VARIABLE rc)
        if(NOT rc EQUAL 0)
            message(SEND_ERROR "protoc rejects ${p}")
        endif()
        file(REMOVE "${p}.desc")
    endforeach()
endif()
