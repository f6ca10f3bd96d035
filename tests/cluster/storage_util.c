/* SPDX-License-Identifier: MIT */
/* storage_util.c: what the tests of room storage in Redis share (storage_util.h). */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "counting_room.h"
#include "deadline.h"
#include "redis_server.h"
#include "storage_util.h"

/* `idle_ms`: instances released after that long without sessions; then sessions end with
 * their connection (nothing waits for a resume, so an instance empties when its client goes). */
void cluster_counting(cluster *cl, uint32_t idle_ms, const char *redis_args)
{
    cluster_cfg cfg;
    int i;

    memset(cl, 0, sizeof(*cl));
    cl->rs = rs_start(redis_args);
    memset(&cfg, 0, sizeof(cfg));
    cfg.idle_ms = idle_ms;
    cfg.no_resume = idle_ms != 0;
    for (i = 0; i < NODES; i++)
        cfg.mount[i] = mount_counting;
    cluster_start_cfg(cl, &cfg);
    wait_mesh(cl);
}

/* --- clients ---------------------------------------------------------------------------- */

verani_client *client_at(verani_client_loop *loop, const char *hostport, const char *inst)
{
    verani_client_options o;
    verani_client *c;
    char url[160], err[256];

    verani_client_options_init(&o);
    snprintf(url, sizeof(url), "ws://%s/e2e/%s?userId=u1", hostport, inst);
    o.url = url;
    o.room = &e2e_e2e_schema;
    o.initial_delay_ms = 200;
    o.max_delay_ms = 1000;
    o.max_attempts = VERANI_CLIENT_UNLIMITED;
    c = verani_client_create(loop, &o, err, sizeof(err));
    if (!c)
        fail_msg("verani_client_create: %s", err);
    return c;
}

/* Until the client is connected again (its connection number past `before`): a request
 * written on a connection the server had already left would end only at its timeout. */
void until_reconnected(verani_client_loop *loop, verani_client *c, uint64_t before)
{
    int64_t d = dl_after(DL_WAIT_MS);
    verani_client_info info;

    do {
        verani_client_loop_service(loop, 10);
        assert_int_equal(verani_client_get_info(c, &info), 0);
    } while ((info.connection_id <= before || info.state != VERANI_CLIENT_CONNECTED) &&
             !dl_passed(d));
    assert_true(info.connection_id > before && info.state == VERANI_CLIENT_CONNECTED);
}

/* --- Redis ------------------------------------------------------------------------------- */

long long st_len(const rs_server *rs, const char *inst)
{
    redisContext *r = redisConnectUnix(rs->sock);
    redisReply *rep;
    long long n;

    assert_true(r && !r->err);
    rep = redisCommand(r, "HLEN vr:st:{E2e/%s}", inst);
    assert_non_null(rep);
    n = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    redisFree(r);
    return n;
}

/* Until Redis's copy says pokes = `want` (it trails the reply by the end of the turn). */
void until_replicated(const rs_server *rs, const char *inst, const char *want)
{
    int64_t d = dl_after(DL_WAIT_MS);
    char v[32] = "";

    while (!dl_passed(d)) {
        stored_field(rs, inst, "pokes", v, sizeof(v));
        if (!strcmp(v, want))
            return;
        dl_nap_ms(10);
    }
    fail_msg("Redis holds pokes = '%s' for %s, not %s", v, inst, want);
}

/* --- the output gate --------------------------------------------------------------------- */

void on_chat(verani_client *c, const E2e__ChatOut *msg, void *user)
{
    heard *h = user;

    (void)c;
    if (h->n < 8)
        snprintf(h->texts[h->n++], sizeof(h->texts[0]), "%s", msg->text ? msg->text : "");
}

void say(verani_client *c, const char *text)
{
    E2e__Cmd cmd = E2E__CMD__INIT;

    cmd.op = 1;
    cmd.arg = "default";
    cmd.text = (char *)text;
    assert_int_equal(e2e_e2e_client_request_cmd(c, &cmd, DL_WAIT_MS, NULL, NULL), 0);
}

void until_heard(verani_client_loop *loop, heard *h, int n)
{
    int64_t d = dl_after(DL_WAIT_MS);

    while (h->n < n && !dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_true(h->n >= n);
}

/* Three counting nodes, node A reaching Redis through a fault proxy (returned), with these
 * timings; clients x (hearing into `h`) and y of instance `inst` at node A, both connected. */
fault_proxy *gate_setup(cluster *cl, uint32_t heartbeat_ms, uint32_t lease_ms,
                               uint32_t timeout_ms, verani_client_loop **loop,
                               verani_client **x, verani_client **y, const char *inst,
                               heard *h)
{
    cluster_cfg cfg;
    fault_proxy *fp;
    char host[32];
    int i;

    memset(h, 0, sizeof(*h));
    cluster_redis_start(cl);
    fp = fp_start(cl->rs->dir, cl->rs->sock);
    memset(&cfg, 0, sizeof(cfg));
    for (i = 0; i < NODES; i++)
        cfg.mount[i] = mount_counting;
    cfg.redis[0] = fp_address(fp);
    cfg.heartbeat_ms = heartbeat_ms;
    cfg.lease_ms = lease_ms;
    cfg.timeout_ms = timeout_ms;
    cluster_start_cfg(cl, &cfg);
    wait_mesh(cl);
    *loop = client_loop();
    snprintf(host, sizeof(host), "127.0.0.1:%d", cl->node[0].port);
    *x = client_at(*loop, host, inst);
    assert_int_equal(e2e_e2e_client_on_chat_out(*x, on_chat, h), 0);
    *y = client_at(*loop, host, inst);
    expect_count(*loop, *x, "0");
    expect_count(*loop, *y, "0");
    return fp;
}

