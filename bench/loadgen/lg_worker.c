/* SPDX-License-Identifier: MIT */
/*
 * lg_worker.c: one worker process of the load generator (loadgen.c says what
 * the scenarios are): its share of the peers on a driver of its own, the
 * callbacks the drivers make (lg_on_*: the fan-out order and window checks,
 * echo round trips and their latencies, churn), and the scenarios' loops,
 * moved through the phases the parent writes in shared memory (lg_core.h).
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lg_core.h"

/* An echo request in flight: its number (0: a free slot) and when it was sent. */
typedef struct lg_req {
    uint64_t n;
    int64_t ns;
} lg_req;

/* A worker's scenario state. */
typedef struct lg_core {
    scenario sc;
    lg_shared *sh;
    lg_slot *slot;          /* this worker's */
    lg_peer *peers;         /* this worker's share; peer idx are global */
    size_t n_peers;
    size_t n_open;          /* peers open now */
    size_t n_failed;        /* connections that failed or were lost */
    int shown;              /* failure reasons printed so far */
    int finishing;          /* the driver is closing everything: not a loss */
    /* fanout */
    uint32_t *counts;       /* counts[n]: local live subscribers that have message n */
    uint64_t total, acked;
    size_t live_subs;
    /* echo and churn */
    int running;
    uint64_t rtts, rtt_errors;
    lg_req *flight;         /* echo, churn: `inflight` slots per local peer */
    uint32_t inflight;      /* echo: requests each client keeps in flight (churn: 1) */
    int64_t *lat;           /* latency samples, ns: this worker's part of shared memory */
    size_t lat_n, lat_cap;
    uint64_t churn_done;
} lg_core;

/* --- the worker: callbacks from the drivers --------------------------------------------- */

static int phase_of(const lg_core *k)
{
    return atomic_load_explicit(&k->sh->phase, memory_order_acquire);
}

static uint64_t sent_of(const lg_core *k)
{
    return atomic_load_explicit(&k->sh->sent, memory_order_acquire);
}

static void publish_counts(lg_core *k)
{
    atomic_store_explicit(&k->slot->n_open, k->n_open, memory_order_relaxed);
    atomic_store_explicit(&k->slot->n_failed, k->n_failed, memory_order_relaxed);
}

/* The futex the publisher sleeps on, in shared memory (so not FUTEX_PRIVATE). */
static void futex_wait(atomic_uint *word, unsigned seen, long timeout_ns)
{
    struct timespec ts = {0, timeout_ns};

    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, seen, &ts, NULL, 0);
}

static void futex_wake(atomic_uint *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Move the local window edge and tell the other workers where it is; wake the publisher
 * when it waits for it in another process. */
static void advance_acked(lg_core *k)
{
    uint64_t sent = sent_of(k), before = k->acked;

    while (k->acked < sent && k->counts[k->acked + 1] >= k->live_subs)
        k->acked++;
    atomic_store_explicit(&k->slot->live_subs, k->live_subs, memory_order_relaxed);
    atomic_store_explicit(&k->slot->acked, k->live_subs ? k->acked : LG_NO_SUBS,
                          memory_order_release);
    if (k->acked != before || !k->live_subs) {
        atomic_fetch_add(&k->sh->ack_seq, 1);
        if (atomic_load(&k->sh->pub_waiting))
            futex_wake(&k->sh->ack_seq);
    }
}

/* --- the worker: echo requests in flight ------------------------------------------------ */

static lg_req *flight_of(const lg_core *k, const lg_peer *peer)
{
    return &k->flight[(size_t)(peer - k->peers) * k->inflight];
}

/* Send the peer's next echo request; 0, or -1 when it has no free slot or the driver refused
 * (nothing more in flight then). */
static int send_echo(lg_run *run, lg_peer *peer)
{
    lg_core *k = run->core;
    lg_req *q = flight_of(k, peer), *slot = NULL;

    if (!peer->n_flight) /* a churn slot that was reset starts from nothing in flight */
        memset(q, 0, k->inflight * sizeof(*q));
    for (uint32_t i = 0; i < k->inflight && !slot; i++)
        if (!q[i].n)
            slot = &q[i];
    if (!slot)
        return -1;
    slot->n = ++peer->next_n;
    slot->ns = lg_now_ns();
    peer->n_flight++;
    if (run->drv->echo(run, peer, slot->n) != 0) {
        slot->n = 0;
        peer->n_flight--;
        return -1;
    }
    return 0;
}

/* The reply to request `n` of `peer` came: free its slot and give its send time. When `n` is
 * not in flight (an error reply, which names no request, or a wrong number) the oldest
 * request is taken as answered and `*matched` is 0. Returns 0 when nothing is in flight. */
static int flight_end(lg_core *k, lg_peer *peer, uint64_t n, int64_t *sent_ns, int *matched)
{
    lg_req *q = flight_of(k, peer), *slot = NULL, *oldest = NULL;

    if (!peer->n_flight)
        return 0;
    for (uint32_t i = 0; i < k->inflight && !slot; i++) {
        if (q[i].n && q[i].n == n)
            slot = &q[i];
        else if (q[i].n && (!oldest || q[i].n < oldest->n))
            oldest = &q[i];
    }
    *matched = slot != NULL;
    if (!slot)
        slot = oldest;
    *sent_ns = slot->ns;
    slot->n = 0;
    peer->n_flight--;
    return 1;
}

void lg_on_open(lg_run *run, lg_peer *peer)
{
    lg_core *k = run->core;

    if (peer->open)
        return;
    peer->open = 1;
    k->n_open++;
    publish_counts(k);
    if (peer->role == LG_CHURN && send_echo(run, peer) != 0)
        peer->done = 1;
}

void lg_on_close(lg_run *run, lg_peer *peer, const char *why)
{
    lg_core *k = run->core;

    if (k->finishing)
        return;
    if (peer->open)
        k->n_open--;
    peer->closed = 1;
    k->n_failed++;
    publish_counts(k);
    if (k->shown < 5 || run->verbose) {
        k->shown++;
        fprintf(stderr, "loadgen: connection %d (%s) lost: %s\n", peer->idx,
                peer->open ? "open" : "connecting", why ? why : "?");
    }
    if (peer->role == LG_SUB && peer->open && k->live_subs) {
        k->live_subs--;
        advance_acked(k);
    }
    if (peer->role == LG_PUB)
        atomic_store(&k->sh->pub_lost, 1);
    peer->open = 0;
}

void lg_on_fanout(lg_run *run, lg_peer *peer, uint64_t n)
{
    lg_core *k = run->core;

    if (peer->role != LG_SUB)
        return;
    peer->received++;
    /* The publisher stores n before it sends n, so n > sent was never sent. */
    if (n <= peer->last_n || n > sent_of(k)) {
        peer->dups++; /* again, out of order, or never sent */
        return;
    }
    if (n > peer->last_n + 1)
        peer->gaps += n - peer->last_n - 1;
    peer->last_n = n;
    k->counts[n]++;
    if (n == k->acked + 1)
        advance_acked(k);
}

void lg_on_echo(lg_run *run, lg_peer *peer, uint64_t n, int ok)
{
    lg_core *k = run->core;
    int64_t t = lg_now_ns(), sent_ns;
    int matched;

    if ((peer->role != LG_ECHO && peer->role != LG_CHURN) ||
        !flight_end(k, peer, n, &sent_ns, &matched))
        return;
    if (!ok || !matched) {
        k->rtt_errors++;
    } else if (k->running && peer->role == LG_ECHO) {
        k->rtts++;
        if (k->lat_n < k->lat_cap)
            k->lat[k->lat_n++] = t - sent_ns;
    }
    if (peer->role == LG_CHURN)
        peer->done = 1;
    else if (k->running)
        (void)send_echo(run, peer); /* refused: one request fewer in flight */
}

/* --- the worker: the scenarios ---------------------------------------------------------- */

/* Connect every local peer with at most `in_flight` handshakes at once; 0 when all opened
 * in time. */
static int connect_all(lg_run *run, size_t in_flight, double timeout_s)
{
    lg_core *k = run->core;
    int64_t deadline = lg_now_ns() + (int64_t)(timeout_s * 1e9);
    size_t n = k->n_peers, started = 0;

    while (k->n_open + k->n_failed < n && lg_now_ns() < deadline && phase_of(k) != PH_ABORT) {
        while (started < n && started - (k->n_open + k->n_failed) < in_flight) {
            if (run->drv->connect(run, &k->peers[started]) != 0 && !k->peers[started].closed) {
                k->peers[started].closed = 1;
                k->n_failed++;
                publish_counts(k);
            }
            started++;
        }
        run->drv->service(run, 5);
    }
    if (k->n_open < n) {
        fprintf(stderr, "loadgen: worker with peers %d..%d: %zu of %zu connections open "
                "(%zu failed)\n", k->peers[0].idx, k->peers[n - 1].idx, k->n_open, n,
                k->n_failed);
        return -1;
    }
    return 0;
}

/* Service the connections until the parent moves past `phase`. */
static void serve_while(lg_run *run, int phase)
{
    while (phase_of(run->core) == phase)
        run->drv->service(run, 1);
}

static void settle(lg_run *run, double seconds)
{
    int64_t end = lg_now_ns() + (int64_t)(seconds * 1e9);

    while (lg_now_ns() < end)
        run->drv->service(run, 5);
}

/* Fan-out: the publisher keeps the window full against the slowest worker's edge. Alone in
 * its worker (several workers), it sleeps on the ack futex between bursts instead of in the
 * client loop, which would not wake when another process's subscribers move the edge. */
static void w_fanout(lg_run *run, const opts *o)
{
    lg_core *k = run->core;
    lg_peer *pub = k->n_peers && k->peers[0].role == LG_PUB ? &k->peers[0] : NULL;
    int alone = pub && k->n_peers == 1;
    uint64_t sent = 0;
    int64_t drain;

    while (phase_of(k) == PH_RUN) {
        unsigned seq = atomic_load(&k->sh->ack_seq);

        if (pub && pub->open) {
            uint64_t g = lg_global_acked(k->sh, o->workers);

            while (sent < k->total && (g >= sent || sent - g < o->window)) {
                atomic_store_explicit(&k->sh->sent, sent + 1, memory_order_release);
                if (run->drv->publish(run, pub, sent + 1) != 0) {
                    atomic_store_explicit(&k->sh->sent, sent, memory_order_release);
                    break;
                }
                sent++;
            }
        }
        if (!alone) {
            run->drv->service(run, 1);
            continue;
        }
        run->drv->service(run, 0); /* write what was published */
        atomic_store(&k->sh->pub_waiting, 1);
        futex_wait(&k->sh->ack_seq, seq, 1000000);
        atomic_store(&k->sh->pub_waiting, 0);
    }
    /* The deliveries of the measured phase are counted now. A --timed run then lets the
     * messages still in flight in, unmeasured, so that none of them counts as a loss (an
     * untimed run that ends before its last message has failed already: not awaited). */
    for (size_t i = 0; i < k->n_peers; i++)
        if (k->peers[i].role == LG_SUB)
            k->slot->received += k->peers[i].received;
    drain = lg_now_ns() + 5000000000LL;
    while (o->timed && k->live_subs && k->acked < sent_of(k) && lg_now_ns() < drain &&
           phase_of(k) != PH_ABORT)
        run->drv->service(run, 1);
    for (size_t i = 0; i < k->n_peers; i++) {
        lg_peer *p = &k->peers[i];

        if (p->role != LG_SUB)
            continue;
        k->slot->got += p->received - p->dups;
        k->slot->gaps += p->gaps;
        k->slot->dups += p->dups;
        k->slot->subs_lost += p->closed;
    }
}

static void w_echo(lg_run *run)
{
    lg_core *k = run->core;
    int64_t drain;

    k->running = 1;
    for (size_t i = 0; i < k->n_peers; i++)
        for (uint32_t j = 0; j < k->inflight; j++)
            if (send_echo(run, &k->peers[i]) != 0)
                break;
    while (phase_of(k) == PH_RUN) {
        run->drv->service(run, 1);
        atomic_store_explicit(&k->slot->rtts, k->rtts, memory_order_relaxed);
    }
    k->running = 0;
    drain = lg_now_ns() + 1000000000;
    while (lg_now_ns() < drain) { /* let the last requests finish, unmeasured */
        int busy = 0;

        for (size_t i = 0; i < k->n_peers; i++)
            busy |= k->peers[i].n_flight != 0 && k->peers[i].open;
        if (!busy)
            break;
        run->drv->service(run, 1);
    }
    k->slot->rtt_errors = k->rtt_errors;
    k->slot->lat_n = k->lat_n;
    atomic_store_explicit(&k->slot->rtts, k->rtts, memory_order_relaxed);
}

static void w_churn(lg_run *run)
{
    lg_core *k = run->core;

    while (phase_of(k) == PH_RUN) {
        for (size_t i = 0; i < k->n_peers; i++) {
            lg_peer *p = &k->peers[i];
            int idx = p->idx;

            if (p->conn && p->done) {
                run->drv->close(run, p);
                if (p->open)
                    k->n_open--;
                k->churn_done++;
                memset(p, 0, sizeof(*p));
            } else if (!p->conn && p->closed) {
                memset(p, 0, sizeof(*p)); /* lost: counted in n_failed; use the slot again */
            }
            if (!p->conn) {
                p->idx = idx;
                p->role = LG_CHURN;
                if (run->drv->connect(run, p) != 0) {
                    k->slot->connect_errors++;
                    memset(p, 0, sizeof(*p));
                    p->idx = idx;
                }
            }
        }
        run->drv->service(run, 1);
    }
    for (size_t i = 0; i < k->n_peers; i++)
        if (k->peers[i].conn)
            run->drv->close(run, &k->peers[i]);
    settle(run, 0.2);
    k->slot->rtt_errors = k->rtt_errors;
    k->slot->churn_done = k->churn_done;
}

/* One worker: peers [lo, hi) of the scenario's, on a driver of its own. Returns the exit
 * code of the worker process; its counts are in its slot. */
int lg_worker_main(const opts *o, const lg_driver *drv, lg_shared *sh, int w, size_t lo,
                   size_t hi, int64_t *lat, size_t lat_cap)
{
    lg_run run;
    lg_core core;
    lg_slot *slot = &sh->slot[w];
    size_t in_flight;
    int ph;

    memset(&run, 0, sizeof(run));
    memset(&core, 0, sizeof(core));
    core.sc = o->sc;
    core.sh = sh;
    core.slot = slot;
    core.lat = lat;
    core.lat_cap = lat_cap;
    core.total = o->messages;
    run.core = &core;
    run.drv = drv;
    run.host = "127.0.0.1";
    run.port = o->port;
    run.instance = o->instance;
    run.n_src = o->n_src;
    run.verbose = o->verbose;
    for (int i = 0; i < LG_PAYLOAD; i++)
        run.payload[i] = (uint8_t)('a' + i % 26);
    core.n_peers = hi - lo;
    core.peers = calloc(core.n_peers, sizeof(*core.peers));
    if (o->sc == SC_FANOUT)
        core.counts = calloc(core.total + 2, sizeof(*core.counts));
    core.inflight = o->sc == SC_ECHO ? (uint32_t)o->inflight : 1;
    if (o->sc == SC_ECHO || o->sc == SC_CHURN)
        core.flight = calloc(core.n_peers * core.inflight, sizeof(*core.flight));
    if (!core.peers || (o->sc == SC_FANOUT && !core.counts) ||
        ((o->sc == SC_ECHO || o->sc == SC_CHURN) && !core.flight) || drv->init(&run) != 0) {
        free(core.peers);
        free(core.counts);
        free(core.flight);
        atomic_store(&slot->state, WS_FAILED);
        return 1;
    }
    for (size_t i = 0; i < core.n_peers; i++) {
        lg_peer *p = &core.peers[i];

        p->idx = (int)(lo + i);
        p->role = o->sc == SC_FANOUT ? (lo + i == 0 ? LG_PUB : LG_SUB) :
                  o->sc == SC_ECHO ? LG_ECHO : o->sc == SC_IDLE ? LG_IDLE : LG_CHURN;
    }
    atomic_store(&slot->state, WS_READY);
    while ((ph = phase_of(&core)) == PH_INIT)
        lg_sleep_ms(1);
    /* The handshakes in flight are shared out, so that the server sees as many as with one
     * worker. */
    in_flight = 256 / (size_t)o->workers;
    if (ph == PH_CONNECT && o->sc != SC_CHURN &&
        connect_all(&run, in_flight < 16 ? 16 : in_flight, o->timeout) != 0) {
        atomic_store(&slot->state, WS_FAILED);
    } else if (ph == PH_CONNECT) {
        for (size_t i = 0; i < core.n_peers; i++)
            core.live_subs += core.peers[i].role == LG_SUB;
        slot->subs = core.live_subs;
        if (o->sc == SC_FANOUT)
            advance_acked(&core);
        atomic_store(&slot->state, WS_CONNECTED);
        serve_while(&run, PH_CONNECT);
        if (phase_of(&core) == PH_RUN) {
            if (o->sc == SC_FANOUT)
                w_fanout(&run, o);
            else if (o->sc == SC_ECHO)
                w_echo(&run);
            else if (o->sc == SC_CHURN)
                w_churn(&run);
            else
                serve_while(&run, PH_RUN);
        }
        atomic_store(&slot->state, WS_DONE);
    }
    core.finishing = 1;
    drv->fini(&run);
    free(core.peers);
    free(core.counts);
    free(core.flight);
    return 0;
}
