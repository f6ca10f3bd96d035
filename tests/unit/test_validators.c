/* SPDX-License-Identifier: MIT */
/*
 * test_validators.c: the validators veranic generates, run on
 * schema/kitchen_sink.verani (built by verani_generate() like a user's
 * project): every option at its bound and one past it, optional and
 * required presence, nested, repeated and map paths ("players[3].name"),
 * enum fields holding a value the enum does not define, plus the runtime
 * helpers of validate.c (path nesting and truncation, UTF-8 checks and
 * lengths, event lookup) and the room schema tables (sorted ids,
 * defaults, validators only where there are rules). Each check asserts the
 * exact field path and reason, so a wrong bound or path fails it.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kitchen_schema.h"

#define OK(call) assert_int_equal((call), 0)

/* Assert `rc` is a failure at `path` with `reason`. */
static void fails(int rc, const verani_verr *err, const char *path, const char *reason)
{
    assert_int_equal(rc, VERANI_EINVAL);
    assert_string_equal(err->path, path);
    assert_string_equal(err->reason, reason);
}

static uint8_t bytes4[4] = {1, 2, 3, 4};

static Kitchen__Scalars good_scalars(void)
{
    Kitchen__Scalars m = KITCHEN__SCALARS__INIT;
    m.u64 = 1;
    m.s = "abc";
    m.by.len = 1;
    m.by.data = bytes4;
    return m;
}

static void test_scalar_bounds(void **state)
{
    (void)state;
    verani_verr err;
    Kitchen__Scalars m = good_scalars();
    OK(kitchen_validate_scalars(&m, &err));

    m.i32 = -10; OK(kitchen_validate_scalars(&m, &err));
    m.i32 = -11; fails(kitchen_validate_scalars(&m, &err), &err, "i32", "less than -10");
    m.i32 = 10; OK(kitchen_validate_scalars(&m, &err));
    m.i32 = 11; fails(kitchen_validate_scalars(&m, &err), &err, "i32", "greater than 10");
    m = good_scalars();
    m.i64 = -1000000000000; OK(kitchen_validate_scalars(&m, &err));
    m.i64 = -1000000000001;
    fails(kitchen_validate_scalars(&m, &err), &err, "i64", "less than -1000000000000");
    m.i64 = 1000000000000; OK(kitchen_validate_scalars(&m, &err));
    m.i64 = 1000000000001;
    fails(kitchen_validate_scalars(&m, &err), &err, "i64", "greater than 1000000000000");
    m = good_scalars();
    m.u32 = 4000000000u; OK(kitchen_validate_scalars(&m, &err));
    m.u32 = 4000000001u;
    fails(kitchen_validate_scalars(&m, &err), &err, "u32", "greater than 4000000000");
    m = good_scalars();
    m.u64 = 0; fails(kitchen_validate_scalars(&m, &err), &err, "u64", "less than 1");
    m = good_scalars();
    m.s32 = -5; OK(kitchen_validate_scalars(&m, &err));
    m.s32 = -6; fails(kitchen_validate_scalars(&m, &err), &err, "s32", "less than -5");
    m = good_scalars();
    m.s64 = 5; OK(kitchen_validate_scalars(&m, &err));
    m.s64 = 6; fails(kitchen_validate_scalars(&m, &err), &err, "s64", "greater than 5");
    m = good_scalars();
    m.f = 1.5f; OK(kitchen_validate_scalars(&m, &err));
    m.f = -1.5f; OK(kitchen_validate_scalars(&m, &err));
    m.f = 1.5001f; fails(kitchen_validate_scalars(&m, &err), &err, "f", "greater than 1.5");
    m.f = -1.6f; fails(kitchen_validate_scalars(&m, &err), &err, "f", "less than -1.5");
    m.f = NAN; fails(kitchen_validate_scalars(&m, &err), &err, "f", "is not a number");
    m = good_scalars();
    m.d = 0; OK(kitchen_validate_scalars(&m, &err));
    m.d = 1e6; OK(kitchen_validate_scalars(&m, &err));
    m.d = -0.001; fails(kitchen_validate_scalars(&m, &err), &err, "d", "less than 0");
    m.d = 1e6 + 1; fails(kitchen_validate_scalars(&m, &err), &err, "d", "greater than 1e6");
}

static void test_string_and_bytes_lengths(void **state)
{
    (void)state;
    verani_verr err;
    Kitchen__Scalars m = good_scalars();
    m.s = "ab"; OK(kitchen_validate_scalars(&m, &err));
    m.s = "a"; fails(kitchen_validate_scalars(&m, &err), &err, "s", "shorter than 2");
    m.s = ""; fails(kitchen_validate_scalars(&m, &err), &err, "s", "shorter than 2");
    m.s = NULL; fails(kitchen_validate_scalars(&m, &err), &err, "s", "shorter than 2");
    m.s = "12345678"; OK(kitchen_validate_scalars(&m, &err));
    m.s = "123456789"; fails(kitchen_validate_scalars(&m, &err), &err, "s", "longer than 8");
    /* code points, not bytes: 8 x U+00E9 is 16 bytes and passes; 9 fails */
    m.s = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
    OK(kitchen_validate_scalars(&m, &err));
    m.s = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
    fails(kitchen_validate_scalars(&m, &err), &err, "s", "longer than 8");
    /* not UTF-8: refused whatever the count (60 continuation bytes used to count as 0) */
    char cont[61];
    memset(cont, 0x80, 60);
    cont[60] = '\0';
    m.s = cont;
    fails(kitchen_validate_scalars(&m, &err), &err, "s", "is not valid UTF-8 (at byte 0)");
    m.s = "ab\xc0\xaf"; /* an overlong '/' */
    fails(kitchen_validate_scalars(&m, &err), &err, "s", "is not valid UTF-8 (at byte 2)");
    m.s = "\xf0\x9f\x98\x80\xf0\x9f\x98\x80"; OK(kitchen_validate_scalars(&m, &err));
    /* bytes are counted in bytes */
    m = good_scalars();
    m.by.len = 0; fails(kitchen_validate_scalars(&m, &err), &err, "by", "shorter than 1 bytes");
    m.by.len = 4; OK(kitchen_validate_scalars(&m, &err));
    m.by.len = 5; fails(kitchen_validate_scalars(&m, &err), &err, "by", "longer than 4 bytes");
}

/* A Labels message that passes, built on static storage. */
typedef struct labels_fixture {
    Kitchen__Labels m;
    Kitchen__Player opt_m, players[5], *player_ptrs[5], member, *member_ptr, by_name_player;
    Kitchen__Team team;
    int32_t rep_i[4];
    double rep_d[1];
    char *rep_s[1];
    Kitchen__Labels__ScoresEntry scores[3], *score_ptrs[3];
    Kitchen__Labels__ByNameEntry by_name, *by_name_ptr;
    Kitchen__Labels__ColorsEntry color, *color_ptr;
} labels_fixture;

static void labels_init(labels_fixture *f)
{
    static const Kitchen__Labels init = KITCHEN__LABELS__INIT;
    static const Kitchen__Player pinit = KITCHEN__PLAYER__INIT;
    static const Kitchen__Team tinit = KITCHEN__TEAM__INIT;
    static const Kitchen__Labels__ScoresEntry sinit = KITCHEN__LABELS__SCORES_ENTRY__INIT;
    static const Kitchen__Labels__ByNameEntry binit = KITCHEN__LABELS__BY_NAME_ENTRY__INIT;
    static const Kitchen__Labels__ColorsEntry cinit = KITCHEN__LABELS__COLORS_ENTRY__INIT;
    memset(f, 0, sizeof(*f));
    f->m = init;
    f->m.has_opt_i = 1;
    f->m.has_opt_b = 1;
    f->m.opt_b.len = 1;
    f->m.opt_b.data = bytes4;
    f->opt_m = pinit;
    f->opt_m.name = "opt";
    f->m.opt_m = &f->opt_m;
    f->rep_s[0] = "x";
    f->m.n_rep_s = 1;
    f->m.rep_s = f->rep_s;
    f->m.rep_i = f->rep_i;
    f->m.rep_d = f->rep_d;
    for (int i = 0; i < 5; i++) {
        f->players[i] = pinit;
        f->players[i].name = "p";
        f->player_ptrs[i] = &f->players[i];
    }
    f->m.players = f->player_ptrs;
    for (int i = 0; i < 3; i++) {
        f->scores[i] = sinit;
        f->score_ptrs[i] = &f->scores[i];
    }
    f->m.scores = f->score_ptrs;
    f->by_name = binit;
    f->by_name_player = pinit;
    f->by_name_player.name = "v";
    f->by_name.value = &f->by_name_player;
    f->by_name_ptr = &f->by_name;
    f->m.by_name = &f->by_name_ptr;
    f->color = cinit;
    f->color_ptr = &f->color;
    f->m.n_colors = 1;
    f->m.colors = &f->color_ptr;
    f->team = tinit;
    f->member = pinit;
    f->member.name = "m";
    f->member_ptr = &f->member;
    f->m.name = "labels";
}

static void test_optional_and_required(void **state)
{
    (void)state;
    verani_verr err;
    labels_fixture f;
    labels_init(&f);
    OK(kitchen_validate_labels(&f.m, &err));

    f.m.has_opt_i = 0;
    fails(kitchen_validate_labels(&f.m, &err), &err, "opt_i", "is required");
    f.m.has_opt_i = 1;
    f.m.opt_i = -1;
    fails(kitchen_validate_labels(&f.m, &err), &err, "opt_i", "less than 0");
    labels_init(&f);
    f.m.opt_s = NULL; OK(kitchen_validate_labels(&f.m, &err)); /* absent: no length rule */
    f.m.opt_s = "abc"; OK(kitchen_validate_labels(&f.m, &err));
    f.m.opt_s = "abcd";
    fails(kitchen_validate_labels(&f.m, &err), &err, "opt_s", "longer than 3");
    labels_init(&f);
    f.m.has_opt_b = 0;
    fails(kitchen_validate_labels(&f.m, &err), &err, "opt_b", "is required");
    f.m.has_opt_b = 1;
    f.m.opt_b.len = 0;
    fails(kitchen_validate_labels(&f.m, &err), &err, "opt_b", "is required");
    f.m.opt_b.len = 2; OK(kitchen_validate_labels(&f.m, &err));
    f.m.opt_b.len = 3;
    fails(kitchen_validate_labels(&f.m, &err), &err, "opt_b", "longer than 2 bytes");
    labels_init(&f);
    f.m.opt_m = NULL;
    fails(kitchen_validate_labels(&f.m, &err), &err, "opt_m", "is required");
    labels_init(&f);
    f.m.name = "";
    fails(kitchen_validate_labels(&f.m, &err), &err, "name", "is required");
    f.m.name = NULL;
    fails(kitchen_validate_labels(&f.m, &err), &err, "name", "is required");
    labels_init(&f);
    f.m.n_rep_s = 0;
    fails(kitchen_validate_labels(&f.m, &err), &err, "rep_s", "must not be empty");
    labels_init(&f);
    f.m.n_colors = 0;
    fails(kitchen_validate_labels(&f.m, &err), &err, "colors", "must not be empty");
}

static void test_repeated_and_map(void **state)
{
    (void)state;
    verani_verr err;
    labels_fixture f;
    labels_init(&f);
    f.m.n_rep_i = 3;
    f.rep_i[0] = 0;
    f.rep_i[1] = 9;
    OK(kitchen_validate_labels(&f.m, &err));
    f.m.n_rep_i = 4;
    fails(kitchen_validate_labels(&f.m, &err), &err, "rep_i", "more than 3 items");
    f.m.n_rep_i = 3;
    f.rep_i[2] = 10;
    fails(kitchen_validate_labels(&f.m, &err), &err, "rep_i[2]", "greater than 9");
    f.rep_i[2] = -1;
    fails(kitchen_validate_labels(&f.m, &err), &err, "rep_i[2]", "less than 0");
    labels_init(&f);
    f.m.n_rep_d = 1;
    f.rep_d[0] = 2.5; OK(kitchen_validate_labels(&f.m, &err));
    f.rep_d[0] = 2.6;
    fails(kitchen_validate_labels(&f.m, &err), &err, "rep_d[0]", "greater than 2.5");
    f.rep_d[0] = NAN;
    fails(kitchen_validate_labels(&f.m, &err), &err, "rep_d[0]", "is not a number");
    labels_init(&f);
    f.m.n_players = 4; OK(kitchen_validate_labels(&f.m, &err));
    f.m.n_players = 5;
    fails(kitchen_validate_labels(&f.m, &err), &err, "players", "more than 4 items");
    f.m.n_players = 4;
    f.players[3].name = "123456789012345678901234567890123"; /* 33 */
    fails(kitchen_validate_labels(&f.m, &err), &err, "players[3].name", "longer than 32");
    f.players[3].name = "12345678901234567890123456789012"; /* 32 */
    OK(kitchen_validate_labels(&f.m, &err));
    labels_init(&f);
    f.m.n_scores = 2; OK(kitchen_validate_labels(&f.m, &err));
    f.m.n_scores = 3;
    fails(kitchen_validate_labels(&f.m, &err), &err, "scores", "more than 2 items");
    labels_init(&f);
    f.m.n_by_name = 1; OK(kitchen_validate_labels(&f.m, &err));
    f.by_name_player.level = 100;
    fails(kitchen_validate_labels(&f.m, &err), &err, "by_name[0].value.level",
          "greater than 99");
}

static void test_nested_paths(void **state)
{
    (void)state;
    verani_verr err;
    labels_fixture f;
    labels_init(&f);
    /* players[1].team.members[0].level: through a message cycle Player -> Team -> Player */
    f.m.n_players = 2;
    f.players[1].team = &f.team;
    f.team.n_members = 1;
    f.team.members = &f.member_ptr;
    OK(kitchen_validate_labels(&f.m, &err));
    f.member.level = 100;
    fails(kitchen_validate_labels(&f.m, &err), &err, "players[1].team.members[0].level",
          "greater than 99");
    f.member.level = 99;
    f.team.tag = "ABCDE";
    fails(kitchen_validate_labels(&f.m, &err), &err, "players[1].team.tag", "longer than 4");
    labels_init(&f);
    f.opt_m.name = "";
    fails(kitchen_validate_labels(&f.m, &err), &err, "opt_m.name", "is required");
    labels_init(&f);
    f.m.leader = &f.players[0];
    f.players[0].level = 1000;
    fails(kitchen_validate_labels(&f.m, &err), &err, "leader.level", "greater than 99");
}

static void test_meta_and_tables(void **state)
{
    (void)state;
    verani_verr err;
    Kitchen__LobbyMeta meta = KITCHEN__LOBBY_META__INIT;
    meta.nick = "nick";
    OK(kitchen_validate_lobby_meta(&meta, &err));
    meta.age = 12; /* not present: no rule */
    OK(kitchen_validate_lobby_meta(&meta, &err));
    meta.has_age = 1;
    fails(kitchen_validate_lobby_meta(&meta, &err), &err, "age", "less than 13");
    meta.age = 13;
    OK(kitchen_validate_lobby_meta(&meta, &err));
    meta.nick = "12345678901234567";
    fails(kitchen_validate_lobby_meta(&meta, &err), &err, "nick", "longer than 16");

    /* The room schema as the runtime sees it. */
    const verani_room_schema *s = &kitchen_lobby_schema;
    assert_string_equal(s->name, "Lobby");
    assert_string_equal(s->path, "/");
    assert_int_equal(s->n_channels, 3);
    assert_string_equal(s->channels[2], "room:1");
    assert_int_equal(s->max_frame, 16777216);
    assert_int_equal(s->rate, 1);
    assert_int_equal(s->burst, 1);
    assert_ptr_equal(s->meta, &kitchen__lobby_meta__descriptor);
    assert_non_null(s->validate_meta);
    assert_int_equal(s->n_on, 6);
    for (size_t i = 1; i < s->n_on; i++)
        assert_true(s->on[i - 1].id < s->on[i].id);
    assert_int_equal(s->on[0].id, KITCHEN_LOBBY_ON_PING);
    assert_null(s->on[0].in);
    assert_int_equal(s->on[5].id, 7);
    assert_string_equal(s->on[5].name, "join.game");
    assert_ptr_equal(s->on[5].out, &kitchen__team__descriptor);
    assert_int_equal(s->n_emit, 4);
    assert_string_equal(s->fingerprint, KITCHEN_SCHEMA_FINGERPRINT);
    assert_int_equal(strlen(KITCHEN_SCHEMA_FINGERPRINT), 16);

    /* Validators only where a type has rules, and they work through the table. */
    const verani_event_def *nothing = verani_event_find(s->emit, s->n_emit,
                                                        KITCHEN_LOBBY_EMIT_PING);
    assert_non_null(nothing);
    assert_null(nothing->validate_in); /* Nothing has no fields */
    const verani_event_def *plain = verani_event_find(s->on, s->n_on, KITCHEN_LOBBY_ON_PLAIN);
    assert_non_null(plain);
    assert_non_null(plain->validate_in); /* its enum field is checked */
    const verani_event_def *echo = verani_event_find(s->on, s->n_on,
                                                     KITCHEN_LOBBY_ON_ECHO_ALL_TYPES);
    assert_non_null(echo);
    assert_non_null(echo->validate_in);
    assert_non_null(echo->validate_out);
    Kitchen__Scalars sc = good_scalars();
    OK(echo->validate_in(&sc.base, &err));
    sc.i32 = 99;
    fails(echo->validate_in(&sc.base, &err), &err, "i32", "greater than 10");
    meta.nick = NULL;
    fails(s->validate_meta(&meta.base, &err), &err, "nick", "is required");

    /* Defaults of a room that sets nothing; a room with no events. */
    const verani_room_schema *g = &kitchen_game_lobby_schema;
    assert_string_equal(g->path, "/ws");
    assert_int_equal(g->n_channels, 1);
    assert_string_equal(g->channels[0], "default");
    assert_int_equal(g->max_frame, 65536);
    assert_int_equal(g->rate, 0);
    assert_int_equal(g->burst, 0);
    assert_null(g->validate_meta);
    assert_int_equal(g->on[0].id, 536870911u);
    assert_null(kitchen_quiet_schema.on);
    assert_int_equal(kitchen_quiet_schema.n_on, 0);
    assert_null(kitchen_quiet_schema.emit);
}

static void test_enum_values(void **state)
{
    (void)state;
    verani_verr err;
    Kitchen__Scalars m = good_scalars();
    m.color = KITCHEN__COLOR__BLUE; /* -1 */
    OK(kitchen_validate_scalars(&m, &err));
    m.color = (Kitchen__Color)7;
    fails(kitchen_validate_scalars(&m, &err), &err, "color", "unknown value 7");

    labels_fixture f;
    labels_init(&f);
    f.m.opt_e = (Kitchen__Color)5; /* not present: not checked */
    OK(kitchen_validate_labels(&f.m, &err));
    f.m.has_opt_e = 1;
    fails(kitchen_validate_labels(&f.m, &err), &err, "opt_e", "unknown value 5");
    f.m.opt_e = KITCHEN__COLOR__GREEN;
    OK(kitchen_validate_labels(&f.m, &err));

    Kitchen__Color palette[2] = {KITCHEN__COLOR__RED, (Kitchen__Color)9};
    f.m.palette = palette;
    f.m.n_palette = 1;
    OK(kitchen_validate_labels(&f.m, &err));
    f.m.n_palette = 2;
    fails(kitchen_validate_labels(&f.m, &err), &err, "palette[1]", "unknown value 9");
    f.m.n_palette = 0;
    f.color.value = (Kitchen__Color)42;
    fails(kitchen_validate_labels(&f.m, &err), &err, "colors[0].value", "unknown value 42");
}

static void test_runtime_helpers(void **state)
{
    (void)state;
    verani_verr err;
    assert_int_equal(verani_utf8_len(NULL), 0);
    assert_int_equal(verani_utf8_len(""), 0);
    assert_int_equal(verani_utf8_len("abc"), 3);
    assert_int_equal(verani_utf8_len("\xe2\x98\x83\xf0\x9f\x98\x80"), 2); /* 3 + 4 bytes */
    /* not UTF-8 is SIZE_MAX, so an old max_len check refuses it */
    static const char *const bad[] = {
        "\x80", "a\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80",
        "\xed\xbf\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80",
        "\xff", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xc3\x28", "\xe2\x28\xa1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(verani_utf8_len(bad[i]), SIZE_MAX);
    static const char *const good[] = {
        "\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
        "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(verani_utf8_len(good[i]), 1);
    /* verani_check_string: bounds in code points, NULL as "", the first bad byte named */
    OK(verani_check_string(&err, "f", NULL, 0, 0));
    fails(verani_check_string(&err, "f", NULL, 1, VERANI_LEN_NONE), &err, "f", "shorter than 1");
    OK(verani_check_string(&err, "f", "\xc3\xa9\xc3\xa9", 2, 2));
    fails(verani_check_string(&err, "f", "\xc3\xa9\xc3\xa9x", 2, 2), &err, "f",
          "longer than 2");
    fails(verani_check_string(&err, "f", "\xc3\xa9", 2, 2), &err, "f", "shorter than 2");
    fails(verani_check_string(&err, "f", "ok\xff", 0, VERANI_LEN_NONE), &err, "f",
          "is not valid UTF-8 (at byte 2)");
    /* past max_len + 1 code points nothing more is read: too long wins over what follows */
    fails(verani_check_string(&err, "f", "abc\xff", 0, 1), &err, "f", "longer than 1");
    OK(verani_check_string(&err, "f", "", 0, 0));

    fails(verani_verr_fail(&err, "name", "longer than %d", 32), &err, "name", "longer than 32");
    fails(verani_verr_nest(&err, "players", 3), &err, "players[3].name", "longer than 32");
    fails(verani_verr_nest(&err, "team", -1), &err, "team.players[3].name", "longer than 32");
    verani_verr_fail(&err, NULL, "bad");
    fails(verani_verr_nest(&err, "xs", 0), &err, "xs[0]", "bad");
    fails(verani_verr_nest(&err, "m", 2), &err, "m[2].xs[0]", "bad");

    /* Deep nesting is cut at the buffer, never overrun. */
    verani_verr_fail(&err, "leaf", "deep");
    for (int i = 0; i < 200; i++)
        verani_verr_nest(&err, "level", i);
    assert_int_equal(strlen(err.path), VERANI_VERR_PATH_MAX - 1);
    assert_string_equal(err.reason, "deep");
    char longf[400];
    memset(longf, 'x', sizeof(longf) - 1);
    longf[sizeof(longf) - 1] = '\0';
    verani_verr_fail(&err, longf, "%s", longf);
    assert_int_equal(strlen(err.path), VERANI_VERR_PATH_MAX - 1);
    assert_int_equal(strlen(err.reason), VERANI_VERR_REASON_MAX - 1);

    const verani_event_def *t = kitchen_lobby_on_events;
    size_t n = kitchen_lobby_schema.n_on;
    for (size_t i = 0; i < n; i++)
        assert_ptr_equal(verani_event_find(t, n, t[i].id), &t[i]);
    assert_null(verani_event_find(t, n, 0));
    assert_null(verani_event_find(t, n, 6));
    assert_null(verani_event_find(t, n, 8));
    assert_null(verani_event_find(t, 0, 1));
    assert_null(verani_event_find(NULL, 0, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_bounds),
        cmocka_unit_test(test_string_and_bytes_lengths),
        cmocka_unit_test(test_optional_and_required),
        cmocka_unit_test(test_repeated_and_map),
        cmocka_unit_test(test_nested_paths),
        cmocka_unit_test(test_meta_and_tables),
        cmocka_unit_test(test_enum_values),
        cmocka_unit_test(test_runtime_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
