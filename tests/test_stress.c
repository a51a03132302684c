/* tests/test_stress.c — runs kiln_stress (tests/stress/stress_threads.c): ops
 * from several application threads at once, on their own contexts and taking
 * turns on one, checked against a reference; a deadlock fails by timeout. The
 * same program runs under ThreadSanitizer in `make tsan`. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

Test(stress, ops_from_several_threads_at_once, .timeout = 600)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "timeout 500 '%s/bin/kiln_stress' 200", KILN_BINARY_DIR);
    int rc = system(cmd);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "kiln_stress failed (exit %d; 124 = hung)",
              WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
}
