/* tests/test_formats.c — the dtype table, f16/bf16 conversions, every block
 * format's layout and round-trip error, and gen/math/dequant.h (compiled here
 * as C with the C dialect, and as GLSL / CUDA when glslc / nvcc are around). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/formats.h"
#include "kiln/gguf.h"
#include "kernels/core/backend.h" /* kiln_clear_error */
#include "kiln/kiln.h"
#include "support/harness.h"

/* The shared dequant math, compiled as C in this translation unit. Included
 * after the kiln headers: the dialect's function-like macros KILN_F32(x) and
 * KILN_I32(x) share their names with the enum constants, which is harmless as
 * long as the constants are never followed by '(' below. */
#define KILN_FMT_ALL 1
#include "gen/math/dialect_c.h"
#include "gen/math/dequant.h"

/* ------------------------------------------------------------------ helpers */

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void putf32(uint8_t *p, float v) { memcpy(p, &v, 4); }

static float *nan_floats(size_t n)
{
    float *p = malloc(n * sizeof *p);
    cr_assert(p);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

/* Every dtype kiln_quantize_row / kiln_dequantize_row accept with a weight
 * element function in dequant.h (q8_K included: it has one too). */
typedef kiln_f32 (*dequant_elem_fn)(const kiln_u8 *w, kiln_u32 blk_off, kiln_i32 i);
static const struct {
    kiln_dtype t;
    dequant_elem_fn fn;
} elem_fns[] = {
    {KILN_F32, kiln_dequant_f32},     {KILN_F16, kiln_dequant_f16},   {KILN_BF16, kiln_dequant_bf16},
    {KILN_Q4_0, kiln_dequant_q4_0},   {KILN_Q4_1, kiln_dequant_q4_1}, {KILN_Q5_0, kiln_dequant_q5_0},
    {KILN_Q5_1, kiln_dequant_q5_1},   {KILN_Q8_0, kiln_dequant_q8_0}, {KILN_Q4_K, kiln_dequant_q4_k},
    {KILN_Q5_K, kiln_dequant_q5_k},   {KILN_Q6_K, kiln_dequant_q6_k}, {KILN_Q8_K, kiln_dequant_q8_k},
    {KILN_NF4, kiln_dequant_nf4},     {KILN_INT4G, kiln_dequant_int4g}, {KILN_Q3_K, kiln_dequant_q3_k},
    {KILN_IQ4_NL, kiln_dequant_iq4_nl},
};
#define N_ELEM_FNS (int)(sizeof elem_fns / sizeof elem_fns[0])

/* ------------------------------------------------------------------ table */

Test(formats, table_entries)
{
    static const struct {
        kiln_dtype t;
        const char *name;
        int elems, bytes, ggml, quantized, weight;
    } want[] = {
        {KILN_F32, "f32", 1, 4, 0, 0, 1},         {KILN_F16, "f16", 1, 2, 1, 0, 1},
        {KILN_BF16, "bf16", 1, 2, 30, 0, 1},      {KILN_Q4_0, "q4_0", 32, 18, 2, 1, 1},
        {KILN_Q4_1, "q4_1", 32, 20, 3, 1, 1},     {KILN_Q5_0, "q5_0", 32, 22, 6, 1, 1},
        {KILN_Q5_1, "q5_1", 32, 24, 7, 1, 1},     {KILN_Q8_0, "q8_0", 32, 34, 8, 1, 1},
        {KILN_Q4_K, "q4_k", 256, 144, 12, 1, 1},  {KILN_Q5_K, "q5_k", 256, 176, 13, 1, 1},
        {KILN_Q6_K, "q6_k", 256, 210, 14, 1, 1},  {KILN_NF4, "nf4", 64, 36, 1024, 1, 1},
        {KILN_INT4G, "int4g", 128, 68, 1025, 1, 1}, {KILN_Q8_K, "q8_k", 256, 292, 15, 1, 0},
        {KILN_I32, "i32", 1, 4, 26, 0, 0},        {KILN_Q3_K, "q3_k", 256, 110, 11, 1, 1},
        {KILN_IQ4_NL, "iq4_nl", 32, 18, 20, 1, 1},
    };
    cr_assert_eq((int)(sizeof want / sizeof want[0]), KILN_DTYPE_COUNT, "every dtype is listed here");
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const kiln_dtype_info *info = kiln_dtype_get(want[k].t);
        cr_assert(info, "dtype %d has an entry", (int)want[k].t);
        cr_assert_str_eq(info->name, want[k].name);
        cr_assert_eq(info->block_elems, want[k].elems, "%s block_elems", want[k].name);
        cr_assert_eq(info->block_bytes, want[k].bytes, "%s block_bytes", want[k].name);
        cr_assert_eq(info->ggml_type, want[k].ggml, "%s ggml id", want[k].name);
        cr_assert_eq(info->is_quantized, want[k].quantized, "%s is_quantized", want[k].name);
        cr_assert_eq(info->is_weight_format, want[k].weight, "%s is_weight_format", want[k].name);
    }
    cr_assert_null(kiln_dtype_get(KILN_DTYPE_COUNT));
    cr_assert_null(kiln_dtype_get((kiln_dtype)-1));
}

Test(formats, name_lookup)
{
    for (int t = 0; t < KILN_DTYPE_COUNT; t++)
        cr_assert_eq(kiln_dtype_from_name(kiln_dtype_get((kiln_dtype)t)->name), t);
    cr_assert_eq(kiln_dtype_from_name("Q4_K"), KILN_Q4_K, "lookup is case-insensitive");
    cr_assert_eq(kiln_dtype_from_name("BF16"), KILN_BF16);
    cr_assert_eq(kiln_dtype_from_name("INT4G"), KILN_INT4G);
    cr_assert_eq(kiln_dtype_from_name("q4_2"), -1);
    cr_assert_eq(kiln_dtype_from_name("q4_k "), -1, "no trailing garbage");
    cr_assert_eq(kiln_dtype_from_name("q4"), -1, "no prefix match");
    cr_assert_eq(kiln_dtype_from_name(""), -1);
    cr_assert_eq(kiln_dtype_from_name(NULL), -1);
}

Test(formats, ggml_lookup)
{
    static const struct { int ggml; int t; } map[] = {
        {0, KILN_F32},   {1, KILN_F16},   {2, KILN_Q4_0},  {3, KILN_Q4_1},    {6, KILN_Q5_0},
        {7, KILN_Q5_1},  {8, KILN_Q8_0},  {12, KILN_Q4_K}, {13, KILN_Q5_K},   {14, KILN_Q6_K},
        {15, KILN_Q8_K}, {26, KILN_I32},  {30, KILN_BF16}, {1024, KILN_NF4},  {1025, KILN_INT4G},
        {11, KILN_Q3_K}, {20, KILN_IQ4_NL},
    };
    for (size_t k = 0; k < sizeof map / sizeof map[0]; k++)
        cr_assert_eq(kiln_dtype_from_ggml(map[k].ggml), map[k].t, "ggml id %d", map[k].ggml);
    /* GGUF types kiln does not support: q2_K, iq2_xxs, q8_1, and nonsense */
    static const int unsupported[] = {4, 5, 9, 10, 16, 24, 25, 27, 28, 29, 31, 39, -1, 1026, 99999};
    for (size_t k = 0; k < sizeof unsupported / sizeof unsupported[0]; k++)
        cr_assert_eq(kiln_dtype_from_ggml(unsupported[k]), -1, "ggml id %d", unsupported[k]);
}

Test(formats, row_bytes)
{
    cr_assert_eq(kiln_row_bytes(KILN_F32, 1), 4);
    cr_assert_eq(kiln_row_bytes(KILN_F16, 7), 14);
    cr_assert_eq(kiln_row_bytes(KILN_BF16, 0), 0);
    cr_assert_eq(kiln_row_bytes(KILN_Q4_0, 32), 18);
    cr_assert_eq(kiln_row_bytes(KILN_Q4_0, 4096), 2304);
    cr_assert_eq(kiln_row_bytes(KILN_Q4_0, 33), 0, "not a multiple of the block");
    cr_assert_eq(kiln_row_bytes(KILN_Q4_0, 16), 0);
    cr_assert_eq(kiln_row_bytes(KILN_Q4_0, -32), 0);
    cr_assert_eq(kiln_row_bytes(KILN_Q8_0, 11008), 11008 / 32 * 34);
    cr_assert_eq(kiln_row_bytes(KILN_Q4_K, 256), 144);
    cr_assert_eq(kiln_row_bytes(KILN_Q4_K, 128), 0);
    cr_assert_eq(kiln_row_bytes(KILN_Q6_K, 14336), 14336 / 256 * 210);
    cr_assert_eq(kiln_row_bytes(KILN_NF4, 4096), 64 * 36);
    cr_assert_eq(kiln_row_bytes(KILN_INT4G, 4096), 32 * 68);
    cr_assert_eq(kiln_row_bytes(KILN_INT4G, 64), 0);
    cr_assert_eq(kiln_row_bytes(KILN_I32, 3), 12);
    cr_assert_eq(kiln_row_bytes((kiln_dtype)KILN_DTYPE_COUNT, 32), 0, "unknown type");
    /* large rows do not overflow */
    cr_assert_eq(kiln_row_bytes(KILN_Q4_0, (int64_t)1 << 40), ((size_t)1 << 35) * 18);
}

/* ------------------------------------------------------------------ f16 / bf16 */

Test(formats, f16_all_values_round_trip)
{
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = kiln_f16_to_f32((uint16_t)h);
        const uint16_t back = kiln_f32_to_f16(f);
        if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu)) { /* NaN stays NaN, quiet, sign kept */
            cr_assert(isnan(f), "h=0x%04x", h);
            cr_assert_eq(back & 0xfe00u, (h & 0x8000u) | 0x7e00u, "h=0x%04x -> 0x%04x", h, back);
        } else {
            cr_assert_eq(back, h, "h=0x%04x -> %a -> 0x%04x", h, (double)f, back);
        }
        /* the dialect's converter is the same function */
        cr_assert_eq(f32_bits(kiln_h2f_(h)), f32_bits(f), "dialect h2f differs at 0x%04x", h);
    }
    cr_assert_eq(kiln_f16_to_f32(0x0001), ldexpf(1.0f, -24), "smallest subnormal");
    cr_assert_eq(kiln_f16_to_f32(0x03ff), ldexpf(1023.0f, -24), "largest subnormal");
    cr_assert_eq(kiln_f16_to_f32(0x7bff), 65504.0f);
    cr_assert(isinf(kiln_f16_to_f32(0xfc00)) && kiln_f16_to_f32(0xfc00) < 0);
}

Test(formats, f16_rounding)
{
    static const struct { float f; uint16_t h; } cases[] = {
        {1.0f, 0x3c00},
        {-2.0f, 0xc000},
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        {65504.0f, 0x7bff},
        {65519.99f, 0x7bff},              /* below the halfway point to 65536 */
        {65520.0f, 0x7c00},               /* halfway, ties to even = inf */
        {1e9f, 0x7c00},
        {-1e9f, 0xfc00},
        {1.0f + 0x1p-11f, 0x3c00},        /* tie -> even (down) */
        {1.0f + 3 * 0x1p-11f, 0x3c02},    /* tie -> even (up) */
        {1.0f + 0x1p-11f + 0x1p-20f, 0x3c01}, /* just above the tie */
        {0x1p-14f, 0x0400},               /* smallest normal */
        {0x1p-24f, 0x0001},               /* smallest subnormal */
        {0x1p-25f, 0x0000},               /* tie between 0 and 1 ulp -> 0 */
        {0x1.000002p-25f, 0x0001},
        {3 * 0x1p-25f, 0x0002},           /* tie 1|2 -> 2 */
        {5 * 0x1p-25f, 0x0002},           /* tie 2|3 -> 2 */
        {0x1p-14f - 0x1p-25f, 0x0400},    /* rounds up into the normals (tie, 0x3ff odd) */
        {1e-10f, 0x0000},
        {-1e-10f, 0x8000},
        {INFINITY, 0x7c00},
        {-INFINITY, 0xfc00},
        {0.1f, 0x2e66},
        {3.14159265f, 0x4248},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        cr_assert_eq(kiln_f32_to_f16(cases[k].f), cases[k].h, "%a -> 0x%04x, want 0x%04x", (double)cases[k].f,
                     kiln_f32_to_f16(cases[k].f), cases[k].h);
    const uint16_t n = kiln_f32_to_f16(NAN);
    cr_assert((n & 0x7c00u) == 0x7c00u && (n & 0x3ffu), "NaN -> 0x%04x", n);
    cr_assert(kiln_f32_to_f16(-NAN) & 0x8000u, "NaN sign kept");

#ifdef __FLT16_MAX__
    /* The compiler's own f32 -> _Float16 conversion is IEEE round to nearest
     * even, i.e. what F16C (and so ggml on x86) computes: compare on random
     * bit patterns of every magnitude. */
    kt_rng r = kt_rng_make(0xf16);
    for (int k = 0; k < 2000000; k++) {
        const float f = bits_f32((uint32_t)kt_next(&r));
        if (isnan(f)) continue;
        const _Float16 hf = (_Float16)f;
        uint16_t want;
        memcpy(&want, &hf, 2);
        cr_assert_eq(kiln_f32_to_f16(f), want, "seed %llu: %a -> 0x%04x, compiler says 0x%04x",
                     (unsigned long long)kt_seed(), (double)f, kiln_f32_to_f16(f), want);
    }
#endif
}

Test(formats, bf16_rounding)
{
    static const struct { uint32_t f; uint16_t h; } cases[] = {
        {0x3f800000u, 0x3f80}, /* 1.0 */
        {0x3f808000u, 0x3f80}, /* tie, even below */
        {0x3f818000u, 0x3f82}, /* tie, odd below -> up */
        {0x3f808001u, 0x3f81}, /* above the tie */
        {0x3f807fffu, 0x3f80}, /* below the tie */
        {0xbf818000u, 0xbf82}, /* negative tie */
        {0x7f7fffffu, 0x7f80}, /* FLT_MAX rounds to inf */
        {0x7f7f7fffu, 0x7f7f},
        {0x7f800000u, 0x7f80}, /* inf */
        {0xff800000u, 0xff80},
        {0x00000000u, 0x0000},
        {0x80000000u, 0x8000},
        {0x00008000u, 0x0000}, /* subnormal tie -> even (kept, not flushed) */
        {0x00018000u, 0x0002},
        {0x00010001u, 0x0001},
        {0x7f800001u, 0x7fc0}, /* signalling NaN -> quiet */
        {0x7fc00000u, 0x7fc0},
        {0xffa12345u, 0xffe1}, /* NaN: top payload kept, quiet bit forced */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const uint16_t got = kiln_f32_to_bf16(bits_f32(cases[k].f));
        cr_assert_eq(got, cases[k].h, "0x%08x -> 0x%04x, want 0x%04x", cases[k].f, got, cases[k].h);
    }
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = kiln_bf16_to_f32((uint16_t)h);
        cr_assert_eq(f32_bits(f), h << 16);
        if (!isnan(f)) cr_assert_eq(kiln_f32_to_bf16(f), h, "bf16 0x%04x round trip", h);
    }
}

/* ------------------------------------------------------------------ round trip */

/* Relative RMS error ||deq(q(x)) - x|| / ||x|| on Gaussian data, per format:
 * bounds about 1.15x what each format measures (q4_0 0.086, q4_1 0.078,
 * q4_K 0.071, nf4 0.092, int4g 0.100, q5_0 0.043, q5_1 0.038, q5_K 0.036,
 * q6_K 0.018, q8_K 0.0072, q8_0 0.0053, bf16 0.0017, f16 0.00021, q3_K 0.150,
 * iq4_nl 0.076), so a
 * scale search that got worse, or a misplaced nibble, fails. */
static const struct { kiln_dtype t; double max_rel_rms; } error_bounds[] = {
    {KILN_F32, 0.0},      {KILN_F16, 2.5e-4},   {KILN_BF16, 2.0e-3},  {KILN_Q8_0, 6.2e-3},
    {KILN_Q8_K, 8.5e-3},  {KILN_Q6_K, 2.05e-2}, {KILN_Q5_0, 4.9e-2},  {KILN_Q5_1, 4.35e-2},
    {KILN_Q5_K, 4.15e-2}, {KILN_Q4_0, 9.8e-2},  {KILN_Q4_1, 9.0e-2},  {KILN_Q4_K, 8.2e-2},
    {KILN_NF4, 1.05e-1},  {KILN_INT4G, 1.15e-1}, {KILN_Q3_K, 1.72e-1}, {KILN_IQ4_NL, 8.7e-2},
};

Test(formats, round_trip_error_gaussian, .timeout = 60)
{
    const int64_t n = 256 * 41; /* a multiple of every block size */
    kt_rng r = kt_rng_make(0x7219);
    float *x = kt_randn(&r, (size_t)n, 0.0, 1.0);
    /* a few rows with other scales and an offset, where asymmetric formats differ */
    for (int64_t i = 0; i < n / 4; i++) x[i] = x[i] * 2e-2f;
    for (int64_t i = n / 2; i < n / 2 + 1024; i++) x[i] = x[i] * 50.0f + 3.0f;
    for (size_t k = 0; k < sizeof error_bounds / sizeof error_bounds[0]; k++) {
        const kiln_dtype t = error_bounds[k].t;
        const char *name = kiln_dtype_get(t)->name;
        const size_t bytes = kiln_row_bytes(t, n);
        uint8_t *q = malloc(bytes);
        float *y = nan_floats((size_t)n);
        cr_assert_eq(kiln_quantize_row(t, x, q, n), bytes, "%s: bytes written", name);
        cr_assert_eq(kiln_dequantize_row(t, q, y, n), 0, "%s: %s", name, kiln_last_error());
        /* error relative to each 256-element stretch, so the small, N(0,1)
         * and offset stretches count alike: their mean squared relative error
         * has to stay under the bound, and no single stretch may exceed twice it */
        double mean_sq = 0, worst = 0;
        const int64_t stretches = n / 256;
        for (int64_t s = 0; s < n; s += 256) {
            double err = 0, ref = 0;
            for (int64_t i = s; i < s + 256; i++) {
                cr_assert(isfinite(y[i]), "%s: element %lld not finite (seed %llu)", name, (long long)i,
                          (unsigned long long)kt_seed());
                err += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
                ref += (double)x[i] * x[i];
            }
            mean_sq += err / ref / (double)stretches;
            if (sqrt(err / ref) > worst) worst = sqrt(err / ref);
        }
        const double rel = sqrt(mean_sq), bound = error_bounds[k].max_rel_rms;
        cr_assert_leq(rel, bound, "%s: relative RMS error %.5f > %.5f (seed %llu)", name, rel, bound,
                      (unsigned long long)kt_seed());
        cr_assert_leq(worst, 2 * bound, "%s: one 256-element stretch has relative RMS error %.5f > %.5f (seed %llu)",
                      name, worst, 2 * bound, (unsigned long long)kt_seed());
        if (getenv("KILN_TEST_VERBOSE")) cr_log_info("%s: relative RMS error %.5f, worst stretch %.5f", name, rel, worst);
        free(q);
        free(y);
    }
    free(x);
}

Test(formats, zeros_and_constants)
{
    /* all-zero input dequantizes to exact zeros in every format; so does a
     * constant for the formats that can represent it exactly */
    enum { N = 512 };
    float x[N], y[N];
    uint8_t q[N * 4];
    for (int t = 0; t < KILN_DTYPE_COUNT; t++) {
        memset(x, 0, sizeof x);
        for (int i = 0; i < N; i++) y[i] = NAN;
        cr_assert_eq(kiln_quantize_row((kiln_dtype)t, x, q, N), kiln_row_bytes((kiln_dtype)t, N));
        cr_assert_eq(kiln_dequantize_row((kiln_dtype)t, q, y, N), 0);
        for (int i = 0; i < N; i++)
            cr_assert_eq(y[i], 0.0f, "%s: zero input, element %d = %g", kiln_dtype_get((kiln_dtype)t)->name, i, y[i]);
    }
    /* +-1 everywhere: exact in the formats whose grid holds both -1 and +1
     * (nf4: absmax 1 and codes 0 and 15) */
    static const kiln_dtype exact_pm1[] = {KILN_F16, KILN_BF16, KILN_NF4};
    for (size_t k = 0; k < sizeof exact_pm1 / sizeof exact_pm1[0]; k++) {
        for (int i = 0; i < N; i++) x[i] = (i * 7) % 3 == 0 ? -1.0f : 1.0f;
        cr_assert_eq(kiln_quantize_row(exact_pm1[k], x, q, N), kiln_row_bytes(exact_pm1[k], N));
        cr_assert_eq(kiln_dequantize_row(exact_pm1[k], q, y, N), 0);
        for (int i = 0; i < N; i++)
            cr_assert_eq(y[i], x[i], "%s: element %d = %g, want %g", kiln_dtype_get(exact_pm1[k])->name, i, y[i], x[i]);
    }
}

/* Quantize writes exactly kiln_row_bytes and dequantize exactly n floats
 * (canaries after both), for one block, a few blocks, and odd lengths of the
 * plain types; plain types convert element by element. */
Test(formats, writes_stay_in_bounds_and_plain_types_convert)
{
    kt_rng r = kt_rng_make(0xb0b);
    for (int t = 0; t < KILN_DTYPE_COUNT; t++) {
        const kiln_dtype_info *info = kiln_dtype_get((kiln_dtype)t);
        const int64_t lens[] = {info->block_elems, 3 * (int64_t)info->block_elems,
                                info->block_elems == 1 ? 1001 : 17 * (int64_t)info->block_elems};
        for (size_t c = 0; c < sizeof lens / sizeof lens[0]; c++) {
            const int64_t n = lens[c];
            const size_t bytes = kiln_row_bytes((kiln_dtype)t, n);
            float *x = kt_randn(&r, (size_t)n, 0.0, 4.0);
            uint8_t *q = malloc(bytes + 64);
            float *y = nan_floats((size_t)n + 16);
            memset(q, 0xa5, bytes + 64);
            cr_assert_eq(kiln_quantize_row((kiln_dtype)t, x, q, n), bytes, "%s n=%lld", info->name, (long long)n);
            for (size_t i = bytes; i < bytes + 64; i++) cr_assert_eq(q[i], 0xa5, "%s: quantize wrote past the row", info->name);
            cr_assert_eq(kiln_dequantize_row((kiln_dtype)t, q, y, n), 0);
            for (int64_t i = n; i < n + 16; i++) cr_assert(isnan(y[i]), "%s: dequantize wrote past n", info->name);
            for (int64_t i = 0; i < n && !info->is_quantized; i++) {
                float want = x[i];
                if (t == KILN_F16) want = kiln_f16_to_f32(kiln_f32_to_f16(x[i]));
                if (t == KILN_BF16) want = kiln_bf16_to_f32(kiln_f32_to_bf16(x[i]));
                if (t == KILN_I32) want = nearbyintf(x[i]);
                cr_assert_eq(y[i], want, "%s element %lld: %g -> %g, want %g", info->name, (long long)i, x[i], y[i], want);
            }
            free(x);
            free(q);
            free(y);
        }
    }
}

/* ------------------------------------------------------------------ exact layouts */

/* Dequantizes one hand-built block with both kiln_dequantize_row and the
 * dequant.h element function and checks every element against want[]. */
static void check_block(kiln_dtype t, const uint8_t *blk, const float *want)
{
    const kiln_dtype_info *info = kiln_dtype_get(t);
    float y[256];
    for (int i = 0; i < 256; i++) y[i] = NAN;
    cr_assert_eq(kiln_dequantize_row(t, blk, y, info->block_elems), 0);
    dequant_elem_fn fn = NULL;
    for (int k = 0; k < N_ELEM_FNS; k++)
        if (elem_fns[k].t == t) fn = elem_fns[k].fn;
    cr_assert(fn);
    for (int i = 0; i < info->block_elems; i++) {
        cr_assert_eq(y[i], want[i], "%s element %d: %.9g, want %.9g", info->name, i, y[i], want[i]);
        cr_assert_eq(fn(blk, 0, i), want[i], "dequant.h %s element %d", info->name, i);
    }
}

Test(formats, layout_q4_0_q4_1)
{
    uint8_t b[20];
    float want[32];
    /* q4_0: d = 0.5; byte j = j | (15-j) << 4 -> element j = (j-8)/2, element 16+j = (7-j)/2 */
    put16(b, 0x3800);
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    for (int j = 0; j < 16; j++) {
        want[j] = (j - 8) * 0.5f;
        want[16 + j] = (7 - j) * 0.5f;
    }
    cr_assert_eq(want[0], -4.0f);
    cr_assert_eq(want[16], 3.5f);
    check_block(KILN_Q4_0, b, want);

    /* q4_1: d = 0.25, m = -1; same nibbles -> element j = j/4 - 1, 16+j = (15-j)/4 - 1 */
    put16(b, 0x3400);
    put16(b + 2, 0xbc00);
    for (int j = 0; j < 16; j++) b[4 + j] = (uint8_t)(j | ((15 - j) << 4));
    for (int j = 0; j < 16; j++) {
        want[j] = j * 0.25f - 1.0f;
        want[16 + j] = (15 - j) * 0.25f - 1.0f;
    }
    cr_assert_eq(want[31], -1.0f);
    check_block(KILN_Q4_1, b, want);
}

Test(formats, layout_q5_0_q5_1)
{
    uint8_t b[24];
    float want[32];
    /* q5_0: d = 1; qh bytes 01 00 00 80: bit 4 set for elements 0 and 31 only.
     * qs[0] = 0xf3: element 0 = (3|16)-16 = 3, element 16 = 15-16 = -1.
     * qs[15] = 0x20: element 15 = 0-16 = -16, element 31 = (2|16)-16 = 2.
     * Other qs = 0x88: elements = 8-16 = -8. */
    put16(b, 0x3c00);
    b[2] = 0x01; b[3] = 0x00; b[4] = 0x00; b[5] = 0x80;
    for (int j = 0; j < 16; j++) b[6 + j] = 0x88;
    b[6] = 0xf3;
    b[6 + 15] = 0x20;
    for (int j = 0; j < 32; j++) want[j] = -8.0f;
    want[0] = 3; want[16] = -1; want[15] = -16; want[31] = 2;
    check_block(KILN_Q5_0, b, want);

    /* q5_1: d = 0.5, m = 1; qh bit e set for odd e; qs all 0x21 ->
     * even elements < 16: 1, odd < 16: 1|16 = 17; >= 16: 2 or 18. */
    put16(b, 0x3800);
    put16(b + 2, 0x3c00);
    b[4] = b[5] = b[6] = b[7] = 0xaa;
    for (int j = 0; j < 16; j++) b[8 + j] = 0x21;
    for (int j = 0; j < 32; j++) want[j] = (float)((j < 16 ? 1 : 2) + (j & 1 ? 16 : 0)) * 0.5f + 1.0f;
    cr_assert_eq(want[1], 9.5f);
    cr_assert_eq(want[16], 2.0f);
    check_block(KILN_Q5_1, b, want);
}

Test(formats, layout_q8_0_q8_k)
{
    uint8_t b[292];
    float want[256];
    /* q8_0: d = 2; qs[j] = j*8 - 128 as int8 (so -128..120) */
    put16(b, 0x4000);
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)(j * 8 - 128);
    for (int j = 0; j < 32; j++) want[j] = 2.0f * (j * 8 - 128);
    cr_assert_eq(want[0], -256.0f);
    check_block(KILN_Q8_0, b, want);

    /* q8_K: f32 d = 0.125; qs[j] = j - 128; bsums ignored by dequantization */
    putf32(b, 0.125f);
    for (int j = 0; j < 256; j++) b[4 + j] = (uint8_t)(int8_t)(j - 128);
    memset(b + 260, 0x5a, 32);
    for (int j = 0; j < 256; j++) want[j] = 0.125f * (j - 128);
    check_block(KILN_Q8_K, b, want);
}

/* 6-bit scales and mins used by the q4_K / q5_K layout tests, and their
 * packing into 12 bytes worked out by hand (see docs/FORMATS.md):
 *   bytes 0-3: sc[0..3] | top2(sc[4..7]) << 6
 *   bytes 4-7: m[0..3]  | top2(m[4..7])  << 6
 *   bytes 8-11: low4(sc[4..7]) | low4(m[4..7]) << 4 */
static const int k_sc[8] = {1, 2, 3, 4, 17, 33, 50, 63};
static const int k_m[8] = {0, 5, 10, 63, 16, 31, 47, 62};
static const uint8_t k_packed[12] = {0x41, 0x82, 0xc3, 0xc4, 0x40, 0x45, 0x8a, 0xff, 0x01, 0xf1, 0xf2, 0xef};

Test(formats, layout_q4_k)
{
    uint8_t b[144];
    float want[256];
    put16(b, 0x3c00);     /* d = 1 */
    put16(b + 2, 0x3800); /* dmin = 0.5 */
    memcpy(b + 4, k_packed, 12);
    /* qs[32c + l] = (l & 15) | (15 - (l & 15)) << 4 */
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) b[16 + 32 * c + l] = (uint8_t)((l & 15) | ((15 - (l & 15)) << 4));
    for (int j = 0; j < 256; j++) {
        const int c = j / 64, h = (j / 32) & 1, l = j % 32, s = 2 * c + h;
        const int q = h ? 15 - (l & 15) : (l & 15);
        want[j] = (1.0f * k_sc[s]) * q - 0.5f * k_m[s];
    }
    cr_assert_eq(want[0], 0.0f);            /* sc 1, q 0, m 0 */
    cr_assert_eq(want[255], 63.0f * 0 - 31.0f); /* s = 7: q = 15-15 = 0, m = 62 */
    check_block(KILN_Q4_K, b, want);
}

Test(formats, layout_q5_k)
{
    uint8_t b[176];
    float want[256];
    put16(b, 0x3800);     /* d = 0.5 */
    put16(b + 2, 0x3c00); /* dmin = 1 */
    memcpy(b + 4, k_packed, 12);
    for (int l = 0; l < 32; l++) b[16 + l] = (uint8_t)(l & 1 ? 0xaa : 0x55); /* qh */
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) b[48 + 32 * c + l] = (uint8_t)(((l * 5) & 15) | ((l & 15) << 4));
    for (int j = 0; j < 256; j++) {
        const int c = j / 64, h = (j / 32) & 1, l = j % 32, s = 2 * c + h;
        const int lo = h ? (l & 15) : ((l * 5) & 15);
        /* qh bit s: 0x55 has the even bits, 0xaa the odd ones */
        const int hb = (l & 1) ? (s & 1) : !(s & 1);
        want[j] = (0.5f * k_sc[s]) * (lo + 16 * hb) - 1.0f * k_m[s];
    }
    check_block(KILN_Q5_K, b, want);
}

/* q3_K: want[] written as ggml's dequantize_row_q3_K unpacks the scales
 * (the kmask/aux word shuffle), not as dequant.h does (per sub-block). */
Test(formats, layout_q3_k)
{
    uint8_t b[110];
    float want[256];
    for (int k = 0; k < 32; k++) b[k] = (uint8_t)(k * 53 + 7);        /* hmask */
    for (int k = 0; k < 64; k++) b[32 + k] = (uint8_t)(k * 29 + 3);   /* qs */
    for (int k = 0; k < 12; k++) b[96 + k] = (uint8_t)(k * 71 + 11);  /* scales */
    put16(b + 108, 0x3800);                                           /* d = 0.5 */
    uint32_t aux[4];
    memcpy(aux, b + 96, 12);
    const uint32_t kmask1 = 0x03030303u, kmask2 = 0x0f0f0f0fu, tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    const int8_t *scales = (const int8_t *)aux;
    const uint8_t *q = b + 32, *hm = b;
    float *y = want;
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < 256; n += 128, q += 32)
        for (int j = 0, shift = 0; j < 4; j++, shift += 2, m = (uint8_t)(m << 1)) {
            float dl = 0.5f * (scales[is++] - 32);
            for (int l = 0; l < 16; l++) *y++ = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
            dl = 0.5f * (scales[is++] - 32);
            for (int l = 0; l < 16; l++) *y++ = dl * (((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
        }
    /* by hand, j = 0: qs[0] = 3 -> low 3; hmask[0] = 7 -> bit 0 set: q = 3;
     * scale 0: low nibble of scales[0] = 11 -> 11, top bits of scales[8] =
     * 8*71+11 = 579 & 255 = 67 -> bits 0-1 = 3 -> 11 | 48 = 59 - 32 = 27;
     * 0.5 * 27 * 3 = 40.5 */
    cr_assert_eq(want[0], 40.5f);
    check_block(KILN_Q3_K, b, want);
}

/* iq4_nl: q4_0's nibble order, codes index ggml's kvalues_iq4nl. */
Test(formats, layout_iq4_nl)
{
    static const int8_t kv[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    uint8_t b[18];
    float want[32];
    put16(b, 0xb800); /* d = -0.5 */
    for (int k = 0; k < 16; k++) b[2 + k] = (uint8_t)(k | (15 - k) << 4);
    for (int j = 0; j < 16; j++) {
        want[j] = -0.5f * kv[j];
        want[j + 16] = -0.5f * kv[15 - j];
    }
    cr_assert_eq(want[0], 63.5f);
    cr_assert_eq(want[16], -56.5f);
    check_block(KILN_IQ4_NL, b, want);
}

Test(formats, layout_q6_k)
{
    uint8_t b[210];
    float want[256];
    static const int8_t sc[16] = {-128, -1, 1, 127, 2, -3, 4, -5, 6, -7, 8, -9, 10, -11, 12, -13};
    for (int k = 0; k < 128; k++) b[k] = (uint8_t)((k & 15) | (((k >> 4) & 15) << 4)); /* ql */
    for (int k = 0; k < 64; k++) b[128 + k] = (uint8_t)(k * 37);                       /* qh */
    memcpy(b + 192, sc, 16);
    put16(b + 208, 0x3800); /* d = 0.5 */
    for (int j = 0; j < 256; j++) {
        /* element j: half n, quarter t, lane l */
        const int n = j / 128, t = (j / 32) % 4, l = j % 32;
        const uint8_t qlb = b[64 * n + 32 * (t & 1) + l];
        const int lo = t < 2 ? (qlb & 15) : (qlb >> 4);
        const int hi = (b[128 + 32 * n + l] >> (2 * t)) & 3;
        const int s = sc[8 * n + 2 * t + l / 16];
        want[j] = (0.5f * s) * (float)((lo | (hi << 4)) - 32);
    }
    /* two elements by hand: j = 0: ql[0] = 0x00 -> lo 0; qh[0] = 0 -> hi 0; q = -32; sc -128
     * -> 0.5 * -128 * -32 = 2048. j = 200: n 1, t 2, l 8: ql[64+8] = 0x48 -> lo 4;
     * qh[128+32+8=168-128=40] = 40*37 = 1480 & 255 = 0xc8 -> >>4 &3 = 0; q = 4-32 = -28;
     * sc[8+4+0] = 10 -> 0.5 * 10 * -28 = -140 */
    cr_assert_eq(want[0], 2048.0f);
    cr_assert_eq(want[200], -140.0f);
    check_block(KILN_Q6_K, b, want);
}

Test(formats, layout_nf4_int4g)
{
    uint8_t b[68];
    float want[128];
    /* nf4: absmax 2; byte j = (j%16) << 4 | (15 - j%16): element 2j (high
     * nibble) = 2 * NF4[j%16], element 2j+1 = 2 * NF4[15 - j%16] */
    static const float nf4[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                                  -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                                  0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f,
                                  0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
                                  0.7229568362236023f, 1.0f};
    putf32(b, 2.0f);
    for (int j = 0; j < 32; j++) b[4 + j] = (uint8_t)(((j % 16) << 4) | (15 - j % 16));
    for (int j = 0; j < 32; j++) {
        want[2 * j] = 2.0f * nf4[j % 16];
        want[2 * j + 1] = 2.0f * nf4[15 - j % 16];
    }
    cr_assert_eq(want[0], -2.0f);
    cr_assert_eq(want[1], 2.0f);
    cr_assert_eq(want[14], 0.0f);
    check_block(KILN_NF4, b, want);

    /* int4g: scale 0.5, zero 8; byte j = (j & 15) | ((3j) & 15) << 4: element 2j
     * (low nibble) = 0.5 * ((j&15) - 8), element 2j+1 = 0.5 * ((3j&15) - 8) */
    put16(b, 0x3800);
    b[2] = 8;
    b[3] = 0;
    for (int j = 0; j < 64; j++) b[4 + j] = (uint8_t)((j & 15) | (((3 * j) & 15) << 4));
    for (int j = 0; j < 64; j++) {
        want[2 * j] = 0.5f * (float)((j & 15) - 8);
        want[2 * j + 1] = 0.5f * (float)(((3 * j) & 15) - 8);
    }
    cr_assert_eq(want[0], -4.0f);
    cr_assert_eq(want[3], -2.5f);
    check_block(KILN_INT4G, b, want);
}

Test(formats, layout_plain)
{
    uint8_t b[4];
    float want[1];
    putf32(b, -3.25f);
    want[0] = -3.25f;
    check_block(KILN_F32, b, want);
    put16(b, 0xc140); /* -2.625 */
    want[0] = -2.625f;
    check_block(KILN_F16, b, want);
    put16(b, 0x4049); /* 3.140625 */
    want[0] = 3.140625f;
    check_block(KILN_BF16, b, want);
}

/* Quantizing values that sit exactly on a format's grid gives known bytes. */
Test(formats, quantize_known_bytes)
{
    float x[256];
    uint8_t q[292];
    /* q4_0: x[j] = j - 8 for the first half, 7 - j for the second: max |x| = 8
     * at x[0] = -8, so d = -8 / -8 = 1 and q = x + 8 */
    for (int j = 0; j < 16; j++) {
        x[j] = (float)(j - 8);
        x[16 + j] = (float)(7 - j);
    }
    cr_assert_eq(kiln_quantize_row(KILN_Q4_0, x, q, 32), 18);
    cr_assert_eq(q[0], 0x00);
    cr_assert_eq(q[1], 0x3c, "d = 1.0 (f16 0x3c00, little-endian)");
    for (int j = 0; j < 16; j++) cr_assert_eq(q[2 + j], (uint8_t)(j | ((15 - j) << 4)), "qs[%d] = 0x%02x", j, q[2 + j]);

    /* q8_0: x[j] = j - 16 -> amax 16, d = 16/127, q = round(x * 127/16) */
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16);
    cr_assert_eq(kiln_quantize_row(KILN_Q8_0, x, q, 32), 34);
    uint16_t d16;
    memcpy(&d16, q, 2);
    cr_assert_eq(d16, kiln_f32_to_f16(16.0f / 127.0f));
    cr_assert_eq((int8_t)q[2], -127);
    cr_assert_eq((int8_t)q[2 + 16], 0);
    cr_assert_eq((int8_t)q[2 + 24], 64); /* 8 * 127/16 = 63.5 -> away from zero */

    /* nf4: the table itself (times 3) quantizes to its own codes */
    static const int order[64] = {15, 0, 7, 8, 1, 14, 2, 13, 3, 12, 4, 11, 5, 10, 6, 9};
    for (int j = 0; j < 64; j++) x[j] = 3.0f * kiln_nf4_value((kiln_u32)order[j % 16]);
    cr_assert_eq(kiln_quantize_row(KILN_NF4, x, q, 64), 36);
    float absmax;
    memcpy(&absmax, q, 4);
    cr_assert_eq(absmax, 3.0f);
    for (int j = 0; j < 32; j++)
        cr_assert_eq(q[4 + j], (uint8_t)((order[(2 * j) % 16] << 4) | order[(2 * j + 1) % 16]), "nf4 byte %d", j);

    /* int4g: x = 0.5 * (q - 3) for q = j % 16 -> range [-1.5, 6], scale 0.5, zero 3 */
    for (int j = 0; j < 128; j++) x[j] = 0.5f * (float)((j % 16) - 3);
    cr_assert_eq(kiln_quantize_row(KILN_INT4G, x, q, 128), 68);
    memcpy(&d16, q, 2);
    cr_assert_eq(d16, 0x3800);
    cr_assert_eq(q[2], 3);
    cr_assert_eq(q[3], 0);
    for (int j = 0; j < 64; j++) cr_assert_eq(q[4 + j], (uint8_t)(((2 * j) % 16) | (((2 * j + 1) % 16) << 4)));

    /* q8_K: bsums are the sums of 16 consecutive codes */
    kt_rng r = kt_rng_make(0x8b);
    for (int j = 0; j < 256; j++) x[j] = (float)kt_gauss(&r);
    cr_assert_eq(kiln_quantize_row(KILN_Q8_K, x, q, 256), 292);
    for (int g = 0; g < 16; g++) {
        int sum = 0;
        for (int i = 0; i < 16; i++) sum += (int8_t)q[4 + 16 * g + i];
        int16_t bs;
        memcpy(&bs, q + 260 + 2 * g, 2);
        cr_assert_eq(bs, sum, "bsums[%d]", g);
    }
}

/* Golden bytes: 64 values quantized by gguf-py's numpy port of ggml's
 * reference quantizers (gguf 0.19.0, gguf.quants.quantize), to pin the legacy formats
 * to llama.cpp's bytes. Values are hex floats so they are exact. */
static const float golden_x[64] = {
    0x1.176f2ap-1f, 0x1.5f9ba8p+1f, 0x1.6e49c4p-1f, -0x1.0f98c0p-3f, 0x1.2f651ap+0f, 0x0.0p+0f,
    -0x1.50e3f2p-5f, 0x1.95e5c2p+0f, 0x1.1d6102p+0f, 0x1.786788p-2f, -0x1.2fbf48p-1f, 0x1.7d9a72p-2f,
    0x1.6ded02p-2f, 0x1.571282p+0f, 0x1.6415fep-1f, 0x1.987dbep+0f, 0x1.b69184p-1f, 0x1.733334p+1f,
    0x1.d3886ep-1f, 0x1.2bf150p-3f, -0x1.995100p-1f, 0x1.fea3a0p-2f, 0x1.b096c8p-5f, -0x1.ca48c4p-1f,
    -0x1.6a2f86p-3f, -0x1.cdd512p-2f, -0x1.9d4d46p+0f, 0x1.629046p-1f, 0x1.8f9d1cp-2f, -0x1.c8f064p-3f,
    0x1.fb0d70p-1f, -0x1.7db84ep-4f, 0x1.9c2c9ap-2f, -0x1.84b0cap-2f, 0x1.521c2ep+0f, 0x1.d17ecap-1f,
    0x1.010868p+0f, 0x1.315532p+0f, -0x1.5cf928p+0f, 0x1.7e0696p-1f, -0x1.8cccccp+1f, 0x1.7ea62ap-1f,
    -0x1.4bf7a6p+0f, 0x1.a61fa6p-1f, 0x1.4536d8p-5f, 0x1.ebb3d6p-2f, 0x1.9550b4p-2f, 0x1.1d4ac2p-2f,
    0x1.71afd4p+0f, 0x1.c49d0ap-2f, 0x1.b13d10p-3f, 0x1.51ff8ap+0f, -0x1.93b2b2p-4f, -0x1.5a48a2p-2f,
    -0x1.e72aaep-3f, -0x1.9c072cp-3f, -0x1.674ea8p-1f, -0x1.c2833ep-4f, 0x1.b8d262p-1f, -0x1.719c78p-1f,
    0x1.e2600cp-2f, -0x1.bf3e9ep-5f, 0x1.82ecf2p-4f, 0x1.07117cp+0f
};
static const uint8_t golden_q4_0[36] = {
    0xcd, 0xb5, 0x66, 0x00, 0x56, 0x88, 0xa5, 0x78, 0x88, 0xa4, 0x85, 0x97, 0xca, 0x67, 0x77, 0x94, 0x56,
    0x84, 0x33, 0x36, 0xc9, 0x97, 0x9b, 0xba, 0x8b, 0x7b, 0x74, 0x7a, 0x60, 0x8a, 0xa5, 0x6a, 0x98, 0x89,
    0x89, 0xb9
};
static const uint8_t golden_q4_1[40] = {
    0xd1, 0x34, 0x75, 0xbe, 0x87, 0xfe, 0x88, 0x65, 0x39, 0x75, 0x65, 0x2b, 0x59, 0x47, 0x03, 0x87, 0x77,
    0x5a, 0x98, 0x5b, 0xd9, 0x34, 0x33, 0xc2, 0xfc, 0xc9, 0xbf, 0xfd, 0xae, 0x9e, 0x96, 0xad, 0x80, 0xad,
    0xd6, 0x8d, 0xca, 0xac, 0xbc, 0xeb
};
static const uint8_t golden_q5_0[44] = {
    0xcd, 0xb1, 0x68, 0x04, 0xd0, 0xa7, 0xbd, 0x01, 0xbc, 0xf1, 0x49, 0xd0, 0x00, 0x57, 0x1a, 0x2e, 0x93,
    0xce, 0xee, 0x19, 0xbc, 0x17, 0x33, 0x32, 0xbd, 0xfa, 0x0f, 0xf4, 0x72, 0x2e, 0x17, 0x75, 0xf5, 0xe6,
    0xf9, 0xf4, 0xc0, 0xf4, 0x49, 0xc4, 0x20, 0x02, 0x02, 0x51
};
static const uint8_t golden_q5_1[48] = {
    0xa9, 0x30, 0x75, 0xbe, 0x96, 0xe1, 0x07, 0x48, 0x1f, 0xfe, 0x10, 0xca, 0x63, 0xfb, 0xbb, 0x56, 0xa3,
    0x8e, 0x07, 0x0e, 0xee, 0xa4, 0x20, 0xa6, 0xb1, 0x30, 0x33, 0xc2, 0xbf, 0xfa, 0xff, 0xff, 0xf8, 0x83,
    0x7e, 0xeb, 0x4c, 0x3d, 0x4c, 0x4a, 0x00, 0x4a, 0xbc, 0x0b, 0x85, 0x58, 0x68, 0xc7
};
static const uint8_t golden_q8_0[68] = {
    0xd8, 0x25, 0x18, 0x78, 0x1f, 0xfa, 0x34, 0x00, 0xfe, 0x45, 0x31, 0x10, 0xe6, 0x10, 0x10, 0x3b, 0x1e,
    0x46, 0x26, 0x7f, 0x28, 0x06, 0xdd, 0x16, 0x02, 0xd9, 0xf8, 0xec, 0xb9, 0x1e, 0x11, 0xf6, 0x2b, 0xfc,
    0x40, 0x26, 0x10, 0xf0, 0x36, 0x25, 0x29, 0x31, 0xc8, 0x1f, 0x81, 0x1f, 0xcb, 0x22, 0x02, 0x14, 0x10,
    0x0b, 0x3b, 0x12, 0x09, 0x36, 0xfc, 0xf2, 0xf6, 0xf8, 0xe3, 0xfb, 0x23, 0xe2, 0x13, 0xfe, 0x04, 0x2a
};

Test(formats, legacy_quantizers_match_ggml_golden_bytes)
{
    static const struct { kiln_dtype t; const uint8_t *bytes; size_t size; } golden[] = {
        {KILN_Q4_0, golden_q4_0, sizeof golden_q4_0}, {KILN_Q4_1, golden_q4_1, sizeof golden_q4_1},
        {KILN_Q5_0, golden_q5_0, sizeof golden_q5_0}, {KILN_Q5_1, golden_q5_1, sizeof golden_q5_1},
        {KILN_Q8_0, golden_q8_0, sizeof golden_q8_0},
    };
    uint8_t q[128];
    for (size_t k = 0; k < sizeof golden / sizeof golden[0]; k++) {
        const char *name = kiln_dtype_get(golden[k].t)->name;
        memset(q, 0xee, sizeof q);
        cr_assert_eq(kiln_quantize_row(golden[k].t, golden_x, q, 64), golden[k].size, "%s size", name);
        for (size_t i = 0; i < golden[k].size; i++)
            cr_assert_eq(q[i], golden[k].bytes[i], "%s byte %zu: 0x%02x, ggml has 0x%02x", name, i, q[i],
                         golden[k].bytes[i]);
    }
}

/* Golden bytes for the K-quants: one super-block of 256 values (sub-blocks
 * with different spreads and offsets, one all zero) quantized by ggml's own
 * quantize_row_q{4,5,6,8}_K_ref from llama.cpp's ggml-quants.c (as vendored
 * in llama-cpp-python 0.3.36), compiled outside this tree. */
static const float golden_kx[256] = {
    -0x1.dap-2f, -0x1.2fp-2f, -0x1.73p-3f, -0x1.858p-2f, -0x1.6p-2f, -0x1.4c8p-2f,
    -0x1.0b8p-2f, -0x1.24p-2f, -0x1.554p-2f, -0x1.b7p-3f, -0x1.258p-2f, -0x1.408p-2f,
    -0x1.3c4p-2f, -0x1.13p-2f, -0x1.43p-2f, -0x1.514p-2f, -0x1.284p-2f, -0x1.6bp-2f,
    -0x1.fbp-3f, -0x1.bacp-2f, -0x1.1c4p-2f, -0x1.45cp-2f, -0x1.46p-2f, -0x1.8ccp-2f,
    -0x1.f5p-3f, -0x1.54cp-2f, -0x1.9ecp-2f, -0x1.2p-2f, -0x1.564p-2f, -0x1.43cp-2f,
    -0x1.5acp-2f, -0x1.2f8p-2f, -0x1.42p-4f, 0x1.402p-1f, -0x1.0a8p-2f, 0x1.444p-2f,
    0x1.727p+0f, 0x1.23p-4f, -0x1.8fp-2f, 0x1.19cp-1f, 0x1.88p-3f, 0x1.c16p+0f,
    -0x1.b88p-2f, 0x1.bbp-2f, -0x1.57p-2f, -0x1.a6cp-2f, -0x1.1d8p-2f, 0x1.49p-3f,
    0x1.cccp-2f, 0x1.356p-1f, 0x1.3p-5f, 0x1.1ap-2f, -0x1.d24p-2f, 0x1.71p-2f,
    0x1.04p-5f, -0x1.37p-3f, -0x1.9c8p-2f, 0x1.ff4p-2f, -0x1.c8p-5f, 0x1.734p-2f,
    -0x1.e28p-3f, -0x1.38cp-2f, -0x1.398p-2f, 0x1.49p-3f, -0x1.24p-6f, 0x1.038p-3f,
    0x1.552p-1f, 0x1.265p+0f, 0x1.b58p-2f, -0x1.ccp-4f, -0x1.248p-3f, -0x1.d88p-1f,
    0x1.b44p-2f, 0x1.614p-2f, 0x1.b98p-2f, -0x1.ad8p-2f, 0x1.96dp+0f, 0x1.23p-3f,
    0x1.44p-3f, -0x1.6bp-3f, 0x1.205p+0f, -0x1.2e8p-2f, -0x1.99p-2f, 0x1.696p-1f,
    0x1.854p-1f, 0x1.0fp-1f, -0x1.c48p-3f, 0x1.702p-1f, 0x1.d44p-1f, -0x1.35ep-1f,
    -0x1.4ddp+0f, 0x1.9dp-2f, 0x1.3778p+1f, 0x1.2fap+0f, 0x1.874p-2f, 0x1.8bp+0f,
    -0x1.26p+0f, 0x1.3ep-4f, 0x1.105p+0f, 0x1.13cp+0f, 0x1.c14p-1f, -0x1.9068p+1f,
    -0x1.f2cp-1f, 0x1.a2p-3f, -0x1.966p+0f, 0x1.1bcp+0f, 0x1.b34p-2f, 0x1.684p+0f,
    0x1.c4ep+0f, -0x1.753p+1f, 0x1.d6p-5f, -0x1.5b48p+1f, 0x1.5afp+0f, -0x1.0fap-1f,
    -0x1.f0ep-1f, 0x1.448p+0f, -0x1.a8p-6f, -0x1.af8p-2f, 0x1.a14p-1f, 0x1.a3ep+0f,
    0x1.83fp+0f, 0x1.4d8p-3f, -0x1.f5p-3f, 0x1.c2p-1f, 0x1.f1p-3f, -0x1.a09p+0f,
    -0x1.584p+0f, -0x1.e56p-1f, 0x1.17p-4f, 0x1.5d4p-1f, -0x1.908p-3f, 0x1.0ep-5f,
    0x1.43a8p+1f, -0x1.f65p+1f, 0x1.92p-1f, 0x1.398p-1f, -0x1.eeep-1f, 0x1.6218p+1f,
    -0x1.d09p+0f, -0x1.2a08p+1f, 0x1.138p-1f, -0x1.9db8p+1f, 0x1.ef4p-2f, -0x1.3c9p+0f,
    -0x1.2928p+1f, 0x1.1p-4f, -0x1.095p+0f, -0x1.1f08p+1f, -0x1.518p-1f, -0x1.ap-1f,
    -0x1.4558p+1f, -0x1.662p+0f, 0x1.d76p+0f, -0x1.2cep+0f, 0x1.4158p+1f, 0x1.4e8p-3f,
    0x1.3cp-3f, -0x1.dffp+0f, -0x1.de8p-1f, -0x1.848p-1f, 0x0p+0f, 0x0p+0f,
    0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f,
    0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f,
    0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f,
    0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f,
    0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f, 0x0p+0f,
    0x1.468p-2f, -0x1.367p+0f, -0x1.01ep-1f, 0x1.697p+0f, -0x1.4d8p-1f, -0x1.5ebp+2f,
    0x1.127p+1f, -0x1.52cp-1f, -0x1.553p+2f, -0x1.0ap-2f, -0x1.39e8p+1f, -0x1.e84p-1f,
    -0x1.9da8p+1f, 0x1.bbep+0f, -0x1.0c7p+1f, 0x1.798p-3f, 0x1.5618p+1f, 0x1.9p+0f,
    0x1.111p+1f, 0x1.2f8p+1f, -0x1.fcap-1f, 0x1.55fp+1f, -0x1.f72p-1f, 0x1.5d2p-1f,
    -0x1.5d18p+1f, 0x1.5f88p+1f, 0x1.6528p+1f, -0x1.134p-1f, -0x1.d4p-4f, -0x1.959p+0f,
    -0x1.62acp+2f, 0x1.f06cp+2f, -0x1.a74p-2f, -0x1.426p+2f, 0x1.472p+2f, 0x1.e3cp+1f,
    -0x1.6d3p+0f, 0x1.9f8p+0f, 0x1.efp-3f, 0x1.068p+0f, -0x1.545p+2f, -0x1.0d38p+2f,
    0x1.0c3p+2f, -0x1.5e8p+0f, 0x1.2558p+2f, 0x1.dcep-1f, -0x1.6c8p-2f, 0x1.e18p-3f,
    0x1.6p-8f, -0x1.9c8p-2f, -0x1.356p+0f, 0x1.0e0cp+2f, 0x1.088p-3f, -0x1.9e1p+1f,
    0x1.edep+0f, -0x1.6dep-1f, 0x1.90ep-1f, 0x1.9fep+1f, -0x1.d9cp-1f, -0x1.d3ep-1f,
    0x1.954p-1f, 0x1.1p-5f, -0x1.bb9p+0f, -0x1.07p-4f,
};
static const uint8_t golden_q4_k[144] = {
    0x2b, 0x23, 0x66, 0x2d, 0x81, 0x0a, 0xd2, 0xd7, 0xc5, 0x05, 0xd0, 0xe6, 0x01, 0x00, 0xff, 0xf2,
    0x20, 0x79, 0x1f, 0x53, 0xd6, 0x47, 0x0b, 0x7a, 0x46, 0xff, 0x0a, 0x68, 0x18, 0x0b, 0x18, 0x47,
    0x69, 0x75, 0x3c, 0x50, 0x0a, 0x67, 0x37, 0x22, 0x0d, 0x76, 0x31, 0x6a, 0x16, 0x18, 0x16, 0x49,
    0x65, 0xa6, 0xd8, 0xda, 0xd7, 0x05, 0x75, 0xb2, 0x57, 0xd7, 0xb7, 0xe4, 0xfc, 0x16, 0xa6, 0x25,
    0xea, 0x84, 0x74, 0xe8, 0xa8, 0x97, 0xc4, 0xf8, 0xf9, 0xa3, 0x90, 0xd7, 0xbf, 0x5a, 0x67, 0x7b,
    0x09, 0x0a, 0x08, 0x09, 0x0e, 0x00, 0x0a, 0x0a, 0x07, 0x0f, 0x05, 0x04, 0x0a, 0x02, 0x0a, 0x06,
    0x04, 0x09, 0x07, 0x04, 0x07, 0x07, 0x03, 0x06, 0x0d, 0x06, 0x0e, 0x09, 0x09, 0x05, 0x07, 0x07,
    0x76, 0x05, 0xf5, 0xd8, 0x65, 0xa0, 0x88, 0x95, 0x00, 0x26, 0xe3, 0x65, 0xe2, 0x98, 0x74, 0x86,
    0x89, 0x78, 0x68, 0xe9, 0x85, 0x39, 0xa5, 0x77, 0x93, 0xc9, 0x69, 0x65, 0x96, 0x84, 0x50, 0x7f,
};
static const uint8_t golden_q5_k[176] = {
    0xec, 0x1e, 0x77, 0x2d, 0x81, 0x0b, 0xd2, 0xd7, 0x85, 0x05, 0xcf, 0xe5, 0xd0, 0x00, 0xff, 0xe1,
    0x10, 0x19, 0x9d, 0xdc, 0x1a, 0x80, 0xd1, 0x99, 0x00, 0x1b, 0x89, 0x09, 0x9d, 0xc1, 0x19, 0x80,
    0xcd, 0x58, 0x41, 0xcc, 0x8d, 0x49, 0x89, 0x0c, 0x9d, 0xc8, 0x58, 0x19, 0x9c, 0x85, 0x00, 0xc5,
    0x50, 0xe3, 0x2f, 0xa7, 0x9c, 0x7f, 0x19, 0xd5, 0x8e, 0xdf, 0x05, 0xc1, 0x11, 0x07, 0x20, 0x8e,
    0xc4, 0xeb, 0x6b, 0x90, 0x06, 0xb0, 0x60, 0x46, 0x0b, 0xce, 0x53, 0xb6, 0x3e, 0x20, 0x2d, 0x83,
    0xda, 0x5c, 0xb0, 0xb4, 0xae, 0x0a, 0xe9, 0x63, 0xae, 0xbd, 0x7e, 0xd7, 0xf8, 0x2c, 0x5c, 0x39,
    0xd4, 0x18, 0xe7, 0xc0, 0x41, 0x2f, 0xa9, 0xf0, 0xe2, 0x56, 0x30, 0xae, 0x6f, 0xa4, 0xce, 0xe7,
    0x02, 0x05, 0x01, 0x02, 0x0d, 0x00, 0x05, 0x05, 0x0d, 0x0f, 0x09, 0x07, 0x04, 0x03, 0x04, 0x0c,
    0x07, 0x02, 0x0d, 0x07, 0x0f, 0x0e, 0x06, 0x0b, 0x0a, 0x0c, 0x0d, 0x03, 0x02, 0x09, 0x0d, 0x0e,
    0xfd, 0x1a, 0xfb, 0xb0, 0xcb, 0x50, 0x12, 0x3b, 0x00, 0x3c, 0xd7, 0xca, 0xe5, 0x31, 0xf8, 0x1d,
    0x03, 0xf0, 0xc2, 0xd2, 0x0a, 0x63, 0x6a, 0xee, 0x26, 0xa3, 0xd3, 0xdb, 0x2c, 0x09, 0xb0, 0x0f,
};
static const uint8_t golden_q6_k[210] = {
    0x01, 0xec, 0x34, 0x97, 0x89, 0x2b, 0x3f, 0x2d, 0x8a, 0x92, 0x8d, 0x8b, 0x1c, 0xde, 0xdb, 0x3a,
    0x1a, 0x45, 0x5d, 0x70, 0x6b, 0x98, 0x38, 0x63, 0x4e, 0x87, 0x11, 0xbb, 0x07, 0x08, 0xb6, 0xca,
    0x41, 0x15, 0xb5, 0xba, 0x96, 0x0f, 0x67, 0x26, 0x0d, 0xb0, 0x48, 0xe8, 0x26, 0x28, 0x15, 0x4d,
    0x68, 0xa0, 0x2e, 0x81, 0x08, 0x8d, 0x1e, 0x18, 0x35, 0xd6, 0x53, 0xfd, 0xbc, 0xf0, 0x90, 0x28,
    0x21, 0x95, 0xde, 0x80, 0xc4, 0x11, 0xc6, 0xc5, 0x28, 0xf6, 0x22, 0xbe, 0xe4, 0xa6, 0x44, 0x16,
    0x53, 0xa1, 0x73, 0x64, 0x48, 0x56, 0x40, 0xde, 0xb7, 0x51, 0x4f, 0x22, 0x02, 0x78, 0x74, 0x06,
    0xe0, 0x20, 0xe0, 0x60, 0x80, 0xa0, 0x10, 0x60, 0x10, 0x70, 0x90, 0x80, 0xb0, 0x50, 0xe0, 0x10,
    0x00, 0x30, 0x90, 0x10, 0xf0, 0x80, 0x20, 0x50, 0xa0, 0x80, 0x70, 0x70, 0xa0, 0x00, 0xd0, 0x00,
    0x68, 0x94, 0x99, 0x84, 0x90, 0x24, 0x68, 0xb4, 0x54, 0x91, 0x98, 0xa4, 0xc8, 0x18, 0x98, 0x24,
    0x10, 0xa0, 0xe4, 0x14, 0x9c, 0x90, 0x64, 0x18, 0x1c, 0x60, 0xb8, 0x10, 0x48, 0xdc, 0xdc, 0xc4,
    0x62, 0x12, 0xd1, 0xe2, 0x53, 0x80, 0xa2, 0x92, 0x01, 0x13, 0xd1, 0x50, 0xc2, 0xa0, 0x52, 0xa1,
    0x90, 0x92, 0x91, 0x10, 0x61, 0xd1, 0x60, 0x90, 0x63, 0x11, 0x93, 0xa2, 0x62, 0xa0, 0xb1, 0x81,
    0x08, 0x07, 0xe3, 0xf6, 0xe5, 0xd8, 0x34, 0xe4, 0x43, 0x2a, 0x00, 0x00, 0x5e, 0x80, 0x5a, 0xb8,
    0xbf, 0x17,
};
static const uint8_t golden_q8_k[292] = {
    0x54, 0x2a, 0x7a, 0xbd, 0x08, 0x05, 0x03, 0x06, 0x06, 0x05, 0x04, 0x05, 0x05, 0x04, 0x05, 0x05,
    0x05, 0x04, 0x05, 0x05, 0x05, 0x06, 0x04, 0x07, 0x05, 0x05, 0x05, 0x06, 0x04, 0x05, 0x07, 0x05,
    0x05, 0x05, 0x06, 0x05, 0x01, 0xf6, 0x04, 0xfb, 0xe8, 0xff, 0x06, 0xf7, 0xfd, 0xe3, 0x07, 0xf9,
    0x05, 0x07, 0x05, 0xfd, 0xf9, 0xf6, 0xff, 0xfb, 0x07, 0xfa, 0xff, 0x02, 0x07, 0xf8, 0x01, 0xfa,
    0x04, 0x05, 0x05, 0xfd, 0x00, 0xfe, 0xf5, 0xed, 0xf9, 0x02, 0x02, 0x0f, 0xf9, 0xfa, 0xf9, 0x07,
    0xe6, 0xfe, 0xfd, 0x03, 0xee, 0x05, 0x07, 0xf4, 0xf4, 0xf7, 0x04, 0xf4, 0xf1, 0x0a, 0x15, 0xf9,
    0xd8, 0xed, 0xfa, 0xe7, 0x13, 0xff, 0xef, 0xee, 0xf2, 0x33, 0x10, 0xfd, 0x1a, 0xee, 0xf9, 0xe9,
    0xe3, 0x30, 0xff, 0x2c, 0xea, 0x09, 0x10, 0xeb, 0x00, 0x07, 0xf3, 0xe5, 0xe7, 0xfd, 0x04, 0xf2,
    0xfc, 0x1b, 0x16, 0x10, 0xff, 0xf5, 0x03, 0xff, 0xd7, 0x40, 0xf3, 0xf6, 0x10, 0xd3, 0x1e, 0x26,
    0xf7, 0x35, 0xf8, 0x14, 0x26, 0xff, 0x11, 0x25, 0x0b, 0x0d, 0x2a, 0x17, 0xe2, 0x13, 0xd7, 0xfd,
    0xfd, 0x1f, 0x0f, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xfb, 0x14, 0x08, 0xe9, 0x0b, 0x5a, 0xdd, 0x0b, 0x57, 0x04, 0x28, 0x10,
    0x35, 0xe4, 0x22, 0xfd, 0xd4, 0xe6, 0xdd, 0xd9, 0x10, 0xd4, 0x10, 0xf5, 0x2d, 0xd3, 0xd2, 0x09,
    0x02, 0x1a, 0x5b, 0x81, 0x07, 0x52, 0xac, 0xc2, 0x17, 0xe5, 0xfc, 0xef, 0x57, 0x45, 0xbb, 0x16,
    0xb5, 0xf1, 0x06, 0xfc, 0x00, 0x07, 0x14, 0xbb, 0xfe, 0x35, 0xe0, 0x0c, 0xf3, 0xcb, 0x0f, 0x0f,
    0xf3, 0xff, 0x1c, 0x01, 0x50, 0x00, 0x55, 0x00, 0xc8, 0xff, 0xf0, 0xff, 0xc3, 0xff, 0x80, 0xff,
    0x49, 0x00, 0xe4, 0xff, 0x55, 0x00, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0x01, 0x2c, 0xff,
    0xc3, 0xff, 0xe0, 0xff,
};

/* q3_K and iq4_nl (8 blocks) of golden_kx by llama.cpp's ggml (libggml-base
 * 0.25.3, ggml_quantize_chunk: what llama-quantize runs without an imatrix). */
static const uint8_t golden_q3_k[110] = {
    0xd6, 0x1c, 0xda, 0xd8, 0x58, 0x86, 0xd6, 0xdc, 0x02, 0x58, 0x8a, 0x0c,
    0x9a, 0xc6, 0x9e, 0xc6, 0x80, 0x9c, 0x8e, 0x00, 0xca, 0x88, 0x46, 0xc2,
    0x52, 0x0c, 0x9e, 0xd0, 0x52, 0xca, 0xca, 0x88, 0x80, 0x0e, 0x67, 0x5d,
    0x75, 0x01, 0xc6, 0x2e, 0xb1, 0xb2, 0x76, 0x9d, 0x85, 0x06, 0x05, 0x01,
    0x6a, 0x45, 0x92, 0x78, 0x3e, 0x79, 0x81, 0x35, 0x2a, 0x15, 0x61, 0xba,
    0xc5, 0xe9, 0xf9, 0x9e, 0x00, 0x31, 0xc0, 0xd0, 0xc3, 0x40, 0x21, 0x41,
    0x03, 0x43, 0xe2, 0xf2, 0xe1, 0x51, 0x20, 0x03, 0x31, 0x30, 0x73, 0x31,
    0x13, 0xf3, 0x91, 0x42, 0xd2, 0x73, 0x73, 0x40, 0xc0, 0x12, 0xb3, 0x03,
    0x02, 0xe2, 0x09, 0x0d, 0x69, 0x06, 0x7c, 0xf9, 0xf6, 0x26, 0xe9, 0x25,
    0xc4, 0x2b,
};
static const uint8_t golden_iq4_nl[144] = {
    0xeb, 0x1b, 0x20, 0x22, 0x34, 0x11, 0x32, 0x22, 0x23, 0x13, 0x32, 0x24,
    0x12, 0x32, 0x22, 0x23, 0x22, 0x22, 0x15, 0xa3, 0x58, 0x44, 0x89, 0x66,
    0xb1, 0x67, 0x8a, 0x95, 0xa7, 0x50, 0x8a, 0x65, 0x9a, 0xaa, 0xaa, 0x77,
    0xd8, 0xa4, 0x38, 0x97, 0xa5, 0x53, 0x56, 0x68, 0x99, 0x5c, 0x46, 0xb6,
    0xd6, 0x6a, 0x02, 0x37, 0x67, 0x29, 0x41, 0x26, 0xc4, 0x68, 0x5b, 0xcb,
    0x8b, 0x60, 0xb5, 0xd9, 0xd3, 0x8b, 0x79, 0xbc, 0x9d, 0x30, 0x48, 0x51,
    0xa7, 0x27, 0x28, 0x8a, 0x57, 0x28, 0x6e, 0x60, 0x2a, 0x4a, 0xd5, 0x5e,
    0xe3, 0x82, 0x89, 0x31, 0x59, 0x65, 0x00, 0x00, 0x88, 0x88, 0x88, 0x88,
    0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
    0xd0, 0xab, 0x47, 0x6a, 0x59, 0x56, 0x99, 0x4e, 0x95, 0x79, 0xbe, 0x48,
    0x4b, 0x99, 0x8c, 0xa6, 0xeb, 0x08, 0x30, 0x29, 0x87, 0x70, 0x5f, 0xfe,
    0x85, 0x2b, 0xc8, 0x6a, 0xa0, 0xe1, 0x6f, 0x65, 0xaf, 0x8a, 0x47, 0x88,
};

Test(formats, kquant_quantizers_match_ggml_golden_bytes)
{
    static const struct { kiln_dtype t; const uint8_t *bytes; size_t size; } golden[] = {
        {KILN_Q4_K, golden_q4_k, sizeof golden_q4_k}, {KILN_Q5_K, golden_q5_k, sizeof golden_q5_k},
        {KILN_Q6_K, golden_q6_k, sizeof golden_q6_k}, {KILN_Q8_K, golden_q8_k, sizeof golden_q8_k},
        {KILN_Q3_K, golden_q3_k, sizeof golden_q3_k}, {KILN_IQ4_NL, golden_iq4_nl, sizeof golden_iq4_nl},
    };
    uint8_t q[292];
    for (size_t k = 0; k < sizeof golden / sizeof golden[0]; k++) {
        const char *name = kiln_dtype_get(golden[k].t)->name;
        memset(q, 0xee, sizeof q);
        cr_assert_eq(kiln_quantize_row(golden[k].t, golden_kx, q, 256), golden[k].size, "%s size", name);
        for (size_t i = 0; i < golden[k].size; i++)
            cr_assert_eq(q[i], golden[k].bytes[i], "%s byte %zu: 0x%02x, ggml has 0x%02x", name, i, q[i],
                         golden[k].bytes[i]);
    }
}

/* Real llama.cpp output: stories260K-Q4_K_M.gguf was made from
 * stories260K-f32.gguf by llama-quantize (no importance matrix, so ggml's
 * reference quantizers). Requantizing each f32 tensor with kiln must give the
 * same bytes, whatever types llama.cpp picked for it. */
Test(formats, requantizing_llama_cpp_file_gives_identical_bytes, .timeout = 60)
{
    const char *f32_path = KILN_SOURCE_DIR "/../shared/models/stories260K-f32.gguf";
    const char *q_path = KILN_SOURCE_DIR "/../shared/models/stories260K-Q4_K_M.gguf";
    if (access(f32_path, R_OK) != 0 || access(q_path, R_OK) != 0) cr_skip_test("shared models not present");
    kiln_gguf *gf = NULL, *gq = NULL;
    cr_assert_eq(kiln_gguf_open(f32_path, &gf), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_gguf_open(q_path, &gq), KILN_OK, "%s", kiln_last_error());
    int compared[KILN_DTYPE_COUNT] = {0};
    for (int64_t ti = 0; ti < kiln_gguf_tensor_count(gq); ti++) {
        const kiln_gguf_tensor *tq = kiln_gguf_tensor_at(gq, ti);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)tq->name.len, tq->name.ptr);
        if (tq->dtype < 0 || tq->dtype == KILN_F32) continue;
        const kiln_gguf_tensor *tf = kiln_gguf_find_tensor(gf, name);
        cr_assert(tf && tf->dtype == KILN_F32, "%s: no f32 source tensor", name);
        int64_t rows = 1;
        for (int d = 1; d < tq->n_dims; d++) rows *= tq->ne[d];
        const int64_t cols = tq->ne[0];
        const size_t row_bytes = kiln_row_bytes((kiln_dtype)tq->dtype, cols);
        cr_assert_eq(row_bytes * (size_t)rows, tq->size, "%s: size", name);
        uint8_t *q = malloc(row_bytes);
        float *src = malloc((size_t)cols * sizeof *src);
        for (int64_t r = 0; r < rows; r++) {
            memcpy(src, (const uint8_t *)tf->data + (size_t)r * (size_t)cols * 4, (size_t)cols * 4);
            cr_assert_eq(kiln_quantize_row((kiln_dtype)tq->dtype, src, q, cols), row_bytes);
            const uint8_t *want = (const uint8_t *)tq->data + (size_t)r * row_bytes;
            for (size_t b = 0; b < row_bytes; b++)
                cr_assert_eq(q[b], want[b], "%s (%s) row %lld byte %zu: kiln 0x%02x, llama.cpp 0x%02x", name,
                             kiln_dtype_get((kiln_dtype)tq->dtype)->name, (long long)r, b, q[b], want[b]);
        }
        compared[tq->dtype]++;
        free(q);
        free(src);
    }
    cr_assert(compared[KILN_Q5_0] > 0 && compared[KILN_Q8_0] > 0, "the file holds q5_0 and q8_0 tensors");
    if (getenv("KILN_TEST_VERBOSE"))
        for (int t = 0; t < KILN_DTYPE_COUNT; t++)
            if (compared[t]) cr_log_info("%s: %d tensors identical", kiln_dtype_get((kiln_dtype)t)->name, compared[t]);
    kiln_gguf_close(gf);
    kiln_gguf_close(gq);
}

/* ------------------------------------------------------------------ bad arguments */

Test(formats, bad_arguments)
{
    float x[64] = {0}, y[64];
    uint8_t q[64];
    kiln_clear_error();
    cr_assert_eq(kiln_quantize_row(KILN_Q4_0, x, q, 33), 0);
    cr_assert(strstr(kiln_last_error(), "q4_0") && strstr(kiln_last_error(), "33"), "message: %s",
              kiln_last_error());
    kiln_clear_error();
    cr_assert_eq(kiln_dequantize_row(KILN_Q4_K, q, y, 64), -1);
    cr_assert(strstr(kiln_last_error(), "q4_k"), "message: %s", kiln_last_error());
    cr_assert_eq(kiln_quantize_row((kiln_dtype)KILN_DTYPE_COUNT, x, q, 32), 0);
    cr_assert(strstr(kiln_last_error(), "unknown dtype"), "message: %s", kiln_last_error());
    cr_assert_eq(kiln_dequantize_row((kiln_dtype)-3, q, y, 32), -1);
    cr_assert_eq(kiln_quantize_row(KILN_Q8_0, NULL, q, 32), 0);
    cr_assert_eq(kiln_quantize_row(KILN_Q8_0, x, NULL, 32), 0);
    cr_assert_eq(kiln_dequantize_row(KILN_Q8_0, NULL, y, 32), -1);
    cr_assert_eq(kiln_dequantize_row(KILN_F16, q, y, -2), -1);
    /* n = 0 is an empty row, not an error, and NULL is fine for it */
    cr_assert_eq(kiln_quantize_row(KILN_Q4_0, NULL, NULL, 0), 0);
    cr_assert_eq(kiln_dequantize_row(KILN_Q4_0, NULL, NULL, 0), 0);
}

/* ------------------------------------------------------------------ dequant.h (C) */

/* The element functions of gen/math/dequant.h against kiln_dequantize_row,
 * bit for bit, on quantized Gaussian data and on fully random bytes (every
 * bit pattern of codes, scales and mins, NaN/inf scales included), with the
 * blocks at a nonzero offset in the buffer. */
Test(formats, dequant_h_matches_dequantize_row, .timeout = 60)
{
    kt_rng r = kt_rng_make(0xde9);
    for (int c = 0; c < 8 * N_ELEM_FNS; c++) { /* 8 rounds over the formats */
        const int k = c % N_ELEM_FNS;
        const kiln_dtype t = elem_fns[k].t;
        const kiln_dtype_info *info = kiln_dtype_get(t);
        const int nblk = 1 + (int)kt_below(&r, 9);
        const int64_t n = (int64_t)nblk * info->block_elems;
        const size_t bytes = kiln_row_bytes(t, n), lead = 4 * (size_t)info->block_bytes; /* keeps alignment */
        uint8_t *buf = malloc(lead + bytes);
        float *x = kt_randn(&r, (size_t)n, 0.0, 0.1 + 10 * kt_uniform(&r));
        float *y = nan_floats((size_t)n);
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 0) {
                cr_assert_eq(kiln_quantize_row(t, x, buf + lead, n), bytes);
            } else {
                for (size_t i = 0; i < bytes; i++) buf[lead + i] = (uint8_t)kt_next(&r);
            }
            cr_assert_eq(kiln_dequantize_row(t, buf + lead, y, n), 0);
            for (int64_t i = 0; i < n; i++) {
                const int64_t blk = i / info->block_elems;
                const float e = elem_fns[k].fn(buf, (kiln_u32)(lead + (size_t)blk * info->block_bytes),
                                               (kiln_i32)(i % info->block_elems));
                const int same = f32_bits(e) == f32_bits(y[i]) || (isnan(e) && isnan(y[i]));
                cr_assert(same, "%s %s: element %lld: dequant.h %.9g, kiln_dequantize_row %.9g (seed %llu)",
                          info->name, pass ? "random bytes" : "quantized", (long long)i, e, y[i],
                          (unsigned long long)kt_seed());
            }
        }
        free(buf);
        free(x);
        free(y);
    }
}

/* ------------------------------------------------------------------ dequant.h (GLSL, CUDA) */

static int have_program(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* Appends the contents of a source file to f. */
static void append_file(FILE *f, const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", KILN_SOURCE_DIR, rel);
    FILE *in = fopen(path, "rb");
    cr_assert(in, "cannot open %s", path);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, in)) > 0) fwrite(chunk, 1, got, f);
    fclose(in);
}

/* Append a source file as the emitter inlines it: a `#pragma kiln include "p"`
 * line becomes the text of p (dialect_cuda.h pulls in cuda_arch.cuh so). */
static void append_resolved(FILE *f, const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", KILN_SOURCE_DIR, rel);
    FILE *in = fopen(path, "rb");
    cr_assert(in, "cannot open %s", path);
    char line[4096], inc[512];
    while (fgets(line, sizeof line, in)) {
        if (sscanf(line, "#pragma kiln include \"%511[^\"]\"", inc) == 1) append_resolved(f, inc);
        else fputs(line, f);
    }
    fclose(in);
}

static const char *const fmt_macros[] = {"F32",  "F16",  "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
                                         "Q4_K", "Q5_K", "Q6_K", "Q8_K", "NF4",  "INT4G", "Q3_K", "IQ4_NL"};

/* A compute shader as the Vulkan templates will emit it: #version, the spec
 * macro, the dialect, a buffer w with u8/u16/u32 views, dequant.h, a main
 * that calls the functions. */
static void write_glsl(const char *path, const char *fmt_macro)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "#version 450\n#define KILN_FMT_%s 1\n", fmt_macro);
    if (strcmp(fmt_macro, "ALL") != 0) { /* what gen/emit.c defines for the spec's format */
        char lower[16];
        size_t i = 0;
        for (; fmt_macro[i] && i + 1 < sizeof lower; i++) lower[i] = (char)tolower((unsigned char)fmt_macro[i]);
        lower[i] = '\0';
        fprintf(f, "#define kiln_dequant kiln_dequant_%s\n", lower);
    }
    append_file(f, "gen/math/dialect_glsl.h");
    fputs("layout(local_size_x = 64) in;\n"
          "layout(std430, binding = 0) readonly buffer W8 { uint8_t w_u8[]; };\n"
          "layout(std430, binding = 0) readonly buffer W16 { uint16_t w_u16[]; };\n"
          "layout(std430, binding = 0) readonly buffer W32 { uint w_u32[]; };\n"
          "layout(std430, binding = 1) writeonly buffer Out { float out_f32[]; };\n",
          f);
    append_file(f, "gen/math/dequant.h");
    fputs("void main() {\n  uint g = gl_GlobalInvocationID.x;\n  float acc = 0.0;\n", f);
    if (strcmp(fmt_macro, "ALL") == 0) {
        static const char *const fns[] = {"f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1",
                                          "q8_0", "q4_k", "q5_k", "q6_k", "q8_k", "nf4", "int4g", "q3_k", "iq4_nl"};
        for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++)
            fprintf(f, "  acc += kiln_dequant_%s(g * 292u, int(g & 31u));\n", fns[k]);
    } else {
        fputs("  acc += kiln_dequant(g * 292u, int(g & 31u));\n", f);
    }
    fputs("  out_f32[g] = acc;\n}\n", f);
    fclose(f);
}

Test(formats, dequant_h_compiles_as_glsl, .timeout = 120)
{
    if (!have_program("glslc")) cr_skip_test("glslc not installed");
    char dir[] = "/tmp/kiln_formats_glsl_XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[256], cmd[1024];
    /* ALL once, then each format alone through kiln_dequant */
    for (int k = -1; k < (int)(sizeof fmt_macros / sizeof fmt_macros[0]); k++) {
        const char *m = k < 0 ? "ALL" : fmt_macros[k];
        snprintf(path, sizeof path, "%s/dequant_%s.comp", dir, m);
        write_glsl(path, m);
        snprintf(cmd, sizeof cmd, "glslc --target-env=vulkan1.2 -fshader-stage=compute -o %s/out.spv %s 2>%s/log.txt",
                 dir, path, dir);
        const int rc = system(cmd);
        if (rc != 0) {
            char log[2048] = "";
            snprintf(path, sizeof path, "%s/log.txt", dir);
            FILE *lf = fopen(path, "r");
            if (lf) {
                size_t got = fread(log, 1, sizeof log - 1, lf);
                log[got] = '\0';
                fclose(lf);
            }
            cr_assert_fail("dequant.h does not compile as GLSL with KILN_FMT_%s (sources kept in %s):\n%s", m, dir,
                           log);
        }
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* The CUDA side of the check: a program (kernel + host main) that
 * dequantizes every element of the given blocks with dequant.h compiled by
 * nvcc. It is always compiled when nvcc exists; it runs when a CUDA device
 * answers. (Built with -fmad=false to rule contraction out; it makes no
 * difference here, as every d*q that is followed by an add is exact in f32 —
 * checked on an H100 with and without it.) */
static const char cuda_main[] =
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <cuda_runtime.h>\n"
    "__global__ void deq(int fmt, const kiln_u8 *w, int bb, int be, int n, float *out) {\n"
    "  int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "  if (i >= n) return;\n"
    "  kiln_u32 off = (kiln_u32)((i / be) * bb); kiln_i32 e = i % be; float v = 0.0f;\n"
    "  switch (fmt) {\n"
    "  case 0: v = kiln_dequant_f32(w, off, e); break;\n"
    "  case 1: v = kiln_dequant_f16(w, off, e); break;\n"
    "  case 2: v = kiln_dequant_bf16(w, off, e); break;\n"
    "  case 3: v = kiln_dequant_q4_0(w, off, e); break;\n"
    "  case 4: v = kiln_dequant_q4_1(w, off, e); break;\n"
    "  case 5: v = kiln_dequant_q5_0(w, off, e); break;\n"
    "  case 6: v = kiln_dequant_q5_1(w, off, e); break;\n"
    "  case 7: v = kiln_dequant_q8_0(w, off, e); break;\n"
    "  case 8: v = kiln_dequant_q4_k(w, off, e); break;\n"
    "  case 9: v = kiln_dequant_q5_k(w, off, e); break;\n"
    "  case 10: v = kiln_dequant_q6_k(w, off, e); break;\n"
    "  case 11: v = kiln_dequant_q8_k(w, off, e); break;\n"
    "  case 12: v = kiln_dequant_nf4(w, off, e); break;\n"
    "  case 13: v = kiln_dequant_int4g(w, off, e); break;\n"
    "  case 14: v = kiln_dequant_q3_k(w, off, e); break;\n"
    "  default: v = kiln_dequant_iq4_nl(w, off, e); break;\n"
    "  }\n"
    "  out[i] = v;\n"
    "}\n"
    "/* argv: jobs file with lines 'fmt block_bytes block_elems n in out' */\n"
    "int main(int argc, char **argv) {\n"
    "  if (argc != 2) return 2;\n"
    "  FILE *jobs = fopen(argv[1], \"r\"); if (!jobs) return 3;\n"
    "  int fmt, bb, be, n; char in[512], outp[512];\n"
    "  while (fscanf(jobs, \"%d %d %d %d %511s %511s\", &fmt, &bb, &be, &n, in, outp) == 6) {\n"
    "    size_t bytes = (size_t)(n / be) * bb;\n"
    "    unsigned char *h = (unsigned char *)malloc(bytes); float *y = (float *)malloc((size_t)n * 4);\n"
    "    FILE *f = fopen(in, \"rb\"); if (!f || fread(h, 1, bytes, f) != bytes) return 4; fclose(f);\n"
    "    kiln_u8 *dw; float *dy;\n"
    "    if (cudaMalloc(&dw, bytes) || cudaMalloc(&dy, (size_t)n * 4)) return 5;\n"
    "    cudaMemcpy(dw, h, bytes, cudaMemcpyHostToDevice);\n"
    "    deq<<<(n + 127) / 128, 128>>>(fmt, dw, bb, be, n, dy);\n"
    "    if (cudaMemcpy(y, dy, (size_t)n * 4, cudaMemcpyDeviceToHost)) return 6;\n"
    "    f = fopen(outp, \"wb\"); fwrite(y, 4, (size_t)n, f); fclose(f);\n"
    "    cudaFree(dw); cudaFree(dy); free(h); free(y);\n"
    "  }\n"
    "  return 0;\n"
    "}\n";

static void read_log(const char *dir, char *log, size_t cap)
{
    char path[256];
    snprintf(path, sizeof path, "%s/log.txt", dir);
    log[0] = '\0';
    FILE *lf = fopen(path, "r");
    if (!lf) return;
    const size_t got = fread(log, 1, cap - 1, lf);
    log[got] = '\0';
    fclose(lf);
}

Test(formats, dequant_h_on_cuda, .timeout = 300)
{
    const char *nvcc = access("/usr/local/cuda/bin/nvcc", X_OK) == 0 ? "/usr/local/cuda/bin/nvcc" : "nvcc";
    if (nvcc[0] != '/' && !have_program("nvcc")) cr_skip_test("nvcc not installed");
    char dir[] = "/tmp/kiln_formats_cuda_XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[512], cmd[2048], log[4096];
    snprintf(path, sizeof path, "%s/dequant.cu", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("#define KILN_FMT_ALL 1\n", f);
    append_resolved(f, "gen/math/dialect_cuda.h");
    append_file(f, "gen/math/dequant.h");
    fputs(cuda_main, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s -fmad=false -Werror all-warnings -o %s/deq %s > %s/log.txt 2>&1", nvcc, dir, path,
             dir);
    if (system(cmd) != 0) {
        read_log(dir, log, sizeof log);
        cr_assert_fail("dequant.h does not compile as CUDA (sources kept in %s):\n%s", dir, log);
    }

    /* Run it when there is a GPU: quantized Gaussian data and random bytes of
     * every format, compared bit for bit with kiln_dequantize_row. */
    snprintf(cmd, sizeof cmd, "nvidia-smi -L > /dev/null 2>&1");
    const int have_gpu = system(cmd) == 0;
    if (have_gpu) {
        kt_rng r = kt_rng_make(0xcda);
        snprintf(path, sizeof path, "%s/jobs.txt", dir);
        FILE *jobs = fopen(path, "w");
        cr_assert(jobs);
        float *want[2 * N_ELEM_FNS];
        int64_t count[2 * N_ELEM_FNS];
        for (int c = 0; c < 2 * N_ELEM_FNS; c++) {
            const int k = c / 2;
            const kiln_dtype_info *info = kiln_dtype_get(elem_fns[k].t);
            const int64_t n = (int64_t)(1 + kt_below(&r, 40)) * info->block_elems;
            const size_t bytes = kiln_row_bytes(elem_fns[k].t, n);
            uint8_t *q = malloc(bytes);
            if (c % 2 == 0) {
                float *x = kt_randn(&r, (size_t)n, 0.0, 0.01 + kt_uniform(&r));
                cr_assert_eq(kiln_quantize_row(elem_fns[k].t, x, q, n), bytes);
                free(x);
            } else {
                for (size_t i = 0; i < bytes; i++) q[i] = (uint8_t)kt_next(&r);
            }
            want[c] = nan_floats((size_t)n);
            count[c] = n;
            cr_assert_eq(kiln_dequantize_row(elem_fns[k].t, q, want[c], n), 0);
            snprintf(path, sizeof path, "%s/in%d.bin", dir, c);
            FILE *bf = fopen(path, "wb");
            cr_assert(bf && fwrite(q, 1, bytes, bf) == bytes);
            fclose(bf);
            fprintf(jobs, "%d %d %d %lld %s/in%d.bin %s/out%d.bin\n", k, info->block_bytes, info->block_elems,
                    (long long)n, dir, c, dir, c);
            free(q);
        }
        fclose(jobs);
        snprintf(cmd, sizeof cmd, "%s/deq %s/jobs.txt > %s/log.txt 2>&1", dir, dir, dir);
        const int rc = system(cmd);
        read_log(dir, log, sizeof log);
        cr_assert_eq(rc, 0, "the CUDA dequant program failed (%d):\n%s", rc, log);
        for (int c = 0; c < 2 * N_ELEM_FNS; c++) {
            const char *name = kiln_dtype_get(elem_fns[c / 2].t)->name;
            float *got = nan_floats((size_t)count[c]);
            snprintf(path, sizeof path, "%s/out%d.bin", dir, c);
            FILE *of = fopen(path, "rb");
            cr_assert(of && fread(got, 4, (size_t)count[c], of) == (size_t)count[c], "%s: no CUDA output", name);
            fclose(of);
            for (int64_t i = 0; i < count[c]; i++) {
                const int same = f32_bits(got[i]) == f32_bits(want[c][i]) || (isnan(got[i]) && isnan(want[c][i]));
                cr_assert(same, "%s (%s): element %lld: CUDA %.9g, kiln_dequantize_row %.9g (seed %llu)", name,
                          c % 2 ? "random bytes" : "quantized", (long long)i, got[i], want[c][i],
                          (unsigned long long)kt_seed());
            }
            free(got);
            free(want[c]);
        }
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    if (!have_gpu) cr_skip_test("compiled as CUDA; no GPU to run it on");
}
