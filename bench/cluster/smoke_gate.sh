#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/cluster/smoke_gate.sh GATE_LATENCY BENCH_SERVER: the CTest bench_gate_smoke. 200
# requests (after 10 unmeasured) of each kind, `store` (its handler writes room storage key
# "n", then replies) and `echo`, one at a time to a bench_server --db, and, when
# redis-server is installed, to a node of a one-node cluster with --db (a redis-server of
# its own on a unix socket in a temporary folder; smoke_lib.sh), where each reply of `store`
# waits for Redis to acknowledge its write. It fails when gate_latency does (a reply wrong or
# missing) or when Redis does not hold the last request's number under "n" of the instance's
# storage hash; it asserts no timing.
set -eu
gater=$1
server=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/cluster/smoke_lib.sh
. "$here/smoke_lib.sh"

node solo --db "$tmp/solo.db"
"$gater" --port "$port" --event store --requests 200 --warmup 10
"$gater" --port "$port" --event echo --requests 200 --warmup 10
if ! smoke_redis; then
    echo "smoke_gate.sh: redis-server is not installed: the gate is not tried"
    exit 0
fi
node on --db "$tmp/on.db" --redis "unix:$redis_sock"
out=$("$gater" --port "$port" --event store --requests 200 --warmup 10)
echo "$out"
last=$(echo "$out" | sed -n 's/.* last_n=\([0-9]*\).*/\1/p')
got=$(redis-cli -s "$redis_sock" hget 'vr:st:{Bench/g1}' n)
if [ -z "$last" ] || [ "$got" != "$last" ]; then
    echo "smoke_gate.sh: Redis holds n=$got in vr:st:{Bench/g1}, not the last request's $last" >&2
    exit 1
fi
echo "smoke_gate.sh: Redis holds n=$got, the last request's number"
"$gater" --port "$port" --event echo --requests 200 --warmup 10
