/* SPDX-License-Identifier: MIT */
/*
 * inbox_room.c: the example notifications room. extract_meta admits a
 * connection only when its user id (?userId= or X-User-Id) is the instance
 * name: everyone reads only their own inbox (403 otherwise). on_connect sends
 * the connection the user's unread count; ack removes ids from the unread set
 * and replies with what is left. inbox_send (any thread) records the id as
 * unread, then queues notify and unread to the user's instance through
 * verani_server_emit_async. The store is a list of (user, id) pairs behind a
 * mutex: fine for an example, not for millions of notifications.
 */
#define _POSIX_C_SOURCE 200809L

#include "inbox_room.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct unread_item {
    struct unread_item *next;
    char *user_id;                /* owned */
    char *id;                     /* owned */
} unread_item;

struct inbox_store {
    pthread_mutex_t lock;         /* guards items */
    unread_item *items;           /* owned list */
};

inbox_store *inbox_store_create(void)
{
    inbox_store *st = calloc(1, sizeof(*st));

    if (st && pthread_mutex_init(&st->lock, NULL) != 0) {
        free(st);
        return NULL;
    }
    return st;
}

static void item_free(unread_item *it)
{
    free(it->user_id);
    free(it->id);
    free(it);
}

void inbox_store_destroy(inbox_store *st)
{
    unread_item *it, *next;

    if (!st)
        return;
    for (it = st->items; it; it = next) {
        next = it->next;
        item_free(it);
    }
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* Unread count of `user_id`; the caller holds the lock. */
static uint32_t unread_locked(inbox_store *st, const char *user_id)
{
    unread_item *it;
    uint32_t n = 0;

    for (it = st->items; it; it = it->next)
        n += !strcmp(it->user_id, user_id);
    return n;
}

static const verani_event_def *emit_event(uint32_t id)
{
    return verani_event_find(notifications_inbox_emit_events, 2, id);
}

int inbox_send(verani_server *srv, inbox_store *st, const char *user_id,
               const Notifications__Notification *n)
{
    Notifications__Unread unread = NOTIFICATIONS__UNREAD__INIT;
    verani_target all = verani_to_all();
    verani_verr verr;
    unread_item *it;
    int r;

    if (notifications_validate_notification(n, &verr) < 0)
        return VERANI_EINVAL;
    it = calloc(1, sizeof(*it));
    if (!it || !(it->user_id = strdup(user_id)) || !(it->id = strdup(n->id))) {
        if (it)
            item_free(it);
        return VERANI_ENOMEM;
    }
    pthread_mutex_lock(&st->lock);
    it->next = st->items;
    st->items = it;
    unread.count = unread_locked(st, user_id);
    pthread_mutex_unlock(&st->lock);

    r = verani_server_emit_async(srv, &notifications_inbox_room, user_id, &all,
                                 emit_event(NOTIFICATIONS_INBOX_EMIT_NOTIFY), &n->base);
    if (r < 0)
        return r;
    return verani_server_emit_async(srv, &notifications_inbox_room, user_id, &all,
                                    emit_event(NOTIFICATIONS_INBOX_EMIT_UNREAD), &unread.base);
}

static int extract_meta(verani_upgrade *req, Notifications__InboxMeta *meta)
{
    char v[129];

    (void)meta;
    if (verani_upgrade_query(req, "userId", v, sizeof(v)) <= 0 &&
        verani_upgrade_header(req, "x-user-id", v, sizeof(v)) <= 0)
        return verani_upgrade_reject(req, 401, "pass your user id as ?userId=");
    if (strcmp(v, verani_upgrade_instance(req)))
        return verani_upgrade_reject(req, 403, "this inbox belongs to another user");
    return verani_upgrade_set_user_id(req, v);
}

static int on_connect(verani_ctx *ctx)
{
    inbox_store *st = verani_ctx_user(ctx);
    Notifications__Unread unread = NOTIFICATIONS__UNREAD__INIT;

    pthread_mutex_lock(&st->lock);
    unread.count = unread_locked(st, verani_ctx_user_id(ctx));
    pthread_mutex_unlock(&st->lock);
    return notifications_inbox_emit_unread(ctx, verani_to_self(), &unread) < 0 ? VERANI_EIO : 0;
}

static int on_ack(verani_ctx *ctx, const Notifications__Ack *msg, Notifications__Unread *reply)
{
    inbox_store *st = verani_ctx_user(ctx);
    const char *user = verani_ctx_user_id(ctx);
    unread_item **pp, *it;
    size_t i;

    pthread_mutex_lock(&st->lock);
    for (i = 0; i < msg->n_ids; i++) {
        for (pp = &st->items; *pp; pp = &(*pp)->next) {
            if (!strcmp((*pp)->user_id, user) && !strcmp((*pp)->id, msg->ids[i])) {
                it = *pp;
                *pp = it->next;
                item_free(it);
                break;
            }
        }
    }
    reply->count = unread_locked(st, user);
    pthread_mutex_unlock(&st->lock);
    return 0;
}

static const notifications_inbox_handlers inbox_handlers = {
    .hooks = {
        .on_connect = on_connect,
    },
    .extract_meta = extract_meta,
    .ack = on_ack,
};

int inbox_room_mount(verani_server *srv, inbox_store *st)
{
    return notifications_inbox_mount(srv, &inbox_handlers, st);
}
