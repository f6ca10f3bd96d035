/* SPDX-License-Identifier: MIT */
/*
 * lg_json.h: the frames of Verani's JSON wire (runtime/PROTOCOL.md section 8) that the load
 * generator's `verani-json` driver (lg_raw.c) sends and reads, made and scanned by hand on a
 * fixed layout: no JSON library on the hot path. lg_json.c says what it checks.
 */
#ifndef BENCH_LG_JSON_H
#define BENCH_LG_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "loadgen.h"

/* Base64 of the 64-byte payload, standard alphabet, padded: 88 characters. */
#define LG_JSON_B64_LEN (4 * ((LG_PAYLOAD + 2) / 3))
/* Room for the longest frame the generator sends: a 20-digit number and the payload. */
#define LG_JSON_TX_MAX 192

typedef struct lg_json {
    char b64[LG_JSON_B64_LEN + 1]; /* the payload in base64, made once */
} lg_json;

/* What a received frame is. */
typedef enum lg_json_kind {
    LG_JSON_FANOUT,  /* the event "fanout", *n its message number */
    LG_JSON_ECHO,    /* the event "echo" (the reply to an echo request), *n its number */
    LG_JSON_ERROR,   /* the event "error" (a refused request: it names none) */
    LG_JSON_PONG,    /* {"type":"pong"} */
    LG_JSON_OTHER    /* not of the layout the bench server writes */
} lg_json_kind;

void lg_json_init(lg_json *j, const uint8_t payload[LG_PAYLOAD]);
/* The text of `{"type":"<event>","data":{"n":N,"data":"<payload>"}}` for event "publish" or
 * "echo" into `out` (LG_JSON_TX_MAX bytes); returns its length, no NUL. */
size_t lg_json_tick(const lg_json *j, char *out, const char *event, uint64_t n);
/* Scan the received text frame `s` of `len` bytes: its kind, and for fanout and echo the
 * message number in *n and in *ok whether the rest of the frame is exactly the payload and the
 * closing braces (echo: the payload came back unchanged). */
lg_json_kind lg_json_scan(const lg_json *j, const char *s, size_t len, uint64_t *n, int *ok);

#endif /* BENCH_LG_JSON_H */
