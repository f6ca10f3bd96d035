/* SPDX-License-Identifier: MIT */
/*
 * redis_server.h: a real redis-server for one test, on a unix socket in a
 * directory of its own under $TMPDIR (or /tmp), with no persistence unless
 * the test asks for it. A missing redis-server binary fails the test (it is
 * a dependency of the suite, installed by scripts/deps.sh), never skips it.
 * The server is on the teardown list (cleanup.h): a failed test leaves no
 * redis-server behind. Include after <cmocka.h>; link test_common.
 */
#ifndef VERANI_TEST_REDIS_SERVER_H
#define VERANI_TEST_REDIS_SERVER_H

#include <sys/types.h>

typedef struct rs_server {
    pid_t pid;            /* 0 while not running */
    int stopped;          /* SIGSTOP'ed by the test */
    char dir[256];        /* its directory (removed by rs_free) */
    char sock[320];       /* its unix socket */
    char address[330];    /* "unix:<sock>", for the engine's options */
    char args[512];       /* extra arguments given at start, kept for rs_restart */
} rs_server;

/* Start redis-server with `extra` arguments appended (NULL: none; split at
 * spaces, e.g. "--requirepass s3cret") and wait until it answers PING
 * (DL_WAIT_MS at most). Returns it (owned: rs_free). */
rs_server *rs_start(const char *extra);

/* Send `sig`: SIGSTOP and SIGCONT pause and resume it; SIGKILL and SIGTERM
 * end it (and reap it). */
void rs_signal(rs_server *s, int sig);

/* Start it again on the same socket and directory, with the same arguments
 * (after SIGKILL or SIGTERM). */
void rs_restart(rs_server *s);

/* Stop it if running, remove its directory, free it. NULL is a no-op. */
void rs_free(rs_server *s);

#endif /* VERANI_TEST_REDIS_SERVER_H */
