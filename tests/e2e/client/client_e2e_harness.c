/* SPDX-License-Identifier: MIT */
/*
 * client_e2e_harness.c: what test_client_e2e.c's tests stand on: the test
 * server as a child process (started on port 0 or a given port, signalled,
 * every one killed after a test even when it fails), a `watch` that counts
 * what a client's callbacks saw, a client wired to it, and loops serviced
 * until a count, a state or an empty queue is reached (each wait bounded by a
 * wall-clock deadline, deadline.h). It holds no test itself.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "client_e2e_harness.h"
#include "client_test_util.h"
#include "deadline.h"

const char *g_server_path;
char g_tmpdir[256];

/* --- the server child process ----------------------------------------------- */


/* Every server still running, so a failed test leaves no child behind (a
 * child holding CTest's output pipe would hang the run). */
#define MAX_LIVE 8
static pid_t g_live[MAX_LIVE];

static void live_add(pid_t pid)
{
    int i;

    for (i = 0; i < MAX_LIVE; i++)
        if (!g_live[i]) {
            g_live[i] = pid;
            return;
        }
}

static void live_remove(pid_t pid)
{
    int i;

    for (i = 0; i < MAX_LIVE; i++)
        if (g_live[i] == pid)
            g_live[i] = 0;
}

int kill_leftovers(void **state)
{
    int i;

    cu_teardown(state); /* the loops and clients first, while their server still runs */
    for (i = 0; i < MAX_LIVE; i++)
        if (g_live[i]) {
            kill(g_live[i], SIGKILL);
            waitpid(g_live[i], NULL, 0);
            g_live[i] = 0;
        }
    return 0;
}

const char *g_cert, *g_key;

/* Start client_test_server (port 0 = ephemeral) and read its "PORT n" line. */
void server_start(server *s, int port, const char *log)
{
    int fds[2];
    char portarg[16], line[64];
    FILE *in;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    snprintf(portarg, sizeof(portarg), "%d", port);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (g_cert)
            execl(g_server_path, g_server_path, "--port", portarg, "--cert", g_cert, "--key",
                  g_key, (char *)NULL);
        else if (log)
            execl(g_server_path, g_server_path, "--port", portarg, "--log", log, (char *)NULL);
        else
            execl(g_server_path, g_server_path, "--port", portarg, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    live_add(pid);
    in = fdopen(fds[0], "r");
    assert_non_null(in);
    line[0] = '\0';
    if (!fgets(line, sizeof(line), in))
        line[0] = '\0';
    fclose(in);
    s->pid = pid;
    s->port = 0;
    s->stopped = 0;
    if (sscanf(line, "PORT %d", &s->port) != 1 || s->port <= 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        live_remove(pid);
        fail_msg("the test server did not start (line \"%s\")", line);
    }
}

void server_kill(server *s, int sig)
{
    if (s->pid <= 0)
        return;
    if (sig == SIGKILL || sig == SIGTERM) {
        /* SIGKILL ends a stopped process as it is; SIGTERM needs it running.
         * No stray SIGCONT otherwise: it can upset LeakSanitizer's exit check. */
        if (sig == SIGTERM && s->stopped)
            kill(s->pid, SIGCONT);
        kill(s->pid, sig);
        waitpid(s->pid, NULL, 0);
        live_remove(s->pid);
        s->pid = 0;
    } else {
        kill(s->pid, sig);
        if (sig == SIGSTOP || sig == SIGCONT)
            s->stopped = sig == SIGSTOP;
    }
}

void tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", g_tmpdir, name);
}

/* --- client helpers --------------------------------------------------------- */


void w_open(verani_client *c, void *u)
{
    (void)c;
    ((watch *)u)->opens++;
}

void w_close(verani_client *c, int code, const char *reason, void *u)
{
    watch *w = u;

    (void)c;
    if (getenv("CLIENT_E2E_VERBOSE"))
        fprintf(stderr, "client close %d: %s\n", code, reason);
    w->closes++;
    w->last_close_code = code;
    snprintf(w->last_close_reason, sizeof(w->last_close_reason), "%s", reason);
}

void w_error(verani_client *c, int err, const char *what, void *u)
{
    watch *w = u;

    (void)c;
    if (getenv("CLIENT_E2E_VERBOSE"))
        fprintf(stderr, "client error %d: %s\n", err, what);
    w->errors++;
    w->last_err = err;
    if (err == VERANI_ETIMEDOUT)
        w->timeouts++;
}

void w_state(verani_client *c, verani_client_state o, verani_client_state n, void *u)
{
    watch *w = u;

    (void)c;
    if (getenv("CLIENT_E2E_VERBOSE"))
        fprintf(stderr, "client state %s -> %s\n", verani_client_state_name(o),
                verani_client_state_name(n));
    if (n == VERANI_CLIENT_RECONNECTING)
        w->reconnecting++;
    if (n == VERANI_CLIENT_ERROR)
        w->error_state++;
}

void w_noted(verani_client *c, const Ce__Note *msg, void *u)
{
    watch *w = u;

    (void)c;
    if (getenv("CLIENT_E2E_VERBOSE"))
        fprintf(stderr, "client: noted %u\n", msg->n);
    w->noted++;
    w->last_noted_n = msg->n;
}

void w_note(verani_client *c, const Ce__Note *msg, void *u)
{
    watch *w = u;
    const char *ch = verani_client_event_channel(c);

    (void)msg;
    w->notes++;
    snprintf(w->last_note_channel, sizeof(w->last_note_channel), "%s", ch ? ch : "");
}

void w_once_note(verani_client *c, const Ce__Note *msg, void *u)
{
    (void)c;
    (void)msg;
    ((watch *)u)->once_notes++;
}

void w_tick(verani_client *c, void *u)
{
    (void)c;
    ((watch *)u)->ticks++;
}

void w_echo(verani_client *c, verani_reply_status st, const Ce__Note *reply, const char *error,
            void *u)
{
    watch *w = u;

    (void)c;
    w->replies++;
    w->last_status = st;
    w->last_reply_n = reply ? reply->n : 0;
    snprintf(w->last_error, sizeof(w->last_error), "%s", error ? error : "");
    if (st == VERANI_REPLY_OK)
        assert_non_null(reply);
    else
        assert_null(reply);
}

void w_fail(verani_client *c, verani_reply_status st, const Ce__Count *reply, const char *error,
            void *u)
{
    watch *w = u;

    (void)c;
    (void)reply;
    w->replies++;
    w->last_status = st;
    snprintf(w->last_error, sizeof(w->last_error), "%s", error ? error : "");
}

void w_channel(verani_client *c, const char *channel, verani_reply_status st, const char *error,
               void *u)
{
    watch *w = u;

    (void)c;
    (void)channel;
    (void)error;
    w->channel_answers++;
    w->last_channel_status = st;
}

verani_client *client_new(verani_client_loop *loop, int port, const char *path_query,
                          verani_client_options *o, watch *w)
{
    char url[256], err[256];
    verani_client *c;

    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", o->ca_file || o->insecure ? "wss" : "ws",
             port, path_query);
    o->url = url;
    if (!o->room)
        o->room = &ce_test_schema;
    c = verani_client_create(loop, o, err, sizeof(err));
    if (!c)
        fail_msg("client: %s", err);
    if (w) {
        memset(w, 0, sizeof(*w));
        assert_true(verani_client_on_open(c, w_open, w) > 0);
        assert_true(verani_client_on_close(c, w_close, w) > 0);
        assert_true(verani_client_on_error(c, w_error, w) > 0);
        assert_true(verani_client_on_state_change(c, w_state, w) > 0);
        if (o->room == &ce_test_schema) {
            assert_int_equal(ce_test_client_on_noted(c, w_noted, w), 0);
            assert_int_equal(ce_test_client_on_note(c, w_note, w), 0);
            assert_int_equal(ce_test_client_on_tick(c, w_tick, w), 0);
        }
    }
    return c;
}

/* Service the loop for `ms` of wall-clock time, whatever happens. */
void service_for(verani_client_loop *loop, int ms)
{
    int64_t end = dl_after(ms);

    while (!dl_passed(end))
        assert_int_equal(verani_client_loop_service(loop, 10), 0);
}

/* The start of most tests: a server (logging to `log` unless NULL), a
 * loop, default options. */
verani_client_loop *begin(server *s, const char *log, verani_client_options *o)
{
    server_start(s, 0, log);
    verani_client_options_init(o);
    return loop_new();
}

/* The end of most tests: the client, its loop, then the server (SIGTERM). */
void end_all(verani_client *c, verani_client_loop *loop, server *s)
{
    verani_client_destroy(c);
    loop_free(loop);
    server_kill(s, SIGTERM);
}

void until_count_within(verani_client_loop *loop, const int *flag, int want, int64_t ms)
{
    int64_t end = dl_after(ms);

    while (*flag < want && !dl_passed(end))
        assert_int_equal(verani_client_loop_service(loop, 10), 0);
    if (*flag < want)
        fail_msg("count %d, not %d, after %lld ms", *flag, want, (long long)ms);
}

void until_count(verani_client_loop *loop, const int *flag, int want)
{
    until_count_within(loop, flag, want, DL_WAIT_MS);
}

void until_state(verani_client_loop *loop, verani_client *c, verani_client_state st)
{
    int64_t end = dl_after(DL_WAIT_MS);

    while (verani_client_get_state(c) != st && !dl_passed(end))
        assert_int_equal(verani_client_loop_service(loop, 10), 0);
    assert_string_equal(verani_client_state_name(verani_client_get_state(c)),
                        verani_client_state_name(st));
}

void until_written(verani_client_loop *loop, verani_client *c)
{
    int64_t end = dl_after(DL_WAIT_MS);
    verani_client_info info;

    for (;;) {
        assert_int_equal(verani_client_get_info(c, &info), 0);
        if (info.queued == 0)
            return;
        if (dl_passed(end))
            fail_msg("%u frames never left the queue", (unsigned)info.queued);
        assert_int_equal(verani_client_loop_service(loop, 10), 0);
    }
}

Ce__Note note(const char *text, uint32_t n)
{
    Ce__Note m = CE__NOTE__INIT;

    m.text = (char *)text;
    m.n = n;
    return m;
}

/* The n values the server logged for `user`, in log order. */
size_t read_log(const char *path, const char *user, uint32_t *out, size_t max)
{
    FILE *f = fopen(path, "r");
    char u[64];
    unsigned n;
    size_t k = 0;

    assert_non_null(f);
    while (fscanf(f, "%63s %u", u, &n) == 2)
        if (!strcmp(u, user) && k < max)
            out[k++] = n;
    fclose(f);
    return k;
}
