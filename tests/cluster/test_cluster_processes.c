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
 * exactly one owner before and after; every node exits 0 on SIGTERM. The
 * same cluster also loses its owner to SIGKILL (the clients resume at B with
 * recovery_failed, every poke they heard in B's storage) and to SIGSTOP past
 * its lease (B takes over; once A runs again it sends nothing more and drops
 * the instance); a raw client resuming at B after A's crash gets, in a new
 * epoch, every frame B sent it meanwhile. Every wait is bounded by a deadline.
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

/* The clients short of `pokes` heard or `opens` opens, each with its connection's state,
 * when a wait for them ends without them (so that a failure says which and how). */
static void cr_report(const crashee *k, int pokes, int opens)
{
    int i;

    for (i = 0; i < CRASH_CLIENTS; i++) {
        verani_client_info info;

        if (k[i].pokes_heard >= pokes && k[i].opens >= opens)
            continue;
        memset(&info, 0, sizeof(info));
        verani_client_get_info(k[i].c, &info);
        fprintf(stderr, "client u%d: %d of %d pokes heard, %d of %d opens; state %d, connection "
                "%llu, %u failed attempts, last seq %llu, %zu queued, %zu requests pending\n",
                i, k[i].pokes_heard, pokes, k[i].opens, opens, (int)info.state,
                (unsigned long long)info.connection_id, info.attempts,
                (unsigned long long)info.last_seq, info.queued, info.pending_requests);
    }
}

static void cr_until(verani_client_loop *loop, const crashee *k, int pokes, int opens)
{
    int64_t d = dl_after(DL_WAIT_MS);

    while (!cr_all(k, pokes, opens) && !dl_passed(d))
        verani_client_loop_service(loop, 10);
    if (!cr_all(k, pokes, opens))
        cr_report(k, pokes, opens);
    assert_true(cr_all(k, pokes, opens));
}

/* CRASH_CLIENTS typed clients u0.. of E2e/`inst` through `lb`, noting into `k`; with
 * `fast_ping`, a server that stops answering is noticed within a second. */
static void crashees_start(verani_client_loop *loop, crashee *k, const char *lb, const char *inst,
                           int fast_ping)
{
    int i;

    for (i = 0; i < CRASH_CLIENTS; i++) {
        verani_client_options o;
        char url[128], err[256];

        verani_client_options_init(&o);
        snprintf(url, sizeof(url), "ws://%s/e2e/%s?userId=u%d", lb, inst, i);
        o.url = url;
        o.room = &e2e_e2e_schema;
        o.initial_delay_ms = 200;
        o.max_delay_ms = 1000;
        o.max_attempts = VERANI_CLIENT_UNLIMITED;
        if (fast_ping) {
            o.ping_interval_ms = 300;
            o.pong_timeout_ms = 700;
        }
        k[i].c = verani_client_create(loop, &o, err, sizeof(err));
        if (!k[i].c)
            fail_msg("verani_client_create: %s", err);
        assert_int_equal(e2e_e2e_client_on_chat_out(k[i].c, cr_chat, &k[i]), 0);
        assert_true(verani_client_on_open(k[i].c, cr_open, &k[i]) > 0);
        assert_true(verani_client_on_recovery_failed(k[i].c, cr_recovery, &k[i]) > 0);
    }
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
    crashees_start(loop, k, fp_address(lb), "k1", 0);
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
    if (!cr_all(k, CRASH_CLIENTS, 2))
        cr_report(k, CRASH_CLIENTS, 2);
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

/* --- a pause: no split brain ----------------------------------------------------------------- */

/* A figure of the node's /metrics (-1 when absent). */
static long long node_metric(const node *n, const char *name)
{
    char resp[65536], key[160], *p;

    assert_int_equal(rc_tcp_request(n->port, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                    "Authorization: Bearer m\r\nConnection: close\r\n\r\n",
                                    resp, sizeof(resp)), 200);
    snprintf(key, sizeof(key), "\n%s ", name);
    p = strstr(resp, key);
    return p ? atoll(p + strlen(key)) : -1;
}

/* SCALEOUT.md section 6 check 7: the owner A is paused (SIGSTOP) past its lease while a raw
 * client of its own keeps sending pokes into its socket; the balancer sends the typed clients
 * to B, which claims the instance after A's lease and restores their sessions (they poke
 * again there). Then A goes on (SIGCONT): it fences before it dispatches any input, so the raw
 * client gets no frame from A after the takeover, only the 1012; A finds the instance taken
 * and drops it; Redis's count is B's alone (A's buffered pokes never ran). */
#define DROPPED "verani_cluster_fenced_instances_total{outcome=\"dropped\"}"
#define REFUSED "verani_cluster_storage_batches_total{result=\"refused\"}"

static void test_sigstop_no_split_brain(void **state)
{
    static node nodes[3];
    static crashee k[CRASH_CLIENTS];
    rs_server *rs = rs_start(NULL);
    char dir[] = "/tmp/verani-procs.XXXXXX", owner[64], want[16];
    unsigned char buf[256];
    verani_client_loop *loop;
    fault_proxy *lb;
    size_t len;
    int64_t d;
    int i, fd, op, code = 0, events = 0;

    (void)state;
    memset(k, 0, sizeof(k));
    nodes_start(nodes, rs, dir);
    lb = fp_start_tcp(nodes[0].port);
    loop = client_loop();
    crashees_start(loop, k, fp_address(lb), "p1", 1); /* a pause is noticed within 1 s */
    cr_until(loop, k, 0, 1);
    verani__wire__envelope__free_unpacked(raw_hello(&fd, nodes[0].port, "p1", NULL, 0, NULL, 1),
                                      NULL);
    assert_int_equal(e2e_e2e_client_emit_poke(k[0].c), 0);
    cr_until(loop, k, 1, 1);

    kill(nodes[0].pid, SIGSTOP);
    fp_retarget(lb, nodes[1].port);
    for (i = 0; i < 3; i++)
        raw_poke(fd); /* into A's socket: read only when A runs again */
    d = dl_after(DL_GENEROUS(1000 + 1000 + 1000 + 700)); /* lease + backoff + 1 s + pong */
    while (!cr_all(k, 1, 2) && !dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_true(cr_all(k, 1, 2)); /* every one at B */
    owner_of(rs, "p1", owner, sizeof(owner));
    assert_string_equal(owner, "node-b");
    for (i = 0; i < 2; i++)
        assert_int_equal(e2e_e2e_client_emit_poke(k[1].c), 0);
    cr_until(loop, k, 3, 2);

    kill(nodes[0].pid, SIGCONT);
    d = dl_after(DL_WAIT_MS); /* A's frames on the raw connection, up to its close */
    while (!dl_passed(d)) {
        while ((op = rc_tcp_read_frame(fd, 100, buf, sizeof(buf), &len)) == 9 || op == 10)
            ; /* pings, pongs */
        if (op == 2)
            events++;
        if (op == 8 && len >= 2)
            code = buf[0] << 8 | buf[1];
        if (op == 0 || op == 8)
            break;
        verani_client_loop_service(loop, 10);
    }
    close(fd);
    /* the WELCOME came before; the first poke's frame too (read here, before the pause) */
    if (events > 1)
        fail_msg("node A sent %d frame(s) after it was paused (1 expected: the first poke's)",
                 events);
    assert_int_equal(code, 1012);
    d = dl_after(DL_WAIT_MS); /* A asks Redis, finds the instance taken, drops it */
    while (node_metric(&nodes[0], DROPPED) < 1 && !dl_passed(d))
        dl_nap_ms(20);
    assert_int_equal(node_metric(&nodes[0], DROPPED), 1);
    /* no batch of A's reached Redis to be refused: its buffered pokes never ran */
    assert_int_equal(node_metric(&nodes[0], REFUSED), 0);
    snprintf(want, sizeof(want), "%d", 3);
    expect_count(loop, k[2].c, want); /* B's three pokes, none of A's buffered ones */
    for (i = 0; i < CRASH_CLIENTS; i++)
        if (k[i].recovered_fresh)
            fail_msg("client u%d started afresh", i);
    client_loop_end(loop);
    assert_int_equal(node_stop(&nodes[0]), 0);
    assert_int_equal(node_stop(&nodes[1]), 0);
    assert_int_equal(node_stop(&nodes[2]), 0);
    fp_free(lb);
    rs_free(rs);
    nodes_clean(dir);
}

/* --- the crash-replay epoch across nodes ----------------------------------------------------- */

/* The next envelope on the raw connection that is not a WebSocket ping (checked: kind `kind`). */
static rc_env *raw_next(int fd, int kind)
{
    rc_env *e = rc_tcp_read_env(fd, DL_WAIT_MS);

    if (!e)
        fail_msg("no envelope (kind %d expected) within the deadline", kind);
    if ((int)e->kind != kind)
        fail_msg("envelope of kind %d, not %d", (int)e->kind, kind);
    return e;
}

/* The text of the chat line an EVENT carries. */
static void event_text(const rc_env *e, char *buf, size_t len)
{
    E2e__ChatOut *m = e2e__chat_out__unpack(NULL, e->payload.len, e->payload.data);

    assert_non_null(m);
    snprintf(buf, len, "%s", m->text ? m->text : "");
    e2e__chat_out__free_unpacked(m, NULL);
}

/* The owner A is killed while a raw client R of its instance is connected (it heard "poke 1",
 * then resumed at A and lost that WELCOME, and heard "poke 2"). Node B claims the instance for
 * typed client T and restores R's session from its record, detached; T pokes, so B sends
 * "poke 3" to R's waiting session as well. R resumes at B with its first token (the one it
 * still holds), epoch and last seq: the WELCOME says resumed, recovery_failed (A's frames
 * died with A) and a new epoch, and B's "poke 3" follows as seq 1 of that epoch: a client
 * resuming on a new owner gets every frame the new owner sent to it. */
static void test_crash_epoch_replay(void **state)
{
    static node nodes[3];
    static crashee k[1];
    rs_server *rs = rs_start(NULL);
    char dir[] = "/tmp/verani-procs.XXXXXX", token[64], epoch[32], text[32];
    verani_client_loop *loop;
    verani_client_options o;
    fault_proxy *lb;
    rc_env *w, *e;
    uint64_t seq;
    char url[128], err[256];
    int fd;

    (void)state;
    memset(k, 0, sizeof(k));
    nodes_start(nodes, rs, dir);
    w = raw_hello(&fd, nodes[0].port, "e1", NULL, 0, NULL, 1);
    snprintf(token, sizeof(token), "%s", w->welcome->resume_token);
    snprintf(epoch, sizeof(epoch), "%s", w->welcome->epoch);
    verani__wire__envelope__free_unpacked(w, NULL);
    raw_poke(fd);
    e = raw_next(fd, VERANI__WIRE__KIND__EVENT);
    event_text(e, text, sizeof(text));
    assert_string_equal(text, "poke 1");
    seq = e->seq;
    verani__wire__envelope__free_unpacked(e, NULL);
    /* R resumes at A once more and that WELCOME is taken as lost with its connection: R keeps
     * its first token, which A's record of the session keeps too. The poke heard after it
     * proves the record is in Redis (a frame leaves only behind the writes before it). */
    close(fd);
    w = raw_hello(&fd, nodes[0].port, "e1", token, seq, epoch, 1);
    assert_true(w->welcome->resumed);
    verani__wire__envelope__free_unpacked(w, NULL);
    raw_poke(fd);
    e = raw_next(fd, VERANI__WIRE__KIND__EVENT);
    event_text(e, text, sizeof(text));
    assert_string_equal(text, "poke 2");
    verani__wire__envelope__free_unpacked(e, NULL);

    node_kill(&nodes[0]);
    close(fd);
    lb = fp_start_tcp(nodes[1].port);
    loop = client_loop();
    verani_client_options_init(&o);
    snprintf(url, sizeof(url), "ws://%s/e2e/e1?userId=t", fp_address(lb));
    o.url = url;
    o.room = &e2e_e2e_schema;
    o.initial_delay_ms = 200;
    o.max_delay_ms = 1000;
    o.max_attempts = VERANI_CLIENT_UNLIMITED;
    k[0].c = verani_client_create(loop, &o, err, sizeof(err));
    if (!k[0].c)
        fail_msg("verani_client_create: %s", err);
    assert_int_equal(e2e_e2e_client_on_chat_out(k[0].c, cr_chat, &k[0]), 0);
    assert_int_equal(e2e_e2e_client_emit_poke(k[0].c), 0); /* queued until B serves it */
    {
        int64_t d = dl_after(DL_GENEROUS(1000 + 1000 + 1000)); /* lease + backoff + 1 s */

        while (k[0].pokes_heard < 1 && !dl_passed(d))
            verani_client_loop_service(loop, 10);
        assert_int_equal(k[0].pokes_heard, 1); /* "poke 3", from B */
    }

    w = raw_hello(&fd, nodes[1].port, "e1", token, seq, epoch, 1);
    assert_true(w->welcome->resumed);
    assert_true(w->welcome->recovery_failed);
    assert_string_not_equal(w->welcome->epoch, epoch);
    assert_int_equal(w->welcome->seq, 1); /* B has sent it one frame */
    verani__wire__envelope__free_unpacked(w, NULL);
    e = raw_next(fd, VERANI__WIRE__KIND__EVENT);
    assert_int_equal(e->seq, 1);
    event_text(e, text, sizeof(text));
    assert_string_equal(text, "poke 3");
    verani__wire__envelope__free_unpacked(e, NULL);
    close(fd);
    client_loop_end(loop);
    assert_int_equal(node_stop(&nodes[1]), 0);
    assert_int_equal(node_stop(&nodes[2]), 0);
    fp_free(lb);
    rs_free(rs);
    nodes_clean(dir);
}

static const vt_case cases[] = {
    VT_CASE(test_sigterm_handover, ""),
    VT_CASE(test_sigkill_failover, ""),
    VT_CASE(test_sigstop_no_split_brain, ""),
    VT_CASE(test_crash_epoch_replay, ""),
};

/* `test_cluster_processes test_<case>` runs one case (CTest: cluster_processes_<case>). */
int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("cluster_processes", cases, VT_N(cases), argc > 1 ? argv[1] : NULL,
                   cu_teardown);
}
