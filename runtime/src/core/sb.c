/* SPDX-License-Identifier: MIT */
/*
 * sb.c: vr_sb, the growing text buffer behind the HTTP API's JSON answers and
 * the metrics exposition, with a JSON string writer that always produces valid
 * JSON. An allocation failure sticks (`failed`), so a caller checks once at
 * the end. It knows nothing of HTTP or metrics.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core-private.h"

static int sb_reserve(vr_sb *sb, size_t more)
{
    size_t cap;
    char *nb;

    if (sb->failed)
        return -1;
    if (sb->len + more + 1 <= sb->cap)
        return 0;
    cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + more + 1)
        cap *= 2;
    nb = vr_realloc(sb->buf, cap);
    if (!nb) {
        sb->failed = 1;
        return -1;
    }
    sb->buf = nb;
    sb->cap = cap;
    return 0;
}

void vr_sb_add(vr_sb *sb, const char *s, size_t n)
{
    if (sb_reserve(sb, n))
        return;
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

void vr_sb_printf(vr_sb *sb, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sb_reserve(sb, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

void vr_sb_json_str(vr_sb *sb, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : ""), *run;
    size_t l;

    vr_sb_add(sb, "\"", 1);
    while (*p) {
        /* what needs no escape goes in runs (the JSON wire writes every string through here):
         * printable ASCII but '"' and '\\', and whole valid UTF-8 sequences */
        for (run = p; *p; p += l) {
            if (*p >= 0x80)
                l = vr_utf8_seq(p);
            else
                l = *p >= 0x20 && *p != 0x7f && *p != '"' && *p != '\\';
            if (!l)
                break;
        }
        if (p > run)
            vr_sb_add(sb, (const char *)run, (size_t)(p - run));
        if (!*p)
            break;
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};

            vr_sb_add(sb, e, 2);
        } else if (*p < 0x80) {
            vr_sb_printf(sb, "\\u%04x", *p);
        } else {
            /* not UTF-8 (a channel or instance name given as raw bytes): JSON text must be,
             * so each such byte is written as U+FFFD, the replacement character */
            vr_sb_add(sb, "\\ufffd", 6);
        }
        p++;
    }
    vr_sb_add(sb, "\"", 1);
}

void vr_sb_free(vr_sb *sb)
{
    vr_free(sb->buf);
    memset(sb, 0, sizeof(*sb));
}

