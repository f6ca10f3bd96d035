/* SPDX-License-Identifier: MIT */
/*
 * gen.h: the seam between the code veranic generates and libverani.
 *
 * Generated files include public headers only, never the runtime's private
 * ones: <pkg>_schema.h this one, <pkg>_server.h also server.h, storage.h and
 * rpc.h, <pkg>_client.h also client.h. Everything here is either plain data
 * that veranic emits as `static const` tables (event definitions, room
 * schemas, room definitions) or a small function the generated code calls
 * (emit, client emit/on/request, validation helpers). The layout is versioned
 * by VERANI_GEN_ABI: generated headers check it at compile time, so a runtime
 * and generated code that do not match fail to build with a sentence saying
 * what to do.
 *
 * Application code normally uses the generated typed wrappers, not these
 * calls directly.
 */
#ifndef VERANI_GEN_H
#define VERANI_GEN_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <verani/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a struct below changes shape or meaning. */
#define VERANI_GEN_ABI 5

/* --- opaque runtime objects ---------------------------------------------- */

/*
 * A handler's view of where it runs: the room instance and, inside a
 * connection's handlers, the session. Borrowed: valid only until the handler
 * returns. See server.h for its accessors.
 */
typedef struct verani_ctx verani_ctx;
/* One connection's session on the server. See server.h. */
typedef struct verani_session verani_session;
/* A WebSocket upgrade request, as seen by extract_meta. See server.h. */
typedef struct verani_upgrade verani_upgrade;
/* A client connection. See client.h. */
typedef struct verani_client verani_client;

/* A generic function pointer, cast back to its real type before a call. */
typedef void (*verani_fn)(void);

/* --- validation ---------------------------------------------------------- */

/*
 * Where and why a payload failed validation. `path` is the field path in the
 * message ("players[3].name"), `reason` the failed rule ("longer than 32").
 * Filled by the generated validators through the helpers below.
 */
#define VERANI_VERR_PATH_MAX 256
#define VERANI_VERR_REASON_MAX 128
typedef struct verani_verr {
    char path[VERANI_VERR_PATH_MAX];
    char reason[VERANI_VERR_REASON_MAX];
} verani_verr;

/*
 * A generated validator: returns 0 when `msg` satisfies every rule of the
 * schema, VERANI_EINVAL after filling `err` otherwise. `msg` is the message
 * type the validator was generated for. Validators never allocate.
 */
typedef int (*verani_validate_fn)(const ProtobufCMessage *msg, verani_verr *err);

/*
 * Record a failure of `field` with a printf-style reason; returns
 * VERANI_EINVAL so a validator can `return verani_verr_fail(...)`.
 */
VERANI_API int verani_verr_fail(verani_verr *err, const char *field, const char *fmt, ...)
    VERANI_PRINTF(3, 4);

/*
 * Prefix the path in `err` with `field` (and `[index]` when index >= 0), as a
 * nested validator's failure travels up: "name" becomes "players[3].name".
 * Returns VERANI_EINVAL. The path is cut, never overrun, when it gets long.
 */
VERANI_API int verani_verr_nest(verani_verr *err, const char *field, long index);

/*
 * Check a string field: `s` must be valid UTF-8 (RFC 3629: no stray
 * continuation byte, no overlong form, no UTF-16 surrogate, nothing past
 * U+10FFFF) and hold from `min_len` to `max_len` code points (VERANI_LEN_NONE:
 * no upper bound). Since a code point takes 1 to 4 bytes, a string that
 * passes holds at most 4 * max_len bytes. NULL counts as "" (generated code
 * skips an absent optional string; `required` is checked apart). Returns 0,
 * or VERANI_EINVAL after recording the failure of `field` (NULL for a
 * repeated element: the caller nests the path) in `err`: "is not valid UTF-8
 * (at byte N)", "shorter than N" or "longer than N". Reads at most
 * max_len + 1 code points of `s`. Generated validators call it for every
 * string field, element, map key and map value.
 */
#define VERANI_LEN_NONE UINT64_MAX
VERANI_API int verani_check_string(verani_verr *err, const char *field, const char *s,
                                   uint64_t min_len, uint64_t max_len);

/* Length of a NUL-terminated UTF-8 string in code points; NULL counts as 0, and a
 * string that is not valid UTF-8 (see verani_check_string) as SIZE_MAX, so an
 * old validator's max_len check still refuses it. */
VERANI_API size_t verani_utf8_len(const char *s);

/* --- events and rooms: the tables veranic emits -------------------------- */

/*
 * One event of a room in one direction. `in` is the payload type (NULL for an
 * event declared with `()`); `out` is the reply type of an `on` event with
 * `returns` (NULL otherwise); `validate_in`/`validate_out` check them (NULL
 * when the type has no rules). Tables of these are sorted by id.
 */
typedef struct verani_event_def {
    uint32_t id;
    const char *name;                        /* the dotted schema name, "chat.message" */
    const ProtobufCMessageDescriptor *in;
    const ProtobufCMessageDescriptor *out;
    verani_validate_fn validate_in;
    verani_validate_fn validate_out;
    const char *json_name;                   /* the name on the JSON wire: the schema's
                                                `json "..."` alias ("chat:message"), NULL
                                                when it has none (then `name` is used) */
} verani_event_def;

/* A schema's `timer <name> every <ms>;`: it runs the handler table's timer_<name> every `ms`
 * in every instance of the room, from its creation until it is freed. */
typedef struct verani_timer_def {
    const char *name;                        /* "tick" */
    uint32_t every_ms;
} verani_timer_def;

/* Which wire a room speaks (the schema's `wire` item). */
typedef enum verani_wire {
    VERANI_WIRE_BINARY = 0,  /* the protobuf Envelope of PROTOCOL.md on `path` (the default) */
    VERANI_WIRE_JSON,        /* Verani's JSON text frames on `path` (PROTOCOL.md, "The JSON wire") */
    VERANI_WIRE_BOTH         /* the Envelope on `path`, Verani's JSON on `json_path` */
} verani_wire;

/*
 * Everything both ends know about a room: its path, channels, limits, meta
 * type and events. Emitted once per room in <package>_schema.c; used by the
 * server's room definition and by clients.
 */
typedef struct verani_room_schema {
    const char *name;                        /* the schema's room name, "Chat" */
    const char *path;                        /* "/chat/{room}"; "/ws" when not given */
    const char *const *channels;             /* joined on connect; {"default"} when not given */
    size_t n_channels;
    uint32_t max_frame;                      /* bytes; 65536 when not given */
    uint32_t rate;                           /* frames per second; 0 means unlimited */
    uint32_t burst;                          /* bucket size; 0 means `rate` */
    const ProtobufCMessageDescriptor *meta;  /* the room's <Room>Meta message (may have no fields) */
    verani_validate_fn validate_meta;        /* NULL when the meta has no rules */
    const verani_event_def *on;              /* client -> server, sorted by id */
    size_t n_on;
    const verani_event_def *emit;            /* server -> client, sorted by id */
    size_t n_emit;
    const char *fingerprint;                 /* the schema's fingerprint, sent in welcome */
    int open_events;                         /* `open_events;`: a client EVENT with an id no
                                                `on` event has goes to hooks.on_message */
    const verani_timer_def *timers;          /* the room's timers, in schema order */
    size_t n_timers;
    verani_wire wire;                        /* `wire ...;`: VERANI_WIRE_BINARY when not given */
    const char *json_path;                   /* `wire both "<path>";`: where the room speaks
                                                Verani's JSON (same placeholder rules as
                                                `path`); NULL otherwise */
} verani_room_schema;

/* Find an event by id in a sorted table; NULL when there is none. */
VERANI_API const verani_event_def *verani_event_find(const verani_event_def *table, size_t n,
                                                     uint32_t id);

/* --- server side --------------------------------------------------------- */

/*
 * The lifecycle hooks of a room. Every generated handler table starts with
 * one of these as its first member, named `hooks`, so the runtime can reach
 * them without knowing the table's type. Every member may be NULL.
 *
 * Return values: 0 for success; any negative value is a failure that reaches
 * on_error (and, for on_connect, closes the connection with 1011; for
 * on_join, refuses the join).
 */
typedef struct verani_hooks {
    int (*on_connect)(verani_ctx *ctx);
    void (*on_disconnect)(verani_ctx *ctx);
    /* Any handler or hook failure. `err` is a verani_err code, `what` a short text. */
    void (*on_error)(verani_ctx *ctx, int err, const char *what);
    /* Frames for which no typed handler is set, and, in a room with `open_events;`, client
     * EVENTs whose id the schema does not declare: the raw payload bytes (borrowed). */
    int (*on_message)(verani_ctx *ctx, uint32_t event, const uint8_t *payload, size_t len);
    /* Authorise a client's request to join `channel`; NULL allows every join. */
    int (*on_join)(verani_ctx *ctx, const char *channel);
    /* A session left `channel` (by its own request or by server code). */
    void (*on_leave)(verani_ctx *ctx, const char *channel);
    /* An instance came back with restored sessions, before any of their frames run. */
    void (*on_hibernation_restore)(verani_ctx *ctx);
    /* Every dispatched client event (EVENT or REQUEST, declared or open), after its typed
     * handler or on_message ran: `result` is what that returned (0, or a verani_err;
     * VERANI_ENOHANDLER when nobody took it). For logging and metrics (Verani's "*"); it
     * cannot stop the handler, which has run. The payload bytes are borrowed. */
    void (*on_any)(verani_ctx *ctx, uint32_t event, const uint8_t *payload, size_t len,
                   int result);
    /* An instance was created in memory (by its first connection, or by a restart that
     * restores its sessions): before any session of it runs a hook, and with
     * its storage available. The place to set up per-instance state and timers
     * (verani_instance_every). Its context has no session. */
    void (*on_instance_start)(verani_ctx *ctx);
    /* The instance is being freed (instance_idle_ms after its last session left, or the
     * server is destroyed): its timers are cancelled already, its storage is still open.
     * The place to free what on_instance_start made. Its context has no session. */
    void (*on_instance_stop)(verani_ctx *ctx);
    /* The instance's alarm (verani_instance_set_alarm) is due: the instance is created first
     * when it is not in memory (evicted, or the server restarted in between), so
     * on_instance_start has run. The alarm is deleted before the call, so the hook may set
     * the next one. A negative return is reported to on_error and the alarm is tried again
     * 1, 2, 4, 8 and 16 s later: six runs in all. Its context has no session. */
    int (*on_alarm)(verani_ctx *ctx);
} verani_hooks;

/*
 * A generated trampoline: calls the typed handler for one event in the typed
 * handler table `handlers`. `in` is the decoded, validated payload (NULL for a
 * `()` event); `out` the initialised reply for a `returns` event (NULL
 * otherwise). Returns VERANI_ENOHANDLER when the table has no handler for the
 * event, else what the handler returned.
 */
typedef int (*verani_invoke_fn)(verani_ctx *ctx, const void *handlers, const ProtobufCMessage *in,
                                ProtobufCMessage *out);

/* A generated trampoline to the typed extract_meta of a handler table;
 * VERANI_ENOHANDLER when the table has none (the runtime default applies). */
typedef int (*verani_meta_fn)(verani_upgrade *req, const void *handlers, ProtobufCMessage *meta);

/*
 * A room as the server mounts it: its schema plus the typed dispatch. `invoke`
 * is parallel to `schema->on` (same order, same length).
 */
typedef struct verani_room_def {
    unsigned abi;                            /* VERANI_GEN_ABI at generation time */
    const verani_room_schema *schema;
    const verani_invoke_fn *invoke;
    /* offsetof each `on` event's member in the typed handler table, parallel to `invoke`:
     * the runtime reads which are NULL, to name them when the room is mounted */
    const size_t *handler_offsets;
    verani_meta_fn extract_meta;
    size_t handlers_size;                    /* sizeof the typed handler table */
    /* offsetof each timer's member (void (*)(verani_ctx *)) in the typed handler table,
     * parallel to schema->timers: a NULL member is a timer that does not run */
    const size_t *timer_offsets;
} verani_room_def;

/*
 * Where an emit goes. Build one with the verani_to_* helpers below and add
 * filters by setting the fields. Filters apply in this order: kind/name
 * selects the candidates, then `except` removes one session, then
 * `user_ids` and `client_ids` (when non-empty) keep only those listed.
 */
typedef enum verani_target_kind {
    VERANI_TO_SELF = 0,   /* the session of the handler's context */
    VERANI_TO_CHANNEL,    /* every session in channel `name` of the instance */
    VERANI_TO_USER,       /* every session of user `name` in the instance */
    VERANI_TO_CLIENT,     /* the session with client id `name` */
    VERANI_TO_ALL         /* every session of the instance */
} verani_target_kind;

typedef struct verani_target {
    verani_target_kind kind;
    const char *name;
    const verani_session *except;
    const char *const *user_ids;
    size_t n_user_ids;
    const char *const *client_ids;
    size_t n_client_ids;
} verani_target;

static inline verani_target verani_to_self(void)
{
    verani_target t = {VERANI_TO_SELF, NULL, NULL, NULL, 0, NULL, 0};
    return t;
}

static inline verani_target verani_to_channel(const char *channel)
{
    verani_target t = {VERANI_TO_CHANNEL, channel, NULL, NULL, 0, NULL, 0};
    return t;
}

static inline verani_target verani_to_user(const char *user_id)
{
    verani_target t = {VERANI_TO_USER, user_id, NULL, NULL, 0, NULL, 0};
    return t;
}

static inline verani_target verani_to_client(const char *client_id)
{
    verani_target t = {VERANI_TO_CLIENT, client_id, NULL, NULL, 0, NULL, 0};
    return t;
}

static inline verani_target verani_to_all(void)
{
    verani_target t = {VERANI_TO_ALL, NULL, NULL, NULL, 0, NULL, 0};
    return t;
}

/*
 * Emit event `ev` (one of the room's `emit` events) with payload `msg` (NULL
 * for a `()` event) to `to`, from the room instance of `ctx`. The payload is
 * validated, encoded once and queued to every recipient. Returns the number
 * of sessions it was queued to (0 is not an error), or a negative verani_err
 * (VERANI_ETOOBIG: the event is larger than the server's queue_max_bytes, so
 * no session could ever take it; nothing was sent).
 * Event-loop thread only; other threads use the calls in server.h.
 */
VERANI_API int verani_emit(verani_ctx *ctx, const verani_target *to, const verani_event_def *ev,
                           const ProtobufCMessage *msg);

/*
 * The connection's typed meta, unpacked into the handler's scratch memory
 * (valid until the handler returns). NULL outside a session context.
 */
VERANI_API const ProtobufCMessage *verani_ctx_meta(verani_ctx *ctx);

/* --- client side --------------------------------------------------------- */

/* A generated trampoline that calls a typed event callback `fn`. */
typedef void (*verani_client_invoke_fn)(verani_client *client, verani_fn fn,
                                        const ProtobufCMessage *msg, void *user);

/* How a request ended. */
typedef enum verani_reply_status {
    VERANI_REPLY_OK = 0,        /* the reply arrived and passed validation */
    VERANI_REPLY_ERROR,         /* the server answered with an error */
    VERANI_REPLY_TIMEOUT,       /* no reply within the timeout */
    VERANI_REPLY_DISCONNECTED,  /* the connection dropped before the reply */
    VERANI_REPLY_CANCELLED      /* the client was destroyed first */
} verani_reply_status;

/* A generated trampoline that calls a typed reply callback `fn`. `reply` is
 * NULL unless status is VERANI_REPLY_OK; `error` is the server's error text
 * for VERANI_REPLY_ERROR, else NULL. */
typedef void (*verani_reply_invoke_fn)(verani_client *client, verani_fn fn,
                                       verani_reply_status status, const ProtobufCMessage *reply,
                                       const char *error, void *user);

/*
 * Send event `ev` (one of the room's `on` events) with payload `msg` (NULL for
 * `()`). The payload is validated first (VERANI_EINVAL, and the reason in the
 * client's last error, when it fails). While the client is not connected the
 * frame waits in the bounded offline queue; while it is, VERANI_EFULL when
 * max_send_bytes of frames already wait for the socket (nothing is queued).
 * Thread safety: see client.h.
 */
VERANI_API int verani_client_emit(verani_client *client, const verani_event_def *ev,
                                  const ProtobufCMessage *msg);

/*
 * Send a request for a `returns` event and call `fn` through `invoke` exactly
 * once with its outcome. `timeout_ms` 0 means the client's default (10000).
 * Refused as verani_client_emit is (VERANI_EINVAL, VERANI_EFULL): then `fn`
 * is never called.
 */
VERANI_API int verani_client_request(verani_client *client, const verani_event_def *ev,
                                     const ProtobufCMessage *msg, uint32_t timeout_ms,
                                     verani_reply_invoke_fn invoke, verani_fn fn, void *user);

/*
 * Register `fn` for server event `ev`; with `once` it is removed after its
 * first call. The same (fn, user) may be registered more than once.
 */
VERANI_API int verani_client_on(verani_client *client, const verani_event_def *ev,
                                verani_client_invoke_fn invoke, verani_fn fn, void *user, int once);

/* Remove registrations of (fn, user) for `ev`; fn NULL removes all of the
 * event's. Returns how many were removed. */
VERANI_API int verani_client_off(verani_client *client, const verani_event_def *ev, verani_fn fn,
                                 void *user);

#ifdef __cplusplus
}
#endif

#endif /* VERANI_GEN_H */
