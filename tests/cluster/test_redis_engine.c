/* SPDX-License-Identifier: MIT */
/*
 * test_redis_engine.c: the cluster's Redis engine (runtime/src/cluster/
 * redis-private.h) against a real redis-server started per test on a unix
 * socket (tests/common/redis_server.h), driven on a libev loop of the test's
 * own as the server drives it. It checks: commands and binary-safe replies in
 * order, a pipeline of 1,000 sent in one write; pub/sub; a Redis that stops
 * answering (SIGSTOP) fails the waiting commands within the command timeout
 * and the engine comes back by itself after SIGCONT, subscriptions included;
 * a Redis killed and started again likewise; AUTH with the right password and
 * a clear error with a wrong one; addresses that are refused at create (host
 * names, relative paths, bad ports); no Redis at all; destroy with commands
 * in flight. Each wait ends at a deadline derived from the engine's timeouts.
 * Run one case with `test_redis_engine test_<case>`.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ev.h>

#include <verani/common.h>

#include "cases.h"
#include "cleanup.h"
#include "cluster/redis-private.h"
#include "deadline.h"
#include "fault_proxy.h"
#include "redis_server.h"

/* The engine's timeouts in these tests: short, so a failure shows quickly. */
#define CMD_TIMEOUT_MS 300
#define CONNECT_TIMEOUT_MS 300
#define BACKOFF_MAX_MS 200

/* What the engine's callbacks saw. */
typedef struct seen {
    int ups, downs, up;
    int messages;
    char last_channel[64];
    char last_message[256];
    size_t last_len;
} seen;

/* One command's answer. */
typedef struct answer {
    int done;
    int is_reply;
    int type;
    long long integer;
    char str[256];
    size_t len;
    char err[256];
} answer;

static void on_state(vr_redis *r, int up, void *arg)
{
    seen *s = arg;

    (void)r;
    s->up = up;
    if (up)
        s->ups++;
    else
        s->downs++;
}

static void on_message(vr_redis *r, const char *channel, const char *data, size_t len, void *arg)
{
    seen *s = arg;

    (void)r;
    s->messages++;
    snprintf(s->last_channel, sizeof(s->last_channel), "%s", channel);
    s->last_len = len < sizeof(s->last_message) ? len : sizeof(s->last_message);
    memcpy(s->last_message, data, s->last_len);
}

static void on_answer(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    answer *a = arg;

    (void)r;
    a->done++;
    a->is_reply = reply != NULL;
    snprintf(a->err, sizeof(a->err), "%s", err ? err : "");
    if (reply) {
        a->type = reply->type;
        a->integer = reply->integer;
        if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
            reply->type == REDIS_REPLY_ERROR) {
            a->len = reply->len < sizeof(a->str) ? reply->len : sizeof(a->str);
            memcpy(a->str, reply->str, a->len);
        }
    }
}

/* --- the loop and the engine on the teardown list --------------------------------------- */

static void loop_undo(void *loop)
{
    ev_loop_destroy(loop);
}

static struct ev_loop *new_loop(void)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

    assert_non_null(loop);
    cu_push(loop_undo, loop);
    return loop;
}

static void engine_undo(void *r)
{
    vr_redis_destroy(r);
}

static vr_redis *engine(struct ev_loop *loop, const char *address, const char *password, seen *s)
{
    vr_redis_options o;
    vr_redis *r;
    char err[256];

    memset(&o, 0, sizeof(o));
    memset(s, 0, sizeof(*s));
    o.address = address;
    o.password = password;
    o.name = "test";
    o.connect_timeout_ms = CONNECT_TIMEOUT_MS;
    o.command_timeout_ms = CMD_TIMEOUT_MS;
    o.backoff_initial_ms = 20;
    o.backoff_max_ms = BACKOFF_MAX_MS;
    o.on_state = on_state;
    o.on_message = on_message;
    o.arg = s;
    r = vr_redis_create(loop, &o, err, sizeof(err));
    if (!r)
        fail_msg("vr_redis_create: %s", err);
    cu_push(engine_undo, r);
    return r;
}

static void engine_free(vr_redis *r)
{
    cu_drop(r);
    vr_redis_destroy(r);
}

/* Run the loop until *flag >= want, failing after `ms` (scaled). */
static void until(struct ev_loop *loop, const int *flag, int want, int64_t ms, const char *what)
{
    int64_t end = dl_after(ms);

    while (*flag < want && !dl_passed(end))
        ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT), dl_nap_ms(1);
    if (*flag < want)
        fail_msg("%s: %d, not %d, after %lld ms", what, *flag, want, (long long)ms);
}

/* Run the loop for `ms` whatever happens. */
static void spin(struct ev_loop *loop, int ms)
{
    int64_t end = dl_after(ms);

    do {
        ev_run(loop, EVRUN_NOWAIT);
        dl_nap_ms(1);
    } while (!dl_passed(end));
}

/* Send argv and wait for its answer. */
static void cmd(struct ev_loop *loop, vr_redis *r, answer *a, int argc, const char **argv,
                const size_t *lens)
{
    memset(a, 0, sizeof(*a));
    assert_int_equal(vr_redis_command(r, on_answer, a, argc, argv, lens), 0);
    vr_redis_flush(r);
    until(loop, &a->done, 1, DL_WAIT_MS, "answers");
}

/* Up again after an outage: a reconnect attempt comes within the backoff, and it
 * succeeds within the connect timeout. */
#define BACK_UP_MS DL_GENEROUS(BACKOFF_MAX_MS + CONNECT_TIMEOUT_MS)

/* --- cases ------------------------------------------------------------------------------------- */

static void test_round_trips(void **state)
{
    static answer many[1000];
    struct ev_loop *loop = new_loop();
    rs_server *rs = rs_start(NULL);
    const char bin[] = {'a', '\0', 'b', '\r', '\n', (char)0xff};
    const char *set[3] = {"SET", "k", bin}, *get[2] = {"GET", "k"};
    size_t set_len[3] = {3, 1, sizeof(bin)};
    vr_redis_stats st;
    seen s;
    answer a;
    vr_redis *r;
    int i, done = 0;

    (void)state;
    r = engine(loop, rs->address, NULL, &s);
    until(loop, &s.ups, 1, BACK_UP_MS, "up");
    assert_true(vr_redis_up(r));

    cmd(loop, r, &a, 3, set, set_len);
    assert_string_equal(a.err, "");
    assert_int_equal(a.type, REDIS_REPLY_STATUS);
    cmd(loop, r, &a, 2, get, NULL);
    assert_int_equal(a.type, REDIS_REPLY_STRING);
    assert_int_equal(a.len, sizeof(bin));
    assert_memory_equal(a.str, bin, sizeof(bin));

    /* an error reply is an answer with its text */
    {
        const char *bad[2] = {"INCR", "k"};

        cmd(loop, r, &a, 2, bad, NULL);
        assert_true(a.is_reply);
        assert_int_equal(a.type, REDIS_REPLY_ERROR);
        assert_non_null(strstr(a.err, "not an integer"));
    }

    /* 1,000 pipelined in one write, answered in order */
    for (i = 0; i < 1000; i++) {
        const char *incr[2] = {"INCR", "n"};

        memset(&many[i], 0, sizeof(many[i]));
        assert_int_equal(vr_redis_command(r, on_answer, &many[i], 2, incr, NULL), 0);
    }
    vr_redis_flush(r);
    until(loop, &many[999].done, 1, DL_WAIT_MS, "the 1,000th answer");
    for (i = 0; i < 1000; i++) {
        done += many[i].done;
        assert_int_equal(many[i].integer, i + 1);
    }
    assert_int_equal(done, 1000);
    vr_redis_get_stats(r, &st);
    assert_int_equal(st.error_replies, 1);
    assert_int_equal(st.failed, 0);
    assert_true(st.commands >= 1003);
    assert_int_equal(st.up, 1);
    engine_free(r);
    rs_free(rs);
}

static void test_pubsub(void **state)
{
    struct ev_loop *loop = new_loop();
    rs_server *rs = rs_start(NULL);
    const char data[] = {'h', 'i', '\0', '!'};
    const char *pub[3] = {"PUBLISH", "vr:test", data};
    size_t pub_len[3] = {7, 7, sizeof(data)};
    seen s;
    answer a;
    vr_redis *r;

    (void)state;
    r = engine(loop, rs->address, NULL, &s);
    assert_int_equal(vr_redis_subscribe(r, "vr:test"), 0);
    until(loop, &s.ups, 1, BACK_UP_MS, "up with the subscription");
    cmd(loop, r, &a, 3, pub, pub_len);
    assert_int_equal(a.integer, 1); /* one subscriber: the engine's own sub connection */
    until(loop, &s.messages, 1, DL_WAIT_MS, "messages");
    assert_string_equal(s.last_channel, "vr:test");
    assert_int_equal(s.last_len, sizeof(data));
    assert_memory_equal(s.last_message, data, sizeof(data));

    /* a channel added while up is subscribed at once */
    assert_int_equal(vr_redis_subscribe(r, "vr:late"), 0);
    {
        const char *late[3] = {"PUBLISH", "vr:late", "x"};
        int64_t end = dl_after(DL_WAIT_MS);

        /* the SUBSCRIBE is on the other connection: publish until it is counted */
        do {
            cmd(loop, r, &a, 3, late, NULL);
        } while (a.integer == 0 && !dl_passed(end));
        assert_int_equal(a.integer, 1);
        until(loop, &s.messages, 2, DL_WAIT_MS, "messages");
        assert_string_equal(s.last_channel, "vr:late");
    }
    engine_free(r);
    rs_free(rs);
}

/* Redis stops answering: what waits fails within the timeout (not at some TCP timeout
 * minutes later), new commands are refused at once while down, and after SIGCONT the
 * engine is back by itself, its subscription too. */
static void test_stopped_redis(void **state)
{
    struct ev_loop *loop = new_loop();
    rs_server *rs = rs_start(NULL);
    const char *get[2] = {"GET", "k"}, *pub[3] = {"PUBLISH", "vr:c", "again"};
    vr_redis_stats st;
    seen s;
    answer a, b;
    vr_redis *r;

    (void)state;
    r = engine(loop, rs->address, NULL, &s);
    assert_int_equal(vr_redis_subscribe(r, "vr:c"), 0);
    until(loop, &s.ups, 1, BACK_UP_MS, "up");

    rs_signal(rs, SIGSTOP);
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    assert_int_equal(vr_redis_command(r, on_answer, &a, 2, get, NULL), 0);
    assert_int_equal(vr_redis_command(r, on_answer, &b, 2, get, NULL), 0);
    vr_redis_flush(r);
    until(loop, &b.done, 1, DL_GENEROUS(CMD_TIMEOUT_MS), "answers while Redis is stopped");
    assert_int_equal(a.done, 1);
    assert_false(a.is_reply);
    assert_non_null(strstr(a.err, "timed out"));
    assert_non_null(strstr(b.err, "timed out"));
    until(loop, &s.downs, 1, DL_WAIT_MS, "down");
    assert_false(vr_redis_up(r));
    assert_int_equal(vr_redis_command(r, on_answer, &a, 2, get, NULL), VERANI_EIO);
    assert_non_null(strstr(vr_redis_last_error(r), "timed out"));
    /* attempts while it is stopped time out too, and go on */
    spin(loop, 3 * CONNECT_TIMEOUT_MS);
    assert_false(vr_redis_up(r));

    rs_signal(rs, SIGCONT);
    until(loop, &s.ups, 2, BACK_UP_MS, "up again");
    cmd(loop, r, &a, 2, get, NULL);
    assert_true(a.is_reply);
    assert_string_equal(a.err, "");
    cmd(loop, r, &a, 3, pub, NULL);
    assert_int_equal(a.integer, 1); /* subscribed again */
    until(loop, &s.messages, 1, DL_WAIT_MS, "messages");
    vr_redis_get_stats(r, &st);
    assert_true(st.timeouts >= 1);
    assert_true(st.reconnects >= 1);
    assert_int_equal(st.failed, 2);
    engine_free(r);
    rs_free(rs);
}

/* Redis dies and comes back on the same socket: the engine reconnects by itself. */
static void test_restarted_redis(void **state)
{
    struct ev_loop *loop = new_loop();
    rs_server *rs = rs_start(NULL);
    const char *ping[1] = {"PING"}, *pub[3] = {"PUBLISH", "vr:c", "back"};
    seen s;
    answer a;
    vr_redis *r;

    (void)state;
    r = engine(loop, rs->address, NULL, &s);
    assert_int_equal(vr_redis_subscribe(r, "vr:c"), 0);
    until(loop, &s.ups, 1, BACK_UP_MS, "up");
    rs_signal(rs, SIGKILL);
    until(loop, &s.downs, 1, DL_WAIT_MS, "down");
    assert_non_null(strstr(vr_redis_last_error(r), "connection"));
    spin(loop, 2 * BACKOFF_MAX_MS); /* refused attempts meanwhile */
    assert_false(vr_redis_up(r));
    rs_restart(rs);
    until(loop, &s.ups, 2, BACK_UP_MS, "up again");
    cmd(loop, r, &a, 1, ping, NULL);
    assert_int_equal(a.type, REDIS_REPLY_STATUS);
    cmd(loop, r, &a, 3, pub, NULL);
    assert_int_equal(a.integer, 1);
    until(loop, &s.messages, 1, DL_WAIT_MS, "messages");
    assert_string_equal(s.last_message, "back");
    engine_free(r);
    rs_free(rs);
}

static void test_auth(void **state)
{
    struct ev_loop *loop = new_loop();
    rs_server *rs = rs_start("--requirepass s3cret");
    const char *ping[1] = {"PING"};
    vr_redis_stats st;
    seen s, w;
    answer a;
    vr_redis *r, *wrong;

    (void)state;
    r = engine(loop, rs->address, "s3cret", &s);
    assert_int_equal(vr_redis_subscribe(r, "vr:c"), 0); /* the sub connection authenticates too */
    until(loop, &s.ups, 1, BACK_UP_MS, "up");
    cmd(loop, r, &a, 1, ping, NULL);
    assert_string_equal(a.err, "");

    wrong = engine(loop, rs->address, "nope", &w);
    spin(loop, 4 * BACKOFF_MAX_MS);
    assert_int_equal(w.ups, 0);
    assert_false(vr_redis_up(wrong));
    assert_non_null(strstr(vr_redis_last_error(wrong), "AUTH refused"));
    vr_redis_get_stats(wrong, &st);
    assert_int_equal(st.up, 0);
    engine_free(wrong);
    engine_free(r);
    rs_free(rs);
}

static void test_bad_addresses(void **state)
{
    static const struct {
        const char *address, *says;
    } bad[] = {
        {"redis.example.com:6379", "not an IP address"},
        {"redis://localhost", "not an IP address"},
        {"unix:relative.sock", "absolute"},
        {"127.0.0.1:0", "port"},
        {"127.0.0.1:70000", "port"},
        {"[::1", "']'"},
        {"", "no Redis address"},
    };
    struct ev_loop *loop = new_loop();
    vr_redis_options o;
    char err[512];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&o, 0, sizeof(o));
        o.address = bad[i].address;
        err[0] = '\0';
        assert_null(vr_redis_create(loop, &o, err, sizeof(err)));
        if (!strstr(err, bad[i].says))
            fail_msg("'%s': error '%s' does not say '%s'", bad[i].address, err, bad[i].says);
    }
    /* good ones are taken */
    {
        static const char *good[] = {"redis://127.0.0.1:6399", "127.0.0.1", "[::1]:6399", "::1",
                                     "unix:/nonexistent/redis.sock"};

        for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            vr_redis *r;

            memset(&o, 0, sizeof(o));
            o.address = good[i];
            r = vr_redis_create(loop, &o, err, sizeof(err));
            if (!r)
                fail_msg("'%s' refused: %s", good[i], err);
            vr_redis_destroy(r);
        }
    }
}

/* No Redis at all: the engine never comes up, commands are refused at once with the reason,
 * and it goes on trying (nothing blocks, nothing crashes). */
static void test_no_redis(void **state)
{
    struct ev_loop *loop = new_loop();
    const char *ping[1] = {"PING"};
    seen s;
    answer a;
    vr_redis *r;

    (void)state;
    r = engine(loop, "unix:/nonexistent/verani-redis.sock", NULL, &s);
    spin(loop, 4 * BACKOFF_MAX_MS);
    assert_int_equal(s.ups, 0);
    assert_int_equal(vr_redis_command(r, on_answer, &a, 1, ping, NULL), VERANI_EIO);
    assert_non_null(strstr(vr_redis_last_error(r), "cannot connect"));
    engine_free(r);
}

/* Destroying the engine with commands in flight answers each of them once. */
static void test_destroy_in_flight(void **state)
{
    struct ev_loop *loop = new_loop();
    rs_server *rs = rs_start(NULL);
    const char *get[2] = {"GET", "k"};
    seen s;
    answer a, b;
    vr_redis *r;

    (void)state;
    r = engine(loop, rs->address, NULL, &s);
    until(loop, &s.ups, 1, BACK_UP_MS, "up");
    rs_signal(rs, SIGSTOP); /* nothing gets answered */
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    assert_int_equal(vr_redis_command(r, on_answer, &a, 2, get, NULL), 0);
    assert_int_equal(vr_redis_command(r, on_answer, &b, 2, get, NULL), 0);
    vr_redis_flush(r);
    engine_free(r);
    assert_int_equal(a.done, 1);
    assert_int_equal(b.done, 1);
    assert_string_equal(a.err, "shutting down");
    rs_free(rs);
}

/* A partition through the fault proxy: held bytes make the waiting command time out and the
 * engine go down (new connections through the proxy cannot finish their handshake); when
 * the partition heals the engine is back, and the late bytes of the dropped connection never
 * answer a new command. A cut connection (RST) is reconnected. */
static void test_partition(void **state)
{
    struct ev_loop *loop = new_loop();
    rs_server *rs = rs_start(NULL);
    fault_proxy *fp = fp_start(rs->dir, rs->sock);
    const char *set1[3] = {"SET", "k", "one"}, *set2[3] = {"SET", "k", "two"};
    const char *get[2] = {"GET", "k"};
    seen s;
    answer a;
    vr_redis *r;

    (void)state;
    r = engine(loop, fp_address(fp), NULL, &s);
    until(loop, &s.ups, 1, BACK_UP_MS, "up");
    cmd(loop, r, &a, 3, set1, NULL);
    fp_set(fp, FP_HOLD);
    memset(&a, 0, sizeof(a));
    assert_int_equal(vr_redis_command(r, on_answer, &a, 3, set2, NULL), 0);
    vr_redis_flush(r);
    until(loop, &a.done, 1, DL_GENEROUS(CMD_TIMEOUT_MS), "the held command's end");
    assert_false(a.is_reply);
    assert_non_null(strstr(a.err, "timed out"));
    until(loop, &s.downs, 1, DL_WAIT_MS, "down");
    spin(loop, 3 * CONNECT_TIMEOUT_MS); /* attempts through the held proxy time out */
    assert_false(vr_redis_up(r));
    fp_set(fp, FP_PASS);
    until(loop, &s.ups, 2, BACK_UP_MS, "up after the partition");
    cmd(loop, r, &a, 2, get, NULL);
    /* the GET gets its own answer, a string: not the late "+OK" of the SET held in the
     * partition (which may or may not have reached Redis: a partition can deliver late) */
    assert_int_equal(a.type, REDIS_REPLY_STRING);
    assert_int_equal(a.len, 3);
    assert_true(!memcmp(a.str, "one", 3) || !memcmp(a.str, "two", 3));

    fp_set(fp, FP_RESET);
    until(loop, &s.downs, 2, DL_WAIT_MS, "down after the cut");
    until(loop, &s.ups, 3, BACK_UP_MS, "up after the cut");
    cmd(loop, r, &a, 2, get, NULL);
    assert_int_equal(a.type, REDIS_REPLY_STRING);
    engine_free(r);
    fp_free(fp);
    rs_free(rs);
}

static const vt_case cases[] = {
    VT_CASE(test_partition, ""),
    VT_CASE(test_round_trips, ""),
    VT_CASE(test_pubsub, ""),
    VT_CASE(test_stopped_redis, ""),
    VT_CASE(test_restarted_redis, ""),
    VT_CASE(test_auth, ""),
    VT_CASE(test_bad_addresses, ""),
    VT_CASE(test_no_redis, ""),
    VT_CASE(test_destroy_in_flight, ""),
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("redis_engine", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
