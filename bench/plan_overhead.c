/* bench/plan_overhead.c — what a plan saves per call: the same tiny matmul
 * through the one-call op (validate, choose from the memo, find the kernel,
 * run) and through kiln_plan_run (check the planned shapes and the buffers,
 * run), timed in alternating rounds so a change in the machine's load hits
 * both alike. The kernel itself is a few multiply-adds: what is left is the
 * per-call overhead. */
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define ROUNDS 15

kiln_status kiln_bench_plan_overhead(kiln_context *ctx, kiln_dtype fmt, int64_t m, int64_t k, int64_t n, int calls,
                                     kiln_bench_overhead *out)
{
    memset(out, 0, sizeof *out);
    const size_t wb = kiln_row_bytes(fmt, k) * (size_t)m;
    if (calls < 1 || wb == 0) return KILN_ERR_INVALID_ARG;
    kiln_buffer *bx = NULL, *bw = NULL, *by = NULL;
    kiln_status st = kiln_buffer_alloc(ctx, (size_t)(n * k) * 4, &bx);
    if (st == KILN_OK) st = kiln_buffer_alloc(ctx, wb, &bw);
    if (st == KILN_OK) st = kiln_buffer_alloc(ctx, (size_t)(n * m) * 4, &by);
    kiln_plan *plan = NULL;
    if (st == KILN_OK) {
        /* zeros: valid weights in every format (scales of 0), inputs of 0 */
        void *zero = calloc(1, wb > (size_t)(n * k) * 4 ? wb : (size_t)(n * k) * 4);
        if (!zero) st = KILN_ERR_OUT_OF_MEMORY;
        if (st == KILN_OK) st = kiln_buffer_upload(bw, 0, zero, wb);
        if (st == KILN_OK) st = kiln_buffer_upload(bx, 0, zero, (size_t)(n * k) * 4);
        free(zero);
    }
    kiln_matmul_params p = {.size = sizeof p,
                            .x = kiln_tensor_make(bx, 0, KILN_F32, 2, (int64_t[]){n, k}),
                            .w = kiln_tensor_make(bw, 0, fmt, 2, (int64_t[]){m, k}),
                            .y = kiln_tensor_make(by, 0, KILN_F32, 2, (int64_t[]){n, m})};
    double plan_t[ROUNDS], once_t[ROUNDS], run_t[ROUNDS];
    for (int r = 0; st == KILN_OK && r < ROUNDS; r++) {
        double t0 = kiln_bench_now();
        kiln_plan_destroy(plan);
        plan = NULL;
        st = kiln_matmul_plan(ctx, &p, &plan);
        plan_t[r] = (kiln_bench_now() - t0) * 1e6;
        t0 = kiln_bench_now();
        for (int i = 0; st == KILN_OK && i < calls; i++) st = kiln_matmul(ctx, &p);
        if (st == KILN_OK) st = kiln_synchronize(ctx);
        once_t[r] = (kiln_bench_now() - t0) * 1e6 / calls;
        t0 = kiln_bench_now();
        for (int i = 0; st == KILN_OK && i < calls; i++) st = kiln_plan_run(plan, &p, NULL, NULL);
        if (st == KILN_OK) st = kiln_synchronize(ctx);
        run_t[r] = (kiln_bench_now() - t0) * 1e6 / calls;
    }
    if (st == KILN_OK) {
        out->plan_us = median(plan_t, ROUNDS);
        out->one_call_us = median(once_t, ROUNDS);
        out->plan_run_us = median(run_t, ROUNDS);
        out->calls = calls * ROUNDS;
    }
    kiln_plan_destroy(plan);
    kiln_buffer_free(bx), kiln_buffer_free(bw), kiln_buffer_free(by);
    return st;
}
