#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/server/smoke_db.sh LOADGEN BENCH_SERVER DBFILE: the CTest bench_loadgen_smoke_db. It runs
# a small fan-out (10 subscribers, 100 messages) and one second of churn against bench_server
# --db DBFILE, each on a fresh file (removed before and after), and fails when the load
# generator does (exit 3: a loss, gap, duplicate, lost subscriber or failed connection). It
# checks that --db works end to end and that the server wrote the file; it asserts no
# timing.
set -eu
loadgen=$1
server=$2
db=$3
clean() { rm -f "$db" "$db-wal" "$db-shm"; }
trap clean EXIT

clean
"$loadgen" --target verani --scenario fanout --subs 10 --messages 100 --window 8 \
    --duration 30 --timeout 30 -- "$server" --db "$db"
[ -s "$db" ] || { echo "smoke_db.sh: $db was not written" >&2; exit 1; }
clean
"$loadgen" --target verani --scenario churn --slots 4 --duration 1 --timeout 30 -- \
    "$server" --db "$db"
[ -s "$db" ] || { echo "smoke_db.sh: $db was not written" >&2; exit 1; }
