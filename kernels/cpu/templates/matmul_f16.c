/* kernels/cpu/templates/matmul_f16.c — f16 weights on AVX2: 4 rows against
 * one activation column at a time, each 8 weights converted with F16C
 * (vcvtph2ps) and multiplied into an f32 FMA accumulator. The activation
 * vector is loaded once for the 4 rows. */
#if MM_PATH_F16

/* dots[r * rn + c] for rows row0.. (nrows) x columns col0.. (ncols). */
static void mm_f16_tile(const kiln_cpu_matmul_args *a, const uint8_t *w, int64_t row0, int nrows, int64_t col0,
                        int ncols, int rn, float *dots)
{
    int64_t k = a->k;
    const uint8_t *wr[4];
    for (int r = 0; r < 4; r++) wr[r] = w + (row0 + (r < nrows ? r : nrows - 1)) * a->w_stride;
    for (int c = 0; c < ncols; c++) {
        const float *x = a->x + (col0 + c) * a->x_stride;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        int64_t i = 0;
        for (; i + 8 <= k; i += 8) {
            __m256 xv = _mm256_loadu_ps(x + i);
            acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wr[0] + 2 * i))), xv, acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wr[1] + 2 * i))), xv, acc1);
            acc2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wr[2] + 2 * i))), xv, acc2);
            acc3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wr[3] + 2 * i))), xv, acc3);
        }
        float d[4] = {kiln_cpu_hsum256(acc0), kiln_cpu_hsum256(acc1), kiln_cpu_hsum256(acc2), kiln_cpu_hsum256(acc3)};
        for (; i < k; i++)
            for (int r = 0; r < 4; r++) d[r] += kiln_cpu_f16(wr[r] + 2 * i) * x[i];
        for (int r = 0; r < nrows; r++) dots[r * rn + c] = d[r];
    }
}

#endif
