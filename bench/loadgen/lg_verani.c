/* SPDX-License-Identifier: MIT */
/*
 * lg_verani.c: the load generator's Verani-C driver. Every connection is a
 * generated typed client (bench_client.h, from bench/bench.verani) on one
 * shared verani_client_loop driven by the core's thread, exactly as an
 * application with many clients would use it. Reconnection and keepalive pings
 * are off, so a lost connection shows up as a loss instead of being hidden by
 * a reconnect, and no ping traffic is counted as work. It does not bind source
 * addresses (the client has no option for it), so it cannot go past the
 * ephemeral port range by itself.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_client.h"
#include "loadgen.h"

typedef struct vconn {
    lg_run *run;
    lg_peer *peer;      /* NULL once the core closed it or it was lost */
    verani_client *c;
    struct vconn *prev, *next; /* in vstate.all */
} vconn;

typedef struct vstate {
    verani_client_loop *loop;
    vconn *all; /* every vconn not closed by the core; lost ones stay here until fini */
} vstate;

static void unlink_vconn(vstate *st, vconn *v)
{
    if (v->prev)
        v->prev->next = v->next;
    else
        st->all = v->next;
    if (v->next)
        v->next->prev = v->prev;
}

static verani_client_loop *loop_of(lg_run *run)
{
    return ((vstate *)run->drv_state)->loop;
}

static int v_init(lg_run *run)
{
    char err[256];
    vstate *st = calloc(1, sizeof(*st));

    if (!st)
        return -1;
    st->loop = verani_client_loop_create(err, sizeof(err));
    if (!st->loop) {
        fprintf(stderr, "loadgen: verani client loop: %s\n", err);
        free(st);
        return -1;
    }
    run->drv_state = st;
    return 0;
}

static void on_state(verani_client *c, verani_client_state old_state,
                     verani_client_state new_state, void *user)
{
    vconn *v = user;

    (void)c;
    (void)old_state;
    if (!v->peer)
        return;
    if (new_state == VERANI_CLIENT_CONNECTED) {
        lg_on_open(v->run, v->peer);
    } else if (new_state == VERANI_CLIENT_ERROR || new_state == VERANI_CLIENT_DISCONNECTED ||
               new_state == VERANI_CLIENT_RECONNECTING) {
        lg_peer *p = v->peer;

        /* The client stays until fini: it cannot be destroyed from its own callback. */
        v->peer = NULL;
        p->conn = NULL;
        lg_on_close(v->run, p, verani_client_state_name(new_state));
    }
}

static void on_fanout(verani_client *c, const Bench__Tick *msg, void *user)
{
    vconn *v = user;

    (void)c;
    if (v->peer)
        lg_on_fanout(v->run, v->peer, msg->n);
}

static void on_echo_reply(verani_client *c, verani_reply_status status, const Bench__Tick *reply,
                          const char *error, void *user)
{
    vconn *v = user;

    (void)c;
    (void)error;
    if (!v->peer || status == VERANI_REPLY_CANCELLED)
        return;
    if (status == VERANI_REPLY_OK && reply)
        lg_on_echo(v->run, v->peer, reply->n, reply->data.len == LG_PAYLOAD &&
                   !memcmp(reply->data.data, v->run->payload, LG_PAYLOAD));
    else
        lg_on_echo(v->run, v->peer, 0, 0);
}

static int v_connect(lg_run *run, lg_peer *peer)
{
    verani_client_options o;
    char url[256], err[256];
    vstate *st = run->drv_state;
    vconn *v = calloc(1, sizeof(*v));

    if (!v)
        return -1;
    snprintf(url, sizeof(url), "ws://%s:%d/bench/%s?userId=u%d", run->host, run->port,
             run->instance, peer->idx);
    verani_client_options_init(&o);
    o.url = url;
    o.room = &bench_bench_schema;
    o.reconnect_disabled = 1;
    o.ping_interval_ms = VERANI_CLIENT_NO_PING;
    o.connect_timeout_ms = 60000;
    o.request_timeout_ms = 60000;
    o.max_queue = 1000;
    v->run = run;
    v->peer = peer;
    v->c = verani_client_create(loop_of(run), &o, err, sizeof(err));
    if (!v->c) {
        fprintf(stderr, "loadgen: client %d: %s\n", peer->idx, err);
        free(v);
        return -1;
    }
    if (verani_client_on_state_change(v->c, on_state, v) < 0 ||
        bench_bench_client_on_fanout(v->c, on_fanout, v) < 0) {
        verani_client_destroy(v->c);
        free(v);
        return -1;
    }
    peer->conn = v;
    v->next = st->all;
    if (st->all)
        st->all->prev = v;
    st->all = v;
    return 0;
}

static void tick_init(Bench__Tick *t, lg_run *run, uint64_t n)
{
    bench__tick__init(t);
    t->n = n;
    t->data.len = LG_PAYLOAD;
    t->data.data = run->payload;
}

static int v_publish(lg_run *run, lg_peer *peer, uint64_t n)
{
    vconn *v = peer->conn;
    Bench__Tick t;

    tick_init(&t, run, n);
    return v && bench_bench_client_emit_publish(v->c, &t) == 0 ? 0 : -1;
}

static int v_echo(lg_run *run, lg_peer *peer, uint64_t n)
{
    vconn *v = peer->conn;
    Bench__Tick t;

    tick_init(&t, run, n);
    return v && bench_bench_client_request_echo(v->c, &t, 60000, on_echo_reply, v) == 0 ? 0 : -1;
}

static void v_close(lg_run *run, lg_peer *peer)
{
    vconn *v = peer->conn;

    if (!v)
        return;
    v->peer = NULL;
    peer->conn = NULL;
    verani_client_destroy(v->c); /* runs no callback of ours after it returns */
    unlink_vconn(run->drv_state, v);
    free(v);
}

static void v_service(lg_run *run, int timeout_ms)
{
    verani_client_loop_service(loop_of(run), timeout_ms);
}

static void v_fini(lg_run *run)
{
    vstate *st = run->drv_state;

    /* Clients whose connection was lost are still on the loop: destroying it frees them. */
    verani_client_loop_destroy(st->loop);
    while (st->all) {
        vconn *v = st->all;

        st->all = v->next;
        free(v);
    }
    free(st);
    run->drv_state = NULL;
}

const lg_driver lg_driver_verani = {
    .name = "verani",
    .init = v_init,
    .connect = v_connect,
    .publish = v_publish,
    .echo = v_echo,
    .close = v_close,
    .service = v_service,
    .fini = v_fini,
};
