/* SPDX-License-Identifier: MIT */
/*
 * test_backoff.c: the client's reconnection delays (vr_backoff_delay) as a
 * pure function: Verani's default schedule without jitter, the cap, the
 * jitter bounds for random draws at both ends and in between, the defaults
 * taken from zeroed options, and no overflow for huge attempt numbers. It
 * does not schedule anything or measure time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client/client-int.h"

static vr_backoff defaults_no_jitter(void)
{
    verani_client_options o;
    vr_backoff b;

    verani_client_options_init(&o);
    o.jitter_percent = -1;
    vr_backoff_from_options(&b, &o);
    return b;
}

static void test_default_schedule(void **state)
{
    vr_backoff b = defaults_no_jitter();
    /* 1000 x 1.5^(n-1), capped at 30000: Verani's documented schedule. */
    static const uint32_t want[] = {1000, 1500, 2250, 3375, 5062, 7593, 11390, 17085, 25628,
                                    30000, 30000};
    uint32_t i;

    (void)state;
    assert_int_equal(b.initial_ms, 1000);
    assert_int_equal(b.max_ms, 30000);
    assert_int_equal(b.jitter_percent, 0);
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(vr_backoff_delay(&b, i + 1, 0xdeadbeef), want[i]);
    /* Attempt 0 is taken as 1. */
    assert_int_equal(vr_backoff_delay(&b, 0, 7), 1000);
}

static void test_defaults_from_zero_options(void **state)
{
    verani_client_options o;
    vr_backoff b;

    (void)state;
    verani_client_options_init(&o);
    vr_backoff_from_options(&b, &o);
    assert_int_equal(b.initial_ms, 1000);
    assert_int_equal(b.max_ms, 30000);
    assert_true(b.multiplier > 1.49 && b.multiplier < 1.51);
    assert_int_equal(b.jitter_percent, 20); /* jitter is on by default */

    o.jitter_percent = 250;
    o.backoff_multiplier = 0.5f;           /* below 1: taken as 1 */
    o.initial_delay_ms = 500;
    o.max_delay_ms = 100;                  /* below initial: raised to initial */
    vr_backoff_from_options(&b, &o);
    assert_int_equal(b.jitter_percent, 100);
    assert_true(b.multiplier == 1.0);
    assert_int_equal(b.max_ms, 500);
}

static void test_jitter_bounds(void **state)
{
    verani_client_options o;
    vr_backoff b;
    uint32_t r, attempt;

    (void)state;
    verani_client_options_init(&o);
    vr_backoff_from_options(&b, &o); /* 20 % jitter */
    /* rnd % (2 * span + 1): 0 gives the low end, 2 * span the high end. */
    assert_int_equal(vr_backoff_delay(&b, 1, 0), 800);
    assert_int_equal(vr_backoff_delay(&b, 1, 400), 1200);
    assert_int_equal(vr_backoff_delay(&b, 1, 200), 1000);
    assert_int_equal(vr_backoff_delay(&b, 2, 0), 1200);
    /* At the cap, jitter may only go down. */
    assert_int_equal(vr_backoff_delay(&b, 50, 0), 24000);
    assert_int_equal(vr_backoff_delay(&b, 50, 12000), 30000);
    /* Every draw stays within +-20 % of the base and under the cap. */
    for (attempt = 1; attempt <= 12; attempt++) {
        vr_backoff nj = b;
        uint32_t base;

        nj.jitter_percent = 0;
        base = vr_backoff_delay(&nj, attempt, 0);
        for (r = 0; r < 5000; r += 7) {
            uint32_t d = vr_backoff_delay(&b, attempt, r * 2654435761u);

            assert_true(d >= base - base / 5);
            assert_true(d <= base + base / 5);
            assert_true(d <= b.max_ms);
        }
    }
}

static void test_jitter_spreads(void **state)
{
    verani_client_options o;
    vr_backoff b;
    uint32_t r, lo = UINT32_MAX, hi = 0;

    (void)state;
    verani_client_options_init(&o);
    vr_backoff_from_options(&b, &o);
    for (r = 0; r < 1000; r++) {
        uint32_t d = vr_backoff_delay(&b, 3, r * 2654435761u);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    /* 2250 +- 450: the draws cover most of the range, not one value. */
    assert_true(lo < 2000);
    assert_true(hi > 2500);
}

static void test_huge_attempts(void **state)
{
    verani_client_options o;
    vr_backoff b;

    (void)state;
    verani_client_options_init(&o);
    o.jitter_percent = -1;
    o.initial_delay_ms = 10;
    o.max_delay_ms = UINT32_MAX;
    o.backoff_multiplier = 1000.0f;
    vr_backoff_from_options(&b, &o);
    assert_int_equal(vr_backoff_delay(&b, UINT32_MAX, 1), UINT32_MAX);
    assert_int_equal(vr_backoff_delay(&b, 2, 1), 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_schedule),
        cmocka_unit_test(test_defaults_from_zero_options),
        cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_jitter_spreads),
        cmocka_unit_test(test_huge_attempts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
