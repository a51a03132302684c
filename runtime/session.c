/* runtime/session.c — putting a model on a context: weights, activation
 * buffer, KV cache; sequences starting and ending; taking it all down again.
 * The forward pass is forward.c. */
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "runtime/session.h"

#define ACT_ALIGN 256
#define MAX_BATCH 512 /* prompt tokens per prefill; longer prompts continue token by token */

kiln_session_options kiln_session_options_default(void)
{
    kiln_session_options o = {.ctx_len = 0, .kv_type = KILN_F16, .kv_block_size = 16, .max_seqs = 1, .kv_blocks = 0,
                              .logits_rows = 0};
    return o;
}

/* A weight as a device tensor: wrapped in place on the cpu, uploaded elsewhere. */
static kiln_status place_weight(kiln_session *s, const kiln_weight *w, int as_vector, kiln_tensor *out)
{
    size_t bytes = (size_t)w->rows * kiln_row_bytes(w->dtype, w->cols);
    kiln_buffer *buf = NULL;
    kiln_status st;
    if (s->host_visible) {
        st = kiln_buffer_wrap_host(s->ctx, (void *)w->data, bytes, &buf);
    } else {
        st = kiln_buffer_alloc(s->ctx, bytes, &buf);
        if (st == KILN_OK && (st = kiln_buffer_upload(buf, 0, w->data, bytes)) != KILN_OK) kiln_buffer_free(buf);
    }
    if (st != KILN_OK) return st;
    s->weight_bufs[s->n_weight_bufs++] = buf;
    int64_t ne[2] = {w->rows, w->cols};
    *out = as_vector ? kiln_tensor_make(buf, 0, w->dtype, 1, &ne[1]) : kiln_tensor_make(buf, 0, w->dtype, 2, ne);
    return KILN_OK;
}

/* Wq, Wk, Wv in one device buffer (see kiln_dev_layer). Only when the three
 * share a type and each part is a whole number of 256-byte units, so that the
 * views start aligned and the fused matrix has no gaps. Returns 0 when the
 * layer does not qualify (the caller places the three separately). */
static int fuse_qkv(kiln_session *s, const kiln_layer_weights *lw, kiln_dev_layer *dl, kiln_status *st)
{
    const kiln_weight *q = &lw->w[KILN_ROLE_ATTN_Q], *k = &lw->w[KILN_ROLE_ATTN_K], *v = &lw->w[KILN_ROLE_ATTN_V];
    *st = KILN_OK;
    if (s->host_visible || q->dtype != k->dtype || q->dtype != v->dtype) return 0;
    size_t row = kiln_row_bytes(q->dtype, q->cols);
    size_t bq = row * (size_t)q->rows, bk = row * (size_t)k->rows, bv = row * (size_t)v->rows;
    if (bq % 256 || bk % 256 || bv % 256) return 0;
    kiln_buffer *buf = NULL;
    if ((*st = kiln_buffer_alloc(s->ctx, bq + bk + bv, &buf))) return 1;
    s->weight_bufs[s->n_weight_bufs++] = buf;
    if ((*st = kiln_buffer_upload(buf, 0, q->data, bq)) || (*st = kiln_buffer_upload(buf, bq, k->data, bk)) ||
        (*st = kiln_buffer_upload(buf, bq + bk, v->data, bv)))
        return 1;
    int64_t ne[2] = {q->rows, q->cols};
    dl->w[KILN_ROLE_ATTN_Q] = kiln_tensor_make(buf, 0, q->dtype, 2, ne);
    ne[0] = k->rows;
    dl->w[KILN_ROLE_ATTN_K] = kiln_tensor_make(buf, bq, q->dtype, 2, ne);
    dl->w[KILN_ROLE_ATTN_V] = kiln_tensor_make(buf, bq + bk, q->dtype, 2, ne);
    ne[0] = q->rows + k->rows + v->rows;
    dl->wqkv = kiln_tensor_make(buf, 0, q->dtype, 2, ne);
    return 1;
}

static size_t carve(size_t *at, size_t bytes)
{
    size_t off = *at;
    *at += (bytes + ACT_ALIGN - 1) / ACT_ALIGN * ACT_ALIGN;
    return off;
}

kiln_status kiln_session_create(const kiln_model *m, kiln_context *ctx, const kiln_session_options *opts,
                                kiln_session **out)
{
    if (!m || !ctx || !out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_session_create: null argument");
    *out = NULL;
    kiln_session_options o = opts ? *opts : kiln_session_options_default();
    const kiln_model_config *c = &m->cfg;
    if (o.ctx_len <= 0) o.ctx_len = c->ctx_len;
    if (o.kv_block_size <= 0) o.kv_block_size = 16;
    if (o.max_seqs <= 0) o.max_seqs = 1;
    kiln_session *s = calloc(1, sizeof *s);
    if (!s) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "session: out of memory");
    s->m = m;
    s->ctx = ctx;
    kiln_device_info info;
    kiln_status st = kiln_context_get_device(ctx, &info);
    if (st != KILN_OK) goto fail;
    s->host_visible = info.backend == KILN_BACKEND_CPU;

    /* Weights (token_embd stays on the host: the embedding is a row lookup). */
    int max_bufs = 2 + c->n_layers * (KILN_ROLE_COUNT - KILN_ROLE_FIRST_PER_LAYER) + 1;
    s->weight_bufs = calloc((size_t)max_bufs, sizeof *s->weight_bufs);
    s->layers = calloc((size_t)c->n_layers, sizeof *s->layers);
    if (!s->weight_bufs || !s->layers) {
        st = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "session: out of memory");
        goto fail;
    }
    if ((st = place_weight(s, &m->output_norm, 1, &s->output_norm)) || (st = place_weight(s, &m->output, 0, &s->output)))
        goto fail;
    for (int l = 0; l < c->n_layers; l++) {
        int fused = fuse_qkv(s, &m->layers[l], &s->layers[l], &st);
        if (st) {
            kiln_fail_prefix(st, "placing blk.%d.attn_q/k/v on %s", l, info.id);
            goto fail;
        }
        for (int r = KILN_ROLE_FIRST_PER_LAYER; r < KILN_ROLE_COUNT; r++) {
            int is_norm = r == KILN_ROLE_ATTN_NORM || r == KILN_ROLE_FFN_NORM;
            if (fused && (r == KILN_ROLE_ATTN_Q || r == KILN_ROLE_ATTN_K || r == KILN_ROLE_ATTN_V)) continue;
            if ((st = place_weight(s, &m->layers[l].w[r], is_norm, &s->layers[l].w[r]))) {
                kiln_fail_prefix(st, "placing blk.%d.%s on %s", l, kiln_role_name((kiln_role)r), info.id);
                goto fail;
            }
        }
    }

    /* Activations: a step is one sequence's prefill or one token per sequence. */
    s->max_batch = o.ctx_len < MAX_BATCH ? o.ctx_len : MAX_BATCH;
    s->max_seqs = o.max_seqs;
    s->max_tokens = s->max_batch > s->max_seqs ? s->max_batch : s->max_seqs;
    size_t nb = (size_t)s->max_tokens, q_dim = (size_t)c->n_heads * c->head_dim;
    size_t kv_dim = (size_t)c->n_kv_heads * c->head_dim, at = 0;
    s->off_x = carve(&at, nb * c->dim * 4);
    s->off_xn = carve(&at, nb * c->dim * 4);
    s->off_qkv = carve(&at, nb * (q_dim + 2 * kv_dim) * 4);
    s->off_att = carve(&at, nb * q_dim * 4);
    s->off_ffn = carve(&at, nb * c->hidden_dim * 4);
    s->off_pos = carve(&at, nb * 4);
    s->off_slot = carve(&at, nb * 4);
    /* The output layer's rows: the decode step's sequences, or more rows of a
     * prefill at once when asked (never more than the step's tokens: xn holds them). */
    s->logits_rows = o.logits_rows > s->max_seqs ? o.logits_rows : s->max_seqs;
    if (s->logits_rows > s->max_tokens) s->logits_rows = s->max_tokens;
    s->off_logits = carve(&at, (size_t)s->logits_rows * c->n_vocab * 4);
    if ((st = kiln_buffer_alloc(ctx, at, &s->act))) goto fail;

    s->host_x = malloc(nb * c->dim * 4);
    s->tok_pos = malloc(nb * sizeof *s->tok_pos);
    s->tok_slot = malloc(nb * sizeof *s->tok_slot);
    s->tok_seq = malloc(nb * sizeof *s->tok_seq);
    s->step_lens = malloc(nb * sizeof *s->step_lens);
    s->host_ids = malloc(nb * sizeof *s->host_ids);
    if (!s->host_x || !s->tok_pos || !s->tok_slot || !s->tok_seq || !s->step_lens || !s->host_ids) {
        st = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "session: out of memory");
        goto fail;
    }
    if ((st = kiln_kv_cache_init(&s->kv, ctx, o.kv_type, c->n_layers, c->n_kv_heads, c->head_dim, o.kv_block_size,
                                 o.ctx_len, o.max_seqs, o.kv_blocks)) ||
        (st = kiln_kv_cache_reserve_rows(&s->kv, s->max_tokens))) /* a prompt chunk after cached tokens: a row each */
        goto fail;
    *out = s;
    return KILN_OK;
fail:
    kiln_session_free(s);
    return kiln_fail_prefix(st, "creating a session");
}

void kiln_session_free(kiln_session *s)
{
    if (!s) return;
    kiln_kv_cache_free(&s->kv);
    for (int i = 0; i < s->n_weight_bufs; i++) kiln_buffer_free(s->weight_bufs[i]);
    free(s->weight_bufs);
    free(s->layers);
    kiln_buffer_free(s->act);
    free(s->host_x);
    free(s->tok_pos);
    free(s->tok_slot);
    free(s->tok_seq);
    free(s->step_lens);
    free(s->host_ids);
    free(s);
}

kiln_status kiln_session_seq_begin(kiln_session *s, int32_t *seq_id)
{
    if (!s || !seq_id) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_session_seq_begin: null argument");
    return kiln_kv_cache_seq_begin(&s->kv, seq_id);
}

void kiln_session_seq_end(kiln_session *s, int32_t seq_id)
{
    if (s) kiln_kv_cache_seq_end(&s->kv, seq_id);
}

int32_t kiln_session_seq_len(const kiln_session *s, int32_t seq_id)
{
    if (!s || seq_id < 0 || seq_id >= s->kv.max_seqs || !s->kv.seqs[seq_id].active) return -1;
    return s->kv.seqs[seq_id].len;
}

int32_t kiln_session_pos(const kiln_session *s)
{
    int32_t len = kiln_session_seq_len(s, 0);
    return len < 0 ? 0 : len;
}

int32_t kiln_session_capacity(const kiln_session *s) { return s ? kiln_kv_cache_capacity(&s->kv) : 0; }

void kiln_session_reset(kiln_session *s)
{
    if (s) kiln_kv_cache_reset(&s->kv);
}

void kiln_session_prefix_cache(kiln_session *s, int enable)
{
    if (!s) return;
    kiln_kv_cache_prefix_enable(&s->kv, enable);
    s->paged_prefill = enable;
}

int32_t kiln_session_seq_reuse_prefix(kiln_session *s, int32_t seq_id, const int32_t *ids, size_t n)
{
    if (!s || !ids || kiln_kv_cache_check_seq(&s->kv, seq_id, "kiln_session_seq_reuse_prefix") != KILN_OK) return 0;
    for (size_t i = 0; i < n; i++) /* ids the model could not have seen reuse nothing */
        if (ids[i] < 0 || ids[i] >= s->m->cfg.n_vocab) return 0;
    return kiln_kv_cache_attach_prefix(&s->kv, seq_id, ids, n > INT32_MAX ? INT32_MAX : (int32_t)n);
}

void kiln_session_seq_cache(kiln_session *s, int32_t seq_id, const int32_t *ids, size_t n)
{
    if (!s || !ids || kiln_kv_cache_check_seq(&s->kv, seq_id, "kiln_session_seq_cache") != KILN_OK) return;
    kiln_kv_cache_publish(&s->kv, seq_id, ids, n > INT32_MAX ? INT32_MAX : (int32_t)n);
}
