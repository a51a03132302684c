/* formats/quant_nf4_int4g.c — the two 4-bit weight formats GGUF does not
 * define: bitsandbytes' NF4 and GPTQ/AWQ-style INT4 groups (kiln extensions).
 *
 * nf4:   blocks of 64; w = absmax * NF4[code]. The 16 NF4 values are the
 *        quantiles of a standard normal, rescaled to [-1, 1], with an exact 0
 *        (bitsandbytes' table). Quantization picks the nearest value (ties
 *        towards the lower code), as bitsandbytes' decision tree does.
 * int4g: blocks of 128; w = scale * (q - zero), asymmetric min/max rounding
 *        over a range that always contains 0 (GPTQ's quantizer), so a zero
 *        weight stays exactly zero. */
#include <math.h>

#include "formats/quant_internal.h"

const float kiln_nf4_values[16] = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

/* Nearest NF4 code of v in [-1, 1]: the number of midpoints between
 * neighbouring values that v lies above (on a midpoint: the lower code). */
static int nf4_code(float v)
{
    int code = 0;
    for (int c = 0; c < 15; c++) code += v > 0.5f * (kiln_nf4_values[c] + kiln_nf4_values[c + 1]);
    return code;
}

void kiln_quantize_nf4(const float *x, uint8_t *y, int64_t nb)
{
    enum { QK = KILN_QK_NF4 };
    for (int64_t b = 0; b < nb; b++, x += QK, y += sizeof(kiln_block_nf4)) {
        float absmax = 0.0f;
        for (int j = 0; j < QK; j++) absmax = fmaxf(absmax, fabsf(x[j]));
        const float inv = absmax > 0 ? 1.0f / absmax : 0.0f;
        kiln_stf32(y + offsetof(kiln_block_nf4, absmax), absmax);
        uint8_t *qs = y + offsetof(kiln_block_nf4, qs);
        for (int j = 0; j < QK / 2; j++) /* element 2j high nibble, 2j+1 low (bitsandbytes) */
            qs[j] = (uint8_t)((nf4_code(x[2 * j] * inv) << 4) | nf4_code(x[2 * j + 1] * inv));
    }
}

void kiln_dequantize_nf4(const uint8_t *x, float *y, int64_t nb)
{
    enum { QK = KILN_QK_NF4 };
    for (int64_t b = 0; b < nb; b++, x += sizeof(kiln_block_nf4), y += QK) {
        const float absmax = kiln_ldf32(x + offsetof(kiln_block_nf4, absmax));
        const uint8_t *qs = x + offsetof(kiln_block_nf4, qs);
        for (int j = 0; j < QK / 2; j++) {
            y[2 * j] = absmax * kiln_nf4_values[qs[j] >> 4];
            y[2 * j + 1] = absmax * kiln_nf4_values[qs[j] & 0xf];
        }
    }
}

void kiln_quantize_int4g(const float *x, uint8_t *y, int64_t nb)
{
    enum { QK = KILN_QK_INT4G };
    for (int64_t b = 0; b < nb; b++, x += QK, y += sizeof(kiln_block_int4g)) {
        float lo = 0.0f, hi = 0.0f; /* the range always contains 0 */
        for (int j = 0; j < QK; j++) {
            lo = fminf(lo, x[j]);
            hi = fmaxf(hi, x[j]);
        }
        /* Quantize against the scale as stored (f16), so the codes fit what
         * dequantization will multiply by. */
        const uint16_t s16 = kiln_f32_to_f16((hi - lo) / 15.0f);
        const float scale = kiln_f16_to_f32(s16);
        const float inv = scale > 0 ? 1.0f / scale : 0.0f;
        int zero = scale > 0 ? (int)lrintf(-lo * inv) : 0;
        zero = zero < 0 ? 0 : zero > 15 ? 15 : zero;
        kiln_st16(y + offsetof(kiln_block_int4g, scale), s16);
        y[offsetof(kiln_block_int4g, zero)] = (uint8_t)zero;
        y[offsetof(kiln_block_int4g, pad)] = 0;
        uint8_t *qs = y + offsetof(kiln_block_int4g, qs);
        for (int j = 0; j < QK / 2; j++) { /* element 2j low nibble, 2j+1 high (GPTQ) */
            int q0 = (int)lrintf(x[2 * j] * inv) + zero, q1 = (int)lrintf(x[2 * j + 1] * inv) + zero;
            q0 = q0 < 0 ? 0 : q0 > 15 ? 15 : q0;
            q1 = q1 < 0 ? 0 : q1 > 15 ? 15 : q1;
            qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void kiln_dequantize_int4g(const uint8_t *x, float *y, int64_t nb)
{
    enum { QK = KILN_QK_INT4G };
    for (int64_t b = 0; b < nb; b++, x += sizeof(kiln_block_int4g), y += QK) {
        const float scale = kiln_ldf16(x + offsetof(kiln_block_int4g, scale));
        const int zero = x[offsetof(kiln_block_int4g, zero)];
        const uint8_t *qs = x + offsetof(kiln_block_int4g, qs);
        for (int j = 0; j < QK / 2; j++) {
            y[2 * j] = scale * (float)((qs[j] & 0xf) - zero);
            y[2 * j + 1] = scale * (float)((qs[j] >> 4) - zero);
        }
    }
}
