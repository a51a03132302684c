/* kernels/ref/ref_rope.c — reference rotary position embedding, in double
 * straight from the formula in include/kiln/kiln.h. */
#include <math.h>

#include "kiln/error.h"
#include "kernels/ref/ref.h"

kiln_status kiln_ref_rope(const kiln_ref_rope_args *a, double *y, double *angle)
{
    if (!a || !a->x || !a->positions || !y) return kiln_fail(KILN_ERR_INVALID_ARG, "ref rope: null argument");
    if (a->n < 1 || a->n_heads < 1 || a->head_dim < 1)
        return kiln_fail(KILN_ERR_SHAPE, "ref rope: n=%lld n_heads=%lld head_dim=%lld must be >= 1", (long long)a->n,
                         (long long)a->n_heads, (long long)a->head_dim);
    if (a->rope_dim < 2 || a->rope_dim % 2 || a->rope_dim > a->head_dim)
        return kiln_fail(KILN_ERR_INVALID_ARG, "ref rope: rope_dim=%d must be even, 2..head_dim", a->rope_dim);
    const int64_t hd = a->head_dim, half = a->rope_dim / 2;
    for (int64_t t = 0; t < a->n; t++)
        for (int64_t h = 0; h < a->n_heads; h++) {
            const float *x = a->x + (t * a->n_heads + h) * hd;
            double *o = y + (t * a->n_heads + h) * hd, *ang = angle ? angle + (t * a->n_heads + h) * hd : NULL;
            for (int64_t d = 0; d < hd; d++) {
                o[d] = x[d];
                if (ang) ang[d] = 0.0;
            }
            for (int64_t i = 0; i < half; i++) {
                double th = (double)a->positions[t] * a->freq_scale * pow(a->theta, -2.0 * (double)i / a->rope_dim);
                int64_t i0 = a->neox ? i : 2 * i, i1 = a->neox ? i + half : 2 * i + 1;
                double x0 = x[i0], x1 = x[i1];
                o[i0] = x0 * cos(th) - x1 * sin(th);
                o[i1] = x0 * sin(th) + x1 * cos(th);
                if (ang) ang[i0] = ang[i1] = fabs(th);
            }
        }
    return KILN_OK;
}
