/* kernels/cpu/templates/matmul_generic.c — the generic matmul path: a tile of
 * W rows dequantized to f32, then f32 dots. It serves every format on every
 * ISA, using the one shared description of each format (kiln_dequant from
 * gen/math/dequant.h) — except f32/f16 rows, which are converted directly. */
#if !MM_PATH_DIRECT

/* Rows row0 .. row0+nrows-1 of w as f32 into out (MM_RM rows of k; a partial
 * tile repeats its last row so the dot kernels always see MM_RM rows). */
static void mm_dequant_rows(const kiln_cpu_matmul_args *a, const uint8_t *w, int64_t row0, int nrows, float *out)
{
    int64_t k = a->k, blocks = k / KILN_FMT_BLOCK;
    for (int r = 0; r < MM_RM; r++) {
        const uint8_t *src = w + (row0 + (r < nrows ? r : nrows - 1)) * a->w_stride;
        float *dst = out + (size_t)r * (size_t)k;
#if defined(KILN_FMT_F32)
        memcpy(dst, src, (size_t)k * 4);
        (void)blocks;
#elif defined(KILN_FMT_F16) && KILN_SIMD_AVX2
        int64_t i = 0;
        for (; i + 8 <= k; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
        for (; i < k; i++) dst[i] = kiln_cpu_f16(src + 2 * i);
        (void)blocks;
#else
        for (int64_t b = 0; b < blocks; b++) {
            kiln_u32 off = (kiln_u32)(b * KILN_FMT_BYTES);
            for (int i = 0; i < KILN_FMT_BLOCK; i++) dst[b * KILN_FMT_BLOCK + i] = kiln_dequant(src, off, i);
        }
#endif
    }
}

/* dots[r * MM_RN + c] = rows[r] · x[col0 + c] for c < ncols (rows of a
 * partial tile are repeats of its last row; the driver ignores them). */
static void mm_f32_tile(const kiln_cpu_matmul_args *a, const float *rows, int nrows, int64_t col0, int ncols,
                        float *dots)
{
    int64_t k = a->k;
    for (int c = 0; c < ncols; c++) {
        const float *x = a->x + (col0 + c) * a->x_stride;
        for (int r = 0; r < nrows; r++) dots[r * MM_RN + c] = kiln_cpu_dot_f32(rows + (size_t)r * (size_t)k, x, k);
    }
}

#endif
