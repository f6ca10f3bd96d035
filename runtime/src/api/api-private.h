/* SPDX-License-Identifier: MIT */
/*
 * api-private.h: what the HTTP API (runtime/src/api/http_api.c) offers the
 * server: whether a request is the API's or /metrics, and the hooks the
 * server's protocol callback calls for it. An API request that waits for its
 * body keeps a vr_http_req in a slot of the connection's data, which the
 * server owns and hands over as `req` (NULL when the connection has none).
 * The API reaches the server only through server/server-private.h.
 */
#ifndef VERANI_API_PRIVATE_H
#define VERANI_API_PRIVATE_H

#include <stddef.h>

#include <verani/server.h>

struct lws;
struct vr_http_req;

/* Is `uri` the HTTP API's or /metrics? */
int vr_http_api_match(verani_server *srv, const char *uri);
/* The API's prefix ("/_verani/" unless set). */
const char *vr_http_api_prefix(verani_server *srv);
/* Would requests for the room path `path` ("/chat/{room}") reach the API or /metrics? */
int vr_mount_path_is_api(verani_server *srv, const char *path);
/* LWS_CALLBACK_HTTP for a matching uri; the lws callback's return value. */
int vr_http_api_request(verani_server *srv, struct lws *wsi, struct vr_http_req **req,
                        const char *uri);
/* LWS_CALLBACK_HTTP_BODY / _COMPLETION. */
int vr_http_api_body(verani_server *srv, struct lws *wsi, struct vr_http_req **req,
                     const void *in, size_t len);
int vr_http_api_body_done(verani_server *srv, struct lws *wsi, struct vr_http_req **req);
/* LWS_CALLBACK_HTTP_WRITEABLE: write an answer that came from other nodes, if one waits. */
int vr_http_api_writable(verani_server *srv, struct lws *wsi, struct vr_http_req **req);
/* The HTTP connection is going: free its request state (*req is NULL after). */
void vr_http_api_drop(struct vr_http_req **req);
/* The server is being destroyed: free the API's configuration. */
void vr_http_api_free(verani_server *srv);

#endif /* VERANI_API_PRIVATE_H */
