/* SPDX-License-Identifier: MIT */
/*
 * client-private.h: the client's internals shared by client.c (state
 * machine, protocol), client_loop.c (the lws context, its thread and the
 * inbox that carries calls from other threads), client_queue.c (the bounded
 * frame queue) and backoff.c (the delay computation). backoff and the queue
 * do not call libwebsockets, so the unit tests use them directly.
 */
#ifndef VERANI_CLIENT_PRIVATE_H
#define VERANI_CLIENT_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include <verani/client.h>

/* --- backoff (backoff.c): pure, no lws --------------------------------- */

typedef struct vr_backoff {
    uint32_t initial_ms;   /* delay before attempt 1 */
    uint32_t max_ms;       /* no delay is longer */
    double multiplier;     /* >= 1 */
    int jitter_percent;    /* 0..100; 0 = none */
} vr_backoff;

/* The options' backoff with every default filled in (see client.h). */
void vr_backoff_from_options(vr_backoff *b, const verani_client_options *opts);

/*
 * The delay in ms before reconnect attempt `attempt` (1 for the first; 0 is
 * taken as 1). `rnd` is a uniformly random 32-bit number that decides the
 * jitter; the result is a pure function of the arguments.
 */
uint32_t vr_backoff_delay(const vr_backoff *b, uint32_t attempt, uint32_t rnd);

/* --- frames and the bounded queue (client_queue.c): no lws -------------- */

/* Headroom before each frame's bytes; static_assert'ed >= LWS_PRE in client.c. */
#define VR_FRAME_PRE 16

typedef struct vr_cframe {
    struct vr_cframe *next;
    uint64_t request_id;      /* nonzero: the request / join / leave this frame carries */
    size_t len;               /* bytes of the frame after the headroom */
    unsigned char buf[];      /* VR_FRAME_PRE bytes of headroom, then `len` bytes */
} vr_cframe;

/* A frame of `len` bytes (uninitialised) with headroom; NULL when out of memory.
 * The caller owns it until it is pushed; free with vr_cframe_free. */
vr_cframe *vr_cframe_new(size_t len);
void vr_cframe_free(vr_cframe *f);
static inline unsigned char *vr_cframe_data(vr_cframe *f)
{
    return f->buf + VR_FRAME_PRE;
}

/* A FIFO of frames that owns them. */
typedef struct vr_cqueue {
    vr_cframe *head;
    vr_cframe *tail;
    size_t len;
    size_t max;               /* the bound applied by vr_cqueue_push with `bounded` */
    uint64_t dropped;         /* frames dropped because the bound was reached, in all */
} vr_cqueue;

void vr_cqueue_init(vr_cqueue *q, size_t max);

/*
 * Append `f` (the queue takes it). With `bounded`, while the queue holds
 * `max` frames or more, the oldest is unlinked, counted in `dropped` and
 * returned (the caller owns and frees it; only the first is returned when
 * several go, the others are freed, which cannot happen with a fixed max);
 * else returns NULL.
 */
vr_cframe *vr_cqueue_push(vr_cqueue *q, vr_cframe *f, int bounded);

/* Unlink and return the oldest frame (the caller owns it), NULL when empty. */
vr_cframe *vr_cqueue_pop(vr_cqueue *q);

/* Put `f` back at the head (the queue takes it). */
void vr_cqueue_push_front(vr_cqueue *q, vr_cframe *f);

/* Unlink and return the frame carrying `request_id` (caller owns it), or NULL. */
vr_cframe *vr_cqueue_remove_request(vr_cqueue *q, uint64_t request_id);

/* Free every frame. */
void vr_cqueue_clear(vr_cqueue *q);

/* --- the loop (client_loop.c) ------------------------------------------- */

/*
 * Run `fn(arg)` on the loop's thread and return its result: at once when
 * the loop has no thread or the caller is that thread, else through the
 * inbox (the caller waits). VERANI_ECLOSED if the loop is being destroyed.
 */
int vr_loop_call(verani_client_loop *loop, int (*fn)(void *arg), void *arg);

/* Whether a thread of ours services the loop. Any thread. */
int vr_loop_is_threaded(verani_client_loop *loop);
/* Whether the caller may block on the loop: not the loop's own thread, and
 * not inside a callback of an unthreaded loop. Any thread. */
int vr_loop_can_block(verani_client_loop *loop);
/* Drain the inbox: LWS_CALLBACK_EVENT_WAIT_CANCELLED (client.c calls it). */
void vr_loop_on_cancel(verani_client_loop *loop);
/* Make room for one more client in the loop's list (VERANI_ENOMEM). */
int vr_loop_reserve_client(verani_client_loop *loop);

struct lws_context *vr_loop_lws(verani_client_loop *loop);
/* The vhost for clients that use `ca_file` (NULL: system CAs); created on demand. */
struct lws_vhost *vr_loop_vhost(verani_client_loop *loop, const char *ca_file, char *errbuf,
                                size_t errlen);

/* Clients on a loop, for verani_client_loop_destroy. */
void vr_loop_add_client(verani_client_loop *loop, verani_client *c);
void vr_loop_remove_client(verani_client_loop *loop, verani_client *c);

/* The lws protocol callback, in client.c; client_loop.c registers it. */
int vr_client_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                           void *in, size_t len);

/* Destroy a client from the loop's teardown (client.c). */
void vr_client_destroy_now(verani_client *c);

/* Increment / decrement the loop's callback depth (re-entrancy guard). */
void vr_loop_enter(verani_client_loop *loop);
void vr_loop_leave(verani_client_loop *loop);

/* The client allocator: the runtime's hooks (vr_malloc and friends). */
void *vr_client_malloc(size_t n);
void *vr_client_calloc(size_t n, size_t size);
void *vr_client_realloc(void *p, size_t n);
void vr_client_free(void *p);
char *vr_client_strdup(const char *s);

#endif /* VERANI_CLIENT_PRIVATE_H */
