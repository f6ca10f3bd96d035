/* SPDX-License-Identifier: MIT */
/*
 * locker.h: another process holding a SQLite database's write lock, for the
 * tests that check the server never waits on it (test_hardening.c's
 * storage_lock, tests/attack). locker_start runs the helper program
 * `sqlite_locker FILE` (tests/e2e/sqlite_locker.c, its path given by the
 * build) and returns once it holds the lock; locker_stop closes its stdin,
 * which makes it roll back and exit, and reaps it. Header-only; the caller
 * defines _POSIX_C_SOURCE 200809L (or more) before including it, and
 * includes deadline.h.
 */
#ifndef VERANI_TEST_LOCKER_H
#define VERANI_TEST_LOCKER_H

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct locker {
    pid_t pid;    /* the helper; 0 when none */
    int in_fd;    /* its stdin (we write end); closing it releases the lock */
} locker;

/* Start `helper FILE` and wait (deadline DL_WAIT_MS) until it says "locked". 0, or -1 (nothing
 * left running then). */
static inline int locker_start(locker *lk, const char *helper, const char *file)
{
    posix_spawn_file_actions_t fa;
    char *argv[3] = {(char *)helper, (char *)file, NULL};
    char buf[16] = "";
    size_t got = 0;
    int in[2], out[2], r;
    int64_t end = dl_after(DL_WAIT_MS);

    memset(lk, 0, sizeof(*lk));
    if (pipe(in) || pipe(out))
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    r = posix_spawn(&lk->pid, helper, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    if (r) {
        close(in[1]);
        close(out[0]);
        lk->pid = 0;
        return -1;
    }
    lk->in_fd = in[1];
    while (got < sizeof(buf) - 1 && !strstr(buf, "locked\n") && !dl_passed(end)) {
        struct pollfd p = {out[0], POLLIN, 0};
        ssize_t n;

        if (poll(&p, 1, dl_left_ms(end)) <= 0)
            continue;
        n = read(out[0], buf + got, sizeof(buf) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
    }
    close(out[0]);
    if (!strstr(buf, "locked\n")) {
        close(lk->in_fd);
        kill(lk->pid, SIGKILL);
        waitpid(lk->pid, NULL, 0);
        lk->pid = 0;
        return -1;
    }
    return 0;
}

/* Release the lock: the helper rolls back and exits. Returns its exit status (0 expected). */
static inline int locker_stop(locker *lk)
{
    int st = -1;

    if (!lk->pid)
        return -1;
    close(lk->in_fd);
    waitpid(lk->pid, &st, 0);
    lk->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif /* VERANI_TEST_LOCKER_H */
