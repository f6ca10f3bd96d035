#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The example_chat_cli test: chat_server and chat_client as a person runs
# them, over 127.0.0.1 (port 0), with history in a storage file (--db).
#   1. a client sends a message, is refused a bad channel name, and finds its
#      message in the history;
#   2. the server stops (SIGTERM: it must exit 0, and under ASan leak-free)
#      and starts again on the same file: the message is still in history;
#   3. three clients send 40 messages each: history keeps the newest 100.
# Only processes this script started are stopped (by their pid). Usage:
#   test_chat_cli.sh CHAT_SERVER CHAT_CLIENT WORKDIR
set -u
. "$(dirname "$0")/../../tests/common/deadline.sh"
server="$1" client="$2" work="$3"
rm -rf "$work"
mkdir -p "$work"
db="$work/chat.db"
spid=""
port=""
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null' EXIT

fail() { echo "FAILED: $*"; exit 1; }

start_server() {
    local out="$work/server.$1.out"
    "$server" --port 0 --db "$db" >"$out" 2>"$work/server.$1.err" &
    spid=$!
    port=""
    local end
    end=$(dl_after 30000)
    until dl_passed "$end"; do
        port="$(sed -n 's/^chat_server: listening on ws:\/\/127\.0\.0\.1:\([0-9]*\)\/.*/\1/p' "$out")"
        [ -n "$port" ] && return 0
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$out" "$work/server.$1.err"
    fail "chat_server did not say where it listens"
}

stop_server() {
    local rc
    kill -TERM "$spid"
    wait "$spid"
    rc=$?
    spid=""
    if [ "$rc" -ne 0 ]; then
        cat "$work/server.$1.err"
        fail "chat_server exited with $rc"
    fi
    grep -qF 'chat_server: stopped' "$work/server.$1.out" || fail "chat_server did not stop cleanly"
}

# run_client NAME OUTFILE: stdin is piped into chat_client as user NAME.
run_client() {
    timeout 30 "$client" "ws://127.0.0.1:$port/chat/lobby" "$1" >"$2" 2>&1 ||
        { cat "$2"; fail "chat_client $1 exited with $?"; }
}

expect_line() {
    grep -qxF -- "$2" "$1" || { cat "$1"; fail "no line \"$2\" in $(basename "$1")"; }
}

start_server 1
printf 'hello from the terminal\n/join Bad Name\n/history 5\n' | run_client dana "$work/dana.out"
cat "$work/dana.out"
expect_line "$work/dana.out" '* connected'
expect_line "$work/dana.out" '* #Bad Name: refused: joining this channel was refused'
expect_line "$work/dana.out" '* history, newest first (1):'
expect_line "$work/dana.out" '    [#default] dana: hello from the terminal'
stop_server 1

start_server 2
printf '/history 5\n' | run_client erin "$work/erin.out"
expect_line "$work/erin.out" '    [#default] dana: hello from the terminal'
echo "history survived a restart"

for i in 1 2 3; do
    for j in $(seq 1 40); do echo "m$i-$j"; done | run_client "c$i" "$work/c$i.out"
done
printf '/history 100\n' | run_client frank "$work/frank.out"
expect_line "$work/frank.out" '* history, newest first (100):'
expect_line "$work/frank.out" '    [#default] c3: m3-40'
expect_line "$work/frank.out" '    [#default] c1: m1-21'
if grep -qxF '    [#default] c1: m1-20' "$work/frank.out" || grep -qF 'dana:' "$work/frank.out"; then
    fail "history kept more than the newest 100 messages"
fi
echo "history keeps the newest 100"
stop_server 2
echo "example_chat_cli: OK"
