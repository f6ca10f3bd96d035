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
    char *PKG = vc_upper(a, pkg);

    fn(arg, vc_arena_printf(a, "%s_SCHEMA_FINGERPRINT", PKG), "the schema fingerprint macro",
       s->package_loc);
    fn(arg, vc_arena_printf(a, "%s_handlers_mount", pkg), "the stub mount function",
       s->package_loc);
    for (size_t i = 0; i < s->messages.n; i++) {
        const vc_message *m = s->messages.items[i];
        const char *low = vc_lower(a, m->name);
        fn(arg, vc_msg_validator(ctx, m),
           vc_arena_printf(a, "the validator of message '%s'", m->name), m->loc);
        fn(arg, vc_arena_printf(a, "%s_check_%s", pkg, low),
           vc_arena_printf(a, "the validator trampoline of message '%s'", m->name), m->loc);
    }
    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        const char *p = vc_room_prefix(ctx, r);
        const char *P = vc_room_PREFIX(ctx, r);
        const char *room = vc_arena_printf(a, "room '%s'", r->name);
        static const char *const things[] = {
            "on_events", "emit_events", "channels", "schema", "handlers", "room", "mount", "meta",
            "invoke", "extract_meta",
        };
        for (size_t k = 0; k < sizeof(things) / sizeof(things[0]); k++)
            fn(arg, vc_arena_printf(a, "%s_%s", p, things[k]),
               vc_arena_printf(a, "the %s of %s", things[k], room), r->loc);
        static const char *const hooks[] = {
            "on_connect", "on_disconnect", "on_error", "on_message", "on_join", "on_leave",
            "on_hibernation_restore", "extract_meta", "handlers",
        };
        for (size_t k = 0; k < sizeof(hooks) / sizeof(hooks[0]); k++)
            fn(arg, vc_arena_printf(a, "%s_stub_%s", p, hooks[k]),
               vc_arena_printf(a, "the stub %s of %s", hooks[k], room), r->loc);
        for (size_t j = 0; j < r->events.n; j++) {
            const vc_event *e = vc_room_event(r, j);
            const char *ev = e->cname;
            const char *EV = vc_upper(a, ev);
            const char *what = vc_arena_printf(a, "%s event '%s' in %s",
                                               e->dir == VC_DIR_ON ? "'on'" : "'emit'", e->name,
                                               room);
#define NAME(fmt_, x_, y_, desc_) fn(arg, vc_arena_printf(a, fmt_, x_, y_), \
                                    vc_arena_printf(a, "the %s of %s", desc_, what), e->loc)
            if (e->dir == VC_DIR_ON) {
                NAME("%s_ON_%s", P, EV, "id macro");
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
                NAME("%s_EMIT_%s", P, EV, "id macro");
                NAME("%s_emit_%s", p, ev, "server emitter");
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
