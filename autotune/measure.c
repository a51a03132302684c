/* autotune/measure.c — how long a spec takes on a problem.
 *
 * Warm-up first (compiles, caches, clocks), then batches of back-to-back runs
 * over the rotated copies with one synchronize per batch, so launch gaps on
 * GPUs are amortized as in a real forward pass; the batch is sized to about a
 * millisecond. The result is the lower quartile over batches of time per run:
 * a batch that other processes preempt only ever gets slower, so on a shared
 * machine the median measures the machine's load as much as the kernel (two
 * medians of one kernel a minute apart differed by 2x on a 2-core VM at load
 * 9), while the lower quartile still ignores a single lucky batch. The
 * first run goes through kiln_kernel_run (full validation); timed runs call
 * the backend directly, since the params are already proven good. */
#include <stdlib.h>
#include <time.h>

#include "autotune/tune_internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static kiln_status batch(kiln_context *ctx, kiln_tune_problem *p, const kiln_spec *spec, int runs,
                         int *rot, double *seconds)
{
    double t0 = now_s();
    for (int i = 0; i < runs; i++) {
        kiln_status st = ctx->vt->run(ctx, spec, kiln_tune_problem_params(p, (*rot)++));
        if (st != KILN_OK) return st;
    }
    kiln_status st = kiln_synchronize(ctx);
    *seconds = now_s() - t0;
    return st;
}

kiln_status kiln_tune_measure(kiln_context *ctx, kiln_tune_problem *p, const kiln_spec *spec,
                              double max_seconds, double *us)
{
    int rot = 0, nrot = kiln_tune_problem_rotations(p);
    double t;
    double start = now_s();
    kiln_status st = batch(ctx, p, spec, nrot, &rot, &t); /* warm-up */
    if (st != KILN_OK) return st;
    int runs = nrot;
    double per_run = t / runs;
    if (per_run > 0) {
        long want = (long)(1e-3 / per_run);
        runs = want < 1 ? 1 : want > 1000 ? 1000 : (int)want;
    }
    enum { MAX_BATCHES = 15, MIN_BATCHES = 3 };
    double samples[MAX_BATCHES];
    int n = 0;
    while (n < MAX_BATCHES) {
        st = batch(ctx, p, spec, runs, &rot, &t);
        if (st != KILN_OK) return st;
        samples[n++] = t / runs;
        if (n >= MIN_BATCHES && now_s() - start > max_seconds) break;
    }
    qsort(samples, (size_t)n, sizeof samples[0], cmp_double);
    *us = samples[n / 4] * 1e6; /* lower quartile, see the header */
    return KILN_OK;
}
