/* SPDX-License-Identifier: MIT */
/*
 * api-int.h: what the HTTP API's files share (runtime/src/api/): the API's
 * configuration, a request waiting for its body, and the answers both write.
 * http_api.c has the options, the tokens and the request plumbing the server
 * calls (api-private.h); routes.c the routes and /metrics.
 */
#ifndef VERANI_API_INT_H
#define VERANI_API_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include <verani/rpc.h>
#include <verani/server.h>

#include "core/core-private.h"

#define VR_API_DEFAULT_PREFIX "/_verani/"
#define VR_API_DEFAULT_MAX_BODY 65536
#define VR_API_MAX_IDS 1024 /* ids in one broadcast filter (README.md, "HTTP API"):
                             the most user_ids or client_ids may hold */

struct vr_api {
    char *prefix;                 /* owned */
    size_t prefix_len;
    char *token;                  /* owned; NULL: the API is off */
    char *metrics_token;          /* owned; NULL: /metrics is off */
    size_t max_body;
};

/* A POST waiting for its body. */
/* A request whose answer comes from other nodes of a cluster (routes.c): the connection
 * (NULL once it closed first: the wait is then freed when the answer comes), what to answer
 * with, and the answer once `ready`. */
typedef struct vr_api_wait {
    struct lws *wsi;
    char key[16];                 /* result_answer's: "count", "users", ... */
    int ready;
    verani_rpc_result res;        /* owned once ready */
} vr_api_wait;

struct vr_http_req {
    char *route;                  /* owned: the path after the prefix */
    vr_sb body;                   /* owned: the bytes so far */
    int too_big;
    vr_api_wait *wait;            /* owned, unless orphaned at the connection's close */
    int close_after;              /* the connection ends after the answer (a POST with no
                                     Content-Length: vr_http_api_request) */
};

/* The longest token: what an Authorization header of 512 bytes ("Bearer " and the token)
 * carries (vr_api_check_token reads no more). */
#define VR_API_TOKEN_MAX 504

typedef enum { M_GET, M_POST, M_OTHER } vr_method;

/* Without verani_server_set_api: the defaults, tokens from the environment. NULL when out
 * of memory. */
struct vr_api *vr_api_of(verani_server *srv);

/* Answer `status` with `body` (`blen` bytes) of type `ctype`, and one extra header when
 * `extra_name` is set; the lws callback's return value. */
int vr_api_answer(verani_server *srv, struct lws *wsi, unsigned status, const char *ctype,
                  const char *body, size_t blen, const char *extra_name, const char *extra);
/* {"error": reason} with `status`. */
int vr_api_error(verani_server *srv, struct lws *wsi, unsigned status, const char *reason,
                 const char *extra_name, const char *extra);
/* Answer 200 with what `sb` holds (500 when it failed to grow), and free it. */
int vr_api_answer_sb(verani_server *srv, struct lws *wsi, const char *ctype, vr_sb *sb);
/* 0 when the request carries `token`; else answers 401 and returns 1 (or -1). */
int vr_api_check_token(verani_server *srv, struct lws *wsi, const char *token, int *r);

/* routes.c */
vr_method vr_api_method(struct lws *wsi);
/* Answer a request whose body (if any) is complete; an answer that other nodes give is
 * written later (`slot` then holds the wait: vr_http_api_writable). */
int vr_api_dispatch(verani_server *srv, struct lws *wsi, struct vr_http_req **slot,
                    const char *route, vr_method meth, const uint8_t *body, size_t len);
/* GET /metrics, with its own token. */
int vr_api_serve_metrics(verani_server *srv, struct lws *wsi);

#endif /* VERANI_API_INT_H */
