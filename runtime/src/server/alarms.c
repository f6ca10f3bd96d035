/* SPDX-License-Identifier: MIT */
/*
 * alarms.c: the alarm of a room instance (verani_instance_set_alarm), a
 * Durable Object's alarm: one per instance, at a wall-clock time, kept in the
 * server's store (vr_alarm table) so that it outlives the instance in memory
 * and the process, and in memory as one lws_sul each while the server runs.
 *
 * Ownership: a vr_alarm is in srv->alarms from set to run (or delete, or the
 * end of the lws context); it names its instance by room and name, not by
 * pointer, as the instance may be freed and created again in between. The
 * store's row goes when the alarm runs, before hooks.on_alarm, so that the
 * hook may set the next one.
 */
#include <stdio.h>
#include <string.h>

#include "server-int.h"
#include "storage/storage-private.h"

/* A failed on_alarm is tried again 1, 2, 4 ... 32 s later: six tries in all. */
#define VR_ALARM_TRIES 6
#define VR_ALARM_RETRY_MS 1000

typedef struct vr_alarm {
    lws_sorted_usec_list_t sul;      /* first: lws hands it back to alarm_cb */
    lws_dll2_t node;                 /* in srv->alarms */
    vr_mount *mount;
    char *instance;                  /* owned */
    int64_t at_ms;                   /* Unix time */
    unsigned tries;                  /* failed runs so far */
} vr_alarm;

static const char *room_of(const vr_mount *m)
{
    return m->def->schema->name;
}

static vr_alarm *alarm_find(verani_server *srv, const vr_mount *m, const char *instance)
{
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&srv->alarms)) {
        vr_alarm *a = lws_container_of(d, vr_alarm, node);

        if (a->mount == m && !strcmp(a->instance, instance))
            return a;
    } lws_end_foreach_dll(d);
    return NULL;
}

static void alarm_free(vr_alarm *a)
{
    lws_sul_cancel(&a->sul);
    lws_dll2_remove(&a->node);
    vr_free(a->instance);
    vr_free(a);
}

static void alarm_cb(lws_sorted_usec_list_t *sul);

/* Set (or replace) the alarm of `instance` in memory and arm it; the store is the caller's. */
static vr_alarm *alarm_put(verani_server *srv, vr_mount *m, const char *instance, int64_t at_ms)
{
    vr_alarm *a = alarm_find(srv, m, instance);
    int64_t wait_ms;

    if (!a) {
        a = vr_calloc(1, sizeof(*a));
        if (!a)
            return NULL;
        a->instance = vr_strdup(instance);
        if (!a->instance) {
            vr_free(a);
            return NULL;
        }
        a->mount = m;
        lws_dll2_add_tail(&a->node, &srv->alarms);
    }
    a->at_ms = at_ms;
    a->tries = 0;
    wait_ms = at_ms - vr_wall_ms();
    lws_sul_schedule(srv->ctx, 0, &a->sul, alarm_cb,
                     wait_ms > 0 ? (lws_usec_t)wait_ms * LWS_US_PER_MS : 0);
    return a;
}

/* The store's row of the alarm; logged when the store refuses. */
static int alarm_store(verani_server *srv, const vr_mount *m, const char *instance,
                       int64_t at_ms)
{
    int r = vr_store_alarm_set(srv->storage, room_of(m), instance, at_ms);

    if (r)
        VR_ERR("instance %s '%s': the alarm could not be %s: %s\n", room_of(m), instance,
               at_ms < 0 ? "deleted" : "stored", srv->storage->last_error);
    return r;
}

/* A failed run: tried again later, unless the hook set another alarm or the tries are over. */
static void alarm_retry(verani_server *srv, vr_mount *m, const char *instance, unsigned tries)
{
    int64_t at_ms;
    vr_alarm *a;

    if (alarm_find(srv, m, instance))
        return; /* the hook set the next one itself */
    if (tries >= VR_ALARM_TRIES) {
        VR_WARN("instance %s '%s': on_alarm failed %u times; the alarm is dropped\n",
                room_of(m), instance, tries);
        return;
    }
    at_ms = vr_wall_ms() + ((int64_t)VR_ALARM_RETRY_MS << (tries - 1));
    if (alarm_store(srv, m, instance, at_ms))
        return;
    a = alarm_put(srv, m, instance, at_ms);
    if (a)
        a->tries = tries;
}

static void alarm_cb(lws_sorted_usec_list_t *sul)
{
    vr_alarm *a = lws_container_of(sul, vr_alarm, sul);
    verani_server *srv = a->mount->srv;
    vr_mount *m = a->mount;
    vr_instance *inst = vr_instance_get(m, a->instance, 1);
    struct verani_ctx ctx;
    unsigned tries;
    int r;

    if (!inst || inst->own != VR_OWN_HELD) {
        /* out of memory, or (a cluster) not this node's yet: its claim is on the way. One
         * another node owns waits here until that node lets it go. */
        lws_sul_schedule(srv->ctx, 0, &a->sul, alarm_cb,
                         (lws_usec_t)VR_ALARM_RETRY_MS * LWS_US_PER_MS);
        if (inst)
            vr_instance_maybe_free(inst);
        return;
    }
    tries = a->tries;
    (void)alarm_store(srv, m, inst->name, -1);
    alarm_free(a);
    vr_ctx_init(&ctx, srv, m, inst, NULL);
    r = vr_hook_call(&ctx, VR_HOOK_ALARM, NULL);
    vr_ctx_fini(&ctx);
    if (r < 0)
        alarm_retry(srv, m, inst->name, tries + 1);
    vr_instance_maybe_free(inst); /* an instance made for the alarm alone is freed later */
}

/* Checks shared by the calls: 0, or the error. */
static int alarm_ctx_check(verani_ctx *ctx)
{
    if (!ctx || !ctx->inst)
        return VERANI_EINVAL;
    if (ctx->srv->stopping || !ctx->srv->ctx)
        return VERANI_ECLOSED;
    return 0;
}

int verani_instance_set_alarm(verani_ctx *ctx, int64_t at_unix_ms)
{
    int r = alarm_ctx_check(ctx);

    if (r)
        return r;
    if (at_unix_ms < 0 || !vr_hooks_of(ctx->mount)->on_alarm)
        return VERANI_EINVAL;
    if (alarm_store(ctx->srv, ctx->mount, ctx->inst->name, at_unix_ms))
        return VERANI_EIO;
    if (!alarm_put(ctx->srv, ctx->mount, ctx->inst->name, at_unix_ms)) {
        (void)alarm_store(ctx->srv, ctx->mount, ctx->inst->name, -1);
        return VERANI_ENOMEM;
    }
    return 0;
}

int verani_instance_get_alarm(verani_ctx *ctx, int64_t *at_unix_ms)
{
    int r = alarm_ctx_check(ctx);
    vr_alarm *a;

    if (r)
        return r;
    if (!at_unix_ms)
        return VERANI_EINVAL;
    a = alarm_find(ctx->srv, ctx->mount, ctx->inst->name);
    if (!a)
        return VERANI_ENOTFOUND;
    *at_unix_ms = a->at_ms;
    return 0;
}

int verani_instance_delete_alarm(verani_ctx *ctx)
{
    int r = alarm_ctx_check(ctx);
    vr_alarm *a;

    if (r)
        return r;
    a = alarm_find(ctx->srv, ctx->mount, ctx->inst->name);
    if (!a)
        return VERANI_ENOTFOUND;
    if (alarm_store(ctx->srv, ctx->mount, ctx->inst->name, -1))
        return VERANI_EIO;
    alarm_free(a);
    return 0;
}

static int load_one(const char *room, const char *instance, int64_t at_ms, void *user)
{
    verani_server *srv = user;
    vr_mount *m = vr_mount_find(srv, room);

    if (!m) {
        VR_WARN("an alarm of %s '%s' is in the store, but no room %s is mounted: kept for a "
                "server that mounts it\n", room, instance, room);
        return 0;
    }
    if (!alarm_put(srv, m, instance, at_ms))
        VR_ERR("instance %s '%s': no memory for its alarm\n", room, instance);
    return 0;
}

int vr_alarms_load(verani_server *srv)
{
    int r = vr_store_alarms_list(srv->storage, load_one, srv);

    if (r < 0) {
        VR_ERR("the alarms of the store could not be read: %s\n", srv->storage->last_error);
        return r;
    }
    if (r > 0)
        VR_NOTICE("%d alarm(s) of room instances loaded from the store\n", r);
    return 0;
}

void vr_alarms_end(verani_server *srv)
{
    while (srv->alarms.head)
        alarm_free(lws_container_of(srv->alarms.head, vr_alarm, node));
}
