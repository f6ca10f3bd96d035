/* SPDX-License-Identifier: MIT */
/*
 * backoff.c: reconnection delays, for the client and the cluster engine. A
 * pure function of the backoff parameters, the attempt number and a random
 * number, so it is unit-tested directly; it schedules nothing (the caller
 * arms a timer with the result) and draws no random numbers itself. The
 * client's options become parameters in client/client.c.
 */
#include "core-private.h"

uint32_t vr_backoff_delay(const vr_backoff *b, uint32_t attempt, uint32_t rnd)
{
    double d = (double)b->initial_ms;
    uint32_t i, base;

    /* Multiply step by step and stop at the cap: no overflow for any attempt. */
    for (i = 1; i < attempt && d < (double)b->max_ms; i++)
        d *= b->multiplier;
    if (d > (double)b->max_ms)
        d = (double)b->max_ms;
    base = (uint32_t)d;

    if (b->jitter_percent > 0 && base > 0) {
        /* Spread uniformly over [base - span, base + span], then cap again. */
        uint64_t span = (uint64_t)base * (uint64_t)b->jitter_percent / 100u;
        uint64_t lo = (uint64_t)base - span;
        uint64_t v = lo + (uint64_t)rnd % (2u * span + 1u);
        if (v > b->max_ms)
            v = b->max_ms;
        base = (uint32_t)v;
    }
    return base;
}
