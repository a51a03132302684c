/* kernels/cuda/templates/norm.cu — fused residual add + RMSNorm / LayerNorm over rows.
 *
 *   s = x + residual (KILN_NORM_RESIDUAL), else x;  sum_out <- s (when given)
 *   RMS:   y = s / sqrt(mean(s^2) + eps) * weight
 *   LAYER: y = (s - mean(s)) / sqrt(var(s) + eps) * weight + bias
 *
 * Grid (rows); block KILN_THREADS. Each thread keeps up to NORM_REG elements of
 * s in registers (vectorized 16-byte loads when the row allows), so a row of up
 * to KILN_THREADS * NORM_REG elements is read from memory once and written once;
 * longer rows loop and re-read s (from sum_out when given, which also makes
 * sum_out aliasing x or the residual safe). LayerNorm's variance is the mean of
 * squared deviations, computed from the registers (or a second pass), not
 * E[s^2] - mean^2, which cancels badly. */
#pragma kiln include "kernels/cuda/templates/cuda_common.cuh"

#define NORM_WARPS (KILN_THREADS / 32)
#define NORM_VEC (16 / kiln_cu_size<KILN_ACT_T>::bytes) /* elements per 16-byte load */
#define NORM_REG (2 * NORM_VEC)                          /* elements held per thread */

/* Sum over the block; every thread gets the result. red has NORM_WARPS floats. */
KILN_FN float kiln_norm_block_sum(float v, float *red)
{
    v = kiln_cu_warp_sum(v);
    __syncthreads(); /* red may still be read from the previous reduction */
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = 0.0f;
#pragma unroll
    for (int w = 0; w < NORM_WARPS; w++) t += red[w];
    return t;
}

/* s[i] of this row, recomputed from the inputs (first pass) or re-read from sum_out. */
KILN_FN float kiln_norm_s(const kiln_cu_norm_args &a, const kiln_u8 *x, const kiln_u8 *r, const kiln_u8 *so, int i,
                          int from_sum)
{
    if (from_sum) return kiln_cu_load<KILN_ACT_T>(so, i);
    float v = kiln_cu_load<KILN_ACT_T>(x, i);
#if KILN_NORM_RESIDUAL
    v += kiln_cu_load<KILN_ACT_T>(r, i);
#else
    (void)r;
#endif
    (void)a;
    return v;
}

KILN_KERNEL __launch_bounds__(KILN_THREADS) void KILN_ENTRY(const kiln_cu_norm_args a)
{
    __shared__ float red[NORM_WARPS];
    const kiln_i64 row = blockIdx.x;
    const kiln_u8 *x = kiln_cu_ptr(a.x, row * a.x_s);
    const kiln_u8 *r = a.res ? kiln_cu_ptr(a.res, row * a.res_s) : (const kiln_u8 *)0;
    kiln_u8 *so = a.sum ? kiln_cu_wptr(a.sum, row * a.sum_s) : (kiln_u8 *)0;
    kiln_u8 *y = kiln_cu_wptr(a.y, row * a.y_s);
    const float *w = (const float *)a.w, *b = (const float *)a.b;
    const int dim = a.dim, tid = threadIdx.x;
    const int in_regs = dim <= KILN_THREADS * NORM_REG;

    /* Pass 1: s (kept in registers when the row fits), sum_out, and the sum. */
    float sv[NORM_REG];
    float sum = 0.0f;
    if (in_regs) {
#pragma unroll
        for (int j = 0; j < NORM_REG; j++) {
            const int i = tid * NORM_REG + j; /* a thread's elements are adjacent: one 16-byte chunk per NORM_VEC */
            sv[j] = i < dim ? kiln_norm_s(a, x, r, so, i, 0) : 0.0f;
            if (i < dim && so) kiln_cu_store<KILN_ACT_T>(so, i, sv[j]);
            sum += sv[j];
        }
    } else {
        for (int i = tid; i < dim; i += KILN_THREADS) {
            const float v = kiln_norm_s(a, x, r, so, i, 0);
            if (so) kiln_cu_store<KILN_ACT_T>(so, i, v);
            sum += v;
        }
    }
    __syncthreads(); /* sum_out written before anyone re-reads it */
    const int again = so != 0; /* later passes read s back from sum_out */

#if KILN_NORM_LAYER
    const float mean = kiln_norm_block_sum(sum, red) / (float)dim;
    float dev = 0.0f;
    if (in_regs) {
#pragma unroll
        for (int j = 0; j < NORM_REG; j++)
            if (tid * NORM_REG + j < dim) dev += (sv[j] - mean) * (sv[j] - mean);
    } else {
        for (int i = tid; i < dim; i += KILN_THREADS) {
            const float v = kiln_norm_s(a, x, r, so, i, again) - mean;
            dev += v * v;
        }
    }
    const float inv = rsqrtf(kiln_norm_block_sum(dev, red) / (float)dim + a.eps);
#else
    float sq = 0.0f;
    if (in_regs) {
#pragma unroll
        for (int j = 0; j < NORM_REG; j++) sq += sv[j] * sv[j];
    } else {
        for (int i = tid; i < dim; i += KILN_THREADS) {
            const float v = kiln_norm_s(a, x, r, so, i, again);
            sq += v * v;
        }
    }
    (void)sum;
    const float mean = 0.0f;
    const float inv = rsqrtf(kiln_norm_block_sum(sq, red) / (float)dim + a.eps);
#endif

    /* Last pass: y (may alias x: each element is read before this thread writes it). */
    if (in_regs) {
#pragma unroll
        for (int j = 0; j < NORM_REG; j++) {
            const int i = tid * NORM_REG + j;
            if (i < dim) {
                float v = (sv[j] - mean) * inv;
                if (w) v *= w[i];
#if KILN_NORM_LAYER
                if (b) v += b[i];
#endif
                kiln_cu_store<KILN_OUT_T>(y, i, v);
            }
        }
    } else {
        for (int i = tid; i < dim; i += KILN_THREADS) {
            float v = (kiln_norm_s(a, x, r, so, i, again) - mean) * inv;
            if (w) v *= w[i];
#if KILN_NORM_LAYER
            if (b) v += b[i];
#endif
            kiln_cu_store<KILN_OUT_T>(y, i, v);
        }
    }
}
