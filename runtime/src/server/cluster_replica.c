/* SPDX-License-Identifier: MIT */
/*
 * cluster_replica.c: a cluster node keeps room storage in Redis as well as in
 * its SQLite file (shared/SCALEOUT.md section 3.7), so an instance's storage
 * moves with it. The storage layer tells a recorder of every write that took
 * and of every transaction level (storage-private.h): writes inside a
 * transaction wait for its outermost commit (a rollback, whole or to a
 * savepoint, drops what it undid), then join their instance's batch. At the
 * end of each loop turn every instance that wrote sends its batch in one
 * fenced script (cluster/replica.c), never one per write or per frame; one
 * that Redis did not answer is sent again (the script skips a batch it
 * applied already), and a refusal means another node owns the instance now:
 * the instance is fenced and Redis asked whether it is still this node's.
 * Reads stay local. A claim won loads the instance's storage from Redis into
 * the local file (replacing what was there) before the instance starts, with
 * the handover of a graceful stop when there is one.
 *
 * The output gate: every frame queued to a connected session of an
 * instance is tagged with the instance's tag for the turn (one tag per
 * instance per turn, not per frame); the frames of a turn wait for its end,
 * and when the instance wrote in that turn, for Redis to acknowledge the
 * batch that covers those writes. Later frames queue behind them, so order
 * holds; an instance that did not write is never held past the end of its
 * turn. Held frames do not count toward the slow-consumer bound, and an
 * instance whose gate stays shut past command_timeout_ms has its input
 * paused until Redis answers. Not yet (issue 17): the session records.
 *
 * Ownership: srv->replica (the recorder, the open transaction's writes) is
 * owned here, made at the node's start and freed at its stop; each instance's
 * batches (inst->repl) are owned here too and freed with the instance. Loop
 * thread only.
 */
#include <stdio.h>
#include <string.h>

#include "cluster/cluster-private.h"
#include "core/core-private.h"
#include "server-int.h"
#include "storage/storage-private.h"

#define BATCH_OPS 1024           /* a batch's writes at most ... */
#define BATCH_BYTES (1u << 20)   /* ... and bytes of keys and values */

/* One write, its key and value copied after it. */
typedef struct vr_rop {
    struct vr_rop *next;
    vr_instance *inst;           /* while in a transaction: whose it is */
    int del;
    size_t klen, vlen;
    uint8_t data[];              /* key, then value */
} vr_rop;

/* Writes sent together, kept until Redis says it has them. */
typedef struct vr_rbatch {
    struct vr_rbatch *next;
    uint64_t no;
    uint64_t covers;             /* the gate tag its ack releases (0: a split batch's part) */
    int64_t sent_us;
    size_t n;
    vr_rop *ops;                 /* owned chain */
} vr_rbatch;

/* An instance's writes on their way to Redis (inst->repl). */
struct vr_ireplica {
    vr_instance *inst;           /* whose */
    vr_rop *head, **tail;        /* committed, not sent yet */
    size_t n;
    uint64_t head_covers;        /* the gate tag of the turn of the newest of them */
    vr_rbatch *sent, **sent_tail;/* sent, not answered: the oldest first */
    uint64_t next_no;            /* the next batch's number (from 1 each claim) */
    int resend;                  /* a batch was not answered: send them all again */
    lws_dll2_t dirty;            /* in srv->replica->dirty while it has something to send */
};

struct vr_replica {
    vr_storage_recorder rec;
    verani_server *srv;
    vr_rop *txn, **txn_tail;     /* writes of the open transaction, in order */
    size_t n_txn;
    size_t marks[64];            /* n_txn at the start of each level (1..63) */
    lws_dll2_owner_t dirty;      /* instances with writes to send */
    uint64_t applied, resent, refused, failed, ops_sent, unowned;
    uint64_t gate_pauses, gate_oom;
};

static void ops_free(vr_rop *o)
{
    while (o) {
        vr_rop *n = o->next;

        vr_free(o);
        o = n;
    }
}

/* The instance's replica, made on first use; NULL when out of memory. */
static struct vr_ireplica *irep(vr_instance *inst)
{
    if (!inst->repl) {
        inst->repl = vr_calloc(1, sizeof(*inst->repl));
        if (!inst->repl)
            return NULL;
        inst->repl->inst = inst;
        inst->repl->tail = &inst->repl->head;
        inst->repl->sent_tail = &inst->repl->sent;
        inst->repl->next_no = 1;
    }
    return inst->repl;
}

/* The instance's gate tag for this turn: a new one at its first frame or write of a turn. */
static uint64_t gate_tag(vr_instance *inst)
{
    verani_server *srv = inst->mount->srv;

    if (inst->tag_turn != srv->turn || !inst->open_tag) {
        inst->tag_turn = srv->turn;
        inst->open_tag++;
    }
    return inst->open_tag;
}

/* `o` joins its instance's committed writes. */
static void commit_op(vr_replica *rp, vr_rop *o)
{
    struct vr_ireplica *ir = irep(o->inst);

    o->next = NULL;
    if (!ir) {
        rp->failed++;
        VR_ERR("cluster: out of memory: a storage write of instance '%s' stays local\n",
               o->inst->name);
        vr_free(o);
        return;
    }
    *ir->tail = o;
    ir->tail = &o->next;
    ir->n++;
    ir->head_covers = gate_tag(o->inst); /* this turn's frames wait for these writes */
    if (lws_dll2_is_detached(&ir->dirty))
        lws_dll2_add_tail(&ir->dirty, &rp->dirty);
}

/* The instance `st` writes for, when this node owns it. */
static vr_instance *owned_instance(verani_server *srv, const verani_storage *st)
{
    vr_instance *inst = vr_instance_find(srv, st->room, st->instance);

    return inst && inst->own == VR_OWN_HELD ? inst : NULL;
}

static void rec_write(void *arg, const verani_storage *st, int del, const void *key,
                      size_t klen, const void *val, size_t vlen)
{
    vr_replica *rp = arg;
    vr_instance *inst = owned_instance(rp->srv, st);
    vr_rop *o;

    if (!inst) {
        if (!rp->unowned++)
            VR_WARN("cluster: a storage write for %s '%s', an instance this node does not "
                    "own, stays in this node's file (it is not replicated)\n", st->room,
                    st->instance);
        return;
    }
    o = vr_malloc(sizeof(*o) + klen + vlen);
    if (!o) {
        rp->failed++;
        VR_ERR("cluster: out of memory: a storage write of instance '%s' stays local\n",
               inst->name);
        return;
    }
    o->next = NULL;
    o->inst = inst;
    o->del = del;
    o->klen = klen;
    o->vlen = vlen;
    memcpy(o->data, key, klen);
    if (vlen)
        memcpy(o->data + klen, val, vlen);
    if (!st->db->depth) { /* no transaction: committed now */
        commit_op(rp, o);
        return;
    }
    *rp->txn_tail = o;
    rp->txn_tail = &o->next;
    rp->n_txn++;
}

/* Drop the open transaction's writes past the first `keep`. */
static void txn_truncate(vr_replica *rp, size_t keep)
{
    vr_rop **pp = &rp->txn;
    size_t i;

    for (i = 0; i < keep && *pp; i++)
        pp = &(*pp)->next;
    ops_free(*pp);
    *pp = NULL;
    rp->txn_tail = pp;
    rp->n_txn = keep;
}

static void rec_level(void *arg, int depth, int event)
{
    vr_replica *rp = arg;
    size_t d = (size_t)depth < sizeof(rp->marks) / sizeof(rp->marks[0]) ? (size_t)depth : 0;

    if (event == VR_REC_BEGIN) {
        rp->marks[d] = rp->n_txn;
    } else if (event == VR_REC_DROP) {
        txn_truncate(rp, depth <= 1 ? 0 : rp->marks[d]);
    } else if (depth <= 1) { /* the outermost commit: each write to its instance */
        vr_rop *o = rp->txn;

        while (o) {
            vr_rop *n = o->next;

            commit_op(rp, o);
            o = n;
        }
        rp->txn = NULL;
        rp->txn_tail = &rp->txn;
        rp->n_txn = 0;
    }
}

/* --- sending --------------------------------------------------------------------------------- */

static void gate_opened(vr_instance *inst);

typedef struct vr_rsent {
    verani_server *srv;
    char *room, *instance;       /* owned */
    uint64_t epoch, no;
} vr_rsent;

static void on_applied(vr_cluster *c, int result, void *arg)
{
    vr_rsent *x = arg;
    verani_server *srv = x->srv;
    vr_replica *rp = srv->replica;
    vr_instance *inst = vr_instance_find(srv, x->room, x->instance);
    struct vr_ireplica *ir = inst && inst->epoch == x->epoch ? inst->repl : NULL;

    (void)c;
    if (rp && result >= 1)
        rp->applied++;
    if (ir && result >= 1 && ir->sent && ir->sent->no == x->no) {
        vr_rbatch *b = ir->sent;

        ir->sent = b->next;
        if (!ir->sent)
            ir->sent_tail = &ir->sent;
        ops_free(b->ops);
        vr_free(b);
        gate_opened(inst);
    } else if (result < 0) {
        if (rp)
            rp->failed++;
        if (ir) {
            ir->resend = 1; /* at the end of the next turn, all of them, in order */
            if (rp && lws_dll2_is_detached(&ir->dirty))
                lws_dll2_add_tail(&ir->dirty, &rp->dirty);
        } else {
            VR_ERR("cluster: storage writes of %s '%s' did not reach Redis before the "
                   "instance went: they stay in this node's file only\n", x->room,
                   x->instance);
        }
    } else if (result == 0) {
        if (rp)
            rp->refused++;
        VR_ERR("cluster: Redis refused storage writes of %s '%s' (epoch %llu): another node "
               "owns it now\n", x->room, x->instance, (unsigned long long)x->epoch);
        if (inst && inst->epoch == x->epoch)
            vr_owner_deposed(inst);
    }
    vr_free(x->room);
    vr_free(x->instance);
    vr_free(x);
}

/* --- the output gate --------------------------------------------------------------------- */

/* The newest tag whose frames may go: not this turn's until it ends, and not one of a turn
 * whose writes Redis has not acknowledged. */
static uint64_t gate_released(const vr_instance *inst)
{
    const struct vr_ireplica *ir = inst->repl;
    uint64_t r = inst->tag_turn == inst->mount->srv->turn ? inst->open_tag - 1 : inst->open_tag;
    const vr_rbatch *b;

    if (ir) {
        for (b = ir->sent; b; b = b->next)
            if (b->covers) { /* the oldest: acknowledged in order */
                r = b->covers - 1 < r ? b->covers - 1 : r;
                break;
            }
        if (ir->head && ir->head_covers - 1 < r)
            r = ir->head_covers - 1;
    }
    return r;
}

int vr_gate_waiting(const vr_instance *inst)
{
    const struct vr_ireplica *ir = inst->repl;

    return ir && (ir->sent || ir->head);
}

void vr_gate_hold(verani_session *s)
{
    uint64_t tag = gate_tag(s->inst);
    struct vr_grun *r;

    if (s->n_gruns && s->gruns[s->n_gruns - 1].tag == tag) {
        s->gruns[s->n_gruns - 1].n++;
        return;
    }
    if (s->n_gruns == s->cap_gruns) {
        uint32_t cap = s->cap_gruns ? s->cap_gruns * 2 : 4;
        struct vr_grun *g = vr_reallocarray(s->gruns, cap, sizeof(*g));

        if (!g) { /* no room to hold it: it goes with the frames before it (logged once) */
            if (!s->srv->replica->gate_oom++)
                VR_ERR("cluster: out of memory: a frame of session %s is not held by the "
                       "output gate\n", s->client_id);
            return;
        }
        s->gruns = g;
        s->cap_gruns = cap;
    }
    r = &s->gruns[s->n_gruns++];
    r->tag = tag;
    r->n = 1;
}

uint32_t vr_gate_allowed(verani_session *s, int *for_redis)
{
    uint64_t released = gate_released(s->inst);
    uint32_t i = 0, held = 0, k;

    while (i < s->n_gruns && s->gruns[i].tag <= released)
        i++;
    if (i) { /* released runs: their frames are like any other now */
        for (k = i; k < s->n_gruns; k++)
            s->gruns[k - i] = s->gruns[k];
        s->n_gruns -= i;
    }
    for (k = 0; k < s->n_gruns; k++)
        held += s->gruns[k].n;
    /* not only this turn's (released at its end): a turn that wrote, waiting for Redis */
    *for_redis = s->n_gruns && !(s->gruns[0].tag == s->inst->open_tag &&
                                 s->inst->tag_turn == s->srv->turn);
    return held >= s->q.count ? 0 : s->q.count - held;
}

/* Redis acknowledged writes of `inst`: the sessions whose frames it held are written at the
 * end of this turn, and input paused by a long gate goes on once nothing waits. */
static void gate_opened(vr_instance *inst)
{
    verani_server *srv = inst->mount->srv;
    uint64_t released = gate_released(inst);
    int waiting = vr_gate_waiting(inst);

    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&inst->sessions)) {
        verani_session *s = lws_container_of(d, verani_session, node);

        if (s->wsi && s->n_gruns && s->gruns[0].tag <= released &&
            lws_dll2_is_detached(&s->dirty)) {
            s->write_asked = 1;
            lws_dll2_add_tail(&s->dirty, &srv->dirty);
        }
        if (inst->gate_paused && !waiting && s->wsi && s->rx_paused && !s->closing) {
            s->rx_paused = 0;
            lws_rx_flow_control(s->wsi, 1);
        }
    } lws_end_foreach_dll(d);
    if (!waiting && inst->gate_paused) {
        inst->gate_paused = 0;
        VR_NOTICE("cluster: instance %s '%s': Redis answers again, its input goes on\n",
                  inst->mount->def->schema->name, inst->name);
    }
}

/* A gate shut longer than the command timeout: the instance's input waits (its sessions'
 * queues would otherwise grow until Redis answers). */
static void gate_check(verani_server *srv, vr_instance *inst)
{
    struct vr_ireplica *ir = inst->repl;
    uint32_t tmo = srv->opts.cluster.command_timeout_ms ? srv->opts.cluster.command_timeout_ms
                                                        : 2000;

    if (inst->gate_paused || !ir || !ir->sent ||
        lws_now_usecs() - ir->sent->sent_us < (int64_t)tmo * 1000)
        return;
    inst->gate_paused = 1;
    srv->replica->gate_pauses++;
    VR_WARN("cluster: instance %s '%s': Redis has not acknowledged its storage writes for "
            "%u ms: its input is paused until it does\n", inst->mount->def->schema->name,
            inst->name, tmo);
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&inst->sessions)) {
        verani_session *s = lws_container_of(d, verani_session, node);

        if (s->wsi && !s->rx_paused && !s->closing) {
            s->rx_paused = 1;
            lws_rx_flow_control(s->wsi, 0);
        }
    } lws_end_foreach_dll(d);
}

/* Send batch `b` of `inst`; 0, or a verani_err (kept, tried again later). */
static int send_batch(verani_server *srv, vr_instance *inst, const vr_rbatch *b)
{
    const char *room = inst->mount->def->schema->name;
    vr_apply_op *ops = vr_calloc(b->n + 1, sizeof(*ops));
    vr_rsent *x = vr_calloc(1, sizeof(*x));
    const vr_rop *o;
    size_t i = 0;
    int r = VERANI_ENOMEM;

    if (ops && x && (x->room = vr_strdup(room)) && (x->instance = vr_strdup(inst->name))) {
        for (o = b->ops; o; o = o->next, i++) {
            ops[i].del = o->del;
            ops[i].key = o->data;
            ops[i].klen = o->klen;
            ops[i].val = o->data + o->klen;
            ops[i].vlen = o->vlen;
        }
        x->srv = srv;
        x->epoch = inst->epoch;
        x->no = b->no;
        r = vr_cluster_apply(srv->cluster, room, inst->name, inst->epoch, b->no, ops, b->n,
                             on_applied, x);
    }
    vr_free(ops);
    if (r && x) {
        vr_free(x->room);
        vr_free(x->instance);
        vr_free(x);
    }
    if (!r)
        srv->replica->ops_sent += b->n;
    return r;
}

/* The committed writes of `inst` into batches, and every batch not sent (or to send again)
 * to Redis. 0 when nothing is left to send. */
static int flush_instance(verani_server *srv, vr_instance *inst)
{
    struct vr_ireplica *ir = inst->repl;
    vr_rbatch *b;

    if (!ir || !srv->cluster || !inst->epoch)
        return 0;
    if (ir->resend) {
        for (b = ir->sent; b; b = b->next)
            if (send_batch(srv, inst, b))
                return 1;
        srv->replica->resent++;
        ir->resend = 0;
    }
    while (ir->head) {
        size_t n = 0, bytes = 0;
        vr_rop **pp = &ir->head;

        while (*pp && n < BATCH_OPS && (!n || bytes + (*pp)->klen + (*pp)->vlen <= BATCH_BYTES)) {
            bytes += (*pp)->klen + (*pp)->vlen;
            pp = &(*pp)->next;
            n++;
        }
        b = vr_calloc(1, sizeof(*b));
        if (!b)
            return 1;
        b->no = ir->next_no;
        b->n = n;
        b->sent_us = lws_now_usecs();
        b->ops = ir->head;
        ir->head = *pp;
        *pp = NULL;
        if (!ir->head)
            ir->tail = &ir->head;
        ir->n -= n;
        b->covers = ir->head ? 0 : ir->head_covers; /* the last part releases the turn */
        if (send_batch(srv, inst, b)) { /* back where it was, for the next turn */
            *pp = ir->head;
            ir->head = b->ops;
            if (!*pp)
                ir->tail = pp;
            ir->n += n;
            vr_free(b);
            return 1;
        }
        ir->next_no++;
        *ir->sent_tail = b;
        ir->sent_tail = &b->next;
    }
    return 0;
}

void vr_replica_flush(verani_server *srv)
{
    vr_replica *rp = srv->replica;

    if (!rp)
        return;
    if (srv->cluster)
        lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&rp->dirty)) {
            struct vr_ireplica *ir = lws_container_of(d, struct vr_ireplica, dirty);

            if (!flush_instance(srv, ir->inst) && !ir->sent)
                lws_dll2_remove(&ir->dirty);
            else
                gate_check(srv, ir->inst); /* still waiting for Redis */
        } lws_end_foreach_dll_safe(d, d1);
    srv->turn++; /* the turn's frames may go now, those of a turn that wrote once acked */
}

void vr_replica_drop(vr_instance *inst)
{
    struct vr_ireplica *ir = inst->repl;

    if (!ir)
        return;
    vr_dll2_unlink(&ir->dirty);
    ops_free(ir->head);
    while (ir->sent) { /* their answers find no batch: a failure is logged then */
        vr_rbatch *b = ir->sent;

        ir->sent = b->next;
        ops_free(b->ops);
        vr_free(b);
    }
    vr_free(ir);
    inst->repl = NULL;
}

void vr_replica_instance_free(vr_instance *inst)
{
    if (inst->repl && flush_instance(inst->mount->srv, inst))
        VR_ERR("cluster: storage writes of %s '%s' could not be sent before the instance "
               "went: they stay in this node's file only\n", inst->mount->def->schema->name,
               inst->name);
    vr_replica_drop(inst);
}

/* --- loading at the claim -------------------------------------------------------------------- */

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
        vr_owner_won(inst, res->handover, res->handover_len);
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

/* --- the node's replica ---------------------------------------------------------------------- */

int vr_replica_start(verani_server *srv)
{
    vr_replica *rp;

    if (srv->replica || !srv->storage)
        return 0;
    rp = vr_calloc(1, sizeof(*rp));
    if (!rp)
        return VERANI_ENOMEM;
    rp->srv = srv;
    rp->txn_tail = &rp->txn;
    rp->rec.write = rec_write;
    rp->rec.level = rec_level;
    rp->rec.arg = rp;
    srv->replica = rp;
    srv->storage->rec = &rp->rec;
    return 0;
}

void vr_replica_stop(verani_server *srv)
{
    vr_replica *rp = srv->replica;

    if (!rp)
        return;
    if (srv->storage)
        srv->storage->rec = NULL;
    ops_free(rp->txn);
    while (rp->dirty.head) /* their instances keep (and free) their batches */
        lws_dll2_remove(rp->dirty.head);
    vr_free(rp);
    srv->replica = NULL;
}

void vr_replica_metrics(verani_server *srv, vr_sb *sb)
{
    vr_replica *rp = srv->replica;

    if (!rp)
        return;
    vr_sb_printf(sb, "# HELP verani_cluster_storage_batches_total Batches of storage writes "
                 "sent to Redis, by answer.\n# TYPE verani_cluster_storage_batches_total "
                 "counter\nverani_cluster_storage_batches_total{result=\"applied\"} %llu\n"
                 "verani_cluster_storage_batches_total{result=\"failed\"} %llu\n"
                 "verani_cluster_storage_batches_total{result=\"refused\"} %llu\n",
                 (unsigned long long)rp->applied, (unsigned long long)rp->failed,
                 (unsigned long long)rp->refused);
    vr_sb_printf(sb, "# HELP verani_cluster_storage_writes_total Storage writes sent to "
                 "Redis.\n# TYPE verani_cluster_storage_writes_total counter\n"
                 "verani_cluster_storage_writes_total %llu\n",
                 (unsigned long long)rp->ops_sent);
    vr_sb_printf(sb, "# HELP verani_cluster_gate_pauses_total Times an instance's input was "
                 "paused because Redis had not acknowledged its writes within the command "
                 "timeout.\n# TYPE verani_cluster_gate_pauses_total counter\n"
                 "verani_cluster_gate_pauses_total %llu\n",
                 (unsigned long long)rp->gate_pauses);
    vr_sb_printf(sb, "# HELP verani_cluster_storage_unreplicated_total Storage writes for an "
                 "instance this node does not own (kept local only).\n"
                 "# TYPE verani_cluster_storage_unreplicated_total counter\n"
                 "verani_cluster_storage_unreplicated_total %llu\n",
                 (unsigned long long)rp->unowned);
}
