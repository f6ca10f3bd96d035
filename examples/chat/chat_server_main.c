/* SPDX-License-Identifier: MIT */
/*
 * chat_server_main.c: `chat_server [--port N] [--bind ADDR] [--db FILE] [--web DIR]`,
 * the example chat room (chat_room.c) as a stand-alone server. It listens on
 * 127.0.0.1 (or ADDR) port N (default 8080; 0 picks a free port), prints the
 * URL, and serves until SIGINT or SIGTERM, then closes every session with
 * 1012 (verani_server_handle_signals: SIGPIPE and SIGXFSZ are ignored, so a
 * write past `ulimit -f` fails instead of ending the process). History is
 * kept in room storage: in memory, or in the SQLite file FILE with --db
 * (then it survives a restart). With --web DIR it also serves the files of DIR at
 * /app/ (the web page, examples/chat/web, built into build/examples/chat/web) and prints
 * that URL too. No TLS. Verani's own JavaScript client connects to /verani/chat/{room} (the
 * room's JSON wire: PROTOCOL.md section 8). The HTTP API and /metrics are on when
 * VERANI_API_TOKEN and VERANI_METRICS_TOKEN are set.
 *
 * With --redis ADDR (`unix:/path` or `IP:port`) it is a node of a cluster through that Redis
 * (README.md, "Cluster"): --public-url URL is how clients reach this node (a connection for
 * a room another node serves is sent there), --node-id ID names it (default: random).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <verani/verani.h>

#include "chat_room.h"

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--port N] [--bind ADDR] [--db FILE] [--web DIR]\n"
                    "          [--redis ADDR --public-url URL [--node-id ID]]\n"
                    "  serves room Chat at ws://ADDR:N/chat/{room}?userId=ID[&name=NAME]\n"
                    "  and with --web the files of DIR (the web page) at http://ADDR:N/app/;\n"
                    "  with --redis, as a node of a cluster (README.md, \"Cluster\")\n",
            argv0);
    return 2;
}

int main(int argc, char **argv)
{
    verani_server_options o;
    verani_server *srv;
    chat_room *room;
    char err[256];
    int i, rc;

    verani_server_options_init(&o);
    o.bind_address = "127.0.0.1";
    o.port = 8080;
    o.log_level = VERANI_LOG_ERR | VERANI_LOG_WARN | VERANI_LOG_NOTICE;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            char *end;
            long port = strtol(argv[++i], &end, 10);

            if (*end || port < 0 || port > 65535) {
                fprintf(stderr, "%s: --port wants a number from 0 to 65535, not \"%s\"\n",
                        argv[0], argv[i]);
                return 2;
            }
            o.port = (int)port;
        } else if (!strcmp(argv[i], "--bind") && i + 1 < argc) {
            o.bind_address = argv[++i];
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
            o.storage_path = argv[++i];
        } else if (!strcmp(argv[i], "--web") && i + 1 < argc) {
            o.static_dir = argv[++i];
            o.static_path = "/app";
        } else if (!strcmp(argv[i], "--redis") && i + 1 < argc) {
            o.cluster.redis_address = argv[++i];
        } else if (!strcmp(argv[i], "--public-url") && i + 1 < argc) {
            o.cluster.public_url = argv[++i];
        } else if (!strcmp(argv[i], "--node-id") && i + 1 < argc) {
            o.cluster.node_id = argv[++i];
        } else {
            return usage(argv[0]);
        }
    }
    if ((o.cluster.public_url || o.cluster.node_id) && !o.cluster.redis_address) {
        fprintf(stderr, "%s: --public-url and --node-id are for a cluster node: add --redis\n",
                argv[0]);
        return 2;
    }
    room = chat_room_create();
    srv = room ? verani_server_create(&o, err, sizeof(err)) : NULL;
    if (!srv) {
        fprintf(stderr, "chat_server: %s\n", room ? err : "out of memory");
        chat_room_destroy(room);
        return 1;
    }
    /* the HTTP API and /metrics, each on when its token is in the environment
     * (VERANI_API_TOKEN, VERANI_METRICS_TOKEN): README.md, "HTTP API" */
    if (chat_room_mount(srv, room) < 0 ||
        verani_server_set_api(srv, &(verani_api_options){0}) < 0 ||
        verani_server_listen(srv) < 0 ||
        verani_server_handle_signals(srv) < 0) {
        fprintf(stderr, "chat_server: %s\n", verani_server_last_error(srv));
        verani_server_destroy(srv);
        chat_room_destroy(room);
        return 1;
    }
    printf("chat_server: listening on ws://%s:%d/chat/{room}?userId=ID&name=NAME "
           "(Ctrl-C stops)\n", o.bind_address, verani_server_port(srv));
    printf("chat_server: Verani's own client connects to ws://%s:%d/verani/chat/{room}"
           "?userId=ID\n", o.bind_address, verani_server_port(srv));
    if (o.static_dir)
        printf("chat_server: the web page is at http://%s:%d/app/\n", o.bind_address,
               verani_server_port(srv));
    fflush(stdout);
    rc = verani_server_run(srv);
    verani_server_destroy(srv);
    printf("chat_server: stopped after storing %lu message(s)\n", chat_room_stored(room));
    chat_room_destroy(room);
    return rc ? 1 : 0;
}
