/* SPDX-License-Identifier: MIT */
/*
 * lg_raw.c: the load generator's drivers for the peers, on one libwebsockets
 * client context: `ws` speaks plain binary WebSocket messages to
 * bench/peers/ws_server.js, `sio` speaks socket.io packets inside Engine.IO v4
 * on the websocket transport to bench/peers/sio_server.js (open packet `0`,
 * namespace connect `40`, events `42[...]`, acks `43<id>[...]`, and an answer
 * `3` to every ping `2`). Both carry the same 64-byte payload as Verani-C's
 * Tick plus the message number. Only what the scenarios need is implemented:
 * no polling transport, no binary socket.io attachments, no reconnection.
 * With run->n_src > 0 each connection binds a source address of its own among
 * 127.0.0.2 .. 127.0.0.(1+n_src), to hold more connections than one address
 * has ephemeral ports.
 *
 * ws message layout (both directions): 'P' (fan-out) or 'E' (echo), the
 * message number as 8 bytes little-endian, then the 64-byte payload.
 *
 * A third driver, `verani-raw`, is for the idle scenario only: it opens a
 * Verani-C session with the fewest bytes the protocol allows (the HELLO
 * `Hello{protocol: 1}` folded into the upgrade as `?hello=CAE`, then waits for
 * the WELCOME, which is always the server's first message: runtime/PROTOCOL.md)
 * and then holds it. It exists
 * because the typed client cannot bind source addresses, which 100,000
 * connections from one host need; the server does exactly the same work.
 *
 * A fourth, `verani-json`, speaks Verani's JSON wire (runtime/PROTOCOL.md
 * section 8) to the same bench server on the room's JSON path
 * (/bench-json/{room}): text frames, no HELLO (the session begins at the open),
 * `publish` and `echo` as {"type":E,"data":{"n":N,"data":"<base64>"}}, and the
 * server's events read by a fixed-layout scan (lg_json.c).
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "lg_json.h"
#include "loadgen.h"

#define RAW_RX_MAX 1024
#define WS_MSG_LEN (1 + 8 + LG_PAYLOAD)
/* The JSON wire's most writes per WRITEABLE callback: the typed client's (client_conn.c). */
#define RAW_VJSON_WRITES 32
/* The JSON wire's reads: up to 16 KiB from a connection per service pass (lws reads at most
 * the protocol's rx_buffer_size and the context's pt_serv_buf_size). With the ws driver's
 * 1 KiB, a fan-out burst of 32 JSON frames (about 160 bytes each) took five passes over every
 * connection, so the subscribers' acknowledgements, and with them the publisher's window,
 * moved a few messages at a time, and the server got smaller bursts to fan out (fewer frames
 * per send()) than the typed client's 4 KiB reads of the shorter binary frames give it. */
#define RAW_VJSON_RX 16384

/* One queued outgoing message, with LWS_PRE bytes of headroom for lws_write. */
typedef struct rmsg {
    struct rmsg *next;
    size_t len;
    int text;
    uint8_t buf[];
} rmsg;

/* What a connection speaks. */
enum { RAW_WS, RAW_SIO, RAW_VRAW, RAW_VJSON };

typedef struct rconn {
    lg_run *run;
    lg_peer *peer;       /* NULL once the core closed it or it was lost */
    struct lws *wsi;
    int sio;             /* RAW_WS, RAW_SIO, RAW_VRAW or RAW_VJSON */
    int closing;         /* the core asked to close: do it at the next WRITEABLE */
    rmsg *q_head, *q_tail;
    size_t rx_len;
    int rx_over;         /* the message being assembled was too long: ignore it */
    uint8_t rx[RAW_RX_MAX + 1];
} rconn;

typedef struct rstate {
    struct lws_context *ctx;
    lws_sorted_usec_list_t tick; /* wakes lws_service() every 2 ms */
    int sio;                     /* what every connection speaks: RAW_* */
    lg_json json;                /* RAW_VJSON: the payload in base64 */
    char src[64][16];            /* source addresses "127.0.0.N" */
} rstate;

static void tick_cb(lws_sorted_usec_list_t *sul)
{
    rstate *st = lws_container_of(sul, rstate, tick);

    lws_sul_schedule(st->ctx, 0, &st->tick, tick_cb, 2 * LWS_US_PER_MS);
}

static void q_free(rconn *c)
{
    while (c->q_head) {
        rmsg *m = c->q_head;

        c->q_head = m->next;
        free(m);
    }
    c->q_tail = NULL;
}

static int enqueue(rconn *c, const void *data, size_t len, int text)
{
    rmsg *m = malloc(sizeof(*m) + LWS_PRE + len);

    if (!m)
        return -1;
    m->next = NULL;
    m->len = len;
    m->text = text;
    memcpy(m->buf + LWS_PRE, data, len);
    if (c->q_tail)
        c->q_tail->next = m;
    else
        c->q_head = m;
    c->q_tail = m;
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
    return 0;
}

static void lost(rconn *c, const char *why)
{
    lg_peer *p = c->peer;

    if (!p)
        return;
    c->peer = NULL;
    p->conn = NULL;
    lg_on_close(c->run, p, why);
}

static uint64_t json_n(const char *s)
{
    const char *p = strstr(s, "\"n\":");

    return p ? strtoull(p + 4, NULL, 10) : 0;
}

static void sio_rx(rconn *c, char *s, size_t len)
{
    lg_peer *p = c->peer;

    if (len == 1 && s[0] == '2') {          /* Engine.IO ping */
        enqueue(c, "3", 1, 1);
    } else if (s[0] == '0') {               /* Engine.IO open: connect to namespace "/" */
        enqueue(c, "40", 2, 1);
    } else if (s[0] == '4' && s[1] == '0') { /* namespace connected */
        lg_on_open(c->run, p);
    } else if (s[0] == '4' && s[1] == '2') { /* an event: ["fanout",{...}] */
        if (!strncmp(s + 2, "[\"fanout\"", 9))
            lg_on_fanout(c->run, p, json_n(s));
    } else if (s[0] == '4' && s[1] == '3') { /* an ack: 43<id>[{...}] */
        char *end;
        uint64_t id = strtoull(s + 2, &end, 10);
        uint64_t n = json_n(end);

        lg_on_echo(c->run, p, n, id == n && strstr(end, "\"d\":\"") != NULL);
    } else if (s[0] == '4' && s[1] == '1') { /* namespace disconnect */
        c->closing = 1;
        lws_callback_on_writable(c->wsi);
        lost(c, "socket.io disconnect");
    }
}

static void ws_rx(rconn *c, const uint8_t *b, size_t len)
{
    uint64_t n = 0;

    if (len != WS_MSG_LEN)
        return;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | b[1 + i];
    if (b[0] == 'P')
        lg_on_fanout(c->run, c->peer, n);
    else if (b[0] == 'E')
        lg_on_echo(c->run, c->peer, n, !memcmp(b + 9, c->run->payload, LG_PAYLOAD));
}

/* Print the first few frames the JSON driver could not take (per worker process). */
static void vjson_odd(const char *what, const char *s, size_t len)
{
    static int shown;

    if (shown++ < 3)
        fprintf(stderr, "loadgen: verani-json: %s: %.*s%s\n", what, (int)(len > 200 ? 200 : len),
                s, len > 200 ? "..." : "");
}

static void vjson_rx(rconn *c, const char *s, size_t len)
{
    const rstate *st = c->run->drv_state;
    uint64_t n;
    int ok;

    switch (lg_json_scan(&st->json, s, len, &n, &ok)) {
    case LG_JSON_FANOUT:
        /* a garbled fan-out frame is not taken: it shows as a loss and a gap */
        if (ok)
            lg_on_fanout(c->run, c->peer, n);
        else
            vjson_odd("a fanout event with another payload", s, len);
        break;
    case LG_JSON_ECHO:
        lg_on_echo(c->run, c->peer, n, ok);
        break;
    case LG_JSON_ERROR:
        vjson_odd("an error event", s, len);
        if (c->peer->role == LG_ECHO || c->peer->role == LG_CHURN)
            lg_on_echo(c->run, c->peer, 0, 0);
        break;
    case LG_JSON_PONG:
        break;
    default:
        vjson_odd("a frame of another layout", s, len);
        break;
    }
}

static int raw_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    rconn *c = lws_get_opaque_user_data(wsi);

    (void)user;
    if (!c)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->wsi = wsi;
        if (c->q_head || c->closing)
            lws_callback_on_writable(wsi);
        /* ws and the JSON wire: open at the upgrade (no HELLO on the JSON wire) */
        if ((c->sio == RAW_WS || c->sio == RAW_VJSON) && c->peer)
            lg_on_open(c->run, c->peer);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (lws_is_first_fragment(wsi)) {
            c->rx_len = 0;
            c->rx_over = 0;
        }
        if (c->rx_len + len > RAW_RX_MAX) {
            c->rx_over = 1;
        } else {
            memcpy(c->rx + c->rx_len, in, len);
            c->rx_len += len;
        }
        if (!lws_is_final_fragment(wsi) || c->rx_over || !c->peer || c->closing)
            break;
        c->rx[c->rx_len] = '\0';
        if (c->sio == RAW_VRAW) {
            /* kind (field 1) = 2, WELCOME: protobuf-c writes fields in number order */
            if (!c->peer->open && c->rx_len >= 2 && c->rx[0] == 0x08 && c->rx[1] == 0x02)
                lg_on_open(c->run, c->peer);
        } else if (c->sio == RAW_VJSON) {
            vjson_rx(c, (char *)c->rx, c->rx_len);
        } else if (c->sio == RAW_SIO) {
            sio_rx(c, (char *)c->rx, c->rx_len);
        } else {
            ws_rx(c, c->rx, c->rx_len);
        }
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        /* one message per callback, except on the JSON wire, which writes what is queued (up
         * to RAW_VJSON_WRITES, each its own lws_write) as the typed Verani-C client does, so
         * that the server sees the same bursts from the publisher on both of its wires */
        int most = c->sio == RAW_VJSON ? RAW_VJSON_WRITES : 1;

        if (c->closing) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        for (int i = 0; i < most && c->q_head && (i == 0 || !lws_send_pipe_choked(wsi)); i++) {
            rmsg *m = c->q_head;

            c->q_head = m->next;
            if (!c->q_head)
                c->q_tail = NULL;
            if (lws_write(wsi, m->buf + LWS_PRE, m->len, m->text ? LWS_WRITE_TEXT :
                          LWS_WRITE_BINARY) < (int)m->len) {
                free(m);
                return -1;
            }
            free(m);
        }
        if (c->q_head)
            lws_callback_on_writable(wsi);
        break;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        lost(c, in ? (const char *)in : "connection error");
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        lost(c, "closed by the server");
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        lost(c, "connection destroyed");
        lws_set_opaque_user_data(wsi, NULL);
        q_free(c);
        free(c);
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols raw_protocols[] = {
    {"lg-raw", raw_cb, 0, RAW_RX_MAX, 0, NULL, 0},
    {"lg-json", raw_cb, 0, RAW_VJSON_RX, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}
};

static int raw_init(lg_run *run, int sio)
{
    struct lws_context_creation_info info;
    rstate *st = calloc(1, sizeof(*st));

    if (!st)
        return -1;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = raw_protocols;
    info.gid = -1;
    info.uid = -1;
    if (sio == RAW_VJSON)
        info.pt_serv_buf_size = RAW_VJSON_RX;
    st->ctx = lws_create_context(&info);
    if (!st->ctx) {
        fprintf(stderr, "loadgen: cannot create the libwebsockets client context\n");
        free(st);
        return -1;
    }
    st->sio = sio;
    lg_json_init(&st->json, run->payload);
    for (int i = 0; i < 64; i++)
        snprintf(st->src[i], sizeof(st->src[i]), "127.0.0.%d", 2 + i);
    run->drv_state = st;
    lws_sul_schedule(st->ctx, 0, &st->tick, tick_cb, 2 * LWS_US_PER_MS);
    return 0;
}

static int ws_init(lg_run *run)
{
    return raw_init(run, RAW_WS);
}

static int sio_init(lg_run *run)
{
    return raw_init(run, RAW_SIO);
}

static int vraw_init(lg_run *run)
{
    return raw_init(run, RAW_VRAW);
}

static int vjson_init(lg_run *run)
{
    return raw_init(run, RAW_VJSON);
}

static int raw_connect(lg_run *run, lg_peer *peer)
{
    rstate *st = run->drv_state;
    struct lws_client_connect_info i;
    char path[128];
    rconn *c = calloc(1, sizeof(*c));

    if (!c)
        return -1;
    c->run = run;
    c->peer = peer;
    c->sio = st->sio;
    memset(&i, 0, sizeof(i));
    i.context = st->ctx;
    i.address = run->host;
    i.port = run->port;
    /* verani-raw folds its HELLO, Hello{protocol: 1} (08 01), into the upgrade as the typed
     * client does for a fresh session: ?hello=CAE (PROTOCOL.md section 3) */
    snprintf(path, sizeof(path), "%s/%s?userId=u%d%s",
             st->sio == RAW_VJSON ? "/bench-json" : "/bench", run->instance, peer->idx,
             st->sio == RAW_VRAW ? "&hello=CAE" : "");
    i.path = st->sio == RAW_SIO ? "/socket.io/?EIO=4&transport=websocket" :
             st->sio == RAW_VRAW || st->sio == RAW_VJSON ? path : "/";
    i.host = run->host;
    i.origin = run->host;
    i.protocol = NULL;
    i.local_protocol_name = st->sio == RAW_VJSON ? "lg-json" : "lg-raw";
    i.opaque_user_data = c;
    if (run->n_src > 0)
        i.iface = st->src[peer->idx % (run->n_src > 64 ? 64 : run->n_src)];
    peer->conn = c;
    if (!lws_client_connect_via_info(&i)) {
        /* lws may already have reported CONNECTION_ERROR and freed c through WSI_DESTROY. */
        if (peer->conn == c) {
            peer->conn = NULL;
            free(c);
        }
        return -1;
    }
    return 0;
}

static void fmt_json(lg_run *run, char *out, size_t cap, const char *head, uint64_t n,
                     const char *ev)
{
    snprintf(out, cap, "%s[%s{\"n\":%" PRIu64 ",\"d\":\"%.*s\"}]", head, ev, n, LG_PAYLOAD,
             (const char *)run->payload);
}

static void ws_msg(lg_run *run, uint8_t *b, char kind, uint64_t n)
{
    b[0] = (uint8_t)kind;
    for (int i = 0; i < 8; i++)
        b[1 + i] = (uint8_t)(n >> (8 * i));
    memcpy(b + 9, run->payload, LG_PAYLOAD);
}

static int raw_publish(lg_run *run, lg_peer *peer, uint64_t n)
{
    rconn *c = peer->conn;

    if (!c || c->sio == RAW_VRAW)
        return -1;
    if (c->sio == RAW_VJSON) {
        const rstate *st = run->drv_state;
        char s[LG_JSON_TX_MAX];

        return enqueue(c, s, lg_json_tick(&st->json, s, "publish", n), 1);
    } else if (c->sio == RAW_SIO) {
        char s[256];

        fmt_json(run, s, sizeof(s), "42", n, "\"publish\",");
        return enqueue(c, s, strlen(s), 1);
    } else {
        uint8_t b[WS_MSG_LEN];

        ws_msg(run, b, 'P', n);
        return enqueue(c, b, sizeof(b), 0);
    }
}

static int raw_echo(lg_run *run, lg_peer *peer, uint64_t n)
{
    rconn *c = peer->conn;

    if (!c || c->sio == RAW_VRAW)
        return -1;
    if (c->sio == RAW_VJSON) {
        const rstate *st = run->drv_state;
        char s[LG_JSON_TX_MAX];

        return enqueue(c, s, lg_json_tick(&st->json, s, "echo", n), 1);
    } else if (c->sio == RAW_SIO) {
        char s[256], head[32];

        snprintf(head, sizeof(head), "42%" PRIu64, n);
        fmt_json(run, s, sizeof(s), head, n, "\"echo\",");
        return enqueue(c, s, strlen(s), 1);
    } else {
        uint8_t b[WS_MSG_LEN];

        ws_msg(run, b, 'E', n);
        return enqueue(c, b, sizeof(b), 0);
    }
}

static void raw_close(lg_run *run, lg_peer *peer)
{
    rconn *c = peer->conn;

    (void)run;
    if (!c)
        return;
    c->peer = NULL;
    peer->conn = NULL;
    c->closing = 1;
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
}

static void raw_service(lg_run *run, int timeout_ms)
{
    rstate *st = run->drv_state;

    /* lws 4.1 takes no bound on the wait but "none" (-1); the 2 ms tick bounds it */
    lws_service(st->ctx, timeout_ms > 0 ? 0 : -1);
}

static void raw_fini(lg_run *run)
{
    rstate *st = run->drv_state;

    lws_sul_cancel(&st->tick);
    lws_context_destroy(st->ctx); /* WSI_DESTROY frees every connection */
    free(st);
    run->drv_state = NULL;
}

const lg_driver lg_driver_ws = {
    .name = "ws",
    .init = ws_init,
    .connect = raw_connect,
    .publish = raw_publish,
    .echo = raw_echo,
    .close = raw_close,
    .service = raw_service,
    .fini = raw_fini,
};

const lg_driver lg_driver_sio = {
    .name = "socket.io",
    .init = sio_init,
    .connect = raw_connect,
    .publish = raw_publish,
    .echo = raw_echo,
    .close = raw_close,
    .service = raw_service,
    .fini = raw_fini,
};

/* Idle only: publish and echo are refused. */
const lg_driver lg_driver_vraw = {
    .name = "verani-raw",
    .init = vraw_init,
    .connect = raw_connect,
    .publish = raw_publish,
    .echo = raw_echo,
    .close = raw_close,
    .service = raw_service,
    .fini = raw_fini,
};

/* Verani's JSON wire on the bench server's JSON path (every scenario). */
const lg_driver lg_driver_vjson = {
    .name = "verani-json",
    .init = vjson_init,
    .connect = raw_connect,
    .publish = raw_publish,
    .echo = raw_echo,
    .close = raw_close,
    .service = raw_service,
    .fini = raw_fini,
};
