#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/loadgen/smoke_workers.sh verani|floor LOADGEN SERVER: the CTests bench_loadgen_workers
# and bench_floor_smoke. Every scenario runs briefly with the connections spread over three
# generator workers, against bench_server (verani: the typed client) or against the raw
# libwebsockets floor bench/peers/lws_floor.c (floor: the ws driver), and must end with no loss,
# gap, duplicate, error or lost connection (the load generator exits 3 otherwise). For the
# floor it then makes the floor leave one message out of one connection's stream, and repeat
# one, and checks that the merged counts across workers say exactly that: one loss and one gap,
# then one duplicate. It asserts no timing.
set -eu
mode=$1
loadgen=$2
server=$3
case "$mode" in
    verani) target=verani ;;
    floor) target=ws ;;
    *) echo "smoke_workers.sh: mode verani or floor, not '$mode'" >&2; exit 2 ;;
esac
lg() { "$loadgen" --target "$target" --workers 3 --timeout 30 "$@"; }

# more messages than the floor's ring holds (1,024), so that it wraps
lg --scenario fanout --subs 60 --messages 1500 --window 8 --duration 30 -- "$server"
lg --scenario echo --clients 12 --duration 0.5 -- "$server"
lg --scenario idle --conns 300 --hold 0.2 -- "$server"
lg --scenario churn --slots 6 --duration 0.5 -- "$server"
[ "$mode" = floor ] || exit 0

# The zero-loss checks stay exact across workers: one message left out of one stream is one
# loss and one gap, one sent twice is one duplicate, wherever that subscriber's worker is.
# A left-out message never leaves the window: that run ends at its time bound, and its counts
# are exact only once every message before the stall has arrived, so the bound is generous
# (10 s: a loaded machine delivered 50 messages a second here); a repeated one does not stall
# the run, which ends as soon as every message is in (the bound only caps a failure).
expect() {
    want=$1
    bound=$2
    shift 2
    set +e
    out=$(lg --scenario fanout --subs 60 --messages 200 --window 8 --duration "$bound" -- \
          "$server" "$@")
    rc=$?
    set -e
    case "$out" in
        *"$want"*) ;;
        *) echo "smoke_workers.sh: wanted '$want' from the floor with $*, got: $out" >&2
           exit 1 ;;
    esac
    [ "$rc" = 3 ] || { echo "smoke_workers.sh: exit $rc, not 3, with $*" >&2; exit 1; }
}
expect "losses=1 gaps=1 dups=0 subs_lost=0" 10 --fault-gap 77
expect "losses=0 gaps=0 dups=1 subs_lost=0" 60 --fault-dup 77
echo "smoke_workers.sh: $mode: every scenario ran with 3 workers; the fault counts are exact"
