# SPDX-License-Identifier: MIT
#
# cmake -DCC=<compiler> -DSOURCE_DIR=<repo> -DEXTRA="<-I...>" -P compile.cmake
#
# Compiles every .c in generated/*/ (veranic's and protoc-c's) with CC at
# -std=c11 -Wall -Wextra -Werror -pedantic; any warning fails the test.
file(GLOB dirs LIST_DIRECTORIES true "${SOURCE_DIR}/generated/*")
set(n 0)
separate_arguments(extra UNIX_COMMAND "${EXTRA}")
foreach(d ${dirs})
    if(NOT IS_DIRECTORY "${d}")
        continue()
    endif()
    file(GLOB sources "${d}/*.c")
    foreach(src ${sources})
        execute_process(
            COMMAND "${CC}" -std=c11 -Wall -Wextra -Werror -pedantic "-I${d}"
                    "-I${SOURCE_DIR}/runtime/include" ${extra} -c "${src}" -o /dev/null
            RESULT_VARIABLE rc)
        if(NOT rc EQUAL 0)
            message(SEND_ERROR "${CC} failed on ${src}")
        endif()
        math(EXPR n "${n} + 1")
    endforeach()
endforeach()
if(n LESS 5)
    message(SEND_ERROR "only ${n} generated files found under ${SOURCE_DIR}/generated")
endif()
message(STATUS "${CC}: ${n} generated files compiled cleanly")
