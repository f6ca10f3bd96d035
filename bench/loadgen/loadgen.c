/* SPDX-License-Identifier: MIT */
/*
 * loadgen.c: the load generator of bench/ (issue 8): the scenario core and the
 * command line. It runs one scenario against one server, over loopback only:
 *   fanout  N subscribers and one publisher in one channel of one instance;
 *           the publisher keeps at most --window messages in flight (a message
 *           leaves the window when every live subscriber has it); every
 *           subscriber checks it gets every message once and in order, and
 *           losses, gaps and duplicates are counted and printed;
 *   echo    C clients in a closed loop of request and reply; p50 and p99;
 *   idle    N connections opened and held; the server's RSS per connection;
 *   churn   K slots, each: connect, one echo, close, again; connections/s.
 * The figure that compares servers is the server's own CPU time (utime +
 * stime of /proc/<pid>/stat) over the measured phase only (connecting is
 * not measured, except in churn where it is the work), divided by the units
 * of work; the generator's own CPU is printed beside it so that a saturated
 * generator shows. Every loop is bounded in count and in time. With `--`
 * the server command that follows is started first (its first stdout line
 * must be "PID <pid> PORT <port>") and stopped with SIGTERM at the end.
 * Output: a human line and a line "RESULT key=value ..." for bench/run.sh.
 * Exit 0, 3 when the scenario saw a loss, gap, duplicate, error or a
 * connection that failed, 1 for other failures, 2 for usage errors. It does
 * not pin itself to a core (run.sh uses taskset) and takes no medians (run.sh).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "loadgen.h"

typedef enum scenario { SC_FANOUT, SC_ECHO, SC_IDLE, SC_CHURN } scenario;

typedef struct lg_core {
    scenario sc;
    lg_peer *peers;
    size_t n_peers;
    size_t n_open;          /* peers open now */
    size_t n_failed;        /* connections that failed or were lost */
    int shown;              /* failure reasons printed so far */
    int finishing;          /* the driver is closing everything: not a loss */
    /* fanout */
    uint32_t *counts;       /* counts[n]: live subscribers that have message n */
    uint64_t total, sent, acked;
    size_t live_subs;
    /* echo and churn */
    int running;
    uint64_t rtts, rtt_errors;
    int64_t *lat;           /* latency samples, ns */
    size_t lat_n, lat_cap;
    uint64_t churn_done;
} lg_core;

typedef struct opts {
    const char *target;
    scenario sc;
    int port;
    long pid;
    size_t subs, clients, conns, slots;
    uint64_t messages, max_rtts;
    uint64_t window;
    double duration, hold, timeout;
    int n_src;
    int verbose;
    char **spawn;           /* the server command after `--`, or NULL */
} opts;

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- /proc ------------------------------------------------------------------------------ */

/* The server's utime + stime in seconds, or -1. */
static double proc_cpu(long pid)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                     &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The server's resident set in KiB, or -1. */
static long proc_rss_kib(long pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static double self_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* --- callbacks from the drivers --------------------------------------------------------- */

static void advance_acked(lg_core *k)
{
    while (k->acked < k->sent && k->counts[k->acked + 1] >= k->live_subs)
        k->acked++;
}

void lg_on_open(lg_run *run, lg_peer *peer)
{
    lg_core *k = run->core;

    if (peer->open)
        return;
    peer->open = 1;
    k->n_open++;
    if (peer->role == LG_CHURN) {
        peer->sent_n = 1;
        peer->sent_ns = now_ns();
        if (run->drv->echo(run, peer, 1) != 0)
            peer->done = 1;
    }
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
    if (k->shown < 5 || run->verbose) {
        k->shown++;
        fprintf(stderr, "loadgen: connection %d (%s) lost: %s\n", peer->idx,
                peer->open ? "open" : "connecting", why ? why : "?");
    }
    if (peer->role == LG_SUB && peer->open) {
        k->live_subs--;
        advance_acked(k);
    }
    peer->open = 0;
}

void lg_on_fanout(lg_run *run, lg_peer *peer, uint64_t n)
{
    lg_core *k = run->core;

    if (peer->role != LG_SUB)
        return;
    peer->received++;
    if (n <= peer->last_n || n > k->sent) {
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
    int64_t t = now_ns();

    (void)n;
    if (peer->role == LG_CHURN) {
        if (!ok)
            k->rtt_errors++;
        peer->done = 1;
        return;
    }
    if (peer->role != LG_ECHO || !peer->sent_n)
        return;
    if (!ok) {
        k->rtt_errors++;
    } else if (k->running) {
        k->rtts++;
        if (k->lat_n < k->lat_cap)
            k->lat[k->lat_n++] = t - peer->sent_ns;
    }
    peer->sent_n = 0;
    if (k->running) {
        peer->sent_n = n + 1;
        peer->sent_ns = t;
        if (run->drv->echo(run, peer, peer->sent_n) != 0)
            peer->sent_n = 0;
    }
}

/* --- the scenarios ---------------------------------------------------------------------- */

/* Connect peers[0..n) with at most 256 handshakes in flight; 0 when all opened in time. */
static int connect_all(lg_run *run, size_t n, double timeout_s)
{
    lg_core *k = run->core;
    int64_t deadline = now_ns() + (int64_t)(timeout_s * 1e9);
    size_t started = 0;

    while (k->n_open + k->n_failed < n && now_ns() < deadline) {
        while (started < n && started - (k->n_open + k->n_failed) < 256) {
            if (run->drv->connect(run, &k->peers[started]) != 0 && !k->peers[started].closed) {
                k->peers[started].closed = 1;
                k->n_failed++;
            }
            started++;
        }
        run->drv->service(run, 5);
    }
    if (k->n_open < n) {
        fprintf(stderr, "loadgen: %zu of %zu connections open (%zu failed)\n", k->n_open, n,
                k->n_failed);
        return -1;
    }
    return 0;
}

static void settle(lg_run *run, double seconds)
{
    int64_t end = now_ns() + (int64_t)(seconds * 1e9);

    while (now_ns() < end)
        run->drv->service(run, 5);
}

typedef struct snap {
    int64_t t;
    double srv, gen;
} snap;

static snap take(long pid)
{
    snap s = {now_ns(), proc_cpu(pid), self_cpu()};

    return s;
}

static void print_common(const opts *o, const char *units, uint64_t count, snap a, snap b)
{
    double el = (double)(b.t - a.t) / 1e9, cpu = b.srv - a.srv;

    printf("RESULT target=%s scenario=%s units=%s count=%" PRIu64 " elapsed_s=%.3f rate=%.0f "
           "server_cpu_s=%.3f server_us_per_unit=%.4f gen_cpu_s=%.3f", o->target,
           o->sc == SC_FANOUT ? "fanout" : o->sc == SC_ECHO ? "echo" : o->sc == SC_IDLE ?
           "idle" : "churn", units, count, el, el > 0 ? (double)count / el : 0, cpu,
           count ? cpu * 1e6 / (double)count : 0, b.gen - a.gen);
}

static int run_fanout(lg_run *run, const opts *o)
{
    lg_core *k = run->core;
    uint64_t losses = 0, gaps = 0, dups = 0, deliveries = 0;
    size_t subs_lost = 0;
    int64_t deadline;
    snap a, b;
    int bad;

    k->n_peers = o->subs + 1;
    k->total = o->messages;
    k->counts = calloc(k->total + 2, sizeof(*k->counts));
    k->peers = calloc(k->n_peers, sizeof(*k->peers));
    if (!k->counts || !k->peers)
        return 1;
    for (size_t i = 0; i < k->n_peers; i++) {
        k->peers[i].idx = (int)i;
        k->peers[i].role = i == 0 ? LG_PUB : LG_SUB;
    }
    if (connect_all(run, k->n_peers, o->timeout) != 0)
        return 3;
    k->live_subs = o->subs;
    settle(run, 0.3);
    a = take(o->pid);
    deadline = a.t + (int64_t)(o->duration * 1e9);
    while (k->acked < k->total && now_ns() < deadline && k->peers[0].open && k->live_subs) {
        while (k->sent < k->total && k->sent - k->acked < o->window) {
            if (run->drv->publish(run, &k->peers[0], k->sent + 1) != 0)
                break;
            k->sent++;
        }
        run->drv->service(run, 1);
    }
    b = take(o->pid);
    for (size_t i = 1; i < k->n_peers; i++) {
        lg_peer *p = &k->peers[i];
        uint64_t got = p->received - p->dups;

        deliveries += p->received;
        losses += k->sent > got ? k->sent - got : 0;
        gaps += p->gaps;
        dups += p->dups;
        subs_lost += p->closed;
    }
    print_common(o, "deliveries", deliveries, a, b);
    printf(" subscribers=%zu messages=%" PRIu64 " window=%" PRIu64 " losses=%" PRIu64
           " gaps=%" PRIu64 " dups=%" PRIu64 " subs_lost=%zu\n", o->subs, k->sent, o->window,
           losses, gaps, dups, subs_lost);
    bad = losses || gaps || dups || subs_lost || k->sent < k->total;
    fprintf(stderr, "fanout %s: %" PRIu64 " of %" PRIu64 " messages to %zu subscribers, "
            "%" PRIu64 " deliveries in %.2f s; server %.3f us/delivery; losses %" PRIu64
            ", gaps %" PRIu64 ", duplicates %" PRIu64 "%s\n", o->target, k->sent, k->total,
            o->subs, deliveries, (double)(b.t - a.t) / 1e9,
            deliveries ? (b.srv - a.srv) * 1e6 / (double)deliveries : 0, losses, gaps, dups,
            k->sent < k->total ? " (time bound hit)" : "");
    return bad ? 3 : 0;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

    return a < b ? -1 : a > b;
}

static int run_echo(lg_run *run, const opts *o)
{
    lg_core *k = run->core;
    double p50 = 0, p99 = 0;
    int64_t end, drain;
    snap a, b;

    k->n_peers = o->clients;
    k->peers = calloc(k->n_peers, sizeof(*k->peers));
    k->lat_cap = o->max_rtts < 4000000 ? o->max_rtts : 4000000;
    k->lat = calloc(k->lat_cap + 1, sizeof(*k->lat));
    if (!k->peers || !k->lat)
        return 1;
    for (size_t i = 0; i < k->n_peers; i++) {
        k->peers[i].idx = (int)i;
        k->peers[i].role = LG_ECHO;
    }
    if (connect_all(run, k->n_peers, o->timeout) != 0)
        return 3;
    settle(run, 0.3);
    a = take(o->pid);
    end = a.t + (int64_t)(o->duration * 1e9);
    k->running = 1;
    for (size_t i = 0; i < k->n_peers; i++) {
        lg_peer *p = &k->peers[i];

        p->sent_n = 1;
        p->sent_ns = now_ns();
        if (run->drv->echo(run, p, 1) != 0)
            p->sent_n = 0;
    }
    while (now_ns() < end && k->rtts < o->max_rtts && k->n_open > 0)
        run->drv->service(run, 1);
    b = take(o->pid);
    k->running = 0;
    drain = now_ns() + 1000000000;
    while (now_ns() < drain) { /* let the last requests finish, unmeasured */
        int busy = 0;

        for (size_t i = 0; i < k->n_peers; i++)
            busy |= k->peers[i].sent_n != 0 && k->peers[i].open;
        if (!busy)
            break;
        run->drv->service(run, 1);
    }
    if (k->lat_n) {
        qsort(k->lat, k->lat_n, sizeof(*k->lat), cmp_i64);
        p50 = (double)k->lat[k->lat_n / 2] / 1e3;
        p99 = (double)k->lat[(k->lat_n * 99) / 100] / 1e3;
    }
    print_common(o, "round_trips", k->rtts, a, b);
    printf(" clients=%zu p50_us=%.1f p99_us=%.1f errors=%" PRIu64 " lost=%zu\n", o->clients, p50,
           p99, k->rtt_errors, k->n_failed);
    fprintf(stderr, "echo %s: %zu clients, %" PRIu64 " round trips in %.2f s, p50 %.1f us, "
            "p99 %.1f us; server %.3f us/round trip; errors %" PRIu64 "\n", o->target,
            o->clients, k->rtts, (double)(b.t - a.t) / 1e9, p50, p99,
            k->rtts ? (b.srv - a.srv) * 1e6 / (double)k->rtts : 0, k->rtt_errors);
    return k->rtt_errors || k->n_failed || !k->rtts ? 3 : 0;
}

static int run_idle(lg_run *run, const opts *o)
{
    lg_core *k = run->core;
    long rss0, rss1;
    snap a, b;
    double per;

    k->n_peers = o->conns;
    k->peers = calloc(k->n_peers, sizeof(*k->peers));
    if (!k->peers)
        return 1;
    for (size_t i = 0; i < k->n_peers; i++) {
        k->peers[i].idx = (int)i;
        k->peers[i].role = LG_IDLE;
    }
    rss0 = proc_rss_kib(o->pid);
    a = take(o->pid);
    if (connect_all(run, k->n_peers, o->timeout) != 0)
        return 3;
    settle(run, o->hold);
    b = take(o->pid);
    rss1 = proc_rss_kib(o->pid);
    per = k->n_open ? (double)(rss1 - rss0) / (double)k->n_open : 0;
    print_common(o, "connections", k->n_open, a, b);
    printf(" conns=%zu rss0_kib=%ld rss1_kib=%ld kib_per_conn=%.3f lost=%zu\n", o->conns, rss0,
           rss1, per, k->n_failed);
    fprintf(stderr, "idle %s: %zu connections held; server RSS %ld -> %ld KiB, %.2f KiB per "
            "connection\n", o->target, k->n_open, rss0, rss1, per);
    return k->n_failed || k->n_open < o->conns ? 3 : 0;
}

static int run_churn(lg_run *run, const opts *o)
{
    lg_core *k = run->core;
    uint64_t failed_connects = 0;
    int64_t end;
    snap a, b;

    k->n_peers = o->slots;
    k->peers = calloc(k->n_peers, sizeof(*k->peers));
    if (!k->peers)
        return 1;
    a = take(o->pid);
    end = a.t + (int64_t)(o->duration * 1e9);
    while (now_ns() < end) {
        for (size_t i = 0; i < k->n_peers; i++) {
            lg_peer *p = &k->peers[i];

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
                p->idx = (int)i;
                p->role = LG_CHURN;
                if (run->drv->connect(run, p) != 0) {
                    failed_connects++;
                    memset(p, 0, sizeof(*p));
                }
            }
        }
        run->drv->service(run, 1);
    }
    b = take(o->pid);
    for (size_t i = 0; i < k->n_peers; i++)
        if (k->peers[i].conn)
            run->drv->close(run, &k->peers[i]);
    settle(run, 0.2);
    print_common(o, "connections", k->churn_done, a, b);
    printf(" slots=%zu errors=%" PRIu64 " lost=%zu\n", o->slots, k->rtt_errors + failed_connects,
           k->n_failed);
    fprintf(stderr, "churn %s: %" PRIu64 " connect+echo+close in %.2f s with %zu in flight; "
            "server %.1f us/connection; errors %" PRIu64 ", lost %zu\n", o->target,
            k->churn_done, (double)(b.t - a.t) / 1e9, o->slots,
            k->churn_done ? (b.srv - a.srv) * 1e6 / (double)k->churn_done : 0,
            k->rtt_errors + failed_connects, k->n_failed);
    return k->rtt_errors || failed_connects || k->n_failed || !k->churn_done ? 3 : 0;
}

/* --- the server child ------------------------------------------------------------------- */

/* Start argv, read "PID <pid> PORT <port>" from its stdout within 30 s. */
static pid_t spawn_server(char **argv, long *pid, int *port)
{
    int fds[2];
    pid_t child;
    char line[256];
    size_t len = 0;
    int64_t deadline = now_ns() + 30000000000LL;

    if (pipe(fds) != 0)
        return -1;
    child = fork();
    if (child < 0)
        return -1;
    if (child == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "loadgen: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    while (len < sizeof(line) - 1 && now_ns() < deadline) {
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
    int64_t deadline = now_ns() + 10000000000LL;
    int status;

    kill(child, SIGTERM);
    while (now_ns() < deadline) {
        if (waitpid(child, &status, WNOHANG) == child)
            return;
        struct timespec ts = {0, 10000000};

        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "loadgen: the server did not stop on SIGTERM within 10 s: SIGKILL\n");
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
}

/* --- main ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: loadgen --target verani|ws|sio|verani-raw --scenario fanout|echo|idle|churn [options]\n"
        "               (--port P --pid PID | -- SERVER_COMMAND...)\n"
        "  --subs N        fanout subscribers (1000)     --messages N  fanout messages (1000)\n"
        "  --window N      fanout messages in flight (32)\n"
        "  --clients N     echo clients (100)            --max N       echo round trips (2000000)\n"
        "  --conns N       idle connections (10000)      --hold S      idle hold seconds (2)\n"
        "  --slots N       churn connections in flight (32)\n"
        "  --duration S    time bound of the measured phase (fanout 60, echo and churn 5)\n"
        "  --timeout S     time bound for connecting (120)\n"
        "  --src N         ws/sio/verani-raw: bind source addresses 127.0.0.2..127.0.0.(1+N)\n"
        "  (verani-raw: a minimal HELLO-only Verani-C client, for the idle scenario only)\n"
        "  --verbose\n"
        "With `--`, the command after it is started first and must print\n"
        "\"PID <pid> PORT <port>\" on its first stdout line; it gets SIGTERM at the end.\n");
}

static int parse(int argc, char **argv, opts *o)
{
    int have_duration = 0;

    memset(o, 0, sizeof(*o));
    o->subs = 1000;
    o->messages = 1000;
    o->window = 32;
    o->clients = 100;
    o->max_rtts = 2000000;
    o->conns = 10000;
    o->hold = 2;
    o->slots = 32;
    o->timeout = 120;
    o->sc = (scenario)-1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--")) {
            o->spawn = i + 1 < argc ? &argv[i + 1] : NULL;
            break;
        } else if (!strcmp(a, "--verbose")) {
            o->verbose = 1;
            continue;
        } else if (!strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            usage(stderr);
            return -1;
        }
        i++;
        if (!strcmp(a, "--target"))
            o->target = v;
        else if (!strcmp(a, "--scenario"))
            o->sc = !strcmp(v, "fanout") ? SC_FANOUT : !strcmp(v, "echo") ? SC_ECHO :
                    !strcmp(v, "idle") ? SC_IDLE : !strcmp(v, "churn") ? SC_CHURN : (scenario)-1;
        else if (!strcmp(a, "--port"))
            o->port = atoi(v);
        else if (!strcmp(a, "--pid"))
            o->pid = atol(v);
        else if (!strcmp(a, "--subs"))
            o->subs = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--messages"))
            o->messages = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--window"))
            o->window = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--clients"))
            o->clients = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--max"))
            o->max_rtts = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--conns"))
            o->conns = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--hold"))
            o->hold = atof(v);
        else if (!strcmp(a, "--slots"))
            o->slots = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--duration"))
            o->duration = atof(v), have_duration = 1;
        else if (!strcmp(a, "--timeout"))
            o->timeout = atof(v);
        else if (!strcmp(a, "--src"))
            o->n_src = atoi(v);
        else {
            usage(stderr);
            return -1;
        }
    }
    if (!have_duration)
        o->duration = o->sc == SC_FANOUT ? 60 : 5;
    if (!o->target || (int)o->sc < 0 || (!o->spawn && (o->port <= 0 || o->pid <= 0)) ||
        o->subs < 1 || o->messages < 1 || o->window < 1 || o->clients < 1 || o->conns < 1 ||
        o->slots < 1 || o->duration <= 0 || o->duration > 3600 || o->timeout <= 0) {
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    lg_run run;
    lg_core core;
    opts o;
    struct rlimit rl;
    pid_t child = 0;
    int r;

    if (parse(argc, argv, &o) != 0)
        return 2;
    memset(&run, 0, sizeof(run));
    memset(&core, 0, sizeof(core));
    core.sc = o.sc;
    run.core = &core;
    run.host = "127.0.0.1";
    run.instance = "b1";
    run.n_src = o.n_src;
    run.verbose = o.verbose;
    for (int i = 0; i < LG_PAYLOAD; i++)
        run.payload[i] = (uint8_t)('a' + i % 26);
    if (!strcmp(o.target, "verani"))
        run.drv = &lg_driver_verani;
    else if (!strcmp(o.target, "ws"))
        run.drv = &lg_driver_ws;
    else if (!strcmp(o.target, "sio") || !strcmp(o.target, "socket.io"))
        run.drv = &lg_driver_sio;
    else if (!strcmp(o.target, "verani-raw") && o.sc == SC_IDLE)
        run.drv = &lg_driver_vraw;
    else {
        fprintf(stderr, "loadgen: unknown target '%s' (verani, ws, sio; verani-raw for idle)\n",
                o.target);
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
    run.port = o.port;
    if (proc_cpu(o.pid) < 0) {
        fprintf(stderr, "loadgen: cannot read /proc/%ld/stat\n", o.pid);
        r = 1;
    } else if (run.drv->init(&run) != 0) {
        r = 1;
    } else {
        switch (o.sc) {
        case SC_FANOUT: r = run_fanout(&run, &o); break;
        case SC_ECHO: r = run_echo(&run, &o); break;
        case SC_IDLE: r = run_idle(&run, &o); break;
        default: r = run_churn(&run, &o); break;
        }
        fflush(stdout);
        core.finishing = 1;
        run.drv->fini(&run);
    }
    if (child > 0)
        stop_server(child);
    free(core.peers);
    free(core.counts);
    free(core.lat);
    return r;
}
