/* SPDX-License-Identifier: MIT */
/*
 * rpc.c: the outside calls of rpc.h, and the one path from other threads
 * onto the loop (verani_server_emit_async is an emit call whose result is
 * only logged). A call made on any thread is copied into a vr_rpc_call
 * (strings and the encoded frame owned by it), queued under the server's
 * async_lock and run on the loop thread when lws's event pipe wakes it
 * (LWS_CALLBACK_EVENT_WAIT_CANCELLED). The result goes to the
 * caller's callback there, or to a waiting thread through a condition
 * variable; a waiter that times out leaves, and the call frees itself when
 * the last of the two lets go. vr_rpc_exec is the loop-thread half that the
 * HTTP API also uses. It does not know HTTP, and touches no session off the
 * loop thread.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core-private.h"
#include "server-int.h"

#define VR_RPC_DEFAULT_TIMEOUT_MS 5000

typedef struct vr_rpc_call {
    struct vr_rpc_call *next;        /* {async_lock} */
    vr_rpc_req rq;                   /* its strings point into this call's own copies */
    char *room, *instance, *name, *reason; /* owned */
    verani_target to;                /* strings in `strs` */
    char *strs;                      /* owned */
    verani_rpc_cb cb;
    void *arg;
    /* the blocking form */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;                        /* {mu}: the waiter's and the loop's */
    int done;                        /* {mu} */
    verani_rpc_result res;           /* {mu} until done */
} vr_rpc_call;

void verani_rpc_result_free(verani_rpc_result *res)
{
    size_t i, j;

    if (!res)
        return;
    for (i = 0; i < res->n_user_ids; i++)
        vr_free(res->user_ids[i]);
    vr_free(res->user_ids);
    for (i = 0; i < res->n_sessions; i++) {
        verani_rpc_session *s = &res->sessions[i];

        vr_free(s->room);
        vr_free(s->instance);
        vr_free(s->client_id);
        vr_free(s->user_id);
        for (j = 0; j < s->n_channels; j++)
            vr_free(s->channels[j]);
        vr_free(s->channels);
    }
    vr_free(res->sessions);
    for (i = 0; i < res->n_instances; i++) {
        vr_free(res->instances[i].room);
        vr_free(res->instances[i].name);
    }
    vr_free(res->instances);
    memset(res, 0, sizeof(*res));
}

static void fail(verani_rpc_result *res, int status, const char *fmt, ...) VERANI_PRINTF(3, 4);
static void fail(verani_rpc_result *res, int status, const char *fmt, ...)
{
    va_list ap;

    res->status = status;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
}

/* --- the loop-thread half ------------------------------------------------- */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_user(verani_rpc_result *res, const char *uid, size_t *cap)
{
    size_t i;

    if (res->status)
        return;
    for (i = 0; i < res->n_user_ids; i++)
        if (!strcmp(res->user_ids[i], uid))
            return;
    if (res->n_user_ids == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        char **n = vr_reallocarray(res->user_ids, nc, sizeof(*n));

        if (!n) {
            fail(res, VERANI_ENOMEM, "out of memory");
            return;
        }
        res->user_ids = n;
        *cap = nc;
    }
    if (!(res->user_ids[res->n_user_ids] = vr_strdup(uid)))
        fail(res, VERANI_ENOMEM, "out of memory");
    else
        res->n_user_ids++;
}

static void add_instance(verani_rpc_result *res, const vr_instance *inst, size_t *cap)
{
    verani_rpc_instance *o;

    if (res->status)
        return;
    if (res->n_instances == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        verani_rpc_instance *n = vr_reallocarray(res->instances, nc, sizeof(*n));

        if (!n) {
            fail(res, VERANI_ENOMEM, "out of memory");
            return;
        }
        res->instances = n;
        *cap = nc;
    }
    o = &res->instances[res->n_instances];
    memset(o, 0, sizeof(*o));
    o->room = vr_strdup(inst->mount->def->schema->name);
    o->name = vr_strdup(inst->name);
    o->sessions = inst->sessions.count;
    o->pending = inst->pending;
    res->n_instances++; /* counted first, so that the result's free finds what was copied */
    if (!o->room || !o->name)
        fail(res, VERANI_ENOMEM, "out of memory");
}

static int instance_cmp(const void *a, const void *b)
{
    const verani_rpc_instance *x = a, *y = b;
    int r = strcmp(x->room, y->room);

    return r ? r : strcmp(x->name, y->name);
}

static void add_session(verani_rpc_result *res, const verani_session *s, size_t *cap)
{
    verani_rpc_session *o;
    size_t i;

    if (res->status)
        return;
    if (res->n_sessions == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        verani_rpc_session *n = vr_reallocarray(res->sessions, nc, sizeof(*n));

        if (!n) {
            fail(res, VERANI_ENOMEM, "out of memory");
            return;
        }
        res->sessions = n;
        *cap = nc;
    }
    o = &res->sessions[res->n_sessions++];
    memset(o, 0, sizeof(*o));
    o->room = vr_strdup(s->inst->mount->def->schema->name);
    o->instance = vr_strdup(s->inst->name ? s->inst->name : "");
    o->client_id = vr_strdup(s->client_id);
    o->user_id = vr_strdup(s->user_id ? s->user_id : "");
    o->channels = s->n_channels ? vr_calloc(s->n_channels, sizeof(char *)) : NULL;
    if (!o->room || !o->instance || !o->client_id || !o->user_id ||
        (s->n_channels && !o->channels)) {
        fail(res, VERANI_ENOMEM, "out of memory");
        return;
    }
    for (i = 0; i < s->n_channels; i++) {
        if (!(o->channels[i] = vr_strdup(vr_session_chan_name(s, i)))) {
            fail(res, VERANI_ENOMEM, "out of memory");
            return;
        }
        o->n_channels++;
    }
}

int vr_rpc_kick_code_ok(int code)
{
    return code == 1000 || code == 1001 || code == 1008 || (code >= 3000 && code <= 4999);
}

int vr_close_reason_ok(const char *reason)
{
    /* a close frame's reason is UTF-8: a browser fails a connection whose reason is not */
    return !reason ||
           (strlen(reason) <= VERANI_CLOSE_REASON_MAX && verani_utf8_len(reason) != SIZE_MAX);
}

/* Run the per-instance part of `rq` on `inst`. */
static void exec_instance(vr_instance *inst, const vr_rpc_req *rq, verani_rpc_result *res,
                          size_t *cap)
{
    verani_server *srv = inst->mount->srv;
    int n;

    switch (rq->op) {
    case VR_RPC_EMIT:
        n = srv->broker->publish(inst, rq->to, NULL, rq->frame);
        if (n > 0)
            res->count += (size_t)n;
        return;
    case VR_RPC_COUNT:
        res->count += inst->sessions.count;
        return;
    case VR_RPC_INSTANCES:
        add_instance(res, inst, cap);
        return;
    default:
        break;
    }
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&inst->sessions)) {
        verani_session *s = lws_container_of(d, verani_session, node);

        if (rq->op == VR_RPC_USERS) {
            add_user(res, s->user_id ? s->user_id : "", cap);
        } else if (rq->op == VR_RPC_USER_SESSIONS) {
            if (s->user_id && !strcmp(s->user_id, rq->name)) {
                add_session(res, s, cap);
                res->count++;
            }
        } else if (rq->op == VR_RPC_KICK && !strcmp(s->client_id, rq->name) && !s->closing) {
            /* by default a kick sticks: 1008 for the C client; Verani's client reconnects
             * after anything but 1000 and 1001 */
            vr_session_close(s, rq->code ? rq->code : s->json ? VR_CLOSE_NORMAL
                                                                : VR_CLOSE_POLICY,
                             rq->reason ? rq->reason : "kicked", 0);
            res->count++;
        }
    } lws_end_foreach_dll_safe(d, d1);
}

/* VR_RPC_CLEANUP: the stale sessions end now; count = how many. */
static void cleanup(verani_server *srv, verani_rpc_result *res)
{
    /* Sessions whose connection is gone and that wait for a resume: end them now
     * (on_disconnect runs). */
    res->count = srv->detached.count;
    vr_sessions_end_detached(srv);
    /* A session whose close has started but whose socket never finished it. */
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&srv->sessions)) {
        verani_session *s = lws_container_of(d, verani_session, all);

        if (vr_session_kill_stuck(s))
            res->count++;
    } lws_end_foreach_dll_safe(d, d1);
}

void vr_rpc_exec(verani_server *srv, const vr_rpc_req *rq, verani_rpc_result *res)
{
    size_t i, cap = 0, rooms = 0, insts = 0;

    memset(res, 0, sizeof(*res));
    if (rq->op == VR_RPC_EMIT && !vr_frame_fits(srv, rq->frame)) {
        fail(res, VERANI_ETOOBIG, "the event is %zu bytes, more than a session's outbound "
             "queue holds (%zu bytes): not sent", (size_t)rq->frame->len,
             srv->opts.queue_max_bytes);
        return;
    }
    if (rq->op == VR_RPC_KICK && rq->code && !vr_rpc_kick_code_ok(rq->code)) {
        fail(res, VERANI_EINVAL, "the close code must be 1000, 1001, 1008 or 3000..4999");
        return;
    }
    if (rq->op == VR_RPC_CLEANUP) {
        cleanup(srv, res);
        return;
    }
    if (rq->op == VR_RPC_REPLY) {
        vr_defer_deliver(srv, rq->slot, rq->gen, rq->frame, rq->reply);
        return;
    }
    for (i = 0; i < srv->n_mounts && !res->status; i++) {
        vr_mount *m = srv->mounts[i];

        if ((rq->room && strcmp(rq->room, m->def->schema->name)) ||
            (rq->room_def && m->def != rq->room_def))
            continue;
        rooms++;
        if (rq->instance) {
            vr_instance *inst = vr_instance_get(m, rq->instance, 0);

            if (inst && !vr_own_elsewhere(inst->own)) { /* LOST, HANDED: another node's */
                insts++;
                exec_instance(inst, rq, res, &cap);
            }
            continue;
        }
        lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&m->instances)) {
            vr_instance *inst = lws_container_of(d, vr_instance, node);

            /* (no `continue` in lws's foreach: it would skip the step to the next one) */
            if (!vr_own_elsewhere(inst->own)) { /* else another node's: it answers for it */
                insts++;
                exec_instance(inst, rq, res, &cap);
            }
        } lws_end_foreach_dll_safe(d, d1);
    }
    if (res->status)
        return;
    if ((rq->room || rq->room_def) && !rooms) {
        fail(res, VERANI_ENOTFOUND, "no room named '%.100s' is mounted",
             rq->room ? rq->room : rq->room_def->schema->name);
        return;
    }
    if (rq->instance && !insts) {
        fail(res, VERANI_ENOTFOUND, "no instance '%.100s' (instances exist while they have "
             "sessions)", rq->instance);
        return;
    }
    if (rq->op == VR_RPC_KICK && !res->count) {
        fail(res, VERANI_ENOTFOUND, "no open session with client id '%.100s'", rq->name);
        return;
    }
    vr_rpc_result_sort(rq->op, res);
}

void vr_rpc_result_sort(int op, verani_rpc_result *res)
{
    if (op == VR_RPC_USERS && res->n_user_ids > 1)
        qsort(res->user_ids, res->n_user_ids, sizeof(char *), str_cmp);
    if (op == VR_RPC_USERS)
        res->count = res->n_user_ids;
    if (op == VR_RPC_INSTANCES && res->n_instances > 1)
        qsort(res->instances, res->n_instances, sizeof(*res->instances), instance_cmp);
    if (op == VR_RPC_INSTANCES)
        res->count = res->n_instances;
}

int vr_rpc_start(verani_server *srv, const vr_rpc_req *rq, verani_rpc_result *res,
                 void (*done)(verani_server *srv, verani_rpc_result *res, void *arg),
                 void *arg)
{
    if (vr_calls_forward(srv, rq, done, arg))
        return 1;
    vr_rpc_exec(srv, rq, res);
    return 0;
}

int vr_server_clustered(const verani_server *srv)
{
    return srv->cluster != NULL;
}

/* --- the queue ------------------------------------------------------------ */

static void call_free(vr_rpc_call *c)
{
    vr_frame_unref(c->rq.frame);
    vr_free(c->room);
    vr_free(c->instance);
    vr_free(c->name);
    vr_free(c->reason);
    vr_free(c->strs);
    verani_rpc_result_free(&c->res);
    if (!c->cb) {
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
    }
    vr_free(c);
}

/* Deliver the result of `c` (in c->res) and drop the loop's hold on it. */
static void call_finish(verani_server *srv, vr_rpc_call *c)
{
    int last;

    if (c->cb) {
        c->cb(srv, &c->res, c->arg);
        call_free(c);
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    last = --c->refs == 0;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (last)
        call_free(c);
}

void vr_rpc_loop_enter(verani_server *srv)
{
    pthread_mutex_lock(&srv->async_lock);
    srv->loop_thread = pthread_self();
    srv->loop_known = 1;
    pthread_mutex_unlock(&srv->async_lock);
}

/* The answer to a call forwarded to another node (cluster_calls.c): status, count, error. */
static void forwarded(verani_server *srv, verani_rpc_result *res, void *arg)
{
    vr_rpc_call *c = arg;

    vr_frame_unref(c->rq.frame); /* the loop's reference, as below */
    c->rq.frame = NULL;
    if (!c->cb)
        pthread_mutex_lock(&c->mu);
    c->res = *res; /* its arrays move into the call */
    if (!c->cb)
        pthread_mutex_unlock(&c->mu);
    call_finish(srv, c);
}

void vr_rpc_drain(verani_server *srv)
{
    vr_rpc_call *c, *next;

    pthread_mutex_lock(&srv->async_lock);
    c = srv->rpc_head;
    srv->rpc_head = srv->rpc_tail = NULL;
    pthread_mutex_unlock(&srv->async_lock);
    for (; c; c = next) {
        verani_rpc_result res;

        next = c->next;
        if (vr_rpc_start(srv, &c->rq, &res, forwarded, c))
            continue; /* other nodes of the cluster answer (forwarded) */
        /* Frame reference counts are the loop's (not atomic): drop ours here, not on the
         * waiting thread, since the session queues now share the frame. */
        vr_frame_unref(c->rq.frame);
        c->rq.frame = NULL;
        if (c->cb) {
            c->res = res;
        } else {
            pthread_mutex_lock(&c->mu);
            c->res = res;
            pthread_mutex_unlock(&c->mu);
        }
        call_finish(srv, c);
    }
}

void vr_rpc_fini(verani_server *srv)
{
    vr_rpc_call *c, *next;

    pthread_mutex_lock(&srv->async_lock);
    c = srv->rpc_head;
    srv->rpc_head = srv->rpc_tail = NULL;
    srv->loop_known = 0;
    pthread_mutex_unlock(&srv->async_lock);
    for (; c; c = next) {
        next = c->next;
        if (!c->cb)
            pthread_mutex_lock(&c->mu);
        fail(&c->res, VERANI_ECLOSED, "the server was destroyed before the call ran");
        if (!c->cb)
            pthread_mutex_unlock(&c->mu);
        call_finish(srv, c);
    }
}

static vr_rpc_call *call_new(vr_rpc_op op, const char *room, const char *instance,
                             const char *name, verani_rpc_done *done)
{
    vr_rpc_call *c = vr_calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->rq.op = op;
    c->cb = done->cb;
    c->arg = done->arg;
    if (!c->cb) {
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        c->refs = 2;
    }
    if ((room && !(c->room = vr_strdup(room))) || (instance && !(c->instance = vr_strdup(instance)))
        || (name && !(c->name = vr_strdup(name)))) {
        call_free(c);
        return NULL;
    }
    c->rq.room = c->room;
    c->rq.instance = c->instance;
    c->rq.name = c->name;
    return c;
}

static int deadline_of(struct timespec *ts, int timeout_ms)
{
    if (clock_gettime(CLOCK_REALTIME, ts))
        return -1;
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
    return 0;
}

/* Queue `c` (which the caller gives up) and, for the blocking form, wait for it. */
static int call_submit(verani_server *srv, vr_rpc_call *c, verani_rpc_done *done)
{
    struct timespec ts;
    int on_loop, r = 0, last;
    /* Read before queueing: a callback-form call belongs to the loop once queued and may
     * already be freed when the wake returns. */
    const int has_cb = c->cb != NULL;

    pthread_mutex_lock(&srv->async_lock);
    on_loop = srv->loop_known && pthread_equal(srv->loop_thread, pthread_self());
    if (srv->stop_flag || (on_loop && !c->cb)) {
        pthread_mutex_unlock(&srv->async_lock);
        if (done->out) {
            memset(done->out, 0, sizeof(*done->out));
            fail(done->out, on_loop ? VERANI_ESTATE : VERANI_ECLOSED, "%s",
                 on_loop ? "a blocking call on the server's loop thread would deadlock: pass "
                 "a callback" : "the server is stopping");
        }
        r = on_loop && !c->cb ? VERANI_ESTATE : VERANI_ECLOSED;
        call_free(c);
        return r;
    }
    if (srv->rpc_tail)
        srv->rpc_tail->next = c;
    else
        srv->rpc_head = c;
    srv->rpc_tail = c;
    pthread_mutex_unlock(&srv->async_lock);
    vr_server_wake(srv);
    if (has_cb)
        return 0;

    deadline_of(&ts, done->timeout_ms > 0 ? done->timeout_ms : VR_RPC_DEFAULT_TIMEOUT_MS);
    pthread_mutex_lock(&c->mu);
    while (!c->done && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    if (c->done) {
        *done->out = c->res;
        memset(&c->res, 0, sizeof(c->res));
        r = done->out->status;
    } else {
        memset(done->out, 0, sizeof(*done->out));
        fail(done->out, VERANI_ETIMEDOUT, "no answer from the server's loop in time");
        r = VERANI_ETIMEDOUT;
    }
    last = --c->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (last)
        call_free(c);
    return r;
}

/* verani_server_emit_async's calls have nobody to hand a result to: an unknown room or
 * instance (the VERANI_ENOTFOUND verani_rpc_emit answers) is counted in /metrics and logged
 * (at INFO: a notification for a user who is offline is ordinary); ECLOSED (the server went
 * before the loop ran it) is not news. */
static void emit_async_done(verani_server *srv, const verani_rpc_result *res, void *arg)
{
    (void)arg;
    if (res->status == VERANI_ENOTFOUND) {
        srv->metrics.emit_async_unreached++;
        VR_INFO("emit_async: %s: nobody reached\n", res->error);
    }
}

/* A call of `op` that carries `frame` (the caller's reference: the call takes it, and drops
 * it when it cannot be made). NULL when out of memory. */
static vr_rpc_call *frame_call(vr_rpc_op op, const char *instance, vr_frame *frame,
                               verani_rpc_done *done)
{
    vr_rpc_call *c = call_new(op, NULL, instance, NULL, done);

    if (!c) {
        vr_frame_unref(frame);
        return NULL;
    }
    c->rq.frame = frame;
    return c;
}

int vr_rpc_emit_async(verani_server *srv, const verani_room_def *room, const char *instance,
                      const verani_target *to, vr_frame *frame)
{
    verani_rpc_done done = {emit_async_done, NULL, 0, NULL};
    vr_rpc_call *c = frame_call(VR_RPC_EMIT, instance, frame, &done);

    if (!c)
        return VERANI_ENOMEM;
    c->rq.room_def = room;
    c->rq.to = &c->to;
    if (vr_target_copy(&c->to, &c->strs, to)) {
        call_free(c);
        return VERANI_ENOMEM;
    }
    return call_submit(srv, c, &done);
}

static void reply_done(verani_server *srv, const verani_rpc_result *res, void *arg)
{
    (void)srv; /* vr_defer_deliver counted and logged what it found */
    (void)res;
    (void)arg;
}

int vr_rpc_reply(verani_server *srv, uint32_t slot, uint32_t gen, vr_frame *frame, int reply)
{
    verani_rpc_done done = {reply_done, NULL, 0, NULL};
    vr_rpc_call *c = frame_call(VR_RPC_REPLY, NULL, frame, &done);

    if (!c)
        return VERANI_ENOMEM;
    c->rq.slot = slot;
    c->rq.gen = gen;
    c->rq.reply = reply;
    return call_submit(srv, c, &done);
}

int vr_rpc_on_loop(verani_server *srv)
{
    int on;

    pthread_mutex_lock(&srv->async_lock);
    on = srv->loop_known && pthread_equal(srv->loop_thread, pthread_self());
    pthread_mutex_unlock(&srv->async_lock);
    return on;
}

static int check_done(verani_server *srv, verani_rpc_done *done)
{
    if (!srv || (!done->cb && !done->out))
        return VERANI_EINVAL;
    if (done->out)
        memset(done->out, 0, sizeof(*done->out));
    return 0;
}

int verani_rpc_emit(verani_server *srv, const char *room, const char *instance,
                    const verani_target *to, const verani_event_def *ev,
                    const ProtobufCMessage *msg, verani_rpc_done done)
{
    vr_rpc_call *c;
    int err = check_done(srv, &done);

    if (err)
        return err;
    if (!room || !to || !ev || to->kind == VERANI_TO_SELF || to->except ||
        (to->kind != VERANI_TO_ALL && !to->name)) {
        if (done.out)
            fail(done.out, VERANI_EINVAL, "emit needs a room, an event and a target with a name "
                 "(not self, no except)");
        return VERANI_EINVAL;
    }
    c = call_new(VR_RPC_EMIT, room, instance, NULL, &done);
    if (!c)
        return VERANI_ENOMEM;
    c->rq.frame = vr_event_frame(ev, msg, to->kind == VERANI_TO_CHANNEL ? to->name : NULL, &err);
    c->rq.to = &c->to;
    if (!c->rq.frame || vr_target_copy(&c->to, &c->strs, to)) {
        call_free(c);
        err = err ? err : VERANI_ENOMEM;
        if (done.out)
            fail(done.out, err, "the payload is not of the event's type or fails its "
                 "validation (the log names the field)");
        return err;
    }
    return call_submit(srv, c, &done);
}

int verani_rpc_broadcast(verani_server *srv, const char *room, const char *instance,
                         const verani_event_def *ev, const ProtobufCMessage *msg,
                         const char *const *user_ids, size_t n_user_ids,
                         const char *const *client_ids, size_t n_client_ids,
                         verani_rpc_done done)
{
    verani_target to = verani_to_all();

    to.user_ids = user_ids;
    to.n_user_ids = user_ids ? n_user_ids : 0;
    to.client_ids = client_ids;
    to.n_client_ids = client_ids ? n_client_ids : 0;
    return verani_rpc_emit(srv, room, instance, &to, ev, msg, done);
}

static int simple(verani_server *srv, vr_rpc_op op, const char *room, const char *instance,
                  const char *name, verani_rpc_done *done)
{
    vr_rpc_call *c;
    int err = check_done(srv, done);

    if (err)
        return err;
    c = call_new(op, room, instance, name, done);
    if (!c)
        return VERANI_ENOMEM;
    return call_submit(srv, c, done);
}

int verani_rpc_session_count(verani_server *srv, const char *room, const char *instance,
                             verani_rpc_done done)
{
    return simple(srv, VR_RPC_COUNT, room, instance, NULL, &done);
}

int verani_rpc_user_ids(verani_server *srv, const char *room, const char *instance,
                        verani_rpc_done done)
{
    return simple(srv, VR_RPC_USERS, room, instance, NULL, &done);
}

int verani_rpc_instances(verani_server *srv, const char *room, verani_rpc_done done)
{
    return simple(srv, VR_RPC_INSTANCES, room, NULL, NULL, &done);
}

int verani_rpc_user_sessions(verani_server *srv, const char *room, const char *instance,
                             const char *user_id, verani_rpc_done done)
{
    int err = check_done(srv, &done); /* *done.out is cleared even when user_id is refused */

    if (err)
        return err;
    if (!user_id)
        return VERANI_EINVAL;
    return simple(srv, VR_RPC_USER_SESSIONS, room, instance, user_id, &done);
}

int verani_rpc_kick(verani_server *srv, const char *room, const char *instance,
                    const char *client_id, int code, const char *reason, verani_rpc_done done)
{
    vr_rpc_call *c;
    int err = check_done(srv, &done);

    if (err)
        return err;
    if (!client_id || (code && !vr_rpc_kick_code_ok(code)) ||
        !vr_close_reason_ok(reason))
        return VERANI_EINVAL;
    c = call_new(VR_RPC_KICK, room, instance, client_id, &done);
    if (!c)
        return VERANI_ENOMEM;
    if (reason && !(c->reason = vr_strdup(reason))) {
        call_free(c);
        return VERANI_ENOMEM;
    }
    c->rq.reason = c->reason;
    c->rq.code = code;
    return call_submit(srv, c, &done);
}

int verani_rpc_cleanup(verani_server *srv, verani_rpc_done done)
{
    return simple(srv, VR_RPC_CLEANUP, NULL, NULL, NULL, &done);
}
