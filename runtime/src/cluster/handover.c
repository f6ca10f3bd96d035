/* SPDX-License-Identifier: MIT */
/*
 * handover.c: an instance moved by a graceful stop (shared/SCALEOUT.md
 * sections 3.3 and 3.8): the stopping owner stores what its sessions need to
 * resume elsewhere and releases the instance in one script, so no claim can
 * come between the two; the next owner reads and deletes it with the
 * instance's storage right after its claim (replica.c). What is stored is the server's business (a packed
 * Handover, server/cluster_handover.c): here it is bytes.
 */
#include <stdio.h>
#include <string.h>

#include "core/core-private.h"
#include "cluster-int.h"

/* KEYS[1] own key, KEYS[2] handover key; ARGV[1] this node, ARGV[2] its epoch, ARGV[3] the
 * blob, ARGV[4] its time to live (ms). */
const char vr_handover_save_lua[] =
    "local o = redis.call('HMGET', KEYS[1], 'node', 'epoch')\n"
    "if o[1] ~= ARGV[1] or o[2] ~= ARGV[2] then return 0 end\n"
    "redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])\n"
    "redis.call('HDEL', KEYS[1], 'node')\n"
    "redis.call('HSET', KEYS[1], 'handover', '1')\n"
    "return 1\n";

typedef struct ho_ctx {
    vr_cluster *c;
    void (*saved)(vr_cluster *c, int result, void *arg);
    void *arg;
} ho_ctx;

/* Both keys of the instance and a context; NULL when out of memory (nothing to free). */
static ho_ctx *ho_begin(vr_cluster *c, const char *room, const char *instance, void *arg,
                        char **own, char **rf)
{
    ho_ctx *x = vr_calloc(1, sizeof(*x));

    *own = vr_cluster_instance_key(c, "own", room, instance);
    *rf = vr_cluster_instance_key(c, "rf", room, instance);
    if (!x || !*own || !*rf) {
        vr_free(x);
        vr_free(*own);
        vr_free(*rf);
        return NULL;
    }
    x->c = c;
    x->arg = arg;
    return x;
}

static void on_saved(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    ho_ctx *x = arg;
    int result = err || !reply || reply->type != REDIS_REPLY_INTEGER ? VERANI_EIO
                                                                       : reply->integer == 1;

    (void)r;
    if (err)
        VR_WARN("cluster: handover: %s\n", err);
    if (result == 1)
        x->c->stats.releases++;
    x->saved(x->c, result, x->arg);
    vr_free(x);
}

int vr_cluster_handover_save(vr_cluster *c, const char *room, const char *instance,
                             uint64_t epoch, const uint8_t *blob, size_t len, uint32_t ttl_ms,
                             void (*cb)(vr_cluster *c, int result, void *arg), void *arg)
{
    char e[24], ttl[16], *own, *rf;
    const char *args[6];
    size_t lens[6];
    ho_ctx *x;
    int rc, i;

    if (!vr_redis_up(c->redis))
        return VERANI_EIO;
    x = ho_begin(c, room, instance, arg, &own, &rf);
    if (!x)
        return VERANI_ENOMEM;
    x->saved = cb;
    snprintf(e, sizeof(e), "%llu", (unsigned long long)epoch);
    snprintf(ttl, sizeof(ttl), "%u", ttl_ms ? ttl_ms : 1);
    args[0] = own;
    args[1] = rf;
    args[2] = c->node_id;
    args[3] = e;
    args[4] = (const char *)blob;
    args[5] = ttl;
    for (i = 0; i < 6; i++)
        lens[i] = i == 4 ? len : strlen(args[i]);
    rc = vr_cluster_eval(c, S_HANDOVER_SAVE, 2, 6, args, lens, on_saved, x);
    if (rc)
        vr_free(x);
    else
        vr_redis_flush(c->redis); /* before the clients' close frames: Redis has it first */
    vr_free(own);
    vr_free(rf);
    return rc;
}
