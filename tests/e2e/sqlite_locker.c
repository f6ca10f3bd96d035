/* SPDX-License-Identifier: MIT */
/*
 * sqlite_locker.c: `sqlite_locker FILE`, another process holding the write
 * lock of a SQLite database, as an operator's sqlite3 shell in a
 * transaction or a VACUUM does. It opens FILE, takes the write lock
 * (BEGIN IMMEDIATE, waiting up to 10 s for it), prints "locked" on stdout,
 * and holds the lock until its stdin ends (the test closes the pipe, or
 * dies), then rolls back and exits 0. Exit 1 when it cannot lock. Test code
 * only (test_hardening.c, tests/attack).
 */
#include <stdio.h>

#include <sqlite3.h>

int main(int argc, char **argv)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    int c;

    if (argc != 2) {
        fprintf(stderr, "usage: sqlite_locker FILE\n");
        return 2;
    }
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(db, 10000) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite_locker: %s: %s\n", argv[1], err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        sqlite3_close(db);
        return 1;
    }
    printf("locked\n");
    fflush(stdout);
    while ((c = getchar()) != EOF)
        ;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    return 0;
}
