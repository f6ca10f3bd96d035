/* SPDX-License-Identifier: MIT */
/*
 * backoff.c: the client's reconnection delays. A pure function of the
 * options, the attempt number and a random number, so it is unit-tested
 * directly; it schedules nothing (client_conn.c arms an lws_sul with the
 * result) and draws no random numbers itself.
 */
#include "client-private.h"

void vr_backoff_from_options(vr_backoff *b, const verani_client_options *opts)
{
    b->initial_ms = opts->initial_delay_ms ? opts->initial_delay_ms : 1000;
    b->max_ms = opts->max_delay_ms ? opts->max_delay_ms : 30000;
    if (b->max_ms < b->initial_ms)
        b->max_ms = b->initial_ms;
    b->multiplier = opts->backoff_multiplier > 0.0f ? (double)opts->backoff_multiplier : 1.5;
    if (b->multiplier < 1.0)
        b->multiplier = 1.0;
    if (opts->jitter_percent < 0)
        b->jitter_percent = 0;
    else if (opts->jitter_percent == 0)
        b->jitter_percent = 20;
    else
        b->jitter_percent = opts->jitter_percent > 100 ? 100 : opts->jitter_percent;
}

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
