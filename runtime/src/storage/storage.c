/* SPDX-License-Identifier: MIT */
/*
 * storage.c: the backend-neutral half of room storage and the session store.
 * It checks arguments, turns a prefix into a key range (so no pattern
 * matching, and '%' or '_' are plain bytes), nests transactions and dooms one
 * after a failed call so its commit rolls back, guards against writes from a
 * list callback, keeps the error text, and calls the backend through its
 * vr_storage_ops table; the session store's calls are session_store.c's. It
 * stores nothing itself and never talks to SQLite or libwebsockets directly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core-private.h" /* the allocator only; storage calls nothing of lws */
#include "storage-int.h"
#include "storage-private.h"

void verani_storage_options_init(verani_storage_options *opts)
{
    if (opts)
        memset(opts, 0, sizeof(*opts));
}

int vr_storage_error(verani_storage_db *db, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(db->last_error, sizeof(db->last_error), fmt, ap);
    va_end(ap);
    if (code < 0 && code != VERANI_ENOTFOUND && db->depth > 0 && !db->doomed)
        db->doomed = code;
    return code;
}

verani_storage_db *verani_storage_db_open(const verani_storage_options *opts, char *errbuf,
                                          size_t errlen)
{
    verani_storage_db *db;
    const char *path = opts && opts->path && *opts->path ? opts->path : ":memory:";

    if (errbuf && errlen)
        errbuf[0] = '\0';
    db = vr_calloc(1, sizeof(*db));
    if (db)
        db->path = vr_strdup(path);
    if (!db || !db->path) {
        vr_free(db);
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "storage: out of memory opening %s", path);
        return NULL;
    }
    if (opts)
        db->opts = *opts;
    db->opts.path = db->path;
    if (!db->opts.busy_timeout_ms)
        db->opts.busy_timeout_ms = 5000;
    if (vr_storage_sqlite_open(db)) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%s", db->last_error);
        vr_free(db->path);
        vr_free(db);
        return NULL;
    }
    db->last_error[0] = '\0';
    return db;
}

void verani_storage_db_close(verani_storage_db *db)
{
    if (!db)
        return;
    while (db->handles)
        verani_storage_close(db->handles);
    if (db->depth > 0) {
        db->ops->rollback(db, 1);
        db->depth = 0;
    }
    db->ops->close(db);
    vr_free(db->path);
    vr_free(db);
}

const char *verani_storage_db_last_error(const verani_storage_db *db)
{
    return db ? db->last_error : "no database";
}

int vr_storage_valid_name(const char *s)
{
    return s && *s && strlen(s) <= 1024;
}

verani_storage *verani_storage_open(verani_storage_db *db, const char *room, const char *instance)
{
    verani_storage *st;

    if (!db)
        return NULL;
    if (!vr_storage_valid_name(room) || !vr_storage_valid_name(instance)) {
        vr_storage_error(db, VERANI_EINVAL,
                         "storage: room and instance must be non-empty names of at most 1024 "
                         "bytes");
        return NULL;
    }
    st = vr_malloc(sizeof(*st));
    if (!st) {
        vr_storage_error(db, VERANI_ENOMEM, "storage: out of memory opening %s/%s", room,
                         instance);
        return NULL;
    }
    memset(st, 0, sizeof(*st));
    st->db = db;
    st->room = vr_strdup(room);
    st->instance = vr_strdup(instance);
    if (!st->room || !st->instance) {
        vr_storage_error(db, VERANI_ENOMEM, "storage: out of memory opening %s/%s", room,
                         instance);
        goto fail;
    }
    if (db->ops->ns_open(st))
        goto fail;
    st->next = db->handles;
    if (db->handles)
        db->handles->prev = st;
    db->handles = st;
    return st;
fail:
    vr_free(st->room);
    vr_free(st->instance);
    vr_free(st);
    return NULL;
}

void verani_storage_close(verani_storage *st)
{
    if (!st)
        return;
    if (st->prev)
        st->prev->next = st->next;
    else
        st->db->handles = st->next;
    if (st->next)
        st->next->prev = st->prev;
    vr_free(st->room);
    vr_free(st->instance);
    vr_free(st);
}

verani_storage_db *verani_storage_database(verani_storage *st)
{
    return st ? st->db : NULL;
}

const char *verani_storage_last_error(const verani_storage *st)
{
    return st ? st->db->last_error : "no storage";
}

void verani_storage_free(void *p)
{
    vr_free(p);
}

/* Common checks of a key; 0 or an error already recorded. */
static int check_key(verani_storage *st, const void *key, size_t klen)
{
    if (!st)
        return VERANI_EINVAL;
    if (!key && klen)
        return vr_storage_error(st->db, VERANI_EINVAL, "storage: key is NULL but klen is %zu",
                                klen);
    if (klen > VERANI_STORAGE_KEY_MAX)
        return vr_storage_error(st->db, VERANI_ETOOBIG,
                                "storage: a key of %zu bytes is over the limit of %d", klen,
                                VERANI_STORAGE_KEY_MAX);
    return 0;
}

int vr_storage_check_not_listing(verani_storage_db *db, const char *what)
{
    if (db->listing)
        return vr_storage_error(db, VERANI_ESTATE,
                                "storage: %s called from a list callback; collect the keys "
                                "and act after the list returns",
                                what);
    return 0;
}

/* A write inside a transaction that already failed is refused with the first
 * error (its text stays in last_error): SQLite may have rolled the
 * transaction back already, and the write would then commit on its own. */
int vr_storage_check_writable(verani_storage_db *db, const char *what)
{
    int rc = vr_storage_check_not_listing(db, what);

    if (rc)
        return rc;
    if (db->depth > 0 && db->doomed)
        return db->doomed;
    return 0;
}

int verani_storage_get(verani_storage *st, const void *key, size_t klen, uint8_t **val,
                       size_t *vlen)
{
    int rc;

    if (val)
        *val = NULL;
    if (vlen)
        *vlen = 0;
    rc = check_key(st, key, klen);
    if (rc)
        return rc;
    return st->db->ops->get(st, key, klen, val, vlen);
}

int verani_storage_put(verani_storage *st, const void *key, size_t klen, const void *val,
                       size_t vlen)
{
    int rc = check_key(st, key, klen);

    if (rc)
        return rc;
    if ((rc = vr_storage_check_writable(st->db, "put")))
        return rc;
    if (!val && vlen)
        return vr_storage_error(st->db, VERANI_EINVAL, "storage: value is NULL but vlen is %zu",
                                vlen);
    if (vlen > VERANI_STORAGE_VALUE_MAX)
        return vr_storage_error(st->db, VERANI_ETOOBIG,
                                "storage: a value of %zu bytes is over the limit of %u", vlen,
                                VERANI_STORAGE_VALUE_MAX);
    rc = st->db->ops->put(st, key, klen, val, vlen);
    if (!rc && st->db->rec && !st->db->rec->off)
        st->db->rec->write(st->db->rec->arg, st, 0, key, klen, val, vlen);
    return rc;
}

int verani_storage_delete(verani_storage *st, const void *key, size_t klen)
{
    int rc = check_key(st, key, klen);

    if (rc)
        return rc;
    if ((rc = vr_storage_check_writable(st->db, "delete")))
        return rc;
    rc = st->db->ops->del(st, key, klen);
    if (!rc && st->db->rec && !st->db->rec->off)
        st->db->rec->write(st->db->rec->arg, st, 1, key, klen, NULL, 0);
    return rc;
}

/* Byte-wise comparison with the shorter string first on a tie (SQLite's BLOB order). */
static int blob_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);

    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

int verani_storage_list(verani_storage *st, const void *prefix, size_t plen, const void *after,
                        size_t after_len, size_t limit, verani_storage_list_fn fn, void *user)
{
    static const uint8_t none[1] = {0};
    uint8_t hi[VERANI_STORAGE_KEY_MAX], lo[VERANI_STORAGE_KEY_MAX + 1];
    size_t hil = plen, lol;
    int rc, has_hi = 0;

    if ((rc = check_key(st, prefix, plen)))
        return rc;
    if ((rc = check_key(st, after, after_len)))
        return rc;
    if (!fn)
        return vr_storage_error(st->db, VERANI_EINVAL, "storage: list needs a callback");
    if ((rc = vr_storage_check_not_listing(st->db, "list")))
        return rc;
    if (!prefix)
        prefix = none;
    /* Every key with the prefix is < the prefix with its last non-0xff byte
     * incremented (and what follows it dropped); all-0xff has no upper bound. */
    memcpy(hi, prefix, plen);
    while (hil > 0 && hi[hil - 1] == 0xff)
        hil--;
    if (hil > 0) {
        hi[hil - 1]++;
        has_hi = 1;
    }
    /* The lower bound: the prefix, or just past `after` (after + "\0") when
     * that is further on. */
    memcpy(lo, prefix, plen);
    lol = plen;
    if (after && blob_cmp(after, after_len, prefix, plen) >= 0) {
        memcpy(lo, after, after_len);
        lo[after_len] = 0;
        lol = after_len + 1;
    }
    st->db->listing = 1;
    rc = st->db->ops->list(st, lo, lol, has_hi ? hi : NULL, hil,
                           limit ? limit : VERANI_STORAGE_LIST_DEFAULT, fn, user);
    st->db->listing = 0;
    return rc;
}

void vr_db_busy_timeout(verani_storage_db *db, uint32_t ms)
{
    if (!db || db->opts.busy_timeout_ms == ms)
        return;
    db->opts.busy_timeout_ms = ms;
    db->ops->busy_timeout(db, ms);
}

/* Tell the recorder, if any, of a transaction level. */
static void rec_level(verani_storage_db *db, int depth, int event)
{
    if (db->rec && !db->rec->off)
        db->rec->level(db->rec->arg, depth, event);
}

int vr_db_begin(verani_storage_db *db)
{
    int rc;

    if ((rc = vr_storage_check_writable(db, "begin")))
        return rc;
    rc = db->ops->begin(db, db->depth + 1);
    if (rc)
        return rc;
    db->depth++;
    rec_level(db, db->depth, VR_REC_BEGIN);
    return 0;
}

int vr_db_rollback(verani_storage_db *db)
{
    int rc;

    if ((rc = vr_storage_check_not_listing(db, "rollback")))
        return rc;
    if (db->depth == 0)
        return vr_storage_error(db, VERANI_ESTATE, "storage: rollback without a transaction");
    rc = db->ops->rollback(db, db->depth);
    rec_level(db, db->depth, VR_REC_DROP);
    db->depth--;
    if (db->depth == 0)
        db->doomed = 0;
    return rc;
}

int vr_db_commit(verani_storage_db *db)
{
    int rc, doomed;

    if ((rc = vr_storage_check_not_listing(db, "commit")))
        return rc;
    if (db->depth == 0)
        return vr_storage_error(db, VERANI_ESTATE, "storage: commit without a transaction");
    doomed = db->doomed;
    if (db->depth > 1) {
        /* A savepoint: release it. In a doomed transaction leave it be: the
         * outermost rollback undoes it with the rest. */
        rc = doomed ? doomed : db->ops->commit(db, db->depth);
        /* released, or doomed: then the outermost rollback drops it with the rest */
        rec_level(db, db->depth, VR_REC_KEEP);
        db->depth--;
        return rc;
    }
    if (doomed) {
        char why[sizeof(db->last_error)];

        snprintf(why, sizeof(why), "%s", db->last_error);
        db->ops->rollback(db, 1);
        rec_level(db, 1, VR_REC_DROP);
        db->depth = 0;
        db->doomed = 0;
        vr_storage_error(db, doomed,
                         "storage: transaction rolled back because a call in it failed: %s",
                         why);
        return doomed;
    }
    rc = db->ops->commit(db, 1);
    if (rc) {
        /* The backend rolled back already or the commit left it open: either
         * way nothing of it may stay. */
        char why[sizeof(db->last_error)];

        snprintf(why, sizeof(why), "%s", db->last_error);
        db->ops->rollback(db, 1);
        vr_storage_error(db, rc, "%s (the transaction was rolled back)", why);
    }
    rec_level(db, 1, rc ? VR_REC_DROP : VR_REC_KEEP);
    db->depth = 0;
    db->doomed = 0;
    return rc;
}

int vr_db_abandon(verani_storage_db *db)
{
    int levels;

    if (!db || db->depth == 0)
        return 0;
    levels = db->depth;
    db->listing = 0;
    while (db->depth > 0)
        vr_db_rollback(db);
    vr_storage_error(db, VERANI_ESTATE,
                     "storage: a transaction was left open (%d level%s) and was rolled back: "
                     "commit or roll back before the handler returns",
                     levels, levels == 1 ? "" : "s");
    return levels;
}

/* End the transaction a vr_db_begin opened: roll it back after a failed `rc`, else commit. */
int vr_db_end(verani_storage_db *db, int rc)
{
    if (rc) {
        vr_db_rollback(db);
        return rc;
    }
    return vr_db_commit(db);
}

int verani_storage_begin(verani_storage *st)
{
    return st ? vr_db_begin(st->db) : VERANI_EINVAL;
}

int verani_storage_commit(verani_storage *st)
{
    return st ? vr_db_commit(st->db) : VERANI_EINVAL;
}

int verani_storage_rollback(verani_storage *st)
{
    return st ? vr_db_rollback(st->db) : VERANI_EINVAL;
}

int verani_storage_txn(verani_storage *st, int (*fn)(verani_storage *st, void *user), void *user)
{
    int rc;

    if (!st || !fn)
        return VERANI_EINVAL;
    rc = vr_db_begin(st->db);
    if (rc)
        return rc;
    return vr_db_end(st->db, fn(st, user));
}

/* --- schema messages ----------------------------------------------------- */

int verani_storage_put_message(verani_storage *st, const char *key, const ProtobufCMessage *msg)
{
    uint8_t small[512], *buf = small;
    size_t n;
    int rc;

    if (!st)
        return VERANI_EINVAL;
    if (!key || !msg)
        return vr_storage_error(st->db, VERANI_EINVAL, "storage: put_message needs a key and "
                                "a message");
    n = protobuf_c_message_get_packed_size(msg);
    if (n > sizeof(small)) {
        buf = vr_malloc(n);
        if (!buf)
            return vr_storage_error(st->db, VERANI_ENOMEM,
                                    "storage: out of memory packing a %zu-byte %s", n,
                                    msg->descriptor->name);
    }
    protobuf_c_message_pack(msg, buf);
    rc = verani_storage_put(st, key, strlen(key), buf, n);
    if (buf != small)
        vr_free(buf);
    return rc;
}

int verani_storage_get_message(verani_storage *st, const char *key,
                               const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
    uint8_t *v = NULL;
    size_t n = 0;
    int rc;

    if (out)
        *out = NULL;
    if (!st)
        return VERANI_EINVAL;
    if (!key || !desc || !out)
        return vr_storage_error(st->db, VERANI_EINVAL, "storage: get_message needs a key, a "
                                "descriptor and somewhere to put the message");
    rc = verani_storage_get(st, key, strlen(key), &v, &n);
    if (rc)
        return rc;
    *out = protobuf_c_message_unpack(desc, &vr_pb_allocator, n, v);
    vr_free(v);
    if (!*out)
        return vr_storage_error(st->db, VERANI_EIO,
                                "storage: the value of '%s' does not unpack as %s: it was "
                                "stored as another type, or is damaged",
                                key, desc->name);
    return 0;
}

void verani_storage_free_message(void *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked(msg, &vr_pb_allocator);
}

