/* runtime/pretok.h — BPE pre-tokenizers: the regex splits of GPT-2 and
 * Llama 3, written out by hand on Unicode categories (as llama.cpp's
 * unicode_regex_split_custom_* do), so no regex engine is needed. */
#ifndef KILN_RUNTIME_PRETOK_H
#define KILN_RUNTIME_PRETOK_H

#include <stddef.h>

#include "runtime/tokenizer.h"

/* The words of a text as byte offsets: word i is [start[i], start[i+1]).
 * The words cover the text exactly, in order. start is malloc'ed, n+1 long. */
typedef struct kiln_pretok_words {
    size_t *start;
    size_t n;
} kiln_pretok_words;

kiln_status kiln_pretokenize(kiln_pretok_kind kind, const char *text, size_t len, kiln_pretok_words *out);

#endif
