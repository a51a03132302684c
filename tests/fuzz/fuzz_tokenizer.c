/* tests/fuzz/fuzz_tokenizer.c — libFuzzer entry for the tokenizers.
 *
 * Both vocabularies of ../shared/vocab (SentencePiece llama, BPE gpt-2; or
 * $KILN_FUZZ_VOCAB_DIR) are loaded once. Input byte 0 picks the vocabulary and
 * the flags (add_bos, parse_special); the rest is the text: arbitrary bytes,
 * invalid UTF-8, text that spells special tokens. Every id must be in range,
 * and every id turns back into text without a read past the buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/gguf.h"
#include "kiln/runtime.h"

#ifndef KILN_SOURCE_DIR
#define KILN_SOURCE_DIR "."
#endif

static kiln_tokenizer *vocab[2];
static kiln_gguf *files[2]; /* open for the life of the process (reachable: not a leak) */

static kiln_tokenizer *load(const char *name, kiln_gguf **keep)
{
    const char *dir = getenv("KILN_FUZZ_VOCAB_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : KILN_SOURCE_DIR "/../shared/vocab", name);
    kiln_gguf *g = NULL;
    kiln_tokenizer *t = NULL;
    if (kiln_gguf_open(path, &g) != KILN_OK || kiln_tokenizer_from_gguf(g, &t) != KILN_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s: %s\n", path, kiln_last_error());
        abort(); /* a harness that cannot load its vocabulary must not pass quietly */
    }
    *keep = g; /* the tokenizer may point into it */
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    vocab[0] = load("ggml-vocab-llama-spm.gguf", &files[0]);
    vocab[1] = load("ggml-vocab-gpt-2.gguf", &files[1]);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    kiln_tokenizer *t = vocab[data[0] & 1];
    int add_bos = (data[0] >> 1) & 1, special = (data[0] >> 2) & 1;
    size_t len = size - 1;
    char *text = malloc(len ? len : 1); /* exactly sized, not terminated: ASan sees a read past it */
    if (!text) return 0;
    memcpy(text, data + 1, len);
    int32_t *ids = NULL;
    size_t n = 0;
    if (kiln_tokenize(t, text, len, add_bos, special, &ids, &n) == KILN_OK) {
        int32_t nv = kiln_tokenizer_vocab_size(t);
        char buf[64];
        for (size_t i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= nv) abort();
            if (kiln_token_to_text(t, ids[i], special, buf, sizeof buf) < 0) abort();
        }
    }
    free(ids);
    free(text);
    return 0;
}
