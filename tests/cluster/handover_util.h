/* SPDX-License-Identifier: MIT */
/*
 * handover_util.h: what the two handover tests share (test_cluster_handover.c, nodes in one
 * process; test_cluster_processes.c, node processes): typed clients of one E2e instance that
 * count numbered frames (chat.out, text "1", "2", ...), and an outside caller on a thread of
 * its own that emits FRAMES of them, each until every session of the instance got it, while
 * the test stops the owner in the middle. Failures are cmocka assertions (the test thread).
 */
#ifndef VERANI_TEST_HANDOVER_UTIL_H
#define VERANI_TEST_HANDOVER_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <verani/verani.h>

#define HO_CLIENTS 100
#define HO_FRAMES 1000
#define HO_STOP_AT 300 /* frames emitted before the owner stops */
/* What the move should take: the stop, a reconnect after the clients' backoff (200 ms, up to
 * 1 s), the claim and the restore (SCALEOUT.md section 6 check 5 expects 2 s); and the
 * 1,000 emits around it. Waits are DL_GENEROUS of that. */
#define HO_MOVE_MS 5000

typedef struct watcher {
    verani_client *c;
    int last;                /* the number of the last frame seen */
    int out_of_order;        /* a frame that was not last + 1: a gap or a duplicate */
    int opens, resumed_opens, recoveries_failed;
    int64_t last_open_ms;
} watcher;

/* HO_CLIENTS clients "u0".. of E2e instance `inst` at ws://<hostport>, with the backoff of
 * SCALEOUT.md section 6 (200 ms to 1 s); returns once every one is connected. */
void watchers_start(verani_client_loop *loop, const char *hostport, const char *inst,
                    watcher *w);

typedef struct emitter emitter;
/* Emit frame `n` through node `node` (0 before the stop, 1 after): 1 when every session of
 * the instance got it, 0 to try again; the test's, with its own way of calling. */
typedef int (*emit_fn)(emitter *em, int node, int n);
struct emitter {
    emit_fn emit;
    void *arg;                /* the test's */
    pthread_t th;
    atomic_int sent, moved, failed;
    int retries;              /* the emitter's; read once it is joined */
    char last[256];           /* the last answer, for a failure message */
};

/*
 * The stream: the emitter runs on its thread; once HO_STOP_AT frames went, `stop(arg)` runs
 * on the test's thread (the balancer turns to node B, the owner stops) and the emitter turns
 * to node 1; the client loop is serviced until every client got every frame and came back,
 * or the deadline. Then the checks: every frame once, in order, each reconnect a resume
 * without recovery_failed. Returns the milliseconds from the stop to the last resume.
 */
int64_t handover_stream(verani_client_loop *loop, watcher *w, emitter *em,
                        void (*stop)(void *arg), void *arg);

#endif /* VERANI_TEST_HANDOVER_UTIL_H */
