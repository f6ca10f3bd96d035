/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_node.c: the cluster's nodes and ownership (runtime/src/cluster/
 * cluster-private.h) against a real redis-server per test: two or three nodes
 * on one libev loop register with a lease; one wins a claim, the others are
 * told who owns the instance and where it is; release and validation compare
 * the fencing epoch; an owner that stops without releasing keeps its instances
 * until its lease runs out, then the next claim wins with a larger epoch; a node
 * whose heartbeats go unanswered (Redis stopped) fences itself before its lease
 * ends and refuses to claim, and is live again when Redis answers; a Redis that
 * lost its data is noticed (the incarnation changed) and claims work again
 * (scripts are sent again after NOSCRIPT). Storage batches apply in their order only: one
 * that arrives before an earlier one is refused as early, never applied over the gap. Short lease and heartbeat (1,500 and
 * 300 ms, as SCALEOUT.md's test nodes) and waits derived from them.
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

#include <cmocka.h>
#include <ev.h>
#include <hiredis/hiredis.h>

#include <verani/common.h>

#include "cases.h"
#include "cleanup.h"
#include "cluster/cluster-private.h"
#include "deadline.h"
#include "redis_server.h"

#define LEASE_MS 1500
#define HEARTBEAT_MS 300
#define TIMEOUT_MS 400

typedef struct node {
    vr_cluster *c;
    int lives, fences, live, resets;
} node;

typedef struct claim {
    int done;
    vr_claim_outcome outcome;
    uint64_t epoch;
    char owner[64], owner_url[300], previous[64], error[256];
    int handover;
} claim;

typedef struct flag {
    int done, result;
} flag;

static void on_live(vr_cluster *c, int live, void *arg)
{
    node *n = arg;

    (void)c;
    n->live = live;
    if (live)
        n->lives++;
    else
        n->fences++;
}

static void on_reset(vr_cluster *c, void *arg)
{
    (void)c;
    ((node *)arg)->resets++;
}

static void on_claim(vr_cluster *c, const vr_claim_result *res, void *arg)
{
    claim *x = arg;

    (void)c;
    x->done++;
    x->outcome = res->outcome;
    x->epoch = res->epoch;
    x->handover = res->handover;
    snprintf(x->owner, sizeof(x->owner), "%s", res->owner);
    snprintf(x->owner_url, sizeof(x->owner_url), "%s", res->owner_url);
    snprintf(x->previous, sizeof(x->previous), "%s", res->previous);
    snprintf(x->error, sizeof(x->error), "%s", res->error);
}

static void on_flag(vr_cluster *c, int result, void *arg)
{
    flag *f = arg;

    (void)c;
    f->done++;
    f->result = result;
}

static void loop_undo(void *loop)
{
    ev_loop_destroy(loop);
}

static struct ev_loop *new_loop(void)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

    assert_non_null(loop);
    cu_push(loop_undo, loop);
    return loop;
}

static void node_undo(void *c)
{
    vr_cluster_destroy(c);
}

static void node_start(node *n, struct ev_loop *loop, const rs_server *rs, const char *id,
                       const char *url)
{
    vr_cluster_options o;
    char err[256];

    memset(n, 0, sizeof(*n));
    memset(&o, 0, sizeof(o));
    o.redis_address = rs->address;
    o.node_id = id;
    o.public_url = url;
    o.prefix = "vrt";
    o.heartbeat_ms = HEARTBEAT_MS;
    o.lease_ms = LEASE_MS;
    o.command_timeout_ms = TIMEOUT_MS;
    o.on_live = on_live;
    o.on_reset = on_reset;
    o.arg = n;
    n->c = vr_cluster_create(loop, &o, err, sizeof(err));
    if (!n->c)
        fail_msg("vr_cluster_create: %s", err);
    cu_push(node_undo, n->c);
}

static void node_stop(node *n)
{
    cu_drop(n->c);
    vr_cluster_destroy(n->c);
    n->c = NULL;
}

static void until(struct ev_loop *loop, const int *flag_, int want, int64_t ms, const char *what)
{
    int64_t end = dl_after(ms);

    while (*flag_ < want && !dl_passed(end)) {
        ev_run(loop, EVRUN_NOWAIT);
        dl_nap_ms(1);
    }
    if (*flag_ < want)
        fail_msg("%s: %d, not %d, after %lld ms", what, *flag_, want, (long long)ms);
}

/* Claim as `n`, once it is live: on a loaded machine a short lease can lapse for a moment
 * (the node then fences and refuses to claim, as it must), and that is not what these cases
 * test. */
static void do_claim(struct ev_loop *loop, node *n, const char *inst, claim *x)
{
    int64_t end = dl_after(DL_GENEROUS(LEASE_MS));

    while (!vr_cluster_lease_ok(n->c) && !dl_passed(end)) {
        ev_run(loop, EVRUN_NOWAIT);
        dl_nap_ms(1);
    }
    memset(x, 0, sizeof(*x));
    assert_int_equal(vr_cluster_claim(n->c, "Room", inst, on_claim, x), 0);
    until(loop, &x->done, 1, DL_WAIT_MS, "claim answered");
}

static int do_release(struct ev_loop *loop, node *n, const char *inst, uint64_t epoch, int hand)
{
    flag f = {0, 0};

    assert_int_equal(vr_cluster_release(n->c, "Room", inst, epoch, hand, on_flag, &f), 0);
    until(loop, &f.done, 1, DL_WAIT_MS, "release answered");
    return f.result;
}

static int do_validate(struct ev_loop *loop, node *n, const char *inst, uint64_t epoch)
{
    flag f = {0, 0};

    assert_int_equal(vr_cluster_validate(n->c, "Room", inst, epoch, on_flag, &f), 0);
    until(loop, &f.done, 1, DL_WAIT_MS, "validate answered");
    return f.result;
}

/* A node is live within a heartbeat of the engine coming up. */
#define LIVE_MS DL_GENEROUS(HEARTBEAT_MS + TIMEOUT_MS)

static void test_claim_release_validate(void **state)
{
    struct ev_loop *loop = new_loop();
    rs_server *rs = rs_start(NULL);
    node a, b;
    claim x;

    (void)state;
    node_start(&a, loop, rs, "node-a", "ws://10.0.0.1:8080");
    node_start(&b, loop, rs, "node-b", "ws://10.0.0.2:8080");
    until(loop, &a.lives, 1, LIVE_MS, "a live");
    until(loop, &b.lives, 1, LIVE_MS, "b live");

    do_claim(loop, &a, "lobby", &x);
    assert_int_equal(x.outcome, VR_CLAIM_WON);
    assert_int_equal(x.epoch, 1);
    assert_string_equal(x.previous, "");
    assert_int_equal(x.handover, 0);
    do_claim(loop, &a, "lobby", &x); /* claiming again is winning again, with a new token */
    assert_int_equal(x.outcome, VR_CLAIM_WON);
    assert_int_equal(x.epoch, 2);
    assert_string_equal(x.previous, "node-a");

    do_claim(loop, &b, "lobby", &x);
    assert_int_equal(x.outcome, VR_CLAIM_OWNED);
    assert_string_equal(x.owner, "node-a");
    assert_string_equal(x.owner_url, "ws://10.0.0.1:8080");
    assert_int_equal(x.epoch, 2);

    assert_int_equal(do_validate(loop, &a, "lobby", 2), 1);
    assert_int_equal(do_validate(loop, &a, "lobby", 1), 0); /* an old token */
    assert_int_equal(do_release(loop, &a, "lobby", 1, 0), 0);
    assert_int_equal(do_release(loop, &b, "lobby", 2, 0), 0); /* not b's */
    assert_int_equal(do_release(loop, &a, "lobby", 2, 1), 1); /* with a handover */
    assert_int_equal(do_validate(loop, &a, "lobby", 2), 0);

    do_claim(loop, &b, "lobby", &x);
    assert_int_equal(x.outcome, VR_CLAIM_WON);
    assert_int_equal(x.epoch, 3); /* the token never goes back */
    assert_int_equal(x.handover, 1);
    do_claim(loop, &a, "lobby", &x);
    assert_int_equal(x.outcome, VR_CLAIM_OWNED);
    assert_string_equal(x.owner, "node-b");

    /* instances are independent */
    do_claim(loop, &a, "hall", &x);
    assert_int_equal(x.outcome, VR_CLAIM_WON);
    assert_int_equal(x.epoch, 1);
    node_stop(&a);
    node_stop(&b);
    rs_free(rs);
}

/* The owner stops without releasing (a crash): its instance stays its own until its lease
 * runs out; then the next claim wins, with a larger token, naming the previous owner. */
static void test_dead_owner(void **state)
{
    struct ev_loop *loop = new_loop();
    rs_server *rs = rs_start(NULL);
    int64_t end;
    node a, b;
    claim x;

    (void)state;
    node_start(&a, loop, rs, "node-a", NULL);
    node_start(&b, loop, rs, "node-b", NULL);
    until(loop, &a.lives, 1, LIVE_MS, "a live");
    until(loop, &b.lives, 1, LIVE_MS, "b live");
    do_claim(loop, &a, "lobby", &x);
    assert_int_equal(x.outcome, VR_CLAIM_WON);
    node_stop(&a);

    do_claim(loop, &b, "lobby", &x);
    assert_int_equal(x.outcome, VR_CLAIM_OWNED);
    assert_string_equal(x.owner, "node-a");
    assert_string_equal(x.owner_url, "");
    for (end = dl_after(DL_GENEROUS(LEASE_MS)); x.outcome == VR_CLAIM_OWNED && !dl_passed(end);) {
        dl_nap_ms(50);
        do_claim(loop, &b, "lobby", &x);
    }
    assert_int_equal(x.outcome, VR_CLAIM_WON);
    assert_int_equal(x.epoch, 2);
    assert_string_equal(x.previous, "node-a");
    node_stop(&b);
    rs_free(rs);
}

/* Redis stops answering: the node fences itself (before its node key could expire) and
 * refuses to claim; when Redis answers again it is live again, with nothing lost. */
static void test_self_fence(void **state)
{
    struct ev_loop *loop = new_loop();
    rs_server *rs = rs_start(NULL);
    vr_cluster_stats st;
    node a;
    claim x;

    (void)state;
    node_start(&a, loop, rs, "node-a", NULL);
    until(loop, &a.lives, 1, LIVE_MS, "live");
    do_claim(loop, &a, "lobby", &x);
    assert_int_equal(x.outcome, VR_CLAIM_WON);
    rs_signal(rs, SIGSTOP);
    until(loop, &a.fences, 1, DL_GENEROUS(LEASE_MS), "fenced");
    assert_false(vr_cluster_lease_ok(a.c));
    assert_int_equal(vr_cluster_claim(a.c, "Room", "hall", on_claim, &x), VERANI_EIO);
    rs_signal(rs, SIGCONT);
    until(loop, &a.lives, 2, DL_GENEROUS(LEASE_MS), "live again");
    assert_true(vr_cluster_lease_ok(a.c));
    /* whether or not its node key expired meanwhile, nobody claimed the instance, so its
     * ownership stands and validation says so */
    assert_int_equal(do_validate(loop, &a, "lobby", x.epoch), 1);
    vr_cluster_get_stats(a.c, &st);
    assert_int_equal(st.fenced, 1);
    assert_true(st.heartbeats >= 2);
    node_stop(&a);
    rs_free(rs);
}

/* Redis restarts empty: the incarnation changed (on_reset), and claims work again (the
 * scripts are sent again after NOSCRIPT). */
static void test_redis_lost_its_data(void **state)
{
    struct ev_loop *loop = new_loop();
    rs_server *rs = rs_start(NULL);
    vr_cluster_stats st;
    node a;
    claim x;

    (void)state;
    node_start(&a, loop, rs, "node-a", NULL);
    until(loop, &a.lives, 1, LIVE_MS, "live");
    do_claim(loop, &a, "lobby", &x);
    do_claim(loop, &a, "lobby", &x);
    assert_int_equal(x.epoch, 2);
    rs_signal(rs, SIGKILL);
    rs_restart(rs);
    until(loop, &a.resets, 1, DL_GENEROUS(LEASE_MS), "reset seen");
    until(loop, &a.live, 1, LIVE_MS, "live");
    do_claim(loop, &a, "lobby", &x);
    assert_int_equal(x.outcome, VR_CLAIM_WON);
    assert_int_equal(x.epoch, 1); /* a new incarnation starts its tokens again */
    vr_cluster_get_stats(a.c, &st);
    assert_int_equal(st.resets, 1);
    node_stop(&a);
    rs_free(rs);
}

/* --- storage batches ------------------------------------------------------------------------ */

typedef struct applies {
    int n;
    int result[8];
} applies;

static void on_apply(vr_cluster *c, int result, void *arg)
{
    applies *a = arg;

    (void)c;
    if (a->n < 8)
        a->result[a->n] = result;
    a->n++;
}

/* Queue batch `no` of Room/`inst`: one put of `key` = "v". */
static void apply_put(node *n, const char *inst, uint64_t epoch, uint64_t no, const char *key,
                      applies *a)
{
    vr_apply_op op;

    memset(&op, 0, sizeof(op));
    op.key = key;
    op.klen = strlen(key);
    op.val = "v";
    op.vlen = 1;
    assert_int_equal(vr_cluster_apply(n->c, "Room", inst, epoch, no, &op, 1, on_apply, a), 0);
}

/* Whether the instance's storage hash in Redis has `field`. */
static int stored(const rs_server *rs, const char *inst, const char *field)
{
    redisContext *r = redisConnectUnix(rs->sock);
    redisReply *rep;
    int has;

    assert_non_null(r);
    assert_int_equal(r->err, 0);
    rep = redisCommand(r, "HEXISTS vrt:st:{Room/%s} %s", inst, field);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    has = (int)rep->integer;
    freeReplyObject(rep);
    redisFree(r);
    return has;
}

/* A batch reaches Redis before the one before it (a retry after NOSCRIPT, or after an error,
 * can go out behind later ones): it is refused as early and writes nothing, so the earlier
 * one still applies when it comes, and the early one applies when sent again. Without this
 * the later batch applied first, and the earlier one was then answered "applied before" and
 * its writes were lost. */
static void test_apply_in_order(void **state)
{
    struct ev_loop *loop = new_loop();
    rs_server *rs = rs_start(NULL);
    applies a = {0, {0}};
    node n;
    claim x;

    (void)state;
    node_start(&n, loop, rs, "node-a", NULL);
    until(loop, &n.lives, 1, LIVE_MS, "live");
    do_claim(loop, &n, "ledger", &x);
    assert_int_equal(x.outcome, VR_CLAIM_WON);
    apply_put(&n, "ledger", x.epoch, 2, "second", &a); /* Redis runs them in this order */
    apply_put(&n, "ledger", x.epoch, 1, "first", &a);
    vr_cluster_flush(n.c);
    until(loop, &a.n, 2, DL_WAIT_MS, "applies answered");
    assert_int_equal(a.result[0], VR_APPLY_EARLY);
    assert_int_equal(a.result[1], VR_APPLY_DONE);
    assert_true(stored(rs, "ledger", "first"));
    assert_false(stored(rs, "ledger", "second"));

    apply_put(&n, "ledger", x.epoch, 2, "second", &a); /* sent again, in order now */
    apply_put(&n, "ledger", x.epoch, 1, "first", &a);  /* a retry of one it has */
    apply_put(&n, "ledger", x.epoch, 4, "fourth", &a); /* past a gap */
    vr_cluster_flush(n.c);
    until(loop, &a.n, 5, DL_WAIT_MS, "applies answered");
    assert_int_equal(a.result[2], VR_APPLY_DONE);
    assert_int_equal(a.result[3], VR_APPLY_BEFORE);
    assert_int_equal(a.result[4], VR_APPLY_EARLY);
    assert_true(stored(rs, "ledger", "second"));
    assert_false(stored(rs, "ledger", "fourth"));

    do_claim(loop, &n, "ledger", &x); /* a new claim counts its batches from 1 again */
    apply_put(&n, "ledger", x.epoch, 1, "fourth", &a);
    vr_cluster_flush(n.c);
    until(loop, &a.n, 6, DL_WAIT_MS, "apply answered");
    assert_int_equal(a.result[5], VR_APPLY_DONE);
    assert_true(stored(rs, "ledger", "fourth"));
    node_stop(&n);
    rs_free(rs);
}

static void test_bad_options(void **state)
{
    struct ev_loop *loop = new_loop();
    vr_cluster_options o;
    char err[256];

    (void)state;
    memset(&o, 0, sizeof(o));
    o.redis_address = "unix:/nonexistent/redis.sock";
    o.heartbeat_ms = 1000;
    o.lease_ms = 2000;
    assert_null(vr_cluster_create(loop, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "at least 3 heartbeats"));
    o.lease_ms = 0;
    o.redis_address = "redis.example.com";
    assert_null(vr_cluster_create(loop, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "not an IP address"));
    o.redis_address = "unix:/nonexistent/redis.sock";
    o.node_id = "";
    assert_null(vr_cluster_create(loop, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "node id"));
}

static const vt_case cases[] = {
    VT_CASE(test_claim_release_validate, ""),
    VT_CASE(test_dead_owner, ""),
    VT_CASE(test_self_fence, ""),
    VT_CASE(test_redis_lost_its_data, ""),
    VT_CASE(test_apply_in_order, ""),
    VT_CASE(test_bad_options, ""),
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("cluster_node", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
