/* tests/test_cli_bench.c — `kiln bench` as llama-bench users type it: list
 * options (each value one row), -pg, -d, -ctk, -t, the markdown table and
 * its optional columns, -o json / jsonl; and `kiln bench --op` naming the
 * reason a case cannot run. Runs build/bin/kiln through the shell. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "kiln/kiln.h"
#include "support/cli.h"

#define TINY KILN " bench -m synthetic:tiny-q4_0 -r 1 "

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

/* The test column of the row for `test`, as "| pp16 |" with llama-bench's padding. */
static void expect_row(const char *out, const char *test)
{
    char cell[64];
    snprintf(cell, sizeof cell, " %15s | ", test);
    cr_expect_not_null(strstr(out, cell), "no row for test '%s' in:\n%s", test, out);
}

Test(cli_bench, lists_give_one_row_per_value, .timeout = 180)
{
    if (!kiln_backend_available(KILN_BACKEND_CPU)) cr_skip_test("the cpu backend is not available: %s", kiln_last_error());
    char out[16384];
    cr_assert_eq(kt_run_cmd(TINY "-p 8,16 -n 2,4 2>/dev/null", out, sizeof out), 0, "%s", out);
    cr_expect_not_null(strstr(out, "| model                          |       size |     params | backend    | threads |"),
                       "%s", out);
    cr_expect_not_null(strstr(out, "| ------------------------------ | ---------: |"), "%s", out);
    expect_row(out, "pp8");
    expect_row(out, "pp16");
    expect_row(out, "tg2");
    expect_row(out, "tg4");
    cr_expect_eq(count(out, "| llama 2M "), 4, "four rows:\n%s", out);
    cr_expect_eq(count(out, " ± "), 4, "%s", out);
    cr_expect_not_null(strstr(out, "peak host memory"), "%s", out);
    /* ranges as llama-bench: 4-16*2 = 4, 8, 16; 1-3 = 1, 2, 3; an option given twice appends */
    cr_assert_eq(kt_run_cmd(TINY "-p 4-16*2 -n 0 -p 1-3 2>/dev/null", out, sizeof out), 0, "%s", out);
    const char *want[] = {"pp4", "pp8", "pp16", "pp1", "pp2", "pp3"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) expect_row(out, want[i]);
    cr_expect_eq(count(out, "| llama 2M "), 6, "%s", out);
    cr_expect_eq(count(out, "tg"), 0, "-n 0 makes no tg row:\n%s", out);
}

Test(cli_bench, pg_depth_threads_and_kv_types, .timeout = 180)
{
    if (!kiln_backend_available(KILN_BACKEND_CPU)) cr_skip_test("the cpu backend is not available: %s", kiln_last_error());
    char out[16384];
    cr_assert_eq(kt_run_cmd(TINY "-p 8 -n 2 -pg 8,2 -d 0,4 2>/dev/null", out, sizeof out), 0, "%s", out);
    const char *want[] = {"pp8", "tg2", "pp8+tg2", "pp8 @ d4", "tg2 @ d4", "pp8+tg2 @ d4"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) expect_row(out, want[i]);
    cr_expect_eq(count(out, "| llama 2M "), 6, "%s", out);
    /* -t: one row per thread count; -ctk: the type_k column appears; -fa 0, -b, -ub: their columns, said ignored */
    cr_assert_eq(kt_run_cmd(TINY "-p 0 -n 2 -t 1,2 -ctk f16,q8_0 -fa 0 -b 256 -ub 64 2>/dev/null", out, sizeof out), 0,
                 "%s", out);
    cr_expect_not_null(strstr(out, "| type_k | n_batch | n_ubatch | fa |"), "%s", out);
    cr_expect_eq(count(out, "| llama 2M "), 4, "2 thread counts x 2 KV types:\n%s", out);
    cr_expect_eq(count(out, "|       1 |"), 2, "%s", out);
    cr_expect_eq(count(out, "|       2 |"), 2, "%s", out);
    cr_expect_eq(count(out, "|   q8_0 |     256 |       64 |  0 |"), 2, "%s", out);
    /* kiln's own --batch: the n_seqs column */
    cr_assert_eq(kt_run_cmd(TINY "-p 8 -n 2 --batch 3 2>/dev/null", out, sizeof out), 0, "%s", out);
    cr_expect_not_null(strstr(out, "| n_seqs |"), "%s", out);
    cr_expect_eq(count(out, "|      3 |"), 2, "%s", out);
}

Test(cli_bench, json_and_jsonl, .timeout = 180)
{
    if (!kiln_backend_available(KILN_BACKEND_CPU)) cr_skip_test("the cpu backend is not available: %s", kiln_last_error());
    char out[16384];
    cr_assert_eq(kt_run_cmd(TINY "-p 8,16 -n 2 -o json 2>/dev/null", out, sizeof out), 0, "%s", out);
    cr_expect_eq(strncmp(out, "[\n  {", 5), 0, "a JSON array:\n%s", out);
    cr_expect_not_null(strstr(out, "}\n]\n"), "%s", out);
    cr_expect_eq(count(out, "\"model_filename\": \"synthetic:tiny-q4_0\""), 3, "%s", out);
    cr_expect_not_null(strstr(out, "\"n_prompt\": 16, \"n_gen\": 0, \"n_depth\": 0"), "%s", out);
    cr_expect_not_null(strstr(out, "\"n_prompt\": 0, \"n_gen\": 2"), "%s", out);
    cr_expect_not_null(strstr(out, "\"avg_ts\": "), "%s", out);
    cr_expect_not_null(strstr(out, "\"samples_ts\": ["), "%s", out);
    cr_assert_eq(kt_run_cmd(TINY "-p 8 -n 2 --batch 3 --json 2>/dev/null", out, sizeof out), 0, "%s", out);
    cr_expect_eq(count(out, "\n"), 2, "jsonl: one line per test:\n%s", out);
    cr_expect_eq(count(out, "\"n_seqs\": 3"), 2, "%s", out);
    cr_expect_not_null(strstr(out, "\"avg_ts_per_seq\": "), "%s", out);
}

/* A case that cannot run says why (it used to say "out of memory: " and nothing more). */
Test(cli_bench, op_cases_name_their_reason, .timeout = 60)
{
    if (!kiln_backend_available(KILN_BACKEND_CPU)) cr_skip_test("the cpu backend is not available: %s", kiln_last_error());
    static const struct {
        const char *args;
        int rc;
        const char *msg;
    } cases[] = {
        {"--op matvec --k 33", 1, "--k 33 is not a multiple of q4_0's block of 32"},
        {"--op matvec --m 1000000 --k 1000000000", 1, "GiB of host memory"},
        {"--op flash_attn --heads 6 --kv-heads 4", 1, "--heads 6 is not a multiple of --kv-heads 4"},
        {"--op paged_attn --format q8_0 --head-dim 48", 1, "--head-dim 48 is not a multiple of q8_0's block of 32"},
        {"--op matvec --m 0", 2, "--m: 0 is out of range"},
    };
    char line[512], out[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(line, sizeof line, KILN " bench %s --runs 1 --seconds 0 --no-roofline 2>&1 >/dev/null", cases[i].args);
        cr_expect_eq(kt_run_cmd(line, out, sizeof out), cases[i].rc, "`%s`: %s", line, out);
        cr_expect_not_null(strstr(out, cases[i].msg), "`%s`: '%s' lacks '%s'", line, out, cases[i].msg);
        cr_expect_null(strstr(out, "out of memory: \n"), "`%s`: an empty reason: %s", line, out);
    }
}
