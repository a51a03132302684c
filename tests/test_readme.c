/* tests/test_readme.c — every command line the README shows runs and exits 0.
 *
 * The commands are read from README.md itself (indented code lines starting
 * with `kiln ` or `kiln-gen `; a trailing `# comment` is dropped), so a new
 * or changed line is tested without editing this file. The README's `make`
 * lines are the build and the suite itself and are not run from here.
 * What a reader replaces is replaced here, by the files ../shared holds:
 * MODEL (a GGUF with a vocabulary), vocab.gguf, prompt.txt and text.txt. Commands that
 * would run long keep their options and get bounds (the last value of an
 * option wins): benchmarks a short run, which checks that the command works,
 * never how fast; perplexity scores two chunks of 64 tokens; chat reads end of input at once (stories260K has no chat
 * template: one is named); serve runs two seconds on a free port, then gets
 * SIGINT, on which it must exit 0. Every command reads /dev/null. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/files.h"

#define SHARED KILN_SOURCE_DIR "/../shared"

static const struct {
    const char *word, *with;
} placeholders[] = {
    {"MODEL", SHARED "/models/stories260K-Q4_K_M.gguf"},
    {"vocab.gguf", SHARED "/vocab/ggml-vocab-llama-spm.gguf"},
};

/* The first entry whose prefix matches bounds the command. */
static const struct {
    const char *prefix, *wrap, *append;
} bounded[] = {
    {"kiln bench -m ", "", " -r 1"},
    {"kiln bench ", "", " --runs 2 --min-runs 1 --warmup 1 --seconds 0.2 --no-roofline"},
    {"kiln chat ", "", " --chat-template chatml -n 8"},
    {"kiln perplexity ", "", " -c 64 --chunks 2"},
    {"kiln serve ", "timeout --preserve-status -s INT 2 ", " --port 0"},
};

/* line without its indentation and its trailing `# comment` (outside quotes). */
static void command_of(const char *line, char *out, size_t cap)
{
    while (*line == ' ') line++;
    size_t n = 0;
    char quote = 0;
    for (const char *p = line; *p && *p != '\n' && n + 1 < cap; p++) {
        if (quote) quote = *p == quote ? 0 : quote;
        else if (*p == '\'' || *p == '"') quote = *p;
        else if (*p == '#' && p > line && p[-1] == ' ') break;
        out[n++] = *p;
    }
    while (n > 0 && out[n - 1] == ' ') n--;
    out[n] = '\0';
}

/* cmd with each placeholder word (bounded by spaces or the ends) replaced. */
static void substitute(const char *cmd, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = cmd; *p && n + 1 < cap;) {
        int done = 0;
        for (size_t i = 0; i < sizeof placeholders / sizeof placeholders[0] && !done; i++) {
            size_t w = strlen(placeholders[i].word);
            if ((p == cmd || p[-1] == ' ') && !strncmp(p, placeholders[i].word, w) && (p[w] == ' ' || !p[w])) {
                n += (size_t)snprintf(out + n, cap - n, "%s", placeholders[i].with);
                p += w;
                done = 1;
            }
        }
        if (!done) out[n++] = *p++;
    }
    out[n < cap ? n : cap - 1] = '\0';
}

Test(readme, every_command_runs, .timeout = 300)
{
    size_t len = 0;
    char *readme = kt_read_file(KILN_SOURCE_DIR "/README.md", &len);
    cr_assert_not_null(readme, "cannot read README.md");
    char dir[64] = "/tmp/kiln_test_readme_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char prompt_path[128];
    snprintf(prompt_path, sizeof prompt_path, "%s/prompt.txt", dir);
    FILE *prompt = fopen(prompt_path, "w");
    cr_assert_not_null(prompt, "cannot write %s", prompt_path);
    fputs("Once upon a time\n", prompt);
    fclose(prompt);
    snprintf(prompt_path, sizeof prompt_path, "%s/text.txt", dir);
    FILE *text = fopen(prompt_path, "w");
    cr_assert_not_null(text, "cannot write %s", prompt_path);
    for (int i = 0; i < 40; i++)
        fputs("Once upon a time, there was a little girl named Lily. She liked to play outside with her dog.\n", text);
    fclose(text);
    char path[4096];
    snprintf(path, sizeof path, "%s/bin:%s", KILN_BINARY_DIR, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    int kiln = 0, kiln_gen = 0;
    for (char *line = readme; line && *line;) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        const char *t = line;
        while (*t == ' ') t++;
        int indented = t - line >= 4;
        int is_kiln = !strncmp(t, "kiln ", 5), is_gen = !strncmp(t, "kiln-gen ", 9);
        if (indented && (is_kiln || is_gen)) {
            char cmd[1024], full[2048], shell[4096];
            command_of(line, cmd, sizeof cmd);
            substitute(cmd, full, sizeof full);
            const char *wrap = "";
            for (size_t i = 0; i < sizeof bounded / sizeof bounded[0]; i++)
                if (!strncmp(full, bounded[i].prefix, strlen(bounded[i].prefix))) {
                    strncat(full, bounded[i].append, sizeof full - strlen(full) - 1);
                    wrap = bounded[i].wrap;
                    break;
                }
            snprintf(shell, sizeof shell, "cd '%s' && %s%s < /dev/null > out.txt 2>&1", dir, wrap, full);
            int st = system(shell);
            char out_path[128];
            snprintf(out_path, sizeof out_path, "%s/out.txt", dir);
            size_t olen = 0;
            char *out = kt_read_file(out_path, &olen);
            const char *tail = out && olen > 1500 ? out + olen - 1500 : out ? out : "";
            cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "README command `%s` (run as `%s`) failed (%d):\n%s", cmd,
                      full, WIFEXITED(st) ? WEXITSTATUS(st) : -1, tail);
            cr_expect(olen > 0, "README command `%s` printed nothing", cmd);
            free(out);
            kiln += is_kiln;
            kiln_gen += is_gen;
        }
        line = next;
    }
    cr_assert(kiln > 0 && kiln_gen > 0, "found %d kiln and %d kiln-gen commands in README.md: is the extraction broken?",
              kiln, kiln_gen);
    free(readme);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm)) cr_log_warn("could not remove %s", dir);
}

/* The extraction itself: indentation, comments and quotes. */
Test(readme, command_lines_are_read_as_a_reader_would)
{
    char cmd[256], full[512];
    command_of("    kiln run -m MODEL -p \"a # b\" -n 4   # generate", cmd, sizeof cmd);
    cr_assert_str_eq(cmd, "kiln run -m MODEL -p \"a # b\" -n 4");
    command_of("    kiln-gen --spec 'matmul backend=cuda fmt=q4_0' --emit", cmd, sizeof cmd);
    cr_assert_str_eq(cmd, "kiln-gen --spec 'matmul backend=cuda fmt=q4_0' --emit");
    substitute("kiln run -m MODEL -p MODELS", full, sizeof full);
    cr_assert_str_eq(full, "kiln run -m " SHARED "/models/stories260K-Q4_K_M.gguf -p MODELS");
}
