/* SPDX-License-Identifier: MIT */
/*
 * fuzz_wire.c: libFuzzer target for the runtime's wire layer (wire.c): any
 * bytes a peer sends go through vr_wire_decode, and through the hand-coded
 * decoder of envelope_fast.c, which must agree with it; whatever decodes is encoded
 * again, framed the way the server frames it (WebSocket header + seq prefix +
 * body) and decoded again, and what decodes must come back the same. The same
 * bytes are also read as an upgrade's `?hello=` (the folded HELLO: base64url,
 * then a Hello): what decodes must be the one encoding of its bytes. No
 * crash, no leak, no undefined behaviour, for any input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core-private.h"
#include "wire/wire-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The hand-coded decoder (envelope_fast.c) takes an input only when protobuf-c takes it too,
 * with the same value in every field; and vr_wire_decode_in answers as vr_wire_decode. */
static void check_fast(const uint8_t *data, size_t size)
{
    vr_envelope st, *pb, *in = NULL, *ref = NULL;
    int r_in, r_ref;

    if (vr_wire_decode_fast(data, size, &st)) {
        if (!(pb = vr_wire_unpack(data, size)))
            abort();
        if (pb->has_kind != st.has_kind || pb->kind != st.kind ||
            pb->has_event != st.has_event || pb->event != st.event ||
            pb->has_payload != st.has_payload || pb->payload.len != st.payload.len ||
            (st.payload.len && memcmp(pb->payload.data, st.payload.data, st.payload.len)) ||
            pb->has_request_id != st.has_request_id || pb->request_id != st.request_id ||
            pb->has_seq != st.has_seq || pb->seq != st.seq || pb->channel || pb->hello ||
            pb->welcome || pb->error || pb->base.n_unknown_fields)
            abort();
        vr_wire_free(pb);
    }
    r_in = vr_wire_decode_in(data, size, &st, &in, NULL);
    r_ref = vr_wire_decode(data, size, &ref, NULL);
    if (r_in != r_ref || (!r_in && (in->kind != ref->kind || in->event != ref->event ||
                                    in->request_id != ref->request_id)))
        abort();
    vr_wire_done(in, &st);
    vr_wire_free(ref);
}

/* The input as an upgrade's ?hello= (upgrade.c): base64url of at most VR_FOLDED_HELLO_MAX
 * characters, then a Hello. Whatever decodes encodes back to the very same text. */
static void check_folded_hello(const uint8_t *data, size_t size)
{
    uint8_t b[VR_FOLDED_HELLO_MAX / 4 * 3 + 2];
    char t[VR_FOLDED_HELLO_MAX + 1];
    Verani__Wire__Hello *h;
    long n;

    if (size > VR_FOLDED_HELLO_MAX)
        return;
    n = vr_b64url_decode(b, sizeof(b), (const char *)data, size);
    if (n < 0)
        return;
    if (vr_b64url_encode(t, sizeof(t), b, (size_t)n) != size || memcmp(t, data, size))
        abort();
    h = verani__wire__hello__unpack(&vr_pb_allocator, (size_t)n, b);
    if (h)
        verani__wire__hello__free_unpacked(h, &vr_pb_allocator);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vr_envelope *env = NULL, *again = NULL;
    uint8_t *buf, hdr[VR_WS_HEADER_MAX], prefix[VR_WIRE_SEQ_PREFIX_MAX];
    size_t n, p, h, seq = size * 7919u + 1;
    unsigned unknown;

    check_fast(data, size);
    check_folded_hello(data, size);
    if (vr_wire_decode(data, size, &env, NULL))
        return 0;
    env->has_seq = 0; /* the server's shared bodies never carry seq: the prefix does */
    /* Unknown fields are left out of the round trip: protobuf-c accepts an
     * overlong tag for field 0 ("81 00") on input but re-packs it as "01",
     * which it then refuses. The server never re-packs what a peer sent. */
    unknown = env->base.n_unknown_fields;
    env->base.n_unknown_fields = 0;
    n = vr_wire_size(env);
    p = vr_wire_seq_prefix(prefix, seq);
    buf = malloc(p + n + 1);
    if (!buf)
        abort();
    memcpy(buf, prefix, p);
    if (vr_wire_pack(env, buf + p) != n)
        abort();
    env->base.n_unknown_fields = unknown; /* so free_unpacked frees them */
    h = vr_wire_ws_header(hdr, p + n);
    if (h != (p + n < 126 ? 2u : p + n <= 0xffff ? 4u : 10u) || hdr[0] != 0x82)
        abort();
    /* protobuf-c may re-pack nested unknown fields into bytes it then refuses
     * (see above); when the bytes do decode, they must be the same envelope. */
    if (vr_wire_decode(buf, p + n, &again, NULL))
        goto out;
    if (again->kind != env->kind || !again->has_seq || again->seq != seq ||
        again->has_event != env->has_event || again->event != env->event ||
        again->payload.len != env->payload.len)
        abort();
    vr_wire_free(again);
out:
    vr_wire_free(env);
    free(buf);
    return 0;
}
