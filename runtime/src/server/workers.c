/* SPDX-License-Identifier: MIT */
/*
 * workers.c: the server's worker pool (verani_ctx_post). opts.workers
 * threads, started at listen, take jobs from one bounded queue in the order
 * they were posted and run their `work` there; a finished job goes to the
 * done list and the loop is woken (lws's event pipe), which runs its `done`
 * with a context of the instance that posted it (vr_workers_complete, from
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED). The pool touches nothing of the server
 * off the loop thread but its own lists and the wake.
 *
 * Ownership: a vr_job is the pool's from verani_ctx_post until its `done`
 * has run; it pins its instance (inst->jobs) and holds a session reference
 * (defer.c) for as long. At a stop (vr_workers_stop) the jobs not yet started
 * are not run (their `done` gets VERANI_ECLOSED), the running ones are waited
 * for, and every `done` runs before the sessions close.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/core-private.h"
#include "server-int.h"

#define VR_WORKERS_MAX 256
#define VR_WORKER_QUEUE_DEFAULT 1024
/* How often a stop that waits for running jobs says so. */
#define VR_WORKERS_STOP_LOG_S 5

typedef struct vr_job {
    struct vr_job *next;
    verani_work_fn work;
    verani_work_done_fn done;
    void *arg;                       /* the application's */
    vr_instance *inst;               /* pinned: inst->jobs */
    uint32_t slot, gen;              /* the posting session's reference; has_sess */
    int has_sess;
    int status;
} vr_job;

struct vr_pool {
    verani_server *srv;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;          /* a job was queued, or the pool closes */
    pthread_cond_t idle_cv;          /* a running job ended */
    pthread_t *threads;
    uint32_t n_threads;
    vr_job *q_head, *q_tail;         /* {mu} posted, not started */
    uint32_t queued;                 /* {mu} */
    uint32_t running;                /* {mu} */
    vr_job *done_head, *done_tail;   /* {mu} finished (or cancelled), `done` not run */
    int closing;                     /* {mu} */
    uint32_t queue_max;
};

static void push(vr_job **head, vr_job **tail, vr_job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static void *worker_main(void *arg)
{
    struct vr_pool *p = arg;
    vr_job *j;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->q_head && !p->closing)
            pthread_cond_wait(&p->work_cv, &p->mu);
        if (!p->q_head)
            break;
        j = p->q_head;
        p->q_head = j->next;
        if (!p->q_head)
            p->q_tail = NULL;
        p->queued--;
        p->running++;
        pthread_mutex_unlock(&p->mu);
        j->work(j->arg);
        pthread_mutex_lock(&p->mu);
        p->running--;
        push(&p->done_head, &p->done_tail, j);
        if (p->closing) /* only a stop waits for the running jobs */
            pthread_cond_broadcast(&p->idle_cv);
        pthread_mutex_unlock(&p->mu);
        vr_server_wake(p->srv);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int vr_workers_start(verani_server *srv, char *errbuf, size_t errlen)
{
    struct vr_pool *p;
    uint32_t i;

    if (!srv->opts.workers || srv->pool)
        return 0;
    if (srv->opts.workers > VR_WORKERS_MAX) {
        snprintf(errbuf, errlen, "workers is %u: at most %d", srv->opts.workers, VR_WORKERS_MAX);
        return VERANI_EINVAL;
    }
    p = vr_calloc(1, sizeof(*p));
    if (!p || !(p->threads = vr_calloc(srv->opts.workers, sizeof(pthread_t)))) {
        vr_free(p);
        snprintf(errbuf, errlen, "out of memory starting the worker pool");
        return VERANI_ENOMEM;
    }
    p->srv = srv;
    p->queue_max = srv->opts.worker_queue_max ? srv->opts.worker_queue_max
                                              : VR_WORKER_QUEUE_DEFAULT;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->idle_cv, NULL);
    srv->pool = p;
    for (i = 0; i < srv->opts.workers; i++) {
        int e = pthread_create(&p->threads[i], NULL, worker_main, p);

        if (e) {
            snprintf(errbuf, errlen, "cannot start worker thread %u of %u: %s", i + 1,
                     srv->opts.workers, strerror(e));
            vr_workers_stop(srv);
            return VERANI_EIO;
        }
        p->n_threads++;
    }
    return 0;
}

int verani_ctx_post(verani_ctx *ctx, verani_work_fn work, verani_work_done_fn done, void *arg)
{
    struct vr_pool *p;
    vr_job *j;
    int r = 0;

    if (!ctx || !work || !done || !ctx->inst)
        return VERANI_EINVAL;
    if (ctx->srv->stop_flag || ctx->srv->stopping)
        return VERANI_ECLOSED;
    p = ctx->srv->pool;
    if (!p)
        return VERANI_ESTATE;
    j = vr_calloc(1, sizeof(*j));
    if (!j)
        return VERANI_ENOMEM;
    j->work = work;
    j->done = done;
    j->arg = arg;
    j->inst = ctx->inst;
    if (ctx->sess) {
        if (vr_sref_take(ctx->sess, 0, 0, 0, &j->slot, &j->gen)) {
            vr_free(j);
            return VERANI_ENOMEM;
        }
        j->has_sess = 1;
    }
    pthread_mutex_lock(&p->mu);
    if (p->closing)
        r = VERANI_ECLOSED;
    else if (p->queued >= p->queue_max)
        r = VERANI_EFULL;
    else {
        push(&p->q_head, &p->q_tail, j);
        p->queued++;
    }
    pthread_mutex_unlock(&p->mu);
    if (!r) /* after the unlock: the woken worker does not block on the mutex again */
        pthread_cond_signal(&p->work_cv);
    if (r) {
        if (j->has_sess)
            vr_sref_drop(ctx->srv, j->slot, j->gen);
        vr_free(j);
        ctx->srv->metrics.jobs_refused++;
        return r;
    }
    ctx->inst->jobs++;
    ctx->srv->metrics.jobs_posted++;
    return 0;
}

/* Run the `done` of `j` on the loop thread and free it. */
static void complete(verani_server *srv, vr_job *j)
{
    vr_instance *inst = j->inst;
    verani_session *s = j->has_sess ? vr_sref_get(srv, j->slot, j->gen) : NULL;
    struct verani_ctx ctx;
    vr_hook_args a = {0};

    if (j->has_sess)
        vr_sref_drop(srv, j->slot, j->gen);
    vr_ctx_init(&ctx, srv, inst->mount, inst, s);
    a.done = j->done;
    a.arg = j->arg;
    a.result = j->status;
    vr_hook_call(&ctx, VR_HOOK_JOB, &a);
    vr_ctx_fini(&ctx);
    srv->metrics.jobs_done++;
    inst->jobs--;
    vr_free(j);
    vr_instance_maybe_free(inst);
}

void vr_workers_complete(verani_server *srv)
{
    struct vr_pool *p = srv->pool;
    vr_job *j, *next;

    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    j = p->done_head;
    p->done_head = p->done_tail = NULL;
    pthread_mutex_unlock(&p->mu);
    for (; j; j = next) {
        next = j->next;
        complete(srv, j);
    }
}

void vr_workers_load(verani_server *srv, uint32_t *queued, uint32_t *running)
{
    struct vr_pool *p = srv->pool;

    *queued = *running = 0;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    *queued = p->queued;
    *running = p->running;
    pthread_mutex_unlock(&p->mu);
}

void vr_workers_stop(verani_server *srv)
{
    struct vr_pool *p = srv->pool;
    struct timespec ts;
    vr_job *j;
    uint32_t i;

    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->closing = 1;
    while ((j = p->q_head)) { /* not started: not run */
        p->q_head = j->next;
        j->status = VERANI_ECLOSED;
        push(&p->done_head, &p->done_tail, j);
    }
    p->q_tail = NULL;
    p->queued = 0;
    pthread_cond_broadcast(&p->work_cv);
    while (p->running) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += VR_WORKERS_STOP_LOG_S;
        if (pthread_cond_timedwait(&p->idle_cv, &p->mu, &ts) && p->running)
            VR_WARN("stopping: waiting for %u running worker job(s) to return\n", p->running);
    }
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    p->n_threads = 0;
    vr_workers_complete(srv); /* every `done`, while the sessions are still there */
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->idle_cv);
    vr_free(p->threads);
    vr_free(p);
    srv->pool = NULL;
}
