/* SPDX-License-Identifier: MIT */
/*
 * stub_main.c: a program built on the handler skeleton that verani_generate(... STUBS stubs)
 * wrote at configure time (stubs/chat_handlers.{c,h}), as a new project starts: it mounts
 * every room through chat_handlers_mount() and says so. Built and run by the install test.
 */
#include <stdio.h>

#include "chat_handlers.h"

int main(void)
{
    verani_server_options o;
    verani_server *srv;
    char err[256];
    int rc;

    verani_server_options_init(&o);
    o.bind_address = "127.0.0.1";
    srv = verani_server_create(&o, err, sizeof(err));
    if (!srv) {
        fprintf(stderr, "stub_app: %s\n", err);
        return 1;
    }
    rc = chat_handlers_mount(srv, NULL);
    verani_server_destroy(srv);
    if (rc < 0) {
        fprintf(stderr, "stub_app: mount failed: %s\n", verani_strerror(rc));
        return 1;
    }
    printf("stub_app: OK\n");
    return 0;
}
