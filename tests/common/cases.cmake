# SPDX-License-Identifier: MIT
# verani_test_cases(): register one CTest test per case of a test program built on
# tests/common/cases.h, from the program's own `--list` output, after every build of it (as
# CMake's gtest_discover_tests does). The C array is the only list of cases: a case added
# there is a test, a case removed is gone, and nothing is copied by hand into CMake.
#
#   verani_test_cases(<target>
#       PREFIX <prefix>             the test of case test_<c> is <prefix><c>
#       [ARGS <arg>...]             arguments before the case name (generator expressions ok)
#       [TIMEOUT <s>] [LABELS <label>...] [ENVIRONMENT <VAR=value>...]
#       [COST <n>]                  CTest's COST: a case that runs long starts first, also
#                                   in a fresh build tree (no timings of an earlier run)
#       [VARIANTS <tag>|<prefix>|<VAR=value>...]  cases tagged <tag> also run as <prefix><c>
#                                   with VAR=value set
#       [TAG_LABELS <tag>|<label>...]     cases tagged <tag> get one more label
#       [TAG_ENVIRONMENT <tag>|<VAR=value>...] cases tagged <tag> get one more variable)
#
# Cases tagged `manual` are not registered (a test that registers them itself may run them).
# A cache entry, so the function works from any directory (examples/ registers cases too).
set(VERANI_CASES_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cases_discover.cmake CACHE INTERNAL "")

function(verani_test_cases target)
    cmake_parse_arguments(PARSE_ARGV 1 VC "" "PREFIX;TIMEOUT;COST"
                          "ARGS;LABELS;ENVIRONMENT;VARIANTS;TAG_LABELS;TAG_ENVIRONMENT")
    if(NOT VC_PREFIX)
        message(FATAL_ERROR "verani_test_cases(${target}): PREFIX is required")
    endif()
    if(NOT VC_TIMEOUT)
        set(VC_TIMEOUT 120)
    endif()
    set(base ${CMAKE_CURRENT_BINARY_DIR}/${target})
    set(params "")
    foreach(var PREFIX TIMEOUT COST ARGS LABELS ENVIRONMENT VARIANTS TAG_LABELS TAG_ENVIRONMENT)
        string(APPEND params "set(VC_${var} [==[${VC_${var}}]==])\n")
    endforeach()
    string(APPEND params "set(VC_EXE [==[$<TARGET_FILE:${target}>]==])\n")
    file(GENERATE OUTPUT ${base}_cases_params.cmake CONTENT "${params}")
    add_custom_command(TARGET ${target} POST_BUILD
        COMMAND ${CMAKE_COMMAND} -D PARAMS=${base}_cases_params.cmake
                -D OUT=${base}_cases.cmake -P ${VERANI_CASES_SCRIPT}
        BYPRODUCTS ${base}_cases.cmake
        COMMENT "listing the cases of ${target}"
        VERBATIM)
    file(WRITE ${base}_cases_include.cmake
         "if(EXISTS [==[${base}_cases.cmake]==])\n"
         "    include([==[${base}_cases.cmake]==])\n"
         "else()\n"
         "    add_test([==[${target}_NOT_BUILT]==] [==[${target}_NOT_BUILT]==])\n"
         "endif()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${base}_cases_include.cmake)
endfunction()
