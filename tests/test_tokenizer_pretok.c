/* tests/test_tokenizer_pretok.c — the pre-tokenizers alone: the words each
 * rule list cuts a text into, the regex engine against the hand-written
 * GPT-2 and Llama 3 splitters on random text, and the table itself. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/runtime.h"
#include "runtime/pretok.h"
#include "runtime/unicode.h"
#include "support/harness.h"
#include "support/files.h"

static kiln_pretok *pretok_named(const char *name)
{
    const kiln_pretok_name *e = kiln_pretok_find(name, strlen(name));
    cr_assert_not_null(e, "no pre-tokenizer '%s' in the table", name);
    kiln_pretok *p = NULL;
    cr_assert_eq(kiln_pretok_create(e->def, &p), KILN_OK, "%s: %s", name, kiln_last_error());
    return p;
}

/* The words as UTF-8 strings joined by '|'. */
static char *joined_words(const kiln_pretok *p, const char *text, size_t len)
{
    kiln_pretok_words w;
    cr_assert_eq(kiln_pretokenize(p, text, len, &w), KILN_OK, "%s", kiln_last_error());
    char *out = malloc(4 * w.n_cp + w.n + 1);
    cr_assert_not_null(out);
    size_t n = 0;
    for (size_t i = 0; i < w.n; i++) {
        cr_assert_lt(w.start[i], w.start[i + 1], "word %zu is empty", i);
        if (i) out[n++] = '|';
        for (size_t c = w.start[i]; c < w.start[i + 1]; c++) n += (size_t)kiln_utf8_encode(w.cp[c], out + n);
    }
    cr_assert_eq(w.start[w.n], w.n_cp, "the words do not cover the text");
    out[n] = 0;
    kiln_pretok_words_free(&w);
    return out;
}

static void check_split(const char *name, const char *text, const char *want)
{
    kiln_pretok *p = pretok_named(name);
    char *got = joined_words(p, text, strlen(text));
    cr_expect(strcmp(got, want) == 0, "%s on '%s':\n  got  '%s'\n  want '%s'", name, text, got, want);
    free(got);
    kiln_pretok_free(p);
}

Test(pretok, gpt2_and_llama3)
{
    check_split("gpt-2", "Hello world 12345!! I've   x", "Hello| world| 12345|!!| I|'ve|  | x");
    check_split("gpt-2", "a\n\n b  ", "a|\n\n| b|  ");
    check_split("llama-bpe", "Hello world 12345!! I'VE   x", "Hello| world| |123|45|!!| I|'VE|  | x");
    check_split("llama-bpe", "a\n\n b.\n\u4f60\u597d", "a|\n\n| b|.\n|\u4f60\u597d");
}

/* SmolLM (and StarCoder, Refact, ...): digits split off first, then GPT-2 on
 * what is left — so a space run before a digit stays whole, the cases that
 * told kiln's old GPT-2 fallback apart from llama.cpp. */
Test(pretok, smollm_digits_first)
{
    check_split("smollm", "  1", "  |1");
    check_split("smollm", "a\n\n1", "a|\n\n|1");
    check_split("smollm", "price:   100", "price|:|   |1|0|0");
    check_split("smollm", "x2y 33", "x|2|y| |3|3");
}

Test(pretok, rule_lists_of_other_families)
{
    /* Qwen 2: single digits, Llama 3 otherwise */
    check_split("qwen2", "I'm 2024 ok", "I|'m| |2|0|2|4| ok");
    /* default: punctuation runs, GPT-2, digit runs, then threes of ASCII digits */
    check_split("default", "a+b=12345", "a|+|b|=|123|45");
    /* Falcon: punctuation and $+<=>^~|` runs first; numbers in threes */
    check_split("falcon", "x==1234567 y", "x|==|123|456|7| y");
    /* DeepSeek Coder: newlines, letters with one leading space, punctuation, CJK, digits */
    check_split("deepseek-coder", "int x=10;\n\u4e2d\u6587ab", "int| x|=|1|0|;|\n|\u4e2d\u6587|ab");
    /* DeepSeek V3: digit triples, CJK/kana runs, then its word regex */
    check_split("deepseek-v3", "abc 12345 \u65e5\u672c\u8a9e!", "abc| |123|45| |\u65e5\u672c\u8a9e|!");
    /* BLOOM: words with one leading space, split at whitespace and .,!? */
    check_split("bloom", "Hi, you there.", "Hi|,| you| there|.");
    /* GPT-4o / Llama 4: camel case, contractions kept, digit triples */
    check_split("gpt-4o", "HelloWorld don't 12345", "Hello|World| don't| |123|45");
    /* Tekken: like GPT-4o without contractions, single digits */
    check_split("tekken", "HelloWorld don't 12", "Hello|World| don|'t| |1|2");
    /* Chameleon: image tokens, tabs, digits and punctuation alone (the later
     * rules cut into a sentinel too: special tokens are matched before this) */
    check_split("chameleon", "<sentinel:12>IMGIMGABZ\tx!!", "<|sentinel|:|1|2|>|IMGIMGABZ|\t|x|!|!");
    /* SuperBPE: digit runs cut so the rest is whole threes; nothing else split */
    check_split("superbpe", "n=1234567 ab", "n=|1|234|567| ab");
    /* Kimi K2: Han runs alone, letters (no Han) with a contraction, digit triples */
    check_split("kimi-k2", "\u4f60\u597dabc's 12345", "\u4f60\u597d|abc's| |123|45");
    /* Seed-Coder: newlines never join punctuation */
    check_split("seed-coder", "a;\n\nb", "a|;|\n\n|b");
}

/* ------------------------------------------- the engine against hand-written code */

/* Code points that exercise every alternative: letters of several scripts
 * and cases, digits, marks, punctuation, symbols, ASCII and Unicode spaces,
 * newlines, apostrophes and contraction letters, CJK, emoji, a control. */
static const uint32_t alphabet[] = {
    'a', 'b', 's', 't', 'l', 'e', 'S', 'T', 'L', 'E', 'M', 'd', 'v', 'r', '\'', '\'', '0', '1', '7',
    ' ', ' ', ' ', '\n', '\r', '\t', '\v', '.', ',', '!', '$', '+', '<', '^', '_', '/', '(',
    0xE9, 0x3B1, 0x416, 0x5D0, 0x627, 0x301, 0x660, 0xB2, 0x2163, 0xA0, 0x3000, 0x2028, 0x85,
    0x4E2D, 0x6587, 0x3042, 0xAC00, 0x1F600, 0x2014, 0x20AC, 0xFFFD, 0x1, 0x7F, 0x200B,
};

static size_t random_text(kt_rng *r, char *buf, size_t max_cps)
{
    size_t n = 0, cps = (size_t)kt_below(r, (int64_t)max_cps + 1);
    for (size_t i = 0; i < cps; i++)
        n += (size_t)kiln_utf8_encode(alphabet[kt_below(r, sizeof alphabet / sizeof alphabet[0])], buf + n);
    if (kt_below(r, 8) == 0 && n) buf[kt_below(r, (int64_t)n)] = (char)0xC3; /* now and then malformed UTF-8 */
    return n;
}

/* The hand-written GPT-2 and Llama 3 splitters against the regex engine on
 * the same patterns (wrapped in (?:...), which changes nothing but the text
 * the fast path is recognized by), on thousands of random texts. */
Test(pretok, regex_engine_agrees_with_hand_written_splitters)
{
    static char gpt2_rx[512], llama3_rx[512];
    snprintf(gpt2_rx, sizeof gpt2_rx, "(?:%s)", kiln_pretok_rx_gpt2);
    snprintf(llama3_rx, sizeof llama3_rx, "(?:%s)", kiln_pretok_rx_llama3);
    const char *const by_hand_gpt2[] = {kiln_pretok_rx_gpt2, NULL}, *const by_regex_gpt2[] = {gpt2_rx, NULL};
    const char *const by_hand_llama3[] = {kiln_pretok_rx_llama3, NULL}, *const by_regex_llama3[] = {llama3_rx, NULL};
    const kiln_pretok_def defs[4] = {{"gpt2-hand", "", by_hand_gpt2, NULL}, {"gpt2-regex", "", by_regex_gpt2, NULL},
                                     {"llama3-hand", "", by_hand_llama3, NULL}, {"llama3-regex", "", by_regex_llama3, NULL}};
    kiln_pretok *p[4];
    for (int i = 0; i < 4; i++) cr_assert_eq(kiln_pretok_create(&defs[i], &p[i]), KILN_OK, "%s", kiln_last_error());
    kt_rng r = kt_rng_make(0x9e7);
    char text[4 * 40 + 1];
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = random_text(&r, text, 40);
        for (int k = 0; k < 4; k += 2) {
            char *hand = joined_words(p[k], text, n), *regex = joined_words(p[k + 1], text, n);
            cr_assert(strcmp(hand, regex) == 0, "%s vs %s on case %d (seed %llu):\n  hand  '%s'\n  regex '%s'",
                      defs[k].id, defs[k + 1].id, iter, (unsigned long long)kt_seed(), hand, regex);
            free(hand);
            free(regex);
        }
    }
    for (int i = 0; i < 4; i++) kiln_pretok_free(p[i]);
}

/* ------------------------------------------------ choosing the pre-tokenizer */

/* A tiny byte-level BPE vocabulary with the given tokenizer.ggml.pre (NULL: none). */
static kiln_gguf *tiny_bpe(const char *path, const char *pre)
{
    static const char *const tokens[] = {"a", "b", "ab", "\xc4\xa0" /* space */, "1"};
    static const char *const merges[] = {"a b"};
    kiln_gguf_writer *w = NULL;
    cr_assert_eq(kiln_gguf_writer_create(&w), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2"), KILN_OK);
    if (pre) cr_assert_eq(kiln_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", tokens, 5), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_str_arr(w, "tokenizer.ggml.merges", merges, 1), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_write(w, path, 3), KILN_OK, "%s", kiln_last_error());
    kiln_gguf_writer_free(w);
    kiln_gguf *g = NULL;
    cr_assert_eq(kiln_gguf_open(path, &g), KILN_OK, "%s", kiln_last_error());
    return g;
}

Test(pretok, unknown_names_are_errors_and_the_override_wins)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/kiln_test_pretok_%d.gguf", (int)getpid());
    kiln_tokenizer *t = NULL;

    /* an unknown name is an error that names it, not a silent GPT-2 */
    kiln_gguf *g = tiny_bpe(path, "made-up-pre");
    cr_assert_eq(kiln_tokenizer_from_gguf(g, &t), KILN_ERR_UNSUPPORTED);
    cr_assert_null(t);
    cr_expect(strstr(kiln_last_error(), "'made-up-pre'") && strstr(kiln_last_error(), "tokenizer.ggml.pre"), "%s",
              kiln_last_error());
    /* ... unless the caller chooses one */
    kiln_tokenizer_options o = {.tokenizer_pre = "smollm"};
    cr_assert_eq(kiln_tokenizer_from_gguf_ex(g, &o, &t), KILN_OK, "%s", kiln_last_error());
    cr_expect_str_eq(kiln_tokenizer_pre(t), "smollm");
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(kiln_tokenize(t, "ab 1", 4, 0, 0, &ids, &n), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(n, 3);
    cr_expect(ids[0] == 2 && ids[1] == 3 && ids[2] == 4, "ids %d %d %d", ids[0], ids[1], ids[2]);
    free(ids);
    kiln_tokenizer_free(t);
    t = NULL;
    o.tokenizer_pre = "nope";
    cr_assert_eq(kiln_tokenizer_from_gguf_ex(g, &o, &t), KILN_ERR_UNSUPPORTED);
    cr_expect(strstr(kiln_last_error(), "tokenizer_pre 'nope'"), "%s", kiln_last_error());
    /* one kiln knows but cannot run says why */
    o.tokenizer_pre = "gemma4";
    cr_assert_eq(kiln_tokenizer_from_gguf_ex(g, &o, &t), KILN_ERR_UNSUPPORTED);
    cr_expect(strstr(kiln_last_error(), "gemma4") && strstr(kiln_last_error(), "not implement"), "%s",
              kiln_last_error());
    kiln_gguf_close(g);

    /* no tokenizer.ggml.pre at all: llama.cpp's default */
    g = tiny_bpe(path, NULL);
    cr_assert_eq(kiln_tokenizer_from_gguf(g, &t), KILN_OK, "%s", kiln_last_error());
    cr_expect_str_eq(kiln_tokenizer_pre(t), "default");
    kiln_tokenizer_free(t);
    kiln_gguf_close(g);
    remove(path);
}

/* Every name resolves, and every rule of every pre-tokenizer kiln can run
 * compiles (a typo in the table fails here, not on a user's model). */
Test(pretok, every_table_entry_compiles)
{
    int runnable = 0;
    for (size_t i = 0; i < kiln_pretok_names_count; i++) {
        const kiln_pretok_name *e = &kiln_pretok_names[i];
        cr_assert_eq(kiln_pretok_find(e->name, strlen(e->name)), e, "%s is listed twice", e->name);
        kiln_pretok *p = NULL;
        kiln_status st = kiln_pretok_create(e->def, &p);
        if (!e->def->rules) {
            cr_expect_eq(st, KILN_ERR_UNSUPPORTED, "%s", e->name);
            continue;
        }
        cr_expect_eq(st, KILN_OK, "%s: %s", e->name, kiln_last_error());
        const char *text = "Hello, World! 123 \xe4\xbd\xa0\xe5\xa5\xbd\n";
        char *w = joined_words(p, text, strlen(text));
        cr_expect_gt(strlen(w), 0);
        free(w);
        kiln_pretok_free(p);
        runnable++;
    }
    cr_expect_geq(runnable, 80, "only %d runnable names", runnable);
}

/* ------------------------------------------------------ against llama.cpp */

/* Every pre-tokenizer kiln runs, on GPT-2's vocabulary relabelled with it,
 * gives llama-tokenize's ids for the hard strings (tests/data/pretok_gpt2_vocab.py
 * made them): ~80 names, their rules, flags and the regex engine at once. */
Test(pretok, every_runnable_name_matches_llama_cpp_on_gpt2_vocab, .timeout = 120)
{
    const char *vocab = KILN_SOURCE_DIR "/../shared/vocab/ggml-vocab-gpt-2.gguf";
    FILE *probe = fopen(vocab, "rb");
    if (!probe) cr_skip_test("%s is absent", vocab);
    fclose(probe);
    size_t text_len, out_len;
    char *text = kt_read_file(KILN_SOURCE_DIR "/tests/data/pretok_gpt2_vocab.inp", &text_len);
    char *out = kt_read_file(KILN_SOURCE_DIR "/tests/data/pretok_gpt2_vocab.out", &out_len);
    cr_assert(text && out, "tests/data/pretok_gpt2_vocab.{inp,out} are missing");
    kiln_gguf *g = NULL;
    cr_assert_eq(kiln_gguf_open(vocab, &g), KILN_OK, "%s", kiln_last_error());
    int n_names = 0, n_failed = 0;
    for (char *line = out, *next; *line; line = next) {
        next = strchr(line, '\n');
        cr_assert_not_null(next, "pretok_gpt2_vocab.out does not end with a newline");
        *next++ = 0;
        char *ids_text = strchr(line, ' ');
        cr_assert_not_null(ids_text);
        *ids_text++ = 0;
        kiln_tokenizer_options o = {.tokenizer_pre = line};
        kiln_tokenizer *t = NULL;
        cr_assert_eq(kiln_tokenizer_from_gguf_ex(g, &o, &t), KILN_OK, "%s: %s", line, kiln_last_error());
        int32_t *ids = NULL;
        size_t n = 0;
        cr_assert_eq(kiln_tokenize(t, text, text_len, 0, 1, &ids, &n), KILN_OK, "%s: %s", line, kiln_last_error());
        size_t i = 0, first_diff = SIZE_MAX;
        for (char *p = ids_text, *end; *p; p = end, i++) {
            long want = strtol(p, &end, 10);
            if (end == p) break;
            if (first_diff == SIZE_MAX && (i >= n || ids[i] != want)) first_diff = i;
        }
        if (first_diff == SIZE_MAX && i != n) first_diff = i < n ? i : n;
        if (first_diff != SIZE_MAX) {
            n_failed++;
            cr_log_error("%s: %zu ids, llama.cpp %zu; first difference at id %zu", line, n, i, first_diff);
        }
        free(ids);
        kiln_tokenizer_free(t);
        n_names++;
    }
    cr_expect_geq(n_names, 80, "only %d names in pretok_gpt2_vocab.out", n_names);
    cr_expect_eq(n_failed, 0, "%d of %d pre-tokenizers differ from llama.cpp", n_failed, n_names);
    kiln_gguf_close(g);
    free(text);
    free(out);
}
