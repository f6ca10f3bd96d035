#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/veranic_bench.sh [VERANIC] [RUNS]
#
# Times veranic on a large generated schema (bench/gen_large_schema.sh: 1,000
# messages, 500 events in 10 rooms, about 10,000 lines) and reports the
# median wall and CPU time of RUNS runs (default 5) and the peak resident memory, as
# measured by /usr/bin/time -v (getrusage's ru_maxrss). Targets: under
# 200 ms and under 50 MiB. VERANIC defaults to build/codegen/veranic.
# It prints the figures and the exact command; it asserts nothing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
veranic=${1:-$here/../build/codegen/veranic}
runs=${2:-5}
if [ ! -x "$veranic" ]; then
    echo "veranic_bench: no veranic at $veranic (build it, or pass its path)" >&2
    exit 2
fi
if [ ! -x /usr/bin/time ]; then
    echo "veranic_bench: /usr/bin/time is needed (apt-get install time)" >&2
    exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
"$here/gen_large_schema.sh" > "$work/big.verani"
mkdir -p "$work/out"
lines=$(wc -l < "$work/big.verani")
bytes=$(wc -c < "$work/big.verani")

i=0
: > "$work/times"
: > "$work/rss"
: > "$work/cpu"
while [ "$i" -lt "$runs" ]; do
    /usr/bin/time -v "$veranic" --stubs -o "$work/out" "$work/big.verani" \
        2> "$work/time.txt" > /dev/null
    # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:00.08"
    sed -n 's/.*Elapsed (wall clock) time.*: \(.*\)$/\1/p' "$work/time.txt" |
        awk -F: '{ s = 0; for (k = 1; k <= NF; k++) s = s * 60 + $k; printf "%.0f\n", s * 1000 }' \
        >> "$work/times"
    sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\).*/\1/p' "$work/time.txt" \
        >> "$work/rss"
    # CPU time (user + system) does not depend on what else the machine is doing
    awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.0f\n", s * 1000 }' \
        "$work/time.txt" >> "$work/cpu"
    rm -f "$work/out/bench_handlers.c"
    i=$((i + 1))
done
"$veranic" -v -o "$work/out" "$work/big.verani" 2> "$work/stages.txt"
median_ms=$(sort -n "$work/times" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
max_rss_kb=$(sort -n "$work/rss" | tail -1)
median_cpu=$(sort -n "$work/cpu" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
out_kb=$(du -sk "$work/out" | cut -f1)

echo "veranic benchmark: $lines lines, $bytes bytes (1,000 messages, 500 events in 10 rooms)"
echo "command:   $veranic --stubs -o OUT big.verani   (big.verani from bench/gen_large_schema.sh)"
echo "wall time: median ${median_ms} ms of $runs runs (all: $(tr '\n' ' ' < "$work/times"))"
rss_mib=$(awk -v k="$max_rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')
echo "CPU time:  median ${median_cpu} ms user+system (all: $(tr '\n' ' ' < "$work/cpu"))"
echo "peak RSS:  $max_rss_kb KiB ($rss_mib MiB)"
echo "output:    $out_kb KiB in $(ls "$work/out" | wc -l) files"
echo "stages:    $(tr '\n' ' ' < "$work/stages.txt")"
echo "targets:   < 200 ms and < 50 MiB"
