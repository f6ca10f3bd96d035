/* SPDX-License-Identifier: MIT */
/*
 * gate_latency.c: the output gate's added latency (issue 17; bench/RESULTS.md).
 * A typed client of room instance NAME connects to a bench_server at --port
 * and sends --requests requests one after the other (after --warmup unmeasured
 * ones), each timed from the call that sends it to its reply's callback:
 * `store` (its handler writes the Tick's number to the instance's storage
 * under key "n", then replies: on a cluster node that reply waits until Redis
 * has acknowledged the write) or `echo` (no write: a turn the gate never holds
 * past its end). Every reply must be the request's own Tick. Prints the p50,
 * p90, p99 and the largest latency, and a line "RESULT key=value ..." whose
 * last_n is the number of the last request (what `store` left under "n"),
 * for bench/cluster/cluster.sh and the CTest bench_gate_smoke. --mark CMD as
 * http_emit_latency's. Loopback only; bounded in count and time (5 s a
 * request). Exit 0, 3 when a reply was wrong or missing, 1 on other failures,
 * 2 on usage errors.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

typedef struct opts {
    probe_opts c;            /* --instance, --requests, --warmup, --mark */
    int port, store;
    const char *event;
} opts;

/* The request in flight and what came back. */
typedef struct probe {
    uint8_t data[PROBE_PAYLOAD];
    uint64_t n;              /* the request in flight */
    atomic_int answered;     /* its reply came (atomic as the connection's flags) */
    probe_conn conn;
    uint64_t wrong;          /* replies that were errors or not the request's Tick */
} probe;

static void on_reply(verani_client *c, verani_reply_status status, const Bench__Tick *reply,
                     const char *error, void *user)
{
    probe *p = user;

    (void)c;
    if (status != VERANI_REPLY_OK || !reply || reply->n != p->n ||
        reply->data.len != PROBE_PAYLOAD || memcmp(reply->data.data, p->data, PROBE_PAYLOAD)) {
        if (p->wrong++ < 3)
            fprintf(stderr, "gate_latency: request %llu: %s\n", (unsigned long long)p->n,
                    error ? error : "not its own Tick back");
    }
    atomic_store(&p->answered, 1);
}

/* Service `loop` until *flag is set, the connection is lost or 5 s pass; 0 when it is set. */
static int wait_for(verani_client_loop *loop, probe *p, atomic_int *flag)
{
    int64_t deadline = probe_now_ns() + 5000000000LL;

    while (!atomic_load(flag) && !atomic_load(&p->conn.lost) && probe_now_ns() < deadline)
        verani_client_loop_service(loop, 5);
    return atomic_load(flag) ? 0 : -1;
}

/* Send every request, one at a time; the measured ones' latencies in `lat`. 0, or -1 when a
 * request could not be sent or its reply did not come. */
static int run_requests(const opts *o, verani_client_loop *loop, verani_client *c, probe *p,
                        int64_t *lat)
{
    int total = o->c.warmup + o->c.requests;

    for (int i = 0; i < total; i++) {
        Bench__Tick t = BENCH__TICK__INIT;
        int64_t t0;
        int r;

        if (i == o->c.warmup)
            probe_mark("gate_latency", o->c.mark, "start");
        t.n = p->n = (uint64_t)i + 1;
        t.data.len = PROBE_PAYLOAD;
        t.data.data = p->data;
        atomic_store(&p->answered, 0);
        t0 = probe_now_ns();
        r = o->store ? bench_bench_client_request_store(c, &t, 5000, on_reply, p)
                     : bench_bench_client_request_echo(c, &t, 5000, on_reply, p);
        if (r < 0 || wait_for(loop, p, &p->answered) != 0) {
            fprintf(stderr, "gate_latency: request %d: %s\n", i + 1,
                    r < 0 ? verani_strerror(r) : "no reply");
            return -1;
        }
        if (i >= o->c.warmup)
            lat[i - o->c.warmup] = probe_now_ns() - t0;
    }
    probe_mark("gate_latency", o->c.mark, "end");
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: gate_latency --port P --event store|echo [--instance NAME]\n"
               "                    [--requests N] [--warmup N] [--mark CMD]\n"
               "A client of Bench/NAME (g1) at port P sends N (2000) requests one at a time\n"
               "after --warmup (100) unmeasured ones: store writes storage key \"n\" first.\n");
}

/* The options of gate_latency's own. */
static int own_option(void *arg, const char *a, const char *v)
{
    opts *o = arg;

    if (!strcmp(a, "--port"))
        o->port = atoi(v);
    else if (!strcmp(a, "--event") && (!strcmp(v, "store") || !strcmp(v, "echo"))) {
        o->event = v;
        o->store = !strcmp(v, "store");
    } else {
        return -1;
    }
    return 0;
}

static int parse(int argc, char **argv, opts *o)
{
    int r;

    memset(o, 0, sizeof(*o));
    r = probe_parse(argc, argv, &o->c, "g1", own_option, o);
    return r || (o->event && o->port > 0 && o->port <= 65535) ? r : -1;
}

int main(int argc, char **argv)
{
    static probe p;
    verani_client_loop *loop;
    verani_client *c = NULL;
    char err[256] = "";
    int64_t *lat;
    opts o;
    int r = parse(argc, argv, &o);

    if (r != 0) {
        usage(r > 0 ? stdout : stderr);
        return r > 0 ? 0 : 2;
    }
    for (int i = 0; i < PROBE_PAYLOAD; i++)
        p.data[i] = (uint8_t)('a' + i % 26);
    lat = calloc((size_t)o.c.requests, sizeof(*lat));
    loop = verani_client_loop_create(err, sizeof(err));
    if (loop)
        c = probe_client(loop, o.port, o.c.instance, "gate", &p.conn, err, sizeof(err));
    if (!lat || !c || wait_for(loop, &p, &p.conn.connected) != 0) {
        fprintf(stderr, "gate_latency: the client of %s did not connect to port %d%s%s\n",
                o.c.instance, o.port, err[0] ? ": " : "", err);
        r = 1;
    } else {
        r = run_requests(&o, loop, c, &p, lat) ? 3 : 0;
    }
    if (c)
        verani_client_destroy(c);
    if (loop)
        verani_client_loop_destroy(loop);
    if (r == 0) {
        probe_pcts f = probe_percentiles(lat, o.c.requests);
        const char *ev = o.event;

        printf("RESULT target=gate event=%s requests=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f "
               "max_us=%.1f errors=%llu last_n=%d\n", ev, o.c.requests, f.p50, f.p90, f.p99,
               f.max, (unsigned long long)p.wrong, o.c.warmup + o.c.requests);
        fprintf(stderr, "%s to Bench/%s at port %d: %d requests, p50 %.0f us, p90 %.0f us, "
                "p99 %.0f us, max %.0f us; %llu wrong replies\n", ev, o.c.instance, o.port,
                o.c.requests, f.p50, f.p90, f.p99, f.max, (unsigned long long)p.wrong);
        r = p.wrong ? 3 : 0;
    }
    free(lat);
    return r;
}
