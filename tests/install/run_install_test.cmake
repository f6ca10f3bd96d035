# SPDX-License-Identifier: MIT
# Run by the install_find_package test (cmake -P): install BUILD_DIR into
# WORK_DIR/prefix, copy SCHEMA next to a copy of CONSUMER_DIR, configure it
# with only that prefix on CMAKE_PREFIX_PATH, build it, and run its program.
# With ARENA_DIR (and ARENA_SCHEMA), the same for examples/arena as a user's
# project: configured standalone against the prefix, built, and its demo run
# (server and clients over loopback). Any failing step stops the test with the
# step's name and output.
cmake_minimum_required(VERSION 3.25)
foreach(v BUILD_DIR WORK_DIR CONSUMER_DIR SCHEMA C_COMPILER GENERATOR)
    if(NOT ${v})
        message(FATAL_ERROR "run_install_test.cmake: -D${v}= is required")
    endif()
endforeach()

function(step name)
    message(STATUS "install test: ${name}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "install test: step '${name}' failed (${rc}):\n${out}")
    endif()
    set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}/src")
file(COPY "${CONSUMER_DIR}/" DESTINATION "${WORK_DIR}/src")
file(COPY "${SCHEMA}" DESTINATION "${WORK_DIR}/src")

step("install" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
foreach(f bin/veranic include/verani/verani.h share/verani/proto/envelope.proto
         share/doc/verani/PROTOCOL.md share/doc/verani/SCHEMA.md share/doc/verani/README.md)
    if(NOT EXISTS "${WORK_DIR}/prefix/${f}")
        message(FATAL_ERROR "install test: ${f} was not installed")
    endif()
endforeach()

step("configure consumer" ${CMAKE_COMMAND} -S "${WORK_DIR}/src" -B "${WORK_DIR}/build"
     -G "${GENERATOR}" "-DCMAKE_C_COMPILER=${C_COMPILER}" "-DCMAKE_C_FLAGS=${C_FLAGS}"
     "-DCMAKE_EXE_LINKER_FLAGS=${C_FLAGS}" "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix"
     -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
step("build consumer" ${CMAKE_COMMAND} --build "${WORK_DIR}/build")
step("run consumer" "${WORK_DIR}/build/consumer")
message(STATUS "${step_output}")
if(NOT step_output MATCHES "consumer: OK")
    message(FATAL_ERROR "install test: the consumer did not say OK")
endif()
step("run stub_app" "${WORK_DIR}/build/stub_app")
if(NOT step_output MATCHES "stub_app: OK")
    message(FATAL_ERROR "install test: the program on the skeleton did not say OK")
endif()

# examples/arena, a bigger user's project: find_package(verani), verani_generate(), the
# runtime's timers, alarm and worker pool, and libwebsockets' logger (PkgConfig::LWS, which
# the package config finds again).
if(ARENA_DIR)
    file(MAKE_DIRECTORY "${WORK_DIR}/arena-src" "${WORK_DIR}/arena-tmp")
    file(COPY "${ARENA_DIR}/" DESTINATION "${WORK_DIR}/arena-src")
    file(COPY "${ARENA_SCHEMA}" DESTINATION "${WORK_DIR}/arena-src")
    step("configure arena" ${CMAKE_COMMAND} -S "${WORK_DIR}/arena-src" -B "${WORK_DIR}/arena-build"
         -G "${GENERATOR}" "-DCMAKE_C_COMPILER=${C_COMPILER}" "-DCMAKE_C_FLAGS=${C_FLAGS}"
         "-DCMAKE_EXE_LINKER_FLAGS=${C_FLAGS}" "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix"
         -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
    step("build arena" ${CMAKE_COMMAND} --build "${WORK_DIR}/arena-build")
    step("run arena_demo" ${CMAKE_COMMAND} -E env "TMPDIR=${WORK_DIR}/arena-tmp"
         "${WORK_DIR}/arena-build/arena_demo" "${WORK_DIR}/arena-build/arena_server")
    if(NOT step_output MATCHES "arena_demo: OK")
        message(FATAL_ERROR "install test: arena_demo did not say OK:\n${step_output}")
    endif()
    message(STATUS "install test: arena_demo: OK")
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
