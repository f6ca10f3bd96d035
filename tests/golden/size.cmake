# SPDX-License-Identifier: MIT
# golden.size: a schema of exactly 16 MiB (VC_MAX_INPUT) is compiled; one byte more is
# refused (exit 1, the limit named, nothing written). -D VERANIC= -D SCHEMA= -D OUT_DIR=
set(limit 16777216)
file(REMOVE_RECURSE ${OUT_DIR})
file(MAKE_DIRECTORY ${OUT_DIR})
file(READ ${SCHEMA} text)
string(LENGTH "${text}" n)
math(EXPR pad "${limit} - ${n}")
string(REPEAT " " ${pad} spaces)
file(WRITE ${OUT_DIR}/at-limit.verani "${text}${spaces}")
file(WRITE ${OUT_DIR}/past-limit.verani "${text}${spaces} ")
file(SIZE ${OUT_DIR}/at-limit.verani size)
if(NOT size EQUAL limit)
    message(FATAL_ERROR "the test's own schema is ${size} bytes, not ${limit}")
endif()
execute_process(COMMAND ${VERANIC} -o ${OUT_DIR}/at ${OUT_DIR}/at-limit.verani
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS ${OUT_DIR}/at/chat.proto)
    message(FATAL_ERROR "a schema of exactly ${limit} bytes: exit ${rc}, '${err}'")
endif()
execute_process(COMMAND ${VERANIC} -o ${OUT_DIR}/past ${OUT_DIR}/past-limit.verani
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 1 OR NOT err MATCHES "file is larger than ${limit} bytes" OR
   EXISTS ${OUT_DIR}/past/chat.proto)
    message(FATAL_ERROR "a schema of ${limit} bytes and one more: exit ${rc}, '${err}'")
endif()
file(REMOVE_RECURSE ${OUT_DIR})
