/* SPDX-License-Identifier: MIT */
/*
 * test_resume.c: session resume end to end over 127.0.0.1 (issue 5). Each
 * test starts its own server (port 0, the e2e rooms of e2e.verani) on a
 * thread and drives bare TCP WebSocket clients from the test thread, so a
 * connection can be cut exactly (SO_LINGER 0: a RST, no close frame) and a
 * HELLO can carry any token and last_seq. It checks: 1,000 frames emitted
 * around a cut all arrive once each and in order after the resume; no hooks
 * run on a resume inside the grace period and exactly one on_disconnect past
 * it; forged, foreign and reused tokens start fresh sessions; a window that
 * no longer holds what the client missed says recovery_failed; a resume
 * while the old connection is still open drops the old one. Persistence
 * across restarts is not covered (not implemented). Run one test with
 * `test_resume <name>`.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e_room.h"
#include "rawclient.h"

typedef struct server_h {
    verani_server *srv;
    pthread_t th;
    int port;
    int rc;
} server_h;

static void *run_thread(void *arg)
{
    server_h *h = arg;

    h->rc = verani_server_run(h->srv);
    return NULL;
}

/* Start a server; grace_ms and retain_frames 0 mean the defaults. */
static void start(server_h *h, uint32_t grace_ms, uint32_t retain_frames)
{
    verani_server_options o;
    char err[256] = "";

    verani_server_options_init(&o);
    o.bind_address = "127.0.0.1";
    o.resume_grace_ms = grace_ms;
    o.retain_max_frames = retain_frames;
    if (getenv("VERANI_TEST_VERBOSE"))
        o.log_level = atoi(getenv("VERANI_TEST_VERBOSE"));
    e2e_log_reset();
    h->srv = verani_server_create(&o, err, sizeof(err));
    assert_non_null(h->srv);
    assert_int_equal(e2e_mount_all(h->srv), 0);
    assert_int_equal(verani_server_listen(h->srv), 0);
    h->port = verani_server_port(h->srv);
    assert_true(h->port > 0);
    assert_int_equal(pthread_create(&h->th, NULL, run_thread, h), 0);
}

static void stop(server_h *h)
{
    verani_server_stop(h->srv);
    pthread_join(h->th, NULL);
    assert_int_equal(h->rc, 0);
    verani_server_destroy(h->srv);
}

/* --- a bare client --------------------------------------------------------- */

typedef struct tc {
    int fd;
    char client_id[64];
    char token[80];
    uint64_t welcome_seq;
    int resumed, recovery_failed;
    uint64_t last_seq;   /* of the sequenced frames read so far */
    size_t seq_errors;   /* a seq that is not last_seq + 1 */
    size_t blobs;        /* EVENT blob frames read */
    size_t replies;
} tc;

static int send_env(int fd, const rc_env *env)
{
    uint8_t buf[1024];
    size_t n = verani__wire__envelope__get_packed_size(env);

    assert_true(n <= sizeof(buf));
    verani__wire__envelope__pack(env, buf);
    return rc_tcp_send_frame(fd, 2, buf, n);
}

/* Read one envelope (WebSocket pings are skipped); NULL on close, EOF or timeout. */
static rc_env *read_env(int fd, int timeout_ms)
{
    static uint8_t buf[65536];
    size_t len = 0;
    int op;

    for (;;) {
        op = rc_tcp_read_frame(fd, timeout_ms, buf, sizeof(buf), &len);
        if (op == 9 || op == 10)
            continue;
        if (op != 2)
            return NULL;
        return verani__wire__envelope__unpack(NULL, len, buf);
    }
}

/* Count a server frame into `c`; returns its kind. */
static int account(tc *c, rc_env *e)
{
    int kind = e->kind;

    if (e->has_seq) {
        if (e->seq != c->last_seq + 1)
            c->seq_errors++;
        c->last_seq = e->seq;
    }
    if (kind == VERANI__WIRE__KIND__EVENT && e->event == E2E_EM_BLOB)
        c->blobs++;
    if (kind == VERANI__WIRE__KIND__REPLY)
        c->replies++;
    verani__wire__envelope__free_unpacked(e, NULL);
    return kind;
}

static void tc_flood(tc *c, uint32_t count, uint64_t rid);
/* When set, tc_hello sends a flood request of this many right behind the HELLO, so the server
 * handles it on the heels of the replay, before the replay is written. */
static uint32_t hello_then_flood;

/*
 * Connect as `user` to instance r1 and say HELLO, resuming with `token` and
 * `last_seq` when `token` is set; read the WELCOME into `c`. `c->last_seq`
 * starts at last_seq so the replay's seqs are checked against it.
 */
static void tc_hello(tc *c, int port, const char *user, const char *token, uint64_t last_seq)
{
    char path[128];
    rc_env env = VERANI__WIRE__ENVELOPE__INIT;
    Verani__Wire__Hello h = VERANI__WIRE__HELLO__INIT;
    rc_env *w;

    memset(c, 0, sizeof(*c));
    c->fd = rc_tcp_connect(port, 0);
    assert_true(c->fd >= 0);
    snprintf(path, sizeof(path), "/e2e/r1?userId=%s", user);
    assert_int_equal(rc_tcp_upgrade(c->fd, path, NULL, 0), 101);
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__HELLO;
    h.has_protocol = 1;
    h.protocol = 1;
    h.resume_token = (char *)token;
    if (token) {
        h.has_last_seq = 1;
        h.last_seq = last_seq;
    }
    env.hello = &h;
    assert_int_equal(send_env(c->fd, &env), 0);
    if (hello_then_flood)
        tc_flood(c, hello_then_flood, 99);
    w = read_env(c->fd, 10000);
    assert_non_null(w);
    assert_int_equal(w->kind, VERANI__WIRE__KIND__WELCOME);
    assert_non_null(w->welcome);
    snprintf(c->client_id, sizeof(c->client_id), "%s", w->welcome->client_id);
    snprintf(c->token, sizeof(c->token), "%s", w->welcome->resume_token);
    assert_int_equal(strlen(c->token), 32);
    c->welcome_seq = w->welcome->seq;
    c->resumed = w->welcome->resumed;
    c->recovery_failed = w->welcome->recovery_failed;
    c->last_seq = token ? last_seq : 0;
    verani__wire__envelope__free_unpacked(w, NULL);
}

/* Ask the server to emit `count` blobs to channel "default" (then a REPLY). */
static void tc_flood(tc *c, uint32_t count, uint64_t rid)
{
    E2e__Flood f = E2E__FLOOD__INIT;
    rc_env env = VERANI__WIRE__ENVELOPE__INIT;
    uint8_t payload[32];

    f.count = count;
    f.size = 24;
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__REQUEST;
    env.has_event = 1;
    env.event = E2E_EV_FLOOD;
    env.has_request_id = 1;
    env.request_id = rid;
    env.has_payload = 1;
    env.payload.len = e2e__flood__pack(&f, payload);
    env.payload.data = payload;
    assert_int_equal(send_env(c->fd, &env), 0);
}

/* Cut the TCP connection: RST, no close frame. */
static void tc_cut(tc *c)
{
    struct linger l = {1, 0};

    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(c->fd);
    c->fd = -1;
}

/* Close with a close frame 1000 and wait for the server's answer. */
static void tc_close(tc *c)
{
    uint8_t code[2] = {0x03, 0xe8};
    int got = 0;

    rc_tcp_send_frame(c->fd, 8, code, sizeof(code));
    rc_tcp_wait_closed(c->fd, 5000, &got);
    close(c->fd);
    c->fd = -1;
}

/* Read until `blobs` blobs and `replies` replies were counted (or 20 s pass). */
static void tc_read_until(tc *c, size_t blobs, size_t replies)
{
    while (c->blobs < blobs || c->replies < replies) {
        rc_env *e = read_env(c->fd, 20000);

        if (!e)
            fail_msg("connection ended after %zu blobs, %zu replies", c->blobs, c->replies);
        account(c, e);
    }
}

/* Nothing more arrives within `ms`. */
static void tc_quiet(tc *c, int ms)
{
    rc_env *e = read_env(c->fd, ms);

    if (e) {
        int kind = account(c, e);

        fail_msg("unexpected frame of kind %d after the replay", kind);
    }
}

/* Wait (at most 10 s) until the hook log has `n` entries `line`. */
static void wait_log_n(const char *line, int n)
{
    struct timespec ts = {0, 20 * 1000000};
    int i;

    for (i = 0; i < 500 && e2e_log_count(line) < n; i++)
        nanosleep(&ts, NULL);
    assert_int_equal(e2e_log_count(line), n);
}

/* --- tests ----------------------------------------------------------------- */

/* The connection is cut while the server emits 1,000 frames to it: after the
 * resume the client holds all 1,000, each once, in order, and no hook ran. */
static void test_cut_mid_stream(void **state)
{
    server_h h;
    tc a, b;
    char id[64];

    (void)state;
    start(&h, 0, 0);
    tc_hello(&a, h.port, "u1", NULL, 0);
    assert_false(a.resumed);
    assert_int_equal(a.welcome_seq, 0);
    tc_flood(&a, 1000, 1);
    tc_read_until(&a, 100, 0);
    assert_int_equal(a.seq_errors, 0);
    snprintf(id, sizeof(id), "%s", a.client_id);
    tc_cut(&a);

    /* 200 more right behind the HELLO: with ~900 replayed, they pass the queue bound (1024)
     * unless the replay has room of its own; they follow the replay */
    hello_then_flood = 200;
    tc_hello(&b, h.port, "u1", a.token, a.last_seq);
    hello_then_flood = 0;
    assert_true(b.resumed);
    assert_false(b.recovery_failed);
    assert_string_equal(b.client_id, id);
    assert_int_equal(b.welcome_seq, 1001); /* 1,000 blobs and the flood's reply */
    b.blobs = a.blobs;
    tc_read_until(&b, 1200, 2);
    assert_int_equal(b.blobs, 1200);
    assert_int_equal(b.seq_errors, 0);
    assert_int_equal(b.last_seq, 1202);
    tc_quiet(&b, 300);

    /* the session goes on */
    tc_flood(&b, 5, 2);
    tc_read_until(&b, 1205, 3);
    assert_int_equal(b.seq_errors, 0);
    assert_int_equal(b.last_seq, 1208);

    assert_int_equal(e2e_log_count("connect:u1:-"), 1);
    assert_int_equal(e2e_log_count("disconnect:u1"), 0);
    tc_close(&b); /* a close frame 1000 ends the session at once */
    wait_log_n("disconnect:u1", 1);
    stop(&h);
    assert_int_equal(e2e_log_count("disconnect:u1"), 1);
}

/* A blip inside the grace period runs no hook; past it, exactly one on_disconnect, and the
 * token no longer resumes anything. */
static void test_grace_period(void **state)
{
    server_h h;
    tc a, b, c;
    struct timespec ts = {0, 300 * 1000000};

    (void)state;
    start(&h, 400, 0);
    tc_hello(&a, h.port, "u1", NULL, 0);
    tc_cut(&a);
    tc_hello(&b, h.port, "u1", a.token, 0); /* may even beat the server's noticing the cut */
    assert_true(b.resumed);
    assert_string_equal(b.client_id, a.client_id);
    assert_int_equal(e2e_log_count("connect:u1:-"), 1);
    assert_int_equal(e2e_log_count("disconnect:u1"), 0);

    tc_cut(&b);
    wait_log_n("disconnect:u1", 1);
    tc_hello(&c, h.port, "u1", b.token, 0);
    assert_false(c.resumed);
    assert_string_not_equal(c.client_id, a.client_id);
    nanosleep(&ts, NULL);
    assert_int_equal(e2e_log_count("connect:u1:-"), 2);
    assert_int_equal(e2e_log_count("disconnect:u1"), 1);
    tc_close(&c);
    wait_log_n("disconnect:u1", 2);
    stop(&h);
}

/* Forged, foreign and reused tokens each start a fresh session; the right one resumes. */
static void test_bad_tokens(void **state)
{
    server_h h;
    tc a, f, o, r1, r2, r3;

    (void)state;
    start(&h, 0, 0);
    tc_hello(&a, h.port, "u1", NULL, 0);

    tc_hello(&f, h.port, "u1", "0123456789abcdef0123456789abcdef", 0);
    assert_false(f.resumed);
    assert_string_not_equal(f.client_id, a.client_id);
    tc_hello(&o, h.port, "u2", a.token, 0);
    assert_false(o.resumed);
    assert_string_not_equal(o.client_id, a.client_id);
    assert_int_equal(e2e_log_count("connect:u1:-"), 2);
    assert_int_equal(e2e_log_count("connect:u2:-"), 1);

    tc_cut(&a);
    tc_hello(&r1, h.port, "u1", a.token, 0);
    assert_true(r1.resumed);
    assert_string_equal(r1.client_id, a.client_id);
    assert_string_not_equal(r1.token, a.token); /* every welcome issues a new token */
    tc_cut(&r1);
    tc_hello(&r2, h.port, "u1", a.token, 0); /* used once already */
    assert_false(r2.resumed);
    assert_string_not_equal(r2.client_id, a.client_id);
    tc_hello(&r3, h.port, "u1", r1.token, 0);
    assert_true(r3.resumed);
    assert_string_equal(r3.client_id, a.client_id);
    assert_int_equal(e2e_log_count("connect:u1:-"), 3);
    assert_int_equal(e2e_log_count("disconnect:u1"), 0);
    assert_int_equal(e2e_log_count("disconnect:u2"), 0);
    close(f.fd);
    close(o.fd);
    close(r2.fd);
    close(r3.fd);
    stop(&h);
}

/* A window of 10 frames cannot give back 51: recovery_failed, and what is left (seq 42..51)
 * is replayed in order; a client that missed nothing resumes cleanly. */
static void test_recovery_failed(void **state)
{
    server_h h;
    tc a, b, c;

    (void)state;
    start(&h, 0, 10);
    tc_hello(&a, h.port, "u1", NULL, 0);
    tc_flood(&a, 50, 1);
    tc_read_until(&a, 50, 1); /* everything was emitted */
    assert_int_equal(a.last_seq, 51);
    tc_cut(&a);

    tc_hello(&b, h.port, "u1", a.token, 0); /* as if nothing had been read */
    assert_true(b.resumed);
    assert_true(b.recovery_failed);
    assert_int_equal(b.welcome_seq, 51);
    b.last_seq = 41;
    tc_read_until(&b, 9, 1);
    assert_int_equal(b.seq_errors, 0);
    assert_int_equal(b.last_seq, 51);
    tc_quiet(&b, 300);
    tc_cut(&b);

    tc_hello(&c, h.port, "u1", b.token, 51);
    assert_true(c.resumed);
    assert_false(c.recovery_failed);
    tc_quiet(&c, 300);
    assert_int_equal(e2e_log_count("connect:u1:-"), 1);
    assert_int_equal(e2e_log_count("disconnect:u1"), 0);
    close(c.fd);
    stop(&h);
}

/* The client reconnects before the server noticed the drop: the old connection is closed
 * and the session moves to the new one, without hooks. */
static void test_old_connection_replaced(void **state)
{
    server_h h;
    tc a, b;
    int code = 0;

    (void)state;
    start(&h, 0, 0);
    tc_hello(&a, h.port, "u1", NULL, 0);
    tc_hello(&b, h.port, "u1", a.token, 0);
    assert_true(b.resumed);
    assert_string_equal(b.client_id, a.client_id);
    assert_int_equal(rc_tcp_wait_closed(a.fd, 10000, &code), 1);
    tc_flood(&b, 3, 1);
    tc_read_until(&b, 3, 1);
    assert_int_equal(b.seq_errors, 0);
    assert_int_equal(e2e_log_count("connect:u1:-"), 1);
    assert_int_equal(e2e_log_count("disconnect:u1"), 0);
    close(a.fd);
    tc_close(&b);
    wait_log_n("disconnect:u1", 1);
    stop(&h);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest all[] = {
        cmocka_unit_test(test_cut_mid_stream),
        cmocka_unit_test(test_grace_period),
        cmocka_unit_test(test_bad_tokens),
        cmocka_unit_test(test_recovery_failed),
        cmocka_unit_test(test_old_connection_replaced),
    };

    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(all, NULL, NULL);
}
