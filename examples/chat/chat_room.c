/* SPDX-License-Identifier: MIT */
/*
 * chat_room.c: the example chat room's handlers. On connect the newcomer's
 * user id is announced to channel "default" (user.joined), on disconnect its
 * departure (user.left); a chat.message is stamped with the sender and the
 * server time and broadcast to its channel, except to the sender; chat.typing
 * is relayed to the sender's channel "default"; a join is allowed for channel
 * names of 1 to 32 characters in [a-z0-9_-]; history answers with the newest
 * messages, newest first, of the channels the asker is in. It does not
 * persist anything: the history ring lives in memory, one per instance, and
 * is dropped when the instance's last session leaves (so a long-running
 * server does not grow with every instance name ever used).
 */
#define _POSIX_C_SOURCE 200809L

#include "chat_room.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One remembered message. Every string is owned by the entry. */
typedef struct chat_entry {
    char *channel;
    Chat__ChatBroadcast msg;   /* msg.from and msg.text are owned */
} chat_entry;

/* One room instance's history: a ring of the newest CHAT_ROOM_HISTORY messages. */
typedef struct chat_instance {
    struct chat_instance *next;
    char *name;                /* owned */
    chat_entry ring[CHAT_ROOM_HISTORY];
    size_t head;               /* where the next message goes */
    size_t count;
} chat_instance;

struct chat_room {
    chat_instance *instances;  /* owned list */
};

chat_room *chat_room_create(void)
{
    return calloc(1, sizeof(chat_room));
}

static void entry_clear(chat_entry *e)
{
    free(e->channel);
    free(e->msg.from);
    free(e->msg.text);
    memset(e, 0, sizeof(*e));
}

void chat_room_destroy(chat_room *room)
{
    chat_instance *in, *next;
    size_t i;

    if (!room)
        return;
    for (in = room->instances; in; in = next) {
        next = in->next;
        for (i = 0; i < CHAT_ROOM_HISTORY; i++)
            entry_clear(&in->ring[i]);
        free(in->name);
        free(in);
    }
    free(room);
}

/* The instance of `ctx`, created on first use; NULL when out of memory. */
static chat_instance *instance_of(verani_ctx *ctx)
{
    chat_room *room = verani_ctx_user(ctx);
    const char *name = verani_ctx_instance(ctx);
    chat_instance *in;

    for (in = room->instances; in; in = in->next)
        if (!strcmp(in->name, name))
            return in;
    in = calloc(1, sizeof(*in));
    if (!in || !(in->name = strdup(name))) {
        free(in);
        return NULL;
    }
    in->next = room->instances;
    room->instances = in;
    return in;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The name shown for the sender: the meta's username, else the user id. */
static const char *display_name(verani_ctx *ctx)
{
    const Chat__ChatMeta *meta = chat_chat_meta(ctx);

    if (meta && meta->username && meta->username[0])
        return meta->username;
    return verani_ctx_user_id(ctx);
}

const char *chat_room_message_channel(const Chat__ChatMessage *msg)
{
    size_t i;

    for (i = 0; i < msg->n_tags; i++)
        if (msg->tags[i] && msg->tags[i][0] == '#' && msg->tags[i][1])
            return msg->tags[i] + 1;
    return "default";
}

/* ?userId= (or X-User-Id) is the user id, ?name= the username shown to others. */
static int extract_meta(verani_upgrade *req, Chat__ChatMeta *meta)
{
    char v[129];

    if (verani_upgrade_query(req, "userId", v, sizeof(v)) <= 0 &&
        verani_upgrade_header(req, "x-user-id", v, sizeof(v)) <= 0)
        return verani_upgrade_reject(req, 401, "pass your user id as ?userId=");
    if (verani_upgrade_set_user_id(req, v) < 0)
        return VERANI_ENOMEM;
    if (verani_upgrade_query(req, "name", v, sizeof(v)) > 0)
        meta->username = verani_upgrade_strdup(req, v);
    return 0;
}

/* Everyone else in "default" hears about the newcomer. */
static int on_connect(verani_ctx *ctx)
{
    Chat__UserEvent ev = CHAT__USER_EVENT__INIT;
    verani_target to = verani_to_channel("default");

    ev.user_id = (char *)display_name(ctx);
    to.except = verani_ctx_session(ctx);
    return chat_chat_emit_user_joined(ctx, to, &ev) < 0 ? VERANI_EIO : 0;
}

/* Free the history of the context's instance. */
static void instance_drop(verani_ctx *ctx)
{
    chat_room *room = verani_ctx_user(ctx);
    const char *name = verani_ctx_instance(ctx);
    chat_instance **pp, *in;
    size_t i;

    for (pp = &room->instances; *pp; pp = &(*pp)->next) {
        if (!strcmp((*pp)->name, name)) {
            in = *pp;
            *pp = in->next;
            for (i = 0; i < CHAT_ROOM_HISTORY; i++)
                entry_clear(&in->ring[i]);
            free(in->name);
            free(in);
            return;
        }
    }
}

/* The session has already left the instance: everyone still in "default" hears
 * it; the last one out drops the instance's history. */
static void on_disconnect(verani_ctx *ctx)
{
    Chat__UserEvent ev = CHAT__USER_EVENT__INIT;

    ev.user_id = (char *)display_name(ctx);
    chat_chat_emit_user_left(ctx, verani_to_channel("default"), &ev);
    if (verani_ctx_session_count(ctx) == 0)
        instance_drop(ctx);
}

static int on_join(verani_ctx *ctx, const char *channel)
{
    size_t n = strlen(channel);

    (void)ctx;
    if (n == 0 || n > 32 || strspn(channel, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
        return VERANI_EDENIED;
    return 0;
}

static void remember(chat_instance *in, const char *channel, const Chat__ChatBroadcast *b)
{
    chat_entry *e = &in->ring[in->head];

    entry_clear(e);
    e->channel = strdup(channel);
    e->msg = *b;
    e->msg.from = strdup(b->from);
    e->msg.text = strdup(b->text);
    if (!e->channel || !e->msg.from || !e->msg.text) {
        entry_clear(e);     /* out of memory: this message is not remembered */
        return;
    }
    in->head = (in->head + 1) % CHAT_ROOM_HISTORY;
    if (in->count < CHAT_ROOM_HISTORY)
        in->count++;
}

static int on_message(verani_ctx *ctx, const Chat__ChatMessage *msg)
{
    Chat__ChatBroadcast out = CHAT__CHAT_BROADCAST__INIT;
    const char *channel = chat_room_message_channel(msg);
    chat_instance *in = instance_of(ctx);
    verani_target to = verani_to_channel(channel);

    if (!in)
        return VERANI_ENOMEM;
    if (!verani_session_in_channel(verani_ctx_session(ctx), channel))
        return VERANI_EDENIED;   /* reaches on_error; the sender gets an error frame */
    out.from = (char *)display_name(ctx);
    out.text = msg->text;
    out.at = now_ms();
    out.mood = msg->mood;
    remember(in, channel, &out);
    to.except = verani_ctx_session(ctx);
    return chat_chat_emit_chat_message(ctx, to, &out) < 0 ? VERANI_EIO : 0;
}

static int on_typing(verani_ctx *ctx)
{
    verani_target to = verani_to_channel("default");

    to.except = verani_ctx_session(ctx);
    return chat_chat_emit_typing(ctx, to) < 0 ? VERANI_EIO : 0;
}

/* The newest `limit` messages of the asker's channels, newest first. The reply
 * borrows the ring's messages: the runtime encodes it before the ring changes. */
static int on_history(verani_ctx *ctx, const Chat__HistoryQuery *q, Chat__HistoryPage *reply)
{
    chat_instance *in = instance_of(ctx);
    const verani_session *s = verani_ctx_session(ctx);
    size_t i, n = 0;

    if (!in)
        return VERANI_ENOMEM;
    reply->messages = verani_ctx_alloc(ctx, in->count * sizeof(*reply->messages) + 1);
    if (!reply->messages)
        return VERANI_ENOMEM;
    for (i = 0; i < in->count && n < q->limit; i++) {
        chat_entry *e = &in->ring[(in->head + CHAT_ROOM_HISTORY - 1 - i) % CHAT_ROOM_HISTORY];

        if (verani_session_in_channel(s, e->channel))
            reply->messages[n++] = &e->msg;
    }
    reply->n_messages = n;
    return 0;
}

static void on_error(verani_ctx *ctx, int err, const char *what)
{
    (void)ctx;
    (void)err;
    (void)what;   /* the runtime already logs it; the sender got an error frame */
}

static const chat_chat_handlers chat_handlers = {
    .hooks = {
        .on_connect = on_connect,
        .on_disconnect = on_disconnect,
        .on_error = on_error,
        .on_join = on_join,
    },
    .extract_meta = extract_meta,
    .chat_message = on_message,
    .chat_typing = on_typing,
    .history = on_history,
};

int chat_room_mount(verani_server *srv, chat_room *room)
{
    return chat_chat_mount(srv, &chat_handlers, room);
}
