/* SPDX-License-Identifier: MIT */
/*
 * client.c: the Verani-C client object: options, create and destroy, the
 * states and the firing of their lifecycle callbacks (on_open, on_close,
 * on_error, on_state_change), the last error, and the bookkeeping of the
 * waits for a connection. Every body runs on the loop's thread: the public
 * calls pack their arguments and go through vr_loop_call (client_loop.c);
 * the queries, registrations and waits themselves are client_calls.c's. It
 * does not touch the wire: connecting, reading and writing are
 * client_conn.c's, requests and joins client_reqs.c's, typed events
 * client_events.c's. It does not own the lws context (the loop does).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "client-int.h"
#include "core/core-private.h"

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

static void c_vset_error(verani_client *c, const char *fmt, va_list ap) VERANI_PRINTF(2, 0);
static void c_vset_error(verani_client *c, const char *fmt, va_list ap)
{
    vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
    VR_INFO("client %s: %s\n", c->url, c->last_error);
}

void vr_client_set_error(verani_client *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    c_vset_error(c, fmt, ap);
    va_end(ap);
}

void vr_client_enter(verani_client *c)
{
    c->depth++;
    vr_loop_enter(c->loop);
}

static void c_free(verani_client *c);

/* Returns 1 when the client was freed. */
int vr_client_leave(verani_client *c)
{
    verani_client_loop *loop = c->loop;

    vr_loop_leave(loop);
    if (--c->depth == 0 && c->destroyed) {
        c_free(c);
        return 1;
    }
    return 0;
}

void vr_client_compact(verani_client *c)
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

void *vr_client_grow(void *items, size_t *cap, size_t n, size_t size, size_t first)
{
    size_t want;
    void *p;

    if (n < *cap)
        return items;
    want = *cap ? *cap * 2 : first;
    if (want < *cap || want > SIZE_MAX / size)
        return NULL;
    p = vr_realloc(items, want * size);
    if (p)
        *cap = want;
    return p;
}

/* --- lifecycle callbacks ------------------------------------------------------ */

void vr_client_fire(verani_client *c, vr_cb_kind kind, int a, int b, const char *text)
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
        case VR_CB_RECOVERY:
            ((verani_client_recovery_fn)cb.fn)(c, a, cb.user);
            break;
        }
    }
    c->iterating--;
    vr_client_compact(c);
}

void vr_client_error(verani_client *c, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    c_vset_error(c, fmt, ap);
    va_end(ap);
    vr_client_fire(c, VR_CB_ERROR, err, 0, c->last_error);
}

/* --- waits ------------------------------------------------------------------ */

vr_wait *vr_client_wait_take(verani_client *c,
                             int (*match)(const vr_wait *w, const void *key), const void *key)
{
    vr_wait **pp;

    for (pp = &c->waits; *pp; pp = &(*pp)->next) {
        vr_wait *w = *pp;

        if (match(w, key)) {
            *pp = w->next;
            lws_sul_cancel(&w->sul);
            return w;
        }
    }
    return NULL;
}

static int c_wait_is(const vr_wait *w, const void *key)
{
    return w == key;
}

static void c_wait_finish(verani_client *c, vr_wait *w, int result)
{
    vr_client_wait_take(c, c_wait_is, w);
    w->fn(c, result, w->user);
    vr_free(w);
}

static void c_waits_resolve(verani_client *c, int result)
{
    while (c->waits)
        c_wait_finish(c, c->waits, result);
}

void vr_client_wait_timeout_cb(lws_sorted_usec_list_t *sul)
{
    vr_wait *w = lws_container_of(sul, vr_wait, sul);
    verani_client *c = w->c;

    vr_client_enter(c);
    c_wait_finish(c, w, VERANI_ETIMEDOUT);
    vr_client_leave(c);
}

/* --- state ------------------------------------------------------------------- */

void vr_client_set_state(verani_client *c, verani_client_state st)
{
    verani_client_state old = c->state;

    if (old == st || c->destroyed)
        return;
    c->state = st;
    VR_INFO("client %s: %s -> %s\n", c->url, verani_client_state_name(old),
            verani_client_state_name(st));
    vr_client_fire(c, VR_CB_STATE, (int)old, (int)st, NULL);
    if (c->destroyed || c->state != st)
        return;
    if (st == VERANI_CLIENT_CONNECTED)
        c_waits_resolve(c, VERANI_OK);
    else if (st == VERANI_CLIENT_ERROR || st == VERANI_CLIENT_DISCONNECTED)
        c_waits_resolve(c, VERANI_ECLOSED);
}

/* The options' backoff with every default filled in (core/backoff.c computes the delays). */
void vr_backoff_from_options(vr_backoff *b, const verani_client_options *opts)
{
    b->initial_ms = opts->initial_delay_ms ? opts->initial_delay_ms : 1000;
    b->max_ms = opts->max_delay_ms ? opts->max_delay_ms : 30000;
    if (b->max_ms < b->initial_ms)
        b->max_ms = b->initial_ms;
    b->multiplier = opts->backoff_multiplier > 0.0f ? (double)opts->backoff_multiplier : 1.5;
    if (b->multiplier < 1.0)
        b->multiplier = 1.0;
    if (opts->jitter_percent < 0)
        b->jitter_percent = 0;
    else if (opts->jitter_percent == 0)
        b->jitter_percent = 20;
    else
        b->jitter_percent = opts->jitter_percent > 100 ? 100 : opts->jitter_percent;
}

/* --- create and destroy ------------------------------------------------------------ */

static void c_free(verani_client *c)
{
    size_t i;

    vr_cqueue_clear(&c->outq);
    for (i = 0; i < c->n_headers; i++) {
        vr_free(c->hdr_names[i]);
        vr_free(c->hdr_values[i]);
    }
    vr_free(c->hdr_names);
    vr_free(c->hdr_values);
    vr_free(c->url);
    vr_free(c->host);
    vr_free(c->host_header);
    vr_free(c->path);
    vr_free(c->moved_url);
    vr_free(c->ca_file);
    vr_free(c->cbs);
    vr_free(c->ons);
    vr_free(c->rx);
    vr_free(c->resume_token);
    vr_client_channels_clear(c);
    vr_free(c);
}

/* Tear down (once): callbacks of pending things, timers, connection. */
static void c_teardown(verani_client *c)
{
    c->user_closed = 1;
    vr_client_cancel_timers(c);
    vr_client_detach(c, LWS_CLOSE_STATUS_NORMAL, "client closed");
    c->destroyed = 1;
    vr_client_fail_all(c, VERANI_REPLY_CANCELLED);
    c_waits_resolve(c, VERANI_ECLOSED);
    vr_loop_remove_client(c->loop, c);
}

void vr_client_destroy_now(verani_client *c)
{
    vr_client_enter(c);
    if (!c->destroyed)
        c_teardown(c);
    vr_client_leave(c);
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
        VR_ERR("client: a client that owns its loop cannot be destroyed from "
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
    *name = vr_malloc(n + 1);
    *value = vr_strdup(v);
    if (!*name || !*value)
        return VERANI_ENOMEM;
    memcpy(*name, h, n);
    (*name)[n] = '\0';
    return 0;
}

/* Does the query of `path` ("/p?a=1&b") have a parameter `name` (with a value or not)? The
 * names are compared urldecoded by libwebsockets, as the server reads them ("hell%6F" is
 * "hello"); a name too long to be `name` encoded is none. */
static int c_query_has(const char *path, const char *name)
{
    const char *p = strchr(path, '?');
    char enc[64], dec[64];

    while (p) {
        size_t n = strcspn(++p, "=&");

        if (n < sizeof(enc)) {
            memcpy(enc, p, n);
            enc[n] = '\0';
            if (!lws_urldecode(dec, enc, (int)sizeof(dec)) && !strcmp(dec, name))
                return 1;
        }
        p = strchr(p, '&');
    }
    return 0;
}

static int c_parse_url(verani_client *c, const char *url, char *errbuf, size_t errlen)
{
    char *copy = vr_strdup(url);
    const char *prot = NULL, *ads = NULL, *path = NULL;
    int port = 0;
    size_t hn, pn;

    if (!copy)
        return VERANI_ENOMEM;
    if (lws_parse_uri(copy, &prot, &ads, &port, &path) || !ads || !ads[0]) {
        snprintf(errbuf, errlen, "cannot parse the URL \"%s\" (want ws://host:port/path)", url);
        vr_free(copy);
        return VERANI_EINVAL;
    }
    if (!strcmp(prot, "wss") || !strcmp(prot, "https")) {
        c->tls = 1;
    } else if (strcmp(prot, "ws") && strcmp(prot, "http")) {
        snprintf(errbuf, errlen, "the URL \"%s\" is not ws:// or wss://", url);
        vr_free(copy);
        return VERANI_EINVAL;
    }
    if (!path)
        path = "";
    else /* a fragment is no part of a WebSocket's request (RFC 6455 section 3) */
        copy[(size_t)(path - copy) + strcspn(path, "#")] = '\0'; /* (path is in copy) */
    if (c_query_has(path, "hello")) {
        snprintf(errbuf, errlen, "the URL \"%s\" has a query parameter 'hello', which is the "
                 "client's own (the HELLO folded into the upgrade): leave it out", url);
        vr_free(copy);
        return VERANI_EINVAL;
    }
    c->port = port;
    c->host = vr_strdup(ads);
    hn = strlen(ads) + 16;
    c->host_header = vr_malloc(hn);
    pn = strlen(path) + 2;
    c->path = vr_malloc(pn);
    if (!c->host || !c->host_header || !c->path) {
        vr_free(copy);
        return VERANI_ENOMEM;
    }
    snprintf(c->host_header, hn, "%s:%d", ads, port);
    snprintf(c->path, pn, "/%s", path);
    vr_free(copy);
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
    c = vr_calloc(1, sizeof(*c));
    if (!c) {
        snprintf(a->errbuf, a->errlen, "out of memory");
        return VERANI_ENOMEM;
    }
    c->loop = a->loop;
    c->room = o->room;
    c->url = vr_strdup(o->url);
    if (!c->url) {
        r = VERANI_ENOMEM;
        goto fail;
    }
    r = c_parse_url(c, o->url, a->errbuf, a->errlen);
    if (r)
        goto fail;
    if (o->n_headers) {
        c->hdr_names = vr_calloc(o->n_headers, sizeof(char *));
        c->hdr_values = vr_calloc(o->n_headers, sizeof(char *));
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
    if (o->ca_file && !(c->ca_file = vr_strdup(o->ca_file))) {
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
    c->max_send = o->max_send_bytes ? o->max_send_bytes : 16u * 1024u * 1024u;
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
    vr_client_enter(c);
    vr_client_connect(c);
    vr_client_leave(c);
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
    if (opts->room->wire == VERANI_WIRE_JSON) {
        snprintf(errbuf, errlen, "room %s speaks only Verani's JSON wire (`wire json;`): this "
                 "client speaks the binary one; give the room `wire both \"<path>\";`",
                 opts->room->name);
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

