/* tests/test_model_load_options.c — kiln_model_load_ex's options (versioned
 * by their size) and --tokenizer-pre on the commands that load a model: kiln
 * run, kiln bench -m, kiln chat, kiln serve (demo/model_flags.c), whose
 * numbers are parsed by demo/args.c's strict parsers. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kiln/runtime.h"
#include "support/cli.h"
#include "support/models.h"

#define TINY "synthetic:tiny-q4_0"

Test(model_load_options, sizes_and_versions)
{
    kiln_model *m = NULL;
    cr_assert_eq(kiln_model_load_ex(TINY, NULL, &m), KILN_OK, "%s", kiln_last_error());
    kiln_model_free(m), m = NULL;
    kiln_model_load_options o = kiln_model_load_options_default();
    cr_assert_eq(o.size, sizeof o);
    cr_assert_null(o.tokenizer_pre);
    cr_assert_eq(kiln_model_load_ex(TINY, &o, &m), KILN_OK, "%s", kiln_last_error());
    kiln_model_free(m), m = NULL;

    /* a pre-tokenizer for a model without a vocabulary: an error, not ignored */
    o.tokenizer_pre = "smollm";
    cr_assert_eq(kiln_model_load_ex(TINY, &o, &m), KILN_ERR_INVALID_ARG);
    cr_assert_null(m);
    cr_expect(strstr(kiln_last_error(), "'smollm'") && strstr(kiln_last_error(), "no vocabulary"), "%s",
              kiln_last_error());

    /* size unset: refused with how to set it */
    kiln_model_load_options zero = {0};
    cr_assert_eq(kiln_model_load_ex(TINY, &zero, &m), KILN_ERR_INVALID_ARG);
    cr_expect(strstr(kiln_last_error(), "kiln_model_load_options_default"), "%s", kiln_last_error());

    /* an older caller's struct (only size): the defaults for the rest, so the
     * bytes past it are never read as a pointer */
    o.size = sizeof o.size;
    o.tokenizer_pre = "smollm";
    cr_assert_eq(kiln_model_load_ex(TINY, &o, &m), KILN_OK, "%s", kiln_last_error());
    kiln_model_free(m), m = NULL;

    /* a newer caller's struct: fine while the fields this kiln lacks are zero */
    struct {
        kiln_model_load_options known;
        uint64_t later_field;
    } newer = {kiln_model_load_options_default(), 0};
    newer.known.size = sizeof newer;
    cr_assert_eq(kiln_model_load_ex(TINY, &newer.known, &m), KILN_OK, "%s", kiln_last_error());
    kiln_model_free(m), m = NULL;
    newer.later_field = 1;
    cr_assert_eq(kiln_model_load_ex(TINY, &newer.known, &m), KILN_ERR_UNSUPPORTED);
    cr_assert_null(m);
    cr_expect(strstr(kiln_last_error(), "does not know"), "%s", kiln_last_error());
}

/* On SmolLM2 (smollm pre-tokenizer) the override changes the tokens: "  1"
 * is 2 tokens with smollm's digit rule, 3 with GPT-2's. */
Test(model_load_options, tokenizer_pre_replaces_the_files)
{
    const char *path = kt_smollm2_path();
    if (!path) cr_skip_test("SmolLM2 is not fetched (make models)");
    kiln_model *m = NULL;
    kiln_model_load_options o = kiln_model_load_options_default();
    size_t counts[2];
    const char *names[2] = {NULL, "gpt-2"};
    for (int i = 0; i < 2; i++) {
        o.tokenizer_pre = names[i];
        cr_assert_eq(kiln_model_load_ex(path, &o, &m), KILN_OK, "%s", kiln_last_error());
        const kiln_tokenizer *t = kiln_model_tokenizer(m);
        cr_assert_str_eq(kiln_tokenizer_pre(t), names[i] ? names[i] : "smollm");
        int32_t *ids = NULL;
        cr_assert_eq(kiln_tokenize(t, "  1", 3, 0, 0, &ids, &counts[i]), KILN_OK, "%s", kiln_last_error());
        free(ids);
        kiln_model_free(m), m = NULL;
    }
    cr_expect_eq(counts[0], 2, "smollm: %zu tokens", counts[0]);
    cr_expect_eq(counts[1], 3, "gpt-2: %zu tokens", counts[1]);
    o.tokenizer_pre = "bogus";
    cr_assert_neq(kiln_model_load_ex(path, &o, &m), KILN_OK);
    cr_expect(strstr(kiln_last_error(), "'bogus'"), "%s", kiln_last_error());
}

Test(model_load_options, every_model_command_takes_the_flag, .timeout = 120)
{
    char line[1024], out[16384];
    static const char *const helps[] = {"run --help", "bench -m x --help", "chat --help", "serve --help"};
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
        snprintf(line, sizeof line, KILN " %s 2>&1", helps[i]);
        cr_expect_eq(kt_run_cmd(line, out, sizeof out), 0, "%s", line);
        cr_expect(strstr(out, "--tokenizer-pre NAME") && strstr(out, "kiln tokenize --help"),
                  "`kiln %s` does not describe --tokenizer-pre", helps[i]);
    }
    /* a model without a vocabulary: exit 1 naming the problem */
    static const char *const novocab[] = {"run -m " TINY " --prompt-ids 1 -n 1 --tokenizer-pre smollm",
                                          "bench -m " TINY " -p 8 -n 0 -r 1 --tokenizer-pre smollm"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(line, sizeof line, KILN " %s 2>&1 >/dev/null", novocab[i]);
        cr_expect_eq(kt_run_cmd(line, out, sizeof out), 1, "`%s` must exit 1; said: %s", line, out);
        cr_expect(strstr(out, "no vocabulary"), "`%s`: %s", line, out);
    }

    const char *path = kt_smollm2_path();
    if (!path) cr_skip_test("SmolLM2 is not fetched (make models): the runs on it are skipped");
    /* kiln run: the prompt's token count says which pre-tokenizer ran */
    const char *pres[] = {"", " --tokenizer-pre gpt-2"}, *want[] = {"; 2 prompt tokens", "; 3 prompt tokens"};
    for (int i = 0; i < 2; i++) {
        snprintf(line, sizeof line, KILN " run -m %s -p '  1' -n 1 --temp 0 -t 1%s 2>&1 >/dev/null", path, pres[i]);
        cr_expect_eq(kt_run_cmd(line, out, sizeof out), 0, "%s: %s", line, out);
        cr_expect(strstr(out, want[i]), "`%s`: no '%s' in %s", line, want[i], out);
    }
    snprintf(line, sizeof line, KILN " bench -m %s -p 8 -n 0 -r 1 -t 1 --tokenizer-pre gpt-2 2>&1", path);
    cr_expect_eq(kt_run_cmd(line, out, sizeof out), 0, "%s: %s", line, out);
    static const char *const bogus[] = {"run -m %s -p x -n 1 --tokenizer-pre bogus",
                                        "bench -m %s -p 8 -n 0 -r 1 --tokenizer-pre bogus",
                                        "chat -m %s --tokenizer-pre bogus < /dev/null"};
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
        char args[512];
        snprintf(args, sizeof args, bogus[i], path);
        snprintf(line, sizeof line, KILN " %s 2>&1 >/dev/null", args);
        cr_expect_eq(kt_run_cmd(line, out, sizeof out), 1, "`%s` must exit 1; said: %s", line, out);
        cr_expect(strstr(out, "'bogus'"), "`%s`: %s", line, out);
    }
}

/* chat and serve parse their numbers with demo/args.c, as run does. */
Test(model_load_options, chat_and_serve_numbers_are_strict, .timeout = 60)
{
    static const struct {
        const char *args, *msg;
    } cases[] = {
        {"chat -m x --temp nan", "kiln chat: --temp: 'nan' is not a finite number"},
        {"chat -m x --top-k 2.5", "kiln chat: --top-k: '2.5' is not an integer"},
        {"chat -m x --seed -1", "kiln chat: --seed: '-1' is not an integer"},
        {"chat -m x -c 5x", "kiln chat: -c: '5x' is not an integer"},
        {"chat -m x -n 0", "kiln chat: -n: 0 is out of range"},
        {"serve -m x --port 70000", "kiln serve: --port: 70000 is out of range (0..65535)"},
        {"serve -m x --top-p 2", "kiln serve: --top-p: 2 is out of range (0..1)"},
    };
    char line[512], out[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(line, sizeof line, KILN " %s 2>&1 >/dev/null", cases[i].args);
        cr_expect_eq(kt_run_cmd(line, out, sizeof out), 2, "`%s` must exit 2 (usage); said: %s", line, out);
        cr_expect(strstr(out, cases[i].msg), "`%s`: '%s' lacks '%s'", line, out, cases[i].msg);
    }
}
