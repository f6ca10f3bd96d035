/* SPDX-License-Identifier: MIT */
/*
 * client.h: the Verani-C client. It connects to one room instance of a
 * Verani-C server, reconnects by itself with backoff, queues frames while it
 * is away and flushes them in order, keeps the connection alive with pings,
 * and matches replies to requests. The typed layer veranic generates
 * (<pkg>_client.h) sits on top of the calls in gen.h.
 *
 * Threads: a client is driven either by the caller's loop
 * (verani_client_loop_create + verani_client_loop_service, many clients on
 * one loop) or by a thread of its own (verani_client_loop_start). Unless a
 * comment says "any thread", a call is for the thread that drives the loop.
 */
#ifndef VERANI_CLIENT_H
#define VERANI_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <verani/common.h>
#include <verani/gen.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A loop that drives any number of clients (one lws context). */
typedef struct verani_client_loop verani_client_loop;

typedef enum verani_client_state {
    VERANI_CLIENT_CONNECTING = 0,
    VERANI_CLIENT_CONNECTED,
    VERANI_CLIENT_DISCONNECTED,
    VERANI_CLIENT_RECONNECTING,
    VERANI_CLIENT_ERROR
} verani_client_state;

VERANI_API const char *verani_client_state_name(verani_client_state state);

typedef struct verani_client_options {
    const char *url;                 /* ws://host:port/path or wss://...; required */
    const verani_room_schema *room;  /* the generated <pkg>_<room>_schema; required */
    const char *const *headers;      /* extra "Name: value" strings, e.g. Authorization */
    size_t n_headers;
    const char *ca_file;             /* PEM bundle for wss:// */
    int insecure;                    /* nonzero: skip TLS verification (tests only) */
    int reconnect_disabled;          /* nonzero: never reconnect */
    uint32_t max_attempts;           /* 0: 10; VERANI_CLIENT_UNLIMITED: no limit */
    uint32_t initial_delay_ms;       /* 0: 1000 */
    uint32_t max_delay_ms;           /* 0: 30000 */
    float backoff_multiplier;        /* 0: 1.5 */
    int jitter_percent;              /* 0: 20; negative: no jitter */
    uint32_t max_queue;              /* offline queue bound in frames; 0: 100 */
    uint32_t connect_timeout_ms;     /* 0: 10000 */
    uint32_t ping_interval_ms;       /* 0: 5000; VERANI_CLIENT_NO_PING disables */
    uint32_t pong_timeout_ms;        /* 0: 5000 */
    uint32_t request_timeout_ms;     /* 0: 10000 */
} verani_client_options;

#define VERANI_CLIENT_UNLIMITED UINT32_MAX
#define VERANI_CLIENT_NO_PING UINT32_MAX

VERANI_API void verani_client_options_init(verani_client_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* VERANI_CLIENT_H */
