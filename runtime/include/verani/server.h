/* SPDX-License-Identifier: MIT */
/*
 * server.h: the Verani-C server. It serves the rooms veranic generated over
 * WebSocket on libwebsockets, with one event-loop thread that runs every
 * handler (so room code never races), and a thread-safe path for other
 * threads to emit and stop.
 *
 * Threads: every call here is for the event-loop thread (inside handlers, or
 * before verani_server_run) unless its comment says "any thread".
 *
 * What goes over the wire (frames, error codes, close codes) is specified in
 * runtime/PROTOCOL.md.
 */
#ifndef VERANI_SERVER_H
#define VERANI_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <verani/common.h>
#include <verani/gen.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct verani_server verani_server;

/* What happens to a session whose outbound queue passes its bound. */
typedef enum verani_slow_policy {
    VERANI_SLOW_DISCONNECT = 0, /* close it with 4000 "slow consumer" (the default) */
    VERANI_SLOW_DROP            /* drop the new frame for that session; its seq is skipped,
                                   so the client sees the gap (on Verani's JSON wire, which
                                   has no seqs, the frame is only missing) */
} verani_slow_policy;

/*
 * The event loop the server runs on. Both write what a loop turn queued at its end, one
 * coalesced write per connection.
 */
typedef enum verani_event_loop {
    VERANI_LOOP_DEFAULT = 0, /* epoll, through libev and libwebsockets' evlib_ev plugin: the
                                cost of a turn follows the connections that have events, so
                                100,000 mostly idle connections cost what their traffic does;
                                a turn takes all the input that is ready (a few non-blocking
                                rounds) before it writes. Falls back to poll() when the
                                plugin cannot be loaded. */
    VERANI_LOOP_POLL         /* libwebsockets' poll() loop: every turn scans every connection,
                                which is cheap up to a few thousand of them and grows with
                                them after (bench/RESULTS.md) */
} verani_event_loop;

/* verani_server_options.resume_grace_ms: no resume (0 is the default grace period). */
#define VERANI_RESUME_OFF UINT32_MAX

/*
 * The cluster (README.md, "Cluster"): several server processes serving one application through
 * one Redis. With redis_address NULL (the default) the server is alone and none of this
 * applies; nothing of Redis is touched.
 *
 * The node registers in Redis with a lease kept by a heartbeat on the server's own event loop
 * (hiredis, no thread), refuses upgrades with 503 and Retry-After while it is not live (Redis
 * unreachable, or the lease lost), and reports it at GET /health and in /metrics. Each room
 * instance has one owner: the node where its first connection arrived claims it in Redis; a
 * connection that reaches another node is closed with 4003 "moved <owner URL>" or answered
 * 307 to the owner (PROTOCOL.md). A node that loses its lease stops serving its instances
 * (1012, sessions kept) until Redis says whether they are still its own. Outside calls about an
 * instance another node owns are sent to it, calls about every instance ask every node (the
 * HTTP API's too), and a graceful stop hands no session over yet (README.md, "Cluster").
 */
typedef struct verani_cluster_options {
    const char *redis_address;     /* "unix:/run/redis.sock" or "IP:port" (an IP literal, not
                                      a host name); NULL: no cluster */
    const char *redis_password;    /* NULL: none */
    const char *prefix;            /* of every Redis key and channel; NULL: "vr" */
    const char *public_url;        /* how clients reach this node directly ("ws://10.0.0.5:8080"):
                                      the URL of its 307s and 4003s; NULL: a bare 4003 */
    const char *node_id;           /* NULL: random (16 hex digits), new at every start */
    uint32_t heartbeat_ms;         /* 0: 1000 */
    uint32_t lease_ms;             /* 0: 5000; at least three heartbeats */
    uint32_t command_timeout_ms;   /* a Redis command's deadline; 0: 2000 */
} verani_cluster_options;

/*
 * Server options. Zero-initialise (or call verani_server_options_init) and
 * set what you need; every zero means the documented default.
 */
typedef struct verani_server_options {
    const char *bind_address;      /* NULL: every interface; "127.0.0.1" for loopback */
    int port;                      /* 0: an ephemeral port, see verani_server_port() */
    const char *tls_cert_path;     /* PEM; both set enables TLS (wss://) */
    const char *tls_key_path;
    /* Sockets in all: sessions, HTTP requests (API, /metrics, 404/426 answers) and the
     * keep-alive waits after them, upgrades still being sent. At the limit the server stops
     * accepting (new connections wait in the kernel's backlog) until one closes; one that is
     * accepted anyway is closed at once, unanswered. The same happens, logged at most every
     * 10 s, when fewer than 32 file descriptors are left below RLIMIT_NOFILE. 0: 100000 */
    uint32_t max_connections;
    uint32_t max_sessions;         /* WebSocket sessions (hello done or not) in all; past it an
                                      upgrade gets 503; 0: max_connections */
    uint32_t max_per_instance;     /* per room instance; 0: no limit beyond max_sessions */
    uint32_t idle_timeout_ms;      /* silent for half: pinged; for all of it: closed 4001;
                                      0: 60000 */
    /* Upgrade and HELLO must complete within it (a session on Verani's JSON wire has no
     * HELLO: it begins at the upgrade). Every socket that is not a session has
     * this long from its accept, or from the end of its previous HTTP request on a keep-alive
     * connection, then it is closed: a request still being sent (headers or body), a
     * keep-alive wait, a TLS handshake. A CONNECT request is closed at once. 0: 10000 */
    uint32_t handshake_timeout_ms;
    /* The per-session outbound bound. A frame that would pass it is not a verdict: what is
     * queued is written at once, and while the connection has taken bytes within the last
     * second the queue may grow to twice the bound (one loop turn can queue a thousand
     * frames to a reader that keeps up). A session still past it whose connection has taken
     * nothing for a second, or at twice it, is a slow consumer (slow_policy). */
    uint32_t queue_max_frames;     /* 0: 1024 */
    size_t queue_max_bytes;        /* 0: 4 MiB. One message larger than this is never queued:
                                      an emit of it returns VERANI_ETOOBIG, a reply becomes
                                      ERROR TOO_LARGE */
    verani_slow_policy slow_policy;
    const char *const *origins;    /* Origin allow-list; NULL/0: any origin */
    size_t n_origins;
    int anonymous_users;           /* nonzero: no user id means "anonymous"; 0: reject with 401 */
    int log_level;                 /* VERANI_LOG_* bits; 0: ERR|WARN */
    const char *storage_path;      /* room storage file (SQLite, WAL; see storage.h), opened
                                      by create; NULL: ":memory:", nothing written to disk */
    /* How long a storage call waits for a lock another connection holds (another process on
     * the same file: a sqlite3 shell in a transaction, a VACUUM). Storage runs on the event
     * loop, so every room waits that long: past it the call fails with VERANI_ETIMEDOUT
     * (room storage: the handler gets it and decides), and the session store keeps its
     * writes and retries them later (every 50 ms, then up to every second) until they are
     * in, without ever waiting longer. A graceful stop waits up to 2 s for its final save.
     * 0: 5 ms */
    uint32_t storage_busy_timeout_ms;
    /* Resume (PROTOCOL.md section 3, "Resume"). A session whose connection drops without the
     * server asking (no close frame, a network error, the idle timeout, a close frame other
     * than 1000 and 1001: those mean the client left, and end the session at once) stays
     * detached for resume_grace_ms: it keeps its client id, meta, channels
     * and place in the instance (presence does not flicker) and emits to it are retained;
     * a HELLO with its resume token reattaches it without on_connect. After the grace period
     * on_disconnect runs once and it is gone. verani_session pointers do not survive a resume
     * (the session moves to the new connection's object): keep client ids, not pointers.
     * With storage_path on a file, sessions also survive a restart: a graceful stop saves
     * them (without on_disconnect) with their retained frames, and the next server on that
     * file restores them detached and calls on_hibernation_restore once per instance; after
     * a crash they come back from their stored attachment in a new epoch (their seqs start
     * again; a resuming client gets every frame sent since the restart, and recovery_failed
     * for what the crash lost). */
    uint32_t resume_grace_ms;      /* 0: 30000; VERANI_RESUME_OFF: no resume at all (every
                                      drop ends the session at once, nothing is retained) */
    /* Detached sessions kept for a resume, in all (each holds its meta, channels and retained
     * frames: about 8 KiB with a few frames). Past it the one lost longest ago ends at once,
     * with on_disconnect, as if its grace period had passed (counted in /metrics as
     * verani_detached_sessions_dropped_total). 0: max_sessions */
    uint32_t max_detached;
    uint32_t retain_max_frames;    /* sequenced frames kept per session for replay; 0: 1000 */
    uint32_t retain_max_age_ms;    /* and no older than this; 0: 120000 */
    /* A room instance with no session (attached or detached) and no pending connection for
     * this long is freed from memory; its room storage stays in the store, and the next
     * connection to it creates it again (on a file store it sees the same storage). 0: 60000 */
    uint32_t instance_idle_ms;
    /* The receive buffer libwebsockets allocates for every connection, in bytes: the largest
     * part of an idle connection's memory after libwebsockets' own state, and also the most
     * read from one connection per read (a longer message arrives in pieces and is
     * reassembled). Raise it for large messages (1024 costs about 0.75 KiB more per
     * connection) or, on the poll() loop, for busy publishers, whose bursts a small one
     * spreads over more loop turns and so fanned-out frames over more writes (the epoll
     * loop reads ahead in a turn that fans out instead: bench/RESULTS.md). At least 256;
     * capped at the largest max_frame of the mounted rooms. 0: 256 */
    uint32_t recv_buffer_bytes;
    verani_event_loop event_loop;  /* VERANI_LOOP_DEFAULT: epoll through libev */
    /* Static files: the directory static_dir served read-only over HTTP by libwebsockets at
     * static_path (GET and HEAD; "<static_path>/" serves index.html; nothing above the
     * directory is reachable), e.g. a web client's page beside its rooms. Off unless
     * static_dir is set. static_path is one or more path segments (default "/app"); a
     * trailing '/' is dropped; "/" alone is refused. It must not clash with a room path
     * (a room's path starting with it, or it starting with the literal part of a path with
     * {room}) nor with the HTTP API's prefix or /metrics: verani_server_mount, or
     * verani_server_listen for the API, fails with VERANI_EINVAL. */
    const char *static_dir;
    const char *static_path;
    /* The worker pool (verani_ctx_post): threads the server starts at listen for work that
     * must not run on the event loop (a database, an HTTP service, slow crypto). 0: none
     * (verani_ctx_post fails with VERANI_ESTATE); at most 256. */
    uint32_t workers;
    /* Jobs posted and not yet started, in all; past it verani_ctx_post fails with
     * VERANI_EFULL (the handler decides: answer with an error, or try later). 0: 1024 */
    uint32_t worker_queue_max;
    /* Rooms on Verani's JSON wire (a schema's `wire json;` or `wire both`; PROTOCOL.md, "The
     * JSON wire"): a frame the server refuses (not JSON, an unknown event, an invalid payload,
     * over the rate limit, a failed handler) is answered with an event "error" carrying
     * {message, code, field}, what Verani applications send by convention. Nonzero: nothing
     * is sent, as Verani's own server does. Either way the refusal counts towards the close
     * with 1008 after repeated protocol errors. */
    int json_errors_silent;
    /* The cluster; needs event_loop VERANI_LOOP_DEFAULT (verani_server_listen fails with
     * VERANI_EINVAL otherwise). Strings copied by create. */
    verani_cluster_options cluster;
} verani_server_options;

VERANI_API void verani_server_options_init(verani_server_options *opts);

/*
 * Create a server; it listens once verani_server_run (or _start) is called.
 * `opts` is copied (strings too). Returns NULL on failure, with the reason in
 * `errbuf` when given.
 */
VERANI_API verani_server *verani_server_create(const verani_server_options *opts, char *errbuf,
                                               size_t errlen);

/*
 * Mount a generated room: `room` is the generated <pkg>_<room>_room and
 * `handlers` a table of the matching generated type (borrowed: it must
 * outlive the server). `user` is returned by verani_ctx_user(). Mount before
 * running. Fails with VERANI_EINVAL for an ABI mismatch or a clashing path.
 */
VERANI_API int verani_server_mount(verani_server *srv, const verani_room_def *room,
                                   const void *handlers, void *user);

/* Bind and listen (once); after it verani_server_port() is the real port. */
VERANI_API int verani_server_listen(verani_server *srv);

/* The port the server listens on, or -1 before it listens. */
VERANI_API int verani_server_port(const verani_server *srv);

/*
 * Run the event loop on the calling thread until verani_server_stop. Listens
 * first when needed. On stop: stops accepting, closes every session with
 * 1012 (service restart: clients reconnect and resume), runs on_disconnect
 * for each (except, on a file store, the sessions it saves for the next run:
 * see resume_grace_ms), and returns 0. Returns VERANI_EINVAL when `srv` is
 * NULL, VERANI_ESTATE when the server has already stopped, or
 * verani_server_listen's error when it cannot listen.
 */
VERANI_API int verani_server_run(verani_server *srv);

/*
 * Run one turn of the event loop, waiting at most `timeout_ms` for something
 * to happen (0 or negative: do not wait). For callers that drive the server
 * from their own loop; listens first when needed.
 * Returns 0 after a turn: call it again. VERANI_ECLOSED once the server has
 * stopped (verani_server_stop, a handled signal, or the loop failing): the
 * sessions were closed as verani_server_run closes them, and every later call
 * returns VERANI_ECLOSED at once; stop calling and free the server.
 * VERANI_EINVAL when `srv` is NULL; verani_server_listen's error when the
 * listening socket cannot be opened (nothing was served).
 */
VERANI_API int verani_server_service(verani_server *srv, int timeout_ms);

/*
 * Ask the loop to stop. Any thread. Async-signal-safe: a signal handler may
 * call it (it stores a flag and writes to lws's event pipe; keep
 * VERANI_LOG_DEBUG off then, since lws logs that write at debug level).
 */
VERANI_API void verani_server_stop(verani_server *srv);

/*
 * Signals. libverani installs no signal handler by itself (the process is the
 * application's), but a server program must handle these:
 *  - SIGPIPE: ignore it. A write to a peer or pipe that is gone otherwise ends
 *    the process; ignored, it fails with EPIPE and that connection is closed.
 *  - SIGXFSZ: ignore it. A write past the process's file-size limit
 *    (`ulimit -f`, RLIMIT_FSIZE: the storage file, its WAL, a log) otherwise
 *    ends the process; ignored, it fails with EFBIG, the storage call fails
 *    with VERANI_EIO (a handler's call returns it, the session store retries
 *    later) and the server goes on.
 *  - SIGINT, SIGTERM: stop gracefully with verani_server_stop (async-signal-
 *    safe: sessions get 1012, service restart, and, on a file store, are saved for a restart).
 * verani_server_handle_signals installs exactly that: SIGPIPE and SIGXFSZ
 * ignored, SIGINT and SIGTERM stopping `srv` (sigaction, SA_RESTART). With
 * `srv` NULL only the two ignores, for an application that handles SIGINT and
 * SIGTERM itself. Main thread, once, before running; one server gets the stop
 * signals (a later call moves them), and verani_server_destroy gives them
 * back their default. Returns 0, or VERANI_EIO when sigaction fails.
 */
VERANI_API int verani_server_handle_signals(verani_server *srv);

/*
 * Emit from any thread: event `ev` of `room` (a mounted room definition) with
 * payload `msg` (NULL for `()`), to `to` in instance `instance` (NULL: every
 * instance of the room). The payload is validated and encoded on the calling
 * thread; the frame is queued to the event loop, which delivers it on its
 * next turn. `to` may not be VERANI_TO_SELF nor use `except` (no session
 * pointer is valid off the loop); its strings are copied. Returns 0 when
 * queued, VERANI_EINVAL, VERANI_ENOMEM, VERANI_ETOOBIG (the event is larger
 * than queue_max_bytes), or VERANI_ECLOSED after stop.
 *
 * It is verani_rpc_emit (rpc.h) without a result: the same queue, in order
 * with the outside calls, and the same behaviour when the loop runs it. An
 * instance that does not exist then (instances exist while they have
 * sessions, and instance_idle_ms after), or a room that is not mounted,
 * reaches nobody: verani_rpc_emit answers VERANI_ENOTFOUND for it (the HTTP
 * API 404); this call, which returned when it queued, counts it in /metrics
 * (verani_emit_async_unreached_total) and logs it (INFO, "emit_async: ...
 * nobody reached").
 */
VERANI_API int verani_server_emit_async(verani_server *srv, const verani_room_def *room,
                                        const char *instance, const verani_target *to,
                                        const verani_event_def *ev, const ProtobufCMessage *msg);

/* Room instances in memory, in every mounted room (idle ones included until evicted).
 * Event-loop thread. */
VERANI_API size_t verani_server_instance_count(const verani_server *srv);

/* Connected sessions in all rooms and instances (hello done or not); detached sessions
 * waiting for a resume are not counted. Event-loop thread. */
VERANI_API size_t verani_server_session_count(const verani_server *srv);

/*
 * Unique user ids with a session in any room instance of the server; fills up
 * to `max` (borrowed pointers, valid until the calling handler returns or the
 * next loop turn) and returns the total. Event-loop thread.
 */
VERANI_API size_t verani_server_user_ids(verani_server *srv, const char **out, size_t max);
/* The sessions of `user_id` in every room instance; like verani_server_user_ids. Both count
 * detached sessions (waiting for a resume), as presence does not flicker on a blip. */
VERANI_API size_t verani_server_user_sessions(verani_server *srv, const char *user_id,
                                              verani_session **out, size_t max);

/* Free the server. Call after run returned (or instead of running). NULL is a no-op. */
VERANI_API void verani_server_destroy(verani_server *srv);

/* The last error text of the server ("" when none). */
VERANI_API const char *verani_server_last_error(const verani_server *srv);

/* --- handler context ----------------------------------------------------- */

VERANI_API void *verani_ctx_user(verani_ctx *ctx);             /* the pointer given to mount */
VERANI_API verani_server *verani_ctx_server(verani_ctx *ctx);
VERANI_API const char *verani_ctx_room(verani_ctx *ctx);       /* room type name, "Chat" */
VERANI_API const char *verani_ctx_instance(verani_ctx *ctx);   /* instance name, "lobby" */
VERANI_API verani_session *verani_ctx_session(verani_ctx *ctx); /* NULL outside a session */
VERANI_API const char *verani_ctx_user_id(verani_ctx *ctx);    /* NULL outside a session */
VERANI_API const char *verani_ctx_client_id(verani_ctx *ctx);  /* NULL outside a session */

/*
 * Scratch memory for the current handler call, zeroed and aligned as malloc's: freed when
 * the handler returns. Use it for the strings and sub-messages of a reply. The payload a
 * typed handler is given lives there too: keep nothing of it past the handler's return
 * (copy what a deferred reply or a worker needs). The first 512 bytes of a call's scratch
 * memory are part of its context; past them each allocation is a heap block.
 */
VERANI_API void *verani_ctx_alloc(verani_ctx *ctx, size_t size);
VERANI_API char *verani_ctx_strdup(verani_ctx *ctx, const char *s);

/* Channels of the context's session: join, leave (from server code; no on_join check). */
VERANI_API int verani_ctx_join(verani_ctx *ctx, const char *channel);
VERANI_API int verani_ctx_leave(verani_ctx *ctx, const char *channel);

/* The longest close reason, in bytes: what a WebSocket close frame carries (125 with the code). */
#define VERANI_CLOSE_REASON_MAX 123

/* Close the context's session with a WebSocket close code and reason (a kick). A reason
 * longer than VERANI_CLOSE_REASON_MAX bytes, or not valid UTF-8 (which a close frame's
 * reason must be), is refused (VERANI_EINVAL), never cut. */
VERANI_API int verani_ctx_close(verani_ctx *ctx, int code, const char *reason);

/* --- sessions ------------------------------------------------------------ */

VERANI_API const char *verani_session_user_id(const verani_session *s);
VERANI_API const char *verani_session_client_id(const verani_session *s);
VERANI_API size_t verani_session_channel_count(const verani_session *s);
VERANI_API const char *verani_session_channel(const verani_session *s, size_t i);
VERANI_API int verani_session_in_channel(const verani_session *s, const char *channel);

/* --- queries over the context's instance ---------------------------------- */

VERANI_API size_t verani_ctx_session_count(verani_ctx *ctx);
/* Unique user ids of the instance; fills up to `max` (borrowed pointers, valid
 * until the handler returns) and returns the total. */
VERANI_API size_t verani_ctx_user_ids(verani_ctx *ctx, const char **out, size_t max);
/* The sessions of `user_id` in the instance; like verani_ctx_user_ids. */
VERANI_API size_t verani_ctx_user_sessions(verani_ctx *ctx, const char *user_id,
                                           verani_session **out, size_t max);

/* --- the instance's own state ------------------------------------------------ */

/*
 * One pointer per room instance for the application's state of it (a game's board, a
 * document's cursor table): set it in hooks.on_instance_start, read it from any handler,
 * hook, timer or job completion of the instance, free what it points at in
 * hooks.on_instance_stop. The runtime never reads or frees it; it starts NULL and goes with
 * the instance. Event-loop thread, with a context of the instance. set: 0, or VERANI_EINVAL
 * (NULL context, or a context of no instance). get: the pointer, NULL for none.
 */
VERANI_API int verani_instance_set_data(verani_ctx *ctx, void *data);
VERANI_API void *verani_instance_data(verani_ctx *ctx);

/* --- timers of the context's instance -------------------------------------- */

/*
 * A timer runs `fn` on the event-loop thread with a context of the instance it
 * was set on: verani_ctx_session() is NULL there, so emit to verani_to_all()
 * or a channel; storage, queries and further timers work as in any handler.
 * Frames it emits go out at the end of the loop turn, as a handler's do.
 *
 * A timer belongs to its instance, not to a session: it ends when cancelled,
 * when a one-shot has fired, or when the instance is freed (instance_idle_ms
 * after its last session left, or when the server is destroyed), and it does
 * not keep an instance from being freed. `arg` stays the caller's: a timer
 * never frees it (free per-instance state in on_instance_stop).
 *
 * verani_instance_after runs `fn` once, `ms` from now; verani_instance_every
 * runs it every `ms` (the first time `ms` from now). A periodic timer keeps its
 * pace (each run is due `ms` after the previous one was due, not after it
 * ran); a run that comes later than a whole period (a long handler, a
 * stalled machine) is not made up: the next is due `ms` after it.
 *
 * Event-loop thread, from a handler, hook or timer (a context of the instance).
 * `id`, when given, receives the timer's id (never 0, unique in the server),
 * for verani_instance_cancel. Returns 0; VERANI_EINVAL for a NULL context or
 * `fn`, a context of no instance, or `ms` 0; VERANI_ECLOSED once the server is
 * stopping; VERANI_ENOMEM.
 */
typedef void (*verani_timer_fn)(verani_ctx *ctx, void *arg);
VERANI_API int verani_instance_after(verani_ctx *ctx, uint32_t ms, verani_timer_fn fn, void *arg,
                                     uint64_t *id);
VERANI_API int verani_instance_every(verani_ctx *ctx, uint32_t ms, verani_timer_fn fn, void *arg,
                                     uint64_t *id);
/* Cancel timer `id` of the context's instance, also from inside its own `fn` (that run ends
 * normally; there is no next one). Returns 0, or VERANI_ENOTFOUND when the instance has no
 * such timer (it fired once already, was cancelled, or belongs to another instance). */
VERANI_API int verani_instance_cancel(verani_ctx *ctx, uint64_t id);
/* The timers the context's instance has (0 for a NULL context). */
VERANI_API size_t verani_instance_timer_count(verani_ctx *ctx);

/*
 * The alarm of the context's instance (a Durable Object's alarm): one per
 * instance, at a wall-clock time in Unix milliseconds. It is written to the
 * server's store (storage_path), so it fires even when the instance was freed
 * in between, or the server stopped and a new one started on the same file:
 * then the instance is created to run hooks.on_alarm (after
 * on_instance_start). One whose time passed while no server ran fires as soon
 * as a server listens. Without a storage file it lives as long as the server.
 *
 * set: replaces the instance's alarm; a time in the past fires at the next
 * loop turn. get: its time into `*at_unix_ms`, or VERANI_ENOTFOUND. delete: 0,
 * or VERANI_ENOTFOUND when it had none. Event-loop thread, with a context of
 * the instance (a handler, hook or timer). Errors: VERANI_EINVAL (no context
 * or instance, a NULL out pointer, a negative time, or a room without
 * hooks.on_alarm, whose alarm nobody would run), VERANI_ECLOSED once the server
 * is stopping, VERANI_ENOMEM, or the store's error (VERANI_EIO, with the
 * reason logged): nothing changed then.
 */
VERANI_API int verani_instance_set_alarm(verani_ctx *ctx, int64_t at_unix_ms);
VERANI_API int verani_instance_get_alarm(verani_ctx *ctx, int64_t *at_unix_ms);
VERANI_API int verani_instance_delete_alarm(verani_ctx *ctx);

/* --- deferred replies ------------------------------------------------------ */

/*
 * A request (an `on` event declared with `returns`) is answered when its handler returns,
 * with the reply the handler filled. A handler that cannot answer yet (it waits for a job
 * of the worker pool, another thread, another instance) defers the reply instead:
 *
 *     verani_reply *r = verani_ctx_defer(ctx);   // in the request's handler
 *     ... return 0;                              // nothing is sent now
 *     verani_reply_send(r, &page);               // later, from any thread: the REPLY goes
 *
 * The handle belongs to the application from verani_ctx_defer until exactly one
 * verani_reply_send or verani_reply_error, which consume it whatever they return (it is
 * freed; using it again is a use after free). The generated
 * <pkg>_<room>_reply_<event>(r, msg) is the typed verani_reply_send.
 *
 * The answer reaches the request's session where it is then: across a resume too (a REPLY
 * sent while the client is reconnecting waits in its resume window, as an emit does). An
 * answer for a session that has ended (its client left, was kicked, or its resume grace
 * passed), or for a request whose handler returned an error after deferring (that error
 * answered it), is dropped and counted in /metrics (verani_deferred_replies_dropped_total).
 * An ERROR answer (verani_reply_error) carries no seq, so, like every ERROR, it is lost
 * when the client has no connection at that moment; its request then ends with the
 * client's own request timeout (verani_client_options.request_timeout_ms).
 *
 * The server does not time a deferred request out: a handle never answered holds a few
 * bytes until the application frees it by answering. The client does (its request
 * timeout). A graceful stop first lets the worker pool finish (verani_ctx_post), then
 * answers every request still deferred with ERROR HANDLER_FAILED "the server stopped before
 * the request was answered", before the sessions get their 1012; a handle answered after
 * that returns VERANI_ECLOSED (and is freed). A handle names its server: answer or give up
 * (verani_reply_error) every handle before verani_server_destroy, as using one after is a
 * use after free.
 */
typedef struct verani_reply verani_reply;

/*
 * In the handler of a request, on the event-loop thread: take the reply's handle; the
 * runtime sends nothing when the handler returns (what it wrote into its reply argument is
 * ignored). If the handler then returns an error, that error answers the request
 * (HANDLER_FAILED) and a later answer on the handle is dropped. NULL (nothing deferred)
 * when `ctx` is not the context of a request's typed handler, the reply was deferred
 * already, or out of memory.
 */
VERANI_API verani_reply *verani_ctx_defer(verani_ctx *ctx);

/*
 * Answer a deferred request with `msg`, a message of the event's `returns` type. Any
 * thread: the reply is validated (the generated validator, as a direct reply) and encoded
 * on the calling thread, and the loop queues it to the session on its next turn (at once
 * on the loop thread). Consumes `r`. Returns 0 when the reply was handed to the loop;
 * VERANI_EINVAL when `r` is NULL or `msg` is not of the event's type or fails validation
 * (the request is then answered with ERROR HANDLER_FAILED, and the log names the field);
 * VERANI_ECLOSED once the server is stopping; VERANI_ENOMEM. A reply larger than the
 * session's outbound queue can ever hold is answered with ERROR TOO_LARGE, as a direct one.
 */
VERANI_API int verani_reply_send(verani_reply *r, const ProtobufCMessage *msg);

/*
 * Answer a deferred request with ERROR HANDLER_FAILED and `message` (NULL: "the server
 * failed to handle the event"; at most 256 bytes are sent). Any thread; consumes `r`.
 * 0, VERANI_EINVAL (NULL `r`), VERANI_ECLOSED (stopping), VERANI_ENOMEM.
 */
VERANI_API int verani_reply_error(verani_reply *r, const char *message);

/* --- the worker pool --------------------------------------------------------- */

/*
 * verani_ctx_post runs `work(arg)` on one of the server's worker threads
 * (verani_server_options.workers), then `done(ctx, arg, status)` back on the event-loop
 * thread with a context of the instance that posted it, so the instance's state stays
 * single-threaded: `work` touches nothing of the server (no context, no emit, no storage
 * handle of a room: it has none), `done` may do all a handler does (emit, storage, timers,
 * a deferred reply). verani_ctx_session(ctx) in `done` is the session that posted, if it
 * still exists (across a resume too), else NULL.
 *
 * The instance stays in memory until `done` has run. `arg` is the caller's: `work` and
 * `done` share it, and `done` runs exactly once for every job accepted, so it is where
 * `arg` is freed. `status` is 0 when `work` ran; VERANI_ECLOSED when the server stopped
 * before a worker started it (`work` never ran; `done` runs during the stop, with the
 * sessions still there). Jobs start in the order they were posted; with more than one
 * worker they may end in any order.
 *
 * Event-loop thread, with a context of an instance (a handler, hook, timer or another
 * `done`). Returns 0 when queued; VERANI_EINVAL (NULL ctx or `work` or `done`, a context of
 * no instance); VERANI_ESTATE (no workers: opts.workers is 0); VERANI_EFULL (past
 * opts.worker_queue_max jobs waiting); VERANI_ECLOSED (stopping); VERANI_ENOMEM.
 */
typedef void (*verani_work_fn)(void *arg);
typedef void (*verani_work_done_fn)(verani_ctx *ctx, void *arg, int status);
VERANI_API int verani_ctx_post(verani_ctx *ctx, verani_work_fn work, verani_work_done_fn done,
                               void *arg);

/* --- extract_meta: the upgrade request ------------------------------------ */

/*
 * Copy a query parameter (decoded: %xx and '+'), header (any case) or cookie
 * (matched by its whole name) into `buf` of `len` bytes; returns its length,
 * or -1 when absent. A value is never cut to fit: one of `len` bytes or more
 * returns VERANI_ETOOBIG, a query parameter given twice VERANI_EPROTO (`buf`
 * is "" for both), and either way the upgrade is refused with 400 and a body
 * naming the parameter, whatever extract_meta returns. Size `buf` for the
 * longest value you accept (a user id: VERANI_USER_ID_MAX + 1).
 */
VERANI_API int verani_upgrade_query(verani_upgrade *req, const char *name, char *buf, size_t len);
VERANI_API int verani_upgrade_header(verani_upgrade *req, const char *name, char *buf, size_t len);
VERANI_API int verani_upgrade_cookie(verani_upgrade *req, const char *name, char *buf, size_t len);
VERANI_API const char *verani_upgrade_path(verani_upgrade *req);
VERANI_API const char *verani_upgrade_instance(verani_upgrade *req); /* the {room} part, or "" */
/* Set the session's user id (copied). extract_meta must set one or reject. A user id that
 * breaks the rules of VERANI_USER_ID_MAX (<verani/common.h>) returns VERANI_EINVAL and
 * refuses the upgrade with 400 saying why. */
VERANI_API int verani_upgrade_set_user_id(verani_upgrade *req, const char *user_id);
/* Refuse the upgrade with HTTP `status` (401 or 403) and a reason; returns VERANI_EDENIED. */
VERANI_API int verani_upgrade_reject(verani_upgrade *req, int status, const char *reason);
/* Scratch memory for meta strings; freed after the meta is stored. */
VERANI_API char *verani_upgrade_strdup(verani_upgrade *req, const char *s);
/*
 * Ask for `channel` (copied) among the session's first channels. When extract_meta asks for
 * any, they replace the schema's `channels`; each is then checked by on_join when the session
 * is created (after the HELLO), and one it refuses, or not 1 to 128 bytes, is not joined.
 * The default extract_meta asks for those of the query's `?channels=a,b` (comma-separated,
 * spaces around names dropped), as Verani does. A resumed session keeps its own channels.
 * 0, VERANI_EINVAL or VERANI_ENOMEM.
 */
VERANI_API int verani_upgrade_add_channel(verani_upgrade *req, const char *channel);

#ifdef __cplusplus
}
#endif

#endif /* VERANI_SERVER_H */
