/* SPDX-License-Identifier: MIT */
/*
 * bench_server.c: the Verani-C side of bench/: a server of the bench schema
 * (bench/bench.verani, built through verani_generate() as a user's project
 * would; its room also speaks Verani's JSON wire on /bench-json/{room}, to the
 * same instances) with the handlers the scenarios need: `publish` fans its Tick out
 * to channel "default" except the sender, `echo` returns its Tick, `store`
 * writes the Tick's number (in decimal) to its instance's storage under key
 * "n" and then returns the Tick (bench/cluster/gate_latency: on a cluster node
 * its reply waits for Redis to acknowledge the write). It listens
 * on 127.0.0.1 (port 0 unless given), prints one line "PID <pid> PORT <port>"
 * on stdout for bench/run.sh and the load generator, and runs the one event
 * loop thread until SIGINT or SIGTERM (so `taskset -c N` pins all its work).
 * With `--db FILE` its room storage and session store are that SQLite file:
 * every session's attachment is written when it is created, resumed or
 * changes channels and removed when it ends, sessions are resumable across a
 * graceful restart; without it everything stays in memory (":memory:"). It
 * never deletes FILE: the caller gives it a fresh one per run when runs must
 * not see each other's sessions. It does no measuring itself: the load
 * generator reads its CPU time and resident memory from /proc. It is not an
 * example of a real application.
 *
 * `--reply MODE` chooses how `echo` answers, for the deferred-reply benchmark
 * (bench/run.sh --defer): `direct` (the default) fills the reply and returns;
 * `defer-loop` defers it (verani_ctx_defer) and answers at once with the typed
 * reply, on the loop thread, inside the handler: the deferral's bookkeeping
 * alone; `defer-worker` defers it and posts a job to the worker pool
 * (verani_ctx_post, `--workers N`, 1 by default) whose `work` does nothing and
 * whose `done`, back on the loop thread, answers; `defer-thread` defers it and
 * hands it to a plain application thread (replier.c), which answers with the
 * typed reply from there, through the runtime's cross-thread queue. The loop
 * stays on the main thread, so the load generator can tell its CPU from the
 * other threads' (/proc/<pid>/task/<pid>).
 *
 * `--redis ADDR` (`unix:/path` or `IP:port`) makes it a node of a cluster
 * through that Redis (README.md, "Cluster"; verani_server_options.cluster),
 * with `--public-url URL` (where a client it moves goes; none by default: a
 * bare 4003) and `--node-id ID` (random by default); the cluster needs the
 * default (libev) loop, so not with --poll. `--api-token TOKEN` switches the
 * HTTP API on (README.md, "HTTP API"), for the forwarded emit of
 * bench/cluster/.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_server.h"
#include "replier.h"

/* The server the signal handler stops; set once before the handlers are installed. */
static verani_server *g_srv;

static void on_signal(int sig)
{
    (void)sig;
    if (g_srv)
        verani_server_stop(g_srv);
}

static int on_publish(verani_ctx *ctx, const Bench__Tick *msg)
{
    verani_target to = verani_to_channel("default");
    int r;

    to.except = verani_ctx_session(ctx);
    r = bench_bench_emit_fanout(ctx, to, msg);
    return r < 0 ? r : 0;
}

static int on_echo(verani_ctx *ctx, const Bench__Tick *msg, Bench__Tick *reply)
{
    (void)ctx;
    /* `msg` outlives the reply's packing (the runtime frees it after), so borrow its bytes. */
    reply->n = msg->n;
    reply->data = msg->data;
    return 0;
}

static int on_store(verani_ctx *ctx, const Bench__Tick *msg, Bench__Tick *reply)
{
    verani_storage *st = verani_ctx_storage(ctx);
    char v[24];
    int len, r;

    if (!st)
        return VERANI_EIO;
    len = snprintf(v, sizeof(v), "%llu", (unsigned long long)msg->n);
    r = verani_storage_put(st, "n", 1, v, (size_t)len);
    if (r < 0)
        return r;
    return on_echo(ctx, msg, reply);
}

/* --- deferred replies (--reply) --------------------------------------------------------- */

/* The application thread of --reply defer-thread; set once before the server runs. */
static bench_replier *g_replier;

/* --reply defer-loop: defer, then answer at once on the loop thread. */
static int on_echo_defer_loop(verani_ctx *ctx, const Bench__Tick *msg, Bench__Tick *reply)
{
    verani_reply *r = verani_ctx_defer(ctx);
    Bench__Tick out = BENCH__TICK__INIT;
    int e;

    (void)reply; /* ignored once deferred */
    if (!r)
        return VERANI_ENOMEM;
    out.n = msg->n;
    out.data = msg->data;
    e = bench_bench_reply_echo(r, &out);
    return e < 0 ? e : 0;
}

/* Defer the request's reply and copy what the answer needs: the request is freed when the
 * handler returns. NULL when out of memory (nothing deferred then). */
static bench_job *job_new(verani_ctx *ctx, const Bench__Tick *msg)
{
    bench_job *j = malloc(sizeof(*j) + msg->data.len);

    if (!j)
        return NULL;
    j->next = NULL;
    j->n = msg->n;
    j->len = msg->data.len;
    if (j->len)
        memcpy(j->data, msg->data.data, j->len);
    j->r = verani_ctx_defer(ctx);
    if (!j->r) {
        free(j);
        return NULL;
    }
    return j;
}

/* Answer `j` with its Tick, from any thread, and free it. A failure (VERANI_ECLOSED while
 * the server stops) has answered or dropped the request already: the generator counts it. */
static void job_answer(bench_job *j)
{
    Bench__Tick out = BENCH__TICK__INIT;

    out.n = j->n;
    out.data.len = j->len;
    out.data.data = j->data;
    (void)bench_bench_reply_echo(j->r, &out);
    free(j);
}

/* A job that could not be handed on: answer it with an error instead. */
static void job_refused(bench_job *j, const char *why)
{
    (void)verani_reply_error(j->r, why);
    free(j);
}

static void work_nothing(void *arg)
{
    (void)arg;
}

static void done_answer(verani_ctx *ctx, void *arg, int status)
{
    (void)ctx;
    (void)status; /* VERANI_ECLOSED at a stop: answered all the same */
    job_answer(arg);
}

/* --reply defer-worker: a job of the worker pool whose `done` answers on the loop. */
static int on_echo_defer_worker(verani_ctx *ctx, const Bench__Tick *msg, Bench__Tick *reply)
{
    bench_job *j = job_new(ctx, msg);
    int e;

    (void)reply;
    if (!j)
        return VERANI_ENOMEM;
    e = verani_ctx_post(ctx, work_nothing, done_answer, j);
    if (e)
        job_refused(j, verani_strerror(e));
    return 0;
}

/* --reply defer-thread: the application thread answers (verani_reply_send off the loop). */
static int on_echo_defer_thread(verani_ctx *ctx, const Bench__Tick *msg, Bench__Tick *reply)
{
    bench_job *j = job_new(ctx, msg);

    (void)reply;
    if (!j)
        return VERANI_ENOMEM;
    if (bench_replier_push(g_replier, j) != 0)
        job_refused(j, "the replier thread is stopping");
    return 0;
}

typedef enum reply_mode { REPLY_DIRECT, REPLY_DEFER_LOOP, REPLY_DEFER_WORKER,
                          REPLY_DEFER_THREAD } reply_mode;

static const char *const reply_names[] = {"direct", "defer-loop", "defer-worker",
                                          "defer-thread"};

static const bench_bench_handlers handlers[] = {
    [REPLY_DIRECT] = {.publish = on_publish, .echo = on_echo, .store = on_store},
    [REPLY_DEFER_LOOP] = {.publish = on_publish, .echo = on_echo_defer_loop, .store = on_store},
    [REPLY_DEFER_WORKER] = {.publish = on_publish, .echo = on_echo_defer_worker,
                            .store = on_store},
    [REPLY_DEFER_THREAD] = {.publish = on_publish, .echo = on_echo_defer_thread,
                            .store = on_store},
};

/* The mode named `s`, or -1. */
static int reply_mode_of(const char *s)
{
    for (int i = 0; i < (int)(sizeof(reply_names) / sizeof(reply_names[0])); i++)
        if (!strcmp(s, reply_names[i]))
            return i;
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_server [--port N] [--queue FRAMES] [--retain FRAMES] [--db FILE]"
               " [--rx-buffer BYTES] [--poll] [--log]\n"
               "                    [--reply direct|defer-loop|defer-worker|defer-thread]"
               " [--workers N]\n"
               "                    [--redis ADDR [--public-url URL] [--node-id ID]]"
               " [--api-token TOKEN]\n"
               "Serves bench/bench.verani at ws://127.0.0.1:PORT/bench/{room} (and Verani's\n"
               "JSON wire at /bench-json/{room}) until SIGINT or SIGTERM; prints\n"
               "\"PID <pid> PORT <port>\" once it listens. --retain sets the frames kept per\n"
               "session for resume (the runtime's default when not given).\n"
               "--db keeps room storage and sessions in the SQLite file FILE (created when\n"
               "missing, WAL mode): sessions are persisted and resumable across a restart.\n"
               "Without it nothing is written to disk. --rx-buffer sets the server's\n"
               "recv_buffer_bytes (per-connection receive buffer; the runtime's default when\n"
               "not given). --poll runs it on libwebsockets' poll() loop instead of epoll.\n"
               "--reply: how echo answers: direct (fills the reply and returns, the\n"
               "default), defer-loop (verani_ctx_defer, then the typed reply at once in the\n"
               "handler), defer-worker (a worker-pool job whose done answers on the loop),\n"
               "defer-thread (an application thread answers with verani_reply_send).\n"
               "--workers sets the worker pool's threads (defer-worker: 1 when not given).\n"
               "--redis ADDR (unix:/path or IP:port): a node of a cluster through that Redis,\n"
               "reached at --public-url (none: a bare 4003), named --node-id (random).\n"
               "--api-token: the HTTP API under /_verani/ with that bearer token.\n");
}

/* Raise the open-file limit to its hard maximum: idle holds 10,000 connections or more. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            fprintf(stderr, "bench_server: cannot raise the fd limit: %s\n", strerror(errno));
    }
}

/* The command line into `o` and `*mode`: 0 to run, 1 after --help, 2 on a usage error. */
static int parse_args(int argc, char **argv, verani_server_options *o, int *mode,
                      verani_api_options *api)
{
    int workers = -1;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            o->port = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--poll")) {
            o->event_loop = VERANI_LOOP_POLL;
        } else if (!strcmp(argv[i], "--rx-buffer") && i + 1 < argc) {
            o->recv_buffer_bytes = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--retain") && i + 1 < argc) {
            o->retain_max_frames = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
            o->storage_path = argv[++i]; /* borrowed from argv: create copies it */
            if (!o->storage_path[0] || !strcmp(o->storage_path, ":memory:")) {
                fprintf(stderr, "bench_server: --db needs a file name\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--queue") && i + 1 < argc) {
            o->queue_max_frames = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--reply") && i + 1 < argc) {
            if ((*mode = reply_mode_of(argv[++i])) < 0) {
                fprintf(stderr, "bench_server: --reply %s: not one of direct, defer-loop, "
                        "defer-worker, defer-thread\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--workers") && i + 1 < argc) {
            workers = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--redis") && i + 1 < argc) {
            o->cluster.redis_address = argv[++i];
        } else if (!strcmp(argv[i], "--public-url") && i + 1 < argc) {
            o->cluster.public_url = argv[++i];
        } else if (!strcmp(argv[i], "--node-id") && i + 1 < argc) {
            o->cluster.node_id = argv[++i];
        } else if (!strcmp(argv[i], "--api-token") && i + 1 < argc) {
            api->token = argv[++i];
        } else if (!strcmp(argv[i], "--log")) {
            o->log_level = VERANI_LOG_ERR | VERANI_LOG_WARN | VERANI_LOG_NOTICE;
        } else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 1;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if ((o->cluster.public_url || o->cluster.node_id) && !o->cluster.redis_address) {
        fprintf(stderr, "bench_server: --public-url and --node-id are for a cluster node: "
                "add --redis\n");
        return 2;
    }
    if (o->cluster.redis_address && o->event_loop == VERANI_LOOP_POLL) {
        fprintf(stderr, "bench_server: --redis needs the default loop, not --poll\n");
        return 2;
    }
    if (workers < 0)
        workers = *mode == REPLY_DEFER_WORKER;
    if (*mode == REPLY_DEFER_WORKER && workers < 1) {
        fprintf(stderr, "bench_server: --reply defer-worker needs --workers 1 or more\n");
        return 2;
    }
    o->workers = (uint32_t)workers;
    o->worker_queue_max = 1u << 20; /* a refused job would be an error the bench counts */
    return 0;
}

int main(int argc, char **argv)
{
    verani_server_options o;
    verani_api_options api;
    struct sigaction sa;
    char err[256];
    int r, mode = REPLY_DIRECT;

    verani_server_options_init(&o);
    o.bind_address = "127.0.0.1";
    o.max_connections = 200000;
    o.idle_timeout_ms = 600000; /* idle connections are the point of one scenario */
    memset(&api, 0, sizeof(api));
    r = parse_args(argc, argv, &o, &mode, &api);
    if (r != 0)
        return r == 1 ? 0 : 2;
    raise_nofile();

    g_srv = verani_server_create(&o, err, sizeof(err));
    if (!g_srv) {
        fprintf(stderr, "bench_server: %s\n", err);
        return 1;
    }
    r = bench_bench_mount(g_srv, &handlers[mode], NULL);
    if (r == 0 && api.token)
        r = verani_server_set_api(g_srv, &api);
    if (r == 0)
        r = verani_server_listen(g_srv);
    if (r != 0) {
        fprintf(stderr, "bench_server: %s (%s)\n", verani_server_last_error(g_srv),
                verani_strerror(r));
        verani_server_destroy(g_srv);
        return 1;
    }
    if (mode == REPLY_DEFER_THREAD && !(g_replier = bench_replier_start(job_answer, err,
                                                                        sizeof(err)))) {
        fprintf(stderr, "bench_server: %s\n", err);
        verani_server_destroy(g_srv);
        return 1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    printf("PID %ld PORT %d\n", (long)getpid(), verani_server_port(g_srv));
    fflush(stdout);
    r = verani_server_run(g_srv);
    /* the stop answered what was still deferred; the replier's late answers get
     * VERANI_ECLOSED and free their handles */
    bench_replier_stop(g_replier);
    verani_server_destroy(g_srv);
    return r == 0 ? 0 : 1;
}
