/* SPDX-License-Identifier: MIT */
/*
 * session.c: one connection's session on the server, from the first frame
 * to the close. The hello/welcome exchange, the per-message pipeline (rate
 * limit, envelope decode, event lookup, payload unpack, generated
 * validation, typed dispatch through the trampoline, on_message fallback),
 * join/leave, request/reply, error frames and the close policy for peers
 * that keep misbehaving; the handler context (verani_ctx_*) and the session
 * accessors; verani_emit. Writes happen only in vr_session_writable, which
 * coalesces every pending frame into one write. Resume (PROTOCOL.md
 * section 3): every sequenced frame is also kept in the session's retained
 * window; a connection that drops leaves its session detached for the grace
 * period, and a HELLO with the session's token moves the session onto the
 * new connection and replays what the client had not read. On a file store
 * the attachment is written at create, resume and channel changes (a crash
 * keeps identities, loses frames), a graceful stop saves every session with
 * its window, and listen restores them detached (on_hibernation_restore).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/core-private.h"
#include "server-int.h"
#include "storage/storage-private.h"

/* --- scratch memory and the handler context ------------------------------- */

void *vr_scratch_alloc(vr_scratch **list, size_t size)
{
    vr_scratch *b;

    if (size > SIZE_MAX - sizeof(*b))
        return NULL;
    b = vr_calloc(1, sizeof(*b) + size);
    if (!b)
        return NULL;
    b->next = *list;
    *list = b;
    return b->data;
}

void vr_scratch_free(vr_scratch **list)
{
    while (*list) {
        vr_scratch *n = (*list)->next;

        vr_free(*list);
        *list = n;
    }
}

void vr_ctx_init(struct verani_ctx *ctx, verani_server *srv, vr_mount *m, vr_instance *inst,
                 verani_session *s)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->srv = srv;
    ctx->mount = m;
    ctx->inst = inst;
    ctx->sess = s;
}

void vr_ctx_fini(struct verani_ctx *ctx)
{
    if (ctx->meta)
        protobuf_c_message_free_unpacked(ctx->meta, &vr_pb_allocator);
    ctx->meta = NULL;
    vr_scratch_free(&ctx->scratch);
}

static const verani_hooks *hooks_of(const vr_mount *m)
{
    return (const verani_hooks *)m->handlers;
}

void vr_handler_enter(verani_server *srv)
{
    srv->handler_depth++;
}

void vr_handler_leave(struct verani_ctx *ctx)
{
    verani_server *srv = ctx->srv;
    const verani_hooks *h = hooks_of(ctx->mount);
    char what[sizeof(srv->storage->last_error)];

    if (--srv->handler_depth > 0 || !srv->storage || vr_db_abandon(srv->storage) <= 0)
        return;
    snprintf(what, sizeof(what), "%s", srv->storage->last_error);
    VR_WARN("room %s '%s': %s\n", ctx->mount->def->schema->name,
            ctx->inst ? ctx->inst->name : "", what);
    if (h->on_error) {
        srv->handler_depth++;
        h->on_error(ctx, VERANI_ESTATE, what);
        srv->handler_depth--;
        vr_db_abandon(srv->storage); /* on_error's own, if any: not reported again */
    }
}

void *verani_ctx_user(verani_ctx *ctx) { return ctx ? ctx->mount->user : NULL; }
verani_server *verani_ctx_server(verani_ctx *ctx) { return ctx ? ctx->srv : NULL; }
const char *verani_ctx_room(verani_ctx *ctx) { return ctx ? ctx->mount->def->schema->name : NULL; }
const char *verani_ctx_instance(verani_ctx *ctx)
{
    return ctx && ctx->inst ? ctx->inst->name : NULL;
}
verani_session *verani_ctx_session(verani_ctx *ctx) { return ctx ? ctx->sess : NULL; }
const char *verani_ctx_user_id(verani_ctx *ctx)
{
    return ctx && ctx->sess ? ctx->sess->user_id : NULL;
}
const char *verani_ctx_client_id(verani_ctx *ctx)
{
    return ctx && ctx->sess ? ctx->sess->client_id : NULL;
}

void *verani_ctx_alloc(verani_ctx *ctx, size_t size)
{
    return ctx ? vr_scratch_alloc(&ctx->scratch, size) : NULL;
}

char *verani_ctx_strdup(verani_ctx *ctx, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *d = s ? verani_ctx_alloc(ctx, n + 1) : NULL;

    if (d)
        memcpy(d, s, n + 1);
    return d;
}

const ProtobufCMessage *verani_ctx_meta(verani_ctx *ctx)
{
    const ProtobufCMessageDescriptor *d;

    if (!ctx || !ctx->sess)
        return NULL;
    d = ctx->mount->def->schema->meta;
    if (!ctx->meta && d)
        ctx->meta = protobuf_c_message_unpack(d, &vr_pb_allocator, ctx->sess->meta_len,
                                              ctx->sess->meta);
    return ctx->meta;
}

/* --- session accessors --------------------------------------------------- */

const char *verani_session_user_id(const verani_session *s) { return s ? s->user_id : NULL; }
const char *verani_session_client_id(const verani_session *s) { return s ? s->client_id : NULL; }
size_t verani_session_channel_count(const verani_session *s) { return s ? s->n_channels : 0; }

const char *verani_session_channel(const verani_session *s, size_t i)
{
    return s && i < s->n_channels ? s->channels[i] : NULL;
}

int verani_session_in_channel(const verani_session *s, const char *channel)
{
    size_t i;

    for (i = 0; s && channel && i < s->n_channels; i++)
        if (!strcmp(s->channels[i], channel))
            return 1;
    return 0;
}

/* Wall-clock milliseconds (what the store keeps: monotonic time does not survive a restart). */
static int64_t wall_ms(void)
{
    struct timespec ts;

    timespec_get(&ts, TIME_UTC);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Is the session store on a file (else saving is pointless: ":memory:" dies with us), and is
 * there a resume to save sessions for? */
static int store_persistent(const verani_server *srv)
{
    return srv->storage && srv->opts.storage_path && strcmp(srv->opts.storage_path, ":memory:") &&
           srv->opts.resume_grace_ms != VERANI_RESUME_OFF;
}

/* `a` borrows the session's strings. */
static void fill_attachment(const verani_session *s, vr_attachment *a)
{
    memset(a, 0, sizeof(*a));
    memcpy(a->client_id, s->client_id, sizeof(s->client_id));
    memcpy(a->resume_token, s->resume_token, sizeof(s->resume_token));
    a->user_id = s->user_id;
    a->room = (char *)s->inst->mount->def->schema->name;
    a->instance = s->inst->name;
    a->meta = s->meta;
    a->meta_len = s->meta_len;
    a->channels = s->channels;
    a->n_channels = s->n_channels;
    a->last_seq = s->seq;
    a->updated_ms = wall_ms();
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
static void attachment_store(verani_session *s)
{
    if (!store_persistent(s->srv) || !s->hello_done)
        return;
    if (lws_dll2_is_detached(&s->store_node))
        lws_dll2_add_tail(&s->store_node, &s->srv->store_saves);
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
static void attachment_delete(verani_session *s)
{
    verani_server *srv = s->srv;

    vr_dll2_unlink(&s->store_node); /* a save not made yet: the delete covers it */
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

        if (r)
            break;
        fill_attachment(lws_container_of(d, verani_session, store_node), &a);
        r = vr_store_session_save(srv->storage, &a);
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

/*
 * Channel membership has two sides kept together: the session's names (in
 * join order, what the accessors and the attachment show) with a chref each,
 * and the instance's channel table (room.c) listing the members, which is
 * what a channel emit walks. Every change goes through channel_add,
 * channel_remove, channels_clear and adopt.
 */
static int channel_add(verani_session *s, const char *ch)
{
    char *name;

    if (verani_session_in_channel(s, ch))
        return 0;
    if (s->n_channels == s->cap_channels) {
        size_t ncap = s->cap_channels ? s->cap_channels * 2 : 2;
        char **n = vr_reallocarray(s->channels, ncap, sizeof(*n));
        vr_chanref *r;

        if (!n)
            return VERANI_ENOMEM;
        s->channels = n;
        r = vr_reallocarray(s->chref, ncap, sizeof(*r));
        if (!r)
            return VERANI_ENOMEM;
        s->chref = r;
        s->cap_channels = ncap;
    }
    name = vr_strdup(ch);
    if (!name)
        return VERANI_ENOMEM;
    if (vr_channel_join(s->inst, s, ch, &s->chref[s->n_channels])) {
        vr_free(name);
        return VERANI_ENOMEM;
    }
    s->channels[s->n_channels++] = name;
    return 1;
}

static int channel_remove(verani_session *s, const char *ch)
{
    size_t i;

    for (i = 0; i < s->n_channels; i++) {
        if (strcmp(s->channels[i], ch))
            continue;
        vr_channel_leave(s->inst, &s->chref[i]);
        vr_free(s->channels[i]);
        memmove(&s->channels[i], &s->channels[i + 1],
                (s->n_channels - i - 1) * sizeof(s->channels[0]));
        memmove(&s->chref[i], &s->chref[i + 1], (s->n_channels - i - 1) * sizeof(s->chref[0]));
        s->n_channels--;
        return 0;
    }
    return VERANI_ENOTFOUND;
}

/* Leave every channel and free the names. */
static void channels_clear(verani_session *s)
{
    size_t i;

    for (i = 0; i < s->n_channels; i++) {
        vr_channel_leave(s->inst, &s->chref[i]);
        vr_free(s->channels[i]);
    }
    vr_free(s->channels);
    vr_free(s->chref);
    s->channels = NULL;
    s->chref = NULL;
    s->n_channels = s->cap_channels = 0;
}

static int valid_channel(const char *ch)
{
    size_t n = ch ? strlen(ch) : 0;

    return n > 0 && n <= 128;
}

int verani_ctx_join(verani_ctx *ctx, const char *channel)
{
    int r;

    if (!ctx || !ctx->sess || !valid_channel(channel))
        return VERANI_EINVAL;
    r = channel_add(ctx->sess, channel);
    if (r > 0)
        attachment_store(ctx->sess);
    return r < 0 ? r : 0;
}

int verani_ctx_leave(verani_ctx *ctx, const char *channel)
{
    const verani_hooks *h;

    if (!ctx || !ctx->sess || !channel)
        return VERANI_EINVAL;
    if (channel_remove(ctx->sess, channel))
        return VERANI_ENOTFOUND;
    attachment_store(ctx->sess);
    h = hooks_of(ctx->mount);
    if (h->on_leave) {
        vr_handler_enter(ctx->srv);
        h->on_leave(ctx, channel);
        vr_handler_leave(ctx);
    }
    return 0;
}

int verani_ctx_close(verani_ctx *ctx, int code, const char *reason)
{
    /* codes an endpoint may send (RFC 6455 section 7.4), 1008 included for kicks */
    int ok = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
             (code >= 3000 && code <= 4999);

    if (!ctx || !ctx->sess || !ok || (reason && strlen(reason) > VERANI_CLOSE_REASON_MAX))
        return VERANI_EINVAL;
    vr_session_close(ctx->sess, code, reason ? reason : "", 0);
    return 0;
}

/* --- queue and close ----------------------------------------------------- */

verani_session *vr_session_new(verani_server *srv, struct lws *wsi, vr_pending *p)
{
    verani_session *s = vr_calloc(1, sizeof(*s));
    const verani_room_schema *sc = p->inst->mount->def->schema;

    if (!s)
        return NULL;
    s->srv = srv;
    s->wsi = wsi;
    s->inst = p->inst;       /* takes over p's `pending` count */
    s->user_id = p->user_id; /* ownership moves from the pending upgrade */
    s->meta = p->meta;
    s->meta_len = p->meta_len;
    s->want_chans = p->chans;
    p->inst = NULL;
    p->user_id = NULL;
    p->meta = NULL;
    memset(&p->chans, 0, sizeof(p->chans));
    vr_outq_init(&s->q);
    memcpy(s->epoch, srv->epoch, sizeof(s->epoch));
    lws_dll2_add_tail(&s->all, &srv->sessions);
    lws_dll2_add_tail(&s->tnode, &srv->handshaking); /* the hello timeout (sweep.c) */
    s->last_rx_us = lws_now_usecs();
    vr_bucket_init(&s->bucket, sc->rate, sc->burst, s->last_rx_us);
    return s;
}

/* Keep `f` for a later resume; a frame that cannot be kept makes that resume report
 * recovery_failed, nothing worse. */
static int retain(verani_session *s, vr_frame *f, uint64_t seq)
{
    const verani_server_options *o = &s->srv->opts;

    if (o->resume_grace_ms == VERANI_RESUME_OFF)
        return 0; /* nothing will ever replay it */
    /* The age bound, amortised: one look at the oldest entry per 64 frames (the sweep trims
     * quiet sessions, and every replay trims first). */
    if (!(seq & 63))
        vr_retain_trim(&s->retained, f->t_us - (int64_t)o->retain_max_age_ms * 1000);
    if (vr_retain_push(&s->retained, f, seq, o->retain_max_frames)) {
        VR_WARN("session %s: out of memory retaining frame %llu for resume\n", s->client_id,
                (unsigned long long)seq);
        return VERANI_ENOMEM;
    }
    return 0;
}

/* A write that failed (out of memory, a dead socket): the connection goes as if WRITEABLE had
 * returned -1. */
static void session_drop(verani_session *s)
{
    s->closing = 1;
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* How long a session whose queue is past its bound may go without its connection taking
 * anything before it is a slow consumer. */
#define VR_SLOW_STALL_US (1000 * LWS_US_PER_MS)

static uint32_t twice_u32(uint32_t v) { return v > UINT32_MAX / 2 ? UINT32_MAX : 2 * v; }
static size_t twice_size(size_t v) { return v > SIZE_MAX / 2 ? SIZE_MAX : 2 * v; }

/*
 * `f` does not fit under the queue's bound. That alone is no verdict: one loop turn can queue
 * more frames than the bound to a reader that drains (a thousand clients joining at once, a
 * thousand grace periods ending in one sweep). So the burst is written out first (when lws
 * holds no unsent part of the last write) and `f` tried again; past that, while the connection
 * took bytes within VR_SLOW_STALL_US, the queue may grow to twice its bound. VERANI_EFULL is
 * left for a reader that does not drain. The slow path only: a frame that fits never gets here.
 */
static int over_bound(verani_session *s, vr_frame *f, uint64_t seq)
{
    verani_server *srv = s->srv;
    uint32_t frames = srv->opts.queue_max_frames + s->replay_frames;
    size_t bytes = srv->opts.queue_max_bytes + s->replay_bytes;
    int r;

    if (!s->ping_pending && !lws_partial_buffered(s->wsi)) {
        if (vr_session_writable(s) < 0) {
            session_drop(s);
            return VERANI_ECLOSED;
        }
        r = vr_outq_push(&s->q, f, seq, frames, bytes);
        if (r != VERANI_EFULL)
            return r;
    }
    if (lws_now_usecs() - s->progress_us >= VR_SLOW_STALL_US)
        return VERANI_EFULL;
    return vr_outq_push(&s->q, f, seq, twice_u32(frames), twice_size(bytes));
}

/* `direct`: written at the end of this loop turn (vr_sessions_flush); else, on the poll()
 * loop, when lws says the connection is writable, a turn later, by which time a fan-out has
 * usually queued more. On epoll every write is direct: asking lws for WRITEABLE there costs
 * two epoll_ctl calls per write, more than the later write saves. */
static int enqueue(verani_session *s, vr_frame *f, int with_seq, int direct)
{
    verani_server *srv = s->srv;
    uint64_t seq = with_seq ? s->seq + 1 : 0;
    int r;

    if (s->detached && with_seq) {
        /* No connection: the frame takes its seq and waits in the retained window. */
        s->seq = seq;
        return retain(s, f, seq);
    }
    if (s->closing || !s->wsi)
        return VERANI_ECLOSED;
    r = vr_outq_push(&s->q, f, seq, srv->opts.queue_max_frames + s->replay_frames,
                     srv->opts.queue_max_bytes + s->replay_bytes);
    if (r == VERANI_EFULL)
        r = over_bound(s, f, seq);
    if (r == VERANI_EFULL) {
        if (srv->opts.slow_policy == VERANI_SLOW_DROP) {
            /* The dropped frame still takes its seq, so the client sees the gap. */
            s->seq = with_seq ? seq : s->seq;
            VR_INFO("session %s (user %s): outbound queue full, frame dropped\n", s->client_id,
                    s->user_id);
            return r;
        }
        VR_WARN("session %s (user %s): slow consumer, %u frames / %zu bytes queued, nothing "
                "taken for %lld ms: closing %d\n", s->client_id, s->user_id, s->q.count,
                s->q.bytes, (long long)((lws_now_usecs() - s->progress_us) / LWS_US_PER_MS),
                VR_CLOSE_SLOW_CONSUMER);
        /* Its queue goes now (memory stays flat); the close frame follows
         * whatever the socket still holds, and a peer that never reads again
         * is dropped by the close timeout. */
        vr_outq_fini(&s->q);
        srv->metrics.slow_disconnects++;
        vr_session_close(s, VR_CLOSE_SLOW_CONSUMER, "slow consumer", 0);
        return r;
    }
    if (r)
        return r;
    if (with_seq) {
        s->seq = seq;
        retain(s, f, seq);
    }
    /* Backpressure: a session whose replies pile up stops being read (TCP
     * then slows its sender) until its queue drains; see vr_session_writable. */
    if (!s->rx_paused && (s->q.count > srv->opts.queue_max_frames / 2 ||
                          s->q.bytes > srv->opts.queue_max_bytes / 2)) {
        s->rx_paused = 1;
        lws_rx_flow_control(s->wsi, 0);
    }
    if (!s->write_asked) { /* once per write, not once per frame of a fan-out */
        s->write_asked = 1;
        if (direct || srv->evloop)
            lws_dll2_add_tail(&s->dirty, &srv->dirty);
        else
            lws_callback_on_writable(s->wsi);
    }
    return 0;
}

int vr_session_enqueue(verani_session *s, vr_frame *f, int with_seq)
{
    return enqueue(s, f, with_seq, 0);
}

/*
 * The end of a loop turn: write every session that got a frame of its own during it (a
 * reply, a welcome, an error: send_env), one coalesced write each, directly, instead of
 * waiting for a WRITEABLE callback (a POLLOUT round trip through the event loop, and with
 * epoll two epoll_ctl calls per write). On the poll() loop fanned-out frames
 * (vr_session_enqueue) keep the WRITEABLE way: a turn later more of them share each write,
 * which costs less per frame than writing each turn's at once (bench/RESULTS.md); on
 * epoll they are direct too. A session whose last write is not out yet (lws holds a
 * partial send), that must ping or that is closing goes the WRITEABLE way too.
 */
void vr_sessions_flush(verani_server *srv)
{
    while (srv->dirty.head) {
        verani_session *s = lws_container_of(srv->dirty.head, verani_session, dirty);

        lws_dll2_remove(&s->dirty);
        if (!s->wsi || !s->write_asked)
            continue;
        if (s->closing || s->ping_pending || lws_partial_buffered(s->wsi)) {
            lws_callback_on_writable(s->wsi);
            continue;
        }
        if (vr_session_writable(s) < 0)
            session_drop(s);
    }
}

static const char *close_reason(const verani_session *s)
{
    return s->close_reason ? s->close_reason : "";
}

void vr_session_close(verani_session *s, int code, const char *reason, int kill)
{
    if (s->closing || !s->wsi)
        return;
    s->closing = 1;
    vr_timer_unlink(s); /* lws's own timeout bounds the close from here */
    s->close_code = code;
    /* allocated only now: most sessions never carry one (on OOM the close goes without) */
    s->close_reason = vr_strndup(reason, strlen(reason) < VR_CLOSE_REASON_MAX
                                         ? strlen(reason) : VR_CLOSE_REASON_MAX);
    VR_INFO("session %s (user %s): closing %d %s\n", s->client_id,
            s->user_id ? s->user_id : "-", code, reason);
    if (kill) {
        lws_close_reason(s->wsi, (enum lws_close_status)code, (unsigned char *)close_reason(s),
                         strlen(close_reason(s)));
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    /* Flush what is queued, then close in WRITEABLE; a peer that never lets
     * us write is dropped after a few seconds. */
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, 5);
    lws_callback_on_writable(s->wsi);
}

int vr_session_writable(verani_session *s)
{
    verani_server *srv = s->srv;

    if (!s->wsi)
        return -1;
    /* this write takes what an end-of-turn flush would have: out of that list too, so the
     * next enqueue can put the session back in it */
    s->write_asked = 0;
    vr_dll2_unlink(&s->dirty);
    if (s->ping_pending) {
        /* a payload, because lws 4.1 does not report an empty PONG */
        uint8_t buf[LWS_PRE + 1];

        buf[LWS_PRE] = 'v';
        s->ping_pending = 0;
        if (lws_write(s->wsi, buf + LWS_PRE, 1, LWS_WRITE_PING) < 1)
            return -1;
        if (s->q.count || s->closing)
            lws_callback_on_writable(s->wsi);
        return 0;
    }
    if (s->q.count) {
        size_t need = vr_outq_head_wire_size(&s->q), cap = need > VR_WRITE_CHUNK ? need
                                                                                 : VR_WRITE_CHUNK;
        size_t n;

        if (srv->wbuf_cap < LWS_PRE + cap) {
            uint8_t *nb = vr_realloc(srv->wbuf, LWS_PRE + cap);

            if (!nb)
                return -1;
            srv->wbuf = nb;
            srv->wbuf_cap = LWS_PRE + cap;
        }
        srv->metrics.frames_out += s->q.count;
        n = vr_outq_fill(&s->q, srv->wbuf + LWS_PRE, cap);
        srv->metrics.frames_out -= s->q.count; /* what fill took */
        srv->metrics.bytes_out += n;
        if (lws_write(s->wsi, srv->wbuf + LWS_PRE, n, LWS_WRITE_RAW) < (int)n)
            return -1;
        s->progress_us = lws_now_usecs(); /* the slow-consumer clock (over_bound) */
        if (s->rx_paused && s->q.count <= srv->opts.queue_max_frames / 4 &&
            s->q.bytes <= srv->opts.queue_max_bytes / 4) {
            s->rx_paused = 0;
            lws_rx_flow_control(s->wsi, 1);
        }
        if (!s->q.count) {
            s->replay_frames = 0;
            s->replay_bytes = 0;
        }
        if (s->q.count || s->closing)
            lws_callback_on_writable(s->wsi);
        return 0;
    }
    if (s->closing && !s->close_sent) {
        /* Our close frame, written here rather than by lws on a -1 (which closes TCP as soon
         * as more input arrives: with the peer's input unread, the kernel then sends a reset
         * that destroys what was written before the close, the close included). The peer's
         * close answers it (vr_session_peer_close); until then, or VR_CLOSE_ACK_SECS, its
         * input is read and dropped (vr_session_rx). */
        uint8_t b[LWS_PRE + 4 + VR_CLOSE_REASON_MAX], *f = b + LWS_PRE;
        size_t n = strlen(close_reason(s));

        /* lws 4.1 has no public way to write a close frame and stay open: it goes raw, like
         * every server frame (a close frame's payload is under 126 bytes: a 2-byte header) */
        f[0] = 0x88; /* FIN, opcode close */
        f[1] = (uint8_t)(2 + n);
        f[2] = (uint8_t)(s->close_code >> 8);
        f[3] = (uint8_t)s->close_code;
        memcpy(f + 4, close_reason(s), n);
        if (lws_write(s->wsi, f, 4 + n, LWS_WRITE_RAW) < (int)(4 + n))
            return -1;
        s->close_sent = 1;
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_ACK, VR_CLOSE_ACK_SECS);
        if (s->rx_paused) {
            s->rx_paused = 0;
            lws_rx_flow_control(s->wsi, 1);
        }
    }
    return 0;
}

int vr_session_peer_close(verani_session *s, int code)
{
    if (s->close_sent)
        return 1; /* the answer to ours: it says nothing of what the client meant */
    /* the client said goodbye (a tab closing sends 1001): no resume, on_disconnect now */
    if (code == VR_CLOSE_NORMAL || code == VR_CLOSE_GOING_AWAY)
        s->peer_closed = 1;
    return 0;
}

static void session_end(verani_session *s);

void vr_session_grace_expired(verani_session *s)
{
    VR_INFO("session %s (user %s): not resumed within the grace period\n", s->client_id,
            s->user_id);
    session_end(s);
}

/*
 * Which drops leave the session waiting for a resume: every close the server
 * did not ask for (a network error, a vanished peer, a close frame other than
 * 1000 and 1001), and the idle timeout (a dead network looks like that). Not:
 * a close frame with 1000 or 1001 (the client meant it), a kick or any other
 * close the server or the application started (1008, 1009, 1011, 4000,
 * verani_ctx_close), a graceful stop, or any drop when resume is off.
 */
static int detachable(const verani_session *s)
{
    return s->added && !s->peer_closed && !s->srv->stopping && !s->srv->stop_flag &&
           s->srv->opts.resume_grace_ms != VERANI_RESUME_OFF &&
           (!s->closing || s->close_code == VR_CLOSE_IDLE);
}

/* Past max_detached, the sessions lost longest ago end (on_disconnect) before their grace
 * period: what waits for a resume is bounded like what is connected. */
static void detached_bound(verani_server *srv)
{
    while (srv->detached.count > srv->opts.max_detached) {
        verani_session *o = lws_container_of(srv->detached.head, verani_session, all);

        VR_WARN("session %s (user %s): %u sessions wait for a resume, the max_detached limit: "
                "the oldest ends\n", o->client_id, o->user_id, srv->detached.count);
        srv->metrics.detached_dropped++;
        session_end(o);
    }
}

static void detach(verani_session *s)
{
    verani_server *srv = s->srv;

    s->wsi = NULL;
    s->closing = 0;
    s->detached = 1;
    s->write_asked = s->rx_paused = s->ping_pending = s->pinged = 0;
    vr_dll2_unlink(&s->dirty);
    vr_timer_unlink(s);
    s->last_rx_us = lws_now_usecs(); /* the grace period counts from here (sweep.c) */
    vr_outq_fini(&s->q); /* its sequenced frames are in `retained` */
    vr_free(s->rx);
    s->rx = NULL;
    s->rx_len = s->rx_cap = 0;
    lws_dll2_remove(&s->all);
    lws_dll2_add_tail(&s->all, &srv->detached);
    VR_INFO("session %s (user %s): connection lost, kept %u ms for a resume (seq %llu)\n",
            s->client_id, s->user_id, srv->opts.resume_grace_ms, (unsigned long long)s->seq);
    detached_bound(srv);
}

void vr_sessions_end_detached(verani_server *srv)
{
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&srv->detached)) {
        session_end(lws_container_of(d, verani_session, all));
    } lws_end_foreach_dll_safe(d, d1);
}

/* Free what a session owns besides its list entries and timer. */
static void session_free(verani_session *s)
{
    vr_timer_unlink(s);
    vr_dll2_unlink(&s->dirty);
    vr_dll2_unlink(&s->store_node);
    vr_outq_fini(&s->q);
    vr_outq_fini(&s->retained);
    channels_clear(s);
    vr_free(s->user_id);
    vr_free(s->meta);
    vr_free(s->rx);
    vr_free(s->close_reason);
    vr_free(s->want_chans.buf);
    vr_free(s);
}

void vr_session_closed(verani_session *s)
{
    if (detachable(s)) {
        detach(s);
        return;
    }
    session_end(s);
}

/* The session is gone: out of its instance, on_disconnect, freed. */
static void session_end(verani_session *s)
{
    vr_instance *inst = s->inst;

    s->wsi = NULL;
    s->closing = 1;
    s->detached = 0;
    vr_timer_unlink(s);
    lws_dll2_remove(&s->all);
    if (s->added && !s->saved && store_persistent(s->srv))
        attachment_delete(s);
    if (s->added) {
        struct verani_ctx ctx;
        const verani_hooks *h = hooks_of(inst->mount);

        lws_dll2_remove(&s->node);
        s->added = 0;
        /* a session saved for a restart is not gone: it comes back detached */
        if (h->on_disconnect && !s->saved) {
            vr_ctx_init(&ctx, s->srv, inst->mount, inst, s);
            vr_handler_enter(s->srv);
            h->on_disconnect(&ctx);
            vr_handler_leave(&ctx);
            vr_ctx_fini(&ctx);
        }
    } else if (inst) {
        inst->pending--;
    }
    vr_instance_maybe_free(inst);
    session_free(s);
}

/* --- frames the server sends --------------------------------------------- */

static vr_frame *frame_of(const vr_envelope *env)
{
    vr_frame *f = vr_frame_new(vr_wire_size(env));

    if (f)
        vr_wire_pack(env, f->body);
    return f;
}

static void send_env(verani_session *s, const vr_envelope *env, int with_seq)
{
    vr_frame *f = frame_of(env);

    if (!f)
        return;
    enqueue(s, f, with_seq, 1);
    vr_frame_unref(f);
}

static void send_error(verani_session *s, int code, const vr_envelope *req, const char *msg,
                       const char *field)
{
    vr_envelope env = VERANI__WIRE__ENVELOPE__INIT;
    Verani__Wire__Error err = VERANI__WIRE__ERROR__INIT;

    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__ERROR;
    if (req && req->has_request_id) {
        env.has_request_id = 1;
        env.request_id = req->request_id;
    }
    if (req && req->has_event) {
        env.has_event = 1;
        env.event = req->event;
    }
    err.has_code = 1;
    err.code = (Verani__Wire__ErrorCode)code;
    err.message = (char *)msg;
    err.field = (char *)field;
    env.error = &err;
    vr_metrics_error(&s->srv->metrics, code);
    VR_INFO("session %s: error %s: %s%s%s\n", s->client_id, vr_wire_error_name(code), msg,
            field ? " field " : "", field ? field : "");
    send_env(s, &env, 0);
}

/* A refused frame: answer it, and close with 1008 after too many in a row. */
static void refuse(verani_session *s, int code, const vr_envelope *req, const char *msg,
                   const char *field)
{
    send_error(s, code, req, msg, field);
    if (++s->proto_errors >= VR_MAX_PROTO_ERRORS)
        vr_session_close(s, VR_CLOSE_POLICY, "too many protocol errors", 0);
}

/* --- hello --------------------------------------------------------------- */


/* Equal tokens, in time that does not depend on where they differ. */
static int token_equal(const char *a, const char *b, size_t n)
{
    unsigned char d = 0;
    size_t i;

    for (i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/*
 * The session of this instance that `token` resumes: hello done, not being
 * closed by the server, the same user id. NULL when none (a wrong, stale,
 * reused or foreign token: the caller starts a fresh session).
 */
static verani_session *find_resumable(verani_session *s, const char *token)
{
    verani_session *found = NULL;
    size_t n = sizeof(s->resume_token) - 1;

    if (!token || strlen(token) != n || !s->user_id)
        return NULL;
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&s->inst->sessions)) {
        verani_session *o = lws_container_of(d, verani_session, node);

        if (o != s && o->added && !o->closing && o->user_id && !strcmp(o->user_id, s->user_id) &&
            token_equal(o->resume_token, token, n))
            found = o;
    } lws_end_foreach_dll(d);
    return found;
}

/*
 * Move session `o` (detached, or still on an older connection that is then
 * dropped) into `s`, the new connection's session, which has not joined the
 * instance yet: client id, meta, channels, seq and retained frames. `o` is
 * freed without on_disconnect.
 */
static void adopt(verani_session *s, verani_session *o)
{
    size_t i;

    if (o->wsi) {
        struct vr_pss *pss = lws_wsi_user(o->wsi);

        VR_INFO("session %s: resumed on a new connection; the old one is dropped\n",
                o->client_id);
        if (pss)
            pss->s = NULL; /* its CLOSED no longer concerns this session */
        lws_set_timeout(o->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        o->wsi = NULL;
    }
    memcpy(s->client_id, o->client_id, sizeof(s->client_id));
    vr_free(s->meta);
    s->meta = o->meta;
    s->meta_len = o->meta_len;
    o->meta = NULL;
    channels_clear(s); /* none: it has not joined anything before its hello */
    s->channels = o->channels;
    s->chref = o->chref;
    s->n_channels = o->n_channels;
    s->cap_channels = o->cap_channels;
    for (i = 0; i < s->n_channels; i++) /* the same instance: only the member changes */
        s->chref[i].ch->members[s->chref[i].idx] = s;
    o->channels = NULL;
    o->chref = NULL;
    o->n_channels = o->cap_channels = 0;
    s->seq = o->seq;
    memcpy(s->epoch, o->epoch, sizeof(s->epoch));
    s->retained = o->retained;
    vr_outq_init(&o->retained);
    s->bucket = o->bucket;   /* a reconnect does not refill the rate limit */
    vr_timer_unlink(o);
    lws_dll2_remove(&o->all);
    lws_dll2_remove(&o->node);
    o->added = 0;
    session_free(o);
}

/*
 * A new session's first channels: those extract_meta asked for (each one on_join allows),
 * else the schema's, else "default". 0, or VERANI_ENOMEM.
 */
static int initial_channels(verani_session *s)
{
    vr_mount *m = s->inst->mount;
    const verani_room_schema *sc = m->def->schema;
    const verani_hooks *h = hooks_of(m);
    struct verani_ctx ctx;
    const char *p;
    size_t i;
    int r = 0;

    if (!s->want_chans.n) {
        for (i = 0; r >= 0 && i < sc->n_channels; i++)
            r = channel_add(s, sc->channels[i]);
        if (r >= 0 && !sc->n_channels)
            r = channel_add(s, "default");
        return r < 0 ? r : 0;
    }
    vr_ctx_init(&ctx, s->srv, m, s->inst, s);
    for (p = s->want_chans.buf, i = 0; r >= 0 && i < s->want_chans.n; p += strlen(p) + 1, i++) {
        if (h->on_join) {
            vr_handler_enter(s->srv);
            r = h->on_join(&ctx, p);
            vr_handler_leave(&ctx);
            if (r < 0) {
                VR_INFO("session %s: on_join refused channel %s\n", s->client_id, p);
                r = 0;
                continue;
            }
        }
        r = channel_add(s, p);
    }
    vr_ctx_fini(&ctx);
    vr_free(s->want_chans.buf);
    memset(&s->want_chans, 0, sizeof(s->want_chans));
    return r < 0 ? r : 0;
}

/* Queue the WELCOME (and a SCHEMA_MISMATCH warning when `mismatch`) ahead of what the session
 * already holds (what on_connect emitted to it), so it is the first frame on the wire. */
static void welcome_first(verani_session *s, const vr_envelope *welcome, int mismatch)
{
    vr_outq later = s->q;
    uint32_t i;

    vr_outq_init(&s->q);
    send_env(s, welcome, 0);
    if (mismatch)
        send_error(s, VERANI__WIRE__ERROR_CODE__SCHEMA_MISMATCH, NULL,
                   "the client was generated from a different schema than the server", NULL);
    for (i = 0; i < later.count; i++) {
        const vr_qent *e = vr_outq_at(&later, i);

        if (vr_outq_push(&s->q, e->frame, e->seq, UINT32_MAX, SIZE_MAX))
            VR_WARN("session %s: out of memory queueing frame %llu\n", s->client_id,
                    (unsigned long long)e->seq);
    }
    vr_outq_fini(&later);
}

static void on_hello(verani_session *s, const vr_envelope *env)
{
    vr_instance *inst = s->inst;
    vr_mount *m = inst->mount;
    const verani_room_schema *sc = m->def->schema;
    const verani_hooks *h = hooks_of(m);
    const Verani__Wire__Hello *hello = env->hello;
    vr_envelope out = VERANI__WIRE__ENVELOPE__INIT;
    Verani__Wire__Welcome w = VERANI__WIRE__WELCOME__INIT;
    struct verani_ctx ctx;
    verani_session *old;
    uint64_t last = 0;
    int recovered = 1;
    int r;

    if (hello && hello->has_protocol && hello->protocol != VR_WIRE_PROTOCOL) {
        refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, env, "unsupported protocol version; "
               "this server speaks protocol 1", NULL);
        return;
    }
    old = hello ? find_resumable(s, hello->resume_token) : NULL;
    if ((!old && vr_uuid4(s->client_id)) || vr_random_hex(s->resume_token, 16)) {
        vr_session_close(s, VR_CLOSE_INTERNAL, "internal error", 0);
        return;
    }
    if (old) {
        /* A HELLO from another epoch (the server crashed since that client's welcome): its
         * last_seq counts a stream that is gone, so every frame of this epoch is new to it,
         * and what the crash lost after its last_seq cannot be known: recovery failed. */
        int other_epoch = hello->epoch && *hello->epoch && strcmp(hello->epoch, old->epoch);

        last = hello->has_last_seq && !other_epoch ? hello->last_seq : 0;
        adopt(s, old);
        /* what aged out is gone, whatever the count bound says */
        vr_retain_trim(&s->retained, vr_now_us() -
                       (int64_t)s->srv->opts.retain_max_age_ms * 1000);
        recovered = vr_retain_replay(&s->retained, last, s->seq, NULL) == 1 && !other_epoch;
        VR_INFO("session %s (user %s) resumed after seq %llu (now %llu)%s\n", s->client_id,
                s->user_id, (unsigned long long)last, (unsigned long long)s->seq,
                recovered ? "" : ": some frames are no longer retained");
        if (recovered)
            s->srv->metrics.resumes_recovered++;
        else
            s->srv->metrics.resumes_failed++;
    } else if (hello && hello->resume_token && *hello->resume_token) {
        s->srv->metrics.resumes_refused++; /* a fresh session instead */
    }
    s->hello_done = 1;
    s->proto_errors = 0;
    /* from now on the sweep does idle checks, counted from the HELLO */
    vr_timer_unlink(s);
    s->last_rx_us = lws_now_usecs();
    lws_dll2_add_tail(&s->tnode, &s->srv->lru);
    if (!old && initial_channels(s) < 0) {
        vr_session_close(s, VR_CLOSE_INTERNAL, "internal error", 0);
        return;
    }
    attachment_store(s);
    inst->pending--;
    lws_dll2_add_tail(&s->node, &inst->sessions);
    s->added = 1;
    if (!old) {
        VR_INFO("session %s (user %s) joined %s '%s'\n", s->client_id, s->user_id, sc->name,
                inst->name);
        /* on_connect before the WELCOME is built, so the channels it joins are in it; what
         * it emits to the session is queued behind the WELCOME (welcome_first) */
        if (h->on_connect) {
            vr_ctx_init(&ctx, s->srv, m, inst, s);
            vr_handler_enter(s->srv);
            r = h->on_connect(&ctx);
            if (r < 0 && h->on_error)
                h->on_error(&ctx, r, "on_connect failed");
            vr_handler_leave(&ctx);
            vr_ctx_fini(&ctx);
            if (r < 0) {
                /* No orphan: the session leaves before the close, without on_disconnect,
                 * and without a WELCOME. */
                lws_dll2_remove(&s->node);
                s->added = 0;
                inst->pending++;
                vr_outq_fini(&s->q);
                vr_session_close(s, VR_CLOSE_INTERNAL, "internal server error", 0);
                return;
            }
        }
    }

    out.has_kind = 1;
    out.kind = VERANI__WIRE__KIND__WELCOME;
    w.has_protocol = 1;
    w.protocol = VR_WIRE_PROTOCOL;
    w.client_id = s->client_id;
    w.user_id = s->user_id;
    w.resume_token = s->resume_token;
    w.fingerprint = (char *)sc->fingerprint;
    w.n_channels = s->n_channels;
    w.channels = s->channels;
    w.has_max_frame = 1;
    w.max_frame = sc->max_frame;
    w.has_seq = 1;
    w.seq = old ? s->seq : 0; /* a new session's first seq is 1, on_connect's frames too */
    w.epoch = s->epoch;
    w.has_resumed = 1;
    w.resumed = old != NULL;
    w.has_recovery_failed = 1;
    w.recovery_failed = !recovered;
    out.welcome = &w;
    welcome_first(s, &out, hello && hello->fingerprint && sc->fingerprint &&
                           strcmp(hello->fingerprint, sc->fingerprint));
    if (old) {
        /* The replay: what is still retained after last_seq, even when some is missing
         * (recovery_failed tells the client to resync; what is there still arrives in
         * order). Past the queue bound on purpose: the retained window bounds it. */
        if (vr_retain_replay(&s->retained, last, s->seq, &s->q) < 0)
            VR_WARN("session %s: out of memory replaying; the client sees a gap\n",
                    s->client_id);
        /* new frames still fit behind the replay until the queue drains once */
        s->replay_frames = s->q.count;
        s->replay_bytes = s->q.bytes;
        if (s->q.count && !s->write_asked) {
            s->write_asked = 1;
            lws_callback_on_writable(s->wsi);
        }
    }
}

/* --- dispatch ------------------------------------------------------------ */

static long event_index(const verani_event_def *t, size_t n, uint32_t id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (t[mid].id == id)
            return (long)mid;
        if (t[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void handler_failed(verani_session *s, struct verani_ctx *ctx, const vr_envelope *env,
                           int r, const char *what)
{
    const verani_hooks *h = hooks_of(ctx->mount);

    if (h->on_error) {
        vr_handler_enter(ctx->srv);
        h->on_error(ctx, r, what);
        vr_handler_leave(ctx);
    }
    send_error(s, VERANI__WIRE__ERROR_CODE__HANDLER_FAILED, env, "the server failed to handle "
               "the event", NULL);
}

static void send_reply(verani_session *s, const vr_envelope *req, const ProtobufCMessage *out,
                       struct verani_ctx *ctx)
{
    const verani_hooks *h = hooks_of(ctx->mount);
    vr_envelope env = VERANI__WIRE__ENVELOPE__INIT;
    uint8_t small[512], *buf = small;
    size_t n = out ? protobuf_c_message_get_packed_size(out) : 0, wire;
    char msg[160];

    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__REPLY;
    env.has_request_id = req->has_request_id;
    env.request_id = req->request_id;
    env.has_event = req->has_event;
    env.event = req->event;
    env.has_payload = out != NULL;
    env.payload.len = n; /* the size only: nothing is packed yet */
    wire = vr_wire_size(&env);
    if (wire > s->srv->opts.queue_max_bytes) {
        /* It could never be queued: closing the session as a slow consumer would only make
         * the client ask again. The request gets an ERROR instead, and the application
         * hears of it; nothing is packed. */
        snprintf(msg, sizeof(msg), "the reply is %zu bytes, more than this session's outbound "
                 "queue holds (%zu bytes): not sent", wire, s->srv->opts.queue_max_bytes);
        VR_WARN("session %s: %s\n", s->client_id, msg);
        if (h->on_error) {
            vr_handler_enter(ctx->srv);
            h->on_error(ctx, VERANI_ETOOBIG, msg);
            vr_handler_leave(ctx);
        }
        send_error(s, VERANI__WIRE__ERROR_CODE__TOO_LARGE, req, msg, NULL);
        return;
    }
    if (n > sizeof(small)) {
        buf = vr_malloc(n);
        if (!buf) {
            handler_failed(s, ctx, req, VERANI_ENOMEM, "out of memory packing a reply");
            return;
        }
    }
    if (out) {
        env.payload.len = protobuf_c_message_pack(out, buf);
        env.payload.data = buf;
    }
    send_env(s, &env, 1);
    if (buf != small)
        vr_free(buf);
}

/* hooks.on_any, after an event's handler (or on_message) returned `result`. */
static void any_hook(struct verani_ctx *ctx, const vr_envelope *env, int result)
{
    const verani_hooks *h = hooks_of(ctx->mount);

    if (!h->on_any)
        return;
    vr_handler_enter(ctx->srv);
    h->on_any(ctx, env->event, env->payload.data, env->has_payload ? env->payload.len : 0,
              result);
    vr_handler_leave(ctx);
}

/* A client EVENT with an id the schema does not declare, in a room with `open_events`: the
 * raw payload to on_message (not decoded, not validated: the application's to check). */
static void open_event(verani_session *s, const vr_envelope *env)
{
    const verani_hooks *h = hooks_of(s->inst->mount);
    struct verani_ctx ctx;
    int r;

    s->proto_errors = 0;
    vr_ctx_init(&ctx, s->srv, s->inst->mount, s->inst, s);
    vr_handler_enter(s->srv);
    r = h->on_message(&ctx, env->event, env->payload.data, env->has_payload ?
                      env->payload.len : 0);
    vr_handler_leave(&ctx);
    any_hook(&ctx, env, r);
    if (r < 0)
        handler_failed(s, &ctx, env, r, "on_message failed on an open event");
    vr_ctx_fini(&ctx);
}

static void on_event(verani_session *s, const vr_envelope *env)
{
    vr_mount *m = s->inst->mount;
    const verani_room_schema *sc = m->def->schema;
    const verani_hooks *h = hooks_of(m);
    int request = env->kind == VERANI__WIRE__KIND__REQUEST;
    long i = env->has_event ? event_index(sc->on, sc->n_on, env->event) : -1;
    const verani_event_def *ev;
    ProtobufCMessage *in = NULL, *out = NULL;
    struct verani_ctx ctx;
    verani_verr verr;
    char msg[VERANI_VERR_PATH_MAX + VERANI_VERR_REASON_MAX + 64];
    int r;

    if (i < 0 && sc->open_events && !request && env->has_event && h->on_message) {
        open_event(s, env);
        return;
    }
    if (i < 0) {
        snprintf(msg, sizeof(msg), "room %s has no event with id %u", sc->name,
                 env->has_event ? env->event : 0);
        refuse(s, VERANI__WIRE__ERROR_CODE__UNKNOWN_EVENT, env, msg, NULL);
        return;
    }
    ev = &sc->on[i];
    if (request != (ev->out != NULL)) {
        snprintf(msg, sizeof(msg), request ? "event '%s' has no reply: send it as EVENT"
                                           : "event '%s' has a reply: send it as REQUEST",
                 ev->name);
        refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, env, msg, NULL);
        return;
    }
    if (ev->in) {
        in = protobuf_c_message_unpack(ev->in, &vr_pb_allocator, env->has_payload ?
                                       env->payload.len : 0, env->payload.data);
        if (!in) {
            snprintf(msg, sizeof(msg), "the payload of '%s' does not decode as %s", ev->name,
                     ev->in->name);
            refuse(s, VERANI__WIRE__ERROR_CODE__INVALID_PAYLOAD, env, msg, "");
            return;
        }
        memset(&verr, 0, sizeof(verr));
        if (ev->validate_in && ev->validate_in(in, &verr)) {
            snprintf(msg, sizeof(msg), "%s: %s", verr.path, verr.reason);
            refuse(s, VERANI__WIRE__ERROR_CODE__INVALID_PAYLOAD, env, msg, verr.path);
            protobuf_c_message_free_unpacked(in, &vr_pb_allocator);
            return;
        }
    }
    s->proto_errors = 0;
    vr_ctx_init(&ctx, s->srv, m, s->inst, s);
    if (ev->out) {
        out = verani_ctx_alloc(&ctx, ev->out->sizeof_message);
        if (out)
            ev->out->message_init(out);
    }
    if (ev->out && !out)
        r = VERANI_ENOMEM;
    else {
        int64_t t0 = lws_now_usecs();

        vr_handler_enter(s->srv);
        r = m->def->invoke[i](&ctx, m->handlers, in, out);
        vr_handler_leave(&ctx);
        vr_metrics_handler_time(&s->srv->metrics, lws_now_usecs() - t0);
    }
    if (r == VERANI_ENOHANDLER && h->on_message) {
        vr_handler_enter(s->srv);
        r = h->on_message(&ctx, ev->id, env->payload.data, env->has_payload ?
                          env->payload.len : 0);
        vr_handler_leave(&ctx);
    }
    any_hook(&ctx, env, r);
    if (r == VERANI_ENOHANDLER && !request)
        r = 0; /* an event nobody handles is dropped, as designed */
    if (r == VERANI_ENOHANDLER && request) {
        send_error(s, VERANI__WIRE__ERROR_CODE__NO_HANDLER, env, "the server has no "
                   "handler for this request", NULL);
        r = 0;
        request = 0;
    }
    if (r < 0) {
        snprintf(msg, sizeof(msg), "handler for '%s' failed: %s", ev->name, verani_strerror(r));
        handler_failed(s, &ctx, env, r, msg);
    } else if (request) {
        memset(&verr, 0, sizeof(verr));
        if (ev->validate_out && ev->validate_out(out, &verr)) {
            snprintf(msg, sizeof(msg), "reply of '%s' fails validation: %s: %s", ev->name,
                     verr.path, verr.reason);
            handler_failed(s, &ctx, env, VERANI_EINVAL, msg);
        } else {
            send_reply(s, env, out, &ctx);
        }
    }
    if (in)
        protobuf_c_message_free_unpacked(in, &vr_pb_allocator);
    vr_ctx_fini(&ctx);
}

static void on_join_leave(verani_session *s, const vr_envelope *env)
{
    vr_mount *m = s->inst->mount;
    const verani_hooks *h = hooks_of(m);
    vr_envelope out = VERANI__WIRE__ENVELOPE__INIT;
    struct verani_ctx ctx;
    int r = 0;

    if (!valid_channel(env->channel)) {
        refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, env, "JOIN and LEAVE need a channel of 1 "
               "to 128 bytes", NULL);
        return;
    }
    s->proto_errors = 0;
    vr_ctx_init(&ctx, s->srv, m, s->inst, s);
    if (env->kind == VERANI__WIRE__KIND__JOIN) {
        if (!verani_session_in_channel(s, env->channel)) {
            if (h->on_join) {
                vr_handler_enter(s->srv);
                r = h->on_join(&ctx, env->channel);
                vr_handler_leave(&ctx);
            }
            if (r < 0) {
                send_error(s, VERANI__WIRE__ERROR_CODE__JOIN_DENIED, env, "joining this channel "
                           "was refused", NULL);
                vr_ctx_fini(&ctx);
                return;
            }
            r = verani_ctx_join(&ctx, env->channel);
        }
    } else {
        r = verani_ctx_leave(&ctx, env->channel);
        if (r == VERANI_ENOTFOUND) {
            send_error(s, VERANI__WIRE__ERROR_CODE__NOT_JOINED, env, "the session is not in this "
                       "channel", NULL);
            vr_ctx_fini(&ctx);
            return;
        }
    }
    vr_ctx_fini(&ctx);
    if (r < 0) {
        send_error(s, VERANI__WIRE__ERROR_CODE__HANDLER_FAILED, env, "the server could not change "
                   "channels", NULL);
        return;
    }
    out.has_kind = 1;
    out.kind = VERANI__WIRE__KIND__REPLY;
    out.has_request_id = env->has_request_id;
    out.request_id = env->request_id;
    out.channel = env->channel;
    send_env(s, &out, 1);
}

static void handle_message(verani_session *s, const uint8_t *buf, size_t len, int binary)
{
    vr_envelope *env = NULL;
    const char *why = NULL;

    if (!vr_bucket_take(&s->bucket, lws_now_usecs())) {
        s->srv->metrics.rate_limited++;
        if (++s->limited >= VR_MAX_PROTO_ERRORS) {
            vr_session_close(s, VR_CLOSE_POLICY, "rate limit exceeded", 0);
            return;
        }
        /* decoded only to answer it with its request_id and event (PROTOCOL.md section 3):
         * the sender matches the error to its request instead of waiting for a timeout */
        if (!binary || vr_wire_decode(buf, len, &env, NULL))
            env = NULL;
        send_error(s, VERANI__WIRE__ERROR_CODE__RATE_LIMITED, env, "over the room's rate "
                   "limit; the frame was dropped", NULL);
        vr_wire_free(env);
        return;
    }
    s->limited = 0;
    if (!binary) {
        refuse(s, VERANI__WIRE__ERROR_CODE__BAD_FRAME, NULL, "text frames are not part of the "
               "protocol; send binary Envelope frames", NULL);
        return;
    }
    if (vr_wire_decode(buf, len, &env, &why)) {
        refuse(s, VERANI__WIRE__ERROR_CODE__BAD_FRAME, NULL, why, NULL);
        return;
    }
    if (!s->hello_done) {
        if (env->kind == VERANI__WIRE__KIND__HELLO)
            on_hello(s, env);
        else
            refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, env, "the first frame must be HELLO",
                   NULL);
        vr_wire_free(env);
        return;
    }
    switch (env->kind) {
    case VERANI__WIRE__KIND__EVENT:
    case VERANI__WIRE__KIND__REQUEST:
        on_event(s, env);
        break;
    case VERANI__WIRE__KIND__JOIN:
    case VERANI__WIRE__KIND__LEAVE:
        if (env->channel && vr_wire_channel_has_nul(buf, len))
            refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, env, "a channel name may not contain "
                   "a NUL byte", NULL);
        else
            on_join_leave(s, env);
        break;
    case VERANI__WIRE__KIND__PING: {
        vr_envelope out = VERANI__WIRE__ENVELOPE__INIT;

        s->proto_errors = 0;
        out.has_kind = 1;
        out.kind = VERANI__WIRE__KIND__PONG;
        out.has_request_id = env->has_request_id;
        out.request_id = env->request_id;
        send_env(s, &out, 0);
        break;
    }
    case VERANI__WIRE__KIND__HELLO:
        refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, env, "HELLO was already received", NULL);
        break;
    default:
        refuse(s, VERANI__WIRE__ERROR_CODE__PROTOCOL, env, "this kind of frame is not sent by "
               "clients", NULL);
        break;
    }
    vr_wire_free(env);
}

int vr_session_rx(verani_session *s, const uint8_t *in, size_t len, int binary, int first,
                  int final)
{
    uint32_t max = s->inst->mount->def->schema->max_frame;
    char why[64];

    /* A closing session ignores what still arrives, except during a graceful
     * shutdown: frames the client sent before it saw the 1012 are handled. */
    if (s->closing && (s->close_code != VR_CLOSE_RESTART || !s->hello_done))
        return 0;
    vr_session_heard(s);
    if (first)
        s->rx_len = 0;
    if (s->rx_len + len > max) {
        snprintf(why, sizeof(why), "message over max_frame (%u bytes)", max);
        vr_session_close(s, VR_CLOSE_TOO_BIG, why, 0);
        s->rx_len = 0;
        return 0;
    }
    if (first && final) {
        handle_message(s, in, len, binary);
        return 0;
    }
    if (s->rx_len + len > s->rx_cap) {
        size_t ncap = s->rx_cap ? s->rx_cap : 1024;
        uint8_t *n;

        while (ncap < s->rx_len + len)
            ncap *= 2;
        n = vr_realloc(s->rx, ncap);
        if (!n)
            return -1;
        s->rx = n;
        s->rx_cap = ncap;
    }
    memcpy(s->rx + s->rx_len, in, len);
    s->rx_len += len;
    if (final) {
        handle_message(s, s->rx, s->rx_len, binary);
        /* no reassembly buffer is kept per idle connection */
        vr_free(s->rx);
        s->rx = NULL;
        s->rx_len = 0;
        s->rx_cap = 0;
    }
    return 0;
}

/* --- emit ---------------------------------------------------------------- */

vr_frame *vr_event_frame(const verani_event_def *ev, const ProtobufCMessage *msg,
                         const char *channel, int *err)
{
    vr_envelope env = VERANI__WIRE__ENVELOPE__INIT;
    uint8_t small[512], *buf = small;
    verani_verr verr;
    vr_frame *f;
    size_t n = 0;

    *err = 0;
    if ((ev->in && (!msg || msg->descriptor != ev->in)) || (!ev->in && msg)) {
        VR_ERR("emit '%s': the payload is not of the event's type\n", ev->name);
        *err = VERANI_EINVAL;
        return NULL;
    }
    memset(&verr, 0, sizeof(verr));
    if (msg && ev->validate_in && ev->validate_in(msg, &verr)) {
        VR_WARN("emit '%s': payload fails validation: %s: %s\n", ev->name, verr.path,
                verr.reason);
        *err = VERANI_EINVAL;
        return NULL;
    }
    if (msg) {
        n = protobuf_c_message_get_packed_size(msg);
        if (n > sizeof(small) && !(buf = vr_malloc(n))) {
            *err = VERANI_ENOMEM;
            return NULL;
        }
        env.has_payload = 1;
        env.payload.len = protobuf_c_message_pack(msg, buf);
        env.payload.data = buf;
    }
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__EVENT;
    env.has_event = 1;
    env.event = ev->id;
    env.channel = (char *)channel;
    f = frame_of(&env);
    if (!f)
        *err = VERANI_ENOMEM;
    if (buf != small)
        vr_free(buf);
    return f;
}

/* Is `ev` one of the room's emit events (the very table entry, or one with its id and type)? */
static int is_emit_event(const verani_room_schema *sc, const verani_event_def *ev)
{
    long i = event_index(sc->emit, sc->n_emit, ev->id);

    return i >= 0 && sc->emit[i].in == ev->in;
}

int verani_emit(verani_ctx *ctx, const verani_target *to, const verani_event_def *ev,
                const ProtobufCMessage *msg)
{
    vr_frame *f;
    int err, n;

    if (!ctx || !to || !ev || !ctx->inst)
        return VERANI_EINVAL;
    if (!is_emit_event(ctx->mount->def->schema, ev)) {
        VR_ERR("emit: event '%s' is not an emit event of room %s\n", ev->name,
               ctx->mount->def->schema->name);
        return VERANI_EINVAL;
    }
    f = vr_event_frame(ev, msg, to->kind == VERANI_TO_CHANNEL ? to->name : NULL, &err);
    if (!f)
        return err;
    if (!vr_frame_fits(ctx->srv, f)) {
        VR_WARN("emit '%s': %zu bytes, more than any session's outbound queue holds (%zu): "
                "not sent\n", ev->name, (size_t)f->len, ctx->srv->opts.queue_max_bytes);
        vr_frame_unref(f);
        return VERANI_ETOOBIG;
    }
    n = ctx->srv->broker->publish(ctx->inst, to, ctx->sess, f);
    vr_frame_unref(f);
    return n;
}

/* --- a graceful restart: sessions saved at stop, restored detached ----------- */

static int session_save(verani_session *s, int64_t now_ms, int64_t now_us)
{
    verani_storage_db *db = s->srv->storage;
    vr_attachment a;
    uint32_t i;
    int r;

    /* the window in memory is within its count bound; its age bound applies now */
    vr_retain_trim(&s->retained, now_us - (int64_t)s->srv->opts.retain_max_age_ms * 1000);
    fill_attachment(s, &a);
    a.updated_ms = now_ms;
    /* the seq stream goes on in the next server: its epoch with it (a running server's
     * attachments have none, so after a crash the next server starts a new one) */
    memcpy(a.epoch, s->epoch, sizeof(a.epoch));
    /* the frames stored before (a restored session) go: the window is in memory */
    r = vr_store_session_delete(db, s->client_id);
    r = r == VERANI_ENOTFOUND ? 0 : r;
    if (!r)
        r = vr_store_session_save(db, &a);
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
    int64_t now_ms = wall_ms(), now_us = vr_now_us();
    size_t i, n = 0;
    int r = 0;

    if (!store_persistent(srv))
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

                if (!r && s->hello_done && s->added) {
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

static int restore_one(const vr_attachment *a, void *user)
{
    vr_restoring *st = user;
    verani_session *s, **nl;
    size_t i;

    if (st->n == st->cap) {
        nl = vr_reallocarray(st->list, st->cap ? st->cap * 2 : 8, sizeof(*nl));
        if (!nl)
            return VERANI_ENOMEM;
        st->list = nl;
        st->cap = st->cap ? st->cap * 2 : 8;
    }
    s = vr_calloc(1, sizeof(*s));
    if (!s)
        return VERANI_ENOMEM;
    st->list[st->n++] = s;
    s->srv = st->srv;
    s->inst = st->inst;
    snprintf(s->client_id, sizeof(s->client_id), "%s", a->client_id);
    snprintf(s->resume_token, sizeof(s->resume_token), "%.32s", a->resume_token);
    s->user_id = vr_strdup(a->user_id ? a->user_id : "");
    s->meta = a->meta_len ? vr_malloc(a->meta_len) : NULL;
    if (!s->user_id || (a->meta_len && !s->meta))
        return VERANI_ENOMEM;
    if (a->meta_len)
        memcpy(s->meta, a->meta, a->meta_len);
    s->meta_len = a->meta_len;
    for (i = 0; i < a->n_channels; i++)
        if (channel_add(s, a->channels[i]) < 0)
            return VERANI_ENOMEM;
    if (a->epoch[0]) { /* saved by a graceful stop, frames and all: the stream goes on */
        snprintf(s->epoch, sizeof(s->epoch), "%s", a->epoch);
        s->seq = a->last_seq;
    } else {           /* a crash: what its stream held is gone, a new one starts */
        memcpy(s->epoch, st->srv->epoch, sizeof(s->epoch));
        s->seq = 0;
    }
    vr_outq_init(&s->q);
    vr_outq_init(&s->retained);
    return 0;
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
    f->t_us = vr_now_us() - (wall_ms() - at_ms) * 1000;
    r = vr_outq_push(&s->retained, f, seq, UINT32_MAX, SIZE_MAX);
    vr_frame_unref(f);
    return r;
}

/* Bring one stored instance back: its sessions detached, then on_hibernation_restore. */
static int restore_instance(verani_server *srv, const vr_named *nm)
{
    vr_restoring st;
    vr_mount *m = NULL;
    const verani_hooks *h;
    struct verani_ctx ctx;
    size_t i;
    int r;

    for (i = 0; i < srv->n_mounts && !m; i++)
        if (!strcmp(srv->mounts[i]->def->schema->name, nm->room))
            m = srv->mounts[i];
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
    for (i = 0; i < st.n; i++) {
        verani_session *s = st.list[i];

        if (r < 0) {
            session_free(s);
            continue;
        }
        s->hello_done = 1;
        s->added = 1;
        vr_bucket_init(&s->bucket, m->def->schema->rate, m->def->schema->burst, lws_now_usecs());
        lws_dll2_add_tail(&s->node, &st.inst->sessions);
        lws_dll2_add_tail(&s->all, &srv->detached);
        s->detached = 1;
        s->last_rx_us = lws_now_usecs(); /* a fresh grace period (sweep.c) */
    }
    vr_free(st.list);
    if (r < 0) {
        vr_instance_maybe_free(st.inst);
        return r;
    }
    h = hooks_of(m);
    VR_NOTICE("instance %s '%s': %zu session(s) restored\n", nm->room, nm->instance, st.n);
    if (h->on_hibernation_restore && st.n) {
        vr_ctx_init(&ctx, srv, m, st.inst, NULL);
        vr_handler_enter(srv);
        h->on_hibernation_restore(&ctx);
        vr_handler_leave(&ctx);
        vr_ctx_fini(&ctx);
    }
    return 0;
}

int vr_sessions_restore(verani_server *srv)
{
    vr_named *head = NULL, *n;
    int r;

    if (!store_persistent(srv))
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
    detached_bound(srv); /* a store written by a server with a higher max_detached */
    return r < 0 ? r : 0;
}
