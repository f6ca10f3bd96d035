/* SPDX-License-Identifier: MIT */
/*
 * util.c: the small data structures veranic is built on: an arena that owns
 * every AST node and string of one compile (freed once), growable pointer
 * arrays in that arena, a sticky-error output buffer (append freely, check
 * once), a string set for collision checks and FNV-1a. No policy lives here,
 * and nothing here prints.
 */
#include <stdlib.h>
#include <string.h>

#include "veranic.h"

struct vc_arena_block {
    vc_arena_block *next;
    size_t used, cap;
    max_align_t data[];
};

#define VC_BLOCK_SIZE (64u * 1024u)

void *vc_arena_alloc(vc_arena *a, size_t size)
{
    size_t need = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t);
    vc_arena_block *b = a->head;

    if (a->failed || size > ((size_t)1 << 30)) {
        a->failed = 1;
        return NULL;
    }
    if (b == NULL || b->cap - b->used < need) {
        size_t cap = VC_BLOCK_SIZE / sizeof(max_align_t);
        if (need > cap)
            cap = need;
        b = malloc(sizeof(*b) + cap * sizeof(max_align_t));
        if (b == NULL) {
            a->failed = 1;
            return NULL;
        }
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = &b->data[b->used];
    b->used += need;
    memset(p, 0, size);
    return p;
}

char *vc_arena_strndup(vc_arena *a, const char *s, size_t n)
{
    char *p = vc_arena_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *vc_arena_printf(vc_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        a->failed = 1;
        return NULL;
    }
    char *p = vc_arena_alloc(a, (size_t)n + 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void vc_arena_free(vc_arena *a)
{
    vc_arena_block *b = a->head;
    while (b != NULL) {
        vc_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

int vc_vec_push(vc_arena *a, vc_vec *v, void *item)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        void **items = vc_arena_alloc(a, cap * sizeof(*items));
        if (items == NULL)
            return -1;
        if (v->n)
            memcpy(items, v->items, v->n * sizeof(*items));
        v->items = items;
        v->cap = cap;
    }
    v->items[v->n++] = item;
    return 0;
}

static int buf_reserve(vc_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1) {
        if (cap > ((size_t)1 << 30)) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void vc_buf_putn(vc_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void vc_buf_puts(vc_buf *b, const char *s)
{
    vc_buf_putn(b, s, strlen(s));
}

void vc_buf_printf(vc_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        vc_buf_putn(b, small, (size_t)n);
        return;
    }
    if (buf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void vc_buf_free(vc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

uint64_t vc_fnv1a(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

const void *vc_strset_put(vc_arena *a, vc_strset *s, const char *key, const void *val, int *oom)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        const char **keys = vc_arena_alloc(a, cap * sizeof(*keys));
        const void **vals = vc_arena_alloc(a, cap * sizeof(*vals));
        if (keys == NULL || vals == NULL) {
            *oom = 1;
            return NULL;
        }
        for (size_t i = 0; i < s->cap; i++) {
            if (s->keys[i] == NULL)
                continue;
            size_t j = vc_fnv1a(0xcbf29ce484222325ull, s->keys[i], strlen(s->keys[i])) & (cap - 1);
            while (keys[j] != NULL)
                j = (j + 1) & (cap - 1);
            keys[j] = s->keys[i];
            vals[j] = s->vals[i];
        }
        s->keys = keys;
        s->vals = vals;
        s->cap = cap;
    }
    size_t j = vc_fnv1a(0xcbf29ce484222325ull, key, strlen(key)) & (s->cap - 1);
    while (s->keys[j] != NULL) {
        if (strcmp(s->keys[j], key) == 0)
            return s->vals[j];
        j = (j + 1) & (s->cap - 1);
    }
    s->keys[j] = key;
    s->vals[j] = val;
    s->n++;
    return NULL;
}

const void *vc_strset_get(const vc_strset *s, const char *key)
{
    if (s->cap == 0)
        return NULL;
    size_t j = vc_fnv1a(0xcbf29ce484222325ull, key, strlen(key)) & (s->cap - 1);
    while (s->keys[j] != NULL) {
        if (strcmp(s->keys[j], key) == 0)
            return s->vals[j];
        j = (j + 1) & (s->cap - 1);
    }
    return NULL;
}
