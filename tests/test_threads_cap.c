/* tests/test_threads_cap.c — `--threads` above the cores this process may use
 * is capped there with a warning naming both numbers, and the command still
 * works (demo/threads_cap.c). One core in the affinity mask makes the cap 1
 * whatever the machine. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(threads_cap, too_many_threads_are_capped_with_a_warning, .timeout = 120)
{
    char cmd[2048], out[4096] = "";
    snprintf(cmd, sizeof cmd,
             "taskset -c \"$(taskset -pc $$ | sed 's/.*: //; s/[,-].*//')\" '%s/bin/kiln' bench -m synthetic:tiny-q4_0 "
             "-p 8 -n 8 --reps 1 --threads 1000 2>&1; echo \"exit=$?\"",
             KILN_BINARY_DIR);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    pclose(p);
    cr_assert_not_null(strstr(out, "exit=0"), "%s", out);
    cr_assert_not_null(strstr(out, "warning: --threads 1000 is more than the 1 core this process may use; using 1"), "%s", out);
    /* llama-bench's table: the threads column of each row */
    cr_assert_not_null(strstr(out, "| cpu        |       1 |"), "the run used the capped count: %s", out);
}
