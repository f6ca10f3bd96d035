/* SPDX-License-Identifier: MIT */
/*
 * probe.h: what the one-request-at-a-time latency probes of bench/cluster/
 * (http_emit_latency.c, gate_latency.c) share: the clock, the --mark command
 * run at the edges of the measured requests (as loadgen's --mark), the typed
 * client of a bench room instance they hold or drive, and the percentiles of
 * their latencies.
 */
#ifndef BENCH_PROBE_H
#define BENCH_PROBE_H

#include <stdatomic.h>
#include <stdint.h>

#include "bench_client.h"

#define PROBE_PAYLOAD 64 /* bytes of a probe's Tick, as every scenario's */

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t probe_now_ns(void);

/* Run `cmd` (NULL: nothing) with sh -c, `word` ("start" or "end") as its $1, and wait for it;
 * a failure is said on stderr with `prog`'s name and does not stop the run. */
void probe_mark(const char *prog, const char *cmd, const char *word);

/* What a probe's client says of its connection (set on the client loop's thread). */
typedef struct probe_conn {
    atomic_int connected;    /* it connected */
    atomic_int lost;         /* then or before, it failed or was closed */
} probe_conn;

/* A typed client of Bench/`instance` at ws://127.0.0.1:`port` on `loop`, user id `user`, with
 * reconnection and pings off (a lost connection shows as one), its state in *`conn` (which
 * outlives it); NULL with the reason in err. */
verani_client *probe_client(verani_client_loop *loop, int port, const char *instance,
                            const char *user, probe_conn *conn, char *err, size_t errlen);

/* The options both probes take: --instance NAME, --requests N (1..1,000,000), --warmup N
 * (0..1,000,000) unmeasured ones first, --mark CMD. */
typedef struct probe_opts {
    const char *instance, *mark;
    int requests, warmup;
} probe_opts;

/* Parse `argv` into `c` (defaults: `instance`, 2,000 requests, 100 unmeasured) and, through
 * own(own_opts, option, value), the probe's own options (own answers 0 when it took the
 * option, -1 otherwise); every option takes a value. 0, 1 after --help, -1 on a usage error. */
int probe_parse(int argc, char **argv, probe_opts *c, const char *instance,
                int (*own)(void *own_opts, const char *a, const char *v), void *own_opts);

/* The latencies' figures, in microseconds. */
typedef struct probe_pcts {
    double p50, p90, p99, max;
} probe_pcts;

/* Sort the `n` (>= 1) latencies of `lat` (nanoseconds) and take their figures. */
probe_pcts probe_percentiles(int64_t *lat, int n);

#endif /* BENCH_PROBE_H */
