/* kernels/cuda/templates/cuda_arch.cuh — every inline PTX statement of kiln's
 * CUDA kernels, each behind a named wrapper (as CUTLASS's arch/ does), with its
 * emulated body beside it under one switch, KILN_CUDA_EMULATE.
 *
 * NVRTC compiles the PTX bodies. The CUDA emulator (docs/CUDA.md, "The
 * emulator") compiles the same emitted source with the host C++ compiler after
 * kernels/cuda/emu/emu_device.h, which defines KILN_CUDA_EMULATE; the emulated
 * bodies follow the PTX ISA's definition of each instruction (fragment layouts
 * included) and report misuse (alignment, a missing lane) through the
 * emulator's runtime. Nothing else in the templates may use asm or know about
 * the emulator: a new instruction gets a wrapper here, with a unit test kernel
 * in tests/test_cuda_emu.c. Included first, from gen/math/dialect_cuda.h. */

/* ---- kernel entries and dynamic shared memory.
 * KILN_KERNEL(bounds, name, ArgsT, a) { ... } declares an extern "C" kernel
 * taking one parameter block by value; KILN_DYNAMIC_SHARED(T, name) the
 * block's dynamic shared memory (every name aliases the same bytes). */
#ifdef KILN_CUDA_EMULATE
#define KILN_KERNEL(bounds, name, T, a) KILN_EMU_KERNEL(name, T, a)
#define KILN_DYNAMIC_SHARED(T, name) KILN_EMU_DYNAMIC_SHARED(T, name)
#else
#define KILN_KERNEL(bounds, name, T, a) extern "C" __global__ __launch_bounds__(bounds) void name(const T a)
#define KILN_DYNAMIC_SHARED(T, name) extern __shared__ __align__(16) T name[]
#endif

#ifdef KILN_CUDA_EMULATE
/* f16 <-> f32 with round to nearest even, as cvt.rn does (_Float16 is IEEE binary16). */
static inline unsigned short kiln_emu_f2h_(float f)
{
    _Float16 h = (_Float16)f;
    unsigned short u;
    memcpy(&u, &h, 2);
    return u;
}
static inline float kiln_emu_h2f_(unsigned short u)
{
    _Float16 h;
    memcpy(&h, &u, 2);
    return (float)h;
}
static inline float kiln_emu_half_(unsigned u16, bool bf16)
{
    return bf16 ? __uint_as_float(u16 << 16) : kiln_emu_h2f_((unsigned short)u16);
}
#endif

/* ---- scalar conversions: cvt.rn.f16.f32 and cvt.f32.f16 */
__device__ __forceinline__ unsigned short kiln_arch_f2h(float f)
{
#ifdef KILN_CUDA_EMULATE
    return kiln_emu_f2h_(f);
#else
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
#endif
}
__device__ __forceinline__ float kiln_arch_h2f(unsigned short h)
{
#ifdef KILN_CUDA_EMULATE
    return kiln_emu_h2f_(h);
#else
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
#endif
}

/* ---- dp4a.s32.s32: c + the dot product of the four signed bytes of a and b */
__device__ __forceinline__ int kiln_arch_dp4a(int a, int b, int c)
{
#ifdef KILN_CUDA_EMULATE
    for (int i = 0; i < 4; i++) c += (int)(signed char)(a >> (8 * i)) * (int)(signed char)(b >> (8 * i));
    return c;
#else
    int d;
    asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
#endif
}

/* ---- 16-byte loads and stores (p 16-byte aligned, global or shared). The
 * streaming form reads global memory through the non-coherent path without
 * allocating in L1: weights are read once. */
__device__ __forceinline__ uint4 kiln_arch_ld_stream16(const void *p)
{
#ifdef KILN_CUDA_EMULATE
    kiln_emu_check_align_(p, 16, "ld.global.nc.v4");
    kiln_emu_rt_->access(p, 16, 1);
    return *(const uint4 *)p;
#else
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
#endif
}
/* ---- ld.global.nc: read-only global loads of 2, 4, 8 and 16 bytes (p aligned
 * to its width), through the non-coherent (texture) path: LDG in the SASS,
 * never the generic LD that a pointer of unknown space compiles to. Not
 * volatile: the data cannot change during the kernel, so ptxas may schedule
 * them freely. weight (1 for weights, 0 else) only tells the emulator's
 * profiler which counters the access belongs to. */
#ifdef KILN_CUDA_EMULATE
#define KILN_EMU_LDG_(T, p, n, weight, what)                                                                  \
    kiln_emu_check_align_(p, n, what);                                                                       \
    kiln_emu_rt_->access(p, n, weight);                                                                      \
    return *(const T *)p
#endif
__device__ __forceinline__ unsigned kiln_arch_ldg_u16(const void *p, int weight)
{
#ifdef KILN_CUDA_EMULATE
    KILN_EMU_LDG_(unsigned short, p, 2, weight, "ld.global.nc.u16");
#else
    (void)weight;
    unsigned short v;
    asm("ld.global.nc.u16 %0, [%1];" : "=h"(v) : "l"(p));
    return v;
#endif
}
__device__ __forceinline__ unsigned kiln_arch_ldg_u32(const void *p, int weight)
{
#ifdef KILN_CUDA_EMULATE
    KILN_EMU_LDG_(unsigned, p, 4, weight, "ld.global.nc.u32");
#else
    (void)weight;
    unsigned v;
    asm("ld.global.nc.u32 %0, [%1];" : "=r"(v) : "l"(p));
    return v;
#endif
}
__device__ __forceinline__ uint2 kiln_arch_ldg_u64(const void *p, int weight)
{
#ifdef KILN_CUDA_EMULATE
    KILN_EMU_LDG_(uint2, p, 8, weight, "ld.global.nc.v2.u32");
#else
    (void)weight;
    uint2 v;
    asm("ld.global.nc.v2.u32 {%0,%1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(p));
    return v;
#endif
}
__device__ __forceinline__ uint4 kiln_arch_ldg_u128(const void *p, int weight)
{
#ifdef KILN_CUDA_EMULATE
    KILN_EMU_LDG_(uint4, p, 16, weight, "ld.global.nc.v4.u32");
#else
    (void)weight;
    uint4 v;
    asm("ld.global.nc.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
#endif
}
__device__ __forceinline__ uint4 kiln_arch_ld16(const void *p)
{
#ifdef KILN_CUDA_EMULATE
    kiln_emu_check_align_(p, 16, "16-byte load");
    kiln_emu_rt_->access(p, 16, 0);
#endif
    return *(const uint4 *)p;
}
__device__ __forceinline__ void kiln_arch_st16(void *p, uint4 v)
{
#ifdef KILN_CUDA_EMULATE
    kiln_emu_check_align_(p, 16, "16-byte store");
    kiln_emu_rt_->access(p, 16, 0);
#endif
    *(uint4 *)p = v;
}

/* ---- mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}: c += A (16x16) * B (16x8).
 * Fragments (PTX ISA, g = lane >> 2, t = lane & 3): a0 = A[g][2t..2t+1],
 * a1 = A[g+8][2t..], a2 = A[g][2t+8..], a3 = A[g+8][2t+8..]; b0 = B[2t..2t+1][g],
 * b1 = B[2t+8..2t+9][g]; c0,c1 = C[g][2t,2t+1], c2,c3 = C[g+8][2t,2t+1]. */
template <bool BF16>
__device__ __forceinline__ void kiln_arch_mma_m16n8k16(float (&c)[4], const unsigned (&a)[4], const unsigned (&b)[2])
{
#ifdef KILN_CUDA_EMULATE
    const uint32_t in[6] = {a[0], a[1], a[2], a[3], b[0], b[1]};
    const uint32_t(*all)[KILN_EMU_XCHG_WORDS] =
        kiln_emu_rt_->warp_exchange(BF16 ? KILN_EMU_OP_MMA_BF16 : KILN_EMU_OP_MMA_F16, 0xffffffffu, in, 6);
    const int lane = (int)kiln_emu_lane_(), g = lane >> 2, t = lane & 3;
    for (int q = 0; q < 4; q++) {
        const int row = g + (q >= 2 ? 8 : 0), col = 2 * t + (q & 1);
        float acc = c[q];
        for (int k = 0; k < 16; k++) {
            const uint32_t aw = all[(row & 7) * 4 + (k & 7) / 2][(row >= 8) + 2 * (k >= 8)];
            const uint32_t bw = all[col * 4 + (k & 7) / 2][4 + (k >= 8)];
            acc += kiln_emu_half_((aw >> (16 * (k & 1))) & 0xffffu, BF16) * kiln_emu_half_((bw >> (16 * (k & 1))) & 0xffffu, BF16);
        }
        c[q] = acc;
    }
#else
    if constexpr (BF16)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

/* ---- mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32: c += A (16x32) * B (32x8).
 * Fragments (PTX ISA): a0 = A[g][4t..4t+3], a1 = A[g+8][4t..], a2 = A[g][16+4t..],
 * a3 = A[g+8][16+4t..]; b0 = B[4t..4t+3][g], b1 = B[16+4t..][g]; c as m16n8k16. */
__device__ __forceinline__ void kiln_arch_mma_m16n8k32_s8(int (&c)[4], const unsigned (&a)[4], const unsigned (&b)[2])
{
#ifdef KILN_CUDA_EMULATE
    const uint32_t in[6] = {a[0], a[1], a[2], a[3], b[0], b[1]};
    const uint32_t(*all)[KILN_EMU_XCHG_WORDS] = kiln_emu_rt_->warp_exchange(KILN_EMU_OP_MMA_S8, 0xffffffffu, in, 6);
    const int lane = (int)kiln_emu_lane_(), g = lane >> 2, t = lane & 3;
    for (int q = 0; q < 4; q++) {
        const int row = g + (q >= 2 ? 8 : 0), col = 2 * t + (q & 1);
        int acc = c[q];
        for (int k = 0; k < 32; k++) {
            const uint32_t aw = all[(row & 7) * 4 + (k & 15) / 4][(row >= 8) + 2 * (k >= 16)];
            const uint32_t bw = all[col * 4 + (k & 15) / 4][4 + (k >= 16)];
            acc += (int)(signed char)(aw >> (8 * (k & 3))) * (int)(signed char)(bw >> (8 * (k & 3)));
        }
        c[q] = acc;
    }
#else
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

#ifndef KILN_CUDA_EMULATE
/* The 32-bit shared-window address of a generic pointer into shared memory. */
__device__ __forceinline__ unsigned kiln_arch_smem_addr(const void *p)
{
    unsigned a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}
#endif

/* ---- ldmatrix.sync.aligned.m8n8.xN[.trans].shared.b16: N 8x8 b16 matrices from
 * shared memory. Lane 8j+i gives the address of row i of matrix j (16 bytes,
 * 16-byte aligned; lanes past 8N are ignored). r[j] of lane l gets row l/4,
 * elements 2(l%4) and 2(l%4)+1 of matrix j; with .trans, the transposed matrix's. */
template <int N, bool TRANS>
__device__ __forceinline__ void kiln_arch_ldmatrix(unsigned (&r)[N], const void *row)
{
    static_assert(N == 1 || N == 2 || N == 4, "ldmatrix: .x1, .x2 or .x4");
#ifdef KILN_CUDA_EMULATE
    const int lane = (int)kiln_emu_lane_();
    if (lane < 8 * N) kiln_emu_check_align_(row, 16, "ldmatrix row");
    const uint64_t addr = (uint64_t)(uintptr_t)row;
    const uint32_t in[2] = {(uint32_t)addr, (uint32_t)(addr >> 32)};
    const uint32_t(*all)[KILN_EMU_XCHG_WORDS] =
        kiln_emu_rt_->warp_exchange(KILN_EMU_OP_LDMATRIX, 0xffffffffu, in, 2);
    uint64_t rows[32];
    for (int i = 0; i < 8 * N; i++) rows[i] = (uint64_t)all[i][0] | ((uint64_t)all[i][1] << 32);
    if (lane == 0) kiln_emu_rt_->access_ldmatrix(rows, 8 * N);
    for (int j = 0; j < N; j++) {
        const unsigned short *m[8];
        for (int i = 0; i < 8; i++) m[i] = (const unsigned short *)(uintptr_t)rows[8 * j + i];
        if (TRANS)
            r[j] = (unsigned)m[2 * (lane & 3)][lane >> 2] | ((unsigned)m[2 * (lane & 3) + 1][lane >> 2] << 16);
        else
            r[j] = (unsigned)m[lane >> 2][2 * (lane & 3)] | ((unsigned)m[lane >> 2][2 * (lane & 3) + 1] << 16);
    }
#else
    const unsigned a = kiln_arch_smem_addr(row);
    if constexpr (N == 1 && !TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];" : "=r"(r[0]) : "r"(a));
    else if constexpr (N == 1)
        asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];" : "=r"(r[0]) : "r"(a));
    else if constexpr (N == 2 && !TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];" : "=r"(r[0]), "=r"(r[1]) : "r"(a));
    else if constexpr (N == 2)
        asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];" : "=r"(r[0]), "=r"(r[1]) : "r"(a));
    else if constexpr (!TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
#endif
}

/* ---- cp.async.cg.shared.global (16 bytes, both ends 16-byte aligned), with
 * commit_group / wait_group. The emulator copies at wait time, so a read of
 * the destination before its wait sees the poisoned bytes. */
__device__ __forceinline__ void kiln_arch_cp_async16(void *smem, const void *gmem)
{
#ifdef KILN_CUDA_EMULATE
    kiln_emu_check_align_(smem, 16, "cp.async destination");
    kiln_emu_check_align_(gmem, 16, "cp.async source");
    kiln_emu_rt_->access(gmem, 16, 0);
    kiln_emu_rt_->access(smem, 16, 0); /* the shared side has bank conflicts of its own */
    kiln_emu_rt_->cp_async(smem, gmem, 16);
#else
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(kiln_arch_smem_addr(smem)), "l"(gmem));
#endif
}
__device__ __forceinline__ void kiln_arch_cp_async_commit(void)
{
#ifdef KILN_CUDA_EMULATE
    kiln_emu_rt_->cp_async_commit();
#else
    asm volatile("cp.async.commit_group;");
#endif
}
/* Wait until at most `pending` committed groups are still in flight. */
template <int PENDING> __device__ __forceinline__ void kiln_arch_cp_async_wait(void)
{
#ifdef KILN_CUDA_EMULATE
    kiln_emu_rt_->cp_async_wait(PENDING);
#else
    asm volatile("cp.async.wait_group %0;" ::"n"(PENDING));
#endif
}
