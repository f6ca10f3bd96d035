/* SPDX-License-Identifier: MIT */
/*
 * emit_stubs.c: writes <pkg>_handlers.c with --stubs: a filled-in skeleton
 * of every hook and `on` handler of every room, each returning 0, the
 * handler tables, and <pkg>_handlers_mount() that mounts every room. It is a
 * starting point that belongs to the user: veranic writes it only when the
 * file does not exist yet, and never overwrites it. Every name comes from
 * names.c; bodies are templates (template.c).
 */
#include <string.h>

#include "veranic.h"

/* The hooks of one room, as templates over $connect$, $disconnect$, ... */
static const char hooks_tpl[] =
    "static int $connect$(verani_ctx *ctx)\n"
    "{\n"
    "    (void)ctx;\n"
    "    return 0;\n"
    "}\n"
    "\n"
    "static void $disconnect$(verani_ctx *ctx)\n"
    "{\n"
    "    (void)ctx;\n"
    "}\n"
    "\n";

static void stub_hooks(vc_ctx *ctx, vc_buf *b, const vc_room *r)
{
    vc_arena *a = &ctx->arena;
    const char *params[3] = {"verani_ctx *ctx", "int err", "const char *what"};
    const vc_var vars[] = {{"connect", vc_name(ctx, VC_N_STUB_ON_CONNECT, r, NULL)},
                           {"disconnect", vc_name(ctx, VC_N_STUB_ON_DISCONNECT, r, NULL)},
                           {"restore", vc_name(ctx, VC_N_STUB_ON_RESTORE, r, NULL)},
                           {NULL, NULL}};

    vc_tpl(b, hooks_tpl, vars);
    vc_emit_sig(b, vc_arena_printf(a, "static void %s",
                                   vc_name(ctx, VC_N_STUB_ON_ERROR, r, NULL)), params, 3,
                "\n{\n");
    vc_buf_puts(b, "    (void)ctx;\n    (void)err;\n    (void)what;\n}\n\n");
    params[1] = "const char *channel";
    vc_emit_sig(b, vc_arena_printf(a, "static int %s", vc_name(ctx, VC_N_STUB_ON_JOIN, r, NULL)),
                params, 2, "\n{\n");
    vc_buf_puts(b, "    (void)ctx;\n    (void)channel;\n    return 0;\n}\n\n");
    vc_emit_sig(b, vc_arena_printf(a, "static void %s",
                                   vc_name(ctx, VC_N_STUB_ON_LEAVE, r, NULL)), params, 2,
                "\n{\n");
    vc_buf_puts(b, "    (void)ctx;\n    (void)channel;\n}\n\n");
    vc_tpl(b, "static void $restore$(verani_ctx *ctx)\n"
              "{\n"
              "    (void)ctx;\n"
              "}\n"
              "\n", vars);
    params[0] = "verani_upgrade *req";
    params[1] = vc_arena_printf(a, "%s *meta", vc_msg_ctype(ctx, r->meta));
    vc_emit_doc(b, "Fill the typed meta from the request (verani_upgrade_query/header/cookie), "
                "or\nreturn VERANI_ENOHANDLER to keep the runtime's default.", 0);
    vc_emit_sig(b, vc_arena_printf(a, "static int %s",
                                   vc_name(ctx, VC_N_STUB_EXTRACT_META, r, NULL)), params, 2,
                "\n{\n");
    vc_buf_puts(b, "    (void)req;\n    (void)meta;\n    return VERANI_ENOHANDLER;\n}\n\n");
}

static void stub_handler(vc_ctx *ctx, vc_buf *b, const vc_room *r, const vc_event *e)
{
    vc_arena *a = &ctx->arena;
    const char *params[3];
    size_t n = 0;

    vc_emit_doc(b, vc_event_doc(ctx, e), 0);
    params[n++] = "verani_ctx *ctx";
    if (e->in)
        params[n++] = vc_arena_printf(a, "const %s *msg", vc_msg_ctype(ctx, e->in));
    if (e->out)
        params[n++] = vc_arena_printf(a, "%s *reply", vc_msg_ctype(ctx, e->out));
    vc_emit_sig(b, vc_arena_printf(a, "static int %s", vc_name(ctx, VC_N_STUB_EVENT, r, e)),
                params, n, "\n{\n");
    vc_buf_puts(b, "    (void)ctx;\n");
    if (e->in)
        vc_buf_puts(b, "    (void)msg;\n");
    if (e->out)
        vc_buf_puts(b, "    (void)reply;\n");
    vc_buf_puts(b, "    return 0;\n}\n\n");
}

static void stub_timer(vc_ctx *ctx, vc_buf *b, const vc_room *r, const vc_timer *t)
{
    const char *params[1] = {"verani_ctx *ctx"};

    vc_emit_doc(b, vc_timer_doc(ctx, t), 0);
    vc_emit_sig(b, vc_arena_printf(&ctx->arena, "static void %s",
                                   vc_name(ctx, VC_N_STUB_TIMER, r, t)), params, 1, "\n{\n");
    vc_buf_puts(b, "    (void)ctx;\n}\n\n");
}

static void stub_table(vc_ctx *ctx, vc_buf *b, const vc_room *r)
{
    static const struct {
        const char *member;
        vc_name_id stub;
    } hooks[] = {
        {"on_connect", VC_N_STUB_ON_CONNECT}, {"on_disconnect", VC_N_STUB_ON_DISCONNECT},
        {"on_error", VC_N_STUB_ON_ERROR}, {"on_join", VC_N_STUB_ON_JOIN},
        {"on_leave", VC_N_STUB_ON_LEAVE}, {"on_hibernation_restore", VC_N_STUB_ON_RESTORE},
    };

    vc_buf_printf(b, "static const %s %s = {\n", vc_name(ctx, VC_N_HANDLERS, r, NULL),
                  vc_name(ctx, VC_N_STUB_HANDLERS, r, NULL));
    vc_buf_puts(b, "    .hooks = {\n");
    for (size_t k = 0; k < sizeof(hooks) / sizeof(hooks[0]); k++)
        vc_buf_printf(b, "        .%s = %s,\n", hooks[k].member,
                      vc_name(ctx, hooks[k].stub, r, NULL));
    vc_buf_puts(b, "        /* .on_message: what no typed handler takes (unset: an event is "
                "dropped,\n           a request answered NO_HANDLER) */\n");
    vc_buf_puts(b, "        /* .on_any: every dispatched event, after its handler */\n");
    vc_buf_puts(b, "    },\n");
    vc_buf_printf(b, "    .extract_meta = %s,\n", vc_name(ctx, VC_N_STUB_EXTRACT_META, r, NULL));
    for (size_t j = 0; j < r->events.n; j++) {
        const vc_event *e = vc_room_event(r, j);
        if (e->dir == VC_DIR_ON)
            vc_buf_printf(b, "    .%s = %s,\n", e->cname, vc_name(ctx, VC_N_STUB_EVENT, r, e));
    }
    for (size_t j = 0; j < r->timers.n; j++) {
        const vc_timer *t = r->timers.items[j];
        vc_buf_printf(b, "    .timer_%s = %s,\n", t->name, vc_name(ctx, VC_N_STUB_TIMER, r, t));
    }
    vc_buf_puts(b, "};\n");
}

void vc_emit_stubs_h(vc_ctx *ctx, vc_buf *b)
{
    const vc_schema *s = ctx->schema;
    const vc_var vars[] = {{"pkg", s->package},
                           {"PKG", vc_upper(&ctx->arena, s->package)},
                           {"mount_all", vc_name(ctx, VC_N_HANDLERS_MOUNT, NULL, NULL)},
                           {NULL, NULL}};

    vc_buf_puts(b, "/* Generated by veranic from ");
    vc_buf_puts(b, ctx->path);
    vc_buf_puts(b, ": yours to edit. */\n");
    vc_emit_doc(b, vc_arena_printf(&ctx->arena, "%s_handlers.h: what %s_handlers.c offers the "
                                   "rest of your program. veranic wrote it once and will never "
                                   "overwrite it.", s->package, s->package), 0);
    vc_tpl(b, "#ifndef VERANI_GEN_$PKG$_HANDLERS_H\n"
              "#define VERANI_GEN_$PKG$_HANDLERS_H\n"
              "\n"
              "#include \"$pkg$_server.h\"\n"
              "\n", vars);
    vc_emit_doc(b, "Mount every room of the schema with its handlers; call it before "
                "verani_server_run(). `user` reaches every handler through verani_ctx_user(). "
                "0, or the first negative verani_err of a mount.", 0);
    vc_tpl(b, "int $mount_all$(verani_server *srv, void *user);\n"
              "\n"
              "#endif /* VERANI_GEN_$PKG$_HANDLERS_H */\n", vars);
}

size_t vc_stubs_missing(vc_ctx *ctx, const char *text, vc_buf *list)
{
    const vc_schema *s = ctx->schema;
    size_t n = 0;

    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        for (size_t j = 0; j < r->events.n; j++) {
            const vc_event *e = vc_room_event(r, j);
            if (e->dir != VC_DIR_ON || strstr(text, vc_name(ctx, VC_N_STUB_EVENT, r, e)) ||
                strstr(text, vc_arena_printf(&ctx->arena, ".%s =", e->cname)))
                continue;
            vc_buf_printf(list, "%s%s (room %s)", n ? ", " : "", e->name, r->name);
            n++;
        }
        for (size_t j = 0; j < r->timers.n; j++) {
            const vc_timer *t = r->timers.items[j];
            if (strstr(text, vc_name(ctx, VC_N_STUB_TIMER, r, t)) ||
                strstr(text, vc_arena_printf(&ctx->arena, ".timer_%s =", t->name)))
                continue;
            vc_buf_printf(list, "%stimer %s (room %s)", n ? ", " : "", t->name, r->name);
            n++;
        }
    }
    return n;
}

void vc_emit_stubs(vc_ctx *ctx, vc_buf *b)
{
    const vc_schema *s = ctx->schema;
    vc_arena *a = &ctx->arena;
    const vc_var vars[] = {{"pkg", s->package},
                           {"mount_all", vc_name(ctx, VC_N_HANDLERS_MOUNT, NULL, NULL)},
                           {NULL, NULL}};

    vc_buf_puts(b, "/* Generated by veranic from ");
    vc_buf_puts(b, ctx->path);
    vc_buf_puts(b, ": yours to edit. */\n");
    vc_emit_doc(b, vc_arena_printf(a, "%s_handlers.c: the handlers of package %s, as a "
                                   "starting point. veranic wrote it once and will never "
                                   "overwrite it; fill in what your rooms do.", s->package,
                                   s->package), 0);
    vc_tpl(b, "#include \"$pkg$_handlers.h\"\n", vars);
    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];

        vc_buf_puts(b, "\n");
        vc_emit_banner(b, vc_arena_printf(a, "room %s", r->name));
        stub_hooks(ctx, b, r);
        for (size_t j = 0; j < r->events.n; j++) {
            const vc_event *e = vc_room_event(r, j);
            if (e->dir == VC_DIR_ON)
                stub_handler(ctx, b, r, e);
        }
        for (size_t j = 0; j < r->timers.n; j++)
            stub_timer(ctx, b, r, r->timers.items[j]);
        stub_table(ctx, b, r);
    }
    vc_buf_puts(b, "\n");
    vc_emit_banner(b, "mount every room");
    vc_emit_doc(b, "Call before verani_server_run(); `user` reaches every handler through "
                "verani_ctx_user().", 0);
    vc_tpl(b, "int $mount_all$(verani_server *srv, void *user)\n"
              "{\n", vars);
    if (s->rooms.n == 0)
        vc_buf_puts(b, "    (void)srv;\n    (void)user;\n    return 0;\n}\n");
    else
        vc_buf_puts(b, "    int rc;\n\n");
    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        vc_buf_printf(b, "    rc = %s(srv, &%s, user);\n", vc_name(ctx, VC_N_MOUNT, r, NULL),
                      vc_name(ctx, VC_N_STUB_HANDLERS, r, NULL));
        vc_buf_puts(b, "    if (rc < 0)\n        return rc;\n");
    }
    if (s->rooms.n)
        vc_buf_puts(b, "    return 0;\n}\n");
}
