/* SPDX-License-Identifier: MIT */
/*
 * presence_demo.c: the presence example in one program. It starts the
 * presence room's server in-process on 127.0.0.1 (an ephemeral port, its own
 * thread) and plays a script with three devices on one client loop: alice's
 * phone, bob's laptop and bob's phone. Bob's first device makes him online,
 * his second only changes his device count, his status goes to away, and
 * only his last device leaving makes him offline. Every delivery is printed
 * and checked. `--db FILE` puts the room storage and the session store on
 * that SQLite file (kept afterwards); `--restart` plays the restart script
 * instead: the devices connect, the server stops gracefully (sessions saved),
 * stale `presence:user:` records are written into the file, a new server
 * starts on the same file and port, the clients resume by themselves, and the
 * records, the restore hook and the counts are checked (without --db on a
 * temporary file, removed at the end). Exits 0 when all arrived, 1 naming what
 * is missing (or when the deadline passes), 2 when the server or a client
 * cannot start or the arguments are wrong. It does not test crashes (SIGKILL).
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <verani/rpc.h>
#include <verani/verani.h>

#include "presence_client.h"
#include "presence_room.h"

#define DEADLINE_S 30
#define INBOX_MAX 32
#define INBOX_LINE 200

/* One scripted device and everything it received, one line per event. */
typedef struct device {
    const char *user, *name;          /* "bob", "phone" */
    char label[32];                   /* "bob/phone" */
    verani_client *c;                 /* owned; NULL once it left */
    char client_id[64];               /* from the first welcome */
    char inbox[INBOX_MAX][INBOX_LINE];
    size_t n_inbox;
} device;

/* One server on its own thread, with the room state it was mounted with. */
typedef struct server_h {
    verani_server *srv;               /* owned */
    presence_room *room;              /* owned; freed after srv */
    pthread_t thread;
    atomic_int done;                  /* verani_server_run returned */
} server_h;

typedef struct demo {
    verani_client_loop *loop;         /* owned */
    struct timespec deadline;
    const char *db;                   /* storage_path; NULL: ":memory:" */
    int port;
    unsigned checks;
    server_h server;
} demo;

static void step(const char *fmt, ...) VERANI_PRINTF(1, 2);
static void step(const char *fmt, ...)
{
    static int n;
    va_list ap;

    printf("\n[%d] ", ++n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static void record(device *d, const char *line)
{
    printf("    %-11s <- %s\n", d->label, line);
    fflush(stdout);
    if (d->n_inbox < INBOX_MAX)
        snprintf(d->inbox[d->n_inbox++], INBOX_LINE, "%s", line);
}

static const char *status_name(Presence__Status s)
{
    return s == PRESENCE__STATUS__ONLINE ? "online" : s == PRESENCE__STATUS__AWAY ? "away"
                                                                                  : "offline";
}

static int by_user_id(const void *a, const void *b)
{
    const Presence__UserPresence *const *x = a, *const *y = b;

    return strcmp((*x)->user_id, (*y)->user_id);
}

/* "alice online 1, bob away 2", by user id (the room keeps no order we could rely on
 * after a restart). */
static void format_list(const Presence__PresenceList *l, char *buf, size_t len)
{
    Presence__UserPresence *u[16];
    size_t i, n = l ? l->n_users : 0, used = 0;

    buf[0] = '\0';
    if (n > sizeof(u) / sizeof(u[0]))
        n = sizeof(u) / sizeof(u[0]);
    for (i = 0; i < n; i++)
        u[i] = l->users[i];
    qsort(u, n, sizeof(u[0]), by_user_id);
    for (i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s %s %u", i ? ", " : "",
                                 u[i]->user_id, status_name(u[i]->status), u[i]->devices);
}

static void presence_event(device *d, const char *event, const Presence__UserPresence *p)
{
    char line[INBOX_LINE];

    snprintf(line, sizeof(line), "%s %s: %s, %u device(s)", event, p->user_id,
             status_name(p->status), p->devices);
    record(d, line);
}

static void on_online(verani_client *c, const Presence__UserPresence *p, void *user)
{
    (void)c;
    presence_event(user, "user.online", p);
}

static void on_offline(verani_client *c, const Presence__UserPresence *p, void *user)
{
    (void)c;
    presence_event(user, "user.offline", p);
}

static void on_status(verani_client *c, const Presence__UserPresence *p, void *user)
{
    (void)c;
    presence_event(user, "user.status", p);
}

static void on_sync(verani_client *c, const Presence__PresenceList *l, void *user)
{
    char list[INBOX_LINE - 8], line[INBOX_LINE];

    (void)c;
    format_list(l, list, sizeof(list));
    snprintf(line, sizeof(line), "sync [%s]", list);
    record(user, line);
}

static void on_list(verani_client *c, verani_reply_status status, const Presence__PresenceList *l,
                    const char *error, void *user)
{
    char list[INBOX_LINE - 8], line[INBOX_LINE];

    (void)c;
    format_list(l, list, sizeof(list));
    if (status == VERANI_REPLY_OK)
        snprintf(line, sizeof(line), "list [%s]", list);
    else
        snprintf(line, sizeof(line), "list failed: %s", error ? error : "no reply");
    record(user, line);
}

static int past_deadline(const demo *dm)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > dm->deadline.tv_sec ||
           (now.tv_sec == dm->deadline.tv_sec && now.tv_nsec >= dm->deadline.tv_nsec);
}

/* Service the loop until `d` received `line`; 0, or -1 after saying what is missing. */
static int expect(demo *dm, device *d, const char *line)
{
    size_t i;

    for (;;) {
        for (i = 0; i < d->n_inbox; i++) {
            if (!strcmp(d->inbox[i], line)) {
                dm->checks++;
                return 0;
            }
        }
        if (past_deadline(dm) || verani_client_loop_service(dm->loop, 20) < 0)
            break;
    }
    fprintf(stderr, "\npresence_demo: FAILED: %s never received \"%s\" (deadline %d s)\n",
            d->label, line, DEADLINE_S);
    fprintf(stderr, "    it received %zu event(s)\n", d->n_inbox);
    for (i = 0; i < d->n_inbox; i++)
        fprintf(stderr, "      %s\n", d->inbox[i]);
    return -1;
}

static int connect_device(demo *dm, device *d)
{
    verani_client_options o;
    char url[256], err[256];

    snprintf(d->label, sizeof(d->label), "%s/%s", d->user, d->name);
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/presence/team?userId=%s&device=%s", dm->port,
             d->user, d->name);
    verani_client_options_init(&o);
    o.url = url;
    o.room = &presence_presence_schema;
    o.initial_delay_ms = 100;         /* reconnect soon after a restart */
    o.max_delay_ms = 1000;
    d->c = verani_client_create(dm->loop, &o, err, sizeof(err));
    if (!d->c) {
        fprintf(stderr, "presence_demo: cannot create %s's client: %s\n", d->label, err);
        return -1;
    }
    if (presence_presence_client_on_user_online(d->c, on_online, d) < 0 ||
        presence_presence_client_on_user_offline(d->c, on_offline, d) < 0 ||
        presence_presence_client_on_user_status(d->c, on_status, d) < 0 ||
        presence_presence_client_on_sync(d->c, on_sync, d) < 0)
        return -1;
    printf("    %-11s connects\n", d->label);
    if (verani_client_wait_for_connection(d->c, 10000) != 0) {
        verani_client_last_error(d->c, err, sizeof(err));
        fprintf(stderr, "\npresence_demo: FAILED: %s could not connect: %s\n", d->label, err);
        return -1;
    }
    {
        verani_client_info info;

        if (verani_client_get_info(d->c, &info) == 0)
            snprintf(d->client_id, sizeof(d->client_id), "%s", info.client_id);
    }
    return 0;
}

static void disconnect_device(device *d)
{
    printf("    %-11s disconnects\n", d->label);
    verani_client_destroy(d->c);
    d->c = NULL;
}

#define CHECK(x) do { if ((x) != 0) return -1; } while (0)

static int expect_server_empty(demo *dm);

static int script(demo *dm, device *alice, device *laptop, device *phone)
{
    Presence__SetStatus away = PRESENCE__SET_STATUS__INIT;

    step("alice connects from her phone: she gets a sync of who is here");
    CHECK(connect_device(dm, alice));
    CHECK(expect(dm, alice, "sync [alice online 1]"));

    step("bob connects from his laptop: his first device, so he comes online");
    CHECK(connect_device(dm, laptop));
    CHECK(expect(dm, alice, "user.online bob: online, 1 device(s)"));
    CHECK(expect(dm, laptop, "sync [alice online 1, bob online 1]"));

    step("bob connects from his phone too: not a new user, only a new device");
    CHECK(connect_device(dm, phone));
    CHECK(expect(dm, alice, "user.status bob: online, 2 device(s)"));
    CHECK(expect(dm, laptop, "user.status bob: online, 2 device(s)"));
    CHECK(expect(dm, phone, "sync [alice online 1, bob online 2]"));

    step("bob sets his status to away from the laptop");
    away.status = PRESENCE__STATUS__AWAY;
    printf("    %-11s -> status.set away\n", laptop->label);
    CHECK(presence_presence_client_emit_status_set(laptop->c, &away) < 0);
    CHECK(expect(dm, alice, "user.status bob: away, 2 device(s)"));
    CHECK(expect(dm, phone, "user.status bob: away, 2 device(s)"));

    step("alice asks who is here");
    printf("    %-11s -> list\n", alice->label);
    CHECK(presence_presence_client_request_list(alice->c, 5000, on_list, alice) < 0);
    CHECK(expect(dm, alice, "list [alice online 1, bob away 2]"));

    step("bob's phone leaves: he still has his laptop, so he stays present");
    disconnect_device(phone);
    CHECK(expect(dm, alice, "user.status bob: away, 1 device(s)"));
    CHECK(expect(dm, laptop, "user.status bob: away, 1 device(s)"));

    step("bob's laptop leaves: his last device, so he goes offline");
    disconnect_device(laptop);
    CHECK(expect(dm, alice, "user.offline bob: offline, 0 device(s)"));
    printf("    %-11s -> list\n", alice->label);
    CHECK(presence_presence_client_request_list(alice->c, 5000, on_list, alice) < 0);
    CHECK(expect(dm, alice, "list [alice online 1]"));
    {
        size_t i, offline = 0;

        /* Exactly one user.offline: the phone leaving must not have sent one. */
        for (i = 0; i < alice->n_inbox; i++)
            offline += !strncmp(alice->inbox[i], "user.offline", 12);
        if (offline != 1) {
            fprintf(stderr, "\npresence_demo: FAILED: alice got %zu user.offline, not 1\n",
                    offline);
            return -1;
        }
        dm->checks++;
    }
    disconnect_device(alice);
    return expect_server_empty(dm);
}


static int fail(const char *fmt, ...) VERANI_PRINTF(1, 2);
static int fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "\npresence_demo: FAILED: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return -1;
}

/* --- the server ------------------------------------------------------------ */

static void *server_thread(void *arg)
{
    server_h *h = arg;

    verani_server_run(h->srv);
    atomic_store(&h->done, 1);
    return NULL;
}

/* Create the server on dm->db with a fresh room state and listen on `port` (0: an ephemeral
 * port); a file store restores the last run's sessions here. 0, or -1 after saying why. */
static int server_start(demo *dm, int port)
{
    server_h *h = &dm->server;
    verani_server_options o;
    char err[256] = "";

    h->srv = NULL;
    atomic_store(&h->done, 0);
    verani_server_options_init(&o);
    o.bind_address = "127.0.0.1";
    o.port = port;
    o.log_level = VERANI_LOG_ERR;
    o.storage_path = dm->db;
    h->room = presence_room_create();
    h->srv = h->room ? verani_server_create(&o, err, sizeof(err)) : NULL;
    /* SIGPIPE and SIGXFSZ ignored, Ctrl-C stops the server (server.h, "Signals") */
    if (!h->srv || presence_room_mount(h->srv, h->room) < 0 || verani_server_listen(h->srv) < 0 ||
        verani_server_handle_signals(h->srv) < 0) {
        fprintf(stderr, "presence_demo: cannot start the server: %s\n",
                h->srv ? verani_server_last_error(h->srv) : h->room ? err : "no memory");
        verani_server_destroy(h->srv);
        presence_room_destroy(h->room);
        h->srv = NULL;
        h->room = NULL;
        return -1;
    }
    dm->port = verani_server_port(h->srv);
    return 0;
}

/* Run the listening server on its own thread. */
static int server_run(demo *dm)
{
    server_h *h = &dm->server;

    if (pthread_create(&h->thread, NULL, server_thread, h) != 0) {
        fprintf(stderr, "presence_demo: cannot start the server's thread\n");
        verani_server_destroy(h->srv);
        presence_room_destroy(h->room);
        h->srv = NULL;
        h->room = NULL;
        return -1;
    }
    return 0;
}

/* Stop the server gracefully (its thread ends after the sessions closed), servicing the
 * client loop meanwhile so the devices see their 1012; then free it and its room state. */
static void server_stop(demo *dm)
{
    server_h *h = &dm->server;

    if (!h->srv)
        return;
    verani_server_stop(h->srv);
    while (dm->loop && !atomic_load(&h->done))
        if (verani_client_loop_service(dm->loop, 20) < 0)
            break;
    pthread_join(h->thread, NULL);
    verani_server_destroy(h->srv);
    presence_room_destroy(h->room);
    h->srv = NULL;
    h->room = NULL;
}

/* Service the client loop until the server has no session left, so that the devices that
 * left are gone on the server too before it stops (a stop saves the sessions it still has,
 * and the next run on the same --db file would bring them back). Asked from this thread with
 * the blocking verani_rpc_session_count. 0, or -1 after saying why. */
static int expect_server_empty(demo *dm)
{
    verani_rpc_result res;
    verani_rpc_done done = {NULL, NULL, 2000, &res};
    size_t left = 0;

    for (;;) {
        memset(&res, 0, sizeof(res));
        if (verani_rpc_session_count(dm->server.srv, NULL, NULL, done) < 0) {
            fail("cannot count the server's sessions: %s", res.error);
            verani_rpc_result_free(&res);
            return -1;
        }
        left = res.count;
        verani_rpc_result_free(&res);
        if (left == 0)
            return 0;
        if (past_deadline(dm) || verani_client_loop_service(dm->loop, 20) < 0)
            return fail("the server still has %zu session(s) after every device left", left);
    }
}

/* --- the stored records, read and written with a connection of our own ------- */

#define RECORD_ROOM "Presence"   /* the room type: storage namespace = room + instance */
#define RECORD_INSTANCE "team"

/* Open the instance's key space in dm->db; NULL after saying why. Close both. */
static verani_storage *records_open(const demo *dm, verani_storage_db **db)
{
    verani_storage_options so;
    verani_storage *st;
    char err[256] = "";

    verani_storage_options_init(&so);
    so.path = dm->db;
    *db = verani_storage_db_open(&so, err, sizeof(err));
    if (!*db) {
        fail("cannot open %s: %s", dm->db, err);
        return NULL;
    }
    st = verani_storage_open(*db, RECORD_ROOM, RECORD_INSTANCE);
    if (!st) {
        fail("cannot open the storage of %s '%s': %s", RECORD_ROOM, RECORD_INSTANCE,
             verani_storage_db_last_error(*db));
        verani_storage_db_close(*db);
    }
    return st;
}

static void records_close(verani_storage *st, verani_storage_db *db)
{
    verani_storage_close(st);
    verani_storage_db_close(db);
}

/* Check that `presence:user:<user>` says `devices` and `status`; 0 or -1 after saying why. */
static int record_expect(demo *dm, verani_storage *st, const char *user, unsigned devices,
                         Presence__Status status)
{
    char key[128];
    uint8_t *val = NULL;
    size_t vlen = 0;
    unsigned d = 0;
    int s = -1, r;

    snprintf(key, sizeof(key), "presence:user:%s", user);
    r = verani_storage_get(st, key, strlen(key), &val, &vlen);
    if (r < 0)
        return fail("%s: %s", key, r == VERANI_ENOTFOUND ? "no such record"
                                                         : verani_storage_last_error(st));
    if (sscanf((const char *)val, "%u %d", &d, &s) != 2) /* get adds a NUL */
        d = UINT32_MAX;
    printf("    stored      %-20s = \"%s\": %u device(s), %s\n", key, (const char *)val, d,
           status_name((Presence__Status)s));
    fflush(stdout);
    verani_storage_free(val);
    if (d != devices || s != (int)status)
        return fail("%s should say %u device(s), %s", key, devices, status_name(status));
    dm->checks++;
    return 0;
}

/* Write a record as the room would, as a process that is not the server could. */
static int record_put(verani_storage *st, const char *user, const char *val)
{
    char key[128];

    snprintf(key, sizeof(key), "presence:user:%s", user);
    printf("    write       %-20s = \"%s\"\n", key, val);
    if (verani_storage_put(st, key, strlen(key), val, strlen(val)) < 0)
        return fail("cannot write %s: %s", key, verani_storage_last_error(st));
    return 0;
}

/* --- the restart script ------------------------------------------------------ */

/* Service the loop until `d` is no longer connected (it got the server's 1012). */
static int expect_dropped(demo *dm, device *d)
{
    while (verani_client_get_state(d->c) == VERANI_CLIENT_CONNECTED)
        if (past_deadline(dm) || verani_client_loop_service(dm->loop, 20) < 0)
            return fail("%s is still connected to a stopped server", d->label);
    printf("    %-11s connection closed by the server: %s\n", d->label,
           verani_client_state_name(verani_client_get_state(d->c)));
    dm->checks++;
    return 0;
}

/* Service the loop until `d` is connected again, and check that it resumed its session. */
static int expect_resumed(demo *dm, device *d)
{
    verani_client_info info;

    while (verani_client_get_state(d->c) != VERANI_CLIENT_CONNECTED)
        if (past_deadline(dm) || verani_client_loop_service(dm->loop, 20) < 0)
            return fail("%s did not reconnect (%s)", d->label,
                        verani_client_state_name(verani_client_get_state(d->c)));
    if (verani_client_get_info(d->c, &info) < 0)
        return fail("no information about %s", d->label);
    if (!info.resumed || info.recovery_failed || strcmp(info.client_id, d->client_id))
        return fail("%s reconnected but did not resume (resumed %d, recovery_failed %d, "
                    "client id %s, was %s)", d->label, info.resumed, info.recovery_failed,
                    info.client_id, d->client_id);
    printf("    %-11s reconnected and resumed: same client id, nothing lost\n", d->label);
    dm->checks++;
    return 0;
}

/* Nothing but `allowed` (NULL: nothing) arrived at `d` since its inbox held `since` lines. */
static int expect_nothing_since(demo *dm, device *d, size_t since, const char *allowed)
{
    size_t i;

    for (i = since; i < d->n_inbox; i++)
        if (!allowed || strcmp(d->inbox[i], allowed))
            return fail("%s got \"%s\" after the restart: the resume ran on_connect?",
                        d->label, d->inbox[i]);
    dm->checks++;
    return 0;
}

static int restart_script(demo *dm, device *alice, device *laptop, device *phone)
{
    device *all[3] = {alice, laptop, phone};
    size_t seen[3], i;
    verani_storage_db *db;
    verani_storage *st;
    int r, port = dm->port;

    step("alice connects from her phone, bob from his laptop and his phone");
    CHECK(connect_device(dm, alice));
    CHECK(expect(dm, alice, "sync [alice online 1]"));
    CHECK(connect_device(dm, laptop));
    CHECK(expect(dm, laptop, "sync [alice online 1, bob online 1]"));
    CHECK(connect_device(dm, phone));
    CHECK(expect(dm, phone, "sync [alice online 1, bob online 2]"));
    CHECK(expect(dm, alice, "user.status bob: online, 2 device(s)"));

    step("bob sets his status to away (it is stored with his record)");
    {
        Presence__SetStatus away = PRESENCE__SET_STATUS__INIT;

        away.status = PRESENCE__STATUS__AWAY;
        printf("    %-11s -> status.set away\n", laptop->label);
        CHECK(presence_presence_client_emit_status_set(laptop->c, &away) < 0);
        CHECK(expect(dm, alice, "user.status bob: away, 2 device(s)"));
    }

    step("the server stops gracefully: it saves the 3 sessions in the file without "
         "on_disconnect,\n    so the records still say alice 1 and bob 2 devices, away");
    server_stop(dm);
    for (i = 0; i < 3; i++) {
        CHECK(expect_dropped(dm, all[i]));
        seen[i] = all[i]->n_inbox;
    }
    if (!(st = records_open(dm, &db)))
        return -1;
    r = record_expect(dm, st, "alice", 1, PRESENCE__STATUS__ONLINE);
    r = r ? r : record_expect(dm, st, "bob", 2, PRESENCE__STATUS__AWAY);

    if (!r)
        step("while no server runs, stale records go into the file (as after a crash):\n"
             "    ghost with 3 devices, and bob with 5 (still away)");
    r = r ? r : record_put(st, "ghost", "3 1 0");
    r = r ? r : record_put(st, "bob", "5 2 0");
    records_close(st, db);
    CHECK(r);

    step("a new server starts on the same file and port: it restores the sessions detached\n"
         "    and on_hibernation_restore reconciles the records with them");
    CHECK(server_start(dm, port));
    printf("    on_hibernation_restore ran %u time(s)\n", presence_room_restores(dm->server.room));
    if (presence_room_restores(dm->server.room) != 1)
        return fail("on_hibernation_restore ran %u times, not once",
                    presence_room_restores(dm->server.room));
    dm->checks++;
    if (!(st = records_open(dm, &db)))
        return -1;
    r = record_expect(dm, st, "ghost", 0, PRESENCE__STATUS__OFFLINE);
    r = r ? r : record_expect(dm, st, "bob", 2, PRESENCE__STATUS__AWAY);
    r = r ? r : record_expect(dm, st, "alice", 1, PRESENCE__STATUS__ONLINE);
    records_close(st, db);
    CHECK(r);
    CHECK(server_run(dm));

    step("the devices reconnect by themselves and resume their sessions (no on_connect)");
    for (i = 0; i < 3; i++)
        CHECK(expect_resumed(dm, all[i]));

    step("alice asks who is here: not the ghost, and bob with 2 devices, still away");
    printf("    %-11s -> list\n", alice->label);
    CHECK(presence_presence_client_request_list(alice->c, 5000, on_list, alice) < 0);
    CHECK(expect(dm, alice, "list [alice online 1, bob away 2]"));
    CHECK(expect_nothing_since(dm, alice, seen[0], "list [alice online 1, bob away 2]"));
    CHECK(expect_nothing_since(dm, laptop, seen[1], NULL));
    CHECK(expect_nothing_since(dm, phone, seen[2], NULL));

    step("bob's phone leaves: the restored count goes from 2 to 1");
    disconnect_device(phone);
    CHECK(expect(dm, alice, "user.status bob: away, 1 device(s)"));
    CHECK(expect(dm, laptop, "user.status bob: away, 1 device(s)"));

    step("bob's laptop leaves: his last device, so he goes offline");
    disconnect_device(laptop);
    CHECK(expect(dm, alice, "user.offline bob: offline, 0 device(s)"));
    printf("    %-11s -> list\n", alice->label);
    CHECK(presence_presence_client_request_list(alice->c, 5000, on_list, alice) < 0);
    CHECK(expect(dm, alice, "list [alice online 1]"));

    step("alice leaves too and the server stops: every record says offline");
    disconnect_device(alice);
    CHECK(expect_server_empty(dm));
    server_stop(dm);
    if (!(st = records_open(dm, &db)))
        return -1;
    r = record_expect(dm, st, "alice", 0, PRESENCE__STATUS__OFFLINE);
    r = r ? r : record_expect(dm, st, "bob", 0, PRESENCE__STATUS__OFFLINE);
    r = r ? r : record_expect(dm, st, "ghost", 0, PRESENCE__STATUS__OFFLINE);
    records_close(st, db);
    return r;
}

/* --- main -------------------------------------------------------------------- */

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--db FILE] [--restart]\n"
            "  --db FILE   room storage and session store on the SQLite file FILE (kept)\n"
            "  --restart   the restart script (without --db: on a temporary file)\n", argv0);
    return 2;
}

/* Remove the SQLite file `path` and its companions. */
static void remove_db(const char *path)
{
    static const char *const ext[] = {"", "-wal", "-shm", "-journal"};
    char p[300];
    size_t i;

    for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", path, ext[i]);
        unlink(p);
    }
}

int main(int argc, char **argv)
{
    device alice = {.user = "alice", .name = "phone"};
    device laptop = {.user = "bob", .name = "laptop"};
    device phone = {.user = "bob", .name = "phone"};
    char err[256], tmp[280] = "";
    int rc, i, restart = 0;
    demo dm;

    memset(&dm, 0, sizeof(dm));
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--db") && i + 1 < argc && argv[i + 1][0])
            dm.db = argv[++i];
        else if (!strcmp(argv[i], "--restart"))
            restart = 1;
        else
            return usage(argv[0]);
    }
    if (restart && !dm.db) {
        const char *dir = getenv("TMPDIR");
        int fd;

        snprintf(tmp, sizeof(tmp), "%s/presence-demo-XXXXXX", dir && *dir ? dir : "/tmp");
        fd = mkstemp(tmp);
        if (fd < 0) {
            fprintf(stderr, "presence_demo: cannot create a temporary file %s: ", tmp);
            perror(NULL);
            return 2;
        }
        close(fd); /* an empty file: SQLite makes it a new database */
        dm.db = tmp;
    }
    clock_gettime(CLOCK_MONOTONIC, &dm.deadline);
    dm.deadline.tv_sec += DEADLINE_S;
    verani_set_log_level(VERANI_LOG_ERR, NULL);
    if (server_start(&dm, 0) < 0 || server_run(&dm) < 0) {
        if (tmp[0])
            remove_db(tmp);
        return 2;
    }
    printf("Verani-C presence demo%s\n", restart ? ": restart on the same file" : "");
    printf("  server: room Presence (schema/presence.verani) at "
           "ws://127.0.0.1:%d/presence/team, on its own thread\n", dm.port);
    printf("  storage: %s\n", dm.db ? dm.db : ":memory: (nothing written to disk)");

    dm.loop = verani_client_loop_create(err, sizeof(err));
    if (!dm.loop) {
        fprintf(stderr, "presence_demo: cannot create the client loop: %s\n", err);
        rc = 2;
    } else if (restart) {
        rc = restart_script(&dm, &alice, &laptop, &phone) ? 1 : 0;
    } else {
        rc = script(&dm, &alice, &laptop, &phone) ? 1 : 0;
    }
    verani_client_loop_destroy(dm.loop);
    dm.loop = NULL;
    server_stop(&dm);
    if (tmp[0])
        remove_db(tmp);
    if (rc == 0)
        printf("\npresence_demo: OK: all %u expected checks passed\n", dm.checks);
    return rc;
}
