/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_server.c: a server with opts.cluster against a real redis-server (issue 16,
 * first slice): GET /health for load balancers; the node registers and serves while its lease
 * is held; while Redis does not answer (SIGSTOP) the lease runs out, /health and every upgrade
 * answer 503 with Retry-After, and once Redis answers again (SIGCONT) the node serves again;
 * options the cluster cannot run with are refused at listen with a reason. Every wait is
 * bounded by a deadline derived from the lease; nothing asserts how long anything took.
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

#include <verani/verani.h>

#include "cases.h"
#include "cleanup.h"
#include "deadline.h"
#include "e2e_room.h"
#include "e2e_util.h"
#include "rawclient.h"
#include "redis_server.h"

#define HEARTBEAT_MS 200
#define LEASE_MS 1000
#define TIMEOUT_MS 300

/* GET /health: its status, the answer (head and body) in `resp`. */
static int health(int port, char *resp, size_t len)
{
    return rc_tcp_get(port, "/health", resp, len);
}

/* Poll /health until it answers `status` (LEASE_MS generously); fails otherwise. */
static void wait_health(int port, int status, char *resp, size_t len)
{
    int64_t d = dl_after(DL_GENEROUS(LEASE_MS));
    int got;

    while ((got = health(port, resp, len)) != status && !dl_passed(d))
        dl_nap_ms(20);
    if (got != status)
        fail_msg("/health answered %d, not %d: %s", got, status, resp);
}

/* The status of a WebSocket upgrade to `path` (the socket is closed after). */
static int upgrade(int port, const char *path, char *head, size_t len)
{
    int fd = rc_tcp_connect(port, 0), st;

    assert_true(fd >= 0);
    st = rc_tcp_upgrade(fd, path, head, len);
    close(fd);
    return st;
}

static void cluster_options(verani_server_options *o, const rs_server *rs)
{
    e2e_server_options(o);
    o->cluster.redis_address = rs->address;
    o->cluster.node_id = "node-a";
    o->cluster.public_url = "ws://127.0.0.1:1";
    o->cluster.heartbeat_ms = HEARTBEAT_MS;
    o->cluster.lease_ms = LEASE_MS;
    o->cluster.command_timeout_ms = TIMEOUT_MS;
}

/* Without a cluster, /health says so and 200. */
static void test_health_alone(void **state)
{
    e2e_server h;
    char resp[2048];

    (void)state;
    e2e_server_start(&h, NULL, NULL, NULL);
    assert_int_equal(health(h.port, resp, sizeof(resp)), 200);
    assert_non_null(strstr(resp, "{\"status\":\"ok\",\"cluster\":false}"));
    assert_non_null(strstr(resp, "application/json"));
    e2e_server_stop(&h);
}

/* The node serves while it holds its lease, refuses with 503 and Retry-After while Redis
 * does not answer, and serves again once it does. */
static void test_serves_while_live(void **state)
{
    rs_server *rs = rs_start(NULL);
    verani_server_options o;
    e2e_server h;
    char resp[2048], head[2048];

    (void)state;
    cluster_options(&o, rs);
    e2e_server_start(&h, &o, NULL, NULL);
    wait_health(h.port, 200, resp, sizeof(resp));
    assert_non_null(strstr(resp, "\"cluster\":true,\"node\":\"node-a\",\"live\":true"));
    assert_int_equal(upgrade(h.port, "/e2e/c1?userId=a", head, sizeof(head)), 101);

    rs_signal(rs, SIGSTOP); /* no heartbeat is answered: the lease runs out */
    wait_health(h.port, 503, resp, sizeof(resp));
    assert_non_null(strstr(resp, "\"live\":false"));
    assert_non_null(strstr(resp, "retry-after: 1"));
    assert_int_equal(upgrade(h.port, "/e2e/c1?userId=a", head, sizeof(head)), 503);
    assert_non_null(strstr(head, "retry-after: 1"));

    rs_signal(rs, SIGCONT);
    wait_health(h.port, 200, resp, sizeof(resp));
    assert_int_equal(upgrade(h.port, "/e2e/c1?userId=a", head, sizeof(head)), 101);
    e2e_server_stop(&h);
    rs_free(rs);
}

/* Options the cluster cannot run with fail at listen, saying why: the poll() loop, and a
 * lease shorter than three heartbeats. */
static void test_bad_options(void **state)
{
    rs_server *rs = rs_start(NULL);
    verani_server_options o;
    verani_server *srv;
    char err[256];

    (void)state;
    cluster_options(&o, rs);
    o.event_loop = VERANI_LOOP_POLL;
    srv = verani_server_create(&o, err, sizeof(err));
    assert_non_null(srv);
    assert_int_equal(e2e_mount_all(srv), 0);
    assert_int_equal(verani_server_listen(srv), VERANI_EINVAL);
    assert_non_null(strstr(verani_server_last_error(srv), "default event loop"));
    verani_server_destroy(srv);

    cluster_options(&o, rs);
    o.cluster.lease_ms = 2 * HEARTBEAT_MS;
    srv = verani_server_create(&o, err, sizeof(err));
    assert_non_null(srv);
    assert_int_equal(e2e_mount_all(srv), 0);
    assert_int_equal(verani_server_listen(srv), VERANI_EINVAL);
    assert_non_null(strstr(verani_server_last_error(srv), "at least 3 heartbeats"));
    verani_server_destroy(srv);
    rs_free(rs);
}

static const vt_case cases[] = {
    VT_CASE(test_health_alone, ""),
    VT_CASE(test_serves_while_live, ""),
    VT_CASE(test_bad_options, ""),
};

/* `test_cluster_server test_<case>` runs one case (CTest: cluster_server_<case>). */
int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("cluster_server", cases, VT_N(cases), argc > 1 ? argv[1] : NULL,
                   cu_teardown);
}
