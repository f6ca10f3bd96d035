/* SPDX-License-Identifier: MIT */
/*
 * wire.c: the Verani-C wire layer: Envelope decode and encode through
 * protobuf-c (with the runtime allocator), the `seq` prefix that lets a
 * fanned-out frame be encoded once, and the one piece of WebSocket framing
 * the runtime owns: the 2-10 byte header of server->client frames written
 * with LWS_WRITE_RAW (server frames are never masked, and no extension is
 * ever negotiated, so the header is all there is). Parsing of incoming
 * WebSocket frames is libwebsockets' job, not this file's.
 */
#include <string.h>

#include <verani/common.h>

#include "core/core-private.h"
#include "wire-private.h"

static int kind_known(const vr_envelope *env, const char **why)
{
    if (env->has_kind && env->kind > VERANI__WIRE__KIND__KIND_UNSPECIFIED &&
        env->kind <= VERANI__WIRE__KIND__LEAVE)
        return 1;
    if (why)
        *why = "the Envelope has no known kind";
    return 0;
}

int vr_wire_decode(const uint8_t *buf, size_t len, vr_envelope **out, const char **why)
{
    vr_envelope *env;

    *out = NULL;
    env = vr_wire_unpack(buf, len);
    if (!env) {
        if (why)
            *why = "the message is not a protobuf Envelope";
        return VERANI_EPROTO;
    }
    if (!kind_known(env, why)) {
        verani__wire__envelope__free_unpacked(env, &vr_pb_allocator);
        return VERANI_EPROTO;
    }
    *out = env;
    return 0;
}

int vr_wire_decode_in(const uint8_t *buf, size_t len, vr_envelope *st, vr_envelope **out,
                      const char **why)
{
    if (!vr_wire_decode_fast(buf, len, st))
        return vr_wire_decode(buf, len, out, why);
    *out = NULL;
    if (!kind_known(st, why))
        return VERANI_EPROTO;
    *out = st;
    return 0;
}

void vr_wire_done(vr_envelope *env, const vr_envelope *st)
{
    if (env != st)
        vr_wire_free(env);
}

vr_envelope *vr_wire_unpack(const uint8_t *buf, size_t len)
{
    return verani__wire__envelope__unpack(&vr_pb_allocator, len, buf);
}

int vr_wire_channel_has_nul(const uint8_t *buf, size_t len)
{
    Verani__Wire__ChannelBytes *c = verani__wire__channel_bytes__unpack(&vr_pb_allocator, len,
                                                                         buf);
    int r = c && c->has_channel && c->channel.len &&
            memchr(c->channel.data, 0, c->channel.len) != NULL;

    if (c)
        verani__wire__channel_bytes__free_unpacked(c, &vr_pb_allocator);
    return r;
}

void vr_wire_free(vr_envelope *env)
{
    if (env)
        verani__wire__envelope__free_unpacked(env, &vr_pb_allocator);
}

size_t vr_wire_size(const vr_envelope *env)
{
    size_t n;

    /* the fields of the hot path summed by hand (a reply's size is asked before its
     * frame is made): protobuf-c's walk of the descriptor cost ~400 instructions */
    if (!vr_wire_size_fast(env, &n))
        return n;
    return verani__wire__envelope__get_packed_size(env);
}

size_t vr_wire_pack(const vr_envelope *env, uint8_t *out)
{
    return verani__wire__envelope__pack(env, out);
}

size_t vr_wire_seq_prefix(uint8_t out[VR_WIRE_SEQ_PREFIX_MAX], uint64_t seq)
{
    /* Envelope's `seq` (field 6, a varint: key 6 << 3 = 0x30) written by hand: it is made
     * once per delivery, and protobuf-c's pack of a one-field message (SeqPrefix, the same
     * bytes: test_wire) took about 140 instructions of it (bench/RESULTS.md). */
    if (!seq)
        return 0;
    out[0] = 0x30;
    return 1 + vr_varint_put(out + 1, seq);
}

size_t vr_wire_ws_header(uint8_t out[VR_WS_HEADER_MAX], uint64_t payload_len)
{
    int i;

    out[0] = 0x82; /* FIN | binary */
    if (payload_len < 126) {
        out[1] = (uint8_t)payload_len;
        return 2;
    }
    if (payload_len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        return 4;
    }
    out[1] = 127;
    for (i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    return 10;
}

const char *vr_wire_kind_name(int kind)
{
    static const char *const names[] = {"UNSPECIFIED", "HELLO", "WELCOME", "EVENT", "REQUEST",
                                        "REPLY", "ERROR", "PING", "PONG", "JOIN", "LEAVE"};

    if (kind < 0 || kind >= (int)(sizeof(names) / sizeof(names[0])))
        return "UNKNOWN";
    return names[kind];
}

const char *vr_wire_error_name(int code)
{
    static const char *const names[] = {"ERROR_NONE", "BAD_FRAME", "UNKNOWN_EVENT",
                                        "INVALID_PAYLOAD", "RATE_LIMITED", "HANDLER_FAILED",
                                        "JOIN_DENIED", "NOT_JOINED", "SCHEMA_MISMATCH",
                                        "PROTOCOL", "NO_HANDLER", "TOO_LARGE"};

    if (code < 0 || code >= (int)(sizeof(names) / sizeof(names[0])))
        return "UNKNOWN";
    return names[code];
}
