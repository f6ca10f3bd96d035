/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_storage.c: room storage moves with its instance (issue 17, first part:
 * shared/SCALEOUT.md section 3.7). Three nodes of one cluster against a real redis-server.
 * A handler writes room storage in every way the API allows: in a transaction, in a
 * savepoint rolled back, in a transaction rolled back, outside any transaction, and a delete;
 * what committed (and only that) reaches the instance's hash in Redis. When the instance
 * moves, by a graceful stop or by being released when idle, the next owner reads what the
 * last one wrote. The output gate holds a frame of a turn that wrote until Redis has the
 * writes (and what follows behind it), never one of a turn that did not, and a replay to a
 * client that resumes meanwhile waits as well; a deposed owner's writes are refused and its
 * held frames never leave. Redis's outages are test_cluster_outage.c's. Every wait is
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
#include "storage_util.h"

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
    cluster_counting(&cl, 0, NULL);
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
    cluster_counting(&cl, 0, NULL);
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
    cluster_counting(&cl, 200, NULL);
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

/* While node A's link to Redis holds every byte (the fault proxy), a frame of a turn that
 * wrote storage is not sent, and what follows it waits behind it; a frame of a turn that did
 * not write goes at once. Once Redis has the writes, both arrive, in order. */
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

static const vt_case cases[] = {
    VT_CASE(test_output_gate, ""),
    VT_CASE(test_gate_holds_replay, ""),
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
