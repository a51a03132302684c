/* gen/math/dialect_cuda.h — the kiln dialect for CUDA C (NVRTC). See dialect_c.h.
 * No CUDA headers are included: NVRTC compiles the emitted source as is. Inline
 * PTX lives only in cuda_arch.cuh (wrappers with their emulated bodies). */
#pragma kiln include "kernels/cuda/templates/cuda_arch.cuh"
typedef unsigned char kiln_u8;
typedef unsigned int kiln_u32;
typedef int kiln_i32;
typedef float kiln_f32;

#define KILN_FN static __device__ __forceinline__
#define KILN_U32(x) ((kiln_u32)(x))
#define KILN_I32(x) ((kiln_i32)(x))
#define KILN_F32(x) ((kiln_f32)(x))
#define KILN_BUF_PARAM(b) const kiln_u8 *__restrict__ b,
#define KILN_BUF_ARG(b) b,

KILN_FN kiln_f32 kiln_h2f_(kiln_u32 h) { return kiln_arch_h2f((unsigned short)h); }

#define KILN_LD_U8(b, off) ((kiln_u32)(b)[(off)])
#define KILN_LD_U16(b, off) ((kiln_u32)*(const unsigned short *)((b) + (off)))
#define KILN_LD_U32(b, off) (*(const unsigned int *)((b) + (off)))
#define KILN_LD_F16(b, off) kiln_h2f_(KILN_LD_U16(b, off))
#define KILN_LD_BF16(b, off) __uint_as_float(KILN_LD_U16(b, off) << 16)
#define KILN_LD_F32(b, off) (*(const float *)((b) + (off)))

#define KILN_EXP(x) __expf(x)
#define KILN_SQRT(x) sqrtf(x)
#define KILN_RSQRT(x) rsqrtf(x)
#define KILN_MAXF(a, b) fmaxf(a, b)
#define KILN_MINF(a, b) fminf(a, b)
#define KILN_ABSF(x) fabsf(x)
#define KILN_COS(x) cosf(x) /* precise: kiln never compiles with -use_fast_math */
#define KILN_SIN(x) sinf(x)
#define KILN_POW(x, y) powf(x, y)
#define KILN_TRUNC(x) truncf(x)
#define KILN_MUL_RN(a, b) __fmul_rn(a, b) /* never contracted into an fma */
#define KILN_F32_BITS(x) __float_as_uint(x)
#define KILN_BITS_F32(u) __uint_as_float(u)
