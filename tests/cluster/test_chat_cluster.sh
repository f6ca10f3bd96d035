#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The cluster_chat_processes test: two chat_server processes, nodes of one cluster through a
# redis-server this script starts (unix socket in WORKDIR), as an operator runs them
# (--redis, --public-url, --node-id). A chat_client that enters room instance "lobby" through
# the node that does not serve it is moved to the one that does (4003, then 307), and reads
# there the history the first client wrote. Both servers stop with SIGTERM and exit 0. Only
# processes this script started are stopped (by their pid). Usage:
#   test_chat_cluster.sh CHAT_SERVER CHAT_CLIENT WORKDIR
set -u
. "$(dirname "$0")/../common/deadline.sh"
server="$1" client="$2" work="$3"
rm -rf "$work"
mkdir -p "$work"
rpid="" pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "$rpid" ] && kill "$rpid" 2>/dev/null
}
trap cleanup EXIT

fail() { echo "FAILED: $*"; exit 1; }

command -v redis-server >/dev/null || fail "redis-server is not installed (apt-get install redis-server)"
redis-server --port 0 --unixsocket "$work/redis.sock" --save '' --appendonly no \
    --dir "$work" >"$work/redis.out" 2>&1 &
rpid=$!
end=$(dl_after 30000)
until [ -S "$work/redis.sock" ] || dl_passed "$end"; do sleep 0.05; done
[ -S "$work/redis.sock" ] || { cat "$work/redis.out"; fail "redis-server did not start"; }

# start_node NAME: on a port picked at random (its public URL must name it before it listens);
# sets $port; another port is tried when that one is taken.
start_node() {
    local name="$1" out="$work/$1.out" try end
    for try in 1 2 3 4 5 6 7 8; do
        port=$((20000 + RANDOM % 40000))
        "$server" --port "$port" --redis "unix:$work/redis.sock" \
            --public-url "ws://127.0.0.1:$port" --node-id "$name" >"$out" 2>"$work/$name.err" &
        pid=$!
        end=$(dl_after 30000)
        until dl_passed "$end"; do
            grep -q '^chat_server: listening' "$out" && { pids+=("$pid"); return 0; }
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        wait "$pid" 2>/dev/null
        grep -q 'cannot listen' "$work/$name.err" || { cat "$out" "$work/$name.err"; fail "$name did not start"; }
    done
    fail "no free port for $name"
}

# wait_health PORT: until the node serves (registered in Redis).
wait_health() {
    local end
    end=$(dl_after 30000)
    until dl_passed "$end"; do
        exec 3<>"/dev/tcp/127.0.0.1/$1" || { sleep 0.05; continue; }
        printf 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
        if head -1 <&3 | grep -q ' 200 '; then exec 3>&-; return 0; fi
        exec 3>&-
        sleep 0.05
    done
    fail "the node on port $1 never became live"
}

run_client() { # PORT NAME OUTFILE, stdin piped into chat_client
    timeout 30 "$client" "ws://127.0.0.1:$1/chat/lobby" "$2" >"$3" 2>&1 ||
        { cat "$3"; fail "chat_client $2 exited with $?"; }
}

expect_line() {
    grep -qxF -- "$2" "$1" || { cat "$1"; fail "no line \"$2\" in $(basename "$1")"; }
}

start_node node-a; port_a=$port
start_node node-b; port_b=$port
wait_health "$port_a"
wait_health "$port_b"

printf 'hello from node a\n' | run_client "$port_a" dana "$work/dana.out"
expect_line "$work/dana.out" '* connected'

# erin enters through node-b, which does not serve lobby: moved to node-a, where history is
printf '/history 5\n' | run_client "$port_b" erin "$work/erin.out"
cat "$work/erin.out"
expect_line "$work/erin.out" '* connected'
expect_line "$work/erin.out" '    [#default] dana: hello from node a'
# and once node-b knows, through a 307
printf '/history 5\n' | run_client "$port_b" fred "$work/fred.out"
expect_line "$work/fred.out" '    [#default] dana: hello from node a'

for i in 0 1; do
    kill -TERM "${pids[$i]}"
    wait "${pids[$i]}"
    rc=$?
    [ "$rc" -eq 0 ] || { cat "$work"/node-*.err; fail "chat_server ${pids[$i]} exited with $rc"; }
done
pids=()
echo "a client that entered through the other node reached the owner of its room instance"
