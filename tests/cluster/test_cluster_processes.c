/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_processes.c: a cluster as an operator runs it (issue 16): a
 * redis-server and three node processes (cluster_node_main.c), each with its
 * own SQLite file, all started by the test, and a TCP proxy in front that
 * plays the load balancer. 100 typed clients of one room instance enter
 * through it (node A owns the instance); the HTTP API of the nodes emits
 * 1,000 numbered frames to them; a third of the way through node A gets
 * SIGTERM and the balancer sends new connections to node B. Every client
 * resumes at B with every frame once, in order, recovery_failed never; the
 * hook logs the nodes print show on_connect only at A (100), no
 * on_disconnect at A, on_hibernation_restore once at B; Redis names
 * exactly one owner before and after; every node exits 0 on SIGTERM. Every
 * wait is bounded by a deadline.
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

#include <verani/verani.h>

#include "cases.h"
#include "cleanup.h"
#include "cluster_util.h"
#include "deadline.h"
#include "e2e_client.h"
#include "fault_proxy.h"
#include "handover_util.h"
#include "node_proc.h"
#include "rawclient.h"
#include "redis_server.h"

/* --- the emitter, over HTTP -------------------------------------------------------------- */

/* POST frame `n` to channel "default" of E2e/h1 at node `i`: 1 when every session got it. */
static int emit_http(emitter *em, int i, int n)
{
    node *nodes = em->arg;
    E2e__ChatOut m = E2E__CHAT_OUT__INIT;
    char text[16], body[64], req[512], resp[4096], want[32];
    size_t len, hl;
    int st;

    snprintf(text, sizeof(text), "%d", n);
    m.text = text;
    m.from = "emitter";
    len = e2e__chat_out__pack(&m, (uint8_t *)body);
    snprintf(req, sizeof(req), "POST /_verani/rooms/E2e/h1/emit/chat.out?channel=default "
             "HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n", len);
    /* the body has no NUL (a short number and "emitter"): the request is a C string */
    hl = strlen(req);
    memcpy(req + hl, body, len);
    req[hl + len] = '\0';
    st = rc_tcp_request(nodes[i].port, req, resp, sizeof(resp));
    snprintf(em->last, sizeof(em->last), "%d %s", st, strstr(resp, "\r\n\r\n")
             ? strstr(resp, "\r\n\r\n") + 4 : "");
    snprintf(want, sizeof(want), "{\"delivered\":%d}", HO_CLIENTS);
    return st == 200 && strstr(resp, want);
}

typedef struct stopping {
    node *a, *b;
    fault_proxy *lb;
} stopping;

/* The balancer's health check sees A go: new connections go to B; A gets SIGTERM. */
static void stop_a(void *arg)
{
    stopping *st = arg;

    fp_retarget(st->lb, st->b->port);
    kill(st->a->pid, SIGTERM);
}

static void test_sigterm_handover(void **state)
{
    static watcher w[HO_CLIENTS];
    static node nodes[3];
    rs_server *rs = rs_start(NULL);
    char dir[] = "/tmp/verani-procs.XXXXXX", owner[64];
    verani_client_loop *loop;
    stopping stp;
    emitter em;

    (void)state;
    memset(&em, 0, sizeof(em));
    nodes_start(nodes, rs, dir);
    stp.a = &nodes[0];
    stp.b = &nodes[1];
    stp.lb = fp_start_tcp(nodes[0].port);
    loop = client_loop();
    watchers_start(loop, fp_address(stp.lb), "h1", w);
    owner_of(rs, "h1", owner, sizeof(owner));
    assert_string_equal(owner, "node-a");

    em.emit = emit_http;
    em.arg = nodes;
    (void)handover_stream(loop, w, &em, stop_a, &stp);
    owner_of(rs, "h1", owner, sizeof(owner));
    assert_string_equal(owner, "node-b");
    client_loop_end(loop);

    assert_int_equal(node_stop(&nodes[0]), 0);
    assert_int_equal(node_stop(&nodes[1]), 0);
    assert_int_equal(node_stop(&nodes[2]), 0);
    assert_int_equal(count_lines(&nodes[0], "log connect:"), HO_CLIENTS);
    assert_int_equal(count_lines(&nodes[1], "log connect:"), 0);
    assert_int_equal(count_lines(&nodes[2], "log connect:"), 0);
    /* none at the handover (at B, some of the clients said goodbye when their loop ended,
     * as many as got their close frame out before the sockets went: not counted) */
    assert_int_equal(count_lines(&nodes[0], "log disconnect:"), 0);
    assert_int_equal(count_lines(&nodes[2], "log disconnect:"), 0);
    assert_int_equal(count_lines(&nodes[0], "log restore:"), 0);
    assert_int_equal(count_lines(&nodes[1], "log restore:h1:"), 1);
    assert_true(has_line(&nodes[0], "stopped 0"));
    fp_free(stp.lb);
    rs_free(rs);
    nodes_clean(dir);
}

/* --- a crash -------------------------------------------------------------------------------- */

#define CRASH_CLIENTS 20

typedef struct crashee {
    verani_client *c;
    char id[64];              /* its client id before the crash */
    int pokes_heard, opens, recovered_resumed, recovered_fresh;
} crashee;

static void cr_chat(verani_client *c, const E2e__ChatOut *msg, void *user)
{
    (void)c;
    ((crashee *)user)->pokes_heard += msg->text && !strncmp(msg->text, "poke ", 5);
}

static void cr_open(verani_client *c, void *user)
{
    (void)c;
    ((crashee *)user)->opens++;
}

static void cr_recovery(verani_client *c, int resumed, void *user)
{
    crashee *k = user;

    (void)c;
    if (resumed)
        k->recovered_resumed++;
    else
        k->recovered_fresh++;
}

static int cr_all(const crashee *k, int pokes, int opens)
{
    int i;

    for (i = 0; i < CRASH_CLIENTS; i++)
        if (k[i].pokes_heard < pokes || k[i].opens < opens)
            return 0;
    return 1;
}

static void cr_until(verani_client_loop *loop, const crashee *k, int pokes, int opens)
{
    int64_t d = dl_after(DL_WAIT_MS);

    while (!cr_all(k, pokes, opens) && !dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_true(cr_all(k, pokes, opens));
}

/* SCALEOUT.md section 6 check 6: the owner is killed (SIGKILL) after its clients heard every
 * poke. After its lease, node B claims the instance and restores its sessions from their
 * records: every client resumes with its client id (recovery_failed: the frames died with
 * the owner), no on_connect runs at B, on_hibernation_restore once, and the count every
 * client heard is in B's storage (the output gate let no poke out before Redis had it).
 * Then A restarts on its own SQLite file and takes nothing back from it. */
static void test_sigkill_failover(void **state)
{
    static node nodes[3];
    static crashee k[CRASH_CLIENTS];
    rs_server *rs = rs_start(NULL);
    char dir[] = "/tmp/verani-procs.XXXXXX", owner[64], want[16];
    verani_client_loop *loop;
    fault_proxy *lb;
    int64_t d;
    int i;

    (void)state;
    memset(k, 0, sizeof(k));
    nodes_start(nodes, rs, dir);
    lb = fp_start_tcp(nodes[0].port);
    loop = client_loop();
    for (i = 0; i < CRASH_CLIENTS; i++) {
        verani_client_options o;
        char url[128], err[256];

        verani_client_options_init(&o);
        snprintf(url, sizeof(url), "ws://%s/e2e/k1?userId=u%d", fp_address(lb), i);
        o.url = url;
        o.room = &e2e_e2e_schema;
        o.initial_delay_ms = 200;
        o.max_delay_ms = 1000;
        o.max_attempts = VERANI_CLIENT_UNLIMITED;
        k[i].c = verani_client_create(loop, &o, err, sizeof(err));
        if (!k[i].c)
            fail_msg("verani_client_create: %s", err);
        assert_int_equal(e2e_e2e_client_on_chat_out(k[i].c, cr_chat, &k[i]), 0);
        assert_true(verani_client_on_open(k[i].c, cr_open, &k[i]) > 0);
        assert_true(verani_client_on_recovery_failed(k[i].c, cr_recovery, &k[i]) > 0);
    }
    cr_until(loop, k, 0, 1);
    for (i = 0; i < CRASH_CLIENTS; i++) {
        verani_client_info info;

        assert_int_equal(verani_client_get_info(k[i].c, &info), 0);
        snprintf(k[i].id, sizeof(k[i].id), "%s", info.client_id);
        assert_int_equal(e2e_e2e_client_emit_poke(k[i].c), 0);
    }
    cr_until(loop, k, CRASH_CLIENTS, 1); /* everyone heard every poke */

    node_kill(&nodes[0]);
    fp_retarget(lb, nodes[1].port);
    d = dl_after(DL_GENEROUS(1000 + 1000 + 1000)); /* lease + max backoff + 1 s */
    while (!cr_all(k, CRASH_CLIENTS, 2) && !dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_true(cr_all(k, CRASH_CLIENTS, 2));
    for (i = 0; i < CRASH_CLIENTS; i++) {
        verani_client_info info;

        assert_int_equal(verani_client_get_info(k[i].c, &info), 0);
        if (strcmp(info.client_id, k[i].id) || k[i].recovered_resumed != 1 ||
            k[i].recovered_fresh)
            fail_msg("client u%d: id %s (was %s), %d resumed with frames lost, %d fresh", i,
                     info.client_id, k[i].id, k[i].recovered_resumed, k[i].recovered_fresh);
    }
    snprintf(want, sizeof(want), "%d", CRASH_CLIENTS);
    expect_count(loop, k[0].c, want); /* every poke anyone heard is in B's storage */
    owner_of(rs, "k1", owner, sizeof(owner));
    assert_string_equal(owner, "node-b");
    /* A restarts with its id and SQLite file, which still hold k1's storage and sessions:
     * it serves again and takes nothing back from its file (section 3.7). */
    node_restart(&nodes[0]);
    node_wait_serving(&nodes[0]);
    owner_of(rs, "k1", owner, sizeof(owner));
    assert_string_equal(owner, "node-b");
    expect_count(loop, k[0].c, want);
    client_loop_end(loop);
    assert_int_equal(node_stop(&nodes[0]), 0);
    assert_int_equal(node_stop(&nodes[1]), 0);
    assert_int_equal(node_stop(&nodes[2]), 0);
    assert_int_equal(count_lines(&nodes[0], "log connect:"), 0);
    assert_int_equal(count_lines(&nodes[0], "log restore:"), 0);
    assert_int_equal(count_lines(&nodes[1], "log connect:"), 0);
    assert_int_equal(count_lines(&nodes[1], "log restore:k1:"), 1);
    fp_free(lb);
    rs_free(rs);
    nodes_clean(dir);
}

static const vt_case cases[] = {
    VT_CASE(test_sigterm_handover, ""),
    VT_CASE(test_sigkill_failover, ""),
};

/* `test_cluster_processes test_<case>` runs one case (CTest: cluster_processes_<case>). */
int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("cluster_processes", cases, VT_N(cases), argc > 1 ? argv[1] : NULL,
                   cu_teardown);
}
