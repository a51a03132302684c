/* formats/quant_iq4_nl.c — ggml's iq4_nl: blocks of 32, an f16 scale and
 * 4-bit indices into a fixed non-linear table of 16 int8 values.
 *
 * The quantizer is what llama-quantize runs without an importance matrix
 * (quantize_iq4_nl -> quantize_row_iq4_nl_impl with ntry = 7, weights x²):
 * the block's value of largest magnitude fixes a first scale, then 15 scales
 * around it are tried and the weighted least-squares one kept; the indices are
 * the nearest table values against the unrounded scale. Same float operations
 * in the same order as ggml-quants.c, so the same bytes. */
#include <math.h>

#include "formats/quant_internal.h"

#define GROUP_MAX_EPS 1e-15f /* ggml: a block this small is all zeros */
#define IQ4_NL_NTRY 7

const int8_t kiln_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* ggml's best_index_int8: the nearest of the 16 ascending values (ties to the upper). */
static int best_index(const int8_t *val, float x)
{
    if (x <= val[0]) return 0;
    if (x >= val[15]) return 15;
    int ml = 0, mu = 15;
    while (mu - ml > 1) {
        int mav = (ml + mu) / 2;
        if (x < val[mav]) mu = mav;
        else ml = mav;
    }
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

void kiln_quantize_iq4_nl(const float *x, uint8_t *y, int64_t nb)
{
    enum { QK = KILN_QK4_NL, BYTES = sizeof(kiln_block_iq4_nl) };
    const int8_t *values = kiln_iq4nl_values;
    for (int64_t i = 0; i < nb; i++, x += QK, y += BYTES) {
        uint8_t L[QK];
        float weight[QK], amax = 0, max = 0, d = 0;
        for (int j = 0; j < QK; j++) {
            weight[j] = x[j] * x[j];
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax >= GROUP_MAX_EPS) {
            d = -max / values[0];
            float id = 1 / d, sumqx = 0, sumq2 = 0;
            for (int j = 0; j < QK; j++) {
                float q = values[best_index(values, id * x[j])];
                sumqx += weight[j] * q * x[j];
                sumq2 += weight[j] * q * q;
            }
            d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
            float best = d * sumqx;
            for (int itry = -IQ4_NL_NTRY; itry <= IQ4_NL_NTRY; itry++) {
                id = (itry + values[0]) / max;
                sumqx = sumq2 = 0;
                for (int j = 0; j < QK; j++) {
                    float q = values[best_index(values, id * x[j])];
                    sumqx += weight[j] * q * x[j];
                    sumq2 += weight[j] * q * q;
                }
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
        }
        kiln_st16(y, kiln_f32_to_f16(d));
        float id = d ? 1 / d : 0;
        for (int j = 0; j < QK; j++) L[j] = (uint8_t)best_index(values, id * x[j]);
        for (int j = 0; j < QK / 2; j++) y[2 + j] = (uint8_t)(L[j] | L[j + QK / 2] << 4);
    }
}

void kiln_dequantize_iq4_nl(const uint8_t *x, float *y, int64_t nb)
{
    enum { QK = KILN_QK4_NL, BYTES = sizeof(kiln_block_iq4_nl) };
    for (int64_t i = 0; i < nb; i++, x += BYTES, y += QK) {
        const float d = kiln_ldf16(x);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = d * kiln_iq4nl_values[x[2 + j] & 0xF];
            y[j + QK / 2] = d * kiln_iq4nl_values[x[2 + j] >> 4];
        }
    }
}
