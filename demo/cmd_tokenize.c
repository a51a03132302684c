/* demo/cmd_tokenize.c — `kiln tokenize`: tokenize text with the vocabulary of
 * a GGUF file, printing what llama.cpp's llama-tokenize prints (with --ids:
 * "[1, 15043, 3186]", a Python-parseable list). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo/commands.h"
#include "demo/files.h"
#include "kiln/runtime.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kiln tokenize -m VOCAB.gguf (-p TEXT | -f FILE | --stdin) [options]\n\n"
            "Tokenizes TEXT with the vocabulary (tokenizer.ggml.*) of a GGUF file, like\n"
            "llama.cpp's llama-tokenize.\n\n"
            "  -m, --model FILE     GGUF file with a vocabulary (a model or a vocab-only file)\n"
            "  -p, --prompt TEXT    the text to tokenize\n"
            "  -f, --file FILE      read the text from FILE\n"
            "      --stdin          read the text from standard input\n"
            "      --ids            print only the ids, as [1, 2, 3]\n"
            "      --no-bos         do not put the BOS token first (default: as the vocabulary says)\n"
            "      --no-parse-special  treat text like \"<s>\" as plain text\n"
            "      --show-count     print the number of tokens at the end\n"
            "      --tokenizer-pre NAME  BPE vocabularies: split words with the pre-tokenizer NAME\n"
            "                       instead of the file's tokenizer.ggml.pre (an unknown one there\n"
            "                       is an error); NAME is one of llama.cpp's:\n");
    /* the names, wrapped, straight from the runtime's table */
    int col = 0;
    const char *what;
    for (size_t i = 0; kiln_tokenizer_pre_name(i, &what); i++) {
        const char *name = kiln_tokenizer_pre_name(i, &what);
        int w = (int)strlen(name) + 1;
        if (col == 0 || col + w > 78) fprintf(f, col ? "\n%23s" : "%23s", ""), col = 23;
        fprintf(f, " %s", name);
        col += w;
    }
    fprintf(f, "\n  -h, --help           this help\n");
}

int kiln_cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *file = NULL, *pre = NULL;
    int use_stdin = 0, ids_only = 0, no_bos = 0, parse_special = 1, show_count = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_next) {
            model = argv[++i];
        } else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has_next) {
            prompt = argv[++i];
        } else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has_next) {
            file = argv[++i];
        } else if (!strcmp(a, "--stdin")) {
            use_stdin = 1;
        } else if (!strcmp(a, "--ids")) {
            ids_only = 1;
        } else if (!strcmp(a, "--no-bos")) {
            no_bos = 1;
        } else if (!strcmp(a, "--no-parse-special")) {
            parse_special = 0;
        } else if (!strcmp(a, "--tokenizer-pre") && has_next) {
            pre = argv[++i];
        } else if (!strcmp(a, "--show-count")) {
            show_count = 1;
        } else if (!strcmp(a, "--log-disable")) {
            /* accepted for llama-tokenize compatibility: kiln logs nothing here */
        } else {
            fprintf(stderr, "kiln tokenize: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model || (!!prompt + !!file + use_stdin) != 1) {
        fprintf(stderr, "kiln tokenize: need -m and exactly one of -p, -f, --stdin\n\n");
        usage(stderr);
        return 2;
    }

    char *text = NULL;
    size_t len = 0;
    if (prompt) {
        len = strlen(prompt);
    } else {
        text = kiln_read_text_file("kiln tokenize", use_stdin ? "reading" : "-f", use_stdin ? NULL : file, &len);
        if (!text) return 1;
    }

    kiln_gguf *g = NULL;
    kiln_tokenizer *t = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = 1;
    kiln_tokenizer_options topts = {.tokenizer_pre = pre};
    if (kiln_gguf_open(model, &g) != KILN_OK || kiln_tokenizer_from_gguf_ex(g, &topts, &t) != KILN_OK ||
        kiln_tokenize(t, prompt ? prompt : text, len, !no_bos && kiln_tokenizer_adds_bos(t), parse_special, &ids,
                      &n) != KILN_OK) {
        fprintf(stderr, "kiln tokenize: %s\n", kiln_last_error());
        goto done;
    }
    if (ids_only) {
        printf("[");
        for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
        printf("]\n");
    } else {
        for (size_t i = 0; i < n; i++) {
            char piece[256];
            int k = kiln_token_to_text(t, ids[i], 1, piece, sizeof piece);
            if (k < 0) k = 0;
            if (k > (int)sizeof piece) k = (int)sizeof piece;
            printf("%6d -> '%.*s'\n", ids[i], k, piece);
        }
    }
    if (show_count) printf("Total number of tokens: %zu\n", n);
    rc = 0;
done:
    free(ids);
    kiln_tokenizer_free(t);
    kiln_gguf_close(g);
    free(text);
    return rc;
}
