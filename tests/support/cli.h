/* tests/support/cli.h — running the kiln binary from a test, as a user would. */
#ifndef KILN_TESTS_CLI_H
#define KILN_TESTS_CLI_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define KILN KILN_BINARY_DIR "/bin/kiln"
#define SHARED KILN_SOURCE_DIR "/../shared/"

/* Runs cmd through the shell; returns its exit code (-1: killed by a signal),
 * its stdout in out (cap bytes, NUL-terminated). */
static inline int kt_run_cmd(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Skips the test when a file it needs is absent. */
static inline void kt_need(const char *path)
{
    if (access(path, R_OK) != 0) cr_skip_test("%s is absent", path);
}

#endif
