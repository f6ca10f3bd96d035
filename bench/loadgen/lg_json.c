/* SPDX-License-Identifier: MIT */
/*
 * lg_json.c: the JSON wire's frames for the load generator (lg_json.h). What the
 * generator sends:
 *
 *   {"type":"publish","data":{"n":N,"data":"<base64 of the payload>"}}
 *   {"type":"echo","data":{"n":N,"data":"<base64 of the payload>"}}
 *
 * What the bench server sends back (runtime/src/wire/json_out.c writes an event as
 * {"type":"event","channel":C,"data":{"type":E, then the message's fields in field order},
 * no white space, a uint64 as a bare number up to 2^53 - 1, bytes as padded base64):
 *
 *   {"type":"event","channel":"default","data":{"type":"fanout","n":N,"data":"<base64>"}}
 *   {"type":"event","channel":"default","data":{"type":"echo","n":N,"data":"<base64>"}}
 *   {"type":"event","channel":"default","data":{"type":"error","message":...}}
 *
 * The scan compares the fixed head with memcmp, reads the digits of N, and compares the
 * rest with the payload's base64 and the closing braces. That is about what the binary driver
 * does per frame (the typed client unpacks a small protobuf), so the generator's own cost
 * stays close on both wires. Anything not of this layout is LG_JSON_OTHER: a fan-out frame
 * the scan cannot read is a loss in the core's counts, never silently taken as a message.
 */
#include <string.h>

#include "lg_json.h"

#define HEAD "{\"type\":\"event\",\"channel\":\"default\",\"data\":{\"type\":\""
#define LIT(s) s, sizeof(s) - 1

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void lg_json_init(lg_json *j, const uint8_t payload[LG_PAYLOAD])
{
    size_t o = 0;

    for (size_t i = 0; i < LG_PAYLOAD; i += 3) {
        uint32_t v = (uint32_t)payload[i] << 16;
        size_t left = LG_PAYLOAD - i;

        if (left > 1)
            v |= (uint32_t)payload[i + 1] << 8;
        if (left > 2)
            v |= payload[i + 2];
        j->b64[o++] = b64_alphabet[v >> 18 & 63];
        j->b64[o++] = b64_alphabet[v >> 12 & 63];
        j->b64[o++] = left > 1 ? b64_alphabet[v >> 6 & 63] : '=';
        j->b64[o++] = left > 2 ? b64_alphabet[v & 63] : '=';
    }
    j->b64[o] = '\0';
}

static size_t put(char *out, size_t at, const char *s, size_t len)
{
    memcpy(out + at, s, len);
    return at + len;
}

/* `n` in decimal at out + at; returns the new end. */
static size_t put_u64(char *out, size_t at, uint64_t n)
{
    char d[20];
    size_t k = 0;

    do {
        d[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    while (k)
        out[at++] = d[--k];
    return at;
}

size_t lg_json_tick(const lg_json *j, char *out, const char *event, uint64_t n)
{
    size_t at = 0;

    at = put(out, at, LIT("{\"type\":\""));
    at = put(out, at, event, strlen(event));
    at = put(out, at, LIT("\",\"data\":{\"n\":"));
    at = put_u64(out, at, n);
    at = put(out, at, LIT(",\"data\":\""));
    at = put(out, at, j->b64, LG_JSON_B64_LEN);
    at = put(out, at, LIT("\"}}"));
    return at;
}

/* After `"type":"<event>"` at s[at]: `,"n":N,"data":"<payload>"}}` to the end. */
static lg_json_kind tick(const lg_json *j, lg_json_kind kind, const char *s, size_t len,
                         size_t at, uint64_t *n, int *ok)
{
    static const char n_key[] = ",\"n\":", data_key[] = ",\"data\":\"", tail[] = "\"}}";
    uint64_t v = 0;
    size_t d0;

    if (len - at < sizeof(n_key) - 1 || memcmp(s + at, LIT(n_key)))
        return LG_JSON_OTHER;
    at += sizeof(n_key) - 1;
    d0 = at;
    while (at < len && at - d0 < 20 && s[at] >= '0' && s[at] <= '9')
        v = v * 10 + (uint64_t)(s[at++] - '0');
    if (at == d0)
        return LG_JSON_OTHER; /* past 2^53 the server writes a string: never reached here */
    *n = v;
    *ok = len - at == sizeof(data_key) - 1 + LG_JSON_B64_LEN + sizeof(tail) - 1 &&
          !memcmp(s + at, LIT(data_key)) &&
          !memcmp(s + at + sizeof(data_key) - 1, j->b64, LG_JSON_B64_LEN) &&
          !memcmp(s + len - (sizeof(tail) - 1), LIT(tail));
    return kind;
}

lg_json_kind lg_json_scan(const lg_json *j, const char *s, size_t len, uint64_t *n, int *ok)
{
    static const char fanout[] = "fanout\"", echo[] = "echo\"", error[] = "error\"";
    size_t at = sizeof(HEAD) - 1;

    *n = 0;
    *ok = 0;
    if (len < at || memcmp(s, LIT(HEAD))) {
        if (len == sizeof("{\"type\":\"pong\"}") - 1 && !memcmp(s, LIT("{\"type\":\"pong\"}")))
            return LG_JSON_PONG;
        return LG_JSON_OTHER;
    }
    if (len - at >= sizeof(fanout) - 1 && !memcmp(s + at, LIT(fanout)))
        return tick(j, LG_JSON_FANOUT, s, len, at + sizeof(fanout) - 1, n, ok);
    if (len - at >= sizeof(echo) - 1 && !memcmp(s + at, LIT(echo)))
        return tick(j, LG_JSON_ECHO, s, len, at + sizeof(echo) - 1, n, ok);
    if (len - at >= sizeof(error) - 1 && !memcmp(s + at, LIT(error)))
        return LG_JSON_ERROR;
    return LG_JSON_OTHER;
}
