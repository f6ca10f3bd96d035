/* SPDX-License-Identifier: MIT */
/*
 * inbox_room.h: the example notifications room (schema/notifications.verani,
 * room Inbox). There is one room instance per user: /notifications/alice is
 * alice's inbox, and only alice may open it. Any thread of the process (a
 * job, a queue consumer, an HTTP handler of your own) sends to a user with
 * inbox_send(), which goes through the server's thread-safe entry point
 * verani_server_emit_async(); the room answers acks with the unread count.
 * Unread ids live in memory (room storage comes later): a notification sent
 * while the user has no connection is counted unread but not replayed.
 */
#ifndef EXAMPLE_INBOX_ROOM_H
#define EXAMPLE_INBOX_ROOM_H

#include "notifications_server.h"

/* The unread notification ids of every user, behind a mutex: shared by the
 * senders' threads and the event loop. Owned by the caller of
 * inbox_store_create; free it after the server is destroyed. */
typedef struct inbox_store inbox_store;

inbox_store *inbox_store_create(void);
void inbox_store_destroy(inbox_store *st);

/* Mount room Inbox on `srv` with `st` as its state (borrowed). */
int inbox_room_mount(verani_server *srv, inbox_store *st);

/*
 * Send notification `n` to every connection of `user_id` (its inbox instance)
 * and then its new unread count. Any thread. `n` is encoded before the call
 * returns (the caller keeps ownership). Returns 0 when queued, or a negative
 * verani_err (VERANI_EINVAL for a notification that fails the schema).
 */
int inbox_send(verani_server *srv, inbox_store *st, const char *user_id,
               const Notifications__Notification *n);

#endif /* EXAMPLE_INBOX_ROOM_H */
