/* SPDX-License-Identifier: MIT */
/*
 * test_resume.c: session resume end to end over 127.0.0.1 (issue 5). Each
 * test starts its own server (port 0, the e2e rooms of e2e.verani) on a
 * thread and drives bare TCP WebSocket clients from the test thread, so a
 * connection can be cut exactly (SO_LINGER 0: a RST, no close frame) and a
 * HELLO can carry any token and last_seq. It checks: 1,000 frames emitted
 * around a cut all arrive once each and in order after the resume; no hooks
 * run on a resume inside the grace period and exactly one on_disconnect past
 * it; forged, foreign and replaced tokens start fresh sessions; a resume whose
 * WELCOME was lost resumes again with the token the client still holds; a window that
 * no longer holds what the client missed says recovery_failed; a resume
 * while the old connection is still open drops the old one; the real client
 * (libverani's) behind a cutting TCP proxy resumes by itself and gets every
 * frame once, in order; a request whose REPLY the proxy held back when the
 * connection was cut completes with the replayed REPLY after the resume,
 * ends DISCONNECTED right after the welcome of a fresh session (past the
 * grace period), and, on a resume with recovery_failed, ends DISCONNECTED
 * after the replay when its REPLY fell out of the window while another
 * request's replayed REPLY completes; a graceful restart on the same SQLite file restores
 * the session (on_hibernation_restore sees it) and the client resumes with
 * nothing lost, in the same epoch; after a SIGKILL the session comes back (same client id)
 * in a new epoch, the client gets every frame sent to it after the restart and is told
 * what the crash lost is lost (recovery_failed); a client close with 1000 or 1001 ends the
 * session at once; with resume off a cut does too. Run one test with `test_resume <name>`.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cases.h"
#include "cleanup.h"
#include "client_loop.h"
#include "deadline.h"

#include "e2e_client.h"
#include "e2e_room.h"
#include "e2e_util.h"
#include "rawclient.h"

/* A grace period that a resume on a loaded machine under a sanitizer beats by far, yet
 * short enough to wait out: for the tests that resume inside it and later stay away past it
 * (a resume that lost the race with a short one would start a fresh session instead). */
#define GRACE_MS ((uint32_t)(2000 * dl_scale()))

/* The next servers' storage_path (NULL: ":memory:"). */
static const char *g_storage;

/* Start a server; grace_ms and retain_frames 0 mean the defaults. */
static void start(e2e_server *h, uint32_t grace_ms, uint32_t retain_frames)
{
    verani_server_options o;

    e2e_server_options(&o);
    o.resume_grace_ms = grace_ms;
    o.retain_max_frames = retain_frames;
    o.storage_path = g_storage;
    e2e_server_start(h, &o, NULL, NULL);
}

/* --- a bare client --------------------------------------------------------- */

typedef struct tc {
    int fd;
    char client_id[64];
    char token[80];
    char epoch[20];
    uint64_t welcome_seq;
    int resumed, recovery_failed;
    uint64_t last_seq;   /* of the sequenced frames read so far */
    size_t seq_errors;   /* a seq that is not last_seq + 1 */
    size_t blobs;        /* EVENT blob frames read */
    size_t replies;
} tc;

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
/* When set, tc_hello folds the HELLO into the upgrade (?hello=) instead of sending it. */
static int fold_hello;
/* When set, tc_hello sends a flood request of this many right behind the HELLO, so the server
 * handles it on the heels of the replay, before the replay is written. */
static uint32_t hello_then_flood;

/*
 * Connect as `user` to instance r1 and say HELLO, resuming with `token`,
 * `last_seq` and `epoch` (NULL: none sent) when `token` is set; read the
 * WELCOME into `c`. `c->last_seq` starts at last_seq (at 0 when the epoch
 * changed) so the replay's seqs are checked against it.
 */
static void tc_hello_epoch(tc *c, int port, const char *user, const char *token,
                           uint64_t last_seq, const char *epoch)
{
    char path[384], param[256];
    rc_env env = VERANI__WIRE__ENVELOPE__INIT;
    Verani__Wire__Hello h = VERANI__WIRE__HELLO__INIT;
    rc_env *w;

    memset(c, 0, sizeof(*c));
    c->fd = rc_tcp_connect(port, 0);
    assert_true(c->fd >= 0);
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__HELLO;
    h.has_protocol = 1;
    h.protocol = 1;
    h.resume_token = (char *)token;
    if (token) {
        h.has_last_seq = 1;
        h.last_seq = last_seq;
        h.epoch = (char *)epoch;
    }
    env.hello = &h;
    param[0] = '\0';
    if (fold_hello)
        assert_int_equal(rc_hello_param(&h, param, sizeof(param)), 0);
    snprintf(path, sizeof(path), "/e2e/r1?userId=%s%s%s", user, *param ? "&" : "", param);
    assert_int_equal(rc_tcp_upgrade(c->fd, path, NULL, 0), 101);
    if (!fold_hello)
        assert_int_equal(rc_tcp_send_env(c->fd, &env), 0);
    if (hello_then_flood)
        tc_flood(c, hello_then_flood, 99);
    w = rc_tcp_read_env(c->fd, 10000);
    assert_non_null(w);
    assert_int_equal(w->kind, VERANI__WIRE__KIND__WELCOME);
    assert_non_null(w->welcome);
    snprintf(c->client_id, sizeof(c->client_id), "%s", w->welcome->client_id);
    snprintf(c->token, sizeof(c->token), "%s", w->welcome->resume_token);
    assert_int_equal(strlen(c->token), 32);
    c->welcome_seq = w->welcome->seq;
    c->resumed = w->welcome->resumed;
    c->recovery_failed = w->welcome->recovery_failed;
    assert_non_null(w->welcome->epoch);
    assert_int_equal(strlen(w->welcome->epoch), 16);
    snprintf(c->epoch, sizeof(c->epoch), "%s", w->welcome->epoch);
    c->last_seq = token && (!epoch || !strcmp(epoch, c->epoch)) ? last_seq : 0;
    verani__wire__envelope__free_unpacked(w, NULL);
}

static void tc_hello(tc *c, int port, const char *user, const char *token, uint64_t last_seq)
{
    tc_hello_epoch(c, port, user, token, last_seq, NULL);
}

/* Send REQUEST `rid` of event `event` with payload `m` (a small message). */
static void tc_request(tc *c, uint32_t event, const ProtobufCMessage *m, uint64_t rid)
{
    rc_env env = VERANI__WIRE__ENVELOPE__INIT;
    uint8_t payload[32];

    assert_true(protobuf_c_message_get_packed_size(m) <= sizeof(payload));
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__REQUEST;
    env.has_event = 1;
    env.event = event;
    env.has_request_id = 1;
    env.request_id = rid;
    env.has_payload = 1;
    env.payload.len = protobuf_c_message_pack(m, payload);
    env.payload.data = payload;
    assert_int_equal(rc_tcp_send_env(c->fd, &env), 0);
}

/* Ask the server to emit `count` blobs to channel "default" (then a REPLY). */
static void tc_flood(tc *c, uint32_t count, uint64_t rid)
{
    E2e__Flood f = E2E__FLOOD__INIT;

    f.count = count;
    f.size = 24;
    tc_request(c, E2E_EV_FLOOD, &f.base, rid);
}

/* Cut the TCP connection: RST, no close frame. */
static void tc_cut(tc *c)
{
    struct linger l = {1, 0};

    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(c->fd);
    c->fd = -1;
}

/* Close with a close frame `code` and wait for the server's answer. */
static void tc_close_code(tc *c, int code)
{
    uint8_t b[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    int got = 0;

    rc_tcp_send_frame(c->fd, 8, b, sizeof(b));
    rc_tcp_wait_closed(c->fd, 5000, &got);
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
        rc_env *e = rc_tcp_read_env(c->fd, 20000);

        if (!e)
            fail_msg("connection ended after %zu blobs, %zu replies", c->blobs, c->replies);
        account(c, e);
    }
}

/* Nothing more arrives within `ms`. */
static void tc_quiet(tc *c, int ms)
{
    rc_env *e = rc_tcp_read_env(c->fd, ms);

    if (e) {
        int kind = account(c, e);

        fail_msg("unexpected frame of kind %d after the replay", kind);
    }
}

/* Remove the SQLite file `path` (with its -wal and -shm) and its directory `dir`. */
static void remove_db(const char *dir, const char *path)
{
    char aux[320];

    unlink(path);
    snprintf(aux, sizeof(aux), "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof(aux), "%s-shm", path);
    unlink(aux);
    rmdir(dir);
}

/* --- tests ----------------------------------------------------------------- */

/* The connection is cut while the server emits 1,000 frames to it: after the
 * resume the client holds all 1,000, each once, in order, and no hook ran. */
static void cut_mid_stream(void)
{
    e2e_server h;
    tc a, b;
    char id[64];

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
    e2e_wait_log_n("disconnect:u1", 1);
    e2e_server_stop(&h);
    assert_int_equal(e2e_log_count("disconnect:u1"), 1);
}

static void test_cut_mid_stream(void **state)
{
    (void)state;
    cut_mid_stream();
}

/* The same with both HELLOs folded into their upgrades (?hello=, PROTOCOL.md section 3): the
 * server takes the resume token, last seq and epoch from the URL as from a frame, and the
 * flood sent right behind the upgrade follows the replay. */
static void test_folded_cut_mid_stream(void **state)
{
    (void)state;
    fold_hello = 1;
    cut_mid_stream();
    fold_hello = 0;
}

/* A blip inside the grace period runs no hook; past it, exactly one on_disconnect, and the
 * token no longer resumes anything. */
static void test_grace_period(void **state)
{
    e2e_server h;
    tc a, b, c;

    (void)state;
    start(&h, GRACE_MS, 0);
    tc_hello(&a, h.port, "u1", NULL, 0);
    tc_cut(&a);
    tc_hello(&b, h.port, "u1", a.token, 0); /* may even beat the server's noticing the cut */
    assert_true(b.resumed);
    assert_string_equal(b.client_id, a.client_id);
    assert_int_equal(e2e_log_count("connect:u1:-"), 1);
    assert_int_equal(e2e_log_count("disconnect:u1"), 0);

    tc_cut(&b);
    e2e_wait_log_n("disconnect:u1", 1);
    tc_hello(&c, h.port, "u1", b.token, 0);
    assert_false(c.resumed);
    assert_string_not_equal(c.client_id, a.client_id);
    dl_nap_ms(300); /* no hook comes late */
    assert_int_equal(e2e_log_count("connect:u1:-"), 2);
    assert_int_equal(e2e_log_count("disconnect:u1"), 1);
    tc_close(&c);
    e2e_wait_log_n("disconnect:u1", 2);
    e2e_server_stop(&h);
}

/* Forged, foreign and replaced tokens each start a fresh session; the right one resumes. */
static void test_bad_tokens(void **state)
{
    e2e_server h;
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
    tc_hello(&r3, h.port, "u1", r1.token, 0);
    assert_true(r3.resumed);
    assert_string_equal(r3.client_id, a.client_id);
    tc_hello(&r2, h.port, "u1", a.token, 0); /* its replacement (r1's) was presented */
    assert_false(r2.resumed);
    assert_string_not_equal(r2.client_id, a.client_id);
    assert_int_equal(e2e_log_count("connect:u1:-"), 3);
    assert_int_equal(e2e_log_count("disconnect:u1"), 0);
    assert_int_equal(e2e_log_count("disconnect:u2"), 0);
    close(f.fd);
    close(o.fd);
    close(r2.fd);
    close(r3.fd);
    e2e_server_stop(&h);
}

/* A resume whose WELCOME never reached the client (the connection went before it was read,
 * or a cluster node fenced while Redis held it back): the client still holds the token it
 * presented, and that token resumes the session again, nothing lost, as long as the
 * replacement has not been presented and the grace period has not passed. A token that was
 * issued and replaced before it was ever presented resumes nothing; once a replacement has
 * been presented, the tokens before it resume nothing. */
static void test_welcome_lost(void **state)
{
    e2e_server h;
    tc a, b, c, d, e, f, g;

    (void)state;
    start(&h, GRACE_MS, 0);
    tc_hello(&a, h.port, "u1", NULL, 0);
    tc_flood(&a, 3, 1);
    tc_read_until(&a, 3, 1);
    assert_int_equal(a.last_seq, 4);
    tc_cut(&a);
    tc_hello(&b, h.port, "u1", a.token, a.last_seq);
    assert_true(b.resumed);
    tc_flood(&b, 2, 2); /* made on b's watch; the client will say it never read them */
    tc_read_until(&b, 2, 1);
    tc_cut(&b);

    tc_hello(&c, h.port, "u1", a.token, a.last_seq); /* b's token never reached the client */
    assert_true(c.resumed);
    assert_false(c.recovery_failed);
    assert_string_equal(c.client_id, a.client_id);
    assert_string_not_equal(c.token, a.token);
    assert_int_equal(c.welcome_seq, 7); /* b's 2 blobs and reply are replayed */
    tc_read_until(&c, 2, 1);
    assert_int_equal(c.seq_errors, 0);
    assert_int_equal(c.last_seq, 7);
    tc_cut(&c);

    tc_hello(&d, h.port, "u1", b.token, 4); /* replaced before it was ever presented */
    assert_false(d.resumed);
    assert_string_not_equal(d.client_id, a.client_id);
    tc_hello(&e, h.port, "u1", c.token, c.last_seq);
    assert_true(e.resumed);
    assert_false(e.recovery_failed);
    assert_string_equal(e.client_id, a.client_id);
    tc_hello(&f, h.port, "u1", a.token, a.last_seq); /* c's replacement was presented */
    assert_false(f.resumed);
    assert_string_not_equal(f.client_id, a.client_id);

    /* c's token, presented by e, stays good for the grace period (e's WELCOME could have
     * been lost too), and then no longer: e's connection stays as it was */
    dl_nap_ms((int)GRACE_MS + 500);
    tc_hello(&g, h.port, "u1", c.token, c.last_seq);
    assert_false(g.resumed);
    assert_string_not_equal(g.client_id, a.client_id);
    tc_flood(&e, 1, 3);
    tc_read_until(&e, 1, 1);
    assert_int_equal(e.seq_errors, 0);
    assert_int_equal(e.last_seq, 9);
    assert_int_equal(e2e_log_count("connect:u1:-"), 4); /* a, d, f and g */
    assert_int_equal(e2e_log_count("disconnect:u1"), 0);
    tc_close(&e);
    close(d.fd);
    close(f.fd);
    close(g.fd);
    e2e_server_stop(&h);
}

/* A window of 10 frames cannot give back 51: recovery_failed, and what is left (seq 42..51)
 * is replayed in order; a client that missed nothing resumes cleanly. */
static void test_recovery_failed(void **state)
{
    e2e_server h;
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
    e2e_server_stop(&h);
}

/* u1's session, resumed at `b` while its old connection `a` was still there, goes on (3 blobs,
 * in order) and no hook ran; then both connections are closed (b with 1000: it ends). */
static void resumed_goes_on(tc *a, tc *b)
{
    tc_flood(b, 3, 1);
    tc_read_until(b, 3, 1);
    assert_int_equal(b->seq_errors, 0);
    assert_int_equal(e2e_log_count("connect:u1:-"), 1);
    assert_int_equal(e2e_log_count("disconnect:u1"), 0);
    close(a->fd);
    tc_close(b);
}

/* The client reconnects before the server noticed the drop: the old connection is closed
 * and the session moves to the new one, without hooks. */
static void test_old_connection_replaced(void **state)
{
    e2e_server h;
    tc a, b;
    int code = 0;

    (void)state;
    start(&h, 0, 0);
    tc_hello(&a, h.port, "u1", NULL, 0);
    tc_hello(&b, h.port, "u1", a.token, 0);
    assert_true(b.resumed);
    assert_string_equal(b.client_id, a.client_id);
    assert_int_equal(rc_tcp_wait_closed(a.fd, 10000, &code), 1);
    resumed_goes_on(&a, &b);
    e2e_wait_log_n("disconnect:u1", 1);
    e2e_server_stop(&h);
}

/* A server whose idle timeout is 1 s, and client `a` (u1) there that, once it got `blobs`
 * blobs it asked for, stays silent (its pings unanswered) until the server closes it with
 * 4001 and waits for its answer, not given. */
static void idle_closed(e2e_server *h, tc *a, uint32_t blobs)
{
    verani_server_options o;
    unsigned char buf[256];
    int64_t d;
    size_t len = 0;
    int op = -1;

    e2e_server_options(&o);
    o.idle_timeout_ms = 1000;
    e2e_server_start(h, &o, NULL, NULL);
    tc_hello(a, h->port, "u1", NULL, 0);
    if (blobs) {
        tc_flood(a, blobs, 1);
        tc_read_until(a, blobs, 1);
    }
    d = dl_after(DL_GENEROUS(1000));
    while (op != 8 && op != 0 && !dl_passed(d))
        op = rc_tcp_read_frame(a->fd, dl_left_ms(d), buf, sizeof(buf), &len);
    assert_int_equal(op, 8);
    assert_true(len >= 2);
    assert_int_equal((buf[0] << 8) | buf[1], 4001);
}

/* The server closed the session for its silence (4001) and waits for the client's answer:
 * what the instance emits to it meanwhile takes its seq and is kept, so the resume replays
 * it, as for any detached session (before, such a closing session was skipped: the resume
 * said nothing was missing and the frames were gone). */
static void test_idle_close_keeps_frames(void **state)
{
    e2e_server h;
    tc a, b, c;

    (void)state;
    idle_closed(&h, &a, 2);
    assert_int_equal(a.last_seq, 3);
    tc_hello(&b, h.port, "u2", NULL, 0);
    tc_flood(&b, 3, 1); /* to channel default: u1's closing session too */
    tc_read_until(&b, 3, 1);
    tc_close_code(&a, 4001); /* the answer: the session waits for a resume */

    tc_hello(&c, h.port, "u1", a.token, a.last_seq);
    assert_true(c.resumed);
    assert_string_equal(c.client_id, a.client_id);
    assert_false(c.recovery_failed);
    assert_int_equal(c.welcome_seq, 6);
    tc_read_until(&c, 3, 0);
    assert_int_equal(c.seq_errors, 0);
    assert_int_equal(c.last_seq, 6);
    assert_int_equal(e2e_log_count("disconnect:u1"), 0);
    tc_close(&c);
    tc_close(&b);
    e2e_server_stop(&h);
}

/* The client comes back before it answered the server's 4001 (its answer lost, or not sent
 * yet): the session, closing and meant to wait for a resume, resumes on the new connection
 * (the old one is dropped), as one the server has not seen go yet does. */
static void test_idle_close_resumes_before_answer(void **state)
{
    e2e_server h;
    tc a, b;

    (void)state;
    idle_closed(&h, &a, 0);
    tc_hello(&b, h.port, "u1", a.token, 0);
    assert_true(b.resumed);
    assert_false(b.recovery_failed);
    assert_string_equal(b.client_id, a.client_id);
    resumed_goes_on(&a, &b);
    e2e_server_stop(&h);
}

/* --- a TCP proxy that can cut its connections -------------------------------- */

#define PX_MAX 8

typedef struct proxy {
    int lfd, port;
    atomic_int target;         /* the server's port: a test may move it to a new server */
    pthread_t th;
    atomic_int stop, cut;
    atomic_long budget;        /* server->client bytes still forwarded; < 0: no limit */
    int c[PX_MAX], s[PX_MAX];  /* client side, server side; -1: free */
} proxy;

static void px_drop(proxy *p, int i, int rst)
{
    struct linger l = {1, 0};

    if (rst) {
        setsockopt(p->c[i], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        setsockopt(p->s[i], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    close(p->c[i]);
    close(p->s[i]);
    p->c[i] = p->s[i] = -1;
}

static int px_pump(int from, int to, size_t max)
{
    char buf[4096];
    ssize_t n = recv(from, buf, max < sizeof(buf) ? max : sizeof(buf), 0);

    if (n <= 0)
        return -1;
    return rc_tcp_send_raw(to, buf, (size_t)n) ? -1 : (int)n;
}

static void *px_thread(void *arg)
{
    proxy *p = arg;
    int i;

    while (!p->stop) {
        struct pollfd fds[1 + 2 * PX_MAX];
        int idx[1 + 2 * PX_MAX], n = 1;
        long budget = p->budget;

        if (p->cut) {
            for (i = 0; i < PX_MAX; i++)
                if (p->c[i] >= 0)
                    px_drop(p, i, 1);
            p->budget = -1;
            p->cut = 0;
            continue;
        }
        fds[0].fd = p->lfd;
        fds[0].events = POLLIN;
        for (i = 0; i < PX_MAX; i++) {
            if (p->c[i] < 0)
                continue;
            fds[n].fd = p->c[i];
            fds[n].events = POLLIN;
            idx[n++] = i;
            fds[n].fd = p->s[i];
            fds[n].events = budget ? POLLIN : 0;
            idx[n++] = i;
        }
        if (poll(fds, (nfds_t)n, 20) <= 0)
            continue;
        if (fds[0].revents & POLLIN) {
            int cfd = accept(p->lfd, NULL, NULL), sfd = cfd >= 0 ? rc_tcp_connect(atomic_load(&p->target), 0)
                                                               : -1;

            for (i = 0; i < PX_MAX && p->c[i] >= 0; i++)
                ;
            if (cfd >= 0 && sfd >= 0 && i < PX_MAX) {
                p->c[i] = cfd;
                p->s[i] = sfd;
            } else {
                if (cfd >= 0)
                    close(cfd);
                if (sfd >= 0)
                    close(sfd);
            }
        }
        for (i = 1; i < n; i++) {
            int k = idx[i], r;

            if (!fds[i].revents || p->c[k] < 0)
                continue;
            if (fds[i].fd == p->c[k]) {
                r = px_pump(p->c[k], p->s[k], 4096);
            } else {
                r = px_pump(p->s[k], p->c[k], budget < 0 ? 4096 : (size_t)budget);
                if (r > 0 && budget > 0)
                    p->budget = budget = budget - r > 0 ? budget - r : 0;
            }
            if (r < 0)
                px_drop(p, k, 0);
        }
    }
    for (i = 0; i < PX_MAX; i++)
        if (p->c[i] >= 0)
            px_drop(p, i, 0);
    close(p->lfd);
    return NULL;
}

static void px_undo(void *arg)
{
    proxy *p = arg;

    p->stop = 1;
    pthread_join(p->th, NULL);
    free(p);
}

/* A proxy to 127.0.0.1:target on a thread of its own; px_stop frees it (or the teardown,
 * when an assertion ends the test first). */
static proxy *px_start(int target)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    proxy *p = calloc(1, sizeof(*p));
    int i;

    assert_non_null(p);
    atomic_store(&p->target, target);
    p->budget = -1;
    for (i = 0; i < PX_MAX; i++)
        p->c[i] = p->s[i] = -1;
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(p->lfd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(p->lfd, 8), 0);
    assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&a, &al), 0);
    p->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&p->th, NULL, px_thread, p), 0);
    cu_push(px_undo, p);
    return p;
}

static void px_stop(proxy *p)
{
    cu_drop(p);
    px_undo(p);
}

/* --- the real client ----------------------------------------------------------- */

typedef struct rcw {
    int opens, replies;
    int last_status, last_n;           /* of the last flood reply */
    int opens_at_reply;                /* `opens` when the last reply came */
    char echo[64];                     /* the last echo reply's text */
    char order[32];                    /* per reply: 'F' flood or 'E' echo, then its status */
    int recoveries, recovered_resumed; /* on_recovery_failed calls; its last `resumed` */
    int fulls;                         /* on_error calls with VERANI_EFULL */
    size_t blobs, seq_errors;
    uint64_t last_seq;
} rcw;

static void rcw_open(verani_client *c, void *u)
{
    (void)c;
    ((rcw *)u)->opens++;
}

static void rcw_recovery(verani_client *c, int resumed, void *u)
{
    rcw *w = u;

    (void)c;
    w->recoveries++;
    w->recovered_resumed = resumed;
}

static void rcw_error(verani_client *c, int err, const char *what, void *u)
{
    (void)c;
    (void)what;
    if (err == VERANI_EFULL)
        ((rcw *)u)->fulls++;
}

static void rcw_blob(verani_client *c, const E2e__Blob *m, void *u)
{
    rcw *w = u;
    uint64_t seq = verani_client_event_seq(c);

    (void)m;
    if (seq != w->last_seq + 1)
        w->seq_errors++;
    w->last_seq = seq;
    w->blobs++;
}

static void rcw_reply(verani_client *c, verani_reply_status st, const E2e__Count *r,
                      const char *err, void *u)
{
    rcw *w = u;

    (void)c;
    (void)err;
    w->last_status = (int)st;
    w->last_n = st == VERANI_REPLY_OK && r ? r->n : -1;
    if (strlen(w->order) + 2 < sizeof(w->order))
        snprintf(w->order + strlen(w->order), 3, "F%d", (int)st);
    w->opens_at_reply = w->opens;
    w->replies++;
}

static void rcw_echo(verani_client *c, verani_reply_status st, const E2e__Echo *r,
                     const char *err, void *u)
{
    rcw *w = u;

    (void)c;
    (void)err;
    w->last_status = (int)st;
    if (strlen(w->order) + 2 < sizeof(w->order))
        snprintf(w->order + strlen(w->order), 3, "E%d", (int)st);
    snprintf(w->echo, sizeof(w->echo), "%s", st == VERANI_REPLY_OK && r && r->text ? r->text
                                                                                 : "");
    w->opens_at_reply = w->opens;
    w->replies++;
}

/* Service the client loop until *counter >= want (DL_WAIT_MS at most). */
static int svc_until(verani_client_loop *l, const size_t *sz, const int *in, size_t want)
{
    int64_t end = dl_after(DL_WAIT_MS);

    for (;;) {
        if ((sz && *sz >= want) || (in && (size_t)*in >= want))
            return 1;
        if (dl_passed(end))
            return 0;
        verani_client_loop_service(l, 10);
    }
}

/* Service the client loop for `ms`, whatever happens. */
static void svc_for(verani_client_loop *l, int ms)
{
    int64_t end = dl_after(ms);

    while (!dl_passed(end))
        verani_client_loop_service(l, 10);
}

/* Service the client loop until e2e_log_count(line) >= n (DL_WAIT_MS at most). */
static void svc_until_log(verani_client_loop *l, const char *line, int n)
{
    int64_t end = dl_after(DL_WAIT_MS);

    while (e2e_log_count(line) < n && !dl_passed(end))
        verani_client_loop_service(l, 10);
    assert_int_equal(e2e_log_count(line), n);
}

/* A real client through `px` as u1 to instance r1, reconnecting every 50 to `max_delay_ms`
 * ms without limit, its callbacks counting into `w`; returns once it is open. */
static verani_client *rcw_client(verani_client_loop *l, const proxy *px, uint32_t max_delay_ms,
                                 rcw *w)
{
    verani_client_options o;
    verani_client *c;
    char url[128], err[256];

    memset(w, 0, sizeof(*w));
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/e2e/r1?userId=u1", px->port);
    verani_client_options_init(&o);
    o.url = url;
    o.room = &e2e_e2e_schema;
    o.initial_delay_ms = 50;
    o.max_delay_ms = max_delay_ms;
    o.max_attempts = VERANI_CLIENT_UNLIMITED;
    c = verani_client_create(l, &o, err, sizeof(err));
    assert_non_null(c);
    verani_client_on_open(c, rcw_open, w);
    verani_client_on_recovery_failed(c, rcw_recovery, w);
    verani_client_on_error(c, rcw_error, w);
    assert_true(svc_until(l, NULL, &w->opens, 1));
    return c;
}

/* A server (grace_ms, retain_frames as for start), a proxy to it, a client loop and a
 * real client through the proxy (rcw_client); returns the client once it is open. */
static verani_client *rig_up(e2e_server *h, proxy **px, verani_client_loop **l, uint32_t grace_ms,
                             uint32_t retain_frames, uint32_t max_delay_ms, rcw *w)
{
    start(h, grace_ms, retain_frames);
    *px = px_start(h->port);
    *l = loop_new();
    return rcw_client(*l, *px, max_delay_ms, w);
}

/* Free what rig_up made, the client first. */
static void rig_down(e2e_server *h, proxy *px, verani_client_loop *l, verani_client *c)
{
    verani_client_destroy(c);
    loop_free(l);
    px_stop(px);
    e2e_server_stop(h);
}

/* Flood request `rid` from the bare session `c` (`count` blobs of `size` bytes to channel
 * "default", `c` among the recipients): read until its REPLY; returns the reply's count (the
 * recipients of the last blob). */
static int tc_flood_answered(tc *c, uint32_t count, uint32_t size, uint64_t rid)
{
    E2e__Flood f = E2E__FLOOD__INIT;

    f.count = count;
    f.size = size;
    tc_request(c, E2E_EV_FLOOD, &f.base, rid);
    for (;;) {
        rc_env *e = rc_tcp_read_env(c->fd, 20000);
        int n = -1;

        if (!e)
            fail_msg("the flooder's connection ended before its reply %llu",
                     (unsigned long long)rid);
        if (e->kind == VERANI__WIRE__KIND__REPLY && e->request_id == rid) {
            E2e__Count *cnt = e2e__count__unpack(NULL, e->payload.len, e->payload.data);

            assert_non_null(cnt);
            n = cnt->n;
            e2e__count__free_unpacked(cnt, NULL);
        }
        verani__wire__envelope__free_unpacked(e, NULL);
        if (n >= 0)
            return n;
    }
}

/* The drop policy seen from libverani's client (server.h: VERANI_SLOW_DROP, "the client sees
 * the gap"): while it reads nothing, another session's floods fill its socket and then its
 * queue on the server, which drops the frames past the bound. Once it reads again it gets
 * what was kept, and each gap in the seqs is told to on_error as VERANI_EFULL and counted in
 * info.missed (the last flood's tail once a later frame shows it); the connection stays, every
 * seq is either received or counted missed, and a frame with no gap before it is not told.
 * The flooder is a bare TCP session: one lws client context in the process (two alive at once
 * keep TLS state past their end: lsan-tls.supp). */
static void test_real_client_sees_gaps(void **state)
{
    e2e_server h;
    verani_server_options o;
    verani_client_loop *l;
    verani_client *c;
    verani_client_info info;
    proxy direct;
    tc fast;
    uint64_t rid = 1;
    size_t before;
    int triggers = 0;
    rcw w;

    (void)state;
    e2e_server_options(&o);
    o.queue_max_bytes = 256u << 10;
    o.slow_policy = VERANI_SLOW_DROP;
    e2e_server_start(&h, &o, NULL, NULL);
    memset(&direct, 0, sizeof(direct));
    direct.port = h.port; /* rcw_client takes its port: no proxy in between */
    l = loop_new();
    c = rcw_client(l, &direct, 200, &w);
    e2e_e2e_client_on_blob(c, rcw_blob, &w);
    tc_hello(&fast, h.port, "fast", NULL, 0);
    /* until the client's queue could not take the last blob of a flood */
    while (triggers < 600 && tc_flood_answered(&fast, 16, 8000, rid++) != 1)
        triggers++;
    assert_true(triggers < 600);
    do { /* the client reads what was kept */
        before = w.blobs;
        svc_for(l, 300);
    } while (w.blobs != before);
    for (int k = 0; k < 2; k++) { /* one small blob after the tail dropped, then another */
        int fulls = w.fulls;
        uint64_t sent = (uint64_t)16 * ((uint64_t)triggers + 1) + (uint64_t)k + 1;

        before = w.blobs;
        assert_int_equal(tc_flood_answered(&fast, 1, 10, rid++), 2);
        assert_true(svc_until(l, &w.blobs, NULL, before + 1));
        assert_int_equal(verani_client_get_info(c, &info), 0);
        assert_int_equal(info.last_seq, sent);
        assert_int_equal((uint64_t)w.blobs + info.missed, sent);
        if (k)
            assert_int_equal(w.fulls, fulls); /* no gap before the second */
    }
    assert_true(w.fulls >= 1);
    assert_true(info.missed >= 1);
    assert_int_equal(info.state, VERANI_CLIENT_CONNECTED);
    assert_int_equal(w.opens, 1);
    tc_close(&fast);
    verani_client_destroy(c);
    loop_free(l);
    e2e_server_stop(&h);
}

/* libverani's client behind a proxy that cuts the TCP connections after ~100 of 1,000
 * frames: it reconnects and resumes by itself, holds every frame once and in order (the
 * replayed REPLY included: last_seq 1001), and the server ran no hook. */
static void test_real_client(void **state)
{
    e2e_server h;
    proxy *px;
    verani_client_loop *l;
    verani_client *c;
    verani_client_info info;
    E2e__Flood f = E2E__FLOOD__INIT;
    rcw w;
    size_t before;

    (void)state;
    c = rig_up(&h, &px, &l, 0, 0, 200, &w);
    e2e_e2e_client_on_blob(c, rcw_blob, &w);

    px->budget = 4000; /* about 100 blobs get through, then the proxy holds the rest */
    f.count = 1000;
    f.size = 24;
    assert_true(e2e_e2e_client_request_flood(c, &f, 20000, rcw_reply, &w) >= 0);
    assert_true(svc_until(l, &w.blobs, NULL, 50));
    do { /* until what got through has been read (nothing new for 200 ms) */
        before = w.blobs;
        svc_for(l, 200);
    } while (w.blobs != before);
    assert_true(w.blobs < 1000);
    px->cut = 1;

    assert_true(svc_until(l, &w.blobs, NULL, 1000));
    assert_true(svc_until(l, NULL, &w.replies, 1));
    svc_for(l, 300);
    assert_int_equal(w.blobs, 1000);
    assert_int_equal(w.seq_errors, 0);
    assert_int_equal(w.opens, 2);
    assert_int_equal(w.recoveries, 0);
    assert_int_equal(w.replies, 1); /* the request waited for the resume and its replay */
    assert_int_equal(w.last_status, VERANI_REPLY_OK);
    assert_int_equal(w.last_n, 1);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_true(info.resumed);
    assert_false(info.recovery_failed);
    assert_int_equal(info.last_seq, 1001);
    assert_int_equal(e2e_log_count("connect:u1:-"), 1);
    assert_int_equal(e2e_log_count("disconnect:u1"), 0);

    verani_client_disconnect(c); /* a close frame 1000: on_disconnect at once */
    svc_until_log(l, "disconnect:u1", 1);
    rig_down(&h, px, l, c);
}

/* The real client's on_recovery_failed: once with resumed=1 when the server's window (10
 * frames) no longer holds what it missed (51 frames held back by the proxy), then what is
 * left arrives in order; once with resumed=0 when it comes back after the grace period. */
static void test_real_client_recovery(void **state)
{
    e2e_server h;
    proxy *px;
    verani_client_loop *l;
    verani_client *c;
    verani_client_info info;
    E2e__Flood f = E2E__FLOOD__INIT;
    rcw w;

    (void)state;
    c = rig_up(&h, &px, &l, GRACE_MS, 10, 100, &w);
    e2e_e2e_client_on_blob(c, rcw_blob, &w);

    px->budget = 0; /* nothing more reaches the client */
    f.count = 50;
    f.size = 24;
    assert_true(e2e_e2e_client_request_flood(c, &f, 20000, rcw_reply, &w) >= 0);
    assert_int_equal(e2e_e2e_client_emit_poke(c), 0);
    svc_until_log(l, "poke", 1); /* behind the flood: everything was emitted */
    assert_int_equal(w.blobs, 0);
    px->cut = 1;
    assert_true(svc_until(l, NULL, &w.opens, 2));
    assert_true(svc_until(l, &w.blobs, NULL, 9));
    assert_true(svc_until(l, NULL, &w.replies, 1));
    svc_for(l, 300);
    assert_int_equal(w.recoveries, 1);
    assert_int_equal(w.recovered_resumed, 1);
    assert_int_equal(w.blobs, 9);      /* seqs 42..50; the reply is 51 */
    assert_int_equal(w.seq_errors, 1); /* the one gap: 0 -> 42 */
    assert_int_equal(w.replies, 1);    /* the reply was still in the window: replayed */
    assert_int_equal(w.last_status, VERANI_REPLY_OK);
    assert_int_equal(w.last_n, 1);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_true(info.resumed);
    assert_true(info.recovery_failed);
    assert_int_equal(info.last_seq, 51);

    /* away for longer than the grace period: a fresh session */
    px->budget = 0;
    svc_for(l, 100);
    px->cut = 1;
    e2e_wait_log_n("disconnect:u1", 1); /* the client is not serviced meanwhile */
    assert_true(svc_until(l, NULL, &w.opens, 3));
    assert_true(svc_until(l, NULL, &w.recoveries, 2));
    assert_int_equal(w.recoveries, 2);
    assert_int_equal(w.recovered_resumed, 0);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_false(info.resumed);
    assert_int_equal(e2e_log_count("connect:u1:-"), 2);

    rig_down(&h, px, l, c);
}

/* Send an echo request of `text` (20 s timeout) while the proxy lets nothing reach the
 * client, and service the client until the server has answered it: a poke sent behind it
 * is logged (the server handles a connection's frames in order), so the REPLY exists and
 * sits in the proxy, unread. */
static void rcw_echo_held(verani_client_loop *l, verani_client *c, proxy *px, rcw *w,
                          const char *text)
{
    E2e__Echo m = E2E__ECHO__INIT;
    int pokes = e2e_log_count("poke") + 1, replies = w->replies;

    px->budget = 0;
    m.text = (char *)text;
    assert_int_equal(e2e_e2e_client_request_echo(c, &m, 20000, rcw_echo, w), 0);
    assert_int_equal(e2e_e2e_client_emit_poke(c), 0);
    svc_until_log(l, "poke", pokes);
    svc_for(l, 100);
    assert_int_equal(w->replies, replies);
}

/* A request answered while its REPLY cannot reach the client; the TCP connection is cut;
 * the client resumes and the replayed REPLY completes the request (OK, the right text),
 * after the second on_open: the drop did not fail it. */
static void test_request_across_resume(void **state)
{
    e2e_server h;
    proxy *px;
    verani_client_loop *l;
    verani_client *c;
    verani_client_info info;
    rcw w;

    (void)state;
    c = rig_up(&h, &px, &l, 0, 0, 200, &w);
    rcw_echo_held(l, c, px, &w, "across the cut");
    px->cut = 1;

    assert_true(svc_until(l, NULL, &w.replies, 1));
    assert_int_equal(w.last_status, VERANI_REPLY_OK);
    assert_string_equal(w.echo, "across the cut");
    assert_int_equal(w.opens_at_reply, 2);
    assert_int_equal(w.recoveries, 0);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_true(info.resumed);
    assert_int_equal(info.pending_requests, 0);

    /* the session goes on: a new request on the resumed connection */
    rcw_echo_held(l, c, px, &w, "hold");
    px->budget = -1;
    assert_true(svc_until(l, NULL, &w.replies, 2));
    assert_int_equal(w.last_status, VERANI_REPLY_OK);
    assert_string_equal(w.echo, "hold");
    assert_int_equal(e2e_log_count("connect:u1:-"), 1);
    assert_int_equal(e2e_log_count("disconnect:u1"), 0);

    rig_down(&h, px, l, c);
}

/* A resume with recovery_failed: the server keeps 10 frames, the echo's REPLY (seq 1) is
 * pushed out by a flood of 50 blobs and its REPLY (seq 52); after the replay the flood's
 * request has its REPLY (OK) and the echo's, lost, ends DISCONNECTED (not at its timeout). */
static void test_request_recovery_failed(void **state)
{
    e2e_server h;
    proxy *px;
    verani_client_loop *l;
    verani_client *c;
    verani_client_info info;
    E2e__Flood f = E2E__FLOOD__INIT;
    char want[16];
    rcw w;

    (void)state;
    c = rig_up(&h, &px, &l, 0, 10, 200, &w);
    f.count = 50;
    f.size = 24;
    rcw_echo_held(l, c, px, &w, "pushed out");
    assert_true(e2e_e2e_client_request_flood(c, &f, 20000, rcw_reply, &w) >= 0);
    assert_int_equal(e2e_e2e_client_emit_poke(c), 0);
    svc_until_log(l, "poke", 2); /* the flood ran: everything was emitted */
    assert_int_equal(w.replies, 0);
    px->cut = 1;

    assert_true(svc_until(l, NULL, &w.replies, 2));
    snprintf(want, sizeof(want), "F%dE%d", VERANI_REPLY_OK, VERANI_REPLY_DISCONNECTED);
    assert_string_equal(w.order, want);
    assert_int_equal(w.last_n, 1);
    assert_int_equal(w.opens_at_reply, 2);
    assert_int_equal(w.recoveries, 1);
    assert_int_equal(w.recovered_resumed, 1);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_true(info.resumed);
    assert_true(info.recovery_failed);
    assert_int_equal(info.last_seq, 52);
    assert_int_equal(info.pending_requests, 0);

    rig_down(&h, px, l, c);
}

/* The same held REPLY, but the client comes back after the grace period: a fresh session
 * cannot answer the request, which ends DISCONNECTED right after the new welcome (not at
 * the drop, not at its 20 s timeout). */
static void test_request_fresh_session(void **state)
{
    e2e_server h;
    proxy *px;
    verani_client_loop *l;
    verani_client *c;
    verani_client_info info;
    rcw w;

    (void)state;
    c = rig_up(&h, &px, &l, 300, 0, 100, &w);
    rcw_echo_held(l, c, px, &w, "lost");
    px->cut = 1;
    e2e_wait_log_n("disconnect:u1", 1); /* the client is not serviced meanwhile */

    assert_true(svc_until(l, NULL, &w.opens, 2));
    /* right after the welcome: the same turn, or the next */
    assert_true(svc_until(l, NULL, &w.replies, 1));
    assert_int_equal(w.replies, 1);
    assert_int_equal(w.last_status, VERANI_REPLY_DISCONNECTED);
    assert_int_equal(w.opens_at_reply, 2);
    assert_int_equal(w.recoveries, 1);
    assert_int_equal(w.recovered_resumed, 0);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_false(info.resumed);
    assert_int_equal(info.pending_requests, 0);
    assert_int_equal(e2e_log_count("connect:u1:-"), 2);

    rig_down(&h, px, l, c);
}

/* A server (start: grace 0, window 0) on a session file in a new directory: `dir` is the
 * mkdtemp template, `path` gets the file (remove_db removes both). */
static void start_on_file(e2e_server *h, char *dir, char *path, size_t len)
{
    assert_non_null(mkdtemp(dir));
    snprintf(path, len, "%s/sessions.db", dir);
    g_storage = path;
    start(h, 0, 0);
}

/* A graceful stop mid-stream saves the session and its frames; a new server on the same file
 * restores it detached (on_hibernation_restore once, the session visible), and the client
 * resumes there with all 1,000 frames once, in order; no on_connect, no on_disconnect. */
static void test_graceful_restart(void **state)
{
    e2e_server h;
    proxy *px;
    tc a, b;
    rc_env *e;
    size_t before;
    char dir[] = "/tmp/verani-resume-XXXXXX", path[300];

    (void)state;
    start_on_file(&h, dir, path, sizeof(path));
    px = px_start(h.port); /* it holds back what the server sends past ~50 frames */
    tc_hello(&a, px->port, "u1", NULL, 0);
    px->budget = 2000;
    tc_flood(&a, 1000, 1);
    tc_read_until(&a, 40, 0);
    do {
        before = a.blobs;
        while ((e = rc_tcp_read_env(a.fd, 300)))
            account(&a, e);
    } while (a.blobs != before);
    assert_true(a.blobs < 1000);
    e2e_server_stop(&h); /* the 1001 cannot get through: the stop gives up after its wait */
    assert_int_equal(e2e_log_count("disconnect:u1"), 0); /* saved, not gone */
    px->cut = 1;
    while ((e = rc_tcp_read_env(a.fd, 2000)))
        account(&a, e);
    close(a.fd);
    px_stop(px);
    assert_int_equal(a.seq_errors, 0);

    start(&h, 0, 0); /* the log starts empty */
    assert_int_equal(e2e_log_count("restore:r1:1"), 1);
    tc_hello(&b, h.port, "u1", a.token, a.last_seq);
    assert_true(b.resumed);
    assert_false(b.recovery_failed);
    assert_string_equal(b.client_id, a.client_id);
    assert_int_equal(b.welcome_seq, 1001);
    assert_string_equal(b.epoch, a.epoch); /* the stream goes on: nothing was lost */
    b.blobs = a.blobs;
    b.replies = a.replies;
    tc_read_until(&b, 1000, 1);
    assert_int_equal(b.seq_errors, 0);
    assert_int_equal(b.last_seq, 1001);
    /* the restored session is still in its channel: a new emit to it arrives */
    tc_flood(&b, 5, 2);
    tc_read_until(&b, 1005, 2);
    assert_int_equal(b.seq_errors, 0);
    tc_quiet(&b, 300);
    assert_int_equal(e2e_log_count("connect:u1:-"), 0);
    tc_close(&b);
    e2e_wait_log_n("disconnect:u1", 1);
    e2e_server_stop(&h);
    g_storage = NULL;
    remove_db(dir, path);
}

/* A graceful stop closes with 1012 and reads on until the client answers: a REQUEST the client
 * sent before it saw the 1012 is handled, and its REPLY and the frames it emitted are kept
 * with the session for the next server on the same file, which replays them on the resume. */
static void test_request_during_stop(void **state)
{
    e2e_server h;
    tc a, b;
    unsigned char buf[256];
    size_t len = 0;
    int op;
    int64_t d;
    char dir[] = "/tmp/verani-resume-XXXXXX", path[300];

    (void)state;
    start_on_file(&h, dir, path, sizeof(path));
    tc_hello(&a, h.port, "u1", NULL, 0);
    verani_server_stop(h.srv);
    d = dl_after(DL_WAIT_MS);
    do /* the 1012 */
        op = rc_tcp_read_frame(a.fd, 100, buf, sizeof(buf), &len);
    while (op != 8 && op != 0 && !dl_passed(d));
    assert_int_equal(op, 8);
    assert_true(len >= 2);
    assert_int_equal(buf[0] << 8 | buf[1], 1012);
    tc_flood(&a, 3, 9); /* sent before the client "saw" the close */
    assert_int_equal(rc_tcp_send_frame(a.fd, 8, buf, 2), 0); /* then its answer */
    e2e_server_stop(&h);
    close(a.fd);

    start(&h, 0, 0);
    tc_hello(&b, h.port, "u1", a.token, 0);
    assert_true(b.resumed);
    assert_false(b.recovery_failed);
    assert_string_equal(b.epoch, a.epoch);
    tc_read_until(&b, 3, 1); /* the reply and its 3 frames, replayed */
    assert_int_equal(b.seq_errors, 0);
    assert_int_equal(b.last_seq, 4);
    tc_close(&b);
    e2e_wait_log_n("disconnect:u1", 1);
    e2e_server_stop(&h);
    g_storage = NULL;
    remove_db(dir, path);
}

/* The server's connected sessions, asked through `c` (the e2e room's cmd query 10); the
 * frames read before its REPLY are counted into `c`. */
static int tc_session_count(tc *c, uint64_t rid)
{
    E2e__Cmd m = E2E__CMD__INIT;
    E2e__Count *n;
    rc_env *e;
    int count;

    m.op = 10;
    tc_request(c, E2E_EV_CMD, &m.base, rid);
    while ((e = rc_tcp_read_env(c->fd, 20000)) &&
           !(e->kind == VERANI__WIRE__KIND__REPLY && e->request_id == rid))
        account(c, e);
    assert_non_null(e);
    n = e2e__count__unpack(NULL, e->payload.len, e->payload.data);
    assert_non_null(n);
    count = n->n;
    e2e__count__free_unpacked(n, NULL);
    account(c, e);
    return count;
}

/* A session already detached when a graceful stop saves it, reached by an emit during the
 * stop's drain (a connected client's request, sent before it saw its 1012): the emit is kept
 * and the session saved again, so the resume at the next server replays it. */
static void test_detached_emit_during_stop(void **state)
{
    e2e_server h;
    tc a, b, a2;
    unsigned char buf[256];
    size_t len = 0;
    int op;
    uint64_t rid = 100;
    int64_t d;
    char dir[] = "/tmp/verani-resume-XXXXXX", path[300];

    (void)state;
    start_on_file(&h, dir, path, sizeof(path));
    tc_hello(&a, h.port, "u1", NULL, 0);
    tc_hello(&b, h.port, "u2", NULL, 0);
    tc_cut(&a);
    d = dl_after(DL_WAIT_MS);
    while (tc_session_count(&b, rid++) != 1 && !dl_passed(d)) /* a detached, b connected */
        dl_nap_ms(10);
    assert_false(dl_passed(d));
    verani_server_stop(h.srv);
    d = dl_after(DL_WAIT_MS);
    do /* b's 1012 */
        op = rc_tcp_read_frame(b.fd, 100, buf, sizeof(buf), &len);
    while (op != 8 && op != 0 && !dl_passed(d));
    assert_int_equal(op, 8);
    tc_flood(&b, 2, 9); /* to channel "default": a is in it */
    assert_int_equal(rc_tcp_send_frame(b.fd, 8, buf, 2), 0);
    e2e_server_stop(&h);
    close(b.fd);

    start(&h, 0, 0);
    tc_hello(&a2, h.port, "u1", a.token, a.last_seq);
    assert_true(a2.resumed);
    assert_false(a2.recovery_failed);
    assert_string_equal(a2.epoch, a.epoch);
    tc_read_until(&a2, 2, 0); /* b's two blobs, replayed */
    assert_int_equal(a2.seq_errors, 0);
    assert_int_equal(a2.blobs, 2);
    tc_quiet(&a2, 300);
    tc_close(&a2);
    e2e_wait_log_n("disconnect:u1", 1);
    e2e_server_stop(&h);
    g_storage = NULL;
    remove_db(dir, path);
}

/* Teardown of a server process a failed test left running (the pid is on the heap). */
static void child_undo(void *arg)
{
    pid_t *pid = arg;

    kill(*pid, SIGKILL);
    waitpid(*pid, NULL, 0);
    free(pid);
}

/* A server with the e2e rooms in a child process on `path`, to be killed with child_kill: its
 * pid (on the heap and on the teardown list), and its port in *port_out. Call it while no
 * other thread runs in this process. */
static pid_t *fork_server(const char *path, int *port_out)
{
    int fds[2], port = 0;
    pid_t pid, *child;

    assert_int_equal(pipe(fds), 0);
    pid = fork(); /* no thread runs in this process now */
    assert_true(pid >= 0);
    if (pid == 0) {
        verani_server_options o;
        verani_server *srv;

        close(fds[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failing test does not leave it running */
        verani_server_options_init(&o);
        o.bind_address = "127.0.0.1";
        o.storage_path = path;
        srv = verani_server_create(&o, NULL, 0);
        if (!srv || e2e_mount_all(srv) || verani_server_listen(srv))
            _exit(1);
        port = verani_server_port(srv);
        if (write(fds[1], &port, sizeof(port)) != (ssize_t)sizeof(port))
            _exit(1);
        verani_server_run(srv); /* until SIGKILL */
        _exit(0);
    }
    close(fds[1]);
    child = malloc(sizeof(*child));
    assert_non_null(child);
    *child = pid;
    cu_push(child_undo, child);
    if (read(fds[0], &port, sizeof(port)) != (ssize_t)sizeof(port) || port <= 0)
        fail_msg("the server process did not start");
    close(fds[0]);
    *port_out = port;
    return child;
}

/* SIGKILL a server from fork_server and reap it. */
static void child_kill(pid_t *child)
{
    cu_drop(child);
    child_undo(child);
}

/* A server process killed with SIGKILL: the attachment stored at connect brings the session
 * back on the next server (same client id, on_hibernation_restore), but the frames that
 * were only in memory are reported lost (recovery_failed), never silently skipped. */
static void test_sigkill_restart(void **state)
{
    e2e_server h;
    tc a, lost, b, c;
    char dir[] = "/tmp/verani-resume-XXXXXX", path[300];
    int port = 0;
    pid_t *child;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/sessions.db", dir);
    child = fork_server(path, &port);
    tc_hello(&a, port, "u1", NULL, 0);
    tc_flood(&a, 100, 1);
    tc_read_until(&a, 100, 1);
    assert_int_equal(a.last_seq, 101);
    tc_cut(&a);
    /* a resume whose WELCOME the client is taken never to have read: the store keeps the
     * token it presented beside the new one (the reply proves the HELLO's turn is over, and
     * with it the store's write) */
    tc_hello(&lost, port, "u1", a.token, a.last_seq);
    assert_true(lost.resumed);
    tc_flood(&lost, 0, 2);
    tc_read_until(&lost, 0, 1);
    child_kill(child);
    close(lost.fd);

    g_storage = path;
    start(&h, 0, 0);
    assert_int_equal(e2e_log_count("restore:r1:1"), 1);
    /* frames for the restored session, sent after the restart and before it resumes */
    tc_hello(&c, h.port, "u2", NULL, 0);
    tc_flood(&c, 5, 1);
    tc_read_until(&c, 5, 1);
    tc_hello_epoch(&b, h.port, "u1", a.token, a.last_seq, a.epoch);
    assert_true(b.resumed);
    assert_true(b.recovery_failed); /* what the crash lost after seq 101 cannot be known */
    assert_string_equal(b.client_id, a.client_id);
    assert_string_not_equal(b.epoch, a.epoch); /* a new epoch: its seqs start again */
    assert_int_equal(b.welcome_seq, 5);
    tc_read_until(&b, 5, 0); /* every frame of the new epoch, in order */
    assert_int_equal(b.seq_errors, 0);
    assert_int_equal(b.last_seq, 5);
    tc_quiet(&b, 300);
    assert_int_equal(e2e_log_count("connect:u1:-"), 0);
    tc_close(&b);
    e2e_wait_log_n("disconnect:u1", 1);
    tc_close(&c);
    e2e_wait_log_n("disconnect:u2", 1);
    e2e_server_stop(&h);
    g_storage = NULL;
    remove_db(dir, path);
}

/* libverani's client across a SIGKILL restart of its server on the same store: it resumes in
 * the server's new epoch and gets every frame sent to its session after the restart, from
 * seq 1, and on_recovery_failed for what the crash lost. */
static void test_real_client_crash(void **state)
{
    e2e_server h;
    proxy *px;
    tc other;
    verani_client_loop *l;
    verani_client *c;
    verani_client_info info;
    E2e__Flood f = E2E__FLOOD__INIT;
    rcw w;
    char dir[] = "/tmp/verani-resume-XXXXXX", path[300];
    int port = 0;
    pid_t *child;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/sessions.db", dir);
    child = fork_server(path, &port);
    px = px_start(port);
    l = loop_new();
    c = rcw_client(l, px, 100, &w);
    e2e_e2e_client_on_blob(c, rcw_blob, &w);
    f.count = 5;
    f.size = 24;
    assert_true(e2e_e2e_client_request_flood(c, &f, 20000, rcw_reply, &w) >= 0);
    assert_true(svc_until(l, NULL, &w.replies, 1));
    assert_int_equal(w.blobs, 5);
    child_kill(child);

    g_storage = path;
    start(&h, 0, 0);
    atomic_store(&px->target, h.port);
    /* frames for the restored session before the client is back */
    tc_hello(&other, h.port, "u2", NULL, 0);
    tc_flood(&other, 3, 1);
    tc_read_until(&other, 3, 1);
    assert_true(svc_until(l, &w.blobs, NULL, 8));
    assert_int_equal(w.opens, 2);
    assert_int_equal(w.recoveries, 1);
    assert_int_equal(w.recovered_resumed, 1);
    assert_int_equal(w.seq_errors, 1); /* the one restart of the count: 6 -> 1 */
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_true(info.resumed);
    assert_true(info.recovery_failed);
    assert_int_equal(info.last_seq, 3);
    assert_int_equal(e2e_log_count("connect:u1:-"), 0);

    verani_client_destroy(c);
    loop_free(l);
    px_stop(px);
    tc_close(&other);
    e2e_server_stop(&h);
    g_storage = NULL;
    remove_db(dir, path);
}

/* A client that says goodbye (close 1000, or 1001 as a closing browser tab sends) ends its
 * session at once: on_disconnect runs long before the (10-minute) grace period would end, and
 * its token starts a fresh session. */
static void test_goodbye_ends_session(void **state)
{
    static const int codes[2] = {1000, 1001};
    e2e_server h;
    tc a, b;
    int i;

    (void)state;
    start(&h, 600000, 0);
    for (i = 0; i < 2; i++) {
        tc_hello(&a, h.port, "u1", NULL, 0);
        tc_close_code(&a, codes[i]);
        e2e_wait_log_n("disconnect:u1", 2 * i + 1);
        tc_hello(&b, h.port, "u1", a.token, 0);
        assert_false(b.resumed);
        assert_string_not_equal(b.client_id, a.client_id);
        tc_close(&b);
        e2e_wait_log_n("disconnect:u1", 2 * i + 2);
    }
    e2e_server_stop(&h);
}

/* resume_grace_ms = VERANI_RESUME_OFF: a cut ends the session at once (on_disconnect), and
 * its token starts a fresh session; so does the token of a session still connected, which
 * keeps its connection (a resume would have taken it over). */
static void test_resume_off(void **state)
{
    e2e_server h;
    tc a, b, c;

    (void)state;
    start(&h, VERANI_RESUME_OFF, 0);
    tc_hello(&a, h.port, "u1", NULL, 0);
    tc_flood(&a, 3, 1);
    tc_read_until(&a, 3, 1);
    tc_cut(&a);
    e2e_wait_log_n("disconnect:u1", 1);
    tc_hello(&b, h.port, "u1", a.token, a.last_seq);
    assert_false(b.resumed);
    assert_false(b.recovery_failed);
    assert_int_equal(b.welcome_seq, 0);
    assert_int_equal(e2e_log_count("connect:u1:-"), 2);

    tc_hello(&c, h.port, "u1", b.token, 0);
    assert_false(c.resumed);
    assert_string_not_equal(c.client_id, b.client_id);
    assert_int_equal(e2e_log_count("connect:u1:-"), 3);
    tc_flood(&b, 2, 1); /* b's connection goes on */
    tc_read_until(&b, 2, 1);
    assert_int_equal(e2e_log_count("disconnect:u1"), 1);
    tc_close(&c);
    tc_close(&b);
    e2e_wait_log_n("disconnect:u1", 3);
    e2e_server_stop(&h);
}

static const vt_case cases[] = {
    VT_CASE(test_cut_mid_stream, ""),
    VT_CASE(test_folded_cut_mid_stream, ""),
    VT_CASE(test_grace_period, ""),
    VT_CASE(test_bad_tokens, ""),
    VT_CASE(test_welcome_lost, ""),
    VT_CASE(test_recovery_failed, ""),
    VT_CASE(test_old_connection_replaced, ""),
    VT_CASE(test_idle_close_keeps_frames, ""),
    VT_CASE(test_idle_close_resumes_before_answer, ""),
    VT_CASE(test_real_client_sees_gaps, ""),
    VT_CASE(test_real_client, ""),
    VT_CASE(test_real_client_recovery, ""),
    VT_CASE(test_request_across_resume, ""),
    VT_CASE(test_request_fresh_session, ""),
    VT_CASE(test_request_recovery_failed, ""),
    VT_CASE(test_graceful_restart, ""),
    VT_CASE(test_request_during_stop, ""),
    VT_CASE(test_detached_emit_during_stop, ""),
    VT_CASE(test_sigkill_restart, ""),
    VT_CASE(test_goodbye_ends_session, ""),
    VT_CASE(test_real_client_crash, ""),
    VT_CASE(test_resume_off, ""),
};

/* `test_resume test_<case>` runs one case (each is a CTest test resume_<case>). */
int main(int argc, char **argv)
{
    return vt_main("resume", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
