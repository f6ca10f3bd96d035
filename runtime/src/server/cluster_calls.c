/* SPDX-License-Identifier: MIT */
/*
 * cluster_calls.c: outside calls for a room instance another node of the
 * cluster owns (shared/SCALEOUT.md section 3.6). An emit (verani_rpc_emit,
 * verani_rpc_broadcast, verani_server_emit_async) for an instance this node
 * does not hold goes to its owner: the owner is the node a lost claim named
 * (cluster_owner.c's hint) or the one Redis names, and the call crosses as
 * one Forward (cluster/forward.c) carrying the event already validated and
 * encoded here; the owner delivers it as its own emit would and answers how
 * many sessions it reached. Every failure is an error with its reason: no
 * node serves the instance, its owner is not live, did not answer in time, or
 * runs another schema of the room. Other calls answer from this node's own
 * sessions.
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

#define FWD_TIMEOUT_MS 5000

typedef struct vr_fwd {
    verani_server *srv;
    vr_fwd_done done;
    void *arg;
    char *room, *instance;           /* owned copies */
    uint8_t *body;                   /* owned: the packed Forward */
    size_t len;
} vr_fwd;

static void fwd_end(vr_fwd *x, int status, uint64_t count, const char *fmt, ...)
    VERANI_PRINTF(4, 5);
static void fwd_end(vr_fwd *x, int status, uint64_t count, const char *fmt, ...)
{
    verani_rpc_result res;
    va_list ap;

    memset(&res, 0, sizeof(res));
    res.status = status;
    res.count = (size_t)count;
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(res.error, sizeof(res.error), fmt, ap);
        va_end(ap);
    }
    if (status)
        x->srv->metrics.cluster_forward_failed++;
    x->done(x->srv, &res, x->arg);
    vr_free(x->room);
    vr_free(x->instance);
    vr_free(x->body);
    vr_free(x);
}

static void on_answer(vr_cluster *c, const char *node, int status, const uint8_t *body,
                      size_t len, void *arg)
{
    vr_fwd *x = arg;
    char error[sizeof(((verani_rpc_result *)0)->error)];
    uint64_t count = 0;
    int st = 0;

    (void)c;
    if (status == VERANI_ETIMEDOUT)
        fwd_end(x, status, 0, "node %s, the owner of %s '%s', did not answer in time", node,
                x->room, x->instance);
    else if (status)
        fwd_end(x, status, 0, "node %s, the owner of %s '%s', could not be called: %s", node,
                x->room, x->instance, verani_strerror(status));
    else if (vr_forward_result_unpack(body, len, &st, &count, error, sizeof(error)))
        fwd_end(x, VERANI_EPROTO, 0, "node %s answered something that is not a result", node);
    else
        fwd_end(x, st, count, st ? "%s" : NULL, error);
}

static void call_owner(vr_fwd *x, const char *owner)
{
    verani_server *srv = x->srv;
    int r;

    if (!vr_cluster_node_url(srv->cluster, owner)) {
        fwd_end(x, VERANI_ENOTFOUND, 0, "%s '%s' is node %s's, which is not live now", x->room,
                x->instance, owner);
        return;
    }
    r = vr_cluster_call(srv->cluster, owner, x->body, x->len, FWD_TIMEOUT_MS, on_answer, x);
    if (r)
        fwd_end(x, r, 0, "the cluster cannot carry the call now: %s", verani_strerror(r));
    else
        srv->metrics.cluster_forwarded++;
}

static void on_owner(vr_cluster *c, const char *owner, const char *error, void *arg)
{
    vr_fwd *x = arg;

    if (!x->srv->cluster)
        fwd_end(x, VERANI_ECLOSED, 0, "the server is stopping");
    else if (!owner)
        fwd_end(x, VERANI_EIO, 0, "the cluster did not say who serves %s '%s': %s", x->room,
                x->instance, error);
    else if (!*owner || !strcmp(owner, vr_cluster_node_id(c)))
        fwd_end(x, VERANI_ENOTFOUND, 0, "no node serves instance '%.100s' of %s now "
                "(instances exist while they have sessions)", x->instance, x->room);
    else
        call_owner(x, owner);
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

    if (!srv->cluster || rq->op != VR_RPC_EMIT || !rq->instance || !(m = mount_of(srv, rq)))
        return 0;
    inst = vr_instance_get(m, rq->instance, 0);
    if (inst && inst->own != VR_OWN_LOST)
        return 0; /* this node's, or it is finding out: delivered here */
    memset(&f, 0, sizeof(f));
    f.op = VR_RPC_EMIT;
    f.room = m->def->schema->name;
    f.instance = rq->instance;
    f.target_kind = (uint32_t)to->kind;
    f.target_name = to->name;
    f.user_ids = to->user_ids;
    f.n_user_ids = to->n_user_ids;
    f.client_ids = to->client_ids;
    f.n_client_ids = to->n_client_ids;
    f.frame = rq->frame->body;
    f.frame_len = rq->frame->len;
    f.fingerprint = m->def->schema->fingerprint;
    x = vr_calloc(1, sizeof(*x));
    if (!x)
        return 0; /* out of memory: delivered here, to nobody */
    x->srv = srv;
    x->done = done;
    x->arg = arg;
    x->room = vr_strdup(f.room);
    x->instance = vr_strdup(rq->instance);
    if (!x->room || !x->instance || vr_forward_pack(&f, &x->body, &x->len)) {
        fwd_end(x, VERANI_ENOMEM, 0, "out of memory");
        return 1;
    }
    owner = vr_owner_hinted(srv, x->room, x->instance);
    if (owner) {
        call_owner(x, owner);
        return 1;
    }
    if (vr_cluster_owner(srv->cluster, x->room, x->instance, on_owner, x))
        fwd_end(x, VERANI_EIO, 0, "the cluster cannot say who serves %s '%s' now (Redis is not "
                "up)", x->room, x->instance);
    return 1;
}

/* --- the owner's side ------------------------------------------------------------------------ */

static void answer(vr_cluster *c, vr_bus_call *call, int status, uint64_t count,
                   const char *error)
{
    uint8_t *body = NULL;
    size_t len = 0;

    if (vr_forward_result_pack(status, count, error, &body, &len))
        vr_cluster_answer(c, call, VERANI_ENOMEM, NULL, 0);
    else
        vr_cluster_answer(c, call, 0, body, len);
    vr_free(body);
}

void vr_calls_on_call(vr_cluster *c, vr_bus_call *call, const char *from, const uint8_t *body,
                      size_t len, void *arg)
{
    verani_server *srv = arg;
    verani_rpc_result res;
    char why[200];
    vr_forward f;
    void *h = vr_forward_unpack(body, len, &f);
    const verani_room_schema *sc;
    verani_target to;
    vr_instance *inst;
    vr_rpc_req rq;
    vr_frame *frame;
    vr_mount *m;

    if (!h || f.op != VR_RPC_EMIT || !f.frame_len) {
        snprintf(why, sizeof(why), "node %s sent a call this node does not know", from);
        answer(c, call, VERANI_EPROTO, 0, why);
        vr_forward_unpacked_free(h);
        return;
    }
    m = vr_mount_find(srv, f.room);
    sc = m ? m->def->schema : NULL;
    inst = m ? vr_instance_get(m, f.instance, 0) : NULL;
    if (!m) {
        snprintf(why, sizeof(why), "node %s mounts no room named '%.100s'",
                 vr_cluster_node_id(c), f.room);
        answer(c, call, VERANI_ENOTFOUND, 0, why);
    } else if (f.fingerprint && sc->fingerprint && strcmp(f.fingerprint, sc->fingerprint)) {
        snprintf(why, sizeof(why), "node %s runs another schema of room %s (fingerprint %.20s, "
                 "the caller's %.20s): not delivered", vr_cluster_node_id(c), f.room,
                 sc->fingerprint, f.fingerprint);
        answer(c, call, VERANI_EINVAL, 0, why);
    } else if (!inst || inst->own != VR_OWN_HELD) {
        snprintf(why, sizeof(why), "instance '%.100s' of %s is not node %s's now", f.instance,
                 f.room, vr_cluster_node_id(c));
        answer(c, call, VERANI_ENOTFOUND, 0, why);
    } else if (!(frame = vr_frame_new(f.frame_len))) {
        answer(c, call, VERANI_ENOMEM, 0, "out of memory");
    } else {
        memcpy(frame->body, f.frame, f.frame_len);
        memset(&to, 0, sizeof(to));
        to.kind = (verani_target_kind)f.target_kind;
        to.name = f.target_name;
        to.user_ids = f.user_ids;
        to.n_user_ids = f.n_user_ids;
        to.client_ids = f.client_ids;
        to.n_client_ids = f.n_client_ids;
        memset(&rq, 0, sizeof(rq));
        rq.op = VR_RPC_EMIT;
        rq.room = f.room;
        rq.instance = f.instance;
        rq.to = &to;
        rq.frame = frame;
        vr_rpc_exec(srv, &rq, &res);
        vr_frame_unref(frame);
        answer(c, call, res.status, res.count, res.status ? res.error : NULL);
        verani_rpc_result_free(&res);
    }
    vr_forward_unpacked_free(h);
}
