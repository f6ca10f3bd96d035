/* SPDX-License-Identifier: MIT */
/*
 * test_defer.c: deferred replies (verani_ctx_defer, verani_reply_send / _error, the generated
 * e2e_e2e_reply_echo) and the worker pool (verani_ctx_post), through a real server and real
 * clients on loopback.
 *
 * The E2e room is mounted with a handler table of this file's: its `echo` request takes a
 * command in its text ("direct", "loop", "thread 30", "job gated", "hold", "release"...) and
 * answers it directly, deferred, from a thread or from a worker job. A job's `work` named
 * "gated" waits (on its worker thread) until the test opens the gate, so a test can hold a
 * job running for as long as it needs without timing anything.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "cases.h"
#include "cleanup.h"
#include "deadline.h"
#include "e2e_room.h"
#include "e2e_util.h"
#include "rawclient.h"

/* --- the room's side ------------------------------------------------------------ */

static atomic_int gate_open;         /* a "gated" job's work returns once it is set */
static verani_reply *held;           /* "hold"'s handle (loop thread only) */

/* Wait on a worker thread until the test opens the gate (bounded: a test that failed before
 * opening it must not hang the server's stop forever). */
static void gate_wait(void)
{
    int64_t d = dl_after(DL_WAIT_MS);

    while (!atomic_load(&gate_open) && !dl_passed(d)) {
        struct timespec ts = {0, 1000000};

        nanosleep(&ts, NULL);
    }
}

typedef struct job {
    char tag[16];
    verani_reply *reply;             /* NULL: a job with nobody to answer */
} job;

static void job_work(void *arg)
{
    job *j = arg;

    e2e_log("work:%s", j->tag);
    if (!strncmp(j->tag, "gated", 5))
        gate_wait();
}

static int reply_text(verani_reply *r, const char *text)
{
    E2e__Echo m = E2E__ECHO__INIT;

    m.text = (char *)text;
    return e2e_e2e_reply_echo(r, &m);
}

/* Back on the loop thread: answer the job's request with "job <tag>" (or an error when the
 * job never ran), and log where it ran. */
static void job_done(verani_ctx *ctx, void *arg, int status)
{
    job *j = arg;
    char text[32];

    e2e_log("done:%s:%s:%s:%d", j->tag, verani_ctx_instance(ctx),
            verani_ctx_session(ctx) ? "session" : "none", status);
    if (j->reply) {
        snprintf(text, sizeof(text), "job %s", j->tag);
        if (status)
            (void)verani_reply_error(j->reply, "cancelled");
        else
            (void)reply_text(j->reply, text);
    }
    free(j);
}

typedef struct later {
    verani_reply *reply;
    unsigned ms;
} later;

static void *later_main(void *arg)
{
    later *w = arg;
    struct timespec ts = {w->ms / 1000, (long)(w->ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
    e2e_log("thread-sent:%d", reply_text(w->reply, "thread"));
    free(w);
    return NULL;
}

/* "job <tag>" / "job-noreply <tag>": post a job; the first defers the request's reply to
 * its completion. */
static int cmd_job(verani_ctx *ctx, const char *tag, int with_reply, E2e__Echo *out)
{
    job *j = calloc(1, sizeof(*j));
    int r;

    if (!j)
        return VERANI_ENOMEM;
    snprintf(j->tag, sizeof(j->tag), "%s", tag);
    j->reply = with_reply ? verani_ctx_defer(ctx) : NULL;
    if (with_reply && !j->reply) {
        free(j);
        return VERANI_ESTATE;
    }
    r = verani_ctx_post(ctx, job_work, job_done, j);
    if (r) {
        char msg[32];

        snprintf(msg, sizeof(msg), "post %d", r);
        if (j->reply)
            (void)verani_reply_error(j->reply, msg);
        free(j);
        out->text = verani_ctx_strdup(ctx, msg);
        return 0;
    }
    out->text = "posted"; /* ignored when deferred */
    return 0;
}

/* verani_deferred_replies_dropped_total, from the metrics text. */
static long dropped(verani_ctx *ctx)
{
    static char buf[65536];
    const char *k = "\nverani_deferred_replies_dropped_total ";
    const char *p;

    verani_server_metrics_text(verani_ctx_server(ctx), buf, sizeof(buf));
    p = strstr(buf, k);
    return p ? strtol(p + strlen(k), NULL, 10) : -1;
}

static int h_echo(verani_ctx *ctx, const E2e__Echo *in, E2e__Echo *out)
{
    char tag[16] = "";
    unsigned ms = 0;
    verani_reply *r;

    if (!strcmp(in->text, "direct")) {
        out->text = "direct";
    } else if (!strcmp(in->text, "loop")) {
        out->text = "ignored: the reply was deferred";
        r = verani_ctx_defer(ctx);
        return r ? reply_text(r, "loop") : VERANI_ESTATE;
    } else if (!strcmp(in->text, "twice")) {
        r = verani_ctx_defer(ctx);
        e2e_log("second:%s", verani_ctx_defer(ctx) ? "handle" : "null");
        return r ? reply_text(r, "twice") : VERANI_ESTATE;
    } else if (sscanf(in->text, "thread %u", &ms) == 1) {
        later *w = calloc(1, sizeof(*w));
        pthread_t t;

        if (!w || !(w->reply = verani_ctx_defer(ctx))) {
            free(w);
            return VERANI_ENOMEM;
        }
        w->ms = ms;
        if (pthread_create(&t, NULL, later_main, w)) {
            (void)verani_reply_error(w->reply, "no thread");
            free(w);
            return 0;
        }
        pthread_detach(t);
    } else if (sscanf(in->text, "job-noreply %15s", tag) == 1) {
        return cmd_job(ctx, tag, 0, out);
    } else if (sscanf(in->text, "job %15s", tag) == 1) {
        return cmd_job(ctx, tag, 1, out);
    } else if (!strcmp(in->text, "hold") || !strcmp(in->text, "fail-after-defer")) {
        if (held || !(held = verani_ctx_defer(ctx)))
            return VERANI_ESTATE;
        e2e_log("held");
        return in->text[0] == 'f' ? VERANI_EIO : 0;
    } else if (!strcmp(in->text, "release") || !strcmp(in->text, "release-error")) {
        int rc = in->text[7] ? verani_reply_error(held, "nope") : reply_text(held, "late");

        held = NULL;
        e2e_log("released:%d", rc);
        out->text = "released";
    } else if (!strcmp(in->text, "wrongtype")) {
        E2e__Count c = E2E__COUNT__INIT;

        r = verani_ctx_defer(ctx);
        e2e_log("wrongtype:%d", verani_reply_send(r, &c.base));
    } else if (!strcmp(in->text, "dropped")) {
        char *t = verani_ctx_alloc(ctx, 32);

        if (!t)
            return VERANI_ENOMEM;
        snprintf(t, 32, "dropped %ld", dropped(ctx));
        out->text = t;
    } else if (!strcmp(in->text, "bad-post")) {
        char *t = verani_ctx_alloc(ctx, 48);

        if (!t)
            return VERANI_ENOMEM;
        snprintf(t, 48, "bad %d %d %d %d", verani_ctx_post(NULL, job_work, job_done, NULL),
                 verani_ctx_post(ctx, NULL, job_done, NULL),
                 verani_ctx_post(ctx, job_work, NULL, NULL),
                 verani_reply_send(NULL, NULL));
        out->text = t;
    } else {
        return VERANI_EINVAL;
    }
    return 0;
}

/* An event with no reply: there is nothing to defer. */
static int h_poke(verani_ctx *ctx)
{
    e2e_log("poke-defer:%s", verani_ctx_defer(ctx) ? "handle" : "null");
    return 0;
}

static void on_error(verani_ctx *ctx, int err, const char *what)
{
    (void)ctx;
    e2e_log("error:%d:%s", err, what);
}

static void on_disconnect(verani_ctx *ctx)
{
    e2e_log("disconnect:%s", verani_ctx_user_id(ctx));
}

static void on_instance_stop(verani_ctx *ctx)
{
    e2e_log("stop:%s", verani_ctx_instance(ctx));
}

static const e2e_e2e_handlers defer_handlers = {
    .hooks = {.on_error = on_error, .on_instance_stop = on_instance_stop,
              .on_disconnect = on_disconnect},
    .echo = h_echo,
    .poke = h_poke,
};

static int mount_defer(verani_server *srv)
{
    return e2e_e2e_mount(srv, &defer_handlers, NULL);
}

/* --- the client's side ---------------------------------------------------------- */

static void start(e2e_server *h, uint32_t workers, void (*more)(verani_server_options *o))
{
    verani_server_options o;

    e2e_server_options(&o);
    o.workers = workers;
    if (more)
        more(&o);
    atomic_store(&gate_open, 0);
    held = NULL;
    e2e_log_reset();
    e2e_server_start_rooms(h, &o, mount_defer, NULL, NULL);
}

/* Stop the server with the gate open (a failed test must not leave a job waiting). */
static void stop(e2e_server *h)
{
    atomic_store(&gate_open, 1);
    e2e_server_stop(h);
}

static uint64_t send_cmd(rc_conn *c, const char *cmd)
{
    static uint64_t next_id = 100;
    E2e__Echo e = E2E__ECHO__INIT;
    uint64_t rid = ++next_id;

    e.text = (char *)cmd;
    assert_int_equal(rc_send_event(c, VERANI__WIRE__KIND__REQUEST, E2E_EV_ECHO, &e.base, rid), 0);
    return rid;
}

typedef struct want_answer {
    rc_conn *c;
    uint64_t rid;
} want_answer;

static int p_answer(void *arg)
{
    want_answer *w = arg;

    return rc_answer(w->c, w->rid) != NULL || w->c->closed;
}

/* Wait for the answer to `rid` and return it: the REPLY's text, or "error <code> <message>"
 * (static). Fails the test when none comes. */
static const char *answer_of(rc_loop *l, rc_conn *c, uint64_t rid)
{
    static char text[160];
    want_answer w = {c, rid};
    const rc_env *r;

    (void)rc_wait(l, p_answer, &w, DL_WAIT_MS);
    r = rc_answer(c, rid);
    if (!r)
        fail_msg("no answer to request %llu", (unsigned long long)rid);
    if (r->kind == VERANI__WIRE__KIND__REPLY) {
        E2e__Echo *got = e2e__echo__unpack(NULL, r->payload.len, r->payload.data);

        assert_non_null(got);
        snprintf(text, sizeof(text), "%s", got->text);
        e2e__echo__free_unpacked(got, NULL);
    } else {
        assert_int_equal(r->kind, VERANI__WIRE__KIND__ERROR);
        assert_non_null(r->error);
        snprintf(text, sizeof(text), "error %d %s", r->error->code,
                 r->error->message ? r->error->message : "");
    }
    return text;
}

static const char *ask(rc_loop *l, rc_conn *c, const char *cmd)
{
    return answer_of(l, c, send_cmd(c, cmd));
}

static rc_conn *join(rc_loop *l, int port, const char *path)
{
    rc_conn *c = e2e_join(l, port, path);

    c->keep = 1;
    return c;
}

/* --- the cases ------------------------------------------------------------------ */

/* A direct reply, a deferred one answered in the handler and one answered from another
 * thread all arrive, as REPLYs in seq order; a second defer of the same request, and a defer
 * in an event that has no reply, get no handle. */
static void test_reply_forms(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;

    (void)state;
    start(&h, 0, NULL);
    l = rc_loop_create();
    a = join(l, h.port, "/e2e/d1?userId=a");
    assert_string_equal(ask(l, a, "direct"), "direct");
    assert_string_equal(ask(l, a, "loop"), "loop");
    assert_string_equal(ask(l, a, "thread 30"), "thread");
    e2e_wait_log(l, "thread-sent:0");
    assert_string_equal(ask(l, a, "twice"), "twice");
    assert_int_equal(e2e_log_count("second:null"), 1);
    assert_int_equal(rc_send_event(a, VERANI__WIRE__KIND__EVENT, E2E_EV_POKE, NULL, 0), 0);
    e2e_wait_log(l, "poke-defer:null");
    assert_int_equal(rc_count(a, VERANI__WIRE__KIND__REPLY), 4);
    assert_int_equal(a->seq_errors, 0);
    assert_string_equal(ask(l, a, "dropped"), "dropped 0");
    rc_loop_destroy(l);
    stop(&h);
}

typedef struct want_pong {
    rc_conn *c;
} want_pong;

static int p_pong(void *arg)
{
    want_pong *w = arg;

    return rc_count(w->c, VERANI__WIRE__KIND__PONG) > 0 || w->c->closed;
}

/* A job that runs for as long as the test wants (its work waits on a worker thread) does not
 * hold the loop: while it runs, a PING and a direct request in another instance are
 * answered; then the job's completion runs on the loop with the posting session and answers
 * the deferred request. How long the PING took is printed, never asserted. */
static void test_job_does_not_block_the_loop(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a, *b;
    rc_env ping = VERANI__WIRE__ENVELOPE__INIT;
    want_pong wp;
    uint64_t rid;
    int64_t t0;

    (void)state;
    start(&h, 2, NULL);
    l = rc_loop_create();
    a = join(l, h.port, "/e2e/j1?userId=a");
    b = join(l, h.port, "/e2e/j2?userId=b");
    rid = send_cmd(a, "job gated");
    e2e_wait_log(l, "work:gated");
    ping.has_kind = 1;
    ping.kind = VERANI__WIRE__KIND__PING;
    ping.has_request_id = 1;
    ping.request_id = 7;
    t0 = dl_now_ms();
    assert_int_equal(rc_send_env(b, &ping), 0);
    wp.c = b;
    assert_true(rc_wait(l, p_pong, &wp, DL_WAIT_MS));
    print_message("PING answered in %lld ms while a worker job ran\n",
                  (long long)(dl_now_ms() - t0));
    assert_string_equal(ask(l, b, "direct"), "direct");
    assert_null(rc_answer(a, rid));
    assert_int_equal(e2e_log_count("done:gated:j1:session:0"), 0);
    atomic_store(&gate_open, 1);
    assert_string_equal(answer_of(l, a, rid), "job gated");
    assert_int_equal(e2e_log_count("done:gated:j1:session:0"), 1);
    assert_int_equal(a->seq_errors, 0);
    rc_loop_destroy(l);
    stop(&h);
}

/* "error <HANDLER_FAILED> <message>" */
static const char *failed(const char *message)
{
    static char text[160];

    snprintf(text, sizeof(text), "error %d %s", VERANI__WIRE__ERROR_CODE__HANDLER_FAILED,
             message);
    return text;
}

/* A handler that fails after deferring answers with HANDLER_FAILED, and the handle's later
 * answer is dropped (counted); a reply of the wrong type answers HANDLER_FAILED and returns
 * EINVAL; verani_reply_error's message reaches the client; bad arguments are refused. */
static void test_errors(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;
    uint64_t rid;

    (void)state;
    start(&h, 1, NULL);
    l = rc_loop_create();
    a = join(l, h.port, "/e2e/e1?userId=a");
    rid = send_cmd(a, "fail-after-defer");
    assert_string_equal(answer_of(l, a, rid), failed("the server failed to handle the event"));
    e2e_wait_log(l, "error:-5:handler for 'echo' failed after deferring its reply: "
                    "input/output error");
    assert_string_equal(ask(l, a, "release"), "released");
    assert_int_equal(e2e_log_count("released:0"), 1);
    assert_string_equal(ask(l, a, "dropped"), "dropped 1");
    assert_int_equal(rc_count(a, VERANI__WIRE__KIND__REPLY), 2); /* release, dropped */
    assert_string_equal(ask(l, a, "wrongtype"), failed("the server failed to handle the event"));
    assert_int_equal(e2e_log_count("wrongtype:-1"), 1);
    rid = send_cmd(a, "hold");
    e2e_wait_log(l, "held");
    assert_string_equal(ask(l, a, "release-error"), "released");
    assert_string_equal(answer_of(l, a, rid), failed("nope"));
    assert_string_equal(ask(l, a, "bad-post"), "bad -1 -1 -1 -1");
    assert_string_equal(ask(l, a, "dropped"), "dropped 1");
    rc_loop_destroy(l);
    stop(&h);
}

static void more_resume_off(verani_server_options *o)
{
    o->resume_grace_ms = VERANI_RESUME_OFF;
}

/* An answer for a session that ended (resume off: its connection's end ends it) is dropped
 * and counted; nothing else is disturbed. */
static void test_session_gone(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a, *b;

    (void)state;
    start(&h, 0, more_resume_off);
    l = rc_loop_create();
    a = join(l, h.port, "/e2e/g1?userId=a");
    b = join(l, h.port, "/e2e/g1?userId=b");
    (void)send_cmd(a, "hold");
    e2e_wait_log(l, "held");
    rc_close(a);
    e2e_wait_log(l, "disconnect:a");
    assert_string_equal(ask(l, b, "release"), "released");
    assert_int_equal(e2e_log_count("released:0"), 1);
    assert_string_equal(ask(l, b, "dropped"), "dropped 1");
    rc_loop_destroy(l);
    stop(&h);
}

/* A bare client for the resume case: the raw socket, its welcome. */
typedef struct tc {
    int fd;
    char token[80], epoch[20];
    int resumed;
} tc;

static int tc_send(int fd, const rc_env *env)
{
    uint8_t buf[512];
    size_t n = verani__wire__envelope__get_packed_size(env);

    assert_true(n <= sizeof(buf));
    verani__wire__envelope__pack(env, buf);
    return rc_tcp_send_frame(fd, 2, buf, n);
}

/* The next envelope (pings skipped); NULL on close or after the deadline. */
static rc_env *tc_read(int fd)
{
    static uint8_t buf[4096];
    size_t len = 0;
    int op;

    for (;;) {
        op = rc_tcp_read_frame(fd, (int)DL_WAIT_MS, buf, sizeof(buf), &len);
        if (op == 9 || op == 10)
            continue;
        return op == 2 ? verani__wire__envelope__unpack(NULL, len, buf) : NULL;
    }
}

/* Connect to /e2e/r9 as `user` and say HELLO (resuming `token` after seq 0 when set). */
static void tc_hello(tc *c, int port, const char *token, const char *epoch)
{
    rc_env env = VERANI__WIRE__ENVELOPE__INIT;
    Verani__Wire__Hello hello = VERANI__WIRE__HELLO__INIT;
    rc_env *w;

    c->fd = rc_tcp_connect(port, 0);
    assert_true(c->fd >= 0);
    assert_int_equal(rc_tcp_upgrade(c->fd, "/e2e/r9?userId=a", NULL, 0), 101);
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__HELLO;
    hello.has_protocol = 1;
    hello.protocol = 1;
    if (token) {
        hello.resume_token = (char *)token;
        hello.has_last_seq = 1;
        hello.last_seq = 0;
        hello.epoch = (char *)epoch;
    }
    env.hello = &hello;
    assert_int_equal(tc_send(c->fd, &env), 0);
    w = tc_read(c->fd);
    assert_non_null(w);
    assert_int_equal(w->kind, VERANI__WIRE__KIND__WELCOME);
    snprintf(c->token, sizeof(c->token), "%s", w->welcome->resume_token);
    snprintf(c->epoch, sizeof(c->epoch), "%s", w->welcome->epoch);
    c->resumed = w->welcome->resumed;
    verani__wire__envelope__free_unpacked(w, NULL);
}

/* A reply deferred while its client's connection drops (no close frame: the session waits
 * for a resume) and answered meanwhile waits in the resume window: the resumed client gets
 * it, with its request id and seq. */
static void test_reply_across_resume(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *b;
    rc_env req = VERANI__WIRE__ENVELOPE__INIT;
    E2e__Echo e = E2E__ECHO__INIT;
    uint8_t payload[32];
    rc_env *got;
    E2e__Echo *m;
    tc c;

    (void)state;
    start(&h, 0, NULL);
    l = rc_loop_create();
    b = join(l, h.port, "/e2e/r9?userId=b");
    tc_hello(&c, h.port, NULL, NULL);
    e.text = "hold";
    req.has_kind = 1;
    req.kind = VERANI__WIRE__KIND__REQUEST;
    req.has_event = 1;
    req.event = E2E_EV_ECHO;
    req.has_request_id = 1;
    req.request_id = 4242;
    req.has_payload = 1;
    req.payload.len = e2e__echo__pack(&e, payload);
    req.payload.data = payload;
    assert_int_equal(tc_send(c.fd, &req), 0);
    e2e_wait_log(l, "held");
    close(c.fd); /* cut: no close frame, so the session waits for a resume */
    assert_string_equal(ask(l, b, "release"), "released");
    assert_int_equal(e2e_log_count("released:0"), 1);
    tc_hello(&c, h.port, c.token, c.epoch);
    assert_true(c.resumed);
    got = tc_read(c.fd);
    assert_non_null(got);
    assert_int_equal(got->kind, VERANI__WIRE__KIND__REPLY);
    assert_int_equal(got->request_id, 4242);
    assert_true(got->has_seq);
    assert_int_equal(got->seq, 1);
    m = e2e__echo__unpack(NULL, got->payload.len, got->payload.data);
    assert_non_null(m);
    assert_string_equal(m->text, "late");
    e2e__echo__free_unpacked(m, NULL);
    verani__wire__envelope__free_unpacked(got, NULL);
    close(c.fd);
    assert_string_equal(ask(l, b, "dropped"), "dropped 0");
    rc_loop_destroy(l);
    stop(&h);
}

static void more_one_worker_queue(verani_server_options *o)
{
    o->worker_queue_max = 1;
}

/* Past worker_queue_max jobs waiting, a post is refused with VERANI_EFULL (the handler
 * answers with it); without workers with VERANI_ESTATE; the accepted ones all complete. */
static void test_queue_bounds(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;
    uint64_t r1, r2;
    char want[32];

    (void)state;
    start(&h, 1, more_one_worker_queue);
    l = rc_loop_create();
    a = join(l, h.port, "/e2e/q1?userId=a");
    r1 = send_cmd(a, "job gated");
    e2e_wait_log(l, "work:gated");  /* running: the queue is empty again */
    r2 = send_cmd(a, "job q1");     /* waits in the queue */
    snprintf(want, sizeof(want), "post %d", VERANI_EFULL);
    assert_string_equal(ask(l, a, "job q2"), failed(want));
    atomic_store(&gate_open, 1);
    assert_string_equal(answer_of(l, a, r1), "job gated");
    assert_string_equal(answer_of(l, a, r2), "job q1");
    rc_loop_destroy(l);
    stop(&h);

    start(&h, 0, NULL);
    l = rc_loop_create();
    a = join(l, h.port, "/e2e/q2?userId=a");
    snprintf(want, sizeof(want), "post %d", VERANI_ESTATE);
    assert_string_equal(ask(l, a, "job x"), failed(want));
    rc_loop_destroy(l);
    stop(&h);
}

static void more_short_idle(verani_server_options *o)
{
    o->instance_idle_ms = 50;
    o->resume_grace_ms = VERANI_RESUME_OFF;
}

/* A job keeps its instance in memory until its completion ran, even with no session left:
 * the completion runs with the instance (and no session), then the instance is freed. */
static void test_job_pins_instance(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;

    (void)state;
    start(&h, 1, more_short_idle);
    l = rc_loop_create();
    a = join(l, h.port, "/e2e/pin?userId=a");
    assert_string_equal(ask(l, a, "job-noreply gated"), "posted");
    e2e_wait_log(l, "work:gated");
    rc_close(a);
    assert_true(rc_wait(l, e2e_p_closed, a, DL_WAIT_MS));
    rc_settle(l, 300); /* six idle periods: an unpinned instance would be gone */
    assert_int_equal(e2e_log_count("stop:pin"), 0);
    atomic_store(&gate_open, 1);
    e2e_wait_log(l, "done:gated:pin:none:0");
    e2e_wait_log(l, "stop:pin");
    rc_loop_destroy(l);
    stop(&h);
}

/* A graceful stop runs the completion of every job (the running one with its result; one
 * not started yet with VERANI_ECLOSED, unless it got a worker first) and answers what is
 * still deferred, all before the sessions' 1012. */
static void test_stop_answers_everything(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;
    uint64_t r1, r2, r3;
    const char *second;

    (void)state;
    start(&h, 1, NULL);
    l = rc_loop_create();
    a = join(l, h.port, "/e2e/s1?userId=a");
    r1 = send_cmd(a, "job gated");
    e2e_wait_log(l, "work:gated");
    r2 = send_cmd(a, "job q1");
    r3 = send_cmd(a, "hold");
    e2e_wait_log(l, "held");
    verani_server_stop(h.srv);
    rc_settle(l, 100); /* the stop, most likely, cancels q1 before the gate opens */
    atomic_store(&gate_open, 1);
    assert_true(rc_wait(l, e2e_p_closed, a, DL_WAIT_MS));
    /* 1012, which libwebsockets 4.1's client parser hands over as 1002 */
    assert_true(a->close_code == 1012 || a->close_code == 1002);
    assert_string_equal(answer_of(l, a, r1), "job gated");
    second = answer_of(l, a, r2);
    if (strcmp(second, "job q1"))
        assert_string_equal(second, failed("cancelled"));
    assert_int_equal(e2e_log_count("done:q1:s1:session:-7") + e2e_log_count("done:q1:s1:session:0"),
                     1);
    assert_string_equal(answer_of(l, a, r3),
                        failed("the server stopped before the request was answered"));
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static const vt_case cases[] = {
    VT_CASE(test_reply_forms, "poll tsan"),
    VT_CASE(test_job_does_not_block_the_loop, "poll tsan"),
    VT_CASE(test_errors, ""),
    VT_CASE(test_session_gone, ""),
    VT_CASE(test_reply_across_resume, ""),
    VT_CASE(test_queue_bounds, "tsan"),
    VT_CASE(test_job_pins_instance, ""),
    VT_CASE(test_stop_answers_everything, "tsan"),
};

/* `test_defer test_<case>` runs one case (each is a CTest test defer_<case>; `poll`: also
 * defer_poll_<case> on lws's poll() loop). */
int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("defer", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
