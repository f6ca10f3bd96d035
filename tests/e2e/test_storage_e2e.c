/* SPDX-License-Identifier: MIT */
/*
 * test_storage_e2e.c: room storage through a real server on 127.0.0.1 (port
 * 0) with typed clients. A handler writes to its instance's storage inside a
 * transaction; a later connection reads it back; a handler that fails
 * halfway leaves nothing; another instance sees none of it; and everything
 * survives a server destroy and create on the same SQLite file. An idle
 * instance is evicted from memory and comes back with its storage; a
 * transaction a handler leaves open is rolled back when it returns. The
 * server runs on its own thread; the clients on this one. Also the typed
 * storage helpers veranic generates per schema message.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cases.h"
#include "cleanup.h"
#include "client_loop.h"
#include "deadline.h"

#include <verani/verani.h>

#include "stor_client.h"
#include "stor_server.h"

/* --- the room: handlers on the instance's storage ------------------------- */

static const char count_key[] = "meta/count";

struct put_args {
    const Stor__Put *msg;
    uint32_t count;
};

static int put_txn(verani_storage *st, void *user)
{
    struct put_args *a = user;
    char key[300];
    uint8_t *v = NULL;
    size_t n = 0;
    uint32_t count = 0;
    int rc;

    snprintf(key, sizeof(key), "data/%s", a->msg->key);
    rc = verani_storage_get(st, key, strlen(key), NULL, NULL);
    if (rc && rc != VERANI_ENOTFOUND)
        return rc;
    int is_new = rc == VERANI_ENOTFOUND;
    rc = verani_storage_put(st, key, strlen(key), a->msg->value, strlen(a->msg->value));
    if (rc)
        return rc;
    if (!strcmp(a->msg->value, "fail"))
        return VERANI_EHANDLER; /* after a write: the rollback must undo it */
    rc = verani_storage_get(st, count_key, strlen(count_key), &v, &n);
    if (rc == 0 && n == sizeof(count))
        memcpy(&count, v, sizeof(count));
    verani_storage_free(v);
    if (rc && rc != VERANI_ENOTFOUND)
        return rc;
    count += is_new;
    a->count = count;
    return verani_storage_put(st, count_key, strlen(count_key), &count, sizeof(count));
}

static uint32_t stored_count(verani_storage *st)
{
    uint8_t *v = NULL;
    size_t n = 0;
    uint32_t count = 0;

    if (verani_storage_get(st, count_key, strlen(count_key), &v, &n) == 0 && n == sizeof(count))
        memcpy(&count, v, sizeof(count));
    verani_storage_free(v);
    return count;
}

static int on_put(verani_ctx *ctx, const Stor__Put *msg, Stor__Value *reply)
{
    verani_storage *st = verani_ctx_storage(ctx);
    struct put_args a = {msg, 0};
    int rc;

    if (!st)
        return VERANI_EIO;
    rc = verani_storage_txn(st, put_txn, &a);
    if (rc)
        return rc;
    reply->found = 1;
    reply->value = msg->value;
    reply->count = a.count;
    return 0;
}

static int on_get(verani_ctx *ctx, const Stor__Key *msg, Stor__Value *reply)
{
    verani_storage *st = verani_ctx_storage(ctx);
    char key[300];
    uint8_t *v = NULL;
    size_t n;
    int rc;

    if (!st)
        return VERANI_EIO;
    snprintf(key, sizeof(key), "data/%s", msg->key);
    rc = verani_storage_get(st, key, strlen(key), &v, &n);
    if (rc && rc != VERANI_ENOTFOUND)
        return rc;
    reply->found = rc == 0;
    /* get leaves a NUL after the value: it reads as a C string */
    reply->value = rc == 0 ? verani_ctx_strdup(ctx, (const char *)v) : "";
    verani_storage_free(v);
    reply->count = stored_count(st);
    return 0;
}

/* Begins a transaction, writes, and returns without commit or rollback: a bug the runtime
 * must contain (the write is rolled back when the handler returns). */
static int on_leak(verani_ctx *ctx, const Stor__Put *msg, Stor__Value *reply)
{
    verani_storage *st = verani_ctx_storage(ctx);
    char key[300];
    int rc;

    if (!st)
        return VERANI_EIO;
    snprintf(key, sizeof(key), "data/%s", msg->key);
    rc = verani_storage_begin(st);
    if (!rc)
        rc = verani_storage_put(st, key, strlen(key), msg->value, strlen(msg->value));
    reply->found = rc == 0;
    return rc;
}

/* The loop's thread only; read after it is joined. */
static int handler_errors, estate_errors;
static char last_error[600];

static void on_error(verani_ctx *ctx, int err, const char *what)
{
    (void)ctx;
    handler_errors++;
    estate_errors += err == VERANI_ESTATE;
    snprintf(last_error, sizeof(last_error), "%s", what ? what : "");
}

static const stor_kv_handlers handlers = {
    .hooks = {.on_error = on_error},
    .put = on_put,
    .get = on_get,
    .leak = on_leak,
};

/* --- server on a thread ------------------------------------------------------ */

/* A server's thread, on the heap so a teardown after a failed test still finds it. */
typedef struct server_run {
    verani_server *srv;
    pthread_t thread;
} server_run;

typedef struct server {
    verani_server *srv;
    server_run *run;   /* owned; on the teardown list while the server runs */
    int port;
} server;

static void *run_server(void *srv)
{
    verani_server_run(srv);
    return NULL;
}

static void server_undo(void *arg)
{
    server_run *r = arg;

    verani_server_stop(r->srv);
    pthread_join(r->thread, NULL);
    verani_server_destroy(r->srv);
    free(r);
}

static void server_start_idle(server *s, const char *path, uint32_t instance_idle_ms)
{
    verani_server_options o;
    char err[512];

    verani_server_options_init(&o);
    o.bind_address = "127.0.0.1";
    o.log_level = VERANI_LOG_ERR;
    o.storage_path = path;
    o.instance_idle_ms = instance_idle_ms;
    s->srv = verani_server_create(&o, err, sizeof(err));
    if (!s->srv)
        fail_msg("server create: %s", err);
    assert_int_equal(stor_kv_mount(s->srv, &handlers, NULL), 0);
    assert_int_equal(verani_server_listen(s->srv), 0);
    s->port = verani_server_port(s->srv);
    assert_true(s->port > 0);
    s->run = calloc(1, sizeof(*s->run));
    assert_non_null(s->run);
    s->run->srv = s->srv;
    if (pthread_create(&s->run->thread, NULL, run_server, s->srv) != 0) {
        free(s->run);
        verani_server_destroy(s->srv);
        fail_msg("pthread_create failed");
    }
    cu_push(server_undo, s->run);
}

static void server_start(server *s, const char *path)
{
    server_start_idle(s, path, 0);
}

static void server_stop(server *s)
{
    cu_drop(s->run);
    server_undo(s->run);
    s->run = NULL;
    s->srv = NULL;
}

/* --- typed clients, driven from this thread ------------------------------------ */

typedef struct result {
    int done;
    verani_reply_status status;
    int found;
    char value[64];
    uint32_t count;
} result;

static void on_reply(verani_client *c, verani_reply_status status, const Stor__Value *v,
                     const char *error, void *user)
{
    result *r = user;

    (void)c;
    (void)error;
    r->done = 1;
    r->status = status;
    if (status == VERANI_REPLY_OK) {
        r->found = v->found;
        snprintf(r->value, sizeof(r->value), "%s", v->value ? v->value : "");
        r->count = v->count;
    }
}

static verani_client *connect_to(verani_client_loop *loop, int port, const char *instance)
{
    verani_client_options o;
    char url[256], err[256];
    verani_client *c;

    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/kv/%s?userId=tester", port, instance);
    verani_client_options_init(&o);
    o.url = url;
    o.room = &stor_kv_schema;
    c = verani_client_create(loop, &o, err, sizeof(err));
    if (!c)
        fail_msg("client create: %s", err);
    assert_int_equal(verani_client_wait_for_connection(c, DL_WAIT_MS), 0);
    return c;
}

/* Service the loop until `r` is done; a generous bound only so a bug cannot hang the test. */
static void wait_reply(verani_client_loop *loop, result *r)
{
    int64_t end = dl_after(DL_WAIT_MS);

    while (!r->done && !dl_passed(end))
        assert_true(verani_client_loop_service(loop, 10) >= 0);
    assert_true(r->done);
}

static result put(verani_client_loop *loop, verani_client *c, const char *k, const char *v)
{
    Stor__Put m = STOR__PUT__INIT;
    result r;

    memset(&r, 0, sizeof(r));
    m.key = (char *)k;
    m.value = (char *)v;
    assert_int_equal(stor_kv_client_request_put(c, &m, 10000, on_reply, &r), 0);
    wait_reply(loop, &r);
    return r;
}

static result get(verani_client_loop *loop, verani_client *c, const char *k)
{
    Stor__Key m = STOR__KEY__INIT;
    result r;

    memset(&r, 0, sizeof(r));
    m.key = (char *)k;
    assert_int_equal(stor_kv_client_request_get(c, &m, 10000, on_reply, &r), 0);
    wait_reply(loop, &r);
    return r;
}

static result leak(verani_client_loop *loop, verani_client *c, const char *k, const char *v)
{
    Stor__Put m = STOR__PUT__INIT;
    result r;

    memset(&r, 0, sizeof(r));
    m.key = (char *)k;
    m.value = (char *)v;
    assert_int_equal(stor_kv_client_request_leak(c, &m, 10000, on_reply, &r), 0);
    wait_reply(loop, &r);
    return r;
}

/* Close with 1000: the session ends at once (a dropped connection would stay detached for
 * the resume grace period instead). The close frame goes out as the loop is serviced, in
 * wait_census. */
static void leave(verani_client *c)
{
    assert_int_equal(verani_client_disconnect(c), 0);
}

/* What the loop thread sees, asked from this one through an outside call's callback (which
 * runs on the loop thread, where verani_server_* queries are allowed). */
typedef struct census {
    atomic_int done;
    size_t instances, sessions;
    unsigned long long evicted;
} census;

static void census_cb(verani_server *srv, const verani_rpc_result *res, void *arg)
{
    census *c = arg;
    char text[8192];
    const char *e;

    c->instances = verani_server_instance_count(srv);
    c->sessions = res->status == 0 ? res->count : (size_t)-1;
    verani_server_metrics_text(srv, text, sizeof(text));
    e = strstr(text, "\nverani_room_instances_evicted_total ");
    c->evicted = e ? strtoull(e + 37, NULL, 10) : ~0ull;
    atomic_store(&c->done, 1);
}

static census take_census(server *s)
{
    census c = {0};
    verani_rpc_done done = {.cb = census_cb, .arg = &c};
    int64_t end = dl_after(DL_WAIT_MS);

    assert_int_equal(verani_rpc_session_count(s->srv, "Kv", NULL, done), 0);
    while (!atomic_load(&c.done) && !dl_passed(end))
        dl_nap_ms(2);
    assert_true(atomic_load(&c.done));
    return c;
}

/* Poll until the server holds `want` instances (`of_instances`) or sessions, servicing the
 * clients meanwhile; a generous bound only so a bug cannot hang. */
static census wait_census(server *s, verani_client_loop *loop, int of_instances, size_t want)
{
    int64_t end = dl_after(DL_WAIT_MS);
    census c;

    do {
        c = take_census(s);
        if ((of_instances ? c.instances : c.sessions) == want)
            return c;
        assert_true(verani_client_loop_service(loop, 10) >= 0);
    } while (!dl_passed(end));
    fail_msg("the server holds %zu %s, not %zu", of_instances ? c.instances : c.sessions,
             of_instances ? "instance(s)" : "session(s)", want);
    return c;
}

/* A fresh directory under $TMPDIR (or /tmp) named after `what`, and its rooms.db path. */
static void make_db_dir(char *dir, size_t dlen, const char *what, char *path, size_t plen)
{
    const char *base = getenv("TMPDIR");

    snprintf(dir, dlen, "%s/verani-%s-XXXXXX", base && *base ? base : "/tmp", what);
    assert_non_null(mkdtemp(dir));
    snprintf(path, plen, "%s/rooms.db", dir);
}

/* `key` reads back as `value`, and the instance holds `count` keys. */
static void expect_stored(verani_client_loop *loop, verani_client *c, const char *key,
                          const char *value, uint32_t count)
{
    result r = get(loop, c, key);

    assert_int_equal(r.status, VERANI_REPLY_OK);
    assert_true(r.found);
    assert_string_equal(r.value, value);
    assert_int_equal(r.count, count);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void test_storage_survives_connections_and_restart(void **state)
{
    verani_client_loop *loop;
    verani_client *c;
    char dir[256], path[400];
    server s;
    result r;

    (void)state;
    make_db_dir(dir, sizeof(dir), "storage-e2e", path, sizeof(path));
    loop = loop_new();

    server_start(&s, path);
    assert_int_equal(access(path, F_OK), 0); /* the file exists from create on */
    c = connect_to(loop, s.port, "lobby");
    r = put(loop, c, "greeting", "hello");
    assert_int_equal(r.status, VERANI_REPLY_OK);
    assert_int_equal(r.count, 1);
    r = put(loop, c, "greeting", "hello again");
    assert_int_equal(r.status, VERANI_REPLY_OK);
    assert_int_equal(r.count, 1);
    r = put(loop, c, "other", "x");
    assert_int_equal(r.count, 2);
    /* the handler writes, then fails: its transaction leaves nothing */
    r = put(loop, c, "doomed", "fail");
    assert_int_equal(r.status, VERANI_REPLY_ERROR);
    verani_client_destroy(c);

    /* a later connection reads back what the first one's handlers wrote */
    c = connect_to(loop, s.port, "lobby");
    expect_stored(loop, c, "greeting", "hello again", 2);
    r = get(loop, c, "doomed");
    assert_false(r.found);
    verani_client_destroy(c);
    /* another instance of the room has its own key space */
    c = connect_to(loop, s.port, "games");
    r = get(loop, c, "greeting");
    assert_int_equal(r.status, VERANI_REPLY_OK);
    assert_false(r.found);
    assert_int_equal(r.count, 0);
    verani_client_destroy(c);
    server_stop(&s);
    assert_int_equal(handler_errors, 1);

    /* a new server on the same file: the data is there */
    server_start(&s, path);
    c = connect_to(loop, s.port, "lobby");
    expect_stored(loop, c, "greeting", "hello again", 2);
    r = put(loop, c, "third", "3");
    assert_int_equal(r.count, 3);
    verani_client_destroy(c);
    server_stop(&s);

    loop_free(loop);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* The default idle period keeps an empty instance; a short one evicts it, and the next
 * connection creates it again over the same storage. */
static void test_idle_instance_evicted_and_back(void **state)
{
    verani_client_loop *loop;
    verani_client *c;
    server s;
    census n;
    result r;

    (void)state;
    loop = loop_new();

    /* default (60 s): the instance outlives its last session */
    server_start(&s, NULL);
    c = connect_to(loop, s.port, "kept");
    assert_int_equal(put(loop, c, "k", "v").status, VERANI_REPLY_OK);
    leave(c);
    wait_census(&s, loop, 0, 0);
    verani_client_destroy(c);
    n = take_census(&s);
    assert_int_equal(n.instances, 1);
    assert_int_equal(n.evicted, 0);
    server_stop(&s);

    /* 50 ms: evicted once empty; storage stays, and the instance comes back on connect */
    server_start_idle(&s, NULL, 50);
    c = connect_to(loop, s.port, "lobby");
    r = put(loop, c, "greeting", "still here");
    assert_int_equal(r.status, VERANI_REPLY_OK);
    assert_int_equal(take_census(&s).instances, 1);
    leave(c);
    n = wait_census(&s, loop, 1, 0);
    verani_client_destroy(c);
    assert_int_equal(n.evicted, 1);
    c = connect_to(loop, s.port, "lobby");
    assert_int_equal(take_census(&s).instances, 1);
    expect_stored(loop, c, "greeting", "still here", 1);
    /* a connection that comes back in time keeps it: no second eviction while it stays */
    n = take_census(&s);
    assert_int_equal(n.instances, 1);
    assert_int_equal(n.evicted, 1);
    leave(c);
    n = wait_census(&s, loop, 1, 0);
    verani_client_destroy(c);
    assert_int_equal(n.evicted, 2);
    server_stop(&s);
    loop_free(loop);
}

/* A handler that returns inside a transaction: its write is rolled back, on_error hears of
 * it, and what comes after is committed as usual (it survives a restart on the file). */
static void test_open_transaction_rolled_back(void **state)
{
    verani_client_loop *loop;
    verani_client *c;
    char dir[256], path[400];
    server s;
    result r;

    (void)state;
    make_db_dir(dir, sizeof(dir), "storage-leak", path, sizeof(path));
    loop = loop_new();
    handler_errors = estate_errors = 0;

    server_start(&s, path);
    c = connect_to(loop, s.port, "lobby");
    r = leak(loop, c, "leaked", "x");
    assert_int_equal(r.status, VERANI_REPLY_OK);
    assert_true(r.found);
    r = put(loop, c, "after", "committed");
    assert_int_equal(r.status, VERANI_REPLY_OK);
    assert_int_equal(r.count, 1); /* the leaked key is not counted: it is gone */
    r = get(loop, c, "leaked");
    assert_false(r.found);
    verani_client_destroy(c);
    server_stop(&s);
    assert_int_equal(handler_errors, 1);
    assert_int_equal(estate_errors, 1);
    assert_non_null(strstr(last_error, "left open"));

    server_start(&s, path);
    c = connect_to(loop, s.port, "lobby");
    r = get(loop, c, "after");
    assert_true(r.found);
    assert_string_equal(r.value, "committed");
    r = get(loop, c, "leaked");
    assert_false(r.found);
    verani_client_destroy(c);
    server_stop(&s);
    loop_free(loop);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_no_path_writes_no_file(void **state)
{
    verani_client_loop *loop;
    verani_client *c;
    char cwd_before[4096];
    server s;
    result r;

    (void)state;
    assert_non_null(getcwd(cwd_before, sizeof(cwd_before)));
    loop = loop_new();
    server_start(&s, NULL);
    assert_string_equal(verani_storage_db_last_error(verani_server_storage(s.srv)), "");
    c = connect_to(loop, s.port, "mem");
    r = put(loop, c, "k", "v");
    assert_int_equal(r.status, VERANI_REPLY_OK);
    r = get(loop, c, "k");
    assert_true(r.found);
    verani_client_destroy(c);
    server_stop(&s);
    /* and a new in-memory server starts empty */
    server_start(&s, NULL);
    c = connect_to(loop, s.port, "mem");
    r = get(loop, c, "k");
    assert_int_equal(r.status, VERANI_REPLY_OK);
    assert_false(r.found);
    verani_client_destroy(c);
    server_stop(&s);
    loop_free(loop);
    assert_int_equal(access(":memory:", F_OK), -1);
}

static void test_bad_path_fails_create(void **state)
{
    verani_server_options o;
    char err[512];

    (void)state;
    verani_server_options_init(&o);
    o.storage_path = "/nonexistent-verani-dir/sub/rooms.db";
    assert_null(verani_server_create(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent-verani-dir/sub/rooms.db"));
    assert_non_null(strstr(err, "directory exists"));
}

static void test_typed_helpers(void **state)
{
    verani_storage_db *db = verani_storage_db_open(NULL, NULL, 0);
    verani_storage *st = verani_storage_open(db, "Kv", "typed");
    Stor__Value v = STOR__VALUE__INIT, *got = NULL;
    Stor__Put *wrong = NULL;

    (void)state;
    assert_non_null(st);
    v.found = 1;
    v.value = "typed";
    v.count = 7;
    assert_int_equal(stor_storage_put_value(st, "v", &v), 0);
    assert_int_equal(stor_storage_get_value(st, "v", &got), 0);
    assert_true(got->found);
    assert_string_equal(got->value, "typed");
    assert_int_equal(got->count, 7);
    verani_storage_free_message(got);
    assert_int_equal(stor_storage_get_value(st, "absent", &got), VERANI_ENOTFOUND);
    assert_null(got);
    /* a Value's bytes read as a Put: field 1 is a bool there, a string here */
    assert_int_equal(stor_storage_get_put(st, "v", &wrong), VERANI_EIO);
    assert_null(wrong);
    verani_storage_db_close(db);
}

static const vt_case cases[] = {
    VT_CASE(test_storage_survives_connections_and_restart, ""),
    VT_CASE(test_no_path_writes_no_file, ""),
    VT_CASE(test_idle_instance_evicted_and_back, ""),
    VT_CASE(test_open_transaction_rolled_back, ""),
    VT_CASE(test_bad_path_fails_create, ""),
    VT_CASE(test_typed_helpers, ""),
};

/* `test_storage_e2e test_<case>` runs one case (each is a CTest test storage_e2e_<case>). */
int main(int argc, char **argv)
{
    return vt_main("storage_e2e", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
