#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# names.sh VERANIC SCHEMA GENERATED_DIR LIBRARY: every C name the generated code of SCHEMA
# defines is in veranic's own list of names (veranic --list-names), the list its collision
# check walks. A name an emitter writes without deriving it through that list could collide
# with another unnoticed; this test fails naming it. The defined names are read from the
# compiled library (functions and objects, static ones too, as nm shows them), and from the
# generated headers (macros and typedefs); protobuf-c's own names (with "__") are not ours.
set -euo pipefail
veranic="$1" schema="$2" gen="$3" lib="$4"

listed=$("$veranic" --list-names "$schema" | cut -f1 | sort -u)
pkg=$(sed -n 's/^[[:space:]]*package[[:space:]]\+\([a-z_0-9]*\)[[:space:]]*;.*/\1/p' "$schema" | head -1)
[ -n "$pkg" ] || { echo "names.sh: no package in $schema" >&2; exit 1; }
PKG=$(echo "$pkg" | tr '[:lower:]' '[:upper:]')

{
    nm "$lib" | awk '$2 ~ /^[TtDdRrBb]$/ { print $3 }'
    cat "$gen"/"$pkg"_*.h | sed -n 's/^#define \([A-Za-z_0-9]*\).*/\1/p'
    cat "$gen"/"$pkg"_*.h | sed -n 's/^} \([A-Za-z_0-9]*\);/\1/p'
    cat "$gen"/"$pkg"_*.h | sed -n 's/^typedef [^(]*(\*\([A-Za-z_0-9]*\)).*/\1/p'
} | grep -E "^(${pkg}_|${PKG}_)" | grep -v '__' | grep -v "^VERANI_GEN_" | sort -u > /tmp/names.$$ || true
defined=$(cat /tmp/names.$$)
rm -f /tmp/names.$$
[ -n "$defined" ] || { echo "names.sh: found no generated name for $pkg in $lib and $gen" >&2; exit 1; }
missing=$(comm -23 <(echo "$defined") <(echo "$listed"))
if [ -n "$missing" ]; then
    echo "generated for $schema but not in veranic --list-names (so not checked for collisions):"
    echo "$missing" | sed 's/^/  /'
    exit 1
fi
echo "names.sh: $(echo "$defined" | wc -l) names defined by $pkg's generated code, all listed"
