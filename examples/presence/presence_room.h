/* SPDX-License-Identifier: MIT */
/*
 * presence_room.h: the handlers of the example presence room
 * (schema/presence.verani). A user may connect from several devices: the
 * room announces user.online on their first device and user.offline when the
 * last one leaves, user.status when the device count or the status changes,
 * and sends a sync (everyone present) to each new connection. The counts live
 * in memory, per room instance; with room storage each user's count is also
 * stored (`presence:user:<id>`) and reconciled against the restored sessions
 * in on_hibernation_restore after a restart. Event-loop thread only.
 */
#ifndef EXAMPLE_PRESENCE_ROOM_H
#define EXAMPLE_PRESENCE_ROOM_H

#include "presence_server.h"

/* Who is present, in every instance. Owned by the caller of
 * presence_room_create; free it after the server is destroyed. */
typedef struct presence_room presence_room;

presence_room *presence_room_create(void);
void presence_room_destroy(presence_room *room);

/* How many times on_hibernation_restore ran (once per restored instance).
 * Event-loop thread, or while the server does not run. */
unsigned presence_room_restores(const presence_room *room);

/* Mount room Presence on `srv` with `room` as its state (borrowed). */
int presence_room_mount(verani_server *srv, presence_room *room);

#endif /* EXAMPLE_PRESENCE_ROOM_H */
