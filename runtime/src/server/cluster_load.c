/* SPDX-License-Identifier: MIT */
/*
 * cluster_load.c: a claim won loads the instance before it starts (shared/
 * SCALEOUT.md section 3.7): its room storage from Redis replaces the local
 * copy (in one transaction the recorder does not hear), and its sessions come
 * back: a graceful stop's handover (windows and all), else the records a
 * crashed owner left (identities and channels). The instance stays CLAIMING
 * meanwhile, so its connections wait. Loop thread only.
 */
#include <stdio.h>
#include <string.h>

#include "cluster/cluster-private.h"
#include "core/core-private.h"
#include "replica-int.h"

typedef struct vr_keys {
    uint8_t **k;                 /* owned copies */
    size_t *len, n, cap;
} vr_keys;

static int collect_key(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                       void *user)
{
    vr_keys *ks = user;

    (void)val;
    (void)vlen;
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : 64;
        uint8_t **k = vr_reallocarray(ks->k, cap, sizeof(*k));
        size_t *len = k ? vr_reallocarray(ks->len, cap, sizeof(*len)) : NULL;

        if (k)
            ks->k = k;
        if (!len)
            return VERANI_ENOMEM;
        ks->len = len;
        ks->cap = cap;
    }
    ks->k[ks->n] = vr_malloc(klen ? klen : 1);
    if (!ks->k[ks->n])
        return VERANI_ENOMEM;
    memcpy(ks->k[ks->n], key, klen);
    ks->len[ks->n++] = klen;
    return 0;
}

/* The local copy of the instance's storage becomes what Redis holds, in one transaction
 * that the recorder does not hear; 0 or a verani_err. */
static int replace_local(vr_instance *inst, const vr_load_result *res)
{
    verani_server *srv = inst->mount->srv;
    vr_keys ks;
    size_t i, before;
    int r;

    memset(&ks, 0, sizeof(ks));
    if (!inst->storage)
        inst->storage = verani_storage_open(srv->storage, inst->mount->def->schema->name,
                                            inst->name);
    if (!inst->storage)
        return VERANI_EIO;
    if (srv->replica)
        srv->replica->rec.off = 1;
    r = verani_storage_begin(inst->storage);
    do { /* every key there now, page by page */
        before = ks.n;
        r = r < 0 ? r : verani_storage_list(inst->storage, NULL, 0,
                                            ks.n ? ks.k[ks.n - 1] : NULL,
                                            ks.n ? ks.len[ks.n - 1] : 0, 1000, collect_key,
                                            &ks);
    } while (r > 0 && ks.n > before);
    for (i = 0; r >= 0 && i < ks.n; i++)
        r = verani_storage_delete(inst->storage, ks.k[i], ks.len[i]);
    for (i = 0; r >= 0 && i < res->n; i++)
        r = verani_storage_put(inst->storage, res->keys[i], res->klens[i], res->vals[i],
                               res->vlens[i]);
    r = r < 0 ? (verani_storage_rollback(inst->storage), r) : verani_storage_commit(inst->storage);
    if (srv->replica)
        srv->replica->rec.off = 0;
    for (i = 0; i < ks.n; i++)
        vr_free(ks.k[i]);
    vr_free(ks.k);
    vr_free(ks.len);
    return r < 0 ? r : 0;
}

/* The last owner's sessions: its handover after a graceful stop (windows and all), else the
 * records it left (a crash: identities and channels, no frames). */
static void restore_loaded(vr_instance *inst, void *arg)
{
    const vr_load_result *res = arg;

    if (res->handover_len)
        vr_handover_restore(inst, res->handover, res->handover_len);
    else if (res->n_sessions)
        vr_handover_restore_records(inst, res->sessions, res->session_lens, res->n_sessions);
}

static void on_loaded(vr_cluster *c, const vr_load_result *res, void *arg)
{
    vr_instance *inst = arg;
    verani_server *srv = inst->mount->srv;
    const char *room = inst->mount->def->schema->name;
    int r;

    (void)c;
    if (!srv->cluster || inst->own != VR_OWN_CLAIMING) { /* the node is going away */
        inst->own = VR_OWN_LOST;
        return;
    }
    if (res->status == 0) {
        vr_owner_refused(inst, "another node claimed it while it was loaded");
    } else if (res->status < 0) {
        vr_owner_refused(inst, "Redis did not answer the load of its storage");
    } else if ((r = replace_local(inst, res)) != 0) {
        VR_ERR("cluster: instance %s '%s': writing its storage to this node's file failed: "
               "%s\n", room, inst->name, srv->storage->last_error);
        vr_owner_refused(inst, "its storage could not be written here");
    } else {
        VR_INFO("cluster: instance %s '%s': %zu storage key(s) loaded\n", room, inst->name,
                res->n);
        if (inst->handover_wanted && !res->handover_len) {
            srv->ho_stats.restore_failed++;
            VR_WARN("cluster: instance %s '%s': its handover expired before this claim: its "
                    "clients start again\n", room, inst->name);
        }
        vr_replica_drop(inst); /* a batch of an earlier claim is not this one's */
        vr_owner_won(inst, restore_loaded, (void *)res);
    }
    inst->handover_wanted = 0;
    vr_instance_maybe_free(inst);
}

int vr_replica_load(vr_instance *inst, int handover)
{
    verani_server *srv = inst->mount->srv;
    int r;

    if (srv->opts.resume_grace_ms == VERANI_RESUME_OFF)
        handover = 0; /* nothing here resumes */
    inst->handover_wanted = handover != 0;
    r = vr_cluster_load(srv->cluster, inst->mount->def->schema->name, inst->name, inst->epoch,
                        handover, on_loaded, inst);
    if (r)
        VR_WARN("cluster: instance %s '%s': its storage cannot be loaded (%s)\n",
                inst->mount->def->schema->name, inst->name, verani_strerror(r));
    return r;
}

