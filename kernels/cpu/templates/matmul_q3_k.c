/* kernels/cpu/templates/matmul_q3_k.c — one row of q3_K super-blocks · NC
 * rows of q8_K blocks (AVX2), included by matmul_int8.c for KILN_FMT_Q3_K.
 *
 * mm_q6_k_row's scheme with q3_K's bits (gen/math/dequant.h): an element is
 * 2 low bits from qs and a high bit from hmask, 0..7 with an offset of -4
 * (ggml stores "high bit clear" as -4), and a 6-bit scale (minus 32) per 16
 * elements, the q8_K group size. So the 3-bit values enter maddubs unsigned
 * and the offset comes off per 32 values as 4 * (sc[2i] bsums[2i] +
 * sc[2i+1] bsums[2i+1]). Bounds: maddubs pairs 2 * 7 * 128 < 2^15; madd with
 * |sc| <= 32 stays far inside int32. */
#if MM_PATH_Q8_K && defined(KILN_FMT_Q3_K)
/* The 16 scales (sc - 32, -32..31) of a super-block from its 12 packed bytes. */
static inline __m256i mm_q3_k_scales(const uint8_t *packed)
{
    int16_t sc[16] __attribute__((aligned(32)));
    for (int s = 0; s < 16; s++) {
        int lo = (packed[s & 7] >> (4 * (s >> 3))) & 15, hi = (packed[8 + (s & 3)] >> (2 * (s >> 2))) & 3;
        sc[s] = (int16_t)((lo | hi << 4) - 32);
    }
    return _mm256_load_si256((const __m256i *)sc);
}

static inline __attribute__((always_inline)) void mm_q3_k_row(const uint8_t *wr, const kiln_cpu_q8_k *const *xq,
                                                              int64_t blocks, int64_t ahead, const int NC, float *out)
{
    const __m256i three = _mm256_set1_epi8(0x03), one = _mm256_set1_epi8(0x01);
    const int NACC = NC == 1 ? 4 : 2; /* independent FMA chains, as mm_q6_k_row */
    __m256 acc[2][4];
#pragma GCC unroll 2
    for (int c = 0; c < NC; c++)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) acc[c][i] = _mm256_setzero_ps();
    float ds[2][8] __attribute__((aligned(32))); /* d * dx[i] per 32 values */
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = wr + b * KILN_FMT_BYTES, *hmask = blk, *qs = blk + 32;
        for (int l = 0; l < KILN_FMT_BYTES; l += 64) MM_PREFETCH(blk + l, ahead);
        int16_t sc[16] __attribute__((aligned(32)));
        __m256i sc16 = mm_q3_k_scales(blk + 96);
        _mm256_store_si256((__m256i *)sc, sc16);
        __m256 d = _mm256_set1_ps(kiln_cpu_f16(blk + 108));
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++) {
            const kiln_cpu_q8_k *x = xq[c] + b;
            __m256 dd = _mm256_mul_ps(d, _mm256_loadu_ps(x->d));
            _mm256_store_ps(ds[c], dd);
            __m256i offset = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x->bsums), sc16);
            acc[c][0] = _mm256_fnmadd_ps(_mm256_mul_ps(dd, _mm256_set1_ps(4.0f)), _mm256_cvtepi32_ps(offset), acc[c][0]);
        }
        const __m256i hm = _mm256_loadu_si256((const __m256i *)hmask);
#pragma GCC unroll 2
        for (int n = 0; n < 2; n++) {
            const __m256i ql = _mm256_loadu_si256((const __m256i *)(qs + 32 * n));
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++) {
                /* (16-bit shifts: the masks keep each byte's own bits) */
                __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql, 2 * t), three),
                                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * n + t), one), 2));
                int g = 8 * n + 2 * t; /* scales of elements 0..15 and 16..31 of this group of 32 */
                __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[g + 1]), _mm_set1_epi16(sc[g]));
#pragma GCC unroll 2
                for (int c = 0; c < NC; c++) {
                    __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[c][b].qs + 128 * n + 32 * t));
                    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, xv), s);
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
#endif
