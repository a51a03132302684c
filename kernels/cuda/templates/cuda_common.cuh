/* kernels/cuda/templates/cuda_common.cuh — helpers shared by the CUDA op templates:
 * dtype loads/stores selected by the spec's macros, warp reductions, f16/bf16
 * packing for the tensor-core paths. Pulled in by the generator through
 * `#pragma kiln include`; compiled by NVRTC with no CUDA headers. */
#pragma kiln include "kernels/cuda/templates/cuda_args.h"

#define KILN_CAT_(a, b) a##b
#define KILN_CAT(a, b) KILN_CAT_(a, b)

typedef unsigned short kiln_u16;
typedef long long kiln_i64;

/* ---- scalar conversions (round to nearest even, as the host's kiln_f32_to_*) */
KILN_FN kiln_u16 kiln_cu_f2h(float f)
{
    return kiln_arch_f2h(f);
}
KILN_FN kiln_u16 kiln_cu_f2bf(float f)
{
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (kiln_u16)((u >> 16) | 0x40u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (kiln_u16)(u >> 16);
}
KILN_FN float kiln_cu_h2f(kiln_u16 h) { return kiln_h2f_(h); }
KILN_FN float kiln_cu_bf2f(kiln_u16 h) { return __uint_as_float(((unsigned int)h) << 16); }

/* Element idx of a row of dtype T (0 f32, 1 f16, 2 bf16) as float, and back. */
#define KILN_T_F32 0
#define KILN_T_F16 1
#define KILN_T_BF16 2

template <int T> KILN_FN float kiln_cu_load(const void *p, kiln_i64 idx)
{
    if constexpr (T == KILN_T_F32) return ((const float *)p)[idx];
    else if constexpr (T == KILN_T_F16) return kiln_cu_h2f(((const kiln_u16 *)p)[idx]);
    else return kiln_cu_bf2f(((const kiln_u16 *)p)[idx]);
}
template <int T> KILN_FN void kiln_cu_store(void *p, kiln_i64 idx, float v)
{
    if constexpr (T == KILN_T_F32) ((float *)p)[idx] = v;
    else if constexpr (T == KILN_T_F16) ((kiln_u16 *)p)[idx] = kiln_cu_f2h(v);
    else ((kiln_u16 *)p)[idx] = kiln_cu_f2bf(v);
}
/* kiln_cu_load for global memory the kernel only reads: through ld.global.nc
 * (LDG), never a generic load. */
template <int T> KILN_FN float kiln_cu_ldg(const void *p, kiln_i64 idx)
{
    if constexpr (T == KILN_T_F32) return __uint_as_float(kiln_arch_ldg_u32((const float *)p + idx, 0));
    else if constexpr (T == KILN_T_F16) return kiln_cu_h2f((kiln_u16)kiln_arch_ldg_u16((const kiln_u16 *)p + idx, 0));
    else return kiln_cu_bf2f((kiln_u16)kiln_arch_ldg_u16((const kiln_u16 *)p + idx, 0));
}
/* The same with the type known only at run time (a uniform branch). */
KILN_FN float kiln_cu_load_rt(const void *p, kiln_i64 idx, int t)
{
    return t == KILN_T_F32 ? kiln_cu_load<KILN_T_F32>(p, idx)
         : t == KILN_T_F16 ? kiln_cu_load<KILN_T_F16>(p, idx) : kiln_cu_load<KILN_T_BF16>(p, idx);
}
KILN_FN void kiln_cu_store_rt(void *p, kiln_i64 idx, float v, int t)
{
    if (t == KILN_T_F32) kiln_cu_store<KILN_T_F32>(p, idx, v);
    else if (t == KILN_T_F16) kiln_cu_store<KILN_T_F16>(p, idx, v);
    else kiln_cu_store<KILN_T_BF16>(p, idx, v);
}
template <int T> struct kiln_cu_size { static constexpr int bytes = T == KILN_T_F32 ? 4 : 2; };

/* The spec's activation, output and (attention) K/V types as KILN_T_* codes. */
#if defined(KILN_ACT_F16)
#define KILN_ACT_T KILN_T_F16
#elif defined(KILN_ACT_BF16)
#define KILN_ACT_T KILN_T_BF16
#else
#define KILN_ACT_T KILN_T_F32
#endif
#if defined(KILN_OUT_F16)
#define KILN_OUT_T KILN_T_F16
#elif defined(KILN_OUT_BF16)
#define KILN_OUT_T KILN_T_BF16
#else
#define KILN_OUT_T KILN_T_F32
#endif
#if defined(KILN_FMT_F16)
#define KILN_FMT_T KILN_T_F16
#elif defined(KILN_FMT_BF16)
#define KILN_FMT_T KILN_T_BF16
#else
#define KILN_FMT_T KILN_T_F32
#endif

/* ---- warp reductions (all 32 lanes take part) */
KILN_FN float kiln_cu_warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
KILN_FN float kiln_cu_warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* ---- byte address arithmetic on CUdeviceptr values */
KILN_FN const kiln_u8 *kiln_cu_ptr(unsigned long long base, kiln_i64 off)
{
    return (const kiln_u8 *)(base + (unsigned long long)off);
}
KILN_FN kiln_u8 *kiln_cu_wptr(unsigned long long base, kiln_i64 off)
{
    return (kiln_u8 *)(base + (unsigned long long)off);
}

KILN_FN float kiln_cu_silu(float v) { return v / (1.0f + __expf(-v)); }

/* No math.h under NVRTC: -inf spelled by its bits. */
#define KILN_CU_NEG_INF __int_as_float(0xff800000)

/* 16 bytes of dtype T at p (16-byte aligned) as 16 / sizeof(T) floats. */
template <int T> struct kiln_cu_vec { static constexpr int n = 16 / kiln_cu_size<T>::bytes; };
template <int T> KILN_FN void kiln_cu_load16(const kiln_u8 *p, float (&v)[kiln_cu_vec<T>::n])
{
    const uint4 q = kiln_arch_ld16(p);
    const unsigned int u[4] = {q.x, q.y, q.z, q.w};
    if constexpr (T == KILN_T_F32) {
#pragma unroll
        for (int j = 0; j < 4; j++) v[j] = __uint_as_float(u[j]);
    } else {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const kiln_u16 lo = (kiln_u16)(u[j] & 0xffffu), hi = (kiln_u16)(u[j] >> 16);
            v[2 * j] = T == KILN_T_F16 ? kiln_cu_h2f(lo) : kiln_cu_bf2f(lo);
            v[2 * j + 1] = T == KILN_T_F16 ? kiln_cu_h2f(hi) : kiln_cu_bf2f(hi);
        }
    }
}
