/* runtime/forward.c — the Llama forward pass through the public kiln ops.
 *
 * Per layer, for n tokens at positions pos0..pos0+n-1:
 *   xn  = rmsnorm(x) * attn_norm                     kiln_norm
 *   q,k,v = xn·Wqᵀ, xn·Wkᵀ, xn·Wvᵀ                    kiln_matmul x3
 *   RoPE(q, k); k, v -> paged KV cache               host (rope.c, kv_cache.c)
 *   att = attention(q, K, V)                         kiln_flash_attn (prefill from 0)
 *                                                    kiln_paged_attn (one token)
 *   x  += att·Woᵀ                                    kiln_matmul, RESIDUAL epilogue
 *   xn  = rmsnorm(x) * ffn_norm                      kiln_norm
 *   ffn = silu(xn·Wgateᵀ) * (xn·Wupᵀ)                kiln_matmul, SWIGLU epilogue
 *   x  += ffn·Wdownᵀ                                 kiln_matmul, RESIDUAL epilogue
 * then logits = (rmsnorm(x_last) * output_norm)·Woutᵀ. */
#include <math.h>
#include <string.h>

#include "kernels/core/backend.h"
#include "runtime/parallel.h"
#include "runtime/session.h"

static kiln_tensor act(const kiln_session *s, size_t off, int64_t rows, int64_t cols)
{
    int64_t ne[2] = {rows, cols};
    return kiln_tensor_make(s->act, off, KILN_F32, 2, ne);
}

static kiln_tensor heads(const kiln_session *s, size_t off, int64_t n, int64_t n_heads, int64_t head_dim)
{
    int64_t ne[3] = {n, n_heads, head_dim};
    return kiln_tensor_make(s->act, off, KILN_F32, 3, ne);
}

static kiln_status rms(kiln_session *s, kiln_tensor x, const kiln_tensor *w, kiln_tensor y)
{
    kiln_norm_params p = {.kind = KILN_NORM_RMS, .x = x, .weight = w, .y = y, .eps = s->m->cfg.norm_eps};
    return kiln_norm(s->ctx, &p);
}

static kiln_status matmul(kiln_session *s, kiln_tensor x, kiln_tensor w, kiln_tensor y, const kiln_tensor *residual)
{
    kiln_matmul_params p = {.x = x, .w = w, .y = y, .residual = residual,
                            .epilogue = residual ? KILN_EPI_RESIDUAL : KILN_EPI_NONE};
    return kiln_matmul(s->ctx, &p);
}

/* Host view of an activation: in place on the cpu, else downloaded to staging. */
static kiln_status to_host(kiln_session *s, size_t off, size_t bytes, float *staging, float **out)
{
    if (s->host_visible) {
        *out = (float *)((char *)kiln_buffer_host_ptr(s->act) + off);
        return KILN_OK;
    }
    *out = staging;
    return kiln_buffer_download(s->act, off, staging, bytes);
}

static kiln_status from_host(kiln_session *s, size_t off, size_t bytes, const float *src)
{
    return s->host_visible ? KILN_OK : kiln_buffer_upload(s->act, off, src, bytes);
}

static kiln_status embed(kiln_session *s, const int32_t *ids, int n)
{
    const kiln_weight *e = &s->m->token_embd;
    size_t row = kiln_row_bytes(e->dtype, e->cols);
    for (int t = 0; t < n; t++)
        if (kiln_dequantize_row(e->dtype, (const char *)e->data + (size_t)ids[t] * row, s->host_x + (size_t)t * e->cols,
                                e->cols))
            return kiln_fail(KILN_ERR_INTERNAL, "embedding: cannot dequantize %s", kiln_dtype_get(e->dtype)->name);
    return kiln_buffer_upload(s->act, s->off_x, s->host_x, (size_t)n * e->cols * 4);
}

/* Where q, k and v of a call of n tokens sit: back to back from off_qkv. */
typedef struct qkv_layout {
    size_t q, k, v, bytes_q, bytes_kv;
} qkv_layout;

static qkv_layout qkv_of(const kiln_session *s, int n)
{
    const kiln_model_config *c = &s->m->cfg;
    qkv_layout L;
    L.bytes_q = (size_t)n * c->n_heads * c->head_dim * 4;
    L.bytes_kv = (size_t)n * c->n_kv_heads * c->head_dim * 4;
    L.q = s->off_qkv;
    L.k = L.q + L.bytes_q;
    L.v = L.k + L.bytes_kv;
    return L;
}

typedef struct rope_job {
    const kiln_session *s;
    float *q, *k;
    int pos0;
} rope_job;

/* RoPE on tokens [b, e) of q and k (a prefill splits them over threads). */
static void rope_range(void *ctx, int64_t b, int64_t e)
{
    const rope_job *j = ctx;
    const kiln_model_config *c = &j->s->m->cfg;
    int n = (int)(e - b), pos = j->pos0 + (int)b;
    kiln_rope_apply(j->q + (size_t)b * c->n_heads * c->head_dim, n, c->n_heads, c->head_dim, c->rope_dim, pos,
                    c->rope_scale, j->s->rope_freq);
    kiln_rope_apply(j->k + (size_t)b * c->n_kv_heads * c->head_dim, n, c->n_kv_heads, c->head_dim, c->rope_dim, pos,
                    c->rope_scale, j->s->rope_freq);
}

/* q, k of this layer get RoPE; k and v go into the KV cache. On devices that
 * is one download of q|k|v and one upload of q (q|k for a prefill). */
static kiln_status rope_and_cache(kiln_session *s, int layer, int n, int pos0)
{
    qkv_layout L = qkv_of(s, n);
    float *q;
    kiln_status st = kiln_synchronize(s->ctx);
    if (st || (st = to_host(s, L.q, L.bytes_q + 2 * L.bytes_kv, s->host_qkv, &q))) return st;
    float *k = q + L.bytes_q / 4, *v = k + L.bytes_kv / 4;
    rope_job job = {s, q, k, pos0};
    kiln_parallel_for(n, 16, rope_range, &job);
    if ((st = kiln_kv_cache_store(&s->kv, layer, pos0, n, k, v))) return st;
    /* Decoding reads K from the cache; a prefill reads the fresh k as well. */
    return from_host(s, L.q, n > 1 ? L.bytes_q + L.bytes_kv : L.bytes_q, q);
}

static kiln_status attention(kiln_session *s, int layer, int n, int pos0)
{
    const kiln_model_config *c = &s->m->cfg;
    qkv_layout L = qkv_of(s, n);
    float scale = 1.0f / sqrtf((float)c->head_dim);
    kiln_tensor q = heads(s, L.q, n, c->n_heads, c->head_dim), o = heads(s, s->off_att, n, c->n_heads, c->head_dim);
    if (n > 1) { /* prefill from position 0: the fresh K/V are the whole context */
        kiln_flash_attn_params p = {.q = q, .o = o, .scale = scale, .causal = 1, .q_pos0 = pos0,
                                    .k = heads(s, L.k, n, c->n_kv_heads, c->head_dim),
                                    .v = heads(s, L.v, n, c->n_kv_heads, c->head_dim)};
        return kiln_flash_attn(s->ctx, &p);
    }
    kiln_paged_attn_params p = {.q = q, .o = o, .scale = scale,
                                .k_cache = kiln_kv_cache_k(&s->kv, layer), .v_cache = kiln_kv_cache_v(&s->kv, layer),
                                .block_table = kiln_kv_cache_table(&s->kv), .seq_lens = kiln_kv_cache_lens(&s->kv)};
    return kiln_paged_attn(s->ctx, &p);
}

static kiln_status layer_forward(kiln_session *s, int l, int n, int pos0)
{
    const kiln_model_config *c = &s->m->cfg;
    const kiln_dev_layer *L = &s->layers[l];
    int64_t q_dim = (int64_t)c->n_heads * c->head_dim, kv_dim = (int64_t)c->n_kv_heads * c->head_dim;
    kiln_tensor x = act(s, s->off_x, n, c->dim), xn = act(s, s->off_xn, n, c->dim);
    kiln_tensor att = act(s, s->off_att, n, q_dim), ffn = act(s, s->off_ffn, n, c->hidden_dim);
    qkv_layout qkv = qkv_of(s, n);
    kiln_status st;
    if ((st = rms(s, x, &L->w[KILN_ROLE_ATTN_NORM], xn))) return st;
    if (n == 1 && L->wqkv.ndim) {
        /* One token: [1][q|k|v] is exactly the qkv layout. */
        if ((st = matmul(s, xn, L->wqkv, act(s, qkv.q, 1, q_dim + 2 * kv_dim), NULL))) return st;
    } else if ((st = matmul(s, xn, L->w[KILN_ROLE_ATTN_Q], act(s, qkv.q, n, q_dim), NULL)) ||
               (st = matmul(s, xn, L->w[KILN_ROLE_ATTN_K], act(s, qkv.k, n, kv_dim), NULL)) ||
               (st = matmul(s, xn, L->w[KILN_ROLE_ATTN_V], act(s, qkv.v, n, kv_dim), NULL))) {
        return st;
    }
    if ((st = rope_and_cache(s, l, n, pos0)) || (st = attention(s, l, n, pos0)) ||
        (st = matmul(s, att, L->w[KILN_ROLE_ATTN_OUT], x, &x)) ||
        (st = rms(s, x, &L->w[KILN_ROLE_FFN_NORM], xn)))
        return st;
    kiln_matmul_params p = {.x = xn, .w = L->w[KILN_ROLE_FFN_GATE], .w_up = &L->w[KILN_ROLE_FFN_UP], .y = ffn,
                            .epilogue = KILN_EPI_SWIGLU};
    if ((st = kiln_matmul(s->ctx, &p))) return st;
    return matmul(s, ffn, L->w[KILN_ROLE_FFN_DOWN], x, &x);
}

/* n tokens (n > 1 only from position 0) through all layers; logits of the last. */
static kiln_status run_batch(kiln_session *s, const int32_t *ids, int n, float *logits)
{
    const kiln_model_config *c = &s->m->cfg;
    int pos0 = s->kv.len;
    kiln_status st;
    if ((st = kiln_kv_cache_reserve(&s->kv, pos0 + n)) || (st = embed(s, ids, n))) return st;
    /* Decode attends to pos0 + 1 tokens: the table and length go up once for all layers. */
    if (n == 1 && (st = kiln_kv_cache_commit(&s->kv, pos0 + 1))) return st;
    for (int l = 0; l < c->n_layers; l++)
        if ((st = layer_forward(s, l, n, pos0))) {
            s->kv.len = pos0; /* the failed tokens are not in the cache */
            return kiln_fail_prefix(st, "layer %d", l);
        }
    if ((st = kiln_kv_cache_commit(&s->kv, pos0 + n))) return st;
    if (!logits) return KILN_OK;
    size_t last = (size_t)(n - 1) * c->dim * 4;
    kiln_tensor x_last = act(s, s->off_x + last, 1, c->dim), xn_last = act(s, s->off_xn, 1, c->dim);
    kiln_tensor y = act(s, s->off_logits, 1, c->n_vocab);
    if ((st = rms(s, x_last, &s->output_norm, xn_last)) || (st = matmul(s, xn_last, s->output, y, NULL)) ||
        (st = kiln_synchronize(s->ctx)))
        return kiln_fail_prefix(st, "output layer");
    return kiln_buffer_download(s->act, s->off_logits, logits, (size_t)c->n_vocab * 4);
}

kiln_status kiln_session_forward(kiln_session *s, const int32_t *ids, size_t n, float *logits)
{
    if (!s || (!ids && n)) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_session_forward: null argument");
    if (n == 0) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_session_forward: no tokens");
    const kiln_model_config *c = &s->m->cfg;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->n_vocab)
            return kiln_fail(KILN_ERR_INVALID_ARG, "token id %d (at %zu) is outside the vocabulary 0..%d", ids[i], i,
                             c->n_vocab - 1);
    int32_t cap = kiln_kv_cache_capacity(&s->kv);
    if ((size_t)s->kv.len + n > (size_t)cap)
        return kiln_fail(KILN_ERR_INVALID_ARG, "%zu more tokens do not fit the context: %d of %d positions are used (raise --ctx)",
                         n, s->kv.len, cap);
    size_t done = 0;
    while (done < n) {
        size_t left = n - done, batch = 1;
        if (s->kv.len == 0 && left > 1) batch = left < (size_t)s->max_batch ? left : (size_t)s->max_batch;
        int last = done + batch == n;
        kiln_status st = run_batch(s, ids + done, (int)batch, last ? logits : NULL);
        if (st != KILN_OK) return st;
        done += batch;
    }
    return KILN_OK;
}
