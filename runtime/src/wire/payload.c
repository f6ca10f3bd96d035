/* SPDX-License-Identifier: MIT */
/*
 * payload.c: the schema's payloads on the wire, one way for the server, the
 * client and the HTTP API alike: finding an event by id in a room's sorted
 * table (verani_event_find), unpacking a payload and running the generated
 * validator on it (vr_wire_payload_decode), and encoding an Envelope with a
 * payload into memory the caller's frame type provides (vr_wire_encode).
 * What a failure means to the peer (an ERROR frame, a 400, a dropped event)
 * is the caller's to say; these only report which failure it was.
 */
#include <string.h>

#include "core/core-private.h"
#include "wire-private.h"

VERANI_API const verani_event_def *verani_event_find(const verani_event_def *table, size_t n,
                                                     uint32_t id)
{
    size_t lo = 0, hi = n;
    if (table == NULL)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (table[mid].id == id)
            return &table[mid];
        if (table[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int vr_wire_payload_decode_with(const ProtobufCMessageDescriptor *desc,
                                verani_validate_fn validate, const uint8_t *data, size_t len,
                                ProtobufCAllocator *pa, ProtobufCMessage **out,
                                verani_verr *verr)
{
    ProtobufCMessage *msg;

    *out = NULL;
    memset(verr, 0, sizeof(*verr));
    if (!desc)
        return 0;
    msg = protobuf_c_message_unpack(desc, pa, len, data);
    if (!msg)
        return VERANI_EPROTO;
    if (validate && validate(msg, verr) != 0) {
        protobuf_c_message_free_unpacked(msg, pa);
        return VERANI_EINVAL;
    }
    *out = msg;
    return 0;
}

int vr_wire_payload_decode(const ProtobufCMessageDescriptor *desc, verani_validate_fn validate,
                           const uint8_t *data, size_t len, ProtobufCMessage **out,
                           verani_verr *verr)
{
    return vr_wire_payload_decode_with(desc, validate, data, len, &vr_pb_allocator, out, verr);
}

int vr_wire_event_decode(const vr_envelope *env, const ProtobufCMessageDescriptor *desc,
                         verani_validate_fn validate, ProtobufCMessage **out, verani_verr *verr)
{
    return vr_wire_payload_decode(desc, validate, env->has_payload ? env->payload.data : NULL,
                                  env->has_payload ? env->payload.len : 0, out, verr);
}

void vr_wire_payload_free(ProtobufCMessage *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked(msg, &vr_pb_allocator);
}

size_t vr_wire_size_with(vr_envelope *env, const ProtobufCMessage *msg)
{
    if (msg) {
        env->has_payload = 1;
        env->payload.len = protobuf_c_message_get_packed_size(msg);
    }
    return vr_wire_size(env);
}

int vr_wire_encode(vr_envelope *env, const ProtobufCMessage *msg, vr_wire_alloc_fn alloc,
                   void *arg)
{
    uint8_t small[512], *buf = small, *out;
    size_t n;
    int r = vr_wire_encode_fast(env, msg, alloc, arg);

    if (r != 1)
        return r; /* written by hand (envelope_fast.c), or out of memory */
    if (msg) {
        n = protobuf_c_message_get_packed_size(msg);
        if (n > sizeof(small) && !(buf = vr_malloc(n)))
            return VERANI_ENOMEM;
        env->has_payload = 1;
        env->payload.len = protobuf_c_message_pack(msg, buf);
        env->payload.data = buf;
    }
    n = vr_wire_size(env);
    out = alloc(n, arg);
    if (out)
        vr_wire_pack(env, out);
    if (msg)
        env->payload.data = NULL; /* `buf` goes now */
    if (buf != small)
        vr_free(buf);
    return out ? 0 : VERANI_ENOMEM;
}
