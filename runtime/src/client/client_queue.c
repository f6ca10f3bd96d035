/* SPDX-License-Identifier: MIT */
/*
 * client_queue.c: the client's outgoing frames. A frame is one encoded
 * envelope with lws headroom in front; the queue is a FIFO that owns its
 * frames and, when asked to be bounded (while the client is not connected),
 * drops the oldest frame to make room and counts it. It knows nothing of
 * sockets, states or requests beyond the request id a frame carries.
 */
#include <stdlib.h>

#include "client-int.h"

vr_cframe *vr_cframe_new(size_t len)
{
    vr_cframe *f = vr_malloc(sizeof(*f) + VR_FRAME_PRE + len);

    if (!f)
        return NULL;
    f->next = NULL;
    f->request_id = 0;
    f->len = len;
    return f;
}

void vr_cframe_free(vr_cframe *f)
{
    vr_free(f);
}

void vr_cqueue_init(vr_cqueue *q, size_t max)
{
    q->head = q->tail = NULL;
    q->len = 0;
    q->bytes = 0;
    q->max = max;
    q->dropped = 0;
}

vr_cframe *vr_cqueue_pop(vr_cqueue *q)
{
    vr_cframe *f = q->head;

    if (!f)
        return NULL;
    q->head = f->next;
    if (!q->head)
        q->tail = NULL;
    f->next = NULL;
    q->len--;
    q->bytes -= f->len;
    return f;
}

vr_cframe *vr_cqueue_push(vr_cqueue *q, vr_cframe *f, int bounded)
{
    vr_cframe *out = NULL, **end = &out;

    if (bounded) {
        while (q->len > 0 && q->len >= q->max) {
            vr_cframe *old = vr_cqueue_pop(q);

            q->dropped++;
            *end = old; /* handed back in order, linked by `next` */
            end = &old->next;
        }
    }
    f->next = NULL;
    if (q->tail)
        q->tail->next = f;
    else
        q->head = f;
    q->tail = f;
    q->len++;
    q->bytes += f->len;
    return out;
}

void vr_cqueue_push_front(vr_cqueue *q, vr_cframe *f)
{
    f->next = q->head;
    q->head = f;
    if (!q->tail)
        q->tail = f;
    q->len++;
    q->bytes += f->len;
}

vr_cframe *vr_cqueue_remove_request(vr_cqueue *q, uint64_t request_id)
{
    vr_cframe *prev = NULL, *f;

    if (!request_id)
        return NULL;
    for (f = q->head; f; prev = f, f = f->next) {
        if (f->request_id != request_id)
            continue;
        if (prev)
            prev->next = f->next;
        else
            q->head = f->next;
        if (q->tail == f)
            q->tail = prev;
        f->next = NULL;
        q->len--;
        q->bytes -= f->len;
        return f;
    }
    return NULL;
}

void vr_cqueue_clear(vr_cqueue *q)
{
    vr_cframe *f;

    while ((f = vr_cqueue_pop(q)))
        vr_cframe_free(f);
}
