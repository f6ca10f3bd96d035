/* SPDX-License-Identifier: MIT */
/*
 * sqlite-int.h: what the SQLite backend's two files share (runtime/src/storage/):
 * the connection with its statements prepared once (storage_sqlite.c: open,
 * close, room storage, the error texts) and the session store on it
 * (sqlite_sessions.c), which storage_sqlite.c's ops table points at.
 */
#ifndef VERANI_SQLITE_INT_H
#define VERANI_SQLITE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "storage-private.h"

/* The statements, prepared on first use (sq_sql in storage_sqlite.c has their text). */
enum {
    SQ_BEGIN, SQ_COMMIT, SQ_ROLLBACK, SQ_SAVEPOINT, SQ_RELEASE, SQ_ROLLBACK_TO,
    SQ_NS_GET, SQ_NS_ADD,
    SQ_KV_GET, SQ_KV_PUT, SQ_KV_DEL, SQ_KV_LIST, SQ_KV_LIST_OPEN,
    SQ_SESS_SAVE, SQ_SESS_LOAD, SQ_SESS_TOKEN, SQ_SESS_DEL, SQ_SESS_LIST, SQ_SESS_SEQ,
    SQ_INST_LIST,
    SQ_FR_ADD, SQ_FR_READ, SQ_FR_TRIM_COUNT, SQ_FR_TRIM_AGE, SQ_FR_RANGE, SQ_FR_DEL,
    SQ_AL_SET, SQ_AL_DEL, SQ_AL_LIST,
    SQ_N
};

/* A verani_storage_db's impl. */
typedef struct sq {
    sqlite3 *h;                      /* owned */
    sqlite3_stmt *st[SQ_N];          /* owned; prepared on first use */
} sq;

/* --- storage_sqlite.c --- */
/* Non-NULL for zero-length blobs: SQLite binds a NULL pointer as SQL NULL. */
extern const uint8_t vr_sq_empty[1];
/* Map a SQLite result to a verani_err, with a sentence a person can act on. */
int vr_sq_fail(verani_storage_db *db, int rc, const char *what);
sqlite3_stmt *vr_sq_stmt(verani_storage_db *db, int id);
void vr_sq_done(sqlite3_stmt *s);
int vr_sq_bind_blob(sqlite3_stmt *s, int i, const void *p, size_t n);
int vr_sq_bind_text(sqlite3_stmt *s, int i, const char *t);
/* Run a statement that returns no rows (its bindings done); 0 or an error. */
int vr_sq_exec(verani_storage_db *db, sqlite3_stmt *s, const char *what);
/* The error code of a failed vr_sq_stmt (its text is already set). */
int vr_sq_prep_err(verani_storage_db *db);

/* --- sqlite_sessions.c: the session store's ops --- */
int vr_sq_sess_save(verani_storage_db *db, const vr_attachment *a);
int vr_sq_sess_load(verani_storage_db *db, const char *client_id, const char *token,
                    vr_attachment *out);
int vr_sq_sess_delete(verani_storage_db *db, const char *client_id);
int vr_sq_sess_list(verani_storage_db *db, const char *room, const char *instance,
                    vr_attachment_fn fn, void *user);
int vr_sq_sess_set_seq(verani_storage_db *db, const char *client_id, uint64_t last_seq);
int vr_sq_instances_list(verani_storage_db *db, vr_instance_fn fn, void *user);
int vr_sq_frame_append(verani_storage_db *db, const char *client_id, uint64_t seq,
                       int64_t at_ms, const uint8_t *bytes, size_t len);
int vr_sq_frame_read(verani_storage_db *db, const char *client_id, uint64_t after_seq,
                     size_t limit, vr_retained_fn fn, void *user);
int vr_sq_frame_trim(verani_storage_db *db, const char *client_id, size_t max_count,
                     int64_t min_at_ms);
int vr_sq_frame_range(verani_storage_db *db, const char *client_id, uint64_t *first,
                      uint64_t *last, size_t *count);

#endif /* VERANI_SQLITE_INT_H */
