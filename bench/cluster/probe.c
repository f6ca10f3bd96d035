/* SPDX-License-Identifier: MIT */
/*
 * probe.c: the helpers of the latency probes of bench/cluster/ (probe.h).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

int64_t probe_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void probe_mark(const char *prog, const char *cmd, const char *word)
{
    pid_t kid;
    int status;

    if (!cmd)
        return;
    fflush(stdout);
    kid = fork();
    if (kid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, "mark", word, (char *)NULL);
        _exit(127);
    }
    if (kid < 0 || waitpid(kid, &status, 0) != kid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        fprintf(stderr, "%s: --mark command (%s) failed\n", prog, word);
}

static void on_state(verani_client *c, verani_client_state old_state,
                     verani_client_state new_state, void *user)
{
    probe_conn *conn = user;

    (void)c;
    (void)old_state;
    if (new_state == VERANI_CLIENT_CONNECTED)
        atomic_store(&conn->connected, 1);
    else if (new_state == VERANI_CLIENT_ERROR || new_state == VERANI_CLIENT_DISCONNECTED ||
             new_state == VERANI_CLIENT_RECONNECTING)
        atomic_store(&conn->lost, 1);
}

verani_client *probe_client(verani_client_loop *loop, int port, const char *instance,
                            const char *user, probe_conn *conn, char *err, size_t errlen)
{
    verani_client_options co;
    verani_client *c;
    char url[300];

    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/bench/%s?userId=%s", port, instance, user);
    verani_client_options_init(&co);
    co.url = url;
    co.room = &bench_bench_schema;
    co.reconnect_disabled = 1;
    co.ping_interval_ms = VERANI_CLIENT_NO_PING;
    c = verani_client_create(loop, &co, err, errlen);
    if (c && verani_client_on_state_change(c, on_state, conn) < 0) {
        snprintf(err, errlen, "cannot watch the client's state");
        verani_client_destroy(c);
        return NULL;
    }
    return c;
}

int probe_parse(int argc, char **argv, probe_opts *c, const char *instance,
                int (*own)(void *own_opts, const char *a, const char *v), void *own_opts)
{
    c->instance = instance;
    c->mark = NULL;
    c->requests = 2000;
    c->warmup = 100;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[++i] : NULL;

        if (!strcmp(a, "--help"))
            return 1;
        if (!v)
            return -1;
        if (!strcmp(a, "--requests"))
            c->requests = atoi(v);
        else if (!strcmp(a, "--warmup"))
            c->warmup = atoi(v);
        else if (!strcmp(a, "--instance"))
            c->instance = v;
        else if (!strcmp(a, "--mark"))
            c->mark = v;
        else if (own(own_opts, a, v) != 0)
            return -1;
    }
    return c->requests >= 1 && c->requests <= 1000000 && c->warmup >= 0 &&
                   c->warmup <= 1000000 ? 0 : -1;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

    return a < b ? -1 : a > b;
}

probe_pcts probe_percentiles(int64_t *lat, int n)
{
    probe_pcts p;

    qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
    p.p50 = (double)lat[n / 2] / 1e3;
    p.p90 = (double)lat[(n * 90) / 100] / 1e3;
    p.p99 = (double)lat[(n * 99) / 100] / 1e3;
    p.max = (double)lat[n - 1] / 1e3;
    return p;
}
