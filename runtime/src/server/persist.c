/* SPDX-License-Identifier: MIT */
/*
 * persist.c: sessions in the session store (storage/). On a file store the
 * attachment is written at create, resume and channel changes, batched per
 * loop turn into one transaction and retried with a backoff when the store is
 * busy (a crash keeps identities, loses frames); a graceful stop saves every
 * session with its retained window, and listen restores them detached and
 * calls on_hibernation_restore. Nothing here runs per message.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/core-private.h"
#include "server-int.h"
#include "storage/storage-private.h"

/* Wall-clock milliseconds (what the store keeps: monotonic time does not survive a restart). */
/* Is the session store on a file (else saving is pointless: ":memory:" dies with us), and is
 * there a resume to save sessions for? Not on a cluster node: its sessions' records live in
 * Redis (cluster_replica.c), and it never restores sessions from its own file, so writing
 * them there would only cost (about 13 % of a node's CPU in the churn benchmark). */
int vr_store_persistent(const verani_server *srv)
{
    return srv->storage && srv->opts.storage_path && strcmp(srv->opts.storage_path, ":memory:") &&
           srv->opts.resume_grace_ms != VERANI_RESUME_OFF && !srv->opts.cluster.redis_address;
}

/* `a` borrows the session's strings. */
/* `c` holds the channel names `a` borrows (vr_chan_names_fini after). 0 or VERANI_ENOMEM. */
static int fill_attachment(const verani_session *s, vr_attachment *a, vr_chan_names *c)
{
    memset(a, 0, sizeof(*a));
    if (vr_chan_names_get(s, c))
        return VERANI_ENOMEM;
    memcpy(a->client_id, s->client_id, sizeof(s->client_id));
    vr_hex(a->resume_token, s->resume_token, sizeof(s->resume_token));
    vr_session_prev_hex(s, a->prev_token);
    a->user_id = s->user_id;
    a->room = (char *)s->inst->mount->def->schema->name;
    a->instance = s->inst->name;
    a->meta = s->meta;
    a->meta_len = s->meta_len;
    a->channels = c->v;
    a->n_channels = c->n;
    a->last_seq = s->seq;
    a->updated_ms = vr_wall_ms();
    return 0;
}

/*
 * On a file store, the attachment (ids, token, meta, channels, the seq so far)
 * is written when the session is created or resumed and when its channels
 * change, never per message: after a crash the session comes back with its
 * identity and channels, and its client learns that the frames are lost.
 * The writes of one loop turn go to the store together at its end, in one
 * transaction (vr_sessions_store_flush): a commit per connect and per close
 * made SQLite the limit of how many connections a second the server takes.
 */
void vr_attachment_store(verani_session *s)
{
    if (s->json)
        return; /* nothing to resume, restore or hand over: no record anywhere */
    vr_replica_session_save(s); /* a cluster node: its record in Redis too */
    if (!vr_store_persistent(s->srv) || !s->hello_done)
        return;
    if (!vr_session_ext_get(s)) {
        VR_WARN("session %s: out of memory: its attachment is not stored\n", s->client_id);
        return;
    }
    if (lws_dll2_is_detached(&s->x->store_node))
        lws_dll2_add_tail(&s->x->store_node, &s->srv->store_saves);
}

/* Remove the stored attachment of `client_id` now; one that is not there is no error. */
static void attachment_delete_now(verani_server *srv, const char *client_id)
{
    int r = vr_store_session_delete(srv->storage, client_id);

    if (r < 0 && r != VERANI_ENOTFOUND)
        VR_WARN("session %s: removing its stored attachment failed: %s\n", client_id,
                srv->storage->last_error);
}

/* The session's stored attachment is to go (at the end of the turn). */
void vr_attachment_delete(verani_session *s)
{
    verani_server *srv = s->srv;

    if (s->x)
        vr_dll2_unlink(&s->x->store_node); /* a save not made yet: the delete covers it */
    if (srv->n_store_deletes == srv->cap_store_deletes) {
        size_t ncap = srv->cap_store_deletes ? srv->cap_store_deletes * 2 : 16;
        char (*n)[37] = vr_realloc(srv->store_deletes, ncap * sizeof(*n));

        if (!n) { /* no room to defer it: delete now */
            attachment_delete_now(srv, s->client_id);
            return;
        }
        srv->store_deletes = n;
        srv->cap_store_deletes = ncap;
    }
    memcpy(srv->store_deletes[srv->n_store_deletes++], s->client_id, sizeof(s->client_id));
}

static void store_retry_cb(lws_sorted_usec_list_t *sul)
{
    verani_server *srv = lws_container_of(sul, verani_server, store_retry);

    srv->store_retry_pending = 0; /* the end of this loop turn writes again */
}

/* The store's writes of this turn failed: they all stay queued, and the next attempt waits
 * for a backoff (50 ms, doubling up to 1 s) instead of retrying each turn, whose every try
 * would cost the loop the busy timeout again. */
static void store_failed(verani_server *srv)
{
    srv->store_backoff_ms = srv->store_backoff_ms ? srv->store_backoff_ms * 2 : 50;
    if (srv->store_backoff_ms > 1000)
        srv->store_backoff_ms = 1000;
    if (!srv->store_failures++)
        VR_WARN("session store: %s; %u attachment(s) and %zu removal(s) are kept and retried "
                "until they are written\n", srv->storage->last_error, srv->store_saves.count,
                srv->n_store_deletes);
    if (srv->ctx && !srv->stopping) {
        srv->store_retry_pending = 1;
        lws_sul_schedule(srv->ctx, 0, &srv->store_retry, store_retry_cb,
                         (lws_usec_t)srv->store_backoff_ms * LWS_US_PER_MS);
    }
}

void vr_sessions_store_flush(verani_server *srv)
{
    /* stopping (or the loop is gone): nothing else waits, so the last writes may wait longer */
    int last = !srv->ctx || srv->stopping, r, began;
    size_t i;

    if (!srv->store_saves.count && !srv->n_store_deletes)
        return;
    if (srv->store_retry_pending && !last)
        return;
    if (last)
        vr_db_busy_timeout(srv->storage, VR_STORAGE_STOP_BUSY_MS);
    r = vr_db_begin(srv->storage);
    began = !r;
    /* Nothing leaves the lists before the commit: on any failure all of it is tried again. */
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&srv->store_saves)) {
        vr_attachment a;
        vr_chan_names c;

        if (r)
            break;
        r = fill_attachment(lws_container_of(d, vr_session_ext, store_node)->s, &a, &c);
        if (!r)
            r = vr_store_session_save(srv->storage, &a);
        vr_chan_names_fini(&c);
    } lws_end_foreach_dll(d);
    for (i = 0; !r && i < srv->n_store_deletes; i++) {
        r = vr_store_session_delete(srv->storage, srv->store_deletes[i]);
        r = r == VERANI_ENOTFOUND ? 0 : r;
    }
    if (!r)
        r = vr_db_commit(srv->storage);
    else if (began)
        vr_db_rollback(srv->storage);
    if (last)
        vr_db_busy_timeout(srv->storage, srv->opts.storage_busy_timeout_ms);
    if (r) {
        store_failed(srv);
        return;
    }
    if (srv->store_failures)
        VR_NOTICE("session store: written again after %u failed attempt(s)\n",
                  srv->store_failures);
    srv->store_failures = 0;
    srv->store_backoff_ms = 0;
    while (srv->store_saves.head)
        lws_dll2_remove(srv->store_saves.head);
    srv->n_store_deletes = 0;
}

/* --- a graceful restart: sessions saved at stop, restored detached ----------- */

static int session_save(verani_session *s, int64_t now_ms, int64_t now_us)
{
    verani_storage_db *db = s->srv->storage;
    vr_attachment a;
    vr_chan_names c;
    uint32_t i;
    int r;

    /* the window in memory is within its count bound; its age bound applies now */
    vr_retain_trim(&s->retained, now_us - (int64_t)s->srv->opts.retain_max_age_ms * 1000);
    if (fill_attachment(s, &a, &c))
        return VERANI_ENOMEM;
    a.updated_ms = now_ms;
    /* the seq stream goes on in the next server: its epoch with it (a running server's
     * attachments have none, so after a crash the next server starts a new one) */
    memcpy(a.epoch, s->epoch, sizeof(a.epoch));
    /* the frames stored before (a restored session) go: the window is in memory */
    r = vr_store_session_delete(db, s->client_id);
    r = r == VERANI_ENOTFOUND ? 0 : r;
    if (!r)
        r = vr_store_session_save(db, &a);
    vr_chan_names_fini(&c);
    for (i = 0; !r && i < s->retained.count; i++) {
        const vr_qent *e = vr_outq_at(&s->retained, i);

        r = vr_store_frame_put(db, s->client_id, e->seq,
                               now_ms - (now_us - e->frame->t_us) / 1000, e->frame->body,
                               e->frame->len);
    }
    return r;
}

int vr_sessions_save(verani_server *srv)
{
    int64_t now_ms = vr_wall_ms(), now_us = vr_now_us();
    size_t i, n = 0;
    int r = 0;

    if (!vr_store_persistent(srv))
        return 0;
    vr_sessions_store_flush(srv); /* what the last turn left, first */
    /* the loop serves nobody now: the final save may wait for another process's lock */
    vr_db_busy_timeout(srv->storage, VR_STORAGE_STOP_BUSY_MS);
    r = vr_db_begin(srv->storage);
    vr_db_busy_timeout(srv->storage, srv->opts.storage_busy_timeout_ms);
    if (r) {
        VR_ERR("saving sessions for a restart failed: %s\n", srv->storage->last_error);
        return VERANI_EIO;
    }
    for (i = 0; !r && i < srv->n_mounts; i++) {
        lws_start_foreach_dll(struct lws_dll2 *, d,
                              lws_dll2_get_head(&srv->mounts[i]->instances)) {
            vr_instance *inst = lws_container_of(d, vr_instance, node);

            lws_start_foreach_dll(struct lws_dll2 *, e, lws_dll2_get_head(&inst->sessions)) {
                verani_session *s = lws_container_of(e, verani_session, node);

                if (!r && s->hello_done && s->added && !s->json) {
                    r = session_save(s, now_ms, now_us);
                    s->saved = !r;
                    n++;
                }
            } lws_end_foreach_dll(e);
        } lws_end_foreach_dll(d);
    }
    if (r || vr_db_commit(srv->storage)) {
        VR_ERR("saving sessions for a restart failed: %s\n", srv->storage->last_error);
        vr_db_abandon(srv->storage);
        for (i = 0; i < srv->n_mounts; i++) /* none of them is saved after all */
            lws_start_foreach_dll(struct lws_dll2 *, d,
                                  lws_dll2_get_head(&srv->mounts[i]->instances)) {
                vr_instance *inst = lws_container_of(d, vr_instance, node);

                lws_start_foreach_dll(struct lws_dll2 *, e, lws_dll2_get_head(&inst->sessions)) {
                    lws_container_of(e, verani_session, node)->saved = 0;
                } lws_end_foreach_dll(e);
            } lws_end_foreach_dll(d);
        return VERANI_EIO;
    }
    VR_NOTICE("saved %zu session(s) for a restart\n", n);
    return 0;
}

void vr_session_resave(verani_session *s)
{
    verani_storage_db *db = s->srv->storage;
    int r;

    s->resave = 0;
    if (!vr_store_persistent(s->srv))
        return;
    r = vr_db_begin(db);
    if (!r && (r = session_save(s, vr_wall_ms(), vr_now_us())) != 0)
        vr_db_abandon(db);
    else if (!r)
        r = vr_db_commit(db);
    if (r)
        VR_ERR("session %s: saving it again for a restart failed (%s): what it answered "
               "after the 1012 is lost\n", s->client_id, db->last_error);
}

/* --- restore --- */

typedef struct vr_named {
    struct vr_named *next;
    char *room, *instance;       /* owned */
} vr_named;

static int collect_instance(const char *room, const char *instance, void *user)
{
    vr_named **head = user, *n = vr_calloc(1, sizeof(*n));

    if (!n)
        return VERANI_ENOMEM;
    n->room = vr_strdup(room);
    n->instance = vr_strdup(instance);
    n->next = *head;
    *head = n;
    return !n->room || !n->instance ? VERANI_ENOMEM : 0;
}

typedef struct vr_restoring {
    verani_server *srv;
    vr_instance *inst;
    verani_session **list;       /* owned array of new sessions */
    size_t n, cap;
} vr_restoring;

verani_session *vr_session_restored(verani_server *srv, vr_instance *inst,
                                    const vr_attachment *a)
{
    verani_session *s = vr_calloc(1, sizeof(*s));
    size_t i;

    if (!s)
        return NULL;
    s->srv = srv;
    s->inst = inst;
    vr_outq_init(&s->q);
    vr_outq_init(&s->retained);
    snprintf(s->client_id, sizeof(s->client_id), "%s", a->client_id);
    /* a token that is not one of ours (32 hex digits) resumes nothing: a random one */
    if (vr_unhex(s->resume_token, a->resume_token, sizeof(s->resume_token)) &&
        vr_random(s->resume_token, sizeof(s->resume_token)))
        goto fail;
    vr_session_prev_token_set_hex(s, a->prev_token); /* its time counts from now */
    s->user_id = vr_strdup(a->user_id ? a->user_id : "");
    s->meta = a->meta_len ? vr_malloc(a->meta_len) : NULL;
    if (!s->user_id || (a->meta_len && !s->meta))
        goto fail;
    if (a->meta_len)
        memcpy(s->meta, a->meta, a->meta_len);
    s->meta_len = a->meta_len;
    for (i = 0; i < a->n_channels; i++)
        if (vr_session_channel_add(s, a->channels[i]) < 0)
            goto fail;
    if (a->epoch[0]) { /* saved by a graceful stop, frames and all: the stream goes on */
        snprintf(s->epoch, sizeof(s->epoch), "%s", a->epoch);
        s->seq = a->last_seq;
    } else {           /* a crash: what its stream held is gone, a new one starts */
        memcpy(s->epoch, srv->epoch, sizeof(s->epoch));
        s->seq = 0;
    }
    return s;
fail:
    vr_session_free(s);
    return NULL;
}

static int restore_one(const vr_attachment *a, void *user)
{
    vr_restoring *st = user;
    verani_session **nl;

    if (st->n == st->cap) {
        nl = vr_reallocarray(st->list, st->cap ? st->cap * 2 : 8, sizeof(*nl));
        if (!nl)
            return VERANI_ENOMEM;
        st->list = nl;
        st->cap = st->cap ? st->cap * 2 : 8;
    }
    st->list[st->n] = vr_session_restored(st->srv, st->inst, a);
    return st->list[st->n++] ? 0 : VERANI_ENOMEM;
}

static int restore_frame(uint64_t seq, int64_t at_ms, const uint8_t *bytes, size_t len,
                         void *user)
{
    verani_session *s = user;
    vr_frame *f = vr_frame_new(len);
    int r;

    if (!f)
        return VERANI_ENOMEM;
    memcpy(f->body, bytes, len);
    f->t_us = vr_now_us() - (vr_wall_ms() - at_ms) * 1000;
    r = vr_outq_push(&s->retained, f, seq, UINT32_MAX, SIZE_MAX);
    vr_frame_unref(f);
    return r;
}

/* Bring one stored instance back: its sessions detached, then on_hibernation_restore. */
static int restore_instance(verani_server *srv, const vr_named *nm)
{
    vr_restoring st;
    vr_mount *m = NULL;
    size_t i;
    int r;

    m = vr_mount_find(srv, nm->room);
    memset(&st, 0, sizeof(st));
    st.srv = srv;
    st.inst = m ? vr_instance_get(m, nm->instance, 1) : NULL;
    if (!st.inst)
        return m ? VERANI_ENOMEM : 0; /* a room no longer mounted: its sessions are dropped */
    r = vr_store_sessions_list(srv->storage, nm->room, nm->instance, restore_one, &st);
    for (i = 0; r >= 0 && i < st.n; i++) {
        /* a crash-restored session is in this server's epoch: older frames are not its */
        if (strcmp(st.list[i]->epoch, srv->epoch))
            r = vr_store_frames_read(srv->storage, st.list[i]->client_id, 0, 0, restore_frame,
                                     st.list[i]);
    }
    if (r < 0) {
        for (i = 0; i < st.n; i++)
            if (st.list[i])
                vr_session_free(st.list[i]);
        vr_free(st.list);
        vr_instance_maybe_free(st.inst);
        return r;
    }
    vr_sessions_restored_attach(st.inst, st.list, st.n);
    vr_free(st.list);
    return 0;
}

void vr_sessions_restored_attach(vr_instance *inst, verani_session **list, size_t n)
{
    verani_server *srv = inst->mount->srv;
    const verani_room_schema *sc = inst->mount->def->schema;
    const verani_hooks *h = vr_hooks_of(inst->mount);
    struct verani_ctx ctx;
    size_t i;

    for (i = 0; i < n; i++) {
        verani_session *s = list[i];

        s->hello_done = 1;
        s->added = 1;
        vr_bucket_init(&s->bucket, vr_session_rate(s), lws_now_usecs());
        lws_dll2_add_tail(&s->node, &inst->sessions);
        lws_dll2_add_tail(&s->all, &srv->detached);
        s->detached = 1;
        s->last_rx_us = lws_now_usecs(); /* a fresh grace period (sweep.c) */
    }
    VR_NOTICE("instance %s '%s': %zu session(s) restored\n", sc->name, inst->name, n);
    if (h->on_hibernation_restore && n) {
        vr_ctx_init(&ctx, srv, inst->mount, inst, NULL);
        vr_hook_call(&ctx, VR_HOOK_RESTORE, NULL);
        vr_ctx_fini(&ctx);
    }
}

int vr_sessions_restore(verani_server *srv)
{
    vr_named *head = NULL, *n;
    int r;

    if (!vr_store_persistent(srv))
        return 0;
    r = vr_store_instances_list(srv->storage, collect_instance, &head);
    while (head) {
        n = head;
        head = n->next;
        if (r >= 0 && restore_instance(srv, n) < 0) {
            VR_ERR("restoring the sessions of %s '%s' failed: %s\n", n->room, n->instance,
                   srv->storage->last_error);
            r = VERANI_EIO;
        }
        vr_free(n->room);
        vr_free(n->instance);
        vr_free(n);
    }
    vr_sessions_detached_bound(srv); /* a store written by a server with a higher max_detached */
    return r < 0 ? r : 0;
}
