/* SPDX-License-Identifier: MIT */
/*
 * e2e_util.c: the shared setup of the server-side end-to-end tests (see
 * e2e_util.h): a server on a thread, and the waits on raw clients and on
 * the hook log. It decides nothing a test checks: each test still sets its
 * own options and asserts its own outcomes.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "cleanup.h"
#include "deadline.h"
#include "e2e_room.h"
#include "e2e_util.h"

/* A server's thread; owned by its e2e_server until the test frees it, or by the
 * teardown list when an assertion ends the test first. */
struct e2e_run {
    verani_server *srv;
    pthread_t th;
    int rc;
    int joined;
};

static void *run_thread(void *arg)
{
    struct e2e_run *run = arg;

    run->rc = verani_server_run(run->srv);
    return NULL;
}

/* Teardown of a server a failed test left running. */
static void run_undo(void *arg)
{
    struct e2e_run *run = arg;

    if (!run->joined) {
        verani_server_stop(run->srv);
        pthread_join(run->th, NULL);
    }
    verani_server_destroy(run->srv);
    free(run);
}

void e2e_server_options(verani_server_options *o)
{
    verani_server_options_init(o);
    o->bind_address = "127.0.0.1";
    /* CTest runs the server cases again on the poll() loop (tests/e2e/CMakeLists.txt) */
    if (getenv("E2E_EVENT_LOOP_POLL"))
        o->event_loop = VERANI_LOOP_POLL;
}

void e2e_server_start(e2e_server *h, verani_server_options *o,
                      int (*setup)(verani_server *srv, void *arg), void *arg)
{
    e2e_server_start_rooms(h, o, e2e_mount_all, setup, arg);
}

void e2e_server_start_rooms(e2e_server *h, verani_server_options *o,
                            int (*mount)(verani_server *srv),
                            int (*setup)(verani_server *srv, void *arg), void *arg)
{
    char err[256] = "";

    e2e_log_reset();
    if (getenv("VERANI_TEST_VERBOSE"))
        o->log_level = atoi(getenv("VERANI_TEST_VERBOSE"));
    h->srv = verani_server_create(o, err, sizeof(err));
    if (!h->srv)
        fail_msg("verani_server_create: %s", err);
    assert_int_equal(mount(h->srv), 0);
    if (setup)
        assert_int_equal(setup(h->srv, arg), 0);
    assert_int_equal(verani_server_listen(h->srv), 0);
    h->port = verani_server_port(h->srv);
    assert_true(h->port > 0);
    h->run = calloc(1, sizeof(*h->run));
    assert_non_null(h->run);
    h->run->srv = h->srv;
    if (pthread_create(&h->run->th, NULL, run_thread, h->run) != 0) {
        verani_server_destroy(h->srv);
        free(h->run);
        fail_msg("pthread_create failed");
    }
    cu_push(run_undo, h->run);
}

int e2e_server_join(e2e_server *h)
{
    if (!h->run->joined) {
        pthread_join(h->run->th, NULL);
        h->run->joined = 1;
    }
    h->rc = h->run->rc;
    return h->rc;
}

void e2e_server_stop(e2e_server *h)
{
    if (!h->run->joined)
        verani_server_stop(h->srv);
    assert_int_equal(e2e_server_join(h), 0);
    cu_drop(h->run);
    free(h->run);
    h->run = NULL;
    verani_server_destroy(h->srv);
    h->srv = NULL;
}

int e2e_p_welcomed(void *conn)
{
    rc_conn *c = conn;

    return c->welcomed || c->closed;
}

int e2e_p_closed(void *conn)
{
    rc_conn *c = conn;

    return c->closed;
}

rc_conn *e2e_join(rc_loop *l, int port, const char *path)
{
    rc_conn *c = rc_connect(l, port, path, 1);

    assert_true(rc_wait(l, e2e_p_welcomed, c, DL_WAIT_MS));
    assert_true(c->welcomed);
    return c;
}

static int p_log(void *line)
{
    return e2e_log_count(line) > 0;
}

void e2e_wait_log(rc_loop *l, const char *line)
{
    char buf[4096];

    if (!rc_wait(l, p_log, (void *)line, DL_WAIT_MS)) {
        e2e_log_get(buf, sizeof(buf));
        fail_msg("log has no '%s': %s", line, buf);
    }
}

void e2e_wait_log_n(const char *line, int n)
{
    int64_t end = dl_after(DL_WAIT_MS);

    while (e2e_log_count(line) < n && !dl_passed(end))
        dl_nap_ms(5);
    assert_int_equal(e2e_log_count(line), n);
}
