/* SPDX-License-Identifier: MIT */
/*
 * test_ratelimit.c: the per-connection token bucket (ratelimit.c) on a fake
 * clock: burst, refill, fractions of a token, unlimited, a clock that goes
 * backwards, a long gap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/ratelimit-int.h"

static int takes(vr_bucket *b, vr_bucket_rule r, int64_t now, int n)
{
    int ok = 0;

    while (n--)
        ok += vr_bucket_take(b, r, now);
    return ok;
}

static void test_burst_then_limited(void **state)
{
    vr_bucket b;
    vr_bucket_rule r;

    (void)state;
    r = (vr_bucket_rule){5, 10};
    vr_bucket_init(&b, r, 0);
    assert_int_equal(takes(&b, r, 0, 10), 10);
    assert_int_equal(vr_bucket_take(&b, r, 0), 0);
    assert_int_equal(vr_bucket_take(&b, r, 0), 0);
}

static void test_burst_defaults_to_rate(void **state)
{
    vr_bucket b;
    vr_bucket_rule r;

    (void)state;
    r = (vr_bucket_rule){3, 0};
    vr_bucket_init(&b, r, 1000);
    assert_int_equal(takes(&b, r, 1000, 5), 3);
}

static void test_refill(void **state)
{
    vr_bucket b;
    vr_bucket_rule r;

    (void)state;
    r = (vr_bucket_rule){2, 2};
    vr_bucket_init(&b, r, 0);
    assert_int_equal(takes(&b, r, 0, 3), 2);
    /* 2 per second: one token every 500 ms */
    assert_int_equal(vr_bucket_take(&b, r, 499999), 0);
    assert_int_equal(vr_bucket_take(&b, r, 500000), 1);
    assert_int_equal(vr_bucket_take(&b, r, 500000), 0);
    assert_int_equal(takes(&b, r, 1500000, 5), 2); /* capped at burst */
}

static void test_fractions_add_up(void **state)
{
    vr_bucket b;
    vr_bucket_rule r;
    int64_t t = 0;
    int ok = 0, i;

    (void)state;
    r = (vr_bucket_rule){3, 1};
    vr_bucket_init(&b, r, 0);
    assert_int_equal(vr_bucket_take(&b, r, 0), 1);
    /* many small steps still add up to 3 tokens per second */
    for (i = 0; i < 1000; i++) {
        t += 1000;
        ok += vr_bucket_take(&b, r, t);
    }
    assert_int_equal(ok, 3);
}

static void test_unlimited(void **state)
{
    vr_bucket b;
    vr_bucket_rule r;

    (void)state;
    r = (vr_bucket_rule){0, 0};
    vr_bucket_init(&b, r, 0);
    assert_int_equal(takes(&b, r, 0, 100000), 100000);
}

static void test_clock_backwards_and_long_gap(void **state)
{
    vr_bucket b;
    vr_bucket_rule r;

    (void)state;
    r = (vr_bucket_rule){10, 10};
    vr_bucket_init(&b, r, 5000000);
    assert_int_equal(takes(&b, r, 5000000, 10), 10);
    assert_int_equal(vr_bucket_take(&b, r, 1000), 0); /* backwards: nothing refilled */
    /* a year later: full, not overflowed */
    assert_int_equal(takes(&b, r, INT64_C(31536000000000), 20), 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_limited),
        cmocka_unit_test(test_burst_defaults_to_rate),
        cmocka_unit_test(test_refill),
        cmocka_unit_test(test_fractions_add_up),
        cmocka_unit_test(test_unlimited),
        cmocka_unit_test(test_clock_backwards_and_long_gap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
