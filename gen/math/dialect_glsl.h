/* gen/math/dialect_glsl.h — the kiln dialect for GLSL compute (Vulkan). See dialect_c.h.
 * A buffer b used with KILN_LD_* is declared by the template as three aliased
 * views of one binding: b_u8 (uint8_t[]), b_u16 (uint16_t[]) and b_u32 (uint[]). */
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require

#define kiln_u8 uint
#define kiln_u32 uint
#define kiln_i32 int
#define kiln_f32 float

#define KILN_FN
#define KILN_U32(x) uint(x)
#define KILN_I32(x) int(x)
#define KILN_F32(x) float(x)
#define KILN_BUF_PARAM(b)
#define KILN_BUF_ARG(b)

#define KILN_LD_U8(b, off) uint(b##_u8[(off)])
#define KILN_LD_U16(b, off) uint(b##_u16[(off) >> 1])
#define KILN_LD_U32(b, off) (b##_u32[(off) >> 2])
#define KILN_LD_F16(b, off) unpackHalf2x16(KILN_LD_U16(b, off)).x
#define KILN_LD_BF16(b, off) uintBitsToFloat(KILN_LD_U16(b, off) << 16)
#define KILN_LD_F32(b, off) uintBitsToFloat(KILN_LD_U32(b, off))

#define KILN_EXP(x) exp(x)
#define KILN_SQRT(x) sqrt(x)
#define KILN_RSQRT(x) inversesqrt(x)
#define KILN_MAXF(a, b) max(a, b)
#define KILN_MINF(a, b) min(a, b)
#define KILN_ABSF(x) abs(x)
#define KILN_COS(x) cos(x)
#define KILN_SIN(x) sin(x)
#define KILN_POW(x, y) pow(x, y)
#define KILN_TRUNC(x) trunc(x)
#define KILN_MUL_RN(a, b) ((a) * (b))
#define KILN_F32_BITS(x) floatBitsToUint(x)
#define KILN_BITS_F32(u) uintBitsToFloat(u)

/* GLSL needs a buffer declared before the first function that reads it, and
 * gen/math/dequant.h (inlined right after this file) reads `w`: the Vulkan
 * templates' shared header declares `w` (at the binding each op gives it) and
 * the other common declarations here, ahead of the shared math. */
#pragma kiln include "kernels/vulkan/templates/io.glsl"
