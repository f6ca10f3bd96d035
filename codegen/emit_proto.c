/* SPDX-License-Identifier: MIT */
/*
 * emit_proto.c: writes <pkg>.proto (proto2) for protoc-c and for any other
 * protobuf toolchain. The field mapping is the one DESIGN.md fixes: a plain
 * scalar, enum, string or bytes field is `required` (always on the wire); a
 * plain message field and every schema `optional` field is `optional`;
 * `repeated` and `map` are themselves. Validation options are not written
 * here: they become C checks in <pkg>_schema.c. Each room adds its meta
 * message <Room>Meta (empty when the room has no meta block) and, for an
 * outside client, its events in a form protobuf tools read: a message
 * <Room>On (and <Room>Emit) whose nested enum `Id` names every event id, whose
 * fields (number = event id) give each payload type, and, for `on`, a nested
 * message `Reply` giving each `returns` type the same way. The schema
 * fingerprint is the default of VeraniSchema.fingerprint.
 */
#include "veranic.h"

static const char *proto_label(const vc_field *f)
{
    switch (f->label) {
    case VC_LABEL_OPTIONAL: return "optional ";
    case VC_LABEL_REPEATED: return "repeated ";
    case VC_LABEL_MAP: return "";
    default: return f->type == VC_TY_MESSAGE ? "optional " : "required ";
    }
}

/* <Room>On or <Room>Emit: the ids (nested enum Id), the payload types (fields numbered by id),
 * for `on` the reply types (nested message Reply). Nothing when the direction has no event. */
static void emit_events(vc_ctx *ctx, vc_buf *b, const vc_room *r, vc_dir dir)
{
    vc_arena *a = &ctx->arena;
    size_t n, i, replies = 0;
    vc_event **ev = vc_room_sorted_a(a, r, dir, &n);

    if (n == 0)
        return;
    for (i = 0; i < n; i++)
        replies += ev[i]->out != NULL;
    if (dir == VC_DIR_ON)
        vc_buf_printf(b, "\n// Room %s, path \"%s\": the events a client sends (`on`). Each is\n"
                      "// an Envelope with `event` = its Id and `payload` = the field of that\n"
                      "// number below, encoded (no field: no payload). An id with a field in\n"
                      "// Reply is sent as REQUEST and answered by a REPLY whose payload is that\n"
                      "// field's type; the others are sent as EVENT.\n", r->name,
                      r->path ? r->path : "/ws");
    else
        vc_buf_printf(b, "\n// Room %s, path \"%s\": the events the server sends (`emit`), as\n"
                      "// Envelope EVENTs with `event` = its Id and `payload` = the field of that\n"
                      "// number below, encoded (no field: no payload).\n", r->name,
                      r->path ? r->path : "/ws");
    vc_buf_printf(b, "message %s%s {\n    enum Id {\n", r->name,
                  dir == VC_DIR_ON ? "On" : "Emit");
    for (i = 0; i < n; i++)
        vc_buf_printf(b, "        %s = %lld;  // %s\n", vc_upper(a, ev[i]->cname),
                      (long long)ev[i]->id, ev[i]->name);
    vc_buf_puts(b, "    }\n");
    if (replies) {
        vc_buf_puts(b, "    message Reply {\n");
        for (i = 0; i < n; i++)
            if (ev[i]->out != NULL)
                vc_buf_printf(b, "        optional %s %s = %lld;\n", ev[i]->out->name,
                              ev[i]->cname, (long long)ev[i]->id);
        vc_buf_puts(b, "    }\n");
    }
    for (i = 0; i < n; i++)
        if (ev[i]->in != NULL)
            vc_buf_printf(b, "    optional %s %s = %lld;\n", ev[i]->in->name, ev[i]->cname,
                          (long long)ev[i]->id);
    vc_buf_puts(b, "}\n");
}

void vc_emit_proto(vc_ctx *ctx, vc_buf *b)
{
    const vc_schema *s = ctx->schema;
    vc_emit_line1(ctx, b, 1);
    vc_buf_printf(b, "// %s.proto: the payload types of package %s. Validation options are "
                  "checked\n// by the generated C validators, not by protobuf.\n\n",
                  s->package, s->package);
    vc_buf_puts(b, "syntax = \"proto2\";\n\n");
    vc_buf_printf(b, "package %s;\n", s->package);
    for (size_t i = 0; i < s->enums.n; i++) {
        const vc_enum *e = s->enums.items[i];
        vc_buf_puts(b, "\n");
        vc_emit_proto_doc(b, e->doc, 0);
        vc_buf_printf(b, "enum %s {\n", e->name);
        for (size_t j = 0; j < e->values.n; j++) {
            const vc_enum_value *v = e->values.items[j];
            vc_emit_proto_doc(b, v->doc, 4);
            vc_buf_printf(b, "    %s = %lld;\n", v->name, (long long)v->number);
        }
        vc_buf_puts(b, "}\n");
    }
    for (size_t i = 0; i < s->messages.n; i++) {
        const vc_message *m = s->messages.items[i];
        vc_buf_puts(b, "\n");
        if (m->meta_of != NULL && m->doc == NULL)
            vc_buf_printf(b, "// The typed metadata of a connection to room %s.\n",
                          m->meta_of->name);
        vc_emit_proto_doc(b, m->doc, 0);
        vc_buf_printf(b, "message %s {", m->name);
        vc_buf_puts(b, m->fields.n ? "\n" : "");
        for (size_t j = 0; j < m->fields.n; j++) {
            const vc_field *f = m->fields.items[j];
            vc_emit_proto_doc(b, f->doc, 4);
            if (f->label == VC_LABEL_MAP)
                vc_buf_printf(b, "    map<string, %s> %s = %lld;\n", f->type_name, f->name,
                              (long long)f->number);
            else
                vc_buf_printf(b, "    %s%s %s = %lld;\n", proto_label(f), f->type_name, f->name,
                              (long long)f->number);
        }
        vc_buf_puts(b, "}\n");
    }
    for (size_t i = 0; i < s->rooms.n; i++) {
        emit_events(ctx, b, s->rooms.items[i], VC_DIR_ON);
        emit_events(ctx, b, s->rooms.items[i], VC_DIR_EMIT);
    }
    vc_buf_printf(b, "\n// The schema fingerprint (runtime/PROTOCOL.md, \"The schema "
                  "fingerprint\"):\n// send it in Hello.fingerprint; the server's is in "
                  "Welcome.fingerprint.\n"
                  "message VeraniSchema {\n"
                  "    optional string fingerprint = 1 [default = \"%s\"];\n}\n",
                  s->fingerprint);
}
