/* SPDX-License-Identifier: MIT */
/*
 * http_emit_latency.c: the latency of an HTTP API emit (README.md, "HTTP API"),
 * for issue 16's forwarded emit (bench/RESULTS.md: two bench_server nodes
 * of one cluster). A typed client of room instance INST connects to the node
 * at --ws-port, so that node owns INST; then --requests emits of a 64-byte
 * Tick to channel "default" of INST are POSTed one after the other on one
 * keep-alive connection to the node at --http-port, each timed from the
 * request's write to the end of its answer. When the two ports are two nodes,
 * every emit is forwarded through Redis to the owner. Every answer must be 200
 * {"delivered":1}, and the client must get every Tick once and in order.
 * Prints the p50, p90, p99 and the largest latency and a line
 * "RESULT key=value ..." for bench/run.sh. --mark CMD runs CMD with sh -c, $1
 * being start before the first measured request and end after the last (after
 * --warmup unmeasured requests), as loadgen's does. Loopback only; bounded in
 * count and time. Exit 0, 3 when an answer or a delivery was wrong, 1 on other
 * failures, 2 on usage errors.
 */
#define _GNU_SOURCE /* strcasestr */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe.h"

#define PAYLOAD PROBE_PAYLOAD

typedef struct opts {
    probe_opts c;            /* --instance, --requests, --warmup, --mark */
    int ws_port, http_port;
    const char *token;
} opts;

/* The client thread's state: the main thread reads the atomics only. */
typedef struct holder {
    const opts *o;
    probe_conn conn;
    atomic_int stop;
    atomic_uint_fast64_t got, bad;   /* Ticks received in order; out of order or again */
    uint64_t last_n;
} holder;

/* --- the client of the instance, on a thread of its own --------------------------------- */

static void on_fanout(verani_client *c, const Bench__Tick *msg, void *user)
{
    holder *h = user;

    (void)c;
    if (msg->n == h->last_n + 1 && msg->data.len == PAYLOAD) {
        h->last_n = msg->n;
        atomic_fetch_add(&h->got, 1);
    } else {
        atomic_fetch_add(&h->bad, 1);
    }
}

static void *holder_main(void *arg)
{
    holder *h = arg;
    verani_client_loop *loop;
    verani_client *c = NULL;
    char err[256];

    loop = verani_client_loop_create(err, sizeof(err));
    if (loop)
        c = probe_client(loop, h->o->ws_port, h->o->c.instance, "holder", &h->conn, err,
                         sizeof(err));
    if (!c || bench_bench_client_on_fanout(c, on_fanout, h) < 0) {
        fprintf(stderr, "http_emit_latency: client: %s\n", err);
        atomic_store(&h->conn.lost, 1);
    } else {
        while (!atomic_load(&h->stop))
            verani_client_loop_service(loop, 5);
    }
    if (c)
        verani_client_destroy(c);
    if (loop)
        verani_client_loop_destroy(loop);
    return NULL;
}

/* --- HTTP/1.1 on one keep-alive connection ---------------------------------------------- */

static int http_connect(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Write `len` bytes of `buf`; 0 or -1. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Read one answer into `buf` (NUL-terminated); its status, and *body at its body, *closes
 * when it says Connection: close. -1 on a read error, end or 5 s without a byte. */
static int read_answer(int fd, char *buf, size_t cap, const char **body, int *closes)
{
    size_t have = 0, need = 0;
    char *end = NULL;

    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t r;

        if (end && have >= need)
            break;
        if (have + 1 >= cap || poll(&p, 1, 5000) <= 0)
            return -1;
        r = read(fd, buf + have, cap - 1 - have);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        buf[have] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            const char *cl = strcasestr(buf, "\r\ncontent-length:");

            if (!cl || cl > end)
                return -1; /* the API always says how long its answer is */
            need = (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
        }
    }
    *body = end + 4;
    *closes = strcasestr(buf, "\r\nconnection: close") != NULL &&
              strcasestr(buf, "\r\nconnection: close") < end;
    return (int)strtol(buf + 9, NULL, 10); /* "HTTP/1.1 200 OK" */
}

/* --- the run ------------------------------------------------------------------------------ */

/* Send every request; their latencies (measured ones) in `lat`. The number of wrong answers,
 * or -1 when the connection failed. */
static int run_requests(const opts *o, int64_t *lat, int *reconnects)
{
    static char req[1024], ans[4096];
    uint8_t data[PAYLOAD], body[PAYLOAD + 16];
    int fd = -1, errors = 0, total = o->c.warmup + o->c.requests;

    for (int i = 0; i < PAYLOAD; i++)
        data[i] = (uint8_t)('a' + i % 26);
    for (int i = 0; i < total; i++) {
        Bench__Tick t = BENCH__TICK__INIT;
        const char *ans_body;
        size_t blen, hlen;
        int64_t t0;
        int status, closes;

        if (i == o->c.warmup)
            probe_mark("http_emit_latency", o->c.mark, "start");
        if (fd < 0 && (fd = http_connect(o->http_port)) < 0) {
            fprintf(stderr, "http_emit_latency: connect to port %d: %s\n", o->http_port,
                    strerror(errno));
            return -1;
        }
        t.n = (uint64_t)i + 1;
        t.data.len = PAYLOAD;
        t.data.data = data;
        blen = bench__tick__pack(&t, body);
        hlen = (size_t)snprintf(req, sizeof(req),
                                "POST /_verani/rooms/Bench/%s/emit/fanout?channel=default "
                                "HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                                "Content-Type: application/x-protobuf\r\n"
                                "Content-Length: %zu\r\n\r\n", o->c.instance, o->token, blen);
        if (hlen + blen > sizeof(req))
            return -1;
        memcpy(req + hlen, body, blen);
        t0 = probe_now_ns();
        if (write_all(fd, req, hlen + blen) != 0 ||
            (status = read_answer(fd, ans, sizeof(ans), &ans_body, &closes)) < 0) {
            fprintf(stderr, "http_emit_latency: request %d: no answer\n", i + 1);
            close(fd);
            return -1;
        }
        if (i >= o->c.warmup)
            lat[i - o->c.warmup] = probe_now_ns() - t0;
        if (status != 200 || !strstr(ans_body, "\"delivered\":1")) {
            if (errors++ < 3)
                fprintf(stderr, "http_emit_latency: request %d: %d %s\n", i + 1, status,
                        ans_body);
        }
        if (closes) {
            close(fd);
            fd = -1;
            (*reconnects)++;
        }
    }
    probe_mark("http_emit_latency", o->c.mark, "end");
    if (fd >= 0)
        close(fd);
    return errors;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: http_emit_latency --ws-port A --http-port B --token T [--instance NAME]\n"
               "                         [--requests N] [--warmup N] [--mark CMD]\n"
               "A client of Bench/NAME (b1) connects to port A; N (2000) emits to it are POSTed\n"
               "one by one to the HTTP API at port B after --warmup (100) unmeasured ones.\n");
}

/* The options of http_emit_latency's own. */
static int own_option(void *arg, const char *a, const char *v)
{
    opts *o = arg;

    if (!strcmp(a, "--ws-port"))
        o->ws_port = atoi(v);
    else if (!strcmp(a, "--http-port"))
        o->http_port = atoi(v);
    else if (!strcmp(a, "--token"))
        o->token = v;
    else
        return -1;
    return 0;
}

static int parse(int argc, char **argv, opts *o)
{
    int r;

    memset(o, 0, sizeof(*o));
    r = probe_parse(argc, argv, &o->c, "b1", own_option, o);
    if (r == 0 && (o->ws_port <= 0 || o->ws_port > 65535 || o->http_port <= 0 ||
                   o->http_port > 65535 || !o->token))
        r = -1;
    return r;
}

int main(int argc, char **argv)
{
    opts o;
    holder h;
    pthread_t th;
    int64_t *lat, deadline;
    int r = parse(argc, argv, &o), errors, reconnects = 0;
    uint64_t total;

    if (r != 0) {
        usage(r > 0 ? stdout : stderr);
        return r > 0 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(&h, 0, sizeof(h));
    h.o = &o;
    lat = calloc((size_t)o.c.requests, sizeof(*lat));
    if (!lat || pthread_create(&th, NULL, holder_main, &h) != 0)
        return 1;
    deadline = probe_now_ns() + 10000000000LL;
    while (!atomic_load(&h.conn.connected) && !atomic_load(&h.conn.lost) &&
           probe_now_ns() < deadline)
        usleep(1000);
    if (!atomic_load(&h.conn.connected)) {
        fprintf(stderr, "http_emit_latency: the client of %s did not connect to port %d\n",
                o.c.instance, o.ws_port);
        atomic_store(&h.stop, 1);
        pthread_join(th, NULL);
        return 1;
    }
    errors = run_requests(&o, lat, &reconnects);
    total = (uint64_t)o.c.warmup + (uint64_t)o.c.requests;
    deadline = probe_now_ns() + 5000000000LL;
    while (errors >= 0 && atomic_load(&h.got) + atomic_load(&h.bad) < total &&
           !atomic_load(&h.conn.lost) && probe_now_ns() < deadline)
        usleep(1000);
    atomic_store(&h.stop, 1);
    pthread_join(th, NULL);
    if (errors < 0) {
        free(lat);
        return 1;
    }
    {
        probe_pcts f = probe_percentiles(lat, o.c.requests);
        double p50 = f.p50, p90 = f.p90, p99 = f.p99, mx = f.max;
        uint64_t got = atomic_load(&h.got), bad = atomic_load(&h.bad);

        printf("RESULT target=http-emit requests=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f "
               "max_us=%.1f errors=%d received=%llu out_of_order=%llu reconnects=%d\n",
               o.c.requests, p50, p90, p99, mx, errors, (unsigned long long)got,
               (unsigned long long)bad, reconnects);
        fprintf(stderr, "http emit to Bench/%s at port %d (owner at port %d): %d requests, p50 "
                "%.0f us, p90 %.0f us, p99 %.0f us, max %.0f us; %d wrong answers; %llu of "
                "%llu Ticks received in order\n", o.c.instance, o.http_port, o.ws_port,
                o.c.requests, p50, p90, p99, mx, errors, (unsigned long long)got,
                (unsigned long long)total);
        free(lat);
        return errors || got != total || bad ? 3 : 0;
    }
}
