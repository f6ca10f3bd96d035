/* SPDX-License-Identifier: MIT */
/*
 * sqlite_sessions.c: the session store on SQLite (the vr_store_* calls of
 * storage-private.h reach it through storage_sqlite.c's ops table): each
 * session's attachment in vr_session, and the frames it may have to replay
 * in vr_frame, appended and trimmed by count and age with index range
 * deletes. The connection, its prepared statements and the error texts are
 * storage_sqlite.c's (sqlite-int.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "core/core-private.h"
#include "sqlite-int.h"
#include "storage-private.h"

int vr_sq_sess_save(verani_storage_db *db, const vr_attachment *a)
{
    sqlite3_stmt *s = vr_sq_stmt(db, SQ_SESS_SAVE);
    size_t i, total = 0, off = 0;
    uint8_t *ch = NULL;
    int rc;

    if (!s)
        return vr_sq_prep_err(db);
    /* Channels as one blob of NUL-terminated names: channel names hold no NUL. */
    for (i = 0; i < a->n_channels; i++)
        total += strlen(a->channels[i]) + 1;
    if (total) {
        ch = vr_malloc(total);
        if (!ch)
            return vr_storage_error(db, VERANI_ENOMEM, "session store: out of memory");
        for (i = 0; i < a->n_channels; i++) {
            size_t l = strlen(a->channels[i]) + 1;

            memcpy(ch + off, a->channels[i], l);
            off += l;
        }
    }
    vr_sq_bind_text(s, 1, a->client_id);
    vr_sq_bind_text(s, 2, a->resume_token[0] ? a->resume_token : NULL);
    vr_sq_bind_text(s, 3, a->user_id);
    vr_sq_bind_text(s, 4, a->room);
    vr_sq_bind_text(s, 5, a->instance);
    vr_sq_bind_blob(s, 6, a->meta, a->meta_len);
    vr_sq_bind_blob(s, 7, ch, total);
    sqlite3_bind_int64(s, 8, (sqlite3_int64)a->last_seq);
    sqlite3_bind_int64(s, 9, a->updated_ms);
    vr_sq_bind_text(s, 10, a->epoch[0] ? a->epoch : NULL);
    vr_sq_bind_text(s, 11, a->prev_token[0] ? a->prev_token : NULL);
    rc = vr_sq_exec(db, s, "saving a session");
    vr_free(ch);
    return rc;
}

static char *col_strdup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    return vr_strdup(t ? (const char *)t : "");
}

/* Fill `a` from the current row of a SQ_SESS_COLS select. */
static int sq_fill(verani_storage_db *db, sqlite3_stmt *s, vr_attachment *a)
{
    const unsigned char *t;
    const uint8_t *ch;
    size_t chl, i, n = 0, off;

    memset(a, 0, sizeof(*a));
    /* ids are fixed-size: a longer one was not written by this store, and is not cut to fit */
    if ((size_t)sqlite3_column_bytes(s, 0) >= sizeof(a->client_id) ||
        (size_t)sqlite3_column_bytes(s, 1) >= sizeof(a->resume_token) ||
        (size_t)sqlite3_column_bytes(s, 10) >= sizeof(a->prev_token))
        return vr_storage_error(db, VERANI_EIO, "session store %s: a stored session has a "
                                "client id or token longer than libverani writes: the file "
                                "holds rows something else wrote", db->path);
    t = sqlite3_column_text(s, 0);
    snprintf(a->client_id, sizeof(a->client_id), "%s", t ? (const char *)t : "");
    t = sqlite3_column_text(s, 1);
    snprintf(a->resume_token, sizeof(a->resume_token), "%s", t ? (const char *)t : "");
    a->user_id = col_strdup(s, 2);
    a->room = col_strdup(s, 3);
    a->instance = col_strdup(s, 4);
    a->meta_len = (size_t)sqlite3_column_bytes(s, 5);
    a->meta = vr_malloc(a->meta_len + 1);
    if (a->meta && a->meta_len)
        memcpy(a->meta, sqlite3_column_blob(s, 5), a->meta_len);
    ch = sqlite3_column_blob(s, 6);
    chl = (size_t)sqlite3_column_bytes(s, 6);
    for (i = 0; i < chl; i++)
        n += ch[i] == 0;
    if (chl && ch[chl - 1] != 0)
        n++; /* tolerate a last name without its NUL */
    a->channels = vr_malloc((n ? n : 1) * sizeof(char *));
    if (a->channels) {
        for (off = 0; off < chl && a->n_channels < n;) {
            const uint8_t *end = memchr(ch + off, 0, chl - off);
            size_t l = end ? (size_t)(end - (ch + off)) : chl - off;

            a->channels[a->n_channels] = vr_strndup((const char *)ch + off, l);
            if (!a->channels[a->n_channels])
                break;
            a->n_channels++;
            off += l + 1;
        }
    }
    a->last_seq = (uint64_t)sqlite3_column_int64(s, 7);
    a->updated_ms = sqlite3_column_int64(s, 8);
    t = sqlite3_column_text(s, 9);
    snprintf(a->epoch, sizeof(a->epoch), "%s", t ? (const char *)t : "");
    t = sqlite3_column_text(s, 10);
    snprintf(a->prev_token, sizeof(a->prev_token), "%s", t ? (const char *)t : "");
    if (!a->user_id || !a->room || !a->instance || !a->meta || !a->channels ||
        a->n_channels != n) {
        vr_attachment_fini(a);
        return vr_storage_error(db, VERANI_ENOMEM, "session store: out of memory");
    }
    return 0;
}

int vr_sq_sess_load(verani_storage_db *db, const char *client_id, const char *token,
                    vr_attachment *out)
{
    sqlite3_stmt *s = vr_sq_stmt(db, client_id ? SQ_SESS_LOAD : SQ_SESS_TOKEN);
    int rc;

    if (!s)
        return vr_sq_prep_err(db);
    vr_sq_bind_text(s, 1, client_id ? client_id : token);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        rc = sq_fill(db, s, out);
        vr_sq_done(s);
        return rc;
    }
    vr_sq_done(s);
    if (rc == SQLITE_DONE)
        return vr_storage_error(db, VERANI_ENOTFOUND, "session store: no such session");
    return vr_sq_fail(db, rc, "loading a session");
}

int vr_sq_sess_delete(verani_storage_db *db, const char *client_id)
{
    sq *q = db->impl;
    sqlite3_stmt *s = vr_sq_stmt(db, SQ_FR_DEL);
    int rc;

    if (!s)
        return vr_sq_prep_err(db);
    vr_sq_bind_text(s, 1, client_id);
    if ((rc = vr_sq_exec(db, s, "deleting a session's frames")))
        return rc;
    if (!(s = vr_sq_stmt(db, SQ_SESS_DEL)))
        return vr_sq_prep_err(db);
    vr_sq_bind_text(s, 1, client_id);
    if ((rc = vr_sq_exec(db, s, "deleting a session")))
        return rc;
    if (sqlite3_changes(q->h) == 0)
        return vr_storage_error(db, VERANI_ENOTFOUND, "session store: no such session");
    return 0;
}

int vr_sq_sess_list(verani_storage_db *db, const char *room, const char *instance,
                    vr_attachment_fn fn, void *user)
{
    sqlite3_stmt *s = vr_sq_stmt(db, SQ_SESS_LIST);
    vr_attachment a;
    int rc, n = 0;

    if (!s)
        return vr_sq_prep_err(db);
    vr_sq_bind_text(s, 1, room);
    vr_sq_bind_text(s, 2, instance);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int stop, r = sq_fill(db, s, &a);

        if (r) {
            vr_sq_done(s);
            return r;
        }
        n++;
        stop = fn(&a, user);
        vr_attachment_fini(&a);
        if (stop) {
            rc = SQLITE_DONE;
            break;
        }
    }
    vr_sq_done(s);
    if (rc != SQLITE_DONE)
        return vr_sq_fail(db, rc, "listing sessions");
    return n;
}

int vr_sq_sess_set_seq(verani_storage_db *db, const char *client_id, uint64_t last_seq)
{
    sq *q = db->impl;
    sqlite3_stmt *s = vr_sq_stmt(db, SQ_SESS_SEQ);
    int rc;

    if (!s)
        return vr_sq_prep_err(db);
    vr_sq_bind_text(s, 1, client_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)last_seq);
    if ((rc = vr_sq_exec(db, s, "updating a session's seq")))
        return rc;
    if (sqlite3_changes(q->h) == 0)
        return vr_storage_error(db, VERANI_ENOTFOUND, "session store: no such session");
    return 0;
}

/* The rows of statement `id`, (room, instance[, at_ms]), each to `ifn` (or `afn`, with
 * at_ms) until one returns nonzero: the count of rows seen, or an error. */
static int room_rows(verani_storage_db *db, int id, const char *what, vr_instance_fn ifn,
                     vr_alarm_fn afn, void *user)
{
    sqlite3_stmt *s = vr_sq_stmt(db, id);
    int rc, n = 0;

    if (!s)
        return vr_sq_prep_err(db);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *r = sqlite3_column_text(s, 0);
        const unsigned char *i = sqlite3_column_text(s, 1);
        const char *room = r ? (const char *)r : "", *inst = i ? (const char *)i : "";

        n++;
        if (ifn ? ifn(room, inst, user) : afn(room, inst, sqlite3_column_int64(s, 2), user)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    vr_sq_done(s);
    if (rc != SQLITE_DONE)
        return vr_sq_fail(db, rc, what);
    return n;
}

int vr_sq_instances_list(verani_storage_db *db, vr_instance_fn fn, void *user)
{
    return room_rows(db, SQ_INST_LIST, "listing instances", fn, NULL, user);
}

int vr_sq_frame_append(verani_storage_db *db, const char *client_id, uint64_t seq,
                       int64_t at_ms, const uint8_t *bytes, size_t len)
{
    sqlite3_stmt *s = vr_sq_stmt(db, SQ_FR_ADD);
    int rc;

    if (!s)
        return vr_sq_prep_err(db);
    vr_sq_bind_text(s, 1, client_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
    sqlite3_bind_int64(s, 3, at_ms);
    vr_sq_bind_blob(s, 4, bytes, len);
    rc = sqlite3_step(s);
    vr_sq_done(s);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return vr_storage_error(db, VERANI_EINVAL,
                                "session store: frame %" PRIu64 " of %s is already retained",
                                seq, client_id);
    if (rc != SQLITE_DONE)
        return vr_sq_fail(db, rc, "retaining a frame");
    return 0;
}

int vr_sq_frame_read(verani_storage_db *db, const char *client_id, uint64_t after_seq,
                     size_t limit, vr_retained_fn fn, void *user)
{
    sqlite3_stmt *s = vr_sq_stmt(db, SQ_FR_READ);
    int rc, n = 0;

    if (!s)
        return vr_sq_prep_err(db);
    vr_sq_bind_text(s, 1, client_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)after_seq);
    sqlite3_bind_int64(s, 3, limit && limit <= INT32_MAX ? (sqlite3_int64)limit : -1);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const uint8_t *b = sqlite3_column_blob(s, 2);

        n++;
        if (fn((uint64_t)sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
               b ? b : vr_sq_empty, (size_t)sqlite3_column_bytes(s, 2), user)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    vr_sq_done(s);
    if (rc != SQLITE_DONE)
        return vr_sq_fail(db, rc, "reading retained frames");
    return n;
}

int vr_sq_frame_trim(verani_storage_db *db, const char *client_id, size_t max_count,
                     int64_t min_at_ms)
{
    sqlite3_stmt *s;
    int rc;

    if (max_count) {
        if (!(s = vr_sq_stmt(db, SQ_FR_TRIM_COUNT)))
            return vr_sq_prep_err(db);
        vr_sq_bind_text(s, 1, client_id);
        sqlite3_bind_int64(s, 2, max_count > INT32_MAX ? INT32_MAX : (sqlite3_int64)max_count);
        if ((rc = vr_sq_exec(db, s, "trimming retained frames")))
            return rc;
    }
    if (!(s = vr_sq_stmt(db, SQ_FR_TRIM_AGE)))
        return vr_sq_prep_err(db);
    vr_sq_bind_text(s, 1, client_id);
    sqlite3_bind_int64(s, 2, min_at_ms);
    return vr_sq_exec(db, s, "trimming retained frames");
}

int vr_sq_frame_range(verani_storage_db *db, const char *client_id, uint64_t *first,
                      uint64_t *last, size_t *count)
{
    sqlite3_stmt *s = vr_sq_stmt(db, SQ_FR_RANGE);
    int rc;

    if (!s)
        return vr_sq_prep_err(db);
    vr_sq_bind_text(s, 1, client_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *first = (uint64_t)sqlite3_column_int64(s, 0);
        *last = (uint64_t)sqlite3_column_int64(s, 1);
        *count = (size_t)sqlite3_column_int64(s, 2);
        rc = SQLITE_DONE;
    }
    vr_sq_done(s);
    if (rc != SQLITE_DONE)
        return vr_sq_fail(db, rc, "reading the retained range");
    return 0;
}

/* --- the instances' alarms --- */

int vr_sq_alarm_set(verani_storage_db *db, const char *room, const char *instance,
                    int64_t at_ms)
{
    sqlite3_stmt *s = vr_sq_stmt(db, at_ms < 0 ? SQ_AL_DEL : SQ_AL_SET);

    if (!s)
        return vr_sq_prep_err(db);
    vr_sq_bind_text(s, 1, room);
    vr_sq_bind_text(s, 2, instance);
    if (at_ms >= 0)
        sqlite3_bind_int64(s, 3, at_ms);
    return vr_sq_exec(db, s, at_ms < 0 ? "deleting an alarm" : "setting an alarm");
}

int vr_sq_alarm_list(verani_storage_db *db, vr_alarm_fn fn, void *user)
{
    return room_rows(db, SQ_AL_LIST, "listing alarms", NULL, fn, user);
}
