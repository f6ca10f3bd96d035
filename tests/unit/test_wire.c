/* SPDX-License-Identifier: MIT */
/*
 * test_wire.c: the wire layer (wire.c): the server->client WebSocket frame
 * header at every length boundary, the seq prefix merging into a shared
 * body, decoding of good and bad envelopes, and the byte-level example of
 * runtime/PROTOCOL.md, checked byte for byte (so the document cannot drift).
 * That lws's parser reads our headers is checked end to end by
 * server_e2e_frame_header_sizes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/broker-int.h"
#include "wire/wire-private.h"

static void test_ws_header_lengths(void **state)
{
    uint8_t h[VR_WS_HEADER_MAX];
    static const uint8_t h64k[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0};
    static const uint8_t hbig[] = {0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0};

    (void)state;
    assert_int_equal(vr_wire_ws_header(h, 0), 2);
    assert_int_equal(h[0], 0x82);
    assert_int_equal(h[1], 0);
    assert_int_equal(vr_wire_ws_header(h, 125), 2);
    assert_int_equal(h[1], 125);
    assert_int_equal(vr_wire_ws_header(h, 126), 4);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2], 0);
    assert_int_equal(h[3], 126);
    assert_int_equal(vr_wire_ws_header(h, 65535), 4);
    assert_int_equal(h[2], 0xff);
    assert_int_equal(h[3], 0xff);
    assert_int_equal(vr_wire_ws_header(h, 65536), 10);
    assert_memory_equal(h, h64k, 10);
    assert_int_equal(vr_wire_ws_header(h, UINT64_C(1) << 32), 10);
    assert_memory_equal(h, hbig, 10);
}

static void test_seq_prefix_merges(void **state)
{
    vr_envelope e = VERANI__WIRE__ENVELOPE__INIT, *d;
    uint8_t buf[128];
    size_t p, n;

    (void)state;
    assert_int_equal(vr_wire_seq_prefix(buf, 0), 0);
    assert_int_equal(vr_wire_seq_prefix(buf, UINT64_MAX), VR_WIRE_SEQ_PREFIX_MAX);
    e.has_kind = 1;
    e.kind = VERANI__WIRE__KIND__EVENT;
    e.has_event = 1;
    e.event = 7;
    e.channel = "c";
    p = vr_wire_seq_prefix(buf, 300);
    assert_int_equal(p, 3);
    n = vr_wire_pack(&e, buf + p);
    assert_int_equal(n, vr_wire_size(&e));
    assert_int_equal(vr_wire_decode(buf, p + n, &d, NULL), 0);
    assert_true(d->has_seq);
    assert_int_equal(d->seq, 300);
    assert_int_equal(d->kind, VERANI__WIRE__KIND__EVENT);
    assert_int_equal(d->event, 7);
    assert_string_equal(d->channel, "c");
    vr_wire_free(d);
}

/* The prefix is byte for byte an Envelope with only `seq` set. */
static void test_seq_prefix_is_envelope_seq(void **state)
{
    static const uint64_t seqs[] = {1, 127, 128, 300, 16383, 16384, 2097151, 2097152, UINT32_MAX,
                                    (uint64_t)UINT32_MAX + 1, UINT64_MAX - 1, UINT64_MAX};
    uint8_t a[VR_WIRE_SEQ_PREFIX_MAX], b[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
        vr_envelope e = VERANI__WIRE__ENVELOPE__INIT;
        size_t na = vr_wire_seq_prefix(a, seqs[i]), nb;

        e.has_seq = 1;
        e.seq = seqs[i];
        nb = vr_wire_pack(&e, b);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, nb);
        assert_int_equal(vr_wire_seq_prefix_len(seqs[i]), na);
    }
    assert_int_equal(vr_wire_seq_prefix_len(0), 0);
}

static void test_decode_rejects(void **state)
{
    static const uint8_t junk[] = {0xff, 0xff, 0xff};
    static const uint8_t no_kind[] = {0x10, 0x01};      /* event = 1 only */
    static const uint8_t bad_kind[] = {0x08, 0x63};     /* kind = 99 */
    static const uint8_t truncated[] = {0x08, 0x03, 0x1a, 0x07, 0x64};
    vr_envelope *d = (vr_envelope *)1;
    const char *why = NULL;

    (void)state;
    assert_int_equal(vr_wire_decode(junk, sizeof(junk), &d, &why), VERANI_EPROTO);
    assert_null(d);
    assert_non_null(why);
    assert_int_equal(vr_wire_decode(no_kind, sizeof(no_kind), &d, &why), VERANI_EPROTO);
    assert_int_equal(vr_wire_decode(bad_kind, sizeof(bad_kind), &d, &why), VERANI_EPROTO);
    assert_int_equal(vr_wire_decode(truncated, sizeof(truncated), &d, &why), VERANI_EPROTO);
    assert_int_equal(vr_wire_decode(junk, 0, &d, &why), VERANI_EPROTO);
}

/* PROTOCOL.md, "A byte-level example". */
static void test_protocol_md_example(void **state)
{
    static const uint8_t hello[] = {0x08, 0x01, 0x3a, 0x07, 0x08, 0x01, 0x12, 0x03, 0x61, 0x62,
                                    0x63};
    static const uint8_t wire[] = {0x82, 0x15, 0x30, 0x05, 0x08, 0x03, 0x10, 0x01, 0x1a, 0x07,
                                   0x64, 0x65, 0x66, 0x61, 0x75, 0x6c, 0x74, 0x22, 0x04, 0x0a,
                                   0x02, 0x68, 0x69};
    static const uint8_t chat_out[] = {0x0a, 0x02, 0x68, 0x69}; /* ChatOut{text: "hi"} */
    vr_envelope e = VERANI__WIRE__ENVELOPE__INIT, *d;
    Verani__Wire__Hello h = VERANI__WIRE__HELLO__INIT;
    uint8_t buf[64];
    vr_frame *f;
    vr_outq q;

    (void)state;
    e.has_kind = 1;
    e.kind = VERANI__WIRE__KIND__HELLO;
    h.has_protocol = 1;
    h.protocol = 1;
    h.fingerprint = "abc";
    e.hello = &h;
    assert_int_equal(vr_wire_pack(&e, buf), sizeof(hello));
    assert_memory_equal(buf, hello, sizeof(hello));

    memset(&e, 0, sizeof(e));
    verani__wire__envelope__init(&e);
    e.has_kind = 1;
    e.kind = VERANI__WIRE__KIND__EVENT;
    e.has_event = 1;
    e.event = 1;
    e.channel = "default";
    e.has_payload = 1;
    e.payload.len = sizeof(chat_out);
    e.payload.data = (uint8_t *)chat_out;
    f = vr_frame_new(vr_wire_size(&e));
    vr_wire_pack(&e, f->body);
    vr_outq_init(&q);
    assert_int_equal(vr_outq_push(&q, f, 5, 10, 1000), 0);
    vr_frame_unref(f);
    assert_int_equal(vr_outq_fill(&q, buf, sizeof(buf)), sizeof(wire));
    assert_memory_equal(buf, wire, sizeof(wire));
    assert_int_equal(vr_wire_decode(wire + 2, sizeof(wire) - 2, &d, NULL), 0);
    assert_int_equal(d->seq, 5);
    assert_int_equal(d->event, 1);
    vr_wire_free(d);
    vr_outq_fini(&q);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(vr_wire_kind_name(VERANI__WIRE__KIND__LEAVE), "LEAVE");
    assert_string_equal(vr_wire_kind_name(1000), "UNKNOWN");
    assert_string_equal(vr_wire_error_name(VERANI__WIRE__ERROR_CODE__NO_HANDLER), "NO_HANDLER");
    assert_string_equal(vr_wire_error_name(VERANI__WIRE__ERROR_CODE__TOO_LARGE), "TOO_LARGE");
    assert_string_equal(vr_wire_error_name(-1), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_header_lengths),
        cmocka_unit_test(test_seq_prefix_merges),
        cmocka_unit_test(test_seq_prefix_is_envelope_seq),
        cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_protocol_md_example),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
