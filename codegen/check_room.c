/* SPDX-License-Identifier: MIT */
/*
 * check_room.c: the semantic checks of a room (called by check.c's vc_check once per room,
 * after types are resolved): its path and the JSON path of `wire both`, placeholders, paths
 * shared with another room, events (names, numbers, payload and reply types, each direction),
 * timers, limits and meta; then the JSON wire's own checks (check_json.c). Every error names
 * what is wrong where it is, and a note points at the other half of a duplicate.
 */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "check-int.h"

static int path_char_ok(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           strchr("-._~/", ch) != NULL;
}

/* A room's `path`, or the JSON path of its `wire both`: how many '{room}' placeholders it
 * has (0 or 1), or -1 after reporting what is wrong. */
static int check_path(checker *c, const char *p, vc_loc loc)
{
    if (p[0] != '/') {
        ERR(c, loc, "path \"%s\" must start with '/'", p);
        return -1;
    }
    if (!strcmp(p, "/health")) { /* every server answers GET /health there */
        ERR(c, loc, "path \"/health\" is the server's health check (GET /health): mount the "
            "room elsewhere");
        return -1;
    }
    int holders = 0;
    for (size_t i = 0; p[i]; i++) {
        if (p[i] == '{') {
            if (strncmp(p + i, "{room}", 6) != 0) {
                ERR(c, loc, "path \"%s\" has an unknown placeholder: only '{room}' is "
                    "allowed", p);
                return -1;
            }
            if (++holders > 1) {
                ERR(c, loc, "path \"%s\" has more than one '{room}' placeholder", p);
                return -1;
            }
            if (p[i - 1] != '/' || (p[i + 6] != '\0' && p[i + 6] != '/')) {
                ERR(c, loc, "'{room}' must be a whole segment of path \"%s\"", p);
                return -1;
            }
            i += 5;
        } else if (!path_char_ok(p[i])) {
            unsigned char ch = (unsigned char)p[i];
            if (ch > 0x20 && ch < 0x7f)
                ERR(c, loc, "character '%c' is not allowed in a path", ch);
            else
                ERR(c, loc, "character '\\x%02x' is not allowed in a path", ch);
            return -1;
        }
    }
    return holders;
}

/* The room's `timer` declarations: names, periods, and their handler-table members
 * (timer_<name>), which must not meet an `on` event's. Events are checked first. */
void vk_check_timers(checker *c, const vc_room *r)
{
    vc_strset names = {0}, members = {0};

    for (size_t j = 0; j < r->events.n; j++) {
        const vc_event *e = vc_room_event(r, j);
        if (e->dir == VC_DIR_ON && e->cname)
            (void)vc_strset_put(c->a, &members, e->cname, (void *)e, &c->oom);
    }
    for (size_t i = 0; i < r->timers.n; i++) {
        const vc_timer *t = r->timers.items[i];
        const char *member = vc_arena_printf(c->a, "timer_%s", t->name);
        const vc_timer *g;
        const vc_event *e;

        if (member == NULL)
            return;
        if (!vk_match_lower_words(t->name, strlen(t->name)))
            ERR(c, t->loc, "timer name '%s' must be lowercase words joined by '_' (like "
                "game_tick)", t->name);
        if (t->every_ms < 1 || t->every_ms > 86400000)
            ERR(c, t->every_loc, "a timer's period must be between 1 and 86400000 ms (a day), "
                "got %" PRId64, t->every_ms);
        if ((g = vc_strset_put(c->a, &names, t->name, (void *)t, &c->oom)) != NULL) {
            ERR(c, t->loc, "duplicate timer '%s' in room '%s'", t->name, r->name);
            NOTE(c, g->loc, "previous definition of '%s' is here", g->name);
        } else if ((e = vc_strset_get(&members, member)) != NULL) {
            ERR(c, t->loc, "timer '%s' and 'on' event '%s' would both be the handler member "
                "'%s'", t->name, e->name, member);
            NOTE(c, e->loc, "'%s' is here", e->name);
        }
    }
}

/* A path some room is mounted on: its `path` (or the default "/ws"), or the JSON path of
 * its `wire both`. Every one is unique in the schema. */
typedef struct path_use {
    const vc_room *room;
    vc_loc loc;
    int json;
} path_use;

static void use_path(checker *c, vc_strset *paths, const vc_room *r, const char *path,
                     vc_loc loc, int json)
{
    path_use *u = vc_arena_alloc(c->a, sizeof(*u));
    if (u == NULL) {
        c->oom = 1;
        return;
    }
    u->room = r;
    u->loc = loc;
    u->json = json;
    const path_use *other = vc_strset_put(c->a, paths, path, u, &c->oom);
    if (other == NULL)
        return;
    if (other->room == r) {
        ERR(c, loc, "the JSON path of room '%s' is also its path \"%s\": 'wire both' needs a "
            "path of its own for the JSON wire", r->name, path);
        NOTE(c, other->loc, "the room's path is here");
        return;
    }
    ERR(c, loc, "rooms '%s' and '%s' both use path \"%s\"%s", other->room->name, r->name,
        path, json ? " (as the JSON path of the second)" : "");
    if (other->json)
        NOTE(c, other->loc, "room '%s' has it as its JSON path here", other->room->name);
    else
        NOTE(c, other->loc, "room '%s' is here", other->room->name);
}

void vk_check_room(checker *c, vc_room *r, vc_strset *paths)
{
    if (!vk_match_upper_camel(r->name))
        ERR(c, r->loc, "room name '%s' must be UpperCamelCase (letters and digits, starting "
            "with a capital)", r->name);
    r->snake = vc_lower(c->a, r->name);
    int holders = r->path ? check_path(c, r->path, r->path_loc) : 0;
    use_path(c, paths, r, r->path ? r->path : "/ws", r->path ? r->path_loc : r->loc, 0);
    if (r->json_path != NULL) {
        /* `wire both`: the JSON path follows the rules of `path` and names the instance the
         * same way, so one instance has both wires */
        int json_holders = check_path(c, r->json_path, r->json_path_loc);
        if (holders > 0 && json_holders == 0)
            ERR(c, r->json_path_loc, "JSON path \"%s\" needs a '{room}' placeholder like the "
                "room's path \"%s\"", r->json_path, r->path);
        else if (holders == 0 && json_holders > 0)
            ERR(c, r->json_path_loc, "JSON path \"%s\" cannot have a '{room}' placeholder: the "
                "room's path \"%s\" has none", r->json_path, r->path ? r->path : "/ws");
        use_path(c, paths, r, r->json_path, r->json_path_loc, 1);
    }
    vc_strset chans = {0}, ids = {0}, names = {0};
    for (size_t i = 0; i < r->channels.n; i++) {
        const char *ch = r->channels.items[i];
        const vc_loc *loc = r->channel_locs.items[i];
        size_t n = strlen(ch);
        int ok = n > 0 && n <= 64;
        for (size_t k = 0; ok && k < n; k++) {
            unsigned char x = (unsigned char)ch[k];
            ok = x > 0x20 && x < 0x7f && x != '\\';
        }
        if (!ok)
            ERR(c, *loc, "channel name \"%s\" must be 1 to 64 printable ASCII characters with no "
                "space or '\\'", ch);
        const vc_loc *prev = vc_strset_put(c->a, &chans, ch, loc, &c->oom);
        if (prev != NULL) {
            ERR(c, *loc, "duplicate channel \"%s\" in room '%s'", ch, r->name);
            NOTE(c, *prev, "previous \"%s\" is here", ch);
        }
    }
    if (r->has_max_frame && (r->max_frame < 1 || r->max_frame > 16777216))
        ERR(c, r->max_frame_loc, "max_frame must be between 1 and 16777216 (16 MiB), got %" PRId64,
            r->max_frame);
    if (r->has_rate && (r->rate < 1 || r->rate > (int64_t)UINT32_MAX))
        ERR(c, r->rate_loc, "rate must be between 1 and 4294967295 frames per second, got %"
            PRId64, r->rate);
    if (r->has_burst && (r->burst < 1 || r->burst > (int64_t)UINT32_MAX))
        ERR(c, r->burst_loc, "burst must be between 1 and 4294967295 frames, got %" PRId64,
            r->burst);
    else if (r->has_burst && !r->has_rate)
        ERR(c, r->burst_loc, "'burst' needs a 'rate' in the same limits block");

    for (size_t i = 0; i < r->events.n; i++) {
        vc_event *e = vc_room_event(r, i);
        const char *dir = e->dir == VC_DIR_ON ? "on" : "emit";
        int ok = 1;
        for (const char *s = e->name; ok;) {
            const char *dot = strchr(s, '.');
            size_t n = dot ? (size_t)(dot - s) : strlen(s);
            ok = vk_match_lower_words(s, n);
            if (dot == NULL)
                break;
            s = dot + 1;
        }
        char *cn = vc_arena_strndup(c->a, e->name, strlen(e->name));
        if (cn == NULL)
            return;
        for (char *q = cn; *q; q++) {
            if (*q == '.')
                *q = '_';
        }
        e->cname = cn;
        if (!ok) {
            ERR(c, e->loc, "event name '%s' must be lowercase words joined by '.' or '_' "
                "(like chat.message)", e->name);
        } else if (vc_is_c_keyword(cn)) {
            /* an `on` event names a handler; either names a field of <Room>On/<Room>Emit */
            ERR(c, e->loc, "event name '%s' is a C keyword", e->name);
        } else if (strcmp(cn, "base") == 0) {
            ERR(c, e->loc, "event name 'base' is reserved (protobuf-c uses it in every message)");
        } else if (e->dir == VC_DIR_ON &&
                   (strcmp(cn, "hooks") == 0 || strcmp(cn, "extract_meta") == 0)) {
            ERR(c, e->loc, "event name '%s' is reserved in the handler table", e->name);
        }
        /* the rules of protobuf field numbers: <pkg>.proto numbers a payload field by it */
        if (e->id < 1 || e->id > 536870911)
            ERR(c, e->id_loc, "event id %" PRId64 " is out of range (1 to 536870911)", e->id);
        else if (e->id >= 19000 && e->id <= 19999)
            ERR(c, e->id_loc, "event id %" PRId64 " is reserved by protobuf (19000 to 19999)",
                e->id);
        const vc_event *g = vc_strset_put(c->a, &ids, vk_num_key(c, dir, e->id), e, &c->oom);
        if (g != NULL) {
            ERR(c, e->id_loc, "duplicate id %" PRId64 " for '%s' events in room '%s'", e->id,
                dir, r->name);
            NOTE(c, g->id_loc, "'%s' has it", g->name);
        }
        g = vc_strset_put(c->a, &names, vc_arena_printf(c->a, "%s %s", dir, e->name), e, &c->oom);
        if (g != NULL) {
            ERR(c, e->loc, "duplicate '%s' event '%s' in room '%s'", dir, e->name, r->name);
            NOTE(c, g->loc, "previous definition of '%s' is here", g->name);
        } else if ((g = vc_strset_put(c->a, &names, vc_arena_printf(c->a, "%s:%s", dir, e->cname),
                                      e, &c->oom)) != NULL) {
            ERR(c, e->loc, "events '%s' and '%s' collide in C (both become '%s')", g->name,
                e->name, e->cname);
            NOTE(c, g->loc, "'%s' is here", g->name);
        }
        const char *types[2] = {e->in_name, e->out_name};
        const vc_loc *locs[2] = {&e->in_loc, &e->out_loc};
        vc_message **dst[2] = {&e->in, &e->out};
        for (int k = 0; k < 2; k++) {
            if (types[k] == NULL)
                continue;
            const vc_sym *sym = vc_strset_get(&c->types, types[k]);
            if (sym != NULL && sym->kind == 3)
                sym = NULL;
            if (vk_scalar_type(types[k]) != VC_TY_UNRESOLVED || (sym != NULL && sym->kind != 1))
                ERR(c, *locs[k], "an event payload must be a message type, '%s' is not",
                    types[k]);
            else if (sym == NULL)
                ERR(c, *locs[k], "unknown type '%s'", types[k]);
            else
                *dst[k] = sym->ptr;
        }
    }
}

/* --- collisions in C ----------------------------------------------------- */
