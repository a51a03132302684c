/* kernels/cuda/tools/cuda_bench.c — kiln-cuda-bench: the CUDA rows of docs/PERF.md.
 *
 * Times kernels with CUDA events on kiln's stream (median of 7 runs of
 * `iters` back-to-back launches each, after warm-up), rotating between
 * several copies of the inputs when they would fit in the 50 MB L2. Prints one
 * table: time, and the rate against the roofline (bytes moved for the
 * memory-bound rows, FLOP/s for the compute-bound ones). Also measures the
 * device-to-device copy ceiling in the same run, and ends with issue #22's
 * attention rows beside their peers' figures (../shared/anchors/README.md).
 *
 *   kiln-cuda-bench [--quick] [--sweep]   (--sweep: mat-vec tile variants too)
 *
 * The rows with a llama.cpp figure in ../shared/anchors/README.md (issue 21's
 * mat-vec and mat-mat rows) print it beside kiln's, with the ratio.
 *
 * Random data throughout (never zeros); weights are quantized from random
 * floats once per 64 rows and tiled, which keeps setup short. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/cuda_heuristic.h"
#include "kernels/cuda/cuda_internal.h"
#include "kiln/kernel.h"
#include "kiln/kiln.h"

#define RUNS 7

static kiln_context *ctx;
static const kiln_cu_api *cu;

static void die(const char *what)
{
    fprintf(stderr, "kiln-cuda-bench: %s: %s\n", what, kiln_last_error());
    exit(1);
}

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return ((float)(*s >> 8) / 16777216.0f) * 2.0f - 1.0f;
}

/* A buffer of rows x cols of dtype t from random floats (64 distinct rows, tiled). */
static kiln_buffer *random_matrix(kiln_dtype t, int64_t rows, int64_t cols, unsigned seed)
{
    size_t row_bytes = kiln_row_bytes(t, cols);
    int64_t distinct = rows < 64 ? rows : 64;
    unsigned char *host = malloc(row_bytes * (size_t)rows);
    float *src = malloc(sizeof(float) * (size_t)cols);
    for (int64_t r = 0; r < distinct; r++) {
        for (int64_t j = 0; j < cols; j++) src[j] = frand(&seed);
        if (kiln_quantize_row(t, src, host + (size_t)r * row_bytes, cols) == 0) die("kiln_quantize_row");
    }
    for (int64_t r = distinct; r < rows; r++)
        memcpy(host + (size_t)r * row_bytes, host + (size_t)(r % distinct) * row_bytes, row_bytes);
    kiln_buffer *b = NULL;
    if (kiln_buffer_alloc(ctx, row_bytes * (size_t)rows, &b) != KILN_OK) die("alloc");
    if (kiln_buffer_upload(b, 0, host, row_bytes * (size_t)rows) != KILN_OK) die("upload");
    free(host);
    free(src);
    return b;
}

typedef kiln_status (*run_fn)(void *arg, int i);

/* Median time in microseconds of one call of fn. */
static double time_us(run_fn fn, void *arg, int iters)
{
    CUevent e0, e1;
    CUstream s = kiln_cuda_active_stream(ctx);
    cu->EventCreate(&e0, 0);
    cu->EventCreate(&e1, 0);
    for (int i = 0; i < 3; i++)
        if (fn(arg, i) != KILN_OK) die("warm-up");
    if (kiln_synchronize(ctx) != KILN_OK) die("synchronize");
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        cu->EventRecord(e0, s);
        for (int i = 0; i < iters; i++)
            if (fn(arg, i) != KILN_OK) die("run");
        cu->EventRecord(e1, s);
        cu->EventSynchronize(e1);
        float ms = 0;
        cu->EventElapsedTime(&ms, e0, e1);
        t[r] = ms * 1000.0 / iters;
    }
    cu->EventDestroy(e0);
    cu->EventDestroy(e1);
    for (int i = 0; i < RUNS; i++) /* insertion sort: 7 values */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return t[RUNS / 2];
}

/* llama.cpp's time for the same kernel and shape on the H100 (test-backend-ops
 * perf, ../shared/anchors/README.md, 2026-11-23; issue 21's targets), 0 when
 * there is none. Printed beside kiln's with the ratio (> 1: kiln is faster). */
static double anchor_us(const char *what, const char *shape)
{
    static const struct {
        const char *what, *shape;
        double us;
    } anchors[] = {
        {"mat-vec q4_0", "m=4096 k=14336 n=1", 14.7}, {"mat-vec q8_0", "m=4096 k=14336 n=1", 27.6},
        {"mat-vec q4_K", "m=4096 k=14336 n=1", 16.8}, {"mat-vec f16", "m=4096 k=14336 n=1", 40.9},
        {"mat-vec q4_0", "m=4096 k=14336 n=8", 33.7}, {"mat-mat q4_0", "m=4096 k=14336 n=512", 308},
        {"mat-mat q8_0", "m=4096 k=14336 n=512", 310}, {"mat-mat q4_K", "m=4096 k=14336 n=512", 345},
    };
    for (size_t i = 0; i < sizeof anchors / sizeof anchors[0]; i++)
        if (!strcmp(what, anchors[i].what) && !strcmp(shape, anchors[i].shape)) return anchors[i].us;
    return 0;
}

static void row(const char *what, const char *shape, double us, double bytes, double flops)
{
    char anchor[48] = "";
    double a = anchor_us(what, shape);
    if (a > 0) snprintf(anchor, sizeof anchor, "%.1f us (%.2fx)", a, a / us);
    printf("| %-34s | %-30s | %9.1f us | %7.0f GB/s | %7.1f TFLOP/s | %-19s |\n", what, shape, us, bytes / us / 1e3,
           flops / us / 1e6, anchor);
    fflush(stdout);
}

/* ---------------------------------------------------------------- copy */

typedef struct copy_arg {
    CUdeviceptr a, b;
    size_t n;
} copy_arg;
static kiln_status run_copy(void *p, int i)
{
    copy_arg *c = p;
    (void)i;
    return kiln_cu_check(cu->MemcpyDtoDAsync(c->b, c->a, c->n, kiln_cuda_active_stream(ctx)), "copy");
}

/* ---------------------------------------------------------------- matmul */

#define COPIES 4
typedef struct mm_arg {
    kiln_matmul_params p[COPIES];
    int copies;
    const kiln_spec *spec; /* NULL: the op entry point chooses */
} mm_arg;
static kiln_status run_mm(void *p, int i)
{
    mm_arg *a = p;
    const kiln_matmul_params *mp = &a->p[i % a->copies];
    return a->spec ? kiln_kernel_run(ctx, a->spec, mp) : kiln_matmul(ctx, mp);
}

static void bench_matmul(kiln_dtype fmt, int64_t m, int64_t k, int64_t n, int sweep)
{
    mm_arg a;
    memset(&a, 0, sizeof a);
    size_t wbytes = kiln_row_bytes(fmt, k) * (size_t)m;
    a.copies = COPIES; /* 4 x 33 MB of q4_0 outgrows the 50 MB L2 */
    int64_t xne[2] = {n, k}, wne[2] = {m, k}, yne[2] = {n, m};
    kiln_buffer *bx = random_matrix(KILN_F32, n, k, 7), *by = NULL;
    if (kiln_buffer_alloc(ctx, sizeof(float) * (size_t)(n * m), &by) != KILN_OK) die("alloc y");
    kiln_buffer *bw[COPIES];
    for (int c = 0; c < a.copies; c++) {
        bw[c] = random_matrix(fmt, m, k, 100 + c);
        a.p[c].x = kiln_tensor_make(bx, 0, KILN_F32, 2, xne);
        a.p[c].w = kiln_tensor_make(bw[c], 0, fmt, 2, wne);
        a.p[c].y = kiln_tensor_make(by, 0, KILN_F32, 2, yne);
    }
    char what[96], shape[64];
    snprintf(shape, sizeof shape, "m=%lld k=%lld n=%lld", (long long)m, (long long)k, (long long)n);
    double bytes = (double)wbytes + 4.0 * (double)(n * k + n * m);
    double flops = 2.0 * (double)m * (double)k * (double)n;
    int iters = n <= 8 ? 200 : 10;
    /* the anchors' spelling of the format (q4_K) */
    const char *name = fmt == KILN_Q4_K ? "q4_K" : fmt == KILN_Q5_K ? "q5_K" : fmt == KILN_Q6_K ? "q6_K"
                                                                             : kiln_dtype_get(fmt)->name;
    snprintf(what, sizeof what, "%s %s", n <= 8 ? "mat-vec" : "mat-mat", name);
    row(what, shape, time_us(run_mm, &a, iters), bytes, flops);
    if (sweep && n <= 8) {
        static const int tms[] = {1, 2, 4, 8}, threads[] = {64, 128, 256};
        for (size_t ti = 0; ti < 4; ti++)
            for (size_t hi = 0; hi < 3; hi++) {
                kiln_spec s = kiln_cuda_matmul_spec(fmt, KILN_F32, KILN_F32, 0, n);
                s.tile.tm = tms[ti];
                s.tile.threads = threads[hi];
                if (kiln_kernel_can_implement(ctx, &s) != KILN_OK) continue;
                a.spec = &s;
                snprintf(what, sizeof what, "  %s tm=%d threads=%d", kiln_dtype_get(fmt)->name, s.tile.tm,
                         s.tile.threads);
                row(what, shape, time_us(run_mm, &a, iters), bytes, flops);
            }
        a.spec = NULL;
    }
    kiln_buffer_free(bx);
    kiln_buffer_free(by);
    for (int c = 0; c < a.copies; c++) kiln_buffer_free(bw[c]);
}

/* ---------------------------------------------------------------- attention */

typedef struct fa_arg {
    kiln_flash_attn_params p;
    const kiln_spec *spec; /* NULL: the op entry point chooses */
} fa_arg;
static kiln_status run_fa(void *p, int i)
{
    (void)i;
    fa_arg *a = p;
    return a->spec ? kiln_kernel_run(ctx, a->spec, &a->p) : kiln_flash_attn(ctx, &a->p);
}

/* The rows of issue #22 (flash and paged attention), measured here and shown at
 * the end beside the peer figures of ../shared/anchors/README.md (H100). */
typedef struct goal_row {
    const char *what;
    double peer, goal; /* TFLOP/s or TB/s */
    const char *unit, *peer_name;
    double got;
} goal_row;
static goal_row goals[] = {
    {"flash attention bf16 hd128 causal L=4096, 32 heads", 326, 450, "TFLOP/s", "FlashAttention-2", 0},
    {"flash attention bf16 hd128 non-causal L=4096, 32 heads", 359, 500, "TFLOP/s", "FlashAttention-2", 0},
    {"paged decode f16 KV kv=16384, 8 KV heads, 1 q/KV head", 2.39, 2.7, "TB/s", "llama.cpp fattn-vec", 0},
    {"paged decode f16 KV kv=16384, 8 KV heads, 4 q/KV head", 1.81, 2.7, "TB/s", "llama.cpp fattn-vec", 0},
};

/* Returns TFLOP/s of the default spec (the FA2 kernel for bf16 at hd 128). */
static double bench_flash(int64_t L, int64_t heads, int64_t hd, int causal)
{
    fa_arg a;
    memset(&a, 0, sizeof a);
    int64_t ne[3] = {L, heads, hd};
    kiln_buffer *q = random_matrix(KILN_BF16, L * heads, hd, 1), *k = random_matrix(KILN_BF16, L * heads, hd, 2);
    kiln_buffer *v = random_matrix(KILN_BF16, L * heads, hd, 3), *o = NULL;
    if (kiln_buffer_alloc(ctx, 2 * (size_t)(L * heads * hd), &o) != KILN_OK) die("alloc o");
    a.p.q = kiln_tensor_make(q, 0, KILN_BF16, 3, ne);
    a.p.k = kiln_tensor_make(k, 0, KILN_BF16, 3, ne);
    a.p.v = kiln_tensor_make(v, 0, KILN_BF16, 3, ne);
    a.p.o = kiln_tensor_make(o, 0, KILN_BF16, 3, ne);
    a.p.scale = 1.0f / sqrtf((float)hd);
    a.p.causal = causal;
    char shape[64];
    snprintf(shape, sizeof shape, "L=%lld heads=%lld hd=%lld %s", (long long)L, (long long)heads, (long long)hd,
             causal ? "causal" : "full");
    double flops = 4.0 * (double)L * (double)L * (double)hd * (double)heads / (causal ? 2.0 : 1.0);
    double us = time_us(run_fa, &a, 3);
    row("flash-attn bf16 (FA2, default spec)", shape, us, 8.0 * (double)(L * heads * hd), flops);
    /* The generic SIMT kernel on the same inputs: its output against the FA2 one. */
    kiln_spec s = kiln_cuda_flash_spec(KILN_BF16, (int)hd);
    s.tile = (kiln_tile){.tm = 8, .tn = 32, .threads = 128, .stages = 1};
    size_t n = (size_t)(L * heads * hd);
    uint16_t *o1 = malloc(2 * n), *o2 = malloc(2 * n);
    if (run_fa(&a, 0) != KILN_OK || kiln_buffer_download(o, 0, o1, 2 * n) != KILN_OK) die("flash (FA2)");
    a.spec = &s;
    if (run_fa(&a, 0) != KILN_OK || kiln_buffer_download(o, 0, o2, 2 * n) != KILN_OK) die("flash (SIMT)");
    double num = 0, den = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double x1 = kiln_bf16_to_f32(o1[i]), x2 = kiln_bf16_to_f32(o2[i]);
        if (!isfinite(x1)) bad++;
        num += (x1 - x2) * (x1 - x2);
        den += x2 * x2;
    }
    printf("|   FA2 vs SIMT output: relative L2 difference %.2e, %zu non-finite%s |\n", sqrt(num / (den > 0 ? den : 1)),
           bad, sqrt(num / (den > 0 ? den : 1)) < 2e-2 && bad == 0 ? " (agree)" : " (DISAGREE)");
    free(o1);
    free(o2);
    kiln_buffer_free(q), kiln_buffer_free(k), kiln_buffer_free(v), kiln_buffer_free(o);
    return flops / us / 1e6;
}

typedef struct pa_arg {
    kiln_paged_attn_params p;
} pa_arg;
static kiln_status run_pa(void *p, int i)
{
    (void)i;
    return kiln_paged_attn(ctx, &((pa_arg *)p)->p);
}

/* Returns TB/s of K and V read. */
static double bench_paged(int64_t kv, int64_t kv_heads, int64_t q_per_kv, int64_t hd)
{
    const int64_t bs = 16, nblocks = kv / bs, heads = kv_heads * q_per_kv;
    pa_arg a;
    memset(&a, 0, sizeof a);
    int64_t qne[3] = {1, heads, hd}, cne[4] = {nblocks, bs, kv_heads, hd}, btne[2] = {1, nblocks}, slne[1] = {1};
    kiln_buffer *q = random_matrix(KILN_F16, heads, hd, 1), *o = NULL;
    kiln_buffer *kc = random_matrix(KILN_F16, nblocks * bs * kv_heads, hd, 2);
    kiln_buffer *vc = random_matrix(KILN_F16, nblocks * bs * kv_heads, hd, 3);
    int32_t *bt = malloc(sizeof(int32_t) * (size_t)nblocks);
    for (int64_t i = 0; i < nblocks; i++) bt[i] = (int32_t)((i * 7919) % nblocks); /* scrambled, a permutation */
    int32_t sl = (int32_t)kv;
    kiln_buffer *bbt = NULL, *bsl = NULL;
    if (kiln_buffer_alloc(ctx, sizeof(int32_t) * (size_t)nblocks, &bbt) || kiln_buffer_alloc(ctx, 4, &bsl) ||
        kiln_buffer_alloc(ctx, 2 * (size_t)(heads * hd), &o))
        die("alloc");
    kiln_buffer_upload(bbt, 0, bt, sizeof(int32_t) * (size_t)nblocks);
    kiln_buffer_upload(bsl, 0, &sl, 4);
    a.p.q = kiln_tensor_make(q, 0, KILN_F16, 3, qne);
    a.p.o = kiln_tensor_make(o, 0, KILN_F16, 3, qne);
    a.p.k_cache = kiln_tensor_make(kc, 0, KILN_F16, 4, cne);
    a.p.v_cache = kiln_tensor_make(vc, 0, KILN_F16, 4, cne);
    a.p.block_table = kiln_tensor_make(bbt, 0, KILN_I32, 2, btne);
    a.p.seq_lens = kiln_tensor_make(bsl, 0, KILN_I32, 1, slne);
    a.p.scale = 1.0f / sqrtf((float)hd);
    char shape[80], what[64];
    snprintf(shape, sizeof shape, "kv=%lld kv_heads=%lld hd=%lld", (long long)kv, (long long)kv_heads, (long long)hd);
    snprintf(what, sizeof what, "paged-attn f16, %lld q/kv head", (long long)q_per_kv);
    double bytes = 2.0 * 2.0 * (double)(kv * kv_heads * hd);
    double us = time_us(run_pa, &a, 50);
    row(what, shape, us, bytes, 4.0 * (double)(kv * heads * hd));
    free(bt);
    kiln_buffer_free(q), kiln_buffer_free(o), kiln_buffer_free(kc), kiln_buffer_free(vc);
    kiln_buffer_free(bbt), kiln_buffer_free(bsl);
    return bytes / us / 1e6;
}

/* ---------------------------------------------------------------- norm */

typedef struct nm_arg {
    kiln_norm_params p[COPIES];
} nm_arg;
static kiln_status run_norm(void *p, int i)
{
    return kiln_norm(ctx, &((nm_arg *)p)->p[i % COPIES]);
}

static void bench_norm(int64_t rows, int64_t dim)
{
    nm_arg a;
    memset(&a, 0, sizeof a);
    int64_t ne[2] = {rows, dim};
    kiln_buffer *b[COPIES][4];
    static kiln_tensor res[COPIES], sum[COPIES];
    for (int c = 0; c < COPIES; c++) {
        for (int j = 0; j < 4; j++) b[c][j] = random_matrix(KILN_F16, rows, dim, (unsigned)(10 * c + j));
        a.p[c].kind = KILN_NORM_RMS;
        a.p[c].x = kiln_tensor_make(b[c][0], 0, KILN_F16, 2, ne);
        res[c] = kiln_tensor_make(b[c][1], 0, KILN_F16, 2, ne);
        sum[c] = kiln_tensor_make(b[c][2], 0, KILN_F16, 2, ne);
        a.p[c].residual = &res[c];
        a.p[c].sum_out = &sum[c];
        a.p[c].y = kiln_tensor_make(b[c][3], 0, KILN_F16, 2, ne);
        a.p[c].eps = 1e-5f;
    }
    char shape[64];
    snprintf(shape, sizeof shape, "%lldx%lld, sum_out", (long long)rows, (long long)dim);
    row("add+RMSNorm f16", shape, time_us(run_norm, &a, 50), 4.0 * 2.0 * (double)(rows * dim), 0);
    for (int c = 0; c < COPIES; c++)
        for (int j = 0; j < 4; j++) kiln_buffer_free(b[c][j]);
}

int main(int argc, char **argv)
{
    int quick = 0, sweep = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--sweep")) sweep = 1;
        else {
            fprintf(stderr, "usage: kiln-cuda-bench [--quick] [--sweep]\n");
            return 2;
        }
    }
    kiln_context_options o = kiln_context_options_default();
    o.use_tuning = 0;
    if (kiln_context_create("cuda", &o, &ctx) != KILN_OK) die("cuda context");
    cu = kiln_cu();
    kiln_device_info info;
    kiln_context_get_device(ctx, &info);
    printf("device: %s (sm_%d%d, %d SMs, %s)\n\n", info.name, info.compute_major, info.compute_minor,
           info.multiprocessors, info.driver);
    printf("| %-34s | %-30s | %12s | %12s | %15s | %-19s |\n", "kernel", "shape", "time", "bandwidth", "compute",
           "llama.cpp (H100)");
    printf("|%s|%s|%s|%s|%s|%s|\n", "------------------------------------", "--------------------------------",
           "--------------", "--------------", "-----------------", "---------------------");

    copy_arg c = {0, 0, (size_t)1 << 30};
    if (cu->MemAlloc(&c.a, c.n) || cu->MemAlloc(&c.b, c.n)) die("alloc copy");
    cu->MemsetD8Async(c.a, 0x5a, c.n, kiln_cuda_active_stream(ctx));
    row("copy (D2D, read+write)", "1 GiB", time_us(run_copy, &c, 5), 2.0 * (double)c.n, 0);
    cu->MemFree(c.a);
    cu->MemFree(c.b);

    const int64_t m = 4096, k = 14336;
    bench_matmul(KILN_Q4_0, m, k, 1, sweep);
    bench_matmul(KILN_Q8_0, m, k, 1, sweep);
    bench_matmul(KILN_Q4_K, m, k, 1, sweep);
    bench_matmul(KILN_F16, m, k, 1, 0);
    bench_matmul(KILN_Q4_0, m, k, 8, sweep);
    bench_matmul(KILN_Q4_0, m, k, 512, 0);
    if (!quick) {
        bench_matmul(KILN_Q8_0, m, k, 512, 0);
        bench_matmul(KILN_Q4_K, m, k, 512, 0);
    }
    goals[2].got = bench_paged(16384, 8, 1, 128);
    goals[3].got = bench_paged(16384, 8, 4, 128);
    bench_norm(4096, 4096);
    goals[0].got = bench_flash(quick ? 1024 : 4096, 32, 128, 1);
    goals[1].got = bench_flash(quick ? 1024 : 4096, 32, 128, 0);
    printf("\nIssue #22 (peers: ../shared/anchors/README.md, H100, 2026-11-23)%s\n\n",
           quick ? " -- --quick: L=1024, not comparable" : "");
    printf("| %-56s | %14s | %30s | %6s | %10s |\n", "row", "kiln", "peer", "ratio", "goal");
    printf("|%s|%s|%s|%s|%s|\n", "----------------------------------------------------------", "----------------",
           "--------------------------------", "--------", "------------");
    for (size_t i = 0; i < sizeof goals / sizeof goals[0]; i++) {
        const goal_row *g = &goals[i];
        printf("| %-56s | %6.2f %-7s | %7.2f %-22s | %5.2fx | >= %.4g %s |\n", g->what, g->got, g->unit, g->peer,
               g->peer_name, g->got / g->peer, g->goal, g->unit);
    }
    kiln_context_destroy(ctx);
    return 0;
}
