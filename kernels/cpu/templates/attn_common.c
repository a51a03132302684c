/* kernels/cpu/templates/attn_common.c — what flash and paged attention share:
 * loading one K or V row (head_dim elements in the spec's K/V dtype) as f32,
 * and the online-softmax update over a tile of keys for the group of query
 * heads that share a KV head (gen/math/common.h). */

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

/* Keys per tile, the spec's tn: scores of a tile are computed first, so the
 * softmax max moves (and the accumulators are rescaled) once per tile instead
 * of once per key; longer tiles keep more converted K rows in L1/L2. The
 * manifest's default is 32; the tuner's axis (gen/space.c) goes up to
 * ATTN_TILE_MAX, which the host's per-thread scratch is sized for
 * (ATTN_THREAD_SCRATCH in kernels/cpu/cpu_run.c). */
#define ATTN_TILE KILN_TN
#define ATTN_TILE_MAX 64
#if ATTN_TILE < 1 || ATTN_TILE > ATTN_TILE_MAX
#error "cpu attention: tn (keys per tile) must be 1..64: the host sizes scratch for 64"
#endif

/* Floats of per-thread scratch attn_tile needs for R query rows (queries x
 * the heads of one KV head). */
#define ATTN_SCRATCH_FLOATS(R, hd) ((R) * (hd) + ATTN_TILE * (hd) + (hd) + (R) * ATTN_TILE + 2 * (R))

/* y += p * v */
static inline void attn_axpy(float *y, float p, const float *v, int64_t n)
{
    int64_t i = 0;
#if KILN_SIMD_AVX2
    __m256 pv = _mm256_set1_ps(p);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(pv, _mm256_loadu_ps(v + i), _mm256_loadu_ps(y + i)));
#endif
    for (; i < n; i++) y[i] += p * v[i];
}

/* nq queries (rows q + i * q_tok) x the G query heads that share one KV head
 * (+ g * q_head): R = nq * G rows, row r = i * G + g, against a tile of nkeys
 * (<= ATTN_TILE) keys whose K and V rows are krow[t], vrow[t]; query i sees
 * the first nvis[i] of them (causal masking; 0: none, its state is kept).
 * Each K and V row is converted once for all rows (grouped-query attention
 * reads each KV row once, and so do the queries of a flash tile).
 * acc[r * hd ..] and the online-softmax state st[2r] = running max,
 * st[2r + 1] = running sum are updated with the shared math of
 * gen/math/common.h. kbuf: ATTN_TILE * hd floats, vbuf: hd, p: R * ATTN_TILE. */
static void attn_tile(const float *q, int64_t q_tok, int64_t q_head, int nq, int64_t G, int64_t hd, float scale,
                      const uint8_t *const *krow, const uint8_t *const *vrow, int nkeys, const int *nvis, float *acc,
                      float *st, float *kbuf, float *vbuf, float *p)
{
    for (int t = 0; t < nkeys; t++) {
        const float *k = attn_row(krow[t], kbuf + (int64_t)t * hd, hd);
        for (int i = 0; i < nq; i++)
            if (t < nvis[i])
                for (int64_t g = 0; g < G; g++)
                    p[(i * G + g) * ATTN_TILE + t] = kiln_cpu_dot_f32(q + i * q_tok + g * q_head, k, hd) * scale;
    }
    for (int i = 0; i < nq; i++) {
        int nk = nvis[i];
        if (nk <= 0) continue;
        for (int64_t r = i * G; r < (i + 1) * G; r++) {
            float *pr = p + r * ATTN_TILE, m_tile = pr[0];
            for (int t = 1; t < nk; t++) m_tile = kiln_softmax_max(m_tile, pr[t]);
            float m_new = kiln_softmax_max(st[2 * r], m_tile);
            float c = kiln_softmax_rescale(st[2 * r], m_new), l = st[2 * r + 1] * c;
            if (c != 1.0f)
                for (int64_t d = 0; d < hd; d++) acc[r * hd + d] *= c;
            for (int t = 0; t < nk; t++) {
                pr[t] = kiln_softmax_weight(pr[t], m_new);
                l += pr[t];
            }
            st[2 * r] = m_new;
            st[2 * r + 1] = l;
        }
    }
    for (int t = 0; t < nkeys; t++) {
        const float *v = attn_row(vrow[t], vbuf, hd);
        for (int i = 0; i < nq; i++)
            if (t < nvis[i])
                for (int64_t r = i * G; r < (i + 1) * G; r++) attn_axpy(acc + r * hd, p[r * ATTN_TILE + t], v, hd);
    }
}

/* Start G rows: zero accumulators, max -inf, sum 0. */
static inline void attn_begin(float *acc, float *st, int64_t G, int64_t hd)
{
    for (int64_t i = 0; i < G * hd; i++) acc[i] = 0.0f;
    for (int64_t g = 0; g < G; g++) {
        st[2 * g] = -INFINITY;
        st[2 * g + 1] = 0.0f;
    }
}

/* out rows (out + g * o_head) = acc / l (zeros when no key was visible). */
static inline void attn_finish(const float *acc, const float *st, int64_t G, int64_t hd, float *out, int64_t o_head)
{
    for (int64_t g = 0; g < G; g++) {
        float inv = st[2 * g + 1] > 0.0f ? 1.0f / st[2 * g + 1] : 0.0f;
        for (int64_t d = 0; d < hd; d++) out[g * o_head + d] = acc[g * hd + d] * inv;
    }
}
