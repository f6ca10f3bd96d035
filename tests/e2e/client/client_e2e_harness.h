/* SPDX-License-Identifier: MIT */
/*
 * client_e2e_harness.h: the harness test_client_e2e.c's tests use (in
 * client_e2e_harness.c): the test server child process, the `watch` that
 * counts a client's callbacks, and service loops bounded by wall-clock
 * deadlines (deadline.h). Everything fails the running cmocka test on error;
 * nothing here asserts how long something took.
 */
#ifndef CLIENT_E2E_HARNESS_H
#define CLIENT_E2E_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <verani/verani.h>

#include "ce_client.h"

extern const char *g_server_path;  /* client_test_server, from argv[1] */
extern char g_tmpdir[256];         /* this run's scratch directory */
extern const char *g_cert, *g_key; /* set: the next server_start serves wss:// */

/* --- the server child process --------------------------------------------------- */

typedef struct server {
    pid_t pid;
    int port;
    int stopped;   /* SIGSTOP'ed by the test */
} server;

/* Start client_test_server on `port` (0 = ephemeral; the port is read back),
 * logging the notes it handles to `log` unless NULL. */
void server_start(server *s, int port, const char *log);
/* Send `sig`; SIGKILL and SIGTERM also reap it (a stopped one too). */
void server_kill(server *s, int sig);
/* cmocka teardown: destroy the loops (cleanup.h), then kill every server a
 * failed test left running. */
int kill_leftovers(void **state);
/* `name` inside g_tmpdir. */
void tmp_path(char *buf, size_t n, const char *name);

/* --- what a client's callbacks saw -------------------------------------------- */

typedef struct watch {
    int opens, closes, errors, timeouts, reconnecting, error_state;
    int last_err;                    /* on_error's last `err` */
    int last_close_code;
    char last_close_reason[128];
    int noted, notes, ticks, once_notes;
    uint32_t last_noted_n;
    char last_note_channel[32];
    int replies;
    verani_reply_status last_status;
    uint32_t last_reply_n;
    char last_error[256];
    int channel_answers;
    verani_reply_status last_channel_status;
} watch;

void w_open(verani_client *c, void *u);
void w_close(verani_client *c, int code, const char *reason, void *u);
void w_error(verani_client *c, int err, const char *what, void *u);
void w_state(verani_client *c, verani_client_state o, verani_client_state n, void *u);
void w_noted(verani_client *c, const Ce__Note *msg, void *u);
void w_note(verani_client *c, const Ce__Note *msg, void *u);
void w_once_note(verani_client *c, const Ce__Note *msg, void *u);
void w_tick(verani_client *c, void *u);
/* Request replies: counted in `replies`, status and error text kept. */
void w_echo(verani_client *c, verani_reply_status st, const Ce__Note *reply, const char *error,
            void *u);
void w_fail(verani_client *c, verani_reply_status st, const Ce__Count *reply, const char *error,
            void *u);
void w_channel(verani_client *c, const char *channel, verani_reply_status st, const char *error,
               void *u);

/* --- clients and loops ------------------------------------------------------------- */

/* A client of 127.0.0.1:`port` + `path_query` (wss:// when o has a CA file or
 * is insecure; room Test unless o->room), every callback into `w` unless NULL
 * (which is zeroed). `o` is the caller's; its url is set here. */
verani_client *client_new(verani_client_loop *loop, int port, const char *path_query,
                          verani_client_options *o, watch *w);
/* Service the loop for `ms` (scaled, deadline.h) whatever happens: to see
 * that something does not happen. */
void service_for(verani_client_loop *loop, int ms);
/* The start of most tests: a server (logging to `log` unless NULL), a loop,
 * default options. */
verani_client_loop *begin(server *s, const char *log, verani_client_options *o);
/* The end of most tests: the client, its loop (loop_free), then the server (SIGTERM). */
void end_all(verani_client *c, verani_client_loop *loop, server *s);
/* Service until *flag >= want / the state is `st` / the queue is empty; each
 * fails the test once DL_WAIT_MS pass (scaled): far more than any timeout,
 * backoff or grace these tests configure (all under 2.5 s). A wait on
 * something a test delays longer names its own bound (_within, in ms). */
void until_count(verani_client_loop *loop, const int *flag, int want);
void until_count_within(verani_client_loop *loop, const int *flag, int want, int64_t ms);
void until_state(verani_client_loop *loop, verani_client *c, verani_client_state st);
void until_written(verani_client_loop *loop, verani_client *c);

Ce__Note note(const char *text, uint32_t n);
/* The n values the server logged for `user`, in log order (at most `max`). */
size_t read_log(const char *path, const char *user, uint32_t *out, size_t max);

#endif /* CLIENT_E2E_HARNESS_H */
