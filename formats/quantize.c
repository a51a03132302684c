/* formats/quantize.c — kiln_quantize_row / kiln_dequantize_row: argument
 * checks and dispatch to the per-format block functions; the plain types
 * (f32, f16, bf16, i32) convert element by element. */
#include <inttypes.h>
#include <math.h>

#include "formats/formats.def"
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
#define X(ID, nm, elems, bytes, ggml, fam, act, flags, sc, s0, s1, q, dq) [KILN_##ID] = {q, dq},
    KILN_FORMATS(X)
#undef X
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
