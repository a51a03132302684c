/* kernels/cpu/templates/attn_common.c — what flash and paged attention share:
 * loading one K or V row (head_dim elements in the spec's K/V dtype) as f32,
 * and the online-softmax step over one key (gen/math/common.h). */

/* Row of head_dim elements at p as f32: in place for f32, else converted into buf. */
static inline const float *attn_row(const uint8_t *p, float *buf, int64_t hd)
{
#if defined(KILN_FMT_F32)
    (void)buf;
    (void)hd;
    return (const float *)p;
#else
#if defined(KILN_FMT_F16) && KILN_SIMD_AVX2
    int64_t i = 0;
    for (; i + 8 <= hd; i += 8) _mm256_storeu_ps(buf + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i))));
    for (; i < hd; i++) buf[i] = kiln_cpu_f16(p + 2 * i);
#else
    for (int64_t b = 0; b < hd / KILN_FMT_BLOCK; b++)
        for (int i = 0; i < KILN_FMT_BLOCK; i++)
            buf[b * KILN_FMT_BLOCK + i] = kiln_dequant(p, (kiln_u32)(b * KILN_FMT_BYTES), i);
#endif
    return buf;
#endif
}

/* Fold key (score s, value row v) into acc[hd] and the online-softmax state
 * st = {running max, running sum}; start from {-inf, 0}. (An array, not a
 * struct: a bundle holds many instances in one translation unit and types
 * cannot be renamed per instance.) */
static inline void attn_step(float st[2], float *acc, float s, const float *v, int64_t hd)
{
    float m_new = kiln_softmax_max(st[0], s);
    float c = kiln_softmax_rescale(st[0], m_new);
    float p = kiln_softmax_weight(s, m_new);
    st[1] = st[1] * c + p;
    st[0] = m_new;
    kiln_cpu_scale_add(acc, c, p, v, hd);
}

/* out = acc / l (zeros when no key was visible). */
static inline void attn_finish(const float st[2], const float *acc, float *out, int64_t hd)
{
    float inv = st[1] > 0.0f ? 1.0f / st[1] : 0.0f;
    for (int64_t i = 0; i < hd; i++) out[i] = acc[i] * inv;
}
