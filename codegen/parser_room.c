/* SPDX-License-Identifier: MIT */
/*
 * parser_room.c: a room and its items (schema/README.md, "Rooms"): path, meta, channels,
 * limits, events both ways, timers and the JSON wire, one function per rule, with the same
 * recovery as parser.c's (report once, skip to the statement's end, go on). A second `path`,
 * `limits` or `wire` in one room, and a limit key that does not exist, are reported here;
 * names and types are check.c's.
 */
#include <stdint.h>
#include <string.h>

#include "parser-int.h"

static int once(parser *p, int *has, vc_loc *prev, const char *what, const char *room)
{
    if (*has) {
        vp_error_at(p, p->tok.loc, "duplicate '%s' in room '%s'", what, room);
        vc_diag(p->ctx, VC_NOTE, *prev, "previous '%s' is here", what);
        return -1;
    }
    *has = 1;
    *prev = p->tok.loc;
    return 0;
}

static void parse_limits(parser *p, vc_room *r)
{
    vp_next(p);
    if (!vp_expect(p, VC_T_LBRACE))
        return;
    while (p->tok.kind != VC_T_RBRACE && p->tok.kind != VC_T_EOF) {
        int64_t *val;
        int *has;
        vc_loc *loc;
        if (vp_is_word(p, "max_frame")) {
            val = &r->max_frame, has = &r->has_max_frame, loc = &r->max_frame_loc;
        } else if (vp_is_word(p, "rate")) {
            val = &r->rate, has = &r->has_rate, loc = &r->rate_loc;
        } else if (vp_is_word(p, "burst")) {
            val = &r->burst, has = &r->has_burst, loc = &r->burst_loc;
        } else {
            if (p->tok.kind == VC_T_IDENT)
                vp_error_at(p, p->tok.loc, "unknown limit %s (expected max_frame, rate or burst)",
                         vp_describe(p, &p->tok));
            else
                vp_expected(p, "a limit name");
            vp_sync(p);
            continue;
        }
        const char *key = vp_tok_str(p, &p->tok);
        if (*has) {
            vp_error_at(p, p->tok.loc, "duplicate limit '%s'", key);
            vc_diag(p->ctx, VC_NOTE, *loc, "previous '%s' is here", key);
            vp_sync(p);
            continue;
        }
        vc_loc kloc = p->tok.loc;
        vp_next(p);
        if (!vp_expect(p, VC_T_EQ)) {
            vp_sync(p);
            continue;
        }
        if (p->tok.kind != VC_T_INT) {
            vp_expected(p, "an integer");
            vp_sync(p);
            continue;
        }
        if (vp_parse_int(p, &p->tok, val) != 0) {
            vp_sync(p);
            continue;
        }
        *has = 1;
        *loc = p->tok.loc;
        (void)kloc;
        vp_next(p);
        if (!vp_expect_semi(p))
            vp_sync(p);
    }
    vp_expect(p, VC_T_RBRACE);
    vp_accept(p, VC_T_SEMI);
}

/* A payload type in "(" [ type ] ")"; returns 0 on success. */
static int parse_payload(parser *p, const char **name, vc_loc *loc)
{
    if (!vp_accept(p, VC_T_LPAREN)) {
        vp_error_at(p, p->tok.loc, "expected '(' and the payload type, got %s: use () for an "
                 "event with no payload", vp_describe(p, &p->tok));
        return -1;
    }
    *name = NULL;
    *loc = p->tok.loc;
    if (vp_is_type_token(p)) {
        *name = vp_tok_str(p, &p->tok);
        *loc = p->tok.loc;
        vp_next(p);
    }
    return vp_expect(p, VC_T_RPAREN) ? 0 : -1;
}

static void parse_event(parser *p, vc_room *r, vc_dir dir, const char *doc)
{
    vc_event *e = vc_arena_alloc(p->a, sizeof(*e));
    if (e == NULL)
        return;
    e->dir = dir;
    e->doc = doc;
    vp_next(p);
    if (p->tok.kind != VC_T_IDENT && p->tok.kind != VC_T_DOTTED) {
        vp_expected(p, "an event name");
        return;
    }
    e->name = vp_tok_str(p, &p->tok);
    e->loc = p->tok.loc;
    vp_next(p);
    if (!vp_expect(p, VC_T_EQ))
        return;
    if (p->tok.kind != VC_T_INT) {
        vp_expected(p, "an event id");
        return;
    }
    e->id_loc = p->tok.loc;
    if (vp_parse_int(p, &p->tok, &e->id) != 0)
        return;
    vp_next(p);
    if (parse_payload(p, &e->in_name, &e->in_loc) != 0)
        return;
    if (vp_is_word(p, "returns")) {
        e->out_loc = p->tok.loc; /* moved to the type below; kept for `returns ()` */
        vc_loc kw = p->tok.loc;
        vp_next(p);
        if (parse_payload(p, &e->out_name, &e->out_loc) != 0)
            return;
        if (e->out_name == NULL) {
            vp_error_at(p, kw, "'returns' needs a message type");
            return;
        }
        if (dir == VC_DIR_EMIT) {
            vp_error_at(p, kw, "'returns' is only allowed on 'on' events");
            return;
        }
    }
    if (vp_is_word(p, "json")) {
        /* the event's name on the JSON wire; check.c checks its text and its room */
        vp_next(p);
        if (p->tok.kind != VC_T_STRING) {
            vp_expected(p, "the event's JSON name string");
            return;
        }
        e->json_name = vc_arena_strndup(p->a, p->tok.text + 1, p->tok.len - 2);
        e->json_loc = p->tok.loc;
        vp_next(p);
        if (vp_is_word(p, "returns")) {
            vp_error_at(p, p->tok.loc, "'returns' comes before the json alias");
            return;
        }
    }
    int line = p->tok.loc.line;
    if (!vp_expect_semi(p))
        return;
    e->doc = vp_trailing_doc(p, e->doc, line);
    vc_vec_push(p->a, &r->events, e);
}

/* `timer <name> every <ms>;` */
static void parse_timer(parser *p, vc_room *r, const char *doc)
{
    vc_timer *t = vc_arena_alloc(p->a, sizeof(*t));
    if (t == NULL)
        return;
    t->doc = doc;
    vp_next(p);
    if (p->tok.kind != VC_T_IDENT) {
        vp_expected(p, "a timer name");
        return;
    }
    t->name = vp_tok_str(p, &p->tok);
    t->loc = p->tok.loc;
    vp_next(p);
    if (!vp_is_word(p, "every")) {
        vp_expected(p, "'every' and the period in milliseconds");
        return;
    }
    vp_next(p);
    if (p->tok.kind != VC_T_INT) {
        vp_expected(p, "the period in milliseconds");
        return;
    }
    t->every_loc = p->tok.loc;
    if (vp_parse_int(p, &p->tok, &t->every_ms) != 0)
        return;
    vp_next(p);
    int line = p->tok.loc.line;
    if (!vp_expect_semi(p))
        return;
    t->doc = vp_trailing_doc(p, t->doc, line);
    vc_vec_push(p->a, &r->timers, t);
}

/* `wire binary;` | `wire json;` | `wire both "<path>";` (at the keyword, once per room) */
static void parse_wire(parser *p, vc_room *r)
{
    vp_next(p);
    if (vp_is_word(p, "binary")) {
        r->wire = VC_WIRE_BINARY;
    } else if (vp_is_word(p, "json")) {
        r->wire = VC_WIRE_JSON;
    } else if (vp_is_word(p, "both")) {
        r->wire = VC_WIRE_BOTH;
    } else {
        vp_expected(p, "'binary', 'json' or 'both'");
        return;
    }
    vp_next(p);
    if (r->wire != VC_WIRE_BOTH && p->tok.kind == VC_T_STRING) {
        vp_error_at(p, p->tok.loc, "only 'wire both' takes a path: 'wire %s' speaks on the room's "
                 "path", r->wire == VC_WIRE_JSON ? "json" : "binary");
        return;
    }
    if (r->wire == VC_WIRE_BOTH) {
        if (p->tok.kind != VC_T_STRING) {
            vp_expected(p, "the JSON path string");
            return;
        }
        r->json_path = vc_arena_strndup(p->a, p->tok.text + 1, p->tok.len - 2);
        r->json_path_loc = p->tok.loc;
        vp_next(p);
    }
    vp_expect_semi(p);
}

void vp_parse_room(parser *p, const char *doc)
{
    vc_room *r = vc_arena_alloc(p->a, sizeof(*r));
    vc_message *meta = vc_arena_alloc(p->a, sizeof(*meta));
    if (r == NULL || meta == NULL)
        return;
    r->doc = doc;
    vp_next(p);
    if (p->tok.kind != VC_T_IDENT) {
        vp_expected(p, "a room name");
        return;
    }
    r->name = vp_tok_str(p, &p->tok);
    r->loc = p->tok.loc;
    r->meta = meta;
    meta->name = vc_arena_printf(p->a, "%sMeta", r->name);
    meta->loc = r->loc;
    meta->meta_of = r;
    vp_next(p);
    vc_vec_push(p->a, &p->s->rooms, r);
    vc_vec_push(p->a, &p->s->messages, meta);
    if (!vp_expect(p, VC_T_LBRACE))
        return;
    while (p->tok.kind != VC_T_RBRACE && p->tok.kind != VC_T_EOF) {
        const char *idoc = vp_leading_doc(p);
        if (vp_is_word(p, "path")) {
            if (once(p, &(int){r->path != NULL}, &r->path_loc, "path", r->name) == 0) {
                vp_next(p);
                if (p->tok.kind != VC_T_STRING) {
                    vp_expected(p, "a path string");
                } else {
                    r->path = vc_arena_strndup(p->a, p->tok.text + 1, p->tok.len - 2);
                    r->path_loc = p->tok.loc;
                    vp_next(p);
                    vp_expect_semi(p);
                }
            }
        } else if (vp_is_word(p, "meta")) {
            if (once(p, &r->has_meta, &r->meta_loc, "meta", r->name) == 0) {
                meta->doc = idoc;
                meta->loc = p->tok.loc;
                vp_next(p);
                vp_parse_fields(p, &meta->fields);
                vp_accept(p, VC_T_SEMI);
            }
        } else if (vp_is_word(p, "channels")) {
            if (once(p, &r->has_channels, &r->channels_loc, "channels", r->name) == 0) {
                vp_next(p);
                do {
                    if (p->tok.kind != VC_T_STRING) {
                        vp_expected(p, "a channel name string");
                        break;
                    }
                    vc_loc *l = vc_arena_alloc(p->a, sizeof(*l));
                    if (l == NULL)
                        return;
                    *l = p->tok.loc;
                    vc_vec_push(p->a, &r->channels,
                                vc_arena_strndup(p->a, p->tok.text + 1, p->tok.len - 2));
                    vc_vec_push(p->a, &r->channel_locs, l);
                    vp_next(p);
                } while (vp_accept(p, VC_T_COMMA));
                if (!p->panic)
                    vp_expect_semi(p);
            }
        } else if (vp_is_word(p, "limits")) {
            if (once(p, &r->has_limits, &r->limits_loc, "limits", r->name) == 0)
                parse_limits(p, r);
        } else if (vp_is_word(p, "open_events")) {
            if (once(p, &r->open_events, &r->open_events_loc, "open_events", r->name) == 0) {
                vp_next(p);
                vp_expect_semi(p);
            }
        } else if (vp_is_word(p, "wire")) {
            if (once(p, &r->has_wire, &r->wire_loc, "wire", r->name) == 0)
                parse_wire(p, r);
        } else if (vp_is_word(p, "on") || vp_is_word(p, "emit")) {
            parse_event(p, r, vp_is_word(p, "on") ? VC_DIR_ON : VC_DIR_EMIT, idoc);
        } else if (vp_is_word(p, "timer")) {
            parse_timer(p, r, idoc);
        } else {
            vp_expected(p, "'path', 'meta', 'channels', 'limits', 'open_events', 'wire', 'on', "
                        "'emit' or 'timer'");
        }
        /* A comment after an item on its line is about that item (events and timers have
         * taken theirs as doc), never the doc of the next one. */
        if (!p->panic)
            (void)vp_trailing_doc(p, NULL, p->prev_line);
        if (p->panic)
            vp_sync(p);
    }
    vp_expect(p, VC_T_RBRACE);
}
