/* SPDX-License-Identifier: MIT */
/*
 * e2e_room.h: the handlers behind the server e2e tests' rooms (E2e and
 * Limited, generated from e2e.verani through verani_generate), and a log of
 * every hook call that the test thread reads (under a mutex, since the
 * server runs on its own thread).
 */
#ifndef VERANI_TEST_E2E_ROOM_H
#define VERANI_TEST_E2E_ROOM_H

#include <pthread.h>

#include <verani/verani.h>

#include "e2e_server.h"

/* on events (client -> server), the same ids in both rooms */
#define E2E_EV_CMD E2E_E2E_ON_CMD             /* Cmd returns Count */
#define E2E_EV_POKE E2E_E2E_ON_POKE           /* () */
#define E2E_EV_ECHO E2E_E2E_ON_ECHO           /* Echo returns Echo; "fail" fails */
#define E2E_EV_FLOOD E2E_E2E_ON_FLOOD         /* Flood returns Count */
#define E2E_EV_UNHANDLED E2E_E2E_ON_UNHANDLED /* Echo; no handler: on_message runs */
#define E2E_EV_SJOIN E2E_E2E_ON_SJOIN         /* Echo: the server joins channel `text` */
/* emit events (server -> client) */
#define E2E_EM_CHAT E2E_E2E_EMIT_CHAT_OUT     /* ChatOut */
#define E2E_EM_BLOB E2E_E2E_EMIT_BLOB         /* Blob */

/* Mount both rooms with the logging handlers. */
int e2e_mount_all(verani_server *srv);
/* Room E2e's logging handlers (a test copies them to add its own, e.g. timer_beat). */
const e2e_e2e_handlers *e2e_room_handlers(void);

/* A thread-safe log of hook calls: "connect:u1:role", "disconnect:u1",
 * "error:-9", "message:5:3", "join:ch", "leave:ch", "poke", and in room Limited
 * "any:<event>:<payload bytes>:<result>". */
void e2e_log_reset(void);
void e2e_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copy the log (entries separated by ' ') into buf. */
void e2e_log_get(char *buf, size_t len);
int e2e_log_count(const char *line);

#endif /* VERANI_TEST_E2E_ROOM_H */
