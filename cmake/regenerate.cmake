# SPDX-License-Identifier: MIT
#
# cmake -DVERANIC=<veranic> -DPROTOC_C=<protoc-c> -DSCHEMA_DIR=<dir> -DOUT_DIR=<dir>
#       -P regenerate.cmake
#
# For every SCHEMA_DIR/<name>.verani: run veranic (with --stubs) and protoc-c
# into a scratch directory, then replace OUT_DIR/<name>/ with it. veranic runs
# from SCHEMA_DIR's parent with the path schema/<name>.verani, so line 1 of
# every file is the same on every machine. The `regenerate` target runs it
# with OUT_DIR = generated/ (the only way generated/ changes); the golden test
# runs it with OUT_DIR in the build tree and diffs the two.
foreach(v VERANIC PROTOC_C SCHEMA_DIR OUT_DIR)
    if(NOT ${v})
        message(FATAL_ERROR "regenerate.cmake: -D${v}=... is required")
    endif()
endforeach()

get_filename_component(root "${SCHEMA_DIR}" DIRECTORY)
get_filename_component(schema_dir_name "${SCHEMA_DIR}" NAME)
file(GLOB schemas "${SCHEMA_DIR}/*.verani")
list(SORT schemas)
file(MAKE_DIRECTORY "${OUT_DIR}")
foreach(schema ${schemas})
    get_filename_component(name "${schema}" NAME_WE)
    set(scratch "${OUT_DIR}/${name}.tmp")
    file(REMOVE_RECURSE "${scratch}")
    file(MAKE_DIRECTORY "${scratch}")
    execute_process(
        COMMAND "${VERANIC}" --stubs -o "${scratch}" "${schema_dir_name}/${name}.verani"
        WORKING_DIRECTORY "${root}"
        RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        file(REMOVE_RECURSE "${scratch}")
        message(FATAL_ERROR "veranic failed on ${schema_dir_name}/${name}.verani (exit ${rc})")
    endif()
    file(GLOB protos "${scratch}/*.proto")
    # envelope.proto is the runtime's (libverani has its C): only the schema's is compiled
    list(FILTER protos EXCLUDE REGEX "/envelope\\.proto$")
    foreach(proto ${protos})
        get_filename_component(pname "${proto}" NAME)
        execute_process(
            COMMAND "${PROTOC_C}" "--c_out=${scratch}" "-I${scratch}" "${scratch}/${pname}"
            RESULT_VARIABLE rc)
        if(NOT rc EQUAL 0)
            file(REMOVE_RECURSE "${scratch}")
            message(FATAL_ERROR "protoc-c failed on the ${pname} made from ${name}.verani")
        endif()
    endforeach()
    file(REMOVE_RECURSE "${OUT_DIR}/${name}")
    file(RENAME "${scratch}" "${OUT_DIR}/${name}")
    message(STATUS "generated ${OUT_DIR}/${name}")
endforeach()
