/* SPDX-License-Identifier: MIT */
/*
 * cluster_gate.c: the output gate (shared/SCALEOUT.md section 3.7): no client
 * sees a frame that depends on a write Redis does not have. Every frame
 * queued to a connected session of a cluster node is tagged with its
 * instance's tag for the loop turn (one tag per instance per turn; a session
 * keeps runs of frames per tag, not a tag per frame). A turn's frames leave
 * at its end, and when the instance wrote in that turn, once Redis has
 * acknowledged the batch that covers those writes (cluster_replica.c). Later
 * frames queue behind them, so order holds; a turn that wrote nothing is
 * never held past its end. Held frames do not count toward the slow-consumer
 * bound (outq.c asks vr_gate_waiting), and an instance whose gate stays shut
 * past command_timeout_ms has its input paused until Redis answers.
 *
 * Ownership: a session's runs (s->x->gruns) are its own (freed with it). Loop
 * thread only.
 */
#include <string.h>

#include "core/core-private.h"
#include "replica-int.h"

/* The instance's gate tag for this turn: a new one at its first frame or write of a turn. */
uint64_t vr_gate_tag(vr_instance *inst)
{
    verani_server *srv = inst->mount->srv;

    if (inst->tag_turn != srv->turn || !inst->open_tag) {
        inst->tag_turn = srv->turn;
        inst->open_tag++;
    }
    return inst->open_tag;
}

/* The newest tag whose frames may go: not this turn's until it ends, and not one of a turn
 * whose writes Redis has not acknowledged. */
static uint64_t gate_released(const vr_instance *inst)
{
    const struct vr_ireplica *ir = inst->repl;
    uint64_t r = inst->tag_turn == inst->mount->srv->turn ? inst->open_tag - 1 : inst->open_tag;
    const vr_rbatch *b;

    if (ir) {
        for (b = ir->sent; b; b = b->next)
            if (b->covers) { /* the oldest: acknowledged in order */
                r = b->covers - 1 < r ? b->covers - 1 : r;
                break;
            }
        if (ir->head && ir->head_covers - 1 < r)
            r = ir->head_covers - 1;
    }
    return r;
}

int vr_gate_waiting(const vr_instance *inst)
{
    const struct vr_ireplica *ir = inst->repl;

    return ir && (ir->sent || ir->head);
}

void vr_gate_hold(verani_session *s, uint32_t n)
{
    uint64_t tag = vr_gate_tag(s->inst);
    vr_session_ext *x;
    struct vr_grun *r;

    if (!n)
        return;
    x = vr_session_ext_get(s);
    if (x && x->n_gruns && x->gruns[x->n_gruns - 1].tag == tag) {
        x->gruns[x->n_gruns - 1].n += n;
        return;
    }
    if (x && x->n_gruns == x->cap_gruns) {
        uint32_t cap = x->cap_gruns ? x->cap_gruns * 2 : 4;
        struct vr_grun *g = vr_reallocarray(x->gruns, cap, sizeof(*g));

        if (g) {
            x->gruns = g;
            x->cap_gruns = cap;
        } else {
            x = NULL;
        }
    }
    if (!x) { /* no room to hold it: it goes with the frames before it (logged once) */
        if (!s->srv->replica->gate_oom++)
            VR_ERR("cluster: out of memory: a frame of session %s is not held by the "
                   "output gate\n", s->client_id);
        return;
    }
    r = &x->gruns[x->n_gruns++];
    r->tag = tag;
    r->n = n;
}

uint32_t vr_gate_allowed(verani_session *s, int *for_redis)
{
    uint64_t released = gate_released(s->inst);
    vr_session_ext *x = s->x;
    uint32_t i = 0, held = 0, k, n = vr_session_gate_runs(s);

    while (i < n && x->gruns[i].tag <= released)
        i++;
    if (i) { /* released runs: their frames are like any other now */
        for (k = i; k < n; k++)
            x->gruns[k - i] = x->gruns[k];
        x->n_gruns = n -= i;
    }
    for (k = 0; k < n; k++)
        held += x->gruns[k].n;
    /* not only this turn's (released at its end): a turn that wrote, waiting for Redis */
    *for_redis = n && !(x->gruns[0].tag == s->inst->open_tag &&
                        s->inst->tag_turn == s->srv->turn);
    return held >= s->q.count ? 0 : s->q.count - held;
}

void vr_gate_discard(verani_session *s)
{
    int for_redis;
    uint32_t allowed;

    if (!vr_session_gate_runs(s))
        return;
    allowed = vr_gate_allowed(s, &for_redis);
    vr_outq_drop_tail(&s->q, s->q.count - allowed);
    s->x->n_gruns = 0;
}

/* Redis acknowledged writes of `inst`: the sessions whose frames it held are written at the
 * end of this turn, and input paused by a long gate goes on once nothing waits. */
void vr_gate_opened(vr_instance *inst)
{
    uint64_t released = gate_released(inst);
    int waiting = vr_gate_waiting(inst);

    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&inst->sessions)) {
        verani_session *s = lws_container_of(d, verani_session, node);

        if (s->wsi && vr_session_gate_runs(s) && s->x->gruns[0].tag <= released &&
            !s->dirty_at) {
            s->write_asked = 1;
            vr_session_dirty(s);
        }
        if (inst->gate_paused && !waiting && s->wsi && s->rx_paused && !s->closing) {
            s->rx_paused = 0;
            lws_rx_flow_control(s->wsi, 1);
        }
    } lws_end_foreach_dll(d);
    if (!waiting && inst->gate_paused) {
        inst->gate_paused = 0;
        VR_NOTICE("cluster: instance %s '%s': Redis answers again, its input goes on\n",
                  inst->mount->def->schema->name, inst->name);
    }
}

/* A gate shut longer than the command timeout: the instance's input waits (its sessions'
 * queues would otherwise grow until Redis answers). */
void vr_gate_check(verani_server *srv, vr_instance *inst)
{
    struct vr_ireplica *ir = inst->repl;
    uint32_t tmo = srv->opts.cluster.command_timeout_ms ? srv->opts.cluster.command_timeout_ms
                                                        : 2000;

    if (inst->gate_paused || !ir || !ir->sent ||
        lws_now_usecs() - ir->sent->sent_us < (int64_t)tmo * 1000)
        return;
    inst->gate_paused = 1;
    srv->replica->gate_pauses++;
    VR_WARN("cluster: instance %s '%s': Redis has not acknowledged its storage writes for "
            "%u ms: its input is paused until it does\n", inst->mount->def->schema->name,
            inst->name, tmo);
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&inst->sessions)) {
        verani_session *s = lws_container_of(d, verani_session, node);

        if (s->wsi && !s->rx_paused && !s->closing) {
            s->rx_paused = 1;
            lws_rx_flow_control(s->wsi, 0);
        }
    } lws_end_foreach_dll(d);
}

