# SPDX-License-Identifier: MIT
#
# cmake -DVERANIC=<veranic> -DOUT_DIR=<scratch> -P fingerprint.cmake
#
# <PKG>_SCHEMA_FINGERPRINT: the same for schemas that differ only in
# comments, layout and declaration order, or in what only the JSON wire reads
# (`wire`, json aliases); different for each change that matters on the
# binary wire (a field number, a type, an option, an event id, a payload, a
# path, a channel, a limit, an enum value).
file(REMOVE_RECURSE "${OUT_DIR}")
file(MAKE_DIRECTORY "${OUT_DIR}")

set(base "package fp;
enum E { Z = 0; O = 1; }
message A { string s = 1 [max_len = 8]; repeated int32 n = 2; E e = 3; }
message B { A a = 1; }
room R {
    path \"/r/{room}\";
    channels \"default\";
    limits { max_frame = 1024; rate = 5; }
    on a.x = 1 (A) returns (B);
    emit b = 2 (B);
}
")
function(fingerprint text out)
    string(MD5 tag "${text}")
    file(MAKE_DIRECTORY "${OUT_DIR}/${tag}")
    file(WRITE "${OUT_DIR}/${tag}/fp.verani" "${text}")
    execute_process(COMMAND "${VERANIC}" -o "${OUT_DIR}/${tag}" "${OUT_DIR}/${tag}/fp.verani"
                    RESULT_VARIABLE rc ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "veranic failed on a fingerprint variant:\n${text}\n${err}")
    endif()
    file(STRINGS "${OUT_DIR}/${tag}/fp_schema.h" line REGEX "FP_SCHEMA_FINGERPRINT \"")
    string(REGEX MATCH "\"([0-9a-f]+)\"" m "${line}")
    string(LENGTH "${CMAKE_MATCH_1}" len)
    if(NOT len EQUAL 16)
        message(FATAL_ERROR "bad fingerprint line: ${line}")
    endif()
    set(${out} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

fingerprint("${base}" fp0)
# runtime/PROTOCOL.md works this example through: the algorithm it documents gives this value
if(NOT fp0 STREQUAL "2f21740b8e02f7d3")
    message(SEND_ERROR "the fingerprint of the base schema is ${fp0}, not 2f21740b8e02f7d3: "
                       "the algorithm changed; update runtime/PROTOCOL.md's example")
endif()
fingerprint("${base}" fp0_again)
if(NOT fp0 STREQUAL fp0_again)
    message(SEND_ERROR "same schema, two fingerprints: ${fp0} ${fp0_again}")
endif()

# Same wire: comments, whitespace, declaration order.
set(same "// a comment
package fp;   /* block */
message B { A a = 1; }   // reordered
room R { path \"/r/{room}\"; channels \"default\"; limits { rate = 5; max_frame = 1024; }
  emit b = 2 (B); on a.x = 1 (A) returns (B); }
enum E { Z = 0; O = 1; }
message A {
    string s = 1 [max_len = 8];
    repeated int32 n = 2;
    E e = 3;
}
")
fingerprint("${same}" fp_same)
if(NOT fp_same STREQUAL fp0)
    message(SEND_ERROR "comments and order changed the fingerprint: ${fp0} -> ${fp_same}")
endif()

# Each of these must change it (no ';' in them: they are CMake list items).
set(changes
    "int32 n = 2|int32 n = 4"
    "int32 n = 2|int64 n = 2"
    "max_len = 8|max_len = 9"
    "on a.x = 1|on a.x = 3"
    "emit b = 2 (B)|emit b = 2 (A)"
    "returns (B)|returns (A)"
    "/r/{room}|/s/{room}"
    "channels \"default\"|channels \"other\""
    "rate = 5|rate = 6"
    "O = 1|O = 2"
    "string s = 1|optional string s = 1")
foreach(change ${changes})
    string(REPLACE "|" ";" pair "${change}")
    list(GET pair 0 from)
    list(GET pair 1 to)
    string(REPLACE "${from}" "${to}" variant "${base}")
    if(variant STREQUAL base)
        message(FATAL_ERROR "test bug: '${from}' is not in the base schema")
    endif()
    fingerprint("${variant}" fp)
    if(fp STREQUAL fp0)
        message(SEND_ERROR "'${from}' -> '${to}' did not change the fingerprint (${fp})")
    endif()
endforeach()

# A room that opts in to undeclared events (open_events) has another fingerprint.
string(REPLACE "emit b = 2 (B);" "emit b = 2 (B); open_events;" variant "${base}")
fingerprint("${variant}" fp)
if(fp STREQUAL fp0)
    message(SEND_ERROR "open_events did not change the fingerprint (${fp})")
endif()

# The JSON wire is not the binary wire the fingerprint is sent on (WELCOME): a room's `wire`
# and its events' json aliases leave it as it was.
foreach(wire "wire both \"/json/{room}\";" "wire json;" "wire binary;")
    string(REPLACE "channels \"default\";" "channels \"default\"; ${wire}" variant "${base}")
    if(NOT wire STREQUAL "wire binary;")
        string(REPLACE "returns (B);" "returns (B) json \"a:x\";" variant "${variant}")
        string(REPLACE "emit b = 2 (B);" "emit b = 2 (B) json \"b:b\";" variant "${variant}")
    endif()
    if(variant STREQUAL base)
        message(FATAL_ERROR "test bug: '${wire}' was not added to the base schema")
    endif()
    fingerprint("${variant}" fp)
    if(NOT fp STREQUAL fp0)
        message(SEND_ERROR "'${wire}' and json aliases changed the fingerprint: ${fp0} -> ${fp}")
    endif()
endforeach()
