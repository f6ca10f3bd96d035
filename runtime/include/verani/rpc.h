/* SPDX-License-Identifier: MIT */
/*
 * rpc.h: outside calls into a running server, from any thread: emit a typed
 * event to a room instance's channel, user or client id, broadcast with
 * filters, count sessions, list connected users and a user's sessions, kick
 * a session, end stale sessions. The same calls are served over HTTP on the
 * server's own port (README.md, "HTTP API"), switched on with
 * verani_server_set_api. Metrics (GET /metrics, Prometheus text) likewise.
 *
 * Every call takes a `done` argument that says how the result comes back:
 *  - done.cb set: the call is queued and returns 0; cb runs later on the
 *    server's loop thread with the result (freed when cb returns), or on the
 *    thread that destroys the server, with VERANI_ECLOSED, if the loop never
 *    ran it.
 *  - done.cb NULL: the call blocks up to done.timeout_ms (0: 5000) and fills
 *    *done.out (free it with verani_rpc_result_free). It returns the result's
 *    status, VERANI_ETIMEDOUT (the call may still run later), or
 *    VERANI_ESTATE when called from the loop thread itself (it would
 *    deadlock; use the callback form or the verani_ctx_* / verani_server_*
 *    queries there).
 * verani_server_emit_async (server.h) is verani_rpc_emit without a result,
 * on the same queue. It does not: reach other nodes (that is a broker's
 * job), or retry.
 */
#ifndef VERANI_RPC_H
#define VERANI_RPC_H

#include <stddef.h>

#include <verani/common.h>
#include <verani/gen.h>
#include <verani/server.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One session as an outside call sees it; every string owned by the result. */
typedef struct verani_rpc_session {
    char *room;           /* room type name, "Chat" */
    char *instance;       /* instance name, "lobby" ("" for a room without {room}) */
    char *client_id;
    char *user_id;
    char **channels;
    size_t n_channels;
} verani_rpc_session;

/* One room instance in memory, as verani_rpc_instances lists it; strings owned by the result. */
typedef struct verani_rpc_instance {
    char *room;           /* room type name, "Chat" */
    char *name;           /* instance name, "lobby" ("" for a room without {room}) */
    size_t sessions;      /* sessions that completed hello, detached ones included */
    size_t pending;       /* connections upgraded that have not sent HELLO yet */
} verani_rpc_instance;

typedef struct verani_rpc_result {
    int status;                     /* 0 or a negative verani_err */
    size_t count;                   /* sessions reached, counted, kicked or ended */
    char **user_ids;                /* verani_rpc_user_ids: unique, owned */
    size_t n_user_ids;
    verani_rpc_session *sessions;   /* verani_rpc_user_sessions: owned */
    size_t n_sessions;
    verani_rpc_instance *instances; /* verani_rpc_instances: owned, by room then name */
    size_t n_instances;
    char error[192];                /* why status < 0, for a person ("" when 0) */
} verani_rpc_result;

/* Free what a result owns (not the struct itself) and zero it. NULL is a no-op. */
VERANI_API void verani_rpc_result_free(verani_rpc_result *res);

/* Runs on the loop thread; `res` and what it owns are freed when it returns. */
typedef void (*verani_rpc_cb)(verani_server *srv, const verani_rpc_result *res, void *arg);

/* How a call's result comes back (see the top of this file). */
typedef struct verani_rpc_done {
    verani_rpc_cb cb;          /* set: asynchronous */
    void *arg;                 /* given to cb */
    int timeout_ms;            /* blocking form: 0 means 5000 */
    verani_rpc_result *out;    /* blocking form: filled (required) */
} verani_rpc_done;

/*
 * Emit event `ev` of the mounted room named `room` ("Chat") with payload
 * `msg` (NULL for `()`) to `to` in `instance` (NULL: every instance). `to`
 * may be a channel, a user, a client id or all, with the user_ids /
 * client_ids filters; not VERANI_TO_SELF, no `except`. The payload is
 * validated and encoded on the calling thread. count = sessions reached.
 * An unknown room or instance gives VERANI_ENOTFOUND (the HTTP API answers 404).
 * On a node of a cluster, a call about one instance another node owns (this one and every
 * call below that names an instance) is sent to that node (an emit's payload encoded here,
 * once) and the result is its answer; VERANI_ENOTFOUND when no node serves the instance or
 * its owner is not live, VERANI_ETIMEDOUT when the owner did not answer, VERANI_EINVAL when
 * it runs another schema of the room (README.md, "Cluster"). A call about every instance or
 * room asks every live node and merges their answers; VERANI_ETIMEDOUT, naming the nodes,
 * when one did not answer in time.
 */
VERANI_API int verani_rpc_emit(verani_server *srv, const char *room, const char *instance,
                               const verani_target *to, const verani_event_def *ev,
                               const ProtobufCMessage *msg, verani_rpc_done done);

/* Broadcast to every session of the instance(s), kept to the listed user and client
 * ids when those lists are non-empty (Verani's broadcast filters). */
VERANI_API int verani_rpc_broadcast(verani_server *srv, const char *room, const char *instance,
                                    const verani_event_def *ev, const ProtobufCMessage *msg,
                                    const char *const *user_ids, size_t n_user_ids,
                                    const char *const *client_ids, size_t n_client_ids,
                                    verani_rpc_done done);

/* Sessions that completed hello in `room` (NULL: every room) and `instance`
 * (NULL: every instance). count = the number. */
VERANI_API int verani_rpc_session_count(verani_server *srv, const char *room,
                                        const char *instance, verani_rpc_done done);

/* Unique connected user ids, sorted; scope as verani_rpc_session_count. */
VERANI_API int verani_rpc_user_ids(verani_server *srv, const char *room, const char *instance,
                                   verani_rpc_done done);

/* The instances of `room` (NULL: every room) that are in memory, with their session counts,
 * sorted by room then name. count = n_instances. An instance is in memory from its first
 * connection until instance_idle_ms after its last session left. */
VERANI_API int verani_rpc_instances(verani_server *srv, const char *room, verani_rpc_done done);

/* The sessions of `user_id` (client ids and channels); scope as above. */
VERANI_API int verani_rpc_user_sessions(verani_server *srv, const char *room,
                                        const char *instance, const char *user_id,
                                        verani_rpc_done done);

/* Close the session with `client_id` (scope as above) with WebSocket close `code`
 * (1000, 1001, 1008 or 3000..4999; 0 means 1008, or 1000 for a session on Verani's JSON
 * wire, whose client reconnects after 1008: PROTOCOL.md section 8) and `reason` (at most
 * VERANI_CLOSE_REASON_MAX bytes of UTF-8; longer or not UTF-8 is VERANI_EINVAL, never cut).
 * count = 1, or VERANI_ENOTFOUND. A client does not reconnect after 1000, 1001 or 1008
 * (PROTOCOL.md section 7). */
VERANI_API int verani_rpc_kick(verani_server *srv, const char *room, const char *instance,
                               const char *client_id, int code, const char *reason,
                               verani_rpc_done done);

/* End stale sessions now: those whose connection is gone and that wait for a resume
 * (they end at once, on_disconnect runs, their resume token no longer works) and those
 * whose close is stuck (their socket is dropped). count = how many. */
VERANI_API int verani_rpc_cleanup(verani_server *srv, verani_rpc_done done);

/* --- the HTTP API and metrics (README.md, "HTTP API") ---------------------- */

typedef struct verani_api_options {
    const char *prefix;          /* NULL: "/_verani/"; must start and end with '/' */
    const char *token;           /* bearer token of the API; NULL: $VERANI_API_TOKEN; neither:
                                    the API is off (its paths answer 403, saying so) */
    const char *metrics_token;   /* bearer token of GET /metrics; NULL:
                                    $VERANI_METRICS_TOKEN; neither: /metrics answers 403 */
    size_t max_body;             /* request body limit in bytes; 0: 65536. Past it: 413 */
} verani_api_options;

/* Configure the HTTP API and /metrics (strings copied); a NULL token is taken from
 * VERANI_API_TOKEN or VERANI_METRICS_TOKEN, and no token leaves that part off. Before the
 * server listens; without this call both are off, whatever the environment holds.
 * VERANI_EINVAL for a bad prefix or a token over 504 bytes (no request could carry it),
 * VERANI_ESTATE after listen. */
VERANI_API int verani_server_set_api(verani_server *srv, const verani_api_options *opts);

/* The Prometheus text (format 0.0.4) of the server's metrics into `buf`; returns the
 * length it needed (like snprintf). Event-loop thread. */
VERANI_API size_t verani_server_metrics_text(verani_server *srv, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* VERANI_RPC_H */
