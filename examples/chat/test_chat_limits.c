/* SPDX-License-Identifier: MIT */
/*
 * test_chat_limits.c: the chat room against the two attacks issue 12 found
 * on it, over 127.0.0.1 with raw clients (tests/e2e/rawclient.h):
 *   history_bytes   90 messages of 2000 four-byte characters (8000 bytes each)
 *                   are stored; a history(100) reply holds the newest of them
 *                   that fit in CHAT_ROOM_HISTORY_BYTES (it held all 90, 720 KB,
 *                   and with longer texts passed the 4 MiB queue bound: closed)
 *   long_user_ids   128 x 'A' + 'X' and + 'Y' are two users (the room's
 *                   129-byte buffer cut both to the same id); a user id longer
 *                   than VERANI_USER_ID_MAX is refused with 400
 * Every wait ends at a deadline on the monotonic clock (hard_util.h). Run one
 * case with `test_chat_limits <name>`.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cases.h"
#include "chat_room.h"
#include "cleanup.h"
#include "e2e_util.h"
#include "hard_util.h"
#include "rawclient.h"

static int mount_chat(verani_server *srv, void *room)
{
    return chat_room_mount(srv, room);
}

static void start(e2e_server *h, chat_room *room)
{
    verani_server_options o;

    e2e_server_options(&o);
    e2e_server_start(h, &o, mount_chat, room);
}

static void test_history_bytes(void **state)
{
    chat_room *room = chat_room_create();
    rc_loop *l = rc_loop_create();
    e2e_server h;
    rc_conn *c;
    Chat__ChatMessage m = CHAT__CHAT_MESSAGE__INIT;
    Chat__HistoryQuery q = CHAT__HISTORY_QUERY__INIT;
    Chat__HistoryPage *page;
    const rc_env *r;
    char text[3 + 1997 * 4 + 1];
    size_t i;

    (void)state;
    assert_non_null(room);
    start(&h, room);
    c = e2e_join(l, h.port, "/chat/lobby?userId=poster");
    /* 90 messages of 2000 code points, 8000 bytes: within max_len = 2000 */
    for (i = 0; i < 1997; i++)
        memcpy(text + 3 + 4 * i, "\xf0\x9f\x98\x80", 4);
    text[sizeof(text) - 1] = '\0';
    m.text = text;
    for (i = 0; i < 90; i++) {
        char num[4];

        snprintf(num, sizeof(num), "%03zu", i);
        memcpy(text, num, 3);
        assert_int_equal(rc_send_event(c, VERANI__WIRE__KIND__EVENT, CHAT_CHAT_ON_CHAT_MESSAGE,
                                       &m.base, 0), 0);
    }
    /* frames are handled in order: the history comes after all 90 are stored */
    q.limit = 100;
    r = hu_request(l, c, CHAT_CHAT_ON_HISTORY, &q.base, 1);
    assert_int_equal(c->n_errors, 0);
    assert_int_equal(r->kind, VERANI__WIRE__KIND__REPLY);
    page = chat__history_page__unpack(NULL, r->payload.len, r->payload.data);
    assert_non_null(page);
    if (r->payload.len > CHAT_ROOM_HISTORY_BYTES || page->n_messages == 0)
        fail_msg("history page: %zu messages in %zu bytes; want at least one, at most %d bytes",
                 page->n_messages, r->payload.len, CHAT_ROOM_HISTORY_BYTES);
    /* the newest first, none skipped */
    for (i = 0; i < page->n_messages; i++) {
        char want[4];

        snprintf(want, sizeof(want), "%03zu", 89 - i);
        assert_memory_equal(page->messages[i]->text, want, 3);
    }
    printf("history(100): %zu of 90 messages, %zu bytes\n", page->n_messages, r->payload.len);
    chat__history_page__free_unpacked(page, NULL);
    assert_false(c->closed);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
    chat_room_destroy(room);
}

static void test_long_user_ids(void **state)
{
    chat_room *room = chat_room_create();
    rc_loop *l = rc_loop_create();
    e2e_server h;
    rc_conn *x, *y;
    char id[300], path[400];
    int fd;

    (void)state;
    assert_non_null(room);
    start(&h, room);
    x = hu_join_long_user(l, h.port, "/chat/lobby", 128, 'X');
    y = hu_join_long_user(l, h.port, "/chat/lobby", 128, 'Y');
    assert_string_not_equal(hu_welcome_user(x), hu_welcome_user(y));
    /* longer than any user id: refused, not cut */
    memset(id, 'A', VERANI_USER_ID_MAX + 1);
    id[VERANI_USER_ID_MAX + 1] = '\0';
    snprintf(path, sizeof(path), "/chat/lobby?userId=%s", id);
    fd = rc_tcp_connect(h.port, 0);
    assert_true(fd >= 0);
    assert_int_equal(rc_tcp_upgrade(fd, path, NULL, 0), 400);
    close(fd);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
    chat_room_destroy(room);
}

static const vt_case cases[] = {
    VT_CASE(test_history_bytes, ""),
    VT_CASE(test_long_user_ids, ""),
};

int main(int argc, char **argv)
{
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("chat_limits", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
