/* SPDX-License-Identifier: MIT */
/* cleanup.c: the teardown list of cleanup.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cleanup.h"

static struct {
    void (*fn)(void *arg);
    void *arg;
} held[CU_MAX];
static int n_held;

void cu_push(void (*fn)(void *arg), void *arg)
{
    if (n_held == CU_MAX)
        fail_msg("cleanup: more than %d things held at once", CU_MAX);
    held[n_held].fn = fn;
    held[n_held].arg = arg;
    n_held++;
}

void cu_drop(void *arg)
{
    int i;

    for (i = n_held - 1; i >= 0; i--)
        if (held[i].arg == arg) {
            for (; i + 1 < n_held; i++)
                held[i] = held[i + 1];
            n_held--;
            return;
        }
}

int cu_teardown(void **state)
{
    (void)state;
    while (n_held > 0) {
        n_held--;
        held[n_held].fn(held[n_held].arg);
    }
    return 0;
}
