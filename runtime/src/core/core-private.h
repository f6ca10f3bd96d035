/* SPDX-License-Identifier: MIT */
/*
 * core-private.h: the runtime's core (runtime/src/core/), which every other
 * folder of libverani uses: the allocator wrappers (vr_malloc and friends, and
 * the ProtobufCAllocator that routes protobuf-c through them), the logging
 * macros that prefix every line with "[verani]", random numbers, reconnection
 * backoff, UTF-8 checks and a growing text buffer. It includes libwebsockets'
 * headers only for the logging macros' sake; it holds no state of its own
 * beyond the allocator table set once by verani_set_allocators.
 */
#ifndef VERANI_CORE_PRIVATE_H
#define VERANI_CORE_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>
#include <protobuf-c/protobuf-c.h>

#include <verani/common.h>

/* Allocation through the hook of verani_set_allocators. vr_calloc and
 * vr_reallocarray check `n * size` for overflow and return NULL on it. */
void *vr_malloc(size_t size);
void *vr_calloc(size_t n, size_t size);
void *vr_realloc(void *p, size_t size);
void *vr_reallocarray(void *p, size_t n, size_t size);
void vr_free(void *p);
/* A copy of `s` (NULL for NULL or on failure); the caller frees it with vr_free. */
char *vr_strdup(const char *s);
char *vr_strndup(const char *s, size_t n);

/* The allocator protobuf-c gets for every pack/unpack in the runtime. */
extern ProtobufCAllocator vr_pb_allocator;

/* Logging: one line per event, "[verani] " first. Payload bytes only at debug. Through
 * vr_log (common.c): formatted on the caller's stack, safe from several servers' threads at
 * once, to the emit function and levels verani_set_log_level set (lws's by default). */
void vr_log(int lll, const char *fmt, ...) VERANI_PRINTF(2, 3);
/* Is level `lll` shown? (Arguments of a line not shown are not even evaluated.) */
int vr_log_on(int lll);
#define VR_LOG(lll, ...)                                                                     \
    do {                                                                                     \
        if (vr_log_on(lll))                                                                  \
            vr_log(lll, "[verani] " __VA_ARGS__);                                            \
    } while (0)
#define VR_ERR(...) VR_LOG(LLL_ERR, __VA_ARGS__)
#define VR_WARN(...) VR_LOG(LLL_WARN, __VA_ARGS__)
#define VR_NOTICE(...) VR_LOG(LLL_NOTICE, __VA_ARGS__)
#define VR_INFO(...) VR_LOG(LLL_INFO, __VA_ARGS__)
#define VR_DEBUG(...) VR_LOG(LLL_DEBUG, __VA_ARGS__)

/* The length (1 to 4) of the valid UTF-8 sequence (RFC 3629) that starts at `p`, or 0 when
 * the bytes there are not one (a NUL ends a sequence early, so it never reads past one). */
size_t vr_utf8_seq(const unsigned char *p);

/* Reconnection delays (backoff.c), for the client and the cluster engine: pure, no lws. */
typedef struct vr_backoff {
    uint32_t initial_ms;   /* delay before attempt 1 */
    uint32_t max_ms;       /* no delay is longer */
    double multiplier;     /* >= 1 */
    int jitter_percent;    /* 0..100; 0 = none */
} vr_backoff;

/*
 * The delay in ms before reconnect attempt `attempt` (1 for the first; 0 is
 * taken as 1). `rnd` is a uniformly random 32-bit number that decides the
 * jitter; the result is a pure function of the arguments.
 */
uint32_t vr_backoff_delay(const vr_backoff *b, uint32_t attempt, uint32_t rnd);

/* Fill `buf` with `len` bytes from the system's random source (getrandom or
 * /dev/urandom). Returns 0, or VERANI_EIO when no random source answers. */
int vr_random(void *buf, size_t len);

/* Random bytes drawn ahead from the system's source, a system call per VR_RNDPOOL bytes
 * instead of one per draw (a session's id and token at each connect). Each byte is handed out
 * once and wiped from the pool as it is. One pool per owner (the server's, on its loop): no
 * locking. Zeroed is empty. */
#define VR_RNDPOOL 1024
typedef struct vr_rndpool {
    uint8_t b[VR_RNDPOOL];
    size_t left;                      /* the unread bytes: b[0 .. left) */
} vr_rndpool;
/* `len` random bytes from `p` (refilled when it holds fewer; a draw longer than the pool goes
 * to the system's source directly). 0, or VERANI_EIO as vr_random. */
int vr_rndpool_draw(vr_rndpool *p, void *buf, size_t len);
/* Wipe what `p` has not handed out (its owner's end): empty after. */
void vr_rndpool_wipe(vr_rndpool *p);
/* Zero `n` bytes at `p` in a way the compiler keeps (secrets about to go out of scope). */
void vr_wipe(void *p, size_t n);

/* A UUIDv4 in its 36-character text form (`out` holds 37 bytes) from 16 random bytes the
 * caller drew (`b` gets the version and variant bits). */
void vr_uuid4_from(char out[37], uint8_t b[16]);

/* `len` random bytes as 2*len lowercase hex digits plus NUL into `out`. */
int vr_random_hex(char *out, size_t len);
/* `len` bytes of `b` as 2*len lowercase hex digits plus NUL into `out`. */
void vr_hex(char *out, const uint8_t *b, size_t len);
/* The reverse: `hex` must be exactly 2*len lowercase hex digits (what vr_hex writes); 0, or
 * -1 (then `out` is not to be read). */
int vr_unhex(uint8_t *out, const char *hex, size_t len);

/* `len` bytes of `b` as base64url (RFC 4648 section 5: A-Z a-z 0-9 - _) without padding,
 * plus NUL, into `out` of `cap` bytes: the digits written, or 0 when they do not fit. */
size_t vr_b64url_encode(char *out, size_t cap, const uint8_t *b, size_t len);
/* The reverse, strictly: `n` characters of `s`, only base64url digits, no padding, and the
 * unused bits of the last digit zero (the one encoding of those bytes). The bytes decoded into
 * `out` (at most `cap`), or -1 when `s` is not such a text or its bytes do not fit. */
long vr_b64url_decode(uint8_t *out, size_t cap, const char *s, size_t n);

/* A growing text buffer (sb.c: JSON replies, the metrics exposition). After an allocation
 * failure `failed` is set and further appends do nothing. */
typedef struct vr_sb {
    char *buf;                          /* owned; NUL-terminated when len > 0 */
    size_t len, cap;
    int failed;
} vr_sb;

void vr_sb_printf(vr_sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vr_sb_add(vr_sb *sb, const char *s, size_t n);
/* Append `s` as a JSON string, quotes included: control characters as \u00XX, and every byte
 * that is not part of valid UTF-8 as \ufffd, so the answer is always valid JSON (RFC 8259). */
void vr_sb_json_str(vr_sb *sb, const char *s);
void vr_sb_free(vr_sb *sb);

#endif /* VERANI_CORE_PRIVATE_H */
