/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_bus.c: the node table and calls between nodes (runtime/src/cluster/bus.c)
 * with three nodes on one libev loop and a real redis-server: every node learns the others
 * and their public URLs from their heartbeats; a call reaches its node and its answer (or
 * the callee's error) comes back, also when the callee answers later; a call to a node that
 * is not there fails at once; a gather hands over every node's answer, and when one node
 * does not answer in time, the others' answers with that node named, never a silent partial
 * answer; a node that stops is forgotten after one lease; a call under way when Redis stops
 * answering ends once, with an error. Lease 1,500 ms and heartbeat 300 ms; every wait is
 * derived from them.
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

#include <verani/common.h>

#include "cases.h"
#include "cleanup.h"
#include "cluster/cluster-private.h"
#include "deadline.h"
#include "redis_server.h"

#define LEASE_MS 1500
#define HEARTBEAT_MS 300
#define TIMEOUT_MS 400

/* One node and how it answers calls. */
typedef struct node {
    vr_cluster *c;
    char id[16];
    int calls;           /* calls received */
    int silent;          /* keep calls unanswered (in `held`) */
    int fail;            /* answer VERANI_EDENIED */
    vr_bus_call *held;
    int answer_errors;   /* answers that could not be sent */
} node;

static node *g_nodes[3];

static node *node_of(vr_cluster *c)
{
    for (int i = 0; i < 3; i++)
        if (g_nodes[i] && g_nodes[i]->c == c)
            return g_nodes[i];
    return NULL;
}

/* Answer "<id>:<body>", an error, or nothing yet. */
static void on_call(vr_cluster *c, vr_bus_call *call, const char *from, const uint8_t *body,
                    size_t len, void *arg)
{
    node *n = node_of(c);
    char out[128];
    int k;

    (void)from;
    (void)arg;
    n->calls++;
    if (n->silent) {
        n->held = call;
        return;
    }
    /* an answer can fail (Redis away): the caller then sees its deadline pass. No assertion
     * here: this runs inside the loop's callbacks. */
    if (n->fail) {
        n->answer_errors += vr_cluster_answer(c, call, VERANI_EDENIED, NULL, 0) != 0;
        return;
    }
    k = snprintf(out, sizeof(out), "%s:%.*s", n->id, (int)len, (const char *)body);
    n->answer_errors += vr_cluster_answer(c, call, 0, (const uint8_t *)out, (size_t)k) != 0;
}

typedef struct answer {
    int done, status;
    char node[32], body[128];
} answer;

static void on_answer(vr_cluster *c, const char *nodeid, int status, const uint8_t *body,
                      size_t len, void *arg)
{
    answer *a = arg;

    (void)c;
    a->done++;
    a->status = status;
    snprintf(a->node, sizeof(a->node), "%s", nodeid);
    snprintf(a->body, sizeof(a->body), "%.*s", (int)len, body ? (const char *)body : "");
}

typedef struct gathered {
    int done;
    size_t n;
    char missing[128];
    char bodies[3][64];
    int statuses[3];
} gathered;

static void on_gathered(vr_cluster *c, const vr_gather_answer *answers, size_t n,
                        const char *missing, void *arg)
{
    gathered *g = arg;

    (void)c;
    g->done++;
    g->n = n;
    snprintf(g->missing, sizeof(g->missing), "%s", missing ? missing : "");
    for (size_t i = 0; i < n && i < 3; i++) {
        g->statuses[i] = answers[i].status;
        snprintf(g->bodies[i], sizeof(g->bodies[i]), "%.*s", (int)answers[i].len,
                 answers[i].body ? (const char *)answers[i].body : "");
    }
}

/* --- harness --------------------------------------------------------------------------------- */

static void loop_undo(void *loop)
{
    ev_loop_destroy(loop);
}

static void node_undo(void *c)
{
    vr_cluster_destroy(c);
}

static void node_start(node *n, struct ev_loop *loop, const rs_server *rs, const char *id)
{
    vr_cluster_options o;
    char err[256], url[64];

    memset(n, 0, sizeof(*n));
    snprintf(n->id, sizeof(n->id), "%s", id);
    snprintf(url, sizeof(url), "ws://%s.example:8080", id);
    memset(&o, 0, sizeof(o));
    o.redis_address = rs->address;
    o.node_id = id;
    o.public_url = url;
    o.prefix = "vrt";
    o.heartbeat_ms = HEARTBEAT_MS;
    o.lease_ms = LEASE_MS;
    o.command_timeout_ms = TIMEOUT_MS;
    n->c = vr_cluster_create(loop, &o, err, sizeof(err));
    if (!n->c)
        fail_msg("vr_cluster_create: %s", err);
    cu_push(node_undo, n->c);
    vr_cluster_on_call(n->c, on_call);
}

static void node_stop(node *n)
{
    cu_drop(n->c);
    vr_cluster_destroy(n->c);
    n->c = NULL;
}

static void spin_once(struct ev_loop *loop)
{
    ev_run(loop, EVRUN_NOWAIT);
    dl_nap_ms(1);
}

static void until(struct ev_loop *loop, const int *flag, int want, int64_t ms, const char *what)
{
    int64_t end = dl_after(ms);

    while (*flag < want && !dl_passed(end))
        spin_once(loop);
    if (*flag < want)
        fail_msg("%s: %d, not %d, after %lld ms", what, *flag, want, (long long)ms);
}

/* Until `n` sees `want` live nodes (itself included). */
static void until_nodes(struct ev_loop *loop, node *n, size_t want)
{
    int64_t end = dl_after(DL_GENEROUS(LEASE_MS));
    const char *ids[8];
    size_t have;

    while ((have = vr_cluster_nodes(n->c, ids, 8)) != want && !dl_passed(end))
        spin_once(loop);
    if (have != want)
        fail_msg("node %s sees %zu nodes, not %zu", n->id, have, want);
}

/* Three nodes that all see each other. */
static struct ev_loop *three(rs_server **rs, node *ns)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    static const char *const ids[3] = {"node-a", "node-b", "node-c"};

    assert_non_null(loop);
    cu_push(loop_undo, loop);
    *rs = rs_start(NULL);
    for (int i = 0; i < 3; i++) {
        node_start(&ns[i], loop, *rs, ids[i]);
        g_nodes[i] = &ns[i];
    }
    for (int i = 0; i < 3; i++)
        until_nodes(loop, &ns[i], 3);
    return loop;
}

static void three_down(rs_server *rs, node *ns)
{
    for (int i = 0; i < 3; i++) {
        if (ns[i].c)
            node_stop(&ns[i]);
        g_nodes[i] = NULL;
    }
    rs_free(rs);
}

static void call(struct ev_loop *loop, node *from, const char *to, const char *body, answer *a,
                 uint32_t timeout_ms)
{
    memset(a, 0, sizeof(*a));
    assert_int_equal(vr_cluster_call(from->c, to, (const uint8_t *)body, strlen(body),
                                     timeout_ms, on_answer, a), 0);
    assert_int_equal(a->done, 0); /* never inside the call */
    until(loop, &a->done, 1, DL_GENEROUS(timeout_ms), "answers");
}

/* --- cases -------------------------------------------------------------------------------------- */

static void test_node_table(void **state)
{
    node ns[3];
    rs_server *rs;
    struct ev_loop *loop = three(&rs, ns);
    const char *ids[8];

    (void)state;
    assert_int_equal(vr_cluster_nodes(ns[0].c, ids, 8), 3);
    assert_string_equal(ids[0], "node-a"); /* itself first */
    assert_string_equal(vr_cluster_node_url(ns[0].c, "node-b"), "ws://node-b.example:8080");
    assert_string_equal(vr_cluster_node_url(ns[0].c, "node-a"), "ws://node-a.example:8080");
    assert_null(vr_cluster_node_url(ns[0].c, "node-zz"));
    /* a node that stops is forgotten after one lease */
    node_stop(&ns[2]);
    g_nodes[2] = NULL;
    until_nodes(loop, &ns[0], 2);
    assert_null(vr_cluster_node_url(ns[0].c, "node-c"));
    three_down(rs, ns);
}

static void test_calls(void **state)
{
    node ns[3];
    rs_server *rs;
    struct ev_loop *loop = three(&rs, ns);
    answer a;

    (void)state;
    call(loop, &ns[0], "node-b", "hello", &a, 2000);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.node, "node-b");
    assert_string_equal(a.body, "node-b:hello");
    assert_int_equal(ns[1].calls, 1);
    /* to itself, through Redis like any other */
    call(loop, &ns[0], "node-a", "me", &a, 2000);
    assert_string_equal(a.body, "node-a:me");
    /* the callee's own error comes back as it is */
    ns[2].fail = 1;
    call(loop, &ns[0], "node-c", "x", &a, 2000);
    assert_int_equal(a.status, VERANI_EDENIED);
    /* nobody there: at once, not at the deadline */
    call(loop, &ns[0], "node-zz", "x", &a, 60000);
    assert_int_equal(a.status, VERANI_ENOTFOUND);
    /* an answer given later still arrives */
    ns[2].fail = 0;
    ns[2].silent = 1;
    memset(&a, 0, sizeof(a));
    assert_int_equal(vr_cluster_call(ns[0].c, "node-c", (const uint8_t *)"later", 5, 10000,
                                     on_answer, &a), 0);
    until(loop, &ns[2].calls, 2, DL_WAIT_MS, "the call arrives");
    assert_int_equal(a.done, 0);
    assert_int_equal(vr_cluster_answer(ns[2].c, ns[2].held, 0, (const uint8_t *)"done", 4), 0);
    until(loop, &a.done, 1, DL_WAIT_MS, "the late answer");
    assert_string_equal(a.body, "done");
    /* and one nobody answers times out */
    call(loop, &ns[0], "node-c", "never", &a, 300);
    assert_int_equal(a.status, VERANI_ETIMEDOUT);
    three_down(rs, ns);
}

static void test_gather(void **state)
{
    node ns[3];
    rs_server *rs;
    struct ev_loop *loop = three(&rs, ns);
    gathered g;

    (void)state;
    memset(&g, 0, sizeof(g));
    assert_int_equal(vr_cluster_gather(ns[0].c, (const uint8_t *)"q", 1, 2000, on_gathered, &g),
                     0);
    until(loop, &g.done, 1, DL_WAIT_MS, "gathered");
    assert_int_equal(g.n, 3);
    assert_string_equal(g.missing, "");
    assert_string_equal(g.bodies[0], "node-a:q");
    assert_true((!strcmp(g.bodies[1], "node-b:q") && !strcmp(g.bodies[2], "node-c:q")) ||
                (!strcmp(g.bodies[1], "node-c:q") && !strcmp(g.bodies[2], "node-b:q")));

    /* one node does not answer in time: the others' answers, and that node named */
    ns[1].silent = 1;
    memset(&g, 0, sizeof(g));
    assert_int_equal(vr_cluster_gather(ns[0].c, (const uint8_t *)"q", 1, 400, on_gathered, &g),
                     0);
    until(loop, &g.done, 1, DL_GENEROUS(400), "gathered");
    assert_int_equal(g.n, 3);
    assert_string_equal(g.missing, "node-b");
    assert_string_equal(g.bodies[0], "node-a:q");
    three_down(rs, ns);
}

/* Redis stops answering while a call is under way: it ends once, with an error. */
static void test_call_when_redis_stops(void **state)
{
    node ns[3];
    rs_server *rs;
    struct ev_loop *loop = three(&rs, ns);
    answer a;

    (void)state;
    ns[1].silent = 1;
    memset(&a, 0, sizeof(a));
    assert_int_equal(vr_cluster_call(ns[0].c, "node-b", (const uint8_t *)"x", 1, 60000,
                                     on_answer, &a), 0);
    until(loop, &ns[1].calls, 1, DL_WAIT_MS, "the call arrives");
    rs_signal(rs, SIGSTOP);
    until(loop, &a.done, 1, DL_GENEROUS(TIMEOUT_MS + HEARTBEAT_MS), "the call ends");
    assert_int_equal(a.status, VERANI_EIO);
    /* and only once: an answer arriving later finds nobody waiting */
    rs_signal(rs, SIGCONT);
    {
        /* once node-b's engine is back (a call of its own goes out), it answers the held one */
        int64_t end = dl_after(DL_GENEROUS(LEASE_MS));
        answer probe;

        memset(&probe, 0, sizeof(probe));
        while (vr_cluster_call(ns[1].c, "node-a", (const uint8_t *)"p", 1, 2000, on_answer,
                               &probe) != 0 && !dl_passed(end))
            spin_once(loop);
        until(loop, &probe.done, 1, DL_WAIT_MS, "node-b's engine is back");
    }
    assert_int_equal(vr_cluster_answer(ns[1].c, ns[1].held, 0, NULL, 0), 0);
    {
        int64_t end = dl_after(1000);

        while (!dl_passed(end))
            spin_once(loop);
    }
    assert_int_equal(a.done, 1);
    three_down(rs, ns);
}

static const vt_case cases[] = {
    VT_CASE(test_node_table, ""),
    VT_CASE(test_calls, ""),
    VT_CASE(test_gather, ""),
    VT_CASE(test_call_when_redis_stops, ""),
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("cluster_bus", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
