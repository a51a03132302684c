/* tests/test_cuda_emu.c — the CUDA emulator's own tests (no GPU needed).
 *
 * Every wrapper of kernels/cuda/templates/cuda_arch.cuh runs in a test kernel
 * (tests/support/emu_kernels.h) against a plain reference written from the
 * PTX ISA's definition (mma fragment layouts, ldmatrix's row-to-lane map,
 * dp4a, cvt.rn); every check of the scheduler fires on a kernel that breaks
 * its rule; the profiler counts the bank conflicts and sectors of known
 * patterns; the same kernel source compiles under NVRTC for sm_80 (so the PTX
 * side of each wrapper is kept honest too). Skipped where the emulator is
 * unavailable (no g++); the op suite runs on it through tests/support/contexts.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/embedded.h"
#include "kernels/cuda/cuda_api.h"
#include "kernels/cuda/cuda_compile.h"
#include "kernels/cuda/emu/emu.h"
#include "kiln/cuda_emu.h"
#include "gen/cuda_geometry.h"
#include "gen/cuda_heuristic.h"
#include "kiln/formats.h"
#include "kiln/kernel.h"
#include "support/emu_kernels.h"

/* ---------------------------------------------------------------- helpers */

static const kiln_cu_api *cu;
static CUmodule mod;

/* cuda_arch.cuh + the test kernels: the text both compilers get. */
static char *kernel_source(void)
{
    const kiln_embedded_file *arch = kiln_embedded_find("kernels/cuda/templates/cuda_arch.cuh");
    cr_assert(arch, "cuda_arch.cuh is not embedded");
    size_t n = arch->len + sizeof emu_kernels_source + 2;
    char *s = malloc(n);
    cr_assert(s);
    snprintf(s, n, "%s\n%s", arch->text, emu_kernels_source);
    return s;
}

static void load_module(void)
{
    if (!kiln_cuda_emu_compiler_available()) cr_skip_test("cuda-emu unavailable: %s", kiln_last_error());
    cu = kiln_cu_emu();
    char *src = kernel_source();
    char cache[1024] = "";
    const char *xdg = getenv("XDG_CACHE_HOME"); /* tests/run.sh: the run's private cache */
    if (xdg && *xdg) snprintf(cache, sizeof cache, "%s/kiln", xdg);
    void *image = NULL;
    size_t size = 0;
    kiln_status st = kiln_cuda_cubin(cache, src, "emu_tests", KILN_CUDA_EMU_ARCH, &image, &size, NULL);
    cr_assert_eq(st, KILN_OK, "compiling the test kernels: %s", kiln_last_error());
    cr_assert_eq(cu->ModuleLoadData(&mod, image), CUDA_SUCCESS, "loading the test kernels");
    free(image);
    free(src);
}

static void unload_module(void)
{
    if (mod) cu->ModuleUnload(mod);
    mod = NULL;
}

TestSuite(cuda_emu, .init = load_module, .fini = unload_module);

static CUdeviceptr dev(const void *host, size_t bytes)
{
    CUdeviceptr p = 0;
    cr_assert_eq(cu->MemAlloc(&p, bytes), CUDA_SUCCESS);
    if (host) cr_assert_eq(cu->MemcpyHtoDAsync(p, host, bytes, NULL), CUDA_SUCCESS);
    return p;
}

static void get(void *host, CUdeviceptr p, size_t bytes)
{
    cr_assert_eq(cu->MemcpyDtoHAsync(host, p, bytes, NULL), CUDA_SUCCESS);
}

/* Launch name over grid x block with smem dynamic bytes: the status, the
 * message in kiln_last_error() on failure. */
static kiln_status launch(const char *name, unsigned grid, unsigned block, unsigned smem, emu_targs *a)
{
    CUfunction f;
    cr_assert_eq(cu->ModuleGetFunction(&f, mod, name), CUDA_SUCCESS, "no kernel %s", name);
    if (smem > 48 * 1024) cr_assert_eq(cu->FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)smem), CUDA_SUCCESS);
    void *params[] = {a};
    CUresult r = cu->LaunchKernel(f, grid, 1, 1, block, 1, 1, smem, NULL, params, NULL);
    return r == CUDA_SUCCESS ? KILN_OK : kiln_cu_fail(r, name);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}
static float rnd_float(void) { return ((float)(rnd() % 20001) - 10000.0f) / 5000.0f; }

/* ---------------------------------------------------------------- the wrappers */

/* mma.sync m16n8k16: D = C + A B for f16 and bf16, against a double reference. */
static void mma16(int bf16)
{
    uint16_t A[16 * 16], B[8 * 16];
    float Af[16][16], Bf[16][8], C[16 * 8], D[16 * 8];
    for (int i = 0; i < 16; i++)
        for (int k = 0; k < 16; k++) {
            float v = rnd_float();
            A[i * 16 + k] = bf16 ? kiln_f32_to_bf16(v) : kiln_f32_to_f16(v);
            Af[i][k] = bf16 ? kiln_bf16_to_f32(A[i * 16 + k]) : kiln_f16_to_f32(A[i * 16 + k]);
        }
    for (int n = 0; n < 8; n++)
        for (int k = 0; k < 16; k++) {
            float v = rnd_float();
            B[n * 16 + k] = bf16 ? kiln_f32_to_bf16(v) : kiln_f32_to_f16(v);
            Bf[k][n] = bf16 ? kiln_bf16_to_f32(B[n * 16 + k]) : kiln_f16_to_f32(B[n * 16 + k]);
        }
    for (int i = 0; i < 16 * 8; i++) C[i] = rnd_float();
    emu_targs a = {.a = dev(A, sizeof A), .b = dev(B, sizeof B), .c = dev(C, sizeof C), .mode = bf16};
    cr_assert_eq(launch("t_mma16", 1, 32, 0, &a), KILN_OK, "%s", kiln_last_error());
    get(D, a.c, sizeof D);
    for (int i = 0; i < 16; i++)
        for (int n = 0; n < 8; n++) {
            double ref = C[i * 8 + n];
            for (int k = 0; k < 16; k++) ref += (double)Af[i][k] * Bf[k][n];
            cr_assert(fabs(D[i * 8 + n] - ref) <= 1e-4 * (1 + fabs(ref)), "%s mma: D[%d][%d] = %g, reference %g",
                      bf16 ? "bf16" : "f16", i, n, D[i * 8 + n], ref);
        }
}

Test(cuda_emu, mma_m16n8k16_f16) { mma16(0); }
Test(cuda_emu, mma_m16n8k16_bf16) { mma16(1); }

Test(cuda_emu, mma_m16n8k32_s8)
{
    int8_t A[16 * 32], B[8 * 32];
    int32_t C[16 * 8], D[16 * 8];
    for (size_t i = 0; i < sizeof A; i++) A[i] = (int8_t)rnd();
    for (size_t i = 0; i < sizeof B; i++) B[i] = (int8_t)rnd();
    for (int i = 0; i < 16 * 8; i++) C[i] = (int32_t)(rnd() % 100000) - 50000;
    emu_targs a = {.a = dev(A, sizeof A), .b = dev(B, sizeof B), .c = dev(C, sizeof C)};
    cr_assert_eq(launch("t_mma_s8", 1, 32, 0, &a), KILN_OK, "%s", kiln_last_error());
    get(D, a.c, sizeof D);
    for (int i = 0; i < 16; i++)
        for (int n = 0; n < 8; n++) {
            int32_t ref = C[i * 8 + n];
            for (int k = 0; k < 32; k++) ref += (int32_t)A[i * 32 + k] * (int32_t)B[n * 32 + k];
            cr_assert_eq(D[i * 8 + n], ref, "s8 mma: D[%d][%d] = %d, reference %d", i, n, D[i * 8 + n], ref);
        }
}

/* ldmatrix .x1/.x2/.x4, plain and .trans: lane l's register j holds elements
 * (l/4, 2(l%4)) and (l/4, 2(l%4)+1) of matrix j (of its transpose with .trans). */
static void ldmatrix(int x, int trans)
{
    uint16_t M[32][8];
    for (int r = 0; r < 32; r++)
        for (int c = 0; c < 8; c++) M[r][c] = (uint16_t)rnd();
    const int stride = 24; /* 48-byte rows: 16-byte aligned, not contiguous */
    emu_targs a = {.a = dev(M, sizeof M), .c = dev(NULL, 4 * 32 * 4), .n = stride, .mode = x | (trans ? 8 : 0)};
    cr_assert_eq(launch("t_ldmatrix", 1, 32, 32 * stride * 2, &a), KILN_OK, "%s", kiln_last_error());
    uint32_t out[4 * 32];
    get(out, a.c, sizeof out);
    for (int j = 0; j < x; j++)
        for (int l = 0; l < 32; l++) {
            const int r = l / 4, c = 2 * (l % 4);
            const uint16_t lo = trans ? M[8 * j + c][r] : M[8 * j + r][c];
            const uint16_t hi = trans ? M[8 * j + c + 1][r] : M[8 * j + r][c + 1];
            const uint32_t want = (uint32_t)lo | ((uint32_t)hi << 16);
            cr_assert_eq(out[j * 32 + l], want, "ldmatrix.x%d%s: lane %d register %d = %08x, want %08x", x,
                         trans ? ".trans" : "", l, j, out[j * 32 + l], want);
        }
}

Test(cuda_emu, ldmatrix_x1) { ldmatrix(1, 0); }
Test(cuda_emu, ldmatrix_x2) { ldmatrix(2, 0); }
Test(cuda_emu, ldmatrix_x4) { ldmatrix(4, 0); }
Test(cuda_emu, ldmatrix_x1_trans) { ldmatrix(1, 1); }
Test(cuda_emu, ldmatrix_x2_trans) { ldmatrix(2, 1); }
Test(cuda_emu, ldmatrix_x4_trans) { ldmatrix(4, 1); }

Test(cuda_emu, cp_async_lands_at_wait)
{
    const int n = 200; /* threads 200..255 copy nothing */
    uint8_t src[200 * 16], out[200 * 16];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)rnd();
    emu_targs a = {.a = dev(src, sizeof src), .c = dev(NULL, sizeof out), .n = n, .mode = 0};
    cr_assert_eq(launch("t_cp_async", 1, 256, n * 16, &a), KILN_OK, "%s", kiln_last_error());
    get(out, a.c, sizeof out);
    for (int i = 0; i < n; i++)
        cr_assert_eq(memcmp(out + 16 * i, src + 16 * ((i + 1) % n), 16), 0, "cp.async: piece %d differs", (i + 1) % n);

    /* Read before the wait: the destination still holds the poison. */
    a.mode = 2;
    cr_assert_eq(launch("t_cp_async", 1, 256, n * 16, &a), KILN_OK, "%s", kiln_last_error());
    get(out, a.c, sizeof out);
    for (size_t i = 0; i < sizeof out; i++) cr_assert_eq(out[i], 0xff, "a read before cp.async.wait_group saw data");

    /* No wait at all: reported. */
    a.mode = 1;
    cr_assert_eq(launch("t_cp_async", 1, 256, n * 16, &a), KILN_ERR_DEVICE);
    cr_assert(strstr(kiln_last_error(), "never waited for"), "%s", kiln_last_error());
}

Test(cuda_emu, scalars_dp4a_and_conversions)
{
    enum { N = 1000 };
    int32_t A[N], B[N], C[N];
    uint32_t D[2 * N];
    for (int i = 0; i < N; i++) {
        A[i] = (int32_t)rnd();
        B[i] = (int32_t)rnd();
    }
    A[0] = 0x7f800001; /* NaN, Inf, a tie and subnormals among the conversions */
    A[1] = 0x7f800000;
    A[2] = 0x3f801000; /* 1 + 2^-11: ties to even in f16 */
    A[3] = 0x33000001;
    B[0] = 0x0001;
    B[1] = 0x7c01;
    emu_targs a = {.a = dev(A, sizeof A), .b = dev(B, sizeof B), .c = dev(NULL, sizeof C), .d = dev(NULL, sizeof D), .n = N};
    cr_assert_eq(launch("t_scalar", (N + 255) / 256, 256, 0, &a), KILN_OK, "%s", kiln_last_error());
    get(C, a.c, sizeof C);
    get(D, a.d, sizeof D);
    for (int i = 0; i < N; i++) {
        int32_t ref = i;
        for (int k = 0; k < 4; k++) ref += (int32_t)(int8_t)(A[i] >> (8 * k)) * (int32_t)(int8_t)(B[i] >> (8 * k));
        cr_assert_eq(C[i], ref, "dp4a #%d: %d, want %d", i, C[i], ref);
        float f;
        memcpy(&f, &A[i], 4);
        const uint16_t h = kiln_f32_to_f16(f);
        const int both_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) && (D[2 * i] & 0x7c00) == 0x7c00 && (D[2 * i] & 0x3ff);
        cr_assert(D[2 * i] == h || both_nan, "cvt.rn.f16.f32 #%d of %08x: %04x, want %04x", i, (unsigned)A[i], D[2 * i], h);
        const float back = kiln_f16_to_f32((uint16_t)B[i]);
        uint32_t bu;
        memcpy(&bu, &back, 4);
        cr_assert(D[2 * i + 1] == bu || (isnan(back) && (D[2 * i + 1] & 0x7fffffff) > 0x7f800000),
                  "cvt.f32.f16 #%d of %04x: %08x, want %08x", i, (unsigned)(B[i] & 0xffff), D[2 * i + 1], bu);
    }
}

Test(cuda_emu, ldg_loads)
{
    enum { T = 64 };
    uint8_t A[16 * T];
    uint32_t C[8 * T];
    for (size_t i = 0; i < sizeof A; i++) A[i] = (uint8_t)rnd();
    emu_targs a = {.a = dev(A, sizeof A), .c = dev(NULL, sizeof C)};
    cr_assert_eq(launch("t_ldg", 1, T, 0, &a), KILN_OK, "%s", kiln_last_error());
    get(C, a.c, sizeof C);
    for (int i = 0; i < T; i++) {
        uint16_t u16;
        uint32_t want[8];
        memcpy(&u16, A + 2 * i, 2);
        want[0] = u16;
        memcpy(&want[1], A + 4 * i, 4);
        memcpy(&want[2], A + 8 * i, 8);
        memcpy(&want[4], A + 16 * i, 16);
        cr_assert_eq(memcmp(C + 8 * i, want, sizeof want), 0, "thread %d: the loads differ from the bytes", i);
    }
    a.mode = 1;
    cr_assert_eq(launch("t_ldg", 1, T, 0, &a), KILN_ERR_DEVICE, "a misaligned ld.global.nc.u32 was not reported");
    cr_assert(strstr(kiln_last_error(), "ld.global.nc.u32") && strstr(kiln_last_error(), "not 4-byte aligned"), "%s",
              kiln_last_error());
}

Test(cuda_emu, shuffles)
{
    float v[64], out[64 * 4];
    for (int i = 0; i < 64; i++) v[i] = rnd_float();
    emu_targs a = {.a = dev(v, sizeof v), .c = dev(NULL, sizeof out)};
    cr_assert_eq(launch("t_shfl", 1, 64, 0, &a), KILN_OK, "%s", kiln_last_error());
    get(out, a.c, sizeof out);
    for (int t = 0; t < 64; t++) {
        const int w = t & ~31, l = t & 31;
        const float want[4] = {v[w + (l ^ 5)], v[w + 7], v[w + (l + 3 < 32 ? l + 3 : l)], v[w + (l >= 2 ? l - 2 : l)]};
        for (int k = 0; k < 4; k++) cr_assert_eq(out[4 * t + k], want[k], "thread %d shuffle %d", t, k);
    }
}

/* ---------------------------------------------------------------- the checks */

Test(cuda_emu, missing_barrier_reads_poison)
{
    float out[256];
    emu_targs a = {.c = dev(NULL, sizeof out), .mode = 1};
    cr_assert_eq(launch("t_exchange", 2, 256, 1024, &a), KILN_OK, "%s", kiln_last_error());
    get(out, a.c, sizeof out);
    for (int t = 0; t < 256; t++) cr_assert_eq(out[t], (float)((t + 32) % 256), "with the barrier, thread %d", t);
    a.mode = 0; /* no __syncthreads: the warp that runs first reads another warp's poisoned slice */
    cr_assert_eq(launch("t_exchange", 2, 256, 1024, &a), KILN_OK, "%s", kiln_last_error());
    get(out, a.c, sizeof out);
    int poisoned = 0;
    for (int t = 0; t < 256; t++) poisoned += isnan(out[t]);
    cr_assert_geq(poisoned, 32, "without the barrier only %d threads read poison", poisoned);
}

/* t_tiles over n tiles with the barriers of mode: the threads whose sum is NaN. */
static int tiles_poisoned(int mode, int n)
{
    float out[256];
    emu_targs a = {.c = dev(NULL, sizeof out), .n = n, .mode = mode};
    cr_assert_eq(launch("t_tiles", 2, 256, 2 * 256 * sizeof(float), &a), KILN_OK, "%s", kiln_last_error());
    get(out, a.c, sizeof out);
    int poisoned = 0;
    for (int t = 0; t < 256; t++) {
        double want = 0;
        for (int i = 0; i < n; i++) want += i * 256 + (t + 32) % 256 + 1000 + (t + 64) % 256;
        if (mode == 3) cr_assert_eq(out[t], (float)want, "with both barriers, thread %d: %g, want %g", t, out[t], want);
        poisoned += isnan(out[t]);
    }
    return poisoned;
}

/* Shared memory between barriers (docs/CUDA.md): a value written before the
 * loop reads as written at every later iteration; a missing barrier, either
 * one, makes reads of other warps' words of the same phase NaN. The second
 * case (the next tile's stores overwrite words a slower warp still reads) has
 * no never-written word to catch it: only the phase rule does. */
Test(cuda_emu, removed_barrier_in_a_tile_loop)
{
    cr_assert_eq(tiles_poisoned(3, 5), 0, "a correct kernel read poison");
    int after = tiles_poisoned(1, 5), before = tiles_poisoned(2, 5);
    cr_assert_geq(after, 32, "without the barrier after the reads only %d threads read poison", after);
    cr_assert_geq(before, 32, "without the barrier before the reads only %d threads read poison", before);
    cr_assert_eq(tiles_poisoned(1, 1), 0, "one tile needs no second barrier");
}

static void warp_order(const char *seed, int order[8])
{
    setenv("KILN_CUDA_EMU_SEED", seed, 1);
    int ticket = 0;
    emu_targs a = {.a = dev(&ticket, sizeof ticket), .c = dev(NULL, 8 * sizeof(int))};
    cr_assert_eq(launch("t_order", 1, 256, 0, &a), KILN_OK, "%s", kiln_last_error());
    get(order, a.c, 8 * sizeof(int));
    unsetenv("KILN_CUDA_EMU_SEED");
}

Test(cuda_emu, warps_run_in_seeded_shuffled_order)
{
    int a[8], b[8], c[8], identity = 1;
    warp_order("1", a);
    warp_order("1", b);
    warp_order("2", c);
    for (int w = 0; w < 8; w++) identity &= a[w] == w;
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "the same seed gave another order");
    cr_assert_neq(memcmp(a, c, sizeof a), 0, "seeds 1 and 2 gave the same order");
    cr_assert(!identity, "seed 1 ran the warps in index order");
    setenv("KILN_CUDA_EMU_SEED", "twelve", 1);
    int ticket = 0;
    emu_targs args = {.a = dev(&ticket, sizeof ticket), .c = dev(NULL, 8 * sizeof(int))};
    cr_assert_eq(launch("t_order", 1, 256, 0, &args), KILN_ERR_DEVICE);
    cr_assert(strstr(kiln_last_error(), "KILN_CUDA_EMU_SEED"), "%s", kiln_last_error());
    unsetenv("KILN_CUDA_EMU_SEED");
}

static void misuse(int mode, unsigned block, unsigned smem, int n, const char *expect)
{
    uint8_t buf[64] = {0};
    emu_targs a = {.a = dev(buf, sizeof buf), .c = dev(NULL, 64 * sizeof(float)), .n = n, .mode = mode};
    cr_assert_eq(launch("t_misuse", 1, block, smem, &a), KILN_ERR_DEVICE, "misuse %d was not reported", mode);
    cr_assert(strstr(kiln_last_error(), expect), "misuse %d: '%s' lacks '%s'", mode, kiln_last_error(), expect);
}

Test(cuda_emu, partial_barrier_is_a_deadlock) { misuse(0, 64, 0, 0, "__syncthreads reached by 16 of 64"); }
Test(cuda_emu, warp_op_with_exited_lanes) { misuse(1, 64, 0, 0, "inactive lanes"); }
Test(cuda_emu, warp_op_against_barrier_is_a_deadlock) { misuse(2, 64, 0, 0, "deadlock"); }
Test(cuda_emu, misaligned_vector_load) { misuse(3, 64, 0, 0, "not 16-byte aligned"); }
Test(cuda_emu, shared_memory_past_the_request)
{
#if defined(__SANITIZE_ADDRESS__)
    /* There the bytes past the request are poisoned for ASan: it reports the write and ends the process. */
    cr_skip_test("under AddressSanitizer the write is ASan's report (the process exits)");
#endif
    misuse(4, 64, 256, 300, "past the launch's request of 256 bytes");
}
Test(cuda_emu, warp_op_in_a_partial_warp) { misuse(5, 48, 0, 0, "does not exist"); }

Test(cuda_emu, correct_kernels_pass_the_checks)
{
    emu_targs a = {.c = dev(NULL, 64 * sizeof(float)), .n = 100, .mode = 4};
    cr_assert_eq(launch("t_misuse", 1, 64, 256, &a), KILN_OK, "a write inside the request: %s", kiln_last_error());
}

/* ---------------------------------------------------------------- the profiler */

static kiln_cuda_emu_counters profile_of(const char *kernel)
{
    kiln_cuda_emu_counters k;
    for (int i = 0; i < kiln_cuda_emu_profile_count(); i++) {
        cr_assert_eq(kiln_cuda_emu_profile_get(i, &k), KILN_OK);
        if (strcmp(k.kernel, kernel) == 0) return k;
    }
    cr_assert_fail("no profile for %s", kernel);
    return k;
}

static kiln_cuda_emu_counters ldmatrix_profile(int stride)
{
    uint16_t M[32 * 8] = {0};
    emu_targs a = {.a = dev(M, sizeof M), .c = dev(NULL, 4 * 32 * 4), .n = stride, .mode = 4};
    kiln_cuda_emu_profile(1);
    cr_assert_eq(launch("t_ldmatrix", 1, 32, 32 * stride * 2, &a), KILN_OK, "%s", kiln_last_error());
    kiln_cuda_emu_profile(0);
    return profile_of("t_ldmatrix");
}

Test(cuda_emu, ldmatrix_bank_conflicts)
{
    /* Rows of 8 values (16 bytes) back to back, or padded to 144 bytes: the 8
     * rows of each matrix cover all 32 banks: no conflict. Rows 128 bytes
     * apart: all 8 rows in banks 0..3, 8 wavefronts per matrix. The tile's
     * 16-byte stores are counted too (32 lanes, 4 phases of 8). */
    kiln_cuda_emu_counters k = ldmatrix_profile(8);
    cr_assert_eq(k.ldmatrix, 1);
    cr_assert_eq(k.bank_conflicts, 0, "contiguous rows: %llu conflicts", (unsigned long long)k.bank_conflicts);
    k = ldmatrix_profile(72);
    cr_assert_eq(k.bank_conflicts, 0, "144-byte rows: %llu conflicts", (unsigned long long)k.bank_conflicts);
    k = ldmatrix_profile(64);
    /* ldmatrix: 4 matrices x 7 extra wavefronts; the stores: 4 phases x 7. */
    cr_assert_eq(k.bank_conflicts, 4 * 7 + 4 * 7, "128-byte rows: %llu conflicts", (unsigned long long)k.bank_conflicts);
}

static kiln_cuda_emu_counters traffic(int global_stride, int shared_stride)
{
    static uint8_t src[32 * 64 + 64] __attribute__((aligned(16)));
    emu_targs a = {.a = dev(src, sizeof src), .c = dev(NULL, 32 * 16), .n = global_stride, .mode = shared_stride};
    kiln_cuda_emu_profile(1);
    cr_assert_eq(launch("t_traffic", 1, 32, 32 * 64, &a), KILN_OK, "%s", kiln_last_error());
    kiln_cuda_emu_profile(0);
    return profile_of("t_traffic");
}

Test(cuda_emu, global_sectors_and_shared_phases)
{
    /* 32 lanes x 16 contiguous bytes: 512 bytes, 16 sectors; shared stores of
     * 16 bytes back to back: 4 phases, no conflict. */
    kiln_cuda_emu_counters k = traffic(16, 16);
    cr_assert_eq(k.global_requests, 1);
    cr_assert_eq(k.global_bytes, 512);
    cr_assert_eq(k.global_sectors, 16, "coalesced: %llu sectors", (unsigned long long)k.global_sectors);
    cr_assert_eq(k.shared_requests, 1);
    cr_assert_eq(k.shared_wavefronts, 4);
    cr_assert_eq(k.bank_conflicts, 0);
    /* 64 bytes apart: every lane in its own sector(s); shared stores 32 bytes
     * apart: each phase of 8 lanes spans 256 bytes, 2 wavefronts. */
    k = traffic(64, 32);
    cr_assert_eq(k.global_sectors, 32, "strided: %llu sectors", (unsigned long long)k.global_sectors);
    cr_assert_eq(k.bank_conflicts, 4, "32-byte stride: %llu conflicts", (unsigned long long)k.bank_conflicts);
}

/* ---------------------------------------------------------------- the PTX side */

Test(cuda_emu, wrappers_compile_under_nvrtc)
{
    if (!kiln_nvrtc()) cr_skip_test("NVRTC not available: %s", kiln_last_error());
    char *src = kernel_source();
    void *cubin = NULL;
    size_t size = 0;
    char *ptx = NULL;
    kiln_status st = kiln_cuda_compile(src, "emu_tests", "sm_80", &cubin, &size, &ptx);
    cr_assert_eq(st, KILN_OK, "NVRTC: %s", kiln_last_error());
    const char *want[] = {"mma.sync.aligned.m16n8k16.row.col.f32.bf16", "mma.sync.aligned.m16n8k32.row.col.s32.s8",
                          "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16", "cp.async.cg.shared.global",
                          "cp.async.wait_group", "dp4a.s32.s32", "cvt.rn.f16.f32", "ld.global.nc.u16",
                          "ld.global.nc.u32", "ld.global.nc.v2.u32", "ld.global.nc.v4.u32"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) cr_assert(strstr(ptx, want[i]), "the PTX lacks %s", want[i]);
    free(cubin);
    free(ptx);
    free(src);
}

/* ---------------------------------------------------------------- the fast kernels */

/* The q4_0 mat-vec (decode's kernel) through kiln_matmul on cuda-emu: its
 * weight loads are coalesced at the block level. Each lane reads one 18-byte
 * block with four 32-bit loads and one 16-bit load (blocks are only 2-byte
 * aligned), consecutive lanes consecutive blocks: a warp request then spans
 * the warp's 32 blocks, 576 bytes, 19 sectors at most, and the warp's five
 * requests take those same sectors, which L1 (ld.global.nc allocates there)
 * serves after the first. Lanes reading blocks apart (another row, a stride)
 * would take up to 32 sectors per request. Asserted: no more sectors per
 * request than that span, and every weight byte read once (m is a multiple
 * of the rows per block).
 * (The flash attention kernel's ldmatrix and cp.async paths: below.) */
Test(cuda_emu, matvec_loads_are_coalesced)
{
    kiln_context_options o = kiln_context_options_default();
    o.use_tuning = 0;
    kiln_context *ctx = NULL;
    cr_assert_eq(kiln_context_create("cuda-emu", &o, &ctx), KILN_OK, "%s", kiln_last_error());
    const int64_t m = 64, k = 1024;
    const size_t wbytes = (size_t)m * (size_t)(k / 32) * 18;
    uint8_t *w = malloc(wbytes);
    float *x = malloc(sizeof(float) * (size_t)k);
    for (size_t i = 0; i < wbytes; i++) w[i] = (uint8_t)rnd();
    for (size_t i = 0; i < wbytes; i += 18) w[i + 1] = 0x1c; /* finite f16 scales */
    for (int64_t i = 0; i < k; i++) x[i] = rnd_float();
    kiln_buffer *wb, *xb, *yb;
    cr_assert_eq(kiln_buffer_alloc(ctx, wbytes, &wb), KILN_OK);
    cr_assert_eq(kiln_buffer_alloc(ctx, sizeof(float) * (size_t)k, &xb), KILN_OK);
    cr_assert_eq(kiln_buffer_alloc(ctx, sizeof(float) * (size_t)m, &yb), KILN_OK);
    cr_assert_eq(kiln_buffer_upload(wb, 0, w, wbytes), KILN_OK);
    cr_assert_eq(kiln_buffer_upload(xb, 0, x, sizeof(float) * (size_t)k), KILN_OK);
    kiln_matmul_params p = {
        .x = kiln_tensor_make(xb, 0, KILN_F32, 2, (int64_t[]){1, k}),
        .w = kiln_tensor_make(wb, 0, KILN_Q4_0, 2, (int64_t[]){m, k}),
        .y = kiln_tensor_make(yb, 0, KILN_F32, 2, (int64_t[]){1, m}),
    };
    kiln_cuda_emu_profile(1);
    cr_assert_eq(kiln_matmul(ctx, &p), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_synchronize(ctx), KILN_OK);
    kiln_cuda_emu_profile(0);
    int found = 0;
    for (int i = 0; i < kiln_cuda_emu_profile_count(); i++) {
        kiln_cuda_emu_counters c;
        cr_assert_eq(kiln_cuda_emu_profile_get(i, &c), KILN_OK);
        if (strstr(c.kernel, "quantize_x") || strncmp(c.kernel, "kiln_matmul_cuda_q4_0", 21) != 0) continue;
        found = 1;
        cr_log_info("%s: %llu global requests, %llu sectors for %llu bytes; %llu shared requests, %llu conflicts", c.kernel,
                    (unsigned long long)c.global_requests, (unsigned long long)c.global_sectors,
                    (unsigned long long)c.global_bytes, (unsigned long long)c.shared_requests,
                    (unsigned long long)c.bank_conflicts);
        cr_assert_gt(c.global_requests, 0);
        cr_assert_gt(c.stream_requests, 0, "%s: no streaming weight loads counted", c.kernel);
        const unsigned long long span_sectors = 32 * 18 / 32 + 1;
        cr_assert_leq(c.stream_sectors, c.stream_requests * span_sectors,
                      "%s: weight loads: %llu sectors in %llu requests (at most %llu each)", c.kernel,
                      (unsigned long long)c.stream_sectors, (unsigned long long)c.stream_requests, span_sectors);
        cr_assert_eq(c.stream_bytes, 18ull * (unsigned long long)(m * (k / 32)),
                     "%s: %llu bytes of weights read: each byte once", c.kernel, (unsigned long long)c.stream_bytes);
    }
    cr_assert(found, "no q4_0 mat-vec kernel was profiled");
    kiln_buffer_free(wb), kiln_buffer_free(xb), kiln_buffer_free(yb);
    free(w), free(x);
    kiln_context_destroy(ctx);
}

/* The int8 mat-vec reads whole words of each weight block (q4_K: a 16-byte
 * header): weights that validation accepts (4-byte aligned) but that start
 * off that alignment are refused with a reason, not read misaligned (a fault
 * on the GPU, an alignment report here). */
Test(cuda_emu, matvec_misaligned_weights_refused)
{
    kiln_context_options o = kiln_context_options_default();
    o.use_tuning = 0;
    kiln_context *ctx = NULL;
    cr_assert_eq(kiln_context_create("cuda-emu", &o, &ctx), KILN_OK, "%s", kiln_last_error());
    const int64_t m = 2, k = 256;
    const size_t wbytes = (size_t)m * 144;
    kiln_buffer *wb, *xb, *yb;
    cr_assert_eq(kiln_buffer_alloc(ctx, wbytes + 16, &wb), KILN_OK);
    cr_assert_eq(kiln_buffer_alloc(ctx, sizeof(float) * (size_t)k, &xb), KILN_OK);
    cr_assert_eq(kiln_buffer_alloc(ctx, sizeof(float) * (size_t)m, &yb), KILN_OK);
    kiln_matmul_params p = {
        .x = kiln_tensor_make(xb, 0, KILN_F32, 2, (int64_t[]){1, k}),
        .w = kiln_tensor_make(wb, 4, KILN_Q4_K, 2, (int64_t[]){m, k}),
        .y = kiln_tensor_make(yb, 0, KILN_F32, 2, (int64_t[]){1, m}),
    };
    cr_assert_eq(kiln_matmul(ctx, &p), KILN_ERR_INVALID_ARG);
    cr_assert(strstr(kiln_last_error(), "multiple of 16"), "%s", kiln_last_error());
    kiln_buffer_free(wb), kiln_buffer_free(xb), kiln_buffer_free(yb);
    kiln_context_destroy(ctx);
}

/* The FA2 flash attention kernel (flash_attn_mma.cuh) at every head size,
 * through kiln_kernel_run on cuda-emu with whole 64-key tiles (so every lane of
 * a warp takes the same path: the profiler pairs up the lanes' n-th passes):
 * its ldmatrix reads (Q, K, V.trans) and cp.async writes of shared memory have
 * no bank conflicts (rows of hd + 8 values: an odd number of 16-byte units),
 * and its cp.async reads of K and V touch exactly the 32-byte sectors of the
 * bytes they fetch (a warp takes 16 rows x 32 bytes). */
Test(cuda_emu, flash_attn_mma_is_conflict_free_and_coalesced, .timeout = 600)
{
    kiln_context_options o = kiln_context_options_default();
    o.use_tuning = 0;
    kiln_context *ctx = NULL;
    cr_assert_eq(kiln_context_create("cuda-emu", &o, &ctx), KILN_OK, "%s", kiln_last_error());
    static const int hds[] = {64, 80, 96, 128, 256};
    const int64_t n = 128, heads = 2;
    for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++) {
        const int64_t hd = hds[hi];
        const kiln_dtype t = hi % 2 ? KILN_BF16 : KILN_F16;
        const size_t elems = (size_t)(n * heads * hd), bytes = 2 * elems;
        uint16_t *h = malloc(bytes);
        kiln_buffer *b[4];
        for (int i = 0; i < 4; i++) {
            cr_assert_eq(kiln_buffer_alloc(ctx, bytes, &b[i]), KILN_OK);
            for (size_t e = 0; e < elems; e++) h[e] = t == KILN_BF16 ? kiln_f32_to_bf16(rnd_float()) : kiln_f32_to_f16(rnd_float());
            cr_assert_eq(kiln_buffer_upload(b[i], 0, h, bytes), KILN_OK);
        }
        const int64_t ne[3] = {n, heads, hd}, kne[3] = {n, 1, hd};
        kiln_flash_attn_params p = {.q = kiln_tensor_make(b[0], 0, t, 3, ne), .k = kiln_tensor_make(b[1], 0, t, 3, kne),
                                    .v = kiln_tensor_make(b[2], 0, t, 3, kne), .o = kiln_tensor_make(b[3], 0, t, 3, ne),
                                    .scale = 0.125f, .causal = (int)hi % 2 == 0};
        kiln_spec s = kiln_cuda_flash_spec(t, (int)hd);
        cr_assert(kiln_cuda_fa_uses_mma(&s));
        kiln_cuda_emu_profile(1);
        cr_assert_eq(kiln_kernel_run(ctx, &s, &p), KILN_OK, "%s", kiln_last_error());
        cr_assert_eq(kiln_synchronize(ctx), KILN_OK);
        kiln_cuda_emu_profile(0);
        cr_assert_eq(kiln_cuda_emu_profile_count(), 1);
        kiln_cuda_emu_counters c;
        cr_assert_eq(kiln_cuda_emu_profile_get(0, &c), KILN_OK);
        cr_log_info("%s: %llu ldmatrix, %llu cp.async, %llu shared requests, %llu conflicts; %llu global requests, "
                    "%llu sectors for %llu bytes", c.kernel, (unsigned long long)c.ldmatrix, (unsigned long long)c.cp_async,
                    (unsigned long long)c.shared_requests, (unsigned long long)c.bank_conflicts,
                    (unsigned long long)c.global_requests, (unsigned long long)c.global_sectors,
                    (unsigned long long)c.global_bytes);
        cr_assert_gt(c.ldmatrix, 0, "hd %d: no ldmatrix", (int)hd);
        cr_assert_gt(c.cp_async, 0, "hd %d: no cp.async", (int)hd);
        cr_assert_eq(c.bank_conflicts, 0, "%s: %llu bank conflicts", c.kernel, (unsigned long long)c.bank_conflicts);
        cr_assert_gt(c.global_requests, 0);
        cr_assert_eq(c.global_sectors * 32, c.global_bytes, "%s: %llu sectors for %llu bytes", c.kernel,
                     (unsigned long long)c.global_sectors, (unsigned long long)c.global_bytes);
        for (int i = 0; i < 4; i++) kiln_buffer_free(b[i]);
        free(h);
    }
    kiln_context_destroy(ctx);
}
