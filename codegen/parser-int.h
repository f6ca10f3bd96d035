/* SPDX-License-Identifier: MIT */
/*
 * parser-int.h: what parser.c (the tokens, the declarations outside rooms, vc_parse) and
 * parser_room.c (a room and its items) share: the parser's state and the helpers both use.
 * Private to the two; the AST is veranic.h's.
 */
#ifndef VERANIC_PARSER_INT_H
#define VERANIC_PARSER_INT_H

#include <stdint.h>

#include "veranic.h"

typedef struct parser {
    vc_ctx *ctx;
    vc_arena *a;
    vc_lexer lx;
    vc_token tok;
    int panic; /* an error was reported in this statement: stay quiet until vp_sync() */
    int prev_line; /* the line the previous token ended on */
    int depth;
    vc_schema *s;
} parser;

/* The next token into p->tok (a lexer error marks the statement broken: p->panic). */
void vp_next(parser *p);
/* A token as a diagnostic names it: 'foo', or ';', or end of file. */
const char *vp_describe(parser *p, const vc_token *t);
/* A diagnostic at `loc`, unless one was reported since the last recovery (p->panic). */
void vp_error_at(parser *p, vc_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "expected <what>, got <the token>" at the token. */
void vp_expected(parser *p, const char *what);
/* Is the token the identifier `w`? */
int vp_is_word(const parser *p, const char *w);
/* Take a token of kind `k` if it is one: 1, else 0 (nothing reported). */
int vp_accept(parser *p, vc_tok_kind k);
/* Take a token of kind `k`, or report what was expected: 1, or 0. */
int vp_expect(parser *p, vc_tok_kind k);
/* Take the ';' that ends a statement, or report it missing: 1, or 0; 1 too when it is
 * missing at the end of a line (the next line is taken as a good statement). */
int vp_expect_semi(parser *p);
/* After an error: skip past the next ';' at this level or up to the '}' closing the block,
 * and report again from there. */
void vp_sync(parser *p);
/* The token's text, in the arena. */
const char *vp_tok_str(parser *p, const vc_token *t);
/* The doc of the declaration at the token (its leading comments); then, once it ended on
 * `line`, `doc` with that line's trailing comments added. */
const char *vp_leading_doc(parser *p);
const char *vp_trailing_doc(parser *p, const char *doc, int line);
/* An integer token into *out: 0, or -1 when it does not fit (reported). */
int vp_parse_int(parser *p, const vc_token *t, int64_t *out);
/* Can a field's type start at the token? */
int vp_is_type_token(const parser *p);
/* A message body: `{ fields }` into `fields`. */
void vp_parse_fields(parser *p, vc_vec *fields);
/* `room Name { items }` (parser_room.c). */
void vp_parse_room(parser *p, const char *doc);

#endif /* VERANIC_PARSER_INT_H */
