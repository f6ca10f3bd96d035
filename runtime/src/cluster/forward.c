/* SPDX-License-Identifier: MIT */
/*
 * forward.c: the bytes of an outside call forwarded to the owner of its room
 * instance, and of its answer (Forward and ForwardResult in cluster.proto),
 * so that the server never touches this folder's protobuf types
 * (cluster-private.h, "forwarded calls").
 */
#include <stdio.h>
#include <string.h>

#include "core/core-private.h"
#include "cluster-int.h"
#include "cluster.pb-c.h"

int vr_forward_pack(const vr_forward *f, uint8_t **out, size_t *len)
{
    Verani__Cluster__Forward m = VERANI__CLUSTER__FORWARD__INIT;

    m.has_op = 1;
    m.op = f->op;
    m.room = (char *)f->room;
    m.instance = (char *)f->instance;
    m.has_target_kind = 1;
    m.target_kind = f->target_kind;
    m.target_name = (char *)f->target_name;
    m.n_user_ids = f->n_user_ids;
    m.user_ids = (char **)f->user_ids;
    m.n_client_ids = f->n_client_ids;
    m.client_ids = (char **)f->client_ids;
    m.has_frame = 1;
    m.frame.data = (uint8_t *)f->frame;
    m.frame.len = f->frame_len;
    m.fingerprint = (char *)f->fingerprint;
    m.name = (char *)f->name;
    m.reason = (char *)f->reason;
    m.has_code = f->code != 0;
    m.code = f->code;
    m.has_every_room = f->every_room != 0;
    m.every_room = f->every_room != 0;
    m.has_every_instance = f->every_instance != 0;
    m.every_instance = f->every_instance != 0;
    *len = verani__cluster__forward__get_packed_size(&m);
    *out = vr_malloc(*len ? *len : 1);
    if (!*out)
        return VERANI_ENOMEM;
    verani__cluster__forward__pack(&m, *out);
    return 0;
}

void *vr_forward_unpack(const uint8_t *body, size_t len, vr_forward *f)
{
    Verani__Cluster__Forward *m =
        verani__cluster__forward__unpack(&vr_pb_allocator, len, body);

    memset(f, 0, sizeof(*f));
    if (!m)
        return NULL;
    f->op = m->op;
    f->room = m->room ? m->room : "";
    f->instance = m->instance ? m->instance : "";
    f->target_kind = m->target_kind;
    f->target_name = m->target_name;
    f->user_ids = (const char *const *)m->user_ids;
    f->n_user_ids = m->n_user_ids;
    f->client_ids = (const char *const *)m->client_ids;
    f->n_client_ids = m->n_client_ids;
    f->frame = m->frame.data;
    f->frame_len = m->frame.len;
    f->fingerprint = m->fingerprint;
    f->name = m->name;
    f->reason = m->reason;
    f->code = m->code;
    f->every_room = m->every_room;
    f->every_instance = m->every_instance;
    return m;
}

void vr_forward_unpacked_free(void *m)
{
    if (m)
        verani__cluster__forward__free_unpacked(m, &vr_pb_allocator);
}

int vr_forward_result_pack(const verani_rpc_result *res, uint8_t **out, size_t *len)
{
    Verani__Cluster__ForwardResult m = VERANI__CLUSTER__FORWARD_RESULT__INIT;
    Verani__Cluster__ForwardSession *ss = NULL, **sp = NULL;
    Verani__Cluster__ForwardInstance *is = NULL, **ip = NULL;
    size_t i;

    m.has_status = 1;
    m.status = res->status;
    m.has_count = 1;
    m.count = res->count;
    m.error = (char *)(res->status && res->error[0] ? res->error : NULL);
    m.n_user_ids = res->n_user_ids;
    m.user_ids = res->user_ids;
    if (res->n_sessions) {
        ss = vr_calloc(res->n_sessions, sizeof(*ss));
        sp = vr_calloc(res->n_sessions, sizeof(*sp));
        if (!ss || !sp) {
            vr_free(ss);
            vr_free(sp);
            return VERANI_ENOMEM;
        }
        for (i = 0; i < res->n_sessions; i++) {
            const verani_rpc_session *s = &res->sessions[i];

            verani__cluster__forward_session__init(&ss[i]);
            ss[i].room = s->room;
            ss[i].instance = s->instance;
            ss[i].client_id = s->client_id;
            ss[i].user_id = s->user_id;
            ss[i].n_channels = s->n_channels;
            ss[i].channels = s->channels;
            sp[i] = &ss[i];
        }
        m.n_sessions = res->n_sessions;
        m.sessions = sp;
    }
    if (res->n_instances) {
        is = vr_calloc(res->n_instances, sizeof(*is));
        ip = vr_calloc(res->n_instances, sizeof(*ip));
        if (!is || !ip) {
            vr_free(ss);
            vr_free(sp);
            vr_free(is);
            vr_free(ip);
            return VERANI_ENOMEM;
        }
        for (i = 0; i < res->n_instances; i++) {
            verani__cluster__forward_instance__init(&is[i]);
            is[i].room = res->instances[i].room;
            is[i].name = res->instances[i].name;
            is[i].has_sessions = is[i].has_pending = 1;
            is[i].sessions = res->instances[i].sessions;
            is[i].pending = res->instances[i].pending;
            ip[i] = &is[i];
        }
        m.n_instances = res->n_instances;
        m.instances = ip;
    }
    *len = verani__cluster__forward_result__get_packed_size(&m);
    *out = vr_malloc(*len ? *len : 1);
    if (*out)
        verani__cluster__forward_result__pack(&m, *out);
    vr_free(ss);
    vr_free(sp);
    vr_free(is);
    vr_free(ip);
    return *out ? 0 : VERANI_ENOMEM;
}

/* A copy of `s` ("" for NULL) into *dst; 0 or -1. */
static int dup_to(char **dst, const char *s)
{
    *dst = vr_strdup(s ? s : "");
    return *dst ? 0 : -1;
}

int vr_forward_result_unpack(const uint8_t *body, size_t len, verani_rpc_result *res)
{
    Verani__Cluster__ForwardResult *m =
        verani__cluster__forward_result__unpack(&vr_pb_allocator, len, body);
    size_t i, j;
    int bad = 0;

    memset(res, 0, sizeof(*res));
    if (!m)
        return VERANI_EPROTO;
    res->status = m->status;
    res->count = (size_t)m->count;
    snprintf(res->error, sizeof(res->error), "%s", m->error ? m->error : "");
    if (m->n_user_ids && !(res->user_ids = vr_calloc(m->n_user_ids, sizeof(char *))))
        bad = 1;
    for (i = 0; !bad && i < m->n_user_ids; i++, res->n_user_ids++)
        bad = dup_to(&res->user_ids[i], m->user_ids[i]);
    if (!bad && m->n_sessions &&
        !(res->sessions = vr_calloc(m->n_sessions, sizeof(*res->sessions))))
        bad = 1;
    for (i = 0; !bad && i < m->n_sessions; i++) {
        const Verani__Cluster__ForwardSession *s = m->sessions[i];
        verani_rpc_session *o = &res->sessions[res->n_sessions++];

        bad = dup_to(&o->room, s->room) || dup_to(&o->instance, s->instance) ||
              dup_to(&o->client_id, s->client_id) || dup_to(&o->user_id, s->user_id);
        if (!bad && s->n_channels && !(o->channels = vr_calloc(s->n_channels, sizeof(char *))))
            bad = 1;
        for (j = 0; !bad && j < s->n_channels; j++, o->n_channels++)
            bad = dup_to(&o->channels[j], s->channels[j]);
    }
    if (!bad && m->n_instances &&
        !(res->instances = vr_calloc(m->n_instances, sizeof(*res->instances))))
        bad = 1;
    for (i = 0; !bad && i < m->n_instances; i++) {
        verani_rpc_instance *o = &res->instances[res->n_instances++];

        bad = dup_to(&o->room, m->instances[i]->room) || dup_to(&o->name, m->instances[i]->name);
        o->sessions = (size_t)m->instances[i]->sessions;
        o->pending = (size_t)m->instances[i]->pending;
    }
    verani__cluster__forward_result__free_unpacked(m, &vr_pb_allocator);
    if (bad) {
        verani_rpc_result_free(res);
        return VERANI_ENOMEM;
    }
    return 0;
}
