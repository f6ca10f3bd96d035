/* SPDX-License-Identifier: MIT */
/*
 * rpc-private.h: the outside calls of rpc.h as the loop thread runs them
 * (rpc.c), the cross-thread queue that carries them there, and the HTTP API
 * (http_api.c) that runs them directly on the loop thread. server.c calls the
 * hooks below from its protocol callback and lifecycle.
 */
#ifndef VERANI_RPC_PRIVATE_H
#define VERANI_RPC_PRIVATE_H

#include <verani/rpc.h>

#include "broker-private.h"

struct lws;
struct vr_pss;

typedef enum vr_rpc_op {
    VR_RPC_EMIT,
    VR_RPC_COUNT,
    VR_RPC_USERS,
    VR_RPC_USER_SESSIONS,
    VR_RPC_KICK,
    VR_RPC_CLEANUP
} vr_rpc_op;

/* One call as the loop thread runs it; every pointer borrowed for the call. */
typedef struct vr_rpc_req {
    vr_rpc_op op;
    const char *room;            /* NULL: every room */
    const char *instance;        /* NULL: every instance */
    const char *name;            /* user id (USER_SESSIONS) or client id (KICK) */
    const char *reason;          /* KICK */
    int code;                    /* KICK */
    const verani_target *to;     /* EMIT */
    vr_frame *frame;             /* EMIT: the encoded event (the call keeps its reference) */
} vr_rpc_req;

/* Is `code` one a kick may close with (1000, 1001, 1008 or 3000..4999)? */
int vr_rpc_kick_code_ok(int code);

/* Run `rq` now (loop thread) and fill `res` (zeroed first). */
void vr_rpc_exec(verani_server *srv, const vr_rpc_req *rq, verani_rpc_result *res);

/* server.c's hooks. */
void vr_rpc_loop_enter(verani_server *srv);   /* run/service: this thread is the loop */
void vr_rpc_drain(verani_server *srv);        /* EVENT_WAIT_CANCELLED: run queued calls */
void vr_rpc_fini(verani_server *srv);         /* destroy: fail what is left with ECLOSED */

/* Is `uri` the HTTP API's or /metrics? */
int vr_http_api_match(verani_server *srv, const char *uri);
/* The API's prefix ("/_verani/" unless set). */
const char *vr_http_api_prefix(verani_server *srv);
/* Would requests for the room path `path` ("/chat/{room}") reach the API or /metrics? */
int vr_mount_path_is_api(verani_server *srv, const char *path);
/* LWS_CALLBACK_HTTP for a matching uri; the lws callback's return value. */
int vr_http_api_request(verani_server *srv, struct lws *wsi, struct vr_pss *pss,
                        const char *uri);
/* LWS_CALLBACK_HTTP_BODY / _COMPLETION. */
int vr_http_api_body(verani_server *srv, struct lws *wsi, struct vr_pss *pss, const void *in,
                     size_t len);
int vr_http_api_body_done(verani_server *srv, struct lws *wsi, struct vr_pss *pss);
/* The HTTP connection is going: free its request state. */
void vr_http_api_drop(struct vr_pss *pss);
void vr_http_api_free(verani_server *srv);

#endif /* VERANI_RPC_PRIVATE_H */
