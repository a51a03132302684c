/* formats/quant_legacy.c — ggml's original 32-element formats: q4_0, q4_1,
 * q5_0, q5_1, q8_0.
 *
 * Quantization follows ggml's reference quantizers (quantize_row_*_ref) step
 * for step, including where the float scale is used unrounded (1/d from the
 * f32 d, not the stored f16), so the bytes match llama.cpp's for the same
 * input. Dequantization evaluates the same expressions in the same order as
 * ggml's dequantize_row_* and as gen/math/dequant.h. */
#include <float.h>
#include <math.h>

#include "formats/quant_internal.h"

/* The signed value of largest magnitude (first one on ties), as ggml picks it. */
static float signed_absmax(const float *x, int n)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

/* ------------------------------------------------------------------ q4_0 */

void kiln_quantize_q4_0(const float *x, uint8_t *y, int64_t nb)
{
    enum { QK = KILN_QK4_0, BYTES = sizeof(kiln_block_q4_0) };
    for (int64_t b = 0; b < nb; b++, x += QK, y += BYTES) {
        /* d = max / -8 maps the extreme value to q = 0 and gives 4 bits a
         * symmetric-ish range -8..7 */
        const float d = signed_absmax(x, QK) / -8;
        const float id = d ? 1.0f / d : 0.0f;
        kiln_st16(y + offsetof(kiln_block_q4_0, d), kiln_f32_to_f16(d));
        uint8_t *qs = y + offsetof(kiln_block_q4_0, qs);
        for (int j = 0; j < QK / 2; j++) {
            const float x0 = x[j] * id, x1 = x[QK / 2 + j] * id;
            /* truncation of a value >= 0 after +8.5 is round-half-up */
            const int q0 = (int)(int8_t)(x0 + 8.5f), q1 = (int)(int8_t)(x1 + 8.5f);
            qs[j] = (uint8_t)((q0 < 15 ? q0 : 15) | ((q1 < 15 ? q1 : 15) << 4));
        }
    }
}

void kiln_dequantize_q4_0(const uint8_t *x, float *y, int64_t nb)
{
    enum { QK = KILN_QK4_0, BYTES = sizeof(kiln_block_q4_0) };
    for (int64_t b = 0; b < nb; b++, x += BYTES, y += QK) {
        const float d = kiln_ldf16(x + offsetof(kiln_block_q4_0, d));
        const uint8_t *qs = x + offsetof(kiln_block_q4_0, qs);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)((qs[j] & 0x0f) - 8) * d;
            y[j + QK / 2] = (float)((qs[j] >> 4) - 8) * d;
        }
    }
}

/* ------------------------------------------------------------------ q4_1 */

void kiln_quantize_q4_1(const float *x, uint8_t *y, int64_t nb)
{
    enum { QK = KILN_QK4_1, BYTES = sizeof(kiln_block_q4_1) };
    for (int64_t b = 0; b < nb; b++, x += QK, y += BYTES) {
        float mn, mx;
        min_max(x, QK, &mn, &mx);
        const float d = (mx - mn) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        kiln_st16(y + offsetof(kiln_block_q4_1, d), kiln_f32_to_f16(d));
        kiln_st16(y + offsetof(kiln_block_q4_1, m), kiln_f32_to_f16(mn));
        uint8_t *qs = y + offsetof(kiln_block_q4_1, qs);
        for (int j = 0; j < QK / 2; j++) {
            const float x0 = (x[j] - mn) * id, x1 = (x[QK / 2 + j] - mn) * id;
            const int q0 = (int)(int8_t)(x0 + 0.5f), q1 = (int)(int8_t)(x1 + 0.5f);
            qs[j] = (uint8_t)((q0 < 15 ? q0 : 15) | ((q1 < 15 ? q1 : 15) << 4));
        }
    }
}

void kiln_dequantize_q4_1(const uint8_t *x, float *y, int64_t nb)
{
    enum { QK = KILN_QK4_1, BYTES = sizeof(kiln_block_q4_1) };
    for (int64_t b = 0; b < nb; b++, x += BYTES, y += QK) {
        const float d = kiln_ldf16(x + offsetof(kiln_block_q4_1, d));
        const float m = kiln_ldf16(x + offsetof(kiln_block_q4_1, m));
        const uint8_t *qs = x + offsetof(kiln_block_q4_1, qs);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)(qs[j] & 0x0f) * d + m;
            y[j + QK / 2] = (float)(qs[j] >> 4) * d + m;
        }
    }
}

/* ------------------------------------------------------------------ q5_0 */

void kiln_quantize_q5_0(const float *x, uint8_t *y, int64_t nb)
{
    enum { QK = KILN_QK5_0, BYTES = sizeof(kiln_block_q5_0) };
    for (int64_t b = 0; b < nb; b++, x += QK, y += BYTES) {
        const float d = signed_absmax(x, QK) / -16;
        const float id = d ? 1.0f / d : 0.0f;
        kiln_st16(y + offsetof(kiln_block_q5_0, d), kiln_f32_to_f16(d));
        uint8_t *qs = y + offsetof(kiln_block_q5_0, qs);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            const float x0 = x[j] * id, x1 = x[QK / 2 + j] * id;
            int q0 = (int)(int8_t)(x0 + 16.5f), q1 = (int)(int8_t)(x1 + 16.5f);
            q0 = q0 < 31 ? q0 : 31;
            q1 = q1 < 31 ? q1 : 31;
            qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            /* bit 4 of element e goes to bit e of qh */
            qh |= ((uint32_t)(q0 & 0x10) >> 4) << j;
            qh |= ((uint32_t)(q1 & 0x10) >> 4) << (j + QK / 2);
        }
        kiln_st32(y + offsetof(kiln_block_q5_0, qh), qh);
    }
}

void kiln_dequantize_q5_0(const uint8_t *x, float *y, int64_t nb)
{
    enum { QK = KILN_QK5_0, BYTES = sizeof(kiln_block_q5_0) };
    for (int64_t b = 0; b < nb; b++, x += BYTES, y += QK) {
        const float d = kiln_ldf16(x + offsetof(kiln_block_q5_0, d));
        const uint32_t qh = kiln_ld32(x + offsetof(kiln_block_q5_0, qh));
        const uint8_t *qs = x + offsetof(kiln_block_q5_0, qs);
        for (int j = 0; j < QK / 2; j++) {
            const int h0 = (int)((qh >> j) & 1u) << 4, h1 = (int)((qh >> (j + QK / 2)) & 1u) << 4;
            y[j] = (float)(((qs[j] & 0x0f) | h0) - 16) * d;
            y[j + QK / 2] = (float)(((qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

/* ------------------------------------------------------------------ q5_1 */

void kiln_quantize_q5_1(const float *x, uint8_t *y, int64_t nb)
{
    enum { QK = KILN_QK5_1, BYTES = sizeof(kiln_block_q5_1) };
    for (int64_t b = 0; b < nb; b++, x += QK, y += BYTES) {
        float mn, mx;
        min_max(x, QK, &mn, &mx);
        const float d = (mx - mn) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        kiln_st16(y + offsetof(kiln_block_q5_1, d), kiln_f32_to_f16(d));
        kiln_st16(y + offsetof(kiln_block_q5_1, m), kiln_f32_to_f16(mn));
        uint8_t *qs = y + offsetof(kiln_block_q5_1, qs);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            const float x0 = (x[j] - mn) * id, x1 = (x[QK / 2 + j] - mn) * id;
            const int q0 = (int)(uint8_t)(x0 + 0.5f), q1 = (int)(uint8_t)(x1 + 0.5f);
            qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= ((uint32_t)(q0 & 0x10) >> 4) << j;
            qh |= ((uint32_t)(q1 & 0x10) >> 4) << (j + QK / 2);
        }
        kiln_st32(y + offsetof(kiln_block_q5_1, qh), qh);
    }
}

void kiln_dequantize_q5_1(const uint8_t *x, float *y, int64_t nb)
{
    enum { QK = KILN_QK5_1, BYTES = sizeof(kiln_block_q5_1) };
    for (int64_t b = 0; b < nb; b++, x += BYTES, y += QK) {
        const float d = kiln_ldf16(x + offsetof(kiln_block_q5_1, d));
        const float m = kiln_ldf16(x + offsetof(kiln_block_q5_1, m));
        const uint32_t qh = kiln_ld32(x + offsetof(kiln_block_q5_1, qh));
        const uint8_t *qs = x + offsetof(kiln_block_q5_1, qs);
        for (int j = 0; j < QK / 2; j++) {
            const int h0 = (int)((qh >> j) & 1u) << 4, h1 = (int)((qh >> (j + QK / 2)) & 1u) << 4;
            y[j] = (float)((qs[j] & 0x0f) | h0) * d + m;
            y[j + QK / 2] = (float)((qs[j] >> 4) | h1) * d + m;
        }
    }
}

/* ------------------------------------------------------------------ q8_0 */

void kiln_quantize_q8_0(const float *x, uint8_t *y, int64_t nb)
{
    enum { QK = KILN_QK8_0, BYTES = sizeof(kiln_block_q8_0) };
    for (int64_t b = 0; b < nb; b++, x += QK, y += BYTES) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        kiln_st16(y + offsetof(kiln_block_q8_0, d), kiln_f32_to_f16(d));
        int8_t *qs = (int8_t *)(y + offsetof(kiln_block_q8_0, qs));
        for (int j = 0; j < QK; j++) qs[j] = (int8_t)roundf(x[j] * id); /* ties away from zero, as ggml */
    }
}

void kiln_dequantize_q8_0(const uint8_t *x, float *y, int64_t nb)
{
    enum { QK = KILN_QK8_0, BYTES = sizeof(kiln_block_q8_0) };
    for (int64_t b = 0; b < nb; b++, x += BYTES, y += QK) {
        const float d = kiln_ldf16(x + offsetof(kiln_block_q8_0, d));
        const int8_t *qs = (const int8_t *)(x + offsetof(kiln_block_q8_0, qs));
        for (int j = 0; j < QK; j++) y[j] = (float)qs[j] * d;
    }
}
