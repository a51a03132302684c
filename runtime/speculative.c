/* runtime/speculative.c — speculative decoding: the acceptance rule and the
 * step that proposes, verifies in one target pass, accepts, and rolls the
 * KV cache back past the first rejected proposal.
 *
 * Rule (Leviathan et al. 2023, Chen et al. 2023): proposal x drawn from q is
 * kept with probability min(1, p(x)/q(x)); the first one rejected is
 * replaced by a draw from max(0, p - q) normalized; when all are kept, one
 * more token is drawn from p. Every emitted token is then distributed as p.
 * A deterministic proposer is q = a point mass. Greedy samplers keep a
 * proposal when it is their own pick, so the output is plain greedy's. */
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "kiln/runtime.h"
#include "runtime/session.h"

kiln_status kiln_spec_accept(kiln_sampler *smp, const int32_t *tokens, size_t n_ctx, int32_t n_draft, float *logits,
                             const float *draft_probs, int32_t *n_accepted, int32_t *next)
{
    if (!smp || !tokens || !logits || !n_accepted || !next || n_draft < 0)
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_spec_accept: bad arguments");
    const int32_t *draft = tokens + n_ctx;
    int32_t nv = kiln_sampler_n_vocab(smp), i = 0;
    if (kiln_sampler_get_params(smp)->temperature <= 0) {
        for (; i < n_draft; i++) {
            int32_t t = kiln_sampler_sample(smp, logits + (size_t)i * nv, tokens, n_ctx + (size_t)i);
            if (t != draft[i]) {
                *n_accepted = i, *next = t;
                return KILN_OK;
            }
        }
    } else if (n_draft > 0) {
        float *p = malloc(2 * (size_t)nv * sizeof *p), *r = p + nv;
        if (!p) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "speculative decoding: out of memory");
        for (; i < n_draft; i++) {
            kiln_sampler_probs(smp, logits + (size_t)i * nv, tokens, n_ctx + (size_t)i, p);
            const float *q = draft_probs ? draft_probs + (size_t)i * nv : NULL;
            double qx = q ? q[draft[i]] : 1.0, px = p[draft[i]];
            if (px >= qx || kiln_sampler_uniform(smp) * qx < px) continue; /* kept with probability min(1, p/q) */
            double mass = 0; /* the residual max(0, p - q); empty only through rounding (then p) */
            for (int32_t v = 0; v < nv; v++) {
                float d = p[v] - (q ? q[v] : v == draft[i] ? 1.0f : 0.0f);
                mass += r[v] = d > 0 ? d : 0;
            }
            *n_accepted = i, *next = kiln_sampler_draw(smp, mass > 0 ? r : p);
            free(p);
            return KILN_OK;
        }
        free(p);
    }
    /* all kept: the target's own next token, from the last row */
    *n_accepted = n_draft;
    *next = kiln_sampler_sample(smp, logits + (size_t)n_draft * nv, tokens, n_ctx + (size_t)n_draft);
    return KILN_OK;
}

kiln_status kiln_spec_step(kiln_session *s, size_t n, kiln_spec_seq *seqs)
{
    const char *fn = "kiln_spec_step";
    if (!s || !seqs || n == 0) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: bad arguments", fn);
    int32_t *ids = malloc(n * (sizeof *ids * 2 + sizeof(int32_t *) + sizeof(float *)));
    if (!ids) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    int32_t *counts = ids + n;
    const int32_t **rows = (const int32_t **)(counts + n);
    const float **probs = (const float **)(rows + n);
    kiln_status st = KILN_OK;
    /* Room: the context past the sampled token, the caller's token array,
     * and the tokens one pass takes (max_seqs rows at least, the prefill batch). */
    int32_t cap = kiln_session_capacity(s), budget = s->max_tokens;
    for (size_t i = 0; i < n && st == KILN_OK; i++) {
        kiln_spec_seq *q = &seqs[i];
        q->n_new = q->n_proposed = q->n_accepted = 0;
        int32_t len = kiln_session_seq_len(s, q->seq_id);
        if (!q->tokens || !q->sampler || q->n_tokens < 1 || q->cap_tokens < q->n_tokens + 1)
            st = kiln_fail(KILN_ERR_INVALID_ARG, "%s: sequence %d: no token array with room for one more, or no sampler", fn,
                           q->seq_id);
        else if (kiln_sampler_n_vocab(q->sampler) != s->m->cfg.n_vocab)
            st = kiln_fail(KILN_ERR_INVALID_ARG, "%s: sequence %d: the sampler's vocabulary (%d) is not the model's (%d)", fn,
                           q->seq_id, kiln_sampler_n_vocab(q->sampler), s->m->cfg.n_vocab);
        else if (len < 0 || (size_t)len + 1 != q->n_tokens)
            st = kiln_fail(KILN_ERR_INVALID_ARG, "%s: sequence %d holds %d tokens; the array has %zu (it must hold them and the one sampled after them)",
                           fn, q->seq_id, len, q->n_tokens);
        else if (len >= cap)
            st = kiln_fail(KILN_ERR_INVALID_ARG, "%s: sequence %d is full: %d of %d positions are used", fn, q->seq_id, len, cap);
        if (st) break;
        int64_t k = q->max_draft;
        int64_t room = (int64_t)cap - len - 1, arr = (int64_t)(q->cap_tokens - q->n_tokens) - 1;
        int64_t share = budget - (int64_t)(n - i); /* a row is left for each sequence still to come */
        if (k > room) k = room;
        if (k > arr) k = arr;
        if (k > share) k = share;
        if (k < 0) k = 0;
        int32_t got = q->proposer && k > 0 ? kiln_proposer_propose(q->proposer, q->tokens, q->n_tokens, (int32_t)k,
                                                                   q->tokens + q->n_tokens, &probs[i])
                                           : 0;
        if (!q->proposer || k == 0) probs[i] = NULL;
        ids[i] = q->seq_id, rows[i] = q->tokens + q->n_tokens - 1, counts[i] = got + 1;
        q->n_proposed = got;
        budget -= got + 1;
    }
    size_t total = 0;
    for (size_t i = 0; i < n && st == KILN_OK; i++) total += (size_t)counts[i];
    int32_t nv = st == KILN_OK ? kiln_sampler_n_vocab(seqs[0].sampler) : 0;
    float *logits = st == KILN_OK ? malloc(total * (size_t)nv * sizeof *logits) : NULL;
    if (st == KILN_OK && !logits) st = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    if (st == KILN_OK) st = kiln_session_verify(s, n, ids, rows, counts, logits);
    float *row = logits;
    size_t done = 0;
    for (; done < n && st == KILN_OK; done++) {
        kiln_spec_seq *q = &seqs[done];
        int32_t acc = 0, next = 0;
        st = kiln_spec_accept(q->sampler, q->tokens, q->n_tokens, q->n_proposed, row, probs[done], &acc, &next);
        if (st == KILN_OK) st = kiln_session_seq_truncate(s, q->seq_id, (int32_t)q->n_tokens + acc);
        if (st) break;
        q->tokens[q->n_tokens + (size_t)acc] = next;
        q->n_tokens += (size_t)acc + 1;
        q->n_new = acc + 1, q->n_accepted = acc;
        row += (size_t)counts[done] * nv;
    }
    /* A failure after the pass (out of memory): the sequences not yet done go
     * back to where they were, all but their last token in the cache. */
    if (st != KILN_OK && logits)
        for (size_t i = done; i < n; i++)
            if (kiln_session_seq_len(s, seqs[i].seq_id) >= (int32_t)seqs[i].n_tokens)
                kiln_session_seq_truncate(s, seqs[i].seq_id, (int32_t)seqs[i].n_tokens - 1);
    free(logits);
    free(ids);
    return st;
}
