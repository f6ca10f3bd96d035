# SPDX-License-Identifier: MIT
#
# verani_generate(TARGET <lib> SCHEMA <file> [OUTPUT_DIR <dir>] [STUBS <dir>] [TS <dir>]
#                 [PACKAGE <pkg>])
#
# Runs veranic on SCHEMA and protoc-c on the .proto it emits, at build time,
# and makes <lib>: a STATIC library of the generated code whose PUBLIC
# include directory is the output directory, linked to verani::verani and
# protobuf-c. Link it and include "<pkg>_server.h" or "<pkg>_client.h".
#
#   OUTPUT_DIR  where the files go (relative: to the current binary directory);
#               default ${CMAKE_CURRENT_BINARY_DIR}/<lib>_gen
#   STUBS       also write the handler skeleton <pkg>_handlers.c and its header
#               <pkg>_handlers.h into this directory (relative: to the current
#               source directory), once: veranic never overwrites them; when the
#               schema gains `on` events the skeleton lacks, every build names
#               them and writes the full skeleton as <pkg>_handlers.c.new. With an
#               installed veranic (find_package(verani)) the skeleton is written
#               at configure time, so add_executable(app stubs/<pkg>_handlers.c)
#               works in the same CMakeLists.txt from the first configure.
#   TS          also write the typed TypeScript client into this directory (relative: to
#               the current binary directory): <pkg>_client.ts (veranic --ts) and the
#               payload types <pkg>_pb.ts (protoc with protoc-gen-es, from npm's
#               @bufbuild/protoc-gen-es: PROTOC_GEN_ES names it, else it is looked for
#               on the PATH and in node_modules/.bin); a custom target <lib>_ts builds them
#               (for a bundler step to depend on)
#   PACKAGE     the schema's package; read from the schema when not given
#               (the output file names derive from it)
#
# SCHEMA is passed to veranic as given, relative to the current source
# directory, so line 1 of each generated file names it the same way on every
# machine. In this repository veranic is the target being built
# (VERANI_VERANIC_EXECUTABLE / VERANI_VERANIC_DEPENDS, set by the top-level
# CMakeLists.txt); after find_package(verani) it is verani::veranic.
include_guard(GLOBAL)

# With an installed veranic, write the skeleton now (at configure time) when it is not there
# yet, so the user's add_executable() can name it. A veranic built by this same project does
# not exist yet at configure time: then the skeleton comes with the first build.
function(_verani_stubs_now stubs_abs pkg out)
    if(EXISTS "${stubs_abs}/${pkg}_handlers.c" OR NOT TARGET verani::veranic OR
       VERANI_VERANIC_EXECUTABLE)
        return()
    endif()
    get_target_property(exe verani::veranic IMPORTED_LOCATION)
    if(NOT exe)
        get_target_property(configs verani::veranic IMPORTED_CONFIGURATIONS)
        foreach(c IN LISTS configs)
            get_target_property(exe verani::veranic IMPORTED_LOCATION_${c})
            if(exe)
                break()
            endif()
        endforeach()
    endif()
    if(NOT exe)
        return()
    endif()
    execute_process(COMMAND "${exe}" -o "${out}" --stubs-dir "${stubs_abs}" "${VG_SCHEMA}"
                    WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
                    RESULT_VARIABLE rc ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "verani_generate: veranic could not write the skeleton of "
                            "${VG_SCHEMA}:\n${err}")
    endif()
endfunction()

function(verani_generate)
    cmake_parse_arguments(VG "" "TARGET;SCHEMA;OUTPUT_DIR;STUBS;TS;PACKAGE" "" ${ARGN})
    if(NOT VG_TARGET OR NOT VG_SCHEMA)
        message(FATAL_ERROR "verani_generate: TARGET and SCHEMA are required")
    endif()
    if(VG_UNPARSED_ARGUMENTS)
        message(FATAL_ERROR "verani_generate: unknown arguments: ${VG_UNPARSED_ARGUMENTS}")
    endif()
    get_filename_component(schema_abs "${VG_SCHEMA}" ABSOLUTE
                           BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    if(NOT EXISTS "${schema_abs}")
        message(FATAL_ERROR "verani_generate: schema '${VG_SCHEMA}' not found")
    endif()
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${schema_abs}")

    set(pkg "${VG_PACKAGE}")
    if(NOT pkg)
        file(STRINGS "${schema_abs}" pkg_lines REGEX "^[ \t]*package[ \t]+[a-z][a-z0-9_]*[ \t]*;")
        list(LENGTH pkg_lines n)
        if(n EQUAL 0)
            message(FATAL_ERROR "verani_generate: no 'package <name>;' line in ${VG_SCHEMA}; "
                                "add one or pass PACKAGE")
        endif()
        list(GET pkg_lines 0 line)
        string(REGEX REPLACE "^[ \t]*package[ \t]+([a-z][a-z0-9_]*).*$" "\\1" pkg "${line}")
    endif()

    set(out "${VG_OUTPUT_DIR}")
    if(NOT out)
        set(out "${CMAKE_CURRENT_BINARY_DIR}/${VG_TARGET}_gen")
    endif()
    get_filename_component(out "${out}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
    file(MAKE_DIRECTORY "${out}")

    if(VERANI_VERANIC_EXECUTABLE)
        set(veranic "${VERANI_VERANIC_EXECUTABLE}")
        set(veranic_dep ${VERANI_VERANIC_DEPENDS})
    elseif(TARGET verani::veranic)
        set(veranic "$<TARGET_FILE:verani::veranic>")
        set(veranic_dep verani::veranic)
    else()
        message(FATAL_ERROR "verani_generate: veranic not found (find_package(verani) first)")
    endif()
    if(NOT PROTOC_C)
        find_program(PROTOC_C protoc-c REQUIRED)
    endif()
    if(NOT TARGET PkgConfig::PROTOBUFC)
        find_package(PkgConfig REQUIRED)
        pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET GLOBAL libprotobuf-c>=1.4)
    endif()

    set(gen_c "${out}/${pkg}_schema.c" "${out}/${pkg}_server.c" "${out}/${pkg}_client.c")
    set(gen_h "${out}/${pkg}_schema.h" "${out}/${pkg}_server.h" "${out}/${pkg}_client.h")
    set(stub_args)
    if(VG_STUBS)
        get_filename_component(stubs_abs "${VG_STUBS}" ABSOLUTE
                               BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
        file(MAKE_DIRECTORY "${stubs_abs}")
        set(stub_args --stubs-dir "${stubs_abs}")
        _verani_stubs_now("${stubs_abs}" "${pkg}" "${out}")
    endif()
    set(ts_args)
    set(ts_out)
    if(VG_TS)
        get_filename_component(ts "${VG_TS}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
        set(ts_args --ts "${ts}")
        set(ts_out "${ts}/${pkg}_client.ts")
    endif()
    add_custom_command(
        OUTPUT "${out}/${pkg}.proto" "${out}/envelope.proto" ${gen_c} ${gen_h} ${ts_out}
        COMMAND ${veranic} -o "${out}" ${stub_args} ${ts_args} "${VG_SCHEMA}"
        WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
        DEPENDS "${schema_abs}" ${veranic_dep}
        COMMENT "veranic ${VG_SCHEMA}"
        VERBATIM)
    add_custom_command(
        OUTPUT "${out}/${pkg}.pb-c.c" "${out}/${pkg}.pb-c.h"
        COMMAND ${PROTOC_C} "--c_out=${out}" "-I${out}" "${out}/${pkg}.proto"
        DEPENDS "${out}/${pkg}.proto"
        COMMENT "protoc-c ${pkg}.proto"
        VERBATIM)
    add_library(${VG_TARGET} STATIC "${out}/${pkg}.pb-c.c" ${gen_c})
    target_sources(${VG_TARGET} PRIVATE "${out}/${pkg}.pb-c.h" ${gen_h})
    target_include_directories(${VG_TARGET} PUBLIC "${out}")
    target_link_libraries(${VG_TARGET} PUBLIC verani::verani PkgConfig::PROTOBUFC)
    set_target_properties(${VG_TARGET} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    if(VG_TS)
        _verani_generate_ts("${pkg}" "${ts}" "${out}")
    endif()
endfunction()

# The TS option of verani_generate: <pkg>_pb.ts beside veranic's <pkg>_client.ts.
function(_verani_generate_ts pkg ts out)
    file(MAKE_DIRECTORY "${ts}")
    set(gen_es "${PROTOC_GEN_ES}")
    set(gen_es_dep)
    if(NOT gen_es AND VERANI_PROTOC_GEN_ES)   # this repository: runtime/ts's npm ci
        set(gen_es "${VERANI_PROTOC_GEN_ES}")
        set(gen_es_dep verani_ts)
    endif()
    if(NOT gen_es)
        find_program(PROTOC_GEN_ES protoc-gen-es HINTS "${CMAKE_SOURCE_DIR}/node_modules/.bin")
        set(gen_es "${PROTOC_GEN_ES}")
    endif()
    find_program(PROTOC protoc)
    if(NOT gen_es OR NOT PROTOC)
        message(FATAL_ERROR "verani_generate(TS): needs protoc and protoc-gen-es "
                            "(npm install @bufbuild/protoc-gen-es; or set PROTOC_GEN_ES)")
    endif()
    add_custom_command(
        OUTPUT "${ts}/${pkg}_pb.ts"
        COMMAND "${PROTOC}" "--plugin=protoc-gen-es=${gen_es}" "--es_out=${ts}"
                "--es_opt=target=ts,import_extension=js" "-I${out}" "${out}/${pkg}.proto"
        DEPENDS "${out}/${pkg}.proto" ${gen_es_dep}
        COMMENT "protoc-gen-es ${pkg}.proto"
        VERBATIM)
    add_custom_target(${VG_TARGET}_ts DEPENDS "${ts}/${pkg}_client.ts" "${ts}/${pkg}_pb.ts")
endfunction()
