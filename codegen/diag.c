/* SPDX-License-Identifier: MIT */
/*
 * diag.c: every diagnostic veranic prints goes through vc_diag. It formats
 * `path:line:col: error: message`, the source line (a window of at most 100
 * columns around the column, cut with "..."), and a caret line (`^` then `~`
 * under the rest of the token; tabs copied, UTF-8 continuation bytes take no
 * width), and hands the whole text to the context's sink. It counts errors
 * and, past VC_MAX_ERRORS, prints "too many errors" once and sets
 * ctx->stopped so the lexer, parser and checker wind down. A warning has the
 * same form with "warning:"; it is counted apart and stops nothing (the
 * outputs are still written). It never exits.
 */
#include <string.h>

#include "veranic.h"

#define VC_LINE_WINDOW 100

static void source_excerpt(vc_ctx *ctx, vc_buf *b, vc_loc loc)
{
    const char *p = ctx->src, *end = ctx->src + ctx->src_len;
    for (int line = 1; line < loc.line && p < end; p++) {
        if (*p == '\n')
            line++;
    }
    const char *eol = p;
    while (eol < end && *eol != '\n')
        eol++;
    size_t len = (size_t)(eol - p);
    size_t col = loc.col > 0 ? (size_t)loc.col - 1 : 0;
    if (col > len)
        col = len;
    size_t from = 0;
    if (len > VC_LINE_WINDOW && col > VC_LINE_WINDOW - 20)
        from = col - (VC_LINE_WINDOW - 40);
    size_t to = len;
    if (to - from > VC_LINE_WINDOW)
        to = from + VC_LINE_WINDOW;
    if (from > 0)
        vc_buf_puts(b, "...");
    for (size_t i = from; i < to; i++) {
        unsigned char c = (unsigned char)p[i];
        char out = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
        vc_buf_putn(b, &out, 1);
    }
    if (to < len)
        vc_buf_puts(b, "...");
    vc_buf_puts(b, "\n");
    if (from > 0)
        vc_buf_puts(b, "   ");
    for (size_t i = from; i < col && i < to; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\t')
            vc_buf_puts(b, "\t");
        else if (c < 0x80 || c >= 0xc0)
            vc_buf_puts(b, " ");
    }
    vc_buf_puts(b, "^");
    size_t tok_end = col + (loc.len > 0 ? (size_t)loc.len : 1);
    if (tok_end > to)
        tok_end = to;
    for (size_t i = col + 1; i < tok_end; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x80 || c >= 0xc0)
            vc_buf_puts(b, "~");
    }
    vc_buf_puts(b, "\n");
}

static void emit(vc_ctx *ctx, vc_buf *b)
{
    if (b->failed) {
        static const char oom[] = "veranic: error: out of memory while reporting an error\n";
        ctx->sink(ctx->sink_ctx, oom, sizeof(oom) - 1);
    } else {
        ctx->sink(ctx->sink_ctx, b->data, b->len);
    }
    vc_buf_free(b);
}

/* Returns 0 when the diagnostic should be printed. */
static int count(vc_ctx *ctx, vc_severity sev)
{
    if (ctx->stopped)
        return -1;
    if (sev == VC_NOTE)
        return 0;
    if (sev == VC_WARNING) {
        ctx->warnings++;
        return 0;
    }
    if (ctx->errors == VC_MAX_ERRORS) {
        vc_buf b = {0};
        vc_buf_printf(&b, "%s: error: too many errors, stopping\n", ctx->path);
        emit(ctx, &b);
        ctx->stopped = 1;
        ctx->errors++;
        return -1;
    }
    ctx->errors++;
    return 0;
}

void vc_diag(vc_ctx *ctx, vc_severity sev, vc_loc loc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vc_vdiag(ctx, sev, loc, fmt, ap);
    va_end(ap);
}

void vc_vdiag(vc_ctx *ctx, vc_severity sev, vc_loc loc, const char *fmt, va_list ap)
{
    if (count(ctx, sev) != 0)
        return;
    vc_buf b = {0};
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    vc_buf_printf(&b, "%s:%d:%d: %s: %s\n", ctx->path, loc.line, loc.col,
                  sev == VC_ERROR ? "error" : sev == VC_WARNING ? "warning" : "note", msg);
    source_excerpt(ctx, &b, loc);
    emit(ctx, &b);
}

void vc_diag_file(vc_ctx *ctx, const char *fmt, ...)
{
    if (count(ctx, VC_ERROR) != 0)
        return;
    vc_buf b = {0};
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    vc_buf_printf(&b, "%s: error: %s\n", ctx->path, msg);
    emit(ctx, &b);
}
