/* SPDX-License-Identifier: MIT */
/*
 * test_envelope_fast.c: the hand-coded Envelopes of the hot path
 * (wire/envelope_fast.c) against protobuf-c. What the fast decoder takes,
 * protobuf-c takes too, with the same value in every field; what it leaves
 * (a channel, a HELLO, a field twice, a padded or overlong varint, a
 * truncated payload, an unknown key) is decoded by protobuf-c through
 * vr_wire_decode_in with the same result as vr_wire_decode. What the fast
 * encoder writes is byte for byte what protobuf-c packs. fuzz_wire checks the
 * decoder the same way on any input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/core-private.h"
#include "wire/wire-private.h"

typedef struct bytes {
    const char *name;
    uint8_t b[24];
    size_t n;
} bytes;

#define B(name, ...) {name, {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})}

/* Every field of two Envelopes the fast path can hold. */
static void assert_same(const vr_envelope *a, const vr_envelope *b)
{
    assert_int_equal(a->has_kind, b->has_kind);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->has_event, b->has_event);
    assert_int_equal(a->event, b->event);
    assert_int_equal(a->has_payload, b->has_payload);
    assert_int_equal(a->payload.len, b->payload.len);
    if (a->payload.len)
        assert_memory_equal(a->payload.data, b->payload.data, a->payload.len);
    assert_int_equal(a->has_request_id, b->has_request_id);
    assert_true(a->request_id == b->request_id);
    assert_int_equal(a->has_seq, b->has_seq);
    assert_true(a->seq == b->seq);
    assert_null(b->channel);
    assert_null(b->hello);
    assert_null(b->welcome);
    assert_null(b->error);
}

static void test_decode_agrees(void **state)
{
    static const bytes in[] = {
        B("event", 0x08, 0x03, 0x10, 0x07, 0x22, 0x03, 'a', 'b', 'c'),
        B("request", 0x08, 0x04, 0x10, 0x01, 0x22, 0x00, 0x28, 0xff, 0xff, 0xff, 0xff, 0x0f),
        B("ping", 0x08, 0x07, 0x28, 0x05),
        B("fields in another order", 0x28, 0x09, 0x22, 0x01, 'z', 0x10, 0x02, 0x08, 0x03),
        B("seq", 0x08, 0x03, 0x30, 0x96, 0x01),
        B("largest event", 0x08, 0x03, 0x10, 0xff, 0xff, 0xff, 0xff, 0x0f),
        B("9-byte request id", 0x08, 0x04, 0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0x7f),
        B("kind 0", 0x08, 0x00),
        B("unknown kind", 0x08, 0x63),
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        vr_envelope st, *pb = vr_wire_unpack(in[i].b, in[i].n);

        print_message("%s\n", in[i].name);
        assert_int_equal(vr_wire_decode_fast(in[i].b, in[i].n, &st), 1);
        assert_non_null(pb);
        assert_same(pb, &st);
        vr_wire_free(pb);
    }
    {
        vr_envelope st;

        assert_int_equal(vr_wire_decode_fast((const uint8_t *)"", 0, &st), 1); /* empty */
        assert_int_equal(st.has_kind, 0);
    }
}

/* What the fast path leaves: vr_wire_decode_in answers as vr_wire_decode does. */
static void test_left_to_protobuf_c(void **state)
{
    static const bytes in[] = {
        B("join's channel", 0x08, 0x09, 0x1a, 0x01, 'x'),
        B("hello", 0x08, 0x01, 0x3a, 0x00),
        B("kind twice", 0x08, 0x03, 0x08, 0x04),
        B("padded varint", 0x08, 0x03, 0x10, 0x81, 0x00),
        B("10-byte request id", 0x08, 0x04, 0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0x01),
        B("event past 32 bits", 0x08, 0x03, 0x10, 0x80, 0x80, 0x80, 0x80, 0x10),
        B("truncated payload", 0x08, 0x03, 0x22, 0x05, 'a'),
        B("truncated varint", 0x08, 0x03, 0x10, 0x80),
        B("wrong wire type", 0x08, 0x03, 0x12, 0x01, 'a'),
        B("unknown field", 0x08, 0x03, 0x78, 0x01),
        B("overlong key", 0x88, 0x00, 0x03),
        B("kind as two bytes", 0x08, 0x83, 0x00),
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        vr_envelope st, *a = NULL, *b = NULL;
        const char *wa = NULL, *wb = NULL;
        int ra, rb;

        print_message("%s\n", in[i].name);
        assert_int_equal(vr_wire_decode_fast(in[i].b, in[i].n, &st), 0);
        ra = vr_wire_decode(in[i].b, in[i].n, &a, &wa);
        rb = vr_wire_decode_in(in[i].b, in[i].n, &st, &b, &wb);
        assert_int_equal(ra, rb);
        if (!ra) {
            assert_true(b != &st); /* protobuf-c's */
            assert_int_equal(a->kind, b->kind);
            assert_int_equal(a->event, b->event);
            assert_true(a->request_id == b->request_id);
        } else {
            assert_string_equal(wa, wb);
        }
        vr_wire_free(a);
        vr_wire_done(b, &st);
    }
}

static uint8_t enc_buf[512];
static size_t enc_len;

static uint8_t *enc_alloc(size_t len, void *arg)
{
    (void)arg;
    assert_true(len <= sizeof(enc_buf));
    enc_len = len;
    return enc_buf;
}

/* protobuf-c's bytes for `env` with `msg` as its payload. */
static size_t generic(vr_envelope env, const ProtobufCMessage *msg, uint8_t *out)
{
    uint8_t pay[256];

    if (msg) {
        env.has_payload = 1;
        env.payload.len = protobuf_c_message_pack(msg, pay);
        env.payload.data = pay;
    }
    return vr_wire_pack(&env, out);
}

static void test_encode_same_bytes(void **state)
{
    Verani__Wire__Error e = VERANI__WIRE__ERROR__INIT;
    uint8_t want[512], raw[] = {1, 2, 3, 0, 255};
    vr_envelope envs[7];
    const ProtobufCMessage *msgs[7] = {0};
    size_t i, n;

    (void)state;
    e.has_code = 1;
    e.code = VERANI__WIRE__ERROR_CODE__INVALID_PAYLOAD;
    e.message = "a message";
    for (i = 0; i < 7; i++)
        envs[i] = (vr_envelope)VERANI__WIRE__ENVELOPE__INIT;
    /* a reply with a payload message and a large request id */
    envs[0].has_kind = envs[0].has_event = envs[0].has_request_id = 1;
    envs[0].kind = VERANI__WIRE__KIND__REPLY;
    envs[0].event = 300;
    envs[0].request_id = UINT64_C(1) << 40;
    msgs[0] = &e.base;
    /* a channel event with raw payload bytes and a seq */
    envs[1].has_kind = envs[1].has_event = envs[1].has_payload = envs[1].has_seq = 1;
    envs[1].kind = VERANI__WIRE__KIND__EVENT;
    envs[1].event = 1;
    envs[1].channel = "room-a";
    envs[1].payload.data = raw;
    envs[1].payload.len = sizeof(raw);
    envs[1].seq = UINT64_MAX;
    /* an empty payload is still written */
    envs[2].has_kind = envs[2].has_payload = 1;
    envs[2].kind = VERANI__WIRE__KIND__EVENT;
    /* a pong with request id 0, said */
    envs[3].has_kind = envs[3].has_request_id = 1;
    envs[3].kind = VERANI__WIRE__KIND__PONG;
    /* a seq alone */
    envs[4].has_seq = 1;
    envs[4].seq = 127;
    /* an empty message as the payload, and an empty channel */
    envs[5].has_kind = 1;
    envs[5].kind = VERANI__WIRE__KIND__EVENT;
    envs[5].channel = "";
    msgs[5] = &(Verani__Wire__Error)VERANI__WIRE__ERROR__INIT.base;
    /* an ERROR: left to protobuf-c, and still right */
    envs[6].has_kind = 1;
    envs[6].kind = VERANI__WIRE__KIND__ERROR;
    envs[6].error = &e;
    for (i = 0; i < 7; i++) {
        print_message("envelope %zu\n", i);
        n = generic(envs[i], msgs[i], want);
        assert_int_equal(vr_wire_encode_fast(&envs[i], msgs[i], enc_alloc, NULL), i == 6 ? 1 : 0);
        assert_int_equal(vr_wire_encode(&envs[i], msgs[i], enc_alloc, NULL), 0);
        assert_int_equal(enc_len, n);
        assert_memory_equal(enc_buf, want, n);
        if (msgs[i]) { /* as vr_wire_encode promises */
            assert_int_equal(envs[i].has_payload, 1);
            assert_int_equal(envs[i].payload.len, protobuf_c_message_get_packed_size(msgs[i]));
            assert_null(envs[i].payload.data);
        }
    }
}

/* vr_wire_size sums the hot path's fields by hand: the same as protobuf-c's size at every
 * varint length, with and without each field, and protobuf-c's own for the rest. */
static void test_size_same(void **state)
{
    static const uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX,
                                    UINT64_C(1) << 35, UINT64_MAX};
    static const size_t lens[] = {0, 1, 127, 128, 16384};
    static uint8_t body[16384];
    Verani__Wire__Error e = VERANI__WIRE__ERROR__INIT;
    vr_envelope env;
    size_t v, l, m, fast;

    (void)state;
    for (m = 0; m < 64; m++)
        for (v = 0; v < sizeof(vals) / sizeof(vals[0]); v++)
            for (l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
                env = (vr_envelope)VERANI__WIRE__ENVELOPE__INIT;
                env.has_kind = m & 1;
                env.kind = (Verani__Wire__Kind)(vals[v] & 0x7fffffff);
                env.has_event = (m >> 1) & 1;
                env.event = (uint32_t)vals[v];
                env.channel = (m >> 2) & 1 ? (char *)"a channel" : NULL;
                env.has_payload = (m >> 3) & 1;
                env.payload.data = body;
                env.payload.len = lens[l];
                env.has_request_id = (m >> 4) & 1;
                env.request_id = vals[v];
                env.has_seq = (m >> 5) & 1;
                env.seq = vals[v];
                assert_int_equal(vr_wire_size_fast(&env, &fast), 0);
                assert_int_equal(fast, verani__wire__envelope__get_packed_size(&env));
                assert_int_equal(vr_wire_size(&env), fast);
            }
    /* what the hand-written path leaves alone is still sized, by protobuf-c */
    env = (vr_envelope)VERANI__WIRE__ENVELOPE__INIT;
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__ERROR;
    env.error = &e;
    assert_int_equal(vr_wire_size_fast(&env, &fast), 1);
    assert_int_equal(vr_wire_size(&env), verani__wire__envelope__get_packed_size(&env));
    env.error = NULL;
    env.kind = (Verani__Wire__Kind)-1; /* a 10-byte varint */
    assert_int_equal(vr_wire_size_fast(&env, &fast), 1);
    assert_int_equal(vr_wire_size(&env), 11);
}

static uint8_t *fail_alloc(size_t len, void *arg)
{
    (void)len;
    (void)arg;
    return NULL;
}

static void test_encode_out_of_memory(void **state)
{
    vr_envelope env = VERANI__WIRE__ENVELOPE__INIT;

    (void)state;
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__EVENT;
    assert_int_equal(vr_wire_encode(&env, NULL, fail_alloc, NULL), VERANI_ENOMEM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_agrees),
        cmocka_unit_test(test_left_to_protobuf_c),
        cmocka_unit_test(test_encode_same_bytes),
        cmocka_unit_test(test_size_same),
        cmocka_unit_test(test_encode_out_of_memory),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
