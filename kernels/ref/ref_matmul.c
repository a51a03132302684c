/* kernels/ref/ref_matmul.c — reference dequant-matmul with its epilogues.
 * One W row at a time is dequantized to double and dotted with every x row,
 * so memory stays O(n·k + k) even for 4096×4096 weights. */
#include <math.h>
#include <stdlib.h>

#include "kiln/error.h"
#include "kernels/ref/ref.h"

static int is_act_dtype(kiln_dtype t) { return t == KILN_F32 || t == KILN_F16 || t == KILN_BF16; }

static double sigmoid(double g) { return 1.0 / (1.0 + exp(-g)); }

/* dot(x, w) and the L2 norm of its terms (the natural scale of its rounding error). */
static void dot_with_scale(const double *x, const double *w, int64_t k, double *dot, double *mag)
{
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < k; i++) {
        double t = x[i] * w[i];
        s += t;
        s2 += t * t;
    }
    *dot = s;
    *mag = sqrt(s2);
}

static kiln_status check_args(const kiln_ref_matmul_args *a)
{
    if (!a) return kiln_fail(KILN_ERR_INVALID_ARG, "ref matmul: args is NULL");
    if (a->n < 1 || a->m < 1 || a->k < 1)
        return kiln_fail(KILN_ERR_SHAPE, "ref matmul: n=%lld m=%lld k=%lld must all be >= 1", (long long)a->n, (long long)a->m, (long long)a->k);
    if (!a->x || !a->w) return kiln_fail(KILN_ERR_INVALID_ARG, "ref matmul: x or w is NULL");
    if (!is_act_dtype(a->x_dtype)) return kiln_fail(KILN_ERR_INVALID_ARG, "ref matmul: x dtype %d is not f32/f16/bf16", (int)a->x_dtype);
    if (kiln_row_bytes(a->w_dtype, a->k) == 0)
        return kiln_fail(KILN_ERR_SHAPE, "ref matmul: k=%lld is not a whole number of blocks of w's format %d", (long long)a->k, (int)a->w_dtype);
    if ((a->epilogue & KILN_EPI_SWIGLU) && !a->w_up) return kiln_fail(KILN_ERR_INVALID_ARG, "ref matmul: SWIGLU without w_up");
    if ((a->epilogue & KILN_EPI_BIAS) && !a->bias) return kiln_fail(KILN_ERR_INVALID_ARG, "ref matmul: BIAS without bias");
    if ((a->epilogue & KILN_EPI_SWIGLU) && (a->epilogue & KILN_EPI_GELU))
        return kiln_fail(KILN_ERR_INVALID_ARG, "ref matmul: SWIGLU and GELU together");
    if (a->epilogue & KILN_EPI_RESIDUAL) {
        if (!a->residual) return kiln_fail(KILN_ERR_INVALID_ARG, "ref matmul: RESIDUAL without residual");
        if (!is_act_dtype(a->residual_dtype)) return kiln_fail(KILN_ERR_INVALID_ARG, "ref matmul: residual dtype %d is not f32/f16/bf16", (int)a->residual_dtype);
    }
    return KILN_OK;
}

kiln_status kiln_ref_matmul(const kiln_ref_matmul_args *a, double *y, double *err_scale)
{
    kiln_status st = check_args(a);
    if (st != KILN_OK) return st;
    if (!y) return kiln_fail(KILN_ERR_INVALID_ARG, "ref matmul: y is NULL");
    const int64_t n = a->n, m = a->m, k = a->k;
    const int swiglu = (a->epilogue & KILN_EPI_SWIGLU) != 0, gelu = (a->epilogue & KILN_EPI_GELU) != 0;
    const double scale = (a->epilogue & KILN_EPI_SCALE) ? (double)a->scale : 1.0;
    const size_t xs = a->x_stride ? a->x_stride : kiln_row_bytes(a->x_dtype, k);
    const size_t ws = a->w_stride ? a->w_stride : kiln_row_bytes(a->w_dtype, k);
    const size_t rs = a->residual_stride ? a->residual_stride : kiln_row_bytes(a->residual_dtype, m);

    double *x = malloc((size_t)(n * k) * sizeof *x);
    double *w = malloc((size_t)k * sizeof *w);
    double *wu = malloc((size_t)k * sizeof *wu);
    double *res = malloc((size_t)m * sizeof *res);
    if (!x || !w || !wu || !res) {
        st = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "ref matmul: no memory for n=%lld k=%lld", (long long)n, (long long)k);
        goto done;
    }
    for (int64_t i = 0; i < n && st == KILN_OK; i++)
        st = kiln_ref_load_row(a->x_dtype, (const char *)a->x + (size_t)i * xs, k, x + i * k);

    for (int64_t j = 0; j < m && st == KILN_OK; j++) {
        st = kiln_ref_load_row(a->w_dtype, (const char *)a->w + (size_t)j * ws, k, w);
        if (st == KILN_OK && swiglu) st = kiln_ref_load_row(a->w_dtype, (const char *)a->w_up + (size_t)j * ws, k, wu);
        const double b = (a->epilogue & KILN_EPI_BIAS) ? (double)a->bias[j] : 0.0;
        for (int64_t i = 0; i < n && st == KILN_OK; i++) {
            double g, gmag, v, vmag;
            dot_with_scale(x + i * k, w, k, &g, &gmag);
            g += b;
            if (swiglu) {
                double u, umag;
                dot_with_scale(x + i * k, wu, k, &u, &umag);
                u += b;
                const double sg = sigmoid(g), silu = g * sg;
                v = silu * u;
                /* first-order sensitivity of silu(g)·u to errors proportional to gmag, umag */
                vmag = fabs(sg * (1.0 + g * (1.0 - sg)) * u) * gmag + fabs(silu) * umag;
            } else if (gelu) {
                const double c = 0.79788456080286535588 /* sqrt(2/pi) */, t = tanh(c * (g + 0.044715 * g * g * g));
                v = 0.5 * g * (1.0 + t);
                vmag = fabs(0.5 * (1.0 + t) + 0.5 * g * (1.0 - t * t) * c * (1.0 + 3 * 0.044715 * g * g)) * gmag;
            } else {
                v = g;
                vmag = gmag;
            }
            y[i * m + j] = v * scale;
            if (err_scale) err_scale[i * m + j] = vmag * fabs(scale);
        }
    }
    if (st == KILN_OK && (a->epilogue & KILN_EPI_RESIDUAL)) {
        for (int64_t i = 0; i < n && st == KILN_OK; i++) {
            st = kiln_ref_load_row(a->residual_dtype, (const char *)a->residual + (size_t)i * rs, m, res);
            for (int64_t j = 0; j < m && st == KILN_OK; j++) y[i * m + j] += res[j];
        }
    }
done:
    free(x);
    free(w);
    free(wu);
    free(res);
    return st;
}
