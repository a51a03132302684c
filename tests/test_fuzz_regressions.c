/* tests/test_fuzz_regressions.c — every input a fuzz target once crashed on
 * (tests/fuzz/regressions/<target>/), fed to the same reader in the suite, so
 * the fix is checked by `make test` and, under ASan + UBSan, by
 * `make test SANITIZE=1`: each must be refused with a message, not crash. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "kiln/runtime.h"

#define REGRESSIONS KILN_SOURCE_DIR "/tests/fuzz/regressions/"

Test(fuzz_regressions, llama2c_inputs_are_refused)
{
    DIR *d = opendir(REGRESSIONS "fuzz_llama2c");
    cr_assert_not_null(d, "no %s", REGRESSIONS "fuzz_llama2c");
    int seen = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%sfuzz_llama2c/%s", REGRESSIONS, e->d_name);
        kiln_model *m = NULL;
        kiln_status st = kiln_model_load(path, &m);
        cr_expect_neq(st, KILN_OK, "%s was accepted", e->d_name);
        cr_expect_neq(kiln_last_error()[0], '\0', "%s: no message", e->d_name);
        if (st == KILN_OK) kiln_model_free(m);
        seen++;
    }
    closedir(d);
    cr_assert_gt(seen, 0);
}
