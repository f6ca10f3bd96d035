/* SPDX-License-Identifier: MIT */
/*
 * context.c: the context a handler runs with (verani_ctx): its scratch
 * memory, the lazily unpacked meta, the verani_ctx_* accessors and
 * verani_ctx_close, and vr_hook_call, the one way the runtime calls into the
 * application's hooks and typed handlers (the bracket that rolls back a
 * storage transaction a handler left open, and the handler-time metric). It
 * dispatches no frames and owns no session.
 */
#include <stdio.h>
#include <string.h>

#include "core/core-private.h"
#include "server-int.h"
#include "storage/storage-private.h"

/* --- scratch memory and the handler context ------------------------------- */

void *vr_scratch_alloc(vr_scratch **list, size_t size)
{
    vr_scratch *b;

    if (size > SIZE_MAX - sizeof(*b))
        return NULL;
    b = vr_calloc(1, sizeof(*b) + size);
    if (!b)
        return NULL;
    b->next = *list;
    *list = b;
    return b->data;
}

void vr_scratch_free(vr_scratch **list)
{
    while (*list) {
        vr_scratch *n = (*list)->next;

        vr_free(*list);
        *list = n;
    }
}

void vr_ctx_init(struct verani_ctx *ctx, verani_server *srv, vr_mount *m, vr_instance *inst,
                 verani_session *s)
{
    memset(ctx, 0, offsetof(struct verani_ctx, arena)); /* the arena is zeroed as handed out */
    ctx->srv = srv;
    ctx->mount = m;
    ctx->inst = inst;
    ctx->sess = s;
}

void vr_ctx_fini(struct verani_ctx *ctx)
{
    if (ctx->meta)
        protobuf_c_message_free_unpacked(ctx->meta, &vr_pb_allocator);
    ctx->meta = NULL;
    vr_scratch_free(&ctx->scratch);
}

void vr_handler_enter(verani_server *srv)
{
    srv->handler_depth++;
}

void vr_handler_leave(struct verani_ctx *ctx)
{
    verani_server *srv = ctx->srv;
    const verani_hooks *h = vr_hooks_of(ctx->mount);
    char what[sizeof(srv->storage->last_error)];

    if (--srv->handler_depth > 0 || !srv->storage || vr_db_abandon(srv->storage) <= 0)
        return;
    snprintf(what, sizeof(what), "%s", srv->storage->last_error);
    VR_WARN("room %s '%s': %s\n", ctx->mount->def->schema->name,
            ctx->inst ? ctx->inst->name : "", what);
    if (h->on_error) {
        srv->handler_depth++;
        h->on_error(ctx, VERANI_ESTATE, what);
        srv->handler_depth--;
        vr_db_abandon(srv->storage); /* on_error's own, if any: not reported again */
    }
}

/* Is `hook` set in the application's table? */
static int hook_set(const struct verani_ctx *ctx, vr_hook hook)
{
    const verani_hooks *h = vr_hooks_of(ctx->mount);

    switch (hook) {
    case VR_HOOK_CONNECT: return h->on_connect != NULL;
    case VR_HOOK_DISCONNECT: return h->on_disconnect != NULL;
    case VR_HOOK_ERROR: return h->on_error != NULL;
    case VR_HOOK_MESSAGE: return h->on_message != NULL;
    case VR_HOOK_JOIN: return h->on_join != NULL;
    case VR_HOOK_LEAVE: return h->on_leave != NULL;
    case VR_HOOK_RESTORE: return h->on_hibernation_restore != NULL;
    case VR_HOOK_ANY: return h->on_any != NULL;
    case VR_HOOK_EVENT: return 1; /* the trampoline answers VERANI_ENOHANDLER itself */
    case VR_HOOK_INSTANCE_START: return h->on_instance_start != NULL;
    case VR_HOOK_INSTANCE_STOP: return h->on_instance_stop != NULL;
    case VR_HOOK_TIMER: return 1;
    case VR_HOOK_ALARM: return h->on_alarm != NULL;
    case VR_HOOK_JOB: return 1;
    }
    return 0;
}

int vr_hook_call(struct verani_ctx *ctx, vr_hook hook, const vr_hook_args *a)
{
    const verani_hooks *h = vr_hooks_of(ctx->mount);
    int64_t t0 = 0;
    int r = 0;

    if (!hook_set(ctx, hook))
        return 0;
    if (hook == VR_HOOK_EVENT)
        t0 = lws_now_usecs();
    vr_handler_enter(ctx->srv);
    switch (hook) {
    case VR_HOOK_CONNECT:
        r = h->on_connect(ctx);
        if (r < 0 && h->on_error)
            h->on_error(ctx, r, "on_connect failed");
        break;
    case VR_HOOK_DISCONNECT:
        h->on_disconnect(ctx);
        break;
    case VR_HOOK_ERROR:
        h->on_error(ctx, a->err, a->text);
        break;
    case VR_HOOK_MESSAGE:
        r = h->on_message(ctx, a->event, a->data, a->len);
        break;
    case VR_HOOK_JOIN:
        r = h->on_join(ctx, a->channel);
        break;
    case VR_HOOK_LEAVE:
        h->on_leave(ctx, a->channel);
        break;
    case VR_HOOK_RESTORE:
        h->on_hibernation_restore(ctx);
        break;
    case VR_HOOK_ANY:
        h->on_any(ctx, a->event, a->data, a->len, a->result);
        break;
    case VR_HOOK_EVENT:
        r = ctx->mount->def->invoke[a->index](ctx, ctx->mount->handlers, a->in, a->out);
        break;
    case VR_HOOK_INSTANCE_START:
        h->on_instance_start(ctx);
        break;
    case VR_HOOK_INSTANCE_STOP:
        h->on_instance_stop(ctx);
        break;
    case VR_HOOK_TIMER:
        a->timer(ctx, a->arg);
        break;
    case VR_HOOK_ALARM:
        r = h->on_alarm(ctx);
        if (r < 0 && h->on_error)
            h->on_error(ctx, r, "on_alarm failed");
        break;
    case VR_HOOK_JOB:
        a->done(ctx, a->arg, a->result);
        break;
    }
    vr_handler_leave(ctx);
    if (hook == VR_HOOK_EVENT)
        vr_metrics_handler_time(&ctx->srv->metrics, lws_now_usecs() - t0);
    return r;
}

void *verani_ctx_user(verani_ctx *ctx) { return ctx ? ctx->mount->user : NULL; }
verani_server *verani_ctx_server(verani_ctx *ctx) { return ctx ? ctx->srv : NULL; }
const char *verani_ctx_room(verani_ctx *ctx) { return ctx ? ctx->mount->def->schema->name : NULL; }
const char *verani_ctx_instance(verani_ctx *ctx)
{
    return ctx && ctx->inst ? ctx->inst->name : NULL;
}
verani_session *verani_ctx_session(verani_ctx *ctx) { return ctx ? ctx->sess : NULL; }
const char *verani_ctx_user_id(verani_ctx *ctx)
{
    return ctx && ctx->sess ? ctx->sess->user_id : NULL;
}
const char *verani_ctx_client_id(verani_ctx *ctx)
{
    return ctx && ctx->sess ? ctx->sess->client_id : NULL;
}

void *verani_ctx_alloc(verani_ctx *ctx, size_t size)
{
    size_t at;

    if (!ctx)
        return NULL;
    /* inline while it fits, aligned as malloc's; zeroed, as calloc's */
    at = (ctx->arena_used + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (size <= sizeof(ctx->arena) && at <= sizeof(ctx->arena) - size) {
        void *p = (unsigned char *)ctx->arena + at;

        ctx->arena_used = at + size;
        memset(p, 0, size);
        return p;
    }
    return vr_scratch_alloc(&ctx->scratch, size);
}

static void *pb_ctx_alloc(void *data, size_t size)
{
    return verani_ctx_alloc(data, size);
}

static void pb_ctx_free(void *data, void *ptr)
{
    (void)data; /* the context's: it goes with vr_ctx_fini */
    (void)ptr;
}

void vr_ctx_pb(struct verani_ctx *ctx, ProtobufCAllocator *pa)
{
    pa->alloc = pb_ctx_alloc;
    pa->free = pb_ctx_free;
    pa->allocator_data = ctx;
}

char *verani_ctx_strdup(verani_ctx *ctx, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *d = s ? verani_ctx_alloc(ctx, n + 1) : NULL;

    if (d)
        memcpy(d, s, n + 1);
    return d;
}

const ProtobufCMessage *verani_ctx_meta(verani_ctx *ctx)
{
    const ProtobufCMessageDescriptor *d;

    if (!ctx || !ctx->sess)
        return NULL;
    d = ctx->mount->def->schema->meta;
    if (!ctx->meta && d)
        ctx->meta = protobuf_c_message_unpack(d, &vr_pb_allocator, ctx->sess->meta_len,
                                              ctx->sess->meta);
    return ctx->meta;
}

int verani_ctx_close(verani_ctx *ctx, int code, const char *reason)
{
    /* codes an endpoint may send (RFC 6455 section 7.4), 1008 included for kicks */
    int ok = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
             (code >= 3000 && code <= 4999);

    if (!ctx || !ctx->sess || !ok || !vr_close_reason_ok(reason))
        return VERANI_EINVAL;
    vr_session_close(ctx->sess, code, reason ? reason : "", 0);
    return 0;
}
