#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/callgrind.sh [--build DIR] TARGET SCENARIO: a server's user-space instructions per unit
# of a scenario, counted by callgrind over the generator's measured phase only, in all and by
# object (the server's own code, libwebsockets, protobuf-c, libc, ...). Instruction counts do
# not depend on the machine's load, so this compares servers where CPU time cannot: on a busy
# machine, or beside a stress run. They leave out the kernel (the sends and reads, most of a
# server's CPU time on loopback: bench/syscount.sh counts those calls) and cache misses.
#
#   TARGET    verani (the bench server), floor (raw libwebsockets) or uws (the uWebSockets
#             peer, built by run.sh: DIR/uws/uws_server, or $UWS_SERVER)
#   SCENARIO  fanout (200 subscribers x 500 messages), echo (50 clients, 20,000 round trips)
#             or idle (2,000 connections: the connect, HELLO and WELCOME included)
#
# The server runs under `valgrind --tool=callgrind` (about 50 times slower: the scenarios are
# small for that), the generator outside it with one worker; its --mark zeroes the counters
# when the measured phase starts and dumps them when it ends. It prints the figures and the
# command that produced them; the dump and its annotation stay in bench/out/callgrind/. Needs
# valgrind (callgrind_control, callgrind_annotate) and the bench build (run.sh builds it;
# DIR: default build-bench/).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build="$root/build-bench"
given=""
if [ "${1:-}" = --build ]; then
    build=$(cd "$2" && pwd)
    given=" --build $2"
    shift 2
fi
[ $# -eq 2 ] || { sed -n '3,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
target=$1 scenario=$2
for tool in valgrind callgrind_control callgrind_annotate; do
    command -v "$tool" >/dev/null || { echo "callgrind.sh: $tool is not installed" >&2; exit 1; }
done
case "$target" in
    verani) server="$build/bench/bench_server" driver=verani ;;
    floor) server="$build/bench/lws_floor" driver=ws ;;
    uws) server="${UWS_SERVER:-$build/uws/uws_server}" driver=ws ;;
    *) echo "callgrind.sh: unknown target $target (verani, floor, uws)" >&2; exit 2 ;;
esac
case "$scenario" in
    fanout) args="--scenario fanout --subs 200 --messages 500 --window 32 --duration 900" ;;
    echo) args="--scenario echo --clients 50 --max 20000 --duration 900" ;;
    idle) args="--scenario idle --conns 2000 --hold 1" ;;
    *) echo "callgrind.sh: unknown scenario $scenario (fanout, echo, idle)" >&2; exit 2 ;;
esac
loadgen="$build/bench/loadgen"
for f in "$loadgen" "$server"; do
    [ -x "$f" ] || { echo "callgrind.sh: $f is missing (bench/run.sh builds it)" >&2; exit 1; }
done

out="$root/bench/out/callgrind"
mkdir -p "$out"
base="$out/$target-$scenario"
rm -f "$base".*
mark='if [ "$1" = start ]; then callgrind_control -z "$2" >/dev/null; else callgrind_control -d end "$2" >/dev/null; fi'
# shellcheck disable=SC2086
"$loadgen" --target "$driver" --workers 1 $args --mark "$mark" -- \
    valgrind --tool=callgrind --callgrind-out-file="$base.%p" --compress-strings=no \
    --compress-pos=no "$server" 2>"$base.log" | grep '^RESULT ' >"$base.result" || {
    echo "callgrind.sh: the run failed (its messages: $base.log)" >&2
    exit 1
}
dump=$(ls "$base".*.1 2>/dev/null | head -1)
[ -n "$dump" ] || { echo "callgrind.sh: no dump of the measured phase ($base.log)" >&2; exit 1; }
units=$(sed -n 's/.* count=\([0-9]*\) .*/\1/p' "$base.result")
unit=$(sed -n 's/.* units=\([a-z_]*\) .*/\1/p' "$base.result")
callgrind_annotate --auto=no --inclusive=no --threshold=100 "$dump" >"$base.txt" 2>/dev/null
total=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$base.txt")
echo "$target $scenario: $units $unit, $((total / units)) user-space instructions per unit"
# Each function's own count (callgrind_annotate also lists the entry chain at 100 %: left
# out), summed by the object it is in.
grep -v '(100.0%)' "$base.txt" |
    awk -v u="$units" '/^ *[0-9][0-9,]* \(/ {
        n = $1; gsub(",", "", n); o = "?"
        if (match($0, /\[[^]]*\]$/)) { o = substr($0, RSTART + 1, RLENGTH - 2); sub(/.*\//, "", o) }
        s[o] += n
    } END { for (k in s) if (s[k] / u >= 1) printf "  %-32s %8.0f\n", k, s[k] / u }' |
    sort -k2 -n -r
echo "command: bench/callgrind.sh$given $target $scenario (dump: $dump)"
