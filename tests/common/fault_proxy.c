/* SPDX-License-Identifier: MIT */
/* fault_proxy.c: the proxy of fault_proxy.h, poll() on a thread of its own. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "fault_proxy.h"

#define FP_MAX 256

/* Bytes read from one side and not yet written to the other. */
typedef struct fp_buf {
    char *data;
    size_t len, cap;
} fp_buf;

typedef struct fp_pair {
    int a, b;          /* a: the program's side, b: the server's; -1: free */
    int a_gone;        /* the program closed its side while bytes to the server were held */
    fp_buf to_b, to_a; /* held or not yet written */
} fp_pair;

struct fault_proxy {
    int lfd;
    char path[108];
    char address[120];
    char target[108];
    int tcp;                 /* fp_start_tcp: TCP on loopback, to target_port */
    int port;
    atomic_int target_port;
    pthread_t th;
    atomic_int mode, stop;
    atomic_size_t held;
    atomic_size_t late;    /* bytes delivered after the program closed their connection */
    fp_pair pairs[FP_MAX];
};

static int connect_unix(const char *path)
{
    struct sockaddr_un a;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int connect_tcp(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void buf_add(fp_buf *b, const char *d, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2;
        char *p = realloc(b->data, cap);

        if (!p)
            return;    /* test code: a lost chunk shows up as a failed test */
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, d, n);
    b->len += n;
}

/* Write what `b` holds to `fd`, as much as it takes now. -1 when the peer is gone. */
static int buf_flush(fp_buf *b, int fd)
{
    while (b->len) {
        ssize_t w = send(fd, b->data, b->len, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        memmove(b->data, b->data + w, b->len - (size_t)w);
        b->len -= (size_t)w;
    }
    return 0;
}

static void pair_close(fp_pair *p, int rst)
{
    struct linger l = {1, 0};

    if (rst) {
        setsockopt(p->a, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        setsockopt(p->b, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    close(p->a);
    close(p->b);
    free(p->to_a.data);
    free(p->to_b.data);
    memset(p, 0, sizeof(*p));
    p->a = p->b = -1;
}

static size_t held_now(fault_proxy *fp)
{
    size_t n = 0;

    for (int i = 0; i < FP_MAX; i++)
        if (fp->pairs[i].a >= 0)
            n += fp->pairs[i].to_a.len + fp->pairs[i].to_b.len;
    return n;
}

/* Read from `from` into `out`; -1 when it is closed. */
static int pump_in(int from, fp_buf *out)
{
    char chunk[16384];
    ssize_t n = recv(from, chunk, sizeof(chunk), MSG_DONTWAIT);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        return -1;
    if (n > 0)
        buf_add(out, chunk, (size_t)n);
    return 0;
}

static void *fp_thread(void *arg)
{
    fault_proxy *fp = arg;

    while (!atomic_load(&fp->stop)) {
        struct pollfd fds[1 + 2 * FP_MAX];
        int who[1 + 2 * FP_MAX], n = 1, mode = atomic_load(&fp->mode);

        if (mode == FP_RESET) {
            for (int i = 0; i < FP_MAX; i++)
                if (fp->pairs[i].a >= 0)
                    pair_close(&fp->pairs[i], 1);
            atomic_store(&fp->mode, FP_PASS);
            mode = FP_PASS;
        }
        for (int i = 0; i < FP_MAX; i++) {
            fp_pair *p = &fp->pairs[i];

            if (p->a < 0)
                continue;
            if (mode == FP_PASS && p->a_gone) { /* the late bytes, then the close */
                size_t before = p->to_b.len;
                int rc = buf_flush(&p->to_b, p->b);

                atomic_fetch_add(&fp->late, before - p->to_b.len);
                if (rc || !p->to_b.len)
                    pair_close(p, 0);
                continue;
            }
            if (mode == FP_PASS && (buf_flush(&p->to_b, p->b) || buf_flush(&p->to_a, p->a))) {
                pair_close(p, 0);
                continue;
            }
        }
        atomic_store(&fp->held, held_now(fp));
        fds[0].fd = fp->lfd;
        fds[0].events = POLLIN;
        for (int i = 0; i < FP_MAX; i++) {
            fp_pair *p = &fp->pairs[i];

            if (p->a < 0)
                continue;
            fds[n].fd = p->a_gone ? -1 : p->a; /* poll skips a negative fd */
            fds[n].events = POLLIN | (mode == FP_PASS && p->to_a.len ? POLLOUT : 0);
            who[n++] = i;
            fds[n].fd = p->a_gone ? -1 : p->b; /* what the server answers goes nowhere */
            fds[n].events = POLLIN | (mode == FP_PASS && p->to_b.len ? POLLOUT : 0);
            who[n++] = i;
        }
        if (poll(fds, (nfds_t)n, 10) <= 0)
            continue;
        if (fds[0].revents & POLLIN) {
            int cfd = accept(fp->lfd, NULL, NULL), sfd = -1;
            int i;

            if (cfd >= 0)
                sfd = fp->tcp ? connect_tcp(atomic_load(&fp->target_port))
                              : connect_unix(fp->target);
            for (i = 0; i < FP_MAX && fp->pairs[i].a >= 0; i++)
                ;
            if (cfd >= 0 && sfd >= 0 && i < FP_MAX) {
                fp->pairs[i].a = cfd;
                fp->pairs[i].b = sfd;
            } else {
                if (cfd >= 0)
                    close(cfd);
                if (sfd >= 0)
                    close(sfd);
            }
        }
        for (int k = 1; k < n; k++) {
            fp_pair *p = &fp->pairs[who[k]];
            int from_a = k % 2 == 1, rc = 0;

            if (p->a < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            rc = pump_in(from_a ? p->a : p->b, from_a ? &p->to_b : &p->to_a);
            if (rc < 0 && from_a && mode == FP_HOLD && p->to_b.len)
                p->a_gone = 1; /* what it sent still reaches the server, late, on FP_PASS */
            else if (rc < 0)
                pair_close(p, 0);
        }
    }
    for (int i = 0; i < FP_MAX; i++)
        if (fp->pairs[i].a >= 0)
            pair_close(&fp->pairs[i], 0);
    return NULL;
}

static void fp_undo(void *arg)
{
    fault_proxy *fp = arg;

    atomic_store(&fp->stop, 1);
    pthread_join(fp->th, NULL);
    close(fp->lfd);
    if (!fp->tcp)
        unlink(fp->path);
    free(fp);
}

fault_proxy *fp_start(const char *dir, const char *target)
{
    static atomic_int serial;
    fault_proxy *fp = calloc(1, sizeof(*fp));
    struct sockaddr_un a;

    assert_non_null(fp);
    snprintf(fp->path, sizeof(fp->path), "%s/proxy%d.sock", dir, atomic_fetch_add(&serial, 1));
    snprintf(fp->address, sizeof(fp->address), "unix:%s", fp->path);
    snprintf(fp->target, sizeof(fp->target), "%s", target);
    for (int i = 0; i < FP_MAX; i++)
        fp->pairs[i].a = fp->pairs[i].b = -1;
    fp->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fp->lfd >= 0);
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, fp->path, strlen(fp->path) + 1);
    unlink(fp->path);
    assert_int_equal(bind(fp->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fp->lfd, 16), 0);
    assert_int_equal(pthread_create(&fp->th, NULL, fp_thread, fp), 0);
    cu_push(fp_undo, fp);
    return fp;
}

fault_proxy *fp_start_tcp(int target_port)
{
    fault_proxy *fp = calloc(1, sizeof(*fp));
    struct sockaddr_in a;
    socklen_t al = sizeof(a);

    assert_non_null(fp);
    fp->tcp = 1;
    atomic_store(&fp->target_port, target_port);
    for (int i = 0; i < FP_MAX; i++)
        fp->pairs[i].a = fp->pairs[i].b = -1;
    fp->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fp->lfd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fp->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fp->lfd, (struct sockaddr *)&a, &al), 0);
    fp->port = ntohs(a.sin_port);
    snprintf(fp->address, sizeof(fp->address), "127.0.0.1:%d", fp->port);
    assert_int_equal(listen(fp->lfd, 256), 0);
    assert_int_equal(pthread_create(&fp->th, NULL, fp_thread, fp), 0);
    cu_push(fp_undo, fp);
    return fp;
}

int fp_port(const fault_proxy *fp)
{
    return fp->port;
}

void fp_retarget(fault_proxy *fp, int target_port)
{
    atomic_store(&fp->target_port, target_port);
}

const char *fp_address(const fault_proxy *fp)
{
    return fp->address;
}

void fp_set(fault_proxy *fp, fp_mode mode)
{
    atomic_store(&fp->mode, (int)mode);
}

size_t fp_late(fault_proxy *fp)
{
    return atomic_load(&fp->late);
}

size_t fp_held(fault_proxy *fp)
{
    return atomic_load(&fp->held);
}

void fp_free(fault_proxy *fp)
{
    if (!fp)
        return;
    cu_drop(fp);
    fp_undo(fp);
}
