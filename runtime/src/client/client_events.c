/* SPDX-License-Identifier: MIT */
/*
 * client_events.c: the client's typed events: registering handlers for the
 * room's `emit` events (on, once, off), checking that an event belongs to
 * the room and that a payload has its type and is valid, decoding and
 * validating payloads the server sent, and dispatching a server EVENT to its
 * handlers (the channel and sequence number are readable during the call).
 * It sends nothing: emit and requests are client_reqs.c's.
 */
#include <string.h>

#include "client-int.h"
#include "core/core-private.h"
#include "wire/wire-private.h"

void vr_client_on_event(verani_client *c, const Verani__Wire__Envelope *env)
{
    const verani_event_def *ev;
    ProtobufCMessage *msg;
    verani_verr verr;
    size_t i, n;
    int err;

    if (!env->has_event ||
        !(ev = verani_event_find(c->room->emit, c->room->n_emit, env->event))) {
        vr_client_error(c, VERANI_EPROTO, "event %u from the server is not in room %s: dropped",
                        env->event, c->room->name);
        return;
    }
    err = vr_wire_event_decode(env, ev->in, ev->validate_in, &msg, &verr);
    if (err == VERANI_EPROTO) {
        vr_client_error(c, err, "event %s: the payload does not decode: dropped", ev->name);
        return;
    }
    if (err) {
        vr_client_error(c, err, "event %s: %s: %s: dropped", ev->name, verr.path, verr.reason);
        return;
    }
    c->ev_channel = env->channel;
    c->ev_seq = env->has_seq ? env->seq : 0;
    n = c->n_ons;
    c->iterating++;
    for (i = 0; i < n && !c->destroyed; i++) {
        vr_on on = c->ons[i];

        if (on.dead || on.event != ev->id)
            continue;
        if (on.once)
            c->ons[i].dead = 1;
        on.invoke(c, on.fn, msg, on.user);
    }
    c->iterating--;
    c->ev_channel = NULL;
    c->ev_seq = 0;
    vr_client_compact(c);
    vr_wire_payload_free(msg);
}

const char *verani_client_event_channel(verani_client *c)
{
    return c ? c->ev_channel : NULL;
}

uint64_t verani_client_event_seq(verani_client *c)
{
    return c ? c->ev_seq : 0;
}

int vr_client_check_event(verani_client *c, const verani_event_def *ev,
                          const verani_event_def *t, size_t n, const char *dir,
                          const ProtobufCMessage *msg, int check_msg)
{
    const verani_event_def *found = ev ? verani_event_find(t, n, ev->id) : NULL;

    if (!found || (found != ev && strcmp(found->name, ev->name))) {
        vr_client_set_error(c, "event %s is not an `%s` event of room %s",
                            ev ? ev->name : "(null)", dir, c->room->name);
        return VERANI_ENOTFOUND;
    }
    if (!check_msg)
        return 0;
    if (ev->in && !msg) {
        vr_client_set_error(c, "event %s needs a payload", ev->name);
        return VERANI_EINVAL;
    }
    if (!ev->in && msg) {
        vr_client_set_error(c, "event %s takes no payload", ev->name);
        return VERANI_EINVAL;
    }
    if (msg && msg->descriptor != ev->in) {
        vr_client_set_error(c, "event %s: the payload is a %s, not a %s", ev->name,
                            msg->descriptor->name, ev->in->name);
        return VERANI_EINVAL;
    }
    if (msg && ev->validate_in) {
        verani_verr verr;

        memset(&verr, 0, sizeof(verr));
        if (ev->validate_in(msg, &verr) != 0) {
            vr_client_set_error(c, "event %s: invalid payload: %s: %s", ev->name, verr.path,
                                verr.reason);
            return VERANI_EINVAL;
        }
    }
    return 0;
}

/* --- on, off -------------------------------------------------------------------------- */

typedef struct {
    verani_client *c;
    const verani_event_def *ev;
    verani_client_invoke_fn invoke;
    verani_fn fn;
    void *user;
    int once;
} vr_on_args;

static int c_on_body(void *arg)
{
    vr_on_args *a = arg;
    verani_client *c = a->c;
    vr_on *ons;
    int r;

    if (c->destroyed)
        return VERANI_ECLOSED;
    r = vr_client_check_event(c, a->ev, c->room->emit, c->room->n_emit, "emit", NULL, 0);
    if (r)
        return r;
    ons = vr_client_grow(c->ons, &c->cap_ons, c->n_ons, sizeof(*ons), 8);
    if (!ons)
        return VERANI_ENOMEM;
    c->ons = ons;
    ons[c->n_ons++] = (vr_on){.event = a->ev->id, .invoke = a->invoke, .fn = a->fn,
                            .user = a->user, .once = a->once};
    return 0;
}

int verani_client_on(verani_client *c, const verani_event_def *ev, verani_client_invoke_fn invoke,
                     verani_fn fn, void *user, int once)
{
    vr_on_args a = {.c = c, .ev = ev, .invoke = invoke, .fn = fn, .user = user, .once = once};

    if (!c || !ev || !invoke || !fn)
        return VERANI_EINVAL;
    return vr_loop_call(c->loop, c_on_body, &a);
}

static int c_off_body(void *arg)
{
    vr_on_args *a = arg;
    verani_client *c = a->c;
    size_t i;
    int n = 0;

    for (i = 0; i < c->n_ons; i++) {
        vr_on *on = &c->ons[i];

        if (on->dead || on->event != a->ev->id)
            continue;
        if (a->fn && (on->fn != a->fn || on->user != a->user))
            continue;
        on->dead = 1;
        n++;
    }
    vr_client_compact(c);
    return n;
}

int verani_client_off(verani_client *c, const verani_event_def *ev, verani_fn fn, void *user)
{
    vr_on_args a = {.c = c, .ev = ev, .fn = fn, .user = user};

    if (!c || !ev)
        return VERANI_EINVAL;
    return vr_loop_call(c->loop, c_off_body, &a);
}
