/* demo/ppl_logprobs.h — the arithmetic of `kiln perplexity` and its
 * saved-logits file, as llama.cpp's llama-perplexity has them, so that the
 * numbers agree and either tool reads the other's file.
 *
 * The saved-logits file (--kl-divergence-base), little endian:
 *   char    magic[8]      "_logits_"
 *   int32   n_ctx         tokens per chunk
 *   int32   n_vocab
 *   int32   n_chunk
 *   int32   tokens[n_chunk][n_ctx]     the evaluated tokens (before BOS replacement)
 *   then per chunk, for each of the n_ctx - 1 - n_ctx/2 scored positions, one row
 *   of nv = 2*((n_vocab+1)/2) + 4 uint16:
 *     float  scale, min_log_prob       (the first 4 uint16)
 *     uint16 q[n_vocab] (+1 pad)       log p[i] ~= scale*q[i] + min_log_prob,
 *                                      clamped 16 nats below the best token */
#ifndef KILN_DEMO_PPL_LOGPROBS_H
#define KILN_DEMO_PPL_LOGPROBS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------- the file */

typedef struct ppl_base_header {
    int32_t n_ctx, n_vocab, n_chunk;
    int32_t *tokens; /* [n_chunk * n_ctx], malloc'ed */
} ppl_base_header;

/* uint16 per saved row, and rows per chunk: what llama.cpp writes. */
static inline size_t ppl_row_u16(int32_t n_vocab) { return 2 * (((size_t)n_vocab + 1) / 2) + 4; }
static inline int32_t ppl_scored_per_chunk(int32_t n_ctx) { return n_ctx - 1 - n_ctx / 2; }

/* Writes the header and tokens. Returns 0, or -1 (errno says why). */
int ppl_base_write_header(FILE *f, int32_t n_ctx, int32_t n_vocab, int32_t n_chunk, const int32_t *tokens);
/* Reads and checks a whole saved-logits file's header against the model's
 * vocabulary: magic, sizes in range, the file's length exactly what the header
 * promises, every token inside the vocabulary. Returns 0, or -1 with a message
 * naming path and the fault in err. On success the stream stands at the first row. */
int ppl_base_read_header(FILE *f, const char *path, int32_t model_vocab, ppl_base_header *h, char *err, size_t cap);
void ppl_base_header_free(ppl_base_header *h);

/* ------------------------------------------------------------- one row */

/* -log p(tok) under logits[n_vocab] (softmax in double, as llama.cpp). */
double ppl_nll(const float *logits, int32_t n_vocab, int32_t tok);
/* The same, and the row encoded for the file into row[ppl_row_u16(n_vocab)]. */
double ppl_nll_encode(const float *logits, int32_t n_vocab, int32_t tok, uint16_t *row);
/* Checks a row read from a file (scale and min_log_prob finite, scale >= 0,
 * min_log_prob <= 0). Returns 0 ok, -1 bad. */
int ppl_row_check(const uint16_t *row);

/* Sums over scored tokens for --kl-divergence (llama.cpp's kl_divergence_result). */
typedef struct ppl_kld_sums {
    double nll, nll2, nll_base, nll_base2, nll_nll_base, kld, kld2, p_diff, p_diff2, p_diff4;
    double max_p_diff;
    size_t same_top, count;
} ppl_kld_sums;

/* Adds one token: logits[n_vocab] of the model under test, the base row from
 * the file, the true next token. Returns the token's KL divergence; *p_diff
 * gets p(tok) - p_base(tok). */
double ppl_kld_add(ppl_kld_sums *k, const float *logits, int32_t n_vocab, const uint16_t *base_row, int32_t tok,
                   float *p_diff);

/* mean and its standard error of sum / sum2 over count (0 error when count <= 10). */
void ppl_mean_and_error(double sum, double sum2, size_t count, double *mean, double *err);

#endif
