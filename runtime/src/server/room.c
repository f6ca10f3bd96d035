/* SPDX-License-Identifier: MIT */
/*
 * room.c: mounted rooms and their instances. A mount maps a path such as
 * "/chat/{room}" to a generated room definition; a request path picks a
 * mount and names the instance ("/chat/lobby" -> "lobby"), which is created
 * on first connect. An instance left with no session (attached or detached)
 * and no pending connection is evicted after the server's instance_idle_ms by
 * the server's sweep (sweep.c): its memory is freed, its room storage stays
 * in the store, and the next connection brings it back. Each instance keeps a
 * table of its channels (name -> member sessions) so a channel emit walks
 * only the members; channels.c decides who joins and leaves. Also the queries
 * over an instance (session count, user ids, a user's sessions). Nothing here
 * persists anything.
 */
#include <stdio.h>
#include <string.h>

#include "core/core-private.h"
#include "server-int.h"

/* Does `path` match `pp`? The {room} part to `inst_name`. */
static int path_match(const vr_pathpat *pp, const char *path, char *inst_name, size_t len)
{
    size_t pl = strlen(pp->prefix), sl = strlen(pp->suffix), l = strlen(path), nl;

    if (!pp->has_placeholder) {
        if (strcmp(path, pp->prefix))
            return 0;
        if (len)
            inst_name[0] = '\0';
        return 1;
    }
    if (l < pl + sl + 1 || strncmp(path, pp->prefix, pl) || strcmp(path + l - sl, pp->suffix))
        return 0;
    nl = l - pl - sl;
    if (memchr(path + pl, '/', nl) || nl >= len)
        return 0;
    memcpy(inst_name, path + pl, nl);
    inst_name[nl] = '\0';
    return 1;
}

vr_mount *vr_route(verani_server *srv, const char *path, char *inst_name, size_t len,
                   int *json)
{
    size_t i, k;

    for (i = 0; i < srv->n_mounts; i++) {
        vr_mount *m = srv->mounts[i];

        for (k = 0; k < m->n_paths; k++)
            if (path_match(&m->paths[k], path, inst_name, len)) {
                if (json)
                    *json = m->paths[k].json;
                return m;
            }
    }
    return NULL;
}

vr_instance *vr_instance_get(vr_mount *m, const char *name, int create)
{
    vr_instance *inst;

    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&m->instances)) {
        inst = lws_container_of(d, vr_instance, node);
        if (!strcmp(inst->name, name)) {
            if (create) {
                vr_dll2_unlink(&inst->idle_node); /* back in use: not evicted */
                if (inst->own == VR_OWN_LOST)
                    vr_owner_claim(inst); /* another node had it: ask again */
            }
            return inst;
        }
    } lws_end_foreach_dll(d);
    if (!create)
        return NULL;
    inst = vr_calloc(1, sizeof(*inst));
    if (!inst)
        return NULL;
    inst->name = vr_strdup(name);
    if (!inst->name) {
        vr_free(inst);
        return NULL;
    }
    inst->mount = m;
    lws_dll2_add_tail(&inst->node, &m->instances);
    VR_INFO("instance %s '%s' created\n", m->def->schema->name, name);
    if (m->srv->cluster)
        vr_owner_claim(inst); /* started once this node owns it */
    else
        vr_instance_started(inst);
    return inst;
}

/* --- channels: name -> members, per instance ---------------------------- */

/* FNV-1a: channel names are short and few per instance; any spread does. */
static uint32_t chan_hash(const char *name)
{
    uint32_t h = 2166136261u;

    while (*name) {
        h ^= (unsigned char)*name++;
        h *= 16777619u;
    }
    return h;
}

vr_channel *vr_channel_find(const vr_instance *inst, const char *name)
{
    vr_channel *c;
    uint32_t h;

    if (!inst->n_chans || !name)
        return NULL;
    h = chan_hash(name);
    for (c = inst->chans[h & (inst->n_buckets - 1)]; c; c = c->next)
        if (c->hash == h && !strcmp(c->name, name))
            return c;
    return NULL;
}

/* Double the buckets (8 first) and rehash the chains. */
static int chans_grow(vr_instance *inst)
{
    uint32_t nb = inst->n_buckets ? inst->n_buckets * 2 : 8, i;
    vr_channel **t = vr_calloc(nb, sizeof(*t)), *c, *next;

    if (!t)
        return VERANI_ENOMEM;
    for (i = 0; i < inst->n_buckets; i++)
        for (c = inst->chans[i]; c; c = next) {
            next = c->next;
            c->next = t[c->hash & (nb - 1)];
            t[c->hash & (nb - 1)] = c;
        }
    vr_free(inst->chans);
    inst->chans = t;
    inst->n_buckets = nb;
    return 0;
}

/* Unlink channel `c` from its bucket and free it (its members are borrowed). */
static void chan_free(vr_instance *inst, vr_channel *c)
{
    vr_channel **p = &inst->chans[c->hash & (inst->n_buckets - 1)];

    while (*p != c)
        p = &(*p)->next;
    *p = c->next;
    inst->n_chans--;
    vr_free(c->members);
    vr_free(c);
}

int vr_channel_join(vr_instance *inst, verani_session *s, const char *name, vr_chanref *ref)
{
    vr_channel *c = vr_channel_find(inst, name);

    if (!c) {
        size_t len = strlen(name);
        vr_channel **b;

        if (inst->n_chans >= inst->n_buckets && chans_grow(inst))
            return VERANI_ENOMEM;
        c = vr_calloc(1, sizeof(*c) + len + 1);
        if (!c)
            return VERANI_ENOMEM;
        memcpy(c->name, name, len + 1);
        c->hash = chan_hash(name);
        b = &inst->chans[c->hash & (inst->n_buckets - 1)];
        c->next = *b;
        *b = c;
        inst->n_chans++;
    }
    if (c->n_members == c->cap_members) {
        uint32_t ncap = c->cap_members ? c->cap_members * 2 : 4;
        verani_session **n = ncap > c->cap_members
                                 ? vr_reallocarray(c->members, ncap, sizeof(*n)) : NULL;

        if (!n) {
            if (!c->n_members)
                chan_free(inst, c);
            return VERANI_ENOMEM;
        }
        c->members = n;
        c->cap_members = ncap;
    }
    ref->ch = c;
    ref->idx = c->n_members;
    c->members[c->n_members++] = s;
    return 0;
}

void vr_channel_leave(vr_instance *inst, vr_chanref *ref)
{
    vr_channel *c = ref->ch;
    uint32_t last;
    size_t k;

    if (!c)
        return;
    last = --c->n_members;
    if (ref->idx != last) {
        /* the last member fills the hole: its own ref for this channel follows */
        verani_session *m = c->members[last];

        c->members[ref->idx] = m;
        for (k = 0; k < m->n_channels; k++)
            if (vr_session_chan(m, k)->ch == c) {
                vr_session_chan(m, k)->idx = ref->idx;
                break;
            }
    }
    ref->ch = NULL;
    if (!c->n_members)
        chan_free(inst, c);
}

/* Free every channel left (none once its sessions are gone) and the table. */
static void chans_free(vr_instance *inst)
{
    uint32_t i;

    for (i = 0; i < inst->n_buckets; i++)
        while (inst->chans[i])
            chan_free(inst, inst->chans[i]);
    vr_free(inst->chans);
    inst->chans = NULL;
    inst->n_buckets = 0;
}

static void instance_free(vr_instance *inst)
{
    if (inst->own == VR_OWN_HELD || inst->own == VR_OWN_FENCED ||
        inst->own == VR_OWN_HANDED) { /* started */
        vr_instance_stopping(inst); /* on_instance_stop while its storage is open; timers gone */
        vr_replica_instance_free(inst); /* its last writes before the release */
        vr_owner_release(inst);
    }
    vr_replica_drop(inst);
    vr_dll2_unlink(&inst->idle_node);
    lws_dll2_remove(&inst->node);
    vr_instance_storage_close(inst);
    chans_free(inst);
    vr_free(inst->name);
    vr_free(inst);
}

static int instance_empty(const vr_instance *inst)
{
    return !inst->sessions.count && !inst->pending && !inst->jobs &&
           inst->own != VR_OWN_CLAIMING && inst->own != VR_OWN_FENCED;
}

void vr_instances_evict(verani_server *srv, int64_t oldest_us)
{
    /* emptied in order, so the list is in eviction order: stop at the first too recent */
    while (srv->idle_instances.head) {
        vr_instance *inst = lws_container_of(srv->idle_instances.head, vr_instance, idle_node);

        if (inst->empty_since_us > oldest_us)
            break;
        if (!instance_empty(inst)) { /* in use after all */
            lws_dll2_remove(&inst->idle_node);
            continue;
        }
        VR_INFO("instance %s '%s' evicted after %u ms idle (its storage stays)\n",
                inst->mount->def->schema->name, inst->name, srv->opts.instance_idle_ms);
        srv->metrics.instances_evicted++;
        instance_free(inst);
    }
}

void vr_instance_maybe_free(vr_instance *inst)
{
    verani_server *srv;

    if (!inst || !instance_empty(inst))
        return;
    srv = inst->mount->srv;
    vr_dll2_unlink(&inst->idle_node);
    inst->empty_since_us = lws_now_usecs();
    lws_dll2_add_tail(&inst->idle_node, &srv->idle_instances);
}

size_t verani_server_instance_count(const verani_server *srv)
{
    size_t i, n = 0;

    for (i = 0; srv && i < srv->n_mounts; i++)
        n += srv->mounts[i]->instances.count;
    return n;
}

void vr_mounts_free(verani_server *srv)
{
    size_t i;

    for (i = 0; i < srv->n_mounts; i++) {
        vr_mount *m = srv->mounts[i];

        lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&m->instances)) {
            vr_instance *inst = lws_container_of(d, vr_instance, node);

            /* Sessions are gone by now (the context was destroyed first); free regardless. */
            instance_free(inst);
        } lws_end_foreach_dll_safe(d, d1);
        for (size_t k = 0; k < m->n_paths; k++) {
            vr_free(m->paths[k].prefix);
            vr_free(m->paths[k].suffix);
        }
        vr_free(m);
    }
    vr_free(srv->mounts);
    srv->mounts = NULL;
    srv->n_mounts = 0;
}

size_t vr_mount_count(const verani_server *srv)
{
    return srv->n_mounts;
}

vr_mount *vr_mount_at(const verani_server *srv, size_t i)
{
    return srv->mounts[i];
}

vr_mount *vr_mount_find(const verani_server *srv, const char *room)
{
    size_t i;

    for (i = 0; i < srv->n_mounts; i++)
        if (!strcmp(srv->mounts[i]->def->schema->name, room))
            return srv->mounts[i];
    return NULL;
}

vr_instance *vr_instance_find(const verani_server *srv, const char *room, const char *name)
{
    vr_mount *m = vr_mount_find(srv, room);

    return m ? vr_instance_get(m, name, 0) : NULL;
}

const verani_room_def *vr_mount_def(const vr_mount *m)
{
    return m->def;
}

int vr_mount_has_placeholder(const vr_mount *m)
{
    return m->paths[0].has_placeholder; /* (a JSON path has one exactly when `path` has) */
}

int vr_instance_exists(vr_mount *m, const char *name)
{
    return vr_instance_get(m, name, 0) != NULL;
}

size_t vr_paths_describe(verani_server *srv, char *buf, size_t len)
{
    size_t i, used = 0;

    if (len)
        buf[0] = '\0';
    for (i = 0; i < srv->n_mounts && used < len; i++)
        for (size_t k = 0; k < srv->mounts[i]->n_paths && used < len; k++) {
            const vr_pathpat *pp = &srv->mounts[i]->paths[k];
            int n = snprintf(buf + used, len - used, "%s%s%s", used ? ", " : "", pp->path,
                             pp->json ? " (JSON)" : "");

            if (n < 0)
                break;
            used += (size_t)n < len - used ? (size_t)n : len - used - 1;
        }
    return used;
}

/* --- queries ------------------------------------------------------------- */

size_t verani_ctx_session_count(verani_ctx *ctx)
{
    return ctx && ctx->inst ? ctx->inst->sessions.count : 0;
}

size_t verani_ctx_user_ids(verani_ctx *ctx, const char **out, size_t max)
{
    size_t total = 0;

    if (!ctx || !ctx->inst)
        return 0;
    /* Unique in the order first seen; O(n^2) over one instance, fine at room sizes. */
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&ctx->inst->sessions)) {
        verani_session *s = lws_container_of(d, verani_session, node);
        int seen = 0;

        lws_start_foreach_dll(struct lws_dll2 *, e, lws_dll2_get_head(&ctx->inst->sessions)) {
            verani_session *o = lws_container_of(e, verani_session, node);

            if (o == s)
                break;
            if (!strcmp(o->user_id, s->user_id)) {
                seen = 1;
                break;
            }
        } lws_end_foreach_dll(e);
        if (!seen) {
            if (total < max && out)
                out[total] = s->user_id;
            total++;
        }
    } lws_end_foreach_dll(d);
    return total;
}

size_t verani_ctx_user_sessions(verani_ctx *ctx, const char *user_id, verani_session **out,
                                size_t max)
{
    size_t total = 0;

    if (!ctx || !ctx->inst || !user_id)
        return 0;
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&ctx->inst->sessions)) {
        verani_session *s = lws_container_of(d, verani_session, node);

        if (!strcmp(s->user_id, user_id)) {
            if (total < max && out)
                out[total] = s;
            total++;
        }
    } lws_end_foreach_dll(d);
    return total;
}

/* --- queries over the whole server --------------------------------------- */

/* Is `uid` the user id of a session met before `stop` in the walk over every instance? */
static int seen_before(verani_server *srv, const verani_session *stop, const char *uid)
{
    size_t i;

    for (i = 0; i < srv->n_mounts; i++) {
        lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&srv->mounts[i]->instances)) {
            vr_instance *inst = lws_container_of(d, vr_instance, node);

            lws_start_foreach_dll(struct lws_dll2 *, e, lws_dll2_get_head(&inst->sessions)) {
                verani_session *o = lws_container_of(e, verani_session, node);

                if (o == stop)
                    return 0;
                if (!strcmp(o->user_id, uid))
                    return 1;
            } lws_end_foreach_dll(e);
        } lws_end_foreach_dll(d);
    }
    return 0;
}

size_t verani_server_user_ids(verani_server *srv, const char **out, size_t max)
{
    size_t total = 0, i;

    for (i = 0; srv && i < srv->n_mounts; i++) {
        lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&srv->mounts[i]->instances)) {
            vr_instance *inst = lws_container_of(d, vr_instance, node);

            lws_start_foreach_dll(struct lws_dll2 *, e, lws_dll2_get_head(&inst->sessions)) {
                verani_session *s = lws_container_of(e, verani_session, node);

                if (!seen_before(srv, s, s->user_id)) {
                    if (total < max && out)
                        out[total] = s->user_id;
                    total++;
                }
            } lws_end_foreach_dll(e);
        } lws_end_foreach_dll(d);
    }
    return total;
}

size_t verani_server_user_sessions(verani_server *srv, const char *user_id,
                                   verani_session **out, size_t max)
{
    size_t total = 0, i;

    for (i = 0; srv && user_id && i < srv->n_mounts; i++) {
        lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&srv->mounts[i]->instances)) {
            vr_instance *inst = lws_container_of(d, vr_instance, node);

            lws_start_foreach_dll(struct lws_dll2 *, e, lws_dll2_get_head(&inst->sessions)) {
                verani_session *s = lws_container_of(e, verani_session, node);

                if (!strcmp(s->user_id, user_id)) {
                    if (total < max && out)
                        out[total] = s;
                    total++;
                }
            } lws_end_foreach_dll(e);
        } lws_end_foreach_dll(d);
    }
    return total;
}
