/* SPDX-License-Identifier: MIT */
/*
 * bench_server.c: the Verani-C side of bench/: a server of the bench schema
 * (bench/bench.verani, built through verani_generate() as a user's project
 * would) with the two handlers the scenarios need: `publish` fans its Tick out
 * to channel "default" except the sender, `echo` returns its Tick. It listens
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

static const bench_bench_handlers handlers = {
    .publish = on_publish,
    .echo = on_echo,
};

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_server [--port N] [--queue FRAMES] [--retain FRAMES] [--db FILE]"
               " [--rx-buffer BYTES] [--poll] [--log]\n"
               "Serves bench/bench.verani at ws://127.0.0.1:PORT/bench/{room} until SIGINT or\n"
               "SIGTERM; prints \"PID <pid> PORT <port>\" once it listens. --retain sets the\n"
               "frames kept per session for resume (the runtime's default when not given).\n"
               "--db keeps room storage and sessions in the SQLite file FILE (created when\n"
               "missing, WAL mode): sessions are persisted and resumable across a restart.\n"
               "Without it nothing is written to disk. --rx-buffer sets the server's\n"
               "recv_buffer_bytes (per-connection receive buffer; the runtime's default when\n"
               "not given). --poll runs it on libwebsockets' poll() loop instead of epoll.\n");
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

int main(int argc, char **argv)
{
    verani_server_options o;
    struct sigaction sa;
    char err[256];
    int r;

    verani_server_options_init(&o);
    o.bind_address = "127.0.0.1";
    o.max_connections = 200000;
    o.idle_timeout_ms = 600000; /* idle connections are the point of one scenario */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            o.port = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--poll")) {
            o.event_loop = VERANI_LOOP_POLL;
        } else if (!strcmp(argv[i], "--rx-buffer") && i + 1 < argc) {
            o.recv_buffer_bytes = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--retain") && i + 1 < argc) {
            o.retain_max_frames = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
            o.storage_path = argv[++i]; /* borrowed from argv: create copies it */
            if (!o.storage_path[0] || !strcmp(o.storage_path, ":memory:")) {
                fprintf(stderr, "bench_server: --db needs a file name\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--queue") && i + 1 < argc) {
            o.queue_max_frames = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--log")) {
            o.log_level = VERANI_LOG_ERR | VERANI_LOG_WARN | VERANI_LOG_NOTICE;
        } else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    raise_nofile();

    g_srv = verani_server_create(&o, err, sizeof(err));
    if (!g_srv) {
        fprintf(stderr, "bench_server: %s\n", err);
        return 1;
    }
    r = bench_bench_mount(g_srv, &handlers, NULL);
    if (r == 0)
        r = verani_server_listen(g_srv);
    if (r != 0) {
        fprintf(stderr, "bench_server: %s (%s)\n", verani_server_last_error(g_srv),
                verani_strerror(r));
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
    verani_server_destroy(g_srv);
    return r == 0 ? 0 : 1;
}
