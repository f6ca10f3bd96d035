/* SPDX-License-Identifier: MIT */
/*
 * test_memory.c: what an idle connection costs the server's heap (issue 20,
 * bench/RESULTS.md "Idle memory"). Every allocation of libverani goes through
 * verani_set_allocators, so a counting allocator set before anything else
 * sees the server's own heap alone (the raw clients and libwebsockets use
 * libc's). N sessions that said HELLO, got their WELCOME and went quiet must
 * each cost at most IDLE_SESSION_BUDGET bytes of it: the session, its user id
 * and its one channel membership, and no outbound ring, retained frame,
 * receive buffer or list of its own. libwebsockets' part (its struct lws,
 * websocket state and receive buffer, about 1.5 KiB) is measured by
 * bench/run.sh's idle scenario, not here. Figures are counted in
 * malloc_usable_size, what each block really holds, so no timing is involved.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cases.h"
#include "cleanup.h"
#include "deadline.h"
#include "e2e_util.h"
#include "rawclient.h"

/* Bytes of libverani heap one idle session may hold. What it holds at the time of writing,
 * counted the same way, is about 423: verani_session 360, its user id and its packed meta
 * 24 each, and its share of arrays that grow by doubling (its channel's members, the
 * turn's list of sessions to write), 10 to 15 depending on how the connects fall into loop
 * turns (bench/RESULTS.md, "Idle memory"). Another list node or allocation per session
 * does not fit: such a change must move this figure on purpose. */
#define IDLE_SESSION_BUDGET 440
#define N_IDLE 100

static atomic_llong live; /* bytes in libverani's live blocks */

static void *count_malloc(size_t n)
{
    void *p = malloc(n);

    if (p)
        atomic_fetch_add(&live, (long long)malloc_usable_size(p));
    return p;
}

static void *count_calloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (p)
        atomic_fetch_add(&live, (long long)malloc_usable_size(p));
    return p;
}

static void *count_realloc(void *o, size_t n)
{
    size_t before = o ? malloc_usable_size(o) : 0;
    void *p = realloc(o, n);

    if (p) {
        atomic_fetch_sub(&live, (long long)before);
        atomic_fetch_add(&live, (long long)malloc_usable_size(p));
    } else if (!n) {
        atomic_fetch_sub(&live, (long long)before); /* realloc(p, 0) freed it */
    }
    return p;
}

static void count_free(void *p)
{
    if (p)
        atomic_fetch_sub(&live, (long long)malloc_usable_size(p));
    free(p);
}

static int all_welcomed(void *arg)
{
    rc_conn **c = arg;
    int i;

    for (i = 0; i < N_IDLE; i++)
        if (!c[i]->welcomed && !c[i]->closed)
            return 0;
    return 1;
}

/* N_IDLE sessions welcomed and idle: each within the budget. The first connection makes the
 * instance and its channel, so the count starts after it. */
static void test_idle_session_heap(void **state)
{
    verani_server_options o;
    e2e_server h;
    rc_loop *l = rc_loop_create();
    rc_conn *c[N_IDLE];
    long long before, after, per;
    int i;

    (void)state;
    e2e_server_options(&o);
    e2e_server_start(&h, &o, NULL, NULL);
    e2e_join(l, h.port, "/e2e/mem?userId=first");
    before = atomic_load(&live);
    for (i = 0; i < N_IDLE; i++) {
        char path[64];

        snprintf(path, sizeof(path), "/e2e/mem?userId=u%d", i);
        c[i] = rc_connect(l, h.port, path, 1);
    }
    assert_true(rc_wait(l, all_welcomed, c, DL_GENEROUS(DL_WAIT_MS)));
    for (i = 0; i < N_IDLE; i++)
        assert_true(c[i]->welcomed);
    after = atomic_load(&live);
    per = (after - before) / N_IDLE;
    printf("libverani heap: %lld bytes before, %lld after %d idle sessions: %lld per session "
           "(budget %d)\n", before, after, N_IDLE, per, IDLE_SESSION_BUDGET);
    assert_true(per > 0);
    assert_true(per <= IDLE_SESSION_BUDGET);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static const vt_case cases[] = {
    VT_CASE(test_idle_session_heap, ""),
};

int main(int argc, char **argv)
{
    const struct verani_allocators a = {count_malloc, count_calloc, count_realloc, count_free};

    verani_set_allocators(&a); /* before any other call of libverani's */
    return vt_main("memory", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
