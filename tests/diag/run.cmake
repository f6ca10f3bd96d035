# SPDX-License-Identifier: MIT
#
# cmake -DVERANIC=<veranic> -DDIR=<tests/diag> -DOUT=<scratch dir> [-DUPDATE=1] -P run.cmake
#
# The diagnostics test: for every DIR/NNN-what.verani, run veranic from DIR
# (so messages name the file as `NNN-what.verani`) and compare
# "exit: <code>\n" + stderr with NNN-what.expected, byte for byte. It also
# checks that a failing run wrote no file at all, and that a run that only
# warned (exit 0) wrote its outputs. With -DUPDATE=1 it writes
# the .expected files instead (review them before committing). Then a few
# command-line cases: usage errors exit 2, --help and --version exit 0, an
# output directory that cannot be written exits 2 and leaves no .tmp file.
file(GLOB cases RELATIVE "${DIR}" "${DIR}/*.verani")
list(SORT cases)
set(failed 0)
list(LENGTH cases n)
foreach(c ${cases})
    string(REGEX REPLACE "\\.verani$" "" base "${c}")
    set(out "${OUT}/${base}.out")
    file(REMOVE_RECURSE "${out}")
    file(MAKE_DIRECTORY "${out}")
    execute_process(COMMAND "${VERANIC}" --stubs -o "${out}" "${c}"
                    WORKING_DIRECTORY "${DIR}" RESULT_VARIABLE rc
                    OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr)
    set(actual "exit: ${rc}\n${stderr}")
    if(UPDATE)
        file(WRITE "${DIR}/${base}.expected" "${actual}")
        continue()
    endif()
    file(READ "${DIR}/${base}.expected" expected)
    if(NOT actual STREQUAL expected)
        math(EXPR failed "${failed} + 1")
        file(WRITE "${OUT}/${base}.actual" "${actual}")
        execute_process(COMMAND diff -u "${DIR}/${base}.expected" "${OUT}/${base}.actual")
        message(SEND_ERROR "${c}: output differs from ${base}.expected (diff above)")
    endif()
    file(GLOB written "${out}/*")
    if(NOT rc EQUAL 0 AND written)
        math(EXPR failed "${failed} + 1")
        message(SEND_ERROR "${c}: failed with exit ${rc} but wrote: ${written}")
    elseif(rc EQUAL 0 AND NOT written)
        math(EXPR failed "${failed} + 1")
        message(SEND_ERROR "${c}: exit 0 (warnings only) but wrote nothing")
    endif()
endforeach()

function(cli expect_rc)
    execute_process(COMMAND "${VERANIC}" ${ARGN} WORKING_DIRECTORY "${DIR}" RESULT_VARIABLE rc
                    OUTPUT_VARIABLE o ERROR_VARIABLE e)
    if(NOT rc EQUAL expect_rc)
        message(SEND_ERROR "veranic ${ARGN}: exit ${rc}, expected ${expect_rc}\n${o}${e}")
    endif()
    set(cli_out "${o}${e}" PARENT_SCOPE)
endfunction()
if(NOT UPDATE)
    cli(2)
    cli(2 --bogus)
    cli(2 -o)
    cli(2 no-such-file.verani)
    cli(0 --help)
    if(NOT cli_out MATCHES "usage: veranic")
        message(SEND_ERROR "--help does not print the usage")
    endif()
    cli(0 --version)
    if(NOT cli_out MATCHES "^veranic [0-9]+\\.[0-9]+\\.[0-9]+")
        message(SEND_ERROR "--version prints '${cli_out}'")
    endif()
    # A good schema with an output directory that cannot be made (under a plain file): exit 2,
    # nothing left behind. (A directory that is only missing is created: golden.outdir.)
    file(WRITE "${OUT}/good.verani" "package good;\nroom R {}\n")
    file(WRITE "${OUT}/plain-file" "")
    cli(2 -o "${OUT}/plain-file/dir" "${OUT}/good.verani")
    # Two schemas, one bad: nothing is written for either.
    file(REMOVE_RECURSE "${OUT}/pair")
    file(MAKE_DIRECTORY "${OUT}/pair")
    cli(1 -o "${OUT}/pair" "${OUT}/good.verani" "001-missing-package.verani")
    file(GLOB written "${OUT}/pair/*")
    if(written)
        message(SEND_ERROR "a failing run wrote: ${written}")
    endif()
    # Two schemas with one package: their outputs would collide.
    cli(1 -o "${OUT}/pair" "${OUT}/good.verani" "${OUT}/good.verani")
    if(NOT cli_out MATCHES "package 'good' is also the package of")
        message(SEND_ERROR "no diagnostic for two schemas with one package: ${cli_out}")
    endif()
    cli(1 --list-names "${OUT}/good.verani" "${OUT}/good.verani") # the same check
    if(NOT cli_out MATCHES "package 'good' is also the package of")
        message(SEND_ERROR "--list-names: no diagnostic for one package twice: ${cli_out}")
    endif()
    # The stub is written once and never overwritten.
    cli(0 --stubs -o "${OUT}/pair" "${OUT}/good.verani")
    file(WRITE "${OUT}/pair/good_handlers.c" "/* mine */\n")
    cli(0 --stubs -o "${OUT}/pair" "${OUT}/good.verani")
    file(READ "${OUT}/pair/good_handlers.c" mine)
    if(NOT mine STREQUAL "/* mine */\n")
        message(SEND_ERROR "--stubs overwrote an existing handlers file")
    endif()
    # A kept skeleton without a handler for an `on` event: named, and the full skeleton
    # written beside it as .new; with the handler there (its member), nothing is said.
    file(REMOVE_RECURSE "${OUT}/grow")
    file(WRITE "${OUT}/grow.verani" "package grow;\nroom R {\n  on ping = 1 ();\n}\n")
    file(MAKE_DIRECTORY "${OUT}/grow")
    file(WRITE "${OUT}/grow/grow_handlers.c" "/* mine, older than ping */\n")
    cli(0 --stubs -o "${OUT}/grow" "${OUT}/grow.verani")
    if(NOT cli_out MATCHES "has no handler for ping \\(room R\\)" OR
       NOT EXISTS "${OUT}/grow/grow_handlers.c.new")
        message(SEND_ERROR "a skeleton without ping: no note or no .new: ${cli_out}")
    endif()
    file(REMOVE "${OUT}/grow/grow_handlers.c.new")
    file(WRITE "${OUT}/grow/grow_handlers.c" "static const x h = {\n    .ping = my_ping,\n};\n")
    cli(0 --stubs -o "${OUT}/grow" "${OUT}/grow.verani")
    if(cli_out MATCHES "has no handler" OR EXISTS "${OUT}/grow/grow_handlers.c.new")
        message(SEND_ERROR "a skeleton with ping's handler was reported: ${cli_out}")
    endif()
    message(STATUS "${n} diagnostic cases checked, ${failed} failed")
endif()
