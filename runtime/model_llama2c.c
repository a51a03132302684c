/* runtime/model_llama2c.c — llama2.c checkpoints (Karpathy's run.c format).
 *
 * Layout, little endian:
 *   int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
 *     (vocab_size < 0: the classifier is stored separately, at the end)
 *   f32 token_embedding [vocab][dim]
 *   f32 rms_att [L][dim], wq [L][dim][dim], wk [L][kv_dim][dim], wv [L][kv_dim][dim],
 *       wo [L][dim][dim], rms_ffn [L][dim], w1 [L][hidden][dim], w2 [L][dim][hidden],
 *       w3 [L][hidden][dim], rms_final [dim]
 *   f32 freq_cis_real, freq_cis_imag [seq_len][head_size/2] (legacy, skipped)
 *   f32 wcls [vocab][dim] (only when vocab_size < 0)
 * with kv_dim = dim * n_kv_heads / n_heads. Matrices are [out][in], as kiln's
 * weights; RoPE rotates consecutive pairs, theta 10000, RMSNorm eps 1e-5. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "runtime/model.h"

static kiln_weight f32_weight(const float *data, int64_t rows, int64_t cols)
{
    kiln_weight w = {data, KILN_F32, rows, cols};
    return w;
}

kiln_status kiln_model_load_llama2c(kiln_model *m, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return kiln_fail(KILN_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    int32_t h[7];
    if (fread(h, sizeof h, 1, f) != 1) {
        fclose(f);
        return kiln_fail(KILN_ERR_FORMAT, "%s is too short for a llama2.c header (28 bytes)", path);
    }
    fseek(f, 0, SEEK_END);
    long file_size = ftell(f);
    fseek(f, (long)sizeof h, SEEK_SET);

    kiln_model_config *c = &m->cfg;
    int shared = h[5] > 0;
    c->dim = h[0], c->hidden_dim = h[1], c->n_layers = h[2], c->n_heads = h[3], c->n_kv_heads = h[4];
    c->n_vocab = shared ? h[5] : h[5] == INT32_MIN ? 0 : -h[5]; /* INT32_MIN has no negation: refused below */
    c->ctx_len = h[6];
    if (c->dim <= 0 || c->hidden_dim <= 0 || c->n_layers <= 0 || c->n_layers > 4096 || c->n_heads <= 0 ||
        c->n_kv_heads <= 0 || c->n_vocab <= 0 || c->ctx_len <= 0 || c->dim % c->n_heads || c->n_heads % c->n_kv_heads) {
        fclose(f);
        return kiln_fail(KILN_ERR_FORMAT,
                         "%s is not a llama2.c checkpoint: header dim=%d hidden=%d layers=%d heads=%d kv_heads=%d vocab=%d seq_len=%d",
                         path, h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
    }
    c->head_dim = c->dim / c->n_heads;
    c->rope_dim = c->head_dim;
    c->rope_theta = 10000.0f;
    c->rope_scale = 1.0f;
    c->norm_eps = 1e-5f;
    c->tied_output = shared;

    /* The exact count below is uint64 arithmetic: bound it first (in double) so
     * a hostile header cannot wrap it into a small number. */
    double approx = ((double)c->n_vocab * 2 + 2) * c->dim + (double)c->ctx_len * c->head_dim +
                    (double)c->n_layers * ((double)c->dim * (4.0 * c->dim + 3.0 * c->hidden_dim + 2));
    if (approx * 4 > 0x1p50) {
        fclose(f);
        return kiln_fail(KILN_ERR_FORMAT, "%s: the llama2.c header asks for %.3g bytes of weights (dim=%d hidden=%d layers=%d vocab=%d)",
                         path, approx * 4, h[0], h[1], h[2], h[5]);
    }
    uint64_t dim = (uint64_t)c->dim, hid = (uint64_t)c->hidden_dim, L = (uint64_t)c->n_layers;
    uint64_t kv_dim = dim * (uint64_t)c->n_kv_heads / (uint64_t)c->n_heads;
    uint64_t vocab = (uint64_t)c->n_vocab;
    uint64_t floats = vocab * dim + L * (dim + 2 * dim * dim + 2 * kv_dim * dim + dim + 3 * hid * dim) + dim +
                      (uint64_t)c->ctx_len * (uint64_t)c->head_dim + (shared ? 0 : vocab * dim);
    uint64_t have = (uint64_t)(file_size - (long)sizeof h);
    if (file_size < (long)sizeof h || have < floats * 4) {
        fclose(f);
        return kiln_fail(KILN_ERR_FORMAT, "%s is truncated: the header asks for %llu bytes of weights, the file has %llu",
                         path, (unsigned long long)(floats * 4), (unsigned long long)have);
    }
    float *data = kiln_model_own(m, (size_t)floats * 4);
    if (!data) {
        fclose(f);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "out of memory for %llu bytes of weights", (unsigned long long)(floats * 4));
    }
    size_t got = fread(data, 4, (size_t)floats, f);
    fclose(f);
    if (got != floats) return kiln_fail(KILN_ERR_IO, "reading %s failed after %zu floats", path, got);

    m->layers = calloc((size_t)L, sizeof *m->layers);
    if (!m->layers) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "out of memory for %d layers", c->n_layers);
    const float *p = data;
    m->token_embd = f32_weight(p, (int64_t)vocab, (int64_t)dim), p += vocab * dim;
    /* Per-layer arrays are stored role by role, each for all layers. */
    static const kiln_role order[] = {KILN_ROLE_ATTN_NORM, KILN_ROLE_ATTN_Q,   KILN_ROLE_ATTN_K,
                                      KILN_ROLE_ATTN_V,    KILN_ROLE_ATTN_OUT, KILN_ROLE_FFN_NORM,
                                      KILN_ROLE_FFN_GATE,  KILN_ROLE_FFN_DOWN, KILN_ROLE_FFN_UP};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        uint64_t rows, cols = dim;
        switch (order[i]) {
        case KILN_ROLE_ATTN_NORM: case KILN_ROLE_FFN_NORM: rows = 1; break;
        case KILN_ROLE_ATTN_Q: case KILN_ROLE_ATTN_OUT: rows = dim; break;
        case KILN_ROLE_ATTN_K: case KILN_ROLE_ATTN_V: rows = kv_dim; break;
        case KILN_ROLE_FFN_GATE: case KILN_ROLE_FFN_UP: rows = hid; break;
        default: rows = dim, cols = hid; break; /* FFN_DOWN */
        }
        for (uint64_t l = 0; l < L; l++) {
            m->layers[l].w[order[i]] = f32_weight(p, (int64_t)rows, (int64_t)cols);
            p += rows * cols;
        }
    }
    m->output_norm = f32_weight(p, 1, (int64_t)dim), p += dim;
    p += (uint64_t)c->ctx_len * (uint64_t)c->head_dim; /* the two legacy RoPE tables */
    m->output = shared ? m->token_embd : f32_weight(p, (int64_t)vocab, (int64_t)dim);
    return KILN_OK;
}
