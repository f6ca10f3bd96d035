/* SPDX-License-Identifier: MIT */
/*
 * redis.c: the cluster's Redis engine (redis-private.h): two hiredis async
 * connections on the server's libev loop, with deadlines, reconnection and
 * re-subscription that hiredis 0.14.1 does not provide.
 *
 * A link is one connection (`cmd` or `sub`) and goes DOWN -> CONNECTING ->
 * HANDSHAKE (AUTH, then PING or SUBSCRIBE) -> UP; any failure takes it to
 * DOWN with a reason, and a retry timer (backoff with jitter) starts the next
 * attempt. Commands are kept in a FIFO in send order (Redis answers in
 * order), so the oldest one's send time is the head's: the watchdog compares
 * it with command_timeout_ms. hiredis runs every waiting callback with a NULL
 * reply when a context is freed; those reach the caller as errors carrying
 * the link's reason.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libev.h>

#include "core/core-private.h"
#include "redis-private.h"

enum { L_DOWN, L_CONNECTING, L_HANDSHAKE, L_UP };
enum { LINK_CMD, LINK_SUB };

/* One command waiting for its reply; owned by the link's FIFO until answered. */
typedef struct vr_redis_call {
    struct vr_redis_call *next;
    struct vr_redis_link *link;
    vr_redis_cb cb;            /* may be NULL */
    void *arg;
    int internal;              /* the handshake's AUTH or PING: not in the stats */
    ev_tstamp sent;
} vr_redis_call;

typedef struct vr_redis_link {
    vr_redis *r;
    int which;                 /* LINK_CMD or LINK_SUB */
    int state;
    redisAsyncContext *ac;     /* hiredis' while CONNECTING..UP; NULL when DOWN */
    uint32_t attempt;          /* failed attempts since the last UP */
    int ever_up;
    ev_tstamp started;         /* when the current attempt began */
    size_t subs_pending;       /* SUBSCRIBE confirmations still expected */
    vr_redis_call *head, *tail;
    ev_timer retry;            /* backoff before the next attempt */
    ev_timer watchdog;         /* handshake and command deadlines */
    int fail_pending;          /* `why` is set: the watchdog takes the link down */
    char why[160];             /* why the link went down last */
} vr_redis_link;

struct vr_redis {
    struct ev_loop *loop;
    char *unix_path;           /* owned; or: */
    char ip[INET6_ADDRSTRLEN];
    int port;
    char *password;            /* owned; NULL: no AUTH */
    const char *const *preload;/* borrowed (vr_redis_options) */
    size_t n_preload;
    char *name;                /* owned */
    double connect_timeout, command_timeout;  /* seconds */
    vr_backoff backoff;
    void (*on_state)(vr_redis *r, int up, void *arg);
    void (*on_message)(vr_redis *r, const char *channel, const char *data, size_t len,
                       void *arg);
    void *arg;
    vr_redis_link link[2];
    char **channels;           /* owned, n_channels of them, each owned */
    size_t n_channels;
    int up;                    /* as last reported through on_state */
    int destroying;
    vr_redis_stats stats;
    char last_error[360];
};

static void link_connect(vr_redis_link *l);

/* --- addresses ---------------------------------------------------------------- */

static int parse_address(vr_redis *r, const char *a, char *err, size_t errlen)
{
    const char *host, *colon;
    char buf[INET6_ADDRSTRLEN];
    unsigned char probe[sizeof(struct in6_addr)];
    size_t hl;
    long port = 6379;

    if (!a || !*a) {
        snprintf(err, errlen, "no Redis address (\"unix:/path\" or \"redis://IP:port\")");
        return VERANI_EINVAL;
    }
    if (!strncmp(a, "unix:", 5)) {
        if (a[5] != '/') {
            snprintf(err, errlen, "Redis address '%.100s': a unix socket path must be absolute", a);
            return VERANI_EINVAL;
        }
        r->unix_path = vr_strdup(a + 5);
        return r->unix_path ? 0 : VERANI_ENOMEM;
    }
    host = !strncmp(a, "redis://", 8) ? a + 8 : a;
    if (*host == '[') {                     /* [v6]:port */
        const char *end = strchr(host, ']');

        if (!end) {
            snprintf(err, errlen, "Redis address '%.100s': no ']' after the IPv6 address", a);
            return VERANI_EINVAL;
        }
        hl = (size_t)(end - host - 1);
        host++;
        colon = end[1] == ':' ? end + 1 : (end[1] ? end : NULL);
        if (colon == end) {
            snprintf(err, errlen, "Redis address '%.100s': ']' must end it or be followed by ':port'",
                     a);
            return VERANI_EINVAL;
        }
    } else {
        colon = strrchr(host, ':');
        if (colon && strchr(host, ':') != colon)
            colon = NULL;                   /* a bare IPv6 address: no port */
        hl = colon ? (size_t)(colon - host) : strlen(host);
    }
    if (colon) {
        char *end;

        port = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end || port < 1 || port > 65535) {
            snprintf(err, errlen, "Redis address '%.100s': the port must be 1 to 65535", a);
            return VERANI_EINVAL;
        }
    }
    if (hl == 0 || hl >= sizeof(buf)) {
        snprintf(err, errlen, "Redis address '%.100s': no IP address", a);
        return VERANI_EINVAL;
    }
    memcpy(buf, host, hl);
    buf[hl] = '\0';
    if (inet_pton(AF_INET, buf, probe) != 1 && inet_pton(AF_INET6, buf, probe) != 1) {
        snprintf(err, errlen, "Redis address '%.100s': '%s' is not an IP address (use an IP "
                 "literal or unix:/path: hiredis 0.14.1 would resolve a name with a blocking "
                 "call on the loop thread)", a, buf);
        return VERANI_EINVAL;
    }
    memcpy(r->ip, buf, hl + 1);
    r->port = (int)port;
    return 0;
}

/* --- state ---------------------------------------------------------------------- */

static const char *link_name(const vr_redis_link *l)
{
    return l->which == LINK_CMD ? "cmd" : "sub";
}

static void report_state(vr_redis *r)
{
    int up = r->link[LINK_CMD].state == L_UP &&
             (r->link[LINK_SUB].state == L_UP || r->n_channels == 0);

    r->stats.up = up;
    if (up == r->up || r->destroying)
        return;
    r->up = up;
    if (up)
        VR_NOTICE("%s: Redis %s%s up\n", r->name, r->unix_path ? r->unix_path : r->ip,
                  r->link[LINK_CMD].ever_up > 1 ? " is back" : "");
    if (r->on_state)
        r->on_state(r, up, r->arg);
}

static void watchdog_arm(vr_redis_link *l)
{
    vr_redis *r = l->r;
    double every = r->command_timeout / 8;

    if (every < 0.02)
        every = 0.02;
    if (!ev_is_active(&l->watchdog)) {
        ev_timer_set(&l->watchdog, every, every);
        ev_timer_start(r->loop, &l->watchdog);
    }
}

/* The link is lost: record why, free the context (hiredis runs the waiting
 * callbacks with NULL, which read l->why), and schedule the next attempt. */
static void link_down(vr_redis_link *l, const char *fmt, ...) VERANI_PRINTF(2, 3);
static void link_down(vr_redis_link *l, const char *fmt, ...)
{
    vr_redis *r = l->r;
    redisAsyncContext *ac = l->ac;
    va_list ap;
    uint32_t rnd = 0, delay;
    int was_up = l->state == L_UP;

    va_start(ap, fmt);
    vsnprintf(l->why, sizeof(l->why), fmt, ap);
    va_end(ap);
    snprintf(r->last_error, sizeof(r->last_error), "Redis %s (%s connection): %s",
             r->unix_path ? r->unix_path : r->ip, link_name(l), l->why);
    l->fail_pending = 0;
    if (!r->destroying && (was_up || l->attempt == 0))
        VR_WARN("%s: %s\n", r->name, r->last_error);
    l->state = L_DOWN;
    l->ac = NULL;
    ev_timer_stop(r->loop, &l->watchdog);
    if (ac) {
        ac->data = NULL;        /* the disconnect callback ignores it from now on */
        redisAsyncFree(ac);     /* deferred by hiredis when inside one of its callbacks */
    }
    report_state(r);
    if (r->destroying)
        return;
    l->attempt++;
    vr_random(&rnd, sizeof(rnd));
    delay = vr_backoff_delay(&r->backoff, l->attempt, rnd);
    ev_timer_set(&l->retry, delay / 1000.0, 0.);
    ev_timer_start(r->loop, &l->retry);
}

/* --- the FIFO of waiting commands ------------------------------------------------------ */

static void call_push(vr_redis_link *l, vr_redis_call *c)
{
    c->next = NULL;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
}

/* hiredis answers in order: the call answered is the head. */
static void call_pop(vr_redis_link *l, vr_redis_call *c)
{
    vr_redis_call **pp;

    for (pp = &l->head; *pp && *pp != c; pp = &(*pp)->next)
        ;
    if (!*pp)
        return;
    *pp = c->next;
    if (l->tail == c) {
        vr_redis_call *t;

        for (t = l->head; t && t->next; t = t->next)
            ;
        l->tail = t;
    }
}

static void on_reply(redisAsyncContext *ac, void *reply_v, void *privdata)
{
    vr_redis_call *c = privdata;
    vr_redis_link *l = c->link;
    vr_redis *r = l->r;
    redisReply *reply = reply_v;
    const char *err = NULL;

    call_pop(l, c);
    if (!reply) {
        r->stats.failed += !c->internal;
        /* freed by link_down (which said why), or dying of its own error */
        err = l->ac != ac ? l->why : ac->errstr[0] ? ac->errstr : "connection lost";
    } else if (reply->type == REDIS_REPLY_ERROR) {
        r->stats.error_replies += !c->internal;
        err = reply->str;
    }
    if (c->cb)
        c->cb(r, reply, err, c->arg);
    vr_free(c);
}

static int send_argv(vr_redis_link *l, int internal, vr_redis_cb cb, void *arg, int argc,
                     const char **argv, const size_t *argvlen)
{
    vr_redis_call *c = vr_calloc(1, sizeof(*c));

    if (!c)
        return VERANI_ENOMEM;
    c->link = l;
    c->cb = cb;
    c->arg = arg;
    c->internal = internal;
    c->sent = ev_now(l->r->loop);
    if (redisAsyncCommandArgv(l->ac, on_reply, c, argc, argv, argvlen) != REDIS_OK) {
        vr_free(c);
        return VERANI_EIO;
    }
    call_push(l, c);
    l->r->stats.commands += !internal;
    watchdog_arm(l);
    return 0;
}

/* A failure found inside the connect callback, where the context must not be
 * freed (hiredis goes on using it when the callback returns): the watchdog
 * takes the link down at its next tick. */
static void link_fail_later(vr_redis_link *l, const char *why)
{
    snprintf(l->why, sizeof(l->why), "%s", why);
    l->fail_pending = 1;
    watchdog_arm(l);
}

/* --- handshake ------------------------------------------------------------------------------ */

static void on_message_reply(redisAsyncContext *ac, void *reply_v, void *privdata);

static void handshake_done(vr_redis_link *l)
{
    l->state = L_UP;
    l->attempt = 0;
    l->ever_up++;
    if (l->ever_up > 1)
        l->r->stats.reconnects++;
    if (!l->head)
        ev_timer_stop(l->r->loop, &l->watchdog);
    report_state(l->r);
}

static void subscribe_all(vr_redis_link *l)
{
    vr_redis *r = l->r;
    size_t i;

    if (r->n_channels == 0) {
        handshake_done(l);
        return;
    }
    l->subs_pending = r->n_channels;
    for (i = 0; i < r->n_channels; i++) {
        const char *argv[2] = {"SUBSCRIBE", r->channels[i]};

        if (redisAsyncCommandArgv(l->ac, on_message_reply, l, 2, argv, NULL) != REDIS_OK) {
            link_fail_later(l, "SUBSCRIBE could not be sent");
            return;
        }
    }
}

static void on_ping(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    vr_redis_link *l = arg;

    (void)r;
    (void)reply;
    if (l->state != L_HANDSHAKE)
        return;                 /* the link went down meanwhile; link_down said why */
    if (err)
        link_down(l, "PING answered: %s", err);
    else
        handshake_done(l);
}

static void on_auth(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    vr_redis_link *l = arg;

    (void)r;
    (void)reply;
    if (l->state != L_HANDSHAKE)
        return;
    if (err) {
        link_down(l, "AUTH refused: %s", err);
        return;
    }
    if (l->which == LINK_SUB)
        subscribe_all(l);
}

/* A script Redis would not load: its calls send it whole (EVAL) when Redis says NOSCRIPT. */
static void on_script_loaded(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    (void)reply;
    (void)arg;
    if (err && reply)
        VR_WARN("%s: Redis did not load a script (%s): its calls will send it whole\n",
                r->name, err);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    vr_redis_link *l = cac->data;
    vr_redis *r;

    if (!l)
        return;
    r = l->r;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this returns, without on_disconnect */
        l->ac = NULL;
        link_down(l, "cannot connect: %s", cac->errstr[0] ? cac->errstr : "refused");
        return;
    }
    l->state = L_HANDSHAKE;
    l->started = ev_now(r->loop);
    if (r->password) {
        const char *argv[2] = {"AUTH", r->password};

        if (send_argv(l, 1, on_auth, l, 2, argv, NULL)) {
            link_fail_later(l, "AUTH could not be sent");
            return;
        }
    } else if (l->which == LINK_SUB) {
        subscribe_all(l);
        return;
    }
    if (l->which == LINK_CMD) {
        const char *argv[1] = {"PING"};
        size_t i;

        /* answered before the PING, so before the link is up and any EVALSHA goes out */
        for (i = 0; i < r->n_preload; i++) {
            const char *load[3] = {"SCRIPT", "LOAD", r->preload[i]};

            if (send_argv(l, 1, on_script_loaded, l, 3, load, NULL)) {
                link_fail_later(l, "SCRIPT LOAD could not be sent");
                return;
            }
        }
        if (send_argv(l, 1, on_ping, l, 1, argv, NULL))
            link_fail_later(l, "PING could not be sent");
    }
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    vr_redis_link *l = cac->data;

    (void)status;
    if (!l)
        return;                 /* freed by link_down, which already said why */
    l->ac = NULL;
    link_down(l, "connection lost: %s", cac->errstr[0] ? cac->errstr : "closed by Redis");
}

/* Subscription callback: confirmations while in HANDSHAKE, then messages. */
static void on_message_reply(redisAsyncContext *ac, void *reply_v, void *privdata)
{
    vr_redis_link *l = privdata;
    vr_redis *r = l->r;
    redisReply *reply = reply_v;

    (void)ac;
    if (!reply || l->ac != ac || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (!strcmp(reply->element[0]->str, "subscribe")) {
        if (l->state == L_HANDSHAKE && l->subs_pending > 0 && --l->subs_pending == 0)
            handshake_done(l);
        return;
    }
    if (!strcmp(reply->element[0]->str, "message") && r->on_message &&
        reply->element[1]->type == REDIS_REPLY_STRING &&
        reply->element[2]->type == REDIS_REPLY_STRING)
        r->on_message(r, reply->element[1]->str, reply->element[2]->str,
                      reply->element[2]->len, r->arg);
}

/* --- timers ------------------------------------------------------------------------------------ */

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    link_connect(w->data);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    vr_redis_link *l = w->data;
    vr_redis *r = l->r;
    ev_tstamp now = ev_now(loop);

    (void)revents;
    if (l->fail_pending) {
        char why[sizeof(l->why)];

        snprintf(why, sizeof(why), "%s", l->why);
        link_down(l, "%s", why);
        return;
    }
    if ((l->state == L_CONNECTING || l->state == L_HANDSHAKE) &&
        now - l->started > r->connect_timeout) {
        r->stats.timeouts++;
        link_down(l, "no answer within %.0f ms of connecting", r->connect_timeout * 1000);
        return;
    }
    if (l->head && now - l->head->sent > r->command_timeout) {
        r->stats.timeouts++;
        link_down(l, "command timed out after %.0f ms", r->command_timeout * 1000);
        return;
    }
    if (l->state == L_UP && !l->head)
        ev_timer_stop(loop, w);
}

/* --- connecting ------------------------------------------------------------------------------- */

static void link_connect(vr_redis_link *l)
{
    vr_redis *r = l->r;
    redisAsyncContext *ac;

    if (r->destroying || l->ac)
        return;
    ac = r->unix_path ? redisAsyncConnectUnix(r->unix_path) : redisAsyncConnect(r->ip, r->port);
    if (!ac) {
        link_down(l, "out of memory");
        return;
    }
    if (ac->err) {
        char why[128];

        snprintf(why, sizeof(why), "%s", ac->errstr);
        redisAsyncFree(ac);
        link_down(l, "cannot connect: %s", why);
        return;
    }
    if (redisLibevAttach(r->loop, ac) != REDIS_OK) {
        redisAsyncFree(ac);
        link_down(l, "cannot attach to the event loop");
        return;
    }
    ac->data = l;
    l->ac = ac;
    l->state = L_CONNECTING;
    l->started = ev_now(r->loop);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    watchdog_arm(l);
}

/* --- the API -------------------------------------------------------------------------------------- */

vr_redis *vr_redis_create(struct ev_loop *loop, const vr_redis_options *o, char *err,
                          size_t errlen)
{
    vr_redis *r;
    char scratch[8];
    int i;

    if (!err) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    if (!loop || !o) {
        snprintf(err, errlen, "no loop or no options");
        return NULL;
    }
    r = vr_calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->loop = loop;
    if (parse_address(r, o->address, err, errlen)) {
        vr_free(r->unix_path);
        vr_free(r);
        return NULL;
    }
    r->password = o->password && *o->password ? vr_strdup(o->password) : NULL;
    r->preload = o->preload;
    r->n_preload = o->preload ? o->n_preload : 0;
    r->name = vr_strdup(o->name ? o->name : "redis");
    if ((o->password && *o->password && !r->password) || !r->name) {
        snprintf(err, errlen, "out of memory");
        vr_free(r->password);
        vr_free(r->name);
        vr_free(r->unix_path);
        vr_free(r);
        return NULL;
    }
    r->connect_timeout = (o->connect_timeout_ms ? o->connect_timeout_ms : 2000) / 1000.0;
    r->command_timeout = (o->command_timeout_ms ? o->command_timeout_ms : 2000) / 1000.0;
    r->backoff.initial_ms = o->backoff_initial_ms ? o->backoff_initial_ms : 100;
    r->backoff.max_ms = o->backoff_max_ms ? o->backoff_max_ms : 5000;
    if (r->backoff.max_ms < r->backoff.initial_ms)
        r->backoff.max_ms = r->backoff.initial_ms;
    r->backoff.multiplier = 2.0;
    r->backoff.jitter_percent = 20;
    r->on_state = o->on_state;
    r->on_message = o->on_message;
    r->arg = o->arg;
    snprintf(r->last_error, sizeof(r->last_error), "not connected yet");
    for (i = 0; i < 2; i++) {
        vr_redis_link *l = &r->link[i];

        l->r = r;
        l->which = i;
        ev_init(&l->retry, on_retry);
        l->retry.data = l;
        ev_init(&l->watchdog, on_watchdog);
        l->watchdog.data = l;
    }
    link_connect(&r->link[LINK_CMD]);
    return r;
}

void vr_redis_destroy(vr_redis *r)
{
    size_t i;
    int k;

    if (!r)
        return;
    r->destroying = 1;
    for (k = 0; k < 2; k++) {
        vr_redis_link *l = &r->link[k];

        ev_timer_stop(r->loop, &l->retry);
        ev_timer_stop(r->loop, &l->watchdog);
        if (l->ac)
            link_down(l, "shutting down");
    }
    for (i = 0; i < r->n_channels; i++)
        vr_free(r->channels[i]);
    vr_free(r->channels);
    vr_free(r->password);
    vr_free(r->name);
    vr_free(r->unix_path);
    vr_free(r);
}

int vr_redis_up(const vr_redis *r)
{
    return r && r->up;
}

int vr_redis_command(vr_redis *r, vr_redis_cb cb, void *arg, int argc, const char **argv,
                     const size_t *argvlen)
{
    vr_redis_link *l = &r->link[LINK_CMD];

    if (l->state != L_UP)
        return VERANI_EIO;
    return send_argv(l, 0, cb, arg, argc, argv, argvlen);
}

void vr_redis_flush(vr_redis *r)
{
    vr_redis_link *l = &r->link[LINK_CMD];

    if (l->state == L_UP && l->ac)
        redisAsyncHandleWrite(l->ac);
}

int vr_redis_subscribe(vr_redis *r, const char *channel)
{
    char **grown, *copy;
    vr_redis_link *l = &r->link[LINK_SUB];

    copy = vr_strdup(channel);
    grown = copy ? vr_reallocarray(r->channels, r->n_channels + 1, sizeof(*grown)) : NULL;
    if (!grown) {
        vr_free(copy);
        return VERANI_ENOMEM;
    }
    r->channels = grown;
    r->channels[r->n_channels++] = copy;
    if (l->state == L_UP) {
        const char *argv[2] = {"SUBSCRIBE", copy};

        if (redisAsyncCommandArgv(l->ac, on_message_reply, l, 2, argv, NULL) != REDIS_OK)
            link_down(l, "SUBSCRIBE %s could not be sent", copy);
    } else if (l->state == L_DOWN && !ev_is_active(&l->retry)) {
        link_connect(l);        /* the first channel brings the sub connection up */
    }
    report_state(r);
    return 0;
}

void vr_redis_reset_sub(vr_redis *r)
{
    vr_redis_link *l = &r->link[LINK_SUB];

    if (l->ac)
        link_down(l, "reset: the liveness probe went unanswered");
}

const char *vr_redis_last_error(const vr_redis *r)
{
    return r->last_error;
}

void vr_redis_get_stats(const vr_redis *r, vr_redis_stats *out)
{
    *out = r->stats;
}
