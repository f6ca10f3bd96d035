/* SPDX-License-Identifier: MIT */
/*
 * test_client_offline.c: the client against peers that are not a Verani-C
 * server, on 127.0.0.1: a port nothing listens on (attempt counting to
 * `error`, reconnection disabled, the offline queue's bound), and a socket
 * that accepts TCP but never answers the upgrade (connect timeout as an
 * attempt, wait-for-connection timing out). Also the loop on its own thread
 * with calls from the test's thread, and many registrations of callbacks
 * and event handlers. Delays are tiny through the options; nothing asserts
 * a duration. The protocol with a real server is tested in test_client_e2e.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <verani/verani.h>

#include "cases.h"
#include "cleanup.h"
#include "client_test_util.h"
#include "deadline.h"

/* A room with one payload-less `on` event and one `emit` event: enough to queue frames. */
static const verani_event_def room_on[] = {{1, "poke", NULL, NULL, NULL, NULL, NULL}};
static const verani_event_def room_emit[] = {{1, "poked", NULL, NULL, NULL, NULL, NULL}};
static const char *const room_channels[] = {"default"};
static const verani_room_schema room = {
    "Offline", "/ws", room_channels, 1, 65536, 0, 0, NULL, NULL,
    room_on, 1, room_emit, 1, "test-fingerprint", 0, NULL, 0, VERANI_WIRE_BINARY, NULL
};

typedef struct counts {
    int connecting, reconnecting, error_state, disconnected, errors, timeouts, opens, closes;
    int last_err;
} counts;

static void on_state(verani_client *c, verani_client_state o, verani_client_state n, void *u)
{
    counts *k = u;

    (void)c;
    (void)o;
    if (n == VERANI_CLIENT_CONNECTING)
        k->connecting++;
    if (n == VERANI_CLIENT_RECONNECTING)
        k->reconnecting++;
    if (n == VERANI_CLIENT_ERROR)
        k->error_state++;
    if (n == VERANI_CLIENT_DISCONNECTED)
        k->disconnected++;
}

static void on_error(verani_client *c, int err, const char *what, void *u)
{
    counts *k = u;

    (void)c;
    assert_non_null(what);
    k->errors++;
    if (err == VERANI_ETIMEDOUT)
        k->timeouts++;
    k->last_err = err;
}

static void on_open(verani_client *c, void *u)
{
    (void)c;
    ((counts *)u)->opens++;
}

static void on_close(verani_client *c, int code, const char *reason, void *u)
{
    (void)c;
    (void)code;
    (void)reason;
    ((counts *)u)->closes++;
}

static void options(verani_client_options *o, char *url, size_t n, int port)
{
    verani_client_options_init(o);
    snprintf(url, n, "ws://127.0.0.1:%d/ws?userId=u1", port);
    o->url = url;
    o->room = &room;
    o->initial_delay_ms = 5;
    o->max_delay_ms = 20;
    o->connect_timeout_ms = 2000;
}

static void watch(verani_client *c, counts *k)
{
    memset(k, 0, sizeof(*k));
    assert_true(verani_client_on_state_change(c, on_state, k) > 0);
    assert_true(verani_client_on_error(c, on_error, k) > 0);
    assert_true(verani_client_on_open(c, on_open, k) > 0);
    assert_true(verani_client_on_close(c, on_close, k) > 0);
}

/* A client on `loop` (NULL: a loop of its own), counted in `k` unless NULL. */
static verani_client *client_new(verani_client_loop *loop, const verani_client_options *o,
                                 counts *k)
{
    char err[256];
    verani_client *c = verani_client_create(loop, o, err, sizeof(err));

    if (!c)
        fail_msg("client: %s", err);
    if (k)
        watch(c, k);
    return c;
}

/* Service until the client reaches `st`; fail once DL_WAIT_MS pass (the tests here
 * configure delays and timeouts of 2 s at most). */
static void service_until(verani_client_loop *loop, verani_client *c, verani_client_state st)
{
    int64_t end = dl_after(DL_WAIT_MS);

    while (verani_client_get_state(c) != st && !dl_passed(end))
        assert_int_equal(verani_client_loop_service(loop, 20), 0);
    assert_int_equal(verani_client_get_state(c), st);
}

/* Closed port: 1 connection + max_attempts reconnects, each one failure, then `error`. */
static void test_attempts_to_error(void **state)
{
    char url[128], err[256];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client_info info;
    verani_client *c;
    counts k;
    int port, fd = tcp_socket(0, &port);

    (void)state;
    loop = loop_new();
    options(&o, url, sizeof(url), port);
    o.max_attempts = 3;
    c = client_new(loop, &o, &k);
    /* The blocking wait services the loop itself and ends when the client gives up. */
    assert_int_equal(verani_client_wait_for_connection(c, 60000), VERANI_ECLOSED);
    service_until(loop, c, VERANI_CLIENT_ERROR);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_int_equal(info.attempts, 3);
    assert_int_equal(info.connection_id, 4);
    /* The first CONNECTING happened inside create, before the callback was registered. */
    assert_int_equal(k.connecting, 3);
    assert_int_equal(k.reconnecting, 3);
    assert_int_equal(k.errors, 4); /* one failure, one error, one attempt */
    assert_int_equal(k.error_state, 1);
    assert_int_equal(k.opens, 0);
    assert_int_equal(k.closes, 0); /* no upgrade ever succeeded */
    assert_int_equal(verani_client_last_error(c, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "gave up"));

    /* reconnect() from ERROR starts over with attempts at 0 (k counts anew). */
    memset(&k, 0, sizeof(k));
    assert_int_equal(verani_client_reconnect(c), 0);
    service_until(loop, c, VERANI_CLIENT_ERROR);
    assert_int_equal(k.connecting, 4);
    assert_int_equal(k.errors, 4);
    verani_client_destroy(c);
    loop_free(loop);
    close(fd);
}

static void test_reconnect_disabled(void **state)
{
    char url[128];
    verani_client_options o;
    verani_client *c;
    counts k;
    int port, fd = tcp_socket(0, &port);

    (void)state;
    options(&o, url, sizeof(url), port);
    o.reconnect_disabled = 1;
    c = client_new(NULL, &o, &k); /* a loop of its own */
    assert_int_equal(verani_client_wait_for_connection(c, 60000), VERANI_ECLOSED);
    assert_int_equal(verani_client_get_state(c), VERANI_CLIENT_DISCONNECTED);
    assert_int_equal(k.errors, 1);
    assert_int_equal(k.reconnecting, 0);
    verani_client_destroy(c);
    close(fd);
}

/* A peer that accepts TCP and never answers: connect timeouts are attempts too. */
static void test_connect_timeout_and_wait_timeout(void **state)
{
    char url[128];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client_info info;
    verani_client *c;
    counts k;
    int port, fd = tcp_socket(1, &port);

    (void)state;
    loop = loop_new();
    options(&o, url, sizeof(url), port);
    o.connect_timeout_ms = 300;
    o.max_attempts = 2;
    c = client_new(loop, &o, &k);
    /* A wait shorter than the connect timeout times out, and the client goes on. */
    assert_int_equal(verani_client_wait_for_connection(c, 50), VERANI_ETIMEDOUT);
    assert_int_not_equal(verani_client_get_state(c), VERANI_CLIENT_ERROR);
    service_until(loop, c, VERANI_CLIENT_ERROR);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_int_equal(info.attempts, 2);
    assert_int_equal(k.timeouts, 3);
    assert_int_equal(k.errors, 3);
    verani_client_destroy(c);
    loop_free(loop);
    close(fd);
}

/* Service `loop` until `fd` (listening) has a connection; accept it. */
static int accept_serviced(verani_client_loop *loop, int fd)
{
    int64_t end = dl_after(DL_WAIT_MS);
    struct pollfd p = {fd, POLLIN, 0};

    while (poll(&p, 1, 0) == 0) {
        if (dl_passed(end))
            fail_msg("no connection came");
        assert_int_equal(verani_client_loop_service(loop, 10), 0);
    }
    return accept(fd, NULL, NULL);
}

/* Read the upgrade request on `s` (servicing `loop`, which writes it), then answer `answer`
 * and close. */
static void answer_upgrade(verani_client_loop *loop, int s, const char *answer)
{
    int64_t end = dl_after(DL_WAIT_MS);
    char req[4096];
    size_t got = 0;

    while (got < 4 || memcmp(req + got - 4, "\r\n\r\n", 4)) {
        ssize_t n = recv(s, req + got, sizeof(req) - 1 - got, MSG_DONTWAIT);

        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (dl_passed(end) || got == sizeof(req) - 1)
            fail_msg("no whole upgrade request came");
        assert_int_equal(verani_client_loop_service(loop, 10), 0);
    }
    assert_int_equal(send(s, answer, strlen(answer), MSG_NOSIGNAL), (ssize_t)strlen(answer));
    close(s);
}

/* Take the next connection on `fd` and answer its upgrade 503, with a Retry-After of
 * `retry_after` when not NULL. */
static void answer_503(verani_client_loop *loop, int fd, const char *retry_after)
{
    char answer[256];

    snprintf(answer, sizeof(answer), "HTTP/1.1 503 Service Unavailable\r\n%s%s%s"
             "Content-Length: 0\r\nConnection: close\r\n\r\n",
             retry_after ? "Retry-After: " : "", retry_after ? retry_after : "",
             retry_after ? "\r\n" : "");
    answer_upgrade(loop, accept_serviced(loop, fd), answer);
}

/* A 503 that says Retry-After: the next attempt waits at least that long though the backoff
 * would come back in 10 ms; a 503 is no refusal (the client tries again, on_error EIO). Only a
 * lower bound is checked: a busy machine makes it later, never sooner. */
static void test_retry_after(void **state)
{
    char url[128];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client *c;
    counts k;
    int64_t first, second;
    int port, fd = tcp_socket(1, &port);

    (void)state;
    loop = loop_new();
    options(&o, url, sizeof(url), port);
    o.initial_delay_ms = 10;
    o.max_delay_ms = 5000;
    o.max_attempts = VERANI_CLIENT_UNLIMITED;
    c = client_new(loop, &o, &k);
    answer_503(loop, fd, "1");
    first = dl_now_ms();
    service_until(loop, c, VERANI_CLIENT_RECONNECTING);
    assert_int_equal(k.errors, 1);
    assert_int_equal(k.last_err, VERANI_EIO);
    answer_503(loop, fd, "1 \t");
    second = dl_now_ms();
    if (second - first < 950)
        fail_msg("the second attempt came %lld ms after the 503's Retry-After: 1",
                 (long long)(second - first));
    /* the value between blanks (HTTP's optional whitespace) is still read */
    answer_503(loop, fd, "1");
    first = dl_now_ms();
    if (first - second < 950)
        fail_msg("the third attempt came %lld ms after a Retry-After of \" 1 \\t\"",
                 (long long)(first - second));
    verani_client_destroy(c);
    loop_free(loop);
    close(fd);
}

/* A Retry-After is the answer's it came with. The last attempt's 503 says Retry-After: 30 and
 * the client gives up (max_attempts); after a reconnect, an attempt that times out (no
 * answer, so no Retry-After of its own) is retried at the backoff's 10 ms, not 30 s later:
 * before the fix it waited out the old answer's 30 s, past the test's deadline. */
static void test_retry_after_not_kept(void **state)
{
    char url[128];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client *c;
    counts k;
    int held, port, fd = tcp_socket(1, &port);

    (void)state;
    loop = loop_new();
    options(&o, url, sizeof(url), port);
    o.connect_timeout_ms = 300;
    o.initial_delay_ms = 10;
    o.max_delay_ms = 60000;
    o.max_attempts = 1;
    c = client_new(loop, &o, &k);
    answer_503(loop, fd, NULL);
    answer_503(loop, fd, "30"); /* the one retry: given up */
    service_until(loop, c, VERANI_CLIENT_ERROR);
    assert_int_equal(verani_client_reconnect(c), 0);
    held = accept_serviced(loop, fd); /* no answer: this attempt times out, with no status */
    answer_503(loop, fd, NULL); /* at the backoff's delay */
    close(held);
    verani_client_destroy(c);
    loop_free(loop);
    close(fd);
}

static int waited_result = 1;
static void on_waited(verani_client *c, int result, void *u)
{
    (void)c;
    (void)u;
    waited_result = result;
}

/* While nothing answers, frames wait; past the bound the oldest go and are counted. */
static void test_offline_queue_bound(void **state)
{
    char url[128], err[256];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client_info info;
    verani_client *c;
    int i, port, fd = tcp_socket(0, &port);
    int64_t end;

    (void)state;
    loop = loop_new();
    options(&o, url, sizeof(url), port);
    o.max_attempts = VERANI_CLIENT_UNLIMITED;
    o.initial_delay_ms = 50;
    c = client_new(loop, &o, NULL);
    for (i = 0; i < 150; i++)
        assert_int_equal(verani_client_emit(c, &room_on[0], NULL), 0);
    end = dl_after(DL_WAIT_MS);
    do { /* until the first reconnection attempt (5 ms of backoff) */
        assert_int_equal(verani_client_loop_service(loop, 5), 0);
        assert_int_equal(verani_client_get_info(c, &info), 0);
    } while (info.attempts < 1 && !dl_passed(end));
    assert_int_equal(info.queued, 100);
    assert_int_equal(info.dropped, 50);
    assert_true(info.attempts >= 1);
    /* Bad calls are refused with a reason. */
    assert_int_equal(verani_client_emit(c, &room_emit[0], NULL), VERANI_ENOTFOUND);
    assert_int_equal(verani_client_last_error(c, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "poked"));
    /* The callback wait ends with ECLOSED on disconnect. */
    waited_result = 1;
    assert_int_equal(verani_client_wait_connected(c, 60000, on_waited, NULL), 0);
    assert_int_equal(waited_result, 1);
    assert_int_equal(verani_client_disconnect(c), 0);
    assert_int_equal(waited_result, VERANI_ECLOSED);
    assert_int_equal(verani_client_get_state(c), VERANI_CLIENT_DISCONNECTED);
    verani_client_destroy(c);
    loop_free(loop);
    close(fd);
}

/* The loop on its own thread; every call from this thread goes through the inbox. */
static void test_threaded_loop(void **state)
{
    char url[128];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client_info info;
    verani_client *c[4];
    counts k;
    int i, j, port, fd = tcp_socket(0, &port);

    (void)state;
    loop = loop_new();
    assert_int_equal(verani_client_loop_start(loop), 0);
    assert_int_equal(verani_client_loop_start(loop), VERANI_ESTATE);
    assert_int_equal(verani_client_loop_service(loop, 0), VERANI_ESTATE);
    options(&o, url, sizeof(url), port);
    o.max_attempts = 2;
    for (i = 0; i < 4; i++) {
        c[i] = client_new(loop, &o, NULL);
        for (j = 0; j < 10; j++)
            assert_int_equal(verani_client_emit(c[i], &room_on[0], NULL), 0);
    }
    watch(c[0], &k);
    for (i = 0; i < 4; i++)
        assert_int_equal(verani_client_wait_for_connection(c[i], 60000), VERANI_ECLOSED);
    assert_int_equal(verani_client_get_info(c[0], &info), 0);
    assert_int_equal(info.state, VERANI_CLIENT_ERROR);
    assert_int_equal(info.queued, 10);
    assert_int_equal(verani_client_loop_stop(loop), 0);
    /* Back to the caller's loop: calls run directly again. */
    assert_int_equal(verani_client_get_state(c[1]), VERANI_CLIENT_ERROR);
    verani_client_destroy(c[1]);
    loop_free(loop); /* destroys the other three */
    close(fd);
}

static void invoke_none(verani_client *c, verani_fn fn, const ProtobufCMessage *msg, void *user)
{
    (void)c;
    (void)fn;
    (void)msg;
    (void)user;
}

static void poked(void)
{
}

/* Many registrations: the arrays grow past their first capacity and keep
 * every entry; ids stay distinct; removal finds each one exactly once. */
static void test_many_registrations(void **state)
{
    char url[128];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client *c;
    int users[40], ids[20], i, port, fd = tcp_socket(0, &port);

    (void)state;
    loop = loop_new();
    options(&o, url, sizeof(url), port);
    o.reconnect_disabled = 1;
    c = client_new(loop, &o, NULL);
    for (i = 0; i < 40; i++)
        assert_int_equal(verani_client_on(c, &room_emit[0], invoke_none, poked, &users[i], 0), 0);
    for (i = 0; i < 20; i++) {
        ids[i] = verani_client_on_open(c, on_open, &users[i]);
        assert_true(ids[i] > 0);
        assert_true(i == 0 || ids[i] > ids[i - 1]);
    }
    for (i = 0; i < 40; i += 2)
        assert_int_equal(verani_client_off(c, &room_emit[0], poked, &users[i]), 1);
    assert_int_equal(verani_client_off(c, &room_emit[0], poked, &users[0]), 0);
    assert_int_equal(verani_client_off(c, &room_emit[0], NULL, NULL), 20);
    for (i = 0; i < 20; i++)
        assert_int_equal(verani_client_remove_callback(c, ids[i]), 0);
    assert_int_equal(verani_client_remove_callback(c, ids[5]), VERANI_ENOTFOUND);
    verani_client_destroy(c);
    loop_free(loop);
    close(fd);
}

/* A room that speaks only Verani's JSON wire (`wire json;`) has no path for this client: it
 * is refused at create, saying so; `wire both` is fine (the client takes `path`). */
static void test_json_only_room_refused(void **state)
{
    char url[128], err[256];
    verani_client_options o;
    verani_room_schema json_room = room;
    verani_client_loop *loop;
    verani_client *c;

    (void)state;
    loop = loop_new();
    options(&o, url, sizeof(url), 1);
    json_room.wire = VERANI_WIRE_JSON;
    o.room = &json_room;
    err[0] = '\0';
    assert_null(verani_client_create(loop, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "room Offline speaks only Verani's JSON wire"));
    json_room.wire = VERANI_WIRE_BOTH;
    json_room.json_path = "/verani/ws";
    c = client_new(loop, &o, NULL);
    verani_client_destroy(c);
    loop_free(loop);
}

/* The query parameter `hello` is the client's own (the HELLO folded into the upgrade): a URL
 * that has one is refused at create, saying so; a parameter that only starts with it is not. */
static void test_url_with_hello_refused(void **state)
{
    static const char *const bad[] = {"?hello=CAE", "?userId=u1&hello", "?a=1&hello=&b=2",
                                      "?hell%6F=CAE", "?%68%65%6c%6c%6f", "?hello#frag"};
    char url[128], err[256];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client *c;
    size_t i;

    (void)state;
    loop = loop_new();
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        options(&o, url, sizeof(url), 1);
        snprintf(url, sizeof(url), "ws://127.0.0.1:1/ws%s", bad[i]);
        err[0] = '\0';
        assert_null(verani_client_create(loop, &o, err, sizeof(err)));
        assert_non_null(strstr(err, "query parameter 'hello', which is the client's own"));
    }
    options(&o, url, sizeof(url), 1);
    snprintf(url, sizeof(url), "ws://127.0.0.1:1/ws?userId=u1&helloworld=1&ahello=2&hell%%6f2");
    c = client_new(loop, &o, NULL);
    verani_client_destroy(c);
    loop_free(loop);
}

static const vt_case cases[] = {
    VT_CASE(test_json_only_room_refused, ""),
    VT_CASE(test_url_with_hello_refused, ""),
    VT_CASE(test_retry_after, ""),
    VT_CASE(test_retry_after_not_kept, ""),
    VT_CASE(test_attempts_to_error, ""),
    VT_CASE(test_reconnect_disabled, ""),
    VT_CASE(test_connect_timeout_and_wait_timeout, ""),
    VT_CASE(test_offline_queue_bound, ""),
    VT_CASE(test_threaded_loop, ""),
    VT_CASE(test_many_registrations, ""),
};

/* `test_client_offline test_<case>` runs one case (each is a CTest test client_offline_<case>). */
int main(int argc, char **argv)
{
    return vt_main("client_offline", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
