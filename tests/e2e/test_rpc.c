/* SPDX-License-Identifier: MIT */
/*
 * test_rpc.c: outside calls (issue 6) over 127.0.0.1. The HTTP API through
 * curl (every route with a good, a bad and no token; each bad request with
 * its status and reason; the API off without a token), the C API of rpc.h
 * called from 4 threads at once while raw clients receive (run it under
 * ThreadSanitizer too), the blocking form refused on the loop thread, kick,
 * and /metrics parsed line by line as Prometheus text and seen to move when
 * frames flow. Run one case with `test_rpc <name>`.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>

#include <cmocka.h>

#include "cases.h"
#include "cleanup.h"
#include "deadline.h"

#include <verani/rpc.h>

#include "e2e_room.h"
#include "e2e_util.h"
#include "rawclient.h"
#include "rpce2e_server.h"

#define TOKEN "s3cret-token"
#define MTOKEN "metrics-token"

static const rpce2e_notes_handlers notes_handlers; /* no handlers: emits only */

typedef struct {
    const char *token, *mtoken;
    size_t max_body;
} api_arg;

/* e2e_server_start's setup: the notes room and the HTTP API. */
static int setup_api(verani_server *srv, void *arg)
{
    const api_arg *x = arg;
    verani_api_options a;
    int r = rpce2e_notes_mount(srv, &notes_handlers, NULL);

    if (r)
        return r;
    memset(&a, 0, sizeof(a));
    a.token = x->token;
    a.metrics_token = x->mtoken;
    a.max_body = x->max_body;
    return verani_server_set_api(srv, &a);
}

static void start_api(e2e_server *h, const char *token, const char *mtoken, size_t max_body)
{
    verani_server_options o;
    api_arg x = {token, mtoken, max_body};

    e2e_server_options(&o);
    e2e_server_start(h, &o, setup_api, &x);
}

/* --- HTTP through curl ---------------------------------------------------- */

/*
 * Run curl: `method` on `path`, with `auth` as the bearer token (NULL: no
 * header), `body` (len bytes, NULL: none). Returns the status; the body of
 * the answer goes to `out`.
 */
static int http(int port, const char *method, const char *path, const char *auth,
                const void *body, size_t len, char *out, size_t outlen)
{
    char cmd[2048], bodyfile[64] = "", hdr[640] = "", data[128] = "", line[4096];
    size_t n = 0;
    FILE *p;
    int status = -1, fd;

    if (body) {
        snprintf(bodyfile, sizeof(bodyfile), "/tmp/verani-rpc-XXXXXX");
        fd = mkstemp(bodyfile);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, body, len), (ssize_t)len);
        close(fd);
        snprintf(data, sizeof(data), "-H 'Content-Type: application/x-protobuf' "
                 "--data-binary @%s", bodyfile);
    }
    if (auth)
        snprintf(hdr, sizeof(hdr), "-H 'Authorization: Bearer %s'", auth);
    snprintf(cmd, sizeof(cmd), "curl -sS --max-time 20 -X %s %s %s -w '\\n%%{http_code}' "
             "'http://127.0.0.1:%d%s'", method, hdr, data, port, path);
    p = popen(cmd, "r");
    assert_non_null(p);
    out[0] = '\0';
    while (fgets(line, sizeof(line), p)) {
        size_t l = strlen(line);

        if (n + l >= outlen) /* the status is the last line: never lose it silently */
            fail_msg("%s %s: the answer is longer than the test's %zu-byte buffer", method,
                     path, outlen);
        memcpy(out + n, line, l + 1);
        n += l;
    }
    pclose(p);
    if (bodyfile[0])
        unlink(bodyfile);
    /* the status is the last line */
    {
        char *last = strrchr(out, '\n');

        status = atoi(last ? last + 1 : out);
        if (last)
            *last = '\0';
    }
    return status;
}

/* Expect `status` and a body containing `needle`. */
static void expect(int port, const char *method, const char *path, const char *auth,
                   const void *body, size_t len, int status, const char *needle)
{
    char out[65536];
    int st = http(port, method, path, auth, body, len, out, sizeof(out));

    if (st != status || (needle && !strstr(out, needle)))
        fail_msg("%s %s: got %d '%s', want %d with '%s'", method, path, st, out, status,
                 needle ? needle : "");
}

static size_t chat_bytes(const char *text, uint8_t *buf)
{
    E2e__ChatOut m = E2E__CHAT_OUT__INIT;

    m.text = (char *)text;
    m.from = "api";
    return e2e__chat_out__pack(&m, buf);
}

typedef struct { rc_conn **c; size_t n; size_t want; } evwait;
static int p_events(void *a)
{
    evwait *w = a;
    size_t i;

    for (i = 0; i < w->n; i++)
        if (w->c[i]->n_events < w->want && !w->c[i]->closed)
            return 0;
    return 1;
}

static void test_http_api(void **state)
{
    e2e_server h;
    rc_loop *l = rc_loop_create();
    rc_conn *a, *b, *c;
    uint8_t buf[256];
    size_t n;
    char path[512], out[65536];
    static const char *const gets[] = {"/_verani/count", "/_verani/rooms/E2e/lobby/count",
                                       "/_verani/rooms/E2e/lobby/users",
                                       "/_verani/rooms/E2e/lobby/users/u1/sessions",
                                       "/_verani/instances", "/_verani/rooms/E2e/instances"};
    size_t i;

    (void)state;
    start_api(&h, TOKEN, MTOKEN, 1024);
    a = e2e_join(l, h.port, "/e2e/lobby?userId=u1");
    b = e2e_join(l, h.port, "/e2e/lobby?userId=u2");
    c = e2e_join(l, h.port, "/e2e/other?userId=u%22q");
    n = chat_bytes("hello", buf);

    /* every route without a token, with a bad one */
    for (i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
        expect(h.port, "GET", gets[i], NULL, NULL, 0, 401, "no token");
        expect(h.port, "GET", gets[i], "wrong", NULL, 0, 401, "not valid");
        expect(h.port, "GET", gets[i], TOKEN "x", NULL, 0, 401, "not valid");
    }
    expect(h.port, "POST", "/_verani/rooms/E2e/lobby/emit/chat.out?channel=default", NULL, buf,
           n, 401, "no token");
    expect(h.port, "POST", "/_verani/rooms/E2e/lobby/kick?client=x", "bad", NULL, 0, 401,
           "not valid");
    expect(h.port, "POST", "/_verani/rooms/E2e/lobby/broadcast/chat.out", "bad", buf, n, 401,
           "not valid");

    /* with the token */
    expect(h.port, "GET", "/_verani/count", TOKEN, NULL, 0, 200, "{\"count\":3}");
    expect(h.port, "GET", "/_verani/rooms/E2e/lobby/count", TOKEN, NULL, 0, 200,
           "{\"count\":2}");
    expect(h.port, "GET", "/_verani/rooms/E2e/lobby/users", TOKEN, NULL, 0, 200,
           "{\"users\":[\"u1\",\"u2\"],\"count\":2}");
    /* the instances in memory, by room then name, with their sessions */
    expect(h.port, "GET", "/_verani/instances", TOKEN, NULL, 0, 200,
           "{\"instances\":[{\"room\":\"E2e\",\"instance\":\"lobby\",\"sessions\":2,"
           "\"pending\":0},{\"room\":\"E2e\",\"instance\":\"other\",\"sessions\":1,"
           "\"pending\":0}],\"count\":2}");
    expect(h.port, "GET", "/_verani/rooms/E2e/instances", TOKEN, NULL, 0, 200,
           "\"instance\":\"other\",\"sessions\":1,\"pending\":0}],\"count\":2}");
    expect(h.port, "GET", "/_verani/rooms/Limited/instances", TOKEN, NULL, 0, 200,
           "{\"instances\":[],\"count\":0}");
    expect(h.port, "GET", "/_verani/rooms/Nope/instances", TOKEN, NULL, 0, 400,
           "unknown room 'Nope'");
    expect(h.port, "POST", "/_verani/instances", TOKEN, NULL, 0, 405, "use GET");
    expect(h.port, "POST", "/_verani/rooms/E2e/instances", TOKEN, NULL, 0, 405, "use GET");
    /* a user id with a quote comes back escaped */
    expect(h.port, "GET", "/_verani/rooms/E2e/other/users", TOKEN, NULL, 0, 200,
           "{\"users\":[\"u\\\"q\"],\"count\":1}");
    snprintf(path, sizeof(path), "{\"sessions\":[{\"client_id\":\"%s\",\"user_id\":\"u1\","
             "\"room\":\"E2e\",\"instance\":\"lobby\",\"channels\":[\"default\"]}],\"count\":1}",
             a->client_id);
    expect(h.port, "GET", "/_verani/rooms/E2e/lobby/users/u1/sessions", TOKEN, NULL, 0, 200,
           path);

    /* emits: channel, user, client, broadcast with filters */
    expect(h.port, "POST", "/_verani/rooms/E2e/lobby/emit/chat.out?channel=default", TOKEN, buf,
           n, 200, "{\"delivered\":2}");
    expect(h.port, "POST", "/_verani/rooms/E2e/lobby/emit/chat.out?user=u2", TOKEN, buf, n, 200,
           "{\"delivered\":1}");
    snprintf(path, sizeof(path), "/_verani/rooms/E2e/lobby/emit/chat.out?client=%s",
             a->client_id);
    expect(h.port, "POST", path, TOKEN, buf, n, 200, "{\"delivered\":1}");
    expect(h.port, "POST", "/_verani/rooms/E2e/lobby/broadcast/chat.out", TOKEN, buf, n, 200,
           "{\"delivered\":2}");
    expect(h.port, "POST", "/_verani/rooms/E2e/lobby/broadcast/chat.out?user_ids=u2,nobody",
           TOKEN, buf, n, 200, "{\"delivered\":1}");
    snprintf(path, sizeof(path), "/_verani/rooms/E2e/lobby/broadcast/chat.out?client_ids=%s",
             b->client_id);
    expect(h.port, "POST", path, TOKEN, buf, n, 200, "{\"delivered\":1}");
    {
        rc_conn *both[2] = {a, b};
        evwait w = {both, 2, 3};

        assert_true(rc_wait(l, p_events, &w, DL_WAIT_MS));
        rc_settle(l, 100);
        assert_int_equal(a->n_events, 3); /* channel, client, broadcast, nothing else */
        assert_int_equal(b->n_events, 5); /* channel, user, broadcast, user_ids, client_ids */
        assert_int_equal(c->n_events, 0);
    }

    /* bad requests, each with its status and reason */
    expect(h.port, "POST", "/_verani/rooms/Nope/lobby/emit/chat.out?channel=default", TOKEN,
           buf, n, 400, "unknown room 'Nope'");
    expect(h.port, "POST", "/_verani/rooms/E2e/lobby/emit/nope?channel=default", TOKEN, buf, n,
           400, "has no emit event 'nope'; its emit events are: chat.out blob");
    expect(h.port, "POST", "/_verani/rooms/E2e/lobby/emit/chat.out?channel=default", TOKEN,
           "\xff\xff\xff", 3, 400, "not a valid e2e.ChatOut");
    expect(h.port, "POST", "/_verani/rooms/E2e/lobby/emit/chat.out", TOKEN, buf, n, 400,
           "exactly one non-empty target");
    {
        /* a second target with a long value is counted, not copied over a short buffer */
        char longpath[1024];

        snprintf(longpath, sizeof(longpath), "/_verani/rooms/E2e/lobby/emit/chat.out"
                 "?channel=default&user=%0900d", 7);
        expect(h.port, "POST", longpath, TOKEN, buf, n, 400, "exactly one non-empty target");
    }
    expect(h.port, "POST", "/_verani/rooms/E2e/nobody/emit/chat.out?channel=default", TOKEN,
           buf, n, 404, "no instance 'nobody'");
    expect(h.port, "GET", "/_verani/rooms/E2e/nobody/count", TOKEN, NULL, 0, 404,
           "no instance 'nobody'");
    {
        /* a chunked body (no Content-Length) is refused by name, not read as empty */
        char cmd[512], answer[1024] = "";
        FILE *pp;

        snprintf(cmd, sizeof(cmd), "printf 'abc' | curl -sS --max-time 20 -X POST "
                 "-H 'Authorization: Bearer %s' -H 'Transfer-Encoding: chunked' "
                 "--data-binary @- -w '\\n%%{http_code}' "
                 "'http://127.0.0.1:%d/_verani/rooms/E2e/lobby/emit/chat.out?channel=default'",
                 TOKEN, h.port);
        pp = popen(cmd, "r");
        assert_non_null(pp);
        assert_true(fread(answer, 1, sizeof(answer) - 1, pp) > 0);
        pclose(pp);
        if (!strstr(answer, "411") || !strstr(answer, "Content-Length"))
            fail_msg("chunked POST: got '%s', want 411 naming Content-Length", answer);
    }
    expect(h.port, "GET", "/_verani/rooms/E2e/lobby/emit/chat.out?channel=default", TOKEN,
           NULL, 0, 405, "use POST");
    expect(h.port, "POST", "/_verani/rooms/E2e/lobby/count", TOKEN, NULL, 0, 405, "use GET");
    {
        char o[512];

        /* a body that is not protobuf by its Content-Type: another type, one that only
         * starts like it, one too long to read */
        static const char *const types[] = {
            "application/json", "application/x-protobufx",
            ("application/x-protobuf; xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")};
        size_t k;

        for (k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
            FILE *p;

            snprintf(path, sizeof(path), "curl -sS -o /dev/null -w '%%{http_code}' -H "
                     "'Authorization: Bearer " TOKEN "' -H 'Content-Type: %s' "
                     "--data '{}' 'http://127.0.0.1:%d/_verani/rooms/E2e/lobby/emit/chat.out"
                     "?channel=default'", types[k], h.port);
            p = popen(path, "r");
            assert_non_null(p);
            assert_non_null(fgets(o, sizeof(o), p));
            pclose(p);
            if (strcmp(o, "415"))
                fail_msg("Content-Type %.40s...: got %s, want 415", types[k], o);
        }
    }
    expect(h.port, "DELETE", "/_verani/count", TOKEN, NULL, 0, 405, "use GET");
    expect(h.port, "GET", "/_verani/rooms/E2e/lobby/frobnicate", TOKEN, NULL, 0, 404,
           "no API action 'frobnicate'");
    {
        uint8_t big[2048];

        memset(big, 0, sizeof(big));
        expect(h.port, "POST", "/_verani/rooms/E2e/lobby/emit/chat.out?channel=default", TOKEN,
               big, sizeof(big), 413, "over the API's limit");
    }
    expect(h.port, "POST", "/_verani/rooms/E2e/lobby/kick?client=nope", TOKEN, NULL, 0, 404,
           "no open session with client id 'nope'");
    expect(h.port, "POST", "/_verani/rooms/E2e/lobby/kick?client=x&code=1", TOKEN, NULL, 0, 400,
           "code must be");
    {
        /* a payload that decodes but fails validation names the field: Cmd.text max_len 16 is
         * on an `on` event, so check the `emit` side's own rule through blob (none): the
         * server refuses Cmd bytes sent as ChatOut only when they do not decode. */
        E2e__Blob bl = E2E__BLOB__INIT;
        uint8_t bb[64];
        size_t bn;

        bl.data.data = (uint8_t *)"xyz";
        bl.data.len = 3;
        bn = e2e__blob__pack(&bl, bb);
        expect(h.port, "POST", "/_verani/rooms/E2e/lobby/emit/blob?channel=default", TOKEN, bb,
               bn, 200, "{\"delivered\":2}");
    }
    {
        /* a payload that decodes but fails the schema's rules: the field is named */
        Rpce2e__Note note = RPCE2E__NOTE__INIT;
        char *tags[3] = {"a", "b", "c"};
        uint8_t nb[128];
        size_t nn;
        rc_conn *d = e2e_join(l, h.port, "/notes/board?userId=n1");

        note.title = "much too long";
        nn = rpce2e__note__pack(&note, nb);
        expect(h.port, "POST", "/_verani/rooms/Notes/board/emit/note?channel=default", TOKEN,
               nb, nn, 400, "invalid payload: title: ");
        note.title = "ok";
        note.tags = tags;
        note.n_tags = 3;
        nn = rpce2e__note__pack(&note, nb);
        expect(h.port, "POST", "/_verani/rooms/Notes/board/emit/note?channel=default", TOKEN,
               nb, nn, 400, "invalid payload: tags");
        note.n_tags = 2;
        nn = rpce2e__note__pack(&note, nb);
        expect(h.port, "POST", "/_verani/rooms/Notes/board/emit/note?channel=default", TOKEN,
               nb, nn, 200, "{\"delivered\":1}");
        expect(h.port, "POST", "/_verani/rooms/Notes/board/emit/bare?channel=default", TOKEN,
               nb, nn, 400, "carries no payload");
        expect(h.port, "POST", "/_verani/rooms/Notes/board/emit/bare?user=n1", TOKEN, NULL, 0,
               200, "{\"delivered\":1}");
        assert_false(d->closed);
    }
    /* none of that touched a session */
    rc_settle(l, 100);
    assert_false(a->closed);
    assert_false(b->closed);
    assert_false(c->closed);

    /* kick; a reason that is not UTF-8 is refused (a browser fails a connection whose close
     * reason is not: 1006 instead of the code) and kicks nobody */
    snprintf(path, sizeof(path), "/_verani/rooms/E2e/lobby/kick?client=%s&reason=b%%FFe",
             b->client_id);
    expect(h.port, "POST", path, TOKEN, NULL, 0, 400, "UTF-8");
    snprintf(path, sizeof(path), "/_verani/rooms/E2e/lobby/kick?client=%s&code=4100&reason=bye",
             b->client_id);
    expect(h.port, "POST", path, TOKEN, NULL, 0, 200, "{\"kicked\":1}");
    assert_true(rc_wait(l, e2e_p_closed, b, DL_WAIT_MS));
    assert_int_equal(b->close_code, 4100);
    assert_string_equal(b->close_reason, "bye");
    assert_false(a->closed);

    /* /metrics needs its own token */
    expect(h.port, "GET", "/metrics", NULL, NULL, 0, 401, "no token");
    expect(h.port, "GET", "/metrics", TOKEN, NULL, 0, 401, "not valid");
    assert_int_equal(http(h.port, "GET", "/metrics", MTOKEN, NULL, 0, out, sizeof(out)), 200);
    assert_non_null(strstr(out, "verani_connections{room=\"E2e\"} 2"));
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* Everything the server sends on `fd` until it closes (1) or `ms` pass with the connection
 * open (0), into `out`. */
static int read_to_close(int fd, char *out, size_t len, int ms)
{
    size_t used = 0;
    int64_t end = dl_after(ms);

    out[0] = '\0';
    while (!dl_passed(end)) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;

        if (poll(&p, 1, 50) <= 0)
            continue;
        n = read(fd, out + used, len - used - 1);
        if (n <= 0)
            return 1;
        used += (size_t)n;
        out[used] = '\0';
        if (used + 1 >= len)
            fail_msg("the answer is longer than the test's %zu bytes", len);
    }
    return 0;
}

/* Send `req` (a request without a Content-Length) on a new connection, then a GET on the
 * same connection: the first answer must contain `want`, and the GET must be answered, or
 * the connection end after the first answer; never be left waiting. */
static void then_get(int port, const char *req, const char *want)
{
    static const char get[] = "GET /_verani/count HTTP/1.1\r\nHost: x\r\n"
                              "Authorization: Bearer " TOKEN "\r\n\r\n";
    char out[8192];
    int fd = rc_tcp_connect(port, 0), closed;

    assert_true(fd >= 0);
    assert_int_equal(rc_tcp_send_raw(fd, req, strlen(req)), 0);
    dl_nap_ms(100);
    (void)rc_tcp_send_raw(fd, get, strlen(get)); /* the server may have closed already */
    closed = read_to_close(fd, out, sizeof(out), (int)(3000 * dl_scale()));
    close(fd);
    if (!strstr(out, want))
        fail_msg("%.40s...: not answered %s: '%s'", req, want, out);
    if (!closed && !strstr(out, "{\"count\":0}"))
        fail_msg("%.40s...: the connection neither answered the next request nor closed: "
                 "'%s'", req, out);
}

/* A POST with no body says no Content-Length (curl -X POST does so): it is answered as an
 * empty body, and the connection closes after the answer. libwebsockets takes a POST without
 * a length for the head of a body of up to 100 MiB, so a keep-alive connection would read
 * the next request as that body and leave it unanswered. */
static void test_post_without_length(void **state)
{
    e2e_server h;
    static const char post[] = "POST /_verani/rooms/E2e/lobby/kick?client=nobody HTTP/1.1\r\n"
                               "Host: x\r\nAuthorization: Bearer " TOKEN "\r\n\r\n";
    static const char nowhere[] = "POST /nowhere HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char put[] = "PUT /_verani/count HTTP/1.1\r\nHost: x\r\n"
                              "Authorization: Bearer " TOKEN "\r\n\r\n";

    (void)state;
    start_api(&h, TOKEN, MTOKEN, 1024);
    then_get(h.port, post, "HTTP/1.1 404"); /* a kick of nobody */
    then_get(h.port, put, "HTTP/1.1 405"); /* libwebsockets reads a body after a PUT too */
    then_get(h.port, nowhere, "HTTP/1.1 404"); /* neither the API's path nor a room's */
    e2e_server_stop(&h);
}

/* A room path the API would answer is refused, whichever comes first: the mount or the API;
 * and one at /health. */
static void test_api_path_clash(void **state)
{
    verani_server_options o;
    verani_api_options a;
    verani_server *srv;
    char err[256];

    (void)state;
    e2e_server_options(&o);
    memset(&a, 0, sizeof(a));
    a.token = TOKEN;
    /* the API first, on the room's prefix: the mount is refused */
    srv = verani_server_create(&o, err, sizeof(err));
    assert_non_null(srv);
    a.prefix = "/notes/";
    assert_int_equal(verani_server_set_api(srv, &a), 0);
    assert_int_equal(rpce2e_notes_mount(srv, &notes_handlers, NULL), VERANI_EINVAL);
    assert_non_null(strstr(verani_server_last_error(srv), "HTTP API"));
    /* one the placeholder reaches (instance "x" would be the API's) is refused too */
    a.prefix = "/notes/x/";
    assert_int_equal(verani_server_set_api(srv, &a), 0);
    assert_int_equal(rpce2e_notes_mount(srv, &notes_handlers, NULL), VERANI_EINVAL);
    /* one beside the room's path is fine */
    a.prefix = "/notes-api/";
    assert_int_equal(verani_server_set_api(srv, &a), 0);
    assert_int_equal(rpce2e_notes_mount(srv, &notes_handlers, NULL), 0);
    verani_server_destroy(srv);
    /* the room first: an API prefix over its path is refused, and the room stays mounted */
    srv = verani_server_create(&o, err, sizeof(err));
    assert_non_null(srv);
    assert_int_equal(rpce2e_notes_mount(srv, &notes_handlers, NULL), 0);
    a.prefix = "/notes/";
    assert_int_equal(verani_server_set_api(srv, &a), VERANI_EINVAL);
    assert_non_null(strstr(verani_server_last_error(srv), "covers the path /notes/{room}"));
    a.prefix = "/api/";
    assert_int_equal(verani_server_set_api(srv, &a), 0);
    verani_server_destroy(srv);
    {
        /* /health is every server's health check (veranic refuses the path; a room
         * definition made otherwise is refused at the mount) */
        verani_room_schema sc = *rpce2e_notes_room.schema;
        verani_room_def def = rpce2e_notes_room;

        sc.path = "/health";
        sc.json_path = NULL;
        def.schema = &sc;
        srv = verani_server_create(&o, err, sizeof(err));
        assert_non_null(srv);
        assert_int_equal(verani_server_mount(srv, &def, &notes_handlers, NULL), VERANI_EINVAL);
        assert_non_null(strstr(verani_server_last_error(srv), "health check"));
        verani_server_destroy(srv);
    }
}

/* opts.static_dir: the files are served at static_path, nothing above the directory is; a
 * path that clashes with a room (either way round) or the API is refused. */
static void test_static_files(void **state)
{
    char dir[] = "/tmp/verani-static-XXXXXX", file[64], resp[4096], err[256];
    verani_server_options o;
    verani_api_options a;
    verani_server *srv;
    e2e_server h;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/index.html", dir);
    f = fopen(file, "w");
    assert_non_null(f);
    fputs("<p>the page</p>\n", f);
    fclose(f);
    e2e_server_options(&o);
    o.static_dir = dir;
    o.static_path = "/";
    assert_null(verani_server_create(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "static_path"));
    /* the room below the static path, or the static path an instance of the room */
    o.static_path = "/notes";
    srv = verani_server_create(&o, err, sizeof(err));
    assert_non_null(srv);
    assert_int_equal(rpce2e_notes_mount(srv, &notes_handlers, NULL), VERANI_EINVAL);
    assert_non_null(strstr(verani_server_last_error(srv), "static files"));
    verani_server_destroy(srv);
    o.static_path = "/notes/x/";
    srv = verani_server_create(&o, err, sizeof(err));
    assert_non_null(srv);
    assert_int_equal(rpce2e_notes_mount(srv, &notes_handlers, NULL), VERANI_EINVAL);
    verani_server_destroy(srv);
    /* the API below the static path: refused at listen */
    o.static_path = "/web/";
    srv = verani_server_create(&o, err, sizeof(err));
    assert_non_null(srv);
    assert_int_equal(rpce2e_notes_mount(srv, &notes_handlers, NULL), 0);
    memset(&a, 0, sizeof(a));
    a.token = TOKEN;
    a.prefix = "/web/api/";
    assert_int_equal(verani_server_set_api(srv, &a), 0);
    assert_int_equal(verani_server_listen(srv), VERANI_EINVAL);
    assert_non_null(strstr(verani_server_last_error(srv), "HTTP API"));
    verani_server_destroy(srv);
    /* served beside the rooms */
    e2e_server_start(&h, &o, NULL, NULL);
    assert_int_equal(rc_tcp_get(h.port, "/web/", resp, sizeof(resp)), 200);
    assert_non_null(strstr(resp, "<p>the page</p>"));
    assert_int_equal(rc_tcp_get(h.port, "/web/index.html", resp, sizeof(resp)), 200);
    assert_int_equal(rc_tcp_get(h.port, "/web/../../../../etc/passwd", resp, sizeof(resp)), 404);
    assert_int_equal(rc_tcp_get(h.port, "/web/nothing.js", resp, sizeof(resp)), 404);
    assert_int_equal(rc_tcp_get(h.port, "/elsewhere", resp, sizeof(resp)), 404);
    e2e_server_stop(&h);
    remove(file);
    rmdir(dir);
}

/* A token is at most 504 bytes, the longest an Authorization header the server reads can
 * carry: a longer one is refused by verani_server_set_api (it could never match), and one
 * of 504 bytes works. */
static void test_api_token_length(void **state)
{
    char tok[506], err[256];
    verani_server_options o;
    verani_api_options a;
    verani_server *srv;
    e2e_server h;

    (void)state;
    memset(tok, 't', 505);
    tok[505] = '\0';
    e2e_server_options(&o);
    srv = verani_server_create(&o, err, sizeof(err));
    assert_non_null(srv);
    memset(&a, 0, sizeof(a));
    a.token = tok;
    assert_int_equal(verani_server_set_api(srv, &a), VERANI_EINVAL);
    assert_non_null(strstr(verani_server_last_error(srv), "504"));
    a.token = NULL;
    a.metrics_token = tok;
    assert_int_equal(verani_server_set_api(srv, &a), VERANI_EINVAL);
    verani_server_destroy(srv);
    tok[504] = '\0';
    start_api(&h, tok, tok, 0);
    expect(h.port, "GET", "/_verani/count", tok, NULL, 0, 200, "{\"count\":0}");
    expect(h.port, "GET", "/metrics", tok, NULL, 0, 200, "# TYPE verani_connections gauge");
    e2e_server_stop(&h);
}

/* In a room whose path has a {room}, an instance may be named "-" (a client at /e2e/-): the
 * API reaches it by that name ("-" stands for the one instance only in a room without one). */
static void test_instance_named_dash(void **state)
{
    e2e_server h;
    rc_loop *l = rc_loop_create();

    (void)state;
    start_api(&h, TOKEN, MTOKEN, 0);
    (void)e2e_join(l, h.port, "/e2e/-?userId=d1");
    expect(h.port, "GET", "/_verani/rooms/E2e/-/count", TOKEN, NULL, 0, 200, "{\"count\":1}");
    expect(h.port, "GET", "/_verani/rooms/E2e/-/users", TOKEN, NULL, 0, 200,
           "{\"users\":[\"d1\"],\"count\":1}");
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

static void test_http_api_off(void **state)
{
    verani_server_options o;
    e2e_server h;

    (void)state;
    unsetenv("VERANI_API_TOKEN");
    unsetenv("VERANI_METRICS_TOKEN");
    start_api(&h, NULL, NULL, 0);
    expect(h.port, "GET", "/_verani/count", NULL, NULL, 0, 403, "the HTTP API is off");
    expect(h.port, "GET", "/_verani/count", "anything", NULL, 0, 403, "the HTTP API is off");
    expect(h.port, "GET", "/metrics", "anything", NULL, 0, 403, "metrics are off");
    /* other paths keep their answers */
    expect(h.port, "GET", "/nothing-here", NULL, NULL, 0, 404, "no room at");
    e2e_server_stop(&h);

    /* the environment variables switch them on */
    setenv("VERANI_API_TOKEN", "from-env", 1);
    setenv("VERANI_METRICS_TOKEN", "m-env", 1);
    start_api(&h, NULL, NULL, 0);
    expect(h.port, "GET", "/_verani/count", "from-env", NULL, 0, 200, "{\"count\":0}");
    expect(h.port, "GET", "/_verani/count", NULL, NULL, 0, 401, "no token");
    expect(h.port, "GET", "/metrics", "m-env", NULL, 0, 200, "# TYPE verani_connections gauge");
    e2e_server_stop(&h);

    /* ... for a server that switched them on: without verani_server_set_api both stay off */
    e2e_server_options(&o);
    e2e_server_start(&h, &o, NULL, NULL);
    expect(h.port, "GET", "/_verani/count", "from-env", NULL, 0, 403, "the HTTP API is off");
    expect(h.port, "GET", "/metrics", "m-env", NULL, 0, 403, "metrics are off");
    e2e_server_stop(&h);
    unsetenv("VERANI_API_TOKEN");
    unsetenv("VERANI_METRICS_TOKEN");
}

/* --- the C API from 4 threads --------------------------------------------- */

#define THREADS 4
#define PER_THREAD 50
#define CLIENTS 6

typedef struct {
    verani_server *srv;
    int idx;
    int fails;
    char why[256];
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    verani_rpc_result res;
    verani_rpc_done d = {NULL, NULL, 10000, &res};
    E2e__ChatOut m = E2E__CHAT_OUT__INIT;
    verani_target to = verani_to_channel("default");
    const verani_event_def *ev = &e2e_e2e_room.schema->emit[0];
    char text[32];
    int i, r;

    m.text = text;
    m.from = "thread";
    for (i = 0; i < PER_THREAD; i++) {
        snprintf(text, sizeof(text), "t%d-%d", w->idx, i);
        /* half through the generic call, half through veranic's typed wrapper */
        if (i % 2)
            r = verani_rpc_emit(w->srv, "E2e", "lobby", &to, ev, &m.base, d);
        else
            r = e2e_e2e_rpc_emit_chat_out(w->srv, "lobby", to, &m, d);
        if (r != 0 || res.count != CLIENTS) {
            w->fails++;
            snprintf(w->why, sizeof(w->why), "emit %d: %d %zu %s", i, r, res.count, res.error);
        }
        verani_rpc_result_free(&res);
        switch (i % 3) {
        case 0:
            r = verani_rpc_session_count(w->srv, NULL, NULL, d);
            if (r || res.count != CLIENTS)
                w->fails++;
            break;
        case 1:
            r = verani_rpc_user_ids(w->srv, "E2e", "lobby", d);
            if (r || res.n_user_ids != CLIENTS / 2 || strcmp(res.user_ids[0], "u0"))
                w->fails++;
            break;
        default:
            r = verani_rpc_user_sessions(w->srv, "E2e", NULL, "u1", d);
            if (r || res.n_sessions != 2 || res.sessions[0].n_channels != 1)
                w->fails++;
            break;
        }
        verani_rpc_result_free(&res);
    }
    return NULL;
}

typedef struct {
    int ran;
    int blocking_rc;
    size_t count;
} cb_state;
static pthread_mutex_t cb_mu = PTHREAD_MUTEX_INITIALIZER;

/* Runs on the loop thread: a blocking call from here must fail, not deadlock. */
static void on_count(verani_server *srv, const verani_rpc_result *res, void *arg)
{
    cb_state *st = arg;
    verani_rpc_result inner;
    verani_rpc_done d = {NULL, NULL, 1000, &inner};
    int r = verani_rpc_session_count(srv, NULL, NULL, d);

    verani_rpc_result_free(&inner);
    pthread_mutex_lock(&cb_mu);
    st->blocking_rc = r;
    st->count = res->count;
    st->ran = 1;
    pthread_mutex_unlock(&cb_mu);
}

static int p_cb(void *a)
{
    cb_state *st = a;
    int r;

    pthread_mutex_lock(&cb_mu);
    r = st->ran;
    pthread_mutex_unlock(&cb_mu);
    return r;
}

static void test_rpc_threads(void **state)
{
    e2e_server h;
    rc_loop *l = rc_loop_create();
    rc_conn *c[CLIENTS];
    pthread_t th[THREADS];
    worker w[THREADS];
    cb_state st = {0, 0, 0};
    verani_rpc_result res;
    verani_rpc_done d = {NULL, NULL, 10000, &res};
    verani_rpc_done cbd = {on_count, &st, 0, NULL};
    evwait ew = {c, CLIENTS, THREADS * PER_THREAD};
    char path[128];
    size_t i;
    int64_t end;

    (void)state;
    start_api(&h, NULL, NULL, 0);
    for (i = 0; i < CLIENTS; i++) {
        snprintf(path, sizeof(path), "/e2e/lobby?userId=u%zu", i / 2);
        c[i] = e2e_join(l, h.port, path);
    }
    for (i = 0; i < THREADS; i++) {
        w[i].srv = h.srv;
        w[i].idx = (int)i;
        w[i].fails = 0;
        w[i].why[0] = '\0';
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    /* the clients keep reading while the threads call */
    assert_true(rc_wait(l, p_events, &ew, 60000));
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (w[i].fails)
            fail_msg("thread %zu: %d failures, last: %s", i, w[i].fails, w[i].why);
    }
    rc_settle(l, 100);
    for (i = 0; i < CLIENTS; i++) {
        assert_int_equal(c[i]->n_events, THREADS * PER_THREAD);
        assert_int_equal(c[i]->seq_errors, 0);
    }

    /* a refused call still clears the caller's result, so freeing it is safe */
    memset(&res, 0x5a, sizeof(res));
    assert_int_equal(verani_rpc_user_sessions(h.srv, "E2e", NULL, NULL, d), VERANI_EINVAL);
    verani_rpc_result_free(&res);

    /* the callback form; a blocking call inside it (on the loop thread) is refused */
    assert_int_equal(verani_rpc_session_count(h.srv, "E2e", "lobby", cbd), 0);
    assert_true(rc_wait(l, p_cb, &st, DL_WAIT_MS));
    assert_int_equal(st.blocking_rc, VERANI_ESTATE);
    assert_int_equal(st.count, CLIENTS);

    /* scope errors */
    assert_int_equal(verani_rpc_session_count(h.srv, "Nope", NULL, d), VERANI_ENOTFOUND);
    assert_non_null(strstr(res.error, "no room named 'Nope'"));
    verani_rpc_result_free(&res);
    assert_int_equal(verani_rpc_user_ids(h.srv, "E2e", "gone", d), VERANI_ENOTFOUND);
    verani_rpc_result_free(&res);

    /* the instances in memory: one, with every client; none of the other room; an unknown
     * room is named */
    assert_int_equal(verani_rpc_instances(h.srv, NULL, d), 0);
    assert_int_equal(res.count, 1);
    assert_int_equal(res.n_instances, 1);
    assert_string_equal(res.instances[0].room, "E2e");
    assert_string_equal(res.instances[0].name, "lobby");
    assert_int_equal(res.instances[0].sessions, CLIENTS);
    assert_int_equal(res.instances[0].pending, 0);
    verani_rpc_result_free(&res);
    assert_int_equal(verani_rpc_instances(h.srv, "Limited", d), 0);
    assert_int_equal(res.n_instances, 0);
    verani_rpc_result_free(&res);
    assert_int_equal(verani_rpc_instances(h.srv, "Nope", d), VERANI_ENOTFOUND);
    verani_rpc_result_free(&res);

    /* broadcast with a filter, kick, cleanup */
    {
        E2e__ChatOut m = E2E__CHAT_OUT__INIT;
        const char *uids[] = {"u2"};

        m.text = "filtered";
        assert_int_equal(verani_rpc_broadcast(h.srv, "E2e", "lobby",
                                              &e2e_e2e_room.schema->emit[0], &m.base, uids, 1,
                                              NULL, 0, d), 0);
        assert_int_equal(res.count, 2);
        verani_rpc_result_free(&res);
    }
    assert_int_equal(verani_rpc_kick(h.srv, "E2e", "lobby", c[0]->client_id, 4200, "out", d), 0);
    assert_int_equal(res.count, 1);
    verani_rpc_result_free(&res);
    assert_true(rc_wait(l, e2e_p_closed, c[0], DL_WAIT_MS));
    assert_int_equal(c[0]->close_code, 4200);
    assert_int_equal(verani_rpc_kick(h.srv, "E2e", "lobby", "nope", 0, NULL, d),
                     VERANI_ENOTFOUND);
    verani_rpc_result_free(&res);
    assert_int_equal(verani_rpc_kick(h.srv, "E2e", "lobby", "x", 2000, NULL, d), VERANI_EINVAL);
    assert_int_equal(verani_rpc_kick(h.srv, "E2e", "lobby", "x", 0, "b\xff", d), VERANI_EINVAL);
    assert_int_equal(verani_rpc_cleanup(h.srv, d), 0);
    assert_int_equal(res.count, 0);
    verani_rpc_result_free(&res);
    /* a connection dropped without a close frame waits for a resume (30 s); cleanup ends it */
    rc_close(c[5]);
    assert_true(rc_wait(l, e2e_p_closed, c[5], DL_WAIT_MS));
    for (end = dl_after(DL_WAIT_MS); !dl_passed(end);) {
        /* until the server has seen the drop: no on_disconnect before cleanup ends it */
        assert_int_equal(e2e_log_count("disconnect:u2"), 0);
        assert_int_equal(verani_rpc_cleanup(h.srv, d), 0);
        if (res.count)
            break;
        rc_settle(l, 10);
    }
    assert_int_equal(res.count, 1);
    verani_rpc_result_free(&res);
    assert_int_equal(e2e_log_count("disconnect:u2"), 1);
    assert_int_equal(verani_rpc_session_count(h.srv, "E2e", "lobby", d), 0);
    assert_int_equal(res.count, CLIENTS - 2); /* kicked, cleaned up */
    verani_rpc_result_free(&res);
    rc_loop_destroy(l);
    e2e_server_stop(&h);

    /* after stop: refused at once */
    {
        verani_server_options o;
        verani_server *s;

        verani_server_options_init(&o);
        s = verani_server_create(&o, NULL, 0);
        assert_non_null(s);
        verani_server_stop(s);
        assert_int_equal(verani_rpc_cleanup(s, d), VERANI_ECLOSED);
        verani_rpc_result_free(&res);
        verani_server_destroy(s);
    }
}

/* --- metrics --------------------------------------------------------------- */

static int metric_name_ok(const char *s, size_t n)
{
    size_t i;

    if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
        return 0;
    for (i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
            return 0;
    return 1;
}

/*
 * Check `text` line by line against the 0.0.4 text format: "# HELP name text",
 * "# TYPE name counter|gauge|histogram|summary|untyped" (at most once, before its
 * samples), samples "name{label="value",...} number". Returns the number of
 * samples; fails the test on the first bad line.
 */
static int prom_check(const char *text)
{
    char typed[64][96];
    size_t ntyped = 0, i;
    int samples = 0;
    const char *line = text;

    while (*line) {
        const char *end = strchr(line, '\n'), *p;
        char l[1024];
        size_t len;

        if (!end)
            fail_msg("the last line has no newline: '%s'", line);
        len = (size_t)(end - line);
        assert_true(len < sizeof(l));
        memcpy(l, line, len);
        l[len] = '\0';
        line = end + 1;
        if (!strncmp(l, "# HELP ", 7) || !strncmp(l, "# TYPE ", 7)) {
            const char *name = l + 7, *sp = strchr(name, ' ');

            if (!sp || !metric_name_ok(name, (size_t)(sp - name)))
                fail_msg("bad HELP/TYPE line: '%s'", l);
            if (l[2] == 'T') {
                if (strcmp(sp + 1, "counter") && strcmp(sp + 1, "gauge") &&
                    strcmp(sp + 1, "histogram") && strcmp(sp + 1, "summary") &&
                    strcmp(sp + 1, "untyped"))
                    fail_msg("bad type: '%s'", l);
                for (i = 0; i < ntyped; i++)
                    if (!strncmp(typed[i], name, (size_t)(sp - name)) &&
                        typed[i][sp - name] == '\0')
                        fail_msg("TYPE twice: '%s'", l);
                assert_true(ntyped < 64);
                snprintf(typed[ntyped++], sizeof(typed[0]), "%.*s", (int)(sp - name), name);
                if (!strcmp(sp + 1, "counter") && (size_t)(sp - name) > 6 &&
                    strncmp(sp - 6, "_total", 6))
                    fail_msg("a counter's name should end in _total: '%s'", l);
            }
            continue;
        }
        if (l[0] == '#' || !l[0])
            continue;
        /* a sample */
        p = l;
        while (*p && *p != '{' && *p != ' ')
            p++;
        if (!metric_name_ok(l, (size_t)(p - l)))
            fail_msg("bad metric name: '%s'", l);
        {
            int known = 0;

            for (i = 0; i < ntyped && !known; i++) {
                size_t tl = strlen(typed[i]);

                known = !strncmp(l, typed[i], tl) &&
                        ((size_t)(p - l) == tl ||
                         (!strncmp(l + tl, "_bucket", 7) && (size_t)(p - l) == tl + 7) ||
                         (!strncmp(l + tl, "_sum", 4) && (size_t)(p - l) == tl + 4) ||
                         (!strncmp(l + tl, "_count", 6) && (size_t)(p - l) == tl + 6));
            }
            if (!known)
                fail_msg("sample before (or without) its TYPE: '%s'", l);
        }
        if (*p == '{') {
            p++;
            while (*p != '}') {
                const char *k = p;

                while (isalnum((unsigned char)*p) || *p == '_')
                    p++;
                if (p == k || *p != '=' || p[1] != '"')
                    fail_msg("bad label: '%s'", l);
                p += 2;
                while (*p && *p != '"') {
                    if (*p == '\\') {
                        if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                            fail_msg("bad escape: '%s'", l);
                        p++;
                    }
                    p++;
                }
                if (*p != '"')
                    fail_msg("unterminated label value: '%s'", l);
                p++;
                if (*p == ',')
                    p++;
                else if (*p != '}')
                    fail_msg("bad label list: '%s'", l);
            }
            p++;
        }
        if (*p != ' ')
            fail_msg("no value: '%s'", l);
        p++;
        {
            char *e;

            if (strcmp(p, "+Inf") && strcmp(p, "-Inf") && strcmp(p, "NaN")) {
                strtod(p, &e);
                if (e == p || (*e && *e != ' '))
                    fail_msg("bad value: '%s'", l);
            }
        }
        samples++;
    }
    return samples;
}

static double metric(const char *text, const char *sample)
{
    char key[256];
    const char *p;

    snprintf(key, sizeof(key), "\n%s ", sample);
    p = strstr(text, key);
    if (!p)
        fail_msg("no sample '%s' in:\n%s", sample, text);
    return strtod(p + strlen(key), NULL);
}

typedef struct {
    int done;
    size_t need;
    char text[32768];
} metrics_arg;

static void on_metrics(verani_server *srv, const verani_rpc_result *res, void *arg)
{
    metrics_arg *ma = arg;

    (void)res;
    pthread_mutex_lock(&cb_mu);
    ma->need = verani_server_metrics_text(srv, ma->text, sizeof(ma->text));
    ma->done = 1;
    pthread_mutex_unlock(&cb_mu);
}

static int p_metrics(void *a)
{
    metrics_arg *ma = a;
    int r;

    pthread_mutex_lock(&cb_mu);
    r = ma->done;
    pthread_mutex_unlock(&cb_mu);
    return r;
}

static void test_metrics(void **state)
{
    e2e_server h;
    rc_loop *l = rc_loop_create();
    rc_conn *a, *b;
    char m1[32768], m2[32768];
    uint8_t buf[256];
    size_t n;
    evwait w;
    rc_conn *both[2];

    (void)state;
    start_api(&h, TOKEN, MTOKEN, 0);
    assert_int_equal(http(h.port, "GET", "/metrics", MTOKEN, NULL, 0, m1, sizeof(m1)), 200);
    assert_true(prom_check(m1) > 20);
    assert_int_equal(metric(m1, "verani_connections{room=\"E2e\"}"), 0);

    a = e2e_join(l, h.port, "/e2e/lobby?userId=u1");
    b = e2e_join(l, h.port, "/e2e/lobby?userId=u2");
    e2e_join(l, h.port, "/e2e/second?userId=u3");
    /* frames in: an echo request; an unknown event makes an error frame */
    {
        E2e__Echo e = E2E__ECHO__INIT;

        e.text = "hi";
        assert_int_equal(rc_send_event(a, VERANI__WIRE__KIND__REQUEST, E2E_EV_ECHO, &e.base, 7),
                         0);
        assert_int_equal(rc_send_event(a, VERANI__WIRE__KIND__EVENT, 999, NULL, 0), 0);
    }
    n = chat_bytes("m", buf);
    expect(h.port, "POST", "/_verani/rooms/E2e/lobby/emit/chat.out?channel=default", TOKEN, buf,
           n, 200, "{\"delivered\":2}");
    both[0] = a;
    both[1] = b;
    w.c = both;
    w.n = 2;
    w.want = 1;
    assert_true(rc_wait(l, p_events, &w, DL_WAIT_MS));
    rc_settle(l, 200);
    assert_int_equal(http(h.port, "GET", "/metrics", MTOKEN, NULL, 0, m2, sizeof(m2)), 200);
    prom_check(m2);
    assert_int_equal(metric(m2, "verani_connections{room=\"E2e\"}"), 3);
    assert_int_equal(metric(m2, "verani_room_instances{room=\"E2e\"}"), 2);
    assert_int_equal(metric(m2, "verani_connections{room=\"Limited\"}"), 0);
    assert_true(metric(m2, "verani_frames_received_total") >=
                metric(m1, "verani_frames_received_total") + 3 + 2); /* hellos, echo, bad */
    assert_true(metric(m2, "verani_received_bytes_total") >
                metric(m1, "verani_received_bytes_total"));
    /* welcomes, the reply, the error, 2 events */
    assert_true(metric(m2, "verani_frames_sent_total") >= 3 + 1 + 1 + 2);
    assert_true(metric(m2, "verani_sent_bytes_total") > metric(m1, "verani_sent_bytes_total"));
    assert_int_equal(metric(m2, "verani_errors_total{code=\"UNKNOWN_EVENT\"}"), 1);
    assert_true(metric(m2, "verani_handler_duration_seconds_count") >= 1);
    assert_int_equal(metric(m2, "verani_handler_duration_seconds_bucket{le=\"+Inf\"}"),
                     metric(m2, "verani_handler_duration_seconds_count"));
    assert_true(metric(m2, "verani_api_requests_total") >= 2);
    /* the C form, on the loop thread (an rpc callback runs there), is the same text */
    {
        metrics_arg ma;
        verani_rpc_done cbd = {on_metrics, &ma, 0, NULL};

        memset(&ma, 0, sizeof(ma));
        assert_int_equal(verani_rpc_session_count(h.srv, NULL, NULL, cbd), 0);
        assert_true(rc_wait(l, p_metrics, &ma, DL_WAIT_MS));
        pthread_mutex_lock(&cb_mu);
        assert_true(ma.need > 100 && ma.need < sizeof(ma.text));
        prom_check(ma.text);
        assert_int_equal(metric(ma.text, "verani_connections{room=\"E2e\"}"), 3);
        pthread_mutex_unlock(&cb_mu);
    }
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* --- one cross-thread path: emit_async and the outside calls ---------------- */

static int p_one_event(void *arg)
{
    return ((rc_conn *)arg)->n_events >= 1;
}

/*
 * verani_server_emit_async is verani_rpc_emit without a result (server.h): both go through
 * one queue, in order, and an instance that does not exist reaches nobody and is not created:
 * verani_rpc_emit answers VERANI_ENOTFOUND, emit_async (which returned 0 when it queued) only
 * logs it. A client that then opens that instance gets nothing of it; an instance that exists
 * is reached the same way.
 */
static void test_emit_async_unknown_instance(void **state)
{
    const verani_event_def *ev = &e2e_e2e_room.schema->emit[0];
    e2e_server h;
    rc_loop *l;
    rc_conn *a, *b;
    verani_rpc_result res;
    verani_rpc_done d = {NULL, NULL, 10000, &res};
    verani_target to = verani_to_all();
    E2e__ChatOut m = E2E__CHAT_OUT__INIT;

    (void)state;
    start_api(&h, TOKEN, MTOKEN, 0);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/lobby?userId=u1");
    m.text = "lost";
    m.from = "server";
    assert_int_equal(verani_server_emit_async(h.srv, &e2e_e2e_room, "gone", &to, ev, &m.base), 0);
    /* queued behind it on the same queue: when this answers, the first has run */
    assert_int_equal(verani_rpc_emit(h.srv, "E2e", "gone", &to, ev, &m.base, d),
                     VERANI_ENOTFOUND);
    assert_non_null(strstr(res.error, "no instance 'gone'"));
    verani_rpc_result_free(&res);
    assert_int_equal(verani_rpc_session_count(h.srv, "E2e", "gone", d), VERANI_ENOTFOUND);
    verani_rpc_result_free(&res);
    /* the lost emit is counted (the one of verani_rpc_emit was answered instead) */
    expect(h.port, "GET", "/metrics", MTOKEN, NULL, 0, 200,
           "verani_emit_async_unreached_total 1\n");
    /* an instance opened afterwards holds nothing of it */
    b = e2e_join(l, h.port, "/e2e/gone?userId=u2");
    m.text = "found";
    assert_int_equal(verani_server_emit_async(h.srv, &e2e_e2e_room, "lobby", &to, ev, &m.base),
                     0);
    assert_true(rc_wait(l, p_one_event, a, DL_WAIT_MS));
    rc_settle(l, 100);
    assert_int_equal(a->n_events, 1);
    assert_int_equal(b->n_events, 0);
    expect(h.port, "GET", "/metrics", MTOKEN, NULL, 0, 200,
           "verani_emit_async_unreached_total 1\n");
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* The cases, each a CTest test rpc_<case>; `tsan`: run under ThreadSanitizer in CI (4 threads
 * at once). */
static const vt_case cases[] = {
    VT_CASE(test_http_api, ""),
    VT_CASE(test_http_api_off, ""),
    VT_CASE(test_api_token_length, ""),
    VT_CASE(test_instance_named_dash, ""),
    VT_CASE(test_post_without_length, ""),
    VT_CASE(test_api_path_clash, ""),
    VT_CASE(test_static_files, ""),
    VT_CASE(test_rpc_threads, "tsan"),
    VT_CASE(test_metrics, ""),
    VT_CASE(test_emit_async_unknown_instance, ""),
};

int main(int argc, char **argv)
{
    return vt_main("rpc", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
