/* SPDX-License-Identifier: MIT */
/*
 * lg_proc.c: what the load generator reads of processes from /proc and
 * getrusage: CPU seconds of a process (all threads, or its main thread), its
 * context switches, its resident memory, and the generator's own CPU.
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "loadgen.h"

/* --- /proc ------------------------------------------------------------------------------ */

/* A process's utime + stime in seconds from /proc/<pid>/stat (clock ticks: 10 ms), or -1. */
static double proc_cpu_ticks(long pid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                     &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* One thread's run time in nanoseconds from /proc/<pid>/task/<tid>/schedstat; 0 when it
 * cannot be read (the thread ended meanwhile), -1 when it reads as garbage. */
static long long task_ns(long pid, const char *tid)
{
    char p[96];
    unsigned long long ns;
    FILE *f;
    int ok;

    snprintf(p, sizeof(p), "/proc/%ld/task/%.20s/schedstat", pid, tid);
    f = fopen(p, "r");
    if (!f)
        return 0;
    ok = fscanf(f, "%llu", &ns) == 1;
    fclose(f);
    return ok ? (long long)ns : -1;
}

/* One thread's context switches (voluntary and not) from /proc/<pid>/task/<tid>/status. */
static long long task_ctxsw(long pid, const char *tid)
{
    char p[96], line[256];
    long long n = 0, v;
    FILE *f;

    snprintf(p, sizeof(p), "/proc/%ld/task/%.20s/status", pid, tid);
    f = fopen(p, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "voluntary_ctxt_switches: %lld", &v) == 1 ||
            sscanf(line, "nonvoluntary_ctxt_switches: %lld", &v) == 1)
            n += v;
    fclose(f);
    return n;
}

/* A process's CPU time in seconds: the sum of its threads' run time from
 * /proc/<pid>/task/<tid>/schedstat, in nanoseconds (the same quantity as utime + stime, but
 * precise enough for a run of a fraction of a second), else proc_cpu_ticks; -1 when the
 * process is gone. With `ctxsw`, also the context switches of all its threads (-1 when
 * they cannot be read). */
double lg_proc_cpu_sw(long pid, long long *ctxsw)
{
    char path[64];
    long long sum = 0, sw = 0;
    struct dirent *e;
    DIR *d;
    int ok = 1;

    snprintf(path, sizeof(path), "/proc/%ld/task", pid);
    d = opendir(path);
    if (!d)
        return -1;
    while (ok && (e = readdir(d))) {
        long long ns;

        if (e->d_name[0] == '.')
            continue;
        ns = task_ns(pid, e->d_name);
        ok = ns >= 0;
        sum += ok ? ns : 0;
        if (ctxsw)
            sw += task_ctxsw(pid, e->d_name);
    }
    closedir(d);
    if (ctxsw)
        *ctxsw = ok ? sw : -1;
    return ok && sum ? (double)sum / 1e9 : proc_cpu_ticks(pid);
}

double lg_proc_cpu(long pid)
{
    return lg_proc_cpu_sw(pid, NULL);
}

/* The CPU time of a process's main thread (task <pid>) in seconds, or -1. */
double lg_main_thread_cpu(long pid)
{
    char tid[24];
    long long ns;

    snprintf(tid, sizeof(tid), "%ld", pid);
    ns = task_ns(pid, tid);
    return ns > 0 ? (double)ns / 1e9 : -1;
}

/* The server's resident set in KiB, or -1. */
long lg_proc_rss_kib(long pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

double lg_self_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}
