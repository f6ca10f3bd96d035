/* SPDX-License-Identifier: MIT */
/*
 * cluster.c: one node of a cluster (cluster-private.h): the cluster's
 * incarnation, the node's registration and heartbeat, the lease and
 * self-fencing, and the claim, release and validation of instances through
 * Lua scripts that Redis runs atomically. Scripts go by EVALSHA (their SHA-1
 * computed here once), and every command connection loads them all (SCRIPT
 * LOAD) before it is up; a Redis that does not know one anyway (NOSCRIPT:
 * SCRIPT FLUSH on a live connection) gets it by EVAL, which also caches it.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#include "core/core-private.h"
#include "cluster-int.h"
#include "cluster.pb-c.h"
#include "redis-private.h"

/* --- the scripts ------------------------------------------------------------------------ */

/* KEYS[1] own key; ARGV[1] this node; ARGV[2] the node-key prefix. Won when nobody owns the
 * instance or its owner's node key is gone (its lease ran out); the epoch grows by one. */
static const char claim_lua[] =
    "local o = redis.call('HMGET', KEYS[1], 'node', 'epoch', 'handover')\n"
    "if o[1] and o[1] ~= ARGV[1] then\n"
    "  local info = redis.call('GET', ARGV[2] .. o[1])\n"
    "  if info then return {0, o[2], o[1], info} end\n"
    "end\n"
    "local e = redis.call('HINCRBY', KEYS[1], 'epoch', 1)\n"
    "redis.call('HSET', KEYS[1], 'node', ARGV[1])\n"
    "redis.call('HDEL', KEYS[1], 'handover', 'applied')\n"
    "return {1, e, o[1] or '', o[3] or ''}\n";

/* KEYS[1] own key; ARGV[1] this node; ARGV[2] its epoch; ARGV[3] '1' to mark a handover.
 * Compare and release: the epoch stays, so the next claim's token is larger. */
static const char release_lua[] =
    "local o = redis.call('HMGET', KEYS[1], 'node', 'epoch')\n"
    "if o[1] ~= ARGV[1] or o[2] ~= ARGV[2] then return 0 end\n"
    "redis.call('HDEL', KEYS[1], 'node')\n"
    "if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'handover', '1') end\n"
    "return 1\n";

/* KEYS[1] own key; ARGV[1] this node; ARGV[2] its epoch. */
static const char validate_lua[] =
    "local o = redis.call('HMGET', KEYS[1], 'node', 'epoch')\n"
    "if o[1] == ARGV[1] and o[2] == ARGV[2] then return 1 end\n"
    "return 0\n";

/* Every script, loaded on each command connection before it is up (vr_redis_options). */
static const char *const preload_scripts[S_COUNT] = {
    [S_CLAIM] = claim_lua,
    [S_RELEASE] = release_lua,
    [S_VALIDATE] = validate_lua,
    [S_HANDOVER_SAVE] = vr_handover_save_lua,
    [S_APPLY] = vr_apply_lua,
    [S_LOAD] = vr_load_lua,
};

int64_t vr_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Call `s` with one key and `nargs` string arguments; `cb` runs once unless this returns an
 * error. */
static int eval(vr_cluster *c, int script, const char *key, int nargs, const char **args,
                vr_redis_cb cb, void *arg)
{
    const char *all[8];
    int i;

    if (nargs + 1 > 8)
        return VERANI_EINVAL;
    all[0] = key;
    for (i = 0; i < nargs; i++)
        all[i + 1] = args[i];
    return vr_cluster_eval(c, script, 1, nargs + 1, all, NULL, cb, arg);
}

/* --- liveness ---------------------------------------------------------------------------------- */

static void report_live(vr_cluster *c)
{
    int live = c->registered && vr_mono_ms() < c->t_ok_ms + c->lease_ms - c->margin_ms;

    c->stats.live = live;
    if (live == c->live)
        return;
    c->live = live;
    if (live) {
        VR_NOTICE("cluster: node %s is live (lease %u ms)\n", c->node_id, c->lease_ms);
    } else {
        c->stats.fenced++;
        VR_WARN("cluster: node %s is fenced: no heartbeat acknowledged for %lld ms (lease %u "
                "ms); it owns nothing until Redis answers again\n", c->node_id,
                (long long)(vr_mono_ms() - c->t_ok_ms), c->lease_ms);
    }
    if (c->on_live)
        c->on_live(c, live, c->arg);
}

int vr_cluster_lease_ok(vr_cluster *c)
{
    report_live(c);
    return c->live;
}

typedef struct hb_ctx {
    vr_cluster *c;
    int64_t sent_ms;
} hb_ctx;

static void on_heartbeat(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    hb_ctx *h = arg;
    vr_cluster *c = h->c;

    (void)r;
    c->heartbeat_in_flight = 0;
    if (reply && !err) {
        c->t_ok_ms = h->sent_ms;
        c->registered = 1;
        c->stats.heartbeats++;
    } else if (err) {
        VR_WARN("cluster: heartbeat of node %s: %s\n", c->node_id, err);
    }
    vr_free(h);
    report_live(c);
}

static void send_heartbeat(vr_cluster *c)
{
    Verani__Cluster__NodeInfo info = VERANI__CLUSTER__NODE_INFO__INIT;
    uint8_t buf[512];
    char lease[16];
    size_t n;
    hb_ctx *h;

    if (c->heartbeat_in_flight || c->leaving || !vr_redis_up(c->redis))
        return;
    info.node_id = c->node_id;
    info.public_url = c->public_url ? c->public_url : (char *)"";
    info.has_started_ms = 1;
    info.started_ms = c->started_ms;
    info.has_heartbeat = 1;
    info.heartbeat = ++c->heartbeats_sent;
    n = verani__cluster__node_info__get_packed_size(&info);
    if (n > sizeof(buf))
        return;                  /* a public URL of hundreds of bytes: refused at create */
    verani__cluster__node_info__pack(&info, buf);
    snprintf(lease, sizeof(lease), "%u", c->lease_ms);
    h = vr_malloc(sizeof(*h));
    if (!h)
        return;
    h->c = c;
    h->sent_ms = vr_mono_ms();
    {
        const char *set[5] = {"SET", c->node_key, (const char *)buf, "PX", lease};
        size_t set_len[5] = {3, strlen(c->node_key), n, 2, strlen(lease)};
        const char *pub[3] = {"PUBLISH", c->ctl_channel, (const char *)buf};
        size_t pub_len[3] = {7, strlen(c->ctl_channel), n};

        if (vr_redis_command(c->redis, on_heartbeat, h, 5, set, set_len)) {
            vr_free(h);
            return;
        }
        c->heartbeat_in_flight = 1;
        vr_redis_command(c->redis, NULL, NULL, 3, pub, pub_len);
        vr_redis_flush(c->redis);
    }
}

static void on_left(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    vr_cluster *c = arg;

    (void)r;
    (void)reply;
    if (err)
        VR_WARN("cluster: node %s leaving: %s (its lease runs out by itself)\n", c->node_id,
                err);
    if (c->on_left)
        c->on_left(c, c->left_arg);
}

int vr_cluster_leave(vr_cluster *c, void (*cb)(vr_cluster *c, void *arg), void *arg)
{
    Verani__Cluster__NodeInfo info = VERANI__CLUSTER__NODE_INFO__INIT;
    uint8_t buf[128];
    size_t n;

    if (c->leaving)
        return VERANI_ESTATE;
    c->leaving = 1;
    ev_timer_stop(c->loop, &c->heartbeat);
    c->registered = 0; /* not live from now on: it owns nothing (not a fence: no report) */
    c->live = c->stats.live = 0;
    if (!vr_redis_up(c->redis))
        return VERANI_EIO;
    info.node_id = c->node_id;
    info.has_leaving = 1;
    info.leaving = 1;
    n = verani__cluster__node_info__get_packed_size(&info);
    if (n > sizeof(buf))
        return VERANI_EINVAL;
    verani__cluster__node_info__pack(&info, buf);
    {
        const char *del[2] = {"DEL", c->node_key};
        const char *pub[3] = {"PUBLISH", c->ctl_channel, (const char *)buf};
        size_t pub_len[3] = {7, strlen(c->ctl_channel), n};
        int r;

        c->on_left = cb;
        c->left_arg = arg;
        r = vr_redis_command(c->redis, NULL, NULL, 2, del, NULL);
        if (!r)
            r = vr_redis_command(c->redis, on_left, c, 3, pub, pub_len);
        vr_redis_flush(c->redis);
        if (r)
            c->on_left = NULL;
        return r;
    }
}

static void on_heartbeat_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    vr_cluster *c = w->data;

    (void)loop;
    (void)revents;
    report_live(c);
    send_heartbeat(c);
}

/* The incarnation: set if absent, then read; a change means Redis lost its data. */
static void on_incarnation(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    vr_cluster *c = arg;

    (void)r;
    if (err || !reply || reply->type != REDIS_REPLY_STRING) {
        VR_WARN("cluster: reading %s: %s\n", c->epoch_key, err ? err : "not a string");
        return;
    }
    if (c->incarnation[0] && (reply->len != strlen(c->incarnation) ||
                              memcmp(reply->str, c->incarnation, reply->len))) {
        c->stats.resets++;
        VR_ERR("cluster: Redis lost its data (%s was %s, now %.*s): every instance this node "
               "owned is given up\n", c->epoch_key, c->incarnation, (int)reply->len, reply->str);
        if (c->on_reset)
            c->on_reset(c, c->arg);
    }
    snprintf(c->incarnation, sizeof(c->incarnation), "%.*s", (int)reply->len, reply->str);
}

static void on_redis_state(vr_redis *r, int up, void *arg)
{
    vr_cluster *c = arg;
    char fresh[33];

    if (!up) {
        /* the lease runs out by itself if Redis stays away; calls under way cannot end */
        vr_bus_fail_pending(c, vr_redis_last_error(r));
        return;
    }
    if (vr_random_hex(fresh, 16) == 0) {
        const char *setnx[4] = {"SET", c->epoch_key, fresh, "NX"};
        const char *get[2] = {"GET", c->epoch_key};

        vr_redis_command(r, NULL, NULL, 4, setnx, NULL);
        vr_redis_command(r, on_incarnation, c, 2, get, NULL);
    }
    c->heartbeat_in_flight = 0;  /* one sent before the drop was answered with an error */
    send_heartbeat(c);
}

static void on_redis_message(vr_redis *r, const char *channel, const char *data, size_t len,
                             void *arg)
{
    (void)r;
    vr_bus_on_message(arg, channel, data, len);
}

/* --- create and destroy ------------------------------------------------------------------------------ */

static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = vr_malloc(n);

    if (s)
        snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

vr_cluster *vr_cluster_create(struct ev_loop *loop, const vr_cluster_options *o, char *err,
                              size_t errlen)
{
    vr_redis_options ro;
    vr_cluster *c;
    const char *prefix;
    char scratch[8];
    struct timespec now;

    if (!err) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    prefix = o->prefix && *o->prefix ? o->prefix : "vr";
    if (strlen(prefix) > 64 || (o->node_id && (!*o->node_id || strlen(o->node_id) > 32)) ||
        (o->public_url && strlen(o->public_url) > 256)) {
        snprintf(err, errlen, "cluster: the prefix (64), node id (1 to 32) or public URL (256 "
                 "bytes) is too long");
        return NULL;
    }
    c = vr_calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->heartbeat_ms = o->heartbeat_ms ? o->heartbeat_ms : 1000;
    c->lease_ms = o->lease_ms ? o->lease_ms : 5000;
    c->margin_ms = o->command_timeout_ms ? o->command_timeout_ms : 2000;
    if (c->lease_ms < 3 * c->heartbeat_ms || c->lease_ms <= c->margin_ms) {
        snprintf(err, errlen, "cluster: lease_ms (%u) must be at least 3 heartbeats (%u ms) and "
                 "longer than the command timeout (%u ms)", c->lease_ms, c->heartbeat_ms,
                 c->margin_ms);
        vr_free(c);
        return NULL;
    }
    if (o->node_id)
        snprintf(c->node_id, sizeof(c->node_id), "%s", o->node_id);
    else if (vr_random_hex(c->node_id, 8)) {
        snprintf(err, errlen, "cluster: no random source for a node id");
        vr_free(c);
        return NULL;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    c->started_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    c->prefix = vr_strdup(prefix);
    c->public_url = o->public_url ? vr_strdup(o->public_url) : NULL;
    c->node_key = c->prefix ? join3(prefix, ":node:", c->node_id) : NULL;
    c->epoch_key = c->prefix ? join3(prefix, ":epoch", "") : NULL;
    c->ctl_channel = c->prefix ? join3(prefix, ":ctl", "") : NULL;
    c->node_channel = c->prefix ? join3(prefix, ":n:", c->node_id) : NULL;
    if (!c->prefix || (o->public_url && !c->public_url) || !c->node_key || !c->epoch_key ||
        !c->ctl_channel || !c->node_channel) {
        snprintf(err, errlen, "out of memory");
        vr_cluster_destroy(c);
        return NULL;
    }
    vr_script_init(&c->scripts[S_CLAIM], claim_lua);
    vr_script_init(&c->scripts[S_RELEASE], release_lua);
    vr_script_init(&c->scripts[S_VALIDATE], validate_lua);
    vr_script_init(&c->scripts[S_HANDOVER_SAVE], vr_handover_save_lua);
    vr_script_init(&c->scripts[S_APPLY], vr_apply_lua);
    vr_script_init(&c->scripts[S_LOAD], vr_load_lua);
    c->on_live = o->on_live;
    c->on_reset = o->on_reset;
    c->arg = o->arg;

    memset(&ro, 0, sizeof(ro));
    ro.address = o->redis_address;
    ro.password = o->password;
    ro.name = "cluster";
    ro.command_timeout_ms = c->margin_ms;
    ro.connect_timeout_ms = c->margin_ms;
    ro.on_state = on_redis_state;
    ro.on_message = on_redis_message;
    ro.arg = c;
    ro.preload = preload_scripts;
    ro.n_preload = S_COUNT;
    c->redis = vr_redis_create(loop, &ro, err, errlen);
    if (!c->redis) {
        vr_cluster_destroy(c);
        return NULL;
    }
    if (vr_redis_subscribe(c->redis, c->ctl_channel) ||
        vr_redis_subscribe(c->redis, c->node_channel)) {
        snprintf(err, errlen, "out of memory");
        vr_cluster_destroy(c);
        return NULL;
    }
    ev_timer_init(&c->heartbeat, on_heartbeat_timer, c->heartbeat_ms / 1000.0,
                  c->heartbeat_ms / 1000.0);
    c->heartbeat.data = c;
    ev_timer_start(loop, &c->heartbeat);
    return c;
}

void vr_cluster_destroy(vr_cluster *c)
{
    if (!c)
        return;
    ev_timer_stop(c->loop, &c->heartbeat);
    vr_bus_free(c);
    vr_redis_destroy(c->redis);
    vr_free(c->prefix);
    vr_free(c->public_url);
    vr_free(c->node_key);
    vr_free(c->epoch_key);
    vr_free(c->ctl_channel);
    vr_free(c->node_channel);
    vr_free(c);
}

void vr_cluster_flush(vr_cluster *c)
{
    vr_redis_flush(c->redis);
}

const char *vr_cluster_node_id(const vr_cluster *c)
{
    return c->node_id;
}

void vr_cluster_get_stats(const vr_cluster *c, vr_cluster_stats *out)
{
    *out = c->stats;
}

/* --- ownership ---------------------------------------------------------------------------------------- */

/* <p>:own:{room/instance} into a fresh allocation. */
char *vr_cluster_instance_key(const vr_cluster *c, const char *kind, const char *room,
                              const char *instance)
{
    size_t n = strlen(c->prefix) + strlen(kind) + strlen(room) + strlen(instance) + 6;
    char *k = vr_malloc(n);

    if (k)
        snprintf(k, n, "%s:%s:{%s/%s}", c->prefix, kind, room, instance);
    return k;
}

static char *own_key(const vr_cluster *c, const char *room, const char *instance)
{
    return vr_cluster_instance_key(c, "own", room, instance);
}

typedef struct claim_ctx {
    vr_cluster *c;
    vr_claim_cb cb;
    void *arg;
} claim_ctx;

static const char *element_str(const redisReply *r, size_t i, char *buf, size_t len)
{
    const redisReply *e;

    if (i >= r->elements)
        return "";
    e = r->element[i];
    if (e->type == REDIS_REPLY_STRING)
        snprintf(buf, len, "%.*s", (int)e->len, e->str);
    else if (e->type == REDIS_REPLY_INTEGER)
        snprintf(buf, len, "%lld", e->integer);
    else
        buf[0] = '\0';
    return buf;
}

static void on_claim(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    claim_ctx *x = arg;
    vr_cluster *c = x->c;
    vr_claim_result res;
    char a[64], b[64], url[300];

    (void)r;
    memset(&res, 0, sizeof(res));
    res.owner = res.owner_url = res.previous = res.error = "";
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 4 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        res.outcome = VR_CLAIM_FAILED;
        res.error = err ? err : "the claim script answered something unexpected";
        c->stats.claims_failed++;
    } else if (reply->element[0]->integer == 1) {
        res.outcome = VR_CLAIM_WON;
        res.epoch = (uint64_t)reply->element[1]->integer;
        res.previous = element_str(reply, 2, a, sizeof(a));
        res.handover = !strcmp(element_str(reply, 3, b, sizeof(b)), "1");
        c->stats.claims_won++;
    } else {
        const redisReply *info = reply->element[3];
        Verani__Cluster__NodeInfo *ni = info->type == REDIS_REPLY_STRING
            ? verani__cluster__node_info__unpack(&vr_pb_allocator, info->len,
                                                 (const uint8_t *)info->str)
            : NULL;

        res.outcome = VR_CLAIM_OWNED;
        res.epoch = strtoull(element_str(reply, 1, b, sizeof(b)), NULL, 10);
        res.owner = element_str(reply, 2, a, sizeof(a));
        snprintf(url, sizeof(url), "%s", ni && ni->public_url ? ni->public_url : "");
        res.owner_url = url;
        if (ni)
            verani__cluster__node_info__free_unpacked(ni, &vr_pb_allocator);
        c->stats.claims_lost++;
    }
    x->cb(c, &res, x->arg);
    vr_free(x);
}

int vr_cluster_claim(vr_cluster *c, const char *room, const char *instance, vr_claim_cb cb,
                     void *arg)
{
    const char *args[2];
    char *key, *node_prefix;
    claim_ctx *x;
    int rc;

    if (!vr_cluster_lease_ok(c))
        return VERANI_EIO;
    key = own_key(c, room, instance);
    node_prefix = join3(c->prefix, ":node:", "");
    x = vr_malloc(sizeof(*x));
    if (!key || !node_prefix || !x) {
        vr_free(key);
        vr_free(node_prefix);
        vr_free(x);
        return VERANI_ENOMEM;
    }
    x->c = c;
    x->cb = cb;
    x->arg = arg;
    args[0] = c->node_id;
    args[1] = node_prefix;
    rc = eval(c, S_CLAIM, key, 2, args, on_claim, x);
    if (rc)
        vr_free(x);
    else
        vr_redis_flush(c->redis);
    vr_free(key);
    vr_free(node_prefix);
    return rc;
}

/* A call about one instance's own key: a script that answers 1 or 0 (release, validate),
 * or the owner lookup. */
typedef struct op_ctx {
    vr_cluster *c;
    union {
        void (*flag)(vr_cluster *c, int result, void *arg);
        vr_owner_cb owner;
    } cb;
    void *arg;
    int is_release;
} op_ctx;

/* A fresh context and the instance's own key (*key: the caller's to free); NULL when out of
 * memory (nothing to free then). */
static op_ctx *op_begin(vr_cluster *c, const char *room, const char *instance, void *arg,
                        char **key)
{
    op_ctx *x = vr_calloc(1, sizeof(*x));

    *key = own_key(c, room, instance);
    if (!x || !*key) {
        vr_free(x);
        vr_free(*key);
        *key = NULL;
        return NULL;
    }
    x->c = c;
    x->arg = arg;
    return x;
}

static void on_flag(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    op_ctx *x = arg;
    int result = err || !reply || reply->type != REDIS_REPLY_INTEGER ? VERANI_EIO
                                                                       : reply->integer == 1;

    (void)r;
    if (err)
        VR_WARN("cluster: %s: %s\n", x->is_release ? "release" : "validate", err);
    if (x->is_release && result == 1)
        x->c->stats.releases++;
    if (x->cb.flag)
        x->cb.flag(x->c, result, x->arg);
    vr_free(x);
}

static int flag_script(vr_cluster *c, int script, const char *room, const char *instance,
                       uint64_t epoch, const char *third,
                       void (*cb)(vr_cluster *c, int result, void *arg), void *arg)
{
    const char *args[3];
    char e[24], *key;
    op_ctx *x = op_begin(c, room, instance, arg, &key);
    int rc;

    if (!x)
        return VERANI_ENOMEM;
    x->cb.flag = cb;
    x->is_release = script == S_RELEASE;
    snprintf(e, sizeof(e), "%llu", (unsigned long long)epoch);
    args[0] = c->node_id;
    args[1] = e;
    args[2] = third;
    rc = eval(c, script, key, third ? 3 : 2, args, on_flag, x);
    if (rc)
        vr_free(x);
    else
        vr_redis_flush(c->redis);
    vr_free(key);
    return rc;
}

int vr_cluster_release(vr_cluster *c, const char *room, const char *instance, uint64_t epoch,
                       int handover, void (*cb)(vr_cluster *c, int result, void *arg),
                       void *arg)
{
    return flag_script(c, S_RELEASE, room, instance, epoch, handover ? "1" : "0", cb, arg);
}

static void on_owner(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    op_ctx *x = arg;
    char id[64];

    (void)r;
    if (err || !reply || (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) {
        x->cb.owner(x->c, NULL, err ? err : "the owner lookup answered something unexpected",
                    x->arg);
    } else if (reply->type == REDIS_REPLY_NIL || !reply->len || reply->len >= sizeof(id)) {
        x->cb.owner(x->c, "", NULL, x->arg);
    } else {
        snprintf(id, sizeof(id), "%.*s", (int)reply->len, reply->str);
        x->cb.owner(x->c, id, NULL, x->arg);
    }
    vr_free(x);
}

int vr_cluster_owner(vr_cluster *c, const char *room, const char *instance, vr_owner_cb cb,
                     void *arg)
{
    char *key;
    op_ctx *x = op_begin(c, room, instance, arg, &key);
    int rc;

    if (!x)
        return VERANI_ENOMEM;
    x->cb.owner = cb;
    {
        const char *hget[3] = {"HGET", key, "node"};

        rc = vr_redis_command(c->redis, on_owner, x, 3, hget, NULL);
    }
    if (rc)
        vr_free(x);
    else
        vr_redis_flush(c->redis);
    vr_free(key);
    return rc;
}

int vr_cluster_validate(vr_cluster *c, const char *room, const char *instance, uint64_t epoch,
                        void (*cb)(vr_cluster *c, int result, void *arg), void *arg)
{
    return flag_script(c, S_VALIDATE, room, instance, epoch, NULL, cb, arg);
}
