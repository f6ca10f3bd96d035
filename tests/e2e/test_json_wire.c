/* SPDX-License-Identifier: MIT */
/*
 * test_json_wire.c: Verani's JSON wire (PROTOCOL.md section 8) on the e2e
 * rooms' second paths (/e2e-json/{room}, /limited-json/{room}), byte by byte:
 * a session that begins at the open with on_connect and no WELCOME, events
 * both ways in Verani's envelope beside a binary client of the same instance,
 * a request answered by an event of its name, ping and pong, every refusal as
 * an "error" event (or nothing with json_errors_silent) and the 1008 after
 * ten, the doubled frame limit, the rate limit, on_any's protobuf bytes, an
 * end of connection that ends the session at once, the 1012 of a graceful
 * stop and a kick's default 1000. Each case has its own server on port 0.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cases.h"
#include "cleanup.h"
#include "deadline.h"
#include "e2e_room.h"
#include "e2e_util.h"

static void start(e2e_server *h)
{
    verani_server_options o;

    e2e_server_options(&o);
    e2e_server_start(h, &o, NULL, NULL);
}

/* A JSON client: no HELLO; wait for the upgrade. */
static rc_conn *json_connect(rc_loop *l, int port, const char *path)
{
    rc_conn *c = rc_connect(l, port, path, 0);

    c->keep = 1;
    return c;
}

static void send_text(rc_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_text(rc_conn *c, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    assert_int_equal(rc_send(c, buf, (size_t)n, 1), 0);
}

typedef struct text_want {
    rc_conn *c;
    size_t n;
} text_want;

static int p_texts(void *arg)
{
    const text_want *w = arg;

    return w->c->n_texts >= w->n || w->c->closed;
}

/* Wait for the connection's text message `i` (0-based) and return it. */
static const char *text_at(rc_loop *l, rc_conn *c, size_t i)
{
    text_want w = {c, i + 1};

    if (!rc_wait(l, p_texts, &w, DL_WAIT_MS) || c->n_texts <= i)
        fail_msg("text message %zu never came (%zu came, closed %d with %d)", i, c->n_texts,
                 c->closed, c->close_code);
    return c->texts[i];
}

/* The next text message after the `*seen` already looked at. */
static const char *next_text(rc_loop *l, rc_conn *c, size_t *seen)
{
    return text_at(l, c, (*seen)++);
}

static void expect_text(rc_loop *l, rc_conn *c, size_t *seen, const char *want)
{
    const char *got = next_text(l, c, seen);

    if (strcmp(got, want))
        fail_msg("expected %s\n     got %s", want, got);
}

/* The next text is an "error" event with `code` (and `field` when not NULL). */
static void expect_error(rc_loop *l, rc_conn *c, size_t *seen, const char *code,
                         const char *field)
{
    const char *got = next_text(l, c, seen);
    char want[128];

    if (strncmp(got, "{\"type\":\"event\",\"channel\":\"default\",\"data\":{\"type\":\"error\","
                     "\"message\":", 68))
        fail_msg("not an error event: %s", got);
    snprintf(want, sizeof(want), "\"code\":\"%s\"", code);
    if (!strstr(got, want))
        fail_msg("expected code %s: %s", code, got);
    if (field) {
        snprintf(want, sizeof(want), "\"field\":\"%s\"}}", field);
        if (!strstr(got, want))
            fail_msg("expected field %s: %s", field, got);
    } else if (strstr(got, "\"field\"")) {
        fail_msg("expected no field: %s", got);
    }
}

static int p_closed(void *arg)
{
    return ((rc_conn *)arg)->closed;
}

/* e2e_server_start's setup: /metrics on, with token "m3trics". */
static int metrics_on(verani_server *srv, void *arg)
{
    verani_api_options api;

    (void)arg;
    memset(&api, 0, sizeof(api));
    api.metrics_token = "m3trics";
    return verani_server_set_api(srv, &api);
}

/* verani_json_frames_total from /metrics. */
static long long json_frames(int port)
{
    static char resp[65536];
    const char *p;

    resp[0] = '\0';
    assert_int_equal(rc_tcp_request(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                          "Authorization: Bearer m3trics\r\n"
                                          "Connection: close\r\n\r\n", resp, sizeof(resp)),
                     200);
    p = strstr(resp, "\nverani_json_frames_total ");
    if (!p)
        fail_msg("no verani_json_frames_total in /metrics");
    return atoll(p + strlen("\nverani_json_frames_total "));
}

/* --- tests --------------------------------------------------------------- */

static void test_json_session_and_events(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *j, *b;
    size_t js = 0;
    E2e__Cmd cmd = E2E__CMD__INIT;

    (void)state;
    start(&h);
    l = rc_loop_create();
    b = e2e_join(l, h.port, "/e2e/lobby?userId=b1");
    e2e_wait_log(l, "connect:b1:-");

    /* the session begins at the open: on_connect runs with nothing sent by the client, and its
     * channel emit reaches it as Verani's envelope, type first, fields in lowerCamelCase */
    j = json_connect(l, h.port, "/e2e-json/lobby?userId=j1&role=announce");
    e2e_wait_log(l, "connect:j1:announce");
    expect_text(l, j, &js, "{\"type\":\"event\",\"channel\":\"default\",\"data\":{\"type\":"
                           "\"chat.out\",\"text\":\"joined\",\"from\":\"j1\"}}");
    assert_int_equal(j->n_rx, 0); /* no WELCOME, nothing binary */
    assert_int_equal(j->bad_frames, 0);
    /* the binary client of the same instance got it as an Envelope */
    assert_true(rc_wait(l, e2e_p_welcomed, b, DL_WAIT_MS));
    {
        size_t before = rc_count(b, VERANI__WIRE__KIND__EVENT);

        /* a binary emit to the channel reaches the JSON session in JSON */
        cmd.op = 1;
        cmd.arg = "default";
        cmd.text = "from binary";
        assert_int_equal(rc_send_event(b, VERANI__WIRE__KIND__REQUEST, E2E_EV_CMD, &cmd.base,
                                       7), 0);
        expect_text(l, j, &js, "{\"type\":\"event\",\"channel\":\"default\",\"data\":{\"type\":"
                               "\"chat.out\",\"text\":\"from binary\",\"from\":\"b1\"}}");
        (void)before;
    }

    /* a request from the JSON side: its reply is the event of its name; its emit to everyone
     * carries "default" as its channel */
    send_text(j, "{\"type\":\"cmd\",\"data\":{\"op\":4,\"text\":\"to all\",\"exceptSelf\":true}}");
    expect_text(l, j, &js, "{\"type\":\"event\",\"channel\":\"default\",\"data\":{\"type\":\"cmd\","
                           "\"n\":1}}");
    /* the schema's own field names are accepted too, and unknown keys are ignored */
    send_text(j, "{\"type\":\"echo\",\"channel\":\"x\",\"data\":{\"text\":\"hi\",\"nope\":[1,{}]}}");
    expect_text(l, j, &js, "{\"type\":\"event\",\"channel\":\"default\",\"data\":{\"type\":"
                           "\"echo\",\"text\":\"hi\"}}");
    send_text(j, "{\"type\":\"cmd\",\"data\":{\"op\":1,\"arg\":\"default\",\"except_self\":true,"
                 "\"text\":\"x\"}}");
    expect_text(l, j, &js, "{\"type\":\"event\",\"channel\":\"default\",\"data\":{\"type\":\"cmd\","
                           "\"n\":1}}");
    /* an event without payload, data absent */
    send_text(j, "{\"type\":\"poke\"}");
    e2e_wait_log(l, "poke");
    /* a ping: a pong at once */
    send_text(j, "{\"type\":\"ping\"}");
    expect_text(l, j, &js, "{\"type\":\"pong\"}");
    /* channels: join through on_join, then a channel emit names the channel */
    send_text(j, "{\"type\":\"channel.join\",\"data\":{\"channel\":\"red\"}}");
    e2e_wait_log(l, "join:red");
    send_text(j, "{\"type\":\"cmd\",\"data\":{\"op\":1,\"arg\":\"red\",\"text\":\"in red\"}}");
    expect_text(l, j, &js, "{\"type\":\"event\",\"channel\":\"red\",\"data\":{\"type\":"
                           "\"chat.out\",\"text\":\"in red\",\"from\":\"j1\"}}");
    expect_text(l, j, &js, "{\"type\":\"event\",\"channel\":\"default\",\"data\":{\"type\":\"cmd\","
                           "\"n\":1}}");
    send_text(j, "{\"type\":\"channel.leave\",\"data\":{\"channel\":\"red\"}}");
    e2e_wait_log(l, "leave:red");
    /* a channel name that cannot be one: protocol, with the field named */
    send_text(j, "{\"type\":\"channel.join\",\"data\":{\"channel\":\"\"}}");
    expect_error(l, j, &js, "protocol", "channel");

    /* an end of connection ends the session at once: on_disconnect now, no resume grace */
    rc_close(j);
    e2e_wait_log(l, "disconnect:j1");

    /* a plain string left out reaches the handler as "", as on the binary wire (which cannot
     * leave it out), never NULL: the e2e room's op 11 compares its `arg` with strcmp and, with
     * no case named, closes the session with 4000 "bye" */
    j = json_connect(l, h.port, "/e2e-json/lobby?userId=j2");
    e2e_wait_log(l, "connect:j2:-");
    send_text(j, "{\"type\":\"cmd\",\"data\":{\"op\":11}}");
    assert_true(rc_wait(l, e2e_p_closed, j, DL_WAIT_MS));
    assert_int_equal(j->close_code, 4000);
    assert_string_equal(j->close_reason, "bye");
    e2e_wait_log(l, "disconnect:j2");
    cmd.op = 10; /* the server's session count */
    assert_int_equal(rc_send_event(b, VERANI__WIRE__KIND__REQUEST, E2E_EV_CMD, &cmd.base, 8),
                     0);
    {
        const rc_env *r;
        E2e__Count *n;

        for (r = NULL; !r;) {
            rc_service(l, 10);
            r = rc_answer(b, 8);
            if (!r && b->closed)
                fail_msg("the binary client closed");
        }
        n = e2e__count__unpack(NULL, r->payload.len, r->payload.data);
        assert_non_null(n);
        assert_int_equal(n->n, 1);
        e2e__count__free_unpacked(n, NULL);
    }
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void test_json_refusals(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *j;
    size_t js = 0;
    static const char long_text[] = "{\"type\":\"cmd\",\"data\":{\"text\":\"12345678901234567\"}}";
    int i;

    (void)state;
    start(&h);
    l = rc_loop_create();
    j = json_connect(l, h.port, "/e2e-json/lobby?userId=j2");
    e2e_wait_log(l, "connect:j2:-");
    /* answered, but accepted frames: they reset the count of refusals in a row */
    send_text(j, "{\"type\":\"echo\",\"data\":{\"text\":\"fail\"}}");
    expect_error(l, j, &js, "handler_failed", NULL);
    send_text(j, "{\"type\":\"channel.join\",\"data\":{\"channel\":\"forbidden\"}}");
    expect_error(l, j, &js, "join_denied", NULL);
    /* refusals */
    assert_int_equal(rc_send(j, "\x08\x07", 2, 0), 0); /* a binary frame */
    expect_error(l, j, &js, "bad_frame", NULL);
    send_text(j, "not json");
    expect_error(l, j, &js, "bad_frame", NULL);
    send_text(j, "[\"type\"]");
    expect_error(l, j, &js, "bad_frame", NULL);
    send_text(j, "{\"type\":3}");
    expect_error(l, j, &js, "bad_frame", NULL);
    send_text(j, "{\"type\":\"nope\"}");
    expect_error(l, j, &js, "unknown_event", NULL);
    send_text(j, "{\"type\":\"echo\",\"data\":{\"text\":5}}");
    expect_error(l, j, &js, "invalid_payload", "text");
    send_text(j, "%s", long_text);
    expect_error(l, j, &js, "invalid_payload", "text");
    assert_non_null(strstr(j->texts[js - 1], "longer than 16"));
    send_text(j, "{\"type\":\"echo\",\"data\":[]}");
    expect_error(l, j, &js, "invalid_payload", NULL);
    send_text(j, "{\"type\":\"channel.join\"}");
    expect_error(l, j, &js, "protocol", "channel");
    assert_false(j->closed);
    /* the tenth: every answer, then 1008 */
    send_text(j, "{\"type\":\"nope\"}");
    expect_error(l, j, &js, "unknown_event", NULL);
    assert_true(rc_wait(l, p_closed, j, DL_WAIT_MS));
    assert_int_equal(j->close_code, 1008);
    e2e_wait_log(l, "disconnect:j2");

    /* an accepted frame resets the count */
    j = json_connect(l, h.port, "/e2e-json/lobby?userId=j3");
    js = 0;
    e2e_wait_log(l, "connect:j3:-");
    for (i = 0; i < 30; i++) {
        send_text(j, "{\"type\":\"nope\"}");
        expect_error(l, j, &js, "unknown_event", NULL);
        send_text(j, "{\"type\":\"ping\"}");
        expect_text(l, j, &js, "{\"type\":\"pong\"}");
    }
    assert_false(j->closed);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* A JSON message may be twice max_frame (8192 in room E2e); past it, 1009. */
static void test_json_frame_limit(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *j;
    size_t js = 0, n;
    char *big = malloc(20000);
    const char *got;

    (void)state;
    assert_non_null(big);
    start(&h);
    l = rc_loop_create();
    j = json_connect(l, h.port, "/e2e-json/lobby?userId=j4");
    e2e_wait_log(l, "connect:j4:-");
    n = (size_t)snprintf(big, 20000, "{\"type\":\"echo\",\"data\":{\"text\":\"");
    memset(big + n, 'a', 12000);
    n += 12000;
    n += (size_t)snprintf(big + n, 20000 - n, "\"}}");
    assert_int_equal(rc_send(j, big, n, 1), 0);
    got = next_text(l, j, &js);
    assert_int_equal(strlen(got), 12000 + strlen("{\"type\":\"event\",\"channel\":\"default\","
                                                 "\"data\":{\"type\":\"echo\",\"text\":\"\"}}"));
    n = (size_t)snprintf(big, 20000, "{\"type\":\"echo\",\"data\":{\"text\":\"");
    memset(big + n, 'a', 17000);
    n += 17000;
    n += (size_t)snprintf(big + n, 20000 - n, "\"}}");
    assert_int_equal(rc_send(j, big, n, 1), 0);
    assert_true(rc_wait(l, p_closed, j, DL_WAIT_MS));
    assert_int_equal(j->close_code, 1009);
    free(big);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* Room Limited (rate 5, burst 5, on_any logging): the rate limit as "error" events, and
 * on_any given the payload's protobuf bytes whichever wire it came by. */
static void test_json_rate_limit_and_on_any(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *j;
    size_t js = 0;
    int i, pongs = 0, limited = 0;

    (void)state;
    start(&h);
    l = rc_loop_create();
    j = json_connect(l, h.port, "/limited-json/lobby?userId=j5");
    e2e_wait_log(l, "connect:j5:-");
    send_text(j, "{\"type\":\"echo\",\"data\":{\"text\":\"abc\"}}");
    expect_text(l, j, &js, "{\"type\":\"event\",\"channel\":\"default\",\"data\":{\"type\":"
                           "\"echo\",\"text\":\"abc\"}}");
    e2e_wait_log(l, "any:3:5:0"); /* Echo{text:"abc"}: 5 bytes of protobuf */
    for (i = 0; i < 8; i++)
        send_text(j, "{\"type\":\"ping\"}");
    for (i = 0; i < 8; i++) {
        const char *t = next_text(l, j, &js);

        if (!strcmp(t, "{\"type\":\"pong\"}"))
            pongs++;
        else if (strstr(t, "\"code\":\"rate_limited\""))
            limited++;
        else
            fail_msg("unexpected %s", t);
    }
    assert_true(limited >= 4); /* 1 + 8 frames against a bucket of 5 */
    assert_int_equal(pongs + limited, 8);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static int errors_silent(verani_server *srv, void *arg)
{
    (void)srv;
    (void)arg;
    return 0;
}

/* json_errors_silent: refusals answer nothing (Verani's own server), and still close 1008. */
static void test_json_errors_silent(void **state)
{
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *j;
    size_t js = 0;
    int i;

    (void)state;
    e2e_server_options(&o);
    o.json_errors_silent = 1;
    e2e_server_start(&h, &o, errors_silent, NULL);
    l = rc_loop_create();
    j = json_connect(l, h.port, "/e2e-json/lobby?userId=j6");
    e2e_wait_log(l, "connect:j6:-");
    for (i = 0; i < 9; i++)
        send_text(j, "{\"type\":\"nope\"}");
    send_text(j, "{\"type\":\"ping\"}"); /* answered after the nine: nothing came before it */
    expect_text(l, j, &js, "{\"type\":\"pong\"}");
    for (i = 0; i < 10; i++)
        send_text(j, "{\"type\":\"nope\"}");
    assert_true(rc_wait(l, p_closed, j, DL_WAIT_MS));
    assert_int_equal(j->close_code, 1008);
    assert_int_equal(j->n_texts, 1);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* A graceful stop closes JSON sessions with 1012 and ends them (on_disconnect): Verani's
 * client reconnects to the next server as a new session. */
static void test_json_graceful_stop(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *j;

    (void)state;
    start(&h);
    l = rc_loop_create();
    j = json_connect(l, h.port, "/e2e-json/lobby?userId=j7");
    e2e_wait_log(l, "connect:j7:-");
    verani_server_stop(h.srv);
    assert_true(rc_wait(l, p_closed, j, DL_WAIT_MS));
    /* libwebsockets 4.1's client parser reports a 1012 as 1002; the reason says it was 1012
     * (PROTOCOL.md section 7; the JavaScript test sees the code itself) */
    assert_true(j->close_code == 1012 || j->close_code == 1002);
    assert_string_equal(j->close_reason, "server restarting");
    assert_int_equal(e2e_server_join(&h), 0);
    assert_int_equal(e2e_log_count("disconnect:j7"), 1);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* A kick without a code: 1000 for a JSON session (Verani's client reconnects after 1008),
 * 1008 for a binary one. */
static void test_json_kick_default(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *j, *b;
    verani_rpc_result res;
    char jid[64], bid[64];

    (void)state;
    start(&h);
    l = rc_loop_create();
    j = json_connect(l, h.port, "/e2e-json/lobby?userId=j8");
    e2e_wait_log(l, "connect:j8:-");
    b = e2e_join(l, h.port, "/e2e/lobby?userId=b8");
    assert_int_equal(verani_rpc_user_sessions(h.srv, "E2e", "lobby", "j8",
                                              (verani_rpc_done){.out = &res}), 0);
    assert_int_equal(res.n_sessions, 1);
    snprintf(jid, sizeof(jid), "%s", res.sessions[0].client_id);
    verani_rpc_result_free(&res);
    snprintf(bid, sizeof(bid), "%s", b->client_id);
    assert_int_equal(verani_rpc_kick(h.srv, "E2e", "lobby", jid, 0, NULL,
                                     (verani_rpc_done){.out = &res}), 0);
    assert_int_equal(res.count, 1);
    verani_rpc_result_free(&res);
    assert_int_equal(verani_rpc_kick(h.srv, "E2e", "lobby", bid, 0, NULL,
                                     (verani_rpc_done){.out = &res}), 0);
    assert_int_equal(res.count, 1);
    verani_rpc_result_free(&res);
    assert_true(rc_wait(l, p_closed, j, DL_WAIT_MS));
    assert_true(rc_wait(l, p_closed, b, DL_WAIT_MS));
    assert_int_equal(j->close_code, 1000);
    assert_int_equal(b->close_code, 1008);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* An emit is encoded once per wire: three JSON sessions and a binary one in the channel, one
 * JSON frame made for the three (the same bytes to each), one binary frame for the other. */
static void test_json_encoded_once(void **state)
{
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *j[3], *b;
    E2e__Cmd cmd = E2E__CMD__INIT;
    long long before;
    size_t seen[3] = {0, 0, 0};
    int i;

    (void)state;
    e2e_server_options(&o);
    e2e_server_start(&h, &o, metrics_on, NULL);
    l = rc_loop_create();
    for (i = 0; i < 3; i++) {
        char path[64], line[32];

        snprintf(path, sizeof(path), "/e2e-json/lobby?userId=j%d", i);
        snprintf(line, sizeof(line), "connect:j%d:-", i);
        j[i] = json_connect(l, h.port, path);
        e2e_wait_log(l, line);
    }
    b = e2e_join(l, h.port, "/e2e/lobby?userId=b0");
    before = json_frames(h.port);
    cmd.op = 1;
    cmd.arg = "default";
    cmd.text = "once";
    assert_int_equal(rc_send_event(b, VERANI__WIRE__KIND__REQUEST, E2E_EV_CMD, &cmd.base, 3), 0);
    for (i = 0; i < 3; i++)
        expect_text(l, j[i], &seen[i], "{\"type\":\"event\",\"channel\":\"default\",\"data\":"
                                       "{\"type\":\"chat.out\",\"text\":\"once\",\"from\":\"b0\"}}");
    assert_int_equal(json_frames(h.port), before + 1);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static const vt_case cases[] = {
    VT_CASE(test_json_session_and_events, "poll"),
    VT_CASE(test_json_refusals, ""),
    VT_CASE(test_json_frame_limit, ""),
    VT_CASE(test_json_rate_limit_and_on_any, ""),
    VT_CASE(test_json_errors_silent, ""),
    VT_CASE(test_json_graceful_stop, ""),
    VT_CASE(test_json_kick_default, ""),
    VT_CASE(test_json_encoded_once, ""),
};

int main(int argc, char **argv)
{
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("json_wire", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
