/* SPDX-License-Identifier: MIT */
/*
 * lexer.re: the tokens of a .verani schema, compiled by re2c at build time
 * (re2c -W -Werror --no-generation-date --no-version; never checked in).
 * It tracks line and column, keeps `//` comments for the parser to attach
 * to declarations, skips block comments, and reports bad characters,
 * unterminated strings and comments itself. Keywords are plain identifiers:
 * the parser decides what a word means where it stands. The input is
 * NUL-terminated and its length is known, so an embedded NUL is just a bad
 * character, never the end (re2c:eof with YYLIMIT).
 */
#include <string.h>

#include "veranic.h"

void vc_lex_init(vc_lexer *lx, vc_ctx *ctx)
{
    lx->ctx = ctx;
    lx->cur = ctx->src;
    lx->lim = ctx->src + ctx->src_len;
    lx->line_start = ctx->src;
    lx->line = 1;
    /* A UTF-8 byte order mark is not an error; columns still count its bytes. */
    if (ctx->src_len >= 3 && memcmp(ctx->src, "\xef\xbb\xbf", 3) == 0)
        lx->cur += 3;
}

const char *vc_token_name(vc_tok_kind kind)
{
    switch (kind) {
    case VC_T_EOF: return "end of file";
    case VC_T_IDENT: return "identifier";
    case VC_T_DOTTED: return "dotted name";
    case VC_T_INT: return "integer";
    case VC_T_FLOAT: return "number";
    case VC_T_STRING: return "string";
    case VC_T_LBRACE: return "'{'";
    case VC_T_RBRACE: return "'}'";
    case VC_T_LPAREN: return "'('";
    case VC_T_RPAREN: return "')'";
    case VC_T_LBRACKET: return "'['";
    case VC_T_RBRACKET: return "']'";
    case VC_T_LT: return "'<'";
    case VC_T_GT: return "'>'";
    case VC_T_SEMI: return "';'";
    case VC_T_COMMA: return "','";
    case VC_T_EQ: return "'='";
    case VC_T_ERROR: return "invalid token";
    }
    return "token";
}

static vc_loc loc_at(const vc_lexer *lx, const char *start, const char *end)
{
    vc_loc l;
    l.line = lx->line;
    l.col = (int)(start - lx->line_start) + 1;
    l.len = (int)(end - start);
    return l;
}

void vc_lex_next(vc_lexer *lx, vc_token *tok)
{
    const unsigned char *cur = (const unsigned char *)lx->cur;
    const unsigned char *lim = (const unsigned char *)lx->lim;
    const unsigned char *mar = cur;
    const unsigned char *start;
    vc_comment *comments = NULL, **tail = &comments;
    vc_tok_kind kind;

again:
    start = cur;
    if (lx->ctx->stopped) {
        kind = VC_T_EOF;
        goto done;
    }
    /*!re2c
        re2c:define:YYCTYPE = "unsigned char";
        re2c:define:YYCURSOR = cur;
        re2c:define:YYMARKER = mar;
        re2c:define:YYLIMIT = lim;
        re2c:yyfill:enable = 0;
        re2c:eof = 0;

        ident = [a-zA-Z_][a-zA-Z0-9_]*;
        dec   = [0-9]+;
        exp   = [eE] [+-]? dec;

        $ { kind = VC_T_EOF; goto done; }

        [ \t\r\v\f]+ { goto again; }
        "\n" {
            lx->line++;
            lx->line_start = (const char *)cur;
            goto again;
        }
        "//" [^\n]* {
            vc_comment *c = vc_arena_alloc(&lx->ctx->arena, sizeof(*c));
            if (c != NULL) {
                c->text = (const char *)start + 2;
                c->len = (size_t)(cur - start) - 2;
                c->line = lx->line;
                *tail = c;
                tail = &c->next;
            }
            goto again;
        }
        "/*" {
            const unsigned char *p = cur;
            int line = lx->line;
            const char *ls = lx->line_start;
            while (p + 1 < lim && !(p[0] == '*' && p[1] == '/')) {
                if (*p == '\n') {
                    line++;
                    ls = (const char *)p + 1;
                }
                p++;
            }
            if (p + 1 >= lim) {
                vc_diag(lx->ctx, VC_ERROR, loc_at(lx, (const char *)start,
                        (const char *)start + 2), "unterminated comment");
                cur = lim;
            } else {
                cur = p + 2;
            }
            lx->line = line;
            lx->line_start = ls;
            goto again;
        }

        ident ("." ident)+ { kind = VC_T_DOTTED; goto done; }
        ident { kind = VC_T_IDENT; goto done; }
        "-"? (dec | "0" [xX] [0-9a-fA-F]+) { kind = VC_T_INT; goto done; }
        "-"? (dec "." dec exp? | dec exp) { kind = VC_T_FLOAT; goto done; }
        ["] [^"\n]* ["] { kind = VC_T_STRING; goto done; }
        ["] [^"\n]* {
            vc_diag(lx->ctx, VC_ERROR, loc_at(lx, (const char *)start, (const char *)start + 1),
                    "missing terminating '\"' character");
            kind = VC_T_ERROR;
            goto done;
        }
        "{" { kind = VC_T_LBRACE; goto done; }
        "}" { kind = VC_T_RBRACE; goto done; }
        "(" { kind = VC_T_LPAREN; goto done; }
        ")" { kind = VC_T_RPAREN; goto done; }
        "[" { kind = VC_T_LBRACKET; goto done; }
        "]" { kind = VC_T_RBRACKET; goto done; }
        "<" { kind = VC_T_LT; goto done; }
        ">" { kind = VC_T_GT; goto done; }
        ";" { kind = VC_T_SEMI; goto done; }
        "," { kind = VC_T_COMMA; goto done; }
        "=" { kind = VC_T_EQ; goto done; }

        * {
            /* One report for a run of non-ASCII bytes (a UTF-8 character). */
            while (cur < lim && *cur >= 0x80 && *start >= 0x80)
                cur++;
            if (*start > 0x20 && *start < 0x7f)
                vc_diag(lx->ctx, VC_ERROR, loc_at(lx, (const char *)start, (const char *)cur),
                        "unexpected character '%c'", *start);
            else
                vc_diag(lx->ctx, VC_ERROR, loc_at(lx, (const char *)start, (const char *)cur),
                        "unexpected character '\\x%02x'", *start);
            goto again;
        }
    */
done:
    (void)mar;
    tok->kind = kind;
    tok->text = (const char *)start;
    tok->len = (size_t)(cur - start);
    tok->loc = loc_at(lx, (const char *)start, (const char *)cur);
    tok->comments = comments;
    lx->cur = (const char *)cur;
}
