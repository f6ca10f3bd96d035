/* SPDX-License-Identifier: MIT */
/*
 * test_server_e2e.c: the server end to end over 127.0.0.1. Each test starts
 * its own server on port 0 on a thread of its own and drives raw clients
 * (rawclient.h) from the test thread: hook order, HTTP answers, every emit
 * target and filter, join/leave, request/reply, every bad input with its
 * answer while a bystander session keeps receiving, timeouts, a slow
 * consumer, graceful shutdown, 1,000 connections. Run one test with
 * `test_server_e2e <name>` (CTest registers each separately).
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "cases.h"
#include "cleanup.h"
#include "deadline.h"

#include "e2e_room.h"
#include "e2e_util.h"
#include "rawclient.h"

/* The server of most tests: e2e_server_start with a 1 ms resume grace period unless `o` sets
 * one. These tests see a dropped connection's on_disconnect right away (test_resume.c covers
 * resume itself); rc_close sends no close frame, so without it every drop would wait 30 s. */
static void start_opts(e2e_server *h, verani_server_options *o)
{
    if (!o->resume_grace_ms)
        o->resume_grace_ms = 1;
    e2e_server_start(h, o, NULL, NULL);
}

static void start(e2e_server *h)
{
    verani_server_options o;

    e2e_server_options(&o);
    start_opts(h, &o);
}

/* --- predicates ---------------------------------------------------------- */

typedef struct { rc_conn **c; size_t n; } conns;
static int p_all_welcomed(void *a)
{
    conns *cs = a;
    size_t i;

    for (i = 0; i < cs->n; i++)
        if (!cs->c[i]->welcomed && !cs->c[i]->closed)
            return 0;
    return 1;
}

typedef struct { rc_conn *c; uint64_t rid; } answer_arg;
static int p_answer(void *a)
{
    answer_arg *x = a;

    return rc_answer(x->c, x->rid) != NULL || x->c->closed;
}

typedef struct { rc_conn *c; int code; } error_arg;
static int p_error(void *a)
{
    error_arg *x = a;

    return rc_error(x->c, x->code) != NULL || x->c->closed;
}

typedef struct { rc_conn *c; int kind; size_t n; } kind_arg;
static int p_kind(void *a)
{
    kind_arg *x = a;

    return rc_count(x->c, x->kind) >= x->n || x->c->closed;
}

/* Service until `c` holds at least `n` frames of `kind` (or closed); fail otherwise. A test
 * that asserts an exact count settles (rc_settle) afterwards, to see a frame too many. */
static void wait_kind(rc_loop *l, rc_conn *c, int kind, size_t n)
{
    kind_arg x = {c, kind, n};

    if (!rc_wait(l, p_kind, &x, DL_WAIT_MS))
        fail_msg("%s: %zu frames of kind %d, not %zu", c->name, rc_count(c, kind), kind, n);
}

static const rc_env *request(rc_loop *l, rc_conn *c, int kind, uint32_t ev,
                             const ProtobufCMessage *msg, uint64_t rid)
{
    answer_arg a = {c, rid};

    rc_send_event(c, kind, ev, msg, rid);
    assert_true(rc_wait(l, p_answer, &a, DL_WAIT_MS));
    return rc_answer(c, rid);
}

/* Send `cmd` from `c` and return the reply's count. */
static int cmd(rc_loop *l, rc_conn *c, E2e__Cmd *m, uint64_t rid)
{
    const rc_env *r;
    E2e__Count *n;
    int v;

    r = request(l, c, VERANI__WIRE__KIND__REQUEST, E2E_EV_CMD, &m->base, rid);
    assert_non_null(r);
    assert_int_equal(r->kind, VERANI__WIRE__KIND__REPLY);
    n = e2e__count__unpack(NULL, r->payload.len, r->payload.data);
    assert_non_null(n);
    v = n->n;
    e2e__count__free_unpacked(n, NULL);
    return v;
}

/* A bystander: an echo from it still gets its answer and it saw no error. */
static void bystander_ok(rc_loop *l, rc_conn *b, uint64_t rid)
{
    E2e__Echo e = E2E__ECHO__INIT;
    const rc_env *r;

    e.text = "still here";
    r = request(l, b, VERANI__WIRE__KIND__REQUEST, E2E_EV_ECHO, &e.base, rid);
    assert_non_null(r);
    assert_int_equal(r->kind, VERANI__WIRE__KIND__REPLY);
    assert_false(b->closed);
    assert_int_equal(b->n_errors, 0);
    assert_int_equal(b->seq_errors, 0);
}

/* A bare TCP WebSocket session on `path` (`rcvbuf` as for rc_tcp_connect) that has sent its
 * HELLO and reads nothing unless the test does; returns its socket. */
static int bare_session(int port, int rcvbuf, const char *path)
{
    rc_env hello = VERANI__WIRE__ENVELOPE__INIT;
    Verani__Wire__Hello hh = VERANI__WIRE__HELLO__INIT;
    unsigned char buf[64];
    size_t len;
    int fd = rc_tcp_connect(port, rcvbuf);

    assert_true(fd >= 0);
    assert_int_equal(rc_tcp_upgrade(fd, path, NULL, 0), 101);
    hello.has_kind = 1;
    hello.kind = VERANI__WIRE__KIND__HELLO;
    hello.hello = &hh;
    len = verani__wire__envelope__pack(&hello, buf);
    assert_int_equal(rc_tcp_send_frame(fd, 2, buf, len), 0);
    return fd;
}

/* One flood request `f` from `c`, answered: the recipients of its last blob. Then the kept
 * envelopes of `c` go (its counters stay). */
static int flood_once(rc_loop *l, rc_conn *c, E2e__Flood *f, uint64_t rid)
{
    const rc_env *r = request(l, c, VERANI__WIRE__KIND__REQUEST, E2E_EV_FLOOD, &f->base, rid);
    E2e__Count *cnt;
    int n;

    assert_non_null(r);
    cnt = e2e__count__unpack(NULL, r->payload.len, r->payload.data);
    assert_non_null(cnt);
    n = cnt->n;
    e2e__count__free_unpacked(cnt, NULL);
    rc_clear(c);
    return n;
}

/* --- tests --------------------------------------------------------------- */

static void test_hook_order_and_welcome(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a, *r;
    const rc_env *w;
    char log[4096];

    (void)state;
    start(&h);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/lobby?userId=u1&role=admin");
    w = rc_nth(a, VERANI__WIRE__KIND__WELCOME, 0);
    assert_non_null(w);
    assert_ptr_equal(a->rx[0], w); /* the first frame */
    assert_string_equal(w->welcome->user_id, "u1");
    assert_int_equal(strlen(w->welcome->client_id), 36);
    assert_int_equal(w->welcome->client_id[14], '4');
    assert_int_equal(strlen(w->welcome->resume_token), 32);
    assert_string_equal(w->welcome->fingerprint, E2E_SCHEMA_FINGERPRINT);
    assert_int_equal(w->welcome->n_channels, 1);
    assert_string_equal(w->welcome->channels[0], "default");
    assert_int_equal(w->welcome->max_frame, 8192);
    assert_int_equal(w->welcome->protocol, 1);
    e2e_wait_log(l, "connect:u1:admin");

    /* on_connect failing: 1011, and no on_disconnect for a session never added */
    r = rc_connect(l, h.port, "/e2e/lobby?userId=refuse", 1);
    assert_true(rc_wait(l, e2e_p_closed, r, DL_WAIT_MS));
    assert_int_equal(r->close_code, 1011);
    assert_false(r->welcomed);
    assert_int_equal(e2e_log_count("error:-10"), 1);

    /* on_connect runs after the session is added and after WELCOME is queued:
     * its channel emit reaches the joiner, behind the WELCOME */
    {
        rc_conn *n = e2e_join(l, h.port, "/e2e/lobby?userId=u2&role=announce");

        e2e_wait_log(l, "announced:2");
        wait_kind(l, n, VERANI__WIRE__KIND__EVENT, 1);
        wait_kind(l, a, VERANI__WIRE__KIND__EVENT, 1);
        rc_settle(l, 100);
        assert_ptr_equal(n->rx[0], rc_nth(n, VERANI__WIRE__KIND__WELCOME, 0));
        assert_int_equal(rc_count(n, VERANI__WIRE__KIND__EVENT), 1);
        assert_int_equal(rc_count(a, VERANI__WIRE__KIND__EVENT), 1);
        rc_close(n);
        e2e_wait_log(l, "disconnect:u2");
    }

    rc_close(a);
    e2e_wait_log(l, "disconnect:u1");
    e2e_log_get(log, sizeof(log));
    assert_true(strstr(log, "connect:u1:admin") < strstr(log, "disconnect:u1"));
    assert_int_equal(e2e_log_count("disconnect:refuse"), 0);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void test_http_answers(void **state)
{
    e2e_server h;
    char resp[4096];
    rc_loop *l;
    rc_conn *c;
    int fd;

    (void)state;
    start(&h);
    assert_int_equal(rc_tcp_get(h.port, "/nope", resp, sizeof(resp)), 404);
    assert_non_null(strstr(resp, "/e2e/{room}"));
    assert_non_null(strstr(resp, "/limited/{room}"));
    assert_int_equal(rc_tcp_get(h.port, "/e2e/lobby", resp, sizeof(resp)), 426);
    assert_non_null(strstr(resp, "WebSocket"));

    /* an Upgrade other than websocket: libwebsockets' own 403 (PROTOCOL.md section 1) */
    assert_int_equal(rc_tcp_request(h.port, "GET /e2e/lobby?userId=x HTTP/1.1\r\n"
                                    "Host: 127.0.0.1\r\nUpgrade: foo\r\nConnection: Upgrade"
                                    "\r\n\r\n", resp, sizeof(resp)), 403);
    fd = rc_tcp_connect(h.port, 0);
    assert_int_equal(rc_tcp_upgrade(fd, "/e2e/lobby", resp, sizeof(resp)), 401);
    close(fd);
    fd = rc_tcp_connect(h.port, 0);
    assert_int_equal(rc_tcp_upgrade(fd, "/e2e/lobby?userId=x&role=banned", resp, sizeof(resp)),
                     403);
    close(fd);
    fd = rc_tcp_connect(h.port, 0);
    assert_int_equal(rc_tcp_upgrade(fd, "/nowhere/x?userId=x", resp, sizeof(resp)), 404);
    close(fd);
    /* the instance is one non-empty path segment */
    fd = rc_tcp_connect(h.port, 0);
    assert_int_equal(rc_tcp_upgrade(fd, "/e2e/a/b?userId=x", resp, sizeof(resp)), 404);
    close(fd);
    fd = rc_tcp_connect(h.port, 0);
    assert_int_equal(rc_tcp_upgrade(fd, "/e2e/?userId=x", resp, sizeof(resp)), 404);
    close(fd);
    fd = rc_tcp_connect(h.port, 0);
    assert_int_equal(rc_tcp_upgrade(fd, "/e2e/lobby?userId=x", resp, sizeof(resp)), 101);
    close(fd);

    l = rc_loop_create();
    c = rc_connect_ex(l, h.port, "/e2e/lobby", 1, "x-user-id:", "hdr-user", NULL);
    assert_true(rc_wait(l, e2e_p_welcomed, c, DL_WAIT_MS));
    assert_string_equal(c->user_id, "hdr-user");
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* anonymous_users: no user id is "anonymous" instead of 401 */
static void test_anonymous_users(void **state)
{
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *a;

    (void)state;
    e2e_server_options(&o);
    o.anonymous_users = 1;
    start_opts(&h, &o);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/lobby");
    assert_string_equal(a->user_id, "anonymous");
    a = e2e_join(l, h.port, "/e2e/lobby?userId=named");
    assert_string_equal(a->user_id, "named");
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void test_connection_limit(void **state)
{
    e2e_server h;
    verani_server_options o;
    char resp[1024];
    rc_loop *l;
    int fd;

    (void)state;
    e2e_server_options(&o);
    o.max_sessions = 2;
    start_opts(&h, &o);
    l = rc_loop_create();
    e2e_join(l, h.port, "/e2e/lobby?userId=a");
    e2e_join(l, h.port, "/e2e/lobby?userId=b");
    fd = rc_tcp_connect(h.port, 0);
    assert_int_equal(rc_tcp_upgrade(fd, "/e2e/lobby?userId=c", resp, sizeof(resp)), 503);
    close(fd);
    rc_loop_destroy(l);
    e2e_server_stop(&h);

    /* per instance */
    e2e_server_options(&o);
    o.max_per_instance = 1;
    start_opts(&h, &o);
    l = rc_loop_create();
    e2e_join(l, h.port, "/e2e/one?userId=a");
    fd = rc_tcp_connect(h.port, 0);
    assert_int_equal(rc_tcp_upgrade(fd, "/e2e/one?userId=b", resp, sizeof(resp)), 503);
    close(fd);
    e2e_join(l, h.port, "/e2e/two?userId=b"); /* another instance is fine */
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static size_t events_of(rc_conn *c)
{
    return rc_count(c, VERANI__WIRE__KIND__EVENT);
}

static void test_emit_targets(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a, *b, *c, *d, *e, *all[5];
    E2e__Cmd m = E2E__CMD__INIT;
    char *users[2] = {"u2", "u3"}, *clients[1];
    size_t i;
    uint64_t rid = 1;

    (void)state;
    start(&h);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/lobby?userId=u1");
    b = e2e_join(l, h.port, "/e2e/lobby?userId=u1");
    c = e2e_join(l, h.port, "/e2e/lobby?userId=u2");
    d = e2e_join(l, h.port, "/e2e/lobby?userId=u3");
    e = e2e_join(l, h.port, "/e2e/hall?userId=u1"); /* another instance */
    all[0] = a, all[1] = b, all[2] = c, all[3] = d, all[4] = e;
    m.text = "hi";

#define EXPECT(na, nb, nc, nd, ne)                                   \
    do {                                                             \
        size_t want_[5] = {na, nb, nc, nd, ne};                      \
        for (i = 0; i < 5; i++)                                      \
            wait_kind(l, all[i], VERANI__WIRE__KIND__EVENT, want_[i]); \
        rc_settle(l, 100);                                           \
        assert_int_equal(events_of(a), na);                          \
        assert_int_equal(events_of(b), nb);                          \
        assert_int_equal(events_of(c), nc);                          \
        assert_int_equal(events_of(d), nd);                          \
        assert_int_equal(events_of(e), ne);                          \
        for (i = 0; i < 5; i++)                                      \
            rc_clear(all[i]);                                        \
    } while (0)

    m.op = 0; /* self */
    assert_int_equal(cmd(l, a, &m, rid++), 1);
    EXPECT(1, 0, 0, 0, 0);
    m.op = 1; /* channel */
    m.arg = "default";
    assert_int_equal(cmd(l, a, &m, rid++), 4);
    EXPECT(1, 1, 1, 1, 0);
    m.except_self = 1;
    assert_int_equal(cmd(l, a, &m, rid++), 3);
    EXPECT(0, 1, 1, 1, 0);
    m.except_self = 0;
    m.op = 2; /* user: all of u1's sessions in this instance */
    m.arg = "u1";
    assert_int_equal(cmd(l, c, &m, rid++), 2);
    EXPECT(1, 1, 0, 0, 0);
    m.op = 3; /* client id */
    m.arg = d->client_id;
    assert_int_equal(cmd(l, a, &m, rid++), 1);
    EXPECT(0, 0, 0, 1, 0);
    m.op = 4; /* all, filtered to users u2 and u3 */
    m.n_users = 2;
    m.users = users;
    assert_int_equal(cmd(l, a, &m, rid++), 2);
    EXPECT(0, 0, 1, 1, 0);
    m.n_users = 0; /* all, filtered to b's client id */
    clients[0] = b->client_id;
    m.n_clients = 1;
    m.clients = clients;
    assert_int_equal(cmd(l, a, &m, rid++), 1);
    EXPECT(0, 1, 0, 0, 0);
    m.n_clients = 0; /* all with except */
    m.except_self = 1;
    assert_int_equal(cmd(l, b, &m, rid++), 3);
    EXPECT(1, 0, 1, 1, 0);
    m.except_self = 0;
    m.op = 2; /* unknown user: nobody, not an error */
    m.arg = "nobody";
    assert_int_equal(cmd(l, a, &m, rid++), 0);
    EXPECT(0, 0, 0, 0, 0);

    /* queries: lobby has a(u1) b(u1) c(u2) d(u3); hall has e(u1) */
    m.arg = "u1";
    m.op = 5;
    assert_int_equal(cmd(l, a, &m, rid++), 4);
    m.op = 6;
    assert_int_equal(cmd(l, a, &m, rid++), 3);
    m.op = 7;
    assert_int_equal(cmd(l, a, &m, rid++), 2);
    m.op = 8;
    assert_int_equal(cmd(l, a, &m, rid++), 3);
    m.op = 9;
    assert_int_equal(cmd(l, a, &m, rid++), 3);
    m.op = 10;
    assert_int_equal(cmd(l, a, &m, rid++), 5);
    m.op = 5;
    assert_int_equal(cmd(l, e, &m, rid++), 1);

    /* the event that arrived carries the payload and the channel */
    m.op = 1;
    m.arg = "default";
    cmd(l, a, &m, rid++);
    wait_kind(l, d, VERANI__WIRE__KIND__EVENT, 1);
    {
        const rc_env *ev = rc_nth(d, VERANI__WIRE__KIND__EVENT, 0);
        E2e__ChatOut *o;

        assert_non_null(ev);
        assert_int_equal(ev->event, E2E_EM_CHAT);
        assert_string_equal(ev->channel, "default");
        assert_true(ev->has_seq);
        o = e2e__chat_out__unpack(NULL, ev->payload.len, ev->payload.data);
        assert_non_null(o);
        assert_string_equal(o->text, "hi");
        assert_string_equal(o->from, "u1");
        e2e__chat_out__free_unpacked(o, NULL);
    }
    for (i = 0; i < 5; i++)
        assert_int_equal(all[i]->seq_errors, 0);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void test_join_leave(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a, *b;
    const rc_env *r;
    E2e__Cmd m = E2E__CMD__INIT;
    E2e__Echo e = E2E__ECHO__INIT;
    answer_arg aa;

    (void)state;
    start(&h);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/lobby?userId=u1");
    b = e2e_join(l, h.port, "/e2e/lobby?userId=u2");

    rc_send_join(b, VERANI__WIRE__KIND__JOIN, "room2", 7);
    aa.c = b, aa.rid = 7;
    assert_true(rc_wait(l, p_answer, &aa, DL_WAIT_MS));
    r = rc_answer(b, 7);
    assert_int_equal(r->kind, VERANI__WIRE__KIND__REPLY);
    assert_string_equal(r->channel, "room2");
    e2e_wait_log(l, "join:room2");
    m.op = 1;
    m.arg = "room2";
    m.text = "x";
    assert_int_equal(cmd(l, a, &m, 1), 1); /* only b is in room2 */

    rc_send_join(a, VERANI__WIRE__KIND__JOIN, "forbidden", 8);
    aa.c = a, aa.rid = 8;
    assert_true(rc_wait(l, p_answer, &aa, DL_WAIT_MS));
    r = rc_answer(a, 8);
    assert_int_equal(r->kind, VERANI__WIRE__KIND__ERROR);
    assert_int_equal(r->error->code, VERANI__WIRE__ERROR_CODE__JOIN_DENIED);

    rc_send_join(a, VERANI__WIRE__KIND__LEAVE, "never", 9);
    aa.c = a, aa.rid = 9;
    assert_true(rc_wait(l, p_answer, &aa, DL_WAIT_MS));
    assert_int_equal(rc_answer(a, 9)->error->code, VERANI__WIRE__ERROR_CODE__NOT_JOINED);

    rc_send_join(a, VERANI__WIRE__KIND__JOIN, "", 10);
    aa.c = a, aa.rid = 10;
    assert_true(rc_wait(l, p_answer, &aa, DL_WAIT_MS));
    assert_int_equal(rc_answer(a, 10)->error->code, VERANI__WIRE__ERROR_CODE__PROTOCOL);

    rc_send_join(b, VERANI__WIRE__KIND__LEAVE, "room2", 11);
    aa.c = b, aa.rid = 11;
    assert_true(rc_wait(l, p_answer, &aa, DL_WAIT_MS));
    assert_int_equal(rc_answer(b, 11)->kind, VERANI__WIRE__KIND__REPLY);
    e2e_wait_log(l, "leave:room2");
    assert_int_equal(cmd(l, a, &m, 2), 0);

    /* server-side join (no on_join check) */
    e.text = "side";
    rc_send_event(a, VERANI__WIRE__KIND__EVENT, E2E_EV_SJOIN, &e.base, 0);
    /* a's join and b's emit come on two connections: the order the server reads them in
     * is not the order they were sent, so wait for the join */
    e2e_wait_log(l, "sjoin:side");
    m.arg = "side";
    assert_int_equal(cmd(l, b, &m, 3), 1);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void test_request_reply(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;
    const rc_env *r;
    E2e__Echo e = E2E__ECHO__INIT, *o;
    rc_env ping = VERANI__WIRE__ENVELOPE__INIT;

    (void)state;
    start(&h);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/lobby?userId=u1");
    e.text = "hello";
    r = request(l, a, VERANI__WIRE__KIND__REQUEST, E2E_EV_ECHO, &e.base, 41);
    assert_int_equal(r->kind, VERANI__WIRE__KIND__REPLY);
    assert_int_equal(r->event, E2E_EV_ECHO);
    assert_int_equal(r->seq, 1);
    o = e2e__echo__unpack(NULL, r->payload.len, r->payload.data);
    assert_string_equal(o->text, "hello");
    e2e__echo__free_unpacked(o, NULL);

    e.text = "fail";
    r = request(l, a, VERANI__WIRE__KIND__REQUEST, E2E_EV_ECHO, &e.base, 42);
    assert_int_equal(r->kind, VERANI__WIRE__KIND__ERROR);
    assert_int_equal(r->error->code, VERANI__WIRE__ERROR_CODE__HANDLER_FAILED);
    e2e_wait_log(l, "error:-9");

    r = request(l, a, VERANI__WIRE__KIND__REQUEST, E2E_EV_POKE, NULL, 43);
    assert_int_equal(r->error->code, VERANI__WIRE__ERROR_CODE__PROTOCOL);
    /* and a `returns` event sent as EVENT is refused the same way, not dropped */
    e.text = "as event";
    r = request(l, a, VERANI__WIRE__KIND__EVENT, E2E_EV_ECHO, &e.base, 44);
    assert_int_equal(r->kind, VERANI__WIRE__KIND__ERROR);
    assert_int_equal(r->error->code, VERANI__WIRE__ERROR_CODE__PROTOCOL);
    assert_int_equal(r->event, E2E_EV_ECHO);

    rc_send_event(a, VERANI__WIRE__KIND__EVENT, E2E_EV_POKE, NULL, 0);
    e2e_wait_log(l, "poke");
    e.text = "abc";
    rc_send_event(a, VERANI__WIRE__KIND__EVENT, E2E_EV_UNHANDLED, &e.base, 0);
    e2e_wait_log(l, "message:5:5");

    ping.has_kind = 1;
    ping.kind = VERANI__WIRE__KIND__PING;
    ping.has_request_id = 1;
    ping.request_id = 44;
    rc_send_env(a, &ping);
    wait_kind(l, a, VERANI__WIRE__KIND__PONG, 1);
    rc_settle(l, 100);
    assert_int_equal(rc_count(a, VERANI__WIRE__KIND__PONG), 1);
    assert_int_equal(a->seq_errors, 0);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* Bad input: `bad` is sent by a; b is a bystander that must see nothing wrong. */
static void bad_input(const void *bytes, size_t len, int text, int code, const char *field)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a, *b;
    error_arg ea;
    const rc_env *r;
    E2e__Cmd m = E2E__CMD__INIT;

    start(&h);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/lobby?userId=bad");
    b = e2e_join(l, h.port, "/e2e/lobby?userId=good");
    rc_send(a, bytes, len, text);
    ea.c = a, ea.code = code;
    assert_true(rc_wait(l, p_error, &ea, DL_WAIT_MS));
    r = rc_error(a, code);
    assert_non_null(r);
    assert_non_null(r->error->message);
    if (field)
        assert_string_equal(r->error->field, field);
    assert_false(a->closed);
    /* the sender lives on, and the bystander got everything */
    m.op = 1;
    m.arg = "default";
    m.text = "after";
    assert_int_equal(cmd(l, a, &m, 100), 2);
    wait_kind(l, b, VERANI__WIRE__KIND__EVENT, 1);
    rc_settle(l, 100);
    assert_int_equal(rc_count(b, VERANI__WIRE__KIND__EVENT), 1);
    bystander_ok(l, b, 101);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void test_bad_text_frame(void **state)
{
    (void)state;
    bad_input("{\"type\":\"chat\"}", 15, 1, VERANI__WIRE__ERROR_CODE__BAD_FRAME, NULL);
}

static void test_bad_garbage(void **state)
{
    static const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};

    (void)state;
    bad_input(junk, sizeof(junk), 0, VERANI__WIRE__ERROR_CODE__BAD_FRAME, NULL);
}

static void packed(const rc_env *env, unsigned char *buf, size_t *len)
{
    *len = verani__wire__envelope__pack(env, buf);
}

static void test_unknown_event(void **state)
{
    rc_env env = VERANI__WIRE__ENVELOPE__INIT;
    unsigned char buf[64];
    size_t n;

    (void)state;
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__EVENT;
    env.has_event = 1;
    env.event = 99;
    packed(&env, buf, &n);
    bad_input(buf, n, 0, VERANI__WIRE__ERROR_CODE__UNKNOWN_EVENT, NULL);
}

static void test_invalid_payload(void **state)
{
    rc_env env = VERANI__WIRE__ENVELOPE__INIT;
    E2e__Cmd m = E2E__CMD__INIT;
    unsigned char buf[256], pb[128];
    size_t n;

    (void)state;
    m.text = "this text is longer than sixteen";
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__REQUEST;
    env.has_event = 1;
    env.event = E2E_EV_CMD;
    env.has_request_id = 1;
    env.request_id = 5;
    env.has_payload = 1;
    env.payload.len = e2e__cmd__pack(&m, pb);
    env.payload.data = pb;
    packed(&env, buf, &n);
    bad_input(buf, n, 0, VERANI__WIRE__ERROR_CODE__INVALID_PAYLOAD, "text");
    /* bytes that do not decode as the payload type */
    pb[0] = 0xff;
    pb[1] = 0xff;
    env.payload.len = 2;
    packed(&env, buf, &n);
    bad_input(buf, n, 0, VERANI__WIRE__ERROR_CODE__INVALID_PAYLOAD, NULL);
}

static void test_frame_before_hello(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;
    error_arg ea;

    (void)state;
    start(&h);
    l = rc_loop_create();
    a = rc_connect(l, h.port, "/e2e/lobby?userId=u1", 0);
    rc_send_event(a, VERANI__WIRE__KIND__EVENT, E2E_EV_POKE, NULL, 0);
    ea.c = a, ea.code = VERANI__WIRE__ERROR_CODE__PROTOCOL;
    assert_true(rc_wait(l, p_error, &ea, DL_WAIT_MS));
    assert_non_null(rc_error(a, VERANI__WIRE__ERROR_CODE__PROTOCOL));
    assert_int_equal(e2e_log_count("poke"), 0);
    {
        /* a HELLO of protocol 2 is refused; the same connection may then say HELLO again,
         * and one without `protocol` is taken as protocol 1 */
        rc_env env = VERANI__WIRE__ENVELOPE__INIT;
        Verani__Wire__Hello hh = VERANI__WIRE__HELLO__INIT;

        rc_clear(a);
        env.has_kind = 1;
        env.kind = VERANI__WIRE__KIND__HELLO;
        env.hello = &hh;
        hh.has_protocol = 1;
        hh.protocol = 2;
        rc_send_env(a, &env);
        assert_true(rc_wait(l, p_error, &ea, DL_WAIT_MS));
        assert_false(a->welcomed);
        hh.has_protocol = 0;
        hh.fingerprint = "another-fingerprint";
        rc_send_env(a, &env);
    }
    assert_true(rc_wait(l, e2e_p_welcomed, a, DL_WAIT_MS));
    assert_true(a->welcomed);
    ea.code = VERANI__WIRE__ERROR_CODE__SCHEMA_MISMATCH;
    assert_true(rc_wait(l, p_error, &ea, DL_WAIT_MS));
    assert_non_null(rc_error(a, VERANI__WIRE__ERROR_CODE__SCHEMA_MISMATCH));
    {
        /* a HELLO without a fingerprint is not checked: no SCHEMA_MISMATCH */
        rc_conn *b = rc_connect(l, h.port, "/e2e/lobby?userId=u2", 0);

        rc_send_hello(b, NULL);
        assert_true(rc_wait(l, e2e_p_welcomed, b, 10000));
        rc_settle(l, 100);
        assert_null(rc_error(b, VERANI__WIRE__ERROR_CODE__SCHEMA_MISMATCH));
    }
    /* PONG is server -> client only: a client's is refused like any server-only kind */
    {
        rc_env pong = VERANI__WIRE__ENVELOPE__INIT;
        const rc_env *r;
        answer_arg aa = {a, 5};

        rc_clear(a);
        pong.has_kind = 1;
        pong.kind = VERANI__WIRE__KIND__PONG;
        pong.has_request_id = 1;
        pong.request_id = 5;
        rc_send_env(a, &pong);
        assert_true(rc_wait(l, p_answer, &aa, 10000));
        r = rc_answer(a, 5);
        assert_non_null(r);
        assert_int_equal(r->kind, VERANI__WIRE__KIND__ERROR);
        assert_int_equal(r->error->code, VERANI__WIRE__ERROR_CODE__PROTOCOL);
    }
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* A peer closed by the server: `a` misbehaves, `b` must be untouched. */
static void closed_with(const char *path, void (*misbehave)(rc_conn *), int code)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a, *b;
    E2e__Cmd m = E2E__CMD__INIT;
    char prefix[64];

    start(&h);
    l = rc_loop_create();
    snprintf(prefix, sizeof(prefix), "%s?userId=", path);
    {
        char pa[96], pb[96];

        snprintf(pa, sizeof(pa), "%sbad", prefix);
        snprintf(pb, sizeof(pb), "%sgood", prefix);
        a = e2e_join(l, h.port, pa);
        b = e2e_join(l, h.port, pb);
    }
    misbehave(a);
    assert_true(rc_wait(l, e2e_p_closed, a, 15000));
    assert_int_equal(a->close_code, code);
    e2e_wait_log(l, "disconnect:bad");
    m.op = 1;
    m.arg = "default";
    m.text = "after";
    assert_int_equal(cmd(l, b, &m, 200), 1); /* only b is left */
    assert_int_equal(b->n_errors, 0);
    assert_false(b->closed);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void send_oversize(rc_conn *a)
{
    static unsigned char big[9000];

    rc_send(a, big, sizeof(big), 0);
}

/* verani_ctx_close refuses what a close frame cannot carry, and nothing closes: a reason that is
 * not UTF-8 or longer than 123 bytes, a code no endpoint may send; then it closes as asked. */
static void test_ctx_close_checks(void **state)
{
    static const char *const bad[] = {"utf8", "long", "code"};
    E2e__Cmd m = E2E__CMD__INIT;
    e2e_server h;
    rc_loop *l;
    rc_conn *a;
    size_t i;

    (void)state;
    start(&h);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/lobby?userId=u1");
    m.op = 11;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m.arg = (char *)bad[i];
        assert_int_equal(cmd(l, a, &m, 10 + i), VERANI_EINVAL);
    }
    assert_false(a->closed);
    m.arg = "ok"; /* the session closes: its handler's reply is not sent */
    rc_send_event(a, VERANI__WIRE__KIND__REQUEST, E2E_EV_CMD, &m.base, 20);
    assert_true(rc_wait(l, e2e_p_closed, a, DL_WAIT_MS));
    assert_int_equal(a->close_code, 4000);
    assert_string_equal(a->close_reason, "bye");
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void test_oversize_frame(void **state)
{
    (void)state;
    closed_with("/e2e/lobby", send_oversize, 1009);
}

static void send_garbage_10(rc_conn *a)
{
    int i;

    for (i = 0; i < 10; i++)
        rc_send(a, "\xff\xff", 2, 0);
}

static void test_repeated_protocol_errors(void **state)
{
    (void)state;
    closed_with("/e2e/lobby", send_garbage_10, 1008);
}

static void send_pokes(rc_conn *a)
{
    int i;

    for (i = 0; i < 40; i++)
        rc_send_event(a, VERANI__WIRE__KIND__EVENT, E2E_EV_POKE, NULL, 0);
}

/*
 * A peer that keeps sending past the limit that closes its connection: `n` envelopes of `kind`
 * (event `event`), one write each, right behind its HELLO, and as many again after the server's
 * close frame, before answering it. The close handshake is completed: the errors queued before
 * the close arrive, then a close frame with 1008, and the input after the close is read and
 * dropped until our close answers it: then the server closes TCP (an EOF, not a reset, which
 * unread input would cause and which destroys what the peer has not read yet). Returns the
 * number of ERROR frames with `code` that arrived.
 */
static int flood_until_closed(const char *path, int kind, uint32_t event, int n, int code)
{
    e2e_server h;
    rc_env env = VERANI__WIRE__ENVELOPE__INIT;
    unsigned char one[64], *all, buf[512];
    size_t len, olen, i, off = 0;
    int fd, op, close_code = 0, errors = 0;
    uint8_t ack[2] = {0x03, 0xe8};

    start(&h);
    fd = bare_session(h.port, 0, path);
    env.has_kind = 1;
    env.kind = kind;
    env.has_event = event != 0;
    env.event = event;
    olen = verani__wire__envelope__pack(&env, one);
    all = malloc((size_t)n * (olen + 6));
    assert_non_null(all);
    for (i = 0; i < (size_t)n; i++) { /* masked with key 0: the payload goes as is */
        all[off++] = 0x82;
        all[off++] = (unsigned char)(0x80 | olen);
        memset(all + off, 0, 4);
        off += 4;
        memcpy(all + off, one, olen);
        off += olen;
    }
    for (i = 0; i < off; i += olen + 6) /* as a WebSocket library writes them */
        assert_int_equal(rc_tcp_send_raw(fd, all + i, olen + 6), 0);
    free(all);
    for (;;) {
        op = rc_tcp_read_frame(fd, (int)DL_WAIT_MS, buf, sizeof(buf), &len);
        if (op == 8) {
            assert_true(len >= 2);
            close_code = buf[0] << 8 | buf[1];
            break;
        }
        assert_int_equal(op, 2); /* not a reset (-1) nor an EOF (0) before the close frame */
        {
            rc_env *e = verani__wire__envelope__unpack(NULL, len, buf);

            assert_non_null(e);
            errors += e->kind == VERANI__WIRE__KIND__ERROR && e->error &&
                      (int)e->error->code == code;
            verani__wire__envelope__free_unpacked(e, NULL);
        }
    }
    assert_int_equal(close_code, 1008);
    for (i = 0; i < (size_t)n; i++)
        assert_int_equal(rc_tcp_send_frame(fd, 2, one, olen), 0);
    assert_int_equal(rc_tcp_send_frame(fd, 8, ack, sizeof(ack)), 0);
    assert_int_equal(rc_tcp_read_frame(fd, (int)DL_WAIT_MS, buf, sizeof(buf), &len), 0);
    close(fd);
    e2e_server_stop(&h);
    return errors;
}

/* PROTOCOL.md section 5: 30 unknown events in one burst: 10 UNKNOWN_EVENT errors, then 1008;
 * 300 PINGs past a room's rate: RATE_LIMITED errors, then 1008. */
static void test_flood_close_handshake(void **state)
{
    (void)state;
    assert_int_equal(flood_until_closed("/e2e/lobby?userId=f", VERANI__WIRE__KIND__EVENT, 99, 30,
                                        VERANI__WIRE__ERROR_CODE__UNKNOWN_EVENT), 10);
    assert_true(flood_until_closed("/limited/f?userId=f", VERANI__WIRE__KIND__PING, 0, 300,
                                   VERANI__WIRE__ERROR_CODE__RATE_LIMITED) >= 9);
}

static int p_event(void *c)
{
    return ((rc_conn *)c)->n_events > 0 || ((rc_conn *)c)->closed;
}

/* A channel name over the 128-byte limit */
#define LONG_NAME "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

/* The channels a session starts in: ?channels= (the default extract_meta), each checked by
 * on_join (a name over 128 bytes is skipped, not the names after it); and those on_connect
 * joins, in the WELCOME, which comes before on_connect's emits. */
static void test_initial_channels(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a, *b;
    const rc_env *w, *e;

    (void)state;
    start(&h);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/lobby?userId=c1&channels=red," LONG_NAME
                                ",%20blue%20,forbidden,,default");
    w = rc_nth(a, VERANI__WIRE__KIND__WELCOME, 0);
    assert_non_null(w);
    assert_int_equal(w->welcome->n_channels, 3);
    assert_string_equal(w->welcome->channels[0], "red");
    assert_string_equal(w->welcome->channels[1], "blue");
    assert_string_equal(w->welcome->channels[2], "default");
    assert_int_equal(e2e_log_count("join:red"), 1);
    assert_int_equal(e2e_log_count("join:forbidden"), 0);

    b = e2e_join(l, h.port, "/e2e/lobby?userId=c2&role=joins");
    w = rc_nth(b, VERANI__WIRE__KIND__WELCOME, 0);
    assert_int_equal(w->welcome->n_channels, 2);
    assert_string_equal(w->welcome->channels[0], "default");
    assert_string_equal(w->welcome->channels[1], "from-connect");
    assert_int_equal(w->welcome->seq, 0);
    assert_true(rc_wait(l, p_event, b, 10000));
    assert_int_equal(b->rx[0]->kind, VERANI__WIRE__KIND__WELCOME); /* the first on the wire */
    e = rc_nth(b, VERANI__WIRE__KIND__EVENT, 0);
    assert_int_equal(e->seq, 1);
    assert_int_equal(b->seq_errors, 0);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* Room Limited has `open_events;` and an on_any hook: an EVENT with an undeclared id goes to
 * on_message with its raw payload; on_any sees it and every declared event after its handler;
 * a REQUEST with an undeclared id is still UNKNOWN_EVENT. (Room E2e, closed, refuses them.) */
static void test_open_events_and_on_any(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;
    E2e__Echo e = E2E__ECHO__INIT;
    const rc_env *r;

    (void)state;
    start(&h);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/limited/o?userId=o");
    e.text = "abc";
    rc_send_event(a, VERANI__WIRE__KIND__EVENT, 77, &e.base, 0);
    e2e_wait_log(l, "message:77:5");
    e2e_wait_log(l, "any:77:5:0");
    rc_send_event(a, VERANI__WIRE__KIND__EVENT, E2E_EV_POKE, NULL, 0);
    e2e_wait_log(l, "poke");
    e2e_wait_log(l, "any:2:0:0");
    r = request(l, a, VERANI__WIRE__KIND__REQUEST, 77, &e.base, 9);
    assert_int_equal(r->error->code, VERANI__WIRE__ERROR_CODE__UNKNOWN_EVENT);
    assert_int_equal(e2e_log_count("message:77:5"), 1);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void test_rate_limit(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;
    error_arg ea;

    (void)state;
    /* a few frames over: RATE_LIMITED, the connection lives */
    start(&h);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/limited/x?userId=u1");
    /* HELLO took 1 of the 5 tokens: 4 pass, 8 are refused, fewer than the 10 that close */
    for (int i = 0; i < 12; i++)
        rc_send_event(a, VERANI__WIRE__KIND__EVENT, E2E_EV_POKE, NULL, 0);
    ea.c = a, ea.code = VERANI__WIRE__ERROR_CODE__RATE_LIMITED;
    assert_true(rc_wait(l, p_error, &ea, DL_WAIT_MS));
    assert_non_null(rc_error(a, VERANI__WIRE__ERROR_CODE__RATE_LIMITED));
    /* a refused REQUEST's error carries its request_id and event (PROTOCOL.md section 3) */
    {
        E2e__Echo e = E2E__ECHO__INIT;
        const rc_env *r;

        e.text = "x";
        r = request(l, a, VERANI__WIRE__KIND__REQUEST, E2E_EV_ECHO, &e.base, 77);
        assert_non_null(r);
        assert_int_equal(r->kind, VERANI__WIRE__KIND__ERROR);
        assert_int_equal(r->error->code, VERANI__WIRE__ERROR_CODE__RATE_LIMITED);
        assert_true(r->has_event);
        assert_int_equal(r->event, E2E_EV_ECHO);
    }
    rc_settle(l, 200);
    assert_false(a->closed);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
    /* and when it goes on: 1008 */
    closed_with("/limited/y", send_pokes, 1008);
}

static void test_slow_consumer(void **state)
{
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *fast;
    E2e__Flood f = E2E__FLOOD__INIT;
    uint64_t rid = 1;
    int fd, triggers = 0;
    int64_t end;

    (void)state;
    e2e_server_options(&o);
    o.queue_max_bytes = 1u << 20;
    o.queue_max_frames = 4096;
    start_opts(&h, &o);
    l = rc_loop_create();
    fast = e2e_join(l, h.port, "/e2e/lobby?userId=fast");
    fast->keep = 0;
    /* the slow one: a bare socket with a small receive buffer that never reads */
    fd = bare_session(h.port, 4096, "/e2e/lobby?userId=slow");
    e2e_wait_log(l, "connect:slow:-");

    f.count = 16;
    f.size = 8000;
    /* flood until the slow one is cut off: the flood reaches 1 session, not 2 */
    fast->keep = 1;
    while (triggers < 600) {
        int n = flood_once(l, fast, &f, rid);

        rid++;
        triggers++;
        if (n == 1)
            break;
        assert_int_equal(n, 2);
    }
    assert_true(triggers < 600);
    /* when it reads again, it finds the documented close code behind its data */
    {
        int code = 0;

        assert_int_equal(rc_tcp_wait_closed(fd, 20000, &code), 1);
        assert_int_equal(code, 4000);
    }
    e2e_wait_log(l, "disconnect:slow");
    /* the fast consumer got every frame, in order, and was not closed */
    for (end = dl_after(DL_WAIT_MS);
         fast->n_events < (size_t)triggers * 16 && !fast->closed && !dl_passed(end);)
        rc_service(l, 0);
    assert_false(fast->closed);
    assert_int_equal(fast->n_events, (size_t)triggers * 16);
    assert_int_equal(fast->seq_errors, 0);
    assert_int_equal(fast->n_errors, 0);
    close(fd);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* The drop policy: a consumer past its bound loses frames, stays connected,
 * and sees the loss as a gap in seq. */
static void test_slow_consumer_drop(void **state)
{
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *fast;
    E2e__Flood f = E2E__FLOOD__INIT;
    static unsigned char frame[16384];
    size_t len;
    uint64_t rid = 1, last = 0;
    int fd, triggers = 0, gap = 0, i;

    (void)state;
    e2e_server_options(&o);
    o.queue_max_bytes = 256u << 10;
    o.slow_policy = VERANI_SLOW_DROP;
    start_opts(&h, &o);
    l = rc_loop_create();
    fast = e2e_join(l, h.port, "/e2e/lobby?userId=fast");
    fd = bare_session(h.port, 4096, "/e2e/lobby?userId=slow");
    e2e_wait_log(l, "connect:slow:-");
    f.count = 16;
    f.size = 8000;
    while (triggers < 600) {
        int n = flood_once(l, fast, &f, rid);

        rid++;
        triggers++;
        if (n == 1) /* the last blob did not fit in the slow one's queue */
            break;
    }
    assert_true(triggers < 600);
    /* the slow one reads what was queued (until quiet), then one more blob is
     * sent: still connected, and the loss shows as a seq gap before it */
    for (i = 0; i < 2; i++) {
        int op, quiet = i ? 10000 : 1000;

        if (i) {
            f.count = 1;
            f.size = 10;
            request(l, fast, VERANI__WIRE__KIND__REQUEST, E2E_EV_FLOOD, &f.base, rid++);
        }
        while ((op = rc_tcp_read_frame(fd, quiet, frame, sizeof(frame), &len)) == 2) {
            rc_env *e = verani__wire__envelope__unpack(NULL, len < sizeof(frame) ? len
                                                                              : sizeof(frame),
                                                       frame);

            int small;

            assert_non_null(e);
            if (e->has_seq) {
                gap += last && e->seq != last + 1;
                last = e->seq;
            }
            /* the 10-byte blob is the last frame; its payload is 12 bytes */
            small = e->kind == VERANI__WIRE__KIND__EVENT && e->payload.len == 12;
            verani__wire__envelope__free_unpacked(e, NULL);
            if (i && small)
                break;
        }
        assert_int_equal(op, i ? 2 : -1); /* -1: quiet, not closed */
    }
    assert_true(gap >= 1);
    assert_int_equal(e2e_log_count("disconnect:slow"), 0);
    assert_false(fast->closed);
    assert_int_equal(fast->seq_errors, 0);
    close(fd);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* A client that sends requests but does not read the replies for a while is
 * slowed down (the server stops reading it), not disconnected: when it reads
 * again, every reply is there, in order. */
static void test_request_backpressure(void **state)
{
    enum { N = 4000 }; /* 28 MB of replies: more than the kernel's socket buffers hold */
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *a;
    E2e__Echo e = E2E__ECHO__INIT;
    static char text[7000];
    uint64_t i;
    int64_t end;

    (void)state;
    e2e_server_options(&o);
    o.queue_max_frames = 64;
    start_opts(&h, &o);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/lobby?userId=pushy");
    a->keep = 0;
    memset(text, 'p', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    e.text = text;
    rc_pause(a, 1);
    for (i = 1; i <= N; i++)
        rc_send_event(a, VERANI__WIRE__KIND__REQUEST, E2E_EV_ECHO, &e.base, i);
    rc_settle(l, 1000); /* it writes what the server takes, and reads nothing */
    assert_true(a->n_replies < N);
    rc_pause(a, 0);
    for (end = dl_after(DL_GENEROUS(5000)); a->n_replies < N && !a->closed && !dl_passed(end);)
        rc_service(l, 0); /* 28 MB through loopback: seconds at most */
    assert_false(a->closed);
    assert_int_equal(a->n_replies, N);
    assert_int_equal(a->n_errors, 0);
    assert_int_equal(a->seq_errors, 0);
    assert_int_equal(e2e_log_count("disconnect:pushy"), 0);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void test_vanish_mid_frame(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *b;
    unsigned char hdr[] = {0x82, 0x80 | 100, 0, 0, 0, 0, 1, 2, 3};
    int fd;
    E2e__Cmd m = E2E__CMD__INIT;

    (void)state;
    start(&h);
    l = rc_loop_create();
    b = e2e_join(l, h.port, "/e2e/lobby?userId=good");
    fd = bare_session(h.port, 0, "/e2e/lobby?userId=gone");
    e2e_wait_log(l, "connect:gone:-");
    rc_tcp_send_raw(fd, hdr, sizeof(hdr)); /* a 100-byte frame with 3 bytes sent */
    close(fd);
    e2e_wait_log(l, "disconnect:gone");
    m.op = 1;
    m.arg = "default";
    m.text = "x";
    assert_int_equal(cmd(l, b, &m, 1), 1);
    bystander_ok(l, b, 2);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void test_handshake_timeout(void **state)
{
    e2e_server h;
    verani_server_options o;
    int fd, fd2, code = 0;

    (void)state;
    e2e_server_options(&o);
    o.handshake_timeout_ms = 1000;
    start_opts(&h, &o);
    fd = rc_tcp_connect(h.port, 0); /* says nothing */
    fd2 = rc_tcp_connect(h.port, 0);
    rc_tcp_send_raw(fd2, "GET /e2e/lobby HTTP/1.1\r\nHost:", 30); /* half a request */
    assert_int_equal(rc_tcp_wait_closed(fd, 20000, &code), 1);
    assert_int_equal(rc_tcp_wait_closed(fd2, 20000, &code), 1);
    close(fd);
    close(fd2);
    /* upgraded, but no HELLO: closed with 4002 */
    fd = rc_tcp_connect(h.port, 0);
    assert_int_equal(rc_tcp_upgrade(fd, "/e2e/lobby?userId=mute", NULL, 0), 101);
    code = 0;
    assert_int_equal(rc_tcp_wait_closed(fd, 20000, &code), 1);
    assert_int_equal(code, 4002);
    close(fd);
    /* pongs before HELLO do not postpone the hello timeout: the 4002 comes while they keep
     * coming (one every 200 ms, each of which would postpone a timeout counted from the
     * last frame in, for 40 of them) */
    fd = rc_tcp_connect(h.port, 0);
    assert_int_equal(rc_tcp_upgrade(fd, "/e2e/lobby?userId=ponger", NULL, 0), 101);
    {
        unsigned char buf[128];
        size_t len = 0;
        int64_t end = dl_after(DL_GENEROUS(o.handshake_timeout_ms));
        int op = -1;

        code = 0;
        while (op != 0x8 && op != 0 && !dl_passed(end)) {
            rc_tcp_send_frame(fd, 0xA, "p", 1);
            op = rc_tcp_read_frame(fd, 200, buf, sizeof(buf), &len);
        }
        assert_int_equal(op, 0x8); /* a close frame, not the end of the pongs */
        assert_true(len >= 2);
        code = buf[0] << 8 | buf[1];
        assert_int_equal(code, 4002);
    }
    close(fd);
    e2e_server_stop(&h);
}

static void test_idle_timeout(void **state)
{
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *alive;
    int fd, code = 0;

    (void)state;
    e2e_server_options(&o);
    /* the server pings after half of it; "alive" must answer within the other half, which on
     * a loaded machine (a CPU hog and two tests on two cores) 750 ms was not always */
    o.idle_timeout_ms = 3000;
    start_opts(&h, &o);
    l = rc_loop_create();
    alive = e2e_join(l, h.port, "/e2e/lobby?userId=alive"); /* lws answers pings */
    fd = bare_session(h.port, 0, "/e2e/lobby?userId=silent");
    /* never answers the pings; the server closes it with 4001. Meanwhile the
     * lws client keeps being serviced, so it answers its pings. */
    {
        int64_t end = dl_after(DL_GENEROUS(2 * o.idle_timeout_ms));
        int closed = 0;

        while (!closed && !dl_passed(end)) {
            rc_service(l, 0);
            closed = rc_tcp_wait_closed(fd, 50, &code);
        }
        if (!closed)
            fail_msg("not closed in time, close code %d", code);
    }
    assert_int_equal(code, 4001);
    close(fd);
    e2e_wait_log(l, "disconnect:silent");
    /* the one that answers pings is still there */
    if (alive->closed)
        fail_msg("alive closed with %d %s", alive->close_code, alive->close_reason);
    assert_int_equal(e2e_log_count("disconnect:alive"), 0);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void test_graceful_shutdown(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *c[3];
    conns cs = {c, 3};
    unsigned char buf[256];
    size_t len;
    int i, fd, code = 0;

    (void)state;
    start(&h);
    l = rc_loop_create();
    c[0] = e2e_join(l, h.port, "/e2e/lobby?userId=s1");
    c[1] = e2e_join(l, h.port, "/e2e/lobby?userId=s2");
    c[2] = e2e_join(l, h.port, "/e2e/hall?userId=s3");
    fd = bare_session(h.port, 0, "/e2e/hall?userId=s4");
    assert_int_equal(rc_tcp_read_frame(fd, (int)DL_WAIT_MS, buf, sizeof(buf), &len), 2);
    (void)cs;
    verani_server_stop(h.srv);
    for (i = 0; i < 3; i++) {
        assert_true(rc_wait(l, e2e_p_closed, c[i], DL_WAIT_MS));
        /* 1012, which libwebsockets 4.1's client parser hands over as 1002 */
        assert_int_equal(c[i]->close_code, 1002);
        assert_string_equal(c[i]->close_reason, "server restarting");
    }
    /* on the wire: 1012 (service restart), so clients resume */
    assert_true(rc_tcp_wait_closed(fd, (int)DL_WAIT_MS, &code));
    assert_int_equal(code, 1012);
    close(fd);
    assert_int_equal(e2e_server_join(&h), 0);
    assert_int_equal(e2e_log_count("disconnect:s1"), 1);
    assert_int_equal(e2e_log_count("disconnect:s2"), 1);
    assert_int_equal(e2e_log_count("disconnect:s3"), 1);
    e2e_server_stop(&h);
    rc_loop_destroy(l);
}

static int p_all_events(void *a)
{
    conns *cs = a;
    size_t i;

    for (i = 0; i < cs->n; i++)
        if (cs->c[i]->n_events < 1 && !cs->c[i]->closed)
            return 0;
    return 1;
}

static void test_thousand_connections(void **state)
{
    enum { N = 1000 };
    e2e_server h;
    rc_loop *l;
    rc_conn **c = calloc(N, sizeof(*c));
    conns cs = {c, N};
    struct rlimit rl;
    E2e__ChatOut msg = E2E__CHAT_OUT__INIT;
    verani_target to = verani_to_channel("default");
    size_t i;

    (void)state;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 4 * N) {
        rl.rlim_cur = rl.rlim_max < 4 * N ? rl.rlim_max : 4 * N;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < 2 * N + 64)
        skip();
    start(&h);
    l = rc_loop_create();
    for (i = 0; i < N; i++) {
        char path[64];

        snprintf(path, sizeof(path), "/e2e/big?userId=u%zu", i);
        c[i] = rc_connect(l, h.port, path, 1);
        if (i % 100 == 99)
            rc_wait(l, p_all_welcomed, &cs, 1); /* let some connect as we go */
    }
    assert_true(rc_wait(l, p_all_welcomed, &cs, 60000));
    for (i = 0; i < N; i++)
        assert_true(c[i]->welcomed);
    /* from another thread than the loop: the thread-safe emit */
    msg.text = "to everyone";
    msg.from = "server";
    assert_int_equal(verani_server_emit_async(h.srv, &e2e_e2e_room, "big", &to,
                                              &e2e_e2e_emit_events[0], &msg.base), 0);
    assert_true(rc_wait(l, p_all_events, &cs, 60000));
    for (i = 0; i < N; i++) {
        assert_int_equal(c[i]->n_events, 1);
        assert_false(c[i]->closed);
    }
    rc_loop_destroy(l);
    e2e_server_stop(&h);
    free(c);
}

/* Every frame length around the 7/16/64-bit header boundaries, parsed by lws. */
static void test_frame_header_sizes(void **state)
{
    static const uint32_t sizes[] = {0, 1, 100, 110, 117, 118, 119, 120, 121, 122, 123, 130,
                                     65500, 65518, 65519, 65520, 65521, 65522, 65523, 65600,
                                     70000, 200000};
    e2e_server h;
    rc_loop *l;
    rc_conn *a;
    E2e__Flood f = E2E__FLOOD__INIT;
    size_t i, k = 0;

    (void)state;
    start(&h);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/lobby?userId=u1");
    f.count = 1;
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        f.size = sizes[i];
        request(l, a, VERANI__WIRE__KIND__REQUEST, E2E_EV_FLOOD, &f.base, i + 1);
    }
    wait_kind(l, a, VERANI__WIRE__KIND__EVENT, sizeof(sizes) / sizeof(sizes[0]));
    rc_settle(l, 100);
    assert_int_equal(a->bad_frames, 0);
    assert_int_equal(a->seq_errors, 0);
    for (i = 0; i < a->n_rx; i++) {
        E2e__Blob *b;

        if (a->rx[i]->kind != VERANI__WIRE__KIND__EVENT)
            continue;
        b = e2e__blob__unpack(NULL, a->rx[i]->payload.len, a->rx[i]->payload.data);
        assert_non_null(b);
        assert_int_equal(b->data.len, sizes[k]);
        if (b->data.len)
            assert_int_equal(b->data.data[b->data.len - 1], 0xab);
        e2e__blob__free_unpacked(b, NULL);
        k++;
    }
    assert_int_equal(k, sizeof(sizes) / sizeof(sizes[0]));
    assert_false(a->closed);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* HELLO and a burst of frames sent back to back, before the upgrade is even
 * answered (as a reconnecting client flushes its offline queue): all handled,
 * in order. */
static void test_burst_after_hello(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;
    E2e__Echo e = E2E__ECHO__INIT;
    char text[16];
    uint64_t i;
    int64_t end;

    (void)state;
    start(&h);
    l = rc_loop_create();
    a = rc_connect(l, h.port, "/e2e/lobby?userId=burst", 0);
    rc_send_hello(a, NULL);
    for (i = 1; i <= 300; i++) {
        snprintf(text, sizeof(text), "%u", (unsigned)i);
        e.text = text;
        rc_send_event(a, VERANI__WIRE__KIND__REQUEST, E2E_EV_ECHO, &e.base, i);
    }
    for (end = dl_after(DL_WAIT_MS); a->n_replies < 300 && !a->closed && !dl_passed(end);)
        rc_service(l, 0);
    assert_int_equal(a->n_replies, 300);
    assert_int_equal(a->n_errors, 0);
    assert_int_equal(a->seq_errors, 0);
    for (i = 1; i <= 300; i++) {
        const rc_env *r = rc_nth(a, VERANI__WIRE__KIND__REPLY, i - 1);
        E2e__Echo *o = e2e__echo__unpack(NULL, r->payload.len, r->payload.data);

        assert_int_equal(r->request_id, i);
        snprintf(text, sizeof(text), "%u", (unsigned)i);
        assert_string_equal(o->text, text);
        e2e__echo__free_unpacked(o, NULL);
    }
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void test_origin_allow_list(void **state)
{
    static const char *const origins[] = {"https://good.example"};
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *good, *bad, *none;

    (void)state;
    e2e_server_options(&o);
    o.origins = origins;
    o.n_origins = 1;
    start_opts(&h, &o);
    l = rc_loop_create();
    good = rc_connect_ex(l, h.port, "/e2e/lobby?userId=g", 1, NULL, NULL, "https://good.example");
    bad = rc_connect_ex(l, h.port, "/e2e/lobby?userId=b", 1, NULL, NULL, "https://evil.example");
    none = rc_connect_ex(l, h.port, "/e2e/lobby?userId=n", 1, NULL, NULL, NULL);
    assert_true(rc_wait(l, e2e_p_welcomed, good, DL_WAIT_MS));
    assert_true(good->welcomed);
    assert_true(rc_wait(l, e2e_p_closed, bad, DL_WAIT_MS));
    assert_false(bad->welcomed);
    assert_true(rc_wait(l, e2e_p_closed, none, DL_WAIT_MS));
    assert_false(none->welcomed);
    assert_int_equal(e2e_log_count("connect:b:-"), 0);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* wss://: the server loads a certificate and key (made here by openssl). */
static void test_tls(void **state)
{
    char dir[] = "/tmp/verani-tls-XXXXXX", cmd[512], cert[128], key[128];
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *a;
    E2e__Echo e = E2E__ECHO__INIT;
    const rc_env *r;

    (void)state;
    if (!mkdtemp(dir))
        fail_msg("mkdtemp failed");
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s "
             "-days 1 -subj /CN=localhost >/dev/null 2>&1", key, cert);
    if (system(cmd) != 0) {
        rmdir(dir);
        skip(); /* no openssl command on this machine */
    }
    e2e_server_options(&o);
    o.tls_cert_path = cert;
    o.tls_key_path = key;
    start_opts(&h, &o);
    l = rc_loop_create();
    rc_loop_set_tls(l, 1);
    a = e2e_join(l, h.port, "/e2e/lobby?userId=secure");
    e.text = "over tls";
    r = request(l, a, VERANI__WIRE__KIND__REQUEST, E2E_EV_ECHO, &e.base, 1);
    assert_int_equal(r->kind, VERANI__WIRE__KIND__REPLY);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

/* The server driven from the caller's own loop (verani_server_service), on
 * the same thread as the clients: every call returns, work gets done. */
/* The harness itself: with VERANI_TEST_DELIBERATE_FAILURE set, an assertion ends this test
 * while its server, raw clients and a connection are alive. CTest (server_e2e_teardown, with
 * test_teardown_then_another after it)
 * expects the failure message and no sanitizer report: the teardown freed everything, so
 * the one line that matters is not buried under a leak report. Without the variable it is
 * skipped. */
static void test_teardown_after_failure(void **state)
{
    e2e_server h;
    rc_loop *l;

    (void)state;
    if (!getenv("VERANI_TEST_DELIBERATE_FAILURE")) {
        skip();
        return;
    }
    start(&h);
    l = rc_loop_create();
    e2e_join(l, h.port, "/e2e/lobby?userId=doomed");
    fail_msg("deliberate failure with a server and a client alive");
}

/* Run after test_teardown_after_failure (filter test_teardown_*), as the next test after a
 * failure would: its frames reuse the stack that held the failed test's pointers. */
static void test_teardown_then_another(void **state)
{
    e2e_server h;
    rc_loop *l;

    (void)state;
    start(&h);
    l = rc_loop_create();
    e2e_join(l, h.port, "/e2e/lobby?userId=next");
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void test_service_own_loop(void **state)
{
    verani_server_options o;
    verani_server *srv;
    rc_loop *l;
    rc_conn *a;
    E2e__Echo e = E2E__ECHO__INIT;
    int64_t end;
    int i, port;

    (void)state;
    e2e_log_reset();
    e2e_server_options(&o);
    srv = verani_server_create(&o, NULL, 0);
    assert_non_null(srv);
    assert_int_equal(e2e_mount_all(srv), 0);
    assert_int_equal(verani_server_service(srv, 1), 0); /* listens on first use */
    port = verani_server_port(srv);
    assert_true(port > 0);
    l = rc_loop_create();
    a = rc_connect(l, port, "/e2e/lobby?userId=own", 1);
    for (end = dl_after(DL_WAIT_MS); !a->welcomed && !a->closed && !dl_passed(end);) {
        assert_int_equal(verani_server_service(srv, 5), 0);
        rc_service(l, 0);
    }
    assert_true(a->welcomed);
    e.text = "loop";
    rc_send_event(a, VERANI__WIRE__KIND__REQUEST, E2E_EV_ECHO, &e.base, 9);
    for (end = dl_after(DL_WAIT_MS); !rc_answer(a, 9) && !dl_passed(end);) {
        assert_int_equal(verani_server_service(srv, 5), 0);
        rc_service(l, 0);
    }
    assert_non_null(rc_answer(a, 9));
    /* idle: each call still comes back */
    for (i = 0; i < 5; i++)
        assert_int_equal(verani_server_service(srv, 10), 0);
    verani_server_stop(srv);
    assert_int_equal(verani_server_service(srv, 10), VERANI_ECLOSED);
    assert_int_equal(e2e_log_count("disconnect:own"), 1);
    verani_server_destroy(srv);
    rc_loop_destroy(l);
}

/* The cases, each a CTest test server_e2e_<case> (verani_test_cases in CMakeLists.txt); tagged
 * `poll`, also server_e2e_poll_<case> on lws's poll() loop (the write path, timers and closes
 * again: fan-out writes take the WRITEABLE way there); `manual`, run by a test of their own. */
static const vt_case cases[] = {
    VT_CASE(test_hook_order_and_welcome, "poll"),
    VT_CASE(test_http_answers, ""),
    VT_CASE(test_connection_limit, ""),
    VT_CASE(test_anonymous_users, ""),
    VT_CASE(test_emit_targets, "poll"),
    VT_CASE(test_join_leave, "poll"),
    VT_CASE(test_request_reply, "poll"),
    VT_CASE(test_bad_text_frame, ""),
    VT_CASE(test_bad_garbage, ""),
    VT_CASE(test_unknown_event, ""),
    VT_CASE(test_invalid_payload, ""),
    VT_CASE(test_frame_before_hello, ""),
    VT_CASE(test_ctx_close_checks, ""),
    VT_CASE(test_oversize_frame, ""),
    VT_CASE(test_repeated_protocol_errors, ""),
    VT_CASE(test_rate_limit, ""),
    VT_CASE(test_flood_close_handshake, ""),
    VT_CASE(test_initial_channels, ""),
    VT_CASE(test_open_events_and_on_any, ""),
    VT_CASE(test_slow_consumer, "poll"),
    VT_CASE(test_slow_consumer_drop, ""),
    VT_CASE(test_request_backpressure, "poll"),
    VT_CASE(test_vanish_mid_frame, "poll"),
    VT_CASE(test_handshake_timeout, "poll"),
    VT_CASE(test_idle_timeout, "poll"),
    VT_CASE(test_graceful_shutdown, "poll"),
    VT_CASE(test_thousand_connections, "poll"),
    VT_CASE(test_frame_header_sizes, ""),
    VT_CASE(test_burst_after_hello, "poll"),
    VT_CASE(test_origin_allow_list, ""),
    VT_CASE(test_tls, "tls"),
    VT_CASE(test_service_own_loop, ""),
    VT_CASE(test_teardown_after_failure, "manual"),
    VT_CASE(test_teardown_then_another, "manual"),
};

int main(int argc, char **argv)
{
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("server_e2e", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
