/* SPDX-License-Identifier: MIT */
/*
 * routes.c: the HTTP API's routes once a request is authorised and its body
 * read: {prefix}count and {prefix}rooms/<Room>/<instance>/{count, users,
 * users/<id>/sessions, emit/<event>, broadcast/<event>, kick}, each checked
 * (method, room, instance, event, arguments, the payload decoded and
 * validated by the wire) and run on the loop thread through vr_rpc_exec,
 * answered in JSON; and GET /metrics. Options, tokens and the request
 * plumbing are http_api.c's.
 */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api-int.h"
#include "api-private.h"
#include "core/core-private.h"
#include "server/server-private.h"
#include "wire/wire-private.h"

vr_method vr_api_method(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
        return M_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
        return M_POST;
    return M_OTHER;
}

static const verani_event_def *emit_event(const vr_mount *m, const char *name)
{
    const verani_room_schema *sc = vr_mount_def(m)->schema;
    size_t i;

    for (i = 0; i < sc->n_emit; i++)
        if (!strcmp(sc->emit[i].name, name))
            return &sc->emit[i];
    return NULL;
}

/* The vr_api_answer to an argument vr_urlarg could not read (`r` < 0, not absent): 414 when it is
 * longer than the API reads (`len` - 1 bytes), 400 when it is given twice. */
static int arg_refused(verani_server *srv, struct lws *wsi, const char *name, int r, size_t len)
{
    char why[160];

    if (r == VERANI_ETOOBIG) {
        snprintf(why, sizeof(why), "%s: longer than the %zu bytes the API reads", name,
                 len - 1);
        return vr_api_error(srv, wsi, 414, why, NULL, NULL);
    }
    if (r == VERANI_EPROTO) {
        snprintf(why, sizeof(why), "%s: given more than once", name);
        return vr_api_error(srv, wsi, 400, why, NULL, NULL);
    }
    return vr_api_error(srv, wsi, 500, "out of memory", NULL, NULL);
}

/* A whole argument `name` (an id list), in *out (owned by the caller: vr_free), or NULL
 * when absent; < 0 (absent is -1) as vr_urlarg. It always fits: the buffer is as large as
 * the whole query. */
static int arg_dup(struct lws *wsi, const char *name, char **out)
{
    size_t cap = (size_t)lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS) + 1;
    int r;

    *out = vr_malloc(cap);
    if (!*out)
        return VERANI_ENOMEM;
    r = vr_urlarg(wsi, name, *out, cap);
    if (r < 0) {
        vr_free(*out);
        *out = NULL;
    }
    return r;
}

/* Split a comma list in place into `out` (at most `max`); returns the count or -1 when over. */
static int split_ids(char *s, const char **out, size_t max)
{
    size_t n = 0;
    char *save = NULL, *t;

    for (t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == max)
            return -1;
        out[n++] = t;
    }
    return (int)n;
}

/* A parsed route: {prefix}rooms/<room>/<instance>/<action>[/<rest>]. `rest` is an event name
 * or a user id, so it holds the longest user id. */
typedef struct vr_route_parts {
    char room[128], instance[256], action[32], rest[VERANI_USER_ID_MAX + 1];
} vr_route_parts;

/* Copy segment `seg` into `dst` (`cap` bytes); -2 when it does not fit (never cut). */
static int seg_copy(char *dst, size_t cap, const char *seg)
{
    size_t n = strlen(seg);

    if (n >= cap)
        return -2;
    memcpy(dst, seg, n + 1);
    return 0;
}

/* The action: one longer than `cap` is no action of the API's, whatever the rest says, so
 * it is kept as its first cap - 1 bytes, which match no action name either (all are far
 * shorter) and still name it in the 404. */
static void action_copy(char *dst, size_t cap, const char *seg)
{
    size_t n = strnlen(seg, cap - 1);

    memcpy(dst, seg, n);
    dst[n] = '\0';
}

/* 0, -1 when the route is not one of the API's, -2 when a segment is longer than it reads. */
static int split_route(const char *route, vr_route_parts *rp)
{
    char *tmp = vr_strdup(route), *seg[6], *save = NULL, *t;
    size_t n = 0;
    int r = -1;

    memset(rp, 0, sizeof(*rp));
    if (!tmp)
        return -1;
    for (t = strtok_r(tmp, "/", &save); t && n < 6; t = strtok_r(NULL, "/", &save))
        seg[n++] = t;
    if (n == 3 && !strcmp(seg[0], "rooms") && !strcmp(seg[2], "instances") && !t) {
        r = seg_copy(rp->room, sizeof(rp->room), seg[1]) ? -2 : 0; /* a room's instances */
        if (!r)
            memcpy(rp->action, "instances", sizeof("instances"));
        goto out;
    }
    if (n < 4 || strcmp(seg[0], "rooms") || t || (n == 6 && (strcmp(seg[5], "sessions") ||
                                                            strcmp(seg[3], "users"))))
        goto out;
    /* "-" may name the one instance of a room whose path has no {room} (vr_api_dispatch) */
    action_copy(rp->action, sizeof(rp->action), n == 6 ? "sessions" : seg[3]);
    r = seg_copy(rp->room, sizeof(rp->room), seg[1]) ||
        seg_copy(rp->instance, sizeof(rp->instance), seg[2]) ||
        (n >= 5 && seg_copy(rp->rest, sizeof(rp->rest), seg[4])) ? -2 : 0;
out:
    vr_free(tmp);
    return r;
}

static const char *const routes_help =
    "routes: GET {prefix}count, {prefix}instances, {prefix}rooms/<Room>/instances; "
    "GET {prefix}rooms/<Room>/<instance>/count, .../users, "
    ".../users/<id>/sessions; POST .../emit/<event>?channel=|user=|client=, "
    ".../broadcast/<event>?user_ids=&client_ids=, .../kick?client=&code=&reason=";

static int result_answer(verani_server *srv, struct lws *wsi, const char *key,
                         verani_rpc_result *res)
{
    vr_sb sb;
    size_t i, j;

    if (res->status) {
        int r = vr_api_error(srv, wsi, res->status == VERANI_ENOTFOUND ? 404
                             : res->status == VERANI_EINVAL ? 400
                             : res->status == VERANI_ETOOBIG ? 413
                             : res->status == VERANI_ETIMEDOUT ? 504 /* a cluster's node */
                             : res->status == VERANI_EIO ? 503 : 500, res->error, NULL, NULL);

        verani_rpc_result_free(res);
        return r;
    }
    memset(&sb, 0, sizeof(sb));
    if (res->user_ids || !strcmp(key, "users")) {
        vr_sb_add(&sb, "{\"users\":[", 10);
        for (i = 0; i < res->n_user_ids; i++) {
            if (i)
                vr_sb_add(&sb, ",", 1);
            vr_sb_json_str(&sb, res->user_ids[i]);
        }
        vr_sb_printf(&sb, "],\"count\":%zu}\n", res->n_user_ids);
    } else if (!strcmp(key, "instances")) {
        vr_sb_add(&sb, "{\"instances\":[", 14);
        for (i = 0; i < res->n_instances; i++) {
            const verani_rpc_instance *in = &res->instances[i];

            vr_sb_add(&sb, i ? ",{\"room\":" : "{\"room\":", i ? 9 : 8);
            vr_sb_json_str(&sb, in->room);
            vr_sb_add(&sb, ",\"instance\":", 12);
            vr_sb_json_str(&sb, in->name);
            vr_sb_printf(&sb, ",\"sessions\":%zu,\"pending\":%zu}", in->sessions, in->pending);
        }
        vr_sb_printf(&sb, "],\"count\":%zu}\n", res->n_instances);
    } else if (!strcmp(key, "sessions")) {
        vr_sb_add(&sb, "{\"sessions\":[", 13);
        for (i = 0; i < res->n_sessions; i++) {
            const verani_rpc_session *s = &res->sessions[i];

            vr_sb_add(&sb, i ? ",{\"client_id\":" : "{\"client_id\":", i ? 14 : 13);
            vr_sb_json_str(&sb, s->client_id);
            vr_sb_add(&sb, ",\"user_id\":", 11);
            vr_sb_json_str(&sb, s->user_id);
            vr_sb_add(&sb, ",\"room\":", 8);
            vr_sb_json_str(&sb, s->room);
            vr_sb_add(&sb, ",\"instance\":", 12);
            vr_sb_json_str(&sb, s->instance);
            vr_sb_add(&sb, ",\"channels\":[", 13);
            for (j = 0; j < s->n_channels; j++) {
                if (j)
                    vr_sb_add(&sb, ",", 1);
                vr_sb_json_str(&sb, s->channels[j]);
            }
            vr_sb_add(&sb, "]}", 2);
        }
        vr_sb_printf(&sb, "],\"count\":%zu}\n", res->n_sessions);
    } else {
        vr_sb_printf(&sb, "{\"%s\":%zu}\n", key, res->count);
    }
    verani_rpc_result_free(res);
    return vr_api_answer_sb(srv, wsi, "application/json", &sb);
}

/* The answer of other nodes came (cluster_calls.c): keep it and ask to write. */
static void wait_done(verani_server *srv, verani_rpc_result *res, void *arg)
{
    vr_api_wait *w = arg;

    (void)srv;
    if (!w->wsi) { /* the connection closed first */
        verani_rpc_result_free(res);
        vr_free(w);
        return;
    }
    w->res = *res;
    w->ready = 1;
    lws_callback_on_writable(w->wsi);
}

/* Run `rq` and answer with `key`: now, or once the nodes of a cluster that hold the answer
 * gave it (the request waits in `slot`). */
static int run_answer(verani_server *srv, struct lws *wsi, struct vr_http_req **slot,
                      const vr_rpc_req *rq, const char *key)
{
    verani_rpc_result res;
    vr_api_wait *w = slot ? vr_calloc(1, sizeof(*w)) : NULL;

    if (!w) { /* no way to wait: this node's answer */
        vr_rpc_exec(srv, rq, &res);
        return result_answer(srv, wsi, key, &res);
    }
    w->wsi = wsi;
    snprintf(w->key, sizeof(w->key), "%s", key);
    if (!vr_rpc_start(srv, rq, &res, wait_done, w)) {
        vr_free(w);
        return result_answer(srv, wsi, key, &res);
    }
    if (!*slot && !(*slot = vr_calloc(1, sizeof(**slot)))) {
        w->wsi = NULL; /* orphaned: freed by its answer (or now, when it came) */
        if (w->ready) {
            verani_rpc_result_free(&w->res);
            vr_free(w);
        }
        return -1;
    }
    (*slot)->wait = w;
    return 0; /* the answer follows (vr_http_api_writable) */
}

int vr_http_api_writable(verani_server *srv, struct lws *wsi, struct vr_http_req **req)
{
    vr_api_wait *w = req && *req ? (*req)->wait : NULL;
    int r, close_after;

    if (!w || !w->ready)
        return 0;
    close_after = (*req)->close_after;
    (*req)->wait = NULL;
    vr_http_api_drop(req); /* answering may free the connection's data */
    r = result_answer(srv, wsi, w->key, &w->res);
    vr_free(w);
    return close_after ? -1 : r;
}

/* The target of an emit (?channel=, ?user= or ?client=, exactly one) into `to` and `v`. 0, or
 * the vr_api_answer's return value after refusing the request (*answered set). */
static int emit_target(verani_server *srv, struct lws *wsi, verani_target *to, char *v,
                       size_t vlen, int *answered)
{
    static const char *const names[3] = {"channel", "user", "client"};
    char other[1024];
    int i, n, kinds = 0;

    *answered = 1;
    for (i = 0; i < 3; i++) {
        /* a second target only counts (its value goes to `other`, as large as `v`) */
        n = vr_urlarg(wsi, names[i], kinds ? other : v, kinds ? sizeof(other) : vlen);
        if (n == -1)
            continue;
        if (n < 0)
            return arg_refused(srv, wsi, names[i], n, kinds ? sizeof(other) : vlen);
        if (!kinds)
            *to = i == 0 ? verani_to_channel(v) : i == 1 ? verani_to_user(v)
                                                         : verani_to_client(v);
        kinds++;
    }
    if (kinds != 1 || !v[0])
        return vr_api_error(srv, wsi, 400, "emit needs exactly one non-empty target: "
                            "?channel=<name>, ?user=<user id> or ?client=<client id>", NULL,
                            NULL);
    *answered = 0;
    return 0;
}

/* A broadcast's filters (?user_ids=, ?client_ids=: comma lists) into `to`; the lists' bytes
 * go to lists[0..1] (owned by the caller, freed after the call whatever it returns). A filter
 * that is there must be read whole, or nothing is sent: an unread filter must never turn
 * into "no filter", which reaches everyone. 0, or the vr_api_answer's return value (*answered). */
static int broadcast_filters(verani_server *srv, struct lws *wsi, verani_target *to,
                             char *lists[2], const char **ulist, const char **clist,
                             int *answered)
{
    static const char *const names[2] = {"user_ids", "client_ids"};
    const char **outs[2] = {ulist, clist};
    char why[160];
    int i, n;

    *answered = 1;
    for (i = 0; i < 2; i++) {
        n = arg_dup(wsi, names[i], &lists[i]);
        if (n == -1)
            continue; /* absent: no filter of this kind */
        if (n < -1)
            return arg_refused(srv, wsi, names[i], n, 1);
        n = split_ids(lists[i], outs[i], VR_API_MAX_IDS);
        if (n <= 0) {
            snprintf(why, sizeof(why), n ? "%s: more than %d ids" : "%s: no id in the list "
                     "(leave the filter out to reach everyone)", names[i], VR_API_MAX_IDS);
            return vr_api_error(srv, wsi, 400, why, NULL, NULL);
        }
        if (i == 0) {
            to->user_ids = ulist;
            to->n_user_ids = (size_t)n;
        } else {
            to->client_ids = clist;
            to->n_client_ids = (size_t)n;
        }
    }
    *answered = 0;
    return 0;
}

/* Whether a body's Content-Type is not protobuf's: a type other than application/x-protobuf
 * (parameters after it are allowed), or one longer than `cap` bytes. A body without one is
 * taken as protobuf. `buf` is scratch space. */
static int ctype_refused(struct lws *wsi, char *buf, size_t cap)
{
    static const char pb[] = "application/x-protobuf";
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
    size_t n = sizeof(pb) - 1;

    if (total <= 0)
        return 0;
    if (total >= (int)cap || lws_hdr_copy(wsi, buf, (int)cap, WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
        return 1;
    return strncasecmp(buf, pb, n) || (buf[n] && buf[n] != ';' && buf[n] != ' ');
}

/* POST .../emit/<event> and .../broadcast/<event>: decode, validate, deliver. */
static int do_emit(verani_server *srv, struct lws *wsi, struct vr_http_req **slot, vr_mount *m,
                   const vr_route_parts *rp,
                   const uint8_t *body, size_t len)
{
    const verani_event_def *ev = emit_event(m, rp->rest);
    char msgbuf[400], v[1024], ctype[128], *lists[2] = {NULL, NULL};
    const char *ulist[VR_API_MAX_IDS], *clist[VR_API_MAX_IDS];
    ProtobufCMessage *msg = NULL;
    verani_target to = verani_to_all();
    verani_verr verr;
    vr_rpc_req rq;
    int err = 0, r, answered;

    if (!ev) {
        size_t i, o;

        o = (size_t)snprintf(msgbuf, sizeof(msgbuf), "room %s has no emit event '%.100s'; its "
                             "emit events are:", vr_mount_def(m)->schema->name, rp->rest);
        for (i = 0; i < vr_mount_def(m)->schema->n_emit && o < sizeof(msgbuf); i++)
            o += (size_t)snprintf(msgbuf + o, sizeof(msgbuf) - o, " %s",
                                  vr_mount_def(m)->schema->emit[i].name);
        return vr_api_error(srv, wsi, 400, msgbuf, NULL, NULL);
    }
    r = !strcmp(rp->action, "emit") ? emit_target(srv, wsi, &to, v, sizeof(v), &answered)
                                     : broadcast_filters(srv, wsi, &to, lists, ulist, clist,
                                                         &answered);
    if (answered)
        goto done;
    r = -1;
    if (len && ctype_refused(wsi, ctype, sizeof(ctype))) {
        r = vr_api_error(srv, wsi, 415, "the body must be the payload as protobuf bytes, "
                         "Content-Type: application/x-protobuf", NULL, NULL);
        goto done;
    }
    if (!ev->in && len) {
        snprintf(msgbuf, sizeof(msgbuf), "event %s carries no payload: send an empty body",
                 ev->name);
        r = vr_api_error(srv, wsi, 400, msgbuf, NULL, NULL);
        goto done;
    }
    err = vr_wire_payload_decode(ev->in, ev->validate_in, body, len, &msg, &verr);
    if (err == VERANI_EPROTO) {
        snprintf(msgbuf, sizeof(msgbuf), "the body is not a valid %s (protobuf bytes) for "
                 "event %s", ev->in->name, ev->name);
        r = vr_api_error(srv, wsi, 400, msgbuf, NULL, NULL);
        goto done;
    }
    if (err) {
        snprintf(msgbuf, sizeof(msgbuf), "invalid payload: %.200s: %.150s", verr.path,
                 verr.reason);
        r = vr_api_error(srv, wsi, 400, msgbuf, NULL, NULL);
        goto done;
    }
    memset(&rq, 0, sizeof(rq));
    rq.op = VR_RPC_EMIT;
    rq.room = vr_mount_def(m)->schema->name;
    rq.instance = rp->instance;
    rq.to = &to;
    rq.frame = vr_event_frame(ev, msg, to.kind == VERANI_TO_CHANNEL ? to.name : NULL, &err);
    if (!rq.frame) {
        r = vr_api_error(srv, wsi, 500, "cannot encode the event", NULL, NULL);
        goto done;
    }
    r = run_answer(srv, wsi, slot, &rq, "delivered");
    vr_frame_unref(rq.frame);
done:
    vr_wire_payload_free(msg);
    vr_free(lists[0]);
    vr_free(lists[1]);
    return r;
}

/* A kick's code= : digits only, in the set a kick may close with (vr_rpc_kick_code_ok). */
static int kick_code(const char *s, int *code)
{
    size_t n = strspn(s, "0123456789");

    if (!n || n > 4 || s[n])
        return -1;
    *code = atoi(s);
    return vr_rpc_kick_code_ok(*code) ? 0 : -1;
}

static int do_kick(verani_server *srv, struct lws *wsi, struct vr_http_req **slot,
                   const vr_route_parts *rp)
{
    char client[64], code[16], reason[VERANI_CLOSE_REASON_MAX + 1];
    vr_rpc_req rq;
    int c = 0, n;

    n = vr_urlarg(wsi, "client", client, sizeof(client));
    if (n < -1)
        return arg_refused(srv, wsi, "client", n, sizeof(client));
    if (n <= 0)
        return vr_api_error(srv, wsi, 400, "kick needs ?client=<client id>", NULL, NULL);
    /* a code that is there but cannot be read or is not allowed kicks nobody: it never
     * falls back to the default 1008 */
    n = vr_urlarg(wsi, "code", code, sizeof(code));
    if (n == VERANI_EPROTO)
        return arg_refused(srv, wsi, "code", n, sizeof(code));
    if (n != -1 && (n < 0 || kick_code(code, &c)))
        return vr_api_error(srv, wsi, 400, "code must be 1000, 1001, 1008 or 3000..4999 (the "
                            "digits alone)", NULL, NULL);
    n = vr_urlarg(wsi, "reason", reason, sizeof(reason));
    if (n == VERANI_ETOOBIG) {
        snprintf(reason, sizeof(reason), "reason: longer than %d bytes, what a close frame "
                 "carries", VERANI_CLOSE_REASON_MAX);
        return vr_api_error(srv, wsi, 400, reason, NULL, NULL);
    }
    if (n < -1)
        return arg_refused(srv, wsi, "reason", n, sizeof(reason));
    if (n > 0 && !vr_close_reason_ok(reason)) /* not UTF-8: a browser fails the connection */
        return vr_api_error(srv, wsi, 400, "reason: not valid UTF-8, which a close frame's "
                            "reason must be", NULL, NULL);
    memset(&rq, 0, sizeof(rq));
    rq.op = VR_RPC_KICK;
    rq.room = rp->room;
    rq.instance = rp->instance;
    rq.name = client;
    rq.code = c;
    rq.reason = n == -1 ? "kicked" : reason;
    return run_answer(srv, wsi, slot, &rq, "kicked");
}

static int unknown_room(verani_server *srv, struct lws *wsi, const char *room)
{
    char why[200];

    snprintf(why, sizeof(why), "unknown room '%.100s': room names are the schema's (\"Chat\")",
             room);
    return vr_api_error(srv, wsi, 400, why, NULL, NULL);
}

/* A query the server answers whole (count, instances): GET only. */
static int answer_query(verani_server *srv, struct lws *wsi, struct vr_http_req **slot,
                        vr_method meth, vr_rpc_req *rq, const char *key)
{
    if (meth != M_GET)
        return vr_api_error(srv, wsi, 405, "use GET", "allow:", "GET");
    return run_answer(srv, wsi, slot, rq, key);
}

/* Answer a request whose body (if any) is complete. */
int vr_api_dispatch(verani_server *srv, struct lws *wsi, struct vr_http_req **slot,
                    const char *route, vr_method meth, const uint8_t *body, size_t len)
{
    vr_route_parts rp;
    vr_rpc_req rq;
    vr_mount *m;
    char why[400];
    int post, emit;

    memset(&rq, 0, sizeof(rq));
    if (!strcmp(route, "count") || !strcmp(route, "instances")) {
        rq.op = route[0] == 'c' ? VR_RPC_COUNT : VR_RPC_INSTANCES;
        return answer_query(srv, wsi, slot, meth, &rq, route);
    }
    switch (split_route(route, &rp)) {
    case 0:
        break;
    case -2:
        snprintf(why, sizeof(why), "a part of the path is longer than the API reads (room %zu "
                 "bytes, instance %zu, user id %d)", sizeof(rp.room) - 1,
                 sizeof(rp.instance) - 1, VERANI_USER_ID_MAX);
        return vr_api_error(srv, wsi, 414, why, NULL, NULL);
    default:
        snprintf(why, sizeof(why), "no such API route; %s", routes_help);
        return vr_api_error(srv, wsi, 404, why, NULL, NULL);
    }
    if (!strcmp(rp.action, "instances")) {
        if (!vr_mount_find(srv, rp.room))
            return unknown_room(srv, wsi, rp.room);
        rq.op = VR_RPC_INSTANCES;
        rq.room = rp.room;
        return answer_query(srv, wsi, slot, meth, &rq, "instances");
    }
        emit = !strcmp(rp.action, "emit") || !strcmp(rp.action, "broadcast");
    post = emit || !strcmp(rp.action, "kick");
    if (!post && strcmp(rp.action, "count") && strcmp(rp.action, "users") &&
        strcmp(rp.action, "sessions")) {
        snprintf(why, sizeof(why), "no API action '%.30s'; %s", rp.action, routes_help);
        return vr_api_error(srv, wsi, 404, why, NULL, NULL);
    }
    if (!!rp.rest[0] != (emit || !strcmp(rp.action, "sessions"))) {
        snprintf(why, sizeof(why), "malformed API route; %s", routes_help);
        return vr_api_error(srv, wsi, 404, why, NULL, NULL);
    }
    if (post && meth != M_POST)
        return vr_api_error(srv, wsi, 405, "use POST", "allow:", "POST");
    if (!post && meth != M_GET)
        return vr_api_error(srv, wsi, 405, "use GET", "allow:", "GET");
    m = vr_mount_find(srv, rp.room);
    if (!m)
        return unknown_room(srv, wsi, rp.room);
    /* "-" names the one instance (named "") of a room whose path has no {room}; in a room
     * with one, an instance may be named "-" itself */
    if (!strcmp(rp.instance, "-") && !vr_mount_has_placeholder(m))
        rp.instance[0] = '\0';
    if (emit && !emit_event(m, rp.rest))
        return do_emit(srv, wsi, slot, m, &rp, body, len); /* answers 400, naming the events */
    if (!vr_instance_exists(m, rp.instance) && !vr_server_clustered(srv)) {
        /* (in a cluster another node may serve it: it is asked) */
        snprintf(why, sizeof(why), "room %s has no instance '%.100s' (it exists while it has "
                 "sessions, then instance_idle_ms)", rp.room, rp.instance);
        return vr_api_error(srv, wsi, 404, why, NULL, NULL);
    }
    if (emit)
        return do_emit(srv, wsi, slot, m, &rp, body, len);
    if (!strcmp(rp.action, "kick"))
        return do_kick(srv, wsi, slot, &rp);
    rq.room = rp.room;
    rq.instance = rp.instance;
    if (!strcmp(rp.action, "count")) {
        rq.op = VR_RPC_COUNT;
        return run_answer(srv, wsi, slot, &rq, "count");
    }
    if (!strcmp(rp.action, "users")) {
        rq.op = VR_RPC_USERS;
        return run_answer(srv, wsi, slot, &rq, "users");
    }
    rq.op = VR_RPC_USER_SESSIONS;
    rq.name = rp.rest;
    return run_answer(srv, wsi, slot, &rq, "sessions");
}

int vr_api_serve_metrics(verani_server *srv, struct lws *wsi)
{
    struct vr_api *a = vr_api_of(srv);
    vr_sb sb;
    int r = 0;

    if (!a || !a->metrics_token)
        return vr_api_error(srv, wsi, 403, "metrics are off: no metrics token is configured "
                            "(verani_api_options.metrics_token or VERANI_METRICS_TOKEN)",
                            NULL, NULL);
    if (vr_api_check_token(srv, wsi, a->metrics_token, &r))
        return r;
    if (vr_api_method(wsi) != M_GET)
        return vr_api_error(srv, wsi, 405, "use GET", "allow:", "GET");
    memset(&sb, 0, sizeof(sb));
    vr_metrics_render(srv, &sb);
    return vr_api_answer_sb(srv, wsi, "text/plain; version=0.0.4; charset=utf-8", &sb);
}
