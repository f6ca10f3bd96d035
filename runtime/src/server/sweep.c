/* SPDX-License-Identifier: MIT */
/*
 * sweep.c: the server's timers, as one periodic lws_sul instead of one per
 * session. libwebsockets 4.1 keeps a thread's timers in one sorted list, so a
 * timer per session made every connect walk past every open session. Here
 * each deadline lives in a list kept in deadline order for free, and each
 * sweep looks only at the heads that are due:
 *  - srv->handshaking: sessions before HELLO, oldest first (the hello timeout);
 *  - srv->lru: sessions after HELLO, least recently heard first (a frame or a
 *    pong moves a session to the tail): idle for half of idle_timeout_ms, a
 *    ping; for all of it, a close with 4001;
 *  - srv->detached: sessions waiting for a resume, in the order they were
 *    lost (the grace period; at most SWEEP_EXPIRE_BATCH end per sweep);
 *  - srv->idle_instances: empty room instances, emptied first first
 *    (instance_idle_ms, room.c);
 *  - srv->loose: sockets that are not sessions (an HTTP request and the
 *    keep-alive wait after it, an upgrade still being sent), by when they
 *    began: handshake_timeout_ms (lws_cb.c); and a listening socket paused
 *    for want of room is tried again.
 * The period is a quarter of the shortest of those durations, between 10 ms
 * and 1 s, so a deadline is kept to within that. It does not write frames or
 * close sockets itself: it asks the session files (and lws_cb.c) to.
 */
#include "core/core-private.h"
#include "server-int.h"

#define SWEEP_MIN_US (10 * LWS_US_PER_MS)
#define SWEEP_MAX_US (1000 * LWS_US_PER_MS)

/* Grace periods that end together (a network blip dropped many clients at once) make a herd of
 * on_disconnect calls and of their frames (user.left) to every member: at most this many end
 * per sweep, and the sweep comes back a millisecond later, as a rule after the loop turn has
 * written their frames. */
#define SWEEP_EXPIRE_BATCH 256
#define SWEEP_AGAIN_US (1 * LWS_US_PER_MS)

static lws_usec_t ms_us(uint32_t ms)
{
    return (lws_usec_t)ms * LWS_US_PER_MS;
}

void vr_timer_unlink(verani_session *s)
{
    vr_dll2_unlink(&s->tnode);
}

void vr_session_heard(verani_session *s)
{
    /* Before HELLO last_rx_us is the accept time, the start of the hello timeout: what a
     * client sends before its HELLO (frames, pongs) must not postpone it. */
    if (!s->hello_done)
        return;
    s->last_rx_us = lws_now_usecs();
    s->pinged = 0;
    if (s->tnode.owner == &s->srv->lru && s->srv->lru.tail != &s->tnode) {
        lws_dll2_remove(&s->tnode);
        lws_dll2_add_tail(&s->tnode, &s->srv->lru);
    }
}

static void sweep_handshakes(verani_server *srv, lws_usec_t now)
{
    lws_usec_t limit = ms_us(srv->opts.handshake_timeout_ms);

    /* oldest first, by accept time (vr_session_heard leaves it alone before HELLO) */
    while (srv->handshaking.head) {
        verani_session *s = lws_container_of(srv->handshaking.head, verani_session, tnode);

        if (now - s->last_rx_us < limit)
            break;
        vr_timer_unlink(s);
        vr_session_close(s, VR_CLOSE_HELLO_TIMEOUT, "no HELLO in time", 0);
    }
}

static void sweep_idle(verani_server *srv, lws_usec_t now)
{
    lws_usec_t idle = ms_us(srv->opts.idle_timeout_ms);
    int64_t oldest = vr_now_us() - (int64_t)ms_us(srv->opts.retain_max_age_ms);

    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&srv->lru)) {
        verani_session *s = lws_container_of(d, verani_session, tnode);
        lws_usec_t since = now - s->last_rx_us;

        if (since < idle / 2)
            break; /* the rest were heard more recently */
        /* the age bound of the retained window holds for a quiet session too */
        vr_retain_trim(&s->retained, oldest);
        if (since >= idle) {
            vr_session_close(s, VR_CLOSE_IDLE, "idle timeout", 0); /* unlinks it */
        } else if (!s->pinged && s->wsi) {
            s->pinged = 1;
            s->ping_pending = 1;
            lws_callback_on_writable(s->wsi);
        }
    } lws_end_foreach_dll_safe(d, d1);
}

/* Returns nonzero when more grace periods are over than one sweep ends (SWEEP_EXPIRE_BATCH). */
static int sweep_detached(verani_server *srv, lws_usec_t now)
{
    lws_usec_t grace = ms_us(srv->opts.resume_grace_ms);
    int n = 0;

    while (srv->detached.head) {
        verani_session *s = lws_container_of(srv->detached.head, verani_session, all);

        if (now - s->last_rx_us < grace)
            break;
        if (n++ == SWEEP_EXPIRE_BATCH)
            return 1;
        vr_session_grace_expired(s); /* takes it off the list */
    }
    return 0;
}

static void sweep_cb(lws_sorted_usec_list_t *sul)
{
    verani_server *srv = lws_container_of(sul, verani_server, sweep);
    lws_usec_t now = lws_now_usecs();
    int more;

    if (srv->stopping || !srv->ctx)
        return;
    sweep_handshakes(srv, now);
    sweep_idle(srv, now);
    more = sweep_detached(srv, now);
    vr_instances_evict(srv, now - (int64_t)ms_us(srv->opts.instance_idle_ms));
    vr_socks_expire(srv, now - (int64_t)ms_us(srv->opts.handshake_timeout_ms));
    vr_accept_retry(srv, now);
    lws_sul_schedule(srv->ctx, 0, &srv->sweep, sweep_cb, more ? SWEEP_AGAIN_US : srv->sweep_us);
}

void vr_sweep_start(verani_server *srv)
{
    uint32_t shortest = srv->opts.handshake_timeout_ms;
    lws_usec_t p;

    if (srv->opts.idle_timeout_ms / 2 < shortest)
        shortest = srv->opts.idle_timeout_ms / 2;
    if (srv->opts.resume_grace_ms < shortest)
        shortest = srv->opts.resume_grace_ms;
    if (srv->opts.instance_idle_ms < shortest)
        shortest = srv->opts.instance_idle_ms;
    p = ms_us(shortest) / 4;
    srv->sweep_us = p < SWEEP_MIN_US ? SWEEP_MIN_US : p > SWEEP_MAX_US ? SWEEP_MAX_US : p;
    lws_sul_schedule(srv->ctx, 0, &srv->sweep, sweep_cb, srv->sweep_us);
}

void vr_sweep_stop(verani_server *srv)
{
    if (srv->ctx)
        lws_sul_cancel(&srv->sweep);
}
