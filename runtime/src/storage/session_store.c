/* SPDX-License-Identifier: MIT */
/*
 * session_store.c: the backend-neutral half of the session store (the
 * vr_store_* calls of storage-private.h): each session's attachment and the
 * frames it may replay, with the same argument checks, list guard and
 * transaction rules as room storage (storage.c), through the backend's
 * vr_storage_ops. It stores nothing itself.
 */
#include <stdio.h>
#include <string.h>

#include "core/core-private.h"
#include "storage-int.h"
#include "storage-private.h"

void vr_attachment_fini(vr_attachment *a)
{
    size_t i;

    if (!a)
        return;
    vr_free(a->user_id);
    vr_free(a->room);
    vr_free(a->instance);
    vr_free(a->meta);
    for (i = 0; i < a->n_channels; i++)
        vr_free(a->channels[i]);
    vr_free(a->channels);
    memset(a, 0, sizeof(*a));
}

static int check_client_id(verani_storage_db *db, const char *client_id)
{
    if (!db)
        return VERANI_EINVAL;
    if (!client_id || !*client_id || strlen(client_id) > 36)
        return vr_storage_error(db, VERANI_EINVAL,
                                "session store: a client id must be 1 to 36 characters");
    return 0;
}

int vr_store_session_save(verani_storage_db *db, const vr_attachment *a)
{
    int rc;
    size_t i;

    if (!db || !a)
        return VERANI_EINVAL;
    if ((rc = check_client_id(db, a->client_id)))
        return rc;
    if (!a->user_id || !vr_storage_valid_name(a->room) || !vr_storage_valid_name(a->instance) ||
        (a->meta_len && !a->meta) || (a->n_channels && !a->channels))
        return vr_storage_error(db, VERANI_EINVAL,
                                "session store: an attachment needs a user id, room, instance, "
                                "and its meta and channels when their counts are nonzero");
    for (i = 0; i < a->n_channels; i++)
        if (!a->channels[i])
            return vr_storage_error(db, VERANI_EINVAL, "session store: channel %zu is NULL", i);
    if ((rc = vr_storage_check_writable(db, "session save")))
        return rc;
    return db->ops->sess_save(db, a);
}

int vr_store_session_load(verani_storage_db *db, const char *client_id, vr_attachment *out)
{
    int rc;

    if (!out)
        return VERANI_EINVAL;
    memset(out, 0, sizeof(*out));
    if ((rc = check_client_id(db, client_id)))
        return rc;
    return db->ops->sess_load(db, client_id, NULL, out);
}

int vr_store_session_find_token(verani_storage_db *db, const char *token, vr_attachment *out)
{
    if (!db || !out)
        return VERANI_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!token || !*token)
        return vr_storage_error(db, VERANI_EINVAL, "session store: empty resume token");
    return db->ops->sess_load(db, NULL, token, out);
}

int vr_store_session_set_seq(verani_storage_db *db, const char *client_id, uint64_t last_seq)
{
    int rc;

    if ((rc = check_client_id(db, client_id)))
        return rc;
    if ((rc = vr_storage_check_writable(db, "session seq update")))
        return rc;
    return db->ops->sess_set_seq(db, client_id, last_seq);
}

int vr_store_instances_list(verani_storage_db *db, vr_instance_fn fn, void *user)
{
    int rc;

    if (!db)
        return VERANI_EINVAL;
    if (!fn)
        return vr_storage_error(db, VERANI_EINVAL, "session store: list needs a callback");
    if ((rc = vr_storage_check_not_listing(db, "instance list")))
        return rc;
    db->listing = 1;
    rc = db->ops->instances_list(db, fn, user);
    db->listing = 0;
    return rc;
}

int vr_store_session_delete(verani_storage_db *db, const char *client_id)
{
    int rc;

    if ((rc = check_client_id(db, client_id)))
        return rc;
    if ((rc = vr_storage_check_writable(db, "session delete")))
        return rc;
    /* The attachment and its frames go together or not at all. */
    if ((rc = vr_db_begin(db)))
        return rc;
    return vr_db_end(db, db->ops->sess_delete(db, client_id));
}

int vr_store_sessions_list(verani_storage_db *db, const char *room, const char *instance,
                           vr_attachment_fn fn, void *user)
{
    int rc;

    if (!db || !fn || !vr_storage_valid_name(room) || !vr_storage_valid_name(instance))
        return db ? vr_storage_error(db, VERANI_EINVAL,
                                     "session store: list needs a room, instance and callback")
                  : VERANI_EINVAL;
    if ((rc = vr_storage_check_not_listing(db, "session list")))
        return rc;
    db->listing = 1;
    rc = db->ops->sess_list(db, room, instance, fn, user);
    db->listing = 0;
    return rc;
}

static void retention(const vr_retention *ret, size_t *count, int64_t *age)
{
    *count = ret && ret->max_frames ? ret->max_frames : 1000;
    *age = ret && ret->max_age_ms ? ret->max_age_ms : 120000;
}

int vr_store_frames_trim(verani_storage_db *db, const char *client_id, int64_t now_ms,
                         const vr_retention *ret)
{
    size_t count;
    int64_t age;
    int rc;

    if ((rc = check_client_id(db, client_id)))
        return rc;
    if ((rc = vr_storage_check_writable(db, "frame trim")))
        return rc;
    retention(ret, &count, &age);
    return db->ops->frame_trim(db, client_id, count, now_ms - age);
}

/* The checks of a frame to store: a valid client id, bytes for a length, a size it allows. */
static int check_frame(verani_storage_db *db, const char *client_id, const uint8_t *bytes,
                       size_t len)
{
    int rc;

    if ((rc = check_client_id(db, client_id)))
        return rc;
    if (!bytes && len)
        return vr_storage_error(db, VERANI_EINVAL, "session store: frame bytes are NULL");
    if (len > VERANI_STORAGE_VALUE_MAX)
        return vr_storage_error(db, VERANI_ETOOBIG, "session store: a frame of %zu bytes", len);
    return 0;
}

int vr_store_frame_append(verani_storage_db *db, const char *client_id, uint64_t seq,
                          int64_t at_ms, const uint8_t *bytes, size_t len,
                          const vr_retention *ret)
{
    size_t count;
    int64_t age;
    int rc;

    if ((rc = check_frame(db, client_id, bytes, len)))
        return rc;
    retention(ret, &count, &age);
    if ((rc = vr_db_begin(db)))
        return rc;
    rc = db->ops->frame_append(db, client_id, seq, at_ms, bytes, len);
    if (!rc)
        rc = db->ops->frame_trim(db, client_id, count, at_ms - age);
    return vr_db_end(db, rc);
}

int vr_store_frame_put(verani_storage_db *db, const char *client_id, uint64_t seq,
                       int64_t at_ms, const uint8_t *bytes, size_t len)
{
    int rc;

    if ((rc = check_frame(db, client_id, bytes, len)) || (rc = vr_storage_check_writable(db, "frame put")))
        return rc;
    return db->ops->frame_append(db, client_id, seq, at_ms, bytes, len);
}

int vr_store_frames_read(verani_storage_db *db, const char *client_id, uint64_t after_seq,
                         size_t limit, vr_retained_fn fn, void *user)
{
    int rc;

    if ((rc = check_client_id(db, client_id)))
        return rc;
    if (!fn)
        return vr_storage_error(db, VERANI_EINVAL, "session store: read needs a callback");
    if ((rc = vr_storage_check_not_listing(db, "frame read")))
        return rc;
    db->listing = 1;
    rc = db->ops->frame_read(db, client_id, after_seq, limit, fn, user);
    db->listing = 0;
    return rc;
}

int vr_store_frames_range(verani_storage_db *db, const char *client_id, uint64_t *first,
                          uint64_t *last, size_t *count)
{
    uint64_t f = 0, l = 0;
    size_t n = 0;
    int rc;

    if ((rc = check_client_id(db, client_id)))
        return rc;
    rc = db->ops->frame_range(db, client_id, &f, &l, &n);
    if (first)
        *first = f;
    if (last)
        *last = l;
    if (count)
        *count = n;
    return rc;
}

/* --- the instances' alarms --- */

int vr_store_alarm_set(verani_storage_db *db, const char *room, const char *instance,
                       int64_t at_ms)
{
    int rc;

    if (!db || !room || !instance)
        return VERANI_EINVAL;
    if ((rc = vr_storage_check_writable(db, "alarm")))
        return rc;
    return db->ops->alarm_set(db, room, instance, at_ms);
}

int vr_store_alarms_list(verani_storage_db *db, vr_alarm_fn fn, void *user)
{
    int rc;

    if (!db || !fn)
        return VERANI_EINVAL;
    if ((rc = vr_storage_check_not_listing(db, "alarm list")))
        return rc;
    db->listing = 1;
    rc = db->ops->alarm_list(db, fn, user);
    db->listing = 0;
    return rc;
}
