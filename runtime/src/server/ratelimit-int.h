/* SPDX-License-Identifier: MIT */
/*
 * ratelimit-int.h: the per-connection token bucket behind a room's
 * `limits { rate; burst; }`. Pure arithmetic on a caller-supplied clock, so
 * it is tested without sleeping; it knows nothing of sessions or sockets.
 */
#ifndef VERANI_RATELIMIT_INT_H
#define VERANI_RATELIMIT_INT_H

#include <stdint.h>

typedef struct vr_bucket {
    uint64_t tokens_milli; /* tokens x 1000, so refills of a fraction of a token add up */
    int64_t last_us;       /* the clock at the last refill */
    uint32_t rate;         /* tokens per second; 0: unlimited */
    uint32_t burst;        /* bucket size; 0: `rate` */
} vr_bucket;

/* A full bucket for `rate` frames per second and `burst` frames at once. */
void vr_bucket_init(vr_bucket *b, uint32_t rate, uint32_t burst, int64_t now_us);

/* Refill for the time since the last call, then take one token. Returns 1
 * when the frame is allowed, 0 when it is over the limit. A clock that goes
 * backwards refills nothing. */
int vr_bucket_take(vr_bucket *b, int64_t now_us);

#endif /* VERANI_RATELIMIT_INT_H */
