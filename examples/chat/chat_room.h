/* SPDX-License-Identifier: MIT */
/*
 * chat_room.h: the handlers of the example chat room (schema/chat.verani),
 * shared by chat_server and chat_demo. They announce joins and leaves,
 * broadcast typed messages to a channel, relay the typing indicator, check
 * channel joins, and answer history requests from a bounded ring of recent
 * messages per room instance, kept in memory while the instance has
 * sessions (room storage comes later, so history does not survive a restart
 * or an empty room). Everything here runs on the server's
 * event-loop thread; nothing is shared with other threads.
 */
#ifndef EXAMPLE_CHAT_ROOM_H
#define EXAMPLE_CHAT_ROOM_H

#include "chat_server.h"

/* Messages kept per room instance for history requests (the schema's maximum page). */
#define CHAT_ROOM_HISTORY 100

/* The chat room's own state (the history is in room storage, not here). Owned
 * by the caller of chat_room_create, freed with chat_room_destroy after the
 * server is destroyed. */
typedef struct chat_room chat_room;

chat_room *chat_room_create(void);
void chat_room_destroy(chat_room *room);

/* Messages stored since chat_room_create, in every instance. Event-loop
 * thread, or after the server stopped. */
unsigned long chat_room_stored(const chat_room *room);

/* Mount the Chat room on `srv` with `room` as its state (borrowed: it must
 * outlive the server). Returns 0 or a negative verani_err. */
int chat_room_mount(verani_server *srv, chat_room *room);

/*
 * A message goes to channel "default" unless one of its tags is "#<channel>"
 * (the schema has no channel field; see examples/chat/README.md). Returns the
 * channel name inside `msg` or "default" (borrowed from `msg`).
 */
const char *chat_room_message_channel(const Chat__ChatMessage *msg);

#endif /* EXAMPLE_CHAT_ROOM_H */
