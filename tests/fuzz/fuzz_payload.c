/* SPDX-License-Identifier: MIT */
/*
 * fuzz_payload.c: libFuzzer target for the wire's payload path
 * (wire/payload.c), the one the server, the client and the HTTP API share.
 * Any bytes go through vr_wire_decode; the event an Envelope names is looked
 * up (verani_event_find) in the `on` and `emit` tables of every room of
 * schema/kitchen_sink.verani (generated/kitchen_sink: every field kind and
 * every validation rule), and its payload unpacked and validated
 * (vr_wire_event_decode) as the request and as the reply. Whatever passes is
 * encoded again with vr_wire_encode and must decode and validate the same.
 * The raw bytes also go straight through vr_wire_payload_decode, as an HTTP
 * API body does. No crash, no leak, no undefined behaviour, for any input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kitchen_schema.h"
#include "wire/wire-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const verani_room_schema *const rooms[] = {
    &kitchen_lobby_schema, &kitchen_game_lobby_schema, &kitchen_quiet_schema};

static uint8_t *heap_alloc(size_t len, void *arg)
{
    uint8_t **out = arg;

    *out = malloc(len ? len : 1);
    return *out;
}

/* `msg` passed decode and validation as `desc`: encoded again inside an EVENT envelope, the
 * bytes decode to an envelope whose payload validates again. Unknown fields are left out of
 * the encoding (protobuf-c re-packs some it accepted, an overlong tag for field 0, as bytes it
 * then refuses; see fuzz_wire.c), so a payload with nested ones may fail to decode again, but
 * one that decodes must pass its validator again. */
static void round_trip(const ProtobufCMessageDescriptor *desc, verani_validate_fn validate,
                       ProtobufCMessage *msg, uint32_t id)
{
    vr_envelope env = VERANI__WIRE__ENVELOPE__INIT, *again = NULL;
    ProtobufCMessage *back = NULL;
    uint8_t *buf = NULL;
    verani_verr verr;
    unsigned unknown = msg->n_unknown_fields;
    size_t size;
    int r;

    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__EVENT;
    env.has_event = 1;
    env.event = id;
    msg->n_unknown_fields = 0;
    size = vr_wire_size_with(&env, msg);
    r = vr_wire_encode(&env, msg, heap_alloc, &buf);
    msg->n_unknown_fields = unknown; /* so free_unpacked frees them */
    if (r)
        abort();
    if (vr_wire_decode(buf, size, &again, NULL) || again->event != id || !again->has_payload ||
        again->payload.len != env.payload.len)
        abort();
    r = vr_wire_event_decode(again, desc, validate, &back, &verr);
    if (r == VERANI_EINVAL)
        abort();
    vr_wire_payload_free(back);
    vr_wire_free(again);
    free(buf);
}

/* The payload of `env` as event `ev`'s request (`in`) and reply (`out`) types. */
static void try_event(const vr_envelope *env, const verani_event_def *ev)
{
    ProtobufCMessage *msg;
    verani_verr verr;

    if (!vr_wire_event_decode(env, ev->in, ev->validate_in, &msg, &verr) && msg)
        round_trip(ev->in, ev->validate_in, msg, ev->id);
    else if (msg)
        abort(); /* a failure never hands out a message */
    vr_wire_payload_free(msg);
    if (!vr_wire_event_decode(env, ev->out, ev->validate_out, &msg, &verr) && msg)
        round_trip(ev->out, ev->validate_out, msg, ev->id);
    vr_wire_payload_free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vr_envelope *env = NULL;
    ProtobufCMessage *msg = NULL;
    verani_verr verr;
    size_t i;

    const verani_event_def *body = &kitchen_lobby_schema.on[size % kitchen_lobby_schema.n_on];

    /* an HTTP API body: the payload bytes alone, as one of the room's events */
    if (!vr_wire_payload_decode(body->in, body->validate_in, data, size, &msg, &verr))
        vr_wire_payload_free(msg);
    if (vr_wire_decode(data, size, &env, NULL))
        return 0;
    for (i = 0; env->has_event && i < sizeof(rooms) / sizeof(rooms[0]); i++) {
        const verani_event_def *on = verani_event_find(rooms[i]->on, rooms[i]->n_on, env->event);
        const verani_event_def *em = verani_event_find(rooms[i]->emit, rooms[i]->n_emit,
                                                       env->event);

        if (on)
            try_event(env, on);
        if (em)
            try_event(env, em);
    }
    vr_wire_free(env);
    return 0;
}
