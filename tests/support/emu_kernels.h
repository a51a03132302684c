/* tests/support/emu_kernels.h — CUDA test kernels for the emulator's unit tests
 * (tests/test_cuda_emu*.c): one kernel per wrapper of cuda_arch.cuh and per
 * check of the scheduler. The source is a string (stringified, so it carries
 * no preprocessor lines) compiled after cuda_arch.cuh, by the host compiler
 * for the emulator and by NVRTC for sm_80 (the PTX bodies must compile too).
 *
 * Every kernel takes emu_targs: a, b, c, d device addresses, n and mode. */
#ifndef KILN_TESTS_EMU_KERNELS_H
#define KILN_TESTS_EMU_KERNELS_H

typedef struct emu_targs {
    unsigned long long a, b, c, d;
    int n, mode;
} emu_targs;

#define EMU_KERNELS_TEXT(...) #__VA_ARGS__

static const char emu_kernels_source[] = EMU_KERNELS_TEXT(
struct emu_targs { unsigned long long a, b, c, d; int n, mode; };

static __device__ unsigned t_pack(unsigned short lo, unsigned short hi) { return (unsigned)lo | ((unsigned)hi << 16); }

/* mma m16n8k16: A [16][16] and B stored [n=8][k=16] as 16-bit values, C [16][8] f32 in and out; mode 1: bf16 */
KILN_KERNEL(32, t_mma16, emu_targs, p)
{
    const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
    const unsigned short *A = (const unsigned short *)p.a, *B = (const unsigned short *)p.b;
    float *C = (float *)p.c;
    const unsigned a[4] = {t_pack(A[g * 16 + 2 * t], A[g * 16 + 2 * t + 1]),
                           t_pack(A[(g + 8) * 16 + 2 * t], A[(g + 8) * 16 + 2 * t + 1]),
                           t_pack(A[g * 16 + 2 * t + 8], A[g * 16 + 2 * t + 9]),
                           t_pack(A[(g + 8) * 16 + 2 * t + 8], A[(g + 8) * 16 + 2 * t + 9])};
    const unsigned b[2] = {t_pack(B[g * 16 + 2 * t], B[g * 16 + 2 * t + 1]), t_pack(B[g * 16 + 2 * t + 8], B[g * 16 + 2 * t + 9])};
    float c[4] = {C[g * 8 + 2 * t], C[g * 8 + 2 * t + 1], C[(g + 8) * 8 + 2 * t], C[(g + 8) * 8 + 2 * t + 1]};
    if (p.mode) kiln_arch_mma_m16n8k16<true>(c, a, b);
    else kiln_arch_mma_m16n8k16<false>(c, a, b);
    C[g * 8 + 2 * t] = c[0], C[g * 8 + 2 * t + 1] = c[1], C[(g + 8) * 8 + 2 * t] = c[2], C[(g + 8) * 8 + 2 * t + 1] = c[3];
}

/* mma m16n8k32 s8: A [16][32] and B stored [n=8][k=32] as bytes, C [16][8] s32 in and out */
KILN_KERNEL(32, t_mma_s8, emu_targs, p)
{
    const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
    const unsigned *A = (const unsigned *)p.a, *B = (const unsigned *)p.b; /* 4 bytes per word */
    int *C = (int *)p.c;
    const unsigned a[4] = {A[g * 8 + t], A[(g + 8) * 8 + t], A[g * 8 + 4 + t], A[(g + 8) * 8 + 4 + t]};
    const unsigned b[2] = {B[g * 8 + t], B[g * 8 + 4 + t]};
    int c[4] = {C[g * 8 + 2 * t], C[g * 8 + 2 * t + 1], C[(g + 8) * 8 + 2 * t], C[(g + 8) * 8 + 2 * t + 1]};
    kiln_arch_mma_m16n8k32_s8(c, a, b);
    C[g * 8 + 2 * t] = c[0], C[g * 8 + 2 * t + 1] = c[1], C[(g + 8) * 8 + 2 * t] = c[2], C[(g + 8) * 8 + 2 * t + 1] = c[3];
}

KILN_DYNAMIC_SHARED(unsigned short, t_smem);

/* ldmatrix: 32 rows of 8 16-bit values from a (row r at a + 16 r bytes) into shared memory
 * with a row stride of n values; lane 8j+i points at row i of matrix j (row 8j+i);
 * out c[j * 32 + lane] = r[j]. mode: 1, 2, 4 matrices; + 8: .trans */
KILN_KERNEL(32, t_ldmatrix, emu_targs, p)
{
    const int lane = threadIdx.x;
    const uint4 *src = (const uint4 *)p.a;
    kiln_arch_st16(t_smem + lane * p.n, src[lane]);
    __syncthreads();
    const unsigned short *row = t_smem + lane * p.n;
    unsigned *out = (unsigned *)p.c;
    const int x = p.mode & 7;
    if (p.mode & 8) {
        if (x == 1) { unsigned r[1]; kiln_arch_ldmatrix<1, true>(r, row); out[lane] = r[0]; }
        if (x == 2) { unsigned r[2]; kiln_arch_ldmatrix<2, true>(r, row); for (int j = 0; j < 2; j++) out[j * 32 + lane] = r[j]; }
        if (x == 4) { unsigned r[4]; kiln_arch_ldmatrix<4, true>(r, row); for (int j = 0; j < 4; j++) out[j * 32 + lane] = r[j]; }
    } else {
        if (x == 1) { unsigned r[1]; kiln_arch_ldmatrix<1, false>(r, row); out[lane] = r[0]; }
        if (x == 2) { unsigned r[2]; kiln_arch_ldmatrix<2, false>(r, row); for (int j = 0; j < 2; j++) out[j * 32 + lane] = r[j]; }
        if (x == 4) { unsigned r[4]; kiln_arch_ldmatrix<4, false>(r, row); for (int j = 0; j < 4; j++) out[j * 32 + lane] = r[j]; }
    }
}

/* cp.async of n 16-byte pieces, one per thread, from a to shared memory, then to c.
 * mode 0: commit, wait, barrier, copy out. 1: no wait at all. 2: read before the wait. */
KILN_KERNEL(256, t_cp_async, emu_targs, p)
{
    const int i = threadIdx.x;
    const unsigned char *src = (const unsigned char *)p.a;
    unsigned char *s = (unsigned char *)t_smem;
    uint4 *out = (uint4 *)p.c;
    if (i < p.n) kiln_arch_cp_async16(s + 16 * i, src + 16 * i);
    kiln_arch_cp_async_commit();
    if (p.mode == 2 && i < p.n) out[i] = kiln_arch_ld16(s + 16 * i);
    if (p.mode != 1) kiln_arch_cp_async_wait<0>();
    __syncthreads();
    if (p.mode == 0 && i < p.n) out[i] = kiln_arch_ld16(s + 16 * ((i + 1) % p.n));
}

/* Scalars: c[i] = dp4a(a[i], b[i], i); d[i] = f2h(float a[i]) | h2f round trip of b[i] low half, one per thread */
KILN_KERNEL(256, t_scalar, emu_targs, p)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= p.n) return;
    const int *A = (const int *)p.a, *B = (const int *)p.b;
    ((int *)p.c)[i] = kiln_arch_dp4a(A[i], B[i], i);
    const float f = __int_as_float(A[i]);
    unsigned *D = (unsigned *)p.d;
    D[2 * i] = kiln_arch_f2h(f);
    D[2 * i + 1] = __float_as_uint(kiln_arch_h2f((unsigned short)B[i]));
}

/* ld.global.nc wrappers: thread i writes c[8i..8i+7] = the u16 at a + 2i, the
 * u32 at a + 4i, the u64 at a + 8i, the u128 at a + 16i; mode 1 reads the
 * u32 at a + 4i + 2 instead (misaligned: reported) */
KILN_KERNEL(64, t_ldg, emu_targs, p)
{
    const int i = threadIdx.x;
    const unsigned char *A = (const unsigned char *)p.a;
    unsigned *C = (unsigned *)p.c + 8 * i;
    const uint2 v2 = kiln_arch_ldg_u64(A + 8 * i, 1);
    const uint4 v4 = kiln_arch_ldg_u128(A + 16 * i, 0);
    C[0] = kiln_arch_ldg_u16(A + 2 * i, 0);
    C[1] = kiln_arch_ldg_u32(A + 4 * i + (p.mode ? 2 : 0), 1);
    C[2] = v2.x, C[3] = v2.y, C[4] = v4.x, C[5] = v4.y, C[6] = v4.z, C[7] = v4.w;
}

/* Shuffles: c[4 * t + k] for xor 5, from lane 7, down 3, up 2 of the value a[t] */
KILN_KERNEL(64, t_shfl, emu_targs, p)
{
    const int t = threadIdx.x;
    const float v = ((const float *)p.a)[t];
    float *C = (float *)p.c;
    C[4 * t] = __shfl_xor_sync(0xffffffffu, v, 5);
    C[4 * t + 1] = __shfl_sync(0xffffffffu, v, 7);
    C[4 * t + 2] = __shfl_down_sync(0xffffffffu, v, 3);
    C[4 * t + 3] = __shfl_up_sync(0xffffffffu, v, 2);
}

/* Each warp writes its slice of shared memory; with mode 1 a barrier; then every thread
 * reads the next warp's slice into c. Without the barrier the first warp to run reads poison. */
KILN_KERNEL(256, t_exchange, emu_targs, p)
{
    const int t = threadIdx.x, nt = blockDim.x;
    float *s = (float *)t_smem;
    s[t] = (float)t;
    if (p.mode) __syncthreads();
    ((float *)p.c)[t] = s[(t + 32) % nt];
}

/* Tiles through shared memory, as a kernel's main loop: keep[] is written once before the loop
 * and read in every iteration (many barriers later); each iteration every thread stages one value
 * that another warp reads. mode bit 0: the barrier between the stores and the reads; bit 1: the
 * barrier after the reads (before the next iteration overwrites). out c[t] = the sum read. */
KILN_KERNEL(256, t_tiles, emu_targs, p)
{
    const int t = threadIdx.x, nt = blockDim.x;
    float *s = (float *)t_smem, *keep = s + nt;
    keep[t] = 1000.0f + (float)t;
    __syncthreads();
    float acc = 0.0f;
    for (int i = 0; i < p.n; i++) {
        s[t] = (float)(i * nt + t);
        if (p.mode & 1) __syncthreads();
        acc += s[(t + 32) % nt] + keep[(t + 64) % nt];
        if (p.mode & 2) __syncthreads();
    }
    ((float *)p.c)[t] = acc;
}

/* The order warps first run in: lane 0 of each warp takes a ticket (fibers never run at once). */
KILN_KERNEL(256, t_order, emu_targs, p)
{
    int *ticket = (int *)p.a, *order = (int *)p.c;
    if ((threadIdx.x & 31) == 0) order[threadIdx.x >> 5] = (*ticket)++;
}

/* Misuse, by mode: 0 a barrier only threads < 16 reach, 1 a shuffle after lanes >= 16 exited,
 * 2 half a warp at a shuffle and half at a barrier, 3 a misaligned 16-byte load,
 * 4 a write of dynamic shared memory at byte n, 5 a shuffle in a block of 48 threads. */
KILN_KERNEL(64, t_misuse, emu_targs, p)
{
    const int t = threadIdx.x;
    float *out = (float *)p.c;
    if (p.mode == 0) {
        if (t < 16) __syncthreads();
    } else if (p.mode == 1) {
        if ((t & 31) >= 16) return;
        out[t] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
    } else if (p.mode == 2) {
        if ((t & 31) < 16) out[t] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
        else __syncthreads();
    } else if (p.mode == 3) {
        const uint4 v = kiln_arch_ld16((const unsigned char *)p.a + 4);
        out[t] = (float)v.x;
    } else if (p.mode == 4) {
        if (t == 0) ((unsigned char *)t_smem)[p.n] = 1;
    } else if (p.mode == 5) {
        out[t] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
    }
}

/* Profiling: 16-byte global loads by one warp at a + stride n * lane (bytes), stored to c,
 * and 16-byte shared stores at stride mode * lane (bytes). */
KILN_KERNEL(32, t_traffic, emu_targs, p)
{
    const int lane = threadIdx.x;
    const uint4 v = kiln_arch_ld16((const unsigned char *)p.a + (long long)p.n * lane);
    kiln_arch_st16((unsigned char *)t_smem + p.mode * lane, v);
    ((uint4 *)p.c)[lane] = v;
}
);

#endif
