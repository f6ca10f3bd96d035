/* SPDX-License-Identifier: MIT */
/* counting_room.h: room E2e whose poke counts in storage (counting_room.c). */
#ifndef VERANI_TEST_COUNTING_ROOM_H
#define VERANI_TEST_COUNTING_ROOM_H

#include <verani/verani.h>

/* Mount E2e (poke: count + 1 in storage, "poke <n>" to channel default; echo: the count;
 * the rest as e2e_room.h's); room Limited is not mounted. */
int mount_counting(verani_server *srv);

#endif /* VERANI_TEST_COUNTING_ROOM_H */
