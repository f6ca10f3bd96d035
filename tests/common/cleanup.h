/* SPDX-License-Identifier: MIT */
/*
 * cleanup.h: what a test started is torn down even when an assertion ends the
 * test early. cmocka leaves a failed test by longjmp, past the test's own
 * frees; without this, the servers, threads and loops it held would stay
 * alive and LeakSanitizer's report at exit would bury the one line that says
 * what failed. A helper that creates something registers how to undo it
 * (cu_push); the test's ordinary path undoes it itself and says so (cu_drop);
 * cu_teardown, each test's cmocka teardown, undoes what is left, newest
 * first. One process runs one test at a time, so the list is a plain array
 * (test code only: no locking, no allocation).
 */
#ifndef VERANI_TEST_CLEANUP_H
#define VERANI_TEST_CLEANUP_H

/* Undo `fn(arg)` at teardown unless cu_drop(arg) comes first. Fails the test
 * when more than CU_MAX things are held at once. */
void cu_push(void (*fn)(void *arg), void *arg);

/* `arg` was released by the test itself: forget its entry (no-op when absent). */
void cu_drop(void *arg);

/* cmocka teardown: run every entry still held, newest first; returns 0. */
int cu_teardown(void **state);

#define CU_MAX 64

#endif /* VERANI_TEST_CLEANUP_H */
