/* SPDX-License-Identifier: MIT */
/*
 * client.c: the Verani-C client's state machine and wire protocol on
 * libwebsockets: connect (ws:// or wss://, extra headers), hello/welcome,
 * reconnection with backoff, the offline queue, keepalive pings, requests
 * and channel joins with timeouts, typed event callbacks and the lifecycle
 * callbacks. Everything here runs on the loop's thread: the public calls
 * pack their arguments and go through vr_loop_call (client_loop.c), which
 * runs them at once or hands them to the loop's thread. It does not own the
 * lws context (the loop does) and does not resume sessions beyond sending
 * the resume token and last sequence number it was given.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client-private.h"
#include "common-private.h"
#include "envelope.pb-c.h"

_Static_assert(LWS_PRE <= VR_FRAME_PRE, "VR_FRAME_PRE must cover LWS_PRE");

#define VR_WIRE_PROTOCOL 1u
#define VR_CLOSE_POLICY 1008
#define VR_CLOSE_ABNORMAL 1006
#define VR_WRITES_PER_CALLBACK 32

/* A pending request, join or leave. Owned by the client's list. */
typedef enum { VR_REQ_EVENT, VR_REQ_JOIN, VR_REQ_LEAVE } vr_req_kind;

typedef struct vr_req {
    struct vr_req *next, *prev;
    verani_client *c;
    uint64_t id;
    vr_req_kind kind;
    const verani_event_def *ev;       /* VR_REQ_EVENT */
    verani_reply_invoke_fn invoke;
    verani_fn fn;
    verani_client_channel_fn ch_fn;   /* joins and leaves */
    char *channel;                    /* owned; joins and leaves */
    void *user;
    int sent;                         /* written on the current connection */
    lws_sorted_usec_list_t sul;       /* the timeout */
} vr_req;

/* A callback-form wait for the connection. Owned by the client's list. */
typedef struct vr_wait {
    struct vr_wait *next;
    verani_client *c;
    verani_client_wait_fn fn;
    void *user;
    lws_sorted_usec_list_t sul;
} vr_wait;

typedef enum { VR_CB_OPEN, VR_CB_CLOSE, VR_CB_ERROR, VR_CB_STATE } vr_cb_kind;

typedef struct vr_cb {
    int id;
    vr_cb_kind kind;
    verani_fn fn;
    void *user;
    int dead;
} vr_cb;

typedef struct vr_on {
    uint32_t event;
    verani_client_invoke_fn invoke;
    verani_fn fn;
    void *user;
    int once;
    int dead;
} vr_on;

struct verani_client {
    verani_client_loop *loop;         /* borrowed, or owned when owns_loop */
    int owns_loop;
    const verani_room_schema *room;   /* borrowed: generated static data */

    /* From the options (owned copies). */
    char *url, *host, *host_header, *path, *ca_file;
    char **hdr_names, **hdr_values;   /* hdr_names end with ':' as lws wants */
    size_t n_headers;
    int port, tls, insecure, reconnect_disabled;
    vr_backoff bo;
    uint32_t max_attempts, connect_timeout_ms, ping_interval_ms, pong_timeout_ms;
    uint32_t request_timeout_ms, max_rx;
    struct lws_vhost *vh;

    /* State. */
    verani_client_state state;
    struct lws *wsi;                  /* the current connection, NULL when none */
    int wsi_live;                     /* a connection is under way or open */
    int established, welcomed, user_closed, refused;
    int peer_close_code;
    char peer_close_reason[124];
    uint32_t attempts;
    uint64_t conn_id;
    int hello_pending, ping_pending, awaiting_pong, rx_since_ping;
    unsigned pong_pending;

    vr_cqueue outq;                   /* owns its frames */
    vr_req *reqs;                     /* owned list */
    size_t n_reqs;
    uint64_t next_request_id;
    vr_wait *waits;                   /* owned list */
    vr_cb *cbs;                       /* owned array */
    size_t n_cbs, cap_cbs;
    int next_cb_id;
    vr_on *ons;                       /* owned array */
    size_t n_ons, cap_ons;
    int iterating;                    /* > 0 while cbs/ons are walked: no compaction */

    unsigned char *rx;                /* owned reassembly buffer */
    size_t rx_len, rx_cap;
    int rx_in_msg, rx_binary, rx_overflow;

    char client_id[64], user_id[64];
    char *resume_token;               /* owned */
    uint64_t last_seq;
    int resumed, recovery_failed;
    char **channels;                  /* owned */
    size_t n_channels;
    const char *ev_channel;           /* borrowed, valid during an event callback */
    uint64_t ev_seq;
    char last_error[256];
    uint64_t rng;

    lws_sorted_usec_list_t sul_retry, sul_connect, sul_ping, sul_pong;
    int depth;                        /* nested entries; the free waits for 0 */
    int destroyed;
};

static void c_connect(verani_client *c);
static void c_lost(verani_client *c, int err, const char *what, int code, const char *reason);

/* --- small helpers --------------------------------------------------------- */

const char *verani_client_state_name(verani_client_state state)
{
    switch (state) {
    case VERANI_CLIENT_CONNECTING: return "connecting";
    case VERANI_CLIENT_CONNECTED: return "connected";
    case VERANI_CLIENT_DISCONNECTED: return "disconnected";
    case VERANI_CLIENT_RECONNECTING: return "reconnecting";
    case VERANI_CLIENT_ERROR: return "error";
    }
    return "unknown";
}

void verani_client_options_init(verani_client_options *opts)
{
    if (opts)
        memset(opts, 0, sizeof(*opts));
}

static void c_set_error(verani_client *c, const char *fmt, ...) VERANI_PRINTF(2, 3);
static void c_set_error(verani_client *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
    va_end(ap);
    lwsl_info("[verani] client %s: %s\n", c->url, c->last_error);
}

static uint32_t c_random(verani_client *c)
{
    /* xorshift64*: only for jitter, seeded from lws_get_random. */
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return (uint32_t)((c->rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static const verani_event_def *c_find_event(const verani_event_def *t, size_t n, uint32_t id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t[mid].id == id)
            return &t[mid];
        if (t[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void c_enter(verani_client *c)
{
    c->depth++;
    vr_loop_enter(c->loop);
}

static void c_free(verani_client *c);

/* Returns 1 when the client was freed. */
static int c_leave(verani_client *c)
{
    verani_client_loop *loop = c->loop;

    vr_loop_leave(loop);
    if (--c->depth == 0 && c->destroyed) {
        c_free(c);
        return 1;
    }
    return 0;
}

static void c_compact(verani_client *c)
{
    size_t i, j;

    if (c->iterating)
        return;
    for (i = j = 0; i < c->n_cbs; i++)
        if (!c->cbs[i].dead)
            c->cbs[j++] = c->cbs[i];
    c->n_cbs = j;
    for (i = j = 0; i < c->n_ons; i++)
        if (!c->ons[i].dead)
            c->ons[j++] = c->ons[i];
    c->n_ons = j;
}

/* --- lifecycle callbacks ------------------------------------------------------ */

static void c_fire(verani_client *c, vr_cb_kind kind, int a, int b, const char *text)
{
    size_t i, n = c->n_cbs;

    c->iterating++;
    for (i = 0; i < n && !c->destroyed; i++) {
        vr_cb cb = c->cbs[i];

        if (cb.dead || cb.kind != kind)
            continue;
        switch (kind) {
        case VR_CB_OPEN:
            ((verani_client_open_fn)cb.fn)(c, cb.user);
            break;
        case VR_CB_CLOSE:
            ((verani_client_close_fn)cb.fn)(c, a, text ? text : "", cb.user);
            break;
        case VR_CB_ERROR:
            ((verani_client_error_fn)cb.fn)(c, a, text ? text : "", cb.user);
            break;
        case VR_CB_STATE:
            ((verani_client_state_fn)cb.fn)(c, (verani_client_state)a, (verani_client_state)b,
                                            cb.user);
            break;
        }
    }
    c->iterating--;
    c_compact(c);
}

static void c_on_error(verani_client *c, int err, const char *fmt, ...) VERANI_PRINTF(3, 4);
static void c_on_error(verani_client *c, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
    va_end(ap);
    lwsl_info("[verani] client %s: %s\n", c->url, c->last_error);
    c_fire(c, VR_CB_ERROR, err, 0, c->last_error);
}

/* --- waits ------------------------------------------------------------------ */

static void c_wait_finish(verani_client *c, vr_wait *w, int result)
{
    vr_wait **pp;

    for (pp = &c->waits; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    lws_sul_cancel(&w->sul);
    w->fn(c, result, w->user);
    vr_client_free(w);
}

static void c_waits_resolve(verani_client *c, int result)
{
    while (c->waits)
        c_wait_finish(c, c->waits, result);
}

static void c_wait_timeout_cb(lws_sorted_usec_list_t *sul)
{
    vr_wait *w = lws_container_of(sul, vr_wait, sul);
    verani_client *c = w->c;

    c_enter(c);
    c_wait_finish(c, w, VERANI_ETIMEDOUT);
    c_leave(c);
}

/* --- state ------------------------------------------------------------------- */

static void c_set_state(verani_client *c, verani_client_state st)
{
    verani_client_state old = c->state;

    if (old == st || c->destroyed)
        return;
    c->state = st;
    lwsl_info("[verani] client %s: %s -> %s\n", c->url, verani_client_state_name(old),
              verani_client_state_name(st));
    c_fire(c, VR_CB_STATE, (int)old, (int)st, NULL);
    if (c->destroyed || c->state != st)
        return;
    if (st == VERANI_CLIENT_CONNECTED)
        c_waits_resolve(c, VERANI_OK);
    else if (st == VERANI_CLIENT_ERROR || st == VERANI_CLIENT_DISCONNECTED)
        c_waits_resolve(c, VERANI_ECLOSED);
}

/* --- requests ------------------------------------------------------------------ */

static vr_req *c_req_find(verani_client *c, uint64_t id)
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

/* End a request: unlink it, drop its frame if still queued, call back once. */
static void c_req_finish(verani_client *c, vr_req *r, verani_reply_status st,
                         const ProtobufCMessage *reply, const char *error)
{
    vr_cframe *f;

    c_req_unlink(c, r);
    f = vr_cqueue_remove_request(&c->outq, r->id);
    if (f)
        vr_cframe_free(f);
    if (r->kind == VR_REQ_EVENT) {
        if (r->invoke && r->fn)
            r->invoke(c, r->fn, st, st == VERANI_REPLY_OK ? reply : NULL,
                      st == VERANI_REPLY_ERROR ? error : NULL, r->user);
    } else if (r->ch_fn) {
        r->ch_fn(c, r->channel, st, st == VERANI_REPLY_ERROR ? error : NULL, r->user);
    }
    vr_client_free(r->channel);
    vr_client_free(r);
}

static void c_req_timeout_cb(lws_sorted_usec_list_t *sul)
{
    vr_req *r = lws_container_of(sul, vr_req, sul);
    verani_client *c = r->c;

    c_enter(c);
    c_req_finish(c, r, VERANI_REPLY_TIMEOUT, NULL, NULL);
    c_leave(c);
}

/* Requests written on the connection that just ended: DISCONNECTED. */
static void c_fail_sent(verani_client *c)
{
    vr_req *r;

    while (!c->destroyed) {
        for (r = c->reqs; r && !r->sent; r = r->next)
            ;
        if (!r)
            break;
        c_req_finish(c, r, VERANI_REPLY_DISCONNECTED, NULL, NULL);
    }
}

/* The client will not reconnect by itself: every pending request ends. */
static void c_fail_all(verani_client *c, verani_reply_status st)
{
    while (c->reqs && (st == VERANI_REPLY_CANCELLED || !c->destroyed))
        c_req_finish(c, c->reqs, st, NULL, NULL);
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

static void c_channels_clear(verani_client *c)
{
    size_t i;

    for (i = 0; i < c->n_channels; i++)
        vr_client_free(c->channels[i]);
    vr_client_free(c->channels);
    c->channels = NULL;
    c->n_channels = 0;
}

static void c_channel_add(verani_client *c, const char *ch)
{
    char **n;
    char *d;

    if (c_channel_index(c, ch) >= 0)
        return;
    n = vr_client_realloc(c->channels, (c->n_channels + 1) * sizeof(*n));
    if (!n)
        return;
    c->channels = n;
    d = vr_client_strdup(ch);
    if (d)
        c->channels[c->n_channels++] = d;
}

static void c_channel_remove(verani_client *c, const char *ch)
{
    int i = c_channel_index(c, ch);

    if (i < 0)
        return;
    vr_client_free(c->channels[i]);
    c->channels[i] = c->channels[--c->n_channels];
}

/* --- frames ------------------------------------------------------------------- */

/* Pack `env` into a new frame; NULL when out of memory. */
static vr_cframe *c_pack(const Verani__Wire__Envelope *env)
{
    size_t n = verani__wire__envelope__get_packed_size(env);
    vr_cframe *f = vr_cframe_new(n);

    if (f)
        verani__wire__envelope__pack(env, vr_cframe_data(f));
    return f;
}

/* Queue `f` (taken) for writing; bounded by max_queue while not connected. */
static void c_enqueue(verani_client *c, vr_cframe *f)
{
    vr_cframe *dropped = vr_cqueue_push(&c->outq, f, !c->welcomed);

    if (dropped) {
        vr_req *r = dropped->request_id ? c_req_find(c, dropped->request_id) : NULL;

        lwsl_notice("[verani] client %s: offline queue full (%zu), dropped the oldest frame\n",
                    c->url, c->outq.max);
        vr_cframe_free(dropped);
        if (r)
            c_req_finish(c, r, VERANI_REPLY_DISCONNECTED, NULL, NULL);
    }
    if (c->welcomed && c->wsi)
        lws_callback_on_writable(c->wsi);
}

static int c_write(struct lws *wsi, unsigned char *data, size_t len)
{
    int n = lws_write(wsi, data, len, LWS_WRITE_BINARY);

    return n < 0 || (size_t)n < len ? -1 : 0;
}

/* Write a small control envelope (hello, ping, pong). */
static int c_write_ctl(verani_client *c, struct lws *wsi, Verani__Wire__Envelope *env)
{
    vr_cframe *f = c_pack(env);
    int r;

    if (!f) {
        c_set_error(c, "out of memory writing a control frame");
        return -1;
    }
    r = c_write(wsi, vr_cframe_data(f), f->len);
    vr_cframe_free(f);
    return r;
}

static int c_writeable(verani_client *c, struct lws *wsi)
{
    int n = 0;

    while (n++ < VR_WRITES_PER_CALLBACK && !lws_send_pipe_choked(wsi)) {
        Verani__Wire__Envelope env = VERANI__WIRE__ENVELOPE__INIT;

        if (c->hello_pending) {
            Verani__Wire__Hello hello = VERANI__WIRE__HELLO__INIT;

            hello.has_protocol = 1;
            hello.protocol = VR_WIRE_PROTOCOL;
            hello.fingerprint = (char *)(c->room->fingerprint ? c->room->fingerprint : "");
            if (c->resume_token) {
                hello.resume_token = c->resume_token;
                hello.has_last_seq = 1;
                hello.last_seq = c->last_seq;
            }
            env.has_kind = 1;
            env.kind = VERANI__WIRE__KIND__HELLO;
            env.hello = &hello;
            c->hello_pending = 0;
            if (c_write_ctl(c, wsi, &env))
                return -1;
        } else if (c->pong_pending) {
            env.has_kind = 1;
            env.kind = VERANI__WIRE__KIND__PONG;
            c->pong_pending--;
            if (c_write_ctl(c, wsi, &env))
                return -1;
        } else if (c->ping_pending) {
            env.has_kind = 1;
            env.kind = VERANI__WIRE__KIND__PING;
            c->ping_pending = 0;
            if (c_write_ctl(c, wsi, &env))
                return -1;
        } else if (c->welcomed && c->outq.head) {
            vr_cframe *f = vr_cqueue_pop(&c->outq);
            vr_req *r = f->request_id ? c_req_find(c, f->request_id) : NULL;
            int w = c_write(wsi, vr_cframe_data(f), f->len);

            vr_cframe_free(f);
            if (w)
                return -1;
            if (r)
                r->sent = 1;
        } else {
            return 0;
        }
    }
    if (c->hello_pending || c->pong_pending || c->ping_pending ||
        (c->welcomed && c->outq.head))
        lws_callback_on_writable(wsi);
    return 0;
}

/* --- keepalive ------------------------------------------------------------------- */

static void c_ping_cb(lws_sorted_usec_list_t *sul);
static void c_pong_cb(lws_sorted_usec_list_t *sul);

static void c_arm_ping(verani_client *c)
{
    if (!c->ping_interval_ms)
        return;
    lws_sul_schedule(vr_loop_lws(c->loop), 0, &c->sul_ping, c_ping_cb,
                     (lws_usec_t)c->ping_interval_ms * LWS_US_PER_MS);
}

static void c_ping_cb(lws_sorted_usec_list_t *sul)
{
    verani_client *c = lws_container_of(sul, verani_client, sul_ping);

    if (!c->welcomed || !c->wsi)
        return;
    c->ping_pending = 1;
    c->awaiting_pong = 1;
    c->rx_since_ping = 0;
    lws_callback_on_writable(c->wsi);
    lws_sul_schedule(vr_loop_lws(c->loop), 0, &c->sul_pong, c_pong_cb,
                     (lws_usec_t)c->pong_timeout_ms * LWS_US_PER_MS);
}

/* Detach the current connection from the client and close it. */
static void c_detach(verani_client *c, int close_code, const char *reason)
{
    struct lws *w = c->wsi;

    c->wsi = NULL;
    c->wsi_live = 0;
    if (!w)
        return;
    lws_set_opaque_user_data(w, NULL);
    if (c->established && close_code) {
        lws_close_reason(w, (enum lws_close_status)close_code, (unsigned char *)reason,
                         strlen(reason));
        lws_callback_on_writable(w); /* the detached wsi returns -1 there: close sent */
    } else {
        lws_set_timeout(w, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}

static void c_pong_cb(lws_sorted_usec_list_t *sul)
{
    verani_client *c = lws_container_of(sul, verani_client, sul_pong);

    c->awaiting_pong = 0;
    if (!c->welcomed || !c->wsi)
        return;
    if (c->rx_since_ping) {
        /* The pong is late but the peer is talking: it is alive. */
        c_arm_ping(c);
        return;
    }
    c_enter(c);
    lwsl_notice("[verani] client %s: no pong within %u ms, reconnecting\n", c->url,
                c->pong_timeout_ms);
    c_detach(c, 0, NULL);
    c_lost(c, VERANI_ETIMEDOUT, "no pong from the server in time", VR_CLOSE_ABNORMAL,
           "pong timeout");
    c_leave(c);
}

/* --- connection lifecycle ------------------------------------------------------ */

static void c_connect_timeout_cb(lws_sorted_usec_list_t *sul)
{
    verani_client *c = lws_container_of(sul, verani_client, sul_connect);

    if (c->welcomed || !c->wsi_live)
        return;
    c_enter(c);
    c_detach(c, 0, NULL);
    c_lost(c, VERANI_ETIMEDOUT, "connection timed out", VR_CLOSE_ABNORMAL, "connect timeout");
    c_leave(c);
}

static void c_retry_cb(lws_sorted_usec_list_t *sul)
{
    verani_client *c = lws_container_of(sul, verani_client, sul_retry);

    if (c->state != VERANI_CLIENT_RECONNECTING)
        return;
    c_enter(c);
    c_connect(c);
    c_leave(c);
}

/* No more reconnection: `st` is DISCONNECTED or ERROR. */
static void c_terminal(verani_client *c, verani_client_state st)
{
    lws_sul_cancel(&c->sul_retry);
    c_fail_all(c, VERANI_REPLY_DISCONNECTED);
    c_set_state(c, st);
}

/*
 * The current connection is gone (closed by either side, failed, or timed
 * out; already detached). `err`/`what` go to on_error when nonzero;
 * `code`/`reason` to on_close when the upgrade had succeeded.
 */
static void c_lost(verani_client *c, int err, const char *what, int code, const char *reason)
{
    int was_established = c->established;

    lws_sul_cancel(&c->sul_connect);
    lws_sul_cancel(&c->sul_ping);
    lws_sul_cancel(&c->sul_pong);
    c->wsi = NULL;
    c->wsi_live = 0;
    c->established = c->welcomed = 0;
    c->hello_pending = c->ping_pending = c->awaiting_pong = 0;
    c->pong_pending = 0;
    c->rx_len = 0;
    c->rx_in_msg = 0;

    c_fail_sent(c);
    if (err && !c->destroyed)
        c_on_error(c, err, "%s", what);
    if (was_established && !c->destroyed)
        c_fire(c, VR_CB_CLOSE, code, 0, reason);
    if (c->destroyed || c->wsi_live || c->user_closed)
        return; /* a callback reconnected, disconnected or destroyed it */
    if (c->state == VERANI_CLIENT_DISCONNECTED || c->state == VERANI_CLIENT_ERROR)
        return;

    if (code == VR_CLOSE_POLICY || c->refused) {
        if (c->refused)
            c_set_error(c, "refused by the server: %s", what ? what : "");
        else
            c_set_error(c, "closed by the server with 1008 (%s)", reason ? reason : "");
        lwsl_notice("[verani] client %s: %s: not reconnecting\n", c->url, c->last_error);
        c_terminal(c, VERANI_CLIENT_ERROR);
        return;
    }
    if (c->reconnect_disabled) {
        c_terminal(c, VERANI_CLIENT_DISCONNECTED);
        return;
    }
    if (c->max_attempts != VERANI_CLIENT_UNLIMITED && c->attempts >= c->max_attempts) {
        lwsl_notice("[verani] client %s: %u reconnect attempts failed: giving up\n", c->url,
                    c->attempts);
        c_set_error(c, "gave up after %u reconnect attempts", c->attempts);
        c_terminal(c, VERANI_CLIENT_ERROR);
        return;
    }
    c->attempts++;
    {
        uint32_t ms = vr_backoff_delay(&c->bo, c->attempts, c_random(c));

        lwsl_info("[verani] client %s: reconnect attempt %u in %u ms\n", c->url, c->attempts, ms);
        c_set_state(c, VERANI_CLIENT_RECONNECTING);
        if (c->destroyed || c->state != VERANI_CLIENT_RECONNECTING)
            return;
        lws_sul_schedule(vr_loop_lws(c->loop), 0, &c->sul_retry, c_retry_cb,
                         (lws_usec_t)ms * LWS_US_PER_MS);
    }
}

static void c_connect(verani_client *c)
{
    struct lws_client_connect_info i;
    struct lws *w;

    lws_sul_cancel(&c->sul_retry);
    c->user_closed = 0;
    c->refused = 0;
    c->peer_close_code = 0;
    c->peer_close_reason[0] = '\0';
    c->conn_id++;
    c_set_state(c, VERANI_CLIENT_CONNECTING);
    if (c->destroyed || c->state != VERANI_CLIENT_CONNECTING || c->wsi_live)
        return;

    memset(&i, 0, sizeof(i));
    i.context = vr_loop_lws(c->loop);
    i.vhost = c->vh;
    i.address = c->host;
    i.port = c->port;
    i.path = c->path;
    i.host = c->host_header;
    i.origin = c->host_header;
    i.ietf_version_or_minus_one = -1;
    i.local_protocol_name = "verani-client";
    i.opaque_user_data = c;
    if (c->tls) {
        i.ssl_connection = LCCSCF_USE_SSL;
        if (c->insecure)
            i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
    c->hello_pending = 1;
    c->wsi_live = 1;
    c->wsi = NULL;
    lws_sul_schedule(i.context, 0, &c->sul_connect, c_connect_timeout_cb,
                     (lws_usec_t)c->connect_timeout_ms * LWS_US_PER_MS);
    w = lws_client_connect_via_info(&i);
    if (!c->wsi_live)
        return; /* it failed inside the call and c_lost ran already */
    if (!w) {
        c->wsi_live = 0;
        c_lost(c, VERANI_EIO, "cannot start the connection", VR_CLOSE_ABNORMAL, "");
        return;
    }
    c->wsi = w;
}

/* --- receiving ---------------------------------------------------------------- */

static int c_map_error(Verani__Wire__ErrorCode code)
{
    switch (code) {
    case VERANI__WIRE__ERROR_CODE__INVALID_PAYLOAD: return VERANI_EINVAL;
    case VERANI__WIRE__ERROR_CODE__RATE_LIMITED: return VERANI_EFULL;
    case VERANI__WIRE__ERROR_CODE__UNKNOWN_EVENT: return VERANI_ENOTFOUND;
    case VERANI__WIRE__ERROR_CODE__HANDLER_FAILED: return VERANI_EHANDLER;
    case VERANI__WIRE__ERROR_CODE__JOIN_DENIED: return VERANI_EDENIED;
    case VERANI__WIRE__ERROR_CODE__NO_HANDLER: return VERANI_ENOHANDLER;
    default: return VERANI_EPROTO;
    }
}

static void c_copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static void c_on_welcome(verani_client *c, const Verani__Wire__Welcome *w)
{
    size_t i;

    if (c->welcomed) {
        c_on_error(c, VERANI_EPROTO, "a second welcome from the server: ignored");
        return;
    }
    c_copy(c->client_id, sizeof(c->client_id), w->client_id);
    c_copy(c->user_id, sizeof(c->user_id), w->user_id);
    if (w->resume_token) {
        char *t = vr_client_strdup(w->resume_token);
        if (t) {
            vr_client_free(c->resume_token);
            c->resume_token = t;
        }
    }
    c->resumed = w->has_resumed && w->resumed;
    c->recovery_failed = w->has_recovery_failed && w->recovery_failed;
    if (!c->resumed && w->has_seq)
        c->last_seq = w->seq;
    c_channels_clear(c);
    for (i = 0; i < w->n_channels; i++)
        c_channel_add(c, w->channels[i]);
    if (c->room->fingerprint && w->fingerprint && strcmp(c->room->fingerprint, w->fingerprint))
        lwsl_warn("[verani] client %s: schema fingerprint %s differs from the server's %s\n",
                  c->url, c->room->fingerprint, w->fingerprint);

    c->welcomed = 1;
    c->attempts = 0;
    lws_sul_cancel(&c->sul_connect);
    c_arm_ping(c);
    if (c->outq.head && c->wsi)
        lws_callback_on_writable(c->wsi);
    c_set_state(c, VERANI_CLIENT_CONNECTED);
    if (!c->destroyed && c->state == VERANI_CLIENT_CONNECTED)
        c_fire(c, VR_CB_OPEN, 0, 0, NULL);
}

static void c_on_event(verani_client *c, const Verani__Wire__Envelope *env)
{
    const verani_event_def *ev;
    ProtobufCMessage *msg = NULL;
    size_t i, n;

    if (!env->has_event ||
        !(ev = c_find_event(c->room->emit, c->room->n_emit, env->event))) {
        c_on_error(c, VERANI_EPROTO, "event %u from the server is not in room %s: dropped",
                   env->event, c->room->name);
        return;
    }
    if (ev->in) {
        msg = protobuf_c_message_unpack(ev->in, &vr_pb_allocator,
                                        env->has_payload ? env->payload.len : 0,
                                        env->has_payload ? env->payload.data : NULL);
        if (!msg) {
            c_on_error(c, VERANI_EPROTO, "event %s: the payload does not decode: dropped",
                       ev->name);
            return;
        }
        if (ev->validate_in) {
            verani_verr verr;

            memset(&verr, 0, sizeof(verr));
            if (ev->validate_in(msg, &verr) != 0) {
                c_on_error(c, VERANI_EINVAL, "event %s: %s: %s: dropped", ev->name, verr.path,
                           verr.reason);
                protobuf_c_message_free_unpacked(msg, &vr_pb_allocator);
                return;
            }
        }
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
    c_compact(c);
    if (msg)
        protobuf_c_message_free_unpacked(msg, &vr_pb_allocator);
}

static void c_on_reply(verani_client *c, const Verani__Wire__Envelope *env)
{
    vr_req *r = env->has_request_id ? c_req_find(c, env->request_id) : NULL;
    ProtobufCMessage *msg = NULL;

    if (!r) {
        lwsl_info("[verani] client %s: reply to unknown request %llu (timed out?)\n", c->url,
                  (unsigned long long)env->request_id);
        return;
    }
    if (r->kind != VR_REQ_EVENT) {
        if (r->kind == VR_REQ_JOIN)
            c_channel_add(c, r->channel);
        else
            c_channel_remove(c, r->channel);
        c_req_finish(c, r, VERANI_REPLY_OK, NULL, NULL);
        return;
    }
    if (r->ev->out) {
        msg = protobuf_c_message_unpack(r->ev->out, &vr_pb_allocator,
                                        env->has_payload ? env->payload.len : 0,
                                        env->has_payload ? env->payload.data : NULL);
        if (!msg) {
            c_req_finish(c, r, VERANI_REPLY_ERROR, NULL, "the reply does not decode");
            return;
        }
        if (r->ev->validate_out) {
            verani_verr verr;
            char text[VERANI_VERR_PATH_MAX + VERANI_VERR_REASON_MAX + 32];

            memset(&verr, 0, sizeof(verr));
            if (r->ev->validate_out(msg, &verr) != 0) {
                snprintf(text, sizeof(text), "invalid reply: %s: %s", verr.path, verr.reason);
                protobuf_c_message_free_unpacked(msg, &vr_pb_allocator);
                c_req_finish(c, r, VERANI_REPLY_ERROR, NULL, text);
                return;
            }
        }
    }
    c_req_finish(c, r, VERANI_REPLY_OK, msg, NULL);
    if (msg)
        protobuf_c_message_free_unpacked(msg, &vr_pb_allocator);
}

static void c_on_server_error(verani_client *c, const Verani__Wire__Envelope *env)
{
    const Verani__Wire__Error *e = env->error;
    const char *text = e && e->message ? e->message : "error";
    Verani__Wire__ErrorCode code = e && e->has_code ? e->code : VERANI__WIRE__ERROR_CODE__PROTOCOL;
    vr_req *r = env->has_request_id && env->request_id ? c_req_find(c, env->request_id) : NULL;

    if (r) {
        char buf[512];

        if (e && e->field && e->field[0])
            snprintf(buf, sizeof(buf), "%s (%s)", text, e->field);
        else
            snprintf(buf, sizeof(buf), "%s", text);
        c_req_finish(c, r, VERANI_REPLY_ERROR, NULL, buf);
        return;
    }
    if (e && e->field && e->field[0])
        c_on_error(c, c_map_error(code), "server: %s (%s)", text, e->field);
    else
        c_on_error(c, c_map_error(code), "server: %s", text);
}

static void c_on_frame(verani_client *c, const unsigned char *buf, size_t len)
{
    Verani__Wire__Envelope *env;

    c->rx_since_ping = 1;
    if (!c->rx_binary) {
        c_on_error(c, VERANI_EPROTO, "a text frame from the server: dropped");
        return;
    }
    env = verani__wire__envelope__unpack(&vr_pb_allocator, len, buf);
    if (!env) {
        c_on_error(c, VERANI_EPROTO, "a frame from the server does not decode: dropped");
        return;
    }
    if (env->has_seq && env->seq > c->last_seq)
        c->last_seq = env->seq;
    switch (env->has_kind ? env->kind : VERANI__WIRE__KIND__KIND_UNSPECIFIED) {
    case VERANI__WIRE__KIND__WELCOME:
        if (env->welcome)
            c_on_welcome(c, env->welcome);
        else
            c_on_error(c, VERANI_EPROTO, "a welcome without its body");
        break;
    case VERANI__WIRE__KIND__EVENT:
        if (c->welcomed)
            c_on_event(c, env);
        break;
    case VERANI__WIRE__KIND__REPLY:
        c_on_reply(c, env);
        break;
    case VERANI__WIRE__KIND__ERROR:
        c_on_server_error(c, env);
        break;
    case VERANI__WIRE__KIND__PING:
        if (c->wsi) {
            c->pong_pending++;
            lws_callback_on_writable(c->wsi);
        }
        break;
    case VERANI__WIRE__KIND__PONG:
        if (c->awaiting_pong) {
            c->awaiting_pong = 0;
            lws_sul_cancel(&c->sul_pong);
            c_arm_ping(c);
        }
        break;
    default:
        c_on_error(c, VERANI_EPROTO, "a frame of kind %d from the server: dropped",
                   (int)env->kind);
        break;
    }
    verani__wire__envelope__free_unpacked(env, &vr_pb_allocator);
}

static int c_receive(verani_client *c, struct lws *wsi, const void *in, size_t len)
{
    if (!c->rx_in_msg) {
        c->rx_len = 0;
        c->rx_overflow = 0;
        c->rx_binary = lws_frame_is_binary(wsi);
        c->rx_in_msg = 1;
    }
    if (!c->rx_overflow && c->rx_len + len > c->max_rx)
        c->rx_overflow = 1;
    if (!c->rx_overflow) {
        if (c->rx_len + len > c->rx_cap) {
            size_t cap = c->rx_cap ? c->rx_cap : 1024;
            unsigned char *n;

            while (cap < c->rx_len + len)
                cap *= 2;
            n = vr_client_realloc(c->rx, cap);
            if (!n) {
                c_set_error(c, "out of memory receiving a frame");
                return -1;
            }
            c->rx = n;
            c->rx_cap = cap;
        }
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return 0;
    c->rx_in_msg = 0;
    if (c->rx_overflow) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"too big", 7);
        c_set_error(c, "a frame from the server is over %u bytes", c->max_rx);
        return -1;
    }
    c_on_frame(c, c->rx, c->rx_len);
    /* Shrink a buffer a big frame left behind. */
    if (c->rx_cap > 65536 && !c->destroyed) {
        vr_client_free(c->rx);
        c->rx = NULL;
        c->rx_cap = 0;
    }
    return 0;
}

/* --- the lws protocol callback -------------------------------------------------- */

static int c_http_refused(int status)
{
    return status >= 400 && status < 500 && status != 408 && status != 429;
}

int vr_client_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                           void *in, size_t len)
{
    verani_client *c;
    int ret = 0;

    (void)user;
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        verani_client_loop *loop = lws_context_user(lws_get_context(wsi));

        if (loop)
            vr_loop_on_cancel(loop);
        return 0;
    }
    c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    if (!c) {
        /* A connection the client has detached (closing), or a vhost-level call. */
        return reason == LWS_CALLBACK_CLIENT_WRITEABLE ? -1 : 0;
    }

    c_enter(c);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = (unsigned char **)in, *end = (*p) + len;
        size_t i;

        for (i = 0; i < c->n_headers; i++) {
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)c->hdr_names[i],
                                            (const unsigned char *)c->hdr_values[i],
                                            (int)strlen(c->hdr_values[i]), p, end)) {
                c_set_error(c, "extra headers do not fit in the upgrade request");
                ret = -1;
                break;
            }
        }
        break;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->wsi = wsi;
        c->established = 1;
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        ret = c_receive(c, wsi, in, len);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        ret = c_writeable(c, wsi);
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *b = in;
            size_t rl = len - 2 < sizeof(c->peer_close_reason) - 1
                            ? len - 2 : sizeof(c->peer_close_reason) - 1;

            c->peer_close_code = (b[0] << 8) | b[1];
            memcpy(c->peer_close_reason, b + 2, rl);
            c->peer_close_reason[rl] = '\0';
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        int status = (int)lws_http_client_http_response(wsi);
        char what[200];

        lws_set_opaque_user_data(wsi, NULL);
        if (c_http_refused(status))
            c->refused = 1;
        if (status)
            snprintf(what, sizeof(what), "connection failed: %s (HTTP %d)",
                     in ? (const char *)in : "", status);
        else
            snprintf(what, sizeof(what), "connection failed: %s", in ? (const char *)in : "");
        c->wsi = NULL;
        c->wsi_live = 0;
        c_lost(c, c->refused ? VERANI_EDENIED : VERANI_EIO, what, VR_CLOSE_ABNORMAL,
               "connection failed");
        break;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY: {
        int code = c->peer_close_code ? c->peer_close_code : VR_CLOSE_ABNORMAL;
        char reason_buf[sizeof(c->peer_close_reason)];

        lws_set_opaque_user_data(wsi, NULL);
        memcpy(reason_buf, c->peer_close_reason, sizeof(reason_buf));
        c->wsi = NULL;
        c->wsi_live = 0;
        c_lost(c, 0, NULL, code, c->peer_close_code ? reason_buf : "connection lost");
        break;
    }
    default:
        break;
    }
    c_leave(c);
    return ret;
}

/* --- create and destroy ------------------------------------------------------------ */

static void c_free(verani_client *c)
{
    size_t i;

    vr_cqueue_clear(&c->outq);
    for (i = 0; i < c->n_headers; i++) {
        vr_client_free(c->hdr_names[i]);
        vr_client_free(c->hdr_values[i]);
    }
    vr_client_free(c->hdr_names);
    vr_client_free(c->hdr_values);
    vr_client_free(c->url);
    vr_client_free(c->host);
    vr_client_free(c->host_header);
    vr_client_free(c->path);
    vr_client_free(c->ca_file);
    vr_client_free(c->cbs);
    vr_client_free(c->ons);
    vr_client_free(c->rx);
    vr_client_free(c->resume_token);
    c_channels_clear(c);
    vr_client_free(c);
}

/* Tear down (once): callbacks of pending things, timers, connection. */
static void c_teardown(verani_client *c)
{
    c->user_closed = 1;
    lws_sul_cancel(&c->sul_retry);
    lws_sul_cancel(&c->sul_connect);
    lws_sul_cancel(&c->sul_ping);
    lws_sul_cancel(&c->sul_pong);
    c_detach(c, LWS_CLOSE_STATUS_NORMAL, "client closed");
    c->destroyed = 1;
    c_fail_all(c, VERANI_REPLY_CANCELLED);
    while (c->waits)
        c_wait_finish(c, c->waits, VERANI_ECLOSED);
    vr_loop_remove_client(c->loop, c);
}

void vr_client_destroy_now(verani_client *c)
{
    c_enter(c);
    if (!c->destroyed)
        c_teardown(c);
    c_leave(c);
}

static int c_destroy_body(void *arg)
{
    vr_client_destroy_now(arg);
    return 0;
}

void verani_client_destroy(verani_client *c)
{
    verani_client_loop *loop;
    int owns;

    if (!c)
        return;
    loop = c->loop;
    owns = c->owns_loop;
    if (owns && !vr_loop_can_block(loop)) {
        lwsl_err("[verani] client: a client that owns its loop cannot be destroyed from "
                 "its callbacks; disconnecting it instead\n");
        verani_client_disconnect(c);
        return;
    }
    vr_loop_call(loop, c_destroy_body, c);
    if (owns)
        verani_client_loop_destroy(loop);
}

/* Split "Name: value" into "Name:" and "value" (owned copies). */
static int c_split_header(const char *h, char **name, char **value)
{
    const char *colon = strchr(h, ':');
    const char *v;
    size_t n;

    if (!colon || colon == h)
        return VERANI_EINVAL;
    n = (size_t)(colon - h) + 1;
    v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    *name = vr_client_malloc(n + 1);
    *value = vr_client_strdup(v);
    if (!*name || !*value)
        return VERANI_ENOMEM;
    memcpy(*name, h, n);
    (*name)[n] = '\0';
    return 0;
}

static int c_parse_url(verani_client *c, const char *url, char *errbuf, size_t errlen)
{
    char *copy = vr_client_strdup(url);
    const char *prot = NULL, *ads = NULL, *path = NULL;
    int port = 0;
    size_t n;

    if (!copy)
        return VERANI_ENOMEM;
    if (lws_parse_uri(copy, &prot, &ads, &port, &path) || !ads || !ads[0]) {
        snprintf(errbuf, errlen, "cannot parse the URL \"%s\" (want ws://host:port/path)", url);
        vr_client_free(copy);
        return VERANI_EINVAL;
    }
    if (!strcmp(prot, "wss") || !strcmp(prot, "https")) {
        c->tls = 1;
    } else if (strcmp(prot, "ws") && strcmp(prot, "http")) {
        snprintf(errbuf, errlen, "the URL \"%s\" is not ws:// or wss://", url);
        vr_client_free(copy);
        return VERANI_EINVAL;
    }
    c->port = port;
    c->host = vr_client_strdup(ads);
    n = strlen(ads) + 16;
    c->host_header = vr_client_malloc(n);
    n = strlen(path ? path : "") + 2;
    c->path = vr_client_malloc(n);
    if (!c->host || !c->host_header || !c->path) {
        vr_client_free(copy);
        return VERANI_ENOMEM;
    }
    snprintf(c->host_header, strlen(ads) + 16, "%s:%d", ads, port);
    snprintf(c->path, n, "/%s", path ? path : "");
    vr_client_free(copy);
    return 0;
}

typedef struct {
    verani_client_loop *loop;
    const verani_client_options *opts;
    char *errbuf;
    size_t errlen;
    verani_client *out;
} vr_create_args;

static int c_create_body(void *arg)
{
    vr_create_args *a = arg;
    const verani_client_options *o = a->opts;
    verani_client *c;
    size_t i;
    int r;

    if (vr_loop_reserve_client(a->loop)) {
        snprintf(a->errbuf, a->errlen, "out of memory");
        return VERANI_ENOMEM;
    }
    c = vr_client_calloc(1, sizeof(*c));
    if (!c) {
        snprintf(a->errbuf, a->errlen, "out of memory");
        return VERANI_ENOMEM;
    }
    c->loop = a->loop;
    c->room = o->room;
    c->url = vr_client_strdup(o->url);
    if (!c->url) {
        r = VERANI_ENOMEM;
        goto fail;
    }
    r = c_parse_url(c, o->url, a->errbuf, a->errlen);
    if (r)
        goto fail;
    if (o->n_headers) {
        c->hdr_names = vr_client_calloc(o->n_headers, sizeof(char *));
        c->hdr_values = vr_client_calloc(o->n_headers, sizeof(char *));
        if (!c->hdr_names || !c->hdr_values) {
            r = VERANI_ENOMEM;
            goto fail;
        }
        for (i = 0; i < o->n_headers; i++) {
            c->n_headers = i + 1;
            r = c_split_header(o->headers[i], &c->hdr_names[i], &c->hdr_values[i]);
            if (r) {
                if (r == VERANI_EINVAL)
                    snprintf(a->errbuf, a->errlen, "header \"%s\" is not \"Name: value\"",
                             o->headers[i]);
                goto fail;
            }
        }
    }
    if (o->ca_file && !(c->ca_file = vr_client_strdup(o->ca_file))) {
        r = VERANI_ENOMEM;
        goto fail;
    }
    c->insecure = o->insecure;
    c->reconnect_disabled = o->reconnect_disabled;
    vr_backoff_from_options(&c->bo, o);
    c->max_attempts = o->max_attempts ? o->max_attempts : 10;
    c->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
    c->ping_interval_ms = o->ping_interval_ms == VERANI_CLIENT_NO_PING ? 0
                          : o->ping_interval_ms ? o->ping_interval_ms : 5000;
    c->pong_timeout_ms = o->pong_timeout_ms ? o->pong_timeout_ms : 5000;
    c->request_timeout_ms = o->request_timeout_ms ? o->request_timeout_ms : 10000;
    c->max_rx = o->max_rx_frame ? o->max_rx_frame : 16u * 1024u * 1024u;
    vr_cqueue_init(&c->outq, o->max_queue ? o->max_queue : 100);
    c->next_request_id = 1;
    c->next_cb_id = 1;
    c->state = VERANI_CLIENT_CONNECTING;
    c->vh = vr_loop_vhost(a->loop, c->ca_file, a->errbuf, a->errlen);
    if (!c->vh) {
        r = VERANI_EIO;
        goto fail;
    }
    lws_get_random(vr_loop_lws(a->loop), &c->rng, sizeof(c->rng));
    c->rng |= 1;
    vr_loop_add_client(a->loop, c);
    a->out = c;
    c_enter(c);
    c_connect(c);
    c_leave(c);
    return 0;

fail:
    c_free(c);
    return r;
}

verani_client *verani_client_create(verani_client_loop *loop, const verani_client_options *opts,
                                    char *errbuf, size_t errlen)
{
    char dummy[8];
    vr_create_args a;
    int owns = 0;

    if (!errbuf) {
        errbuf = dummy;
        errlen = sizeof(dummy);
    }
    errbuf[0] = '\0';
    if (!opts || !opts->url || !opts->room) {
        snprintf(errbuf, errlen, "options, options.url and options.room are required");
        return NULL;
    }
    if (opts->n_headers && !opts->headers) {
        snprintf(errbuf, errlen, "options.n_headers is set but options.headers is NULL");
        return NULL;
    }
    if (!loop) {
        loop = verani_client_loop_create(errbuf, errlen);
        if (!loop)
            return NULL;
        owns = 1;
    }
    memset(&a, 0, sizeof(a));
    a.loop = loop;
    a.opts = opts;
    a.errbuf = errbuf;
    a.errlen = errlen;
    if (vr_loop_call(loop, c_create_body, &a) || !a.out) {
        if (!errbuf[0])
            snprintf(errbuf, errlen, "cannot create the client");
        if (owns)
            verani_client_loop_destroy(loop);
        return NULL;
    }
    a.out->owns_loop = owns;
    return a.out;
}

verani_client_loop *verani_client_get_loop(verani_client *c)
{
    return c ? c->loop : NULL;
}

/* --- the public calls (each body runs on the loop's thread) -------------------------- */

static int c_disconnect_body(void *arg)
{
    verani_client *c = arg;
    int was_established;

    if (c->destroyed)
        return VERANI_ECLOSED;
    c_enter(c);
    was_established = c->established;
    c->user_closed = 1;
    lws_sul_cancel(&c->sul_retry);
    lws_sul_cancel(&c->sul_connect);
    lws_sul_cancel(&c->sul_ping);
    lws_sul_cancel(&c->sul_pong);
    c_detach(c, LWS_CLOSE_STATUS_NORMAL, "client disconnect");
    c->established = c->welcomed = 0;
    c->hello_pending = c->ping_pending = c->awaiting_pong = 0;
    c->pong_pending = 0;
    c->rx_in_msg = 0;
    c_fail_sent(c);
    if (was_established && !c->destroyed)
        c_fire(c, VR_CB_CLOSE, 1000, 0, "client disconnect");
    if (!c->destroyed)
        c_terminal(c, VERANI_CLIENT_DISCONNECTED);
    c_leave(c);
    return 0;
}

int verani_client_disconnect(verani_client *c)
{
    if (!c)
        return VERANI_EINVAL;
    return vr_loop_call(c->loop, c_disconnect_body, c);
}

static int c_reconnect_body(void *arg)
{
    verani_client *c = arg;

    if (c->destroyed)
        return VERANI_ECLOSED;
    c_enter(c);
    if (c->wsi_live) {
        int was_established = c->established;

        c->user_closed = 1; /* no automatic retry from this close */
        c_detach(c, LWS_CLOSE_STATUS_NORMAL, "client reconnect");
        lws_sul_cancel(&c->sul_ping);
        lws_sul_cancel(&c->sul_pong);
        c->established = c->welcomed = 0;
        c->rx_in_msg = 0;
        c->pong_pending = 0;
        c_fail_sent(c);
        if (was_established && !c->destroyed)
            c_fire(c, VR_CB_CLOSE, 1000, 0, "client reconnect");
    }
    if (!c->destroyed) {
        c->attempts = 0;
        c_connect(c);
    }
    c_leave(c);
    return 0;
}

int verani_client_reconnect(verani_client *c)
{
    if (!c)
        return VERANI_EINVAL;
    return vr_loop_call(c->loop, c_reconnect_body, c);
}

typedef struct {
    verani_client *c;
    verani_client_info *info;
    char *buf;
    size_t len;
    const char *channel;
} vr_info_args;

static int c_info_body(void *arg)
{
    vr_info_args *a = arg;
    verani_client *c = a->c;
    verani_client_info *i = a->info;

    memset(i, 0, sizeof(*i));
    i->state = c->state;
    i->attempts = c->attempts;
    i->connection_id = c->conn_id;
    c_copy(i->client_id, sizeof(i->client_id), c->client_id);
    c_copy(i->user_id, sizeof(i->user_id), c->user_id);
    i->last_seq = c->last_seq;
    i->resumed = c->resumed;
    i->recovery_failed = c->recovery_failed;
    i->queued = c->outq.len;
    i->dropped = c->outq.dropped;
    i->pending_requests = c->n_reqs;
    return 0;
}

int verani_client_get_info(verani_client *c, verani_client_info *info)
{
    vr_info_args a;

    if (!c || !info)
        return VERANI_EINVAL;
    memset(&a, 0, sizeof(a));
    a.c = c;
    a.info = info;
    return vr_loop_call(c->loop, c_info_body, &a);
}

verani_client_state verani_client_get_state(verani_client *c)
{
    verani_client_info info;

    if (!c || verani_client_get_info(c, &info))
        return VERANI_CLIENT_ERROR;
    return info.state;
}

static int c_last_error_body(void *arg)
{
    vr_info_args *a = arg;

    snprintf(a->buf, a->len, "%s", a->c->last_error);
    return 0;
}

int verani_client_last_error(verani_client *c, char *buf, size_t len)
{
    vr_info_args a;

    if (!c || !buf || !len)
        return VERANI_EINVAL;
    memset(&a, 0, sizeof(a));
    a.c = c;
    a.buf = buf;
    a.len = len;
    return vr_loop_call(c->loop, c_last_error_body, &a);
}

const char *verani_client_event_channel(verani_client *c)
{
    return c ? c->ev_channel : NULL;
}

uint64_t verani_client_event_seq(verani_client *c)
{
    return c ? c->ev_seq : 0;
}

static int c_in_channel_body(void *arg)
{
    vr_info_args *a = arg;

    return c_channel_index(a->c, a->channel) >= 0;
}

int verani_client_in_channel(verani_client *c, const char *channel)
{
    vr_info_args a;

    if (!c || !channel)
        return 0;
    memset(&a, 0, sizeof(a));
    a.c = c;
    a.channel = channel;
    return vr_loop_call(c->loop, c_in_channel_body, &a);
}

/* Lifecycle registrations. */
typedef struct {
    verani_client *c;
    vr_cb_kind kind;
    verani_fn fn;
    void *user;
    int id;
} vr_cb_args;

static int c_add_cb_body(void *arg)
{
    vr_cb_args *a = arg;
    verani_client *c = a->c;

    if (c->destroyed)
        return VERANI_ECLOSED;
    if (c->n_cbs == c->cap_cbs) {
        size_t cap = c->cap_cbs ? c->cap_cbs * 2 : 4;
        vr_cb *n = vr_client_realloc(c->cbs, cap * sizeof(*n));

        if (!n)
            return VERANI_ENOMEM;
        c->cbs = n;
        c->cap_cbs = cap;
    }
    c->cbs[c->n_cbs].id = c->next_cb_id++;
    c->cbs[c->n_cbs].kind = a->kind;
    c->cbs[c->n_cbs].fn = a->fn;
    c->cbs[c->n_cbs].user = a->user;
    c->cbs[c->n_cbs].dead = 0;
    return c->cbs[c->n_cbs++].id;
}

static int c_add_cb(verani_client *c, vr_cb_kind kind, verani_fn fn, void *user)
{
    vr_cb_args a;

    if (!c || !fn)
        return VERANI_EINVAL;
    memset(&a, 0, sizeof(a));
    a.c = c;
    a.kind = kind;
    a.fn = fn;
    a.user = user;
    return vr_loop_call(c->loop, c_add_cb_body, &a);
}

int verani_client_on_open(verani_client *c, verani_client_open_fn fn, void *user)
{
    return c_add_cb(c, VR_CB_OPEN, (verani_fn)fn, user);
}

int verani_client_on_close(verani_client *c, verani_client_close_fn fn, void *user)
{
    return c_add_cb(c, VR_CB_CLOSE, (verani_fn)fn, user);
}

int verani_client_on_error(verani_client *c, verani_client_error_fn fn, void *user)
{
    return c_add_cb(c, VR_CB_ERROR, (verani_fn)fn, user);
}

int verani_client_on_state_change(verani_client *c, verani_client_state_fn fn, void *user)
{
    return c_add_cb(c, VR_CB_STATE, (verani_fn)fn, user);
}

static int c_remove_cb_body(void *arg)
{
    vr_cb_args *a = arg;
    verani_client *c = a->c;
    size_t i;

    for (i = 0; i < c->n_cbs; i++) {
        if (c->cbs[i].id == a->id && !c->cbs[i].dead) {
            c->cbs[i].dead = 1;
            c_compact(c);
            return 0;
        }
    }
    return VERANI_ENOTFOUND;
}

int verani_client_remove_callback(verani_client *c, int id)
{
    vr_cb_args a;

    if (!c)
        return VERANI_EINVAL;
    memset(&a, 0, sizeof(a));
    a.c = c;
    a.id = id;
    return vr_loop_call(c->loop, c_remove_cb_body, &a);
}

/* Waiting for the connection. */
typedef struct {
    verani_client *c;
    uint32_t timeout_ms;
    verani_client_wait_fn fn;
    void *user;
} vr_wait_args;

static int c_wait_body(void *arg)
{
    vr_wait_args *a = arg;
    verani_client *c = a->c;
    vr_wait *w;

    if (c->destroyed)
        return VERANI_ECLOSED;
    if (c->state == VERANI_CLIENT_CONNECTED) {
        c_enter(c);
        a->fn(c, VERANI_OK, a->user);
        c_leave(c);
        return 0;
    }
    if (c->state == VERANI_CLIENT_ERROR || c->state == VERANI_CLIENT_DISCONNECTED) {
        c_enter(c);
        a->fn(c, VERANI_ECLOSED, a->user);
        c_leave(c);
        return 0;
    }
    w = vr_client_calloc(1, sizeof(*w));
    if (!w)
        return VERANI_ENOMEM;
    w->c = c;
    w->fn = a->fn;
    w->user = a->user;
    w->next = c->waits;
    c->waits = w;
    lws_sul_schedule(vr_loop_lws(c->loop), 0, &w->sul, c_wait_timeout_cb,
                     (lws_usec_t)(a->timeout_ms ? a->timeout_ms : 2u * c->connect_timeout_ms) *
                         LWS_US_PER_MS);
    return 0;
}

int verani_client_wait_connected(verani_client *c, uint32_t timeout_ms, verani_client_wait_fn fn,
                                 void *user)
{
    vr_wait_args a;

    if (!c || !fn)
        return VERANI_EINVAL;
    a.c = c;
    a.timeout_ms = timeout_ms;
    a.fn = fn;
    a.user = user;
    return vr_loop_call(c->loop, c_wait_body, &a);
}

/* The blocking wait: a done flag the callback sets, under the waiter's own lock. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    int result;
} vr_block;

static void c_block_cb(verani_client *c, int result, void *user)
{
    vr_block *b = user;

    (void)c;
    pthread_mutex_lock(&b->lock);
    b->done = 1;
    b->result = result;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

/* Remove, without calling it, the wait registered with (fn, user). */
static int c_wait_withdraw_body(void *arg)
{
    vr_wait_args *a = arg;
    vr_wait **pp;

    for (pp = &a->c->waits; *pp; pp = &(*pp)->next) {
        vr_wait *w = *pp;

        if (w->fn == a->fn && w->user == a->user) {
            *pp = w->next;
            lws_sul_cancel(&w->sul);
            vr_client_free(w);
            return 0;
        }
    }
    return VERANI_ENOTFOUND;
}

int verani_client_wait_for_connection(verani_client *c, uint32_t timeout_ms)
{
    verani_client_loop *loop;
    vr_block b;
    int r;

    if (!c)
        return VERANI_EINVAL;
    loop = c->loop;
    if (!vr_loop_can_block(loop))
        return VERANI_ESTATE;
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.cond, NULL);
    b.done = 0;
    b.result = VERANI_ETIMEDOUT;
    r = verani_client_wait_connected(c, timeout_ms, c_block_cb, &b);
    if (r) {
        pthread_mutex_destroy(&b.lock);
        pthread_cond_destroy(&b.cond);
        return r;
    }
    if (vr_loop_is_threaded(loop)) {
        pthread_mutex_lock(&b.lock);
        while (!b.done)
            pthread_cond_wait(&b.cond, &b.lock);
        pthread_mutex_unlock(&b.lock);
    } else {
        while (!b.done) {
            r = verani_client_loop_service(loop, 1000);
            if (r) {
                vr_wait_args a;

                /* Cannot service: withdraw the waiter, which points at `b`. */
                a.c = c;
                a.fn = c_block_cb;
                a.user = &b;
                a.timeout_ms = 0;
                vr_loop_call(loop, c_wait_withdraw_body, &a);
                if (!b.done)
                    b.result = r;
                break;
            }
        }
    }
    pthread_mutex_destroy(&b.lock);
    pthread_cond_destroy(&b.cond);
    return b.result;
}

/* --- gen.h: emit, request, on, off ------------------------------------------------- */

typedef struct {
    verani_client *c;
    const verani_event_def *ev;
    const ProtobufCMessage *msg;
    uint32_t timeout_ms;
    verani_reply_invoke_fn invoke;
    verani_client_invoke_fn on_invoke;
    verani_client_channel_fn ch_fn;
    verani_fn fn;
    void *user;
    int once;
    const char *channel;
    vr_req_kind kind;
} vr_send_args;

/* Check `ev` belongs to table `t` and `msg` matches its payload type. */
static int c_check_event(verani_client *c, const verani_event_def *ev, const verani_event_def *t,
                         size_t n, const char *dir, const ProtobufCMessage *msg, int check_msg)
{
    const verani_event_def *found = ev ? c_find_event(t, n, ev->id) : NULL;

    if (!found || (found != ev && strcmp(found->name, ev->name))) {
        c_set_error(c, "event %s is not an `%s` event of room %s", ev ? ev->name : "(null)", dir,
                    c->room->name);
        return VERANI_ENOTFOUND;
    }
    if (!check_msg)
        return 0;
    if (ev->in && !msg) {
        c_set_error(c, "event %s needs a payload", ev->name);
        return VERANI_EINVAL;
    }
    if (!ev->in && msg) {
        c_set_error(c, "event %s takes no payload", ev->name);
        return VERANI_EINVAL;
    }
    if (msg && msg->descriptor != ev->in) {
        c_set_error(c, "event %s: the payload is a %s, not a %s", ev->name,
                    msg->descriptor->name, ev->in->name);
        return VERANI_EINVAL;
    }
    if (msg && ev->validate_in) {
        verani_verr verr;

        memset(&verr, 0, sizeof(verr));
        if (ev->validate_in(msg, &verr) != 0) {
            c_set_error(c, "event %s: invalid payload: %s: %s", ev->name, verr.path, verr.reason);
            return VERANI_EINVAL;
        }
    }
    return 0;
}

/* Pack an EVENT or REQUEST envelope with the payload of `msg`. */
static vr_cframe *c_pack_event(verani_client *c, Verani__Wire__Kind kind,
                               const verani_event_def *ev, const ProtobufCMessage *msg,
                               uint64_t request_id, int *err)
{
    Verani__Wire__Envelope env = VERANI__WIRE__ENVELOPE__INIT;
    uint8_t small[256];
    uint8_t *payload = small;
    size_t plen = msg ? protobuf_c_message_get_packed_size(msg) : 0;
    vr_cframe *f;

    if (plen > sizeof(small)) {
        payload = vr_client_malloc(plen);
        if (!payload) {
            *err = VERANI_ENOMEM;
            return NULL;
        }
    }
    if (msg)
        protobuf_c_message_pack(msg, payload);
    env.has_kind = 1;
    env.kind = kind;
    env.has_event = 1;
    env.event = ev->id;
    if (msg) {
        env.has_payload = 1;
        env.payload.len = plen;
        env.payload.data = payload;
    }
    if (request_id) {
        env.has_request_id = 1;
        env.request_id = request_id;
    }
    f = c_pack(&env);
    if (payload != small)
        vr_client_free(payload);
    if (!f) {
        *err = VERANI_ENOMEM;
        return NULL;
    }
    if (c->room->max_frame && f->len > c->room->max_frame) {
        c_set_error(c, "event %s: the frame is %zu bytes, over the room's max_frame %u", ev->name,
                    f->len, c->room->max_frame);
        vr_cframe_free(f);
        *err = VERANI_ETOOBIG;
        return NULL;
    }
    f->request_id = request_id;
    return f;
}

static int c_emit_body(void *arg)
{
    vr_send_args *a = arg;
    verani_client *c = a->c;
    vr_cframe *f;
    int r;

    if (c->destroyed)
        return VERANI_ECLOSED;
    r = c_check_event(c, a->ev, c->room->on, c->room->n_on, "on", a->msg, 1);
    if (r)
        return r;
    if (a->ev->out) {
        c_set_error(c, "event %s has a reply: send it with a request", a->ev->name);
        return VERANI_EINVAL;
    }
    f = c_pack_event(c, VERANI__WIRE__KIND__EVENT, a->ev, a->msg, 0, &r);
    if (!f)
        return r;
    c_enter(c);
    c_enqueue(c, f);
    c_leave(c);
    return 0;
}

int verani_client_emit(verani_client *c, const verani_event_def *ev, const ProtobufCMessage *msg)
{
    vr_send_args a;

    if (!c || !ev)
        return VERANI_EINVAL;
    memset(&a, 0, sizeof(a));
    a.c = c;
    a.ev = ev;
    a.msg = msg;
    return vr_loop_call(c->loop, c_emit_body, &a);
}

static vr_req *c_req_new(verani_client *c, vr_send_args *a)
{
    vr_req *r = vr_client_calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    if (a->channel && !(r->channel = vr_client_strdup(a->channel))) {
        vr_client_free(r);
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

static void c_req_start(verani_client *c, vr_req *r, vr_cframe *f, uint32_t timeout_ms)
{
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    c->n_reqs++;
    lws_sul_schedule(vr_loop_lws(c->loop), 0, &r->sul, c_req_timeout_cb,
                     (lws_usec_t)(timeout_ms ? timeout_ms : c->request_timeout_ms) *
                         LWS_US_PER_MS);
    c_enqueue(c, f);
}

static int c_request_body(void *arg)
{
    vr_send_args *a = arg;
    verani_client *c = a->c;
    vr_cframe *f;
    vr_req *r;
    int err = 0;

    if (c->destroyed)
        return VERANI_ECLOSED;
    err = c_check_event(c, a->ev, c->room->on, c->room->n_on, "on", a->msg, 1);
    if (err)
        return err;
    if (!a->ev->out) {
        c_set_error(c, "event %s has no reply: send it with emit", a->ev->name);
        return VERANI_EINVAL;
    }
    r = c_req_new(c, a);
    if (!r)
        return VERANI_ENOMEM;
    f = c_pack_event(c, VERANI__WIRE__KIND__REQUEST, a->ev, a->msg, r->id, &err);
    if (!f) {
        vr_client_free(r);
        return err;
    }
    c_enter(c);
    c_req_start(c, r, f, a->timeout_ms);
    c_leave(c);
    return 0;
}

int verani_client_request(verani_client *c, const verani_event_def *ev,
                          const ProtobufCMessage *msg, uint32_t timeout_ms,
                          verani_reply_invoke_fn invoke, verani_fn fn, void *user)
{
    vr_send_args a;

    if (!c || !ev || !invoke)
        return VERANI_EINVAL;
    memset(&a, 0, sizeof(a));
    a.c = c;
    a.ev = ev;
    a.msg = msg;
    a.timeout_ms = timeout_ms;
    a.invoke = invoke;
    a.fn = fn;
    a.user = user;
    a.kind = VR_REQ_EVENT;
    return vr_loop_call(c->loop, c_request_body, &a);
}

static int c_channel_body(void *arg)
{
    vr_send_args *a = arg;
    verani_client *c = a->c;
    Verani__Wire__Envelope env = VERANI__WIRE__ENVELOPE__INIT;
    vr_cframe *f;
    vr_req *r;

    if (c->destroyed)
        return VERANI_ECLOSED;
    r = c_req_new(c, a);
    if (!r)
        return VERANI_ENOMEM;
    env.has_kind = 1;
    env.kind = a->kind == VR_REQ_JOIN ? VERANI__WIRE__KIND__JOIN : VERANI__WIRE__KIND__LEAVE;
    env.channel = (char *)a->channel;
    env.has_request_id = 1;
    env.request_id = r->id;
    f = c_pack(&env);
    if (!f) {
        vr_client_free(r->channel);
        vr_client_free(r);
        return VERANI_ENOMEM;
    }
    f->request_id = r->id;
    c_enter(c);
    c_req_start(c, r, f, 0);
    c_leave(c);
    return 0;
}

static int c_channel_op(verani_client *c, vr_req_kind kind, const char *channel,
                        verani_client_channel_fn fn, void *user)
{
    vr_send_args a;

    if (!c || !channel || !channel[0])
        return VERANI_EINVAL;
    memset(&a, 0, sizeof(a));
    a.c = c;
    a.kind = kind;
    a.channel = channel;
    a.ch_fn = fn;
    a.user = user;
    return vr_loop_call(c->loop, c_channel_body, &a);
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

static int c_on_body(void *arg)
{
    vr_send_args *a = arg;
    verani_client *c = a->c;
    int r;

    if (c->destroyed)
        return VERANI_ECLOSED;
    r = c_check_event(c, a->ev, c->room->emit, c->room->n_emit, "emit", NULL, 0);
    if (r)
        return r;
    if (c->n_ons == c->cap_ons) {
        size_t cap = c->cap_ons ? c->cap_ons * 2 : 8;
        vr_on *n = vr_client_realloc(c->ons, cap * sizeof(*n));

        if (!n)
            return VERANI_ENOMEM;
        c->ons = n;
        c->cap_ons = cap;
    }
    c->ons[c->n_ons].event = a->ev->id;
    c->ons[c->n_ons].invoke = a->on_invoke;
    c->ons[c->n_ons].fn = a->fn;
    c->ons[c->n_ons].user = a->user;
    c->ons[c->n_ons].once = a->once;
    c->ons[c->n_ons].dead = 0;
    c->n_ons++;
    return 0;
}

int verani_client_on(verani_client *c, const verani_event_def *ev, verani_client_invoke_fn invoke,
                     verani_fn fn, void *user, int once)
{
    vr_send_args a;

    if (!c || !ev || !invoke || !fn)
        return VERANI_EINVAL;
    memset(&a, 0, sizeof(a));
    a.c = c;
    a.ev = ev;
    a.on_invoke = invoke;
    a.fn = fn;
    a.user = user;
    a.once = once;
    return vr_loop_call(c->loop, c_on_body, &a);
}

static int c_off_body(void *arg)
{
    vr_send_args *a = arg;
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
    c_compact(c);
    return n;
}

int verani_client_off(verani_client *c, const verani_event_def *ev, verani_fn fn, void *user)
{
    vr_send_args a;

    if (!c || !ev)
        return VERANI_EINVAL;
    memset(&a, 0, sizeof(a));
    a.c = c;
    a.ev = ev;
    a.fn = fn;
    a.user = user;
    return vr_loop_call(c->loop, c_off_body, &a);
}
