/* SPDX-License-Identifier: MIT */
/*
 * wire-private.h: the wire layer (runtime/src/wire/), the only place that
 * packs and unpacks Envelopes and payloads, for the server, the client and
 * the HTTP API alike: the protobuf Envelope of wire/envelope.proto (wire.c),
 * the payloads of a schema's events with their generated validation
 * (payload.c), the per-frame `seq` prefix that precedes a shared encoded body,
 * and the server->client WebSocket frame header written in front of frames
 * sent with LWS_WRITE_RAW. It knows nothing of sockets or sessions; every
 * function is pure and can be tested and fuzzed without a network.
 * PROTOCOL.md documents the bytes.
 */
#ifndef VERANI_WIRE_PRIVATE_H
#define VERANI_WIRE_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <verani/gen.h>

#include "envelope.pb-c.h"

typedef Verani__Wire__Envelope vr_envelope;

#define VR_WIRE_PROTOCOL 1

/* A graceful stop closes with 1012 and this reason. libwebsockets 4.1's parser hands a client
 * 1012 as 1002 (it predates the code's registration); the C client recognises the server's
 * 1012 by the reason (PROTOCOL.md section 7). */
#define VR_CLOSE_RESTART_REASON "server restarting"

/* The longest ?hello= of an upgrade, the HELLO folded into it (PROTOCOL.md section 3): a
 * Hello message in base64url, without padding. */
#define VR_FOLDED_HELLO_MAX 512

/* The most bytes vr_wire_seq_prefix and vr_wire_ws_header write. */
#define VR_WIRE_SEQ_PREFIX_MAX 11
#define VR_WS_HEADER_MAX 10

/*
 * Decode one binary WebSocket message into an Envelope allocated with the
 * runtime allocator. Returns 0 and sets *out (free it with vr_wire_free), or
 * VERANI_EPROTO when the bytes are not an Envelope or carry no known `kind`;
 * then `why` (when given) points at a static sentence for the peer.
 */
int vr_wire_decode(const uint8_t *buf, size_t len, vr_envelope **out, const char **why);
/*
 * The same, decoded in place into `st` when the Envelope is one of the hot
 * path's (envelope_fast.c: kind, event, payload, request_id, seq, each once),
 * with its payload borrowed from `buf`; else as vr_wire_decode. *out is `st`
 * or an allocation: vr_wire_done(*out, st) after, while `buf` is still there.
 */
int vr_wire_decode_in(const uint8_t *buf, size_t len, vr_envelope *st, vr_envelope **out,
                      const char **why);
void vr_wire_done(vr_envelope *env, const vr_envelope *st);
/* envelope_fast.c: 1 when `buf` was decoded into `st` (payload borrowed), 0 when it is not
 * an Envelope of the hot path (`st` is then not to be read); no check of `kind`. */
int vr_wire_decode_fast(const uint8_t *buf, size_t len, vr_envelope *st);
/* The same without the check of `kind` (the client reports an unknown kind itself); NULL when
 * the bytes are not an Envelope. */
vr_envelope *vr_wire_unpack(const uint8_t *buf, size_t len);
void vr_wire_free(vr_envelope *env);
/* Does the Envelope encoded in `buf` carry a `channel` with a NUL byte in it (which the decoded
 * envelope's C string hides: "ab\0cd" reads as "ab")? A second decode: for JOIN and LEAVE. */
int vr_wire_channel_has_nul(const uint8_t *buf, size_t len);

/* The Envelope's encoded size, and the encoding itself into `out` (which
 * holds at least vr_wire_size(env) bytes); returns the bytes written. */
size_t vr_wire_size(const vr_envelope *env);
size_t vr_wire_pack(const vr_envelope *env, uint8_t *out);

/*
 * The per-session prefix: an Envelope holding only `seq` (field 6, varint:
 * key 0x30, then the varint), written by hand. Because protobuf merges
 * concatenated encodings, the bytes prefix + body decode as body with `seq`
 * set. Writes 0 bytes for seq 0.
 */
size_t vr_wire_seq_prefix(uint8_t out[VR_WIRE_SEQ_PREFIX_MAX], uint64_t seq);
/* `v` as a protobuf varint at `out`, and the bytes that takes (envelope_fast.c, the seq
 * prefix). */
static inline size_t vr_varint_put(uint8_t *out, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}
static inline size_t vr_varint_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}
/* The bytes vr_wire_seq_prefix writes for `seq` (0 for 0), without writing them. */
static inline size_t vr_wire_seq_prefix_len(uint64_t seq)
{
    return seq ? 1 + vr_varint_len(seq) : 0;
}

/*
 * A server->client WebSocket frame header (RFC 6455 section 5.2): FIN set,
 * opcode binary (0x2), no mask, and the 7-bit, 16-bit or 64-bit length form
 * for `payload_len`. Returns its length: 2, 4 or 10.
 */
size_t vr_wire_ws_header(uint8_t out[VR_WS_HEADER_MAX], uint64_t payload_len);

/* --- payloads (payload.c) --- */

/*
 * Unpack the `len` bytes at `data` as a `desc` message with the runtime allocator and run
 * `validate` (NULL: none) on it. Returns 0 with *out set (free it with vr_wire_payload_free;
 * NULL when `desc` is NULL: an event without payload), VERANI_EPROTO when the bytes are not
 * a `desc`, or VERANI_EINVAL when the validator refuses it (`verr` says which field, why).
 */
int vr_wire_payload_decode(const ProtobufCMessageDescriptor *desc, verani_validate_fn validate,
                           const uint8_t *data, size_t len, ProtobufCMessage **out,
                           verani_verr *verr);
/* The same with the allocator `pa` (what it allocates is its own to free, then: the server
 * unpacks into its handler context's scratch memory, freed as one). */
int vr_wire_payload_decode_with(const ProtobufCMessageDescriptor *desc,
                                verani_validate_fn validate, const uint8_t *data, size_t len,
                                ProtobufCAllocator *pa, ProtobufCMessage **out,
                                verani_verr *verr);
/* The same on the payload of a decoded Envelope (none when it has no `payload`). */
int vr_wire_event_decode(const vr_envelope *env, const ProtobufCMessageDescriptor *desc,
                         verani_validate_fn validate, ProtobufCMessage **out, verani_verr *verr);
void vr_wire_payload_free(ProtobufCMessage *msg);

/* Memory for an encoded Envelope of `len` bytes, from the caller's frame type (a server
 * frame, a client frame); NULL when out of memory. */
typedef uint8_t *(*vr_wire_alloc_fn)(size_t len, void *arg);

/* The encoded size of `env` once `msg` (NULL: none) is its payload; sets env->has_payload
 * and env->payload.len, packs nothing. */
size_t vr_wire_size_with(vr_envelope *env, const ProtobufCMessage *msg);

/*
 * Encode `env`, with `msg` packed as its payload (NULL: `env` as it is), into memory from
 * `alloc(size, arg)`. Returns 0, or VERANI_ENOMEM. With `msg`, env->has_payload and
 * env->payload.len stay set and env->payload.data is NULL after. No validation here: the
 * sender checks what it sends (emit, reply) where it can say why.
 */
int vr_wire_encode(vr_envelope *env, const ProtobufCMessage *msg, vr_wire_alloc_fn alloc,
                   void *arg);
/* envelope_fast.c: vr_wire_encode by hand (the same bytes) when `env` has no hello, welcome,
 * error or unknown field; 1 when it has (nothing done), else vr_wire_encode's result. */
int vr_wire_encode_fast(vr_envelope *env, const ProtobufCMessage *msg, vr_wire_alloc_fn alloc,
                        void *arg);
/* envelope_fast.c: vr_wire_size by hand for the same envelopes (its payload as it stands:
 * has_payload and payload.len), into *n; 1 when it cannot (nothing done), else 0. */
int vr_wire_size_fast(const vr_envelope *env, size_t *n);

/* The name of a Kind / ErrorCode value for logs ("EVENT", "BAD_FRAME"). */
const char *vr_wire_kind_name(int kind);
const char *vr_wire_error_name(int code);

#endif /* VERANI_WIRE_PRIVATE_H */
