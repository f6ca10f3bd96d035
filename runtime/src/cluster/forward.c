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
    return m;
}

void vr_forward_unpacked_free(void *m)
{
    if (m)
        verani__cluster__forward__free_unpacked(m, &vr_pb_allocator);
}

int vr_forward_result_pack(int status, uint64_t count, const char *error, uint8_t **out,
                           size_t *len)
{
    Verani__Cluster__ForwardResult m = VERANI__CLUSTER__FORWARD_RESULT__INIT;

    m.has_status = 1;
    m.status = status;
    m.has_count = 1;
    m.count = count;
    m.error = (char *)(error && *error ? error : NULL);
    *len = verani__cluster__forward_result__get_packed_size(&m);
    *out = vr_malloc(*len ? *len : 1);
    if (!*out)
        return VERANI_ENOMEM;
    verani__cluster__forward_result__pack(&m, *out);
    return 0;
}

int vr_forward_result_unpack(const uint8_t *body, size_t len, int *status, uint64_t *count,
                             char *error, size_t errlen)
{
    Verani__Cluster__ForwardResult *m =
        verani__cluster__forward_result__unpack(&vr_pb_allocator, len, body);

    if (!m)
        return VERANI_EPROTO;
    *status = m->status;
    *count = m->count;
    snprintf(error, errlen, "%s", m->error ? m->error : "");
    verani__cluster__forward_result__free_unpacked(m, &vr_pb_allocator);
    return 0;
}
