/* SPDX-License-Identifier: MIT */
/*
 * broker.c: fan-out. Reference-counted frames (encoded once, shared by every
 * recipient), the bounded per-session outbound queue, the coalescing copy of
 * a connection's pending frames into one write buffer, recipient selection
 * for verani_target, and the local broker that publishes to the sessions of
 * one room instance (to a channel: to its members only, from the instance's
 * channel table kept by room.c and channels.c). It does not write to sockets
 * (outq.c does) and does not know about other nodes (a Redis broker will).
 */
#include <string.h>
#include <time.h>

#include "core/core-private.h"
#include "server-int.h"

vr_frame *vr_frame_new(size_t len)
{
    vr_frame *f;

    if (len > UINT32_MAX)
        return NULL;
    f = vr_malloc(sizeof(*f) + len);
    if (!f)
        return NULL;
    f->refs = 1;
    f->len = (uint32_t)len;
    f->t_us = vr_now_us();
    f->twin = NULL;
    f->text = 0;
    return f;
}

int64_t vr_now_us(void)
{
    return (int64_t)lws_now_usecs(); /* CLOCK_MONOTONIC; any thread */
}

int64_t vr_wall_ms(void)
{
    struct timespec ts;

    timespec_get(&ts, TIME_UTC);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vr_frame_ref(vr_frame *f)
{
    f->refs++;
}

void vr_frame_unref(vr_frame *f)
{
    if (f && !--f->refs) {
        vr_frame_unref(f->twin); /* a text frame has none: one level at most */
        vr_free(f);
    }
}

void vr_outq_init(vr_outq *q)
{
    memset(q, 0, sizeof(*q));
}

/* Drop the head entry and its frame reference. */
static void outq_pop(vr_outq *q)
{
    vr_qent *e = &q->ring[q->head];

    q->bytes -= e->frame->len;
    vr_frame_unref(e->frame);
    e->frame = NULL;
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
}

void vr_outq_fini(vr_outq *q)
{
    while (q->count)
        outq_pop(q);
    vr_free(q->ring);
    memset(q, 0, sizeof(*q));
}

/* A queue's first ring; one of this size is freed whenever the queue is written empty. */
#define VR_OUTQ_FIRST_CAP 4u

/* The queue is empty now: its next entry goes at the start of the ring, and a ring that never
 * grew past its first size is given back, so that a session that is sent nothing holds none
 * (an idle connection's WELCOME leaves nothing behind; one that takes bursts keeps its
 * larger ring for the next). */
static void outq_emptied(vr_outq *q)
{
    q->head = 0;
    if (q->cap <= VR_OUTQ_FIRST_CAP) {
        vr_free(q->ring);
        q->ring = NULL;
        q->cap = 0;
    }
}

/* Twice the ring, its entries in order from the start. Only a full ring grows, and nothing
 * reads an entry past `count`, so the new half is not zeroed: a session's window grows to
 * retain_max_frames this way, and zeroing and copying entry by entry was a third of an early
 * fan-out delivery's cost (bench/RESULTS.md). */
static int outq_grow(vr_outq *q)
{
    uint32_t ncap = q->cap ? q->cap * 2 : VR_OUTQ_FIRST_CAP, tail;
    vr_qent *n = vr_malloc((size_t)ncap * sizeof(*n));

    if (!n)
        return VERANI_ENOMEM;
    if (q->count) { /* from the head to the ring's end, then what wrapped to its start */
        tail = q->cap - q->head < q->count ? q->cap - q->head : q->count;
        memcpy(n, q->ring + q->head, tail * sizeof(*n));
        memcpy(n + tail, q->ring, (q->count - tail) * sizeof(*n));
    }
    vr_free(q->ring);
    q->ring = n;
    q->cap = ncap;
    q->head = 0;
    return 0;
}

int vr_outq_push(vr_outq *q, vr_frame *f, uint64_t seq, uint32_t max_frames, size_t max_bytes)
{
    vr_qent *e;

    if (q->count >= max_frames || q->bytes + f->len > max_bytes)
        return VERANI_EFULL;
    if (q->count == q->cap && outq_grow(q))
        return VERANI_ENOMEM;
    e = vr_outq_at(q, q->count);
    e->frame = f;
    e->seq = seq;
    q->count++;
    q->bytes += f->len;
    vr_frame_ref(f);
    return 0;
}

size_t vr_outq_head_wire_size(const vr_outq *q)
{
    /* an upper bound: the largest header and prefix, so no encoding is needed here */
    return q->count ? VR_WS_HEADER_MAX + VR_WIRE_SEQ_PREFIX_MAX + q->ring[q->head].frame->len : 0;
}

size_t vr_outq_fill(vr_outq *q, uint8_t *dst, size_t cap)
{
    return vr_outq_fill_n(q, dst, cap, UINT32_MAX);
}

size_t vr_outq_fill_n(vr_outq *q, uint8_t *dst, size_t cap, uint32_t max_frames)
{
    size_t used = 0;

    while (q->count && max_frames--) {
        vr_qent *e = &q->ring[q->head];
        size_t plen = vr_wire_seq_prefix_len(e->seq);
        uint64_t n = plen + e->frame->len;
        size_t hlen = n < 126 ? 2 : n <= 0xffff ? 4 : 10;

        if (hlen + n > cap - used)
            break;
        used += vr_wire_ws_header(dst + used, n);
        if (e->frame->text)
            dst[used - hlen] = 0x81; /* FIN | text (a JSON frame); the length is the same */
        used += vr_wire_seq_prefix(dst + used, e->seq); /* in place: no copy per frame */
        memcpy(dst + used, e->frame->body, e->frame->len);
        used += e->frame->len;
        outq_pop(q);
    }
    if (!q->count)
        outq_emptied(q);
    return used;
}

void vr_outq_drop_tail(vr_outq *q, uint32_t n)
{
    while (q->count && n--) {
        vr_qent *e = vr_outq_at(q, q->count - 1);

        q->bytes -= e->frame->len;
        vr_frame_unref(e->frame);
        e->frame = NULL;
        q->count--;
    }
    if (!q->count)
        outq_emptied(q);
}

/* --- the retained window (resume) ---------------------------------------- */

void vr_retain_trim(vr_outq *r, int64_t oldest_us)
{
    while (r->count && r->ring[r->head].frame->t_us < oldest_us)
        outq_pop(r);
    if (!r->count)
        outq_emptied(r);
}

int vr_retain_push(vr_outq *r, vr_frame *f, uint64_t seq, uint32_t max_frames)
{
    if (!max_frames)
        return 0;
    while (r->count >= max_frames)
        outq_pop(r);
    return vr_outq_push(r, f, seq, UINT32_MAX, SIZE_MAX);
}

int vr_retain_replay(const vr_outq *r, uint64_t last_seq, uint64_t cur_seq, vr_outq *dst)
{
    uint64_t n = 0;
    uint32_t i;

    for (i = 0; i < r->count; i++) {
        const vr_qent *e = vr_outq_at(r, i);

        if (e->seq <= last_seq)
            continue;
        if (dst && vr_outq_push(dst, e->frame, e->seq, UINT32_MAX, SIZE_MAX))
            return VERANI_ENOMEM;
        n++;
    }
    /* seqs in the window are distinct and increasing, so the count says it all */
    return last_seq <= cur_seq && n == cur_seq - last_seq;
}

static int in_list(const char *v, const char *const *list, size_t n)
{
    size_t i;

    for (i = 0; v && i < n; i++)
        if (list[i] && !strcmp(list[i], v))
            return 1;
    return 0;
}

int vr_target_copy(verani_target *dst, char **strs, const verani_target *src)
{
    size_t n = (src->name ? strlen(src->name) + 1 : 0), i;
    size_t ptrs = src->n_user_ids + src->n_client_ids;
    const char **arr;
    char *p;

    for (i = 0; i < src->n_user_ids; i++)
        n += strlen(src->user_ids[i]) + 1;
    for (i = 0; i < src->n_client_ids; i++)
        n += strlen(src->client_ids[i]) + 1;
    *strs = vr_malloc(ptrs * sizeof(char *) + n + 1);
    if (!*strs)
        return VERANI_ENOMEM;
    arr = (const char **)(void *)*strs;
    p = *strs + ptrs * sizeof(char *);
    *dst = *src;
    if (src->name) {
        dst->name = strcpy(p, src->name);
        p += strlen(p) + 1;
    }
    for (i = 0; i < ptrs; i++) {
        const char *from = i < src->n_user_ids ? src->user_ids[i]
                                               : src->client_ids[i - src->n_user_ids];

        arr[i] = strcpy(p, from);
        p += strlen(p) + 1;
    }
    dst->user_ids = src->n_user_ids ? arr : NULL;
    dst->client_ids = src->n_client_ids ? arr + src->n_user_ids : NULL;
    return 0;
}

/* The filters every target kind shares: except, user ids, client ids. */
static int filters_match(const verani_target *to, const verani_session *s)
{
    if (to->except && to->except == s)
        return 0;
    if (to->n_user_ids && !in_list(verani_session_user_id(s), to->user_ids, to->n_user_ids))
        return 0;
    if (to->n_client_ids &&
        !in_list(verani_session_client_id(s), to->client_ids, to->n_client_ids))
        return 0;
    return 1;
}

int vr_target_match(const verani_target *to, const verani_session *self,
                    const verani_session *s)
{
    const char *uid = verani_session_user_id(s), *cid = verani_session_client_id(s);

    switch (to->kind) {
    case VERANI_TO_SELF:
        if (s != self)
            return 0;
        break;
    case VERANI_TO_CHANNEL:
        if (!to->name || !verani_session_in_channel(s, to->name))
            return 0;
        break;
    case VERANI_TO_USER:
        if (!to->name || !uid || strcmp(uid, to->name))
            return 0;
        break;
    case VERANI_TO_CLIENT:
        if (!to->name || strcmp(cid, to->name))
            return 0;
        break;
    case VERANI_TO_ALL:
        break;
    default:
        return 0;
    }
    return filters_match(to, s);
}

static int local_publish(vr_instance *inst, const verani_target *to, const verani_session *self,
                         vr_frame *frame)
{
    int count = 0;

    if (to->kind == VERANI_TO_SELF) {
        /* The emitting session may have closed; it is still the only candidate. */
        if (!self || !vr_session_reachable(self) || !vr_target_match(to, self, self))
            return 0;
        return vr_session_enqueue((verani_session *)self, frame, 1) == 0 ? 1 : 0;
    }
    if (to->kind == VERANI_TO_CHANNEL) {
        /* Only the channel's members (a member not yet, or no longer, in inst->sessions is
         * skipped). vr_session_enqueue never ends a session or changes a membership (a
         * close only starts), so the member array stays as it is during the walk. */
        vr_channel *c = vr_channel_find(inst, to->name);
        int filtered = to->n_user_ids || to->n_client_ids; /* `except` is checked here */
        uint32_t i;

        for (i = 0; c && i < c->n_members; i++) {
            verani_session *s = c->members[i];

            if (s != to->except && s->added && vr_session_reachable(s) &&
                (!filtered || filters_match(to, s)) &&
                vr_session_enqueue(s, frame, 1) == 0)
                count++;
        }
        return count;
    }
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&inst->sessions)) {
        verani_session *s = lws_container_of(d, verani_session, node);

        if (vr_session_reachable(s) && vr_target_match(to, self, s) &&
            vr_session_enqueue(s, frame, 1) == 0)
            count++;
    } lws_end_foreach_dll_safe(d, d1);
    return count;
}

const vr_broker_ops vr_broker_local = {"local", local_publish};
