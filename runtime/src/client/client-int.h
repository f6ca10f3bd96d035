/* SPDX-License-Identifier: MIT */
/*
 * client-int.h: the client's internals (runtime/src/client/), shared by its
 * files alone: client.c (the object, its options and their backoff, states,
 * lifecycle callbacks, the waits' bookkeeping), client_calls.c (the public
 * queries, registrations and waits), client_conn.c (the connection: lws
 * callback, hello, writes, keepalive, reconnection), client_rx.c (reassembly,
 * decode, the welcome, dispatch by kind), client_reqs.c (requests, joins,
 * leaves, their timeouts, the joined channels), client_events.c (typed event
 * registrations and dispatch), client_loop.c (the lws context, its thread and
 * the inbox that carries calls from other threads), client_queue.c (the
 * bounded frame queue); the delays come from core/backoff.c. The backoff and
 * the queue do not call libwebsockets, so the unit tests use them directly.
 * Everything declared under "the client object" runs on the loop's thread.
 */
#ifndef VERANI_CLIENT_INT_H
#define VERANI_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include <verani/client.h>
#include <verani/gen.h>

#include "core/core-private.h"

struct Verani__Wire__Envelope;

/* --- backoff (client.c; vr_backoff and the delays in core/) ------------- */

/* The options' backoff with every default filled in (see client.h). */
void vr_backoff_from_options(vr_backoff *b, const verani_client_options *opts);

/* --- frames and the bounded queue (client_queue.c): no lws -------------- */

/* Headroom before each frame's bytes; static_assert'ed >= LWS_PRE in client_conn.c. */
#define VR_FRAME_PRE 16

typedef struct vr_cframe {
    struct vr_cframe *next;
    uint64_t request_id;      /* nonzero: the request / join / leave this frame carries */
    size_t len;               /* bytes of the frame after the headroom */
    unsigned char buf[];      /* VR_FRAME_PRE bytes of headroom, then `len` bytes */
} vr_cframe;

/* A frame of `len` bytes (uninitialised) with headroom; NULL when out of memory.
 * The caller owns it until it is pushed; free with vr_cframe_free. */
vr_cframe *vr_cframe_new(size_t len);
void vr_cframe_free(vr_cframe *f);
static inline unsigned char *vr_cframe_data(vr_cframe *f)
{
    return f->buf + VR_FRAME_PRE;
}

/* A FIFO of frames that owns them. */
typedef struct vr_cqueue {
    vr_cframe *head;
    vr_cframe *tail;
    size_t len;
    size_t bytes;             /* the frames' lengths, summed */
    size_t max;               /* the bound applied by vr_cqueue_push with `bounded` */
    uint64_t dropped;         /* frames dropped because the bound was reached, in all */
} vr_cqueue;

void vr_cqueue_init(vr_cqueue *q, size_t max);

/*
 * Append `f` (the queue takes it). With `bounded`, while the queue holds
 * `max` frames or more, the oldest is unlinked and counted in `dropped`;
 * the dropped frames are returned oldest first, linked by `next` (the caller
 * owns them: the queue may have grown past `max` while it was unbounded, so
 * one push can drop several); NULL when none went.
 */
vr_cframe *vr_cqueue_push(vr_cqueue *q, vr_cframe *f, int bounded);

/* Unlink and return the oldest frame (the caller owns it), NULL when empty. */
vr_cframe *vr_cqueue_pop(vr_cqueue *q);

/* Put `f` back at the head (the queue takes it). */
void vr_cqueue_push_front(vr_cqueue *q, vr_cframe *f);

/* Unlink and return the frame carrying `request_id` (caller owns it), or NULL. */
vr_cframe *vr_cqueue_remove_request(vr_cqueue *q, uint64_t request_id);

/* Free every frame. */
void vr_cqueue_clear(vr_cqueue *q);

/* --- the loop (client_loop.c) ------------------------------------------- */

/*
 * Run `fn(arg)` on the loop's thread and return its result: at once when
 * the loop has no thread or the caller is that thread, else through the
 * inbox (the caller waits). VERANI_ECLOSED if the loop is being destroyed.
 */
int vr_loop_call(verani_client_loop *loop, int (*fn)(void *arg), void *arg);

/* Whether a thread of ours services the loop. Any thread. */
int vr_loop_is_threaded(verani_client_loop *loop);
/* Whether the caller may block on the loop: not the loop's own thread, and
 * not inside a callback of an unthreaded loop. Any thread. */
int vr_loop_can_block(verani_client_loop *loop);
/* Drain the inbox: LWS_CALLBACK_EVENT_WAIT_CANCELLED (client_conn.c calls it). */
void vr_loop_on_cancel(verani_client_loop *loop);
/* Make room for one more client in the loop's list (VERANI_ENOMEM). */
int vr_loop_reserve_client(verani_client_loop *loop);

struct lws_context *vr_loop_lws(verani_client_loop *loop);
/* The vhost for clients that use `ca_file` (NULL: system CAs); created on demand. */
struct lws_vhost *vr_loop_vhost(verani_client_loop *loop, const char *ca_file, char *errbuf,
                                size_t errlen);

/* Clients on a loop, for verani_client_loop_destroy. */
void vr_loop_add_client(verani_client_loop *loop, verani_client *c);
void vr_loop_remove_client(verani_client_loop *loop, verani_client *c);

/* The lws protocol callback, in client_conn.c; client_loop.c registers it. */
int vr_client_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                           void *in, size_t len);

/* Destroy a client from the loop's teardown (client.c). */
void vr_client_destroy_now(verani_client *c);

/* Increment / decrement the loop's callback depth (re-entrancy guard). */
void vr_loop_enter(verani_client_loop *loop);
void vr_loop_leave(verani_client_loop *loop);

/* --- the client object (client.c, client_conn.c, client_reqs.c, client_events.c) --- */

/* A pending request, join or leave. Owned by the client's list. */
typedef enum { VR_REQ_EVENT, VR_REQ_JOIN, VR_REQ_LEAVE } vr_req_kind;

typedef struct vr_req {
    struct vr_req *next, *prev;
    verani_client *c;
    uint64_t id;
    vr_req_kind kind;
    const verani_event_def *ev;       /* VR_REQ_EVENT */
    verani_reply_invoke_fn invoke;
    verani_fn fn;
    verani_client_channel_fn ch_fn;   /* joins and leaves */
    char *channel;                    /* owned; joins and leaves */
    void *user;
    int sent;                         /* written on a connection (`conn` says which) */
    uint64_t conn;                    /* with `sent`: the conn_id that wrote it */
    lws_sorted_usec_list_t sul;       /* the timeout */
} vr_req;

/* A callback-form wait for the connection. Owned by the client's list. */
typedef struct vr_wait {
    struct vr_wait *next;
    verani_client *c;
    verani_client_wait_fn fn;
    void *user;
    lws_sorted_usec_list_t sul;
} vr_wait;

typedef enum { VR_CB_OPEN, VR_CB_CLOSE, VR_CB_ERROR, VR_CB_STATE, VR_CB_RECOVERY } vr_cb_kind;

typedef struct vr_cb {
    int id;
    vr_cb_kind kind;
    verani_fn fn;
    void *user;
    int dead;
} vr_cb;

typedef struct vr_on {
    uint32_t event;
    verani_client_invoke_fn invoke;
    verani_fn fn;
    void *user;
    int once;
    int dead;
} vr_on;

struct verani_client {
    verani_client_loop *loop;         /* borrowed, or owned when owns_loop */
    int owns_loop;
    const verani_room_schema *room;   /* borrowed: generated static data */

    /* From the options (owned copies). */
    char *url, *host, *host_header, *path, *ca_file;
    char **hdr_names, **hdr_values;   /* hdr_names end with ':' as lws wants */
    size_t n_headers;
    int port, tls, insecure, reconnect_disabled;
    vr_backoff bo;
    uint32_t max_attempts, connect_timeout_ms, ping_interval_ms, pong_timeout_ms;
    uint32_t request_timeout_ms, max_rx;
    size_t max_send;                  /* max_send_bytes: the bound of outq while welcomed */
    uint32_t retry_after_ms;          /* a failed upgrade's Retry-After (a 503 or 429; 0:
                                         none), for the delay that c_lost of that same
                                         failure picks, then 0 */
    struct lws_vhost *vh;

    /* State. */
    verani_client_state state;
    struct lws *wsi;                  /* the current connection, NULL when none */
    int wsi_live;                     /* a connection is under way or open */
    int established, welcomed, user_closed, refused;
    int rx_too_big;                   /* it ended on a frame over max_rx (c_lost) */
    int peer_close_code;
    char peer_close_reason[124];
    uint32_t attempts;
    char *moved_url;                  /* owned: where a 4003 "moved <url>" sent the next
                                         attempt (that one only); NULL: the client's URL */
    uint32_t moves;                   /* 4003s in a row: the first is followed at once */
    uint64_t conn_id;
    int hello_pending, ping_pending, awaiting_pong, rx_since_ping;

    vr_cqueue outq;                   /* owns its frames */
    vr_req *reqs;                     /* owned list */
    size_t n_reqs;
    uint64_t next_request_id;
    vr_wait *waits;                   /* owned list */
    vr_cb *cbs;                       /* owned array */
    size_t n_cbs, cap_cbs;
    int next_cb_id;
    vr_on *ons;                       /* owned array */
    size_t n_ons, cap_ons;
    int iterating;                    /* > 0 while cbs/ons are walked: no compaction */

    unsigned char *rx;                /* owned reassembly buffer */
    size_t rx_len, rx_cap;
    int rx_in_msg, rx_binary, rx_overflow;

    char client_id[64], user_id[VERANI_USER_ID_MAX + 1];
    char *resume_token;               /* owned */
    char epoch[17];                   /* of the last welcome: last_seq counts in it */
    uint64_t last_seq;
    int resumed, recovery_failed;
    /* Resumed with recovery_failed: the requests written on earlier connections end
     * DISCONNECTED once last_seq reaches replay_end (their replies may be lost). */
    int replay_pending;
    uint64_t replay_end;
    uint64_t missed;                  /* frames lost in gaps of seq on a connection, in all */
    char **channels;                  /* owned */
    size_t n_channels;
    const char *ev_channel;           /* borrowed, valid during an event callback */
    uint64_t ev_seq;
    char last_error[256];
    uint64_t rng;

    lws_sorted_usec_list_t sul_retry, sul_connect, sul_ping, sul_pong;
    int depth;                        /* nested entries; the free waits for 0 */
    int destroyed;
};

/* client.c: errors, callbacks, states. */

/* Set the last error (and log it at info). */
void vr_client_set_error(verani_client *c, const char *fmt, ...) VERANI_PRINTF(2, 3);
/* Set the last error and call the on_error callbacks with `err`. */
void vr_client_error(verani_client *c, int err, const char *fmt, ...) VERANI_PRINTF(3, 4);
/* Call the lifecycle callbacks of `kind`: a/b are the code or the old and
 * new states, `text` the reason (NULL reads as ""). Stops once destroyed. */
void vr_client_fire(verani_client *c, vr_cb_kind kind, int a, int b, const char *text);
/* Change state, call on_state_change, resolve the waits it decides. */
void vr_client_set_state(verani_client *c, verani_client_state st);
/* Enter / leave a stretch that may call back into user code; the client is
 * freed on the last leave after a destroy (vr_client_leave returns 1). */
void vr_client_enter(verani_client *c);
int vr_client_leave(verani_client *c);
/* `items` (an array of `n` elements of `size` bytes, room for *cap) with room
 * for one more: itself, or reallocated (first capacity `first`, then twice;
 * *cap updated). NULL when out of memory, and `items` is unchanged. */
void *vr_client_grow(void *items, size_t *cap, size_t n, size_t size, size_t first);
/* Drop the removed callbacks and event handlers unless they are being walked. */
void vr_client_compact(verani_client *c);

/* client_conn.c: the connection. */

/* Start a connection attempt (CONNECTING). */
void vr_client_connect(verani_client *c);
/* Detach the current connection from the client and close it (with
 * `close_code` and `reason` when it was established and close_code != 0). */
void vr_client_detach(verani_client *c, int close_code, const char *reason);
/* Unlink the first wait that `match` accepts and cancel its timer; NULL if none. */
vr_wait *vr_client_wait_take(verani_client *c,
                             int (*match)(const vr_wait *w, const void *key), const void *key);
/* A wait's timer: it ends with VERANI_ETIMEDOUT. */
void vr_client_wait_timeout_cb(lws_sorted_usec_list_t *sul);
/* (Re)arm the keepalive ping (client_conn.c). */
void vr_client_arm_ping(verani_client *c);
/* The current connection has ended (it is detached already): its requests fail unless the
 * session may resume; `err`/`what` go to on_error, `code`/`reason` to on_close. Whether to
 * reconnect is the caller's decision (client_conn.c). */
void vr_client_conn_end(verani_client *c, int err, const char *what, int code,
                        const char *reason);
/* LWS_CALLBACK_CLIENT_RECEIVE: a piece of a message (client_rx.c); -1 closes. */
int vr_client_receive(verani_client *c, struct lws *wsi, const void *in, size_t len);
/* Cancel every timer of the client, retry included. */
void vr_client_cancel_timers(verani_client *c);
/* Pack `env`, with `msg` as its payload (NULL: none), into a new frame (the caller owns
 * it); NULL when out of memory. */
vr_cframe *vr_client_pack(struct Verani__Wire__Envelope *env, const ProtobufCMessage *msg);
/* Queue `f` (taken) for writing; bounded by max_queue while not connected. */
void vr_client_enqueue(verani_client *c, vr_cframe *f);
/* While connected, is there room for a frame of `len` bytes: 0, or VERANI_EFULL (with the
 * client's last error saying so) when the frames waiting to be written already hold
 * max_send_bytes with it. An empty queue takes any frame. */
int vr_client_send_room(verani_client *c, size_t len);

/* client_reqs.c: requests, joins, leaves and channels. */

vr_req *vr_client_req_find(verani_client *c, uint64_t id);
/* End a request: unlink it, drop its frame if still queued, call back once
 * (`reply` and `error` are borrowed and passed on only with OK / ERROR). */
void vr_client_req_finish(verani_client *c, vr_req *r, verani_reply_status st,
                          const ProtobufCMessage *reply, const char *error);
/* Requests written on a connection whose conn_id is below `before_conn`: DISCONNECTED. */
void vr_client_fail_sent(verani_client *c, uint64_t before_conn);
/* The client will not reconnect by itself: every pending request ends. */
void vr_client_fail_all(verani_client *c, verani_reply_status st);
void vr_client_channels_clear(verani_client *c);
void vr_client_channel_add(verani_client *c, const char *ch);
/* A REPLY / an ERROR envelope from the server. */
void vr_client_on_reply(verani_client *c, const struct Verani__Wire__Envelope *env);
void vr_client_on_server_error(verani_client *c, const struct Verani__Wire__Envelope *env);

/* client_events.c: typed events. */

/* Check `ev` belongs to table `t` (`dir` names it: "on" or "emit") and, with
 * `check_msg`, that `msg` is its valid payload; sets the last error. */
int vr_client_check_event(verani_client *c, const verani_event_def *ev,
                          const verani_event_def *t, size_t n, const char *dir,
                          const ProtobufCMessage *msg, int check_msg);
/* An EVENT envelope from the server: decode, validate, call the handlers. */
void vr_client_on_event(verani_client *c, const struct Verani__Wire__Envelope *env);

#endif /* VERANI_CLIENT_INT_H */
