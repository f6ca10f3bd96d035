/* SPDX-License-Identifier: MIT */
/*
 * test_storage.c: room storage and the session store (storage.c,
 * storage_sqlite.c) on real SQLite files in a temporary directory and on
 * ":memory:": get/put/delete, prefix lists ('%' and '_' in prefixes, binary
 * and 0xff keys, paging, limits), large values, namespaces, transactions that
 * fail halfway (by the caller, by a doomed call, by a full disk simulated with
 * RLIMIT_FSIZE), nested savepoints, a busy lock, data surviving close and
 * reopen, corrupt and foreign files, a newer schema, a read-only file and
 * directory, and the session store round trip with retention bounds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "envelope.pb-c.h"
#include "storage/storage-private.h"

static char tmpdir[256];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    chmod(p, 0700);
    return remove(p);
}

static int setup_dir(void **state)
{
    const char *base = getenv("TMPDIR");

    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "%s/verani-storage-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    /* Read-only subdirectories must become writable before their files go. */
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void path_in(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", tmpdir, name);
}

static verani_storage_db *open_path(const char *path)
{
    verani_storage_options o;
    char err[512];
    verani_storage_db *db;

    verani_storage_options_init(&o);
    o.path = path;
    db = verani_storage_db_open(&o, err, sizeof(err));
    if (!db)
        fail_msg("open %s: %s", path ? path : "(null)", err);
    return db;
}

static int put_s(verani_storage *st, const char *k, const char *v)
{
    return verani_storage_put(st, k, strlen(k), v, strlen(v));
}

/* The value of `k` as a string in a static buffer, or NULL when absent. */
static const char *get_s(verani_storage *st, const char *k)
{
    static char buf[256];
    uint8_t *v = NULL;
    size_t n = 0;
    int rc = verani_storage_get(st, k, strlen(k), &v, &n);

    if (rc == VERANI_ENOTFOUND)
        return NULL;
    assert_int_equal(rc, 0);
    assert_true(n < sizeof(buf));
    memcpy(buf, v, n + 1); /* the extra NUL comes along */
    verani_storage_free(v);
    return buf;
}

static void test_get_put_delete(void **state)
{
    verani_storage_db *db = open_path(NULL);
    verani_storage *st = verani_storage_open(db, "Chat", "lobby");
    uint8_t *v = (uint8_t *)"x";
    size_t n = 99;

    (void)state;
    assert_non_null(st);
    assert_null(get_s(st, "a"));
    assert_int_equal(verani_storage_get(st, "a", 1, &v, &n), VERANI_ENOTFOUND);
    assert_null(v);
    assert_int_equal(n, 0);
    assert_string_equal(verani_storage_last_error(st), "storage: no such key");
    assert_int_equal(put_s(st, "a", "one"), 0);
    assert_string_equal(get_s(st, "a"), "one");
    assert_int_equal(put_s(st, "a", "two"), 0); /* overwrite */
    assert_string_equal(get_s(st, "a"), "two");
    /* existence test without a buffer */
    assert_int_equal(verani_storage_get(st, "a", 1, NULL, &n), 0);
    assert_int_equal(n, 3);
    /* empty value and empty key are ordinary */
    assert_int_equal(verani_storage_put(st, "e", 1, NULL, 0), 0);
    assert_string_equal(get_s(st, "e"), "");
    assert_int_equal(verani_storage_put(st, "", 0, "root", 4), 0);
    assert_string_equal(get_s(st, ""), "root");
    assert_int_equal(verani_storage_delete(st, "a", 1), 0);
    assert_null(get_s(st, "a"));
    assert_int_equal(verani_storage_delete(st, "a", 1), VERANI_ENOTFOUND);
    /* bad arguments */
    assert_int_equal(verani_storage_put(st, NULL, 3, "x", 1), VERANI_EINVAL);
    assert_int_equal(verani_storage_put(st, "k", 1, NULL, 3), VERANI_EINVAL);
    assert_int_equal(verani_storage_get(NULL, "k", 1, NULL, NULL), VERANI_EINVAL);
    assert_null(verani_storage_open(db, "", "lobby"));
    assert_null(verani_storage_open(db, "Chat", NULL));
    verani_storage_close(st);
    verani_storage_db_close(db);
}

static void test_namespaces(void **state)
{
    verani_storage_db *db = open_path(":memory:");
    verani_storage *a = verani_storage_open(db, "Chat", "lobby");
    verani_storage *b = verani_storage_open(db, "Chat", "games");
    verani_storage *c = verani_storage_open(db, "Presence", "lobby");
    verani_storage *a2 = verani_storage_open(db, "Chat", "lobby");

    (void)state;
    assert_int_equal(put_s(a, "k", "A"), 0);
    assert_int_equal(put_s(b, "k", "B"), 0);
    assert_null(get_s(c, "k"));
    assert_string_equal(get_s(a, "k"), "A");
    assert_string_equal(get_s(b, "k"), "B");
    assert_string_equal(get_s(a2, "k"), "A"); /* a second handle on the same instance */
    verani_storage_close(a);
    verani_storage_close(b);
    /* c and a2 left open: closing the database closes them (no leak under ASan) */
    verani_storage_db_close(db);
}

struct seen {
    char keys[32][64];
    size_t klen[32];
    int n;
    int stop_at;
    verani_storage *st;
    int write_rc;
};

static int collect(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *user)
{
    struct seen *s = user;

    (void)v;
    (void)vl;
    assert_true(s->n < 32 && kl < 64);
    memcpy(s->keys[s->n], k, kl);
    s->keys[s->n][kl] = 0;
    s->klen[s->n] = kl;
    s->n++;
    if (s->st)
        s->write_rc = put_s(s->st, "from-callback", "x");
    return s->stop_at && s->n == s->stop_at;
}

static void test_list_prefix(void **state)
{
    static const char *const keys[] = {"b", "a_b", "a%", "", "abc", "a", "a%b", "a_", "ab",
                                       "ax%", "A"};
    verani_storage_db *db = open_path(NULL);
    verani_storage *st = verani_storage_open(db, "Chat", "lobby");
    struct seen s;
    size_t i;
    int rc;

    (void)state;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_int_equal(put_s(st, keys[i], keys[i]), 0);
    /* another instance's keys never show */
    assert_int_equal(put_s(verani_storage_open(db, "Chat", "other"), "a%zzz", "no"), 0);

    memset(&s, 0, sizeof(s));
    rc = verani_storage_list(st, "a%", 2, NULL, 0, 0, collect, &s);
    assert_int_equal(rc, 2);
    assert_string_equal(s.keys[0], "a%");
    assert_string_equal(s.keys[1], "a%b");

    memset(&s, 0, sizeof(s));
    rc = verani_storage_list(st, "a_", 2, NULL, 0, 0, collect, &s);
    assert_int_equal(rc, 2);
    assert_string_equal(s.keys[0], "a_");
    assert_string_equal(s.keys[1], "a_b");

    /* empty prefix: every key of the instance, in byte order */
    memset(&s, 0, sizeof(s));
    rc = verani_storage_list(st, NULL, 0, NULL, 0, 0, collect, &s);
    assert_int_equal(rc, 11);
    assert_int_equal(s.klen[0], 0);
    assert_string_equal(s.keys[1], "A");
    assert_string_equal(s.keys[2], "a");
    assert_string_equal(s.keys[3], "a%");
    assert_string_equal(s.keys[4], "a%b");
    assert_string_equal(s.keys[5], "a_");
    assert_string_equal(s.keys[6], "a_b");
    assert_string_equal(s.keys[7], "ab");
    assert_string_equal(s.keys[8], "abc");
    assert_string_equal(s.keys[9], "ax%");
    assert_string_equal(s.keys[10], "b");

    /* bounded, then paged with `after` */
    memset(&s, 0, sizeof(s));
    rc = verani_storage_list(st, "a", 1, NULL, 0, 3, collect, &s);
    assert_int_equal(rc, 3);
    assert_string_equal(s.keys[2], "a%b");
    memset(&s, 0, sizeof(s));
    rc = verani_storage_list(st, "a", 1, "a%b", 3, 3, collect, &s);
    assert_int_equal(rc, 3);
    assert_string_equal(s.keys[0], "a_");
    assert_string_equal(s.keys[2], "ab");
    memset(&s, 0, sizeof(s));
    rc = verani_storage_list(st, "a", 1, "ab", 2, 3, collect, &s);
    assert_int_equal(rc, 2);
    assert_string_equal(s.keys[0], "abc");
    assert_string_equal(s.keys[1], "ax%");
    /* `after` before the prefix range changes nothing; past it gives nothing */
    memset(&s, 0, sizeof(s));
    assert_int_equal(verani_storage_list(st, "ab", 2, "A", 1, 0, collect, &s), 2);
    memset(&s, 0, sizeof(s));
    assert_int_equal(verani_storage_list(st, "ab", 2, "b", 1, 0, collect, &s), 0);
    /* a prefix nothing has */
    memset(&s, 0, sizeof(s));
    assert_int_equal(verani_storage_list(st, "zz", 2, NULL, 0, 0, collect, &s), 0);

    /* the callback stops it */
    memset(&s, 0, sizeof(s));
    s.stop_at = 2;
    assert_int_equal(verani_storage_list(st, NULL, 0, NULL, 0, 0, collect, &s), 2);

    /* a write from the callback is refused, and the store is fine after */
    memset(&s, 0, sizeof(s));
    s.st = st;
    s.stop_at = 1;
    assert_int_equal(verani_storage_list(st, NULL, 0, NULL, 0, 0, collect, &s), 1);
    assert_int_equal(s.write_rc, VERANI_ESTATE);
    assert_non_null(strstr(verani_storage_last_error(st), "list callback"));
    assert_null(get_s(st, "from-callback"));
    assert_int_equal(put_s(st, "after", "ok"), 0);

    assert_int_equal(verani_storage_list(st, NULL, 0, NULL, 0, 0, NULL, NULL), VERANI_EINVAL);
    verani_storage_db_close(db);
}

static void test_binary_keys(void **state)
{
    static const uint8_t k1[] = {0x61, 0xff}, k2[] = {0x61, 0xff, 0x00},
                         k3[] = {0x61, 0xff, 0xff, 0x01}, k4[] = {0x62},
                         k5[] = {0xff, 0xff}, k6[] = {0x00, 0x00, 0x01}, k7[] = {0x00};
    verani_storage_db *db = open_path(NULL);
    verani_storage *st = verani_storage_open(db, "Bin", "i");
    uint8_t all[256], *v;
    size_t n, i;
    struct seen s;

    (void)state;
    for (i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    assert_int_equal(verani_storage_put(st, k1, sizeof(k1), all, 256), 0);
    assert_int_equal(verani_storage_put(st, k2, sizeof(k2), all, 1), 0);
    assert_int_equal(verani_storage_put(st, k3, sizeof(k3), all, 2), 0);
    assert_int_equal(verani_storage_put(st, k4, sizeof(k4), all, 3), 0);
    assert_int_equal(verani_storage_put(st, k5, sizeof(k5), all, 4), 0);
    assert_int_equal(verani_storage_put(st, k6, sizeof(k6), all, 5), 0);
    assert_int_equal(verani_storage_put(st, k7, sizeof(k7), all, 6), 0);
    assert_int_equal(verani_storage_get(st, k1, sizeof(k1), &v, &n), 0);
    assert_int_equal(n, 256);
    assert_memory_equal(v, all, 256);
    verani_storage_free(v);
    /* keys differing only after a NUL are distinct */
    assert_int_equal(verani_storage_get(st, k7, sizeof(k7), &v, &n), 0);
    assert_int_equal(n, 6);
    verani_storage_free(v);

    /* a prefix ending in 0xff: its upper bound carries into the byte before */
    memset(&s, 0, sizeof(s));
    assert_int_equal(verani_storage_list(st, k1, sizeof(k1), NULL, 0, 0, collect, &s), 3);
    assert_int_equal(s.klen[0], 2);
    assert_int_equal(s.klen[1], 3);
    assert_int_equal(s.klen[2], 4);
    /* an all-0xff prefix has no upper bound */
    memset(&s, 0, sizeof(s));
    assert_int_equal(verani_storage_list(st, k5, 1, NULL, 0, 0, collect, &s), 1);
    assert_int_equal(s.klen[0], 2);
    /* a prefix holding NUL bytes */
    memset(&s, 0, sizeof(s));
    assert_int_equal(verani_storage_list(st, k6, 2, NULL, 0, 0, collect, &s), 1);
    memset(&s, 0, sizeof(s));
    assert_int_equal(verani_storage_list(st, k7, 1, NULL, 0, 0, collect, &s), 2);
    verani_storage_db_close(db);
}

static void test_large_values(void **state)
{
    char path[512];
    verani_storage_db *db;
    verani_storage *st;
    size_t big = 8u << 20, n, i;
    uint8_t *val = malloc(big), *got;
    uint8_t key[VERANI_STORAGE_KEY_MAX + 1];

    (void)state;
    assert_non_null(val);
    for (i = 0; i < big; i++)
        val[i] = (uint8_t)(i * 2654435761u >> 13);
    path_in(path, sizeof(path), "large.db");
    db = open_path(path);
    st = verani_storage_open(db, "Big", "one");
    assert_int_equal(verani_storage_put(st, "big", 3, val, big), 0);
    assert_int_equal(verani_storage_get(st, "big", 3, &got, &n), 0);
    assert_int_equal(n, big);
    assert_memory_equal(got, val, big);
    verani_storage_free(got);
    /* the longest key works, one byte more does not */
    memset(key, 'k', sizeof(key));
    assert_int_equal(verani_storage_put(st, key, VERANI_STORAGE_KEY_MAX, "v", 1), 0);
    assert_int_equal(verani_storage_put(st, key, sizeof(key), "v", 1), VERANI_ETOOBIG);
    assert_non_null(strstr(verani_storage_last_error(st), "over the limit"));
    assert_int_equal(verani_storage_get(st, key, sizeof(key), NULL, NULL), VERANI_ETOOBIG);
    verani_storage_db_close(db);
    free(val);
}

static int txn_two_then_fail(verani_storage *st, void *user)
{
    (void)user;
    assert_int_equal(put_s(st, "t1", "one"), 0);
    assert_int_equal(verani_storage_delete(st, "keep", 4), 0);
    assert_int_equal(put_s(st, "t2", "two"), 0);
    return VERANI_EHANDLER;
}

static int txn_ok(verani_storage *st, void *user)
{
    (void)user;
    return put_s(st, "t3", "three");
}

static void test_transactions(void **state)
{
    verani_storage_db *db = open_path(NULL);
    verani_storage *st = verani_storage_open(db, "Tx", "i");
    uint8_t big[VERANI_STORAGE_KEY_MAX + 1] = {0};

    (void)state;
    assert_int_equal(put_s(st, "keep", "k"), 0);
    /* the callback fails halfway: nothing of it stays */
    assert_int_equal(verani_storage_txn(st, txn_two_then_fail, NULL), VERANI_EHANDLER);
    assert_null(get_s(st, "t1"));
    assert_null(get_s(st, "t2"));
    assert_string_equal(get_s(st, "keep"), "k");
    assert_int_equal(verani_storage_txn(st, txn_ok, NULL), 0);
    assert_string_equal(get_s(st, "t3"), "three");

    /* a call that fails dooms the transaction even if the caller commits */
    assert_int_equal(verani_storage_begin(st), 0);
    assert_int_equal(put_s(st, "d1", "x"), 0);
    assert_int_equal(verani_storage_put(st, big, sizeof(big), "v", 1), VERANI_ETOOBIG);
    assert_int_equal(put_s(st, "d2", "x"), VERANI_ETOOBIG); /* later writes are refused */
    assert_int_equal(verani_storage_begin(st), VERANI_ETOOBIG);
    assert_int_equal(verani_storage_commit(st), VERANI_ETOOBIG);
    assert_non_null(strstr(verani_storage_last_error(st), "rolled back"));
    assert_null(get_s(st, "d1"));
    assert_null(get_s(st, "d2"));
    /* a failure inside a nested level dooms the whole transaction */
    assert_int_equal(verani_storage_begin(st), 0);
    assert_int_equal(put_s(st, "d4", "x"), 0);
    assert_int_equal(verani_storage_begin(st), 0);
    assert_int_equal(verani_storage_put(st, big, sizeof(big), "v", 1), VERANI_ETOOBIG);
    assert_int_equal(verani_storage_commit(st), VERANI_ETOOBIG);
    assert_int_equal(verani_storage_commit(st), VERANI_ETOOBIG);
    assert_null(get_s(st, "d4"));
    assert_int_equal(verani_storage_commit(st), VERANI_ESTATE); /* all levels closed */
    /* a missing key is not a failure */
    assert_int_equal(verani_storage_begin(st), 0);
    assert_int_equal(verani_storage_delete(st, "nope", 4), VERANI_ENOTFOUND);
    assert_int_equal(put_s(st, "d3", "x"), 0);
    assert_int_equal(verani_storage_commit(st), 0);
    assert_string_equal(get_s(st, "d3"), "x");

    /* nesting: an inner rollback undoes only the inner part */
    assert_int_equal(verani_storage_begin(st), 0);
    assert_int_equal(put_s(st, "n1", "outer"), 0);
    assert_int_equal(verani_storage_begin(st), 0);
    assert_int_equal(put_s(st, "n2", "inner"), 0);
    assert_int_equal(verani_storage_rollback(st), 0);
    assert_int_equal(verani_storage_begin(st), 0);
    assert_int_equal(put_s(st, "n3", "inner kept"), 0);
    assert_int_equal(verani_storage_commit(st), 0);
    assert_int_equal(verani_storage_commit(st), 0);
    assert_string_equal(get_s(st, "n1"), "outer");
    assert_null(get_s(st, "n2"));
    assert_string_equal(get_s(st, "n3"), "inner kept");
    /* an outer rollback undoes a committed inner level too */
    assert_int_equal(verani_storage_begin(st), 0);
    assert_int_equal(verani_storage_begin(st), 0);
    assert_int_equal(put_s(st, "n4", "x"), 0);
    assert_int_equal(verani_storage_commit(st), 0);
    assert_int_equal(verani_storage_rollback(st), 0);
    assert_null(get_s(st, "n4"));

    assert_int_equal(verani_storage_commit(st), VERANI_ESTATE);
    assert_int_equal(verani_storage_rollback(st), VERANI_ESTATE);
    /* a transaction left open (by a handler) is rolled back by the server's abandon */
    assert_int_equal(vr_db_abandon(db), 0);
    assert_int_equal(verani_storage_begin(st), 0);
    assert_int_equal(verani_storage_begin(st), 0);
    assert_int_equal(put_s(st, "left", "open"), 0);
    assert_int_equal(vr_db_abandon(db), 2);
    assert_non_null(strstr(verani_storage_last_error(st), "left open (2 levels)"));
    assert_null(get_s(st, "left"));
    assert_int_equal(verani_storage_commit(st), VERANI_ESTATE);
    /* closing with a transaction open rolls it back */
    assert_int_equal(verani_storage_begin(st), 0);
    verani_storage_db_close(db);
}

static void test_survives_reopen_wal(void **state)
{
    char path[512], wal[600];
    verani_storage_db *db;
    verani_storage *st;
    sqlite3 *h;
    sqlite3_stmt *s;

    (void)state;
    path_in(path, sizeof(path), "persist.db");
    db = open_path(path);
    st = verani_storage_open(db, "Chat", "lobby");
    assert_int_equal(put_s(st, "history/1", "hello"), 0);
    assert_int_equal(put_s(st, "history/2", "world"), 0);
    assert_int_equal(verani_storage_delete(st, "history/1", 9), 0);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    assert_int_equal(access(wal, F_OK), 0); /* WAL mode by default */
    verani_storage_close(st);
    verani_storage_db_close(db);

    db = open_path(path);
    st = verani_storage_open(db, "Chat", "lobby");
    assert_null(get_s(st, "history/1"));
    assert_string_equal(get_s(st, "history/2"), "world");
    verani_storage_db_close(db);

    /* the file is an ordinary SQLite database in WAL mode, schema version 4 */
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 4);
    sqlite3_finalize(s);
    sqlite3_close(h);
}

static void test_corrupt_and_foreign_files(void **state)
{
    char path[512], err[512];
    verani_storage_options o;
    verani_storage_db *db;
    verani_storage *st;
    uint8_t junk[8192];
    struct stat sb;
    char key[32], val[200];
    off_t off;
    int fd, i, rc, saw_corrupt = 0;
    struct seen s;

    (void)state;
    /* a file that is not a database */
    path_in(path, sizeof(path), "junk.db");
    memset(junk, 0xab, sizeof(junk));
    fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);
    verani_storage_options_init(&o);
    o.path = path;
    assert_null(verani_storage_db_open(&o, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "not a SQLite database"));

    /* a real database whose pages were overwritten */
    path_in(path, sizeof(path), "corrupt.db");
    o.path = path;
    o.no_wal = 1; /* everything in the main file once closed */
    db = verani_storage_db_open(&o, err, sizeof(err));
    assert_non_null(db);
    st = verani_storage_open(db, "C", "i");
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = 0;
    assert_int_equal(verani_storage_begin(st), 0);
    for (i = 0; i < 400; i++) {
        snprintf(key, sizeof(key), "key/%04d", i);
        assert_int_equal(put_s(st, key, val), 0);
    }
    assert_int_equal(verani_storage_commit(st), 0);
    verani_storage_db_close(db);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size > 8 * 4096);
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    /* every page after the first two: the b-tree pages of the key table */
    for (off = 2 * 4096; off + 4096 <= sb.st_size; off += 4096)
        assert_int_equal(pwrite(fd, junk, 4096, off), 4096);
    close(fd);
    db = verani_storage_db_open(&o, err, sizeof(err));
    if (!db) {
        saw_corrupt = strstr(err, "corrupt") != NULL;
    } else {
        st = verani_storage_open(db, "C", "i");
        if (!st) {
            saw_corrupt = strstr(verani_storage_db_last_error(db), "corrupt") != NULL;
        } else {
            memset(&s, 0, sizeof(s));
            s.stop_at = 32;
            rc = verani_storage_list(st, NULL, 0, NULL, 0, 0, collect, &s);
            if (rc == VERANI_EIO)
                saw_corrupt |= strstr(verani_storage_last_error(st), "corrupt") != NULL;
            rc = verani_storage_get(st, "key/0399", 8, NULL, NULL);
            if (rc == VERANI_EIO)
                saw_corrupt |= strstr(verani_storage_last_error(st), "corrupt") != NULL;
            rc = put_s(st, "key/new", "x");
            if (rc == VERANI_EIO)
                saw_corrupt |= strstr(verani_storage_last_error(st), "corrupt") != NULL;
        }
        verani_storage_db_close(db);
    }
    assert_true(saw_corrupt);
}

static void test_newer_schema_refused(void **state)
{
    char path[512], err[512];
    verani_storage_options o;
    sqlite3 *h;

    (void)state;
    path_in(path, sizeof(path), "newer.db");
    verani_storage_db_close(open_path(path));
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "PRAGMA user_version = 7", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    verani_storage_options_init(&o);
    o.path = path;
    assert_null(verani_storage_db_open(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "schema version 7"));
}

static void test_read_only(void **state)
{
    char path[512], dir[512], err[512];
    verani_storage_options o;
    verani_storage_db *db;
    verani_storage *st;

    (void)state;
    /* a file opened read-only: reads work, writes say why they cannot */
    path_in(path, sizeof(path), "ro.db");
    db = open_path(path);
    st = verani_storage_open(db, "R", "i");
    assert_int_equal(put_s(st, "k", "v"), 0);
    verani_storage_db_close(db);
    verani_storage_options_init(&o);
    o.path = path;
    o.read_only = 1;
    db = verani_storage_db_open(&o, err, sizeof(err));
    assert_non_null(db);
    st = verani_storage_open(db, "R", "i");
    assert_non_null(st);
    assert_string_equal(get_s(st, "k"), "v");
    assert_int_equal(put_s(st, "k", "w"), VERANI_EIO);
    assert_non_null(strstr(verani_storage_last_error(st), "read-only"));
    assert_string_equal(get_s(st, "k"), "v");
    verani_storage_db_close(db);

    /* a directory that does not exist */
    path_in(path, sizeof(path), "no/such/dir/x.db");
    o.path = path;
    o.read_only = 0;
    assert_null(verani_storage_db_open(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "directory exists and is writable"));

    /* a read-only directory; root writes anyway, so as root a child that
     * drops to nobody tries it */
    path_in(dir, sizeof(dir), "rodir");
    assert_int_equal(mkdir(dir, 0555), 0);
    path_in(path, sizeof(path), "rodir/x.db");
    o.path = path;
    if (access(dir, W_OK) == 0) {
        int fds[2], status;
        ssize_t n;
        pid_t pid;

        assert_int_equal(chmod(tmpdir, 0711), 0); /* nobody may pass through */
        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            verani_storage_db *cdb = NULL;

            close(fds[0]);
            err[0] = 0;
            if (setgid(65534) == 0 && setuid(65534) == 0)
                cdb = verani_storage_db_open(&o, err, sizeof(err));
            else
                snprintf(err, sizeof(err), "setuid failed");
            if (cdb)
                snprintf(err, sizeof(err), "opened");
            if (write(fds[1], err, strlen(err) + 1) < 0)
                _exit(2);
            _exit(0);
        }
        close(fds[1]);
        n = read(fds[0], err, sizeof(err) - 1);
        close(fds[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(n > 0);
        err[n] = 0;
        print_message("read-only directory (as nobody): %s\n", err);
        if (!strcmp(err, "setuid failed")) {
            print_message("cannot drop privileges: the read-only directory case is skipped\n");
            return;
        }
    } else {
        assert_null(verani_storage_db_open(&o, err, sizeof(err)));
    }
    assert_non_null(strstr(err, "writable"));
}

struct filler {
    int failed_at;
    int rc;
    int after_rc;
};

static int fill_until_full(verani_storage *st, void *user)
{
    struct filler *f = user;
    static uint8_t chunk[256 * 1024];
    char key[32];
    int i, rc;

    memset(chunk, 0x5a, sizeof(chunk));
    for (i = 0; i < 64; i++) {
        snprintf(key, sizeof(key), "fill/%02d", i);
        rc = verani_storage_put(st, key, strlen(key), chunk, sizeof(chunk));
        if (rc) {
            f->failed_at = i;
            f->rc = rc;
            /* SQLite may have rolled back already: a later write must not slip
             * in on its own. Then ask for a commit anyway: the doom must hold. */
            f->after_rc = verani_storage_put(st, "fill/late", 9, "x", 1);
            return 0;
        }
    }
    return 0;
}

static void test_disk_full_changes_nothing(void **state)
{
    char path[512];
    verani_storage_db *db;
    verani_storage *st;
    struct rlimit old, lim;
    struct filler f = {-1, 0, 0};
    void (*old_sig)(int);
    struct seen s;
    int rc;

    (void)state;
    path_in(path, sizeof(path), "full.db");
    db = open_path(path);
    st = verani_storage_open(db, "Full", "i");
    assert_int_equal(put_s(st, "before", "kept"), 0);
    /* Files may not grow past 1 MiB: a write past it fails with EFBIG, as on a full disk. */
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1u << 20;
    old_sig = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    rc = verani_storage_txn(st, fill_until_full, &f);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_sig);
    print_message("disk full: rc %d, put failed at %d: %s\n", rc, f.failed_at,
                  verani_storage_last_error(st));
    assert_int_equal(rc, VERANI_EIO);
    assert_int_equal(f.after_rc, VERANI_EIO);
    assert_true(strstr(verani_storage_last_error(st), "full") ||
                strstr(verani_storage_last_error(st), "I/O"));
    /* nothing of the transaction stayed; what was there before did */
    memset(&s, 0, sizeof(s));
    assert_int_equal(verani_storage_list(st, "fill/", 5, NULL, 0, 0, collect, &s), 0);
    assert_string_equal(get_s(st, "before"), "kept");
    /* and the store works again */
    assert_int_equal(put_s(st, "after", "ok"), 0);
    verani_storage_db_close(db);
    db = open_path(path);
    st = verani_storage_open(db, "Full", "i");
    assert_string_equal(get_s(st, "after"), "ok");
    memset(&s, 0, sizeof(s));
    assert_int_equal(verani_storage_list(st, "fill/", 5, NULL, 0, 0, collect, &s), 0);
    verani_storage_db_close(db);
}

static void test_busy_lock(void **state)
{
    char path[512], err[512];
    verani_storage_options o;
    verani_storage_db *a, *b;
    verani_storage *sa, *sb;

    (void)state;
    path_in(path, sizeof(path), "busy.db");
    verani_storage_options_init(&o);
    o.path = path;
    o.busy_timeout_ms = 20;
    a = verani_storage_db_open(&o, err, sizeof(err));
    b = verani_storage_db_open(&o, err, sizeof(err));
    assert_non_null(a);
    assert_non_null(b);
    sa = verani_storage_open(a, "L", "i");
    sb = verani_storage_open(b, "L", "i");
    assert_int_equal(verani_storage_begin(sa), 0);
    assert_int_equal(put_s(sa, "k", "a"), 0);
    assert_int_equal(verani_storage_begin(sb), VERANI_ETIMEDOUT);
    assert_non_null(strstr(verani_storage_last_error(sb), "busy timeout"));
    assert_int_equal(put_s(sb, "k", "b"), VERANI_ETIMEDOUT);
    assert_null(get_s(sb, "k")); /* WAL: readers see the last commit */
    assert_int_equal(verani_storage_commit(sa), 0);
    assert_string_equal(get_s(sb, "k"), "a");
    assert_int_equal(put_s(sb, "k", "b"), 0);
    assert_string_equal(get_s(sa, "k"), "b");
    verani_storage_db_close(a);
    verani_storage_db_close(b);
}

/* Messages through the protobuf helpers (the typed ones veranic generates wrap these). */
static void test_messages(void **state)
{
    verani_storage_db *db = open_path(NULL);
    verani_storage *st = verani_storage_open(db, "M", "i");
    Verani__Wire__Hello h = VERANI__WIRE__HELLO__INIT, *got = NULL;
    Verani__Wire__Welcome *w = NULL;
    char big[2000];

    (void)state;
    memset(big, 't', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    h.has_protocol = 1;
    h.protocol = 1;
    h.resume_token = big; /* over the stack buffer: packed on the heap */
    h.has_last_seq = 1;
    h.last_seq = 42;
    assert_int_equal(verani_storage_put_message(st, "hello", &h.base), 0);
    assert_int_equal(verani_storage_get_message(st, "hello", &verani__wire__hello__descriptor,
                                                (ProtobufCMessage **)&got), 0);
    assert_non_null(got);
    assert_int_equal(got->last_seq, 42);
    assert_string_equal(got->resume_token, big);
    verani_storage_free_message(got);
    assert_int_equal(verani_storage_get_message(st, "none", &verani__wire__hello__descriptor,
                                                (ProtobufCMessage **)&got), VERANI_ENOTFOUND);
    assert_null(got);
    /* bytes that are not that message */
    assert_int_equal(verani_storage_put(st, "junk", 4, "\xff\xff\xff", 3), 0);
    assert_int_equal(verani_storage_get_message(st, "junk", &verani__wire__welcome__descriptor,
                                                (ProtobufCMessage **)&w), VERANI_EIO);
    assert_null(w);
    assert_non_null(strstr(verani_storage_last_error(st), "does not unpack as"));
    assert_int_equal(verani_storage_put_message(st, NULL, &h.base), VERANI_EINVAL);
    verani_storage_free_message(NULL);
    verani_storage_db_close(db);
}

/* --- the session store ------------------------------------------------------ */

struct att_seen {
    char ids[8][37];
    int n;
};

static int collect_att(const vr_attachment *a, void *user)
{
    struct att_seen *s = user;

    assert_true(s->n < 8);
    snprintf(s->ids[s->n++], 37, "%s", a->client_id);
    return 0;
}

static int collect_inst(const char *room, const char *instance, void *user)
{
    struct att_seen *s = user;

    assert_true(s->n < 8);
    snprintf(s->ids[s->n++], 37, "%s/%s", room, instance);
    return 0;
}

struct frames_seen {
    uint64_t seq[2000];
    int n;
};

static int collect_frame(uint64_t seq, int64_t at_ms, const uint8_t *b, size_t len, void *user)
{
    struct frames_seen *s = user;
    char want[32];

    (void)at_ms;
    snprintf(want, sizeof(want), "frame %llu", (unsigned long long)seq);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(b, want, len);
    s->seq[s->n++] = seq;
    return 0;
}

static void save_session(verani_storage_db *db, const char *id, const char *token,
                         const char *user, const char *inst)
{
    static char *chans[] = {"default", "room:42", "%_weird"};
    static const uint8_t meta[] = {0x0a, 0x03, 'b', 'o', 'b', 0x00, 0x10};
    vr_attachment a;

    memset(&a, 0, sizeof(a));
    snprintf(a.client_id, sizeof(a.client_id), "%s", id);
    snprintf(a.resume_token, sizeof(a.resume_token), "%s", token);
    a.user_id = (char *)user;
    a.room = "Chat";
    a.instance = (char *)inst;
    a.meta = (uint8_t *)meta;
    a.meta_len = sizeof(meta);
    a.channels = chans;
    a.n_channels = 3;
    a.last_seq = 17;
    a.updated_ms = 1000;
    snprintf(a.epoch, sizeof(a.epoch), "0123456789abcdef");
    if (*token) /* the token a resume presented before this one */
        snprintf(a.prev_token, sizeof(a.prev_token), "pppp");
    assert_int_equal(vr_store_session_save(db, &a), 0);
}

static void append(verani_storage_db *db, const char *id, uint64_t seq, int64_t at,
                   const vr_retention *r)
{
    char b[32];

    snprintf(b, sizeof(b), "frame %llu", (unsigned long long)seq);
    assert_int_equal(vr_store_frame_append(db, id, seq, at, (const uint8_t *)b, strlen(b), r),
                     0);
}

/* What files of schema versions 1 to 3 held as this version does (their session table
 * differs), for the upgrade tests. */
#define OLD_NS_KV \
    "CREATE TABLE vr_ns(id INTEGER PRIMARY KEY, room TEXT NOT NULL, instance TEXT NOT NULL," \
    " UNIQUE(room, instance));" \
    "CREATE TABLE vr_kv(ns INTEGER NOT NULL, k BLOB NOT NULL, v BLOB NOT NULL," \
    " PRIMARY KEY(ns, k)) WITHOUT ROWID;"
#define OLD_FRAMES \
    "CREATE INDEX vr_session_instance ON vr_session(room, instance);" \
    "CREATE TABLE vr_frame(client_id TEXT NOT NULL, seq INTEGER NOT NULL," \
    " at_ms INTEGER NOT NULL, bytes BLOB NOT NULL, PRIMARY KEY(client_id, seq)) WITHOUT ROWID;"

/* A file `name` that an older libverani made (`sql`: its tables, rows and user_version),
 * opened by this one: upgraded in place. */
static verani_storage_db *open_old(const char *name, const char *sql)
{
    char path[512];
    sqlite3 *h;

    path_in(path, sizeof(path), name);
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    return open_path(path);
}

/* A file of schema version 1 (before the session epoch) is upgraded in place: its sessions
 * load (with no epoch), and a session saved with an epoch loads with it. */
static void test_upgrade_from_1(void **state)
{
    static const char c1[] = "11111111-1111-4111-8111-111111111111";
    static const char c2[] = "22222222-2222-4222-8222-222222222222";
    verani_storage_db *db;
    vr_attachment a;

    (void)state;
    db = open_old("v1.db",
        OLD_NS_KV
        "CREATE TABLE vr_session(client_id TEXT PRIMARY KEY, token TEXT UNIQUE,"
        " user_id TEXT NOT NULL, room TEXT NOT NULL, instance TEXT NOT NULL, meta BLOB,"
        " channels BLOB, last_seq INTEGER NOT NULL, updated_ms INTEGER NOT NULL) WITHOUT ROWID;"
        OLD_FRAMES
        "INSERT INTO vr_session VALUES('11111111-1111-4111-8111-111111111111', 'aaaa', 'alice',"
        " 'Chat', 'lobby', NULL, NULL, 9, 1000);"
        "PRAGMA user_version = 1;");
    assert_int_equal(vr_store_session_load(db, c1, &a), 0);
    assert_int_equal(a.last_seq, 9);
    assert_string_equal(a.epoch, "");
    assert_string_equal(a.prev_token, "");
    vr_attachment_fini(&a);
    save_session(db, c2, "bbbb", "bob", "lobby");
    assert_int_equal(vr_store_session_load(db, c2, &a), 0);
    assert_string_equal(a.epoch, "0123456789abcdef");
    assert_string_equal(a.prev_token, "pppp");
    vr_attachment_fini(&a);
    /* the alarms' table came with the upgrade */
    assert_int_equal(vr_store_alarm_set(db, "Chat", "lobby", 5000), 0);
    verani_storage_db_close(db);
}

/* A file of schema version 3 (before the previous token) is upgraded in place: its sessions
 * load with none, and new ones keep theirs. */
static void test_upgrade_from_3(void **state)
{
    static const char c1[] = "11111111-1111-4111-8111-111111111111";
    static const char c2[] = "22222222-2222-4222-8222-222222222222";
    verani_storage_db *db;
    vr_attachment a;

    (void)state;
    db = open_old("v3.db",
        OLD_NS_KV
        "CREATE TABLE vr_session(client_id TEXT PRIMARY KEY, token TEXT UNIQUE,"
        " user_id TEXT NOT NULL, room TEXT NOT NULL, instance TEXT NOT NULL, meta BLOB,"
        " channels BLOB, last_seq INTEGER NOT NULL, updated_ms INTEGER NOT NULL, epoch TEXT)"
        " WITHOUT ROWID;"
        OLD_FRAMES
        "CREATE TABLE vr_alarm(room TEXT NOT NULL, instance TEXT NOT NULL, at_ms INTEGER NOT NULL,"
        " PRIMARY KEY(room, instance)) WITHOUT ROWID;"
        "INSERT INTO vr_session VALUES('11111111-1111-4111-8111-111111111111', 'aaaa', 'alice',"
        " 'Chat', 'lobby', NULL, NULL, 9, 1000, 'fedcba9876543210');"
        "PRAGMA user_version = 3;");
    assert_int_equal(vr_store_session_load(db, c1, &a), 0);
    assert_string_equal(a.resume_token, "aaaa");
    assert_string_equal(a.epoch, "fedcba9876543210");
    assert_string_equal(a.prev_token, "");
    vr_attachment_fini(&a);
    save_session(db, c2, "bbbb", "bob", "lobby");
    assert_int_equal(vr_store_session_load(db, c2, &a), 0);
    assert_string_equal(a.prev_token, "pppp");
    vr_attachment_fini(&a);
    verani_storage_db_close(db);
}

struct alarms_seen {
    char text[256];
};

static int collect_alarm(const char *room, const char *instance, int64_t at_ms, void *user)
{
    struct alarms_seen *seen = user;
    size_t used = strlen(seen->text);

    snprintf(seen->text + used, sizeof(seen->text) - used, "%s/%s@%lld ", room, instance,
             (long long)at_ms);
    return 0;
}

/* One alarm per instance: set, replaced, listed soonest first, deleted (a delete of none is
 * no error), and still there when the file is opened again. */
static void test_alarm_store(void **state)
{
    char path[512];
    verani_storage_db *db;
    struct alarms_seen seen;

    (void)state;
    path_in(path, sizeof(path), "alarms.db");
    db = open_path(path);
    assert_int_equal(vr_store_alarm_set(db, "Chat", "lobby", 3000), 0);
    assert_int_equal(vr_store_alarm_set(db, "Chat", "hall", 1000), 0);
    assert_int_equal(vr_store_alarm_set(db, "Game", "lobby", 2000), 0);
    assert_int_equal(vr_store_alarm_set(db, "Chat", "lobby", 500), 0); /* replaced */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(vr_store_alarms_list(db, collect_alarm, &seen), 3);
    assert_string_equal(seen.text, "Chat/lobby@500 Chat/hall@1000 Game/lobby@2000 ");
    assert_int_equal(vr_store_alarm_set(db, "Chat", "hall", -1), 0);
    assert_int_equal(vr_store_alarm_set(db, "Chat", "nowhere", -1), 0);
    assert_int_equal(vr_store_alarm_set(NULL, "Chat", "hall", 1), VERANI_EINVAL);
    verani_storage_db_close(db);
    db = open_path(path);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(vr_store_alarms_list(db, collect_alarm, &seen), 2);
    assert_string_equal(seen.text, "Chat/lobby@500 Game/lobby@2000 ");
    verani_storage_db_close(db);
}

static void test_session_store(void **state)
{
    static const char c1[] = "11111111-1111-4111-8111-111111111111";
    static const char c2[] = "22222222-2222-4222-8222-222222222222";
    static const char c3[] = "33333333-3333-4333-8333-333333333333";
    char path[512];
    verani_storage_db *db;
    vr_attachment a;
    struct att_seen as;
    struct frames_seen *fs = calloc(1, sizeof(*fs));
    vr_retention r = {5, 10000};
    uint64_t first, last;
    size_t count;
    uint64_t i;

    (void)state;
    assert_non_null(fs);
    path_in(path, sizeof(path), "sessions.db");
    db = open_path(path);
    save_session(db, c1, "aaaa", "alice", "lobby");
    save_session(db, c2, "bbbb", "bob", "lobby");
    save_session(db, c3, "", "carol", "games");

    assert_int_equal(vr_store_session_load(db, c1, &a), 0);
    assert_string_equal(a.client_id, c1);
    assert_string_equal(a.resume_token, "aaaa");
    assert_string_equal(a.prev_token, "pppp");
    assert_string_equal(a.user_id, "alice");
    assert_string_equal(a.room, "Chat");
    assert_string_equal(a.instance, "lobby");
    assert_int_equal(a.meta_len, 7);
    assert_memory_equal(a.meta, "\x0a\x03" "bob\x00\x10", 7);
    assert_int_equal(a.n_channels, 3);
    assert_string_equal(a.channels[0], "default");
    assert_string_equal(a.channels[1], "room:42");
    assert_string_equal(a.channels[2], "%_weird");
    assert_int_equal(a.last_seq, 17);
    assert_int_equal(a.updated_ms, 1000);
    vr_attachment_fini(&a);

    assert_int_equal(vr_store_session_find_token(db, "bbbb", &a), 0);
    assert_string_equal(a.client_id, c2);
    vr_attachment_fini(&a);
    assert_int_equal(vr_store_session_find_token(db, "zzzz", &a), VERANI_ENOTFOUND);
    assert_int_equal(vr_store_session_find_token(db, "", &a), VERANI_EINVAL);
    assert_int_equal(vr_store_session_load(db, "nobody", &a), VERANI_ENOTFOUND);

    /* rotate c1's token (single use): the old one no longer finds it */
    assert_int_equal(vr_store_session_load(db, c1, &a), 0);
    snprintf(a.resume_token, sizeof(a.resume_token), "cccc");
    free(a.channels[1]); /* and it left two channels (the store allocated with malloc) */
    free(a.channels[2]);
    a.n_channels = 1;
    assert_int_equal(vr_store_session_save(db, &a), 0);
    vr_attachment_fini(&a);
    assert_int_equal(vr_store_session_find_token(db, "aaaa", &a), VERANI_ENOTFOUND);
    assert_int_equal(vr_store_session_find_token(db, "cccc", &a), 0);
    assert_int_equal(a.n_channels, 1);
    vr_attachment_fini(&a);
    assert_int_equal(vr_store_session_set_seq(db, c1, 99), 0);
    assert_int_equal(vr_store_session_load(db, c1, &a), 0);
    assert_int_equal(a.last_seq, 99);
    assert_string_equal(a.resume_token, "cccc");
    vr_attachment_fini(&a);

    memset(&as, 0, sizeof(as));
    assert_int_equal(vr_store_sessions_list(db, "Chat", "lobby", collect_att, &as), 2);
    assert_string_equal(as.ids[0], c1);
    assert_string_equal(as.ids[1], c2);
    memset(&as, 0, sizeof(as));
    assert_int_equal(vr_store_sessions_list(db, "Chat", "games", collect_att, &as), 1);
    assert_int_equal(vr_store_sessions_list(db, "Chat", "empty", collect_att, &as), 0);
    memset(&as, 0, sizeof(as));
    assert_int_equal(vr_store_instances_list(db, collect_inst, &as), 2);
    assert_string_equal(as.ids[0], "Chat/games");
    assert_string_equal(as.ids[1], "Chat/lobby");
    assert_int_equal(vr_store_session_set_seq(db, "nobody", 1), VERANI_ENOTFOUND);

    /* retained frames: bounded by count */
    for (i = 1; i <= 12; i++)
        append(db, c1, i, 100 + (int64_t)i, &r);
    assert_int_equal(vr_store_frames_range(db, c1, &first, &last, &count), 0);
    assert_int_equal(first, 8);
    assert_int_equal(last, 12);
    assert_int_equal(count, 5);
    assert_int_equal(vr_store_frames_read(db, c1, 9, 0, collect_frame, fs), 3);
    assert_int_equal(fs->seq[0], 10);
    assert_int_equal(fs->seq[2], 12);
    fs->n = 0;
    assert_int_equal(vr_store_frames_read(db, c1, 0, 2, collect_frame, fs), 2);
    assert_int_equal(fs->seq[0], 8);
    /* a seq already retained is refused, and changes nothing */
    assert_int_equal(vr_store_frame_append(db, c1, 12, 500, (const uint8_t *)"x", 1, &r),
                     VERANI_EINVAL);
    assert_int_equal(vr_store_frames_range(db, c1, &first, &last, &count), 0);
    assert_int_equal(count, 5);
    /* bounded by age: at 10112 frames older than 112 go */
    assert_int_equal(vr_store_frames_trim(db, c1, 10112, &r), 0);
    assert_int_equal(vr_store_frames_range(db, c1, &first, &last, &count), 0);
    assert_int_equal(first, 12);
    assert_int_equal(count, 1);
    /* all of them too old: none stays */
    assert_int_equal(vr_store_frames_trim(db, c1, 1000000, &r), 0);
    assert_int_equal(vr_store_frames_range(db, c1, &first, &last, &count), 0);
    assert_int_equal(count, 0);
    append(db, c1, 13, 1000001, &r);
    /* with gaps in seq, the count bound keeps the newest max_frames seq numbers */
    append(db, c1, 20, 1000002, &r);
    assert_int_equal(vr_store_frames_range(db, c1, &first, &last, &count), 0);
    assert_int_equal(first, 20);
    assert_int_equal(count, 1);
    /* default retention: 1000 frames */
    for (i = 1; i <= 1003; i++)
        append(db, c2, i, 5, NULL);
    assert_int_equal(vr_store_frames_range(db, c2, &first, &last, &count), 0);
    assert_int_equal(first, 4);
    assert_int_equal(last, 1003);
    assert_int_equal(count, 1000);
    fs->n = 0;
    assert_int_equal(vr_store_frames_read(db, c2, 0, 0, collect_frame, fs), 1000);
    for (i = 0; i < 1000; i++)
        assert_int_equal(fs->seq[i], i + 4);

    /* put: appends without trimming, inside the caller's transaction */
    assert_int_equal(vr_db_begin(db), 0);
    for (i = 1; i <= 8; i++)
        assert_int_equal(vr_store_frame_put(db, c3, i, 7, (const uint8_t *)"p", 1), 0);
    assert_int_equal(vr_store_frame_put(db, c3, 8, 7, (const uint8_t *)"p", 1), VERANI_EINVAL);
    assert_int_equal(vr_store_frame_put(db, c3, 9, 7, NULL, 1), VERANI_EINVAL);
    assert_int_equal(vr_db_rollback(db), 0);
    assert_int_equal(vr_store_frames_range(db, c3, &first, &last, &count), 0);
    assert_int_equal(count, 0); /* the rollback took them all */
    assert_int_equal(vr_db_begin(db), 0);
    for (i = 1; i <= 8; i++)
        assert_int_equal(vr_store_frame_put(db, c3, i, 7, (const uint8_t *)"p", 1), 0);
    assert_int_equal(vr_db_commit(db), 0);
    assert_int_equal(vr_store_frames_range(db, c3, &first, &last, &count), 0);
    assert_int_equal(first, 1);
    assert_int_equal(last, 8);
    assert_int_equal(count, 8); /* more than r's 5: no trim */

    /* it all survives a reopen */
    verani_storage_db_close(db);
    db = open_path(path);
    assert_int_equal(vr_store_frames_range(db, c2, &first, &last, &count), 0);
    assert_int_equal(count, 1000);
    assert_int_equal(vr_store_session_load(db, c2, &a), 0);
    assert_string_equal(a.user_id, "bob");
    vr_attachment_fini(&a);

    /* deleting a session takes its frames along */
    assert_int_equal(vr_store_session_delete(db, c2), 0);
    assert_int_equal(vr_store_session_load(db, c2, &a), VERANI_ENOTFOUND);
    assert_int_equal(vr_store_frames_range(db, c2, &first, &last, &count), 0);
    assert_int_equal(count, 0);
    assert_int_equal(vr_store_session_delete(db, c2), VERANI_ENOTFOUND);
    assert_int_equal(vr_store_session_save(db, &(vr_attachment){.client_id = ""}),
                     VERANI_EINVAL);
    verani_storage_db_close(db);
    free(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put_delete),
        cmocka_unit_test(test_namespaces),
        cmocka_unit_test(test_list_prefix),
        cmocka_unit_test(test_binary_keys),
        cmocka_unit_test(test_large_values),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_survives_reopen_wal),
        cmocka_unit_test(test_corrupt_and_foreign_files),
        cmocka_unit_test(test_newer_schema_refused),
        cmocka_unit_test(test_upgrade_from_1),
        cmocka_unit_test(test_upgrade_from_3),
        cmocka_unit_test(test_alarm_store),
        cmocka_unit_test(test_read_only),
        cmocka_unit_test(test_disk_full_changes_nothing),
        cmocka_unit_test(test_busy_lock),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_session_store),
    };

    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
