/* SPDX-License-Identifier: MIT */
/* redis_server.c: a redis-server per test (redis_server.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE    /* closefrom */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "deadline.h"
#include "redis_server.h"

/* One PING over the unix socket, blocking with a short timeout: 1 when +PONG came back. */
static int pings(const char *path)
{
    struct sockaddr_un a;
    struct timeval tv = {0, 200000};
    char buf[16];
    int fd = socket(AF_UNIX, SOCK_STREAM, 0), ok = 0;
    ssize_t n;

    if (fd < 0 || strlen(path) >= sizeof(a.sun_path)) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, path, strlen(path) + 1);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        write(fd, "PING\r\n", 6) == 6 && (n = read(fd, buf, sizeof(buf) - 1)) > 0) {
        buf[n] = '\0';
        /* +PONG, or -NOAUTH from a server that wants a password: either way it answers */
        ok = !strncmp(buf, "+PONG", 5) || !strncmp(buf, "-NOAUTH", 7);
    }
    close(fd);
    return ok;
}

static void launch(rs_server *s)
{
    char *argv[40], args[sizeof(s->args)], logf[300], *tok, *save = NULL;
    int argc = 0;
    pid_t pid;
    int64_t end;

    argv[argc++] = "redis-server";
    argv[argc++] = "--port";
    argv[argc++] = "0";
    argv[argc++] = "--unixsocket";
    argv[argc++] = s->sock;
    argv[argc++] = "--unixsocketperm";
    argv[argc++] = "700";
    argv[argc++] = "--dir";
    argv[argc++] = s->dir;
    argv[argc++] = "--save";
    argv[argc++] = "";
    argv[argc++] = "--appendonly";
    argv[argc++] = "no";
    argv[argc++] = "--logfile";
    snprintf(logf, sizeof(logf), "%s/redis.log", s->dir);
    argv[argc++] = logf;
    snprintf(args, sizeof(args), "%s", s->args);
    for (tok = strtok_r(args, " ", &save); tok && argc < 38; tok = strtok_r(NULL, " ", &save))
        argv[argc++] = tok;
    argv[argc] = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);

        if (devnull >= 0) {    /* keep CTest's output pipe free of a child that outlives us */
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        closefrom(3); /* none of the test's sockets: one it closes must really close */
        execvp("redis-server", argv);
        _exit(127);
    }
    s->pid = pid;
    s->stopped = 0;
    for (end = dl_after(DL_WAIT_MS); !pings(s->sock); dl_nap_ms(10)) {
        int status;

        if (waitpid(pid, &status, WNOHANG) == pid) {
            s->pid = 0;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                fail_msg("redis-server is not installed (Debian: apt-get install redis-server; "
                         "scripts/deps.sh installs it)");
            fail_msg("redis-server exited at start (status %d); see %s", status, logf);
        }
        if (dl_passed(end))
            fail_msg("redis-server did not answer on %s", s->sock);
    }
}

static void rs_undo(void *arg)
{
    rs_server *s = arg;

    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void rs_free_cb(void *arg)
{
    rs_server *s = arg;

    rs_undo(s);
    nftw(s->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    free(s);
}

rs_server *rs_start(const char *extra)
{
    const char *base = getenv("TMPDIR");
    rs_server *s = calloc(1, sizeof(*s));

    assert_non_null(s);
    snprintf(s->dir, sizeof(s->dir), "%s/verani-redis-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(s->dir)) {
        free(s);
        fail_msg("mkdtemp: %s", strerror(errno));
    }
    snprintf(s->sock, sizeof(s->sock), "%s/redis.sock", s->dir);
    if (strlen(s->sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        fail_msg("unix socket path too long: %s (set TMPDIR to a shorter directory)", s->sock);
    snprintf(s->address, sizeof(s->address), "unix:%s", s->sock);
    snprintf(s->args, sizeof(s->args), "%s", extra ? extra : "");
    cu_push(rs_free_cb, s);
    launch(s);
    return s;
}

void rs_signal(rs_server *s, int sig)
{
    if (s->pid <= 0)
        return;
    if (sig == SIGTERM && s->stopped)
        kill(s->pid, SIGCONT);
    kill(s->pid, sig);
    if (sig == SIGKILL || sig == SIGTERM) {
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
        s->stopped = 0;
    } else if (sig == SIGSTOP || sig == SIGCONT) {
        s->stopped = sig == SIGSTOP;
    }
}

void rs_restart(rs_server *s)
{
    assert_int_equal(s->pid, 0);
    unlink(s->sock);
    launch(s);
}

void rs_free(rs_server *s)
{
    if (!s)
        return;
    cu_drop(s);
    if (s->pid > 0)
        rs_signal(s, SIGTERM);
    rs_free_cb(s);
}
