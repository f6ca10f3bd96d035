/* SPDX-License-Identifier: MIT */
/*
 * broker-int.h: the delivery path. A frame is encoded once into a
 * reference-counted vr_frame; every recipient queues one reference (plus its
 * own seq) in a bounded vr_outq; when the connection is writable, every
 * pending frame is copied, each behind its WebSocket header and seq prefix,
 * into one buffer for a single write. Recipient selection sits behind
 * vr_broker_ops so a scale-out broker (Redis) can replace local delivery.
 * The queue and frame code knows nothing of libwebsockets.
 */
#ifndef VERANI_BROKER_INT_H
#define VERANI_BROKER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <verani/gen.h>

/* An encoded Envelope without seq, shared by every recipient queue; or, with `text` set, a
 * frame of the JSON wire (json_tx.c), written as a text message and never with a seq. */
typedef struct vr_frame {
    uint32_t refs;   /* one per queue entry plus the creator's until it unrefs */
    uint32_t len;    /* bytes in body */
    int64_t t_us;    /* creation time (CLOCK_MONOTONIC, us): the age of a retained frame */
    struct vr_frame *twin; /* owned reference: this Envelope's frame on the JSON wire, made
                              for its first JSON recipient and shared by the others */
    uint8_t text;    /* a JSON text frame (opcode 0x1), not an Envelope */
    uint8_t body[];
} vr_frame;

/* A frame of `len` bytes with one reference (the caller's). NULL on OOM. */
vr_frame *vr_frame_new(size_t len);
void vr_frame_ref(vr_frame *f);
/* Drop one reference; the last one frees the frame. NULL is a no-op. */
void vr_frame_unref(vr_frame *f);

typedef struct vr_qent {
    vr_frame *frame; /* one reference owned by the queue */
    uint64_t seq;    /* 0: the frame carries no seq (WELCOME, ERROR, PONG) */
} vr_qent;

/* A session's outbound queue: a ring that grows by doubling up to its bound. */
typedef struct vr_outq {
    vr_qent *ring;   /* owned */
    uint32_t cap, head, count; /* cap: 0 or a power of two (indexes wrap with a mask) */
    size_t bytes;    /* body bytes queued */
} vr_outq;

/* The entry `i` places after the head (i < count; cap is a power of two). */
static inline vr_qent *vr_outq_at(const vr_outq *q, uint32_t i)
{
    return &q->ring[(q->head + i) & (q->cap - 1)];
}

void vr_outq_init(vr_outq *q);
/* Drop every entry and free the ring. */
void vr_outq_fini(vr_outq *q);
/*
 * Queue one reference to `f` with `seq`. VERANI_EFULL when it would pass
 * `max_frames` or `max_bytes` (nothing is queued then), VERANI_ENOMEM.
 */
int vr_outq_push(vr_outq *q, vr_frame *f, uint64_t seq, uint32_t max_frames, size_t max_bytes);
/* At least the bytes the head entry takes on the wire (header + prefix + body); 0 when empty. */
size_t vr_outq_head_wire_size(const vr_outq *q);
/*
 * Move whole frames from the head of `q` into `dst` (capacity `cap`), each as
 * WebSocket header + seq prefix + body, while they fit. Returns the bytes
 * written; 0 when empty or when the head does not fit in `cap`.
 */
size_t vr_outq_fill(vr_outq *q, uint8_t *dst, size_t cap);
/* The same, `max_frames` frames at most (the output gate holds the rest). */
size_t vr_outq_fill_n(vr_outq *q, uint8_t *dst, size_t cap, uint32_t max_frames);
/* Drop the last `n` entries (at most all of them) and their frame references. */
void vr_outq_drop_tail(vr_outq *q, uint32_t n);

/*
 * The retained window of a session (resume, PROTOCOL.md section 3): every
 * sequenced frame queued to it, kept after it was written, in seq order,
 * bounded by count and age. It is a vr_outq used without a byte bound.
 * Pushing enforces only the count (it drops the oldest past max_frames - 1):
 * looking at the oldest entry's age on every delivery cost a cache miss per
 * recipient (bench/RESULTS.md). The age bound is applied by vr_retain_trim
 * before every replay (so nothing older is ever replayed), once per 64
 * frames pushed, and by the server's sweep for a quiet session (so memory
 * follows it too). Ages are the frames' own creation times (vr_frame.t_us).
 */
int vr_retain_push(vr_outq *r, vr_frame *f, uint64_t seq, uint32_t max_frames);
/* Drop the entries created before `oldest_us`. */
void vr_retain_trim(vr_outq *r, int64_t oldest_us);
/*
 * Queue to `dst` (NULL: only count), in order and past its bound, every
 * retained entry with seq > `last_seq`. Returns 1 when they are all of
 * (last_seq, cur_seq], 0 when some are missing (recovery failed), or
 * VERANI_ENOMEM (some were queued).
 */
int vr_retain_replay(const vr_outq *r, uint64_t last_seq, uint64_t cur_seq, vr_outq *dst);
/* CLOCK_MONOTONIC in microseconds (the clock of vr_frame.t_us). */
int64_t vr_now_us(void);
/* Wall-clock Unix time in milliseconds (stored times: retained frames, sessions, alarms). */
int64_t vr_wall_ms(void);

/*
 * Does session `s` pass target `to` (kind/name, except, user and client
 * filters)? `self` is the emitting session for VERANI_TO_SELF (may be NULL).
 * The accessors come from server.h, so this is pure selection logic.
 */
/*
 * Deep-copy `src` into `dst` for another thread's use: every string (name,
 * user ids, client ids) goes into one block stored in `*strs`, which the
 * caller owns and frees with vr_free. Returns 0 or VERANI_ENOMEM.
 */
int vr_target_copy(verani_target *dst, char **strs, const verani_target *src);

int vr_target_match(const verani_target *to, const verani_session *self,
                    const verani_session *s);

struct vr_instance;
/*
 * The delivery interface. publish queues `frame` to every session of `inst`
 * that matches `to` and returns how many, or a negative verani_err. Local
 * delivery is the only implementation today; a Redis broker adds the other
 * nodes' sessions behind the same call.
 */
typedef struct vr_broker_ops {
    const char *name;
    int (*publish)(struct vr_instance *inst, const verani_target *to,
                   const verani_session *self, vr_frame *frame);
} vr_broker_ops;

extern const vr_broker_ops vr_broker_local;

#endif /* VERANI_BROKER_INT_H */
