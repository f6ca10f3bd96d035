/* SPDX-License-Identifier: MIT */
/*
 * parser.c: recursive descent from tokens to the AST in veranic.h, one
 * function per grammar rule of schema/README.md: the tokens and the helpers
 * both parsers use (parser-int.h), packages, enums, messages and vc_parse;
 * rooms are parser_room.c's. It checks syntax only, plus
 * what is local to one statement (a number that does not fit, a limit key
 * that does not exist, a second `path` in one room); names, types and
 * collisions are check.c's. After a syntax error it reports once, skips to
 * the next `;` or the `}` that closes the current block, and goes on, so
 * every statement gets its own diagnostic. `//` comments before a
 * declaration, or after it on the same line, become its doc text.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "parser-int.h"

void vp_next(parser *p)
{
    p->prev_line = p->lx.line;
    vc_lex_next(&p->lx, &p->tok);
    while (p->tok.kind == VC_T_ERROR && !p->ctx->stopped) {
        p->panic = 1;
        vc_lex_next(&p->lx, &p->tok);
    }
}

/* The token as a person reads it in a message: 'foo', or ';', or end of file. */
const char *vp_describe(parser *p, const vc_token *t)
{
    switch (t->kind) {
    case VC_T_IDENT: case VC_T_DOTTED: case VC_T_INT: case VC_T_FLOAT: case VC_T_STRING: {
        char tmp[48];
        size_t n = t->len < 40 ? t->len : 40;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)t->text[i];
            tmp[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
        }
        tmp[n] = '\0';
        return vc_arena_printf(p->a, "'%s%s'", tmp, t->len > 40 ? "..." : "");
    }
    default:
        return vc_token_name(t->kind);
    }
}

/* The first error since the parser last recovered (sync); later ones are its echoes. */
void vp_error_at(parser *p, vc_loc loc, const char *fmt, ...)
{
    va_list ap;

    if (p->panic)
        return;
    p->panic = 1;
    va_start(ap, fmt);
    vc_vdiag(p->ctx, VC_ERROR, loc, fmt, ap);
    va_end(ap);
}

void vp_expected(parser *p, const char *what)
{
    vp_error_at(p, p->tok.loc, "expected %s, got %s", what, vp_describe(p, &p->tok));
}

int vp_is_word(const parser *p, const char *w)
{
    return p->tok.kind == VC_T_IDENT && p->tok.len == strlen(w) &&
           memcmp(p->tok.text, w, p->tok.len) == 0;
}

int vp_accept(parser *p, vc_tok_kind k)
{
    if (p->tok.kind != k)
        return 0;
    vp_next(p);
    return 1;
}

int vp_expect(parser *p, vc_tok_kind k)
{
    if (vp_accept(p, k))
        return 1;
    vp_expected(p, vc_token_name(k));
    return 0;
}

/* A statement's `;`. When it is missing at the end of a line, say so and go
 * on as if it were there: the next line is most likely a good statement. */
int vp_expect_semi(parser *p)
{
    if (vp_accept(p, VC_T_SEMI))
        return 1;
    vp_expected(p, vc_token_name(VC_T_SEMI));
    if (p->tok.loc.line > p->prev_line && p->tok.kind != VC_T_EOF) {
        p->panic = 0;
        return 1;
    }
    return 0;
}

/* Skip to the end of the broken statement: past the next `;` at this
 * nesting level, or up to (not past) the `}` that closes the block. */
static void sync_to(parser *p, int top)
{
    int depth = 0, first = 1;
    while (p->tok.kind != VC_T_EOF) {
        if (top && depth == 0 && !first &&
            (vp_is_word(p, "package") || vp_is_word(p, "enum") || vp_is_word(p, "message") ||
             vp_is_word(p, "room")))
            break;
        first = 0;
        if (p->tok.kind == VC_T_LBRACE) {
            depth++;
        } else if (p->tok.kind == VC_T_RBRACE) {
            if (depth == 0)
                break;
            depth--;
            if (depth == 0) {
                vp_next(p);
                break;
            }
        } else if (p->tok.kind == VC_T_SEMI && depth == 0) {
            vp_next(p);
            break;
        }
        vp_next(p);
    }
    p->panic = 0;
}

void vp_sync(parser *p)
{
    sync_to(p, 0);
}

const char *vp_tok_str(parser *p, const vc_token *t)
{
    return vc_arena_strndup(p->a, t->text, t->len);
}

static const char *join_comments(parser *p, const vc_comment *c, int only_line, int before_line)
{
    vc_buf b = {0};
    for (; c != NULL; c = c->next) {
        if (only_line && c->line != only_line)
            continue;
        if (before_line && c->line >= before_line)
            continue;
        const char *t = c->text;
        size_t n = c->len;
        while (n > 0 && (*t == ' ' || *t == '/'))
            t++, n--;
        while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t' || t[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        if (b.len)
            vc_buf_puts(&b, "\n");
        vc_buf_putn(&b, t, n);
    }
    const char *r = b.len && !b.failed ? vc_arena_strndup(p->a, b.data, b.len) : NULL;
    vc_buf_free(&b);
    return r;
}

/* The doc of a declaration starting at the current token: its leading comments. */
const char *vp_leading_doc(parser *p)
{
    return join_comments(p, p->tok.comments, 0, p->tok.loc.line);
}

/* After a declaration that ended on `line`: add the comments on that line
 * that precede the current token (trailing comments) to `doc`. */
const char *vp_trailing_doc(parser *p, const char *doc, int line)
{
    const char *t = join_comments(p, p->tok.comments, line, 0);
    /* they belong to this declaration, not to the next one */
    vc_comment **pp = &p->tok.comments;
    while (*pp != NULL) {
        if ((*pp)->line == line)
            *pp = (*pp)->next;
        else
            pp = &(*pp)->next;
    }
    if (t == NULL)
        return doc;
    if (doc == NULL)
        return t;
    return vc_arena_printf(p->a, "%s\n%s", doc, t);
}

int vp_parse_int(parser *p, const vc_token *t, int64_t *out)
{
    char buf[64];
    if (t->len >= sizeof(buf)) {
        vp_error_at(p, t->loc, "integer %s is too large", vp_describe(p, t));
        return -1;
    }
    memcpy(buf, t->text, t->len);
    buf[t->len] = '\0';
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 0);
    if (errno == ERANGE || *end != '\0') {
        vp_error_at(p, t->loc, "integer %s is too large", vp_describe(p, t));
        return -1;
    }
    *out = v;
    return 0;
}

/* INT or FLOAT into an option value. */
static int parse_number(parser *p, vc_option *o)
{
    const vc_token *t = &p->tok;
    o->value_loc = t->loc;
    o->text = vp_tok_str(p, t);
    if (t->kind == VC_T_INT) {
        if (vp_parse_int(p, t, &o->ival) != 0)
            return -1;
        o->fval = (double)o->ival;
    } else if (t->kind == VC_T_FLOAT) {
        o->is_float = 1;
        o->fval = strtod(o->text, NULL);
        if (o->fval > 1e300 || o->fval < -1e300) {
            vp_error_at(p, t->loc, "number %s is out of range", vp_describe(p, t));
            return -1;
        }
    } else {
        vp_expected(p, "a number");
        return -1;
    }
    o->has_value = 1;
    vp_next(p);
    return 0;
}

static void parse_options(parser *p, vc_field *f)
{
    /* at '[' */
    vp_next(p);
    do {
        if (p->tok.kind != VC_T_IDENT) {
            vp_expected(p, "an option name");
            return;
        }
        vc_option *o = vc_arena_alloc(p->a, sizeof(*o));
        if (o == NULL)
            return;
        o->name = vp_tok_str(p, &p->tok);
        o->loc = p->tok.loc;
        vp_next(p);
        if (vp_accept(p, VC_T_EQ) && parse_number(p, o) != 0)
            return;
        vc_vec_push(p->a, &f->options, o);
    } while (vp_accept(p, VC_T_COMMA));
    vp_expect(p, VC_T_RBRACKET);
}

int vp_is_type_token(const parser *p)
{
    return p->tok.kind == VC_T_IDENT || p->tok.kind == VC_T_DOTTED;
}

/* field = [ "optional" | "repeated" ] type name "=" int [ options ] ";"
 *       | "map" "<" type "," type ">" name "=" int [ options ] ";" */
static void parse_field(parser *p, vc_vec *fields)
{
    vc_field *f = vc_arena_alloc(p->a, sizeof(*f));
    if (f == NULL)
        return;
    f->doc = vp_leading_doc(p);
    f->label_loc = p->tok.loc;
    if (vp_is_word(p, "message") || vp_is_word(p, "enum")) {
        vp_error_at(p, p->tok.loc, "nested %s declarations are not supported: declare them at top "
                 "level", vp_tok_str(p, &p->tok));
        return;
    }
    if (vp_is_word(p, "oneof") || vp_is_word(p, "reserved") || vp_is_word(p, "extensions") ||
        vp_is_word(p, "extend") || vp_is_word(p, "group") || vp_is_word(p, "option")) {
        vp_error_at(p, p->tok.loc, "'%s' is not supported in a verani schema", vp_tok_str(p, &p->tok));
        return;
    }
    if (vp_is_word(p, "required")) {
        vp_error_at(p, p->tok.loc, "'required' is a validation option here: write the field plain "
                 "and add [required]");
        return;
    }
    if (vp_is_word(p, "optional") || vp_is_word(p, "repeated")) {
        f->label = vp_is_word(p, "optional") ? VC_LABEL_OPTIONAL : VC_LABEL_REPEATED;
        vp_next(p);
    } else if (vp_is_word(p, "map")) {
        vp_next(p);
        if (p->tok.kind == VC_T_LT) {
            f->label = VC_LABEL_MAP;
            vp_next(p);
            if (!vp_is_type_token(p)) {
                vp_expected(p, "a map key type");
                return;
            }
            f->key_type = vp_tok_str(p, &p->tok);
            f->key_loc = p->tok.loc;
            vp_next(p);
            if (!vp_expect(p, VC_T_COMMA))
                return;
        } else {
            /* a message called `map` used as a type */
            f->type_name = "map";
            f->type_loc = f->label_loc;
        }
    }
    if (f->type_name == NULL) {
        if (!vp_is_type_token(p)) {
            vp_expected(p, "a field type");
            return;
        }
        f->type_name = vp_tok_str(p, &p->tok);
        f->type_loc = p->tok.loc;
        vp_next(p);
        if (f->label == VC_LABEL_MAP && !vp_expect(p, VC_T_GT))
            return;
    }
    if (p->tok.kind != VC_T_IDENT) {
        vp_expected(p, "a field name");
        return;
    }
    f->name = vp_tok_str(p, &p->tok);
    f->loc = p->tok.loc;
    vp_next(p);
    if (!vp_expect(p, VC_T_EQ))
        return;
    if (p->tok.kind != VC_T_INT) {
        vp_expected(p, "a field number");
        return;
    }
    f->number_loc = p->tok.loc;
    if (vp_parse_int(p, &p->tok, &f->number) != 0)
        return;
    vp_next(p);
    if (p->tok.kind == VC_T_LBRACKET) {
        parse_options(p, f);
        if (p->panic)
            return;
    }
    int line = p->tok.loc.line;
    if (!vp_expect_semi(p))
        return;
    f->doc = vp_trailing_doc(p, f->doc, line);
    vc_vec_push(p->a, fields, f);
}

/* "{" { field } "}" */
void vp_parse_fields(parser *p, vc_vec *fields)
{
    if (!vp_expect(p, VC_T_LBRACE)) {
        vp_sync(p);
        return;
    }
    while (p->tok.kind != VC_T_RBRACE && p->tok.kind != VC_T_EOF) {
        parse_field(p, fields);
        if (p->panic)
            vp_sync(p);
    }
    vp_expect(p, VC_T_RBRACE);
}

static void parse_package(parser *p)
{
    vc_loc kw = p->tok.loc;
    vp_next(p);
    if (p->tok.kind != VC_T_IDENT && p->tok.kind != VC_T_DOTTED) {
        vp_expected(p, "a package name");
        return;
    }
    if (p->s->package != NULL) {
        vp_error_at(p, kw, "duplicate 'package' declaration");
        vc_diag(p->ctx, VC_NOTE, p->s->package_loc, "previous 'package' is here");
        return;
    }
    p->s->package = vp_tok_str(p, &p->tok);
    p->s->package_loc = p->tok.loc;
    vp_next(p);
    vp_expect_semi(p);
}

static void parse_enum(parser *p, const char *doc)
{
    vc_enum *e = vc_arena_alloc(p->a, sizeof(*e));
    if (e == NULL)
        return;
    e->doc = doc;
    vp_next(p);
    if (p->tok.kind != VC_T_IDENT) {
        vp_expected(p, "an enum name");
        return;
    }
    e->name = vp_tok_str(p, &p->tok);
    e->loc = p->tok.loc;
    vp_next(p);
    vc_vec_push(p->a, &p->s->enums, e);
    if (!vp_expect(p, VC_T_LBRACE))
        return;
    while (p->tok.kind != VC_T_RBRACE && p->tok.kind != VC_T_EOF) {
        vc_enum_value *v = vc_arena_alloc(p->a, sizeof(*v));
        if (v == NULL)
            return;
        v->doc = vp_leading_doc(p);
        if (p->tok.kind != VC_T_IDENT) {
            vp_expected(p, "an enum value name");
            vp_sync(p);
            continue;
        }
        v->name = vp_tok_str(p, &p->tok);
        v->loc = p->tok.loc;
        vp_next(p);
        if (!vp_expect(p, VC_T_EQ)) {
            vp_sync(p);
            continue;
        }
        if (p->tok.kind != VC_T_INT) {
            vp_expected(p, "an enum value number");
            vp_sync(p);
            continue;
        }
        v->number_loc = p->tok.loc;
        if (vp_parse_int(p, &p->tok, &v->number) != 0) {
            vp_sync(p);
            continue;
        }
        vp_next(p);
        int line = p->tok.loc.line;
        if (!vp_expect_semi(p)) {
            vp_sync(p);
            continue;
        }
        v->doc = vp_trailing_doc(p, v->doc, line);
        vc_vec_push(p->a, &e->values, v);
    }
    vp_expect(p, VC_T_RBRACE);
}

static void parse_message(parser *p, const char *doc)
{
    vc_message *m = vc_arena_alloc(p->a, sizeof(*m));
    if (m == NULL)
        return;
    m->doc = doc;
    vp_next(p);
    if (p->tok.kind != VC_T_IDENT) {
        vp_expected(p, "a message name");
        return;
    }
    m->name = vp_tok_str(p, &p->tok);
    m->loc = p->tok.loc;
    vp_next(p);
    vc_vec_push(p->a, &p->s->messages, m);
    vp_parse_fields(p, &m->fields);
}

int vc_parse(vc_ctx *ctx)
{
    parser p = {0};
    p.ctx = ctx;
    p.a = &ctx->arena;
    p.s = vc_arena_alloc(p.a, sizeof(*p.s));
    if (p.s == NULL)
        return -1;
    ctx->schema = p.s;
    vc_lex_init(&p.lx, ctx);
    vp_next(&p);
    while (p.tok.kind != VC_T_EOF && !ctx->stopped) {
        const char *doc = vp_leading_doc(&p);
        if (vp_is_word(&p, "package")) {
            parse_package(&p);
        } else if (vp_is_word(&p, "enum")) {
            parse_enum(&p, doc);
        } else if (vp_is_word(&p, "message")) {
            parse_message(&p, doc);
        } else if (vp_is_word(&p, "room")) {
            vp_parse_room(&p, doc);
        } else if (vp_is_word(&p, "syntax") || vp_is_word(&p, "import") || vp_is_word(&p, "option") ||
                   vp_is_word(&p, "service")) {
            vp_error_at(&p, p.tok.loc, "'%s' is not supported in a verani schema",
                     vp_tok_str(&p, &p.tok));
        } else {
            vp_expected(&p, "'package', 'enum', 'message' or 'room'");
            if (p.tok.kind == VC_T_RBRACE) {
                /* a stray '}': skip it alone */
                vp_next(&p);
                p.panic = 0;
            }
        }
        if (p.panic)
            sync_to(&p, 1);
    }
    return ctx->errors || p.a->failed ? -1 : 0;
}
