/* SPDX-License-Identifier: MIT */
/*
 * emit_server.c: writes <pkg>_server.h and <pkg>_server.c. Per room: the
 * typed handler table (hooks first, then extract_meta, then one function
 * pointer per `on` event), the verani_room_def the server mounts, a typed
 * mount function, one typed emitter per `emit` event (the target is a
 * runtime value), the same emitter for outside calls from any thread
 * (<verani/rpc.h>) and a typed accessor for the connection's meta. Per schema
 * message (room metas excepted): a typed put and get on room storage. The .c
 * holds only static trampolines, tables and one-line wrappers: no logic, no
 * allocation.
 */
#include <string.h>

#include "veranic.h"

/* The handler member's parameters for an `on` event. */
static size_t handler_params(vc_ctx *ctx, const vc_event *e, const char **params)
{
    size_t n = 0;
    params[n++] = "verani_ctx *ctx";
    if (e->in)
        params[n++] = vc_arena_printf(&ctx->arena, "const %s *msg", vc_msg_ctype(ctx, e->in));
    if (e->out)
        params[n++] = vc_arena_printf(&ctx->arena, "%s *reply", vc_msg_ctype(ctx, e->out));
    return n;
}

static size_t emitter_params(vc_ctx *ctx, const vc_event *e, const char **params)
{
    size_t n = 0;
    params[n++] = "verani_ctx *ctx";
    params[n++] = "verani_target to";
    if (e->in)
        params[n++] = vc_arena_printf(&ctx->arena, "const %s *msg", vc_msg_ctype(ctx, e->in));
    return n;
}

/* The typed outside-call emitter's parameters (<verani/rpc.h>): any thread.
 * `params` holds 5. */
static size_t rpc_emitter_params(vc_ctx *ctx, const vc_event *e, const char **params)
{
    size_t n = 0;
    params[n++] = "verani_server *srv";
    params[n++] = "const char *instance";
    params[n++] = "verani_target to";
    if (e->in)
        params[n++] = vc_arena_printf(&ctx->arena, "const %s *msg", vc_msg_ctype(ctx, e->in));
    params[n++] = "verani_rpc_done done";
    return n;
}

/* The messages that get typed storage helpers: the schema's own, not room metas. */
static size_t storage_messages(const vc_schema *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->messages.n; i++)
        n += ((const vc_message *)s->messages.items[i])->meta_of == NULL;
    return n;
}

/* Fill params[] for the typed storage put (get = 0) or get of message `m`. */
static void storage_params(vc_ctx *ctx, const vc_message *m, int get, const char **params)
{
    params[0] = "verani_storage *st";
    params[1] = "const char *key";
    params[2] = vc_arena_printf(&ctx->arena, get ? "%s **out" : "const %s *m",
                                vc_msg_ctype(ctx, m));
}

void vc_emit_server_h(vc_ctx *ctx, vc_buf *b)
{
    const vc_schema *s = ctx->schema;
    vc_arena *a = &ctx->arena;
    const char *params[4];
    vc_emit_guard_open(ctx, b, "server", "the typed server side of each room: handler tables, "
                       "room definitions to mount, typed emitters and meta accessors.");
    vc_buf_printf(b, "#include <verani/rpc.h>\n#include <verani/server.h>\n"
                  "#include <verani/storage.h>\n\n"
                  "#include \"%s_schema.h\"\n\n", s->package);
    vc_emit_abi_check(ctx, b, "server");
    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        const char *p = vc_room_prefix(ctx, r);
        const char *meta = vc_msg_ctype(ctx, r->meta);
        vc_emit_banner(b, vc_arena_printf(a, "room %s: handlers", r->name));
        vc_emit_doc(b, r->doc, 0);
        vc_buf_puts(b, "/*\n * Fill the members you need; NULL ones are skipped (an event with no "
                    "handler goes\n * to hooks.on_message). A handler returns 0, or a negative "
                    "value that reaches\n * hooks.on_error; arguments are borrowed until it "
                    "returns.\n */\n");
        vc_buf_printf(b, "typedef struct %s_handlers {\n", p);
        vc_buf_puts(b, "    verani_hooks hooks; /* lifecycle, see <verani/gen.h> */\n");
        vc_buf_puts(b, "    /* Fill the typed meta from the upgrade request; NULL keeps the "
                    "runtime's default. */\n");
        params[0] = "verani_upgrade *req";
        params[1] = vc_arena_printf(a, "%s *meta", meta);
        vc_emit_sig(b, "    int (*extract_meta)", params, 2, ";\n");
        for (size_t j = 0; j < r->events.n; j++) {
            const vc_event *e = vc_room_event(r, j);
            if (e->dir != VC_DIR_ON)
                continue;
            vc_emit_doc(b, vc_event_doc(ctx, e), 4);
            size_t n = handler_params(ctx, e, params);
            vc_emit_sig(b, vc_arena_printf(a, "    int (*%s)", e->cname), params, n, ";\n");
        }
        vc_buf_printf(b, "} %s_handlers;\n\n", p);

        vc_emit_banner(b, vc_arena_printf(a, "room %s: definition and emitters", r->name));
        vc_buf_printf(b, "/* What verani_server_mount() takes; %s_mount() below is the typed "
                      "way. */\n", p);
        vc_buf_printf(b, "extern const verani_room_def %s_room;\n\n", p);
        vc_buf_puts(b, "/* Mount the room with handler table `h` (borrowed: it must outlive the "
                    "server). */\n");
        params[0] = "verani_server *srv";
        params[1] = vc_arena_printf(a, "const %s_handlers *h", p);
        params[2] = "void *user";
        vc_emit_sig(b, vc_arena_printf(a, "int %s_mount", p), params, 3, ";\n\n");
        for (size_t j = 0; j < r->events.n; j++) {
            const vc_event *e = vc_room_event(r, j);
            if (e->dir != VC_DIR_EMIT)
                continue;
            vc_emit_doc(b, vc_event_doc(ctx, e), 0);
            size_t n = emitter_params(ctx, e, params);
            vc_emit_sig(b, vc_arena_printf(a, "int %s_emit_%s", p, e->cname), params, n, ";\n");
        }
        if (vc_room_count(r, VC_DIR_EMIT)) {
            vc_buf_puts(b, "\n/* The same emits from outside the room, from any thread "
                        "(<verani/rpc.h>):\n * `instance` NULL means every instance; the "
                        "count reached comes back\n * through `done`. */\n");
            for (size_t j = 0; j < r->events.n; j++) {
                const vc_event *e = vc_room_event(r, j);
                if (e->dir != VC_DIR_EMIT)
                    continue;
                const char *rparams[5];
                size_t n = rpc_emitter_params(ctx, e, rparams);
                vc_emit_sig(b, vc_arena_printf(a, "int %s_rpc_emit_%s", p, e->cname), rparams,
                            n, ";\n");
            }
            vc_buf_puts(b, "\n");
        }
        vc_buf_puts(b, "/* The connection's typed meta; valid until the handler returns. */\n");
        params[0] = "verani_ctx *ctx";
        vc_emit_sig(b, vc_arena_printf(a, "const %s *%s_meta", meta, p), params, 1, ";\n\n");
    }
    if (storage_messages(s)) {
        vc_emit_banner(b, "room storage: typed helpers");
        vc_buf_puts(b, "/*\n * put stores a message under `key` (a C string) in a room "
                    "instance's storage\n * (verani_ctx_storage) as its protobuf bytes, not "
                    "validated. get reads it back\n * into *out, which the caller frees with "
                    "verani_storage_free_message;\n * VERANI_ENOTFOUND when the key is absent, "
                    "VERANI_EIO when its bytes are not\n * that message. See "
                    "<verani/storage.h>.\n */\n");
        for (size_t i = 0; i < s->messages.n; i++) {
            const vc_message *m = s->messages.items[i];
            if (m->meta_of != NULL)
                continue;
            const char *low = vc_lower(a, m->name);
            storage_params(ctx, m, 0, params);
            vc_emit_sig(b, vc_arena_printf(a, "int %s_storage_put_%s", s->package, low), params,
                        3, ";\n");
            storage_params(ctx, m, 1, params);
            vc_emit_sig(b, vc_arena_printf(a, "int %s_storage_get_%s", s->package, low), params,
                        3, ";\n");
        }
        vc_buf_puts(b, "\n");
    }
    vc_emit_guard_close(ctx, b, "server");
}

void vc_emit_server_c(vc_ctx *ctx, vc_buf *b)
{
    const vc_schema *s = ctx->schema;
    vc_arena *a = &ctx->arena;
    const char *params[4];
    vc_emit_file_doc(ctx, b, "_server.c", "the dispatch trampolines, room definitions, "
                     "typed emitters and meta accessors declared in the header. No logic, no "
                     "allocation: decoding, validation and fan-out are libverani's.");
    vc_buf_printf(b, "#include \"%s_server.h\"\n", s->package);
    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        const char *p = vc_room_prefix(ctx, r);
        const char *meta = vc_msg_ctype(ctx, r->meta);
        size_t n_on, n_emit;
        vc_event **on = vc_room_sorted_a(a, r, VC_DIR_ON, &n_on);
        vc_event **emit = vc_room_sorted_a(a, r, VC_DIR_EMIT, &n_emit);
        vc_buf_puts(b, "\n");
        vc_emit_banner(b, vc_arena_printf(a, "room %s", r->name));
        params[0] = "verani_ctx *ctx";
        params[1] = "const void *handlers";
        params[2] = "const ProtobufCMessage *in";
        params[3] = "ProtobufCMessage *out";
        for (size_t j = 0; j < n_on; j++) {
            const vc_event *e = on[j];
            vc_emit_sig(b, vc_arena_printf(a, "static int %s_invoke_%s", p, e->cname), params, 4,
                        "\n{\n");
            vc_buf_printf(b, "    const %s_handlers *h = handlers;\n\n", p);
            if (!e->in)
                vc_buf_puts(b, "    (void)in;\n");
            if (!e->out)
                vc_buf_puts(b, "    (void)out;\n");
            vc_buf_printf(b, "    if (h->%s == NULL)\n        return VERANI_ENOHANDLER;\n",
                          e->cname);
            vc_buf_printf(b, "    return h->%s(ctx", e->cname);
            if (e->in)
                vc_buf_printf(b, ", (const %s *)in", vc_msg_ctype(ctx, e->in));
            if (e->out)
                vc_buf_printf(b, ", (%s *)out", vc_msg_ctype(ctx, e->out));
            vc_buf_puts(b, ");\n}\n\n");
        }
        const char *mparams[3] = {"verani_upgrade *req", "const void *handlers",
                                  "ProtobufCMessage *meta"};
        vc_emit_sig(b, vc_arena_printf(a, "static int %s_extract_meta", p), mparams, 3, "\n{\n");
        vc_buf_printf(b, "    const %s_handlers *h = handlers;\n\n", p);
        vc_buf_puts(b, "    if (h->extract_meta == NULL)\n        return VERANI_ENOHANDLER;\n");
        vc_buf_printf(b, "    return h->extract_meta(req, (%s *)meta);\n}\n\n", meta);
        if (n_on) {
            vc_buf_printf(b, "/* Parallel to %s_on_events. */\n", p);
            vc_buf_printf(b, "static const verani_invoke_fn %s_invoke[%zu] = {\n", p, n_on);
            for (size_t j = 0; j < n_on; j++)
                vc_buf_printf(b, "    %s_invoke_%s,\n", p, on[j]->cname);
            vc_buf_puts(b, "};\n\n");
        }
        vc_buf_printf(b, "const verani_room_def %s_room = {\n", p);
        vc_buf_printf(b, "    .abi = VERANI_GEN_ABI,\n    .schema = &%s_schema,\n", p);
        if (n_on)
            vc_buf_printf(b, "    .invoke = %s_invoke,\n", p);
        else
            vc_buf_puts(b, "    .invoke = NULL,\n");
        vc_buf_printf(b, "    .extract_meta = %s_extract_meta,\n", p);
        vc_buf_printf(b, "    .handlers_size = sizeof(%s_handlers),\n};\n\n", p);

        params[0] = "verani_server *srv";
        params[1] = vc_arena_printf(a, "const %s_handlers *h", p);
        params[2] = "void *user";
        vc_emit_sig(b, vc_arena_printf(a, "int %s_mount", p), params, 3, "\n{\n");
        vc_buf_printf(b, "    return verani_server_mount(srv, &%s_room, h, user);\n}\n\n", p);
        for (size_t j = 0; j < n_emit; j++) {
            const vc_event *e = emit[j];
            size_t n = emitter_params(ctx, e, params);
            vc_emit_sig(b, vc_arena_printf(a, "int %s_emit_%s", p, e->cname), params, n, "\n{\n");
            const char *args[4] = {"ctx", "&to", vc_arena_printf(a, "&%s_emit_events[%zu]", p, j),
                                   e->in ? "(const ProtobufCMessage *)msg" : "NULL"};
            vc_emit_sig(b, "    return verani_emit", args, 4, ";\n}\n\n");
        }
        for (size_t j = 0; j < n_emit; j++) {
            const vc_event *e = emit[j];
            const char *rparams[5];
            size_t n = rpc_emitter_params(ctx, e, rparams);
            vc_emit_sig(b, vc_arena_printf(a, "int %s_rpc_emit_%s", p, e->cname), rparams, n,
                        "\n{\n");
            const char *args[7] = {"srv", vc_arena_printf(a, "%s_schema.name", p), "instance",
                                   "&to", vc_arena_printf(a, "&%s_emit_events[%zu]", p, j),
                                   e->in ? "(const ProtobufCMessage *)msg" : "NULL", "done"};
            vc_emit_sig(b, "    return verani_rpc_emit", args, 7, ";\n}\n\n");
        }
        params[0] = "verani_ctx *ctx";
        vc_emit_sig(b, vc_arena_printf(a, "const %s *%s_meta", meta, p), params, 1, "\n{\n");
        vc_buf_printf(b, "    return (const %s *)verani_ctx_meta(ctx);\n}\n", meta);
    }
    if (storage_messages(s)) {
        vc_buf_puts(b, "\n");
        vc_emit_banner(b, "room storage: typed helpers");
    }
    for (size_t i = 0, first = 1; i < s->messages.n; i++) {
        const vc_message *m = s->messages.items[i];
        if (m->meta_of != NULL)
            continue;
        const char *low = vc_lower(a, m->name);
        if (!first)
            vc_buf_puts(b, "\n");
        first = 0;
        storage_params(ctx, m, 0, params);
        vc_emit_sig(b, vc_arena_printf(a, "int %s_storage_put_%s", s->package, low), params, 3,
                    "\n{\n");
        const char *pargs[3] = {"st", "key", "(const ProtobufCMessage *)m"};
        vc_emit_sig(b, "    return verani_storage_put_message", pargs, 3, ";\n}\n\n");
        storage_params(ctx, m, 1, params);
        vc_emit_sig(b, vc_arena_printf(a, "int %s_storage_get_%s", s->package, low), params, 3,
                    "\n{\n");
        const char *gargs[4] = {"st", "key", vc_arena_printf(a, "&%s", vc_msg_descriptor(ctx, m)),
                                "(ProtobufCMessage **)out"};
        vc_emit_sig(b, "    return verani_storage_get_message", gargs, 4, ";\n}\n");
    }
}
