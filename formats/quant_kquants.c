/* formats/quant_kquants.c — ggml's K-quants: q4_K, q5_K, q6_K (weights) and
 * q8_K (activations), super-blocks of 256.
 *
 * The quantizers are ggml's reference ones (quantize_row_q*_K_ref without an
 * importance matrix): per sub-block, a weighted least-squares search over a
 * few candidate scales (make_qkx2_quants for the scale+min formats,
 * make_qx_quants for the symmetric q6_K), then the sub-block scales are
 * themselves quantized to 6 or 8 bits against one f16 super-block scale, and
 * the weights are re-quantized against the scales actually stored. The same
 * float operations in the same order give the same bytes as llama.cpp
 * (checked against ggml-quants.c itself; see docs/FORMATS.md). */
#include <math.h>

#include "formats/quant_internal.h"

#define GROUP_MAX_EPS 1e-15f /* ggml: a group this small is all zeros */

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Scale and min for n values quantized to 0..nmax: x ~ scale * L + min, min <= 0.
 * Starts from the min/max grid, then tries nstep+1 grids stretched by
 * rmin + rdelta*is and keeps the weighted least-squares fit with the lowest
 * weighted squared error. Returns the scale; *neg_min = -min (>= 0). */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *w, uint8_t *L,
                              float *neg_min, uint8_t *Laux, float rmin, float rdelta, int nstep)
{
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *neg_min = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        const int l = kiln_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)clampi(l, 0, nmax);
        const float diff = scale * L[i] + min - x[i];
        best_error += w[i] * (diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = clampi(kiln_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                const float diff = this_scale * Laux[i] + this_min - x[i];
                err += w[i] * (diff * diff);
            }
            if (err < best_error) {
                for (int i = 0; i < n; i++) L[i] = Laux[i];
                best_error = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *neg_min = -min;
    return scale;
}

/* Symmetric scale for n values quantized to -nmax..nmax-1 (stored as L + nmax),
 * weights x^2 (ggml's rmse_type 1): the least-squares scale of the best of 19
 * grids around nmax / max. */
/* The value of largest magnitude (its sign kept), the first one on a tie as
 * ggml finds it; *amax gets its magnitude. */
static float signed_absmax(int n, const float *x, float *amax)
{
    float max = 0;
    *amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > *amax) {
            *amax = fabsf(x[i]);
            max = x[i];
        }
    return max;
}

static float make_qx_quants(int n, int nmax, const float *x, int8_t *L)
{
    float amax;
    const float max = signed_absmax(n, x, &amax);
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = clampi(kiln_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = clampi(kiln_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + clampi(kiln_nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Sub-block j's 6-bit scale and min from the 12 packed bytes of q4_K/q5_K:
 * sub-blocks 0..3 keep them in the low 6 bits of bytes j and j+4; 4..7 keep
 * their low 4 bits in byte j+4 and their top 2 bits in the spare top bits of
 * bytes j-4 (scale) and j (min). */
static void k_scale_min(int j, const uint8_t *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* The q4_K/q5_K front half: per 32-element sub-block a (scale, min) search,
 * then 6-bit quantization of the scales and mins, stored with d and dmin.
 * Leaves the sub-block codes in L (0..nmax), re-quantized against the
 * stored scales. */
static void k_scales_and_codes(const float *x, int nmax, float rmin, int nstep, uint8_t *y_d,
                               uint8_t *y_dmin, uint8_t *y_scales, uint8_t *L)
{
    float scales[KILN_QK_K / 32], mins[KILN_QK_K / 32], weights[32];
    uint8_t Laux[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < KILN_QK_K / 32; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(xs[l]);
        scales[j] = make_qkx2_quants(32, nmax, xs, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(y_scales, 0, KILN_K_SCALE_BYTES);
    for (int j = 0; j < KILN_QK_K / 32; j++) {
        /* the uint8_t truncation then MIN(63) is ggml's, kept for identical bytes */
        uint8_t ls = (uint8_t)kiln_nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)kiln_nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            y_scales[j] = ls;
            y_scales[j + 4] = lm;
        } else {
            y_scales[j + 4] = (uint8_t)((ls & 0xf) | ((lm & 0xf) << 4));
            y_scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
            y_scales[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    const uint16_t d16 = kiln_f32_to_f16(max_scale / 63.f), dmin16 = kiln_f32_to_f16(max_min / 63.f);
    kiln_st16(y_d, d16);
    kiln_st16(y_dmin, dmin16);
    const float d_all = kiln_f16_to_f32(d16), dmin_all = kiln_f16_to_f32(dmin16);
    for (int j = 0; j < KILN_QK_K / 32; j++) {
        int sc, m;
        k_scale_min(j, y_scales, &sc, &m);
        const float d = d_all * sc;
        if (!d) continue; /* keep the search's codes, as ggml does */
        const float dm = dmin_all * m;
        for (int i = 0; i < 32; i++)
            L[32 * j + i] = (uint8_t)clampi(kiln_nearest_int((x[32 * j + i] + dm) / d), 0, nmax);
    }
}

/* ------------------------------------------------------------------ q4_K */

void kiln_quantize_q4_K(const float *x, uint8_t *y, int64_t nb)
{
    uint8_t L[KILN_QK_K];
    for (int64_t b = 0; b < nb; b++, x += KILN_QK_K, y += sizeof(kiln_block_q4_K)) {
        k_scales_and_codes(x, 15, -1.f, 20, y + offsetof(kiln_block_q4_K, d),
                           y + offsetof(kiln_block_q4_K, dmin), y + offsetof(kiln_block_q4_K, scales), L);
        uint8_t *q = y + offsetof(kiln_block_q4_K, qs);
        for (int j = 0; j < KILN_QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void kiln_dequantize_q4_K(const uint8_t *x, float *y, int64_t nb)
{
    for (int64_t b = 0; b < nb; b++, x += sizeof(kiln_block_q4_K)) {
        const float d = kiln_ldf16(x + offsetof(kiln_block_q4_K, d));
        const float min = kiln_ldf16(x + offsetof(kiln_block_q4_K, dmin));
        const uint8_t *scales = x + offsetof(kiln_block_q4_K, scales);
        const uint8_t *q = x + offsetof(kiln_block_q4_K, qs);
        for (int j = 0; j < KILN_QK_K / 64; j++, q += 32) {
            int sc, m;
            k_scale_min(2 * j, scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            k_scale_min(2 * j + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xf) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

/* ------------------------------------------------------------------ q5_K */

void kiln_quantize_q5_K(const float *x, uint8_t *y, int64_t nb)
{
    uint8_t L[KILN_QK_K];
    for (int64_t b = 0; b < nb; b++, x += KILN_QK_K, y += sizeof(kiln_block_q5_K)) {
        k_scales_and_codes(x, 31, -0.5f, 15, y + offsetof(kiln_block_q5_K, d),
                           y + offsetof(kiln_block_q5_K, dmin), y + offsetof(kiln_block_q5_K, scales), L);
        uint8_t *qh = y + offsetof(kiln_block_q5_K, qh);
        uint8_t *ql = y + offsetof(kiln_block_q5_K, qs);
        memset(qh, 0, KILN_QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int n = 0; n < KILN_QK_K; n += 64, ql += 32) {
            for (int j = 0; j < 32; j++) {
                int l1 = L[n + j], l2 = L[n + j + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 = (uint8_t)(m1 << 2);
            m2 = (uint8_t)(m2 << 2);
        }
    }
}

void kiln_dequantize_q5_K(const uint8_t *x, float *y, int64_t nb)
{
    for (int64_t b = 0; b < nb; b++, x += sizeof(kiln_block_q5_K)) {
        const float d = kiln_ldf16(x + offsetof(kiln_block_q5_K, d));
        const float min = kiln_ldf16(x + offsetof(kiln_block_q5_K, dmin));
        const uint8_t *scales = x + offsetof(kiln_block_q5_K, scales);
        const uint8_t *qh = x + offsetof(kiln_block_q5_K, qh);
        const uint8_t *ql = x + offsetof(kiln_block_q5_K, qs);
        for (int j = 0; j < KILN_QK_K / 64; j++, ql += 32) {
            int sc, m;
            k_scale_min(2 * j, scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            k_scale_min(2 * j + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            const int u1 = 1 << (2 * j), u2 = 2 << (2 * j);
            for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xf) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

/* ------------------------------------------------------------------ q6_K */

void kiln_quantize_q6_K(const float *x, uint8_t *y, int64_t nb)
{
    int8_t L[KILN_QK_K];
    float scales[KILN_QK_K / 16];
    for (int64_t b = 0; b < nb; b++, x += KILN_QK_K, y += sizeof(kiln_block_q6_K)) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < KILN_QK_K / 16; ib++) {
            scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            const float abs_scale = fabsf(scales[ib]);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scales[ib];
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) { /* all (near) zero: an all-zero block */
            memset(y, 0, sizeof(kiln_block_q6_K));
            continue;
        }
        const float iscale = -128.f / max_scale;
        const uint16_t d16 = kiln_f32_to_f16(1 / iscale);
        kiln_st16(y + offsetof(kiln_block_q6_K, d), d16);
        int8_t *ysc = (int8_t *)(y + offsetof(kiln_block_q6_K, scales));
        for (int ib = 0; ib < KILN_QK_K / 16; ib++) {
            const int s = kiln_nearest_int(iscale * scales[ib]);
            ysc[ib] = (int8_t)(s < 127 ? s : 127);
        }
        const float d_all = kiln_f16_to_f32(d16);
        for (int j = 0; j < KILN_QK_K / 16; j++) {
            const float d = d_all * ysc[j];
            if (!d) continue;
            for (int i = 0; i < 16; i++)
                L[16 * j + i] = (int8_t)(clampi(kiln_nearest_int(x[16 * j + i] / d), -32, 31) + 32);
        }
        uint8_t *ql = y + offsetof(kiln_block_q6_K, ql);
        uint8_t *qh = y + offsetof(kiln_block_q6_K, qh);
        for (int j = 0; j < KILN_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const int q1 = L[j + l] & 0xf, q2 = L[j + l + 32] & 0xf;
                const int q3 = L[j + l + 64] & 0xf, q4 = L[j + l + 96] & 0xf;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

void kiln_dequantize_q6_K(const uint8_t *x, float *y, int64_t nb)
{
    for (int64_t b = 0; b < nb; b++, x += sizeof(kiln_block_q6_K)) {
        const float d = kiln_ldf16(x + offsetof(kiln_block_q6_K, d));
        const uint8_t *ql = x + offsetof(kiln_block_q6_K, ql);
        const uint8_t *qh = x + offsetof(kiln_block_q6_K, qh);
        const int8_t *sc = (const int8_t *)(x + offsetof(kiln_block_q6_K, scales));
        for (int n = 0; n < KILN_QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

/* ------------------------------------------------------------------ q8_K */

void kiln_quantize_q8_K(const float *x, uint8_t *y, int64_t nb)
{
    for (int64_t b = 0; b < nb; b++, x += KILN_QK_K, y += sizeof(kiln_block_q8_K)) {
        float max = 0, amax = 0;
        for (int j = 0; j < KILN_QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (!amax) { /* ggml leaves bsums untouched here; kiln zeroes the whole block */
            memset(y, 0, sizeof(kiln_block_q8_K));
            continue;
        }
        /* -127 (not -128) keeps every code within int8 symmetric range */
        const float iscale = -127.f / max;
        int8_t *qs = (int8_t *)(y + offsetof(kiln_block_q8_K, qs));
        for (int j = 0; j < KILN_QK_K; j++) {
            const int v = kiln_nearest_int(iscale * x[j]);
            qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < KILN_QK_K / 16; g++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += qs[16 * g + i];
            const int16_t s16 = (int16_t)sum;
            memcpy(y + offsetof(kiln_block_q8_K, bsums) + 2 * g, &s16, 2);
        }
        kiln_stf32(y + offsetof(kiln_block_q8_K, d), 1 / iscale);
    }
}

void kiln_dequantize_q8_K(const uint8_t *x, float *y, int64_t nb)
{
    for (int64_t b = 0; b < nb; b++, x += sizeof(kiln_block_q8_K), y += KILN_QK_K) {
        const float d = kiln_ldf32(x + offsetof(kiln_block_q8_K, d));
        const int8_t *qs = (const int8_t *)(x + offsetof(kiln_block_q8_K, qs));
        for (int j = 0; j < KILN_QK_K; j++) y[j] = d * qs[j];
    }
}

/* ------------------------------------------------------------------ q3_K */

/* ggml's make_q3_quants with do_rmse: n values to -nmax..nmax-1, weighted by
 * x², starting from the grid through the value of largest magnitude, then up
 * to 5 passes moving single codes while the weighted fit improves. L gets the
 * codes + nmax; returns the scale. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L)
{
    float amax;
    const float max = signed_absmax(n, x, &amax);
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(kiln_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = clampi(kiln_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* The 6-bit scale of sub-block j (0..63, stored with an offset of 32). */
static int q3_k_scale(const uint8_t *scales, int j)
{
    int lo = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
    return lo | ((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4;
}

/* quantize_row_q3_K_ref: per 16 values make_q3_quants, the 16 scales to 6
 * bits against d = max_scale / -32, then the codes again against the stored
 * scales. */
void kiln_quantize_q3_K(const float *x, uint8_t *y, int64_t nb)
{
    enum { BYTES = sizeof(kiln_block_q3_K) };
    for (int64_t i = 0; i < nb; i++, x += KILN_QK_K, y += BYTES) {
        int8_t L[KILN_QK_K];
        float scales[KILN_QK_K / 16], max_scale = 0, amax = 0;
        for (int j = 0; j < KILN_QK_K / 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            float scale = fabsf(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        uint8_t *sc = y + offsetof(kiln_block_q3_K, scales);
        memset(sc, 0, KILN_K_SCALE_BYTES);
        if (max_scale) {
            float iscale = -32.0f / max_scale;
            for (int j = 0; j < KILN_QK_K / 16; j++) {
                int l = clampi(kiln_nearest_int(iscale * scales[j]), -32, 31) + 32;
                if (j < 8) sc[j] = (uint8_t)(l & 0xF);
                else sc[j - 8] |= (uint8_t)((l & 0xF) << 4);
                sc[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            kiln_st16(y + offsetof(kiln_block_q3_K, d), kiln_f32_to_f16(1 / iscale));
        } else {
            kiln_st16(y + offsetof(kiln_block_q3_K, d), kiln_f32_to_f16(0.0f));
        }
        const float dall = kiln_ldf16(y + offsetof(kiln_block_q3_K, d));
        for (int j = 0; j < KILN_QK_K / 16; j++) {
            float d = dall * (q3_k_scale(sc, j) - 32);
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) L[16 * j + ii] = (int8_t)(clampi(kiln_nearest_int(x[16 * j + ii] / d), -4, 3) + 4);
        }
        /* the high bit of element j goes to hmask[j % 32], bit j / 32 */
        uint8_t *hmask = y + offsetof(kiln_block_q3_K, hmask), *qs = y + offsetof(kiln_block_q3_K, qs);
        memset(hmask, 0, KILN_QK_K / 8);
        for (int j = 0; j < KILN_QK_K; j++)
            if (L[j] > 3) {
                hmask[j % 32] |= (uint8_t)(1u << (j / 32));
                L[j] = (int8_t)(L[j] - 4);
            }
        for (int j = 0; j < KILN_QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                qs[j / 4 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 2 | L[j + l + 64] << 4 | L[j + l + 96] << 6);
    }
}

void kiln_dequantize_q3_K(const uint8_t *x, float *y, int64_t nb)
{
    enum { BYTES = sizeof(kiln_block_q3_K) };
    for (int64_t i = 0; i < nb; i++, x += BYTES) {
        const float dall = kiln_ldf16(x + offsetof(kiln_block_q3_K, d));
        const uint8_t *hmask = x + offsetof(kiln_block_q3_K, hmask), *qs = x + offsetof(kiln_block_q3_K, qs);
        const uint8_t *sc = x + offsetof(kiln_block_q3_K, scales);
        for (int j = 0; j < KILN_QK_K; j++, y++) {
            int n = j / 128, t = (j / 32) % 4, l = j % 32;
            float dl = dall * (q3_k_scale(sc, 8 * n + 2 * t + l / 16) - 32);
            int q = ((qs[32 * n + l] >> (2 * t)) & 3) - ((hmask[l] >> (4 * n + t)) & 1 ? 0 : 4);
            *y = dl * q;
        }
    }
}
