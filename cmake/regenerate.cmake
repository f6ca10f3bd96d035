# SPDX-License-Identifier: MIT
#
# cmake -DVERANIC=<veranic> -DPROTOC_C=<protoc-c> -DSCHEMA_DIR=<dir> -DOUT_DIR=<dir>
#       [-DPROTOC=<protoc> -DPROTOC_GEN_ES=<protoc-gen-es>] -P regenerate.cmake
#
# For every SCHEMA_DIR/<name>.verani: run veranic (with --stubs, and --ts into
# ts/) and protoc-c into a scratch directory, protoc with protoc-gen-es for
# ts/<pkg>_pb.ts, then replace OUT_DIR/<name>/ with it. Without PROTOC_GEN_ES
# (a build with -DVERANI_BUILD_TS=OFF) it refuses, unless ALLOW_NO_TS is set
# (the golden test then compares everything but ts/). veranic runs
# from SCHEMA_DIR's parent with the path schema/<name>.verani, so line 1 of
# every file is the same on every machine. The `regenerate` target runs it
# with OUT_DIR = generated/ (the only way generated/ changes); the golden test
# runs it with OUT_DIR in the build tree and diffs the two.
foreach(v VERANIC PROTOC_C SCHEMA_DIR OUT_DIR)
    if(NOT ${v})
        message(FATAL_ERROR "regenerate.cmake: -D${v}=... is required")
    endif()
endforeach()

if(NOT (PROTOC_GEN_ES AND PROTOC) AND NOT ALLOW_NO_TS)
    message(FATAL_ERROR "regenerate.cmake: generated/ holds the TypeScript client too: configure "
                        "with -DVERANI_BUILD_TS=ON (node, npm and protoc) to regenerate it")
endif()

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
    set(ts_args)
    if(PROTOC_GEN_ES AND PROTOC)
        set(ts_args --ts "${scratch}/ts")
    endif()
    execute_process(
        COMMAND "${VERANIC}" --stubs -o "${scratch}" ${ts_args} "${schema_dir_name}/${name}.verani"
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
        if(ts_args)
            # the payload types in TypeScript, by protoc-gen-es (@bufbuild/protobuf)
            execute_process(
                COMMAND "${PROTOC}" "--plugin=protoc-gen-es=${PROTOC_GEN_ES}"
                        "--es_out=${scratch}/ts" "--es_opt=target=ts,import_extension=js"
                        "-I${scratch}" "${scratch}/${pname}"
                RESULT_VARIABLE rc)
            if(NOT rc EQUAL 0)
                file(REMOVE_RECURSE "${scratch}")
                message(FATAL_ERROR "protoc-gen-es failed on the ${pname} made from ${name}.verani")
            endif()
        endif()
    endforeach()
    file(REMOVE_RECURSE "${OUT_DIR}/${name}")
    file(RENAME "${scratch}" "${OUT_DIR}/${name}")
    message(STATUS "generated ${OUT_DIR}/${name}")
endforeach()
