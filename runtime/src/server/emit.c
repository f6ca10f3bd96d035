/* SPDX-License-Identifier: MIT */
/*
 * emit.c: verani_emit from a handler: the event checked against the room's
 * emit table, encoded once into a shared frame, and handed to the broker,
 * which picks the targets (broker.c) and queues one reference per recipient.
 */
#include <string.h>

#include "core/core-private.h"
#include "server-int.h"

/* --- emit ---------------------------------------------------------------- */

vr_frame *vr_event_frame(const verani_event_def *ev, const ProtobufCMessage *msg,
                         const char *channel, int *err)
{
    vr_envelope env = VERANI__WIRE__ENVELOPE__INIT;
    verani_verr verr;
    vr_frame *f;

    *err = 0;
    if ((ev->in && (!msg || msg->descriptor != ev->in)) || (!ev->in && msg)) {
        VR_ERR("emit '%s': the payload is not of the event's type\n", ev->name);
        *err = VERANI_EINVAL;
        return NULL;
    }
    memset(&verr, 0, sizeof(verr));
    if (msg && ev->validate_in && ev->validate_in(msg, &verr)) {
        VR_WARN("emit '%s': payload fails validation: %s: %s\n", ev->name, verr.path,
                verr.reason);
        *err = VERANI_EINVAL;
        return NULL;
    }
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__EVENT;
    env.has_event = 1;
    env.event = ev->id;
    env.channel = (char *)channel;
    f = vr_frame_encode(&env, msg);
    if (!f)
        *err = VERANI_ENOMEM;
    return f;
}

/* Is `ev` one of the room's emit events (the very table entry, or one with its id and type)? */
static int is_emit_event(const verani_room_schema *sc, const verani_event_def *ev)
{
    const verani_event_def *found = verani_event_find(sc->emit, sc->n_emit, ev->id);

    return found && found->in == ev->in;
}

int verani_emit(verani_ctx *ctx, const verani_target *to, const verani_event_def *ev,
                const ProtobufCMessage *msg)
{
    vr_frame *f;
    int err, n;

    if (!ctx || !to || !ev || !ctx->inst)
        return VERANI_EINVAL;
    if (!is_emit_event(ctx->mount->def->schema, ev)) {
        VR_ERR("emit: event '%s' is not an emit event of room %s\n", ev->name,
               ctx->mount->def->schema->name);
        return VERANI_EINVAL;
    }
    f = vr_event_frame(ev, msg, to->kind == VERANI_TO_CHANNEL ? to->name : NULL, &err);
    if (!f)
        return err;
    if (!vr_frame_fits(ctx->srv, f)) {
        VR_WARN("emit '%s': %zu bytes, more than any session's outbound queue holds (%zu): "
                "not sent\n", ev->name, (size_t)f->len, ctx->srv->opts.queue_max_bytes);
        vr_frame_unref(f);
        return VERANI_ETOOBIG;
    }
    n = ctx->srv->broker->publish(ctx->inst, to, ctx->sess, f);
    vr_frame_unref(f);
    return n;
}
