/* SPDX-License-Identifier: MIT */
/*
 * session.c: a session's lifetime on the server: created at ESTABLISHED from
 * the pending upgrade, the public verani_session_* accessors, detached when
 * its connection drops (kept for a resume during the grace period, bounded by
 * max_detached), and ended (out of its instance, on_disconnect, freed). What
 * arrives is dispatch.c's, what leaves outq.c's, the HELLO hello.c's, the
 * channels channels.c's, the session store persist.c's.
 */
#include <string.h>

#include "core/core-private.h"
#include "server-int.h"

/* --- session accessors --------------------------------------------------- */

const char *verani_session_user_id(const verani_session *s) { return s ? s->user_id : NULL; }
const char *verani_session_client_id(const verani_session *s) { return s ? s->client_id : NULL; }
size_t verani_session_channel_count(const verani_session *s) { return s ? s->n_channels : 0; }

const char *verani_session_channel(const verani_session *s, size_t i)
{
    return s && i < s->n_channels ? vr_session_chan_name(s, i) : NULL;
}

int verani_session_in_channel(const verani_session *s, const char *channel)
{
    size_t i;

    for (i = 0; s && channel && i < s->n_channels; i++)
        if (!strcmp(vr_session_chan_name(s, i), channel))
            return 1;
    return 0;
}

verani_session *vr_session_new(verani_server *srv, struct lws *wsi, vr_pending *p)
{
    verani_session *s = vr_calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->srv = srv;
    s->wsi = wsi;
    s->inst = p->inst;       /* takes over p's `pending` count */
    s->user_id = p->user_id; /* ownership moves from the pending upgrade */
    s->meta = p->meta;
    s->meta_len = p->meta_len;
    s->json = p->json ? 1 : 0;
    if (p->chans.n) { /* extract_meta asked for channels: kept until the HELLO */
        if (!vr_session_ext_get(s)) {
            vr_free(s);
            return NULL;
        }
        s->x->want_chans = p->chans;
        memset(&p->chans, 0, sizeof(p->chans));
    }
    p->inst = NULL;
    p->user_id = NULL;
    p->meta = NULL;
    vr_outq_init(&s->q);
    memcpy(s->epoch, srv->epoch, sizeof(s->epoch));
    lws_dll2_add_tail(&s->all, &srv->sessions);
    lws_dll2_add_tail(&s->tnode, &srv->handshaking); /* the hello timeout (sweep.c) */
    s->last_rx_us = lws_now_usecs();
    vr_bucket_init(&s->bucket, vr_session_rate(s), s->last_rx_us);
    return s;
}

static void session_end(verani_session *s);

int vr_session_peer_close(verani_session *s, int code)
{
    if (s->close_sent)
        return 1; /* the answer to ours: it says nothing of what the client meant */
    /* the client said goodbye (a tab closing sends 1001): no resume, on_disconnect now */
    if (code == VR_CLOSE_NORMAL || code == VR_CLOSE_GOING_AWAY)
        s->peer_closed = 1;
    return 0;
}

void vr_session_drop(verani_session *s)
{
    s->saved = 1; /* no on_disconnect: another node answers for the session now */
    if (s->detached)
        session_end(s);
}

void vr_session_handed(verani_session *s, int stored)
{
    s->handover = 0;
    if (stored)
        s->saved = 1; /* no on_disconnect: the next owner answers for the session now */
    if (s->detached)
        session_end(s);
}

void vr_session_grace_expired(verani_session *s)
{
    VR_INFO("session %s (user %s): not resumed within the grace period\n", s->client_id,
            s->user_id);
    session_end(s);
}

/*
 * Which drops leave the session waiting for a resume: every close the server
 * did not ask for (a network error, a vanished peer, a close frame other than
 * 1000 and 1001), and the idle timeout (a dead network looks like that). Not:
 * a close frame with 1000 or 1001 (the client meant it), a kick or any other
 * close the server or the application started (1008, 1009, 1011, 4000,
 * verani_ctx_close), a graceful stop, any drop when resume is off, or any drop of a session
 * on the JSON wire.
 */
static int detachable(const verani_session *s)
{
    if (s->json)
        return 0; /* Verani's client never resumes: a reconnect is a new session */
    if (s->added && s->handover)
        return 1; /* Redis is storing it: ended when it answers (vr_session_handed) */
    /* a connection that ends after a stop was asked, before the loop began it, detaches
     * too: the stop then saves it or hands it over with the others, not ends it */
    return s->added && !s->peer_closed && !s->srv->stopping &&
           s->srv->opts.resume_grace_ms != VERANI_RESUME_OFF &&
           (!s->closing || s->close_code == VR_CLOSE_IDLE ||
            (s->fenced && s->inst->own != VR_OWN_LOST));
}

int vr_session_saved_for_restart(const verani_session *s)
{
    return s->saved && s->srv->stopping && !s->srv->cluster;
}

int vr_session_detaching(const verani_session *s)
{
    return s->closing && s->wsi && !s->handover && detachable(s);
}

/* Past max_detached, the sessions lost longest ago end (on_disconnect) before their grace
 * period: what waits for a resume is bounded like what is connected. */
void vr_sessions_detached_bound(verani_server *srv)
{
    while (srv->detached.count > srv->opts.max_detached) {
        verani_session *o = lws_container_of(srv->detached.head, verani_session, all);

        VR_WARN("session %s (user %s): %u sessions wait for a resume, the max_detached limit: "
                "the oldest ends\n", o->client_id, o->user_id, srv->detached.count);
        srv->metrics.detached_dropped++;
        session_end(o);
    }
}

static void detach(verani_session *s)
{
    verani_server *srv = s->srv;

    s->wsi = NULL;
    s->closing = 0;
    s->detached = 1;
    s->write_asked = s->rx_paused = s->ping_pending = s->pinged = 0;
    vr_session_undirty(s);
    vr_timer_unlink(s);
    s->last_rx_us = lws_now_usecs(); /* the grace period counts from here (sweep.c) */
    vr_outq_fini(&s->q); /* its sequenced frames are in `retained` */
    if (s->x)
        s->x->n_gruns = 0; /* and so are those the output gate held */
    vr_free(s->rx);
    s->rx = NULL;
    lws_dll2_remove(&s->all);
    lws_dll2_add_tail(&s->all, &srv->detached);
    VR_INFO("session %s (user %s): connection lost, kept %u ms for a resume (seq %llu)\n",
            s->client_id, s->user_id, srv->opts.resume_grace_ms, (unsigned long long)s->seq);
    vr_sessions_detached_bound(srv);
}

void vr_sessions_end_detached(verani_server *srv)
{
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&srv->detached)) {
        session_end(lws_container_of(d, verani_session, all));
    } lws_end_foreach_dll_safe(d, d1);
}

int vr_session_kill_stuck(verani_session *s)
{
    if (!s->closing || !s->wsi)
        return 0;
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    return 1;
}

/* Free what a session owns besides its list entries and timer. */
void vr_session_free(verani_session *s)
{
    vr_sref_gone(s); /* its deferred replies and jobs find no session from now on */
    if (!s->added)
        vr_dll2_unlink(&s->node); /* waiting for its instance's claim (cluster_owner.c) */
    vr_timer_unlink(s);
    vr_session_undirty(s);
    vr_outq_fini(&s->q);
    vr_outq_fini(&s->retained);
    if (s->x) {
        vr_dll2_unlink(&s->x->store_node);
        vr_dll2_unlink(&s->x->repl_node);
        vr_free(s->x->gruns);
        vr_free(s->x->want_chans.buf);
        verani__wire__hello__free_unpacked(s->x->hello, &vr_pb_allocator);
        vr_free(s->x->close_reason);
        vr_free(s->x);
    }
    vr_session_channels_clear(s);
    vr_free(s->user_id);
    vr_free(s->meta);
    vr_free(s->rx);
    vr_free(s);
}

vr_session_ext *vr_session_ext_get(verani_session *s)
{
    if (!s->x && (s->x = vr_calloc(1, sizeof(*s->x))))
        s->x->s = s;
    return s->x;
}

void vr_session_prev_token_set(verani_session *s, const uint8_t *tok)
{
    uint32_t grace = s->srv->opts.resume_grace_ms;

    if (grace == VERANI_RESUME_OFF)
        return; /* nothing resumes */
    if (!vr_session_ext_get(s)) {
        VR_WARN("session %s: out of memory: the token its client presented no longer "
                "resumes it, should this WELCOME be lost\n", s->client_id);
        return;
    }
    memcpy(s->x->prev_token, tok, sizeof(s->x->prev_token));
    s->x->prev_until_us = (int64_t)lws_now_usecs() + (int64_t)grace * 1000;
}

const uint8_t *vr_session_prev_token(const verani_session *s)
{
    return s->x && s->x->prev_until_us > (int64_t)lws_now_usecs() ? s->x->prev_token : NULL;
}

void vr_session_prev_hex(const verani_session *s, char out[33])
{
    const uint8_t *p = vr_session_prev_token(s);

    if (p)
        vr_hex(out, p, 16);
    else
        out[0] = '\0';
}

void vr_session_prev_token_set_hex(verani_session *s, const char *hex)
{
    uint8_t tok[16];

    if (hex && *hex && !vr_unhex(tok, hex, sizeof(tok)))
        vr_session_prev_token_set(s, tok);
}

void vr_session_closed(verani_session *s)
{
    if (detachable(s)) {
        detach(s);
        return;
    }
    session_end(s);
}

/* The session is gone: out of its instance, on_disconnect, freed. */
static void session_end(verani_session *s)
{
    vr_instance *inst = s->inst;

    s->wsi = NULL;
    s->closing = 1;
    s->detached = 0;
    vr_timer_unlink(s);
    lws_dll2_remove(&s->all);
    if (s->added && !s->saved && vr_store_persistent(s->srv))
        vr_attachment_delete(s);
    if (s->added && s->saved && s->resave)
        vr_session_resave(s);
    if (s->added && !s->saved)
        vr_replica_session_delete(s); /* a cluster node's record of it, in Redis */
    if (s->added) {
        struct verani_ctx ctx;
        const verani_hooks *h = vr_hooks_of(inst->mount);

        lws_dll2_remove(&s->node);
        s->added = 0;
        /* a session saved for a restart is not gone: it comes back detached */
        if (h->on_disconnect && !s->saved) {
            vr_ctx_init(&ctx, s->srv, inst->mount, inst, s);
            vr_hook_call(&ctx, VR_HOOK_DISCONNECT, NULL);
            vr_ctx_fini(&ctx);
        }
    } else if (inst) {
        inst->pending--;
    }
    vr_instance_maybe_free(inst);
    vr_session_free(s);
}
