/* SPDX-License-Identifier: MIT */
/*
 * hard_util.c: the shared waits and hand-made HTTP of the hardening and
 * attack tests (hard_util.h). It decides nothing a test checks.
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "deadline.h"
#include "e2e_util.h"
#include "hard_util.h"

typedef struct { rc_conn *c; uint64_t rid; } answer_arg;
static int p_answer(void *a)
{
    answer_arg *x = a;

    return rc_answer(x->c, x->rid) != NULL || x->c->closed;
}

const rc_env *hu_request(rc_loop *l, rc_conn *c, uint32_t ev, const ProtobufCMessage *msg,
                         uint64_t rid)
{
    answer_arg a = {c, rid};

    assert_int_equal(rc_send_event(c, VERANI__WIRE__KIND__REQUEST, ev, msg, rid), 0);
    assert_true(rc_wait(l, p_answer, &a, DL_WAIT_MS));
    assert_non_null(rc_answer(c, rid));
    return rc_answer(c, rid);
}

const char *hu_welcome_user(const rc_conn *c)
{
    const rc_env *w = rc_nth(c, VERANI__WIRE__KIND__WELCOME, 0);

    assert_non_null(w);
    assert_non_null(w->welcome);
    return w->welcome->user_id ? w->welcome->user_id : "";
}

rc_conn *hu_join_long_user(rc_loop *l, int port, const char *room, size_t n, char last)
{
    char id[301], path[400];
    rc_conn *c;

    assert_true(n < 300);
    memset(id, 'A', n);
    id[n] = last;
    id[n + 1] = '\0';
    snprintf(path, sizeof(path), "%s?userId=%s", room, id);
    c = e2e_join(l, port, path);
    assert_string_equal(hu_welcome_user(c), id);
    return c;
}

int hu_http(int port, const char *req, size_t len, char *body, size_t cap)
{
    char buf[16384];
    size_t got = 0;
    int64_t end = dl_after(DL_WAIT_MS);
    int fd = rc_tcp_connect(port, 0), status = 0;
    const char *hdr_end = NULL;

    assert_true(fd >= 0);
    assert_int_equal(rc_tcp_send_raw(fd, req, len), 0);
    body[0] = '\0';
    while (got < sizeof(buf) - 1 && !dl_passed(end)) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;

        if (poll(&p, 1, dl_left_ms(end)) <= 0)
            continue;
        n = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
        if (hdr_end) {
            const char *cl = strstr(buf, "content-length:");
            size_t want;

            if (!cl)
                cl = strstr(buf, "Content-Length:");
            want = cl ? strtoul(cl + 15, NULL, 10) : 0;
            if (got >= (size_t)(hdr_end + 4 - buf) + want)
                break;
        }
    }
    close(fd);
    if (got > 9 && !strncmp(buf, "HTTP/1.", 7))
        status = atoi(buf + 9);
    if (hdr_end)
        snprintf(body, cap, "%s", hdr_end + 4);
    return status;
}

int hu_upgrade(int port, const char *path, const char *extra, char *body, size_t cap)
{
    char req[12288];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s\r\n", path, extra);

    assert_true(n > 0 && (size_t)n < sizeof(req));
    return hu_http(port, req, (size_t)n, body, cap);
}

int hu_api(int port, const char *token, const char *method, const char *path,
           const void *bodybytes, size_t blen, char *out, size_t cap)
{
    char req[12288];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                     "Bearer %s\r\nContent-Length: %zu\r\nContent-Type: "
                     "application/x-protobuf\r\n\r\n", method, path, token, blen);

    assert_true(n > 0 && (size_t)n + blen < sizeof(req));
    memcpy(req + n, bodybytes, blen);
    return hu_http(port, req, (size_t)n + blen, out, cap);
}

void hu_db_temp(char *dir, const char *name, char *file, size_t len)
{
    assert_non_null(mkdtemp(dir));
    assert_true((size_t)snprintf(file, len, "%s/%s", dir, name) < len);
}

void hu_db_remove(const char *dir, const char *file)
{
    static const char *const ends[] = {"", "-wal", "-shm"};
    char path[512];
    size_t i;

    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s%s", file, ends[i]);
        unlink(path);
    }
    rmdir(dir);
}
