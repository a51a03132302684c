/* gen/math/rope.h — the math of the rope op, written once in the kiln dialect
 * (gen/math/dialect_*.h) for the cpu, CUDA and Vulkan templates: the rotation
 * angle and the conversions of new K/V rows into the paged cache's dtype.
 *
 * The angle follows llama2.c's run.c operation for operation,
 * in float: freq = 1 / theta^(2i / rope_dim), angle = (pos * freq_scale) * freq.
 * With freq_scale = 1 the multiply is exact, so the cpu instance reproduces
 * the host formula bit for bit (its libm's cosf/sinf/powf). The conversions
 * are bit-exact copies of formats/: kiln_f32_to_f16 (round to nearest even)
 * and kiln_quantize_q8_0 (ggml's reference quantizer). */
#ifndef KILN_MATH_ROPE_H
#define KILN_MATH_ROPE_H

/* Frequency of pair i of rope_dim rotated values. */
KILN_FN kiln_f32 kiln_rope_freq(kiln_i32 i, kiln_i32 rope_dim, kiln_f32 theta)
{
    return 1.0f / KILN_POW(theta, KILN_F32(2 * i) / KILN_F32(rope_dim));
}

/* The rotation angle of pair i at position pos (one rounding per step, as the host). */
KILN_FN kiln_f32 kiln_rope_angle(kiln_i32 pos, kiln_f32 freq_scale, kiln_f32 freq)
{
    kiln_f32 p = KILN_F32(pos) * freq_scale;
    return p * freq;
}

/* The rotated pair: first (a cos - b sin), second (a sin + b cos), each
 * product rounded on its own as the host's C does. */
KILN_FN kiln_f32 kiln_rope_first(kiln_f32 a, kiln_f32 b, kiln_f32 c, kiln_f32 s)
{
    return KILN_MUL_RN(a, c) - KILN_MUL_RN(b, s);
}
KILN_FN kiln_f32 kiln_rope_second(kiln_f32 a, kiln_f32 b, kiln_f32 c, kiln_f32 s)
{
    return KILN_MUL_RN(a, s) + KILN_MUL_RN(b, c);
}

/* f32 -> f16 bits, round to nearest even: formats/half.c's kiln_f32_to_f16
 * step for step (overflow to inf, quiet NaN keeping the top payload bits). */
KILN_FN kiln_u32 kiln_f32_to_f16_bits(kiln_f32 f)
{
    kiln_u32 x = KILN_F32_BITS(f);
    kiln_u32 sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {
        if (ax == 0x7f800000u) return sign | 0x7c00u;
        return sign | 0x7e00u | ((ax >> 13) & 0x3ffu);
    }
    if (ax >= 0x477ff000u) return sign | 0x7c00u;
    if (ax >= 0x38800000u) {
        kiln_u32 r = ax - 0x38000000u;
        r = (r + 0x0fffu + ((r >> 13) & 1u)) >> 13;
        return sign | r;
    }
    if (ax <= 0x33000000u) return sign;
    kiln_u32 e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
    kiln_u32 shift = 126u - e;
    kiln_u32 q = m >> shift;
    kiln_u32 rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (q & 1u) != 0u)) q++;
    return sign | q;
}

/* q8_0 of a block of 32 with absolute maximum amax: the scale d = amax / 127
 * (stored as f16) and its inverse, exactly as kiln_quantize_q8_0. */
KILN_FN kiln_f32 kiln_q8_0_scale(kiln_f32 amax)
{
    return amax / 127.0f;
}
KILN_FN kiln_f32 kiln_q8_0_inverse(kiln_f32 d)
{
    return d != 0.0f ? 1.0f / d : 0.0f;
}
/* The code of x: roundf(x * id), halves away from zero (ggml uses roundf;
 * GLSL's round() leaves halves to the implementation). x - trunc(x) is exact. */
KILN_FN kiln_i32 kiln_q8_0_code(kiln_f32 x, kiln_f32 id)
{
    kiln_f32 v = KILN_MUL_RN(x, id), r = KILN_TRUNC(v);
    if (KILN_ABSF(v - r) >= 0.5f) r += v < 0.0f ? -1.0f : 1.0f;
    return KILN_I32(r);
}

#endif
