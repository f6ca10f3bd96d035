/* SPDX-License-Identifier: MIT */
/*
 * cluster_handover.c: an instance moved by a graceful stop loses nothing
 * (shared/SCALEOUT.md section 3.8). The stopping owner packs each instance's
 * sessions (ids, token, user, meta, channels, the seq stream) and their
 * retained windows into one Handover (cluster.proto), each distinct frame
 * body once however many sessions hold it (a fan-out frame is encoded once,
 * kept once in memory, and stored once in Redis), stores it and releases the
 * instance in one script (cluster/handover.c), and closes the connections
 * with 1012. The sessions wait here, detached, until Redis answers: stored,
 * they end without on_disconnect (the next owner answers for them); not, they
 * end as at any stop. The next owner reads and deletes the handover right
 * after its claim, restores the sessions detached with their windows and a
 * fresh grace, runs on_hibernation_restore once, and then lets in the
 * connections that waited: every client resumes with every frame once.
 *
 * Ownership: a packed Handover is the packer's until sent (the engine copies
 * it); an unpacked one is freed after the restore, whose frames the restored
 * windows reference. Loop thread only.
 */
#include <stdio.h>
#include <string.h>

#include "cluster.pb-c.h"
#include "cluster/cluster-private.h"
#include "core/core-private.h"
#include "server-int.h"
#include "storage/storage-private.h"

/* --- packing: each distinct frame once ---------------------------------------------------- */

/* Frame pointer -> index in the Handover's frames: open addressing, a power-of-two size at
 * least twice the entries. */
typedef struct ho_index {
    const vr_frame **keys;
    uint32_t *idx;
    size_t cap;
} ho_index;

static int index_init(ho_index *x, size_t entries)
{
    x->cap = 16;
    while (x->cap < entries * 2)
        x->cap *= 2;
    x->keys = vr_calloc(x->cap, sizeof(*x->keys));
    x->idx = vr_calloc(x->cap, sizeof(*x->idx));
    return x->keys && x->idx ? 0 : VERANI_ENOMEM;
}

static void index_fini(ho_index *x)
{
    vr_free(x->keys);
    vr_free(x->idx);
}

/* The slot of `f`: its own, or the empty one where it goes. */
static size_t index_slot(const ho_index *x, const vr_frame *f)
{
    size_t h = ((uintptr_t)f >> 4) * 0x9E3779B97F4A7C15ull, i = h & (x->cap - 1);

    while (x->keys[i] && x->keys[i] != f)
        i = (i + 1) & (x->cap - 1);
    return i;
}

typedef struct ho_pack {
    Verani__Cluster__Handover ho;
    Verani__Cluster__HandoverFrame *frames;      /* ho.frames points into it */
    Verani__Cluster__HandoverSession *sessions;  /* ho.sessions points into it */
    char (*tokens)[2][33];                       /* sessions[i].resume_token and prev_token
                                                    point into it */
} ho_pack;

static void pack_free(ho_pack *p)
{
    size_t i;

    for (i = 0; p->sessions && i < p->ho.n_sessions; i++) {
        vr_free(p->sessions[i].seqs);
        vr_free(p->sessions[i].frames);
        vr_free(p->sessions[i].channels); /* the array; the names are the channels' */
    }
    vr_free(p->sessions);
    vr_free(p->tokens);
    vr_free(p->frames);
    vr_free(p->ho.frames);
    vr_free(p->ho.sessions);
}

/* Does the session go with the instance (a session: its HELLO done, in the instance)? */
static int handed(const verani_session *s)
{
    return s->hello_done && s->added && !s->json; /* Verani's client never resumes */
}

/* One session into `hs` (borrowing its strings), its window's frames into the index. */
static int pack_session(ho_pack *p, ho_index *x, verani_session *s,
                        Verani__Cluster__HandoverSession *hs, int64_t now_ms, int64_t now_us)
{
    char (*tok)[33] = p->tokens[p->ho.n_sessions - 1];
    uint32_t i;

    vr_retain_trim(&s->retained, now_us - (int64_t)s->srv->opts.retain_max_age_ms * 1000);
    verani__cluster__handover_session__init(hs);
    hs->client_id = s->client_id;
    vr_hex(tok[0], s->resume_token, sizeof(s->resume_token));
    hs->resume_token = tok[0];
    vr_session_prev_hex(s, tok[1]);
    hs->prev_token = *tok[1] ? tok[1] : NULL;
    hs->user_id = s->user_id ? s->user_id : "";
    hs->has_meta = 1;
    hs->meta.data = s->meta;
    hs->meta.len = s->meta_len;
    hs->channels = vr_calloc(s->n_channels + 1, sizeof(*hs->channels));
    if (!hs->channels)
        return VERANI_ENOMEM;
    for (i = 0; i < s->n_channels; i++)
        hs->channels[hs->n_channels++] = (char *)vr_session_chan_name(s, i);
    hs->has_last_seq = 1;
    hs->last_seq = s->seq;
    hs->epoch = s->epoch;
    hs->seqs = vr_calloc(s->retained.count + 1, sizeof(*hs->seqs));
    hs->frames = vr_calloc(s->retained.count + 1, sizeof(*hs->frames));
    if (!hs->seqs || !hs->frames)
        return VERANI_ENOMEM;
    for (i = 0; i < s->retained.count; i++) {
        const vr_qent *e = vr_outq_at(&s->retained, i);
        size_t slot;

        if (!e->seq)
            continue; /* no seq: nothing a resume replays */
        slot = index_slot(x, e->frame);
        if (!x->keys[slot]) {
            Verani__Cluster__HandoverFrame *hf = &p->frames[p->ho.n_frames];

            verani__cluster__handover_frame__init(hf);
            hf->has_body = hf->has_at_ms = 1;
            hf->body.data = e->frame->body;
            hf->body.len = e->frame->len;
            hf->at_ms = now_ms - (now_us - e->frame->t_us) / 1000;
            p->ho.frames[p->ho.n_frames] = hf;
            x->keys[slot] = e->frame;
            x->idx[slot] = (uint32_t)p->ho.n_frames++;
        }
        hs->seqs[hs->n_seqs++] = e->seq;
        hs->frames[hs->n_frames++] = x->idx[slot];
    }
    return 0;
}

/* The instance's Handover, packed into *out (the caller's to free); 0 or VERANI_ENOMEM. */
static int pack_instance(vr_instance *inst, uint8_t **out, size_t *out_len, size_t *n_sessions,
                         size_t *n_frames)
{
    int64_t now_ms = vr_wall_ms(), now_us = vr_now_us();
    const verani_room_schema *sc = inst->mount->def->schema;
    size_t sessions = 0, entries = 0, k = 0;
    ho_index x;
    ho_pack p;
    int r;

    memset(&p, 0, sizeof(p));
    memset(&x, 0, sizeof(x));
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&inst->sessions)) {
        verani_session *s = lws_container_of(d, verani_session, node);

        sessions += handed(s);
        entries += handed(s) ? s->retained.count : 0;
    } lws_end_foreach_dll(d);
    verani__cluster__handover__init(&p.ho);
    p.ho.room = (char *)sc->name;
    p.ho.instance = inst->name;
    p.ho.fingerprint = (char *)(sc->fingerprint ? sc->fingerprint : "");
    p.frames = vr_calloc(entries + 1, sizeof(*p.frames));
    p.ho.frames = vr_calloc(entries + 1, sizeof(*p.ho.frames));
    p.sessions = vr_calloc(sessions + 1, sizeof(*p.sessions));
    p.tokens = vr_calloc(sessions + 1, sizeof(*p.tokens));
    p.ho.sessions = vr_calloc(sessions + 1, sizeof(*p.ho.sessions));
    r = !p.frames || !p.ho.frames || !p.sessions || !p.tokens || !p.ho.sessions ? VERANI_ENOMEM
                                                                    : index_init(&x, entries);
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&inst->sessions)) {
        verani_session *s = lws_container_of(d, verani_session, node);

        if (!r && handed(s)) {
            p.ho.sessions[k] = &p.sessions[k];
            p.ho.n_sessions = ++k;
            r = pack_session(&p, &x, s, &p.sessions[k - 1], now_ms, now_us);
        }
    } lws_end_foreach_dll(d);
    *out = NULL;
    if (!r) {
        *out_len = verani__cluster__handover__get_packed_size(&p.ho);
        *out = vr_malloc(*out_len ? *out_len : 1);
        if (*out)
            verani__cluster__handover__pack(&p.ho, *out);
        else
            r = VERANI_ENOMEM;
    }
    *n_sessions = p.ho.n_sessions;
    *n_frames = p.ho.n_frames;
    index_fini(&x);
    pack_free(&p);
    return r;
}

/* --- the stop: stored, then released ------------------------------------------------------ */

/* What the answer needs to find the instance again (it may be gone by then). */
typedef struct ho_saving {
    verani_server *srv;
    char *room, *instance;       /* owned */
} ho_saving;

/* Every handed session of `inst` ends once its connection is gone (`stored`: without
 * on_disconnect). */
static void sessions_handed(vr_instance *inst, int stored)
{
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&inst->sessions)) {
        verani_session *s = lws_container_of(d, verani_session, node);

        if (s->handover)
            vr_session_handed(s, stored); /* may free the instance with its last session */
    } lws_end_foreach_dll_safe(d, d1);
}

static void on_saved(vr_cluster *c, int result, void *arg)
{
    ho_saving *sv = arg;
    verani_server *srv = sv->srv;
    vr_instance *inst = vr_instance_find(srv, sv->room, sv->instance);

    (void)c;
    if (srv->handovers)
        srv->handovers--;
    if (result == 1) {
        srv->ho_stats.saved++;
        VR_NOTICE("cluster: instance %s '%s' handed over: its sessions resume at the next "
                  "owner\n", sv->room, sv->instance);
    } else if (result == 0) {
        srv->ho_stats.failed++;
        VR_WARN("cluster: instance %s '%s' was not this node's any more at the stop: its "
                "sessions are its owner's\n", sv->room, sv->instance);
    } else {
        srv->ho_stats.failed++;
        VR_ERR("cluster: the handover of instance %s '%s' failed (%s): its sessions end here "
               "(on_disconnect), their clients start again at the next owner\n", sv->room,
               sv->instance, verani_strerror(result));
    }
    if (inst && inst->own == VR_OWN_HANDED)
        sessions_handed(inst, result >= 0);
    vr_free(sv->room);
    vr_free(sv->instance);
    vr_free(sv);
}

/* Hand `inst` over: 1 when it went to Redis, 0 when there was nothing to hand or it could
 * not go (its sessions then end as at any stop). */
static int hand_over(verani_server *srv, vr_instance *inst)
{
    const char *room = inst->mount->def->schema->name;
    uint32_t lease = srv->opts.cluster.lease_ms ? srv->opts.cluster.lease_ms : 5000;
    size_t len = 0, n_sessions = 0, n_frames = 0;
    uint8_t *blob = NULL;
    ho_saving *sv;
    int r;

    r = pack_instance(inst, &blob, &len, &n_sessions, &n_frames);
    if (!r && !n_sessions) {
        vr_free(blob);
        return 0;
    }
    sv = vr_calloc(1, sizeof(*sv));
    if (!r && sv) {
        sv->srv = srv;
        sv->room = vr_strdup(room);
        sv->instance = vr_strdup(inst->name);
        r = !sv->room || !sv->instance ? VERANI_ENOMEM : 0;
    } else if (!r) {
        r = VERANI_ENOMEM;
    }
    if (!r)
        r = vr_cluster_handover_save(srv->cluster, room, inst->name, inst->epoch, blob, len,
                                     srv->opts.resume_grace_ms + lease, on_saved, sv);
    vr_free(blob);
    if (r) {
        srv->ho_stats.failed++;
        VR_ERR("cluster: instance %s '%s' cannot be handed over (%s): its sessions end here\n",
               room, inst->name, verani_strerror(r));
        if (sv) {
            vr_free(sv->room);
            vr_free(sv->instance);
            vr_free(sv);
        }
        return 0;
    }
    VR_INFO("cluster: handing over instance %s '%s': %zu session(s), %zu distinct frame(s), "
            "%zu bytes\n", room, inst->name, n_sessions, n_frames, len);
    inst->own = VR_OWN_HANDED;
    inst->epoch = 0; /* released with the handover: nothing to release when it goes */
    return 1;
}

/* Its connections close with 1012, each session kept detached until Redis answers. Not in
 * the loop over instances: lws's list macros advance at the end of each pass, so a pass
 * must not `continue`. */
static void close_handed(vr_instance *inst)
{
    lws_start_foreach_dll(struct lws_dll2 *, e, lws_dll2_get_head(&inst->sessions)) {
        verani_session *s = lws_container_of(e, verani_session, node);

        if (handed(s)) {
            s->handover = 1;
            if (s->wsi)
                vr_session_close(s, VR_CLOSE_RESTART, VR_CLOSE_RESTART_REASON, 0);
        }
    } lws_end_foreach_dll(e);
}

void vr_handover_start(verani_server *srv)
{
    size_t i;

    if (!srv->cluster || srv->opts.resume_grace_ms == VERANI_RESUME_OFF)
        return;
    for (i = 0; i < srv->n_mounts; i++)
        lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1,
                                   lws_dll2_get_head(&srv->mounts[i]->instances)) {
            vr_instance *inst = lws_container_of(d, vr_instance, node);

            if (inst->own == VR_OWN_HELD && inst->epoch && hand_over(srv, inst)) {
                srv->handovers++;
                close_handed(inst);
            }
        } lws_end_foreach_dll_safe(d, d1);
}

void vr_handover_abandon(verani_server *srv)
{
    size_t i;

    if (!srv->handovers)
        return;
    VR_WARN("cluster: Redis did not answer %u handover(s) before the stop ended: their "
            "sessions are left to the next owner (no on_disconnect here)\n", srv->handovers);
    srv->handovers = 0;
    for (i = 0; i < srv->n_mounts; i++)
        lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1,
                                   lws_dll2_get_head(&srv->mounts[i]->instances)) {
            vr_instance *inst = lws_container_of(d, vr_instance, node);

            if (inst->own == VR_OWN_HANDED)
                sessions_handed(inst, 1);
        } lws_end_foreach_dll_safe(d, d1);
}

/* --- the claim: read, then restored ------------------------------------------------------- */

/* One stored session as the store's attachment (borrowing its strings); 0, or -1 when a field
 * does not fit. */
static int to_attachment(const Verani__Cluster__HandoverSession *hs, vr_attachment *a,
                         int need_epoch)
{
    const char *epoch = need_epoch && hs->epoch ? hs->epoch : "";

    memset(a, 0, sizeof(*a));
    if (!hs->client_id || strlen(hs->client_id) >= sizeof(a->client_id) || !hs->resume_token ||
        strlen(hs->resume_token) >= sizeof(a->resume_token) || (need_epoch && !*epoch) ||
        strlen(epoch) >= sizeof(a->epoch))
        return -1;
    snprintf(a->client_id, sizeof(a->client_id), "%s", hs->client_id);
    snprintf(a->resume_token, sizeof(a->resume_token), "%s", hs->resume_token);
    if (hs->prev_token && strlen(hs->prev_token) < sizeof(a->prev_token))
        snprintf(a->prev_token, sizeof(a->prev_token), "%s", hs->prev_token);
    snprintf(a->epoch, sizeof(a->epoch), "%s", epoch);
    a->user_id = hs->user_id;
    a->meta = hs->meta.data;
    a->meta_len = hs->meta.len;
    a->channels = hs->channels;
    a->n_channels = hs->n_channels;
    a->last_seq = hs->last_seq;
    return 0;
}

/* Its window, oldest first, each frame referenced (not copied); 0, -1 malformed, or
 * VERANI_ENOMEM. */
static int restore_window(verani_session *s, const Verani__Cluster__HandoverSession *hs,
                          vr_frame **frames, size_t n_frames)
{
    uint64_t prev = 0;
    size_t i;

    if (hs->n_seqs != hs->n_frames)
        return -1;
    for (i = 0; i < hs->n_seqs; i++) {
        if (hs->frames[i] >= n_frames || hs->seqs[i] <= prev || hs->seqs[i] > hs->last_seq)
            return -1;
        prev = hs->seqs[i];
        if (vr_outq_push(&s->retained, frames[hs->frames[i]], hs->seqs[i], UINT32_MAX,
                         SIZE_MAX) < 0)
            return VERANI_ENOMEM;
    }
    return 0;
}

/* The frames, each once; NULL when out of memory. */
static vr_frame **restore_frames(const Verani__Cluster__Handover *ho)
{
    int64_t now_ms = vr_wall_ms(), now_us = vr_now_us();
    vr_frame **f = vr_calloc(ho->n_frames + 1, sizeof(*f));
    size_t i;

    for (i = 0; f && i < ho->n_frames; i++) {
        const Verani__Cluster__HandoverFrame *hf = ho->frames[i];

        f[i] = vr_frame_new(hf->body.len);
        if (!f[i])
            break;
        memcpy(f[i]->body, hf->body.data, hf->body.len);
        f[i]->t_us = now_us - (now_ms - hf->at_ms) * 1000;
    }
    if (f && i < ho->n_frames) {
        while (i--)
            vr_frame_unref(f[i]);
        vr_free(f);
        return NULL;
    }
    return f;
}

void vr_handover_restore(vr_instance *inst, const uint8_t *blob, size_t len)
{
    verani_server *srv = inst->mount->srv;
    const verani_room_schema *sc = inst->mount->def->schema;
    Verani__Cluster__Handover *ho =
        verani__cluster__handover__unpack(&vr_pb_allocator, len, blob);
    verani_session **list = NULL;
    vr_frame **frames = NULL;
    const char *why = NULL;
    size_t i, n = 0;
    int r = 0;

    if (!ho)
        why = "it does not parse";
    else if (!ho->room || strcmp(ho->room, sc->name) || !ho->instance ||
             strcmp(ho->instance, inst->name))
        why = "it is another instance's";
    else if (sc->fingerprint && ho->fingerprint && strcmp(ho->fingerprint, sc->fingerprint))
        why = "the last owner ran another schema of the room";
    else if (!(frames = restore_frames(ho)) ||
             !(list = vr_calloc(ho->n_sessions + 1, sizeof(*list))))
        why = "out of memory";
    for (i = 0; !why && i < ho->n_sessions; i++) {
        vr_attachment a;

        if (to_attachment(ho->sessions[i], &a, 1)) {
            why = "a session in it is malformed";
            break;
        }
        list[n] = vr_session_restored(srv, inst, &a);
        if (!list[n]) {
            why = "out of memory";
            break;
        }
        r = restore_window(list[n++], ho->sessions[i], frames, ho->n_frames);
        if (r)
            why = r == VERANI_ENOMEM ? "out of memory" : "a session's window is malformed";
    }
    if (why) {
        srv->ho_stats.restore_failed++;
        VR_ERR("cluster: instance %s '%s': its handover is dropped (%s): its clients start "
               "again\n", sc->name, inst->name, why);
        for (i = 0; i < n; i++)
            vr_session_free(list[i]);
    } else {
        srv->ho_stats.taken++;
        srv->ho_stats.restored_sessions += n;
        vr_sessions_restored_attach(inst, list, n);
        vr_sessions_detached_bound(srv);
    }
    for (i = 0; frames && i < ho->n_frames; i++)
        vr_frame_unref(frames[i]); /* the windows hold their own references */
    vr_free(frames);
    vr_free(list);
    if (ho)
        verani__cluster__handover__free_unpacked(ho, &vr_pb_allocator);
}

/* --- session records (a crash: identities and channels, no frames) ------------------------ */

int vr_session_record(const verani_session *s, uint8_t **out, size_t *len)
{
    Verani__Cluster__HandoverSession hs = VERANI__CLUSTER__HANDOVER_SESSION__INIT;
    char token[2 * sizeof(s->resume_token) + 1], prev[2 * sizeof(s->resume_token) + 1];
    vr_chan_names c;

    if (vr_chan_names_get(s, &c))
        return VERANI_ENOMEM;
    vr_hex(token, s->resume_token, sizeof(s->resume_token));
    vr_session_prev_hex(s, prev);
    hs.client_id = (char *)s->client_id;
    hs.resume_token = token;
    hs.prev_token = *prev ? prev : NULL;
    hs.user_id = s->user_id ? s->user_id : "";
    hs.has_meta = 1;
    hs.meta.data = s->meta;
    hs.meta.len = s->meta_len;
    hs.channels = c.v;
    hs.n_channels = c.n;
    *len = verani__cluster__handover_session__get_packed_size(&hs);
    *out = vr_malloc(*len ? *len : 1);
    if (*out)
        verani__cluster__handover_session__pack(&hs, *out);
    vr_chan_names_fini(&c);
    return *out ? 0 : VERANI_ENOMEM;
}

void vr_handover_restore_records(vr_instance *inst, const uint8_t *const *recs,
                                 const size_t *lens, size_t n)
{
    verani_server *srv = inst->mount->srv;
    verani_session **list = vr_calloc(n + 1, sizeof(*list));
    size_t i, k = 0, bad = 0;

    for (i = 0; list && i < n; i++) {
        Verani__Cluster__HandoverSession *hs =
            verani__cluster__handover_session__unpack(&vr_pb_allocator, lens[i], recs[i]);
        vr_attachment a;

        if (hs && !to_attachment(hs, &a, 0)) /* the instance is new: no session is there */
            list[k] = vr_session_restored(srv, inst, &a);
        if (list[k])
            k++;
        else
            bad++;
        if (hs)
            verani__cluster__handover_session__free_unpacked(hs, &vr_pb_allocator);
    }
    if (!list || bad)
        VR_ERR("cluster: instance %s '%s': %zu session record(s) could not be restored\n",
               inst->mount->def->schema->name, inst->name, list ? bad : n);
    if (list && k) {
        srv->ho_stats.records_restored += k;
        vr_sessions_restored_attach(inst, list, k);
        vr_sessions_detached_bound(srv);
    }
    vr_free(list);
}

void vr_handover_metrics(verani_server *srv, vr_sb *sb)
{
    const struct vr_handover_stats *st = &srv->ho_stats;

    vr_sb_printf(sb, "# HELP verani_cluster_handovers_total Instances handed over at a "
                 "graceful stop, by result.\n# TYPE verani_cluster_handovers_total counter\n"
                 "verani_cluster_handovers_total{result=\"stored\"} %llu\n"
                 "verani_cluster_handovers_total{result=\"failed\"} %llu\n",
                 (unsigned long long)st->saved, (unsigned long long)st->failed);
    vr_sb_printf(sb, "# HELP verani_cluster_handovers_restored_total Handovers read at a claim "
                 "and restored, or not.\n# TYPE verani_cluster_handovers_restored_total "
                 "counter\nverani_cluster_handovers_restored_total{result=\"restored\"} %llu\n"
                 "verani_cluster_handovers_restored_total{result=\"failed\"} %llu\n",
                 (unsigned long long)st->taken, (unsigned long long)st->restore_failed);
    vr_metric_counter(sb, "verani_cluster_handover_sessions_total", "Sessions restored from "
                      "handovers.", st->restored_sessions);
    vr_metric_counter(sb, "verani_cluster_record_sessions_total", "Sessions restored from their "
                      "records after their owner crashed (no frames).", st->records_restored);
}
