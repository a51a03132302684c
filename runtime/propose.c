/* runtime/propose.c — proposers for speculative decoding (kiln_proposer):
 * prompt lookup (n-gram match over the sequence itself) and a draft model
 * (a smaller model with the target's vocabulary, on its own session). */
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "kiln/runtime.h"

struct kiln_proposer {
    int32_t (*propose)(kiln_proposer *p, const int32_t *tokens, size_t n, int32_t max, int32_t *draft,
                       const float **probs);
    void (*destroy)(kiln_proposer *p);
};

void kiln_proposer_free(kiln_proposer *p)
{
    if (p) p->destroy(p);
}

int32_t kiln_proposer_propose(kiln_proposer *p, const int32_t *tokens, size_t n, int32_t max, int32_t *draft,
                              const float **probs)
{
    if (probs) *probs = NULL;
    if (!p || !tokens || !draft || n == 0 || max <= 0) return 0;
    return p->propose(p, tokens, n, max, draft, probs);
}

/* ---------------------------------------------------------- prompt lookup */

typedef struct lookup_proposer {
    kiln_proposer base;
    int32_t max_ngram;
} lookup_proposer;

/* The suffix of g tokens, matched at its latest earlier occurrence that has
 * a token after it; the tokens after that occurrence are the guess (they may
 * run into the suffix itself: a repeating pattern continues). */
static int32_t lookup_propose(kiln_proposer *base, const int32_t *tokens, size_t n, int32_t max, int32_t *draft,
                              const float **probs)
{
    (void)probs;
    const lookup_proposer *p = (const lookup_proposer *)base;
    for (size_t g = (size_t)p->max_ngram < n ? (size_t)p->max_ngram : n - 1; g >= 1; g--) {
        const int32_t *suffix = tokens + n - g;
        for (size_t i = n - g; i-- > 0;) {
            if (memcmp(tokens + i, suffix, g * sizeof *tokens)) continue;
            size_t from = i + g, count = n - from < (size_t)max ? n - from : (size_t)max;
            memcpy(draft, tokens + from, count * sizeof *tokens);
            return (int32_t)count;
        }
    }
    return 0;
}

static void lookup_destroy(kiln_proposer *p) { free(p); }

kiln_status kiln_proposer_lookup(int32_t max_ngram, kiln_proposer **out)
{
    if (!out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_proposer_lookup: null argument");
    *out = NULL;
    if (max_ngram < 1 || max_ngram > 64)
        return kiln_fail(KILN_ERR_INVALID_ARG, "prompt lookup: n-gram length %d is out of range (1..64)", max_ngram);
    lookup_proposer *p = calloc(1, sizeof *p);
    if (!p) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "prompt lookup: out of memory");
    p->base = (kiln_proposer){lookup_propose, lookup_destroy};
    p->max_ngram = max_ngram;
    *out = &p->base;
    return KILN_OK;
}

/* ------------------------------------------------------------ draft model */

typedef struct draft_proposer {
    kiln_proposer base;
    kiln_session *s;       /* sequence 0: held[0..its length) */
    kiln_sampler *smp;
    int sampling;          /* the sampler draws (temperature > 0): probabilities go with the guess */
    int32_t n_vocab, cap;  /* cap: tokens the draft's context holds */
    int32_t *held;         /* the tokens in the draft's cache, then the guess of the last call */
    float *logits;         /* [n_vocab] */
    float *probs;          /* [max_probs][n_vocab] */
    int32_t max_probs;
} draft_proposer;

static int32_t draft_propose(kiln_proposer *base, const int32_t *tokens, size_t n, int32_t max, int32_t *draft,
                             const float **probs)
{
    draft_proposer *p = (draft_proposer *)base;
    /* The draft's cache must hold tokens[0..n) and all but the last guess. */
    if (n > (size_t)p->cap) return 0;
    if ((size_t)max > p->cap - n + 1) max = (int32_t)(p->cap - n + 1);
    if (p->sampling && max > p->max_probs) {
        float *grown = realloc(p->probs, (size_t)max * p->n_vocab * sizeof *grown);
        if (!grown) return 0;
        p->probs = grown, p->max_probs = max;
    }
    /* Keep what the draft already holds of this sequence (its common prefix;
     * at least the last token is fed again, for its logits). */
    int32_t len = kiln_session_seq_len(p->s, 0), same = 0;
    while (same < len && (size_t)same + 1 < n && p->held[same] == tokens[same]) same++;
    if (kiln_session_seq_truncate(p->s, 0, same) ||
        kiln_session_prefill(p->s, 0, tokens + same, n - (size_t)same, p->logits))
        return 0; /* a draft that cannot run proposes nothing; the target goes on alone */
    memcpy(p->held + same, tokens + same, (n - (size_t)same) * sizeof *tokens);
    int32_t count = 0;
    while (count < max) {
        int32_t t;
        if (p->sampling) {
            float *q = p->probs + (size_t)count * p->n_vocab;
            kiln_sampler_probs(p->smp, p->logits, p->held, n + (size_t)count, q);
            t = kiln_sampler_draw(p->smp, q);
        } else {
            t = kiln_sampler_sample(p->smp, p->logits, p->held, n + (size_t)count);
        }
        draft[count] = p->held[n + (size_t)count] = t;
        count++;
        if (count == max) break;
        int32_t seq = 0;
        if (kiln_session_decode(p->s, 1, &seq, &t, p->logits)) break;
    }
    if (probs) *probs = p->sampling ? p->probs : NULL;
    return count;
}

static void draft_destroy(kiln_proposer *base)
{
    draft_proposer *p = (draft_proposer *)base;
    kiln_session_free(p->s);
    kiln_sampler_free(p->smp);
    free(p->held);
    free(p->logits);
    free(p->probs);
    free(p);
}

/* Speculation compares token ids, so both models must mean the same by each. */
static kiln_status same_vocabulary(const kiln_model *draft, const kiln_model *target)
{
    int32_t nd = kiln_model_get_config(draft)->n_vocab, nt = kiln_model_get_config(target)->n_vocab;
    if (nd != nt)
        return kiln_fail(KILN_ERR_INVALID_ARG, "the draft model's vocabulary has %d tokens, the target's %d: speculative decoding needs the same vocabulary",
                         nd, nt);
    const kiln_tokenizer *td = kiln_model_tokenizer(draft), *tt = kiln_model_tokenizer(target);
    if (!td || !tt) return KILN_OK; /* ids only (llama2.c checkpoints, synthetic models): the sizes agree */
    if (kiln_tokenizer_bos(td) != kiln_tokenizer_bos(tt) || kiln_tokenizer_eos(td) != kiln_tokenizer_eos(tt))
        return kiln_fail(KILN_ERR_INVALID_ARG, "the draft model's BOS/EOS tokens (%d/%d) differ from the target's (%d/%d): not the same vocabulary",
                         kiln_tokenizer_bos(td), kiln_tokenizer_eos(td), kiln_tokenizer_bos(tt), kiln_tokenizer_eos(tt));
    char a[256], b[256];
    for (int32_t id = 0; id < nt; id++) {
        int la = kiln_token_to_text(td, id, 1, a, sizeof a), lb = kiln_token_to_text(tt, id, 1, b, sizeof b);
        if (la != lb || memcmp(a, b, (size_t)(la < (int)sizeof a ? la : (int)sizeof a)))
            return kiln_fail(KILN_ERR_INVALID_ARG, "the draft model's vocabulary differs from the target's at token %d ('%.*s' vs '%.*s'): speculative decoding needs the same vocabulary",
                             id, la < 0 ? 0 : la > 40 ? 40 : la, a, lb < 0 ? 0 : lb > 40 ? 40 : lb, b);
    }
    return KILN_OK;
}

kiln_status kiln_proposer_draft(const kiln_model *draft, const kiln_model *target, kiln_context *ctx,
                                const kiln_session_options *opts, const kiln_sampler_params *sp,
                                kiln_proposer **out)
{
    if (!draft || !target || !ctx || !out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_proposer_draft: null argument");
    *out = NULL;
    kiln_status st = same_vocabulary(draft, target);
    if (st) return st;
    draft_proposer *p = calloc(1, sizeof *p);
    if (!p) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "draft model: out of memory");
    p->base = (kiln_proposer){draft_propose, draft_destroy};
    p->n_vocab = kiln_model_get_config(draft)->n_vocab;
    kiln_session_options o = opts ? *opts : kiln_session_options_default();
    o.max_seqs = 1;
    kiln_sampler_params greedy = kiln_sampler_params_default();
    greedy.temperature = 0;
    int32_t seq;
    if ((st = kiln_session_create(draft, ctx, &o, &p->s)) || (st = kiln_session_seq_begin(p->s, &seq)) ||
        (st = kiln_sampler_create(sp ? sp : &greedy, p->n_vocab, &p->smp)))
        goto fail;
    p->sampling = kiln_sampler_get_params(p->smp)->temperature > 0;
    p->cap = kiln_session_capacity(p->s);
    p->held = malloc(((size_t)p->cap + 1) * sizeof *p->held);
    p->logits = malloc((size_t)p->n_vocab * sizeof *p->logits);
    if (!p->held || !p->logits) {
        st = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "draft model: out of memory");
        goto fail;
    }
    *out = &p->base;
    return KILN_OK;
fail:
    draft_destroy(&p->base);
    return kiln_fail_prefix(st, "draft model");
}
