/* SPDX-License-Identifier: MIT */
/*
 * replica-int.h: what cluster_replica.c (room storage and session records on
 * their way to Redis), cluster_gate.c (the output gate) and cluster_load.c
 * (the load at a claim) share: the batches of an instance and the node's
 * recorder. Loop thread only.
 */
#ifndef VERANI_SERVER_REPLICA_INT_H
#define VERANI_SERVER_REPLICA_INT_H

#include <stdint.h>

#include "server-int.h"
#include "storage/storage-private.h"

/* One write, its key and value copied after it. */
typedef struct vr_rop {
    struct vr_rop *next;
    vr_instance *inst;           /* while in a transaction: whose it is */
    int del, session;            /* session: a session record (key: its client id) */
    size_t klen, vlen;
    uint8_t data[];              /* key, then value */
} vr_rop;

/* Writes sent together, kept until Redis says it has them. */
typedef struct vr_rbatch {
    struct vr_rbatch *next;
    struct vr_rsent *out;        /* its send Redis has not answered yet; NULL: none */
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
    int resend;                  /* a batch failed or came early: send again, in order,
                                  * those not in flight */
    lws_dll2_t dirty;            /* in srv->replica->dirty while it has something to send */
};

struct vr_replica {
    vr_storage_recorder rec;
    verani_server *srv;
    vr_rop *txn, **txn_tail;     /* writes of the open transaction, in order */
    size_t n_txn;
    size_t marks[64];            /* n_txn at the start of each level (1..63) */
    lws_dll2_owner_t dirty;      /* instances with writes to send */
    lws_dll2_owner_t sessions;   /* sessions whose record is to be written (repl_node) */
    uint64_t applied, resent, refused, failed, early, ops_sent, unowned;
    uint64_t gate_pauses, gate_oom;
};

/* The instance's gate tag for this turn (cluster_gate.c): a new one at its first frame or
 * write of a turn. */
uint64_t vr_gate_tag(vr_instance *inst);
/* Redis acknowledged writes of `inst`: the frames they held go at the end of this turn. */
void vr_gate_opened(vr_instance *inst);
/* Still waiting for Redis: past command_timeout_ms, the instance's input is paused. */
void vr_gate_check(verani_server *srv, vr_instance *inst);

#endif /* VERANI_SERVER_REPLICA_INT_H */
