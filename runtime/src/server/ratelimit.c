/* SPDX-License-Identifier: MIT */
/*
 * ratelimit.c: a token bucket in integer arithmetic (thousandths of a token)
 * for the per-connection frame rate limit. What happens to a frame over the
 * limit (an error frame, then a close) is the session code's policy, not
 * this file's.
 */
#include "ratelimit-int.h"

static uint32_t bucket_size(vr_bucket_rule r)
{
    return r.burst ? r.burst : r.rate;
}

void vr_bucket_init(vr_bucket *b, vr_bucket_rule r, int64_t now_us)
{
    b->tokens_milli = (uint64_t)bucket_size(r) * 1000u;
    b->last_us = now_us;
}

int vr_bucket_take(vr_bucket *b, vr_bucket_rule r, int64_t now_us)
{
    uint64_t cap = (uint64_t)bucket_size(r) * 1000u;

    if (!r.rate)
        return 1;
    if (now_us > b->last_us) {
        uint64_t dt = (uint64_t)(now_us - b->last_us);

        if (dt > 60u * 1000000u) { /* a minute refills any bucket; avoids overflow below */
            b->tokens_milli = cap;
            b->last_us = now_us;
            dt = 0;
        }
        /* rate tokens per 1e6 us = rate * 1000 milli-tokens per 1e6 us */
        uint64_t add = dt * r.rate / 1000u;

        if (dt && add) {
            /* Up to `burst` whole tokens plus the fraction toward the next, so
             * the fraction is not lost when a full bucket is drained at once. */
            b->tokens_milli = b->tokens_milli + add > cap + 999 ? cap + 999
                                                                 : b->tokens_milli + add;
            /* keep the remainder of the time that did not make a whole milli-token */
            b->last_us = now_us - (int64_t)((dt * r.rate % 1000u) / r.rate);
        }
    }
    if (b->tokens_milli < 1000u)
        return 0;
    b->tokens_milli -= 1000u;
    return 1;
}
