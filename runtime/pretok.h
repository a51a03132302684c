/* runtime/pretok.h — BPE pre-tokenizers: how a text is split into words
 * before merging, for every tokenizer.ggml.pre llama.cpp knows
 * (pretok_table.c), by llama.cpp's rules (lists of regexes, pretok_regex.h;
 * the GPT-2 and Llama 3 patterns written out by hand, as llama.cpp does). */
#ifndef KILN_RUNTIME_PRETOK_H
#define KILN_RUNTIME_PRETOK_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln.h"

/* One pre-tokenizer of the table. */
typedef struct kiln_pretok_def {
    const char *id;                /* short name for messages */
    const char *what;              /* which models use it */
    const char *const *rules;      /* regexes applied in turn, NULL-terminated; NULL if unsupported */
    const char *unsupported;       /* why kiln cannot run it (rules == NULL) */
} kiln_pretok_def;

enum {
    KILN_PRETOK_IGNORE_MERGES = 1u << 0, /* a word that is a token as a whole skips the merges */
    KILN_PRETOK_ADD_BOS = 1u << 1,       /* BOS by default (tokenizer.ggml.add_bos_token still decides) */
    KILN_PRETOK_NO_BOS = 1u << 2         /* the vocabulary has no BOS token, whatever the file says */
};

/* A tokenizer.ggml.pre value and what it selects. */
typedef struct kiln_pretok_name {
    const char *name;
    const kiln_pretok_def *def;
    unsigned flags;
} kiln_pretok_name;

extern const kiln_pretok_name kiln_pretok_names[];
extern const size_t kiln_pretok_names_count;
extern const char kiln_pretok_rx_gpt2[], kiln_pretok_rx_llama3[];

/* The table entry of name (len bytes), or NULL. */
const kiln_pretok_name *kiln_pretok_find(const char *name, size_t len);

/* A pre-tokenizer ready to run: its rules compiled. */
typedef struct kiln_pretok kiln_pretok;

/* Fails by message for a definition kiln cannot run or a rule that does not compile. */
kiln_status kiln_pretok_create(const kiln_pretok_def *def, kiln_pretok **out);
void kiln_pretok_free(kiln_pretok *p);

/* The words of a text. The text is read as llama.cpp reads it: UTF-8, each
 * malformed byte a U+FFFD. Word i is cp[start[i] .. start[i+1]); the words
 * cover the text exactly, in order, and none is empty. */
typedef struct kiln_pretok_words {
    uint32_t *cp;
    size_t n_cp;
    size_t *start; /* n + 1 entries */
    size_t n;
} kiln_pretok_words;

kiln_status kiln_pretokenize(const kiln_pretok *p, const char *text, size_t len, kiln_pretok_words *out);
void kiln_pretok_words_free(kiln_pretok_words *w);

#endif
