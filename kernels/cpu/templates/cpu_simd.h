/* kernels/cpu/templates/cpu_simd.h — ISA setup and helpers shared by the cpu
 * op templates: the intrinsics, activation quantizers (q8_0-style blocks of 32
 * for the legacy formats, q8_K-style super-blocks of 256 for K-quants, as GGUF
 * engines do, with a scale per 32) and small reductions.
 *
 * This file depends only on the ISA macros (KILN_ISA_*), never on the format,
 * op or tile macros, so a bundle of instances of one ISA shares a single copy
 * (gen/bundle_cpu.c); that is also why the block types live here and not in a
 * template. The ISA is switched on with #pragma GCC target so an emitted
 * source compiles with any flags; the bundle is built with the same flags too. */
#ifndef KILN_CPU_SIMD_H
#define KILN_CPU_SIMD_H

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#if defined(KILN_ISA_AVX512)
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")
#define KILN_SIMD_AVX2 1
#define KILN_SIMD_AVX512 1
#elif defined(KILN_ISA_AVX2)
#pragma GCC target("avx2,fma,f16c")
#define KILN_SIMD_AVX2 1
#endif
#endif
#ifndef KILN_SIMD_AVX2
#define KILN_SIMD_AVX2 0
#endif
#ifndef KILN_SIMD_AVX512
#define KILN_SIMD_AVX512 0
#endif
#if KILN_SIMD_AVX2
#include <immintrin.h>
#endif

#if KILN_SIMD_AVX2
static inline float kiln_cpu_hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Sum of the products of 32 signed bytes as 8 int32 lanes (signed x signed via
 * maddubs, which wants its first operand unsigned: |a| times b with a's sign). */
static inline __m256i kiln_cpu_dot_i8(__m256i a, __m256i b)
{
    __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}
#endif

/* Activations quantized for integer dot products. */
typedef struct kiln_cpu_q8_0 {
    float d;          /* scale: x ≈ d * qs */
    float s;          /* sum of qs: formats with an offset (q4_0's -8) fold it in through this */
    int8_t qs[32];
} kiln_cpu_q8_0;

/* Like GGUF's q8_K (256 values with group sums for the K-quant mins), but with
 * a two-level scale: sub-block s of 32 values has the step D * u[s], with u[s]
 * an integer of at most 255. One scale per 256 (GGUF's) is ~1.4x coarser for
 * Gaussian values — the largest of 256 sets it — and that error dominated the
 * K-quant dot products; a float scale per 32 (kiln's first q8_K) keeps the
 * precision but costs a convert and an FMA per 32 values in the dot product.
 * With integer sub-scales the q4_K dot multiplies u[s] into the weight's 6-bit
 * sub-block scale (16-bit lanes) and sums a whole super-block in int32, as
 * GGUF engines do, while each step stays within 1/u[s] of the per-32 one. */
typedef struct kiln_cpu_q8_k {
    float d[8];        /* step of each 32 values: exactly D * u[s] */
    float dsum[8];     /* d[s] * sum of the 32 qs: what the q4_K/q5_K mins multiply */
    float D;           /* super-block step */
    int16_t u[8];      /* sub-block multipliers, 0..255 */
    int8_t qs[256];
    int16_t bsums[16]; /* sums of qs in groups of 16: the K-quant mins need them */
} kiln_cpu_q8_k;

static inline float kiln_cpu_round(float v) { return v >= 0.0f ? (float)(int)(v + 0.5f) : -(float)(int)(-v + 0.5f); }

/* max |x[i]| over 32 values. */
static inline float kiln_cpu_amax32(const float *x)
{
#if KILN_SIMD_AVX2
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x)),
                                            _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8))),
                              _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)),
                                            _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24))));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    return _mm_cvtss_f32(m4);
#else
    float amax = 0.0f;
    for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
    return amax;
#endif
}

/* qs[i] = round(x[i] * id) for 32 values (|x * id| <= 127 by the caller's
 * choice of id); returns the sum of the qs. */
static inline int kiln_cpu_quantize32(const float *x, float id, int8_t *qs)
{
#if KILN_SIMD_AVX2
    __m256 mul = _mm256_set1_ps(id);
    /* round to nearest (ties to even: within 1 ulp of the scalar path's ties away) */
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), mul)),
            i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), mul)),
            i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), mul)),
            i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), mul));
    __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
    __m256i p = _mm256_packs_epi16(p01, p23);
    /* the packs interleave 128-bit lanes: put the dwords back in order */
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)qs, p);
    __m256i sum = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p), _mm256_set1_epi16(1));
    return (int)kiln_cpu_hsum256(_mm256_cvtepi32_ps(sum));
#else
    int sum = 0;
    for (int i = 0; i < 32; i++) {
        qs[i] = (int8_t)kiln_cpu_round(x[i] * id);
        sum += qs[i];
    }
    return sum;
#endif
}

/* x[32] -> one q8_0 block (symmetric, round to nearest). */
static inline void kiln_cpu_quantize_q8_0(const float *x, kiln_cpu_q8_0 *out)
{
    float amax = kiln_cpu_amax32(x);
    out->d = amax / 127.0f;
    out->s = (float)kiln_cpu_quantize32(x, amax > 0.0f ? 127.0f / amax : 0.0f, out->qs);
}

/* x[256] -> one q8_K block: D from the largest |x| of the 256, then each
 * sub-block takes the smallest u[s] whose step D * u[s] still maps its own
 * largest |x| within 127 (so no value clips), plus the group sums. */
static inline void kiln_cpu_quantize_q8_k(const float *x, kiln_cpu_q8_k *out)
{
    float amax[8], top = 0.0f;
    for (int s = 0; s < 8; s++) {
        amax[s] = kiln_cpu_amax32(x + 32 * s);
        top = fmaxf(top, amax[s]);
    }
    out->D = top / (127.0f * 255.0f);
    for (int s = 0; s < 8; s++) {
        int u = top > 0.0f ? (int)ceilf(255.0f * amax[s] / top) : 0;
        u = u > 255 ? 255 : u;
        out->u[s] = (int16_t)u;
        out->d[s] = out->D * (float)u;
        float id = u > 0 ? 1.0f / out->d[s] : 0.0f;
        out->dsum[s] = out->d[s] * (float)kiln_cpu_quantize32(x + 32 * s, id, out->qs + 32 * s);
    }
    for (int g = 0; g < 16; g++) {
        int sum = 0;
        for (int i = 0; i < 16; i++) sum += out->qs[16 * g + i];
        out->bsums[g] = (int16_t)sum;
    }
}

static inline float kiln_cpu_f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
#if KILN_SIMD_AVX2
    return _cvtsh_ss(h);
#else
    return kiln_h2f_(h);
#endif
}

/* Dot of two f32 vectors of length k. */
static inline float kiln_cpu_dot_f32(const float *a, const float *b, int64_t k)
{
    int64_t i = 0;
#if KILN_SIMD_AVX2
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (; i + 16 <= k; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    float s = kiln_cpu_hsum256(_mm256_add_ps(s0, s1));
#else
    float p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; i + 8 <= k; i += 8)
        for (int j = 0; j < 8; j++) p[j] += a[i + j] * b[i + j];
    float s = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
#endif
    for (; i < k; i++) s += a[i] * b[i];
    return s;
}

#endif
