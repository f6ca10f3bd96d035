/* SPDX-License-Identifier: MIT */
/*
 * client_test_server.c: the server the client's end-to-end tests run as a
 * child process (so they can kill, stop and restart it). It serves the rooms
 * of client_e2e.verani on 127.0.0.1 and prints "PORT <n>" on stdout once it
 * listens. Handlers: `note` appends "<user> <n>" to the log file (when
 * --log is given) and echoes the note to the sender as `noted` (a note
 * "close:<code>" closes the connection with that code instead); `echo`
 * replies with n + 1; `fail` fails; `shout` emits `note` to the channel
 * named by the note's text; `poke` emits `tick` to the sender; joins of
 * channel "forbidden" are refused. SIGTERM stops it gracefully (sessions are
 * closed with 1012). With CLIENT_E2E_VERBOSE set in the environment it
 * prints what it handles on stderr. With --log it also logs each upgrade
 * to the `test` room, saying whether its HELLO was folded into it. Test code only.
 *
 * Usage: client_test_server [--port N] [--log FILE] [--cert PEM --key PEM]
 * (with a certificate and key it serves wss:// only).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <verani/verani.h>

#include "ce_server.h"

static verani_server *g_srv;
static FILE *g_log;

static void on_signal(int sig)
{
    (void)sig;
    verani_server_stop(g_srv);
}

static int on_note(verani_ctx *ctx, const Ce__Note *msg)
{
    if (!strncmp(msg->text, "close:", 6))
        return verani_ctx_close(ctx, atoi(msg->text + 6), "asked to close");
    if (g_log) {
        fprintf(g_log, "%s %u\n", verani_ctx_user_id(ctx), msg->n);
        fflush(g_log);
    }
    if (getenv("CLIENT_E2E_VERBOSE"))
        fprintf(stderr, "server %d: note %s %u\n", (int)getpid(), verani_ctx_user_id(ctx),
                msg->n);
    return ce_test_emit_noted(ctx, verani_to_self(), msg) < 0 ? VERANI_EIO : 0;
}

static int on_echo(verani_ctx *ctx, const Ce__Note *msg, Ce__Note *reply)
{
    reply->text = verani_ctx_strdup(ctx, msg->text);
    reply->n = msg->n + 1;
    return reply->text ? 0 : VERANI_ENOMEM;
}

static int on_fail(verani_ctx *ctx, Ce__Count *reply)
{
    (void)ctx;
    (void)reply;
    return VERANI_EHANDLER;
}

static int on_shout(verani_ctx *ctx, const Ce__Note *msg)
{
    return ce_test_emit_note(ctx, verani_to_channel(msg->text), msg) < 0 ? VERANI_EIO : 0;
}

static int on_poke(verani_ctx *ctx)
{
    return ce_test_emit_tick(ctx, verani_to_self()) < 0 ? VERANI_EIO : 0;
}

static int on_join(verani_ctx *ctx, const char *channel)
{
    (void)ctx;
    return strcmp(channel, "forbidden") ? 0 : VERANI_EDENIED;
}

/* The user id is the runtime's default; with --log each upgrade is logged as "upgrade:<user> 1"
 * when its HELLO is folded into it (?hello=), "upgrade:<user> 0" when it is to come as a frame. */
static int extract_meta(verani_upgrade *req, Ce__TestMeta *meta)
{
    char user[128], hello[600];

    (void)meta;
    if (g_log && verani_upgrade_query(req, "userId", user, sizeof(user)) > 0) {
        fprintf(g_log, "upgrade:%s %d\n", user,
                verani_upgrade_query(req, "hello", hello, sizeof(hello)) > 0);
        fflush(g_log);
    }
    return VERANI_ENOHANDLER;
}

static int on_connect(verani_ctx *ctx)
{
    if (getenv("CLIENT_E2E_VERBOSE"))
        fprintf(stderr, "server %d: connect %s\n", (int)getpid(), verani_ctx_client_id(ctx));
    return 0;
}

static void on_disconnect(verani_ctx *ctx)
{
    if (getenv("CLIENT_E2E_VERBOSE"))
        fprintf(stderr, "server %d: disconnect %s\n", (int)getpid(), verani_ctx_client_id(ctx));
}

static void on_error(verani_ctx *ctx, int err, const char *what)
{
    (void)ctx;
    if (getenv("CLIENT_E2E_VERBOSE"))
        fprintf(stderr, "server %d: error %d %s\n", (int)getpid(), err, what);
}

static int strict_note(verani_ctx *ctx, const Ce__Note *msg)
{
    (void)ctx;
    (void)msg;
    return 0;
}

int main(int argc, char **argv)
{
    static ce_test_handlers test;
    static ce_strict_handlers strict;
    verani_server_options o;
    struct rlimit rl;
    char err[256];
    int i, r;

    if (getenv("CLIENT_E2E_VERBOSE"))
        verani_set_log_level(VERANI_LOG_ERR | VERANI_LOG_WARN | VERANI_LOG_NOTICE |
                             VERANI_LOG_INFO, NULL);
    verani_server_options_init(&o);
    o.bind_address = "127.0.0.1";
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            o.port = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--cert") && i + 1 < argc) {
            o.tls_cert_path = argv[++i];
        } else if (!strcmp(argv[i], "--key") && i + 1 < argc) {
            o.tls_key_path = argv[++i];
        } else if (!strcmp(argv[i], "--log") && i + 1 < argc) {
            g_log = fopen(argv[++i], "a");
            if (!g_log) {
                perror(argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: %s [--port N] [--log FILE] [--cert PEM --key PEM]\n",
                    argv[0]);
            return 2;
        }
    }
    /* Room for the 1,000-client test. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    g_srv = verani_server_create(&o, err, sizeof(err));
    if (!g_srv) {
        fprintf(stderr, "client_test_server: %s\n", err);
        return 1;
    }
    test.note = on_note;
    test.echo = on_echo;
    test.fail = on_fail;
    test.shout = on_shout;
    test.poke = on_poke;
    test.extract_meta = extract_meta;
    test.hooks.on_join = on_join;
    test.hooks.on_connect = on_connect;
    test.hooks.on_disconnect = on_disconnect;
    test.hooks.on_error = on_error;
    strict.note = strict_note;
    if (ce_test_mount(g_srv, &test, NULL) || ce_strict_mount(g_srv, &strict, NULL) ||
        verani_server_listen(g_srv)) {
        fprintf(stderr, "client_test_server: %s\n", verani_server_last_error(g_srv));
        verani_server_destroy(g_srv);
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("PORT %d\n", verani_server_port(g_srv));
    fflush(stdout);
    r = verani_server_run(g_srv);
    verani_server_destroy(g_srv);
    if (g_log)
        fclose(g_log);
    return r ? 1 : 0;
}
