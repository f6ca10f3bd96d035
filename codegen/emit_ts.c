/* SPDX-License-Identifier: MIT */
/*
 * emit_ts.c: writes <pkg>_client.ts (veranic --ts), the typed TypeScript
 * client of every room, for browsers and Node on @verani/client
 * (runtime/ts): the schema fingerprint, one validator per message with the
 * rules and texts of the C validators (emit_schema.c; the helpers are the
 * runtime's validate.ts), and per room its event ids, the RoomSchema the
 * client reads and a class with typed emit, request, on and once members.
 * The payload types themselves are protoc-gen-es's, from <pkg>.proto
 * (<pkg>_pb.ts, imported as `pb`, so no name here can meet one of them).
 * Every name comes from names.c; code is written through templates.
 */
#include <inttypes.h>
#include <string.h>

#include "veranic.h"

/* A bound as a TypeScript literal of the field's type: bigint for 64-bit integers. */
static const char *ts_bound(vc_ctx *ctx, const vc_field *f, const vc_option *o)
{
    switch (f->type) {
    case VC_TY_INT64: case VC_TY_UINT64: case VC_TY_SINT64:
        return vc_arena_printf(&ctx->arena, "%" PRId64 "n", o->ival);
    case VC_TY_FLOAT: case VC_TY_DOUBLE:
        return o->is_float ? o->text : vc_arena_printf(&ctx->arena, "%" PRId64, o->ival);
    default:
        return vc_arena_printf(&ctx->arena, "%" PRId64, o->ival);
    }
}

typedef struct tsbody {
    vc_ctx *ctx;
    vc_buf *b;
    int uses_f; /* `f` holds a nested failure */
} tsbody;

/* The checks of a number `acc` (`fail` builds the failure: a field's or an element's). */
static void ts_numeric(tsbody *v, const vc_field *f, const char *acc, const char *guard,
                       const char *ind, const char *path, const char *wrap_open,
                       const char *wrap_close)
{
    vc_arena *a = &v->ctx->arena;
    const vc_option *bounds[2] = {f->has_min ? f->min : NULL, f->has_max ? f->max : NULL};
    vc_var vars[] = {
        {"ind", ind}, {"acc", acc}, {"guard", guard}, {"path", path},
        {"open", wrap_open}, {"close", wrap_close}, {"op", NULL}, {"bound", NULL},
        {"says", NULL}, {NULL, NULL},
    };

    if ((f->type == VC_TY_FLOAT || f->type == VC_TY_DOUBLE) && (bounds[0] || bounds[1]))
        vc_tpl(v->b, "$ind$if ($guard$Number.isNaN($acc$))\n"
                     "$ind$    return $open$fail($path$, \"is not a number\")$close$;\n", vars);
    for (int k = 0; k < 2; k++) {
        if (bounds[k] == NULL)
            continue;
        vars[6].value = k ? ">" : "<";
        vars[7].value = ts_bound(v->ctx, f, bounds[k]);
        vars[8].value = vc_arena_printf(a, "%s than %s", k ? "greater" : "less", bounds[k]->text);
        vc_tpl(v->b, "$ind$if ($guard$$acc$ $op$ $bound$)\n"
                     "$ind$    return $open$fail($path$, \"$says$\")$close$;\n", vars);
    }
}

/* Every check of field f of message m, in the C validator's order. */
static void ts_field(tsbody *v, const vc_message *m, const vc_field *f)
{
    vc_ctx *ctx = v->ctx;
    vc_arena *a = &ctx->arena;
    const char *prop = vc_ts_prop(ctx, f);
    vc_var vars[] = {
        {"name", f->name},
        {"acc", vc_arena_printf(a, "m.%s", prop)},
        {"set", vc_arena_printf(a, "isFieldSet(m, %s.field.%s)",
                                vc_name(ctx, VC_N_TS_PB_SCHEMA, NULL, m), prop)},
        {"enum", f->en ? vc_arena_printf(a, "pb.%s", f->en->name) : ""},
        {"validator", f->msg ? vc_name(ctx, VC_N_TS_VALIDATOR, NULL, f->msg) : ""},
        {"max", vc_arena_printf(a, "%" PRIu64, f->max_items)},
        {"count", f->label == VC_LABEL_MAP ? vc_arena_printf(a, "Object.keys(m.%s).length", prop)
                                           : vc_arena_printf(a, "m.%s.length", prop)},
        {"min_len", vc_arena_printf(a, "%" PRIu64, f->has_min_len ? f->min_len : 0)},
        {"max_len", f->has_max_len ? vc_arena_printf(a, ", %" PRIu64, f->max_len) : ""},
        {"guard", ""},
        {NULL, NULL},
    };
    int validated = f->msg && f->msg->needs_validation;

    if (f->label == VC_LABEL_REPEATED || f->label == VC_LABEL_MAP) {
        if (f->required)
            vc_tpl(v->b, "    if ($count$ === 0)\n"
                         "        return fail(\"$name$\", \"must not be empty\");\n", vars);
        if (f->has_max_items)
            vc_tpl(v->b, "    if ($count$ > $max$)\n"
                         "        return fail(\"$name$\", \"more than $max$ items\");\n", vars);
        if (f->label == VC_LABEL_MAP) {
            vars[9].value = f->type == VC_TY_STRING || f->type == VC_TY_ENUM || validated
                                ? "k, e" : "k";
            vc_tpl(v->b, "    {\n        let i = 0;\n"
                         "        for (const [$guard$] of Object.entries($acc$)) {\n"
                         "            if ((f = checkString(\"key\", k, 0)) !== null)\n"
                         "                return nest(f, \"$name$\", i);\n", vars);
            if (f->type == VC_TY_STRING)
                vc_tpl(v->b, "            if ((f = checkString(\"value\", e, 0)) !== null)\n"
                             "                return nest(f, \"$name$\", i);\n", vars);
            else if (f->type == VC_TY_ENUM)
                vc_tpl(v->b, "            if (!(e in $enum$))\n"
                             "                return nest(fail(\"value\", `unknown value $${e}`), "
                             "\"$name$\", i);\n", vars);
            else if (validated)
                vc_tpl(v->b, "            if ((f = $validator$(e)) !== null)\n"
                             "                return nest(nest(f, \"value\", -1), \"$name$\", i);"
                             "\n", vars);
            vc_buf_puts(v->b, "            i++;\n        }\n    }\n");
            v->uses_f = 1;
            return;
        }
        if (f->type == VC_TY_ENUM) {
            vc_tpl(v->b, "    for (let i = 0; i < $acc$.length; i++)\n"
                         "        if (!($acc$[i]! in $enum$))\n"
                         "            return nest(fail(null, `unknown value $${$acc$[i]}`), "
                         "\"$name$\", i);\n", vars);
        } else if (f->type == VC_TY_STRING) {
            vc_tpl(v->b, "    for (let i = 0; i < $acc$.length; i++)\n"
                         "        if ((f = checkString(null, $acc$[i], 0)) !== null)\n"
                         "            return nest(f, \"$name$\", i);\n", vars);
            v->uses_f = 1;
        } else if (validated) {
            vc_tpl(v->b, "    for (let i = 0; i < $acc$.length; i++)\n"
                         "        if ((f = $validator$($acc$[i]!)) !== null)\n"
                         "            return nest(f, \"$name$\", i);\n", vars);
            v->uses_f = 1;
        } else if (f->has_min || f->has_max) {
            vc_tpl(v->b, "    for (let i = 0; i < $acc$.length; i++) {\n", vars);
            ts_numeric(v, f, vc_arena_printf(a, "%s[i]!", vars[1].value), "", "        ", "null",
                       "nest(", vc_arena_printf(a, ", \"%s\", i)", f->name));
            vc_buf_puts(v->b, "    }\n");
        }
        return;
    }

    int optional = f->label == VC_LABEL_OPTIONAL;
    if (f->type == VC_TY_MESSAGE)
        vars[9].value = vc_arena_printf(a, "%s !== undefined && ", vars[1].value);
    else if (optional)
        vars[9].value = vc_arena_printf(a, "%s && ", vars[2].value);
    if (f->required) {
        /* protobuf-es reads an absent string as "" and absent bytes as empty */
        if (f->type == VC_TY_STRING)
            vc_tpl(v->b, "    if ($acc$ === \"\")\n", vars);
        else if (f->type == VC_TY_BYTES)
            vc_tpl(v->b, "    if ($acc$.length === 0)\n", vars);
        else if (f->type == VC_TY_MESSAGE)
            vc_tpl(v->b, "    if ($acc$ === undefined)\n", vars);
        else
            vc_tpl(v->b, "    if (!$set$)\n", vars);
        vc_tpl(v->b, "        return fail(\"$name$\", \"is required\");\n", vars);
    }
    if (f->type == VC_TY_STRING) {
        vc_tpl(v->b, optional ? "    if ($set$ &&\n        (f = checkString(\"$name$\", $acc$, "
                                "$min_len$$max_len$)) !== null)\n        return f;\n"
                              : "    if ((f = checkString(\"$name$\", $acc$, $min_len$$max_len$)) "
                                "!== null)\n        return f;\n", vars);
        v->uses_f = 1;
    } else if (f->type == VC_TY_BYTES) {
        if (f->has_min_len && f->min_len > 0)
            vc_tpl(v->b, "    if ($guard$$acc$.length < $min_len$)\n"
                         "        return fail(\"$name$\", \"shorter than $min_len$ bytes\");\n", vars);
        if (f->has_max_len)
            vc_tpl(v->b, "    if ($guard$$acc$.length > $max_len$)\n"
                         "        return fail(\"$name$\", \"longer than $max_len$ bytes\");\n",
                   (const vc_var[]){{"guard", vars[9].value}, {"acc", vars[1].value},
                                    {"name", f->name},
                                    {"max_len", vc_arena_printf(a, "%" PRIu64, f->max_len)},
                                    {NULL, NULL}});
    } else if (f->type == VC_TY_MESSAGE) {
        if (validated) {
            vc_tpl(v->b, "    if ($acc$ !== undefined && (f = $validator$($acc$)) !== null)\n"
                         "        return nest(f, \"$name$\", -1);\n", vars);
            v->uses_f = 1;
        }
    } else if (f->type == VC_TY_ENUM) {
        vc_tpl(v->b, "    if ($guard$!($acc$ in $enum$))\n"
                     "        return fail(\"$name$\", `unknown value $${$acc$}`);\n", vars);
    } else if (f->has_min || f->has_max) {
        ts_numeric(v, f, vars[1].value, vars[9].value, "    ",
                   vc_arena_printf(a, "\"%s\"", f->name), "", "");
    }
}

static void ts_validator(vc_ctx *ctx, vc_buf *b, const vc_message *m)
{
    vc_buf body = {0};
    tsbody v = {ctx, &body, 0};
    const vc_var vars[] = {
        {"fn", vc_name(ctx, VC_N_TS_VALIDATOR, NULL, m)},
        {"type", vc_arena_printf(&ctx->arena, "pb.%s", m->name)},
        {NULL, NULL},
    };

    for (size_t i = 0; i < m->fields.n; i++)
        ts_field(&v, m, m->fields.items[i]);
    if (m->doc)
        vc_emit_jsdoc(b, m->doc, 0);
    else if (m->meta_of)
        vc_emit_jsdoc(b, vc_arena_printf(&ctx->arena, "The typed metadata of a connection to "
                                         "room %s.", m->meta_of->name), 0);
    vc_tpl(b, body.len ? "export function $fn$(m: $type$): Failure | null {\n"
                       : "export function $fn$(_m: $type$): Failure | null {\n", vars);
    if (v.uses_f)
        vc_buf_puts(b, "    let f: Failure | null;\n");
    vc_buf_putn(b, body.data ? body.data : "", body.len);
    if (body.failed)
        b->failed = 1;
    vc_buf_free(&body);
    vc_buf_puts(b, "    return null;\n}\n\n");
}

/* `{ id: 1, name: "chat.message", payload: ..., validate: ... }` of one event. */
static void ts_event_def(vc_ctx *ctx, vc_buf *b, const vc_event *e)
{
    vc_arena *a = &ctx->arena;
    const vc_var vars[] = {
        {"id", vc_arena_printf(a, "%" PRId64, e->id)},
        {"name", e->name},
        {"in", e->in ? vc_name(ctx, VC_N_TS_PB_SCHEMA, NULL, e->in) : ""},
        {"vin", e->in ? vc_name(ctx, VC_N_TS_VALIDATOR, NULL, e->in) : ""},
        {"out", e->out ? vc_name(ctx, VC_N_TS_PB_SCHEMA, NULL, e->out) : ""},
        {"vout", e->out ? vc_name(ctx, VC_N_TS_VALIDATOR, NULL, e->out) : ""},
        {NULL, NULL},
    };

    vc_tpl(b, "        {\n            id: $id$,\n            name: \"$name$\",\n", vars);
    if (e->in)
        vc_tpl(b, "            payload: $in$,\n", vars);
    if (e->in && e->in->needs_validation)
        vc_tpl(b, "            validate: $vin$,\n", vars);
    if (e->out)
        vc_tpl(b, "            reply: $out$,\n", vars);
    if (e->out && e->out->needs_validation)
        vc_tpl(b, "            validateReply: $vout$,\n", vars);
    vc_buf_puts(b, "        },\n");
}

static void ts_room(vc_ctx *ctx, vc_buf *b, const vc_room *r)
{
    vc_arena *a = &ctx->arena;
    size_t n_on, n_emit;
    vc_event **on = vc_room_sorted_a(a, r, VC_DIR_ON, &n_on);
    vc_event **emit = vc_room_sorted_a(a, r, VC_DIR_EMIT, &n_emit);
    vc_var vars[] = {
        {"Room", r->name},
        {"events", vc_name(ctx, VC_N_TS_EVENTS, r, NULL)},
        {"schema", vc_name(ctx, VC_N_TS_ROOM_SCHEMA, r, NULL)},
        {"class", vc_name(ctx, VC_N_TS_ROOM, r, NULL)},
        {"fp", vc_name(ctx, VC_N_TS_FINGERPRINT, NULL, NULL)},
        {"path", r->path ? r->path : "/ws"},
        {"max_frame", vc_arena_printf(a, "%" PRId64, r->has_max_frame ? r->max_frame : 65536)},
        {"member", NULL},
        {"id", NULL},
        {"in", NULL},
        {"out", NULL},
        {NULL, NULL},
    };
    const char *dirs[2] = {"on", "emit"};

    vc_emit_banner(b, vc_arena_printf(a, "room %s", r->name));
    vc_emit_jsdoc(b, vc_arena_printf(a, "The event ids of room %s by direction: `on` (client "
                                     "to server) and `emit` (server to client).", r->name), 0);
    vc_tpl(b, "export const $events$ = {\n", vars);
    for (int d = 0; d < 2; d++) {
        size_t n = d ? n_emit : n_on;
        vc_event **ev = d ? emit : on;

        vc_buf_printf(b, "    %s: {", dirs[d]);
        for (size_t j = 0; j < n; j++) {
            vars[7].value = vc_name(ctx, VC_N_TS_MEMBER, r, ev[j]);
            vars[8].value = vc_arena_printf(a, "%" PRId64, ev[j]->id);
            vc_tpl(b, "\n        $member$: $id$,", vars);
        }
        vc_buf_puts(b, n ? "\n    },\n" : "},\n");
    }
    vc_buf_puts(b, "} as const;\n\n");

    vc_emit_jsdoc(b, vc_arena_printf(a, "Room %s as the client reads it: path, limits, "
                                     "fingerprint, and each event's payload type and "
                                     "validator.", r->name), 0);
    vc_tpl(b, "export const $schema$: RoomSchema = {\n"
              "    name: \"$Room$\",\n    path: \"$path$\",\n    fingerprint: $fp$,\n"
              "    maxFrame: $max_frame$,\n", vars);
    for (int d = 0; d < 2; d++) {
        size_t n = d ? n_emit : n_on;
        vc_event **ev = d ? emit : on;

        vc_buf_printf(b, "    %s: [%s", dirs[d], n ? "\n" : "");
        for (size_t j = 0; j < n; j++)
            ts_event_def(ctx, b, ev[j]);
        vc_buf_puts(b, n ? "    ],\n" : "],\n");
    }
    vc_buf_puts(b, "};\n\n");

    const char *wire = vc_room_wire_doc(ctx, r, 1);
    vc_emit_jsdoc(b, vc_arena_printf(a, "%s%sA connection to an instance of room %s (URL: the "
                                     "path %s with the instance name, plus the query the "
                                     "server reads): typed emit, request, on and once; "
                                     "`client` is the connection itself.%s%s",
                                     r->doc ? r->doc : "", r->doc ? "\n" : "", r->name,
                                     r->path ? r->path : "/ws", wire ? "\n" : "",
                                     wire ? wire : ""), 0);
    vc_tpl(b, "export class $class$ {\n"
              "    readonly client: VeraniClient;\n\n"
              "    constructor(url: string, options: RoomOptions = {}) {\n"
              "        this.client = new VeraniClient({ ...options, url, room: $schema$ });\n"
              "    }\n", vars);

    /* emit and request: the `on` events */
    for (int req = 0; req < 2; req++) {
        int any = 0;
        for (size_t j = 0; j < n_on; j++)
            any |= (on[j]->out != NULL) == req;
        vc_buf_puts(b, "\n");
        vc_emit_jsdoc(b, req ? "Requests: each validates its payload, then resolves with the "
                               "reply or rejects with a RequestError (status error, timeout, "
                               "disconnected or cancelled)."
                             : "Events to the server: each validates its payload (a "
                               "ValidationError when it fails), then sends it, or queues it "
                               "while offline.", 4);
        vc_buf_printf(b, "    readonly %s = {%s", req ? "request" : "emit", any ? "\n" : "");
        for (size_t j = 0; j < n_on; j++) {
            const vc_event *e = on[j];

            if ((e->out != NULL) != req)
                continue;
            vars[7].value = vc_name(ctx, VC_N_TS_MEMBER, r, e);
            vars[8].value = vc_arena_printf(a, "%" PRId64, e->id);
            vars[9].value = e->in ? vc_arena_printf(a, "MessageInitShape<typeof %s>",
                                                    vc_name(ctx, VC_N_TS_PB_SCHEMA, NULL, e->in))
                                  : NULL;
            vars[10].value = e->out ? vc_arena_printf(a, "pb.%s", e->out->name) : NULL;
            vc_emit_jsdoc(b, vc_event_doc(ctx, e), 8);
            if (!req && e->in)
                vc_tpl(b, "        $member$: (msg: $in$): void =>\n"
                          "            this.client.emit($id$, msg),\n", vars);
            else if (!req)
                vc_tpl(b, "        $member$: (): void => this.client.emit($id$),\n", vars);
            else if (e->in)
                vc_tpl(b, "        $member$: (req: $in$, timeoutMs?: number):\n"
                          "            Promise<$out$> => this.client.request($id$, req, timeoutMs),\n",
                       vars);
            else
                vc_tpl(b, "        $member$: (timeoutMs?: number): Promise<$out$> =>\n"
                          "            this.client.request($id$, undefined, timeoutMs),\n", vars);
        }
        vc_buf_puts(b, any ? "    };\n" : "};\n");
    }

    /* on and once: the `emit` events */
    for (int once = 0; once < 2; once++) {
        vc_buf_puts(b, "\n");
        vc_emit_jsdoc(b, once ? "The same, for the next event only."
                              : "Handlers of the server's events, any number each; each call "
                                "returns the function that removes its handler.", 4);
        vc_buf_printf(b, "    readonly %s = {%s", once ? "once" : "on", n_emit ? "\n" : "");
        for (size_t j = 0; j < n_emit; j++) {
            const vc_event *e = emit[j];

            vars[7].value = vc_name(ctx, VC_N_TS_MEMBER, r, e);
            vars[8].value = vc_arena_printf(a, "%" PRId64, e->id);
            vars[9].value = e->in ? vc_arena_printf(a, "pb.%s", e->in->name) : NULL;
            vars[10].value = once ? ", true" : "";
            if (!once)
                vc_emit_jsdoc(b, vc_event_doc(ctx, e), 8);
            if (e->in)
                vc_tpl(b, "        $member$: (cb: (msg: $in$, info: EventInfo) => void): "
                          "(() => void) =>\n"
                          "            this.client.on($id$, cb$out$),\n", vars);
            else
                vc_tpl(b, "        $member$: (cb: (info: EventInfo) => void): (() => void) =>\n"
                          "            this.client.on($id$, (_m: unknown, i: EventInfo) => cb(i)"
                          "$out$),\n", vars);
        }
        vc_buf_puts(b, n_emit ? "    };\n" : "};\n");
    }
    vc_buf_puts(b, "}\n");
}

static int ident_char(char c)
{
    return c == '_' || c == '$' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
}

/* The import list of what `body` uses (noUnusedLocals-clean). */
static const char *ts_imports(vc_ctx *ctx, const vc_buf *body, const char *const *names,
                              size_t n, const char *sep)
{
    vc_buf out = {0};
    const char *text = body->data ? body->data : "";
    const char *list;

    for (size_t i = 0; i < n; i++) {
        const char *bare = strncmp(names[i], "type ", 5) == 0 ? names[i] + 5 : names[i];
        const char *p = text;
        size_t len = strlen(bare);

        /* used: the name, not as part of a longer identifier or after a '.' */
        while ((p = strstr(p, bare)) != NULL &&
               ((p > text && (ident_char(p[-1]) || p[-1] == '.')) || ident_char(p[len])))
            p += len;
        if (p != NULL)
            vc_buf_printf(&out, "%s%s", out.len ? sep : "", names[i]);
    }
    list = vc_arena_strndup(&ctx->arena, out.data ? out.data : "", out.len);
    vc_buf_free(&out);
    return list;
}

void vc_emit_ts(vc_ctx *ctx, vc_buf *b)
{
    static const char *const pb_names[] = {"isFieldSet", "type MessageInitShape"};
    static const char *const rt_names[] = {
        "VeraniClient", "checkString", "fail", "nest", "type EventInfo", "type Failure",
        "type RoomOptions", "type RoomSchema",
    };
    const vc_schema *s = ctx->schema;
    vc_buf body = {0};
    vc_var vars[] = {
        {"pkg", s->package},
        {"fp_name", vc_name(ctx, VC_N_TS_FINGERPRINT, NULL, NULL)},
        {"fp", s->fingerprint},
        {"pb", NULL},
        {"rt", NULL},
        {NULL, NULL},
    };

    vc_emit_banner(&body, "validators");
    vc_emit_jsdoc(&body, "Each returns null when the message satisfies every rule of the schema, "
                         "else the failing field's path and the reason, as the C validators "
                         "say them.", 0);
    vc_buf_puts(&body, "\n");
    for (size_t i = 0; i < s->messages.n; i++)
        ts_validator(ctx, &body, s->messages.items[i]);
    for (size_t i = 0; i < s->rooms.n; i++) {
        if (i)
            vc_buf_puts(&body, "\n");
        ts_room(ctx, &body, s->rooms.items[i]);
    }
    vars[3].value = ts_imports(ctx, &body, pb_names, 2, ", ");
    vars[4].value = ts_imports(ctx, &body, rt_names, 8, ",\n    ");

    vc_emit_line1(ctx, b, 1);
    vc_emit_proto_doc(b, vc_arena_printf(&ctx->arena, "%s_client.ts: the typed TypeScript "
                                         "client of package %s for @verani/client "
                                         "(runtime/ts): the fingerprint, payload validators "
                                         "with the C validators' rules and texts, and per room "
                                         "its event ids, its RoomSchema and a class with typed "
                                         "emit, request, on and once. The payload types are "
                                         "protoc-gen-es's, from %s.proto (%s_pb.ts).",
                                         s->package, s->package, s->package, s->package), 0);
    vc_buf_puts(b, "\n");
    if (vars[3].value && vars[3].value[0])
        vc_tpl(b, "import { $pb$ } from \"@bufbuild/protobuf\";\n", vars);
    vc_tpl(b, "import {\n    $rt$,\n} from \"@verani/client\";\n\n"
              "import * as pb from \"./$pkg$_pb.js\";\n\n", vars);
    vc_emit_jsdoc(b, "FNV-1a 64 of the schema's canonical form (runtime/PROTOCOL.md, \"The schema "
                     "fingerprint\"): the client sends it in its HELLO.", 0);
    vc_tpl(b, "export const $fp_name$ = \"$fp$\";\n\n", vars);
    vc_buf_putn(b, body.data ? body.data : "", body.len);
    if (body.failed)
        b->failed = 1;
    vc_buf_free(&body);
}
