/* SPDX-License-Identifier: MIT */
/*
 * client.h: the Verani-C client. It connects to one room instance of a
 * Verani-C server, reconnects by itself with backoff, queues frames while it
 * is away and flushes them in order, keeps the connection alive with pings,
 * and matches replies to requests. The typed layer veranic generates
 * (<pkg>_client.h) sits on top of the calls in gen.h (verani_client_emit,
 * _request, _on, _off), which follow the same threading rules as below.
 * The hello: a fresh session's (protocol and fingerprint) is folded into the
 * upgrade as the query parameter `hello` (PROTOCOL.md section 3, "The folded
 * HELLO"), so the welcome follows the 101 a round trip sooner; a resume's is
 * the first frame, so that a resume token is never written into a URL. The
 * URL given to verani_client_create must not have a `hello` parameter (its
 * name read percent-decoded, as the server reads it); a fragment (#...) is
 * dropped, since a WebSocket request has none (RFC 6455 section 3).
 * Resume: every reconnect's hello carries the last resume token and the last
 * sequence number received; when the server resumes the session (within its
 * grace period) the client keeps its client id and channels, no frame is
 * lost (the server replays what was missed, in order, before anything new)
 * and the application sees only on_open again; when it cannot,
 * on_recovery_failed tells the application to resync. Requests pending when
 * the connection dropped stay pending across a resume and get the replayed
 * reply (see "Requests" at the end of this file).
 * verani_client_disconnect and _reconnect close an open connection with 1000,
 * which ends the server's session (no resume). With no connection open
 * (RECONNECTING) there is nothing to close: the server keeps the session for
 * its grace period and a _reconnect within it resumes the session (a
 * _disconnect still ends the pending requests DISCONNECTED). Which server
 * close codes it reconnects after is PROTOCOL.md section 7's rule: not after
 * 1000, 1001 and 1008; after any other (1012, a graceful server restart,
 * included). A cluster's node sends it to the node that serves its room
 * instance: a 307 (asked for with X-Verani-Redirects: follow) is followed by
 * libwebsockets, and a 4003 "moved <url>" makes the next attempt go to <url>
 * (with the client's own path and query) at once; later attempts go to the
 * client's own URL again.
 *
 * Threads: a client is driven either by the caller's loop
 * (verani_client_loop_create + verani_client_loop_service, many clients on
 * one loop) or by a thread of its own (verani_client_loop_start).
 *   - Before verani_client_loop_start (or after verani_client_loop_stop),
 *     every call is for the one thread that services the loop.
 *   - After verani_client_loop_start, every call marked "any thread" may be
 *     made from any thread: it runs on the loop's thread and the caller waits
 *     for it (a few microseconds). Callbacks always run on the loop's thread;
 *     calls made from inside a callback run at once.
 *   Calls not marked "any thread" are for the loop's thread only.
 *
 * States and transitions:
 *   CONNECTING    a connection attempt is under way (TCP, TLS, upgrade, hello)
 *   CONNECTED     the server's welcome arrived; frames flow
 *   RECONNECTING  the connection was lost; waiting out the backoff delay
 *   DISCONNECTED  not connected and not going to reconnect by itself
 *                 (verani_client_disconnect, reconnection disabled, or the
 *                 server closed with 1000 or 1001: it ended the session)
 *   ERROR         given up: attempts exhausted, or refused (close 1008, or
 *                 HTTP 400..499 except 408 and 429 on the upgrade), or a
 *                 server message over max_rx_frame (it would come again)
 * CONNECTING -> CONNECTED -> RECONNECTING -> CONNECTING ...; from any state to
 * DISCONNECTED or ERROR; verani_client_reconnect leaves them for CONNECTING.
 */
#ifndef VERANI_CLIENT_H
#define VERANI_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <verani/common.h>
#include <verani/gen.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A loop that drives any number of clients (one lws context). */
typedef struct verani_client_loop verani_client_loop;

typedef enum verani_client_state {
    VERANI_CLIENT_CONNECTING = 0,
    VERANI_CLIENT_CONNECTED,
    VERANI_CLIENT_DISCONNECTED,
    VERANI_CLIENT_RECONNECTING,
    VERANI_CLIENT_ERROR
} verani_client_state;

/* "connecting", "connected", ...; any thread. */
VERANI_API const char *verani_client_state_name(verani_client_state state);

/*
 * Client options. Zero-initialise (or call verani_client_options_init) and set
 * what you need; every zero means the documented default. Verani's
 * "maxAttempts: 0 means no limit" is spelled VERANI_CLIENT_UNLIMITED here,
 * because zero means "the default" for every option.
 *
 * Backoff: the delay before reconnect attempt n (n = 1, 2, ...) is
 * initial_delay_ms * backoff_multiplier^(n-1), at most max_delay_ms, then
 * moved by a random amount of up to +-jitter_percent of itself (and kept at
 * most max_delay_ms). One lost or failed connection is one attempt; the count
 * goes back to 0 when a welcome arrives.
 */
typedef struct verani_client_options {
    const char *url;                 /* ws://host:port/path?query or wss://...; required */
    const verani_room_schema *room;  /* the generated <pkg>_<room>_schema; required */
    const char *const *headers;      /* extra "Name: value" strings, e.g. Authorization */
    size_t n_headers;
    const char *ca_file;             /* PEM bundle for wss://; NULL: the system's CAs */
    int insecure;                    /* nonzero: skip TLS verification (tests only) */
    int reconnect_disabled;          /* nonzero: never reconnect */
    uint32_t max_attempts;           /* 0: 10; VERANI_CLIENT_UNLIMITED: no limit */
    uint32_t initial_delay_ms;       /* 0: 1000 */
    uint32_t max_delay_ms;           /* 0: 30000. An upgrade answered with a Retry-After
                                        (a 503 or 429, in seconds) waits at least that long
                                        before the next attempt, at most max_delay_ms */
    float backoff_multiplier;        /* 0, negative or NaN: 1.5; between 0 and 1: 1 */
    int jitter_percent;              /* 0: 20; negative: no jitter; at most 100 */
    uint32_t max_queue;              /* offline queue bound in frames; 0: 100 */
    size_t max_send_bytes;           /* while connected: the most bytes of frames waiting to
                                        be written; an emit, request, join or leave past it
                                        returns VERANI_EFULL (the application sends faster
                                        than the connection takes); 0: 16 MiB */
    uint32_t connect_timeout_ms;     /* upgrade (+ hello) + welcome; 0: 10000 */
    uint32_t ping_interval_ms;       /* 0: 5000; VERANI_CLIENT_NO_PING disables */
    uint32_t pong_timeout_ms;        /* 0: 5000 */
    uint32_t request_timeout_ms;     /* 0: 10000; for requests, joins and leaves */
    uint32_t max_rx_frame;           /* largest frame accepted from the server; 0: 16 MiB.
                                        A larger one closes with 1009 and ends in ERROR
                                        (on_error VERANI_ETOOBIG): a resume would replay it */
} verani_client_options;

#define VERANI_CLIENT_UNLIMITED UINT32_MAX
#define VERANI_CLIENT_NO_PING UINT32_MAX

/* Fill `opts` with zeros (= every default). Any thread. */
VERANI_API void verani_client_options_init(verani_client_options *opts);

/* --- loops ---------------------------------------------------------------- */

/*
 * Create a loop (one libwebsockets context, no listening socket). NULL on
 * failure, with the reason in `errbuf` when given. Raise RLIMIT_NOFILE before
 * this call to drive more clients than the default fd limit allows: lws sizes
 * its tables from it. Logging is errors and warnings, as for the server,
 * unless verani_set_log_level chose otherwise (libwebsockets' own default
 * would also print its notices, a banner among them).
 */
VERANI_API verani_client_loop *verani_client_loop_create(char *errbuf, size_t errlen);

/*
 * Service the loop once: wait at most `timeout_ms` (0: do not wait) for
 * network activity or a timer, and run what is due. Only while the loop has
 * no thread of its own (else VERANI_ESTATE); not from inside a callback.
 */
VERANI_API int verani_client_loop_service(verani_client_loop *loop, int timeout_ms);

/* Run the loop on a thread of its own until verani_client_loop_stop. */
VERANI_API int verani_client_loop_start(verani_client_loop *loop);

/* Stop and join the loop's thread. Any thread except the loop's own
 * (VERANI_ESTATE there). Afterwards the caller drives the loop again. */
VERANI_API int verani_client_loop_stop(verani_client_loop *loop);

/* Stop the loop's thread if any, destroy every client still on it (their
 * pending requests end CANCELLED), free the loop. Not from a callback. */
VERANI_API void verani_client_loop_destroy(verani_client_loop *loop);

/* --- clients -------------------------------------------------------------- */

/*
 * Create a client on `loop` and start connecting at once (state CONNECTING).
 * `opts` is copied (strings too). `loop` NULL gives the client a loop of its
 * own, freed with it (verani_client_get_loop returns it). NULL on failure
 * (bad URL, missing room, ...) with the reason in `errbuf`. Any thread.
 */
VERANI_API verani_client *verani_client_create(verani_client_loop *loop,
                                               const verani_client_options *opts, char *errbuf,
                                               size_t errlen);

/*
 * Close the connection (1000) and free the client. Pending requests, joins,
 * leaves and waits end with CANCELLED / VERANI_ECLOSED first; no other
 * callback runs after this call. Allowed inside the client's own callbacks
 * (the memory is freed when the callback returns). A client that owns its
 * loop must not be destroyed from inside a callback. NULL is a no-op. Any
 * thread, but not while another thread waits on the client.
 */
VERANI_API void verani_client_destroy(verani_client *client);

/* The loop the client runs on. Any thread. */
VERANI_API verani_client_loop *verani_client_get_loop(verani_client *client);

/*
 * Close the connection with 1000 and stay DISCONNECTED (no reconnection).
 * Every pending request, join and leave ends DISCONNECTED; queued events
 * stay queued and go out if the client connects again. Any thread.
 */
VERANI_API int verani_client_disconnect(verani_client *client);

/*
 * Connect again now: attempts go back to 0, any connection or pending retry
 * is dropped, state CONNECTING. Works from every state. Any thread.
 */
VERANI_API int verani_client_reconnect(verani_client *client);

/* --- state and information ------------------------------------------------ */

/* Any thread. */
VERANI_API verani_client_state verani_client_get_state(verani_client *client);

typedef struct verani_client_info {
    verani_client_state state;
    uint32_t attempts;        /* failed attempts since the last welcome */
    uint64_t connection_id;   /* 1 for the first connection attempt, +1 for each next one */
    char client_id[64];       /* from the last welcome; "" before one */
    char user_id[VERANI_USER_ID_MAX + 1]; /* from the last welcome; "" before one */
    uint64_t last_seq;        /* the last sequence number received */
    int resumed;              /* the last welcome resumed the previous session */
    int recovery_failed;      /* ... but missed frames could not be replayed: resync */
    size_t queued;            /* frames waiting to be written (offline queue included) */
    uint64_t dropped;         /* frames dropped from the full offline queue, in all */
    uint64_t missed;          /* frames from the server lost in gaps of seq, in all: the
                                 server dropped them (its queue for this client was full,
                                 VERANI_SLOW_DROP); each gap is told to on_error */
    size_t pending_requests;  /* requests, joins and leaves awaiting an answer */
} verani_client_info;

/* Fill `info`. Any thread. */
VERANI_API int verani_client_get_info(verani_client *client, verani_client_info *info);

/* Copy the client's last error text ("" when none) into `buf`. Any thread. */
VERANI_API int verani_client_last_error(verani_client *client, char *buf, size_t len);

/*
 * Inside an event callback: the channel the event was sent to and its
 * sequence number (NULL / 0 outside one). Loop thread.
 */
VERANI_API const char *verani_client_event_channel(verani_client *client);
VERANI_API uint64_t verani_client_event_seq(verani_client *client);

/* Whether the session is in `channel`, per the welcome and the joins and
 * leaves answered since. Any thread. */
VERANI_API int verani_client_in_channel(verani_client *client, const char *channel);

/* --- lifecycle callbacks -------------------------------------------------- */

typedef void (*verani_client_open_fn)(verani_client *client, void *user);
/* `code` is the WebSocket close code (1006 when the connection just dropped
 * or the pong timed out, 1000 after verani_client_disconnect). Called only
 * for connections whose upgrade succeeded. */
typedef void (*verani_client_close_fn)(verani_client *client, int code, const char *reason,
                                       void *user);
/* `err` is a verani_err: VERANI_EIO (connection failed), VERANI_ETIMEDOUT
 * (connect or pong timeout), VERANI_EDENIED (the upgrade refused, or the
 * connection closed by the server with 1008: the client stops in ERROR),
 * VERANI_ETOOBIG (a message over max_rx_frame), VERANI_EFULL (a gap in the
 * seqs of a connection: the server dropped frames for this client, whose
 * queue there was full; resync, as after on_recovery_failed), or the mapping of a
 * server ERROR frame that answers no request (VERANI_EINVAL for
 * invalid_payload, VERANI_EFULL for rate_limited, VERANI_ENOTFOUND for
 * unknown_event, VERANI_EHANDLER, VERANI_EPROTO for the rest). The two
 * VERANI_EFULLs differ: a gap raises verani_client_info.missed by the frames
 * it lost (resync), a rate limit does not (send more slowly). */
typedef void (*verani_client_error_fn)(verani_client *client, int err, const char *what,
                                       void *user);
typedef void (*verani_client_state_fn)(verani_client *client, verani_client_state old_state,
                                       verani_client_state new_state, void *user);
/*
 * After a reconnect, right after on_open, when frames sent while the client was away are
 * lost and the application should resync its state: `resumed` nonzero when the session
 * resumed (same client id and channels) but the server no longer had every missed frame
 * (what it still had is delivered after this call, in order, with a gap in the seqs);
 * zero when the server started a fresh session instead (the grace period had passed, the
 * server restarted, or verani_client_reconnect/disconnect ended the old session).
 */
typedef void (*verani_client_recovery_fn)(verani_client *client, int resumed, void *user);

/*
 * Register a lifecycle callback; any number of each, at any time. Returns a
 * registration id (> 0) for verani_client_remove_callback, or a negative
 * verani_err. Any thread.
 */
VERANI_API int verani_client_on_open(verani_client *client, verani_client_open_fn fn, void *user);
VERANI_API int verani_client_on_close(verani_client *client, verani_client_close_fn fn,
                                      void *user);
VERANI_API int verani_client_on_error(verani_client *client, verani_client_error_fn fn,
                                      void *user);
VERANI_API int verani_client_on_state_change(verani_client *client, verani_client_state_fn fn,
                                             void *user);
VERANI_API int verani_client_on_recovery_failed(verani_client *client,
                                                verani_client_recovery_fn fn, void *user);
/* Remove a lifecycle registration by id; VERANI_ENOTFOUND when unknown. Any thread. */
VERANI_API int verani_client_remove_callback(verani_client *client, int id);

/* --- waiting for the connection ------------------------------------------ */

/*
 * `result` is 0 when connected, VERANI_ETIMEDOUT when `timeout_ms` passed,
 * VERANI_ECLOSED when the client reached ERROR or DISCONNECTED or was
 * destroyed first. Waits go on through RECONNECTING.
 */
typedef void (*verani_client_wait_fn)(verani_client *client, int result, void *user);

/*
 * Callback form: `fn` runs once with the outcome (at once, before this call
 * returns, when already connected). `timeout_ms` 0: 2 x connect timeout, as
 * Verani. Any thread.
 */
VERANI_API int verani_client_wait_connected(verani_client *client, uint32_t timeout_ms,
                                            verani_client_wait_fn fn, void *user);

/*
 * Blocking form: returns the same results. With the loop on its own thread,
 * any other thread may call it; without, it services the loop itself until
 * done (so it must not be called from a callback: VERANI_ESTATE).
 */
VERANI_API int verani_client_wait_for_connection(verani_client *client, uint32_t timeout_ms);

/* --- channels ------------------------------------------------------------- */

/* The answer to a join or leave: VERANI_REPLY_OK, _ERROR (with the server's
 * text), _TIMEOUT, _DISCONNECTED or _CANCELLED; exactly once. */
typedef void (*verani_client_channel_fn)(verani_client *client, const char *channel,
                                         verani_reply_status status, const char *error,
                                         void *user);

/* Ask to join / leave `channel`; `fn` may be NULL. Queued while offline like
 * any frame. Returns 0 or a negative verani_err. Any thread. */
VERANI_API int verani_client_join(verani_client *client, const char *channel,
                                  verani_client_channel_fn fn, void *user);
VERANI_API int verani_client_leave(verani_client *client, const char *channel,
                                   verani_client_channel_fn fn, void *user);

/*
 * The gen.h calls, for reference: verani_client_emit, verani_client_request,
 * verani_client_on and verani_client_off are "any thread". Requests (joins
 * and leaves alike): one written on a connection that drops before its
 * reply stays pending while the client reconnects, and the next welcome
 * decides: when the session resumes, the server replays the REPLY it sent
 * meanwhile and the request completes normally (an ERROR answer is not
 * replayed, nor a request the server never read: those end TIMEOUT); when
 * it resumes with recovery_failed, a request whose REPLY is not among the
 * replayed frames ends DISCONNECTED once the replay is over; on a fresh
 * session (the resume was refused or came too late, the server restarted
 * without its store) it ends DISCONNECTED right after the welcome, after
 * on_open and on_recovery_failed. A request still in the offline queue
 * waits for the next connection and is sent after the welcome. Its own
 * timeout runs all the while. Any pending request ends DISCONNECTED if the
 * full offline queue drops it, when the client stops reconnecting
 * (DISCONNECTED or ERROR), and on verani_client_reconnect (which ends the
 * session with 1000).
 * Received events are unpacked and checked with the event's validator
 * (validate_in of the emit table entry); a frame that fails is dropped and
 * reported to on_error, never passed to callbacks.
 */

#ifdef __cplusplus
}
#endif

#endif /* VERANI_CLIENT_H */
