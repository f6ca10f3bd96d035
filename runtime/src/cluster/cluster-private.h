/* SPDX-License-Identifier: MIT */
/*
 * cluster-private.h: one node of a Verani-C cluster (shared/SCALEOUT.md
 * section 3): its registration in Redis with a lease, and the ownership of
 * room instances with fencing epochs. Built on the Redis engine
 * (redis-private.h); the server wires it to routing, storage and calls.
 *
 * Keys (prefix "vr" by default; {R/I} is a room instance, hash-tagged):
 *   <p>:epoch         the cluster's incarnation: random, set once (SET NX); a
 *                     different value later means Redis lost its data
 *   <p>:node:<id>     this node's NodeInfo (cluster.proto), PX lease_ms,
 *                     refreshed every heartbeat_ms: the node is live while
 *                     it exists
 *   <p>:own:{R/I}     hash: node (the owner, absent when released), epoch
 *                     (the fencing token, grows by one per claim, never
 *                     reset), handover (1 when the last owner saved its
 *                     sessions for the next), applied (the last storage batch
 *                     of this claim, so a batch sent again is skipped)
 *   <p>:st:{R/I}      hash: the instance's room storage (key to value), as
 *                     its owners applied it, one fenced batch per turn
 *   <p>:ss:{R/I}      hash: client id to the session's record (a
 *                     HandoverSession without its window), written with the
 *                     storage batches, so a crashed owner's sessions come back
 *   <p>:rf:{R/I}      a graceful stop's handover of the instance (its
 *                     sessions and their retained frames, a Handover in
 *                     cluster.proto), PX the resume grace: written with the
 *                     release, read and deleted by the next owner's claim
 * Channels: <p>:ctl, every node's heartbeat (and, later, calls to all nodes).
 *
 * Lease and self-fencing: t_ok is when the last heartbeat that Redis
 * acknowledged was sent. Redis keeps the node key until at least t_ok +
 * lease, so nobody can claim this node's instances before then; the node
 * takes itself for fenced from t_ok + lease - command_timeout on
 * (vr_cluster_lease_ok), before anyone else can win a claim.
 *
 * Threads: the loop's only. Ownership: vr_cluster_create's result is the
 * caller's (vr_cluster_destroy); strings in results are valid during the
 * callback.
 */
#ifndef VERANI_CLUSTER_PRIVATE_H
#define VERANI_CLUSTER_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <verani/rpc.h>

struct ev_loop;
typedef struct vr_cluster vr_cluster;

typedef struct vr_cluster_options {
    const char *redis_address;    /* see vr_redis_options.address */
    const char *password;         /* NULL: none */
    const char *prefix;           /* NULL: "vr" */
    const char *public_url;       /* how clients reach this node ("ws://10.0.0.5:8080"); NULL: none */
    const char *node_id;          /* NULL: random (16 hex digits), new at every start */
    uint32_t heartbeat_ms;        /* 0: 1000 */
    uint32_t lease_ms;            /* 0: 5000; at least 3 heartbeats */
    uint32_t command_timeout_ms;  /* 0: 2000; also the self-fencing margin */
    /* The node became live (registered, lease held) or stopped being so. */
    void (*on_live)(vr_cluster *c, int live, void *arg);
    /* Redis lost its data (its incarnation changed): every ownership is gone. */
    void (*on_reset)(vr_cluster *c, void *arg);
    void *arg;
} vr_cluster_options;

typedef struct vr_cluster_stats {
    uint64_t heartbeats;          /* acknowledged */
    uint64_t claims_won, claims_lost, claims_failed;
    uint64_t releases, fenced;    /* fenced: times the lease ran out */
    uint64_t resets;              /* incarnation changes seen */
    int live;
} vr_cluster_stats;

vr_cluster *vr_cluster_create(struct ev_loop *loop, const vr_cluster_options *o, char *err,
                              size_t errlen);
/* No release is sent: an owner that stops without releasing keeps its
 * instances until its lease runs out (as a crash would). NULL is a no-op. */
void vr_cluster_destroy(vr_cluster *c);

const char *vr_cluster_node_id(const vr_cluster *c);

/* Registered and within its lease (minus the margin), at this moment. The
 * server asks at the start of every loop turn, before dispatching input. */
int vr_cluster_lease_ok(vr_cluster *c);

typedef enum vr_claim_outcome {
    VR_CLAIM_WON,        /* this node owns it now, with `epoch` */
    VR_CLAIM_OWNED,      /* a live node owns it: `owner`, `owner_url` */
    VR_CLAIM_FAILED      /* no answer from Redis, or this node is not live: `error` */
} vr_claim_outcome;

typedef struct vr_claim_result {
    vr_claim_outcome outcome;
    uint64_t epoch;            /* WON: the new fencing token; OWNED: the owner's */
    const char *owner;         /* OWNED: its node id */
    const char *owner_url;     /* OWNED: its public URL ("" when it has none) */
    const char *previous;      /* WON: the node that owned it before ("" for none) */
    int handover;              /* WON: the previous owner saved its sessions for us */
    const char *error;         /* FAILED: why */
} vr_claim_result;

typedef void (*vr_claim_cb)(vr_cluster *c, const vr_claim_result *res, void *arg);

/*
 * Claim instance `instance` of room `room`: won when no live node owns it.
 * `cb` runs once, later (never inside this call). 0, or VERANI_EIO when the
 * node is not live (cb does not run), or VERANI_ENOMEM.
 */
int vr_cluster_claim(vr_cluster *c, const char *room, const char *instance, vr_claim_cb cb,
                     void *arg);

/*
 * Give up the instance if this node still owns it with `epoch`; `handover`
 * marks that its sessions were saved for the next owner. `cb` (may be NULL)
 * gets 1 released, 0 not the owner (any more), or a negative verani_err.
 */
int vr_cluster_release(vr_cluster *c, const char *room, const char *instance, uint64_t epoch,
                       int handover, void (*cb)(vr_cluster *c, int result, void *arg),
                       void *arg);

/*
 * A graceful stop hands the instance over (handover.c): if this node still owns it with
 * `epoch`, one script stores `blob` (a packed Handover) for `ttl_ms` at <p>:rf:{R/I} and
 * releases the instance with handover=1, so the next claim finds it. `cb` gets 1 saved and
 * released, 0 not the owner (any more: nothing written), or a negative verani_err (Redis
 * did not answer: whether it was written is unknown). `blob` is copied. 0, or VERANI_ENOMEM,
 * VERANI_EIO (Redis is not up: cb does not run).
 */
int vr_cluster_handover_save(vr_cluster *c, const char *room, const char *instance,
                             uint64_t epoch, const uint8_t *blob, size_t len, uint32_t ttl_ms,
                             void (*cb)(vr_cluster *c, int result, void *arg), void *arg);

/* --- room storage in Redis (replica.c) ------------------------------------------------- */

/* One write of room storage: a put (`val`, `vlen`) or a delete (`del`); with `session`, of
 * a session record instead (key: the client id, value: the record). */
typedef struct vr_apply_op {
    int del, session;
    const void *key, *val;
    size_t klen, vlen;
} vr_apply_op;

/* What an apply's callback is told, besides a negative verani_err (Redis did not answer, or
 * answered an error: send the batch again). */
enum {
    VR_APPLY_REFUSED = 0, /* another node or epoch owns the instance: this node was deposed */
    VR_APPLY_DONE = 1,    /* applied: this batch and every one before it are in Redis */
    VR_APPLY_BEFORE = 2,  /* applied before (a retry): nothing written, as for DONE */
    VR_APPLY_EARLY = 3    /* an earlier batch is not applied yet: nothing written; send the
                           * batches not acknowledged again, in order */
};

/*
 * Apply the committed writes of one instance, in order, as batch `batch_no` (from 1, one
 * more each batch of the claim): one script checks that this node still owns the instance
 * with `epoch` and that the batch is the next one (the last applied plus one), then writes
 * <p>:st:{R/I}; so an acknowledgement of batch N covers every batch up to N, whatever order
 * the answers come in. `cb` gets one of VR_APPLY_* or a negative verani_err. The ops are
 * copied; the script is queued, written by vr_cluster_flush (or by the loop, when the link
 * is writable). 0, or VERANI_EIO (Redis is not up: cb does not run), VERANI_ENOMEM.
 */
int vr_cluster_apply(vr_cluster *c, const char *room, const char *instance, uint64_t epoch,
                     uint64_t batch_no, const vr_apply_op *ops, size_t n,
                     void (*cb)(vr_cluster *c, int result, void *arg), void *arg);
/* Write what the calls of this turn queued (the applies of every instance that wrote) to
 * Redis now, in as few writes as they fit in, rather than one each. */
void vr_cluster_flush(vr_cluster *c);

/* What a load found: the instance's storage (n pairs) and, when asked, the handover (len 0:
 * none or expired). All of it valid during the callback only. */
typedef struct vr_load_result {
    int status;                  /* 1 read, 0 this node is not the owner, < 0 a verani_err */
    size_t n;
    const char **keys, **vals;
    const size_t *klens, *vlens;
    const uint8_t *handover;
    size_t handover_len;
    size_t n_sessions;           /* the session records (HandoverSession, no window) */
    const uint8_t **sessions;
    const size_t *session_lens;
} vr_load_result;
typedef void (*vr_load_cb)(vr_cluster *c, const vr_load_result *res, void *arg);

/*
 * Right after a claim won: read the instance's storage and, with `handover`, take what the
 * last owner saved at its graceful stop (read and deleted), in one script that runs only
 * while this node owns the instance with `epoch`. 0, or VERANI_EIO, VERANI_ENOMEM (cb does
 * not run).
 */
int vr_cluster_load(vr_cluster *c, const char *room, const char *instance, uint64_t epoch,
                    int handover, vr_load_cb cb, void *arg);

/* Does this node still own the instance with `epoch` (after a fence, before
 * resuming)? `cb` gets 1 yes, 0 no, or a negative verani_err. */
int vr_cluster_validate(vr_cluster *c, const char *room, const char *instance, uint64_t epoch,
                        void (*cb)(vr_cluster *c, int result, void *arg), void *arg);

/* Which node owns the instance: `owner` its id ("" when none does), or NULL with `error`
 * when Redis did not say. Whether that node is live is the node table's (vr_cluster_node_url). */
typedef void (*vr_owner_cb)(vr_cluster *c, const char *owner, const char *error, void *arg);
/* `cb` runs once, later; 0, or VERANI_EIO (Redis is not up: cb does not run), VERANI_ENOMEM. */
int vr_cluster_owner(vr_cluster *c, const char *room, const char *instance, vr_owner_cb cb,
                     void *arg);

void vr_cluster_get_stats(const vr_cluster *c, vr_cluster_stats *out);

/*
 * The node stops (a graceful stop): no more heartbeats, not live from now on, its node key
 * deleted and its leaving published, so other nodes can claim its instances at once instead
 * of after its lease. `cb` runs once Redis has both (or they failed), never inside this call;
 * 0, or VERANI_EIO when Redis is not up (cb does not run; the lease runs out by itself),
 * VERANI_ESTATE when it left already.
 */
int vr_cluster_leave(vr_cluster *c, void (*cb)(vr_cluster *c, void *arg), void *arg);

/* --- the node table and calls between nodes (bus.c) ------------------------------------- */

/*
 * Every node publishes its NodeInfo on <p>:ctl at each heartbeat; the table holds the other
 * nodes whose last heartbeat is younger than one lease. A call goes to one node's channel
 * <p>:n:<id> and its answer comes back on the caller's; a gather calls every live node
 * (this one too) and hands over every answer, or, at the deadline, what came and the names
 * of the nodes that did not answer: never a silent partial answer.
 */

/* The live nodes, this one first: up to `max` ids into `ids` (borrowed until the table
 * changes: copy them); returns how many there are. */
size_t vr_cluster_nodes(vr_cluster *c, const char **ids, size_t max);
/* A live node's public URL ("" when it has none), or NULL when the node is not live. */
const char *vr_cluster_node_url(vr_cluster *c, const char *id);

/* A call made to this node; answer it once with vr_cluster_answer (now or later). */
typedef struct vr_bus_call vr_bus_call;
/* Where this node's incoming calls go (`body` valid during the call only). NULL: every
 * call is answered VERANI_ENOTFOUND at once. */
void vr_cluster_on_call(vr_cluster *c,
                        void (*fn)(vr_cluster *c, vr_bus_call *call, const char *from,
                                   const uint8_t *body, size_t len, void *arg));
/* Answer `call` with `status` (0 or a negative verani_err) and `body`; frees `call`. */
int vr_cluster_answer(vr_cluster *c, vr_bus_call *call, int status, const uint8_t *body,
                      size_t len);

/* One answer: `status` 0 and the callee's body, its negative verani_err, VERANI_ETIMEDOUT
 * (no answer in time), or VERANI_ENOTFOUND (no such live node). `body` is valid during the
 * callback. */
typedef void (*vr_call_cb)(vr_cluster *c, const char *node, int status, const uint8_t *body,
                           size_t len, void *arg);
/* Call `node` with `body`; `cb` runs once, later (never inside this call). 0, or VERANI_EIO
 * (Redis is not up), VERANI_ENOMEM. */
int vr_cluster_call(vr_cluster *c, const char *node, const uint8_t *body, size_t len,
                    uint32_t timeout_ms, vr_call_cb cb, void *arg);

typedef struct vr_gather_answer {
    const char *node;
    int status;
    const uint8_t *body;
    size_t len;
} vr_gather_answer;
/* Every live node's answer (`n` of them, this node's included), and `missing`: NULL when
 * all answered, else the ids of those that did not in time, ", "-separated. */
typedef void (*vr_gather_cb)(vr_cluster *c, const vr_gather_answer *answers, size_t n,
                             const char *missing, void *arg);
int vr_cluster_gather(vr_cluster *c, const uint8_t *body, size_t len, uint32_t timeout_ms,
                      vr_gather_cb cb, void *arg);

/* --- forwarded calls (forward.c) ----------------------------------------------------------- */

/* An outside call for an instance another node owns, as it crosses (strings borrowed). */
typedef struct vr_forward {
    uint32_t op;                      /* the server's vr_rpc_op */
    const char *room, *instance;
    uint32_t target_kind;             /* verani_target_kind */
    const char *target_name;          /* NULL: none */
    const char *const *user_ids;
    size_t n_user_ids;
    const char *const *client_ids;
    size_t n_client_ids;
    const uint8_t *frame;             /* the event as sessions get it */
    size_t frame_len;
    const char *fingerprint;          /* the caller's schema of the room; NULL: none */
    const char *name;                 /* a user id or client id; NULL: none */
    const char *reason;               /* NULL: none */
    int code;
    int every_room, every_instance;   /* room, instance: all (those this node owns) */
} vr_forward;

/* Pack `f` into a fresh allocation (*out, the caller's: vr_free). 0 or VERANI_ENOMEM. */
int vr_forward_pack(const vr_forward *f, uint8_t **out, size_t *len);
/* Unpack a Forward into `f`, whose strings and frame point into the returned handle (free it
 * with vr_forward_unpacked_free once done); NULL when the bytes are not one. */
void *vr_forward_unpack(const uint8_t *body, size_t len, vr_forward *f);
void vr_forward_unpacked_free(void *handle);
/* The answer: the owner's result (status, count, error, user ids, sessions). */
int vr_forward_result_pack(const verani_rpc_result *res, uint8_t **out, size_t *len);
/* Into `res` (zeroed first; its arrays are then the caller's: verani_rpc_result_free). 0,
 * VERANI_EPROTO when the bytes are not a ForwardResult, VERANI_ENOMEM. */
int vr_forward_result_unpack(const uint8_t *body, size_t len, verani_rpc_result *res);

#endif /* VERANI_CLUSTER_PRIVATE_H */
