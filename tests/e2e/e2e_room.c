/* SPDX-License-Identifier: MIT */
/*
 * e2e_room.c: the handlers of the server e2e tests' rooms (generated from
 * e2e.verani): they log what the runtime calls and turn requests into emits
 * of every kind. Test code only.
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

static int extract_meta(verani_upgrade *req, E2e__E2eMeta *m)
{
    char v[64];

    if (verani_upgrade_query(req, "role", v, sizeof(v)) > 0) {
        if (!strcmp(v, "banned"))
            return verani_upgrade_reject(req, 403, "banned users may not connect");
        m->role = verani_upgrade_strdup(req, v);
    }
    /* the user id: the runtime's default (query or header) */
    return VERANI_ENOHANDLER;
}

/* --- handlers ------------------------------------------------------------ */

static int on_connect(verani_ctx *ctx)
{
    const char *uid = verani_ctx_user_id(ctx), *role = NULL;

    if (!strcmp(verani_ctx_room(ctx), "E2e"))
        role = e2e_e2e_meta(ctx) ? e2e_e2e_meta(ctx)->role : "(no meta)";
    else
        role = e2e_limited_meta(ctx) ? e2e_limited_meta(ctx)->role : "(no meta)";
    e2e_log("connect:%s:%s", uid, role && *role ? role : "-");
    if (!strcmp(uid, "refuse"))
        return VERANI_EDENIED;
    if (role && !strcmp(role, "announce")) {
        /* the session is added before on_connect: a channel emit reaches the joiner too */
        E2e__ChatOut m = E2E__CHAT_OUT__INIT;

        m.text = "joined";
        m.from = (char *)uid;
        e2e_log("announced:%d", e2e_e2e_emit_chat_out(ctx, verani_to_channel("default"), &m));
    }
    if (role && !strcmp(role, "joins")) {
        /* a channel joined here is in the WELCOME; the emit to self follows the WELCOME */
        E2e__ChatOut m = E2E__CHAT_OUT__INIT;

        m.text = "welcome aboard";
        if (verani_ctx_join(ctx, "from-connect") ||
            e2e_e2e_emit_chat_out(ctx, verani_to_self(), &m) < 0)
            return VERANI_EIO;
    }
    return 0;
}

static void on_disconnect(verani_ctx *ctx)
{
    e2e_log("disconnect:%s", verani_ctx_user_id(ctx));
    if (!strcmp(verani_ctx_room(ctx), "E2e") && e2e_e2e_meta(ctx) && e2e_e2e_meta(ctx)->role &&
        !strcmp(e2e_e2e_meta(ctx)->role, "announce")) {
        /* the leaving session is out of the instance: the others get it */
        E2e__ChatOut m = E2E__CHAT_OUT__INIT;

        m.text = "left";
        m.from = (char *)verani_ctx_user_id(ctx);
        e2e_e2e_emit_chat_out(ctx, verani_to_channel("default"), &m);
    }
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

/* Limited only (its rate keeps the log short): every dispatched event. */
static void on_any(verani_ctx *ctx, uint32_t event, const uint8_t *payload, size_t len,
                   int result)
{
    (void)ctx;
    (void)payload;
    e2e_log("any:%u:%zu:%d", event, len, result);
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

    if (in->op == 11) { /* verani_ctx_close with the case `arg` names; its result in the count */
        char long_reason[125];

        memset(long_reason, 'x', sizeof(long_reason) - 1);
        long_reason[sizeof(long_reason) - 1] = '\0';
        if (!strcmp(in->arg, "utf8"))
            out->n = verani_ctx_close(ctx, 4000, "bad \xc3\x28 reason");
        else if (!strcmp(in->arg, "long"))
            out->n = verani_ctx_close(ctx, 4000, long_reason);
        else if (!strcmp(in->arg, "code"))
            out->n = verani_ctx_close(ctx, 1005, "reserved");
        else
            out->n = verani_ctx_close(ctx, 4000, "bye");
        return 0;
    }
    switch (in->op) { /* 5-10: queries, answered in the count; 11: above */
    case 5: out->n = (int32_t)verani_ctx_session_count(ctx); return 0;
    case 6: out->n = (int32_t)verani_ctx_user_ids(ctx, NULL, 0); return 0;
    case 7: out->n = (int32_t)verani_ctx_user_sessions(ctx, in->arg, NULL, 0); return 0;
    case 8: out->n = (int32_t)verani_server_user_ids(verani_ctx_server(ctx), NULL, 0); return 0;
    case 9:
        out->n = (int32_t)verani_server_user_sessions(verani_ctx_server(ctx), in->arg, NULL, 0);
        return 0;
    case 10: out->n = (int32_t)verani_server_session_count(verani_ctx_server(ctx)); return 0;
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
    n = e2e_e2e_emit_chat_out(ctx, to, &msg);
    if (n < 0)
        return n;
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
    b.data.len = in->size;
    b.data.data = data;
    out->n = 0;
    for (i = 0; i < in->count; i++) {
        int n = e2e_e2e_emit_blob(ctx, to, &b);

        if (n < 0)
            return VERANI_EIO;
        out->n = n; /* the recipients of the last one */
    }
    return 0;
}

/* logs "sjoin:<channel>" once joined, so a test can wait for it (no reply is sent) */
static int h_sjoin(verani_ctx *ctx, const E2e__Echo *in)
{
    int r = verani_ctx_join(ctx, in->text);

    if (!r)
        e2e_log("sjoin:%s", in->text);
    return r;
}

/* "restore:<instance>:<sessions>" with the restored sessions visible (test_resume.c) */
static void on_restore(verani_ctx *ctx)
{
    verani_session *s[16];

    e2e_log("restore:%s:%zu", verani_ctx_instance(ctx),
            verani_ctx_user_sessions(ctx, "u1", s, 16));
}

static const e2e_e2e_handlers e2e_handlers = {
    {.on_connect = on_connect, .on_disconnect = on_disconnect, .on_error = on_error,
     .on_message = on_message, .on_join = on_join, .on_leave = on_leave,
     .on_hibernation_restore = on_restore},
    extract_meta, h_cmd, h_poke, h_echo, h_flood, NULL, h_sjoin,
    NULL, /* timer_beat: not here (test_timers runs it) */
};

static const e2e_limited_handlers limited_handlers = {
    {.on_connect = on_connect, .on_disconnect = on_disconnect, .on_error = on_error,
     .on_message = on_message, .on_join = on_join, .on_leave = on_leave, .on_any = on_any},
    NULL, h_cmd, h_poke, h_echo, h_flood, NULL, h_sjoin,
};

const e2e_e2e_handlers *e2e_room_handlers(void)
{
    return &e2e_handlers;
}

int e2e_mount_all(verani_server *srv)
{
    int r = e2e_e2e_mount(srv, &e2e_handlers, NULL);

    return r ? r : e2e_limited_mount(srv, &limited_handlers, NULL);
}
