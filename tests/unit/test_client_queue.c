/* SPDX-License-Identifier: MIT */
/*
 * test_client_queue.c: the client's bounded frame queue: FIFO order, the
 * bound applied only when asked (offline), the oldest frame dropped and
 * counted when full, removal of a request's frame from the middle, push back
 * at the head, and clearing. It does not touch sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/client-int.h"

static vr_cframe *frame(unsigned tag)
{
    vr_cframe *f = vr_cframe_new(sizeof(tag));

    assert_non_null(f);
    memcpy(vr_cframe_data(f), &tag, sizeof(tag));
    return f;
}

static unsigned tag_of(vr_cframe *f)
{
    unsigned t;

    memcpy(&t, vr_cframe_data(f), sizeof(t));
    return t;
}

static void expect_pop(vr_cqueue *q, unsigned tag)
{
    vr_cframe *f = vr_cqueue_pop(q);

    assert_non_null(f);
    assert_int_equal(tag_of(f), tag);
    vr_cframe_free(f);
}

static void test_fifo(void **state)
{
    vr_cqueue q;
    unsigned i;

    (void)state;
    vr_cqueue_init(&q, 3);
    assert_null(vr_cqueue_pop(&q));
    for (i = 1; i <= 10; i++)
        assert_null(vr_cqueue_push(&q, frame(i), 0)); /* unbounded: nothing dropped */
    assert_int_equal(q.len, 10);
    assert_int_equal(q.dropped, 0);
    for (i = 1; i <= 10; i++)
        expect_pop(&q, i);
    assert_int_equal(q.len, 0);
    assert_null(q.head);
    assert_null(q.tail);
}

static void test_bound_drops_oldest(void **state)
{
    vr_cqueue q;
    vr_cframe *d;
    unsigned i;

    (void)state;
    vr_cqueue_init(&q, 100);
    for (i = 1; i <= 100; i++)
        assert_null(vr_cqueue_push(&q, frame(i), 1));
    for (i = 101; i <= 150; i++) {
        d = vr_cqueue_push(&q, frame(i), 1);
        assert_non_null(d);
        assert_int_equal(tag_of(d), i - 100); /* the oldest goes */
        vr_cframe_free(d);
    }
    assert_int_equal(q.len, 100);
    assert_int_equal(q.dropped, 50);
    for (i = 51; i <= 150; i++)
        expect_pop(&q, i); /* the rest in order */
    assert_int_equal(q.len, 0);
}

/* Grown past its bound while unbounded (connected), a bounded push hands back every frame it
 * drops, oldest first, so the caller can end each one's request. */
static void test_bound_after_growth_hands_back_all(void **state)
{
    vr_cqueue q;
    vr_cframe *d, *next;
    unsigned i, n = 0;

    (void)state;
    vr_cqueue_init(&q, 4);
    for (i = 1; i <= 7; i++)
        assert_null(vr_cqueue_push(&q, frame(i), 0));
    d = vr_cqueue_push(&q, frame(8), 1);
    for (; d; d = next, n++) {
        next = d->next;
        assert_int_equal(tag_of(d), n + 1);
        vr_cframe_free(d);
    }
    assert_int_equal(n, 4); /* 7 held, bound 4: frames 1..4 go, 5..8 stay */
    assert_int_equal(q.dropped, 4);
    for (i = 5; i <= 8; i++)
        expect_pop(&q, i);
    assert_int_equal(q.len, 0);
}

static void test_remove_request(void **state)
{
    vr_cqueue q;
    vr_cframe *f;
    unsigned i;

    (void)state;
    vr_cqueue_init(&q, 10);
    for (i = 1; i <= 5; i++) {
        f = frame(i);
        f->request_id = i * 10;
        vr_cqueue_push(&q, f, 1);
    }
    assert_null(vr_cqueue_remove_request(&q, 0));
    assert_null(vr_cqueue_remove_request(&q, 999));
    f = vr_cqueue_remove_request(&q, 30); /* middle */
    assert_non_null(f);
    assert_int_equal(tag_of(f), 3);
    vr_cframe_free(f);
    f = vr_cqueue_remove_request(&q, 50); /* tail */
    assert_int_equal(tag_of(f), 5);
    vr_cframe_free(f);
    f = vr_cqueue_remove_request(&q, 10); /* head */
    assert_int_equal(tag_of(f), 1);
    vr_cframe_free(f);
    assert_int_equal(q.len, 2);
    vr_cqueue_push(&q, frame(6), 1); /* the tail is right after removing it */
    expect_pop(&q, 2);
    expect_pop(&q, 4);
    expect_pop(&q, 6);
    assert_null(vr_cqueue_pop(&q));
}

static void test_push_front_and_clear(void **state)
{
    vr_cqueue q;

    (void)state;
    vr_cqueue_init(&q, 10);
    vr_cqueue_push_front(&q, frame(2));
    vr_cqueue_push(&q, frame(3), 0);
    vr_cqueue_push_front(&q, frame(1));
    expect_pop(&q, 1);
    expect_pop(&q, 2);
    vr_cqueue_push(&q, frame(4), 0);
    assert_int_equal(q.len, 2);
    vr_cqueue_clear(&q);
    assert_int_equal(q.len, 0);
    assert_null(vr_cqueue_pop(&q));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_bound_drops_oldest),
        cmocka_unit_test(test_bound_after_growth_hands_back_all),
        cmocka_unit_test(test_remove_request),
        cmocka_unit_test(test_push_front_and_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
