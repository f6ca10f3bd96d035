#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/loadgen/smoke_json.sh LOADGEN SERVER: the CTest bench_json_smoke. The load generator's
# verani-json driver against bench_server's JSON path (/bench-json/{room}, Verani's JSON wire:
# runtime/PROTOCOL.md section 8): a fan-out of 300 messages to 60 subscribers over three
# generator workers, where every subscriber must get every message once and in order, with the
# payload it was sent (the generator exits 3 on a loss, gap, duplicate or lost connection), then
# half a second of echo, where every reply must carry its request's number and payload. It
# asserts no timing.
set -eu
loadgen=$1
server=$2
lg() { "$loadgen" --target verani-json --workers 3 --timeout 30 "$@"; }

lg --scenario fanout --subs 60 --messages 300 --window 8 --duration 30 -- "$server"
lg --scenario echo --clients 12 --duration 0.5 -- "$server"
echo "smoke_json.sh: fan-out and echo over the JSON wire: no loss, gap, duplicate or error"
