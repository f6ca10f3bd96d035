/* SPDX-License-Identifier: MIT */
/*
 * signals.c: verani_server_handle_signals, the signal dispositions a server
 * program needs (server.h says which and why): SIGPIPE and SIGXFSZ ignored,
 * so a write to a closed pipe or past the file-size limit fails with an
 * error the server handles instead of ending the process; SIGINT and SIGTERM
 * stop one server gracefully. libverani installs nothing by itself: the
 * process belongs to the application, which calls this (the examples do).
 * The one piece of state is the server the stop signals reach, an atomic
 * pointer the handler reads (verani_server_stop is async-signal-safe).
 */
#define _POSIX_C_SOURCE 200809L /* sigaction */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "core/core-private.h"
#include "server-int.h"

/* The server SIGINT and SIGTERM stop; NULL when none (set by the main thread, read by the
 * handler). */
static verani_server *_Atomic vr_signal_srv;

static void on_stop_signal(int sig)
{
    verani_server *srv = atomic_load(&vr_signal_srv);
    int saved = errno; /* a handler must leave errno as it found it */

    (void)sig;
    if (srv)
        verani_server_stop(srv);
    errno = saved;
}

static int set_disposition(int sig, void (*handler)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(sig, &sa, NULL)) {
        VR_ERR("sigaction(%d): %s\n", sig, strerror(errno));
        return VERANI_EIO;
    }
    return 0;
}

int verani_server_handle_signals(verani_server *srv)
{
    int r = set_disposition(SIGPIPE, SIG_IGN);

    if (!r)
        r = set_disposition(SIGXFSZ, SIG_IGN);
    if (r || !srv)
        return r;
    atomic_store(&vr_signal_srv, srv);
    r = set_disposition(SIGINT, on_stop_signal);
    return r ? r : set_disposition(SIGTERM, on_stop_signal);
}

void vr_signals_forget(verani_server *srv)
{
    verani_server *expected = srv;

    /* the stop signals go back to their default (they end the process) with the server */
    if (atomic_compare_exchange_strong(&vr_signal_srv, &expected, NULL)) {
        set_disposition(SIGINT, SIG_DFL);
        set_disposition(SIGTERM, SIG_DFL);
    }
}
