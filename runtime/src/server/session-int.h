/* SPDX-License-Identifier: MIT */
/*
 * session-int.h: one connection's session (session.c) and the context a
 * handler runs with (verani_ctx, its scratch memory, the handler-call
 * bracket). Event-loop thread only; for server/ alone.
 */
#ifndef VERANI_SESSION_INT_H
#define VERANI_SESSION_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include <verani/server.h>

#include "broker-int.h"
#include "ratelimit-int.h"
#include "room-int.h"
#include "wire/wire-private.h"

struct vr_pending;

/* A run of frames the output gate holds: `n` frames of the turn tagged `tag`. */
struct vr_grun {
    uint64_t tag;
    uint32_t n;
};

struct verani_session {
    /* First the fields every delivery reads (broker.c's walk, vr_session_enqueue,
     * vr_session_writable): a fan-out touches them in every recipient, so they share as
     * few cache lines as they can. */
    struct verani_server *srv;
    struct lws *wsi;                 /* NULL once the connection is gone */
    uint64_t seq;                    /* the last seq queued to this session */
    vr_outq q;
    vr_outq retained;                /* sequenced frames kept for resume (vr_retain_*) */
    struct vr_session_ext *x;        /* owned: what it holds only at times (vr_session_ext) */
    unsigned hello_done : 1;         /* on the JSON wire: from the socket's open */
    unsigned json : 1;               /* it speaks Verani's JSON wire (json_rx.c, json_tx.c):
                                        no HELLO, no seq, no resume */
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
    unsigned resave : 1;             /* saved for a restart, then sent frames (answers to
                                        what a client sent before the 1012 reached it, to
                                        it or to a detached session): saved again as it
                                        ends */
    unsigned fenced : 1;             /* closed (1012) because its node lost its cluster
                                        lease: detached when the connection goes, unless
                                        its instance turned out to be another node's */
    unsigned handover : 1;           /* handed to the next owner by a graceful stop
                                        (cluster_handover.c): closed (1012), kept detached
                                        until Redis says whether it has it */
    int close_code;
    lws_dll2_t node;                 /* in inst->sessions once hello is done */
    lws_dll2_t all;                  /* in srv->sessions from ESTABLISHED to CLOSED */
    vr_instance *inst;               /* holds one `pending` or a list entry */
    char client_id[37];
    uint8_t resume_token[16];        /* binary: the WELCOME and the stores carry it as 32 hex
                                        digits (vr_hex) */
    char epoch[17];                  /* the generation of its seqs (PROTOCOL.md, "Resume") */
    char *user_id;                   /* owned */
    uint8_t *meta;                   /* owned: the packed meta (the attachment) */
    uint32_t meta_len;
    uint16_t proto_errors;           /* consecutive refused frames (closed at
                                        VR_MAX_PROTO_ERRORS) */
    uint16_t limited;                /* consecutive rate-limited frames (the same) */
    /* Its channel memberships in join order (vr_session_chan): the first inline, for most
     * sessions have one, the others in `chan_more`. A name is its channel's (room.c). */
    vr_chanref chan0;
    vr_chanref *chan_more;           /* owned: memberships 1.., room for cap_more */
    uint32_t n_channels, cap_more;
    vr_bucket bucket;
    struct vr_rxbuf *rx;             /* owned: a message arriving in pieces (dispatch.c) */
    int64_t progress_us;             /* the last write of queued frames (the slow-consumer
                                        judgement: outq.c's over_bound) */
    int64_t last_rx_us;              /* the last frame or pong in; while detached, when the
                                        connection was lost (the grace period's start) */
    lws_dll2_t tnode;                /* sweep.c: in srv->handshaking until hello, then in
                                        srv->lru; in neither once closing or detached */
    uint32_t dirty_at;               /* 1 + its place in srv->dirty while frames wait for the
                                        end of the loop turn (vr_sessions_flush), else 0 */
    uint32_t n_srefs;                /* references to it in srv->srefs (defer.c) */
};

/*
 * What a session holds only in some setups or at some times, kept out of verani_session
 * so that an idle connection costs less (bench/RESULTS.md, "Idle memory"): allocated at
 * the first need (vr_session_ext_get), freed with the session.
 */
typedef struct vr_session_ext {
    verani_session *s;               /* whose it is */
    struct vr_grun *gruns;           /* owned: the output gate's runs of held frames at the
                                        tail of q, oldest first (cluster_gate.c) */
    uint32_t n_gruns, cap_gruns;
    uint32_t replay_frames;          /* a resume's replay may pass the queue bound by this */
    size_t replay_bytes;             /* much; both 0 again once the queue has drained */
    lws_dll2_t repl_node;            /* its record to write to Redis (cluster_replica.c) */
    lws_dll2_t store_node;           /* in srv->store_saves while its attachment waits for
                                        the end of the turn (vr_sessions_store_flush) */
    vr_names want_chans;             /* owned until the HELLO: extract_meta's channels */
    Verani__Wire__Hello *hello;      /* owned (vr_pb_allocator): the upgrade's folded HELLO
                                        while its node holds the session back */
    char *close_reason;              /* owned: set by vr_session_close, at most
                                        VR_CLOSE_REASON_MAX bytes */
    uint8_t prev_token[16];          /* the token the last resume presented: it resumes the
                                        session too until prev_until_us (0: none), or until a
                                        HELLO presents resume_token (vr_session_prev_token) */
    int64_t prev_until_us;
} vr_session_ext;

/* Have `s` written at the end of this loop turn (vr_sessions_flush); out of that list. */
void vr_session_dirty(verani_session *s);
void vr_session_undirty(verani_session *s);

/* The session's vr_session_ext, made when it has none: NULL when out of memory. */
vr_session_ext *vr_session_ext_get(verani_session *s);

/*
 * The previous resume token (PROTOCOL.md, "Resume"): a resume issues a new token in its
 * WELCOME, and that WELCOME can be lost with its connection (a cut before it was read, a
 * cluster node's fence while Redis held it back), leaving the client with the token it
 * presented. That token keeps resuming the session for the resume grace period after it was
 * presented, or until a HELLO presents the new one. vr_session_prev_token_set keeps `tok`
 * (binary) as the previous token from now (on an allocation failure it is not kept, and a
 * lost WELCOME then costs the session, as a warning says); vr_session_prev_token is it while
 * it still resumes, else NULL. The stores carry it as hex beside the token
 * (vr_session_prev_hex: "" when none; vr_session_prev_token_set_hex: "" or a malformed one is
 * ignored), and a restored session's previous token counts from its restore.
 */
void vr_session_prev_token_set(verani_session *s, const uint8_t *tok);
const uint8_t *vr_session_prev_token(const verani_session *s);
void vr_session_prev_hex(const verani_session *s, char out[33]);
void vr_session_prev_token_set_hex(verani_session *s, const char *hex);
/* The output gate's runs of held frames (0 without a cluster). */
static inline uint32_t vr_session_gate_runs(const verani_session *s)
{
    return s->x ? s->x->n_gruns : 0;
}

/* The rate limit of its room (`limits { rate; burst; }`), which its bucket keeps to. */
static inline vr_bucket_rule vr_session_rate(const verani_session *s)
{
    const verani_room_schema *sc = s->inst->mount->def->schema;

    return (vr_bucket_rule){sc->rate, sc->burst};
}

/* A message arriving in pieces (dispatch.c): its bytes so far. */
typedef struct vr_rxbuf {
    size_t len, cap;
    uint8_t data[];
} vr_rxbuf;

/* Membership `i` (< n_channels) of `s`, and its channel's name. */
static inline vr_chanref *vr_session_chan(const verani_session *s, size_t i)
{
    return i ? &s->chan_more[i - 1] : (vr_chanref *)&s->chan0;
}
static inline const char *vr_session_chan_name(const verani_session *s, size_t i)
{
    return vr_session_chan(s, i)->ch->name;
}

/* A session's channel names as the array a protobuf message wants (vr_chan_names_get):
 * `v` is `inl` when they fit, else owned; the names are borrowed from the channels. */
typedef struct vr_chan_names {
    char **v;
    size_t n;
    char *inl[8];
} vr_chan_names;

/* A handler's context: on the stack of the dispatching call. VR_CTX_ARENA bytes of its
 * scratch memory are inline. */
#define VR_CTX_ARENA 512
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
    /* While a request's typed handler runs (dispatch.c): the request, for verani_ctx_defer */
    const vr_envelope *req;
    const verani_event_def *req_ev;
    unsigned deferred : 1;           /* verani_ctx_defer took the reply */
    uint32_t defer_slot, defer_gen;  /* its reference */
    /* Scratch memory inline, first (verani_ctx_alloc, the payload's unpack: vr_ctx_pb), the
     * heap's chunks (`scratch`) past it: most handler calls allocate nothing else. Last, and
     * not zeroed by vr_ctx_init: what is handed out is zeroed then. */
    size_t arena_used;
    max_align_t arena[VR_CTX_ARENA / sizeof(max_align_t)];
};
/* Send frame `f` (borrowed) to the session alone, written at the end of the turn; a fresh seq
 * when `with_seq` (what vr_session_send does with a frame already encoded). */
int vr_session_send_frame(verani_session *s, vr_frame *f, int with_seq);

/* --- session.c: the object's lifetime --- */
verani_session *vr_session_new(verani_server *srv, struct lws *wsi, struct vr_pending *p);
/* The connection is gone: detached for a resume when it may be, else ended (out of its
 * instance, on_disconnect, freed). */
void vr_session_closed(verani_session *s);
/* The server is closing the session's connection with a close that leaves it waiting for a
 * resume (the idle timeout's 4001, a fenced node's 1012): until the connection is gone, the
 * frames sent to it take their seq and are retained as for a detached session, so the
 * resume replays them (outq.c, broker.c), and a client that comes back before its old
 * connection is gone resumes it (hello.c). */
int vr_session_detaching(const verani_session *s);
/* Saved by a graceful stop for the next server on the same file (persist.c), its connection
 * still closing: what it is sent meanwhile is retained and saved again as it ends. */
int vr_session_saved_for_restart(const verani_session *s);
/* Not being closed, or being closed with such a close, or saved for a restart: a session an
 * event still reaches and a resume may still take over (broker.c, hello.c). */
static inline int vr_session_reachable(const verani_session *s)
{
    /* inline: a fan-out asks it per member */
    return !s->closing || vr_session_detaching(s) || vr_session_saved_for_restart(s);
}
/* Its instance is another node's now (cluster_owner.c): a detached session ends at once, one
 * still closing when its connection goes; neither runs on_disconnect. */
void vr_session_drop(verani_session *s);
/* Redis answered the handover of its instance (cluster_handover.c): `stored` (or another node
 * owns the instance), the session ends here without on_disconnect; not stored, it ends as
 * at any stop, with on_disconnect. Either way once its connection is gone. */
void vr_session_handed(verani_session *s, int stored);
/* The grace period of a detached session passed: on_disconnect, freed. */
void vr_session_grace_expired(verani_session *s);
/* The client sent a close frame with `code` (before CLOSED). Returns nonzero when it answers
 * ours: the connection then closes at once (the close handshake is complete). */
int vr_session_peer_close(verani_session *s, int code);
/* End every detached session (on_disconnect, free): at stop, before the context goes. */
void vr_sessions_end_detached(verani_server *srv);
/* Past opts.max_detached, end the detached sessions lost longest ago. */
void vr_sessions_detached_bound(verani_server *srv);
/* A session whose close has started but whose socket never finished it: drop the socket
 * now. Returns 1 when it did, 0 when `s` is not such a session. */
int vr_session_kill_stuck(verani_session *s);
/* Free what a session owns besides its list entries and timer (no on_disconnect). */
void vr_session_free(verani_session *s);

/* --- outq.c: what a session sends --- */
/* Queue `f` (one new reference) with a fresh seq when `with_seq`; applies the slow policy.
 * On poll() it is written when lws says the connection is writable (the fan-out path), on
 * epoll at the end of the turn (vr_sessions_flush). */
int vr_session_enqueue(verani_session *s, vr_frame *f, int with_seq);
/* The connection is writable (a WRITEABLE callback, or vr_sessions_flush); -1 closes it. */
int vr_session_writable(verani_session *s);
/* The end of a loop turn: one direct write per session that got a frame of its own (a
 * reply, a welcome, an error) in it, or on epoll any frame. */
void vr_sessions_flush(verani_server *srv);
/* Start closing with `code` and `reason`; `kill` drops the socket without waiting to write. */
void vr_session_close(verani_session *s, int code, const char *reason, int kill);
/* The frames and bytes waiting in the session's outbound queue. */
void vr_session_queued(const verani_session *s, uint32_t *frames, size_t *bytes);
/* The frame of envelope `env` with `msg` as its payload (NULL: none): one reference, the
 * caller's; NULL when out of memory (vr_wire_encode). */
vr_frame *vr_frame_encode(vr_envelope *env, const ProtobufCMessage *msg);
/* Queue `env` with `msg` as its payload (NULL: none) to the session alone, written at the end
 * of the turn; a fresh seq when `with_seq`. 0, or VERANI_ENOMEM (nothing queued). */
int vr_session_send(verani_session *s, vr_envelope *env, const ProtobufCMessage *msg,
                    int with_seq);
/* Send an ERROR frame with wire code `code` answering `req` (may be NULL). */
void vr_session_error(verani_session *s, int code, const vr_envelope *req, const char *msg,
                      const char *field);
/* A refused frame: answer it, and close with 1008 after too many in a row. */
void vr_session_refuse(verani_session *s, int code, const vr_envelope *req, const char *msg,
                       const char *field);

/* --- hello.c, dispatch.c, channels.c: what a session receives --- */
/* Receive a piece of a WebSocket message. Returns -1 when the connection must close. */
int vr_session_rx(verani_session *s, const uint8_t *in, size_t len, int binary, int first,
                  int final);
/* The first frame, a HELLO: a fresh session or a resume, answered with the WELCOME. */
void vr_session_hello(verani_session *s, const vr_envelope *env);
/* The HELLO folded into the upgrade (?hello=), which `s` now owns: read as the first HELLO at
 * once, or, while a cluster node waits for its instance (vr_owner_hold), kept until
 * vr_session_held_hello reads it; freed when the session is closing. */
void vr_session_fold_hello(verani_session *s, Verani__Wire__Hello *hello);
/* The kept folded HELLO of a session its node no longer holds back, read now (none: nothing). */
void vr_session_held_hello(verani_session *s);
/* A session on the JSON wire begins when its socket opens (or when its instance's cluster
 * claim is won): a fresh session, on_connect, no WELCOME. */
void vr_session_json_open(verani_session *s);
/* After its payload was decoded: the event's typed handler (or on_message), on_any, and the
 * answer (an error, the reply of a request). `in` is freed here. */
void vr_session_dispatch(verani_session *s, const vr_envelope *env, const verani_event_def *ev,
                         ProtobufCMessage *in);
/* json_rx.c: a message of a session on the JSON wire, past the rate limit. */
void vr_json_message(verani_session *s, const uint8_t *buf, size_t len, int binary);
/* json_tx.c: the frame session `s` (on the JSON wire) gets for the Envelope frame `f`:
 * 0 with *out set (borrowed: f's twin, made at its first JSON recipient and shared by the
 * others), 0 with *out NULL when it has no JSON form (a WELCOME, a channel's REPLY, an error
 * when json_errors_silent), or VERANI_ENOMEM. */
int vr_json_twin(verani_session *s, vr_frame *f, vr_frame **out);
/* The one {"type":"pong"} frame, shared by every answer to a JSON ping: a new reference. */
vr_frame *vr_json_pong(verani_server *srv);
/* A client's JOIN or LEAVE frame. */
void vr_session_join_leave(verani_session *s, const vr_envelope *env);
/* A new session's first channels: those extract_meta asked for (each one on_join allows),
 * else the schema's, else "default". 0, or VERANI_ENOMEM. */
int vr_session_initial_channels(verani_session *s);
/* Fill `c` with the names of the channels of `s`, in join order; valid while its memberships
 * last and `c` is not moved. 0, or VERANI_ENOMEM. vr_chan_names_fini frees what it took. */
int vr_chan_names_get(const verani_session *s, vr_chan_names *c);
void vr_chan_names_fini(vr_chan_names *c);
/* Add channel `ch` to the session's and the instance's lists: 1 when added, 0 when it was
 * already in it, VERANI_ENOMEM. */
int vr_session_channel_add(verani_session *s, const char *ch);
/* Leave every channel and free the names. */
void vr_session_channels_clear(verani_session *s);

/* --- persist.c: the session store --- */
/* Is the session store on a file, with resume on (else saving is pointless)? */
int vr_store_persistent(const verani_server *srv);
/* The session's attachment is to be written (at the end of the turn) / removed. */
void vr_attachment_store(verani_session *s);
void vr_attachment_delete(verani_session *s);
/* The end of a loop turn: the session store's writes of the turn in one transaction. When
 * they fail (a busy database: the busy timeout is a few ms) they all stay queued and are
 * tried again after a backoff (store_retry), never by waiting on the loop. */
void vr_sessions_store_flush(verani_server *srv);
/* Graceful stop, on a persistent store (storage_path a file): save every session (attached
 * or detached) and its retained frames, so a server restarted on the same file restores
 * them detached (vr_sessions_restore, at listen) and their clients resume. */
int vr_sessions_save(verani_server *srv);
/* A saved session that handled frames after the save (s->resave): saved again, alone, with
 * what they answered, as it ends. Logged when it fails (its client then misses those). */
void vr_session_resave(verani_session *s);
int vr_sessions_restore(verani_server *srv);
/* A session of `inst` made from a stored attachment (ids, token, user, meta, channels, and
 * its seq stream when `a->epoch` is set), not attached to anything yet, its windows empty;
 * NULL when out of memory. The caller owns it until vr_sessions_restored_attach. */
struct vr_attachment;
verani_session *vr_session_restored(verani_server *srv, vr_instance *inst,
                                    const struct vr_attachment *a);
/* The restored sessions join `inst` detached, each with a fresh grace period, and the room's
 * on_hibernation_restore runs once when there is any. The list stays the caller's; the
 * sessions are the instance's now. */
void vr_sessions_restored_attach(vr_instance *inst, verani_session **list, size_t n);

/* --- context.c: the handler context and the one way into the application --- */
void vr_ctx_init(struct verani_ctx *ctx, verani_server *srv, vr_mount *m, vr_instance *inst,
                 verani_session *s);
void vr_ctx_fini(struct verani_ctx *ctx);
/* protobuf-c's allocator on `ctx`'s scratch memory, into *pa: what it unpacks lives until
 * vr_ctx_fini (its free is a no-op; vr_wire_payload_free must not be called on it). */
void vr_ctx_pb(struct verani_ctx *ctx, ProtobufCAllocator *pa);
void *vr_scratch_alloc(vr_scratch **list, size_t size);
void vr_scratch_free(vr_scratch **list);

/* The room's lifecycle hooks (the handler table starts with them). */
static inline const verani_hooks *vr_hooks_of(const vr_mount *m)
{
    return (const verani_hooks *)m->handlers;
}

/* Around every call into the application's hooks and handlers: when the outermost one
 * returns, a storage transaction it left open is rolled back (logged, and reported to
 * on_error), so it cannot swallow the session store's writes that follow. vr_hook_call
 * brackets with them; they are public for nothing else. */
void vr_handler_enter(verani_server *srv);
void vr_handler_leave(struct verani_ctx *ctx);

/* The application calls vr_hook_call makes. */
typedef enum vr_hook {
    VR_HOOK_CONNECT,        /* on_connect; on_error too when it fails */
    VR_HOOK_DISCONNECT,     /* on_disconnect */
    VR_HOOK_ERROR,          /* on_error(err, text) */
    VR_HOOK_MESSAGE,        /* on_message(event, data, len) */
    VR_HOOK_JOIN,           /* on_join(channel) */
    VR_HOOK_LEAVE,          /* on_leave(channel) */
    VR_HOOK_RESTORE,        /* on_hibernation_restore */
    VR_HOOK_ANY,            /* on_any(event, data, len, result) */
    VR_HOOK_EVENT,          /* the typed handler of the room's `on` event `index` (in, out),
                               timed for the handler-duration metric */
    VR_HOOK_INSTANCE_START, /* on_instance_start */
    VR_HOOK_INSTANCE_STOP,  /* on_instance_stop */
    VR_HOOK_TIMER,          /* a timer's fn(arg) (timers.c) */
    VR_HOOK_ALARM,          /* on_alarm; on_error too when it fails (alarms.c) */
    VR_HOOK_JOB             /* a worker job's done(arg, result) (workers.c) */
} vr_hook;

/* The arguments of one call; each hook reads its own (see vr_hook). */
typedef struct vr_hook_args {
    const char *channel;
    int err;
    const char *text;
    uint32_t event;
    const uint8_t *data;
    size_t len;
    int result;
    size_t index;
    const ProtobufCMessage *in;
    ProtobufCMessage *out;
    verani_timer_fn timer;
    verani_work_done_fn done;
    void *arg;
} vr_hook_args;

/* Call `hook` of the application with `ctx` inside the handler bracket. Returns what the hook
 * returned (0 for the void ones); a hook the application did not set is not called and gives
 * 0 (callers that treat a missing on_message or on_join differently check the table). */
int vr_hook_call(struct verani_ctx *ctx, vr_hook hook, const vr_hook_args *a);

#endif /* VERANI_SESSION_INT_H */
