/* SPDX-License-Identifier: MIT */
/*
 * decode_c.c: what the C client does per event it receives, decode and dispatch, timed
 * without a socket: the envelope unpacked (protobuf-c), its seq taken, the event looked up
 * in the room's generated emit table, the payload unpacked and checked by the generated
 * validator, the typed callback called, both messages freed (client_conn.c c_on_frame and
 * client_events.c vr_client_on_event, on the same calls). The frames are chat.message
 * events as the chat server sends them (ChatBroadcast, channel "default", a seq each).
 * The TypeScript client's counterpart is decode_ts.ts; run.sh runs both.
 *
 *   bench_decode_c [EVENTS [RUNS]]    prints "c <ns per event, median of RUNS>"
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat_client.h"
#include "envelope.pb-c.h"

static unsigned long heard;

static void on_message(const Chat__ChatBroadcast *m)
{
    heard += m->text[0] != '\0';
}

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    uint8_t **frames = calloc(n, sizeof(*frames));
    size_t *lens = calloc(n, sizeof(*lens));
    double *ns = calloc((size_t)runs, sizeof(*ns));
    char text[80];

    if (!frames || !lens || !ns || runs < 1)
        return 2;
    for (size_t i = 0; i < n; i++) {
        Chat__ChatBroadcast b = CHAT__CHAT_BROADCAST__INIT;
        Verani__Wire__Envelope e = VERANI__WIRE__ENVELOPE__INIT;
        uint8_t payload[256];

        snprintf(text, sizeof(text), "message %zu: the quick brown fox jumps over the lazy dog", i);
        b.from = "alice";
        b.text = text;
        b.at = 1764000000000 + (int64_t)i;
        b.channel = "default";
        e.has_kind = e.has_event = e.has_payload = e.has_seq = 1;
        e.kind = VERANI__WIRE__KIND__EVENT;
        e.event = CHAT_CHAT_EMIT_CHAT_MESSAGE;
        e.channel = "default";
        e.payload.len = chat__chat_broadcast__pack(&b, payload);
        e.payload.data = payload;
        e.seq = i + 1;
        lens[i] = verani__wire__envelope__get_packed_size(&e);
        frames[i] = malloc(lens[i]);
        if (!frames[i])
            return 2;
        verani__wire__envelope__pack(&e, frames[i]);
    }
    for (int r = 0; r < runs; r++) {
        uint64_t last_seq = 0;
        double t0 = now_ns();

        for (size_t i = 0; i < n; i++) {
            Verani__Wire__Envelope *e = verani__wire__envelope__unpack(NULL, lens[i], frames[i]);
            const verani_event_def *ev;
            ProtobufCMessage *m;
            verani_verr verr;

            if (!e)
                return 3;
            if (e->has_seq && e->seq > last_seq)
                last_seq = e->seq;
            ev = verani_event_find(chat_chat_emit_events, sizeof(chat_chat_emit_events) /
                                   sizeof(chat_chat_emit_events[0]), e->event);
            m = ev ? protobuf_c_message_unpack(ev->in, NULL, e->payload.len, e->payload.data)
                   : NULL;
            if (!m || (ev->validate_in && ev->validate_in(m, &verr) != 0))
                return 3;
            on_message((const Chat__ChatBroadcast *)m);
            protobuf_c_message_free_unpacked(m, NULL);
            verani__wire__envelope__free_unpacked(e, NULL);
        }
        ns[r] = (now_ns() - t0) / (double)n;
    }
    qsort(ns, (size_t)runs, sizeof(*ns), cmp);
    printf("c %.0f ns/event (median of %d runs of %zu events; %lu heard)\n", ns[runs / 2], runs,
           n, heard);
    for (size_t i = 0; i < n; i++)
        free(frames[i]);
    free(frames);
    free(lens);
    free(ns);
    return heard == (unsigned long)runs * n ? 0 : 3;
}
