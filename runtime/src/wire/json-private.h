/* SPDX-License-Identifier: MIT */
/*
 * json-private.h: the Verani JSON wire's codec (issue 19), the text frames
 * Verani's own JavaScript client speaks, {"type": string, "channel"?: string,
 * "data"?: any}: parsing a frame with Verani's validity rule and decoding its
 * `data` into a schema's protobuf-c message (json_in.c), and writing a
 * message as JSON object members and whole server event frames (json_out.c).
 * `data` maps to the message in the proto3 JSON mapping, driven by the
 * ProtobufCMessageDescriptor alone: lowerCamelCase names out (both forms in),
 * enums by name, bytes as base64, 64-bit integers past 2^53 - 1 as strings,
 * NaN and the infinities as strings, map<string, T> as objects. veranic has
 * no oneofs and only string map keys: oneofs are not handled, and a map with
 * other keys goes as an array of its entries. Like the rest of wire/ it is
 * pure: no sockets, no sessions, no state (jansson's only global, its hash
 * seed, is set once, atomically), so any thread may call it; what a failure
 * means to the peer is the caller's to say.
 *
 * The parser is jansson (Debian's libjansson-dev 2.14), chosen over libwebsockets' LEJP and
 * cJSON: it keeps 64-bit integers exact (cJSON reads every number as a double), parses strictly
 * (RFC 8259, UTF-8 checked, depth bounded), and its small tree makes "either name form in" and
 * "unknown keys ignored" a lookup, where LEJP hands strings over in 254-byte pieces, stops at
 * 12 levels and would need a hand-written state machine per nesting level. Its cost is one
 * allocation per value; the output side needs no parser and writes straight into a vr_sb.
 */
#ifndef VERANI_JSON_PRIVATE_H
#define VERANI_JSON_PRIVATE_H

#include <stddef.h>
#include <string.h>

#include <verani/gen.h>

#include "core/core-private.h"

/* Messages nest at most this deep in decoded `data` (the top-level message is depth 1). */
#define VR_JSON_MAX_DEPTH 32

/* One parsed text frame; the strings are borrowed from the parsed tree. */
typedef struct vr_jframe {
    const char *type;     /* the frame's "type" */
    const char *channel;  /* its "channel", NULL when absent */
    void *root;           /* private: the jansson tree */
    void *data;           /* private: the "data" member, NULL when absent or null */
} vr_jframe;

/*
 * Parse one text frame with Verani's validity rule: a JSON object whose "type" is a string and
 * whose "channel" is absent or a string ("data" may be anything). Returns 0 and fills *f (free
 * it with vr_json_frame_free), or VERANI_EPROTO with *why (when given) a static sentence for
 * the peer ("the frame is not JSON", "the frame has no string \"type\"", ...). A "type" or
 * "channel" holding a NUL (\u0000) is VERANI_EPROTO too. VERANI_ENOMEM when out of memory.
 */
int vr_json_frame_parse(const char *text, size_t len, vr_jframe *f, const char **why);
/* Free what vr_json_frame_parse made; *f is zeroed. A zeroed frame may be freed. */
void vr_json_frame_free(vr_jframe *f);

/* A string member of the frame's data object ("channel" of
 * {"type":"channel.join","data":{"channel":"x"}}); NULL when data is not an object or the
 * member is not a string without NUL. Borrowed from the frame. */
const char *vr_json_frame_data_string(const vr_jframe *f, const char *key);

/*
 * Decode the frame's data as a `desc` message (allocated like protobuf_c_message_unpack with
 * vr_pb_allocator, so vr_wire_payload_free frees it), then run `validate` (NULL: none) on it.
 * `desc` NULL: returns 0 with *out NULL, data ignored. Data absent or null: an empty message
 * (all defaults). Keys match a field's schema name or its lowerCamelCase form; unknown keys
 * are ignored; a null member is an absent field; absent fields keep their defaults, required
 * ones too. Returns 0 with *out set, VERANI_ENOMEM (nothing allocated is left), or
 * VERANI_EINVAL with the field path (as the generated validators write it: "players[3].name")
 * in verr->path and the reason ("is not a string", "is out of range for int32", "is not a
 * value of Color", "nests deeper than 32", "is not a JSON object" with an empty path for data
 * that is not an object, ...) in verr->reason.
 */
int vr_json_payload_decode(const vr_jframe *f, const ProtobufCMessageDescriptor *desc,
                           verani_validate_fn validate, ProtobufCMessage **out,
                           verani_verr *verr);

/*
 * Append the fields of `msg` (NULL: none) as JSON object members, without braces, each
 * preceded by a comma when `comma` is set or a member was already written. Names are
 * lowerCamelCase, in field-number order; required fields are always written, optional ones
 * when present, repeated ones always (maps as objects). Returns how many members were
 * written; an allocation failure sticks in sb->failed.
 */
size_t vr_json_members(vr_sb *sb, const ProtobufCMessage *msg, int comma);

/*
 * Append one server event frame:
 * {"type":"event","channel":<channel>,"data":{"type":<name>,<members of msg>}}
 * (msg NULL: "data" is {"type":<name>}). Returns 0, or VERANI_ENOMEM when sb->failed.
 */
int vr_json_event(vr_sb *sb, const char *channel, const char *name, const ProtobufCMessage *msg);

/*
 * Is repeated field `f` of message `parent` a map<string, T>? protobuf-c keeps no map flag, so
 * this checks the shape protoc gives every map entry: a message nested in `parent`, named after
 * the field in UpperCamelCase plus "Entry" (`by_name` -> ByNameEntry), with exactly the fields
 * `key` = 1 (a string here) and `value` = 2.
 */
static inline int vr_json_is_map(const ProtobufCMessageDescriptor *parent,
                                 const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *e = f->descriptor;
    const char *p, *s;
    size_t pl;
    int up = 1;

    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE ||
        e->n_fields != 2 || e->fields[0].id != 1 || e->fields[1].id != 2 ||
        e->fields[0].type != PROTOBUF_C_TYPE_STRING || strcmp(e->fields[0].name, "key") != 0 ||
        strcmp(e->fields[1].name, "value") != 0)
        return 0;
    pl = strlen(parent->name);
    if (strncmp(e->name, parent->name, pl) != 0 || e->name[pl] != '.' ||
        strcmp(e->name + pl + 1, e->short_name) != 0)
        return 0;
    for (p = f->name, s = e->short_name; *p; p++) {
        if (*p == '_') {
            up = 1;
            continue;
        }
        if (*s++ != (up && *p >= 'a' && *p <= 'z' ? *p - 32 : *p))
            return 0;
        up = 0;
    }
    return strcmp(s, "Entry") == 0;
}

/* The size of one element of a repeated field of type `t`, as protobuf-c lays arrays out. */
static inline size_t vr_json_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

#endif /* VERANI_JSON_PRIVATE_H */
