/* SPDX-License-Identifier: MIT */
/*
 * arena_server_main.c: `arena_server [--port N] [--bind ADDR] [--storage FILE]
 * [--tick-ms N] [--round-ms N] [--min-players N] [--work-ms N] [--verbose]`,
 * the example arena (arena_room.c) as a stand-alone server with two worker
 * threads (the scoreboard's). It listens on 127.0.0.1 (or ADDR) port N
 * (default 8080; 0 picks a free port), prints the URL once, and serves until
 * SIGINT or SIGTERM (verani_server_handle_signals), then closes every session
 * with 1012: with --storage FILE the sessions, the record, the round under way
 * and its alarm are kept in FILE, and a server started again on FILE ends the
 * round on time and lets the clients resume. Everything else it says goes
 * through the runtime's logger (libwebsockets'): errors and warnings, and with
 * --verbose notices too (rounds starting and ending). No TLS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <verani/verani.h>

#include "arena_room.h"

/*
 * Where log lines go: libwebsockets' stderr logger, minus its own notices (with the libev
 * loop, libwebsockets 4.1 logs every socket event at NOTICE), so --verbose shows the
 * runtime's ("[verani] ...") and the arena's ("arena: ...").
 */
static void log_emit(int level, const char *line)
{
    if (level == LLL_NOTICE && !strstr(line, "[verani]") && !strstr(line, "arena:"))
        return;
    lwsl_emit_stderr(level, line);
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--port N] [--bind ADDR] [--storage FILE] [--tick-ms N] [--round-ms N]\n"
            "       [--min-players N] [--work-ms N] [--verbose]\n"
            "  serves room Arena at ws://ADDR:N/arena/{room}?userId=ID[&name=NAME]\n",
            argv0);
    return 2;
}

/* argv[i] as a number from `min` to `max` into *out; 0, or -1 after saying why. */
static int number_arg(const char *argv0, const char *flag, const char *s, long min, long max,
                      long *out)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (!*s || *end || v < min || v > max) {
        fprintf(stderr, "%s: %s wants a number from %ld to %ld, not \"%s\"\n", argv0, flag, min,
                max, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parse the command line into the server's and the game's options; 0, or the exit status. */
static int parse_args(int argc, char **argv, verani_server_options *o, arena_options *g)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *f = argv[i], *val;
        long v;

        if (!strcmp(f, "--verbose")) {
            o->log_level |= VERANI_LOG_NOTICE;
            continue;
        }
        if (i + 1 >= argc)
            return usage(argv[0]);
        val = argv[++i];
        if (!strcmp(f, "--bind")) {
            o->bind_address = val;
        } else if (!strcmp(f, "--storage")) {
            o->storage_path = val;
        } else if (!strcmp(f, "--port")) {
            if (number_arg(argv[0], f, val, 0, 65535, &v))
                return 2;
            o->port = (int)v;
        } else if (!strcmp(f, "--tick-ms")) {
            if (number_arg(argv[0], f, val, 1, 60000, &v))
                return 2;
            g->tick_ms = (uint32_t)v;
        } else if (!strcmp(f, "--round-ms")) {
            if (number_arg(argv[0], f, val, 1, 86400000, &v))
                return 2;
            g->round_ms = (uint32_t)v;
        } else if (!strcmp(f, "--min-players")) {
            if (number_arg(argv[0], f, val, 1, 1000, &v))
                return 2;
            g->min_players = (uint32_t)v;
        } else if (!strcmp(f, "--work-ms")) {
            if (number_arg(argv[0], f, val, 0, 10000, &v))
                return 2;
            g->work_ms = (uint32_t)v;
        } else {
            return usage(argv[0]);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    verani_server_options o;
    arena_options g;
    verani_server *srv;
    arena *a;
    char err[256];
    int rc;

    verani_server_options_init(&o);
    memset(&g, 0, sizeof(g));
    o.bind_address = "127.0.0.1";
    o.port = 8080;
    o.log_level = VERANI_LOG_ERR | VERANI_LOG_WARN;
    o.workers = 2;              /* the scoreboard is computed there */
    rc = parse_args(argc, argv, &o, &g);
    if (rc)
        return rc;
    verani_set_log_level(o.log_level, log_emit); /* the server keeps the emitter */
    a = arena_create(&g);
    srv = a ? verani_server_create(&o, err, sizeof(err)) : NULL;
    if (!srv) {
        fprintf(stderr, "arena_server: %s\n", a ? err : "out of memory");
        arena_destroy(a);
        return 1;
    }
    if (arena_mount(srv, a) < 0 || verani_server_listen(srv) < 0 ||
        verani_server_handle_signals(srv) < 0) {
        fprintf(stderr, "arena_server: %s\n", verani_server_last_error(srv));
        verani_server_destroy(srv);
        arena_destroy(a);
        return 1;
    }
    printf("arena_server: listening on ws://%s:%d/arena/{room}?userId=ID&name=NAME\n",
           o.bind_address, verani_server_port(srv));
    fflush(stdout);
    rc = verani_server_run(srv);
    verani_server_destroy(srv);   /* stops every instance: each stores its round */
    arena_destroy(a);
    return rc ? 1 : 0;
}
