/* SPDX-License-Identifier: MIT */
/*
 * loadgen.h: what the load generator's scenario core (loadgen.c) and its
 * protocol drivers share. A driver speaks one server's protocol over
 * connections it owns: lg_verani.c uses the generated typed Verani-C client,
 * lg_raw.c speaks plain WebSocket frames (the `ws` peer, the raw libwebsockets
 * floor and the uWebSockets peer), Engine.IO v4 / socket.io packets on the
 * websocket transport (the socket.io peer) or Verani's JSON wire to the bench
 * server's JSON path (lg_json.c makes and scans its frames) on a libwebsockets
 * client context.
 * The core owns the peers (one lg_peer per connection slot), drives the
 * scenarios and keeps every count; drivers only report opens, closes, fan-out
 * messages and echo replies. The core runs in several worker processes, each
 * with its own driver state (its own libwebsockets context or Verani-C client
 * loop) and its own share of the peers; inside a worker everything runs on one
 * thread: the core calls driver->service() and the driver calls back into the
 * core from inside it. Nothing here measures time or CPU: loadgen.c does.
 */
#ifndef BENCH_LOADGEN_H
#define BENCH_LOADGEN_H

#include <stddef.h>
#include <stdint.h>

/* The payload every scenario sends, in bytes, besides the message number. */
#define LG_PAYLOAD 64

typedef enum lg_role { LG_SUB = 0, LG_PUB, LG_ECHO, LG_IDLE, LG_CHURN } lg_role;

/* One connection slot, owned by the core; `conn` is the driver's object (NULL when none). */
typedef struct lg_peer {
    int idx;             /* unique across workers: user ids and source addresses use it */
    lg_role role;
    void *conn;          /* the driver's connection; the driver never frees it by itself
                            while the core holds it, except after lg_on_close */
    int open;            /* the protocol handshake finished */
    int closed;          /* lost or refused (not by the core's request) */
    int done;            /* churn: its exchange finished, close it */
    uint64_t last_n;     /* fan-out: the last message number received */
    uint64_t received;   /* fan-out: messages received (in order or not) */
    uint64_t gaps;       /* fan-out: messages skipped over */
    uint64_t dups;       /* fan-out: messages received again or out of order */
    uint64_t next_n;     /* echo, churn: the number of the last request sent (from 1) */
    uint32_t n_flight;   /* echo, churn: requests sent and not answered (their numbers and
                            send times are the core's, --inflight slots per peer) */
} lg_peer;

struct lg_run;

typedef struct lg_driver {
    const char *name;
    /* Set up (an lws context, a client loop); 0 or -1 with a message on stderr. */
    int (*init)(struct lg_run *run);
    /* Start connecting `peer` (its idx and role are set); 0, or -1 when it cannot start. */
    int (*connect)(struct lg_run *run, lg_peer *peer);
    /* Send fan-out message `n` from the publisher / echo request `n`; 0 or -1. */
    int (*publish)(struct lg_run *run, lg_peer *peer, uint64_t n);
    int (*echo)(struct lg_run *run, lg_peer *peer, uint64_t n);
    /* Close the peer's connection; afterwards the driver calls nothing for this peer. */
    void (*close)(struct lg_run *run, lg_peer *peer);
    /* Run what is due, waiting at most about `timeout_ms`. */
    void (*service)(struct lg_run *run, int timeout_ms);
    /* Close everything and free the driver's state. */
    void (*fini)(struct lg_run *run);
} lg_driver;

typedef struct lg_run {
    const lg_driver *drv;
    struct lg_core *core;   /* the scenario state, loadgen.c's own */
    void *drv_state;        /* the driver's own */
    const char *host;       /* "127.0.0.1" */
    int port;
    const char *instance;   /* the Verani-C room instance ("b1") */
    int n_src;              /* raw driver: bind source addresses 127.0.0.2 .. 127.0.0.(1+n_src) */
    uint8_t payload[LG_PAYLOAD];
    int verbose;
} lg_run;

/* --- called by drivers, from inside driver->service() --------------------------------------- */

void lg_on_open(lg_run *run, lg_peer *peer);
/* The connection failed or was closed by the server; the driver has freed it. */
void lg_on_close(lg_run *run, lg_peer *peer, const char *why);
void lg_on_fanout(lg_run *run, lg_peer *peer, uint64_t n);
/* An echo reply to request `n`; `ok` 0 when it came back as an error or its payload did not
 * match. The core checks that `n` is a request of this peer's in flight. */
void lg_on_echo(lg_run *run, lg_peer *peer, uint64_t n, int ok);

extern const lg_driver lg_driver_verani;
extern const lg_driver lg_driver_ws;
extern const lg_driver lg_driver_sio;
extern const lg_driver lg_driver_vraw; /* idle only */
extern const lg_driver lg_driver_vjson; /* Verani's JSON wire */

/* lg_proc.c: CPU seconds of process `pid` (all threads; -1 when it cannot be read), with its
 * voluntary + involuntary context switches into *ctxsw (NULL: not wanted); of its main thread
 * alone; its resident memory in KiB (-1: unknown); the generator's own CPU seconds. */
double lg_proc_cpu_sw(long pid, long long *ctxsw);
double lg_proc_cpu(long pid);
double lg_main_thread_cpu(long pid);
long lg_proc_rss_kib(long pid);
double lg_self_cpu(void);

#endif /* BENCH_LOADGEN_H */
