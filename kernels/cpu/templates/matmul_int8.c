/* kernels/cpu/templates/matmul_int8.c — the integer matmul path (AVX2, also
 * used by the AVX-512 instances through AVX512VL's 256-bit forms):
 *   q4_0, q8_0 weights  x  q8_0 activations (blocks of 32)
 *   q4_K weights        x  q8_K activations (super-blocks of 256)
 * One (weight block, activation block) pair: 32 int8 products summed by
 * maddubs + madd into 8 int32 lanes, converted once and scaled by
 * d_w * d_x with an FMA into an f32 accumulator. Mat-vec runs 4 rows against
 * one column (the activation block loaded once for 4 rows); two columns
 * run 4 rows x 2 so each expanded weight block serves both (three or more:
 * the panels of matmul_panel.c); the K-quants run a row x 2 columns. */
#if MM_PATH_INT8

/* Software prefetch of the next 4-row tile while this one runs: each row is
 * its own stream, and a row of a decode step's small matrices (k = 2048 is
 * 1152 bytes of q4_0) is too short for the hardware prefetcher to ramp up
 * on, which halved their bandwidth. A tile ahead (4 rows) keeps the distance
 * proportional to the row; prefetches past the matrix end do not fault. */
#define MM_PREFETCH(p, ahead) _mm_prefetch((const char *)(p) + (ahead), _MM_HINT_T0)

static inline int64_t mm_xq_row_bytes(const kiln_cpu_matmul_args *a) { return a->k / MM_XQ_BLOCK * MM_XQ_BYTES; }

/* Quantize row r of x into the scratch. */
static void mm_quantize_row(const kiln_cpu_matmul_args *a, int64_t r)
{
    const float *x = a->x + r * a->x_stride;
    uint8_t *dst = (uint8_t *)a->scratch + r * mm_xq_row_bytes(a);
    for (int64_t b = 0; b < a->k / MM_XQ_BLOCK; b++)
#if MM_PATH_Q8_0
        kiln_cpu_quantize_q8_0(x + b * 32, (kiln_cpu_q8_0 *)(dst + b * MM_XQ_BYTES));
#else
        kiln_cpu_quantize_q8_k(x + b * 256, (kiln_cpu_q8_k *)(dst + b * MM_XQ_BYTES));
#endif
}

static inline const uint8_t *mm_xq_row(const kiln_cpu_matmul_args *a, int64_t col)
{
    return (const uint8_t *)a->scratch + col * mm_xq_row_bytes(a);
}

#if MM_PATH_Q8_0
/* The 4- and 5-bit formats enter the dot product unsigned, as stored (0..15,
 * 0..31): maddubs wants an unsigned first operand, so no sign juggling is
 * needed, and what turns them into weights is applied once per block through
 * the activation sum s = sum x:
 *   q4_0: sum (q - 8) x = sum q x - 8 s      q5_0: the same with 16
 *   q4_1, q5_1 (w = d q + m): sum w x = d sum q x + m s
 * q8_0 weights are signed: |w| times x with w's sign (kiln_cpu_dot_i8). */
#if defined(KILN_FMT_Q4_0)
#define MM_W_OFFSET 8.0f
#elif defined(KILN_FMT_Q5_0)
#define MM_W_OFFSET 16.0f
#else
#define MM_W_OFFSET 0.0f
#endif
#if defined(KILN_FMT_Q4_1) || defined(KILN_FMT_Q5_1)
#define MM_W_HAS_MIN 1 /* f16 m right after d */
#else
#define MM_W_HAS_MIN 0
#endif
/* Byte offsets of the nibbles and (5-bit formats) of the 32 fifth bits. */
#if defined(KILN_FMT_Q4_0)
#define MM_QS_OFF 2
#elif defined(KILN_FMT_Q4_1)
#define MM_QS_OFF 4
#elif defined(KILN_FMT_Q5_0)
#define MM_QH_OFF 2
#define MM_QS_OFF 6
#elif defined(KILN_FMT_Q5_1)
#define MM_QH_OFF 4
#define MM_QS_OFF 8
#elif defined(KILN_FMT_IQ4_NL)
#define MM_QS_OFF 2
#define MM_W_CODEBOOK 1 /* codes index ggml's kvalues_iq4nl: signed weights after a byte shuffle */
#endif

/* The 32 weights of a block, in element order. */
static inline __attribute__((always_inline)) __m256i mm_w_block(const uint8_t *blk)
{
#if defined(MM_QS_OFF)
    /* qs[j] holds element j in its low nibble and element j+16 in its high one:
     * the same 16 bytes in both halves, the upper half shifted down by 4 */
    __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + MM_QS_OFF)));
    __m256i q = _mm256_and_si256(_mm256_srlv_epi64(raw, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0f));
#if defined(MM_QH_OFF)
    /* bit j of the 32-bit qh is bit 4 of element j: spread qh's bytes so byte j
     * holds byte j/8, set every bit but bit j%8, and compare with all-ones */
    uint32_t qh;
    memcpy(&qh, blk + MM_QH_OFF, 4);
    __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh),
                                         _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                                            0x0202020202020202, 0x0303030303030303));
    __m256i set = _mm256_cmpeq_epi8(_mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe)),
                                    _mm256_set1_epi64x(-1));
    q = _mm256_or_si256(q, _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
#endif
#if defined(MM_W_CODEBOOK)
    const __m128i values = _mm_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
    q = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(values), q);
#endif
    return q;
#else
    return _mm256_loadu_si256((const __m256i *)(blk + 2));
#endif
}

/* 32 products of a weight block and an activation block as 8 int32 lanes. */
static inline __attribute__((always_inline)) __m256i mm_w_dot(__m256i w, __m256i x)
{
#if defined(MM_QS_OFF) && !defined(MM_W_CODEBOOK)
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1));
#else
    return kiln_cpu_dot_i8(w, x);
#endif
}

static inline uint64_t mm_ld_u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* The f16 scales of block b of 4 rows, as 4 floats (one conversion, not four). */
static inline __attribute__((always_inline)) __m128 mm_scales4(const uint8_t *const wr[4], int64_t off)
{
    uint64_t h = mm_ld_u16(wr[0] + off) | mm_ld_u16(wr[1] + off) << 16 | mm_ld_u16(wr[2] + off) << 32 |
                 mm_ld_u16(wr[3] + off) << 48;
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)h));
}

/* 4 rows x NC columns (NC = 1 for mat-vec, 2 otherwise): each expanded weight
 * block serves NC activation blocks, each activation block 4 weight rows.
 * Rows/columns past nrows/ncols repeat the last one; the driver ignores them.
 * dots[r * NC + c]. */
static inline __attribute__((always_inline)) void mm_q8_0_4xn(const kiln_cpu_matmul_args *a, const uint8_t *w,
                                                              int64_t row0, int nrows, int64_t col0, int ncols,
                                                              const int NC, float *dots)
{
    const uint8_t *wr[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) wr[r] = w + (row0 + (r < nrows ? r : nrows - 1)) * a->w_stride;
    const kiln_cpu_q8_0 *x[2];
#pragma GCC unroll 2
    for (int c = 0; c < NC; c++) x[c] = (const kiln_cpu_q8_0 *)mm_xq_row(a, col0 + (c < ncols ? c : ncols - 1));
    /* every loop over acc/offs is unrolled, so the arrays live in registers */
    __m256 acc[4][2];
    __m128 offs[2];
#pragma GCC unroll 2
    for (int c = 0; c < NC; c++) {
        offs[c] = _mm_setzero_ps();
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) acc[r][c] = _mm256_setzero_ps();
    }
    /* d_w * d_x of each (row, column) of the block, stored so that the
     * accumulators get them by broadcast loads (no shuffle, no extra registers:
     * 8 accumulators must stay in the 16 ymm registers) */
    float scale[2][4] __attribute__((aligned(16)));
    int64_t blocks = a->k / 32, ahead = 4 * a->w_stride;
    for (int64_t b = 0; b < blocks; b++) {
        int64_t off = b * KILN_FMT_BYTES;
        __m128 dw = mm_scales4(wr, off);
#if MM_W_HAS_MIN
        __m128 mw = mm_scales4(wr, off + 2);
#endif
        __m256i xv[2];
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++) {
            const kiln_cpu_q8_0 *xb = &x[c][b];
            xv[c] = _mm256_loadu_si256((const __m256i *)xb->qs);
            __m128 s = _mm_mul_ps(dw, _mm_set1_ps(xb->d));
            _mm_store_ps(scale[c], s);
            if (MM_W_OFFSET != 0.0f) offs[c] = _mm_fmadd_ps(s, _mm_set1_ps(MM_W_OFFSET * xb->s), offs[c]);
#if MM_W_HAS_MIN
            offs[c] = _mm_fnmadd_ps(mw, _mm_set1_ps(xb->d * xb->s), offs[c]);
#endif
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            MM_PREFETCH(wr[r] + off, ahead);
            __m256i q = mm_w_block(wr[r] + off);
#pragma GCC unroll 2
            for (int c = 0; c < NC; c++)
                acc[r][c] = _mm256_fmadd_ps(_mm256_broadcast_ss(&scale[c][r]), _mm256_cvtepi32_ps(mm_w_dot(q, xv[c])),
                                            acc[r][c]);
        }
    }
#pragma GCC unroll 2
    for (int c = 0; c < NC; c++) {
        float o[4];
        _mm_storeu_ps(o, offs[c]);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) dots[r * NC + c] = kiln_cpu_hsum256(acc[r][c]) - o[r];
    }
}

static void mm_q8_0_rows4(const kiln_cpu_matmul_args *a, const uint8_t *w, int64_t row0, int nrows, int64_t col,
                          float *dots)
{
    mm_q8_0_4xn(a, w, row0, nrows, col, 1, 1, dots);
}

static void mm_q8_0_rows4_cols2(const kiln_cpu_matmul_args *a, const uint8_t *w, int64_t row0, int nrows,
                                int64_t col0, int ncols, float *dots)
{
    mm_q8_0_4xn(a, w, row0, nrows, col0, ncols, 2, dots);
}
#endif /* MM_PATH_Q8_0 */

#if MM_PATH_Q8_K
/* The 8 six-bit scales (bytes 0..7 of the result) and mins (bytes 8..15) of a
 * q4_K super-block from its 12 packed bytes, with 32-bit word operations:
 * sub-blocks 0..3 keep their low 6 bits in bytes 0..3 (scales) and 4..7
 * (mins); sub-blocks 4..7 take a nibble from bytes 8..11 and their top two
 * bits from the spare top bits of bytes 0..7 (gen/math/dequant.h). */
static inline __m128i mm_q4_k_scales_mins(const uint8_t *packed)
{
    uint32_t u[4];
    memcpy(u, packed, 12);
    const uint32_t low6 = 0x3f3f3f3fu, low4 = 0x0f0f0f0fu, low2 = 0x03030303u;
    u[3] = ((u[2] >> 4) & low4) | (((u[1] >> 6) & low2) << 4); /* mins 4..7 */
    uint32_t mins_lo = u[1] & low6;                              /* mins 0..3 */
    u[1] = (u[2] & low4) | (((u[0] >> 6) & low2) << 4);          /* scales 4..7 */
    u[2] = mins_lo;
    u[0] &= low6;                                                /* scales 0..3 */
    return _mm_loadu_si128((const __m128i *)u);
}

/* One row of q4_K (or q5_K) super-blocks · NC rows of q8_K blocks (NC = 1, or
 * 2 to expand each weight block once for two tokens). Each 32-element
 * sub-block gives 8 int32 lanes: maddubs, then madd with its 6-bit scale times
 * the activation's sub-scale u[s] (at most 63 * 255, a 16-bit lane); a whole
 * super-block sums in int32 and is converted and scaled by d * D once, as GGUF
 * engines do. Bound: a lane takes 4 products per sub-block, 8 sub-blocks:
 * 8 * 4 * 31 * 128 * 63 * 255 < 2^31 even for q5_K's 5-bit values. The mins
 * (dmin * m[s] * d_x[s] * sum of x's qs over sub-block s) come from the q8_K
 * dsum, 8 sub-blocks at once. out[c] for column c. */
static inline __attribute__((always_inline)) void mm_q4_k_row(const uint8_t *wr, const kiln_cpu_q8_k *const *xq,
                                                              int64_t blocks, int64_t ahead, const int NC, float *out)
{
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < blocks; b++) {
#if defined(KILN_FMT_Q5_K)
        /* q5_K: q4_K's layout with qh[32] before the nibbles; bit s of qh[l] is
         * bit 4 of element l of sub-block s */
        const uint8_t *blk = wr + b * KILN_FMT_BYTES, *qs = blk + 48;
        for (int l = 0; l < KILN_FMT_BYTES; l += 64) MM_PREFETCH(blk + l, ahead);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 16)), one = _mm256_set1_epi8(1);
#else
        const uint8_t *blk = wr + b * KILN_FMT_BYTES, *qs = blk + 16;
        for (int l = 0; l < KILN_FMT_BYTES; l += 64) MM_PREFETCH(blk + l, ahead);
#endif
        __m128i sm = mm_q4_k_scales_mins(blk + 4);
        const __m128i sc8 = _mm_cvtepu8_epi16(sm);
        /* dmin * m[s], for the mins */
        __m256 mf = _mm256_mul_ps(_mm256_set1_ps(kiln_cpu_f16(blk + 2)),
                                  _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8))));
        float d = kiln_cpu_f16(blk);
        /* per column: the 8 combined scales as 16-bit words in both halves, so
         * sub-block s takes word s to every lane with one byte shuffle */
        __m256i sc16[2], sumi[2];
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++) {
            const kiln_cpu_q8_k *x = xq[c] + b;
            sc16[c] = _mm256_broadcastsi128_si256(_mm_mullo_epi16(sc8, _mm_loadu_si128((const __m128i *)x->u)));
            sumi[c] = _mm256_setzero_si256();
            acc[c] = _mm256_fnmadd_ps(mf, _mm256_loadu_ps(x->dsum), acc[c]);
        }
#pragma GCC unroll 4
        for (int c4 = 0; c4 < 4; c4++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c4));
            __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
#if defined(KILN_FMT_Q5_K)
            /* (16-bit shifts: the mask keeps bit 0 of each byte, so nothing crosses bytes) */
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c4), one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c4 + 1), one), 4));
#endif
            const __m256i pick_l = _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * c4)));
            const __m256i pick_h = _mm256_set1_epi16((short)(0x0100 + 0x0202 * (2 * c4 + 1)));
#pragma GCC unroll 2
            for (int c = 0; c < NC; c++) {
                const kiln_cpu_q8_k *x = xq[c] + b;
                __m256i xl = _mm256_loadu_si256((const __m256i *)(x->qs + 64 * c4));
                __m256i xh = _mm256_loadu_si256((const __m256i *)(x->qs + 64 * c4 + 32));
                __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, xl), _mm256_shuffle_epi8(sc16[c], pick_l));
                __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xh), _mm256_shuffle_epi8(sc16[c], pick_h));
                sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(pl, ph));
            }
        }
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++)
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * xq[c][b].D), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
    }
#pragma GCC unroll 2
    for (int c = 0; c < NC; c++) out[c] = kiln_cpu_hsum256(acc[c]);
}

/* One row of q6_K super-blocks · NC rows of q8_K blocks. A q6_K element is 4
 * low bits from ql and 2 high bits from qh (gen/math/dequant.h), 0..63 with an
 * offset of -32, and an int8 scale per 16 elements — the q8_K group size — so
 * the offset comes off per 32 values as 32 * (sc[2i] bsums[2i] + sc[2i+1]
 * bsums[2i+1]) and the 6-bit values enter maddubs unsigned. */
static inline __attribute__((always_inline)) void mm_q6_k_row(const uint8_t *wr, const kiln_cpu_q8_k *const *xq,
                                                              int64_t blocks, int64_t ahead, const int NC, float *out)
{
    const __m256i low = _mm256_set1_epi8(0x0f), two = _mm256_set1_epi8(0x03);
    /* Independent accumulators per column, as in mm_q4_k_row: one chain of 9
     * dependent FMAs per super-block bounds the loop by FMA latency. */
    const int NACC = NC == 1 ? 4 : 2;
    __m256 acc[2][4];
#pragma GCC unroll 2
    for (int c = 0; c < NC; c++)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) acc[c][i] = _mm256_setzero_ps();
    float ds[2][8] __attribute__((aligned(32))); /* d * dx[i] per 32 values */
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = wr + b * KILN_FMT_BYTES, *ql = blk, *qh = blk + 128;
        for (int l = 0; l < KILN_FMT_BYTES; l += 64) MM_PREFETCH(blk + l, ahead);
        const int8_t *sc = (const int8_t *)(blk + 192);
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        __m256 d = _mm256_set1_ps(kiln_cpu_f16(blk + 208));
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++) {
            const kiln_cpu_q8_k *x = xq[c] + b;
            __m256 dd = _mm256_mul_ps(d, _mm256_loadu_ps(x->d));
            _mm256_store_ps(ds[c], dd);
            __m256i offset = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x->bsums), sc16);
            acc[c][0] = _mm256_fnmadd_ps(_mm256_mul_ps(dd, _mm256_set1_ps(32.0f)), _mm256_cvtepi32_ps(offset), acc[c][0]);
        }
#pragma GCC unroll 2
        for (int n = 0; n < 2; n++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(ql + 64 * n));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 64 * n + 32));
            __m256i h = _mm256_loadu_si256((const __m256i *)(qh + 32 * n));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_slli_epi16(_mm256_and_si256(h, two), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), two), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), two), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), two), 4));
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++) {
                int g = 8 * n + 2 * t; /* scales of elements 0..15 and 16..31 of this group of 32 */
                __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[g + 1]), _mm_set1_epi16(sc[g]));
#pragma GCC unroll 2
                for (int c = 0; c < NC; c++) {
                    __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[c][b].qs + 128 * n + 32 * t));
                    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q[t], xv), s);
                    const int ia = (2 * n + t) % NACC;
                    acc[c][ia] = _mm256_fmadd_ps(_mm256_broadcast_ss(&ds[c][4 * n + t]), _mm256_cvtepi32_ps(p), acc[c][ia]);
                }
            }
        }
    }
#pragma GCC unroll 2
    for (int c = 0; c < NC; c++) {
        __m256 sum = _mm256_add_ps(acc[c][0], acc[c][1]);
        if (NACC == 4) sum = _mm256_add_ps(sum, _mm256_add_ps(acc[c][2], acc[c][3]));
        out[c] = kiln_cpu_hsum256(sum);
    }
}

#pragma kiln include "kernels/cpu/templates/matmul_q3_k.c"

#if defined(KILN_FMT_Q6_K)
#define mm_kquant_row mm_q6_k_row
#elif defined(KILN_FMT_Q3_K)
#define mm_kquant_row mm_q3_k_row
#else
#define mm_kquant_row mm_q4_k_row
#endif

static void mm_q4_k_tile(const kiln_cpu_matmul_args *a, const uint8_t *w, int64_t row0, int nrows, int64_t col0,
                         int ncols, int rn, float *dots)
{
    int64_t blocks = a->k / 256, ahead = 4 * a->w_stride; /* rows are walked in order: 4 rows ahead */
    for (int r = 0; r < nrows; r++) {
        const uint8_t *wr = w + (row0 + r) * a->w_stride;
        int c = 0;
        for (; c + 2 <= ncols; c += 2) {
            const kiln_cpu_q8_k *x[2] = {(const kiln_cpu_q8_k *)mm_xq_row(a, col0 + c),
                                         (const kiln_cpu_q8_k *)mm_xq_row(a, col0 + c + 1)};
            float out[2];
            mm_kquant_row(wr, x, blocks, ahead, 2, out);
            dots[r * rn + c] = out[0];
            dots[r * rn + c + 1] = out[1];
        }
        if (c < ncols) {
            const kiln_cpu_q8_k *x[1] = {(const kiln_cpu_q8_k *)mm_xq_row(a, col0 + c)};
            mm_kquant_row(wr, x, blocks, ahead, 1, &dots[r * rn + c]);
        }
    }
}
#endif /* MM_PATH_Q8_K */

/* dots[r * rn + c] for rows row0.. (nrows) x columns col0.. (ncols). */
static void mm_int8_tile(const kiln_cpu_matmul_args *a, const uint8_t *w, int64_t row0, int nrows, int64_t col0,
                         int ncols, int wide, float *dots)
{
#if MM_PATH_Q8_0
    if (wide)
        mm_q8_0_rows4_cols2(a, w, row0, nrows, col0, ncols, dots);
    else
        mm_q8_0_rows4(a, w, row0, nrows, col0, dots);
#else
    mm_q4_k_tile(a, w, row0, nrows, col0, ncols, wide ? MM_RN_WIDE : MM_RN, dots);
#endif
}

#endif /* MM_PATH_INT8 */
