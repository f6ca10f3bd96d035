/* SPDX-License-Identifier: MIT */
/*
 * timers.c: what a room instance runs without a client asking: its timers
 * (verani_instance_after / _every, one lws_sul each, on the loop thread), its
 * start and stop hooks (on_instance_start, on_instance_stop) and the
 * application's pointer they set up and tear down (verani_instance_data).
 *
 * Ownership: a vr_timer belongs to the instance's `timers` list from the
 * moment it is set until it is cancelled, has fired for the last time, or the
 * instance goes; whoever takes it off the list frees it, except while its `fn`
 * runs: then the run (timer_cb) frees it when `fn` returns. Every sul is
 * cancelled before the lws context is destroyed (vr_timers_cancel_all), as
 * lws's timer list goes with the context.
 */
#include <stdint.h>
#include <string.h>

#include "server-int.h"

typedef struct vr_timer {
    lws_sorted_usec_list_t sul;      /* first: lws hands it back to timer_cb */
    lws_dll2_t node;                 /* in inst->timers while the timer is live */
    vr_instance *inst;
    uint64_t id;
    lws_usec_t period_us;            /* 0: a one-shot */
    lws_usec_t due_us;               /* when this run is due (the pace of a periodic one) */
    verani_timer_fn fn;
    void *arg;                       /* the caller's */
    unsigned running : 1;            /* fn is running: timer_cb frees it afterwards */
} vr_timer;

/* Call `hook` of the instance's room with a context of the instance and no session. */
static void instance_call(vr_instance *inst, vr_hook hook, const vr_hook_args *a)
{
    struct verani_ctx ctx;

    vr_ctx_init(&ctx, inst->mount->srv, inst->mount, inst, NULL);
    vr_hook_call(&ctx, hook, a);
    vr_ctx_fini(&ctx);
}

static void timer_cb(lws_sorted_usec_list_t *sul)
{
    vr_timer *t = lws_container_of(sul, vr_timer, sul);
    vr_hook_args a = {0};
    lws_usec_t now;

    a.timer = t->fn;
    a.arg = t->arg;
    t->running = 1;
    if (t->inst->own == VR_OWN_HELD) /* fenced (a cluster node without its lease): skipped */
        instance_call(t->inst, VR_HOOK_TIMER, &a);
    t->running = 0;
    /* cancelled from fn (or its instance went): off the list already */
    if (!t->period_us || lws_dll2_is_detached(&t->node)) {
        lws_dll2_remove(&t->node);
        vr_free(t);
        return;
    }
    now = lws_now_usecs();
    t->due_us += t->period_us;
    if (t->due_us <= now) /* later than a whole period: not made up */
        t->due_us = now + t->period_us;
    lws_sul_schedule(t->inst->mount->srv->ctx, 0, &t->sul, timer_cb, t->due_us - now);
}

static int timer_set(verani_ctx *ctx, uint32_t ms, int every, verani_timer_fn fn, void *arg,
                     uint64_t *id)
{
    verani_server *srv;
    vr_timer *t;

    if (id)
        *id = 0;
    if (!ctx || !ctx->inst || !fn || !ms)
        return VERANI_EINVAL;
    srv = ctx->srv;
    if (srv->stopping || !srv->ctx)
        return VERANI_ECLOSED;
    t = vr_calloc(1, sizeof(*t));
    if (!t)
        return VERANI_ENOMEM;
    t->inst = ctx->inst;
    t->id = ++srv->timer_ids;
    t->period_us = every ? (lws_usec_t)ms * LWS_US_PER_MS : 0;
    t->due_us = lws_now_usecs() + (lws_usec_t)ms * LWS_US_PER_MS;
    t->fn = fn;
    t->arg = arg;
    lws_dll2_add_tail(&t->node, &ctx->inst->timers);
    lws_sul_schedule(srv->ctx, 0, &t->sul, timer_cb, (lws_usec_t)ms * LWS_US_PER_MS);
    if (id)
        *id = t->id;
    return 0;
}

int verani_instance_after(verani_ctx *ctx, uint32_t ms, verani_timer_fn fn, void *arg,
                          uint64_t *id)
{
    return timer_set(ctx, ms, 0, fn, arg, id);
}

int verani_instance_every(verani_ctx *ctx, uint32_t ms, verani_timer_fn fn, void *arg,
                          uint64_t *id)
{
    return timer_set(ctx, ms, 1, fn, arg, id);
}

/* Take `t` off its instance: its sul cancelled, freed unless its fn is running (timer_cb
 * frees it then). */
static void timer_drop(vr_timer *t)
{
    lws_sul_cancel(&t->sul);
    lws_dll2_remove(&t->node);
    if (!t->running)
        vr_free(t);
}

int verani_instance_cancel(verani_ctx *ctx, uint64_t id)
{
    if (!ctx || !ctx->inst)
        return VERANI_EINVAL;
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&ctx->inst->timers)) {
        vr_timer *t = lws_container_of(d, vr_timer, node);

        if (t->id == id) {
            timer_drop(t);
            return 0;
        }
    } lws_end_foreach_dll_safe(d, d1);
    return VERANI_ENOTFOUND;
}

size_t verani_instance_timer_count(verani_ctx *ctx)
{
    return ctx && ctx->inst ? ctx->inst->timers.count : 0;
}

static void timers_drop_all(vr_instance *inst)
{
    while (inst->timers.head)
        timer_drop(lws_container_of(inst->timers.head, vr_timer, node));
}

void vr_timers_cancel_all(verani_server *srv)
{
    size_t i;

    for (i = 0; i < srv->n_mounts; i++)
        lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&srv->mounts[i]->instances)) {
            timers_drop_all(lws_container_of(d, vr_instance, node));
        } lws_end_foreach_dll(d);
}

/* The handler-table member of the schema's timer `i` of the instance's room; NULL when the
 * application left it unset (or the definition has no offsets). */
static void (*schema_timer_fn(const vr_mount *m, size_t i))(verani_ctx *)
{
    void (*fn)(verani_ctx *) = NULL;

    if (m->def->timer_offsets)
        memcpy(&fn, (const char *)m->handlers + m->def->timer_offsets[i], sizeof(fn));
    return fn;
}

/* A schema timer's run: `arg` is its index in the room's timers. */
static void schema_timer(verani_ctx *ctx, void *arg)
{
    void (*fn)(verani_ctx *) = schema_timer_fn(ctx->mount, (size_t)(uintptr_t)arg);

    if (fn)
        fn(ctx);
}

/* The schema's `timer` declarations whose member is set start with the instance. */
static void schema_timers_start(vr_instance *inst)
{
    const verani_room_schema *sc = inst->mount->def->schema;
    struct verani_ctx ctx;
    size_t i;

    vr_ctx_init(&ctx, inst->mount->srv, inst->mount, inst, NULL);
    for (i = 0; i < sc->n_timers; i++) {
        int r;

        if (!schema_timer_fn(inst->mount, i))
            continue;
        r = verani_instance_every(&ctx, sc->timers[i].every_ms, schema_timer,
                                  (void *)(uintptr_t)i, NULL);
        if (r)
            VR_WARN("room %s '%s': timer %s not started: %s\n", sc->name, inst->name,
                    sc->timers[i].name, verani_strerror(r));
    }
    vr_ctx_fini(&ctx);
}

void vr_instance_started(vr_instance *inst)
{
    instance_call(inst, VR_HOOK_INSTANCE_START, NULL); /* its state first, then its timers */
    schema_timers_start(inst);
}

void vr_instance_stopping(vr_instance *inst)
{
    timers_drop_all(inst);
    instance_call(inst, VR_HOOK_INSTANCE_STOP, NULL);
    timers_drop_all(inst); /* any the hook set (refused once the server is stopping) */
}

int verani_instance_set_data(verani_ctx *ctx, void *data)
{
    if (!ctx || !ctx->inst)
        return VERANI_EINVAL;
    ctx->inst->data = data;
    return 0;
}

void *verani_instance_data(verani_ctx *ctx)
{
    return ctx && ctx->inst ? ctx->inst->data : NULL;
}
