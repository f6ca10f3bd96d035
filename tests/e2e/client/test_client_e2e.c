/* SPDX-License-Identifier: MIT */
/*
 * test_client_e2e.c: the client and its generated typed layer (ce_client.h,
 * from client_e2e.verani) against the real server, run as a child process
 * (client_test_server, its path in argv[1]) on 127.0.0.1 with an ephemeral
 * port. Covers: typed round trips of every kind; the server killed
 * (SIGKILL) and stopped gracefully (1012) while the client keeps emitting,
 * with every frame queued meanwhile arriving once and in order; a stopped
 * server (SIGSTOP) detected by the pong timeout; close 1008 ending in
 * `error` without reconnecting; server closes with 1000 and 1001 ending in
 * `disconnected` and one with 4100 reconnecting; a request timing out and one failing on
 * disconnect; a close the client cannot read (1006) after it sent frames,
 * which it treats as a lost connection and reconnects; the loop on its own
 * thread with emits from four threads; extra upgrade headers and
 * reconnect(); wss:// with a CA file, with verification off, and refused
 * without either; and 1,000 clients on one loop all receiving a broadcast.
 * Timeouts are small through the options; no test asserts a duration. The
 * server process and the callback counters are in client_e2e_harness.c; the
 * offline behaviour (attempt counting, queue bound, wait timeout) is in
 * test_client_offline.c.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <verani/verani.h>

#include "cases.h"
#include "ce_client.h"
#include "client_e2e_harness.h"
#include "client_test_util.h"
#include "deadline.h"

/* --- tests ------------------------------------------------------------------- */

static void test_round_trips(void **state)
{
    char longtext[200], err[256];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client_info info;
    verani_client *c;
    server s;
    watch w;
    Ce__Note m;
    int before;

    (void)state;
    loop = begin(&s, NULL, &o);
    c = client_new(loop, s.port, "/t/rt?userId=alice", &o, &w);

    /* Emitted before the connection exists: queued, sent after the welcome. */
    m = note("early", 1);
    assert_int_equal(ce_test_client_emit_note(c, &m), 0);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);
    assert_int_equal(w.opens, 1);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_string_equal(info.user_id, "alice");
    assert_true(strlen(info.client_id) > 0);
    assert_true(verani_client_in_channel(c, "default"));
    until_count(loop, &w.noted, 1);
    assert_int_equal(w.last_noted_n, 1);

    /* Request and reply. */
    m = note("hello", 41);
    assert_int_equal(ce_test_client_request_echo(c, &m, 0, w_echo, &w), 0);
    until_count(loop, &w.replies, 1);
    assert_int_equal(w.last_status, VERANI_REPLY_OK);
    assert_int_equal(w.last_reply_n, 42);

    /* A handler failure comes back as an error reply. */
    assert_int_equal(ce_test_client_request_fail(c, 0, w_fail, &w), 0);
    until_count(loop, &w.replies, 2);
    assert_int_equal(w.last_status, VERANI_REPLY_ERROR);
    assert_true(strlen(w.last_error) > 0);

    /* A payload-less event both ways. */
    assert_int_equal(ce_test_client_emit_poke(c), 0);
    until_count(loop, &w.ticks, 1);

    /* The client validates before sending. */
    memset(longtext, 'x', 150);
    longtext[150] = '\0';
    m = note(longtext, 3);
    assert_int_equal(ce_test_client_emit_note(c, &m), VERANI_EINVAL);
    assert_int_equal(verani_client_last_error(c, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "text"));

    /* Channels: join, events on it (once and on), leave, refused join. */
    assert_int_equal(verani_client_join(c, "blue", w_channel, &w), 0);
    until_count(loop, &w.channel_answers, 1);
    assert_int_equal(w.last_channel_status, VERANI_REPLY_OK);
    assert_true(verani_client_in_channel(c, "blue"));
    assert_int_equal(ce_test_client_once_note(c, w_once_note, &w), 0);
    m = note("blue", 7);
    assert_int_equal(ce_test_client_emit_shout(c, &m), 0);
    until_count(loop, &w.notes, 1);
    assert_string_equal(w.last_note_channel, "blue");
    assert_int_equal(ce_test_client_emit_shout(c, &m), 0);
    until_count(loop, &w.notes, 2);
    assert_int_equal(w.once_notes, 1); /* once: removed after its first call */

    assert_int_equal(verani_client_leave(c, "blue", w_channel, &w), 0);
    until_count(loop, &w.channel_answers, 2);
    assert_int_equal(w.last_channel_status, VERANI_REPLY_OK);
    assert_false(verani_client_in_channel(c, "blue"));
    assert_int_equal(verani_client_join(c, "forbidden", w_channel, &w), 0);
    until_count(loop, &w.channel_answers, 3);
    assert_int_equal(w.last_channel_status, VERANI_REPLY_ERROR);
    assert_false(verani_client_in_channel(c, "forbidden"));

    /* No longer in blue: a shout there is not received; one to default is. */
    assert_int_equal(ce_test_client_emit_shout(c, &m), 0);
    m = note("default", 8);
    assert_int_equal(ce_test_client_emit_shout(c, &m), 0);
    until_count(loop, &w.notes, 3);
    assert_string_equal(w.last_note_channel, "default");

    /* off: no more noted callbacks (the echo reply comes after where it would be). */
    assert_int_equal(ce_test_client_off_noted(c, w_noted, &w), 1);
    before = w.noted;
    m = note("quiet", 9);
    assert_int_equal(ce_test_client_emit_note(c, &m), 0);
    assert_int_equal(ce_test_client_request_echo(c, &m, 0, w_echo, &w), 0);
    until_count(loop, &w.replies, 3);
    assert_int_equal(w.noted, before);

    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_true(info.last_seq > 0);
    assert_int_equal(info.dropped, 0);

    /* disconnect: close 1000 seen, state DISCONNECTED, no reconnection. */
    assert_int_equal(verani_client_disconnect(c), 0);
    assert_int_equal(w.last_close_code, 1000);
    assert_int_equal(verani_client_get_state(c), VERANI_CLIENT_DISCONNECTED);
    end_all(c, loop, &s);
}

/* Emit one note per turn (5 ms at most) until `stop` returns true or `max` notes
 * went out; with `stop`, fail unless it returns true within DL_WAIT_MS. */
typedef int (*stop_fn)(verani_client *c, watch *w);

static int is_down(verani_client *c, watch *w)
{
    (void)w;
    return verani_client_get_state(c) != VERANI_CLIENT_CONNECTED;
}

static uint32_t emit_until(verani_client_loop *loop, verani_client *c, watch *w, uint32_t n,
                           uint32_t max, stop_fn stop)
{
    int64_t end = dl_after(DL_WAIT_MS);
    Ce__Note m;
    uint32_t k;

    for (k = 0; k < max && !(stop && stop(c, w)); k++) {
        if (stop && dl_passed(end))
            fail_msg("still connected after %u notes", k);
        m = note("seq", ++n);
        assert_int_equal(ce_test_client_emit_note(c, &m), 0);
        assert_int_equal(verani_client_loop_service(loop, 5), 0);
    }
    return n;
}

/* One echo round trip: every frame sent before it has been handled by the server. */
static void sync_echo(verani_client_loop *loop, verani_client *c, watch *w)
{
    Ce__Note m = note("sync", 0);
    int r0 = w->replies;

    assert_int_equal(ce_test_client_request_echo(c, &m, 0, w_echo, w), 0);
    until_count(loop, &w->replies, r0 + 1);
    assert_int_equal(w->last_status, VERANI_REPLY_OK);
}

static void test_restart_keeps_order(void **state)
{
    char log[512];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client_info info;
    verani_client *c;
    uint32_t got[4096], n = 0, first_queued[2];
    size_t k, i, j;
    int port, phase;
    server s;
    watch w;

    (void)state;
    tmp_path(log, sizeof(log), "restart.log");
    unlink(log);
    loop = begin(&s, log, &o);
    port = s.port;
    o.initial_delay_ms = 20;
    o.max_delay_ms = 100;
    o.max_attempts = VERANI_CLIENT_UNLIMITED;
    o.ping_interval_ms = VERANI_CLIENT_NO_PING;
    c = client_new(loop, port, "/t/restart?userId=kr", &o, &w);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);

    for (phase = 0; phase < 2; phase++) {
        n = emit_until(loop, c, &w, n, 20, NULL);
        /* Phase 0: the process dies (1006); phase 1: it stops gracefully (1012). */
        server_kill(&s, phase == 0 ? SIGKILL : SIGTERM);
        n = emit_until(loop, c, &w, n, 2000, is_down);
        first_queued[phase] = n + 1; /* from here on the client knows it is offline */
        n = emit_until(loop, c, &w, n, 30, NULL); /* queued while the server is away */
        assert_int_equal(verani_client_get_info(c, &info), 0);
        assert_true(info.queued >= 30);
        server_start(&s, port, log);
        assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);
        /* The server reads what was flushed before it is stopped again (a
         * stop discards what a server has not read: resume is issue 5's). */
        sync_echo(loop, c, &w);
        n = emit_until(loop, c, &w, n, 20, NULL);
    }
    assert_int_equal(w.opens, 3);
    assert_int_equal(w.reconnecting >= 2, 1);
    assert_int_equal(w.last_close_code, 1012); /* graceful stop: reconnected after 1012 */
    assert_int_equal(w.error_state, 0);
    /* A round trip after the last note: every note before it was handled. */
    sync_echo(loop, c, &w);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_int_equal(info.dropped, 0);

    k = read_log(log, "kr", got, 4096);
    /* Once each, in order. */
    for (i = 1; i < k; i++)
        assert_true(got[i] > got[i - 1]);
    /* Everything sent after the client knew it was offline arrived. */
    for (phase = 0; phase < 2; phase++) {
        uint32_t from = first_queued[phase];
        uint32_t want;

        for (want = from; want < from + 30; want++) {
            for (j = 0; j < k && got[j] != want; j++)
                ;
            if (j == k) {
                for (j = 0; j < k; j++)
                    fprintf(stderr, "%u%c", got[j], j + 1 < k ? ' ' : '\n');
                fail_msg("note %u, queued while the server was down, never arrived", want);
            }
        }
    }
    /* And the last ones, sent while connected. */
    assert_int_equal(got[k - 1], n);

    end_all(c, loop, &s);
    unlink(log);
}

static void test_pong_timeout(void **state)
{
    verani_client_options o;
    verani_client_loop *loop;
    verani_client *c;
    server s;
    watch w;

    (void)state;
    loop = begin(&s, NULL, &o);
    o.ping_interval_ms = 100;
    o.pong_timeout_ms = 1000; /* a loaded machine may keep a running server from answering 200 ms */
    o.connect_timeout_ms = 300;
    o.initial_delay_ms = 20;
    o.max_delay_ms = 100;
    o.max_attempts = VERANI_CLIENT_UNLIMITED;
    c = client_new(loop, s.port, "/t/pong?userId=p", &o, &w);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);
    /* Pings are answered: a while later it is still the same connection. */
    {
        verani_client_info info;

        service_for(loop, 3 * o.ping_interval_ms);
        assert_int_equal(verani_client_get_info(c, &info), 0);
        assert_int_equal(info.connection_id, 1);
        assert_int_equal(info.state, VERANI_CLIENT_CONNECTED);
    }
    server_kill(&s, SIGSTOP);
    until_count_within(loop, &w.reconnecting, 1,
                       DL_GENEROUS(o.ping_interval_ms + o.pong_timeout_ms));
    assert_int_equal(w.closes, 1);
    assert_int_equal(w.last_close_code, 1006);
    assert_string_equal(w.last_close_reason, "pong timeout");
    assert_true(w.timeouts >= 1);
    server_kill(&s, SIGCONT);
    /* the attempt under way may have to time out first, then one backoff */
    until_count_within(loop, &w.opens, 2, DL_GENEROUS(o.connect_timeout_ms + o.max_delay_ms));
    assert_int_equal(verani_client_get_state(c), VERANI_CLIENT_CONNECTED);
    end_all(c, loop, &s);
}

/* While connected, what waits to be written is bounded by max_send_bytes: emits and requests
 * made faster than the loop writes them (here: without servicing it at all) are refused with
 * VERANI_EFULL once the queue holds that much, the client's last error says why, nothing is
 * dropped; once written, sending goes on. The server got exactly the accepted notes, in order. */
static void test_send_queue_bound(void **state)
{
    char log[256], why[256];
    uint32_t got[512];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client_info info;
    verani_client *c;
    server s;
    watch w;
    uint32_t i, accepted = 0;
    size_t n;

    (void)state;
    tmp_path(log, sizeof(log), "sendq.log");
    unlink(log);
    loop = begin(&s, log, &o);
    o.max_send_bytes = 1024;
    c = client_new(loop, s.port, "/t/sendq?userId=q", &o, &w);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);
    for (i = 1; i <= 400; i++) {
        Ce__Note m = note("a-note-of-some-length", i);
        int r = ce_test_client_emit_note(c, &m);

        if (r == VERANI_EFULL)
            break;
        assert_int_equal(r, 0);
        accepted = i;
    }
    assert_true(i <= 400); /* refused before 400 notes of about 30 bytes */
    assert_true(accepted >= 20);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_int_equal(info.queued, accepted);
    assert_int_equal(verani_client_last_error(c, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "max_send_bytes (1024)"));
    {
        /* a request is refused the same way, and ends no callback */
        Ce__Note m = note("r", 1);

        assert_int_equal(ce_test_client_request_echo(c, &m, 5000, w_echo, &w), VERANI_EFULL);
    }
    until_written(loop, c);
    {
        Ce__Note m = note("a-note-of-some-length", accepted + 1);

        assert_int_equal(ce_test_client_emit_note(c, &m), 0);
        accepted++;
    }
    until_written(loop, c);
    for (i = 0; i < 500 && read_log(log, "q", got, 512) < accepted; i++)
        service_for(loop, 10);
    n = read_log(log, "q", got, 512);
    assert_int_equal(n, accepted);
    for (i = 0; i < n; i++)
        assert_int_equal(got[i], i + 1);
    assert_int_equal(w.replies, 0);
    assert_int_equal(verani_client_get_state(c), VERANI_CLIENT_CONNECTED);
    end_all(c, loop, &s);
    unlink(log);
}

/* A fresh session's HELLO goes in the upgrade (?hello=, PROTOCOL.md section 3), a resume's as
 * the first frame: the resume token is never written into a URL. The server logs each upgrade
 * (client_test_server's extract_meta): folded (1) for the first, not (0) for the resume after a
 * pong timeout; the session resumed. */
static void test_hello_folded_fresh_only(void **state)
{
    char log[256];
    uint32_t up[4];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client_info info;
    verani_client *c;
    server s;
    watch w;

    (void)state;
    tmp_path(log, sizeof(log), "fold.log");
    unlink(log);
    loop = begin(&s, log, &o);
    o.ping_interval_ms = 100;
    o.pong_timeout_ms = 1000;
    o.connect_timeout_ms = 300;
    o.initial_delay_ms = 20;
    o.max_delay_ms = 100;
    o.max_attempts = VERANI_CLIENT_UNLIMITED;
    c = client_new(loop, s.port, "/t/fold?userId=fold", &o, &w);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);
    assert_int_equal(read_log(log, "upgrade:fold", up, 4), 1);
    assert_int_equal(up[0], 1);
    server_kill(&s, SIGSTOP); /* the pong timeout drops the connection without a close frame */
    until_count_within(loop, &w.reconnecting, 1,
                       DL_GENEROUS(o.ping_interval_ms + o.pong_timeout_ms));
    server_kill(&s, SIGCONT);
    until_count_within(loop, &w.opens, 2, DL_GENEROUS(o.connect_timeout_ms + o.max_delay_ms));
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_true(info.resumed);
    /* attempts that timed out while the server was stopped may have logged more upgrades: each
     * carried the token, so none folded */
    assert_true(read_log(log, "upgrade:fold", up, 4) >= 2);
    assert_int_equal(up[1], 0);
    verani_client_destroy(c);
    /* a URL's fragment is no part of a WebSocket's request (RFC 6455 section 3): it goes, and
     * the query the server reads ends with the folded HELLO, not with "#part&hello=..." */
    c = client_new(loop, s.port, "/t/fold?userId=frag#part", &o, &w);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);
    assert_int_equal(read_log(log, "upgrade:frag", up, 4), 1);
    assert_int_equal(up[0], 1);
    end_all(c, loop, &s);
    unlink(log);
}

static void test_policy_close_no_reconnect(void **state)
{
    verani_client_options o;
    verani_client_loop *loop;
    verani_client_info info;
    verani_client *c;
    Ce__Note m = note("x", 1);
    server s;
    watch w;
    int i;

    (void)state;
    loop = begin(&s, NULL, &o);
    o.room = &ce_strict_schema;
    o.initial_delay_ms = 10;
    c = client_new(loop, s.port, "/strict?userId=s", &o, &w);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);
    /* Past the room's rate in one burst: rate_limited errors, then close 1008. The server
     * completes the close handshake (it reads and drops what follows its close frame until
     * the client answers it), so the close frame arrives intact however much input is still
     * on its way: no TCP reset, no 1006. */
    for (i = 0; i < 40; i++)
        assert_int_equal(ce_strict_client_emit_note(c, &m), 0);
    until_state(loop, c, VERANI_CLIENT_ERROR);
    assert_int_equal(w.last_close_code, 1008);
    assert_true(w.errors >= 1);
    /* No reconnection follows (the backoff would have been 10 ms). */
    service_for(loop, 300);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_int_equal(info.state, VERANI_CLIENT_ERROR);
    assert_int_equal(info.connection_id, 1);
    assert_int_equal(w.reconnecting, 0);
    assert_int_equal(w.opens, 1);
    end_all(c, loop, &s);
}

/* A server message over max_rx_frame (here the WELCOME itself) closes with 1009 and ends in
 * ERROR, on_error naming the limit: a reconnect would be sent the same frame again (a resume
 * replays it), so the client does not loop. */
static void test_frame_over_max_rx(void **state)
{
    verani_client_options o;
    verani_client_loop *loop;
    verani_client_info info;
    verani_client *c;
    char why[256];
    server s;
    watch w;

    (void)state;
    loop = begin(&s, NULL, &o);
    o.initial_delay_ms = 10;
    o.max_delay_ms = 20;
    o.max_rx_frame = 16;
    c = client_new(loop, s.port, "/t/big?userId=b", &o, &w);
    until_state(loop, c, VERANI_CLIENT_ERROR);
    service_for(loop, 300); /* ample for reconnects 10 to 20 ms apart, were there any */
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_int_equal(info.state, VERANI_CLIENT_ERROR);
    assert_int_equal(info.connection_id, 1);
    assert_int_equal(w.reconnecting, 0);
    assert_true(w.errors >= 1);
    assert_int_equal(verani_client_last_error(c, why, sizeof(why)), 0);
    if (!strstr(why, "max_rx_frame"))
        fail_msg("the client's last error is '%s', not naming max_rx_frame", why);
    end_all(c, loop, &s);
}

/* Service `loop` until `ms` pass (to see that nothing more happens). */
static void settle(verani_client_loop *loop, int ms)
{
    int64_t end = dl_after(ms);

    while (!dl_passed(end))
        assert_int_equal(verani_client_loop_service(loop, 10), 0);
}

/* Service `loop` until the state of `c` is `st` or w->opens reaches `opens` (whichever is
 * asked: st < 0 or opens <= 0 is not), within the wait bound DL_WAIT_MS. */
static void until_dl(verani_client_loop *loop, verani_client *c, int st, const watch *w,
                     int opens)
{
    int64_t end = dl_after(DL_WAIT_MS);

    while (!dl_passed(end) && !(st >= 0 && (int)verani_client_get_state(c) == st) &&
           !(opens > 0 && w->opens >= opens))
        assert_int_equal(verani_client_loop_service(loop, 10), 0);
}

/* PROTOCOL.md section 7: a server close with 1000 or 1001 ended the session, and the client
 * does not reconnect (DISCONNECTED); with 1008 it does not either, and ends in ERROR saying why
 * to on_error (VERANI_EDENIED, as a refused upgrade); after another code (an application's
 * 4100) it reconnects. */
static void test_server_close_codes(void **state)
{
    static const int codes[4] = {1000, 1001, 1008, 4100};
    char why[256];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client *c;
    Ce__Note m = note("", 1);
    char text[16];
    server s;
    watch w;
    int i;

    (void)state;
    loop = begin(&s, NULL, &o);
    o.initial_delay_ms = 10;
    o.max_delay_ms = 50;
    for (i = 0; i < 4; i++) {
        c = client_new(loop, s.port, "/t/cc?userId=cc", &o, &w);
        assert_int_equal(verani_client_wait_for_connection(c, 10000), 0);
        snprintf(text, sizeof(text), "close:%d", codes[i]);
        m.text = text;
        assert_int_equal(ce_test_client_emit_note(c, &m), 0);
        if (codes[i] < 4000) {
            verani_client_state end = codes[i] == 1008 ? VERANI_CLIENT_ERROR
                                                       : VERANI_CLIENT_DISCONNECTED;

            until_dl(loop, c, (int)end, &w, 0);
            settle(loop, 300); /* ample for a reconnect 10 ms later, were there one */
            assert_int_equal(verani_client_get_state(c), end);
            assert_int_equal(w.reconnecting, 0);
            assert_int_equal(w.opens, 1);
            assert_int_equal(w.errors, codes[i] == 1008);
            if (codes[i] == 1008) {
                assert_int_equal(w.last_err, VERANI_EDENIED);
                assert_int_equal(verani_client_last_error(c, why, sizeof(why)), 0);
                if (!strstr(why, "1008 (asked to close)"))
                    fail_msg("the client's last error is '%s'", why);
            }
        } else {
            until_dl(loop, c, -1, &w, 2);
            assert_int_equal(w.opens, 2);
        }
        assert_int_equal(w.last_close_code, codes[i]);
        verani_client_destroy(c);
    }
    end_all(NULL, loop, &s);
}

static void test_request_timeout_and_disconnect(void **state)
{
    verani_client_options o;
    verani_client_loop *loop;
    verani_client *c;
    Ce__Note m = note("r", 1);
    server s;
    watch w;

    (void)state;
    loop = begin(&s, NULL, &o);
    o.ping_interval_ms = VERANI_CLIENT_NO_PING;
    o.reconnect_disabled = 1; /* a written request waits for a resume while reconnecting */
    c = client_new(loop, s.port, "/t/req?userId=r", &o, &w);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);

    server_kill(&s, SIGSTOP);
    assert_int_equal(ce_test_client_request_echo(c, &m, 50, w_echo, &w), 0);
    until_count(loop, &w.replies, 1);
    assert_int_equal(w.last_status, VERANI_REPLY_TIMEOUT);

    assert_int_equal(ce_test_client_request_echo(c, &m, 60000, w_echo, &w), 0);
    until_written(loop, c);
    server_kill(&s, SIGKILL);
    until_count(loop, &w.replies, 2);
    assert_int_equal(w.last_status, VERANI_REPLY_DISCONNECTED);

    /* Destroying the client cancels what is still pending. */
    assert_int_equal(ce_test_client_request_echo(c, &m, 60000, w_echo, &w), 0);
    verani_client_destroy(c);
    assert_int_equal(w.replies, 3);
    assert_int_equal(w.last_status, VERANI_REPLY_CANCELLED);
    loop_free(loop);
}

/*
 * A close the client cannot read (1006) after it sent frames: the server
 * stops reading (SIGSTOP), frames and a request are written to it, then it
 * dies with that input unread, so TCP resets the connection and no close
 * frame arrives. That is a lost connection like any other: the client
 * reconnects (not `error`) and works on the next server; the request written
 * on it waits for that welcome, which is a fresh session (the server kept
 * nothing), so it ends DISCONNECTED.
 */
static void test_unreadable_close_reconnects(void **state)
{
    verani_client_options o;
    verani_client_loop *loop;
    verani_client_info info;
    verani_client *c;
    Ce__Note m = note("unread", 1);
    server s;
    watch w;
    int port, i;

    (void)state;
    loop = begin(&s, NULL, &o);
    port = s.port;
    o.ping_interval_ms = VERANI_CLIENT_NO_PING;
    o.initial_delay_ms = 10;
    o.max_delay_ms = 50;
    o.max_attempts = VERANI_CLIENT_UNLIMITED;
    c = client_new(loop, port, "/t/unread?userId=u", &o, &w);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);

    server_kill(&s, SIGSTOP);
    for (i = 0; i < 5; i++)
        assert_int_equal(ce_test_client_emit_note(c, &m), 0);
    assert_int_equal(ce_test_client_request_echo(c, &m, 60000, w_echo, &w), 0);
    until_written(loop, c);
    server_kill(&s, SIGKILL);
    until_count(loop, &w.reconnecting, 1);
    assert_int_equal(w.closes, 1);
    assert_int_equal(w.last_close_code, 1006);
    assert_int_equal(w.replies, 0); /* the session might resume */
    assert_int_equal(w.error_state, 0);
    assert_int_not_equal(verani_client_get_state(c), VERANI_CLIENT_ERROR);

    server_start(&s, port, NULL);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);
    assert_int_equal(w.opens, 2);
    assert_int_equal(w.replies, 1);
    assert_int_equal(w.last_status, VERANI_REPLY_DISCONNECTED);
    assert_int_equal(w.error_state, 0);
    sync_echo(loop, c, &w);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_int_equal(info.attempts, 0); /* reset by the welcome */
    end_all(c, loop, &s);
}

/* The loop on its own thread: four threads emit at once. */
typedef struct emitter {
    verani_client *c;
    uint32_t base;
} emitter;

static void *emit_thread(void *arg)
{
    emitter *e = arg;
    uint32_t i;

    for (i = 1; i <= 100; i++) {
        Ce__Note m = note("t", e->base + i);

        if (ce_test_client_emit_note(e->c, &m) != 0)
            return (void *)1;
    }
    return NULL;
}

static volatile int g_thread_reply;

static void thread_echo(verani_client *c, verani_reply_status st, const Ce__Note *reply,
                        const char *error, void *u)
{
    (void)c;
    (void)reply;
    (void)error;
    (void)u;
    __atomic_store_n(&g_thread_reply, st == VERANI_REPLY_OK ? 1 : -1, __ATOMIC_SEQ_CST);
}

static void test_threaded_emitters(void **state)
{
    char log[512];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client *c;
    pthread_t t[4];
    emitter e[4];
    uint32_t got[1024], last[4] = {0, 0, 0, 0};
    Ce__Note m = note("end", 0);
    size_t k, i;
    int64_t end;
    void *ret;
    server s;

    (void)state;
    tmp_path(log, sizeof(log), "threads.log");
    unlink(log);
    server_start(&s, 0, log);
    loop = loop_new();
    assert_int_equal(verani_client_loop_start(loop), 0);
    verani_client_options_init(&o);
    c = client_new(loop, s.port, "/t/threads?userId=th", &o, NULL);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);
    for (i = 0; i < 4; i++) {
        e[i].c = c;
        e[i].base = (uint32_t)(i + 1) * 1000;
        assert_int_equal(pthread_create(&t[i], NULL, emit_thread, &e[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
    }
    __atomic_store_n(&g_thread_reply, 0, __ATOMIC_SEQ_CST);
    assert_int_equal(ce_test_client_request_echo(c, &m, 0, thread_echo, NULL), 0);
    for (end = dl_after(DL_WAIT_MS);
         !__atomic_load_n(&g_thread_reply, __ATOMIC_SEQ_CST) && !dl_passed(end);)
        dl_nap_ms(1);
    assert_int_equal(__atomic_load_n(&g_thread_reply, __ATOMIC_SEQ_CST), 1);
    k = read_log(log, "th", got, 1024);
    assert_int_equal(k, 400);
    for (i = 0; i < k; i++) {
        size_t th = got[i] / 1000 - 1;

        assert_true(th < 4);
        assert_int_equal(got[i], last[th] ? last[th] + 1 : (th + 1) * 1000 + 1);
        last[th] = got[i];
    }
    verani_client_destroy(c); /* from this thread, through the inbox */
    assert_int_equal(verani_client_loop_stop(loop), 0);
    loop_free(loop);
    server_kill(&s, SIGTERM);
    unlink(log);
}

/* Extra headers reach the server (its default meta takes X-User-Id); reconnect() by hand. */
static void test_headers_and_reconnect(void **state)
{
    static const char *const headers[] = {"X-User-Id: from-header", "Authorization: Bearer x"};
    char err[256];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client_info info;
    verani_client *c;
    server s;
    watch w;

    (void)state;
    loop = begin(&s, NULL, &o);
    o.headers = headers;
    o.n_headers = 2;
    c = client_new(loop, s.port, "/t/hdr", &o, &w);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_string_equal(info.user_id, "from-header");
    assert_int_equal(info.connection_id, 1);

    /* reconnect(): the client closes (1000) and connects again at once. */
    assert_int_equal(verani_client_reconnect(c), 0);
    assert_int_equal(w.closes, 1);
    assert_int_equal(w.last_close_code, 1000);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_int_equal(info.connection_id, 2);
    assert_int_equal(info.attempts, 0);
    assert_string_equal(info.user_id, "from-header");
    assert_int_equal(w.opens, 2);
    assert_int_equal(w.reconnecting, 0); /* no backoff for a reconnect asked for */

    /* A malformed header is refused at create. */
    {
        static const char *const bad[] = {"no colon here"};
        char url[128];

        verani_client_options_init(&o);
        snprintf(url, sizeof(url), "ws://127.0.0.1:%d/t/hdr", s.port);
        o.url = url;
        o.room = &ce_test_schema;
        o.headers = bad;
        o.n_headers = 1;
        assert_null(verani_client_create(loop, &o, err, sizeof(err)));
        assert_non_null(strstr(err, "no colon here"));
    }
    end_all(c, loop, &s);
}

/* An upgrade the server refuses (401: no user id) ends in `error`, not in retries. */
static void test_refused_upgrade(void **state)
{
    char err[256];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client_info info;
    verani_client *c;
    server s;
    watch w;

    (void)state;
    loop = begin(&s, NULL, &o);
    o.initial_delay_ms = 10;
    c = client_new(loop, s.port, "/t/anon", &o, &w);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), VERANI_ECLOSED);
    service_for(loop, 200); /* no retry follows (the backoff would have been 10 ms) */
    assert_int_equal(verani_client_get_info(c, &info), 0);
    assert_int_equal(info.state, VERANI_CLIENT_ERROR);
    assert_int_equal(info.connection_id, 1);
    assert_int_equal(w.reconnecting, 0);
    assert_int_equal(w.errors, 1);
    assert_int_equal(verani_client_last_error(c, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "401"));
    end_all(c, loop, &s);
}

/* Requests while nothing answers: one pushed out of the full queue, the rest
 * when the client gives up; a callback may destroy its client. */
static void destroy_on_state(verani_client *c, verani_client_state o, verani_client_state n,
                             void *u)
{
    (void)o;
    if (n == VERANI_CLIENT_RECONNECTING) {
        *(int *)u += 1;
        verani_client_destroy(c); /* freed once the callback returns */
    }
}

static void test_offline_requests(void **state)
{
    char err[256], url[128];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client *c;
    Ce__Note m = note("offline", 1);
    int fd, port, i, destroyed = 0;
    watch w;

    (void)state;
    fd = tcp_socket(0, &port); /* bound, not listening: connections are refused */

    loop = loop_new();
    verani_client_options_init(&o);
    o.max_queue = 3;
    o.initial_delay_ms = 10;
    o.max_attempts = VERANI_CLIENT_UNLIMITED;
    c = client_new(loop, port, "/t/x?userId=o", &o, &w);
    for (i = 0; i < 4; i++)
        assert_int_equal(ce_test_client_request_echo(c, &m, 60000, w_echo, &w), 0);
    assert_int_equal(w.replies, 1); /* the oldest was pushed out */
    assert_int_equal(w.last_status, VERANI_REPLY_DISCONNECTED);
    assert_int_equal(verani_client_disconnect(c), 0);
    assert_int_equal(w.replies, 4); /* no more reconnection: the rest end too */
    assert_int_equal(w.last_status, VERANI_REPLY_DISCONNECTED);
    verani_client_destroy(c);

    /* Destroyed from its own callback, in the middle of a failure. */
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/t/x?userId=o", port);
    verani_client_options_init(&o);
    o.url = url;
    o.room = &ce_test_schema;
    o.initial_delay_ms = 10;
    c = verani_client_create(loop, &o, err, sizeof(err));
    assert_non_null(c);
    assert_true(verani_client_on_state_change(c, destroy_on_state, &destroyed) > 0);
    assert_int_equal(ce_test_client_request_echo(c, &m, 60000, w_echo, &w), 0);
    until_count(loop, &destroyed, 1);
    assert_int_equal(destroyed, 1);
    assert_int_equal(w.replies, 5);
    assert_int_equal(w.last_status, VERANI_REPLY_CANCELLED);
    service_for(loop, 100);
    loop_free(loop);
    close(fd);
}

/* wss://: verified against a CA file, or with verification off; refused without either. */
static void test_tls(void **state)
{
    char cert[300], key[300], cmd[1024], err[256];
    verani_client_options o;
    verani_client_loop *loop;
    verani_client *good, *insecure, *unverified;
    watch wg, wi, wu;
    Ce__Note m = note("tls", 1);
    server s;

    (void)state;
    tmp_path(cert, sizeof(cert), "cert.pem");
    tmp_path(key, sizeof(key), "key.pem");
    snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s "
             "-days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             key, cert);
    if (system(cmd) != 0) {
        skip(); /* no openssl command on this machine */
        return;
    }
    g_cert = cert;
    g_key = key;
    server_start(&s, 0, NULL);
    g_cert = g_key = NULL;
    loop = loop_new();

    verani_client_options_init(&o);
    o.ca_file = cert; /* the self-signed certificate is its own CA */
    good = client_new(loop, s.port, "/t/tls?userId=t1", &o, &wg);
    verani_client_options_init(&o);
    o.insecure = 1;
    insecure = client_new(loop, s.port, "/t/tls?userId=t2", &o, &wi);
    assert_int_equal(verani_client_wait_for_connection(good, DL_WAIT_MS), 0);
    assert_int_equal(verani_client_wait_for_connection(insecure, DL_WAIT_MS), 0);
    assert_int_equal(ce_test_client_request_echo(good, &m, 0, w_echo, &wg), 0);
    assert_int_equal(ce_test_client_request_echo(insecure, &m, 0, w_echo, &wi), 0);
    until_count(loop, &wg.replies, 1);
    until_count(loop, &wi.replies, 1);
    assert_int_equal(wg.last_status, VERANI_REPLY_OK);
    assert_int_equal(wi.last_status, VERANI_REPLY_OK);
    assert_int_equal(wg.last_reply_n, 2);

    /* The system's CAs do not know this certificate: every attempt fails. */
    verani_client_options_init(&o);
    o.ca_file = NULL;
    o.insecure = 0;
    o.max_attempts = 1;
    o.initial_delay_ms = 10;
    {
        char url[128];

        snprintf(url, sizeof(url), "wss://127.0.0.1:%d/t/tls?userId=t3", s.port);
        o.url = url;
        o.room = &ce_test_schema;
        unverified = verani_client_create(loop, &o, err, sizeof(err));
        assert_non_null(unverified);
        memset(&wu, 0, sizeof(wu));
        assert_true(verani_client_on_error(unverified, w_error, &wu) > 0);
        assert_true(verani_client_on_open(unverified, w_open, &wu) > 0);
    }
    assert_int_equal(verani_client_wait_for_connection(unverified, DL_WAIT_MS), VERANI_ECLOSED);
    assert_int_equal(verani_client_get_state(unverified), VERANI_CLIENT_ERROR);
    assert_int_equal(wu.opens, 0);
    assert_true(wu.errors >= 1);

    loop_free(loop);
    server_kill(&s, SIGTERM);
    unlink(cert);
    unlink(key);
}

#define MANY 1000

static void test_thousand_clients(void **state)
{
    static verani_client *cs[MANY];
    static watch ws[MANY];
    char path[64];
    verani_client_options o;
    verani_client_loop *loop;
    int i, opened, got;
    int64_t end;
    Ce__Note m = note("default", 1);
    server s;

    (void)state;
    server_start(&s, 0, NULL);
    loop = loop_new();
    for (i = 0; i < MANY; i++) {
        verani_client_options_init(&o);
        o.max_attempts = VERANI_CLIENT_UNLIMITED;
        o.initial_delay_ms = 50;
        snprintf(path, sizeof(path), "/t/big?userId=u%d", i);
        cs[i] = client_new(loop, s.port, path, &o, &ws[i]);
    }
    /* 1,000 handshakes on a loaded machine under a sanitizer: far below a minute */
    for (end = dl_after(DL_GENEROUS(5000)), opened = 0; opened < MANY && !dl_passed(end);) {
        assert_int_equal(verani_client_loop_service(loop, 10), 0);
        for (i = 0, opened = 0; i < MANY; i++)
            opened += ws[i].opens > 0 && verani_client_get_state(cs[i]) ==
                                             VERANI_CLIENT_CONNECTED;
    }
    assert_int_equal(opened, MANY);
    assert_int_equal(ce_test_client_emit_shout(cs[0], &m), 0);
    for (end = dl_after(DL_GENEROUS(5000)), got = 0; got < MANY && !dl_passed(end);) {
        assert_int_equal(verani_client_loop_service(loop, 10), 0);
        for (i = 0, got = 0; i < MANY; i++)
            got += ws[i].notes;
    }
    assert_int_equal(got, MANY);
    for (i = 0; i < MANY; i++)
        assert_int_equal(ws[i].notes, 1);
    loop_free(loop); /* destroys the clients */
    server_kill(&s, SIGTERM);
}

/* The harness itself: with VERANI_TEST_DELIBERATE_FAILURE set, an assertion ends this test
 * while its server process, loop and a connected client are alive. CTest
 * (client_e2e_teardown) expects the failure message and no sanitizer report (the teardown,
 * kill_leftovers, frees the loop and kills the server). Skipped without the variable. */
static void test_teardown_after_failure(void **state)
{
    verani_client_options o;
    verani_client_loop *loop;
    verani_client *c;
    server s;
    watch w;

    (void)state;
    if (!getenv("VERANI_TEST_DELIBERATE_FAILURE")) {
        skip();
        return;
    }
    loop = begin(&s, NULL, &o);
    c = client_new(loop, s.port, "/t/doomed?userId=d", &o, &w);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);
    fail_msg("deliberate failure with a server and a client alive");
}

/* Run after test_teardown_after_failure (CLIENT_E2E_ONLY=test_teardown_*), as the next test
 * after a failure would: its frames reuse the stack that held the failed test's pointers. */
static void test_teardown_then_another(void **state)
{
    verani_client_options o;
    verani_client_loop *loop;
    verani_client *c;
    server s;
    watch w;

    (void)state;
    loop = begin(&s, NULL, &o);
    c = client_new(loop, s.port, "/t/next?userId=n", &o, &w);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);
    end_all(c, loop, &s);
}

/* The cases, each a CTest test client_e2e_<case> (`test_client_e2e SERVER test_<case>`);
 * `manual`: run by client_e2e_teardown only. */
static const vt_case cases[] = {
    VT_CASE(test_round_trips, ""),
    VT_CASE(test_restart_keeps_order, ""),
    VT_CASE(test_pong_timeout, ""),
    VT_CASE(test_hello_folded_fresh_only, ""),
    VT_CASE(test_send_queue_bound, ""),
    VT_CASE(test_policy_close_no_reconnect, ""),
    VT_CASE(test_frame_over_max_rx, ""),
    VT_CASE(test_server_close_codes, ""),
    VT_CASE(test_request_timeout_and_disconnect, ""),
    VT_CASE(test_unreadable_close_reconnects, ""),
    VT_CASE(test_threaded_emitters, ""),
    VT_CASE(test_headers_and_reconnect, ""),
    VT_CASE(test_refused_upgrade, ""),
    VT_CASE(test_offline_requests, ""),
    VT_CASE(test_tls, ""),
    VT_CASE(test_thousand_clients, ""),
    VT_CASE(test_teardown_after_failure, "manual"),
    VT_CASE(test_teardown_then_another, "manual"),
};

/* test_client_e2e PATH-TO-client_test_server [CASE-GLOB | --list] */
int main(int argc, char **argv)
{
    const char *filter = argc > 2 ? argv[2] : NULL;
    struct rlimit rl;
    int r;

    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH-TO-client_test_server [CASE-GLOB | --list]\n", argv[0]);
        return 2;
    }
    if (filter && !strcmp(filter, "--list"))
        return vt_main("client_e2e", cases, VT_N(cases), filter, kill_leftovers);
    g_server_path = argv[1];
    snprintf(g_tmpdir, sizeof(g_tmpdir), "%s/verani-client-e2e-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    /* 1,000 clients need more descriptors than the usual 1024; the server inherits it. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    r = vt_main("client_e2e", cases, VT_N(cases), filter, kill_leftovers);
    rmdir(g_tmpdir);
    return r;
}
