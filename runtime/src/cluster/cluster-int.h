/* SPDX-License-Identifier: MIT */
/*
 * cluster-int.h: what the files of the cluster folder share and nothing else
 * sees: the node object (cluster.c: registration, lease, ownership scripts;
 * bus.c: the node table and calls between nodes). The rest of the runtime
 * uses cluster-private.h.
 */
#ifndef VERANI_CLUSTER_INT_H
#define VERANI_CLUSTER_INT_H

#include <stdint.h>

#include <ev.h>

#include "cluster-private.h"
#include "redis-private.h"

typedef struct vr_script {
    const char *src;
    char sha[41];
} vr_script;

enum { S_CLAIM, S_RELEASE, S_VALIDATE, S_HANDOVER_SAVE, S_APPLY, S_LOAD, S_COUNT };

/* handover.c's and replica.c's scripts (SHA-1 computed by cluster.c with the others). */
extern const char vr_handover_save_lua[], vr_apply_lua[], vr_load_lua[];

/* Another node as its heartbeats describe it (bus.c). Owned by the node table. */
typedef struct vr_peer {
    struct vr_peer *next;
    char id[33];
    char *url;                   /* owned; "" when it has none */
    int64_t seen_ms;             /* monotonic time of its last heartbeat seen */
} vr_peer;

struct vr_bus_pending;
struct vr_bus_call;

struct vr_cluster {
    struct ev_loop *loop;
    vr_redis *redis;
    char *prefix, *public_url;
    char node_id[33];
    uint32_t heartbeat_ms, lease_ms, margin_ms;
    uint64_t started_ms;
    vr_script scripts[S_COUNT];
    char *node_key, *epoch_key, *ctl_channel;
    char *node_channel;          /* <p>:n:<id>: calls to this node and answers to its calls */
    char incarnation[33];        /* <p>:epoch as first seen; "" before */
    int registered;              /* the node key was written since the engine came up */
    int heartbeat_in_flight;
    int leaving;                 /* vr_cluster_leave ran: no more heartbeats */
    void (*on_left)(vr_cluster *c, void *arg);
    void *left_arg;
    uint64_t heartbeats_sent;
    int64_t t_ok_ms;             /* monotonic send time of the last acknowledged heartbeat */
    int live;                    /* as last reported */
    ev_timer heartbeat;
    void (*on_live)(vr_cluster *c, int live, void *arg);
    void (*on_reset)(vr_cluster *c, void *arg);
    void (*on_call)(vr_cluster *c, struct vr_bus_call *call, const char *from,
                    const uint8_t *body, size_t len, void *arg);
    void *arg;
    vr_cluster_stats stats;
    /* bus.c */
    vr_peer *peers;              /* the other live nodes */
    uint64_t next_call_id;
    struct vr_bus_pending *pending;   /* calls this node made, waiting for answers */
    struct vr_bus_call *incoming;     /* calls made to this node, not answered yet */
};

/* Compute the SHA-1 of `src` into `s` (eval.c). */
void vr_script_init(vr_script *s, const char *src);
/* Call script `script` (S_*) with `nkeys` keys then the other arguments, `nargs` in all;
 * `lens` gives their lengths (NULL: C strings). The arguments are copied. `cb` runs once,
 * later, unless this returns an error (VERANI_EINVAL: too many, VERANI_ENOMEM, or the
 * engine's refusal). */
int vr_cluster_eval(vr_cluster *c, int script, int nkeys, int nargs, const char **args,
                    const size_t *lens, vr_redis_cb cb, void *arg);

/* <prefix>:<kind>:{room/instance}, allocated (NULL when out of memory). */
char *vr_cluster_instance_key(const vr_cluster *c, const char *kind, const char *room,
                              const char *instance);

/* Milliseconds on the monotonic clock. */
int64_t vr_mono_ms(void);

/* bus.c, driven by cluster.c: a message on a subscribed channel; the engine is going down
 * (pending calls fail); the cluster is destroyed (everything is freed). */
void vr_bus_on_message(vr_cluster *c, const char *channel, const char *data, size_t len);
void vr_bus_fail_pending(vr_cluster *c, const char *why);
void vr_bus_free(vr_cluster *c);

#endif /* VERANI_CLUSTER_INT_H */
