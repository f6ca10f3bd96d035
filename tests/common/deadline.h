/* SPDX-License-Identifier: MIT */
/*
 * deadline.h: wall-clock bounds for the tests' waits. Every wait in the suite
 * ("service until the client reconnects", "until the log has this line") ends
 * at a deadline on the monotonic clock, never after a count of loop turns or a
 * bare sleep: a busy machine makes each turn return sooner (so a count of
 * turns passes before the event is due) and makes each event later (so a fixed
 * sleep is too short). A bound is derived from the timeouts the test itself
 * configures, generously (DL_GENEROUS), so that only a real failure reaches
 * it; no test asserts how long something took.
 *
 * VERANI_TEST_TIME_SCALE (a positive integer, default 1) multiplies every
 * bound, for machines far slower than CI's. Header-only; the caller defines
 * _POSIX_C_SOURCE 200809L (or more) before including it.
 */
#ifndef VERANI_TEST_DEADLINE_H
#define VERANI_TEST_DEADLINE_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* The bound for a wait whose event the test's own settings put at most
 * `expected_ms` away: ten times that plus five seconds (a sanitizer build on
 * a loaded 2-core machine runs several times slower than a quiet one). */
#define DL_GENEROUS(expected_ms) (10 * (int64_t)(expected_ms) + 5000)

/* The default bound for a wait on something the test does not delay on
 * purpose (a reply, a welcome, a line in a log): DL_GENEROUS(2500). */
#define DL_WAIT_MS DL_GENEROUS(2500)

/* Milliseconds on the monotonic clock. */
static inline int64_t dl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* VERANI_TEST_TIME_SCALE, or 1 when unset or not a positive integer. */
static inline int64_t dl_scale(void)
{
    const char *s = getenv("VERANI_TEST_TIME_SCALE");
    long v = s ? strtol(s, NULL, 10) : 1;

    return v > 0 ? v : 1;
}

/* The deadline `ms` (scaled) from now. */
static inline int64_t dl_after(int64_t ms)
{
    return dl_now_ms() + ms * dl_scale();
}

/* Nonzero once `deadline` has passed. */
static inline int dl_passed(int64_t deadline)
{
    return dl_now_ms() >= deadline;
}

/* Milliseconds left until `deadline` (0 once it passed), for poll()-style timeouts. */
static inline int dl_left_ms(int64_t deadline)
{
    int64_t left = deadline - dl_now_ms();

    return left <= 0 ? 0 : left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* Sleep `ms` (unscaled): for pacing a wait loop, never as the wait itself. */
static inline void dl_nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

#endif /* VERANI_TEST_DEADLINE_H */
