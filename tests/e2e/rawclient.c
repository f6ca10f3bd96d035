/* SPDX-License-Identifier: MIT */
/*
 * rawclient.c: the envelope-level test client of rawclient.h. WebSocket
 * connections go through a libwebsockets client context on the calling
 * thread; bare-TCP helpers write hand-made bytes for peers that misbehave
 * below the WebSocket layer. Test code only.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "cleanup.h"
#include "deadline.h"
#include "rawclient.h"

struct rc_loop {
    struct lws_context *ctx;
    int tls;                 /* connect with TLS, accepting a self-signed certificate */
    lws_sorted_usec_list_t tick;
    rc_conn **conns;
    size_t n_conns, cap_conns;
};

static void keep_env(rc_conn *c, rc_env *env)
{
    if (!c->keep) {
        verani__wire__envelope__free_unpacked(env, NULL);
        return;
    }
    if (c->n_rx == c->cap_rx) {
        c->cap_rx = c->cap_rx ? c->cap_rx * 2 : 16;
        c->rx = realloc(c->rx, c->cap_rx * sizeof(*c->rx));
    }
    c->rx[c->n_rx++] = env;
}

/* A text message (the JSON wire's): kept as a NUL-terminated copy. */
static void keep_text(rc_conn *c, const unsigned char *buf, size_t len)
{
    char *t = malloc(len + 1);

    if (!t)
        return;
    memcpy(t, buf, len);
    t[len] = '\0';
    if (c->n_texts == c->cap_texts) {
        c->cap_texts = c->cap_texts ? c->cap_texts * 2 : 16;
        c->texts = realloc(c->texts, c->cap_texts * sizeof(*c->texts));
    }
    c->texts[c->n_texts++] = t;
}

static void on_message(rc_conn *c, const unsigned char *buf, size_t len, int binary)
{
    rc_env *env;

    if (!binary) {
        keep_text(c, buf, len);
        return;
    }
    env = verani__wire__envelope__unpack(NULL, len, buf);
    if (!env) {
        c->bad_frames++;
        return;
    }
    if (env->has_seq) {
        if (env->seq != c->last_seq + 1)
            c->seq_errors++;
        c->last_seq = env->seq;
    }
    switch (env->kind) {
    case VERANI__WIRE__KIND__WELCOME:
        c->welcomed = 1;
        if (env->welcome && env->welcome->client_id)
            snprintf(c->client_id, sizeof(c->client_id), "%s", env->welcome->client_id);
        if (env->welcome && env->welcome->user_id)
            snprintf(c->user_id, sizeof(c->user_id), "%s", env->welcome->user_id);
        break;
    case VERANI__WIRE__KIND__EVENT:
        c->n_events++;
        break;
    case VERANI__WIRE__KIND__ERROR:
        c->n_errors++;
        break;
    case VERANI__WIRE__KIND__REPLY:
        c->n_replies++;
        break;
    default:
        break;
    }
    keep_env(c, env);
}

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
              size_t len)
{
    rc_conn *c = lws_get_opaque_user_data(wsi);

    (void)user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = in, *end = *p + len;

        if (c && c->extra_header_name &&
            lws_add_http_header_by_name(wsi, (const unsigned char *)c->extra_header_name,
                                        (const unsigned char *)c->extra_header_value,
                                        (int)strlen(c->extra_header_value), p, end))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!c)
            return -1;
        c->established = 1;
        if (c->auto_hello)
            rc_send_hello(c, NULL);
        if (c->out_head)
            lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (!c)
            return -1;
        if (lws_is_first_fragment(wsi)) {
            c->acc_len = 0;
            c->acc_binary = lws_frame_is_binary(wsi);
        }
        if (lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi)) {
            on_message(c, in, len, c->acc_binary);
            return 0;
        }
        if (c->acc_len + len > c->acc_cap) {
            c->acc_cap = (c->acc_len + len) * 2;
            c->acc = realloc(c->acc, c->acc_cap);
        }
        memcpy(c->acc + c->acc_len, in, len);
        c->acc_len += len;
        if (lws_is_final_fragment(wsi)) {
            on_message(c, c->acc, c->acc_len, c->acc_binary);
            c->acc_len = 0;
        }
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        rc_out *o;

        if (!c || !c->out_head)
            return 0;
        o = c->out_head;
        c->out_head = o->next;
        if (!c->out_head)
            c->out_tail = NULL;
        if (lws_write(wsi, o->data + LWS_PRE, o->len, o->text ? LWS_WRITE_TEXT
                                                              : LWS_WRITE_BINARY) < (int)o->len) {
            free(o);
            return -1;
        }
        free(o);
        if (c->out_head)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c && len >= 2) {
            const unsigned char *b = in;

            c->close_code = (b[0] << 8) | b[1];
            snprintf(c->close_reason, sizeof(c->close_reason), "%.*s", (int)(len - 2),
                     (const char *)b + 2);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c) {
            c->connect_failed = 1;
            c->closed = 1;
            c->wsi = NULL;
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c) {
            c->closed = 1;
            c->wsi = NULL;
        }
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"rc", cb, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void tick(lws_sorted_usec_list_t *sul)
{
    rc_loop *l = lws_container_of(sul, rc_loop, tick);

    lws_sul_schedule(l->ctx, 0, &l->tick, tick, 20 * LWS_US_PER_MS);
}

static void loop_undo(void *l)
{
    rc_loop_destroy(l);
}

rc_loop *rc_loop_create(void)
{
    struct lws_context_creation_info info;
    rc_loop *l = calloc(1, sizeof(*l));

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.timeout_secs = 10;
    info.options = LWS_SERVER_OPTION_JUST_USE_RAW_ORIGIN | /* send Origin as given */
                   LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    l->ctx = lws_create_context(&info);
    if (!l->ctx) {
        free(l);
        return NULL;
    }
    lws_sul_schedule(l->ctx, 0, &l->tick, tick, 20 * LWS_US_PER_MS);
    cu_push(loop_undo, l);
    return l;
}

static void conn_free(rc_conn *c)
{
    rc_clear(c);
    free(c->rx);
    free(c->texts);
    free(c->acc);
    while (c->out_head) {
        rc_out *n = c->out_head->next;

        free(c->out_head);
        c->out_head = n;
    }
    free(c);
}

void rc_loop_destroy(rc_loop *l)
{
    size_t i;

    if (!l)
        return;
    cu_drop(l);
    lws_sul_cancel(&l->tick);
    for (i = 0; i < l->n_conns; i++)
        if (l->conns[i]->wsi)
            lws_set_opaque_user_data(l->conns[i]->wsi, NULL);
    lws_context_destroy(l->ctx);
    for (i = 0; i < l->n_conns; i++)
        conn_free(l->conns[i]);
    free(l->conns);
    free(l);
}

rc_conn *rc_connect_ex(rc_loop *l, int port, const char *path, int auto_hello,
                       const char *hdr_name, const char *hdr_value, const char *origin)
{
    struct lws_client_connect_info i;
    rc_conn *c = calloc(1, sizeof(*c));

    c->loop = l;
    c->auto_hello = auto_hello;
    c->keep = 1;
    c->extra_header_name = hdr_name;
    c->extra_header_value = hdr_value;
    c->origin = origin;
    if (l->n_conns == l->cap_conns) {
        l->cap_conns = l->cap_conns ? l->cap_conns * 2 : 16;
        l->conns = realloc(l->conns, l->cap_conns * sizeof(*l->conns));
    }
    l->conns[l->n_conns++] = c;
    memset(&i, 0, sizeof(i));
    i.context = l->ctx;
    i.address = "127.0.0.1";
    i.port = port;
    i.path = path;
    i.host = "127.0.0.1";
    i.origin = origin;
    i.local_protocol_name = "rc";
    i.opaque_user_data = c;
    i.pwsi = &c->wsi;
    /* a raw client does not follow a 307 (as a browser's WebSocket does not): it fails */
    i.ssl_connection = LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
    if (l->tls)
        i.ssl_connection |= LCCSCF_USE_SSL | LCCSCF_ALLOW_SELFSIGNED |
                            LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
    if (!lws_client_connect_via_info(&i)) {
        c->connect_failed = 1;
        c->closed = 1;
        c->wsi = NULL;
    }
    return c;
}

void rc_loop_set_tls(rc_loop *l, int tls)
{
    l->tls = tls;
}

rc_conn *rc_connect(rc_loop *l, int port, const char *path, int auto_hello)
{
    return rc_connect_ex(l, port, path, auto_hello, NULL, NULL, NULL);
}

int rc_send(rc_conn *c, const void *buf, size_t len, int text)
{
    rc_out *o = malloc(sizeof(*o) + LWS_PRE + len);

    o->next = NULL;
    o->len = len;
    o->text = text;
    memcpy(o->data + LWS_PRE, buf, len);
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    if (c->wsi && c->established)
        lws_callback_on_writable(c->wsi);
    return 0;
}

int rc_send_env(rc_conn *c, const rc_env *env)
{
    size_t n = verani__wire__envelope__get_packed_size(env);
    unsigned char *b = malloc(n ? n : 1);
    int r;

    verani__wire__envelope__pack(env, b);
    r = rc_send(c, b, n, 0);
    free(b);
    return r;
}

int rc_send_hello(rc_conn *c, const char *fingerprint)
{
    rc_env env = VERANI__WIRE__ENVELOPE__INIT;
    Verani__Wire__Hello h = VERANI__WIRE__HELLO__INIT;

    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__HELLO;
    h.has_protocol = 1;
    h.protocol = 1;
    h.fingerprint = (char *)fingerprint;
    env.hello = &h;
    return rc_send_env(c, &env);
}

int rc_hello_param(const Verani__Wire__Hello *h, char *out, size_t cap)
{
    uint8_t b[512];
    size_t n = verani__wire__hello__get_packed_size(h);
    int k;

    if (n > sizeof(b) || cap < 8)
        return -1;
    verani__wire__hello__pack(h, b);
    memcpy(out, "hello=", 6);
    /* libwebsockets' own encoder, not the runtime's: its URL alphabet, then no padding */
    k = lws_b64_encode_string_url((const char *)b, (int)n, out + 6, (int)(cap - 6));
    if (k < 0)
        return -1;
    while (k > 0 && out[6 + k - 1] == '=')
        k--;
    out[6 + k] = '\0';
    return 0;
}

int rc_send_event(rc_conn *c, int kind, uint32_t event, const ProtobufCMessage *payload,
                  uint64_t request_id)
{
    rc_env env = VERANI__WIRE__ENVELOPE__INIT;
    unsigned char *b = NULL;
    int r;

    env.has_kind = 1;
    env.kind = (Verani__Wire__Kind)kind;
    env.has_event = 1;
    env.event = event;
    if (request_id) {
        env.has_request_id = 1;
        env.request_id = request_id;
    }
    if (payload) {
        size_t n = protobuf_c_message_get_packed_size(payload);

        b = malloc(n ? n : 1);
        env.has_payload = 1;
        env.payload.len = protobuf_c_message_pack(payload, b);
        env.payload.data = b;
    }
    r = rc_send_env(c, &env);
    free(b);
    return r;
}

int rc_send_join(rc_conn *c, int kind, const char *channel, uint64_t request_id)
{
    rc_env env = VERANI__WIRE__ENVELOPE__INIT;

    env.has_kind = 1;
    env.kind = (Verani__Wire__Kind)kind;
    env.channel = (char *)channel;
    env.has_request_id = 1;
    env.request_id = request_id;
    return rc_send_env(c, &env);
}

void rc_pause(rc_conn *c, int paused)
{
    if (c->wsi)
        lws_rx_flow_control(c->wsi, !paused);
}

void rc_close(rc_conn *c)
{
    if (c->wsi) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}

void rc_service(rc_loop *l, int ms)
{
    lws_service(l->ctx, ms);
}

int rc_wait(rc_loop *l, int (*pred)(void *), void *arg, int timeout_ms)
{
    int64_t end = dl_after(timeout_ms);

    while (!pred(arg) && !dl_passed(end))
        lws_service(l->ctx, 0);
    return pred(arg);
}

void rc_settle(rc_loop *l, int ms)
{
    int64_t end = dl_after(ms);

    /* one pass after the deadline at least: a thread that slept through it still reads
     * what arrived meanwhile */
    do
        lws_service(l->ctx, 0);
    while (!dl_passed(end));
}

const rc_env *rc_nth(const rc_conn *c, int kind, size_t n)
{
    size_t i;

    for (i = 0; i < c->n_rx; i++)
        if ((int)c->rx[i]->kind == kind && n-- == 0)
            return c->rx[i];
    return NULL;
}

size_t rc_count(const rc_conn *c, int kind)
{
    size_t i, n = 0;

    for (i = 0; i < c->n_rx; i++)
        n += (int)c->rx[i]->kind == kind;
    return n;
}

const rc_env *rc_error(const rc_conn *c, int code)
{
    size_t i;

    for (i = 0; i < c->n_rx; i++)
        if (c->rx[i]->kind == VERANI__WIRE__KIND__ERROR && c->rx[i]->error &&
            (int)c->rx[i]->error->code == code)
            return c->rx[i];
    return NULL;
}

const rc_env *rc_answer(const rc_conn *c, uint64_t request_id)
{
    size_t i;

    for (i = 0; i < c->n_rx; i++)
        if ((c->rx[i]->kind == VERANI__WIRE__KIND__REPLY ||
             c->rx[i]->kind == VERANI__WIRE__KIND__ERROR) &&
            c->rx[i]->has_request_id && c->rx[i]->request_id == request_id)
            return c->rx[i];
    return NULL;
}

void rc_clear(rc_conn *c)
{
    size_t i;

    for (i = 0; i < c->n_rx; i++)
        verani__wire__envelope__free_unpacked(c->rx[i], NULL);
    c->n_rx = 0;
    for (i = 0; i < c->n_texts; i++)
        free(c->texts[i]);
    c->n_texts = 0;
}

/* --- bare TCP ------------------------------------------------------------ */

int rc_tcp_connect(int port, int rcvbuf)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
        close(fd);
        return -1;
    }
    return fd;
}

int rc_tcp_send_raw(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;

    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_some(int fd, void *buf, size_t len, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t n;

    if (poll(&p, 1, timeout_ms) <= 0)
        return -1;
    n = recv(fd, buf, len, 0);
    return n < 0 ? -2 : (int)n;
}

static int read_head(int fd, char *head, size_t cap, int timeout_ms)
{
    size_t used = 0;

    /* byte by byte so nothing after the head is consumed */
    while (used + 1 < cap) {
        int n = read_some(fd, head + used, 1, timeout_ms);

        if (n <= 0)
            return -1;
        used++;
        head[used] = '\0';
        if (used >= 4 && !memcmp(head + used - 4, "\r\n\r\n", 4))
            break;
    }
    return strncmp(head, "HTTP/1.", 7) ? -1 : atoi(head + 9);
}

int rc_tcp_upgrade(int fd, const char *path, char *head, size_t head_len)
{
    char req[1024], tmp[2048];

    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             path);
    if (rc_tcp_send_raw(fd, req, strlen(req)))
        return -1;
    if (!head) {
        head = tmp;
        head_len = sizeof(tmp);
    }
    return read_head(fd, head, head_len, 5000);
}

int rc_tcp_get(int port, const char *path, char *resp, size_t resp_len)
{
    char req[512];

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    return rc_tcp_request(port, req, resp, resp_len);
}

int rc_tcp_request(int port, const char *req, char *resp, size_t resp_len)
{
    int fd = rc_tcp_connect(port, 0), status;
    size_t used;

    if (fd < 0)
        return -1;
    if (rc_tcp_send_raw(fd, req, strlen(req))) {
        close(fd);
        return -1;
    }
    status = read_head(fd, resp, resp_len, 5000);
    used = strlen(resp);
    /* the body, if any, until the server closes or goes quiet */
    while (status > 0 && used + 1 < resp_len) {
        int n = read_some(fd, resp + used, resp_len - used - 1, 300);

        if (n <= 0)
            break;
        used += (size_t)n;
        resp[used] = '\0';
    }
    close(fd);
    return status;
}

int rc_tcp_send_frame(int fd, int opcode, const void *data, size_t len)
{
    unsigned char h[14];
    size_t hl;
    int r;

    h[0] = (unsigned char)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        h[1] = (unsigned char)(0x80 | len);
        hl = 2;
    } else if (len <= 0xffff) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hl = 4;
    } else {
        int i;

        h[1] = 0x80 | 127;
        for (i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    memset(h + hl, 0, 4); /* mask key 0: the payload goes as is */
    hl += 4;
    r = rc_tcp_send_raw(fd, h, hl);
    return r ? r : rc_tcp_send_raw(fd, data, len);
}

static int read_exact(int fd, unsigned char *buf, size_t len, int timeout_ms)
{
    size_t got = 0;

    while (got < len) {
        int n = read_some(fd, buf + got, len - got, timeout_ms);

        if (n == 0 || n == -2)
            return 0;
        if (n < 0)
            return -1;
        got += (size_t)n;
    }
    return 1;
}

int rc_tcp_read_frame(int fd, int timeout_ms, unsigned char *buf, size_t cap, size_t *len)
{
    unsigned char h[10];
    uint64_t n;
    size_t i;
    int r = read_exact(fd, h, 2, timeout_ms);

    if (r <= 0)
        return r;
    n = h[1] & 0x7f;
    if (n == 126) {
        if ((r = read_exact(fd, h + 2, 2, timeout_ms)) <= 0)
            return r;
        n = ((uint64_t)h[2] << 8) | h[3];
    } else if (n == 127) {
        if ((r = read_exact(fd, h + 2, 8, timeout_ms)) <= 0)
            return r;
        for (n = 0, i = 0; i < 8; i++)
            n = (n << 8) | h[2 + i];
    }
    *len = (size_t)n;
    for (i = 0; i < n;) {
        unsigned char chunk[4096];
        size_t want = n - i < sizeof(chunk) ? (size_t)(n - i) : sizeof(chunk);

        if ((r = read_exact(fd, chunk, want, timeout_ms)) <= 0)
            return r;
        if (i < cap)
            memcpy(buf + i, chunk, cap - i < want ? cap - i : want);
        i += want;
    }
    return h[0] & 0x0f;
}

int rc_tcp_wait_closed(int fd, int timeout_ms, int *code)
{
    int64_t end = dl_after(timeout_ms);
    unsigned char buf[256];

    while (!dl_passed(end)) {
        size_t len = 0;
        int op = rc_tcp_read_frame(fd, dl_left_ms(end), buf, sizeof(buf), &len);

        if (op == 0)
            return 1;
        if (op < 0)
            return 0;
        if (op == 8 && len >= 2 && code)
            *code = (buf[0] << 8) | buf[1];
    }
    return 0;
}

int rc_tcp_send_env(int fd, const rc_env *env)
{
    uint8_t buf[1024];
    size_t n = verani__wire__envelope__get_packed_size(env);

    if (n > sizeof(buf))
        return -1;
    verani__wire__envelope__pack(env, buf);
    return rc_tcp_send_frame(fd, 2, buf, n);
}

rc_env *rc_tcp_read_env(int fd, int timeout_ms)
{
    static uint8_t buf[65536];
    size_t len = 0;
    int op;

    do
        op = rc_tcp_read_frame(fd, timeout_ms, buf, sizeof(buf), &len);
    while (op == 9 || op == 10);
    return op == 2 ? verani__wire__envelope__unpack(NULL, len, buf) : NULL;
}
