/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_handover.c: a graceful stop of an owner loses nothing (issue 16,
 * shared/SCALEOUT.md section 6 check 5). Three nodes of one cluster against a
 * real redis-server; 100 typed clients of one room instance reach it through a
 * TCP proxy that plays the load balancer (all to node A, the owner). An
 * outside caller emits 1,000 numbered frames to them; a third of the way
 * through, node A stops (what SIGTERM does) and the balancer sends new
 * connections to node B. A stores the instance's sessions and windows in
 * Redis, releases it and closes with 1012; the clients come back through the
 * balancer, B claims the instance, restores the sessions, and every client
 * resumes: every frame once, in order, recovery_failed never, no on_connect
 * and no on_disconnect anywhere after the first connects, on_hibernation_restore
 * once. Every wait is bounded by a deadline; the time from the stop to the
 * last resume is printed, never asserted. A client whose last WELCOME was lost (it holds
 * only the token it presented) resumes at the next owner with that token.
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
#include "cluster_util.h"
#include "deadline.h"
#include "e2e_client.h"
#include "e2e_room.h"
#include "fault_proxy.h"
#include "handover_util.h"
#include "rawclient.h"

/* Frame `n` to channel "default" of instance h1, through node `i`: 1 when it reached every
 * client's session (connected or waiting for its resume). */
static int emit_rpc(emitter *em, int i, int n)
{
    cluster *cl = em->arg;
    verani_rpc_result res;
    verani_rpc_done d = {NULL, NULL, DL_WAIT_MS, &res};
    E2e__ChatOut m = E2E__CHAT_OUT__INIT;
    char text[16];
    int r, ok;

    snprintf(text, sizeof(text), "%d", n);
    m.text = text;
    m.from = "emitter";
    memset(&res, 0, sizeof(res));
    r = e2e_e2e_rpc_emit_chat_out(cl->node[i].srv, "h1", verani_to_channel("default"), &m, d);
    ok = r == 0 && res.count == HO_CLIENTS;
    snprintf(em->last, sizeof(em->last), "%d (%s), count %zu", r, verani_strerror(r),
             res.count);
    /* a partial count cannot happen: an instance is handed over whole */
    if (r == 0 && res.count && res.count != HO_CLIENTS)
        atomic_store(&em->failed, 1);
    verani_rpc_result_free(&res);
    return ok;
}

typedef struct stopping {
    cluster *cl;
    fault_proxy *lb;
} stopping;

/* The balancer's health check sees A go: new connections go to B; A stops (SIGTERM's way). */
static void stop_a(void *arg)
{
    stopping *st = arg;

    fp_retarget(st->lb, st->cl->node[1].port);
    verani_server_stop(st->cl->node[0].srv);
}

/* Hook log entries that start with `prefix` (e2e_room.h's log, every node's). */
static int logged(const char *prefix)
{
    static char buf[65536];
    const char *p;
    int n = 0;

    e2e_log_get(buf, sizeof(buf));
    for (p = buf; (p = strstr(p, prefix)); p += strlen(prefix))
        n += p == buf || p[-1] == ' ';
    return n;
}

/* --- the case ------------------------------------------------------------------------------- */

static void test_graceful_handover(void **state)
{
    static watcher w[HO_CLIENTS];
    cluster cl;
    verani_client_loop *loop;
    emitter em;
    stopping st;
    int64_t ms;

    (void)state;
    memset(&em, 0, sizeof(em));
    cluster_start(&cl, 0);
    wait_mesh(&cl);
    st.cl = &cl;
    st.lb = fp_start_tcp(cl.node[0].port);
    loop = client_loop();
    watchers_start(loop, fp_address(st.lb), "h1", w);
    assert_int_equal(logged("connect:"), HO_CLIENTS);
    assert_int_equal(sessions_on(&cl, 1, "h1"), HO_CLIENTS); /* node A's, asked through B */

    em.emit = emit_rpc;
    em.arg = &cl;
    ms = handover_stream(loop, w, &em, stop_a, &st);
    assert_int_equal(e2e_server_join(&cl.node[0]), 0); /* A stopped cleanly */
    /* on_connect only for the first connects, no session ended, one restore */
    assert_int_equal(logged("connect:"), HO_CLIENTS);
    assert_int_equal(logged("disconnect:"), 0);
    assert_int_equal(logged("restore:h1:"), 1);
    assert_int_equal(metric(&cl, 1, "verani_cluster_handover_sessions_total"), HO_CLIENTS);
    assert_int_equal(sessions_on(&cl, 2, "h1"), HO_CLIENTS); /* node B's now, asked through C */
    print_message("handover: %d clients resumed %lld ms after the stop; %d emits retried "
                  "while the instance moved\n", HO_CLIENTS, (long long)ms, em.retries);
    client_loop_end(loop);
    fp_free(st.lb);
    cluster_stop(&cl);
}

/* A resume whose WELCOME was lost, then a graceful stop: the raw client resumed at node A with
 * its first token and never read the WELCOME (its new token is dropped here), and its
 * connection ends as A is asked to stop. A hands the session to Redis (a connection that
 * ends while a stop is pending detaches, and goes with the others); the client, which holds
 * only its first token, resumes at node B with it: the handover carried the token the
 * resume presented. */
static void test_handover_keeps_presented_token(void **state)
{
    cluster cl;
    raw_ids r;
    rc_env *w;
    int fd;

    (void)state;
    cluster_start(&cl, 0);
    wait_mesh(&cl);
    raw_fresh_then_cut(cl.node[0].port, "h2", &r);
    w = raw_hello(&fd, cl.node[0].port, "h2", r.token, 0, r.epoch, 1);
    assert_true(w->welcome->resumed);
    assert_string_not_equal(w->welcome->resume_token, r.token); /* taken as never read */
    verani__wire__envelope__free_unpacked(w, NULL);
    close(fd);

    /* at once: A may see the connection's end in the turn that sees the stop */
    verani_server_stop(cl.node[0].srv);
    assert_int_equal(e2e_server_join(&cl.node[0]), 0); /* handed over, released */
    w = raw_hello(&fd, cl.node[1].port, "h2", r.token, 0, r.epoch, 1);
    assert_true(w->welcome->resumed);
    assert_false(w->welcome->recovery_failed);
    assert_string_equal(w->welcome->client_id, r.id);
    verani__wire__envelope__free_unpacked(w, NULL);
    close(fd);
    cluster_stop(&cl);
}

static const vt_case cases[] = {
    VT_CASE(test_graceful_handover, ""),
    VT_CASE(test_handover_keeps_presented_token, ""),
};

/* `test_cluster_handover test_<case>` runs one case (CTest: cluster_handover_<case>). */
int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("cluster_handover", cases, VT_N(cases), argc > 1 ? argv[1] : NULL,
                   cu_teardown);
}
