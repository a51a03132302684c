/* kernels/cpu/templates/matmul_panel.c — the mat-mat (n >= 3) kernel of the
 * int8 formats on AVX2: a panel of 8 weight rows against every column (token)
 * of an L2 column block. q4_0, q4_1, q5_0, q5_1, q8_0 (q8_0 activations) and
 * q4_K, q5_K, q6_K (q8_K activations).
 *
 * Why a panel: the micro-tiles of matmul_int8.c pay, per 32-element block and
 * (row, column) pair, an int32 -> f32 convert and an FMA, plus scalar work for
 * the scales; those, not the multiplies, bounded them (about 12 int8 products
 * per cycle). Here a chunk of MM_KC blocks of 32 values of 8 rows is expanded
 * once into the worker's scratch, interleaved so that one 32-byte vector holds
 * 4 consecutive values of each of the 8 rows ("dword j of row r" in lane r),
 * with the 8 rows' scales (and minimums) of the block as floats beside it.
 * Every column then takes each group of 4 activations by one broadcast, one
 * maddubs gives 8 rows' partial dots at once, and the convert + FMA happen
 * once per block for 8 rows. The expansion is paid once per chunk and shared
 * by all the block's columns; the chunk (20 KiB) stays in L1 while they run.
 * Columns go 4 at a time so each expanded vector is loaded once for 4 maddubs.
 * A q4_K/q5_K super-block expands into 8 such blocks: its 6-bit sub-block
 * scale times d is the block's scale, -dmin times the 6-bit min its minimum.
 * q6_K has a scale per 16 values, so its blocks are of 16 (4 vectors), and
 * its -32 offset comes off through the q8_K group sums of 16.
 *
 * Integer bounds: maddubs gives pairs of (unsigned weight x int8 activation);
 * 4-bit weights (0..15): 2 * 15 * 128 = 3840 a pair; 5-bit (0..31): 7936, so
 * 4 results add in int16 (31744 < 32767); 6-bit (0..63): 16128, 2 of them;
 * q8_0 weights are signed
 * (|w| times x with w's sign, kiln_cpu_dot_i8's trick): each result is widened
 * at once. */
#if MM_PATH_INT8 && KILN_FMT_PANEL
#define MM_PANELS 1

/* Values per block (MM_PB, MM_PJ vectors of 4 per row) and blocks per chunk
 * (MM_KC: 2048 values, 8 K-quant super-blocks). */
#if defined(KILN_FMT_Q6_K)
#define MM_PB 16
#else
#define MM_PB 32
#endif
#define MM_PJ (MM_PB / 4)
#define MM_KC (2048 / MM_PB)
#define MM_PANEL_ROWS 8
#if MM_PATH_Q8_K && !defined(KILN_FMT_Q6_K)
#define MM_PANEL_HAS_MIN 1
#elif MM_PATH_Q8_K
#define MM_PANEL_HAS_MIN 0
#else
#define MM_PANEL_HAS_MIN MM_W_HAS_MIN
#endif
/* Weights stored with an offset: w = d (q - o), applied as d (sum q x - o s)
 * with s the sum of the activation block's values. */
#if defined(KILN_FMT_Q6_K)
#define MM_PANEL_OFFSET 32.0f
#elif MM_PATH_Q8_0
#define MM_PANEL_OFFSET MM_W_OFFSET
#else
#define MM_PANEL_OFFSET 0.0f
#endif
/* One expanded block of 8 rows: MM_PJ vectors of interleaved values, the 8
 * row scales, then (q4_1, q5_1, q4_K, q5_K) the 8 row minimums (w = d q + m). */
#define MM_PACK_BYTES (8 * MM_PB + 32 + 32 * MM_PANEL_HAS_MIN)
/* Thread scratch the panel takes: the expanded chunk, then the f32
 * accumulators of 8 rows x the column block, for w and w_up. */
#define MM_PANEL_SCRATCH ((size_t)MM_KC * MM_PACK_BYTES + 2 * 8 * (size_t)MM_NB * sizeof(float))
/* what cpu_run.c's MATMUL_THREAD_SCRATCH guarantees beyond 64 k bytes; tn is
 * at most 256 on the cpu (kiln_spec_validate) */
_Static_assert(MM_PANEL_SCRATCH <= 65536, "cpu matmul panels: tn too large for the thread scratch");

/* maddubs results added in int16 before one madd widens them: 4 for 4- and
 * 5-bit weights (the bound above; 8 would fit 4-bit, but makes one dependent
 * chain of 8 adds per column: q4_0 n=512 256 -> 293 GFLOP/s with 4), 1 for
 * q8_0 */
#if defined(KILN_FMT_Q8_0)
#define MM_PANEL_I16_SUMS 1
#elif defined(KILN_FMT_Q6_K)
#define MM_PANEL_I16_SUMS 2
#else
#define MM_PANEL_I16_SUMS 4
#endif

/* Activation block b (of MM_PB values) of a quantized row: its int8 values,
 * its scale, its scale times the sum of its values (MM_X_DSUM, for minimums)
 * and the sum of its values (MM_X_S, for offsets). (Macros, not typedefs: the
 * cpu bundle namespaces an instance's functions and undefines its macros,
 * gen/bundle_cpu.c, so a typedef would clash with the next instance's.) */
#if MM_PATH_Q8_0
#define mm_xblock kiln_cpu_q8_0
#define MM_X_QS(x, b) ((x)[b].qs)
#define MM_X_D(x, b) ((x)[b].d)
#define MM_X_DSUM(x, b) ((x)[b].d * (x)[b].s)
#define MM_X_S(x, b) ((x)[b].s)
#elif defined(KILN_FMT_Q6_K)
#define mm_xblock kiln_cpu_q8_k
#define MM_X_QS(x, b) ((x)[(b) >> 4].qs + 16 * ((b) & 15))
#define MM_X_D(x, b) ((x)[(b) >> 4].d[((b) & 15) >> 1])
#define MM_X_S(x, b) ((float)(x)[(b) >> 4].bsums[(b) & 15])
#else
#define mm_xblock kiln_cpu_q8_k
#define MM_X_QS(x, b) ((x)[(b) >> 3].qs + 32 * ((b) & 7))
#define MM_X_D(x, b) ((x)[(b) >> 3].d[(b) & 7])
#define MM_X_DSUM(x, b) ((x)[(b) >> 3].dsum[(b) & 7])
#define MM_X_S(x, b) 0.0f
#endif

/* The 8x8 transpose of dwords: out[j] lane r = in[r] lane j. */
static inline __attribute__((always_inline)) void mm_transpose8(const __m256i in[8], __m256i out[8])
{
    __m256i t[8], u[8];
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m256i *v = in + 4 * h;
        t[4 * h + 0] = _mm256_unpacklo_epi32(v[0], v[1]);
        t[4 * h + 1] = _mm256_unpackhi_epi32(v[0], v[1]);
        t[4 * h + 2] = _mm256_unpacklo_epi32(v[2], v[3]);
        t[4 * h + 3] = _mm256_unpackhi_epi32(v[2], v[3]);
        u[4 * h + 0] = _mm256_unpacklo_epi64(t[4 * h + 0], t[4 * h + 2]); /* dwords 0 and 4 of rows 4h.. */
        u[4 * h + 1] = _mm256_unpackhi_epi64(t[4 * h + 0], t[4 * h + 2]); /* 1 and 5 */
        u[4 * h + 2] = _mm256_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]); /* 2 and 6 */
        u[4 * h + 3] = _mm256_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]); /* 3 and 7 */
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        out[j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x20);
        out[j + 4] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x31);
    }
}

#if MM_PATH_Q8_0
/* Expand blocks [b0, b0 + nb) of the 8 rows wr[] into pack. */
static void mm_pack8(const uint8_t *const wr[8], int64_t b0, int nb, int64_t ahead, uint8_t *pack)
{
    for (int bb = 0; bb < nb; bb++) {
        int64_t off = (b0 + bb) * KILN_FMT_BYTES;
        uint8_t *pb = pack + (size_t)bb * MM_PACK_BYTES;
        __m256i v[8], o[8];
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            MM_PREFETCH(wr[r] + off, ahead);
            v[r] = mm_w_block(wr[r] + off);
        }
        mm_transpose8(v, o);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) _mm256_storeu_si256((__m256i *)(pb + 32 * j), o[j]);
        _mm_storeu_ps((float *)(pb + 256), mm_scales4(wr, off));
        _mm_storeu_ps((float *)(pb + 272), mm_scales4(wr + 4, off));
#if MM_W_HAS_MIN
        _mm_storeu_ps((float *)(pb + 288), mm_scales4(wr, off + 2));
        _mm_storeu_ps((float *)(pb + 304), mm_scales4(wr + 4, off + 2));
#endif
    }
}
#elif defined(KILN_FMT_Q6_K)
/* Expand blocks [b0, b0 + nb) (whole super-blocks, 16 blocks of 16 each) of
 * the 8 rows wr[] into pack. A q6_K value is 4 low bits from ql and 2 high
 * bits from qh (gen/math/dequant.h); group t of 32 values of half n is
 * elements 128 n + 32 t.., blocks 8 n + 2 t and 8 n + 2 t + 1. */
static void mm_pack8(const uint8_t *const wr[8], int64_t b0, int nb, int64_t ahead, uint8_t *pack)
{
    const __m256i low = _mm256_set1_epi8(0x0f), two = _mm256_set1_epi8(0x03);
    for (int sb = 0; sb < nb / 16; sb++) {
        int64_t off = (b0 / 16 + sb) * KILN_FMT_BYTES;
        uint8_t *pb = pack + (size_t)sb * 16 * MM_PACK_BYTES;
        __m256i v[8], o[8];
        /* scales d * sc[g] of the 16 blocks: two transposes of 8 */
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++) {
                const uint8_t *blk = wr[r] + off;
                if (h == 0)
                    for (int l = 0; l < KILN_FMT_BYTES; l += 64) MM_PREFETCH(blk + l, ahead);
                __m128i sc = _mm_loadl_epi64((const __m128i *)(blk + 192 + 8 * h));
                v[r] = _mm256_castps_si256(_mm256_mul_ps(_mm256_set1_ps(kiln_cpu_f16(blk + 208)),
                                                         _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc))));
            }
            mm_transpose8(v, o);
#pragma GCC unroll 8
            for (int g = 0; g < 8; g++)
                _mm256_storeu_si256((__m256i *)(pb + (8 * h + g) * MM_PACK_BYTES + 8 * MM_PB), o[g]);
        }
        for (int n = 0; n < 2; n++)
            for (int t = 0; t < 4; t++) {
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++) {
                    const uint8_t *blk = wr[r] + off;
                    __m256i l = _mm256_loadu_si256((const __m256i *)(blk + 64 * n + 32 * (t & 1)));
                    __m256i h = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * n));
                    if (t >= 2) l = _mm256_srli_epi16(l, 4);
                    v[r] = _mm256_or_si256(_mm256_and_si256(l, low),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * t), two), 4));
                }
                mm_transpose8(v, o);
                /* dwords 0..3 are the first block's 16 values, 4..7 the second's */
                uint8_t *p0 = pb + (8 * n + 2 * t) * MM_PACK_BYTES;
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    _mm256_storeu_si256((__m256i *)(p0 + 32 * j), o[j]);
                    _mm256_storeu_si256((__m256i *)(p0 + MM_PACK_BYTES + 32 * j), o[j + 4]);
                }
            }
    }
}
#else
/* Expand blocks [b0, b0 + nb) (whole super-blocks) of the 8 rows wr[] into
 * pack: sub-block s of a super-block is block 8 sb + s, with scale d * sc[s]
 * and minimum -dmin * m[s]. */
static void mm_pack8(const uint8_t *const wr[8], int64_t b0, int nb, int64_t ahead, uint8_t *pack)
{
    const __m256i low = _mm256_set1_epi8(0x0f);
#if defined(KILN_FMT_Q5_K)
    const __m256i one = _mm256_set1_epi8(1);
#endif
    for (int sb = 0; sb < nb / 8; sb++) {
        int64_t off = (b0 / 8 + sb) * KILN_FMT_BYTES;
        uint8_t *pb = pack + (size_t)sb * 8 * MM_PACK_BYTES;
        __m256i v[8], o[8];
        /* the rows' scales and minimums per sub-block (8 floats each), transposed
         * into each sub-block's 8 rows */
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            const uint8_t *blk = wr[r] + off;
            for (int l = 0; l < KILN_FMT_BYTES; l += 64) MM_PREFETCH(blk + l, ahead);
            __m128i sm = mm_q4_k_scales_mins(blk + 4);
            v[r] = _mm256_castps_si256(
                _mm256_mul_ps(_mm256_set1_ps(kiln_cpu_f16(blk)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sm))));
            o[r] = _mm256_castps_si256(_mm256_mul_ps(_mm256_set1_ps(-kiln_cpu_f16(blk + 2)),
                                                     _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8)))));
        }
        __m256i t[8];
        mm_transpose8(v, t);
#pragma GCC unroll 8
        for (int s = 0; s < 8; s++) _mm256_storeu_si256((__m256i *)(pb + s * MM_PACK_BYTES + 256), t[s]);
        mm_transpose8(o, t);
#pragma GCC unroll 8
        for (int s = 0; s < 8; s++) _mm256_storeu_si256((__m256i *)(pb + s * MM_PACK_BYTES + 288), t[s]);
        /* the values: 32 bytes of nibbles give sub-blocks 2 c4 (low) and 2 c4 + 1 (high) */
        for (int c4 = 0; c4 < 4; c4++) {
            __m256i hi[8];
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++) {
                const uint8_t *blk = wr[r] + off;
#if defined(KILN_FMT_Q5_K)
                /* q5_K: qh[32] before the nibbles; bit s of qh[l] is bit 4 of element l of sub-block s */
                __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 48 + 32 * c4));
                __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 16));
                v[r] = _mm256_or_si256(_mm256_and_si256(q, low),
                                       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c4), one), 4));
                hi[r] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low),
                                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c4 + 1), one), 4));
#else
                __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * c4));
                v[r] = _mm256_and_si256(q, low);
                hi[r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
#endif
            }
            mm_transpose8(v, o);
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) _mm256_storeu_si256((__m256i *)(pb + 2 * c4 * MM_PACK_BYTES + 32 * j), o[j]);
            mm_transpose8(hi, o);
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                _mm256_storeu_si256((__m256i *)(pb + (2 * c4 + 1) * MM_PACK_BYTES + 32 * j), o[j]);
        }
    }
}
#endif

/* acc[c] (8 rows) += the expanded chunk · column c's activation blocks, x[c]
 * being column c's quantized row and b0 the chunk's first block. */
static inline __attribute__((always_inline)) void mm_panel_cols(const uint8_t *pack, int64_t b0, int nb,
                                                                const mm_xblock *const *x, const int NC,
                                                                __m256 *acc)
{
    const __m256i ones = _mm256_set1_epi16(1);
    for (int bb = 0; bb < nb; bb++) {
        const uint8_t *pb = pack + (size_t)bb * MM_PACK_BYTES;
        __m256i sum[4];
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) sum[c] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int j0 = 0; j0 < MM_PJ; j0 += MM_PANEL_I16_SUMS) {
            __m256i p16[4];
#pragma GCC unroll 4
            for (int c = 0; c < NC; c++) p16[c] = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int j = j0; j < j0 + MM_PANEL_I16_SUMS; j++) {
                __m256i w = _mm256_loadu_si256((const __m256i *)(pb + 32 * j));
#if defined(KILN_FMT_Q8_0)
                __m256i aw = _mm256_sign_epi8(w, w);
#endif
#pragma GCC unroll 4
                for (int c = 0; c < NC; c++) {
                    int32_t x4;
                    memcpy(&x4, MM_X_QS(x[c], b0 + bb) + 4 * j, 4);
                    __m256i xb = _mm256_set1_epi32(x4);
#if defined(KILN_FMT_Q8_0)
                    p16[c] = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xb, w));
#else
                    p16[c] = _mm256_add_epi16(p16[c], _mm256_maddubs_epi16(w, xb));
#endif
                }
            }
#pragma GCC unroll 4
            for (int c = 0; c < NC; c++) sum[c] = _mm256_add_epi32(sum[c], _mm256_madd_epi16(p16[c], ones));
        }
        __m256 dw = _mm256_loadu_ps((const float *)(pb + 8 * MM_PB));
#if MM_PANEL_HAS_MIN
        __m256 mw = _mm256_loadu_ps((const float *)(pb + 8 * MM_PB + 32));
#endif
#pragma GCC unroll 4
        for (int c = 0; c < NC; c++) {
            __m256 dot = _mm256_cvtepi32_ps(sum[c]);
            /* q4_0, q5_0, q6_K: sum (q - o) x = sum q x - o s */
            if (MM_PANEL_OFFSET != 0.0f) dot = _mm256_sub_ps(dot, _mm256_set1_ps(MM_PANEL_OFFSET * MM_X_S(x[c], b0 + bb)));
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(MM_X_D(x[c], b0 + bb))), dot, acc[c]);
#if MM_PANEL_HAS_MIN
            /* w = d q + m: + m * (x's scale times the sum of its values) */
            acc[c] = _mm256_fmadd_ps(mw, _mm256_set1_ps(MM_X_DSUM(x[c], b0 + bb)), acc[c]);
#endif
        }
    }
}

/* out[c * 8 + r] = row (row0 + r) of w · column (col0 + c), for r < nrows,
 * c < ncols; rows past nrows repeat the last one (out holds 8 per column). */
static void mm_panel(const kiln_cpu_matmul_args *a, const uint8_t *w, int64_t row0, int nrows, int64_t col0,
                     int ncols, uint8_t *pack, float *out)
{
    const uint8_t *wr[8];
    for (int r = 0; r < 8; r++) wr[r] = w + (row0 + (r < nrows ? r : nrows - 1)) * a->w_stride;
    for (int i = 0; i < 8 * ncols; i++) out[i] = 0.0f;
    int64_t blocks = a->k / MM_PB, ahead = 8 * a->w_stride; /* the next panel's rows */
    for (int64_t b0 = 0; b0 < blocks; b0 += MM_KC) {
        int nb = (int)(blocks - b0 < MM_KC ? blocks - b0 : MM_KC);
        mm_pack8(wr, b0, nb, ahead, pack);
        int c = 0;
        /* 4 columns at a time, then 2, then 1: the tail's width is exact */
#define MM_PANEL_GROUP(NC)                                                                          \
    for (; c + (NC) <= ncols; c += (NC)) {                                                          \
        const mm_xblock *x[4];                                                                      \
        __m256 acc[4];                                                                              \
        for (int i = 0; i < (NC); i++) {                                                            \
            x[i] = (const mm_xblock *)mm_xq_row(a, col0 + c + i);                                   \
            acc[i] = _mm256_loadu_ps(out + 8 * (c + i));                                            \
        }                                                                                           \
        mm_panel_cols(pack, b0, nb, x, (NC), acc);                                                  \
        for (int i = 0; i < (NC); i++) _mm256_storeu_ps(out + 8 * (c + i), acc[i]);                 \
    }
        MM_PANEL_GROUP(4)
        MM_PANEL_GROUP(2)
        MM_PANEL_GROUP(1)
#undef MM_PANEL_GROUP
    }
}

#endif /* the panel formats */
#ifndef MM_PANELS
#define MM_PANELS 0
#endif
