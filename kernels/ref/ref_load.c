/* kernels/ref/ref_load.c — widening any kiln element type to double.
 * f16 and bf16 are decoded here from their bit patterns (not through the
 * formats/ helpers), so the reference does not share a bug with the code it
 * checks; block formats necessarily go through kiln_dequantize_row, which is
 * itself tested against hand-made blocks in tests/test_formats*.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "kernels/ref/ref.h"

/* IEEE binary16 -> double, exact for all inputs. */
static double half_to_double(uint16_t h)
{
    int sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    double v;
    if (exp == 0x1f) v = man ? NAN : INFINITY;
    else if (exp == 0) v = ldexp((double)man, -24);             /* subnormal: man * 2^-24 */
    else v = ldexp((double)(man | 0x400), exp - 25);             /* 1.man * 2^(exp-15) */
    return sign ? -v : v;
}

static double bf16_to_double(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

kiln_status kiln_ref_load_row(kiln_dtype t, const void *src, int64_t n, double *dst)
{
    if (!src || !dst || n < 0) return kiln_fail(KILN_ERR_INVALID_ARG, "ref: load_row of %lld elements: null pointer or negative count", (long long)n);
    const unsigned char *p = src;
    switch (t) {
    case KILN_F32:
        for (int64_t i = 0; i < n; i++) { float f; memcpy(&f, p + 4 * i, 4); dst[i] = f; }
        return KILN_OK;
    case KILN_F16:
        for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, p + 2 * i, 2); dst[i] = half_to_double(h); }
        return KILN_OK;
    case KILN_BF16:
        for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, p + 2 * i, 2); dst[i] = bf16_to_double(h); }
        return KILN_OK;
    case KILN_I32:
        for (int64_t i = 0; i < n; i++) { int32_t v; memcpy(&v, p + 4 * i, 4); dst[i] = v; }
        return KILN_OK;
    default: break;
    }
    const kiln_dtype_info *info = kiln_dtype_get(t);
    if (!info || !info->is_quantized) return kiln_fail(KILN_ERR_INVALID_ARG, "ref: load_row: unknown dtype %d", (int)t);
    if (n % info->block_elems) return kiln_fail(KILN_ERR_SHAPE, "ref: load_row: %lld elements of %s is not a multiple of its block of %d", (long long)n, info->name, info->block_elems);
    float *tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp);
    if (!tmp) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "ref: load_row: no memory for %lld floats", (long long)n);
    int rc = kiln_dequantize_row(t, src, tmp, n);
    for (int64_t i = 0; rc == 0 && i < n; i++) dst[i] = tmp[i];
    free(tmp);
    if (rc != 0) return kiln_fail(KILN_ERR_INVALID_ARG, "ref: load_row: kiln_dequantize_row(%s, n=%lld) failed", info->name, (long long)n);
    return KILN_OK;
}
