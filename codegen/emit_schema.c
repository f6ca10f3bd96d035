/* SPDX-License-Identifier: MIT */
/*
 * emit_schema.c: writes <pkg>_schema.h and <pkg>_schema.c, what both ends
 * share: event id macros, the schema fingerprint, one validator per message
 * (including each room's meta) and, per room, the sorted event tables and
 * the verani_room_schema the runtime reads. Validators follow the options
 * check.c accepted; they never allocate and report the first failure with
 * its field path. Server and client code are emit_server.c and
 * emit_client.c.
 */
#include <inttypes.h>
#include <string.h>

#include "veranic.h"

static const char *validator_params[2];

static void validator_sig(vc_ctx *ctx, vc_buf *b, const vc_message *m, const char *tail)
{
    validator_params[0] = vc_arena_printf(&ctx->arena, "const %s *m", vc_msg_ctype(ctx, m));
    validator_params[1] = "verani_verr *err";
    vc_emit_sig(b, vc_arena_printf(&ctx->arena, "int %s", vc_msg_validator(ctx, m)),
                validator_params, 2, tail);
}

void vc_emit_schema_h(vc_ctx *ctx, vc_buf *b)
{
    const vc_schema *s = ctx->schema;
    vc_arena *a = &ctx->arena;
    vc_emit_guard_open(ctx, b, "schema", "what both ends of the wire share: event ids, the "
                       "schema fingerprint, payload validators and the room schemas libverani "
                       "reads.");
    vc_buf_printf(b, "#include <verani/gen.h>\n\n#include \"%s.pb-c.h\"\n\n", s->package);
    vc_emit_abi_check(ctx, b, "schema");

    vc_emit_banner(b, "schema fingerprint");
    vc_buf_puts(b, "/* FNV-1a 64 of the schema's canonical form: it changes with anything that "
                "changes the wire. */\n");
    vc_buf_printf(b, "#define %s \"%s\"\n\n", vc_name(ctx, VC_N_FINGERPRINT, NULL, NULL),
                  s->fingerprint);

    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        if (r->events.n == 0)
            continue;
        vc_emit_banner(b, vc_arena_printf(a, "event ids: room %s", r->name));
        size_t width = 0;
        for (size_t j = 0; j < r->events.n; j++) {
            const vc_event *e = vc_room_event(r, j);
            /* as wide as the longest event's name in its EMIT form, for either direction */
            size_t w = strlen(vc_name(ctx, VC_N_EMIT_ID, r, e));
            width = w > width ? w : width;
        }
        for (int d = 0; d < 2; d++) {
            size_t n;
            vc_event **sorted = vc_room_sorted_a(a, r, (vc_dir)d, &n);
            for (size_t j = 0; j < n; j++) {
                const vc_event *e = sorted[j];
                vc_buf_printf(b, "#define %-*s %" PRId64 "u\n", (int)width,
                              vc_name(ctx, d ? VC_N_EMIT_ID : VC_N_ON_ID, r, e), e->id);
            }
        }
        vc_buf_puts(b, "\n");
    }

    vc_emit_banner(b, "validators");
    vc_buf_puts(b, "/*\n * Each returns 0 when the message satisfies every rule of the schema, "
                "else\n * VERANI_EINVAL with the field path and the reason in `err`.\n */\n");
    for (size_t i = 0; i < s->messages.n; i++) {
        const vc_message *m = s->messages.items[i];
        if (m->doc)
            vc_emit_doc(b, m->doc, 0);
        else if (m->meta_of)
            vc_buf_printf(b, "/* The typed metadata of a connection to room %s. */\n",
                          m->meta_of->name);
        validator_sig(ctx, b, m, ";\n");
    }
    vc_buf_puts(b, "\n");

    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        vc_emit_banner(b, vc_arena_printf(a, "room %s", r->name));
        vc_emit_doc(b, r->doc, 0);
        size_t n_on = vc_room_count(r, VC_DIR_ON), n_emit = vc_room_count(r, VC_DIR_EMIT);
        if (n_on)
            vc_buf_printf(b, "extern const verani_event_def %s[%zu];\n",
                          vc_name(ctx, VC_N_ON_EVENTS, r, NULL), n_on);
        if (n_emit)
            vc_buf_printf(b, "extern const verani_event_def %s[%zu];\n",
                          vc_name(ctx, VC_N_EMIT_EVENTS, r, NULL), n_emit);
        vc_buf_printf(b, "extern const verani_room_schema %s;\n\n",
                      vc_name(ctx, VC_N_SCHEMA, r, NULL));
    }
    vc_emit_guard_close(ctx, b, "schema");
}

/* --- validator bodies ---------------------------------------------------- */

typedef struct vbody {
    vc_ctx *ctx;
    vc_buf *b;
    int uses_m, uses_err, uses_i;
} vbody;

static const char *num_literal(vc_ctx *ctx, const vc_field *f, const vc_option *o)
{
    switch (f->type) {
    case VC_TY_INT32: case VC_TY_SINT32:
        return vc_arena_printf(&ctx->arena, "%" PRId64, o->ival);
    case VC_TY_UINT32:
        return vc_arena_printf(&ctx->arena, "%" PRId64 "u", o->ival);
    case VC_TY_INT64: case VC_TY_SINT64:
        return vc_arena_printf(&ctx->arena, "INT64_C(%" PRId64 ")", o->ival);
    case VC_TY_UINT64:
        return vc_arena_printf(&ctx->arena, "UINT64_C(%" PRId64 ")", o->ival);
    default:
        return o->is_float ? o->text : vc_arena_printf(&ctx->arena, "%" PRId64, o->ival);
    }
}

static const char *enum_known(vc_ctx *ctx, const vc_enum *e)
{
    return vc_name(ctx, VC_N_ENUM_KNOWN, NULL, e);
}

static int is_float_type(vc_type t)
{
    return t == VC_TY_FLOAT || t == VC_TY_DOUBLE;
}

/* A bound at the type's own limit can never fail; emitting it would make
 * compilers warn about a comparison that is always false. */
static int bound_matters(const vc_field *f, const vc_option *o, int is_min)
{
    if (is_float_type(f->type))
        return 1;
    switch (f->type) {
    case VC_TY_INT32: case VC_TY_SINT32:
        return is_min ? o->ival > INT32_MIN : o->ival < INT32_MAX;
    case VC_TY_UINT32:
        return is_min ? o->ival > 0 : o->ival < (int64_t)UINT32_MAX;
    case VC_TY_UINT64:
        return is_min ? o->ival > 0 : 1;
    default:
        return is_min ? o->ival > INT64_MIN : o->ival < INT64_MAX;
    }
}

/* Numeric checks of `acc`: NaN refused when a float has bounds, then each bound that can
 * fail. An element of a repeated field (`element`) names its index through
 * verani_verr_nest. */
static void numeric_checks(vbody *v, const vc_field *f, const char *acc, const char *ind,
                           int element)
{
    vc_arena *a = &v->ctx->arena;
    const vc_option *bounds[2] = {f->has_min ? f->min : NULL, f->has_max ? f->max : NULL};
    vc_var vars[] = {
        {"ind", ind},
        {"acc", acc},
        {"name", f->name},
        {"path", element ? "NULL" : vc_arena_printf(a, "\"%s\"", f->name)},
        {"ret", element ? "" : "return "},
        {"open", element ? " {" : ""},
        {"tail", element ? vc_tpl_a(a, "$ind$    return verani_verr_nest(err, \"$name$\", "
                                       "(long)i);\n$ind$}\n",
                                    (const vc_var[]){{"ind", ind}, {"name", f->name},
                                                     {NULL, NULL}})
                         : ""},
        {"op", NULL},
        {"bound", NULL},
        {"says", NULL},
        {NULL, NULL},
    };

    if (is_float_type(f->type) && (bounds[0] || bounds[1])) {
        vc_tpl(v->b, "$ind$if ($acc$ != $acc$)$open$\n"
                     "$ind$    $ret$verani_verr_fail(err, $path$, \"is not a number\");\n"
                     "$tail$", vars);
        v->uses_err = 1;
    }
    for (int k = 0; k < 2; k++) {
        if (bounds[k] == NULL || !bound_matters(f, bounds[k], k == 0))
            continue;
        vars[7].value = k ? ">" : "<";
        vars[8].value = num_literal(v->ctx, f, bounds[k]);
        vars[9].value = vc_arena_printf(a, "%s than %s", k ? "greater" : "less",
                                        bounds[k]->text);
        vc_tpl(v->b, "$ind$if ($acc$ $op$ $bound$)$open$\n"
                     "$ind$    $ret$verani_verr_fail(err, $path$, \"$says$\");\n"
                     "$tail$", vars);
        v->uses_err = 1;
    }
}

/* A map: per entry, its key is a string (valid UTF-8), its value a string, a known enum
 * value or a message that passes its own validator. */
static void map_checks(vbody *v, const vc_field *f, const char *acc)
{
    vc_ctx *ctx = v->ctx;
    const vc_var vars[] = {
        {"acc", acc},
        {"name", f->name},
        {"known", f->type == VC_TY_ENUM ? enum_known(ctx, f->en) : ""},
        {"validator", f->msg ? vc_msg_validator(ctx, f->msg) : ""},
        {NULL, NULL},
    };

    vc_tpl(v->b, "    for (i = 0; i < m->n_$name$; i++) {\n"
                 "        if ($acc$[i] == NULL)\n"
                 "            continue;\n"
                 "        if (verani_check_string(err, \"key\", $acc$[i]->key, 0u, "
                 "VERANI_LEN_NONE) != 0)\n"
                 "            return verani_verr_nest(err, \"$name$\", (long)i);\n", vars);
    if (f->type == VC_TY_STRING)
        vc_tpl(v->b, "        if (verani_check_string(err, \"value\", $acc$[i]->value, 0u, "
                     "VERANI_LEN_NONE) != 0)\n"
                     "            return verani_verr_nest(err, \"$name$\", (long)i);\n", vars);
    else if (f->type == VC_TY_ENUM)
        vc_tpl(v->b, "        if (!$known$($acc$[i]->value)) {\n"
                     "            verani_verr_fail(err, \"value\", \"unknown value %d\", "
                     "(int)$acc$[i]->value);\n"
                     "            return verani_verr_nest(err, \"$name$\", (long)i);\n"
                     "        }\n", vars);
    else if (f->msg && f->msg->needs_validation)
        vc_tpl(v->b, "        if ($acc$[i]->value != NULL &&\n"
                     "            $validator$($acc$[i]->value, err) != 0) {\n"
                     "            verani_verr_nest(err, \"value\", -1);\n"
                     "            return verani_verr_nest(err, \"$name$\", (long)i);\n"
                     "        }\n", vars);
    vc_buf_puts(v->b, "    }\n");
    v->uses_err = v->uses_i = 1;
}

static void field_checks(vbody *v, const vc_message *m, const vc_field *f)
{
    vc_ctx *ctx = v->ctx;
    vc_arena *a = &ctx->arena;
    vc_buf *b = v->b;
    const char *acc = vc_arena_printf(a, "m->%s", f->name);
    const char *name = f->name;
    (void)m;

    if (f->label == VC_LABEL_REPEATED || f->label == VC_LABEL_MAP) {
        if (f->required) {
            vc_buf_printf(b, "    if (m->n_%s == 0)\n        return verani_verr_fail(err, \"%s\", "
                          "\"must not be empty\");\n", name, name);
            v->uses_err = 1;
        }
        if (f->has_max_items) {
            vc_buf_printf(b, "    if (m->n_%s > %" PRIu64 "u)\n        return verani_verr_fail(err,"
                          " \"%s\", \"more than %" PRIu64 " items\");\n", name, f->max_items,
                          name, f->max_items);
            v->uses_err = 1;
        }
        if (f->label == VC_LABEL_MAP) {
            map_checks(v, f, acc);
            return;
        }
        if (f->type == VC_TY_ENUM) {
            vc_buf_printf(b, "    for (i = 0; i < m->n_%s; i++) {\n"
                          "        if (!%s(%s[i])) {\n"
                          "            verani_verr_fail(err, NULL, \"unknown value %%d\", "
                          "(int)%s[i]);\n"
                          "            return verani_verr_nest(err, \"%s\", (long)i);\n"
                          "        }\n    }\n", name, enum_known(ctx, f->en), acc, acc, name);
            v->uses_err = v->uses_i = 1;
        } else if (f->type == VC_TY_STRING) {
            vc_buf_printf(b, "    for (i = 0; i < m->n_%s; i++) {\n"
                          "        if (verani_check_string(err, NULL, %s[i], 0u, VERANI_LEN_NONE) "
                          "!= 0)\n"
                          "            return verani_verr_nest(err, \"%s\", (long)i);\n    }\n",
                          name, acc, name);
            v->uses_err = v->uses_i = 1;
        } else if (f->msg && f->msg->needs_validation) {
            vc_buf_printf(b, "    for (i = 0; i < m->n_%s; i++) {\n"
                          "        if (%s[i] != NULL && %s(%s[i], err) != 0)\n"
                          "            return verani_verr_nest(err, \"%s\", (long)i);\n    }\n",
                          name, acc, vc_msg_validator(ctx, f->msg), acc, name);
            v->uses_err = v->uses_i = 1;
        } else if (is_float_type(f->type) || ((f->has_min && bound_matters(f, f->min, 1)) ||
                   (f->has_max && bound_matters(f, f->max, 0)))) {
            if (!f->has_min && !f->has_max)
                return;
            vc_buf_printf(b, "    for (i = 0; i < m->n_%s; i++) {\n", name);
            numeric_checks(v, f, vc_arena_printf(a, "%s[i]", acc), "        ", 1);
            vc_buf_puts(b, "    }\n");
            v->uses_i = 1;
        }
        return;
    }

    int optional = f->label == VC_LABEL_OPTIONAL;
    const char *present = NULL; /* NULL: always present */
    if (f->type == VC_TY_STRING || f->type == VC_TY_MESSAGE)
        present = (optional || f->type == VC_TY_MESSAGE) ? vc_arena_printf(a, "%s != NULL", acc)
                                                          : NULL;
    else if (optional)
        present = vc_arena_printf(a, "m->has_%s", name);

    if (f->required) {
        const char *cond;
        if (f->type == VC_TY_STRING)
            cond = vc_arena_printf(a, "%s == NULL || %s[0] == '\\0'", acc, acc);
        else if (f->type == VC_TY_BYTES)
            cond = optional ? vc_arena_printf(a, "!m->has_%s || %s.len == 0", name, acc)
                            : vc_arena_printf(a, "%s.len == 0", acc);
        else if (f->type == VC_TY_MESSAGE)
            cond = vc_arena_printf(a, "%s == NULL", acc);
        else
            cond = vc_arena_printf(a, "!m->has_%s", name);
        vc_buf_printf(b, "    if (%s)\n        return verani_verr_fail(err, \"%s\", \"is "
                      "required\");\n", cond, name);
        v->uses_err = 1;
    }
    const char *guard = present ? vc_arena_printf(a, "%s && ", present) : "";
    if (f->type == VC_TY_STRING) {
        /* every string: valid UTF-8, and min_len/max_len in code points */
        vc_buf_printf(b, "    if (%s%sverani_check_string(err, \"%s\", %s, %" PRIu64 "u, %s) != "
                      "0)\n        return VERANI_EINVAL;\n", present ? present : "",
                      present ? " &&\n        " : "", name, acc,
                      f->has_min_len ? f->min_len : 0,
                      f->has_max_len ? vc_arena_printf(a, "%" PRIu64 "u", f->max_len)
                                     : "VERANI_LEN_NONE");
        v->uses_err = 1;
    } else if (f->type == VC_TY_BYTES) {
        const char *len = vc_arena_printf(a, "%s.len", acc);
        if (f->has_min_len && f->min_len > 0) {
            vc_buf_printf(b, "    if (%s%s < %" PRIu64 "u)\n        return verani_verr_fail(err, "
                          "\"%s\", \"shorter than %" PRIu64 " bytes\");\n", guard, len,
                          f->min_len, name, f->min_len);
            v->uses_err = 1;
        }
        if (f->has_max_len) {
            vc_buf_printf(b, "    if (%s%s > %" PRIu64 "u)\n        return verani_verr_fail(err, "
                          "\"%s\", \"longer than %" PRIu64 " bytes\");\n", guard, len,
                          f->max_len, name, f->max_len);
            v->uses_err = 1;
        }
    } else if (f->type == VC_TY_MESSAGE) {
        if (f->msg && f->msg->needs_validation) {
            vc_buf_printf(b, "    if (%s != NULL && %s(%s, err) != 0)\n        return "
                          "verani_verr_nest(err, \"%s\", -1);\n", acc,
                          vc_msg_validator(ctx, f->msg), acc, name);
            v->uses_err = 1;
        }
    } else if (f->type == VC_TY_ENUM) {
        vc_buf_printf(b, "    if (%s!%s(%s))\n"
                      "        return verani_verr_fail(err, \"%s\", \"unknown value %%d\", "
                      "(int)%s);\n", guard, enum_known(ctx, f->en), acc, name, acc);
        v->uses_err = 1;
    } else if (f->has_min || f->has_max) {
        if (present) {
            vc_buf_printf(b, "    if (%s) {\n", present);
            numeric_checks(v, f, acc, "        ", 0);
            vc_buf_puts(b, "    }\n");
        } else {
            numeric_checks(v, f, acc, "    ", 0);
        }
    }
    v->uses_m = 1;
}

static void emit_validator(vc_ctx *ctx, vc_buf *b, const vc_message *m)
{
    vc_buf body = {0};
    vbody v = {ctx, &body, 0, 0, 0};
    for (size_t i = 0; i < m->fields.n; i++)
        field_checks(&v, m, m->fields.items[i]);
    validator_sig(ctx, b, m, "\n{\n");
    if (v.uses_i)
        vc_buf_puts(b, "    size_t i;\n\n");
    if (body.len == 0) {
        vc_buf_puts(b, "    (void)m;\n    (void)err;\n");
    } else {
        if (!v.uses_err)
            vc_buf_puts(b, "    (void)err;\n");
        vc_buf_putn(b, body.data, body.len);
    }
    if (body.failed)
        b->failed = 1;
    vc_buf_free(&body);
    vc_buf_puts(b, "    return 0;\n}\n\n");
}

/* Is message m's generic trampoline used by some table? */
static int trampoline_used(const vc_schema *s, const vc_message *m)
{
    if (!m->needs_validation)
        return 0;
    if (m->meta_of)
        return 1;
    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        for (size_t j = 0; j < r->events.n; j++) {
            const vc_event *e = vc_room_event(r, j);
            if (e->in == m || e->out == m)
                return 1;
        }
    }
    return 0;
}

static const char *check_name(vc_ctx *ctx, const vc_message *m)
{
    if (m == NULL || !m->needs_validation)
        return "NULL";
    return vc_name(ctx, VC_N_CHECK, NULL, m);
}

static const char *desc_ref(vc_ctx *ctx, const vc_message *m)
{
    return m ? vc_arena_printf(&ctx->arena, "&%s", vc_msg_descriptor(ctx, m)) : "NULL";
}

/* `.json_name = "...",` in an event table. The alias is at most 64 bytes, but each byte
 * outside printable ASCII is a 4-column octal escape: a long one goes on the next lines
 * as adjacent literals, each within 100 columns. */
static void emit_json_name(vc_buf *b, const char *name)
{
    vc_buf lit = {0};
    vc_emit_cstring(&lit, name);
    if (lit.failed) {
        b->failed = 1;
    } else if (lit.len <= 100 - 8 - 13 - 1) {
        vc_buf_printf(b, "        .json_name = %s,\n", lit.data);
    } else {
        vc_buf_puts(b, "        .json_name =");
        size_t i = 1, end = lit.len - 1; /* inside the quotes */
        while (i < end) {
            size_t start = i;
            /* one line: 12 spaces, the quotes, 85 columns of text at most, whole escapes */
            while (i < end) {
                size_t unit = lit.data[i] != '\\' ? 1
                              : lit.data[i + 1] >= '0' && lit.data[i + 1] <= '7' ? 4 : 2;
                if (i + unit - start > 85)
                    break;
                i += unit;
            }
            vc_buf_printf(b, "\n            \"%.*s\"", (int)(i - start), lit.data + start);
        }
        vc_buf_puts(b, ",\n");
    }
    vc_buf_free(&lit);
}

static void emit_table(vc_ctx *ctx, vc_buf *b, const vc_room *r, vc_dir dir)
{
    size_t n;
    vc_event **ev = vc_room_sorted_a(&ctx->arena, r, dir, &n);
    if (n == 0)
        return;
    vc_buf_printf(b, "const verani_event_def %s[%zu] = {\n",
                  vc_name(ctx, dir == VC_DIR_ON ? VC_N_ON_EVENTS : VC_N_EMIT_EVENTS, r, NULL), n);
    for (size_t i = 0; i < n; i++) {
        const vc_event *e = ev[i];
        vc_emit_doc(b, vc_event_doc(ctx, e), 4);
        vc_buf_printf(b, "    {\n        .id = %" PRId64 "u,\n        .name = ", e->id);
        vc_emit_cstring(b, e->name);
        vc_buf_printf(b, ",\n        .in = %s,\n        .out = %s,\n", desc_ref(ctx, e->in),
                      desc_ref(ctx, e->out));
        vc_buf_printf(b, "        .validate_in = %s,\n        .validate_out = %s,\n",
                      check_name(ctx, e->in), check_name(ctx, e->out));
        if (e->json_name != NULL)
            emit_json_name(b, e->json_name);
        vc_buf_puts(b, "    },\n");
    }
    vc_buf_puts(b, "};\n\n");
}

void vc_emit_schema_c(vc_ctx *ctx, vc_buf *b)
{
    const vc_schema *s = ctx->schema;
    vc_arena *a = &ctx->arena;
    vc_emit_file_doc(ctx, b, "_schema.c", "the payload validators and the room schemas (event "
                     "tables, path, channels, limits, meta type) that libverani reads. No "
                     "allocation, no state.");
    vc_buf_printf(b, "#include \"%s_schema.h\"\n\n", s->package);

    vc_emit_banner(b, "validators");
    /* One helper per enum that some field uses: protobuf-c accepts any number on the wire. */
    for (size_t i = 0; i < s->enums.n; i++) {
        const vc_enum *e = s->enums.items[i];
        int used = 0;
        for (size_t j = 0; j < s->messages.n && !used; j++) {
            const vc_message *m = s->messages.items[j];
            for (size_t k = 0; k < m->fields.n && !used; k++)
                used = ((const vc_field *)m->fields.items[k])->en == e;
        }
        if (!used)
            continue;
        vc_buf_printf(b, "/* Is `v` a value enum %s defines? */\n", e->name);
        vc_buf_printf(b, "static int %s(int v)\n{\n", enum_known(ctx, e));
        const char *args[2] = {vc_arena_printf(a, "&%s", vc_enum_descriptor(ctx, e)), "v"};
        vc_emit_sig(b, "    return protobuf_c_enum_descriptor_get_value", args, 2,
                    " != NULL;\n}\n\n");
    }
    for (size_t i = 0; i < s->messages.n; i++)
        emit_validator(ctx, b, s->messages.items[i]);

    int any = 0;
    for (size_t i = 0; i < s->messages.n; i++) {
        const vc_message *m = s->messages.items[i];
        if (!trampoline_used(s, m))
            continue;
        if (!any)
            vc_emit_banner(b, "validators as the runtime calls them");
        any = 1;
        const char *params[2] = {"const ProtobufCMessage *m", "verani_verr *err"};
        vc_emit_sig(b, vc_arena_printf(a, "static int %s", check_name(ctx, m)), params, 2,
                    "\n{\n");
        vc_buf_printf(b, "    return %s((const %s *)m, err);\n}\n\n", vc_msg_validator(ctx, m),
                      vc_msg_ctype(ctx, m));
    }

    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        const char *channels = vc_name(ctx, VC_N_CHANNELS, r, NULL);
        vc_emit_banner(b, vc_arena_printf(a, "room %s", r->name));
        size_t nch = r->channels.n ? r->channels.n : 1;
        vc_buf_printf(b, "static const char *const %s[%zu] = {", channels, nch);
        if (r->channels.n == 0) {
            vc_emit_cstring(b, "default");
        } else {
            for (size_t j = 0; j < r->channels.n; j++) {
                vc_buf_puts(b, j ? ", " : "");
                vc_emit_cstring(b, r->channels.items[j]);
            }
        }
        vc_buf_puts(b, "};\n\n");
        emit_table(ctx, b, r, VC_DIR_ON);
        emit_table(ctx, b, r, VC_DIR_EMIT);
        if (r->timers.n) {
            vc_buf_printf(b, "static const verani_timer_def %s[%zu] = {\n",
                          vc_name(ctx, VC_N_TIMERS, r, NULL), r->timers.n);
            for (size_t j = 0; j < r->timers.n; j++) {
                const vc_timer *t = r->timers.items[j];
                vc_buf_puts(b, "    {");
                vc_emit_cstring(b, t->name);
                vc_buf_printf(b, ", %" PRId64 "u},\n", t->every_ms);
            }
            vc_buf_puts(b, "};\n\n");
        }
        size_t n_on = vc_room_count(r, VC_DIR_ON), n_emit = vc_room_count(r, VC_DIR_EMIT);
        vc_emit_doc(b, r->doc, 0);
        vc_buf_printf(b, "const verani_room_schema %s = {\n    .name = ",
                      vc_name(ctx, VC_N_SCHEMA, r, NULL));
        vc_emit_cstring(b, r->name);
        vc_buf_puts(b, ",\n    .path = ");
        vc_emit_cstring(b, r->path ? r->path : "/ws");
        vc_buf_printf(b, ",\n    .channels = %s,\n    .n_channels = %zu,\n", channels, nch);
        vc_buf_printf(b, "    .max_frame = %" PRId64 "u,\n    .rate = %" PRId64 "u,\n"
                      "    .burst = %" PRId64 "u,\n", r->has_max_frame ? r->max_frame : 65536,
                      r->has_rate ? r->rate : 0, r->has_burst ? r->burst : 0);
        vc_buf_printf(b, "    .meta = &%s,\n    .validate_meta = %s,\n",
                      vc_msg_descriptor(ctx, r->meta), check_name(ctx, r->meta));
        if (n_on)
            vc_buf_printf(b, "    .on = %s,\n    .n_on = %zu,\n",
                          vc_name(ctx, VC_N_ON_EVENTS, r, NULL), n_on);
        else
            vc_buf_puts(b, "    .on = NULL,\n    .n_on = 0,\n");
        if (n_emit)
            vc_buf_printf(b, "    .emit = %s,\n    .n_emit = %zu,\n",
                          vc_name(ctx, VC_N_EMIT_EVENTS, r, NULL), n_emit);
        else
            vc_buf_puts(b, "    .emit = NULL,\n    .n_emit = 0,\n");
        vc_buf_printf(b, "    .fingerprint = %s,\n", vc_name(ctx, VC_N_FINGERPRINT, NULL, NULL));
        if (r->open_events)
            vc_buf_puts(b, "    .open_events = 1,\n");
        if (r->timers.n)
            vc_buf_printf(b, "    .timers = %s,\n    .n_timers = %zu,\n",
                          vc_name(ctx, VC_N_TIMERS, r, NULL), r->timers.n);
        if (r->wire == VC_WIRE_JSON)
            vc_buf_puts(b, "    .wire = VERANI_WIRE_JSON,\n");
        if (r->wire == VC_WIRE_BOTH) {
            vc_buf_puts(b, "    .wire = VERANI_WIRE_BOTH,\n    .json_path = ");
            vc_emit_cstring(b, r->json_path);
            vc_buf_puts(b, ",\n");
        }
        vc_buf_puts(b, "};\n");
        if (i + 1 < s->rooms.n)
            vc_buf_puts(b, "\n");
    }
}
