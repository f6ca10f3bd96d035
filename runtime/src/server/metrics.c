/* SPDX-License-Identifier: MIT */
/*
 * metrics.c: the Prometheus text exposition (format 0.0.4) of the server's
 * counters (metrics-int.h) and of the gauges computed here from the
 * server's lists at scrape time: connections and instances per room, and the
 * deepest outbound queue. It does not serve HTTP (api/http_api.c does) and
 * reads no clock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <verani/rpc.h> /* verani_server_metrics_text: declared there, exported from here */

#include "core/core-private.h"
#include "metrics-int.h"
#include "server-int.h"

/* --- the counters --------------------------------------------------------- */

/* Upper bounds of the handler time buckets, in microseconds. */
static const int64_t handler_bounds_us[VR_METRICS_HANDLER_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 50000, 250000, 1000000};

void vr_metrics_handler_time(vr_metrics *m, int64_t us)
{
    size_t i;

    if (us < 0)
        us = 0;
    m->handler_count++;
    m->handler_sum_us += (uint64_t)us;
    for (i = 0; i < VR_METRICS_HANDLER_BUCKETS; i++)
        if (us <= handler_bounds_us[i]) {
            m->handler_buckets[i]++;
            return;
        }
}

/* --- the exposition ------------------------------------------------------- */

/* A label value: backslash, quote and newline escaped (the 0.0.4 rules). */
static void label_value(vr_sb *sb, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '\\' || *s == '"')
            vr_sb_printf(sb, "\\%c", *s);
        else if (*s == '\n')
            vr_sb_add(sb, "\\n", 2);
        else
            vr_sb_add(sb, s, 1);
    }
}

static void head(vr_sb *sb, const char *name, const char *type, const char *help)
{
    vr_sb_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void vr_metric_counter(vr_sb *sb, const char *name, const char *help, uint64_t v)
{
    head(sb, name, "counter", help);
    vr_sb_printf(sb, "%s %llu\n", name, (unsigned long long)v);
}

void vr_metrics_render(verani_server *srv, vr_sb *sb)
{
    const vr_metrics *m = &srv->metrics;
    uint32_t qmax = 0;
    size_t qbytes = 0, i;
    uint64_t cum = 0;

    head(sb, "verani_connections", "gauge", "Sessions that completed hello, by room.");
    for (i = 0; i < srv->n_mounts; i++) {
        size_t n = 0;

        lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&srv->mounts[i]->instances)) {
            n += lws_container_of(d, vr_instance, node)->sessions.count;
        } lws_end_foreach_dll(d);
        vr_sb_add(sb, "verani_connections{room=\"", 25);
        label_value(sb, srv->mounts[i]->def->schema->name);
        vr_sb_printf(sb, "\"} %zu\n", n);
    }
    head(sb, "verani_room_instances", "gauge", "Room instances in memory, by room.");
    for (i = 0; i < srv->n_mounts; i++) {
        vr_sb_add(sb, "verani_room_instances{room=\"", 28);
        label_value(sb, srv->mounts[i]->def->schema->name);
        vr_sb_printf(sb, "\"} %u\n", srv->mounts[i]->instances.count);
    }
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&srv->sessions)) {
        const verani_session *s = lws_container_of(d, verani_session, all);
        uint32_t frames;
        size_t bytes;

        vr_session_queued(s, &frames, &bytes);
        if (frames > qmax)
            qmax = frames;
        if (bytes > qbytes)
            qbytes = bytes;
    } lws_end_foreach_dll(d);
    head(sb, "verani_sockets", "gauge", "Open sockets: sessions, HTTP requests, upgrades.");
    vr_sb_printf(sb, "verani_sockets %u\n", srv->n_sockets);
    vr_metric_counter(sb, "verani_sockets_refused_total", "Sockets closed as soon as accepted: "
            "max_connections reached, or too few file descriptors left.", m->sockets_refused);
    vr_metric_counter(sb, "verani_frames_received_total", "WebSocket messages received.", m->frames_in);
    vr_metric_counter(sb, "verani_received_bytes_total", "WebSocket payload bytes received.", m->bytes_in);
    vr_metric_counter(sb, "verani_frames_sent_total", "Frames written to sockets.", m->frames_out);
    vr_metric_counter(sb, "verani_sent_bytes_total", "Bytes written to sockets, WebSocket headers included.",
            m->bytes_out);
    head(sb, "verani_errors_total", "counter", "Error frames sent to clients, by wire code.");
    for (i = 0; i < VR_METRICS_ERROR_CODES; i++) {
        if (!m->errors[i] && i > VERANI__WIRE__ERROR_CODE__TOO_LARGE)
            continue;
        vr_sb_printf(sb, "verani_errors_total{code=\"%s\"} %llu\n", vr_wire_error_name((int)i),
                     (unsigned long long)m->errors[i]);
    }
    vr_metric_counter(sb, "verani_rate_limited_frames_total", "Frames refused by a room's rate limit.",
            m->rate_limited);
    vr_metric_counter(sb, "verani_json_frames_total", "Frames encoded for sessions on Verani's "
            "JSON wire: one per frame sent, however many of them receive it.", m->json_frames);
    vr_metric_counter(sb, "verani_slow_consumer_disconnects_total",
            "Sessions closed with 4000 because their outbound queue passed its bound.",
            m->slow_disconnects);
    head(sb, "verani_detached_sessions", "gauge", "Sessions waiting for a resume.");
    vr_sb_printf(sb, "verani_detached_sessions %u\n", srv->detached.count);
    vr_metric_counter(sb, "verani_detached_sessions_dropped_total", "Sessions waiting for a resume ended "
            "before their grace period, the oldest first, past max_detached.",
            m->detached_dropped);
    vr_metric_counter(sb, "verani_emit_async_unreached_total", "verani_server_emit_async calls for a "
            "room instance not in memory: nobody was reached (and nobody was told).",
            m->emit_async_unreached);
    vr_metric_counter(sb, "verani_cluster_forwarded_calls_total", "Outside calls (emits) sent to the "
            "node that owns their room instance.", m->cluster_forwarded);
    vr_metric_counter(sb, "verani_cluster_forward_failures_total", "Outside calls for an instance "
            "another node owns that failed: no node serves it, the owner is not live or did "
            "not answer, or it refused.", m->cluster_forward_failed);
    vr_metric_counter(sb, "verani_deferred_replies_total", "Requests whose handler deferred the reply "
            "(verani_ctx_defer).", m->deferred_replies);
    vr_metric_counter(sb, "verani_deferred_replies_dropped_total", "Deferred answers that found no "
            "request: its session had ended, or its handler failed after deferring.",
            m->deferred_dropped);
    vr_metric_counter(sb, "verani_worker_jobs_total", "Worker jobs accepted by verani_ctx_post.",
            m->jobs_posted);
    vr_metric_counter(sb, "verani_worker_jobs_done_total", "Worker jobs whose completion ran.",
            m->jobs_done);
    vr_metric_counter(sb, "verani_worker_jobs_refused_total", "verani_ctx_post calls refused: the "
            "queue was full (worker_queue_max) or the server was stopping.", m->jobs_refused);
    if (srv->pool) {
        uint32_t queued, running;

        vr_workers_load(srv, &queued, &running);
        head(sb, "verani_worker_jobs_queued", "gauge", "Worker jobs posted and not started.");
        vr_sb_printf(sb, "verani_worker_jobs_queued %u\n", queued);
        head(sb, "verani_worker_jobs_running", "gauge", "Worker jobs running now.");
        vr_sb_printf(sb, "verani_worker_jobs_running %u\n", running);
    }
    vr_cluster_node_metrics(srv, sb);
    vr_metric_counter(sb, "verani_room_instances_evicted_total",
            "Room instances freed from memory after instance_idle_ms without a session.",
            m->instances_evicted);
    head(sb, "verani_resumes_total", "counter", "Resume requests: every missed frame recovered, "
         "some not recoverable, or the token refused (a fresh session).");
    vr_sb_printf(sb, "verani_resumes_total{result=\"recovered\"} %llu\n",
                 (unsigned long long)m->resumes_recovered);
    vr_sb_printf(sb, "verani_resumes_total{result=\"not_recovered\"} %llu\n",
                 (unsigned long long)m->resumes_failed);
    vr_sb_printf(sb, "verani_resumes_total{result=\"refused\"} %llu\n",
                 (unsigned long long)m->resumes_refused);
    vr_metric_counter(sb, "verani_connections_refused_total",
            "(Re)connections refused before the upgrade (401, 403, 404, 503).",
            m->upgrades_refused);
    head(sb, "verani_handler_duration_seconds", "histogram",
         "Time spent in typed event handlers.");
    for (i = 0; i < VR_METRICS_HANDLER_BUCKETS; i++) {
        cum += m->handler_buckets[i];
        vr_sb_printf(sb, "verani_handler_duration_seconds_bucket{le=\"%g\"} %llu\n",
                     (double)handler_bounds_us[i] / 1e6, (unsigned long long)cum);
    }
    vr_sb_printf(sb, "verani_handler_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                 (unsigned long long)m->handler_count);
    vr_sb_printf(sb, "verani_handler_duration_seconds_sum %.6f\n",
                 (double)m->handler_sum_us / 1e6);
    vr_sb_printf(sb, "verani_handler_duration_seconds_count %llu\n",
                 (unsigned long long)m->handler_count);
    head(sb, "verani_outbound_queue_max_frames", "gauge",
         "The deepest session outbound queue now, in frames.");
    vr_sb_printf(sb, "verani_outbound_queue_max_frames %u\n", qmax);
    head(sb, "verani_outbound_queue_max_bytes", "gauge",
         "The largest session outbound queue now, in bytes.");
    vr_sb_printf(sb, "verani_outbound_queue_max_bytes %zu\n", qbytes);
    vr_metric_counter(sb, "verani_api_requests_total", "HTTP API and /metrics requests answered.",
            m->api_requests);
}

size_t verani_server_metrics_text(verani_server *srv, char *buf, size_t len)
{
    vr_sb sb;
    size_t n;

    memset(&sb, 0, sizeof(sb));
    if (!srv)
        return 0;
    vr_metrics_render(srv, &sb);
    n = sb.len;
    if (buf && len) {
        size_t c = n < len - 1 ? n : len - 1;

        if (sb.buf)
            memcpy(buf, sb.buf, c);
        buf[c] = '\0';
    }
    vr_sb_free(&sb);
    return n;
}
