#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/cluster/cluster.sh: the cluster phase of bench/run.sh (issues 16 and 17), which runs it
# after the single-node scenarios when redis-server is installed. These benchmarks, each --runs
# times, every run with a fresh redis-server of its own on a unix socket in a temporary folder
# (bench/cluster/redis.sh) and bench_server nodes started with --redis:
#
#   http-emit  two nodes A and B of one cluster; a typed client of instance f1 connects to A
#              (A owns f1), then http_emit_latency POSTs 2,000 HTTP API emits of a 64-byte Tick
#              to f1 one after the other on one keep-alive connection to B, which forwards each
#              to A through Redis. Its latency (p50, p99), and INFO commandstats read before
#              the first measured request and after the last: PUBLISH per forwarded emit, net
#              of the heartbeats' (each heartbeat is one SET and one PUBLISH). Then the same
#              emits to A itself (instance f2), for comparison: no forwarding.
#   nodes1     three fan-outs at once (1,000 subscribers, 64 B, instances c1, c2, c3, one load
#   nodes3     generator each, held at one start line, --timed) against one node (a cluster of
#              one) or against three nodes, instance ci owned by node i. Total deliveries per
#              second, the servers' CPU (one process: read by all three generators, averaged;
#              three: summed) and the generators'. Nothing is pinned: the nodes and the
#              generators share every core.
#   heartbeats one fan-out (1,000 subscribers, 64 B) against a one-node cluster for 10 s (2 with
#              --quick), with INFO commandstats read at both edges of its measured phase: the
#              Redis commands per second of a node at work, over a window long enough that the
#              heartbeats' period (1 s: one SET and one PUBLISH each) does not decide it.
#   gate       the output gate (issue 17): two bench_servers with a SQLite file each (--db),
#              one of them a node of a one-node cluster (--redis), the other not; against each,
#              bench/cluster/gate_latency sends 2,000 requests (500 with --quick) one at a time
#              after 100 unmeasured: `store`, whose handler writes room storage key "n" and
#              replies (on the node the reply waits for Redis to acknowledge the write), and
#              `echo` (no write). Order: off store, on store, on echo, off echo. p50, p90, p99
#              and the largest round trip of each, and on the node the Redis commands of the
#              measured requests (INFO commandstats); after `store` Redis must hold the last
#              request's number under "n" of the instance's storage hash.
#
# usage: cluster.sh run --build DIR --results FILE --runs N [--quick]
#        cluster.sh table --results FILE --runs N
# `run` appends one RESULT line per benchmark and run to FILE (scen=http-emit, nodes1,
# nodes3, heartbeats, gate) and prints its progress; `table` prints the cluster section of run.sh's summary from
# FILE, with the cost of the cluster in fan-out (targets verani and verani-cluster of the
# single-node scenarios, when FILE has them).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/cluster/redis.sh
. "$here/redis.sh"

mode=${1:-}
[ $# -gt 0 ] && shift
build=""
results=""
runs=1
quick=0
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build=$2; shift ;;
        --results) results=$2; shift ;;
        --runs) runs=$2; shift ;;
        --quick) quick=1 ;;
        *) echo "cluster.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$results" ] || { echo "cluster.sh: --results FILE is needed" >&2; exit 2; }

# --- the table ----------------------------------------------------------------------------------
if [ "$mode" = table ]; then
    awk -v runs="$runs" -f "$here/../stats.awk" -f /dev/stdin "$results" <<'AWK'
/^RESULT / {
    s = kv("scen"); t = kv("target"); r = kv("run")
    if (s == "fanout" && (t == "verani" || t == "verani-cluster")) {
        us[t, r] = kv("server_us_per_unit"); add(t SUBSEP "us", us[t, r])
        if (t == "verani-cluster") {
            add("cmds", kv("redis_cmds")); csum += kv("redis_cmds"); esum += kv("elapsed_s")
            detail[r] = kv("redis")
        }
    } else if (s == "churn" && (t == "verani-db" || t == "verani-cluster-db")) {
        cu[t, r] = kv("server_us_per_unit"); add("churn" SUBSEP t, cu[t, r])
        add("crate" SUBSEP t, kv("rate"))
        if (t == "verani-cluster-db" && kv("count") > 0) {
            d = kv("redis"); n = kv("count")
            add("capply", (cmd_count(d, "evalsha") + cmd_count(d, "eval")) / n)
            add("ccmds", kv("redis_cmds") / n); cdetail[r] = d " in " n " connections"
        }
    } else if (s == "http-emit") {
        add("p50", kv("p50_us")); add("p90", kv("p90_us")); add("p99", kv("p99_us"))
        add("max", kv("max_us")); add("pub", kv("publish_per_emit"))
        add("other", kv("other_per_emit")); add("herr", kv("errors"))
        hdetail[r] = kv("redis"); hn = kv("requests")
    } else if (s == "heartbeats") {
        hbc += kv("redis_cmds"); hbe += kv("elapsed_s"); hbd[r] = kv("redis"); hbn++
        add("hbus", kv("server_us_per_unit"))
    } else if (s == "http-emit-local") {
        add("l50", kv("p50_us")); add("l99", kv("p99_us"))
    } else if (s == "gate") {
        g = kv("cluster") "-" kv("event"); gseen[g] = 1
        add(g SUBSEP "p50", kv("p50_us")); add(g SUBSEP "p90", kv("p90_us"))
        add(g SUBSEP "p99", kv("p99_us")); add(g SUBSEP "max", kv("max_us"))
        add(g SUBSEP "err", kv("errors")); gp[g, "p50", r] = kv("p50_us"); gp[g, "p99", r] = kv("p99_us")
        if (kv("cluster") == "on") { add(g SUBSEP "apply", kv("evalsha_per_request")); gdetail[g, r] = kv("redis") }
        gn = kv("requests")
    } else if (s == "nodes1" || s == "nodes3") {
        add(s SUBSEP "rate", kv("rate")); add(s SUBSEP "srv", kv("server_pct"))
        add(s SUBSEP "gen", kv("gen_pct")); add(s SUBSEP "us", kv("server_us_per_unit"))
        add(s SUBSEP "bad", kv("bad")); rate[s, r] = kv("rate")
    }
}
# One ratio a run, v[b, r] / v[a, r], into `key` (the runs with both and v[a, r] > 0).
function run_ratios(v, a, b, key,    r) {
    for (r = 1; r <= runs; r++)
        if (((a SUBSEP r) in v) && ((b SUBSEP r) in v) && v[a, r] > 0) add(key, v[b, r] / v[a, r])
}
# The count of command `name` in a redis= field ("name:calls,..."), 0 when absent.
function cmd_count(d, name,    parts, i, n, kc) {
    n = split(d, parts, ",")
    for (i = 1; i <= n; i++) { split(parts[i], kc, ":"); if (kc[1] == name) return kc[2] + 0 }
    return 0
}
END {
    print "\nThe cluster (issues 16 and 17). Medians of the runs, (min..max) when more than one."
    if (cnt["verani" SUBSEP "us"] && cnt["verani-cluster" SUBSEP "us"]) {
        run_ratios(us, "verani", "verani-cluster", "ratio")
        m0 = med("verani" SUBSEP "us"); m1 = med("verani-cluster" SUBSEP "us")
        printf "\n1. Fan-out, 1,000 subscribers, 64 B, the owner local (target: at most +5 %% server CPU per delivery):\n"
        printf "   cluster off %s us/delivery, cluster on %s us/delivery: %+.1f %% (per run, on/off: %s).\n",
            show("verani" SUBSEP "us", "%.3f"), show("verani-cluster" SUBSEP "us", "%.3f"),
            (m0 > 0 ? 100 * (m1 - m0) / m0 : 0), show("ratio", "%.3f")
        printf "   Redis commands in the measured phase (INFO commandstats, INFO itself left out): %s per run;\n", show("cmds", "%d")
        printf "   over all runs %d in %.2f s, %.2f per second for the one node (target: at most 2, heartbeats\n", csum, esum, (esum > 0 ? csum / esum : 0)
        printf "   only: each is one SET and one PUBLISH); by command, run by run:"
        for (r = 1; r <= runs; r++) if (r in detail) printf " [%s]", detail[r]
        print "."
    }
    if (cnt["churn" SUBSEP "verani-db"] && cnt["churn" SUBSEP "verani-cluster-db"]) {
        run_ratios(cu, "verani-db", "verani-cluster-db", "cratio")
        printf "\n1c. Churn (connect, echo, close; 32 in flight), a one-node cluster with --db against --db alone\n"
        printf "   (target: at most +15 %% server CPU per connection; each connect and each close one apply at most):\n"
        printf "   --db %s us/connection (%s/s), cluster on %s us/connection (%s/s);\n",
            show("churn" SUBSEP "verani-db", "%.1f"), show("crate" SUBSEP "verani-db", "%.0f"),
            show("churn" SUBSEP "verani-cluster-db", "%.1f"), show("crate" SUBSEP "verani-cluster-db", "%.0f")
        printf "   per run, on/off: %s.\n", show("cratio", "%.3f")
        printf "   Applies (EVALSHA and EVAL) per connection: %s; Redis commands per connection, those the\n", show("capply", "%.3f")
        printf "   scripts run inside Redis and the heartbeats included: %s; by command, run by run:", show("ccmds", "%.2f")
        for (r = 1; r <= runs; r++) if (r in cdetail) printf " [%s]", cdetail[r]
        print "."
    }
    if (hbn) {
        printf "\n1b. The same fan-out against a one-node cluster for longer (%d run(s), %.1f s measured in all):\n", hbn, hbe
        printf "   %d Redis commands, %.2f per second for the node (target: at most 2); %s us/delivery; run by run:", hbc, (hbe > 0 ? hbc / hbe : 0), show("hbus", "%.3f")
        for (r = 1; r <= runs; r++) if (r in hbd) printf " [%s]", hbd[r]
        print "."
    }
    if (cnt["p50"]) {
        printf "\n2. HTTP API emit to node B for an instance node A owns, forwarded through Redis, %d sequential\n", hn
        printf "   requests on one keep-alive connection (targets: p50 <= 1,000 us, p99 <= 5,000 us, <= 2 PUBLISH):\n"
        printf "   p50 %s us, p90 %s us, p99 %s us, max %s us; wrong answers %s.\n", show("p50", "%.0f"),
            show("p90", "%.0f"), show("p99", "%.0f"), show("max", "%.0f"), show("herr", "%d")
        if (cnt["l50"])
            printf "   The same emits sent to node A itself (no forwarding): p50 %s us, p99 %s us.\n",
                show("l50", "%.0f"), show("l99", "%.0f")
        printf "   PUBLISH per forwarded emit, net of heartbeats: %s; other commands per emit: %s; by command, run by run:",
            show("pub", "%.3f"), show("other", "%.3f")
        for (r = 1; r <= runs; r++) if (r in hdetail) printf " [%s]", hdetail[r]
        print "."
    }
    if (cnt["nodes1" SUBSEP "rate"] && cnt["nodes3" SUBSEP "rate"]) {
        run_ratios(rate, "nodes1", "nodes3", "scale")
        print "\n3. Three fan-outs at once (3 instances x 1,000 subscribers, 64 B), nothing pinned:\n"
        print "| servers | deliveries/s, all three | server CPU, % of one core | server us/delivery | generators CPU, % of one core | losses+gaps+dups+lost |"
        print "| --- | --- | --- | --- | --- | --- |"
        printf "| one node | %s | %s | %s | %s | %s |\n", show("nodes1" SUBSEP "rate", "%.0f"),
            show("nodes1" SUBSEP "srv", "%.0f"), show("nodes1" SUBSEP "us", "%.3f"),
            show("nodes1" SUBSEP "gen", "%.0f"), show("nodes1" SUBSEP "bad", "%d")
        printf "| three nodes, one instance each | %s | %s | %s | %s | %s |\n", show("nodes3" SUBSEP "rate", "%.0f"),
            show("nodes3" SUBSEP "srv", "%.0f"), show("nodes3" SUBSEP "us", "%.3f"),
            show("nodes3" SUBSEP "gen", "%.0f"), show("nodes3" SUBSEP "bad", "%d")
        printf "\n   Three nodes / one node, deliveries per second, run by run: %s.\n", show("scale", "%.2f")
    }
    if (("on-store" in gseen) && ("off-store" in gseen)) {
        for (r = 1; r <= runs; r++) for (q = 1; q <= 2; q++) {
            pc = q == 1 ? "p50" : "p99"
            if ((("on-store", pc, r) in gp) && (("off-store", pc, r) in gp))
                add("gadd" pc, gp["on-store", pc, r] - gp["off-store", pc, r])
            if ((("on-echo", pc, r) in gp) && (("off-echo", pc, r) in gp))
                add("eadd" pc, gp["on-echo", pc, r] - gp["off-echo", pc, r])
        }
        printf "\n4. The output gate (issue 17): %d requests one at a time on one connection, each a round trip\n", gn
        print "   from the client's call to its reply; store writes room storage (key \"n\") then replies, echo"
        print "   writes nothing. Both servers have a SQLite file (--db); \"on\" is a node of a one-node cluster.\n"
        print "| request | cluster | p50 us | p90 us | p99 us | max us | applies (EVALSHA) per request | wrong replies |"
        print "| --- | --- | --- | --- | --- | --- | --- | --- |"
        split("off-store on-store off-echo on-echo", gk, " ")
        for (i = 1; i <= 4; i++) {
            g = gk[i]; if (!(g in gseen)) continue
            printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", substr(g, index(g, "-") + 1),
                substr(g, 1, index(g, "-") - 1), show(g SUBSEP "p50", "%.0f"), show(g SUBSEP "p90", "%.0f"),
                show(g SUBSEP "p99", "%.0f"), show(g SUBSEP "max", "%.0f"),
                (g ~ /^on/ ? show(g SUBSEP "apply", "%.3f") : "-"), show(g SUBSEP "err", "%d")
        }
        printf "\n   Added by the gate (store, cluster on minus off, run by run): p50 %s us, p99 %s us.\n",
            show("gaddp50", "%+.0f"), show("gaddp99", "%+.0f")
        if (cnt["eaddp50"])
            printf "   A turn without a write (echo, on minus off): p50 %s us, p99 %s us.\n",
                show("eaddp50", "%+.0f"), show("eaddp99", "%+.0f")
        printf "   Redis during the measured requests, run by run: store"
        for (r = 1; r <= runs; r++) if (("on-store", r) in gdetail) printf " [%s]", gdetail["on-store", r]
        printf "; echo"
        for (r = 1; r <= runs; r++) if (("on-echo", r) in gdetail) printf " [%s]", gdetail["on-echo", r]
        print "."
    }
}
AWK
    exit 0
fi
[ "$mode" = run ] || { echo "usage: cluster.sh run|table ... (see the head of the file)" >&2; exit 2; }

server="$build/bench/bench_server"
loadgen="$build/bench/loadgen"
emitter="$build/bench/http_emit_latency"
gater="$build/bench/gate_latency"
for f in "$server" "$loadgen" "$emitter" "$gater"; do
    [ -x "$f" ] || { echo "cluster.sh: $f is missing (build failed?)" >&2; exit 1; }
done
if [ "$quick" = 1 ]; then
    duration=2
    long=2
    requests=500
    gate_requests=500
else
    duration=5
    long=10
    requests=2000
    gate_requests=2000
fi
token=bench-cluster-token
tmp=$(mktemp -d "${TMPDIR:-/tmp}/verani-cluster-XXXXXX")
node_pids=()
cleanup() {
    for p in "${node_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    redis_stop
    rm -rf "$tmp"
}
trap cleanup EXIT

# start_server DIR NAME [ARGS...]: a bench_server with ARGS; sets node_port and node_pid once
# it printed "PID <pid> PORT <port>" (within 10 s).
start_server() {
    local dir=$1 name=$2 line=""
    shift 2
    "$server" "$@" >"$dir/$name.out" 2>>"$dir/$name.err" &
    node_pid=$!
    node_pids+=("$node_pid")
    for _ in $(seq 1 200); do
        line=$(head -n 1 "$dir/$name.out")
        [ -n "$line" ] && break
        sleep 0.05
    done
    node_port=$(echo "$line" | awk '$1 == "PID" && $3 == "PORT" { print $4 }')
    [ -n "$node_port" ] || { echo "cluster.sh: node $name did not start" >&2; return 1; }
}

# start_node DIR NAME [ARGS...]: the same, a node of the cluster of redis_sock.
start_node() {
    local dir=$1 name=$2
    shift 2
    start_server "$dir" "$name" --redis "unix:$redis_sock" --node-id "$name" "$@"
}

stop_nodes() {
    for p in "${node_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${node_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    node_pids=()
}

# The nodes know of each other from their heartbeats (one a second by default).
settle_nodes() { sleep 1.5; }

http_emit() {
    local run=$1 dir="$tmp/emit-$1" a b line local="" d pub set n
    mkdir -p "$dir"
    redis_start "$dir" "0-$(($(nproc) - 1))"
    start_node "$dir" a --api-token "$token"; a=$node_port
    start_node "$dir" b --api-token "$token"; b=$node_port
    settle_nodes
    echo "== run $run/$runs: cluster, HTTP emit to node B (port $b) for f1 owned by node A (port $a)"
    if line=$("$emitter" --ws-port "$a" --http-port "$b" --token "$token" --instance f1 \
              --requests "$requests" --mark "$(redis_mark "$dir")" 2>"$dir/emit.err" |
              grep '^RESULT '); then :; fi
    sed 's/^/   /' "$dir/emit.err"
    # the same emits to the owner itself, for comparison (instance f2, its client on A too)
    if local=$("$emitter" --ws-port "$a" --http-port "$a" --token "$token" --instance f2 \
               --requests "$requests" 2>"$dir/local.err" | grep '^RESULT '); then
        echo "$local scen=http-emit-local run=$run" >>"$results"
    fi
    sed 's/^/   /' "$dir/local.err"
    stop_nodes
    redis_stop
    [ -n "$line" ] || { echo "   no result"; return 1; }
    d=$(redis_diff "$dir/cs.start" "$dir/cs.end")
    pub=$(redis_count "$d" publish)
    set=$(redis_count "$d" set)
    n=${line##* requests=}
    n=${n%% *}
    echo "   Redis during the measured requests: $d"
    echo "$line redis=$d publish_per_emit=$(awk -v p="$pub" -v s="$set" -v n="$n" \
         'BEGIN { printf "%.3f", (p - s) / n }') other_per_emit=$(echo "$d" | tr ',' '\n' |
         awk -F: -v n="$n" '$1 != "publish" && $1 != "set" { o += $2 }
                            END { printf "%.3f", o / n }') scen=http-emit run=$run" >>"$results"
}

# heartbeats RUN: a long fan-out against one node, and the Redis commands of its measured phase.
heartbeats() {
    local run=$1 dir="$tmp/hb-$1" line d n
    mkdir -p "$dir"
    redis_start "$dir" "0-$(($(nproc) - 1))"
    start_node "$dir" n1
    echo "== run $run/$runs: cluster, ${long}s of fan-out against one node, Redis counted"
    if line=$("$loadgen" --target verani --scenario fanout --subs 1000 --messages 1000000 \
              --timed --duration "$long" --port "$node_port" --pid "$node_pid" --instance h1 \
              --mark "$(redis_mark "$dir")" 2>"$dir/gen.err" | grep '^RESULT '); then :; fi
    stop_nodes
    redis_stop
    tail -n 2 "$dir/gen.err" | sed 's/^/   /'
    [ -n "$line" ] || { echo "   no result"; return 1; }
    d=$(redis_diff "$dir/cs.start" "$dir/cs.end")
    n=$(echo "$d" | tr ',' '\n' | awk -F: '{ c += $2 } END { print c + 0 }')
    echo "   Redis during the measured phase: $d"
    echo "$line redis=$d redis_cmds=$n scen=heartbeats run=$run" >>"$results"
}

# fanout_nodes RUN K: the three fan-outs against K nodes (1 or 3).
fanout_nodes() {
    local run=$1 k=$2 dir="$tmp/nodes$2-$1" i ports=() pids=() gens=() lines ok=1
    mkdir -p "$dir/line"
    redis_start "$dir" "0-$(($(nproc) - 1))"
    for i in $(seq 1 "$k"); do
        start_node "$dir" "n$i"
        ports+=("$node_port")
        pids+=("$node_pid")
    done
    settle_nodes
    echo "== run $run/$runs: cluster, 3 fan-outs at once against $k node(s)"
    for i in 1 2 3; do
        local j=$(((i - 1) % k))
        "$loadgen" --target verani --scenario fanout --subs 1000 --messages 100000 --window 32 \
            --timed --duration "$duration" --workers 2 --instance "c$i" \
            --port "${ports[$j]}" --pid "${pids[$j]}" \
            --mark "$here/start_line.sh $dir/line 3 \$1" >"$dir/gen$i.out" 2>"$dir/gen$i.err" &
        gens+=($!)
    done
    for p in "${gens[@]}"; do wait "$p" || ok=0; done
    stop_nodes
    redis_stop
    for i in 1 2 3; do tail -n 2 "$dir/gen$i.err" | sed "s/^/   c$i: /"; done
    lines=$(cat "$dir"/gen*.out | grep '^RESULT ' || true)
    if [ "$ok" = 0 ] || [ "$(echo "$lines" | grep -c '^RESULT ')" != 3 ]; then
        echo "   no result (a generator failed)"
        return 1
    fi
    # One RESULT for the three: rates and deliveries summed; the server's CPU averaged over
    # the three readings of one process, or summed over three processes.
    echo "$lines" | awk -v k="$k" -v run="$run" '
        function kv(name,    i, p) {
            for (i = 2; i <= NF; i++) { p = index($i, "="); if (substr($i, 1, p - 1) == name) return substr($i, p + 1) }
            return ""
        }
        { rate += kv("rate"); count += kv("count"); cpu += kv("server_cpu_s"); gen += kv("gen_cpu_s")
          el = kv("elapsed_s"); if (el > elmax) elmax = el
          bad += kv("losses") + kv("gaps") + kv("dups") + kv("subs_lost") }
        END {
            if (k == 1) cpu /= NR
            printf "RESULT target=verani-cluster scen=nodes%d run=%d nodes=%d instances=%d count=%d elapsed_s=%.3f rate=%.0f server_cpu_s=%.3f server_pct=%.1f server_us_per_unit=%.4f gen_cpu_s=%.3f gen_pct=%.1f bad=%d\n",
                k, run, k, NR, count, elmax, rate, cpu, 100 * cpu / elmax, 1e6 * cpu / count, gen, 100 * gen / elmax, bad
        }' | tee -a "$results" | sed 's/^/   /'
}

# gate RUN: the round trip of a request whose handler writes storage, cluster on and off.
gate() {
    local run=$1 dir="$tmp/gate-$1" on off c where ev port line last d got mark ok=0
    mkdir -p "$dir"
    redis_start "$dir" "0-$(($(nproc) - 1))"
    start_node "$dir" on --db "$dir/on.db"; on=$node_port
    start_server "$dir" off --db "$dir/off.db"; off=$node_port
    echo "== run $run/$runs: the output gate, store and echo against a node (port $on) and" \
         "a server without the cluster (port $off)"
    for c in off:store on:store on:echo off:echo; do
        where=${c%%:*}
        ev=${c#*:}
        port=$off
        mark=()
        if [ "$where" = on ]; then
            port=$on
            mark=(--mark "$(redis_mark "$dir")")
        fi
        if ! line=$("$gater" --port "$port" --event "$ev" --requests "$gate_requests" \
                    "${mark[@]}" 2>"$dir/$c.err" | grep '^RESULT '); then
            sed 's/^/   /' "$dir/$c.err"
            echo "   no result (cluster $where, $ev)"
            ok=1
            continue
        fi
        sed "s/^/   cluster $where: /" "$dir/$c.err"
        if [ "$where" = on ]; then
            d=$(redis_diff "$dir/cs.start" "$dir/cs.end")
            echo "   Redis during the measured requests: $d"
            line="$line redis=$d evalsha_per_request=$(awk -v e="$(redis_count "$d" evalsha)" \
                  -v n="$gate_requests" 'BEGIN { printf "%.3f", e / n }')"
            last=$(echo "$line" | sed -n 's/.* last_n=\([0-9]*\).*/\1/p')
            got=$(redis-cli -s "$redis_sock" hget 'vr:st:{Bench/g1}' n)
            if [ "$ev" = store ] && [ "$got" != "$last" ]; then
                echo "   Redis holds n=$got in vr:st:{Bench/g1}, not the last request's $last"
                ok=1
            fi
        fi
        echo "$line cluster=$where scen=gate run=$run" >>"$results"
    done
    stop_nodes
    redis_stop
    return "$ok"
}

failures=0
for run in $(seq 1 "$runs"); do
    http_emit "$run" || failures=$((failures + 1))
    fanout_nodes "$run" 1 || failures=$((failures + 1))
    fanout_nodes "$run" 3 || failures=$((failures + 1))
    heartbeats "$run" || failures=$((failures + 1))
    gate "$run" || failures=$((failures + 1))
done
[ "$failures" = 0 ] || { echo "cluster.sh: $failures cluster run(s) gave no result" >&2; exit 1; }
