/* runtime/sampler.c — picking the next token from logits: repetition
 * penalty, then greedy (temperature 0) or temperature, top-k, top-p and
 * min-p followed by a draw from a seeded generator (reproducible per seed). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "kiln/runtime.h"

typedef struct candidate {
    int32_t id;
    float logit;
    float p;
} candidate;

struct kiln_sampler {
    kiln_sampler_params p;
    int32_t n_vocab;
    uint64_t rng;
    candidate *cand; /* [n_vocab] */
};

kiln_sampler_params kiln_sampler_params_default(void)
{
    kiln_sampler_params p = {
        .temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
        .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0,
    };
    return p;
}

kiln_status kiln_sampler_create(const kiln_sampler_params *p, int32_t n_vocab, kiln_sampler **out)
{
    if (!p || !out || n_vocab <= 0) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_sampler_create: bad arguments");
    /* Each setting checked on its own, so the message names the one that is wrong
     * (written so that NaN fails too). */
    if (!(p->temperature >= 0 && p->temperature <= 1e6f))
        return kiln_fail(KILN_ERR_INVALID_ARG, "sampler: temperature %g is out of range (0..1e6, 0 = greedy)", p->temperature);
    if (p->top_k < 0) return kiln_fail(KILN_ERR_INVALID_ARG, "sampler: top_k %d is negative (0 = off)", p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return kiln_fail(KILN_ERR_INVALID_ARG, "sampler: top_p %g is out of range (above 0, at most 1; 1 = off)", p->top_p);
    if (!(p->min_p >= 0 && p->min_p <= 1))
        return kiln_fail(KILN_ERR_INVALID_ARG, "sampler: min_p %g is out of range (0..1, 0 = off)", p->min_p);
    if (!(p->repeat_penalty > 0 && p->repeat_penalty <= 1e6f))
        return kiln_fail(KILN_ERR_INVALID_ARG, "sampler: repeat_penalty %g is out of range (above 0, 1 = off)",
                         p->repeat_penalty);
    if (p->repeat_last_n < 0)
        return kiln_fail(KILN_ERR_INVALID_ARG, "sampler: repeat_last_n %d is negative (0 = off)", p->repeat_last_n);
    kiln_sampler *s = calloc(1, sizeof *s);
    if (s) s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    if (!s || !s->cand) {
        free(s);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "sampler: out of memory");
    }
    s->p = *p;
    s->n_vocab = n_vocab;
    s->rng = p->seed ^ 0x853C49E6748FEA9Bull;
    *out = s;
    return KILN_OK;
}

void kiln_sampler_free(kiln_sampler *s)
{
    if (!s) return;
    free(s->cand);
    free(s);
}

/* splitmix64 -> uniform in [0, 1) */
static double uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static int by_logit_desc(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id - y->id;
}

/* The k largest logits into cand[0..k) (unordered), with a min-heap on
 * cand[0..k): O(n log k) instead of sorting a 128k vocabulary per token. */
static void select_top(kiln_sampler *s, const float *logits, int32_t k)
{
    candidate *h = s->cand;
    int32_t size = 0;
    for (int32_t id = 0; id < s->n_vocab; id++) {
        candidate c = {id, logits[id], 0};
        if (size == k) {
            if (by_logit_desc(&c, &h[0]) >= 0) continue; /* not better than the worst kept */
            size_t i = 0; /* replace the root and sift down */
            for (;;) {
                size_t l = 2 * i + 1, m = i;
                candidate *best = &c;
                if (l < (size_t)k && by_logit_desc(&h[l], best) > 0) m = l, best = &h[l];
                if (l + 1 < (size_t)k && by_logit_desc(&h[l + 1], best) > 0) m = l + 1;
                if (m == i) break;
                h[i] = h[m];
                i = m;
            }
            h[i] = c;
        } else {
            size_t i = (size_t)size++; /* sift up: the root holds the worst */
            while (i > 0 && by_logit_desc(&c, &h[(i - 1) / 2]) > 0) {
                h[i] = h[(i - 1) / 2];
                i = (i - 1) / 2;
            }
            h[i] = c;
        }
    }
}

/* The penalty applied in place; then for greedy (temperature 0) the pick,
 * else cand[0..keep) with unnormalized probabilities p: what a draw chooses
 * from. Returns keep, or 0 with *pick set for greedy. */
static int32_t candidates(kiln_sampler *s, float *logits, const int32_t *history, size_t n_history, int32_t *pick)
{
    const kiln_sampler_params *p = &s->p;
    int32_t n = s->n_vocab;
    /* Repetition penalty (CTRL style, as llama.cpp): each distinct recent token once. */
    if (p->repeat_penalty != 1.0f && history) {
        size_t first = n_history > (size_t)p->repeat_last_n ? n_history - (size_t)p->repeat_last_n : 0;
        for (size_t i = first; i < n_history; i++) {
            int32_t t = history[i];
            if (t < 0 || t >= n) continue;
            int seen = 0;
            for (size_t j = first; j < i && !seen; j++) seen = history[j] == t;
            if (seen) continue;
            logits[t] = logits[t] > 0 ? logits[t] / p->repeat_penalty : logits[t] * p->repeat_penalty;
        }
    }
    if (p->temperature <= 0) {
        int32_t best = 0;
        for (int32_t i = 1; i < n; i++)
            if (logits[i] > logits[best]) best = i;
        *pick = best;
        return 0;
    }
    int32_t keep = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    if (keep < n) {
        select_top(s, logits, keep);
    } else {
        for (int32_t i = 0; i < n; i++) s->cand[i] = (candidate){i, logits[i], 0};
    }
    qsort(s->cand, (size_t)keep, sizeof *s->cand, by_logit_desc);
    for (int32_t i = 0; i < keep; i++) s->cand[i].logit /= p->temperature;
    double sum = 0;
    for (int32_t i = 0; i < keep; i++) sum += s->cand[i].p = expf(s->cand[i].logit - s->cand[0].logit);
    /* top-p: the smallest prefix whose probability reaches top_p. */
    if (p->top_p < 1.0f) {
        double acc = 0;
        for (int32_t i = 0; i < keep; i++) {
            acc += s->cand[i].p / sum;
            if (acc >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    /* min-p: drop tokens less likely than min_p times the best one (p[0] = 1 here). */
    if (p->min_p > 0) {
        int32_t k = 1;
        while (k < keep && s->cand[k].p >= p->min_p) k++;
        keep = k;
    }
    return keep;
}

int32_t kiln_sampler_sample(kiln_sampler *s, float *logits, const int32_t *history, size_t n_history)
{
    int32_t pick = 0, keep = candidates(s, logits, history, n_history, &pick);
    if (!keep) return pick;
    double sum = 0;
    for (int32_t i = 0; i < keep; i++) sum += s->cand[i].p;
    double r = uniform(&s->rng) * sum, acc = 0;
    for (int32_t i = 0; i < keep; i++) {
        acc += s->cand[i].p;
        if (r < acc) return s->cand[i].id;
    }
    return s->cand[keep - 1].id;
}

const kiln_sampler_params *kiln_sampler_get_params(const kiln_sampler *s) { return &s->p; }
int32_t kiln_sampler_n_vocab(const kiln_sampler *s) { return s->n_vocab; }

void kiln_sampler_probs(kiln_sampler *s, float *logits, const int32_t *history, size_t n_history, float *probs)
{
    int32_t pick = 0, keep = candidates(s, logits, history, n_history, &pick);
    memset(probs, 0, (size_t)s->n_vocab * sizeof *probs);
    if (!keep) {
        probs[pick] = 1;
        return;
    }
    double sum = 0;
    for (int32_t i = 0; i < keep; i++) sum += s->cand[i].p;
    for (int32_t i = 0; i < keep; i++) probs[s->cand[i].id] = (float)(s->cand[i].p / sum);
}

int32_t kiln_sampler_draw(kiln_sampler *s, const float *weights)
{
    double sum = 0;
    int32_t last = 0;
    for (int32_t i = 0; i < s->n_vocab; i++)
        if (weights[i] > 0) sum += weights[i], last = i;
    double r = uniform(&s->rng) * sum, acc = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        if (!(weights[i] > 0)) continue;
        acc += weights[i];
        if (r < acc) return i;
    }
    return last; /* rounding left r at the very top */
}

double kiln_sampler_uniform(kiln_sampler *s) { return uniform(&s->rng); }
