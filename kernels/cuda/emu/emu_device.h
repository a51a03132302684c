/* kernels/cuda/emu/emu_device.h — the CUDA built-ins for the host C++ compiler.
 *
 * Prepended (after emu_abi.h) to an emitted CUDA source when it is compiled
 * for the emulator, with KILN_CUDA_EMULATE defined: the kernel text is the very
 * text NVRTC compiles. Everything a kernel can name without a header lives
 * here: qualifiers, thread/block indices, vector types, math intrinsics,
 * barriers and warp shuffles. Inline PTX is not here: it goes through the
 * named wrappers of kernels/cuda/templates/cuda_arch.cuh, whose emulated
 * bodies call kiln_emu_rt_. */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

/* The runtime, set by kiln_emu_bind when the module is loaded. */
static const kiln_emu_rt *kiln_emu_rt_;

/* ---- qualifiers. __shared__ variables of the whole module share one
 * section, so the runtime can poison them (they are statics: one copy, and
 * the emulator runs one block at a time). */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static __attribute__((section("kiln_emu_smem")))

/* Dynamic shared memory: one buffer per module; every name aliases it, as
 * every `extern __shared__` array does on the GPU. */
alignas(16) static unsigned char kiln_emu_dyn_smem[KILN_EMU_DYN_SMEM_MAX];
#define KILN_EMU_DYNAMIC_SHARED(T, name) static T *const name = (T *)kiln_emu_dyn_smem

/* A kernel: the body keeps its CUDA signature; the exported entry takes
 * cuLaunchKernel's parameter array. */
#define KILN_EMU_KERNEL(name, T, a) KILN_EMU_KERNEL_(name, T, a)
#define KILN_EMU_KERNEL_(name, T, a)                                                                   \
    static void name##_kiln_emu_body(const T a);                                                       \
    extern "C" __attribute__((visibility("default"))) const size_t name##_kiln_emu_param_size = sizeof(T); \
    extern "C" __attribute__((visibility("default"))) void name(void *const *params)                  \
    {                                                                                                  \
        T copy;                                                                                        \
        memcpy(&copy, params[0], sizeof copy);                                                         \
        name##_kiln_emu_body(copy);                                                                    \
    }                                                                                                  \
    static void name##_kiln_emu_body(const T a)

extern "C" char __start_kiln_emu_smem[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_kiln_emu_smem[] __attribute__((weak, visibility("hidden")));

extern "C" __attribute__((visibility("default"))) int kiln_emu_bind(const kiln_emu_rt *rt, kiln_emu_module_info *info)
{
    if (rt->abi != KILN_EMU_ABI) return -1;
    kiln_emu_rt_ = rt;
    info->abi = KILN_EMU_ABI;
    info->static_smem = (unsigned char *)__start_kiln_emu_smem;
    info->static_smem_bytes = __start_kiln_emu_smem ? (size_t)(__stop_kiln_emu_smem - __start_kiln_emu_smem) : 0;
    info->dynamic_smem = kiln_emu_dyn_smem;
    return 0;
}

/* ---- indices (read through the runtime: they change at every fiber switch) */
typedef kiln_emu_dim3 uint3;
typedef kiln_emu_dim3 dim3;
#define threadIdx ((*kiln_emu_rt_->current)->thread_idx)
#define blockIdx ((*kiln_emu_rt_->current)->block_idx)
#define blockDim ((*kiln_emu_rt_->current)->block_dim)
#define gridDim ((*kiln_emu_rt_->current)->grid_dim)
#define warpSize 32

/* ---- vector types, with the GPU's alignment (a misaligned one is a fault there) */
struct __attribute__((aligned(16))) uint4 { unsigned int x, y, z, w; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(8))) uint2 { unsigned int x, y; };
struct __attribute__((aligned(8))) int2 { int x, y; };
struct __attribute__((aligned(8))) float2 { float x, y; };
static inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }
static inline int4 make_int4(int a, int b, int c, int d) { return {a, b, c, d}; }
static inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
static inline uint2 make_uint2(unsigned a, unsigned b) { return {a, b}; }
static inline float2 make_float2(float a, float b) { return {a, b}; }

/* ---- bit casts and math intrinsics (round to nearest, as the GPU's _rn forms) */
static inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
/* glibc declares __expf and __logf itself: macros, not redefinitions. */
#define __expf(x) expf(x)
#define __logf(x) logf(x)
static inline float __fdividef(float a, float b) { return a / b; }
static inline float __fmul_rn(float a, float b) { volatile float p = a * b; return p; }
static inline float __fadd_rn(float a, float b) { volatile float s = a + b; return s; }
static inline float __frcp_rn(float a) { return 1.0f / a; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline float __saturatef(float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
static inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
static inline int __float2int_rz(float x) { return (int)x; }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }

/* ---- barriers and warp shuffles */
static inline void __syncthreads(void) { kiln_emu_rt_->sync_threads(); }
static inline void __syncwarp(unsigned mask = 0xffffffffu)
{
    kiln_emu_rt_->warp_exchange(KILN_EMU_OP_SYNCWARP, mask, 0, 0);
}
static inline unsigned kiln_emu_lane_(void) { return (threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y) & 31u; }

/* One 32-bit shuffle: every lane deposits v, reads the lane src(lane) picked. */
template <typename F> static inline unsigned kiln_emu_shfl_(unsigned mask, unsigned v, int width, F src)
{
    const uint32_t(*all)[KILN_EMU_XCHG_WORDS] = kiln_emu_rt_->warp_exchange(KILN_EMU_OP_SHFL, mask, &v, 1);
    const int lane = (int)kiln_emu_lane_(), base = lane & ~(width - 1);
    const int s = src(lane - base);
    return (s < 0 || s >= width) ? v : all[base + s][0];
}
template <typename T> static inline unsigned kiln_emu_bits_(T v) { unsigned u; memcpy(&u, &v, 4); return u; }
template <typename T> static inline T kiln_emu_from_bits_(unsigned u) { T v; memcpy(&v, &u, 4); return v; }
template <typename T> static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32)
{
    static_assert(sizeof(T) == 4, "emulator: 32-bit shuffles only");
    return kiln_emu_from_bits_<T>(kiln_emu_shfl_(mask, kiln_emu_bits_(v), width, [&](int) { return src & (width - 1); }));
}
template <typename T> static inline T __shfl_xor_sync(unsigned mask, T v, int m, int width = 32)
{
    static_assert(sizeof(T) == 4, "emulator: 32-bit shuffles only");
    return kiln_emu_from_bits_<T>(kiln_emu_shfl_(mask, kiln_emu_bits_(v), width, [&](int l) { return l ^ m; }));
}
template <typename T> static inline T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32)
{
    static_assert(sizeof(T) == 4, "emulator: 32-bit shuffles only");
    return kiln_emu_from_bits_<T>(kiln_emu_shfl_(mask, kiln_emu_bits_(v), width, [&](int l) { return l + (int)d; }));
}
template <typename T> static inline T __shfl_up_sync(unsigned mask, T v, unsigned d, int width = 32)
{
    static_assert(sizeof(T) == 4, "emulator: 32-bit shuffles only");
    return kiln_emu_from_bits_<T>(kiln_emu_shfl_(mask, kiln_emu_bits_(v), width, [&](int l) { return l - (int)d; }));
}

/* ---- checks used by the wrappers */
static inline void kiln_emu_check_align_(const void *p, unsigned align, const char *what)
{
    if ((uintptr_t)p % align) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s: address %p is not %u-byte aligned", what, p, align);
        kiln_emu_rt_->fail(msg);
    }
}
