/* kernels/cpu/templates/matmul_int8.c — the integer matmul path (AVX2, also
 * used by the AVX-512 instances through AVX512VL's 256-bit forms):
 *   q4_0, q8_0 weights  x  q8_0 activations (blocks of 32)
 *   q4_K weights        x  q8_K activations (super-blocks of 256)
 * One (weight block, activation block) pair: 32 int8 products summed by
 * maddubs + madd into 8 int32 lanes, converted once and scaled by
 * d_w * d_x with an FMA into an f32 accumulator. Mat-vec runs 4 rows against
 * one column (the activation block loaded once for 4 rows); wider products
 * run 4 rows x 2 columns so each expanded weight block serves 2 columns. */
#if MM_PATH_INT8

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
/* q4_0 weights enter the dot product unsigned (0..15, as stored): maddubs
 * wants an unsigned first operand, so no sign juggling is needed, and the -8
 * offset is applied once per block through the activation sum:
 *   sum (q - 8) x = sum q x - 8 * sum x.
 * q8_0 weights are signed: |w| times x with w's sign (kiln_cpu_dot_i8). */
#if defined(KILN_FMT_Q4_0)
#define MM_W_OFFSET 8.0f
#else
#define MM_W_OFFSET 0.0f
#endif

/* The 32 weights of a block, in element order. */
static inline __attribute__((always_inline)) __m256i mm_w_block(const uint8_t *blk)
{
#if defined(KILN_FMT_Q4_0)
    /* qs[j] holds element j in its low nibble and element j+16 in its high one:
     * the same 16 bytes in both halves, the upper half shifted down by 4 */
    __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + 2)));
    return _mm256_and_si256(_mm256_srlv_epi64(raw, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0f));
#else
    return _mm256_loadu_si256((const __m256i *)(blk + 2));
#endif
}

/* 32 products of a weight block and an activation block as 8 int32 lanes. */
static inline __attribute__((always_inline)) __m256i mm_w_dot(__m256i w, __m256i x)
{
#if defined(KILN_FMT_Q4_0)
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
    int64_t blocks = a->k / 32;
    for (int64_t b = 0; b < blocks; b++) {
        int64_t off = b * KILN_FMT_BYTES;
        __m128 dw = mm_scales4(wr, off);
        __m256i xv[2];
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++) {
            const kiln_cpu_q8_0 *xb = &x[c][b];
            xv[c] = _mm256_loadu_si256((const __m256i *)xb->qs);
            __m128 s = _mm_mul_ps(dw, _mm_set1_ps(xb->d));
            _mm_store_ps(scale[c], s);
            if (MM_W_OFFSET != 0.0f) offs[c] = _mm_fmadd_ps(s, _mm_set1_ps(MM_W_OFFSET * xb->s), offs[c]);
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
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

/* One row of q4_K super-blocks · NC rows of q8_K blocks (NC = 1, or 2 to
 * expand each weight block once for two tokens). The int32 sums of a
 * super-block are scaled once (d * dx) into a vector accumulator; the mins
 * (dmin * m[s] * sum of x over sub-block s) come from the q8_K group sums,
 * 8 sub-blocks at once with madd. out[c] for column c. */
static inline __attribute__((always_inline)) void mm_q4_k_row(const uint8_t *wr, const kiln_cpu_q8_k *const *xq,
                                                              int64_t blocks, const int NC, float *out)
{
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    __m128 mins[2] = {_mm_setzero_ps(), _mm_setzero_ps()};
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = wr + b * KILN_FMT_BYTES, *qs = blk + 16;
        __m128i sm = mm_q4_k_scales_mins(blk + 4);
        uint8_t sc[16];
        _mm_storeu_si128((__m128i *)sc, sm);
        __m128i m16 = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
        float d = kiln_cpu_f16(blk), dmin = kiln_cpu_f16(blk + 2);
        __m256i sumi[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
#pragma GCC unroll 4
        for (int c4 = 0; c4 < 4; c4++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c4));
            __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
            __m256i sl = _mm256_set1_epi16(sc[2 * c4]), sh = _mm256_set1_epi16(sc[2 * c4 + 1]);
#pragma GCC unroll 2
            for (int c = 0; c < NC; c++) {
                const kiln_cpu_q8_k *x = xq[c] + b;
                __m256i xl = _mm256_loadu_si256((const __m256i *)(x->qs + 64 * c4));
                __m256i xh = _mm256_loadu_si256((const __m256i *)(x->qs + 64 * c4 + 32));
                __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, xl), sl);
                __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xh), sh);
                sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(pl, ph));
            }
        }
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++) {
            const kiln_cpu_q8_k *x = xq[c] + b;
            /* sum over sub-blocks of m[s] * (bsums[2s] + bsums[2s+1]) */
            __m128i pair = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)x->bsums),
                                          _mm_loadu_si128((const __m128i *)(x->bsums + 8)));
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * x->d), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
            mins[c] = _mm_fmadd_ps(_mm_set1_ps(dmin * x->d), _mm_cvtepi32_ps(_mm_madd_epi16(pair, m16)), mins[c]);
        }
    }
    for (int c = 0; c < NC; c++) {
        __m128 m2 = _mm_add_ps(mins[c], _mm_movehl_ps(mins[c], mins[c]));
        m2 = _mm_add_ss(m2, _mm_movehdup_ps(m2));
        out[c] = kiln_cpu_hsum256(acc[c]) - _mm_cvtss_f32(m2);
    }
}

static void mm_q4_k_tile(const kiln_cpu_matmul_args *a, const uint8_t *w, int64_t row0, int nrows, int64_t col0,
                         int ncols, int rn, float *dots)
{
    int64_t blocks = a->k / 256;
    for (int r = 0; r < nrows; r++) {
        const uint8_t *wr = w + (row0 + r) * a->w_stride;
        int c = 0;
        for (; c + 2 <= ncols; c += 2) {
            const kiln_cpu_q8_k *x[2] = {(const kiln_cpu_q8_k *)mm_xq_row(a, col0 + c),
                                         (const kiln_cpu_q8_k *)mm_xq_row(a, col0 + c + 1)};
            float out[2];
            mm_q4_k_row(wr, x, blocks, 2, out);
            dots[r * rn + c] = out[0];
            dots[r * rn + c + 1] = out[1];
        }
        if (c < ncols) {
            const kiln_cpu_q8_k *x[1] = {(const kiln_cpu_q8_k *)mm_xq_row(a, col0 + c)};
            mm_q4_k_row(wr, x, blocks, 1, &dots[r * rn + c]);
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
