/* SPDX-License-Identifier: MIT */
/*
 * names.c: every C name veranic emits that a user's program can see or that
 * shares a file scope with them, each derived from one template in one table.
 * The emitters ask vc_name for a name; the collision check in check.c walks
 * the same table (vc_each_cname), so the two cannot drift apart; and
 * tests/golden/names.sh checks that the compiled generated code defines no
 * name outside it. The names are tabled in schema/README.md.
 *
 * Template variables: $pkg$ and $PKG$ (the package), $room$ and $ROOM$
 * (<pkg>_<room snake>), $ev$ and $EV$ (an event's C name), $msg$ (a message
 * in snake case), $enum$ (an enum in snake case), $hook$ (a lifecycle hook);
 * for the TypeScript names, $Room$ and $Msg$ (as written), $rOOM$ (the room
 * with a lower-case first letter) and $evCamel$ (chat.message -> chatMessage).
 * The TypeScript names (S_TS_*) are in the same table but not in
 * vc_each_cname's list, which is of C names.
 */
#include <string.h>

#include "veranic.h"

typedef enum scope {
    S_SCHEMA, S_ENUM, S_MESSAGE, S_ROOM, S_ON, S_EMIT, S_TIMER,
    S_TS_SCHEMA, S_TS_MESSAGE, S_TS_ROOM, S_TS_EVENT
} scope;

/* When a name exists at all. */
typedef enum when { W_ALWAYS, W_NOT_META, W_NO_REPLY, W_REPLY, W_TIMERS } when;

static const struct name_def {
    vc_name_id id;
    scope scope;
    when when;
    const char *tpl;
    const char *what;
} defs[] = {
    {VC_N_FINGERPRINT, S_SCHEMA, W_ALWAYS, "$PKG$_SCHEMA_FINGERPRINT", "schema fingerprint macro"},
    {VC_N_HANDLERS_MOUNT, S_SCHEMA, W_ALWAYS, "$pkg$_handlers_mount", "stub mount function"},
    {VC_N_ENUM_KNOWN, S_ENUM, W_ALWAYS, "$pkg$_$enum$_known", "value check"},
    {VC_N_VALIDATOR, S_MESSAGE, W_ALWAYS, "$pkg$_validate_$msg$", "validator"},
    {VC_N_CHECK, S_MESSAGE, W_ALWAYS, "$pkg$_check_$msg$", "validator trampoline"},
    {VC_N_STORAGE_PUT, S_MESSAGE, W_NOT_META, "$pkg$_storage_put_$msg$", "typed storage put"},
    {VC_N_STORAGE_GET, S_MESSAGE, W_NOT_META, "$pkg$_storage_get_$msg$", "typed storage get"},
    {VC_N_ON_EVENTS, S_ROOM, W_ALWAYS, "$room$_on_events", "on_events"},
    {VC_N_EMIT_EVENTS, S_ROOM, W_ALWAYS, "$room$_emit_events", "emit_events"},
    {VC_N_CHANNELS, S_ROOM, W_ALWAYS, "$room$_channels", "channels"},
    {VC_N_SCHEMA, S_ROOM, W_ALWAYS, "$room$_schema", "schema"},
    {VC_N_HANDLERS, S_ROOM, W_ALWAYS, "$room$_handlers", "handlers"},
    {VC_N_ROOM, S_ROOM, W_ALWAYS, "$room$_room", "room"},
    {VC_N_MOUNT, S_ROOM, W_ALWAYS, "$room$_mount", "mount"},
    {VC_N_META, S_ROOM, W_ALWAYS, "$room$_meta", "meta"},
    {VC_N_INVOKE, S_ROOM, W_ALWAYS, "$room$_invoke", "invoke"},
    {VC_N_HANDLER_OFFSETS, S_ROOM, W_ALWAYS, "$room$_handler_offsets", "handler offsets"},
    {VC_N_EXTRACT_META, S_ROOM, W_ALWAYS, "$room$_extract_meta", "extract_meta"},
    {VC_N_TIMERS, S_ROOM, W_TIMERS, "$room$_timers", "timer table"},
    {VC_N_TIMER_OFFSETS, S_ROOM, W_TIMERS, "$room$_timer_offsets", "timer offsets"},
    {VC_N_STUB_TIMER, S_TIMER, W_ALWAYS, "$room$_stub_timer_$tm$", "stub timer"},
    {VC_N_STUB_ON_CONNECT, S_ROOM, W_ALWAYS, "$room$_stub_on_connect", "stub on_connect"},
    {VC_N_STUB_ON_DISCONNECT, S_ROOM, W_ALWAYS, "$room$_stub_on_disconnect",
     "stub on_disconnect"},
    {VC_N_STUB_ON_ERROR, S_ROOM, W_ALWAYS, "$room$_stub_on_error", "stub on_error"},
    {VC_N_STUB_ON_MESSAGE, S_ROOM, W_ALWAYS, "$room$_stub_on_message", "stub on_message"},
    {VC_N_STUB_ON_JOIN, S_ROOM, W_ALWAYS, "$room$_stub_on_join", "stub on_join"},
    {VC_N_STUB_ON_LEAVE, S_ROOM, W_ALWAYS, "$room$_stub_on_leave", "stub on_leave"},
    {VC_N_STUB_ON_RESTORE, S_ROOM, W_ALWAYS, "$room$_stub_on_hibernation_restore",
     "stub on_hibernation_restore"},
    {VC_N_STUB_EXTRACT_META, S_ROOM, W_ALWAYS, "$room$_stub_extract_meta", "stub extract_meta"},
    {VC_N_STUB_HANDLERS, S_ROOM, W_ALWAYS, "$room$_stub_handlers", "stub handlers"},
    {VC_N_ON_ID, S_ON, W_ALWAYS, "$ROOM$_ON_$EV$", "id macro"},
    {VC_N_INVOKE_EVENT, S_ON, W_ALWAYS, "$room$_invoke_$ev$", "dispatch trampoline"},
    {VC_N_STUB_EVENT, S_ON, W_ALWAYS, "$room$_stub_$ev$", "stub handler"},
    {VC_N_CLIENT_EMIT, S_ON, W_NO_REPLY, "$room$_client_emit_$ev$", "client emitter"},
    {VC_N_REPLY_CB, S_ON, W_REPLY, "$room$_$ev$_reply_cb", "reply callback type"},
    {VC_N_CLIENT_REQUEST, S_ON, W_REPLY, "$room$_client_request_$ev$",
     "client request function"},
    {VC_N_CLIENT_REPLY, S_ON, W_REPLY, "$room$_client_reply_$ev$", "reply trampoline"},
    {VC_N_REPLY, S_ON, W_REPLY, "$room$_reply_$ev$", "deferred-reply sender"},
    {VC_N_EMIT_ID, S_EMIT, W_ALWAYS, "$ROOM$_EMIT_$EV$", "id macro"},
    {VC_N_EMIT, S_EMIT, W_ALWAYS, "$room$_emit_$ev$", "server emitter"},
    {VC_N_RPC_EMIT, S_EMIT, W_ALWAYS, "$room$_rpc_emit_$ev$", "outside-call emitter"},
    {VC_N_EVENT_CB, S_EMIT, W_ALWAYS, "$room$_$ev$_cb", "callback type"},
    {VC_N_CLIENT_ON, S_EMIT, W_ALWAYS, "$room$_client_on_$ev$", "client 'on' registration"},
    {VC_N_CLIENT_ONCE, S_EMIT, W_ALWAYS, "$room$_client_once_$ev$",
     "client 'once' registration"},
    {VC_N_CLIENT_OFF, S_EMIT, W_ALWAYS, "$room$_client_off_$ev$", "client 'off' function"},
    {VC_N_CLIENT_INVOKE, S_EMIT, W_ALWAYS, "$room$_client_invoke_$ev$", "callback trampoline"},
    {VC_N_TS_FINGERPRINT, S_TS_SCHEMA, W_ALWAYS, "$PKG$_FINGERPRINT", "TypeScript fingerprint"},
    {VC_N_TS_VALIDATOR, S_TS_MESSAGE, W_ALWAYS, "validate$Msg$", "TypeScript validator"},
    {VC_N_TS_PB_SCHEMA, S_TS_MESSAGE, W_ALWAYS, "pb.$Msg$Schema", "protoc-gen-es schema"},
    {VC_N_TS_EVENTS, S_TS_ROOM, W_ALWAYS, "$Room$Events", "TypeScript event ids"},
    {VC_N_TS_ROOM_SCHEMA, S_TS_ROOM, W_ALWAYS, "$rOOM$RoomSchema", "TypeScript room schema"},
    {VC_N_TS_ROOM, S_TS_ROOM, W_ALWAYS, "$Room$Room", "TypeScript room class"},
    {VC_N_TS_MEMBER, S_TS_EVENT, W_ALWAYS, "$evCamel$", "TypeScript event member"},
};

const char *vc_room_prefix(vc_ctx *ctx, const vc_room *r)
{
    return vc_arena_printf(&ctx->arena, "%s_%s", ctx->schema->package, r->snake);
}

const char *vc_room_PREFIX(vc_ctx *ctx, const vc_room *r)
{
    return vc_upper(&ctx->arena, vc_room_prefix(ctx, r));
}

static const char *derive(vc_ctx *ctx, const struct name_def *d, const vc_room *r,
                          const void *subject)
{
    vc_arena *a = &ctx->arena;
    const char *pkg = ctx->schema->package;
    vc_var vars[12] = {{"pkg", pkg}, {"PKG", vc_upper(a, pkg)}};
    int n = 2;

    if (r) {
        char *lower = vc_arena_strndup(a, r->name, strlen(r->name));

        if (lower)
            lower[0] = (char)(lower[0] - 'A' + 'a'); /* room names start with [A-Z] */
        vars[n++] = (vc_var){"room", vc_room_prefix(ctx, r)};
        vars[n++] = (vc_var){"ROOM", vc_room_PREFIX(ctx, r)};
        vars[n++] = (vc_var){"Room", r->name};
        vars[n++] = (vc_var){"rOOM", lower};
    }
    switch (d->scope) {
    case S_TS_MESSAGE:
        vars[n++] = (vc_var){"Msg", ((const vc_message *)subject)->name};
        break;
    case S_TS_EVENT:
        vars[n++] = (vc_var){"evCamel", vc_lower_camel(a, ((const vc_event *)subject)->cname)};
        break;
    case S_ENUM:
        vars[n++] = (vc_var){"enum", vc_lower(a, ((const vc_enum *)subject)->name)};
        break;
    case S_MESSAGE:
        vars[n++] = (vc_var){"msg", vc_lower(a, ((const vc_message *)subject)->name)};
        break;
    case S_TIMER:
        vars[n++] = (vc_var){"tm", ((const vc_timer *)subject)->name};
        break;
    case S_ON:
    case S_EMIT:
        vars[n++] = (vc_var){"ev", ((const vc_event *)subject)->cname};
        vars[n++] = (vc_var){"EV", vc_upper(a, ((const vc_event *)subject)->cname)};
        break;
    default:
        break;
    }
    vars[n] = (vc_var){NULL, NULL};
    return vc_tpl_a(a, d->tpl, vars);
}

const char *vc_name(vc_ctx *ctx, vc_name_id id, const vc_room *r, const void *subject)
{
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        if (defs[i].id == id)
            return derive(ctx, &defs[i], r, subject);
    return NULL;
}

const char *vc_msg_validator(vc_ctx *ctx, const vc_message *m)
{
    return vc_name(ctx, VC_N_VALIDATOR, NULL, m);
}

static int applies(const struct name_def *d, const vc_room *r, const void *subject)
{
    switch (d->when) {
    case W_TIMERS:
        return r != NULL && r->timers.n > 0;
    case W_NOT_META:
        return ((const vc_message *)subject)->meta_of == NULL;
    case W_NO_REPLY:
        return ((const vc_event *)subject)->out == NULL &&
               ((const vc_event *)subject)->out_name == NULL;
    case W_REPLY:
        return ((const vc_event *)subject)->out != NULL ||
               ((const vc_event *)subject)->out_name != NULL;
    default:
        return 1;
    }
}

/* Every name of `sc` for one subject. */
static void each_of(vc_ctx *ctx, scope sc, const vc_room *r, const void *subject,
                    vc_cname_src *src, vc_loc loc, vc_name_fn fn, void *arg)
{
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        if (defs[i].scope != sc || !applies(&defs[i], r, subject))
            continue;
        src->thing = defs[i].what;
        fn(arg, derive(ctx, &defs[i], r, subject), src, loc);
    }
}

void vc_each_cname(vc_ctx *ctx, vc_name_fn fn, void *arg)
{
    const vc_schema *s = ctx->schema;
    vc_cname_src src = {NULL, NULL, NULL, NULL};

    each_of(ctx, S_SCHEMA, NULL, NULL, &src, s->package_loc, fn, arg);
    for (size_t i = 0; i < s->enums.n; i++) {
        const vc_enum *e = s->enums.items[i];
        vc_cname_src es = {NULL, "enum", e->name, NULL};

        each_of(ctx, S_ENUM, NULL, e, &es, e->loc, fn, arg);
    }
    for (size_t i = 0; i < s->messages.n; i++) {
        const vc_message *m = s->messages.items[i];
        vc_cname_src ms = {NULL, "message", m->name, NULL};

        each_of(ctx, S_MESSAGE, NULL, m, &ms, m->loc, fn, arg);
    }
    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = s->rooms.items[i];
        vc_cname_src rs = {NULL, "room", r->name, NULL};

        each_of(ctx, S_ROOM, r, NULL, &rs, r->loc, fn, arg);
        for (size_t j = 0; j < r->events.n; j++) {
            const vc_event *e = vc_room_event(r, j);
            vc_cname_src es = {NULL, e->dir == VC_DIR_ON ? "'on' event" : "'emit' event",
                               e->name, r->name};

            each_of(ctx, e->dir == VC_DIR_ON ? S_ON : S_EMIT, r, e, &es, e->loc, fn, arg);
        }
        for (size_t j = 0; j < r->timers.n; j++) {
            const vc_timer *t = r->timers.items[j];
            vc_cname_src ts = {NULL, "timer", t->name, r->name};

            each_of(ctx, S_TIMER, r, t, &ts, t->loc, fn, arg);
        }
    }
}
