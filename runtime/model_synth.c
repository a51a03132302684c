/* runtime/model_synth.c — synthetic Llama models built in memory: the shapes
 * of real ones (Llama 2 7B, Llama 3 8B, TinyLlama 1.1B) with random weights of
 * sane scale (std ~0.02, norms ~1), for benchmarks and tests without weights.
 *
 * Spec: PRESET[-TYPE], e.g. "7b-q4_0", "8b-q4_k", "tiny-f32" (TYPE defaults to
 * q4_0). No tokenizer: prompts are given as ids.
 *
 * Quantizing billions of random floats would take minutes, so each matrix is
 * assembled from a pool of distinct random rows, quantized once per shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "runtime/model.h"

typedef struct synth_preset {
    const char *name;
    int32_t n_vocab, dim, n_layers, n_heads, n_kv_heads, hidden_dim, ctx_len;
    float rope_theta;
} synth_preset;

static const synth_preset presets[] = {
    {"tiny", 1024, 256, 2, 4, 2, 768, 512, 10000.0f},
    /* TinyLlama 1.1B: the model of the CPU decode anchor (llama.cpp, 39 tokens/s) */
    {"1b", 32000, 2048, 22, 32, 4, 5632, 2048, 10000.0f},
    {"7b", 32000, 4096, 32, 32, 32, 11008, 4096, 10000.0f},
    {"8b", 128256, 4096, 32, 32, 8, 14336, 8192, 500000.0f},
};

#define POOL_ROWS 61 /* prime, so row patterns do not line up with head or block counts */

/* xorshift64* and Box-Muller: reproducible weights for a given shape. */
static uint64_t next_u64(uint64_t *s)
{
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static float normal(uint64_t *s)
{
    double u1 = ((next_u64(s) >> 11) + 1.0) / 9007199254740993.0, u2 = (next_u64(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* A matrix [rows][cols] of type t filled from a pool of random rows. */
static kiln_status synth_matrix(kiln_model *m, kiln_dtype t, int64_t rows, int64_t cols, float std, uint64_t seed,
                                kiln_weight *w)
{
    size_t row_bytes = kiln_row_bytes(t, cols);
    if (!row_bytes)
        return kiln_fail(KILN_ERR_SHAPE, "synthetic: rows of %lld do not fit %s blocks", (long long)cols,
                         kiln_dtype_get(t)->name);
    uint8_t *data = kiln_model_own(m, row_bytes * (size_t)rows);
    uint8_t *pool = malloc(row_bytes * POOL_ROWS);
    float *row = malloc((size_t)cols * sizeof *row);
    if (!data || !pool || !row) {
        free(pool), free(row);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "synthetic: out of memory for a [%lld][%lld] %s matrix", (long long)rows,
                         (long long)cols, kiln_dtype_get(t)->name);
    }
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int p = 0; p < POOL_ROWS; p++) {
        for (int64_t i = 0; i < cols; i++) row[i] = std * normal(&s);
        if (kiln_quantize_row(t, row, pool + (size_t)p * row_bytes, cols) == 0) {
            free(pool), free(row);
            return kiln_fail(KILN_ERR_UNSUPPORTED, "synthetic: cannot quantize to %s", kiln_dtype_get(t)->name);
        }
    }
    for (int64_t r = 0; r < rows; r++)
        memcpy(data + (size_t)r * row_bytes, pool + (size_t)((r * 7 + (int64_t)seed) % POOL_ROWS) * row_bytes, row_bytes);
    free(pool);
    free(row);
    *w = (kiln_weight){data, t, rows, cols};
    return KILN_OK;
}

static kiln_status synth_norm(kiln_model *m, int64_t dim, uint64_t seed, kiln_weight *w)
{
    float *d = kiln_model_own(m, (size_t)dim * sizeof *d);
    if (!d) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "synthetic: out of memory");
    uint64_t s = seed + 12345;
    for (int64_t i = 0; i < dim; i++) d[i] = 1.0f + 0.05f * normal(&s);
    *w = (kiln_weight){d, KILN_F32, 1, dim};
    return KILN_OK;
}

kiln_status kiln_model_load_synthetic(kiln_model *m, const char *spec)
{
    char preset[32] = "", type_name[32] = "q4_0";
    const char *dash = strchr(spec, '-');
    size_t pn = dash ? (size_t)(dash - spec) : strlen(spec);
    if (pn == 0 || pn >= sizeof preset || (dash && strlen(dash + 1) >= sizeof type_name))
        return kiln_fail(KILN_ERR_INVALID_ARG, "synthetic model '%s': expected PRESET[-TYPE], e.g. 7b-q4_0", spec);
    memcpy(preset, spec, pn);
    if (dash) strcpy(type_name, dash + 1);
    const synth_preset *p = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(presets[i].name, preset)) p = &presets[i];
    if (!p) return kiln_fail(KILN_ERR_INVALID_ARG, "synthetic preset '%s' is unknown (tiny, 1b, 7b, 8b)", preset);
    int t = kiln_dtype_from_name(type_name);
    const kiln_dtype_info *ti = t >= 0 ? kiln_dtype_get((kiln_dtype)t) : NULL;
    if (!ti || !(ti->is_weight_format || t == KILN_F32 || t == KILN_F16 || t == KILN_BF16) || t == KILN_Q8_K)
        return kiln_fail(KILN_ERR_INVALID_ARG, "synthetic model: '%s' is not a weight type", type_name);

    kiln_model_config *c = &m->cfg;
    c->n_vocab = p->n_vocab, c->dim = p->dim, c->n_layers = p->n_layers, c->n_heads = p->n_heads;
    c->n_kv_heads = p->n_kv_heads, c->hidden_dim = p->hidden_dim, c->ctx_len = p->ctx_len;
    c->head_dim = p->dim / p->n_heads, c->rope_dim = c->head_dim;
    c->rope_theta = p->rope_theta, c->rope_scale = 1.0f, c->norm_eps = 1e-5f;
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "synthetic: out of memory");

    kiln_dtype wt = (kiln_dtype)t;
    int64_t q_dim = (int64_t)c->n_heads * c->head_dim, kv_dim = (int64_t)c->n_kv_heads * c->head_dim;
    kiln_status st;
    /* Embeddings of std 1 keep the first norm well conditioned; the output layer is separate. */
    if ((st = synth_matrix(m, wt, c->n_vocab, c->dim, 1.0f, 1, &m->token_embd)) ||
        (st = synth_matrix(m, wt, c->n_vocab, c->dim, 0.02f, 2, &m->output)) ||
        (st = synth_norm(m, c->dim, 3, &m->output_norm)))
        return st;
    for (int l = 0; l < c->n_layers; l++) {
        kiln_weight *w = m->layers[l].w;
        uint64_t s = 100 + (uint64_t)l * 16;
        if ((st = synth_norm(m, c->dim, s, &w[KILN_ROLE_ATTN_NORM])) ||
            (st = synth_matrix(m, wt, q_dim, c->dim, 0.02f, s + 1, &w[KILN_ROLE_ATTN_Q])) ||
            (st = synth_matrix(m, wt, kv_dim, c->dim, 0.02f, s + 2, &w[KILN_ROLE_ATTN_K])) ||
            (st = synth_matrix(m, wt, kv_dim, c->dim, 0.02f, s + 3, &w[KILN_ROLE_ATTN_V])) ||
            (st = synth_matrix(m, wt, c->dim, q_dim, 0.02f, s + 4, &w[KILN_ROLE_ATTN_OUT])) ||
            (st = synth_norm(m, c->dim, s + 5, &w[KILN_ROLE_FFN_NORM])) ||
            (st = synth_matrix(m, wt, c->hidden_dim, c->dim, 0.02f, s + 6, &w[KILN_ROLE_FFN_GATE])) ||
            (st = synth_matrix(m, wt, c->hidden_dim, c->dim, 0.02f, s + 7, &w[KILN_ROLE_FFN_UP])) ||
            (st = synth_matrix(m, wt, c->dim, c->hidden_dim, 0.02f, s + 8, &w[KILN_ROLE_FFN_DOWN])))
            return st;
    }
    snprintf(c->arch, sizeof c->arch, "llama");
    return KILN_OK;
}
