#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The example_chat_file_limit test (issue 12, item 9): chat_server --db under a
# file-size limit (`ulimit -f`), as an operator's shell or a service manager
# may set it. Three clients send 40 messages of 1990 bytes each, so the
# storage file's WAL passes the limit: the writes past it fail (and those
# messages are refused), but the server lives on (it used to die of SIGXFSZ
# on the first such write), stops cleanly on SIGTERM (exit 0) and says it
# stored fewer messages than were sent. Only processes this script started
# are stopped (by their pid). Every wait ends at a deadline (deadline.sh), never
# after a count of sleeps. Usage:
#   test_chat_file_limit.sh CHAT_SERVER CHAT_CLIENT WORKDIR
set -u
. "$(dirname "$0")/../../tests/common/deadline.sh"
server="$1" client="$2" work="$3"
scale="${VERANI_TEST_TIME_SCALE:-1}"
case "$scale" in ''|*[!0-9]*|0) scale=1 ;; esac
rm -rf "$work"
mkdir -p "$work"
db="$work/chat.db"
spid=""
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null' EXIT

fail() { echo "FAILED: $*"; cat "$work/server.out" "$work/server.err" 2>/dev/null; exit 1; }

# 256 KiB per file: enough to create the database, far less than the messages need
( ulimit -f 256; exec "$server" --port 0 --db "$db" ) >"$work/server.out" 2>"$work/server.err" &
spid=$!
end=$(dl_after 30000)
port=""
until [ -n "$port" ]; do
    dl_passed "$end" && fail "chat_server did not say where it listens"
    kill -0 "$spid" 2>/dev/null || fail "chat_server did not start"
    sleep 0.05
    port="$(sed -n 's/^chat_server: listening on ws:\/\/127\.0\.0\.1:\([0-9]*\)\/.*/\1/p' \
            "$work/server.out")"
done

text="$(printf 'x%.0s' $(seq 1 1990))"
for c in 1 2 3; do   # three clients: each stays within the room's burst of 100
    for i in $(seq 1 40); do echo "$c-$i $text"; done |
        timeout $((60 * scale)) "$client" "ws://127.0.0.1:$port/chat/lobby" "writer$c" \
            >"$work/client$c.out" 2>&1
    kill -0 "$spid" 2>/dev/null || {
        wait "$spid"; rc=$?; spid=""
        fail "chat_server died while client $c wrote (exit $rc; 153 is SIGXFSZ)"; }
done

kill -TERM "$spid"
wait "$spid"
rc=$?
spid=""
[ "$rc" -eq 0 ] || fail "chat_server exited with $rc after SIGTERM"
stored="$(sed -n 's/^chat_server: stopped after storing \([0-9]*\) message(s)$/\1/p' \
          "$work/server.out")"
[ -n "$stored" ] || fail "chat_server did not say how many messages it stored"
[ "$stored" -lt 120 ] || fail "all 120 messages were stored: the file-size limit was never hit"
echo "example_chat_file_limit: $stored of 120 messages stored under the limit; the server lived"
