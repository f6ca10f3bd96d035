/* SPDX-License-Identifier: MIT */
/*
 * cluster_replica.c: a cluster node keeps room storage in Redis as well as in
 * its SQLite file (shared/SCALEOUT.md section 3.7), so an instance's storage
 * moves with it. The storage layer tells a recorder of every write that took
 * and of every transaction level (storage-private.h): writes inside a
 * transaction wait for its outermost commit (a rollback, whole or to a
 * savepoint, drops what it undid), then join their instance's batch. At the
 * end of each loop turn every instance that wrote sends its batch in one
 * fenced script (cluster/replica.c), never one per write or per frame. Redis
 * applies an instance's batches in their order only (an acknowledgement of
 * one covers those before it); one that failed, or came before an earlier
 * one, is sent again in order (the script skips a batch it applied already),
 * and a refusal means another node owns the instance now: the instance is
 * fenced and Redis asked whether it is still this node's.
 * Reads stay local. A claim won loads the instance's storage from Redis into
 * the local file (replacing what was there) before the instance starts, with
 * the handover of a graceful stop when there is one, else the session records.
 *
 * The output gate: every frame queued to a connected session of an
 * instance is tagged with the instance's tag for the turn (one tag per
 * instance per turn, not per frame); the frames of a turn wait for its end,
 * and when the instance wrote in that turn, for Redis to acknowledge the
 * batch that covers those writes. Later frames queue behind them, so order
 * holds; an instance that did not write is never held past the end of its
 * turn. Held frames do not count toward the slow-consumer bound, and an
 * instance whose gate stays shut past command_timeout_ms has its input
 * paused until Redis answers.
 *
 * Session records: a session's record (cluster_handover.c's vr_session_record)
 * joins its instance's batch at the end of a turn in which it was created or
 * resumed or its channels changed, and its delete when it ends, so the node
 * that claims an instance after its owner crashed restores its sessions.
 *
 * The gate is cluster_gate.c's, the load at a claim cluster_load.c's; what
 * the three share is replica-int.h.
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
#include "replica-int.h"
#include "server-int.h"
#include "storage/storage-private.h"

#define BATCH_OPS 1024           /* a batch's writes at most ... */
#define BATCH_BYTES (1u << 20)   /* ... and bytes of keys and values */

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
    ir->head_covers = vr_gate_tag(o->inst); /* this turn's frames wait for these writes */
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
    o->session = 0;
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

/* One batch's send, until Redis answers: `ir` is cleared (vr_replica_drop) when the instance
 * lets its batches go first, so the answer needs no search for its instance. */
typedef struct vr_rsent {
    verani_server *srv;
    struct vr_ireplica *ir;      /* NULL once the batches were dropped, or it was acked */
    char *room, *instance;       /* owned: for the log */
    uint64_t epoch, no;
    int covered;                 /* acked already, by the answer to a later batch */
} vr_rsent;

/* Redis has every batch of `ir` up to `no` (an acknowledgement covers the ones before it):
 * they go. Whether any did. */
static int acked(struct vr_ireplica *ir, uint64_t no)
{
    int any = 0;

    while (ir->sent && ir->sent->no <= no) {
        vr_rbatch *b = ir->sent;

        if (b->out) { /* its answer, when it comes, changes nothing */
            b->out->ir = NULL;
            b->out->covered = 1;
        }
        ir->sent = b->next;
        ops_free(b->ops);
        vr_free(b);
        any = 1;
    }
    if (!ir->sent)
        ir->sent_tail = &ir->sent;
    return any;
}

/* Every batch of `ir` not acknowledged goes again, in order, at the end of the next turn. */
static void resend_later(vr_replica *rp, struct vr_ireplica *ir)
{
    ir->resend = 1;
    if (rp && lws_dll2_is_detached(&ir->dirty))
        lws_dll2_add_tail(&ir->dirty, &rp->dirty);
}

static void on_applied(vr_cluster *c, int result, void *arg)
{
    vr_rsent *x = arg;
    verani_server *srv = x->srv;
    vr_replica *rp = srv->replica;
    vr_instance *inst = x->ir ? x->ir->inst : NULL;
    struct vr_ireplica *ir = inst && inst->epoch == x->epoch ? x->ir : NULL;
    vr_rbatch *sb;

    (void)c;
    for (sb = x->ir ? x->ir->sent : NULL; sb; sb = sb->next)
        if (sb->out == x)
            sb->out = NULL; /* answered */
    if (x->covered) {
        if (rp && (result == VR_APPLY_DONE || result == VR_APPLY_BEFORE))
            rp->applied++;
    } else if (result == VR_APPLY_DONE || result == VR_APPLY_BEFORE) {
        if (rp)
            rp->applied++;
        if (ir && acked(ir, x->no))
            vr_gate_opened(inst);
    } else if (result == VR_APPLY_EARLY) { /* one before it went astray (an error, a retry) */
        if (rp)
            rp->early++;
        if (ir)
            resend_later(rp, ir);
    } else if (result == VR_APPLY_REFUSED) {
        if (rp)
            rp->refused++;
        VR_ERR("cluster: Redis refused storage writes of %s '%s' (epoch %llu): another node "
               "owns it now\n", x->room, x->instance, (unsigned long long)x->epoch);
        if (inst && inst->epoch == x->epoch)
            vr_owner_deposed(inst);
    } else {
        if (rp)
            rp->failed++;
        if (ir)
            resend_later(rp, ir);
        else
            VR_ERR("cluster: storage writes of %s '%s' did not reach Redis before the "
                   "instance went: they stay in this node's file only\n", x->room,
                   x->instance);
    }
    vr_free(x->room);
    vr_free(x->instance);
    vr_free(x);
}

/* Send batch `b` of `inst`; 0, or a verani_err (kept, tried again later). */
static int send_batch(verani_server *srv, vr_instance *inst, vr_rbatch *b)
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
            ops[i].session = o->session;
            ops[i].key = o->data;
            ops[i].klen = o->klen;
            ops[i].val = o->data + o->klen;
            ops[i].vlen = o->vlen;
        }
        x->srv = srv;
        x->ir = inst->repl;
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
    if (!r) {
        b->out = x;
        srv->replica->ops_sent += b->n;
    }
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
    if (ir->resend) { /* those in flight are answered before these (one connection) */
        for (b = ir->sent; b; b = b->next)
            if (!b->out && send_batch(srv, inst, b))
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

/* A session record's write (`rec` NULL: its delete) into its instance's batch. */
static void session_op(vr_replica *rp, verani_session *s, const uint8_t *rec, size_t len)
{
    size_t klen = strlen(s->client_id);
    vr_rop *o = vr_malloc(sizeof(*o) + klen + len);

    if (!o) {
        rp->failed++;
        VR_ERR("cluster: out of memory: the record of session %s is not written to Redis\n",
               s->client_id);
        return;
    }
    o->inst = s->inst;
    o->del = rec == NULL;
    o->session = 1;
    o->klen = klen;
    o->vlen = rec ? len : 0;
    memcpy(o->data, s->client_id, klen);
    if (rec && len)
        memcpy(o->data + klen, rec, len);
    commit_op(rp, o);
}

void vr_replica_session_save(verani_session *s)
{
    vr_replica *rp = s->srv->replica;

    if (!rp || !s->hello_done)
        return;
    if (!vr_session_ext_get(s)) {
        rp->failed++;
        VR_ERR("cluster: out of memory: the record of session %s is not written to Redis\n",
               s->client_id);
        return;
    }
    if (lws_dll2_is_detached(&s->x->repl_node))
        lws_dll2_add_tail(&s->x->repl_node, &rp->sessions);
}

void vr_replica_session_delete(verani_session *s)
{
    vr_replica *rp = s->srv->replica;

    if (s->x)
        vr_dll2_unlink(&s->x->repl_node);
    if (rp && s->inst && s->inst->own == VR_OWN_HELD)
        session_op(rp, s, NULL, 0);
}

/* The records of the sessions that changed this turn, as they are now. */
static void sessions_flush(vr_replica *rp)
{
    while (rp->sessions.head) {
        verani_session *s = lws_container_of(rp->sessions.head, vr_session_ext, repl_node)->s;
        uint8_t *rec;
        size_t len;

        lws_dll2_remove(&s->x->repl_node);
        if (!s->added || !s->inst || s->inst->own != VR_OWN_HELD)
            continue;
        if (vr_session_record(s, &rec, &len)) {
            rp->failed++;
            VR_ERR("cluster: out of memory: the record of session %s is not written to "
                   "Redis\n", s->client_id);
            continue;
        }
        session_op(rp, s, rec, len);
        vr_free(rec);
    }
}

void vr_replica_flush(verani_server *srv)
{
    vr_replica *rp = srv->replica;

    if (!rp)
        return;
    sessions_flush(rp);
    if (srv->cluster)
        lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&rp->dirty)) {
            struct vr_ireplica *ir = lws_container_of(d, struct vr_ireplica, dirty);

            if (!flush_instance(srv, ir->inst) && !ir->sent)
                lws_dll2_remove(&ir->dirty);
            else
                vr_gate_check(srv, ir->inst); /* still waiting for Redis */
        } lws_end_foreach_dll_safe(d, d1);
    if (srv->cluster)
        vr_cluster_flush(srv->cluster); /* every instance's apply in one write */
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

        if (b->out)
            b->out->ir = NULL;
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
    while (rp->sessions.head)
        lws_dll2_remove(rp->sessions.head);
    vr_free(rp);
    srv->replica = NULL;
}

/* Now, over the node's instances: batches sent and not answered, writes not sent yet, and
 * instances whose input the gate paused (what a gate that stays shut is waiting for). */
static void gate_state(verani_server *srv, size_t *sent, size_t *unsent, size_t *paused)
{
    size_t i;

    *sent = *unsent = *paused = 0;
    for (i = 0; i < srv->n_mounts; i++)
        lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&srv->mounts[i]->instances)) {
            vr_instance *inst = lws_container_of(d, vr_instance, node);
            const vr_rbatch *b;

            *paused += inst->gate_paused != 0;
            if (inst->repl) {
                *unsent += inst->repl->n;
                for (b = inst->repl->sent; b; b = b->next)
                    (*sent)++;
            }
        } lws_end_foreach_dll(d);
}

void vr_replica_metrics(verani_server *srv, vr_sb *sb)
{
    vr_replica *rp = srv->replica;
    size_t sent, unsent, paused;

    if (!rp)
        return;
    gate_state(srv, &sent, &unsent, &paused);
    vr_sb_printf(sb, "# HELP verani_cluster_storage_batches_waiting Batches of storage writes "
                 "sent to Redis and not answered yet, now.\n# TYPE "
                 "verani_cluster_storage_batches_waiting gauge\n"
                 "verani_cluster_storage_batches_waiting %zu\n", sent);
    vr_sb_printf(sb, "# HELP verani_cluster_storage_writes_unsent Storage writes committed "
                 "and not sent to Redis yet, now.\n# TYPE verani_cluster_storage_writes_unsent "
                 "gauge\nverani_cluster_storage_writes_unsent %zu\n", unsent);
    vr_sb_printf(sb, "# HELP verani_cluster_gate_paused_instances Instances whose input is "
                 "paused until Redis acknowledges their writes, now.\n# TYPE "
                 "verani_cluster_gate_paused_instances gauge\n"
                 "verani_cluster_gate_paused_instances %zu\n", paused);
    vr_sb_printf(sb, "# HELP verani_cluster_storage_batches_total Batches of storage writes "
                 "sent to Redis, by answer.\n# TYPE verani_cluster_storage_batches_total "
                 "counter\nverani_cluster_storage_batches_total{result=\"applied\"} %llu\n"
                 "verani_cluster_storage_batches_total{result=\"failed\"} %llu\n"
                 "verani_cluster_storage_batches_total{result=\"refused\"} %llu\n"
                 "verani_cluster_storage_batches_total{result=\"early\"} %llu\n",
                 (unsigned long long)rp->applied, (unsigned long long)rp->failed,
                 (unsigned long long)rp->refused, (unsigned long long)rp->early);
    vr_metric_counter(sb, "verani_cluster_storage_writes_total", "Storage writes sent to Redis.",
                      rp->ops_sent);
    vr_metric_counter(sb, "verani_cluster_gate_pauses_total", "Times an instance's input was "
                      "paused because Redis had not acknowledged its writes within the command "
                      "timeout.", rp->gate_pauses);
    vr_metric_counter(sb, "verani_cluster_storage_unreplicated_total", "Storage writes for an "
                      "instance this node does not own (kept local only).", rp->unowned);
}
