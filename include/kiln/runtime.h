/* kiln/runtime.h — the demo runtime: tokenizers, Llama-family models, and
 * generation on top of the public kiln ops.
 *
 * Like the rest of kiln, every function returns a kiln_status and explains
 * failures through kiln_last_error(); nothing prints or exits. */
#ifndef KILN_RUNTIME_H
#define KILN_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/gguf.h"
#include "kiln/kiln.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- tokenizer */

/* A tokenizer built from the tokenizer.ggml.* metadata of a GGUF file:
 * "llama" (SentencePiece: scores, byte fallback) or "gpt2" (byte-level BPE:
 * merges by rank), matching llama.cpp's tokenizers token for token. */
typedef struct kiln_tokenizer kiln_tokenizer;

/* Token types as GGUF stores them (tokenizer.ggml.token_type). */
typedef enum kiln_token_type {
    KILN_TOKEN_UNDEFINED = 0,
    KILN_TOKEN_NORMAL = 1,
    KILN_TOKEN_UNKNOWN = 2,
    KILN_TOKEN_CONTROL = 3,
    KILN_TOKEN_USER_DEFINED = 4,
    KILN_TOKEN_UNUSED = 5,
    KILN_TOKEN_BYTE = 6
} kiln_token_type;

kiln_status kiln_tokenizer_from_gguf(const kiln_gguf *g, kiln_tokenizer **out);
void kiln_tokenizer_free(kiln_tokenizer *t);

/* Loading choices; zero-initialize, then set what you need. */
typedef struct kiln_tokenizer_options {
    /* BPE: use this pre-tokenizer (a tokenizer.ggml.pre name, llama.cpp's)
     * instead of the file's. NULL: the file's; an unknown name there is an
     * error that names it, never a silent fallback. */
    const char *tokenizer_pre;
} kiln_tokenizer_options;
kiln_status kiln_tokenizer_from_gguf_ex(const kiln_gguf *g, const kiln_tokenizer_options *opts, kiln_tokenizer **out);
/* The pre-tokenizer name in use ("" for SentencePiece). */
const char *kiln_tokenizer_pre(const kiln_tokenizer *t);
/* The i-th pre-tokenizer name kiln knows, NULL past the last; *what (when
 * what is not NULL) says which models use it, or why kiln cannot run it. */
const char *kiln_tokenizer_pre_name(size_t i, const char **what);

int32_t kiln_tokenizer_vocab_size(const kiln_tokenizer *t);
int32_t kiln_tokenizer_bos(const kiln_tokenizer *t); /* -1 if none */
int32_t kiln_tokenizer_eos(const kiln_tokenizer *t); /* -1 if none */
/* Whether the vocabulary asks for a BOS token in front of a prompt. */
int kiln_tokenizer_adds_bos(const kiln_tokenizer *t);

/* Tokenize len bytes of text. add_bos: put the BOS token first (when the
 * vocabulary has one). parse_special: text like "<s>" that spells a control
 * token becomes that token (llama-tokenize's default); user-defined tokens
 * are always matched. *ids is malloc'ed (free() it); *n_ids its length. */
kiln_status kiln_tokenize(const kiln_tokenizer *t, const char *text, size_t len, int add_bos,
                          int parse_special, int32_t **ids, size_t *n_ids);

/* The bytes token id stands for in text (SentencePiece's U+2581 as a space,
 * byte tokens as their byte, GPT-2's byte-to-unicode mapping undone). Control
 * tokens give nothing unless special is set, then their text ("<s>").
 * Writes at most cap bytes to buf and returns the full length, or -1 for an
 * id out of range. */
int kiln_token_to_text(const kiln_tokenizer *t, int32_t id, int special, char *buf, size_t cap);


/* ----------------------------------------------------------------- models */

/* The shape of a Llama-family model. */
typedef struct kiln_model_config {
    char arch[32];          /* "llama" */
    int32_t n_vocab;
    int32_t dim;            /* embedding length */
    int32_t n_layers;
    int32_t n_heads, n_kv_heads, head_dim;
    int32_t hidden_dim;     /* feed-forward length */
    int32_t ctx_len;        /* context the model was trained for */
    int32_t rope_dim;       /* rotated dimensions per head (<= head_dim) */
    float rope_theta;       /* frequency base, 10000 for Llama 2 */
    float rope_scale;       /* linear scaling: positions are divided by this (1 = none) */
    float norm_eps;         /* RMSNorm epsilon */
    int tied_output;        /* the classifier reuses the token embedding */
} kiln_model_config;

typedef struct kiln_model kiln_model;

/* Loads a model onto the host (weights stay where they are: the GGUF file is
 * mapped, a llama2.c checkpoint is read into memory):
 *   a GGUF file            llama.cpp GGUF (magic "GGUF"), general.architecture "llama"
 *   any other file         a llama2.c checkpoint (header of 7 int32, f32 weights)
 *   synthetic:PRESET-TYPE  random weights built in memory, e.g. synthetic:7b-q4_0
 *                          (presets tiny, 1b, 7b, 8b; types as kiln_dtype_from_name)
 * Unsupported architectures, tensor types and missing tensors fail by name. */
kiln_status kiln_model_load(const char *path, kiln_model **out);

/* Loading choices. Versioned: `size` is sizeof the struct the caller was
 * built with (kiln_model_load_options_default() sets it), so fields can be
 * added at the end: a library reading an older caller's smaller struct
 * takes the defaults for what it lacks; a newer caller's larger one is
 * accepted when every byte past the fields this library knows is zero. */
typedef struct kiln_model_load_options {
    size_t size;
    /* BPE vocabularies: the pre-tokenizer to use (a tokenizer.ggml.pre name,
     * llama.cpp's; kiln_tokenizer_pre_name lists them) instead of the file's.
     * NULL: the file's. Given for a model without a BPE vocabulary, an error. */
    const char *tokenizer_pre;
} kiln_model_load_options;

kiln_model_load_options kiln_model_load_options_default(void);
/* kiln_model_load with options (NULL: the defaults). */
kiln_status kiln_model_load_ex(const char *path, const kiln_model_load_options *opts, kiln_model **out);
void kiln_model_free(kiln_model *m);
const kiln_model_config *kiln_model_get_config(const kiln_model *m);
/* The model's vocabulary, or NULL (llama2.c checkpoints, synthetic models). */
const kiln_tokenizer *kiln_model_tokenizer(const kiln_model *m);
/* Bytes of weights (for logs). */
uint64_t kiln_model_weight_bytes(const kiln_model *m);

/* ---------------------------------------------------------------- session */

/* A model placed on a context, with a paged KV cache for up to max_seqs
 * sequences (continuous batching: sequences start and end between steps, and
 * one decode step advances any set of them together). */
typedef struct kiln_session kiln_session;

typedef struct kiln_session_options {
    int32_t ctx_len;        /* tokens one sequence may hold; 0 = the model's context length */
    kiln_dtype kv_type;     /* KILN_F16 (default), KILN_F32 or KILN_Q8_0 */
    int32_t kv_block_size;  /* tokens per KV block, a power of two 8..128; 0 = 16 */
    int32_t max_seqs;       /* sequences at once; 0 = 1 */
    int32_t kv_blocks;      /* blocks in the pool all sequences share; 0 = enough for
                               max_seqs sequences of ctx_len tokens each */
    int32_t logits_rows;    /* rows of logits the output layer computes in one pass
                               (kiln_session_prefill_all); 0 = max_seqs. More rows cost
                               rows * n_vocab * 4 bytes of activation memory. */
} kiln_session_options;

kiln_session_options kiln_session_options_default(void);
/* The model must outlive the session. */
kiln_status kiln_session_create(const kiln_model *m, kiln_context *ctx, const kiln_session_options *opts,
                                kiln_session **out);
void kiln_session_free(kiln_session *s);

/* Starts a sequence: *seq_id gets the lowest free id (0..max_seqs-1). Fails
 * when all max_seqs are in use. */
kiln_status kiln_session_seq_begin(kiln_session *s, int32_t *seq_id);
/* Ends a sequence: its KV blocks go back to the pool and the id is free
 * again. Ids that are not started are ignored. */
void kiln_session_seq_end(kiln_session *s, int32_t seq_id);
/* Tokens in a sequence so far, or -1 when seq_id is not started. */
int32_t kiln_session_seq_len(const kiln_session *s, int32_t seq_id);
/* Appends n tokens to sequence seq_id, up to 512 at a time: into an empty
 * sequence by flash attention over the fresh K/V; after tokens it holds (or
 * always, with prefix caching on) through the KV cache's block table, each
 * token attending as a decode query would. Writes the logits of the last
 * token to logits[n_vocab] (may be NULL). */
kiln_status kiln_session_prefill(kiln_session *s, int32_t seq_id, const int32_t *ids, size_t n, float *logits);
/* As kiln_session_prefill, but writes the logits of every one of the n tokens:
 * logits[n][n_vocab] (row i predicts the token after ids[i]). What perplexity
 * needs; the output layer runs over logits_rows rows at a time. */
kiln_status kiln_session_prefill_all(kiln_session *s, int32_t seq_id, const int32_t *ids, size_t n, float *logits);
/* One decode step: token tokens[i] is appended to sequence seq_ids[i] (n_seqs
 * distinct started sequences, in any order), all in one pass: every matmul
 * runs once over the n_seqs tokens, one paged attention over the sequences.
 * Writes logits[n_seqs][n_vocab] (may be NULL). */
kiln_status kiln_session_decode(kiln_session *s, size_t n_seqs, const int32_t *seq_ids, const int32_t *tokens,
                                float *logits);

/* Speculative decoding's verify step: tokens[i][0..n_tokens[i]) are appended
 * to sequence seq_ids[i] (n_seqs distinct started sequences, each with its own
 * count >= 1; at most the session's prefill batch in all), all in one pass,
 * every token attending through the KV cache as a decode query would (causal),
 * so each row is what decoding the tokens one at a time gives. Writes the
 * logits of every token, sequence after sequence in the order of the call:
 * logits[sum n_tokens][n_vocab]. The output layer runs logits_rows rows at a
 * time: give a speculating session logits_rows >= the longest count. */
kiln_status kiln_session_verify(kiln_session *s, size_t n_seqs, const int32_t *seq_ids, const int32_t *const *tokens,
                                const int32_t *n_tokens, float *logits);
/* Rolls sequence seq_id back to its first len tokens (at most its length):
 * the KV blocks wholly past len go back to the pool, the kept ones are not
 * copied; the cache then reads as if the dropped tokens had never been
 * there. Refused (nothing changed) when len would cut into a block shared
 * through the prefix cache. */
kiln_status kiln_session_seq_truncate(kiln_session *s, int32_t seq_id, int32_t len);

/* The single-sequence convenience: kiln_session_prefill on sequence 0
 * (started on first use). Ids out of range, or more tokens than the KV cache
 * has room for, fail without changing the session (as do bad arguments to
 * prefill and decode). */
kiln_status kiln_session_forward(kiln_session *s, const int32_t *ids, size_t n, float *logits);
/* Tokens in sequence 0 so far (0 when not started), and the tokens one
 * sequence may hold. */
int32_t kiln_session_pos(const kiln_session *s);
int32_t kiln_session_capacity(const kiln_session *s);
/* Ends every sequence (all blocks go back to the pool). */
void kiln_session_reset(kiln_session *s);

/* Prefix caching (vLLM's automatic prefix caching): full KV blocks are keyed
 * by the hash of their tokens and of every token before them, shared
 * read-only by sequences whose tokens start alike, and kept after their
 * sequences end (least recently used first out, when blocks run short).
 * Off by default; turning it off drops what is cached. */
void kiln_session_prefix_cache(kiln_session *s, int enable);
/* For a started, empty sequence: takes over the cached blocks holding the
 * longest block-aligned prefix of ids (never all n tokens: the last one is
 * left to prefill, for its logits). Returns the tokens it reused; prefill
 * the rest, ids + that count. */
int32_t kiln_session_seq_reuse_prefix(kiln_session *s, int32_t seq_id, const int32_t *ids, size_t n);
/* Offers the full blocks of sequence seq_id, whose tokens are ids[n], to the
 * cache (call after a prefill, and before kiln_session_seq_end to keep what
 * was generated too). */
void kiln_session_seq_cache(kiln_session *s, int32_t seq_id, const int32_t *ids, size_t n);

/* ---------------------------------------------------------------- sampler */

typedef struct kiln_sampler_params {
    float temperature;      /* 0 = greedy */
    int32_t top_k;          /* 0 = off */
    float top_p;            /* 1 = off */
    float min_p;            /* 0 = off: drop tokens below min_p * p(best) */
    float repeat_penalty;   /* 1 = off: logits of recent tokens /penalty (>0) or *penalty (<0) */
    int32_t repeat_last_n;  /* how many recent tokens the penalty looks at */
    uint64_t seed;
} kiln_sampler_params;

typedef struct kiln_sampler kiln_sampler;

kiln_sampler_params kiln_sampler_params_default(void);
kiln_status kiln_sampler_create(const kiln_sampler_params *p, int32_t n_vocab, kiln_sampler **out);
void kiln_sampler_free(kiln_sampler *s);
/* Picks the next token from logits[n_vocab] (which it may modify), given the
 * tokens so far (for the repetition penalty). Returns the id. */
int32_t kiln_sampler_sample(kiln_sampler *s, float *logits, const int32_t *history, size_t n_history);

/* The parameters the sampler was made with, and its vocabulary size. */
const kiln_sampler_params *kiln_sampler_get_params(const kiln_sampler *s);
int32_t kiln_sampler_n_vocab(const kiln_sampler *s);
/* The distribution kiln_sampler_sample draws from for these logits and
 * history (penalty, temperature, top-k, top-p, min-p applied; greedy: all
 * mass on its pick): probs[n_vocab], summing to 1. Modifies logits as
 * kiln_sampler_sample does; draws nothing. */
void kiln_sampler_probs(kiln_sampler *s, float *logits, const int32_t *history, size_t n_history, float *probs);
/* A draw from weights[n_vocab] (>= 0, not all 0; need not sum to 1) with the
 * sampler's generator; and a uniform number in [0, 1) from it. */
int32_t kiln_sampler_draw(kiln_sampler *s, const float *weights);
double kiln_sampler_uniform(kiln_sampler *s);

/* ----------------------------------------------------- speculative decoding */

/* A proposer guesses the tokens that follow a sequence; the target model
 * then checks them all in one forward pass (kiln_spec_step). Greedy output is
 * exactly plain greedy decoding's; sampling keeps the target's distribution
 * (the rejection rule of Leviathan et al. 2023 and Chen et al. 2023). */
typedef struct kiln_proposer kiln_proposer;

/* Prompt lookup: the longest suffix of the sequence, of at most max_ngram
 * tokens (down to 1), that occurred before in it (prompt and text so far);
 * proposes what followed its latest occurrence. No model. */
kiln_status kiln_proposer_lookup(int32_t max_ngram, kiln_proposer **out);
/* A draft model (the target's vocabulary: same size, and the same token
 * texts, BOS and EOS when both have one; otherwise a clear error) on context
 * ctx (any backend), with a session of session options opts (NULL: defaults;
 * one sequence is used) and its own sampler sp (NULL: greedy; when the target
 * samples, give it the target's parameters with another seed: the closer its
 * distribution to the target's, the more is accepted). The models and the
 * context must outlive the proposer. A draft follows one sequence at a time
 * (give each sequence its own; another sequence's tokens only cost it a
 * re-prefill); prompt lookup keeps no state and may be shared. */
kiln_status kiln_proposer_draft(const kiln_model *draft, const kiln_model *target, kiln_context *ctx,
                                const kiln_session_options *opts, const kiln_sampler_params *sp,
                                kiln_proposer **out);
void kiln_proposer_free(kiln_proposer *p);
/* Up to max tokens that may follow tokens[n] (the whole sequence: prompt and
 * generated) into draft[max]; returns how many (0: no guess). When the
 * proposer samples (a draft model at a temperature), *probs (when not NULL)
 * points at the distributions it drew from, [count][n_vocab] (valid until
 * the next call); NULL for a deterministic guess (lookup, greedy draft). */
int32_t kiln_proposer_propose(kiln_proposer *p, const int32_t *tokens, size_t n, int32_t max, int32_t *draft,
                              const float **probs);

/* The acceptance rule for one sequence. tokens[n_ctx + n_draft]: the
 * sequence (its last token the one the verified rows start from) followed by
 * the proposals draft = tokens + n_ctx; logits[n_draft + 1][n_vocab] the
 * target's rows for them (modified); draft_probs as kiln_proposer_propose
 * gives them (NULL: deterministic proposals). Greedy samplers accept while
 * kiln_sampler_sample agrees; others accept proposal i with probability
 * min(1, p/q) and on a rejection draw from max(0, p - q), normalized. Writes
 * how many proposals were accepted and the target's own token that follows
 * them (the correction, or one more after all were accepted). */
kiln_status kiln_spec_accept(kiln_sampler *smp, const int32_t *tokens, size_t n_ctx, int32_t n_draft, float *logits,
                             const float *draft_probs, int32_t *n_accepted, int32_t *next);

/* One sequence's part of a speculative step (kiln serve --lookup and kiln
 * run --draft/--lookup use it; demo/serve_sched.c shows a batch). */
typedef struct kiln_spec_seq {
    int32_t seq_id;          /* a started sequence of the session */
    kiln_proposer *proposer; /* NULL: no proposals, a plain decode step */
    kiln_sampler *sampler;   /* the target's */
    int32_t *tokens;         /* the sequence: what the KV cache holds, then the last sampled
                                token (not yet in it); the step appends to it */
    size_t n_tokens, cap_tokens;
    int32_t max_draft;       /* proposals at most (fewer near the end of the context or cap_tokens) */
    /* out */
    int32_t n_new;           /* tokens appended: the accepted proposals, then the target's own */
    int32_t n_proposed, n_accepted;
} kiln_spec_seq;

/* One target forward pass for n sequences, each proposing its own number of
 * tokens: proposals, one kiln_session_verify over all, the acceptance rule,
 * and each sequence's KV cache rolled back past its first rejected proposal
 * (kiln_session_seq_truncate). Afterwards the cache holds all of tokens but
 * the last again. Every sequence needs room in its context for the token
 * already sampled. */
kiln_status kiln_spec_step(kiln_session *s, size_t n, kiln_spec_seq *seqs);

/* --------------------------------------------------------- writing models */

/* Receives remarks a long operation wants the user to see (fallbacks taken). */
typedef void (*kiln_note_fn)(void *user, const char *message);

/* Writes a model as a llama.cpp-style GGUF (general.architecture "llama",
 * llama.* metadata, the vocabulary when the model has one, tensors by their
 * GGUF names). type < 0 keeps every tensor's type; otherwise matrices are
 * converted to that kiln_dtype (norms stay f32), and a matrix whose rows do
 * not fit the type's blocks falls back to a type that fits (K-quants -> q5_0
 * or q8_0 -> f16), reported through note (may be NULL). */
kiln_status kiln_model_save_gguf(const kiln_model *m, const char *path, int type, kiln_note_fn note, void *user);

#ifdef __cplusplus
}
#endif
#endif
