/* tests/test_runtime_cli.c — the runtime's commands as a user runs them:
 * kiln tokenize/run/convert/quantize/synth, their output formats, exit codes
 * and error messages. Runs build/bin/kiln through the shell. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/kiln.h"

#define KILN KILN_BINARY_DIR "/bin/kiln"
#define SHARED KILN_SOURCE_DIR "/../shared/"

/* Runs cmd; returns its exit code, stdout in out (cap bytes, NUL-terminated). */
static int run_cmd(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void need(const char *path)
{
    if (access(path, R_OK) != 0) cr_skip_test("%s is absent", path);
}

Test(runtime_cli, tokenize_prints_ids_like_llama_tokenize, .timeout = 60)
{
    need(SHARED "vocab/ggml-vocab-llama-spm.gguf");
    char out[4096];
    int rc = run_cmd(KILN " tokenize -m " SHARED "vocab/ggml-vocab-llama-spm.gguf -p 'Hello world' --ids", out, sizeof out);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(out, "[1, 15043, 3186]\n");
    rc = run_cmd(KILN " tokenize -m " SHARED "vocab/ggml-vocab-llama-spm.gguf -p ' Hello, world!' --ids --no-bos", out, sizeof out);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(out, "[29871, 15043, 29892, 3186, 29991]\n");
    rc = run_cmd(KILN " tokenize -m " SHARED "vocab/ggml-vocab-gpt-2.gguf -p \"Hello y'all\" --ids", out, sizeof out);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(out, "[15496, 331, 6, 439]\n");
    rc = run_cmd(KILN " tokenize -m " SHARED "vocab/ggml-vocab-llama-spm.gguf -p 'Hello' --show-count", out, sizeof out);
    cr_assert_eq(rc, 0);
    cr_assert_not_null(strstr(out, "15043 -> ' Hello'"), "%s", out);
    cr_assert_not_null(strstr(out, "Total number of tokens: 2"), "%s", out);
    /* --tokenizer-pre replaces the file's pre-tokenizer; an unknown name is exit 1 */
    rc = run_cmd(KILN " tokenize -m " SHARED "vocab/ggml-vocab-gpt-2.gguf -p '  1' --ids --tokenizer-pre smollm", out,
                 sizeof out);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(out, "[220, 220, 16]\n");
    cr_assert_eq(run_cmd(KILN " tokenize -m " SHARED "vocab/ggml-vocab-gpt-2.gguf -p x --tokenizer-pre bogus 2>&1", out,
                         sizeof out), 1);
    cr_assert(strstr(out, "'bogus'"), "%s", out);
    cr_assert_eq(run_cmd(KILN " tokenize --help", out, sizeof out), 0);
    cr_assert(strstr(out, "--tokenizer-pre") && strstr(out, "smollm"), "--help lists no pre-tokenizers");
    cr_assert_eq(run_cmd(KILN " tokenize -p x 2>/dev/null", out, sizeof out), 2);
    cr_assert_eq(run_cmd(KILN " tokenize -m /nonexistent.gguf -p x 2>/dev/null", out, sizeof out), 1);
}

Test(runtime_cli, run_reproduces_the_reference_ids, .timeout = 120)
{
    need(SHARED "models/stories260K.bin");
    if (!kiln_backend_available(KILN_BACKEND_CPU)) cr_skip_test("the cpu backend is not available: %s", kiln_last_error());
    char want[1024], out[4096];
    FILE *f = fopen(SHARED "reference/stories260K-greedy-from-bos.txt", "r");
    cr_assert_not_null(f);
    size_t n = fread(want, 1, sizeof want - 1, f);
    fclose(f);
    while (n && (want[n - 1] == '\n' || want[n - 1] == ' ')) n--;
    want[n] = 0;
    const char *models[] = {SHARED "models/stories260K.bin", SHARED "models/stories260K-f32.gguf"};
    for (int i = 0; i < 2; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, KILN " run -m %s -n 64 --temp 0 --kv-type f32 --ids 2>/dev/null", models[i]);
        cr_assert_eq(run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
        out[strcspn(out, "\n")] = 0;
        cr_expect_str_eq(out, want, "%s", cmd);
    }
}

Test(runtime_cli, run_reports_bad_input, .timeout = 60)
{
    need(SHARED "models/stories260K.bin");
    char out[4096];
    const char *m = " run -m " SHARED "models/stories260K.bin";
    char cmd[1024];
    struct { const char *args; int rc; const char *msg; } cases[] = {
        {" --prompt-ids 1,600", 1, "outside the vocabulary"},
        {" --prompt-ids 1,2,3,4,5 --ctx 4", 1, "context holds 4"},
        {" -p hello", 1, "--prompt-ids"},
        {" --kv-type q4_0", 2, "--kv-type"},
        {" --bogus", 2, "--bogus"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, KILN "%s%s 2>&1", m, cases[i].args);
        cr_expect_eq(run_cmd(cmd, out, sizeof out), cases[i].rc, "%s", cmd);
        cr_expect_not_null(strstr(out, cases[i].msg), "%s: output '%s' lacks '%s'", cmd, out, cases[i].msg);
    }
    cr_expect_eq(run_cmd(KILN " run -m /nonexistent.bin 2>&1", out, sizeof out), 1);
    cr_expect_not_null(strstr(out, "/nonexistent.bin"), "%s", out);
    cr_expect_eq(run_cmd(KILN " run --help", out, sizeof out), 0);
    cr_expect_not_null(strstr(out, "--dump-logits"), "%s", out);
}

Test(runtime_cli, convert_quantize_synth, .timeout = 120)
{
    need(SHARED "models/stories260K.bin");
    char out[8192], cmd[1024];
    char dir[] = "/tmp/kiln_cli_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, KILN " convert " SHARED "models/stories260K.bin %s/a.gguf 2>&1", dir);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, KILN " quantize %s/a.gguf %s/b.gguf q4_0 2>&1", dir, dir);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "ffn_down.weight (5 tensors): rows of 172 do not fit q4_0"), "%s", out);
    snprintf(cmd, sizeof cmd, KILN " quantize %s/a.gguf %s/c.gguf q9_9 2>&1", dir, dir);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 2, "%s", out);
    snprintf(cmd, sizeof cmd, KILN " synth --preset tiny --type q8_0 %s/s.gguf 2>&1", dir);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, KILN " tokenize -m %s/a.gguf -p x 2>&1", dir);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 1, "a converted llama2.c model has no vocabulary");
    cr_assert_not_null(strstr(out, "tokenizer.ggml.model"), "%s", out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* kiln bench -m with --batch: the one-sequence report keeps its shape, the
 * batched one names the batch and the per-sequence rate; bad values exit 2. */
Test(runtime_cli, bench_model_batch, .timeout = 120)
{
    if (!kiln_backend_available(KILN_BACKEND_CPU)) cr_skip_test("the cpu backend is not available: %s", kiln_last_error());
    char out[4096];
    const char *b = KILN " bench -m synthetic:tiny-q4_0 -p 16 -n 4 --reps 1";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s 2>/dev/null", b);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
    cr_expect_not_null(strstr(out, "  pp16 "), "%s", out);
    cr_expect_not_null(strstr(out, "  tg4 "), "%s", out);
    cr_expect_null(strstr(out, "batch"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s --batch 3 2>/dev/null", b);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
    cr_expect_not_null(strstr(out, "batch 3"), "%s", out);
    cr_expect_not_null(strstr(out, "x3"), "%s", out);
    cr_expect_not_null(strstr(out, "per sequence"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s --batch 3 --json 2>/dev/null", b);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
    cr_expect_not_null(strstr(out, "\"batch\": 3"), "%s", out);
    cr_expect_not_null(strstr(out, "\"tg_tokens_per_s_per_seq\": "), "%s", out);
    snprintf(cmd, sizeof cmd, "%s --batch 0 2>&1", b);
    cr_expect_eq(run_cmd(cmd, out, sizeof out), 2, "%s", cmd);
    cr_expect_not_null(strstr(out, "--batch"), "%s", out);
    cr_expect_eq(run_cmd(KILN " bench -m x --help", out, sizeof out), 0);
    cr_expect_not_null(strstr(out, "--batch B"), "%s", out);
}
