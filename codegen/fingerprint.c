/* SPDX-License-Identifier: MIT */
/*
 * fingerprint.c: the schema fingerprint (schema/README.md, "Fingerprint"):
 * FNV-1a over a canonical text of everything on the wire (package, enums and
 * messages by name, fields by number, rooms by name with their path,
 * channels, limits and events sorted by id), written into s->fingerprint
 * once the checks passed. Comments, layout, declaration order and what is not
 * on the wire (timers) do not change it, nor does what only the JSON wire reads
 * (a room's `wire`, its events' json aliases): the fingerprint is the binary
 * wire's, sent to binary clients in WELCOME.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veranic.h"

static int cmp_named(const void *x, const void *y)
{
    /* every sorted struct starts with `const char *name` */
    const char *const *a = *(const char *const *const *)x;
    const char *const *b = *(const char *const *const *)y;
    return strcmp(*a, *b);
}

static int cmp_number(const void *x, const void *y)
{
    const vc_field *a = *(const vc_field *const *)x, *b = *(const vc_field *const *)y;
    return (a->number > b->number) - (a->number < b->number);
}

static void **sorted_copy(vc_arena *a, const vc_vec *v)
{
    void **out = vc_arena_alloc(a, (v->n + 1) * sizeof(*out));
    if (out == NULL)
        return NULL;
    if (v->n)
        memcpy(out, v->items, v->n * sizeof(*out));
    qsort(out, v->n, sizeof(*out), cmp_named);
    return out;
}

int vc_fingerprint(vc_arena *a, vc_schema *s)
{
    int oom = 0;
    vc_buf b = {0};
    vc_buf_printf(&b, "package %s;", s->package);
    void **es = sorted_copy(a, &s->enums);
    void **ms = sorted_copy(a, &s->messages);
    void **rs = sorted_copy(a, &s->rooms);
    if (es == NULL || ms == NULL || rs == NULL) {
        vc_buf_free(&b);
        return -1;
    }
    for (size_t i = 0; i < s->enums.n; i++) {
        const vc_enum *e = es[i];
        vc_buf_printf(&b, "enum %s{", e->name);
        for (size_t j = 0; j < e->values.n; j++) {
            const vc_enum_value *v = e->values.items[j];
            vc_buf_printf(&b, "%s=%" PRId64 ";", v->name, v->number);
        }
        vc_buf_puts(&b, "}");
    }
    for (size_t i = 0; i < s->messages.n; i++) {
        const vc_message *m = ms[i];
        vc_buf_printf(&b, "message %s{", m->name);
        void **fs = vc_arena_alloc(a, (m->fields.n + 1) * sizeof(*fs));
        if (fs == NULL) {
            oom = 1;
            break;
        }
        if (m->fields.n)
            memcpy(fs, m->fields.items, m->fields.n * sizeof(*fs));
        qsort(fs, m->fields.n, sizeof(*fs), cmp_number);
        for (size_t j = 0; j < m->fields.n; j++) {
            const vc_field *best = fs[j];
            vc_buf_printf(&b, "%" PRId64 " %d %s %s", best->number, (int)best->label,
                          best->type_name, best->name);
            for (size_t k = 0; k < best->options.n; k++) {
                const vc_option *o = best->options.items[k];
                vc_buf_printf(&b, " %s=%s", o->name, o->has_value ? o->text : "");
            }
            vc_buf_puts(&b, ";");
        }
        vc_buf_puts(&b, "}");
    }
    for (size_t i = 0; i < s->rooms.n; i++) {
        const vc_room *r = rs[i];
        vc_buf_printf(&b, "room %s{path %s;channels", r->name, r->path ? r->path : "/ws");
        for (size_t j = 0; j < r->channels.n; j++)
            vc_buf_printf(&b, " %s", (const char *)r->channels.items[j]);
        vc_buf_printf(&b, ";limits %" PRId64 " %" PRId64 " %" PRId64 ";",
                      r->has_max_frame ? r->max_frame : 65536, r->rate, r->burst);
        if (r->open_events) /* only when set: the fingerprints of other rooms stay as they were */
            vc_buf_puts(&b, "open_events;");
        for (int d = 0; d < 2; d++) {
            size_t n;
            vc_event **ev = vc_room_sorted_a(a, r, (vc_dir)d, &n);
            for (size_t j = 0; j < n; j++)
                vc_buf_printf(&b, "%s %" PRId64 " %s (%s) (%s);", d ? "emit" : "on", ev[j]->id,
                              ev[j]->name, ev[j]->in_name ? ev[j]->in_name : "",
                              ev[j]->out_name ? ev[j]->out_name : "");
        }
        vc_buf_puts(&b, "}");
    }
    if (b.failed || oom) {
        oom = 1;
    } else {
        uint64_t h = vc_fnv1a(0xcbf29ce484222325ull, b.data, b.len);
        snprintf(s->fingerprint, sizeof(s->fingerprint), "%016" PRIx64, h);
    }
    vc_buf_free(&b);
    return oom ? -1 : 0;
}
