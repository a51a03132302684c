/* formats/quantize.c — kiln_quantize_row / kiln_dequantize_row: argument
 * checks and dispatch to the per-format block functions; the plain types
 * (f32, f16, bf16, i32) convert element by element. */
#include <inttypes.h>
#include <math.h>

#include "formats/quant_internal.h"
#include "kiln/error.h"

/* plain types as one-element "blocks" */
static void quantize_f32(const float *x, uint8_t *y, int64_t n) { memcpy(y, x, (size_t)n * 4); }
static void dequantize_f32(const uint8_t *x, float *y, int64_t n) { memcpy(y, x, (size_t)n * 4); }
static void quantize_f16(const float *x, uint8_t *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) kiln_st16(y + 2 * i, kiln_f32_to_f16(x[i]));
}
static void dequantize_f16(const uint8_t *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = kiln_f16_to_f32(kiln_ld16(x + 2 * i));
}
static void quantize_bf16(const float *x, uint8_t *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) kiln_st16(y + 2 * i, kiln_f32_to_bf16(x[i]));
}
static void dequantize_bf16(const uint8_t *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = kiln_bf16_to_f32(kiln_ld16(x + 2 * i));
}
/* i32 from float: round to nearest even, saturating; NaN becomes 0. */
static void quantize_i32(const float *x, uint8_t *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        int32_t v;
        if (!(x[i] == x[i])) v = 0;
        else if (x[i] >= 2147483648.0f) v = INT32_MAX;
        else if (x[i] < -2147483648.0f) v = INT32_MIN;
        else v = (int32_t)nearbyintf(x[i]);
        memcpy(y + 4 * i, &v, 4);
    }
}
static void dequantize_i32(const uint8_t *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        int32_t v;
        memcpy(&v, x + 4 * i, 4);
        y[i] = (float)v;
    }
}

static const struct {
    kiln_quantize_blocks_fn quantize;
    kiln_dequantize_blocks_fn dequantize;
} kiln_block_fns[KILN_DTYPE_COUNT] = {
    [KILN_F32] = {quantize_f32, dequantize_f32},
    [KILN_F16] = {quantize_f16, dequantize_f16},
    [KILN_BF16] = {quantize_bf16, dequantize_bf16},
    [KILN_Q4_0] = {kiln_quantize_q4_0, kiln_dequantize_q4_0},
    [KILN_Q4_1] = {kiln_quantize_q4_1, kiln_dequantize_q4_1},
    [KILN_Q5_0] = {kiln_quantize_q5_0, kiln_dequantize_q5_0},
    [KILN_Q5_1] = {kiln_quantize_q5_1, kiln_dequantize_q5_1},
    [KILN_Q8_0] = {kiln_quantize_q8_0, kiln_dequantize_q8_0},
    [KILN_Q4_K] = {kiln_quantize_q4_K, kiln_dequantize_q4_K},
    [KILN_Q5_K] = {kiln_quantize_q5_K, kiln_dequantize_q5_K},
    [KILN_Q6_K] = {kiln_quantize_q6_K, kiln_dequantize_q6_K},
    [KILN_NF4] = {kiln_quantize_nf4, kiln_dequantize_nf4},
    [KILN_INT4G] = {kiln_quantize_int4g, kiln_dequantize_int4g},
    [KILN_Q8_K] = {kiln_quantize_q8_K, kiln_dequantize_q8_K},
    [KILN_I32] = {quantize_i32, dequantize_i32},
};

/* Shared checks; returns the block count, or -1 after kiln_fail. */
static int64_t check_row(const char *what, kiln_dtype t, const void *src, const void *dst, int64_t n)
{
    const kiln_dtype_info *info = kiln_dtype_get(t);
    if (!info) {
        kiln_fail(KILN_ERR_INVALID_ARG, "%s: unknown dtype %d", what, (int)t);
        return -1;
    }
    if (n < 0 || n % info->block_elems != 0) {
        kiln_fail(KILN_ERR_INVALID_ARG, "%s: n = %" PRId64 " is not a non-negative multiple of the %s block (%d)",
                  what, n, info->name, info->block_elems);
        return -1;
    }
    if (n > 0 && (!src || !dst)) {
        kiln_fail(KILN_ERR_INVALID_ARG, "%s: NULL %s for %" PRId64 " %s elements", what, src ? "dst" : "src",
                  n, info->name);
        return -1;
    }
    return n / info->block_elems;
}

size_t kiln_quantize_row(kiln_dtype t, const float *src, void *dst, int64_t n)
{
    const int64_t nb = check_row("kiln_quantize_row", t, src, dst, n);
    if (nb <= 0) return 0;
    kiln_block_fns[t].quantize(src, (uint8_t *)dst, nb);
    return kiln_row_bytes(t, n);
}

int kiln_dequantize_row(kiln_dtype t, const void *src, float *dst, int64_t n)
{
    const int64_t nb = check_row("kiln_dequantize_row", t, src, dst, n);
    if (nb < 0) return -1;
    if (nb > 0) kiln_block_fns[t].dequantize((const uint8_t *)src, dst, nb);
    return 0;
}
