/* tests/test_op_norm.c — fused residual-add + RMSNorm / LayerNorm on every
 * backend under test against the double reference: dims 1, 64, 172, 4096,
 * 4097, rows 1..33, f32/f16/bf16, every combination of residual, sum_out,
 * weight and bias, in-place aliasing (y = x, sum_out = residual), eps that
 * matters, a row far from zero mean, and every manifest instance.
 * Data: x ~ N(0.3, 1) (a non-zero mean, so LayerNorm's centring is tested),
 * residual ~ N(0, 1), weight ~ N(1, 0.2²), bias ~ N(0, 0.5²). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/ref.h"
#include "support/harness.h"

enum { NM_RESIDUAL = 1, NM_SUM = 2, NM_WEIGHT = 4, NM_BIAS = 8, NM_Y_IS_X = 16, NM_SUM_IS_RES = 32 };

typedef struct nm_case {
    kiln_norm_kind kind;
    kiln_dtype dt;
    int64_t rows, dim;
    unsigned opt;       /* NM_* */
    float eps;
    double mean, sigma; /* of x */
} nm_case;

/* Tolerances (rel on ‖out − ref‖ / ‖ref‖, max_abs on the largest error over
 * the largest magnitude):
 * - f32: sums and statistics in f32 over ≤ 4097 elements (~1e-6 relative);
 *   an approximate rsqrt must be refined (12-bit rsqrt alone is 3e-4): 1e-5.
 * - f16: the sum s and y are rounded to f16 (2^-11 relative each), and a
 *   backend may normalize the rounded s: 2e-3.
 * - bf16: the same with 2^-8: 1.2e-2. */
static kt_tol nm_tol(kiln_dtype dt)
{
    if (dt == KILN_F16) return (kt_tol){2e-3, 3e-3};
    if (dt == KILN_BF16) return (kt_tol){1.2e-2, 1.6e-2};
    return (kt_tol){1e-5, 3e-5};
}

static uint64_t nm_tag(const nm_case *c)
{
    return (uint64_t)c->kind * 3u ^ (uint64_t)c->dt * 101u ^ (uint64_t)c->rows * 65537u ^ (uint64_t)c->dim * 257u ^
           (uint64_t)c->opt * 7919u ^ (uint64_t)(c->mean * 1000) * 31u;
}

/* One case on each of cs[0..n_ctx-1]: data and reference once, then each context. */
static int run_nm(const kt_ctx *cs, int n_ctx, const nm_case *nc, const kiln_spec *spec)
{
    const int64_t rows = nc->rows, dim = nc->dim, n = rows * dim;
    const unsigned opt = nc->opt;
    char desc[448], sname[KILN_SPEC_NAME_MAX] = "";
    if (spec) kiln_spec_name(spec, sname, sizeof sname);
    snprintf(desc, sizeof desc, "norm %s dtype=%s rows=%lld dim=%lld eps=%g%s%s%s%s%s%s%s%s",
             nc->kind == KILN_NORM_RMS ? "rms" : "layer", kt_dtype_name(nc->dt), (long long)rows, (long long)dim, (double)nc->eps,
             (opt & NM_RESIDUAL) ? " +residual" : "", (opt & NM_SUM) ? " +sum_out" : "", (opt & NM_WEIGHT) ? " +weight" : "",
             (opt & NM_BIAS) ? " +bias" : "", (opt & NM_Y_IS_X) ? " y=x" : "", (opt & NM_SUM_IS_RES) ? " sum_out=residual" : "",
             spec ? " spec=" : "", sname);
    kt_rng r = kt_rng_make(nm_tag(nc));
    float *xf = kt_randn(&r, (size_t)n, nc->mean, nc->sigma), *rf = kt_randn(&r, (size_t)n, 0, 1);
    float *wf = kt_randn(&r, (size_t)dim, 1, 0.2), *bf = kt_randn(&r, (size_t)dim, 0, 0.5);
    void *xb = kt_encode(nc->dt, xf, rows, dim, NULL), *rb = kt_encode(nc->dt, rf, rows, dim, NULL);
    double *yref = malloc(sizeof(double) * (size_t)n), *sref = malloc(sizeof(double) * (size_t)n);
    kiln_ref_norm_args ra = {.kind = nc->kind, .rows = rows, .dim = dim, .dtype = nc->dt, .x = xb,
                             .residual = (opt & NM_RESIDUAL) ? rb : NULL, .weight = (opt & NM_WEIGHT) ? wf : NULL,
                             .bias = (opt & NM_BIAS) ? bf : NULL, .eps = nc->eps};
    kiln_status st = kiln_ref_norm(&ra, yref, sref);
    cr_assert_eq(st, KILN_OK, "%s: reference failed: %s", desc, kiln_last_error());

    int passed = 0;
    for (int ci = 0; ci < n_ctx; ci++) {
        kiln_context *ctx = cs[ci].ctx;
        char what[512];
        snprintf(what, sizeof what, "%s %s", cs[ci].label, desc);
        const int64_t ne[2] = {rows, dim};
        kiln_tensor x = kt_tensor(ctx, nc->dt, 2, ne, xb), res = {0}, sum = {0}, w = {0}, b = {0}, y;
        if (opt & NM_RESIDUAL) res = kt_tensor(ctx, nc->dt, 2, ne, rb);
        if (opt & NM_WEIGHT) w = kt_tensor(ctx, KILN_F32, 1, &dim, wf);
        if (opt & NM_BIAS) b = kt_tensor(ctx, KILN_F32, 1, &dim, bf);
        y = (opt & NM_Y_IS_X) ? x : kt_tensor(ctx, nc->dt, 2, ne, NULL);
        const kiln_tensor *sum_p = NULL;
        if (opt & NM_SUM_IS_RES) sum_p = &res;
        else if (opt & NM_SUM) sum = kt_tensor(ctx, nc->dt, 2, ne, NULL), sum_p = &sum;
        kiln_norm_params p = {.kind = nc->kind, .x = x, .residual = (opt & NM_RESIDUAL) ? &res : NULL,
                              .weight = (opt & NM_WEIGHT) ? &w : NULL, .bias = (opt & NM_BIAS) ? &b : NULL, .sum_out = sum_p,
                              .y = y, .eps = nc->eps};
        kt_trace(what);
        st = spec ? kiln_kernel_run(ctx, spec, &p) : kiln_norm(ctx, &p);
        char what_sum[560];
        snprintf(what_sum, sizeof what_sum, "%s (sum_out)", what);
        if (st != KILN_OK) {
            kt_fail_status(what, spec ? "kiln_kernel_run" : "kiln_norm", st);
        } else {
            int ok = kt_check(what, &y, yref, NULL, nm_tol(nc->dt));
            if (sum_p) ok &= kt_check(what_sum, sum_p, sref, NULL, nm_tol(nc->dt));
            passed += ok;
        }
        kt_tensor_free(&x), kt_tensor_free(&res), kt_tensor_free(&w), kt_tensor_free(&b), kt_tensor_free(&sum);
        if (!(opt & NM_Y_IS_X)) kt_tensor_free(&y);
    }
    free(xf), free(rf), free(wf), free(bf), free(xb), free(rb), free(yref), free(sref);
    return passed;
}

static const kiln_dtype dts[3] = {KILN_F32, KILN_F16, KILN_BF16};

/* kinds x dtypes x dims x rows; the optional tensors rotate with the case. */
Test(op_norm, dims_x_rows_x_dtypes, .timeout = 300)
{
    const int64_t dims[] = {1, 64, 172, 4096, 4097}, rows[] = {1, 3, 33};
    kt_ctx_list L;
    kt_contexts_open(&L);
    {
        unsigned i = 0;
        for (int kind = 0; kind < 2; kind++)
            for (int d = 0; d < 3; d++)
                for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
                    for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++, i++) {
                        unsigned opt = (i * 5u) & (NM_RESIDUAL | NM_SUM | NM_WEIGHT | NM_BIAS);
                        if (kind == KILN_NORM_RMS) opt &= ~(unsigned)NM_BIAS;
                        nm_case nc = {.kind = (kiln_norm_kind)kind, .dt = dts[d], .rows = rows[ri], .dim = dims[di], .opt = opt,
                                      .eps = 1e-5f, .mean = 0.3, .sigma = 1};
                        run_nm(L.items, L.count, &nc, NULL);
                    }
    }
    kt_contexts_close(&L);
}

/* Every combination of residual / sum_out / weight / bias, and the in-place
 * forms (y = x; sum_out = residual), on an odd dim. */
Test(op_norm, options_and_aliasing, .timeout = 300)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (int kind = 0; kind < 2; kind++)
            for (unsigned opt = 0; opt < 64; opt++) {
                if (kind == KILN_NORM_RMS && (opt & NM_BIAS)) continue;
                if ((opt & NM_SUM_IS_RES) && !(opt & NM_RESIDUAL)) continue;
                if ((opt & NM_SUM_IS_RES) && (opt & NM_SUM)) continue;
                nm_case nc = {.kind = (kiln_norm_kind)kind, .dt = dts[opt % 3], .rows = 5, .dim = 172, .opt = opt, .eps = 1e-6f,
                              .mean = 0.3, .sigma = 1};
                run_nm(L.items, L.count, &nc, NULL);
            }
    kt_contexts_close(&L);
}

/* eps that dominates (tiny inputs) and a row far from zero mean, where a
 * one-pass E[x²] − E[x]² in f32 would lose digits. */
Test(op_norm, eps_and_offset_rows)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (int kind = 0; kind < 2; kind++) {
            nm_case tiny = {.kind = (kiln_norm_kind)kind, .dt = KILN_F32, .rows = 4, .dim = 256, .opt = NM_WEIGHT, .eps = 1e-2f,
                            .mean = 0, .sigma = 0.03};
            nm_case off = {.kind = (kiln_norm_kind)kind, .dt = KILN_F32, .rows = 3, .dim = 4096, .opt = NM_WEIGHT, .eps = 1e-5f,
                           .mean = 10, .sigma = 1};
            run_nm(L.items, L.count, &tiny, NULL);
            run_nm(L.items, L.count, &off, NULL);
        }
    kt_contexts_close(&L);
}

/* stories260K: RMSNorm over dim 64 with the residual stream updated in place. */
Test(op_norm, stories260k_shapes)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (int t = 0; t < 2; t++) {
            nm_case nc = {.kind = KILN_NORM_RMS, .dt = KILN_F32, .rows = t ? 7 : 1, .dim = 64,
                          .opt = NM_RESIDUAL | NM_WEIGHT | NM_SUM_IS_RES, .eps = 1e-5f, .mean = 0, .sigma = 1};
            run_nm(L.items, L.count, &nc, NULL);
        }
    kt_contexts_close(&L);
}

/* Many rows of a 7B-sized hidden state. */
Test(op_norm, large, .timeout = 300)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
    {
        nm_case nc = {.kind = KILN_NORM_RMS, .dt = KILN_F16, .rows = 512, .dim = 4096, .opt = NM_RESIDUAL | NM_SUM | NM_WEIGHT,
                      .eps = 1e-6f, .mean = 0, .sigma = 1};
        run_nm(L.items, L.count, &nc, NULL);
    }
    kt_contexts_close(&L);
}

/* One manifest instance on context c: its own dtypes at two awkward shapes. */
static void manifest_case(const kt_ctx *c, const kiln_spec *s, int index)
{
    (void)index;
    const kiln_norm_kind kind = (s->epilogue & KILN_SPEC_NORM_LAYER) ? KILN_NORM_LAYER : KILN_NORM_RMS;
    unsigned opt = NM_WEIGHT | NM_SUM | ((s->epilogue & KILN_SPEC_NORM_RESIDUAL) ? NM_RESIDUAL : 0u) |
                   (kind == KILN_NORM_LAYER ? NM_BIAS : 0u);
    nm_case a = {.kind = kind, .dt = s->act, .rows = 1, .dim = 4097, .opt = opt, .eps = 1e-5f, .mean = 0.3, .sigma = 1};
    nm_case b = a;
    b.rows = 9, b.dim = 172, b.opt &= ~(unsigned)NM_SUM;
    run_nm(c, 1, &a, s);
    run_nm(c, 1, &b, s);
}

/* Every norm manifest instance the context can implement. */
Test(op_norm, manifest_specs, .timeout = 300)
{
    kt_for_each_manifest_spec(KILN_OP_NORM, manifest_case);
}
