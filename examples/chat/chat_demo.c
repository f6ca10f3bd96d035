/* SPDX-License-Identifier: MIT */
/*
 * chat_demo.c: the chat example in one program. It starts the chat server
 * in-process on 127.0.0.1 (an ephemeral port, the server on its own thread),
 * connects three typed clients (alice, bob, carol) on one client loop, and
 * plays a script: they join, chat, type (the others see who), try a message
 * over the schema's length limit, join a channel and send to it with the
 * message's `channel` field, leave it, ask for history and leave. Every
 * step and every delivery is printed as it happens; every expected delivery is
 * checked. Exits 0 when all arrived, 1 naming what is missing (or when the
 * 20 s deadline passes), 2 when the server or a client cannot start. It does
 * not test failure paths of the runtime (tests/ does).
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <verani/verani.h>

#include "chat_client.h"
#include "chat_room.h"

#define DEADLINE_S 20
#define INBOX_MAX 32
#define INBOX_LINE 200

/* One scripted user: its client and everything it received, in order. */
typedef struct peer {
    const char *user;                 /* user id, "alice" */
    const char *name;                 /* ?name=, kept in the session's typed meta */
    verani_client *c;                 /* owned; NULL once it left */
    char inbox[INBOX_MAX][INBOX_LINE]; /* what it received, one line per event */
    size_t n_inbox;
    int answered;                     /* a join, leave or history answer arrived */
    verani_reply_status status;       /* ... and how it ended */
    char answer[INBOX_LINE];           /* the answer, for the script to check */
} peer;

typedef struct demo {
    verani_client_loop *loop;         /* owned */
    struct timespec deadline;
    int port;
    unsigned checks;                  /* expected deliveries seen */
} demo;

/* --- printing and bookkeeping --------------------------------------------- */

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

static void record(peer *p, const char *fmt, ...) VERANI_PRINTF(2, 3);
static void record(peer *p, const char *fmt, ...)
{
    char line[INBOX_LINE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    printf("    %-6s <- %s\n", p->user, line);
    fflush(stdout);
    if (p->n_inbox < INBOX_MAX)
        memcpy(p->inbox[p->n_inbox++], line, sizeof(line));
}

static int has_line(const peer *p, const char *line)
{
    size_t i;

    for (i = 0; i < p->n_inbox; i++)
        if (!strcmp(p->inbox[i], line))
            return 1;
    return 0;
}

static int has_prefix(const peer *p, const char *prefix)
{
    size_t i;

    for (i = 0; i < p->n_inbox; i++)
        if (!strncmp(p->inbox[i], prefix, strlen(prefix)))
            return 1;
    return 0;
}

static int past_deadline(const demo *d)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > d->deadline.tv_sec ||
           (now.tv_sec == d->deadline.tv_sec && now.tv_nsec >= d->deadline.tv_nsec);
}

static void fail_dump(const peer *p)
{
    size_t i;

    fprintf(stderr, "    %s received %zu event(s)%s\n", p->user, p->n_inbox,
            p->n_inbox ? ":" : "");
    for (i = 0; i < p->n_inbox; i++)
        fprintf(stderr, "      %s\n", p->inbox[i]);
}

/* Service the client loop until `p` has `line` in its inbox. 0, or -1 after
 * saying what is missing. */
static int expect(demo *d, peer *p, const char *line)
{
    while (!has_line(p, line)) {
        if (past_deadline(d) || verani_client_loop_service(d->loop, 20) < 0) {
            fprintf(stderr, "\nchat_demo: FAILED: %s never received \"%s\" (deadline %d s)\n",
                    p->user, line, DEADLINE_S);
            fail_dump(p);
            return -1;
        }
    }
    d->checks++;
    return 0;
}

/* Service the loop until `p`'s pending join, leave or request is answered. */
static int await_answer(demo *d, peer *p, const char *what)
{
    while (!p->answered) {
        if (past_deadline(d) || verani_client_loop_service(d->loop, 20) < 0) {
            fprintf(stderr, "\nchat_demo: FAILED: %s got no answer to %s (deadline %d s)\n",
                    p->user, what, DEADLINE_S);
            return -1;
        }
    }
    p->answered = 0;
    return 0;
}

/* --- client callbacks (they run inside verani_client_loop_service) -------- */

/* The broadcast's `channel` field and the channel the frame was sent to must agree. */
static void on_chat_message(verani_client *c, const Chat__ChatBroadcast *m, void *user)
{
    const char *sent_to = verani_client_event_channel(c);
    const char *field = m->channel ? m->channel : "default";

    if (!sent_to || strcmp(sent_to, field))
        record(user, "chat.message in #%s says channel \"%s\"", sent_to ? sent_to : "(none)",
               field);
    else
        record(user, "chat.message #%s %s: %s%s", field, m->from, m->text,
               m->mood == CHAT__MOOD__HAPPY ? " (happy)" : "");
}

static void on_user_joined(verani_client *c, const Chat__UserEvent *m, void *user)
{
    (void)c;
    record(user, "user.joined %s", m->user_id);
}

static void on_user_left(verani_client *c, const Chat__UserEvent *m, void *user)
{
    (void)c;
    record(user, "user.left %s", m->user_id);
}

static void on_typing(verani_client *c, const Chat__UserEvent *m, void *user)
{
    (void)c;
    record(user, "typing %s", m->user_id);
}

static void on_client_error(verani_client *c, int err, const char *what, void *user)
{
    (void)c;
    printf("    %-6s !! %s: %s\n", ((peer *)user)->user, verani_strerror(err), what);
}

static void on_channel_answer(verani_client *c, const char *channel, verani_reply_status status,
                              const char *error, void *user)
{
    peer *p = user;

    (void)c;
    p->status = status;
    snprintf(p->answer, sizeof(p->answer), "%s", error ? error : "");
    p->answered = 1;
    printf("    %-6s <- %s #%s: %s%s%s\n", p->user, "channel answer", channel,
           status == VERANI_REPLY_OK ? "ok" : "refused", error ? ": " : "", error ? error : "");
}

static void on_history(verani_client *c, verani_reply_status status, const Chat__HistoryPage *page,
                       const char *error, void *user)
{
    peer *p = user;
    size_t i, len = 0;

    (void)c;
    p->status = status;
    p->answer[0] = '\0';
    if (status == VERANI_REPLY_OK)
        printf("    %-6s <- history: %zu message(s), newest first\n", p->user, page->n_messages);
    else
        printf("    %-6s <- history failed: %s\n", p->user, error ? error : "no reply");
    for (i = 0; page && i < page->n_messages; i++) {
        printf("               %zu. #%s %s: %s\n", i + 1,
               page->messages[i]->channel ? page->messages[i]->channel : "default",
               page->messages[i]->from, page->messages[i]->text);
        len += (size_t)snprintf(p->answer + len, sizeof(p->answer) - len, "%s%s",
                                i ? "|" : "", page->messages[i]->text);
        if (len >= sizeof(p->answer))
            len = sizeof(p->answer) - 1;
    }
    p->answered = 1;
}

/* --- the script's actions -------------------------------------------------- */

static int join(demo *d, peer *p)
{
    verani_client_options o;
    char url[256], err[256];

    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/chat/lobby?userId=%s&name=%s", d->port,
             p->user, p->name);
    verani_client_options_init(&o);
    o.url = url;
    o.room = &chat_chat_schema;
    p->c = verani_client_create(d->loop, &o, err, sizeof(err));
    if (!p->c) {
        fprintf(stderr, "chat_demo: cannot create %s's client: %s\n", p->user, err);
        return -1;
    }
    if (chat_chat_client_on_chat_message(p->c, on_chat_message, p) < 0 ||
        chat_chat_client_on_user_joined(p->c, on_user_joined, p) < 0 ||
        chat_chat_client_on_user_left(p->c, on_user_left, p) < 0 ||
        chat_chat_client_on_typing(p->c, on_typing, p) < 0 ||
        verani_client_on_error(p->c, on_client_error, p) < 0) {
        fprintf(stderr, "chat_demo: cannot register %s's callbacks\n", p->user);
        return -1;
    }
    printf("    %-6s connects to %s\n", p->user, url);
    /* Services the loop until the welcome arrives (or the timeout passes). */
    if (verani_client_wait_for_connection(p->c, 10000) != 0) {
        verani_client_last_error(p->c, err, sizeof(err));
        fprintf(stderr, "\nchat_demo: FAILED: %s could not connect: %s\n", p->user, err);
        return -1;
    }
    return 0;
}

static int say(peer *p, const char *channel, const char *text, Chat__Mood mood)
{
    Chat__ChatMessage m = CHAT__CHAT_MESSAGE__INIT;
    char err[256];
    int r;

    m.text = (char *)text;
    m.mood = mood;
    m.channel = (char *)channel;   /* NULL: absent, so "default" */
    r = chat_chat_client_emit_chat_message(p->c, &m);
    if (r < 0) {
        verani_client_last_error(p->c, err, sizeof(err));
        printf("    %-6s -> refused before sending (%s): %s\n", p->user, verani_strerror(r), err);
        return r;
    }
    printf("    %-6s -> chat.message #%s: %s\n", p->user, channel ? channel : "default", text);
    return 0;
}

static int channel(demo *d, peer *p, const char *ch, int joining)
{
    int r;

    printf("    %-6s -> %s #%s\n", p->user, joining ? "join" : "leave", ch);
    r = joining ? verani_client_join(p->c, ch, on_channel_answer, p)
                : verani_client_leave(p->c, ch, on_channel_answer, p);
    if (r < 0) {
        fprintf(stderr, "chat_demo: %s: %s\n", p->user, verani_strerror(r));
        return -1;
    }
    return await_answer(d, p, joining ? "a join" : "a leave");
}

static int history(demo *d, peer *p, uint32_t limit, const char *want)
{
    Chat__HistoryQuery q = CHAT__HISTORY_QUERY__INIT;

    q.limit = limit;
    printf("    %-6s -> history (newest %u)\n", p->user, limit);
    if (chat_chat_client_request_history(p->c, &q, 5000, on_history, p) < 0 ||
        await_answer(d, p, "a history request"))
        return -1;
    if (p->status != VERANI_REPLY_OK || strcmp(p->answer, want)) {
        fprintf(stderr, "\nchat_demo: FAILED: %s's history is \"%s\", expected \"%s\"\n",
                p->user, p->answer, want);
        return -1;
    }
    d->checks++;
    return 0;
}

static void leave(peer *p)
{
    printf("    %-6s leaves (closes its connection)\n", p->user);
    verani_client_destroy(p->c);
    p->c = NULL;
}

/* --- the script ------------------------------------------------------------ */

#define CHECK(x) do { if ((x) != 0) return -1; } while (0)

static int script(demo *d, peer *alice, peer *bob, peer *carol)
{
    static char too_long[2002];

    step("alice, bob and carol connect to room instance \"lobby\"");
    CHECK(join(d, alice));
    CHECK(join(d, bob));
    CHECK(expect(d, alice, "user.joined bob"));
    CHECK(join(d, carol));
    CHECK(expect(d, alice, "user.joined carol"));
    CHECK(expect(d, bob, "user.joined carol"));

    step("alice says hello in channel #default (everyone joins it on connect)");
    CHECK(say(alice, NULL, "Hello everyone!", CHAT__MOOD__NEUTRAL));
    CHECK(expect(d, bob, "chat.message #default alice: Hello everyone!"));
    CHECK(expect(d, carol, "chat.message #default alice: Hello everyone!"));

    step("bob starts typing (the others see who), then answers");
    printf("    %-6s -> chat.typing\n", bob->user);
    CHECK(chat_chat_client_emit_chat_typing(bob->c) < 0);
    CHECK(expect(d, alice, "typing bob"));
    CHECK(expect(d, carol, "typing bob"));
    CHECK(say(bob, NULL, "Hi Alice :)", CHAT__MOOD__HAPPY));
    CHECK(expect(d, alice, "chat.message #default bob: Hi Alice :) (happy)"));
    CHECK(expect(d, carol, "chat.message #default bob: Hi Alice :) (happy)"));

    step("bob pastes 2,001 characters: the schema says max_len = 2000 (and 32 for a channel)");
    memset(too_long, 'x', sizeof(too_long) - 1);
    if (say(bob, NULL, too_long, CHAT__MOOD__NEUTRAL) != VERANI_EINVAL) {
        fprintf(stderr, "\nchat_demo: FAILED: a 2,001-character message was not refused\n");
        return -1;
    }
    if (say(bob, "a-channel-name-of-33-characters-x", "hi", CHAT__MOOD__NEUTRAL) != VERANI_EINVAL) {
        fprintf(stderr, "\nchat_demo: FAILED: a 33-character channel name was not refused\n");
        return -1;
    }
    d->checks += 2;

    step("bob and carol join channel #support; a channel name with spaces is refused;\n"
         "    carol sends to #support (the message's channel field)");
    CHECK(channel(d, bob, "support", 1));
    CHECK(bob->status != VERANI_REPLY_OK);
    CHECK(channel(d, carol, "support", 1));
    CHECK(carol->status != VERANI_REPLY_OK);
    CHECK(channel(d, carol, "no spaces here", 1));
    if (carol->status != VERANI_REPLY_ERROR) {
        fprintf(stderr, "\nchat_demo: FAILED: the server accepted channel \"no spaces here\"\n");
        return -1;
    }
    d->checks += 3;
    CHECK(say(carol, "support", "Anyone free for a support shift?", CHAT__MOOD__NEUTRAL));
    CHECK(expect(d, bob, "chat.message #support carol: Anyone free for a support shift?"));
    CHECK(channel(d, carol, "support", 0));
    CHECK(carol->status != VERANI_REPLY_OK);
    d->checks++;

    step("alice and bob ask for history: each sees only the channels they are in");
    CHECK(history(d, alice, 10, "Hi Alice :)|Hello everyone!"));
    CHECK(history(d, bob, 10, "Anyone free for a support shift?|Hi Alice :)|Hello everyone!"));
    /* The server sent carol's message before answering alice, on alice's one
     * connection: had it gone to alice, it would be in her inbox by now. */
    if (has_prefix(alice, "chat.message #support")) {
        fprintf(stderr, "\nchat_demo: FAILED: alice received a #support message\n");
        return -1;
    }
    d->checks++;

    step("carol, then bob, leave");
    leave(carol);
    CHECK(expect(d, alice, "user.left carol"));
    CHECK(expect(d, bob, "user.left carol"));
    leave(bob);
    CHECK(expect(d, alice, "user.left bob"));
    leave(alice);
    return 0;
}

/* --- main: the server on its own thread, the clients on this one ---------- */

static void *server_thread(void *arg)
{
    verani_server_run(arg);
    return NULL;
}

int main(void)
{
    peer alice = {.user = "alice", .name = "Alice"};
    peer bob = {.user = "bob", .name = "Bob"};
    peer carol = {.user = "carol", .name = "Carol"};
    verani_server_options o;
    verani_server *srv;
    chat_room *room;
    pthread_t thread;
    demo d;
    char err[256];
    int rc;

    memset(&d, 0, sizeof(d));
    clock_gettime(CLOCK_MONOTONIC, &d.deadline);
    d.deadline.tv_sec += DEADLINE_S;
    verani_set_log_level(VERANI_LOG_ERR, NULL);

    verani_server_options_init(&o);
    o.bind_address = "127.0.0.1";
    o.port = 0;
    o.log_level = VERANI_LOG_ERR;
    room = chat_room_create();
    srv = room ? verani_server_create(&o, err, sizeof(err)) : NULL;
    if (!srv) {
        fprintf(stderr, "chat_demo: cannot create the server: %s\n", room ? err : "no memory");
        chat_room_destroy(room);
        return 2;
    }
    /* SIGPIPE and SIGXFSZ ignored, Ctrl-C stops the server (server.h, "Signals") */
    if (chat_room_mount(srv, room) < 0 || verani_server_listen(srv) < 0 ||
        verani_server_handle_signals(srv) < 0) {
        fprintf(stderr, "chat_demo: cannot start the server: %s\n", verani_server_last_error(srv));
        verani_server_destroy(srv);
        chat_room_destroy(room);
        return 2;
    }
    d.port = verani_server_port(srv);
    if (pthread_create(&thread, NULL, server_thread, srv) != 0) {
        fprintf(stderr, "chat_demo: cannot start the server thread\n");
        verani_server_destroy(srv);
        chat_room_destroy(room);
        return 2;
    }
    printf("Verani-C chat demo\n");
    printf("  server: room Chat (schema/chat.verani) at ws://127.0.0.1:%d/chat/{room},\n"
           "          in this process, on its own thread\n", d.port);
    printf("  clients: alice, bob and carol, typed clients on one client loop\n");
    printf("  legend: \"->\" a client sends, \"<-\" a client receives\n");

    d.loop = verani_client_loop_create(err, sizeof(err));
    if (!d.loop) {
        fprintf(stderr, "chat_demo: cannot create the client loop: %s\n", err);
        rc = 2;
    } else {
        rc = script(&d, &alice, &bob, &carol) ? 1 : 0;
    }

    /* Destroying the loop destroys the clients still on it. */
    verani_client_loop_destroy(d.loop);
    verani_server_stop(srv);
    pthread_join(thread, NULL);
    verani_server_destroy(srv);
    chat_room_destroy(room);
    if (rc == 0)
        printf("\nchat_demo: OK: all %u expected deliveries and answers arrived\n", d.checks);
    return rc;
}
