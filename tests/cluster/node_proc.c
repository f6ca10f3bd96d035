/* SPDX-License-Identifier: MIT */
/* node_proc.c: the node processes of node_proc.h. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* closefrom */

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cleanup.h"
#include "cluster_util.h"
#include "deadline.h"
#include "node_proc.h"
#include "rawclient.h"

#define NODE_TRIES 8 /* starts on a port taken meanwhile before giving up */

const char *const node_ids[3] = {"node-a", "node-b", "node-c"};

static void node_undo(void *arg)
{
    node *n = arg;

    if (n->pid > 0) {
        kill(n->pid, SIGKILL);
        waitpid(n->pid, NULL, 0);
        n->pid = 0;
    }
}

/* The process, on n->port, its output file emptied first (so that a line of its last life
 * is not taken for one of this one); on the teardown list. It keeps none of the test's
 * descriptors: a node restarted in the middle of a test would otherwise hold copies of the
 * sockets of the test's clients and proxies, and a socket the test closes would stay open
 * (no FIN: its peer would find out only at its pong timeout). */
static void node_spawn(node *n)
{
    char port[16];
    int fd = open(n->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    assert_true(fd >= 0);
    snprintf(port, sizeof(port), "%d", n->port);
    n->pid = fork();
    assert_true(n->pid >= 0);
    if (n->pid == 0) {
        if (dup2(fd, 1) < 0)
            _exit(127);
        closefrom(3);
        execl(CLUSTER_NODE_BIN, CLUSTER_NODE_BIN, "--port", port, "--redis", n->redis,
              "--node-id", n->id, "--db", n->db, (char *)NULL);
        _exit(127);
    }
    close(fd);
    cu_push(node_undo, n);
    n->deadline = dl_after(DL_WAIT_MS);
}

int node_running(node *n, int *status)
{
    int st = 0;

    if (n->pid <= 0 || waitpid(n->pid, &st, WNOHANG) == 0)
        return n->pid > 0;
    n->pid = 0;
    cu_drop(n);
    if (status)
        *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

void node_restart_begin(node *n)
{
    assert_true(n->pid == 0);
    n->tries = 0;
    node_spawn(n);
}

int node_restart_poll(node *n)
{
    char want[32];
    int status = 0;

    snprintf(want, sizeof(want), "listening %d", n->port);
    if (has_line(n, want))
        return 1;
    if (node_running(n, &status)) {
        if (dl_passed(n->deadline))
            fail_msg("node %s did not listen on port %d within its deadline", n->id, n->port);
        return 0;
    }
    if (status != 1) /* cluster_node's "cannot listen" is 1: anything else is a failure */
        fail_msg("node %s ended with status %d while it started", n->id, status);
    if (++n->tries >= NODE_TRIES)
        fail_msg("node %s did not start (%d ports tried)", n->id, n->tries);
    n->port = free_port(); /* its port was taken: another one */
    node_spawn(n);
    return 0;
}

void node_restart(node *n)
{
    node_restart_begin(n);
    while (!node_restart_poll(n))
        dl_nap_ms(20);
}

void node_start(node *n, const char *id, const rs_server *rs, const char *dir)
{
    memset(n, 0, sizeof(*n));
    snprintf(n->id, sizeof(n->id), "%s", id);
    snprintf(n->out, sizeof(n->out), "%s/%s.out", dir, id);
    snprintf(n->db, sizeof(n->db), "%s/%s.db", dir, id);
    snprintf(n->redis, sizeof(n->redis), "%s", rs->address);
    n->port = free_port();
    node_restart(n);
}

int node_stop(node *n)
{
    int64_t d = dl_after(DL_WAIT_MS);
    int status = 0;
    pid_t r = 0;

    kill(n->pid, SIGTERM);
    while ((r = waitpid(n->pid, &status, WNOHANG)) == 0 && !dl_passed(d))
        dl_nap_ms(10);
    if (r != n->pid)
        fail_msg("node %s did not stop within its deadline", n->id);
    n->pid = 0;
    cu_drop(n);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void node_kill(node *n)
{
    assert_true(n->pid > 0);
    kill(n->pid, SIGKILL);
    waitpid(n->pid, NULL, 0);
    n->pid = 0;
    cu_drop(n);
}

int has_line(const node *n, const char *line)
{
    char buf[512];
    FILE *f = fopen(n->out, "r");
    int found = 0;

    while (f && !found && fgets(buf, sizeof(buf), f)) {
        buf[strcspn(buf, "\n")] = '\0';
        found = !strcmp(buf, line);
    }
    if (f)
        fclose(f);
    return found;
}

int count_lines(const node *n, const char *prefix)
{
    char buf[512];
    FILE *f = fopen(n->out, "r");
    int k = 0;

    while (f && fgets(buf, sizeof(buf), f))
        k += !strncmp(buf, prefix, strlen(prefix));
    if (f)
        fclose(f);
    return k;
}

void owner_of(const rs_server *rs, const char *inst, char *buf, size_t len)
{
    char key[128];

    snprintf(key, sizeof(key), "vr:own:{E2e/%s}", inst);
    redis_hget(rs, key, "node", buf, len);
}

long stored_pokes(const rs_server *rs, const char *inst)
{
    char v[32];

    stored_field(rs, inst, "pokes", v, sizeof(v));
    return atol(v);
}

void node_wait_serving(const node *n)
{
    char resp[4096] = "";
    int64_t d = dl_after(DL_WAIT_MS);
    int st;

    while ((st = rc_tcp_get(n->port, "/health", resp, sizeof(resp))) != 200 && !dl_passed(d))
        dl_nap_ms(20);
    if (st != 200)
        fail_msg("node %s (pid %d, port %d) does not serve: /health answers %d: %s", n->id,
                 (int)n->pid, n->port, st,
                 strstr(resp, "\r\n\r\n") ? strstr(resp, "\r\n\r\n") + 4 : resp);
}

void nodes_start(node *nodes, const rs_server *rs, char *dir)
{
    int i;

    assert_non_null(mkdtemp(dir));
    for (i = 0; i < 3; i++)
        node_start(&nodes[i], node_ids[i], rs, dir);
    for (i = 0; i < 3; i++)
        node_wait_serving(&nodes[i]);
}

void nodes_clean(const char *dir)
{
    static const char *ext[4] = {"out", "db", "db-wal", "db-shm"};
    char p[300];
    int i, k;

    for (i = 0; i < 3; i++)
        for (k = 0; k < 4; k++) {
            snprintf(p, sizeof(p), "%s/%s.%s", dir, node_ids[i], ext[k]);
            unlink(p);
        }
    rmdir(dir);
}
