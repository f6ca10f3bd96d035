/* SPDX-License-Identifier: MIT */
/*
 * test_ids.c: the identifiers the runtime makes (core/common.c): a client id
 * is a UUIDv4 in its canonical text form (lowercase 8-4-4-4-12, version 4,
 * variant 10), a resume token or epoch lowercase hex, read back only in that
 * form; and they differ from one draw to the next, each drawn from a pool that
 * hands every random byte out once. Also base64url, the folded HELLO's text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/core-private.h"

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void check_uuid4(const char *u)
{
    size_t i;

    assert_int_equal(strlen(u), 36);
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(u[i], '-');
        else
            assert_true(is_hex(u[i]));
    }
    assert_int_equal(u[14], '4');                 /* version */
    assert_non_null(strchr("89ab", u[19]));       /* variant 10 */
}

static void test_uuid4_from_known_bytes(void **state)
{
    uint8_t b[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                     0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    uint8_t ones[16];
    char u[37];

    (void)state;
    vr_uuid4_from(u, b);
    assert_string_equal(u, "00112233-4455-4677-8899-aabbccddeeff");
    memset(ones, 0xff, sizeof(ones));
    vr_uuid4_from(u, ones);
    assert_string_equal(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
}

/* UUIDs from the pool's draws: each well formed, no two alike. */
static void test_uuid4_random(void **state)
{
    vr_rndpool p;
    uint8_t r[16];
    char a[37], b[37];
    int i;

    (void)state;
    memset(&p, 0, sizeof(p));
    for (i = 0; i < 100; i++) {
        assert_int_equal(vr_rndpool_draw(&p, r, sizeof(r)), 0);
        vr_uuid4_from(a, r);
        check_uuid4(a);
        assert_int_equal(vr_rndpool_draw(&p, r, sizeof(r)), 0);
        vr_uuid4_from(b, r);
        assert_string_not_equal(a, b);
    }
}

/* The pool hands each byte out once and wipes it: what is left unread is all that is not
 * zero; it refills when a draw needs more than it holds; a draw longer than the pool goes to
 * the system's source. */
static void test_rndpool(void **state)
{
    static const uint8_t zero[64];
    vr_rndpool p;
    uint8_t a[32], b[32], big[VR_RNDPOOL + 8];
    size_t i;

    (void)state;
    memset(&p, 0, sizeof(p));
    assert_int_equal(vr_rndpool_draw(&p, a, sizeof(a)), 0);
    assert_int_equal(p.left, VR_RNDPOOL - sizeof(a));
    assert_memory_equal(p.b + p.left, zero, sizeof(a)); /* wiped */
    assert_int_equal(vr_rndpool_draw(&p, b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    for (i = 0; i < VR_RNDPOOL / sizeof(a) - 2; i++)
        assert_int_equal(vr_rndpool_draw(&p, a, sizeof(a)), 0);
    assert_int_equal(p.left, 0);
    assert_memory_equal(p.b, zero, sizeof(zero));
    assert_int_equal(vr_rndpool_draw(&p, b, 1), 0); /* refilled */
    assert_int_equal(p.left, VR_RNDPOOL - 1);
    memset(big, 0, sizeof(big));
    assert_int_equal(vr_rndpool_draw(&p, big, sizeof(big)), 0);
    assert_int_equal(p.left, VR_RNDPOOL - 1); /* not from the pool */
    assert_memory_not_equal(big + sizeof(big) - sizeof(zero), zero, sizeof(zero));
    /* its owner's end: nothing left behind, and a draw after refills */
    vr_rndpool_wipe(&p);
    assert_int_equal(p.left, 0);
    for (i = 0; i < VR_RNDPOOL; i += sizeof(zero))
        assert_memory_equal(p.b + i, zero, sizeof(zero));
    assert_int_equal(vr_rndpool_draw(&p, a, sizeof(a)), 0);
    assert_int_equal(p.left, VR_RNDPOOL - sizeof(a));
}

/* base64url both ways: RFC 4648's test vectors in its URL alphabet without padding, every
 * byte value, and a decoder that takes only the one encoding of some bytes. */
static void test_b64url(void **state)
{
    static const struct {
        const char *bytes, *text;
    } v[] = {
        {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"},
        {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"},
    };
    static const char *const bad[] = {
        "Zg==", "Zm9v+", "Zm9v/", "Z", "Zm9vY", "Zh", "Zm9", "Zm 9v", "Zm9v\n",
    };
    uint8_t all[256], back[256];
    char t[400];
    size_t i;
    long n;

    (void)state;
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t len = strlen(v[i].bytes);

        assert_int_equal(vr_b64url_encode(t, sizeof(t), (const uint8_t *)v[i].bytes, len),
                         strlen(v[i].text));
        assert_string_equal(t, v[i].text);
        assert_int_equal(vr_b64url_decode(back, sizeof(back), v[i].text, strlen(v[i].text)),
                         (long)len);
        assert_memory_equal(back, v[i].bytes, len);
    }
    for (i = 0; i < sizeof(all); i++)
        all[i] = (uint8_t)i;
    n = (long)vr_b64url_encode(t, sizeof(t), all, sizeof(all));
    assert_int_equal(n, 342);
    assert_int_equal(vr_b64url_decode(back, sizeof(back), t, (size_t)n), 256);
    assert_memory_equal(back, all, sizeof(all));
    assert_int_equal(vr_b64url_encode(t, 342, all, sizeof(all)), 0); /* no room for the NUL */
    assert_int_equal(vr_b64url_decode(back, 255, t, (size_t)n), -1); /* no room for a byte */
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (vr_b64url_decode(back, sizeof(back), bad[i], strlen(bad[i])) != -1)
            fail_msg("\"%s\" was decoded", bad[i]);
}

static void test_hex(void **state)
{
    const uint8_t b[] = {0x00, 0x0f, 0xa0, 0xff};
    char h[9], r[33], s[33];

    (void)state;
    vr_hex(h, b, sizeof(b));
    assert_string_equal(h, "000fa0ff");
    assert_int_equal(vr_random_hex(r, 16), 0);
    assert_int_equal(strlen(r), 32);
    assert_int_equal(vr_random_hex(s, 16), 0);
    assert_string_not_equal(r, s);
    assert_int_equal(vr_random_hex(r, 65), VERANI_EIO); /* more than it draws at once */
}

/* vr_unhex takes exactly what vr_hex writes: 2*len lowercase digits, nothing else. */
static void test_unhex(void **state)
{
    uint8_t b[16], back[16];
    char h[33];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(b); i++)
        b[i] = (uint8_t)(i * 17 + 3);
    vr_hex(h, b, sizeof(b));
    assert_int_equal(vr_unhex(back, h, sizeof(back)), 0);
    assert_memory_equal(back, b, sizeof(b));
    assert_int_equal(vr_unhex(back, "000fa0ff", 4), 0);
    assert_int_equal(back[0], 0x00);
    assert_int_equal(back[2], 0xa0);
    assert_int_equal(back[3], 0xff);
    assert_int_equal(vr_unhex(back, "000fa0f", 4), -1);   /* short */
    assert_int_equal(vr_unhex(back, "000fa0ff0", 4), -1); /* long */
    assert_int_equal(vr_unhex(back, "000FA0FF", 4), -1);  /* upper case: not ours */
    assert_int_equal(vr_unhex(back, "000fa0fg", 4), -1);
    assert_int_equal(vr_unhex(back, "", 4), -1);
    assert_int_equal(vr_unhex(back, "", 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid4_from_known_bytes),
        cmocka_unit_test(test_uuid4_random),
        cmocka_unit_test(test_rndpool),
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_unhex),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
