/* SPDX-License-Identifier: MIT */
/*
 * replier.h: the bench server's plain application thread for `--reply defer-thread`
 * (bench_server.c): the echo handler defers its reply and hands the request to this
 * thread through a mutex and a condition variable; the thread answers it with the typed
 * reply (verani_reply_send), which crosses back to the loop through the runtime's queue.
 * It stands for an application's own thread (a database client, a service call), not for
 * the worker pool (verani_ctx_post), which `--reply defer-worker` measures.
 */
#ifndef BENCH_REPLIER_H
#define BENCH_REPLIER_H

#include <stddef.h>
#include <stdint.h>

#include <verani/server.h>

/* A deferred echo request: the handle and a copy of the request's Tick (the request itself
 * is freed when its handler returns). Allocated by the handler, freed by `answer`. */
typedef struct bench_job {
    struct bench_job *next;  /* the replier's queue */
    verani_reply *r;
    uint64_t n;
    size_t len;
    uint8_t data[];
} bench_job;

typedef struct bench_replier bench_replier;

/* Start the thread; it calls answer(job) for every job pushed, in order, and `answer` frees
 * the job. NULL when the thread cannot start (errno-style reason in `err`). */
bench_replier *bench_replier_start(void (*answer)(bench_job *job), char *err, size_t errlen);

/* Queue `job` for the thread (any thread); 0, or -1 once it is stopping (the job stays the
 * caller's). */
int bench_replier_push(bench_replier *q, bench_job *job);

/* Answer what is still queued, end the thread and free `q` (NULL: nothing). */
void bench_replier_stop(bench_replier *q);

#endif /* BENCH_REPLIER_H */
