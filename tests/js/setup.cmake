# SPDX-License-Identifier: MIT
#
# cmake -DNPM=<npm> -DBUILD_DIR=<build tree> -DJS_DIR=<dir> -P setup.cmake
#
# The JavaScript test's setup: ws and protobufjs exactly as package-lock.json pins them
# (`npm ci`) into JS_DIR/node_modules, and this build installed into JS_DIR/prefix (the test
# reads share/verani/proto/envelope.proto from there, as an outside client would).
execute_process(COMMAND "${NPM}" ci --no-audit --no-fund --loglevel=error
                WORKING_DIRECTORY "${JS_DIR}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "npm ci failed in ${JS_DIR} (exit ${rc})")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${JS_DIR}/prefix"
                OUTPUT_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cmake --install ${BUILD_DIR} failed (exit ${rc})")
endif()
