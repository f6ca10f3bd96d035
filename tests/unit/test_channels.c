/* SPDX-License-Identifier: MIT */
/*
 * test_channels.c: the per-instance channel table (room.c) and the channel
 * emit that walks only a channel's members (broker.c). Sessions here are
 * detached fakes (no socket), so a delivery shows as a retained frame and a
 * seq step; their channel lists are kept the way channels.c keeps them. A
 * seeded random run of joins, leaves, closes and emits checks that the
 * member walk reaches exactly the sessions the old full walk
 * (vr_target_match over every session) reached, with every filter. It does
 * not cover the resume and restore paths (hello.c, persist.c: test_resume does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core-private.h"
#include "server/server-int.h"

#define N_SESS 40
#define N_NAMES 12

typedef struct rig {
    verani_server *srv;  /* owned: only opts are read */
    vr_instance inst;
    verani_session *s[N_SESS];
} rig;

static void rig_init(rig *r)
{
    int i;

    memset(r, 0, sizeof(*r));
    r->srv = calloc(1, sizeof(*r->srv));
    assert_non_null(r->srv);
    r->srv->opts.retain_max_frames = 100000;
    r->srv->opts.retain_max_age_ms = 600000;
    for (i = 0; i < N_SESS; i++) {
        verani_session *s = calloc(1, sizeof(*s));

        assert_non_null(s);
        s->srv = r->srv;
        s->inst = &r->inst;
        snprintf(s->client_id, sizeof(s->client_id), "c%d", i);
        s->user_id = vr_strdup(i % 3 ? "bob" : "alice");
        s->detached = 1; /* a delivery is retained: seq steps */
        s->added = 1;
        vr_outq_init(&s->q);
        vr_outq_init(&s->retained);
        r->s[i] = s;
    }
}

/* channels.c's own vr_session_channel_add: the membership, its channel holding the name. */
static int join(verani_session *s, const char *name)
{
    int r = vr_session_channel_add(s, name);

    assert_true(r >= 0);
    return r;
}

/* As channels.c's channel_remove (static there): out of the channel, the later memberships
 * move up. The name may be the channel's own: it is copied first. */
static int leave(verani_session *s, const char *name)
{
    char copy[160];
    size_t i;

    snprintf(copy, sizeof(copy), "%s", name);
    for (i = 0; i < s->n_channels; i++) {
        if (strcmp(vr_session_chan_name(s, i), copy))
            continue;
        vr_channel_leave(s->inst, vr_session_chan(s, i));
        assert_null(vr_session_chan(s, i)->ch);
        for (; i + 1 < s->n_channels; i++)
            *vr_session_chan(s, i) = *vr_session_chan(s, i + 1);
        s->n_channels--;
        return 1;
    }
    return 0;
}

static void rig_fini(rig *r)
{
    int i;

    for (i = 0; i < N_SESS; i++) {
        verani_session *s = r->s[i];

        while (s->n_channels)
            leave(s, vr_session_chan_name(s, 0));
        vr_free(s->chan_more);
        vr_free(s->user_id);
        vr_outq_fini(&s->retained);
        free(s);
    }
    assert_int_equal(r->inst.n_chans, 0); /* every channel freed with its last member */
    vr_free(r->inst.chans);
    free(r->srv);
}

/* Every member of every channel points back at its slot among that session's memberships. */
static void check_consistent(const rig *r)
{
    size_t total = 0, i;
    uint32_t b, m;

    for (i = 0; i < N_SESS; i++) {
        const verani_session *s = r->s[i];
        size_t k;

        for (k = 0; k < s->n_channels; k++) {
            const vr_chanref *ref = vr_session_chan(s, k);

            assert_ptr_equal(vr_channel_find(&r->inst, vr_session_chan_name(s, k)), ref->ch);
            assert_true(ref->idx < ref->ch->n_members);
            assert_ptr_equal(ref->ch->members[ref->idx], s);
        }
        total += s->n_channels;
    }
    for (b = 0; b < r->inst.n_buckets; b++)
        for (const vr_channel *c = r->inst.chans[b]; c; c = c->next) {
            assert_true(c->n_members > 0);
            for (m = 0; m < c->n_members; m++)
                total--;
        }
    assert_int_equal(total, 0);
}

/* Publish `to` and compare who got it with the full walk over every session. */
static void emit_and_check(rig *r, const verani_target *to)
{
    uint64_t before[N_SESS];
    int expect = 0, got, i;
    vr_frame *f = vr_frame_new(4);

    assert_non_null(f);
    memset(f->body, 0, 4);
    for (i = 0; i < N_SESS; i++)
        before[i] = r->s[i]->seq;
    got = vr_broker_local.publish(&r->inst, to, NULL, f);
    vr_frame_unref(f);
    for (i = 0; i < N_SESS; i++) {
        const verani_session *s = r->s[i];
        int want = s->added && !s->closing && vr_target_match(to, NULL, s);

        assert_int_equal(s->seq - before[i], want);
        expect += want;
    }
    assert_int_equal(got, expect);
}

static void test_members_and_free(void **state)
{
    rig r;
    verani_target t;
    vr_channel *c;
    uint64_t seq;

    (void)state;
    rig_init(&r);
    join(r.s[0], "red");
    join(r.s[1], "red");
    join(r.s[2], "red");
    join(r.s[1], "blue");
    assert_int_equal(join(r.s[1], "blue"), 0); /* once */
    assert_int_equal(r.inst.n_chans, 2);
    c = vr_channel_find(&r.inst, "red");
    assert_non_null(c);
    assert_int_equal(c->n_members, 3);
    t = verani_to_channel("red");
    emit_and_check(&r, &t);
    /* the first leaves: the last fills its slot, and its chref follows */
    leave(r.s[0], "red");
    check_consistent(&r);
    seq = r.s[0]->seq;
    emit_and_check(&r, &t);
    assert_int_equal(r.s[0]->seq, seq); /* nothing stale reaches the leaver */
    /* two channels: the order of a session's names is join order */
    assert_string_equal(verani_session_channel(r.s[1], 0), "red");
    assert_string_equal(verani_session_channel(r.s[1], 1), "blue");
    leave(r.s[1], "red");
    leave(r.s[2], "red");
    assert_null(vr_channel_find(&r.inst, "red")); /* freed with its last member */
    assert_int_equal(r.inst.n_chans, 1);
    emit_and_check(&r, &t); /* nobody */
    t = verani_to_channel("blue");
    emit_and_check(&r, &t);
    t = verani_to_channel(NULL);
    emit_and_check(&r, &t);
    /* a member not in inst->sessions (before hello, in on_disconnect) or closing: skipped */
    join(r.s[5], "blue");
    r.s[5]->added = 0;
    join(r.s[6], "blue");
    r.s[6]->closing = 1;
    t = verani_to_channel("blue");
    emit_and_check(&r, &t);
    r.s[6]->closing = 0;
    r.s[5]->added = 1;
    check_consistent(&r);
    rig_fini(&r);
}

static void test_many_channels(void **state)
{
    rig r;
    char name[32];
    int i, k;

    (void)state;
    rig_init(&r);
    /* enough names to grow the table a few times */
    for (i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "user:%d", i);
        join(r.s[i % N_SESS], name);
        join(r.s[(i * 7 + 3) % N_SESS], name);
    }
    assert_int_equal(r.inst.n_chans, 200);
    assert_true(r.inst.n_buckets >= 200);
    check_consistent(&r);
    for (i = 0; i < 200; i += 13) {
        verani_target t;

        snprintf(name, sizeof(name), "user:%d", i);
        t = verani_to_channel(name);
        emit_and_check(&r, &t);
    }
    for (k = 0; k < N_SESS; k += 2)
        while (r.s[k]->n_channels)
            leave(r.s[k], vr_session_chan_name(r.s[k], r.s[k]->n_channels - 1));
    check_consistent(&r);
    rig_fini(&r);
}

/* xorshift32: a fixed sequence, so a failure reproduces */
static uint32_t rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void test_random_against_full_walk(void **state)
{
    static const char *const names[N_NAMES] = {"default", "a", "b", "c", "d", "e",
                                               "f", "g", "h", "i", "j", "k"};
    const char *users[] = {"bob"};
    const char *clients[] = {"c1", "c4", "c9", "c16", "c25", "c36"};
    uint32_t x = 12345;
    rig r;
    int step;

    (void)state;
    rig_init(&r);
    for (step = 0; step < 4000; step++) {
        verani_session *s = r.s[rnd(&x) % N_SESS];
        const char *name = names[rnd(&x) % N_NAMES];
        uint32_t op = rnd(&x) % 10;

        if (op < 4) {
            join(s, name);
        } else if (op < 7) {
            leave(s, name);
        } else if (op == 7) {
            s->closing = !s->closing;
        } else {
            verani_target t = verani_to_channel(name);
            uint32_t f = rnd(&x);

            if (f & 1)
                t.except = r.s[rnd(&x) % N_SESS];
            if (f & 2) {
                t.user_ids = users;
                t.n_user_ids = 1;
            }
            if (f & 4) {
                t.client_ids = clients;
                t.n_client_ids = 6;
            }
            emit_and_check(&r, &t);
        }
        if (!(step % 97))
            check_consistent(&r);
    }
    check_consistent(&r);
    rig_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_members_and_free),
        cmocka_unit_test(test_many_channels),
        cmocka_unit_test(test_random_against_full_walk),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
