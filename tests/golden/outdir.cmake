# SPDX-License-Identifier: MIT
# golden.outdir: veranic -o and --stubs-dir create missing directories (and their parents);
# a path it cannot create is exit 2 with the reason. -D VERANIC= -D SCHEMA= -D OUT_DIR=
file(REMOVE_RECURSE ${OUT_DIR})
execute_process(COMMAND ${VERANIC} -o ${OUT_DIR}/a/b --stubs-dir ${OUT_DIR}/stubs ${SCHEMA}
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS ${OUT_DIR}/a/b/chat.proto OR
   NOT EXISTS ${OUT_DIR}/stubs/chat_handlers.c)
    message(FATAL_ERROR "veranic -o into a missing directory: exit ${rc}, ${err}")
endif()
file(WRITE ${OUT_DIR}/plain-file "")
execute_process(COMMAND ${VERANIC} -o ${OUT_DIR}/plain-file/sub ${SCHEMA}
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "cannot create directory")
    message(FATAL_ERROR "veranic -o under a plain file: exit ${rc}, '${err}'")
endif()
