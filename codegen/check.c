/* SPDX-License-Identifier: MIT */
/*
 * check.c: the semantic pass over a parsed schema. It resolves type names,
 * applies validation options to fields, and rejects everything that would
 * make protoc-c or the C compiler fail or make two things the same: unknown
 * types, duplicate names and numbers, numbers out of range, options on the
 * wrong type, bad limits and paths, names that collide after mangling to C
 * or that are C keywords (a room's checks are check_room.c's, the JSON wire's
 * check_json.c's; what they share with this file is check-int.h's).
 * Every error names what is wrong where it is, and a note points at the
 * other half of a duplicate. Then it marks the messages
 * that need validation and computes the schema fingerprint. It emits nothing.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check-int.h"

int vk_match_upper_camel(const char *s)
{
    if (!(*s >= 'A' && *s <= 'Z'))
        return 0;
    for (s++; *s; s++) {
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return 0;
    }
    return 1;
}

/* [a-z][a-z0-9]*(_[a-z0-9]+)* */
int vk_match_lower_words(const char *s, size_t n)
{
    if (n == 0 || !(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (c == '_') {
            if (i + 1 == n || s[i + 1] == '_')
                return 0;
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            return 0;
        }
    }
    return 1;
}

/* [a-z][a-z0-9_]* */
static int match_field_name(const char *s)
{
    if (!(*s >= 'a' && *s <= 'z'))
        return 0;
    for (s++; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    }
    return 1;
}

static const struct {
    const char *name;
    vc_type type;
} scalars[] = {
    {"bool", VC_TY_BOOL},     {"int32", VC_TY_INT32},   {"int64", VC_TY_INT64},
    {"uint32", VC_TY_UINT32}, {"uint64", VC_TY_UINT64}, {"sint32", VC_TY_SINT32},
    {"sint64", VC_TY_SINT64}, {"float", VC_TY_FLOAT},   {"double", VC_TY_DOUBLE},
    {"string", VC_TY_STRING}, {"bytes", VC_TY_BYTES},
};

vc_type vk_scalar_type(const char *name)
{
    for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
        if (strcmp(scalars[i].name, name) == 0)
            return scalars[i].type;
    }
    return VC_TY_UNRESOLVED;
}

static int is_numeric(vc_type t)
{
    return t >= VC_TY_INT32 && t <= VC_TY_DOUBLE;
}

static int is_integer(vc_type t)
{
    return t >= VC_TY_INT32 && t <= VC_TY_SINT64;
}

static const vc_sym *add_sym(checker *c, const char *name, int kind, void *ptr, vc_loc loc)
{
    vc_sym *sym = vc_arena_alloc(c->a, sizeof(*sym));
    if (sym == NULL) {
        c->oom = 1;
        return NULL;
    }
    sym->kind = kind;
    sym->ptr = ptr;
    sym->loc = loc;
    sym->name = name;
    return vc_strset_put(c->a, &c->types, name, sym, &c->oom);
}

/* A set key for a number (sets keep the O(n) checks O(n) on huge schemas). */
const char *vk_num_key(checker *c, const char *prefix, int64_t n)
{
    const char *k = vc_arena_printf(c->a, "%s%" PRId64, prefix, n);
    if (k == NULL)
        c->oom = 1;
    return k ? k : "";
}

static const char *field_desc(checker *c, const vc_field *f)
{
    switch (f->label) {
    case VC_LABEL_OPTIONAL: return vc_arena_printf(c->a, "optional %s", f->type_name);
    case VC_LABEL_REPEATED: return vc_arena_printf(c->a, "repeated %s", f->type_name);
    case VC_LABEL_MAP: return vc_arena_printf(c->a, "map<string, %s>", f->type_name);
    default: return f->type_name;
    }
}

static int64_t int_min(vc_type t)
{
    switch (t) {
    case VC_TY_INT32: case VC_TY_SINT32: return INT32_MIN;
    case VC_TY_INT64: case VC_TY_SINT64: return INT64_MIN;
    default: return 0;
    }
}

static int64_t int_max(vc_type t)
{
    switch (t) {
    case VC_TY_INT32: case VC_TY_SINT32: return INT32_MAX;
    case VC_TY_UINT32: return UINT32_MAX;
    default: return INT64_MAX;
    }
}

static const vc_option *find_option(const vc_field *f, const char *name, const vc_option *before)
{
    for (size_t i = 0; i < f->options.n; i++) {
        const vc_option *o = f->options.items[i];
        if (o == before)
            return NULL;
        if (strcmp(o->name, name) == 0)
            return o;
    }
    return NULL;
}

static int length_value(checker *c, const vc_field *f, const vc_option *o, uint64_t *out)
{
    (void)f;
    if (!o->has_value) {
        ERR(c, o->loc, "option '%s' needs a value", o->name);
        return -1;
    }
    if (o->is_float || o->ival < 0 || o->ival > (int64_t)UINT32_MAX) {
        ERR(c, o->value_loc, "option '%s' needs an integer between 0 and 4294967295, got '%s'",
            o->name, o->text);
        return -1;
    }
    *out = (uint64_t)o->ival;
    return 0;
}

static void check_option(checker *c, vc_field *f, const vc_option *o)
{
    const vc_option *prev = find_option(f, o->name, o);
    if (prev != NULL) {
        ERR(c, o->loc, "duplicate option '%s'", o->name);
        NOTE(c, prev->loc, "previous '%s' is here", o->name);
        return;
    }
    int repeated = f->label == VC_LABEL_REPEATED, map = f->label == VC_LABEL_MAP;
    int resolved = f->type != VC_TY_UNRESOLVED;
    if (strcmp(o->name, "required") == 0) {
        if (o->has_value) {
            ERR(c, o->value_loc, "option 'required' takes no value");
            return;
        }
        if (resolved && f->label == VC_LABEL_PLAIN && f->type != VC_TY_STRING &&
            f->type != VC_TY_BYTES && f->type != VC_TY_MESSAGE) {
            ERR(c, o->loc, "option 'required' does not apply to field '%s': a plain %s is always "
                "present (make it optional)", f->name, f->type_name);
            return;
        }
        f->required = 1;
    } else if (strcmp(o->name, "min_len") == 0 || strcmp(o->name, "max_len") == 0) {
        int is_min = o->name[1] == 'i';
        uint64_t v;
        if (length_value(c, f, o, &v) != 0)
            return;
        if (repeated && (f->type == VC_TY_STRING || f->type == VC_TY_BYTES)) {
            ERR(c, o->loc, "option '%s' does not apply to repeated field '%s': use max_items",
                o->name, f->name);
            return;
        }
        if (resolved && (map || (f->type != VC_TY_STRING && f->type != VC_TY_BYTES) || repeated)) {
            ERR(c, o->loc, "option '%s' does not apply to field '%s' of type %s", o->name,
                f->name, field_desc(c, f));
            return;
        }
        if (is_min)
            f->has_min_len = 1, f->min_len = v;
        else
            f->has_max_len = 1, f->max_len = v;
    } else if (strcmp(o->name, "min") == 0 || strcmp(o->name, "max") == 0) {
        if (!o->has_value) {
            ERR(c, o->loc, "option '%s' needs a value", o->name);
            return;
        }
        if (resolved && (map || !is_numeric(f->type))) {
            int length = !map && (f->type == VC_TY_STRING || f->type == VC_TY_BYTES);
            ERR(c, o->loc, "option '%s' does not apply to field '%s' of type %s%s%s%s", o->name,
                f->name, field_desc(c, f), length ? ": did you mean " : "",
                length ? o->name : "", length ? "_len?" : "");
            return;
        }
        if (is_integer(f->type)) {
            if (o->is_float) {
                ERR(c, o->value_loc, "option '%s' needs an integer for field '%s' of type %s, "
                    "got '%s'", o->name, f->name, f->type_name, o->text);
                return;
            }
            if (o->ival < int_min(f->type) || o->ival > int_max(f->type)) {
                ERR(c, o->value_loc, "option '%s' value %s is out of range for %s", o->name,
                    o->text, f->type_name);
                return;
            }
        }
        if (o->name[1] == 'i')
            f->has_min = 1, f->min = o;
        else
            f->has_max = 1, f->max = o;
    } else if (strcmp(o->name, "max_items") == 0) {
        uint64_t v;
        if (length_value(c, f, o, &v) != 0)
            return;
        if (!repeated && !map) {
            ERR(c, o->loc, "option 'max_items' does not apply to field '%s' of type %s", f->name,
                field_desc(c, f));
            return;
        }
        f->has_max_items = 1;
        f->max_items = v;
    } else {
        ERR(c, o->loc, "unknown option '%s' (expected required, min_len, max_len, min, max or "
            "max_items)", o->name);
    }
}

static void check_field_options(checker *c, vc_field *f)
{
    for (size_t i = 0; i < f->options.n; i++)
        check_option(c, f, f->options.items[i]);
    if (f->has_min_len && f->has_max_len && f->min_len > f->max_len) {
        const vc_option *o = find_option(f, "min_len", NULL);
        ERR(c, o->value_loc, "option 'min_len' (%" PRIu64 ") is greater than 'max_len' (%" PRIu64
            ")", f->min_len, f->max_len);
    }
    if (f->has_min && f->has_max && f->min->fval > f->max->fval) {
        ERR(c, f->min->value_loc, "option 'min' (%s) is greater than 'max' (%s)", f->min->text,
            f->max->text);
    }
}

static void resolve_type(checker *c, vc_field *f)
{
    if (f->label == VC_LABEL_MAP && strcmp(f->key_type, "string") != 0) {
        ERR(c, f->key_loc, "map keys must be 'string', got '%s'", f->key_type);
    }
    f->type = vk_scalar_type(f->type_name);
    if (f->type != VC_TY_UNRESOLVED)
        return;
    const vc_sym *sym = vc_strset_get(&c->types, f->type_name);
    if (sym == NULL || sym->kind == 3) { /* 3: a name <pkg>.proto reserves, not a type */
        ERR(c, f->type_loc, "unknown type '%s'", f->type_name);
        return;
    }
    if (sym->kind == 0) {
        f->type = VC_TY_ENUM;
        f->en = sym->ptr;
    } else if (sym->kind == 1) {
        f->type = VC_TY_MESSAGE;
        f->msg = sym->ptr;
    } else {
        ERR(c, f->type_loc, "'%s' is an enum value, not a type", f->type_name);
    }
}

static void check_message(checker *c, vc_message *m)
{
    vc_strset names = {0}, numbers = {0};
    for (size_t i = 0; i < m->fields.n; i++) {
        vc_field *f = m->fields.items[i];
        if (!match_field_name(f->name)) {
            ERR(c, f->loc, "field name '%s' must start with a lowercase letter and use only "
                "a-z, 0-9 and '_'", f->name);
        } else if (vc_is_c_keyword(f->name)) {
            ERR(c, f->loc, "field name '%s' is a C keyword", f->name);
        } else if (strcmp(f->name, "base") == 0) {
            ERR(c, f->loc, "field name 'base' is reserved (protobuf-c uses it in every message)");
        } else if (m->meta_of != NULL && (strcmp(f->name, "user_id") == 0 ||
                   strcmp(f->name, "client_id") == 0 || strcmp(f->name, "channels") == 0)) {
            ERR(c, f->loc, "'%s' is built into every session and cannot be a meta field%s",
                f->name, strcmp(f->name, "user_id") == 0
                    ? " (the user id comes from extract_meta through "
                      "verani_upgrade_set_user_id, by default from ?userId= or X-User-Id, "
                      "and handlers read it with verani_ctx_user_id)"
                    : "");
        }
        const vc_field *prev = vc_strset_put(c->a, &names, f->name, f, &c->oom);
        if (prev != NULL) {
            ERR(c, f->loc, "duplicate field name '%s' in message '%s'", f->name, m->name);
            NOTE(c, prev->loc, "previous definition of '%s' is here", f->name);
        }
        if (f->number < 1 || f->number > 536870911) {
            ERR(c, f->number_loc, "field number %" PRId64 " is out of range (1 to 536870911)",
                f->number);
        } else if (f->number >= 19000 && f->number <= 19999) {
            ERR(c, f->number_loc, "field number %" PRId64 " is reserved by protobuf "
                "(19000 to 19999)", f->number);
        } else {
            const vc_field *g = vc_strset_put(c->a, &numbers, vk_num_key(c, "", f->number), f,
                                              &c->oom);
            if (g != NULL) {
                ERR(c, f->number_loc, "duplicate field number %" PRId64 " in message '%s'",
                    f->number, m->name);
                NOTE(c, g->number_loc, "'%s' has it", g->name);
            }
        }
        resolve_type(c, f);
        check_field_options(c, f);
    }
    /* protobuf-c adds has_<f> and n_<f> members */
    for (size_t i = 0; i < m->fields.n; i++) {
        const vc_field *f = m->fields.items[i];
        const char *extra = NULL, *why = NULL;
        if (f->label == VC_LABEL_REPEATED || f->label == VC_LABEL_MAP)
            extra = "n_", why = "the count of";
        else if (f->label == VC_LABEL_OPTIONAL && f->type != VC_TY_STRING &&
                 f->type != VC_TY_MESSAGE && f->type != VC_TY_UNRESOLVED)
            extra = "has_", why = "the presence flag of";
        if (extra == NULL)
            continue;
        const char *member = vc_arena_printf(c->a, "%s%s", extra, f->name);
        const vc_field *g = member ? vc_strset_put(c->a, &names, member, f, &c->oom) : NULL;
        if (g != NULL && g != f) {
            ERR(c, g->loc, "field '%s' collides in C with %s field '%s'", g->name, why, f->name);
            NOTE(c, f->loc, "'%s' is here", f->name);
        }
    }
}

static void check_enum(checker *c, vc_enum *e)
{
    if (e->values.n == 0) {
        ERR(c, e->loc, "enum '%s' has no values", e->name);
        return;
    }
    const vc_enum_value *first = e->values.items[0];
    vc_strset numbers = {0};
    if (first->number != 0)
        ERR(c, first->number_loc, "the first value of enum '%s' must be 0", e->name);
    for (size_t i = 0; i < e->values.n; i++) {
        vc_enum_value *v = e->values.items[i];
        if (v->number < INT32_MIN || v->number > INT32_MAX)
            ERR(c, v->number_loc, "enum value %" PRId64 " is out of range (int32)", v->number);
        const vc_enum_value *w = vc_strset_put(c->a, &numbers, vk_num_key(c, "", v->number), v,
                                               &c->oom);
        if (w != NULL) {
            ERR(c, v->number_loc, "duplicate value %" PRId64 " in enum '%s'", v->number, e->name);
            NOTE(c, w->loc, "'%s' has it", w->name);
        }
        const vc_sym *prev = add_sym(c, v->name, 2, v, v->loc);
        if (prev != NULL) {
            if (prev->kind == 2)
                ERR(c, v->loc, "duplicate enum value name '%s' (enum values share one scope per "
                    "package)", v->name);
            else
                ERR(c, v->loc, "enum value '%s' has the name of a type", v->name);
            NOTE(c, prev->loc, "previous definition of '%s' is here", v->name);
        }
    }
}

typedef struct cname_rec {
    vc_cname_src src;
    vc_loc loc;
} cname_rec;

static const char *describe_src(checker *c, const vc_cname_src *s)
{
    if (s->owner_kind == NULL)
        return vc_arena_printf(c->a, "the %s", s->thing);
    if (s->room != NULL)
        return vc_arena_printf(c->a, "the %s of %s '%s' in room '%s'", s->thing, s->owner_kind,
                               s->owner, s->room);
    return vc_arena_printf(c->a, "the %s of %s '%s'", s->thing, s->owner_kind, s->owner);
}

static void on_cname(void *arg, const char *cname, const vc_cname_src *src, vc_loc loc)
{
    checker *c = arg;
    cname_rec *rec = vc_arena_alloc(c->a, sizeof(*rec));
    if (cname == NULL || rec == NULL) {
        c->oom = 1;
        return;
    }
    rec->src = *src;
    rec->loc = loc;
    const cname_rec *prev = vc_strset_put(c->a, &c->cnames, cname, rec, &c->oom);
    if (prev != NULL) {
        ERR(c, loc, "C name '%s' of %s collides with %s", cname, describe_src(c, src),
            describe_src(c, &prev->src));
        NOTE(c, prev->loc, "the other is here");
    }
}

/* --- validation marks and fingerprint ------------------------------------ */

static int field_has_rules(const vc_field *f)
{
    /* an enum field checks that its value is one the enum defines; a string (a map's key
     * included) that it is valid UTF-8 */
    return f->required || f->has_min_len || f->has_max_len || f->has_min || f->has_max ||
           f->has_max_items || f->type == VC_TY_ENUM || f->type == VC_TY_STRING ||
           f->label == VC_LABEL_MAP;
}

/* A message needs validation when it has rules or reaches, through message
 * fields, one that has. A worklist over the reverse edges keeps it O(n). */
static void mark_validation(checker *c)
{
    vc_schema *s = c->s;
    vc_strset users = {0}; /* message name -> vc_vec* of messages that use it */
    vc_vec work = {0};
    for (size_t i = 0; i < s->messages.n; i++) {
        vc_message *m = s->messages.items[i];
        for (size_t j = 0; j < m->fields.n; j++) {
            const vc_field *f = m->fields.items[j];
            if (field_has_rules(f))
                m->needs_validation = 1;
            if (f->msg == NULL)
                continue;
            vc_vec *v = (vc_vec *)vc_strset_get(&users, f->msg->name);
            if (v == NULL) {
                v = vc_arena_alloc(c->a, sizeof(*v));
                if (v == NULL) {
                    c->oom = 1;
                    return;
                }
                vc_strset_put(c->a, &users, f->msg->name, v, &c->oom);
            }
            vc_vec_push(c->a, v, m);
        }
        if (m->needs_validation)
            vc_vec_push(c->a, &work, m);
    }
    while (work.n > 0) {
        const vc_message *m = work.items[--work.n];
        const vc_vec *v = vc_strset_get(&users, m->name);
        for (size_t i = 0; v != NULL && i < v->n; i++) {
            vc_message *u = v->items[i];
            if (!u->needs_validation) {
                u->needs_validation = 1;
                vc_vec_push(c->a, &work, u);
            }
        }
    }
}

int vc_check(vc_ctx *ctx)
{
    checker c = {0};
    c.ctx = ctx;
    c.a = &ctx->arena;
    c.s = ctx->schema;
    vc_schema *s = c.s;
    if (s == NULL)
        return -1;

    if (s->package == NULL) {
        vc_loc top = {1, 1, 0};
        ERR(&c, top, "missing 'package' declaration (add 'package <name>;' at the top)");
    } else if (!vk_match_lower_words(s->package, strlen(s->package)) ||
               vc_is_c_keyword(s->package) || strcmp(s->package, "verani") == 0 ||
               strcmp(s->package, "envelope") == 0) {
        /* envelope: its .proto would be the envelope.proto written beside it */
        ERR(&c, s->package_loc, "package name '%s' must be a lowercase C identifier (a-z, 0-9, "
            "single '_'), not a C keyword, 'verani' or 'envelope'", s->package);
    }

    /* Types: enums and user messages share one namespace; metas come after. */
    vc_strset lowers = {0};
    for (int pass = 0; pass < 2; pass++) {
        const vc_vec *v = pass == 0 ? &s->enums : &s->messages;
        for (size_t i = 0; i < v->n; i++) {
            const char *name = pass == 0 ? ((vc_enum *)v->items[i])->name
                                         : ((vc_message *)v->items[i])->name;
            vc_loc loc = pass == 0 ? ((vc_enum *)v->items[i])->loc
                                   : ((vc_message *)v->items[i])->loc;
            if (pass == 1 && ((vc_message *)v->items[i])->meta_of != NULL)
                continue;
            if (!vk_match_upper_camel(name)) {
                ERR(&c, loc, "%s name '%s' must be UpperCamelCase (letters and digits, starting "
                    "with a capital)", pass == 0 ? "enum" : "message", name);
            }
            const vc_sym *prev = add_sym(&c, name, pass, v->items[i], loc);
            if (prev != NULL) {
                ERR(&c, loc, "duplicate name '%s'", name);
                NOTE(&c, prev->loc, "previous definition of '%s' is here", name);
                continue;
            }
            const char *low = vc_lower(c.a, name);
            const vc_sym *same = low ? vc_strset_put(c.a, &lowers, low,
                                                     vc_strset_get(&c.types, name), &c.oom)
                                     : NULL;
            if (same != NULL) {
                ERR(&c, loc, "'%s' and '%s' collide in C (both become '%s')", same->name, name,
                    low);
                NOTE(&c, same->loc, "'%s' is here", same->name);
            }
        }
    }
    const vc_sym *vs = add_sym(&c, "VeraniSchema", 3, NULL, s->package_loc);
    if (vs != NULL)
        ERR(&c, vs->loc, "'VeraniSchema' is reserved (it holds the fingerprint in <pkg>.proto)");
    vc_strset room_lowers = {0};
    for (size_t i = 0; i < s->rooms.n; i++) {
        vc_room *r = s->rooms.items[i];
        const vc_room *prev = vc_strset_put(c.a, &room_lowers, vc_lower(c.a, r->name), r, &c.oom);
        if (prev != NULL) {
            if (strcmp(prev->name, r->name) == 0)
                ERR(&c, r->loc, "duplicate room '%s'", r->name);
            else
                ERR(&c, r->loc, "rooms '%s' and '%s' collide in C (both become '%s')", prev->name,
                    r->name, vc_lower(c.a, r->name));
            NOTE(&c, prev->loc, "previous definition of '%s' is here", prev->name);
            continue;
        }
        vc_message *meta = r->meta;
        const vc_sym *taken = add_sym(&c, meta->name, 1, meta, meta->loc);
        if (taken != NULL) {
            ERR(&c, taken->loc, "'%s' is reserved for the meta of room '%s'", meta->name, r->name);
            NOTE(&c, r->loc, "room '%s' is here", r->name);
        }
        /* <Room>On and <Room>Emit: the room's events in <pkg>.proto (emit_proto.c) */
        for (int d = 0; d < 2; d++) {
            const char *ev = vc_arena_printf(c.a, "%s%s", r->name, d ? "Emit" : "On");
            taken = ev ? add_sym(&c, ev, 3, NULL, r->loc) : NULL;
            if (taken != NULL) {
                ERR(&c, taken->loc, "'%s' is reserved for the events of room '%s'", ev, r->name);
                NOTE(&c, r->loc, "room '%s' is here", r->name);
            }
        }
    }
    for (size_t i = 0; i < s->enums.n; i++)
        check_enum(&c, s->enums.items[i]);
    for (size_t i = 0; i < s->messages.n; i++)
        check_message(&c, s->messages.items[i]);
    vc_strset paths = {0}, json_msgs = {0};
    for (size_t i = 0; i < s->rooms.n; i++) {
        vk_check_room(&c, s->rooms.items[i], &paths);
        vk_check_timers(&c, s->rooms.items[i]);
        c.oom |= vc_check_json(c.ctx, c.a, s->rooms.items[i], &json_msgs);
    }

    if (ctx->errors == 0 && !c.oom && !c.a->failed)
        vc_each_cname(ctx, on_cname, &c);
    if (ctx->errors == 0 && !c.oom) {
        mark_validation(&c);
        c.oom |= vc_fingerprint(c.a, s) != 0;
    }
    if (c.oom || c.a->failed) {
        vc_diag_file(ctx, "out of memory");
        return -1;
    }
    return ctx->errors ? -1 : 0;
}
