/* SPDX-License-Identifier: MIT */
/*
 * e2e_room.h: hand-written room definitions of the shape veranic generates,
 * used by the server e2e tests, and the handlers behind them. They record
 * every hook call in a log the test thread reads (under a mutex, since the
 * server runs on its own thread).
 */
#ifndef VERANI_TEST_E2E_ROOM_H
#define VERANI_TEST_E2E_ROOM_H

#include <pthread.h>

#include <verani/verani.h>

#include "e2e.pb-c.h"

/* on events (client -> server) */
#define E2E_EV_CMD 1       /* Cmd returns Count */
#define E2E_EV_POKE 2      /* () */
#define E2E_EV_ECHO 3      /* Echo returns Echo; text "fail" makes the handler fail */
#define E2E_EV_FLOOD 4     /* Flood returns Count: emits `count` Blobs of `size` bytes to "default" */
#define E2E_EV_UNHANDLED 5 /* Echo; no typed handler: on_message runs */
#define E2E_EV_SJOIN 6     /* Echo: the server joins the session to channel `text` */
/* emit events (server -> client) */
#define E2E_EM_CHAT 1      /* ChatOut */
#define E2E_EM_BLOB 2      /* Blob */

typedef struct e2e_handlers {
    verani_hooks hooks;
    int (*cmd)(verani_ctx *ctx, const E2e__Cmd *in, E2e__Count *out);
    int (*poke)(verani_ctx *ctx);
    int (*echo)(verani_ctx *ctx, const E2e__Echo *in, E2e__Echo *out);
    int (*flood)(verani_ctx *ctx, const E2e__Flood *in, E2e__Count *out);
    int (*unhandled)(verani_ctx *ctx, const E2e__Echo *in);
    int (*sjoin)(verani_ctx *ctx, const E2e__Echo *in);
} e2e_handlers;

extern const verani_room_def e2e_room;         /* "/e2e/{room}", no rate limit, max_frame 8192 */
extern const verani_room_def e2e_limited_room; /* "/limited/{room}", rate 5, burst 5 */
extern const verani_room_schema e2e_schema;
extern const verani_event_def e2e_emit_events[];

/* The handlers: they log to the shared log below. */
extern const e2e_handlers e2e_handlers_default;

/* A thread-safe log of hook calls: "connect:u1", "disconnect:u1", "error:-9",
 * "message:5", "join:ch", "leave:ch", ... */
void e2e_log_reset(void);
void e2e_log(const char *fmt, ...);
/* Copy the log (lines joined by ' ') into buf. */
void e2e_log_get(char *buf, size_t len);
int e2e_log_count(const char *line);

#endif /* VERANI_TEST_E2E_ROOM_H */
