/* SPDX-License-Identifier: MIT */
/*
 * node_proc.h: node processes of a test cluster (cluster_node_main.c), as an operator runs
 * them (test_cluster_processes.c, test_cluster_soak.c): each its own process with its own
 * SQLite file in the test's directory, its output (stdout) in <dir>/<id>.out, the test's
 * redis-server. A node started here is on the teardown list (cleanup.h) until it is
 * stopped or killed by the test. Failures are cmocka assertions: call these from a test's
 * thread only, with cu_teardown as its teardown.
 */
#ifndef VERANI_TEST_NODE_PROC_H
#define VERANI_TEST_NODE_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "redis_server.h"

typedef struct node {
    pid_t pid;                /* 0 while not running */
    int port;
    int tries;                /* node_restart_poll: starts that found their port taken */
    int64_t deadline;         /* node_restart_poll: the current start's bound */
    char id[16], out[256], db[256], redis[330];
} node;

/* The ids nodes_start gives: "node-a", "node-b", "node-c". */
extern const char *const node_ids[3];

/* Start node `id` in `dir` on a free port (another one when that is taken meanwhile);
 * returns once it listens. */
void node_start(node *n, const char *id, const rs_server *rs, const char *dir);

/* SIGTERM, and its exit status (0 for a clean graceful stop). */
int node_stop(node *n);

/* SIGKILL (a crash), reaped. */
void node_kill(node *n);

/*
 * Start a killed node again: the same id, SQLite file and output file (emptied), on the
 * same port if it is still free. node_restart_begin starts the process and returns at
 * once; node_restart_poll says 1 once it listens, 0 not yet (a node that could not listen
 * on its port, taken meanwhile, is started again on a free one); node_restart does both and
 * returns once it listens.
 */
void node_restart_begin(node *n);
int node_restart_poll(node *n);
void node_restart(node *n);

/* Until the node serves (its /health answers 200: registered in Redis, lease held). */
void node_wait_serving(const node *n);

/* 1 while the process runs; 0 once it ended (reaped; `*status`, when not NULL, gets its
 * exit status, or 128 + the signal that ended it). */
int node_running(node *n, int *status);

/* The node's output file holds `line` (a whole line). */
int has_line(const node *n, const char *line);
/* Lines of the node's output that start with `prefix`. */
int count_lines(const node *n, const char *prefix);

/* The node Redis names as the owner of E2e instance `inst` ("" for none). */
void owner_of(const rs_server *rs, const char *inst, char *buf, size_t len);
/* The count the counting room keeps in Redis for E2e instance `inst` (field "pokes" of its
 * storage hash <p>:st:{E2e/<inst>}; 0 when absent). */
long stored_pokes(const rs_server *rs, const char *inst);

/* Three nodes (node_ids) in `dir` (a mkdtemp template, made here), serving once this
 * returns (every /health answers 200). */
void nodes_start(node *nodes, const rs_server *rs, char *dir);
/* The nodes' files and `dir`, once they stopped. */
void nodes_clean(const char *dir);

#endif /* VERANI_TEST_NODE_PROC_H */
