/* SPDX-License-Identifier: MIT */
/*
 * cluster_owner.c: which node serves a room instance, and how a connection
 * reaches it (shared/SCALEOUT.md sections 3.4 and 3.5). An instance this node
 * creates is claimed in Redis first (vr_owner_claim); the connections that
 * came for it are accepted and wait, not read, until the answer (their HELLO
 * stays in the socket). Won: the instance starts and they go on. Owned by a
 * live node: they are closed with 4003 "moved <its URL>", and the owner is
 * remembered for a while, so the next upgrade for that instance from a client
 * that follows redirects (X-Verani-Redirects: follow) gets a 307 to the owner
 * at once (vr_owner_redirect). No answer from Redis: 1013. An
 * instance evicted after its idle time is released (compare-and-delete), so
 * the next connection anywhere claims it again.
 *
 * Ownership: the hints (srv->owners) are owned here, created at the node's
 * start and freed at its stop. Loop thread only.
 */
#include <stdio.h>
#include <string.h>

#include <ev.h>

#include "cluster/cluster-private.h"
#include "core/core-private.h"
#include "server-int.h"

#define HINT_BUCKETS 256u
#define HINTS_MAX 4096u /* past this many, every hint is dropped: they are only shortcuts */
/* A hint lives this many leases at most. A stale one costs one redirect to a node that then
 * claims the instance itself; it cannot send a connection back and forth, because a node
 * that wins a claim drops its own hint for that instance. */
#define HINT_LEASES 10

/* "The owner of room/instance was node X", learned from a lost claim; trusted while the
 * node is live, for HINT_LEASES leases at most. Owned by its bucket. */
typedef struct vr_hint {
    struct vr_hint *next;
    int64_t until_ms;
    char owner[33];
    char key[];                      /* "room/instance" */
} vr_hint;

struct vr_owners {
    vr_hint *b[HINT_BUCKETS];
    uint32_t n;
    uint64_t redirects;              /* upgrades answered 307 */
    uint64_t moved;                  /* connections closed with 4003 */
    uint64_t refused;                /* connections closed with 1013 (no answer from Redis) */
    uint64_t fenced, kept, dropped;  /* instances fenced; then found still this node's, or not */
    ev_check turn;                   /* the lease check before each turn's input */
    verani_server *srv;
};

static uint32_t key_hash(const char *room, const char *inst)
{
    uint32_t h = 2166136261u;
    const char *p;

    for (p = room; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (p = inst; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

static int key_is(const vr_hint *h, const char *room, const char *inst)
{
    size_t rl = strlen(room);

    return !strncmp(h->key, room, rl) && h->key[rl] == '/' && !strcmp(h->key + rl + 1, inst);
}

static void hints_clear(vr_owners *o)
{
    size_t i;

    for (i = 0; i < HINT_BUCKETS; i++) {
        while (o->b[i]) {
            vr_hint *h = o->b[i];

            o->b[i] = h->next;
            vr_free(h);
        }
    }
    o->n = 0;
}

/* The hint for the instance, expired ones dropped on the way; `drop` removes it too. */
static vr_hint *hint_find(vr_owners *o, const char *room, const char *inst, int drop)
{
    vr_hint **pp = &o->b[key_hash(room, inst) % HINT_BUCKETS];
    int64_t now = (int64_t)(lws_now_usecs() / 1000);

    while (*pp) {
        vr_hint *h = *pp;

        if (h->until_ms <= now || key_is(h, room, inst)) {
            if (h->until_ms > now && !drop)
                return h;
            *pp = h->next;
            vr_free(h);
            o->n--;
            continue;
        }
        pp = &h->next;
    }
    return NULL;
}

static uint32_t lease_ms(const verani_server *srv)
{
    return srv->opts.cluster.lease_ms ? srv->opts.cluster.lease_ms : 5000;
}

static void hint_put(verani_server *srv, const char *room, const char *inst, const char *owner)
{
    vr_owners *o = srv->owners;
    size_t rl = strlen(room), il = strlen(inst);
    uint32_t b = key_hash(room, inst) % HINT_BUCKETS;
    vr_hint *h;

    if (!o || !*owner)
        return;
    (void)hint_find(o, room, inst, 1); /* the one it replaces */
    if (o->n >= HINTS_MAX)
        hints_clear(o);
    h = vr_malloc(sizeof(*h) + rl + il + 2);
    if (!h)
        return; /* a shortcut lost: the next upgrade claims and is told again */
    h->until_ms = (int64_t)(lws_now_usecs() / 1000) + HINT_LEASES * (int64_t)lease_ms(srv);
    snprintf(h->owner, sizeof(h->owner), "%s", owner);
    memcpy(h->key, room, rl);
    h->key[rl] = '/';
    memcpy(h->key + rl + 1, inst, il + 1);
    h->next = o->b[b];
    o->b[b] = h;
    o->n++;
}

/* libev runs check watchers right after polling; at the highest priority this one runs
 * before any socket's input is dispatched, so a node paused past its lease (SIGSTOP, a
 * stall) fences itself before it touches a frame (vr_cluster_lease_ok reports it). */
static void turn_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    vr_owners *o = w->data;

    (void)loop;
    (void)revents;
    if (o->srv->cluster)
        (void)vr_cluster_lease_ok(o->srv->cluster);
}

int vr_owners_start(verani_server *srv)
{
    if (!srv->owners) {
        srv->owners = vr_calloc(1, sizeof(*srv->owners));
        if (!srv->owners)
            return VERANI_ENOMEM;
        srv->owners->srv = srv;
        ev_check_init(&srv->owners->turn, turn_cb);
        srv->owners->turn.data = srv->owners;
        ev_set_priority(&srv->owners->turn, EV_MAXPRI);
        ev_check_start(srv->evloop, &srv->owners->turn);
    }
    return 0;
}

void vr_owners_free(verani_server *srv)
{
    if (!srv->owners)
        return;
    ev_check_stop(srv->evloop, &srv->owners->turn);
    hints_clear(srv->owners);
    vr_free(srv->owners);
    srv->owners = NULL;
}

static const char *room_of(const vr_instance *inst)
{
    return inst->mount->def->schema->name;
}

/* --- the claim ------------------------------------------------------------------------------- */

/* Every connection waiting for the instance is read again: it goes on (`code` 0: its HELLO
 * is read now), or it is closed with `code` and `reason` (the client's answer to the close
 * then ends it at once; what else it sent is dropped, the session being closed). */
static void held_end(vr_instance *inst, int code, const char *reason)
{
    while (inst->held.head) {
        verani_session *s = lws_container_of(inst->held.head, verani_session, node);

        lws_dll2_remove(&s->node);
        if (s->wsi)
            lws_rx_flow_control(s->wsi, 1);
        if (code)
            vr_session_close(s, code, reason, 0);
        else if (s->json && s->wsi && !s->closing)
            vr_session_json_open(s); /* Verani's wire has no HELLO to wait for */
        else if (s->wsi && !s->closing)
            vr_session_held_hello(s); /* one folded into the upgrade: read now */
    }
}

/* The reason of a 4003: "moved <url>" when the URL fits in a close frame, else "moved". */
static void moved_reason(char *buf, size_t len, const char *url)
{
    if (url && *url && strlen(url) + 6 <= VR_CLOSE_REASON_MAX && strlen(url) + 7 <= len)
        snprintf(buf, len, "moved %s", url);
    else
        snprintf(buf, len, "moved");
}

void vr_owner_won(vr_instance *inst, void (*restore)(vr_instance *inst, void *arg), void *arg)
{
    inst->own = VR_OWN_HELD;
    hint_find(inst->mount->srv->owners, room_of(inst), inst->name, 1);
    VR_INFO("cluster: instance %s '%s' is this node's (epoch %llu)\n", room_of(inst),
            inst->name, (unsigned long long)inst->epoch);
    vr_instance_started(inst);
    if (restore)
        restore(inst, arg);
    held_end(inst, 0, NULL);
}

void vr_owner_refused(vr_instance *inst, const char *why)
{
    verani_server *srv = inst->mount->srv;

    inst->own = VR_OWN_LOST;
    inst->epoch = 0;
    VR_WARN("cluster: instance %s '%s' could not be claimed (%s): its connections are "
            "closed with 1013, to try again\n", room_of(inst), inst->name, why);
    if (srv->owners)
        srv->owners->refused += inst->held.count;
    held_end(inst, VR_CLOSE_TRY_AGAIN, "try again: the cluster did not answer");
}

static void on_claimed(vr_cluster *c, const vr_claim_result *res, void *arg)
{
    vr_instance *inst = arg;
    verani_server *srv = inst->mount->srv;
    char reason[VR_CLOSE_REASON_MAX + 1];

    (void)c;
    if (!srv->cluster || inst->own != VR_OWN_CLAIMING) { /* the node is going away */
        inst->own = VR_OWN_LOST;
        return;
    }
    switch (res->outcome) {
    case VR_CLAIM_WON:
        inst->epoch = res->epoch;
        /* its storage (and a graceful stop's sessions) first: CLAIMING meanwhile */
        if (!vr_replica_load(inst, res->handover))
            return;
        vr_owner_refused(inst, "its storage could not be loaded");
        break;
    case VR_CLAIM_OWNED:
        inst->own = VR_OWN_LOST;
        hint_put(srv, room_of(inst), inst->name, res->owner);
        VR_INFO("cluster: instance %s '%s' is node %s's (%s): its connections here move\n",
                room_of(inst), inst->name, res->owner, *res->owner_url ? res->owner_url
                                                                       : "no public URL");
        moved_reason(reason, sizeof(reason), res->owner_url);
        srv->owners->moved += inst->held.count;
        held_end(inst, VR_CLOSE_MOVED, reason);
        break;
    default:
        vr_owner_refused(inst, res->error);
        break;
    }
    vr_instance_maybe_free(inst);
}

/* The hint naming the live node another claim said owns the instance, and that node's
 * public URL in *url; NULL when there is no such hint, the node is gone or it is this one. */
static vr_hint *live_hint(verani_server *srv, const char *room, const char *inst,
                         const char **url)
{
    vr_hint *h;

    *url = NULL;
    if (!srv->cluster || !srv->owners || !(h = hint_find(srv->owners, room, inst, 0)))
        return NULL;
    if (strcmp(h->owner, vr_cluster_node_id(srv->cluster)))
        *url = vr_cluster_node_url(srv->cluster, h->owner);
    if (*url)
        return h;
    (void)hint_find(srv->owners, room, inst, 1); /* stale */
    return NULL;
}

static const char *hinted_url(verani_server *srv, const char *room, const char *inst)
{
    const char *url;

    return live_hint(srv, room, inst, &url) ? url : NULL;
}

void vr_owner_claim(vr_instance *inst)
{
    verani_server *srv = inst->mount->srv;
    int r;

    if (!srv->cluster) {
        inst->own = VR_OWN_LOST;
        return;
    }
    if (hinted_url(srv, room_of(inst), inst->name)) {
        inst->own = VR_OWN_LOST; /* a live node owns it, as far as this node knows: its
                                    connections are moved there (4003), nothing is asked */
        return;
    }
    inst->own = VR_OWN_CLAIMING;
    r = vr_cluster_claim(srv->cluster, room_of(inst), inst->name, on_claimed, inst);
    if (r) {
        VR_WARN("cluster: instance %s '%s' cannot be claimed now: %s\n", room_of(inst),
                inst->name, verani_strerror(r));
        inst->own = VR_OWN_LOST;
    }
}

int vr_owner_moved(const vr_instance *inst)
{
    verani_server *srv = inst->mount->srv;

    return inst->own == VR_OWN_LOST && hinted_url(srv, room_of(inst), inst->name) != NULL;
}

const char *vr_owner_hinted(verani_server *srv, const char *room, const char *inst)
{
    const char *url;
    vr_hint *h = live_hint(srv, room, inst, &url);

    return h ? h->owner : NULL;
}

void vr_owner_hold(verani_session *s)
{
    vr_instance *inst = s->inst;
    char reason[VR_CLOSE_REASON_MAX + 1];
    const char *url;

    if (inst->own == VR_OWN_CLAIMING || inst->own == VR_OWN_FENCED) {
        lws_rx_flow_control(s->wsi, 0); /* its HELLO waits in the socket */
        lws_dll2_add_tail(&s->node, &inst->held);
        return;
    }
    if (inst->own != VR_OWN_LOST)
        return;
    /* the answer came between the upgrade and now, or the claim could not be sent */
    url = hinted_url(s->srv, room_of(inst), inst->name);
    if (!url) {
        if (s->srv->owners)
            s->srv->owners->refused++;
        vr_session_close(s, VR_CLOSE_TRY_AGAIN, "try again: the cluster did not answer", 0);
        return;
    }
    moved_reason(reason, sizeof(reason), url);
    s->srv->owners->moved++;
    vr_session_close(s, VR_CLOSE_MOVED, reason, 0);
}

int vr_owner_serving(verani_session *s)
{
    if (!s->srv->cluster || s->inst->own == VR_OWN_HELD)
        return 1;
    VR_NOTICE("session %s: its HELLO came while instance %s '%s' is not served here (%d): "
              "closed with 1013, to try again\n", s->client_id, room_of(s->inst), s->inst->name,
              s->inst->own);
    if (s->srv->owners)
        s->srv->owners->refused++;
    vr_session_close(s, VR_CLOSE_TRY_AGAIN, "try again: the instance is not served here now", 0);
    return 0;
}

/* --- the lease: fenced, then kept or dropped ------------------------------------------------- */

/* Run `fn` on every instance of every mount. */
static void each_instance(verani_server *srv, void (*fn)(vr_instance *inst))
{
    size_t i;

    for (i = 0; i < srv->n_mounts; i++)
        lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1,
                                   lws_dll2_get_head(&srv->mounts[i]->instances)) {
            fn(lws_container_of(d, vr_instance, node));
        } lws_end_foreach_dll_safe(d, d1);
}

static void fence(vr_instance *inst)
{
    if (inst->own != VR_OWN_HELD)
        return;
    inst->own = VR_OWN_FENCED;
    inst->mount->srv->owners->fenced++;
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&inst->sessions)) {
        verani_session *s = lws_container_of(d, verani_session, node);

        if (s->wsi && !s->closing) { /* detached when closed: it waits for a resume */
            s->fenced = 1;
            vr_gate_discard(s);
            vr_session_close(s, VR_CLOSE_RESTART, VR_CLOSE_RESTART_REASON, 0);
        }
    } lws_end_foreach_dll_safe(d, d1);
}

/* Redis says whether the fenced instance is still this node's. */
static void on_validated(vr_cluster *c, int result, void *arg)
{
    vr_instance *inst = arg;
    verani_server *srv = inst->mount->srv;

    (void)c;
    if (inst->own != VR_OWN_FENCED)
        return;
    if (result == 1 && srv->cluster) {
        inst->own = VR_OWN_HELD;
        srv->owners->kept++;
        VR_NOTICE("cluster: instance %s '%s' is still this node's: its clients resume\n",
                  room_of(inst), inst->name);
        held_end(inst, 0, NULL);
        return;
    }
    /* another node's now (or no way to know): its sessions are that node's to answer for */
    VR_WARN("cluster: instance %s '%s' is no longer this node's (%s): its state here is "
            "dropped, without on_disconnect\n", room_of(inst), inst->name,
            result == 0 ? "another node claimed it" : "Redis did not say");
    if (srv->owners)
        srv->owners->dropped++;
    vr_replica_drop(inst); /* what it wrote since is the new owner's to refuse */
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&inst->sessions)) {
        vr_session_drop(lws_container_of(d, verani_session, node));
    } lws_end_foreach_dll_safe(d, d1);
    vr_instance_stopping(inst);
    inst->own = VR_OWN_LOST;
    inst->epoch = 0;
    held_end(inst, VR_CLOSE_MOVED, "moved");
    vr_instance_maybe_free(inst);
}

static void validate(vr_instance *inst)
{
    verani_server *srv = inst->mount->srv;

    if (inst->own == VR_OWN_FENCED &&
        vr_cluster_validate(srv->cluster, room_of(inst), inst->name, inst->epoch, on_validated,
                            inst))
        on_validated(srv->cluster, VERANI_EIO, inst);
}

/* Redis lost its data: nothing of the instance survives there (its own key, storage, session
 * records), so nobody else can restore its sessions: they end here, with on_disconnect, and
 * their clients start afresh wherever they land; the instance stops (on_instance_stop) and
 * the next connection claims it again. */
static void reset_instance(vr_instance *inst)
{
    if (inst->own != VR_OWN_HELD && inst->own != VR_OWN_FENCED)
        return;
    VR_WARN("cluster: instance %s '%s': Redis lost its data: its sessions end here "
            "(on_disconnect), their clients start again\n", room_of(inst), inst->name);
    inst->jobs++; /* held while its sessions end: an emptied instance is freed */
    vr_replica_drop(inst);
    vr_instance_stopping(inst);
    inst->own = VR_OWN_LOST;
    inst->epoch = 0;
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&inst->sessions)) {
        verani_session *s = lws_container_of(d, verani_session, node);

        s->fenced = 0; /* a close now ends it, a lost lease's did not */
        if (s->wsi && !s->closing)
            vr_session_close(s, VR_CLOSE_RESTART, VR_CLOSE_RESTART_REASON, 0);
        else if (s->detached)
            vr_session_handed(s, 0); /* ended now, on_disconnect */
    } lws_end_foreach_dll_safe(d, d1);
    held_end(inst, VR_CLOSE_TRY_AGAIN, "try again: the cluster lost its state");
    inst->jobs--;
    vr_instance_maybe_free(inst);
}

void vr_owners_reset(verani_server *srv)
{
    if (srv->cluster && srv->owners && !srv->stopping)
        each_instance(srv, reset_instance);
}

void vr_owner_deposed(vr_instance *inst)
{
    fence(inst);
    validate(inst);
}

void vr_owners_live(verani_server *srv, int live)
{
    if (!srv->cluster || !srv->owners || srv->stopping)
        return; /* stopping: its sessions are closing, its key is going */
    each_instance(srv, live ? validate : fence);
}

/* --- the redirect ---------------------------------------------------------------------------- */

/* Append `s` to `buf` (at *n, up to `len`), percent-encoding every byte but the unreserved
 * ones (RFC 3986) and those in `keep`. 0, or -1 when it does not fit. */
static int url_put(char *buf, size_t len, size_t *n, const char *s, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~", *p) || strchr(keep, *p);

        if (*n + (plain ? 1 : 3) >= len)
            return -1;
        if (plain) {
            buf[(*n)++] = (char)*p;
        } else {
            buf[(*n)++] = '%';
            buf[(*n)++] = hex[*p >> 4];
            buf[(*n)++] = hex[*p & 15];
        }
    }
    buf[*n] = '\0';
    return 0;
}

/* `url` (its trailing '/' dropped), the request's path and its query, encoded again; -1 when
 * it does not fit `len` (the caller then moves the connection with 4003 instead). */
static int location(struct lws *wsi, const char *url, const char *path, char *buf, size_t len)
{
    size_t n = strlen(url), i;
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS), r = 0;
    char *frag = NULL;

    while (n && url[n - 1] == '/')
        n--;
    if (n + 1 >= len)
        return -1;
    memcpy(buf, url, n);
    buf[n] = '\0';
    if (url_put(buf, len, &n, path, "/"))
        return -1;
    /* room for the whole query in one argument: a copy that failed for want of room would
     * look like the end of the arguments and cut the query (a folded HELLO is 512 bytes) */
    if (total > 0 && !(frag = vr_malloc((size_t)total + 1)))
        return -1;
    for (i = 0; !r && frag && lws_hdr_copy_fragment(wsi, frag, total + 1,
                                                    WSI_TOKEN_HTTP_URI_ARGS, (int)i) >= 0; i++) {
        char *eq = strchr(frag, '=');

        if (n + 2 >= len) {
            r = -1;
            break;
        }
        buf[n++] = i ? '&' : '?';
        buf[n] = '\0';
        if (eq)
            *eq = '\0';
        r = url_put(buf, len, &n, frag, "") ||
            (eq && (url_put(buf, len, &n, "=", "=") || url_put(buf, len, &n, eq + 1, "")))
                ? -1 : 0;
    }
    vr_free(frag);
    return r;
}

/* Does the upgrade say its client follows a 307 (X-Verani-Redirects: follow)? A browser's
 * WebSocket cannot, and would fail where a 4003 moves it. */
static int follows_redirects(struct lws *wsi)
{
    char v[16];
    int n = lws_hdr_custom_length(wsi, "x-verani-redirects:", 19);

    return n > 0 && n < (int)sizeof(v) &&
           lws_hdr_custom_copy(wsi, v, sizeof(v), "x-verani-redirects:", 19) > 0 &&
           !strcmp(v, "follow");
}

int vr_owner_redirect(verani_server *srv, struct lws *wsi, vr_mount *m, const char *path,
                      const char *inst_name)
{
    char loc[900], body[1024];
    vr_instance *inst;
    const char *url;

    if (!srv->cluster || !follows_redirects(wsi))
        return 0; /* (a client that cannot follow is moved with 4003 after the claim) */
    inst = vr_instance_get(m, inst_name, 0);
    if (inst && inst->own != VR_OWN_LOST)
        return 0; /* this node's, or being claimed: the connection waits for the answer */
    url = hinted_url(srv, m->def->schema->name, inst_name);
    if (!url || !*url || location(wsi, url, path, loc, sizeof(loc)))
        return 0; /* no owner known, or no way to name it: claim, and 4003 if lost */
    srv->owners->redirects++;
    snprintf(body, sizeof(body), "this room instance is served by another node: %s\n", loc);
    if (vr_http_answer_ex(wsi, 307, "text/plain; charset=utf-8", body, "location:", loc))
        return -1;
    return 1;
}

/* --- the release ----------------------------------------------------------------------------- */

void vr_owner_release(vr_instance *inst)
{
    verani_server *srv = inst->mount->srv;
    int r;

    if (!srv->cluster || !inst->epoch || inst->own != VR_OWN_HELD)
        return;
    r = vr_cluster_release(srv->cluster, room_of(inst), inst->name, inst->epoch, 0, NULL, NULL);
    if (r) /* its lease frees it later */
        VR_WARN("cluster: instance %s '%s' not released (%s): another node can claim it once "
                "this node's lease runs out\n", room_of(inst), inst->name, verani_strerror(r));
}

/* --- figures --------------------------------------------------------------------------------- */

void vr_owners_metrics(verani_server *srv, vr_sb *sb)
{
    vr_cluster_stats st;
    size_t i, held = 0;

    if (!srv->cluster || !srv->owners)
        return;
    vr_cluster_get_stats(srv->cluster, &st);
    for (i = 0; i < srv->n_mounts; i++)
        lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&srv->mounts[i]->instances)) {
            held += lws_container_of(d, vr_instance, node)->own == VR_OWN_HELD;
        } lws_end_foreach_dll(d);
    vr_sb_printf(sb, "# HELP verani_cluster_owned_instances Room instances this node owns.\n"
                 "# TYPE verani_cluster_owned_instances gauge\n"
                 "verani_cluster_owned_instances %zu\n", held);
    vr_sb_printf(sb, "# HELP verani_cluster_claims_total Claims of room instances, by result.\n"
                 "# TYPE verani_cluster_claims_total counter\n"
                 "verani_cluster_claims_total{result=\"won\"} %llu\n"
                 "verani_cluster_claims_total{result=\"lost\"} %llu\n"
                 "verani_cluster_claims_total{result=\"failed\"} %llu\n",
                 (unsigned long long)st.claims_won, (unsigned long long)st.claims_lost,
                 (unsigned long long)st.claims_failed);
    vr_sb_printf(sb, "# HELP verani_cluster_releases_total Room instances released when idle.\n"
                 "# TYPE verani_cluster_releases_total counter\n"
                 "verani_cluster_releases_total %llu\n", (unsigned long long)st.releases);
    vr_sb_printf(sb, "# HELP verani_cluster_redirects_total Upgrades answered 307 to the "
                 "owner.\n# TYPE verani_cluster_redirects_total counter\n"
                 "verani_cluster_redirects_total %llu\n",
                 (unsigned long long)srv->owners->redirects);
    vr_sb_printf(sb, "# HELP verani_cluster_moved_total Connections closed with 4003 (the "
                 "instance is another node's).\n# TYPE verani_cluster_moved_total counter\n"
                 "verani_cluster_moved_total %llu\n", (unsigned long long)srv->owners->moved);
    vr_sb_printf(sb, "# HELP verani_cluster_unclaimed_total Connections closed with 1013 (the "
                 "claim got no answer).\n# TYPE verani_cluster_unclaimed_total counter\n"
                 "verani_cluster_unclaimed_total %llu\n",
                 (unsigned long long)srv->owners->refused);
    vr_sb_printf(sb, "# HELP verani_cluster_fenced_instances_total Owned instances fenced when "
                 "the lease ran out, and what Redis said after: still this node's (kept) or "
                 "not (dropped).\n# TYPE verani_cluster_fenced_instances_total counter\n"
                 "verani_cluster_fenced_instances_total{outcome=\"fenced\"} %llu\n"
                 "verani_cluster_fenced_instances_total{outcome=\"kept\"} %llu\n"
                 "verani_cluster_fenced_instances_total{outcome=\"dropped\"} %llu\n",
                 (unsigned long long)srv->owners->fenced, (unsigned long long)srv->owners->kept,
                 (unsigned long long)srv->owners->dropped);
}
