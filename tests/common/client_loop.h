/* SPDX-License-Identifier: MIT */
/*
 * client_loop.h: a libverani client loop for a test: creating it fails the
 * test with the reason, and a test that an assertion ends before it frees the
 * loop has it destroyed (with every client on it) at cu_teardown (cleanup.h).
 * Include after <cmocka.h>; link test_common.
 */
#ifndef VERANI_TEST_CLIENT_LOOP_H
#define VERANI_TEST_CLIENT_LOOP_H

#include <verani/client.h>

#include "cleanup.h"

static inline void loop_undo(void *loop)
{
    verani_client_loop_destroy(loop);
}

/* A loop (with its clients) that a failed test's teardown destroys. */
static inline verani_client_loop *loop_new(void)
{
    char err[256];
    verani_client_loop *loop = verani_client_loop_create(err, sizeof(err));

    if (!loop)
        fail_msg("loop: %s", err);
    cu_push(loop_undo, loop);
    return loop;
}

/* Destroy a loop from loop_new, and every client still on it. */
static inline void loop_free(verani_client_loop *loop)
{
    cu_drop(loop);
    verani_client_loop_destroy(loop);
}

#endif /* VERANI_TEST_CLIENT_LOOP_H */
