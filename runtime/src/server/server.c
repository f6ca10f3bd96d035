/* SPDX-License-Identifier: MIT */
/*
 * server.c: the Verani-C server object on libwebsockets: options, create,
 * mount, listen (the lws context and vhost, on libev's epoll loop), the
 * event loop (run / service / async-signal-safe stop with a graceful 1012
 * shutdown), destroy, and verani_server_emit_async, which encodes on the
 * calling thread and queues the frame as one more outside call (rpc.c). The
 * protocol callback and socket accounting are lws_cb.c's, the upgrade
 * upgrade.c's, plain HTTP and static files http.c's, per-message work the
 * session files', delivery broker.c's, the HTTP API and /metrics
 * api/http_api.c's. No TLS policy beyond loading the given certificate and
 * key.
 */
#define _POSIX_C_SOURCE 200809L /* strcasecmp */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include <ev.h>

#include "api/api-private.h"
#include "core/core-private.h"
#include "server-int.h"

/* The per-connection receive buffer (opts.recv_buffer_bytes): the default, and the floor
 * (at 128 a graceful stop lost its close frame under a flood of small messages:
 * client_e2e's test_restart_keeps_order). 256 holds a typical event whole and keeps an idle
 * connection within 2 KiB (bench/RESULTS.md, "Idle memory"). */
#define VR_RX_BUFFER 256
#define VR_RX_BUFFER_MIN 256

/* A turn that fans out takes extra non-blocking epoll rounds while they keep bringing input,
 * each reading at most one receive buffer per connection: as many as take in
 * VR_READ_AHEAD_BYTES of one busy sender (16 rounds of 512 bytes took in a publisher's
 * 32-message burst: bench/RESULTS.md), at least 16 and at most 64 (loop_turn). */
#define VR_READ_AHEAD_BYTES 8192u
#define VR_READ_AHEAD_MIN 16u
#define VR_READ_AHEAD_MAX 64u

static void set_error(verani_server *srv, const char *fmt, ...) VERANI_PRINTF(2, 3);
static void set_error(verani_server *srv, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(srv->last_error, sizeof(srv->last_error), fmt, ap);
    va_end(ap);
    VR_ERR("%s\n", srv->last_error);
}

void vr_server_error(verani_server *srv, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(srv->last_error, sizeof(srv->last_error), fmt, ap);
    va_end(ap);
}

int vr_server_listening(const verani_server *srv)
{
    return srv->ctx != NULL;
}

struct vr_api **vr_server_api(verani_server *srv)
{
    return &srv->api;
}

void vr_server_api_counted(verani_server *srv)
{
    srv->metrics.api_requests++;
}

void verani_server_options_init(verani_server_options *opts)
{
    memset(opts, 0, sizeof(*opts));
}

const char *verani_server_last_error(const verani_server *srv)
{
    return srv ? srv->last_error : "";
}

/* --- the cross-thread emit: one more outside call (rpc.c) ---------------- */

int verani_server_emit_async(verani_server *srv, const verani_room_def *room,
                             const char *instance, const verani_target *to,
                             const verani_event_def *ev, const ProtobufCMessage *msg)
{
    vr_frame *f;
    int err = 0;

    if (!srv || !room || !to || !ev || to->kind == VERANI_TO_SELF || to->except)
        return VERANI_EINVAL;
    if (srv->stop_flag)
        return VERANI_ECLOSED;
    f = vr_event_frame(ev, msg, to->kind == VERANI_TO_CHANNEL ? to->name : NULL, &err);
    if (!f)
        return err ? err : VERANI_ENOMEM;
    if (!vr_frame_fits(srv, f)) { /* opts are read-only after create: any thread */
        VR_WARN("emit '%s': %zu bytes, more than any session's outbound queue holds (%zu): "
                "not sent\n", ev->name, (size_t)f->len, srv->opts.queue_max_bytes);
        vr_frame_unref(f);
        return VERANI_ETOOBIG;
    }
    return vr_rpc_emit_async(srv, room, instance, to, f);
}

/* --- lifecycle ----------------------------------------------------------- */

/* Every option left 0 gets its default (server.h). */
static void options_defaults(verani_server_options *o)
{
    if (!o->max_connections)
        o->max_connections = 100000;
    if (!o->max_sessions)
        o->max_sessions = o->max_connections;
    if (!o->max_detached)
        o->max_detached = o->max_sessions;
    if (!o->idle_timeout_ms)
        o->idle_timeout_ms = 60000;
    if (!o->handshake_timeout_ms)
        o->handshake_timeout_ms = 10000;
    if (!o->queue_max_frames)
        o->queue_max_frames = 1024;
    if (!o->queue_max_bytes)
        o->queue_max_bytes = 4u << 20;
    if (!o->resume_grace_ms)
        o->resume_grace_ms = 30000;
    if (!o->retain_max_frames)
        o->retain_max_frames = 1000;
    if (!o->retain_max_age_ms)
        o->retain_max_age_ms = 120000;
    if (!o->instance_idle_ms)
        o->instance_idle_ms = 60000;
    if (!o->storage_busy_timeout_ms)
        o->storage_busy_timeout_ms = VR_STORAGE_BUSY_MS;
    if (!o->recv_buffer_bytes)
        o->recv_buffer_bytes = VR_RX_BUFFER;
    else if (o->recv_buffer_bytes < VR_RX_BUFFER_MIN)
        o->recv_buffer_bytes = VR_RX_BUFFER_MIN;
    if (!o->log_level)
        o->log_level = VERANI_LOG_ERR | VERANI_LOG_WARN;
}

verani_server *verani_server_create(const verani_server_options *opts, char *errbuf,
                                    size_t errlen)
{
    verani_server *srv = vr_calloc(1, sizeof(*srv));
    size_t i;

    if (!srv) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    if (opts)
        srv->opts = *opts;
    srv->opts.bind_address = vr_strdup(srv->opts.bind_address);
    srv->opts.tls_cert_path = vr_strdup(srv->opts.tls_cert_path);
    srv->opts.tls_key_path = vr_strdup(srv->opts.tls_key_path);
    if (vr_cluster_opts_copy(srv)) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "out of memory");
        verani_server_destroy(srv);
        return NULL;
    }
    if (vr_static_init(srv, errbuf, errlen)) {
        verani_server_destroy(srv);
        return NULL;
    }
    if (srv->opts.n_origins) {
        srv->origins = vr_calloc(srv->opts.n_origins, sizeof(char *));
        for (i = 0; srv->origins && i < srv->opts.n_origins; i++)
            srv->origins[i] = vr_strdup(opts->origins[i]);
        srv->opts.origins = (const char *const *)srv->origins;
    }
    options_defaults(&srv->opts);
    srv->broker = &vr_broker_local;
    srv->port = -1;
    pthread_mutex_init(&srv->async_lock, NULL);
    verani_set_log_level(srv->opts.log_level, NULL);
    if ((opts && opts->bind_address && !srv->opts.bind_address) ||
        (opts && opts->n_origins && !srv->origins)) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "out of memory");
        verani_server_destroy(srv);
        return NULL;
    }
    if (vr_random_hex(srv->epoch, 8)) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "no random source for the session epoch");
        verani_server_destroy(srv);
        return NULL;
    }
    if (vr_server_storage_open(srv, errbuf, errlen)) {
        verani_server_destroy(srv);
        return NULL;
    }
    return srv;
}

/* Name, once, the `on` events the handler table leaves NULL: an event nobody handles is
 * dropped and a request answered NO_HANDLER (unless on_message takes them), which a schema
 * that grew ahead of its handlers would otherwise do in silence. */
static void warn_missing_handlers(const verani_room_def *room, const void *handlers)
{
    const verani_room_schema *sc = room->schema;
    char list[512] = "";
    size_t used = 0, i, n = 0;

    for (i = 0; room->handler_offsets && i < sc->n_on; i++) {
        void (*fn)(void);
        int w;

        memcpy(&fn, (const char *)handlers + room->handler_offsets[i], sizeof(fn));
        if (fn)
            continue;
        n++;
        if (used >= sizeof(list) - 1)
            continue;
        w = snprintf(list + used, sizeof(list) - used, "%s%s%s", used ? ", " : "",
                     sc->on[i].name, sc->on[i].out ? " (a request)" : "");
        used = w < 0 ? used : used + (size_t)w >= sizeof(list) ? sizeof(list) - 1
                                                              : used + (size_t)w;
    }
    if (n)
        VR_WARN("room %s: no handler for %zu `on` event(s): %s; %s\n", sc->name, n, list,
                ((const verani_hooks *)handlers)->on_message
                    ? "hooks.on_message receives them"
                    : "their events are dropped and their requests answered NO_HANDLER");
}

/* May room `sc` be mounted at `path` (not the API's, the static files' or another room's)?
 * VERANI_EINVAL, with the reason in the server's last error, when not. */
static int mount_path_check(verani_server *srv, const verani_room_schema *sc, const char *path)
{
    size_t i, k;

    if (!path || path[0] != '/') {
        set_error(srv, "room %s: path %s does not start with '/'", sc->name,
                  path ? path : "(none)");
        return VERANI_EINVAL;
    }
    if (vr_mount_path_is_api(srv, path)) {
        set_error(srv, "room %s: path %s is the HTTP API's (%s...) or /metrics: mount the room "
                  "elsewhere or move the API with verani_server_set_api", sc->name, path,
                  vr_http_api_prefix(srv));
        return VERANI_EINVAL;
    }
    if (!strcmp(path, "/health")) {
        set_error(srv, "room %s: path /health is the server's health check (GET /health): "
                  "mount the room elsewhere", sc->name);
        return VERANI_EINVAL;
    }
    if (vr_static_clashes(srv, path)) {
        set_error(srv, "room %s: path %s clashes with the static files at %s", sc->name, path,
                  srv->opts.static_path);
        return VERANI_EINVAL;
    }
    for (i = 0; i < srv->n_mounts; i++)
        for (k = 0; k < srv->mounts[i]->n_paths; k++)
            if (!strcmp(srv->mounts[i]->paths[k].path, path)) {
                set_error(srv, "room %s: path %s is already mounted", sc->name, path);
                return VERANI_EINVAL;
            }
    return 0;
}

/* Split `path` at its {room} placeholder into `pp`. 0, or VERANI_ENOMEM. */
static int path_pattern(vr_pathpat *pp, const char *path, int json)
{
    const char *ph = strchr(path, '{');

    pp->path = path;
    pp->json = json;
    pp->has_placeholder = ph != NULL;
    pp->prefix = ph ? vr_strndup(path, (size_t)(ph - path)) : vr_strdup(path);
    pp->suffix = vr_strdup(ph && strchr(ph, '}') ? strchr(ph, '}') + 1 : "");
    return pp->prefix && pp->suffix ? 0 : VERANI_ENOMEM;
}

int verani_server_mount(verani_server *srv, const verani_room_def *room, const void *handlers,
                        void *user)
{
    const verani_room_schema *sc;
    const char *path;
    vr_mount *m, **nm;
    size_t i;

    if (!srv || !room || !handlers || !room->schema)
        return VERANI_EINVAL;
    if (room->abi != VERANI_GEN_ABI) {
        set_error(srv, "room was generated for ABI %u, this runtime is ABI %u: regenerate it "
                  "with veranic", room->abi, VERANI_GEN_ABI);
        return VERANI_EINVAL;
    }
    if (srv->ctx) {
        set_error(srv, "mount rooms before the server listens");
        return VERANI_ESTATE;
    }
    sc = room->schema;
    path = sc->path && *sc->path ? sc->path : "/ws";
    if (mount_path_check(srv, sc, path) ||
        (sc->wire == VERANI_WIRE_BOTH && mount_path_check(srv, sc, sc->json_path)))
        return VERANI_EINVAL;
    if (sc->wire == VERANI_WIRE_BOTH && !strcmp(path, sc->json_path)) {
        set_error(srv, "room %s: its JSON path is its path %s", sc->name, path);
        return VERANI_EINVAL;
    }
    m = vr_calloc(1, sizeof(*m));
    nm = vr_reallocarray(srv->mounts, srv->n_mounts + 1, sizeof(*nm));
    if (!m || !nm) {
        vr_free(m);
        if (nm)
            srv->mounts = nm;
        return VERANI_ENOMEM;
    }
    srv->mounts = nm;
    if (path_pattern(&m->paths[m->n_paths++], path, sc->wire == VERANI_WIRE_JSON) ||
        (sc->wire == VERANI_WIRE_BOTH &&
         path_pattern(&m->paths[m->n_paths++], sc->json_path, 1))) {
        for (i = 0; i < m->n_paths; i++) {
            vr_free(m->paths[i].prefix);
            vr_free(m->paths[i].suffix);
        }
        vr_free(m);
        return VERANI_ENOMEM;
    }
    m->srv = srv;
    m->def = room;
    m->handlers = handlers;
    m->user = user;
    srv->mounts[srv->n_mounts++] = m;
    if (sc->max_frame > srv->max_frame)
        srv->max_frame = sc->max_frame;
    warn_missing_handlers(room, handlers);
    return 0;
}

static const lws_retry_bo_t no_lws_validity = {.secs_since_valid_ping = 0,
                                                .secs_since_valid_hangup = 0};

/* The descriptor limit the accept check compares with, and the one protocol. */
static void protocols_init(verani_server *srv)
{
    struct rlimit rl;

    /* what the accept check of accept_filter compares descriptors with */
    srv->fd_limit = !getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
                    rl.rlim_cur <= INT_MAX && rl.rlim_cur > 2 * VR_FD_RESERVE
                    ? (int)rl.rlim_cur : 0;
    srv->protocols[0].name = "verani";
    srv->protocols[0].callback = vr_lws_callback;
    srv->protocols[0].per_session_data_size = 0; /* lws_cb.c: the opaque user data */
    srv->protocols[0].rx_buffer_size = srv->max_frame < srv->opts.recv_buffer_bytes
                                       ? srv->max_frame : srv->opts.recv_buffer_bytes;
    srv->protocols[0].tx_packet_size = VR_WRITE_CHUNK;
    srv->read_ahead = VR_READ_AHEAD_BYTES / (uint32_t)(srv->protocols[0].rx_buffer_size | 1);
    if (srv->read_ahead < VR_READ_AHEAD_MIN)
        srv->read_ahead = VR_READ_AHEAD_MIN;
    else if (srv->read_ahead > VR_READ_AHEAD_MAX)
        srv->read_ahead = VR_READ_AHEAD_MAX;
    memset(&srv->protocols[1], 0, sizeof(srv->protocols[1]));
}

/* The lws context: libev (epoll) through lws's event-library plugin, on a loop of our own so
 * a turn can be bounded: lws 4.1's poll() loop rescans every descriptor on each wake-up,
 * which grows with the connections held (bench/RESULTS.md). Without the plugin: poll(). */
static void context_create(verani_server *srv, struct lws_context_creation_info *info)
{
    srv->evloop = srv->opts.event_loop == VERANI_LOOP_POLL
                      ? NULL : ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (srv->evloop) {
        void *loops[1] = {srv->evloop};

        info->options |= LWS_SERVER_OPTION_LIBEV;
        info->foreign_loops = loops;
        srv->ctx = lws_create_context(info);
        info->foreign_loops = NULL;
        info->options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
        if (!srv->ctx) {
            ev_loop_destroy(srv->evloop);
            srv->evloop = NULL;
            VR_NOTICE("the libev event library is not usable here; using poll()\n");
        }
    }
    if (!srv->ctx)
        srv->ctx = lws_create_context(info);
}

static void context_end(verani_server *srv);

int verani_server_listen(verani_server *srv)
{
    struct lws_context_creation_info info;

    if (!srv)
        return VERANI_EINVAL;
    if (srv->ctx)
        return 0;
    if (!srv->n_mounts) {
        set_error(srv, "no room is mounted");
        return VERANI_ESTATE;
    }
    protocols_init(srv);
    memset(&info, 0, sizeof(info));
    if (vr_static_mount(srv, &info)) {
        set_error(srv, "static files at %s clash with the HTTP API (%s...) or /metrics",
                  srv->opts.static_path, vr_http_api_prefix(srv));
        return VERANI_EINVAL;
    }
    info.port = srv->opts.port;
    info.iface = srv->opts.bind_address;
    info.protocols = srv->protocols;
    info.user = srv;
    info.timeout_secs = (srv->opts.handshake_timeout_ms + 999) / 1000;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    /* No lws validity timers: the sweep does idle checks and pings (sweep.c). lws would
     * otherwise keep one sorted timer per connection, and each connect would walk them. */
    info.retry_and_idle_policy = &no_lws_validity;
    if (srv->opts.tls_cert_path && srv->opts.tls_key_path) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = srv->opts.tls_cert_path;
        info.ssl_private_key_filepath = srv->opts.tls_key_path;
        /* HTTP/1.1 only: WebSocket over HTTP/2 streams cannot take the raw,
         * pre-framed writes the delivery path makes. */
        info.alpn = "http/1.1";
    }
    {
        char why[160];
        int r = vr_workers_start(srv, why, sizeof(why));

        if (r) {
            set_error(srv, "%s", why);
            return r;
        }
    }
    context_create(srv, &info);
    if (!srv->ctx) {
        set_error(srv, "cannot listen on %s:%d (port in use, bad TLS files or no memory)",
                  srv->opts.bind_address ? srv->opts.bind_address : "*", srv->opts.port);
        return VERANI_EIO;
    }
    atomic_store(&srv->wake_ctx, srv->ctx);
    {
        char why[256];
        int r = vr_cluster_node_start(srv, why, sizeof(why));

        if (r) {
            set_error(srv, "%s", why);
            VR_ERR("%s\n", why);
            context_end(srv);
            return r;
        }
    }
    srv->vh = lws_get_vhost_by_name(srv->ctx, "default");
    srv->port = srv->vh ? lws_get_vhost_listen_port(srv->vh) : -1;
    VR_NOTICE("listening on port %d, %zu room(s)\n", srv->port, srv->n_mounts);
    vr_sweep_start(srv);
    /* a cluster node restores nothing of its last run: those instances may be another
     * node's now (the handover through Redis brings sessions back) */
    if (!srv->cluster && vr_sessions_restore(srv))
        VR_WARN("sessions of the last run not restored; their clients start fresh sessions\n");
    (void)vr_alarms_load(srv); /* logged; the server runs without them */
    return 0;
}

int verani_server_port(const verani_server *srv)
{
    return srv ? srv->port : -1;
}

void vr_server_wake(verani_server *srv)
{
    struct lws_context *cx;

    /* seq_cst: a waker that saw the context is counted before wake_retire looks */
    atomic_fetch_add(&srv->wake_users, 1);
    cx = atomic_load(&srv->wake_ctx);
    /* One write to the event pipe per wake of the loop: a waker that finds one pending adds
     * nothing. Wakers queue their work before they get here, and the loop clears the flag
     * before it looks at the queues (vr_server_woken), so nothing queued is missed: what
     * came before the clear is seen by that look, what comes after writes again. */
    if (cx && !atomic_exchange(&srv->wake_pending, 1))
        lws_cancel_service(cx); /* only writes a byte to the event pipe */
    atomic_fetch_sub(&srv->wake_users, 1);
}

void vr_server_woken(verani_server *srv)
{
    atomic_store(&srv->wake_pending, 0);
}

/* Before the context is destroyed: no waker may still be using it. */
static void wake_retire(verani_server *srv)
{
    atomic_store(&srv->wake_ctx, NULL);
    while (atomic_load(&srv->wake_users))
        ; /* a waker is inside lws_cancel_service: a few instructions */
}

/* One turn of the event loop: wait for events or a timer when `wait`, else only what is
 * ready; then write what the turn queued. Returns < 0 when the loop cannot go on. */
static int loop_turn(verani_server *srv, int wait)
{
    int r = 0;

    if (srv->evloop) {
        uint64_t seen, in0 = srv->metrics.frames_in;
        uint32_t i;

        ev_run(srv->evloop, wait ? EVRUN_ONCE : EVRUN_NOWAIT);
        /* While input keeps coming to a turn that fans out (more sessions to write than
         * messages taken in), take it before writing: more frames per write under load.
         * A turn that only answers (a reply, a welcome) writes at once: each round more
         * would be an epoll_wait for no fewer writes. */
        for (i = 0; i < srv->read_ahead && srv->n_dirty > srv->metrics.frames_in - in0; i++) {
            seen = srv->metrics.bytes_in;
            ev_run(srv->evloop, EVRUN_NOWAIT);
            if (srv->metrics.bytes_in == seen)
                break;
        }
    } else
        r = lws_service(srv->ctx, wait ? 0 : -1) < 0 ? -1 : 0;
    vr_replica_flush(srv); /* a cluster node's storage writes of the turn, to Redis */
    vr_sessions_flush(srv); /* what the turn queued goes out in one write per session */
    vr_sessions_store_flush(srv);
    return r;
}

/* After the context: let the loop see lws's last watchers go, then free it. */
static void loop_free(verani_server *srv)
{
    if (!srv->evloop)
        return;
    ev_run(srv->evloop, EVRUN_NOWAIT);
    ev_loop_destroy(srv->evloop);
    srv->evloop = NULL;
}

static void wake_cb(lws_sorted_usec_list_t *sul)
{
    (void)sul; /* only there to end the wait */
}

/* Close every session with 1012, let the closes go out, then drop the context
 * (which closes what is left; every close runs on_disconnect). */
/* The end of the lws context (stop or destroy): the detached sessions end, the sweep stops,
 * no waker may touch the context, then it goes with the loop under it. */
static void context_end(verani_server *srv)
{
    vr_sessions_end_detached(srv);
    vr_sweep_stop(srv);
    lws_sul_cancel(&srv->store_retry);
    vr_timers_cancel_all(srv); /* lws's timer list goes with the context */
    vr_alarms_end(srv);
    vr_cluster_node_stop(srv); /* its watchers are on the loop that goes below */
    wake_retire(srv);
    lws_context_destroy(srv->ctx);
    srv->ctx = NULL;
    srv->vh = NULL;
    srv->listen_wsi = NULL;
    loop_free(srv);
    vr_pending_drop(&srv->pending);
}

static void shutdown_loop(verani_server *srv)
{
    lws_usec_t deadline;

    /* the worker pool first: every job's `done` runs (and may answer a deferred reply)
     * while the sessions are still there; what is still deferred then gets an ERROR */
    vr_workers_stop(srv);
    srv->stopping = 1;
    vr_defer_end(srv);
    vr_replica_flush(srv); /* before the handovers, on the same connection */
    if (srv->cluster)
        vr_handover_start(srv); /* to the next owner through Redis, not to a local file */
    else
        vr_sessions_save(srv);
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&srv->sessions)) {
        vr_session_close(lws_container_of(d, verani_session, all), VR_CLOSE_RESTART,
                         VR_CLOSE_RESTART_REASON, 0);
    } lws_end_foreach_dll_safe(d, d1);
    vr_cluster_node_leave(srv); /* others may claim its instances now, not a lease later */
    deadline = lws_now_usecs() + 3 * LWS_US_PER_SEC;
    while ((srv->sessions.count || srv->cluster_leaving || srv->handovers) &&
           lws_now_usecs() < deadline) {
        lws_sul_schedule(srv->ctx, 0, &srv->wake, wake_cb, 100 * LWS_US_PER_MS);
        if (loop_turn(srv, 1) < 0)
            break;
    }
    lws_sul_cancel(&srv->wake);
    vr_handover_abandon(srv);
    context_end(srv);
    VR_NOTICE("stopped\n");
}

int verani_server_run(verani_server *srv)
{
    int r;

    if (!srv)
        return VERANI_EINVAL;
    if (srv->stopping)
        return VERANI_ESTATE;
    r = verani_server_listen(srv);
    if (r)
        return r;
    vr_rpc_loop_enter(srv);
    while (!srv->stop_flag)
        if (loop_turn(srv, 1) < 0)
            break;
    shutdown_loop(srv);
    return 0;
}

int verani_server_service(verani_server *srv, int timeout_ms)
{
    int r;

    if (!srv)
        return VERANI_EINVAL;
    if (srv->stopping)
        return VERANI_ECLOSED;
    r = verani_server_listen(srv);
    if (r)
        return r;
    vr_rpc_loop_enter(srv);
    /* lws 4.1 ignores a positive timeout (it waits for the next event or
     * timer), so a timer of our own bounds the wait */
    if (timeout_ms > 0)
        lws_sul_schedule(srv->ctx, 0, &srv->wake, wake_cb,
                         (lws_usec_t)timeout_ms * LWS_US_PER_MS);
    if (!srv->stop_flag && loop_turn(srv, timeout_ms > 0) < 0)
        srv->stop_flag = 1;
    lws_sul_cancel(&srv->wake);
    if (srv->stop_flag) {
        shutdown_loop(srv);
        return VERANI_ECLOSED;
    }
    return 0;
}

void verani_server_stop(verani_server *srv)
{
    if (!srv)
        return;
    srv->stop_flag = 1;
    vr_server_wake(srv);
}

size_t verani_server_session_count(const verani_server *srv)
{
    return srv ? srv->sessions.count : 0;
}

void verani_server_destroy(verani_server *srv)
{
    size_t i;

    if (!srv)
        return;
    vr_signals_forget(srv);
    vr_workers_stop(srv); /* when it never ran, or stopped elsewhere: `done`s before the rest */
    if (srv->ctx) {
        srv->stopping = 1;
        context_end(srv);
    }
    vr_rpc_fini(srv);
    vr_http_api_free(srv);
    vr_mounts_free(srv);
    vr_sessions_store_flush(srv); /* the deletes of the sessions the close just ended */
    vr_free(srv->store_deletes);
    vr_server_storage_close(srv);
    for (i = 0; srv->origins && i < srv->opts.n_origins; i++)
        vr_free(srv->origins[i]);
    vr_free(srv->origins);
    vr_free((char *)srv->opts.bind_address);
    vr_free((char *)srv->opts.tls_cert_path);
    vr_free((char *)srv->opts.tls_key_path);
    vr_free((char *)srv->opts.static_dir);
    vr_free((char *)srv->opts.static_path);
    vr_cluster_opts_free(srv);
    vr_free(srv->wbuf);
    vr_free(srv->dirty);
    vr_frame_unref(srv->json_pong);
    vr_sref_free_all(srv);
    pthread_mutex_destroy(&srv->async_lock);
    vr_rndpool_wipe(&srv->rnd); /* future client ids and resume tokens */
    vr_free(srv);
}
