/* SPDX-License-Identifier: MIT */
/*
 * test_timers.c: the timers of a room instance (verani_instance_after, _every, _cancel), its
 * alarm (verani_instance_set_alarm, hooks.on_alarm) and its start and stop hooks, through a
 * real server and real clients on loopback.
 *
 * The E2e room is mounted with a handler table of this file's: its `echo` request takes a
 * command in its text and answers with the result ("every 20 tick" sets a timer that emits
 * "tick 1", "tick 2"... to every session of the instance, and answers "id <id>"). An instance
 * whose name starts with "auto" sets a 30 ms timer of its own in on_instance_start.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "cases.h"
#include "cleanup.h"
#include "deadline.h"
#include "e2e_room.h"
#include "e2e_util.h"
#include "rawclient.h"

/* --- the room's side (the server's loop thread) ------------------------------ */

/* What a timer of this file counts; a fixed pool, reset by each test (loop thread only,
 * between servers). */
typedef struct tstate {
    int n;          /* runs so far */
    int limit;      /* cancel itself after this many runs; 0: never */
    uint64_t id;
    char label[16];
} tstate;

static tstate states[64];
static int n_states;
static atomic_int auto_ticks; /* runs of the "auto" instances' own timers, any thread reads */

static void emit_text(verani_ctx *ctx, const char *text)
{
    E2e__ChatOut m = E2E__CHAT_OUT__INIT;

    m.text = (char *)text;
    m.from = "timer";
    if (e2e_e2e_emit_chat_out(ctx, verani_to_all(), &m) < 0)
        e2e_log("emit-failed");
}

static void on_timer(verani_ctx *ctx, void *arg)
{
    tstate *t = arg;
    char text[48];

    t->n++;
    snprintf(text, sizeof(text), "%s %d", t->label, t->n);
    emit_text(ctx, text);
    if (t->limit && t->n == t->limit)
        e2e_log("selfcancel:%d", verani_instance_cancel(ctx, t->id));
}

static void on_auto_tick(verani_ctx *ctx, void *arg)
{
    (void)arg;
    atomic_fetch_add(&auto_ticks, 1);
    emit_text(ctx, "auto");
}

static void on_instance_start(verani_ctx *ctx)
{
    const char *name = verani_ctx_instance(ctx);

    e2e_log("start:%s:%s", name, verani_ctx_session(ctx) ? "session" : "none");
    /* the instance's own state: its name, freed by on_instance_stop */
    if (verani_instance_data(ctx) || verani_instance_set_data(ctx, strdup(name)) ||
        verani_instance_set_data(NULL, NULL) != VERANI_EINVAL)
        e2e_log("data-failed");
    if (!strncmp(name, "auto", 4) && verani_instance_every(ctx, 30, on_auto_tick, NULL, NULL))
        e2e_log("auto-timer-failed");
}

static void on_instance_stop(verani_ctx *ctx)
{
    char *data = verani_instance_data(ctx);

    if (data && !strcmp(data, verani_ctx_instance(ctx)))
        e2e_log("data:%s", data);
    free(data);
    e2e_log("stop:%s:%zu", verani_ctx_instance(ctx), verani_instance_timer_count(ctx));
}

static atomic_int alarm_failures; /* on_alarm fails while this is above 0 */

static int on_alarm(verani_ctx *ctx)
{
    int64_t at;

    e2e_log("alarm:%s:%s:%d", verani_ctx_instance(ctx),
            verani_ctx_session(ctx) ? "session" : "none", verani_instance_get_alarm(ctx, &at));
    emit_text(ctx, "alarm");
    if (atomic_load(&alarm_failures) > 0) {
        atomic_fetch_sub(&alarm_failures, 1);
        return VERANI_EIO;
    }
    return 0;
}

static void on_error(verani_ctx *ctx, int err, const char *what)
{
    (void)ctx;
    e2e_log("error:%d:%s", err, what);
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static tstate *state_new(const char *label, int limit)
{
    tstate *t;

    if (n_states == (int)(sizeof(states) / sizeof(states[0])))
        return NULL;
    t = &states[n_states++];
    memset(t, 0, sizeof(*t));
    snprintf(t->label, sizeof(t->label), "%s", label);
    t->limit = limit;
    return t;
}

/* "every <ms> <label> [limit]", "after <ms> <label>", "cancel <id>", "count", "bad" */
static int h_echo(verani_ctx *ctx, const E2e__Echo *in, E2e__Echo *out)
{
    char label[16] = "";
    unsigned ms = 0;
    int limit = 0, r;
    uint64_t id = 0;
    char *reply = verani_ctx_alloc(ctx, 64);

    if (!reply)
        return VERANI_ENOMEM;
    if (sscanf(in->text, "every %u %15s %d", &ms, label, &limit) >= 2 ||
        sscanf(in->text, "after %u %15s", &ms, label) == 2) {
        tstate *t = state_new(label, limit);

        if (!t)
            return VERANI_EFULL;
        r = in->text[0] == 'e' ? verani_instance_every(ctx, ms, on_timer, t, &t->id)
                               : verani_instance_after(ctx, ms, on_timer, t, &t->id);
        if (r)
            snprintf(reply, 64, "error %d", r);
        else
            snprintf(reply, 64, "id %" PRIu64, t->id);
    } else if (sscanf(in->text, "cancel %" SCNu64, &id) == 1) {
        snprintf(reply, 64, "rc %d", verani_instance_cancel(ctx, id));
    } else if (sscanf(in->text, "alarm %d", &limit) == 1) {
        snprintf(reply, 64, "rc %d", verani_instance_set_alarm(ctx, wall_ms() + limit));
    } else if (!strcmp(in->text, "alarm-negative")) {
        snprintf(reply, 64, "rc %d", verani_instance_set_alarm(ctx, -1));
    } else if (!strcmp(in->text, "getalarm")) {
        int64_t at = 0;

        r = verani_instance_get_alarm(ctx, &at);
        if (r)
            snprintf(reply, 64, "rc %d", r);
        else
            snprintf(reply, 64, "in %lld", (long long)(at - wall_ms()));
    } else if (!strcmp(in->text, "delalarm")) {
        snprintf(reply, 64, "rc %d", verani_instance_delete_alarm(ctx));
    } else if (!strcmp(in->text, "count")) {
        snprintf(reply, 64, "count %zu", verani_instance_timer_count(ctx));
    } else if (!strcmp(in->text, "bad")) {
        uint64_t got = 7;
        int zero_ms = verani_instance_after(ctx, 0, on_timer, NULL, &got);
        int no_fn = verani_instance_every(ctx, 10, NULL, NULL, NULL);
        int no_ctx = verani_instance_every(NULL, 10, on_timer, NULL, NULL);
        int unknown = verani_instance_cancel(ctx, UINT64_MAX);

        snprintf(reply, 64, "bad %d %d %d %d %" PRIu64, zero_ms, no_fn, no_ctx, unknown, got);
    } else {
        return VERANI_EINVAL;
    }
    out->text = reply;
    return 0;
}

static const e2e_e2e_handlers timer_handlers = {
    .hooks = {.on_error = on_error, .on_instance_start = on_instance_start,
              .on_instance_stop = on_instance_stop, .on_alarm = on_alarm},
    .echo = h_echo,
};

static int mount_timers(verani_server *srv)
{
    return e2e_e2e_mount(srv, &timer_handlers, NULL);
}

/* The schema's `timer beat every 20;`: runs in every instance while it is in memory. */
static atomic_int beats;

static void on_beat(verani_ctx *ctx)
{
    if (atomic_fetch_add(&beats, 1) == 0)
        e2e_log("beat:%s:%s", verani_ctx_instance(ctx), verani_ctx_session(ctx) ? "session"
                                                                                 : "none");
    emit_text(ctx, "beat");
}

static const e2e_e2e_handlers beat_handlers = {
    .hooks = {.on_error = on_error, .on_instance_start = on_instance_start,
              .on_instance_stop = on_instance_stop},
    .echo = h_echo,
    .timer_beat = on_beat,
};

static int mount_beat(verani_server *srv)
{
    return e2e_e2e_mount(srv, &beat_handlers, NULL);
}

/* --- the client's side -------------------------------------------------------- */

static void start(e2e_server *h, verani_server_options *o)
{
    verani_server_options def;

    if (!o) {
        e2e_server_options(&def);
        o = &def;
    }
    n_states = 0;
    atomic_store(&auto_ticks, 0);
    atomic_store(&alarm_failures, 0);
    e2e_log_reset();
    e2e_server_start_rooms(h, o, mount_timers, NULL, NULL);
}

/* Send `cmd` as an echo request and return the answer's text (static; "" on an error
 * reply). Fails the test when no answer comes. */
static const char *ask(rc_loop *l, rc_conn *c, const char *cmd)
{
    static uint64_t next_id = 100;
    static char text[64];
    E2e__Echo e = E2E__ECHO__INIT;
    uint64_t rid = ++next_id;
    int64_t d = dl_after(DL_WAIT_MS);
    const rc_env *r;
    E2e__Echo *got;

    e.text = (char *)cmd;
    assert_int_equal(rc_send_event(c, VERANI__WIRE__KIND__REQUEST, E2E_EV_ECHO, &e.base, rid), 0);
    while (!rc_answer(c, rid) && !c->closed && !dl_passed(d))
        rc_service(l, 10);
    r = rc_answer(c, rid);
    if (!r)
        fail_msg("no answer to '%s'", cmd);
    text[0] = '\0';
    if (r->kind != VERANI__WIRE__KIND__REPLY)
        return text;
    got = e2e__echo__unpack(NULL, r->payload.len, r->payload.data);
    assert_non_null(got);
    snprintf(text, sizeof(text), "%s", got->text);
    e2e__echo__free_unpacked(got, NULL);
    return text;
}

static uint64_t ask_id(rc_loop *l, rc_conn *c, const char *cmd)
{
    uint64_t id = 0;
    const char *t = ask(l, c, cmd);

    if (sscanf(t, "id %" SCNu64, &id) != 1 || !id)
        fail_msg("'%s' answered '%s', not a timer id", cmd, t);
    return id;
}

/* The text of the i-th EVENT `c` received (static), or NULL. */
static const char *event_text(const rc_conn *c, size_t i)
{
    static char text[64];
    const rc_env *e = rc_nth(c, VERANI__WIRE__KIND__EVENT, i);
    E2e__ChatOut *m;

    if (!e)
        return NULL;
    m = e2e__chat_out__unpack(NULL, e->payload.len, e->payload.data);
    assert_non_null(m);
    snprintf(text, sizeof(text), "%s", m->text);
    e2e__chat_out__free_unpacked(m, NULL);
    return text;
}

typedef struct want_events {
    rc_conn *c;
    size_t n;
} want_events;

static int p_events(void *arg)
{
    want_events *w = arg;

    return rc_count(w->c, VERANI__WIRE__KIND__EVENT) >= w->n;
}

static void wait_events(rc_loop *l, rc_conn *c, size_t n)
{
    want_events w = {c, n};

    if (!rc_wait(l, p_events, &w, DL_WAIT_MS))
        fail_msg("%zu events arrived, not %zu", rc_count(c, VERANI__WIRE__KIND__EVENT), n);
}

/* Events i..i+n-1 of `c` are "<label> 1".."<label> n". */
static void assert_run(const rc_conn *c, size_t i, const char *label, int n)
{
    char want[48];
    int k;

    for (k = 1; k <= n; k++) {
        const char *got = event_text(c, i + (size_t)k - 1);

        snprintf(want, sizeof(want), "%s %d", label, k);
        if (!got || strcmp(got, want))
            fail_msg("event %zu is '%s', not '%s'", i + (size_t)k - 1, got ? got : "(none)",
                     want);
    }
}

/* --- the cases ---------------------------------------------------------------- */

/* A schema timer (`timer beat every 20;` with timer_beat set) starts with the instance, runs
 * with its context and no session, counts among its timers, and ends with it: after the
 * instance is freed no beat runs. A table that leaves the member NULL runs none (every other
 * case here: their "count" answers count only their own timers). */
static void test_schema_timer(void **state)
{
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *a;
    int n;

    (void)state;
    e2e_server_options(&o);
    o.resume_grace_ms = 1;
    o.instance_idle_ms = 100;
    n_states = 0;
    atomic_store(&beats, 0);
    e2e_log_reset();
    e2e_server_start_rooms(&h, &o, mount_beat, NULL, NULL);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/b1?userId=a");
    a->keep = 1;
    wait_events(l, a, 3);
    assert_string_equal(event_text(a, 2), "beat");
    assert_int_equal(e2e_log_count("beat:b1:none"), 1);
    assert_string_equal(ask(l, a, "count"), "count 1");
    rc_close(a);
    e2e_wait_log(l, "stop:b1:0");
    n = atomic_load(&beats);
    dl_nap_ms(200); /* ten periods */
    assert_int_equal(atomic_load(&beats), n);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* A periodic timer emits to the instance's sessions in order, every run once, and stops when
 * cancelled: nothing after the cancel's answer, the instance has no timer left, and a second
 * cancel finds nothing. */
static void test_every_then_cancel(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a, *b;
    uint64_t id;
    size_t seen;
    char cmd[48];

    (void)state;
    start(&h, NULL);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/t1?userId=a");
    b = e2e_join(l, h.port, "/e2e/t1?userId=b");
    a->keep = b->keep = 1;
    id = ask_id(l, a, "every 20 tick");
    wait_events(l, a, 3);
    wait_events(l, b, 3);
    snprintf(cmd, sizeof(cmd), "cancel %" PRIu64, id);
    assert_string_equal(ask(l, a, cmd), "rc 0");
    seen = rc_count(a, VERANI__WIRE__KIND__EVENT);
    assert_run(a, 0, "tick", (int)seen);
    rc_settle(l, 200); /* ten periods */
    assert_int_equal(rc_count(a, VERANI__WIRE__KIND__EVENT), seen);
    assert_string_equal(ask(l, a, "count"), "count 0");
    assert_string_equal(ask(l, a, cmd), "rc -3");
    assert_int_equal(a->seq_errors, 0);
    assert_int_equal(b->seq_errors, 0);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
    e2e_wait_log_n("stop:t1:0", 1); /* the server's end freed the instance */
}

/* A one-shot runs once and is gone; a timer that cancels itself from its own run gets 0 and
 * runs no more. */
static void test_after_and_self_cancel(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;

    (void)state;
    start(&h, NULL);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/t2?userId=a");
    a->keep = 1;
    (void)ask_id(l, a, "after 30 once");
    wait_events(l, a, 1);
    assert_string_equal(event_text(a, 0), "once 1");
    assert_string_equal(ask(l, a, "count"), "count 0");
    (void)ask_id(l, a, "every 10 self 3");
    wait_events(l, a, 4);
    e2e_wait_log(l, "selfcancel:0");
    rc_settle(l, 150);
    assert_int_equal(rc_count(a, VERANI__WIRE__KIND__EVENT), 4);
    assert_run(a, 1, "self", 3);
    assert_string_equal(ask(l, a, "count"), "count 0");
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* Bad arguments are refused with their codes (and set no id); a timer of one instance is not
 * found from another. */
static void test_bad_arguments(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a, *b;
    uint64_t id;
    char cmd[48];

    (void)state;
    start(&h, NULL);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/t3?userId=a");
    b = e2e_join(l, h.port, "/e2e/t4?userId=b");
    assert_string_equal(ask(l, a, "bad"), "bad -1 -1 -1 -3 0");
    id = ask_id(l, a, "every 60000 slow");
    snprintf(cmd, sizeof(cmd), "cancel %" PRIu64, id);
    assert_string_equal(ask(l, b, cmd), "rc -3");
    assert_string_equal(ask(l, a, "count"), "count 1");
    assert_string_equal(ask(l, a, cmd), "rc 0");
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* on_instance_start runs once per instance, without a session; the instance's own timer runs while it lives; when it is evicted on_instance_stop
 * runs with its timers gone, and they run no more; the next connection starts it again. */
static void test_instance_lifecycle(void **state)
{
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *a;
    int ticks;

    (void)state;
    e2e_server_options(&o);
    o.resume_grace_ms = 1;
    o.instance_idle_ms = 100;
    start(&h, &o);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/auto1?userId=a");
    a->keep = 1;
    wait_events(l, a, 2);
    assert_string_equal(event_text(a, 0), "auto");
    assert_int_equal(e2e_log_count("start:auto1:none"), 1);
    rc_close(a);
    e2e_wait_log(l, "stop:auto1:0");
    assert_int_equal(e2e_log_count("data:auto1"), 1); /* set at start, there at the stop */
    assert_int_equal(e2e_log_count("data-failed"), 0);
    ticks = atomic_load(&auto_ticks);
    dl_nap_ms(200);
    assert_int_equal(atomic_load(&auto_ticks), ticks);
    (void)e2e_join(l, h.port, "/e2e/auto1?userId=a");
    assert_int_equal(e2e_log_count("start:auto1:none"), 2);
    assert_int_equal(e2e_log_count("auto-timer-failed"), 0);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
    e2e_wait_log_n("stop:auto1:0", 2);
}

/* A server stopped with timers running (its own, and many set by a handler) frees them all:
 * each instance's on_instance_stop runs once (the sanitizers see no leak or use after
 * free). */
static void test_stop_with_timers(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a, *b;
    int i;

    (void)state;
    start(&h, NULL);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/auto2?userId=a");
    b = e2e_join(l, h.port, "/e2e/t5?userId=b");
    for (i = 0; i < 20; i++)
        (void)ask_id(l, b, i % 2 ? "every 5 fast" : "after 60000 later");
    assert_string_equal(ask(l, b, "count"), "count 20");
    (void)a;
    rc_loop_destroy(l);
    e2e_server_stop(&h);
    assert_int_equal(e2e_log_count("stop:auto2:0"), 1);
    assert_int_equal(e2e_log_count("stop:t5:0"), 1);
}

/* An alarm runs on_alarm once at its time (without a session), is gone once it ran (the
 * hook sees none), and can be read back before; a negative time is refused. */
static void test_alarm_fires(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;
    long long in_ms = -1;

    (void)state;
    start(&h, NULL);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/a1?userId=a");
    a->keep = 1;
    assert_string_equal(ask(l, a, "getalarm"), "rc -3");
    assert_string_equal(ask(l, a, "alarm-negative"), "rc -1");
    assert_string_equal(ask(l, a, "alarm 300"), "rc 0");
    assert_int_equal(sscanf(ask(l, a, "getalarm"), "in %lld", &in_ms), 1);
    assert_true(in_ms > 0 && in_ms <= 300);
    wait_events(l, a, 1);
    assert_string_equal(event_text(a, 0), "alarm");
    assert_int_equal(e2e_log_count("alarm:a1:none:-3"), 1);
    assert_string_equal(ask(l, a, "getalarm"), "rc -3");
    assert_string_equal(ask(l, a, "delalarm"), "rc -3");
    rc_settle(l, 100);
    assert_int_equal(rc_count(a, VERANI__WIRE__KIND__EVENT), 1);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* A deleted alarm does not run; setting again replaces the time. */
static void test_alarm_delete_and_replace(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;

    (void)state;
    start(&h, NULL);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/a2?userId=a");
    assert_string_equal(ask(l, a, "alarm 200"), "rc 0");
    assert_string_equal(ask(l, a, "delalarm"), "rc 0");
    assert_string_equal(ask(l, a, "alarm 60000"), "rc 0");
    assert_string_equal(ask(l, a, "alarm 100"), "rc 0"); /* replaces the one a minute away */
    e2e_wait_log(l, "alarm:a2:none:-3");
    rc_settle(l, 300);
    assert_int_equal(e2e_log_count("alarm:a2:none:-3"), 1);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* An instance freed from memory before its alarm is created again to run it (on_instance_start
 * first), and freed again afterwards. */
static void test_alarm_wakes_freed_instance(void **state)
{
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *a;

    (void)state;
    e2e_server_options(&o);
    o.resume_grace_ms = 1;
    o.instance_idle_ms = 100;
    start(&h, &o);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/a3?userId=a");
    assert_string_equal(ask(l, a, "alarm 1000"), "rc 0");
    rc_close(a);
    e2e_wait_log(l, "stop:a3:0");
    assert_int_equal(e2e_log_count("alarm:a3:none:-3"), 0);
    e2e_wait_log_n("alarm:a3:none:-3", 1);
    assert_int_equal(e2e_log_count("start:a3:none"), 2);
    e2e_wait_log_n("stop:a3:0", 2);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* The alarm is in the store: a server stopped before its time and another started on the same
 * file after it runs it at once; a third finds it gone. */
static void test_alarm_survives_restart(void **state)
{
    char dir[] = "/tmp/verani-alarm-XXXXXX", path[256];
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *a;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/store.db", dir);
    e2e_server_options(&o);
    o.storage_path = path;
    start(&h, &o);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/a4?userId=a");
    assert_string_equal(ask(l, a, "alarm 300"), "rc 0");
    rc_loop_destroy(l);
    e2e_server_stop(&h);
    assert_int_equal(e2e_log_count("alarm:a4:none:-3"), 0);
    dl_nap_ms(400); /* its time passes while no server runs */
    start(&h, &o);
    e2e_wait_log_n("alarm:a4:none:-3", 1);
    assert_int_equal(e2e_log_count("start:a4:none"), 1);
    e2e_server_stop(&h);
    start(&h, &o);
    dl_nap_ms(300);
    assert_int_equal(e2e_log_count("alarm:a4:none:-3"), 0);
    e2e_server_stop(&h);
    {
        char f[300];
        const char *const ext[] = {"", "-wal", "-shm"};
        size_t i;

        for (i = 0; i < 3; i++) {
            snprintf(f, sizeof(f), "%s%s", path, ext[i]);
            (void)unlink(f);
        }
        (void)rmdir(dir);
    }
}

/* A failing on_alarm reaches on_error and runs again a second later. */
static void test_alarm_retried(void **state)
{
    e2e_server h;
    rc_loop *l;
    rc_conn *a;

    (void)state;
    start(&h, NULL);
    atomic_store(&alarm_failures, 1);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/a5?userId=a");
    assert_string_equal(ask(l, a, "alarm 10"), "rc 0");
    e2e_wait_log(l, "error:-5:on_alarm failed");
    assert_int_equal(e2e_log_count("alarm:a5:none:-3"), 1);
    e2e_wait_log_n("alarm:a5:none:-3", 2);
    rc_settle(l, 100);
    assert_int_equal(e2e_log_count("alarm:a5:none:-3"), 2);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static char mount_log[2048];

static int on_message(verani_ctx *ctx, uint32_t event, const uint8_t *payload, size_t len)
{
    (void)ctx;
    (void)event;
    (void)payload;
    (void)len;
    return 0;
}

static void capture_log(int level, const char *line)
{
    size_t used = strlen(mount_log);

    (void)level;
    snprintf(mount_log + used, sizeof(mount_log) - used, "%s", line);
}

/* Mounting a handler table that leaves `on` events NULL names them once, in one warning,
 * requests marked, and says where their frames go. */
static void test_mount_names_missing_handlers(void **state)
{
    static const e2e_e2e_handlers partial = {.echo = h_echo};
    static const e2e_e2e_handlers with_fallback = {.hooks = {.on_message = on_message},
                                                    .echo = h_echo};
    verani_server_options o;
    verani_server *srv;
    char err[256];
    const char *w;

    (void)state;
    verani_server_options_init(&o);
    o.bind_address = "127.0.0.1";
    srv = verani_server_create(&o, err, sizeof(err));
    assert_non_null(srv);
    mount_log[0] = '\0';
    verani_set_log_level(VERANI_LOG_ERR | VERANI_LOG_WARN, capture_log);
    assert_int_equal(e2e_e2e_mount(srv, &partial, NULL), 0);
    w = strstr(mount_log, "room E2e: no handler for 5 `on` event(s): cmd (a request), poke, "
                          "flood (a request), unhandled, sjoin; their events are dropped and "
                          "their requests answered NO_HANDLER");
    if (!w)
        fail_msg("the warning is not there: %s", mount_log);
    assert_null(strstr(w + strlen("room E2e: no handler"), "no handler")); /* once */
    verani_server_destroy(srv);
    srv = verani_server_create(&o, err, sizeof(err));
    assert_non_null(srv);
    mount_log[0] = '\0';
    verani_set_log_level(VERANI_LOG_ERR | VERANI_LOG_WARN, capture_log);
    assert_int_equal(e2e_e2e_mount(srv, &with_fallback, NULL), 0);
    assert_non_null(strstr(mount_log, "no handler for 5 `on` event(s): cmd (a request), poke, "
                                      "flood (a request), unhandled, sjoin; hooks.on_message "
                                      "receives them"));
    verani_server_destroy(srv);
    verani_set_log_level(VERANI_LOG_ERR, NULL);
}

static const vt_case cases[] = {
    VT_CASE(test_schema_timer, "poll"),
    VT_CASE(test_every_then_cancel, "poll"),
    VT_CASE(test_after_and_self_cancel, ""),
    VT_CASE(test_bad_arguments, ""),
    VT_CASE(test_instance_lifecycle, "poll"),
    VT_CASE(test_stop_with_timers, ""),
    VT_CASE(test_alarm_fires, "poll"),
    VT_CASE(test_alarm_delete_and_replace, ""),
    VT_CASE(test_alarm_wakes_freed_instance, ""),
    VT_CASE(test_alarm_survives_restart, ""),
    VT_CASE(test_alarm_retried, ""),
    VT_CASE(test_mount_names_missing_handlers, ""),
};

/* `test_timers test_<case>` runs one case (each is a CTest test timers_<case>; `poll`: also
 * timers_poll_<case> on lws's poll() loop). */
int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("timers", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
