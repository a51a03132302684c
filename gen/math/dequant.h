/* gen/math/dequant.h — element i of one block, for every weight format.
 *
 * This is THE shared description of each format's dequantization. The
 * generator emits it after the backend's dialect (gen/math/dialect_c.h,
 * dialect_cuda.h, dialect_glsl.h), so the same text compiles as C, CUDA and
 * GLSL. Layouts are documented field by field in docs/FORMATS.md and match
 * formats/blocks.h; tests/test_formats.c checks that, compiled as C with
 * KILN_FMT_ALL, every function here agrees bit for bit with
 * kiln_dequantize_row, and that the file compiles as GLSL with glslc.
 *
 *   kiln_f32 kiln_dequant_<fmt>(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
 *     element i (0 <= i < block size) of the block starting at byte blk_off of
 *     buffer w. `kiln_dequant` names the one for the spec's format
 *     (KILN_FMT_<NAME> defined to 1 by the generator); KILN_FMT_ALL compiles
 *     every format and defines no `kiln_dequant`.
 *
 * Rules that keep this valid in all three languages:
 * - GLSL has no pointers: the buffer is the global `w` (views w_u8, w_u16,
 *   w_u32 declared by the template); KILN_BUF_PARAM/ARG vanish there.
 * - GLSL forbids recursion and wants every variable initialized on every
 *   path, so each helper is straight-line code and each variable is
 *   initialized where it is declared.
 * - No C-only casts: KILN_U32(x), KILN_I32(x), KILN_F32(x). Literals in
 *   unsigned arithmetic carry the u suffix (GLSL does not mix int and uint
 *   freely); float literals carry f so C does not compute in double.
 * - Loads only at offsets aligned to their width: KILN_LD_U16/F16 at even,
 *   KILN_LD_U32/F32 at 4-aligned offsets (blocks of 18 or 22 bytes, e.g.
 *   q4_0 and q5_0, are only 2-aligned, so their bit fields are read bytewise).
 * - Signed bytes are (b ^ 0x80u) - 128 instead of a cast, which GLSL lacks.
 * - The float expressions are the ones formats/ (and ggml) evaluate, in the
 *   same order, so the C build matches kiln_dequantize_row exactly. Every
 *   product that is followed by an add (d*q + m, (d*sc)*q - dmin*m) is exact
 *   in f32 (an f16 scale times a 6-bit scale times a code of at most 5 bits
 *   needs no more than 22 mantissa bits), so FMA contraction (CUDA's default)
 *   cannot change a result: CUDA agrees bit for bit too. */
#ifndef KILN_MATH_DEQUANT_H
#define KILN_MATH_DEQUANT_H

/* ------------------------------------------------------ plain (block of 1) */

#if defined(KILN_FMT_ALL) || defined(KILN_FMT_F32)
KILN_FN kiln_f32 kiln_dequant_f32(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    return KILN_LD_F32(w, blk_off + 4u * KILN_U32(i));
}
#endif

#if defined(KILN_FMT_ALL) || defined(KILN_FMT_F16)
KILN_FN kiln_f32 kiln_dequant_f16(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    return KILN_LD_F16(w, blk_off + 2u * KILN_U32(i));
}
#endif

#if defined(KILN_FMT_ALL) || defined(KILN_FMT_BF16)
KILN_FN kiln_f32 kiln_dequant_bf16(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    return KILN_LD_BF16(w, blk_off + 2u * KILN_U32(i));
}
#endif

/* ------------------------------------------------- ggml 32-element formats */

/* q4_0 (18 bytes): f16 d @0, 16 bytes of nibbles @2; element j < 16 in the
 * low nibble of byte j, element j >= 16 in the high nibble of byte j-16.
 * w = d * (q - 8). */
#if defined(KILN_FMT_ALL) || defined(KILN_FMT_Q4_0)
KILN_FN kiln_f32 kiln_dequant_q4_0(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    kiln_u32 j = KILN_U32(i);
    kiln_f32 d = KILN_LD_F16(w, blk_off);
    kiln_u32 b = KILN_LD_U8(w, blk_off + 2u + (j & 15u));
    kiln_u32 q = (b >> ((j >> 4u) * 4u)) & 15u;
    return KILN_F32(KILN_I32(q) - 8) * d;
}
#endif

/* q4_1 (20 bytes): f16 d @0, f16 m @2, nibbles @4 as q4_0. w = d * q + m. */
#if defined(KILN_FMT_ALL) || defined(KILN_FMT_Q4_1)
KILN_FN kiln_f32 kiln_dequant_q4_1(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    kiln_u32 j = KILN_U32(i);
    kiln_f32 d = KILN_LD_F16(w, blk_off);
    kiln_f32 m = KILN_LD_F16(w, blk_off + 2u);
    kiln_u32 b = KILN_LD_U8(w, blk_off + 4u + (j & 15u));
    kiln_u32 q = (b >> ((j >> 4u) * 4u)) & 15u;
    return KILN_F32(q) * d + m;
}
#endif

/* q5_0 (22 bytes): f16 d @0, qh (32 bits, bit j = bit 4 of element j) @2,
 * nibbles @6 as q4_0. w = d * (q - 16). */
#if defined(KILN_FMT_ALL) || defined(KILN_FMT_Q5_0)
KILN_FN kiln_f32 kiln_dequant_q5_0(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    kiln_u32 j = KILN_U32(i);
    kiln_f32 d = KILN_LD_F16(w, blk_off);
    kiln_u32 h = (KILN_LD_U8(w, blk_off + 2u + (j >> 3u)) >> (j & 7u)) & 1u;
    kiln_u32 b = KILN_LD_U8(w, blk_off + 6u + (j & 15u));
    kiln_u32 q = ((b >> ((j >> 4u) * 4u)) & 15u) | (h << 4u);
    return KILN_F32(KILN_I32(q) - 16) * d;
}
#endif

/* q5_1 (24 bytes): f16 d @0, f16 m @2, qh @4, nibbles @8. w = d * q + m. */
#if defined(KILN_FMT_ALL) || defined(KILN_FMT_Q5_1)
KILN_FN kiln_f32 kiln_dequant_q5_1(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    kiln_u32 j = KILN_U32(i);
    kiln_f32 d = KILN_LD_F16(w, blk_off);
    kiln_f32 m = KILN_LD_F16(w, blk_off + 2u);
    kiln_u32 h = (KILN_LD_U8(w, blk_off + 4u + (j >> 3u)) >> (j & 7u)) & 1u;
    kiln_u32 b = KILN_LD_U8(w, blk_off + 8u + (j & 15u));
    kiln_u32 q = ((b >> ((j >> 4u) * 4u)) & 15u) | (h << 4u);
    return KILN_F32(q) * d + m;
}
#endif

/* q8_0 (34 bytes): f16 d @0, 32 int8 @2. w = d * q. */
#if defined(KILN_FMT_ALL) || defined(KILN_FMT_Q8_0)
KILN_FN kiln_f32 kiln_dequant_q8_0(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    kiln_f32 d = KILN_LD_F16(w, blk_off);
    kiln_i32 q = KILN_I32(KILN_LD_U8(w, blk_off + 2u + KILN_U32(i)) ^ 0x80u) - 128;
    return KILN_F32(q) * d;
}
#endif

/* ------------------------------------------------------ K-quants (256/block) */

#if defined(KILN_FMT_ALL) || defined(KILN_FMT_Q4_K) || defined(KILN_FMT_Q5_K)
/* 6-bit scale of sub-block s (0..7) from the 12 packed bytes at sc_off:
 * s < 4: low 6 bits of byte s; else low nibble of byte s+4, top 2 bits from
 * the spare top bits of byte s-4. */
KILN_FN kiln_u32 kiln_kquant_scale(KILN_BUF_PARAM(w) kiln_u32 sc_off, kiln_u32 s)
{
    kiln_u32 lo = KILN_LD_U8(w, sc_off + s) & 63u;
    if (s >= 4u)
        lo = (KILN_LD_U8(w, sc_off + s + 4u) & 15u) | ((KILN_LD_U8(w, sc_off + s - 4u) >> 6u) << 4u);
    return lo;
}
/* 6-bit min of sub-block s: s < 4: low 6 bits of byte s+4; else high nibble
 * of byte s+4, top 2 bits from the top bits of byte s. */
KILN_FN kiln_u32 kiln_kquant_min(KILN_BUF_PARAM(w) kiln_u32 sc_off, kiln_u32 s)
{
    kiln_u32 m = KILN_LD_U8(w, sc_off + s + 4u) & 63u;
    if (s >= 4u)
        m = (KILN_LD_U8(w, sc_off + s + 4u) >> 4u) | ((KILN_LD_U8(w, sc_off + s) >> 6u) << 4u);
    return m;
}
#endif

/* q4_K (144 bytes): f16 d @0, f16 dmin @2, scales[12] @4, qs[128] @16.
 * Element j: chunk c = j/64, half h = (j/32)&1, sub-block s = 2c+h; nibble h
 * of byte qs[32c + j%32]. w = (d*sc[s]) * q - (dmin*m[s]). */
#if defined(KILN_FMT_ALL) || defined(KILN_FMT_Q4_K)
KILN_FN kiln_f32 kiln_dequant_q4_k(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    kiln_u32 j = KILN_U32(i);
    kiln_u32 c = j >> 6u;
    kiln_u32 h = (j >> 5u) & 1u;
    kiln_u32 s = 2u * c + h;
    kiln_f32 d = KILN_LD_F16(w, blk_off);
    kiln_f32 dmin = KILN_LD_F16(w, blk_off + 2u);
    kiln_f32 dl = d * KILN_F32(kiln_kquant_scale(KILN_BUF_ARG(w) blk_off + 4u, s));
    kiln_f32 ml = dmin * KILN_F32(kiln_kquant_min(KILN_BUF_ARG(w) blk_off + 4u, s));
    kiln_u32 b = KILN_LD_U8(w, blk_off + 16u + 32u * c + (j & 31u));
    kiln_u32 q = (b >> (4u * h)) & 15u;
    return dl * KILN_F32(q) - ml;
}
#endif

/* q5_K (176 bytes): f16 d @0, f16 dmin @2, scales[12] @4, qh[32] @16,
 * qs[128] @48. As q4_K plus bit 4 = bit s of qh[j%32]. */
#if defined(KILN_FMT_ALL) || defined(KILN_FMT_Q5_K)
KILN_FN kiln_f32 kiln_dequant_q5_k(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    kiln_u32 j = KILN_U32(i);
    kiln_u32 c = j >> 6u;
    kiln_u32 h = (j >> 5u) & 1u;
    kiln_u32 s = 2u * c + h;
    kiln_f32 d = KILN_LD_F16(w, blk_off);
    kiln_f32 dmin = KILN_LD_F16(w, blk_off + 2u);
    kiln_f32 dl = d * KILN_F32(kiln_kquant_scale(KILN_BUF_ARG(w) blk_off + 4u, s));
    kiln_f32 ml = dmin * KILN_F32(kiln_kquant_min(KILN_BUF_ARG(w) blk_off + 4u, s));
    kiln_u32 hb = (KILN_LD_U8(w, blk_off + 16u + (j & 31u)) >> s) & 1u;
    kiln_u32 b = KILN_LD_U8(w, blk_off + 48u + 32u * c + (j & 31u));
    kiln_u32 q = ((b >> (4u * h)) & 15u) + 16u * hb;
    return dl * KILN_F32(q) - ml;
}
#endif

/* q6_K (210 bytes): ql[128] @0, qh[64] @128, int8 scales[16] @192, f16 d @208.
 * Element j: half n = j/128, quarter t = (j/32)&3, l = j%32; low 4 bits =
 * nibble (t>>1) of ql[64n + 32(t&1) + l]; high 2 bits = bits 2t..2t+1 of
 * qh[32n + l]; scale scales[8n + 2t + l/16]. w = (d*sc) * (q - 32). */
#if defined(KILN_FMT_ALL) || defined(KILN_FMT_Q6_K)
KILN_FN kiln_f32 kiln_dequant_q6_k(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    kiln_u32 j = KILN_U32(i);
    kiln_u32 n = j >> 7u;
    kiln_u32 t = (j >> 5u) & 3u;
    kiln_u32 l = j & 31u;
    kiln_u32 lo = (KILN_LD_U8(w, blk_off + 64u * n + 32u * (t & 1u) + l) >> (4u * (t >> 1u))) & 15u;
    kiln_u32 hi = (KILN_LD_U8(w, blk_off + 128u + 32u * n + l) >> (2u * t)) & 3u;
    kiln_i32 q = KILN_I32(lo | (hi << 4u)) - 32;
    kiln_i32 sc = KILN_I32(KILN_LD_U8(w, blk_off + 192u + 8u * n + 2u * t + (l >> 4u)) ^ 0x80u) - 128;
    kiln_f32 d = KILN_LD_F16(w, blk_off + 208u);
    return d * KILN_F32(sc) * KILN_F32(q);
}
#endif

/* q3_K (110 bytes): hmask[32] @0, qs[64] @32, scales[12] @96, f16 d @108.
 * Element j: half n = j/128, quarter t = (j/32)&3, l = j%32; low 2 bits =
 * bits 2t..2t+1 of qs[32n + l]; high bit = bit 4n + t of hmask[l], and a clear
 * high bit subtracts 4; sub-block s = 8n + 2t + l/16 has a 6-bit scale: low
 * nibble of scales[s & 7] (the high one for s >= 8), top 2 bits = bits
 * 2(s/4)..+1 of scales[8 + s%4]. w = (d * (sc - 32)) * q, q in -4..3. */
#if defined(KILN_FMT_ALL) || defined(KILN_FMT_Q3_K)
KILN_FN kiln_f32 kiln_dequant_q3_k(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    kiln_u32 j = KILN_U32(i);
    kiln_u32 n = j >> 7u;
    kiln_u32 t = (j >> 5u) & 3u;
    kiln_u32 l = j & 31u;
    kiln_u32 s = 8u * n + 2u * t + (l >> 4u);
    kiln_u32 lo4 = (KILN_LD_U8(w, blk_off + 96u + (s & 7u)) >> (4u * (s >> 3u))) & 15u;
    kiln_u32 hi2 = (KILN_LD_U8(w, blk_off + 104u + (s & 3u)) >> (2u * (s >> 2u))) & 3u;
    kiln_i32 sc = KILN_I32(lo4 | (hi2 << 4u)) - 32;
    kiln_u32 low = (KILN_LD_U8(w, blk_off + 32u + 32u * n + l) >> (2u * t)) & 3u;
    kiln_u32 hb = (KILN_LD_U8(w, blk_off + l) >> (4u * n + t)) & 1u;
    kiln_i32 q = KILN_I32(low) - (hb != 0u ? 0 : 4);
    kiln_f32 d = KILN_LD_F16(w, blk_off + 108u);
    kiln_f32 dl = d * KILN_F32(sc);
    return dl * KILN_F32(q);
}
#endif

/* q8_K (292 bytes): f32 d @0, 256 int8 @4, int16 bsums[16] @260. w = d * q.
 * (An activation format; here for completeness and tests.) */
#if defined(KILN_FMT_ALL) || defined(KILN_FMT_Q8_K)
KILN_FN kiln_f32 kiln_dequant_q8_k(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    kiln_f32 d = KILN_LD_F32(w, blk_off);
    kiln_i32 q = KILN_I32(KILN_LD_U8(w, blk_off + 4u + KILN_U32(i)) ^ 0x80u) - 128;
    return d * KILN_F32(q);
}
#endif

/* iq4_nl (18 bytes): f16 d @0, 16 bytes @2; nibble order as q4_0 (element j
 * in the low nibble of byte j, j+16 in the high one). w = d * IQ4NL[code]. */
#if defined(KILN_FMT_ALL) || defined(KILN_FMT_IQ4_NL)
/* ggml's kvalues_iq4nl (same values as formats/quant_iq4_nl.c) as four
 * words of signed bytes, code 4w+b in byte b of word w: the dialect has no
 * portable constant array, and a switch became a local-memory table (stack
 * and spills) under ptxas. */
KILN_FN kiln_i32 kiln_iq4nl_value(kiln_u32 code)
{
    kiln_u32 w = code < 8u ? (code < 4u ? 0xBFAD9881u : 0xF6EADDCFu)  /* -127 -104 -83 -65 | -49 -35 -22 -10 */
                           : (code < 12u ? 0x26190D01u : 0x71594535u); /*    1   13  25  38 |  53  69  89 113 */
    kiln_i32 v = KILN_I32((w >> (8u * (code & 3u))) & 255u);
    return v >= 128 ? v - 256 : v;
}
KILN_FN kiln_f32 kiln_dequant_iq4_nl(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    kiln_u32 j = KILN_U32(i);
    kiln_f32 d = KILN_LD_F16(w, blk_off);
    kiln_u32 b = KILN_LD_U8(w, blk_off + 2u + (j & 15u));
    kiln_u32 code = (b >> (4u * (j >> 4u))) & 15u;
    return d * KILN_F32(kiln_iq4nl_value(code));
}
#endif

/* ------------------------------------------------------- kiln's own formats */

/* nf4 (36 bytes): f32 absmax @0, 32 bytes @4; element j in byte j/2, the HIGH
 * nibble for even j (bitsandbytes). w = absmax * NF4[code]. */
#if defined(KILN_FMT_ALL) || defined(KILN_FMT_NF4)
/* The bitsandbytes NF4 table, as a switch because the dialect has no portable
 * constant array; same literals as formats/quant_nf4_int4g.c. */
KILN_FN kiln_f32 kiln_nf4_value(kiln_u32 code)
{
    kiln_f32 v = 0.0f;
    switch (KILN_I32(code)) {
    case 0: v = -1.0f; break;
    case 1: v = -0.6961928009986877f; break;
    case 2: v = -0.5250730514526367f; break;
    case 3: v = -0.39491748809814453f; break;
    case 4: v = -0.28444138169288635f; break;
    case 5: v = -0.18477343022823334f; break;
    case 6: v = -0.09105003625154495f; break;
    case 7: v = 0.0f; break;
    case 8: v = 0.07958029955625534f; break;
    case 9: v = 0.16093020141124725f; break;
    case 10: v = 0.24611230194568634f; break;
    case 11: v = 0.33791524171829224f; break;
    case 12: v = 0.44070982933044434f; break;
    case 13: v = 0.5626170039176941f; break;
    case 14: v = 0.7229568362236023f; break;
    default: v = 1.0f; break;
    }
    return v;
}
KILN_FN kiln_f32 kiln_dequant_nf4(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    kiln_u32 j = KILN_U32(i);
    kiln_f32 absmax = KILN_LD_F32(w, blk_off);
    kiln_u32 b = KILN_LD_U8(w, blk_off + 4u + (j >> 1u));
    kiln_u32 code = (b >> (4u - 4u * (j & 1u))) & 15u;
    return absmax * kiln_nf4_value(code);
}
#endif

/* int4g (68 bytes): f16 scale @0, u8 zero @2, u8 pad @3, 64 bytes @4; element
 * j in byte j/2, the LOW nibble for even j (GPTQ). w = scale * (q - zero). */
#if defined(KILN_FMT_ALL) || defined(KILN_FMT_INT4G)
KILN_FN kiln_f32 kiln_dequant_int4g(KILN_BUF_PARAM(w) kiln_u32 blk_off, kiln_i32 i)
{
    kiln_u32 j = KILN_U32(i);
    kiln_f32 scale = KILN_LD_F16(w, blk_off);
    kiln_i32 zero = KILN_I32(KILN_LD_U8(w, blk_off + 2u));
    kiln_u32 b = KILN_LD_U8(w, blk_off + 4u + (j >> 1u));
    kiln_u32 q = (b >> (4u * (j & 1u))) & 15u;
    return scale * KILN_F32(KILN_I32(q) - zero);
}
#endif

/* kiln_dequant, the spec's format's function, is #defined by the generator
 * (gen/emit.c: `#define kiln_dequant kiln_dequant_<fmt>`), so a new format
 * needs only its function here. */

#endif
