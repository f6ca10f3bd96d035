/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_outage.c: Redis goes away (issue 17; shared/SCALEOUT.md section 6, check 8),
 * with three counting nodes (counting_room.h) against a real redis-server.
 * - For less than the lease (a fault proxy holds node A's link past the command timeout):
 *   nobody is disconnected, the instance's input pauses, the held frame arrives once Redis
 *   has its write, in order with what followed.
 * - For longer than the lease (redis-server killed, on an append-only file with fsync always):
 *   every node fences (its /health and its upgrades answer 503, counted in its metrics), its
 *   clients are closed and keep trying; once Redis is back on its file, every node is live
 *   again, the owner finds its instance still its own, and both clients resume their sessions
 *   (same ids, recovery_failed never) with every frame once and in order; no write a client
 *   saw acknowledged is lost, and what was sent meanwhile arrives.
 * - Cut off from node A only, past A's lease, with A's writes on the wire (a partition): A
 *   fences, node B claims the instance and writes; A's writes reach Redis late and are
 *   refused by the epoch check, so B's storage stands.
 * - A resume taken while node A's link holds every byte: its WELCOME waits for the session
 *   record's write and A fences first (1012); the token the client presented resumes the
 *   session once A finds the instance still its own.
 * - Wiped (restarted with nothing on disk): fresh sessions, on_disconnect for the old one,
 *   the storage is what Redis kept, the reset is counted.
 * - Its scripts flushed again and again while an instance writes: no batch is applied out of
 *   order, and the output gate never stays shut.
 * Every wait is bounded by a deadline; a window that checks that nothing arrived can only
 * pass more easily on a slow machine, never fail because of one.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
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
#include "deadline.h"
#include "e2e_client.h"
#include "e2e_room.h"
#include "fault_proxy.h"
#include "rawclient.h"
#include "redis_server.h"
#include "storage_util.h"

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

/* --- a partition past the lease: late writes -------------------------------------------- */

/* SCALEOUT.md section 6 check 7, the partition: node A's link to Redis holds every byte (the
 * fault proxy) past A's lease, with storage writes of A on the wire (A counts 3, Redis 1).
 * A fences; node B claims the instance for a client of its own once A's lease is out, and
 * writes (2). When the partition heals, A's writes reach Redis late, from connections A has
 * long closed, and the epoch check refuses them: Redis keeps B's count and B's "last". */
static void test_late_writes_refused(void **state)
{
    cluster cl;
    fault_proxy *fp;
    verani_client_loop *loop;
    verani_client *x, *y, *z;
    char host[32], v[32];
    heard h;
    int64_t d;

    (void)state;
    fp = gate_setup(&cl, 100, 1000, 500, &loop, &x, &y, "g5", &h);
    assert_int_equal(e2e_e2e_client_emit_poke(y), 0);
    until_heard(loop, &h, 1);
    until_replicated(cl.rs, "g5", "1");

    fp_set(fp, FP_HOLD);
    assert_int_equal(e2e_e2e_client_emit_poke(y), 0); /* A counts 2, then 3: held */
    assert_int_equal(e2e_e2e_client_emit_poke(y), 0);
    d = dl_after(DL_GENEROUS(LEASE_MS + TIMEOUT_MS));
    do /* A fences once its lease is out */
        verani_client_loop_service(loop, 10);
    while (metric(&cl, 0, "verani_cluster_fenced_total") < 1 && !dl_passed(d));
    assert_true(metric(&cl, 0, "verani_cluster_fenced_total") >= 1);
    assert_true(fp_held(fp) > 0);
    d = dl_after(300);
    while (!dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_int_equal(h.n, 1); /* A's fence closed x without a frame of what it wrote since */
    verani_client_destroy(x); /* (their sessions would resume at B: not this test's subject) */
    verani_client_destroy(y);

    snprintf(host, sizeof(host), "127.0.0.1:%d", cl.node[1].port);
    z = client_at(loop, host, "g5");
    expect_count(loop, z, "1"); /* B claimed it: Redis's count, not A's 3 */
    assert_int_equal(e2e_e2e_client_emit_poke(z), 0);
    expect_count(loop, z, "2");
    until_replicated(cl.rs, "g5", "2");

    fp_set(fp, FP_PASS); /* the partition heals: A's held writes arrive */
    d = dl_after(DL_WAIT_MS);
    while ((fp_held(fp) > 0 || fp_late(fp) == 0) && !dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_true(fp_late(fp) > 0); /* they did reach Redis, late */
    d = dl_after(300);
    while (!dl_passed(d))
        verani_client_loop_service(loop, 10);
    until_replicated(cl.rs, "g5", "2"); /* and were refused */
    stored_field(cl.rs, "g5", "last", v, sizeof(v));
    assert_string_equal(v, "2");
    expect_count(loop, z, "2");
    client_loop_end(loop);
    cluster_stop(&cl);
    fp_free(fp);
}

/* --- Redis gone for longer than the lease ------------------------------------------------- */

static void count_recovery(verani_client *c, int resumed, void *user)
{
    (void)c;
    (void)resumed;
    ++*(int *)user;
}

/* Until every node's /health answers `status`. */
static void until_health(cluster *cl, int status, int64_t d)
{
    char resp[8192];
    int i, ok = 0;

    while (!ok && !dl_passed(d)) {
        ok = 1;
        for (i = 0; i < NODES && ok; i++)
            ok = rc_tcp_get(cl->node[i].port, "/health", resp, sizeof(resp)) == status;
        if (!ok)
            dl_nap_ms(20);
    }
    if (!ok)
        fail_msg("node %d's /health does not answer %d", i - 1, status);
}

/* The HTTP status of an upgrade to E2e/`inst` at node `i`. */
static int upgrade_status(cluster *cl, int i, const char *inst)
{
    char path[64];
    int fd = rc_tcp_connect(cl->node[i].port, 0), st;

    assert_true(fd >= 0);
    snprintf(path, sizeof(path), "/e2e/%s?userId=u9", inst);
    st = rc_tcp_upgrade(fd, path, NULL, 0);
    close(fd);
    return st;
}

/* Redis gone a moment ago, the node's lease still running: a connection to an instance no
 * node holds cannot have its claim sent, and is answered 503 with Retry-After, as every 503 of
 * a node that cannot serve now is (PROTOCOL.md section 1). */
static void test_claim_unsent_retry_after(void **state)
{
    cluster cl;
    cluster_cfg cfg;
    char head[2048], path[64];
    int fd, st, tries = 0;
    int64_t d;

    (void)state;
    memset(&cl, 0, sizeof(cl));
    memset(&cfg, 0, sizeof(cfg));
    cfg.lease_ms = 60000; /* the node stays in the cluster while the test looks */
    cluster_start_cfg(&cl, &cfg);
    wait_mesh(&cl);
    rs_signal(cl.rs, SIGKILL);
    d = dl_after(DL_WAIT_MS);
    do { /* until the node has seen its connections to Redis end (a claim sent before that
          * is accepted, then closed 1013): each try a fresh instance */
        dl_nap_ms(100);
        snprintf(path, sizeof(path), "/e2e/unsent%d?userId=u9", tries++);
        fd = rc_tcp_connect(cl.node[0].port, 0);
        assert_true(fd >= 0);
        st = rc_tcp_upgrade(fd, path, head, sizeof(head));
        close(fd);
    } while (st == 101 && !dl_passed(d));
    for (size_t k = 0; head[k]; k++) /* header names are case-insensitive */
        head[k] = (char)tolower((unsigned char)head[k]);
    if (st != 503 || !strstr(head, "retry-after: 1"))
        fail_msg("the upgrade got %d, want 503 with Retry-After: '%s'", st, head);
    cluster_stop(&cl);
}

static void test_long_outage(void **state)
{
    cluster cl;
    verani_client_loop *loop;
    verani_client *x, *y;
    verani_client_info ix0, iy0, ix, iy;
    int failed = 0, i;
    char host[32], want[16];
    heard h;
    int64_t d;

    (void)state;
    memset(&h, 0, sizeof(h));
    cluster_counting(&cl, 0, "--appendonly yes --appendfsync always");
    loop = client_loop();
    snprintf(host, sizeof(host), "127.0.0.1:%d", cl.node[0].port);
    x = client_at(loop, host, "o1");
    assert_int_equal(e2e_e2e_client_on_chat_out(x, on_chat, &h), 0);
    assert_true(verani_client_on_recovery_failed(x, count_recovery, &failed) > 0);
    y = client_at(loop, host, "o1");
    assert_true(verani_client_on_recovery_failed(y, count_recovery, &failed) > 0);
    expect_count(loop, x, "0");
    expect_count(loop, y, "0");
    assert_int_equal(e2e_e2e_client_emit_poke(y), 0);
    assert_int_equal(e2e_e2e_client_emit_poke(y), 0);
    until_heard(loop, &h, 2); /* acknowledged: the gate let them out once Redis had them */
    assert_int_equal(verani_client_get_info(x, &ix0), 0);
    assert_int_equal(verani_client_get_info(y, &iy0), 0);

    assert_int_equal(e2e_e2e_client_emit_poke(y), 0); /* in flight, or not yet sent */
    verani_client_loop_service(loop, 0);
    rs_signal(cl.rs, SIGKILL);
    d = dl_after(DL_GENEROUS(LEASE_MS + TIMEOUT_MS));
    do /* every node fences once its lease runs out */
        verani_client_loop_service(loop, 10);
    while (metric(&cl, 0, "verani_cluster_fenced_total") < 1 && !dl_passed(d));
    until_health(&cl, 503, d);
    for (i = 0; i < NODES; i++) {
        assert_true(metric(&cl, i, "verani_cluster_fenced_total") >= 1);
        assert_int_equal(upgrade_status(&cl, i, "o2"), 503); /* nobody can claim */
    }
    assert_int_equal(upgrade_status(&cl, 0, "o1"), 503); /* nor resume where it is held */
    d = dl_after(DL_WAIT_MS); /* the fence closed both (1012), a frame held or not */
    do {
        verani_client_loop_service(loop, 10);
        assert_int_equal(verani_client_get_info(x, &ix), 0);
        assert_int_equal(verani_client_get_info(y, &iy), 0);
    } while ((ix.state == VERANI_CLIENT_CONNECTED || iy.state == VERANI_CLIENT_CONNECTED) &&
             !dl_passed(d));
    assert_true(ix.state != VERANI_CLIENT_CONNECTED && iy.state != VERANI_CLIENT_CONNECTED);
    assert_int_equal(e2e_e2e_client_emit_poke(y), 0); /* queued while Redis is away */
    d = dl_after(2 * LEASE_MS);
    while (!dl_passed(d)) /* the clients go on trying; the frames they may hear are only
                            * those of the pokes Redis had */
        verani_client_loop_service(loop, 10);
    assert_true(h.n <= 3);

    rs_restart(cl.rs); /* on its append-only file */
    until_health(&cl, 200, dl_after(DL_GENEROUS(10 * LEASE_MS)));
    d = dl_after(DL_WAIT_MS);
    while (h.n < 4 && !dl_passed(d))
        verani_client_loop_service(loop, 10);
    if (h.n < 4)
        fail_msg("heard %d: '%s' '%s' '%s'", h.n, h.texts[0], h.texts[1], h.texts[2]);
    for (i = 0; i < 4; i++) {
        snprintf(want, sizeof(want), "poke %d", i + 1);
        assert_string_equal(h.texts[i], want); /* every one once, in order */
    }
    until_replicated(cl.rs, "o1", "4");
    expect_count(loop, x, "4");
    assert_int_equal(verani_client_get_info(x, &ix), 0);
    assert_int_equal(verani_client_get_info(y, &iy), 0);
    assert_true(ix.connection_id > ix0.connection_id); /* both were closed, then resumed */
    assert_true(iy.connection_id > iy0.connection_id);
    assert_true(ix.resumed && iy.resumed);
    assert_string_equal(ix.client_id, ix0.client_id);
    assert_string_equal(iy.client_id, iy0.client_id);
    assert_int_equal(failed, 0);
    assert_int_equal(e2e_log_count("disconnect:u1"), 0);
    assert_true(metric(&cl, 0, "verani_cluster_fenced_instances_total{outcome=\"kept\"}") >= 1);
    assert_int_equal(metric(&cl, 0, "verani_cluster_resets_total"), 0);
    d = dl_after(300);
    while (!dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_int_equal(h.n, 4); /* and nothing twice */
    client_loop_end(loop);
    cluster_stop(&cl);
}

/* A resume that Redis holds back: node A takes a raw client's resume while its link to Redis
 * holds every byte, so the WELCOME waits behind the session record's write (the output
 * gate) and never goes out: A fences first and closes the connection (1012). The client
 * still holds the token it presented, and once Redis answers and A finds the instance still
 * its own, that token resumes the session, same client id (PROTOCOL.md, "Resume"). */
static void test_resume_held_then_fenced(void **state)
{
    cluster cl;
    fault_proxy *fp;
    verani_client_loop *loop;
    verani_client *x, *y;
    raw_ids r;
    unsigned char buf[256];
    rc_env *w;
    heard h;
    size_t len;
    int fd, op, code = 0, frames = 0;
    int64_t d;

    (void)state;
    fp = gate_setup(&cl, 100, 1000, 500, &loop, &x, &y, "g6", &h);
    raw_fresh_then_cut(cl.node[0].port, "g6", &r);

    fp_set(fp, FP_HOLD);
    raw_hello(&fd, cl.node[0].port, "g6", r.token, 0, r.epoch, 0);
    d = dl_after(DL_GENEROUS(LEASE_MS + TIMEOUT_MS) + DL_WAIT_MS);
    while ((op = rc_tcp_read_frame(fd, dl_left_ms(d), buf, sizeof(buf), &len)) > 0 &&
           op != 8)
        frames += op == 2; /* a binary frame: the WELCOME would be one */
    if (op == 8 && len >= 2)
        code = (buf[0] << 8) | buf[1];
    close(fd);
    assert_int_equal(frames, 0); /* held by the gate, then dropped with the fence */
    assert_int_equal(code, 1012);
    assert_true(metric(&cl, 0, "verani_cluster_fenced_total") >= 1);

    fp_set(fp, FP_PASS);
    until_health(&cl, 200, dl_after(DL_GENEROUS(10 * LEASE_MS)));
    d = dl_after(DL_WAIT_MS);
    while (metric(&cl, 0, "verani_cluster_fenced_instances_total{outcome=\"kept\"}") < 1 &&
           !dl_passed(d))
        verani_client_loop_service(loop, 10);
    w = raw_hello(&fd, cl.node[0].port, "g6", r.token, 0, r.epoch, 1);
    assert_true(w->welcome->resumed);
    assert_string_equal(w->welcome->client_id, r.id);
    assert_string_not_equal(w->welcome->resume_token, r.token);
    verani__wire__envelope__free_unpacked(w, NULL);
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
    cluster_counting(&cl, 0, NULL);
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

/* --- scripts forgotten ------------------------------------------------------------------- */

#define FLUSH_POKES 300

/* Redis forgets its scripts (SCRIPT FLUSH) again and again while an instance writes in turn
 * after turn: each apply that meets NOSCRIPT goes again by EVAL, behind applies sent after
 * it, so Redis sees an instance's batches out of their order. None is applied over a gap
 * (it is sent again), the output gate opens each time, and no batch waits at the end: every
 * poke's reply arrives and Redis holds the last count. Before batches were applied in their
 * order only, an early batch was applied, the one before it then answered "applied before"
 * (its writes skipped), and the gate waited for ever for the early one's answer. */
static void test_scripts_flushed(void **state)
{
    cluster cl;
    verani_client_loop *loop;
    verani_client *c;
    redisContext *r;
    redisReply *rep;
    char host[32], want[16];
    int i;

    (void)state;
    cluster_counting(&cl, 0, NULL);
    loop = client_loop();
    snprintf(host, sizeof(host), "127.0.0.1:%d", cl.node[0].port);
    c = client_at(loop, host, "sf");
    expect_count(loop, c, "0");
    r = redisConnectUnix(cl.rs->sock);
    assert_non_null(r);
    assert_int_equal(r->err, 0);
    for (i = 0; i < FLUSH_POKES; i++) {
        assert_int_equal(e2e_e2e_client_emit_poke(c), 0);
        verani_client_loop_service(loop, 1); /* written now: the node's turns each write */
        rep = redisCommand(r, "SCRIPT FLUSH");
        assert_non_null(rep);
        freeReplyObject(rep);
    }
    redisFree(r);
    snprintf(want, sizeof(want), "%d", FLUSH_POKES);
    expect_count(loop, c, want);
    until_replicated(cl.rs, "sf", want);
    assert_int_equal(metric(&cl, 0, "verani_cluster_storage_batches_waiting"), 0);
    assert_int_equal(metric(&cl, 0, "verani_cluster_gate_paused_instances"), 0);
    client_loop_end(loop);
    cluster_stop(&cl);
}

static const vt_case cases[] = {
    VT_CASE(test_short_outage, ""),
    VT_CASE(test_long_outage, ""),
    VT_CASE(test_claim_unsent_retry_after, ""),
    VT_CASE(test_late_writes_refused, ""),
    VT_CASE(test_resume_held_then_fenced, ""),
    VT_CASE(test_redis_wiped, ""),
    VT_CASE(test_scripts_flushed, ""),
};

/* `test_cluster_outage test_<case>` runs one case (CTest: cluster_outage_<case>). */
int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("cluster_outage", cases, VT_N(cases), argc > 1 ? argv[1] : NULL,
                   cu_teardown);
}
