/* SPDX-License-Identifier: MIT */
/*
 * lws_cb.c: the one libwebsockets protocol callback, which serves both HTTP
 * (plain answers, the HTTP API, static files) and WebSocket (upgrade,
 * sessions, writes, close), and the accounting of sockets: every accepted
 * socket counted from adoption to destruction, max_connections and the
 * descriptor limit enforced at accept (pausing the listening socket), and the
 * handshake deadline of those that are not sessions yet.
 */
#include <stdio.h>
#include <string.h>

#include "api/api-private.h"
#include "core/core-private.h"
#include "server-int.h"

/* While accepting is paused for want of room, the listening socket is tried again this often
 * (one accept at most, closed at once when there is still no room: never a busy loop), and a
 * refusal is logged at most this often. */
#define VR_ACCEPT_RETRY_US (1000 * LWS_US_PER_MS)
#define VR_REFUSED_LOG_US (10000 * LWS_US_PER_MS)

/* --- sockets: limits, and deadlines for those that are not sessions ----------- */

/* The opaque user data of an accepted socket: its vr_sock until it is a session, then the
 * session's address with the low bit set (a session is at least 8-byte aligned), and the
 * bit alone once the session is gone: never NULL, so that the socket is counted until
 * WSI_DESTROY. */
#define SOCK_SESSION ((uintptr_t)1)

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
    uintptr_t o = (uintptr_t)lws_get_opaque_user_data(wsi);

    return o & SOCK_SESSION ? NULL : (vr_sock *)o;
}

verani_session *vr_wsi_session(struct lws *wsi)
{
    uintptr_t o = (uintptr_t)lws_get_opaque_user_data(wsi);

    return o & SOCK_SESSION ? (verani_session *)(o & ~SOCK_SESSION) : NULL;
}

void vr_wsi_session_forget(struct lws *wsi)
{
    lws_set_opaque_user_data(wsi, (void *)SOCK_SESSION);
}

/* The slot of the socket's HTTP API request (api/http_api.c), NULL when not a loose socket. */
static struct vr_http_req **sock_http(struct lws *wsi)
{
    vr_sock *k = sock_of(wsi);

    return k ? &k->http : NULL;
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

/* Forget the vr_sock of a socket, and what it holds. */
static void sock_free(vr_sock *k)
{
    lws_dll2_remove(&k->node);
    vr_http_api_drop(&k->http);
    vr_free(k);
}

/* The socket is session `s` now: the session's own timeouts bound it (sweep.c). */
static void sock_session_begins(struct lws *wsi, verani_session *s)
{
    vr_sock *k = sock_of(wsi);

    if (k)
        sock_free(k);
    lws_set_opaque_user_data(wsi, (void *)((uintptr_t)s | SOCK_SESSION));
}

static void sock_gone(verani_server *srv, struct lws *wsi)
{
    vr_sock *k = sock_of(wsi);

    if (!lws_get_opaque_user_data(wsi))
        return; /* not an accepted socket: the listener, lws's event pipe */
    if (k)
        sock_free(k);
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

int vr_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *cx = lws_get_context(wsi);
    verani_server *srv = cx ? lws_context_user(cx) : NULL;
    verani_session *s;
    Verani__Wire__Hello *hello;

    (void)user; /* no per-connection user data: the opaque user data serves (above) */
    if (!srv)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: /* `wsi` is the listener */
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
            return vr_http_api_request(srv, wsi, sock_http(wsi), (const char *)in);
        return vr_http_serve(srv, wsi, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_FILE_COMPLETION: /* a static file (opts.static_dir) was sent */
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE: /* an API answer that other nodes of a cluster gave */
        return vr_http_api_writable(srv, wsi, sock_http(wsi));
    case LWS_CALLBACK_HTTP_BODY:
        return vr_http_api_body(srv, wsi, sock_http(wsi), in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return vr_http_api_body_done(srv, wsi, sock_http(wsi));
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        vr_http_api_drop(sock_http(wsi));
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        if (!in || strcmp((const char *)in, "websocket"))
            return vr_http_answer(wsi, 400, "only WebSocket upgrades are supported\n", 0) ? -1 : 1;
        {
            int r = vr_upgrade_confirm(srv, wsi);

            if (r)
                srv->metrics.upgrades_refused++;
            return r;
        }
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return srv->pending.wsi == wsi && srv->pending.inst ? 0 : 1;
    case LWS_CALLBACK_ESTABLISHED:
        if (srv->pending.wsi != wsi || !srv->pending.inst)
            return -1;
        s = vr_session_new(srv, wsi, &srv->pending);
        hello = srv->pending.hello; /* the session's from here, or freed */
        srv->pending.hello = NULL;
        vr_pending_drop(&srv->pending);
        if (!s) {
            verani__wire__hello__free_unpacked(hello, &vr_pb_allocator);
            return -1;
        }
        sock_session_begins(wsi, s);
        vr_owner_hold(s); /* a cluster: until this node owns the instance */
        if (s->json && !s->closing && lws_dll2_is_detached(&s->node))
            vr_session_json_open(s); /* no HELLO on Verani's wire: it begins now */
        else if (hello)
            vr_session_fold_hello(s, hello); /* the upgrade's ?hello=: read now, or once held
                                                no more */
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!(s = vr_wsi_session(wsi)))
            return -1;
        srv->metrics.bytes_in += len;
        srv->metrics.frames_in += (unsigned)lws_is_final_fragment(wsi);
        return vr_session_rx(s, in, len, lws_frame_is_binary(wsi),
                             lws_is_first_fragment(wsi), lws_is_final_fragment(wsi));
    case LWS_CALLBACK_RECEIVE_PONG:
        if ((s = vr_wsi_session(wsi)))
            vr_session_heard(s);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return (s = vr_wsi_session(wsi)) ? vr_session_writable(s) : -1;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if ((s = vr_wsi_session(wsi)))
            return vr_session_peer_close(s, in && len >= 2 ? ((const uint8_t *)in)[0] << 8 |
                                                             ((const uint8_t *)in)[1]
                                                           : 1005) ? -1 : 0;
        return 0;
    case LWS_CALLBACK_CLOSED:
        if ((s = vr_wsi_session(wsi))) {
            vr_wsi_session_forget(wsi);
            vr_session_closed(s);
        }
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        vr_server_woken(srv);
        vr_rpc_drain(srv);
        vr_workers_complete(srv);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        sock_gone(srv, wsi);
        /* an upgrade accepted at CONFIRM_UPGRADE that lws then failed */
        if (srv->pending.wsi == wsi)
            vr_pending_drop(&srv->pending);
        return 0;
    default:
        return 0;
    }
}
