/* SPDX-License-Identifier: MIT */
/*
 * metrics-int.h: the server's counters, updated on the event-loop thread
 * only (plain increments, no atomics), and read by metrics.c when /metrics is
 * scraped. Gauges that can be computed from the server's own lists
 * (connections per room, instances, outbound queue depth) are computed at
 * scrape time instead of being kept here, so the hot paths pay nothing for
 * them. No clock is read per delivered frame; the handler time is one pair of
 * clock reads per handler call.
 */
#ifndef VERANI_METRICS_INT_H
#define VERANI_METRICS_INT_H

#include <stddef.h>
#include <stdint.h>

#define VR_METRICS_ERROR_CODES 16   /* wire error codes 0..15 (PROTOCOL.md) */
#define VR_METRICS_HANDLER_BUCKETS 10

typedef struct vr_metrics {
    uint64_t frames_in, bytes_in;       /* WebSocket messages and bytes received */
    uint64_t frames_out, bytes_out;     /* frames and bytes written to sockets */
    uint64_t errors[VR_METRICS_ERROR_CODES]; /* error frames sent, by wire code */
    uint64_t rate_limited;              /* frames refused by the rate limit */
    uint64_t json_frames;               /* JSON twins made (json_tx.c): one per frame, however
                                           many sessions on the JSON wire it reaches */
    uint64_t slow_disconnects;          /* sessions closed with 4000 */
    uint64_t instances_evicted;         /* idle instances freed (room.c) */
    uint64_t resumes_recovered, resumes_failed; /* resume (PROTOCOL.md section 3) */
    uint64_t resumes_refused;           /* a resume token no session matched */
    uint64_t upgrades_refused;          /* upgrades refused (401, 403, 404, 503...) */
    uint64_t sockets_refused;           /* sockets closed at accept (no room: lws_cb.c) */
    uint64_t detached_dropped;          /* detached sessions ended past max_detached */
    uint64_t handler_count;             /* typed handler calls observed */
    uint64_t handler_buckets[VR_METRICS_HANDLER_BUCKETS]; /* not cumulative */
    uint64_t handler_sum_us;
    uint64_t api_requests;              /* HTTP API and /metrics requests answered */
    uint64_t emit_async_unreached;      /* emit_async calls for an unknown room or instance */
    uint64_t cluster_forwarded;         /* outside calls sent to the owner of their instance */
    uint64_t cluster_forward_failed;    /* ... that failed (no owner, no answer, refused) */
    uint64_t deferred_replies;          /* verani_ctx_defer calls that deferred a reply */
    uint64_t deferred_dropped;          /* deferred answers whose request was gone */
    uint64_t jobs_posted, jobs_done;    /* worker jobs accepted; whose `done` ran */
    uint64_t jobs_refused;              /* verani_ctx_post refused: queue full, stopping */
} vr_metrics;

/* Count an error frame with wire code `code`. */
static inline void vr_metrics_error(vr_metrics *m, int code)
{
    m->errors[code >= 0 && code < VR_METRICS_ERROR_CODES ? code : 0]++;
}


/* Observe one handler call that took `us` microseconds. */
void vr_metrics_handler_time(vr_metrics *m, int64_t us);
/* One counter with no labels, its HELP and TYPE lines first (the cluster's figures too). */
struct vr_sb;
void vr_metric_counter(struct vr_sb *sb, const char *name, const char *help, uint64_t v);

#endif /* VERANI_METRICS_INT_H */
