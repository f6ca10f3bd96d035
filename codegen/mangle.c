/* SPDX-License-Identifier: MIT */
/*
 * mangle.c: every C name veranic derives from a schema, in one place, so the
 * emitters and the collision check in check.c cannot disagree. protobuf-c's
 * own rules (ToCamel, CamelToLower) are reproduced for the payload types and
 * descriptors it generates; our names are `<pkg>_<room>_<thing>` as tabled in
 * schema/README.md. It does not decide whether a name is allowed; check.c
 * does.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "veranic.h"

char *vc_lower(vc_arena *a, const char *name)
{
    size_t n = strlen(name);
    char *out = vc_arena_alloc(a, n * 2 + 1);
    if (out == NULL)
        return NULL;
    size_t j = 0;
    int was_upper = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (isupper(c)) {
            if (!was_upper)
                out[j++] = '_';
            out[j++] = (char)tolower(c);
            was_upper = 1;
        } else {
            out[j++] = (char)c;
            was_upper = 0;
        }
    }
    out[j] = '\0';
    return out;
}

char *vc_camel(vc_arena *a, const char *name)
{
    size_t n = strlen(name);
    char *out = vc_arena_alloc(a, n + 1);
    if (out == NULL)
        return NULL;
    size_t j = 0;
    int next_upper = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '_') {
            next_upper = 1;
        } else if (next_upper) {
            out[j++] = (char)toupper(c);
            next_upper = 0;
        } else {
            out[j++] = (char)c;
        }
    }
    out[j] = '\0';
    return out;
}

char *vc_upper(vc_arena *a, const char *name)
{
    size_t n = strlen(name);
    char *out = vc_arena_alloc(a, n + 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)toupper((unsigned char)name[i]);
    out[n] = '\0';
    return out;
}

const char *vc_msg_ctype(vc_ctx *ctx, const vc_message *m)
{
    return vc_arena_printf(&ctx->arena, "%s__%s", vc_camel(&ctx->arena, ctx->schema->package),
                           vc_camel(&ctx->arena, m->name));
}

const char *vc_msg_descriptor(vc_ctx *ctx, const vc_message *m)
{
    return vc_arena_printf(&ctx->arena, "%s__%s__descriptor",
                           vc_lower(&ctx->arena, ctx->schema->package),
                           vc_lower(&ctx->arena, m->name));
}

const char *vc_enum_descriptor(vc_ctx *ctx, const vc_enum *e)
{
    return vc_arena_printf(&ctx->arena, "%s__%s__descriptor",
                           vc_lower(&ctx->arena, ctx->schema->package),
                           vc_lower(&ctx->arena, e->name));
}

const char *vc_msg_validator(vc_ctx *ctx, const vc_message *m)
{
    return vc_arena_printf(&ctx->arena, "%s_validate_%s", ctx->schema->package,
                           vc_lower(&ctx->arena, m->name));
}

const char *vc_map_entry_ctype(vc_ctx *ctx, const vc_message *m, const vc_field *f)
{
    return vc_arena_printf(&ctx->arena, "%s__%sEntry", vc_msg_ctype(ctx, m),
                           vc_camel(&ctx->arena, f->name));
}

int vc_is_c_keyword(const char *s)
{
    static const char *const kw[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double",
        "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
        "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
        "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "_Alignas",
        "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary", "_Noreturn",
        "_Static_assert", "_Thread_local",
        /* macros of the standard headers that would break a member of that name */
        "bool", "true", "false", "errno", "NULL",
    };
    for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++) {
        if (strcmp(s, kw[i]) == 0)
            return 1;
    }
    return 0;
}

const char *vc_room_prefix(vc_ctx *ctx, const vc_room *r)
{
    return vc_arena_printf(&ctx->arena, "%s_%s", ctx->schema->package, r->snake);
}

const char *vc_room_PREFIX(vc_ctx *ctx, const vc_room *r)
{
    return vc_upper(&ctx->arena, vc_room_prefix(ctx, r));
}

vc_event *vc_room_event(const vc_room *r, size_t i)
{
    return r->events.items[i];
}

size_t vc_room_count(const vc_room *r, vc_dir dir)
{
    size_t n = 0;
    for (size_t i = 0; i < r->events.n; i++)
        n += vc_room_event(r, i)->dir == dir;
    return n;
}

static int cmp_event_id(const void *x, const void *y)
{
    const vc_event *a = *(const vc_event *const *)x, *b = *(const vc_event *const *)y;
    return (a->id > b->id) - (a->id < b->id);
}

size_t vc_room_sorted(const vc_room *r, vc_dir dir, vc_event **out)
{
    size_t n = 0;
    for (size_t i = 0; i < r->events.n; i++) {
        vc_event *e = vc_room_event(r, i);
        if (e->dir == dir)
            out[n++] = e;
    }
    qsort(out, n, sizeof(*out), cmp_event_id);
    return n;
}

const char *vc_event_doc(vc_ctx *ctx, const vc_event *e)
{
    const char *title = vc_arena_printf(&ctx->arena, "%s %s (%s)%s%s%s",
                                        e->dir == VC_DIR_ON ? "on" : "emit", e->name,
                                        e->in_name ? e->in_name : "",
                                        e->out_name ? " returns (" : "",
                                        e->out_name ? e->out_name : "",
                                        e->out_name ? ")" : "");
    if (e->doc == NULL)
        return title;
    return vc_arena_printf(&ctx->arena, "%s: %s", title, e->doc);
}

vc_event **vc_room_sorted_a(vc_arena *a, const vc_room *r, vc_dir dir, size_t *n)
{
    vc_event **out = vc_arena_alloc(a, (r->events.n + 1) * sizeof(*out));
    *n = out ? vc_room_sorted(r, dir, out) : 0;
    return out;
}

void vc_each_cname(vc_ctx *ctx, vc_name_fn fn, void *arg)
{
    vc_arena *a = &ctx->arena;
    const vc_schema *s = ctx->schema;
    const char *pkg = s->package;
    vc_cname_src src = {"schema fingerprint macro", NULL, NULL, NULL};

    fn(arg, vc_arena_printf(a, "%s_SCHEMA_FINGERPRINT", vc_upper(a, pkg)), &src,
       s->package_loc);
    src.thing = "stub mount function";
    fn(arg, vc_arena_printf(a, "%s_handlers_mount", pkg), &src, s->package_loc);
    for (size_t i = 0; i < s->enums.n; i++) {
        const vc_enum *e = s->enums.items[i];
        vc_cname_src es = {"value check", "enum", e->name, NULL};
        fn(arg, vc_arena_printf(a, "%s_%s_known", pkg, vc_lower(a, e->name)), &es, e->loc);
    }
    for (size_t i = 0; i < s->messages.n; i++) {
        const vc_message *m = s->messages.items[i];
        const char *low = vc_lower(a, m->name);
        vc_cname_src ms = {"validator", "message", m->name, NULL};
        fn(arg, vc_msg_validator(ctx, m), &ms, m->loc);
        ms.thing = "validator trampoline";
        fn(arg, vc_arena_printf(a, "%s_check_%s", pkg, low), &ms, m->loc);
        if (m->meta_of == NULL) {
            ms.thing = "typed storage put";
            fn(arg, vc_arena_printf(a, "%s_storage_put_%s", pkg, low), &ms, m->loc);
            ms.thing = "typed storage get";
            fn(arg, vc_arena_printf(a, "%s_storage_get_%s", pkg, low), &ms, m->loc);
        }
    }
    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        const char *p = vc_room_prefix(ctx, r);
        const char *P = vc_room_PREFIX(ctx, r);
        static const char *const things[] = {
            "on_events", "emit_events", "channels", "schema", "handlers", "room", "mount", "meta",
            "invoke", "extract_meta",
        };
        vc_cname_src rs = {NULL, "room", r->name, NULL};
        for (size_t k = 0; k < sizeof(things) / sizeof(things[0]); k++) {
            rs.thing = things[k];
            fn(arg, vc_arena_printf(a, "%s_%s", p, things[k]), &rs, r->loc);
        }
        static const char *const hooks[] = {
            "stub on_connect", "stub on_disconnect", "stub on_error", "stub on_message",
            "stub on_join", "stub on_leave", "stub on_hibernation_restore", "stub extract_meta",
            "stub handlers",
        };
        for (size_t k = 0; k < sizeof(hooks) / sizeof(hooks[0]); k++) {
            rs.thing = hooks[k];
            fn(arg, vc_arena_printf(a, "%s_stub_%s", p, hooks[k] + 5), &rs, r->loc);
        }
        for (size_t j = 0; j < r->events.n; j++) {
            const vc_event *e = vc_room_event(r, j);
            const char *ev = e->cname;
            vc_cname_src es = {NULL, e->dir == VC_DIR_ON ? "'on' event" : "'emit' event", e->name,
                               r->name};
#define NAME(fmt_, x_, y_, desc_) (es.thing = desc_, \
                                   fn(arg, vc_arena_printf(a, fmt_, x_, y_), &es, e->loc))
            if (e->dir == VC_DIR_ON) {
                NAME("%s_ON_%s", P, vc_upper(a, ev), "id macro");
                NAME("%s_invoke_%s", p, ev, "dispatch trampoline");
                NAME("%s_stub_%s", p, ev, "stub handler");
                if (e->out == NULL && e->out_name == NULL) {
                    NAME("%s_client_emit_%s", p, ev, "client emitter");
                } else {
                    NAME("%s_%s_reply_cb", p, ev, "reply callback type");
                    NAME("%s_client_request_%s", p, ev, "client request function");
                    NAME("%s_client_reply_%s", p, ev, "reply trampoline");
                }
            } else {
                NAME("%s_EMIT_%s", P, vc_upper(a, ev), "id macro");
                NAME("%s_emit_%s", p, ev, "server emitter");
                NAME("%s_rpc_emit_%s", p, ev, "outside-call emitter");
                NAME("%s_%s_cb", p, ev, "callback type");
                NAME("%s_client_on_%s", p, ev, "client 'on' registration");
                NAME("%s_client_once_%s", p, ev, "client 'once' registration");
                NAME("%s_client_off_%s", p, ev, "client 'off' function");
                NAME("%s_client_invoke_%s", p, ev, "callback trampoline");
            }
#undef NAME
        }
    }
}
