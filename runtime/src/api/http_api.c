/* SPDX-License-Identifier: MIT */
/*
 * http_api.c: the HTTP API on the server's own port (README.md, "HTTP API")
 * and GET /metrics: its options (verani_server_set_api, the prefix, tokens
 * from the options or the environment), the bearer token checked in constant
 * time, the JSON answers, and the hooks the server's protocol callback calls:
 * a request, a POST body read through LWS_CALLBACK_HTTP_BODY up to the body
 * limit, its completion. The routes themselves are routes.c's. Every refusal
 * names its reason. Nothing here touches a session except through the calls
 * it runs. It does not do TLS (the server's port does), CORS or keep-alive
 * tricks.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api-int.h"
#include "api-private.h"
#include "core/core-private.h"
#include "server/server-private.h"

/* --- options -------------------------------------------------------------- */

static void api_free(struct vr_api *a)
{
    if (!a)
        return;
    vr_free(a->prefix);
    vr_free(a->token);
    vr_free(a->metrics_token);
    vr_free(a);
}

/* The option's token, else (`env` set) the environment's. */
static char *token_of(const char *opt, const char *env)
{
    const char *v = opt ? opt : env ? getenv(env) : NULL;

    return v && *v ? vr_strdup(v) : NULL;
}

static struct vr_api *api_new(const verani_api_options *o)
{
    struct vr_api *a = vr_calloc(1, sizeof(*a));
    const char *prefix = o && o->prefix ? o->prefix : VR_API_DEFAULT_PREFIX;

    if (!a)
        return NULL;
    a->prefix = vr_strdup(prefix);
    a->prefix_len = strlen(prefix);
    /* without verani_server_set_api (o NULL) both stay off, whatever the environment says */
    a->token = token_of(o ? o->token : NULL, o ? "VERANI_API_TOKEN" : NULL);
    a->metrics_token = token_of(o ? o->metrics_token : NULL, o ? "VERANI_METRICS_TOKEN" : NULL);
    a->max_body = o && o->max_body ? o->max_body : VR_API_DEFAULT_MAX_BODY;
    if (!a->prefix) {
        api_free(a);
        return NULL;
    }
    return a;
}

int verani_server_set_api(verani_server *srv, const verani_api_options *opts)
{
    struct vr_api *a;
    size_t i;
    const char *p = opts && opts->prefix ? opts->prefix : VR_API_DEFAULT_PREFIX;

    if (!srv)
        return VERANI_EINVAL;
    if (vr_server_listening(srv))
        return VERANI_ESTATE;
    if (p[0] != '/' || p[strlen(p) - 1] != '/' || strlen(p) < 3 || strlen(p) > 200 ||
        strpbrk(p, "?#{} ")) {
        vr_server_error(srv, "API prefix '%.100s' must start and end with '/', like "
                        "\"/_verani/\"", p);
        return VERANI_EINVAL;
    }
    a = api_new(opts);
    if (!a)
        return VERANI_ENOMEM;
    if ((a->token && strlen(a->token) > VR_API_TOKEN_MAX) ||
        (a->metrics_token && strlen(a->metrics_token) > VR_API_TOKEN_MAX)) {
        vr_server_error(srv, "the %s token is longer than %d bytes, the most an Authorization "
                        "header this server reads can carry: no request could match it",
                        a->token && strlen(a->token) > VR_API_TOKEN_MAX ? "API" : "metrics",
                        VR_API_TOKEN_MAX);
        api_free(a);
        return VERANI_EINVAL;
    }
    api_free(*vr_server_api(srv));
    *vr_server_api(srv) = a;
    for (i = 0; i < vr_mount_count(srv); i++) {
        const verani_room_schema *sc = vr_mount_def(vr_mount_at(srv, i))->schema;
        const char *path = sc->path;

        if (vr_mount_path_is_api(srv, path && *path ? path : "/ws")) {
            vr_server_error(srv, "API prefix '%.60s' covers the path %.60s of room %.50s: pick "
                            "another prefix", p, path, sc->name);
            api_free(*vr_server_api(srv));
            *vr_server_api(srv) = NULL; /* back to the defaults, built again when first needed */
            return VERANI_EINVAL;
        }
    }
    return 0;
}

const char *vr_http_api_prefix(verani_server *srv)
{
    struct vr_api *a = vr_api_of(srv);

    return a ? a->prefix : VR_API_DEFAULT_PREFIX;
}

int vr_mount_path_is_api(verani_server *srv, const char *path)
{
    char lit[256];
    size_t n = strcspn(path, "{");

    /* the literal part before a {room} placeholder is what a request path starts with */
    if (n >= sizeof(lit))
        n = sizeof(lit) - 1;
    memcpy(lit, path, n);
    lit[n] = '\0';
    return vr_http_api_match(srv, lit) ||
           (n < strlen(path) && !strncmp(lit, vr_http_api_prefix(srv), n));
}

void vr_http_api_free(verani_server *srv)
{
    api_free(*vr_server_api(srv));
    *vr_server_api(srv) = NULL;
}

void vr_http_api_drop(struct vr_http_req **req)
{
    if (!req || !*req)
        return;
    if ((*req)->wait) {
        vr_api_wait *w = (*req)->wait;

        if (w->ready) { /* answered, never written */
            verani_rpc_result_free(&w->res);
            vr_free(w);
        } else {
            w->wsi = NULL; /* the answer frees it when it comes */
        }
    }
    vr_sb_free(&(*req)->body);
    vr_free((*req)->route);
    vr_free(*req);
    *req = NULL;
}

struct vr_api *vr_api_of(verani_server *srv)
{
    struct vr_api **a = vr_server_api(srv);

    if (!*a)
        *a = api_new(NULL);
    return *a;
}

int vr_http_api_match(verani_server *srv, const char *uri)
{
    struct vr_api *a;

    if (!strcmp(uri, "/metrics"))
        return 1;
    a = vr_api_of(srv);
    /* the prefix with or without its final '/', then '/' or the end */
    return a && !strncmp(uri, a->prefix, a->prefix_len - 1) &&
           (uri[a->prefix_len - 1] == '/' || uri[a->prefix_len - 1] == '\0');
}

/* --- answers -------------------------------------------------------------- */

int vr_api_answer(verani_server *srv, struct lws *wsi, unsigned status, const char *ctype,
                  const char *body, size_t blen, const char *extra_name, const char *extra)
{
    uint8_t hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    uint8_t *b;
    int r = 1;

    vr_server_api_counted(srv);
    if (lws_add_http_common_headers(wsi, status, ctype, blen, &p, end) ||
        (extra_name && lws_add_http_header_by_name(wsi, (const unsigned char *)extra_name,
                                                   (const unsigned char *)extra,
                                                   (int)strlen(extra), &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    b = vr_malloc(LWS_PRE + blen + 1);
    if (!b)
        return -1;
    memcpy(b + LWS_PRE, body, blen);
    r = lws_write(wsi, b + LWS_PRE, blen, LWS_WRITE_HTTP_FINAL) != (int)blen;
    vr_free(b);
    if (r || lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

/* {"error": reason} with `status`. */
int vr_api_error(verani_server *srv, struct lws *wsi, unsigned status, const char *reason,
                 const char *extra_name, const char *extra)
{
    vr_sb sb;
    int r;

    memset(&sb, 0, sizeof(sb));
    vr_sb_add(&sb, "{\"error\":", 9);
    vr_sb_json_str(&sb, reason);
    vr_sb_add(&sb, "}\n", 2);
    if (sb.failed)
        return -1;
    VR_INFO("HTTP API: %u %s\n", status, reason);
    r = vr_api_answer(srv, wsi, status, "application/json", sb.buf, sb.len, extra_name, extra);
    vr_sb_free(&sb);
    return r;
}

/* 200 with `sb` (freed here) as a `ctype` body, or 500 when building it ran out of memory. */
int vr_api_answer_sb(verani_server *srv, struct lws *wsi, const char *ctype, vr_sb *sb)
{
    int r = sb->failed ? vr_api_error(srv, wsi, 500, "out of memory", NULL, NULL)
                       : vr_api_answer(srv, wsi, 200, ctype, sb->buf, sb->len, NULL, NULL);

    vr_sb_free(sb);
    return r;
}

/* --- authentication -------------------------------------------------------- */

/* Equal in time that depends only on the length of `want`. */
static int token_equal(const char *got, const char *want)
{
    size_t gl = strlen(got), wl = strlen(want), i;
    unsigned diff = gl != wl;

    for (i = 0; i < wl; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < gl ? got[i] : 0);
    return diff == 0;
}

/* 0 when the request carries `token`; else answers 401 and returns 1 (or -1). */
int vr_api_check_token(verani_server *srv, struct lws *wsi, const char *token, int *r)
{
    char auth[sizeof("Bearer ") + VR_API_TOKEN_MAX];
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    int n = total < (int)sizeof(auth) ? lws_hdr_copy(wsi, auth, sizeof(auth),
                                                     WSI_TOKEN_HTTP_AUTHORIZATION) : -1;

    if (n > 7 && !strncasecmp(auth, "Bearer ", 7) && token_equal(auth + 7, token))
        return 0;
    *r = vr_api_error(srv, wsi, 401, n > 0 ? "the bearer token is not valid"
                                 : total > 0 ? "the Authorization header is longer than any "
                                               "token this server has: not valid"
                                             : "no token: send Authorization: Bearer <token>",
                      "www-authenticate:", "Bearer");
    return 1;
}

/* --- the server's hooks ---------------------------------------------------- */

int vr_http_api_request(verani_server *srv, struct lws *wsi, struct vr_http_req **req,
                        const char *uri)
{
    struct vr_api *a = vr_api_of(srv);
    const char *route;
    char clen[32];
    vr_method meth = vr_api_method(wsi);
    int r = 0, ends;

    if (!strcmp(uri, "/metrics"))
        return vr_api_serve_metrics(srv, wsi);
    if (!a)
        return vr_api_error(srv, wsi, 500, "out of memory", NULL, NULL);
    /* 403, not 404: the route exists, and an operator should learn why it refuses. */
    if (!a->token)
        return vr_api_error(srv, wsi, 403, "the HTTP API is off: no token is configured "
                            "(verani_api_options.token or VERANI_API_TOKEN)", NULL, NULL);
    if (vr_api_check_token(srv, wsi, a->token, &r))
        return r;
    route = uri + (strlen(uri) >= a->prefix_len ? a->prefix_len : strlen(uri));
    /* A body without a length (chunked) would be read as empty: refuse it by name. */
    if (meth == M_POST && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 &&
        lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return vr_api_error(srv, wsi, 411, "send the body with a Content-Length (chunked "
                            "transfer encoding is not supported)", NULL, NULL);
    if (meth == M_POST && lws_hdr_copy(wsi, clen, sizeof(clen),
                                       WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 && atoll(clen) > 0) {
        if ((unsigned long long)atoll(clen) > a->max_body) {
            snprintf(clen, sizeof(clen), "%zu", a->max_body);
            return vr_api_error(srv, wsi, 413, "the body is over the API's limit (max_body)",
                                "x-verani-max-body:", clen);
        }
        if (!req)
            return vr_api_error(srv, wsi, 500, "no connection state for the body", NULL, NULL);
        vr_http_api_drop(req);
        *req = vr_calloc(1, sizeof(**req));
        if (!*req)
            return vr_api_error(srv, wsi, 500, "out of memory", NULL, NULL);
        (*req)->route = vr_strdup(route);
        if (!(*req)->route) {
            vr_http_api_drop(req);
            return vr_api_error(srv, wsi, 500, "out of memory", NULL, NULL);
        }
        return 0; /* the body follows */
    }
    /* (read before the answer: completing the transaction may drop the headers) */
    ends = vr_http_no_length(wsi);
    r = vr_api_dispatch(srv, wsi, req, route, meth, NULL, 0);
    if (r || !ends)
        return r;
    if (req && *req && (*req)->wait) {
        (*req)->close_after = 1; /* answered later (vr_http_api_writable) */
        return 0;
    }
    return -1;
}

int vr_http_api_body(verani_server *srv, struct lws *wsi, struct vr_http_req **req,
                     const void *in, size_t len)
{
    struct vr_http_req *h = req ? *req : NULL;
    struct vr_api *a = *vr_server_api(srv);

    (void)wsi;
    if (!h || !h->route || !a) /* (a record with no route keeps only a wait: no body) */
        return 0;
    if (h->too_big || h->body.len + len > a->max_body) {
        h->too_big = 1;
        return 0;
    }
    vr_sb_add(&h->body, in, len);
    return h->body.failed ? -1 : 0;
}

int vr_http_api_body_done(verani_server *srv, struct lws *wsi, struct vr_http_req **req)
{
    struct vr_http_req *h = req ? *req : NULL;
    int r;

    /* No record, or one that only keeps the wait of a request already dispatched (a POST
     * with an explicit Content-Length: 0 is dispatched at once, and libwebsockets still
     * delivers its empty body's completion): nothing to do. */
    if (!h || !h->route)
        return 0;
    /* Answering completes the transaction, and lws may free the connection's data (where
     * `req` points) then: take the request. */
    *req = NULL;
    if (h->too_big)
        r = vr_api_error(srv, wsi, 413, "the body is over the API's limit (max_body)", NULL,
                         NULL);
    else
        r = vr_api_dispatch(srv, wsi, req, h->route, M_POST, (const uint8_t *)h->body.buf,
                            h->body.len);
    vr_sb_free(&h->body);
    vr_free(h->route);
    vr_free(h);
    return r;
}
