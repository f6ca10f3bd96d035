#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# syscalls.sh start|end PID FILE: every system call process PID makes between `start` and
# `end`, counted by name with perf's syscall tracepoints (which cost the process nothing):
# where a server's kernel time goes per unit of work, beside syscount.sh's writes. loadgen's
# --mark calls it at the edges of the measured phase ($1 the edge, $2 the server's pid); at
# `end` FILE holds one "count name" line per system call made, most first. Needs perf with
# access to the tracepoints (root, or perf_event_paranoid -1).
#
#   loadgen --target ws --scenario echo --clients 100 --seconds 5 \
#       --mark 'bench/syscalls.sh "$1" "$2" /tmp/echo-floor.txt' -- build-bench/bench/lws_floor
set -u
edge=$1 pid=$2 file=$3
# The calls a network server makes, by name, and every call (raw_syscalls) for the rest.
names="read write readv writev recvfrom sendto recvmsg sendmsg epoll_wait epoll_pwait
       epoll_ctl poll ppoll accept accept4 setsockopt getsockopt getsockname getpeername fcntl
       ioctl close shutdown getrandom brk mmap munmap futex openat timerfd_settime"
events=raw_syscalls:sys_enter
for n in $names; do events="$events,syscalls:sys_enter_$n"; done
case "$edge" in
    start)
        rm -f "$file" "$file.raw"
        perf stat -x, --no-big-num -e "$events" -p "$pid" -o "$file.raw" >/dev/null 2>&1 &
        echo $! >"$file.perf"
        # perf has attached once its output file has its header
        for _ in $(seq 50); do [ -s "$file.raw" ] && break; sleep 0.1; done
        sleep 0.2
        ;;
    end)
        p=$(cat "$file.perf" 2>/dev/null) || exit 1
        kill -INT "$p" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        rm -f "$file.perf"
        # perf -x, lines: count,unit,event,...; "all" is every call, named or not
        awk -F, '$1 ~ /^[0-9]+$/ && $1 > 0 && /sys_enter/ {
                     name = $3; sub(/^syscalls:sys_enter_/, "", name)
                     if (name == "raw_syscalls:sys_enter") name = "all"
                     print $1, name }' "$file.raw" | sort -rn >"$file"
        [ -s "$file" ]
        ;;
    *) echo "usage: syscalls.sh start|end PID FILE" >&2; exit 2 ;;
esac
