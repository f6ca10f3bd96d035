/* SPDX-License-Identifier: MIT */
/*
 * cluster_util.h: what the in-process cluster tests share (test_cluster_route.c,
 * test_cluster_handover.c): three nodes of one cluster (three servers, each on
 * its own thread, port and libev loop) against a real redis-server started for
 * the test (redis_server.h), their /metrics and session counts, and a client
 * loop destroyed at the test's teardown. Failures are cmocka assertions: call
 * these from a test only, with cu_teardown as its teardown.
 */
#ifndef VERANI_TEST_CLUSTER_UTIL_H
#define VERANI_TEST_CLUSTER_UTIL_H

#include <stdint.h>

#include <verani/verani.h>

#include "e2e_util.h"
#include "rawclient.h"
#include "redis_server.h"

#define NODES 3
#define HEARTBEAT_MS 100
#define LEASE_MS 1000
#define TIMEOUT_MS 500

typedef struct cluster {
    rs_server *rs;
    e2e_server node[NODES];
    char url[NODES][64];
} cluster;

typedef struct cluster_cfg {
    uint32_t idle_ms;                        /* instance_idle_ms; 0: the default */
    int no_resume;                           /* sessions end with their connection */
    int (*mount[NODES])(verani_server *srv); /* node i's rooms; NULL: e2e_mount_all */
    const char *redis[NODES];                /* node i's way to Redis; NULL: the test's own */
    uint32_t lease_ms, heartbeat_ms, timeout_ms; /* 0: LEASE_MS, HEARTBEAT_MS, TIMEOUT_MS */
} cluster_cfg;

/* A port free now on 127.0.0.1 (a node's public URL must name it before it listens). */
int free_port(void);
/* Redis, then nodes "node-a", "node-b", "node-c" on free ports, with their HTTP API (token
 * "t", metrics token "m"), heartbeat HEARTBEAT_MS, lease LEASE_MS, command timeout
 * TIMEOUT_MS (unless `cfg` says otherwise). `cl` zeroed, or cluster_redis_start first when a node's Redis
 * address must be known before (a proxy in front of it): cluster_start_cfg then uses it. */
void cluster_redis_start(cluster *cl);
void cluster_start_cfg(cluster *cl, const cluster_cfg *cfg);
void cluster_start(cluster *cl, uint32_t idle_ms);
/* Every node the test did not stop, then Redis. */
void cluster_stop(cluster *cl);
/* Until every node serves and sees the others (its /health answers 200). */
void wait_mesh(cluster *cl);
/* A figure of node `i`'s /metrics (-1 when absent). */
long long metric(cluster *cl, int i, const char *name);
/* Sessions of E2e instance `inst` as node `i` answers (the owner's count when another node
 * owns it; 0 when no node serves it). */
long long sessions_on(cluster *cl, int i, const char *inst);

/* Field `field` of hash `key` in Redis ("" when absent) into `buf`. */
void redis_hget(const rs_server *rs, const char *key, const char *field, char *buf,
                size_t len);
/* Field `field` of E2e instance `inst`'s room storage as Redis holds it (the hash
 * vr:st:{E2e/<inst>}, runtime/src/cluster/replica.c), "" when absent, into `buf`. */
void stored_field(const rs_server *rs, const char *inst, const char *field, char *buf,
                  size_t len);

/* A client loop for the test, destroyed at its teardown; or now with client_loop_end (its
 * sockets close, so the servers need not wait for their close frames to be answered). */
verani_client_loop *client_loop(void);
void client_loop_end(verani_client_loop *loop);

/* Ask with request echo "get" (the counting room's: counting_room.h) and check that the
 * count its owner's storage holds is `want`. The request waits in the offline queue while the
 * client moves; a request written on a connection the server had left already would end
 * only at its timeout, so call this while the client is connected. */
void expect_count(verani_client_loop *loop, verani_client *c, const char *want);
/* The same, the count into `out` ("(failed: <why>)" when the request failed). */
void get_count(verani_client_loop *loop, verani_client *c, char *out, size_t len);

/* A raw client (rawclient.h): upgrade to E2e/`inst` at `port` (user "raw") and say HELLO,
 * resuming `token` after `last_seq` in `epoch` when `token` is set; with `wait`, the
 * WELCOME is checked and returned (the caller frees it: verani__wire__envelope__free_unpacked),
 * else NULL. The socket in *fd (the caller closes it). */
rc_env *raw_hello(int *fd, int port, const char *inst, const char *token, uint64_t last_seq,
                  const char *epoch, int wait);
/* One poke (the counting room's event 2, no payload) on the raw client's socket. */
void raw_poke(int fd);

/* What a raw client keeps of a WELCOME to resume later. */
typedef struct raw_ids {
    char id[64], token[64], epoch[32];
} raw_ids;
/* A raw client's fresh session of E2e/`inst` at `port`, its WELCOME's ids into *ids; the
 * connection is then closed without a close frame, so the session waits for a resume. */
void raw_fresh_then_cut(int port, const char *inst, raw_ids *ids);

#endif /* VERANI_TEST_CLUSTER_UTIL_H */
