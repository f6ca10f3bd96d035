/* SPDX-License-Identifier: MIT */
/*
 * test_hardening.c: the regression tests of issue 12 (defects found by
 * attacking the server from outside), items 3 to 10, each over real sockets
 * on 127.0.0.1 (and real SQLite files where storage is involved), each
 * failing on the code before its fix:
 *   utf8_strings        a string that is not UTF-8, or longer than max_len in
 *                       code points, is refused with INVALID_PAYLOAD naming it
 *   user_ids            no value read from the upgrade is cut to fit: a user
 *                       id, query parameter, header or cookie that does not
 *                       fit is a 400 naming it (two long ids never merge); user
 *                       ids are valid UTF-8 without control characters
 *   api_json            every answer of the HTTP API parses as JSON, whatever
 *                       bytes the ids, channels and instances hold
 *   api_filters         a broadcast filter that cannot be read is a 400 or 414,
 *                       never "no filter"; long lists work (61 client ids)
 *   api_kick_code       a kick whose code= or reason= cannot be read or is not
 *                       allowed is a 400 and closes nothing
 *   api_route_ids       an id in an API path is never cut to fit (a long user
 *                       id does not answer for another that shares its start)
 *   reply_too_large     a reply (or an emit) larger than the session's outbound
 *                       queue can ever hold is answered with ERROR TOO_LARGE
 *                       (an emit returns VERANI_ETOOBIG), not a 4000 close
 *   storage_lock        while another process holds the database's write lock,
 *                       a storage call fails fast with VERANI_ETIMEDOUT, other
 *                       rooms go on, and the session store writes what it could
 *                       not once the lock is gone (it dropped them)
 * Every wait ends at a deadline on the monotonic clock (deadline.h); no test
 * asserts how long something took. Run one case with `test_hardening <name>`.
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include <verani/verani.h>

#include "cases.h"
#include "cleanup.h"
#include "deadline.h"
#include "locker.h"
#include "e2e_util.h"
#include "hard_room.h"
#include "hard_util.h"
#include "rawclient.h"

static int mount_hard(verani_server *srv, void *arg)
{
    (void)arg;
    return hard_room_mount(srv);
}

static void start_hard(e2e_server *h, verani_server_options *o)
{
    e2e_server_start(h, o, mount_hard, NULL);
}

/* The answer `r` is an ERROR `code` whose field is `field` and message contains `needle`. */
static void is_error(const rc_env *r, int code, const char *field, const char *needle)
{
    assert_int_equal(r->kind, VERANI__WIRE__KIND__ERROR);
    assert_non_null(r->error);
    if ((int)r->error->code != code || (field && strcmp(r->error->field ? r->error->field : "",
                                                        field)) ||
        (needle && !strstr(r->error->message ? r->error->message : "", needle)))
        fail_msg("error %d field '%s' message '%s'; want %d '%s' with '%s'", r->error->code,
                 r->error->field ? r->error->field : "", r->error->message ? r->error->message : "",
                 code, field ? field : "", needle ? needle : "");
}


/* The upgrade of `path` is refused with 400 and a body holding `needle`. */
static void refused_400(int port, const char *path, const char *extra, const char *needle)
{
    char body[4096];
    int st = hu_upgrade(port, path, extra, body, sizeof(body));

    if (st != 400 || !strstr(body, needle))
        fail_msg("upgrade %.80s%s: got %d '%s', want 400 with '%s'", path,
                 strlen(path) > 80 ? "..." : "", st, body, needle);
}

/* --- item 5: strings are UTF-8 and max_len counts code points ------------- */

/* Say `text` (with `tags` and one attrs entry key/value when given) and return the answer. */
static const rc_env *say(rc_loop *l, rc_conn *c, const char *text, char **tags, size_t n_tags,
                         const char *key, const char *value, uint64_t rid)
{
    Hard__Text t = HARD__TEXT__INIT;
    Hard__Text__AttrsEntry e = HARD__TEXT__ATTRS_ENTRY__INIT, *ep = &e;

    t.text = (char *)text;
    t.tags = tags;
    t.n_tags = n_tags;
    if (key) {
        e.key = (char *)key;
        e.value = (char *)value;
        t.attrs = &ep;
        t.n_attrs = 1;
    }
    return hu_request(l, c, HARD_HARD_ON_SAY, &t.base, rid);
}

/* A REPLY to `say` whose Ack holds `bytes`. */
static void said(const rc_env *r, int bytes)
{
    Hard__Ack *a;

    assert_int_equal(r->kind, VERANI__WIRE__KIND__REPLY);
    a = hard__ack__unpack(NULL, r->payload.len, r->payload.data);
    assert_non_null(a);
    assert_int_equal(a->code, bytes);
    hard__ack__free_unpacked(a, NULL);
}

static void test_utf8_strings(void **state)
{
    const int invalid = VERANI__WIRE__ERROR_CODE__INVALID_PAYLOAD;
    verani_server_options o;
    e2e_server h;
    rc_loop *l = rc_loop_create();
    rc_conn *c;
    char big[60001], e16[64], e17[64], emoji[80];
    char *tags[2] = {"fine", "\xff"};
    uint64_t rid = 1;
    int i;

    (void)state;
    e2e_server_options(&o);
    start_hard(&h, &o);
    c = e2e_join(l, h.port, "/hard/lobby?userId=u1");

    /* 60,000 continuation bytes: no lead byte, so the old count was 0 */
    memset(big, 0x80, sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    is_error(say(l, c, big, NULL, 0, NULL, NULL, rid++), invalid, "text", "not valid UTF-8");
    said(say(l, c, "ok", NULL, 0, NULL, NULL, rid++), 2);
    /* 16 code points of two bytes pass max_len = 16; 17 do not */
    for (i = 0; i < 17; i++)
        memcpy(e17 + 2 * i, "\xc3\xa9", 2);
    e17[34] = '\0';
    memcpy(e16, e17, 32);
    e16[32] = '\0';
    said(say(l, c, e16, NULL, 0, NULL, NULL, rid++), 32);
    is_error(say(l, c, e17, NULL, 0, NULL, NULL, rid++), invalid, "text", "longer than 16");
    /* four-byte code points: 16 of them (64 bytes) are 16 */
    for (i = 0; i < 16; i++)
        memcpy(emoji + 4 * i, "\xf0\x9f\x98\x80", 4);
    emoji[64] = '\0';
    said(say(l, c, emoji, NULL, 0, NULL, NULL, rid++), 64);
    /* an overlong '/', a UTF-16 surrogate, a code point past U+10FFFF, a cut sequence */
    is_error(say(l, c, "a\xc0\xaf", NULL, 0, NULL, NULL, rid++), invalid, "text", "at byte 1");
    said(say(l, c, "", NULL, 0, NULL, NULL, rid++), 0);
    is_error(say(l, c, "\xed\xa0\x80", NULL, 0, NULL, NULL, rid++), invalid, "text", "UTF-8");
    is_error(say(l, c, "\xf4\x90\x80\x80", NULL, 0, NULL, NULL, rid++), invalid, "text",
             "UTF-8");
    said(say(l, c, "x", NULL, 0, NULL, NULL, rid++), 1);
    is_error(say(l, c, "ab\xe2\x82", NULL, 0, NULL, NULL, rid++), invalid, "text", "at byte 2");
    /* strings without a bound: repeated elements, map keys and values */
    is_error(say(l, c, "t", tags, 2, NULL, NULL, rid++), invalid, "tags[1]", "UTF-8");
    said(say(l, c, "t", tags, 1, "k", "v", rid++), 1);
    is_error(say(l, c, "t", NULL, 0, "\xfe", "v", rid++), invalid, "attrs[0].key", "UTF-8");
    is_error(say(l, c, "t", NULL, 0, "k", "v\xc3", rid++), invalid, "attrs[0].value", "UTF-8");
    said(say(l, c, "t", NULL, 0, "cl\xc3\xa9", "v\xc3\xa9", rid++), 1);
    assert_false(c->closed);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}


/* --- item 7: nothing read from the upgrade is cut to fit --------------------- */

/* The nick and sid of `c`'s meta, through `who`. */
static void who_is(rc_loop *l, rc_conn *c, uint64_t rid, const char *nick, const char *sid)
{
    const rc_env *r = hu_request(l, c, HARD_HARD_ON_WHO, NULL, rid);
    Hard__Text *t;

    assert_int_equal(r->kind, VERANI__WIRE__KIND__REPLY);
    t = hard__text__unpack(NULL, r->payload.len, r->payload.data);
    assert_non_null(t);
    assert_string_equal(t->text, nick);
    assert_int_equal(t->n_tags, 1);
    assert_string_equal(t->tags[0], sid);
    hard__text__free_unpacked(t, NULL);
}

static void test_user_ids(void **state)
{
    verani_server_options o;
    e2e_server h;
    rc_loop *l = rc_loop_create();
    rc_conn *x, *y, *c;
    char id[400], path[1600], hdr[600], junk[1200];

    (void)state;
    e2e_server_options(&o);
    start_hard(&h, &o);

    /* 255 x 'A' + 'X' and + 'Y' are two users, exactly as given */
    x = hu_join_long_user(l, h.port, "/hard/lobby", 255, 'X');
    y = hu_join_long_user(l, h.port, "/hard/lobby", 255, 'Y');
    /* 256 x 'A' + one more byte no longer fits: 400 naming the parameter (it was cut to the
     * same 256 bytes for both, one user) */
    memset(id, 'A', 256);
    strcpy(id + 256, "X");
    snprintf(path, sizeof(path), "/hard/lobby?userId=%s", id);
    refused_400(h.port, path, "", "userId");
    snprintf(hdr, sizeof(hdr), "X-User-Id: %s\r\n", id);
    refused_400(h.port, "/hard/lobby", hdr, "x-user-id");
    id[256] = '\0';
    snprintf(path, sizeof(path), "/hard/lobby?userId=%s", id);
    c = e2e_join(l, h.port, path); /* 256 bytes: the documented maximum */
    assert_int_equal(strlen(hu_welcome_user(c)), 256);

    /* the charset: valid UTF-8 without control characters */
    refused_400(h.port, "/hard/lobby?userId=%ff%fe", "", "UTF-8");
    refused_400(h.port, "/hard/lobby?userId=a%01b", "", "control character");
    refused_400(h.port, "/hard/lobby?userId=a%c2%85b", "", "control character"); /* U+0085 */
    c = e2e_join(l, h.port, "/hard/lobby?userId=%c3%a9t%c3%a9");
    assert_string_equal(hu_welcome_user(c), "\xc3\xa9t\xc3\xa9");

    /* the application's own reads: a value longer than its buffer refuses the upgrade */
    refused_400(h.port, "/hard/lobby?userId=n&nick=12345678901234567", "", "nick");
    c = e2e_join(l, h.port, "/hard/lobby?userId=n&nick=1234567890123456");
    who_is(l, c, 1, "1234567890123456", "");
    refused_400(h.port, "/hard/lobby?userId=n", "Cookie: sid=0123456789012345678901234567890123\r\n",
                "sid");
    /* a cookie is found by its whole name, not by the end of another's */
    c = rc_connect_ex(l, h.port, "/hard/lobby?userId=n", 1, "cookie:", "xsid=evil; sid=good",
                      NULL);
    assert_true(rc_wait(l, e2e_p_welcomed, c, DL_WAIT_MS));
    assert_true(c->welcomed);
    who_is(l, c, 2, "", "good");
    /* a long parameter before userId does not hide it; the same one twice is refused */
    memset(junk, 'j', 1100);
    junk[1100] = '\0';
    snprintf(path, sizeof(path), "/hard/lobby?junk=%s&userId=after-junk", junk);
    c = e2e_join(l, h.port, path);
    assert_string_equal(hu_welcome_user(c), "after-junk");
    refused_400(h.port, "/hard/lobby?userId=a&userId=b", "", "userId");
    assert_false(x->closed);
    assert_false(y->closed);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* --- item 8: the HTTP API answers JSON, always ------------------------------- */

#define TOKEN "hard-token"

static int mount_hard_api(verani_server *srv, void *arg)
{
    verani_api_options a;
    int r = mount_hard(srv, arg);

    if (r)
        return r;
    memset(&a, 0, sizeof(a));
    a.token = TOKEN;
    return verani_server_set_api(srv, &a);
}

/* `method` `path` on the API with the token: the status; the body goes to `out`. A POST
 * carries a Blob {data: "x"} (what emit and broadcast of `blob` want; kick ignores it). */
static int api(int port, const char *method, const char *path, char *out, size_t cap)
{
    int post = !strcmp(method, "POST");

    return hu_api(port, TOKEN, method, path, "\x0a\x01x", post ? 3 : 0, out, cap);
}

/* Every one of `texts` parses as JSON with python3's json module (strictly: UTF-8, no stray
 * bytes), checked in one python3 run (a python3 start costs about a second here); fails the
 * test naming the first that does not, with its label. */
static void all_json(char texts[][16384], const char *const *labels, size_t n)
{
    char dir[] = "/tmp/verani-json-XXXXXX", cmd[4096], path[64], bad[64] = "";
    size_t i, used;
    FILE *out;

    assert_non_null(mkdtemp(dir));
    used = (size_t)snprintf(cmd, sizeof(cmd), "python3 -c 'import json,sys\n"
                            "for p in sys.argv[1:]:\n"
                            "    try: json.loads(open(p, \"rb\").read().decode(\"utf-8\"))\n"
                            "    except Exception: print(p.rsplit(\"/\", 1)[1]); break' ");
    for (i = 0; i < n; i++) {
        FILE *f;

        snprintf(path, sizeof(path), "%s/%zu", dir, i);
        f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(texts[i], 1, strlen(texts[i]), f), strlen(texts[i]));
        fclose(f);
        used += (size_t)snprintf(cmd + used, sizeof(cmd) - used, " %s", path);
        assert_true(used < sizeof(cmd));
    }
    out = popen(cmd, "r");
    assert_non_null(out);
    if (!fgets(bad, sizeof(bad), out))
        bad[0] = '\0';
    assert_int_equal(pclose(out), 0);
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%zu", dir, i);
        unlink(path);
    }
    rmdir(dir);
    if (bad[0]) {
        i = strtoul(bad, NULL, 10);
        fail_msg("%s: not JSON: '%s'", i < n ? labels[i] : "?", i < n ? texts[i] : "");
    }
}

/* The JOIN with request id 7 is answered. */
static int p_join_answered(void *c)
{
    return rc_answer(c, 7) != NULL || ((rc_conn *)c)->closed;
}

static void test_api_json(void **state)
{
    static const char *const routes[][2] = {
        {"GET", "/_verani/count"},
        {"GET", "/_verani/rooms/Hard/lobby/count"},
        {"GET", "/_verani/rooms/Hard/lobby/users"},
        {"GET", "/_verani/rooms/Hard/lobby/users/%c3%a9/sessions"},
        {"GET", "/_verani/rooms/Hard/lobby/users/u%22q%5c/sessions"},
        {"GET", "/_verani/rooms/Hard/lobby/users/%ff%fe/sessions"},
        {"GET", "/_verani/rooms/Hard/%ff/users"},
        {"GET", "/_verani/rooms/Hard/%ff/users/raw/sessions"},
        {"GET", "/_verani/rooms/Hard/%ff%c3/count"},
        {"GET", "/_verani/rooms/H%ffard/lobby/count"},
        {"GET", "/_verani/rooms/Hard/nowhere%ff/count"},
        {"POST", "/_verani/rooms/Hard/lobby/emit/blob?channel=%ffch"},
        {"POST", "/_verani/rooms/Hard/lobby/emit/bl%ffob?channel=default"},
        {"POST", "/_verani/rooms/Hard/lobby/broadcast/blob?user_ids=%ff,%c3%a9"},
        {"POST", "/_verani/rooms/Hard/lobby/kick?client=%ff"},
        {"GET", "/_verani/fro%ffb"},
    };
    enum { N_ROUTES = sizeof(routes) / sizeof(routes[0]) };
    static char answers[N_ROUTES][16384];
    const char *labels[N_ROUTES];
    verani_server_options o;
    e2e_server h;
    rc_loop *l = rc_loop_create();
    rc_conn *c, *bad;
    char out[16384];
    size_t i;
    int st;

    (void)state;
    e2e_server_options(&o);
    e2e_server_start(&h, &o, mount_hard_api, NULL);
    e2e_join(l, h.port, "/hard/lobby?userId=%c3%a9");
    e2e_join(l, h.port, "/hard/lobby?userId=u%22q%5c");
    c = e2e_join(l, h.port, "/hard/%ff?userId=raw");
    /* a channel name that is not UTF-8 (the protocol takes any 1 to 128 bytes) */
    assert_int_equal(rc_send_join(c, VERANI__WIRE__KIND__JOIN, "\xff\xfe" "ch", 7), 0);
    assert_true(rc_wait(l, p_join_answered, c, DL_WAIT_MS));
    /* a user id that is not UTF-8 (it used to become one, and /users was no JSON then) */
    bad = rc_connect(l, h.port, "/hard/lobby?userId=%ff%fe", 1);
    assert_true(rc_wait(l, e2e_p_welcomed, bad, DL_WAIT_MS));
    for (i = 0; i < N_ROUTES; i++) {
        st = api(h.port, routes[i][0], routes[i][1], answers[i], sizeof(answers[i]));
        labels[i] = routes[i][1];
        if (st < 200)
            fail_msg("%s %s: %d", routes[i][0], routes[i][1], st);
    }
    all_json(answers, labels, N_ROUTES);
    /* the names come back as they are where they are UTF-8 */
    assert_int_equal(api(h.port, "GET", "/_verani/rooms/Hard/lobby/users", out, sizeof(out)),
                     200);
    assert_non_null(strstr(out, "\"\xc3\xa9\""));
    assert_non_null(strstr(out, "\"u\\\"q\\\\\""));
    assert_false(bad->welcomed); /* refused with 400 (test_user_ids checks the answer) */
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* --- item 3: a filter that cannot be read is never "no filter" ---------------- */

typedef struct { rc_conn *c; size_t n; } events_arg;
static int p_events(void *a)
{
    events_arg *x = a;

    return x->c->n_events >= x->n || x->c->closed;
}

/* POST `path` and expect `status` with `needle` in the body. */
static void api_expect(int port, const char *method, const char *path, int status,
                       const char *needle)
{
    char out[8192];
    int st = api(port, method, path, out, sizeof(out));

    if (st != status || (needle && !strstr(out, needle)))
        fail_msg("%s %.100s%s: got %d '%s', want %d with '%s'", method, path,
                 strlen(path) > 100 ? "..." : "", st, out, status, needle ? needle : "");
}

static void test_api_filters(void **state)
{
    verani_server_options o;
    e2e_server h;
    rc_loop *l = rc_loop_create();
    rc_conn *a, *b;
    char path[8192], ids[6000];
    size_t n = 0;
    int i;

    (void)state;
    e2e_server_options(&o);
    e2e_server_start(&h, &o, mount_hard_api, NULL);
    a = e2e_join(l, h.port, "/hard/lobby?userId=a");
    b = e2e_join(l, h.port, "/hard/lobby?userId=b");

    /* 60 client ids nobody has, then b's: 2,257 bytes of list; b alone is reached */
    for (i = 0; i < 60; i++)
        n += (size_t)snprintf(ids + n, sizeof(ids) - n, "%08x-0000-4000-8000-%012d,", i, i);
    snprintf(ids + n, sizeof(ids) - n, "%s", b->client_id);
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/broadcast/blob?client_ids=%s", ids);
    api_expect(h.port, "POST", path, 200, "{\"delivered\":1}");
    /* 61 user ids, b's last */
    for (i = 0, n = 0; i < 60; i++)
        n += (size_t)snprintf(ids + n, sizeof(ids) - n, "user-that-is-not-here-%02d,", i);
    snprintf(ids + n, sizeof(ids) - n, "b");
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/broadcast/blob?user_ids=%s", ids);
    api_expect(h.port, "POST", path, 200, "{\"delivered\":1}");
    {
        events_arg w = {b, 2};

        assert_true(rc_wait(l, p_events, &w, DL_WAIT_MS));
    }

    /* filters that cannot be read: each a 400, none delivers anything */
    api_expect(h.port, "POST", "/_verani/rooms/Hard/lobby/broadcast/blob?client_ids=", 400,
               "client_ids");
    api_expect(h.port, "POST", "/_verani/rooms/Hard/lobby/broadcast/blob?user_ids", 400,
               "user_ids");
    api_expect(h.port, "POST", "/_verani/rooms/Hard/lobby/broadcast/blob?user_ids=,,", 400,
               "user_ids");
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/broadcast/blob?client_ids=nobody&"
             "client_ids=%s", a->client_id);
    api_expect(h.port, "POST", path, 400, "more than once");
    for (i = 0, n = 0; i < 1025; i++)
        n += (size_t)snprintf(ids + n, sizeof(ids) - n, "%sq", i ? "," : "");
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/broadcast/blob?user_ids=%s", ids);
    api_expect(h.port, "POST", path, 400, "more than 1024");
    /* a list past the 4 KiB libwebsockets keeps for a request's head: the request is
     * dropped unanswered, and nothing is sent (no filter would reach a and b) */
    for (i = 0, n = 0; i < 110; i++)
        n += (size_t)snprintf(ids + n, sizeof(ids) - n, "%s%08x-0000-4000-8000-%012d",
                              i ? "," : "", i, i);
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/broadcast/blob?client_ids=%s", ids);
    {
        char out[1024];
        int st = api(h.port, "POST", path, out, sizeof(out));

        if (st == 200 && !strstr(out, "{\"delivered\":0}"))
            fail_msg("110 client ids nobody has: %d %s", st, out);
    }
    /* an emit target too long to be an id or channel: 414, not "no target" */
    memset(ids, 'c', 1500);
    ids[1500] = '\0';
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/emit/blob?channel=%s", ids);
    api_expect(h.port, "POST", path, 414, "channel");
    rc_settle(l, 200);
    assert_int_equal(a->n_events, 0);
    assert_int_equal(b->n_events, 2);
    assert_false(a->closed);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* --- item 10: a kick code that cannot be read kicks nobody ------------------- */

static void test_api_kick_code(void **state)
{
    static const char *const bad_codes[] = {
        "40000000000000000001", /* did not fit the reader's buffer: read as "no code", 1008 */
        "", "4000x", " 4100", "+4100", "0x1000", "-4100", "999", "1002", "2999", "5000",
        "99999",
    };
    verani_server_options o;
    e2e_server h;
    rc_loop *l = rc_loop_create();
    rc_conn *b;
    char path[1024], reason[200];
    size_t i;

    (void)state;
    e2e_server_options(&o);
    e2e_server_start(&h, &o, mount_hard_api, NULL);
    b = e2e_join(l, h.port, "/hard/lobby?userId=b");
    for (i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
        snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/kick?client=%s&code=%s",
                 b->client_id, bad_codes[i]);
        api_expect(h.port, "POST", path, 400, "code");
    }
    /* a reason longer than a close frame holds (123 bytes) is refused, not replaced */
    memset(reason, 'r', 124);
    reason[124] = '\0';
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/kick?client=%s&code=4100&"
             "reason=%s", b->client_id, reason);
    api_expect(h.port, "POST", path, 400, "reason");
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/kick?client=%s&code=4100&"
             "code=1008", b->client_id);
    api_expect(h.port, "POST", path, 400, "more than once");
    rc_settle(l, 200);
    assert_false(b->closed);
    /* and a good one still kicks, with its code and the whole reason */
    reason[123] = '\0';
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/kick?client=%s&code=4999&"
             "reason=%s", b->client_id, reason);
    api_expect(h.port, "POST", path, 200, "{\"kicked\":1}");
    assert_true(rc_wait(l, e2e_p_closed, b, DL_WAIT_MS));
    assert_int_equal(b->close_code, 4999);
    assert_int_equal(strlen(b->close_reason), 123);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* --- item 7 in the API: ids in a path are never cut ------------------------------ */

static void test_api_route_ids(void **state)
{
    verani_server_options o;
    e2e_server h;
    rc_loop *l = rc_loop_create();
    char id[300], path[1200], out[8192];

    (void)state;
    e2e_server_options(&o);
    e2e_server_start(&h, &o, mount_hard_api, NULL);
    memset(id, 'B', 255);
    id[255] = '\0';
    snprintf(path, sizeof(path), "/hard/lobby?userId=%s", id);
    e2e_join(l, h.port, path);
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/users/%s/sessions", id);
    api_expect(h.port, "GET", path, 200, "\"count\":1");
    /* the same 255 bytes and one more: another user, who has no session (it was cut to the
     * first one's id) */
    strcat(id, "C");
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/users/%s/sessions", id);
    assert_int_equal(api(h.port, "GET", path, out, sizeof(out)), 200);
    assert_non_null(strstr(out, "{\"sessions\":[],\"count\":0}"));
    /* longer than any user id: 414 naming the limit */
    memset(id, 'B', 290);
    id[290] = '\0';
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/users/%s/sessions", id);
    api_expect(h.port, "GET", path, 414, "longer");
    /* an instance name and a room name too long for any */
    memset(id, 'i', 290);
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/%s/count", id);
    api_expect(h.port, "GET", path, 414, "longer");
    /* an action no route has, however long: 404 naming it, not a 414 about the other parts */
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/%.40s", id);
    api_expect(h.port, "GET", path, 404, "no API action 'iiiiii");
    snprintf(path, sizeof(path), "/_verani/rooms/Hard/lobby/%.31s", id);
    api_expect(h.port, "GET", path, 404, "no API action 'iiiiii");
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* --- item 6: a reply the session can never queue is an ERROR, not a close ------- */

static void test_reply_too_large(void **state)
{
    verani_server_options o;
    e2e_server h;
    rc_loop *l = rc_loop_create();
    rc_conn *c;
    Hard__Size sz = HARD__SIZE__INIT;
    const rc_env *r;
    Hard__Ack *ack;
    uint64_t rid = 1;
    int round;

    (void)state;
    e2e_server_options(&o);
    o.queue_max_bytes = 64 * 1024;
    start_hard(&h, &o);
    c = e2e_join(l, h.port, "/hard/lobby?userId=u1");
    for (round = 0; round < 3; round++) { /* asking again changes nothing */
        sz.bytes = 100 * 1000;
        r = hu_request(l, c, HARD_HARD_ON_BIG, &sz.base, rid++);
        is_error(r, VERANI__WIRE__ERROR_CODE__TOO_LARGE, NULL, "bytes");
        assert_int_equal(r->request_id, rid - 1);
        assert_false(c->closed);
        /* a reply that fits still comes, with the next seq (the refused one took none) */
        sz.bytes = 1000;
        r = hu_request(l, c, HARD_HARD_ON_BIG, &sz.base, rid++);
        assert_int_equal(r->kind, VERANI__WIRE__KIND__REPLY);
        /* an emit too large for any session's queue is refused: the handler learns it */
        sz.bytes = 100 * 1000;
        r = hu_request(l, c, HARD_HARD_ON_BIGEMIT, &sz.base, rid++);
        assert_int_equal(r->kind, VERANI__WIRE__KIND__REPLY);
        ack = hard__ack__unpack(NULL, r->payload.len, r->payload.data);
        assert_non_null(ack);
        assert_int_equal(ack->code, VERANI_ETOOBIG);
        hard__ack__free_unpacked(ack, NULL);
    }
    assert_false(c->closed);
    assert_int_equal(c->seq_errors, 0);
    assert_int_equal(c->n_events, 0);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* --- item 4: another process's lock never stops the loop, nor loses a session ---- */

/* Is the session `client_id` stored in the database `file` (read by a connection of ours)? */
static int stored(const char *file, const char *client_id)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int n = 0;

    if (sqlite3_open_v2(file, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM vr_session WHERE client_id = ?1", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n > 0;
}

/* Service `l` until `client_id` is stored in `file` or the deadline; returns whether it is. */
static int wait_stored(rc_loop *l, const char *file, const char *client_id)
{
    int64_t end = dl_after(DL_WAIT_MS);

    while (!stored(file, client_id) && !dl_passed(end))
        rc_service(l, 20);
    return stored(file, client_id);
}

typedef struct { rc_conn *c; size_t n; } pong_arg;
static int p_pongs(void *a)
{
    pong_arg *x = a;

    return rc_count(x->c, VERANI__WIRE__KIND__PONG) >= x->n || x->c->closed;
}

/* A put of "k" from `c`: the storage call's result. */
static int put(rc_loop *l, rc_conn *c, uint64_t rid)
{
    Hard__Put p = HARD__PUT__INIT;
    const rc_env *r;
    Hard__Ack *a;
    int code;

    p.key = "k";
    p.value.data = (uint8_t *)"v";
    p.value.len = 1;
    r = hu_request(l, c, HARD_HARD_ON_PUT, &p.base, rid);
    assert_int_equal(r->kind, VERANI__WIRE__KIND__REPLY);
    a = hard__ack__unpack(NULL, r->payload.len, r->payload.data);
    assert_non_null(a);
    code = a->code;
    hard__ack__free_unpacked(a, NULL);
    return code;
}

static void test_storage_lock(void **state)
{
    verani_server_options o;
    e2e_server h;
    rc_loop *l = rc_loop_create();
    rc_conn *a, *b, *p;
    locker lk;
    char dir[] = "/tmp/verani-XXXXXX", file[64];
    int64_t worst = 0;
    int i;

    (void)state;
    hu_db_temp(dir, "rooms.db", file, sizeof(file));
    e2e_server_options(&o);
    o.storage_path = file;
    start_hard(&h, &o);
    a = e2e_join(l, h.port, "/hard/lobby?userId=a");
    assert_true(wait_stored(l, file, a->client_id));
    assert_int_equal(put(l, a, 1), 0);

    assert_int_equal(locker_start(&lk, VERANI_SQLITE_LOCKER, file), 0);
    /* a session made now cannot be stored yet; a room's own storage call fails, fast, with
     * VERANI_ETIMEDOUT (the busy timeout), and the handler says so */
    b = e2e_join(l, h.port, "/hard/lobby?userId=b");
    assert_int_equal(put(l, a, 2), VERANI_ETIMEDOUT);
    /* another room instance goes on: its pings are answered while the lock is held. How long
     * they took is printed, not asserted (a test must not fail on a busy machine). */
    p = e2e_join(l, h.port, "/hard/other?userId=p");
    for (i = 1; i <= 5; i++) {
        rc_env ping = VERANI__WIRE__ENVELOPE__INIT;
        pong_arg w = {p, (size_t)i};
        int64_t t0 = dl_now_ms();

        ping.has_kind = 1;
        ping.kind = VERANI__WIRE__KIND__PING;
        assert_int_equal(rc_send_env(p, &ping), 0);
        assert_true(rc_wait(l, p_pongs, &w, DL_WAIT_MS));
        assert_false(p->closed);
        if (dl_now_ms() - t0 > worst)
            worst = dl_now_ms() - t0;
    }
    printf("storage_lock: the slowest of 5 pings under the lock took %lld ms\n",
           (long long)worst);
    assert_false(stored(file, b->client_id));
    assert_int_equal(locker_stop(&lk), 0);

    /* the lock is gone: what could not be stored is, by itself (it used to be dropped) */
    assert_true(wait_stored(l, file, b->client_id));
    assert_true(wait_stored(l, file, p->client_id));
    assert_int_equal(put(l, a, 3), 0);
    assert_false(a->closed);
    assert_false(b->closed);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
    hu_db_remove(dir, file);
}

static const vt_case cases[] = {
    VT_CASE(test_utf8_strings, ""),
    VT_CASE(test_user_ids, ""),
    VT_CASE(test_api_json, ""),
    VT_CASE(test_api_filters, ""),
    VT_CASE(test_api_kick_code, ""),
    VT_CASE(test_api_route_ids, ""),
    VT_CASE(test_reply_too_large, ""),
    VT_CASE(test_storage_lock, ""),
};

int main(int argc, char **argv)
{
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("hardening", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
