/* SPDX-License-Identifier: MIT */
/*
 * arena_room.h: the handlers of the example arena (schema/arena.verani), a
 * small multiplayer game room. Per room instance (a "match"):
 *  - a tick (verani_instance_every) broadcasts `positions` of the players
 *    that moved since the last tick;
 *  - `scoreboard` is a deferred request: the handler copies a snapshot and
 *    posts it to the server's worker pool (verani_ctx_post), where it is
 *    sorted (after a pause that stands for a slow database); the answer goes
 *    back from the loop thread with arena_arena_reply_scoreboard;
 *  - `ready` from enough players starts a round, timed by the instance's
 *    alarm (verani_instance_set_alarm), which is kept in the server's store:
 *    it fires even when the server was stopped and started again on the same
 *    storage file in between. Its hook ends the round: `round_over` to all,
 *    and the record (rounds played, high score) in room storage;
 *  - a move scores a point while a round runs; the round's scores are kept
 *    in room storage too (at most once a tick, and when the instance stops),
 *    so the alarm finds them after a restart;
 *  - `whisper` goes to every session of one user.
 * Everything here runs on the server's event-loop thread except the
 * scoreboard's sort, which runs on a worker with its own copy of the data.
 */
#ifndef EXAMPLE_ARENA_ROOM_H
#define EXAMPLE_ARENA_ROOM_H

#include <stdint.h>

#include "arena_server.h"

/* The game's settings; zero means the default. */
typedef struct arena_options {
    uint32_t tick_ms;      /* the positions tick; 0: 100 */
    uint32_t round_ms;     /* how long a round lasts; 0: 30000 */
    uint32_t min_players;  /* ready players that start a round; 0: 2 */
    uint32_t work_ms;      /* the worker's pause per scoreboard (a slow database); 0: none */
} arena_options;

/* The arena: its options and the handler table. Each instance's match is the instance's own
 * pointer (verani_instance_data). Owned by the caller of arena_create, freed with
 * arena_destroy after the server is destroyed (which stops every instance, so every match
 * is freed by then). */
typedef struct arena arena;

/* A new arena; `opts` is copied (NULL: every default). NULL when out of memory. */
arena *arena_create(const arena_options *opts);
void arena_destroy(arena *a);

/* Mount room Arena on `srv` with `a` as its state (borrowed: it must outlive the server).
 * The server needs workers (verani_server_options.workers) for the scoreboard and a
 * storage_path for rounds that survive a restart. Returns 0 or a negative verani_err. */
int arena_mount(verani_server *srv, arena *a);

#endif /* EXAMPLE_ARENA_ROOM_H */
