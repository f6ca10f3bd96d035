/* SPDX-License-Identifier: MIT */
/*
 * counting_room.c: room E2e with a poke that counts in room storage and tells everyone
 * ("poke <n>"), writing storage in every way the API allows on the way (a transaction, a
 * savepoint rolled back, a transaction rolled back, a put and a delete outside any), and an
 * echo that answers the count. The cluster tests mount it (test_cluster_storage.c,
 * cluster_node_main.c); the rest of the room is e2e_room.h's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counting_room.h"
#include "e2e_room.h"

static e2e_e2e_handlers handlers;

static int pokes(verani_storage *st)
{
    uint8_t *v = NULL;
    size_t vl = 0;
    char buf[16] = "";
    int n = 0;

    if (verani_storage_get(st, "pokes", 5, &v, &vl) == 0) {
        snprintf(buf, sizeof(buf), "%.*s", (int)vl, (const char *)v);
        n = atoi(buf);
        verani_storage_free(v);
    }
    return n;
}

/* Every kind of write: what commits is "pokes" (in a transaction), "last" (outside one) and
 * the delete of "tmp"; "sp-ghost" (a savepoint rolled back) and "ghost" (a transaction
 * rolled back) never happened. */
static int st_poke(verani_ctx *ctx)
{
    verani_storage *st = verani_ctx_storage(ctx);
    char n[16];

    if (!st)
        return VERANI_EIO;
    snprintf(n, sizeof(n), "%d", pokes(st) + 1);
    if (verani_storage_begin(st) || verani_storage_put(st, "pokes", 5, n, strlen(n)) ||
        verani_storage_begin(st) || verani_storage_put(st, "sp-ghost", 8, "x", 1) ||
        verani_storage_rollback(st) || verani_storage_commit(st))
        return VERANI_EIO;
    if (verani_storage_begin(st) || verani_storage_put(st, "ghost", 5, "x", 1) ||
        verani_storage_rollback(st))
        return VERANI_EIO;
    if (verani_storage_put(st, "last", 4, n, strlen(n)) ||
        verani_storage_put(st, "tmp", 3, "x", 1) || verani_storage_delete(st, "tmp", 3))
        return VERANI_EIO;
    { /* and everyone hears the count it wrote: a frame the output gate must hold */
        E2e__ChatOut m = E2E__CHAT_OUT__INIT;
        char text[32];

        snprintf(text, sizeof(text), "poke %s", n);
        m.text = text;
        m.from = (char *)verani_ctx_user_id(ctx);
        if (e2e_e2e_emit_chat_out(ctx, verani_to_channel("default"), &m) < 0)
            return VERANI_EIO;
    }
    return 0;
}

static int st_echo(verani_ctx *ctx, const E2e__Echo *msg, E2e__Echo *reply)
{
    static char buf[16];
    verani_storage *st = verani_ctx_storage(ctx);

    (void)msg;
    if (!st)
        return VERANI_EIO;
    snprintf(buf, sizeof(buf), "%d", pokes(st));
    reply->text = buf;
    return 0;
}

int mount_counting(verani_server *srv)
{
    handlers = *e2e_room_handlers();
    handlers.poke = st_poke;
    handlers.echo = st_echo;
    return e2e_e2e_mount(srv, &handlers, NULL);
}

