/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_storage.c: room storage moves with its instance (issue 17, first part:
 * shared/SCALEOUT.md section 3.7). Three nodes of one cluster against a real redis-server.
 * A handler writes room storage in every way the API allows: in a transaction, in a
 * savepoint rolled back, in a transaction rolled back, outside any transaction, and a delete;
 * what committed (and only that) reaches the instance's hash in Redis. When the instance
 * moves, by a graceful stop or by being released when idle, the next owner reads what the
 * last one wrote. The output gate holds a frame of a turn that wrote until Redis has the
 * writes (and what follows behind it), never one of a turn that did not; through an outage
 * shorter than the lease nobody is disconnected and nothing is lost; a deposed owner's
 * writes are refused and its held frames never leave. Every wait is
 * bounded by a deadline; the windows that check that nothing arrived can only pass more
 * easily on a slow machine, never fail because of one.
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
#include <unistd.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>

#include <verani/verani.h>

#include "cases.h"
#include "cleanup.h"
#include "cluster_util.h"
#include "counting_room.h"
#include "deadline.h"
#include "e2e_client.h"
#include "e2e_room.h"
#include "fault_proxy.h"
#include "rawclient.h"

/* `idle_ms`: instances released after that long without sessions; then sessions end with
 * their connection (nothing waits for a resume, so an instance empties when its client goes). */
static void cluster_counting(cluster *cl, uint32_t idle_ms)
{
    cluster_cfg cfg;
    int i;

    memset(cl, 0, sizeof(*cl));
    memset(&cfg, 0, sizeof(cfg));
    cfg.idle_ms = idle_ms;
    cfg.no_resume = idle_ms != 0;
    for (i = 0; i < NODES; i++)
        cfg.mount[i] = mount_counting;
    cluster_start_cfg(cl, &cfg);
    wait_mesh(cl);
}

/* --- clients ---------------------------------------------------------------------------- */

static verani_client *client_at(verani_client_loop *loop, const char *hostport, const char *inst)
{
    verani_client_options o;
    verani_client *c;
    char url[160], err[256];

    verani_client_options_init(&o);
    snprintf(url, sizeof(url), "ws://%s/e2e/%s?userId=u1", hostport, inst);
    o.url = url;
    o.room = &e2e_e2e_schema;
    o.initial_delay_ms = 200;
    o.max_delay_ms = 1000;
    o.max_attempts = VERANI_CLIENT_UNLIMITED;
    c = verani_client_create(loop, &o, err, sizeof(err));
    if (!c)
        fail_msg("verani_client_create: %s", err);
    return c;
}

/* Until the client is connected again (its connection number past `before`): a request
 * written on a connection the server had already left would end only at its timeout. */
static void until_reconnected(verani_client_loop *loop, verani_client *c, uint64_t before)
{
    int64_t d = dl_after(DL_WAIT_MS);
    verani_client_info info;

    do {
        verani_client_loop_service(loop, 10);
        assert_int_equal(verani_client_get_info(c, &info), 0);
    } while ((info.connection_id <= before || info.state != VERANI_CLIENT_CONNECTED) &&
             !dl_passed(d));
    assert_true(info.connection_id > before && info.state == VERANI_CLIENT_CONNECTED);
}

/* --- Redis ------------------------------------------------------------------------------- */

static long long st_len(const rs_server *rs, const char *inst)
{
    redisContext *r = redisConnectUnix(rs->sock);
    redisReply *rep;
    long long n;

    assert_true(r && !r->err);
    rep = redisCommand(r, "HLEN vr:st:{E2e/%s}", inst);
    assert_non_null(rep);
    n = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    redisFree(r);
    return n;
}

/* Until Redis's copy says pokes = `want` (it trails the reply by the end of the turn). */
static void until_replicated(const rs_server *rs, const char *inst, const char *want)
{
    int64_t d = dl_after(DL_WAIT_MS);
    char v[32] = "";

    while (!dl_passed(d)) {
        stored_field(rs, inst, "pokes", v, sizeof(v));
        if (!strcmp(v, want))
            return;
        dl_nap_ms(10);
    }
    fail_msg("Redis holds pokes = '%s' for %s, not %s", v, inst, want);
}

/* --- the cases ---------------------------------------------------------------------------- */

/* What committed, and only that, is in Redis; the writes of a turn go as one script. */
static void test_committed_writes_replicated(void **state)
{
    cluster cl;
    verani_client_loop *loop;
    verani_client *c;
    char host[32], v[32];
    int i;

    (void)state;
    cluster_counting(&cl, 0);
    loop = client_loop();
    snprintf(host, sizeof(host), "127.0.0.1:%d", cl.node[0].port);
    c = client_at(loop, host, "s1");
    for (i = 0; i < 3; i++)
        assert_int_equal(e2e_e2e_client_emit_poke(c), 0);
    expect_count(loop, c, "3");
    until_replicated(cl.rs, "s1", "3");
    stored_field(cl.rs, "s1", "last", v, sizeof(v));
    assert_string_equal(v, "3");
    assert_int_equal(st_len(cl.rs, "s1"), 2); /* pokes, last: no ghost, sp-ghost, tmp */
    assert_true(metric(&cl, 0, "verani_cluster_storage_writes_total") >= 3 * 4);
    assert_int_equal(metric(&cl, 0, "verani_cluster_storage_batches_total{result=\"refused\"}"),
                     0);
    client_loop_end(loop);
    cluster_stop(&cl);
}

/* The owner stops gracefully; the next owner, where the balancer sends the client, reads the
 * count the first one wrote. */
static void test_storage_moves_on_stop(void **state)
{
    cluster cl;
    verani_client_loop *loop;
    verani_client *c;
    fault_proxy *lb;

    (void)state;
    cluster_counting(&cl, 0);
    lb = fp_start_tcp(cl.node[0].port);
    loop = client_loop();
    c = client_at(loop, fp_address(lb), "s2");
    assert_int_equal(e2e_e2e_client_emit_poke(c), 0);
    assert_int_equal(e2e_e2e_client_emit_poke(c), 0);
    expect_count(loop, c, "2");
    fp_retarget(lb, cl.node[1].port);
    e2e_server_stop(&cl.node[0]);
    until_reconnected(loop, c, 1);
    expect_count(loop, c, "2"); /* at node B, from its own file, loaded from Redis */
    assert_int_equal(e2e_e2e_client_emit_poke(c), 0);
    expect_count(loop, c, "3");
    until_replicated(cl.rs, "s2", "3");
    client_loop_end(loop);
    fp_free(lb);
    cluster_stop(&cl);
}

/* An instance released after its idle time is claimed by another node, which reads what the
 * first one wrote; and the first, claiming it again later, does not keep its stale copy. */
static void test_storage_moves_on_release(void **state)
{
    cluster cl;
    verani_client_loop *loop;
    verani_client *c;
    char host[32];
    int64_t d;

    (void)state;
    cluster_counting(&cl, 200);
    loop = client_loop();
    snprintf(host, sizeof(host), "127.0.0.1:%d", cl.node[0].port);
    c = client_at(loop, host, "s3");
    assert_int_equal(e2e_e2e_client_emit_poke(c), 0);
    expect_count(loop, c, "1");
    client_loop_end(loop); /* gone: the instance is released once idle */
    d = dl_after(DL_WAIT_MS);
    while (metric(&cl, 0, "verani_cluster_releases_total") < 1 && !dl_passed(d))
        dl_nap_ms(20);
    assert_true(metric(&cl, 0, "verani_cluster_releases_total") >= 1);

    loop = client_loop();
    snprintf(host, sizeof(host), "127.0.0.1:%d", cl.node[2].port);
    c = client_at(loop, host, "s3");
    expect_count(loop, c, "1"); /* node C's, loaded */
    assert_int_equal(e2e_e2e_client_emit_poke(c), 0);
    assert_int_equal(e2e_e2e_client_emit_poke(c), 0);
    expect_count(loop, c, "3");
    client_loop_end(loop);
    d = dl_after(DL_WAIT_MS);
    while (metric(&cl, 2, "verani_cluster_releases_total") < 1 && !dl_passed(d))
        dl_nap_ms(20);
    assert_true(metric(&cl, 2, "verani_cluster_releases_total") >= 1);

    loop = client_loop();
    snprintf(host, sizeof(host), "127.0.0.1:%d", cl.node[0].port);
    c = client_at(loop, host, "s3");
    expect_count(loop, c, "3"); /* node A again: Redis's count, not its own old "1" */
    client_loop_end(loop);
    cluster_stop(&cl);
}

/* --- the output gate --------------------------------------------------------------------- */

typedef struct heard {
    char texts[8][32];
    int n;
} heard;

static void on_chat(verani_client *c, const E2e__ChatOut *msg, void *user)
{
    heard *h = user;

    (void)c;
    if (h->n < 8)
        snprintf(h->texts[h->n++], sizeof(h->texts[0]), "%s", msg->text ? msg->text : "");
}

static void say(verani_client *c, const char *text)
{
    E2e__Cmd cmd = E2E__CMD__INIT;

    cmd.op = 1;
    cmd.arg = "default";
    cmd.text = (char *)text;
    assert_int_equal(e2e_e2e_client_request_cmd(c, &cmd, DL_WAIT_MS, NULL, NULL), 0);
}

static void until_heard(verani_client_loop *loop, heard *h, int n)
{
    int64_t d = dl_after(DL_WAIT_MS);

    while (h->n < n && !dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_true(h->n >= n);
}

/* While node A's link to Redis holds every byte (the fault proxy), a frame of a turn that
 * wrote storage is not sent, and what follows it waits behind it; a frame of a turn that did
 * not write goes at once. Once Redis has the writes, both arrive, in order. */
/* Three counting nodes, node A reaching Redis through a fault proxy (returned), with these
 * timings; clients x (hearing into `h`) and y of instance `inst` at node A, both connected. */
static fault_proxy *gate_setup(cluster *cl, uint32_t heartbeat_ms, uint32_t lease_ms,
                               uint32_t timeout_ms, verani_client_loop **loop,
                               verani_client **x, verani_client **y, const char *inst,
                               heard *h)
{
    cluster_cfg cfg;
    fault_proxy *fp;
    char host[32];
    int i;

    memset(h, 0, sizeof(*h));
    cluster_redis_start(cl);
    fp = fp_start(cl->rs->dir, cl->rs->sock);
    memset(&cfg, 0, sizeof(cfg));
    for (i = 0; i < NODES; i++)
        cfg.mount[i] = mount_counting;
    cfg.redis[0] = fp_address(fp);
    cfg.heartbeat_ms = heartbeat_ms;
    cfg.lease_ms = lease_ms;
    cfg.timeout_ms = timeout_ms;
    cluster_start_cfg(cl, &cfg);
    wait_mesh(cl);
    *loop = client_loop();
    snprintf(host, sizeof(host), "127.0.0.1:%d", cl->node[0].port);
    *x = client_at(*loop, host, inst);
    assert_int_equal(e2e_e2e_client_on_chat_out(*x, on_chat, h), 0);
    *y = client_at(*loop, host, inst);
    expect_count(*loop, *x, "0");
    expect_count(*loop, *y, "0");
    return fp;
}

static void test_output_gate(void **state)
{
    cluster cl;
    fault_proxy *fp;
    verani_client_loop *loop;
    verani_client *x, *y;
    heard h;
    int64_t d;

    (void)state;
    /* a hold much shorter than these: nothing times out or fences meanwhile */
    fp = gate_setup(&cl, 1000, 20000, 10000, &loop, &x, &y, "g1", &h);

    fp_set(fp, FP_HOLD);
    say(y, "free");             /* no write: not held */
    until_heard(loop, &h, 1);
    assert_string_equal(h.texts[0], "free");
    assert_int_equal(e2e_e2e_client_emit_poke(y), 0); /* writes: held */
    say(y, "after");            /* no write, but behind the held frame */
    d = dl_after(300);
    while (!dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_int_equal(h.n, 1);
    assert_true(fp_held(fp) > 0);

    fp_set(fp, FP_PASS);
    until_heard(loop, &h, 3);
    assert_string_equal(h.texts[1], "poke 1");
    assert_string_equal(h.texts[2], "after");
    until_replicated(cl.rs, "g1", "1");
    assert_int_equal(metric(&cl, 0, "verani_cluster_gate_pauses_total"), 0);
    client_loop_end(loop);
    cluster_stop(&cl);
    fp_free(fp);
}

/* Redis does not answer node A for longer than the command timeout, shorter than the lease:
 * nobody is disconnected; the instance's input is paused meanwhile; once Redis answers, the
 * batch is sent again and the held frame arrives, in order with what followed. */
static void test_short_outage(void **state)
{
    cluster cl;
    fault_proxy *fp;
    verani_client_loop *loop;
    verani_client *x, *y;
    verani_client_info ix, iy;
    heard h;
    int64_t d;

    (void)state;
    fp = gate_setup(&cl, 300, 8000, 600, &loop, &x, &y, "g2", &h);
    fp_set(fp, FP_HOLD);
    assert_int_equal(e2e_e2e_client_emit_poke(y), 0); /* writes: held */
    say(y, "after");
    d = dl_after(1500); /* past the command timeout: the engine drops the link, reconnects */
    while (!dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_int_equal(h.n, 0);
    fp_set(fp, FP_PASS);
    until_heard(loop, &h, 2);
    assert_string_equal(h.texts[0], "poke 1");
    assert_string_equal(h.texts[1], "after");
    until_replicated(cl.rs, "g2", "1");
    assert_int_equal(verani_client_get_info(x, &ix), 0);
    assert_int_equal(verani_client_get_info(y, &iy), 0);
    assert_int_equal(ix.connection_id, 1); /* never disconnected */
    assert_int_equal(iy.connection_id, 1);
    assert_true(metric(&cl, 0, "verani_cluster_gate_pauses_total") >= 1);
    assert_true(metric(&cl, 0, "verani_cluster_storage_batches_total{result=\"failed\"}") >= 1);
    expect_count(loop, y, "1"); /* its input goes on */
    client_loop_end(loop);
    cluster_stop(&cl);
    fp_free(fp);
}

/* Another node took the instance (its epoch in Redis moved on, as a claim after this node's
 * lease would move it): node A's next batch is refused and counted, Redis keeps what it had,
 * the frame of that turn is never released, and node A fences the instance and gives it up. */
static void test_deposed_writes_refused(void **state)
{
    cluster cl;
    fault_proxy *fp;
    verani_client_loop *loop;
    verani_client *x, *y;
    redisContext *r;
    redisReply *rep;
    heard h;
    int64_t d;

    (void)state;
    fp = gate_setup(&cl, 100, 1000, 500, &loop, &x, &y, "g3", &h);
    assert_int_equal(e2e_e2e_client_emit_poke(y), 0);
    until_heard(loop, &h, 1);
    until_replicated(cl.rs, "g3", "1");
    r = redisConnectUnix(cl.rs->sock);
    assert_true(r && !r->err);
    rep = redisCommand(r, "HINCRBY vr:own:{E2e/g3} epoch 1");
    assert_non_null(rep);
    freeReplyObject(rep);
    redisFree(r);
    assert_int_equal(e2e_e2e_client_emit_poke(y), 0); /* its batch: refused */
    d = dl_after(DL_WAIT_MS);
    while (metric(&cl, 0, "verani_cluster_storage_batches_total{result=\"refused\"}") < 1 &&
           !dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_int_equal(metric(&cl, 0, "verani_cluster_storage_batches_total{result=\"refused\"}"),
                     1);
    d = dl_after(DL_GENEROUS(LEASE_MS));
    while (metric(&cl, 0, "verani_cluster_fenced_instances_total{outcome=\"dropped\"}") < 1 &&
           !dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_int_equal(metric(&cl, 0, "verani_cluster_fenced_instances_total{outcome=\"dropped\"}"),
                     1);
    d = dl_after(200);
    while (!dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_int_equal(h.n, 1); /* "poke 2" never left node A */
    until_replicated(cl.rs, "g3", "1"); /* Redis kept its count */
    client_loop_end(loop);
    cluster_stop(&cl);
    fp_free(fp);
}

/* --- a raw client that drops and resumes (its frames checked one by one) ----------------- */

/* Upgrade to E2e/`inst` at `port` and say HELLO (resuming `token` after `last_seq` in `epoch`
 * when set); with `wait`, the WELCOME is checked and returned (the caller frees it). */
static rc_env *raw_hello(int *fd, int port, const char *inst, const char *token,
                         uint64_t last_seq, const char *epoch, int wait)
{
    rc_env env = VERANI__WIRE__ENVELOPE__INIT, *w;
    Verani__Wire__Hello h = VERANI__WIRE__HELLO__INIT;
    char path[64];

    *fd = rc_tcp_connect(port, 0);
    assert_true(*fd >= 0);
    snprintf(path, sizeof(path), "/e2e/%s?userId=raw", inst);
    assert_int_equal(rc_tcp_upgrade(*fd, path, NULL, 0), 101);
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__HELLO;
    h.has_protocol = 1;
    h.protocol = 1;
    if (token) {
        h.resume_token = (char *)token;
        h.has_last_seq = 1;
        h.last_seq = last_seq;
        h.epoch = (char *)epoch;
    }
    env.hello = &h;
    assert_int_equal(rc_tcp_send_env(*fd, &env), 0);
    if (!wait)
        return NULL;
    w = rc_tcp_read_env(*fd, DL_WAIT_MS);
    assert_non_null(w);
    assert_int_equal(w->kind, VERANI__WIRE__KIND__WELCOME);
    return w;
}

/* A client drops while the gate holds a frame for it and resumes before Redis has the
 * writes: its WELCOME (behind its session's record) and the replay of that frame wait for
 * Redis as the frame itself did, then arrive in order. */
static void test_gate_holds_replay(void **state)
{
    cluster cl;
    fault_proxy *fp;
    verani_client_loop *loop;
    verani_client *x, *y;
    rc_env *w, *e;
    char token[64], epoch[32];
    uint64_t seq;
    long long in0;
    int64_t d;
    heard h;
    int fd;

    (void)state;
    fp = gate_setup(&cl, 1000, 20000, 10000, &loop, &x, &y, "g4", &h);
    w = raw_hello(&fd, cl.node[0].port, "g4", NULL, 0, NULL, 1);
    snprintf(token, sizeof(token), "%s", w->welcome->resume_token);
    snprintf(epoch, sizeof(epoch), "%s", w->welcome->epoch);
    seq = w->welcome->seq;
    verani__wire__envelope__free_unpacked(w, NULL);

    in0 = metric(&cl, 0, "verani_frames_received_total");
    fp_set(fp, FP_HOLD);
    assert_int_equal(e2e_e2e_client_emit_poke(y), 0); /* writes: "poke 1" held for everyone */
    say(y, "after");                                   /* behind it */
    d = dl_after(DL_WAIT_MS); /* until node A has read both */
    while (metric(&cl, 0, "verani_frames_received_total") < in0 + 2 && !dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_true(metric(&cl, 0, "verani_frames_received_total") >= in0 + 2);
    e = rc_tcp_read_env(fd, 300);
    assert_null(e); /* held */
    close(fd);      /* the connection drops (no close frame): the session waits */
    dl_nap_ms(100);
    raw_hello(&fd, cl.node[0].port, "g4", token, seq, epoch, 0);
    e = rc_tcp_read_env(fd, 300);
    if (e)
        fail_msg("a frame (kind %d) left before Redis had the writes it waits for",
                 (int)e->kind);
    fp_set(fp, FP_PASS);
    w = rc_tcp_read_env(fd, DL_WAIT_MS);
    assert_non_null(w);
    assert_int_equal(w->kind, VERANI__WIRE__KIND__WELCOME);
    assert_true(w->welcome->resumed);
    verani__wire__envelope__free_unpacked(w, NULL);
    e = rc_tcp_read_env(fd, DL_WAIT_MS);
    assert_non_null(e);
    assert_int_equal(e->kind, VERANI__WIRE__KIND__EVENT);
    assert_int_equal(e->seq, seq + 1);
    verani__wire__envelope__free_unpacked(e, NULL);
    e = rc_tcp_read_env(fd, DL_WAIT_MS); /* "after", in order */
    assert_non_null(e);
    assert_int_equal(e->seq, seq + 2);
    verani__wire__envelope__free_unpacked(e, NULL);
    close(fd);
    client_loop_end(loop);
    cluster_stop(&cl);
    fp_free(fp);
}

/* Redis restarts empty (no persistence: its data is lost). The node sees the new incarnation
 * when it reconnects, and ends what it served: the client's session ends with on_disconnect
 * (no record of it survives anywhere) and the client starts a fresh one; the storage is what
 * Redis kept (nothing); the reset is counted. */
static void test_redis_wiped(void **state)
{
    cluster cl;
    verani_client_loop *loop;
    verani_client *c;
    verani_client_info before, after;
    char host[32];
    int64_t d;

    (void)state;
    cluster_counting(&cl, 0);
    loop = client_loop();
    snprintf(host, sizeof(host), "127.0.0.1:%d", cl.node[0].port);
    c = client_at(loop, host, "w1");
    assert_int_equal(e2e_e2e_client_emit_poke(c), 0);
    expect_count(loop, c, "1");
    until_replicated(cl.rs, "w1", "1");
    assert_int_equal(verani_client_get_info(c, &before), 0);
    assert_int_equal(e2e_log_count("disconnect:u1"), 0);

    rs_signal(cl.rs, SIGKILL);
    rs_restart(cl.rs); /* empty: the test's Redis keeps nothing on disk */
    d = dl_after(DL_GENEROUS(10 * LEASE_MS));
    do {
        verani_client_loop_service(loop, 10);
        assert_int_equal(verani_client_get_info(c, &after), 0);
    } while ((after.connection_id <= before.connection_id ||
              after.state != VERANI_CLIENT_CONNECTED) && !dl_passed(d));
    assert_int_equal(after.state, VERANI_CLIENT_CONNECTED);
    assert_false(after.resumed);
    assert_string_not_equal(after.client_id, before.client_id);
    assert_int_equal(e2e_log_count("disconnect:u1"), 1); /* the old session ended here */
    assert_true(metric(&cl, 0, "verani_cluster_resets_total") >= 1);
    expect_count(loop, c, "0"); /* the storage is what Redis kept */
    client_loop_end(loop);
    cluster_stop(&cl);
}

static const vt_case cases[] = {
    VT_CASE(test_redis_wiped, ""),
    VT_CASE(test_output_gate, ""),
    VT_CASE(test_gate_holds_replay, ""),
    VT_CASE(test_short_outage, ""),
    VT_CASE(test_deposed_writes_refused, ""),
    VT_CASE(test_committed_writes_replicated, ""),
    VT_CASE(test_storage_moves_on_stop, ""),
    VT_CASE(test_storage_moves_on_release, ""),
};

/* `test_cluster_storage test_<case>` runs one case (CTest: cluster_storage_<case>). */
int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("cluster_storage", cases, VT_N(cases), argc > 1 ? argv[1] : NULL,
                   cu_teardown);
}
