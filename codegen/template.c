/* SPDX-License-Identifier: MIT */
/*
 * template.c: the emitters' printer: text with named placeholders ($name$),
 * filled from a list of variables, as protoc's own printer does. A template
 * reads like the code it writes, with no positional printf arguments to
 * count; generated prose stays in doc comments (vc_emit_doc), out of these
 * templates.
 */
#include <string.h>

#include "veranic.h"

static const char *lookup(const vc_var *vars, const char *key, size_t len)
{
    for (; vars && vars->key; vars++)
        if (strlen(vars->key) == len && memcmp(vars->key, key, len) == 0)
            return vars->value ? vars->value : "";
    return NULL;
}

int vc_tpl(vc_buf *b, const char *tpl, const vc_var *vars)
{
    int rc = 0;

    while (*tpl) {
        const char *d = strchr(tpl, '$'), *end, *v;

        if (d == NULL) {
            vc_buf_puts(b, tpl);
            break;
        }
        vc_buf_putn(b, tpl, (size_t)(d - tpl));
        if (d[1] == '$') {
            vc_buf_putn(b, "$", 1);
            tpl = d + 2;
            continue;
        }
        end = strchr(d + 1, '$');
        v = end ? lookup(vars, d + 1, (size_t)(end - d - 1)) : NULL;
        if (v == NULL) {
            /* a template names a variable its caller did not give: veranic's own bug, which
             * the golden and compile tests catch; keep the text to make it visible */
            fprintf(stderr, "veranic: internal error: template variable '%.*s' is not set\n",
                    end ? (int)(end - d - 1) : (int)strlen(d + 1), d + 1);
            vc_buf_putn(b, d, end ? (size_t)(end - d + 1) : strlen(d));
            rc = -1;
            if (!end)
                break;
            tpl = end + 1;
            continue;
        }
        vc_buf_puts(b, v);
        tpl = end + 1;
    }
    return rc;
}

char *vc_tpl_a(vc_arena *a, const char *tpl, const vc_var *vars)
{
    vc_buf b = {0};
    char *out;

    vc_tpl(&b, tpl, vars);
    out = b.failed ? NULL : vc_arena_strndup(a, b.data ? b.data : "", b.len);
    vc_buf_free(&b);
    return out;
}
