/* SPDX-License-Identifier: MIT */
/*
 * cluster_calls.c: outside calls for a room instance another node of the
 * cluster owns (shared/SCALEOUT.md section 3.6). A call about one instance
 * this node does not hold (an emit: verani_rpc_emit, verani_rpc_broadcast,
 * verani_server_emit_async; its session count, user ids, a user's sessions,
 * a kick) goes to its owner: the owner is the node a lost claim named
 * (cluster_owner.c's hint) or the one Redis names, and the call crosses as
 * one Forward (cluster/forward.c), an emit carrying the event already
 * validated and encoded here; the owner runs it as its own call would and
 * answers its result. Every failure is an error with its reason: no node
 * serves the instance, its owner is not live, did not answer in time, or runs
 * another schema of the room. A call about every instance (or every room)
 * goes to every live node, this one included, each answering for the
 * instances it owns, and the answers are merged: counts summed, user ids a
 * sorted union, sessions and instances together. A node that does not answer
 * in time is named in an error, never left out silently.
 *
 * Ownership: a forward (vr_fwd) is owned here from vr_calls_forward until its
 * `done` ran. Loop thread only.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cluster/cluster-private.h"
#include "core/core-private.h"
#include "server-int.h"

/* A call crosses Redis twice (there and back): it has two command timeouts to be answered. */
static uint32_t fwd_timeout_ms(const verani_server *srv)
{
    return 2 * (srv->opts.cluster.command_timeout_ms ? srv->opts.cluster.command_timeout_ms
                                                     : 2000);
}

typedef struct vr_fwd {
    verani_server *srv;
    int op;                          /* vr_rpc_op */
    vr_fwd_done done;
    void *arg;
    char *room, *instance;           /* owned copies */
    uint8_t *body;                   /* owned: the packed Forward */
    size_t len;
} vr_fwd;

/* Hand `res` (its arrays move with it) to the caller, and free the forward. */
static void fwd_result(vr_fwd *x, verani_rpc_result *res)
{
    if (res->status)
        x->srv->metrics.cluster_forward_failed++;
    x->done(x->srv, res, x->arg);
    vr_free(x->room);
    vr_free(x->instance);
    vr_free(x->body);
    vr_free(x);
}

/* A result that is only an error: `status`, and the text of `fmt`. */
static void failed(verani_rpc_result *res, int status, const char *fmt, va_list ap)
    VERANI_PRINTF(3, 0);
static void failed(verani_rpc_result *res, int status, const char *fmt, va_list ap)
{
    memset(res, 0, sizeof(*res));
    res->status = status;
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
}

static void fwd_end(vr_fwd *x, int status, const char *fmt, ...) VERANI_PRINTF(3, 4);
static void fwd_end(vr_fwd *x, int status, const char *fmt, ...)
{
    verani_rpc_result res;
    va_list ap;

    va_start(ap, fmt);
    failed(&res, status, fmt, ap);
    va_end(ap);
    fwd_result(x, &res);
}

static void on_answer(vr_cluster *c, const char *node, int status, const uint8_t *body,
                      size_t len, void *arg)
{
    vr_fwd *x = arg;
    verani_rpc_result res;
    int r;

    (void)c;
    if (status == VERANI_ETIMEDOUT) {
        fwd_end(x, status, "node %s, the owner of %s '%s', did not answer in time", node,
                x->room, x->instance);
    } else if (status) {
        fwd_end(x, status, "node %s, the owner of %s '%s', could not be called: %s", node,
                x->room, x->instance, verani_strerror(status));
    } else if ((r = vr_forward_result_unpack(body, len, &res)) != 0) {
        fwd_end(x, r, "node %s's answer could not be read (%s)", node, verani_strerror(r));
    } else {
        fwd_result(x, &res);
    }
}

static void call_owner(vr_fwd *x, const char *owner)
{
    verani_server *srv = x->srv;
    int r;

    if (!vr_cluster_node_url(srv->cluster, owner)) {
        fwd_end(x, VERANI_ENOTFOUND, "%s '%s' is node %s's, which is not live now", x->room,
                x->instance, owner);
        return;
    }
    r = vr_cluster_call(srv->cluster, owner, x->body, x->len, fwd_timeout_ms(srv), on_answer, x);
    if (r)
        fwd_end(x, r, "the cluster cannot carry the call now: %s", verani_strerror(r));
    else
        srv->metrics.cluster_forwarded++;
}

static void on_owner(vr_cluster *c, const char *owner, const char *error, void *arg)
{
    vr_fwd *x = arg;

    if (!x->srv->cluster)
        fwd_end(x, VERANI_ECLOSED, "the server is stopping");
    else if (!owner)
        fwd_end(x, VERANI_EIO, "the cluster did not say who serves %s '%s': %s", x->room,
                x->instance, error);
    else if (!*owner || !strcmp(owner, vr_cluster_node_id(c)))
        fwd_end(x, VERANI_ENOTFOUND, "no node serves instance '%.100s' of %s now "
                "(instances exist while they have sessions)", x->instance, x->room);
    else
        call_owner(x, owner);
}

/* --- every node ------------------------------------------------------------------------------ */

/* Move the `*n_from` elements of `size` bytes at `from` onto the end of the array `*to` (`*n_to`
 * long); *n_from is 0 after. -1: no memory (nothing moved). */
static int append(void *to, size_t *n_to, const void *from, size_t *n_from, size_t size)
{
    char *n;

    if (!*n_from)
        return 0;
    n = vr_reallocarray(*(void **)to, *n_to + *n_from, size);
    if (!n)
        return -1;
    *(void **)to = n;
    memcpy(n + *n_to * size, from, *n_from * size);
    *n_to += *n_from;
    *n_from = 0;
    return 0;
}

/* Move the arrays of `from` onto the end of `to`'s (the user ids kept unique). -1: no memory
 * (what did not move stays in `from`). */
static int merge_into(verani_rpc_result *to, verani_rpc_result *from)
{
    size_t i, j;

    if (from->n_user_ids) {
        char **n = vr_reallocarray(to->user_ids, to->n_user_ids + from->n_user_ids,
                                   sizeof(*n));

        if (!n)
            return -1;
        to->user_ids = n;
        for (i = 0; i < from->n_user_ids; i++) {
            for (j = 0; j < to->n_user_ids && strcmp(to->user_ids[j], from->user_ids[i]); j++)
                ;
            if (j < to->n_user_ids) {
                vr_free(from->user_ids[i]);
            } else {
                to->user_ids[to->n_user_ids++] = from->user_ids[i];
            }
            from->user_ids[i] = NULL;
        }
    }
    if (append(&to->sessions, &to->n_sessions, from->sessions, &from->n_sessions,
               sizeof(*to->sessions)) ||
        append(&to->instances, &to->n_instances, from->instances, &from->n_instances,
               sizeof(*to->instances)))
        return -1;
    return 0;
}

/* Append node `id` to the ", "-separated list `buf`. */
static void name_node(char *buf, size_t len, const char *id)
{
    size_t n = strlen(buf);

    if (n < len)
        snprintf(buf + n, len - n, "%s%s", n ? ", " : "", id);
}

static void on_gathered(vr_cluster *c, const vr_gather_answer *answers, size_t n,
                        const char *missing, void *arg)
{
    vr_fwd *x = arg;
    verani_rpc_result out, one;
    char absent[160] = "", first_err[sizeof(out.error)] = "";
    int err = 0, first_status = 0, ok = 0;
    size_t i;

    (void)c;
    memset(&out, 0, sizeof(out));
    if (missing)
        name_node(absent, sizeof(absent), missing);
    for (i = 0; i < n; i++) {
        const vr_gather_answer *a = &answers[i];

        if (a->status || vr_forward_result_unpack(a->body, a->len, &one)) {
            name_node(absent, sizeof(absent), a->node);
            continue;
        }
        out.count += one.count;
        if (one.status == 0) {
            ok++;
            if (merge_into(&out, &one))
                err = VERANI_ENOMEM;
        } else if (!first_status || (first_status == VERANI_ENOTFOUND &&
                                     one.status != VERANI_ENOTFOUND)) {
            first_status = one.status; /* a refusal other than "not here" wins */
            snprintf(first_err, sizeof(first_err), "%s", one.error);
        }
        verani_rpc_result_free(&one);
    }
    if (absent[0]) {
        size_t reached = out.count;

        verani_rpc_result_free(&out);
        fwd_end(x, VERANI_ETIMEDOUT, "node(s) %s did not answer in time: no partial answer is "
                "given (the others counted %zu)", absent, reached);
        return;
    }
    if (err || (first_status && first_status != VERANI_ENOTFOUND) || (!ok && first_status)) {
        verani_rpc_result_free(&out);
        if (err)
            fwd_end(x, err, "out of memory");
        else
            fwd_end(x, first_status, "%s", first_err);
        return;
    }
    vr_rpc_result_sort(x->op, &out);
    fwd_result(x, &out);
}

/* The calls that cross: about one instance (`one`), or about every instance. */
static int known_op(int op, int one)
{
    switch (op) {
    case VR_RPC_EMIT:
    case VR_RPC_COUNT:
    case VR_RPC_USERS:
    case VR_RPC_USER_SESSIONS:
    case VR_RPC_KICK:
        return 1;
    case VR_RPC_INSTANCES:
    case VR_RPC_CLEANUP:
        return !one;
    default:
        return 0;
    }
}

static vr_mount *mount_of(verani_server *srv, const vr_rpc_req *rq)
{
    size_t i;

    if (rq->room)
        return vr_mount_find(srv, rq->room);
    for (i = 0; rq->room_def && i < srv->n_mounts; i++)
        if (srv->mounts[i]->def == rq->room_def)
            return srv->mounts[i];
    return NULL;
}

int vr_calls_forward(verani_server *srv, const vr_rpc_req *rq, vr_fwd_done done, void *arg)
{
    const verani_target *to = rq->to;
    vr_forward f;
    vr_instance *inst;
    const char *owner;
    vr_mount *m;
    vr_fwd *x;

    if (!srv->cluster || !known_op(rq->op, rq->instance != NULL))
        return 0;
    m = mount_of(srv, rq);
    if ((rq->room || rq->room_def) && !m)
        return 0; /* no such room: this node says so */
    inst = m && rq->instance ? vr_instance_get(m, rq->instance, 0) : NULL;
    if (rq->instance && inst && !vr_own_elsewhere(inst->own))
        return 0; /* this node's, or it is finding out: delivered here */
    memset(&f, 0, sizeof(f));
    f.op = (uint32_t)rq->op;
    f.room = m ? m->def->schema->name : "";
    f.every_room = !m;
    f.instance = rq->instance ? rq->instance : "";
    f.every_instance = !rq->instance;
    if (rq->op == VR_RPC_EMIT) {
        f.target_kind = (uint32_t)to->kind;
        f.target_name = to->name;
        f.user_ids = to->user_ids;
        f.n_user_ids = to->n_user_ids;
        f.client_ids = to->client_ids;
        f.n_client_ids = to->n_client_ids;
        f.frame = rq->frame->body;
        f.frame_len = rq->frame->len;
    }
    f.fingerprint = m ? m->def->schema->fingerprint : NULL;
    f.name = rq->name;
    f.reason = rq->reason;
    f.code = rq->code;
    x = vr_calloc(1, sizeof(*x));
    if (!x)
        return 0; /* out of memory: delivered here, to nobody */
    x->srv = srv;
    x->op = rq->op;
    x->done = done;
    x->arg = arg;
    x->room = vr_strdup(f.room);
    x->instance = vr_strdup(f.instance);
    if (!x->room || !x->instance || vr_forward_pack(&f, &x->body, &x->len)) {
        fwd_end(x, VERANI_ENOMEM, "out of memory");
        return 1;
    }
    if (f.every_instance) { /* every node answers for the instances it owns */
        int r = vr_cluster_gather(srv->cluster, x->body, x->len, fwd_timeout_ms(srv), on_gathered,
                                  x);

        if (r)
            fwd_end(x, r, "the cluster cannot ask every node now: %s", verani_strerror(r));
        else
            srv->metrics.cluster_forwarded++;
        return 1;
    }
    owner = vr_owner_hinted(srv, x->room, x->instance);
    if (owner) {
        call_owner(x, owner);
        return 1;
    }
    if (vr_cluster_owner(srv->cluster, x->room, x->instance, on_owner, x))
        fwd_end(x, VERANI_EIO, "the cluster cannot say who serves %s '%s' now (Redis is not "
                "up)", x->room, x->instance);
    return 1;
}

/* --- the owner's side ------------------------------------------------------------------------ */

static void answer(vr_cluster *c, vr_bus_call *call, const verani_rpc_result *res)
{
    uint8_t *body = NULL;
    size_t len = 0;

    if (vr_forward_result_pack(res, &body, &len))
        vr_cluster_answer(c, call, VERANI_ENOMEM, NULL, 0);
    else
        vr_cluster_answer(c, call, 0, body, len);
    vr_free(body);
}

static void refuse(vr_cluster *c, vr_bus_call *call, int status, const char *fmt, ...)
    VERANI_PRINTF(4, 5);
static void refuse(vr_cluster *c, vr_bus_call *call, int status, const char *fmt, ...)
{
    verani_rpc_result res;
    va_list ap;

    va_start(ap, fmt);
    failed(&res, status, fmt, ap);
    va_end(ap);
    answer(c, call, &res);
}

void vr_calls_on_call(vr_cluster *c, vr_bus_call *call, const char *from, const uint8_t *body,
                      size_t len, void *arg)
{
    verani_server *srv = arg;
    verani_rpc_result res;
    vr_forward f;
    void *h = vr_forward_unpack(body, len, &f);
    const verani_room_schema *sc;
    verani_target to;
    vr_instance *inst;
    vr_frame *frame = NULL;
    vr_rpc_req rq;
    vr_mount *m;

    if (!h || !known_op((int)f.op, !f.every_instance) || (f.op == VR_RPC_EMIT && !f.frame_len)) {
        refuse(c, call, VERANI_EPROTO, "node %s sent a call this node does not know", from);
        vr_forward_unpacked_free(h);
        return;
    }
    m = f.every_room ? NULL : vr_mount_find(srv, f.room);
    sc = m ? m->def->schema : NULL;
    inst = m && !f.every_instance ? vr_instance_get(m, f.instance, 0) : NULL;
    if (!m && !f.every_room)
        refuse(c, call, VERANI_ENOTFOUND, "node %s mounts no room named '%.100s'",
               vr_cluster_node_id(c), f.room);
    else if (sc && f.fingerprint && sc->fingerprint && strcmp(f.fingerprint, sc->fingerprint))
        refuse(c, call, VERANI_EINVAL, "node %s runs another schema of room %s (fingerprint "
               "%.20s, the caller's %.20s): not done", vr_cluster_node_id(c), f.room,
               sc->fingerprint, f.fingerprint);
    else if (!f.every_instance && (!inst || inst->own != VR_OWN_HELD))
        refuse(c, call, VERANI_ENOTFOUND, "instance '%.100s' of %s is not node %s's now",
               f.instance, f.room, vr_cluster_node_id(c));
    else if (f.op == VR_RPC_EMIT && !(frame = vr_frame_new(f.frame_len)))
        refuse(c, call, VERANI_ENOMEM, "out of memory");
    else {
        memset(&rq, 0, sizeof(rq));
        rq.op = (vr_rpc_op)f.op;
        rq.room = f.every_room ? NULL : f.room;
        rq.instance = f.every_instance ? NULL : f.instance;
        rq.name = f.name;
        rq.reason = f.reason;
        rq.code = f.code;
        if (frame) {
            memcpy(frame->body, f.frame, f.frame_len);
            memset(&to, 0, sizeof(to));
            to.kind = (verani_target_kind)f.target_kind;
            to.name = f.target_name;
            to.user_ids = f.user_ids;
            to.n_user_ids = f.n_user_ids;
            to.client_ids = f.client_ids;
            to.n_client_ids = f.n_client_ids;
            rq.to = &to;
            rq.frame = frame;
        }
        vr_rpc_exec(srv, &rq, &res);
        vr_frame_unref(frame);
        answer(c, call, &res);
        verani_rpc_result_free(&res);
    }
    vr_forward_unpacked_free(h);
}
