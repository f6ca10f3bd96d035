/* SPDX-License-Identifier: MIT */
/*
 * cases.h: a test program's cases, listed once. The C array of vt_case is the
 * only list: CTest registers one test per case from the program's own
 * `--list` output at build time (verani_test_cases() in cases.cmake), so a
 * case cannot be lost between the C file and CMake; and a filter that matches
 * no case fails, never passes vacuously.
 *
 *   static const vt_case cases[] = {
 *       VT_CASE(test_join_leave, ""),
 *       VT_CASE(test_slow_consumer, "poll"),   // tags: words cases.cmake acts on
 *   };
 *   int main(int argc, char **argv)
 *   {
 *       return vt_main("server_e2e", cases, VT_N(cases), argc > 1 ? argv[1] : NULL,
 *                      cu_teardown);
 *   }
 *
 * Include after <cmocka.h>; link test_common.
 */
#ifndef VERANI_TEST_CASES_H
#define VERANI_TEST_CASES_H

#include <stddef.h>

typedef struct vt_case {
    const char *name;        /* the function's name: "test_<case>" */
    CMUnitTestFunction fn;
    const char *tags;        /* space-separated words for cases.cmake ("poll tsan"), or "" */
} vt_case;

#define VT_CASE(fn, tags) {#fn, fn, tags}
#define VT_N(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Run a test program's cases. `filter` "--list" prints one line per case,
 * "<name> <tags>", and returns 0; otherwise the cases whose names match
 * `filter` (a glob, as fnmatch(3); NULL runs them all) run in order, each
 * followed by `teardown` (NULL: none), and cmocka's result is returned. A
 * filter that matches no case prints the case names and returns 2.
 */
int vt_main(const char *group, const vt_case *cases, size_t n, const char *filter,
            CMFixtureFunction teardown);

#endif /* VERANI_TEST_CASES_H */
