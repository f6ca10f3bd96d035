#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_exports.sh LIBVERANI.a INCLUDE-DIR: libverani exports exactly its public API. Every
# function or object declared VERANI_API in include/verani/*.h is defined in the library with
# default visibility (so a shared libverani would export it), and every symbol the library
# defines with default visibility is one of them (everything else is hidden: vr_* internals,
# the envelope's protobuf-c code). Exits 1 naming each difference.
set -euo pipefail
lib="$1" inc="$2"

# Declared: the identifier right before the first '(' of each VERANI_API declaration (which
# may span lines), or before ';' for an object; comments and preprocessor lines aside.
declared=$(cat "$inc"/verani/*.h | perl -0pe 's{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g; s{^\s*#[^\n]*}{}mg' |
    tr '\n' ' ' | grep -o 'VERANI_API[^;{]*[;{]' |
    sed -E 's/\(.*//; s/[;{]$//; s/.*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*$/\1/' |
    sort -u)
# Defined with default visibility: readelf's Bind GLOBAL/WEAK, Vis DEFAULT, Ndx not UND.
exported=$(readelf -sW "$lib" | awk '($5 == "GLOBAL" || $5 == "WEAK") && $6 == "DEFAULT" &&
    $7 != "UND" && ($4 == "FUNC" || $4 == "OBJECT") { print $8 }' | sort -u)

[ -n "$declared" ] || { echo "check_exports: no VERANI_API declaration found in $inc" >&2; exit 1; }
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
rc=0
if [ -n "$missing" ]; then
    echo "declared VERANI_API in a public header but not exported by $lib:"
    echo "$missing" | sed 's/^/  /'
    rc=1
fi
if [ -n "$extra" ]; then
    echo "exported by $lib but not declared VERANI_API in a public header:"
    echo "$extra" | sed 's/^/  /'
    rc=1
fi
[ "$rc" -eq 0 ] && echo "check_exports: $(echo "$declared" | wc -l) public symbols, all exported, nothing else"
exit "$rc"
