/* SPDX-License-Identifier: MIT */
/*
 * storage_util.h: what the tests of room storage in Redis share (test_cluster_storage.c,
 * test_cluster_outage.c): three nodes of the counting room (counting_room.h), typed clients of
 * one of its instances, the instance's storage hash as Redis holds it, and clients that note
 * the chat lines they hear. Failures are cmocka assertions: call these from a test only, with
 * cu_teardown as its teardown.
 */
#ifndef VERANI_TEST_STORAGE_UTIL_H
#define VERANI_TEST_STORAGE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <verani/verani.h>

#include "cluster_util.h"
#include "e2e_client.h"
#include "fault_proxy.h"

/* Three counting nodes on a Redis of the test's own, started here with `redis_args` (NULL:
 * none; e.g. "--appendonly yes" for one that keeps its data across a restart); `idle_ms`: instances released after that long without sessions, and then sessions end with
 * their connection (nothing waits for a resume, so an instance empties when its client goes). */
void cluster_counting(cluster *cl, uint32_t idle_ms, const char *redis_args);

/* A typed client of E2e/`inst` at `hostport` ("127.0.0.1:N"), user u1, backoff 200..1,000 ms,
 * retrying for ever. */
verani_client *client_at(verani_client_loop *loop, const char *hostport, const char *inst);
/* Until the client is connected again (its connection number past `before`): a request
 * written on a connection the server had already left would end only at its timeout. */
void until_reconnected(verani_client_loop *loop, verani_client *c, uint64_t before);

/* The number of fields of the instance's storage hash in Redis (its fields: stored_field,
 * cluster_util.h). */
long long st_len(const rs_server *rs, const char *inst);
/* Until Redis's copy says pokes = `want` (it trails the reply by the end of the turn). */
void until_replicated(const rs_server *rs, const char *inst, const char *want);

/* The chat lines a client heard, in order (the first 8). */
typedef struct heard {
    char texts[8][32];
    int n;
} heard;

/* The chat.out handler that notes into a `heard` (its user pointer). */
void on_chat(verani_client *c, const E2e__ChatOut *msg, void *user);
/* Request cmd op 1: the server says `text` to channel default (no storage written). */
void say(verani_client *c, const char *text);
/* Until `h` holds `n` lines, serving the loop. */
void until_heard(verani_client_loop *loop, heard *h, int n);

/* Three counting nodes, node A reaching Redis through a fault proxy (returned), with these
 * timings; clients x (hearing into `h`) and y of instance `inst` at node A, both connected. */
fault_proxy *gate_setup(cluster *cl, uint32_t heartbeat_ms, uint32_t lease_ms,
                        uint32_t timeout_ms, verani_client_loop **loop, verani_client **x,
                        verani_client **y, const char *inst, heard *h);

#endif /* VERANI_TEST_STORAGE_UTIL_H */
