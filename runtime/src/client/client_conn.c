/* SPDX-License-Identifier: MIT */
/*
 * client_conn.c: the client's connection on libwebsockets: the protocol
 * callback, connecting (ws:// or wss://, extra headers, connect timeout),
 * the hello (what arrives is client_rx.c's), writing queued frames only in
 * WRITEABLE, keepalive pings, and what happens when a connection
 * ends (reconnect with backoff, or stop on a refusal, a server close with
 * 1000, 1001 or 1008, a disconnect or too many attempts: PROTOCOL.md section
 * 7); also verani_client_disconnect and verani_client_reconnect. A server
 * close the client cannot read (1006) counts as a lost connection like any
 * other: it reconnects, as after 1012 (the server restarts). It hands
 * replies and server errors to client_reqs.c and events to
 * client_events.c. Resume is the server's decision: the hello carries the
 * last resume token and sequence number, and the welcome says whether the
 * session resumed (on_recovery_failed when frames were lost); requests
 * written before a drop wait for that welcome (c_on_welcome).
 */
#include <stdio.h>
#include <string.h>

#include "client-int.h"
#include "core/core-private.h"
#include "wire/wire-private.h"

_Static_assert(LWS_PRE <= VR_FRAME_PRE, "VR_FRAME_PRE must cover LWS_PRE");

#define VR_CLOSE_NORMAL 1000
#define VR_CLOSE_GOING_AWAY 1001
#define VR_CLOSE_POLICY 1008
#define VR_CLOSE_ABNORMAL 1006
#define VR_CLOSE_MOVED 4003
#define VR_WRITES_PER_CALLBACK 32

static void c_lost(verani_client *c, int err, const char *what, int code, const char *reason);

static uint32_t c_random(verani_client *c)
{
    /* xorshift64*: only for jitter, seeded from lws_get_random. */
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return (uint32_t)((c->rng * 0x2545F4914F6CDD1DULL) >> 32);
}

/* --- frames ------------------------------------------------------------------- */

static uint8_t *cframe_alloc(size_t len, void *arg)
{
    vr_cframe **f = arg;

    *f = vr_cframe_new(len);
    return *f ? vr_cframe_data(*f) : NULL;
}

vr_cframe *vr_client_pack(Verani__Wire__Envelope *env, const ProtobufCMessage *msg)
{
    vr_cframe *f = NULL;

    return vr_wire_encode(env, msg, cframe_alloc, &f) ? NULL : f;
}

void vr_client_enqueue(verani_client *c, vr_cframe *f)
{
    vr_cframe *dropped = vr_cqueue_push(&c->outq, f, !c->welcomed), *next;

    if (dropped)
        VR_NOTICE("client %s: offline queue full (%zu), dropped the oldest frame(s)\n",
                  c->url, c->outq.max);
    for (; dropped; dropped = next) {
        vr_req *r = dropped->request_id ? vr_client_req_find(c, dropped->request_id) : NULL;

        next = dropped->next;
        vr_cframe_free(dropped);
        if (r) /* its frame will never go out */
            vr_client_req_finish(c, r, VERANI_REPLY_DISCONNECTED, NULL, NULL);
    }
    if (c->welcomed && c->wsi)
        lws_callback_on_writable(c->wsi);
}

int vr_client_send_room(verani_client *c, size_t len)
{
    if (!c->welcomed || !c->outq.len || c->outq.bytes + len <= c->max_send)
        return 0;
    vr_client_set_error(c, "%zu bytes wait to be written, the most max_send_bytes (%zu) allows: "
                        "the application sends faster than the connection takes; try again once "
                        "the queue has drained (verani_client_get_info: queued)",
                        c->outq.bytes, c->max_send);
    return VERANI_EFULL;
}

static int c_write(struct lws *wsi, unsigned char *data, size_t len)
{
    int n = lws_write(wsi, data, len, LWS_WRITE_BINARY);

    return n < 0 || (size_t)n < len ? -1 : 0;
}

/* Write a small control envelope (hello, ping, pong). */
static int c_write_ctl(verani_client *c, struct lws *wsi, Verani__Wire__Envelope *env)
{
    vr_cframe *f = vr_client_pack(env, NULL);
    int r;

    if (!f) {
        vr_client_set_error(c, "out of memory writing a control frame");
        return -1;
    }
    r = c_write(wsi, vr_cframe_data(f), f->len);
    vr_cframe_free(f);
    return r;
}

/* Whether anything waits to be written: hello, a ping, or (welcomed) queued frames. */
static int c_wants_write(const verani_client *c)
{
    return c->hello_pending || c->ping_pending ||
           (c->welcomed && c->outq.head);
}

static int c_writeable(verani_client *c, struct lws *wsi)
{
    int n = 0;

    while (n++ < VR_WRITES_PER_CALLBACK && !lws_send_pipe_choked(wsi) && c_wants_write(c)) {
        Verani__Wire__Envelope env = VERANI__WIRE__ENVELOPE__INIT;
        Verani__Wire__Hello hello = VERANI__WIRE__HELLO__INIT;

        if (c->hello_pending) {
            hello.has_protocol = 1;
            hello.protocol = VR_WIRE_PROTOCOL;
            hello.fingerprint = (char *)(c->room->fingerprint ? c->room->fingerprint : "");
            if (c->resume_token) {
                hello.resume_token = c->resume_token;
                hello.has_last_seq = 1;
                hello.last_seq = c->last_seq;
                hello.epoch = c->epoch;
            }
            env.kind = VERANI__WIRE__KIND__HELLO;
            env.hello = &hello;
            c->hello_pending = 0;
        } else if (c->ping_pending) {
            env.kind = VERANI__WIRE__KIND__PING;
            c->ping_pending = 0;
        } else {
            vr_cframe *f = vr_cqueue_pop(&c->outq);
            vr_req *r = f->request_id ? vr_client_req_find(c, f->request_id) : NULL;
            int w = c_write(wsi, vr_cframe_data(f), f->len);

            vr_cframe_free(f);
            /* The frame left the queue: even when the write failed, the request now
             * belongs to this connection, and its fate to the session's (c_on_welcome). */
            if (r) {
                r->sent = 1;
                r->conn = c->conn_id;
            }
            if (w)
                return -1;
            continue;
        }
        env.has_kind = 1;
        if (c_write_ctl(c, wsi, &env))
            return -1;
    }
    if (c_wants_write(c))
        lws_callback_on_writable(wsi);
    return 0;
}

/* --- keepalive ------------------------------------------------------------------- */

static void c_ping_cb(lws_sorted_usec_list_t *sul);
static void c_pong_cb(lws_sorted_usec_list_t *sul);

void vr_client_arm_ping(verani_client *c)
{
    if (!c->ping_interval_ms)
        return;
    lws_sul_schedule(vr_loop_lws(c->loop), 0, &c->sul_ping, c_ping_cb,
                     (lws_usec_t)c->ping_interval_ms * LWS_US_PER_MS);
}

static void c_ping_cb(lws_sorted_usec_list_t *sul)
{
    verani_client *c = lws_container_of(sul, verani_client, sul_ping);

    if (!c->welcomed || !c->wsi)
        return;
    c->ping_pending = 1;
    c->awaiting_pong = 1;
    c->rx_since_ping = 0;
    lws_callback_on_writable(c->wsi);
    lws_sul_schedule(vr_loop_lws(c->loop), 0, &c->sul_pong, c_pong_cb,
                     (lws_usec_t)c->pong_timeout_ms * LWS_US_PER_MS);
}

/* Detach the current connection from the client and close it. */
void vr_client_detach(verani_client *c, int close_code, const char *reason)
{
    struct lws *w = c->wsi;

    c->wsi = NULL;
    c->wsi_live = 0;
    if (!w)
        return;
    lws_set_opaque_user_data(w, NULL);
    if (c->established && close_code) {
        lws_close_reason(w, (enum lws_close_status)close_code, (unsigned char *)reason,
                         strlen(reason));
        lws_callback_on_writable(w); /* the detached wsi returns -1 there: close sent */
    } else {
        lws_set_timeout(w, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}

/* A timer gave up on the current connection: drop it (no close frame) and
 * go on as for any lost connection. From a timer, so it enters the client. */
static void c_timed_out(verani_client *c, const char *what, const char *reason)
{
    vr_client_enter(c);
    vr_client_detach(c, 0, NULL);
    c_lost(c, VERANI_ETIMEDOUT, what, VR_CLOSE_ABNORMAL, reason);
    vr_client_leave(c);
}

static void c_pong_cb(lws_sorted_usec_list_t *sul)
{
    verani_client *c = lws_container_of(sul, verani_client, sul_pong);

    c->awaiting_pong = 0;
    if (!c->welcomed || !c->wsi)
        return;
    if (c->rx_since_ping) {
        /* The pong is late but the peer is talking: it is alive. */
        vr_client_arm_ping(c);
        return;
    }
    VR_NOTICE("client %s: no pong within %u ms, reconnecting\n", c->url,
              c->pong_timeout_ms);
    c_timed_out(c, "no pong from the server in time", "pong timeout");
}

/* --- connection lifecycle ------------------------------------------------------ */

static void c_connect_timeout_cb(lws_sorted_usec_list_t *sul)
{
    verani_client *c = lws_container_of(sul, verani_client, sul_connect);

    if (c->welcomed || !c->wsi_live)
        return;
    c_timed_out(c, "connection timed out", "connect timeout");
}

static void c_retry_cb(lws_sorted_usec_list_t *sul)
{
    verani_client *c = lws_container_of(sul, verani_client, sul_retry);

    if (c->state != VERANI_CLIENT_RECONNECTING)
        return;
    vr_client_enter(c);
    vr_client_connect(c);
    vr_client_leave(c);
}

/* No more reconnection: `st` is DISCONNECTED or ERROR. */
static void c_terminal(verani_client *c, verani_client_state st)
{
    lws_sul_cancel(&c->sul_retry);
    vr_client_fail_all(c, VERANI_REPLY_DISCONNECTED);
    vr_client_set_state(c, st);
}

void vr_client_cancel_timers(verani_client *c)
{
    lws_sul_cancel(&c->sul_retry);
    lws_sul_cancel(&c->sul_connect);
    lws_sul_cancel(&c->sul_ping);
    lws_sul_cancel(&c->sul_pong);
}

/*
 * The current connection has ended, whatever the reason (it is detached
 * already): forget its state, fail the requests written on it unless the
 * session may resume (a token, and not closed by the user with 1000), report
 * `err`/`what` to on_error when err != 0 and `code`/`reason` to on_close
 * when the upgrade had succeeded. Reconnecting is the caller's decision.
 */
void vr_client_conn_end(verani_client *c, int err, const char *what, int code,
                        const char *reason)
{
    int was_established = c->established;

    lws_sul_cancel(&c->sul_connect);
    lws_sul_cancel(&c->sul_ping);
    lws_sul_cancel(&c->sul_pong);
    c->wsi = NULL;
    c->wsi_live = 0;
    c->established = c->welcomed = 0;
    c->hello_pending = c->ping_pending = c->awaiting_pong = 0;
    c->rx_len = 0;
    c->rx_in_msg = 0;
    c->replay_pending = 0;

    /* With a token the next hello asks to resume, and a resumed session replays the REPLYs
     * of what was written here: those requests wait for the welcome (c_on_welcome). */
    if (!c->resume_token || c->user_closed)
        vr_client_fail_sent(c, c->conn_id + 1);
    if (err && !c->destroyed)
        vr_client_error(c, err, "%s", what);
    if (was_established && !c->destroyed)
        vr_client_fire(c, VR_CB_CLOSE, code, 0, reason);
}

/*
 * A 4003 "moved <url>" (PROTOCOL.md section 7): the room instance is served by
 * another node of a cluster, at <url>. The next attempt goes there (the client's own
 * path and query after the URL's), at once for the first move in a row; a URL that is
 * not ws:// or wss://, or that would drop TLS, is not followed (the next attempt goes to
 * the client's URL, where the server redirects it again). Returns the delay to use.
 */
static uint32_t c_moved(verani_client *c, const char *reason, uint32_t delay)
{
    const char *url = !strncmp(reason, "moved ", 6) ? reason + 6 : "";

    vr_free(c->moved_url);
    c->moved_url = NULL;
    if ((!strncmp(url, "wss://", 6) || (!c->tls && !strncmp(url, "ws://", 5))) &&
        !strchr(url, ' ')) {
        c->moved_url = vr_strdup(url);
        VR_INFO("client %s: the room instance moved to %s\n", c->url, url);
    } else if (*url) {
        VR_WARN("client %s: not following a move to \"%s\" (not ws:// or wss://, or it "
                "drops TLS)\n", c->url, url);
    }
    return c->moves++ == 0 && c->moved_url ? 0 : delay;
}

/*
 * The current connection is gone (closed by either side, failed, or timed
 * out; already detached): vr_client_conn_end with the same arguments, then retry
 * with backoff unless a callback acted, the server refused us or closed
 * with 1008 (ERROR), closed with 1000 or 1001 (the server ended the session:
 * DISCONNECTED), reconnection is off (DISCONNECTED) or the attempts are used
 * up (ERROR). An unreadable close (1006) is retried like any other.
 */
static void c_lost(verani_client *c, int err, const char *what, int code, const char *reason)
{
    uint32_t retry_after = c->retry_after_ms; /* this loss's answer's alone, never a later one's */

    c->retry_after_ms = 0;
    vr_client_conn_end(c, err, what, code, reason);
    if (c->destroyed || c->wsi_live || c->user_closed)
        return; /* a callback reconnected, disconnected or destroyed it */
    if (c->state == VERANI_CLIENT_DISCONNECTED || c->state == VERANI_CLIENT_ERROR)
        return;

    if (c->rx_too_big) {
        /* A resume would be sent the same frame again (it is in the session's window), a
         * new session may be too: the application has to raise the limit. */
        c->rx_too_big = 0;
        vr_client_error(c, VERANI_ETOOBIG, "a message from the server is over max_rx_frame "
                        "(%u bytes): not reconnecting, since the server would send it again; "
                        "raise max_rx_frame", c->max_rx);
        VR_NOTICE("client %s: %s\n", c->url, c->last_error);
        c_terminal(c, VERANI_CLIENT_ERROR);
        return;
    }
    if (code == VR_CLOSE_POLICY || c->refused) {
        if (c->refused) /* vr_client_conn_end told on_error already */
            vr_client_set_error(c, "refused by the server: %s", what ? what : "");
        else
            vr_client_error(c, VERANI_EDENIED, "closed by the server with 1008 (%s)",
                            reason ? reason : "");
        if (c->destroyed || c->wsi_live || c->user_closed)
            return; /* on_error destroyed, reconnected or disconnected it */
        VR_NOTICE("client %s: %s: not reconnecting\n", c->url, c->last_error);
        c_terminal(c, VERANI_CLIENT_ERROR);
        return;
    }
    if (code == VR_CLOSE_NORMAL || code == VR_CLOSE_GOING_AWAY) {
        VR_NOTICE("client %s: closed by the server with %d (%s): not reconnecting\n", c->url,
                  code, reason ? reason : "");
        c_terminal(c, VERANI_CLIENT_DISCONNECTED);
        return;
    }
    if (c->reconnect_disabled) {
        c_terminal(c, VERANI_CLIENT_DISCONNECTED);
        return;
    }
    if (c->max_attempts != VERANI_CLIENT_UNLIMITED && c->attempts >= c->max_attempts) {
        VR_NOTICE("client %s: %u reconnect attempts failed: giving up\n", c->url,
                  c->attempts);
        vr_client_set_error(c, "gave up after %u reconnect attempts", c->attempts);
        c_terminal(c, VERANI_CLIENT_ERROR);
        return;
    }
    c->attempts++;
    {
        uint32_t ms = vr_backoff_delay(&c->bo, c->attempts, c_random(c));

        /* a 503 or 429 that says when to come back: not sooner (nor later than max_delay) */
        if (retry_after > ms)
            ms = retry_after < c->bo.max_ms ? retry_after : c->bo.max_ms;
        if (code == VR_CLOSE_MOVED)
            ms = c_moved(c, reason ? reason : "", ms);

        VR_INFO("client %s: reconnect attempt %u in %u ms\n", c->url, c->attempts, ms);
        vr_client_set_state(c, VERANI_CLIENT_RECONNECTING);
        if (c->destroyed || c->state != VERANI_CLIENT_RECONNECTING)
            return;
        lws_sul_schedule(vr_loop_lws(c->loop), 0, &c->sul_retry, c_retry_cb,
                         (lws_usec_t)ms * LWS_US_PER_MS);
    }
}

/* The host, port and path (the URL's path, then `own`: the client's path and query) of a
 * ws:// or wss:// URL. 0, or -1 when it cannot be parsed or does not fit. */
static int c_target(const char *url, const char *own, char *host, size_t hlen, int *port,
                    char *path, size_t plen, int *tls)
{
    char copy[256];
    const char *prot = NULL, *ads = NULL, *p = NULL;
    size_t n;

    if (snprintf(copy, sizeof(copy), "%s", url) >= (int)sizeof(copy) ||
        lws_parse_uri(copy, &prot, &ads, port, &p) || !ads || !*ads)
        return -1;
    *tls = !strcmp(prot, "wss");
    if (!*tls && strcmp(prot, "ws"))
        return -1;
    n = strlen(p ? p : "");
    while (n && p[n - 1] == '/')
        n--;
    if (snprintf(host, hlen, "%s", ads) >= (int)hlen ||
        snprintf(path, plen, "%s%.*s%s", n ? "/" : "", (int)n, p ? p : "", own) >= (int)plen)
        return -1;
    return 0;
}

/*
 * The path of this attempt: the client's own, with the HELLO folded into the upgrade
 * (?hello=, PROTOCOL.md section 3) when the attempt asks for a fresh session, so the WELCOME
 * follows the 101 without a round trip more; written into `out`. A resume's HELLO carries the
 * resume token, which is not to be written into a URL (proxies log them): it goes as the first
 * frame, and so does any HELLO whose path would not fit `out`. *folded says which.
 */
static const char *c_fold_hello(const verani_client *c, char *out, size_t len, int *folded)
{
    Verani__Wire__Hello hello = VERANI__WIRE__HELLO__INIT;
    uint8_t b[128];
    char enc[VR_FOLDED_HELLO_MAX + 1];
    size_t n;

    *folded = 0;
    if (c->resume_token)
        return c->path;
    hello.has_protocol = 1;
    hello.protocol = VR_WIRE_PROTOCOL;
    hello.fingerprint = (char *)(c->room->fingerprint ? c->room->fingerprint : "");
    n = verani__wire__hello__get_packed_size(&hello);
    if (n > sizeof(b))
        return c->path;
    verani__wire__hello__pack(&hello, b);
    n = vr_b64url_encode(enc, sizeof(enc), b, n);
    if (!n || snprintf(out, len, "%s%shello=%s", c->path, strchr(c->path, '?') ? "&" : "?",
                       enc) >= (int)len)
        return c->path;
    *folded = 1;
    return out;
}

void vr_client_connect(verani_client *c)
{
    struct lws_client_connect_info i;
    char mv_host[256], mv_hosthdr[280], mv_path[1024], path[1024], *moved;
    int mv_tls = 0, folded;
    struct lws *w;

    lws_sul_cancel(&c->sul_retry);
    c->user_closed = 0;
    c->refused = 0;
    c->rx_too_big = 0;
    c->peer_close_code = 0;
    c->peer_close_reason[0] = '\0';
    c->conn_id++;
    vr_client_set_state(c, VERANI_CLIENT_CONNECTING);
    if (c->destroyed || c->state != VERANI_CLIENT_CONNECTING || c->wsi_live)
        return;

    memset(&i, 0, sizeof(i));
    i.context = vr_loop_lws(c->loop);
    i.vhost = c->vh;
    i.address = c->host;
    i.port = c->port;
    i.path = c_fold_hello(c, path, sizeof(path), &folded);
    c->hello_pending = !folded;
    i.host = c->host_header;
    i.origin = c->host_header;
    /* a move (4003) names where this attempt goes; lws copies what it is given */
    moved = c->moved_url;
    c->moved_url = NULL;
    if (moved && c_target(moved, i.path, mv_host, sizeof(mv_host), &i.port, mv_path,
                          sizeof(mv_path), &mv_tls) == 0 && mv_tls == c->tls) {
        i.address = mv_host;
        i.path = mv_path;
        snprintf(mv_hosthdr, sizeof(mv_hosthdr), "%s:%d", mv_host, i.port);
        i.host = i.origin = mv_hosthdr;
    }
    vr_free(moved);
    i.ietf_version_or_minus_one = -1;
    i.local_protocol_name = "verani-client";
    i.opaque_user_data = c;
    if (c->tls) {
        i.ssl_connection = LCCSCF_USE_SSL;
        if (c->insecure)
            i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
    c->wsi_live = 1;
    c->wsi = NULL;
    lws_sul_schedule(i.context, 0, &c->sul_connect, c_connect_timeout_cb,
                     (lws_usec_t)c->connect_timeout_ms * LWS_US_PER_MS);
    w = lws_client_connect_via_info(&i);
    if (!c->wsi_live)
        return; /* it failed inside the call and c_lost ran already */
    if (!w) {
        c->wsi_live = 0;
        c_lost(c, VERANI_EIO, "cannot start the connection", VR_CLOSE_ABNORMAL, "");
        return;
    }
    c->wsi = w;
}

/* --- the lws protocol callback -------------------------------------------------- */

static int c_http_refused(int status)
{
    return status >= 400 && status < 500 && status != 408 && status != 429;
}

/* The answer's Retry-After in ms when it is delta-seconds between optional blanks (an
 * HTTP-date is not read), else 0; at most a day. */
static uint32_t c_retry_after(struct lws *wsi)
{
    char v[32];
    uint32_t s = 0;
    int n = lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP_RETRY_AFTER), i = 0, digits = 0;

    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++, digits++)
        if (s < 86400)
            s = s * 10 + (uint32_t)(v[i] - '0');
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    if (!digits || i < n)
        return 0;
    return (s < 86400 ? s : 86400) * 1000u;
}

int vr_client_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                           void *in, size_t len)
{
    verani_client *c;
    int ret = 0;

    (void)user;
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        verani_client_loop *loop = lws_context_user(lws_get_context(wsi));

        if (loop)
            vr_loop_on_cancel(loop);
        return 0;
    }
    c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    if (!c) {
        /* A connection the client has detached (closing), or a vhost-level call. */
        return reason == LWS_CALLBACK_CLIENT_WRITEABLE ? -1 : 0;
    }

    vr_client_enter(c);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = (unsigned char **)in, *end = (*p) + len;
        size_t i;

        /* a cluster's node may answer 307 to the owner of the room instance: lws follows */
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)"x-verani-redirects:",
                                        (const unsigned char *)"follow", 6, p, end)) {
            ret = -1;
            break;
        }
        for (i = 0; i < c->n_headers; i++) {
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)c->hdr_names[i],
                                            (const unsigned char *)c->hdr_values[i],
                                            (int)strlen(c->hdr_values[i]), p, end)) {
                vr_client_set_error(c, "extra headers do not fit in the upgrade request");
                ret = -1;
                break;
            }
        }
        break;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->wsi = wsi;
        c->established = 1;
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        ret = vr_client_receive(c, wsi, in, len);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        ret = c_writeable(c, wsi);
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *b = in;
            size_t rl = len - 2 < sizeof(c->peer_close_reason) - 1
                            ? len - 2 : sizeof(c->peer_close_reason) - 1;

            c->peer_close_code = (b[0] << 8) | b[1];
            memcpy(c->peer_close_reason, b + 2, rl);
            c->peer_close_reason[rl] = '\0';
            /* lws 4.1 turned the server's 1012 into 1002 before this callback */
            if (c->peer_close_code == 1002 &&
                !strcmp(c->peer_close_reason, VR_CLOSE_RESTART_REASON))
                c->peer_close_code = 1012;
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        int status = (int)lws_http_client_http_response(wsi);
        char what[200];

        lws_set_opaque_user_data(wsi, NULL);
        if (c_http_refused(status))
            c->refused = 1;
        c->retry_after_ms = status == 503 || status == 429 ? c_retry_after(wsi) : 0;
        if (status)
            snprintf(what, sizeof(what), "connection failed: %s (HTTP %d)",
                     in ? (const char *)in : "", status);
        else
            snprintf(what, sizeof(what), "connection failed: %s", in ? (const char *)in : "");
        c_lost(c, c->refused ? VERANI_EDENIED : VERANI_EIO, what, VR_CLOSE_ABNORMAL,
               "connection failed");
        break;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY: {
        int code = c->peer_close_code ? c->peer_close_code : VR_CLOSE_ABNORMAL;
        char reason_buf[sizeof(c->peer_close_reason)];

        lws_set_opaque_user_data(wsi, NULL);
        memcpy(reason_buf, c->peer_close_reason, sizeof(reason_buf));
        c_lost(c, 0, NULL, code, c->peer_close_code ? reason_buf : "connection lost");
        break;
    }
    default:
        break;
    }
    vr_client_leave(c);
    return ret;
}

/* --- the public calls (each body runs on the loop's thread) -------------------------- */

/* The user ends the current connection: close it with 1000 and `why`, and
 * no automatic retry from this close. */
static void c_user_close(verani_client *c, const char *why)
{
    c->user_closed = 1;
    vr_client_detach(c, LWS_CLOSE_STATUS_NORMAL, why);
    vr_client_conn_end(c, 0, NULL, LWS_CLOSE_STATUS_NORMAL, why);
}

static int c_disconnect_body(void *arg)
{
    verani_client *c = arg;

    if (c->destroyed)
        return VERANI_ECLOSED;
    vr_client_enter(c);
    lws_sul_cancel(&c->sul_retry);
    c_user_close(c, "client disconnect");
    if (!c->destroyed)
        c_terminal(c, VERANI_CLIENT_DISCONNECTED);
    vr_client_leave(c);
    return 0;
}

int verani_client_disconnect(verani_client *c)
{
    if (!c)
        return VERANI_EINVAL;
    return vr_loop_call(c->loop, c_disconnect_body, c);
}

static int c_reconnect_body(void *arg)
{
    verani_client *c = arg;

    if (c->destroyed)
        return VERANI_ECLOSED;
    vr_client_enter(c);
    if (c->wsi_live)
        c_user_close(c, "client reconnect");
    if (!c->destroyed) {
        c->attempts = 0;
        vr_client_connect(c);
    }
    vr_client_leave(c);
    return 0;
}

int verani_client_reconnect(verani_client *c)
{
    if (!c)
        return VERANI_EINVAL;
    return vr_loop_call(c->loop, c_reconnect_body, c);
}

