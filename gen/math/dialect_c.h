/* gen/math/dialect_c.h — the kiln dialect for C (cpu backend).
 *
 * The shared math descriptions in gen/math/ (dequant of each format, softmax
 * update, epilogues) are written once in this small dialect; each backend's
 * dialect file maps it to its language (dialect_c.h, dialect_cuda.h,
 * dialect_glsl.h). Emitted sources are standalone: no kiln header is needed.
 *
 *   kiln_u8 kiln_u32 kiln_i32 kiln_f32      types
 *   KILN_U32(x) KILN_I32(x) KILN_F32(x)     conversions
 *   KILN_FN                                 qualifier of a helper function
 *   KILN_BUF_PARAM(b) KILN_BUF_ARG(b)       a byte buffer as parameter/argument
 *                                           (empty in GLSL, where buffers are globals)
 *   KILN_LD_U8/U16/U32(b, off)              little-endian loads at byte offset off
 *                                           (U16 at even, U32 at 4-aligned offsets)
 *   KILN_LD_F16/BF16/F32(b, off)            loads converted to kiln_f32
 *   KILN_EXP KILN_SQRT KILN_RSQRT KILN_MAXF KILN_MINF KILN_ABSF   math
 *   KILN_COS KILN_SIN KILN_POW KILN_TRUNC   precise (libm-grade, never fast intrinsics)
 *   KILN_MUL_RN(a, b)                       a product never contracted into an fma
 *   KILN_F32_BITS(x) KILN_BITS_F32(u)       float <-> its IEEE bits
 */
#ifndef KILN_DIALECT_C_H
#define KILN_DIALECT_C_H
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef uint8_t kiln_u8;
typedef uint32_t kiln_u32;
typedef int32_t kiln_i32;
typedef float kiln_f32;

#define KILN_FN static inline
#define KILN_U32(x) ((kiln_u32)(x))
#define KILN_I32(x) ((kiln_i32)(x))
#define KILN_F32(x) ((kiln_f32)(x))
#define KILN_BUF_PARAM(b) const kiln_u8 *b,
#define KILN_BUF_ARG(b) b,

KILN_FN kiln_u32 kiln_ld_u16_(const kiln_u8 *p) { uint16_t v; memcpy(&v, p, 2); return v; }
KILN_FN kiln_u32 kiln_ld_u32_(const kiln_u8 *p) { uint32_t v; memcpy(&v, p, 4); return v; }
KILN_FN kiln_f32 kiln_bits_f32_(kiln_u32 u) { float f; memcpy(&f, &u, 4); return f; }
/* IEEE half -> float, exact for every input (subnormals, inf, nan). */
KILN_FN kiln_f32 kiln_h2f_(kiln_u32 h)
{
    kiln_u32 sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1fu) return kiln_bits_f32_(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0) return kiln_bits_f32_(sign);
        float f = (float)man * (1.0f / 16777216.0f); /* man * 2^-24 */
        return sign ? -f : f;
    }
    return kiln_bits_f32_(sign | ((exp + 112u) << 23) | (man << 13));
}

#define KILN_LD_U8(b, off) ((kiln_u32)(b)[(off)])
#define KILN_LD_U16(b, off) kiln_ld_u16_((b) + (off))
#define KILN_LD_U32(b, off) kiln_ld_u32_((b) + (off))
#define KILN_LD_F16(b, off) kiln_h2f_(KILN_LD_U16(b, off))
#define KILN_LD_BF16(b, off) kiln_bits_f32_(KILN_LD_U16(b, off) << 16)
#define KILN_LD_F32(b, off) kiln_bits_f32_(KILN_LD_U32(b, off))

#define KILN_EXP(x) expf(x)
#define KILN_SQRT(x) sqrtf(x)
#define KILN_RSQRT(x) (1.0f / sqrtf(x))
#define KILN_MAXF(a, b) fmaxf(a, b)
#define KILN_MINF(a, b) fminf(a, b)
#define KILN_ABSF(x) fabsf(x)
#define KILN_COS(x) cosf(x)
#define KILN_SIN(x) sinf(x)
#define KILN_POW(x, y) powf(x, y)
#define KILN_TRUNC(x) truncf(x)
#define KILN_MUL_RN(a, b) ((a) * (b)) /* ISO C mode (-std=c11) does not contract across statements' products */
KILN_FN kiln_u32 kiln_f32_bits_(kiln_f32 f) { kiln_u32 u; memcpy(&u, &f, 4); return u; }
#define KILN_F32_BITS(x) kiln_f32_bits_(x)
#define KILN_BITS_F32(u) kiln_bits_f32_(u)
#endif
