/* SPDX-License-Identifier: MIT */
/*
 * e2e_util.h: the setup the server-side end-to-end tests (test_server_e2e.c,
 * test_rpc.c, test_resume.c) share: a server with the e2e rooms
 * (e2e_room.h) listening on 127.0.0.1, port 0, run on a thread of its own,
 * and stopped and freed with its return code checked (or, when an assertion
 * ends the test first, at cleanup.h's teardown); and the raw-client waits
 * every one of them uses (welcomed, closed, a line in the hook log), each
 * bounded by a wall-clock deadline (deadline.h). Failures are cmocka
 * assertions, so call these from a test only; run each test with
 * cu_teardown as its teardown. It holds no test logic of its own.
 */
#ifndef VERANI_TEST_E2E_UTIL_H
#define VERANI_TEST_E2E_UTIL_H

#include <pthread.h>

#include <verani/verani.h>

#include "rawclient.h"

/* A server running on its own thread. */
typedef struct e2e_server {
    verani_server *srv;   /* owned: e2e_server_stop frees it */
    struct e2e_run *run;  /* owned: its thread (heap, so a teardown after a failed test
                             finds it once this struct's stack frame is gone) */
    int port;             /* the port it listens on (127.0.0.1) */
    int rc;               /* verani_server_run's result, once joined */
} e2e_server;

/* Default options on 127.0.0.1, port 0 (the caller may change them before starting). */
void e2e_server_options(verani_server_options *o);

/*
 * Reset the hook log, create a server with `o` (its log level from the
 * environment variable VERANI_TEST_VERBOSE when set), mount the e2e rooms,
 * call `setup(srv, arg)` when not NULL (more rooms, the HTTP API: anything
 * before listening; nonzero fails the test), listen and run it on a thread.
 * `o` is read during the call only.
 */
void e2e_server_start(e2e_server *h, verani_server_options *o,
                      int (*setup)(verani_server *srv, void *arg), void *arg);
/* The same with `mount(srv)` in place of the e2e rooms (a test's own handler table for
 * them: e2e_e2e_mount with it). */
void e2e_server_start_rooms(e2e_server *h, verani_server_options *o,
                            int (*mount)(verani_server *srv),
                            int (*setup)(verani_server *srv, void *arg), void *arg);

/* Wait for the server's thread to end (after verani_server_stop(h->srv)) and
 * return verani_server_run's result (also in h->rc). The server is not freed. */
int e2e_server_join(e2e_server *h);

/* Stop the server (unless joined already), join its thread, check it returned
 * 0, free it. */
void e2e_server_stop(e2e_server *h);

/* rc_wait predicates on an rc_conn: WELCOME received (or closed); closed. */
int e2e_p_welcomed(void *conn);
int e2e_p_closed(void *conn);

/* Connect to `path` with an automatic HELLO and wait (DL_WAIT_MS at most) for the WELCOME. */
rc_conn *e2e_join(rc_loop *l, int port, const char *path);

/* Service `l` until the hook log has `line` (DL_WAIT_MS at most); fails with the log
 * otherwise. */
void e2e_wait_log(rc_loop *l, const char *line);

/* Wait (DL_WAIT_MS at most, without servicing any client) until the hook log has `n`
 * entries `line`; fails otherwise. */
void e2e_wait_log_n(const char *line, int n);

#endif /* VERANI_TEST_E2E_UTIL_H */
