# shellcheck shell=sh
# SPDX-License-Identifier: MIT
#
# bench/cluster/redis.sh: sourced by bench/run.sh, bench/cluster/cluster.sh and the CTest smokes
# (bench/cluster/smoke_lib.sh), so plain sh. A redis-server of the benchmark's own on a unix
# socket in a folder it is given (no port, no file written), and the difference of its
# per-command counters (INFO commandstats) between two readings.

# redis_start DIR CORES: start redis-server on DIR/redis.sock, pinned to CORES (taskset);
# sets redis_sock and redis_pid. 0 once it answers PING (within 5 s), 1 otherwise.
redis_start() {
    mkdir -p "$1"
    redis_sock="$1/redis.sock"
    taskset -c "$2" redis-server --port 0 --unixsocket "$redis_sock" --save '' \
        --appendonly no --dir "$1" >"$1/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 1 100); do
        redis-cli -s "$redis_sock" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "redis.sh: redis-server did not answer on $redis_sock (see $1/redis.log)" >&2
    return 1
}

# redis_stop: stop the redis-server redis_start started (by its pid).
redis_stop() {
    [ -n "${redis_pid:-}" ] || return 0
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=
}

# redis_mark DIR: the --mark command of loadgen, http_emit_latency and gate_latency: INFO
# commandstats into DIR/cs.start and DIR/cs.end.
redis_mark() {
    echo "redis-cli -s $redis_sock info commandstats > $1/cs.\$1"
}

# redis_diff START END: "name:calls,..." of the commands counted in END and not in START,
# in decreasing count, without INFO (the reading itself); "none" when there are none.
redis_diff() {
    awk -F'[:,=]' '
        FNR == 1 { f++ }
        /^cmdstat_/ { n = substr($1, 9); if (n == "info") next
                      if (f == 1) a[n] = $3; else b[n] = $3 }
        END { for (n in b) if (b[n] - a[n] > 0) print b[n] - a[n], n }' "$1" "$2" |
        sort -k1,1nr -k2 | awk '{ s = s (s ? "," : "") $2 ":" $1 } END { print s ? s : "none" }'
}

# redis_count DIFF NAME: the count of command NAME in a redis_diff answer (0 when absent).
redis_count() {
    echo "$1" | tr ',' '\n' | awk -F: -v n="$2" '$1 == n { c = $2 } END { print c + 0 }'
}
