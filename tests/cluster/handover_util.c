/* SPDX-License-Identifier: MIT */
/* handover_util.c: the clients and the emitter of handover_util.h. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "deadline.h"
#include "e2e_client.h"
#include "handover_util.h"

static void on_chat(verani_client *c, const E2e__ChatOut *msg, void *user)
{
    watcher *w = user;
    int n = atoi(msg->text ? msg->text : "");

    (void)c;
    if (n != w->last + 1)
        w->out_of_order++;
    if (n > w->last)
        w->last = n;
}

static void on_open(verani_client *c, void *user)
{
    watcher *w = user;
    verani_client_info info;

    assert_int_equal(verani_client_get_info(c, &info), 0);
    w->opens++;
    w->resumed_opens += info.resumed && !info.recovery_failed;
    w->last_open_ms = dl_now_ms();
}

static void on_recovery(verani_client *c, int resumed, void *user)
{
    watcher *w = user;

    (void)c;
    (void)resumed;
    w->recoveries_failed++;
}

/* Every client opened (`frames` 0), or got `frames` frames and opened again since. */
static int all(const watcher *w, int frames)
{
    int i;

    for (i = 0; i < HO_CLIENTS; i++)
        if (frames ? w[i].last < frames || w[i].opens < 2 : !w[i].opens)
            return 0;
    return 1;
}

void watchers_start(verani_client_loop *loop, const char *hostport, const char *inst,
                    watcher *w)
{
    int64_t d;
    int i;

    memset(w, 0, HO_CLIENTS * sizeof(*w));
    for (i = 0; i < HO_CLIENTS; i++) {
        verani_client_options o;
        char url[128], err[256];

        verani_client_options_init(&o);
        snprintf(url, sizeof(url), "ws://%s/e2e/%s?userId=u%d", hostport, inst, i);
        o.url = url;
        o.room = &e2e_e2e_schema;
        o.initial_delay_ms = 200; /* SCALEOUT.md section 6: backoff does not hide the server */
        o.max_delay_ms = 1000;
        o.max_attempts = VERANI_CLIENT_UNLIMITED;
        w[i].c = verani_client_create(loop, &o, err, sizeof(err));
        if (!w[i].c)
            fail_msg("verani_client_create: %s", err);
        assert_int_equal(e2e_e2e_client_on_chat_out(w[i].c, on_chat, &w[i]), 0);
        assert_true(verani_client_on_open(w[i].c, on_open, &w[i]) > 0);
        assert_true(verani_client_on_recovery_failed(w[i].c, on_recovery, &w[i]) > 0);
    }
    d = dl_after(DL_WAIT_MS);
    while (!all(w, 0) && !dl_passed(d))
        verani_client_loop_service(loop, 10);
    assert_true(all(w, 0));
}

static void *emit_thread(void *arg)
{
    emitter *em = arg;
    int64_t d = dl_after(DL_GENEROUS(HO_MOVE_MS));
    int n;

    for (n = 1; n <= HO_FRAMES && !atomic_load(&em->failed); n++) {
        while (!em->emit(em, atomic_load(&em->moved) ? 1 : 0, n)) {
            if (dl_passed(d)) {
                atomic_store(&em->failed, 1);
                break;
            }
            em->retries++;
            dl_nap_ms(2);
        }
        atomic_store(&em->sent, n);
        if (n % 50 == 0)
            dl_nap_ms(1); /* the stop lands in the middle of the stream, not after it */
    }
    return NULL;
}

int64_t handover_stream(verani_client_loop *loop, watcher *w, emitter *em,
                        void (*stop)(void *arg), void *arg)
{
    int64_t d = dl_after(DL_GENEROUS(HO_MOVE_MS)), stop_ms = 0, last_ms = 0;
    int i;

    assert_int_equal(pthread_create(&em->th, NULL, emit_thread, em), 0);
    while (!all(w, HO_FRAMES) && !dl_passed(d) && !atomic_load(&em->failed)) {
        if (!stop_ms && atomic_load(&em->sent) >= HO_STOP_AT) {
            stop(arg);
            atomic_store(&em->moved, 1);
            stop_ms = dl_now_ms();
        }
        verani_client_loop_service(loop, 10);
    }
    pthread_join(em->th, NULL);
    if (atomic_load(&em->failed))
        fail_msg("frame %d did not reach all %d sessions; the last answer: %s",
                 atomic_load(&em->sent) + 1, HO_CLIENTS, em->last);
    assert_true(stop_ms != 0);
    for (i = 0; i < HO_CLIENTS; i++) {
        if (w[i].last != HO_FRAMES || w[i].out_of_order || w[i].recoveries_failed ||
            w[i].opens < 2 || w[i].resumed_opens != w[i].opens - 1)
            fail_msg("client u%d: last frame %d of %d, %d out of order, %d opens (%d resumed), "
                     "%d recoveries failed", i, w[i].last, HO_FRAMES, w[i].out_of_order,
                     w[i].opens, w[i].resumed_opens, w[i].recoveries_failed);
        if (w[i].last_open_ms > last_ms)
            last_ms = w[i].last_open_ms;
    }
    return last_ms - stop_ms;
}
