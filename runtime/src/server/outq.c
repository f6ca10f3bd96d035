/* SPDX-License-Identifier: MIT */
/*
 * outq.c: what a session sends. Frames are queued in its bounded outbound
 * queue (sequenced ones also kept in the retained window for a resume), a
 * queue past its bound judged by the slow-consumer policy, and every pending
 * frame coalesced into one raw write when the connection is writable
 * (vr_session_writable, the only place a session writes), the close frame
 * included. Also the frames the server builds for one session: replies,
 * errors, pongs, welcomes (vr_session_send, vr_session_error).
 */
#include <string.h>

#include "core/core-private.h"
#include "server-int.h"

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
    uint32_t frames = srv->opts.queue_max_frames + (s->x ? s->x->replay_frames : 0);
    size_t bytes = srv->opts.queue_max_bytes + (s->x ? s->x->replay_bytes : 0);
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
    uint64_t seq;
    int r;

    if (s->json) {
        /* Verani's wire: the frame's JSON twin, with no seq (nothing is ever resumed) */
        if (s->closing || !s->wsi)
            return VERANI_ECLOSED;
        if ((r = vr_json_twin(s, f, &f)) != 0 || !f)
            return r;
        with_seq = 0;
    }
    seq = with_seq ? s->seq + 1 : 0;
    if (with_seq && (s->detached || (s->closing && (vr_session_detaching(s) ||
                                                     vr_session_saved_for_restart(s))))) {
        /* No connection (or one going, the session staying for a resume or saved for a
         * restart): the frame takes its seq and waits in the retained window. One saved
         * for a restart is saved again as it ends (vr_session_resave). */
        s->seq = seq;
        if (vr_session_saved_for_restart(s))
            s->resave = 1;
        return retain(s, f, seq);
    }
    if (s->closing || !s->wsi)
        return VERANI_ECLOSED;
    if (srv->replica && vr_gate_waiting(s->inst)) /* what the gate holds is not the reader's */
        r = vr_outq_push(&s->q, f, seq, UINT32_MAX, SIZE_MAX);
    else if (!s->x)
        r = vr_outq_push(&s->q, f, seq, srv->opts.queue_max_frames, srv->opts.queue_max_bytes);
    else
        r = vr_outq_push(&s->q, f, seq, srv->opts.queue_max_frames + s->x->replay_frames,
                         srv->opts.queue_max_bytes + s->x->replay_bytes);
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
    if (srv->replica)
        vr_gate_hold(s, 1); /* a cluster node: out at the turn's end, or once Redis has its writes */
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
            vr_session_dirty(s);
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
 * reply, a welcome, an error: vr_session_send), one coalesced write each, directly, instead of
 * waiting for a WRITEABLE callback (a POLLOUT round trip through the event loop, and with
 * epoll two epoll_ctl calls per write). On the poll() loop fanned-out frames
 * (vr_session_enqueue) keep the WRITEABLE way: a turn later more of them share each write,
 * which costs less per frame than writing each turn's at once (bench/RESULTS.md); on
 * epoll they are direct too. A session whose last write is not out yet (lws holds a
 * partial send), that must ping or that is closing goes the WRITEABLE way too.
 */
void vr_sessions_flush(verani_server *srv)
{
    uint32_t i;

    for (i = 0; i < srv->n_dirty; i++) { /* a write may add one at the end: it is taken too */
        verani_session *s = srv->dirty[i];

        if (!s)
            continue; /* gone, or written since */
        srv->dirty[i] = NULL;
        s->dirty_at = 0;
        if (!s->wsi || !s->write_asked)
            continue;
        if (s->closing || s->ping_pending || lws_partial_buffered(s->wsi)) {
            lws_callback_on_writable(s->wsi);
            continue;
        }
        if (vr_session_writable(s) < 0)
            session_drop(s);
    }
    srv->n_dirty = 0;
}

void vr_session_dirty(verani_session *s)
{
    verani_server *srv = s->srv;

    if (s->dirty_at)
        return;
    if (srv->n_dirty == srv->cap_dirty) {
        uint32_t ncap = srv->cap_dirty ? srv->cap_dirty * 2 : 64;
        verani_session **n = vr_reallocarray(srv->dirty, ncap, sizeof(*n));

        if (!n) { /* no room in the list: written when lws says it is writable */
            lws_callback_on_writable(s->wsi);
            return;
        }
        srv->dirty = n;
        srv->cap_dirty = ncap;
    }
    srv->dirty[srv->n_dirty++] = s;
    s->dirty_at = srv->n_dirty;
}

void vr_session_undirty(verani_session *s)
{
    if (!s->dirty_at)
        return;
    s->srv->dirty[s->dirty_at - 1] = NULL;
    s->dirty_at = 0;
}

void vr_session_queued(const verani_session *s, uint32_t *frames, size_t *bytes)
{
    *frames = s->q.count;
    *bytes = s->q.bytes;
}

static const char *close_reason(const verani_session *s)
{
    return s->x && s->x->close_reason ? s->x->close_reason : "";
}

void vr_session_close(verani_session *s, int code, const char *reason, int kill)
{
    if (s->closing || !s->wsi)
        return;
    s->closing = 1;
    vr_timer_unlink(s); /* lws's own timeout bounds the close from here */
    s->close_code = code;
    /* allocated only now: most sessions never carry one (on OOM the close goes without) */
    if (vr_session_ext_get(s) && !s->x->close_reason)
        s->x->close_reason = vr_strndup(reason, strlen(reason) < VR_CLOSE_REASON_MAX
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

/* The WebSocket ping the sweep asked for. */
static int write_ping(verani_session *s)
{
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

/* Frames the output gate holds (the last it counted: vr_gate_allowed drops released runs). */
static uint32_t gate_held(const verani_session *s)
{
    uint32_t k, held = 0;

    for (k = 0; k < vr_session_gate_runs(s); k++)
        held += s->x->gruns[k].n;
    return held;
}

/* Every pending frame, each behind its header and seq prefix, in one raw write (at most
 * VR_WRITE_CHUNK, or the head frame when it is larger; the rest waits for the next). */
static int write_queue(verani_session *s, uint32_t allowed)
{
    verani_server *srv = s->srv;
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
    n = vr_outq_fill_n(&s->q, srv->wbuf + LWS_PRE, cap, allowed);
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
    if (!s->q.count && s->x) {
        s->x->replay_frames = 0;
        s->x->replay_bytes = 0;
    }
    /* more to write now (what the gate holds is asked for when it is released) */
    if ((s->q.count && (!vr_session_gate_runs(s) || s->q.count > gate_held(s))) || s->closing)
        lws_callback_on_writable(s->wsi);
    return 0;
}

/*
 * Our close frame, written here rather than by lws on a -1 (which closes TCP as soon as more
 * input arrives: with the peer's input unread, the kernel then sends a reset that destroys
 * what was written before the close, the close included). The peer's close answers it
 * (vr_session_peer_close); until then, or VR_CLOSE_ACK_SECS, its input is read and dropped
 * (vr_session_rx).
 */
static int write_close(verani_session *s)
{
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
    return 0;
}

int vr_session_writable(verani_session *s)
{
    if (!s->wsi)
        return -1;
    /* this write takes what an end-of-turn flush would have: out of that list too, so the
     * next enqueue can put the session back in it */
    s->write_asked = 0;
    vr_session_undirty(s);
    if (s->ping_pending)
        return write_ping(s);
    if (s->q.count && vr_session_gate_runs(s)) { /* a cluster's output gate holds some */
        int for_redis;
        uint32_t allowed = vr_gate_allowed(s, &for_redis);

        if (!allowed) {
            s->write_asked = 1;
            /* this turn's: at its end; a turn that wrote: when Redis acknowledges it */
            if (!for_redis)
                vr_session_dirty(s);
            return 0;
        }
        return write_queue(s, allowed);
    }
    if (s->q.count)
        return write_queue(s, UINT32_MAX);
    if (s->closing && !s->close_sent)
        return write_close(s);
    return 0;
}

/* --- frames the server sends --------------------------------------------- */

static uint8_t *frame_alloc(size_t len, void *arg)
{
    vr_frame **f = arg;

    *f = vr_frame_new(len);
    return *f ? (*f)->body : NULL;
}

vr_frame *vr_frame_encode(vr_envelope *env, const ProtobufCMessage *msg)
{
    vr_frame *f = NULL;

    return vr_wire_encode(env, msg, frame_alloc, &f) ? NULL : f;
}

int vr_session_send(verani_session *s, vr_envelope *env, const ProtobufCMessage *msg,
                    int with_seq)
{
    vr_frame *f = vr_frame_encode(env, msg);

    if (!f)
        return VERANI_ENOMEM;
    enqueue(s, f, with_seq, 1);
    vr_frame_unref(f);
    return 0;
}

int vr_session_send_frame(verani_session *s, vr_frame *f, int with_seq)
{
    return enqueue(s, f, with_seq, 1);
}

void vr_session_error(verani_session *s, int code, const vr_envelope *req, const char *msg,
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
    vr_session_send(s, &env, NULL, 0);
}

/* A refused frame: answer it, and close with 1008 after too many in a row. */
void vr_session_refuse(verani_session *s, int code, const vr_envelope *req, const char *msg,
                       const char *field)
{
    vr_session_error(s, code, req, msg, field);
    if (++s->proto_errors >= VR_MAX_PROTO_ERRORS)
        vr_session_close(s, VR_CLOSE_POLICY, "too many protocol errors", 0);
}
