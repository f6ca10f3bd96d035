/* SPDX-License-Identifier: MIT */
/*
 * emit_client.c: writes <pkg>_client.h and <pkg>_client.c, the typed client
 * of each room: an emit function per `on` event (a request function with a
 * typed reply callback for `on ... returns`), and typed on/once/off per
 * `emit` event. The .c holds static trampolines that cast the generic
 * callbacks of <verani/gen.h> back to their typed form; nothing else. Every
 * name comes from names.c; function bodies are templates (template.c).
 */
#include "veranic.h"

/* The typed callback of an event: the reply callback of a request, or an emit's. */
static const char *cb_type(vc_ctx *ctx, const vc_room *r, const vc_event *e)
{
    return vc_name(ctx, e->dir == VC_DIR_ON ? VC_N_REPLY_CB : VC_N_EVENT_CB, r, e);
}

static size_t request_params(vc_ctx *ctx, const vc_room *r, const vc_event *e,
                             const char **params)
{
    size_t n = 0;
    params[n++] = "verani_client *c";
    if (e->in)
        params[n++] = vc_arena_printf(&ctx->arena, "const %s *req", vc_msg_ctype(ctx, e->in));
    params[n++] = "uint32_t timeout_ms";
    params[n++] = vc_arena_printf(&ctx->arena, "%s cb", cb_type(ctx, r, e));
    params[n++] = "void *user";
    return n;
}

/* "int <name>" or "static void <name>", the head of a signature. */
static const char *head(vc_ctx *ctx, const char *type, vc_name_id id, const vc_room *r,
                        const vc_event *e)
{
    return vc_arena_printf(&ctx->arena, "%s %s", type, vc_name(ctx, id, r, e));
}

static void client_h_room(vc_ctx *ctx, vc_buf *b, const vc_room *r)
{
    vc_arena *a = &ctx->arena;
    const char *params[6];

    vc_emit_banner(b, vc_arena_printf(a, "room %s: client to server", r->name));
    if (r->wire != VC_WIRE_BINARY) {
        vc_emit_doc(b, vc_room_wire_doc(ctx, r, 0), 0);
        vc_buf_puts(b, "\n");
    }
    for (size_t j = 0; j < r->events.n; j++) {
        const vc_event *e = vc_room_event(r, j);
        if (e->dir != VC_DIR_ON)
            continue;
        if (e->out == NULL) {
            vc_emit_doc(b, vc_event_doc(ctx, e), 0);
            params[0] = "verani_client *c";
            params[1] = e->in ? vc_arena_printf(a, "const %s *msg", vc_msg_ctype(ctx, e->in))
                              : NULL;
            vc_emit_sig(b, head(ctx, "int", VC_N_CLIENT_EMIT, r, e), params, e->in ? 2 : 1,
                        ";\n\n");
            continue;
        }
        vc_emit_doc(b, vc_arena_printf(a, "The outcome of a %s request: `reply` is set only "
                                       "for VERANI_REPLY_OK.", e->name), 0);
        params[0] = "verani_client *c";
        params[1] = "verani_reply_status status";
        params[2] = vc_arena_printf(a, "const %s *reply", vc_msg_ctype(ctx, e->out));
        params[3] = "const char *error";
        params[4] = "void *user";
        vc_emit_sig(b, vc_arena_printf(a, "typedef void (*%s)", cb_type(ctx, r, e)), params, 5,
                    ";\n");
        vc_emit_doc(b, vc_event_doc(ctx, e), 0);
        size_t n = request_params(ctx, r, e, params);
        vc_emit_sig(b, head(ctx, "int", VC_N_CLIENT_REQUEST, r, e), params, n, ";\n\n");
    }
    if (vc_room_count(r, VC_DIR_EMIT) == 0)
        return;
    vc_emit_banner(b, vc_arena_printf(a, "room %s: server to client", r->name));
    for (size_t j = 0; j < r->events.n; j++) {
        static const vc_name_id verbs[3] = {VC_N_CLIENT_ON, VC_N_CLIENT_ONCE, VC_N_CLIENT_OFF};
        const vc_event *e = vc_room_event(r, j);
        size_t n = 1;

        if (e->dir != VC_DIR_EMIT)
            continue;
        vc_emit_doc(b, vc_event_doc(ctx, e), 0);
        params[0] = "verani_client *c";
        if (e->in)
            params[n++] = vc_arena_printf(a, "const %s *msg", vc_msg_ctype(ctx, e->in));
        params[n++] = "void *user";
        vc_emit_sig(b, vc_arena_printf(a, "typedef void (*%s)", cb_type(ctx, r, e)), params, n,
                    ";\n");
        params[0] = "verani_client *c";
        params[1] = vc_arena_printf(a, "%s cb", cb_type(ctx, r, e));
        params[2] = "void *user";
        for (int k = 0; k < 3; k++)
            vc_emit_sig(b, head(ctx, "int", verbs[k], r, e), params, 3, ";\n");
        vc_buf_puts(b, "\n");
    }
}

void vc_emit_client_h(vc_ctx *ctx, vc_buf *b)
{
    const vc_schema *s = ctx->schema;
    const vc_var vars[] = {{"pkg", s->package}, {NULL, NULL}};

    vc_emit_guard_open(ctx, b, "client", "the typed client of each room: emit and request "
                       "functions for `on` events, typed callbacks for `emit` events.");
    vc_tpl(b, "#include <verani/client.h>\n\n#include \"$pkg$_schema.h\"\n\n", vars);
    vc_emit_abi_check(ctx, b, "client");
    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        if (r->events.n > 0)
            client_h_room(ctx, b, r);
    }
    vc_emit_guard_close(ctx, b, "client");
}

/* The emit or request function of `on` event e, the j-th by id. */
static void client_c_on(vc_ctx *ctx, vc_buf *b, const vc_room *r, const vc_event *e, size_t j)
{
    vc_arena *a = &ctx->arena;
    const char *params[6];
    const char *evp = vc_arena_printf(a, "&%s[%zu]", vc_name(ctx, VC_N_ON_EVENTS, r, NULL), j);
    const char *msg = e->in ? "(const ProtobufCMessage *)msg" : "NULL";

    if (e->out == NULL) {
        const char *args[3] = {"c", evp, msg};

        params[0] = "verani_client *c";
        params[1] = e->in ? vc_arena_printf(a, "const %s *msg", vc_msg_ctype(ctx, e->in)) : NULL;
        vc_emit_sig(b, head(ctx, "int", VC_N_CLIENT_EMIT, r, e), params, e->in ? 2 : 1,
                    "\n{\n");
        vc_emit_sig(b, "    return verani_client_emit", args, 3, ";\n}\n\n");
        return;
    }
    {
        const vc_var vars[] = {{"cb", cb_type(ctx, r, e)},
                               {"reply", vc_msg_ctype(ctx, e->out)},
                               {NULL, NULL}};
        const char *args[7] = {"c", evp, e->in ? "(const ProtobufCMessage *)req" : "NULL",
                               "timeout_ms", vc_name(ctx, VC_N_CLIENT_REPLY, r, e),
                               "(verani_fn)cb", "user"};
        size_t n;

        params[0] = "verani_client *c";
        params[1] = "verani_fn fn";
        params[2] = "verani_reply_status status";
        params[3] = "const ProtobufCMessage *reply";
        params[4] = "const char *error";
        params[5] = "void *user";
        vc_emit_sig(b, head(ctx, "static void", VC_N_CLIENT_REPLY, r, e), params, 6, "\n{\n");
        vc_tpl(b,
               "    $cb$ cb = ($cb$)fn;\n"
               "\n"
               "    cb(c, status, (const $reply$ *)reply, error, user);\n"
               "}\n"
               "\n", vars);
        n = request_params(ctx, r, e, params);
        vc_emit_sig(b, head(ctx, "int", VC_N_CLIENT_REQUEST, r, e), params, n, "\n{\n");
        vc_emit_sig(b, "    return verani_client_request", args, 7, ";\n}\n\n");
    }
}

/* The trampoline and on/once/off of `emit` event e, the j-th by id. */
static void client_c_emit(vc_ctx *ctx, vc_buf *b, const vc_room *r, const vc_event *e, size_t j)
{
    vc_arena *a = &ctx->arena;
    const char *params[4];
    const char *evp = vc_arena_printf(a, "&%s[%zu]", vc_name(ctx, VC_N_EMIT_EVENTS, r, NULL), j);
    const char *invoke = vc_name(ctx, VC_N_CLIENT_INVOKE, r, e);
    const vc_var vars[] = {{"cb", cb_type(ctx, r, e)},
                           {"msg", e->in ? vc_msg_ctype(ctx, e->in) : ""},
                           {NULL, NULL}};
    const char *off_args[4] = {"c", evp, "(verani_fn)cb", "user"};

    params[0] = "verani_client *c";
    params[1] = "verani_fn fn";
    params[2] = "const ProtobufCMessage *msg";
    params[3] = "void *user";
    vc_emit_sig(b, head(ctx, "static void", VC_N_CLIENT_INVOKE, r, e), params, 4, "\n{\n");
    vc_tpl(b, e->in ? "    $cb$ cb = ($cb$)fn;\n"
                      "\n"
                      "    cb(c, (const $msg$ *)msg, user);\n"
                      "}\n"
                      "\n"
                    : "    $cb$ cb = ($cb$)fn;\n"
                      "\n"
                      "    (void)msg;\n"
                      "    cb(c, user);\n"
                      "}\n"
                      "\n", vars);
    params[1] = vc_arena_printf(a, "%s cb", cb_type(ctx, r, e));
    params[2] = "void *user";
    for (int k = 0; k < 2; k++) {
        const char *args[6] = {"c", evp, invoke, "(verani_fn)cb", "user", k ? "1" : "0"};

        vc_emit_sig(b, head(ctx, "int", k ? VC_N_CLIENT_ONCE : VC_N_CLIENT_ON, r, e), params, 3,
                    "\n{\n");
        vc_emit_sig(b, "    return verani_client_on", args, 6, ";\n}\n\n");
    }
    vc_emit_sig(b, head(ctx, "int", VC_N_CLIENT_OFF, r, e), params, 3, "\n{\n");
    vc_emit_sig(b, "    return verani_client_off", off_args, 4, ";\n}\n");
}

void vc_emit_client_c(vc_ctx *ctx, vc_buf *b)
{
    const vc_schema *s = ctx->schema;
    vc_arena *a = &ctx->arena;
    const vc_var vars[] = {{"pkg", s->package}, {NULL, NULL}};

    vc_emit_file_doc(ctx, b, "_client.c", "the typed client functions declared in the header, "
                     "as thin wrappers over verani_client_emit/request/on/off. No allocation.");
    vc_tpl(b, "#include \"$pkg$_client.h\"\n", vars);
    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        size_t n_on, n_emit;
        vc_event **on = vc_room_sorted_a(a, r, VC_DIR_ON, &n_on);
        vc_event **emit = vc_room_sorted_a(a, r, VC_DIR_EMIT, &n_emit);

        if (n_on + n_emit == 0)
            continue;
        vc_buf_puts(b, "\n");
        vc_emit_banner(b, vc_arena_printf(a, "room %s", r->name));
        for (size_t j = 0; j < n_on; j++)
            client_c_on(ctx, b, r, on[j], j);
        for (size_t j = 0; j < n_emit; j++) {
            client_c_emit(ctx, b, r, emit[j], j);
            if (j + 1 < n_emit)
                vc_buf_puts(b, "\n");
        }
    }
}
