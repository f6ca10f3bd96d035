/* SPDX-License-Identifier: MIT */
/*
 * replier.c: the application thread of `bench_server --reply defer-thread` (replier.h).
 * One queue under one mutex; the thread takes everything queued at each wake-up and
 * answers it outside the lock, in order. A push into an empty queue signals the condition
 * variable after unlocking (a futex wake only when the thread sleeps on it).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replier.h"

struct bench_replier {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bench_job *head, *tail;  /* {mu} */
    int stopping;            /* {mu} */
    pthread_t thread;
    void (*answer)(bench_job *job);
};

/* Take the whole queue; NULL once it is empty and the replier stops. Called with `mu`. */
static bench_job *take_all(bench_replier *q)
{
    bench_job *j;

    while (!q->head && !q->stopping)
        pthread_cond_wait(&q->cv, &q->mu);
    j = q->head;
    q->head = q->tail = NULL;
    return j;
}

static void *replier_main(void *arg)
{
    bench_replier *q = arg;
    bench_job *j, *next;

    pthread_mutex_lock(&q->mu);
    while ((j = take_all(q))) {
        pthread_mutex_unlock(&q->mu);
        for (; j; j = next) {
            next = j->next;
            q->answer(j);
        }
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

bench_replier *bench_replier_start(void (*answer)(bench_job *job), char *err, size_t errlen)
{
    bench_replier *q = calloc(1, sizeof(*q));
    int e;

    if (!q) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->answer = answer;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    e = pthread_create(&q->thread, NULL, replier_main, q);
    if (e) {
        snprintf(err, errlen, "cannot start the replier thread: %s", strerror(e));
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
        free(q);
        return NULL;
    }
    return q;
}

int bench_replier_push(bench_replier *q, bench_job *job)
{
    int r = 0, was_empty = 0;

    job->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->stopping) {
        r = -1;
    } else {
        was_empty = !q->head;
        if (q->tail)
            q->tail->next = job;
        else
            q->head = job;
        q->tail = job;
    }
    pthread_mutex_unlock(&q->mu);
    /* After the unlock, so that a woken replier on the same core does not run at once into
     * the mutex still held here; only into an empty queue, since the replier takes all that
     * is queued and the push that made the queue non-empty has woken it. */
    if (was_empty)
        pthread_cond_signal(&q->cv);
    return r;
}

void bench_replier_stop(bench_replier *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}
