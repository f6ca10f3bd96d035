/* SPDX-License-Identifier: MIT */
/*
 * json_rx.c: what a session on Verani's JSON wire sends (PROTOCOL.md, "The
 * JSON wire"): text frames {"type","channel"?,"data"?}. "ping" is answered
 * with {"type":"pong"}; "channel.join" and "channel.leave" with
 * {"channel":C} are the binary wire's JOIN and LEAVE (on_join decides); any
 * other type names an `on` event by its JSON name, whose data is decoded
 * into the event's message (proto3-JSON, wire/json_in.c) and validated like
 * a binary payload, then dispatched exactly as a binary EVENT or REQUEST is
 * (dispatch.c). A refused frame is answered as on the binary wire; the
 * answer reaches the client as an "error" event (json_tx.c).
 */
#include <stdio.h>
#include <string.h>

#include "core/core-private.h"
#include "server-int.h"
#include "wire/json-private.h"

/* The room's `on` event whose JSON name is `type`; NULL when none. A room has a handful of
 * events: a scan costs less than the hash it would need. */
static const verani_event_def *event_named(const verani_room_schema *sc, const char *type)
{
    size_t i;

    for (i = 0; i < sc->n_on; i++)
        if (!strcmp(sc->on[i].json_name ? sc->on[i].json_name : sc->on[i].name, type))
            return &sc->on[i];
    return NULL;
}

static void pong(verani_session *s)
{
    vr_frame *f = vr_json_pong(s->srv);

    s->proto_errors = 0;
    if (!f) {
        VR_WARN("session %s: out of memory answering a ping\n", s->client_id);
        return;
    }
    vr_session_send_frame(s, f, 0);
    vr_frame_unref(f);
}

/* "channel.join" / "channel.leave" with {"channel": C}: the binary wire's JOIN and LEAVE. */
static void join_leave(verani_session *s, const vr_jframe *f, int join)
{
    vr_envelope env = VERANI__WIRE__ENVELOPE__INIT;
    const char *ch = vr_json_frame_data_string(f, "channel");

    if (!ch) {
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, NULL,
                          join ? "channel.join needs data.channel, a string"
                               : "channel.leave needs data.channel, a string", "channel");
        return;
    }
    env.has_kind = 1;
    env.kind = join ? VERANI__WIRE__KIND__JOIN : VERANI__WIRE__KIND__LEAVE;
    env.channel = (char *)ch;
    vr_session_join_leave(s, &env);
}

/* An `on` event: its data decoded and validated, then dispatched as a binary one is. */
static void event(verani_session *s, const vr_jframe *f)
{
    const verani_room_schema *sc = s->inst->mount->def->schema;
    const verani_hooks *h = vr_hooks_of(s->inst->mount);
    const verani_event_def *ev = event_named(sc, f->type);
    char msg[VERANI_VERR_PATH_MAX + VERANI_VERR_REASON_MAX + 64];
    vr_envelope env = VERANI__WIRE__ENVELOPE__INIT;
    ProtobufCMessage *in = NULL;
    uint8_t *packed = NULL;
    verani_verr verr;
    int r;

    if (!ev) {
        snprintf(msg, sizeof(msg), "room %s has no event '%.64s'", sc->name, f->type);
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__UNKNOWN_EVENT, NULL, msg, NULL);
        return;
    }
    r = vr_json_payload_decode(f, ev->in, ev->validate_in, &in, &verr);
    if (r == VERANI_EINVAL) {
        snprintf(msg, sizeof(msg), "%s%s%s", verr.path, *verr.path ? ": " : "data ",
                 verr.reason);
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__INVALID_PAYLOAD, NULL, msg, verr.path);
        return;
    }
    if (r) {
        vr_session_error(s, VERANI__WIRE__ERROR_CODE__HANDLER_FAILED, NULL,
                         "the server is out of memory", NULL);
        return;
    }
    env.has_kind = 1;
    env.kind = ev->out ? VERANI__WIRE__KIND__REQUEST : VERANI__WIRE__KIND__EVENT;
    env.has_event = 1;
    env.event = ev->id;
    if (in && (h->on_any || h->on_message)) {
        /* those two hooks take the payload's protobuf bytes, whichever wire it came by */
        env.payload.len = protobuf_c_message_get_packed_size(in);
        packed = vr_malloc(env.payload.len ? env.payload.len : 1);
        if (!packed) {
            vr_wire_payload_free(in);
            vr_session_error(s, VERANI__WIRE__ERROR_CODE__HANDLER_FAILED, NULL,
                             "the server is out of memory", NULL);
            return;
        }
        protobuf_c_message_pack(in, packed);
        env.has_payload = 1;
        env.payload.data = packed;
    }
    vr_session_dispatch(s, &env, ev, in);
    vr_free(packed);
}

void vr_json_message(verani_session *s, const uint8_t *buf, size_t len, int binary)
{
    const char *why = NULL;
    vr_jframe f;

    if (binary) {
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__BAD_FRAME, NULL,
                          "binary frames are not part of the JSON wire: send JSON text frames",
                          NULL);
        return;
    }
    if (vr_json_frame_parse((const char *)buf, len, &f, &why)) {
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__BAD_FRAME, NULL, why, NULL);
        return;
    }
    if (!strcmp(f.type, "ping"))
        pong(s);
    else if (!strcmp(f.type, "channel.join") || !strcmp(f.type, "channel.leave"))
        join_leave(s, &f, f.type[8] == 'j');
    else
        event(s, &f);
    vr_json_frame_free(&f);
}
