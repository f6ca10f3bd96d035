/* SPDX-License-Identifier: MIT */
/*
 * common.c: what every part of libverani shares: verani_strerror, the
 * allocator hook (and its ProtobufCAllocator wrapper, so protobuf-c allocates
 * through the same functions), logging levels (delegated to libwebsockets'
 * logger, so one call controls both), and the random source used for client
 * ids and resume tokens. It owns no per-server state; the allocator table is
 * set once before any other call and only read afterwards.
 */
#define _GNU_SOURCE /* getrandom, O_CLOEXEC */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core-private.h"

const char *verani_strerror(int err)
{
    switch (err) {
    case VERANI_OK: return "success";
    case VERANI_EINVAL: return "invalid argument";
    case VERANI_ENOMEM: return "out of memory";
    case VERANI_ENOTFOUND: return "not found";
    case VERANI_ESTATE: return "wrong state for this call";
    case VERANI_EIO: return "input/output error";
    case VERANI_ETIMEDOUT: return "timed out";
    case VERANI_ECLOSED: return "closed";
    case VERANI_EFULL: return "queue full";
    case VERANI_EHANDLER: return "handler failed";
    case VERANI_EDENIED: return "denied";
    case VERANI_EPROTO: return "protocol error";
    case VERANI_ETOOBIG: return "too big";
    case VERANI_ENOHANDLER: return "no handler";
    case VERANI_ERANGE: return "out of range";
    default: return err >= 0 ? "success" : "unknown error";
    }
}

/* Set once by verani_set_allocators before any thread starts; read-only after. */
static struct verani_allocators vr_alloc = {malloc, calloc, realloc, free};

void verani_set_allocators(const struct verani_allocators *a)
{
    vr_alloc.malloc_fn = a && a->malloc_fn ? a->malloc_fn : malloc;
    vr_alloc.calloc_fn = a && a->calloc_fn ? a->calloc_fn : calloc;
    vr_alloc.realloc_fn = a && a->realloc_fn ? a->realloc_fn : realloc;
    vr_alloc.free_fn = a && a->free_fn ? a->free_fn : free;
}

void *vr_malloc(size_t size)
{
    return vr_alloc.malloc_fn(size ? size : 1);
}

void *vr_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return vr_alloc.calloc_fn(n ? n : 1, size ? size : 1);
}

void *vr_realloc(void *p, size_t size)
{
    return vr_alloc.realloc_fn(p, size ? size : 1);
}

void *vr_reallocarray(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return vr_realloc(p, n * size);
}

void vr_free(void *p)
{
    if (p)
        vr_alloc.free_fn(p);
}

char *vr_strndup(const char *s, size_t n)
{
    char *d;

    if (!s)
        return NULL;
    d = vr_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *vr_strdup(const char *s)
{
    return s ? vr_strndup(s, strlen(s)) : NULL;
}

static void *pb_alloc(void *data, size_t size)
{
    (void)data;
    return vr_malloc(size);
}

static void pb_free(void *data, void *p)
{
    (void)data;
    vr_free(p);
}

ProtobufCAllocator vr_pb_allocator = {pb_alloc, pb_free, NULL};

/*
 * The runtime's own lines (VR_ERR and the rest) are formatted here, on the caller's stack,
 * and handed to the emit function: libwebsockets 4.1 formats every line into one static
 * buffer, which two servers logging at once from their own threads would both write
 * (ThreadSanitizer reports it). What is shown and where it goes is what the last
 * verani_set_log_level said, for lws's lines as for these; the two are the process's, as lws's
 * own setting is (atomics: a server created on one thread may set them while another logs).
 */
static atomic_int log_levels = LLL_ERR | LLL_WARN;
static _Atomic(void (*)(int, const char *)) log_emit = lwsl_emit_stderr;

int vr_log_on(int lll)
{
    return (atomic_load_explicit(&log_levels, memory_order_relaxed) & lll) != 0;
}

void vr_log(int lll, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(line)) /* cut: the line still ends as lines do */
        memcpy(line + sizeof(line) - 5, "...\n", 5);
    atomic_load_explicit(&log_emit, memory_order_relaxed)(lll, line);
}

void verani_set_log_level(int levels, void (*emit)(int level, const char *line))
{
    /* VERANI_LOG_* are lws's LLL_ERR..LLL_DEBUG bits, in the same order. */
    int lll = 0;

    if (levels & VERANI_LOG_ERR)
        lll |= LLL_ERR;
    if (levels & VERANI_LOG_WARN)
        lll |= LLL_WARN;
    if (levels & VERANI_LOG_NOTICE)
        lll |= LLL_NOTICE;
    if (levels & VERANI_LOG_INFO)
        lll |= LLL_INFO;
    if (levels & VERANI_LOG_DEBUG)
        lll |= LLL_DEBUG;
    atomic_store(&log_levels, lll);
    if (emit)
        atomic_store(&log_emit, emit);
    lws_set_log_level(lll, emit);
}

int vr_random(void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t got = 0;

    while (got < len) {
        ssize_t n = getrandom(p + got, len - got, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < len) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

        while (fd >= 0 && got < len) {
            ssize_t n = read(fd, p + got, len - got);

            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (fd >= 0)
            close(fd);
    }
    if (got < len) {
        VR_ERR("no random source: getrandom and /dev/urandom both failed\n");
        return VERANI_EIO;
    }
    return 0;
}

void vr_hex(char *out, const uint8_t *b, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int vr_unhex(uint8_t *out, const char *hex, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        int hi = hex[2 * i] ? hex_digit(hex[2 * i]) : -1;
        int lo = hi >= 0 && hex[2 * i + 1] ? hex_digit(hex[2 * i + 1]) : -1;

        if (lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return hex[2 * len] ? -1 : 0;
}

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t vr_b64url_encode(char *out, size_t cap, const uint8_t *b, size_t len)
{
    size_t n = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0), i, o = 0;

    if (n >= cap)
        return 0;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];

        out[o++] = b64url[v >> 18];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)b[i] << 16 | (i + 1 < len ? (uint32_t)b[i + 1] << 8 : 0);

        out[o++] = b64url[v >> 18];
        out[o++] = b64url[v >> 12 & 63];
        if (i + 1 < len)
            out[o++] = b64url[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64url_digit(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

long vr_b64url_decode(uint8_t *out, size_t cap, const char *s, size_t n)
{
    size_t i, o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (n % 4 == 1)
        return -1; /* one digit more than whole bytes */
    for (i = 0; i < n; i++) {
        int d = b64url_digit(s[i]);

        if (d < 0)
            return -1;
        acc = acc << 6 | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* the last digit's unused low bits are zero in the one encoding of these bytes */
    return acc ? -1 : (long)o;
}

/* Written by hand, not with snprintf: it runs once per connection, and one snprintf of 16
 * "%02x" was 6,000 instructions, most of a session's own cost at connect (bench/RESULTS.md). */
void vr_uuid4_from(char out[37], uint8_t b[16])
{
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10 */
    vr_hex(out, b, 4);                      /* 8-4-4-4-12 */
    out[8] = '-';
    vr_hex(out + 9, b + 4, 2);
    out[13] = '-';
    vr_hex(out + 14, b + 6, 2);
    out[18] = '-';
    vr_hex(out + 19, b + 8, 2);
    out[23] = '-';
    vr_hex(out + 24, b + 10, 6);
}

int vr_rndpool_draw(vr_rndpool *p, void *buf, size_t len)
{
    if (len > sizeof(p->b))
        return vr_random(buf, len);
    if (len > p->left) {
        if (vr_random(p->b, sizeof(p->b)))
            return VERANI_EIO;
        p->left = sizeof(p->b);
    }
    p->left -= len;
    memcpy(buf, p->b + p->left, len);
    memset(p->b + p->left, 0, len);
    return 0;
}

void vr_wipe(void *p, size_t n)
{
    explicit_bzero(p, n); /* not optimised away as a store to memory that goes */
}

void vr_rndpool_wipe(vr_rndpool *p)
{
    vr_wipe(p->b, sizeof(p->b));
    p->left = 0;
}

int vr_random_hex(char *out, size_t len)
{
    uint8_t b[64];

    if (len > sizeof(b) || vr_random(b, len))
        return VERANI_EIO;
    vr_hex(out, b, len);
    return 0;
}
