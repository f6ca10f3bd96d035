/* SPDX-License-Identifier: MIT */
/* cluster_util.c: the in-process cluster of cluster_util.h. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "cleanup.h"
#include "cluster_util.h"
#include "deadline.h"
#include "e2e_client.h"
#include "e2e_room.h"
#include "rawclient.h"

/* A port free now on 127.0.0.1 (the node's public URL must name it before it listens). */
int free_port(void)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Every node's /metrics answers with this token. */
static int with_metrics(verani_server *srv, void *arg)
{
    verani_api_options a;

    (void)arg;
    memset(&a, 0, sizeof(a));
    a.token = "t";
    a.metrics_token = "m";
    return verani_server_set_api(srv, &a);
}

void cluster_start_cfg(cluster *cl, const cluster_cfg *cfg)
{
    static const char *ids[NODES] = {"node-a", "node-b", "node-c"};
    verani_server_options o;
    int i;

    if (!cl->rs) {
        memset(cl, 0, sizeof(*cl));
        cl->rs = rs_start(NULL);
    }
    for (i = 0; i < NODES; i++) {
        e2e_server_options(&o);
        o.port = free_port();
        snprintf(cl->url[i], sizeof(cl->url[i]), "ws://127.0.0.1:%d", o.port);
        o.cluster.redis_address = cfg->redis[i] ? cfg->redis[i] : cl->rs->address;
        o.cluster.node_id = ids[i];
        o.cluster.public_url = cl->url[i];
        o.cluster.heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : HEARTBEAT_MS;
        o.cluster.lease_ms = cfg->lease_ms ? cfg->lease_ms : LEASE_MS;
        o.cluster.command_timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : TIMEOUT_MS;
        o.instance_idle_ms = cfg->idle_ms;
        if (cfg->no_resume)
            o.resume_grace_ms = VERANI_RESUME_OFF;
        e2e_server_start_rooms(&cl->node[i], &o, cfg->mount[i] ? cfg->mount[i] : e2e_mount_all,
                               with_metrics, NULL);
        assert_int_equal(cl->node[i].port, o.port);
    }
}

void cluster_redis_start(cluster *cl)
{
    memset(cl, 0, sizeof(*cl));
    cl->rs = rs_start(NULL);
}

void cluster_start(cluster *cl, uint32_t idle_ms)
{
    cluster_cfg cfg;

    memset(cl, 0, sizeof(*cl));
    memset(&cfg, 0, sizeof(cfg));
    cfg.idle_ms = idle_ms;
    cluster_start_cfg(cl, &cfg);
}

void cluster_stop(cluster *cl)
{
    int i;

    for (i = 0; i < NODES; i++)
        if (cl->node[i].srv) /* not stopped by the test already */
            e2e_server_stop(&cl->node[i]);
    rs_free(cl->rs);
}

/* Wait until every node sees the other two live (their heartbeats crossed Redis). */
void wait_mesh(cluster *cl)
{
    int64_t d = dl_after(DL_GENEROUS(10 * LEASE_MS));
    char resp[8192];
    int i, ok = 0;

    while (!ok && !dl_passed(d)) {
        ok = 1;
        for (i = 0; i < NODES && ok; i++)
            ok = rc_tcp_get(cl->node[i].port, "/health", resp, sizeof(resp)) == 200;
        if (!ok)
            dl_nap_ms(20);
    }
    assert_true(ok);
}

/* A figure of node `i`'s /metrics (-1 when absent). */
long long metric(cluster *cl, int i, const char *name)
{
    char resp[65536], key[160], *p;

    assert_int_equal(rc_tcp_request(cl->node[i].port, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                    "Authorization: Bearer m\r\nConnection: close\r\n\r\n",
                                    resp, sizeof(resp)), 200);
    snprintf(key, sizeof(key), "\n%s ", name);
    p = strstr(resp, key);
    return p ? atoll(p + strlen(key)) : -1;
}

/* Sessions of E2e `inst` as node `i` answers (the owner's count when another node owns it;
 * 0 when no node serves it). */
long long sessions_on(cluster *cl, int i, const char *inst)
{
    verani_rpc_result res;
    verani_rpc_done done = {0};
    int r;

    memset(&res, 0, sizeof(res));
    done.out = &res;
    done.timeout_ms = DL_WAIT_MS;
    r = verani_rpc_session_count(cl->node[i].srv, "E2e", inst, done);
    if (r == VERANI_ENOTFOUND)
        return 0;
    assert_int_equal(r, 0);
    return (long long)res.count;
}

void redis_hget(const rs_server *rs, const char *key, const char *field, char *buf,
                size_t len)
{
    redisContext *r = redisConnectUnix(rs->sock);
    redisReply *rep;

    assert_true(r && !r->err);
    rep = redisCommand(r, "HGET %s %s", key, field);
    assert_non_null(rep);
    snprintf(buf, len, "%s", rep->type == REDIS_REPLY_STRING ? rep->str : "");
    freeReplyObject(rep);
    redisFree(r);
}

void stored_field(const rs_server *rs, const char *inst, const char *field, char *buf,
                  size_t len)
{
    char key[128];

    snprintf(key, sizeof(key), "vr:st:{E2e/%s}", inst);
    redis_hget(rs, key, field, buf, len);
}

static void loop_undo(void *loop)
{
    verani_client_loop_destroy(loop);
}

/* A client loop for the test, destroyed at its teardown. */
verani_client_loop *client_loop(void)
{
    char err[256];
    verani_client_loop *loop = verani_client_loop_create(err, sizeof(err));

    if (!loop)
        fail_msg("verani_client_loop_create: %s", err);
    cu_push(loop_undo, loop);
    return loop;
}

/* Destroy `loop` now (its sockets close, so the servers need not wait for their close
 * frames to be answered), not at the teardown. */
void client_loop_end(verani_client_loop *loop)
{
    cu_drop(loop);
    verani_client_loop_destroy(loop);
}


typedef struct got {
    int done;
    char text[128];
} got;

static void on_echo(verani_client *c, verani_reply_status st, const E2e__Echo *reply,
                    const char *error, void *user)
{
    got *g = user;

    (void)c;
    if (st == VERANI_REPLY_OK && reply && reply->text)
        snprintf(g->text, sizeof(g->text), "%s", reply->text);
    else
        snprintf(g->text, sizeof(g->text), "(failed: status %d, %s)", (int)st,
                 error ? error : "no error text");
    g->done = 1;
}

void get_count(verani_client_loop *loop, verani_client *c, char *out, size_t len)
{
    E2e__Echo req = E2E__ECHO__INIT;
    int64_t d = dl_after(DL_WAIT_MS);
    got g;

    memset(&g, 0, sizeof(g));
    req.text = "get";
    assert_int_equal(e2e_e2e_client_request_echo(c, &req, DL_WAIT_MS, on_echo, &g), 0);
    while (!g.done && !dl_passed(d))
        verani_client_loop_service(loop, 10);
    if (!g.done) {
        verani_client_info info;

        verani_client_get_info(c, &info);
        fail_msg("no answer to get: client state %d, %u failed attempts, connection %llu",
                 (int)info.state, info.attempts, (unsigned long long)info.connection_id);
    }
    snprintf(out, len, "%s", g.text);
}

void expect_count(verani_client_loop *loop, verani_client *c, const char *want)
{
    char text[128];

    get_count(loop, c, text, sizeof(text));
    assert_string_equal(text, want);
}

/* --- raw clients ------------------------------------------------------------------------ */

/* Upgrade to E2e/`inst` at `port` and say HELLO (resuming `token` after `last_seq` in `epoch`
 * when set); with `wait`, the WELCOME is checked and returned (the caller frees it). */
rc_env *raw_hello(int *fd, int port, const char *inst, const char *token,
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

/* One poke (event 2, no payload) from a raw client. */
void raw_poke(int fd)
{
    rc_env env = VERANI__WIRE__ENVELOPE__INIT;

    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__EVENT;
    env.has_event = 1;
    env.event = 2;
    assert_int_equal(rc_tcp_send_env(fd, &env), 0);
}

void raw_fresh_then_cut(int port, const char *inst, raw_ids *ids)
{
    int fd;
    rc_env *w = raw_hello(&fd, port, inst, NULL, 0, NULL, 1);

    snprintf(ids->id, sizeof(ids->id), "%s", w->welcome->client_id);
    snprintf(ids->token, sizeof(ids->token), "%s", w->welcome->resume_token);
    snprintf(ids->epoch, sizeof(ids->epoch), "%s", w->welcome->epoch);
    verani__wire__envelope__free_unpacked(w, NULL);
    close(fd);
}
