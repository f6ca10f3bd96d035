/* SPDX-License-Identifier: MIT */
/*
 * room-int.h: the server's rooms (room.c): the mounted room definitions, the
 * room instances created by name on first connect and evicted when idle, and
 * each instance's channel table. The sessions in them are session-int.h's.
 * Event-loop thread only; for server/ alone.
 */
#ifndef VERANI_ROOM_INT_H
#define VERANI_ROOM_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include <verani/gen.h>
#include <verani/server.h>

#include "server-private.h"

struct verani_storage;

/* A path a room is mounted at: "/chat/{room}" as its parts. */
typedef struct vr_pathpat {
    const char *path;                /* borrowed from the schema */
    char *prefix;                    /* owned: the path up to "{room}" (or the whole path) */
    char *suffix;                    /* owned: the path after "{room}"; "" when none */
    int has_placeholder;
    int json;                        /* its connections speak Verani's JSON wire */
} vr_pathpat;

/* A mounted room: the generated definition, the user's handler table, and its paths: the
 * schema's `path`, and with `wire both` its JSON path too. */
typedef struct vr_mount {
    struct verani_server *srv;
    const verani_room_def *def;
    const void *handlers;            /* borrowed from the mounter; starts with verani_hooks */
    void *user;                      /* borrowed */
    vr_pathpat paths[2];
    size_t n_paths;
    lws_dll2_owner_t instances;      /* struct vr_instance */
} vr_mount;

/*
 * A channel of one room instance: its name and the sessions that joined it
 * (room.c keeps the table, channels.c the memberships). A session is a member
 * from the moment it joins until it leaves or is freed, whether or not it is
 * in inst->sessions yet (the broker checks `added`). Members sit in no
 * particular order (a leave moves the last one into the hole); a channel whose
 * last member leaves is freed.
 */
typedef struct vr_channel {
    struct vr_channel *next;         /* the next in its bucket of inst->chans */
    uint32_t hash;
    uint32_t n_members, cap_members;
    struct verani_session **members; /* owned array; the sessions are borrowed */
    char name[];                     /* NUL-terminated, owned inline */
} vr_channel;

/* Channel names one after another, each NUL-terminated (owned `buf`). */
typedef struct vr_names {
    char *buf;
    size_t len, n;
} vr_names;

/* A session's side of one membership: the channel, and where in its members it sits. */
typedef struct vr_chanref {
    vr_channel *ch;
    uint32_t idx;
} vr_chanref;

/* Who serves a room instance (cluster_route.c). Without a cluster every instance is
 * VR_OWN_HELD. In a cluster an instance is created VR_OWN_CLAIMING: the node asks Redis for
 * it, and the connections that came for it wait (in `held`, not read) until the answer:
 * won, it is VR_OWN_HELD (started: on_instance_start, timers) and they go on; owned by
 * another node or no answer, it is VR_OWN_LOST and they are closed (4003 or 1013). A LOST
 * instance never started; the next connection for it claims again. A HELD instance whose
 * node loses its lease is VR_OWN_FENCED: its connections are closed with 1012 (their
 * sessions wait for a resume), its timers skip, new connections wait as for a claim; once
 * the node is live again Redis says whether it still owns it (HELD again) or not (its state
 * is dropped without on_disconnect: LOST). A HELD instance that a graceful stop hands over
 * (cluster_handover.c) is VR_OWN_HANDED: its sessions and their windows are in Redis for the
 * next owner, nothing more is sent to them, outside calls find it elsewhere, and it ends
 * here as a started instance does (on_instance_stop). A claim won after a handover stays
 * CLAIMING until the handover is read and restored. */
enum { VR_OWN_HELD = 0, VR_OWN_CLAIMING, VR_OWN_LOST, VR_OWN_FENCED, VR_OWN_HANDED };

struct vr_instance;
/* Is the instance another node's to serve (outside calls go there, nothing is done here)? */
static inline int vr_own_elsewhere(int own)
{
    return own == VR_OWN_LOST || own == VR_OWN_HANDED;
}

/* A room instance: one per name, created on first connect. */
typedef struct vr_instance {
    lws_dll2_t node;                 /* in mount->instances */
    vr_mount *mount;
    char *name;                      /* owned */
    lws_dll2_owner_t sessions;       /* verani_session that completed hello */
    uint32_t pending;                /* upgraded connections that have not sent hello yet */
    uint32_t jobs;                   /* worker jobs whose `done` has not run (workers.c) */
    struct verani_storage *storage;  /* owned: opened by verani_ctx_storage; NULL until then */
    lws_dll2_t idle_node;            /* in srv->idle_instances while empty (sweep.c) */
    int64_t empty_since_us;          /* when it became empty: evicted instance_idle_ms later */
    vr_channel **chans;              /* owned: hash buckets of its channels (owned chains) */
    uint32_t n_chans, n_buckets;     /* n_buckets: 0 or a power of two */
    lws_dll2_owner_t timers;         /* vr_timer (timers.c), owned */
    void *data;                      /* the application's (verani_instance_set_data) */
    int own;                         /* VR_OWN_* */
    uint64_t epoch;                  /* HELD in a cluster: the fencing token of the claim */
    lws_dll2_owner_t held;           /* CLAIMING, FENCED: sessions (by `node`) waiting */
    struct vr_ireplica *repl;        /* owned (cluster_replica.c): writes on their way to Redis */
    int handover_wanted;             /* CLAIMING: its load takes the last owner's handover */
    uint64_t open_tag, tag_turn;     /* the output gate: this turn's frames' tag (and turn) */
    int gate_paused;                 /* its input paused: a gate open too long */
} vr_instance;

/* The instance `name` of room `room` in memory, or NULL. */
vr_instance *vr_instance_find(const verani_server *srv, const char *room, const char *name);

/* Route `path` (no query) to a mount; `inst_name` receives the {room} part, and *json
 * (when given) whether the path is one of the JSON wire. */
vr_mount *vr_route(verani_server *srv, const char *path, char *inst_name, size_t len,
                   int *json);
vr_instance *vr_instance_get(vr_mount *m, const char *name, int create);
/* When the instance has no session and no pending connection, it joins srv->idle_instances:
 * the sweep frees it after opts.instance_idle_ms unless a connection comes first
 * (vr_instance_get with `create` takes it off the list). */
void vr_instance_maybe_free(vr_instance *inst);

/* timers.c: the instance's timers and its start and stop hooks. */
void vr_instance_started(vr_instance *inst);   /* on_instance_start, once created */
void vr_instance_stopping(vr_instance *inst);  /* on_instance_stop, then its timers go */
void vr_timers_cancel_all(verani_server *srv); /* every timer, before the lws context goes */

/* alarms.c: the instances' alarms. Load the store's at listen (0, or the store's error,
 * logged); free them all before the lws context goes. */
int vr_alarms_load(verani_server *srv);
void vr_alarms_end(verani_server *srv);

/* The sweep: free the instances empty since before `oldest_us`. */
void vr_instances_evict(verani_server *srv, int64_t oldest_us);
/* The channel `name` of `inst`; NULL when nobody is in it. */
vr_channel *vr_channel_find(const vr_instance *inst, const char *name);
/* Add `s` to the members of channel `name` of `inst` (creating it), and fill `ref` with
 * where it sits. 0 or VERANI_ENOMEM (nothing changed then). The caller (channels.c) keeps
 * `ref` among the session's memberships (vr_session_chan), the slot vr_channel_leave
 * updates when members move. */
int vr_channel_join(vr_instance *inst, verani_session *s, const char *name, vr_chanref *ref);
/* Take the member `ref` out of its channel (freeing the channel when it was the last);
 * ref->ch is NULL after. */
void vr_channel_leave(vr_instance *inst, vr_chanref *ref);
/* Free every mount, its instances and their channels (destroy). */
void vr_mounts_free(verani_server *srv);
/* A description of every mounted path for the 404 body. */
size_t vr_paths_describe(verani_server *srv, char *buf, size_t len);

#endif /* VERANI_ROOM_INT_H */
