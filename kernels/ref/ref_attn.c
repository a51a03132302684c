/* kernels/ref/ref_attn.c — reference flash attention and paged attention.
 * Both gather the keys and values one query can see into packed double rows
 * and call the same attend(): a two-pass softmax (max, then exp-sum) in double.
 * Paged attention is thus by construction flash attention over the gathered
 * cache, which tests/test_ref.c checks as well. */
#include <math.h>
#include <stdlib.h>

#include "kiln/error.h"
#include "kernels/ref/ref.h"

static int is_act_dtype(kiln_dtype t) { return t == KILN_F32 || t == KILN_F16 || t == KILN_BF16; }

/* o[d] = Σ_j p_j V[j][d], p = softmax(scale · K q) over n rows of length hd.
 * err[d] = sqrt(Σ_j p_j² V[j][d]²): the size of a weighted sum whose terms carry
 * independent relative errors — it shrinks like o does when p is spread out. */
static void attend(const double *q, const double *K, const double *V, int64_t n, int64_t hd,
                   double scale, double *p, double *o, double *err)
{
    double mx = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        double s = 0;
        for (int64_t d = 0; d < hd; d++) s += q[d] * K[j * hd + d];
        p[j] = s * scale;
        if (p[j] > mx) mx = p[j];
    }
    double sum = 0;
    for (int64_t j = 0; j < n; j++) {
        p[j] = exp(p[j] - mx);
        sum += p[j];
    }
    for (int64_t j = 0; j < n; j++) p[j] /= sum;
    for (int64_t d = 0; d < hd; d++) {
        double acc = 0, acc2 = 0;
        for (int64_t j = 0; j < n; j++) {
            double t = p[j] * V[j * hd + d];
            acc += t;
            acc2 += t * t;
        }
        o[d] = acc;
        if (err) err[d] = sqrt(acc2);
    }
}

/* Scratch shared by both ops: gathered K/V of one KV head, one query, the probabilities. */
typedef struct scratch {
    double *K, *V, *q, *p;
} scratch;

static kiln_status scratch_alloc(scratch *s, int64_t n, int64_t hd)
{
    size_t rows = (size_t)(n > 0 ? n : 1);
    s->K = malloc(rows * (size_t)hd * sizeof(double));
    s->V = malloc(rows * (size_t)hd * sizeof(double));
    s->q = malloc((size_t)hd * sizeof(double));
    s->p = malloc(rows * sizeof(double));
    if (s->K && s->V && s->q && s->p) return KILN_OK;
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "ref attention: no memory for %lld rows of %lld", (long long)n, (long long)hd);
}

static void scratch_free(scratch *s)
{
    free(s->K);
    free(s->V);
    free(s->q);
    free(s->p);
}

static kiln_status check_heads(const char *op, int64_t n_head, int64_t n_kv_head, int64_t hd)
{
    if (n_head < 1 || n_kv_head < 1 || hd < 1)
        return kiln_fail(KILN_ERR_SHAPE, "ref %s: n_head=%lld n_kv_head=%lld head_dim=%lld must be >= 1", op, (long long)n_head, (long long)n_kv_head, (long long)hd);
    if (n_head % n_kv_head)
        return kiln_fail(KILN_ERR_SHAPE, "ref %s: n_head=%lld is not a multiple of n_kv_head=%lld", op, (long long)n_head, (long long)n_kv_head);
    return KILN_OK;
}

kiln_status kiln_ref_flash_attn(const kiln_ref_flash_attn_args *a, double *o, double *err_scale)
{
    if (!a || !a->q || !a->k || !a->v || !o) return kiln_fail(KILN_ERR_INVALID_ARG, "ref flash_attn: null argument");
    kiln_status st = check_heads("flash_attn", a->n_head, a->n_kv_head, a->head_dim);
    if (st != KILN_OK) return st;
    if (a->n_q < 1 || a->n_kv < 1) return kiln_fail(KILN_ERR_SHAPE, "ref flash_attn: n_q=%lld n_kv=%lld must be >= 1", (long long)a->n_q, (long long)a->n_kv);
    if (!is_act_dtype(a->q_dtype) || !is_act_dtype(a->kv_dtype)) return kiln_fail(KILN_ERR_INVALID_ARG, "ref flash_attn: q/kv dtypes must be f32/f16/bf16");
    if (a->causal && a->q_pos0 < 0) return kiln_fail(KILN_ERR_INVALID_ARG, "ref flash_attn: q_pos0=%lld is negative", (long long)a->q_pos0);

    const int64_t hd = a->head_dim, group = a->n_head / a->n_kv_head;
    const size_t qrow = kiln_row_bytes(a->q_dtype, hd), kvrow = kiln_row_bytes(a->kv_dtype, hd);
    const size_t qh = a->q_nb[1] ? a->q_nb[1] : qrow, qt = a->q_nb[0] ? a->q_nb[0] : qrow * (size_t)a->n_head;
    const size_t kh = a->k_nb[1] ? a->k_nb[1] : kvrow, kt = a->k_nb[0] ? a->k_nb[0] : kvrow * (size_t)a->n_kv_head;
    const size_t vh = a->v_nb[1] ? a->v_nb[1] : kvrow, vt = a->v_nb[0] ? a->v_nb[0] : kvrow * (size_t)a->n_kv_head;

    scratch s;
    st = scratch_alloc(&s, a->n_kv, hd);
    for (int64_t g = 0; g < a->n_kv_head && st == KILN_OK; g++) {
        for (int64_t j = 0; j < a->n_kv && st == KILN_OK; j++) {
            st = kiln_ref_load_row(a->kv_dtype, (const char *)a->k + (size_t)j * kt + (size_t)g * kh, hd, s.K + j * hd);
            if (st == KILN_OK) st = kiln_ref_load_row(a->kv_dtype, (const char *)a->v + (size_t)j * vt + (size_t)g * vh, hd, s.V + j * hd);
        }
        for (int64_t h = g * group; h < (g + 1) * group && st == KILN_OK; h++) {
            for (int64_t i = 0; i < a->n_q && st == KILN_OK; i++) {
                st = kiln_ref_load_row(a->q_dtype, (const char *)a->q + (size_t)i * qt + (size_t)h * qh, hd, s.q);
                int64_t visible = a->n_kv;
                if (a->causal && a->q_pos0 + i + 1 < visible) visible = a->q_pos0 + i + 1;
                const int64_t out = (i * a->n_head + h) * hd;
                if (st == KILN_OK) attend(s.q, s.K, s.V, visible, hd, a->scale, s.p, o + out, err_scale ? err_scale + out : NULL);
            }
        }
    }
    scratch_free(&s);
    return st;
}

kiln_status kiln_ref_paged_attn(const kiln_ref_paged_attn_args *a, double *o, double *err_scale)
{
    if (!a || !a->q || !a->k_cache || !a->v_cache || !a->block_table || !a->seq_lens || !o)
        return kiln_fail(KILN_ERR_INVALID_ARG, "ref paged_attn: null argument");
    kiln_status st = check_heads("paged_attn", a->n_head, a->n_kv_head, a->head_dim);
    if (st != KILN_OK) return st;
    if (a->n_seq < 1 || a->n_blocks < 1 || a->block_size < 1 || a->max_blocks_per_seq < 1)
        return kiln_fail(KILN_ERR_SHAPE, "ref paged_attn: n_seq=%lld n_blocks=%lld block_size=%lld max_blocks_per_seq=%lld must be >= 1",
                         (long long)a->n_seq, (long long)a->n_blocks, (long long)a->block_size, (long long)a->max_blocks_per_seq);
    if (!is_act_dtype(a->q_dtype)) return kiln_fail(KILN_ERR_INVALID_ARG, "ref paged_attn: q dtype must be f32/f16/bf16");
    const int64_t hd = a->head_dim, group = a->n_head / a->n_kv_head, bs = a->block_size;
    const size_t qrow = kiln_row_bytes(a->q_dtype, hd), kvrow = kiln_row_bytes(a->kv_dtype, hd);
    if (!qrow || !kvrow) return kiln_fail(KILN_ERR_SHAPE, "ref paged_attn: head_dim=%lld is not a whole number of blocks of the KV dtype", (long long)hd);

    const int64_t max_len = a->max_blocks_per_seq * bs;
    scratch s;
    st = scratch_alloc(&s, max_len, hd);
    for (int64_t q = 0; q < a->n_seq && st == KILN_OK; q++) {
        const int64_t len = a->seq_lens[q];
        if (len < 1 || len > max_len) {
            st = kiln_fail(KILN_ERR_SHAPE, "ref paged_attn: seq_lens[%lld]=%lld outside 1..%lld", (long long)q, (long long)len, (long long)max_len);
            break;
        }
        for (int64_t g = 0; g < a->n_kv_head && st == KILN_OK; g++) {
            for (int64_t t = 0; t < len && st == KILN_OK; t++) {
                const int32_t phys = a->block_table[q * a->max_blocks_per_seq + t / bs];
                if (phys < 0 || phys >= a->n_blocks) {
                    st = kiln_fail(KILN_ERR_SHAPE, "ref paged_attn: block_table[%lld][%lld]=%d outside 0..%lld", (long long)q, (long long)(t / bs), phys, (long long)a->n_blocks - 1);
                    break;
                }
                const size_t off = ((size_t)(phys * bs + t % bs) * (size_t)a->n_kv_head + (size_t)g) * kvrow;
                st = kiln_ref_load_row(a->kv_dtype, (const char *)a->k_cache + off, hd, s.K + t * hd);
                if (st == KILN_OK) st = kiln_ref_load_row(a->kv_dtype, (const char *)a->v_cache + off, hd, s.V + t * hd);
            }
            for (int64_t h = g * group; h < (g + 1) * group && st == KILN_OK; h++) {
                st = kiln_ref_load_row(a->q_dtype, (const char *)a->q + (size_t)(q * a->n_head + h) * qrow, hd, s.q);
                const int64_t out = (q * a->n_head + h) * hd;
                if (st == KILN_OK) attend(s.q, s.K, s.V, len, hd, a->scale, s.p, o + out, err_scale ? err_scale + out : NULL);
            }
        }
    }
    scratch_free(&s);
    return st;
}
