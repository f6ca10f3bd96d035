#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/cluster/smoke_emit.sh HTTP_EMIT_LATENCY BENCH_SERVER: the CTest bench_http_emit_smoke.
# 200 HTTP API emits (after 10 unmeasured) to one bench_server --api-token whose own client
# holds the instance, and, when redis-server is installed, to node B of a two-node cluster
# for an instance node A owns (forwarded through Redis, a redis-server of its own on a unix
# socket in a temporary folder; smoke_lib.sh). It fails when http_emit_latency does (a wrong
# answer, a Tick missing or out of order); it asserts no timing.
set -eu
emitter=$1
server=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/cluster/smoke_lib.sh
. "$here/smoke_lib.sh"

node solo --api-token smoke
"$emitter" --ws-port "$port" --http-port "$port" --token smoke --requests 200 --warmup 10
if ! smoke_redis; then
    echo "smoke_emit.sh: redis-server is not installed: the forwarded emit is not tried"
    exit 0
fi
node a --api-token smoke --redis "unix:$redis_sock" --node-id a
a=$port
node b --api-token smoke --redis "unix:$redis_sock" --node-id b
b=$port
sleep 1.5 # node B learns of node A from its heartbeat (one a second)
"$emitter" --ws-port "$a" --http-port "$b" --token smoke --requests 200 --warmup 10
