/* SPDX-License-Identifier: MIT */
/*
 * hello.c: a session's HELLO and the WELCOME that answers it: a fresh
 * session (its first channels, on_connect), or a resume (PROTOCOL.md
 * section 3): a HELLO with a session's resume token moves that session onto
 * the new connection and replays what the client had not read, telling it
 * when some of that is no longer retained.
 */
#include <string.h>

#include "core/core-private.h"
#include "server-int.h"

/* --- hello --------------------------------------------------------------- */

/* Equal tokens, in time that does not depend on where they differ. */
static int token_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    unsigned char d = 0;
    size_t i;

    for (i = 0; i < n; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

/* Does `want` resume `o`: its current token, or the previous one while that still counts
 * (vr_session_prev_token: the WELCOME that replaced it may have been lost)? Both compared in
 * constant time. */
static int token_resumes(const verani_session *o, const uint8_t *want, size_t n)
{
    const uint8_t *prev = vr_session_prev_token(o);
    int cur = token_equal(o->resume_token, want, n);

    return (prev ? token_equal(prev, want, n) : 0) | cur;
}

/*
 * The session of this instance that `token` resumes: hello done, not being
 * closed by the server (unless with a close that leaves it waiting for a
 * resume: vr_session_detaching), the same user id. NULL when none (a wrong,
 * stale, replaced or foreign token: the caller starts a fresh session). The
 * token, binary, into `presented`.
 */
static verani_session *find_resumable(verani_session *s, const char *token,
                                      uint8_t *presented)
{
    verani_session *found = NULL;
    size_t n = sizeof(s->resume_token);

    if (!token || vr_unhex(presented, token, n) || !s->user_id)
        return NULL; /* not 32 lowercase hex digits: none of ours */
    if (s->srv->opts.resume_grace_ms == VERANI_RESUME_OFF)
        return NULL; /* resume is off: every HELLO starts a fresh session */
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&s->inst->sessions)) {
        verani_session *o = lws_container_of(d, verani_session, node);

        if (o != s && o->added && vr_session_reachable(o) && o->user_id &&
            !strcmp(o->user_id, s->user_id) && token_resumes(o, presented, n))
            found = o;
    } lws_end_foreach_dll(d);
    return found;
}

/*
 * Move session `o` (detached, or still on an older connection that is then
 * dropped) into `s`, the new connection's session, which has not joined the
 * instance yet: client id, meta, channels, seq and retained frames. `o` is
 * freed without on_disconnect.
 */
static void adopt(verani_session *s, verani_session *o)
{
    size_t i;

    if (o->wsi) {
        VR_INFO("session %s: resumed on a new connection; the old one is dropped\n",
                o->client_id);
        vr_wsi_session_forget(o->wsi); /* its CLOSED no longer concerns this session */
        lws_set_timeout(o->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        o->wsi = NULL;
    }
    memcpy(s->client_id, o->client_id, sizeof(s->client_id));
    vr_free(s->meta);
    s->meta = o->meta;
    s->meta_len = o->meta_len;
    o->meta = NULL;
    vr_session_channels_clear(s); /* none: it has not joined anything before its hello */
    s->chan0 = o->chan0;
    s->chan_more = o->chan_more;
    s->n_channels = o->n_channels;
    s->cap_more = o->cap_more;
    for (i = 0; i < s->n_channels; i++) { /* the same instance: only the member changes */
        vr_chanref *r = vr_session_chan(s, i);

        r->ch->members[r->idx] = s;
    }
    o->chan_more = NULL;
    o->n_channels = o->cap_more = 0;
    s->seq = o->seq;
    memcpy(s->epoch, o->epoch, sizeof(s->epoch));
    s->retained = o->retained;
    vr_outq_init(&o->retained);
    s->bucket = o->bucket;   /* a reconnect does not refill the rate limit */
    vr_sref_moved(o, s);     /* deferred replies and jobs reach the new connection */
    vr_timer_unlink(o);
    lws_dll2_remove(&o->all);
    lws_dll2_remove(&o->node);
    o->added = 0;
    vr_session_free(o);
}

/* Queue the WELCOME (and a SCHEMA_MISMATCH warning when `mismatch`) ahead of what the session
 * already holds (what on_connect emitted to it), so it is the first frame on the wire. */
static void welcome_first(verani_session *s, vr_envelope *welcome, int mismatch)
{
    vr_outq later = s->q;
    uint32_t i;

    vr_outq_init(&s->q);
    vr_session_send(s, welcome, NULL, 0);
    if (mismatch)
        vr_session_error(s, VERANI__WIRE__ERROR_CODE__SCHEMA_MISMATCH, NULL,
                         "the client was generated from a different schema than the server", NULL);
    for (i = 0; i < later.count; i++) {
        const vr_qent *e = vr_outq_at(&later, i);

        if (vr_outq_push(&s->q, e->frame, e->seq, UINT32_MAX, SIZE_MAX))
            VR_WARN("session %s: out of memory queueing frame %llu\n", s->client_id,
                    (unsigned long long)e->seq);
    }
    vr_outq_fini(&later);
}

/*
 * Resume `old` on this session (adopt): returns whether every frame after the client's
 * last_seq is still retained (*last receives that seq, 0 from another epoch).
 */
static int resume(verani_session *s, verani_session *old, const Verani__Wire__Hello *hello,
                  uint64_t *last)
{
    /* A HELLO from another epoch (the server crashed since that client's welcome): its
     * last_seq counts a stream that is gone, so every frame of this epoch is new to it,
     * and what the crash lost after its last_seq cannot be known: recovery failed. */
    int other_epoch = hello->epoch && *hello->epoch && strcmp(hello->epoch, old->epoch);
    int recovered;

    *last = hello->has_last_seq && !other_epoch ? hello->last_seq : 0;
    adopt(s, old);
    /* what aged out is gone, whatever the count bound says */
    vr_retain_trim(&s->retained, vr_now_us() -
                   (int64_t)s->srv->opts.retain_max_age_ms * 1000);
    recovered = vr_retain_replay(&s->retained, *last, s->seq, NULL) == 1 && !other_epoch;
    VR_INFO("session %s (user %s) resumed after seq %llu (now %llu)%s\n", s->client_id,
            s->user_id, (unsigned long long)*last, (unsigned long long)s->seq,
            recovered ? "" : ": some frames are no longer retained");
    if (recovered)
        s->srv->metrics.resumes_recovered++;
    else
        s->srv->metrics.resumes_failed++;
    return recovered;
}

/* The HELLO is accepted: idle checks from now on, the first channels of a fresh session,
 * the attachment, and a place among the instance's sessions. -1 when it had to close. */
static int admit(verani_session *s, int fresh)
{
    vr_instance *inst = s->inst;

    s->hello_done = 1;
    s->proto_errors = 0;
    /* from now on the sweep does idle checks, counted from the HELLO */
    vr_timer_unlink(s);
    s->last_rx_us = lws_now_usecs();
    lws_dll2_add_tail(&s->tnode, &s->srv->lru);
    if (fresh && vr_session_initial_channels(s) < 0) {
        vr_session_close(s, VR_CLOSE_INTERNAL, "internal error", 0);
        return -1;
    }
    vr_attachment_store(s);
    inst->pending--;
    lws_dll2_add_tail(&s->node, &inst->sessions);
    s->added = 1;
    return 0;
}

/* A fresh session's on_connect, before the WELCOME is built, so the channels it joins are in
 * it; what it emits to the session is queued behind the WELCOME (welcome_first). -1 when it
 * failed and the session is closing. */
static int connected(verani_session *s)
{
    vr_instance *inst = s->inst;
    struct verani_ctx ctx;
    int r;

    VR_INFO("session %s (user %s) joined %s '%s'\n", s->client_id, s->user_id,
            inst->mount->def->schema->name, inst->name);
    if (!vr_hooks_of(inst->mount)->on_connect)
        return 0;
    vr_ctx_init(&ctx, s->srv, inst->mount, inst, s);
    r = vr_hook_call(&ctx, VR_HOOK_CONNECT, NULL);
    vr_ctx_fini(&ctx);
    if (r >= 0)
        return 0;
    /* No orphan: the session leaves before the close, without on_disconnect, and without a
     * WELCOME. */
    lws_dll2_remove(&s->node);
    s->added = 0;
    inst->pending++;
    vr_outq_fini(&s->q);
    vr_session_close(s, VR_CLOSE_INTERNAL, "internal server error", 0);
    return -1;
}

/* Queue the WELCOME first, with a SCHEMA_MISMATCH warning when the client's fingerprint is
 * not the room's. */
static void welcome(verani_session *s, const Verani__Wire__Hello *hello, int resumed,
                    int recovered)
{
    const verani_room_schema *sc = s->inst->mount->def->schema;
    vr_envelope out = VERANI__WIRE__ENVELOPE__INIT;
    Verani__Wire__Welcome w = VERANI__WIRE__WELCOME__INIT;
    char token[2 * sizeof(s->resume_token) + 1];
    vr_chan_names c;

    out.has_kind = 1;
    out.kind = VERANI__WIRE__KIND__WELCOME;
    w.has_protocol = 1;
    w.protocol = VR_WIRE_PROTOCOL;
    w.client_id = s->client_id;
    w.user_id = s->user_id;
    vr_hex(token, s->resume_token, sizeof(s->resume_token));
    w.resume_token = token;
    w.fingerprint = (char *)sc->fingerprint;
    if (vr_chan_names_get(s, &c))
        VR_WARN("session %s: out of memory listing its channels; its WELCOME names none\n",
                s->client_id);
    w.n_channels = c.n;
    w.channels = c.v;
    w.has_max_frame = 1;
    w.max_frame = sc->max_frame;
    w.has_seq = 1;
    w.seq = resumed ? s->seq : 0; /* a new session's first seq is 1, on_connect's frames too */
    w.epoch = s->epoch;
    w.has_resumed = 1;
    w.resumed = resumed;
    w.has_recovery_failed = 1;
    w.recovery_failed = !recovered;
    out.welcome = &w;
    welcome_first(s, &out, hello && hello->fingerprint && sc->fingerprint &&
                           strcmp(hello->fingerprint, sc->fingerprint));
    vr_chan_names_fini(&c);
}

/* The replay: what is still retained after `last`, even when some is missing
 * (recovery_failed tells the client to resync; what is there still arrives in order). Past
 * the queue bound on purpose: the retained window bounds it. */
static void replay(verani_session *s, uint64_t last)
{
    uint32_t before = s->q.count;

    if (vr_retain_replay(&s->retained, last, s->seq, &s->q) < 0)
        VR_WARN("session %s: out of memory replaying; the client sees a gap\n",
                s->client_id);
    /* a cluster node: the replay waits behind the WELCOME, and behind any writes of its
     * instance Redis has not acknowledged (a frame held by the gate may be among them) */
    if (s->srv->replica)
        vr_gate_hold(s, s->q.count - before);
    /* new frames still fit behind the replay until the queue drains once */
    if (s->q.count && vr_session_ext_get(s)) { /* else the bound applies as ever */
        s->x->replay_frames = s->q.count;
        s->x->replay_bytes = s->q.bytes;
    }
    if (s->q.count && !s->write_asked) {
        s->write_asked = 1;
        lws_callback_on_writable(s->wsi);
    }
}

void vr_session_hello(verani_session *s, const vr_envelope *env)
{
    const Verani__Wire__Hello *hello = env->hello;
    verani_session *old;
    uint8_t rnd[32], presented[sizeof(s->resume_token)];
    uint64_t last = 0;
    int recovered = 1;

    if (hello && hello->has_protocol && hello->protocol != VR_WIRE_PROTOCOL) {
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, env,
                          "unsupported protocol version; this server speaks protocol 1", NULL);
        return;
    }
    if (!vr_owner_serving(s))
        return; /* a cluster's node that does not serve the instance now: 1013 */
    old = hello ? find_resumable(s, hello->resume_token, presented) : NULL;
    if (vr_rndpool_draw(&s->srv->rnd, rnd, sizeof(rnd))) { /* the client id and the token */
        vr_session_close(s, VR_CLOSE_INTERNAL, "internal error", 0);
        return;
    }
    if (!old)
        vr_uuid4_from(s->client_id, rnd);
    memcpy(s->resume_token, rnd + 16, sizeof(s->resume_token));
    vr_wipe(rnd, sizeof(rnd)); /* the token's bytes leave no copy on the stack */
    if (old) {
        recovered = resume(s, old, hello, &last);
        vr_session_prev_token_set(s, presented); /* until the WELCOME's token is presented */
    }
    else if (hello && hello->resume_token && *hello->resume_token)
        s->srv->metrics.resumes_refused++; /* a fresh session instead */
    if (admit(s, !old) < 0 || (!old && connected(s) < 0))
        return;
    welcome(s, hello, old != NULL, recovered);
    if (old)
        replay(s, last);
}

/* A folded HELLO read as the first frame would be: the same answers, the same errors (one
 * with an unsupported protocol is refused with ERROR PROTOCOL, and a HELLO frame may follow). */
static void folded_read(verani_session *s, Verani__Wire__Hello *hello)
{
    vr_envelope env = VERANI__WIRE__ENVELOPE__INIT;

    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__HELLO;
    env.hello = hello;
    vr_session_hello(s, &env);
    verani__wire__hello__free_unpacked(hello, &vr_pb_allocator);
}

void vr_session_fold_hello(verani_session *s, Verani__Wire__Hello *hello)
{
    if (!s->closing && s->wsi && lws_dll2_is_detached(&s->node)) {
        folded_read(s, hello);
        return;
    }
    if (!s->closing && s->wsi && vr_session_ext_get(s)) {
        s->x->hello = hello; /* in inst->held: read once the instance is this node's */
        return;
    }
    if (!s->closing) { /* the HELLO cannot be kept: the client connects again */
        VR_WARN("session: out of memory keeping its HELLO while the cluster answers\n");
        vr_session_close(s, VR_CLOSE_INTERNAL, "internal error", 0);
    }
    verani__wire__hello__free_unpacked(hello, &vr_pb_allocator);
}

void vr_session_held_hello(verani_session *s)
{
    Verani__Wire__Hello *hello = s->x ? s->x->hello : NULL;

    if (!hello)
        return;
    s->x->hello = NULL;
    folded_read(s, hello);
}

void vr_session_json_open(verani_session *s)
{
    uint8_t rnd[16];

    /* Verani's wire has no HELLO: the socket's open is one that resumes nothing and sends no
     * fingerprint, and nothing answers it (no WELCOME); on_connect runs now */
    if (!vr_owner_serving(s))
        return; /* a cluster's node that does not serve the instance now: 1013 */
    if (vr_rndpool_draw(&s->srv->rnd, rnd, sizeof(rnd))) {
        vr_session_close(s, VR_CLOSE_INTERNAL, "internal error", 0);
        return;
    }
    vr_uuid4_from(s->client_id, rnd);
    if (admit(s, 1) < 0)
        return;
    connected(s);
}
