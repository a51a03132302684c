/* tests/test_cli_args.c — the values users type: every number is the whole
 * string or an error that names the command and the option (exit 2), never
 * a silent 0 or a prefix; the exit codes of every command; --help of each
 * flag. Runs build/bin/kiln through the shell. */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/cli.h"
#include "support/harness.h"

typedef struct bad_case {
    const char *args; /* after the command */
    const char *msg;  /* in stderr */
} bad_case;

static void expect_usage_errors(const char *cmd, const bad_case *cases, size_t n)
{
    char line[1024], out[4096];
    for (size_t i = 0; i < n; i++) {
        snprintf(line, sizeof line, KILN " %s %s 2>&1 >/dev/null", cmd, cases[i].args);
        cr_expect_eq(kt_run_cmd(line, out, sizeof out), 2, "`%s` must exit 2 (usage); said: %s", line, out);
        cr_expect_not_null(strstr(out, cases[i].msg), "`%s`: '%s' lacks '%s'", line, out, cases[i].msg);
    }
}

Test(cli_args, run_refuses_bad_numbers, .timeout = 60)
{
    static const bad_case cases[] = {
        {"-n abc", "kiln run: -n: 'abc' is not an integer"},
        {"-n ''", "kiln run: -n: '' is not an integer"},
        {"-n 5x", "kiln run: -n: '5x' is not an integer"},
        {"-n ' 5'", "kiln run: -n: ' 5' is not an integer"},
        {"-n -2", "kiln run: -n: -2 is out of range (-1.."},
        {"-n 99999999999999999999", "kiln run: -n: 99999999999999999999 is out of range"},
        {"--seed abc", "kiln run: --seed: 'abc' is not an integer"},
        {"-s -1", "kiln run: -s: '-1' is not an integer"},
        {"--temp nan", "kiln run: --temp: 'nan' is not a finite number"},
        {"--temp inf", "kiln run: --temp: 'inf' is not a finite number"},
        {"--temp -0.5", "kiln run: --temp: -0.5 is out of range"},
        {"--temp 1e999", "kiln run: --temp: '1e999' is not a finite number"},
        {"--top-p 1.5", "kiln run: --top-p: 1.5 is out of range (0..1)"},
        {"--min-p nan", "kiln run: --min-p: 'nan' is not a finite number"},
        {"--top-k 2.5", "kiln run: --top-k: '2.5' is not an integer"},
        {"--repeat-penalty x", "kiln run: --repeat-penalty: 'x' is not a number"},
        {"--repeat-last-n -5", "kiln run: --repeat-last-n: -5 is out of range"},
        {"--ctx 999999999999", "kiln run: --ctx: 999999999999 is out of range (0..16777216)"},
        {"-c -1", "kiln run: -c: -1 is out of range"},
        {"-t two", "kiln run: -t: 'two' is not an integer"},
        {"--keep x", "kiln run: --keep: 'x' is not an integer"},
        {"--prompt-ids 1,x", "kiln run: --prompt-ids: 'x' is not an integer"},
        {"--prompt-ids 1,,2", "kiln run: --prompt-ids: '' is not an integer"},
        {"-n", "'-n'"}, /* the value missing */
    };
    expect_usage_errors("run -m synthetic:tiny-q4_0", cases, sizeof cases / sizeof cases[0]);
}

Test(cli_args, bench_and_tune_refuse_bad_numbers, .timeout = 60)
{
    static const bad_case op[] = {
        {"--m 0", "kiln bench: --m: 0 is out of range (1.."},
        {"--m abc", "kiln bench: --m: 'abc' is not an integer"},
        {"--k 99999999999", "kiln bench: --k: 99999999999 is out of range"},
        {"--threads 0", "kiln bench: --threads: 0 is out of range"},
        {"--runs 3x", "kiln bench: --runs: '3x' is not an integer"},
        {"--seconds nan", "kiln bench: --seconds: 'nan' is not a finite number"},
        {"--warmup -1", "kiln bench: --warmup: -1 is out of range"},
        {"--dtype q9", "kiln bench: --dtype: 'q9'"},
    };
    expect_usage_errors("bench --op matvec", op, sizeof op / sizeof op[0]);
    static const bad_case model[] = {
        {"-p abc", "kiln bench: -p: 'abc' is not an integer"},
        {"-p 64,", "kiln bench: -p: '' in '64,' is not an integer"},
        {"-p 64,-1", "kiln bench: -p: -1 in '64,-1' is out of range (0.."},
        {"-n 8x", "kiln bench: -n: '8x' is not an integer"},
        {"-p 32-8", "runs backwards"},
        {"-p 8-32*1", "the multiplier must be at least 2"},
        {"-p 8-32+0", "the step must be at least 1"},
        {"-t 1,x", "kiln bench: -t: 'x' in '1,x' is not an integer"},
        {"-r 0", "kiln bench: -r: 0 is out of range"},
        {"-d nan", "kiln bench: -d: 'nan' is not an integer"},
        {"-fa 2", "kiln bench: -fa: 2 is out of range (0..1)"},
        {"-pg 8", "kiln bench: -pg: '8' is not a pair"},
        {"-ctk q4_0", "kiln bench: -ctk: 'q4_0' is not a KV cache type"},
        {"-ctk f16 -ctv f32", "-ctv must match -ctk"},
        {"-o csv", "kiln bench: -o: 'csv' is not an output format"},
        {"--batch 0", "kiln bench: --batch: 0 is out of range"},
        {"-p 0 -n 0", "no test"},
    };
    expect_usage_errors("bench -m synthetic:tiny-q4_0", model, sizeof model / sizeof model[0]);
    static const bad_case tune[] = {
        {"--budget nan", "kiln tune: --budget: 'nan' is not a finite number"},
        {"--budget 0", "kiln tune: --budget: 0 is out of range"},
        {"--compile-threads 0", "kiln tune: --compile-threads: 0 is out of range"},
    };
    expect_usage_errors("tune", tune, sizeof tune / sizeof tune[0]);
}

/* Every command: 0 ok, 1 bad input or a runtime error, 2 usage. */
Test(cli_args, exit_codes_are_consistent, .timeout = 120)
{
    static const struct {
        const char *args;
        int rc;
    } cases[] = {
        {"--help", 0},
        {"", 2},
        {"bogus", 2},
        {"devices", 0},
        {"devices x", 2},
        {"demo --bogus", 2},
        {"run", 2},
        {"run --help", 0},
        {"run -m /nonexistent.gguf", 1},
        {"run -m /tmp", 1},
        {"run -m synthetic:tiny-q4_0 --bogus", 2},
        {"run -m synthetic:tiny-q4_0 -p a --prompt-ids 1", 2},
        {"run -m synthetic:tiny-q4_0 -f /nonexistent.txt", 1},
        {"run -m synthetic:tiny-q4_0 --prompt-ids 1 -n 1 --top-p 0", 1}, /* parses, the sampler refuses it */
        {"run -m synthetic:tiny-q4_0 --prompt-ids 1 -n 2 --ids", 0},
        {"bench", 2},
        {"bench --op matvec --k 33 --runs 1 --seconds 0 --no-roofline", 1},
        {"bench -m /nonexistent.gguf -p 8 -n 0 -r 1", 1},
        {"bench -m x --help", 0},
        {"tokenize", 2},
        {"tokenize -m /nonexistent.gguf -p x", 1},
        {"convert", 2},
        {"convert /nonexistent.bin /tmp/kiln-never-written.gguf", 1},
        {"quantize a b", 2},
        {"quantize a b q9_9", 2},
        {"synth", 2},
        {"synth --preset tiny --type q9_9 /tmp/kiln-never-written.gguf", 2},
        {"synth --preset nonesuch /tmp/kiln-never-written.gguf", 1},
        {"tune --bogus", 2},
    };
    char line[512], out[8192];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(line, sizeof line, KILN " %s >/dev/null 2>&1", cases[i].args);
        cr_expect_eq(kt_run_cmd(line, out, sizeof out), cases[i].rc, "`kiln %s` must exit %d", cases[i].args,
                     cases[i].rc);
    }
    cr_expect_neq(access("/tmp/kiln-never-written.gguf", F_OK), 0, "a failed command left its output behind");
}

Test(cli_args, help_names_every_flag, .timeout = 30)
{
    static const char *const run_flags[] = {"-c, --ctx-size", "-t, --threads", "-s, --seed", "-f, --file",
                                            "-e, --escape", "--top-k", "--top-p", "--min-p", "--repeat-penalty",
                                            "--repeat-last-n", "-1 = until the context is full",
                                            "--no-display-prompt", "--context-shift", "--keep", "Exit codes"};
    static const char *const bench_flags[] = {"-p, --n-prompt", "-n, --n-gen", "-pg P,N", "-d, --n-depth",
                                              "-t, --threads", "-r, --repetitions", "-ctk, --cache-type-k",
                                              "-ctv", "-o, --output", "-b, --batch-size", "-ub, --ubatch-size",
                                              "-fa, --flash-attn", "ignored", "--batch B", "Exit codes"};
    char out[16384];
    cr_assert_eq(kt_run_cmd(KILN " run --help", out, sizeof out), 0);
    for (size_t i = 0; i < sizeof run_flags / sizeof run_flags[0]; i++)
        cr_expect_not_null(strstr(out, run_flags[i]), "kiln run --help lacks '%s'", run_flags[i]);
    cr_assert_eq(kt_run_cmd(KILN " bench -m x --help", out, sizeof out), 0);
    for (size_t i = 0; i < sizeof bench_flags / sizeof bench_flags[0]; i++)
        cr_expect_not_null(strstr(out, bench_flags[i]), "kiln bench -m x --help lacks '%s'", bench_flags[i]);
}

/* Random strings as -n and --temp: kiln must accept exactly what a plain
 * reference (a regular expression and a range) accepts, and name the option
 * otherwise. Seeded (KILN_TEST_SEED). */
Test(cli_args, random_values_parse_exactly, .timeout = 300)
{
    regex_t int_re, num_re;
    cr_assert_eq(regcomp(&int_re, "^[-+]?[0-9]+$", REG_EXTENDED | REG_NOSUB), 0);
    cr_assert_eq(regcomp(&num_re, "^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$", REG_EXTENDED | REG_NOSUB), 0);
    static const char alphabet[] = "0123456789-+.eExn ";
    kt_rng rng = kt_rng_make(0xa295);
    unsigned long long seed = (unsigned long long)kt_seed();
    int accepted = 0;
    for (int c = 0; c < 60; c++) {
        char v[8];
        int len = (int)kt_below(&rng, 6);
        for (int i = 0; i < len; i++) v[i] = alphabet[kt_below(&rng, (int64_t)sizeof alphabet - 1)];
        v[len] = 0;
        int is_n = c % 2 == 0;
        int ok;
        if (is_n) {
            ok = !regexec(&int_re, v, 0, NULL, 0) && strlen(v) < 12;
            if (ok) { /* in range -1..200 (this test's own bound, below the option's) */
                long long x = atoll(v);
                ok = x >= -1 && x <= 200;
                if (!ok) continue; /* a valid number we do not want to generate 2^31 tokens for */
            }
        } else {
            ok = !regexec(&num_re, v, 0, NULL, 0) && strtod(v, NULL) >= 0 && strtod(v, NULL) <= 1e6;
        }
        char line[256], out[4096];
        snprintf(line, sizeof line, KILN " run -m synthetic:tiny-q4_0 --prompt-ids 1 -c 8 --ids %s '%s' 2>&1 >/dev/null",
                 is_n ? "-n" : "--temp", v);
        int rc = kt_run_cmd(line, out, sizeof out);
        cr_assert_eq(rc, ok ? 0 : 2, "seed %llu case %d: `%s` exited %d, the reference says %s:\n%s", seed, c, line,
                     rc, ok ? "valid" : "invalid", out);
        if (!ok) cr_assert_not_null(strstr(out, is_n ? "kiln run: -n: " : "kiln run: --temp: "), "%s", out);
        accepted += ok;
    }
    cr_log_info("random_values_parse_exactly: %d of the values were valid", accepted);
    regfree(&int_re);
    regfree(&num_re);
}

/* A value the parser takes but the sampler refuses: the message names that
 * setting alone (it used to list every setting). */
Test(cli_args, sampler_names_the_setting_out_of_range, .timeout = 60)
{
    static const struct {
        const char *args, *msg;
    } cases[] = {
        {"--top-p 0", "sampler: top_p 0 is out of range"},
        {"--repeat-penalty 0", "sampler: repeat_penalty 0 is out of range"},
    };
    char line[512], out[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(line, sizeof line, KILN " run -m synthetic:tiny-q4_0 --prompt-ids 1 -n 1 %s 2>&1 >/dev/null",
                 cases[i].args);
        cr_expect_eq(kt_run_cmd(line, out, sizeof out), 1, "`%s`: %s", line, out);
        cr_expect_not_null(strstr(out, cases[i].msg), "`%s`: '%s' lacks '%s'", line, out, cases[i].msg);
        cr_expect_null(strstr(out, "temperature"), "`%s` names more than the one setting: %s", line, out);
    }
}
