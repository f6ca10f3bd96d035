/* SPDX-License-Identifier: MIT */
/*
 * ratelimit-int.h: the per-connection token bucket behind a room's
 * `limits { rate; burst; }`. Pure arithmetic on a caller-supplied clock, so
 * it is tested without sleeping; it knows nothing of sessions or sockets.
 */
#ifndef VERANI_RATELIMIT_INT_H
#define VERANI_RATELIMIT_INT_H

#include <stdint.h>

/* The limit: `rate` frames per second and `burst` at once (0: `rate`); rate 0: none. It is
 * the room's, so a session keeps only its bucket's state. */
typedef struct vr_bucket_rule {
    uint32_t rate;
    uint32_t burst;
} vr_bucket_rule;

typedef struct vr_bucket {
    uint64_t tokens_milli; /* tokens x 1000, so refills of a fraction of a token add up */
    int64_t last_us;       /* the clock at the last refill */
} vr_bucket;

/* A full bucket for rule `r`. */
void vr_bucket_init(vr_bucket *b, vr_bucket_rule r, int64_t now_us);

/* Refill for the time since the last call, then take one token. Returns 1
 * when the frame is allowed, 0 when it is over the limit. A clock that goes
 * backwards refills nothing. */
int vr_bucket_take(vr_bucket *b, vr_bucket_rule r, int64_t now_us);

#endif /* VERANI_RATELIMIT_INT_H */
