/* SPDX-License-Identifier: MIT */
/*
 * redis-private.h: the cluster's Redis engine. hiredis 0.14.1's async API on
 * the server's own libev loop (no thread of its own), with what 0.14.1 lacks
 * supplied here:
 *   - a connect deadline and a command deadline (hiredis has neither): an
 *     ev_timer checks the oldest command still waiting for its reply; past
 *     command_timeout_ms the connection is freed, every waiting callback runs
 *     once with an error, and a new connection follows;
 *   - reconnection with backoff and jitter (backoff.c), forever, one log line
 *     per change of state rather than per attempt;
 *   - two connections: `cmd` for every command (pipelined) and `sub` for the
 *     pub/sub channels (RESP2 lets a subscribed connection do nothing else),
 *     each authenticated (AUTH) and checked (PING, SUBSCRIBE answered) before
 *     it counts as up; subscriptions are made again on every new `sub`;
 *   - addresses as an IP literal or a unix socket only (hiredis resolves
 *     names with a blocking call), checked at create.
 * No TLS (0.14.1 has none): Redis on loopback, a private network or behind
 * a TLS sidecar.
 *
 * Threads: everything here runs on the loop's thread, callbacks included.
 * Ownership: vr_redis_create returns an object the caller frees with
 * vr_redis_destroy (never from inside one of its callbacks). A reply passed
 * to a callback is hiredis' and lives until the callback returns.
 */
#ifndef VERANI_CLUSTER_REDIS_PRIVATE_H
#define VERANI_CLUSTER_REDIS_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

struct ev_loop;
typedef struct vr_redis vr_redis;

/*
 * The answer to one command, exactly once: `reply` is Redis' answer (an
 * error reply too, with `err` its text), or NULL with `err` saying why there
 * is none (the command timed out, the connection was lost, the engine is
 * being destroyed). `err` is NULL for a reply that is not an error.
 */
typedef void (*vr_redis_cb)(vr_redis *r, const redisReply *reply, const char *err, void *arg);

typedef struct vr_redis_options {
    const char *address;         /* "unix:/path", "redis://IP[:port]", "IP[:port]", "[IPv6]:port";
                                    port 6379 when omitted; no host names */
    const char *password;        /* AUTH with it on every connection; NULL or "": none */
    const char *name;            /* for log lines ("cluster"); NULL: "redis" */
    uint32_t connect_timeout_ms; /* connect + AUTH + PING/SUBSCRIBE; 0: 2000 */
    uint32_t command_timeout_ms; /* oldest unanswered command; 0: 2000 */
    uint32_t backoff_initial_ms; /* 0: 100 */
    uint32_t backoff_max_ms;     /* 0: 5000 */
    /* Both connections up (the engine can be used), or one went down. */
    void (*on_state)(vr_redis *r, int up, void *arg);
    /* A message on a subscribed channel; `data` is valid during the call. */
    void (*on_message)(vr_redis *r, const char *channel, const char *data, size_t len,
                       void *arg);
    void *arg;                   /* for on_state and on_message */
    /* Lua sources loaded (SCRIPT LOAD) on every command connection before it is up, so that
     * no EVALSHA meets NOSCRIPT while Redis keeps its scripts: a retry by EVAL goes out after
     * what was sent meanwhile, and would apply batches out of their order. Borrowed: they
     * must outlive the engine (static strings). */
    const char *const *preload;
    size_t n_preload;
} vr_redis_options;

typedef struct vr_redis_stats {
    uint64_t commands;           /* commands sent (the handshake's AUTH and PING aside) */
    uint64_t error_replies;      /* answered with an error reply */
    uint64_t failed;             /* ended with no reply (timeout, lost connection) */
    uint64_t timeouts;           /* connections dropped for a late reply or handshake */
    uint64_t reconnects;         /* connections made again after one went down */
    int up;                      /* both connections usable now */
} vr_redis_stats;

/* Create the engine on `loop` and start connecting (it is not up yet: wait for
 * on_state). `o` is copied. NULL on a bad option, with the reason in `err`. */
vr_redis *vr_redis_create(struct ev_loop *loop, const vr_redis_options *o, char *err,
                          size_t errlen);

/* Free the connections; every command still waiting gets its callback (NULL,
 * "shutting down") first. NULL is a no-op. Not from one of the engine's callbacks. */
void vr_redis_destroy(vr_redis *r);

/* Nonzero while both connections are up. */
int vr_redis_up(const vr_redis *r);

/*
 * Send one command (binary-safe arguments). 0: sent, `cb` (may be NULL) will
 * run once. VERANI_EIO: the `cmd` connection is not up (vr_redis_last_error
 * says why); `cb` will not run. VERANI_ENOMEM likewise.
 */
int vr_redis_command(vr_redis *r, vr_redis_cb cb, void *arg, int argc, const char **argv,
                     const size_t *argvlen);

/* Write what the commands sent this turn queued now, in one write, instead
 * of at the loop's next write event. */
void vr_redis_flush(vr_redis *r);

/* Subscribe `channel` (kept: subscribed again on every new `sub` connection).
 * 0, or VERANI_ENOMEM. */
int vr_redis_subscribe(vr_redis *r, const char *channel);

/* Drop the `sub` connection and make a new one (a caller whose liveness
 * probe through its own channel went unanswered). */
void vr_redis_reset_sub(vr_redis *r);

/* Why the engine is not up, or the last failure: text owned by the engine. */
const char *vr_redis_last_error(const vr_redis *r);

void vr_redis_get_stats(const vr_redis *r, vr_redis_stats *out);

#endif /* VERANI_CLUSTER_REDIS_PRIVATE_H */
