/* SPDX-License-Identifier: MIT */
/*
 * chat_room.c: the example chat room's handlers. On connect the newcomer's
 * user id is announced to channel "default" (user.joined), on disconnect its
 * departure (user.left); a chat.message goes to the channel its `channel`
 * field names ("default" when absent; the sender must be in it), stamped with
 * the sender's user id, the channel and the server time, to everyone there
 * except the sender; chat.typing is relayed to the sender's channel "default"
 * as typing with the sender's user id; a join is allowed for channel names of
 * 1 to 32 characters in [a-z0-9_-]; history answers with the newest messages,
 * newest first, of the channels the asker is in, bounded by count and by bytes
 * (CHAT_ROOM_HISTORY_BYTES). Messages are kept in the
 * instance's room storage (verani_ctx_storage: SQLite, in memory unless the
 * server has a storage_path), the newest CHAT_ROOM_HISTORY of them, so with a
 * storage file they survive a restart. It keeps no per-user state.
 */
#define _POSIX_C_SOURCE 200809L

#include "chat_room.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <verani/storage.h>

struct chat_room {
    unsigned long stored;      /* messages stored since create */
};

chat_room *chat_room_create(void)
{
    return calloc(1, sizeof(chat_room));
}

void chat_room_destroy(chat_room *room)
{
    free(room);
}

unsigned long chat_room_stored(const chat_room *room)
{
    return room->stored;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *chat_room_message_channel(const Chat__ChatMessage *msg)
{
    return msg->channel && msg->channel[0] ? msg->channel : "default";
}

/* ?userId= (or X-User-Id) is the user id and is required; ?name= fills the
 * typed meta's username (the schema's events carry user ids only, so it is
 * kept with the session for handlers that want it: chat_chat_meta(ctx)).
 * The buffer holds the longest user id there is; a longer value (or a name
 * over 256 bytes) is not cut to fit: the runtime refuses the upgrade (400). */
static int extract_meta(verani_upgrade *req, Chat__ChatMeta *meta)
{
    char v[VERANI_USER_ID_MAX + 1];

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

    ev.user_id = (char *)verani_ctx_user_id(ctx);
    to.except = verani_ctx_session(ctx);
    return chat_chat_emit_user_joined(ctx, to, &ev) < 0 ? VERANI_EIO : 0;
}

/* The session has already left the instance: everyone still in "default" hears it. */
static void on_disconnect(verani_ctx *ctx)
{
    Chat__UserEvent ev = CHAT__USER_EVENT__INIT;

    ev.user_id = (char *)verani_ctx_user_id(ctx);
    chat_chat_emit_user_left(ctx, verani_to_channel("default"), &ev);
}

static int on_join(verani_ctx *ctx, const char *channel)
{
    size_t n = strlen(channel);

    (void)ctx;
    if (n == 0 || n > 32 || strspn(channel, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
        return VERANI_EDENIED;
    return 0;
}

/*
 * History in room storage. Keys of the instance's key space:
 *   "seq"                              the last message's number, as decimal text
 *   "msg/<number, 20 digits>/<channel>"  a ChatBroadcast, protobuf-encoded
 * The fixed-width number keeps the keys in time order. At most
 * CHAT_ROOM_HISTORY messages are kept: each one past that deletes the oldest.
 */
#define MSG_PREFIX "msg/"
#define MSG_PREFIX_LEN 4
#define MSG_NUM_LEN 20

typedef struct store_job {
    const char *channel;
    const Chat__ChatBroadcast *msg;
    uint8_t oldest[VERANI_STORAGE_KEY_MAX];   /* filled by first_key */
    size_t oldest_len;
} store_job;

static int first_key(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *user)
{
    store_job *job = user;

    (void)val;
    (void)vlen;
    memcpy(job->oldest, key, klen);
    job->oldest_len = klen;
    return 1;   /* one is enough */
}

/* Runs inside one transaction: all of it happens, or none of it. */
static int store_message(verani_storage *st, void *user)
{
    store_job *job = user;
    unsigned long long seq = 0;
    uint8_t *val = NULL;
    size_t vlen;
    char key[256], num[24];
    int r;

    r = verani_storage_get(st, "seq", 3, &val, &vlen);
    if (r == 0)
        seq = strtoull((const char *)val, NULL, 10);
    verani_storage_free(val);
    if (r < 0 && r != VERANI_ENOTFOUND)
        return r;
    seq++;
    snprintf(key, sizeof(key), MSG_PREFIX "%020llu/%s", seq, job->channel);
    snprintf(num, sizeof(num), "%llu", seq);
    if ((r = verani_storage_put_message(st, key, &job->msg->base)) < 0 ||
        (r = verani_storage_put(st, "seq", 3, num, strlen(num))) < 0)
        return r;
    if (seq > CHAT_ROOM_HISTORY) {
        r = verani_storage_list(st, MSG_PREFIX, MSG_PREFIX_LEN, NULL, 0, 1, first_key, job);
        if (r < 0)
            return r;
        if (job->oldest_len && (r = verani_storage_delete(st, job->oldest, job->oldest_len)) < 0)
            return r;
    }
    return 0;
}

/* A message is stored, then broadcast. One that cannot be stored is refused
 * (the sender gets an error frame), so history never misses a delivered one. */
static int on_message(verani_ctx *ctx, const Chat__ChatMessage *msg)
{
    Chat__ChatBroadcast out = CHAT__CHAT_BROADCAST__INIT;
    const char *channel = chat_room_message_channel(msg);
    verani_target to = verani_to_channel(channel);
    verani_storage *st = verani_ctx_storage(ctx);
    chat_room *room = verani_ctx_user(ctx);
    store_job *job;
    int r;

    if (!verani_session_in_channel(verani_ctx_session(ctx), channel))
        return VERANI_EDENIED;   /* reaches on_error; the sender gets an error frame */
    if (strlen(channel) > 128)
        return VERANI_EINVAL;
    job = verani_ctx_alloc(ctx, sizeof(*job));
    if (!st || !job)
        return st ? VERANI_ENOMEM : VERANI_EIO;
    out.from = (char *)verani_ctx_user_id(ctx);
    out.channel = (char *)channel;   /* borrowed from msg or a literal; never freed */
    out.text = msg->text;
    out.at = now_ms();
    out.mood = msg->mood;
    memset(job, 0, sizeof(*job));
    job->channel = channel;
    job->msg = &out;
    r = verani_storage_txn(st, store_message, job);
    if (r != 0)
        return r < 0 ? r : VERANI_EIO;
    room->stored++;
    to.except = verani_ctx_session(ctx);
    return chat_chat_emit_chat_message(ctx, to, &out) < 0 ? VERANI_EIO : 0;
}

/* The others in "default" learn who types (the event has no payload: the session says who). */
static int on_typing(verani_ctx *ctx)
{
    Chat__UserEvent ev = CHAT__USER_EVENT__INIT;
    verani_target to = verani_to_channel("default");

    ev.user_id = (char *)verani_ctx_user_id(ctx);
    to.except = verani_ctx_session(ctx);
    return chat_chat_emit_typing(ctx, to, &ev) < 0 ? VERANI_EIO : 0;
}

/* Unpacked messages live in the handler's scratch memory, like the reply. */
static void *scratch_alloc(void *ctx, size_t size)
{
    return verani_ctx_alloc(ctx, size);
}

static void scratch_free(void *ctx, void *p)
{
    (void)ctx;
    (void)p;   /* freed with the scratch memory when the handler returns */
}

typedef struct history_job {
    verani_ctx *ctx;
    ProtobufCAllocator alloc;
    Chat__ChatBroadcast **found;   /* oldest first; CHAT_ROOM_HISTORY slots */
    size_t n;
    int err;
} history_job;

static int collect(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *user)
{
    history_job *job = user;
    const size_t head = MSG_PREFIX_LEN + MSG_NUM_LEN + 1;   /* "msg/<number>/" */
    char channel[136];
    ProtobufCMessage *m;

    if (klen <= head || klen - head >= sizeof(channel) || key[head - 1] != '/' ||
        job->n >= CHAT_ROOM_HISTORY)
        return 0;
    memcpy(channel, key + head, klen - head);
    channel[klen - head] = '\0';
    if (!verani_session_in_channel(verani_ctx_session(job->ctx), channel))
        return 0;
    m = protobuf_c_message_unpack(&chat__chat_broadcast__descriptor, &job->alloc, vlen, val);
    if (!m) {
        job->err = VERANI_EIO;   /* a damaged or foreign value */
        return 1;
    }
    if (!((Chat__ChatBroadcast *)m)->channel) {   /* stored before the field existed */
        ((Chat__ChatBroadcast *)m)->channel = verani_ctx_strdup(job->ctx, channel);
        if (!((Chat__ChatBroadcast *)m)->channel) {
            job->err = VERANI_ENOMEM;
            return 1;
        }
    }
    job->found[job->n++] = (Chat__ChatBroadcast *)m;
    return 0;
}

/* What message `m` adds to a HistoryPage: its bytes, the field's tag and its length's varint. */
static size_t page_cost(const Chat__ChatBroadcast *m)
{
    size_t n = chat__chat_broadcast__get_packed_size(m), v = 1;

    while (n >> (7 * v))
        v++;
    return 1 + v + n;
}

/* The newest `limit` messages of the asker's channels, newest first, as many as fit in
 * CHAT_ROOM_HISTORY_BYTES: a reply is bounded by bytes as well as by count. */
static int on_history(verani_ctx *ctx, const Chat__HistoryQuery *q, Chat__HistoryPage *reply)
{
    verani_storage *st = verani_ctx_storage(ctx);
    history_job job;
    size_t i, bytes;
    int r;

    if (!st)
        return VERANI_EIO;
    memset(&job, 0, sizeof(job));
    job.ctx = ctx;
    job.alloc.alloc = scratch_alloc;
    job.alloc.free = scratch_free;
    job.alloc.allocator_data = ctx;
    job.found = verani_ctx_alloc(ctx, CHAT_ROOM_HISTORY * sizeof(*job.found));
    reply->messages = verani_ctx_alloc(ctx, CHAT_ROOM_HISTORY * sizeof(*reply->messages));
    if (!job.found || !reply->messages)
        return VERANI_ENOMEM;
    r = verani_storage_list(st, MSG_PREFIX, MSG_PREFIX_LEN, NULL, 0, CHAT_ROOM_HISTORY, collect,
                            &job);
    if (r < 0 || job.err)
        return r < 0 ? r : job.err;
    for (i = 0, bytes = 0; i < job.n && i < q->limit; i++) {
        Chat__ChatBroadcast *m = job.found[job.n - 1 - i];

        bytes += page_cost(m);
        if (bytes > CHAT_ROOM_HISTORY_BYTES)
            break;
        reply->messages[i] = m;
    }
    reply->n_messages = i;
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
