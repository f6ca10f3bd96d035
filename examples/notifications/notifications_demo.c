/* SPDX-License-Identifier: MIT */
/*
 * notifications_demo.c: the notifications example in one program. It starts
 * the Inbox room's server in-process on 127.0.0.1 (an ephemeral port, its own
 * thread), connects alice and bob to their own inboxes on one client loop,
 * shows that mallory cannot open alice's inbox, then starts a "sender"
 * thread standing for another part of the system (a billing job, a CI
 * runner) that sends notifications to alice and bob through
 * verani_server_emit_async. Every delivery is printed and checked; alice
 * acks two notifications and learns what is left unread. Exits 0 when all
 * arrived, 1 naming what is missing (or when the 20 s deadline passes), 2
 * when the server or a client cannot start.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <verani/verani.h>

#include "inbox_room.h"
#include "notifications_client.h"

#define DEADLINE_S 20
#define INBOX_MAX 32
#define INBOX_LINE 200

typedef struct reader {
    const char *user;
    verani_client *c;                 /* owned; NULL once it left */
    char inbox[INBOX_MAX][INBOX_LINE];
    size_t n_inbox;
} reader;

typedef struct demo {
    verani_client_loop *loop;         /* owned */
    verani_server *srv;               /* owned by main */
    inbox_store *store;               /* owned by main */
    struct timespec deadline;
    int port;
    int send_result;                  /* written by the sender thread, read after join */
    unsigned checks;
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

static void record(reader *r, const char *fmt, ...) VERANI_PRINTF(2, 3);
static void record(reader *r, const char *fmt, ...)
{
    char line[INBOX_LINE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    printf("    %-7s <- %s\n", r->user, line);
    fflush(stdout);
    if (r->n_inbox < INBOX_MAX)
        memcpy(r->inbox[r->n_inbox++], line, sizeof(line));
}

static void on_notify(verani_client *c, const Notifications__Notification *n, void *user)
{
    (void)c;
    record(user, "notify %s%s: %s", n->id, n->priority == NOTIFICATIONS__PRIORITY__URGENT ?
           " (urgent)" : "", n->title);
}

static void on_unread(verani_client *c, const Notifications__Unread *u, void *user)
{
    (void)c;
    record(user, "unread %u", u->count);
}

static void on_ack_reply(verani_client *c, verani_reply_status status,
                         const Notifications__Unread *u, const char *error, void *user)
{
    (void)c;
    if (status == VERANI_REPLY_OK)
        record(user, "ack reply: unread %u", u->count);
    else
        record(user, "ack failed: %s", error ? error : "no reply");
}

static int past_deadline(const demo *dm)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > dm->deadline.tv_sec ||
           (now.tv_sec == dm->deadline.tv_sec && now.tv_nsec >= dm->deadline.tv_nsec);
}

static int has_prefix(const reader *r, const char *prefix)
{
    size_t i;

    for (i = 0; i < r->n_inbox; i++)
        if (!strncmp(r->inbox[i], prefix, strlen(prefix)))
            return 1;
    return 0;
}

static int expect(demo *dm, reader *r, const char *line)
{
    size_t i;

    for (;;) {
        for (i = 0; i < r->n_inbox; i++) {
            if (!strcmp(r->inbox[i], line)) {
                dm->checks++;
                return 0;
            }
        }
        if (past_deadline(dm) || verani_client_loop_service(dm->loop, 20) < 0)
            break;
    }
    fprintf(stderr, "\nnotifications_demo: FAILED: %s never received \"%s\" (deadline %d s)\n",
            r->user, line, DEADLINE_S);
    fprintf(stderr, "    it received %zu event(s)\n", r->n_inbox);
    for (i = 0; i < r->n_inbox; i++)
        fprintf(stderr, "      %s\n", r->inbox[i]);
    return -1;
}

/* Open `inbox` as `r->user`. Returns the wait's result (0: connected). */
static int open_inbox(demo *dm, reader *r, const char *inbox)
{
    verani_client_options o;
    char url[256], err[256];

    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/notifications/%s?userId=%s", dm->port, inbox,
             r->user);
    verani_client_options_init(&o);
    o.url = url;
    o.room = &notifications_inbox_schema;
    r->c = verani_client_create(dm->loop, &o, err, sizeof(err));
    if (!r->c) {
        fprintf(stderr, "notifications_demo: cannot create %s's client: %s\n", r->user, err);
        return VERANI_ENOMEM;
    }
    if (notifications_inbox_client_on_notify(r->c, on_notify, r) < 0 ||
        notifications_inbox_client_on_unread(r->c, on_unread, r) < 0)
        return VERANI_ENOMEM;
    printf("    %-7s opens %s\n", r->user, url);
    return verani_client_wait_for_connection(r->c, 10000);
}

/* --- the sender: another thread, as another part of the system would be --- */

static void *sender_thread(void *arg)
{
    static const struct {
        const char *user, *id, *title;
        Notifications__Priority priority;
    } outbox[] = {
        {"alice", "n1", "Build #812 passed", NOTIFICATIONS__PRIORITY__NORMAL},
        {"alice", "n2", "Invoice 2026-11 is ready", NOTIFICATIONS__PRIORITY__URGENT},
        {"alice", "n3", "bob started following you", NOTIFICATIONS__PRIORITY__LOW},
        {"bob", "n4", "Your password was changed", NOTIFICATIONS__PRIORITY__URGENT},
    };
    demo *dm = arg;
    size_t i;

    dm->send_result = 0;
    for (i = 0; i < sizeof(outbox) / sizeof(outbox[0]); i++) {
        Notifications__Notification n = NOTIFICATIONS__NOTIFICATION__INIT;

        n.id = (char *)outbox[i].id;
        n.title = (char *)outbox[i].title;
        n.priority = outbox[i].priority;
        n.at = (int64_t)time(NULL) * 1000;
        printf("    sender  -> %s: notify %s \"%s\"\n", outbox[i].user, n.id, n.title);
        fflush(stdout);
        if (inbox_send(dm->srv, dm->store, outbox[i].user, &n) < 0)
            dm->send_result = -1;
    }
    return NULL;
}

#define CHECK(x) do { if ((x) != 0) return -1; } while (0)

static int script(demo *dm, reader *alice, reader *bob, reader *mallory)
{
    Notifications__Ack ack = NOTIFICATIONS__ACK__INIT;
    char *ids[] = {"n1", "n2"};
    pthread_t sender;
    char err[256];

    step("alice and bob open their own inboxes (one room instance per user)");
    CHECK(open_inbox(dm, alice, "alice"));
    CHECK(expect(dm, alice, "unread 0"));
    CHECK(open_inbox(dm, bob, "bob"));
    CHECK(expect(dm, bob, "unread 0"));

    step("mallory tries to open alice's inbox");
    if (open_inbox(dm, mallory, "alice") == 0) {
        fprintf(stderr, "\nnotifications_demo: FAILED: mallory opened alice's inbox\n");
        return -1;
    }
    verani_client_last_error(mallory->c, err, sizeof(err));
    printf("    %-7s refused: %s\n", mallory->user, err);
    verani_client_destroy(mallory->c);
    mallory->c = NULL;
    dm->checks++;

    step("a sender thread sends through the server's thread-safe C entry point");
    if (pthread_create(&sender, NULL, sender_thread, dm) != 0) {
        fprintf(stderr, "notifications_demo: cannot start the sender thread\n");
        return -1;
    }
    pthread_join(sender, NULL);
    if (dm->send_result < 0) {
        fprintf(stderr, "\nnotifications_demo: FAILED: a send was not queued\n");
        return -1;
    }
    CHECK(expect(dm, alice, "notify n1: Build #812 passed"));
    CHECK(expect(dm, alice, "notify n2 (urgent): Invoice 2026-11 is ready"));
    CHECK(expect(dm, alice, "notify n3: bob started following you"));
    CHECK(expect(dm, alice, "unread 3"));
    CHECK(expect(dm, bob, "notify n4 (urgent): Your password was changed"));
    CHECK(expect(dm, bob, "unread 1"));
    /* The loop handled alice's sends before bob's: had one gone to bob, it
     * would have reached him before his own. */
    if (has_prefix(bob, "notify n1") || has_prefix(bob, "notify n2") ||
        has_prefix(bob, "notify n3")) {
        fprintf(stderr, "\nnotifications_demo: FAILED: bob received alice's notification\n");
        return -1;
    }
    dm->checks++;

    step("alice reads two of them and acks them");
    ack.ids = ids;
    ack.n_ids = 2;
    printf("    %-7s -> ack n1 n2\n", alice->user);
    CHECK(notifications_inbox_client_request_ack(alice->c, &ack, 5000, on_ack_reply, alice) < 0);
    CHECK(expect(dm, alice, "ack reply: unread 1"));
    return 0;
}

static void *server_thread(void *srv)
{
    verani_server_run(srv);
    return NULL;
}

int main(void)
{
    reader alice = {.user = "alice"}, bob = {.user = "bob"}, mallory = {.user = "mallory"};
    verani_server_options o;
    pthread_t thread;
    demo dm;
    char err[256];
    int rc;

    memset(&dm, 0, sizeof(dm));
    clock_gettime(CLOCK_MONOTONIC, &dm.deadline);
    dm.deadline.tv_sec += DEADLINE_S;
    verani_set_log_level(VERANI_LOG_ERR, NULL);
    verani_server_options_init(&o);
    o.bind_address = "127.0.0.1";
    o.log_level = VERANI_LOG_ERR;
    dm.store = inbox_store_create();
    dm.srv = dm.store ? verani_server_create(&o, err, sizeof(err)) : NULL;
    /* SIGPIPE and SIGXFSZ ignored, Ctrl-C stops the server (server.h, "Signals") */
    if (!dm.srv || inbox_room_mount(dm.srv, dm.store) < 0 || verani_server_listen(dm.srv) < 0 ||
        verani_server_handle_signals(dm.srv) < 0 ||
        pthread_create(&thread, NULL, server_thread, dm.srv) != 0) {
        fprintf(stderr, "notifications_demo: cannot start the server: %s\n",
                dm.srv ? verani_server_last_error(dm.srv) : dm.store ? err : "no memory");
        verani_server_destroy(dm.srv);
        inbox_store_destroy(dm.store);
        return 2;
    }
    dm.port = verani_server_port(dm.srv);
    printf("Verani-C notifications demo\n");
    printf("  server: room Inbox (schema/notifications.verani) at "
           "ws://127.0.0.1:%d/notifications/{user}, on its own thread\n", dm.port);

    dm.loop = verani_client_loop_create(err, sizeof(err));
    if (!dm.loop) {
        fprintf(stderr, "notifications_demo: cannot create the client loop: %s\n", err);
        rc = 2;
    } else {
        rc = script(&dm, &alice, &bob, &mallory) ? 1 : 0;
    }
    verani_client_loop_destroy(dm.loop);
    verani_server_stop(dm.srv);
    pthread_join(thread, NULL);
    verani_server_destroy(dm.srv);
    inbox_store_destroy(dm.store);
    if (rc == 0)
        printf("\nnotifications_demo: OK: all %u expected deliveries and answers arrived\n",
               dm.checks);
    return rc;
}
