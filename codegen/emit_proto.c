/* SPDX-License-Identifier: MIT */
/*
 * emit_proto.c: writes <pkg>.proto (proto2) for protoc-c and for any other
 * protobuf toolchain. The field mapping is the one DESIGN.md fixes: a plain
 * scalar, enum, string or bytes field is `required` (always on the wire); a
 * plain message field and every schema `optional` field is `optional`;
 * `repeated` and `map` are themselves. Validation options are not written
 * here: they become C checks in <pkg>_schema.c. Each room adds its meta
 * message <Room>Meta (empty when the room has no meta block).
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
}
