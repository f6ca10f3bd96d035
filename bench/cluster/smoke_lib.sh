# shellcheck shell=sh
# SPDX-License-Identifier: MIT
#
# bench/cluster/smoke_lib.sh: sourced by the CTest smokes of bench/cluster/ (smoke_emit.sh,
# smoke_gate.sh) once `server` names bench_server and `here` this folder. A temporary folder
# `tmp`, the bench_servers of `node` and a redis-server of `smoke_redis` on a unix socket in
# it (bench/cluster/redis.sh), all stopped and removed when the script exits.
: "${here:?the smoke sets here}" "${server:?the smoke sets server}"
# shellcheck source=bench/cluster/redis.sh
. "$here/redis.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/verani-smoke-XXXXXX")
pids=""
clean() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    redis_stop
    rm -rf "$tmp"
}
trap clean EXIT

# node NAME ARGS...: start bench_server ARGS, wait for its "PID <pid> PORT <port>"; its port
# in `port`. Not in a subshell: `pids` must keep it. Exits when it does not start.
node() {
    name=$1
    shift
    "$server" "$@" >"$tmp/$name.out" &
    pids="$! $pids"
    i=0
    while [ ! -s "$tmp/$name.out" ] && [ "$i" -lt 200 ]; do
        i=$((i + 1))
        sleep 0.05
    done
    port=$(awk '$1 == "PID" && $3 == "PORT" { print $4 }' "$tmp/$name.out")
    [ -n "$port" ] || { echo "$0: bench_server $name did not start" >&2; exit 1; }
}

# smoke_redis: a redis-server on $redis_sock; 1 when redis-server is not installed. Exits
# when it does not start.
smoke_redis() {
    command -v redis-server >/dev/null || return 1
    redis_start "$tmp/redis" "0-$(($(nproc) - 1))" || exit 1
}
