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

/* NORM_VEC elements [i, i+NORM_VEC) of a row: one 16-byte access when vec,
 * else element by element (zeros / nothing past dim). */
KILN_FN void kiln_norm_ld(const kiln_u8 *row, int i, int dim, int vec, float (&v)[NORM_VEC])
{
    if (vec && i + NORM_VEC <= dim) {
        const uint4 q = kiln_arch_ld16(row + (kiln_i64)i * kiln_cu_size<KILN_ACT_T>::bytes);
        const unsigned int u[4] = {q.x, q.y, q.z, q.w};
        if constexpr (KILN_ACT_T == KILN_T_F32) {
#pragma unroll
            for (int j = 0; j < 4; j++) v[j] = __uint_as_float(u[j]);
        } else {
#pragma unroll
            for (int j = 0; j < 4; j++) {
                v[2 * j] = KILN_ACT_T == KILN_T_F16 ? kiln_cu_h2f((kiln_u16)(u[j] & 0xffffu)) : kiln_cu_bf2f((kiln_u16)(u[j] & 0xffffu));
                v[2 * j + 1] = KILN_ACT_T == KILN_T_F16 ? kiln_cu_h2f((kiln_u16)(u[j] >> 16)) : kiln_cu_bf2f((kiln_u16)(u[j] >> 16));
            }
        }
    } else {
#pragma unroll
        for (int j = 0; j < NORM_VEC; j++) v[j] = i + j < dim ? kiln_cu_load<KILN_ACT_T>(row, i + j) : 0.0f;
    }
}
template <int T>
KILN_FN void kiln_norm_st(kiln_u8 *row, int i, int dim, int vec, const float (&v)[NORM_VEC])
{
    if (vec && i + NORM_VEC <= dim) {
        unsigned int u[4];
        if constexpr (T == KILN_T_F32) {
#pragma unroll
            for (int j = 0; j < 4; j++) u[j] = __float_as_uint(v[j]);
        } else {
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const kiln_u16 lo = T == KILN_T_F16 ? kiln_cu_f2h(v[2 * j]) : kiln_cu_f2bf(v[2 * j]);
                const kiln_u16 hi = T == KILN_T_F16 ? kiln_cu_f2h(v[2 * j + 1]) : kiln_cu_f2bf(v[2 * j + 1]);
                u[j] = (unsigned int)lo | ((unsigned int)hi << 16);
            }
        }
        kiln_arch_st16(row + (kiln_i64)i * kiln_cu_size<T>::bytes, make_uint4(u[0], u[1], u[2], u[3]));
    } else {
#pragma unroll
        for (int j = 0; j < NORM_VEC; j++)
            if (i + j < dim) kiln_cu_store<T>(row, i + j, v[j]);
    }
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

KILN_KERNEL(KILN_THREADS, KILN_ENTRY, kiln_cu_norm_args, a)
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
    /* 16-byte accesses when every row pointer allows them */
    const unsigned long long al = a.x | a.y | (unsigned long long)a.x_s | (unsigned long long)a.y_s |
                                  (a.res ? a.res | (unsigned long long)a.res_s : 0ull) |
                                  (a.sum ? a.sum | (unsigned long long)a.sum_s : 0ull);
    const int vec = (al & 15ull) == 0;

    /* Pass 1: s (kept in registers when the row fits), sum_out, and the sum. */
    float sv[NORM_REG];
    float sum = 0.0f;
    if (in_regs) {
        /* Chunk h of this thread: elements [(h * threads + tid) * NORM_VEC, + NORM_VEC),
         * so a warp's 16-byte accesses are adjacent. */
#pragma unroll
        for (int h = 0; h < NORM_REG / NORM_VEC; h++) {
            const int i = (h * KILN_THREADS + tid) * NORM_VEC;
            float v[NORM_VEC], rv[NORM_VEC];
            kiln_norm_ld(x, i, dim, vec, v);
#if KILN_NORM_RESIDUAL
            if (r) {
                kiln_norm_ld(r, i, dim, vec, rv);
#pragma unroll
                for (int j = 0; j < NORM_VEC; j++) v[j] += rv[j];
            }
#endif
            (void)rv;
            if (so) kiln_norm_st<KILN_ACT_T>(so, i, dim, vec, v);
#pragma unroll
            for (int j = 0; j < NORM_VEC; j++) {
                sv[h * NORM_VEC + j] = v[j];
                sum += v[j];
            }
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
            if ((j / NORM_VEC * KILN_THREADS + tid) * NORM_VEC + j % NORM_VEC < dim)
                dev += (sv[j] - mean) * (sv[j] - mean);
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
        for (int h = 0; h < NORM_REG / NORM_VEC; h++) {
            const int i = (h * KILN_THREADS + tid) * NORM_VEC;
            float v[NORM_VEC];
#pragma unroll
            for (int j = 0; j < NORM_VEC; j++) {
                const int e = i + j < dim ? i + j : 0;
                v[j] = (sv[h * NORM_VEC + j] - mean) * inv;
                if (w) v[j] *= w[e];
#if KILN_NORM_LAYER
                if (b) v[j] += b[e];
#endif
            }
            kiln_norm_st<KILN_OUT_T>(y, i, dim, vec, v);
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
