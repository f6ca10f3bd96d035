/* SPDX-License-Identifier: MIT */
/*
 * envelope_fast.c: the Envelopes of the hot path coded by hand: what a client
 * sends per event (kind, event, payload, request_id) decoded in place, and
 * what the server sends per event or reply (the same fields, seq and channel)
 * encoded around a payload packed once, straight into the frame. protobuf-c
 * walks the descriptor, allocates and copies the payload on both ways; under
 * callgrind that was about a third of a typed echo's instructions
 * (bench/RESULTS.md). Anything else (HELLO, WELCOME, ERROR, a field twice,
 * an unknown field, an unusual encoding) is left to protobuf-c, so that what
 * is accepted and what it means never differ from it: test_wire and
 * fuzz_wire compare the two on every input.
 */
#include <string.h>

#include "wire-private.h"

/* Envelope's keys: field number << 3 | wire type (0 varint, 2 length-delimited). */
enum {
    K_KIND = 0x08,
    K_EVENT = 0x10,
    K_CHANNEL = 0x1a,
    K_PAYLOAD = 0x22,
    K_REQUEST_ID = 0x28,
    K_SEQ = 0x30,
};

/* A varint of at most `max` bytes (at most 9, so that no bit is lost) from p[0..end); the
 * bytes it took, or 0 when it is longer, truncated or not minimal in its last byte. */
static size_t get_varint(const uint8_t *p, const uint8_t *end, size_t max, uint64_t *v)
{
    uint64_t x = 0;
    size_t i;

    for (i = 0; i < max && p + i < end; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (i && !p[i])
                return 0; /* a padded varint: protobuf-c decides what it means */
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

int vr_wire_decode_fast(const uint8_t *buf, size_t len, vr_envelope *st)
{
    const uint8_t *p = buf, *end = buf + len;
    unsigned seen = 0;

    *st = (vr_envelope)VERANI__WIRE__ENVELOPE__INIT;
    while (p < end) {
        uint8_t key = *p++;
        unsigned bit = 1u << (key >> 3);
        uint64_t v;
        size_t n;

        if (seen & bit)
            return 0; /* a field twice: protobuf-c merges */
        seen |= bit;
        switch (key) {
        case K_KIND: /* an enum: one byte holds every known kind */
            if (p >= end || *p >= 0x80)
                return 0;
            st->has_kind = 1;
            st->kind = (Verani__Wire__Kind)*p++;
            break;
        case K_EVENT:
            if (!(n = get_varint(p, end, 5, &v)) || v > UINT32_MAX)
                return 0;
            st->has_event = 1;
            st->event = (uint32_t)v;
            p += n;
            break;
        case K_PAYLOAD:
            if (!(n = get_varint(p, end, 5, &v)) || v > (uint64_t)(end - p - (ptrdiff_t)n))
                return 0;
            p += n;
            st->has_payload = 1;
            st->payload.data = (uint8_t *)p; /* borrowed from `buf` */
            st->payload.len = (size_t)v;
            p += v;
            break;
        case K_REQUEST_ID:
        case K_SEQ:
            if (!(n = get_varint(p, end, 9, &v)))
                return 0;
            if (key == K_SEQ) {
                st->has_seq = 1;
                st->seq = v;
            } else {
                st->has_request_id = 1;
                st->request_id = v;
            }
            p += n;
            break;
        default:
            return 0; /* channel, hello, welcome, error, unknown, a long key */
        }
    }
    return 1;
}

/* Can the envelope be written by hand: its fields are among kind, event, channel, payload,
 * request_id and seq (a kind protobuf-c writes as a 10-byte varint, a negative one, is
 * left to it too)? */
static int fast_encodable(const vr_envelope *env)
{
    return !env->hello && !env->welcome && !env->error && !env->base.n_unknown_fields &&
           (!env->has_kind || (int)env->kind >= 0); /* (the enum's type may be unsigned) */
}

/* The bytes vr_wire_encode_fast writes for `env` (fast_encodable) with a payload of `plen`
 * bytes when `payload`, a channel of `clen`; sizes in protobuf-c's order, by field number. */
static size_t fast_size(const vr_envelope *env, int payload, size_t plen, size_t clen)
{
    size_t n = 0;

    n += env->has_kind ? 1 + vr_varint_len((uint64_t)env->kind) : 0;
    n += env->has_event ? 1 + vr_varint_len(env->event) : 0;
    n += env->channel ? 1 + vr_varint_len(clen) + clen : 0;
    n += payload ? 1 + vr_varint_len(plen) + plen : 0;
    n += env->has_request_id ? 1 + vr_varint_len(env->request_id) : 0;
    n += env->has_seq ? 1 + vr_varint_len(env->seq) : 0;
    return n;
}

int vr_wire_size_fast(const vr_envelope *env, size_t *n)
{
    if (!fast_encodable(env))
        return 1;
    *n = fast_size(env, env->has_payload, env->has_payload ? env->payload.len : 0,
                   env->channel ? strlen(env->channel) : 0);
    return 0;
}

int vr_wire_encode_fast(vr_envelope *env, const ProtobufCMessage *msg, vr_wire_alloc_fn alloc,
                        void *arg)
{
    size_t plen = 0, clen = 0, n;
    uint8_t *out;
    int payload = msg || env->has_payload;

    if (!fast_encodable(env))
        return 1;
    if (msg) { /* as vr_wire_encode leaves it: the length kept, the bytes not */
        plen = protobuf_c_message_get_packed_size(msg);
        env->has_payload = 1;
        env->payload.len = plen;
        env->payload.data = NULL;
    } else if (env->has_payload) {
        plen = env->payload.len;
    }
    if (env->channel)
        clen = strlen(env->channel);
    n = fast_size(env, payload, plen, clen);
    if (!(out = alloc(n, arg)))
        return VERANI_ENOMEM;
    n = 0;
    if (env->has_kind) {
        out[n++] = K_KIND;
        n += vr_varint_put(out + n, (uint64_t)env->kind);
    }
    if (env->has_event) {
        out[n++] = K_EVENT;
        n += vr_varint_put(out + n, env->event);
    }
    if (env->channel) {
        out[n++] = K_CHANNEL;
        n += vr_varint_put(out + n, clen);
        memcpy(out + n, env->channel, clen);
        n += clen;
    }
    if (payload) {
        out[n++] = K_PAYLOAD;
        n += vr_varint_put(out + n, plen);
        if (msg)
            protobuf_c_message_pack(msg, out + n); /* straight into the frame */
        else if (plen)
            memcpy(out + n, env->payload.data, plen);
        n += plen;
    }
    if (env->has_request_id) {
        out[n++] = K_REQUEST_ID;
        n += vr_varint_put(out + n, env->request_id);
    }
    if (env->has_seq) {
        out[n++] = K_SEQ;
        vr_varint_put(out + n, env->seq);
    }
    return 0;
}
