/* SPDX-License-Identifier: MIT */
/*
 * storage.h: room storage, a small transactional key-value store per room
 * instance (Verani's Durable Object storage, in C). A verani_storage_db is one
 * database (a SQLite file in WAL mode by default, ":memory:" for tests); a
 * verani_storage is one room instance's key space in it (namespace = room
 * type + instance name), so two instances never see each other's keys. Keys
 * and values are bytes. It offers get, put, delete, a bounded ordered list by
 * key prefix, and transactions (explicit begin/commit/rollback, or a callback
 * that commits when it returns 0). Inside a server, handlers get their
 * instance's storage from verani_ctx_storage() and never open or close it.
 *
 * It does not cache values, expire keys, or share one handle between threads:
 * a verani_storage_db and every verani_storage opened on it belong to one
 * thread at a time (the server's event-loop thread, for the server's). Another
 * process may use the same file; SQLite's locking and the busy timeout apply.
 * Inside a server the busy timeout is its storage_busy_timeout_ms (5 ms by
 * default, server.h): the event loop never waits longer on another process's
 * lock, so a handler's storage call may fail with VERANI_ETIMEDOUT while one
 * is held (an operator's sqlite3 shell in a transaction, a VACUUM).
 *
 * Errors are negative verani_err codes: VERANI_EIO (disk full, I/O error,
 * corrupt or foreign file, read-only file, cannot open), VERANI_ETIMEDOUT (the
 * database stayed locked by another connection past the busy timeout),
 * VERANI_ENOTFOUND (no such key), VERANI_ETOOBIG, VERANI_EINVAL, VERANI_ESTATE,
 * VERANI_ENOMEM. verani_storage_last_error() says what happened and what to do.
 */
#ifndef VERANI_STORAGE_H
#define VERANI_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include <verani/common.h>
#include <verani/gen.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct verani_storage_db verani_storage_db;
typedef struct verani_storage verani_storage;

/* The largest key, in bytes. Values may be up to VERANI_STORAGE_VALUE_MAX. */
#define VERANI_STORAGE_KEY_MAX 4096
#define VERANI_STORAGE_VALUE_MAX (256u * 1024u * 1024u)
/* What verani_storage_list visits when its `limit` is 0. */
#define VERANI_STORAGE_LIST_DEFAULT 1000

/* Options; zero-initialise (or call verani_storage_options_init) for defaults. */
typedef struct verani_storage_options {
    const char *path;          /* a file path; NULL or ":memory:": a private in-memory database */
    uint32_t busy_timeout_ms;  /* how long to wait for another connection's lock; 0: 5000
                                  (a server passes its storage_busy_timeout_ms, 5 ms) */
    int no_wal;                /* nonzero: SQLite's rollback journal instead of WAL */
    int read_only;             /* nonzero: open an existing file read-only; writes fail (EIO) */
} verani_storage_options;

VERANI_API void verani_storage_options_init(verani_storage_options *opts);

/*
 * Open (creating when needed) the database `opts` names (NULL: every
 * default, so ":memory:"). `opts` is copied.
 * Returns NULL on failure with the reason in `errbuf` when given (a corrupt
 * or foreign file, a directory that is not writable, a newer schema version).
 */
VERANI_API verani_storage_db *verani_storage_db_open(const verani_storage_options *opts,
                                                     char *errbuf, size_t errlen);

/*
 * Close the database. An open transaction is rolled back. Every
 * verani_storage opened on it must be closed first (a handle left open is a
 * programmer error: it is closed here too, and using it after is undefined).
 * NULL is a no-op.
 */
VERANI_API void verani_storage_db_close(verani_storage_db *db);

/* The last error text of the database ("" when none); valid until the next call on it. */
VERANI_API const char *verani_storage_db_last_error(const verani_storage_db *db);

/*
 * The key space of room type `room`, instance `instance` (both non-empty
 * strings, copied) in `db`, created on first use. Returns NULL on failure
 * (the reason in verani_storage_db_last_error). Close it with
 * verani_storage_close before closing `db`.
 */
VERANI_API verani_storage *verani_storage_open(verani_storage_db *db, const char *room,
                                               const char *instance);

/* Close a handle (its data stays in the database). NULL is a no-op. */
VERANI_API void verani_storage_close(verani_storage *st);

/* The database a handle belongs to (borrowed). */
VERANI_API verani_storage_db *verani_storage_database(verani_storage *st);

/* The last error text of the handle's database ("" when none). */
VERANI_API const char *verani_storage_last_error(const verani_storage *st);

/*
 * Read the value of `key` (`klen` bytes, 0..VERANI_STORAGE_KEY_MAX).
 * On success returns 0 and sets *val to a new buffer the caller frees with
 * verani_storage_free (one extra NUL byte follows the value, so a string
 * value can be read as a C string) and *vlen to its length. `val` may be NULL
 * to only test that the key exists. VERANI_ENOTFOUND when there is no such
 * key (*val is then NULL).
 */
VERANI_API int verani_storage_get(verani_storage *st, const void *key, size_t klen,
                                  uint8_t **val, size_t *vlen);

/* Free a buffer returned by verani_storage_get. NULL is a no-op. */
VERANI_API void verani_storage_free(void *p);

/* Set `key` to the `vlen` bytes at `val` (copied; `val` may be NULL when vlen is 0). */
VERANI_API int verani_storage_put(verani_storage *st, const void *key, size_t klen,
                                  const void *val, size_t vlen);

/* Delete `key`. Returns 0, or VERANI_ENOTFOUND when it did not exist. */
VERANI_API int verani_storage_delete(verani_storage *st, const void *key, size_t klen);

/*
 * Called for each listed key. `key` and `val` are borrowed: valid only during
 * the call. Return 0 to go on, nonzero to stop. It must not write to the
 * storage (put/delete/list return VERANI_ESTATE while a list runs).
 */
typedef int (*verani_storage_list_fn)(const uint8_t *key, size_t klen, const uint8_t *val,
                                      size_t vlen, void *user);

/*
 * Visit the keys that start with `prefix` (`plen` bytes; 0 for every key) in
 * ascending byte order, at most `limit` of them (0: VERANI_STORAGE_LIST_DEFAULT).
 * With `after` non-NULL only keys greater than it are visited, so passing the
 * last key seen pages through a large key space. Prefix bytes are compared
 * exactly ('%' and '_' are ordinary bytes). Returns how many keys were
 * visited (including the one whose callback stopped the list) or a verani_err.
 */
VERANI_API int verani_storage_list(verani_storage *st, const void *prefix, size_t plen,
                                   const void *after, size_t after_len, size_t limit,
                                   verani_storage_list_fn fn, void *user);

/*
 * Transactions. They cover the whole database (every instance's handle on
 * it), so use them for short groups of calls. begin takes the write lock at
 * once (BEGIN IMMEDIATE, waiting up to the busy timeout); begin inside a
 * transaction nests (a savepoint: its rollback undoes only what came after
 * it). When any call inside a transaction fails with an error other than
 * VERANI_ENOTFOUND, the transaction is doomed: later writes and begins in
 * it return that error, and the outermost commit rolls everything back and
 * returns it, so a failed transaction changes nothing. commit and rollback
 * without begin return VERANI_ESTATE. Inside a handler, return the error
 * code: it reaches on_error.
 */
VERANI_API int verani_storage_begin(verani_storage *st);
VERANI_API int verani_storage_commit(verani_storage *st);
VERANI_API int verani_storage_rollback(verani_storage *st);

/*
 * Run `fn` inside begin ... commit. When `fn` returns nonzero, or the commit
 * fails, everything it did is rolled back. Returns 0 on commit, what `fn`
 * returned when nonzero, or the error of begin or commit.
 */
VERANI_API int verani_storage_txn(verani_storage *st,
                                  int (*fn)(verani_storage *st, void *user), void *user);

/* --- schema messages ------------------------------------------------------ */

/*
 * Store `msg` under the C string `key` as its protobuf encoding (not
 * validated). veranic generates a typed wrapper per schema message:
 * <pkg>_storage_put_<msg>(st, key, m).
 */
VERANI_API int verani_storage_put_message(verani_storage *st, const char *key,
                                          const ProtobufCMessage *msg);

/*
 * Read `key` and unpack it as `desc`. On success *out is a new message the
 * caller frees with verani_storage_free_message. VERANI_ENOTFOUND when there
 * is no such key; VERANI_EIO when the stored bytes do not unpack as `desc`
 * (stored as another type, or damaged). Typed wrapper:
 * <pkg>_storage_get_<msg>(st, key, &m).
 */
VERANI_API int verani_storage_get_message(verani_storage *st, const char *key,
                                          const ProtobufCMessageDescriptor *desc,
                                          ProtobufCMessage **out);

/* Free a message from verani_storage_get_message (or a typed get). NULL is a no-op. */
VERANI_API void verani_storage_free_message(void *msg);

/* --- inside a server ---------------------------------------------------- */

typedef struct verani_server verani_server; /* see server.h */

/*
 * The storage of the handler context's room instance (room type + instance
 * name), opened on first use. Borrowed: owned by the server, valid until the
 * handler returns (call this again in the next handler; it is cheap). Do not
 * close it. NULL when the database cannot be used, with the reason in
 * verani_server_last_error. Event-loop thread.
 */
VERANI_API verani_storage *verani_ctx_storage(verani_ctx *ctx);

/*
 * The server's database (its options' storage_path; ":memory:" when NULL),
 * for verani_storage_open outside handlers and for
 * verani_storage_db_last_error. Borrowed: owned by the server until
 * verani_server_destroy. Event-loop thread, or before the server runs.
 */
VERANI_API verani_storage_db *verani_server_storage(verani_server *srv);

#ifdef __cplusplus
}
#endif

#endif /* VERANI_STORAGE_H */
