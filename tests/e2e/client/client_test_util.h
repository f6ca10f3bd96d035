/* SPDX-License-Identifier: MIT */
/*
 * client_test_util.h: helpers both client e2e tests use: a loop
 * (client_loop.h: loop_new, loop_free), and a TCP socket on 127.0.0.1 with an
 * ephemeral port (listening, or bound only, so connections are refused).
 * Include after <cmocka.h>. No server control here: that is
 * test_client_e2e.c's own.
 */
#ifndef CLIENT_TEST_UTIL_H
#define CLIENT_TEST_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <verani/client.h>

#include "client_loop.h"

/* A TCP socket bound to 127.0.0.1:0; listening or not. Returns the fd and the port. */
static inline int tcp_socket(int listening, int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    if (listening)
        assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

#endif /* CLIENT_TEST_UTIL_H */
