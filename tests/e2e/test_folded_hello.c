/* SPDX-License-Identifier: MIT */
/*
 * test_folded_hello.c: the HELLO folded into the upgrade (PROTOCOL.md section 3): the query
 * parameter `hello`, a Hello message in base64url, is the connection's first HELLO, answered
 * with a WELCOME right after the 101 with no frame from the client; it is refused, answered
 * and counted as a HELLO frame would be; a malformed one refuses the upgrade with 400 and
 * costs no one else anything; Verani's JSON wire does not read it. Resumes through it are in
 * test_resume.c, the clients' use of it in their own tests. Each case runs its own server on
 * port 0 (`test_folded_hello <name>` runs one).
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cases.h"
#include "cleanup.h"
#include "deadline.h"

#include "e2e_room.h"
#include "e2e_util.h"
#include "hard_util.h"
#include "rawclient.h"

static void start(e2e_server *h)
{
    verani_server_options o;

    e2e_server_options(&o);
    o.resume_grace_ms = 1; /* a dropped connection's on_disconnect comes at once */
    e2e_server_start(h, &o, NULL, NULL);
}

/* `path` (with its query) and "&hello=..." for `hh` into `out`. */
static void folded_path(char *out, size_t len, const char *path, const Verani__Wire__Hello *hh)
{
    char param[256];

    assert_int_equal(rc_hello_param(hh, param, sizeof(param)), 0);
    assert_true(snprintf(out, len, "%s&%s", path, param) < (int)len);
}

/* A connection to `path` whose HELLO (protocol 1, `fingerprint` unless NULL) is folded into
 * its upgrade; it sends nothing itself. */
static rc_conn *connect_folded(rc_loop *l, int port, const char *path, const char *fingerprint)
{
    Verani__Wire__Hello hh = VERANI__WIRE__HELLO__INIT;
    char p[512];

    hh.has_protocol = 1;
    hh.protocol = 1;
    hh.fingerprint = (char *)fingerprint;
    folded_path(p, sizeof(p), path, &hh);
    return rc_connect(l, port, p, 0);
}

static int p_established(void *a)
{
    return ((rc_conn *)a)->established || ((rc_conn *)a)->closed;
}

static int p_answered_7(void *a)
{
    return rc_answer(a, 7) != NULL || ((rc_conn *)a)->closed;
}

typedef struct { rc_conn *c; int code; } error_arg;
static int p_error(void *a)
{
    error_arg *x = a;

    return rc_error(x->c, x->code) != NULL || x->c->closed;
}

/* --- tests --------------------------------------------------------------- */

/* The WELCOME comes with no frame from the client, and it is the same WELCOME: the schema's
 * fingerprint matched (no SCHEMA_MISMATCH), a fresh session in the schema's channel, on_connect
 * once. A HELLO frame after it is a second HELLO: ERROR PROTOCOL, and the session goes on. */
static void test_folded_welcome(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;
    const rc_env *w;
    error_arg ea;

    (void)state;
    start(&h);
    l = rc_loop_create();
    a = connect_folded(l, h.port, "/e2e/lobby?userId=u1", E2E_SCHEMA_FINGERPRINT);
    assert_true(rc_wait(l, e2e_p_welcomed, a, DL_WAIT_MS));
    w = rc_nth(a, VERANI__WIRE__KIND__WELCOME, 0);
    assert_non_null(w);
    assert_int_equal(w->welcome->protocol, 1);
    assert_string_equal(w->welcome->user_id, "u1");
    assert_string_equal(w->welcome->fingerprint, E2E_SCHEMA_FINGERPRINT);
    assert_false(w->welcome->resumed);
    assert_int_equal(w->welcome->seq, 0);
    assert_int_equal(w->welcome->n_channels, 1);
    assert_string_equal(w->welcome->channels[0], "default");
    assert_int_equal(strlen(w->welcome->resume_token), 32);
    rc_settle(l, 100);
    assert_null(rc_error(a, VERANI__WIRE__ERROR_CODE__SCHEMA_MISMATCH));
    assert_int_equal(a->n_errors, 0);
    assert_int_equal(e2e_log_count("connect:u1:-"), 1);

    rc_send_hello(a, E2E_SCHEMA_FINGERPRINT);
    ea.c = a, ea.code = VERANI__WIRE__ERROR_CODE__PROTOCOL;
    assert_true(rc_wait(l, p_error, &ea, DL_WAIT_MS));
    assert_non_null(rc_error(a, VERANI__WIRE__ERROR_CODE__PROTOCOL));
    assert_false(a->closed);
    assert_int_equal(rc_count(a, VERANI__WIRE__KIND__WELCOME), 1);
    assert_int_equal(e2e_log_count("connect:u1:-"), 1);
    {
        /* the session answers as any does */
        E2e__Echo e = E2E__ECHO__INIT;

        e.text = "folded";
        rc_send_event(a, VERANI__WIRE__KIND__REQUEST, E2E_EV_ECHO, &e.base, 7);
        assert_true(rc_wait(l, p_answered_7, a, DL_WAIT_MS));
        assert_int_equal(rc_answer(a, 7)->kind, VERANI__WIRE__KIND__REPLY);
    }
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* A folded HELLO is refused or warned about as a frame would be: another fingerprint gets the
 * WELCOME and a SCHEMA_MISMATCH; protocol 2 gets ERROR PROTOCOL and no WELCOME, and the
 * connection may then say HELLO in a frame. */
static void test_folded_refusals(void **state)
{
    Verani__Wire__Hello hh = VERANI__WIRE__HELLO__INIT;
    e2e_server h;
    rc_loop *l;
    rc_conn *a, *b;
    error_arg ea;
    char p[512];

    (void)state;
    start(&h);
    l = rc_loop_create();
    a = connect_folded(l, h.port, "/e2e/lobby?userId=u1", "another-fingerprint");
    assert_true(rc_wait(l, e2e_p_welcomed, a, DL_WAIT_MS));
    ea.c = a, ea.code = VERANI__WIRE__ERROR_CODE__SCHEMA_MISMATCH;
    assert_true(rc_wait(l, p_error, &ea, DL_WAIT_MS));
    assert_non_null(rc_error(a, VERANI__WIRE__ERROR_CODE__SCHEMA_MISMATCH));
    /* the WELCOME first, then the warning */
    assert_int_equal(a->rx[0]->kind, VERANI__WIRE__KIND__WELCOME);

    hh.has_protocol = 1;
    hh.protocol = 2;
    folded_path(p, sizeof(p), "/e2e/lobby?userId=u2", &hh);
    b = rc_connect(l, h.port, p, 0);
    ea.c = b, ea.code = VERANI__WIRE__ERROR_CODE__PROTOCOL;
    assert_true(rc_wait(l, p_error, &ea, DL_WAIT_MS));
    assert_non_null(rc_error(b, VERANI__WIRE__ERROR_CODE__PROTOCOL));
    rc_settle(l, 100);
    assert_false(b->welcomed);
    assert_int_equal(e2e_log_count("connect:u2:-"), 0);
    rc_send_hello(b, E2E_SCHEMA_FINGERPRINT);
    assert_true(rc_wait(l, e2e_p_welcomed, b, DL_WAIT_MS));
    assert_int_equal(e2e_log_count("connect:u2:-"), 1);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* Each malformed `hello` refuses the upgrade with 400 naming what is wrong (and no session
 * begins); a session already there keeps being served. */
static void test_folded_malformed(void **state)
{
    static const struct {
        const char *query, *why;
    } bad[] = {
        {"hello=CAE%2B", "is not base64url"},     /* '+': standard base64 */
        {"hello=CAE%3D", "is not base64url"},     /* padding */
        {"hello=CAF", "is not base64url"},        /* the last digit's spare bits are not 0 */
        {"hello=C", "is not base64url"},          /* 6 bits: no whole byte */
        {"hello=CA%20E", "is not base64url"},
        {"hello=_w", "does not decode as a verani.wire.Hello"}, /* 0xff: a cut varint */
        {"hello=EgE", "does not decode as a verani.wire.Hello"}, /* a string cut short */
        {"hello=CAE&hello=CAE", "is given more than once"},
    };
    char path[1024], body[1024];
    e2e_server h;
    rc_loop *l;
    rc_conn *by;
    size_t i;

    (void)state;
    start(&h);
    l = rc_loop_create();
    by = e2e_join(l, h.port, "/e2e/lobby?userId=bystander");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "/e2e/lobby?userId=u1&%s", bad[i].query);
        assert_int_equal(hu_upgrade(h.port, path, "", body, sizeof(body)), 400);
        if (!strstr(body, "query parameter 'hello'") || !strstr(body, bad[i].why))
            fail_msg("%s: answered \"%s\"", bad[i].query, body);
    }
    {
        /* longer than the 512 characters a server reads */
        size_t n = (size_t)snprintf(path, sizeof(path), "/e2e/lobby?userId=u1&hello=");

        memset(path + n, 'A', 516);
        path[n + 516] = '\0';
        assert_int_equal(hu_upgrade(h.port, path, "", body, sizeof(body)), 400);
        assert_non_null(strstr(body, "query parameter 'hello' is longer than the 512 bytes"));
    }
    assert_int_equal(e2e_log_count("connect:u1"), 0);
    {
        /* an empty `hello` is an empty Hello: protocol 1, no fingerprint to check */
        rc_conn *e = rc_connect(l, h.port, "/e2e/lobby?userId=u3&hello=", 0);

        assert_true(rc_wait(l, e2e_p_welcomed, e, DL_WAIT_MS));
        rc_settle(l, 100);
        assert_int_equal(e->n_errors, 0);
    }
    rc_settle(l, 50);
    assert_false(by->closed);
    assert_int_equal(by->n_errors, 0);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* Verani's JSON wire has no HELLO: its path does not read `hello`, whatever it holds. */
static void test_folded_json_path_ignores(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *j;

    (void)state;
    start(&h);
    l = rc_loop_create();
    j = rc_connect(l, h.port, "/e2e-json/lobby?userId=j1&hello=not*base64", 0);
    e2e_wait_log(l, "connect:j1:-"); /* the session began at the server's open */
    assert_true(rc_wait(l, p_established, j, DL_WAIT_MS)); /* and the client saw the 101 */
    assert_true(j->established);
    rc_settle(l, 50);
    assert_false(j->closed);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static const vt_case cases[] = {
    VT_CASE(test_folded_welcome, "poll"),
    VT_CASE(test_folded_refusals, ""),
    VT_CASE(test_folded_malformed, ""),
    VT_CASE(test_folded_json_path_ignores, ""),
};

int main(int argc, char **argv)
{
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("folded_hello", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
