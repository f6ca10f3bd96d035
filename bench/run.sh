#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh: the side-by-side benchmark of issues 8 and 20. It builds the Verani-C bench
# server, the raw libwebsockets floor (bench/peers/lws_floor.c) and the load generator
# (bench/CMakeLists.txt), installs the Node peers (ws and socket.io, exact versions from
# bench/peers/package-lock.json) from npm into bench/peers/node_modules, runs the uWebSockets
# peer (built from a local copy of its sources when there is one: see --help), then runs every
# scenario against Verani-C and the peers in the same run, interleaved, each server pinned to
# one core and the generator (several worker processes) to the others with taskset, over
# 127.0.0.1 only. Each (scenario, server) pair runs --runs times (5 by default); it prints a
# table of medians and spreads (min..max) with the generator's CPU beside the server's, then
# issue 20's summary (fan-out, echo, idle memory, connect cost per server, with Verani-C's
# ratios to the floor and to uWebSockets), plus the exact command, and keeps the raw "RESULT"
# lines and the generator's messages in bench/out/. Verani-C runs as two targets: `verani` (everything in memory) and `verani-db`
# (bench_server --db: room storage and sessions persisted and resumable in a SQLite file, a
# fresh file per run in a temporary folder that is removed at the end); the churn scenario,
# "connections per second with session persistence on", always runs Verani-C with --db. It
# never changes the system (no sysctl); it does not judge the figures against the targets:
# bench/RESULTS.md does.
#
# The JSON wire (issue 19): the target `verani-json` is the same bench server, started the same
# way as `verani`, driven over Verani's JSON wire on the room's second path (/bench-json/{room}:
# text frames, no HELLO; runtime/PROTOCOL.md section 8) by the generator's verani-json driver.
# It runs in every scenario but churn (JSON sessions are never persisted, and churn measures
# connections with session persistence on), interleaved with the others, and with `verani` in
# the same run the table adds the JSON wire's cost against the binary one: its server CPU per
# unit, rate and latency or memory divided by the binary ones, run by run.
#
# `--defer` runs issue 15's benchmark instead: the cost of a deferred reply against a direct
# one, for the same echo request (a 64-byte Tick) from the same generator. bench_server answers
# it four ways (--reply: direct, defer-loop, defer-worker, defer-thread), as four targets
# interleaved in every run, over three scenarios: echo1 (one client, one request in flight:
# latency), echo (100 clients, one each) and echo8 (100 clients, 8 in flight each:
# throughput). Besides the common table it prints one of server CPU per request (all threads,
# and the loop thread alone), context switches, rate and latency, with each mode's ratios to
# direct taken within each run.
#
# The cluster (issue 16), when redis-server is installed (otherwise it says so and skips it):
# the target `verani-cluster` is the bench server as a node of a one-node cluster
# (`--redis unix:SOCK`, a redis-server of this script's own on a unix socket in a temporary
# folder, fresh for every run), measured in fan-out, interleaved with `verani`, and in churn
# (issue 17) with its local SQLite working copy (`--db` too: row `verani-cluster-db`),
# interleaved with `verani-db`; it adds the Redis commands counted (INFO commandstats) over
# the measured phase. Then the cluster phase (bench/cluster/cluster.sh) runs the forwarded
# HTTP emit between two nodes, three fan-outs against one node and against three, and the
# output gate's latency (a request whose handler writes storage, cluster on and off), and
# the summary ends with the cluster's section.
# `--no-cluster` leaves both out.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build="$root/build-bench"
runs=5
quick=0
default_targets="verani verani-json verani-cluster verani-poll verani-db floor uws ws sio"
defer_targets="verani verani-defer-loop verani-defer-worker verani-defer-thread"
targets=$default_targets
default_scenarios="fanout echo echo1 idle churn"
defer_scenarios="echo1 echo echo8"
scenarios=$default_scenarios
idle_conns=10000
server_core=0
gen_cores=""
workers=""
skip_build=0

usage() {
    cat <<EOF
usage: bench/run.sh [--quick] [--runs N] [--build DIR] [--targets "$default_targets"]
                    [--scenarios "$default_scenarios"] [--idle-conns N|max]
                    [--workers N] [--cores SERVER,GENERATORS] [--no-build] [--defer]
                    [--no-cluster]
  --quick       a few seconds per scenario (smaller counts, 1 run unless --runs is given)
  --defer       issue 15: a deferred reply against a direct one. Targets, unless --targets:
                  $defer_targets
                the bench server's echo answered directly, deferred and answered at once
                on the loop (--reply defer-loop), deferred to a worker-pool job whose done
                answers (defer-worker, 1 worker thread), deferred to an application thread
                that answers with verani_reply_send (defer-thread); their threads share the
                server's core. Scenarios, unless --scenarios: "$defer_scenarios" (echo8:
                echo with 8 requests in flight per client, also usable without --defer).
                Prints a table of the four modes with their ratios to direct
  --runs N      runs of every (scenario, server) pair; the table shows medians (default 5)
  --targets     servers to run (default "$default_targets"): verani is the bench server
                with everything in memory (on its default epoll loop), verani-poll the same
                on libwebsockets' poll() loop, verani-db the same with --db (room storage and
                sessions persisted and resumable in a fresh SQLite file per run);
                verani-json the same server as verani, over Verani's JSON wire on its
                /bench-json/{room} path (not in churn; with verani, the table adds the
                JSON/binary ratios);
                verani-defer-loop, verani-defer-worker and verani-defer-thread the same
                with a deferred echo reply (--defer); verani-cluster the same as a
                node of a one-node cluster (--redis; fan-out, and churn with --db as
                verani-cluster-db, with the Redis commands of their measured phase;
                needs redis-server); floor the
                raw libwebsockets server of bench/peers/lws_floor.c (no protocol, coalesced
                writes); uws the uWebSockets peer; ws, sio the Node peers. With both verani
                and verani-db the table adds the cost of persistence per fan-out delivery.
                churn measures connections per second with session persistence on, so its
                Verani-C row always runs with --db (verani alone runs churn as verani-db,
                verani-cluster as verani-cluster-db: --db and --redis together)
  --workers N   load generator worker processes (default 2 per generator core, plus 1; in
                fan-out one of them holds the publisher alone)
  --cores S,G   the server's core and the generator's cores, as taskset takes them
                (default 0 and every other core: "0,1" on 2 cores, "0,1-3" on 4)
  --no-cluster  no verani-cluster target and no cluster phase (issue 16: the forwarded
                HTTP emit between two nodes, three fan-outs against one node and three;
                issue 17: the output gate's latency; bench/cluster/cluster.sh), which run
                by default when redis-server is
                installed (not with --defer)
  --idle-conns  connections held by the idle scenario (default 10000), or "max": as many as
                this machine allows one server process (its open-file limit). The generator
                spreads them over enough worker processes for its own open-file limit; past
                one source address's ephemeral ports every client binds one of several
                (127.0.0.2, ...), and Verani-C is then held by the HELLO-only client. Past the
                hard open-file limit it is raised with prlimit (needs CAP_SYS_RESOURCE).
uWebSockets: not part of this repository. run.sh runs \$UWS_SERVER, else
DIR/uws/uws_server (DIR: --build, default build-bench/). When neither is there and a copy of
the sources is (\$UWS_SRC, default DIR/uws/src: uWebSockets, with uSockets in its uSockets/
folder or at \$UWS_SOCKETS_SRC), it first builds DIR/uws/uws_server from
bench/peers/uws_server.cpp against them (no TLS, no zlib, -O2). Otherwise it skips the uws
target with a message. Nothing of uWebSockets is ever committed.
EOF
}

runs_given=0
defer=0
cluster=1
targets_given=0
scenarios_given=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --runs) runs=$2; runs_given=1; shift ;;
        --build) build=$2; shift ;;
        --targets) targets=$2; targets_given=1; shift ;;
        --scenarios) scenarios=$2; scenarios_given=1; shift ;;
        --defer) defer=1 ;;
        --no-cluster) cluster=0 ;;
        --idle-conns) idle_conns=$2; shift ;;
        --workers) workers=$2; shift ;;
        --cores) server_core=${2%%,*}; gen_cores=${2#*,}; shift ;;
        --no-build) skip_build=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done
if [ "$defer" = 1 ]; then
    [ "$targets_given" = 1 ] || targets=$defer_targets
    [ "$scenarios_given" = 1 ] || scenarios=$defer_scenarios
fi
for t in $targets; do
    case "$t" in
        verani|verani-json|verani-cluster|verani-poll|verani-db|verani-defer-loop) ;;
        verani-defer-worker) ;;
        verani-defer-thread) ;;
        floor|uws|ws|sio) ;;
        *) echo "run.sh: unknown target '$t' (verani, verani-json, verani-cluster, verani-poll," \
                "verani-db, verani-defer-loop, verani-defer-worker, verani-defer-thread, floor," \
                "uws, ws, sio)" >&2
           exit 2 ;;
    esac
done
for sc in $scenarios; do
    case "$sc" in
        fanout|echo|echo1|echo8|idle|churn) ;;
        *) echo "run.sh: unknown scenario '$sc' (fanout, echo, echo1, echo8, idle, churn)" >&2
           exit 2 ;;
    esac
done
case "$idle_conns" in
    max) ;;
    ''|*[!0-9]*) echo "run.sh: --idle-conns takes a number or max, not '$idle_conns'" >&2
                 exit 2 ;;
esac
if [ -n "$workers" ] && { [[ "$workers" == *[!0-9]* ]] || [ "$workers" -lt 1 ] ||
                          [ "$workers" -gt 64 ]; }; then
    echo "run.sh: --workers takes 1 to 64, not '$workers'" >&2
    exit 2
fi
if [ "$quick" = 1 ] && [ "$runs_given" = 0 ]; then
    runs=1
fi
cmdline="bench/run.sh"
[ "$quick" = 1 ] && cmdline="$cmdline --quick"
[ "$defer" = 1 ] && cmdline="$cmdline --defer"
[ "$cluster" = 0 ] && cmdline="$cmdline --no-cluster"
[ "$runs_given" = 1 ] && cmdline="$cmdline --runs $runs"
if [ "$defer" = 1 ]; then
    [ "$targets" != "$defer_targets" ] && cmdline="$cmdline --targets \"$targets\""
    [ "$scenarios" != "$defer_scenarios" ] && cmdline="$cmdline --scenarios \"$scenarios\""
else
    [ "$targets" != "$default_targets" ] && cmdline="$cmdline --targets \"$targets\""
    [ "$scenarios" != "$default_scenarios" ] && cmdline="$cmdline --scenarios \"$scenarios\""
fi
[ "$idle_conns" != 10000 ] && cmdline="$cmdline --idle-conns $idle_conns"
[ -n "$workers" ] && cmdline="$cmdline --workers $workers"
[ -n "$gen_cores" ] && cmdline="$cmdline --cores $server_core,$gen_cores"

if [ "$(nproc)" -lt 2 ]; then
    echo "run.sh: needs 2 cores (one for the server, one for the generator)" >&2
    exit 1
fi
if [ -z "$gen_cores" ]; then
    gen_cores=$(seq 0 $(($(nproc) - 1)) | grep -vx "$server_core" | paste -sd, -)
fi
# The generator's cores as taskset counts them, for its default workers and its CPU share.
n_gen_cores=$(taskset -c "$gen_cores" nproc 2>/dev/null || echo 1)
[ -n "$workers" ] || workers=$((2 * n_gen_cores + 1))

# --- build ------------------------------------------------------------------------------------
if [ "$skip_build" = 0 ]; then
    echo "== building into $build"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVERANI_BUILD_BENCH=ON \
          -DVERANI_BUILD_EXAMPLES=OFF >/dev/null
    cmake --build "$build" -j2 --target loadgen bench_server lws_floor http_emit_latency \
          gate_latency >/dev/null
fi
loadgen="$build/bench/loadgen"
server="$build/bench/bench_server"
floor="$build/bench/lws_floor"
for f in "$loadgen" "$server" "$floor"; do
    [ -x "$f" ] || { echo "run.sh: $f is missing (build failed?)" >&2; exit 1; }
done
# uWebSockets is not part of this repository (see --help): run $UWS_SERVER or the binary built
# before; else build it, for this run's build tree only, from a copy of its sources when there
# is one; else skip it.
uws="${UWS_SERVER:-$build/uws/uws_server}"
uws_src="${UWS_SRC:-$build/uws/src}"
uws_sockets="${UWS_SOCKETS_SRC:-$uws_src/uSockets}"
# Build $3 from bench/peers/uws_server.cpp against uWebSockets at $1 and uSockets at $2: no
# TLS, no zlib, -O2, as bench/RESULTS.md describes. Its output goes to $3.log.
build_uws() {
    local src us out="$3" obj rc=0
    src=$(cd "$1" && pwd) && us=$(cd "$2" && pwd) || return 1
    obj=$(mktemp -d)
    mkdir -p "$(dirname "$out")"
    {
        (cd "$obj" && cc -O2 -std=c11 -DLIBUS_NO_SSL -I"$us/src" -c "$us"/src/*.c \
            "$us"/src/eventing/*.c "$us"/src/crypto/*.c) &&
        c++ -O2 -std=c++20 -DLIBUS_NO_SSL -DUWS_NO_ZLIB -I"$src/src" -I"$us/src" \
            "$here/peers/uws_server.cpp" "$obj"/*.o -o "$out"
    } >"$out.log" 2>&1 || rc=$?
    rm -rf "$obj"
    return "$rc"
}
if [[ " $targets " == *" uws "* ]] && [ ! -x "$uws" ] && [ -z "${UWS_SERVER:-}" ] &&
   [ -f "$uws_src/src/App.h" ] && [ -f "$uws_sockets/src/libusockets.h" ]; then
    echo "== building the uWebSockets peer from $uws_src (uSockets: $uws_sockets)"
    if ! build_uws "$uws_src" "$uws_sockets" "$uws"; then
        echo "== uWebSockets peer: the build failed (its output: $uws.log)"
        rm -f "$uws"
    fi
fi
if [[ " $targets " == *" uws "* ]] && [ ! -x "$uws" ]; then
    echo "== uWebSockets peer skipped: no executable at $uws and no sources to build it from" \
         "(a copy of uWebSockets with its uSockets in uSockets/ at $uws_src, or UWS_SRC and" \
         "UWS_SOCKETS_SRC; or UWS_SERVER naming a uws_server; bench/RESULTS.md)"
    targets=$(echo " $targets " | sed 's/ uws / /; s/^ //; s/ $//')
fi

# --- the cluster: a redis-server of our own, or nothing of it ------------------------------------
[ "$defer" = 1 ] && cluster=0
if [ "$cluster" = 1 ] && ! command -v redis-server >/dev/null; then
    echo "== cluster skipped: redis-server is not installed (the verani-cluster target and the" \
         "cluster phase need it; Debian: apt-get install redis-server)"
    cluster=0
fi
if [ "$cluster" = 0 ]; then
    targets=$(echo " $targets " | sed 's/ verani-cluster / /; s/^ //; s/ $//')
fi
# shellcheck source=bench/cluster/redis.sh
. "$here/cluster/redis.sh"

# --- peers ------------------------------------------------------------------------------------
if [[ " $targets " == *" ws "* || " $targets " == *" sio "* ]]; then
    command -v node >/dev/null || { echo "run.sh: node is needed for the peers" >&2; exit 1; }
    if [ ! -d "$here/peers/node_modules/ws" ] || [ ! -d "$here/peers/node_modules/socket.io" ]
    then
        echo "== installing ws and socket.io from npm into bench/peers/node_modules"
        (cd "$here/peers" && npm ci --no-audit --no-fund --loglevel=error)
    fi
fi

# --- runs -------------------------------------------------------------------------------------
out="$here/out"
mkdir -p "$out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$out/results-$stamp.txt"
log="$out/log-$stamp.txt"
: >"$results"
: >"$log"

if [ "$quick" = 1 ]; then
    fanout_args="--subs 1000 --messages 100 --window 32 --duration 60"
    echo_args="--clients 100 --duration 1"
    echo1_args="--clients 1 --duration 1"
    echo8_args="--clients 100 --inflight 8 --duration 1"
    idle_n=$idle_conns
    [ "$idle_n" = max ] || idle_n=$((idle_n < 2000 ? idle_n : 2000))
    idle_hold="--hold 1"
    churn_args="--slots 32 --duration 1"
else
    fanout_args="--subs 1000 --messages 1000 --window 32 --duration 120"
    echo_args="--clients 100 --duration 5"
    echo1_args="--clients 1 --duration 5"
    echo8_args="--clients 100 --inflight 8 --duration 5"
    idle_n=$idle_conns
    idle_hold="--hold 2 --timeout 300"
    churn_args="--slots 32 --duration 5"
fi

# --- idle: how many connections this machine lets one server process hold ------------------
# The server holds every idle connection in one process; the generator spreads its ends over
# enough worker processes for its own open-file limit, and over several source addresses past
# one address's ephemeral ports (then Verani-C is held by the HELLO-only client, which can bind
# them; the typed client cannot).
hard_nofile=$(ulimit -Hn)
nr_open=$(cat /proc/sys/fs/nr_open)
[ "$hard_nofile" = unlimited ] && hard_nofile=$nr_open
can_raise=0
prlimit --nofile="$nr_open:$nr_open" true 2>/dev/null && can_raise=1
fd_margin=256 # listening socket, stdio, libwebsockets' and SQLite's own descriptors
if [ "$idle_n" = max ]; then
    idle_n=$((can_raise ? 100000 : hard_nofile - fd_margin))
fi
idle_args="--conns $idle_n $idle_hold"
per_proc=$hard_nofile
idle_wrap=()
if [[ " $scenarios " == *" idle "* ]] && [ $((idle_n + fd_margin)) -gt "$hard_nofile" ]; then
    if [ "$can_raise" = 0 ]; then
        echo "run.sh: $idle_n idle connections need $((idle_n + fd_margin)) open files in the" \
             "server process; the hard limit is $hard_nofile and cannot be raised here (no" \
             "CAP_SYS_RESOURCE): --idle-conns max holds $((hard_nofile - fd_margin))" >&2
        exit 1
    fi
    per_proc=$((idle_n + 4096))
    idle_wrap=(prlimit --nofile="$per_proc:$per_proc")
fi
idle_workers=$(((idle_n + per_proc - fd_margin - 1) / (per_proc - fd_margin)))
[ "$idle_workers" -lt "$workers" ] && idle_workers=$workers
ports=$(awk '{print $2 - $1 + 1}' /proc/sys/net/ipv4/ip_local_port_range)
idle_src=0
if [ "$idle_n" -gt $((ports - 2000)) ]; then
    idle_src=$(((idle_n + ports - 2001) / (ports - 2000)))
fi

# --- the servers' writes (issue 20): deliveries per write, with perf's syscall tracepoints ----
# How many frames share each send() is most of a fan-out delivery's cost: counted for every
# server the same way (bench/syscount.sh), when perf may read the tracepoints here.
syscount=0
if perf stat -x, -e syscalls:sys_enter_sendto -- true 2>&1 | grep -q '^[0-9]*,,syscalls'; then
    syscount=1
else
    echo "run.sh: writes per delivery are not counted: perf cannot read syscall tracepoints" \
         "here (install linux-perf; run as root or with kernel.perf_event_paranoid=-1)" >&2
fi

# verani-db's SQLite files: one per run, in a folder of our own removed on exit.
dbdir=$(mktemp -d "${TMPDIR:-/tmp}/verani-bench-XXXXXX")
trap 'redis_stop; rm -rf "$dbdir"' EXIT
db="$dbdir/bench.db"

server_cmd() {
    case "$1" in
        verani|verani-json) echo "$server" ;;
        verani-poll) echo "$server --poll" ;;
        verani-db) echo "$server --db $db" ;;
        verani-cluster) echo "$server --redis unix:$redis_sock" ;;
        verani-cluster-db) echo "$server --db $db --redis unix:$redis_sock" ;;
        verani-defer-loop) echo "$server --reply defer-loop" ;;
        verani-defer-worker) echo "$server --reply defer-worker --workers 1" ;;
        verani-defer-thread) echo "$server --reply defer-thread" ;;
        floor) echo "$floor" ;;
        uws) echo "$uws" ;;
        ws) echo "node $here/peers/ws_server.js" ;;
        sio) echo "node $here/peers/sio_server.js" ;;
    esac
}

failures=0
for run in $(seq 1 "$runs"); do
    for sc in $scenarios; do
        for t in $targets; do
            # the cluster's cost is measured in fan-out (issue 16) and churn (issue 17)
            [ "$t" = verani-cluster ] && [ "$sc" != fanout ] && [ "$sc" != churn ] && continue
            # JSON sessions are never persisted: churn (persistence on) has no JSON row
            [ "$t" = verani-json ] && [ "$sc" = churn ] && continue
            # churn is measured with persistence on: Verani-C's row is verani-db's, and the
            # cluster's is a one-node cluster with its local SQLite working copy (--db too)
            if [ "$sc" = churn ] && [ "$t" = verani ]; then
                [[ " $targets " == *" verani-db "* ]] && continue
                t=verani-db
            fi
            [ "$sc" = churn ] && [ "$t" = verani-cluster ] && t=verani-cluster-db
            case "$sc" in
                fanout) args="--scenario fanout $fanout_args" ;;
                echo) args="--scenario echo $echo_args" ;;
                echo1) args="--scenario echo $echo1_args" ;;
                echo8) args="--scenario echo $echo8_args" ;;
                idle) args="--scenario idle $idle_args" ;;
                churn) args="--scenario churn $churn_args" ;;
                *) echo "run.sh: unknown scenario $sc" >&2; exit 2 ;;
            esac
            wrap=()
            lt=$t
            label=$t
            wargs="--workers $workers"
            case "$t" in verani-json) ;; verani-*) lt=verani ;; esac
            [ "$t" = floor ] || [ "$t" = uws ] && lt=ws # they speak the ws peer's framing
            if [ "$sc" = idle ]; then
                wrap=("${idle_wrap[@]}")
                wargs="--workers $idle_workers"
                if [ "$idle_src" -gt 0 ]; then
                    args="$args --src $idle_src"
                    if [ "$lt" = verani ]; then
                        lt=verani-raw
                        label=${t/verani/verani-raw}
                    fi
                fi
            fi
            rm -f "$db" "$db-wal" "$db-shm"
            marks=()
            rmsg=""
            if [[ "$t" == verani-cluster* ]]; then
                rdir="$dbdir/redis-$run-$sc"
                redis_start "$rdir" "$gen_cores"
                marks+=("$(redis_mark "$rdir")")
            fi
            wfile="$dbdir/writes-$run-$sc-$t"
            [ "$syscount" = 1 ] && [ "$sc" != idle ] && [ "$sc" != churn ] &&
                marks+=("\"$here/syscount.sh\" \"\$1\" \"\$2\" \"$wfile\"")
            mark=()
            [ "${#marks[@]}" -gt 0 ] && mark=(--mark "$(IFS=';'; echo "${marks[*]}")")
            echo "== run $run/$runs: $sc against $label" | tee -a "$log"
            # shellcheck disable=SC2046,SC2086
            if line=$("${wrap[@]}" taskset -c "$gen_cores" "$loadgen" --target "$lt" $wargs $args \
                      "${mark[@]}" -- \
                      "${wrap[@]}" taskset -c "$server_core" $(server_cmd "$t") 2>>"$log" |
                      grep '^RESULT '); then
                :
            fi
            if [[ "$t" == verani-cluster* ]]; then
                redis_stop
                if [ -n "$line" ]; then
                    # the Redis commands of the measured phase, and per second of it (one node)
                    d=$(redis_diff "$rdir/cs.start" "$rdir/cs.end")
                    n=$(echo "$d" | tr ',' '\n' | awk -F: '{ c += $2 } END { print c + 0 }')
                    el=${line##* elapsed_s=}
                    el=${el%% *}
                    line="$line redis=$d redis_cmds=$n redis_cmds_per_s_node=$(awk -v n="$n" \
                          -v e="$el" 'BEGIN { printf "%.2f", (e > 0 ? n / e : 0) }')"
                    rmsg="Redis during the measured phase: $d"
                fi
            fi
            if [ -z "$line" ]; then
                echo "   no result (see $log)" | tee -a "$log"
                failures=$((failures + 1))
                continue
            fi
            # the loadgen names the protocol it spoke; the table names the server
            line=${line/ target=$lt / target=$label }
            if [ -s "$wfile" ]; then # units per write: deliveries, round trips
                w=$(sed -n 's/^writes=//p' "$wfile")
                cnt=${line##* count=}
                cnt=${cnt%% *}
                line="$line writes=$w units_per_write=$(awk -v c="$cnt" -v w="$w" \
                      'BEGIN { printf "%.2f", (w > 0 ? c / w : 0) }')"
            fi
            echo "$line scen=$sc run=$run" >>"$results"
            tail -n 2 "$log" | sed "s/^ */   /"
            [ -z "$rmsg" ] || echo "   $rmsg" | tee -a "$log"
        done
    done
done

# --- the cluster phase (issues 16 and 17) -------------------------------------------------------
if [ "$cluster" = 1 ]; then
    cargs=(--build "$build" --results "$results" --runs "$runs")
    [ "$quick" = 1 ] && cargs+=(--quick)
    "$here/cluster/cluster.sh" run "${cargs[@]}" 2>&1 | tee -a "$log" ||
        failures=$((failures + 1))
fi

# --- the table --------------------------------------------------------------------------------
table="$out/table-$stamp.md"
awk -v runs="$runs" -v gcores="$n_gen_cores" -v workers="$workers" -v defer="$defer" -f "$here/stats.awk" -f /dev/stdin "$results" >"$table" <<'AWK'
/^RESULT / {
    t = kv("target"); s = kv("scen"); k = s SUBSEP t
    seen[k] = 1; order_t[t] = 1
    add(k SUBSEP "us", kv("server_us_per_unit"))
    add(k SUBSEP "rate", kv("rate"))
    el = kv("elapsed_s"); add(k SUBSEP "gen", el > 0 ? 100 * kv("gen_cpu_s") / el : 0)
    add(k SUBSEP "genw", kv("gen_worker_max_pct"))
    add(k SUBSEP "srv", el > 0 ? 100 * kv("server_cpu_s") / el : 0)
    if (s == "fanout") add(k SUBSEP "bad", kv("losses") + kv("gaps") + kv("dups") + kv("subs_lost"))
    if (kv("units_per_write") != "") add(k SUBSEP "upw", kv("units_per_write"))
    if (s ~ /^echo/) { add(k SUBSEP "p50", kv("p50_us")); add(k SUBSEP "p99", kv("p99_us")) }
    if (s == "idle") { add(k SUBSEP "kib", kv("kib_per_conn")); add(k SUBSEP "bytes", 1024 * kv("kib_per_conn")) }
    if (s == "churn" || s ~ /^echo/) add(k SUBSEP "err", kv("errors"))
    # issue 15: the deferred modes against direct, run by run
    if (s ~ /^echo/ && (t == "verani" || t ~ /^verani-defer-/)) {
        r = kv("run"); u = kv("server_us_per_unit"); m = kv("server_main_us_per_unit")
        du[s, t, r] = u; dm[s, t, r] = m
        add(k SUBSEP "main", m); add(k SUBSEP "other", u - m > 0 ? u - m : 0) # read a moment apart: not below 0
        add(k SUBSEP "csw", kv("server_ctxsw_per_unit"))
        if (t != "verani") defer_seen = 1
    }
    # issue 19: the JSON wire against the binary one, run by run
    if (t == "verani" || t == "verani-raw" || t == "verani-json") {
        r = kv("run")
        jb[s, t, r, "us"] = kv("server_us_per_unit"); jb[s, t, r, "rate"] = kv("rate")
        if (s ~ /^echo/) { jb[s, t, r, "p50"] = kv("p50_us"); jb[s, t, r, "p99"] = kv("p99_us") }
        if (s == "idle") jb[s, t, r, "x"] = kv("kib_per_conn")
        if (t == "verani-json") json_seen = 1
    }
}
# The JSON wire against the binary one (issue 19): the same server binary and settings, each
# JSON figure divided by the binary one of the same run, then their median (min..max).
function json_table(    ss, si, s, b, k, r, f, nf, fs, x, row) {
    split("fanout echo echo1 echo8 idle", ss, " ")
    printf "\nThe JSON wire against the binary one (issue 19): the same bench server (same binary,\n"
    printf "same options) driven over its /bench/{room} path (binary) and its /bench-json/{room}\n"
    printf "path (Verani's JSON wire); each ratio is JSON / binary within one run, then the median\n"
    printf "(min..max) over the runs.\n\n"
    print "| scenario | binary: server CPU per unit | JSON: server CPU per unit | JSON / binary: server CPU per unit | JSON / binary: rate | JSON / binary: other |"
    print "| --- | --- | --- | --- | --- | --- |"
    for (si = 1; si <= 5; si++) {
        s = ss[si]
        b = (s == "idle" && !((s SUBSEP "verani") in seen)) ? "verani-raw" : "verani"
        if (!((s SUBSEP b) in seen) || !((s SUBSEP "verani-json") in seen)) continue
        nf = split("us rate p50 p99 x", fs, " ")
        for (r = 1; r <= runs; r++) for (f = 1; f <= nf; f++) {
            x = fs[f]
            if (!((s, b, r, x) in jb) || !((s, "verani-json", r, x) in jb)) continue
            if (jb[s, b, r, x] > 0) add(s SUBSEP "jratio" SUBSEP x, jb[s, "verani-json", r, x] / jb[s, b, r, x])
        }
        k = s SUBSEP "jratio" SUBSEP
        row = s == "fanout" ? "fan-out, 1,000 subscribers, 64 B" : s == "echo" ? "echo, 100 clients" : \
              s == "echo8" ? "echo, 100 clients x 8 in flight" : s == "echo1" ? "echo, 1 client" : \
              "idle connections"
        printf "| %s | %s %s | %s %s | %s | %s | %s |\n", row, show(s SUBSEP b SUBSEP "us", "%.3f"),
            (s == "fanout" ? "us/delivery" : s == "idle" ? "us/connect" : "us/round trip"),
            show(s SUBSEP "verani-json" SUBSEP "us", "%.3f"),
            (s == "fanout" ? "us/delivery" : s == "idle" ? "us/connect" : "us/round trip"),
            show(k "us", "%.2f"), show(k "rate", "%.2f"),
            s ~ /^echo/ ? "p50 " show(k "p50", "%.2f") ", p99 " show(k "p99", "%.2f") : \
            s == "idle" ? "KiB/connection " show(k "x", "%.2f") : "-"
    }
}
# Issue 20's summary: one row per figure, one column per server, Verani-C's ratios.
function issue20_summary(    vi, fs, fk, ff, flab, nc, cs, fi, ci, row, t, k, v, f, u) {
    vi = (("idle" SUBSEP "verani") in seen) ? "verani" : "verani-raw"
    split("fanout echo idle idle", fs, " "); split("us us bytes us", fk, " ")
    split("%.3f %.2f %.0f %.0f", ff, " ")
    flab[1] = "fan-out, us per delivery (1,000 subscribers, 64 B)"
    flab[2] = "echo, us per round trip (100 clients)"
    flab[3] = "idle, bytes per connection"
    flab[4] = "connect, us per connection (idle scenario)"
    nc = split("verani floor uws ws sio", cs, " ")
    printf "\n| figure (server CPU, memory) | Verani-C | raw lws floor | uWebSockets | ws | socket.io | Verani-C / floor | Verani-C / uWS |\n"
    print "| --- | --- | --- | --- | --- | --- | --- | --- |"
    for (fi = 1; fi <= 4; fi++) {
        row = "| " flab[fi]
        for (ci = 1; ci <= nc; ci++) {
            t = cs[ci]; if (t == "verani" && fs[fi] == "idle") t = vi
            k = fs[fi] SUBSEP t SUBSEP fk[fi]
            row = row " | " show(k, ff[fi])
        }
        v = med(fs[fi] SUBSEP (fs[fi] == "idle" ? vi : "verani") SUBSEP fk[fi])
        f = med(fs[fi] SUBSEP "floor" SUBSEP fk[fi]); u = med(fs[fi] SUBSEP "uws" SUBSEP fk[fi])
        row = row " | " (v != "-" && f != "-" && f > 0 ? sprintf("%.2fx", v / f) : "-")
        row = row " | " (v != "-" && u != "-" && u > 0 ? sprintf("%.2fx", v / u) : "-")
        print row " |"
    }
    row = "| fan-out, deliveries per write (the server's send calls)"
    for (ci = 1; ci <= nc; ci++)
        row = row " | " show("fanout" SUBSEP cs[ci] SUBSEP "upw", "%.1f")
    print row " | | |"
    row = "| generator CPU in fan-out, % of one core [busiest worker]"
    for (ci = 1; ci <= nc; ci++) {
        k = "fanout" SUBSEP cs[ci]
        row = row " | " ((k in seen) ? show(k SUBSEP "gen", "%.0f") " [" show(k SUBSEP "genw", "%.0f") "]" : "-")
    }
    print row " | | |"
    if (vi == "verani-raw" && (("idle" SUBSEP vi) in seen))
        print "\nVerani-C's idle figures are with the HELLO-only client (several source addresses)."
}
# The deferred-reply table (issue 15): each mode against direct, the ratios taken run by run.
function defer_table(    sn, ds, dn, dt, si, ti, s, t, k, r) {
    split("echo1 echo echo8", ds, " ")
    slab["echo1"] = "1 client, 1 in flight"; slab["echo"] = "100 clients, 1 in flight each"
    slab["echo8"] = "100 clients, 8 in flight each"
    dn = split("verani verani-defer-loop verani-defer-worker verani-defer-thread", dt, " ")
    mlab["verani"] = "direct"; mlab["verani-defer-loop"] = "deferred, answered on the loop in the handler"
    mlab["verani-defer-worker"] = "deferred, worker-pool job (done answers on the loop)"
    mlab["verani-defer-thread"] = "deferred, answered by an application thread"
    for (si = 1; si <= 3; si++) for (ti = 2; ti <= dn; ti++) {
        s = ds[si]; t = dt[ti]
        for (r = 1; r <= runs; r++) {
            if (!((s, t, r) in du) || !((s, "verani", r) in du)) continue
            if (du[s, "verani", r] > 0) add(s SUBSEP t SUBSEP "ratio", du[s, t, r] / du[s, "verani", r])
            if (dm[s, "verani", r] > 0) add(s SUBSEP t SUBSEP "mratio", dm[s, t, r] / dm[s, "verani", r])
        }
    }
    printf "\nDeferred replies against direct (issue 15): the same echo request (a 64-byte Tick), server\n"
    printf "CPU per request of all its threads and of its loop thread alone, its context switches per\n"
    printf "request; ratios to direct taken within each run, then their median (min..max).\n\n"
    print "| scenario | reply | server CPU, us/request | loop thread, us/request | other threads, us/request | context switches/request | requests/s | p50 us | p99 us | gen CPU % [busiest] | CPU / direct | loop CPU / direct |"
    print "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for (si = 1; si <= 3; si++) for (ti = 1; ti <= dn; ti++) {
        s = ds[si]; t = dt[ti]; k = s SUBSEP t
        if (!(k in seen)) continue
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", slab[s], mlab[t],
            show(k SUBSEP "us", "%.2f"), show(k SUBSEP "main", "%.2f"), show(k SUBSEP "other", "%.2f"),
            show(k SUBSEP "csw", "%.3f"), show(k SUBSEP "rate", "%.0f"), show(k SUBSEP "p50", "%.0f"),
            show(k SUBSEP "p99", "%.0f"), show(k SUBSEP "gen", "%.0f") " [" show(k SUBSEP "genw", "%.0f") "]",
            t == "verani" ? "1" : show(k SUBSEP "ratio", "%.2f"), t == "verani" ? "1" : show(k SUBSEP "mratio", "%.2f")
    }
}
END {
    name["verani"] = "Verani-C"; name["ws"] = "ws"; name["sio"] = "socket.io"
    name["floor"] = "libwebsockets 4.1, raw, coalesced writes (floor)"; name["uws"] = "uWebSockets"
    name["verani-raw"] = "Verani-C (HELLO-only client)"
    name["verani-poll"] = "Verani-C, poll() loop"
    name["verani-json"] = "Verani-C, JSON wire"
    name["verani-raw-poll"] = "Verani-C, poll() loop (HELLO-only client)"
    name["verani-db"] = "Verani-C, --db (sessions persisted)"
    name["verani-cluster"] = "Verani-C, cluster on (one node, owner local)"
    name["verani-cluster-db"] = "Verani-C, cluster on, --db (one node, owner local)"
    name["verani-defer-loop"] = "Verani-C, reply deferred, answered on the loop"
    name["verani-defer-worker"] = "Verani-C, reply deferred to a worker-pool job"
    name["verani-defer-thread"] = "Verani-C, reply deferred to an application thread"
    name["verani-raw-db"] = "Verani-C, --db (HELLO-only client)"
    nt = split("verani verani-json verani-cluster verani-poll verani-db verani-cluster-db verani-defer-loop verani-defer-worker verani-defer-thread verani-raw verani-raw-poll verani-raw-db floor uws ws sio", ts, " ")
    printf "Medians of %d run(s), (min..max) when more than one. Server CPU: the server process's\n", runs
    printf "CPU time (all its threads) over the measured phase; gen CPU: the load generator's (%d\n", workers
    printf "worker processes on %d core(s) unless noted, and its parent), as a share of one core,\n", gcores
    printf "and in brackets its busiest worker's.\n\n"
    print "| scenario | server | server CPU per unit | rate | server CPU | gen CPU [busiest worker] | other |"
    print "| --- | --- | --- | --- | --- | --- | --- |"
    nsc = split("fanout echo echo1 echo8 idle churn", ss, " ")
    for (si = 1; si <= nsc; si++) for (ti = 1; ti <= nt; ti++) {
        s = ss[si]; t = ts[ti]; k = s SUBSEP t
        if (!(k in seen)) continue
        if (s == "fanout") { lab = "fan-out, 1,000 subscribers, 64 B"; unit = "us/delivery"; ru = "deliveries/s"
            other = "losses+gaps+dups+lost subs: " show(k SUBSEP "bad", "%d") }
        else if (s ~ /^echo/) { lab = (s == "echo" ? "echo, 100 clients" : s == "echo8" ? "echo, 100 clients x 8 in flight" : "echo, 1 client"); unit = "us/round trip"; ru = "round trips/s"
            other = "p50 " show(k SUBSEP "p50", "%.0f") " us, p99 " show(k SUBSEP "p99", "%.0f") " us, errors " show(k SUBSEP "err", "%d") }
        else if (s == "idle") { lab = "idle connections"; unit = "us/connect"; ru = "connects/s"
            other = "**" show(k SUBSEP "kib", "%.2f") " KiB/connection**" }
        else { lab = "churn (connect, echo, close)"; unit = "us/connection"; ru = "connections/s"
            other = "errors " show(k SUBSEP "err", "%d") }
        printf "| %s | %s | %s %s | %s %s | %s %% | %s %% | %s |\n", lab, name[t],
            show(k SUBSEP "us", "%.3f"), unit, show(k SUBSEP "rate", "%.0f"), ru,
            show(k SUBSEP "srv", "%.0f"), show(k SUBSEP "gen", "%.0f") " [" show(k SUBSEP "genw", "%.0f") "]", other
    }
    if (!defer) issue20_summary()
    if (defer_seen) defer_table()
    if (json_seen) json_table()

    a = "fanout" SUBSEP "verani"; b = "fanout" SUBSEP "verani-db"
    if ((a in seen) && (b in seen)) {
        m0 = med(a SUBSEP "us"); m1 = med(b SUBSEP "us")
        if (m0 > 0)
            printf "\nCost of persistence (issue 5: under 10%%): fan-out server CPU per delivery " \
                   "%.3f us with --db against %.3f us without: %+.1f%%.\n", m1, m0,
                   100 * (m1 - m0) / m0
    }
}
AWK
if grep -q 'target=verani-cluster\|scen=http-emit' "$results"; then
    "$here/cluster/cluster.sh" table --results "$results" --runs "$runs" >>"$table"
fi

{
    echo
    echo "Command: $cmdline"
    echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "Server on core $server_core, generator ($workers workers; idle: $idle_workers, $idle_src source addresses) on core(s) $gen_cores (taskset); raw results: bench/out/$(basename "$results")"
    echo
    cat "$table"
} | tee -a "$log"
if [ "$failures" -gt 0 ]; then
    echo "run.sh: $failures scenario run(s) gave no result; see $log" >&2
    exit 1
fi
