/* SPDX-License-Identifier: MIT */
/*
 * server-private.h: what the server (runtime/src/server/) offers the other
 * folders of libverani, today the HTTP API (api/): the outside calls as the
 * loop thread runs them (rpc.c), the encoded event frame, the mounted rooms
 * and their instances by name, the server's error text, its slot for the
 * API's configuration and the metrics exposition. Mounts and frames are
 * opaque here; their insides are server-int.h's, for server/ alone.
 * Everything here is for the event-loop thread.
 */
#ifndef VERANI_SERVER_PRIVATE_H
#define VERANI_SERVER_PRIVATE_H

#include <stddef.h>

#include <verani/gen.h>
#include <verani/rpc.h>
#include <verani/server.h>

#include "core/core-private.h"

struct lws;
struct vr_api;
typedef struct vr_mount vr_mount;
typedef struct vr_frame vr_frame;

/* --- frames (broker.c, emit.c) --- */
/* Drop one reference; the last one frees the frame. NULL is a no-op. */
void vr_frame_unref(vr_frame *f);
/* Build the frame of an `emit` event (the payload checked against the event's type and
 * validated); NULL with *err set on failure. */
vr_frame *vr_event_frame(const verani_event_def *ev, const ProtobufCMessage *msg,
                         const char *channel, int *err);

/* --- outside calls (rpc.c) --- */
typedef enum vr_rpc_op {
    VR_RPC_EMIT,
    VR_RPC_COUNT,
    VR_RPC_USERS,
    VR_RPC_USER_SESSIONS,
    VR_RPC_KICK,
    VR_RPC_CLEANUP,
    VR_RPC_INSTANCES,
    VR_RPC_REPLY                 /* a deferred reply's answer (defer.c) */
} vr_rpc_op;

/* One call as the loop thread runs it; every pointer borrowed for the call. */
typedef struct vr_rpc_req {
    vr_rpc_op op;
    const char *room;            /* NULL: every room */
    const verani_room_def *room_def; /* set: only this mounted definition (emit_async) */
    const char *instance;        /* NULL: every instance */
    const char *name;            /* user id (USER_SESSIONS) or client id (KICK) */
    const char *reason;          /* KICK */
    int code;                    /* KICK */
    const verani_target *to;     /* EMIT */
    vr_frame *frame;             /* EMIT: the encoded event (the call keeps its reference);
                                    REPLY: the answer */
    uint32_t slot, gen;          /* REPLY: the request's session reference */
    int reply;                   /* REPLY: a REPLY (else an ERROR) */
} vr_rpc_req;

/* Is `code` one a kick may close with (1000, 1001, 1008 or 3000..4999)? */
int vr_rpc_kick_code_ok(int code);
/* May `reason` go in a close frame: at most VERANI_CLOSE_REASON_MAX bytes of UTF-8? NULL
 * (none) may. */
int vr_close_reason_ok(const char *reason);

/* Run `rq` now (loop thread) and fill `res` (zeroed first). */
void vr_rpc_exec(verani_server *srv, const vr_rpc_req *rq, verani_rpc_result *res);
/* Run `rq` as an outside call (loop thread): 0 when it ran here (`res` filled), 1 when its
 * answer comes from other nodes of the cluster: `done` gets it later (or at once when it
 * cannot be asked), with `res`'s arrays then the callee's. Nothing of `rq` is kept. */
int vr_rpc_start(verani_server *srv, const vr_rpc_req *rq, verani_rpc_result *res,
                 void (*done)(verani_server *srv, verani_rpc_result *res, void *arg),
                 void *arg);
/* Is the server a node of a cluster (an instance unknown here may be another node's)? */
int vr_server_clustered(const verani_server *srv);

/* --- the mounted rooms (room.c) --- */
size_t vr_mount_count(const verani_server *srv);
/* The `i`th mounted room (i < vr_mount_count), in mount order. */
vr_mount *vr_mount_at(const verani_server *srv, size_t i);
/* The mounted room whose schema name is `room` ("Chat"); NULL when none. */
vr_mount *vr_mount_find(const verani_server *srv, const char *room);
const verani_room_def *vr_mount_def(const vr_mount *m);
/* Does `m`'s path name its instances ({room})? A room without has one instance, "". */
int vr_mount_has_placeholder(const vr_mount *m);
/* Does `m` have an instance `name` in memory now (sessions, or idle until evicted)? */
int vr_instance_exists(vr_mount *m, const char *name);

/* --- the server object (server.c, metrics.c) --- */
/* Has listen created the lws context (no more configuration then)? */
int vr_server_listening(const verani_server *srv);
/* Set verani_server_last_error's text (not logged). */
void vr_server_error(verani_server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The server's slot for the HTTP API's configuration (api/ owns what it points at). */
struct vr_api **vr_server_api(verani_server *srv);
/* Count one answered HTTP API or /metrics request. */
void vr_server_api_counted(verani_server *srv);
/* The whole metrics exposition into `sb`. */
void vr_metrics_render(verani_server *srv, vr_sb *sb);

/* Read query argument `name` of the HTTP request on `wsi` (lws has decoded %xx) into `buf`
 * (`len` bytes): its length; -1 when absent; VERANI_ETOOBIG when it does not fit in `len`
 * (`buf` is "" then); VERANI_EPROTO when it is given more than once; VERANI_ENOMEM. An
 * argument "name" without '=' has the empty value. Nothing is ever cut to fit. */
int vr_urlarg(struct lws *wsi, const char *name, char *buf, size_t len);

/* Is the HTTP request on `wsi` one that libwebsockets 4.1 reads a body after although it has
 * no Content-Length (any but a GET: it expects up to 100 MiB)? Its connection must end after
 * the answer, or the next request on it is read as that body (http.c). Read it before
 * answering: completing the transaction may drop the headers. */
int vr_http_no_length(struct lws *wsi);

#endif /* VERANI_SERVER_PRIVATE_H */
