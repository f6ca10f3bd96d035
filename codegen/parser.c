/* SPDX-License-Identifier: MIT */
/*
 * parser.c: recursive descent from tokens to the AST in veranic.h, one
 * function per grammar rule of schema/README.md. It checks syntax only, plus
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

#include "veranic.h"

typedef struct parser {
    vc_ctx *ctx;
    vc_arena *a;
    vc_lexer lx;
    vc_token tok;
    int panic; /* an error was reported in this statement: stay quiet until sync() */
    int prev_line; /* the line the previous token ended on */
    int depth;
    vc_schema *s;
} parser;

static void next(parser *p)
{
    p->prev_line = p->lx.line;
    vc_lex_next(&p->lx, &p->tok);
    while (p->tok.kind == VC_T_ERROR && !p->ctx->stopped) {
        p->panic = 1;
        vc_lex_next(&p->lx, &p->tok);
    }
}

/* The token as a person reads it in a message: 'foo', or ';', or end of file. */
static const char *describe(parser *p, const vc_token *t)
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
static void error_at(parser *p, vc_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void error_at(parser *p, vc_loc loc, const char *fmt, ...)
{
    va_list ap;

    if (p->panic)
        return;
    p->panic = 1;
    va_start(ap, fmt);
    vc_vdiag(p->ctx, VC_ERROR, loc, fmt, ap);
    va_end(ap);
}

static void expected(parser *p, const char *what)
{
    error_at(p, p->tok.loc, "expected %s, got %s", what, describe(p, &p->tok));
}

static int is_word(const parser *p, const char *w)
{
    return p->tok.kind == VC_T_IDENT && p->tok.len == strlen(w) &&
           memcmp(p->tok.text, w, p->tok.len) == 0;
}

static int accept(parser *p, vc_tok_kind k)
{
    if (p->tok.kind != k)
        return 0;
    next(p);
    return 1;
}

static int expect(parser *p, vc_tok_kind k)
{
    if (accept(p, k))
        return 1;
    expected(p, vc_token_name(k));
    return 0;
}

/* A statement's `;`. When it is missing at the end of a line, say so and go
 * on as if it were there: the next line is most likely a good statement. */
static int expect_semi(parser *p)
{
    if (accept(p, VC_T_SEMI))
        return 1;
    expected(p, vc_token_name(VC_T_SEMI));
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
            (is_word(p, "package") || is_word(p, "enum") || is_word(p, "message") ||
             is_word(p, "room")))
            break;
        first = 0;
        if (p->tok.kind == VC_T_LBRACE) {
            depth++;
        } else if (p->tok.kind == VC_T_RBRACE) {
            if (depth == 0)
                break;
            depth--;
            if (depth == 0) {
                next(p);
                break;
            }
        } else if (p->tok.kind == VC_T_SEMI && depth == 0) {
            next(p);
            break;
        }
        next(p);
    }
    p->panic = 0;
}

static void sync(parser *p)
{
    sync_to(p, 0);
}

static const char *tok_str(parser *p, const vc_token *t)
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
static const char *leading_doc(parser *p)
{
    return join_comments(p, p->tok.comments, 0, p->tok.loc.line);
}

/* After a declaration that ended on `line`: add the comments on that line
 * that precede the current token (trailing comments) to `doc`. */
static const char *trailing_doc(parser *p, const char *doc, int line)
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

static int parse_int(parser *p, const vc_token *t, int64_t *out)
{
    char buf[64];
    if (t->len >= sizeof(buf)) {
        error_at(p, t->loc, "integer %s is too large", describe(p, t));
        return -1;
    }
    memcpy(buf, t->text, t->len);
    buf[t->len] = '\0';
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 0);
    if (errno == ERANGE || *end != '\0') {
        error_at(p, t->loc, "integer %s is too large", describe(p, t));
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
    o->text = tok_str(p, t);
    if (t->kind == VC_T_INT) {
        if (parse_int(p, t, &o->ival) != 0)
            return -1;
        o->fval = (double)o->ival;
    } else if (t->kind == VC_T_FLOAT) {
        o->is_float = 1;
        o->fval = strtod(o->text, NULL);
        if (o->fval > 1e300 || o->fval < -1e300) {
            error_at(p, t->loc, "number %s is out of range", describe(p, t));
            return -1;
        }
    } else {
        expected(p, "a number");
        return -1;
    }
    o->has_value = 1;
    next(p);
    return 0;
}

static void parse_options(parser *p, vc_field *f)
{
    /* at '[' */
    next(p);
    do {
        if (p->tok.kind != VC_T_IDENT) {
            expected(p, "an option name");
            return;
        }
        vc_option *o = vc_arena_alloc(p->a, sizeof(*o));
        if (o == NULL)
            return;
        o->name = tok_str(p, &p->tok);
        o->loc = p->tok.loc;
        next(p);
        if (accept(p, VC_T_EQ) && parse_number(p, o) != 0)
            return;
        vc_vec_push(p->a, &f->options, o);
    } while (accept(p, VC_T_COMMA));
    expect(p, VC_T_RBRACKET);
}

static int is_type_token(const parser *p)
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
    f->doc = leading_doc(p);
    f->label_loc = p->tok.loc;
    if (is_word(p, "message") || is_word(p, "enum")) {
        error_at(p, p->tok.loc, "nested %s declarations are not supported: declare them at top "
                 "level", tok_str(p, &p->tok));
        return;
    }
    if (is_word(p, "oneof") || is_word(p, "reserved") || is_word(p, "extensions") ||
        is_word(p, "extend") || is_word(p, "group") || is_word(p, "option")) {
        error_at(p, p->tok.loc, "'%s' is not supported in a verani schema", tok_str(p, &p->tok));
        return;
    }
    if (is_word(p, "required")) {
        error_at(p, p->tok.loc, "'required' is a validation option here: write the field plain "
                 "and add [required]");
        return;
    }
    if (is_word(p, "optional") || is_word(p, "repeated")) {
        f->label = is_word(p, "optional") ? VC_LABEL_OPTIONAL : VC_LABEL_REPEATED;
        next(p);
    } else if (is_word(p, "map")) {
        next(p);
        if (p->tok.kind == VC_T_LT) {
            f->label = VC_LABEL_MAP;
            next(p);
            if (!is_type_token(p)) {
                expected(p, "a map key type");
                return;
            }
            f->key_type = tok_str(p, &p->tok);
            f->key_loc = p->tok.loc;
            next(p);
            if (!expect(p, VC_T_COMMA))
                return;
        } else {
            /* a message called `map` used as a type */
            f->type_name = "map";
            f->type_loc = f->label_loc;
        }
    }
    if (f->type_name == NULL) {
        if (!is_type_token(p)) {
            expected(p, "a field type");
            return;
        }
        f->type_name = tok_str(p, &p->tok);
        f->type_loc = p->tok.loc;
        next(p);
        if (f->label == VC_LABEL_MAP && !expect(p, VC_T_GT))
            return;
    }
    if (p->tok.kind != VC_T_IDENT) {
        expected(p, "a field name");
        return;
    }
    f->name = tok_str(p, &p->tok);
    f->loc = p->tok.loc;
    next(p);
    if (!expect(p, VC_T_EQ))
        return;
    if (p->tok.kind != VC_T_INT) {
        expected(p, "a field number");
        return;
    }
    f->number_loc = p->tok.loc;
    if (parse_int(p, &p->tok, &f->number) != 0)
        return;
    next(p);
    if (p->tok.kind == VC_T_LBRACKET) {
        parse_options(p, f);
        if (p->panic)
            return;
    }
    int line = p->tok.loc.line;
    if (!expect_semi(p))
        return;
    f->doc = trailing_doc(p, f->doc, line);
    vc_vec_push(p->a, fields, f);
}

/* "{" { field } "}" */
static void parse_fields(parser *p, vc_vec *fields)
{
    if (!expect(p, VC_T_LBRACE)) {
        sync(p);
        return;
    }
    while (p->tok.kind != VC_T_RBRACE && p->tok.kind != VC_T_EOF) {
        parse_field(p, fields);
        if (p->panic)
            sync(p);
    }
    expect(p, VC_T_RBRACE);
}

static void parse_package(parser *p)
{
    vc_loc kw = p->tok.loc;
    next(p);
    if (p->tok.kind != VC_T_IDENT && p->tok.kind != VC_T_DOTTED) {
        expected(p, "a package name");
        return;
    }
    if (p->s->package != NULL) {
        error_at(p, kw, "duplicate 'package' declaration");
        vc_diag(p->ctx, VC_NOTE, p->s->package_loc, "previous 'package' is here");
        return;
    }
    p->s->package = tok_str(p, &p->tok);
    p->s->package_loc = p->tok.loc;
    next(p);
    expect_semi(p);
}

static void parse_enum(parser *p, const char *doc)
{
    vc_enum *e = vc_arena_alloc(p->a, sizeof(*e));
    if (e == NULL)
        return;
    e->doc = doc;
    next(p);
    if (p->tok.kind != VC_T_IDENT) {
        expected(p, "an enum name");
        return;
    }
    e->name = tok_str(p, &p->tok);
    e->loc = p->tok.loc;
    next(p);
    vc_vec_push(p->a, &p->s->enums, e);
    if (!expect(p, VC_T_LBRACE))
        return;
    while (p->tok.kind != VC_T_RBRACE && p->tok.kind != VC_T_EOF) {
        vc_enum_value *v = vc_arena_alloc(p->a, sizeof(*v));
        if (v == NULL)
            return;
        v->doc = leading_doc(p);
        if (p->tok.kind != VC_T_IDENT) {
            expected(p, "an enum value name");
            sync(p);
            continue;
        }
        v->name = tok_str(p, &p->tok);
        v->loc = p->tok.loc;
        next(p);
        if (!expect(p, VC_T_EQ)) {
            sync(p);
            continue;
        }
        if (p->tok.kind != VC_T_INT) {
            expected(p, "an enum value number");
            sync(p);
            continue;
        }
        v->number_loc = p->tok.loc;
        if (parse_int(p, &p->tok, &v->number) != 0) {
            sync(p);
            continue;
        }
        next(p);
        int line = p->tok.loc.line;
        if (!expect_semi(p)) {
            sync(p);
            continue;
        }
        v->doc = trailing_doc(p, v->doc, line);
        vc_vec_push(p->a, &e->values, v);
    }
    expect(p, VC_T_RBRACE);
}

static void parse_message(parser *p, const char *doc)
{
    vc_message *m = vc_arena_alloc(p->a, sizeof(*m));
    if (m == NULL)
        return;
    m->doc = doc;
    next(p);
    if (p->tok.kind != VC_T_IDENT) {
        expected(p, "a message name");
        return;
    }
    m->name = tok_str(p, &p->tok);
    m->loc = p->tok.loc;
    next(p);
    vc_vec_push(p->a, &p->s->messages, m);
    parse_fields(p, &m->fields);
}

static int once(parser *p, int *has, vc_loc *prev, const char *what, const char *room)
{
    if (*has) {
        error_at(p, p->tok.loc, "duplicate '%s' in room '%s'", what, room);
        vc_diag(p->ctx, VC_NOTE, *prev, "previous '%s' is here", what);
        return -1;
    }
    *has = 1;
    *prev = p->tok.loc;
    return 0;
}

static void parse_limits(parser *p, vc_room *r)
{
    next(p);
    if (!expect(p, VC_T_LBRACE))
        return;
    while (p->tok.kind != VC_T_RBRACE && p->tok.kind != VC_T_EOF) {
        int64_t *val;
        int *has;
        vc_loc *loc;
        if (is_word(p, "max_frame")) {
            val = &r->max_frame, has = &r->has_max_frame, loc = &r->max_frame_loc;
        } else if (is_word(p, "rate")) {
            val = &r->rate, has = &r->has_rate, loc = &r->rate_loc;
        } else if (is_word(p, "burst")) {
            val = &r->burst, has = &r->has_burst, loc = &r->burst_loc;
        } else {
            if (p->tok.kind == VC_T_IDENT)
                error_at(p, p->tok.loc, "unknown limit %s (expected max_frame, rate or burst)",
                         describe(p, &p->tok));
            else
                expected(p, "a limit name");
            sync(p);
            continue;
        }
        const char *key = tok_str(p, &p->tok);
        if (*has) {
            error_at(p, p->tok.loc, "duplicate limit '%s'", key);
            vc_diag(p->ctx, VC_NOTE, *loc, "previous '%s' is here", key);
            sync(p);
            continue;
        }
        vc_loc kloc = p->tok.loc;
        next(p);
        if (!expect(p, VC_T_EQ)) {
            sync(p);
            continue;
        }
        if (p->tok.kind != VC_T_INT) {
            expected(p, "an integer");
            sync(p);
            continue;
        }
        if (parse_int(p, &p->tok, val) != 0) {
            sync(p);
            continue;
        }
        *has = 1;
        *loc = p->tok.loc;
        (void)kloc;
        next(p);
        if (!expect_semi(p))
            sync(p);
    }
    expect(p, VC_T_RBRACE);
    accept(p, VC_T_SEMI);
}

/* A payload type in "(" [ type ] ")"; returns 0 on success. */
static int parse_payload(parser *p, const char **name, vc_loc *loc)
{
    if (!accept(p, VC_T_LPAREN)) {
        error_at(p, p->tok.loc, "expected '(' and the payload type, got %s: use () for an "
                 "event with no payload", describe(p, &p->tok));
        return -1;
    }
    *name = NULL;
    *loc = p->tok.loc;
    if (is_type_token(p)) {
        *name = tok_str(p, &p->tok);
        *loc = p->tok.loc;
        next(p);
    }
    return expect(p, VC_T_RPAREN) ? 0 : -1;
}

static void parse_event(parser *p, vc_room *r, vc_dir dir, const char *doc)
{
    vc_event *e = vc_arena_alloc(p->a, sizeof(*e));
    if (e == NULL)
        return;
    e->dir = dir;
    e->doc = doc;
    next(p);
    if (p->tok.kind != VC_T_IDENT && p->tok.kind != VC_T_DOTTED) {
        expected(p, "an event name");
        return;
    }
    e->name = tok_str(p, &p->tok);
    e->loc = p->tok.loc;
    next(p);
    if (!expect(p, VC_T_EQ))
        return;
    if (p->tok.kind != VC_T_INT) {
        expected(p, "an event id");
        return;
    }
    e->id_loc = p->tok.loc;
    if (parse_int(p, &p->tok, &e->id) != 0)
        return;
    next(p);
    if (parse_payload(p, &e->in_name, &e->in_loc) != 0)
        return;
    if (is_word(p, "returns")) {
        e->out_loc = p->tok.loc; /* moved to the type below; kept for `returns ()` */
        vc_loc kw = p->tok.loc;
        next(p);
        if (parse_payload(p, &e->out_name, &e->out_loc) != 0)
            return;
        if (e->out_name == NULL) {
            error_at(p, kw, "'returns' needs a message type");
            return;
        }
        if (dir == VC_DIR_EMIT) {
            error_at(p, kw, "'returns' is only allowed on 'on' events");
            return;
        }
    }
    if (is_word(p, "json")) {
        /* the event's name on the JSON wire; check.c checks its text and its room */
        next(p);
        if (p->tok.kind != VC_T_STRING) {
            expected(p, "the event's JSON name string");
            return;
        }
        e->json_name = vc_arena_strndup(p->a, p->tok.text + 1, p->tok.len - 2);
        e->json_loc = p->tok.loc;
        next(p);
        if (is_word(p, "returns")) {
            error_at(p, p->tok.loc, "'returns' comes before the json alias");
            return;
        }
    }
    int line = p->tok.loc.line;
    if (!expect_semi(p))
        return;
    e->doc = trailing_doc(p, e->doc, line);
    vc_vec_push(p->a, &r->events, e);
}

/* `timer <name> every <ms>;` */
static void parse_timer(parser *p, vc_room *r, const char *doc)
{
    vc_timer *t = vc_arena_alloc(p->a, sizeof(*t));
    if (t == NULL)
        return;
    t->doc = doc;
    next(p);
    if (p->tok.kind != VC_T_IDENT) {
        expected(p, "a timer name");
        return;
    }
    t->name = tok_str(p, &p->tok);
    t->loc = p->tok.loc;
    next(p);
    if (!is_word(p, "every")) {
        expected(p, "'every' and the period in milliseconds");
        return;
    }
    next(p);
    if (p->tok.kind != VC_T_INT) {
        expected(p, "the period in milliseconds");
        return;
    }
    t->every_loc = p->tok.loc;
    if (parse_int(p, &p->tok, &t->every_ms) != 0)
        return;
    next(p);
    int line = p->tok.loc.line;
    if (!expect_semi(p))
        return;
    t->doc = trailing_doc(p, t->doc, line);
    vc_vec_push(p->a, &r->timers, t);
}

/* `wire binary;` | `wire json;` | `wire both "<path>";` (at the keyword, once per room) */
static void parse_wire(parser *p, vc_room *r)
{
    next(p);
    if (is_word(p, "binary")) {
        r->wire = VC_WIRE_BINARY;
    } else if (is_word(p, "json")) {
        r->wire = VC_WIRE_JSON;
    } else if (is_word(p, "both")) {
        r->wire = VC_WIRE_BOTH;
    } else {
        expected(p, "'binary', 'json' or 'both'");
        return;
    }
    next(p);
    if (r->wire != VC_WIRE_BOTH && p->tok.kind == VC_T_STRING) {
        error_at(p, p->tok.loc, "only 'wire both' takes a path: 'wire %s' speaks on the room's "
                 "path", r->wire == VC_WIRE_JSON ? "json" : "binary");
        return;
    }
    if (r->wire == VC_WIRE_BOTH) {
        if (p->tok.kind != VC_T_STRING) {
            expected(p, "the JSON path string");
            return;
        }
        r->json_path = vc_arena_strndup(p->a, p->tok.text + 1, p->tok.len - 2);
        r->json_path_loc = p->tok.loc;
        next(p);
    }
    expect_semi(p);
}

static void parse_room(parser *p, const char *doc)
{
    vc_room *r = vc_arena_alloc(p->a, sizeof(*r));
    vc_message *meta = vc_arena_alloc(p->a, sizeof(*meta));
    if (r == NULL || meta == NULL)
        return;
    r->doc = doc;
    next(p);
    if (p->tok.kind != VC_T_IDENT) {
        expected(p, "a room name");
        return;
    }
    r->name = tok_str(p, &p->tok);
    r->loc = p->tok.loc;
    r->meta = meta;
    meta->name = vc_arena_printf(p->a, "%sMeta", r->name);
    meta->loc = r->loc;
    meta->meta_of = r;
    next(p);
    vc_vec_push(p->a, &p->s->rooms, r);
    vc_vec_push(p->a, &p->s->messages, meta);
    if (!expect(p, VC_T_LBRACE))
        return;
    while (p->tok.kind != VC_T_RBRACE && p->tok.kind != VC_T_EOF) {
        const char *idoc = leading_doc(p);
        if (is_word(p, "path")) {
            if (once(p, &(int){r->path != NULL}, &r->path_loc, "path", r->name) == 0) {
                next(p);
                if (p->tok.kind != VC_T_STRING) {
                    expected(p, "a path string");
                } else {
                    r->path = vc_arena_strndup(p->a, p->tok.text + 1, p->tok.len - 2);
                    r->path_loc = p->tok.loc;
                    next(p);
                    expect_semi(p);
                }
            }
        } else if (is_word(p, "meta")) {
            if (once(p, &r->has_meta, &r->meta_loc, "meta", r->name) == 0) {
                meta->doc = idoc;
                meta->loc = p->tok.loc;
                next(p);
                parse_fields(p, &meta->fields);
                accept(p, VC_T_SEMI);
            }
        } else if (is_word(p, "channels")) {
            if (once(p, &r->has_channels, &r->channels_loc, "channels", r->name) == 0) {
                next(p);
                do {
                    if (p->tok.kind != VC_T_STRING) {
                        expected(p, "a channel name string");
                        break;
                    }
                    vc_loc *l = vc_arena_alloc(p->a, sizeof(*l));
                    if (l == NULL)
                        return;
                    *l = p->tok.loc;
                    vc_vec_push(p->a, &r->channels,
                                vc_arena_strndup(p->a, p->tok.text + 1, p->tok.len - 2));
                    vc_vec_push(p->a, &r->channel_locs, l);
                    next(p);
                } while (accept(p, VC_T_COMMA));
                if (!p->panic)
                    expect_semi(p);
            }
        } else if (is_word(p, "limits")) {
            if (once(p, &r->has_limits, &r->limits_loc, "limits", r->name) == 0)
                parse_limits(p, r);
        } else if (is_word(p, "open_events")) {
            if (once(p, &r->open_events, &r->open_events_loc, "open_events", r->name) == 0) {
                next(p);
                expect_semi(p);
            }
        } else if (is_word(p, "wire")) {
            if (once(p, &r->has_wire, &r->wire_loc, "wire", r->name) == 0)
                parse_wire(p, r);
        } else if (is_word(p, "on") || is_word(p, "emit")) {
            parse_event(p, r, is_word(p, "on") ? VC_DIR_ON : VC_DIR_EMIT, idoc);
        } else if (is_word(p, "timer")) {
            parse_timer(p, r, idoc);
        } else {
            expected(p, "'path', 'meta', 'channels', 'limits', 'open_events', 'wire', 'on', "
                        "'emit' or 'timer'");
        }
        /* A comment after an item on its line is about that item (events and timers have
         * taken theirs as doc), never the doc of the next one. */
        if (!p->panic)
            (void)trailing_doc(p, NULL, p->prev_line);
        if (p->panic)
            sync(p);
    }
    expect(p, VC_T_RBRACE);
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
    next(&p);
    while (p.tok.kind != VC_T_EOF && !ctx->stopped) {
        const char *doc = leading_doc(&p);
        if (is_word(&p, "package")) {
            parse_package(&p);
        } else if (is_word(&p, "enum")) {
            parse_enum(&p, doc);
        } else if (is_word(&p, "message")) {
            parse_message(&p, doc);
        } else if (is_word(&p, "room")) {
            parse_room(&p, doc);
        } else if (is_word(&p, "syntax") || is_word(&p, "import") || is_word(&p, "option") ||
                   is_word(&p, "service")) {
            error_at(&p, p.tok.loc, "'%s' is not supported in a verani schema",
                     tok_str(&p, &p.tok));
        } else {
            expected(&p, "'package', 'enum', 'message' or 'room'");
            if (p.tok.kind == VC_T_RBRACE) {
                /* a stray '}': skip it alone */
                next(&p);
                p.panic = 0;
            }
        }
        if (p.panic)
            sync_to(&p, 1);
    }
    return ctx->errors || p.a->failed ? -1 : 0;
}
