/* SPDX-License-Identifier: MIT */
/*
 * test_broker.c: fan-out internals (broker.c): frame reference counts, the
 * bounded outbound queue (frames and bytes), coalescing whole frames into
 * one buffer (and never part of one), and recipient selection for every
 * verani_target kind and filter. ASan checks that every frame is freed once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/core-private.h"
#include "server/server-int.h"

static vr_frame *frame_of(size_t len, uint8_t fill)
{
    vr_frame *f = vr_frame_new(len);

    memset(f->body, fill, len);
    return f;
}

static void test_refcount(void **state)
{
    vr_frame *f = frame_of(10, 1);
    vr_outq a, b;

    (void)state;
    vr_outq_init(&a);
    vr_outq_init(&b);
    assert_int_equal(vr_outq_push(&a, f, 1, 10, 100), 0);
    assert_int_equal(vr_outq_push(&b, f, 1, 10, 100), 0);
    assert_int_equal(f->refs, 3);
    vr_frame_unref(f); /* the creator's */
    vr_outq_fini(&a);
    assert_int_equal(f->refs, 1);
    vr_outq_fini(&b); /* frees it; ASan would see a leak or a double free */
    vr_frame_unref(NULL);
}

static void test_bounds(void **state)
{
    vr_outq q;
    vr_frame *f = frame_of(40, 2);
    int i;

    (void)state;
    vr_outq_init(&q);
    for (i = 0; i < 3; i++)
        assert_int_equal(vr_outq_push(&q, f, (uint64_t)i + 1, 3, 1000), 0);
    assert_int_equal(vr_outq_push(&q, f, 4, 3, 1000), VERANI_EFULL); /* frames */
    assert_int_equal(q.count, 3);
    vr_outq_fini(&q);
    vr_outq_init(&q);
    assert_int_equal(vr_outq_push(&q, f, 1, 100, 100), 0);
    assert_int_equal(vr_outq_push(&q, f, 2, 100, 100), 0);
    assert_int_equal(vr_outq_push(&q, f, 3, 100, 100), VERANI_EFULL); /* bytes */
    assert_int_equal(q.bytes, 80);
    vr_outq_fini(&q);
    vr_frame_unref(f);
}

/* A queue written empty at its smallest size holds no ring (an idle session's WELCOME leaves
 * nothing behind); one that grew past it keeps its ring for the next burst. */
static void test_drained_ring(void **state)
{
    vr_outq q;
    vr_frame *f = frame_of(40, 2);
    uint8_t out[4096];
    int i;

    (void)state;
    vr_outq_init(&q);
    assert_int_equal(vr_outq_push(&q, f, 0, 100, 1 << 20), 0);
    assert_non_null(q.ring);
    assert_true(vr_outq_fill(&q, out, sizeof(out)) > 0);
    assert_int_equal(q.count, 0);
    assert_null(q.ring);
    assert_int_equal(q.cap, 0);
    assert_int_equal(vr_outq_fill(&q, out, sizeof(out)), 0);
    for (i = 0; i < 5; i++) /* past the smallest ring */
        assert_int_equal(vr_outq_push(&q, f, 0, 100, 1 << 20), 0);
    assert_true(q.cap > 4);
    assert_true(vr_outq_fill(&q, out, sizeof(out)) > 0);
    assert_int_equal(q.count, 0);
    assert_non_null(q.ring);
    vr_outq_fini(&q);
    /* the same for entries dropped from the tail (the output gate) */
    vr_outq_init(&q);
    assert_int_equal(vr_outq_push(&q, f, 0, 100, 1 << 20), 0);
    vr_outq_drop_tail(&q, 1);
    assert_null(q.ring);
    assert_int_equal(vr_outq_push(&q, f, 0, 100, 1 << 20), 0); /* and it grows again */
    assert_int_equal(q.count, 1);
    vr_outq_fini(&q);
    assert_int_equal(f->refs, 1);
    vr_frame_unref(f);
}

/* A full ring that wrapped round grows with its entries in order, the oldest first; the
 * retained window keeps the newest, in order, as it pops and wraps. */
static void test_grow_wrapped(void **state)
{
    vr_outq q, r;
    vr_frame *f = frame_of(10, 2);
    uint8_t out[4096];
    uint64_t seq = 0, want;
    uint32_t i;

    (void)state;
    vr_outq_init(&q);
    vr_outq_init(&r);
    for (i = 0; i < 4; i++)
        assert_int_equal(vr_outq_push(&q, f, ++seq, 100, 1 << 20), 0);
    assert_true(vr_outq_fill_n(&q, out, sizeof(out), 3) > 0); /* head 3, one left */
    for (i = 0; i < 3; i++) /* full again, wrapped: ring slots hold 5 6 7 4 */
        assert_int_equal(vr_outq_push(&q, f, ++seq, 100, 1 << 20), 0);
    assert_int_equal(q.cap, 4);
    for (i = 0; i < 30; i++) /* grows from the wrapped 4, then to 16 and 32 */
        assert_int_equal(vr_outq_push(&q, f, ++seq, 100, 1 << 20), 0);
    assert_int_equal(q.count, 34);
    for (i = 0, want = 4; i < q.count; i++, want++)
        assert_int_equal(vr_outq_at(&q, i)->seq, want);
    for (seq = 1; seq <= 100; seq++) /* a window of 24 in a ring of 32: it wraps */
        assert_int_equal(vr_retain_push(&r, f, seq, 24), 0);
    assert_int_equal(r.count, 24);
    for (i = 0, want = 77; i < r.count; i++, want++)
        assert_int_equal(vr_outq_at(&r, i)->seq, want);
    vr_outq_fini(&q);
    vr_outq_fini(&r);
    assert_int_equal(f->refs, 1);
    vr_frame_unref(f);
}

/* Walk coalesced frames: header, then a payload that decodes as an Envelope. */
static size_t count_frames(const uint8_t *b, size_t n, uint64_t *last_seq)
{
    size_t off = 0, frames = 0;

    while (off < n) {
        uint64_t len = b[off + 1] & 0x7f;
        size_t h = 2;
        vr_envelope *e;

        assert_int_equal(b[off], 0x82);
        if (len == 126) {
            len = ((uint64_t)b[off + 2] << 8) | b[off + 3];
            h = 4;
        }
        assert_true(off + h + len <= n);
        assert_int_equal(vr_wire_decode(b + off + h, (size_t)len, &e, NULL), 0);
        *last_seq = e->seq;
        vr_wire_free(e);
        off += h + (size_t)len;
        frames++;
    }
    return frames;
}

static void test_coalesce_whole_frames(void **state)
{
    vr_envelope env = VERANI__WIRE__ENVELOPE__INIT;
    uint8_t payload[200], out[4096];
    vr_outq q;
    vr_frame *f;
    uint64_t seq = 0, i;
    size_t n, one;

    (void)state;
    memset(payload, 7, sizeof(payload));
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__EVENT;
    env.has_payload = 1;
    env.payload.len = sizeof(payload);
    env.payload.data = payload;
    f = vr_frame_new(vr_wire_size(&env));
    vr_wire_pack(&env, f->body);
    vr_outq_init(&q);
    for (i = 1; i <= 10; i++)
        assert_int_equal(vr_outq_push(&q, f, i, 100, 1 << 20), 0);
    /* 4-byte header (126..65535), 2-byte seq prefix (seq < 128), then the body */
    one = 4 + 2 + f->len;
    assert_true(vr_outq_head_wire_size(&q) >= one);
    /* room for 3.5 frames: exactly 3 go, the 4th stays whole in the queue */
    n = vr_outq_fill(&q, out, one * 3 + one / 2);
    assert_int_equal(n, one * 3);
    assert_int_equal(count_frames(out, n, &seq), 3);
    assert_int_equal(seq, 3);
    assert_int_equal(q.count, 7);
    /* a buffer smaller than the head frame takes nothing */
    assert_int_equal(vr_outq_fill(&q, out, one - 1), 0);
    n = vr_outq_fill(&q, out, sizeof(out));
    assert_int_equal(count_frames(out, n, &seq), 7);
    assert_int_equal(seq, 10);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);
    assert_int_equal(vr_outq_fill(&q, out, sizeof(out)), 0);
    vr_outq_fini(&q);
    vr_frame_unref(f);
}

/* A channel of no instance, named `name`: what a membership points at. */
static vr_channel *channel_named(const char *name)
{
    vr_channel *c = vr_calloc(1, sizeof(*c) + strlen(name) + 1);

    assert_non_null(c);
    strcpy(c->name, name);
    return c;
}

static verani_session *session(const char *uid, const char *cid, const char *ch1,
                               const char *ch2)
{
    verani_session *s = vr_calloc(1, sizeof(*s));

    s->user_id = vr_strdup(uid);
    snprintf(s->client_id, sizeof(s->client_id), "%s", cid);
    s->chan_more = vr_calloc(1, sizeof(*s->chan_more));
    s->cap_more = 1;
    if (ch1)
        vr_session_chan(s, s->n_channels++)->ch = channel_named(ch1);
    if (ch2)
        vr_session_chan(s, s->n_channels++)->ch = channel_named(ch2);
    return s;
}

static void session_free(verani_session *s)
{
    size_t i;

    for (i = 0; i < s->n_channels; i++)
        vr_free(vr_session_chan(s, i)->ch);
    vr_free(s->chan_more);
    vr_free(s->user_id);
    vr_free(s);
}

/* The recipients of `to` among s[0..3] as a bit mask. */
static unsigned who(const verani_target *to, verani_session **s, const verani_session *self)
{
    unsigned m = 0, i;

    for (i = 0; i < 4; i++)
        if (vr_target_match(to, self, s[i]))
            m |= 1u << i;
    return m;
}

static void test_target_match(void **state)
{
    verani_session *s[4];
    verani_target t;
    const char *users[] = {"bob", "carol"};
    const char *clients[] = {"c1", "c3"};

    (void)state;
    s[0] = session("alice", "c0", "default", "red");
    s[1] = session("alice", "c1", "default", NULL);
    s[2] = session("bob", "c2", "red", NULL);
    s[3] = session("carol", "c3", "default", "red");

    t = verani_to_self();
    assert_int_equal(who(&t, s, s[2]), 1u << 2);
    assert_int_equal(who(&t, s, NULL), 0);
    t = verani_to_channel("default");
    assert_int_equal(who(&t, s, s[0]), 0xb);
    t = verani_to_channel("red");
    assert_int_equal(who(&t, s, s[0]), 0xd);
    t.except = s[0];
    assert_int_equal(who(&t, s, s[0]), 0xc);
    t = verani_to_channel("none");
    assert_int_equal(who(&t, s, s[0]), 0);
    t = verani_to_user("alice");
    assert_int_equal(who(&t, s, NULL), 0x3);
    t = verani_to_client("c2");
    assert_int_equal(who(&t, s, NULL), 0x4);
    t = verani_to_all();
    assert_int_equal(who(&t, s, NULL), 0xf);
    t.user_ids = users;
    t.n_user_ids = 2;
    assert_int_equal(who(&t, s, NULL), 0xc);
    t.client_ids = clients;
    t.n_client_ids = 2;
    assert_int_equal(who(&t, s, NULL), 0x8); /* both filters apply */
    t = verani_to_channel("default");
    t.client_ids = clients;
    t.n_client_ids = 2;
    t.except = s[3];
    assert_int_equal(who(&t, s, NULL), 0x2);
    t = verani_to_user(NULL);
    assert_int_equal(who(&t, s, NULL), 0);
    t.kind = (verani_target_kind)42;
    assert_int_equal(who(&t, s, NULL), 0);
    for (int i = 0; i < 4; i++)
        session_free(s[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_drained_ring),
        cmocka_unit_test(test_grow_wrapped),
        cmocka_unit_test(test_coalesce_whole_frames),
        cmocka_unit_test(test_target_match),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
