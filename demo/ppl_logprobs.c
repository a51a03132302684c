/* demo/ppl_logprobs.c — log-softmax, the saved-logits file and the KL sums of
 * `kiln perplexity` (layout and formulas in ppl_logprobs.h; they follow
 * llama.cpp's tools/perplexity so that the two tools' numbers and files agree). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "demo/ppl_logprobs.h"

static const char MAGIC[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};

/* The largest file dimensions we accept: far above any real model, low enough
 * that the products below cannot overflow a 64-bit size. */
#define MAX_VOCAB (1 << 24)
#define MAX_CTX (1 << 24)
#define MAX_TOKENS ((int64_t)1 << 31)

int ppl_base_write_header(FILE *f, int32_t n_ctx, int32_t n_vocab, int32_t n_chunk, const int32_t *tokens)
{
    int32_t dims[3] = {n_ctx, n_vocab, n_chunk};
    size_t n = (size_t)n_chunk * n_ctx;
    if (fwrite(MAGIC, 1, 8, f) != 8 || fwrite(dims, 4, 3, f) != 3 || fwrite(tokens, 4, n, f) != n) return -1;
    return 0;
}

void ppl_base_header_free(ppl_base_header *h)
{
    free(h->tokens);
    h->tokens = NULL;
}

int ppl_base_read_header(FILE *f, const char *path, int32_t model_vocab, ppl_base_header *h, char *err, size_t cap)
{
    memset(h, 0, sizeof *h);
    char magic[8];
    int32_t dims[3];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, MAGIC, 8) != 0) {
        snprintf(err, cap, "%s is not a saved-logits file (no \"_logits_\" magic at its start)", path);
        return -1;
    }
    if (fread(dims, 4, 3, f) != 3) {
        snprintf(err, cap, "%s: the header ends early (n_ctx, n_vocab, n_chunk)", path);
        return -1;
    }
    h->n_ctx = dims[0], h->n_vocab = dims[1], h->n_chunk = dims[2];
    if (h->n_ctx < 3 || h->n_ctx > MAX_CTX) {
        snprintf(err, cap, "%s: n_ctx %d is out of range (3..%d)", path, h->n_ctx, MAX_CTX);
        return -1;
    }
    if (h->n_vocab < 1 || h->n_vocab > MAX_VOCAB) {
        snprintf(err, cap, "%s: n_vocab %d is out of range (1..%d)", path, h->n_vocab, MAX_VOCAB);
        return -1;
    }
    if (h->n_vocab != model_vocab) {
        snprintf(err, cap, "%s was saved with a vocabulary of %d tokens; this model has %d", path, h->n_vocab,
                 model_vocab);
        return -1;
    }
    if (h->n_chunk < 1 || (int64_t)h->n_chunk * h->n_ctx > MAX_TOKENS) {
        snprintf(err, cap, "%s: n_chunk %d is out of range (1.. with n_chunk * n_ctx <= 2^31)", path, h->n_chunk);
        return -1;
    }
    /* The length the header promises, exactly: a short file is truncated, a
     * long one is not what it says it is. */
    uint64_t n_tok = (uint64_t)h->n_chunk * h->n_ctx;
    uint64_t rows = (uint64_t)h->n_chunk * ppl_scored_per_chunk(h->n_ctx);
    uint64_t want = 20 + 4 * n_tok + rows * ppl_row_u16(h->n_vocab) * 2;
    long here = ftell(f);
    if (here < 0 || fseek(f, 0, SEEK_END) != 0) {
        snprintf(err, cap, "%s: cannot seek: %s", path, strerror(errno));
        return -1;
    }
    long size = ftell(f);
    if (size < 0 || fseek(f, here, SEEK_SET) != 0) {
        snprintf(err, cap, "%s: cannot seek: %s", path, strerror(errno));
        return -1;
    }
    if ((uint64_t)size != want) {
        snprintf(err, cap, "%s is %ld bytes, but its header (n_ctx %d, n_vocab %d, n_chunk %d) says %llu%s", path, size,
                 h->n_ctx, h->n_vocab, h->n_chunk, (unsigned long long)want,
                 (uint64_t)size < want ? " (truncated?)" : "");
        return -1;
    }
    h->tokens = malloc(n_tok * 4);
    if (!h->tokens) {
        snprintf(err, cap, "%s: out of memory for %llu tokens", path, (unsigned long long)n_tok);
        return -1;
    }
    if (fread(h->tokens, 4, n_tok, f) != n_tok) {
        snprintf(err, cap, "%s: cannot read its tokens", path);
        ppl_base_header_free(h);
        return -1;
    }
    for (uint64_t i = 0; i < n_tok; i++)
        if (h->tokens[i] < 0 || h->tokens[i] >= h->n_vocab) {
            snprintf(err, cap, "%s: token %llu is %d, outside the vocabulary 0..%d", path, (unsigned long long)i,
                     h->tokens[i], h->n_vocab - 1);
            ppl_base_header_free(h);
            return -1;
        }
    return 0;
}

/* max logit and log(sum exp(logit - max)), the sum in double as llama.cpp. */
static void log_sum_exp(const float *logits, int32_t n, float *max_out, float *lse_out, int32_t *imax_out)
{
    float max = logits[0];
    int32_t imax = 0;
    for (int32_t i = 1; i < n; i++)
        if (logits[i] > max) max = logits[i], imax = i;
    double sum = 0;
    for (int32_t i = 0; i < n; i++) sum += expf(logits[i] - max);
    *max_out = max;
    *lse_out = (float)log(sum);
    if (imax_out) *imax_out = imax;
}

double ppl_nll(const float *logits, int32_t n_vocab, int32_t tok)
{
    float max, lse;
    log_sum_exp(logits, n_vocab, &max, &lse, NULL);
    return (double)max + lse - logits[tok];
}

double ppl_nll_encode(const float *logits, int32_t n_vocab, int32_t tok, uint16_t *row)
{
    float max, lse, min = logits[0];
    log_sum_exp(logits, n_vocab, &max, &lse, NULL);
    for (int32_t i = 1; i < n_vocab; i++)
        if (logits[i] < min) min = logits[i];
    if (min < max - 16) min = max - 16; /* tokens 16 nats below the best all encode as 0 */
    float head[2] = {(max - min) / 65535.f, min - max - lse}; /* scale, min_log_prob */
    memcpy(row, head, sizeof head);
    uint16_t *q = row + 4;
    memset(q, 0, ppl_row_u16(n_vocab) * 2 - 8);
    if (head[0] > 0) {
        float inv = 1 / head[0];
        for (int32_t i = 0; i < n_vocab; i++) q[i] = logits[i] > min ? (uint16_t)lrintf(inv * (logits[i] - min)) : 0;
    }
    return (double)max + lse - logits[tok];
}

int ppl_row_check(const uint16_t *row)
{
    float head[2];
    memcpy(head, row, sizeof head);
    return isfinite(head[0]) && isfinite(head[1]) && head[0] >= 0 && head[1] <= 0 ? 0 : -1;
}

double ppl_kld_add(ppl_kld_sums *k, const float *logits, int32_t n_vocab, const uint16_t *base_row, int32_t tok,
                   float *p_diff_out)
{
    float max, lse;
    int32_t imax;
    log_sum_exp(logits, n_vocab, &max, &lse, &imax);
    float head[2];
    memcpy(head, base_row, sizeof head);
    const float scale = head[0], min_log_prob = head[1];
    const uint16_t *q = base_row + 4;

    const float nll = max + lse - logits[tok];
    const float nll_base = -(scale * q[tok] + min_log_prob);
    k->nll += nll, k->nll2 += (double)nll * nll;
    k->nll_base += nll_base, k->nll_base2 += (double)nll_base * nll_base;
    k->nll_nll_base += (double)nll * nll_base;

    /* KL(base || model) = sum p_base (log p_base - log p), over the tokens the
     * file kept (log p_base > -16). */
    const float log_norm = max + lse;
    double kld = 0;
    int32_t imax_base = 0;
    float best_base = 0;
    for (int32_t i = 0; i < n_vocab; i++) {
        const float lp_base = scale * q[i] + min_log_prob;
        if (i == 0 || lp_base > best_base) best_base = lp_base, imax_base = i;
        if (lp_base > -16.f) kld += expf(lp_base) * (lp_base - logits[i] + log_norm);
    }
    k->kld += kld, k->kld2 += kld * kld;
    k->count++;
    k->same_top += imax == imax_base;

    const float p_diff = expf(-nll) - expf(-nll_base);
    k->p_diff += p_diff, k->p_diff2 += (double)p_diff * p_diff;
    k->p_diff4 += (double)p_diff * p_diff * p_diff * p_diff;
    if (fabs(p_diff) > k->max_p_diff) k->max_p_diff = fabs(p_diff);
    if (p_diff_out) *p_diff_out = p_diff;
    return kld;
}

void ppl_mean_and_error(double sum, double sum2, size_t count, double *mean, double *err)
{
    *mean = count ? sum / count : 0;
    double var = count ? sum2 / count - *mean * *mean : 0;
    *err = var > 0 && count > 10 ? sqrt(var / (count - 1)) : 0;
}
