/* SPDX-License-Identifier: MIT */
/*
 * mangle.c: the spelling rules names are made with: case conversions,
 * protobuf-c's own rules (ToCamel, CamelToLower) for the payload types and
 * descriptors it generates, C keywords, and the helpers over a room's
 * events. The names veranic itself emits are names.c's. It does not decide
 * whether a name is allowed; check.c does.
 */
#include <ctype.h>
#include <inttypes.h>
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

char *vc_lower_camel(vc_arena *a, const char *name)
{
    char *out = vc_camel(a, name);

    if (out != NULL && out[0] != '\0')
        out[0] = (char)tolower((unsigned char)out[0]);
    return out;
}

const char *vc_ts_prop(vc_ctx *ctx, const vc_field *f)
{
    static const char *const reserved[] = {"constructor", "toString", "toJSON", "valueOf"};
    const char *p = vc_lower_camel(&ctx->arena, f->name);

    for (size_t i = 0; p && i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(p, reserved[i]) == 0)
            return vc_arena_printf(&ctx->arena, "%s$", p);
    return p;
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

const char *vc_room_wire_doc(vc_ctx *ctx, const vc_room *r, int ts)
{
    const char *path = r->path ? r->path : "/ws";

    if (r->wire == VC_WIRE_JSON)
        return vc_arena_printf(&ctx->arena, "Room %s speaks only Verani's JSON wire on %s "
                               "(`wire json;`), for Verani's JavaScript client. This typed "
                               "client needs the binary wire%s: it is generated all the same, "
                               "for when the room adds it (`wire both \"<json path>\";`).",
                               r->name, path, ts ? ", which the room does not serve"
                                                  : ", so verani_client_create refuses the room");
    if (r->wire == VC_WIRE_BOTH)
        return vc_arena_printf(&ctx->arena, "Room %s speaks the binary wire on %s, the one this "
                               "typed client connects to, and Verani's JSON wire on %s "
                               "(`wire both`), for Verani's JavaScript client.", r->name, path,
                               r->json_path);
    return NULL;
}

const char *vc_timer_doc(vc_ctx *ctx, const vc_timer *t)
{
    const char *title = vc_arena_printf(&ctx->arena, "timer %s every %" PRId64 " ms, while the "
                                        "instance is in memory (its context, no session; NULL: "
                                        "not run)", t->name, t->every_ms);
    if (t->doc == NULL)
        return title;
    return vc_arena_printf(&ctx->arena, "%s. %s", title, t->doc);
}

vc_event **vc_room_sorted_a(vc_arena *a, const vc_room *r, vc_dir dir, size_t *n)
{
    vc_event **out = vc_arena_alloc(a, (r->events.n + 1) * sizeof(*out));
    *n = out ? vc_room_sorted(r, dir, out) : 0;
    return out;
}
