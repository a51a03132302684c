/* kernels/cpu/cpu_convert.c — dtype passes between caller tensors and the f32 kernels. */
#include <string.h>

#include "kernels/core/backend.h"
#include "kernels/cpu/cpu_convert.h"
#include "kernels/cpu/cpu_features.h"

/* f16 <-> f32 rows with F16C when the CPU has it (this file is built for the
 * baseline ISA, so the fast versions carry their own target attribute and are
 * only called after the cpuid check). Both round to nearest even, as the
 * scalar kiln_f32_to_f16 does. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define HAVE_F16C_PATH 1
__attribute__((target("avx,f16c"))) static void f16_to_f32_f16c(const uint8_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = kiln_f16_to_f32(h);
    }
}

__attribute__((target("avx,f16c"))) static void f32_to_f16_f16c(const float *src, uint8_t *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + 2 * i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) {
        uint16_t h = kiln_f32_to_f16(src[i]);
        memcpy(dst + 2 * i, &h, 2);
    }
}
#else
#define HAVE_F16C_PATH 0
#endif

static int use_f16c(void)
{
#if HAVE_F16C_PATH
    const kiln_cpu_features *f = kiln_cpu_features_get();
    return f->f16c && f->os_avx;
#else
    return 0;
#endif
}

kiln_cpu_rows kiln_cpu_rows_of(const kiln_tensor *t)
{
    kiln_cpu_rows r = {t, 1, t->ndim > 0 ? t->ne[t->ndim - 1] : 1};
    for (int d = 0; d + 1 < t->ndim; d++) r.rows *= t->ne[d];
    return r;
}

uint8_t *kiln_cpu_row_ptr(const kiln_tensor *t, int64_t r)
{
    int64_t off = (int64_t)t->offset;
    for (int d = t->ndim - 2; d >= 0; d--) {
        int64_t i = r % t->ne[d];
        r /= t->ne[d];
        off += i * t->nb[d];
    }
    return (uint8_t *)t->buf->host + off;
}

int kiln_cpu_f32_in_place(const kiln_tensor *t, int64_t *stride)
{
    if (t->dtype != KILN_F32) return 0;
    if (t->ndim <= 1) {
        *stride = t->ndim == 1 ? t->ne[0] : 1;
        return 1;
    }
    /* rows equally spaced: each outer stride is the next one times its extent */
    for (int d = 0; d + 2 < t->ndim; d++)
        if (t->nb[d] != t->nb[d + 1] * t->ne[d + 1]) return 0;
    if (t->nb[t->ndim - 2] % 4) return 0;
    *stride = t->nb[t->ndim - 2] / 4;
    return 1;
}

void kiln_cpu_to_f32(const kiln_tensor *t, float *dst)
{
    kiln_cpu_rows rows = kiln_cpu_rows_of(t);
    for (int64_t r = 0; r < rows.rows; r++) {
        const uint8_t *src = kiln_cpu_row_ptr(t, r);
        float *out = dst + r * rows.cols;
        if (t->dtype == KILN_F32) {
            memcpy(out, src, (size_t)rows.cols * 4);
        } else if (t->dtype == KILN_F16) {
#if HAVE_F16C_PATH
            if (use_f16c()) {
                f16_to_f32_f16c(src, out, rows.cols);
                continue;
            }
#endif
            for (int64_t i = 0; i < rows.cols; i++) {
                uint16_t h;
                memcpy(&h, src + 2 * i, 2);
                out[i] = kiln_f16_to_f32(h);
            }
        } else if (t->dtype == KILN_BF16) {
            for (int64_t i = 0; i < rows.cols; i++) {
                uint16_t h;
                memcpy(&h, src + 2 * i, 2);
                out[i] = kiln_bf16_to_f32(h);
            }
        } else {
            kiln_dequantize_row(t->dtype, src, out, rows.cols);
        }
    }
}

void kiln_cpu_from_f32(const float *src, const kiln_tensor *t)
{
    kiln_cpu_rows rows = kiln_cpu_rows_of(t);
    for (int64_t r = 0; r < rows.rows; r++) {
        uint8_t *dst = kiln_cpu_row_ptr(t, r);
        const float *in = src + r * rows.cols;
        if (t->dtype == KILN_F32) {
            memmove(dst, in, (size_t)rows.cols * 4);
        } else if (t->dtype == KILN_F16 || t->dtype == KILN_BF16) {
#if HAVE_F16C_PATH
            if (t->dtype == KILN_F16 && use_f16c()) {
                f32_to_f16_f16c(in, dst, rows.cols);
                continue;
            }
#endif
            for (int64_t i = 0; i < rows.cols; i++) {
                uint16_t h = t->dtype == KILN_F16 ? kiln_f32_to_f16(in[i]) : kiln_f32_to_bf16(in[i]);
                memcpy(dst + 2 * i, &h, 2);
            }
        }
    }
}
