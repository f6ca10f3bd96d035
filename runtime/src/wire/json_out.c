/* SPDX-License-Identifier: MIT */
/*
 * json_out.c: the outbound half of the JSON wire: a protobuf-c message
 * written as JSON object members by walking its descriptor, and the server's
 * event frame around them, into a vr_sb. Numbers never go through the
 * locale's decimal point; floats take the shortest form that reads back to
 * the same value; 64-bit integers a JavaScript number cannot hold exactly
 * become strings. It writes what it is given: validating a message is the
 * sender's job, where it can say why. An allocation failure sticks in the
 * vr_sb, so callers check once at the end.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "json-private.h"

/* 2^53 - 1: the largest integer every JSON reader (a JavaScript number) holds exactly. */
#define MAX_SAFE_INT UINT64_C(9007199254740991)

static void put(vr_sb *sb, const char *s)
{
    vr_sb_add(sb, s, strlen(s));
}

/* An integer as a sign and a magnitude, in quotes when `quote`. */
static void put_int(vr_sb *sb, int neg, uint64_t mag, int quote)
{
    char b[24], *p = b + sizeof(b);

    if (quote)
        *--p = '"';
    do {
        *--p = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag);
    if (neg)
        *--p = '-';
    if (quote)
        *--p = '"';
    vr_sb_add(sb, p, (size_t)(b + sizeof(b) - p));
}

static void put_i64(vr_sb *sb, int64_t v)
{
    uint64_t mag = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;

    put_int(sb, v < 0, mag, mag > MAX_SAFE_INT);
}

/*
 * A float or double: the first of %.6g..%.9g (float) or %.15g..%.17g (double) that reads
 * back to the same value (the last always does). printf writes the locale's decimal point,
 * so whatever stands between the digits is written as '.'; in a locale without '.', strtod
 * reads less than was written and the loop simply ends at the longest form. -0 is written
 * "-0.0": a JSON reader takes "-0" for the integer 0 and would lose the sign.
 */
static void put_real(vr_sb *sb, double d, int is_float)
{
    char b[48], out[48];
    size_t i, o;
    int prec, last = is_float ? 9 : 17;

    if (d != d) {
        put(sb, "\"NaN\"");
        return;
    }
    if (isinf(d)) {
        put(sb, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    for (prec = is_float ? 6 : 15;; prec++) {
        snprintf(b, sizeof(b), "%.*g", prec, d);
        for (i = o = 0; b[i];) {
            if ((b[i] >= '0' && b[i] <= '9') || b[i] == '-' || b[i] == '+' || b[i] == 'e') {
                out[o++] = b[i++];
                continue;
            }
            out[o++] = '.';
            while (b[i] && !(b[i] >= '0' && b[i] <= '9'))
                i++;
        }
        out[o] = '\0';
        if (prec == last ||
            (is_float ? strtof(out, NULL) == (float)d : strtod(out, NULL) == d))
            break;
    }
    if (strcmp(out, "-0") == 0)
        put(sb, "-0.0");
    else
        vr_sb_add(sb, out, o);
}

/* Standard base64 with padding, in quotes, by libwebsockets' encoder, 192 bytes (a whole
 * number of 3-byte groups, so no padding inside) at a time. */
static void put_base64(vr_sb *sb, const ProtobufCBinaryData *bd)
{
    char b[256 + 2]; /* the encoder wants a byte past the digits and their NUL */
    size_t i, n = bd->data ? bd->len : 0;

    vr_sb_add(sb, "\"", 1);
    for (i = 0; i < n; i += 192) {
        size_t k = n - i < 192 ? n - i : 192;
        int o = lws_b64_encode_string((const char *)bd->data + i, (int)k, b, (int)sizeof(b));

        if (o < 0) { /* cannot happen: 192 bytes are 256 digits */
            sb->failed = 1;
            return;
        }
        vr_sb_add(sb, b, (size_t)o);
    }
    vr_sb_add(sb, "\"", 1);
}

/* `"name":` with the field name in lowerCamelCase (protoc's json_name), after a comma when
 * `comma`. Field names are identifiers: nothing in them needs escaping. */
static void put_name(vr_sb *sb, const char *name, int comma)
{
    char b[64];
    size_t o = 0;
    int up = 0;

    if (comma)
        b[o++] = ',';
    b[o++] = '"';
    for (; *name; name++) {
        if (*name == '_') {
            up = 1;
            continue;
        }
        if (o >= sizeof(b) - 2) {
            vr_sb_add(sb, b, o);
            o = 0;
        }
        b[o++] = up && *name >= 'a' && *name <= 'z' ? (char)(*name - 32) : *name;
        up = 0;
    }
    b[o++] = '"';
    b[o++] = ':';
    vr_sb_add(sb, b, o);
}

/* One value of field `f` (a plain field's member or an element of a repeated one) at `p`. */
static void put_value(vr_sb *sb, const ProtobufCFieldDescriptor *f, const void *p)
{
    const ProtobufCEnumValue *ev;
    const ProtobufCMessage *m;
    int32_t i;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        i = *(const int32_t *)p;
        put_int(sb, i < 0, i < 0 ? (uint64_t)-(int64_t)i : (uint64_t)i, 0);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        put_int(sb, 0, *(const uint32_t *)p, 0);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        put_i64(sb, *(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        put_int(sb, 0, *(const uint64_t *)p, *(const uint64_t *)p > MAX_SAFE_INT);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        put_real(sb, *(const float *)p, 1);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        put_real(sb, *(const double *)p, 0);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        put(sb, *(const protobuf_c_boolean *)p ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_ENUM:
        i = *(const int32_t *)p;
        if ((ev = protobuf_c_enum_descriptor_get_value(f->descriptor, i)))
            vr_sb_json_str(sb, ev->name);
        else
            put_int(sb, i < 0, i < 0 ? (uint64_t)-(int64_t)i : (uint64_t)i, 0);
        break;
    case PROTOBUF_C_TYPE_STRING:
        vr_sb_json_str(sb, *(char *const *)p);
        break;
    case PROTOBUF_C_TYPE_BYTES:
        put_base64(sb, p);
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        m = *(ProtobufCMessage *const *)p;
        put(sb, "{");
        vr_json_members(sb, m, 0);
        put(sb, "}");
        break;
    }
}

/* A map<string, T> field as an object, its entries in order (a missing value as the type's
 * default, a missing message value as {}). */
static void put_map(vr_sb *sb, const ProtobufCFieldDescriptor *f, ProtobufCMessage *const *arr,
                    size_t n)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    size_t i, written = 0;
    const char *e;

    put(sb, "{");
    for (i = 0; i < n; i++) {
        if (!(e = (const char *)arr[i]))
            continue;
        if (written++)
            put(sb, ",");
        vr_sb_json_str(sb, *(char *const *)(e + kf->offset));
        put(sb, ":");
        put_value(sb, vf, e + vf->offset);
    }
    put(sb, "}");
}

/* Is a plain (not repeated) field present, as protobuf-c's pack decides? */
static int present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const void *ptr;

    if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) {
        ptr = *(const void *const *)((const char *)msg + f->offset);
        if (f->type == PROTOBUF_C_TYPE_MESSAGE)
            return ptr != NULL;
        return f->label != PROTOBUF_C_LABEL_OPTIONAL || (ptr && ptr != f->default_value);
    }
    if (f->label != PROTOBUF_C_LABEL_OPTIONAL)
        return 1;
    return *(const protobuf_c_boolean *)((const char *)msg + f->quantifier_offset);
}

size_t vr_json_members(vr_sb *sb, const ProtobufCMessage *msg, int comma)
{
    const ProtobufCMessageDescriptor *d;
    const ProtobufCFieldDescriptor *f;
    const char *p, *arr;
    size_t written = 0, n, j, size;
    unsigned i;

    if (!msg)
        return 0;
    d = msg->descriptor;
    for (i = 0; i < d->n_fields; i++) {
        f = &d->fields[i];
        p = (const char *)msg + f->offset;
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            if (!present(msg, f))
                continue;
            put_name(sb, f->name, comma || written);
            put_value(sb, f, p);
            written++;
            continue;
        }
        n = *(const size_t *)((const char *)msg + f->quantifier_offset);
        arr = *(const char *const *)p;
        put_name(sb, f->name, comma || written);
        written++;
        if (vr_json_is_map(d, f)) {
            put_map(sb, f, (ProtobufCMessage *const *)arr, arr ? n : 0);
            continue;
        }
        size = vr_json_elem_size(f->type);
        put(sb, "[");
        for (j = 0; arr && j < n; j++) {
            if (j)
                put(sb, ",");
            put_value(sb, f, arr + j * size);
        }
        put(sb, "]");
    }
    return written;
}

int vr_json_event(vr_sb *sb, const char *channel, const char *name, const ProtobufCMessage *msg)
{
    put(sb, "{\"type\":\"event\",\"channel\":");
    vr_sb_json_str(sb, channel);
    put(sb, ",\"data\":{\"type\":");
    vr_sb_json_str(sb, name);
    vr_json_members(sb, msg, 1);
    put(sb, "}}");
    return sb->failed ? VERANI_ENOMEM : 0;
}
