/* SPDX-License-Identifier: MIT */
/*
 * client_calls.c: the client's public queries and registrations: its loop,
 * info, state and last error, the lifecycle callbacks (on_open, on_close,
 * on_error, on_state_change, on_recovery_failed) and their removal, and the
 * waits for a connection (callback and blocking forms). Each packs its
 * arguments and runs its body on the loop's thread through vr_loop_call; the
 * object itself, its states and the waits' bookkeeping are client.c's.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "client-int.h"
#include "core/core-private.h"

verani_client_loop *verani_client_get_loop(verani_client *c)
{
    return c ? c->loop : NULL;
}

typedef struct {
    verani_client *c;
    verani_client_info *info;
    char *buf;
    size_t len;
} vr_info_args;

static int c_info_body(void *arg)
{
    vr_info_args *a = arg;
    verani_client *c = a->c;
    verani_client_info *i = a->info;

    memset(i, 0, sizeof(*i));
    i->state = c->state;
    i->attempts = c->attempts;
    i->connection_id = c->conn_id;
    snprintf(i->client_id, sizeof(i->client_id), "%s", c->client_id);
    snprintf(i->user_id, sizeof(i->user_id), "%s", c->user_id);
    i->last_seq = c->last_seq;
    i->resumed = c->resumed;
    i->recovery_failed = c->recovery_failed;
    i->queued = c->outq.len;
    i->dropped = c->outq.dropped;
    i->missed = c->missed;
    i->pending_requests = c->n_reqs;
    return 0;
}

int verani_client_get_info(verani_client *c, verani_client_info *info)
{
    vr_info_args a = {.c = c, .info = info};

    if (!c || !info)
        return VERANI_EINVAL;
    return vr_loop_call(c->loop, c_info_body, &a);
}

verani_client_state verani_client_get_state(verani_client *c)
{
    verani_client_info info;

    if (!c || verani_client_get_info(c, &info))
        return VERANI_CLIENT_ERROR;
    return info.state;
}

static int c_last_error_body(void *arg)
{
    vr_info_args *a = arg;

    snprintf(a->buf, a->len, "%s", a->c->last_error);
    return 0;
}

int verani_client_last_error(verani_client *c, char *buf, size_t len)
{
    vr_info_args a = {.c = c, .buf = buf, .len = len};

    if (!c || !buf || !len)
        return VERANI_EINVAL;
    return vr_loop_call(c->loop, c_last_error_body, &a);
}

/* Lifecycle registrations. */
typedef struct {
    verani_client *c;
    vr_cb_kind kind;
    verani_fn fn;
    void *user;
    int id;
} vr_cb_args;

static int c_add_cb_body(void *arg)
{
    vr_cb_args *a = arg;
    verani_client *c = a->c;
    vr_cb *cbs;

    if (c->destroyed)
        return VERANI_ECLOSED;
    cbs = vr_client_grow(c->cbs, &c->cap_cbs, c->n_cbs, sizeof(*cbs), 4);
    if (!cbs)
        return VERANI_ENOMEM;
    c->cbs = cbs;
    cbs[c->n_cbs] = (vr_cb){.id = c->next_cb_id++, .kind = a->kind, .fn = a->fn,
                            .user = a->user};
    return cbs[c->n_cbs++].id;
}

static int c_add_cb(verani_client *c, vr_cb_kind kind, verani_fn fn, void *user)
{
    vr_cb_args a = {.c = c, .kind = kind, .fn = fn, .user = user};

    if (!c || !fn)
        return VERANI_EINVAL;
    return vr_loop_call(c->loop, c_add_cb_body, &a);
}

int verani_client_on_open(verani_client *c, verani_client_open_fn fn, void *user)
{
    return c_add_cb(c, VR_CB_OPEN, (verani_fn)fn, user);
}

int verani_client_on_close(verani_client *c, verani_client_close_fn fn, void *user)
{
    return c_add_cb(c, VR_CB_CLOSE, (verani_fn)fn, user);
}

int verani_client_on_error(verani_client *c, verani_client_error_fn fn, void *user)
{
    return c_add_cb(c, VR_CB_ERROR, (verani_fn)fn, user);
}

int verani_client_on_state_change(verani_client *c, verani_client_state_fn fn, void *user)
{
    return c_add_cb(c, VR_CB_STATE, (verani_fn)fn, user);
}

int verani_client_on_recovery_failed(verani_client *c, verani_client_recovery_fn fn, void *user)
{
    return c_add_cb(c, VR_CB_RECOVERY, (verani_fn)fn, user);
}

static int c_remove_cb_body(void *arg)
{
    vr_cb_args *a = arg;
    verani_client *c = a->c;
    size_t i;

    for (i = 0; i < c->n_cbs; i++) {
        if (c->cbs[i].id == a->id && !c->cbs[i].dead) {
            c->cbs[i].dead = 1;
            vr_client_compact(c);
            return 0;
        }
    }
    return VERANI_ENOTFOUND;
}

int verani_client_remove_callback(verani_client *c, int id)
{
    vr_cb_args a = {.c = c, .id = id};

    if (!c)
        return VERANI_EINVAL;
    return vr_loop_call(c->loop, c_remove_cb_body, &a);
}

/* Waiting for the connection. */
typedef struct {
    verani_client *c;
    uint32_t timeout_ms;
    verani_client_wait_fn fn;
    void *user;
} vr_wait_args;

static int c_wait_body(void *arg)
{
    vr_wait_args *a = arg;
    verani_client *c = a->c;
    vr_wait *w;

    if (c->destroyed)
        return VERANI_ECLOSED;
    if (c->state == VERANI_CLIENT_CONNECTED || c->state == VERANI_CLIENT_ERROR ||
        c->state == VERANI_CLIENT_DISCONNECTED) {
        /* Already decided: call back at once. */
        vr_client_enter(c);
        a->fn(c, c->state == VERANI_CLIENT_CONNECTED ? VERANI_OK : VERANI_ECLOSED, a->user);
        vr_client_leave(c);
        return 0;
    }
    w = vr_calloc(1, sizeof(*w));
    if (!w)
        return VERANI_ENOMEM;
    w->c = c;
    w->fn = a->fn;
    w->user = a->user;
    w->next = c->waits;
    c->waits = w;
    lws_sul_schedule(vr_loop_lws(c->loop), 0, &w->sul, vr_client_wait_timeout_cb,
                     (lws_usec_t)(a->timeout_ms ? a->timeout_ms : 2u * c->connect_timeout_ms) *
                         LWS_US_PER_MS);
    return 0;
}

int verani_client_wait_connected(verani_client *c, uint32_t timeout_ms, verani_client_wait_fn fn,
                                 void *user)
{
    vr_wait_args a = {.c = c, .timeout_ms = timeout_ms, .fn = fn, .user = user};

    if (!c || !fn)
        return VERANI_EINVAL;
    return vr_loop_call(c->loop, c_wait_body, &a);
}

/* The blocking wait: a done flag the callback sets, under the waiter's own lock. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    int result;
} vr_block;

static void c_block_cb(verani_client *c, int result, void *user)
{
    vr_block *b = user;

    (void)c;
    pthread_mutex_lock(&b->lock);
    b->done = 1;
    b->result = result;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

static int c_wait_has_fn_user(const vr_wait *w, const void *key)
{
    const vr_wait_args *a = key;

    return w->fn == a->fn && w->user == a->user;
}

/* Remove, without calling it, the wait registered with (fn, user). */
static int c_wait_withdraw_body(void *arg)
{
    vr_wait_args *a = arg;
    vr_wait *w = vr_client_wait_take(a->c, c_wait_has_fn_user, a);

    if (!w)
        return VERANI_ENOTFOUND;
    vr_free(w);
    return 0;
}

int verani_client_wait_for_connection(verani_client *c, uint32_t timeout_ms)
{
    verani_client_loop *loop;
    vr_block b;
    int r;

    if (!c)
        return VERANI_EINVAL;
    loop = c->loop;
    if (!vr_loop_can_block(loop))
        return VERANI_ESTATE;
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.cond, NULL);
    b.done = 0;
    b.result = VERANI_ETIMEDOUT;
    r = verani_client_wait_connected(c, timeout_ms, c_block_cb, &b);
    if (r) {
        pthread_mutex_destroy(&b.lock);
        pthread_cond_destroy(&b.cond);
        return r;
    }
    if (vr_loop_is_threaded(loop)) {
        pthread_mutex_lock(&b.lock);
        while (!b.done)
            pthread_cond_wait(&b.cond, &b.lock);
        pthread_mutex_unlock(&b.lock);
    } else {
        while (!b.done) {
            r = verani_client_loop_service(loop, 1000);
            if (r) {
                vr_wait_args a = {.c = c, .fn = c_block_cb, .user = &b};

                /* Cannot service: withdraw the waiter, which points at `b`. */
                vr_loop_call(loop, c_wait_withdraw_body, &a);
                if (!b.done)
                    b.result = r;
                break;
            }
        }
    }
    pthread_mutex_destroy(&b.lock);
    pthread_cond_destroy(&b.cond);
    return b.result;
}
