/* SPDX-License-Identifier: MIT */
/*
 * hard_room.h: the Hard room (tests/e2e/hardening.verani) and its handlers,
 * for the hardening tests and the attack suite. Everything runs on the
 * server's event-loop thread but hard_room_loop_tid, which any thread reads.
 */
#ifndef VERANI_TEST_HARD_ROOM_H
#define VERANI_TEST_HARD_ROOM_H

#include <verani/verani.h>

#include "hard_server.h"

/* Mount the Hard room on `srv` with the handlers of hard_room.c. */
int hard_room_mount(verani_server *srv);

/* The thread id of the server's event loop, as the last connection of user "canary" saw it
 * (0 before one): for reading its scheduler statistics. */
int hard_room_loop_tid(void);

#endif /* VERANI_TEST_HARD_ROOM_H */
