/* SPDX-License-Identifier: MIT */
/*
 * server-private.h: the server's internal objects and the calls between its
 * files: server.c (libwebsockets glue, HTTP answers, upgrade, timers, stop,
 * the cross-thread emit queue), room.c (mounts, instances, queries), sweep.c
 * (the one periodic timer: hello, idle, grace and eviction deadlines),
 * session.c (hello/welcome, dispatch, channels, the handler context) and
 * broker.c (delivery). Everything here is touched by the event-loop thread
 * only, except the fields marked {async_lock}.
 */
#ifndef VERANI_SERVER_PRIVATE_H
#define VERANI_SERVER_PRIVATE_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include <libwebsockets.h>

#include <verani/server.h>
#include <verani/storage.h>

#include "broker-private.h"
#include "metrics-private.h"
#include "ratelimit-private.h"
#include "wire-private.h"

/* The default of opts.storage_busy_timeout_ms, and how long the stop's final save waits. */
#define VR_STORAGE_BUSY_MS 5
#define VR_STORAGE_STOP_BUSY_MS 2000

/* Close codes (PROTOCOL.md lists them). */
#define VR_CLOSE_NORMAL 1000
#define VR_CLOSE_GOING_AWAY 1001
#define VR_CLOSE_POLICY 1008
#define VR_CLOSE_TOO_BIG 1009
#define VR_CLOSE_INTERNAL 1011
#define VR_CLOSE_RESTART 1012        /* a graceful stop: the client resumes on the next server */
#define VR_CLOSE_SLOW_CONSUMER 4000
#define VR_CLOSE_IDLE 4001
#define VR_CLOSE_HELLO_TIMEOUT 4002

/* The most one coalesced write carries (more frames wait for the next WRITEABLE), and the
 * protocol's tx_packet_size: lws would otherwise cut every send() to rx_buffer_size and
 * buffer the rest for later POLLOUTs (a copy and another loop turn per write). */
#define VR_WRITE_CHUNK 65536

/* The longest close reason kept (a close frame's payload is at most 125 bytes); the public
 * calls refuse a longer one, so only the runtime's own reasons could be cut (none is). */
#define VR_CLOSE_REASON_MAX VERANI_CLOSE_REASON_MAX

/* How long a peer has to answer our close frame (its input meanwhile is read and dropped)
 * before the connection is dropped. */
#define VR_CLOSE_ACK_SECS 3

/* Consecutive refused frames after which a connection is closed with 1008. */
#define VR_MAX_PROTO_ERRORS 10

/* Descriptors kept free below RLIMIT_NOFILE: an accept that returns a descriptor this close to
 * the limit is closed and accepting stops (server.c), so the process never runs out while
 * SQLite, the application or an HTTP answer still needs one. */
#define VR_FD_RESERVE 32

struct vr_instance;
struct vr_mount;
struct ev_loop;

/* A mounted room: the generated definition, the user's handler table. */
typedef struct vr_mount {
    struct verani_server *srv;
    const verani_room_def *def;
    const void *handlers;            /* borrowed from the mounter; starts with verani_hooks */
    void *user;                      /* borrowed */
    char *prefix;                    /* owned: the path up to "{room}" (or the whole path) */
    char *suffix;                    /* owned: the path after "{room}"; "" when none */
    int has_placeholder;
    lws_dll2_owner_t instances;      /* struct vr_instance */
} vr_mount;

/*
 * A channel of one room instance: its name and the sessions that joined it
 * (room.c keeps the table, session.c the memberships). A session is a member
 * from the moment it joins until it leaves or is freed, whether or not it is
 * in inst->sessions yet (the broker checks `added`). Members sit in no
 * particular order (a leave moves the last one into the hole); a channel whose
 * last member leaves is freed.
 */
typedef struct vr_channel {
    struct vr_channel *next;         /* the next in its bucket of inst->chans */
    uint32_t hash;
    uint32_t n_members, cap_members;
    struct verani_session **members; /* owned array; the sessions are borrowed */
    char name[];                     /* NUL-terminated, owned inline */
} vr_channel;

/* Channel names one after another, each NUL-terminated (owned `buf`). */
typedef struct vr_names {
    char *buf;
    size_t len, n;
} vr_names;

/* A session's side of one membership: the channel, and where in its members it sits. */
typedef struct vr_chanref {
    vr_channel *ch;
    uint32_t idx;
} vr_chanref;

/* A room instance: one per name, created on first connect. */
typedef struct vr_instance {
    lws_dll2_t node;                 /* in mount->instances */
    vr_mount *mount;
    char *name;                      /* owned */
    lws_dll2_owner_t sessions;       /* verani_session that completed hello */
    uint32_t pending;                /* upgraded connections that have not sent hello yet */
    struct verani_storage *storage;  /* owned: opened by verani_ctx_storage; NULL until then */
    lws_dll2_t idle_node;            /* in srv->idle_instances while empty (sweep.c) */
    int64_t empty_since_us;          /* when it became empty: evicted instance_idle_ms later */
    vr_channel **chans;              /* owned: hash buckets of its channels (owned chains) */
    uint32_t n_chans, n_buckets;     /* n_buckets: 0 or a power of two */
    lws_dll2_owner_t timers;         /* vr_timer (timers.c), owned */
} vr_instance;

struct verani_session {
    /* First the fields every delivery reads (broker.c's walk, vr_session_enqueue,
     * vr_session_writable): a fan-out touches them in every recipient, so they share as
     * few cache lines as they can. */
    struct verani_server *srv;
    struct lws *wsi;                 /* NULL once the connection is gone */
    uint64_t seq;                    /* the last seq queued to this session */
    vr_outq q;
    vr_outq retained;                /* sequenced frames kept for resume (vr_retain_*) */
    uint32_t replay_frames;          /* a resume's replay may pass the queue bound by this */
    size_t replay_bytes;             /* much; both 0 again once the queue has drained */
    unsigned hello_done : 1;
    unsigned added : 1;              /* in inst->sessions */
    unsigned closing : 1;            /* a close is under way; no more frames */
    unsigned ping_pending : 1;       /* a WebSocket ping is to be sent */
    unsigned pinged : 1;             /* a ping went out since the last frame in */
    unsigned write_asked : 1;        /* a write is asked for (WRITEABLE or the end of the turn)
                                        and has not happened yet */
    unsigned rx_paused : 1;          /* reading stopped while the outbound queue drains */
    unsigned detached : 1;           /* no connection (wsi NULL), waiting for a resume; in
                                        srv->detached instead of srv->sessions */
    unsigned peer_closed : 1;        /* the client sent a close frame with 1000 or 1001 */
    unsigned close_sent : 1;         /* our close frame is out: the peer's answers it */
    unsigned saved : 1;              /* saved for a restart by a graceful stop: no
                                        on_disconnect when it ends here */
    lws_dll2_t node;                 /* in inst->sessions once hello is done */
    lws_dll2_t all;                  /* in srv->sessions from ESTABLISHED to CLOSED */
    vr_instance *inst;               /* holds one `pending` or a list entry */
    char client_id[37];
    char resume_token[33];
    char epoch[17];                  /* the generation of its seqs (PROTOCOL.md, "Resume") */
    char *user_id;                   /* owned */
    uint8_t *meta;                   /* owned: the packed meta (the attachment) */
    size_t meta_len;
    vr_names want_chans;             /* owned until the HELLO: extract_meta's channels */
    char **channels;                 /* owned strings, in join order */
    vr_chanref *chref;               /* owned: channels[i]'s membership in inst's table;
                                        same count and capacity as `channels` */
    size_t n_channels, cap_channels;
    vr_bucket bucket;
    uint8_t *rx;                     /* owned: a message arriving in pieces */
    size_t rx_len, rx_cap;
    uint32_t proto_errors;           /* consecutive refused frames */
    uint32_t limited;                /* consecutive rate-limited frames */
    int64_t progress_us;             /* the last write of queued frames (the slow-consumer
                                        judgement: session.c's over_bound) */
    int64_t last_rx_us;              /* the last frame or pong in; while detached, when the
                                        connection was lost (the grace period's start) */
    lws_dll2_t tnode;                /* sweep.c: in srv->handshaking until hello, then in
                                        srv->lru; in neither once closing or detached */
    lws_dll2_t dirty;                /* in srv->dirty while frames wait for the end of the
                                        loop turn (vr_sessions_flush) */
    lws_dll2_t store_node;           /* in srv->store_saves while its attachment waits for
                                        the end of the turn (vr_sessions_store_flush) */
    int close_code;
    char *close_reason;              /* owned: set by vr_session_close, at most
                                        VR_CLOSE_REASON_MAX bytes */
};

/*
 * A socket that is not a session (yet): an HTTP request and the keep-alive wait after it, an
 * upgrade still being sent, a TLS handshake. Allocated when lws has adopted an accepted socket
 * (server.c), found again through the wsi's opaque user data, freed when the wsi is destroyed.
 * The sweep closes one still loose handshake_timeout_ms after `since_us`. When the socket
 * becomes a session (ESTABLISHED) it is freed early and the opaque user data becomes a marker
 * of server.c's, so that the socket is still counted until it goes.
 */
typedef struct vr_sock {
    lws_dll2_t node;                 /* in srv->loose, oldest `since_us` first */
    struct lws *wsi;
    int64_t since_us;                /* accepted, or its last HTTP transaction began */
} vr_sock;

/* lws's per-connection user data. */
struct vr_pss {
    verani_session *s; /* owned by the server's session list; NULL before ESTABLISHED */
    struct vr_http_req *http; /* owned by http_api.c: an API request awaiting its body */
};

/* A handler's context: on the stack of the dispatching call. */
typedef struct vr_scratch {
    struct vr_scratch *next;
    max_align_t data[];
} vr_scratch;

struct verani_ctx {
    struct verani_server *srv;
    vr_mount *mount;
    vr_instance *inst;
    verani_session *sess;            /* NULL outside a session */
    vr_scratch *scratch;             /* owned: freed by vr_ctx_fini */
    ProtobufCMessage *meta;          /* unpacked lazily, freed by vr_ctx_fini */
};

/* The upgrade request seen by extract_meta. */
struct verani_upgrade {
    struct lws *wsi;
    vr_mount *mount;
    const char *path;
    const char *instance;
    char *user_id;                   /* owned until moved into the session */
    int reject_status;
    char reject_reason[128];
    char bad_input[192];             /* the first value that could not be read (too long,
                                        given twice, not a valid user id): refused with 400 */
    vr_scratch *scratch;
    vr_names chans;                  /* verani_upgrade_add_channel's, until moved on */
};

/* The result of a successful upgrade, handed from CONFIRM_UPGRADE to ESTABLISHED. */
typedef struct vr_pending {
    struct lws *wsi;
    vr_instance *inst;               /* holds one `pending` */
    char *user_id;                   /* owned */
    uint8_t *meta;                   /* owned */
    size_t meta_len;
    vr_names chans;                  /* owned: the channels extract_meta asked for */
} vr_pending;

/* A cross-thread emit waiting for the loop. */
typedef struct vr_async {
    struct vr_async *next;
    const verani_room_def *room;
    char *instance;                  /* owned; NULL: every instance of the room */
    verani_target to;                /* strings point into `strs` */
    const verani_event_def *ev;
    vr_frame *frame;                 /* owned reference */
    char *strs;                      /* owned */
} vr_async;

struct verani_server {
    verani_server_options opts;      /* strings owned (copied) */
    char **origins;                  /* owned copies behind opts.origins */
    struct lws_context *ctx;
    struct ev_loop *evloop;          /* owned: libev loop lws runs on (NULL: lws's poll()) */
    struct lws_vhost *vh;
    struct lws_protocols protocols[2];
    struct lws_http_mount static_mount; /* opts.static_dir at opts.static_path, when set */
    vr_mount **mounts;               /* owned */
    size_t n_mounts;
    uint32_t max_frame;              /* the largest max_frame of the mounted rooms */
    lws_dll2_owner_t sessions;       /* every verani_session, hello done or not */
    lws_dll2_owner_t detached;       /* sessions waiting for a resume (their `all` node), in
                                        the order they were lost */
    /* sweep.c: one periodic timer instead of one per session (an lws_sul insert walks a
     * sorted list, so one per session made each connect O(sessions)) */
    lws_dll2_owner_t dirty;          /* sessions with frames queued this turn (dirty) */
    lws_dll2_owner_t store_saves;    /* sessions whose attachment is to be stored (store_node) */
    char (*store_deletes)[37];       /* owned: client ids whose attachment is to go */
    size_t n_store_deletes, cap_store_deletes;
    lws_sorted_usec_list_t store_retry; /* the session store failed (a lock another process
                                        holds, a full disk): its writes wait for this */
    int store_retry_pending;         /* store_retry is scheduled: no write before it fires */
    uint32_t store_backoff_ms;       /* the wait before the next retry (50 ms .. 1 s) */
    uint32_t store_failures;         /* failed attempts in a row (logged on the first) */
    lws_dll2_owner_t handshaking;    /* sessions before hello (tnode), oldest first */
    lws_dll2_owner_t lru;            /* sessions after hello (tnode), least recently heard
                                        first: vr_session_heard moves one to the tail */
    lws_dll2_owner_t idle_instances; /* empty instances (idle_node), emptied first first */
    lws_sorted_usec_list_t sweep;
    lws_usec_t sweep_us;             /* its period */
    int port;
    atomic_int stop_flag;            /* set by verani_server_stop from any thread or a signal */
    struct lws_context *_Atomic wake_ctx; /* vr_server_wake's context; NULL once it goes */
    atomic_int wake_users;           /* threads inside vr_server_wake */
    int stopping;                    /* the loop saw stop_flag */
    vr_pending pending;              /* the upgrade between CONFIRM_UPGRADE and FILTER */
    uint8_t *wbuf;                   /* owned: the coalescing write buffer, LWS_PRE first */
    size_t wbuf_cap;
    lws_sorted_usec_list_t wake;     /* bounds the wait of verani_server_service */
    const vr_broker_ops *broker;
    pthread_mutex_t async_lock;
    vr_async *async_head;            /* {async_lock} */
    vr_async *async_tail;            /* {async_lock} */
    char last_error[256];
    char epoch[17];                  /* this server start's: new and crash-restored sessions */
    struct verani_storage_db *storage; /* owned: room storage and the session store */
    /* rpc.c, http_api.c, metrics.c (issue 6) */
    vr_metrics metrics;              /* loop thread only */
    int handler_depth;               /* application callbacks running (session.c) */
    uint64_t timer_ids;              /* the last timer id given (timers.c) */
    struct vr_rpc_call *rpc_head;    /* {async_lock}: outside calls for the loop */
    struct vr_rpc_call *rpc_tail;    /* {async_lock} */
    pthread_t loop_thread;           /* {async_lock}: the thread in run/service */
    int loop_known;                  /* {async_lock} */
    struct vr_api *api;              /* owned by http_api.c; NULL until first needed */
    /* Sockets (server.c): every accepted socket is counted from adoption to destruction;
     * max_connections bounds them, and so does the process's descriptor limit. */
    uint32_t n_sockets;
    lws_dll2_owner_t loose;          /* vr_sock: sockets that are not sessions (sweep.c) */
    struct lws *listen_wsi;          /* seen at the first accept; NULL before */
    int fd_limit;                    /* RLIMIT_NOFILE at listen; 0: no limit to watch */
    int accept_paused;               /* the listening socket is not being read */
    int64_t accept_paused_us;        /* since when */
    int64_t refused_logged_us;       /* the last "not accepting" log line (rate limit) */
    uint64_t refused_unlogged;       /* sockets refused since that line */
};

/* Take `d` out of the list it is in, if any (the lists of sweep.c, the end-of-turn writes and
 * stores, the idle instances: a node is in one or in none). */
static inline void vr_dll2_unlink(struct lws_dll2 *d)
{
    if (!lws_dll2_is_detached(d))
        lws_dll2_remove(d);
}

/* Can `f` ever be queued to a session (is it within the outbound queue's byte bound)? A frame
 * that cannot is refused where it is made (an emit: VERANI_ETOOBIG; a reply: ERROR
 * TOO_LARGE) instead of closing every recipient as a slow consumer. */
static inline int vr_frame_fits(const struct verani_server *srv, const vr_frame *f)
{
    return f->len <= srv->opts.queue_max_bytes;
}

/* --- signals.c --- */
/* `srv` is being destroyed: if the stop signals reach it, they no longer do. */
void vr_signals_forget(verani_server *srv);

/* --- server.c --- */
/* Wake the loop (lws_cancel_service) from any thread or a signal handler, never touching a
 * context that the loop thread is destroying. */
void vr_server_wake(verani_server *srv);
/* The sweep: read the listening socket again when accepting has been paused for a while (a
 * socket closing lets lws resume it sooner; descriptors freed outside lws do not). */
void vr_accept_retry(verani_server *srv, int64_t now_us);
/* The sweep: close the sockets that are not sessions and began before `oldest_us` (an HTTP
 * request or keep-alive wait, an upgrade still being sent: handshake_timeout_ms). */
void vr_socks_expire(verani_server *srv, int64_t oldest_us);

/* Read query argument `name` of the HTTP request on `wsi` (lws has decoded %xx) into `buf`
 * (`len` bytes): its length; -1 when absent; VERANI_ETOOBIG when it does not fit in `len`
 * (`buf` is "" then); VERANI_EPROTO when it is given more than once; VERANI_ENOMEM. An
 * argument "name" without '=' has the empty value. Nothing is ever cut to fit. */
int vr_urlarg(struct lws *wsi, const char *name, char *buf, size_t len);
/* 0 when `id` is a valid user id (VERANI_USER_ID_MAX); else VERANI_EINVAL with why in `why`. */
int vr_user_id_check(const char *id, char *why, size_t len);

/* --- room.c --- */
/* Route `path` (no query) to a mount; `inst_name` receives the {room} part. */
vr_mount *vr_route(verani_server *srv, const char *path, char *inst_name, size_t len);
vr_instance *vr_instance_get(vr_mount *m, const char *name, int create);
/* When the instance has no session and no pending connection, it joins srv->idle_instances:
 * the sweep frees it after opts.instance_idle_ms unless a connection comes first
 * (vr_instance_get with `create` takes it off the list). */
void vr_instance_maybe_free(vr_instance *inst);

/* timers.c: the instance's timers and its start and stop hooks. */
void vr_instance_started(vr_instance *inst);   /* on_instance_start, once created */
void vr_instance_stopping(vr_instance *inst);  /* on_instance_stop, then its timers go */
void vr_timers_cancel_all(verani_server *srv); /* every timer, before the lws context goes */

/* The sweep: free the instances empty since before `oldest_us`. */
void vr_instances_evict(verani_server *srv, int64_t oldest_us);
/* The channel `name` of `inst`; NULL when nobody is in it. */
vr_channel *vr_channel_find(const vr_instance *inst, const char *name);
/* Add `s` to the members of channel `name` of `inst` (creating it), and fill `ref` with
 * where it sits. 0 or VERANI_ENOMEM (nothing changed then). The caller (session.c) keeps
 * `ref` in s->chref, the slot vr_channel_leave updates when members move. */
int vr_channel_join(vr_instance *inst, verani_session *s, const char *name, vr_chanref *ref);
/* Take the member `ref` out of its channel (freeing the channel when it was the last);
 * ref->ch is NULL after. */
void vr_channel_leave(vr_instance *inst, vr_chanref *ref);

/* --- sweep.c --- */
/* Start the periodic sweep (at listen); stop it (before the lws context is destroyed). */
void vr_sweep_start(verani_server *srv);
void vr_sweep_stop(verani_server *srv);
/* Take `s` off the sweep's lists (safe when it is on none). */
void vr_timer_unlink(verani_session *s);
/* A frame or a pong came in: the idle clock restarts. */
void vr_session_heard(verani_session *s);
void vr_mounts_free(verani_server *srv);
/* A description of every mounted path for the 404 body. */
size_t vr_paths_describe(verani_server *srv, char *buf, size_t len);

/* --- session.c --- */
verani_session *vr_session_new(verani_server *srv, struct lws *wsi, vr_pending *p);
/* Receive a piece of a WebSocket message. Returns -1 when the connection must close. */
int vr_session_rx(verani_session *s, const uint8_t *in, size_t len, int binary, int first,
                  int final);
/* The connection is writable (a WRITEABLE callback, or vr_sessions_flush); -1 closes it. */
int vr_session_writable(verani_session *s);
/* The end of a loop turn: the session store's writes of the turn in one transaction. When
 * they fail (a busy database: the busy timeout is a few ms) they all stay queued and are
 * tried again after a backoff (store_retry), never by waiting on the loop. */
void vr_sessions_store_flush(verani_server *srv);
/* The end of a loop turn: one direct write per session that got a frame of its own (a
 * reply, a welcome, an error) in it, or on epoll any frame. */
void vr_sessions_flush(verani_server *srv);
/* The connection is gone: remove, on_disconnect, free. */
void vr_session_closed(verani_session *s);
/* Queue `f` (one new reference) with a fresh seq when `with_seq`; applies the slow policy.
 * On poll() it is written when lws says the connection is writable (the fan-out path), on
 * epoll at the end of the turn (vr_sessions_flush). */
int vr_session_enqueue(verani_session *s, vr_frame *f, int with_seq);
/* Start closing with `code` and `reason`; `kill` drops the socket without waiting to write. */
void vr_session_close(verani_session *s, int code, const char *reason, int kill);
/* The grace period of a detached session passed: on_disconnect, freed. */
void vr_session_grace_expired(verani_session *s);
/* The client sent a close frame with `code` (before CLOSED). Returns nonzero when it answers
 * ours: the connection then closes at once (the close handshake is complete). */
int vr_session_peer_close(verani_session *s, int code);
/* End every detached session (on_disconnect, free): at stop, before the context goes. */
void vr_sessions_end_detached(verani_server *srv);
/* Graceful stop, on a persistent store (storage_path a file): save every session (attached
 * or detached) and its retained frames, so a server restarted on the same file restores
 * them detached (vr_sessions_restore, at listen) and their clients resume. */
int vr_sessions_save(verani_server *srv);
int vr_sessions_restore(verani_server *srv);

/* Around every call into the application's hooks and handlers: when the outermost one
 * returns, a storage transaction it left open is rolled back (logged, and reported to
 * on_error), so it cannot swallow the session store's writes that follow. */
void vr_handler_enter(verani_server *srv);
void vr_handler_leave(struct verani_ctx *ctx);

void vr_ctx_init(struct verani_ctx *ctx, verani_server *srv, vr_mount *m, vr_instance *inst,
                 verani_session *s);
void vr_ctx_fini(struct verani_ctx *ctx);
void *vr_scratch_alloc(vr_scratch **list, size_t size);
void vr_scratch_free(vr_scratch **list);

/* Build the frame of an `emit` event; NULL with *err set on failure. */
vr_frame *vr_event_frame(const verani_event_def *ev, const ProtobufCMessage *msg,
                         const char *channel, int *err);

/* --- server_storage.c --- */
/* Open opts.storage_path (create); close it (destroy, after the instances). */
int vr_server_storage_open(verani_server *srv, char *errbuf, size_t errlen);
void vr_server_storage_close(verani_server *srv);
/* Close the instance's storage handle, if open (before the instance is freed). */
void vr_instance_storage_close(vr_instance *inst);

#endif /* VERANI_SERVER_PRIVATE_H */
