/* SPDX-License-Identifier: MIT */
/*
 * cluster_node_main.c: one node of a test cluster as a process of its own
 * (test_cluster_processes.c starts three): room E2e with a poke that counts
 * in room storage (counting_room.h), the presence example's room
 * (examples/presence, at /presence/{room}), the
 * HTTP API (token "t", metrics token "m"), its own SQLite file, the test
 * cluster's timings, and SIGTERM for a graceful stop. It prints
 * "listening <port>" once it serves, and at its end the hook log, one entry a
 * line ("log connect:u1:-"), so the test can count hooks per node.
 *
 *   cluster_node --port N --redis ADDR --node-id ID --db FILE
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <verani/verani.h>

#include "counting_room.h"
#include "e2e_room.h"
#include "presence_room.h"

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s --port N --redis ADDR --node-id ID --db FILE\n", argv0);
    return 2;
}

int main(int argc, char **argv)
{
    verani_server_options o;
    verani_api_options a;
    verani_server *srv;
    presence_room *presence;
    char err[256], url[64];
    static char log[65536];
    const char *redis = NULL, *id = NULL, *db = NULL;
    int port = 0, i, r;
    char *p, *sp;

    for (i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--redis"))
            redis = argv[i + 1];
        else if (!strcmp(argv[i], "--node-id"))
            id = argv[i + 1];
        else if (!strcmp(argv[i], "--db"))
            db = argv[i + 1];
        else
            return usage(argv[0]);
    }
    if (i != argc || port <= 0 || !redis || !id || !db)
        return usage(argv[0]);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    verani_server_options_init(&o);
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d", port);
    o.bind_address = "127.0.0.1";
    o.port = port;
    o.storage_path = db;
    o.cluster.redis_address = redis;
    o.cluster.node_id = id;
    o.cluster.public_url = url;
    o.cluster.heartbeat_ms = 100;
    o.cluster.lease_ms = 1000;
    o.cluster.command_timeout_ms = 500;
    if (getenv("VERANI_TEST_NODE_LOG")) /* VERANI_LOG_* bits, e.g. 7: errors to notices */
        o.log_level = atoi(getenv("VERANI_TEST_NODE_LOG"));
    srv = verani_server_create(&o, err, sizeof(err));
    if (!srv) {
        fprintf(stderr, "cluster_node: %s\n", err);
        return 1;
    }
    presence = presence_room_create();
    memset(&a, 0, sizeof(a));
    a.token = "t";
    a.metrics_token = "m";
    if (!presence || mount_counting(srv) || presence_room_mount(srv, presence) ||
        verani_server_set_api(srv, &a) ||
        verani_server_handle_signals(srv) || (r = verani_server_listen(srv)) != 0) {
        fprintf(stderr, "cluster_node: cannot listen on port %d\n", port);
        verani_server_destroy(srv);
        presence_room_destroy(presence);
        return 1;
    }
    printf("listening %d\n", port);
    fflush(stdout);
    r = verani_server_run(srv);
    verani_server_destroy(srv);
    presence_room_destroy(presence);
    e2e_log_get(log, sizeof(log));
    for (p = strtok_r(log, " ", &sp); p; p = strtok_r(NULL, " ", &sp))
        printf("log %s\n", p);
    printf("stopped %d\n", r);
    return r ? 1 : 0;
}
