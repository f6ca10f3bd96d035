/* SPDX-License-Identifier: MIT */
/*
 * chat_client_main.c: `chat_client URL USER`, a terminal client of the
 * example chat room. URL is a room instance, ws://127.0.0.1:8080/chat/lobby;
 * USER becomes ?userId=USER&name=USER. Each line read from stdin is a
 * message to the current channel (the message's `channel` field: "default" at
 * first; a join the server accepts makes that channel current, leaving it goes
 * back to "default"); commands: /join CH, /leave CH, /history N, /typing,
 * /quit. Broadcasts (with their channel), joins, leaves, who types and
 * answers are printed as they arrive. The client reconnects by itself
 * (Verani's defaults) and queues lines typed while it is away. At the end of
 * input (or /quit) it waits up to 5 s for what it queued to be sent and for
 * pending answers, so `printf 'hi\n/history 5\n' | chat_client ...` works. The client
 * loop runs on its own thread; stdin is read on the main thread.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <verani/verani.h>

#include "chat_client.h"

/* The channel lines go to: written by the loop thread when a join or leave
 * is answered, read by the main thread; both under g_lock. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_channel[33] = "default";

static void on_chat_message(verani_client *c, const Chat__ChatBroadcast *m, void *user)
{
    (void)c;
    (void)user;
    printf("[#%s] %s: %s\n", m->channel ? m->channel : "default", m->from, m->text);
    fflush(stdout);
}

static void on_user_joined(verani_client *c, const Chat__UserEvent *m, void *user)
{
    (void)c;
    (void)user;
    printf("* %s joined\n", m->user_id);
    fflush(stdout);
}

static void on_user_left(verani_client *c, const Chat__UserEvent *m, void *user)
{
    (void)c;
    (void)user;
    printf("* %s left\n", m->user_id);
    fflush(stdout);
}

static void on_typing(verani_client *c, const Chat__UserEvent *m, void *user)
{
    (void)c;
    (void)user;
    printf("* %s is typing...\n", m->user_id);
    fflush(stdout);
}

static void on_state(verani_client *c, verani_client_state from, verani_client_state to,
                     void *user)
{
    (void)c;
    (void)from;
    (void)user;
    printf("* %s\n", verani_client_state_name(to));
    fflush(stdout);
}

static void on_error(verani_client *c, int err, const char *what, void *user)
{
    (void)c;
    (void)user;
    printf("* error: %s: %s\n", verani_strerror(err), what);
    fflush(stdout);
}

static void on_channel(verani_client *c, const char *channel, verani_reply_status status,
                       const char *error, void *user)
{
    int joining = user != NULL;

    (void)c;
    pthread_mutex_lock(&g_lock);
    if (status == VERANI_REPLY_OK && joining)
        snprintf(g_channel, sizeof(g_channel), "%s", channel);
    else if (status == VERANI_REPLY_OK && !strcmp(channel, g_channel))
        snprintf(g_channel, sizeof(g_channel), "default");
    pthread_mutex_unlock(&g_lock);
    printf("* #%s: %s%s%s\n", channel, status == VERANI_REPLY_OK ? "ok" : "refused",
           error ? ": " : "", error ? error : "");
    fflush(stdout);
}

static void on_history(verani_client *c, verani_reply_status status, const Chat__HistoryPage *page,
                       const char *error, void *user)
{
    size_t i;

    (void)c;
    (void)user;
    if (status != VERANI_REPLY_OK) {
        printf("* history failed: %s\n", error ? error : "no reply");
    } else {
        printf("* history, newest first (%zu):\n", page->n_messages);
        for (i = 0; i < page->n_messages; i++)
            printf("    [#%s] %s: %s\n",
                   page->messages[i]->channel ? page->messages[i]->channel : "default",
                   page->messages[i]->from, page->messages[i]->text);
    }
    fflush(stdout);
}

static void command(verani_client *c, char *line)
{
    char *arg = strchr(line, ' ');

    if (arg)
        *arg++ = '\0';
    /* on_channel's `user` tells a join (non-NULL) from a leave. */
    if (!strcmp(line, "/join") && arg) {
        verani_client_join(c, arg, on_channel, (void *)"join");
    } else if (!strcmp(line, "/leave") && arg) {
        verani_client_leave(c, arg, on_channel, NULL);
    } else if (!strcmp(line, "/history")) {
        Chat__HistoryQuery q = CHAT__HISTORY_QUERY__INIT;

        q.limit = arg ? (uint32_t)strtoul(arg, NULL, 10) : 10;
        if (chat_chat_client_request_history(c, &q, 0, on_history, NULL) < 0) {
            char err[256];

            verani_client_last_error(c, err, sizeof(err));
            printf("* not sent: %s\n", err);
        }
    } else if (!strcmp(line, "/typing")) {
        chat_chat_client_emit_chat_typing(c);
    } else {
        printf("* commands: /join CH, /leave CH, /history N, /typing, /quit\n");
    }
}

/* Wait (at most 10 s) until nothing is queued or awaiting an answer, unless
 * the client has given up. Main thread, while the loop runs on its own. */
static void drain(verani_client *c)
{
    struct timespec tick = {0, 10 * 1000 * 1000}, start, now;
    verani_client_info info;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (now = start; now.tv_sec - start.tv_sec < 10; clock_gettime(CLOCK_MONOTONIC, &now)) {
        if (verani_client_get_info(c, &info) < 0 || info.state == VERANI_CLIENT_ERROR ||
            info.state == VERANI_CLIENT_DISCONNECTED ||
            (info.state == VERANI_CLIENT_CONNECTED && !info.queued && !info.pending_requests))
            return;
        nanosleep(&tick, NULL);
    }
}

int main(int argc, char **argv)
{
    verani_client_options o;
    verani_client_loop *loop;
    verani_client *c;
    char url[1024], err[256], line[2100];

    if (argc != 3) {
        fprintf(stderr, "usage: %s URL USER\n"
                        "  e.g. %s ws://127.0.0.1:8080/chat/lobby alice\n", argv[0], argv[0]);
        return 2;
    }
    snprintf(url, sizeof(url), "%s%suserId=%s&name=%s", argv[1],
             strchr(argv[1], '?') ? "&" : "?", argv[2], argv[2]);
    verani_set_log_level(VERANI_LOG_ERR, NULL);
    loop = verani_client_loop_create(err, sizeof(err));
    if (!loop) {
        fprintf(stderr, "chat_client: %s\n", err);
        return 1;
    }
    verani_client_options_init(&o);
    o.url = url;
    o.room = &chat_chat_schema;
    c = verani_client_create(loop, &o, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "chat_client: %s\n", err);
        verani_client_loop_destroy(loop);
        return 1;
    }
    chat_chat_client_on_chat_message(c, on_chat_message, NULL);
    chat_chat_client_on_user_joined(c, on_user_joined, NULL);
    chat_chat_client_on_user_left(c, on_user_left, NULL);
    chat_chat_client_on_typing(c, on_typing, NULL);
    verani_client_on_state_change(c, on_state, NULL);
    verani_client_on_error(c, on_error, NULL);
    if (verani_client_loop_start(loop) < 0) {
        fprintf(stderr, "chat_client: cannot start the client thread\n");
        verani_client_loop_destroy(loop);
        return 1;
    }
    printf("* connecting to %s; type a line to send it, /quit to leave\n", url);
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (!strcmp(line, "/quit"))
            break;
        if (line[0] == '/') {
            command(c, line);
        } else {
            Chat__ChatMessage m = CHAT__CHAT_MESSAGE__INIT;
            char channel[sizeof(g_channel)];

            m.text = line;
            pthread_mutex_lock(&g_lock);
            memcpy(channel, g_channel, sizeof(channel));
            pthread_mutex_unlock(&g_lock);
            m.channel = channel;
            if (chat_chat_client_emit_chat_message(c, &m) < 0) {
                verani_client_last_error(c, err, sizeof(err));
                printf("* not sent: %s\n", err);
            }
        }
    }
    drain(c);
    verani_client_loop_destroy(loop);   /* stops the thread, closes with 1000 */
    return 0;
}
