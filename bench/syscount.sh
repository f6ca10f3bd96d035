#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# syscount.sh start|end PID FILE: count the writes process PID makes (send, sendto, sendmsg,
# write, writev: every way a server puts bytes on a socket) between `start` and `end`, with
# perf's syscall tracepoints, which cost the process nothing. loadgen's --mark calls it at the
# edges of the measured phase ($1 the edge, $2 the server's pid); at `end` FILE holds
# "writes=N". run.sh divides the scenario's units by it: deliveries (or round trips) per
# write, how well a server batches its frames into the kernel's calls. Needs perf with
# access to the tracepoints (root, or perf_event_paranoid -1); run.sh checks that first.
set -u
edge=$1 pid=$2 file=$3
events=syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_write,syscalls:sys_enter_writev
case "$edge" in
    start)
        rm -f "$file" "$file.raw"
        perf stat -x, --no-big-num -e "$events" -p "$pid" -o "$file.raw" >/dev/null 2>&1 &
        echo $! >"$file.perf"
        sleep 0.2 # perf attaches before the phase's first unit
        ;;
    end)
        p=$(cat "$file.perf" 2>/dev/null) || exit 1
        kill -INT "$p" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        # perf -x, lines: count,unit,event,...; counts of a tracepoint perf could not read are
        # "<not counted>" or "<not supported>"
        awk -F, '/syscalls:sys_enter_/ { if ($1 !~ /^[0-9]+$/) bad = 1; n += $1 }
                 END { if (bad || NR == 0) exit 1; print "writes=" n }' "$file.raw" >"$file"
        ;;
    *) echo "usage: syscount.sh start|end PID FILE" >&2; exit 2 ;;
esac
