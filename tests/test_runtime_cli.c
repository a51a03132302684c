/* tests/test_runtime_cli.c — the runtime's commands as a user runs them:
 * kiln tokenize/run/convert/quantize/synth, their output formats, exit codes
 * and error messages. Runs build/bin/kiln through the shell. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <math.h>

#include "kiln/gguf.h"
#include "kiln/kiln.h"
#include "support/files.h"
#include "support/cli.h"


Test(runtime_cli, tokenize_prints_ids_like_llama_tokenize, .timeout = 60)
{
    kt_need(SHARED "vocab/ggml-vocab-llama-spm.gguf");
    char out[4096];
    int rc = kt_run_cmd(KILN " tokenize -m " SHARED "vocab/ggml-vocab-llama-spm.gguf -p 'Hello world' --ids", out, sizeof out);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(out, "[1, 15043, 3186]\n");
    rc = kt_run_cmd(KILN " tokenize -m " SHARED "vocab/ggml-vocab-llama-spm.gguf -p ' Hello, world!' --ids --no-bos", out, sizeof out);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(out, "[29871, 15043, 29892, 3186, 29991]\n");
    rc = kt_run_cmd(KILN " tokenize -m " SHARED "vocab/ggml-vocab-gpt-2.gguf -p \"Hello y'all\" --ids", out, sizeof out);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(out, "[15496, 331, 6, 439]\n");
    rc = kt_run_cmd(KILN " tokenize -m " SHARED "vocab/ggml-vocab-llama-spm.gguf -p 'Hello' --show-count", out, sizeof out);
    cr_assert_eq(rc, 0);
    cr_assert_not_null(strstr(out, "15043 -> ' Hello'"), "%s", out);
    cr_assert_not_null(strstr(out, "Total number of tokens: 2"), "%s", out);
    /* --tokenizer-pre replaces the file's pre-tokenizer; an unknown name is exit 1 */
    rc = kt_run_cmd(KILN " tokenize -m " SHARED "vocab/ggml-vocab-gpt-2.gguf -p '  1' --ids --tokenizer-pre smollm", out,
                 sizeof out);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(out, "[220, 220, 16]\n");
    cr_assert_eq(kt_run_cmd(KILN " tokenize -m " SHARED "vocab/ggml-vocab-gpt-2.gguf -p x --tokenizer-pre bogus 2>&1", out,
                         sizeof out), 1);
    cr_assert(strstr(out, "'bogus'"), "%s", out);
    cr_assert_eq(kt_run_cmd(KILN " tokenize --help", out, sizeof out), 0);
    cr_assert(strstr(out, "--tokenizer-pre") && strstr(out, "smollm"), "--help lists no pre-tokenizers");
    cr_assert_eq(kt_run_cmd(KILN " tokenize -p x 2>/dev/null", out, sizeof out), 2);
    cr_assert_eq(kt_run_cmd(KILN " tokenize -m /nonexistent.gguf -p x 2>/dev/null", out, sizeof out), 1);
}

Test(runtime_cli, run_reproduces_the_reference_ids, .timeout = 120)
{
    kt_need(SHARED "models/stories260K.bin");
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
        cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
        out[strcspn(out, "\n")] = 0;
        cr_expect_str_eq(out, want, "%s", cmd);
    }
}

Test(runtime_cli, run_reports_bad_input, .timeout = 60)
{
    kt_need(SHARED "models/stories260K.bin");
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
        cr_expect_eq(kt_run_cmd(cmd, out, sizeof out), cases[i].rc, "%s", cmd);
        cr_expect_not_null(strstr(out, cases[i].msg), "%s: output '%s' lacks '%s'", cmd, out, cases[i].msg);
    }
    cr_expect_eq(kt_run_cmd(KILN " run -m /nonexistent.bin 2>&1", out, sizeof out), 1);
    cr_expect_not_null(strstr(out, "/nonexistent.bin"), "%s", out);
    cr_expect_eq(kt_run_cmd(KILN " run --help", out, sizeof out), 0);
    cr_expect_not_null(strstr(out, "--dump-logits"), "%s", out);
}

Test(runtime_cli, convert_quantize_synth, .timeout = 120)
{
    kt_need(SHARED "models/stories260K.bin");
    char out[8192], cmd[1024];
    char dir[] = "/tmp/kiln_cli_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, KILN " convert " SHARED "models/stories260K.bin %s/a.gguf 2>&1", dir);
    cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, KILN " quantize %s/a.gguf %s/b.gguf q4_0 2>&1", dir, dir);
    cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "ffn_down.weight (5 tensors): rows of 172 do not fit q4_0"), "%s", out);
    snprintf(cmd, sizeof cmd, KILN " quantize %s/a.gguf %s/c.gguf q9_9 2>&1", dir, dir);
    cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 2, "%s", out);
    snprintf(cmd, sizeof cmd, KILN " synth --preset tiny --type q8_0 %s/s.gguf 2>&1", dir);
    cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, KILN " tokenize -m %s/a.gguf -p x 2>&1", dir);
    cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 1, "a converted llama2.c model has no vocabulary");
    cr_assert_not_null(strstr(out, "tokenizer.ggml.model"), "%s", out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Reads the reference ids (greedy from BOS, f32 KV) of stories260K into ids; returns the count. */
static int reference_ids(int *ids, int cap)
{
    FILE *f = fopen(SHARED "reference/stories260K-greedy-from-bos.txt", "r");
    cr_assert_not_null(f);
    int n = 0;
    while (n < cap && fscanf(f, "%d", &ids[n]) == 1) n++;
    fclose(f);
    return n;
}

static int parse_out_ids(const char *s, int *ids, int cap)
{
    int n = 0, k;
    while (n < cap && sscanf(s, "%d%n", &ids[n], &k) == 1) n++, s += k;
    return n;
}

/* -n -1 generates until the context is full, then stops and says so (exit 0);
 * so does any -n that would run past it. Never a read past the KV cache. */
Test(runtime_cli, run_stops_when_the_context_is_full, .timeout = 120)
{
    kt_need(SHARED "models/stories260K.bin");
    if (!kiln_backend_available(KILN_BACKEND_CPU)) cr_skip_test("the cpu backend is not available: %s", kiln_last_error());
    int want[128], got[256];
    int n_want = reference_ids(want, 128);
    cr_assert_geq(n_want, 24);
    char out[8192], cmd[1024];
    const char *ns[] = {"-1", "100"};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, KILN " run -m " SHARED "models/stories260K.bin -n %s -c 24 --temp 0 --kv-type f32 --ids 2>/dev/null", ns[i]);
        cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
        int n = parse_out_ids(out, got, 256);
        cr_expect_eq(n, 24, "`%s`: %d ids, want 24 (BOS + 23 in the cache, then the one sampled last): %s", cmd, n, out);
        for (int k = 0; k < n && k < 24; k++) cr_expect_eq(got[k], want[k], "`%s`: id %d", cmd, k);
        snprintf(cmd, sizeof cmd, KILN " run -m " SHARED "models/stories260K.bin -n %s -c 24 --temp 0 --kv-type f32 --ids 2>&1 >/dev/null", ns[i]);
        cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
        cr_expect_not_null(strstr(out, "kiln run: stopped: the context is full (24 tokens)"), "%s", out);
        cr_expect_not_null(strstr(out, "--context-shift"), "the message names the way on: %s", out);
    }
}

/* Line k of a --dump-logits file (malloc'ed), or NULL. */
static char *dump_line(const char *path, int k)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got = -1;
    for (int i = 0; i <= k; i++)
        if ((got = getline(&line, &cap, f)) < 0) break;
    fclose(f);
    if (got < 0) {
        free(line);
        return NULL;
    }
    return line;
}

/* --context-shift: when the cache is full, the first --keep tokens of the
 * prompt stay, half of the rest go, and generation continues. The logits
 * after the shift must be exactly those of a fresh run on the shifted window. */
Test(runtime_cli, run_context_shift_continues_on_the_shifted_window, .timeout = 180)
{
    kt_need(SHARED "models/stories260K.bin");
    if (!kiln_backend_available(KILN_BACKEND_CPU)) cr_skip_test("the cpu backend is not available: %s", kiln_last_error());
    const char *m = SHARED "models/stories260K.bin";
    enum { CTX = 32, NP = 5 };
    const int prompt[NP] = {1, 403, 407, 261, 378};
    char out[8192], cmd[2048], dir[] = "/tmp/kiln_shift_XXXXXX", long_dump[256], fresh_dump[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(long_dump, sizeof long_dump, "%s/long.txt", dir);
    snprintf(fresh_dump, sizeof fresh_dump, "%s/fresh.txt", dir);
    int got[256];
    for (int keep = 0; keep <= 3; keep += 3) {
        snprintf(cmd, sizeof cmd,
                 KILN " run -m %s --prompt-ids 1,403,407,261,378 -n 40 -c %d --keep %d --temp 0 --kv-type f32 --ids --ignore-eos "
                      "--context-shift --dump-logits %s 2>/dev/null",
                 m, CTX, keep, long_dump);
        cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
        cr_assert_eq(parse_out_ids(out, got, 256), 40, "`%s`: %s", cmd, out);
        /* The cache held the prompt and got[0 .. CTX-NP) when got[CTX-NP] came. */
        int cache[CTX + 1], window[CTX + 1], w = 0;
        for (int k = 0; k < CTX; k++) cache[k] = k < NP ? prompt[k] : got[k - NP];
        int n_discard = (CTX - keep) / 2;
        for (int k = 0; k < keep; k++) window[w++] = cache[k];
        for (int k = keep + n_discard; k < CTX; k++) window[w++] = cache[k];
        window[w++] = got[CTX - NP];
        int len = snprintf(cmd, sizeof cmd, KILN " run -m %s -n 1 --temp 0 --kv-type f32 --ids --dump-logits %s --prompt-ids ",
                           m, fresh_dump);
        for (int k = 0; k < w; k++) len += snprintf(cmd + len, sizeof cmd - (size_t)len, k ? ",%d" : "%d", window[k]);
        snprintf(cmd + len, sizeof cmd - (size_t)len, " 2>/dev/null");
        cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
        /* dump lines: 0 the prompt, 1..CTX-NP the decode steps that filled the cache, then the shift */
        char *after_shift = dump_line(long_dump, CTX - NP + 1), *fresh = dump_line(fresh_dump, 0);
        cr_assert_not_null(after_shift);
        cr_assert_not_null(fresh);
        cr_expect_str_eq(after_shift, fresh, "--keep %d: the logits after the shift differ from a fresh run on the window",
                         keep);
        free(after_shift);
        free(fresh);
    }
    snprintf(cmd, sizeof cmd, KILN " run -m %s -n 60 -c 32 --temp 0 --ids --context-shift 2>&1 >/dev/null", m);
    cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
    cr_expect_not_null(strstr(out, "context shift"), "the summary counts the shifts: %s", out);
    /* --keep that keeps everything: nothing to drop, a clear stop */
    snprintf(cmd, sizeof cmd, KILN " run -m %s -n 60 -c 32 --keep -1 --prompt-ids 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31 --temp 0 --ids --context-shift 2>&1 >/dev/null", m);
    cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
    cr_expect_not_null(strstr(out, "--keep leaves nothing to drop"), "%s", out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(runtime_cli, run_prompt_from_file_escapes_and_display, .timeout = 120)
{
    kt_need(SHARED "models/stories260K-Q4_K_M.gguf");
    const char *m = " run -m " SHARED "models/stories260K-Q4_K_M.gguf -n 1 --temp 0";
    char out[8192], cmd[1024];
    char path[] = "/tmp/kiln_prompt_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "Once upon a time", 16), 16);
    close(fd);
    snprintf(cmd, sizeof cmd, KILN "%s -f %s 2>/dev/null", m, path);
    cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
    cr_expect_eq(strncmp(out, "Once upon a time", 16), 0, "-f: the prompt is echoed first: '%s'", out);
    snprintf(cmd, sizeof cmd, KILN "%s -f %s --no-display-prompt 2>/dev/null", m, path);
    cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
    cr_expect_null(strstr(out, "Once upon"), "--no-display-prompt: '%s'", out);
    unlink(path);
    snprintf(cmd, sizeof cmd, KILN "%s -p 'a\\tb\\x41\\q' -e 2>/dev/null", m);
    cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
    cr_expect_eq(strncmp(out, "a\tbA\\q", 6), 0, "-e: escapes processed, unknown ones kept: '%s'", out);
    snprintf(cmd, sizeof cmd, KILN "%s -p 'a\\tb' 2>/dev/null", m);
    cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", cmd);
    cr_expect_eq(strncmp(out, "a\\tb", 4), 0, "without -e the text is as typed: '%s'", out);
    snprintf(cmd, sizeof cmd, KILN "%s -f /tmp 2>&1", m);
    cr_expect_eq(kt_run_cmd(cmd, out, sizeof out), 1, "%s", cmd);
    cr_expect_not_null(strstr(out, "kiln run: -f /tmp: is a directory"), "%s", out);
    snprintf(cmd, sizeof cmd, KILN "%s -f /nonexistent.txt 2>&1", m);
    cr_expect_eq(kt_run_cmd(cmd, out, sizeof out), 1, "%s", cmd);
    cr_expect_not_null(strstr(out, "kiln run: -f /nonexistent.txt: No such file or directory"), "%s", out);
}

/* What the OS said, with the path: missing files, directories, unwritable outputs. */
Test(runtime_cli, errors_name_the_path_and_the_reason, .timeout = 60)
{
    char out[8192];
    static const struct {
        const char *args;
        const char *msg;
    } cases[] = {
        {"run -m /tmp", "/tmp is a directory, not a model file"},
        {"run -m /nonexistent.bin", "cannot open /nonexistent.bin: No such file or directory"},
        {"bench -m /tmp -p 8 -n 0 -r 1", "/tmp is a directory, not a model file"},
        {"convert /tmp /tmp/kiln-never.gguf", "/tmp is a directory, not a model file"},
        {"quantize /nonexistent.gguf /tmp/kiln-never.gguf q8_0", "No such file or directory"},
        {"run -m synthetic:tiny-q4_0 --prompt-ids 1 -n 1 --dump-logits /nonexistent-dir/l.txt",
         "--dump-logits /nonexistent-dir/l.txt: No such file or directory"},
        {"synth --preset tiny /nonexistent-dir/s.gguf", "No such file or directory"},
        {"tokenize -m /tmp -p x", "/tmp"},
        {"tokenize -m " SHARED "vocab/ggml-vocab-llama-spm.gguf -f /tmp", "kiln tokenize: -f /tmp: is a directory"},
        {"tokenize -m " SHARED "vocab/ggml-vocab-llama-spm.gguf -f /nonexistent.txt",
         "kiln tokenize: -f /nonexistent.txt: No such file or directory"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, KILN " %s 2>&1 >/dev/null", cases[i].args);
        cr_expect_eq(kt_run_cmd(cmd, out, sizeof out), 1, "`%s`: %s", cmd, out);
        cr_expect_not_null(strstr(out, cases[i].msg), "`%s`: '%s' lacks '%s'", cmd, out, cases[i].msg);
    }
}

/* Weights holding NaN or infinity are refused at load, the tensor named
 * (a .bin of NaN weights used to print "0 0 0 ..." and exit 0). */
Test(runtime_cli, non_finite_weights_are_refused, .timeout = 120)
{
    kt_need(SHARED "models/stories260K.bin");
    size_t len = 0;
    unsigned char *buf = (unsigned char *)kt_read_file(SHARED "models/stories260K.bin", &len);
    cr_assert_not_null(buf);
    char dir[] = "/tmp/kiln_nan_XXXXXX", path[256], cmd[1024], out[8192];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/nan.bin", dir);
    float nan = NAN, inf = INFINITY;
    unsigned char *all_nan = malloc(len);
    memcpy(all_nan, buf, 28);
    for (size_t o = 28; o + 4 <= len; o += 4) memcpy(all_nan + o, &nan, 4);
    kt_write_file(path, all_nan, len);
    free(all_nan);
    snprintf(cmd, sizeof cmd, KILN " run -m %s -n 3 --temp 0 --ids 2>&1", path);
    cr_expect_eq(kt_run_cmd(cmd, out, sizeof out), 1, "%s: %s", cmd, out);
    cr_expect_not_null(strstr(out, "token_embd.weight (f32) holds NaN or infinity at element 0"), "%s", out);
    /* one infinity in layer 0's Wq: token_embd [512][64], then rms_att [5][64], then wq */
    memcpy(buf + 28 + 4 * (512 * 64 + 5 * 64 + 70), &inf, 4);
    kt_write_file(path, buf, len);
    cr_expect_eq(kt_run_cmd(cmd, out, sizeof out), 1, "%s: %s", cmd, out);
    cr_expect_not_null(strstr(out, "blk.0.attn_q.weight (f32) holds NaN or infinity at element 70 (row 1)"), "%s", out);
    free(buf);
    /* a quantized file: one block scale of blk.1.ffn_up made infinite */
    snprintf(path, sizeof path, "%s/q.gguf", dir);
    snprintf(cmd, sizeof cmd, KILN " synth --preset tiny --type q4_0 %s 2>&1", path);
    cr_assert_eq(kt_run_cmd(cmd, out, sizeof out), 0, "%s", out);
    kiln_gguf *g = NULL;
    cr_assert_eq(kiln_gguf_open(path, &g), KILN_OK, "%s", kiln_last_error());
    const kiln_gguf_tensor *t = kiln_gguf_find_tensor(g, "blk.1.ffn_up.weight");
    cr_assert_not_null(t);
    cr_assert_eq(t->dtype, KILN_Q4_0);
    size_t at = (size_t)(kiln_gguf_data_offset(g) + t->offset) + 3 * 18; /* block 3's f16 scale */
    kiln_gguf_close(g);
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    const unsigned char f16_inf[2] = {0x00, 0x7c};
    cr_assert_eq(pwrite(fd, f16_inf, 2, (off_t)at), 2);
    close(fd);
    snprintf(cmd, sizeof cmd, KILN " run -m %s --prompt-ids 1 -n 1 2>&1", path);
    cr_expect_eq(kt_run_cmd(cmd, out, sizeof out), 1, "%s: %s", cmd, out);
    cr_expect_not_null(strstr(out, "blk.1.ffn_up.weight (q4_0) has a NaN or infinite scale in block 3 (row 0)"), "%s",
                       out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* kiln devices: the driver string whole (it was cut to "Mesa 22.3.6 (LLV (Vulkan 1.3.230)"). */
Test(runtime_cli, devices_print_whole_driver_strings, .timeout = 60)
{
    char out[16384];
    cr_assert_eq(kt_run_cmd(KILN " devices 2>&1", out, sizeof out), 0, "%s", out);
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char *d = strstr(line, ", driver ");
        if (!d) continue;
        int open = 0, close = 0;
        for (char *p = d; *p; p++) open += *p == '(', close += *p == ')';
        cr_expect_eq(open, close, "unbalanced parentheses, a string cut short: '%s'", line);
        lines++;
    }
    if (!lines) cr_log_info("no device prints a driver string here");
}

/* -cnv is llama-cli's conversation mode: kiln run hands over to kiln chat,
 * -p becoming the system message; what chat does not take is a usage error. */
Test(runtime_cli, cnv_runs_kiln_chat, .timeout = 60)
{
    const char *model = SHARED "models/stories260K-Q4_K_M.gguf";
    kt_need(model);
    char out[8192];
    int rc = kt_run_cmd(KILN " run -m " SHARED "models/stories260K-Q4_K_M.gguf -cnv -p 'Be brief.' "
                             "--chat-template chatml -n 4 -s 1 -c 128 --temp 0 < /dev/null 2>&1",
                        out, sizeof out);
    cr_expect_eq(rc, 0, "kiln run -cnv exited %d:\n%s", rc, out);
    cr_expect(strstr(out, "kiln chat: template chatml") != NULL, "-cnv did not start kiln chat:\n%s", out);
    rc = kt_run_cmd(KILN " run -m " SHARED "models/stories260K-Q4_K_M.gguf -cnv -f /dev/null < /dev/null 2>&1", out,
                    sizeof out);
    cr_expect_eq(rc, 2, "kiln run -cnv -f exited %d (want 2, usage):\n%s", rc, out);
}
