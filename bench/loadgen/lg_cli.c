/* SPDX-License-Identifier: MIT */
/* lg_cli.c: loadgen's command line (lg_core.h): its usage text and the options it parses. */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg_core.h"

void lg_usage(FILE *f)
{
    fprintf(f,
        "usage: loadgen --target verani|verani-json|ws|sio|verani-raw --scenario fanout|echo|idle|churn [options]\n"
        "               (--port P --pid PID | -- SERVER_COMMAND...)\n"
        "  --subs N        fanout subscribers (1000)     --messages N  fanout messages (1000)\n"
        "  --window N      fanout messages in flight (32)\n"
        "  --clients N     echo clients (100)            --max N       echo round trips (2000000)\n"
        "  --inflight N    echo requests each client keeps in flight (1)\n"
        "  --conns N       idle connections (10000)      --hold S      idle hold seconds (2)\n"
        "  --slots N       churn connections in flight (32)\n"
        "  --duration S    time bound of the measured phase (fanout 60, echo and churn 5)\n"
        "  --timeout S     time bound for connecting (120)\n"
        "  --workers N     worker processes, each with its own client loop and a share of\n"
        "                  the connections (1..%d; default 3, fewer when there are fewer\n"
        "                  connections); in fan-out worker 0 holds the publisher alone\n"
        "  --src N         ws/sio/verani-raw/verani-json: bind source addresses\n"
        "                  127.0.0.2..127.0.0.(1+N)\n"
        "  --instance NAME the Verani-C room instance (b1)\n"
        "  --timed         fanout: the run lasts --duration (--messages only bounds it); the\n"
        "                  messages still in flight then are awaited, unmeasured\n"
        "  --mark CMD      run CMD with sh -c, $1 = start just before the measured phase's\n"
        "                  first reading and $1 = end just after its last, $2 = the server's\n"
        "                  pid, and wait for it (Redis counters, a barrier between\n"
        "                  generators, the server's writes: bench/syscount.sh)\n"
        "  (ws also speaks to bench/peers' raw libwebsockets floor and uWebSockets peers;\n"
        "   verani-raw: a minimal HELLO-only Verani-C client, for the idle scenario only;\n"
        "   verani-json: Verani's JSON wire on the bench server's /bench-json/{room} path)\n"
        "  --verbose\n"
        "With `--`, the command after it is started first and must print\n"
        "\"PID <pid> PORT <port>\" on its first stdout line; it gets SIGTERM at the end.\n",
        LG_MAX_WORKERS);
}

/* 0 and `*out` set when `v` is a whole number in [lo, hi]; -1 otherwise. */
static int num(const char *v, double lo, double hi, double *out)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(v, &end);
    if (errno || end == v || *end || d < lo || d > hi)
        return -1;
    *out = d;
    return 0;
}

int lg_parse(int argc, char **argv, opts *o)
{
    static const struct { const char *name; size_t off; char kind; double lo, hi; } nums[] = {
        {"--port", offsetof(opts, port), 'i', 1, 65535},
        {"--pid", offsetof(opts, pid), 'l', 1, 4194304},
        {"--subs", offsetof(opts, subs), 'z', 1, 1e7},
        {"--messages", offsetof(opts, messages), 'u', 1, 1e9},
        {"--window", offsetof(opts, window), 'u', 1, 1e9},
        {"--inflight", offsetof(opts, inflight), 'i', 1, 256},
        {"--clients", offsetof(opts, clients), 'z', 1, 1e7},
        {"--max", offsetof(opts, max_rtts), 'u', 1, 1e12},
        {"--conns", offsetof(opts, conns), 'z', 1, 1e7},
        {"--slots", offsetof(opts, slots), 'z', 1, 1e6},
        {"--hold", offsetof(opts, hold), 'd', 0, 3600},
        {"--duration", offsetof(opts, duration), 'd', 0.001, 3600},
        {"--timeout", offsetof(opts, timeout), 'd', 0.001, 3600},
        {"--src", offsetof(opts, n_src), 'i', 0, 64},
        {"--workers", offsetof(opts, workers), 'i', 1, LG_MAX_WORKERS},
    };
    int have_duration = 0, have_workers = 0;

    memset(o, 0, sizeof(*o));
    o->subs = 1000;
    o->messages = 1000;
    o->window = 32;
    o->inflight = 1;
    o->clients = 100;
    o->max_rtts = 2000000;
    o->conns = 10000;
    o->hold = 2;
    o->slots = 32;
    o->timeout = 120;
    o->workers = 3;
    o->instance = "b1";
    o->sc = (scenario)-1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        size_t j;
        double d;

        if (!strcmp(a, "--")) {
            o->spawn = i + 1 < argc ? &argv[i + 1] : NULL;
            break;
        } else if (!strcmp(a, "--verbose")) {
            o->verbose = 1;
            continue;
        } else if (!strcmp(a, "--timed")) {
            o->timed = 1;
            continue;
        } else if (!strcmp(a, "--help")) {
            return 1;
        }
        if (!v) {
            fprintf(stderr, "loadgen: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--target")) {
            o->target = v;
            continue;
        } else if (!strcmp(a, "--instance")) {
            o->instance = v;
            continue;
        } else if (!strcmp(a, "--mark")) {
            o->mark = v;
            continue;
        } else if (!strcmp(a, "--scenario")) {
            o->sc = !strcmp(v, "fanout") ? SC_FANOUT : !strcmp(v, "echo") ? SC_ECHO :
                    !strcmp(v, "idle") ? SC_IDLE : !strcmp(v, "churn") ? SC_CHURN : (scenario)-1;
            continue;
        }
        for (j = 0; j < sizeof(nums) / sizeof(nums[0]) && strcmp(a, nums[j].name); j++)
            ;
        if (j == sizeof(nums) / sizeof(nums[0])) {
            fprintf(stderr, "loadgen: unknown option %s\n", a);
            return -1;
        }
        if (num(v, nums[j].lo, nums[j].hi, &d) != 0) {
            fprintf(stderr, "loadgen: %s wants a number from %g to %g, not '%s'\n", a,
                    nums[j].lo, nums[j].hi, v);
            return -1;
        }
        switch (nums[j].kind) {
        case 'i': *(int *)((char *)o + nums[j].off) = (int)d; break;
        case 'l': *(long *)((char *)o + nums[j].off) = (long)d; break;
        case 'z': *(size_t *)((char *)o + nums[j].off) = (size_t)d; break;
        case 'u': *(uint64_t *)((char *)o + nums[j].off) = (uint64_t)d; break;
        default: *(double *)((char *)o + nums[j].off) = d; break;
        }
        have_duration |= !strcmp(a, "--duration");
        have_workers |= !strcmp(a, "--workers");
    }
    if (!have_duration)
        o->duration = o->sc == SC_FANOUT ? 60 : 5;
    if (!o->target || (int)o->sc < 0 || (!o->spawn && (o->port <= 0 || o->pid <= 0))) {
        fprintf(stderr, "loadgen: --target, --scenario and a server (-- COMMAND, or --port "
                "and --pid) are needed\n");
        return -1;
    }
    {
        /* Never more workers than connections: each worker has at least one. */
        size_t n = o->sc == SC_FANOUT ? o->subs + 1 : o->sc == SC_ECHO ? o->clients :
                   o->sc == SC_IDLE ? o->conns : o->slots;

        if ((size_t)o->workers > n) {
            if (have_workers)
                fprintf(stderr, "loadgen: %d workers for %zu connections: %zu workers\n",
                        o->workers, n, n);
            o->workers = (int)n;
        }
    }
    return 0;
}

