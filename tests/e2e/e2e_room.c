/* SPDX-License-Identifier: MIT */
/*
 * e2e_room.c: two hand-written rooms of the shape veranic generates (schema,
 * event tables, validators, typed trampolines, extract_meta) and handlers
 * that log what the runtime calls, for the server e2e tests. When the
 * generator is wired into these tests, this file is replaced by a schema.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e_room.h"

/* --- the log ------------------------------------------------------------- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[65536]; /* {log_lock} */
static size_t log_len;      /* {log_lock} */

void e2e_log_reset(void)
{
    pthread_mutex_lock(&log_lock);
    log_len = 0;
    log_buf[0] = '\0';
    pthread_mutex_unlock(&log_lock);
}

void e2e_log(const char *fmt, ...)
{
    va_list ap;
    int n;

    pthread_mutex_lock(&log_lock);
    va_start(ap, fmt);
    n = vsnprintf(log_buf + log_len, sizeof(log_buf) - log_len - 1, fmt, ap);
    va_end(ap);
    if (n > 0 && log_len + (size_t)n + 1 < sizeof(log_buf)) {
        log_len += (size_t)n;
        log_buf[log_len++] = ' ';
        log_buf[log_len] = '\0';
    }
    pthread_mutex_unlock(&log_lock);
}

void e2e_log_get(char *buf, size_t len)
{
    pthread_mutex_lock(&log_lock);
    snprintf(buf, len, "%s", log_buf);
    pthread_mutex_unlock(&log_lock);
}

int e2e_log_count(const char *line)
{
    char want[256];
    const char *p;
    int n = 0;

    snprintf(want, sizeof(want), "%s ", line);
    pthread_mutex_lock(&log_lock);
    for (p = log_buf; (p = strstr(p, want)); p += strlen(want))
        if (p == log_buf || p[-1] == ' ')
            n++;
    pthread_mutex_unlock(&log_lock);
    return n;
}

/* --- validators and trampolines (what veranic would emit) ----------------- */

static int validate_cmd(const ProtobufCMessage *msg, verani_verr *err)
{
    const E2e__Cmd *c = (const E2e__Cmd *)msg;

    if (c->text && strlen(c->text) > 16) {
        snprintf(err->path, sizeof(err->path), "text");
        snprintf(err->reason, sizeof(err->reason), "longer than 16");
        return VERANI_EINVAL;
    }
    return 0;
}

static int inv_cmd(verani_ctx *ctx, const void *h, const ProtobufCMessage *in,
                   ProtobufCMessage *out)
{
    const e2e_handlers *t = h;

    return t->cmd ? t->cmd(ctx, (const E2e__Cmd *)in, (E2e__Count *)out) : VERANI_ENOHANDLER;
}

static int inv_poke(verani_ctx *ctx, const void *h, const ProtobufCMessage *in,
                    ProtobufCMessage *out)
{
    const e2e_handlers *t = h;

    (void)in;
    (void)out;
    return t->poke ? t->poke(ctx) : VERANI_ENOHANDLER;
}

static int inv_echo(verani_ctx *ctx, const void *h, const ProtobufCMessage *in,
                    ProtobufCMessage *out)
{
    const e2e_handlers *t = h;

    return t->echo ? t->echo(ctx, (const E2e__Echo *)in, (E2e__Echo *)out) : VERANI_ENOHANDLER;
}

static int inv_flood(verani_ctx *ctx, const void *h, const ProtobufCMessage *in,
                     ProtobufCMessage *out)
{
    const e2e_handlers *t = h;

    return t->flood ? t->flood(ctx, (const E2e__Flood *)in, (E2e__Count *)out)
                    : VERANI_ENOHANDLER;
}

static int inv_unhandled(verani_ctx *ctx, const void *h, const ProtobufCMessage *in,
                         ProtobufCMessage *out)
{
    const e2e_handlers *t = h;

    (void)out;
    return t->unhandled ? t->unhandled(ctx, (const E2e__Echo *)in) : VERANI_ENOHANDLER;
}

static int inv_sjoin(verani_ctx *ctx, const void *h, const ProtobufCMessage *in,
                     ProtobufCMessage *out)
{
    const e2e_handlers *t = h;

    (void)out;
    return t->sjoin ? t->sjoin(ctx, (const E2e__Echo *)in) : VERANI_ENOHANDLER;
}

static int extract_meta(verani_upgrade *req, const void *h, ProtobufCMessage *meta)
{
    E2e__Meta *m = (E2e__Meta *)meta;
    char v[64];

    (void)h;
    if (verani_upgrade_query(req, "role", v, sizeof(v)) > 0) {
        if (!strcmp(v, "banned"))
            return verani_upgrade_reject(req, 403, "banned users may not connect");
        m->role = verani_upgrade_strdup(req, v);
    }
    /* the user id: the runtime's default (query or header) */
    return VERANI_ENOHANDLER;
}

/* --- tables -------------------------------------------------------------- */

static const verani_event_def on_events[] = {
    {E2E_EV_CMD, "cmd", &e2e__cmd__descriptor, &e2e__count__descriptor, validate_cmd, NULL},
    {E2E_EV_POKE, "poke", NULL, NULL, NULL, NULL},
    {E2E_EV_ECHO, "echo", &e2e__echo__descriptor, &e2e__echo__descriptor, NULL, NULL},
    {E2E_EV_FLOOD, "flood", &e2e__flood__descriptor, &e2e__count__descriptor, NULL, NULL},
    {E2E_EV_UNHANDLED, "unhandled", &e2e__echo__descriptor, NULL, NULL, NULL},
    {E2E_EV_SJOIN, "sjoin", &e2e__echo__descriptor, NULL, NULL, NULL},
};

static const verani_invoke_fn invokers[] = {inv_cmd, inv_poke, inv_echo, inv_flood,
                                            inv_unhandled, inv_sjoin};

const verani_event_def e2e_emit_events[] = {
    {E2E_EM_CHAT, "chat.out", &e2e__chat_out__descriptor, NULL, NULL, NULL},
    {E2E_EM_BLOB, "blob", &e2e__blob__descriptor, NULL, NULL, NULL},
};

static const char *const channels[] = {"default"};

const verani_room_schema e2e_schema = {
    "E2e", "/e2e/{room}", channels, 1, 8192, 0, 0, &e2e__meta__descriptor, NULL,
    on_events, sizeof(on_events) / sizeof(on_events[0]),
    e2e_emit_events, sizeof(e2e_emit_events) / sizeof(e2e_emit_events[0]),
    "e2e-fingerprint-1",
};

static const verani_room_schema limited_schema = {
    "Limited", "/limited/{room}", channels, 1, 8192, 5, 5, &e2e__meta__descriptor, NULL,
    on_events, sizeof(on_events) / sizeof(on_events[0]),
    e2e_emit_events, sizeof(e2e_emit_events) / sizeof(e2e_emit_events[0]),
    "e2e-fingerprint-1",
};

const verani_room_def e2e_room = {VERANI_GEN_ABI, &e2e_schema, invokers, extract_meta,
                                  sizeof(e2e_handlers)};
const verani_room_def e2e_limited_room = {VERANI_GEN_ABI, &limited_schema, invokers, NULL,
                                          sizeof(e2e_handlers)};

/* --- handlers ------------------------------------------------------------ */

static int on_connect(verani_ctx *ctx)
{
    const E2e__Meta *m = (const E2e__Meta *)verani_ctx_meta(ctx);
    const char *uid = verani_ctx_user_id(ctx);

    e2e_log("connect:%s:%s", uid, m && m->role ? m->role : "-");
    if (!m || !m->user_id || strcmp(m->user_id, uid))
        e2e_log("meta-user-id-missing");
    if (!strcmp(uid, "refuse"))
        return VERANI_EDENIED;
    return 0;
}

static void on_disconnect(verani_ctx *ctx)
{
    e2e_log("disconnect:%s", verani_ctx_user_id(ctx));
}

static void on_error(verani_ctx *ctx, int err, const char *what)
{
    (void)ctx;
    (void)what;
    e2e_log("error:%d", err);
}

static int on_message(verani_ctx *ctx, uint32_t event, const uint8_t *payload, size_t len)
{
    (void)ctx;
    (void)payload;
    e2e_log("message:%u:%zu", event, len);
    return 0;
}

static int on_join(verani_ctx *ctx, const char *channel)
{
    (void)ctx;
    if (!strcmp(channel, "forbidden"))
        return VERANI_EDENIED;
    e2e_log("join:%s", channel);
    return 0;
}

static void on_leave(verani_ctx *ctx, const char *channel)
{
    (void)ctx;
    e2e_log("leave:%s", channel);
}

static int h_cmd(verani_ctx *ctx, const E2e__Cmd *in, E2e__Count *out)
{
    E2e__ChatOut msg = E2E__CHAT_OUT__INIT;
    verani_target to;
    int n;

    switch (in->op) {
    case 0: to = verani_to_self(); break;
    case 1: to = verani_to_channel(in->arg); break;
    case 2: to = verani_to_user(in->arg); break;
    case 3: to = verani_to_client(in->arg); break;
    default: to = verani_to_all(); break;
    }
    to.user_ids = (const char *const *)in->users;
    to.n_user_ids = in->n_users;
    to.client_ids = (const char *const *)in->clients;
    to.n_client_ids = in->n_clients;
    to.except = in->except_self ? verani_ctx_session(ctx) : NULL;
    msg.text = in->text;
    msg.from = (char *)verani_ctx_user_id(ctx);
    n = verani_emit(ctx, &to, &e2e_emit_events[0], &msg.base);
    if (n < 0)
        return n;
    out->has_n = 1;
    out->n = n;
    return 0;
}

static int h_poke(verani_ctx *ctx)
{
    (void)ctx;
    e2e_log("poke");
    return 0;
}

static int h_echo(verani_ctx *ctx, const E2e__Echo *in, E2e__Echo *out)
{
    if (in->text && !strcmp(in->text, "fail"))
        return VERANI_EHANDLER;
    out->text = verani_ctx_strdup(ctx, in->text ? in->text : "");
    return 0;
}

static int h_flood(verani_ctx *ctx, const E2e__Flood *in, E2e__Count *out)
{
    E2e__Blob b = E2E__BLOB__INIT;
    verani_target to = verani_to_channel("default");
    uint8_t *data = verani_ctx_alloc(ctx, in->size ? in->size : 1);
    uint32_t i;

    if (!data)
        return VERANI_ENOMEM;
    memset(data, 0xab, in->size);
    b.has_data = 1;
    b.data.len = in->size;
    b.data.data = data;
    for (i = 0; i < in->count; i++)
        if (verani_emit(ctx, &to, &e2e_emit_events[1], &b.base) < 0)
            return VERANI_EIO;
    out->has_n = 1;
    out->n = (int32_t)in->count;
    return 0;
}

static int h_sjoin(verani_ctx *ctx, const E2e__Echo *in)
{
    return verani_ctx_join(ctx, in->text);
}

const e2e_handlers e2e_handlers_default = {
    {on_connect, on_disconnect, on_error, on_message, on_join, on_leave, NULL},
    h_cmd, h_poke, h_echo, h_flood, NULL, h_sjoin,
};
