/* SPDX-License-Identifier: MIT */
/*
 * upgrade.c: the WebSocket upgrade decision, in LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
 * routing to a mounted room and instance, the connection limits, the Origin
 * allow-list, then extract_meta (the verani_upgrade_* calls it reads the
 * request with: query, headers, cookies; user id, channels, reject with
 * 401/403) or the default (userId from the query or a header, "default"),
 * and 503 when full or stopping. What it accepts waits in srv->pending for
 * ESTABLISHED, where it becomes a session.
 */
#define _POSIX_C_SOURCE 200809L /* strcasecmp */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/core-private.h"
#include "server-int.h"

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
        if (*p && (r = verani_upgrade_add_channel(req, p)) == VERANI_EINVAL)
            r = 0; /* a name over 128 bytes is not asked for; the next ones are */
    }
    return r;
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

void vr_pending_drop(vr_pending *p)
{
    verani__wire__hello__free_unpacked(p->hello, &vr_pb_allocator); /* NULL: nothing */
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

/* A 503 of a node that cannot serve now, with Retry-After: 1 (PROTOCOL.md section 1): the
 * callback's return value. */
static int answer_try_again(struct lws *wsi, const char *body)
{
    return vr_http_answer_ex(wsi, 503, "text/plain; charset=utf-8", body, "retry-after:", "1")
           ? -1 : 1;
}

/* CONFIRM_UPGRADE: decide, answer a refusal ourselves (return 1), or stash the result (0). */
/*
 * The checks before extract_meta: a GET to a mounted room's path, not stopping, within the
 * session and per-instance limits, an allowed Origin. Returns the mount (with `path` and the
 * instance name filled), or NULL when it answered: *ret is then the callback's return value.
 */
static vr_mount *admissible(verani_server *srv, struct lws *wsi, char *path, size_t plen,
                            char *inst_name, size_t ilen, int *ret)
{
    char body[512];
    vr_instance *inst;
    vr_mount *m;

    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        *ret = vr_http_answer(wsi, 400, "a WebSocket upgrade must be a GET\n", 0) ? -1 : 1;
        return NULL;
    }
    if (lws_hdr_copy(wsi, path, (int)plen, WSI_TOKEN_GET_URI) <= 0) {
        snprintf(body, sizeof(body), "the request path is longer than %zu bytes, the most a "
                 "room path may be\n", plen - 1);
        *ret = vr_http_answer(wsi, 414, body, 0) ? -1 : 1;
        return NULL;
    }
    m = vr_route(srv, path, inst_name, ilen, &srv->pending.json);
    if (!m) {
        char paths[400];

        vr_paths_describe(srv, paths, sizeof(paths));
        snprintf(body, sizeof(body), "no room at %.200s; the rooms of this server are at: %.250s\n",
                 path, paths);
        *ret = vr_http_answer(wsi, 404, body, 0) ? -1 : 1;
        return NULL;
    }
    if (srv->stopping || srv->stop_flag) {
        *ret = vr_http_answer(wsi, 503, "the server is shutting down\n", 0) ? -1 : 1;
        return NULL;
    }
    if (!vr_cluster_node_ok(srv)) {
        *ret = answer_try_again(wsi, "this node is not in the cluster now (Redis unreachable, "
                                "or its lease lost): try again\n");
        return NULL;
    }
    if ((*ret = vr_owner_redirect(srv, wsi, m, path, inst_name)) != 0)
        return NULL; /* another node's: 307 to it */
    if (srv->sessions.count >= srv->opts.max_sessions) {
        VR_WARN("connection refused: %u sessions, the max_sessions limit\n",
                srv->sessions.count);
        *ret = vr_http_answer(wsi, 503, "the server is at its session limit\n", 0) ? -1 : 1;
        return NULL;
    }
    inst = vr_instance_get(m, inst_name, 0);
    if (inst && srv->opts.max_per_instance &&
        inst->sessions.count + inst->pending >= srv->opts.max_per_instance) {
        *ret = vr_http_answer(wsi, 503, "this room instance is at its connection limit\n", 0)
               ? -1 : 1;
        return NULL;
    }
    if (!origin_allowed(srv, wsi)) {
        *ret = vr_http_answer(wsi, 403, "origin not allowed\n", 0) ? -1 : 1;
        return NULL;
    }
    return m;
}

/* Out of memory: 500, and its text in `body`. */
static unsigned internal(char *body, size_t blen)
{
    snprintf(body, blen, "internal server error\n");
    return 500;
}

/*
 * The HELLO folded into the upgrade (PROTOCOL.md section 3): ?hello= is a Hello message in
 * base64url, decoded here so that a malformed one is refused with 400 before the 101; it is
 * read as the connection's first HELLO at ESTABLISHED (vr_session_fold_hello). Binary wire
 * only: Verani's JSON wire has no HELLO, and its path does not read the parameter. 0 (with
 * srv->pending.hello set when there is one), or <0 with req->bad_input saying why.
 */
static int folded_hello(verani_server *srv, verani_upgrade *req)
{
    char v[VR_FOLDED_HELLO_MAX + 1];
    uint8_t b[VR_FOLDED_HELLO_MAX / 4 * 3 + 2];
    long n;
    int r;

    if (srv->pending.json)
        return 0;
    r = verani_upgrade_query(req, "hello", v, sizeof(v));
    if (r < 0)
        return r == -1 ? 0 : r; /* absent; or too long, twice: upgrade_bad said so */
    n = vr_b64url_decode(b, sizeof(b), v, (size_t)r);
    if (n < 0) {
        snprintf(req->bad_input, sizeof(req->bad_input), "query parameter 'hello' is not "
                 "base64url (A-Z a-z 0-9 - _, no padding)");
        return VERANI_EPROTO;
    }
    srv->pending.hello = verani__wire__hello__unpack(&vr_pb_allocator, (size_t)n, b);
    if (!srv->pending.hello) {
        snprintf(req->bad_input, sizeof(req->bad_input), "query parameter 'hello' does not "
                 "decode as a verani.wire.Hello message");
        return VERANI_EPROTO;
    }
    return 0;
}

/*
 * extract_meta (or the default) on `req`, then the meta's own checks; the packed meta goes to
 * srv->pending. Returns 0, or the HTTP status to refuse with (its text in `body`).
 */
static unsigned identify(verani_server *srv, verani_upgrade *req, char *body, size_t blen)
{
    vr_mount *m = req->mount;
    const verani_room_schema *sc = m->def->schema;
    ProtobufCMessage *meta = NULL;
    verani_verr verr;
    int r;

    if (folded_hello(srv, req) < 0) {
        snprintf(body, blen, "%s\n", req->bad_input);
        return 400;
    }
    if (sc->meta) {
        meta = vr_scratch_alloc(&req->scratch, sc->meta->sizeof_message);
        if (!meta)
            return internal(body, blen);
        sc->meta->message_init(meta);
    }
    r = m->def->extract_meta ? m->def->extract_meta(req, m->handlers, meta) : VERANI_ENOHANDLER;
    if (r == VERANI_ENOHANDLER)
        r = default_meta(srv, req);
    if (req->bad_input[0]) {
        /* a value that did not fit or is not allowed: nothing is ever cut to fit */
        snprintf(body, blen, "%s\n", req->bad_input);
        return 400;
    }
    if (r >= 0 && !req->user_id)
        r = verani_upgrade_reject(req, 401, "extract_meta set no user id");
    if (r < 0) {
        snprintf(body, blen, "%s\n", req->reject_reason[0] ? req->reject_reason
                                                           : "connection refused");
        return req->reject_status ? (unsigned)req->reject_status : r == VERANI_EDENIED ? 403 : 401;
    }
    if (!meta)
        return 0;
    meta_fill_user_id(req, meta);
    memset(&verr, 0, sizeof(verr));
    if (sc->validate_meta && sc->validate_meta(meta, &verr)) {
        snprintf(body, blen, "connection meta is invalid: %s: %s\n", verr.path, verr.reason);
        return 403;
    }
    srv->pending.meta_len = protobuf_c_message_get_packed_size(meta);
    srv->pending.meta = vr_malloc(srv->pending.meta_len);
    if (!srv->pending.meta)
        return internal(body, blen);
    protobuf_c_message_pack(meta, srv->pending.meta);
    return 0;
}

int vr_upgrade_confirm(verani_server *srv, struct lws *wsi)
{
    char path[512], inst_name[256], body[512];
    verani_upgrade req;
    vr_instance *inst;
    vr_mount *m;
    unsigned status;
    int ret, unsent = 0;

    vr_pending_drop(&srv->pending);
    m = admissible(srv, wsi, path, sizeof(path), inst_name, sizeof(inst_name), &ret);
    if (!m)
        return ret;
    memset(&req, 0, sizeof(req));
    req.wsi = wsi;
    req.mount = m;
    req.path = path;
    req.instance = inst_name;
    status = identify(srv, &req, body, sizeof(body));
    inst = status ? NULL : vr_instance_get(m, inst_name, 1);
    if (inst && inst->own == VR_OWN_LOST && !vr_owner_moved(inst)) {
        /* a cluster claim that could not even be sent (Redis went away just now); one a
         * known owner has is accepted, then moved there (vr_owner_hold) */
        vr_instance_maybe_free(inst);
        inst = NULL;
        status = 503;
        unsent = 1;
        snprintf(body, sizeof(body), "this node cannot claim the room instance now: try "
                 "again\n");
    }
    if (inst) {
        inst->pending++;
        srv->pending.inst = inst;
        srv->pending.wsi = wsi;
        srv->pending.user_id = req.user_id;
        srv->pending.chans = req.chans; /* ownership moves on */
        vr_scratch_free(&req.scratch);
        return 0;
    }
    if (!status)
        status = internal(body, sizeof(body));
    VR_INFO("upgrade to %s refused: %u %s", path, status, body);
    vr_pending_drop(&srv->pending);
    vr_free(req.user_id);
    vr_free(req.chans.buf);
    vr_scratch_free(&req.scratch);
    if (unsent) /* this node cannot serve it now: try again, as its other 503s say */
        return answer_try_again(wsi, body);
    return vr_http_answer(wsi, status, body, 0) ? -1 : 1;
}
