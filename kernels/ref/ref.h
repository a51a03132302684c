/* kernels/ref/ref.h — reference kernels: plain C, double accumulation, host memory.
 *
 * These are the definitions every backend is tested against, written to be
 * obviously correct rather than fast: each output is computed on its own, in
 * double, straight from the formulas in include/kiln/kiln.h. They read the same
 * bytes a backend reads (quantized weights, f16/bf16 activations, q8_0 KV), so
 * the only differences a test sees are the backend's rounding and, for
 * quantized weight formats, its quantization of the activations (which the
 * reference never does).
 *
 * Layout conventions (all on raw host pointers, shapes explicit):
 * - A "row" of a tensor is its innermost dimension; rows of block formats are
 *   whole blocks (kiln_row_bytes(dtype, len) bytes).
 * - Strides are in bytes; 0 means "contiguous" (the packed stride).
 * - Outputs are double, packed, in the same index order as the op's output.
 * - The optional err_scale outputs (may be NULL) give, per output element, the
 *   magnitude against which rounding errors of that element are to be judged:
 *   it does not cancel the way the result itself can (a dot product of random
 *   data can be near zero; its rounding error is not). Tests divide by
 *   max(‖ref‖, ‖err_scale‖).
 * All functions return KILN_OK, or KILN_ERR_INVALID_ARG / KILN_ERR_SHAPE via
 * kiln_fail with a message when the arguments are unusable. */
#ifndef KILN_REF_H
#define KILN_REF_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln.h"

#ifdef __cplusplus
extern "C" {
#endif

/* n elements of type t at src, widened to double. Plain types convert exactly;
 * block formats go through kiln_dequantize_row (n a multiple of the block). */
kiln_status kiln_ref_load_row(kiln_dtype t, const void *src, int64_t n, double *dst);

/* ------------------------------------------------------------ matmul
 * y[n][m] = x[n][k] · W[m][k]ᵀ with epilogues as in kiln_matmul (the stages
 * of gen/epilogues.def, each computed here in double from its definition):
 *   SWIGLU: y = silu(g) * u, g = x·Wᵀ (+ bias), u = x·W_upᵀ (+ bias)
 *   GELU:   y = 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)))
 *   else:   y = g
 *   SCALE:  y *= scale
 *   RESIDUAL: y += residual[n][m] */
typedef struct kiln_ref_matmul_args {
    int64_t n, m, k;
    kiln_dtype x_dtype;     /* f32, f16, bf16 */
    const void *x;          /* [n][k] */
    size_t x_stride;        /* bytes between rows of x; 0 = packed */
    kiln_dtype w_dtype;     /* any weight format, or f32/f16/bf16 */
    const void *w;          /* [m][k] */
    const void *w_up;       /* [m][k], SWIGLU only */
    size_t w_stride;        /* bytes between rows of w and w_up; 0 = packed */
    const float *bias;      /* [m], BIAS only */
    kiln_dtype residual_dtype; /* the output's dtype: f32, f16, bf16 */
    const void *residual;   /* [n][m], RESIDUAL only */
    size_t residual_stride; /* bytes between rows; 0 = packed */
    unsigned epilogue;      /* KILN_EPI_* */
    float scale;            /* SCALE only */
} kiln_ref_matmul_args;

/* y [n][m]; err_scale [n][m] or NULL. */
kiln_status kiln_ref_matmul(const kiln_ref_matmul_args *a, double *y, double *err_scale);

/* ------------------------------------------------------------ flash attention
 * o[i][h][:] = Σ_j softmax_j(scale · q[i][h]·k[j][g]) v[j][g],
 * g = h / (n_head / n_kv_head), j over all KV, or j <= q_pos0 + i when causal. */
typedef struct kiln_ref_flash_attn_args {
    int64_t n_q, n_kv, n_head, n_kv_head, head_dim;
    kiln_dtype q_dtype;     /* f32, f16, bf16 */
    const void *q;          /* [n_q][n_head][head_dim] */
    size_t q_nb[2];         /* bytes per token, per head; 0 = packed */
    kiln_dtype kv_dtype;    /* f32, f16, bf16 */
    const void *k, *v;      /* [n_kv][n_kv_head][head_dim] */
    size_t k_nb[2], v_nb[2];/* bytes per token, per head; 0 = packed */
    double scale;
    int causal;
    int64_t q_pos0;
} kiln_ref_flash_attn_args;

/* o [n_q][n_head][head_dim]; err_scale like o, or NULL. */
kiln_status kiln_ref_flash_attn(const kiln_ref_flash_attn_args *a, double *o, double *err_scale);

/* ------------------------------------------------------------ paged attention
 * One query per sequence s over tokens t = 0 .. seq_lens[s]-1 of its cache:
 * token t lives in physical block block_table[s][t / block_size], slot
 * t % block_size, of k_cache/v_cache [n_blocks][block_size][n_kv_head][head_dim]
 * (packed; q8_0 rows run along head_dim). Softmax and GQA as in flash attention. */
typedef struct kiln_ref_paged_attn_args {
    int64_t n_seq, n_head, n_kv_head, head_dim;
    int64_t n_blocks, block_size, max_blocks_per_seq;
    kiln_dtype q_dtype;         /* f32, f16, bf16 */
    const void *q;              /* [n_seq][n_head][head_dim], packed */
    kiln_dtype kv_dtype;        /* f32, f16, q8_0 */
    const void *k_cache, *v_cache;
    const int32_t *block_table; /* [n_seq][max_blocks_per_seq] */
    const int32_t *seq_lens;    /* [n_seq], each 1 .. max_blocks_per_seq*block_size */
    double scale;
} kiln_ref_paged_attn_args;

/* o [n_seq][n_head][head_dim]; err_scale like o, or NULL. */
kiln_status kiln_ref_paged_attn(const kiln_ref_paged_attn_args *a, double *o, double *err_scale);

/* ------------------------------------------------------------ norm
 * s = x (+ residual); RMS: y = s / sqrt(mean(s²) + eps) · weight
 * LAYER: y = (s − mean(s)) / sqrt(var(s) + eps) · weight + bias (population variance). */
typedef struct kiln_ref_norm_args {
    kiln_norm_kind kind;
    int64_t rows, dim;
    kiln_dtype dtype;       /* f32, f16, bf16: x and residual */
    const void *x;          /* [rows][dim], packed */
    const void *residual;   /* [rows][dim] or NULL */
    const float *weight;    /* [dim] or NULL (= 1) */
    const float *bias;      /* [dim] or NULL (= 0), LAYER only */
    double eps;
} kiln_ref_norm_args;

/* y [rows][dim]; sum [rows][dim] (s) or NULL. */
kiln_status kiln_ref_norm(const kiln_ref_norm_args *a, double *y, double *sum);

/* ------------------------------------------------------------ rope
 * Rotary position embedding of x [n][n_heads][head_dim] (f32, packed): for
 * pair i < rope_dim/2 of each head, angle = pos[t] · freq_scale · theta^(−2i/rope_dim)
 * in double, pairs (2i, 2i+1) or, with neox, (i, i + rope_dim/2); values past
 * rope_dim are copied. The KV append of kiln_rope is a dtype conversion of
 * this result, which tests check against kiln_quantize_row. */
typedef struct kiln_ref_rope_args {
    int64_t n, n_heads, head_dim;
    const float *x;             /* [n][n_heads][head_dim], packed */
    const int32_t *positions;   /* [n] */
    int rope_dim, neox;
    double theta, freq_scale;
} kiln_ref_rope_args;
/* y [n][n_heads][head_dim]; angle (or NULL) receives each element's rotation
 * angle (0 past rope_dim), the size its rounding error scales with. */
kiln_status kiln_ref_rope(const kiln_ref_rope_args *a, double *y, double *angle);

#ifdef __cplusplus
}
#endif
#endif
