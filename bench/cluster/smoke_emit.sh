#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/cluster/smoke_emit.sh HTTP_EMIT_LATENCY BENCH_SERVER: the CTest bench_http_emit_smoke.
# 200 HTTP API emits (after 10 unmeasured) to one bench_server --api-token whose own client
# holds the instance, and, when redis-server is installed, to node B of a two-node cluster
# for an instance node A owns (forwarded through Redis, a redis-server of its own on a unix
# socket in a temporary folder; the nodes are stopped first). It fails when http_emit_latency does (a wrong answer, a Tick
# missing or out of order); it asserts no timing.
set -eu
emitter=$1
server=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/verani-emit-smoke-XXXXXX")
pids=""
clean() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap clean EXIT

# node NAME ARGS...: start bench_server, wait for its "PID <pid> PORT <port>"; its port in
# `port` (empty when it did not start). Not in a subshell: `pids` must keep it.
node() {
    name=$1
    shift
    "$server" --api-token smoke "$@" >"$tmp/$name.out" &
    pids="$! $pids"
    i=0
    while [ ! -s "$tmp/$name.out" ] && [ "$i" -lt 200 ]; do
        i=$((i + 1))
        sleep 0.05
    done
    port=$(awk '$1 == "PID" && $3 == "PORT" { print $4 }' "$tmp/$name.out")
}

node solo
a=$port
[ -n "$a" ] || { echo "smoke_emit.sh: bench_server did not start" >&2; exit 1; }
"$emitter" --ws-port "$a" --http-port "$a" --token smoke --requests 200 --warmup 10
if ! command -v redis-server >/dev/null; then
    echo "smoke_emit.sh: redis-server is not installed: the forwarded emit is not tried"
    exit 0
fi
redis-server --port 0 --unixsocket "$tmp/redis.sock" --save '' --appendonly no \
    --dir "$tmp" >"$tmp/redis.log" 2>&1 &
pids="$! $pids"
i=0
until redis-cli -s "$tmp/redis.sock" ping >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || { echo "smoke_emit.sh: redis-server did not start" >&2; exit 1; }
    sleep 0.05
done
node a --redis "unix:$tmp/redis.sock" --node-id a
a=$port
node b --redis "unix:$tmp/redis.sock" --node-id b
b=$port
if [ -z "$a" ] || [ -z "$b" ]; then
    echo "smoke_emit.sh: a node did not start" >&2
    exit 1
fi
sleep 1.5 # node B learns of node A from its heartbeat (one a second)
"$emitter" --ws-port "$a" --http-port "$b" --token smoke --requests 200 --warmup 10
