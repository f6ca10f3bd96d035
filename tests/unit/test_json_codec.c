/* SPDX-License-Identifier: MIT */
/*
 * test_json_codec.c: the JSON wire's codec (wire/json_in.c, json_out.c) on
 * schema/kitchen_sink.verani's messages and json_types.proto's (the
 * fixed-width types and defaults veranic cannot express): frame validity
 * with each refusal's sentence, the exact bytes written for a few messages
 * (lowerCamelCase, the 2^53 boundary, enum names, base64, NaN), round trips
 * of every field type compared by their protobuf encoding, both key forms,
 * every decode error with its field path, the depth bound, validation after
 * decode, and every allocation failure (the ASan build checks that nothing
 * leaks on any of these paths).
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_types.pb-c.h"
#include "kitchen_schema.h"
#include "wire/json-private.h"
#include "wire/wire-private.h"

#define OK(call) assert_int_equal((call), 0)

/* --- helpers -------------------------------------------------------------- */

/* `{<members of m>}` as a NUL-terminated string; free with vr_free(). */
static char *members_of(const ProtobufCMessage *m)
{
    vr_sb sb = {0};

    vr_sb_add(&sb, "{", 1);
    vr_json_members(&sb, m, 0);
    vr_sb_add(&sb, "}", 1);
    assert_false(sb.failed);
    return sb.buf;
}

/* Decode `{"type":"t","data":<data>}` as `desc`; returns the decode's result. */
static int decode(const char *data, const ProtobufCMessageDescriptor *desc,
                  verani_validate_fn validate, ProtobufCMessage **out, verani_verr *err)
{
    char text[8192];
    vr_jframe f;
    const char *why = NULL;
    int rc;

    snprintf(text, sizeof(text), "{\"type\":\"t\",\"data\":%s}", data);
    rc = vr_json_frame_parse(text, strlen(text), &f, &why);
    if (rc)
        fail_msg("frame %s: %s", text, why);
    rc = vr_json_payload_decode(&f, desc, validate, out, err);
    vr_json_frame_free(&f);
    if (rc)
        assert_null(*out);
    return rc;
}

static ProtobufCMessage *decode_ok(const char *data, const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = NULL;
    verani_verr err;
    int rc = decode(data, desc, NULL, &m, &err);

    if (rc)
        fail_msg("decode %s: %d at '%s': %s", data, rc, err.path, err.reason);
    assert_non_null(m);
    return m;
}

/* Decoding `data` as `desc` fails at `path` with `reason`. */
static void decode_fails(const char *data, const ProtobufCMessageDescriptor *desc,
                         const char *path, const char *reason)
{
    ProtobufCMessage *m = (ProtobufCMessage *)1;
    verani_verr err;

    assert_int_equal(decode(data, desc, NULL, &m, &err), VERANI_EINVAL);
    assert_string_equal(err.path, path);
    assert_string_equal(err.reason, reason);
}

/* `a` and `b` encode to the same protobuf bytes. */
static void assert_same(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t na = protobuf_c_message_get_packed_size(a), nb = protobuf_c_message_get_packed_size(b);
    uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);

    assert_int_equal(na, nb);
    assert_int_equal(protobuf_c_message_pack(a, pa), na);
    assert_int_equal(protobuf_c_message_pack(b, pb), nb);
    assert_memory_equal(pa, pb, na);
    free(pa);
    free(pb);
}

/* `m` -> JSON -> message again, equal to `m` on the wire; returns the JSON (vr_free()). */
static char *round_trip(const ProtobufCMessage *m)
{
    char *json = members_of(m);
    ProtobufCMessage *back = decode_ok(json, m->descriptor);

    assert_same(m, back);
    vr_wire_payload_free(back);
    return json;
}

/* `m` is written exactly as `want`, and reads back to itself. */
static void writes(const ProtobufCMessage *m, const char *want)
{
    char *got = round_trip(m);

    assert_string_equal(got, want);
    vr_free(got);
}

/* `m` is written exactly as `want`. */
static void writes_only(const ProtobufCMessage *m, const char *want)
{
    char *got = members_of(m);

    assert_string_equal(got, want);
    vr_free(got);
}

/* --- frames --------------------------------------------------------------- */

static int parse(const char *text, vr_jframe *f)
{
    return vr_json_frame_parse(text, strlen(text), f, NULL);
}

static void frame_refused(const char *text, size_t len, const char *reason)
{
    vr_jframe f;
    const char *why = NULL;

    assert_int_equal(vr_json_frame_parse(text, len, &f, &why), VERANI_EPROTO);
    assert_non_null(why);
    assert_string_equal(why, reason);
    assert_null(f.root);
}

#define REFUSED(text, reason) frame_refused(text, sizeof(text) - 1, reason)

static void test_frame_validity(void **state)
{
    static const char trailing[] = "{\"type\":\"a\"}garbage";
    vr_jframe f;
    char deep[3000];

    (void)state;
    OK(parse("{\"type\":\"ping\"}", &f));
    assert_string_equal(f.type, "ping");
    assert_null(f.channel);
    assert_null(f.data);
    vr_json_frame_free(&f);
    assert_null(f.root);
    vr_json_frame_free(&f); /* a zeroed frame frees as nothing */

    static const char full[] = "{\"data\":{\"channel\":\"x\",\"n\":1,\"z\":\"a\\u0000\"},"
                               "\"channel\":\"c\",\"type\":\"channel.join\"}";
    OK(vr_json_frame_parse(full, sizeof(full) - 1, &f, NULL));
    assert_string_equal(f.type, "channel.join");
    assert_string_equal(f.channel, "c");
    assert_non_null(f.data);
    assert_string_equal(vr_json_frame_data_string(&f, "channel"), "x");
    assert_null(vr_json_frame_data_string(&f, "n"));       /* not a string */
    assert_null(vr_json_frame_data_string(&f, "z"));       /* holds a NUL */
    assert_null(vr_json_frame_data_string(&f, "missing"));
    vr_json_frame_free(&f);

    /* data null is no data; data that is not an object still parses (decode refuses it) */
    OK(parse("{\"type\":\"a\",\"data\":null}", &f));
    assert_null(f.data);
    assert_null(vr_json_frame_data_string(&f, "channel"));
    vr_json_frame_free(&f);
    OK(parse("{\"type\":\"a\",\"data\":[1]}", &f));
    assert_non_null(f.data);
    assert_null(vr_json_frame_data_string(&f, "channel"));
    vr_json_frame_free(&f);

    /* only `len` bytes are read; a duplicate key keeps the last value, as JSON.parse does */
    OK(vr_json_frame_parse(trailing, 12, &f, NULL));
    vr_json_frame_free(&f);
    OK(parse("{\"type\":\"a\",\"type\":\"b\"}", &f));
    assert_string_equal(f.type, "b");
    vr_json_frame_free(&f);

    REFUSED("", "the frame is not JSON");
    REFUSED("not json", "the frame is not JSON");
    frame_refused(trailing, sizeof(trailing) - 1, "the frame is not JSON");
    REFUSED("{\"type\":\"a\xff\"}", "the frame is not JSON");           /* not UTF-8 */
    REFUSED("{\"type\":\"\\ud800\"}", "the frame is not JSON");         /* lone surrogate */
    REFUSED("{\"a\\u0000\":1,\"type\":\"x\"}", "the frame is not JSON"); /* NUL in a key */
    REFUSED("{\"type\":\"a\",\"n\":99999999999999999999}",
            "the frame holds a number out of range");
    REFUSED("{\"type\":\"a\",\"n\":-1e999}", "the frame holds a number out of range");
    memset(deep, '[', sizeof(deep));
    frame_refused(deep, sizeof(deep), "the frame nests too deep");
    REFUSED("[{\"type\":\"a\"}]", "the frame is not a JSON object");
    REFUSED("\"type\"", "the frame is not a JSON object");
    REFUSED("null", "the frame is not a JSON object");
    REFUSED("{}", "the frame has no string \"type\"");
    REFUSED("{\"type\":1}", "the frame has no string \"type\"");
    REFUSED("{\"type\":null}", "the frame has no string \"type\"");
    REFUSED("{\"Type\":\"a\"}", "the frame has no string \"type\"");
    REFUSED("{\"type\":\"a\\u0000b\"}", "the frame's \"type\" holds a NUL character");
    REFUSED("{\"type\":\"a\",\"channel\":1}", "the frame's \"channel\" is not a string");
    REFUSED("{\"type\":\"a\",\"channel\":null}", "the frame's \"channel\" is not a string");
    REFUSED("{\"type\":\"a\",\"channel\":\"\\u0000\"}",
            "the frame's \"channel\" holds a NUL character");
}

/* --- output --------------------------------------------------------------- */

static void test_exact_output(void **state)
{
    Kitchen__Player p = KITCHEN__PLAYER__INIT, p2 = KITCHEN__PLAYER__INIT;
    Kitchen__Scalars s = KITCHEN__SCALARS__INIT;
    Kitchen__Labels l = KITCHEN__LABELS__INIT;
    Kitchen__Labels__ScoresEntry se = KITCHEN__LABELS__SCORES_ENTRY__INIT, *ses[] = {&se};
    Kitchen__Labels__ColorsEntry ce = KITCHEN__LABELS__COLORS_ENTRY__INIT, *ces[] = {&ce};
    static uint8_t b3[] = {0x00, 0xff, 0x10}, b1[] = {0xfb}, b2[] = {0xfb, 0xff};
    int32_t rep_i[] = {1, -2};
    double rep_d[] = {0.1, NAN, -INFINITY, 1e21, -0.0};
    char *rep_s[] = {"x"};
    Kitchen__Color palette[] = {KITCHEN__COLOR__RED, (Kitchen__Color)7};
    Kitchen__Player *players[] = {&p2};

    (void)state;
    p.name = "Ann";
    p.level = 3;
    writes(&p.base, "{\"name\":\"Ann\",\"level\":3}");

    /* required fields always (a NULL string as ""), camelCase names, int64 past 2^53 - 1
     * as strings, floats short, bytes in padded base64, enums by name */
    s.b = 1;
    s.i32 = INT32_MIN;
    s.i64 = INT64_C(9007199254740991);
    s.u32 = UINT32_MAX;
    s.u64 = UINT64_C(9007199254740992);
    s.s32 = -5;
    s.s64 = -INT64_C(9007199254740992);
    s.f = 0.1f;
    s.d = 1e-7;
    s.by.len = 1;
    s.by.data = b1;
    s.color = KITCHEN__COLOR__BLUE;
    writes(&s.base, "{\"b\":true,\"i32\":-2147483648,\"i64\":9007199254740991,"
                    "\"u32\":4294967295,\"u64\":\"9007199254740992\",\"s32\":-5,"
                    "\"s64\":\"-9007199254740992\",\"f\":0.1,\"d\":1e-07,\"s\":\"\","
                    "\"by\":\"+w==\",\"color\":\"BLUE\"}");
    s.b = 0;
    s.i64 = -INT64_C(9007199254740991);
    s.u64 = UINT64_MAX;
    s.s64 = INT64_MIN;
    s.f = -INFINITY;
    s.d = -0.0;
    s.s = "h\xc3\xa9 \"q\"\n";
    s.by.len = 2;
    s.by.data = b2;
    s.color = (Kitchen__Color)42; /* no name: the number (which the decoder refuses) */
    writes_only(&s.base, "{\"b\":false,\"i32\":-2147483648,\"i64\":-9007199254740991,"
                    "\"u32\":4294967295,\"u64\":\"18446744073709551615\",\"s32\":-5,"
                    "\"s64\":\"-9223372036854775808\",\"f\":\"-Infinity\",\"d\":-0.0,"
                    "\"s\":\"h\xc3\xa9 \\\"q\\\"\\u000a\",\"by\":\"+/8=\",\"color\":42}");

    /* optional fields only when present, repeated always, maps as objects */
    l.name = "N";
    writes(&l.base, "{\"repI\":[],\"repD\":[],\"repS\":[],\"players\":[],\"scores\":{},"
                    "\"byName\":{},\"colors\":{},\"name\":\"N\",\"blob\":\"\",\"palette\":[]}");
    l.has_opt_i = 1;
    l.opt_i = -5;
    l.opt_s = "a";
    l.has_opt_b = 1;
    l.opt_b.len = 3;
    l.opt_b.data = b3;
    l.has_opt_e = 1;
    l.opt_e = KITCHEN__COLOR__COLOR_NONE;
    l.opt_m = &p;
    l.n_rep_i = 2;
    l.rep_i = rep_i;
    l.n_rep_d = 5;
    l.rep_d = rep_d;
    l.n_rep_s = 1;
    l.rep_s = rep_s;
    p2.name = "B";
    l.n_players = 1;
    l.players = players;
    se.key = "k";
    se.has_value = 1;
    se.value = 9;
    l.n_scores = 1;
    l.scores = ses;
    ce.key = "c\"";
    ce.has_value = 1;
    ce.value = KITCHEN__COLOR__GREEN;
    l.n_colors = 1;
    l.colors = ces;
    l.n_palette = 2;
    l.palette = palette;
    /* NaN reads back as NaN, but the unnamed palette value 7 is refused */
    writes_only(&l.base, "{\"optI\":-5,\"optS\":\"a\",\"optB\":\"AP8Q\","
                                 "\"optE\":\"COLOR_NONE\",\"optM\":{\"name\":\"Ann\",\"level\":3},"
                                 "\"repI\":[1,-2],\"repD\":[0.1,\"NaN\",\"-Infinity\",1e+21,-0.0],"
                                 "\"repS\":[\"x\"],\"players\":[{\"name\":\"B\",\"level\":0}],"
                                 "\"scores\":{\"k\":9},\"byName\":{},"
                                 "\"colors\":{\"c\\\"\":\"GREEN\"},\"name\":\"N\",\"blob\":\"\","
                                 "\"palette\":[\"RED\",7]}");
}

/* vr_sb_json_str, which writes every string of the JSON wire: escapes, and U+FFFD for each
 * byte that is not part of valid UTF-8. */
static void test_json_strings(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", "\"\""},
        {"plain ascii ~", "\"plain ascii ~\""},
        {"q\"b\\s/", "\"q\\\"b\\\\s/\""},
        {"\x01\x1f\x7f\t\n", "\"\\u0001\\u001f\\u007f\\u0009\\u000a\""},
        {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""},
        {"a\xff" "b", "\"a\\ufffdb\""},
        {"\xc3", "\"\\ufffd\""},
        {"\xe2\x82", "\"\\ufffd\\ufffd\""},
        {"\xc0\xaf", "\"\\ufffd\\ufffd\""},
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},
        {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
        {"x\xc3\xa9\"\xff\xc3\xa9\x01", "\"x\xc3\xa9\\\"\\ufffd\xc3\xa9\\u0001\""},
    };
    vr_sb sb = {0};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sb.len = 0;
        vr_sb_json_str(&sb, cases[i].in);
        assert_string_equal(sb.buf, cases[i].out);
    }
    sb.len = 0;
    vr_sb_json_str(&sb, NULL);
    assert_string_equal(sb.buf, "\"\"");
    vr_sb_free(&sb);
}

static void test_event_frame(void **state)
{
    Kitchen__Plain pl = KITCHEN__PLAIN__INIT;
    Kitchen__Nothing none = KITCHEN__NOTHING__INIT;
    vr_sb sb = {0};

    (void)state;
    pl.note = "hi";
    OK(vr_json_event(&sb, "room:1", "plain", &pl.base));
    assert_string_equal(sb.buf, "{\"type\":\"event\",\"channel\":\"room:1\","
                                "\"data\":{\"type\":\"plain\",\"note\":\"hi\",\"e\":\"ONLY\"}}");
    sb.len = 0;
    OK(vr_json_event(&sb, "default", "pong", NULL));
    assert_string_equal(sb.buf, "{\"type\":\"event\",\"channel\":\"default\","
                                "\"data\":{\"type\":\"pong\"}}");
    sb.len = 0;
    OK(vr_json_event(&sb, "a\"b", "ping", &none.base));
    assert_string_equal(sb.buf,
                        "{\"type\":\"event\",\"channel\":\"a\\\"b\",\"data\":{\"type\":\"ping\"}}");
    /* members after something already written get their comma */
    sb.len = 0;
    assert_int_equal(vr_json_members(&sb, &pl.base, 1), 2);
    assert_string_equal(sb.buf, ",\"note\":\"hi\",\"e\":\"ONLY\"");
    sb.len = 0;
    assert_int_equal(vr_json_members(&sb, &none.base, 1), 0);
    assert_int_equal(vr_json_members(&sb, NULL, 0), 0);
    assert_int_equal(sb.len, 0);
    vr_sb_free(&sb);

    /* the frame is one a Verani client reads back: parse it as one */
    {
        vr_jframe f;
        ProtobufCMessage *m = NULL;
        verani_verr err;

        OK(vr_json_event(&sb, "c", "plain", &pl.base));
        OK(vr_json_frame_parse(sb.buf, sb.len, &f, NULL));
        assert_string_equal(f.type, "event");
        assert_string_equal(f.channel, "c");
        assert_string_equal(vr_json_frame_data_string(&f, "type"), "plain");
        OK(vr_json_payload_decode(&f, &kitchen__plain__descriptor, NULL, &m, &err));
        assert_same(&pl.base, m);
        vr_wire_payload_free(m);
        vr_json_frame_free(&f);
        vr_sb_free(&sb);
    }
}

/* --- round trips ---------------------------------------------------------- */

static void test_round_trip_scalars(void **state)
{
    static const float fs[] = {0.0f, -0.0f, 1.0f, 0.1f, -1.5f, 1.0f / 3, FLT_MAX, -FLT_MAX,
                               FLT_MIN, 1e-45f, 16777217.0f, NAN, INFINITY, -INFINITY};
    static const double ds[] = {0.0, -0.0, 0.1, 1.0 / 3, 1e300, -1e-300, DBL_MAX, DBL_MIN,
                                4.9e-324, 9007199254740993.0, 123456789012345678.0, NAN,
                                INFINITY, -INFINITY};
    static const int64_t is[] = {0, 1, -1, INT64_C(9007199254740991),
                                 INT64_C(9007199254740992), -INT64_C(9007199254740992),
                                 INT64_MAX, INT64_MIN};
    static uint8_t bytes[256];
    Kitchen__Scalars s = KITCHEN__SCALARS__INIT;
    size_t i;
    char *json;

    (void)state;
    for (i = 0; i < sizeof(bytes); i++)
        bytes[i] = (uint8_t)i;
    for (i = 0; i < 14; i++) {
        s.b = i & 1;
        s.i32 = i & 1 ? INT32_MIN : INT32_MAX;
        s.i64 = is[i % 8];
        s.u32 = i & 1 ? UINT32_MAX : (uint32_t)i;
        s.u64 = i & 1 ? UINT64_MAX : (uint64_t)is[i % 8];
        s.s32 = -(int32_t)i;
        s.s64 = is[(i + 3) % 8];
        s.f = fs[i];
        s.d = ds[i];
        s.s = i & 1 ? "\xf0\x9f\x98\x80 \\ \x7f" : "";
        s.by.len = i * 19 % 257; /* every length modulo 3, up to 256 */
        s.by.data = s.by.len ? bytes : NULL;
        s.color = i & 1 ? KITCHEN__COLOR__BLUE : KITCHEN__COLOR__GREEN;
        json = round_trip(&s.base);
        vr_free(json);
    }
}

static void test_round_trip_labels(void **state)
{
    Kitchen__Labels l = KITCHEN__LABELS__INIT;
    Kitchen__Player a = KITCHEN__PLAYER__INIT, b = KITCHEN__PLAYER__INIT;
    Kitchen__Player c = KITCHEN__PLAYER__INIT;
    Kitchen__Team t = KITCHEN__TEAM__INIT;
    Kitchen__Player *members[] = {&c, &a}, *players[] = {&a, &b, &a};
    Kitchen__Labels__ScoresEntry s1 = KITCHEN__LABELS__SCORES_ENTRY__INIT, s2 = s1;
    Kitchen__Labels__ScoresEntry *scores[] = {&s1, &s2};
    Kitchen__Labels__ByNameEntry bn = KITCHEN__LABELS__BY_NAME_ENTRY__INIT, *by_name[] = {&bn};
    Kitchen__Labels__ColorsEntry ce = KITCHEN__LABELS__COLORS_ENTRY__INIT, *colors[] = {&ce};
    int32_t rep_i[] = {0, 9, INT32_MIN};
    double rep_d[] = {2.5, -1e-10};
    char *rep_s[] = {"", "two", "\xe2\x82\xac"};
    Kitchen__Color palette[] = {KITCHEN__COLOR__BLUE, KITCHEN__COLOR__COLOR_NONE};
    static uint8_t blob[] = {'h', 'i', '?'};
    char *json;

    (void)state;
    a.name = "a";
    a.level = 99;
    b.name = "b";
    b.team = &t;
    c.name = "c";
    c.level = 1;
    t.tag = "T";
    t.n_members = 2;
    t.members = members;
    l.has_opt_i = 1;
    l.opt_i = 0;
    l.opt_s = "";
    l.has_opt_b = 1; /* present and empty */
    l.has_opt_e = 1;
    l.opt_e = KITCHEN__COLOR__RED;
    l.opt_m = &b;
    l.n_rep_i = 3;
    l.rep_i = rep_i;
    l.n_rep_d = 2;
    l.rep_d = rep_d;
    l.n_rep_s = 3;
    l.rep_s = rep_s;
    l.n_players = 3;
    l.players = players;
    s1.key = "one";
    s1.has_value = 1;
    s1.value = -1;
    s2.key = "";
    s2.has_value = 1;
    l.n_scores = 2;
    l.scores = scores;
    bn.key = "bee";
    bn.value = &b;
    l.n_by_name = 1;
    l.by_name = by_name;
    ce.key = "k";
    ce.has_value = 1;
    ce.value = KITCHEN__COLOR__BLUE;
    l.n_colors = 1;
    l.colors = colors;
    l.leader = &a;
    l.name = "labels";
    l.blob.len = 3;
    l.blob.data = blob;
    l.n_palette = 2;
    l.palette = palette;
    json = round_trip(&l.base);
    vr_free(json);

    /* the room tables' other messages, empty and not */
    Kitchen__LobbyMeta meta = KITCHEN__LOBBY_META__INIT;
    Kitchen__Nothing none = KITCHEN__NOTHING__INIT;
    Kitchen__VeraniSchema vs = KITCHEN__VERANI_SCHEMA__INIT;

    vr_free(round_trip(&meta.base));
    meta.nick = "n";
    meta.has_age = 1;
    meta.age = 13;
    meta.profile = &b;
    vr_free(round_trip(&meta.base));
    vr_free(round_trip(&none.base));
    json = round_trip(&vs.base); /* the default fingerprint is not written */
    assert_string_equal(json, "{}");
    vr_free(json);
    vs.fingerprint = "other";
    vr_free(round_trip(&vs.base));
}

/* Field 9 of jt.Fixed, whose name is too long to spell here. */
static const ProtobufCFieldDescriptor *long_f;

static int32_t *long_field(Jt__Fixed *x)
{
    return (int32_t *)((char *)x + long_f->offset);
}

static void test_round_trip_fixed(void **state)
{
    Jt__Fixed x = JT__FIXED__INIT;
    Jt__PairsEntry p = JT__PAIRS_ENTRY__INIT, *pairs[] = {&p};
    Jt__Fixed__BlobsEntry be = JT__FIXED__BLOBS_ENTRY__INIT, *blobs[] = {&be};
    uint64_t rf[] = {0, UINT64_MAX, UINT64_C(9007199254740991)};
    static uint8_t data[] = {1, 2, 3, 4, 5};

    (void)state;
    long_f = protobuf_c_message_descriptor_get_field(&jt__fixed__descriptor, 9);
    assert_int_equal(strlen(long_f->name), 152);
    /* defaults are not written: the string's default pointer, and has_ unset */
    writes(&x.base, "{\"f32\":0,\"sf32\":0,\"f64\":0,\"sf64\":0,\"rf64\":[],\"pairs\":[],"
                    "\"blobs\":{},\"kvs\":[]}");
    x.f32 = UINT32_MAX;
    x.sf32 = INT32_MIN;
    x.f64 = UINT64_MAX;
    x.sf64 = INT64_MIN;
    x.n_rf64 = 3;
    x.rf64 = rf;
    x.has_osf32 = 1;
    x.osf32 = -1;
    x.with_default = "dflt"; /* the same text, another pointer: written */
    x.has_num_default = 1;
    x.num_default = 7;
    long_field(&x)[0] = 5;
    *(protobuf_c_boolean *)((char *)&x + long_f->quantifier_offset) = 1;
    p.key = "k";
    p.has_value = 1;
    p.value = 2;
    x.n_pairs = 1;
    x.pairs = pairs;
    be.key = "b";
    be.has_value = 1;
    be.value.len = 5;
    be.value.data = data;
    x.n_blobs = 1;
    x.blobs = blobs;
    writes(&x.base,
           "{\"f32\":4294967295,\"sf32\":-2147483648,\"f64\":\"18446744073709551615\","
           "\"sf64\":\"-9223372036854775808\",\"rf64\":[0,\"18446744073709551615\","
           "9007199254740991],\"osf32\":-1,\"withDefault\":\"dflt\",\"numDefault\":7,"
           "\"fieldAbcdefghijAbcdefghijAbcdefghijAbcdefghijAbcdefghijAbcdefghijAbcdefghij"
           "AbcdefghijAbcdefghijAbcdefghijAbcdefghijAbcdefghijAbcdefghijEnd\":5,"
           "\"pairs\":[{\"key\":\"k\",\"value\":2}],\"blobs\":{\"b\":\"AQIDBAU=\"},\"kvs\":[]}");

    /* the long name is read in both forms too */
    ProtobufCMessage *m = decode_ok(
        "{\"field_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_"
        "abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_end\":3}",
        &jt__fixed__descriptor);
    assert_int_equal(long_field((Jt__Fixed *)m)[0], 3);
    vr_wire_payload_free(m);
    decode_fails("{\"fieldAbcdefghijAbcdefghijAbcdefghijAbcdefghijAbcdefghijAbcdefghij"
                 "AbcdefghijAbcdefghijAbcdefghijAbcdefghijAbcdefghijAbcdefghijAbcdefghijEnd\":"
                 "\"x\"}",
                 &jt__fixed__descriptor,
                 "field_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_"
                 "abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_abcdefghij_end",
                 "is not an integer");
}

/* A chain Team > Player > Team ... of `n` messages, as JSON. */
static char *chain(int n)
{
    static char b[8192];
    size_t o = 0;
    int i;

    for (i = 1; i < n; i++)
        o += (size_t)snprintf(b + o, sizeof(b) - o,
                              i % 2 ? "{\"members\":[" : "{\"name\":\"p\",\"team\":");
    o += (size_t)snprintf(b + o, sizeof(b) - o, "{}");
    for (i = n - 1; i >= 1; i--)
        o += (size_t)snprintf(b + o, sizeof(b) - o, i % 2 ? "]}" : "}");
    return b;
}

static void test_depth_bound(void **state)
{
    ProtobufCMessage *m, *back;
    verani_verr err;
    char *json;

    (void)state;
    /* 32 messages deep: read, written, read again */
    m = decode_ok(chain(VR_JSON_MAX_DEPTH), &kitchen__team__descriptor);
    json = members_of(m);
    back = decode_ok(json, &kitchen__team__descriptor);
    assert_same(m, back);
    vr_wire_payload_free(back);
    vr_wire_payload_free(m);
    vr_free(json);
    /* 33 is refused where the 33rd begins */
    m = (ProtobufCMessage *)1;
    assert_int_equal(decode(chain(VR_JSON_MAX_DEPTH + 1), &kitchen__team__descriptor, NULL, &m,
                            &err),
                     VERANI_EINVAL);
    assert_null(m);
    assert_string_equal(err.reason, "nests deeper than 32");
    assert_int_equal(strncmp(err.path, "members[0].team.members[0].team.", 32), 0);
    assert_string_equal(err.path + strlen(err.path) - 16, ".members[0].team");
}

/* --- input ---------------------------------------------------------------- */

static void test_key_forms_and_conversions(void **state)
{
    Kitchen__Labels *l;
    Kitchen__Scalars *s;
    Kitchen__Player *p;

    (void)state;
    /* both name forms, unknown keys (and a "type") ignored, null as absent */
    l = (Kitchen__Labels *)decode_ok(
        "{\"type\":\"labels\",\"opt_i\":4,\"optS\":\"s\",\"rep_i\":[1],\"repD\":[1,\"NaN\"],"
        "\"by_name\":{\"x\":{\"name\":\"X\",\"extra\":[1,{\"deep\":null}]}},\"optE\":null,"
        "\"leader\":null,\"palette\":null,\"repS\":null,\"unknown\":{\"a\":[]}}",
        &kitchen__labels__descriptor);
    assert_true(l->has_opt_i);
    assert_int_equal(l->opt_i, 4);
    assert_string_equal(l->opt_s, "s");
    assert_int_equal(l->n_rep_i, 1);
    assert_int_equal(l->n_rep_d, 2);
    assert_true(isnan(l->rep_d[1]));
    assert_int_equal(l->n_by_name, 1);
    assert_string_equal(l->by_name[0]->key, "x");
    assert_string_equal(l->by_name[0]->value->name, "X");
    assert_false(l->has_opt_e);
    assert_null(l->leader);
    assert_int_equal(l->n_palette, 0);
    /* an absent plain string is "", never NULL: the binary wire cannot leave one out, and a
     * handler written for it reads the string as it is */
    assert_non_null(l->name);
    assert_string_equal(l->name, "");
    vr_wire_payload_free(&l->base);

    /* numbers as strings, integral reals, enum numbers, url-safe base64 without padding */
    s = (Kitchen__Scalars *)decode_ok(
        "{\"b\":true,\"i32\":\"-7\",\"i64\":\"-9223372036854775808\",\"u32\":1e3,"
        "\"u64\":\"18446744073709551615\",\"s32\":-0.0,\"s64\":2.0,\"f\":\"Infinity\","
        "\"d\":\"-1.5e3\",\"s\":\"\\u20ac\",\"by\":\"-_8\",\"color\":-1}",
        &kitchen__scalars__descriptor);
    assert_true(s->b);
    assert_int_equal(s->i32, -7);
    assert_true(s->i64 == INT64_MIN);
    assert_int_equal(s->u32, 1000);
    assert_true(s->u64 == UINT64_MAX);
    assert_int_equal(s->s32, 0);
    assert_int_equal(s->s64, 2);
    assert_true(isinf(s->f) && s->f > 0);
    assert_true(s->d == -1500.0);
    assert_string_equal(s->s, "\xe2\x82\xac");
    assert_int_equal(s->by.len, 2);
    assert_int_equal(s->by.data[0], 0xfb);
    assert_int_equal(s->by.data[1], 0xff);
    assert_int_equal(s->color, KITCHEN__COLOR__BLUE);
    vr_wire_payload_free(&s->base);

    s = (Kitchen__Scalars *)decode_ok("{\"f\":\"-Infinity\",\"d\":\"NaN\",\"by\":\"+/8=\","
                                      "\"color\":\"GREEN\",\"u64\":9223372036854775807,"
                                      "\"f\":3.4028235e38}",
                                      &kitchen__scalars__descriptor);
    assert_true(s->f == FLT_MAX); /* the last "f" wins; FLT_MAX written short reads back */
    assert_true(isnan(s->d));
    assert_int_equal(s->by.len, 2);
    assert_int_equal(s->color, KITCHEN__COLOR__GREEN);
    assert_true(s->u64 == INT64_MAX);
    vr_wire_payload_free(&s->base);
    /* a numeric string past int64 in a float or double field is a number too */
    s = (Kitchen__Scalars *)decode_ok("{\"d\":\"100000000000000000000\",\"f\":\"-1e20\"}",
                                      &kitchen__scalars__descriptor);
    assert_true(s->d == 1e20);
    assert_true(s->f == -1e20f);
    vr_wire_payload_free(&s->base);

    /* data absent or null: all defaults */
    {
        vr_jframe f;
        ProtobufCMessage *m = (ProtobufCMessage *)1;
        verani_verr err;

        OK(parse("{\"type\":\"t\"}", &f));
        OK(vr_json_payload_decode(&f, NULL, NULL, &m, &err)); /* no payload type: nothing */
        assert_null(m);
        OK(vr_json_payload_decode(&f, &kitchen__player__descriptor, NULL, &m, &err));
        p = (Kitchen__Player *)m;
        assert_non_null(p->name);
        assert_string_equal(p->name, "");
        assert_int_equal(p->level, 0);
        vr_wire_payload_free(m);
        vr_json_frame_free(&f);
    }
    /* the same inside messages, an empty one ({}) too, and for a string given as null */
    {
        Kitchen__Labels *lb = (Kitchen__Labels *)decode_ok(
            "{\"by_name\":{\"a\":{},\"b\":{\"level\":2}},\"players\":[{}],"
            "\"opt_m\":{\"name\":null},\"name\":null}", &kitchen__labels__descriptor);

        assert_string_equal(lb->name, "");
        assert_int_equal(lb->n_by_name, 2);
        assert_string_equal(lb->by_name[0]->value->name, "");
        assert_string_equal(lb->by_name[1]->value->name, "");
        assert_int_equal(lb->n_players, 1);
        assert_string_equal(lb->players[0]->name, "");
        assert_string_equal(lb->opt_m->name, "");
        vr_wire_payload_free(&lb->base);
    }
    p = (Kitchen__Player *)decode_ok("null", &kitchen__player__descriptor);
    assert_null(p->team);
    vr_wire_payload_free(&p->base);
}

static void test_decode_errors(void **state)
{
    const ProtobufCMessageDescriptor *sc = &kitchen__scalars__descriptor;
    const ProtobufCMessageDescriptor *la = &kitchen__labels__descriptor;

    (void)state;
    decode_fails("[]", sc, "", "is not a JSON object");
    decode_fails("\"x\"", sc, "", "is not a JSON object");
    decode_fails("7", la, "", "is not a JSON object");

    decode_fails("{\"i32\":\"x\"}", sc, "i32", "is not an integer");
    decode_fails("{\"i32\":\"\"}", sc, "i32", "is not an integer");
    decode_fails("{\"i32\":\"-\"}", sc, "i32", "is not an integer");
    decode_fails("{\"i32\":\" 1\"}", sc, "i32", "is not an integer");
    decode_fails("{\"i32\":1.5}", sc, "i32", "is not an integer");
    decode_fails("{\"i32\":true}", sc, "i32", "is not an integer");
    decode_fails("{\"i32\":2147483648}", sc, "i32", "is out of range for int32");
    decode_fails("{\"i32\":-2147483649}", sc, "i32", "is out of range for int32");
    decode_fails("{\"u32\":-1}", sc, "u32", "is out of range for uint32");
    decode_fails("{\"u32\":4294967296}", sc, "u32", "is out of range for uint32");
    decode_fails("{\"i64\":\"9223372036854775808\"}", sc, "i64", "is out of range for int64");
    decode_fails("{\"i64\":1e19}", sc, "i64", "is out of range for int64");
    decode_fails("{\"u64\":\"18446744073709551616\"}", sc, "u64", "is out of range for uint64");
    decode_fails("{\"u64\":\"-1\"}", sc, "u64", "is out of range for uint64");
    decode_fails("{\"u64\":1e20}", sc, "u64", "is out of range for uint64");
    decode_fails("{\"s32\":\"99999999999\"}", sc, "s32", "is out of range for sint32");
    decode_fails("{\"s64\":1e300}", sc, "s64", "is out of range for sint64");
    decode_fails("{\"b\":1}", sc, "b", "is not a boolean");
    decode_fails("{\"b\":\"true\"}", sc, "b", "is not a boolean");
    decode_fails("{\"f\":1e39}", sc, "f", "is out of range for float");
    decode_fails("{\"f\":\"-1e39\"}", sc, "f", "is out of range for float");
    decode_fails("{\"f\":\"abc\"}", sc, "f", "is not a number");
    decode_fails("{\"d\":\"1e999\"}", sc, "d", "is not a number");
    decode_fails("{\"d\":\"1.\"}", sc, "d", "is not a number");
    decode_fails("{\"d\":\"nan\"}", sc, "d", "is not a number");
    decode_fails("{\"d\":\"\"}", sc, "d", "is not a number");
    decode_fails("{\"d\":false}", sc, "d", "is not a number");
    decode_fails("{\"s\":5}", sc, "s", "is not a string");
    decode_fails("{\"s\":\"a\\u0000b\"}", sc, "s", "holds a NUL character");
    decode_fails("{\"by\":\"***\"}", sc, "by", "is not valid base64");
    decode_fails("{\"by\":\"QQ=\"}", sc, "by", "is not valid base64");
    decode_fails("{\"by\":\"Q\"}", sc, "by", "is not valid base64");
    decode_fails("{\"by\":\"Q===\"}", sc, "by", "is not valid base64");
    decode_fails("{\"by\":\"QQ==QQ==\"}", sc, "by", "is not valid base64");
    decode_fails("{\"by\":1}", sc, "by", "is not valid base64");
    decode_fails("{\"color\":\"PURPLE\"}", sc, "color", "is not a value of Color");
    decode_fails("{\"color\":\"RED\\u0000\"}", sc, "color", "is not a value of Color");
    decode_fails("{\"color\":5}", sc, "color", "is not a value of Color");
    decode_fails("{\"color\":1.5}", sc, "color", "is not a value of Color");
    decode_fails("{\"color\":4294967297}", sc, "color", "is not a value of Color");
    decode_fails("{\"color\":true}", sc, "color", "is not a value of Color");
    decode_fails("{\"e\":\"RED\"}", &kitchen__plain__descriptor, "e", "is not a value of Empty2");

    /* nested, repeated and map paths, as the validators write them */
    decode_fails("{\"optM\":5}", la, "opt_m", "is not a JSON object");
    decode_fails("{\"optM\":{\"name\":[]}}", la, "opt_m.name", "is not a string");
    decode_fails("{\"repI\":5}", la, "rep_i", "is not an array");
    decode_fails("{\"repI\":{}}", la, "rep_i", "is not an array");
    decode_fails("{\"repI\":[1,\"x\"]}", la, "rep_i[1]", "is not an integer");
    decode_fails("{\"rep_i\":[1,null]}", la, "rep_i[1]", "is not an integer");
    decode_fails("{\"repS\":[\"a\",\"b\",\"\\u0000\"]}", la, "rep_s[2]",
                 "holds a NUL character");
    decode_fails("{\"palette\":[\"RED\",\"RAD\"]}", la, "palette[1]", "is not a value of Color");
    decode_fails("{\"players\":[{\"name\":\"a\"},{\"name\":7}]}", la, "players[1].name",
                 "is not a string");
    decode_fails("{\"players\":[{},null]}", la, "players[1]", "is not a JSON object");
    decode_fails("{\"scores\":[1]}", la, "scores", "is not a JSON object");
    decode_fails("{\"scores\":{\"a\":1,\"b\":\"x\"}}", la, "scores[1].value",
                 "is not an integer");
    decode_fails("{\"scores\":{\"a\":null}}", la, "scores[0].value", "is not an integer");
    decode_fails("{\"colors\":{\"a\":\"NOPE\"}}", la, "colors[0].value",
                 "is not a value of Color");
    decode_fails("{\"byName\":{\"k\":{\"level\":\"x\"}}}", la, "by_name[0].value.level",
                 "is not an integer");
    decode_fails("{\"byName\":{\"k\":5}}", la, "by_name[0].value", "is not a JSON object");
    decode_fails("{\"leader\":{\"team\":{\"members\":[{\"team\":{\"tag\":5}}]}}}", la,
                 "leader.team.members[0].team.tag", "is not a string");
    decode_fails("{\"rep_i\":[1],\"repI\":[2]}", la, "rep_i", "is given under both of its names");
    decode_fails("{\"by_name\":{},\"byName\":{}}", la, "by_name",
                 "is given under both of its names");
    decode_fails("{\"blobs\":{\"b\":\"!\"}}", &jt__fixed__descriptor, "blobs[0].value",
                 "is not valid base64");
    /* a repeated message shaped like a map entry but not nested in its user: an array */
    decode_fails("{\"pairs\":{\"k\":1}}", &jt__fixed__descriptor, "pairs", "is not an array");
    decode_fails("{\"kvs\":{\"k\":1}}", &jt__fixed__descriptor, "kvs", "is not an array");
}

static void test_validation_after_decode(void **state)
{
    const verani_event_def *join =
        verani_event_find(kitchen_lobby_on_events, 6, KITCHEN_LOBBY_ON_JOIN_GAME);
    const verani_event_def *labels =
        verani_event_find(kitchen_lobby_on_events, 6, KITCHEN_LOBBY_ON_LABELS);
    ProtobufCMessage *m = NULL;
    verani_verr err;

    (void)state;
    assert_non_null(join);
    assert_non_null(join->validate_in);
    OK(decode("{\"name\":\"ok\",\"level\":99}", join->in, join->validate_in, &m, &err));
    vr_wire_payload_free(m);
    assert_int_equal(decode("{\"name\":\"123456789012345678901234567890123\"}", join->in,
                            join->validate_in, &m, &err),
                     VERANI_EINVAL);
    assert_null(m);
    assert_string_equal(err.path, "name");
    assert_string_equal(err.reason, "longer than 32");
    assert_int_equal(decode("{\"level\":1}", join->in, join->validate_in, &m, &err),
                     VERANI_EINVAL);
    assert_string_equal(err.path, "name");
    assert_string_equal(err.reason, "is required");
    assert_int_equal(decode("{\"name\":\"n\",\"team\":{\"members\":[{\"name\":\"m\","
                            "\"level\":100}]}}",
                            join->in, join->validate_in, &m, &err),
                     VERANI_EINVAL);
    assert_string_equal(err.path, "team.members[0].level");
    assert_string_equal(err.reason, "greater than 99");
    /* a decode error comes first, the validator never sees the message */
    assert_int_equal(decode("{\"level\":\"x\"}", join->in, join->validate_in, &m, &err),
                     VERANI_EINVAL);
    assert_string_equal(err.path, "level");
    assert_string_equal(err.reason, "is not an integer");
    assert_int_equal(decode("{\"optI\":1,\"optB\":\"AA==\",\"optM\":{\"name\":\"m\"},"
                            "\"repS\":[\"x\"],\"colors\":{\"c\":\"RED\"},\"name\":\"n\","
                            "\"byName\":{\"k\":{\"name\":\"\"}}}",
                            labels->in, labels->validate_in, &m, &err),
                     VERANI_EINVAL);
    assert_string_equal(err.path, "by_name[0].value.name");
    assert_string_equal(err.reason, "is required");
}

/* --- allocation failures -------------------------------------------------- */

static long allocs_left = -1; /* < 0: no limit */

static int may_alloc(void)
{
    if (allocs_left == 0)
        return 0;
    if (allocs_left > 0)
        allocs_left--;
    return 1;
}

static void *fail_malloc(size_t n)
{
    return may_alloc() ? malloc(n) : NULL;
}

static void *fail_calloc(size_t n, size_t size)
{
    return may_alloc() ? calloc(n, size) : NULL;
}

static void *fail_realloc(void *p, size_t n)
{
    return may_alloc() ? realloc(p, n) : NULL;
}

static void test_allocation_failures(void **state)
{
    static const struct verani_allocators failing = {fail_malloc, fail_calloc, fail_realloc,
                                                     free};
    static const char text[] =
        "{\"type\":\"t\",\"data\":{\"optI\":1,\"optS\":\"s\",\"optB\":\"AAEC\","
        "\"optM\":{\"name\":\"m\",\"team\":{\"tag\":\"t\",\"members\":[{\"name\":\"x\"}]}},"
        "\"repI\":[1,2],\"repD\":[\"1.5\"],\"repS\":[\"a\",\"b\"],\"players\":[{\"name\":\"p\"}],"
        "\"scores\":{\"a\":1,\"b\":2},\"byName\":{\"k\":{\"name\":\"v\"}},"
        "\"colors\":{\"c\":\"RED\"},\"leader\":{\"name\":\"l\"},\"name\":\"n\","
        "\"blob\":\"AQID\",\"palette\":[\"RED\"]}}";
    ProtobufCMessage *m;
    verani_verr err;
    vr_jframe f;
    long limit;
    int rc, failures = 0;

    (void)state;
    OK(vr_json_frame_parse(text, sizeof(text) - 1, &f, NULL));
    verani_set_allocators(&failing);
    for (limit = 0;; limit++) {
        allocs_left = limit;
        m = (ProtobufCMessage *)1;
        rc = vr_json_payload_decode(&f, &kitchen__labels__descriptor, NULL, &m, &err);
        if (rc == 0)
            break;
        assert_int_equal(rc, VERANI_ENOMEM);
        assert_null(m);
        failures++;
    }
    allocs_left = -1;
    assert_true(failures > 20); /* each allocation of the tree failed once */
    {
        /* and the message written out, with every realloc of the buffer failing in turn */
        vr_sb sb = {0};
        size_t full;

        OK(vr_json_event(&sb, "c", "labels", m));
        full = sb.len;
        vr_sb_free(&sb);
        for (limit = 0;; limit++) {
            allocs_left = limit;
            rc = vr_json_event(&sb, "c", "labels", m);
            allocs_left = -1;
            if (rc == 0)
                break;
            assert_int_equal(rc, VERANI_ENOMEM);
            vr_sb_free(&sb);
        }
        assert_int_equal(sb.len, full);
        vr_sb_free(&sb);
    }
    vr_wire_payload_free(m);
    vr_json_frame_free(&f);
    verani_set_allocators(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_validity),
        cmocka_unit_test(test_exact_output),
        cmocka_unit_test(test_json_strings),
        cmocka_unit_test(test_event_frame),
        cmocka_unit_test(test_round_trip_scalars),
        cmocka_unit_test(test_round_trip_labels),
        cmocka_unit_test(test_round_trip_fixed),
        cmocka_unit_test(test_depth_bound),
        cmocka_unit_test(test_key_forms_and_conversions),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_validation_after_decode),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
