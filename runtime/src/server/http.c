/* SPDX-License-Identifier: MIT */
/*
 * http.c: the server's plain HTTP: the short text answers (404 naming the
 * room paths for an unknown path, 426 for a plain request to a room path, the
 * refusals of an upgrade) and the static-file mount (opts.static_dir at
 * opts.static_path), checked against the room paths; GET /health is
 * cluster_node.c's. The HTTP API and /metrics are api/http_api.c's.
 */
#include <string.h>

#include "api/api-private.h"
#include "core/core-private.h"
#include "server-int.h"

/* --- HTTP answers -------------------------------------------------------- */

/* Write a complete plain-text HTTP response. Returns nonzero when it failed. */
int vr_http_answer_ex(struct lws *wsi, unsigned status, const char *content_type,
                      const char *body, const char *name, const char *value)
{
    uint8_t hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    uint8_t bbuf[LWS_PRE + 1024];
    size_t blen = strlen(body);

    if (blen > sizeof(bbuf) - LWS_PRE)
        blen = sizeof(bbuf) - LWS_PRE;
    if (lws_add_http_common_headers(wsi, status, content_type, blen, &p, end))
        return 1;
    if (name && lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                            (const unsigned char *)value, (int)strlen(value),
                                            &p, end))
        return 1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
    memcpy(bbuf + LWS_PRE, body, blen);
    return lws_write(wsi, bbuf + LWS_PRE, blen, LWS_WRITE_HTTP_FINAL) != (int)blen;
}

int vr_http_answer(struct lws *wsi, unsigned status, const char *body, int upgrade_hdr)
{
    return vr_http_answer_ex(wsi, status, "text/plain; charset=utf-8", body,
                             upgrade_hdr ? "upgrade:" : NULL, "websocket");
}

int vr_http_no_length(struct lws *wsi)
{
    return !lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) &&
           lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0;
}

int vr_http_serve(verani_server *srv, struct lws *wsi, const char *uri)
{
    char inst[256], body[1024], paths[768];
    int r, ends = vr_http_no_length(wsi); /* (before the answer drops the headers) */

    if (!strcmp(uri, "/health"))
        return vr_health_serve(srv, wsi);
    if (vr_route(srv, uri, inst, sizeof(inst), NULL)) {
        snprintf(body, sizeof(body), "%s is a Verani WebSocket room: connect with a WebSocket "
                 "upgrade (Upgrade: websocket), see runtime/PROTOCOL.md\n", uri);
        r = vr_http_answer(wsi, 426, body, 1);
    } else {
        vr_paths_describe(srv, paths, sizeof(paths));
        snprintf(body, sizeof(body), "no room at %.200s; the rooms of this server are at: %.700s\n",
                 uri, paths);
        r = vr_http_answer(wsi, 404, body, 0);
    }
    if (r || lws_http_transaction_completed(wsi) || ends)
        return -1;
    return 0;
}

/* opts.static_dir and opts.static_path, copied; the path checked and without its trailing
 * '/'. 0, or -1 with the reason in errbuf. */
int vr_static_init(verani_server *srv, char *errbuf, size_t errlen)
{
    const char *dir = srv->opts.static_dir, *path = srv->opts.static_path;
    size_t n;

    srv->opts.static_dir = NULL;
    srv->opts.static_path = NULL;
    if (!dir)
        return 0;
    path = path && *path ? path : "/app";
    n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    if (path[0] != '/' || n < 2 || strcspn(path, "{}?#% ") < n || strstr(path, "/.")) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "static_path \"%s\": one or more path segments, like "
                     "\"/app\", not \"/\"", path);
        return -1;
    }
    srv->opts.static_dir = vr_strdup(dir);
    srv->opts.static_path = vr_strndup(path, n);
    if (!srv->opts.static_dir || !srv->opts.static_path) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Whether the static files' path and room path `room` (with its {room}, if any) could
 * name the same request path. */
int vr_static_clashes(const verani_server *srv, const char *room)
{
    const char *st = srv->opts.static_path;
    size_t ns = st ? strlen(st) : 0, lit = strcspn(room, "{");

    if (!st)
        return 0;
    if (!strncmp(room, st, ns) && (room[ns] == '\0' || room[ns] == '/'))
        return 1; /* the room is at or below the static path */
    return room[lit] == '{' && !strncmp(st, room, lit); /* an instance name could be it */
}

int vr_static_mount(verani_server *srv, struct lws_context_creation_info *info)
{
    const char *st = srv->opts.static_path, *api = vr_http_api_prefix(srv);
    size_t n;

    if (!srv->opts.static_dir)
        return 0;
    n = strlen(st);
    /* the static path inside the API's (or /metrics), or the API's below it */
    if (vr_http_api_match(srv, st) ||
        (!strncmp(api, st, n) && (api[n] == '/' || api[n] == '\0')))
        return VERANI_EINVAL;
    memset(&srv->static_mount, 0, sizeof(srv->static_mount));
    srv->static_mount.mountpoint = srv->opts.static_path;
    srv->static_mount.mountpoint_len = (unsigned char)strlen(srv->opts.static_path);
    srv->static_mount.origin = srv->opts.static_dir;
    srv->static_mount.origin_protocol = LWSMPRO_FILE;
    srv->static_mount.def = "index.html";
    info->mounts = &srv->static_mount;
    return 0;
}
