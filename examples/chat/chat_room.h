/* SPDX-License-Identifier: MIT */
/*
 * chat_room.h: the handlers of the example chat room (schema/chat.verani),
 * shared by chat_server and chat_demo. They announce joins and leaves,
 * broadcast typed messages to the channel a message names, relay the typing
 * indicator with the typist's user id, check channel joins, and answer
 * history requests from the newest CHAT_ROOM_HISTORY messages of each room
 * instance, kept in its room storage (on a storage file they survive a
 * restart), at most CHAT_ROOM_HISTORY_BYTES of them per reply. Everything here runs on the server's event-loop thread; nothing
 * is shared with other threads.
 */
#ifndef EXAMPLE_CHAT_ROOM_H
#define EXAMPLE_CHAT_ROOM_H

#include "chat_server.h"

/* Messages kept per room instance for history requests (the schema's maximum page). */
#define CHAT_ROOM_HISTORY 100
/* The most a history reply carries, in bytes of its HistoryPage: the newest messages that fit.
 * It keeps every reply under the room's max_frame (65536), whatever the messages hold (a
 * message's text is up to 2000 code points, 8000 bytes: 100 of them would be 800 KB). */
#define CHAT_ROOM_HISTORY_BYTES 60000

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
 * The channel a message goes to: its `channel` field, or "default" when the
 * field is absent or empty. Returns a string borrowed from `msg`, or the
 * literal "default".
 */
const char *chat_room_message_channel(const Chat__ChatMessage *msg);

#endif /* EXAMPLE_CHAT_ROOM_H */
