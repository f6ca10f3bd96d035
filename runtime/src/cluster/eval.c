/* SPDX-License-Identifier: MIT */
/*
 * eval.c: the cluster's Lua scripts as Redis runs them: each script's SHA-1
 * computed once (vr_script_init), every call by EVALSHA, and a Redis that does
 * not know the script (NOSCRIPT: it restarted or flushed them) gets its source
 * by EVAL, which also caches it. A call's arguments are copied into one
 * allocation that lives until Redis answers.
 */
#include <stdio.h>
#include <string.h>

#include <libwebsockets.h>

#include "core/core-private.h"
#include "cluster-int.h"

void vr_script_init(vr_script *s, const char *src)
{
    unsigned char md[20];
    int i;

    s->src = src;
    lws_SHA1((const unsigned char *)src, strlen(src), md);
    for (i = 0; i < 20; i++)
        snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
}

/* One script call; owned by the engine's callback until it answers (or by the retry). One
 * allocation: the struct, then argv[argc], lens[argc], then the copies of the arguments. */
typedef struct vr_eval {
    vr_cluster *c;
    const vr_script *script;
    int argc;                    /* EVALSHA sha numkeys keys... args... */
    char nkeys[12];              /* argv[2] */
    const char **argv;           /* argv[3..] point into the copies */
    size_t *lens;
    int retried;
    vr_redis_cb cb;
    void *arg;
} vr_eval;

static void eval_free(vr_eval *e)
{
    vr_free(e);
}

static int eval_send(vr_eval *e);

static void on_eval(vr_redis *r, const redisReply *reply, const char *err, void *arg)
{
    vr_eval *e = arg;

    if (reply && err && !e->retried && !strncmp(err, "NOSCRIPT", 8)) {
        e->retried = 1;          /* Redis restarted or flushed its scripts: send the source */
        if (eval_send(e) == 0)
            return;
    }
    e->cb(r, reply, err, e->arg);
    eval_free(e);
}

static int eval_send(vr_eval *e)
{
    e->argv[0] = e->retried ? "EVAL" : "EVALSHA";
    e->argv[1] = e->retried ? e->script->src : e->script->sha;
    e->argv[2] = e->nkeys;
    e->lens[0] = strlen(e->argv[0]);
    e->lens[1] = strlen(e->argv[1]);
    e->lens[2] = strlen(e->nkeys);
    return vr_redis_command(e->c->redis, on_eval, e, e->argc, e->argv, e->lens);
}

int vr_cluster_eval(vr_cluster *c, int script, int nkeys, int nargs, const char **args,
                    const size_t *lens, vr_redis_cb cb, void *arg)
{
    size_t bytes = 0, head;
    vr_eval *e;
    char *p;
    int i, rc;

    if (nkeys < 0 || nargs < nkeys || nargs > (1 << 20))
        return VERANI_EINVAL;
    for (i = 0; i < nargs; i++)
        bytes += (lens ? lens[i] : strlen(args[i])) + 1;
    head = (sizeof(vr_eval) + 15) & ~(size_t)15;
    e = vr_malloc(head + (size_t)(nargs + 3) * (sizeof(char *) + sizeof(size_t)) + bytes);
    if (!e)
        return VERANI_ENOMEM;
    memset(e, 0, sizeof(*e));
    e->c = c;
    e->script = &c->scripts[script];
    e->cb = cb;
    e->arg = arg;
    e->argc = nargs + 3;
    e->argv = (const char **)((char *)e + head);
    e->lens = (size_t *)(e->argv + e->argc);
    p = (char *)(e->lens + e->argc);
    snprintf(e->nkeys, sizeof(e->nkeys), "%d", nkeys);
    for (i = 0; i < nargs; i++) {
        size_t n = lens ? lens[i] : strlen(args[i]);

        memcpy(p, args[i], n);
        p[n] = '\0';
        e->argv[i + 3] = p;
        e->lens[i + 3] = n;
        p += n + 1;
    }
    rc = eval_send(e);
    if (rc)
        eval_free(e);
    return rc;
}

