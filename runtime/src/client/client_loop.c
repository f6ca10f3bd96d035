/* SPDX-License-Identifier: MIT */
/*
 * client_loop.c: the loop that drives clients: one libwebsockets context
 * (no listening socket) with one vhost per distinct CA file, serviced by the
 * caller (verani_client_loop_service) or by a thread of its own
 * (verani_client_loop_start). Calls from other threads reach the loop's
 * thread through a mutex-protected inbox and lws_cancel_service; the caller
 * waits for the result, so every client's state is only ever touched by the
 * loop's thread. The client itself is in client.c (object, states),
 * client_conn.c (the connection), client_reqs.c and client_events.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "client-int.h"
#include "core/core-private.h"

#define VR_CLIENT_PROTOCOL "verani-client"

/* One call waiting in the inbox; it lives on the calling thread's stack. */
typedef struct vr_cmd {
    struct vr_cmd *next;
    int (*fn)(void *arg);
    void *arg;
    int result;
    int done;
} vr_cmd;

/* A vhost with its CA file (owned copy); NULL ca_file = the system's CAs. */
typedef struct vr_vhost {
    struct vr_vhost *next;
    char *ca_file;
    struct lws_vhost *vh;
} vr_vhost;

struct verani_client_loop {
    struct lws_context *ctx;          /* owned */
    vr_vhost *vhosts;                 /* owned list */
    unsigned n_vhosts;
    lws_sorted_usec_list_t sul_wake;  /* bounds one verani_client_loop_service call */

    pthread_mutex_t lock;             /* guards the fields down to `stop` */
    pthread_cond_t cond;              /* a command finished */
    vr_cmd *inbox_head, *inbox_tail;  /* borrowed: each lives on its caller's stack */
    int threaded;                     /* a thread of ours services the loop */
    pthread_t thread;
    volatile int stop;

    int depth;                        /* > 0 while inside lws / client callbacks */
    verani_client **clients;          /* borrowed pointers, for destroy */
    size_t n_clients, cap_clients;
};

static const struct lws_protocols vr_protocols[] = {
    {VR_CLIENT_PROTOCOL, vr_client_lws_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}
};

/* --- the inbox ------------------------------------------------------------ */

void vr_loop_on_cancel(verani_client_loop *loop)
{
    vr_cmd *list, *cmd, *next;

    pthread_mutex_lock(&loop->lock);
    list = loop->inbox_head;
    loop->inbox_head = loop->inbox_tail = NULL;
    pthread_mutex_unlock(&loop->lock);

    for (cmd = list; cmd; cmd = next) {
        int r;

        next = cmd->next;
        vr_loop_enter(loop);
        r = cmd->fn(cmd->arg);
        vr_loop_leave(loop);
        pthread_mutex_lock(&loop->lock);
        cmd->result = r;
        cmd->done = 1;
        pthread_cond_broadcast(&loop->cond);
        pthread_mutex_unlock(&loop->lock);
    }
}

int vr_loop_call(verani_client_loop *loop, int (*fn)(void *arg), void *arg)
{
    vr_cmd cmd;

    pthread_mutex_lock(&loop->lock);
    if (!loop->threaded || pthread_equal(pthread_self(), loop->thread)) {
        pthread_mutex_unlock(&loop->lock);
        return fn(arg);
    }
    cmd.next = NULL;
    cmd.fn = fn;
    cmd.arg = arg;
    cmd.result = 0;
    cmd.done = 0;
    if (loop->inbox_tail)
        loop->inbox_tail->next = &cmd;
    else
        loop->inbox_head = &cmd;
    loop->inbox_tail = &cmd;
    pthread_mutex_unlock(&loop->lock);

    lws_cancel_service(loop->ctx);

    pthread_mutex_lock(&loop->lock);
    while (!cmd.done)
        pthread_cond_wait(&loop->cond, &loop->lock);
    pthread_mutex_unlock(&loop->lock);
    return cmd.result;
}

int vr_loop_is_threaded(verani_client_loop *loop)
{
    int t;

    pthread_mutex_lock(&loop->lock);
    t = loop->threaded;
    pthread_mutex_unlock(&loop->lock);
    return t;
}

int vr_loop_can_block(verani_client_loop *loop)
{
    int r;

    pthread_mutex_lock(&loop->lock);
    r = loop->threaded ? !pthread_equal(pthread_self(), loop->thread) : loop->depth == 0;
    pthread_mutex_unlock(&loop->lock);
    return r;
}

void vr_loop_enter(verani_client_loop *loop)
{
    loop->depth++;
}

void vr_loop_leave(verani_client_loop *loop)
{
    loop->depth--;
}

struct lws_context *vr_loop_lws(verani_client_loop *loop)
{
    return loop->ctx;
}

/* --- vhosts ---------------------------------------------------------------- */

static int vr_str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

struct lws_vhost *vr_loop_vhost(verani_client_loop *loop, const char *ca_file, char *errbuf,
                                size_t errlen)
{
    struct lws_context_creation_info info;
    char name[32];
    vr_vhost *v;

    for (v = loop->vhosts; v; v = v->next)
        if (vr_str_eq(v->ca_file, ca_file))
            return v->vh;

    v = vr_calloc(1, sizeof(*v));
    if (!v || (ca_file && !(v->ca_file = vr_strdup(ca_file)))) {
        vr_free(v);
        if (errbuf)
            snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    memset(&info, 0, sizeof(info));
    snprintf(name, sizeof(name), "verani-client-%u", loop->n_vhosts);
    info.vhost_name = name;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = vr_protocols;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.client_ssl_ca_filepath = v->ca_file;
    v->vh = lws_create_vhost(loop->ctx, &info);
    if (!v->vh) {
        if (errbuf)
            snprintf(errbuf, errlen, "cannot create a client vhost%s%s (is the CA file readable?)",
                     ca_file ? " for CA file " : "", ca_file ? ca_file : "");
        vr_free(v->ca_file);
        vr_free(v);
        return NULL;
    }
    loop->n_vhosts++;
    v->next = loop->vhosts;
    loop->vhosts = v;
    return v->vh;
}

/* --- clients on the loop ---------------------------------------------------- */

void vr_loop_add_client(verani_client_loop *loop, verani_client *c)
{
    /* Called from verani_client_create, which checked there is room. */
    loop->clients[loop->n_clients++] = c;
}

int vr_loop_reserve_client(verani_client_loop *loop)
{
    verani_client **n = vr_client_grow(loop->clients, &loop->cap_clients, loop->n_clients,
                                       sizeof(*n), 16);

    if (!n)
        return VERANI_ENOMEM;
    loop->clients = n;
    return 0;
}

void vr_loop_remove_client(verani_client_loop *loop, verani_client *c)
{
    size_t i;

    for (i = 0; i < loop->n_clients; i++) {
        if (loop->clients[i] == c) {
            loop->clients[i] = loop->clients[--loop->n_clients];
            return;
        }
    }
}

/* --- create, service, thread, destroy --------------------------------------- */

verani_client_loop *verani_client_loop_create(char *errbuf, size_t errlen)
{
    struct lws_context_creation_info info;
    verani_client_loop *loop = vr_calloc(1, sizeof(*loop));

    if (!loop) {
        if (errbuf)
            snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = vr_protocols;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info.user = loop;
    /* libwebsockets' untouched default (errors, warnings, notices: its banner) becomes
     * Verani-C's documented default; a level anyone chose stays */
    if (lwsl_visible(LLL_ERR) && lwsl_visible(LLL_WARN) && lwsl_visible(LLL_NOTICE) &&
        !lwsl_visible(LLL_INFO) && !lwsl_visible(LLL_DEBUG) && !lwsl_visible(LLL_PARSER) &&
        !lwsl_visible(LLL_HEADER) && !lwsl_visible(LLL_EXT) && !lwsl_visible(LLL_CLIENT) &&
        !lwsl_visible(LLL_LATENCY) && !lwsl_visible(LLL_USER))
        verani_set_log_level(VERANI_LOG_ERR | VERANI_LOG_WARN, NULL);
    loop->ctx = lws_create_context(&info);
    if (!loop->ctx) {
        if (errbuf)
            snprintf(errbuf, errlen, "cannot create the libwebsockets context");
        vr_free(loop);
        return NULL;
    }
    pthread_mutex_init(&loop->lock, NULL);
    pthread_cond_init(&loop->cond, NULL);
    if (!vr_loop_vhost(loop, NULL, errbuf, errlen)) {
        verani_client_loop_destroy(loop);
        return NULL;
    }
    return loop;
}

static void vr_loop_wake_cb(lws_sorted_usec_list_t *sul)
{
    (void)sul; /* only there to end lws_service's wait */
}

int verani_client_loop_service(verani_client_loop *loop, int timeout_ms)
{
    int r;

    if (!loop)
        return VERANI_EINVAL;
    if (vr_loop_is_threaded(loop) || loop->depth > 0)
        return VERANI_ESTATE;
    if (timeout_ms <= 0)
        return lws_service(loop->ctx, -1) < 0 ? VERANI_EIO : VERANI_OK;
    lws_sul_schedule(loop->ctx, 0, &loop->sul_wake, vr_loop_wake_cb,
                     (lws_usec_t)timeout_ms * LWS_US_PER_MS);
    r = lws_service(loop->ctx, 0);
    lws_sul_cancel(&loop->sul_wake);
    return r < 0 ? VERANI_EIO : VERANI_OK;
}

static void *vr_loop_thread(void *arg)
{
    verani_client_loop *loop = arg;

    for (;;) {
        int stop;

        pthread_mutex_lock(&loop->lock);
        stop = loop->stop;
        pthread_mutex_unlock(&loop->lock);
        if (stop)
            break;
        if (lws_service(loop->ctx, 0) < 0)
            break;
    }
    /* Finish every call already posted, then hand the loop back. */
    for (;;) {
        pthread_mutex_lock(&loop->lock);
        if (!loop->inbox_head) {
            loop->threaded = 0;
            pthread_mutex_unlock(&loop->lock);
            break;
        }
        pthread_mutex_unlock(&loop->lock);
        vr_loop_on_cancel(loop);
    }
    return NULL;
}

int verani_client_loop_start(verani_client_loop *loop)
{
    int r;

    if (!loop)
        return VERANI_EINVAL;
    pthread_mutex_lock(&loop->lock);
    if (loop->threaded) {
        pthread_mutex_unlock(&loop->lock);
        return VERANI_ESTATE;
    }
    loop->stop = 0;
    loop->threaded = 1;
    r = pthread_create(&loop->thread, NULL, vr_loop_thread, loop);
    if (r)
        loop->threaded = 0;
    pthread_mutex_unlock(&loop->lock);
    if (r) {
        VR_ERR("client loop: cannot start a thread: %s\n", strerror(r));
        return VERANI_EIO;
    }
    return VERANI_OK;
}

int verani_client_loop_stop(verani_client_loop *loop)
{
    pthread_t t;

    if (!loop)
        return VERANI_EINVAL;
    pthread_mutex_lock(&loop->lock);
    if (!loop->threaded || loop->stop) {
        pthread_mutex_unlock(&loop->lock);
        return VERANI_ESTATE;
    }
    if (pthread_equal(pthread_self(), loop->thread)) {
        pthread_mutex_unlock(&loop->lock);
        return VERANI_ESTATE;
    }
    loop->stop = 1;
    t = loop->thread;
    pthread_mutex_unlock(&loop->lock);
    lws_cancel_service(loop->ctx);
    pthread_join(t, NULL);
    pthread_mutex_lock(&loop->lock);
    loop->stop = 0;
    pthread_mutex_unlock(&loop->lock);
    return VERANI_OK;
}

void verani_client_loop_destroy(verani_client_loop *loop)
{
    vr_vhost *v, *next;

    if (!loop)
        return;
    if (loop->ctx && vr_loop_is_threaded(loop))
        verani_client_loop_stop(loop);
    while (loop->n_clients > 0)
        vr_client_destroy_now(loop->clients[loop->n_clients - 1]);
    if (loop->ctx) {
        lws_sul_cancel(&loop->sul_wake);
        lws_context_destroy(loop->ctx);
        pthread_mutex_destroy(&loop->lock);
        pthread_cond_destroy(&loop->cond);
    }
    for (v = loop->vhosts; v; v = next) {
        next = v->next;
        vr_free(v->ca_file);
        vr_free(v);
    }
    vr_free(loop->clients);
    vr_free(loop);
}
