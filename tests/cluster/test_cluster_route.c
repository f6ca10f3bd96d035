/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_route.c: three nodes of one cluster (three servers, each on its own thread,
 * port and libev loop) against a real redis-server (issue 16, routing). A connection that
 * reaches a node that does not own its room instance reaches the owner: closed with 4003
 * "moved <owner URL>" when the node learns it from its claim, answered 307 to the owner's URL
 * once it knows. The typed C client follows both (libwebsockets follows the 307 by itself),
 * so two clients that entered through two other nodes exchange events at the owner, where
 * every session of the instance lives. An instance evicted after its idle time is released,
 * and the next node that gets a connection for it owns it. Every wait is bounded by a
 * deadline; nothing asserts how long anything took.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
#include "e2e_util.h"
#include "rawclient.h"
#include "redis_server.h"

/* --- a node that stalls: its loop blocked past its lease, as SIGSTOP would (one process) -- */

static atomic_int stall_ms, stalled;
static e2e_e2e_handlers stall_handlers;

/* The schema timer `beat` (every 20 ms in every instance): blocks the loop once when asked,
 * `stalled` set meanwhile. */
static void on_beat(verani_ctx *ctx)
{
    int ms = atomic_exchange(&stall_ms, 0);

    (void)ctx;
    if (ms > 0) {
        atomic_store(&stalled, 1);
        dl_nap_ms(ms);
        atomic_store(&stalled, 0);
    }
}

/* Stall the stalling node's loop for `ms`; returns once it is stalled. */
static void stall(int ms)
{
    int64_t d = dl_after(DL_GENEROUS(DL_WAIT_MS));

    atomic_store(&stall_ms, ms);
    while (!atomic_load(&stalled) && !dl_passed(d))
        dl_nap_ms(1);
    assert_true(atomic_load(&stalled));
}

static int mount_stalling(verani_server *srv)
{
    stall_handlers = *e2e_room_handlers();
    stall_handlers.timer_beat = on_beat;
    return e2e_e2e_mount(srv, &stall_handlers, NULL);
}

/* Node `stalling` (-1: none) can be stalled; `no_resume`: sessions end with their
 * connection. */
static void cluster_start_ex(cluster *cl, uint32_t idle_ms, int stalling, int no_resume)
{
    cluster_cfg cfg;

    memset(cl, 0, sizeof(*cl));
    memset(&cfg, 0, sizeof(cfg));
    cfg.idle_ms = idle_ms;
    cfg.no_resume = no_resume;
    if (stalling >= 0)
        cfg.mount[stalling] = mount_stalling;
    cluster_start_cfg(cl, &cfg);
}

/* --- typed clients --------------------------------------------------------------------------- */

typedef struct seen {
    int chats;
    char last_text[32], last_from[32];
} seen;

static void on_chat(verani_client *c, const E2e__ChatOut *msg, void *user)
{
    seen *s = user;

    (void)c;
    s->chats++;
    snprintf(s->last_text, sizeof(s->last_text), "%s", msg->text ? msg->text : "");
    snprintf(s->last_from, sizeof(s->last_from), "%s", msg->from ? msg->from : "");
}

static verani_client *client_to(verani_client_loop *loop, int port, const char *path_query,
                                seen *s)
{
    verani_client_options o;
    verani_client *c;
    char url[256], err[256];

    verani_client_options_init(&o);
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d%s", port, path_query);
    o.url = url;
    o.room = &e2e_e2e_schema;
    o.initial_delay_ms = 50;
    o.max_delay_ms = 200;
    o.max_attempts = VERANI_CLIENT_UNLIMITED;
    c = verani_client_create(loop, &o, err, sizeof(err));
    if (!c)
        fail_msg("verani_client_create: %s", err);
    assert_int_equal(e2e_e2e_client_on_chat_out(c, on_chat, s), 0);
    return c;
}

typedef struct answered {
    int done;
    verani_reply_status st;
    int32_t n;
} answered;

static void on_count(verani_client *c, verani_reply_status st, const E2e__Count *reply,
                     const char *error, void *user)
{
    answered *a = user;

    (void)c;
    (void)error;
    a->done = 1;
    a->st = st;
    a->n = reply ? reply->n : -1;
}

static int p_int_set(void *arg)
{
    return *(int *)arg != 0;
}

/* Service `loop` until *flag is nonzero (DL_WAIT_MS generously). */
static void until(verani_client_loop *loop, int *flag)
{
    int64_t d = dl_after(DL_GENEROUS(DL_WAIT_MS));

    while (!p_int_set(flag) && !dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_true(p_int_set(flag));
}

/* --- the cases --------------------------------------------------------------------------------- */

/* A raw client (no redirects, no moves) at a node that does not own the instance is closed
 * with 4003 naming the owner; the next upgrade there is answered 307 to the owner's URL, with
 * the path and query kept (encoded again). */
static void test_moved_then_redirect(void **state)
{
    cluster cl;
    rc_loop *l = rc_loop_create();
    rc_conn *owner, *other;
    char head[4096], want[256];
    int fd;

    (void)state;
    cluster_start(&cl, 0);
    wait_mesh(&cl);
    owner = e2e_join(l, cl.node[1].port, "/e2e/r1?userId=u0"); /* node-b claims r1 */
    other = rc_connect(l, cl.node[0].port, "/e2e/r1?userId=u1", 1);
    assert_non_null(other);
    assert_true(rc_wait(l, e2e_p_closed, other, DL_GENEROUS(DL_WAIT_MS)));
    assert_int_equal(other->close_code, 4003);
    snprintf(want, sizeof(want), "moved %s", cl.url[1]);
    assert_string_equal(other->close_reason, want);
    assert_false(other->welcomed);

    /* a client that does not say it follows redirects (a browser) is accepted, then moved */
    fd = rc_tcp_connect(cl.node[0].port, 0);
    assert_true(fd >= 0);
    assert_int_equal(rc_tcp_upgrade(fd, "/e2e/r1?userId=u1", head, sizeof(head)), 101);
    close(fd);
    assert_int_equal(rc_tcp_request(cl.node[0].port,
                                    "GET /e2e/r1?userId=u%20x&channels=a,b HTTP/1.1\r\n"
                                    "Host: 127.0.0.1\r\nUpgrade: websocket\r\n"
                                    "Connection: Upgrade\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                    "Sec-WebSocket-Version: 13\r\n"
                                    "X-Verani-Redirects: follow\r\n\r\n", head, sizeof(head)),
                     307);
    snprintf(want, sizeof(want), "location: %s/e2e/r1?userId=u%%20x&channels=a%%2Cb", cl.url[1]);
    if (!strstr(head, want))
        fail_msg("no \"%s\" in:\n%s", want, head);
    /* a folded HELLO of the longest kind (511 characters): kept whole in the Location,
     * with what follows it */
    {
        Verani__Wire__Hello h = VERANI__WIRE__HELLO__INIT;
        char fp[379], hello[600], req[1400], loc[1200];

        memset(fp, 'f', sizeof(fp) - 1);
        fp[sizeof(fp) - 1] = '\0';
        h.has_protocol = 1;
        h.protocol = 1;
        h.fingerprint = fp;
        assert_int_equal(rc_hello_param(&h, hello, sizeof(hello)), 0);
        assert_int_equal(strlen(hello), 6 + 511);
        snprintf(req, sizeof(req), "GET /e2e/r1?userId=u2&%s&channels=c HTTP/1.1\r\n"
                 "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\nX-Verani-Redirects: follow\r\n\r\n", hello);
        assert_int_equal(rc_tcp_request(cl.node[0].port, req, head, sizeof(head)), 307);
        snprintf(loc, sizeof(loc), "location: %s/e2e/r1?userId=u2&%s&channels=c\r\n",
                 cl.url[1], hello);
        if (!strstr(head, loc))
            fail_msg("no \"%s\" in:\n%s", loc, head);
    }
    assert_true(metric(&cl, 0, "verani_cluster_moved_total") >= 1);
    assert_int_equal(metric(&cl, 0, "verani_cluster_redirects_total"), 2);
    assert_int_equal(metric(&cl, 1, "verani_cluster_owned_instances"), 1);
    assert_int_equal(metric(&cl, 0, "verani_cluster_owned_instances"), 0);
    assert_int_equal(sessions_on(&cl, 1, "r1"), 1);
    (void)owner;
    rc_loop_destroy(l);
    cluster_stop(&cl);
}

/* Typed C clients entering through the two other nodes reach the owner, one by a 307 that
 * libwebsockets follows, one by following a 4003; there they exchange events, and every
 * session of the instance is on the owner (on_connect ran there and nowhere else). */
static void test_clients_reach_owner(void **state)
{
    cluster cl;
    rc_loop *l = rc_loop_create();
    verani_client_loop *loop;
    verani_client *x, *y;
    seen sx, sy;
    answered a;
    E2e__Cmd cmd = E2E__CMD__INIT;
    int closed_here;

    (void)state;
    memset(&sx, 0, sizeof(sx));
    memset(&sy, 0, sizeof(sy));
    memset(&a, 0, sizeof(a));
    cluster_start(&cl, 0);
    wait_mesh(&cl);
    (void)e2e_join(l, cl.node[1].port, "/e2e/r2?userId=u0"); /* node-b owns r2 */
    {   /* node-a learns it (4003 to a raw client): its next upgrade for r2 is a 307 */
        rc_conn *probe = rc_connect(l, cl.node[0].port, "/e2e/r2?userId=p", 1);

        assert_true(rc_wait(l, e2e_p_closed, probe, DL_GENEROUS(DL_WAIT_MS)));
        assert_int_equal(probe->close_code, 4003);
    }
    loop = client_loop();
    x = client_to(loop, cl.node[0].port, "/e2e/r2?userId=x", &sx); /* 307 to node-b */
    assert_int_equal(verani_client_wait_for_connection(x, DL_GENEROUS(DL_WAIT_MS)), 0);
    y = client_to(loop, cl.node[2].port, "/e2e/r2?userId=y", &sy); /* 4003 to node-b */
    assert_int_equal(verani_client_wait_for_connection(y, DL_GENEROUS(DL_WAIT_MS)), 0);
    assert_true(metric(&cl, 0, "verani_cluster_redirects_total") >= 1);
    closed_here = (int)metric(&cl, 2, "verani_cluster_moved_total");
    assert_int_equal(closed_here, 1);

    assert_int_equal(sessions_on(&cl, 1, "r2"), 3);
    /* asked at another node, the count is the owner's; held there, nothing */
    assert_int_equal(sessions_on(&cl, 0, "r2"), 3);
    assert_int_equal(metric(&cl, 0, "verani_connections{room=\"E2e\"}"), 0);
    assert_int_equal(metric(&cl, 2, "verani_connections{room=\"E2e\"}"), 0);

    cmd.op = 4; /* to every session of the instance */
    cmd.text = "hello";
    assert_int_equal(e2e_e2e_client_request_cmd(x, &cmd, DL_GENEROUS(DL_WAIT_MS), on_count, &a),
                     0);
    until(loop, &a.done);
    assert_int_equal(a.st, VERANI_REPLY_OK);
    assert_int_equal(a.n, 3);
    until(loop, &sy.chats);
    assert_string_equal(sy.last_text, "hello");
    assert_string_equal(sy.last_from, "x");
    until(loop, &sx.chats);
    verani_client_destroy(x);
    verani_client_destroy(y);
    client_loop_end(loop);
    rc_loop_destroy(l);
    cluster_stop(&cl);
}

/* An instance evicted after its idle time is released: the next connection for it, at
 * another node, makes that node its owner. */
static void test_release_when_idle(void **state)
{
    cluster cl;
    rc_loop *l = rc_loop_create();
    rc_conn *c;
    int64_t d;

    (void)state;
    cluster_start_ex(&cl, 100, -1, 1);
    wait_mesh(&cl);
    c = e2e_join(l, cl.node[1].port, "/e2e/r3?userId=u0");
    assert_int_equal(metric(&cl, 1, "verani_cluster_owned_instances"), 1);
    rc_close(c); /* the session ends with its connection (no resume) */
    rc_service(l, 50);
    d = dl_after(DL_GENEROUS(DL_WAIT_MS));
    while (metric(&cl, 1, "verani_cluster_releases_total") < 1 && !dl_passed(d))
        dl_nap_ms(20);
    assert_int_equal(metric(&cl, 1, "verani_cluster_releases_total"), 1);
    assert_int_equal(metric(&cl, 1, "verani_cluster_owned_instances"), 0);

    (void)e2e_join(l, cl.node[2].port, "/e2e/r3?userId=u1");
    assert_int_equal(sessions_on(&cl, 2, "r3"), 1);
    assert_int_equal(metric(&cl, 2, "verani_cluster_owned_instances"), 1);
    assert_true(metric(&cl, 2, "verani_cluster_moved_total") <= 0);
    rc_loop_destroy(l);
    cluster_stop(&cl);
}

/* Service `loop` until `c` is not CONNECTED (it lost its connection), generously. */
static void until_dropped(verani_client_loop *loop, verani_client *c, int64_t ms)
{
    int64_t d = dl_after(ms);

    while (verani_client_get_state(c) == VERANI_CLIENT_CONNECTED && !dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_int_not_equal(verani_client_get_state(c), VERANI_CLIENT_CONNECTED);
}

/* A cluster (every node serving), and client x of `path` connected at node-b, which owns
 * its instance then. */
static verani_client *at_node_b(cluster *cl, verani_client_loop **loop, const char *path,
                                seen *sx)
{
    verani_client *x;

    memset(sx, 0, sizeof(*sx));
    cluster_start(cl, 0);
    wait_mesh(cl);
    *loop = client_loop();
    x = client_to(*loop, cl->node[1].port, path, sx);
    assert_int_equal(verani_client_wait_for_connection(x, DL_GENEROUS(DL_WAIT_MS)), 0);
    return x;
}

/* Redis stops answering: the owner fences its instance (its clients get 1012, new upgrades
 * 503); once Redis answers, nobody took the instance, so the owner keeps it and the client
 * resumes its session there, with nothing missed. */
static void test_fenced_then_kept(void **state)
{
    cluster cl;
    verani_client_loop *loop;
    verani_client *x;
    verani_client_info info;
    seen sx;

    (void)state;
    x = at_node_b(&cl, &loop, "/e2e/r5?userId=x", &sx);

    rs_signal(cl.rs, SIGSTOP); /* no heartbeat is answered: every lease runs out */
    until_dropped(loop, x, DL_GENEROUS(10 * LEASE_MS));
    assert_int_equal(metric(&cl, 1, "verani_cluster_fenced_instances_total{outcome=\"fenced\"}"),
                     1);
    rs_signal(cl.rs, SIGCONT);
    assert_int_equal(verani_client_wait_for_connection(x, DL_GENEROUS(10 * LEASE_MS)), 0);
    assert_int_equal(verani_client_get_info(x, &info), 0);
    assert_true(info.resumed);
    assert_false(info.recovery_failed);
    assert_int_equal(metric(&cl, 1, "verani_cluster_fenced_instances_total{outcome=\"kept\"}"),
                     1);
    assert_int_equal(sessions_on(&cl, 1, "r5"), 1);
    assert_int_equal(e2e_log_count("disconnect:x"), 0);
    verani_client_destroy(x);
    client_loop_end(loop);
    cluster_stop(&cl);
}

/* The owner stalls past its lease; meanwhile another node claims the instance (a client
 * came there). When the stalled node runs again it fences itself before reading anything,
 * learns from Redis that the instance is not its own any more, and drops its state there
 * without on_disconnect; its client reconnects, is moved to the new owner and resumes there
 * the session the new owner restored from its record in Redis (its frames lost with the old
 * owner: recovery_failed). There is never a moment with two owners serving. */
static void test_fenced_then_dropped(void **state)
{
    cluster cl;
    rc_loop *l = rc_loop_create();
    verani_client_loop *loop;
    verani_client *x;
    verani_client_info info;
    rc_conn *c = NULL;
    seen sx;
    int64_t d;

    (void)state;
    memset(&sx, 0, sizeof(sx));
    cluster_start_ex(&cl, 0, 1, 0);
    wait_mesh(&cl);
    loop = client_loop();
    x = client_to(loop, cl.node[1].port, "/e2e/r6?userId=x", &sx);
    assert_int_equal(verani_client_wait_for_connection(x, DL_GENEROUS(DL_WAIT_MS)), 0);

    stall(4 * LEASE_MS); /* node-b's loop stops in its next beat */
    d = dl_after(DL_GENEROUS(4 * LEASE_MS));
    while (!dl_passed(d)) { /* node-c claims r6 once node-b's lease is gone */
        c = rc_connect(l, cl.node[2].port, "/e2e/r6?userId=y", 1);
        assert_non_null(c);
        assert_true(rc_wait(l, e2e_p_welcomed, c, DL_GENEROUS(DL_WAIT_MS)));
        if (c->welcomed && !c->closed)
            break;
        /* still node-b's: 4003, then 307 (a raw client does not follow it) while node-c
         * still sees node-b live */
        assert_true(c->close_code == 4003 || (c->connect_failed && !c->welcomed));
        dl_nap_ms(50);
    }
    assert_non_null(c);
    assert_true(c->welcomed && !c->closed);
    /* y, and x's session, restored from its record in Redis (waiting for x) */
    assert_int_equal(sessions_on(&cl, 2, "r6"), 2);

    /* node-b runs again: fenced, then dropped; x resumes at node-c, same session, its
     * frames lost with node-b */
    d = dl_after(DL_GENEROUS(8 * LEASE_MS));
    do {
        verani_client_loop_service(loop, 10);
        assert_int_equal(verani_client_get_info(x, &info), 0);
    } while ((info.connection_id < 2 || info.state != VERANI_CLIENT_CONNECTED) &&
             !dl_passed(d));
    assert_int_equal(info.state, VERANI_CLIENT_CONNECTED);
    assert_true(info.resumed);
    assert_true(info.recovery_failed);
    assert_int_equal(sessions_on(&cl, 2, "r6"), 2);
    assert_int_equal(metric(&cl, 1, "verani_cluster_fenced_instances_total{outcome=\"dropped\"}"),
                     1);
    assert_int_equal(metric(&cl, 1, "verani_connections{room=\"E2e\"}"), 0);
    assert_int_equal(e2e_log_count("disconnect:x"), 0);
    verani_client_destroy(x);
    client_loop_end(loop);
    rc_loop_destroy(l);
    cluster_stop(&cl);
}

/* Wait (generously) until node `i`'s figure `name` is at least `want`. */
static void wait_metric(cluster *cl, int i, const char *name, long long want)
{
    int64_t d = dl_after(DL_GENEROUS(10 * LEASE_MS));

    while (metric(cl, i, name) < want && !dl_passed(d))
        dl_nap_ms(20);
    assert_true(metric(cl, i, name) >= want);
}

/* A short loss of the lease: the owner fences (1012) and Redis says at once that it still
 * owns the instance, before a client that does not answer the close has gone. Its session is
 * still kept for a resume when its connection finally goes (not ended with on_disconnect). */
static void test_fenced_slow_close(void **state)
{
    cluster cl;
    rc_loop *l = rc_loop_create();

    (void)state;
    cluster_start(&cl, 0);
    wait_mesh(&cl);
    (void)e2e_join(l, cl.node[1].port, "/e2e/r8?userId=slow");
    /* from here `l` is not serviced: the client reads nothing, not even the close */
    rs_signal(cl.rs, SIGSTOP);
    wait_metric(&cl, 1, "verani_cluster_fenced_instances_total{outcome=\"fenced\"}", 1);
    rs_signal(cl.rs, SIGCONT);
    wait_metric(&cl, 1, "verani_cluster_fenced_instances_total{outcome=\"kept\"}", 1);
    /* the server drops the silent connection within its close timeout (3 s) */
    wait_metric(&cl, 1, "verani_detached_sessions", 1);
    assert_int_equal(e2e_log_count("disconnect:slow"), 0);
    rc_loop_destroy(l);
    cluster_stop(&cl);
}

/* A connection upgraded while its instance was served, whose HELLO comes only once the owner
 * has fenced the instance (or after a fence was lifted, before the HELLO was read, and the
 * lease lost again): the HELLO is not served there, the connection is closed with 1013 (try
 * again) and no hook runs. Before, the session was admitted into the fenced instance and
 * what it sent was handled there: storage writes Redis never got, frames the output gate
 * never held (found by the cluster soak with Redis stalling). */
static void test_hello_while_fenced(void **state)
{
    cluster cl;
    verani_client_loop *loop;
    verani_client *x;
    rc_env env = VERANI__WIRE__ENVELOPE__INIT;
    Verani__Wire__Hello h = VERANI__WIRE__HELLO__INIT;
    seen sx;
    int fd, code = 0;

    (void)state;
    x = at_node_b(&cl, &loop, "/e2e/r9?userId=x", &sx);
    fd = rc_tcp_connect(cl.node[1].port, 0);
    assert_true(fd >= 0);
    assert_int_equal(rc_tcp_upgrade(fd, "/e2e/r9?userId=late", NULL, 0), 101);

    rs_signal(cl.rs, SIGSTOP);
    wait_metric(&cl, 1, "verani_cluster_fenced_instances_total{outcome=\"fenced\"}", 1);
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__HELLO;
    h.has_protocol = 1;
    h.protocol = 1;
    env.hello = &h;
    assert_int_equal(rc_tcp_send_env(fd, &env), 0);
    assert_int_equal(rc_tcp_wait_closed(fd, DL_GENEROUS(DL_WAIT_MS), &code), 1);
    assert_int_equal(code, 1013);
    close(fd);
    rs_signal(cl.rs, SIGCONT);
    assert_int_equal(verani_client_wait_for_connection(x, DL_GENEROUS(10 * LEASE_MS)), 0);
    assert_int_equal(e2e_log_count("connect:late"), 0);
    verani_client_destroy(x);
    client_loop_end(loop);
    cluster_stop(&cl);
}

/* Service `l` until `c` has `n` events (DL_WAIT_MS generously). */
static void until_events(rc_loop *l, rc_conn *c, size_t n)
{
    int64_t d = dl_after(DL_GENEROUS(DL_WAIT_MS));

    while (c->n_events < n && !dl_passed(d))
        rc_service(l, 10);
    assert_int_equal(c->n_events, n);
}

/* An outside emit at a node that does not own the instance reaches the owner's sessions, and
 * its result is the owner's count; emit_async too. An instance nobody serves is an error that
 * says so, from any node. */
static void test_emit_forwarded(void **state)
{
    cluster cl;
    rc_loop *l = rc_loop_create();
    rc_conn *c;
    verani_rpc_result res;
    verani_rpc_done d = {NULL, NULL, 10000, &res};
    verani_target to = verani_to_all();
    const verani_event_def *ev = &e2e_e2e_room.schema->emit[0];
    E2e__ChatOut m = E2E__CHAT_OUT__INIT;

    (void)state;
    cluster_start(&cl, 0);
    wait_mesh(&cl);
    c = e2e_join(l, cl.node[1].port, "/e2e/r9?userId=u0"); /* node-b owns r9 */
    c->keep = 1;
    m.text = "via a";
    m.from = "server";
    assert_int_equal(verani_rpc_emit(cl.node[0].srv, "E2e", "r9", &to, ev, &m.base, d), 0);
    assert_int_equal(res.count, 1);
    verani_rpc_result_free(&res);
    until_events(l, c, 1);
    assert_int_equal(e2e_e2e_rpc_emit_chat_out(cl.node[2].srv, "r9", to, &m, d), 0);
    assert_int_equal(res.count, 1);
    verani_rpc_result_free(&res);
    until_events(l, c, 2);
    assert_int_equal(verani_server_emit_async(cl.node[2].srv, &e2e_e2e_room, "r9", &to, ev,
                                              &m.base), 0);
    until_events(l, c, 3);
    assert_int_equal(c->seq_errors, 0);
    assert_int_equal(metric(&cl, 2, "verani_cluster_forwarded_calls_total"), 2);

    assert_int_equal(verani_rpc_emit(cl.node[0].srv, "E2e", "nobody", &to, ev, &m.base, d),
                     VERANI_ENOTFOUND);
    assert_non_null(strstr(res.error, "no node serves instance 'nobody'"));
    verani_rpc_result_free(&res);
    assert_int_equal(metric(&cl, 0, "verani_cluster_forward_failures_total"), 1);
    rc_loop_destroy(l);
    cluster_stop(&cl);
}

/* The queries about one instance and the kick, at a node that does not own it, answer what
 * the owner answers: its session count, its user ids, a user's sessions there (client id,
 * channels), and a kick that closes the session at the owner. */
static void test_calls_forwarded(void **state)
{
    cluster cl;
    rc_loop *l = rc_loop_create();
    rc_conn *c;
    verani_rpc_result res;
    verani_rpc_done d = {NULL, NULL, 10000, &res};

    (void)state;
    cluster_start(&cl, 0);
    wait_mesh(&cl);
    c = e2e_join(l, cl.node[1].port, "/e2e/r10?userId=u0"); /* node-b owns r10 */
    assert_int_equal(verani_rpc_session_count(cl.node[0].srv, "E2e", "r10", d), 0);
    assert_int_equal(res.count, 1);
    verani_rpc_result_free(&res);
    assert_int_equal(verani_rpc_user_ids(cl.node[2].srv, "E2e", "r10", d), 0);
    assert_int_equal(res.n_user_ids, 1);
    assert_string_equal(res.user_ids[0], "u0");
    verani_rpc_result_free(&res);
    assert_int_equal(verani_rpc_user_sessions(cl.node[0].srv, "E2e", "r10", "u0", d), 0);
    assert_int_equal(res.n_sessions, 1);
    assert_string_equal(res.sessions[0].client_id, c->client_id);
    assert_string_equal(res.sessions[0].instance, "r10");
    assert_int_equal(res.sessions[0].n_channels, 1);
    assert_string_equal(res.sessions[0].channels[0], "default");
    verani_rpc_result_free(&res);
    assert_int_equal(verani_rpc_kick(cl.node[2].srv, "E2e", "r10", "no-such-client", 0, NULL, d),
                     VERANI_ENOTFOUND);
    assert_non_null(strstr(res.error, "no-such-client"));
    verani_rpc_result_free(&res);
    assert_int_equal(verani_rpc_kick(cl.node[2].srv, "E2e", "r10", c->client_id, 4100, "bye",
                                     d), 0);
    assert_int_equal(res.count, 1);
    verani_rpc_result_free(&res);
    assert_true(rc_wait(l, e2e_p_closed, c, DL_GENEROUS(DL_WAIT_MS)));
    assert_int_equal(c->close_code, 4100);
    assert_string_equal(c->close_reason, "bye");
    rc_loop_destroy(l);
    cluster_stop(&cl);
}

/* Calls about every instance ask every node and merge: counts summed, user ids a sorted
 * union, sessions and instances from every owner, an emit and a kick wherever they land. A
 * node that does not answer in time is named in an error, never left out silently. */
static void test_calls_gathered(void **state)
{
    cluster cl;
    rc_loop *l = rc_loop_create();
    rc_conn *b0, *c1, *c0;
    verani_rpc_result res;
    verani_rpc_done d = {NULL, NULL, 10000, &res};
    verani_target to = verani_to_all();
    E2e__ChatOut m = E2E__CHAT_OUT__INIT;

    (void)state;
    cluster_start_ex(&cl, 0, 1, 0);
    wait_mesh(&cl);
    b0 = e2e_join(l, cl.node[1].port, "/e2e/g1?userId=u0"); /* node-b owns g1 */
    c1 = e2e_join(l, cl.node[2].port, "/e2e/g2?userId=u1"); /* node-c owns g2 */
    c0 = e2e_join(l, cl.node[2].port, "/e2e/g2?userId=u0");
    assert_int_equal(verani_rpc_session_count(cl.node[0].srv, NULL, NULL, d), 0);
    assert_int_equal(res.count, 3);
    verani_rpc_result_free(&res);
    assert_int_equal(verani_rpc_user_ids(cl.node[0].srv, "E2e", NULL, d), 0);
    assert_int_equal(res.n_user_ids, 2);
    assert_string_equal(res.user_ids[0], "u0");
    assert_string_equal(res.user_ids[1], "u1");
    assert_int_equal(res.count, 2);
    verani_rpc_result_free(&res);
    assert_int_equal(verani_rpc_user_sessions(cl.node[0].srv, NULL, NULL, "u0", d), 0);
    assert_int_equal(res.n_sessions, 2);
    verani_rpc_result_free(&res);
    assert_int_equal(verani_rpc_instances(cl.node[0].srv, "E2e", d), 0);
    assert_int_equal(res.n_instances, 2);
    assert_string_equal(res.instances[0].name, "g1");
    assert_int_equal(res.instances[0].sessions, 1);
    assert_string_equal(res.instances[1].name, "g2");
    assert_int_equal(res.instances[1].sessions, 2);
    verani_rpc_result_free(&res);
    m.text = "everyone";
    m.from = "server";
    assert_int_equal(verani_rpc_emit(cl.node[0].srv, "E2e", NULL, &to,
                                     &e2e_e2e_room.schema->emit[0], &m.base, d), 0);
    assert_int_equal(res.count, 3);
    verani_rpc_result_free(&res);
    until_events(l, b0, 1);
    until_events(l, c1, 1);
    until_events(l, c0, 1);
    assert_int_equal(verani_rpc_kick(cl.node[0].srv, NULL, NULL, c1->client_id, 0, NULL, d), 0);
    assert_int_equal(res.count, 1);
    verani_rpc_result_free(&res);
    assert_true(rc_wait(l, e2e_p_closed, c1, DL_GENEROUS(DL_WAIT_MS)));
    assert_int_equal(c1->close_code, 1008);
    assert_int_equal(verani_rpc_kick(cl.node[0].srv, NULL, NULL, "nobody", 0, NULL, d),
                     VERANI_ENOTFOUND);
    verani_rpc_result_free(&res);

    /* node-b stalls past the calls' deadline (twice the command timeout) */
    stall(6 * TIMEOUT_MS);
    if (verani_rpc_session_count(cl.node[0].srv, NULL, NULL, d) != VERANI_ETIMEDOUT)
        fail_msg("count %zu status %d: %s", res.count, res.status, res.error);
    if (!strstr(res.error, "node-b"))
        fail_msg("the error does not name node-b: %s", res.error);
    verani_rpc_result_free(&res);
    rc_loop_destroy(l);
    cluster_stop(&cl);
}

/* An HTTP API request to node `i`: its status, the answer in `resp`. */
static int api(cluster *cl, int i, const char *method, const char *path, const char *body,
               char *resp, size_t len)
{
    char req[1024];

    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", method, path,
             body ? strlen(body) : 0, body ? body : "");
    return rc_tcp_request(cl->node[i].port, req, resp, len);
}

/* The HTTP API of a node that does not own the instance answers what the owner answers
 * (count, users, emit, a kick with an empty body); its cluster-wide count asks every node. */
static void test_http_api_forwarded(void **state)
{
    cluster cl;
    rc_loop *l = rc_loop_create();
    rc_conn *c;
    char resp[8192], body[64], path[160];
    E2e__ChatOut m = E2E__CHAT_OUT__INIT;
    size_t n;

    (void)state;
    cluster_start(&cl, 0);
    wait_mesh(&cl);
    c = e2e_join(l, cl.node[1].port, "/e2e/h1?userId=u0"); /* node-b owns h1 */
    (void)e2e_join(l, cl.node[2].port, "/e2e/h2?userId=u1"); /* node-c owns h2 */
    assert_int_equal(api(&cl, 0, "GET", "/_verani/rooms/E2e/h1/count", NULL, resp,
                         sizeof(resp)), 200);
    assert_non_null(strstr(resp, "{\"count\":1}"));
    assert_int_equal(api(&cl, 2, "GET", "/_verani/rooms/E2e/h1/users", NULL, resp,
                         sizeof(resp)), 200);
    assert_non_null(strstr(resp, "{\"users\":[\"u0\"],\"count\":1}"));
    assert_int_equal(api(&cl, 0, "GET", "/_verani/count", NULL, resp, sizeof(resp)), 200);
    assert_non_null(strstr(resp, "{\"count\":2}"));
    assert_int_equal(api(&cl, 0, "GET", "/_verani/rooms/E2e/nowhere/count", NULL, resp,
                         sizeof(resp)), 404);
    assert_non_null(strstr(resp, "no node serves instance 'nowhere'"));
    m.text = "hi";
    m.from = "api";
    n = e2e__chat_out__pack(&m, (uint8_t *)body);
    body[n] = '\0';
    assert_int_equal(api(&cl, 0, "POST", "/_verani/rooms/E2e/h1/emit/chat.out?channel=default",
                         body, resp, sizeof(resp)), 200);
    assert_non_null(strstr(resp, "{\"delivered\":1}"));
    until_events(l, c, 1);
    /* a POST with no body and an explicit Content-Length: 0 (libwebsockets then delivers an
     * empty body and its completion after the request), answered by the owner */
    snprintf(path, sizeof(path), "/_verani/rooms/E2e/h1/kick?client=%s", c->client_id);
    assert_int_equal(api(&cl, 0, "POST", path, NULL, resp, sizeof(resp)), 200);
    assert_non_null(strstr(resp, "{\"kicked\":1}"));
    assert_true(rc_wait(l, e2e_p_closed, c, DL_GENEROUS(DL_WAIT_MS)));
    assert_int_equal(c->close_code, 1008);
    assert_int_equal(api(&cl, 0, "GET", "/_verani/count", NULL, resp, sizeof(resp)), 200);
    rc_loop_destroy(l);
    cluster_stop(&cl);
}

/* How many times Redis ran command `cmd` ("publish"), from INFO commandstats; 0 when never. */
static long long redis_calls(const rs_server *rs, const char *cmd)
{
    redisContext *r = redisConnectUnix(rs->sock);
    redisReply *rep;
    char key[64], *p;
    long long n = 0;

    assert_non_null(r);
    assert_int_equal(r->err, 0);
    rep = redisCommand(r, "INFO commandstats");
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    snprintf(key, sizeof(key), "cmdstat_%s:calls=", cmd);
    p = strstr(rep->str, key);
    if (p)
        n = atoll(p + strlen(key));
    freeReplyObject(rep);
    redisFree(r);
    return n;
}

/* With the cluster on and the owner local, emits and deliveries cost no Redis command: while
 * 300 emits reach 3 sessions (900 deliveries), Redis runs heartbeats only (a SET and a
 * PUBLISH per node and beat): no claim, owner lookup or call. */
static void test_no_redis_per_frame(void **state)
{
    cluster cl;
    rc_loop *l = rc_loop_create();
    rc_conn *c[3];
    verani_rpc_result res;
    verani_rpc_done d = {NULL, NULL, 10000, &res};
    verani_target to = verani_to_all();
    E2e__ChatOut m = E2E__CHAT_OUT__INIT;
    long long set0, pub0, other0, set1, pub1, other1;
    int i;

    (void)state;
    cluster_start(&cl, 0);
    wait_mesh(&cl);
    for (i = 0; i < 3; i++)
        c[i] = e2e_join(l, cl.node[1].port, "/e2e/q1?userId=u");
    m.text = "x";
    m.from = "server";
    set0 = redis_calls(cl.rs, "set");
    pub0 = redis_calls(cl.rs, "publish");
    other0 = redis_calls(cl.rs, "evalsha") + redis_calls(cl.rs, "eval") +
             redis_calls(cl.rs, "hget");
    for (i = 0; i < 300; i++) {
        assert_int_equal(verani_rpc_emit(cl.node[1].srv, "E2e", "q1", &to,
                                         &e2e_e2e_room.schema->emit[0], &m.base, d), 0);
        assert_int_equal(res.count, 3);
        verani_rpc_result_free(&res);
    }
    for (i = 0; i < 3; i++)
        until_events(l, c[i], 300);
    set1 = redis_calls(cl.rs, "set");
    pub1 = redis_calls(cl.rs, "publish");
    other1 = redis_calls(cl.rs, "evalsha") + redis_calls(cl.rs, "eval") +
             redis_calls(cl.rs, "hget");
    assert_int_equal(other1, other0);
    /* every PUBLISH is a heartbeat's (one per SET; a beat may fall across a reading) */
    if (pub1 - pub0 > set1 - set0 + NODES)
        fail_msg("%lld PUBLISH for %lld heartbeats while emitting", pub1 - pub0, set1 - set0);
    rc_loop_destroy(l);
    cluster_stop(&cl);
}

/* A node that stops gracefully leaves the cluster: another node claims its instances at
 * once (the first connection there is served, not moved to the node that is gone), without
 * waiting for the stopped node's lease to run out; the session of the stopped node came with
 * the instance (handed over) and waits there for its client's resume. */
static void test_stop_leaves(void **state)
{
    cluster cl;
    rc_loop *l = rc_loop_create();
    rc_conn *c;

    (void)state;
    cluster_start(&cl, 0);
    wait_mesh(&cl);
    c = e2e_join(l, cl.node[1].port, "/e2e/r7?userId=u0");
    assert_int_equal(metric(&cl, 1, "verani_cluster_owned_instances"), 1);
    e2e_server_stop(&cl.node[1]); /* 1012 to its client; it leaves */
    assert_true(rc_wait(l, e2e_p_closed, c, DL_GENEROUS(DL_WAIT_MS)));
    /* lws 4.1's client parser reports the server's 1012 as 1002; the reason is the server's */
    assert_string_equal(c->close_reason, "server restarting");

    c = e2e_join(l, cl.node[0].port, "/e2e/r7?userId=u1");
    assert_true(c->welcomed && !c->closed);
    assert_int_equal(sessions_on(&cl, 0, "r7"), 2);
    assert_int_equal(metric(&cl, 0, "verani_cluster_handover_sessions_total"), 1);
    assert_int_equal(metric(&cl, 0, "verani_cluster_claims_total{result=\"lost\"}"), 0);
    assert_int_equal(metric(&cl, 0, "verani_cluster_moved_total"), 0);
    rc_loop_destroy(l);
    cluster_stop(&cl);
}

static int p_event(void *arg)
{
    const rc_conn *c = arg;

    return c->n_events > 0 || c->closed;
}

static int p_text(void *arg)
{
    const rc_conn *c = arg;

    return c->n_texts > 0 || c->closed;
}

/* Verani's JSON wire on cluster nodes: a JSON session at a node that must first claim the
 * instance begins (on_connect) once the claim is won, with the connection held meanwhile; it
 * shares the instance with binary sessions; at another node it is moved with 4003 before it
 * begins (Verani's client then reconnects to the same URL: PROTOCOL.md section 8). When it
 * ends it is gone at once: no session waits for a resume. */
static void test_json_wire(void **state)
{
    cluster cl;
    rc_loop *l = rc_loop_create();
    rc_conn *j, *b, *far;
    static const char cmd[] = "{\"type\":\"cmd\",\"data\":{\"op\":1,\"arg\":\"default\","
                              "\"text\":\"from json\",\"exceptSelf\":true}}";

    (void)state;
    cluster_start(&cl, 0);
    wait_mesh(&cl);
    j = rc_connect(l, cl.node[1].port, "/e2e-json/rj?userId=j1", 0);
    j->keep = 1;
    e2e_wait_log(l, "connect:j1:-"); /* after the claim, without a frame from the client */
    assert_int_equal(metric(&cl, 1, "verani_cluster_owned_instances"), 1);
    b = e2e_join(l, cl.node[1].port, "/e2e/rj?userId=b1");
    assert_int_equal(rc_send(j, cmd, sizeof(cmd) - 1, 1), 0);
    assert_true(rc_wait(l, p_text, j, DL_GENEROUS(DL_WAIT_MS)));
    assert_string_equal(j->texts[0], "{\"type\":\"event\",\"channel\":\"default\","
                                     "\"data\":{\"type\":\"cmd\",\"n\":1}}");
    assert_true(rc_wait(l, p_event, b, DL_GENEROUS(DL_WAIT_MS)));
    assert_int_equal(b->n_events, 1);

    far = rc_connect(l, cl.node[0].port, "/e2e-json/rj?userId=j2", 0);
    assert_true(rc_wait(l, e2e_p_closed, far, DL_GENEROUS(DL_WAIT_MS)));
    assert_int_equal(far->close_code, 4003);
    assert_int_equal(e2e_log_count("connect:j2:-"), 0);

    rc_close(j);
    e2e_wait_log(l, "disconnect:j1");
    assert_int_equal(sessions_on(&cl, 1, "rj"), 1);
    rc_loop_destroy(l);
    cluster_stop(&cl);
}

static const vt_case cases[] = {
    VT_CASE(test_json_wire, ""),
    VT_CASE(test_moved_then_redirect, ""),
    VT_CASE(test_clients_reach_owner, ""),
    VT_CASE(test_release_when_idle, ""),
    VT_CASE(test_fenced_then_kept, ""),
    VT_CASE(test_fenced_then_dropped, ""),
    VT_CASE(test_stop_leaves, ""),
    VT_CASE(test_fenced_slow_close, ""),
    VT_CASE(test_hello_while_fenced, ""),
    VT_CASE(test_emit_forwarded, ""),
    VT_CASE(test_calls_forwarded, ""),
    VT_CASE(test_calls_gathered, ""),
    VT_CASE(test_http_api_forwarded, ""),
    VT_CASE(test_no_redis_per_frame, ""),
};

/* `test_cluster_route test_<case>` runs one case (CTest: cluster_route_<case>). */
int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("cluster_route", cases, VT_N(cases), argc > 1 ? argv[1] : NULL,
                   cu_teardown);
}
