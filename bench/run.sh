#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh: issue 8's side-by-side benchmark. It builds the Verani-C bench server and the
# load generator (bench/CMakeLists.txt), installs the peers (ws and socket.io, exact versions
# from bench/peers/package-lock.json) from npm into bench/peers/node_modules, then runs every
# scenario against Verani-C and the peers in the same run, interleaved, each server pinned to
# core 0 and the generator to core 1 with taskset, over 127.0.0.1 only. Each (scenario, server)
# pair runs --runs times (3 by default); it prints a table of medians and spreads (min..max)
# plus the exact command, and keeps the raw "RESULT" lines and the generator's messages in
# bench/out/. Verani-C runs as two targets: `verani` (everything in memory) and `verani-db`
# (bench_server --db: room storage and sessions persisted and resumable in a SQLite file, a
# fresh file per run in a temporary folder that is removed at the end); the churn scenario,
# "connections per second with session persistence on", always runs Verani-C with --db. It
# never changes the system (no sysctl); it does not judge the figures against the targets:
# bench/RESULTS.md does.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build="$root/build-bench"
runs=3
quick=0
default_targets="verani verani-poll verani-db ws sio"
targets=$default_targets
scenarios="fanout echo echo1 idle churn"
idle_conns=10000
server_core=0
gen_core=1
skip_build=0

usage() {
    cat <<EOF
usage: bench/run.sh [--quick] [--runs N] [--build DIR] [--targets "verani verani-poll verani-db ws sio"]
                    [--scenarios "fanout echo echo1 idle churn"] [--idle-conns N]
                    [--cores SERVER,GENERATOR] [--no-build]
  --quick       a few seconds per scenario (smaller counts, 1 run unless --runs is given)
  --runs N      runs of every (scenario, server) pair; the table shows medians (default 3)
  --targets     servers to run (default "$default_targets"): verani is the bench server
                with everything in memory (on its default epoll loop), verani-poll the same
                on libwebsockets' poll() loop, verani-db the same with --db (room storage and
                sessions persisted and resumable in a fresh SQLite file per run); ws, sio the
                Node peers. With both verani and verani-db the table adds the cost of
                persistence per fan-out delivery. churn measures connections per second with
                session persistence on, so its Verani-C row always runs with --db (verani
                alone runs churn as verani-db)
  --idle-conns  connections held by the idle scenario (default 10000); past the hard open-file
                limit it is raised with prlimit (needs CAP_SYS_RESOURCE), every client binds
                one of 8 source addresses, and Verani-C is held by the HELLO-only client
EOF
}

runs_given=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --runs) runs=$2; runs_given=1; shift ;;
        --build) build=$2; shift ;;
        --targets) targets=$2; shift ;;
        --scenarios) scenarios=$2; shift ;;
        --idle-conns) idle_conns=$2; shift ;;
        --cores) server_core=${2%,*}; gen_core=${2#*,}; shift ;;
        --no-build) skip_build=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done
for t in $targets; do
    case "$t" in
        verani|verani-poll|verani-db|ws|sio) ;;
        *) echo "run.sh: unknown target '$t' (verani, verani-poll, verani-db, ws, sio)" >&2
           exit 2 ;;
    esac
done
if [ "$quick" = 1 ] && [ "$runs_given" = 0 ]; then
    runs=1
fi
cmdline="bench/run.sh"
[ "$quick" = 1 ] && cmdline="$cmdline --quick"
[ "$runs_given" = 1 ] && cmdline="$cmdline --runs $runs"
[ "$targets" != "$default_targets" ] && cmdline="$cmdline --targets \"$targets\""
[ "$scenarios" != "fanout echo echo1 idle churn" ] && cmdline="$cmdline --scenarios \"$scenarios\""
[ "$idle_conns" != 10000 ] && cmdline="$cmdline --idle-conns $idle_conns"

if [ "$(nproc)" -lt 2 ]; then
    echo "run.sh: needs 2 cores (one for the server, one for the generator)" >&2
    exit 1
fi

# --- build ------------------------------------------------------------------------------------
if [ "$skip_build" = 0 ]; then
    echo "== building into $build"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVERANI_BUILD_BENCH=ON \
          -DVERANI_BUILD_EXAMPLES=OFF >/dev/null
    cmake --build "$build" -j2 --target loadgen bench_server >/dev/null
fi
loadgen="$build/bench/loadgen"
server="$build/bench/bench_server"
for f in "$loadgen" "$server"; do
    [ -x "$f" ] || { echo "run.sh: $f is missing (build failed?)" >&2; exit 1; }
done

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
    idle_n=$((idle_conns < 2000 ? idle_conns : 2000))
    idle_args="--conns $idle_n --hold 1"
    churn_args="--slots 32 --duration 1"
else
    fanout_args="--subs 1000 --messages 1000 --window 32 --duration 120"
    echo_args="--clients 100 --duration 5"
    echo1_args="--clients 1 --duration 5"
    idle_n=$idle_conns
    idle_args="--conns $idle_n --hold 2 --timeout 300"
    churn_args="--slots 32 --duration 5"
fi

hard_nofile=$(ulimit -Hn)
if [[ " $scenarios " == *" idle "* ]] && [ "$hard_nofile" != unlimited ] &&
   [ $((idle_n + 1000)) -gt "$hard_nofile" ]; then
    lim=$((idle_n + 4096))
    if ! prlimit --nofile="$lim:$lim" true 2>/dev/null; then
        echo "run.sh: $idle_n idle connections need $lim open files per process; the hard" \
             "limit is $hard_nofile and cannot be raised here (no CAP_SYS_RESOURCE)" >&2
        exit 1
    fi
fi

# verani-db's SQLite files: one per run, in a folder of our own removed on exit.
dbdir=$(mktemp -d "${TMPDIR:-/tmp}/verani-bench-XXXXXX")
trap 'rm -rf "$dbdir"' EXIT
db="$dbdir/bench.db"

server_cmd() {
    case "$1" in
        verani) echo "$server" ;;
        verani-poll) echo "$server --poll" ;;
        verani-db) echo "$server --db $db" ;;
        ws) echo "node $here/peers/ws_server.js" ;;
        sio) echo "node $here/peers/sio_server.js" ;;
    esac
}

failures=0
for run in $(seq 1 "$runs"); do
    for sc in $scenarios; do
        for t in $targets; do
            # churn is measured with persistence on: Verani-C's row is verani-db's
            if [ "$sc" = churn ] && [ "$t" = verani ]; then
                [[ " $targets " == *" verani-db "* ]] && continue
                t=verani-db
            fi
            case "$sc" in
                fanout) args="--scenario fanout $fanout_args" ;;
                echo) args="--scenario echo $echo_args" ;;
                echo1) args="--scenario echo $echo1_args" ;;
                idle) args="--scenario idle $idle_args" ;;
                churn) args="--scenario churn $churn_args" ;;
                *) echo "run.sh: unknown scenario $sc" >&2; exit 2 ;;
            esac
            wrap=()
            lt=$t
            label=$t
            [ "$t" = verani-db ] || [ "$t" = verani-poll ] && lt=verani
            if [ "$sc" = idle ] && [ "$hard_nofile" != unlimited ] &&
               [ $((idle_n + 1000)) -gt "$hard_nofile" ]; then
                # Past one source address's ephemeral ports: bind 8 of them; the typed client
                # cannot, so Verani-C is held by the HELLO-only client (same server work).
                lim=$((idle_n + 4096))
                wrap=(prlimit --nofile="$lim:$lim")
                args="$args --src 8"
                if [ "$lt" = verani ]; then
                    lt=verani-raw
                    label=${t/verani/verani-raw}
                fi
            fi
            rm -f "$db" "$db-wal" "$db-shm"
            echo "== run $run/$runs: $sc against $label" | tee -a "$log"
            # shellcheck disable=SC2046,SC2086
            if line=$("${wrap[@]}" taskset -c "$gen_core" "$loadgen" --target "$lt" $args -- \
                      "${wrap[@]}" taskset -c "$server_core" $(server_cmd "$t") 2>>"$log" |
                      grep '^RESULT '); then
                :
            fi
            if [ -z "$line" ]; then
                echo "   no result (see $log)" | tee -a "$log"
                failures=$((failures + 1))
                continue
            fi
            # the loadgen names the protocol it spoke; the table names the server
            line=${line/ target=$lt / target=$label }
            echo "$line scen=$sc run=$run" >>"$results"
            tail -n 1 "$log" | sed 's/^/   /'
        done
    done
done

# --- the table --------------------------------------------------------------------------------
table="$out/table-$stamp.md"
awk -v runs="$runs" '
function kv(name,    i, n, p) {
    for (i = 2; i <= NF; i++) {
        p = index($i, "=")
        if (substr($i, 1, p - 1) == name) return substr($i, p + 1)
    }
    return ""
}
function add(key, v) { vals[key, ++cnt[key]] = v + 0 }
function med(key,    n, i, j, t, a) {
    n = cnt[key]
    if (!n) return "-"
    for (i = 1; i <= n; i++) a[i] = vals[key, i]
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    lo[key] = a[1]; hi[key] = a[n]
    if (n % 2) return a[(n + 1) / 2]
    return (a[n / 2] + a[n / 2 + 1]) / 2
}
function show(key, fmt,    m) {
    m = med(key)
    if (m == "-") return "-"
    if (cnt[key] == 1) return sprintf(fmt, m)
    return sprintf(fmt " (" fmt ".." fmt ")", m, lo[key], hi[key])
}
/^RESULT / {
    t = kv("target"); s = kv("scen"); k = s SUBSEP t
    seen[k] = 1; order_t[t] = 1
    add(k SUBSEP "us", kv("server_us_per_unit"))
    add(k SUBSEP "rate", kv("rate"))
    el = kv("elapsed_s"); add(k SUBSEP "gen", el > 0 ? 100 * kv("gen_cpu_s") / el : 0)
    add(k SUBSEP "srv", el > 0 ? 100 * kv("server_cpu_s") / el : 0)
    if (s == "fanout") add(k SUBSEP "bad", kv("losses") + kv("gaps") + kv("dups") + kv("subs_lost"))
    if (s == "echo" || s == "echo1") { add(k SUBSEP "p50", kv("p50_us")); add(k SUBSEP "p99", kv("p99_us")) }
    if (s == "idle") add(k SUBSEP "kib", kv("kib_per_conn"))
    if (s == "churn" || s == "echo" || s == "echo1") add(k SUBSEP "err", kv("errors"))
}
END {
    name["verani"] = "Verani-C"; name["ws"] = "ws"; name["sio"] = "socket.io"
    name["verani-raw"] = "Verani-C (HELLO-only client)"
    name["verani-poll"] = "Verani-C, poll() loop"
    name["verani-raw-poll"] = "Verani-C, poll() loop (HELLO-only client)"
    name["verani-db"] = "Verani-C, --db (sessions persisted)"
    name["verani-raw-db"] = "Verani-C, --db (HELLO-only client)"
    nt = split("verani verani-poll verani-db verani-raw verani-raw-poll verani-raw-db ws sio", ts, " ")
    printf "Medians of %d run(s), (min..max) when more than one. Server CPU: utime + stime of\n", runs
    printf "the server process over the measured phase; gen CPU: the load generator'"'"'s, as a\n"
    printf "share of one core.\n\n"
    print "| scenario | server | server CPU per unit | rate | server CPU | gen CPU | other |"
    print "| --- | --- | --- | --- | --- | --- | --- |"
    split("fanout echo echo1 idle churn", ss, " ")
    for (si = 1; si <= 5; si++) for (ti = 1; ti <= nt; ti++) {
        s = ss[si]; t = ts[ti]; k = s SUBSEP t
        if (!(k in seen)) continue
        if (s == "fanout") { lab = "fan-out, 1,000 subscribers, 64 B"; unit = "us/delivery"; ru = "deliveries/s"
            other = "losses+gaps+dups+lost subs: " show(k SUBSEP "bad", "%d") }
        else if (s == "echo" || s == "echo1") { lab = (s == "echo" ? "echo, 100 clients" : "echo, 1 client"); unit = "us/round trip"; ru = "round trips/s"
            other = "p50 " show(k SUBSEP "p50", "%.0f") " us, p99 " show(k SUBSEP "p99", "%.0f") " us, errors " show(k SUBSEP "err", "%d") }
        else if (s == "idle") { lab = "idle connections"; unit = "us/connect"; ru = "connects/s"
            other = "**" show(k SUBSEP "kib", "%.2f") " KiB/connection**" }
        else { lab = "churn (connect, echo, close)"; unit = "us/connection"; ru = "connections/s"
            other = "errors " show(k SUBSEP "err", "%d") }
        printf "| %s | %s | %s %s | %s %s | %s %% | %s %% | %s |\n", lab, name[t],
            show(k SUBSEP "us", "%.3f"), unit, show(k SUBSEP "rate", "%.0f"), ru,
            show(k SUBSEP "srv", "%.0f"), show(k SUBSEP "gen", "%.0f"), other
    }
    a = "fanout" SUBSEP "verani"; b = "fanout" SUBSEP "verani-db"
    if ((a in seen) && (b in seen)) {
        m0 = med(a SUBSEP "us"); m1 = med(b SUBSEP "us")
        if (m0 > 0)
            printf "\nCost of persistence (issue 5: under 10%%): fan-out server CPU per delivery " \
                   "%.3f us with --db against %.3f us without: %+.1f%%.\n", m1, m0,
                   100 * (m1 - m0) / m0
    }
}' "$results" >"$table"

{
    echo
    echo "Command: $cmdline"
    echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "Server on core $server_core, generator on core $gen_core (taskset); raw results: bench/out/$(basename "$results")"
    echo
    cat "$table"
} | tee -a "$log"
if [ "$failures" -gt 0 ]; then
    echo "run.sh: $failures scenario run(s) gave no result; see $log" >&2
    exit 1
fi
