/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c: the per-message pipeline of a session: reassembly up to the
 * room's max_frame, the rate limit, envelope decode, then by kind: the HELLO
 * (hello.c), an EVENT or REQUEST (event lookup, payload unpack, generated
 * validation, typed dispatch through the trampoline, on_message fallback,
 * on_any, the reply), JOIN and LEAVE (channels.c), PING. A refused frame is
 * answered with an error frame; a peer that keeps misbehaving is closed.
 */
#include <stdio.h>
#include <string.h>

#include "core/core-private.h"
#include "server-int.h"

/* --- dispatch ------------------------------------------------------------ */

static void handler_failed(verani_session *s, struct verani_ctx *ctx, const vr_envelope *env,
                           int r, const char *what)
{
    vr_hook_call(ctx, VR_HOOK_ERROR, &(vr_hook_args){.err = r, .text = what});
    vr_session_error(s, VERANI__WIRE__ERROR_CODE__HANDLER_FAILED, env,
                     "the server failed to handle the event", NULL);
}

static void send_reply(verani_session *s, const vr_envelope *req, const ProtobufCMessage *out,
                       struct verani_ctx *ctx)
{
    vr_envelope env = VERANI__WIRE__ENVELOPE__INIT;
    size_t wire;
    char msg[160];

    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__REPLY;
    env.has_request_id = req->has_request_id;
    env.request_id = req->request_id;
    env.has_event = req->has_event;
    env.event = req->event;
    wire = vr_wire_size_with(&env, out); /* the size only: nothing is packed yet */
    if (wire > s->srv->opts.queue_max_bytes) {
        /* It could never be queued: closing the session as a slow consumer would only make
         * the client ask again. The request gets an ERROR instead, and the application
         * hears of it; nothing is packed. */
        snprintf(msg, sizeof(msg), "the reply is %zu bytes, more than this session's outbound "
                 "queue holds (%zu bytes): not sent", wire, s->srv->opts.queue_max_bytes);
        VR_WARN("session %s: %s\n", s->client_id, msg);
        vr_hook_call(ctx, VR_HOOK_ERROR, &(vr_hook_args){.err = VERANI_ETOOBIG, .text = msg});
        vr_session_error(s, VERANI__WIRE__ERROR_CODE__TOO_LARGE, req, msg, NULL);
        return;
    }
    if (vr_session_send(s, &env, out, 1))
        handler_failed(s, ctx, req, VERANI_ENOMEM, "out of memory packing a reply");
}

/* hooks.on_any, after an event's handler (or on_message) returned `result`. */
static void any_hook(struct verani_ctx *ctx, const vr_envelope *env, int result)
{
    vr_hook_call(ctx, VR_HOOK_ANY, &(vr_hook_args){
        .event = env->event, .data = env->payload.data,
        .len = env->has_payload ? env->payload.len : 0, .result = result});
}

/* A client EVENT with an id the schema does not declare, in a room with `open_events`: the
 * raw payload to on_message (not decoded, not validated: the application's to check). */
static void open_event(verani_session *s, const vr_envelope *env)
{
    struct verani_ctx ctx;
    int r;

    s->proto_errors = 0;
    vr_ctx_init(&ctx, s->srv, s->inst->mount, s->inst, s);
    r = vr_hook_call(&ctx, VR_HOOK_MESSAGE, &(vr_hook_args){
        .event = env->event, .data = env->payload.data,
        .len = env->has_payload ? env->payload.len : 0});
    any_hook(&ctx, env, r);
    if (r < 0)
        handler_failed(s, &ctx, env, r, "on_message failed on an open event");
    vr_ctx_fini(&ctx);
}

/* The `on` event an EVENT or REQUEST names; NULL when it was refused (or went to on_message
 * as an open event). */
static const verani_event_def *event_of(verani_session *s, const vr_envelope *env, int request)
{
    const verani_room_schema *sc = s->inst->mount->def->schema;
    const verani_event_def *ev = env->has_event ? verani_event_find(sc->on, sc->n_on, env->event)
                                                : NULL;
    char msg[VERANI_VERR_PATH_MAX + VERANI_VERR_REASON_MAX + 64];

    if (!ev && sc->open_events && !request && env->has_event &&
        vr_hooks_of(s->inst->mount)->on_message) {
        open_event(s, env);
        return NULL;
    }
    if (!ev) {
        snprintf(msg, sizeof(msg), "room %s has no event with id %u", sc->name,
                 env->has_event ? env->event : 0);
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__UNKNOWN_EVENT, env, msg, NULL);
        return NULL;
    }
    if (request != (ev->out != NULL)) {
        snprintf(msg, sizeof(msg), request ? "event '%s' has no reply: send it as EVENT"
                                           : "event '%s' has a reply: send it as REQUEST",
                 ev->name);
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, env, msg, NULL);
        return NULL;
    }
    return ev;
}

/* The event's payload, unpacked into the handler context's scratch memory and validated,
 * into *in (NULL for `()`); -1 when it was refused. */
static int payload_of(verani_session *s, struct verani_ctx *ctx, const vr_envelope *env,
                      const verani_event_def *ev, ProtobufCMessage **in)
{
    char msg[VERANI_VERR_PATH_MAX + VERANI_VERR_REASON_MAX + 64];
    ProtobufCAllocator pa;
    verani_verr verr;
    int r;

    vr_ctx_pb(ctx, &pa);
    r = vr_wire_payload_decode_with(ev->in, ev->validate_in,
                                    env->has_payload ? env->payload.data : NULL,
                                    env->has_payload ? env->payload.len : 0, &pa, in, &verr);
    if (r == VERANI_EPROTO) {
        snprintf(msg, sizeof(msg), "the payload of '%s' does not decode as %s", ev->name,
                 ev->in->name);
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__INVALID_PAYLOAD, env, msg, "");
        return -1;
    }
    if (r) {
        snprintf(msg, sizeof(msg), "%s: %s", verr.path, verr.reason);
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__INVALID_PAYLOAD, env, msg, verr.path);
        return -1;
    }
    return 0;
}

/* The typed handler (or on_message when it has none), then on_any; its result. */
static int run_handler(struct verani_ctx *ctx, const vr_envelope *env,
                       const verani_event_def *ev, const ProtobufCMessage *in,
                       ProtobufCMessage **out)
{
    const verani_room_schema *sc = ctx->mount->def->schema;
    int r;

    *out = NULL;
    if (ev->out) {
        *out = verani_ctx_alloc(ctx, ev->out->sizeof_message);
        if (*out)
            ev->out->message_init(*out);
    }
    if (ev->out && !*out) {
        r = VERANI_ENOMEM;
    } else {
        ctx->req = env; /* verani_ctx_defer's, while the typed handler runs */
        ctx->req_ev = ev;
        r = vr_hook_call(ctx, VR_HOOK_EVENT, &(vr_hook_args){
            .index = (size_t)(ev - sc->on), .in = in, .out = *out});
        ctx->req = NULL;
        ctx->req_ev = NULL;
    }
    if (r == VERANI_ENOHANDLER && vr_hooks_of(ctx->mount)->on_message)
        r = vr_hook_call(ctx, VR_HOOK_MESSAGE, &(vr_hook_args){
            .event = ev->id, .data = env->payload.data,
            .len = env->has_payload ? env->payload.len : 0});
    any_hook(ctx, env, r);
    return r;
}

/* After the handler returned `r`: an error, the reply to a request, or nothing. */
static void answer(verani_session *s, struct verani_ctx *ctx, const vr_envelope *env,
                   const verani_event_def *ev, const ProtobufCMessage *out, int r)
{
    int request = env->kind == VERANI__WIRE__KIND__REQUEST;
    char msg[VERANI_VERR_PATH_MAX + VERANI_VERR_REASON_MAX + 64];
    verani_verr verr;

    if (r == VERANI_ENOHANDLER && !request)
        r = 0; /* an event nobody handles is dropped, as designed */
    if (r == VERANI_ENOHANDLER && request) {
        vr_session_error(s, VERANI__WIRE__ERROR_CODE__NO_HANDLER, env,
                         "the server has no handler for this request", NULL);
        r = 0;
        request = 0;
    }
    if (ctx->deferred) {
        /* the reply is the handle's; an error now answers the request instead (unless the
         * handle already has, on the loop thread), and the handle's later answer is dropped */
        int live;

        if (r >= 0)
            return;
        live = vr_sref_get(s->srv, ctx->defer_slot, ctx->defer_gen) != NULL;
        vr_sref_drop(s->srv, ctx->defer_slot, ctx->defer_gen);
        snprintf(msg, sizeof(msg), "handler for '%s' failed after deferring its reply: %s",
                 ev->name, verani_strerror(r));
        if (live)
            handler_failed(s, ctx, env, r, msg);
        else
            vr_hook_call(ctx, VR_HOOK_ERROR, &(vr_hook_args){.err = r, .text = msg});
        return;
    }
    if (r < 0) {
        snprintf(msg, sizeof(msg), "handler for '%s' failed: %s", ev->name, verani_strerror(r));
        handler_failed(s, ctx, env, r, msg);
    } else if (request) {
        memset(&verr, 0, sizeof(verr));
        if (ev->validate_out && ev->validate_out(out, &verr)) {
            snprintf(msg, sizeof(msg), "reply of '%s' fails validation: %s: %s", ev->name,
                     verr.path, verr.reason);
            handler_failed(s, ctx, env, VERANI_EINVAL, msg);
        } else {
            send_reply(s, env, out, ctx);
        }
    }
}

/* The handler of `ev` on `in` in `ctx`, and its answer. */
static void dispatch_in(verani_session *s, struct verani_ctx *ctx, const vr_envelope *env,
                        const verani_event_def *ev, const ProtobufCMessage *in)
{
    ProtobufCMessage *out;
    int r;

    s->proto_errors = 0;
    r = run_handler(ctx, env, ev, in, &out);
    answer(s, ctx, env, ev, out, r);
}

void vr_session_dispatch(verani_session *s, const vr_envelope *env, const verani_event_def *ev,
                         ProtobufCMessage *in)
{
    struct verani_ctx ctx;

    vr_ctx_init(&ctx, s->srv, s->inst->mount, s->inst, s);
    dispatch_in(s, &ctx, env, ev, in);
    vr_wire_payload_free(in);
    vr_ctx_fini(&ctx);
}

static void on_event(verani_session *s, const vr_envelope *env)
{
    const verani_event_def *ev = event_of(s, env, env->kind == VERANI__WIRE__KIND__REQUEST);
    struct verani_ctx ctx;
    ProtobufCMessage *in;

    if (!ev)
        return;
    /* the payload lives in the context's scratch memory, the handler's reply beside it */
    vr_ctx_init(&ctx, s->srv, s->inst->mount, s->inst, s);
    if (payload_of(s, &ctx, env, ev, &in) == 0)
        dispatch_in(s, &ctx, env, ev, in);
    vr_ctx_fini(&ctx);
}

/* Over the room's rate limit: the frame is dropped, answered with RATE_LIMITED, and the
 * connection closed when it keeps coming. Returns 1 when it was, 0 when the frame may go on. */
static int rate_limited(verani_session *s, const uint8_t *buf, size_t len, int binary)
{
    vr_envelope *env = NULL, st;

    if (vr_bucket_take(&s->bucket, vr_session_rate(s), lws_now_usecs()))
        return 0;
    s->srv->metrics.rate_limited++;
    if (++s->limited >= VR_MAX_PROTO_ERRORS) {
        vr_session_close(s, VR_CLOSE_POLICY, "rate limit exceeded", 0);
        return 1;
    }
    /* decoded only to answer it with its request_id and event (PROTOCOL.md section 3):
     * the sender matches the error to its request instead of waiting for a timeout */
    if (!binary || vr_wire_decode_in(buf, len, &st, &env, NULL))
        env = NULL;
    vr_session_error(s, VERANI__WIRE__ERROR_CODE__RATE_LIMITED, env,
                     "over the room's rate limit; the frame was dropped", NULL);
    vr_wire_done(env, &st);
    return 1;
}

static void handle_message(verani_session *s, const uint8_t *buf, size_t len, int binary)
{
    vr_envelope *env = NULL, st; /* `st`: an Envelope decoded in place (envelope_fast.c) */
    const char *why = NULL;

    if (rate_limited(s, buf, len, binary))
        return;
    s->limited = 0;
    if (s->json) {
        vr_json_message(s, buf, len, binary);
        return;
    }
    if (!binary) {
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__BAD_FRAME, NULL,
                          "text frames are not part of the protocol; send binary Envelope "
                          "frames", NULL);
        return;
    }
    if (vr_wire_decode_in(buf, len, &st, &env, &why)) {
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__BAD_FRAME, NULL, why, NULL);
        return;
    }
    if (!s->hello_done) {
        if (env->kind == VERANI__WIRE__KIND__HELLO)
            vr_session_hello(s, env);
        else
            vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, env,
                              "the first frame must be HELLO", NULL);
        vr_wire_done(env, &st);
        return;
    }
    switch (env->kind) {
    case VERANI__WIRE__KIND__EVENT:
    case VERANI__WIRE__KIND__REQUEST:
        on_event(s, env);
        break;
    case VERANI__WIRE__KIND__JOIN:
    case VERANI__WIRE__KIND__LEAVE:
        if (env->channel && vr_wire_channel_has_nul(buf, len))
            vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, env,
                              "a channel name may not contain a NUL byte", NULL);
        else
            vr_session_join_leave(s, env);
        break;
    case VERANI__WIRE__KIND__PING: {
        vr_envelope out = VERANI__WIRE__ENVELOPE__INIT;

        s->proto_errors = 0;
        out.has_kind = 1;
        out.kind = VERANI__WIRE__KIND__PONG;
        out.has_request_id = env->has_request_id;
        out.request_id = env->request_id;
        vr_session_send(s, &out, NULL, 0);
        break;
    }
    case VERANI__WIRE__KIND__HELLO:
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, env, "HELLO was already received",
                          NULL);
        break;
    default:
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, env,
                          "this kind of frame is not sent by clients", NULL);
        break;
    }
    vr_wire_done(env, &st);
}

int vr_session_rx(verani_session *s, const uint8_t *in, size_t len, int binary, int first,
                  int final)
{
    uint32_t max = s->inst->mount->def->schema->max_frame;
    size_t held;
    char why[80];

    /* A closing session ignores what still arrives, except during a graceful
     * shutdown: frames the client sent before it saw the 1012 are handled (what they
     * send is saved with the sessions for the next server: vr_session_resave). */
    if (s->closing &&
        (s->close_code != VR_CLOSE_RESTART || !s->hello_done || s->fenced || s->handover))
        return 0;
    vr_session_heard(s);
    held = first || !s->rx ? 0 : s->rx->len;
    if (s->json) /* JSON spells the same payload in more bytes: base64, escapes, names */
        max = max > UINT32_MAX / VR_JSON_FRAME_FACTOR ? UINT32_MAX : max * VR_JSON_FRAME_FACTOR;
    if (held + len > max) {
        snprintf(why, sizeof(why), "message over max_frame (%u bytes%s)", max,
                 s->json ? " on the JSON wire" : "");
        vr_session_close(s, VR_CLOSE_TOO_BIG, why, 0);
        vr_free(s->rx);
        s->rx = NULL;
        return 0;
    }
    if (first && final) {
        handle_message(s, in, len, binary);
        return 0;
    }
    if (!s->rx || held + len > s->rx->cap) {
        size_t ncap = s->rx ? s->rx->cap : 1024;
        vr_rxbuf *n;

        while (ncap < held + len)
            ncap *= 2;
        n = vr_realloc(s->rx, sizeof(*n) + ncap);
        if (!n)
            return -1;
        s->rx = n;
        s->rx->cap = ncap;
    }
    memcpy(s->rx->data + held, in, len);
    s->rx->len = held + len;
    if (final) {
        vr_rxbuf *m = s->rx;

        s->rx = NULL; /* no reassembly buffer is kept per idle connection */
        handle_message(s, m->data, m->len, binary);
        vr_free(m);
    }
    return 0;
}
