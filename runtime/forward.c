/* runtime/forward.c — the Llama forward pass through the public kiln ops.
 *
 * A step runs n tokens through the model: the tokens of one sequence's
 * prefill (from position 0), or one token each of n sequences (a decode
 * step, continuous batching). Every token carries its own position and KV
 * cache slot. Per layer:
 *   xn  = rmsnorm(x) * attn_norm                     kiln_norm
 *   q,k,v = xn·Wqᵀ, xn·Wkᵀ, xn·Wvᵀ                    kiln_matmul x3 (n rows each)
 *   RoPE(q, k) at positions; k, v -> KV cache slots  kiln_rope (with the KV append)
 *   att = attention(q, K, V)                         kiln_flash_attn (prefill)
 *                                                    kiln_paged_attn (decode: one
 *                                                    call over the n sequences)
 *   x  += att·Woᵀ                                    kiln_matmul, RESIDUAL epilogue
 *   xn  = rmsnorm(x) * ffn_norm                      kiln_norm
 *   ffn = silu(xn·Wgateᵀ) * (xn·Wupᵀ)                kiln_matmul, SWIGLU epilogue
 *   x  += ffn·Wdownᵀ                                 kiln_matmul, RESIDUAL epilogue
 * then logits = (rmsnorm(x) * output_norm)·Woutᵀ for the last token of each
 * sequence. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kiln/error.h"
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

static kiln_tensor i32_vec(const kiln_session *s, size_t off, int64_t n)
{
    int64_t ne[1] = {n};
    return kiln_tensor_make(s->act, off, KILN_I32, 1, ne);
}

/* RoPE on this layer's q and k at each token's position, and k, v into the
 * KV cache at each token's slot: one kiln_rope call on the backend, reading
 * the step's positions and slots that begin_step put in the activation
 * buffer (i32 [n] at off_pos, off_slot) — no host round trip per layer. */
static kiln_status rope_and_store(kiln_session *s, int layer, int n)
{
    const kiln_model_config *c = &s->m->cfg;
    qkv_layout L = qkv_of(s, n);
    kiln_tensor v = heads(s, L.v, n, c->n_kv_heads, c->head_dim);
    kiln_tensor k_cache = kiln_kv_cache_k(&s->kv, layer), v_cache = kiln_kv_cache_v(&s->kv, layer);
    kiln_tensor slots = i32_vec(s, s->off_slot, n);
    kiln_rope_params p = {.q = heads(s, L.q, n, c->n_heads, c->head_dim),
                          .k = heads(s, L.k, n, c->n_kv_heads, c->head_dim),
                          .positions = i32_vec(s, s->off_pos, n),
                          .rope_dim = c->rope_dim,
                          .theta = c->rope_theta,
                          .freq_scale = 1.0f / c->rope_scale, /* the config's factor divides positions */
                          .v = &v,
                          .k_cache = &k_cache,
                          .v_cache = &v_cache,
                          .slots = &slots};
    return kiln_rope(s->ctx, &p);
}

static kiln_status attention(kiln_session *s, int layer, int n, int prefill)
{
    const kiln_model_config *c = &s->m->cfg;
    qkv_layout L = qkv_of(s, n);
    float scale = 1.0f / sqrtf((float)c->head_dim);
    kiln_tensor q = heads(s, L.q, n, c->n_heads, c->head_dim), o = heads(s, s->off_att, n, c->n_heads, c->head_dim);
    if (prefill) { /* from position 0: the fresh K/V are the whole context */
        kiln_flash_attn_params p = {.q = q, .o = o, .scale = scale, .causal = 1, .q_pos0 = s->tok_pos[0],
                                    .k = heads(s, L.k, n, c->n_kv_heads, c->head_dim),
                                    .v = heads(s, L.v, n, c->n_kv_heads, c->head_dim)};
        return kiln_flash_attn(s->ctx, &p);
    }
    /* One query per sequence; row i of the uploaded table is token i's sequence. */
    kiln_paged_attn_params p = {.q = q, .o = o, .scale = scale,
                                .k_cache = kiln_kv_cache_k(&s->kv, layer), .v_cache = kiln_kv_cache_v(&s->kv, layer),
                                .block_table = kiln_kv_cache_table(&s->kv), .seq_lens = kiln_kv_cache_lens(&s->kv)};
    return kiln_paged_attn(s->ctx, &p);
}

static kiln_status layer_forward(kiln_session *s, int l, int n, int prefill)
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
    if ((st = rope_and_store(s, l, n)) || (st = attention(s, l, n, prefill)) ||
        (st = matmul(s, att, L->w[KILN_ROLE_ATTN_OUT], x, &x)) ||
        (st = rms(s, x, &L->w[KILN_ROLE_FFN_NORM], xn)))
        return st;
    kiln_matmul_params p = {.x = xn, .w = L->w[KILN_ROLE_FFN_GATE], .w_up = &L->w[KILN_ROLE_FFN_UP], .y = ffn,
                            .epilogue = KILN_EPI_SWIGLU};
    if ((st = kiln_matmul(s->ctx, &p))) return st;
    return matmul(s, ffn, L->w[KILN_ROLE_FFN_DOWN], x, &x);
}

/* The n tokens of a step (tok_seq, tok_pos filled in, positions reserved):
 * their slots, then embeddings, positions and slots to the device. */
static kiln_status begin_step(kiln_session *s, const int32_t *ids, int n)
{
    for (int t = 0; t < n; t++) s->tok_slot[t] = kiln_kv_cache_slot(&s->kv, s->tok_seq[t], s->tok_pos[t]);
    kiln_status st = embed(s, ids, n);
    if (st == KILN_OK) st = kiln_buffer_upload(s->act, s->off_pos, s->tok_pos, (size_t)n * 4);
    if (st == KILN_OK) st = kiln_buffer_upload(s->act, s->off_slot, s->tok_slot, (size_t)n * 4);
    return st;
}

static kiln_status run_layers(kiln_session *s, int n, int prefill)
{
    for (int l = 0; l < s->m->cfg.n_layers; l++) {
        kiln_status st = layer_forward(s, l, n, prefill);
        if (st) return kiln_fail_prefix(st, "layer %d", l);
    }
    return KILN_OK;
}

/* logits[rows][n_vocab] of `rows` consecutive rows of x from row `first`. */
static kiln_status output_logits(kiln_session *s, int first, int rows, float *logits)
{
    const kiln_model_config *c = &s->m->cfg;
    kiln_tensor x = act(s, s->off_x + (size_t)first * c->dim * 4, rows, c->dim), xn = act(s, s->off_xn, rows, c->dim);
    kiln_tensor y = act(s, s->off_logits, rows, c->n_vocab);
    kiln_status st;
    if ((st = rms(s, x, &s->output_norm, xn)) || (st = matmul(s, xn, s->output, y, NULL)) ||
        (st = kiln_synchronize(s->ctx)))
        return kiln_fail_prefix(st, "output layer");
    return kiln_buffer_download(s->act, s->off_logits, logits, (size_t)rows * c->n_vocab * 4);
}

/* After a step of n tokens: the logits of the last (none when logits is
 * NULL), or with all set logits[n][n_vocab] of every token, logits_rows at a
 * time. */
static kiln_status step_logits(kiln_session *s, int n, float *logits, int all)
{
    if (!logits) return KILN_OK;
    if (!all) return output_logits(s, n - 1, 1, logits);
    kiln_status st;
    for (int r = 0; r < n; r += s->logits_rows) {
        int rows = n - r < s->logits_rows ? n - r : s->logits_rows;
        if ((st = output_logits(s, r, rows, logits + (size_t)r * s->m->cfg.n_vocab))) return st;
    }
    return KILN_OK;
}

/* n tokens of sequence seq from position 0 in one pass; logits of the last,
 * or with all set logits[n][n_vocab] of every token, logits_rows at a time. */
static kiln_status prefill_step(kiln_session *s, int32_t seq, const int32_t *ids, int n, float *logits, int all)
{
    kiln_kv_seq *q = &s->kv.seqs[seq];
    kiln_status st = kiln_kv_cache_reserve(&s->kv, seq, q->len + n);
    if (st) return st;
    for (int t = 0; t < n; t++) s->tok_seq[t] = seq, s->tok_pos[t] = q->len + t;
    if ((st = begin_step(s, ids, n)) || (st = run_layers(s, n, 1))) return st;
    q->len += n; /* only now: a failed step leaves the tokens out of the sequence */
    return step_logits(s, n, logits, all);
}

/* n tokens of sequence seq after the ones it holds, in one pass: K/V of all
 * n go into the cache first, then each token attends through the block
 * table as a decode query would (row t: the sequence's row, length len+t+1,
 * so causal). For prompts that continue a sequence (a chat turn, a prefix
 * from the cache), and for every prompt when s->paged_prefill. */
static kiln_status chunk_step(kiln_session *s, int32_t seq, const int32_t *ids, int n, float *logits, int all)
{
    kiln_kv_seq *q = &s->kv.seqs[seq];
    kiln_status st = kiln_kv_cache_reserve(&s->kv, seq, q->len + n);
    if (st) return st;
    for (int t = 0; t < n; t++) s->tok_seq[t] = seq, s->tok_pos[t] = q->len + t, s->step_lens[t] = q->len + t + 1;
    if ((st = begin_step(s, ids, n)) || (st = kiln_kv_cache_upload_rows(&s->kv, n, s->tok_seq, s->step_lens)) ||
        (st = run_layers(s, n, 0)))
        return st;
    q->len += n;
    return step_logits(s, n, logits, all);
}

/* One token for each of n distinct sequences; logits[n][n_vocab]. */
static kiln_status decode_step(kiln_session *s, int n, const int32_t *seqs, const int32_t *ids, float *logits)
{
    kiln_status st;
    for (int i = 0; i < n; i++) {
        int32_t len = s->kv.seqs[seqs[i]].len;
        if ((st = kiln_kv_cache_reserve(&s->kv, seqs[i], len + 1))) return st;
        s->tok_seq[i] = seqs[i], s->tok_pos[i] = len, s->step_lens[i] = len + 1;
    }
    /* The table rows and lengths (with the new token) go up once for all layers. */
    if ((st = begin_step(s, ids, n)) || (st = kiln_kv_cache_upload_rows(&s->kv, n, seqs, s->step_lens)) ||
        (st = run_layers(s, n, 0)))
        return st;
    for (int i = 0; i < n; i++) s->kv.seqs[seqs[i]].len = s->step_lens[i];
    return logits ? output_logits(s, 0, n, logits) : KILN_OK;
}

/* "" or "sequence 3: ", for messages of sessions that hold several. */
static const char *seq_label(const kiln_session *s, int32_t seq, char *buf, size_t cap)
{
    if (s->max_seqs == 1) return "";
    snprintf(buf, cap, "sequence %d: ", seq);
    return buf;
}

static kiln_status check_ids(const kiln_session *s, const int32_t *ids, size_t n)
{
    int32_t n_vocab = s->m->cfg.n_vocab;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab)
            return kiln_fail(KILN_ERR_INVALID_ARG, "token id %d (at %zu) is outside the vocabulary 0..%d", ids[i], i,
                             n_vocab - 1);
    return KILN_OK;
}

/* kiln_session_prefill (all = 0: logits of the last token) and
 * kiln_session_prefill_all (all = 1: logits[n][n_vocab]); fn names the caller. */
static kiln_status prefill(kiln_session *s, int32_t seq, const int32_t *ids, size_t n, float *logits, int all,
                           const char *fn)
{
    if (!s || (!ids && n) || (all && !logits)) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: null argument", fn);
    if (n == 0) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: no tokens", fn);
    kiln_status st;
    if ((st = kiln_kv_cache_check_seq(&s->kv, seq, fn)) || (st = check_ids(s, ids, n))) return st;
    /* Everything that can be checked up front is, so a refused call changes nothing. */
    char label[32];
    int32_t len = s->kv.seqs[seq].len, cap = kiln_kv_cache_capacity(&s->kv);
    if ((size_t)len + n > (size_t)cap)
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s%zu more tokens do not fit the context: %d of %d positions are used (raise --ctx)",
                         seq_label(s, seq, label, sizeof label), n, len, cap);
    int32_t need = kiln_kv_cache_blocks_needed(&s->kv, seq, len + (int32_t)n);
    if (need > kiln_kv_cache_available(&s->kv))
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s%zu more tokens need %d KV blocks; %d of %d are free (end a sequence first)",
                         seq_label(s, seq, label, sizeof label), n, need, kiln_kv_cache_available(&s->kv), s->kv.n_blocks);
    for (size_t done = 0; done < n;) {
        size_t left = n - done, batch = left < (size_t)s->max_batch ? left : (size_t)s->max_batch;
        float *out = all ? logits + done * s->m->cfg.n_vocab : done + batch == n ? logits : NULL;
        if (batch == 1) st = decode_step(s, 1, &seq, ids + done, out);
        else if (s->kv.seqs[seq].len == 0 && !s->paged_prefill) st = prefill_step(s, seq, ids + done, (int)batch, out, all);
        else st = chunk_step(s, seq, ids + done, (int)batch, out, all);
        if (st != KILN_OK) return st;
        done += batch;
    }
    return KILN_OK;
}

kiln_status kiln_session_prefill(kiln_session *s, int32_t seq, const int32_t *ids, size_t n, float *logits)
{
    return prefill(s, seq, ids, n, logits, 0, "kiln_session_prefill");
}

kiln_status kiln_session_prefill_all(kiln_session *s, int32_t seq, const int32_t *ids, size_t n, float *logits)
{
    return prefill(s, seq, ids, n, logits, 1, "kiln_session_prefill_all");
}

kiln_status kiln_session_decode(kiln_session *s, size_t n_seqs, const int32_t *seq_ids, const int32_t *tokens,
                                float *logits)
{
    if (!s || !seq_ids || !tokens) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_session_decode: null argument");
    if (n_seqs == 0) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_session_decode: no sequences");
    if (n_seqs > (size_t)s->max_seqs)
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_session_decode: %zu sequences, but the session holds at most %d (max_seqs)",
                         n_seqs, s->max_seqs);
    kiln_status st = check_ids(s, tokens, n_seqs);
    if (st) return st;
    int32_t need = 0, cap = kiln_kv_cache_capacity(&s->kv);
    for (size_t i = 0; i < n_seqs; i++) {
        int32_t q = seq_ids[i];
        if ((st = kiln_kv_cache_check_seq(&s->kv, q, "kiln_session_decode"))) return st;
        for (size_t j = 0; j < i; j++)
            if (seq_ids[j] == q)
                return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_session_decode: sequence %d appears twice (at %zu and %zu)", q,
                                 j, i);
        int32_t len = s->kv.seqs[q].len;
        if (len + 1 > cap)
            return kiln_fail(KILN_ERR_INVALID_ARG, "sequence %d is full: %d of %d positions are used (raise --ctx)", q, len,
                             cap);
        need += kiln_kv_cache_blocks_needed(&s->kv, q, len + 1);
    }
    if (need > kiln_kv_cache_available(&s->kv))
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "kiln_session_decode: the step needs %d more KV blocks; %d of %d are free (end a sequence first)",
                         need, kiln_kv_cache_available(&s->kv), s->kv.n_blocks);
    return decode_step(s, (int)n_seqs, seq_ids, tokens, logits);
}

/* Several tokens of each of several sequences in one pass (speculative
 * decoding's verify step): K/V of all go into the cache first, then every
 * token attends through its sequence's block table row with length pos + 1
 * (causal), as a decode query would, so each row computes what decoding the
 * tokens one at a time computes. logits[n][n_vocab] of every token. */
static kiln_status multi_step(kiln_session *s, int n_seqs, const int32_t *seqs, const int32_t *const *tokens,
                              const int32_t *counts, int n, float *logits)
{
    kiln_status st;
    int t = 0;
    for (int i = 0; i < n_seqs; i++) {
        int32_t len = s->kv.seqs[seqs[i]].len;
        if ((st = kiln_kv_cache_reserve(&s->kv, seqs[i], len + counts[i]))) return st;
        for (int j = 0; j < counts[i]; j++, t++) {
            s->tok_seq[t] = seqs[i], s->tok_pos[t] = len + j, s->step_lens[t] = len + j + 1;
            s->host_ids[t] = tokens[i][j];
        }
    }
    if ((st = begin_step(s, s->host_ids, n)) || (st = kiln_kv_cache_upload_rows(&s->kv, n, s->tok_seq, s->step_lens)) ||
        (st = run_layers(s, n, 0)))
        return st;
    for (int i = 0; i < n_seqs; i++) s->kv.seqs[seqs[i]].len += counts[i];
    return step_logits(s, n, logits, 1);
}

kiln_status kiln_session_verify(kiln_session *s, size_t n_seqs, const int32_t *seq_ids, const int32_t *const *tokens,
                                const int32_t *n_tokens, float *logits)
{
    const char *fn = "kiln_session_verify";
    if (!s || !seq_ids || !tokens || !n_tokens || !logits) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: null argument", fn);
    if (n_seqs == 0) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: no sequences", fn);
    if (n_seqs > (size_t)s->max_seqs)
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s: %zu sequences, but the session holds at most %d (max_seqs)", fn,
                         n_seqs, s->max_seqs);
    kiln_status st;
    int32_t need = 0, cap = kiln_kv_cache_capacity(&s->kv);
    size_t total = 0;
    char label[32];
    for (size_t i = 0; i < n_seqs; i++) {
        int32_t q = seq_ids[i];
        if ((st = kiln_kv_cache_check_seq(&s->kv, q, fn))) return st;
        for (size_t j = 0; j < i; j++)
            if (seq_ids[j] == q)
                return kiln_fail(KILN_ERR_INVALID_ARG, "%s: sequence %d appears twice (at %zu and %zu)", fn, q, j, i);
        if (n_tokens[i] < 1 || !tokens[i])
            return kiln_fail(KILN_ERR_INVALID_ARG, "%s: %sno tokens (each sequence needs at least one)", fn,
                             seq_label(s, q, label, sizeof label));
        if ((st = check_ids(s, tokens[i], (size_t)n_tokens[i]))) return kiln_fail_prefix(st, "%s", fn);
        int32_t len = s->kv.seqs[q].len;
        if ((int64_t)len + n_tokens[i] > cap)
            return kiln_fail(KILN_ERR_INVALID_ARG, "%s%d more tokens do not fit the context: %d of %d positions are used (raise --ctx)",
                             seq_label(s, q, label, sizeof label), n_tokens[i], len, cap);
        need += kiln_kv_cache_blocks_needed(&s->kv, q, len + n_tokens[i]);
        total += (size_t)n_tokens[i];
    }
    if (total > (size_t)s->max_tokens)
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s: %zu tokens in one step; the session takes at most %d", fn, total,
                         s->max_tokens);
    if (need > kiln_kv_cache_available(&s->kv))
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: the step needs %d more KV blocks; %d of %d are free (end a sequence first)",
                         fn, need, kiln_kv_cache_available(&s->kv), s->kv.n_blocks);
    return multi_step(s, (int)n_seqs, seq_ids, tokens, n_tokens, (int)total, logits);
}

kiln_status kiln_session_seq_truncate(kiln_session *s, int32_t seq_id, int32_t len)
{
    kiln_status st;
    if (!s) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_session_seq_truncate: null argument");
    if ((st = kiln_kv_cache_check_seq(&s->kv, seq_id, "kiln_session_seq_truncate"))) return st;
    return kiln_kv_cache_truncate(&s->kv, seq_id, len);
}

kiln_status kiln_session_forward(kiln_session *s, const int32_t *ids, size_t n, float *logits)
{
    if (!s || (!ids && n)) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_session_forward: null argument");
    int started = 0;
    if (!s->kv.seqs[0].active) {
        kiln_status st = kiln_kv_cache_seq_begin_at(&s->kv, 0);
        if (st) return st;
        started = 1;
    }
    kiln_status st = kiln_session_prefill(s, 0, ids, n, logits);
    /* A refused first call leaves sequence 0 free, as it found it. */
    if (st != KILN_OK && started && s->kv.seqs[0].len == 0) kiln_kv_cache_seq_end(&s->kv, 0);
    return st;
}
