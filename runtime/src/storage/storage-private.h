/* SPDX-License-Identifier: MIT */
/*
 * storage-private.h: the inside of room storage and the session store.
 * storage.c and session_store.c are backend-neutral: argument checks,
 * transaction nesting and dooming, the list guard, error text, and the
 * vr_store_* session store calls; they reach the data only through a
 * vr_storage_ops table (dictType style), so a Redis backend is one more
 * table. storage_sqlite.c and sqlite_sessions.c are the SQLite one.
 *
 * The session store keeps what resume and hibernation restore need: each
 * session's attachment (client id, resume token, user id, packed meta,
 * channels, last seq, room type and instance) and, per session, the frames
 * it was sent and may have to replay (seq, time, bytes), bounded by count and
 * age. It lives in the same database as room storage, in its own tables.
 *
 * Threads: a verani_storage_db and everything opened on it are used by one
 * thread at a time (the server's event-loop thread). Nothing here includes or
 * calls libwebsockets. Appending a frame is one SQLite write: callers that
 * append many per loop turn should group them in one vr_db_begin/commit.
 */
#ifndef VERANI_STORAGE_PRIVATE_H
#define VERANI_STORAGE_PRIVATE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <verani/storage.h>

/* A session's attachment as the store keeps it. Strings are owned by the
 * struct once filled by the store (free with vr_attachment_fini); a caller
 * that fills one to save keeps ownership of what it put in. */
typedef struct vr_attachment {
    char client_id[37];          /* UUIDv4 text */
    char resume_token[65];       /* hex, at most 64 digits */
    char prev_token[65];         /* hex, "" for none: the token the last resume presented,
                                    which resumes the session too for a while (session-int.h,
                                    vr_session_prev_token) */
    char *user_id;
    char *room;                  /* the room type name, "Chat" */
    char *instance;              /* the instance name, "lobby" */
    uint8_t *meta;               /* the packed typed meta */
    size_t meta_len;
    char **channels;             /* n_channels strings; none may contain NUL */
    size_t n_channels;
    uint64_t last_seq;           /* the last seq queued to the session */
    int64_t updated_ms;          /* caller's clock, stored as given */
    char epoch[17];              /* the seq stream's epoch, when saved with its frames by a
                                    graceful stop; "" otherwise (a crash lost the stream) */
} vr_attachment;

/* Free what the store allocated in `a` and zero it. */
void vr_attachment_fini(vr_attachment *a);

/* Called per attachment; `a` is borrowed for the call. Nonzero stops. These
 * callbacks must not write to the store (writes return VERANI_ESTATE then):
 * collect, and write after the list returns. */
typedef int (*vr_attachment_fn)(const vr_attachment *a, void *user);
/* Called per instance that has stored sessions; strings borrowed for the call. */
typedef int (*vr_instance_fn)(const char *room, const char *instance, void *user);
/* An alarm of the store: nonzero stops the listing. */
typedef int (*vr_alarm_fn)(const char *room, const char *instance, int64_t at_ms, void *user);
/* Called per retained frame; `bytes` is borrowed for the call. Nonzero stops. */
typedef int (*vr_retained_fn)(uint64_t seq, int64_t at_ms, const uint8_t *bytes, size_t len,
                              void *user);

/* A backend. Every call returns 0 (or a count) or a negative verani_err after
 * setting the database's error text with vr_storage_error. */
typedef struct vr_storage_ops {
    const char *name;
    void (*close)(verani_storage_db *db);
    /* Find or create the namespace of st->room/st->instance; set st->ns. */
    int (*ns_open)(verani_storage *st);
    int (*get)(verani_storage *st, const void *k, size_t kl, uint8_t **v, size_t *vl);
    int (*put)(verani_storage *st, const void *k, size_t kl, const void *v, size_t vl);
    int (*del)(verani_storage *st, const void *k, size_t kl);
    /* Keys >= lo (inclusive) and, when hi != NULL, < hi, ascending, at most limit. */
    int (*list)(verani_storage *st, const void *lo, size_t lol, const void *hi, size_t hil,
                size_t limit, verani_storage_list_fn fn, void *user);
    /* `depth` is the level being opened/closed: 1 is the outermost. */
    int (*begin)(verani_storage_db *db, int depth);
    int (*commit)(verani_storage_db *db, int depth);
    int (*rollback)(verani_storage_db *db, int depth);

    int (*sess_save)(verani_storage_db *db, const vr_attachment *a);
    /* By client id (token NULL) or by resume token (client_id NULL). */
    int (*sess_load)(verani_storage_db *db, const char *client_id, const char *token,
                     vr_attachment *out);
    int (*sess_delete)(verani_storage_db *db, const char *client_id);
    int (*sess_list)(verani_storage_db *db, const char *room, const char *instance,
                     vr_attachment_fn fn, void *user);
    int (*sess_set_seq)(verani_storage_db *db, const char *client_id, uint64_t last_seq);
    int (*instances_list)(verani_storage_db *db, vr_instance_fn fn, void *user);
    int (*frame_append)(verani_storage_db *db, const char *client_id, uint64_t seq,
                        int64_t at_ms, const uint8_t *bytes, size_t len);
    int (*frame_read)(verani_storage_db *db, const char *client_id, uint64_t after_seq,
                      size_t limit, vr_retained_fn fn, void *user);
    /* Keep the newest `max_count` (0: no count bound) and drop at_ms < min_at_ms. */
    int (*frame_trim)(verani_storage_db *db, const char *client_id, size_t max_count,
                      int64_t min_at_ms);
    int (*frame_range)(verani_storage_db *db, const char *client_id, uint64_t *first,
                       uint64_t *last, size_t *count);
    /* How long calls wait for another connection's lock from now on. */
    void (*busy_timeout)(verani_storage_db *db, uint32_t ms);
    /* The alarm of an instance: set (replacing one) at `at_ms`, or deleted when at_ms < 0. */
    int (*alarm_set)(verani_storage_db *db, const char *room, const char *instance,
                     int64_t at_ms);
    /* Every alarm, soonest first. */
    int (*alarm_list)(verani_storage_db *db, vr_alarm_fn fn, void *user);
} vr_storage_ops;

/*
 * Who hears of every write that took (a cluster node replicating room storage to Redis,
 * server/cluster_replica.c): `write` after each put or delete the backend did, `level` when
 * a transaction level begins (VR_REC_BEGIN, `depth` the new level) and when one ends keeping
 * its writes (VR_REC_KEEP: a savepoint released, or the outermost committed) or dropping
 * them (VR_REC_DROP: rolled back, or a commit that failed). A write outside any transaction
 * is committed at once. Owned by whoever sets it (it must outlive the database or be unset
 * first); `off` set: nothing is told (a load writing what Redis holds).
 */
enum { VR_REC_BEGIN, VR_REC_KEEP, VR_REC_DROP };
typedef struct vr_storage_recorder {
    void (*write)(void *arg, const struct verani_storage *st, int del, const void *key,
                  size_t klen, const void *val, size_t vlen);
    void (*level)(void *arg, int depth, int event);
    void *arg;
    int off;
} vr_storage_recorder;

struct verani_storage_db {
    const vr_storage_ops *ops;
    vr_storage_recorder *rec;        /* NULL: none */
    void *impl;                      /* owned by the backend; freed by ops->close */
    char *path;                      /* owned: opts.path, or ":memory:" */
    verani_storage_options opts;     /* opts.path points at `path` */
    int depth;                       /* open transaction levels (0: none) */
    int doomed;                      /* first error inside the open transaction, or 0 */
    int listing;                     /* a list callback is running */
    struct verani_storage *handles;  /* open handles, so close can find leftovers */
    char last_error[512];
};

struct verani_storage {
    verani_storage_db *db;           /* borrowed */
    struct verani_storage *next, *prev;
    char *room;                      /* owned */
    char *instance;                  /* owned */
    int64_t ns;                      /* the backend's namespace id */
};

/* Set the database's error text; returns `code`. Dooms an open transaction
 * unless code is VERANI_ENOTFOUND. */
int vr_storage_error(verani_storage_db *db, int code, const char *fmt, ...)
    VERANI_PRINTF(3, 4);

/* The SQLite backend: open `db->path` with `db->opts`; on failure the reason
 * is in db->last_error. */
int vr_storage_sqlite_open(verani_storage_db *db);

/* Change how long calls wait for another connection's lock (opts.busy_timeout_ms). */
void vr_db_busy_timeout(verani_storage_db *db, uint32_t ms);

/* Transactions on the database itself (what verani_storage_begin & co. do). */
int vr_db_begin(verani_storage_db *db);
int vr_db_commit(verani_storage_db *db);
int vr_db_rollback(verani_storage_db *db);
/* Roll back every open level, if any (a handler returned with a transaction
 * open: the server calls this after each handler so one cannot leak into
 * the next or swallow the session store's writes). Returns how many levels
 * were open; the database's error text then says so. */
int vr_db_abandon(verani_storage_db *db);

/* --- the session store ---------------------------------------------------- */

/* Save (insert or replace) the attachment of a->client_id. Call it when a
 * session is created and when its channels change, never per message. */
int vr_store_session_save(verani_storage_db *db, const vr_attachment *a);
/* Load by client id into `out` (vr_attachment_fini it); VERANI_ENOTFOUND when none. */
int vr_store_session_load(verani_storage_db *db, const char *client_id, vr_attachment *out);
/* Load by resume token; VERANI_ENOTFOUND when none. The caller compares what
 * it must (user id) and rotates the token (single use) by saving again. */
int vr_store_session_find_token(verani_storage_db *db, const char *token, vr_attachment *out);
/* Update only last_seq of a stored session (VERANI_ENOTFOUND when none); one
 * UPDATE, so a graceful stop can call it per session. */
int vr_store_session_set_seq(verani_storage_db *db, const char *client_id, uint64_t last_seq);
/* Delete a session and all its retained frames; VERANI_ENOTFOUND when none. */
int vr_store_session_delete(verani_storage_db *db, const char *client_id);
/* The sessions of one instance (for hibernation restore), by client id.
 * Returns how many were visited, or a verani_err. */
int vr_store_sessions_list(verani_storage_db *db, const char *room, const char *instance,
                           vr_attachment_fn fn, void *user);
/* Every (room, instance) with at least one stored session, ordered, so a
 * restarted server knows which instances to bring back. Returns how many
 * were visited, or a verani_err. */
int vr_store_instances_list(verani_storage_db *db, vr_instance_fn fn, void *user);
/* The alarm of a room instance (Unix ms), set or replaced; at_ms < 0 deletes it (0 when
 * there was none, too). */
int vr_store_alarm_set(verani_storage_db *db, const char *room, const char *instance,
                       int64_t at_ms);
/* Every alarm in the store, soonest first: the count, or an error. */
int vr_store_alarms_list(verani_storage_db *db, vr_alarm_fn fn, void *user);

/* Retention bounds; 0 in a field means its default. */
typedef struct vr_retention {
    size_t max_frames;               /* default 1000 */
    int64_t max_age_ms;              /* default 120000 */
} vr_retention;

/* Append the frame `seq` (greater than every retained seq of the session) sent
 * at `at_ms` and trim the session's frames to `ret` (NULL: defaults), in one
 * transaction. The count bound keeps the newest max_frames seq numbers (fewer
 * frames when seqs have gaps); the age bound drops frames up to the first one
 * sent at or after now - max_age_ms, so at_ms should not decrease as seq grows. */
int vr_store_frame_append(verani_storage_db *db, const char *client_id, uint64_t seq,
                          int64_t at_ms, const uint8_t *bytes, size_t len,
                          const vr_retention *ret);
/* Append a frame like vr_store_frame_append, without the trim and in the caller's
 * transaction: for writing a whole window that is already within its bounds (a graceful
 * stop), where a trim per frame made the save quadratic. */
int vr_store_frame_put(verani_storage_db *db, const char *client_id, uint64_t seq,
                       int64_t at_ms, const uint8_t *bytes, size_t len);
/* Trim a session's frames to `ret` as of `now_ms` (e.g. before a replay). */
int vr_store_frames_trim(verani_storage_db *db, const char *client_id, int64_t now_ms,
                         const vr_retention *ret);
/* Visit the retained frames with seq > after_seq in order, at most `limit`
 * (0: no bound). Returns how many were visited, or a verani_err. */
int vr_store_frames_read(verani_storage_db *db, const char *client_id, uint64_t after_seq,
                         size_t limit, vr_retained_fn fn, void *user);
/* The lowest and highest retained seq and the count (0, 0, 0 when none), so
 * a resume can tell whether everything after last_seq is still there. */
int vr_store_frames_range(verani_storage_db *db, const char *client_id, uint64_t *first,
                          uint64_t *last, size_t *count);

#endif /* VERANI_STORAGE_PRIVATE_H */
