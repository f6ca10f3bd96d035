/* SPDX-License-Identifier: MIT */
/*
 * hard_room.c: the handlers of the Hard room (hardening.verani) that the
 * hardening tests (test_hardening.c) and the attack suite (tests/attack)
 * attack: a request whose text comes back as its length, replies and emits of
 * a size the client picks, a room storage put whose result comes back, a
 * meta read from the query and a cookie into small buffers. Test code only.
 */
#define _GNU_SOURCE /* syscall(SYS_gettid) */
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hard_room.h"

static int h_say(verani_ctx *ctx, const Hard__Text *in, Hard__Ack *out)
{
    (void)ctx;
    out->code = in->text ? (int32_t)strlen(in->text) : 0;
    return 0;
}

static int h_big(verani_ctx *ctx, const Hard__Size *in, Hard__Blob *out)
{
    uint8_t *d = verani_ctx_alloc(ctx, in->bytes ? in->bytes : 1);

    if (!d)
        return VERANI_ENOMEM;
    memset(d, 'b', in->bytes);
    out->data.data = d;
    out->data.len = in->bytes;
    return 0;
}

static int h_put(verani_ctx *ctx, const Hard__Put *in, Hard__Ack *out)
{
    verani_storage *st = verani_ctx_storage(ctx);

    /* the storage call's result goes back in the reply, so the test sees what it got */
    out->code = st ? verani_storage_put(st, in->key, strlen(in->key), in->value.data,
                                        in->value.len) : VERANI_EIO;
    return 0;
}

static int h_bigemit(verani_ctx *ctx, const Hard__Size *in, Hard__Ack *out)
{
    Hard__Blob b = HARD__BLOB__INIT;
    uint8_t *d = verani_ctx_alloc(ctx, in->bytes ? in->bytes : 1);

    if (!d)
        return VERANI_ENOMEM;
    memset(d, 'e', in->bytes);
    b.data.data = d;
    b.data.len = in->bytes;
    out->code = hard_hard_emit_blob(ctx, verani_to_self(), &b);
    return 0;
}

/* ?nick= into 17 bytes and the cookie sid into 33: a longer value must refuse the upgrade,
 * never reach the meta cut. The user id: the runtime's default (query or header). */
static int extract_meta(verani_upgrade *req, Hard__HardMeta *m)
{
    char nick[17], sid[33];

    if (verani_upgrade_query(req, "nick", nick, sizeof(nick)) > 0)
        m->nick = verani_upgrade_strdup(req, nick);
    if (verani_upgrade_cookie(req, "sid", sid, sizeof(sid)) > 0)
        m->sid = verani_upgrade_strdup(req, sid);
    return VERANI_ENOHANDLER;
}

static int h_who(verani_ctx *ctx, Hard__Text *out)
{
    const Hard__HardMeta *m = hard_hard_meta(ctx);
    char **tags = verani_ctx_alloc(ctx, sizeof(char *));

    if (!m || !tags)
        return VERANI_ENOMEM;
    out->text = verani_ctx_strdup(ctx, m->nick ? m->nick : "");
    tags[0] = verani_ctx_strdup(ctx, m->sid ? m->sid : "");
    out->tags = tags;
    out->n_tags = 1;
    return 0;
}

/* The event loop's thread id, as the last on_connect of user "canary" saw it. */
static atomic_int loop_tid;

int hard_room_loop_tid(void)
{
    return atomic_load(&loop_tid);
}

static int on_connect(verani_ctx *ctx)
{
    if (!strcmp(verani_ctx_user_id(ctx), "canary"))
        atomic_store(&loop_tid, (int)syscall(SYS_gettid));
    return 0;
}

static const hard_hard_handlers hard_handlers = {
    .hooks = {.on_connect = on_connect},
    .extract_meta = extract_meta,
    .who = h_who,
    .say = h_say,
    .big = h_big,
    .put = h_put,
    .bigemit = h_bigemit,
};

int hard_room_mount(verani_server *srv)
{
    return hard_hard_mount(srv, &hard_handlers, NULL);
}
