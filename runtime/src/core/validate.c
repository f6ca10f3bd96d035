/* SPDX-License-Identifier: MIT */
/*
 * validate.c: the small helpers <verani/gen.h> declares for generated
 * validators: recording a validation failure (verani_verr_fail), prefixing
 * its field path as it travels up through nested and repeated fields
 * (verani_verr_nest), checking string fields as UTF-8 and counting their
 * code points (verani_check_string, verani_utf8_len). Finding an event by id
 * (verani_event_find) is the wire's (wire/payload.c). They never allocate,
 * never log and never overrun `err`: long paths are cut.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <verani/gen.h>

#include "core-private.h"

/* Copy at most cap-1 bytes of src into dst, always terminated. */
static void copy_cut(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

VERANI_API int verani_verr_fail(verani_verr *err, const char *field, const char *fmt, ...)
{
    if (err == NULL)
        return VERANI_EINVAL;
    copy_cut(err->path, sizeof(err->path), field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
    va_end(ap);
    return VERANI_EINVAL;
}

/* Append src to dst (holding *len bytes), cutting at cap-1. */
static void append_cut(char *dst, size_t cap, size_t *len, const char *src)
{
    size_t n = strlen(src);
    if (*len + n >= cap)
        n = cap - 1 - *len;
    memcpy(dst + *len, src, n);
    *len += n;
    dst[*len] = '\0';
}

VERANI_API int verani_verr_nest(verani_verr *err, const char *field, long index)
{
    if (err == NULL)
        return VERANI_EINVAL;
    char out[VERANI_VERR_PATH_MAX];
    char idx[32];
    size_t len = 0;
    out[0] = '\0';
    append_cut(out, sizeof(out), &len, field ? field : "");
    if (index >= 0) {
        snprintf(idx, sizeof(idx), "[%ld]", index);
        append_cut(out, sizeof(out), &len, idx);
    }
    if (err->path[0] != '\0' && err->path[0] != '[')
        append_cut(out, sizeof(out), &len, ".");
    append_cut(out, sizeof(out), &len, err->path);
    memcpy(err->path, out, len + 1);
    return VERANI_EINVAL;
}

size_t vr_utf8_seq(const unsigned char *p)
{
    unsigned c = p[0], lo, hi;

    if (c < 0x80)
        return 1;
    if (c < 0xc2) /* a continuation byte, or the lead of an overlong 2-byte form */
        return 0;
    if (c < 0xe0)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c < 0xf0) {
        lo = c == 0xe0 ? 0xa0 : 0x80; /* 0xe0: no overlong 3-byte form */
        hi = c == 0xed ? 0x9f : 0xbf; /* 0xed: no UTF-16 surrogate */
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c < 0xf5) {
        lo = c == 0xf0 ? 0x90 : 0x80; /* 0xf0: no overlong 4-byte form */
        hi = c == 0xf4 ? 0x8f : 0xbf; /* 0xf4: nothing past U+10FFFF */
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80 ? 4
                                                                                        : 0;
    }
    return 0;
}

/* Code points of `s` up to `stop` of them (counting stops there), or SIZE_MAX when the
 * bytes read are not valid UTF-8, with the offset of the first bad byte in *bad. */
static size_t utf8_count(const char *s, uint64_t stop, size_t *bad)
{
    const unsigned char *p = (const unsigned char *)s, *start = p;
    size_t n = 0, l;

    while (*p && n < stop) {
        if (!(l = vr_utf8_seq(p))) {
            *bad = (size_t)(p - start);
            return SIZE_MAX;
        }
        p += l;
        n++;
    }
    return n;
}

VERANI_API size_t verani_utf8_len(const char *s)
{
    size_t bad;

    return s ? utf8_count(s, UINT64_MAX, &bad) : 0;
}

VERANI_API int verani_check_string(verani_verr *err, const char *field, const char *s,
                                   uint64_t min_len, uint64_t max_len)
{
    size_t n, bad = 0;

    if (s == NULL)
        s = "";
    /* Counting stops one past max_len: a longer string is refused without reading the rest. */
    n = utf8_count(s, max_len == VERANI_LEN_NONE ? max_len : max_len + 1, &bad);
    if (n == SIZE_MAX)
        return verani_verr_fail(err, field, "is not valid UTF-8 (at byte %zu)", bad);
    if (n < min_len)
        return verani_verr_fail(err, field, "shorter than %llu", (unsigned long long)min_len);
    if (n > max_len)
        return verani_verr_fail(err, field, "longer than %llu", (unsigned long long)max_len);
    return 0;
}
