/* tests/test_cuda_device.c — CUDA backend behaviour that needs a GPU (skipped without one):
 * device info, the module cache across contexts, and launches on a caller's
 * stream captured into a CUDA graph and replayed with the same results as
 * kiln's own stream. The numerics of every op are tested by tests/test_op_*.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_api.h"
#include "kiln/kernel.h"
#include "kiln/kiln.h"

static kiln_context *open_cuda(void)
{
    if (!kiln_backend_available(KILN_BACKEND_CUDA)) cr_skip_test("no CUDA device: %s", kiln_last_error());
    kiln_context_options o = kiln_context_options_default();
    o.use_tuning = 0;
    kiln_context *ctx = NULL;
    kiln_status st = kiln_context_create("cuda", &o, &ctx);
    cr_assert_eq(st, KILN_OK, "kiln_context_create(cuda): %s", kiln_last_error());
    return ctx;
}

static float *randf(size_t n, unsigned seed)
{
    float *p = malloc(n * sizeof *p);
    srand(seed);
    for (size_t i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
    return p;
}

static kiln_buffer *upload(kiln_context *ctx, const void *src, size_t bytes)
{
    kiln_buffer *b = NULL;
    cr_assert_eq(kiln_buffer_alloc(ctx, bytes, &b), KILN_OK, "%s", kiln_last_error());
    if (src) cr_assert_eq(kiln_buffer_upload(b, 0, src, bytes), KILN_OK, "%s", kiln_last_error());
    return b;
}

static void poison(kiln_buffer *b)
{
    size_t n = kiln_buffer_size(b);
    void *p = malloc(n);
    memset(p, 0xff, n);
    cr_assert_eq(kiln_buffer_upload(b, 0, p, n), KILN_OK);
    free(p);
}

Test(cuda_device, info)
{
    kiln_context *ctx = open_cuda();
    kiln_device_info info;
    cr_assert_eq(kiln_context_get_device(ctx, &info), KILN_OK);
    cr_assert_eq(info.backend, KILN_BACKEND_CUDA);
    cr_assert(strlen(info.name) > 0);
    cr_assert(info.compute_major >= 8, "sm_%d%d", info.compute_major, info.compute_minor);
    cr_assert(info.multiprocessors > 0);
    cr_assert(info.memory_bytes > (1ull << 30));
    cr_assert(info.shared_mem_bytes >= 48 * 1024);
    cr_assert_eq(info.subgroup_size, 32);
    cr_assert(strstr(info.driver, "CUDA"), "%s", info.driver);
    kiln_context_destroy(ctx);
}

/* A matmul (mat-vec, f32 weights, bias) then a norm on its output, first on
 * kiln's stream, then captured from a caller's stream into a graph that is
 * replayed twice: the replays must reproduce the direct results bit for bit. */
Test(cuda_device, graph_capture_on_caller_stream, .timeout = 120)
{
    kiln_context *ctx = open_cuda();
    const kiln_cu_api *cu = kiln_cu();
    const int64_t n = 3, m = 333, k = 517;
    float *x = randf((size_t)(n * k), 1), *w = randf((size_t)(m * k), 2), *bias = randf((size_t)m, 3);
    kiln_buffer *bx = upload(ctx, x, sizeof(float) * n * k), *bw = upload(ctx, w, sizeof(float) * m * k);
    kiln_buffer *bb = upload(ctx, bias, sizeof(float) * m), *by = upload(ctx, NULL, sizeof(float) * n * m);
    kiln_buffer *bz = upload(ctx, NULL, sizeof(float) * n * m);
    int64_t xne[2] = {n, k}, wne[2] = {m, k}, yne[2] = {n, m}, bne[1] = {m};
    kiln_tensor tb = kiln_tensor_make(bb, 0, KILN_F32, 1, bne);
    kiln_matmul_params mp = {
        .x = kiln_tensor_make(bx, 0, KILN_F32, 2, xne),
        .w = kiln_tensor_make(bw, 0, KILN_F32, 2, wne),
        .bias = &tb,
        .y = kiln_tensor_make(by, 0, KILN_F32, 2, yne),
        .epilogue = KILN_EPI_BIAS,
    };
    kiln_norm_params np = {.kind = KILN_NORM_RMS, .x = mp.y, .y = kiln_tensor_make(bz, 0, KILN_F32, 2, yne), .eps = 1e-5f};

    poison(by);
    poison(bz);
    cr_assert_eq(kiln_matmul(ctx, &mp), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_norm(ctx, &np), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_synchronize(ctx), KILN_OK);
    size_t bytes = sizeof(float) * (size_t)(n * m);
    float *y0 = malloc(bytes), *z0 = malloc(bytes), *z1 = malloc(bytes);
    cr_assert_eq(kiln_buffer_download(bz, 0, z0, bytes), KILN_OK);
    cr_assert_eq(kiln_buffer_download(by, 0, y0, bytes), KILN_OK);
    for (int64_t i = 0; i < n * m; i++) cr_assert(isfinite(z0[i]) && isfinite(y0[i]), "element %ld unwritten", (long)i);
    /* y against a host dot product (f32 FMA path: tight bound). */
    for (int64_t c = 0; c < n; c++)
        for (int64_t r = 0; r < m; r += 37) {
            double ref = bias[r];
            for (int64_t j = 0; j < k; j++) ref += (double)x[c * k + j] * w[r * k + j];
            cr_assert(fabs(y0[c * m + r] - ref) <= 1e-4 * (1 + fabs(ref)), "y[%ld][%ld] = %g, want %g", (long)c,
                      (long)r, y0[c * m + r], ref);
        }

    CUstream s = NULL;
    cr_assert_eq(cu->StreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
    cr_assert_eq(kiln_context_set_cuda_stream(ctx, s), KILN_OK);
    poison(by);
    poison(bz);
    CUgraph g = NULL;
    CUgraphExec ge = NULL;
    cr_assert_eq(cu->StreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED), CUDA_SUCCESS);
    kiln_status st1 = kiln_matmul(ctx, &mp), st2 = kiln_norm(ctx, &np);
    cr_assert_eq(cu->StreamEndCapture(s, &g), CUDA_SUCCESS);
    cr_assert_eq(st1, KILN_OK, "matmul during capture: %s", kiln_last_error());
    cr_assert_eq(st2, KILN_OK, "norm during capture: %s", kiln_last_error());
    cr_assert_eq(cu->GraphInstantiate(&ge, g, 0), CUDA_SUCCESS);
    for (int rep = 0; rep < 2; rep++) {
        poison(bz);
        cr_assert_eq(cu->GraphLaunch(ge, s), CUDA_SUCCESS);
        cr_assert_eq(cu->StreamSynchronize(s), CUDA_SUCCESS);
        cr_assert_eq(kiln_buffer_download(bz, 0, z1, bytes), KILN_OK);
        cr_assert(memcmp(z0, z1, bytes) == 0, "graph replay %d differs from the direct run", rep);
    }
    cu->GraphExecDestroy(ge);
    cu->GraphDestroy(g);
    cr_assert_eq(kiln_context_set_cuda_stream(ctx, NULL), KILN_OK);
    cu->StreamDestroy(s);
    free(x), free(w), free(bias), free(y0), free(z0), free(z1);
    kiln_buffer_free(bx), kiln_buffer_free(bw), kiln_buffer_free(bb), kiln_buffer_free(by), kiln_buffer_free(bz);
    kiln_context_destroy(ctx);
}

/* Preparing a spec twice is a cache hit; a fresh context reloads from disk. */
Test(cuda_device, prepare_is_cached, .timeout = 120)
{
    kiln_context *ctx = open_cuda();
    kiln_spec s = *kiln_manifest_get(0);
    for (size_t i = 0; i < kiln_manifest_count(); i++)
        if (kiln_manifest_get(i)->backend == KILN_BACKEND_CUDA) {
            s = *kiln_manifest_get(i);
            break;
        }
    cr_assert_eq(s.backend, KILN_BACKEND_CUDA);
    cr_assert_eq(kiln_kernel_prepare(ctx, &s), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_kernel_prepare(ctx, &s), KILN_OK, "%s", kiln_last_error());
    kiln_context_destroy(ctx);
    ctx = open_cuda();
    cr_assert_eq(kiln_kernel_prepare(ctx, &s), KILN_OK, "%s", kiln_last_error());
    kiln_context_destroy(ctx);
}
