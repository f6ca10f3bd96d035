/* SPDX-License-Identifier: MIT */
/*
 * lws_floor.c: the floor of bench/ (issue 20): a raw libwebsockets 4.1 server with no protocol
 * on top, so that bench/run.sh can show what libwebsockets itself costs beside Verani-C. It
 * speaks the framing of the `ws` peer, which the load generator's `ws` driver uses: a binary
 * message 'P' + message number (8 bytes) + payload is sent to every other connection (fan-out),
 * 'E' + ... goes back to its sender (echo, churn); anything else is ignored; an idle
 * connection costs what libwebsockets and one small struct cost.
 *
 * Writes are coalesced: every frame pending for a connection leaves in one lws_write
 * (LWS_WRITE_RAW: server frames are unmasked, and the 2 or 4 byte header is written here). A
 * fan-out message is framed once into a ring that every connection reads with a position of
 * its own; one that falls a whole ring behind is closed (the load generator keeps 32 messages
 * in flight, the ring holds 1,024). Echo replies wait in a per-connection buffer, allocated at
 * the first and grown as needed (at most 64 KiB, else the connection is closed).
 *
 * libwebsockets is set up, and its loop driven, the way Verani-C's server does it
 * (runtime/src/server/server.c, outq.c), so that the difference between the two is the protocol's:
 * libev (epoll) on a loop of our own; a turn that fans out (more connections to write than
 * messages taken in) takes the input that is ready in more non-blocking rounds (as many as
 * take in 8 KiB of one sender: 32 with the default buffer), then every turn writes straight away to every connection that has something pending (asking lws for
 * WRITEABLE costs two epoll_ctl calls per write on epoll); no lws validity timers; a 64 KiB
 * tx_packet_size (lws 4.1 would cut each send to the receive buffer's size); a 256-byte
 * receive buffer (the server's default) unless --rx-buffer. Without lws's libev plugin it
 * runs on lws's poll() loop and writes in WRITEABLE. It listens on 127.0.0.1 (port 0 unless
 * --port), prints "PID <pid> PORT <port>" on stdout and runs until SIGINT or SIGTERM. It
 * measures nothing: the load generator reads /proc.
 *
 * For the load generator's own test only, --fault-gap N leaves fan-out message N out of one
 * connection's stream and --fault-dup N sends it twice to one connection; both are off
 * unless given.
 */
#define _POSIX_C_SOURCE 200809L
#include <ev.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libwebsockets.h>

#define FLOOR_RING 1024u          /* fan-out messages kept; a power of two */
#define FLOOR_MSG_MAX 1024        /* the largest message taken, in bytes */
#define FLOOR_HDR_MAX 4           /* a server frame header up to 65535 bytes */
#define FLOOR_WRITE_MAX 65536     /* one write, and lws's tx_packet_size */
#define FLOOR_OUT_MAX 65536       /* echo replies waiting for one connection */
#define FLOOR_RX_BUFFER 256       /* the receive buffer: recv_buffer_bytes' default */
#define FLOOR_READ_AHEAD_BYTES 8192u /* a turn's extra rounds take in this much of a sender,
                                      16 to 64 rounds (server.c's rule) */

typedef struct floor_conn {
    struct lws *wsi;
    lws_dll2_t list;              /* in srv.conns */
    lws_dll2_t dirty;             /* in srv.dirty while it has something to write */
    uint64_t tail;                /* the next ring message to send */
    int culled;                   /* fell a whole ring behind or could not write: closing */
    uint8_t *rx;                  /* a message that arrives in pieces, while it does */
    size_t rx_len;
    int rx_over;                  /* the message being assembled is too long: ignore it */
    uint8_t *out;                 /* framed echo replies waiting; allocated at the first */
    size_t out_len, out_cap;
} floor_conn;

typedef struct floor_msg {
    const floor_conn *from;       /* its sender, which does not get it */
    uint64_t n;                   /* its message number (fault injection only) */
    size_t len;                   /* framed length */
    uint8_t frame[FLOOR_HDR_MAX + FLOOR_MSG_MAX];
} floor_msg;

/* The one server of this process: touched by its one thread only. */
static struct {
    struct lws_context *ctx;
    struct ev_loop *loop;         /* NULL: lws's poll() loop */
    volatile sig_atomic_t stop;   /* SIGINT or SIGTERM came */
    lws_dll2_owner_t conns;
    lws_dll2_owner_t dirty;       /* to write at the end of this turn (libev) */
    uint64_t bytes_in;            /* the read-ahead stops when a round adds none */
    uint64_t msgs_in;             /* messages taken in (their last fragments) */
    floor_msg ring[FLOOR_RING];
    uint64_t head;                /* messages ever put in the ring */
    uint64_t fault_gap, fault_dup; /* message numbers to leave out / repeat once, 0: none */
    uint8_t wbuf[LWS_PRE + FLOOR_WRITE_MAX];
} srv;

/* A server frame header (FIN, binary, unmasked) for `len` payload bytes; its length. */
static size_t frame_header(uint8_t *h, size_t len)
{
    h[0] = 0x82;
    if (len < 126) {
        h[1] = (uint8_t)len;
        return 2;
    }
    h[1] = 126;
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len;
    return 4;
}

static uint64_t msg_number(const uint8_t *b, size_t len)
{
    uint64_t n = 0;

    for (int i = 8; i >= 1 && len >= 9; i--)
        n = n << 8 | b[i];
    return n;
}

static void cull(floor_conn *c, const char *why)
{
    lwsl_warn("[floor] %s: connection closed\n", why);
    c->culled = 1;
    lws_dll2_remove(&c->dirty);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* `c` has something to write: at the end of this turn (libev), or when lws says (poll). */
static void want_write(floor_conn *c)
{
    if (c->culled)
        return;
    if (!srv.loop)
        lws_callback_on_writable(c->wsi);
    else if (!c->dirty.owner)
        lws_dll2_add_tail(&c->dirty, &srv.dirty);
}

static void fan_out(floor_conn *from, const uint8_t *b, size_t len)
{
    floor_msg *m = &srv.ring[srv.head & (FLOOR_RING - 1)];

    m->from = from;
    m->n = msg_number(b, len);
    m->len = frame_header(m->frame, len);
    memcpy(m->frame + m->len, b, len);
    m->len += len;
    srv.head++;
    /* The sender skips its own message; caught up, it need not wait for a write to do so. */
    if (from->tail == srv.head - 1)
        from->tail = srv.head;
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&srv.conns)) {
        floor_conn *c = lws_container_of(d, floor_conn, list);

        /* More than a ring behind: this message took the slot of one it had not read. */
        if (srv.head - c->tail > FLOOR_RING && !c->culled)
            cull(c, "fell a whole ring behind");
        else if (c != from)
            want_write(c);
    } lws_end_foreach_dll(d);
}

/* Queue an echo reply; -1 when the connection has too much waiting already. */
static int echo_back(floor_conn *c, const uint8_t *b, size_t len)
{
    size_t need = c->out_len + FLOOR_HDR_MAX + len;

    if (need > FLOOR_OUT_MAX)
        return -1;
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 256;
        uint8_t *o;

        while (cap < need)
            cap *= 2;
        if (!(o = realloc(c->out, cap)))
            return -1;
        c->out = o;
        c->out_cap = cap;
    }
    c->out_len += frame_header(c->out + c->out_len, len);
    memcpy(c->out + c->out_len, b, len);
    c->out_len += len;
    want_write(c);
    return 0;
}

static int on_message(floor_conn *c, const uint8_t *b, size_t len)
{
    if (len < 1)
        return 0;
    if (b[0] == 'P')
        fan_out(c, b, len);
    else if (b[0] == 'E')
        return echo_back(c, b, len);
    return 0;
}

/* Put a frame in the write buffer; 0 when it does not fit. */
static int put(size_t *n, const uint8_t *frame, size_t len)
{
    if (*n + len > FLOOR_WRITE_MAX)
        return 0;
    memcpy(srv.wbuf + LWS_PRE + *n, frame, len);
    *n += len;
    return 1;
}

/* Everything pending for `c` in one write: its echo replies, then the ring from its tail. */
static int write_pending(floor_conn *c)
{
    size_t n = 0;

    lws_dll2_remove(&c->dirty);
    if (c->culled)
        return 0;
    if (c->out_len) {
        memcpy(srv.wbuf + LWS_PRE, c->out, c->out_len);
        n = c->out_len;
        c->out_len = 0;
    }
    for (; c->tail < srv.head; c->tail++) {
        const floor_msg *m = &srv.ring[c->tail & (FLOOR_RING - 1)];

        if (m->from == c)
            continue;
        if (srv.fault_gap && m->n == srv.fault_gap) {
            srv.fault_gap = 0;
            continue;
        }
        if (srv.fault_dup && m->n == srv.fault_dup && put(&n, m->frame, m->len))
            srv.fault_dup = 0;
        if (!put(&n, m->frame, m->len))
            break;
    }
    if (n && lws_write(c->wsi, srv.wbuf + LWS_PRE, n, LWS_WRITE_RAW) < (int)n)
        return -1;
    if (c->tail < srv.head)
        lws_callback_on_writable(c->wsi); /* more than one write holds */
    return 0;
}

/* The end of a turn: one write per connection with something pending. */
static void flush(void)
{
    while (srv.dirty.head) {
        floor_conn *c = lws_container_of(srv.dirty.head, floor_conn, dirty);

        lws_dll2_remove(&c->dirty);
        if (lws_partial_buffered(c->wsi))
            lws_callback_on_writable(c->wsi); /* lws still holds part of the last write */
        else if (write_pending(c) < 0)
            cull(c, "write failed");
    }
}

static int receive(floor_conn *c, struct lws *wsi, const uint8_t *in, size_t len)
{
    int first = lws_is_first_fragment(wsi), last = lws_is_final_fragment(wsi), r = 0;

    srv.bytes_in += len;
    srv.msgs_in += (uint64_t)last;
    if (first && last && !c->rx)
        return lws_frame_is_binary(wsi) ? on_message(c, in, len) : 0;
    if (first) {
        c->rx_len = 0;
        c->rx_over = 0;
    }
    if (c->rx_len + len > FLOOR_MSG_MAX) {
        c->rx_over = 1;
    } else {
        if (!c->rx && !(c->rx = malloc(FLOOR_MSG_MAX)))
            return -1;
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
    }
    if (!last)
        return 0;
    if (!c->rx_over && lws_frame_is_binary(wsi))
        r = on_message(c, c->rx, c->rx_len);
    free(c->rx);
    c->rx = NULL;
    return r;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    floor_conn *c = user;

    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        c->wsi = wsi;
        c->tail = srv.head;
        lws_dll2_add_tail(&c->list, &srv.conns);
        break;
    case LWS_CALLBACK_RECEIVE:
        return receive(c, wsi, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return write_pending(c);
    case LWS_CALLBACK_CLOSED:
        lws_dll2_remove(&c->list);
        lws_dll2_remove(&c->dirty);
        free(c->rx);
        free(c->out);
        c->rx = c->out = NULL;
        break;
    default:
        break;
    }
    return 0;
}

static struct lws_protocols protocols[] = {
    {"floor", callback, sizeof(floor_conn), FLOOR_RX_BUFFER, 0, NULL, FLOOR_WRITE_MAX},
    {NULL, NULL, 0, 0, 0, NULL, 0}
};

static const lws_retry_bo_t no_lws_validity = {.secs_since_valid_ping = 0,
                                                .secs_since_valid_hangup = 0};

static void on_ev_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    srv.stop = 1;
}

static void on_signal(int sig)
{
    (void)sig;
    srv.stop = 1;
    lws_cancel_service(srv.ctx); /* only writes a byte to the event pipe */
}

/* The libev loop: wait, read ahead while input keeps coming to a turn that fans out, then
 * write (server.c's loop_turn). */
static void run_ev(void)
{
    unsigned rounds = FLOOR_READ_AHEAD_BYTES / (unsigned)protocols[0].rx_buffer_size;
    ev_signal sig_int, sig_term;

    rounds = rounds < 16 ? 16 : rounds > 64 ? 64 : rounds;
    ev_signal_init(&sig_int, on_ev_signal, SIGINT);
    ev_signal_init(&sig_term, on_ev_signal, SIGTERM);
    ev_signal_start(srv.loop, &sig_int);
    ev_signal_start(srv.loop, &sig_term);
    while (!srv.stop) {
        uint64_t in0 = srv.msgs_in;

        ev_run(srv.loop, EVRUN_ONCE);
        for (unsigned i = 0; i < rounds && srv.dirty.count > srv.msgs_in - in0; i++) {
            uint64_t seen = srv.bytes_in;

            ev_run(srv.loop, EVRUN_NOWAIT);
            if (srv.bytes_in == seen)
                break;
        }
        flush();
    }
    ev_signal_stop(srv.loop, &sig_int);
    ev_signal_stop(srv.loop, &sig_term);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: lws_floor [--port N] [--rx-buffer BYTES] [--fault-gap N] [--fault-dup N]\n"
               "A raw libwebsockets server for bench/: 'P' messages go to every other\n"
               "connection, 'E' messages back to their sender, in coalesced writes. Prints\n"
               "\"PID <pid> PORT <port>\" once it listens; runs until SIGINT or SIGTERM.\n");
}

/* 0 and `*out` when `v` is a whole number in [lo, hi]. */
static int num(const char *v, unsigned long long lo, unsigned long long hi,
               unsigned long long *out)
{
    char *end;

    *out = strtoull(v, &end, 10);
    return end != v && !*end && *out >= lo && *out <= hi ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct lws_context_creation_info info;
    struct rlimit rl;
    struct lws_vhost *vh;
    int port = 0;

    for (int i = 1; i < argc; i++) {
        unsigned long long v = 0;
        const char *a = argv[i];

        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc || num(argv[i + 1], 0, UINT32_MAX, &v) != 0) {
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--port") && v <= 65535)
            port = (int)v;
        else if (!strcmp(a, "--rx-buffer") && v >= 128)
            protocols[0].rx_buffer_size = (size_t)v;
        else if (!strcmp(a, "--fault-gap") && v)
            srv.fault_gap = v;
        else if (!strcmp(a, "--fault-dup") && v)
            srv.fault_dup = v;
        else {
            usage(stderr);
            return 2;
        }
    }
    /* Errors and warnings only: lws's libev plugin logs a notice per watcher change. */
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max; /* idle holds 10,000 connections or more */
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);

    memset(&info, 0, sizeof(info));
    info.port = port;
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    info.retry_and_idle_policy = &no_lws_validity;
    srv.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (srv.loop) {
        void *loops[1] = {srv.loop};

        info.options |= LWS_SERVER_OPTION_LIBEV;
        info.foreign_loops = loops;
        srv.ctx = lws_create_context(&info);
        info.foreign_loops = NULL;
        info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
        if (!srv.ctx) {
            ev_loop_destroy(srv.loop);
            srv.loop = NULL;
            lwsl_warn("[floor] the libev event library is not usable here; using poll()\n");
        }
    }
    if (!srv.ctx)
        srv.ctx = lws_create_context(&info);
    vh = srv.ctx ? lws_get_vhost_by_name(srv.ctx, "default") : NULL;
    if (!vh) {
        lwsl_err("[floor] cannot listen on 127.0.0.1:%d\n", port);
        if (srv.ctx)
            lws_context_destroy(srv.ctx);
        if (srv.loop)
            ev_loop_destroy(srv.loop);
        return 1;
    }
    printf("PID %ld PORT %d\n", (long)getpid(), lws_get_vhost_listen_port(vh));
    fflush(stdout);

    if (srv.loop) {
        run_ev();
    } else {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        while (!srv.stop && lws_service(srv.ctx, 0) >= 0)
            ;
    }
    lws_context_destroy(srv.ctx);
    if (srv.loop) {
        ev_run(srv.loop, EVRUN_NOWAIT); /* let lws's last watchers go */
        ev_loop_destroy(srv.loop);
    }
    return 0;
}
