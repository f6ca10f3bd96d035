/* SPDX-License-Identifier: MIT */
/*
 * bus.c: the nodes a node knows of and the calls between them
 * (cluster-private.h, "the node table and calls between nodes"). The table
 * is fed by the heartbeats every node publishes on <p>:ctl; a call is one
 * PUBLISH of a BusMsg (cluster.proto) to the callee's channel <p>:n:<id>, its
 * answer one PUBLISH back to the caller's. PUBLISH says how many subscribers
 * got it, so a call to a node that is gone fails at once instead of at its
 * deadline. Everything runs on the loop thread.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "core/core-private.h"
#include "cluster-int.h"
#include "cluster.pb-c.h"

/* A call this node made, waiting for its answer. Owned by c->pending. */
typedef struct vr_bus_pending {
    struct vr_bus_pending *next;
    vr_cluster *c;
    uint64_t id;
    char node[33];
    ev_timer timer;
    vr_call_cb cb;
    void *arg;
} vr_bus_pending;

/* A call made to this node, not answered yet. Owned by c->incoming until answered. */
struct vr_bus_call {
    struct vr_bus_call *next;
    uint64_t id;
    char from[33];
};

/* --- the node table ----------------------------------------------------------------------- */

static void peers_prune(vr_cluster *c)
{
    int64_t now = vr_mono_ms();
    vr_peer **pp = &c->peers;

    while (*pp) {
        vr_peer *p = *pp;

        if (now - p->seen_ms > (int64_t)c->lease_ms) {
            *pp = p->next;
            vr_free(p->url);
            vr_free(p);
        } else {
            pp = &p->next;
        }
    }
}

static void on_node_info(vr_cluster *c, const uint8_t *data, size_t len)
{
    Verani__Cluster__NodeInfo *ni =
        verani__cluster__node_info__unpack(&vr_pb_allocator, len, data);
    vr_peer *p;

    if (!ni || !ni->node_id || !*ni->node_id || strlen(ni->node_id) >= sizeof(p->id) ||
        !strcmp(ni->node_id, c->node_id)) {
        if (ni)
            verani__cluster__node_info__free_unpacked(ni, &vr_pb_allocator);
        return;
    }
    if (ni->has_leaving && ni->leaving) { /* it stops: forget it now, not a lease later */
        vr_peer **pp = &c->peers;

        while (*pp && strcmp((*pp)->id, ni->node_id))
            pp = &(*pp)->next;
        if (*pp) {
            p = *pp;
            *pp = p->next;
            VR_INFO("cluster: node %s sees node %s leave\n", c->node_id, p->id);
            vr_free(p->url);
            vr_free(p);
        }
        verani__cluster__node_info__free_unpacked(ni, &vr_pb_allocator);
        return;
    }
    for (p = c->peers; p && strcmp(p->id, ni->node_id); p = p->next)
        ;
    if (!p && (p = vr_calloc(1, sizeof(*p))) != NULL) {
        snprintf(p->id, sizeof(p->id), "%s", ni->node_id);
        p->next = c->peers;
        c->peers = p;
        VR_INFO("cluster: node %s sees node %s\n", c->node_id, p->id);
    }
    if (p) {
        char *url = vr_strdup(ni->public_url ? ni->public_url : "");

        if (url) {
            vr_free(p->url);
            p->url = url;
        }
        p->seen_ms = vr_mono_ms();
    }
    verani__cluster__node_info__free_unpacked(ni, &vr_pb_allocator);
}

size_t vr_cluster_nodes(vr_cluster *c, const char **ids, size_t max)
{
    size_t n = 0;

    peers_prune(c);
    if (n < max)
        ids[n] = c->node_id;
    n++;
    for (vr_peer *p = c->peers; p; p = p->next, n++)
        if (n < max)
            ids[n] = p->id;
    return n;
}

const char *vr_cluster_node_url(vr_cluster *c, const char *id)
{
    peers_prune(c);
    if (!strcmp(id, c->node_id))
        return c->public_url ? c->public_url : "";
    for (vr_peer *p = c->peers; p; p = p->next)
        if (!strcmp(p->id, id))
            return p->url ? p->url : "";
    return NULL;
}

/* --- sending ---------------------------------------------------------------------------------- */

/* PUBLISH `m` to node `node`'s channel; `cb` gets the reply (the number of receivers). */
static int publish(vr_cluster *c, const char *node, const Verani__Cluster__BusMsg *m,
                   vr_redis_cb cb, void *arg)
{
    size_t n = verani__cluster__bus_msg__get_packed_size(m);
    size_t clen = strlen(c->prefix) + strlen(node) + 4;
    uint8_t *buf = vr_malloc(n ? n : 1);
    char *channel = vr_malloc(clen);
    int rc = VERANI_ENOMEM;

    if (buf && channel) {
        const char *argv[3] = {"PUBLISH", channel, (const char *)buf};
        size_t lens[3] = {7, 0, n};

        snprintf(channel, clen, "%s:n:%s", c->prefix, node);
        lens[1] = strlen(channel);
        verani__cluster__bus_msg__pack(m, buf);
        rc = vr_redis_command(c->redis, cb, arg, 3, argv, lens);
        if (rc == 0)
            vr_redis_flush(c->redis);
    }
    vr_free(buf);
    vr_free(channel);
    return rc;
}

static void pending_unlink(vr_cluster *c, vr_bus_pending *p)
{
    vr_bus_pending **pp;

    for (pp = &c->pending; *pp && *pp != p; pp = &(*pp)->next)
        ;
    if (*pp)
        *pp = p->next;
    ev_timer_stop(c->loop, &p->timer);
}

/* End a pending call with `status` (and `body` from the callee when status is its own). */
static void pending_end(vr_bus_pending *p, int status, const uint8_t *body, size_t len)
{
    vr_cluster *c = p->c;

    pending_unlink(c, p);
    p->cb(c, p->node, status, body, len, p->arg);
    vr_free(p);
}

static vr_bus_pending *pending_find(vr_cluster *c, uint64_t id)
{
    vr_bus_pending *p;

    for (p = c->pending; p && p->id != id; p = p->next)
        ;
    return p;
}

static void on_call_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    vr_bus_pending *p = w->data;

    (void)loop;
    (void)revents;
    VR_WARN("cluster: node %s: call %llu to node %s got no answer in time\n", p->c->node_id,
            (unsigned long long)p->id, p->node);
    pending_end(p, VERANI_ETIMEDOUT, NULL, 0);
}

/* What the PUBLISH of a call needs when its reply comes: the call may be over by then (the
 * answer comes on the other connection and can be read first, or the call timed out), so it
 * is found again by id. Owned by the engine's callback. */
typedef struct pub_ctx {
    vr_cluster *c;
    uint64_t id;
} pub_ctx;

/* The PUBLISH of a call: nobody subscribed means the node is gone. */
static void on_call_published(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    pub_ctx *x = arg;
    vr_bus_pending *p = pending_find(x->c, x->id);

    (void)r;
    vr_free(x);
    if (!p)
        return;
    if (err || !reply)
        pending_end(p, VERANI_EIO, NULL, 0);
    else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0)
        pending_end(p, VERANI_ENOTFOUND, NULL, 0);
}

int vr_cluster_call(vr_cluster *c, const char *node, const uint8_t *body, size_t len,
                    uint32_t timeout_ms, vr_call_cb cb, void *arg)
{
    Verani__Cluster__BusMsg m = VERANI__CLUSTER__BUS_MSG__INIT;
    vr_bus_pending *p;
    pub_ctx *x;
    int rc;

    if (!vr_redis_up(c->redis))
        return VERANI_EIO;
    if (strlen(node) >= sizeof(p->node))
        return VERANI_EINVAL;
    p = vr_calloc(1, sizeof(*p));
    if (!p)
        return VERANI_ENOMEM;
    p->c = c;
    p->id = ++c->next_call_id;
    snprintf(p->node, sizeof(p->node), "%s", node);
    p->cb = cb;
    p->arg = arg;
    m.has_kind = 1;
    m.kind = VERANI__CLUSTER__BUS_MSG__KIND__CALL;
    m.has_call_id = 1;
    m.call_id = p->id;
    m.from = c->node_id;
    m.has_body = 1;
    m.body.data = (uint8_t *)(uintptr_t)body;
    m.body.len = len;
    p->next = c->pending;
    c->pending = p;
    ev_timer_init(&p->timer, on_call_timeout, (timeout_ms ? timeout_ms : 5000) / 1000.0, 0.);
    p->timer.data = p;
    ev_timer_start(c->loop, &p->timer);
    x = vr_malloc(sizeof(*x));
    rc = VERANI_ENOMEM;
    if (x) {
        x->c = c;
        x->id = p->id;
        rc = publish(c, node, &m, on_call_published, x);
    }
    if (rc) {
        vr_free(x);
        pending_unlink(c, p);
        vr_free(p);
    }
    return rc;
}

/* --- receiving -------------------------------------------------------------------------------------- */

void vr_cluster_on_call(vr_cluster *c,
                        void (*fn)(vr_cluster *c, vr_bus_call *call, const char *from,
                                   const uint8_t *body, size_t len, void *arg))
{
    c->on_call = fn;
}

int vr_cluster_answer(vr_cluster *c, vr_bus_call *call, int status, const uint8_t *body,
                      size_t len)
{
    Verani__Cluster__BusMsg m = VERANI__CLUSTER__BUS_MSG__INIT;
    struct vr_bus_call **pp;
    int rc;

    for (pp = &c->incoming; *pp && *pp != call; pp = &(*pp)->next)
        ;
    if (!*pp)
        return VERANI_ENOTFOUND;
    *pp = call->next;
    m.has_kind = 1;
    m.kind = VERANI__CLUSTER__BUS_MSG__KIND__ANSWER;
    m.has_call_id = 1;
    m.call_id = call->id;
    m.from = c->node_id;
    m.has_status = 1;
    m.status = status;
    m.has_body = body != NULL;
    m.body.data = (uint8_t *)(uintptr_t)body;
    m.body.len = len;
    rc = publish(c, call->from, &m, NULL, NULL);
    vr_free(call);
    return rc;
}

static void on_bus_msg(vr_cluster *c, const uint8_t *data, size_t len)
{
    Verani__Cluster__BusMsg *m = verani__cluster__bus_msg__unpack(&vr_pb_allocator, len, data);

    if (!m || !m->has_kind || !m->has_call_id || !m->from || strlen(m->from) >= 33) {
        VR_WARN("cluster: node %s: a message on its channel that is not a call or an answer\n",
                c->node_id);
    } else if (m->kind == VERANI__CLUSTER__BUS_MSG__KIND__CALL) {
        struct vr_bus_call *call = vr_calloc(1, sizeof(*call));

        if (call) {
            call->id = m->call_id;
            snprintf(call->from, sizeof(call->from), "%s", m->from);
            call->next = c->incoming;
            c->incoming = call;
            if (c->on_call)
                c->on_call(c, call, m->from, m->body.data, m->body.len, c->arg);
            else
                vr_cluster_answer(c, call, VERANI_ENOTFOUND, NULL, 0);
        }
    } else if (m->kind == VERANI__CLUSTER__BUS_MSG__KIND__ANSWER) {
        vr_bus_pending *p = pending_find(c, m->call_id);

        if (p)    /* else: it timed out before */
            pending_end(p, m->has_status ? m->status : 0, m->body.data, m->body.len);
    }
    if (m)
        verani__cluster__bus_msg__free_unpacked(m, &vr_pb_allocator);
}

void vr_bus_on_message(vr_cluster *c, const char *channel, const char *data, size_t len)
{
    if (!strcmp(channel, c->ctl_channel))
        on_node_info(c, (const uint8_t *)data, len);
    else if (!strcmp(channel, c->node_channel))
        on_bus_msg(c, (const uint8_t *)data, len);
}

void vr_bus_fail_pending(vr_cluster *c, const char *why)
{
    if (c->pending)
        VR_WARN("cluster: node %s: the calls under way fail: %s\n", c->node_id, why);
    while (c->pending)
        pending_end(c->pending, VERANI_EIO, NULL, 0);
}

void vr_bus_free(vr_cluster *c)
{
    vr_bus_fail_pending(c, "shutting down");
    while (c->incoming) {
        struct vr_bus_call *call = c->incoming;

        c->incoming = call->next;
        vr_free(call);
    }
    while (c->peers) {
        vr_peer *p = c->peers;

        c->peers = p->next;
        vr_free(p->url);
        vr_free(p);
    }
}

/* --- gathering ------------------------------------------------------------------------------------------ */

typedef struct gather {
    vr_cluster *c;
    size_t n, left;
    vr_gather_answer *answers;   /* owned, n of them */
    uint8_t **bodies;            /* owned copies */
    char (*nodes)[33];
    int *answered;
    vr_gather_cb cb;
    void *arg;
} gather;

typedef struct gather_slot {
    gather *g;
    size_t i;
} gather_slot;

static void gather_free(gather *g)
{
    for (size_t i = 0; i < g->n; i++)
        vr_free(g->bodies[i]);
    vr_free(g->bodies);
    vr_free(g->answers);
    vr_free(g->nodes);
    vr_free(g->answered);
    vr_free(g);
}

static void gather_done(gather *g)
{
    char *missing = NULL;
    size_t mlen = 0;

    for (size_t i = 0; i < g->n; i++)
        if (!g->answered[i])
            mlen += strlen(g->nodes[i]) + 2;
    if (mlen && (missing = vr_malloc(mlen + 1)) != NULL) {
        missing[0] = '\0';
        for (size_t i = 0; i < g->n; i++)
            if (!g->answered[i]) {
                if (missing[0])
                    strcat(missing, ", ");
                strcat(missing, g->nodes[i]);
            }
    }
    g->cb(g->c, g->answers, g->n, mlen ? (missing ? missing : "(out of memory)") : NULL,
          g->arg);
    vr_free(missing);
    gather_free(g);
}

static void on_gather_answer(vr_cluster *c, const char *node, int status, const uint8_t *body,
                             size_t len, void *arg)
{
    gather_slot *s = arg;
    gather *g = s->g;
    size_t i = s->i;

    (void)c;
    (void)node;
    vr_free(s);
    /* a transport failure (no answer, node gone, Redis down) leaves the node missing */
    if (status != VERANI_ETIMEDOUT && status != VERANI_ENOTFOUND && status != VERANI_EIO) {
        g->answered[i] = 1;
        g->answers[i].status = status;
        if (len && (g->bodies[i] = vr_malloc(len)) != NULL) {
            memcpy(g->bodies[i], body, len);
            g->answers[i].body = g->bodies[i];
            g->answers[i].len = len;
        }
    } else {
        g->answers[i].status = status;
    }
    if (--g->left == 0)
        gather_done(g);
}

int vr_cluster_gather(vr_cluster *c, const uint8_t *body, size_t len, uint32_t timeout_ms,
                      vr_gather_cb cb, void *arg)
{
    const char *ids[64];
    size_t n = vr_cluster_nodes(c, ids, 64), i;
    gather *g;

    if (n > 64)
        return VERANI_EFULL;
    if (!vr_redis_up(c->redis))
        return VERANI_EIO;
    g = vr_calloc(1, sizeof(*g));
    if (!g)
        return VERANI_ENOMEM;
    g->c = c;
    g->n = g->left = n;
    g->cb = cb;
    g->arg = arg;
    g->answers = vr_calloc(n, sizeof(*g->answers));
    g->bodies = vr_calloc(n, sizeof(*g->bodies));
    g->nodes = vr_calloc(n, sizeof(*g->nodes));
    g->answered = vr_calloc(n, sizeof(*g->answered));
    if (!g->answers || !g->bodies || !g->nodes || !g->answered) {
        gather_free(g);
        return VERANI_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        snprintf(g->nodes[i], sizeof(g->nodes[i]), "%s", ids[i]);
        g->answers[i].node = g->nodes[i];
    }
    for (i = 0; i < n; i++) {
        gather_slot *s = vr_malloc(sizeof(*s));
        int rc = s ? 0 : VERANI_ENOMEM;

        if (s) {
            s->g = g;
            s->i = i;
            rc = vr_cluster_call(c, g->nodes[i], body, len, timeout_ms, on_gather_answer, s);
        }
        if (rc) {
            /* this node's slot is missing from the start; the others still answer */
            vr_free(s);
            g->answers[i].status = rc;
            if (--g->left == 0) {
                gather_done(g);
                return 0;
            }
        }
    }
    return 0;
}
