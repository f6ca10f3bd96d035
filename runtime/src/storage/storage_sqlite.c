/* SPDX-License-Identifier: MIT */
/*
 * storage_sqlite.c: the SQLite backend of room storage and the session store.
 * One connection per verani_storage_db, opened in WAL mode (unless asked not
 * to) with a busy timeout, its tables created on first open and versioned
 * with PRAGMA user_version, and every statement prepared once and cached for
 * the life of the connection. SQLite's result codes become verani_err codes
 * with a sentence that says what to do. Keys and values are always bound as
 * BLOBs, so a prefix list is a range of the primary key, never a LIKE
 * pattern. The session store's queries are sqlite_sessions.c's. It does not
 * retry on a busy database beyond SQLite's busy timeout (the server keeps it
 * at a few ms and retries its own writes later), and it does not check a
 * whole file for corruption up front (corruption is reported by the call that
 * meets it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "core/core-private.h" /* the allocator only */
#include "sqlite-int.h"
#include "storage-private.h"

/* The schema version this file writes; a newer file is refused. */
#define SQ_SCHEMA_VERSION 4
#define SQ_STR_(x) #x
#define SQ_STR(x) SQ_STR_(x)

/* One alarm per room instance (verani_instance_set_alarm), Unix time in ms. */
#define SQ_ALARM_TABLE \
    "CREATE TABLE vr_alarm(room TEXT NOT NULL, instance TEXT NOT NULL, at_ms INTEGER NOT NULL," \
    " PRIMARY KEY(room, instance)) WITHOUT ROWID;"

static const char sq_schema[] =
    "CREATE TABLE vr_ns(id INTEGER PRIMARY KEY, room TEXT NOT NULL, instance TEXT NOT NULL,"
    " UNIQUE(room, instance));"
    "CREATE TABLE vr_kv(ns INTEGER NOT NULL, k BLOB NOT NULL, v BLOB NOT NULL,"
    " PRIMARY KEY(ns, k)) WITHOUT ROWID;"
    "CREATE TABLE vr_session(client_id TEXT PRIMARY KEY, token TEXT UNIQUE,"
    " user_id TEXT NOT NULL, room TEXT NOT NULL, instance TEXT NOT NULL, meta BLOB,"
    " channels BLOB, last_seq INTEGER NOT NULL, updated_ms INTEGER NOT NULL, epoch TEXT,"
    " prev_token TEXT) WITHOUT ROWID;"
    "CREATE INDEX vr_session_instance ON vr_session(room, instance);"
    "CREATE TABLE vr_frame(client_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " at_ms INTEGER NOT NULL, bytes BLOB NOT NULL, PRIMARY KEY(client_id, seq)) WITHOUT ROWID;"
    SQ_ALARM_TABLE
    "PRAGMA user_version = " SQ_STR(SQ_SCHEMA_VERSION) ";";

/* A session's previous resume token, still good for a resume (version 4). */
#define SQ_PREV_TOKEN_COLUMN "ALTER TABLE vr_session ADD COLUMN prev_token TEXT;"

/* From version 1 (before the session epoch) to this one. */
static const char sq_upgrade_1[] =
    "ALTER TABLE vr_session ADD COLUMN epoch TEXT;"
    SQ_ALARM_TABLE
    SQ_PREV_TOKEN_COLUMN
    "PRAGMA user_version = " SQ_STR(SQ_SCHEMA_VERSION) ";";

/* From version 2 (before the instances' alarms) to this one. */
static const char sq_upgrade_2[] =
    SQ_ALARM_TABLE
    SQ_PREV_TOKEN_COLUMN
    "PRAGMA user_version = " SQ_STR(SQ_SCHEMA_VERSION) ";";

/* From version 3 (before the previous token) to this one. */
static const char sq_upgrade_3[] =
    SQ_PREV_TOKEN_COLUMN
    "PRAGMA user_version = " SQ_STR(SQ_SCHEMA_VERSION) ";";

#define SQ_SESS_COLS \
    "client_id, token, user_id, room, instance, meta, channels, last_seq, updated_ms, epoch," \
    " prev_token"

static const char *const sq_sql[SQ_N] = {
    [SQ_BEGIN] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_SAVEPOINT] = "SAVEPOINT vr_sp",
    [SQ_RELEASE] = "RELEASE vr_sp",
    [SQ_ROLLBACK_TO] = "ROLLBACK TO vr_sp",
    [SQ_NS_GET] = "SELECT id FROM vr_ns WHERE room = ?1 AND instance = ?2",
    [SQ_NS_ADD] = "INSERT INTO vr_ns(room, instance) VALUES(?1, ?2)",
    [SQ_KV_GET] = "SELECT v FROM vr_kv WHERE ns = ?1 AND k = ?2",
    [SQ_KV_PUT] = "INSERT OR REPLACE INTO vr_kv(ns, k, v) VALUES(?1, ?2, ?3)",
    [SQ_KV_DEL] = "DELETE FROM vr_kv WHERE ns = ?1 AND k = ?2",
    [SQ_KV_LIST] = "SELECT k, v FROM vr_kv WHERE ns = ?1 AND k >= ?2 AND k < ?3"
                   " ORDER BY k LIMIT ?4",
    [SQ_KV_LIST_OPEN] = "SELECT k, v FROM vr_kv WHERE ns = ?1 AND k >= ?2 ORDER BY k LIMIT ?4",
    [SQ_SESS_SAVE] = "INSERT OR REPLACE INTO vr_session(" SQ_SESS_COLS ")"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [SQ_SESS_LOAD] = "SELECT " SQ_SESS_COLS " FROM vr_session WHERE client_id = ?1",
    [SQ_SESS_TOKEN] = "SELECT " SQ_SESS_COLS " FROM vr_session WHERE token = ?1",
    [SQ_SESS_DEL] = "DELETE FROM vr_session WHERE client_id = ?1",
    [SQ_SESS_LIST] = "SELECT " SQ_SESS_COLS " FROM vr_session WHERE room = ?1 AND instance = ?2"
                     " ORDER BY client_id",
    [SQ_SESS_SEQ] = "UPDATE vr_session SET last_seq = ?2 WHERE client_id = ?1",
    [SQ_INST_LIST] = "SELECT DISTINCT room, instance FROM vr_session ORDER BY room, instance",
    [SQ_FR_ADD] = "INSERT INTO vr_frame(client_id, seq, at_ms, bytes) VALUES(?1, ?2, ?3, ?4)",
    [SQ_FR_READ] = "SELECT seq, at_ms, bytes FROM vr_frame WHERE client_id = ?1 AND seq > ?2"
                   " ORDER BY seq LIMIT ?3",
    /* Both trims are index range deletes, O(log n + deleted) per append: by
     * seq (the newest max_count seq numbers stay, so gaps keep fewer), and by
     * age up to the first frame young enough (sends are in seq order). */
    [SQ_FR_TRIM_COUNT] = "DELETE FROM vr_frame WHERE client_id = ?1 AND seq <= (SELECT max(seq)"
                         " FROM vr_frame WHERE client_id = ?1) - ?2",
    [SQ_FR_TRIM_AGE] = "DELETE FROM vr_frame WHERE client_id = ?1 AND seq < coalesce((SELECT seq"
                       " FROM vr_frame WHERE client_id = ?1 AND at_ms >= ?2 ORDER BY seq"
                       " LIMIT 1), 9223372036854775807)",
    [SQ_FR_RANGE] = "SELECT min(seq), max(seq), count(*) FROM vr_frame WHERE client_id = ?1",
    [SQ_FR_DEL] = "DELETE FROM vr_frame WHERE client_id = ?1",
    [SQ_AL_SET] = "INSERT OR REPLACE INTO vr_alarm(room, instance, at_ms) VALUES(?1, ?2, ?3)",
    [SQ_AL_DEL] = "DELETE FROM vr_alarm WHERE room = ?1 AND instance = ?2",
    [SQ_AL_LIST] = "SELECT room, instance, at_ms FROM vr_alarm ORDER BY at_ms",
};

const uint8_t vr_sq_empty[1] = {0};

/* Map a SQLite result to a verani_err, with a sentence a person can act on. */
int vr_sq_fail(verani_storage_db *db, int rc, const char *what)
{
    sq *q = db->impl;
    const char *msg = q && q->h ? sqlite3_errmsg(q->h) : sqlite3_errstr(rc);
    const char *hint;
    int code = VERANI_EIO;

    switch (rc & 0xff) {
    case SQLITE_FULL:
        hint = "the disk or the file system quota is full: free space, then retry";
        break;
    case SQLITE_IOERR:
        hint = "the operating system reported an I/O error: check the disk and file system";
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        hint = "the file is corrupt or not a SQLite database: restore it from a backup or "
               "move it away and start with a new file";
        break;
    case SQLITE_READONLY:
        hint = "the database is read-only: check the permissions of the file and of its "
               "directory (WAL mode writes -wal and -shm files beside it)";
        break;
    case SQLITE_CANTOPEN:
        hint = "cannot open or create the file: check that its directory exists and is "
               "writable by this process";
        break;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        hint = "access was denied: check the file's permissions";
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = VERANI_ETIMEDOUT;
        return vr_storage_error(db, code, "storage %s: %s failed: the database is locked by "
                                "another connection (another process on the file: a sqlite3 "
                                "shell in a transaction, a VACUUM) and stayed locked for the "
                                "busy timeout (%u ms); nothing was done: retry later",
                                db->path, what, db->opts.busy_timeout_ms);
    case SQLITE_NOMEM:
        code = VERANI_ENOMEM;
        hint = "out of memory";
        break;
    case SQLITE_TOOBIG:
        code = VERANI_ETOOBIG;
        hint = "a key or value is larger than SQLite allows";
        break;
    case SQLITE_CONSTRAINT:
        code = VERANI_EINVAL;
        hint = "the row conflicts with one already stored";
        break;
    default:
        hint = "an unexpected SQLite error";
        break;
    }
    return vr_storage_error(db, code, "storage %s: %s failed: %s (%s); %s", db->path, what, msg,
                            sqlite3_errstr(rc), hint);
}

sqlite3_stmt *vr_sq_stmt(verani_storage_db *db, int id)
{
    sq *q = db->impl;
    int rc;

    if (!q->st[id]) {
        rc = sqlite3_prepare_v3(q->h, sq_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &q->st[id],
                                NULL);
        if (rc != SQLITE_OK) {
            vr_sq_fail(db, rc, "preparing a statement");
            q->st[id] = NULL;
            return NULL;
        }
    }
    return q->st[id];
}

void vr_sq_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

int vr_sq_bind_blob(sqlite3_stmt *s, int i, const void *p, size_t n)
{
    return sqlite3_bind_blob64(s, i, n ? p : vr_sq_empty, n, SQLITE_STATIC);
}

int vr_sq_bind_text(sqlite3_stmt *s, int i, const char *t)
{
    return t ? sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

/* Run a statement that returns no rows (its bindings done); 0 or an error. */
int vr_sq_exec(verani_storage_db *db, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);

    vr_sq_done(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return vr_sq_fail(db, rc, what);
    return 0;
}

/* The error code of a failed vr_sq_stmt (its text is already set). */
int vr_sq_prep_err(verani_storage_db *db)
{
    (void)db;
    return VERANI_EIO;
}

static int sq_simple(verani_storage_db *db, int id, const char *what)
{
    sqlite3_stmt *s = vr_sq_stmt(db, id);

    return s ? vr_sq_exec(db, s, what) : VERANI_EIO;
}

/* --- open and close -------------------------------------------------------- */

static void sq_busy_timeout(verani_storage_db *db, uint32_t ms)
{
    sq *q = db->impl;

    sqlite3_busy_timeout(q->h, (int)(ms > INT32_MAX ? INT32_MAX : ms));
}

static void sq_close(verani_storage_db *db)
{
    sq *q = db->impl;
    int i;

    if (!q)
        return;
    for (i = 0; i < SQ_N; i++)
        sqlite3_finalize(q->st[i]);
    sqlite3_close_v2(q->h);
    vr_free(q);
    db->impl = NULL;
}

/* Run one pragma and return its first column as an integer in *out (when given). */
static int sq_pragma(verani_storage_db *db, const char *sql, int64_t *out, char *text,
                     size_t tlen)
{
    sq *q = db->impl;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(q->h, sql, -1, &s, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            if (out)
                *out = sqlite3_column_int64(s, 0);
            if (text && tlen) {
                const unsigned char *t = sqlite3_column_text(s, 0);

                snprintf(text, tlen, "%s", t ? (const char *)t : "");
            }
            rc = SQLITE_DONE;
        }
    }
    if (rc != SQLITE_DONE) {
        vr_sq_fail(db, rc, sql);
        sqlite3_finalize(s);
        return VERANI_EIO;
    }
    sqlite3_finalize(s);
    return 0;
}

static int sq_setup_schema(verani_storage_db *db)
{
    sq *q = db->impl;
    int64_t ver = 0;
    char *err = NULL;
    int rc;

    if (sq_pragma(db, "PRAGMA user_version", &ver, NULL, 0))
        return VERANI_EIO;
    if (ver == SQ_SCHEMA_VERSION)
        return 0;
    if (ver > SQ_SCHEMA_VERSION)
        return vr_storage_error(db, VERANI_EIO,
                                "storage %s: the file has storage schema version %" PRId64
                                " but this libverani knows only up to %d: use a newer "
                                "libverani, or another file",
                                db->path, ver, SQ_SCHEMA_VERSION);
    if (db->opts.read_only)
        return vr_storage_error(db, VERANI_EIO,
                                "storage %s: opened read-only but the file has no Verani "
                                "tables yet: open it once read-write first",
                                db->path);
    rc = sqlite3_exec(q->h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return vr_sq_fail(db, rc, "creating the tables");
    /* Another process may have created them while we waited for the lock. */
    if (sq_pragma(db, "PRAGMA user_version", &ver, NULL, 0)) {
        sqlite3_exec(q->h, "ROLLBACK", NULL, NULL, NULL);
        return VERANI_EIO;
    }
    if (ver < SQ_SCHEMA_VERSION) {
        rc = sqlite3_exec(q->h, ver == 3   ? sq_upgrade_3
                                : ver == 2 ? sq_upgrade_2
                                : ver == 1 ? sq_upgrade_1
                                           : sq_schema,
                          NULL, NULL, &err);
        if (rc != SQLITE_OK) {
            vr_sq_fail(db, rc, "creating the tables");
            sqlite3_free(err);
            sqlite3_exec(q->h, "ROLLBACK", NULL, NULL, NULL);
            return VERANI_EIO;
        }
    }
    rc = sqlite3_exec(q->h, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        int code = vr_sq_fail(db, rc, "creating the tables");

        sqlite3_exec(q->h, "ROLLBACK", NULL, NULL, NULL);
        return code;
    }
    return 0;
}

static const vr_storage_ops sq_ops;

int vr_storage_sqlite_open(verani_storage_db *db)
{
    int memory = strcmp(db->path, ":memory:") == 0;
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    char mode[16];
    sq *q;
    int rc;

    q = vr_calloc(1, sizeof(*q));
    if (!q)
        return vr_storage_error(db, VERANI_ENOMEM, "storage %s: out of memory", db->path);
    db->impl = q;
    db->ops = &sq_ops;
    flags |= db->opts.read_only ? SQLITE_OPEN_READONLY
                                : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    rc = sqlite3_open_v2(db->path, &q->h, flags, NULL);
    if (rc != SQLITE_OK) {
        vr_sq_fail(db, rc, "opening the database");
        goto fail;
    }
    sqlite3_extended_result_codes(q->h, 1);
    sq_busy_timeout(db, db->opts.busy_timeout_ms);
    /* The first statement that reads the file: a foreign or corrupt file fails here. */
    if (!memory && !db->opts.no_wal && !db->opts.read_only) {
        if (sq_pragma(db, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode)))
            goto fail;
        /* In WAL, NORMAL never corrupts the file; a power cut may lose the last commits. */
        if (sq_pragma(db, "PRAGMA synchronous = NORMAL", NULL, NULL, 0))
            goto fail;
    }
    if (sq_setup_schema(db))
        goto fail;
    return 0;
fail:
    sq_close(db);
    return VERANI_EIO;
}

/* --- room storage ------------------------------------------------------------ */

static int sq_ns_open(verani_storage *st)
{
    verani_storage_db *db = st->db;
    sq *q = db->impl;
    sqlite3_stmt *s = vr_sq_stmt(db, SQ_NS_GET);
    int rc;

    if (!s)
        return vr_sq_prep_err(db);
    vr_sq_bind_text(s, 1, st->room);
    vr_sq_bind_text(s, 2, st->instance);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        st->ns = sqlite3_column_int64(s, 0);
        vr_sq_done(s);
        return 0;
    }
    vr_sq_done(s);
    if (rc != SQLITE_DONE)
        return vr_sq_fail(db, rc, "looking up the instance");
    s = vr_sq_stmt(db, SQ_NS_ADD);
    if (!s)
        return vr_sq_prep_err(db);
    vr_sq_bind_text(s, 1, st->room);
    vr_sq_bind_text(s, 2, st->instance);
    if ((rc = vr_sq_exec(db, s, "adding the instance")))
        return rc;
    st->ns = sqlite3_last_insert_rowid(q->h);
    return 0;
}

static int sq_get(verani_storage *st, const void *k, size_t kl, uint8_t **v, size_t *vl)
{
    verani_storage_db *db = st->db;
    sqlite3_stmt *s = vr_sq_stmt(db, SQ_KV_GET);
    int rc;

    if (!s)
        return vr_sq_prep_err(db);
    sqlite3_bind_int64(s, 1, st->ns);
    vr_sq_bind_blob(s, 2, k, kl);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(s, 0);
        size_t n = (size_t)sqlite3_column_bytes(s, 0);

        if (v) {
            *v = vr_malloc(n + 1);
            if (!*v) {
                vr_sq_done(s);
                return vr_storage_error(db, VERANI_ENOMEM,
                                        "storage: out of memory reading a %zu-byte value", n);
            }
            if (n)
                memcpy(*v, b, n);
            (*v)[n] = 0;
        }
        if (vl)
            *vl = n;
        vr_sq_done(s);
        return 0;
    }
    vr_sq_done(s);
    if (rc == SQLITE_DONE)
        return vr_storage_error(db, VERANI_ENOTFOUND, "storage: no such key");
    return vr_sq_fail(db, rc, "get");
}

static int sq_put(verani_storage *st, const void *k, size_t kl, const void *v, size_t vl)
{
    sqlite3_stmt *s = vr_sq_stmt(st->db, SQ_KV_PUT);

    if (!s)
        return vr_sq_prep_err(st->db);
    sqlite3_bind_int64(s, 1, st->ns);
    vr_sq_bind_blob(s, 2, k, kl);
    vr_sq_bind_blob(s, 3, v, vl);
    return vr_sq_exec(st->db, s, "put");
}

static int sq_del(verani_storage *st, const void *k, size_t kl)
{
    verani_storage_db *db = st->db;
    sq *q = db->impl;
    sqlite3_stmt *s = vr_sq_stmt(db, SQ_KV_DEL);
    int rc;

    if (!s)
        return vr_sq_prep_err(db);
    sqlite3_bind_int64(s, 1, st->ns);
    vr_sq_bind_blob(s, 2, k, kl);
    if ((rc = vr_sq_exec(db, s, "delete")))
        return rc;
    if (sqlite3_changes(q->h) == 0)
        return vr_storage_error(db, VERANI_ENOTFOUND, "storage: no such key");
    return 0;
}

static int sq_list(verani_storage *st, const void *lo, size_t lol, const void *hi, size_t hil,
                   size_t limit, verani_storage_list_fn fn, void *user)
{
    verani_storage_db *db = st->db;
    sqlite3_stmt *s = vr_sq_stmt(db, hi ? SQ_KV_LIST : SQ_KV_LIST_OPEN);
    int rc, n = 0;

    if (!s)
        return vr_sq_prep_err(db);
    sqlite3_bind_int64(s, 1, st->ns);
    vr_sq_bind_blob(s, 2, lo, lol);
    if (hi)
        vr_sq_bind_blob(s, 3, hi, hil);
    sqlite3_bind_int64(s, 4, limit > INT32_MAX ? INT32_MAX : (sqlite3_int64)limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const uint8_t *kb = sqlite3_column_blob(s, 0);
        size_t kn = (size_t)sqlite3_column_bytes(s, 0);
        const uint8_t *vb = sqlite3_column_blob(s, 1);
        size_t vn = (size_t)sqlite3_column_bytes(s, 1);

        n++;
        if (fn(kb ? kb : vr_sq_empty, kn, vb ? vb : vr_sq_empty, vn, user)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    vr_sq_done(s);
    if (rc != SQLITE_DONE)
        return vr_sq_fail(db, rc, "list");
    return n;
}

static int sq_begin(verani_storage_db *db, int depth)
{
    return sq_simple(db, depth == 1 ? SQ_BEGIN : SQ_SAVEPOINT, "begin");
}

static int sq_commit(verani_storage_db *db, int depth)
{
    sq *q = db->impl;

    if (sqlite3_get_autocommit(q->h))
        return vr_storage_error(db, VERANI_EIO,
                                "storage %s: SQLite rolled the transaction back after an "
                                "error; nothing of it was kept",
                                db->path);
    return sq_simple(db, depth == 1 ? SQ_COMMIT : SQ_RELEASE, "commit");
}

static int sq_rollback(verani_storage_db *db, int depth)
{
    sq *q = db->impl;
    int rc;

    /* After SQLITE_FULL, IOERR, NOMEM or BUSY SQLite may have rolled back already. */
    if (sqlite3_get_autocommit(q->h))
        return 0;
    if (depth == 1)
        return sq_simple(db, SQ_ROLLBACK, "rollback");
    rc = sq_simple(db, SQ_ROLLBACK_TO, "rollback");
    if (!rc)
        rc = sq_simple(db, SQ_RELEASE, "rollback");
    return rc;
}

static const vr_storage_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .ns_open = sq_ns_open,
    .get = sq_get,
    .put = sq_put,
    .del = sq_del,
    .list = sq_list,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .sess_save = vr_sq_sess_save,
    .sess_load = vr_sq_sess_load,
    .sess_delete = vr_sq_sess_delete,
    .sess_list = vr_sq_sess_list,
    .sess_set_seq = vr_sq_sess_set_seq,
    .instances_list = vr_sq_instances_list,
    .frame_append = vr_sq_frame_append,
    .frame_read = vr_sq_frame_read,
    .frame_trim = vr_sq_frame_trim,
    .frame_range = vr_sq_frame_range,
    .busy_timeout = sq_busy_timeout,
    .alarm_set = vr_sq_alarm_set,
    .alarm_list = vr_sq_alarm_list,
};
