/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_soak.c: issue 17's soak. A redis-server and three node processes
 * (cluster_node_main.c: the counting room, lease 1 s, each node its own SQLite file),
 * 300 typed clients in 30 instances of room E2e (10 each) poking their instance, each
 * about once a second (jittered), for VERANI_SOAK_SECONDS (the environment; CMake's
 * cache variable of that name, 60 by default), while every 10 s (at 5 s, 15 s, ...) a
 * random node is killed (SIGKILL) and started again 0 to 3 s later (so before its lease
 * ran out, or after) with the same id, the same SQLite file and, if still free, the same
 * port. A poke adds one to the instance's count in room storage and tells everyone in the
 * instance "poke <count>" (counting_room.h).
 *
 * The load balancer: one TCP proxy per node (fault_proxy.h), playing a balancer that
 * hashes the path and health-checks its nodes: instance s<j>'s clients enter through
 * proxy j % 3, which sends new connections to node j % 3 while it serves and, while that
 * node is down, to the next one (node (j + 1) % 3: only one node is down at a time), back
 * to it once its /health answers 200 again. A client that reaches a node that does not
 * own its instance is sent to the owner by that node (4003 "moved <url>", or 307 once the
 * node knows the owner), and then talks to the owner directly, not through its proxy.
 * When that owner dies, the client does not go back to the owner's URL: the client
 * (runtime/src/client/client_conn.c, c_lost, vr_client_connect) follows a move for one
 * attempt only and a 307 only within the connection libwebsockets follows it in; every
 * reconnect after a lost connection goes to the client's own URL, its proxy, which sends
 * it to a live node. So every client comes back through its proxy, and the proxies never
 * send a connection to a dead node (except in the instant between the kill and the
 * retarget, which the client retries like any refused connection).
 *
 * The checks, at the end, after the kills and pokes stop and every client is connected
 * again: one more poke per instance; then every client heard the same last count as the
 * instance's owner answers (request echo "get"), which Redis's storage hash holds too, and
 * which is at most the pokes sent (a poke a dead owner took with it is lost, and counted).
 * Every client: the same client id as at its start, never a fresh session, and the counts
 * it heard strictly increasing (no duplicate) with no gap except right after a resume that
 * said recovery_failed (the frames a killed owner held died with it: such gaps are
 * counted, any other gap fails). Every node exits 0 at its final SIGTERM, and no node
 * ended by itself meanwhile. A summary line ("soak: ...") gives the figures; a failing
 * client's last events are printed. VERANI_SOAK_SEED repeats a run's kill schedule
 * (printed). Every wait is bounded by a deadline; no duration is asserted.
 *
 * test_kill_restart_stalls, run by hand only (tag manual), is the same soak with Redis
 * stopped (SIGSTOP) for 0.4 to 1.6 s every 2 to 4 s as well, so that leases run out and
 * fences are lifted or not between the kills. It found the two bugs fixed with this test:
 * frames lost without recovery_failed for a session closing for a resume, and a HELLO
 * served in a fenced instance.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <verani/verani.h>

#include "cases.h"
#include "cleanup.h"
#include "cluster_util.h"
#include "deadline.h"
#include "e2e_client.h"
#include "fault_proxy.h"
#include "node_proc.h"
#include "rawclient.h"
#include "redis_server.h"

#define SOAK_INSTANCES 30
#define SOAK_PER_INSTANCE 10
#define SOAK_CLIENTS (SOAK_INSTANCES * SOAK_PER_INSTANCE)
#define KILL_EVERY_MS 10000
#define POKE_EVERY_MS 1000   /* each client's pace, give or take 30 % */
#define RESTART_MAX_MS 3000  /* a killed node restarts up to this much later */
#define NODE_LEASE_MS 1000   /* cluster_node_main.c's lease */
#define MAX_DELAY_MS 1000    /* the clients' longest backoff */
#define LOG_LINES 40         /* the last events kept per client, printed when it fails */
#define LOG_LEN 160

typedef struct soaker {
    verani_client *c;
    int inst;
    char id[64];             /* its client id at its first welcome */
    long last;               /* the last count heard */
    long frames, sent;       /* pokes heard, pokes emitted */
    long own;                /* its own pokes heard (from its user id) */
    uint64_t seq;            /* the seq of the last poke heard */
    char user[16];
    int gaps, excused, dups; /* gaps without / right after a recovery_failed resume */
    int opens, resumes, rf_resumes, fresh, id_changes;
    int rf_pending;          /* a resume said recovery_failed, no poke heard since */
    int64_t next_poke, down_since;
    int log_n;
    char log[LOG_LINES][LOG_LEN];
} soaker;

typedef enum { NODE_UP, NODE_DOWN, NODE_STARTING, NODE_WARMING } node_phase;

typedef struct soak {
    int64_t t0, start_ms;    /* the test's start, the pokes' */
    rs_server *rs;
    node nodes[3];
    fault_proxy *lb[3];
    soaker k[SOAK_CLIENTS];
    verani_client_loop *loop;
    uint64_t rng, poke_rng, stall_rng, seed; /* the random streams: kills, pokes, stalls */
    int victim;              /* the node down or restarting, -1: none */
    node_phase phase;
    int64_t restart_at;
    int kills, same_port, emit_failed, server_errors, stalls;
    int64_t next_stall, stall_end;  /* Redis stalls (soak_run's `stalls`) */
    int64_t max_outage_ms;
    char kill_log[512];
} soak;

static soak S;

/* xorshift64 on `*x`: the kills' stream and the pokes' are apart, so that a seed repeats
 * the kill schedule whatever the pokes drew. */
static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static double t_s(void)
{
    return (double)(dl_now_ms() - S.t0) / 1000.0;
}

__attribute__((format(printf, 2, 3))) static void k_log(soaker *k, const char *fmt, ...)
{
    char *line = k->log[k->log_n++ % LOG_LINES];
    int n = snprintf(line, LOG_LEN, "t=%.3f ", t_s());
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line + n, LOG_LEN - (size_t)n, fmt, ap);
    va_end(ap);
}

/* --- the clients --------------------------------------------------------------------------- */

static void on_chat(verani_client *c, const E2e__ChatOut *msg, void *user)
{
    soaker *k = user;
    uint64_t seq;
    long n;

    if (!msg->text || strncmp(msg->text, "poke ", 5))
        return;
    n = atol(msg->text + 5);
    seq = verani_client_event_seq(c);
    k->frames++;
    k->own += msg->from && !strcmp(msg->from, k->user);
    if (n <= k->last) {
        k->dups++;
        k_log(k, "DUPLICATE poke %ld after %ld (seq %llu after %llu)", n, k->last,
              (unsigned long long)seq, (unsigned long long)k->seq);
    } else if (n > k->last + 1 && k->rf_pending) {
        k->excused++;
        k_log(k, "poke %ld after %ld, right after a recovery_failed resume (seq %llu after "
              "%llu)", n, k->last, (unsigned long long)seq, (unsigned long long)k->seq);
    } else if (n > k->last + 1) {
        k->gaps++;
        k_log(k, "GAP: poke %ld after %ld, recovery_failed false (seq %llu after %llu)", n,
              k->last, (unsigned long long)seq, (unsigned long long)k->seq);
    }
    k->seq = seq;
    if (n > k->last)
        k->last = n;
    k->rf_pending = 0;
}

static void on_open(verani_client *c, void *user)
{
    soaker *k = user;
    verani_client_info info;
    int64_t now = dl_now_ms();

    assert_int_equal(verani_client_get_info(c, &info), 0);
    if (++k->opens == 1)
        snprintf(k->id, sizeof(k->id), "%s", info.client_id);
    else
        k->resumes += info.resumed;
    k->id_changes += strcmp(k->id, info.client_id) != 0;
    if (k->down_since && now - k->down_since > S.max_outage_ms)
        S.max_outage_ms = now - k->down_since;
    k->down_since = 0;
    k_log(k, "open: connection %llu, id %.8s, resumed %d, recovery_failed %d, seq %llu, "
          "last poke %ld, sent %ld, own heard %ld, queued %zu",
          (unsigned long long)info.connection_id, info.client_id, info.resumed,
          info.recovery_failed, (unsigned long long)info.last_seq, k->last, k->sent, k->own,
          info.queued);
}

static void on_close(verani_client *c, int code, const char *reason, void *user)
{
    soaker *k = user;

    (void)c;
    if (!k->down_since)
        k->down_since = dl_now_ms();
    k_log(k, "closed %d (%s)", code, reason ? reason : "");
}

static void on_error(verani_client *c, int err, const char *what, void *user)
{
    soaker *k = user;

    (void)c;
    k_log(k, "error %d: %s", err, what ? what : "");
    if (err != VERANI_EIO && err != VERANI_ETIMEDOUT) { /* not a lost connection's */
        S.server_errors++;
        fprintf(stderr, "t=%.3f u%d: error %d: %s\n", t_s(), (int)(k - S.k), err,
                what ? what : "");
    }
}

static void on_recovery(verani_client *c, int resumed, void *user)
{
    soaker *k = user;

    (void)c;
    if (resumed)
        k->rf_resumes++;
    else
        k->fresh++;
    k->rf_pending = 1;
    k_log(k, "recovery failed (%s)", resumed ? "resumed" : "a FRESH session");
}

static void clients_start(void)
{
    int i;

    for (i = 0; i < SOAK_CLIENTS; i++) {
        soaker *k = &S.k[i];
        verani_client_options o;
        char url[160], err[256];

        k->inst = i / SOAK_PER_INSTANCE;
        snprintf(k->user, sizeof(k->user), "u%d", i);
        verani_client_options_init(&o);
        snprintf(url, sizeof(url), "ws://%s/e2e/s%d?userId=u%d",
                 fp_address(S.lb[k->inst % 3]), k->inst, i);
        o.url = url;
        o.room = &e2e_e2e_schema;
        o.initial_delay_ms = 200; /* SCALEOUT.md section 6 */
        o.max_delay_ms = MAX_DELAY_MS;
        o.max_attempts = VERANI_CLIENT_UNLIMITED;
        k->c = verani_client_create(S.loop, &o, err, sizeof(err));
        if (!k->c)
            fail_msg("verani_client_create: %s", err);
        assert_int_equal(e2e_e2e_client_on_chat_out(k->c, on_chat, k), 0);
        assert_true(verani_client_on_open(k->c, on_open, k) > 0);
        assert_true(verani_client_on_close(k->c, on_close, k) > 0);
        assert_true(verani_client_on_error(k->c, on_error, k) > 0);
        assert_true(verani_client_on_recovery_failed(k->c, on_recovery, k) > 0);
    }
}

static int all_connected(void)
{
    int i;

    for (i = 0; i < SOAK_CLIENTS; i++)
        if (verani_client_get_state(S.k[i].c) != VERANI_CLIENT_CONNECTED)
            return 0;
    return 1;
}

static void poke(soaker *k)
{
    if (e2e_e2e_client_emit_poke(k->c) == 0)
        k->sent++;
    else
        S.emit_failed++;
}

/* Each client whose time came pokes, and sets its next time, POKE_EVERY_MS +- 30 %. */
static void pokes_due(int64_t now)
{
    int i;

    for (i = 0; i < SOAK_CLIENTS; i++) {
        soaker *k = &S.k[i];

        if (now < k->next_poke)
            continue;
        poke(k);
        k->next_poke += POKE_EVERY_MS * 7 / 10 +
                        (int64_t)(rnd(&S.poke_rng) % (POKE_EVERY_MS * 6 / 10));
    }
}

/* --- the nodes: kills and restarts ------------------------------------------------------- */

/* A node that ended by itself (not killed by the test) is a crash. */
static void nodes_check(void)
{
    int i, status;

    for (i = 0; i < 3; i++) {
        if (i == S.victim && S.phase != NODE_WARMING)
            continue; /* down, or starting: node_restart_poll watches it */
        if (!node_running(&S.nodes[i], &status))
            fail_msg("node %s ended by itself at t=%.3f s with status %d", S.nodes[i].id,
                     t_s(), status);
    }
}

static void kill_one(void)
{
    int v = (int)(rnd(&S.rng) % 3);
    size_t n = strlen(S.kill_log);
    int64_t delay = (int64_t)(rnd(&S.rng) % RESTART_MAX_MS);

    node_kill(&S.nodes[v]);
    fp_retarget(S.lb[v], S.nodes[(v + 1) % 3].port); /* its health check failed */
    S.victim = v;
    S.phase = NODE_DOWN;
    S.restart_at = dl_now_ms() + delay;
    S.kills++;
    snprintf(S.kill_log + n, sizeof(S.kill_log) - n, "%s%s at %.1f s (back %.1f s later)",
             n ? ", " : "", S.nodes[v].id, t_s(), (double)delay / 1000.0);
    printf("t=%.3f %s killed; its proxy sends to %s\n", t_s(), S.nodes[v].id,
           S.nodes[(v + 1) % 3].id);
}

/* The victim's restart, one step: started at its time, listening, then serving (its
 * /health answers 200), when its proxy sends it new connections again. */
static void restart_step(void)
{
    node *n;
    char resp[4096];

    if (S.victim < 0)
        return;
    n = &S.nodes[S.victim];
    switch (S.phase) {
    case NODE_DOWN:
        if (dl_now_ms() >= S.restart_at) {
            node_restart_begin(n);
            S.phase = NODE_STARTING;
        }
        break;
    case NODE_STARTING:
        if (node_restart_poll(n)) {
            S.same_port += n->tries == 0;
            printf("t=%.3f %s restarted, listening on port %d\n", t_s(), n->id, n->port);
            S.phase = NODE_WARMING;
        }
        break;
    case NODE_WARMING:
        if (rc_tcp_get(n->port, "/health", resp, sizeof(resp)) == 200) {
            fp_retarget(S.lb[S.victim], n->port);
            printf("t=%.3f %s serves: its proxy sends to it again\n", t_s(), n->id);
            S.victim = -1;
            S.phase = NODE_UP;
        }
        break;
    default:
        break;
    }
}

/* With Redis stalls: Redis stopped (SIGSTOP) for 0.4 to 1.6 s every 2 to 4 s, so that
 * commands time out and leases run out (1 s) and come back, fences lifted or not; none
 * starts in the last 3 s before `end`, and Redis goes on by then. */
static void stall_step(int64_t end)
{
    int64_t now = dl_now_ms();

    if (!S.next_stall)
        S.next_stall = now + 2000;
    if (S.stall_end && (now >= S.stall_end || now >= end - 100)) {
        rs_signal(S.rs, SIGCONT);
        S.stall_end = 0;
        S.next_stall = now + 2000 + (int64_t)(rnd(&S.stall_rng) % 2000);
    } else if (!S.stall_end && now >= S.next_stall && now < end - 3000) {
        int64_t len = 400 + (int64_t)(rnd(&S.stall_rng) % 1200);

        rs_signal(S.rs, SIGSTOP);
        printf("t=%.3f Redis stopped for %lld ms\n", t_s(), (long long)len);
        S.stall_end = now + len;
        S.stalls++;
    }
}

/* Service the clients for a moment, and every 50 ms the nodes. */
static void soak_turn(int64_t *next_check)
{
    verani_client_loop_service(S.loop, 5);
    if (dl_now_ms() >= *next_check) {
        nodes_check();
        restart_step();
        *next_check = dl_now_ms() + 50;
    }
}

/* --- the end ------------------------------------------------------------------------------- */

static void print_log(int i)
{
    const soaker *k = &S.k[i];
    int n = k->log_n < LOG_LINES ? k->log_n : LOG_LINES, l;
    verani_client_info info;
    char err[256] = "";

    memset(&info, 0, sizeof(info));
    verani_client_get_info(k->c, &info);
    verani_client_last_error(k->c, err, sizeof(err));
    fprintf(stderr, "client u%d (s%d, id %s): state %d (%u failed attempts, last error \"%s\"), "
            "last %ld, %ld heard, %ld sent, %d opens, %d resumes (%d recovery_failed), %d "
            "fresh, %d id changes, %d gaps (%d excused), %d duplicates; its last events:\n", i,
            k->inst, k->id, (int)info.state, info.attempts, err, k->last, k->frames, k->sent,
            k->opens, k->resumes, k->rf_resumes, k->fresh, k->id_changes, k->gaps, k->excused,
            k->dups);
    for (l = k->log_n - n; l < k->log_n; l++)
        fprintf(stderr, "  %s\n", k->log[l % LOG_LINES]);
}

/* Each running node's cluster figures (its /metrics lines verani_cluster_*): who owns what,
 * the storage batches Redis applied, failed or refused, the gate's pauses, the fences. */
static void print_cluster_metrics(void)
{
    static char resp[65536];
    char *line, *sp;
    int i;

    for (i = 0; i < 3; i++) {
        if (S.nodes[i].pid <= 0 ||
            rc_tcp_request(S.nodes[i].port, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                           "Authorization: Bearer m\r\nConnection: close\r\n\r\n", resp,
                           sizeof(resp)) != 200) {
            fprintf(stderr, "node %s: no metrics\n", S.nodes[i].id);
            continue;
        }
        for (line = strtok_r(resp, "\n", &sp); line; line = strtok_r(NULL, "\n", &sp))
            if (!strncmp(line, "verani_cluster_", 15))
                fprintf(stderr, "node %s: %s\n", S.nodes[i].id, line);
    }
}

/* Every client connected, or the test fails, the first ones that are not printed, with the
 * nodes' cluster figures. */
static void expect_all_connected(const char *when)
{
    int i, n = 0;

    for (i = 0; i < SOAK_CLIENTS; i++)
        if (verani_client_get_state(S.k[i].c) != VERANI_CLIENT_CONNECTED && n++ < 10)
            print_log(i);
    if (n) {
        print_cluster_metrics();
        fail_msg("%d clients not connected %s", n, when);
    }
}

/* Every client of instance `j` heard `count` as its last count. */
static int heard(int j, long count, int exact)
{
    int i;

    for (i = j * SOAK_PER_INSTANCE; i < (j + 1) * SOAK_PER_INSTANCE; i++)
        if (exact ? S.k[i].last != count : S.k[i].last < count)
            return 0;
    return 1;
}

/* The instance's count once every poke sent was counted and heard by each of its clients:
 * the owner's answer to "get" when every client's last count is that. */
static long settled_count(int j)
{
    soaker *first = &S.k[j * SOAK_PER_INSTANCE];
    int64_t d = dl_after(DL_WAIT_MS), next_check = 0;
    char text[128];
    long g;

    for (;;) {
        get_count(S.loop, first->c, text, sizeof(text));
        g = atol(text);
        if (!strncmp(text, "(failed", 7)) {
            print_log(j * SOAK_PER_INSTANCE);
            fail_msg("instance s%d: get %s", j, text);
        }
        while (!heard(j, g, 0) && !dl_passed(d))
            soak_turn(&next_check);
        if (heard(j, g, 1))
            return g;
        if (dl_passed(d))
            fail_msg("instance s%d: its clients did not all hear count %ld", j, g);
    }
}

static int soak_seconds(void)
{
    const char *s = getenv("VERANI_SOAK_SECONDS");
    int v = s ? atoi(s) : 0;

    return v > 0 ? v : 60;
}

/* Redis, the nodes, their proxies, the clients (all connected when this returns). */
static void soak_setup(char *dir)
{
    const char *seed = getenv("VERANI_SOAK_SEED");
    struct rlimit nofile;
    int64_t d;
    int i;

    memset(&S, 0, sizeof(S));
    S.t0 = dl_now_ms(); /* the clients' logs and the kills count from here */
    S.victim = -1;
    S.seed = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    S.seed = S.seed ? S.seed : 1;
    S.rng = S.seed;
    S.poke_rng = S.seed ^ 0x9e3779b97f4a7c15ULL;
    S.stall_rng = S.seed ^ 0xc2b2ae3d27d4eb4fULL;
    {
        struct timespec now;
        struct tm tm;
        char hms[16];

        clock_gettime(CLOCK_REALTIME, &now);
        localtime_r(&now.tv_sec, &tm);
        strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
        printf("soak: %d s, seed %llu (VERANI_SOAK_SEED repeats the kills); t=0 is %s.%03ld\n",
               soak_seconds(), (unsigned long long)S.seed, hms, now.tv_nsec / 1000000);
    }
    fflush(stdout);
    /* each client through a proxy holds three descriptors here: 1,024 would be tight */
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &nofile), 0);
    if (nofile.rlim_cur < 4096 && nofile.rlim_max > nofile.rlim_cur) {
        nofile.rlim_cur = nofile.rlim_max < 4096 ? nofile.rlim_max : 4096;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &nofile), 0);
    }
    S.rs = rs_start(NULL);
    nodes_start(S.nodes, S.rs, dir);
    for (i = 0; i < 3; i++)
        S.lb[i] = fp_start_tcp(S.nodes[i].port);
    S.loop = client_loop();
    clients_start();
    d = dl_after(DL_GENEROUS(5000));
    while (!all_connected() && !dl_passed(d))
        verani_client_loop_service(S.loop, 10);
    expect_all_connected("at the start");
}

/* `secs` of pokes, a node killed at 5 s, 15 s, ... (once the last one is back), and with
 * `stalls` Redis stalling too; then, quiet, until the last one is back and every client
 * connected. */
static void soak_run(int secs, int stalls)
{
    int64_t end, next_kill, next_check = 0, d;
    int i;

    S.start_ms = dl_now_ms();
    end = S.start_ms + (int64_t)secs * 1000;
    next_kill = S.start_ms + KILL_EVERY_MS / 2;
    for (i = 0; i < SOAK_CLIENTS; i++)
        S.k[i].next_poke = S.start_ms + (int64_t)(rnd(&S.poke_rng) % POKE_EVERY_MS);
    while (!dl_passed(end)) {
        soak_turn(&next_check);
        pokes_due(dl_now_ms());
        if (stalls)
            stall_step(end);
        if (dl_now_ms() >= next_kill && S.victim < 0) {
            kill_one();
            next_kill += KILL_EVERY_MS;
        }
    }
    d = dl_after(DL_GENEROUS(RESTART_MAX_MS + NODE_LEASE_MS + MAX_DELAY_MS + 1000));
    while ((S.victim >= 0 || !all_connected()) && !dl_passed(d))
        soak_turn(&next_check);
    if (S.victim >= 0)
        fail_msg("node %s did not come back", S.nodes[S.victim].id);
    expect_all_connected("after the soak");
}

/* One more poke per instance, everyone there to hear it; then each instance's settled count
 * into `count` (and, space-separated, `counts`), checked against Redis and the pokes sent.
 * Returns how many instances failed (printed). */
static int check_instances(long *count, char *counts, size_t len, long *sent, long *stored)
{
    int i, j, bad = 0;

    for (j = 0; j < SOAK_INSTANCES; j++)
        poke(&S.k[j * SOAK_PER_INSTANCE]);
    for (j = 0; j < SOAK_INSTANCES; j++) {
        long inst_sent = 0, in_redis;
        char name[8];

        count[j] = settled_count(j);
        for (i = j * SOAK_PER_INSTANCE; i < (j + 1) * SOAK_PER_INSTANCE; i++)
            inst_sent += S.k[i].sent;
        snprintf(name, sizeof(name), "s%d", j);
        in_redis = stored_pokes(S.rs, name);
        if (in_redis != count[j] || count[j] > inst_sent) {
            fprintf(stderr, "instance s%d: count %ld at its owner, %ld in Redis, %ld pokes sent\n",
                    j, count[j], in_redis, inst_sent);
            bad++;
        }
        *sent += inst_sent;
        *stored += count[j];
        snprintf(counts + strlen(counts), len - strlen(counts), "%s%ld", j ? " " : "", count[j]);
    }
    return bad;
}

/* What every client's log shows, summed up; a client that failed is printed. */
typedef struct tally {
    long fmin, fmax, ftotal, most_lost;
    int resumes, rf, rf_clients, excused, gaps, dups, fresh, bad;
} tally;

static void check_clients(tally *t)
{
    int i;

    memset(t, 0, sizeof(*t));
    t->fmin = -1;
    for (i = 0; i < SOAK_CLIENTS; i++) {
        soaker *k = &S.k[i];
        verani_client_info info;

        assert_int_equal(verani_client_get_info(k->c, &info), 0);
        if (k->gaps || k->dups || k->fresh || k->id_changes || strcmp(info.client_id, k->id)) {
            print_log(i);
            t->bad++;
        }
        t->fmin = t->fmin < 0 || k->frames < t->fmin ? k->frames : t->fmin;
        t->fmax = k->frames > t->fmax ? k->frames : t->fmax;
        t->ftotal += k->frames;
        t->resumes += k->resumes;
        t->rf += k->rf_resumes;
        t->rf_clients += k->rf_resumes > 0;
        t->excused += k->excused;
        t->gaps += k->gaps;
        t->dups += k->dups;
        t->fresh += k->fresh;
        t->most_lost = k->sent - k->own > t->most_lost ? k->sent - k->own : t->most_lost;
    }
}

/* The soak, with Redis stalls or without; the checks; the summary line. */
static void soak_whole(int stalls)
{
    char dir[] = "/tmp/verani-soak.XXXXXX", counts[SOAK_INSTANCES * 12] = "";
    long count[SOAK_INSTANCES], sent = 0, stored = 0;
    int secs = soak_seconds(), i, bad;
    tally t;

    soak_setup(dir);
    soak_run(secs, stalls);
    bad = check_instances(count, counts, sizeof(counts), &sent, &stored);
    check_clients(&t);
    printf("soak: %d s from t=%.1f s, seed %llu, %d kills (%s), %d of them back on the same "
           "port; %d clients in %d instances: %ld pokes sent (%d refused), %ld counted (%ld "
           "lost in flight at a killed or fenced owner, at most %ld of one client's); pokes "
           "heard per client min %ld avg %ld max %ld; %d resumes, %d of them recovery_failed "
           "(%d clients), %d gaps right after those, %d gaps with recovery_failed false, %d "
           "duplicates, %d fresh sessions, %d other errors; longest a client was away %lld ms; "
           "%d Redis stalls; counts per instance: %s\n",
           secs, (double)(S.start_ms - S.t0) / 1000.0, (unsigned long long)S.seed, S.kills,
           S.kill_log, S.same_port, SOAK_CLIENTS, SOAK_INSTANCES, sent, S.emit_failed, stored,
           sent - stored, t.most_lost, t.fmin, t.ftotal / SOAK_CLIENTS, t.fmax, t.resumes, t.rf,
           t.rf_clients, t.excused, t.gaps, t.dups, t.fresh, S.server_errors,
           (long long)S.max_outage_ms, S.stalls, counts);
    fflush(stdout);
    if (bad + t.bad)
        fail_msg("%d instances and %d clients failed their checks (above)", bad, t.bad);
    assert_true(S.kills > 0);

    client_loop_end(S.loop);
    for (i = 0; i < 3; i++)
        assert_int_equal(node_stop(&S.nodes[i]), 0);
    for (i = 0; i < 3; i++)
        fp_free(S.lb[i]);
    rs_free(S.rs);
    nodes_clean(dir);
}

static void test_kill_restart(void **state)
{
    (void)state;
    soak_whole(0);
}

/* The same with Redis stalling (stall_step) as well: leases lost and fences lifted or not
 * besides the kills. A case to run by hand (`test_cluster_soak test_kill_restart_stalls`,
 * VERANI_SOAK_SECONDS in the environment), not registered in CTest: it found two bugs
 * (fixed), and takes the suite's time only when asked. */
static void test_kill_restart_stalls(void **state)
{
    (void)state;
    soak_whole(1);
}

static const vt_case cases[] = {
    VT_CASE(test_kill_restart, ""),
    VT_CASE(test_kill_restart_stalls, "manual"),
};

/* `test_cluster_soak test_<case>` runs one case (CTest: cluster_soak_<case>). */
int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("cluster_soak", cases, VT_N(cases), argc > 1 ? argv[1] : NULL,
                   cu_teardown);
}
