/* SPDX-License-Identifier: MIT */
/*
 * defer.c: what outlives the handler that made it: a deferred reply
 * (verani_ctx_defer, verani_reply_send / _error) and the session a worker
 * job's completion runs with (workers.c). Both hold a session reference, a
 * slot of the server's table `srefs` named by its index and generation. The
 * table is the loop's: a reference is taken, looked up and dropped on the
 * loop thread only, so a handle that crosses threads carries just the two
 * numbers. A resume moves the references of the old session object to the
 * new one (vr_sref_moved); a session that ends drops its own (vr_sref_gone),
 * and a reference whose slot moved on to a new generation finds nothing.
 *
 * Ownership: a verani_reply is the application's from verani_ctx_defer until
 * verani_reply_send or _error frees it. Its answer travels as a frame encoded
 * on the caller's thread, handed to the loop by the rpc queue (rpc.c:
 * vr_rpc_reply), or delivered at once on the loop thread.
 */
#include <stdio.h>
#include <string.h>

#include "core/core-private.h"
#include "server-int.h"

struct verani_reply {
    verani_server *srv;
    uint32_t slot, gen;              /* the request's reference (a reply one) */
    const verani_event_def *ev;      /* the request's event: its `returns` type */
    uint64_t request_id;
};

/* At most 256 bytes of an application's error message go over the wire. */
#define VR_REPLY_ERROR_MAX 256

/* --- the table ------------------------------------------------------------ */

int vr_sref_take(verani_session *s, int reply, uint64_t request_id, uint32_t event,
                 uint32_t *slot, uint32_t *gen)
{
    verani_server *srv = s->srv;
    vr_sref *r;
    uint32_t i;

    if (srv->sref_free) {
        i = srv->sref_free - 1;
        srv->sref_free = srv->srefs[i].next_free;
    } else {
        if (srv->n_srefs == srv->cap_srefs) {
            uint32_t nc = srv->cap_srefs ? srv->cap_srefs * 2 : 64;
            vr_sref *n = nc > srv->cap_srefs ? vr_reallocarray(srv->srefs, nc, sizeof(*n)) : NULL;

            if (!n)
                return VERANI_ENOMEM;
            memset(n + srv->cap_srefs, 0, (nc - srv->cap_srefs) * sizeof(*n));
            srv->srefs = n;
            srv->cap_srefs = nc;
        }
        i = srv->n_srefs++;
    }
    r = &srv->srefs[i];
    r->s = s;
    r->next_free = 0;
    r->reply = reply ? 1 : 0;
    r->request_id = request_id;
    r->event = event;
    s->n_srefs++;
    *slot = i;
    *gen = r->gen;
    return 0;
}

static vr_sref *sref_at(verani_server *srv, uint32_t slot, uint32_t gen)
{
    vr_sref *r = slot < srv->n_srefs ? &srv->srefs[slot] : NULL;

    return r && r->s && r->gen == gen ? r : NULL;
}

verani_session *vr_sref_get(verani_server *srv, uint32_t slot, uint32_t gen)
{
    vr_sref *r = sref_at(srv, slot, gen);

    return r ? r->s : NULL;
}

static void sref_release(verani_server *srv, vr_sref *r)
{
    r->s->n_srefs--;
    r->s = NULL;
    r->gen++;
    r->next_free = srv->sref_free;
    srv->sref_free = (uint32_t)(r - srv->srefs) + 1;
}

void vr_sref_drop(verani_server *srv, uint32_t slot, uint32_t gen)
{
    vr_sref *r = sref_at(srv, slot, gen);

    if (r)
        sref_release(srv, r);
}

void vr_sref_gone(verani_session *s)
{
    verani_server *srv = s->srv;
    uint32_t i;

    for (i = 0; s->n_srefs && i < srv->n_srefs; i++)
        if (srv->srefs[i].s == s)
            sref_release(srv, &srv->srefs[i]);
}

void vr_sref_moved(verani_session *from, verani_session *to)
{
    verani_server *srv = from->srv;
    uint32_t i;

    for (i = 0; from->n_srefs && i < srv->n_srefs; i++)
        if (srv->srefs[i].s == from) {
            srv->srefs[i].s = to;
            from->n_srefs--;
            to->n_srefs++;
        }
}

void vr_sref_free_all(verani_server *srv)
{
    vr_free(srv->srefs);
    srv->srefs = NULL;
    srv->n_srefs = srv->cap_srefs = srv->sref_free = 0;
}

/* --- the loop's side of an answer ------------------------------------------ */

/* The envelope of an answer to request `request_id` of event `event`. */
static void answer_env(vr_envelope *env, int kind, uint64_t request_id, uint32_t event)
{
    env->has_kind = 1;
    env->kind = kind;
    env->has_request_id = 1;
    env->request_id = request_id;
    env->has_event = 1;
    env->event = event;
}

void vr_defer_deliver(verani_server *srv, uint32_t slot, uint32_t gen, vr_frame *f, int reply)
{
    vr_sref *r = sref_at(srv, slot, gen);
    vr_envelope req = VERANI__WIRE__ENVELOPE__INIT;
    verani_session *s;
    char msg[160];

    if (!r || !r->reply) {
        srv->metrics.deferred_dropped++;
        VR_INFO("a deferred answer found no request: its session ended, or its handler "
                "failed after deferring\n");
        return;
    }
    s = r->s;
    answer_env(&req, VERANI__WIRE__KIND__REQUEST, r->request_id, r->event);
    sref_release(srv, r);
    if (!reply) {
        vr_metrics_error(&srv->metrics, VERANI__WIRE__ERROR_CODE__HANDLER_FAILED);
        if (vr_session_send_frame(s, f, 0))
            srv->metrics.deferred_dropped++; /* no connection now, or closing */
    } else if (!vr_frame_fits(srv, f)) {
        snprintf(msg, sizeof(msg), "the reply is %zu bytes, more than this session's "
                 "outbound queue holds (%zu bytes): not sent", (size_t)f->len,
                 srv->opts.queue_max_bytes);
        VR_WARN("session %s: %s\n", s->client_id, msg);
        vr_session_error(s, VERANI__WIRE__ERROR_CODE__TOO_LARGE, &req, msg, NULL);
    } else if (vr_session_send_frame(s, f, 1)) {
        srv->metrics.deferred_dropped++; /* closing, or the slow-consumer policy took it */
    }
}

void vr_defer_end(verani_server *srv)
{
    vr_envelope req = VERANI__WIRE__ENVELOPE__INIT;
    uint32_t i;

    for (i = 0; i < srv->n_srefs; i++) {
        vr_sref *r = &srv->srefs[i];
        verani_session *s = r->s;

        if (!s || !r->reply)
            continue;
        answer_env(&req, VERANI__WIRE__KIND__REQUEST, r->request_id, r->event);
        sref_release(srv, r);
        vr_session_error(s, VERANI__WIRE__ERROR_CODE__HANDLER_FAILED, &req,
                         "the server stopped before the request was answered", NULL);
    }
}

/* --- the application's side -------------------------------------------- */

verani_reply *verani_ctx_defer(verani_ctx *ctx)
{
    verani_reply *h;

    if (!ctx || !ctx->req || !ctx->req_ev || !ctx->sess || ctx->deferred ||
        ctx->req->kind != VERANI__WIRE__KIND__REQUEST)
        return NULL;
    h = vr_calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    if (vr_sref_take(ctx->sess, 1, ctx->req->request_id, ctx->req->event, &h->slot, &h->gen)) {
        vr_free(h);
        return NULL;
    }
    h->srv = ctx->srv;
    h->ev = ctx->req_ev;
    h->request_id = ctx->req->request_id;
    ctx->deferred = 1;
    ctx->defer_slot = h->slot;
    ctx->defer_gen = h->gen;
    ctx->srv->metrics.deferred_replies++;
    return h;
}

/* Hand answer frame `f` (the caller's reference, given up) for `h` to the loop; frees `h`. */
static int submit(verani_reply *h, vr_frame *f, int reply)
{
    verani_server *srv = h->srv;
    int r = 0;

    if (!f) {
        r = VERANI_ENOMEM;
    } else if (vr_rpc_on_loop(srv)) {
        /* stopping: vr_defer_end has answered every request already */
        if (srv->stopping) {
            srv->metrics.deferred_dropped++;
            r = VERANI_ECLOSED;
        } else {
            vr_defer_deliver(srv, h->slot, h->gen, f, reply);
        }
        vr_frame_unref(f);
    } else
        r = vr_rpc_reply(srv, h->slot, h->gen, f, reply);
    vr_free(h);
    return r;
}

/* The ERROR HANDLER_FAILED frame answering `h` with `message`. */
static vr_frame *error_frame(const verani_reply *h, const char *message)
{
    vr_envelope env = VERANI__WIRE__ENVELOPE__INIT;
    Verani__Wire__Error err = VERANI__WIRE__ERROR__INIT;
    char text[VR_REPLY_ERROR_MAX + 1];

    answer_env(&env, VERANI__WIRE__KIND__ERROR, h->request_id, h->ev->id);
    snprintf(text, sizeof(text), "%s", message ? message : "the server failed to handle the "
             "event");
    err.has_code = 1;
    err.code = VERANI__WIRE__ERROR_CODE__HANDLER_FAILED;
    err.message = text;
    env.error = &err;
    return vr_frame_encode(&env, NULL);
}

int verani_reply_send(verani_reply *h, const ProtobufCMessage *msg)
{
    vr_envelope env = VERANI__WIRE__ENVELOPE__INIT;
    verani_verr verr;
    char why[VERANI_VERR_PATH_MAX + VERANI_VERR_REASON_MAX + 96];
    int r;

    if (!h)
        return VERANI_EINVAL;
    memset(&verr, 0, sizeof(verr));
    if (!msg || msg->descriptor != h->ev->out) {
        snprintf(why, sizeof(why), "deferred reply of '%s': not a %s", h->ev->name,
                 h->ev->out->name);
        VR_WARN("%s\n", why);
        r = submit(h, error_frame(h, NULL), 0);
        return r ? r : VERANI_EINVAL;
    }
    if (h->ev->validate_out && h->ev->validate_out(msg, &verr)) {
        snprintf(why, sizeof(why), "deferred reply of '%s' fails validation: %s: %s",
                 h->ev->name, verr.path, verr.reason);
        VR_WARN("%s\n", why);
        r = submit(h, error_frame(h, NULL), 0);
        return r ? r : VERANI_EINVAL;
    }
    answer_env(&env, VERANI__WIRE__KIND__REPLY, h->request_id, h->ev->id);
    return submit(h, vr_frame_encode(&env, msg), 1);
}

int verani_reply_error(verani_reply *h, const char *message)
{
    if (!h)
        return VERANI_EINVAL;
    return submit(h, error_frame(h, message), 0);
}
