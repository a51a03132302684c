/* runtime/tokenizer.h — the tokenizer's state and the per-model tokenize
 * functions (internal; the API is in include/kiln/runtime.h).
 *
 * GGUF metadata it is built from:
 *   tokenizer.ggml.model        string  "llama" (SentencePiece) | "gpt2" (byte-level BPE)
 *   tokenizer.ggml.pre          string  pre-tokenizer ("default", "gpt-2", "llama-bpe", ...), BPE only:
 *                                       one of runtime/pretok_table.c, else an error
 *   tokenizer.ggml.tokens       [string] token texts, id = index
 *   tokenizer.ggml.scores       [f32]    SentencePiece scores (higher merges first)
 *   tokenizer.ggml.token_type   [i32]    kiln_token_type per token
 *   tokenizer.ggml.merges       [string] BPE merges "left right", rank = index
 *   tokenizer.ggml.bos_token_id / eos_token_id / unknown_token_id   u32
 *   tokenizer.ggml.add_bos_token / add_eos_token / add_space_prefix bool */
#ifndef KILN_RUNTIME_TOKENIZER_H
#define KILN_RUNTIME_TOKENIZER_H

#include "kiln/runtime.h"
#include "runtime/pretok.h"
#include "runtime/strmap.h"

typedef enum kiln_vocab_kind { KILN_VOCAB_SPM, KILN_VOCAB_BPE } kiln_vocab_kind;

struct kiln_tokenizer {
    kiln_vocab_kind kind;
    const kiln_pretok_name *pre; /* BPE: the pre-tokenizer's table entry */
    kiln_pretok *pretok;   /* BPE: its compiled rules */
    int32_t n_vocab;
    char *text;            /* all token texts, back to back */
    uint64_t *text_off;    /* [n_vocab] */
    uint32_t *text_len;    /* [n_vocab] */
    float *scores;         /* [n_vocab] (0 when the file has none) */
    uint8_t *types;        /* [n_vocab] kiln_token_type */
    kiln_strmap token_ids; /* text -> first id with that text */
    kiln_strmap merges;    /* "left right" -> rank (BPE) */
    int32_t bos, eos, unk;
    int add_bos, add_eos, add_space_prefix;
    int32_t byte_tokens[256]; /* SPM: id of <0xXX>, or -1 */
    int32_t *special;      /* ids of control/user-defined tokens, longest text first */
    int32_t n_special;
};

/* A growable id list; the tokenize functions append to it. */
typedef struct kiln_token_list {
    int32_t *ids;
    size_t n, cap;
} kiln_token_list;

kiln_status kiln_token_list_push(kiln_token_list *l, int32_t id);

static inline const char *kiln_tok_text(const kiln_tokenizer *t, int32_t id, size_t *len)
{
    *len = t->text_len[id];
    return t->text + t->text_off[id];
}

/* Tokenize one run of plain text (no special tokens in it). */
kiln_status kiln_spm_tokenize(const kiln_tokenizer *t, const char *text, size_t len, kiln_token_list *out);
kiln_status kiln_bpe_tokenize(const kiln_tokenizer *t, const char *text, size_t len, kiln_token_list *out);

/* Byte-level BPE's reversible byte <-> printable code point mapping (GPT-2). */
uint32_t kiln_bpe_byte_to_cp(unsigned char b);
int kiln_bpe_cp_to_byte(uint32_t cp); /* -1 if cp is no mapped byte */

#endif
