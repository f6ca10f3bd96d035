/* SPDX-License-Identifier: MIT */
/*
 * lg_core.h: what the two halves of the load generator share: the page of
 * shared memory through which the parent (loadgen.c: phases, readings,
 * reports, the command line) moves the worker processes (lg_worker.c: the
 * scenarios on a driver) and reads their counts, and the options both read.
 */
#ifndef BENCH_LG_CORE_H
#define BENCH_LG_CORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "loadgen.h"

#define LG_MAX_WORKERS 64
#define LG_NO_SUBS UINT64_MAX /* a worker's `acked` when it has no live subscriber */

typedef enum scenario { SC_FANOUT, SC_ECHO, SC_IDLE, SC_CHURN } scenario;

/* The phases the parent moves the workers through, in this order (ABORT from any). */
enum { PH_INIT, PH_CONNECT, PH_RUN, PH_STOP, PH_ABORT };
/* A worker's progress; FAILED when it cannot go on (its driver or its connections). */
enum { WS_INIT, WS_READY, WS_CONNECTED, WS_DONE, WS_FAILED };

/* One worker's page in shared memory: it writes, the parent reads. */
typedef struct lg_slot {
    _Alignas(64) atomic_int state;
    atomic_uint_fast64_t acked;      /* fan-out: every local live subscriber has 1..acked */
    atomic_uint_fast64_t live_subs;  /* fan-out: local subscribers still connected */
    atomic_uint_fast64_t rtts;       /* echo: round trips in the measured phase so far */
    atomic_uint_fast64_t n_open;     /* connections open now */
    atomic_uint_fast64_t n_failed;   /* connections that failed or were lost */
    /* Written once, before state becomes WS_DONE. */
    uint64_t subs, received, got, gaps, dups, subs_lost;
    uint64_t rtt_errors, churn_done, connect_errors;
    uint64_t lat_n;
} lg_slot;

typedef struct lg_shared {
    atomic_int phase;                /* written by the parent only */
    atomic_uint_fast64_t sent;       /* fan-out: the last message number the publisher sent */
    atomic_int pub_lost;             /* fan-out: the publisher's connection is gone */
    atomic_uint ack_seq;             /* fan-out: bumped when a worker's `acked` moves (a futex) */
    atomic_int pub_waiting;          /* fan-out: the publisher sleeps on ack_seq */
    lg_slot slot[LG_MAX_WORKERS];
} lg_shared;

typedef struct opts {
    const char *target;
    scenario sc;
    int port;
    long pid;
    size_t subs, clients, conns, slots;
    uint64_t messages, max_rtts;
    uint64_t window;
    int inflight;
    double duration, hold, timeout;
    int n_src;
    int workers;
    int verbose;
    int timed;              /* fan-out: --duration bounds the run, --messages only sizes it */
    const char *instance;   /* the room instance ("b1") */
    const char *mark;       /* run with sh -c around the measured phase, or NULL */
    char **spawn;           /* the server command after `--`, or NULL */
} opts;

static inline int64_t lg_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void lg_sleep_ms(double ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms - 1000 * (double)(time_t)(ms / 1000))
                                                      * 1e6)};

    nanosleep(&ts, NULL);
}

/* Fan-out: the slowest worker's window edge (LG_NO_SUBS when no worker has a live
 * subscriber). */
static inline uint64_t lg_global_acked(const lg_shared *sh, int n_workers)
{
    uint64_t g = LG_NO_SUBS;

    for (int w = 0; w < n_workers; w++) {
        uint64_t a = atomic_load_explicit(&sh->slot[w].acked, memory_order_acquire);

        if (a < g)
            g = a;
    }
    return g;
}

/* Worker `w` of the scenario in `o`: peers [lo, hi) on its own `drv`, its latency samples in
 * `lat` (`lat_cap` of them). Returns the worker process's exit code; its counts are in its
 * slot of `sh`. */
/* The command line (lg_cli.c): 0 parsed, 1 help asked, -1 an error (said on stderr). */
int lg_parse(int argc, char **argv, opts *o);
void lg_usage(FILE *f);

int lg_worker_main(const opts *o, const lg_driver *drv, lg_shared *sh, int w, size_t lo,
                   size_t hi, int64_t *lat, size_t lat_cap);

#endif /* BENCH_LG_CORE_H */
