#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The example_chat_cli test: start chat_server on 127.0.0.1 port 0, pipe a
# message, a refused join and a history request into chat_client, and check
# what it printed: the history holds the message, the bad channel name was
# refused. Then stops the server it started (SIGTERM to its pid) and checks
# that it shut down cleanly (exit 0; under ASan, no leak). Usage:
#   test_chat_cli.sh CHAT_SERVER CHAT_CLIENT WORKDIR
set -u
server="$1" client="$2" work="$3"
mkdir -p "$work"
out="$work/server.out"
"$server" --port 0 >"$out" 2>"$work/server.err" &
spid=$!
trap 'kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null' EXIT

port=""
for _ in $(seq 1 200); do
    port="$(sed -n 's/^chat_server: listening on ws:\/\/127\.0\.0\.1:\([0-9]*\)\/.*/\1/p' "$out")"
    [ -n "$port" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.05
done
if [ -z "$port" ]; then
    echo "FAILED: chat_server did not say where it listens"; cat "$out" "$work/server.err"; exit 1
fi

printf 'hello from the terminal\n/join Bad Name\n/history 5\n' |
    timeout 30 "$client" "ws://127.0.0.1:$port/chat/lobby" dana >"$work/client.out" 2>&1
rc=$?
cat "$work/client.out"
[ "$rc" -eq 0 ] || { echo "FAILED: chat_client exited with $rc"; exit 1; }
for want in '* connected' '* #Bad Name: refused' '* history, newest first (1):' \
            '    dana: hello from the terminal'; do
    grep -qF -- "$want" "$work/client.out" || { echo "FAILED: no line \"$want\""; exit 1; }
done
kill -TERM "$spid"
wait "$spid"
src=$?
trap - EXIT
if [ "$src" -ne 0 ]; then
    echo "FAILED: chat_server exited with $src"; cat "$work/server.err"; exit 1
fi
grep -qF 'chat_server: stopped' "$out" || { echo "FAILED: chat_server did not stop cleanly"; exit 1; }
echo "example_chat_cli: OK"
