/* SPDX-License-Identifier: MIT */
/*
 * test_hardening.c: the regression tests of issue 12 (defects found by
 * attacking the server from outside), items 3 to 10, each over real sockets
 * on 127.0.0.1 (and real SQLite files where storage is involved), each
 * failing on the code before its fix:
 *   utf8_strings        a string that is not UTF-8, or longer than max_len in
 *                       code points, is refused with INVALID_PAYLOAD naming it
 * Every wait ends at a deadline on the monotonic clock (deadline.h); no test
 * asserts how long something took. Run one case with `test_hardening <name>`.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <verani/verani.h>

#include "deadline.h"
#include "e2e_util.h"
#include "hard_server.h"
#include "rawclient.h"

/* --- the Hard room's handlers -------------------------------------------- */

static int h_say(verani_ctx *ctx, const Hard__Text *in, Hard__Ack *out)
{
    (void)ctx;
    out->code = in->text ? (int32_t)strlen(in->text) : 0;
    return 0;
}

static int h_big(verani_ctx *ctx, const Hard__Size *in, Hard__Blob *out)
{
    uint8_t *d = verani_ctx_alloc(ctx, in->bytes ? in->bytes : 1);

    if (!d)
        return VERANI_ENOMEM;
    memset(d, 'b', in->bytes);
    out->data.data = d;
    out->data.len = in->bytes;
    return 0;
}

static int h_put(verani_ctx *ctx, const Hard__Put *in, Hard__Ack *out)
{
    verani_storage *st = verani_ctx_storage(ctx);

    if (!st)
        return VERANI_EIO;
    out->code = verani_storage_put(st, in->key, strlen(in->key), in->value.data, in->value.len);
    return out->code ? out->code : 0;
}

static int h_bigemit(verani_ctx *ctx, const Hard__Size *in, Hard__Ack *out)
{
    Hard__Blob b = HARD__BLOB__INIT;
    uint8_t *d = verani_ctx_alloc(ctx, in->bytes ? in->bytes : 1);

    if (!d)
        return VERANI_ENOMEM;
    memset(d, 'e', in->bytes);
    b.data.data = d;
    b.data.len = in->bytes;
    out->code = hard_hard_emit_blob(ctx, verani_to_self(), &b);
    return 0;
}

static const hard_hard_handlers hard_handlers = {
    .say = h_say,
    .big = h_big,
    .put = h_put,
    .bigemit = h_bigemit,
};

static int mount_hard(verani_server *srv, void *arg)
{
    (void)arg;
    return hard_hard_mount(srv, &hard_handlers, NULL);
}

static void start_hard(e2e_server *h, verani_server_options *o)
{
    e2e_server_start(h, o, mount_hard, NULL);
}

/* --- waits ---------------------------------------------------------------- */

/* Service `l` until pred(arg) or the deadline; returns pred's last value. */
static int wait_for(rc_loop *l, int (*pred)(void *), void *arg)
{
    int64_t end = dl_after(DL_WAIT_MS);

    while (!pred(arg) && !dl_passed(end))
        rc_service(l, dl_left_ms(end) < 50 ? dl_left_ms(end) : 50);
    return pred(arg);
}

typedef struct { rc_conn *c; uint64_t rid; } answer_arg;
static int p_answer(void *a)
{
    answer_arg *x = a;

    return rc_answer(x->c, x->rid) != NULL || x->c->closed;
}

static int p_welcomed(void *a)
{
    return ((rc_conn *)a)->welcomed || ((rc_conn *)a)->closed;
}

/* Send request `ev` with `msg` from `c`; the REPLY or ERROR answering it (fails without). */
static const rc_env *request(rc_loop *l, rc_conn *c, uint32_t ev, const ProtobufCMessage *msg,
                             uint64_t rid)
{
    answer_arg a = {c, rid};

    assert_int_equal(rc_send_event(c, VERANI__WIRE__KIND__REQUEST, ev, msg, rid), 0);
    assert_true(wait_for(l, p_answer, &a));
    assert_non_null(rc_answer(c, rid));
    return rc_answer(c, rid);
}

static rc_conn *join(rc_loop *l, int port, const char *path)
{
    rc_conn *c = rc_connect(l, port, path, 1);

    assert_true(wait_for(l, p_welcomed, c));
    assert_true(c->welcomed);
    return c;
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
    return request(l, c, HARD_HARD_ON_SAY, &t.base, rid);
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
    c = join(l, h.port, "/hard/lobby?userId=u1");

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

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_strings),
    };

    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
