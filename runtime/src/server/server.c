/* SPDX-License-Identifier: MIT */
/*
 * server.c: the Verani-C server on libwebsockets. It owns the lws context
 * and vhost, the one protocol callback that serves both HTTP (404 for an
 * unknown path, 426 for a plain request to a room path) and WebSocket, the
 * upgrade decision (routing, connection limits, Origin allow-list,
 * extract_meta with 401/403, 503 when full or stopping), the event loop
 * (run / service / async-signal-safe stop with a graceful 1012 shutdown),
 * and the cross-thread emit queue drained in LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 * Per-message work is session.c's, delivery broker.c's, the HTTP API and
 * /metrics http_api.c's. No TLS policy beyond loading the given certificate
 * and key.
 */
#define _POSIX_C_SOURCE 200809L /* strcasecmp */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include <ev.h>

#include "api/api-private.h"
#include "core/core-private.h"
#include "server-int.h"

/* The per-connection receive buffer (opts.recv_buffer_bytes): the default, and the floor
 * (at 128 a graceful stop lost its close frame under a flood of small messages:
 * client_e2e's test_restart_keeps_order). */
#define VR_RX_BUFFER 512
#define VR_RX_BUFFER_MIN 256

/* While accepting is paused for want of room, the listening socket is tried again this often
 * (one accept at most, closed at once when there is still no room: never a busy loop), and a
 * refusal is logged at most this often. */
#define VR_ACCEPT_RETRY_US (1000 * LWS_US_PER_MS)
#define VR_REFUSED_LOG_US (10000 * LWS_US_PER_MS)


static void set_error(verani_server *srv, const char *fmt, ...) VERANI_PRINTF(2, 3);
static void set_error(verani_server *srv, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(srv->last_error, sizeof(srv->last_error), fmt, ap);
    va_end(ap);
    VR_ERR("%s\n", srv->last_error);
}

void vr_server_error(verani_server *srv, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(srv->last_error, sizeof(srv->last_error), fmt, ap);
    va_end(ap);
}

int vr_server_listening(const verani_server *srv)
{
    return srv->ctx != NULL;
}

struct vr_api **vr_server_api(verani_server *srv)
{
    return &srv->api;
}

void vr_server_api_counted(verani_server *srv)
{
    srv->metrics.api_requests++;
}

void verani_server_options_init(verani_server_options *opts)
{
    memset(opts, 0, sizeof(*opts));
}

const char *verani_server_last_error(const verani_server *srv)
{
    return srv ? srv->last_error : "";
}

/* --- HTTP answers -------------------------------------------------------- */

/* Write a complete plain-text HTTP response. Returns nonzero when it failed. */
static int http_answer(struct lws *wsi, unsigned status, const char *body, int upgrade_hdr)
{
    uint8_t hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    uint8_t bbuf[LWS_PRE + 1024];
    size_t blen = strlen(body);

    if (blen > sizeof(bbuf) - LWS_PRE)
        blen = sizeof(bbuf) - LWS_PRE;
    if (lws_add_http_common_headers(wsi, status, "text/plain; charset=utf-8", blen, &p, end))
        return 1;
    if (upgrade_hdr && lws_add_http_header_by_name(wsi, (const unsigned char *)"upgrade:",
                                                   (const unsigned char *)"websocket", 9, &p,
                                                   end))
        return 1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
    memcpy(bbuf + LWS_PRE, body, blen);
    return lws_write(wsi, bbuf + LWS_PRE, blen, LWS_WRITE_HTTP_FINAL) != (int)blen;
}

static int on_http(verani_server *srv, struct lws *wsi, const char *uri)
{
    char inst[256], body[1024], paths[768];
    int r;

    if (vr_route(srv, uri, inst, sizeof(inst))) {
        snprintf(body, sizeof(body), "%s is a Verani WebSocket room: connect with a WebSocket "
                 "upgrade (Upgrade: websocket), see runtime/PROTOCOL.md\n", uri);
        r = http_answer(wsi, 426, body, 1);
    } else {
        vr_paths_describe(srv, paths, sizeof(paths));
        snprintf(body, sizeof(body), "no room at %.200s; the rooms of this server are at: %.700s\n",
                 uri, paths);
        r = http_answer(wsi, 404, body, 0);
    }
    if (r || lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

/* --- the upgrade request (extract_meta) ----------------------------------- */

int vr_urlarg(struct lws *wsi, const char *name, char *buf, size_t len)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS), i, r = -1;
    size_t nl = strlen(name), vl;
    char *frag;

    if (len)
        buf[0] = '\0';
    if (total <= 0)
        return -1;
    /* every fragment fits in the total, so lws_hdr_copy_fragment fails only past the last
     * (lws_get_urlarg_by_name's fixed buffer stopped at the first long argument) */
    frag = vr_malloc((size_t)total + 1);
    if (!frag)
        return VERANI_ENOMEM;
    for (i = 0; lws_hdr_copy_fragment(wsi, frag, total + 1, WSI_TOKEN_HTTP_URI_ARGS, i) >= 0;
         i++) {
        if (strncmp(frag, name, nl) || (frag[nl] != '=' && frag[nl] != '\0'))
            continue;
        if (r != -1) {
            r = VERANI_EPROTO;
            if (len)
                buf[0] = '\0';
            break;
        }
        vl = strlen(frag + nl + (frag[nl] == '='));
        if (vl >= len) {
            r = VERANI_ETOOBIG;
            continue;
        }
        memcpy(buf, frag + nl + (frag[nl] == '='), vl + 1);
        r = (int)vl;
    }
    vr_free(frag);
    return r;
}

/* Record the first value an upgrade could not read (the upgrade is refused with 400 saying
 * so); `r` is the reader's result, passed through. */
static int upgrade_bad(verani_upgrade *req, int r, const char *what, const char *name,
                       size_t len)
{
    if (r >= 0 || r == -1 || req->bad_input[0])
        return r;
    if (r == VERANI_ETOOBIG)
        snprintf(req->bad_input, sizeof(req->bad_input), "%s '%.64s' is longer than the %zu "
                 "bytes this server reads", what, name, len ? len - 1 : 0);
    else if (r == VERANI_EPROTO)
        snprintf(req->bad_input, sizeof(req->bad_input), "%s '%.64s' is given more than once",
                 what, name);
    else
        snprintf(req->bad_input, sizeof(req->bad_input), "%s '%.64s' could not be read (%s)",
                 what, name, verani_strerror(r));
    return r;
}

int verani_upgrade_query(verani_upgrade *req, const char *name, char *buf, size_t len)
{
    if (!req || !name || !*name || !buf || !len || len > INT32_MAX)
        return -1;
    return upgrade_bad(req, vr_urlarg(req->wsi, name, buf, len), "query parameter", name, len);
}

static const struct {
    const char *name;
    enum lws_token_indexes tok;
} known_headers[] = {
    {"origin", WSI_TOKEN_ORIGIN},
    {"cookie", WSI_TOKEN_HTTP_COOKIE},
    {"authorization", WSI_TOKEN_HTTP_AUTHORIZATION},
    {"host", WSI_TOKEN_HOST},
    {"user-agent", WSI_TOKEN_HTTP_USER_AGENT},
    {"x-forwarded-for", WSI_TOKEN_X_FORWARDED_FOR},
    {"sec-websocket-protocol", WSI_TOKEN_PROTOCOL},
};

int verani_upgrade_header(verani_upgrade *req, const char *name, char *buf, size_t len)
{
    char key[128];
    size_t i;
    int n;

    if (!req || !name || !buf || !len || len > INT32_MAX || strlen(name) + 2 > sizeof(key))
        return -1;
    buf[0] = '\0';
    for (i = 0; i < sizeof(known_headers) / sizeof(known_headers[0]); i++) {
        if (strcasecmp(name, known_headers[i].name))
            continue;
        n = lws_hdr_total_length(req->wsi, known_headers[i].tok);
        if (!n)
            return -1;
        if ((size_t)n >= len) /* lws_hdr_copy would say -1, as if it were absent */
            return upgrade_bad(req, VERANI_ETOOBIG, "header", known_headers[i].name, len);
        return lws_hdr_copy(req->wsi, buf, (int)len, known_headers[i].tok);
    }
    snprintf(key, sizeof(key), "%s:", name);
    for (i = 0; key[i]; i++)
        key[i] = (char)((key[i] >= 'A' && key[i] <= 'Z') ? key[i] + 32 : key[i]);
    n = lws_hdr_custom_length(req->wsi, key, (int)strlen(key));
    if (n < 0)
        return -1;
    if ((size_t)n >= len) {
        key[strlen(key) - 1] = '\0';
        return upgrade_bad(req, VERANI_ETOOBIG, "header", key, len);
    }
    return lws_hdr_custom_copy(req->wsi, buf, (int)len, key, (int)strlen(key));
}

/* The value of cookie `name` in `hdr` (a Cookie header: "a=1; b=2"), matched by its whole
 * name: its start and length, or NULL. */
static const char *cookie_find(const char *hdr, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = hdr;

    while (*p) {
        const char *end = strchr(p, ';');
        size_t l = end ? (size_t)(end - p) : strlen(p);

        while (l && (*p == ' ' || *p == '\t')) {
            p++;
            l--;
        }
        if (l > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            *vlen = l - nl - 1;
            while (*vlen && (p[nl + *vlen] == ' ' || p[nl + *vlen] == '\t'))
                (*vlen)--; /* trailing blanks before the next ';' */
            return p + nl + 1;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

int verani_upgrade_cookie(verani_upgrade *req, const char *name, char *buf, size_t len)
{
    int total;
    char *hdr;
    const char *v;
    size_t vl = 0;
    int r = -1;

    if (!req || !name || !*name || !buf || !len || len > INT32_MAX)
        return -1;
    buf[0] = '\0';
    total = lws_hdr_total_length(req->wsi, WSI_TOKEN_HTTP_COOKIE);
    if (total <= 0)
        return -1;
    hdr = vr_malloc((size_t)total + 1);
    if (!hdr)
        return upgrade_bad(req, VERANI_ENOMEM, "cookie", name, len);
    if (lws_hdr_copy(req->wsi, hdr, total + 1, WSI_TOKEN_HTTP_COOKIE) >= 0 &&
        (v = cookie_find(hdr, name, &vl))) {
        if (vl >= len) {
            r = VERANI_ETOOBIG;
        } else {
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            r = (int)vl;
        }
    }
    vr_free(hdr);
    return upgrade_bad(req, r, "cookie", name, len);
}

const char *verani_upgrade_path(verani_upgrade *req) { return req ? req->path : NULL; }
const char *verani_upgrade_instance(verani_upgrade *req) { return req ? req->instance : NULL; }

int vr_user_id_check(const char *id, char *why, size_t len)
{
    const unsigned char *p = (const unsigned char *)id;
    size_t n = id ? strlen(id) : 0, l;

    if (!n || n > VERANI_USER_ID_MAX) {
        snprintf(why, len, "the user id is %zu bytes: it must be 1 to %d", n,
                 VERANI_USER_ID_MAX);
        return VERANI_EINVAL;
    }
    for (; *p; p += l) {
        if (!(l = vr_utf8_seq(p))) {
            snprintf(why, len, "the user id is not valid UTF-8 (at byte %zu)",
                     (size_t)(p - (const unsigned char *)id));
            return VERANI_EINVAL;
        }
        /* C0, DEL, and C1 (U+0080..U+009F: 0xc2 0x80..0x9f) */
        if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] < 0xa0)) {
            snprintf(why, len, "the user id has a control character (at byte %zu)",
                     (size_t)(p - (const unsigned char *)id));
            return VERANI_EINVAL;
        }
    }
    return 0;
}

int verani_upgrade_set_user_id(verani_upgrade *req, const char *user_id)
{
    char why[sizeof(req->bad_input)];
    char *d;

    if (!req)
        return VERANI_EINVAL;
    if (vr_user_id_check(user_id, why, sizeof(why))) {
        if (!req->bad_input[0])
            memcpy(req->bad_input, why, sizeof(why));
        return VERANI_EINVAL;
    }
    d = vr_strdup(user_id);
    if (!d)
        return VERANI_ENOMEM;
    vr_free(req->user_id);
    req->user_id = d;
    return 0;
}

int verani_upgrade_reject(verani_upgrade *req, int status, const char *reason)
{
    if (!req)
        return VERANI_EINVAL;
    req->reject_status = status == 403 ? 403 : 401;
    snprintf(req->reject_reason, sizeof(req->reject_reason), "%s", reason ? reason : "");
    return VERANI_EDENIED;
}

int verani_upgrade_add_channel(verani_upgrade *req, const char *channel)
{
    size_t n = channel ? strlen(channel) : 0;
    char *b;

    if (!req || !n || n > 128)
        return VERANI_EINVAL;
    b = vr_realloc(req->chans.buf, req->chans.len + n + 1);
    if (!b)
        return VERANI_ENOMEM;
    memcpy(b + req->chans.len, channel, n + 1);
    req->chans.buf = b;
    req->chans.len += n + 1;
    req->chans.n++;
    return 0;
}

/* ?channels=a,b: each name, spaces around it dropped; an empty one is skipped. */
static int default_channels(verani_upgrade *req)
{
    char v[1024], *p, *e;
    int r = 0;

    if (verani_upgrade_query(req, "channels", v, sizeof(v)) <= 0)
        return 0;
    for (p = v; p && !r; p = e) {
        e = strchr(p, ',');
        if (e)
            *e++ = '\0';
        while (*p == ' ')
            p++;
        for (size_t n = strlen(p); n && p[n - 1] == ' '; n--)
            p[n - 1] = '\0';
        if (*p)
            r = verani_upgrade_add_channel(req, p);
    }
    return r == VERANI_EINVAL ? 0 : r; /* a name over 128 bytes is not asked for */
}

char *verani_upgrade_strdup(verani_upgrade *req, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *d = req && s ? vr_scratch_alloc(&req->scratch, n + 1) : NULL;

    if (d)
        memcpy(d, s, n + 1);
    return d;
}

/* The default: ?userId= or X-User-Id, else "anonymous" when allowed; ?channels=. */
static int default_meta(verani_server *srv, verani_upgrade *req)
{
    char v[VERANI_USER_ID_MAX + 1];
    int r = default_channels(req);

    if (r)
        return r;
    r = verani_upgrade_query(req, "userId", v, sizeof(v));
    if (r == -1)
        r = verani_upgrade_header(req, "x-user-id", v, sizeof(v));
    if (r >= 0) /* present, even empty: set_user_id says what is wrong with it */
        return verani_upgrade_set_user_id(req, v);
    if (r != -1)
        return r; /* unreadable: the upgrade is refused with 400, naming it */
    if (srv->opts.anonymous_users)
        return verani_upgrade_set_user_id(req, "anonymous");
    return verani_upgrade_reject(req, 401, "no user id: pass ?userId= or the X-User-Id header");
}

/* A meta message with a string field `user_id` gets the session's user id when unset. */
static void meta_fill_user_id(verani_upgrade *req, ProtobufCMessage *meta)
{
    const ProtobufCFieldDescriptor *f;
    char **slot;

    f = protobuf_c_message_descriptor_get_field_by_name(meta->descriptor, "user_id");
    if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
        return;
    slot = (char **)(void *)((char *)meta + f->offset);
    if (!*slot || !**slot || *slot == (const char *)f->default_value)
        *slot = verani_upgrade_strdup(req, req->user_id);
}

static void pending_drop(vr_pending *p)
{
    if (p->inst) {
        p->inst->pending--;
        vr_instance_maybe_free(p->inst);
    }
    vr_free(p->user_id);
    vr_free(p->meta);
    vr_free(p->chans.buf);
    memset(p, 0, sizeof(*p));
}

static int origin_allowed(verani_server *srv, struct lws *wsi)
{
    char origin[256];
    size_t i;

    if (!srv->opts.n_origins)
        return 1;
    if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
        return 0;
    for (i = 0; i < srv->opts.n_origins; i++)
        if (!strcmp(origin, srv->opts.origins[i]))
            return 1;
    return 0;
}

/* CONFIRM_UPGRADE: decide, answer a refusal ourselves (return 1), or stash the result (0). */
static int on_confirm_upgrade(verani_server *srv, struct lws *wsi)
{
    char path[512], inst_name[256], body[512];
    verani_upgrade req;
    ProtobufCMessage *meta = NULL;
    const verani_room_schema *sc;
    vr_instance *inst;
    vr_mount *m;
    unsigned status = 0;
    int r;

    pending_drop(&srv->pending);
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
        return http_answer(wsi, 400, "a WebSocket upgrade must be a GET\n", 0) ? -1 : 1;
    if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0) {
        snprintf(body, sizeof(body), "the request path is longer than %zu bytes, the most a "
                 "room path may be\n", sizeof(path) - 1);
        return http_answer(wsi, 414, body, 0) ? -1 : 1;
    }
    m = vr_route(srv, path, inst_name, sizeof(inst_name));
    if (!m) {
        char paths[400];

        vr_paths_describe(srv, paths, sizeof(paths));
        snprintf(body, sizeof(body), "no room at %.200s; the rooms of this server are at: %.250s\n",
                 path, paths);
        return http_answer(wsi, 404, body, 0) ? -1 : 1;
    }
    if (srv->stopping || srv->stop_flag)
        return http_answer(wsi, 503, "the server is shutting down\n", 0) ? -1 : 1;
    if (srv->sessions.count >= srv->opts.max_sessions) {
        VR_WARN("connection refused: %u sessions, the max_sessions limit\n",
                srv->sessions.count);
        return http_answer(wsi, 503, "the server is at its session limit\n", 0) ? -1 : 1;
    }
    inst = vr_instance_get(m, inst_name, 0);
    if (inst && srv->opts.max_per_instance &&
        inst->sessions.count + inst->pending >= srv->opts.max_per_instance)
        return http_answer(wsi, 503, "this room instance is at its connection limit\n", 0) ? -1
                                                                                            : 1;
    if (!origin_allowed(srv, wsi))
        return http_answer(wsi, 403, "origin not allowed\n", 0) ? -1 : 1;

    sc = m->def->schema;
    memset(&req, 0, sizeof(req));
    req.wsi = wsi;
    req.mount = m;
    req.path = path;
    req.instance = inst_name;
    if (sc->meta) {
        meta = vr_scratch_alloc(&req.scratch, sc->meta->sizeof_message);
        if (!meta)
            goto internal;
        sc->meta->message_init(meta);
    }
    r = m->def->extract_meta ? m->def->extract_meta(&req, m->handlers, meta) : VERANI_ENOHANDLER;
    if (r == VERANI_ENOHANDLER)
        r = default_meta(srv, &req);
    if (req.bad_input[0]) {
        /* a value that did not fit or is not allowed: nothing is ever cut to fit */
        status = 400;
        snprintf(body, sizeof(body), "%s\n", req.bad_input);
        goto refuse;
    }
    if (r >= 0 && !req.user_id)
        r = verani_upgrade_reject(&req, 401, "extract_meta set no user id");
    if (r < 0) {
        status = req.reject_status ? (unsigned)req.reject_status : r == VERANI_EDENIED ? 403 : 401;
        snprintf(body, sizeof(body), "%s\n", req.reject_reason[0] ? req.reject_reason
                                                                 : "connection refused");
        goto refuse;
    }
    if (meta) {
        verani_verr verr;

        meta_fill_user_id(&req, meta);
        memset(&verr, 0, sizeof(verr));
        if (sc->validate_meta && sc->validate_meta(meta, &verr)) {
            status = 403;
            snprintf(body, sizeof(body), "connection meta is invalid: %s: %s\n", verr.path,
                     verr.reason);
            goto refuse;
        }
        srv->pending.meta_len = protobuf_c_message_get_packed_size(meta);
        srv->pending.meta = vr_malloc(srv->pending.meta_len);
        if (!srv->pending.meta)
            goto internal;
        protobuf_c_message_pack(meta, srv->pending.meta);
    }
    inst = vr_instance_get(m, inst_name, 1);
    if (!inst)
        goto internal;
    inst->pending++;
    srv->pending.inst = inst;
    srv->pending.wsi = wsi;
    srv->pending.user_id = req.user_id;
    srv->pending.chans = req.chans; /* ownership moves on */
    vr_scratch_free(&req.scratch);
    return 0;

internal:
    status = 500;
    snprintf(body, sizeof(body), "internal server error\n");
refuse:
    VR_INFO("upgrade to %s refused: %u %s", path, status, body);
    pending_drop(&srv->pending);
    vr_free(req.user_id);
    vr_free(req.chans.buf);
    vr_scratch_free(&req.scratch);
    return http_answer(wsi, status, body, 0) ? -1 : 1;
}

/* --- the cross-thread emit queue ------------------------------------------ */

static void async_free(vr_async *a)
{
    vr_frame_unref(a->frame);
    vr_free(a->instance);
    vr_free(a->strs);
    vr_free(a);
}

static void async_drain(verani_server *srv)
{
    vr_async *a, *next;
    size_t i;

    pthread_mutex_lock(&srv->async_lock);
    a = srv->async_head;
    srv->async_head = srv->async_tail = NULL;
    pthread_mutex_unlock(&srv->async_lock);
    for (; a; a = next) {
        next = a->next;
        for (i = 0; i < srv->n_mounts; i++) {
            vr_mount *m = srv->mounts[i];

            if (m->def != a->room)
                continue;
            if (a->instance) {
                vr_instance *inst = vr_instance_get(m, a->instance, 0);

                if (inst)
                    srv->broker->publish(inst, &a->to, NULL, a->frame);
            } else {
                lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&m->instances)) {
                    srv->broker->publish(lws_container_of(d, vr_instance, node), &a->to, NULL,
                                         a->frame);
                } lws_end_foreach_dll(d);
            }
        }
        async_free(a);
    }
}

int verani_server_emit_async(verani_server *srv, const verani_room_def *room,
                             const char *instance, const verani_target *to,
                             const verani_event_def *ev, const ProtobufCMessage *msg)
{
    vr_async *a;
    int err = 0;

    if (!srv || !room || !to || !ev || to->kind == VERANI_TO_SELF || to->except)
        return VERANI_EINVAL;
    if (srv->stop_flag)
        return VERANI_ECLOSED;
    a = vr_calloc(1, sizeof(*a));
    if (!a)
        return VERANI_ENOMEM;
    a->room = room;
    a->ev = ev;
    a->frame = vr_event_frame(ev, msg, to->kind == VERANI_TO_CHANNEL ? to->name : NULL, &err);
    if (!a->frame || (instance && !(a->instance = vr_strdup(instance)))
        || vr_target_copy(&a->to, &a->strs, to)) {
        async_free(a);
        return err ? err : VERANI_ENOMEM;
    }
    if (!vr_frame_fits(srv, a->frame)) { /* opts are read-only after create: any thread */
        VR_WARN("emit '%s': %zu bytes, more than any session's outbound queue holds (%zu): "
                "not sent\n", ev->name, (size_t)a->frame->len, srv->opts.queue_max_bytes);
        async_free(a);
        return VERANI_ETOOBIG;
    }
    pthread_mutex_lock(&srv->async_lock);
    if (srv->async_tail)
        srv->async_tail->next = a;
    else
        srv->async_head = a;
    srv->async_tail = a;
    pthread_mutex_unlock(&srv->async_lock);
    vr_server_wake(srv);
    return 0;
}

/* --- sockets: limits, and deadlines for those that are not sessions ----------- */

/* The opaque user data of a socket that became a session (its vr_sock is freed then). */
static char sock_session;

static void accept_pause(verani_server *srv)
{
    if (!srv->listen_wsi)
        return;
    /* every time: lws reads the listening socket again whenever one of its sockets closes */
    lws_rx_flow_control(srv->listen_wsi, 0);
    if (!srv->accept_paused) {
        srv->accept_paused = 1;
        srv->accept_paused_us = lws_now_usecs();
    }
}

void vr_accept_retry(verani_server *srv, int64_t now_us)
{
    if (!srv->accept_paused || !srv->listen_wsi || now_us - srv->accept_paused_us <
                                                    VR_ACCEPT_RETRY_US)
        return;
    srv->accept_paused = 0;
    lws_rx_flow_control(srv->listen_wsi, 1);
}

/* A socket was just accepted as descriptor `fd` (lws has not adopted it yet): 0 takes it;
 * 1 has lws close it at once, and reading the listening socket stops until there is room. */
static int accept_filter(verani_server *srv, struct lws *listen_wsi, int fd)
{
    int64_t now = lws_now_usecs();
    char why[160];

    srv->listen_wsi = listen_wsi;
    if (srv->n_sockets >= srv->opts.max_connections)
        snprintf(why, sizeof(why), "%u sockets open, the max_connections limit",
                 srv->n_sockets);
    else if (srv->fd_limit && fd >= srv->fd_limit - VR_FD_RESERVE)
        snprintf(why, sizeof(why), "out of file descriptors (descriptor %d of RLIMIT_NOFILE "
                 "%d; raise ulimit -n)", fd, srv->fd_limit);
    else
        return 0;
    accept_pause(srv);
    srv->metrics.sockets_refused++;
    srv->refused_unlogged++;
    if (!srv->refused_logged_us || now - srv->refused_logged_us >= VR_REFUSED_LOG_US) {
        VR_WARN("not accepting connections: %s; %llu refused since the last report\n", why,
                (unsigned long long)srv->refused_unlogged);
        srv->refused_logged_us = now;
        srv->refused_unlogged = 0;
    }
    return 1;
}

/* lws adopted an accepted socket: count it, and start its deadline as a non-session. */
static int sock_adopted(verani_server *srv, struct lws *wsi)
{
    vr_sock *k = vr_calloc(1, sizeof(*k));

    if (!k)
        return -1;
    k->wsi = wsi;
    k->since_us = lws_now_usecs();
    lws_dll2_add_tail(&k->node, &srv->loose);
    lws_set_opaque_user_data(wsi, k);
    if (++srv->n_sockets >= srv->opts.max_connections)
        accept_pause(srv);
    return 0;
}

static vr_sock *sock_of(struct lws *wsi)
{
    void *o = lws_get_opaque_user_data(wsi);

    return o && o != &sock_session ? o : NULL;
}

/* A keep-alive connection answered a request and waits for the next (lws binds the protocol
 * again for it): its deadline starts again. */
static void sock_transaction(verani_server *srv, struct lws *wsi)
{
    vr_sock *k = sock_of(wsi);

    if (!k)
        return;
    k->since_us = lws_now_usecs();
    lws_dll2_remove(&k->node);
    lws_dll2_add_tail(&k->node, &srv->loose);
}

/* The socket is a session now: the session's own timeouts bound it (sweep.c). */
static void sock_session_begins(struct lws *wsi)
{
    vr_sock *k = sock_of(wsi);

    if (k) {
        lws_dll2_remove(&k->node);
        vr_free(k);
    }
    lws_set_opaque_user_data(wsi, &sock_session);
}

static void sock_gone(verani_server *srv, struct lws *wsi)
{
    vr_sock *k = sock_of(wsi);

    if (!lws_get_opaque_user_data(wsi))
        return; /* not an accepted socket: the listener, lws's event pipe */
    if (k) {
        lws_dll2_remove(&k->node);
        vr_free(k);
    }
    lws_set_opaque_user_data(wsi, NULL);
    srv->n_sockets--;
}

void vr_socks_expire(verani_server *srv, int64_t oldest_us)
{
    while (srv->loose.head) {
        vr_sock *k = lws_container_of(srv->loose.head, vr_sock, node);

        if (k->since_us >= oldest_us)
            break;
        /* Closed now, not at the next service: lws restarts its own timeout of a socket at
         * every piece of an HTTP body it reads, which would replace an asynchronous kill
         * (LWS_TO_KILL_ASYNC is a timeout of zero) and keep a steadily trickling request open.
         * The sweep runs from a timer, so no wsi is in use. The wsi's destruction frees `k`
         * (sock_gone); it is off the list first, so that this loop ends whatever lws does. */
        lws_dll2_remove(&k->node);
        VR_INFO("a socket that is not a session passed the handshake timeout: closed\n");
        lws_set_timeout(k->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    }
}

/* --- the protocol callback ------------------------------------------------ */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *cx = lws_get_context(wsi);
    verani_server *srv = cx ? lws_context_user(cx) : NULL;
    struct vr_pss *pss = user;

    if (!srv)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: /* `wsi` is the listener, `user` not a pss */
        return accept_filter(srv, wsi, (int)(lws_intptr_t)in);
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        return sock_adopted(srv, wsi);
    case LWS_CALLBACK_HTTP_BIND_PROTOCOL:
        sock_transaction(srv, wsi);
        return 0;
    case LWS_CALLBACK_RAW_ADOPT:
        /* a CONNECT request: lws would keep the socket open as a raw stream, for nobody */
        VR_INFO("a CONNECT request: closed\n");
        return -1;
    case LWS_CALLBACK_HTTP:
        if (in && vr_http_api_match(srv, (const char *)in))
            return vr_http_api_request(srv, wsi, pss ? &pss->http : NULL, (const char *)in);
        return on_http(srv, wsi, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_FILE_COMPLETION: /* a static file (opts.static_dir) was sent */
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_HTTP_BODY:
        return vr_http_api_body(srv, wsi, pss ? &pss->http : NULL, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return vr_http_api_body_done(srv, wsi, pss ? &pss->http : NULL);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        vr_http_api_drop(pss ? &pss->http : NULL);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        if (!in || strcmp((const char *)in, "websocket"))
            return http_answer(wsi, 400, "only WebSocket upgrades are supported\n", 0) ? -1 : 1;
        {
            int r = on_confirm_upgrade(srv, wsi);

            if (r)
                srv->metrics.upgrades_refused++;
            return r;
        }
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return srv->pending.wsi == wsi && srv->pending.inst ? 0 : 1;
    case LWS_CALLBACK_ESTABLISHED:
        if (srv->pending.wsi != wsi || !srv->pending.inst)
            return -1;
        pss->s = vr_session_new(srv, wsi, &srv->pending);
        pending_drop(&srv->pending);
        if (pss->s)
            sock_session_begins(wsi);
        return pss->s ? 0 : -1;
    case LWS_CALLBACK_RECEIVE:
        if (!pss || !pss->s)
            return -1;
        srv->metrics.bytes_in += len;
        srv->metrics.frames_in += (unsigned)lws_is_final_fragment(wsi);
        return vr_session_rx(pss->s, in, len, lws_frame_is_binary(wsi),
                             lws_is_first_fragment(wsi), lws_is_final_fragment(wsi));
    case LWS_CALLBACK_RECEIVE_PONG:
        if (pss && pss->s)
            vr_session_heard(pss->s);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return pss && pss->s ? vr_session_writable(pss->s) : -1;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (pss && pss->s)
            return vr_session_peer_close(pss->s, in && len >= 2 ? ((const uint8_t *)in)[0] << 8 |
                                                                  ((const uint8_t *)in)[1]
                                                                : 1005) ? -1 : 0;
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (pss && pss->s) {
            vr_session_closed(pss->s);
            pss->s = NULL;
        }
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        async_drain(srv);
        vr_rpc_drain(srv);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        sock_gone(srv, wsi);
        /* an upgrade accepted at CONFIRM_UPGRADE that lws then failed */
        if (srv->pending.wsi == wsi)
            pending_drop(&srv->pending);
        return 0;
    default:
        return 0;
    }
}

/* --- lifecycle ----------------------------------------------------------- */

/* opts.static_dir and opts.static_path, copied; the path checked and without its trailing
 * '/'. 0, or -1 with the reason in errbuf. */
static int static_path_init(verani_server *srv, char *errbuf, size_t errlen)
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
static int static_clashes(const verani_server *srv, const char *room)
{
    const char *st = srv->opts.static_path;
    size_t ns = st ? strlen(st) : 0, lit = strcspn(room, "{");

    if (!st)
        return 0;
    if (!strncmp(room, st, ns) && (room[ns] == '\0' || room[ns] == '/'))
        return 1; /* the room is at or below the static path */
    return room[lit] == '{' && !strncmp(st, room, lit); /* an instance name could be it */
}

verani_server *verani_server_create(const verani_server_options *opts, char *errbuf,
                                    size_t errlen)
{
    verani_server *srv = vr_calloc(1, sizeof(*srv));
    size_t i;

    if (!srv) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    if (opts)
        srv->opts = *opts;
    srv->opts.bind_address = vr_strdup(srv->opts.bind_address);
    srv->opts.tls_cert_path = vr_strdup(srv->opts.tls_cert_path);
    srv->opts.tls_key_path = vr_strdup(srv->opts.tls_key_path);
    if (static_path_init(srv, errbuf, errlen)) {
        verani_server_destroy(srv);
        return NULL;
    }
    if (srv->opts.n_origins) {
        srv->origins = vr_calloc(srv->opts.n_origins, sizeof(char *));
        for (i = 0; srv->origins && i < srv->opts.n_origins; i++)
            srv->origins[i] = vr_strdup(opts->origins[i]);
        srv->opts.origins = (const char *const *)srv->origins;
    }
    if (!srv->opts.max_connections)
        srv->opts.max_connections = 100000;
    if (!srv->opts.max_sessions)
        srv->opts.max_sessions = srv->opts.max_connections;
    if (!srv->opts.max_detached)
        srv->opts.max_detached = srv->opts.max_sessions;
    if (!srv->opts.idle_timeout_ms)
        srv->opts.idle_timeout_ms = 60000;
    if (!srv->opts.handshake_timeout_ms)
        srv->opts.handshake_timeout_ms = 10000;
    if (!srv->opts.queue_max_frames)
        srv->opts.queue_max_frames = 1024;
    if (!srv->opts.queue_max_bytes)
        srv->opts.queue_max_bytes = 4u << 20;
    if (!srv->opts.resume_grace_ms)
        srv->opts.resume_grace_ms = 30000;
    if (!srv->opts.retain_max_frames)
        srv->opts.retain_max_frames = 1000;
    if (!srv->opts.retain_max_age_ms)
        srv->opts.retain_max_age_ms = 120000;
    if (!srv->opts.instance_idle_ms)
        srv->opts.instance_idle_ms = 60000;
    if (!srv->opts.storage_busy_timeout_ms)
        srv->opts.storage_busy_timeout_ms = VR_STORAGE_BUSY_MS;
    if (!srv->opts.recv_buffer_bytes)
        srv->opts.recv_buffer_bytes = VR_RX_BUFFER;
    else if (srv->opts.recv_buffer_bytes < VR_RX_BUFFER_MIN)
        srv->opts.recv_buffer_bytes = VR_RX_BUFFER_MIN;
    if (!srv->opts.log_level)
        srv->opts.log_level = VERANI_LOG_ERR | VERANI_LOG_WARN;
    srv->broker = &vr_broker_local;
    srv->port = -1;
    pthread_mutex_init(&srv->async_lock, NULL);
    verani_set_log_level(srv->opts.log_level, NULL);
    if ((opts && opts->bind_address && !srv->opts.bind_address) ||
        (opts && opts->n_origins && !srv->origins)) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "out of memory");
        verani_server_destroy(srv);
        return NULL;
    }
    if (vr_random_hex(srv->epoch, 8)) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "no random source for the session epoch");
        verani_server_destroy(srv);
        return NULL;
    }
    if (vr_server_storage_open(srv, errbuf, errlen)) {
        verani_server_destroy(srv);
        return NULL;
    }
    return srv;
}

int verani_server_mount(verani_server *srv, const verani_room_def *room, const void *handlers,
                        void *user)
{
    const verani_room_schema *sc;
    const char *path, *ph;
    vr_mount *m, **nm;
    size_t i;

    if (!srv || !room || !handlers || !room->schema)
        return VERANI_EINVAL;
    if (room->abi != VERANI_GEN_ABI) {
        set_error(srv, "room was generated for ABI %u, this runtime is ABI %u: regenerate it "
                  "with veranic", room->abi, VERANI_GEN_ABI);
        return VERANI_EINVAL;
    }
    if (srv->ctx) {
        set_error(srv, "mount rooms before the server listens");
        return VERANI_ESTATE;
    }
    sc = room->schema;
    path = sc->path && *sc->path ? sc->path : "/ws";
    if (vr_mount_path_is_api(srv, path)) {
        set_error(srv, "room %s: path %s is the HTTP API's (%s...) or /metrics: mount the room "
                  "elsewhere or move the API with verani_server_set_api", sc->name, path,
                  vr_http_api_prefix(srv));
        return VERANI_EINVAL;
    }
    if (static_clashes(srv, path)) {
        set_error(srv, "room %s: path %s clashes with the static files at %s", sc->name, path,
                  srv->opts.static_path);
        return VERANI_EINVAL;
    }
    for (i = 0; i < srv->n_mounts; i++)
        if (!strcmp(srv->mounts[i]->def->schema->path ? srv->mounts[i]->def->schema->path
                                                      : "/ws", path)) {
            set_error(srv, "room %s: path %s is already mounted", sc->name, path);
            return VERANI_EINVAL;
        }
    m = vr_calloc(1, sizeof(*m));
    nm = vr_reallocarray(srv->mounts, srv->n_mounts + 1, sizeof(*nm));
    if (!m || !nm) {
        vr_free(m);
        if (nm)
            srv->mounts = nm;
        return VERANI_ENOMEM;
    }
    srv->mounts = nm;
    ph = strstr(path, "{");
    m->has_placeholder = ph != NULL;
    m->prefix = ph ? vr_strndup(path, (size_t)(ph - path)) : vr_strdup(path);
    m->suffix = vr_strdup(ph && strchr(ph, '}') ? strchr(ph, '}') + 1 : "");
    if (!m->prefix || !m->suffix) {
        vr_free(m->prefix);
        vr_free(m->suffix);
        vr_free(m);
        return VERANI_ENOMEM;
    }
    m->srv = srv;
    m->def = room;
    m->handlers = handlers;
    m->user = user;
    srv->mounts[srv->n_mounts++] = m;
    if (sc->max_frame > srv->max_frame)
        srv->max_frame = sc->max_frame;
    return 0;
}

static const lws_retry_bo_t no_lws_validity = {.secs_since_valid_ping = 0,
                                                .secs_since_valid_hangup = 0};

int verani_server_listen(verani_server *srv)
{
    struct lws_context_creation_info info;

    if (!srv)
        return VERANI_EINVAL;
    if (srv->ctx)
        return 0;
    if (!srv->n_mounts) {
        set_error(srv, "no room is mounted");
        return VERANI_ESTATE;
    }
    {
        struct rlimit rl;

        /* what the accept check of accept_filter compares descriptors with */
        srv->fd_limit = !getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
                        rl.rlim_cur <= INT_MAX && rl.rlim_cur > 2 * VR_FD_RESERVE
                        ? (int)rl.rlim_cur : 0;
    }
    srv->protocols[0].name = "verani";
    srv->protocols[0].callback = callback;
    srv->protocols[0].per_session_data_size = sizeof(struct vr_pss);
    srv->protocols[0].rx_buffer_size = srv->max_frame < srv->opts.recv_buffer_bytes
                                       ? srv->max_frame : srv->opts.recv_buffer_bytes;
    srv->protocols[0].tx_packet_size = VR_WRITE_CHUNK;
    memset(&srv->protocols[1], 0, sizeof(srv->protocols[1]));

    memset(&info, 0, sizeof(info));
    if (srv->opts.static_dir) {
        const char *st = srv->opts.static_path, *api = vr_http_api_prefix(srv);
        size_t n = strlen(st);

        /* the static path inside the API's (or /metrics), or the API's below it */
        if (vr_http_api_match(srv, st) ||
            (!strncmp(api, st, n) && (api[n] == '/' || api[n] == '\0'))) {
            set_error(srv, "static files at %s clash with the HTTP API (%s...) or /metrics",
                      st, api);
            return VERANI_EINVAL;
        }
        memset(&srv->static_mount, 0, sizeof(srv->static_mount));
        srv->static_mount.mountpoint = srv->opts.static_path;
        srv->static_mount.mountpoint_len = (unsigned char)strlen(srv->opts.static_path);
        srv->static_mount.origin = srv->opts.static_dir;
        srv->static_mount.origin_protocol = LWSMPRO_FILE;
        srv->static_mount.def = "index.html";
        info.mounts = &srv->static_mount;
    }
    info.port = srv->opts.port;
    info.iface = srv->opts.bind_address;
    info.protocols = srv->protocols;
    info.user = srv;
    info.timeout_secs = (srv->opts.handshake_timeout_ms + 999) / 1000;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    /* No lws validity timers: the sweep does idle checks and pings (sweep.c). lws would
     * otherwise keep one sorted timer per connection, and each connect would walk them. */
    info.retry_and_idle_policy = &no_lws_validity;
    if (srv->opts.tls_cert_path && srv->opts.tls_key_path) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = srv->opts.tls_cert_path;
        info.ssl_private_key_filepath = srv->opts.tls_key_path;
        /* HTTP/1.1 only: WebSocket over HTTP/2 streams cannot take the raw,
         * pre-framed writes the delivery path makes. */
        info.alpn = "http/1.1";
    }
    /* libev (epoll) through lws's event-library plugin, on a loop of our own so a turn can
     * be bounded: lws 4.1's poll() loop rescans every descriptor on each wake-up, which
     * grows with the connections held (bench/RESULTS.md). Without the plugin: poll(). */
    srv->evloop = srv->opts.event_loop == VERANI_LOOP_POLL
                      ? NULL : ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (srv->evloop) {
        void *loops[1] = {srv->evloop};

        info.options |= LWS_SERVER_OPTION_LIBEV;
        info.foreign_loops = loops;
        srv->ctx = lws_create_context(&info);
        info.foreign_loops = NULL;
        info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
        if (!srv->ctx) {
            ev_loop_destroy(srv->evloop);
            srv->evloop = NULL;
            VR_NOTICE("the libev event library is not usable here; using poll()\n");
        }
    }
    if (!srv->ctx)
        srv->ctx = lws_create_context(&info);
    if (!srv->ctx) {
        set_error(srv, "cannot listen on %s:%d (port in use, bad TLS files or no memory)",
                  srv->opts.bind_address ? srv->opts.bind_address : "*", srv->opts.port);
        return VERANI_EIO;
    }
    atomic_store(&srv->wake_ctx, srv->ctx);
    srv->vh = lws_get_vhost_by_name(srv->ctx, "default");
    srv->port = srv->vh ? lws_get_vhost_listen_port(srv->vh) : -1;
    VR_NOTICE("listening on port %d, %zu room(s)\n", srv->port, srv->n_mounts);
    vr_sweep_start(srv);
    if (vr_sessions_restore(srv))
        VR_WARN("sessions of the last run not restored; their clients start fresh sessions\n");
    return 0;
}

int verani_server_port(const verani_server *srv)
{
    return srv ? srv->port : -1;
}

void vr_server_wake(verani_server *srv)
{
    struct lws_context *cx;

    /* seq_cst: a waker that saw the context is counted before wake_retire looks */
    atomic_fetch_add(&srv->wake_users, 1);
    cx = atomic_load(&srv->wake_ctx);
    if (cx)
        lws_cancel_service(cx); /* only writes a byte to the event pipe */
    atomic_fetch_sub(&srv->wake_users, 1);
}

/* Before the context is destroyed: no waker may still be using it. */
static void wake_retire(verani_server *srv)
{
    atomic_store(&srv->wake_ctx, NULL);
    while (atomic_load(&srv->wake_users))
        ; /* a waker is inside lws_cancel_service: a few instructions */
}

/* Extra non-blocking epoll rounds a turn takes while they keep bringing input: with a
 * 512-byte receive buffer, 16 take in a 32-message burst of a publisher (bench/RESULTS.md). */
#define VR_READ_AHEAD_TURNS 16

/* One turn of the event loop: wait for events or a timer when `wait`, else only what is
 * ready; then write what the turn queued. Returns < 0 when the loop cannot go on. */
static int loop_turn(verani_server *srv, int wait)
{
    int r = 0;

    if (srv->evloop) {
        uint64_t seen;
        int i;

        ev_run(srv->evloop, wait ? EVRUN_ONCE : EVRUN_NOWAIT);
        /* While input keeps coming, take it before writing: more frames per write under
         * load, and no wait at all when there is none. */
        for (i = 0; i < VR_READ_AHEAD_TURNS; i++) {
            seen = srv->metrics.bytes_in;
            ev_run(srv->evloop, EVRUN_NOWAIT);
            if (srv->metrics.bytes_in == seen)
                break;
        }
    } else
        r = lws_service(srv->ctx, wait ? 0 : -1) < 0 ? -1 : 0;
    vr_sessions_flush(srv); /* what the turn queued goes out in one write per session */
    vr_sessions_store_flush(srv);
    return r;
}

/* After the context: let the loop see lws's last watchers go, then free it. */
static void loop_free(verani_server *srv)
{
    if (!srv->evloop)
        return;
    ev_run(srv->evloop, EVRUN_NOWAIT);
    ev_loop_destroy(srv->evloop);
    srv->evloop = NULL;
}

static void wake_cb(lws_sorted_usec_list_t *sul)
{
    (void)sul; /* only there to end the wait */
}

/* Close every session with 1012, let the closes go out, then drop the context
 * (which closes what is left; every close runs on_disconnect). */
/* The end of the lws context (stop or destroy): the detached sessions end, the sweep stops,
 * no waker may touch the context, then it goes with the loop under it. */
static void context_end(verani_server *srv)
{
    vr_sessions_end_detached(srv);
    vr_sweep_stop(srv);
    lws_sul_cancel(&srv->store_retry);
    wake_retire(srv);
    lws_context_destroy(srv->ctx);
    srv->ctx = NULL;
    srv->vh = NULL;
    srv->listen_wsi = NULL;
    loop_free(srv);
    pending_drop(&srv->pending);
}

static void shutdown_loop(verani_server *srv)
{
    lws_usec_t deadline;

    srv->stopping = 1;
    vr_sessions_save(srv);
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&srv->sessions)) {
        vr_session_close(lws_container_of(d, verani_session, all), VR_CLOSE_RESTART,
                         VR_CLOSE_RESTART_REASON, 0);
    } lws_end_foreach_dll_safe(d, d1);
    deadline = lws_now_usecs() + 3 * LWS_US_PER_SEC;
    while (srv->sessions.count && lws_now_usecs() < deadline) {
        lws_sul_schedule(srv->ctx, 0, &srv->wake, wake_cb, 100 * LWS_US_PER_MS);
        if (loop_turn(srv, 1) < 0)
            break;
    }
    lws_sul_cancel(&srv->wake);
    context_end(srv);
    VR_NOTICE("stopped\n");
}

int verani_server_run(verani_server *srv)
{
    int r;

    if (!srv)
        return VERANI_EINVAL;
    if (srv->stopping)
        return VERANI_ESTATE;
    r = verani_server_listen(srv);
    if (r)
        return r;
    vr_rpc_loop_enter(srv);
    while (!srv->stop_flag)
        if (loop_turn(srv, 1) < 0)
            break;
    shutdown_loop(srv);
    return 0;
}

int verani_server_service(verani_server *srv, int timeout_ms)
{
    int r;

    if (!srv)
        return VERANI_EINVAL;
    if (srv->stopping)
        return VERANI_ECLOSED;
    r = verani_server_listen(srv);
    if (r)
        return r;
    vr_rpc_loop_enter(srv);
    /* lws 4.1 ignores a positive timeout (it waits for the next event or
     * timer), so a timer of our own bounds the wait */
    if (timeout_ms > 0)
        lws_sul_schedule(srv->ctx, 0, &srv->wake, wake_cb,
                         (lws_usec_t)timeout_ms * LWS_US_PER_MS);
    if (!srv->stop_flag && loop_turn(srv, timeout_ms > 0) < 0)
        srv->stop_flag = 1;
    lws_sul_cancel(&srv->wake);
    if (srv->stop_flag) {
        shutdown_loop(srv);
        return VERANI_ECLOSED;
    }
    return 0;
}

void verani_server_stop(verani_server *srv)
{
    if (!srv)
        return;
    srv->stop_flag = 1;
    vr_server_wake(srv);
}

size_t verani_server_session_count(const verani_server *srv)
{
    return srv ? srv->sessions.count : 0;
}

void verani_server_destroy(verani_server *srv)
{
    vr_async *a, *next;
    size_t i;

    if (!srv)
        return;
    vr_signals_forget(srv);
    if (srv->ctx) {
        srv->stopping = 1;
        context_end(srv);
    }
    vr_rpc_fini(srv);
    vr_http_api_free(srv);
    for (a = srv->async_head; a; a = next) {
        next = a->next;
        async_free(a);
    }
    vr_mounts_free(srv);
    vr_sessions_store_flush(srv); /* the deletes of the sessions the close just ended */
    vr_free(srv->store_deletes);
    vr_server_storage_close(srv);
    for (i = 0; srv->origins && i < srv->opts.n_origins; i++)
        vr_free(srv->origins[i]);
    vr_free(srv->origins);
    vr_free((char *)srv->opts.bind_address);
    vr_free((char *)srv->opts.tls_cert_path);
    vr_free((char *)srv->opts.tls_key_path);
    vr_free((char *)srv->opts.static_dir);
    vr_free((char *)srv->opts.static_path);
    vr_free(srv->wbuf);
    pthread_mutex_destroy(&srv->async_lock);
    vr_free(srv);
}
