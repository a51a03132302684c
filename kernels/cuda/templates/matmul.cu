/* kernels/cuda/templates/matmul.cu — dequant-matmul y[n][m] = x[n][k] · W[m][k]ᵀ (+ epilogue).
 *
 * Two kernels, chosen by the spec's tn:
 *   tn <= 8  mat-vec: a block owns tm rows of W and tn columns of x.
 *            Formats with integer codes (kiln_cuda_mv_int8): the activations
 *            are quantized once per call to int8 blocks of 32 (<entry>_quantize_x),
 *            threads take weight blocks (a sixteenth of a K-quant super-block)
 *            round-robin, read them straight from global memory (LDG) and
 *            multiply by dp4a. Other formats: the warps split k into chunks
 *            streamed through shared-memory windows and decoded to floats.
 *            Partial sums meet in shared memory at the end.
 *            Grid: (ceil(m / tm), ceil(n / tn)).
 *   tn > 8   mat-mat: a tm x tn output tile per block over k-steps of tk. The W
 *            tile is dequantized into shared memory (f16, or bf16 with bf16
 *            activations) and multiplied on the tensor cores with mma.sync
 *            m16n8k16; plain f32/f16/bf16 weights take an f32 FMA path instead,
 *            which keeps their full precision. Grid: (ceil(m / tm), ceil(n / tn)).
 * Decoding to floats goes through gen/math/dequant.h (kiln_dequant) for every
 * format, with register fast paths for q4_0, q8_0 and q4_K. */
#pragma kiln include "kernels/cuda/templates/cuda_common.cuh"

#define MM_WARPS (KILN_THREADS / 32)

/* ------------------------------------------------------------------ epilogue */

/* g = x·Wᵀ, u = x·W_upᵀ (SWIGLU), for output element y[col][row], through
 * the shared epilogue (gen/math/common.h; the spec's flags are constants). */
KILN_FN void kiln_mm_store(const kiln_cu_matmul_args &a, int row, int col, float g, float u)
{
    float b = 0.0f, r = 0.0f;
#if KILN_EPI_BIAS
    b = kiln_cu_ldg<KILN_T_F32>(kiln_cu_ptr(a.bias, 0), row);
#endif
#if KILN_EPI_RESIDUAL
    r = kiln_cu_ldg<KILN_OUT_T>(kiln_cu_ptr(a.res, (kiln_i64)col * a.res_stride), row);
#endif
    const float v = kiln_epilogue(g, u, b, a.scale, r);
    kiln_cu_store<KILN_OUT_T>(kiln_cu_wptr(a.y, (kiln_i64)col * a.y_stride), row, v);
}

/* G activations x[e .. e+G) of one row as floats; zeros past k. */
template <int G>
KILN_FN void kiln_mm_load_x(const kiln_u8 *xrow, kiln_i64 e, int k, int vec_ok, float (&out)[G])
{
    if (KILN_ACT_T == KILN_T_F32 && G % 4 == 0 && vec_ok && e + G <= k) {
#pragma unroll
        for (int j = 0; j < G; j += 4) {
            const uint4 v = kiln_arch_ldg_u128(xrow + (e + j) * 4, 0);
            out[j] = __uint_as_float(v.x), out[j + 1] = __uint_as_float(v.y);
            out[j + 2] = __uint_as_float(v.z), out[j + 3] = __uint_as_float(v.w);
        }
    } else if (KILN_ACT_T != KILN_T_F32 && G % 8 == 0 && vec_ok && e + G <= k) {
#pragma unroll
        for (int j = 0; j < G; j += 8) {
            const uint4 v = kiln_arch_ldg_u128(xrow + (e + j) * 2, 0);
            const unsigned int wv[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
            for (int h = 0; h < 4; h++) {
                const kiln_u16 lo = (kiln_u16)(wv[h] & 0xffffu), hi = (kiln_u16)(wv[h] >> 16);
                out[j + 2 * h] = KILN_ACT_T == KILN_T_F16 ? kiln_cu_h2f(lo) : kiln_cu_bf2f(lo);
                out[j + 2 * h + 1] = KILN_ACT_T == KILN_T_F16 ? kiln_cu_h2f(hi) : kiln_cu_bf2f(hi);
            }
        }
    } else {
#pragma unroll
        for (int j = 0; j < G; j++) {
            /* unpredicated loads (element 0 stands in past k): the predicated
             * form made ptxas spill the f32 mat-vec on sm_80 */
            const float v = kiln_cu_ldg<KILN_ACT_T>(xrow, e + j < k ? e + j : 0);
            out[j] = e + j < k ? v : 0.0f;
        }
    }
}

/* ---- decoding units of W (both kernels) */

#if KILN_FMT_BLOCK > 1
#define MV_UNIT_ELEMS KILN_FMT_BLOCK
#define MV_UNIT_BYTES KILN_FMT_BYTES
#define MV_G 8 /* elements decoded per step (every block size is a multiple of 32) */
#else
#define MV_UNIT_ELEMS (16 / KILN_FMT_BYTES)
#define MV_UNIT_BYTES 16
#define MV_G MV_UNIT_ELEMS
#endif
/* Elements [i, i+MV_G) of the unit (format block) at byte offset off of buffer
 * win; zeros past k (only plain types have partial units). Used by the mat-vec
 * on its shared-memory window and by the mat-mat tile loader on global memory. */
KILN_FN void kiln_mv_decode(const kiln_u8 *win, int off, int i, kiln_i64 e0, int k, float (&w)[MV_G])
{
#if defined(KILN_FMT_Q4_0) || defined(KILN_FMT_IQ4_NL)
    /* d (f16), then 16 bytes: element j is the low nibble of byte j, j+16 the
     * high one; two codes per 16-bit load. q4_0's value is code - 8, iq4_nl's
     * ggml's non-linear table (through kiln_dequant element by element, ptxas
     * spilled). */
#if defined(KILN_FMT_Q4_0)
#define MV_NIBBLE_VALUE(c) ((int)(c) - 8)
#else
#define MV_NIBBLE_VALUE(c) kiln_iq4nl_value(c)
#endif
    const float d = KILN_LD_F16(win, off);
    const int byte0 = off + 2 + (i & 15);
    const int shift = i >= 16 ? 4 : 0;
#pragma unroll
    for (int j = 0; j < MV_G; j += 2) {
        const kiln_u32 two = KILN_LD_U16(win, byte0 + j);
        w[j] = d * (float)MV_NIBBLE_VALUE((two >> shift) & 15u);
        w[j + 1] = d * (float)MV_NIBBLE_VALUE((two >> (8 + shift)) & 15u);
    }
#undef MV_NIBBLE_VALUE
    (void)e0, (void)k;
#elif defined(KILN_FMT_Q8_0)
    const float d = KILN_LD_F16(win, off);
#pragma unroll
    for (int j = 0; j < MV_G; j += 2) {
        const kiln_u32 two = KILN_LD_U16(win, off + 2 + i + j);
        w[j] = d * (float)(signed char)(two & 0xffu);
        w[j + 1] = d * (float)(signed char)(two >> 8);
    }
    (void)e0, (void)k;
#elif defined(KILN_FMT_Q4_K)
    /* As kiln_dequant_q4_k, with the sub-block's scale and min decoded once
     * for the 8 elements (they share one: 8 divides 32). */
    const kiln_u32 c = (kiln_u32)i >> 6u, h = ((kiln_u32)i >> 5u) & 1u, sb = 2u * c + h;
    const float dl = KILN_LD_F16(win, off) * (float)kiln_kquant_scale(win, (kiln_u32)off + 4u, sb);
    const float ml = KILN_LD_F16(win, off + 2) * (float)kiln_kquant_min(win, (kiln_u32)off + 4u, sb);
    const int byte0 = off + 16 + 32 * (int)c + (i & 31);
#pragma unroll
    for (int j = 0; j < MV_G; j += 2) {
        const kiln_u32 two = KILN_LD_U16(win, byte0 + j);
        w[j] = dl * (float)((two >> (4u * h)) & 15u) - ml;
        w[j + 1] = dl * (float)((two >> (8u + 4u * h)) & 15u) - ml;
    }
    (void)e0, (void)k;
#elif KILN_FMT_BLOCK > 1
#pragma unroll
    for (int j = 0; j < MV_G; j++) w[j] = kiln_dequant(win, (kiln_u32)off, i + j);
    (void)e0, (void)k;
#else
#pragma unroll
    for (int j = 0; j < MV_G; j++)
        w[j] = e0 + i + j < k ? kiln_dequant(win, (kiln_u32)(off + (i + j) * KILN_FMT_BYTES), 0) : 0.0f;
#endif
}

#if KILN_TN <= 8
/* ================================================================== mat-vec */

#define MV_RPW KILN_TM /* rows per block; every thread works on all of them */

/* Sum acc over the block's warps into red[r][c] (all threads see it after the barrier). */
KILN_FN void kiln_mv_block_sum(float (&acc)[MV_RPW][KILN_TN], float *red)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int r = 0; r < MV_RPW; r++)
#pragma unroll
        for (int c = 0; c < KILN_TN; c++) {
            const float v = kiln_cu_warp_sum(acc[r][c]);
            if (lane == 0) red[(warp * MV_RPW + r) * KILN_TN + c] = v;
        }
    __syncthreads();
}

#if defined(KILN_FMT_Q4_0) || defined(KILN_FMT_Q4_1) || defined(KILN_FMT_Q5_0) || defined(KILN_FMT_Q5_1) || \
    defined(KILN_FMT_Q8_0) || defined(KILN_FMT_Q4_K) || defined(KILN_FMT_Q5_K) || defined(KILN_FMT_Q6_K)
/* ---- int8 path (every format with integer codes; kiln_cuda_mv_int8 on the
 * host). The activations are quantized once per call to int8 blocks of 32
 * (q8_1-like: a scale and the sum of the block), then each thread takes whole
 * weight blocks (32-element formats) or a sixteenth of a super-block
 * (K-quants), reads its bytes straight from global memory with ld.global.nc
 * (LDG) at the widest width their alignment allows, and multiplies them with
 * the activation bytes by dp4a, for every row and column of the block: one
 * load of an activation serves MV_RPW rows, one load of a weight serves
 * KILN_TN columns. As llama.cpp's mmvq (learnt from, not copied). */
#define MV_DP4A 1

KILN_FN int kiln_dp4a(int a, int b, int c) { return kiln_arch_dp4a(a, b, c); }
KILN_FN unsigned kiln_mv_ldw32(const kiln_u8 *p) { return kiln_arch_ldg_u32(p, 1); }
KILN_FN unsigned kiln_mv_ldw16(const kiln_u8 *p) { return kiln_arch_ldg_u16(p, 1); }
/* 4 bytes at a 2-aligned address as two 16-bit loads (q6_K's 210-byte blocks). */
KILN_FN int kiln_mv_ldw32_a2(const kiln_u8 *p) { return (int)(kiln_mv_ldw16(p) | (kiln_mv_ldw16(p + 2) << 16)); }
KILN_FN float kiln_mv_h2f(unsigned h) { return kiln_cu_h2f((kiln_u16)(h & 0xffffu)); }

/* One warp per 32-block of one column: xq = round(x / d), d = max|x| / 127;
 * the block's (d, d * sum of xq) after the k codes of the column. */
KILN_KERNEL(KILN_THREADS, KILN_CAT(KILN_ENTRY, _quantize_x), kiln_cu_matmul_args, a)
{
    const int lane = threadIdx.x & 31;
    const kiln_i64 blocks = a.k / 32;
    const kiln_i64 g = (kiln_i64)blockIdx.x * (KILN_THREADS / 32) + (threadIdx.x >> 5);
    if (g >= blocks * a.n) return;
    const kiln_i64 col = g / blocks, b = g % blocks;
    const float v = kiln_cu_ldg<KILN_ACT_T>(kiln_cu_ptr(a.x, col * a.x_stride), b * 32 + lane);
    const float amax = kiln_cu_warp_max(fabsf(v));
    const float d = amax / 127.0f;
    const int q = d > 0.0f ? __float2int_rn(v / d) : 0;
    /* the sum of the rounded values d * q, not of x: a weight offset (q4_0's
     * -8, q4_1's m) then meets the same activations as the codes, and the
     * dot product errs by sum(w * (xq - x)) only, centred like w */
    const float sum = d * kiln_cu_warp_sum((float)q);
    kiln_u8 *base = kiln_cu_wptr(a.xq, col * a.xq_stride);
    ((signed char *)base)[b * 32 + lane] = (signed char)q;
    if (lane == 0) ((float2 *)(base + a.k))[b] = make_float2(d, sum);
}

/* The f16 at a 2-aligned block start and the NQ 32-bit words after it, with
 * NQ 32-bit loads and one 16-bit load whatever the block's alignment (q4_0,
 * q5_0, q8_0: 18, 22, 34 bytes). A block that starts 4-aligned has the f16 in
 * its first word and its last two bytes alone; one that starts 2 mod 4 has
 * the f16 alone and its words aligned. No lane branches on it. */
template <int NQ> KILN_FN float kiln_mv_ld_a2(const kiln_u8 *blk, int (&q)[NQ])
{
    const int odd = (int)((unsigned long long)blk & 2ull);
    unsigned w[NQ + 1];
#pragma unroll
    for (int i = 0; i < NQ; i++) w[i] = kiln_mv_ldw32(blk + odd + 4 * i);
    w[NQ] = kiln_mv_ldw16(blk + (odd ? 0 : 4 * NQ));
    const int sh = odd ? 0 : 16;
#pragma unroll
    for (int i = 0; i < NQ; i++) q[i] = (int)(unsigned)((((unsigned long long)w[i + 1] << 32) | w[i]) >> sh);
    return kiln_mv_h2f(odd ? w[NQ] : w[0]);
}

#if KILN_FMT_BLOCK == 32
/* ---- 32-element formats: a thread per block; its 32 activations as 8 ints. */
#define MV_TPB 1
typedef struct kiln_mv_x {
    int u[8];
    float d, s; /* scale, d * sum of the codes */
} kiln_mv_x;
KILN_FN void kiln_mv_load_x(const kiln_u8 *xc, int k, kiln_i64 b, int part, kiln_mv_x &x)
{
    (void)part;
    const uint4 q0 = kiln_arch_ldg_u128(xc + b * 32, 0), q1 = kiln_arch_ldg_u128(xc + b * 32 + 16, 0);
    const uint2 ds = kiln_arch_ldg_u64(xc + k + 8 * b, 0);
    x.u[0] = (int)q0.x, x.u[1] = (int)q0.y, x.u[2] = (int)q0.z, x.u[3] = (int)q0.w;
    x.u[4] = (int)q1.x, x.u[5] = (int)q1.y, x.u[6] = (int)q1.z, x.u[7] = (int)q1.w;
    x.d = __uint_as_float(ds.x), x.s = __uint_as_float(ds.y);
}
/* 5-bit codes: bit j of qh is bit 4 of element j; the four elements of byte
 * lanes of v (low nibbles, positions 4i..4i+3 of qh >> sh) get it in bit 4. */
KILN_FN int kiln_mv_q5_bits(unsigned qh, int sh)
{
    const unsigned h = qh >> sh;
    return (int)(((h << 4) & 0x10u) | ((h << 11) & 0x1000u) | ((h << 18) & 0x100000u) | ((h << 25) & 0x10000000u));
}

#if defined(KILN_FMT_Q4_0) || defined(KILN_FMT_Q5_0)
/* d * (q - 8) (q4_0), d * (q - 16) (q5_0): the weights' d and codes. */
#if defined(KILN_FMT_Q4_0)
#define MV_NQ 4
#else
#define MV_NQ 5 /* qh, then the nibbles */
#endif
typedef struct kiln_mv_w {
    int q[MV_NQ];
    float d;
} kiln_mv_w;
KILN_FN void kiln_mv_load_w(const kiln_u8 *blk, int part, kiln_mv_w &w)
{
    (void)part;
    w.d = kiln_mv_ld_a2<MV_NQ>(blk, w.q);
}
KILN_FN float kiln_mv_dot(const kiln_mv_w &w, const kiln_mv_x &x)
{
    int sumi = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int lo = w.q[MV_NQ - 4 + i] & 0x0f0f0f0f, hi = (w.q[MV_NQ - 4 + i] >> 4) & 0x0f0f0f0f;
#if defined(KILN_FMT_Q5_0)
        lo |= kiln_mv_q5_bits((unsigned)w.q[0], 4 * i);
        hi |= kiln_mv_q5_bits((unsigned)w.q[0], 16 + 4 * i);
#endif
        sumi = kiln_dp4a(lo, x.u[i], sumi);
        sumi = kiln_dp4a(hi, x.u[4 + i], sumi);
    }
#if defined(KILN_FMT_Q4_0)
    return w.d * (x.d * (float)sumi - 8.0f * x.s);
#else
    return w.d * (x.d * (float)sumi - 16.0f * x.s);
#endif
}
#elif defined(KILN_FMT_Q8_0)
typedef struct kiln_mv_w {
    int q[8];
    float d;
} kiln_mv_w;
KILN_FN void kiln_mv_load_w(const kiln_u8 *blk, int part, kiln_mv_w &w)
{
    (void)part;
    w.d = kiln_mv_ld_a2<8>(blk, w.q);
}
KILN_FN float kiln_mv_dot(const kiln_mv_w &w, const kiln_mv_x &x)
{
    int sumi = 0;
#pragma unroll
    for (int i = 0; i < 8; i++) sumi = kiln_dp4a(w.q[i], x.u[i], sumi);
    return w.d * x.d * (float)sumi;
}
#else
/* q4_1 (20 bytes, 4-aligned: five 32-bit loads), q5_1 (24 bytes, 8-aligned:
 * three 64-bit loads): d * q + m. */
typedef struct kiln_mv_w {
    unsigned dm, qh;
    int q[4];
} kiln_mv_w;
KILN_FN void kiln_mv_load_w(const kiln_u8 *blk, int part, kiln_mv_w &w)
{
    (void)part;
#if defined(KILN_FMT_Q4_1)
    w.dm = kiln_mv_ldw32(blk), w.qh = 0u;
#pragma unroll
    for (int i = 0; i < 4; i++) w.q[i] = (int)kiln_mv_ldw32(blk + 4 + 4 * i);
#else
    const uint2 h = kiln_arch_ldg_u64(blk, 1), q01 = kiln_arch_ldg_u64(blk + 8, 1), q23 = kiln_arch_ldg_u64(blk + 16, 1);
    w.dm = h.x, w.qh = h.y;
    w.q[0] = (int)q01.x, w.q[1] = (int)q01.y, w.q[2] = (int)q23.x, w.q[3] = (int)q23.y;
#endif
}
KILN_FN float kiln_mv_dot(const kiln_mv_w &w, const kiln_mv_x &x)
{
    int sumi = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int lo = w.q[i] & 0x0f0f0f0f, hi = (w.q[i] >> 4) & 0x0f0f0f0f;
#if defined(KILN_FMT_Q5_1)
        lo |= kiln_mv_q5_bits(w.qh, 4 * i);
        hi |= kiln_mv_q5_bits(w.qh, 16 + 4 * i);
#endif
        sumi = kiln_dp4a(lo, x.u[i], sumi);
        sumi = kiln_dp4a(hi, x.u[4 + i], sumi);
    }
    return kiln_mv_h2f(w.dm) * x.d * (float)sumi + kiln_mv_h2f(w.dm >> 16) * x.s;
}
#endif

#elif defined(KILN_FMT_Q4_K) || defined(KILN_FMT_Q5_K)
/* ---- q4_K, q5_K (144 and 176 bytes, 16-aligned): 16 threads per super-block.
 * Thread part = 4c + p takes bytes 8p..8p+7 of the 32-byte chunk c of the
 * nibbles: elements 8p..8p+7 of sub-blocks 2c (low nibbles) and 2c+1 (high),
 * and their high bits (q5_K) from qh[8p..8p+7]. The header (d, dmin and the
 * 12 bytes of 6-bit scales and mins) is one 16-byte load, the codes 8-byte
 * loads. w = (d * sc) * q - dmin * mn. */
#define MV_TPB 16
typedef struct kiln_mv_x {
    uint2 u[2]; /* elements 8p..8p+7 of sub-blocks 2c and 2c+1 */
    float d[2];
} kiln_mv_x;
KILN_FN void kiln_mv_load_x(const kiln_u8 *xc, int k, kiln_i64 b, int part, kiln_mv_x &x)
{
    const int c = part >> 2, p = part & 3;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const kiln_i64 xb = 8 * b + 2 * c + h;
        x.u[h] = kiln_arch_ldg_u64(xc + 32 * xb + 8 * p, 0);
        x.d[h] = __uint_as_float(kiln_arch_ldg_u32(xc + k + 8 * xb, 0));
    }
}
typedef struct kiln_mv_w {
    uint4 hdr; /* d | dmin << 16, then the scale bytes 0..3, 4..7, 8..11 */
    uint2 q;
#if defined(KILN_FMT_Q5_K)
    uint2 qh;
#endif
} kiln_mv_w;
KILN_FN void kiln_mv_load_w(const kiln_u8 *blk, int part, kiln_mv_w &w)
{
    const int c = part >> 2, p = part & 3;
    w.hdr = kiln_arch_ldg_u128(blk, 1);
#if defined(KILN_FMT_Q5_K)
    w.qh = kiln_arch_ldg_u64(blk + 16 + 8 * p, 1);
    w.q = kiln_arch_ldg_u64(blk + 48 + 32 * c + 8 * p, 1);
#else
    w.q = kiln_arch_ldg_u64(blk + 16 + 32 * c + 8 * p, 1);
#endif
}
/* Byte i of v. */
KILN_FN int kiln_mv_byte(unsigned v, int i) { return (int)((v >> (8 * i)) & 0xffu); }
KILN_FN float kiln_mv_dot_k(const kiln_mv_w &w, const kiln_mv_x &x, int part)
{
    const int c = part >> 2;
    float sumd = 0.0f, summ = 0.0f;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        /* 6-bit scale and min of sub-block s (kiln_kquant_scale / _min) */
        const int s = 2 * c + h, j = s & 3;
        const int sc = s < 4 ? kiln_mv_byte(w.hdr.y, j) & 63
                             : (kiln_mv_byte(w.hdr.w, j) & 15) | ((kiln_mv_byte(w.hdr.y, j) >> 6) << 4);
        const int mn = s < 4 ? kiln_mv_byte(w.hdr.z, j) & 63
                             : (kiln_mv_byte(w.hdr.w, j) >> 4) | ((kiln_mv_byte(w.hdr.z, j) >> 6) << 4);
        int v0 = (int)(w.q.x >> (4 * h)) & 0x0f0f0f0f, v1 = (int)(w.q.y >> (4 * h)) & 0x0f0f0f0f;
#if defined(KILN_FMT_Q5_K)
        v0 |= (int)(((w.qh.x >> s) & 0x01010101u) << 4);
        v1 |= (int)(((w.qh.y >> s) & 0x01010101u) << 4);
#endif
        const int dot = kiln_dp4a(v1, (int)x.u[h].y, kiln_dp4a(v0, (int)x.u[h].x, 0));
        const int sx = kiln_dp4a(0x01010101, (int)x.u[h].y, kiln_dp4a(0x01010101, (int)x.u[h].x, 0));
        sumd += x.d[h] * (float)(dot * sc);
        summ += x.d[h] * (float)(sx * mn);
    }
    return kiln_mv_h2f(w.hdr.x) * sumd - kiln_mv_h2f(w.hdr.x >> 16) * summ;
}
#define MV_DOT_NEEDS_PART 1

#else /* q6_K */
/* ---- q6_K (210 bytes, 2-aligned: 16-bit loads): 16 threads per super-block.
 * Thread part = 8n + p takes elements 4p..4p+3 of each quarter t of half n:
 * low nibbles from ql (bytes 64n + 4p and 64n + 32 + 4p, nibble t >> 1), high
 * two bits from qh[32n + 4p..] (bits 2t), scale scales[8n + 2t + p / 4].
 * w = (d * sc) * (q - 32). */
#define MV_TPB 16
typedef struct kiln_mv_x {
    int u[4]; /* elements 4p..4p+3 of sub-blocks 4n + t */
    float d[4];
} kiln_mv_x;
KILN_FN void kiln_mv_load_x(const kiln_u8 *xc, int k, kiln_i64 b, int part, kiln_mv_x &x)
{
    const int n = part >> 3, p = part & 7;
#pragma unroll
    for (int t = 0; t < 4; t++) {
        const kiln_i64 xb = 8 * b + 4 * n + t;
        x.u[t] = (int)kiln_arch_ldg_u32(xc + 32 * xb + 4 * p, 0);
        x.d[t] = __uint_as_float(kiln_arch_ldg_u32(xc + k + 8 * xb, 0));
    }
}
typedef struct kiln_mv_w {
    int ql[2], qh;
    int sc[4];
    float d;
} kiln_mv_w;
KILN_FN void kiln_mv_load_w(const kiln_u8 *blk, int part, kiln_mv_w &w)
{
    const int n = part >> 3, p = part & 7;
    w.ql[0] = kiln_mv_ldw32_a2(blk + 64 * n + 4 * p);
    w.ql[1] = kiln_mv_ldw32_a2(blk + 64 * n + 32 + 4 * p);
    w.qh = kiln_mv_ldw32_a2(blk + 128 + 32 * n + 4 * p);
    const int so = 192 + 8 * n + (p >> 2); /* scale of quarter t at so + 2t: same parity for all four */
#pragma unroll
    for (int t = 0; t < 4; t++)
        w.sc[t] = (int)(signed char)(kiln_mv_ldw16(blk + ((so + 2 * t) & ~1)) >> (8 * (so & 1)));
    w.d = kiln_mv_h2f(kiln_mv_ldw16(blk + 208));
}
KILN_FN float kiln_mv_dot(const kiln_mv_w &w, const kiln_mv_x &x)
{
    float sum = 0.0f;
#pragma unroll
    for (int t = 0; t < 4; t++) {
        const int q = ((w.ql[t & 1] >> (4 * (t >> 1))) & 0x0f0f0f0f) | (((w.qh >> (2 * t)) & 0x03030303) << 4);
        const int dot = kiln_dp4a(q, x.u[t], 0) - kiln_dp4a(0x20202020, x.u[t], 0);
        sum += x.d[t] * (float)(dot * w.sc[t]);
    }
    return w.d * sum;
}
#endif

#ifndef MV_DOT_NEEDS_PART
#define kiln_mv_dot_k(w, x, part) kiln_mv_dot(w, x)
#endif

/* acc[r][c] += W[row0 + r] · xq[col0 + c]: thread t takes part t % MV_TPB of
 * the weight blocks t / MV_TPB, t / MV_TPB + KILN_THREADS / MV_TPB, ... */
KILN_FN void kiln_mv_rows(const kiln_cu_matmul_args &a, unsigned long long wbase, kiln_i64 wstride, int row0,
                          int col0, int ncol, float (&acc)[MV_RPW][KILN_TN])
{
    const int part = threadIdx.x % MV_TPB;
    const kiln_i64 nb = a.k / KILN_FMT_BLOCK;
    const kiln_u8 *rows[MV_RPW];
#pragma unroll
    for (int r = 0; r < MV_RPW; r++) /* clamped rows are computed, never stored */
        rows[r] = kiln_cu_ptr(wbase, (kiln_i64)(row0 + r < a.m ? row0 + r : a.m - 1) * wstride);
    for (kiln_i64 b = threadIdx.x / MV_TPB; b < nb; b += KILN_THREADS / MV_TPB) {
        kiln_mv_w w[MV_RPW];
#pragma unroll
        for (int r = 0; r < MV_RPW; r++) kiln_mv_load_w(rows[r] + b * KILN_FMT_BYTES, part, w[r]);
#pragma unroll
        for (int cc = 0; cc < KILN_TN; cc++) {
            if (cc < ncol) {
                kiln_mv_x x;
                kiln_mv_load_x(kiln_cu_ptr(a.xq, (kiln_i64)(col0 + cc) * a.xq_stride), a.k, b, part, x);
#pragma unroll
                for (int r = 0; r < MV_RPW; r++) acc[r][cc] += kiln_mv_dot_k(w[r], x, part);
            }
        }
    }
}

#else
/* ---- float path (plain f32/f16/bf16 weights and formats without integer
 * codes): a block owns tm rows of W; its warps split k into chunks of 32
 * units (a unit is a format block, or 16 bytes of a plain type) taken
 * round-robin. A chunk's bytes stream through a warp-private shared-memory
 * window filled with 16-byte loads, the next chunk's loads in flight while
 * each lane decodes its unit and multiplies it with the tn activation
 * columns; each activation load serves all tm rows. */
#define MV_DP4A 0
#define MV_CHUNK (32 * MV_UNIT_BYTES)   /* bytes of one row per chunk: one unit per lane */
#define MV_WIN (MV_CHUNK + 32)          /* + alignment slack at both ends */
#define MV_NV ((MV_WIN / 16 + 31) / 32) /* 16-byte vectors per lane per row */

/* Global 16-byte load that bypasses L1 allocation: weights are read once. */
KILN_FN uint4 kiln_mv_ld_stream(unsigned long long p) { return kiln_arch_ld_stream16((const void *)p); }

/* The registers a lane holds for one chunk of every row, between the global
 * loads and their store to the window: the next chunk's loads are issued
 * before the current chunk is computed, so memory latency overlaps the math. */
typedef struct kiln_mv_stage {
    uint4 v[MV_RPW][MV_NV];
    int nvec[MV_RPW];  /* vectors in this chunk's window */
    int start[MV_RPW]; /* offset of the chunk's first unit in the window */
} kiln_mv_stage;

/* Issue the loads of chunk c (units [c*32, c*32+32)) of each row. */
KILN_FN void kiln_mv_issue(const kiln_cu_matmul_args &a, unsigned long long wbase, kiln_i64 wstride, int row0,
                           kiln_i64 c, kiln_i64 units, kiln_i64 row_bytes, kiln_mv_stage &st)
{
    const int lane = threadIdx.x & 31;
    const kiln_i64 u0 = c * 32, u1 = u0 + 32 < units ? u0 + 32 : units;
#pragma unroll
    for (int r = 0; r < MV_RPW; r++) {
        const int row = row0 + r < a.m ? row0 + r : a.m - 1; /* clamped rows are computed, never stored */
        const unsigned long long rb = wbase + (unsigned long long)((kiln_i64)row * wstride);
        const unsigned long long lo = rb + (unsigned long long)(u0 * MV_UNIT_BYTES);
        const kiln_i64 hi_off = u1 * MV_UNIT_BYTES < row_bytes ? u1 * MV_UNIT_BYTES : row_bytes;
        const unsigned long long hi = rb + (unsigned long long)hi_off;
        /* Widened to 16-byte granules: a granule holding a valid byte never crosses a page. */
        const unsigned long long g0 = lo & ~15ull, g1 = (hi + 15ull) & ~15ull;
        st.nvec[r] = (int)((g1 - g0) >> 4);
        st.start[r] = (int)(lo - g0);
#pragma unroll
        for (int v = 0; v < MV_NV; v++)
            if (lane + 32 * v < st.nvec[r]) st.v[r][v] = kiln_mv_ld_stream(g0 + 16ull * (unsigned)(lane + 32 * v));
    }
}

/* acc[r][c] += W[row0 + r] · x[col0 + c] over the chunks c = warp, warp + warps, ... */
KILN_FN void kiln_mv_rows(const kiln_cu_matmul_args &a, unsigned long long wbase, kiln_i64 wstride,
                          kiln_u8 (*win)[MV_WIN], int row0, int col0, int ncol, float (&acc)[MV_RPW][KILN_TN])
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const kiln_i64 units = ((kiln_i64)a.k + MV_UNIT_ELEMS - 1) / MV_UNIT_ELEMS;
    const kiln_i64 chunks = (units + 31) / 32;
    const kiln_i64 row_bytes = KILN_FMT_BLOCK > 1 ? (kiln_i64)(a.k / KILN_FMT_BLOCK) * KILN_FMT_BYTES
                                                  : (kiln_i64)a.k * KILN_FMT_BYTES;
    kiln_mv_stage st;
    kiln_i64 c = warp;
    if (c < chunks) kiln_mv_issue(a, wbase, wstride, row0, c, units, row_bytes, st);
    while (c < chunks) {
        int start[MV_RPW];
#pragma unroll
        for (int r = 0; r < MV_RPW; r++) {
#pragma unroll
            for (int v = 0; v < MV_NV; v++)
                if (lane + 32 * v < st.nvec[r]) kiln_arch_st16(win[r] + 16 * (lane + 32 * v), st.v[r][v]);
            start[r] = st.start[r];
        }
        __syncwarp();
        const kiln_i64 next = c + MM_WARPS;
        if (next < chunks) kiln_mv_issue(a, wbase, wstride, row0, next, units, row_bytes, st);
        const kiln_i64 u = c * 32 + lane;
        if (u < units) {
            const kiln_i64 e0 = u * MV_UNIT_ELEMS;
            const int rel = lane * MV_UNIT_BYTES;
#pragma unroll 1
            for (int i = 0; i < MV_UNIT_ELEMS; i += MV_G) {
                float w[MV_RPW][MV_G];
#pragma unroll
                for (int r = 0; r < MV_RPW; r++) kiln_mv_decode(win[r], start[r] + rel, i, e0, a.k, w[r]);
#pragma unroll
                for (int cc = 0; cc < KILN_TN; cc++) {
                    if (cc < ncol) {
                        float xv[MV_G];
                        kiln_mm_load_x<MV_G>(kiln_cu_ptr(a.x, (kiln_i64)(col0 + cc) * a.x_stride), e0 + i, a.k,
                                             a.x_vec_ok, xv);
#pragma unroll
                        for (int r = 0; r < MV_RPW; r++)
#pragma unroll
                            for (int q = 0; q < MV_G; q++) acc[r][cc] = fmaf(w[r][q], xv[q], acc[r][cc]);
                    }
                }
            }
        }
        __syncwarp();
        c = next;
    }
}

#endif /* MV_DP4A */

KILN_KERNEL(KILN_THREADS, KILN_ENTRY, kiln_cu_matmul_args, a)
{
#if MV_DP4A
#define MV_ROWS_ARGS(w, stride) a, w, stride, row0, col0, ncol, acc
#else
    __shared__ __align__(16) kiln_u8 windows[MM_WARPS][MV_RPW][MV_WIN];
#define MV_ROWS_ARGS(w, stride) a, w, stride, windows[threadIdx.x >> 5], row0, col0, ncol, acc
#endif
    __shared__ float red[2][MM_WARPS * MV_RPW * KILN_TN];
    const int row0 = blockIdx.x * MV_RPW;
    const int col0 = blockIdx.y * KILN_TN;
    const int ncol = a.n - col0 < KILN_TN ? a.n - col0 : KILN_TN;

    float acc[MV_RPW][KILN_TN];
#pragma unroll
    for (int r = 0; r < MV_RPW; r++)
#pragma unroll
        for (int c = 0; c < KILN_TN; c++) acc[r][c] = 0.0f;
    kiln_mv_rows(MV_ROWS_ARGS(a.w, a.w_stride));
    kiln_mv_block_sum(acc, red[0]);
#if KILN_EPI_SWIGLU
#pragma unroll
    for (int r = 0; r < MV_RPW; r++)
#pragma unroll
        for (int c = 0; c < KILN_TN; c++) acc[r][c] = 0.0f;
    kiln_mv_rows(MV_ROWS_ARGS(a.w_up, a.w_up_stride));
    kiln_mv_block_sum(acc, red[1]);
#endif
    /* One thread per output element adds up the warps' partial sums. */
    for (int o = threadIdx.x; o < MV_RPW * KILN_TN; o += KILN_THREADS) {
        const int r = o / KILN_TN, c = o % KILN_TN;
        float g = 0.0f, u = 0.0f;
        for (int w = 0; w < MM_WARPS; w++) {
            g += red[0][(w * MV_RPW + r) * KILN_TN + c];
#if KILN_EPI_SWIGLU
            u += red[1][(w * MV_RPW + r) * KILN_TN + c];
#endif
        }
        if (c < ncol && row0 + r < a.m) kiln_mm_store(a, row0 + r, col0 + c, g, u);
    }
}

#else
/* ================================================================== mat-mat */

#define BM KILN_TM
#define BN KILN_TN
#define BK KILN_TK

#if KILN_FMT_BLOCK > 1
/* ---- tensor cores: W dequantized to 16-bit in shared memory, mma.sync m16n8k16 */
#define MMA_PAD 8 /* halves per smem row: rows 16 bytes apart in bank space, conflict-free fragments */
#define SROW (BK + MMA_PAD)

/* Warps along m: the split of the block's warps whose warp tile is closest to
 * square (most reuse of each fragment), among those that divide evenly. */
__host__ __device__ constexpr int kiln_mm_warps_m()
{
    int best = 1, best_cost = 1 << 30;
    for (int wm = 1; wm <= MM_WARPS; wm++) {
        if (MM_WARPS % wm != 0 || (BM / 16) % wm != 0 || BN % (8 * (MM_WARPS / wm)) != 0) continue;
        const int dm = BM / wm, dn = BN / (MM_WARPS / wm), cost = dm > dn ? dm - dn : dn - dm;
        if (cost < best_cost) best = wm, best_cost = cost;
    }
    return best;
}
static constexpr int kiln_mm_warps_m_v = kiln_mm_warps_m();
#define WARPS_M kiln_mm_warps_m_v
#define WARPS_N (MM_WARPS / WARPS_M)
#define FM (BM / 16 / WARPS_M)
#define FN (BN / 8 / WARPS_N)
static_assert(BM % 16 == 0 && BK % 16 == 0, "mma tiles: tm and tk multiples of 16");
static_assert(BN % (8 * WARPS_N) == 0 && FN >= 1, "mma tiles: tn must split over the warps in 8-column fragments");

#if KILN_ACT_T == KILN_T_BF16
#define KILN_MMA_BF16 true
KILN_FN kiln_u16 kiln_mm_pack(float v) { return kiln_cu_f2bf(v); }
#else
#define KILN_MMA_BF16 false
KILN_FN kiln_u16 kiln_mm_pack(float v) { return kiln_cu_f2h(v); }
#endif

KILN_FN void kiln_mma_16816(float (&c)[4], const kiln_u32 (&a)[4], const kiln_u32 (&b)[2])
{
    kiln_arch_mma_m16n8k16<KILN_MMA_BF16>(c, a, b);
}

KILN_FN void kiln_mm_mainloop(const kiln_cu_matmul_args &a, unsigned long long wbase, kiln_i64 wstride,
                              kiln_u16 *sw, kiln_u16 *sx, int m0, int n0, float (&acc)[FM][FN][4])
{
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp % WARPS_M, wn = warp / WARPS_M;
    const int g = lane >> 2, t = lane & 3;
    for (int k0 = 0; k0 < a.k; k0 += BK) {
        __syncthreads(); /* the previous step's fragments are read */
#if defined(KILN_FMT_Q4_0) || defined(KILN_FMT_Q8_0)
        /* W tile [BM][BK], fast formats: a thread decodes 16 elements (half a
         * block) from one scale and 16 quant bytes, and stores them as two
         * 16-byte vectors (k is a multiple of 32, so halves are whole). */
        for (int e = tid; e < BM * (BK / 16); e += KILN_THREADS) {
            const int r = e / (BK / 16), h = e % (BK / 16), row = m0 + r, kk = k0 + h * 16;
            unsigned int packed[8];
            if (row < a.m && kk < a.k) {
                const kiln_u8 *blk = kiln_cu_ptr(wbase, (kiln_i64)row * wstride) + (kiln_i64)(kk / 32) * KILN_FMT_BYTES;
                const float d = KILN_LD_F16(blk, 0);
#pragma unroll
                for (int t = 0; t < 16; t += 2) {
#if defined(KILN_FMT_Q4_0)
                    const kiln_u32 two = KILN_LD_U16(blk, 2 + t), sh = (kk & 16) ? 4u : 0u;
                    const float w0 = d * (float)((int)((two >> sh) & 15u) - 8);
                    const float w1 = d * (float)((int)((two >> (8u + sh)) & 15u) - 8);
#else
                    const kiln_u32 two = KILN_LD_U16(blk, 2 + (kk & 16) + t);
                    const float w0 = d * (float)(signed char)(two & 0xffu), w1 = d * (float)(signed char)(two >> 8);
#endif
                    packed[t / 2] = (unsigned int)kiln_mm_pack(w0) | ((unsigned int)kiln_mm_pack(w1) << 16);
                }
            } else {
#pragma unroll
                for (int t = 0; t < 8; t++) packed[t] = 0u;
            }
            kiln_arch_st16(sw + r * SROW + h * 16, make_uint4(packed[0], packed[1], packed[2], packed[3]));
            kiln_arch_st16(sw + r * SROW + h * 16 + 8, make_uint4(packed[4], packed[5], packed[6], packed[7]));
        }
#else
        /* W tile [BM][BK], other formats: 8 consecutive elements per thread
         * (one sub-block scale for K-quants), one 16-byte store. k is a
         * multiple of the block (>= 32), so the 8 are all valid or all past k. */
        for (int e = tid; e < BM * (BK / 8); e += KILN_THREADS) {
            const int r = e / (BK / 8), c8 = (e % (BK / 8)) * 8, row = m0 + r, kk = k0 + c8;
            float w[MV_G];
            if (row < a.m && kk < a.k)
                kiln_mv_decode(kiln_cu_ptr(wbase, (kiln_i64)row * wstride), (kk / KILN_FMT_BLOCK) * KILN_FMT_BYTES,
                               kk % KILN_FMT_BLOCK, 0, a.k, w);
            else
#pragma unroll
                for (int j = 0; j < MV_G; j++) w[j] = 0.0f;
            kiln_arch_st16(sw + r * SROW + c8,
                make_uint4((unsigned int)kiln_mm_pack(w[0]) | ((unsigned int)kiln_mm_pack(w[1]) << 16),
                           (unsigned int)kiln_mm_pack(w[2]) | ((unsigned int)kiln_mm_pack(w[3]) << 16),
                           (unsigned int)kiln_mm_pack(w[4]) | ((unsigned int)kiln_mm_pack(w[5]) << 16),
                           (unsigned int)kiln_mm_pack(w[6]) | ((unsigned int)kiln_mm_pack(w[7]) << 16)));
        }
#endif
        /* x tile [BN][BK]: four activations per thread and step */
        for (int e = tid; e < BN * (BK / 4); e += KILN_THREADS) {
            const int r = e / (BK / 4), c = (e % (BK / 4)) * 4, col = n0 + r, kk = k0 + c;
            float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            if (col < a.n) {
                const kiln_u8 *xrow = kiln_cu_ptr(a.x, (kiln_i64)col * a.x_stride);
                if (KILN_ACT_T == KILN_T_F32 && a.x_vec_ok && kk + 4 <= a.k) {
                    const float4 q = *(const float4 *)(xrow + (kiln_i64)kk * 4);
                    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
                } else {
#pragma unroll
                    for (int j = 0; j < 4; j++) v[j] = kk + j < a.k ? kiln_cu_load<KILN_ACT_T>(xrow, kk + j) : 0.0f;
                }
            }
            uint2 *dst = (uint2 *)(sx + r * SROW + c);
            *dst = make_uint2((unsigned int)kiln_mm_pack(v[0]) | ((unsigned int)kiln_mm_pack(v[1]) << 16),
                              (unsigned int)kiln_mm_pack(v[2]) | ((unsigned int)kiln_mm_pack(v[3]) << 16));
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            kiln_u32 af[FM][4], bf[FN][2];
#pragma unroll
            for (int fm = 0; fm < FM; fm++) {
                const kiln_u16 *p = sw + (wm * FM * 16 + fm * 16 + g) * SROW + kk + 2 * t;
                af[fm][0] = *(const kiln_u32 *)p;
                af[fm][1] = *(const kiln_u32 *)(p + 8 * SROW);
                af[fm][2] = *(const kiln_u32 *)(p + 8);
                af[fm][3] = *(const kiln_u32 *)(p + 8 * SROW + 8);
            }
#pragma unroll
            for (int fn = 0; fn < FN; fn++) {
                const kiln_u16 *p = sx + (wn * FN * 8 + fn * 8 + g) * SROW + kk + 2 * t;
                bf[fn][0] = *(const kiln_u32 *)p;
                bf[fn][1] = *(const kiln_u32 *)(p + 8);
            }
#pragma unroll
            for (int fm = 0; fm < FM; fm++)
#pragma unroll
                for (int fn = 0; fn < FN; fn++) kiln_mma_16816(acc[fm][fn], af[fm], bf[fn]);
        }
    }
}

KILN_DYNAMIC_SHARED(kiln_u8, kiln_mm_smem);

KILN_KERNEL(KILN_THREADS, KILN_ENTRY, kiln_cu_matmul_args, a)
{
    kiln_u16 *sw = (kiln_u16 *)kiln_mm_smem; /* [BM][SROW] */
    kiln_u16 *sx = sw + BM * SROW;           /* [BN][SROW] */
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int wm = warp % WARPS_M, wn = warp / WARPS_M;
    const int g = lane >> 2, t = lane & 3;

    float acc[FM][FN][4] = {};
    kiln_mm_mainloop(a, a.w, a.w_stride, sw, sx, m0, n0, acc);
#if KILN_EPI_SWIGLU
    float up[FM][FN][4] = {};
    kiln_mm_mainloop(a, a.w_up, a.w_up_stride, sw, sx, m0, n0, up);
#endif
#pragma unroll
    for (int fm = 0; fm < FM; fm++)
#pragma unroll
        for (int fn = 0; fn < FN; fn++)
#pragma unroll
            for (int q = 0; q < 4; q++) {
                const int row = m0 + wm * FM * 16 + fm * 16 + g + (q >= 2 ? 8 : 0);
                const int col = n0 + wn * FN * 8 + fn * 8 + 2 * t + (q & 1);
#if KILN_EPI_SWIGLU
                const float u = up[fm][fn][q];
#else
                const float u = 0.0f;
#endif
                if (row < a.m && col < a.n) kiln_mm_store(a, row, col, acc[fm][fn][q], u);
            }
}

#else
/* ---- plain f32/f16/bf16 weights: f32 tiles in shared memory, FMA per output */
#define SROW (BK + 1) /* odd stride: a warp's rows fall in distinct banks */
#define PER_THREAD (BM * BN / KILN_THREADS)
static_assert((BM * BN) % KILN_THREADS == 0, "simt tiles: tm*tn must be a multiple of threads");

KILN_FN void kiln_mm_mainloop(const kiln_cu_matmul_args &a, unsigned long long wbase, kiln_i64 wstride, float *sw,
                              float *sx, int m0, int n0, float (&acc)[PER_THREAD])
{
    const int tid = threadIdx.x;
    for (int k0 = 0; k0 < a.k; k0 += BK) {
        __syncthreads();
        for (int e = tid; e < BM * BK; e += KILN_THREADS) {
            const int r = e / BK, c = e % BK, row = m0 + r, kk = k0 + c;
            sw[r * SROW + c] = row < a.m && kk < a.k
                                   ? kiln_cu_load<KILN_FMT_T>(kiln_cu_ptr(wbase, (kiln_i64)row * wstride), kk)
                                   : 0.0f;
        }
        for (int e = tid; e < BN * BK; e += KILN_THREADS) {
            const int r = e / BK, c = e % BK, col = n0 + r, kk = k0 + c;
            sx[r * SROW + c] = col < a.n && kk < a.k
                                   ? kiln_cu_load<KILN_ACT_T>(kiln_cu_ptr(a.x, (kiln_i64)col * a.x_stride), kk)
                                   : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int j = 0; j < PER_THREAD; j++) {
            const int o = tid + j * KILN_THREADS, r = o % BM, c = o / BM;
            float s = acc[j];
#pragma unroll 8
            for (int kk = 0; kk < BK; kk++) s = fmaf(sw[r * SROW + kk], sx[c * SROW + kk], s);
            acc[j] = s;
        }
    }
}

KILN_DYNAMIC_SHARED(kiln_u8, kiln_mm_smem);

KILN_KERNEL(KILN_THREADS, KILN_ENTRY, kiln_cu_matmul_args, a)
{
    float *sw = (float *)kiln_mm_smem; /* [BM][SROW] */
    float *sx = sw + BM * SROW;        /* [BN][SROW] */
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    float acc[PER_THREAD] = {};
    kiln_mm_mainloop(a, a.w, a.w_stride, sw, sx, m0, n0, acc);
#if KILN_EPI_SWIGLU
    float up[PER_THREAD] = {};
    kiln_mm_mainloop(a, a.w_up, a.w_up_stride, sw, sx, m0, n0, up);
#endif
#pragma unroll
    for (int j = 0; j < PER_THREAD; j++) {
        const int o = threadIdx.x + j * KILN_THREADS, row = m0 + o % BM, col = n0 + o / BM;
#if KILN_EPI_SWIGLU
        const float u = up[j];
#else
        const float u = 0.0f;
#endif
        if (row < a.m && col < a.n) kiln_mm_store(a, row, col, acc[j], u);
    }
}
#endif /* KILN_FMT_BLOCK > 1 */
#endif /* KILN_TN <= 8 */
