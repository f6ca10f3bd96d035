/* SPDX-License-Identifier: MIT */
/*
 * compile.c: the vc_ctx pipeline (init, parse, check, emit, fini) that
 * main.c and the tests drive. vc_emit renders every output file into memory;
 * nothing here touches the file system, so a schema with errors can never
 * leave a partial output behind (main.c writes *.tmp files and renames them
 * only when all of them were written).
 */
#include <string.h>

#include "veranic.h"

static void stderr_sink(void *sink_ctx, const char *text, size_t len)
{
    (void)sink_ctx;
    fwrite(text, 1, len, stderr);
}

int vc_ctx_init(vc_ctx *ctx, const char *path, const char *src, size_t len, vc_diag_sink sink,
                void *sink_ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->path = path;
    ctx->sink = sink ? sink : stderr_sink;
    ctx->sink_ctx = sink_ctx;
    char *copy = vc_arena_alloc(&ctx->arena, len + 1);
    if (copy == NULL)
        return -1;
    if (len)
        memcpy(copy, src, len);
    copy[len] = '\0';
    ctx->src = copy;
    ctx->src_len = len;
    return 0;
}

void vc_ctx_fini(vc_ctx *ctx)
{
    vc_arena_free(&ctx->arena);
}

int vc_emit(vc_ctx *ctx, int flags, vc_output *out)
{
    static const struct {
        const char *suffix;
        void (*fn)(vc_ctx *, vc_buf *);
    } files[] = {
        {".proto", vc_emit_proto},
        {"_schema.h", vc_emit_schema_h},
        {"_schema.c", vc_emit_schema_c},
        {"_server.h", vc_emit_server_h},
        {"_server.c", vc_emit_server_c},
        {"_client.h", vc_emit_client_h},
        {"_client.c", vc_emit_client_c},
        {"_handlers.h", vc_emit_stubs_h},
        {"_handlers.c", vc_emit_stubs},
        {"_client.ts", vc_emit_ts},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int once = files[i].fn == vc_emit_stubs || files[i].fn == vc_emit_stubs_h;
        int ts = files[i].fn == vc_emit_ts;
        if ((once && !(flags & VC_EMIT_STUBS)) || (ts && !(flags & VC_EMIT_TS)))
            continue;
        vc_output *o = &out[n++];
        memset(o, 0, sizeof(*o));
        o->name = vc_arena_printf(&ctx->arena, "%s%s", ctx->schema->package, files[i].suffix);
        o->once = once;
        o->ts = ts;
        files[i].fn(ctx, &o->buf);
        if (files[i].fn == vc_emit_proto && !o->buf.failed) {
            /* the envelope's .proto beside it, so a build (or another language) has both */
            vc_output *e = &out[n++];
            memset(e, 0, sizeof(*e));
            e->name = "envelope.proto";
            e->shared = 1;
            vc_buf_puts(&e->buf, vc_envelope_proto);
            if (e->buf.failed)
                o->buf.failed = 1;
        }
        if (o->buf.failed || o->name == NULL || ctx->arena.failed) {
            for (int k = 0; k < n; k++)
                vc_buf_free(&out[k].buf);
            return -1;
        }
    }
    return n;
}
