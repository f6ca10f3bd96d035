/* SPDX-License-Identifier: MIT */
/*
 * presence_room.c: the example presence room's handlers. Identity comes from
 * ?userId= (or X-User-Id) and the device name from ?device=. Each (instance,
 * user) with at least one connected device has an entry holding its device
 * count, status and the time the status last changed; entries go away with
 * the user's last device. Announcements go to channel "presence" (every
 * session joins it on connect), never back to the device that caused them.
 * status.set accepts ONLINE and AWAY (OFFLINE is what leaving means).
 * With room storage, `presence:user:<id>` = "devices status since" is written
 * in one transaction per connect/disconnect and reconciled against the
 * restored sessions in on_hibernation_restore (stale records are rewritten).
 */
#define _POSIX_C_SOURCE 200809L

#include "presence_room.h"

#include <verani/storage.h>

#include <stdint.h>
#include <stdio.h>
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
    unsigned restores;            /* on_hibernation_restore calls */
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

unsigned presence_room_restores(const presence_room *room)
{
    return room ? room->restores : 0;
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

/* The entry of `user` in the context's instance; created when `create`. */
static presence_entry *entry_find(verani_ctx *ctx, const char *user, int create)
{
    presence_room *room = verani_ctx_user(ctx);
    const char *inst = verani_ctx_instance(ctx);
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

static presence_entry *entry_of(verani_ctx *ctx, int create)
{
    return entry_find(ctx, verani_ctx_user_id(ctx), create);
}

#define PRESENCE_KEY "presence:user:"

/* Write `presence:user:<id>` = "devices status since" into the instance's room
 * storage in one transaction. No storage configured: nothing to do. */
static int store_record(verani_ctx *ctx, const char *user, uint32_t devices, int status,
                        int64_t since)
{
    verani_storage *st = verani_ctx_storage(ctx);
    char key[VERANI_STORAGE_KEY_MAX + 1], val[64];
    int kl, vl, r;

    if (!st)
        return 0;
    kl = snprintf(key, sizeof(key), PRESENCE_KEY "%s", user);
    vl = snprintf(val, sizeof(val), "%u %d %lld", devices, status, (long long)since);
    if (kl < 0 || (size_t)kl >= sizeof(key) || vl < 0)
        return VERANI_EINVAL;
    if ((r = verani_storage_begin(st)) < 0)
        return r;
    r = verani_storage_put(st, key, (size_t)kl, val, (size_t)vl);
    if (r < 0) {
        verani_storage_rollback(st);
        return r;
    }
    return verani_storage_commit(st);
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
    if (r < 0)
        return r;
    if ((r = store_record(ctx, e->p.user_id, e->p.devices, e->p.status, e->p.since)) < 0)
        return r;
    if ((r = fill_list(ctx, &list)) < 0)
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
        store_record(ctx, e->p.user_id, 0, e->p.status, e->p.since);
        entry_remove(ctx, e);
    } else {
        presence_presence_emit_user_status(ctx, others(ctx), &e->p);
        store_record(ctx, e->p.user_id, e->p.devices, e->p.status, e->p.since);
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
    if (store_record(ctx, e->p.user_id, e->p.devices, e->p.status, e->p.since) < 0)
        return VERANI_EIO;
    return presence_presence_emit_user_status(ctx, others(ctx), &e->p) < 0 ? VERANI_EIO : 0;
}

static int on_list(verani_ctx *ctx, Presence__PresenceList *reply)
{
    return fill_list(ctx, reply);
}

/* Stored users collected by a list (keys cannot be written while it runs). */
typedef struct stored_users {
    verani_ctx *ctx;
    char **ids;                   /* scratch memory of ctx */
    uint32_t *devices;
    int *status;                  /* as stored; -1 when unreadable */
    size_t n, cap;
} stored_users;

static int collect_stored(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                          void *user)
{
    stored_users *su = user;
    size_t pl = strlen(PRESENCE_KEY);
    unsigned dev = 0;
    int status = -1;
    char *id, num[48];

    if (su->n == su->cap || klen <= pl)
        return su->n == su->cap;
    id = verani_ctx_alloc(su->ctx, klen - pl + 1);
    if (!id)
        return 1;
    memcpy(id, key + pl, klen - pl);
    id[klen - pl] = 0;
    if (vlen >= sizeof(num))
        vlen = sizeof(num) - 1;
    if (vlen)
        memcpy(num, val, vlen);   /* val is not NUL-terminated */
    num[vlen] = 0;
    if (sscanf(num, "%u %d", &dev, &status) < 1)
        dev = UINT32_MAX;         /* unreadable: always rewritten */
    su->ids[su->n] = id;
    su->status[su->n] = status;
    su->devices[su->n++] = dev;
    return 0;
}

/* Sessions came back detached after a restart: rebuild the in-memory entries
 * from them and fix stored records that disagree (stale after a crash). */
static void on_hibernation_restore(verani_ctx *ctx)
{
    verani_storage *st = verani_ctx_storage(ctx);
    size_t nu = verani_ctx_user_ids(ctx, NULL, 0), i, j;
    const char **ids = verani_ctx_alloc(ctx, (nu + 1) * sizeof(*ids));
    stored_users su = { ctx, NULL, NULL, NULL, 0, 256 };
    int64_t t = now_ms();

    ((presence_room *)verani_ctx_user(ctx))->restores++;
    if (!ids)
        return;
    nu = verani_ctx_user_ids(ctx, ids, nu);
    su.ids = verani_ctx_alloc(ctx, su.cap * sizeof(*su.ids));
    su.devices = verani_ctx_alloc(ctx, su.cap * sizeof(*su.devices));
    su.status = verani_ctx_alloc(ctx, su.cap * sizeof(*su.status));
    if (st && su.ids && su.devices && su.status)
        verani_storage_list(st, PRESENCE_KEY, strlen(PRESENCE_KEY), NULL, 0, su.cap,
                            collect_stored, &su);
    for (i = 0; i < nu; i++) {
        presence_entry *e = entry_find(ctx, ids[i], 1);
        uint32_t n = (uint32_t)verani_ctx_user_sessions(ctx, ids[i], NULL, 0);

        if (!e)
            continue;
        e->p.devices = n;
        e->p.has_since = 1;
        e->p.since = t;
        for (j = 0; j < su.n && strcmp(su.ids[j], ids[i]); j++)
            ;
        /* a status the user set (away) survives the restart; anything else is online */
        e->p.status = j < su.n && su.status[j] == PRESENCE__STATUS__AWAY
                          ? PRESENCE__STATUS__AWAY : PRESENCE__STATUS__ONLINE;
        if (j == su.n || su.devices[j] != n || su.status[j] != (int)e->p.status)
            store_record(ctx, ids[i], n, e->p.status, t);
        if (j < su.n)
            su.devices[j] = n;
    }
    for (j = 0; j < su.n; j++) {
        for (i = 0; i < nu && strcmp(su.ids[j], ids[i]); i++)
            ;
        if (i == nu && su.devices[j] != 0)
            store_record(ctx, su.ids[j], 0, PRESENCE__STATUS__OFFLINE, t);
    }
}

static const presence_presence_handlers presence_handlers = {
    .hooks = {
        .on_connect = on_connect,
        .on_disconnect = on_disconnect,
        .on_hibernation_restore = on_hibernation_restore,
    },
    .extract_meta = extract_meta,
    .status_set = on_status_set,
    .list = on_list,
};

int presence_room_mount(verani_server *srv, presence_room *room)
{
    return presence_presence_mount(srv, &presence_handlers, room);
}
