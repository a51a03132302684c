/* kernels/cpu/templates/norm.c — fused (residual add +) RMSNorm / LayerNorm,
 * one row per step, rows split over the tasks:
 *   s = x + residual;  sum_out = s
 *   RMS:   y = s / sqrt(mean(s²) + eps) * weight
 *   LAYER: y = (s - mean(s)) / sqrt(var(s) + eps) * weight + bias
 * s is written once (into sum_out, else into y) and read back, so y, x and
 * sum_out may alias element-wise. Statistics accumulate in double: rows of
 * 4096+ elements would otherwise lose ~1e-6 relative. */
#pragma kiln include "kernels/cpu/templates/cpu_abi.h"
#pragma kiln include "kernels/cpu/templates/cpu_simd.h"

static void norm_row(const kiln_cpu_norm_args *a, int64_t r)
{
    int64_t dim = a->dim;
    const float *x = a->x + r * a->x_stride;
    float *y = a->y + r * a->y_stride;
    float *s = a->sum_out ? a->sum_out + r * a->sum_stride : y;
#if KILN_NORM_RESIDUAL
    const float *res = a->residual ? a->residual + r * a->res_stride : NULL;
#else
    const float *res = NULL;
#endif
    double sum = 0.0, sq = 0.0;
    for (int64_t i = 0; i < dim; i++) {
        float v = res ? x[i] + res[i] : x[i];
        s[i] = v;
        sum += v;
        sq += (double)v * v;
    }
#if KILN_NORM_LAYER
    double mean = sum / (double)dim, var = sq / (double)dim - mean * mean;
    if (var < 0.0) var = 0.0;
    /* var from E[s²] - mean² loses digits when |mean| >> spread: redo it centred */
    double c2 = 0.0;
    for (int64_t i = 0; i < dim; i++) c2 += ((double)s[i] - mean) * ((double)s[i] - mean);
    var = c2 / (double)dim;
    float inv = (float)(1.0 / sqrt(var + (double)a->eps)), mu = (float)mean;
    for (int64_t i = 0; i < dim; i++) {
        float v = (s[i] - mu) * inv;
        if (a->weight) v *= a->weight[i];
        if (a->bias) v += a->bias[i];
        y[i] = v;
    }
#else
    (void)sum;
    float inv = (float)(1.0 / sqrt(sq / (double)dim + (double)a->eps));
    for (int64_t i = 0; i < dim; i++) {
        float v = s[i] * inv;
        y[i] = a->weight ? v * a->weight[i] : v;
    }
#endif
}

void KILN_ENTRY(const void *args, int phase, int task, int ntasks)
{
    const kiln_cpu_norm_args *a = (const kiln_cpu_norm_args *)args;
    if (phase != KILN_CPU_PHASE_RUN) return;
    int64_t r0, r1;
    kiln_cpu_task_range(a->rows, task, ntasks, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) norm_row(a, r);
}
