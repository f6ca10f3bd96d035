/* SPDX-License-Identifier: MIT */
/*
 * server-int.h: the server's internals (runtime/src/server/), for its files
 * alone: the server object, the sockets that are not sessions yet, the
 * upgrade, and the calls between server.c (create, listen, the loop, stop),
 * lws_cb.c (the protocol callback, socket accounting), upgrade.c, http.c
 * (plain HTTP answers, static files), sweep.c (the one periodic timer: hello,
 * idle, grace and eviction deadlines), signals.c, server_storage.c and rpc.c's
 * loop hooks. It includes the job headers: room-int.h (mounts, instances,
 * channels), session-int.h (sessions and the handler context), broker-int.h
 * (frames, queues, delivery), metrics-int.h and ratelimit-int.h;
 * server-private.h is what other folders see. Everything here is touched by
 * the event-loop thread only, except the fields marked {async_lock}.
 */
#ifndef VERANI_SERVER_INT_H
#define VERANI_SERVER_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include <libwebsockets.h>

#include <verani/server.h>
#include <verani/storage.h>

#include "core/core-private.h"
#include "wire/wire-private.h"

#include "broker-int.h"
#include "metrics-int.h"
#include "ratelimit-int.h"
#include "room-int.h"
#include "server-private.h"
#include "session-int.h"

struct ev_loop;
struct vr_http_req;
struct vr_pool;

/* A reference to a session that outlives a handler (defer.c): a deferred reply's request,
 * or the session a worker job's completion runs with. A slot of srv->srefs, named by its
 * index and generation; a slot whose session ended moves to the next generation. */
typedef struct vr_sref {
    verani_session *s;               /* NULL: free */
    uint32_t gen;
    uint32_t next_free;              /* the free list: index + 1, 0 ends it */
    uint32_t event;                  /* a reply's: the request's event id */
    uint8_t reply;                   /* a deferred reply's (else a job's) */
    uint64_t request_id;             /* a reply's: the request's id */
} vr_sref;

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
#define VR_CLOSE_MOVED 4003           /* the instance is another node's (cluster_owner.c) */
#define VR_CLOSE_TRY_AGAIN 1013      /* the cluster did not answer a claim: reconnect later */

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

/* A frame on the JSON wire may be this many times the room's max_frame. */
#define VR_JSON_FRAME_FACTOR 2

/* Consecutive refused frames after which a connection is closed with 1008. */
#define VR_MAX_PROTO_ERRORS 10

/* Descriptors kept free below RLIMIT_NOFILE: an accept that returns a descriptor this close to
 * the limit is closed and accepting stops (lws_cb.c), so the process never runs out while
 * SQLite, the application or an HTTP answer still needs one. */
#define VR_FD_RESERVE 32

/*
 * A socket that is not a session (yet): an HTTP request and the keep-alive wait after it, an
 * upgrade still being sent, a TLS handshake. Allocated when lws has adopted an accepted socket
 * (lws_cb.c), found again through the wsi's opaque user data, freed when the wsi is destroyed.
 * The sweep closes one still loose handshake_timeout_ms after `since_us`. When the socket
 * becomes a session (ESTABLISHED) it is freed early, and the opaque user data points to the
 * session instead, tagged (lws_cb.c: vr_wsi_session), so that the socket is still counted
 * until it goes. No per-connection user data of lws's is used: it would be one more
 * allocation for every connection.
 */
typedef struct vr_sock {
    lws_dll2_t node;                 /* in srv->loose, oldest `since_us` first */
    struct lws *wsi;
    int64_t since_us;                /* accepted, or its last HTTP transaction began */
    struct vr_http_req *http;        /* owned by api/http_api.c: an API request of this
                                        connection under way */
} vr_sock;

/* The session of an accepted socket's connection (lws_cb.c), NULL before ESTABLISHED and
 * after CLOSED. */
verani_session *vr_wsi_session(struct lws *wsi);
/* The connection `wsi` no longer concerns its session (a resume took the session to another
 * connection: hello.c's adopt). */
void vr_wsi_session_forget(struct lws *wsi);

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
    int json;                        /* came by the room's JSON path (Verani's wire) */
    Verani__Wire__Hello *hello;      /* owned (vr_pb_allocator): the HELLO folded into the
                                        upgrade (?hello=), read at ESTABLISHED (hello.c) */
} vr_pending;

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
    uint32_t read_ahead;             /* extra epoll rounds a turn may take (loop_turn) */
    lws_dll2_owner_t sessions;       /* every verani_session, hello done or not */
    lws_dll2_owner_t detached;       /* sessions waiting for a resume (their `all` node), in
                                        the order they were lost */
    /* sweep.c: one periodic timer instead of one per session (an lws_sul insert walks a
     * sorted list, so one per session made each connect O(sessions)) */
    verani_session **dirty;          /* owned array: sessions with frames queued this turn
                                        (their dirty_at; NULL where one left it) */
    uint32_t n_dirty, cap_dirty;
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
    atomic_int wake_pending;         /* a wake is written and the loop has not seen it yet */
    int stopping;                    /* the loop saw stop_flag */
    vr_pending pending;              /* the upgrade between CONFIRM_UPGRADE and FILTER */
    uint8_t *wbuf;                   /* owned: the coalescing write buffer, LWS_PRE first */
    vr_frame *json_pong;             /* one reference, made at the first JSON ping */
    size_t wbuf_cap;
    lws_sorted_usec_list_t wake;     /* bounds the wait of verani_server_service */
    const vr_broker_ops *broker;
    pthread_mutex_t async_lock;      /* the rpc queue below (rpc.c) */
    char last_error[256];
    char epoch[17];                  /* this server start's: new and crash-restored sessions */
    vr_rndpool rnd;                  /* sessions' client ids and resume tokens */
    struct verani_storage_db *storage; /* owned: room storage and the session store */
    /* rpc.c, api/http_api.c, metrics.c */
    vr_metrics metrics;              /* loop thread only */
    int handler_depth;               /* application callbacks running (context.c) */
    uint64_t timer_ids;              /* the last timer id given (timers.c) */
    lws_dll2_owner_t alarms;         /* vr_alarm (alarms.c), owned */
    struct vr_rpc_call *rpc_head;    /* {async_lock}: outside calls for the loop */
    struct vr_rpc_call *rpc_tail;    /* {async_lock} */
    pthread_t loop_thread;           /* {async_lock}: the thread in run/service */
    int loop_known;                  /* {async_lock} */
    struct vr_api *api;              /* owned by api/http_api.c; NULL until first needed */
    /* Sockets (lws_cb.c): every accepted socket is counted from adoption to destruction;
     * max_connections bounds them, and so does the process's descriptor limit. */
    uint32_t n_sockets;
    /* defer.c: session references (vr_sref), owned; n_srefs slots used so far */
    vr_sref *srefs;
    uint32_t n_srefs, cap_srefs;
    uint32_t sref_free;              /* the first free slot + 1; 0: none */
    struct vr_pool *pool;            /* owned by workers.c; NULL without workers */
    struct vr_cluster *cluster;      /* owned by cluster_node.c; NULL without opts.cluster */
    struct vr_owners *owners;        /* owned by cluster_owner.c: hints, figures; with cluster */
    int cluster_leaving;             /* the node's leave is on its way to Redis (stop) */
    uint32_t handovers;              /* instances handed over, Redis not answered (stop) */
    struct vr_replica *replica;      /* owned by cluster_replica.c; with cluster */
    uint64_t turn;                   /* loop turns ended (the output gate's clock) */
    struct vr_handover_stats {       /* cluster_handover.c's figures */
        uint64_t saved, failed, taken, restored_sessions, restore_failed, records_restored;
    } ho_stats;
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

/* --- cluster_node.c: this server as a node of the cluster (opts.cluster) --- */
/* Copy opts.cluster's strings (create: 0 or VERANI_ENOMEM); free them (destroy). */
int vr_cluster_opts_copy(verani_server *srv);
void vr_cluster_opts_free(verani_server *srv);
/* At listen, with the libev loop: join the cluster (0, or an error with the reason in err);
 * nothing without opts.cluster.redis_address. Leave it before the loop goes. */
int vr_cluster_node_start(verani_server *srv, char *err, size_t errlen);
void vr_cluster_node_stop(verani_server *srv);
/* A graceful stop: the node leaves the cluster (its key deleted, its leaving published) so its
 * instances can be claimed at once; srv->cluster_leaving until Redis has it. */
void vr_cluster_node_leave(verani_server *srv);
/* May this node serve now (no cluster, or its lease held)? */
int vr_cluster_node_ok(verani_server *srv);
/* GET /health: 200 when serving, 503 with Retry-After when not (stopping, or not live). */
int vr_health_serve(verani_server *srv, struct lws *wsi);
/* The node's figures for /metrics (nothing without a cluster). */
void vr_cluster_node_metrics(verani_server *srv, vr_sb *sb);

/* --- cluster_owner.c: who serves an instance, and how a connection reaches it --- */
typedef struct vr_owners vr_owners;
/* The owner hints and figures: made when the node starts (0 or VERANI_ENOMEM), freed when
 * it stops. */
int vr_owners_start(verani_server *srv);
void vr_owners_free(verani_server *srv);
/* Claim `inst` (new, or LOST) for this node: CLAIMING until Redis answers; LOST when the
 * claim cannot be sent, or when another live node is known to own it (nothing is asked:
 * its connections are moved there). */
void vr_owner_claim(struct vr_instance *inst);
/* Is `inst` LOST to a live node this node knows (its connections get a 4003 to it)? */
int vr_owner_moved(const struct vr_instance *inst);
/* A new session (ESTABLISHED) of a CLAIMING instance waits, unread, for the answer; one of
 * a LOST instance is closed with 4003 or 1013. Nothing for a HELD instance. */
void vr_owner_hold(verani_session *s);
/* Its HELLO is read: may the session join its instance here? 1 when this node serves the
 * instance (or is no cluster's node). 0 when it does not (now): a connection let through when
 * a claim was won or a fence lifted, whose HELLO came only after the instance was fenced
 * again, dropped or handed over; it is closed with 1013 (try again) and must not join. */
int vr_owner_serving(verani_session *s);
/* At the upgrade: when another live node is known to own the instance, answer 307 with its
 * URL (1, or -1 when the answer failed); 0 to go on. */
int vr_owner_redirect(verani_server *srv, struct lws *wsi, struct vr_mount *m, const char *path,
                      const char *inst_name);
/* The node became live (validate every FENCED instance) or stopped being so (fence every
 * HELD one: close its connections with 1012, skip its timers, hold new connections). */
void vr_owners_live(verani_server *srv, int live);
/* The live node another node's claim named as the instance's owner (its id), or NULL. */
const char *vr_owner_hinted(verani_server *srv, const char *room, const char *inst);
/* An evicted HELD instance: release it in Redis (compare-and-delete) so any node may claim it. */
void vr_owner_release(struct vr_instance *inst);
/* Ownership figures for /metrics. */
void vr_owners_metrics(verani_server *srv, vr_sb *sb);
/* A claim of `inst` won: HELD and started (on_instance_start); `restore(inst, arg)` (NULL:
 * none) brings back the last owner's sessions, then the connections that waited go on. */
void vr_owner_won(struct vr_instance *inst, void (*restore)(struct vr_instance *inst, void *arg),
                  void *arg);
/* No claim after all (Redis did not answer, or another node has it): LOST, and the
 * connections that waited are closed with 1013 to try again. */
void vr_owner_refused(struct vr_instance *inst, const char *why);

/* Redis lost its data (a new incarnation): every instance this node served ends here, its
 * sessions with on_disconnect (no record of them survives), and is claimed again by the next
 * connection. */
void vr_owners_reset(verani_server *srv);
/* The instance's writes were refused by Redis (another node owns it now): fenced, and Redis
 * asked whether it is still this node's (cluster_replica.c). */
void vr_owner_deposed(struct vr_instance *inst);

/* --- cluster_replica.c: room storage in Redis as well (shared/SCALEOUT.md 3.7) --- */
typedef struct vr_replica vr_replica;
/* The recorder on the server's storage, at the node's start (0 or VERANI_ENOMEM); gone at its
 * stop (before the storage closes). */
int vr_replica_start(verani_server *srv);
void vr_replica_stop(verani_server *srv);
/* End of a loop turn: every instance's committed writes to Redis, one script each. */
void vr_replica_flush(verani_server *srv);
/* A claim won: load the instance's storage into the local file (and, with `handover`, the
 * last owner's sessions), then vr_owner_won; the instance stays CLAIMING meanwhile. 0, or
 * nonzero when it cannot be asked (the caller refuses the claim). */
int vr_replica_load(struct vr_instance *inst, int handover);
/* The instance goes: what it wrote is sent first (vr_replica_instance_free), or dropped
 * unsent (vr_replica_drop: it is not this node's any more). */
void vr_replica_instance_free(struct vr_instance *inst);
void vr_replica_drop(struct vr_instance *inst);
void vr_replica_metrics(verani_server *srv, vr_sb *sb);
/* The output gate: a frame queued to `s` (connected, its instance in a cluster) waits until
 * its turn has ended and, when the instance wrote storage in that turn, until Redis has the
 * writes (vr_gate_hold, after `n` frames are queued). How many frames at the head of its queue
 * may be written now (vr_gate_allowed), and whether it waits for Redis rather than for the
 * end of the turn (vr_gate_waiting). */
void vr_gate_hold(verani_session *s, uint32_t n);
uint32_t vr_gate_allowed(verani_session *s, int *for_redis);
/* The session closes now (its instance fenced): what the gate holds leaves its outbound
 * queue, so that the close is not stuck behind frames Redis may never acknowledge; they stay
 * in its retained window, and a resume replays them, through the gate, if the instance is
 * still this node's (or never, if it is not). */
void vr_gate_discard(verani_session *s);
int vr_gate_waiting(const struct vr_instance *inst);

/* --- cluster_handover.c: an instance moved by a graceful stop, sessions and frames --- */
/* At a graceful stop: every HELD instance with sessions is handed over (its sessions and
 * their retained windows stored in Redis once per instance, the instance released), and its
 * connections closed with 1012. srv->handovers counts what Redis has not answered yet. */
void vr_handover_start(verani_server *srv);
/* The stop's wait is over: what Redis did not answer is left to the next owner (the
 * sessions end here without on_disconnect, logged). */
void vr_handover_abandon(verani_server *srv);
/* Restore the sessions of a handover (a packed Handover) into `inst`, just won: detached with
 * a fresh grace, their windows as the last owner left them (each frame once in memory too),
 * then on_hibernation_restore once. What does not parse, or another schema's, is dropped
 * (logged, counted): the clients then start again (recovery_failed). */
void vr_handover_restore(struct vr_instance *inst, const uint8_t *ho, size_t len);
/* Restore sessions from their records (a crashed owner's: `recs[i]` a packed HandoverSession
 * without window): detached with a fresh grace, each in a new seq epoch (its frames are gone:
 * its client resumes with recovery_failed), on_hibernation_restore once. */
void vr_handover_restore_records(struct vr_instance *inst, const uint8_t *const *recs,
                                 const size_t *lens, size_t n);
/* `s`'s record as vr_handover_restore_records reads it, packed into *out (the caller's to
 * free); 0 or VERANI_ENOMEM. */
int vr_session_record(const verani_session *s, uint8_t **out, size_t *len);
/* Its record is to be written at the end of the turn (created, resumed, channels changed), or
 * deleted now (ended); a cluster node's, nothing otherwise. */
void vr_replica_session_save(verani_session *s);
void vr_replica_session_delete(verani_session *s);
/* The handover figures for /metrics. */
void vr_handover_metrics(verani_server *srv, vr_sb *sb);

/* --- rpc.c --- */
/* The last touch of a result of `op` (vr_rpc_op): user ids and instances sorted, counted. */
void vr_rpc_result_sort(int op, verani_rpc_result *res);

/* --- cluster_calls.c: outside calls for an instance another node owns --- */
struct vr_bus_call;
/* `res` and what its arrays own are the callee's now. */
typedef void (*vr_fwd_done)(verani_server *srv, verani_rpc_result *res, void *arg);
/* A call about one instance this node does not hold (emit, count, users, a user's sessions,
 * kick), with a cluster: sent to its owner, and `done` gets the owner's result (or why there
 * is none) later, or now when it cannot be sent; returns 1. 0: not forwarded (run it here).
 * Loop thread. */
int vr_calls_forward(verani_server *srv, const vr_rpc_req *rq, vr_fwd_done done, void *arg);
/* A call another node made to this one (vr_cluster_on_call's function; `arg` the server). */
void vr_calls_on_call(struct vr_cluster *c, struct vr_bus_call *call, const char *from,
                      const uint8_t *body, size_t len, void *arg);

/* --- signals.c --- */
/* `srv` is being destroyed: if the stop signals reach it, they no longer do. */
void vr_signals_forget(verani_server *srv);

/* --- http.c --- */
/* A short text answer with `status` (`upgrade_hdr`: with "Upgrade: websocket", for 426);
 * nonzero when the connection is to close. */
int vr_http_answer(struct lws *wsi, unsigned status, const char *body, int upgrade_hdr);
/* The same with `content_type` and one more header `hdr` ("retry-after:", NULL: none). */
int vr_http_answer_ex(struct lws *wsi, unsigned status, const char *content_type,
                      const char *body, const char *hdr, const char *value);
/* LWS_CALLBACK_HTTP for a path that is not the API's: 426 on a room path, else 404. */
int vr_http_serve(verani_server *srv, struct lws *wsi, const char *uri);
/* Check opts.static_path (at create); does room path `room` clash with it (at mount)? */
int vr_static_init(verani_server *srv, char *errbuf, size_t errlen);
int vr_static_clashes(const verani_server *srv, const char *room);
/* At listen: mount opts.static_dir (when set) in `info`; VERANI_EINVAL when its path clashes
 * with the HTTP API's or /metrics. */
int vr_static_mount(verani_server *srv, struct lws_context_creation_info *info);

/* --- upgrade.c --- */
/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: 0 accepts (srv->pending filled), 1 answered, -1 close. */
int vr_upgrade_confirm(verani_server *srv, struct lws *wsi);
/* Free what a pending upgrade holds and release its instance. */
void vr_pending_drop(vr_pending *p);

/* --- lws_cb.c --- */
/* The one protocol callback (protocols[0]). */
int vr_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len);

/* --- server.c --- */

/* Wake the loop (lws_cancel_service) from any thread or a signal handler, never touching a
 * context that the loop thread is destroying. */
void vr_server_wake(verani_server *srv);
/* The loop was woken (LWS_CALLBACK_EVENT_WAIT_CANCELLED), before it looks at what the
 * wakers queued: the next wake writes again. */
void vr_server_woken(verani_server *srv);
/* The sweep: read the listening socket again when accepting has been paused for a while (a
 * socket closing lets lws resume it sooner; descriptors freed outside lws do not). */
void vr_accept_retry(verani_server *srv, int64_t now_us);
/* The sweep: close the sockets that are not sessions and began before `oldest_us` (an HTTP
 * request or keep-alive wait, an upgrade still being sent: handshake_timeout_ms). */
void vr_socks_expire(verani_server *srv, int64_t oldest_us);

/* 0 when `id` is a valid user id (VERANI_USER_ID_MAX); else VERANI_EINVAL with why in `why`. */
int vr_user_id_check(const char *id, char *why, size_t len);

/* --- sweep.c --- */
/* Start the periodic sweep (at listen); stop it (before the lws context is destroyed). */
void vr_sweep_start(verani_server *srv);
void vr_sweep_stop(verani_server *srv);
/* Take `s` off the sweep's lists (safe when it is on none). */
void vr_timer_unlink(verani_session *s);
/* A frame or a pong came in: the idle clock restarts. */
void vr_session_heard(verani_session *s);

/* --- server_storage.c --- */
/* Open opts.storage_path (create); close it (destroy, after the instances). */
int vr_server_storage_open(verani_server *srv, char *errbuf, size_t errlen);
void vr_server_storage_close(verani_server *srv);
/* Close the instance's storage handle, if open (before the instance is freed). */
void vr_instance_storage_close(vr_instance *inst);

/* --- defer.c: references to sessions, deferred replies --- */
/* Take a reference to `s` (a deferred reply's when `reply`, with its request): 0 and its
 * slot and generation, or VERANI_ENOMEM. */
int vr_sref_take(verani_session *s, int reply, uint64_t request_id, uint32_t event,
                 uint32_t *slot, uint32_t *gen);
/* The session of a reference; NULL once it ended or the reference was dropped. */
verani_session *vr_sref_get(verani_server *srv, uint32_t slot, uint32_t gen);
/* Drop a reference (nothing when it is stale). */
void vr_sref_drop(verani_server *srv, uint32_t slot, uint32_t gen);
/* Session `s` is being freed: its references go stale. */
void vr_sref_gone(verani_session *s);
/* A resume moves session `from` into `to`: so do its references. */
void vr_sref_moved(verani_session *from, verani_session *to);
/* Free the table (destroy). */
void vr_sref_free_all(verani_server *srv);
/* The answer frame `f` (borrowed) of a deferred reply reached the loop: queue it to the
 * request's session (a REPLY, with a seq, when `reply`; else an ERROR), or drop it when the
 * request is gone. */
void vr_defer_deliver(verani_server *srv, uint32_t slot, uint32_t gen, vr_frame *f, int reply);
/* A graceful stop: answer every request still deferred with ERROR HANDLER_FAILED. */
void vr_defer_end(verani_server *srv);

/* --- workers.c: the worker pool --- */
/* Start opts.workers threads (listen); 0, or an error with the reason in errbuf. */
int vr_workers_start(verani_server *srv, char *errbuf, size_t errlen);
/* The loop was woken: run the `done` of every finished job. */
void vr_workers_complete(verani_server *srv);
/* Stop the pool: jobs not started get VERANI_ECLOSED, running ones are waited for, every
 * `done` runs; the threads are joined. A no-op without a pool. */
void vr_workers_stop(verani_server *srv);
/* The jobs waiting and running now (for /metrics). */
void vr_workers_load(verani_server *srv, uint32_t *queued, uint32_t *running);

/* --- rpc.c: the loop's side of the outside calls --- */
void vr_rpc_loop_enter(verani_server *srv);   /* run/service: this thread is the loop */
void vr_rpc_drain(verani_server *srv);        /* EVENT_WAIT_CANCELLED: run queued calls */
void vr_rpc_fini(verani_server *srv);         /* destroy: fail what is left with ECLOSED */
/* verani_server_emit_async's half: queue `frame` (the call takes the caller's reference) to
 * `to` in `instance` (NULL: every instance) of the mounted definition `room`, as one more
 * outside call; what the loop finds is logged, there being nobody to answer. 0, or
 * VERANI_ENOMEM, VERANI_ECLOSED (stopping). */
int vr_rpc_emit_async(verani_server *srv, const verani_room_def *room, const char *instance,
                      const verani_target *to, vr_frame *frame);
/* A deferred reply's answer from another thread: queue `frame` (the caller's reference,
 * taken) for vr_defer_deliver on the loop. 0, VERANI_ENOMEM, VERANI_ECLOSED (stopping). */
int vr_rpc_reply(verani_server *srv, uint32_t slot, uint32_t gen, vr_frame *frame, int reply);
/* Is the calling thread the server's loop thread (inside run or service)? */
int vr_rpc_on_loop(verani_server *srv);

#endif /* VERANI_SERVER_INT_H */
