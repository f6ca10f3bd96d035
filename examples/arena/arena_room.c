/* SPDX-License-Identifier: MIT */
/*
 * arena_room.c: the example arena's handlers (see arena_room.h for the game).
 *
 * Ownership: a match (one room instance's state) is made by on_instance_start,
 * kept as the instance's own pointer (verani_instance_set_data) and freed by
 * on_instance_stop; it owns its players and their strings. The tick timer's
 * argument is its match (borrowed: the runtime cancels the timer before
 * on_instance_stop frees it); handlers find it with verani_instance_data. A scoreboard job owns a copy of
 * everything it needs, so the worker thread shares nothing with the loop; its
 * `done` (back on the loop) answers the deferred request and frees it.
 *
 * Room storage of an instance: key "record" (Record: rounds played, high
 * score) and, while a round runs, key "round" (Round: its number, its end, its
 * scores). The round's end is the instance's alarm, which the server keeps in
 * its own store.
 */
#define _POSIX_C_SOURCE 200809L

#include "arena_room.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>
#include <verani/storage.h>

#define ARENA_KEY_RECORD "record"
#define ARENA_KEY_ROUND "round"

/* One player of a match, by user id: all the user's sessions are one player. */
typedef struct player {
    char *user_id;         /* owned */
    char *name;            /* owned; "" when no session gave one */
    int32_t x, y;
    int moved;             /* since the last tick */
    int ready;             /* asked for the next round */
    uint32_t points;       /* in the round under way */
} player;

/* One room instance's state, from on_instance_start to on_instance_stop. */
typedef struct match {
    char *instance;        /* owned */
    player *players;       /* owned: n_players of cap_players */
    size_t n_players, cap_players;
    uint64_t tick;         /* ticks run */
    uint64_t tick_timer;   /* the tick's timer id (0: none) */
    int running;           /* a round is under way ... */
    uint32_t round;        /* ... this one ... */
    int64_t ends_at;       /* ... until then (its alarm, ms since the epoch) */
    int dirty;             /* the round's scores changed since they were stored */
    uint32_t rounds;       /* the record, as stored */
    uint32_t high_score;
    char *high_scorer;     /* owned; NULL: nobody yet */
} match;

struct arena {
    arena_options opts;
    arena_arena_handlers handlers; /* what the server calls: lives as long as the arena */
};

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *d = malloc(n);

    if (d)
        memcpy(d, s ? s : "", n);
    return d;
}

/* --- matches and players ---------------------------------------------------- */

static match *match_of(verani_ctx *ctx)
{
    return verani_instance_data(ctx);
}

static void match_free(match *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < m->n_players; i++) {
        free(m->players[i].user_id);
        free(m->players[i].name);
    }
    free(m->players);
    free(m->high_scorer);
    free(m->instance);
    free(m);
}

static player *player_find(match *m, const char *user_id)
{
    size_t i;

    for (i = 0; i < m->n_players; i++)
        if (!strcmp(m->players[i].user_id, user_id))
            return &m->players[i];
    return NULL;
}

/* The player `user_id` of `m`, added when new (with `name`, NULL for ""). NULL: no memory. */
static player *player_get(match *m, const char *user_id, const char *name)
{
    player *p = player_find(m, user_id);

    if (p)
        return p;
    if (m->n_players == m->cap_players) {
        size_t cap = m->cap_players ? 2 * m->cap_players : 8;
        player *grown = realloc(m->players, cap * sizeof(*grown));

        if (!grown)
            return NULL;
        m->players = grown;
        m->cap_players = cap;
    }
    p = &m->players[m->n_players];
    memset(p, 0, sizeof(*p));
    p->user_id = dup_str(user_id);
    p->name = dup_str(name);
    if (!p->user_id || !p->name) {
        free(p->user_id);
        free(p->name);
        return NULL;
    }
    m->n_players++;
    return p;
}

static void player_remove(match *m, player *p)
{
    size_t i = (size_t)(p - m->players);

    free(p->user_id);
    free(p->name);
    memmove(p, p + 1, (m->n_players - i - 1) * sizeof(*p));
    m->n_players--;
}

/* The session's display name from its typed meta ("" when it gave none). */
static const char *meta_name(verani_ctx *ctx)
{
    const Arena__ArenaMeta *meta = arena_arena_meta(ctx);

    return meta && meta->name ? meta->name : "";
}

/* The player of the context's session, added when new; its name comes from the session's
 * meta when it has none yet (a player restored after a restart has none). NULL: no memory. */
static player *player_of_session(verani_ctx *ctx, match *m)
{
    player *p = m ? player_find(m, verani_ctx_user_id(ctx)) : NULL;
    const char *name;
    char *copy;

    if (p && p->name[0])
        return p;
    name = meta_name(ctx);     /* unpacks the session's meta: only when needed */
    if (!p)
        return m ? player_get(m, verani_ctx_user_id(ctx), name) : NULL;
    if (name[0] && (copy = dup_str(name)) != NULL) {
        free(p->name);
        p->name = copy;
    }
    return p;
}

/* --- scores ------------------------------------------------------------------- */

/* Best first; equal points by user id, so every scoreboard lists them the same way. */
static int score_cmp(const void *pa, const void *pb)
{
    const Arena__Score *a = pa, *b = pb;

    if (a->points != b->points)
        return a->points > b->points ? -1 : 1;
    return strcmp(a->user_id, b->user_id);
}

/*
 * The players' scores into `out` (m->n_players of them; user ids borrowed from `m`) and
 * `ptrs` (pointers to them, what a repeated field holds), sorted best first when `sort`.
 */
static void scores_fill(const match *m, Arena__Score *out, Arena__Score **ptrs, int sort)
{
    size_t i;

    for (i = 0; i < m->n_players; i++) {
        arena__score__init(&out[i]);
        out[i].user_id = m->players[i].user_id;
        out[i].points = m->players[i].points;
    }
    if (sort && m->n_players > 1)
        qsort(out, m->n_players, sizeof(*out), score_cmp);
    for (i = 0; i < m->n_players; i++)
        ptrs[i] = &out[i];
}

/* Memory for `n` scores and their pointers, in one block freed with free(*ptrs). */
static Arena__Score *scores_alloc(size_t n, Arena__Score ***ptrs)
{
    size_t count = n ? n : 1;
    void *block = malloc(count * (sizeof(Arena__Score) + sizeof(Arena__Score *)));

    *ptrs = block;
    return block ? (Arena__Score *)((Arena__Score **)block + count) : NULL;
}

/* --- room storage --------------------------------------------------------------- */

/* Store the round under way (key "round"). 0 or a verani_err; `dirty` stays set on failure,
 * so the next tick tries again. */
static int round_store(verani_ctx *ctx, match *m)
{
    Arena__Round r = ARENA__ROUND__INIT;
    Arena__Score *scores, **ptrs;
    verani_storage *st = verani_ctx_storage(ctx);
    int rc;

    if (!st)
        return VERANI_EIO;
    scores = scores_alloc(m->n_players, &ptrs);
    if (!scores)
        return VERANI_ENOMEM;
    scores_fill(m, scores, ptrs, 0);
    r.number = m->round;
    r.ends_at = m->ends_at;
    r.n_scores = m->n_players;
    r.scores = ptrs;
    rc = arena_storage_put_round(st, ARENA_KEY_ROUND, &r);
    free(ptrs);
    if (rc < 0)
        lwsl_warn("arena: %s: storing the round failed: %s\n", m->instance,
                  verani_storage_last_error(st));
    else
        m->dirty = 0;
    return rc;
}

/* Read the record and the round under way, if any, from the instance's storage. */
static void match_load(verani_ctx *ctx, match *m)
{
    verani_storage *st = verani_ctx_storage(ctx);
    Arena__Record *rec = NULL;
    Arena__Round *r = NULL;
    size_t i;

    if (!st)
        return;
    if (arena_storage_get_record(st, ARENA_KEY_RECORD, &rec) == 0) {
        m->rounds = rec->rounds;
        m->high_score = rec->high_score;
        m->high_scorer = rec->high_scorer && rec->high_scorer[0] ? dup_str(rec->high_scorer)
                                                                 : NULL;
        verani_storage_free_message(rec);
    }
    if (arena_storage_get_round(st, ARENA_KEY_ROUND, &r) == 0) {
        m->running = 1;
        m->round = r->number;
        m->ends_at = r->ends_at;
        for (i = 0; i < r->n_scores; i++) {
            player *p = player_get(m, r->scores[i]->user_id, NULL);

            if (p)
                p->points = r->scores[i]->points;
        }
        verani_storage_free_message(r);
        lwsl_notice("arena: %s: round %u is under way (from storage)\n", m->instance, m->round);
    }
}

/* --- the tick ---------------------------------------------------------------------- */

/* Every tick_ms: the positions of the players that moved, to everyone; the round's scores
 * to storage when they changed. */
static void tick(verani_ctx *ctx, void *arg)
{
    match *m = arg;
    Arena__Positions out = ARENA__POSITIONS__INIT;
    Arena__Position *pos = NULL, **ptrs = NULL;
    size_t i, n = 0;

    m->tick++;
    for (i = 0; i < m->n_players; i++)
        n += m->players[i].moved != 0;
    if (n) {
        pos = malloc(n * sizeof(*pos));
        ptrs = malloc(n * sizeof(*ptrs));
    }
    if (n && pos && ptrs) {
        size_t k = 0;

        for (i = 0; i < m->n_players; i++) {
            player *p = &m->players[i];

            if (!p->moved)
                continue;
            arena__position__init(&pos[k]);
            pos[k].user_id = p->user_id;
            pos[k].name = p->name;
            pos[k].x = p->x;
            pos[k].y = p->y;
            ptrs[k] = &pos[k];
            p->moved = 0;
            k++;
        }
        out.tick = m->tick;
        out.n_players = k;
        out.players = ptrs;
        if (arena_arena_emit_positions(ctx, verani_to_all(), &out) < 0)
            lwsl_warn("arena: %s: the positions of tick %llu were not sent\n", m->instance,
                      (unsigned long long)m->tick);
    }
    free(pos);
    free(ptrs);
    if (m->running && m->dirty)
        (void)round_store(ctx, m);
}

/* --- lifecycle hooks ------------------------------------------------------------------ */

static void on_instance_start(verani_ctx *ctx)
{
    arena *a = verani_ctx_user(ctx);
    match *m = calloc(1, sizeof(*m));

    if (m)
        m->instance = dup_str(verani_ctx_instance(ctx));
    if (!m || !m->instance) {
        lwsl_err("arena: %s: out of memory: the instance has no game\n",
                 verani_ctx_instance(ctx));
        free(m);
        return;
    }
    verani_instance_set_data(ctx, m);
    match_load(ctx, m);
    if (verani_instance_every(ctx, a->opts.tick_ms, tick, m, &m->tick_timer) < 0)
        lwsl_err("arena: %s: the tick could not start\n", m->instance);
}

/* The instance is freed (idle, or the server stops): the round's last scores go to storage
 * (the alarm will want them), then the match is freed. Its tick is cancelled already. */
static void on_instance_stop(verani_ctx *ctx)
{
    match *m = match_of(ctx);

    if (!m)
        return;
    if (m->running && m->dirty)
        (void)round_store(ctx, m);
    verani_instance_set_data(ctx, NULL);
    match_free(m);
}

/* ?userId= (or X-User-Id) is required; ?name= fills the typed meta's display name. */
static int extract_meta(verani_upgrade *req, Arena__ArenaMeta *meta)
{
    char v[VERANI_USER_ID_MAX + 1];

    if (verani_upgrade_query(req, "userId", v, sizeof(v)) <= 0 &&
        verani_upgrade_header(req, "x-user-id", v, sizeof(v)) <= 0)
        return verani_upgrade_reject(req, 401, "pass your user id as ?userId=");
    if (verani_upgrade_set_user_id(req, v) < 0)
        return VERANI_EINVAL;
    if (verani_upgrade_query(req, "name", v, sizeof(v)) > 0)
        meta->name = verani_upgrade_strdup(req, v);
    return 0;
}

static int on_connect(verani_ctx *ctx)
{
    return player_of_session(ctx, match_of(ctx)) ? 0 : VERANI_ENOMEM;
}

/* After a restart: the sessions saved by the last server are back (detached until their
 * clients resume, without on_connect), so their users are players again. Their names come
 * with their next event (the meta is a session's, and there is no session here). */
static void on_hibernation_restore(verani_ctx *ctx)
{
    match *m = match_of(ctx);
    size_t i, n = verani_ctx_user_ids(ctx, NULL, 0);
    const char **ids = n ? malloc(n * sizeof(*ids)) : NULL;

    if (!m || !ids) {
        free(ids);
        return;
    }
    n = verani_ctx_user_ids(ctx, ids, n);
    for (i = 0; i < n; i++)
        if (!player_get(m, ids[i], NULL))
            lwsl_warn("arena: %s: out of memory restoring player %s\n", m->instance, ids[i]);
    free(ids);
}

/* The user's last session left: the player goes, unless it has points in the round under way
 * (they count when the round ends). */
static void on_disconnect(verani_ctx *ctx)
{
    match *m = match_of(ctx);
    const char *uid = verani_ctx_user_id(ctx);
    player *p = m ? player_find(m, uid) : NULL;

    if (p && verani_ctx_user_sessions(ctx, uid, NULL, 0) == 0 && !(m->running && p->points))
        player_remove(m, p);
}

/* --- rounds ------------------------------------------------------------------------------ */

/* Players that asked for the next round and still have a session here. */
static uint32_t ready_count(verani_ctx *ctx, const match *m)
{
    uint32_t n = 0;
    size_t i;

    for (i = 0; i < m->n_players; i++)
        if (m->players[i].ready && verani_ctx_user_sessions(ctx, m->players[i].user_id, NULL, 0))
            n++;
    return n;
}

/* Start round rounds + 1: the alarm first (nothing changes when it cannot be set), then the
 * scores start from 0 and the round goes to storage. */
static int round_start(verani_ctx *ctx, match *m)
{
    arena *a = verani_ctx_user(ctx);
    int64_t ends_at = wall_ms() + a->opts.round_ms;
    size_t i;
    int rc = verani_instance_set_alarm(ctx, ends_at);

    if (rc < 0) {
        lwsl_warn("arena: %s: the round's alarm could not be set: %s\n", m->instance,
                  verani_strerror(rc));
        return rc;
    }
    m->running = 1;
    m->round = m->rounds + 1;
    m->ends_at = ends_at;
    for (i = 0; i < m->n_players; i++) {
        m->players[i].points = 0;
        m->players[i].ready = 0;
    }
    m->dirty = 1;
    (void)round_store(ctx, m); /* else the next tick stores it */
    lwsl_notice("arena: %s: round %u started, %u ms\n", m->instance, m->round, a->opts.round_ms);
    return 0;
}

/*
 * The round's alarm: the record and the end of the round go to storage in one transaction
 * (a failure changes nothing and returns the error, so the runtime runs the alarm again),
 * then round_over goes to everyone (restored sessions that wait for their client to resume
 * keep it for the resume).
 */
static int on_alarm(verani_ctx *ctx)
{
    match *m = match_of(ctx);
    verani_storage *st = verani_ctx_storage(ctx);
    Arena__Record rec = ARENA__RECORD__INIT;
    Arena__RoundOver over = ARENA__ROUND_OVER__INIT;
    Arena__Score *scores, **ptrs;
    const Arena__Score *best;
    size_t i;
    int rc;

    if (!m || !m->running)
        return m ? 0 : VERANI_ENOMEM;
    if (!st)
        return VERANI_EIO;
    scores = scores_alloc(m->n_players, &ptrs);
    if (!scores)
        return VERANI_ENOMEM;
    scores_fill(m, scores, ptrs, 1);
    best = m->n_players ? &scores[0] : NULL;
    rec.rounds = m->rounds + 1;
    rec.high_score = m->high_score;
    rec.high_scorer = m->high_scorer;
    if (best && best->points > m->high_score) {
        rec.high_score = best->points;
        rec.high_scorer = best->user_id;
    }
    rc = verani_storage_begin(st);
    if (rc == 0) {
        (void)arena_storage_put_record(st, ARENA_KEY_RECORD, &rec);
        (void)verani_storage_delete(st, ARENA_KEY_ROUND, strlen(ARENA_KEY_ROUND));
        rc = verani_storage_commit(st); /* the first failure inside, if any */
    }
    if (rc < 0) {
        lwsl_warn("arena: %s: round %u could not be recorded (%s); the alarm runs again\n",
                  m->instance, m->round, verani_storage_last_error(st));
        free(ptrs);
        return rc;
    }
    over.round = m->round;
    over.n_scores = m->n_players;
    over.scores = ptrs;
    over.record = &rec;
    if (arena_arena_emit_round_over(ctx, verani_to_all(), &over) < 0)
        lwsl_warn("arena: %s: round_over was not sent\n", m->instance);
    lwsl_notice("arena: %s: round %u over, best %s with %u point(s)\n", m->instance, m->round,
                best ? best->user_id : "(nobody)", best ? best->points : 0);
    if (rec.high_scorer != m->high_scorer) {
        char *who = dup_str(rec.high_scorer);

        if (who) {             /* else the memory copy lags; storage has it */
            free(m->high_scorer);
            m->high_scorer = who;
        }
    }
    m->rounds = rec.rounds;
    m->high_score = rec.high_score;
    free(ptrs);                /* after the last use of best and rec.high_scorer */
    m->running = 0;
    m->dirty = 0;
    for (i = 0; i < m->n_players; i++)
        m->players[i].points = 0;
    return 0;
}

/* --- events ---------------------------------------------------------------------------- */

static int on_ready(verani_ctx *ctx)
{
    arena *a = verani_ctx_user(ctx);
    match *m = match_of(ctx);
    player *p = player_of_session(ctx, m);

    if (!p)
        return VERANI_ENOMEM;
    if (m->running)
        return 0;              /* ready counts between rounds */
    p->ready = 1;
    if (ready_count(ctx, m) < a->opts.min_players)
        return 0;
    return round_start(ctx, m);
}

/* A move is shown at the next tick; while a round runs it scores a point. */
static int on_move(verani_ctx *ctx, const Arena__Move *msg)
{
    match *m = match_of(ctx);
    player *p = player_of_session(ctx, m);

    if (!p)
        return VERANI_ENOMEM;
    p->x = msg->x;
    p->y = msg->y;
    p->moved = 1;
    if (m->running) {
        p->points++;
        m->dirty = 1;
    }
    return 0;
}

static int on_whisper(verani_ctx *ctx, const Arena__Whisper *msg)
{
    Arena__Whisper out = ARENA__WHISPER__INIT;
    int rc;

    out.to = msg->to;
    out.text = msg->text;
    out.from = (char *)verani_ctx_user_id(ctx);
    rc = arena_arena_emit_whispered(ctx, verani_to_user(msg->to), &out);
    return rc < 0 ? rc : 0;    /* 0 sessions reached (nobody by that id) is not an error */
}

/* --- the scoreboard: a deferred reply from the worker pool ------------------------------- */

/* Everything the worker needs, copied on the loop thread: the worker shares nothing with it.
 * Owned by the job until `board_done` frees it. */
typedef struct board_job {
    verani_reply *reply;       /* the deferred request; answered (consumed) by board_done */
    uint32_t work_ms;
    size_t n;
    Arena__Score *scores;      /* n; each user_id owned */
    Arena__Score **ptrs;       /* the block scores live in (scores_alloc) */
    Arena__Record record;      /* high_scorer owned */
    Arena__Scoreboard board;   /* filled by the worker; points into this job */
} board_job;

static void board_job_free(board_job *job)
{
    size_t i;

    for (i = 0; i < job->n; i++)
        free(job->scores[i].user_id);
    free(job->ptrs);
    free(job->record.high_scorer);
    free(job);
}

/* The snapshot of `m` a worker may sort, or NULL when out of memory. */
static board_job *board_job_new(const match *m, uint32_t work_ms)
{
    board_job *job = calloc(1, sizeof(*job));
    size_t i;

    if (!job)
        return NULL;
    job->work_ms = work_ms;
    arena__record__init(&job->record);
    arena__scoreboard__init(&job->board);
    job->scores = scores_alloc(m->n_players, &job->ptrs);
    job->record.high_scorer = dup_str(m->high_scorer);
    if (!job->scores || !job->record.high_scorer) {
        board_job_free(job);
        return NULL;
    }
    for (i = 0; i < m->n_players; i++, job->n++) {
        arena__score__init(&job->scores[i]);
        job->scores[i].points = m->players[i].points;
        job->scores[i].user_id = dup_str(m->players[i].user_id);
        if (!job->scores[i].user_id) {
            board_job_free(job);
            return NULL;
        }
    }
    job->record.rounds = m->rounds;
    job->record.high_score = m->high_score;
    job->board.running = m->running != 0;
    job->board.round = m->running ? m->round : 0;
    job->board.ends_at = m->running ? m->ends_at : 0;
    return job;
}

/* On a worker thread: the slow part (a pause for the database, then the sort). */
static void board_work(void *arg)
{
    board_job *job = arg;
    size_t i;

    if (job->work_ms) {
        struct timespec ts = {job->work_ms / 1000, (long)(job->work_ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) != 0)
            ;
    }
    if (job->n > 1)
        qsort(job->scores, job->n, sizeof(*job->scores), score_cmp);
    for (i = 0; i < job->n; i++)
        job->ptrs[i] = &job->scores[i];
    job->board.n_scores = job->n;
    job->board.scores = job->ptrs;
    job->board.record = &job->record;
}

/* Back on the loop thread: answer the request (an error when the worker never ran it: the
 * server is stopping) and free the job. */
static void board_done(verani_ctx *ctx, void *arg, int status)
{
    board_job *job = arg;
    int rc;

    if (status == 0)
        rc = arena_arena_reply_scoreboard(job->reply, &job->board);
    else
        rc = verani_reply_error(job->reply, "the scoreboard was not computed");
    if (rc < 0 && rc != VERANI_ECLOSED)
        lwsl_warn("arena: %s: the scoreboard answer failed: %s\n", verani_ctx_instance(ctx),
                  verani_strerror(rc));
    board_job_free(job);
}

/* Defer the reply, copy a snapshot, post it to the worker pool; the reply argument is not
 * used (a deferred request's answer is what board_done sends). */
static int on_scoreboard(verani_ctx *ctx, Arena__Scoreboard *reply)
{
    arena *a = verani_ctx_user(ctx);
    match *m = match_of(ctx);
    verani_reply *r;
    board_job *job;
    int rc;

    (void)reply;
    if (!m)
        return VERANI_ENOMEM;
    r = verani_ctx_defer(ctx);
    if (!r)
        return VERANI_ENOMEM;
    job = board_job_new(m, a->opts.work_ms);
    if (!job) {
        (void)verani_reply_error(r, "out of memory");
        return 0;
    }
    job->reply = r;
    rc = verani_ctx_post(ctx, board_work, board_done, job);
    if (rc < 0) {              /* not queued: done will not run, so answer and free here */
        (void)verani_reply_error(r, rc == VERANI_EFULL ? "busy, try again" : "not available");
        board_job_free(job);
    }
    return 0;
}

/* --- the arena -------------------------------------------------------------------------- */

arena *arena_create(const arena_options *opts)
{
    arena *a = calloc(1, sizeof(*a));

    if (!a)
        return NULL;
    if (opts)
        a->opts = *opts;
    if (!a->opts.tick_ms)
        a->opts.tick_ms = 100;
    if (!a->opts.round_ms)
        a->opts.round_ms = 30000;
    if (!a->opts.min_players)
        a->opts.min_players = 2;
    a->handlers.hooks.on_instance_start = on_instance_start;
    a->handlers.hooks.on_instance_stop = on_instance_stop;
    a->handlers.hooks.on_connect = on_connect;
    a->handlers.hooks.on_disconnect = on_disconnect;
    a->handlers.hooks.on_hibernation_restore = on_hibernation_restore;
    a->handlers.hooks.on_alarm = on_alarm;
    a->handlers.extract_meta = extract_meta;
    a->handlers.ready = on_ready;
    a->handlers.move = on_move;
    a->handlers.scoreboard = on_scoreboard;
    a->handlers.whisper = on_whisper;
    return a;
}

void arena_destroy(arena *a)
{
    free(a); /* the matches went with their instances (on_instance_stop) */
}

int arena_mount(verani_server *srv, arena *a)
{
    return arena_arena_mount(srv, &a->handlers, a);
}
