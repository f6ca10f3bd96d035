/* SPDX-License-Identifier: MIT */
/*
 * consumer.c: the program of the install test's out-of-tree project. It
 * runs a chat server (mounted with an empty handler table, on 127.0.0.1 port
 * 0) on a thread, connects a typed client and waits for its welcome; prints
 * "consumer: OK" and exits 0, else names what failed and exits 1. It checks
 * linking and one connection, nothing more.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <verani/verani.h>

#include "chat_client.h"
#include "chat_server.h"

static const chat_chat_handlers handlers;   /* every member NULL: the defaults */

static void *server_thread(void *srv)
{
    verani_server_run(srv);
    return NULL;
}

int main(void)
{
    verani_server_options so;
    verani_client_options co;
    verani_client_loop *loop = NULL;
    verani_client *c = NULL;
    verani_server *srv;
    pthread_t thread;
    char url[128], err[256];
    int ok;

    verani_server_options_init(&so);
    so.bind_address = "127.0.0.1";
    srv = verani_server_create(&so, err, sizeof(err));
    if (!srv || chat_chat_mount(srv, &handlers, NULL) < 0 || verani_server_listen(srv) < 0) {
        fprintf(stderr, "consumer: server: %s\n", srv ? verani_server_last_error(srv) : err);
        verani_server_destroy(srv);
        return 1;
    }
    if (pthread_create(&thread, NULL, server_thread, srv) != 0) {
        fprintf(stderr, "consumer: no server thread\n");
        verani_server_destroy(srv);
        return 1;
    }
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/chat/lobby?userId=u1", verani_server_port(srv));
    loop = verani_client_loop_create(err, sizeof(err));
    verani_client_options_init(&co);
    co.url = url;
    co.room = &chat_chat_schema;
    c = loop ? verani_client_create(loop, &co, err, sizeof(err)) : NULL;
    ok = c && verani_client_wait_for_connection(c, 20000) == 0;
    if (!ok && c)
        verani_client_last_error(c, err, sizeof(err));
    if (!ok)
        fprintf(stderr, "consumer: the client did not connect: %s\n", err);
    verani_client_loop_destroy(loop);
    verani_server_stop(srv);
    pthread_join(thread, NULL);
    verani_server_destroy(srv);
    if (ok)
        printf("consumer: OK\n");
    return ok ? 0 : 1;
}
