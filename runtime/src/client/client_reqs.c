/* SPDX-License-Identifier: MIT */
/*
 * client_reqs.c: what the client sends and what answers it: emit, requests
 * (a request id, a timeout, exactly one callback: OK, ERROR, TIMEOUT,
 * DISCONNECTED or CANCELLED), channel joins and leaves (the same machinery),
 * the list of joined channels, and the server's REPLY and ERROR envelopes.
 * A request written on a connection that ends stays pending when the
 * session may resume: the server replays its REPLY after a resume (see
 * c_on_welcome in client_conn.c for when it ends DISCONNECTED instead);
 * those still queued wait for the next connection. It does not write to the
 * socket (client_conn.c drains the queue) and does not dispatch server
 * events (client_events.c).
 */
#include <stdio.h>
#include <string.h>

#include "client-int.h"
#include "core/core-private.h"
#include "wire/wire-private.h"

/* --- requests ------------------------------------------------------------------ */

vr_req *vr_client_req_find(verani_client *c, uint64_t id)
{
    vr_req *r;

    for (r = c->reqs; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

static void c_req_unlink(verani_client *c, vr_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
    c->n_reqs--;
    lws_sul_cancel(&r->sul);
}

void vr_client_req_finish(verani_client *c, vr_req *r, verani_reply_status st,
                          const ProtobufCMessage *reply, const char *error)
{
    c_req_unlink(c, r);
    /* A written request's frame left the queue then: no need to look for it (per reply). */
    if (!r->sent)
        vr_cframe_free(vr_cqueue_remove_request(&c->outq, r->id));
    if (r->kind == VR_REQ_EVENT) {
        if (r->invoke && r->fn)
            r->invoke(c, r->fn, st, st == VERANI_REPLY_OK ? reply : NULL,
                      st == VERANI_REPLY_ERROR ? error : NULL, r->user);
    } else if (r->ch_fn) {
        r->ch_fn(c, r->channel, st, st == VERANI_REPLY_ERROR ? error : NULL, r->user);
    }
    vr_free(r->channel);
    vr_free(r);
}

static void c_req_timeout_cb(lws_sorted_usec_list_t *sul)
{
    vr_req *r = lws_container_of(sul, vr_req, sul);
    verani_client *c = r->c;

    vr_client_enter(c);
    vr_client_req_finish(c, r, VERANI_REPLY_TIMEOUT, NULL, NULL);
    vr_client_leave(c);
}

void vr_client_fail_sent(verani_client *c, uint64_t before_conn)
{
    vr_req *r;

    while (!c->destroyed) {
        for (r = c->reqs; r && !(r->sent && r->conn < before_conn); r = r->next)
            ;
        if (!r)
            break;
        vr_client_req_finish(c, r, VERANI_REPLY_DISCONNECTED, NULL, NULL);
    }
}

void vr_client_fail_all(verani_client *c, verani_reply_status st)
{
    while (c->reqs && (st == VERANI_REPLY_CANCELLED || !c->destroyed))
        vr_client_req_finish(c, c->reqs, st, NULL, NULL);
}

/* --- channels ------------------------------------------------------------------- */

static int c_channel_index(verani_client *c, const char *ch)
{
    size_t i;

    for (i = 0; i < c->n_channels; i++)
        if (strcmp(c->channels[i], ch) == 0)
            return (int)i;
    return -1;
}

void vr_client_channels_clear(verani_client *c)
{
    size_t i;

    for (i = 0; i < c->n_channels; i++)
        vr_free(c->channels[i]);
    vr_free(c->channels);
    c->channels = NULL;
    c->n_channels = 0;
}

void vr_client_channel_add(verani_client *c, const char *ch)
{
    char **n;
    char *d;

    if (c_channel_index(c, ch) >= 0)
        return;
    n = vr_realloc(c->channels, (c->n_channels + 1) * sizeof(*n));
    if (!n)
        return;
    c->channels = n;
    d = vr_strdup(ch);
    if (d)
        c->channels[c->n_channels++] = d;
}

static void c_channel_remove(verani_client *c, const char *ch)
{
    int i = c_channel_index(c, ch);

    if (i < 0)
        return;
    vr_free(c->channels[i]);
    c->channels[i] = c->channels[--c->n_channels];
}

static int c_map_error(Verani__Wire__ErrorCode code)
{
    switch (code) {
    case VERANI__WIRE__ERROR_CODE__INVALID_PAYLOAD: return VERANI_EINVAL;
    case VERANI__WIRE__ERROR_CODE__RATE_LIMITED: return VERANI_EFULL;
    case VERANI__WIRE__ERROR_CODE__UNKNOWN_EVENT: return VERANI_ENOTFOUND;
    case VERANI__WIRE__ERROR_CODE__HANDLER_FAILED: return VERANI_EHANDLER;
    case VERANI__WIRE__ERROR_CODE__JOIN_DENIED: return VERANI_EDENIED;
    case VERANI__WIRE__ERROR_CODE__NO_HANDLER: return VERANI_ENOHANDLER;
    case VERANI__WIRE__ERROR_CODE__TOO_LARGE: return VERANI_ETOOBIG;
    default: return VERANI_EPROTO;
    }
}

void vr_client_on_reply(verani_client *c, const Verani__Wire__Envelope *env)
{
    vr_req *r = env->has_request_id ? vr_client_req_find(c, env->request_id) : NULL;
    ProtobufCMessage *msg = NULL;
    verani_verr verr;
    int err;

    if (!r) {
        VR_INFO("client %s: reply to unknown request %llu (timed out?)\n", c->url,
                (unsigned long long)env->request_id);
        return;
    }
    if (r->kind != VR_REQ_EVENT) {
        if (r->kind == VR_REQ_JOIN)
            vr_client_channel_add(c, r->channel);
        else
            c_channel_remove(c, r->channel);
        vr_client_req_finish(c, r, VERANI_REPLY_OK, NULL, NULL);
        return;
    }
    err = vr_wire_event_decode(env, r->ev->out, r->ev->validate_out, &msg, &verr);
    if (err == VERANI_EPROTO) {
        vr_client_req_finish(c, r, VERANI_REPLY_ERROR, NULL, "the reply does not decode");
        return;
    }
    if (err) {
        char text[VERANI_VERR_PATH_MAX + VERANI_VERR_REASON_MAX + 32];

        snprintf(text, sizeof(text), "invalid reply: %s: %s", verr.path, verr.reason);
        vr_client_req_finish(c, r, VERANI_REPLY_ERROR, NULL, text);
        return;
    }
    vr_client_req_finish(c, r, VERANI_REPLY_OK, msg, NULL);
    vr_wire_payload_free(msg);
}

void vr_client_on_server_error(verani_client *c, const Verani__Wire__Envelope *env)
{
    const Verani__Wire__Error *e = env->error;
    const char *text = e && e->message ? e->message : "error";
    Verani__Wire__ErrorCode code = e && e->has_code ? e->code : VERANI__WIRE__ERROR_CODE__PROTOCOL;
    vr_req *r = env->has_request_id && env->request_id ? vr_client_req_find(c, env->request_id)
                                                        : NULL;
    char buf[512];

    if (e && e->field && e->field[0])
        snprintf(buf, sizeof(buf), "%s (%s)", text, e->field);
    else
        snprintf(buf, sizeof(buf), "%s", text);
    if (r)
        vr_client_req_finish(c, r, VERANI_REPLY_ERROR, NULL, buf);
    else
        vr_client_error(c, c_map_error(code), "server: %s", buf);
}

/* --- gen.h: emit, request, join, leave ------------------------------------------------ */

typedef struct {
    verani_client *c;
    const verani_event_def *ev;
    const ProtobufCMessage *msg;
    uint32_t timeout_ms;
    verani_reply_invoke_fn invoke;
    verani_client_channel_fn ch_fn;
    verani_fn fn;
    void *user;
    const char *channel;
    vr_req_kind kind;
} vr_send_args;

static int c_in_channel_body(void *arg)
{
    vr_send_args *a = arg;

    return c_channel_index(a->c, a->channel) >= 0;
}

int verani_client_in_channel(verani_client *c, const char *channel)
{
    vr_send_args a = {.c = c, .channel = channel};

    if (!c || !channel)
        return 0;
    return vr_loop_call(c->loop, c_in_channel_body, &a);
}
/* Pack an EVENT or REQUEST envelope with the payload of `msg`. */
static vr_cframe *c_pack_event(verani_client *c, Verani__Wire__Kind kind,
                               const verani_event_def *ev, const ProtobufCMessage *msg,
                               uint64_t request_id, int *err)
{
    Verani__Wire__Envelope env = VERANI__WIRE__ENVELOPE__INIT;
    vr_cframe *f;

    env.has_kind = 1;
    env.kind = kind;
    env.has_event = 1;
    env.event = ev->id;
    if (request_id) {
        env.has_request_id = 1;
        env.request_id = request_id;
    }
    f = vr_client_pack(&env, msg);
    if (!f) {
        *err = VERANI_ENOMEM;
        return NULL;
    }
    if (c->room->max_frame && f->len > c->room->max_frame) {
        vr_client_set_error(c, "event %s: the frame is %zu bytes, over the room's max_frame %u",
                            ev->name, f->len, c->room->max_frame);
        vr_cframe_free(f);
        *err = VERANI_ETOOBIG;
        return NULL;
    }
    f->request_id = request_id;
    return f;
}

/* Check an emit (`want_reply` 0) or a request (1) of a->ev with a->msg. */
static int c_check_send(verani_client *c, const vr_send_args *a, int want_reply)
{
    int r = vr_client_check_event(c, a->ev, c->room->on, c->room->n_on, "on", a->msg, 1);

    if (r)
        return r;
    if (!a->ev->out != !want_reply) {
        vr_client_set_error(c, "event %s has %s", a->ev->name,
                            want_reply ? "no reply: send it with emit"
                                       : "a reply: send it with a request");
        return VERANI_EINVAL;
    }
    return 0;
}

static int c_emit_body(void *arg)
{
    vr_send_args *a = arg;
    verani_client *c = a->c;
    vr_cframe *f;
    int r;

    if (c->destroyed)
        return VERANI_ECLOSED;
    r = c_check_send(c, a, 0);
    if (r)
        return r;
    f = c_pack_event(c, VERANI__WIRE__KIND__EVENT, a->ev, a->msg, 0, &r);
    if (!f)
        return r;
    if ((r = vr_client_send_room(c, f->len)) != 0) {
        vr_cframe_free(f);
        return r;
    }
    vr_client_enter(c);
    vr_client_enqueue(c, f);
    vr_client_leave(c);
    return 0;
}

int verani_client_emit(verani_client *c, const verani_event_def *ev, const ProtobufCMessage *msg)
{
    vr_send_args a = {.c = c, .ev = ev, .msg = msg};

    if (!c || !ev)
        return VERANI_EINVAL;
    return vr_loop_call(c->loop, c_emit_body, &a);
}

/* A request of `a`'s kind with the next request id (NULL: out of memory). */
static vr_req *c_req_new(verani_client *c, const vr_send_args *a)
{
    vr_req *r = vr_calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    if (a->channel && !(r->channel = vr_strdup(a->channel))) {
        vr_free(r);
        return NULL;
    }
    r->c = c;
    r->id = c->next_request_id++;
    r->kind = a->kind;
    r->ev = a->ev;
    r->invoke = a->invoke;
    r->fn = a->fn;
    r->ch_fn = a->ch_fn;
    r->user = a->user;
    return r;
}

/* The JOIN or LEAVE frame of request `request_id`; NULL when out of memory. */
static vr_cframe *c_pack_channel(vr_req_kind kind, const char *channel, uint64_t request_id)
{
    Verani__Wire__Envelope env = VERANI__WIRE__ENVELOPE__INIT;
    vr_cframe *f;

    env.has_kind = 1;
    env.kind = kind == VR_REQ_JOIN ? VERANI__WIRE__KIND__JOIN : VERANI__WIRE__KIND__LEAVE;
    env.channel = (char *)channel;
    env.has_request_id = 1;
    env.request_id = request_id;
    f = vr_client_pack(&env, NULL);
    if (f)
        f->request_id = request_id;
    return f;
}

/* A request, join or leave (a->kind): its frame, its timeout, the queue. */
static int c_req_body(void *arg)
{
    vr_send_args *a = arg;
    verani_client *c = a->c;
    vr_cframe *f;
    vr_req *r;
    int err;

    if (c->destroyed)
        return VERANI_ECLOSED;
    if (a->kind == VR_REQ_EVENT && (err = c_check_send(c, a, 1)) != 0)
        return err;
    r = c_req_new(c, a);
    if (!r)
        return VERANI_ENOMEM;
    err = VERANI_ENOMEM;
    if (a->kind == VR_REQ_EVENT)
        f = c_pack_event(c, VERANI__WIRE__KIND__REQUEST, a->ev, a->msg, r->id, &err);
    else
        f = c_pack_channel(a->kind, a->channel, r->id);
    if (f && (err = vr_client_send_room(c, f->len)) != 0) {
        vr_cframe_free(f);
        f = NULL;
    }
    if (!f) {
        vr_free(r->channel);
        vr_free(r);
        return err;
    }
    vr_client_enter(c);
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    c->n_reqs++;
    lws_sul_schedule(vr_loop_lws(c->loop), 0, &r->sul, c_req_timeout_cb,
                     (lws_usec_t)(a->timeout_ms ? a->timeout_ms : c->request_timeout_ms) *
                         LWS_US_PER_MS);
    vr_client_enqueue(c, f);
    vr_client_leave(c);
    return 0;
}

int verani_client_request(verani_client *c, const verani_event_def *ev,
                          const ProtobufCMessage *msg, uint32_t timeout_ms,
                          verani_reply_invoke_fn invoke, verani_fn fn, void *user)
{
    vr_send_args a = {.c = c, .ev = ev, .msg = msg, .timeout_ms = timeout_ms,
                      .invoke = invoke, .fn = fn, .user = user, .kind = VR_REQ_EVENT};

    if (!c || !ev || !invoke)
        return VERANI_EINVAL;
    return vr_loop_call(c->loop, c_req_body, &a);
}

static int c_channel_op(verani_client *c, vr_req_kind kind, const char *channel,
                        verani_client_channel_fn fn, void *user)
{
    vr_send_args a = {.c = c, .kind = kind, .channel = channel, .ch_fn = fn, .user = user};

    if (!c || !channel || !channel[0])
        return VERANI_EINVAL;
    return vr_loop_call(c->loop, c_req_body, &a);
}

int verani_client_join(verani_client *c, const char *channel, verani_client_channel_fn fn,
                       void *user)
{
    return c_channel_op(c, VR_REQ_JOIN, channel, fn, user);
}

int verani_client_leave(verani_client *c, const char *channel, verani_client_channel_fn fn,
                        void *user)
{
    return c_channel_op(c, VR_REQ_LEAVE, channel, fn, user);
}
