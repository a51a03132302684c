/* tests/test_tokenizer.c — the tokenizers against llama.cpp's own test vectors
 * (NAME.inp -> NAME.out, ids without BOS: the two in /work/shared/vocab, and
 * every vocabulary with vectors `make models` fetched), plus BOS, special
 * tokens, round trips and malformed vocabularies. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/runtime.h"
#include "support/models.h"
#include "support/files.h"

#define VOCAB_DIR KILN_SOURCE_DIR "/../shared/vocab/"

static kiln_tokenizer *load_vocab_at(const char *path, kiln_gguf **g)
{
    FILE *f = fopen(path, "rb");
    if (!f) cr_skip_test("%s is absent", path);
    fclose(f);
    cr_assert_eq(kiln_gguf_open(path, g), KILN_OK, "%s", kiln_last_error());
    kiln_tokenizer *t = NULL;
    cr_assert_eq(kiln_tokenizer_from_gguf(*g, &t), KILN_OK, "%s", kiln_last_error());
    return t;
}

static kiln_tokenizer *load_vocab(const char *name, kiln_gguf **g)
{
    char path[512];
    snprintf(path, sizeof path, VOCAB_DIR "%s", name);
    return load_vocab_at(path, g);
}

/* Every input of VECTORS.inp must give exactly the ids on its line of
 * VECTORS.out with the vocabulary of GGUF. */
static void run_vectors(const char *gguf, const char *vectors)
{
    kiln_gguf *g = NULL;
    kiln_tokenizer *t = load_vocab_at(gguf, &g);
    const char *name = strrchr(vectors, '/') ? strrchr(vectors, '/') + 1 : vectors;
    char path[1024];
    size_t in_len, out_len;
    snprintf(path, sizeof path, "%s.inp", vectors);
    char *in = kt_read_file(path, &in_len);
    snprintf(path, sizeof path, "%s.out", vectors);
    char *out = kt_read_file(path, &out_len);
    cr_assert(in && out, "test vectors of %s are missing", name);

    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *case_start = in, *line = out;
    int n_cases = 0, n_failed = 0;
    for (;;) {
        char *case_end = strstr(case_start, sep);
        if (!case_end) break;
        char *line_end = strchr(line, '\n');
        cr_assert_not_null(line_end, "%s.out has fewer lines than the inputs", name);
        *line_end = 0;

        int32_t *ids = NULL;
        size_t n = 0;
        cr_assert_eq(kiln_tokenize(t, case_start, (size_t)(case_end - case_start), 0, 1, &ids, &n), KILN_OK,
                     "%s", kiln_last_error());
        char got[8192] = "";
        size_t w = 0;
        for (size_t i = 0; i < n && w < sizeof got - 16; i++) w += (size_t)snprintf(got + w, sizeof got - w, " %d", ids[i]);
        /* the ids separated by spaces; some .out files start lines with one, some not */
        if (strcmp(got + (line[0] != ' ' && got[0] == ' '), line) != 0) {
            n_failed++;
            cr_log_error("%s case %d (%.*s):\n  expected%s\n  got     %s", name, n_cases,
                         (int)(case_end - case_start), case_start, line, got);
        }
        free(ids);
        n_cases++;
        case_start = case_end + strlen(sep);
        line = line_end + 1;
    }
    cr_assert_gt(n_cases, 20, "only %d cases found in %s.inp", n_cases, name);
    cr_assert_eq(*line, 0, "%s.out has more lines than %s.inp has cases", name, name);
    cr_expect_eq(n_failed, 0, "%d of %d cases of %s differ from llama.cpp", n_failed, n_cases, name);
    free(in);
    free(out);
    kiln_tokenizer_free(t);
    kiln_gguf_close(g);
}

Test(tokenizer, llama_spm_vectors, .timeout = 60) { run_vectors(VOCAB_DIR "ggml-vocab-llama-spm.gguf", VOCAB_DIR "ggml-vocab-llama-spm.gguf"); }

Test(tokenizer, gpt2_bpe_vectors, .timeout = 60) { run_vectors(VOCAB_DIR "ggml-vocab-gpt-2.gguf", VOCAB_DIR "ggml-vocab-gpt-2.gguf"); }

/* The vocabularies of llama.cpp's models/ with test vectors, as `make models`
 * fetched them (.ci/models.txt: vocab-NAME, .inp, .out); skipped, naming the
 * file, when they are not there. */
static void run_fetched_vectors(const char *name)
{
    char key[128], why[768];
    const char *ext[] = {"", ".inp", ".out"};
    char *path = NULL;
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "vocab-%s%s", name, ext[i]);
        free(path);
        if (!(path = kt_model_path(key, why, sizeof why))) cr_skip_test("%s", why);
    }
    free(path);
    snprintf(key, sizeof key, "vocab-%s", name);
    path = kt_model_path(key, why, sizeof why);
    run_vectors(path, path);
    free(path);
}

Test(tokenizer_vocabs, command_r, .timeout = 120) { run_fetched_vectors("command-r"); }
Test(tokenizer_vocabs, deepseek_coder, .timeout = 120) { run_fetched_vectors("deepseek-coder"); }
Test(tokenizer_vocabs, deepseek_llm, .timeout = 120) { run_fetched_vectors("deepseek-llm"); }
Test(tokenizer_vocabs, falcon, .timeout = 120) { run_fetched_vectors("falcon"); }
Test(tokenizer_vocabs, gpt_2, .timeout = 120) { run_fetched_vectors("gpt-2"); }
Test(tokenizer_vocabs, llama_bpe, .timeout = 120) { run_fetched_vectors("llama-bpe"); }
Test(tokenizer_vocabs, llama_spm, .timeout = 120) { run_fetched_vectors("llama-spm"); }
Test(tokenizer_vocabs, mpt, .timeout = 120) { run_fetched_vectors("mpt"); }
Test(tokenizer_vocabs, phi_3, .timeout = 120) { run_fetched_vectors("phi-3"); }
Test(tokenizer_vocabs, qwen2, .timeout = 120) { run_fetched_vectors("qwen2"); }
Test(tokenizer_vocabs, qwen35, .timeout = 120) { run_fetched_vectors("qwen35"); }
Test(tokenizer_vocabs, refact, .timeout = 120) { run_fetched_vectors("refact"); }
Test(tokenizer_vocabs, starcoder, .timeout = 120) { run_fetched_vectors("starcoder"); }
/* SmolLM2-135M (pre-tokenizer "smollm"): hard strings — code with tabs and
 * space runs, numbers, emoji, CJK, ChatML special tokens, malformed UTF-8 —
 * against llama-tokenize's ids (tests/data/smollm2_tokenizer.py made them). */
Test(tokenizer_vocabs, smollm2_hard_strings, .timeout = 120)
{
    char why[768], *path = kt_model_path("smollm2", why, sizeof why);
    if (!path) cr_skip_test("%s", why);
    run_vectors(path, KILN_SOURCE_DIR "/tests/data/smollm2_tokenizer");
    free(path);
}

/* The two kiln cannot run, listed so that their absence is said, not silent. */
Test(tokenizer_vocabs, bert_bge)
{
    cr_skip_test("ggml-vocab-bert-bge: tokenizer.ggml.model 'bert' (WordPiece) is not implemented in kiln");
}
Test(tokenizer_vocabs, gemma_4)
{
    cr_skip_test("ggml-vocab-gemma-4: tokenizer.ggml.model 'gemma4' (BPE on raw UTF-8 with U+2581 spaces) "
                 "is not implemented in kiln");
}

Test(tokenizer, spm_bos_and_special_tokens)
{
    kiln_gguf *g = NULL;
    kiln_tokenizer *t = load_vocab("ggml-vocab-llama-spm.gguf", &g);
    cr_assert_eq(kiln_tokenizer_vocab_size(t), 32000);
    cr_assert_eq(kiln_tokenizer_bos(t), 1);
    cr_assert_eq(kiln_tokenizer_eos(t), 2);
    cr_assert(kiln_tokenizer_adds_bos(t));

    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(kiln_tokenize(t, "Hello world", 11, 1, 1, &ids, &n), KILN_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(ids[0], 1);
    cr_assert_eq(ids[1], 15043);
    cr_assert_eq(ids[2], 3186);
    free(ids);

    /* "<s>" spells the BOS control token only when parsing special tokens. */
    const char *text = "Hello</s><s>world";
    cr_assert_eq(kiln_tokenize(t, text, strlen(text), 0, 1, &ids, &n), KILN_OK);
    cr_assert_geq(n, 4);
    int saw_eos = 0, saw_bos = 0;
    for (size_t i = 0; i < n; i++) saw_eos |= ids[i] == 2, saw_bos |= ids[i] == 1;
    cr_assert(saw_eos && saw_bos, "control tokens were not recognized");
    free(ids);
    cr_assert_eq(kiln_tokenize(t, text, strlen(text), 0, 0, &ids, &n), KILN_OK);
    for (size_t i = 0; i < n; i++) cr_assert(ids[i] != 1 && ids[i] != 2, "control token parsed with parse_special=0");
    free(ids);

    /* Empty text: nothing, not even the space prefix. */
    cr_assert_eq(kiln_tokenize(t, "", 0, 0, 1, &ids, &n), KILN_OK);
    cr_assert_eq(n, 0);
    free(ids);
    kiln_tokenizer_free(t);
    kiln_gguf_close(g);
}

/* Decoding the ids gives the text back (SPM: with the prefixed space). */
static void check_round_trip(const char *vocab, const char *text, const char *expect)
{
    kiln_gguf *g = NULL;
    kiln_tokenizer *t = load_vocab(vocab, &g);
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(kiln_tokenize(t, text, strlen(text), 0, 0, &ids, &n), KILN_OK);
    char buf[1024];
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int k = kiln_token_to_text(t, ids[i], 0, buf + w, sizeof buf - w);
        cr_assert_geq(k, 0);
        w += (size_t)k;
        cr_assert_lt(w, sizeof buf);
    }
    buf[w] = 0;
    cr_assert_str_eq(buf, expect);
    cr_assert_eq(kiln_token_to_text(t, -1, 0, buf, sizeof buf), -1);
    cr_assert_eq(kiln_token_to_text(t, kiln_tokenizer_vocab_size(t), 0, buf, sizeof buf), -1);
    free(ids);
    kiln_tokenizer_free(t);
    kiln_gguf_close(g);
}

Test(tokenizer, spm_round_trip)
{
    check_round_trip("ggml-vocab-llama-spm.gguf", "Hello, y'all! 🦙 нещо\n\ttabs  ",
                     " Hello, y'all! 🦙 нещо\n\ttabs  ");
}

Test(tokenizer, bpe_round_trip)
{
    check_round_trip("ggml-vocab-gpt-2.gguf", "Hello, y'all! 🦙 нещо\n\ttabs  \xc2\xa0x",
                     "Hello, y'all! 🦙 нещо\n\ttabs  \xc2\xa0x");
}

/* A GGUF with no vocabulary, or an unknown tokenizer model, is refused by name. */
Test(tokenizer, refuses_missing_or_unknown_vocab)
{
    const char *path = "/tmp/kiln_test_tokenizer_bad.gguf";
    kiln_gguf_writer *w = NULL;
    cr_assert_eq(kiln_gguf_writer_create(&w), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_str(w, "general.architecture", "llama"), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_write(w, path, 3), KILN_OK, "%s", kiln_last_error());
    kiln_gguf_writer_free(w);
    kiln_gguf *g = NULL;
    kiln_tokenizer *t = NULL;
    cr_assert_eq(kiln_gguf_open(path, &g), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_tokenizer_from_gguf(g, &t), KILN_ERR_FORMAT);
    cr_assert_not_null(strstr(kiln_last_error(), "tokenizer.ggml.model"), "%s", kiln_last_error());
    kiln_gguf_close(g);

    cr_assert_eq(kiln_gguf_writer_create(&w), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_str(w, "tokenizer.ggml.model", "wordpiece"), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_write(w, path, 3), KILN_OK);
    kiln_gguf_writer_free(w);
    cr_assert_eq(kiln_gguf_open(path, &g), KILN_OK);
    cr_assert_eq(kiln_tokenizer_from_gguf(g, &t), KILN_ERR_UNSUPPORTED);
    cr_assert_not_null(strstr(kiln_last_error(), "wordpiece"), "%s", kiln_last_error());
    kiln_gguf_close(g);
    remove(path);
}
