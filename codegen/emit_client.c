/* SPDX-License-Identifier: MIT */
/*
 * emit_client.c: writes <pkg>_client.h and <pkg>_client.c, the typed client
 * of each room: an emit function per `on` event (a request function with a
 * typed reply callback for `on ... returns`), and typed on/once/off per
 * `emit` event. The .c holds static trampolines that cast the generic
 * callbacks of <verani/gen.h> back to their typed form; nothing else.
 */
#include "veranic.h"

static const char *cb_type(vc_ctx *ctx, const vc_room *r, const vc_event *e)
{
    return vc_arena_printf(&ctx->arena, "%s_%s_%s", vc_room_prefix(ctx, r), e->cname,
                           e->dir == VC_DIR_ON ? "reply_cb" : "cb");
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

void vc_emit_client_h(vc_ctx *ctx, vc_buf *b)
{
    const vc_schema *s = ctx->schema;
    vc_arena *a = &ctx->arena;
    const char *params[6];
    vc_emit_guard_open(ctx, b, "client", "the typed client of each room: emit and request "
                       "functions for `on` events, typed callbacks for `emit` events.");
    vc_buf_printf(b, "#include <verani/client.h>\n\n#include \"%s_schema.h\"\n\n", s->package);
    vc_emit_abi_check(ctx, b, "client");
    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        const char *p = vc_room_prefix(ctx, r);
        if (r->events.n == 0)
            continue;
        vc_emit_banner(b, vc_arena_printf(a, "room %s: client to server", r->name));
        for (size_t j = 0; j < r->events.n; j++) {
            const vc_event *e = vc_room_event(r, j);
            if (e->dir != VC_DIR_ON)
                continue;
            if (e->out == NULL) {
                vc_emit_doc(b, vc_event_doc(ctx, e), 0);
                params[0] = "verani_client *c";
                params[1] = e->in ? vc_arena_printf(a, "const %s *msg", vc_msg_ctype(ctx, e->in))
                                  : NULL;
                vc_emit_sig(b, vc_arena_printf(a, "int %s_client_emit_%s", p, e->cname), params,
                            e->in ? 2 : 1, ";\n\n");
                continue;
            }
            vc_buf_printf(b, "/* The outcome of a %s request: `reply` is set only for "
                          "VERANI_REPLY_OK. */\n", e->name);
            params[0] = "verani_client *c";
            params[1] = "verani_reply_status status";
            params[2] = vc_arena_printf(a, "const %s *reply", vc_msg_ctype(ctx, e->out));
            params[3] = "const char *error";
            params[4] = "void *user";
            vc_emit_sig(b, vc_arena_printf(a, "typedef void (*%s)", cb_type(ctx, r, e)), params,
                        5, ";\n");
            vc_emit_doc(b, vc_event_doc(ctx, e), 0);
            size_t n = request_params(ctx, r, e, params);
            vc_emit_sig(b, vc_arena_printf(a, "int %s_client_request_%s", p, e->cname), params, n,
                        ";\n\n");
        }
        if (vc_room_count(r, VC_DIR_EMIT) == 0)
            continue;
        vc_emit_banner(b, vc_arena_printf(a, "room %s: server to client", r->name));
        for (size_t j = 0; j < r->events.n; j++) {
            const vc_event *e = vc_room_event(r, j);
            if (e->dir != VC_DIR_EMIT)
                continue;
            vc_emit_doc(b, vc_event_doc(ctx, e), 0);
            params[0] = "verani_client *c";
            size_t n = 1;
            if (e->in)
                params[n++] = vc_arena_printf(a, "const %s *msg", vc_msg_ctype(ctx, e->in));
            params[n++] = "void *user";
            vc_emit_sig(b, vc_arena_printf(a, "typedef void (*%s)", cb_type(ctx, r, e)), params,
                        n, ";\n");
            params[0] = "verani_client *c";
            params[1] = vc_arena_printf(a, "%s cb", cb_type(ctx, r, e));
            params[2] = "void *user";
            static const char *const verbs[3] = {"on", "once", "off"};
            for (int k = 0; k < 3; k++)
                vc_emit_sig(b, vc_arena_printf(a, "int %s_client_%s_%s", p, verbs[k], e->cname),
                            params, 3, ";\n");
            vc_buf_puts(b, "\n");
        }
    }
    vc_emit_guard_close(ctx, b, "client");
}

void vc_emit_client_c(vc_ctx *ctx, vc_buf *b)
{
    const vc_schema *s = ctx->schema;
    vc_arena *a = &ctx->arena;
    const char *params[6];
    vc_emit_file_doc(ctx, b, "_client.c", "the typed client functions declared in the header, "
                     "as thin wrappers over verani_client_emit/request/on/off. No allocation.");
    vc_buf_printf(b, "#include \"%s_client.h\"\n", s->package);
    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        const char *p = vc_room_prefix(ctx, r);
        size_t n_on, n_emit;
        vc_event **on = vc_room_sorted_a(a, r, VC_DIR_ON, &n_on);
        vc_event **emit = vc_room_sorted_a(a, r, VC_DIR_EMIT, &n_emit);
        if (n_on + n_emit == 0)
            continue;
        vc_buf_puts(b, "\n");
        vc_emit_banner(b, vc_arena_printf(a, "room %s", r->name));
        for (size_t j = 0; j < n_on; j++) {
            const vc_event *e = on[j];
            const char *evp = vc_arena_printf(a, "&%s_on_events[%zu]", p, j);
            const char *msg = e->in ? "(const ProtobufCMessage *)msg" : "NULL";
            if (e->out == NULL) {
                params[0] = "verani_client *c";
                params[1] = e->in ? vc_arena_printf(a, "const %s *msg", vc_msg_ctype(ctx, e->in))
                                  : NULL;
                vc_emit_sig(b, vc_arena_printf(a, "int %s_client_emit_%s", p, e->cname), params,
                            e->in ? 2 : 1, "\n{\n");
                const char *args[3] = {"c", evp, msg};
                vc_emit_sig(b, "    return verani_client_emit", args, 3, ";\n}\n\n");
                continue;
            }
            params[0] = "verani_client *c";
            params[1] = "verani_fn fn";
            params[2] = "verani_reply_status status";
            params[3] = "const ProtobufCMessage *reply";
            params[4] = "const char *error";
            params[5] = "void *user";
            vc_emit_sig(b, vc_arena_printf(a, "static void %s_client_reply_%s", p, e->cname),
                        params, 6, "\n{\n");
            vc_buf_printf(b, "    %s cb = (%s)fn;\n\n", cb_type(ctx, r, e), cb_type(ctx, r, e));
            vc_buf_printf(b, "    cb(c, status, (const %s *)reply, error, user);\n}\n\n",
                          vc_msg_ctype(ctx, e->out));
            size_t n = request_params(ctx, r, e, params);
            vc_emit_sig(b, vc_arena_printf(a, "int %s_client_request_%s", p, e->cname), params, n,
                        "\n{\n");
            const char *args[7] = {"c", evp, e->in ? "(const ProtobufCMessage *)req" : "NULL",
                                   "timeout_ms",
                                   vc_arena_printf(a, "%s_client_reply_%s", p, e->cname),
                                   "(verani_fn)cb", "user"};
            vc_emit_sig(b, "    return verani_client_request", args, 7, ";\n}\n\n");
        }
        for (size_t j = 0; j < n_emit; j++) {
            const vc_event *e = emit[j];
            const char *evp = vc_arena_printf(a, "&%s_emit_events[%zu]", p, j);
            const char *ct = cb_type(ctx, r, e);
            params[0] = "verani_client *c";
            params[1] = "verani_fn fn";
            params[2] = "const ProtobufCMessage *msg";
            params[3] = "void *user";
            vc_emit_sig(b, vc_arena_printf(a, "static void %s_client_invoke_%s", p, e->cname),
                        params, 4, "\n{\n");
            vc_buf_printf(b, "    %s cb = (%s)fn;\n\n", ct, ct);
            if (e->in)
                vc_buf_printf(b, "    cb(c, (const %s *)msg, user);\n}\n\n",
                              vc_msg_ctype(ctx, e->in));
            else
                vc_buf_puts(b, "    (void)msg;\n    cb(c, user);\n}\n\n");
            params[1] = vc_arena_printf(a, "%s cb", ct);
            params[2] = "void *user";
            for (int k = 0; k < 2; k++) {
                vc_emit_sig(b, vc_arena_printf(a, "int %s_client_%s_%s", p, k ? "once" : "on",
                                               e->cname), params, 3, "\n{\n");
                const char *args[6] = {"c", evp,
                                       vc_arena_printf(a, "%s_client_invoke_%s", p, e->cname),
                                       "(verani_fn)cb", "user", k ? "1" : "0"};
                vc_emit_sig(b, "    return verani_client_on", args, 6, ";\n}\n\n");
            }
            vc_emit_sig(b, vc_arena_printf(a, "int %s_client_off_%s", p, e->cname), params, 3,
                        "\n{\n");
            const char *args[4] = {"c", evp, "(verani_fn)cb", "user"};
            vc_emit_sig(b, "    return verani_client_off", args, 4, ";\n}\n");
            if (j + 1 < n_emit)
                vc_buf_puts(b, "\n");
        }
    }
}
