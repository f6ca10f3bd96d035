/* SPDX-License-Identifier: MIT */
/*
 * presence_room.c: the example presence room's handlers. Identity comes from
 * ?userId= (or X-User-Id) and the device name from ?device=. Each (instance,
 * user) with at least one connected device has an entry holding its device
 * count, status and the time the status last changed; entries go away with
 * the user's last device. Announcements go to channel "presence" (every
 * session joins it on connect), never back to the device that caused them.
 * status.set accepts ONLINE and AWAY (OFFLINE is what leaving means).
 */
#define _POSIX_C_SOURCE 200809L

#include "presence_room.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct presence_entry {
    struct presence_entry *next;
    char *instance;               /* owned */
    Presence__UserPresence p;     /* p.user_id owned */
} presence_entry;

struct presence_room {
    presence_entry *entries;      /* owned list, newest first */
};

presence_room *presence_room_create(void)
{
    return calloc(1, sizeof(presence_room));
}

static void entry_free(presence_entry *e)
{
    free(e->instance);
    free(e->p.user_id);
    free(e);
}

void presence_room_destroy(presence_room *room)
{
    presence_entry *e, *next;

    if (!room)
        return;
    for (e = room->entries; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    free(room);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The entry of the context's user in its instance; created when `create`. */
static presence_entry *entry_of(verani_ctx *ctx, int create)
{
    presence_room *room = verani_ctx_user(ctx);
    const char *inst = verani_ctx_instance(ctx), *user = verani_ctx_user_id(ctx);
    presence_entry *e;

    for (e = room->entries; e; e = e->next)
        if (!strcmp(e->instance, inst) && !strcmp(e->p.user_id, user))
            return e;
    if (!create)
        return NULL;
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    presence__user_presence__init(&e->p);
    e->instance = strdup(inst);
    e->p.user_id = strdup(user);
    if (!e->instance || !e->p.user_id) {
        entry_free(e);
        return NULL;
    }
    e->next = room->entries;
    room->entries = e;
    return e;
}

static void entry_remove(verani_ctx *ctx, presence_entry *gone)
{
    presence_room *room = verani_ctx_user(ctx);
    presence_entry **pp;

    for (pp = &room->entries; *pp; pp = &(*pp)->next) {
        if (*pp == gone) {
            *pp = gone->next;
            entry_free(gone);
            return;
        }
    }
}

/* Everyone present in the context's instance, oldest first, in scratch memory
 * (borrowing the entries). */
static int fill_list(verani_ctx *ctx, Presence__PresenceList *list)
{
    presence_room *room = verani_ctx_user(ctx);
    const char *inst = verani_ctx_instance(ctx);
    presence_entry *e;
    size_t n = 0, i;

    for (e = room->entries; e; e = e->next)
        n += !strcmp(e->instance, inst);
    list->users = verani_ctx_alloc(ctx, n * sizeof(*list->users) + 1);
    if (!list->users)
        return VERANI_ENOMEM;
    list->n_users = n;
    i = n;
    for (e = room->entries; e; e = e->next)
        if (!strcmp(e->instance, inst))
            list->users[--i] = &e->p;
    return 0;
}

static verani_target others(verani_ctx *ctx)
{
    verani_target to = verani_to_channel("presence");

    to.except = verani_ctx_session(ctx);
    return to;
}

static int extract_meta(verani_upgrade *req, Presence__PresenceMeta *meta)
{
    char v[129];

    if (verani_upgrade_query(req, "userId", v, sizeof(v)) <= 0 &&
        verani_upgrade_header(req, "x-user-id", v, sizeof(v)) <= 0)
        return verani_upgrade_reject(req, 401, "pass your user id as ?userId=");
    if (verani_upgrade_set_user_id(req, v) < 0)
        return VERANI_ENOMEM;
    if (verani_upgrade_query(req, "device", v, sizeof(v)) > 0)
        meta->device = verani_upgrade_strdup(req, v);
    return 0;
}

/* First device: user.online; another device: user.status with the new count.
 * Then the newcomer gets a sync of everyone present. */
static int on_connect(verani_ctx *ctx)
{
    Presence__PresenceList list = PRESENCE__PRESENCE_LIST__INIT;
    presence_entry *e = entry_of(ctx, 1);
    int r;

    if (!e)
        return VERANI_ENOMEM;
    if (e->p.devices++ == 0) {
        e->p.status = PRESENCE__STATUS__ONLINE;
        e->p.has_since = 1;
        e->p.since = now_ms();
        r = presence_presence_emit_user_online(ctx, others(ctx), &e->p);
    } else {
        r = presence_presence_emit_user_status(ctx, others(ctx), &e->p);
    }
    if (r < 0 || (r = fill_list(ctx, &list)) < 0)
        return r;
    return presence_presence_emit_sync(ctx, verani_to_self(), &list) < 0 ? VERANI_EIO : 0;
}

/* Last device: user.offline, and the entry goes; else user.status. */
static void on_disconnect(verani_ctx *ctx)
{
    presence_entry *e = entry_of(ctx, 0);

    if (!e)
        return;
    if (--e->p.devices == 0) {
        e->p.status = PRESENCE__STATUS__OFFLINE;
        e->p.since = now_ms();
        presence_presence_emit_user_offline(ctx, others(ctx), &e->p);
        entry_remove(ctx, e);
    } else {
        presence_presence_emit_user_status(ctx, others(ctx), &e->p);
    }
}

static int on_status_set(verani_ctx *ctx, const Presence__SetStatus *msg)
{
    presence_entry *e = entry_of(ctx, 0);

    if (!e || msg->status == PRESENCE__STATUS__OFFLINE)
        return VERANI_EINVAL;
    if (e->p.status == msg->status)
        return 0;
    e->p.status = msg->status;
    e->p.since = now_ms();
    return presence_presence_emit_user_status(ctx, others(ctx), &e->p) < 0 ? VERANI_EIO : 0;
}

static int on_list(verani_ctx *ctx, Presence__PresenceList *reply)
{
    return fill_list(ctx, reply);
}

static const presence_presence_handlers presence_handlers = {
    .hooks = {
        .on_connect = on_connect,
        .on_disconnect = on_disconnect,
    },
    .extract_meta = extract_meta,
    .status_set = on_status_set,
    .list = on_list,
};

int presence_room_mount(verani_server *srv, presence_room *room)
{
    return presence_presence_mount(srv, &presence_handlers, room);
}
