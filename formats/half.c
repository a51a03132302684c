/* formats/half.c — f16 and bf16 scalar conversions.
 *
 * f32 -> f16 rounds to nearest even, like the F16C instruction vcvtps2ph that
 * ggml uses on x86 (and its portable fallback): overflow goes to inf, values
 * below half the smallest subnormal go to signed zero, NaNs stay NaN (quiet,
 * top payload bits kept as F16C does). f16 -> f32 is exact for all inputs.
 * bf16 follows ggml's ggml_compute_fp32_to_bf16: round to nearest even on the
 * upper 16 bits, subnormals kept (not flushed), NaNs forced quiet. */
#include <string.h>

#include "kiln/formats.h"

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

uint16_t kiln_f32_to_f16(float f)
{
    const uint32_t x = f32_bits(f);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7fffffffu;

    if (ax >= 0x7f800000u) { /* inf or nan */
        if (ax == 0x7f800000u) return sign | 0x7c00u;
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    }
    if (ax >= 0x477ff000u) return sign | 0x7c00u; /* >= 65520 rounds past the largest half */
    if (ax >= 0x38800000u) {                       /* normal half: >= 2^-14 */
        uint32_t r = ax - 0x38000000u;             /* exponent bias 127 -> 15 */
        r = (r + 0x0fffu + ((r >> 13) & 1u)) >> 13; /* round the 13 dropped bits, ties to even */
        return (uint16_t)(sign | r);
    }
    if (ax <= 0x33000000u) return sign; /* <= 2^-25: rounds to zero (2^-25 itself ties to even 0) */
    /* subnormal half: count units of 2^-24 */
    const uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - e; /* 14..24 */
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return (uint16_t)(sign | q);
}

float kiln_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1fu) return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24, exact in f32 */
        const float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t kiln_f32_to_bf16(float f)
{
    const uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64u); /* NaN: force quiet */
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

float kiln_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }
