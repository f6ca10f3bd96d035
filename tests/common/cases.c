/* SPDX-License-Identifier: MIT */
/* cases.c: vt_main of cases.h. */
#include <fnmatch.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cases.h"

int vt_main(const char *group, const vt_case *cases, size_t n, const char *filter,
            CMFixtureFunction teardown)
{
    struct CMUnitTest *run;
    size_t i, k = 0;
    int r;

    if (filter && !strcmp(filter, "--list")) {
        for (i = 0; i < n; i++)
            printf("%s %s\n", cases[i].name, cases[i].tags ? cases[i].tags : "");
        return 0;
    }
    run = calloc(n ? n : 1, sizeof(*run));
    if (!run) {
        fprintf(stderr, "%s: out of memory\n", group);
        return 2;
    }
    for (i = 0; i < n; i++)
        if (!filter || fnmatch(filter, cases[i].name, 0) == 0) {
            run[k].name = cases[i].name;
            run[k].test_func = cases[i].fn;
            run[k].teardown_func = teardown;
            k++;
        }
    if (k == 0) {
        fprintf(stderr, "%s: no case matches '%s'; the cases are:\n", group, filter);
        for (i = 0; i < n; i++)
            fprintf(stderr, "  %s\n", cases[i].name);
        free(run);
        return 2;
    }
    r = _cmocka_run_group_tests(group, run, k, NULL, NULL);
    free(run);
    return r;
}
