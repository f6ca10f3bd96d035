/* SPDX-License-Identifier: MIT */
/*
 * server_storage.c: the server's side of storage. The server opens one
 * verani_storage_db when it is created (opts.storage_path; NULL means a
 * private ":memory:" database, so a library never writes a file it was not
 * asked to) and closes it when destroyed; each room instance opens its key
 * space lazily, the first time a handler asks for it with verani_ctx_storage,
 * and closes it when the instance is freed (its data stays in the database).
 * The session store (vr_store_*) works on the same srv->storage; its calls
 * are persist.c's, not this file's.
 */
#include <stdio.h>
#include <string.h>

#include "core/core-private.h"
#include "server-int.h"
#include "storage/storage-private.h"

/* Copy an error text into the server's (shorter) last_error, cut when long. */
static void set_last_error(verani_server *srv, const char *text)
{
    size_t n = strlen(text);

    if (n >= sizeof(srv->last_error))
        n = sizeof(srv->last_error) - 1;
    memcpy(srv->last_error, text, n);
    srv->last_error[n] = '\0';
}

int vr_server_storage_open(verani_server *srv, char *errbuf, size_t errlen)
{
    verani_storage_options o;
    char err[512];

    verani_storage_options_init(&o);
    o.path = srv->opts.storage_path;
    o.busy_timeout_ms = srv->opts.storage_busy_timeout_ms; /* the loop never waits longer */
    srv->storage = verani_storage_db_open(&o, err, sizeof(err));
    if (!srv->storage) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%s", err);
        set_last_error(srv, err);
        VR_ERR("%s\n", err);
        return VERANI_EIO;
    }
    /* The caller's string may not outlive create: point at the database's copy. */
    srv->opts.storage_path = srv->storage->path;
    return 0;
}

void vr_server_storage_close(verani_server *srv)
{
    verani_storage_db_close(srv->storage);
    srv->storage = NULL;
    srv->opts.storage_path = NULL;
}

void vr_instance_storage_close(vr_instance *inst)
{
    verani_storage_close(inst->storage);
    inst->storage = NULL;
}

verani_storage *verani_ctx_storage(verani_ctx *ctx)
{
    vr_instance *inst;

    if (!ctx || !ctx->inst || !ctx->srv || !ctx->srv->storage)
        return NULL;
    inst = ctx->inst;
    if (!inst->storage) {
        inst->storage = verani_storage_open(ctx->srv->storage, inst->mount->def->schema->name,
                                            inst->name);
        if (!inst->storage) {
            set_last_error(ctx->srv, verani_storage_db_last_error(ctx->srv->storage));
            VR_ERR("%s\n", ctx->srv->last_error);
        }
    }
    return inst->storage;
}

verani_storage_db *verani_server_storage(verani_server *srv)
{
    return srv ? srv->storage : NULL;
}
