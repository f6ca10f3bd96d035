/* SPDX-License-Identifier: MIT */
/*
 * loadgen.c: the load generator of bench/ (issues 8 and 20): the parent process
 * (the workers' side is lg_worker.c, the command line lg_cli.c, what they share
 * lg_core.h). It runs one scenario against one server, over loopback
 * only:
 *   fanout  N subscribers and one publisher in one channel of one instance;
 *           the publisher keeps at most --window messages in flight (a message
 *           leaves the window when every live subscriber has it); every
 *           subscriber checks it gets every message once and in order, and
 *           losses, gaps and duplicates are counted and printed;
 *   echo    C clients in a closed loop of request and reply, --inflight requests in
 *           flight each (1 by default); p50 and p99;
 *   idle    N connections opened and held; the server's RSS per connection;
 *   churn   K slots, each: connect, one echo, close, again; connections/s.
 * The connections are spread over --workers worker processes, each with its
 * own driver state (libwebsockets context or Verani-C client loop) and its own
 * share of the peers, so that the generator is not what limits the server.
 * The parent process does no network work: it starts the server (with `--`),
 * forks the workers, moves them through the phases (connect, measured run,
 * stop) through a shared memory page, takes the CPU and memory readings at
 * the phase edges and merges the workers' counts. Fan-out stays exact across
 * workers: the publisher (in worker 0) stores each message number in shared
 * memory before it sends it, each worker publishes how far all its live
 * subscribers have got, and the window is measured against the slowest.
 * The figure that compares servers is the server's own CPU time (utime +
 * stime of /proc/<pid>/stat) over the measured phase only (connecting is not
 * measured, except in idle and churn where it is the work), divided by the
 * units of work; the generator's CPU (its workers' and its own) is printed
 * beside it, in total and for the busiest worker, so that a saturated
 * generator shows. The server's main thread (its event loop, in every server
 * here) is also read alone, so that the CPU of its other threads (a worker
 * pool) shows, and so are the context switches of all its threads. Every loop
 * is bounded in count and in time. With `--` the
 * server command that follows is started first (its first stdout line must be
 * "PID <pid> PORT <port>") and stopped with SIGTERM at the end.
 * `--mark CMD` runs a command at both edges of the measured phase (run.sh
 * reads Redis's command counters there, or holds several generators at one
 * start line), `--timed` makes a fan-out run last its --duration, and
 * `--instance` names the room instance, so that several generators can each
 * drive an instance of their own (bench/cluster/).
 * Output: a human line and a line "RESULT key=value ..." for bench/run.sh.
 * Exit 0, 3 when the scenario saw a loss, gap, duplicate, error or a
 * connection that failed, 1 for other failures, 2 for usage errors. It does
 * not pin itself to a core (run.sh uses taskset) and takes no medians (run.sh).
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "lg_core.h"

/* --- the parent ------------------------------------------------------------------------- */

typedef struct lg_ctl {
    const opts *o;
    lg_shared *sh;
    pid_t kids[LG_MAX_WORKERS];
    int n;
    int dead;               /* a worker ended before it was done */
} lg_ctl;

/* A reading at a phase edge: the clock, the server's CPU (all its threads, and its main
 * thread's) and context switches, the generator's CPU (all of it, and each worker's). */
typedef struct snap {
    int64_t t;
    double srv, srv_main, gen;
    long long srv_csw;
    double wk[LG_MAX_WORKERS];
} snap;

static snap take(const lg_ctl *c)
{
    snap s;

    s.t = lg_now_ns();
    s.srv = lg_proc_cpu_sw(c->o->pid, &s.srv_csw);
    s.srv_main = lg_main_thread_cpu(c->o->pid);
    s.gen = lg_self_cpu();
    for (int w = 0; w < c->n; w++) {
        s.wk[w] = lg_proc_cpu(c->kids[w]);
        s.gen += s.wk[w] > 0 ? s.wk[w] : 0;
    }
    return s;
}

static void set_phase(lg_ctl *c, int ph)
{
    atomic_store_explicit(&c->sh->phase, ph, memory_order_release);
}

static uint64_t sum_slots(const lg_ctl *c, size_t field)
{
    uint64_t s = 0;

    for (int w = 0; w < c->n; w++)
        s += atomic_load_explicit((atomic_uint_fast64_t *)((char *)&c->sh->slot[w] + field),
                                  memory_order_relaxed);
    return s;
}

#define SUM(c, f) sum_slots((c), offsetof(lg_slot, f))

/* Reap workers that ended; one that ended before it was done is a failure. */
static void reap(lg_ctl *c)
{
    for (int w = 0; w < c->n; w++) {
        if (c->kids[w] > 0 && waitpid(c->kids[w], NULL, WNOHANG) == c->kids[w]) {
            if (atomic_load(&c->sh->slot[w].state) < WS_DONE &&
                atomic_load(&c->sh->slot[w].state) != WS_FAILED) {
                fprintf(stderr, "loadgen: worker %d ended before it was done\n", w);
                c->dead = 1;
            }
            c->kids[w] = -c->kids[w]; /* reaped: its /proc entry is gone */
        }
    }
}

/* Wait until every worker reached `state` (0), one failed or ended (-1), or `timeout_s`. */
static int wait_state(lg_ctl *c, int state, double timeout_s)
{
    int64_t deadline = lg_now_ns() + (int64_t)(timeout_s * 1e9);

    while (lg_now_ns() < deadline) {
        int all = 1;

        for (int w = 0; w < c->n; w++) {
            int s = atomic_load(&c->sh->slot[w].state);

            if (s == WS_FAILED)
                return -1;
            all &= s >= state;
        }
        if (all)
            return 0;
        reap(c);
        if (c->dead)
            return -1;
        lg_sleep_ms(1);
    }
    fprintf(stderr, "loadgen: the workers did not get there within %.0f s\n", timeout_s);
    return -1;
}

static const char *sc_name(scenario sc)
{
    return sc == SC_FANOUT ? "fanout" : sc == SC_ECHO ? "echo" : sc == SC_IDLE ? "idle" :
           "churn";
}

/* The generator's CPU over [a, b] as a share of one core: in total and the busiest worker. */
static void gen_share(const lg_ctl *c, const snap *a, const snap *b, double *total, double *max)
{
    double el = (double)(b->t - a->t) / 1e9;

    *total = el > 0 ? 100 * (b->gen - a->gen) / el : 0;
    *max = 0;
    for (int w = 0; w < c->n; w++) {
        double s = el > 0 ? 100 * (b->wk[w] - a->wk[w]) / el : 0;

        if (s > *max)
            *max = s;
    }
}

/* The RESULT line's server main thread (its event loop) and context switches per unit, when
 * /proc gave them at both edges. */
static void print_server_threads(const snap *a, const snap *b, uint64_t count)
{
    double main_cpu = b->srv_main - a->srv_main;

    if (a->srv_main >= 0 && b->srv_main >= 0)
        printf(" server_main_cpu_s=%.3f server_main_us_per_unit=%.4f", main_cpu,
               count ? main_cpu * 1e6 / (double)count : 0);
    if (a->srv_csw >= 0 && b->srv_csw >= 0)
        printf(" server_ctxsw_per_unit=%.3f",
               count ? (double)(b->srv_csw - a->srv_csw) / (double)count : 0);
}

static void print_common(const lg_ctl *c, const char *units, uint64_t count, const snap *a,
                         const snap *b)
{
    const opts *o = c->o;
    double el = (double)(b->t - a->t) / 1e9, cpu = b->srv - a->srv, tot, max;

    gen_share(c, a, b, &tot, &max);
    printf("RESULT target=%s scenario=%s units=%s count=%" PRIu64 " elapsed_s=%.3f rate=%.0f "
           "server_cpu_s=%.3f server_us_per_unit=%.4f gen_cpu_s=%.3f gen_workers=%d "
           "gen_worker_max_pct=%.1f", o->target, sc_name(o->sc), units, count, el,
           el > 0 ? (double)count / el : 0, cpu, count ? cpu * 1e6 / (double)count : 0,
           b->gen - a->gen, c->n, max);
    print_server_threads(a, b, count);
}

/* The human line's tail: the generator beside the server. */
static void print_gen(const lg_ctl *c, const snap *a, const snap *b)
{
    double el = (double)(b->t - a->t) / 1e9, tot, max;

    gen_share(c, a, b, &tot, &max);
    fprintf(stderr, "  server %.0f %% of a core; generator %.0f %% of a core over %d "
            "worker(s), the busiest %.0f %%\n", el > 0 ? 100 * (b->srv - a->srv) / el : 0, tot,
            c->n, max);
}

/* --mark: run the command with sh -c, `word` ("start" or "end") as its $1 and the server's pid
 * as its $2, and wait for it. Its failure is reported, not fatal: it only watches (Redis
 * counters, a start barrier, the server's writes). */
static void mark(const opts *o, const char *word)
{
    char pid[24];
    pid_t kid;
    int status;

    if (!o->mark)
        return;
    snprintf(pid, sizeof(pid), "%ld", o->pid);
    fflush(stdout);
    fflush(stderr);
    kid = fork();
    if (kid == 0) {
        execl("/bin/sh", "sh", "-c", o->mark, "mark", word, pid, (char *)NULL);
        _exit(127);
    }
    if (kid < 0 || waitpid(kid, &status, 0) != kid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        fprintf(stderr, "loadgen: --mark command (%s) failed\n", word);
}

/* The measured phase: readings `a` and `b` around it; it ends after `duration_s` or earlier
 * when `done` says so. Then the workers stop and report. 0, or -1 when a worker failed. */
static int measure(lg_ctl *c, double duration_s, int (*done)(lg_ctl *c), snap *a, snap *b)
{
    int64_t end;

    mark(c->o, "start");
    *a = take(c);
    set_phase(c, PH_RUN);
    end = a->t + (int64_t)(duration_s * 1e9);
    while (lg_now_ns() < end && !(done && done(c))) {
        reap(c);
        if (c->dead)
            return -1;
        lg_sleep_ms(0.5);
    }
    *b = take(c);
    set_phase(c, PH_STOP);
    mark(c->o, "end");
    return wait_state(c, WS_DONE, 30);
}

/* Fan-out is over: every live subscriber has every message, or nobody is left to send to. */
static int fanout_done(lg_ctl *c)
{
    uint64_t g = lg_global_acked(c->sh, c->n);

    return atomic_load(&c->sh->pub_lost) || !SUM(c, live_subs) ||
           (g != LG_NO_SUBS && g >= c->o->messages);
}

static int p_fanout(lg_ctl *c)
{
    const opts *o = c->o;
    uint64_t sent, subs, got, deliveries, losses, gaps, dups, subs_lost;
    snap a, b;
    int bad;

    if (wait_state(c, WS_CONNECTED, o->timeout + 30) != 0)
        return 3;
    lg_sleep_ms(300);
    if (measure(c, o->duration, fanout_done, &a, &b) != 0)
        return 1;
    sent = atomic_load(&c->sh->sent);
    subs = got = deliveries = gaps = dups = subs_lost = 0;
    for (int w = 0; w < c->n; w++) {
        const lg_slot *s = &c->sh->slot[w];

        subs += s->subs;
        got += s->got;
        deliveries += s->received;
        gaps += s->gaps;
        dups += s->dups;
        subs_lost += s->subs_lost;
    }
    /* No subscriber counts a message it was never sent (n > sent is a duplicate). */
    losses = subs * sent - got;
    print_common(c, "deliveries", deliveries, &a, &b);
    printf(" subscribers=%zu messages=%" PRIu64 " window=%" PRIu64 " losses=%" PRIu64
           " gaps=%" PRIu64 " dups=%" PRIu64 " subs_lost=%" PRIu64 "\n", o->subs, sent,
           o->window, losses, gaps, dups, subs_lost);
    bad = losses || gaps || dups || subs_lost || (sent < o->messages && !o->timed);
    fprintf(stderr, "fanout %s: %" PRIu64 " of %" PRIu64 " messages to %zu subscribers, "
            "%" PRIu64 " deliveries in %.2f s; server %.3f us/delivery; losses %" PRIu64
            ", gaps %" PRIu64 ", duplicates %" PRIu64 "%s\n", o->target, sent, o->messages,
            o->subs, deliveries, (double)(b.t - a.t) / 1e9,
            deliveries ? (b.srv - a.srv) * 1e6 / (double)deliveries : 0, losses, gaps, dups,
            sent < o->messages && !o->timed ? " (time bound hit)" : "");
    print_gen(c, &a, &b);
    return bad ? 3 : 0;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

    return a < b ? -1 : a > b;
}

/* Echo is over: enough round trips, or no client left. */
static int echo_done(lg_ctl *c)
{
    return SUM(c, rtts) >= c->o->max_rtts || !SUM(c, n_open);
}

static int p_echo(lg_ctl *c, const int64_t *lat, size_t lat_cap_w)
{
    const opts *o = c->o;
    uint64_t rtts, errors = 0, failed;
    double p50 = 0, p99 = 0;
    int64_t *all;
    size_t n_lat = 0;
    snap a, b;

    if (wait_state(c, WS_CONNECTED, o->timeout + 30) != 0)
        return 3;
    lg_sleep_ms(300);
    if (measure(c, o->duration, echo_done, &a, &b) != 0)
        return 1;
    rtts = SUM(c, rtts);
    failed = SUM(c, n_failed);
    for (int w = 0; w < c->n; w++) {
        errors += c->sh->slot[w].rtt_errors;
        n_lat += c->sh->slot[w].lat_n;
    }
    all = malloc((n_lat + 1) * sizeof(*all));
    if (all && n_lat) {
        size_t k = 0;

        for (int w = 0; w < c->n; w++) {
            memcpy(all + k, lat + (size_t)w * lat_cap_w,
                   c->sh->slot[w].lat_n * sizeof(*all));
            k += c->sh->slot[w].lat_n;
        }
        qsort(all, n_lat, sizeof(*all), cmp_i64);
        p50 = (double)all[n_lat / 2] / 1e3;
        p99 = (double)all[(n_lat * 99) / 100] / 1e3;
    }
    free(all);
    print_common(c, "round_trips", rtts, &a, &b);
    printf(" clients=%zu inflight=%d p50_us=%.1f p99_us=%.1f errors=%" PRIu64 " lost=%" PRIu64
           "\n", o->clients, o->inflight, p50, p99, errors, failed);
    fprintf(stderr, "echo %s: %zu clients x %d in flight, %" PRIu64 " round trips in %.2f s, "
            "p50 %.1f us, p99 %.1f us; server %.3f us/round trip (main thread %.3f); errors %"
            PRIu64 "\n", o->target, o->clients, o->inflight, rtts, (double)(b.t - a.t) / 1e9,
            p50, p99, rtts ? (b.srv - a.srv) * 1e6 / (double)rtts : 0,
            rtts ? (b.srv_main - a.srv_main) * 1e6 / (double)rtts : 0, errors);
    print_gen(c, &a, &b);
    return errors || failed || !rtts ? 3 : 0;
}

static int p_idle(lg_ctl *c)
{
    const opts *o = c->o;
    uint64_t open, failed;
    long rss0, rss1;
    snap a, b;
    double per;

    rss0 = lg_proc_rss_kib(o->pid);
    mark(o, "start"); /* the measured phase: connecting, then holding */
    a = take(c);
    set_phase(c, PH_CONNECT);
    if (wait_state(c, WS_CONNECTED, o->timeout + 30) != 0) {
        fprintf(stderr, "loadgen: %" PRIu64 " of %zu connections open (%" PRIu64 " failed)\n",
                SUM(c, n_open), o->conns, SUM(c, n_failed));
        return 3;
    }
    set_phase(c, PH_RUN);
    lg_sleep_ms(o->hold * 1000);
    b = take(c);
    mark(o, "end");
    rss1 = lg_proc_rss_kib(o->pid);
    open = SUM(c, n_open);
    failed = SUM(c, n_failed);
    set_phase(c, PH_STOP);
    if (wait_state(c, WS_DONE, 30) != 0)
        return 1;
    per = open ? (double)(rss1 - rss0) / (double)open : 0;
    print_common(c, "connections", open, &a, &b);
    printf(" conns=%zu rss0_kib=%ld rss1_kib=%ld kib_per_conn=%.3f lost=%" PRIu64 "\n",
           o->conns, rss0, rss1, per, failed);
    fprintf(stderr, "idle %s: %" PRIu64 " connections held; server RSS %ld -> %ld KiB, %.2f "
            "KiB per connection\n", o->target, open, rss0, rss1, per);
    print_gen(c, &a, &b);
    return failed || open < o->conns ? 3 : 0;
}

static int p_churn(lg_ctl *c)
{
    const opts *o = c->o;
    uint64_t done = 0, errors = 0, failed;
    snap a, b;

    if (wait_state(c, WS_CONNECTED, 30) != 0 || measure(c, o->duration, NULL, &a, &b) != 0)
        return 1;
    failed = SUM(c, n_failed);
    for (int w = 0; w < c->n; w++) {
        done += c->sh->slot[w].churn_done;
        errors += c->sh->slot[w].rtt_errors + c->sh->slot[w].connect_errors;
    }
    print_common(c, "connections", done, &a, &b);
    printf(" slots=%zu errors=%" PRIu64 " lost=%" PRIu64 "\n", o->slots, errors, failed);
    fprintf(stderr, "churn %s: %" PRIu64 " connect+echo+close in %.2f s with %zu in flight; "
            "server %.1f us/connection; errors %" PRIu64 ", lost %" PRIu64 "\n", o->target,
            done, (double)(b.t - a.t) / 1e9, o->slots,
            done ? (b.srv - a.srv) * 1e6 / (double)done : 0, errors, failed);
    print_gen(c, &a, &b);
    return errors || failed || !done ? 3 : 0;
}

/* Stop the workers: each gets a few seconds to close its connections, then SIGKILL. */
static void end_workers(lg_ctl *c)
{
    int64_t deadline = lg_now_ns() + 10000000000LL;
    int left;

    do {
        left = 0;
        for (int w = 0; w < c->n; w++) {
            if (c->kids[w] > 0 && waitpid(c->kids[w], NULL, WNOHANG) == 0)
                left++;
            else if (c->kids[w] > 0)
                c->kids[w] = -c->kids[w];
        }
        if (left)
            lg_sleep_ms(5);
    } while (left && lg_now_ns() < deadline);
    for (int w = 0; w < c->n; w++) {
        if (c->kids[w] > 0) {
            fprintf(stderr, "loadgen: worker %d did not end within 10 s: SIGKILL\n", w);
            kill(c->kids[w], SIGKILL);
            waitpid(c->kids[w], NULL, 0);
        }
    }
}

/* Worker w's peers: [lo, hi). In fan-out with several workers the publisher (peer 0) has
 * worker 0 to itself and the others share the subscribers. */
static void share(const opts *o, size_t n_peers, int w, size_t *lo, size_t *hi)
{
    size_t n = (size_t)o->workers, off = 0;

    if (o->sc == SC_FANOUT && n > 1) {
        if (w == 0) {
            *lo = 0;
            *hi = 1;
            return;
        }
        off = 1;
        n_peers--;
        n--;
        w--;
    }
    *lo = off + n_peers * (size_t)w / n;
    *hi = off + n_peers * (size_t)(w + 1) / n;
}

/* Fork the workers, run the scenario through them, print the result. */
static int run_workers(const opts *o, const lg_driver *drv)
{
    size_t n_peers = o->sc == SC_FANOUT ? o->subs + 1 : o->sc == SC_ECHO ? o->clients :
                     o->sc == SC_IDLE ? o->conns : o->slots;
    size_t lat_total = o->sc == SC_ECHO ? (o->max_rtts < 4000000 ? o->max_rtts : 4000000) : 0;
    size_t lat_cap_w, map_len;
    pid_t parent = getpid();
    int64_t *lat;
    lg_ctl c;
    void *map;
    int r;

    memset(&c, 0, sizeof(c));
    c.o = o;
    c.n = o->workers;
    lat_cap_w = lat_total / (size_t)c.n + 1;
    map_len = sizeof(lg_shared) + (size_t)c.n * lat_cap_w * sizeof(int64_t);
    map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        fprintf(stderr, "loadgen: cannot map %zu bytes of shared memory: %s\n", map_len,
                strerror(errno));
        return 1;
    }
    c.sh = map;
    lat = (int64_t *)((char *)map + sizeof(lg_shared));
    fflush(stdout);
    fflush(stderr);
    for (int w = 0; w < c.n; w++) {
        size_t lo, hi;
        pid_t kid;

        share(o, n_peers, w, &lo, &hi);
        kid = fork();

        if (kid < 0) {
            fprintf(stderr, "loadgen: fork: %s\n", strerror(errno));
            set_phase(&c, PH_ABORT);
            end_workers(&c);
            munmap(map, map_len);
            return 1;
        }
        if (kid == 0) {
            /* A worker must not outlive the parent (killed by a test's timeout, say). */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(1);
            _exit(lg_worker_main(o, drv, c.sh, w, lo, hi, lat + (size_t)w * lat_cap_w,
                              lat_cap_w));
        }
        c.kids[w] = kid;
    }
    if (wait_state(&c, WS_READY, 30) != 0) {
        r = 1;
    } else {
        if (o->sc != SC_IDLE)
            set_phase(&c, PH_CONNECT);
        switch (o->sc) {
        case SC_FANOUT: r = p_fanout(&c); break;
        case SC_ECHO: r = p_echo(&c, lat, lat_cap_w); break;
        case SC_IDLE: r = p_idle(&c); break;
        default: r = p_churn(&c); break;
        }
    }
    fflush(stdout);
    if (atomic_load(&c.sh->phase) != PH_STOP)
        set_phase(&c, PH_ABORT);
    end_workers(&c);
    munmap(map, map_len);
    return r;
}

/* --- the server child ------------------------------------------------------------------- */

/* Start argv, read "PID <pid> PORT <port>" from its stdout within 30 s. */
static pid_t spawn_server(char **argv, long *pid, int *port)
{
    int fds[2];
    pid_t child, parent = getpid();
    char line[256];
    size_t len = 0;
    int64_t deadline = lg_now_ns() + 30000000000LL;

    if (pipe(fds) != 0)
        return -1;
    child = fork();
    if (child < 0)
        return -1;
    if (child == 0) {
        /* The server goes when the load generator does, even when it is killed. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "loadgen: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    while (len < sizeof(line) - 1 && lg_now_ns() < deadline) {
        struct pollfd pfd = {fds[0], POLLIN, 0};
        ssize_t r;

        if (poll(&pfd, 1, 100) <= 0)
            continue;
        r = read(fds[0], line + len, 1);
        if (r <= 0)
            break;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    /* Keep the pipe open but unread: the servers print nothing more on stdout. */
    if (sscanf(line, "PID %ld PORT %d", pid, port) != 2) {
        fprintf(stderr, "loadgen: the server printed \"%s\", not \"PID <pid> PORT <port>\"\n",
                line);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        close(fds[0]);
        return -1;
    }
    return child;
}

static void stop_server(pid_t child)
{
    int64_t deadline = lg_now_ns() + 10000000000LL;
    int status;

    kill(child, SIGTERM);
    while (lg_now_ns() < deadline) {
        if (waitpid(child, &status, WNOHANG) == child)
            return;
        lg_sleep_ms(10);
    }
    fprintf(stderr, "loadgen: the server did not stop on SIGTERM within 10 s: SIGKILL\n");
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
}

/* --- main ------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const lg_driver *drv;
    opts o;
    struct rlimit rl;
    pid_t child = 0;
    int r;

    r = lg_parse(argc, argv, &o);
    if (r != 0) {
        lg_usage(r > 0 ? stdout : stderr);
        return r > 0 ? 0 : 2;
    }
    if (!strcmp(o.target, "verani"))
        drv = &lg_driver_verani;
    else if (!strcmp(o.target, "ws"))
        drv = &lg_driver_ws;
    else if (!strcmp(o.target, "sio") || !strcmp(o.target, "socket.io"))
        drv = &lg_driver_sio;
    else if (!strcmp(o.target, "verani-raw") && o.sc == SC_IDLE)
        drv = &lg_driver_vraw;
    else if (!strcmp(o.target, "verani-json"))
        drv = &lg_driver_vjson;
    else {
        fprintf(stderr, "loadgen: unknown target '%s' (verani, verani-json, ws, sio; verani-raw "
                "for idle)\n", o.target);
        return 2;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    lws_set_log_level(LLL_ERR, NULL);

    if (o.spawn) {
        child = spawn_server(o.spawn, &o.pid, &o.port);
        if (child <= 0)
            return 1;
    }
    if (lg_proc_cpu(o.pid) < 0) {
        fprintf(stderr, "loadgen: cannot read /proc/%ld/stat\n", o.pid);
        r = 1;
    } else {
        r = run_workers(&o, drv);
    }
    if (child > 0)
        stop_server(child);
    return r;
}
