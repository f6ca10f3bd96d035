/* SPDX-License-Identifier: MIT */
/*
 * json_tx.c: what a session on Verani's JSON wire receives (PROTOCOL.md, "The
 * JSON wire"). Every frame the server makes is an Envelope (emit.c, outq.c,
 * channels.c, defer.c, a cluster's peers), so one rule covers them all: a
 * session on the JSON wire gets the Envelope's JSON twin instead, a text frame
 * made from it at its first JSON recipient and kept on the frame, so a
 * fan-out encodes once per wire, never once per recipient. An EVENT becomes
 * {"type":"event","channel":C,"data":{"type":<event>,...}}, the REPLY of a
 * request the same with the request's event name, an ERROR the event "error"
 * (or nothing, with json_errors_silent); a WELCOME and the REPLY to a channel
 * join or leave have no JSON form and are not sent.
 */
#include <string.h>

#include "core/core-private.h"
#include "server-int.h"
#include "wire/json-private.h"

/* The channel of frames that are not a channel's: what Verani's own server writes there. */
#define VR_JSON_NO_CHANNEL "default"

/* The wire's error code as the JSON error event names it: "invalid_payload". */
static const char *error_code_name(int code)
{
    static const char *const names[] = {"error", "bad_frame", "unknown_event",
                                        "invalid_payload", "rate_limited", "handler_failed",
                                        "join_denied", "not_joined", "schema_mismatch",
                                        "protocol", "no_handler", "too_large"};

    if (code < 0 || code >= (int)(sizeof(names) / sizeof(names[0])))
        return "error";
    return names[code];
}

/* A text frame of the bytes in `sb` (one reference, the caller's); NULL when out of memory. */
static vr_frame *text_frame(const vr_sb *sb)
{
    vr_frame *f;

    if (sb->failed || !sb->len || !(f = vr_frame_new(sb->len)))
        return NULL;
    memcpy(f->body, sb->buf, sb->len);
    f->text = 1;
    return f;
}

/* The event `ev` of the Envelope `env` with its payload as a `desc` message (NULL: none). */
static int event_json(vr_sb *sb, const verani_event_def *ev,
                      const ProtobufCMessageDescriptor *desc, const vr_envelope *env,
                      const char *channel)
{
    ProtobufCMessage *msg = NULL;
    int r;

    if (desc) {
        msg = protobuf_c_message_unpack(desc, &vr_pb_allocator,
                                        env->has_payload ? env->payload.len : 0,
                                        env->has_payload ? env->payload.data : NULL);
        if (!msg)
            return VERANI_EPROTO;
    }
    r = vr_json_event(sb, channel, ev->json_name ? ev->json_name : ev->name, msg);
    if (msg)
        protobuf_c_message_free_unpacked(msg, &vr_pb_allocator);
    return r;
}

/* An ERROR as the event "error": {message, code, field} (field only when there is one). */
static int error_json(vr_sb *sb, const Verani__Wire__Error *e)
{
    static const char head[] = "{\"type\":\"event\",\"channel\":\"" VR_JSON_NO_CHANNEL
                               "\",\"data\":{\"type\":\"error\",\"message\":";

    vr_sb_add(sb, head, sizeof(head) - 1);
    vr_sb_json_str(sb, e->message ? e->message : "");
    vr_sb_add(sb, ",\"code\":", 8);
    vr_sb_json_str(sb, error_code_name(e->has_code ? (int)e->code : 0));
    if (e->field && *e->field) {
        vr_sb_add(sb, ",\"field\":", 9);
        vr_sb_json_str(sb, e->field);
    }
    vr_sb_add(sb, "}}", 2);
    return sb->failed ? VERANI_ENOMEM : 0;
}

/* The JSON of Envelope `env` for a session of room `sc` into `sb`: 0, 1 when it has no JSON
 * form, or a negative verani_err. */
static int envelope_json(const verani_server *srv, const verani_room_schema *sc,
                         const vr_envelope *env, vr_sb *sb)
{
    const verani_event_def *ev;

    switch (env->kind) {
    case VERANI__WIRE__KIND__EVENT:
        ev = env->has_event ? verani_event_find(sc->emit, sc->n_emit, env->event) : NULL;
        if (!ev)
            return VERANI_EPROTO;
        return event_json(sb, ev, ev->in, env,
                          env->channel && *env->channel ? env->channel : VR_JSON_NO_CHANNEL);
    case VERANI__WIRE__KIND__REPLY:
        if (!env->has_event)
            return 1; /* a channel join's or leave's: Verani has no acknowledgements */
        ev = verani_event_find(sc->on, sc->n_on, env->event);
        if (!ev || !ev->out)
            return VERANI_EPROTO;
        return event_json(sb, ev, ev->out, env, VR_JSON_NO_CHANNEL);
    case VERANI__WIRE__KIND__ERROR:
        if (srv->opts.json_errors_silent || !env->error)
            return 1;
        return error_json(sb, env->error);
    default:
        return 1; /* a WELCOME, a PONG: the JSON wire has its own pong (json_rx.c) */
    }
}

int vr_json_twin(verani_session *s, vr_frame *f, vr_frame **out)
{
    vr_envelope *env;
    vr_sb sb = {0};
    int r;

    *out = NULL;
    if (f->text || f->twin) {
        *out = f->text ? f : f->twin;
        return 0;
    }
    env = vr_wire_unpack(f->body, f->len);
    if (!env) {
        VR_ERR("session %s: a frame for the JSON wire is not an Envelope: not sent\n",
               s->client_id);
        return 0;
    }
    r = envelope_json(s->srv, s->inst->mount->def->schema, env, &sb);
    if (r == 0 && !(f->twin = text_frame(&sb)))
        r = VERANI_ENOMEM;
    if (f->twin)
        s->srv->metrics.json_frames++;
    if (r < 0)
        VR_WARN("session %s: %s %s frame not sent on the JSON wire: %s\n", s->client_id,
                r == VERANI_ENOMEM ? "out of memory: a" : "an undecodable",
                vr_wire_kind_name(env->kind), verani_strerror(r));
    vr_wire_free(env);
    vr_sb_free(&sb);
    *out = f->twin;
    return r == VERANI_ENOMEM ? r : 0;
}

vr_frame *vr_json_pong(verani_server *srv)
{
    static const char pong[] = "{\"type\":\"pong\"}";

    if (!srv->json_pong) {
        vr_sb sb = {0};

        vr_sb_add(&sb, pong, sizeof(pong) - 1);
        srv->json_pong = text_frame(&sb);
        vr_sb_free(&sb);
        srv->metrics.json_frames += srv->json_pong != NULL;
        if (!srv->json_pong)
            return NULL;
    }
    vr_frame_ref(srv->json_pong);
    return srv->json_pong;
}
