/* SPDX-License-Identifier: MIT */
/*
 * replica.c: room storage in Redis (shared/SCALEOUT.md section 3.7). The
 * owner applies each turn's committed writes of an instance to
 * <p>:st:{R/I} in one fenced script: the own key names this node and epoch,
 * and the batch is the one after the last applied. So a retry is harmless, a
 * deposed owner's late write is refused, and a batch that arrives before an
 * earlier one (a retry gone out behind it) writes nothing until that one has.
 * A new owner reads the whole hash, and a handover with it, right after its
 * claim.
 */
#include <stdio.h>
#include <string.h>

#include "core/core-private.h"
#include "cluster-int.h"

/* KEYS[1] own key, KEYS[2] storage hash, KEYS[3] session records; ARGV[1] this node, ARGV[2]
 * its epoch, ARGV[3] the batch number (applied only when it is the next: the answers are
 * VR_APPLY_*), then (kind, key, value) for each write: 'P' put and 'D' delete a storage key,
 * 'S' save and 'X' delete a session record. */
const char vr_apply_lua[] =
    "local o = redis.call('HMGET', KEYS[1], 'node', 'epoch', 'applied')\n"
    "if o[1] ~= ARGV[1] or o[2] ~= ARGV[2] then return 0 end\n"
    "local a, n = tonumber(o[3] or '0'), tonumber(ARGV[3])\n"
    "if n <= a then return 2 end\n"
    "if n ~= a + 1 then return 3 end\n"
    "for i = 4, #ARGV, 3 do\n"
    "  local k = ARGV[i]\n"
    "  if k == 'P' then redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2])\n"
    "  elseif k == 'D' then redis.call('HDEL', KEYS[2], ARGV[i + 1])\n"
    "  elseif k == 'S' then redis.call('HSET', KEYS[3], ARGV[i + 1], ARGV[i + 2])\n"
    "  else redis.call('HDEL', KEYS[3], ARGV[i + 1]) end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'applied', ARGV[3])\n"
    "return 1\n";

/* KEYS[1] own key, KEYS[2] storage hash, KEYS[3] handover key, KEYS[4] session records;
 * ARGV[1] this node, ARGV[2] its epoch, ARGV[3] '1' to take the handover. */
const char vr_load_lua[] =
    "local o = redis.call('HMGET', KEYS[1], 'node', 'epoch')\n"
    "if o[1] ~= ARGV[1] or o[2] ~= ARGV[2] then return {0} end\n"
    "local ho = ''\n"
    "if ARGV[3] == '1' then\n"
    "  ho = redis.call('GET', KEYS[3]) or ''\n"
    "  redis.call('DEL', KEYS[3])\n"
    "end\n"
    "return {1, redis.call('HGETALL', KEYS[2]), ho, redis.call('HGETALL', KEYS[4])}\n";

typedef struct rp_ctx {
    vr_cluster *c;
    void (*applied)(vr_cluster *c, int result, void *arg);
    vr_load_cb loaded;
    void *arg;
} rp_ctx;

#define RP_KEYS 4 /* own, st, rf, ss */

/* The keys of the instance (RP_KEYS: the caller's to free) and a context; NULL when out of
 * memory (nothing to free then). */
static rp_ctx *rp_begin(vr_cluster *c, const char *room, const char *instance, void *arg,
                        char *keys[RP_KEYS])
{
    static const char *kinds[RP_KEYS] = {"own", "st", "rf", "ss"};
    rp_ctx *x = vr_calloc(1, sizeof(*x));
    int i, ok = x != NULL;

    for (i = 0; i < RP_KEYS; i++) {
        keys[i] = vr_cluster_instance_key(c, kinds[i], room, instance);
        ok = ok && keys[i];
    }
    if (!ok) {
        vr_free(x);
        for (i = 0; i < RP_KEYS; i++)
            vr_free(keys[i]);
        return NULL;
    }
    x->c = c;
    x->arg = arg;
    return x;
}

static void keys_free(char *keys[RP_KEYS])
{
    int i;

    for (i = 0; i < RP_KEYS; i++)
        vr_free(keys[i]);
}

static void on_applied(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    rp_ctx *x = arg;
    int result = err || !reply || reply->type != REDIS_REPLY_INTEGER ? VERANI_EIO
                                                                       : (int)reply->integer;

    (void)r;
    if (err)
        VR_WARN("cluster: applying storage writes: %s\n", err);
    x->applied(x->c, result, x->arg);
    vr_free(x);
}

int vr_cluster_apply(vr_cluster *c, const char *room, const char *instance, uint64_t epoch,
                     uint64_t batch_no, const vr_apply_op *ops, size_t n,
                     void (*cb)(vr_cluster *c, int result, void *arg), void *arg)
{
    char e[24], b[24], *keys[RP_KEYS];
    const char **args;
    size_t *lens, i, k;
    rp_ctx *x;
    int rc;

    if (!vr_redis_up(c->redis))
        return VERANI_EIO;
    x = rp_begin(c, room, instance, arg, keys);
    args = vr_calloc(6 + 3 * n, sizeof(*args));
    lens = vr_calloc(6 + 3 * n, sizeof(*lens));
    if (!x || !args || !lens) {
        if (x) {
            keys_free(keys);
            vr_free(x);
        }
        vr_free(args);
        vr_free(lens);
        return VERANI_ENOMEM;
    }
    x->applied = cb;
    snprintf(e, sizeof(e), "%llu", (unsigned long long)epoch);
    snprintf(b, sizeof(b), "%llu", (unsigned long long)batch_no);
    args[0] = keys[0];
    args[1] = keys[1];
    args[2] = keys[3];
    args[3] = c->node_id;
    args[4] = e;
    args[5] = b;
    for (k = 0; k < 6; k++)
        lens[k] = strlen(args[k]);
    for (i = 0; i < n; i++, k += 3) {
        args[k] = ops[i].session ? (ops[i].del ? "X" : "S") : ops[i].del ? "D" : "P";
        lens[k] = 1;
        args[k + 1] = ops[i].key;
        lens[k + 1] = ops[i].klen;
        args[k + 2] = ops[i].del ? "" : (ops[i].val ? ops[i].val : "");
        lens[k + 2] = ops[i].del ? 0 : ops[i].vlen;
    }
    rc = vr_cluster_eval(c, S_APPLY, 3, (int)k, args, lens, on_applied, x);
    if (rc)
        vr_free(x); /* sent: by vr_cluster_flush at the end of the turn, with the others */
    keys_free(keys);
    vr_free(args);
    vr_free(lens);
    return rc;
}

static void on_loaded(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    rp_ctx *x = arg;
    vr_load_result res;
    const redisReply *h, *ho, *ss;
    size_t i;

    (void)r;
    memset(&res, 0, sizeof(res));
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        VR_WARN("cluster: loading an instance: %s\n", err ? err : "an unexpected answer");
        res.status = VERANI_EIO;
    } else if (reply->element[0]->integer != 1 || reply->elements < 4 ||
               reply->element[1]->type != REDIS_REPLY_ARRAY ||
               reply->element[2]->type != REDIS_REPLY_STRING ||
               reply->element[3]->type != REDIS_REPLY_ARRAY) {
        res.status = 0;
    } else {
        h = reply->element[1];
        ho = reply->element[2];
        ss = reply->element[3];
        res.status = 1;
        res.n = h->elements / 2;
        res.n_sessions = ss->elements / 2;
        res.keys = vr_calloc(res.n + 1, sizeof(*res.keys));
        res.vals = vr_calloc(res.n + 1, sizeof(*res.vals));
        res.klens = vr_calloc(res.n + 1, sizeof(*res.klens));
        res.vlens = vr_calloc(res.n + 1, sizeof(*res.vlens));
        res.sessions = vr_calloc(res.n_sessions + 1, sizeof(*res.sessions));
        res.session_lens = vr_calloc(res.n_sessions + 1, sizeof(*res.session_lens));
        if (!res.keys || !res.vals || !res.klens || !res.vlens || !res.sessions ||
            !res.session_lens) {
            res.status = VERANI_ENOMEM;
            res.n = res.n_sessions = 0;
        }
        for (i = 0; i < res.n; i++) {
            ((const char **)res.keys)[i] = h->element[2 * i]->str;
            ((size_t *)res.klens)[i] = h->element[2 * i]->len;
            ((const char **)res.vals)[i] = h->element[2 * i + 1]->str;
            ((size_t *)res.vlens)[i] = h->element[2 * i + 1]->len;
        }
        for (i = 0; i < res.n_sessions; i++) { /* the values: client id -> record */
            ((const uint8_t **)res.sessions)[i] = (const uint8_t *)ss->element[2 * i + 1]->str;
            ((size_t *)res.session_lens)[i] = ss->element[2 * i + 1]->len;
        }
        res.handover = (const uint8_t *)ho->str;
        res.handover_len = ho->len;
    }
    x->loaded(x->c, &res, x->arg);
    vr_free((void *)res.keys);
    vr_free((void *)res.vals);
    vr_free((void *)res.klens);
    vr_free((void *)res.vlens);
    vr_free((void *)res.sessions);
    vr_free((void *)res.session_lens);
    vr_free(x);
}

int vr_cluster_load(vr_cluster *c, const char *room, const char *instance, uint64_t epoch,
                    int handover, vr_load_cb cb, void *arg)
{
    char e[24], *keys[RP_KEYS];
    const char *args[7];
    rp_ctx *x;
    int rc;

    if (!vr_redis_up(c->redis))
        return VERANI_EIO;
    x = rp_begin(c, room, instance, arg, keys);
    if (!x)
        return VERANI_ENOMEM;
    x->loaded = cb;
    snprintf(e, sizeof(e), "%llu", (unsigned long long)epoch);
    args[0] = keys[0];
    args[1] = keys[1];
    args[2] = keys[2];
    args[3] = keys[3];
    args[4] = c->node_id;
    args[5] = e;
    args[6] = handover ? "1" : "0";
    rc = vr_cluster_eval(c, S_LOAD, 4, 7, args, NULL, on_loaded, x);
    if (rc)
        vr_free(x);
    else
        vr_redis_flush(c->redis);
    keys_free(keys);
    return rc;
}
