/* SPDX-License-Identifier: MIT */
/*
 * presence_demo.c: the presence example in one program. It starts the
 * presence room's server in-process on 127.0.0.1 (an ephemeral port, its own
 * thread) and plays a script with three devices on one client loop: alice's
 * phone, bob's laptop and bob's phone. Bob's first device makes him online,
 * his second only changes his device count, his status goes to away, and
 * only his last device leaving makes him offline. Every delivery is printed
 * and checked. Exits 0 when all arrived, 1 naming what is missing (or when
 * the 20 s deadline passes), 2 when the server or a client cannot start.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <verani/verani.h>

#include "presence_client.h"
#include "presence_room.h"

#define DEADLINE_S 20
#define INBOX_MAX 32
#define INBOX_LINE 200

/* One scripted device and everything it received, one line per event. */
typedef struct device {
    const char *user, *name;          /* "bob", "phone" */
    char label[32];                   /* "bob/phone" */
    verani_client *c;                 /* owned; NULL once it left */
    char inbox[INBOX_MAX][INBOX_LINE];
    size_t n_inbox;
} device;

typedef struct demo {
    verani_client_loop *loop;         /* owned */
    struct timespec deadline;
    int port;
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

/* "alice online 1, bob away 2" */
static void format_list(const Presence__PresenceList *l, char *buf, size_t len)
{
    size_t i, used = 0;

    buf[0] = '\0';
    for (i = 0; l && i < l->n_users && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s %s %u", i ? ", " : "",
                                 l->users[i]->user_id, status_name(l->users[i]->status),
                                 l->users[i]->devices);
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
    return 0;
}

static void disconnect_device(device *d)
{
    printf("    %-11s disconnects\n", d->label);
    verani_client_destroy(d->c);
    d->c = NULL;
}

#define CHECK(x) do { if ((x) != 0) return -1; } while (0)

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
    return 0;
}

static void *server_thread(void *srv)
{
    verani_server_run(srv);
    return NULL;
}

int main(void)
{
    device alice = {.user = "alice", .name = "phone"};
    device laptop = {.user = "bob", .name = "laptop"};
    device phone = {.user = "bob", .name = "phone"};
    verani_server_options o;
    verani_server *srv;
    presence_room *room;
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
    room = presence_room_create();
    srv = room ? verani_server_create(&o, err, sizeof(err)) : NULL;
    if (!srv || presence_room_mount(srv, room) < 0 || verani_server_listen(srv) < 0 ||
        pthread_create(&thread, NULL, server_thread, srv) != 0) {
        fprintf(stderr, "presence_demo: cannot start the server: %s\n",
                srv ? verani_server_last_error(srv) : room ? err : "no memory");
        verani_server_destroy(srv);
        presence_room_destroy(room);
        return 2;
    }
    dm.port = verani_server_port(srv);
    printf("Verani-C presence demo\n");
    printf("  server: room Presence (schema/presence.verani) at "
           "ws://127.0.0.1:%d/presence/team, on its own thread\n", dm.port);

    dm.loop = verani_client_loop_create(err, sizeof(err));
    if (!dm.loop) {
        fprintf(stderr, "presence_demo: cannot create the client loop: %s\n", err);
        rc = 2;
    } else {
        rc = script(&dm, &alice, &laptop, &phone) ? 1 : 0;
    }
    verani_client_loop_destroy(dm.loop);
    verani_server_stop(srv);
    pthread_join(thread, NULL);
    verani_server_destroy(srv);
    presence_room_destroy(room);
    if (rc == 0)
        printf("\npresence_demo: OK: all %u expected deliveries arrived\n", dm.checks);
    return rc;
}
