#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/server/smoke_defer.sh LOADGEN SERVER: the CTest bench_defer_smoke. The echo scenario
# with several requests in flight per client against every --reply mode of the bench server
# (direct, defer-loop, defer-worker, defer-thread), and against defer-worker with three pool
# threads, whose replies may come back out of order: every reply must match a request in
# flight and carry its payload (the load generator exits 3 otherwise). It asserts no timing.
set -eu
loadgen=$1
server=$2
lg() { "$loadgen" --target verani --scenario echo --clients 8 --inflight 4 --workers 2 \
                  --duration 0.5 --timeout 30 -- "$server" "$@"; }

for mode in direct defer-loop defer-worker defer-thread; do
    lg --reply "$mode"
done
lg --reply defer-worker --workers 3
echo "smoke_defer.sh: every reply mode answered every request"
