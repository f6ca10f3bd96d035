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
 * allocation. Every name comes from names.c; bodies are templates
 * (template.c); prose goes through vc_emit_doc.
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

/* The typed deferred-reply sender's parameters (two). */
static void reply_params(vc_ctx *ctx, const vc_event *e, const char **params)
{
    params[0] = "verani_reply *r";
    params[1] = vc_arena_printf(&ctx->arena, "const %s *msg", vc_msg_ctype(ctx, e->out));
}

/* Does room r have an `on` event with `returns`? */
static int room_has_reply(const vc_room *r)
{
    for (size_t j = 0; j < r->events.n; j++) {
        const vc_event *e = vc_room_event(r, j);
        if (e->dir == VC_DIR_ON && e->out)
            return 1;
    }
    return 0;
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

/* "int <name>" and the like: the head of a signature. */
static const char *head(vc_ctx *ctx, const char *type, vc_name_id id, const vc_room *r,
                        const void *subject)
{
    return vc_arena_printf(&ctx->arena, "%s %s", type, vc_name(ctx, id, r, subject));
}

/* The variables every room template uses. */
typedef struct room_vars {
    vc_var v[7];
} room_vars;

static room_vars vars_of(vc_ctx *ctx, const vc_room *r)
{
    room_vars rv = {{
        {"handlers", vc_name(ctx, VC_N_HANDLERS, r, NULL)},
        {"room", vc_name(ctx, VC_N_ROOM, r, NULL)},
        {"mount", vc_name(ctx, VC_N_MOUNT, r, NULL)},
        {"schema", vc_name(ctx, VC_N_SCHEMA, r, NULL)},
        {"meta", vc_msg_ctype(ctx, r->meta)},
        {"on_events", vc_name(ctx, VC_N_ON_EVENTS, r, NULL)},
        {NULL, NULL},
    }};
    return rv;
}

static void server_h_room(vc_ctx *ctx, vc_buf *b, const vc_room *r)
{
    vc_arena *a = &ctx->arena;
    room_vars rv = vars_of(ctx, r);
    const char *params[4];

    vc_emit_banner(b, vc_arena_printf(a, "room %s: handlers", r->name));
    vc_emit_doc(b, r->doc, 0);
    vc_emit_doc(b, "Fill the members you need; NULL ones are skipped (an event with no handler "
                "goes\nto hooks.on_message). A handler returns 0, or a negative value that "
                "reaches\nhooks.on_error; arguments are borrowed until it returns.", 0);
    vc_tpl(b, "typedef struct $handlers$ {\n"
              "    verani_hooks hooks; /* lifecycle, see <verani/gen.h> */\n", rv.v);
    vc_emit_doc(b, "Fill the typed meta from the upgrade request; NULL keeps the runtime's "
                "default.", 4);
    params[0] = "verani_upgrade *req";
    params[1] = vc_arena_printf(a, "%s *meta", vc_msg_ctype(ctx, r->meta));
    vc_emit_sig(b, "    int (*extract_meta)", params, 2, ";\n");
    for (size_t j = 0; j < r->events.n; j++) {
        const vc_event *e = vc_room_event(r, j);
        if (e->dir != VC_DIR_ON)
            continue;
        vc_emit_doc(b, vc_event_doc(ctx, e), 4);
        size_t n = handler_params(ctx, e, params);
        vc_emit_sig(b, vc_arena_printf(a, "    int (*%s)", e->cname), params, n, ";\n");
    }
    for (size_t j = 0; j < r->timers.n; j++) {
        const vc_timer *t = r->timers.items[j];
        vc_emit_doc(b, vc_timer_doc(ctx, t), 4);
        params[0] = "verani_ctx *ctx";
        vc_emit_sig(b, vc_arena_printf(a, "    void (*timer_%s)", t->name), params, 1, ";\n");
    }
    vc_tpl(b, "} $handlers$;\n\n", rv.v);

    vc_emit_banner(b, vc_arena_printf(a, "room %s: definition and emitters", r->name));
    vc_emit_doc(b, vc_tpl_a(a, "What verani_server_mount() takes; $mount$() below is the typed "
                            "way.", rv.v), 0);
    vc_tpl(b, "extern const verani_room_def $room$;\n\n", rv.v);
    vc_emit_doc(b, "Mount the room with handler table `h` (borrowed: it must outlive the "
                "server).", 0);
    params[0] = "verani_server *srv";
    params[1] = vc_tpl_a(a, "const $handlers$ *h", rv.v);
    params[2] = "void *user";
    vc_emit_sig(b, head(ctx, "int", VC_N_MOUNT, r, NULL), params, 3, ";\n\n");
    for (size_t j = 0; j < r->events.n; j++) {
        const vc_event *e = vc_room_event(r, j);
        if (e->dir != VC_DIR_EMIT)
            continue;
        vc_emit_doc(b, vc_event_doc(ctx, e), 0);
        size_t n = emitter_params(ctx, e, params);
        vc_emit_sig(b, head(ctx, "int", VC_N_EMIT, r, e), params, n, ";\n");
    }
    if (vc_room_count(r, VC_DIR_EMIT)) {
        vc_buf_puts(b, "\n");
        vc_emit_doc(b, "The same emits from outside the room, from any thread (<verani/rpc.h>):"
                    "\n`instance` NULL means every instance; the count reached comes back\n"
                    "through `done`.", 0);
        for (size_t j = 0; j < r->events.n; j++) {
            const vc_event *e = vc_room_event(r, j);
            const char *rparams[5];
            if (e->dir != VC_DIR_EMIT)
                continue;
            size_t n = rpc_emitter_params(ctx, e, rparams);
            vc_emit_sig(b, head(ctx, "int", VC_N_RPC_EMIT, r, e), rparams, n, ";\n");
        }
        vc_buf_puts(b, "\n");
    }
    if (room_has_reply(r)) {
        vc_emit_doc(b, "Answer a request whose handler deferred its reply (verani_ctx_defer), "
                    "from any\nthread: the typed verani_reply_send, which consumes `r`.", 0);
        for (size_t j = 0; j < r->events.n; j++) {
            const vc_event *e = vc_room_event(r, j);
            if (e->dir != VC_DIR_ON || !e->out)
                continue;
            reply_params(ctx, e, params);
            vc_emit_sig(b, head(ctx, "int", VC_N_REPLY, r, e), params, 2, ";\n");
        }
        vc_buf_puts(b, "\n");
    }
    vc_emit_doc(b, "The connection's typed meta; valid until the handler returns.", 0);
    params[0] = "verani_ctx *ctx";
    vc_emit_sig(b, vc_arena_printf(a, "const %s *%s", rv.v[4].value,
                                   vc_name(ctx, VC_N_META, r, NULL)), params, 1, ";\n\n");
}

void vc_emit_server_h(vc_ctx *ctx, vc_buf *b)
{
    const vc_schema *s = ctx->schema;
    const vc_var vars[] = {{"pkg", s->package}, {NULL, NULL}};
    const char *params[4];

    vc_emit_guard_open(ctx, b, "server", "the typed server side of each room: handler tables, "
                       "room definitions to mount, typed emitters and meta accessors.");
    vc_tpl(b, "#include <verani/rpc.h>\n"
              "#include <verani/server.h>\n"
              "#include <verani/storage.h>\n"
              "\n"
              "#include \"$pkg$_schema.h\"\n"
              "\n", vars);
    vc_emit_abi_check(ctx, b, "server");
    for (size_t i = 0; i < s->rooms.n; i++)
        server_h_room(ctx, b, s->rooms.items[i]);
    if (storage_messages(s)) {
        vc_emit_banner(b, "room storage: typed helpers");
        vc_emit_doc(b, "put stores a message under `key` (a C string) in a room instance's "
                    "storage\n(verani_ctx_storage) as its protobuf bytes, not validated. get "
                    "reads it back\ninto *out, which the caller frees with "
                    "verani_storage_free_message;\nVERANI_ENOTFOUND when the key is absent, "
                    "VERANI_EIO when its bytes are not\nthat message. See "
                    "<verani/storage.h>.", 0);
        for (size_t i = 0; i < s->messages.n; i++) {
            const vc_message *m = s->messages.items[i];
            if (m->meta_of != NULL)
                continue;
            storage_params(ctx, m, 0, params);
            vc_emit_sig(b, head(ctx, "int", VC_N_STORAGE_PUT, NULL, m), params, 3, ";\n");
            storage_params(ctx, m, 1, params);
            vc_emit_sig(b, head(ctx, "int", VC_N_STORAGE_GET, NULL, m), params, 3, ";\n");
        }
        vc_buf_puts(b, "\n");
    }
    vc_emit_guard_close(ctx, b, "server");
}

/* The dispatch trampoline of `on` event e. */
static void invoke_trampoline(vc_ctx *ctx, vc_buf *b, const vc_room *r, const vc_event *e,
                              const room_vars *rv)
{
    const char *params[4] = {"verani_ctx *ctx", "const void *handlers",
                             "const ProtobufCMessage *in", "ProtobufCMessage *out"};
    const vc_var vars[] = {{"handlers", rv->v[0].value},
                           {"ev", e->cname},
                           {"in", e->in ? vc_arena_printf(&ctx->arena, ", (const %s *)in",
                                                          vc_msg_ctype(ctx, e->in))
                                        : ""},
                           {"out", e->out ? vc_arena_printf(&ctx->arena, ", (%s *)out",
                                                            vc_msg_ctype(ctx, e->out))
                                          : ""},
                           {"void_in", e->in ? "" : "    (void)in;\n"},
                           {"void_out", e->out ? "" : "    (void)out;\n"},
                           {NULL, NULL}};

    vc_emit_sig(b, head(ctx, "static int", VC_N_INVOKE_EVENT, r, e), params, 4, "\n{\n");
    vc_tpl(b, "    const $handlers$ *h = handlers;\n"
              "\n"
              "$void_in$$void_out$"
              "    if (h->$ev$ == NULL)\n"
              "        return VERANI_ENOHANDLER;\n"
              "    return h->$ev$(ctx$in$$out$);\n"
              "}\n"
              "\n", vars);
}

static void server_c_room(vc_ctx *ctx, vc_buf *b, const vc_room *r)
{
    vc_arena *a = &ctx->arena;
    room_vars rv = vars_of(ctx, r);
    const char *params[4];
    size_t n_on, n_emit;
    vc_event **on = vc_room_sorted_a(a, r, VC_DIR_ON, &n_on);
    vc_event **emit = vc_room_sorted_a(a, r, VC_DIR_EMIT, &n_emit);
    const char *mparams[3] = {"verani_upgrade *req", "const void *handlers",
                              "ProtobufCMessage *meta"};
    const char *invoke = vc_name(ctx, VC_N_INVOKE, r, NULL);
    const char *offsets = vc_name(ctx, VC_N_HANDLER_OFFSETS, r, NULL);
    const char *toffsets = r->timers.n ? vc_name(ctx, VC_N_TIMER_OFFSETS, r, NULL) : NULL;
    const vc_var more[] = {{"invoke", n_on ? invoke : "NULL"},
                           {"offsets", n_on ? offsets : "NULL"},
                           {"extract_meta", vc_name(ctx, VC_N_EXTRACT_META, r, NULL)},
                           {"timer_offsets", toffsets ? toffsets : "NULL"},
                           {NULL, NULL}};

    vc_buf_puts(b, "\n");
    vc_emit_banner(b, vc_arena_printf(a, "room %s", r->name));
    for (size_t j = 0; j < n_on; j++)
        invoke_trampoline(ctx, b, r, on[j], &rv);
    vc_emit_sig(b, head(ctx, "static int", VC_N_EXTRACT_META, r, NULL), mparams, 3, "\n{\n");
    vc_tpl(b, "    const $handlers$ *h = handlers;\n"
              "\n"
              "    if (h->extract_meta == NULL)\n"
              "        return VERANI_ENOHANDLER;\n"
              "    return h->extract_meta(req, ($meta$ *)meta);\n"
              "}\n"
              "\n", rv.v);
    if (n_on) {
        vc_emit_doc(b, vc_tpl_a(a, "Parallel to $on_events$.", rv.v), 0);
        vc_buf_printf(b, "static const verani_invoke_fn %s[%zu] = {\n", invoke, n_on);
        for (size_t j = 0; j < n_on; j++)
            vc_buf_printf(b, "    %s,\n", vc_name(ctx, VC_N_INVOKE_EVENT, r, on[j]));
        vc_buf_puts(b, "};\n\n");
        vc_emit_doc(b, vc_tpl_a(a, "Where each handler of $on_events$ is in $handlers$ (the "
                                   "runtime names the missing ones at mount).", rv.v), 0);
        vc_buf_printf(b, "static const size_t %s[%zu] = {\n", offsets, n_on);
        for (size_t j = 0; j < n_on; j++)
            vc_buf_printf(b, "    offsetof(%s, %s),\n", vc_tpl_a(a, "$handlers$", rv.v),
                          on[j]->cname);
        vc_buf_puts(b, "};\n\n");
    }
    if (toffsets) {
        vc_emit_doc(b, "Where each timer's member is in the handler table, parallel to the "
                    "schema's timers.", 0);
        vc_buf_printf(b, "static const size_t %s[%zu] = {\n", toffsets, r->timers.n);
        for (size_t j = 0; j < r->timers.n; j++)
            vc_buf_printf(b, "    offsetof(%s, timer_%s),\n", vc_tpl_a(a, "$handlers$", rv.v),
                          ((const vc_timer *)r->timers.items[j])->name);
        vc_buf_puts(b, "};\n\n");
    }
    vc_tpl(b, "const verani_room_def $room$ = {\n"
              "    .abi = VERANI_GEN_ABI,\n"
              "    .schema = &$schema$,\n", rv.v);
    vc_tpl(b, "    .invoke = $invoke$,\n"
              "    .handler_offsets = $offsets$,\n"
              "    .extract_meta = $extract_meta$,\n", more);
    vc_tpl(b, "    .handlers_size = sizeof($handlers$),\n", rv.v);
    if (toffsets)
        vc_tpl(b, "    .timer_offsets = $timer_offsets$,\n", more);
    vc_buf_puts(b, "};\n\n");

    params[0] = "verani_server *srv";
    params[1] = vc_tpl_a(a, "const $handlers$ *h", rv.v);
    params[2] = "void *user";
    vc_emit_sig(b, head(ctx, "int", VC_N_MOUNT, r, NULL), params, 3, "\n{\n");
    vc_tpl(b, "    return verani_server_mount(srv, &$room$, h, user);\n"
              "}\n"
              "\n", rv.v);
    for (size_t j = 0; j < n_emit; j++) {
        const vc_event *e = emit[j];
        const char *evp = vc_arena_printf(a, "&%s[%zu]", vc_name(ctx, VC_N_EMIT_EVENTS, r, NULL),
                                          j);
        const char *msg = e->in ? "(const ProtobufCMessage *)msg" : "NULL";
        const char *args[4] = {"ctx", "&to", evp, msg};
        size_t n = emitter_params(ctx, e, params);

        vc_emit_sig(b, head(ctx, "int", VC_N_EMIT, r, e), params, n, "\n{\n");
        vc_emit_sig(b, "    return verani_emit", args, 4, ";\n}\n\n");
    }
    for (size_t j = 0; j < n_emit; j++) {
        const vc_event *e = emit[j];
        const char *rparams[5];
        const char *args[7] = {"srv", vc_tpl_a(a, "$schema$.name", rv.v), "instance", "&to",
                               vc_arena_printf(a, "&%s[%zu]",
                                               vc_name(ctx, VC_N_EMIT_EVENTS, r, NULL), j),
                               e->in ? "(const ProtobufCMessage *)msg" : "NULL", "done"};
        size_t n = rpc_emitter_params(ctx, e, rparams);

        vc_emit_sig(b, head(ctx, "int", VC_N_RPC_EMIT, r, e), rparams, n, "\n{\n");
        vc_emit_sig(b, "    return verani_rpc_emit", args, 7, ";\n}\n\n");
    }
    for (size_t j = 0; j < n_on; j++) {
        const char *args[2] = {"r", "(const ProtobufCMessage *)msg"};
        if (!on[j]->out)
            continue;
        reply_params(ctx, on[j], params);
        vc_emit_sig(b, head(ctx, "int", VC_N_REPLY, r, on[j]), params, 2, "\n{\n");
        vc_emit_sig(b, "    return verani_reply_send", args, 2, ";\n}\n\n");
    }
    params[0] = "verani_ctx *ctx";
    vc_emit_sig(b, vc_arena_printf(a, "const %s *%s", rv.v[4].value,
                                   vc_name(ctx, VC_N_META, r, NULL)), params, 1, "\n{\n");
    vc_tpl(b, "    return (const $meta$ *)verani_ctx_meta(ctx);\n"
              "}\n", rv.v);
}

/* The typed storage put and get of message m. */
static void storage_helpers(vc_ctx *ctx, vc_buf *b, const vc_message *m)
{
    const char *params[3];
    const char *pargs[3] = {"st", "key", "(const ProtobufCMessage *)m"};
    const char *gargs[4] = {"st", "key",
                            vc_arena_printf(&ctx->arena, "&%s", vc_msg_descriptor(ctx, m)),
                            "(ProtobufCMessage **)out"};

    storage_params(ctx, m, 0, params);
    vc_emit_sig(b, head(ctx, "int", VC_N_STORAGE_PUT, NULL, m), params, 3, "\n{\n");
    vc_emit_sig(b, "    return verani_storage_put_message", pargs, 3, ";\n}\n\n");
    storage_params(ctx, m, 1, params);
    vc_emit_sig(b, head(ctx, "int", VC_N_STORAGE_GET, NULL, m), params, 3, "\n{\n");
    vc_emit_sig(b, "    return verani_storage_get_message", gargs, 4, ";\n}\n");
}

void vc_emit_server_c(vc_ctx *ctx, vc_buf *b)
{
    const vc_schema *s = ctx->schema;
    const vc_var vars[] = {{"pkg", s->package}, {NULL, NULL}};
    int first = 1;

    vc_emit_file_doc(ctx, b, "_server.c", "the dispatch trampolines, room definitions, "
                     "typed emitters and meta accessors declared in the header. No logic, no "
                     "allocation: decoding, validation and fan-out are libverani's.");
    vc_tpl(b, "#include \"$pkg$_server.h\"\n", vars);
    for (size_t i = 0; i < s->rooms.n; i++)
        server_c_room(ctx, b, s->rooms.items[i]);
    if (storage_messages(s)) {
        vc_buf_puts(b, "\n");
        vc_emit_banner(b, "room storage: typed helpers");
    }
    for (size_t i = 0; i < s->messages.n; i++) {
        const vc_message *m = s->messages.items[i];
        if (m->meta_of != NULL)
            continue;
        if (!first)
            vc_buf_puts(b, "\n");
        first = 0;
        storage_helpers(ctx, b, m);
    }
}
