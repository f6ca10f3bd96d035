/* SPDX-License-Identifier: MIT */
/*
 * check_json.c: the semantic checks of rooms that speak Verani's JSON wire
 * (`wire json;`, `wire both "...";`) and of `json "..."` aliases: JSON names
 * that are malformed, reserved or repeated, payload and reply fields that
 * would clobber `data.type`, fields sharing a JSON name, replies named like
 * server events. Called by check.c once per room, after types are resolved.
 * Nothing here touches the fingerprint.
 */
#include <string.h>

#include "veranic.h"

/* What these checks need of check.c's checker. */
typedef struct checker {
    vc_ctx *ctx;
    vc_arena *a;
    int oom;
} checker;

#define ERR(c, loc, ...) vc_diag((c)->ctx, VC_ERROR, loc, __VA_ARGS__)
#define NOTE(c, loc, ...) vc_diag((c)->ctx, VC_NOTE, loc, __VA_ARGS__)

/* --- the JSON wire ------------------------------------------------------- */

/* A JSON name (`json "..."`): 1 to 64 bytes of valid UTF-8 (RFC 3629) with no space, no
 * control character (C0, DEL, C1), no '"' and no '\'. */
static int json_name_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);

    if (n < 1 || n > 64)
        return 0;
    for (size_t i = 0; i < n;) {
        unsigned char b = p[i];
        uint32_t cp;
        size_t len;

        if (b < 0x80) {
            if (b <= 0x20 || b == 0x7f || b == '"' || b == '\\')
                return 0;
            i++;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf)
            len = 2, cp = b & 0x1f;
        else if (b >= 0xe0 && b <= 0xef)
            len = 3, cp = b & 0x0f;
        else if (b >= 0xf0 && b <= 0xf4)
            len = 4, cp = b & 0x07;
        else
            return 0;
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return 0;
        i += len;
    }
    return 1;
}

/* `s` for a message: control bytes as '?' (the source line shows the rest). */
static const char *shown(checker *c, const char *s)
{
    char *t = vc_arena_strndup(c->a, s, strlen(s));
    if (t == NULL)
        return s;
    for (char *q = t; *q; q++) {
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            *q = '?';
    }
    return t;
}

/* Names an event cannot have on the JSON wire, and why (a room of `wire json` or `both`). */
static const struct {
    vc_dir dir;
    const char *name;
    const char *why;
} json_reserved[] = {
    {VC_DIR_ON, "ping", "Verani's keepalive, answered by the runtime"},
    {VC_DIR_ON, "invalid", "Verani's marker of a frame it could not read"},
    {VC_DIR_ON, "channel.join", "the runtime joins the channel, authorised by on_join"},
    {VC_DIR_ON, "channel.leave", "the runtime leaves the channel"},
    {VC_DIR_EMIT, "pong", "a top-level type of Verani's server frames"},
    {VC_DIR_EMIT, "event", "a top-level type of Verani's server frames"},
    {VC_DIR_EMIT, "connecting", "a lifecycle event of Verani's client"},
    {VC_DIR_EMIT, "open", "a lifecycle event of Verani's client"},
    {VC_DIR_EMIT, "connected", "a lifecycle event of Verani's client"},
    {VC_DIR_EMIT, "close", "a lifecycle event of Verani's client"},
    {VC_DIR_EMIT, "disconnected", "a lifecycle event of Verani's client"},
    {VC_DIR_EMIT, "reconnecting", "a lifecycle event of Verani's client"},
};

/* A top-level field of `m` whose JSON name is `type`, in a message the server sends to Verani's
 * client in {"type":"event","data":{"type":"<event>", ...}} (an `emit` payload, or a `returns`
 * reply, which the JSON wire sends as an event): it would overwrite the name the client
 * dispatches on. Reported once per message and room (`sent`). */
static void check_type_field(checker *c, const vc_room *r, const vc_event *e,
                             const vc_message *m, vc_loc m_loc, vc_strset *sent)
{
    const char *role = e->dir == VC_DIR_EMIT ? "the payload" : "the reply";

    if (m == NULL || vc_strset_put(c->a, sent, m->name, e, &c->oom) != NULL)
        return;
    for (size_t k = 0; k < m->fields.n; k++) {
        const vc_field *f = m->fields.items[k];
        const char *camel = vc_lower_camel(c->a, f->name);
        if (strcmp(f->name, "type") != 0 && (camel == NULL || strcmp(camel, "type") != 0))
            continue;
        ERR(c, f->loc, "field '%s' of message '%s' has the JSON name 'type': as %s of '%s' "
            "event '%s' in room '%s' it would overwrite the event's name in data.type, which "
            "Verani's client dispatches on", f->name, m->name, role,
            e->dir == VC_DIR_EMIT ? "emit" : "on", e->name, r->name);
        NOTE(c, m_loc, "'%s' sends it here", e->name);
    }
}

/* Two fields of message `m` with one JSON name (`user_id` and `userId` are both `userId`):
 * on the JSON wire one key would stand for both, and the server would write it twice. For
 * every message a JSON room sends or receives, nested ones too, once per schema (`seen`). */
static void check_json_field_names(checker *c, const vc_message *m, vc_strset *seen)
{
    vc_strset names = {0};

    if (m == NULL || vc_strset_put(c->a, seen, m->name, m, &c->oom) != NULL)
        return;
    for (size_t k = 0; k < m->fields.n; k++) {
        const vc_field *f = m->fields.items[k];
        const char *jn = vc_lower_camel(c->a, f->name);
        const vc_field *g = jn ? vc_strset_put(c->a, &names, jn, f, &c->oom) : NULL;

        if (g != NULL) {
            ERR(c, f->loc, "fields '%s' and '%s' of message '%s' have the same JSON name '%s': "
                "on the JSON wire one key would stand for both", g->name, f->name, m->name,
                jn);
            NOTE(c, g->loc, "'%s' is here", g->name);
        }
    }
    for (size_t k = 0; k < m->fields.n; k++)
        check_json_field_names(c, ((const vc_field *)m->fields.items[k])->msg, seen);
}

/* The JSON name of `e`, after check_json's checks of it: NULL when it was refused. */
static const char *json_name_of(const vc_event *e)
{
    return e->json_name ? e->json_name : e->name;
}

/* On the JSON wire the reply of an `on ... returns` event reaches the client as a server
 * event of the request's JSON name: it shares the names of the `emit` events (`names`, keyed
 * "emit <name>"), and the names reserved for them. */
static void check_json_reply(checker *c, const vc_room *r, const vc_event *e, vc_strset *names,
                             vc_strset *sent)
{
    const char *jname = json_name_of(e);
    vc_loc jloc = e->json_name ? e->json_loc : e->loc;

    if (e->dir != VC_DIR_ON || e->out == NULL)
        return;
    check_type_field(c, r, e, e->out, e->out_loc, sent);
    for (size_t k = 0; k < sizeof(json_reserved) / sizeof(*json_reserved); k++) {
        if (json_reserved[k].dir == VC_DIR_EMIT && strcmp(json_reserved[k].name, jname) == 0) {
            ERR(c, jloc, "JSON name '%s' of 'on' event '%s' is reserved for what the server "
                "sends (%s), and its reply is sent under it: give the event another JSON name "
                "with json \"...\"", jname, e->name, json_reserved[k].why);
            return;
        }
    }
    const vc_event *g = vc_strset_put(c->a, names, vc_arena_printf(c->a, "emit %s", jname), e,
                                      &c->oom);
    if (g != NULL) {
        ERR(c, jloc, "the reply of 'on' event '%s' is sent on the JSON wire as an event named "
            "'%s', which '%s' event '%s' also is in room '%s': give one of them another JSON "
            "name with json \"...\"", e->name, jname, g->dir == VC_DIR_EMIT ? "emit" : "on",
            g->name, r->name);
        NOTE(c, g->json_name ? g->json_loc : g->loc, "'%s' has it", g->name);
    }
}

/* The `json` aliases of a room's events, and in a room that speaks JSON (`wire json` or
 * `wire both`) its events' JSON names and the messages the server sends (`emit` payloads,
 * `returns` replies). After check_room: payload types are resolved. Nothing here touches the
 * fingerprint. */
static void check_json(checker *c, const vc_room *r, vc_strset *json_msgs)
{
    vc_strset names = {0}, sent = {0};
    int bad = 0;

    for (size_t i = 0; i < r->events.n; i++) {
        const vc_event *e = vc_room_event(r, i);
        const char *dir = e->dir == VC_DIR_ON ? "on" : "emit";
        const char *jname = json_name_of(e);
        vc_loc jloc = e->json_name ? e->json_loc : e->loc;

        if (r->wire == VC_WIRE_BINARY) {
            if (e->json_name != NULL)
                ERR(c, e->json_loc, "a json alias names the event on the JSON wire; room '%s' "
                    "has none: add 'wire json;' or 'wire both \"...\";'", r->name);
            continue;
        }
        if (e->json_name != NULL && !json_name_ok(e->json_name)) {
            ERR(c, e->json_loc, "JSON name \"%s\" must be 1 to 64 bytes of printable UTF-8 "
                "with no space, '\"' or '\\'", shown(c, e->json_name));
            jname = NULL;
        }
        for (size_t k = 0; jname != NULL && k < sizeof(json_reserved) / sizeof(*json_reserved);
             k++) {
            if (json_reserved[k].dir == e->dir && strcmp(json_reserved[k].name, jname) == 0) {
                ERR(c, jloc, "JSON name '%s' of '%s' event '%s' is reserved on the JSON wire "
                    "(%s): give the event another JSON name with json \"...\"", jname, dir,
                    e->name, json_reserved[k].why);
                jname = NULL; /* said once */
            }
        }
        bad |= jname == NULL;
        if (jname != NULL && e->dir == VC_DIR_EMIT && strcmp(jname, "error") == 0)
            vc_diag(c->ctx, VC_WARNING, jloc, "'emit' event '%s' has the JSON name 'error': "
                    "Verani's client hands it to the same 'error' listeners as its own "
                    "connection errors and the runtime's error events for invalid frames",
                    e->name);
        const vc_event *g = NULL;
        if (jname != NULL)
            g = vc_strset_put(c->a, &names, vc_arena_printf(c->a, "%s %s", dir, jname), e,
                              &c->oom);
        if (g != NULL) {
            ERR(c, jloc, "'%s' events '%s' and '%s' both have the JSON name '%s' in room '%s'",
                dir, g->name, e->name, jname, r->name);
            NOTE(c, g->json_name ? g->json_loc : g->loc, "'%s' has it", g->name);
        }
        /* Verani's server frame is {"type":"event","data":{"type":"<event>", ...payload}}:
         * a payload field called `type` would overwrite the name the client dispatches on */
        if (e->dir == VC_DIR_EMIT)
            check_type_field(c, r, e, e->in, e->in_loc, &sent);
        check_json_field_names(c, e->in, json_msgs);
        check_json_field_names(c, e->out, json_msgs);
    }
    /* the replies, once every emit name is known (and none of them was refused) */
    for (size_t i = 0; !bad && r->wire != VC_WIRE_BINARY && i < r->events.n; i++)
        check_json_reply(c, r, vc_room_event(r, i), &names, &sent);
}

int vc_check_json(vc_ctx *ctx, vc_arena *a, const vc_room *r, vc_strset *json_msgs)
{
    checker c = {ctx, a, 0};

    check_json(&c, r, json_msgs);
    return c.oom;
}
