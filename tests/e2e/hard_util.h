/* SPDX-License-Identifier: MIT */
/*
 * hard_util.h: what the hardening tests (test_hardening.c, the chat example's
 * test_chat_limits.c) and the attack suite (tests/attack) share, beside
 * e2e_util.h: a request and its answer, a long user id joined exactly, HTTP
 * by hand (an upgrade with any headers, an HTTP API call: a test sees exactly
 * the status and body the server sent) and storage files in temporary
 * directories. Failures are cmocka assertions: call these from a test (or a
 * thread of one) only. Test code; no state of its own.
 */
#ifndef VERANI_TEST_HARD_UTIL_H
#define VERANI_TEST_HARD_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "rawclient.h"

/* Send request `ev` with `msg` (NULL: no payload) from `c`; the REPLY or ERROR answering it
 * (borrowed from `c`), or a failed test. */
const rc_env *hu_request(rc_loop *l, rc_conn *c, uint32_t ev, const ProtobufCMessage *msg,
                         uint64_t rid);

/* The user id in the WELCOME `c` got (rawclient's own copy is short). */
const char *hu_welcome_user(const rc_conn *c);

/* Join `room` ("/chat/lobby") as the user `n` x 'A' then `last` (n < 300); fails the test
 * unless it is welcomed as exactly that user (no id cut to fit). */
rc_conn *hu_join_long_user(rc_loop *l, int port, const char *room, size_t n, char last);

/* Send `req` (a whole HTTP/1.1 request, `len` bytes) to 127.0.0.1:port and read the answer
 * until its Content-Length is in or the peer closes (DL_WAIT_MS at most). Returns the status,
 * or 0 when no answer came; the body goes to `body` (`cap` bytes, cut to fit: test output). */
int hu_http(int port, const char *req, size_t len, char *body, size_t cap);

/* A WebSocket upgrade of `path` with `extra` header lines ("" or "Name: v\r\n..."). */
int hu_upgrade(int port, const char *path, const char *extra, char *body, size_t cap);

/* `method` `path` on the HTTP API with bearer `token`, with `blen` bytes of protobuf body. */
int hu_api(int port, const char *token, const char *method, const char *path,
           const void *bodybytes, size_t blen, char *out, size_t cap);

/* A storage file in a new directory under /tmp: `dir` holds "/tmp/verani-XXXXXX" on entry
 * (made unique here), `file` (`len` bytes) gets "<dir>/<name>". hu_db_remove deletes the file,
 * its -wal and -shm, and the directory. */
void hu_db_temp(char *dir, const char *name, char *file, size_t len);
void hu_db_remove(const char *dir, const char *file);

#endif /* VERANI_TEST_HARD_UTIL_H */
