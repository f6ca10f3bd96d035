/* SPDX-License-Identifier: MIT */
/*
 * validate.c: the four small helpers <verani/gen.h> declares for generated
 * code: recording a validation failure (verani_verr_fail), prefixing its
 * field path as it travels up through nested and repeated fields
 * (verani_verr_nest), counting UTF-8 code points (verani_utf8_len) and
 * finding an event by id in a sorted table (verani_event_find). They never
 * allocate, never log and never overrun `err`: long paths are cut.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <verani/gen.h>

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

VERANI_API size_t verani_utf8_len(const char *s)
{
    size_t n = 0;
    if (s == NULL)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xc0) != 0x80;
    return n;
}

VERANI_API const verani_event_def *verani_event_find(const verani_event_def *table, size_t n,
                                                     uint32_t id)
{
    size_t lo = 0, hi = n;
    if (table == NULL)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (table[mid].id == id)
            return &table[mid];
        if (table[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
