/* SPDX-License-Identifier: MIT */
/*
 * json_in.c: the inbound half of the JSON wire: one text frame parsed by
 * jansson (strict RFC 8259, UTF-8 checked, exact 64-bit integers) and
 * checked with Verani's validity rule, then its `data` decoded into a
 * schema's protobuf-c message by walking the message descriptor, with the
 * same allocator protobuf_c_message_unpack would use, so the result is freed
 * the same way. Every allocation is hung on the message tree the moment it is
 * made, so one protobuf_c_message_free_unpacked cleans up after any failure.
 * A value of the wrong kind is refused with the field path and a reason the
 * peer can read; it is never coerced beyond the proto3 JSON mapping (numbers
 * in strings, integral reals, enum numbers). jansson allocates with plain
 * malloc: its allocator hook is process-wide and not ours to take.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "json-private.h"

/* --- frames --------------------------------------------------------------- */

/* A JSON string without NUL, as a C string; NULL for anything else. */
static const char *plain_string(const json_t *v)
{
    const char *s = json_string_value(v);

    return s && strlen(s) == json_string_length(v) ? s : NULL;
}

int vr_json_frame_parse(const char *text, size_t len, vr_jframe *f, const char **why)
{
    json_error_t jerr;
    json_t *root, *type, *channel, *data;
    const char *w;

    memset(f, 0, sizeof(*f));
    /* JSON_ALLOW_NUL: a string holding \u0000 is refused below with its own reason rather
     * than as "not JSON"; object keys with NUL are refused by jansson in any case. */
    root = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        switch (json_error_code(&jerr)) {
        case json_error_out_of_memory:
            return VERANI_ENOMEM;
        case json_error_numeric_overflow:
            w = "the frame holds a number out of range";
            break;
        case json_error_stack_overflow:
            w = "the frame nests too deep";
            break;
        default:
            w = "the frame is not JSON";
            break;
        }
        goto fail;
    }
    w = "the frame is not a JSON object";
    if (!json_is_object(root))
        goto fail;
    type = json_object_get(root, "type");
    w = "the frame has no string \"type\"";
    if (!json_is_string(type))
        goto fail;
    w = "the frame's \"type\" holds a NUL character";
    if (!plain_string(type))
        goto fail;
    channel = json_object_get(root, "channel");
    w = "the frame's \"channel\" is not a string";
    if (channel && !json_is_string(channel))
        goto fail;
    w = "the frame's \"channel\" holds a NUL character";
    if (channel && !plain_string(channel))
        goto fail;
    data = json_object_get(root, "data");
    f->root = root;
    f->type = json_string_value(type);
    f->channel = channel ? json_string_value(channel) : NULL;
    f->data = json_is_null(data) ? NULL : data;
    return 0;
fail:
    json_decref(root);
    if (why)
        *why = w;
    return VERANI_EPROTO;
}

void vr_json_frame_free(vr_jframe *f)
{
    json_decref(f->root);
    memset(f, 0, sizeof(*f));
}

const char *vr_json_frame_data_string(const vr_jframe *f, const char *key)
{
    return plain_string(json_object_get(f->data, key));
}

/* --- field names ---------------------------------------------------------- */

/* Does `key` (klen bytes) spell the lowerCamelCase form of `name` (protoc's json_name: each
 * '_' dropped and the letter after it uppercased)? */
static int camel_eq(const char *name, const char *key, size_t klen)
{
    size_t i = 0;
    int up = 0;

    for (; *name; name++) {
        if (*name == '_') {
            up = 1;
            continue;
        }
        if (i == klen || key[i++] != (up && *name >= 'a' && *name <= 'z' ? *name - 32 : *name))
            return 0;
        up = 0;
    }
    return i == klen;
}

/* The member of `obj` named by the lowerCamelCase form of `name`, when that form differs. */
static json_t *member_camel(const json_t *obj, const char *name)
{
    char buf[128];
    size_t n = 0;
    int up = 0;
    const char *p;
    void *it;

    if (!strchr(name, '_'))
        return NULL;
    for (p = name; *p; p++) {
        if (*p == '_') {
            up = 1;
            continue;
        }
        if (n == sizeof(buf)) {
            /* a name too long for the buffer: compare each key instead */
            for (it = json_object_iter((json_t *)obj); it;
                 it = json_object_iter_next((json_t *)obj, it))
                if (camel_eq(name, json_object_iter_key(it), json_object_iter_key_len(it)))
                    return json_object_iter_value(it);
            return NULL;
        }
        buf[n++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p;
        up = 0;
    }
    return json_object_getn(obj, buf, n);
}

/* --- scalars -------------------------------------------------------------- */

enum { INT_OK, INT_NOT, INT_RANGE };

/* A JSON integer, a real with an integral value, or a string of decimal digits with an
 * optional '-', as a sign and a magnitude. INT_RANGE: an integer beyond 64 bits. */
static int get_int(const json_t *v, int *neg, uint64_t *mag)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);

        *neg = i < 0;
        *mag = i < 0 ? (uint64_t)(-(i + 1)) + 1 : (uint64_t)i;
        return INT_OK;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v), a = d < 0 ? -d : d;

        if (!(a < 0x1p64)) /* jansson makes no NaN or infinity */
            return INT_RANGE;
        *neg = d < 0;
        *mag = (uint64_t)a;
        return (double)*mag == a ? INT_OK : INT_NOT;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), i;
        int over = 0;

        *neg = n > 0 && s[0] == '-';
        *mag = 0;
        if (n == (size_t)*neg)
            return INT_NOT;
        for (i = (size_t)*neg; i < n; i++) {
            unsigned d = (unsigned char)s[i] - '0';

            if (d > 9)
                return INT_NOT;
            if (*mag > (UINT64_MAX - d) / 10)
                over = 1;
            else
                *mag = *mag * 10 + d;
        }
        return over ? INT_RANGE : INT_OK;
    }
    return INT_NOT;
}

static const char *const type_names[] = {
    [PROTOBUF_C_TYPE_INT32] = "int32",       [PROTOBUF_C_TYPE_SINT32] = "sint32",
    [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
    [PROTOBUF_C_TYPE_SINT64] = "sint64",     [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
    [PROTOBUF_C_TYPE_UINT32] = "uint32",     [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
    [PROTOBUF_C_TYPE_UINT64] = "uint64",     [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
    [PROTOBUF_C_TYPE_FLOAT] = "float",       [PROTOBUF_C_TYPE_DOUBLE] = "double",
};


/* An integer field's value into `slot`, range-checked for its type. */
static int dec_int(const ProtobufCFieldDescriptor *f, const json_t *v, void *slot,
                   verani_verr *verr)
{
    int neg, r, is_signed = 0, wide = 0;
    uint64_t mag, max;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        wide = 1;
        is_signed = 1;
        break;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        is_signed = 1;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        wide = 1;
        break;
    default:
        break;
    }
    r = get_int(v, &neg, &mag);
    if (r == INT_NOT)
        return verani_verr_fail(verr, NULL, "is not an integer");
    max = wide ? (is_signed ? INT64_MAX : UINT64_MAX) : (is_signed ? INT32_MAX : UINT32_MAX);
    if (neg && mag)
        max = is_signed ? max + 1 : 0;
    if (r == INT_RANGE || mag > max)
        return verani_verr_fail(verr, NULL, "is out of range for %s", type_names[f->type]);
    if (is_signed) {
        int64_t i = neg && mag ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;

        if (wide)
            *(int64_t *)slot = i;
        else
            *(int32_t *)slot = (int32_t)i;
    } else if (wide) {
        *(uint64_t *)slot = mag;
    } else {
        *(uint32_t *)slot = (uint32_t)mag;
    }
    return 0;
}

/* A float or double: a number, "NaN", "Infinity", "-Infinity", or a JSON number in a string
 * (read by jansson, whose number parsing does not depend on the locale). */
static int dec_real(const ProtobufCFieldDescriptor *f, const json_t *v, void *slot,
                    verani_verr *verr)
{
    const char *s = plain_string(v);
    size_t n = s ? strlen(s) : 0;
    json_error_t jerr;
    json_t *num;
    double d;
    int ok;

    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (s && !strcmp(s, "NaN")) {
        d = NAN;
    } else if (s && !strcmp(s, "Infinity")) {
        d = INFINITY;
    } else if (s && !strcmp(s, "-Infinity")) {
        d = -INFINITY;
    } else if (n && strspn(s, "0123456789+-.eE") == n) {
        /* as a real: an integer past int64 ("100000000000000000000") is a number here */
        num = json_loadb(s, n, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &jerr);
        if (!num && json_error_code(&jerr) == json_error_out_of_memory)
            return VERANI_ENOMEM;
        d = json_number_value(num); /* 0 for NULL or not a number */
        ok = json_is_number(num);
        json_decref(num);
        if (!ok)
            return verani_verr_fail(verr, NULL, "is not a number");
    } else {
        return verani_verr_fail(verr, NULL, "is not a number");
    }
    if (f->type == PROTOBUF_C_TYPE_DOUBLE) {
        *(double *)slot = d;
        return 0;
    }
    /* past FLT_MAX by half an ulp or more, the value would round to an infinity */
    if (isfinite(d) && !(d < 0x1.ffffffp127 && d > -0x1.ffffffp127))
        return verani_verr_fail(verr, NULL, "is out of range for float");
    *(float *)slot = (float)d;
    return 0;
}

/* An enum: a value's name, or an integer that is one of its values. */
static int dec_enum(const ProtobufCFieldDescriptor *f, const json_t *v, void *slot,
                    verani_verr *verr)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    const ProtobufCEnumValue *ev = NULL;
    const char *s;
    uint64_t mag;
    int neg;

    if ((s = plain_string(v)))
        ev = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
    else if (json_is_number(v) && get_int(v, &neg, &mag) == INT_OK &&
             mag <= (neg ? UINT64_C(2147483648) : INT32_MAX))
        ev = protobuf_c_enum_descriptor_get_value(ed, neg ? (int)-(int64_t)mag : (int)mag);
    if (!ev)
        return verani_verr_fail(verr, NULL, "is not a value of %s", ed->short_name);
    *(int32_t *)slot = ev->value;
    return 0;
}

/* Is `c` a base64 digit, standard (+/) or URL-safe (-_)? */
static int b64_digit(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '-' || c == '/' || c == '_';
}

/* Bytes from base64, standard or URL-safe, padded or not (a padded text is a whole number
 * of 4-digit groups), checked here and decoded by libwebsockets' decoder. */
static int dec_bytes(const json_t *v, ProtobufCBinaryData *bd, verani_verr *verr)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v), pad = 0, i, room;
    int got;

    while (s && pad < 2 && n > pad && s[n - 1 - pad] == '=')
        pad++;
    if (!s || (pad && n % 4) || (n - pad) % 4 == 1 || n > INT_MAX / 2)
        return verani_verr_fail(verr, NULL, "is not valid base64");
    n -= pad;
    for (i = 0; i < n; i++)
        if (!b64_digit((unsigned char)s[i]))
            return verani_verr_fail(verr, NULL, "is not valid base64");
    bd->len = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    bd->data = NULL;
    if (!bd->len)
        return 0;
    /* libwebsockets' decoder wants room for whole 3-byte groups and a NUL after them */
    room = (n + 3) / 4 * 3 + 2;
    if (!(bd->data = vr_malloc(room)))
        return VERANI_ENOMEM;
    got = lws_b64_decode_string_len(s, (int)n, (char *)bd->data, (int)room);
    if (got != (int)bd->len)
        return verani_verr_fail(verr, NULL, "is not valid base64");
    return 0;
}

/* --- messages ------------------------------------------------------------- */

static int dec_message(ProtobufCMessage *m, const json_t *obj, int depth, verani_verr *verr);

/* A message with its defaults, from the allocator protobuf-c's unpack would use. */
static ProtobufCMessage *new_message(const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = vr_malloc(desc->sizeof_message);

    if (m)
        protobuf_c_message_init(desc, m);
    return m;
}

/*
 * One value of field `f` (a plain field's member or an element of a repeated one) into
 * `slot`, in a message at `depth`. What it allocates is in `slot` at once, so the message
 * tree frees it whatever happens next. VERANI_EINVAL leaves a path relative to the value in
 * `verr` ("" for a scalar), for the caller to prefix with the field.
 */
static int dec_value(const ProtobufCFieldDescriptor *f, const json_t *v, void *slot, int depth,
                     verani_verr *verr)
{
    ProtobufCMessage *sub;
    const char *s;

    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return dec_real(f, v, slot, verr);
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return verani_verr_fail(verr, NULL, "is not a boolean");
        *(protobuf_c_boolean *)slot = json_is_true(v);
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        return dec_enum(f, v, slot, verr);
    case PROTOBUF_C_TYPE_STRING:
        if (!json_is_string(v))
            return verani_verr_fail(verr, NULL, "is not a string");
        if (!(s = plain_string(v)))
            return verani_verr_fail(verr, NULL, "holds a NUL character");
        return (*(char **)slot = vr_strndup(s, json_string_length(v))) ? 0 : VERANI_ENOMEM;
    case PROTOBUF_C_TYPE_BYTES:
        return dec_bytes(v, slot, verr);
    case PROTOBUF_C_TYPE_MESSAGE:
        if (!json_is_object(v))
            return verani_verr_fail(verr, NULL, "is not a JSON object");
        if (depth >= VR_JSON_MAX_DEPTH)
            return verani_verr_fail(verr, NULL, "nests deeper than %d", VR_JSON_MAX_DEPTH);
        if (!(sub = new_message(f->descriptor)))
            return VERANI_ENOMEM;
        *(ProtobufCMessage **)slot = sub;
        return dec_message(sub, v, depth + 1, verr);
    default:
        return dec_int(f, v, slot, verr);
    }
}

/* Does an optional field of type `t` have a has_ flag (strings and messages do not)? */
static int has_flag(ProtobufCType t)
{
    return t != PROTOBUF_C_TYPE_STRING && t != PROTOBUF_C_TYPE_MESSAGE;
}

/* A map<string, T> field from a JSON object: one entry per member, in the object's order. */
static int dec_map(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const json_t *v,
                   int depth, verani_verr *verr)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    ProtobufCMessage **arr, *e;
    size_t n, i = 0;
    void *it;
    int rc;

    if (!json_is_object(v))
        return verani_verr_fail(verr, f->name, "is not a JSON object");
    if (!(n = json_object_size(v)))
        return 0;
    if (!(arr = vr_calloc(n, sizeof(*arr))))
        return VERANI_ENOMEM;
    *(ProtobufCMessage ***)((char *)m + f->offset) = arr;
    *(size_t *)((char *)m + f->quantifier_offset) = n;
    for (it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
        if (!(arr[i] = e = new_message(ed)))
            return VERANI_ENOMEM;
        /* keys with NUL are refused by the parser, so the key is its C string */
        if (!(*(char **)((char *)e + kf->offset) = vr_strdup(json_object_iter_key(it))))
            return VERANI_ENOMEM;
        rc = dec_value(vf, json_object_iter_value(it), (char *)e + vf->offset, depth, verr);
        if (rc == VERANI_EINVAL) {
            verani_verr_nest(verr, "value", -1);
            return verani_verr_nest(verr, f->name, (long)i);
        }
        if (rc)
            return rc;
        if (vf->label == PROTOBUF_C_LABEL_OPTIONAL && has_flag(vf->type))
            *(protobuf_c_boolean *)((char *)e + vf->quantifier_offset) = 1;
        i++;
    }
    return 0;
}

/* A repeated field from a JSON array (a map from an object). */
static int dec_repeated(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                        const json_t *v, int depth, verani_verr *verr)
{
    size_t n, i, size = vr_json_elem_size(f->type);
    char *arr;
    int rc;

    if (vr_json_is_map(m->descriptor, f))
        return dec_map(m, f, v, depth, verr);
    if (!json_is_array(v))
        return verani_verr_fail(verr, f->name, "is not an array");
    if (!(n = json_array_size(v)))
        return 0;
    /* zeroed elements free as nothing, should a later one fail */
    if (!(arr = vr_calloc(n, size)))
        return VERANI_ENOMEM;
    *(void **)((char *)m + f->offset) = arr;
    *(size_t *)((char *)m + f->quantifier_offset) = n;
    for (i = 0; i < n; i++) {
        rc = dec_value(f, json_array_get(v, i), arr + i * size, depth, verr);
        if (rc == VERANI_EINVAL)
            return verani_verr_nest(verr, f->name, (long)i);
        if (rc)
            return rc;
    }
    return 0;
}

/* The fields of `m` (at `depth`) from the members of `obj`, each under its schema name or its
 * lowerCamelCase form; other members are ignored. */
/* A plain string field (proto2's required) left out, or given as null, is "": on the binary
 * wire protobuf-c refuses a payload without one, so a handler never sees it NULL there, and
 * may rely on that (schema/README.md: "never absent"). */
static int fill_strings(ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    unsigned i;

    for (i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char **slot = (char **)((char *)m + f->offset);

        if (f->label == PROTOBUF_C_LABEL_REQUIRED && f->type == PROTOBUF_C_TYPE_STRING &&
            !*slot && !(*slot = vr_strdup("")))
            return VERANI_ENOMEM;
    }
    return 0;
}

static int dec_message(ProtobufCMessage *m, const json_t *obj, int depth, verani_verr *verr)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const ProtobufCFieldDescriptor *f;
    const json_t *v, *alt;
    unsigned i;
    int rc;

    if (!json_object_size(obj))
        return fill_strings(m);
    for (i = 0; i < d->n_fields; i++) {
        f = &d->fields[i];
        v = json_object_get(obj, f->name);
        alt = member_camel(obj, f->name);
        if (json_is_null(v))
            v = NULL;
        if (json_is_null(alt))
            alt = NULL;
        if (v && alt)
            return verani_verr_fail(verr, f->name, "is given under both of its names");
        if (!v && !(v = alt))
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if ((rc = dec_repeated(m, f, v, depth, verr)))
                return rc;
            continue;
        }
        rc = dec_value(f, v, (char *)m + f->offset, depth, verr);
        if (rc == VERANI_EINVAL)
            return verani_verr_nest(verr, f->name, -1);
        if (rc)
            return rc;
        if (f->label == PROTOBUF_C_LABEL_OPTIONAL && has_flag(f->type))
            *(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
    }
    return fill_strings(m);
}

int vr_json_payload_decode(const vr_jframe *f, const ProtobufCMessageDescriptor *desc,
                           verani_validate_fn validate, ProtobufCMessage **out,
                           verani_verr *verr)
{
    const json_t *data = f->data;
    ProtobufCMessage *msg;
    int rc = 0;

    *out = NULL;
    memset(verr, 0, sizeof(*verr));
    if (!desc)
        return 0;
    if (data && !json_is_object(data))
        return verani_verr_fail(verr, "", "is not a JSON object");
    if (!(msg = new_message(desc)))
        return VERANI_ENOMEM;
    rc = data ? dec_message(msg, data, 1, verr) : fill_strings(msg);
    if (!rc && validate && validate(msg, verr) != 0)
        rc = VERANI_EINVAL;
    if (rc) {
        protobuf_c_message_free_unpacked(msg, &vr_pb_allocator);
        if (rc != VERANI_EINVAL)
            memset(verr, 0, sizeof(*verr));
        return rc;
    }
    *out = msg;
    return 0;
}
