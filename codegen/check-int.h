/* SPDX-License-Identifier: MIT */
/*
 * check-int.h: what check.c (types, messages, enums, names, vc_check) and check_room.c (a
 * room: path, events, timers, limits) share: the checker's state, its symbols, its
 * diagnostics and the name rules both apply. Private to the two; the AST is veranic.h's.
 */
#ifndef VERANIC_CHECK_INT_H
#define VERANIC_CHECK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "veranic.h"

typedef struct checker {
    vc_ctx *ctx;
    vc_arena *a;
    vc_schema *s;
    vc_strset types;     /* name -> vc_sym */
    vc_strset cnames;    /* C name -> cname_rec */
    int oom;
} checker;

typedef struct vc_sym {
    int kind; /* 0 enum, 1 message, 2 enum value, 3 a name reserved in <pkg>.proto */
    void *ptr;
    vc_loc loc;
    const char *name;
} vc_sym;

#define ERR(c, loc, ...) vc_diag((c)->ctx, VC_ERROR, loc, __VA_ARGS__)
#define NOTE(c, loc, ...) vc_diag((c)->ctx, VC_NOTE, loc, __VA_ARGS__)

/* [A-Z][A-Za-z0-9]*: a message, enum or room name. */
int vk_match_upper_camel(const char *s);
/* [a-z][a-z0-9]*(_[a-z0-9]+)* over `n` bytes: a package, event or field word. */
int vk_match_lower_words(const char *s, size_t n);
/* The scalar type `name` names, or VC_TY_UNRESOLVED when it names none. */
vc_type vk_scalar_type(const char *name);
/* A set key for a number (sets keep the O(n) checks O(n) on huge schemas). */
const char *vk_num_key(checker *c, const char *prefix, int64_t n);
/* The checks of room `r`; `paths` holds every room's paths so far (check_room.c). */
void vk_check_room(checker *c, vc_room *r, vc_strset *paths);
/* The checks of room `r`'s timers, after vk_check_room (check_room.c). */
void vk_check_timers(checker *c, const vc_room *r);

#endif /* VERANIC_CHECK_INT_H */
