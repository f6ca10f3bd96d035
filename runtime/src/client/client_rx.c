/* SPDX-License-Identifier: MIT */
/*
 * client_rx.c: what the client receives: a message reassembled from its
 * pieces (up to the room's max_frame), decoded by the wire, and handed on by
 * kind: the WELCOME (the session, its channels, resume and replay, then the
 * requests that waited for it), events to client_events.c, replies and server
 * errors to client_reqs.c, PONG to the keepalive. Connecting, writing and
 * the callback are client_conn.c's.
 */
#include <stdio.h>
#include <string.h>

#include "client-int.h"
#include "core/core-private.h"
#include "wire/wire-private.h"

/* Copy a welcome's `what` into `dst` (`n` bytes), or "" and an error to the application when
 * it does not fit (a server that breaks the protocol: ids are never cut to fit). */
static void c_copy(verani_client *c, char *dst, size_t n, const char *src, const char *what)
{
    size_t l = src ? strlen(src) : 0;

    if (l >= n) {
        vr_client_error(c, VERANI_EPROTO, "the welcome's %s is %zu bytes, more than the %zu "
                        "a client keeps: left empty", what, l, n - 1);
        l = 0;
    }
    memcpy(dst, src ? src : "", l);
    dst[l] = '\0';
}

/* Resumed with recovery_failed and the replay is over (last_seq reached the welcome's
 * seq): a request written before this connection whose REPLY has not come is lost with the
 * frames the server no longer had. */
static void c_replay_check(verani_client *c)
{
    if (!c->replay_pending || !c->welcomed || c->last_seq < c->replay_end)
        return;
    c->replay_pending = 0;
    vr_client_fail_sent(c, c->conn_id);
}

/*
 * The WELCOME. Requests written on earlier connections (kept by vr_client_conn_end)
 * learn their fate here: resumed, they stay pending and get their REPLY
 * from the replay (or their timeout); resumed with recovery_failed, those
 * without a REPLY when the replay is over end DISCONNECTED (c_replay_check);
 * a fresh session (resume refused, session expired, server restarted on
 * memory) never answers them: DISCONNECTED right after the welcome, once
 * on_open and on_recovery_failed have run.
 */
static void c_on_welcome(verani_client *c, const Verani__Wire__Welcome *w)
{
    int asked = c->resume_token != NULL; /* this connection's HELLO asked to resume */
    int lost;
    size_t i;

    if (c->welcomed) {
        vr_client_error(c, VERANI_EPROTO, "a second welcome from the server: ignored");
        return;
    }
    c_copy(c, c->client_id, sizeof(c->client_id), w->client_id, "client id");
    c_copy(c, c->user_id, sizeof(c->user_id), w->user_id, "user id");
    if (w->resume_token) {
        char *t = vr_strdup(w->resume_token);
        if (t) {
            vr_free(c->resume_token);
            c->resume_token = t;
        }
    }
    c->resumed = w->has_resumed && w->resumed;
    c->recovery_failed = w->has_recovery_failed && w->recovery_failed;
    /* another epoch (the server crashed): its seqs start again, and the replay from 1 */
    if (c->resumed && w->epoch && strcmp(w->epoch, c->epoch))
        c->last_seq = 0;
    c_copy(c, c->epoch, sizeof(c->epoch), w->epoch, "epoch");
    if (!c->resumed && w->has_seq)
        c->last_seq = w->seq;
    /* resumed, but the server's seq is behind ours (it lost frames): go on from its seq */
    if (c->resumed && c->recovery_failed && w->has_seq && w->seq < c->last_seq)
        c->last_seq = w->seq;
    /* what was missed is lost: the resume could not replay it all, or the session is new */
    lost = c->recovery_failed || (asked && !c->resumed);
    c->replay_pending = c->resumed && c->recovery_failed;
    c->replay_end = w->has_seq ? w->seq : 0;
    vr_client_channels_clear(c);
    for (i = 0; i < w->n_channels; i++)
        vr_client_channel_add(c, w->channels[i]);
    if (c->room->fingerprint && w->fingerprint && strcmp(c->room->fingerprint, w->fingerprint))
        VR_WARN("client %s: schema fingerprint %s differs from the server's %s\n",
                c->url, c->room->fingerprint, w->fingerprint);

    c->welcomed = 1;
    c->attempts = 0;
    c->moves = 0;
    lws_sul_cancel(&c->sul_connect);
    vr_client_arm_ping(c);
    if (c->outq.head && c->wsi)
        lws_callback_on_writable(c->wsi);
    vr_client_set_state(c, VERANI_CLIENT_CONNECTED);
    if (!c->destroyed && c->state == VERANI_CLIENT_CONNECTED)
        vr_client_fire(c, VR_CB_OPEN, 0, 0, NULL);
    if (lost && !c->destroyed && c->state == VERANI_CLIENT_CONNECTED)
        vr_client_fire(c, VR_CB_RECOVERY, c->resumed, 0, NULL);
    if (c->destroyed || !c->welcomed)
        return; /* a callback ended this connection: its end decided */
    if (!c->resumed)
        vr_client_fail_sent(c, c->conn_id);
    else
        c_replay_check(c);
}

static void c_on_frame(verani_client *c, const unsigned char *buf, size_t len)
{
    Verani__Wire__Envelope *env;

    c->rx_since_ping = 1;
    if (!c->rx_binary) {
        vr_client_error(c, VERANI_EPROTO, "a text frame from the server: dropped");
        return;
    }
    env = vr_wire_unpack(buf, len);
    if (!env) {
        vr_client_error(c, VERANI_EPROTO, "a frame from the server does not decode: dropped");
        return;
    }
    if (env->has_seq && env->seq > c->last_seq + 1 && c->welcomed && !c->replay_pending) {
        /* a gap the server made on purpose (VERANI_SLOW_DROP); a resume's known loss is
         * on_recovery_failed's to tell */
        uint64_t n = env->seq - c->last_seq - 1;

        c->missed += n;
        vr_client_error(c, VERANI_EFULL, "%llu frame(s) from the server lost: seq %llu came "
                        "after %llu (the server dropped them, its queue for this client being "
                        "full): resync", (unsigned long long)n, (unsigned long long)env->seq,
                        (unsigned long long)c->last_seq);
        if (c->destroyed) {
            vr_wire_free(env);
            return;
        }
    }
    if (env->has_seq && env->seq > c->last_seq)
        c->last_seq = env->seq;
    switch (env->has_kind ? env->kind : VERANI__WIRE__KIND__KIND_UNSPECIFIED) {
    case VERANI__WIRE__KIND__WELCOME:
        if (env->welcome)
            c_on_welcome(c, env->welcome);
        else
            vr_client_error(c, VERANI_EPROTO, "a welcome without its body");
        break;
    case VERANI__WIRE__KIND__EVENT:
        if (c->welcomed)
            vr_client_on_event(c, env);
        break;
    case VERANI__WIRE__KIND__REPLY:
        vr_client_on_reply(c, env);
        break;
    case VERANI__WIRE__KIND__ERROR:
        vr_client_on_server_error(c, env);
        break;
    case VERANI__WIRE__KIND__PONG:
        if (c->awaiting_pong) {
            c->awaiting_pong = 0;
            lws_sul_cancel(&c->sul_pong);
            vr_client_arm_ping(c);
        }
        break;
    default:
        vr_client_error(c, VERANI_EPROTO, "a frame of kind %d from the server: dropped",
                        (int)env->kind);
        break;
    }
    vr_wire_free(env);
    if (c->replay_pending && !c->destroyed)
        c_replay_check(c);
}

int vr_client_receive(verani_client *c, struct lws *wsi, const void *in, size_t len)
{
    int last = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);

    if (!c->rx_in_msg && last && len <= c->max_rx) {
        /* A whole message in one piece, the usual case: decode it where lws holds it. */
        c->rx_binary = lws_frame_is_binary(wsi);
        c_on_frame(c, in, len);
        return 0;
    }
    if (!c->rx_in_msg) {
        c->rx_len = 0;
        c->rx_overflow = 0;
        c->rx_binary = lws_frame_is_binary(wsi);
        c->rx_in_msg = 1;
    }
    if (!c->rx_overflow && c->rx_len + len > c->max_rx)
        c->rx_overflow = 1;
    if (!c->rx_overflow) {
        if (c->rx_len + len > c->rx_cap) {
            size_t cap = c->rx_cap ? c->rx_cap : 1024;
            unsigned char *n;

            while (cap < c->rx_len + len)
                cap *= 2;
            n = vr_realloc(c->rx, cap);
            if (!n) {
                vr_client_set_error(c, "out of memory receiving a frame");
                return -1;
            }
            c->rx = n;
            c->rx_cap = cap;
        }
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
    }
    if (!last)
        return 0;
    c->rx_in_msg = 0;
    if (c->rx_overflow) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"too big", 7);
        c->rx_too_big = 1; /* no reconnecting: c_lost */
        return -1;
    }
    c_on_frame(c, c->rx, c->rx_len);
    /* Shrink a buffer a big frame left behind. */
    if (c->rx_cap > 65536 && !c->destroyed) {
        vr_free(c->rx);
        c->rx = NULL;
        c->rx_cap = 0;
    }
    return 0;
}
