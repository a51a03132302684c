/* tests/test_model_reference.c — the model loaders checked with a plain C
 * fp32 forward pass (llama2.c's run.c, written against kiln_model's host
 * weights, dequantizing rows on the fly). It is independent of every backend,
 * so a wrong tensor order, shape or RoPE layout shows up here first; the
 * backend forward (test_runtime.c) is then compared with it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/model.h"
#include "tests/test_model_reference.h"

#define MODELS KILN_SOURCE_DIR "/../shared/models/"
#define REFERENCE KILN_SOURCE_DIR "/../shared/reference/stories260K-greedy-from-bos.txt"

static void row_f32(const kiln_weight *w, int64_t r, float *out)
{
    const char *base = w->data;
    cr_assert_eq(kiln_dequantize_row(w->dtype, base + (size_t)r * kiln_row_bytes(w->dtype, w->cols), out, w->cols), 0);
}

/* y[rows] = W x */
static void matvec(const kiln_weight *w, const float *x, float *y, float *scratch)
{
    for (int64_t r = 0; r < w->rows; r++) {
        row_f32(w, r, scratch);
        double s = 0;
        for (int64_t i = 0; i < w->cols; i++) s += (double)scratch[i] * x[i];
        y[r] = (float)s;
    }
}

static void rmsnorm(float *o, const float *x, const kiln_weight *w, int n, float eps)
{
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float s = 1.0f / sqrtf((float)(ss / n) + eps);
    const float *g = w->data;
    for (int i = 0; i < n; i++) o[i] = x[i] * s * g[i];
}

static void rope(float *v, int n_heads, int head_dim, int rope_dim, int pos, float theta, float scale)
{
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < rope_dim; i += 2) {
            float freq = powf(theta, -(float)i / (float)rope_dim);
            float a = (float)pos / scale * freq, c = cosf(a), s = sinf(a);
            float *p = v + h * head_dim + i, x0 = p[0], x1 = p[1];
            p[0] = x0 * c - x1 * s;
            p[1] = x0 * s + x1 * c;
        }
}

kiln_ref_state *kiln_ref_create(const kiln_model *m, int max_pos)
{
    const kiln_model_config *c = &m->cfg;
    kiln_ref_state *s = calloc(1, sizeof *s);
    int kv = c->n_kv_heads * c->head_dim, big = c->hidden_dim > c->n_vocab ? c->hidden_dim : c->n_vocab;
    if (big < c->dim) big = c->dim;
    s->m = m;
    s->max_pos = max_pos;
    s->x = calloc((size_t)c->dim, 4), s->xb = calloc((size_t)c->dim, 4), s->q = calloc((size_t)c->dim, 4);
    s->att = calloc((size_t)max_pos, 4), s->h1 = calloc((size_t)c->hidden_dim, 4), s->h3 = calloc((size_t)c->hidden_dim, 4);
    s->scratch = calloc((size_t)big, 4), s->logits = calloc((size_t)c->n_vocab, 4), s->tmp = calloc((size_t)big, 4);
    s->k = calloc((size_t)c->n_layers * max_pos * kv, 4), s->v = calloc((size_t)c->n_layers * max_pos * kv, 4);
    return s;
}

void kiln_ref_free(kiln_ref_state *s)
{
    if (!s) return;
    free(s->x), free(s->xb), free(s->q), free(s->att), free(s->h1), free(s->h3);
    free(s->scratch), free(s->logits), free(s->tmp), free(s->k), free(s->v);
    free(s);
}

const float *kiln_ref_forward(kiln_ref_state *s, int token, int pos)
{
    const kiln_model *m = s->m;
    const kiln_model_config *c = &m->cfg;
    int dim = c->dim, hd = c->head_dim, kv = c->n_kv_heads * hd, group = c->n_heads / c->n_kv_heads;
    row_f32(&m->token_embd, token, s->x);
    for (int l = 0; l < c->n_layers; l++) {
        const kiln_weight *w = m->layers[l].w;
        float *kc = s->k + ((size_t)l * s->max_pos) * kv, *vc = s->v + ((size_t)l * s->max_pos) * kv;
        rmsnorm(s->xb, s->x, &w[KILN_ROLE_ATTN_NORM], dim, c->norm_eps);
        matvec(&w[KILN_ROLE_ATTN_Q], s->xb, s->q, s->scratch);
        matvec(&w[KILN_ROLE_ATTN_K], s->xb, kc + (size_t)pos * kv, s->scratch);
        matvec(&w[KILN_ROLE_ATTN_V], s->xb, vc + (size_t)pos * kv, s->scratch);
        rope(s->q, c->n_heads, hd, c->rope_dim, pos, c->rope_theta, c->rope_scale);
        rope(kc + (size_t)pos * kv, c->n_kv_heads, hd, c->rope_dim, pos, c->rope_theta, c->rope_scale);
        for (int h = 0; h < c->n_heads; h++) {
            const float *q = s->q + h * hd;
            int kvh = h / group;
            float mx = -INFINITY;
            for (int t = 0; t <= pos; t++) {
                const float *k = kc + (size_t)t * kv + kvh * hd;
                float d = 0;
                for (int i = 0; i < hd; i++) d += q[i] * k[i];
                s->att[t] = d / sqrtf((float)hd);
                if (s->att[t] > mx) mx = s->att[t];
            }
            float sum = 0;
            for (int t = 0; t <= pos; t++) sum += s->att[t] = expf(s->att[t] - mx);
            float *o = s->tmp + h * hd;
            for (int i = 0; i < hd; i++) o[i] = 0;
            for (int t = 0; t <= pos; t++) {
                const float *v = vc + (size_t)t * kv + kvh * hd;
                for (int i = 0; i < hd; i++) o[i] += s->att[t] / sum * v[i];
            }
        }
        matvec(&w[KILN_ROLE_ATTN_OUT], s->tmp, s->xb, s->scratch);
        for (int i = 0; i < dim; i++) s->x[i] += s->xb[i];
        rmsnorm(s->xb, s->x, &w[KILN_ROLE_FFN_NORM], dim, c->norm_eps);
        matvec(&w[KILN_ROLE_FFN_GATE], s->xb, s->h1, s->scratch);
        matvec(&w[KILN_ROLE_FFN_UP], s->xb, s->h3, s->scratch);
        for (int i = 0; i < c->hidden_dim; i++) s->h1[i] = s->h1[i] / (1.0f + expf(-s->h1[i])) * s->h3[i];
        matvec(&w[KILN_ROLE_FFN_DOWN], s->h1, s->xb, s->scratch);
        for (int i = 0; i < dim; i++) s->x[i] += s->xb[i];
    }
    rmsnorm(s->xb, s->x, &m->output_norm, dim, c->norm_eps);
    matvec(&m->output, s->xb, s->logits, s->scratch);
    return s->logits;
}

int kiln_ref_read_expected(int32_t *ids, int cap)
{
    FILE *f = fopen(REFERENCE, "r");
    if (!f) return -1;
    int n = 0;
    while (n < cap && fscanf(f, "%d", &ids[n]) == 1) n++;
    fclose(f);
    return n;
}

static int argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

static void greedy_matches_reference(const char *file)
{
    int32_t expect[64];
    int n = kiln_ref_read_expected(expect, 64);
    if (n < 0) cr_skip_test("the reference ids are absent");
    cr_assert_eq(n, 64);
    kiln_model *m = NULL;
    cr_assert_eq(kiln_model_load(file, &m), KILN_OK, "%s", kiln_last_error());
    kiln_ref_state *s = kiln_ref_create(m, 128);
    int token = 1;
    for (int pos = 0; pos < 64; pos++) {
        token = argmax(kiln_ref_forward(s, token, pos), m->cfg.n_vocab);
        cr_assert_eq(token, expect[pos], "%s: position %d: got %d, reference %d", file, pos + 1, token, expect[pos]);
    }
    kiln_ref_free(s);
    kiln_model_free(m);
}

Test(model, llama2c_reference_forward_greedy, .timeout = 60) { greedy_matches_reference(MODELS "stories260K.bin"); }

Test(model, gguf_f32_reference_forward_greedy, .timeout = 60) { greedy_matches_reference(MODELS "stories260K-f32.gguf"); }
