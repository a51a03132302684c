/* kernels/ref/ref_norm.c — reference fused residual-add + RMSNorm / LayerNorm.
 * Statistics in double over the exact (unrounded) sum s = x + residual; a
 * backend that writes s as f16 and normalizes its f32 copy differs from this
 * by its rounding only. */
#include <math.h>
#include <stdlib.h>

#include "kiln/error.h"
#include "kernels/ref/ref.h"

kiln_status kiln_ref_norm(const kiln_ref_norm_args *a, double *y, double *sum)
{
    if (!a || !a->x || !y) return kiln_fail(KILN_ERR_INVALID_ARG, "ref norm: null argument");
    if (a->rows < 1 || a->dim < 1) return kiln_fail(KILN_ERR_SHAPE, "ref norm: rows=%lld dim=%lld must be >= 1", (long long)a->rows, (long long)a->dim);
    if (a->dtype != KILN_F32 && a->dtype != KILN_F16 && a->dtype != KILN_BF16) return kiln_fail(KILN_ERR_INVALID_ARG, "ref norm: dtype must be f32/f16/bf16");
    if (a->kind != KILN_NORM_RMS && a->kind != KILN_NORM_LAYER) return kiln_fail(KILN_ERR_INVALID_ARG, "ref norm: unknown kind %d", (int)a->kind);
    if (!(a->eps > 0)) return kiln_fail(KILN_ERR_INVALID_ARG, "ref norm: eps=%g must be > 0", a->eps);

    const int64_t dim = a->dim;
    const size_t row = kiln_row_bytes(a->dtype, dim);
    double *s = malloc((size_t)dim * sizeof *s), *r = malloc((size_t)dim * sizeof *r);
    kiln_status st = (s && r) ? KILN_OK : kiln_fail(KILN_ERR_OUT_OF_MEMORY, "ref norm: no memory for dim=%lld", (long long)dim);
    for (int64_t i = 0; i < a->rows && st == KILN_OK; i++) {
        st = kiln_ref_load_row(a->dtype, (const char *)a->x + (size_t)i * row, dim, s);
        if (st == KILN_OK && a->residual) {
            st = kiln_ref_load_row(a->dtype, (const char *)a->residual + (size_t)i * row, dim, r);
            for (int64_t d = 0; d < dim; d++) s[d] += r[d];
        }
        if (st != KILN_OK) break;
        double mean = 0, sq = 0;
        for (int64_t d = 0; d < dim; d++) mean += s[d];
        mean /= (double)dim;
        if (a->kind == KILN_NORM_RMS) {
            for (int64_t d = 0; d < dim; d++) sq += s[d] * s[d];
            mean = 0; /* RMS norm does not centre */
        } else {
            for (int64_t d = 0; d < dim; d++) sq += (s[d] - mean) * (s[d] - mean);
        }
        const double inv = 1.0 / sqrt(sq / (double)dim + a->eps);
        for (int64_t d = 0; d < dim; d++) {
            double v = (s[d] - mean) * inv;
            if (a->weight) v *= a->weight[d];
            if (a->kind == KILN_NORM_LAYER && a->bias) v += a->bias[d];
            y[i * dim + d] = v;
            if (sum) sum[i * dim + d] = s[d];
        }
    }
    free(s);
    free(r);
    return st;
}
