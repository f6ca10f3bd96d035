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
 * Channel membership has two sides kept together: the session's names (in
 * join order, what the accessors and the attachment show) with a chref each,
 * and the instance's channel table (room.c) listing the members, which is
 * what a channel emit walks. Every change goes through vr_session_channel_add,
 * channel_remove, vr_session_channels_clear and adopt.
 */
int vr_session_channel_add(verani_session *s, const char *ch)
{
    char *name;

    if (verani_session_in_channel(s, ch))
        return 0;
    if (s->n_channels == s->cap_channels) {
        size_t ncap = s->cap_channels ? s->cap_channels * 2 : 2;
        char **n = vr_reallocarray(s->channels, ncap, sizeof(*n));
        vr_chanref *r;

        if (!n)
            return VERANI_ENOMEM;
        s->channels = n;
        r = vr_reallocarray(s->chref, ncap, sizeof(*r));
        if (!r)
            return VERANI_ENOMEM;
        s->chref = r;
        s->cap_channels = ncap;
    }
    name = vr_strdup(ch);
    if (!name)
        return VERANI_ENOMEM;
    if (vr_channel_join(s->inst, s, ch, &s->chref[s->n_channels])) {
        vr_free(name);
        return VERANI_ENOMEM;
    }
    s->channels[s->n_channels++] = name;
    return 1;
}

static int channel_remove(verani_session *s, const char *ch)
{
    size_t i;

    for (i = 0; i < s->n_channels; i++) {
        if (strcmp(s->channels[i], ch))
            continue;
        vr_channel_leave(s->inst, &s->chref[i]);
        vr_free(s->channels[i]);
        memmove(&s->channels[i], &s->channels[i + 1],
                (s->n_channels - i - 1) * sizeof(s->channels[0]));
        memmove(&s->chref[i], &s->chref[i + 1], (s->n_channels - i - 1) * sizeof(s->chref[0]));
        s->n_channels--;
        return 0;
    }
    return VERANI_ENOTFOUND;
}

/* Leave every channel and free the names. */
void vr_session_channels_clear(verani_session *s)
{
    size_t i;

    for (i = 0; i < s->n_channels; i++) {
        vr_channel_leave(s->inst, &s->chref[i]);
        vr_free(s->channels[i]);
    }
    vr_free(s->channels);
    vr_free(s->chref);
    s->channels = NULL;
    s->chref = NULL;
    s->n_channels = s->cap_channels = 0;
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
    const char *p;
    size_t i;
    int r = 0;

    if (!s->want_chans.n) {
        for (i = 0; r >= 0 && i < sc->n_channels; i++)
            r = vr_session_channel_add(s, sc->channels[i]);
        if (r >= 0 && !sc->n_channels)
            r = vr_session_channel_add(s, "default");
        return r < 0 ? r : 0;
    }
    vr_ctx_init(&ctx, s->srv, m, s->inst, s);
    for (p = s->want_chans.buf, i = 0; r >= 0 && i < s->want_chans.n; p += strlen(p) + 1, i++) {
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
    vr_free(s->want_chans.buf);
    memset(&s->want_chans, 0, sizeof(s->want_chans));
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
                          "JOIN and LEAVE need a channel of 1 to 128 bytes", NULL);
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
