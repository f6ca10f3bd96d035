/* SPDX-License-Identifier: MIT */
/*
 * channels.c: a session's channel memberships: the session's side (names in
 * join order, each with its place in the instance's channel table, room.c),
 * the first channels of a new session, verani_ctx_join/leave from server
 * code, and the client's JOIN and LEAVE frames with on_join and on_leave.
 */
#include <string.h>

#include "core/core-private.h"
#include "server-int.h"

/*
 * Channel membership has two sides kept together: the session's memberships
 * (in join order, what the accessors and the attachment show; each names its
 * channel, which holds the name) and the instance's channel table (room.c)
 * listing the members, which is what a channel emit walks. Every change goes
 * through vr_session_channel_add, channel_remove, vr_session_channels_clear
 * and adopt (hello.c).
 */
int vr_session_channel_add(verani_session *s, const char *ch)
{
    if (verani_session_in_channel(s, ch))
        return 0;
    if (s->n_channels && s->n_channels - 1 == s->cap_more) {
        uint32_t ncap = s->cap_more ? s->cap_more * 2 : 2;
        vr_chanref *n = vr_reallocarray(s->chan_more, ncap, sizeof(*n));

        if (!n)
            return VERANI_ENOMEM;
        s->chan_more = n;
        s->cap_more = ncap;
    }
    if (vr_channel_join(s->inst, s, ch, vr_session_chan(s, s->n_channels)))
        return VERANI_ENOMEM;
    s->n_channels++;
    return 1;
}

static int channel_remove(verani_session *s, const char *ch)
{
    size_t i;

    for (i = 0; i < s->n_channels; i++) {
        if (strcmp(vr_session_chan_name(s, i), ch))
            continue;
        vr_channel_leave(s->inst, vr_session_chan(s, i));
        for (; i + 1 < s->n_channels; i++) /* the later ones move up: join order stays */
            *vr_session_chan(s, i) = *vr_session_chan(s, i + 1);
        s->n_channels--;
        return 0;
    }
    return VERANI_ENOTFOUND;
}

/* Leave every channel. */
void vr_session_channels_clear(verani_session *s)
{
    size_t i;

    for (i = 0; i < s->n_channels; i++)
        vr_channel_leave(s->inst, vr_session_chan(s, i));
    vr_free(s->chan_more);
    s->chan_more = NULL;
    s->n_channels = s->cap_more = 0;
}

int vr_chan_names_get(const verani_session *s, vr_chan_names *c)
{
    size_t i;

    c->n = s->n_channels;
    c->v = c->n <= sizeof(c->inl) / sizeof(c->inl[0]) ? c->inl
                                                       : vr_reallocarray(NULL, c->n, sizeof(char *));
    if (!c->v) {
        c->n = 0;
        return VERANI_ENOMEM;
    }
    for (i = 0; i < c->n; i++)
        c->v[i] = (char *)vr_session_chan_name(s, i);
    return 0;
}

void vr_chan_names_fini(vr_chan_names *c)
{
    if (c->v != c->inl)
        vr_free(c->v);
    c->v = NULL;
    c->n = 0;
}

static int valid_channel(const char *ch)
{
    size_t n = ch ? strlen(ch) : 0;

    return n > 0 && n <= 128;
}

int verani_ctx_join(verani_ctx *ctx, const char *channel)
{
    int r;

    if (!ctx || !ctx->sess || !valid_channel(channel))
        return VERANI_EINVAL;
    r = vr_session_channel_add(ctx->sess, channel);
    if (r > 0)
        vr_attachment_store(ctx->sess);
    return r < 0 ? r : 0;
}

int verani_ctx_leave(verani_ctx *ctx, const char *channel)
{
    if (!ctx || !ctx->sess || !channel)
        return VERANI_EINVAL;
    if (channel_remove(ctx->sess, channel))
        return VERANI_ENOTFOUND;
    vr_attachment_store(ctx->sess);
    vr_hook_call(ctx, VR_HOOK_LEAVE, &(vr_hook_args){.channel = channel});
    return 0;
}

/*
 * A new session's first channels: those extract_meta asked for (each one on_join allows),
 * else the schema's, else "default". 0, or VERANI_ENOMEM.
 */
int vr_session_initial_channels(verani_session *s)
{
    vr_mount *m = s->inst->mount;
    const verani_room_schema *sc = m->def->schema;
    const verani_hooks *h = vr_hooks_of(m);
    struct verani_ctx ctx;
    vr_names *want;
    const char *p;
    size_t i;
    int r = 0;

    if (!s->x || !s->x->want_chans.n) {
        for (i = 0; r >= 0 && i < sc->n_channels; i++)
            r = vr_session_channel_add(s, sc->channels[i]);
        if (r >= 0 && !sc->n_channels)
            r = vr_session_channel_add(s, "default");
        return r < 0 ? r : 0;
    }
    vr_ctx_init(&ctx, s->srv, m, s->inst, s);
    want = &s->x->want_chans;
    for (p = want->buf, i = 0; r >= 0 && i < want->n; p += strlen(p) + 1, i++) {
        if (h->on_join) {
            r = vr_hook_call(&ctx, VR_HOOK_JOIN, &(vr_hook_args){.channel = p});
            if (r < 0) {
                VR_INFO("session %s: on_join refused channel %s\n", s->client_id, p);
                r = 0;
                continue;
            }
        }
        r = vr_session_channel_add(s, p);
    }
    vr_ctx_fini(&ctx);
    vr_free(want->buf);
    memset(want, 0, sizeof(*want));
    return r < 0 ? r : 0;
}

void vr_session_join_leave(verani_session *s, const vr_envelope *env)
{
    vr_mount *m = s->inst->mount;
    vr_envelope out = VERANI__WIRE__ENVELOPE__INIT;
    struct verani_ctx ctx;
    int r = 0;

    if (!valid_channel(env->channel)) {
        vr_session_refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, env,
                          "JOIN and LEAVE need a channel of 1 to 128 bytes",
                          s->json ? "channel" : NULL); /* (PROTOCOL.md section 8's `field`) */
        return;
    }
    s->proto_errors = 0;
    vr_ctx_init(&ctx, s->srv, m, s->inst, s);
    if (env->kind == VERANI__WIRE__KIND__JOIN) {
        if (!verani_session_in_channel(s, env->channel)) {
            r = vr_hook_call(&ctx, VR_HOOK_JOIN, &(vr_hook_args){.channel = env->channel});
            if (r < 0) {
                vr_session_error(s, VERANI__WIRE__ERROR_CODE__JOIN_DENIED, env,
                                 "joining this channel was refused", NULL);
                vr_ctx_fini(&ctx);
                return;
            }
            r = verani_ctx_join(&ctx, env->channel);
        }
    } else {
        r = verani_ctx_leave(&ctx, env->channel);
        if (r == VERANI_ENOTFOUND) {
            vr_session_error(s, VERANI__WIRE__ERROR_CODE__NOT_JOINED, env,
                             "the session is not in this channel", NULL);
            vr_ctx_fini(&ctx);
            return;
        }
    }
    vr_ctx_fini(&ctx);
    if (r < 0) {
        vr_session_error(s, VERANI__WIRE__ERROR_CODE__HANDLER_FAILED, env,
                         "the server could not change channels", NULL);
        return;
    }
    out.has_kind = 1;
    out.kind = VERANI__WIRE__KIND__REPLY;
    out.has_request_id = env->has_request_id;
    out.request_id = env->request_id;
    out.channel = env->channel;
    vr_session_send(s, &out, NULL, 1);
}
