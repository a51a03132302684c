/* tests/test_op_matmul_int8.c — the cpu's integer matmul paths (8-bit
 * activations, kernels/cpu/templates/matmul_int8.c, matmul_panel.c) held to
 * what rounding the activations to 8 bits can cost, and no more, on the inputs
 * that make int8 kernels go wrong: outlier activations (a few channels 100x
 * the rest, as real LLMs have), large magnitudes, and weights and activations
 * at the ends of their ranges, where the pair sums of maddubs meet int16.
 *
 * test_op_matmul.c checks every path against the exact product at a tolerance
 * for Gaussian data (2.5e-2 relative): an error of several quantization steps
 * passes there. Here each output has its own bound. An activation block of
 * 32 values quantized to 8 bits by its largest magnitude a (step a / 127,
 * rounded to nearest) moves each value by at most a / 254, so
 *     |y - y_exact| <= sum over blocks of (a_b / 254) * sum_{i in b} |w_i|
 * (q8_K's super-blocks of 256: a sub-block's step is at most
 * (a_s + a_top / 255) / 127, docs/CPU.md). The bound holds for any correct
 * kernel, whatever its summation order; f32 rounding adds 1e-5 of
 * sum |w_i x_i|. Every ISA the machine has runs each case at n = 1
 * (mat-vec), 2 (two-column micro-tile) and 3, 8, 67 (panels). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/harness.h"

/* How the activations are drawn. */
typedef enum {
    ACT_GAUSS,    /* N(0, 1) */
    ACT_OUTLIERS, /* N(0, 1) with two channels at +-200 and 1 in 40 values x30 */
    ACT_LARGE,    /* N(0, 1e4^2): scale must not matter */
    ACT_EXTREME,  /* every value +-amax: every q8 value +-127 */
    ACT_KINDS
} act_kind;

static const char *const act_names[ACT_KINDS] = {"gauss", "outliers", "large", "extreme"};

static float draw_act(kt_rng *r, act_kind kind, int64_t i)
{
    double g = kt_gauss(r);
    switch (kind) {
    case ACT_OUTLIERS:
        if (i == 7 || i == 129) return (float)(g < 0 ? -200.0 : 200.0);
        return (float)(kt_below(r, 40) == 0 ? 30.0 * g : g);
    case ACT_LARGE: return (float)(1e4 * g);
    case ACT_EXTREME: return g < 0 ? -3.0f : 3.0f;
    default: return (float)g;
    }
}

/* Weights: Gaussian, or (extreme) every value at the largest magnitude the
 * row's scale allows with one sign per block, so the unsigned codes sit at
 * their ends (0 and 15 / 31 / 63; q8_0 +-127) and line up with ACT_EXTREME's
 * +-127 activations. */
static float draw_w(kt_rng *r, int extreme, int64_t i)
{
    if (!extreme) return (float)kt_gauss(r);
    (void)r;
    return ((i / 32) & 1) ? -1.0f : 1.0f;
}

/* Per-output bound on the error of 8-bit activations (see the header), from
 * the decoded weights wd[m][k] and the f32 activations x[n][k]; ref gets the
 * exact product. */
static void exact_and_bound(const double *wd, const float *x, int64_t n, int64_t m, int64_t k, int super256,
                            double *ref, double *bound)
{
    double *step = malloc(sizeof(double) * (size_t)k); /* quantization step of each activation, per column */
    for (int64_t c = 0; c < n; c++) {
        const float *xc = x + c * k;
        for (int64_t b = 0; b < k; b += 32) {
            double a = 0, top = 0;
            for (int i = 0; i < 32; i++) a = fmax(a, fabs(xc[b + i]));
            if (super256) {
                int64_t s0 = b / 256 * 256;
                for (int64_t i = s0; i < s0 + 256 && i < k; i++) top = fmax(top, fabs(xc[i]));
            }
            for (int i = 0; i < 32; i++) step[b + i] = (a + top / 255.0) / 127.0;
        }
        for (int64_t r = 0; r < m; r++) {
            const double *wr = wd + r * k;
            double y = 0, e = 0, mag = 0;
            for (int64_t i = 0; i < k; i++) {
                y += wr[i] * xc[i];
                e += fabs(wr[i]) * step[i] * 0.5;
                mag += fabs(wr[i] * xc[i]);
            }
            ref[c * m + r] = y;
            bound[c * m + r] = e + 1e-5 * mag + 1e-30;
        }
    }
    free(step);
}

/* Runs one case on every cpu context, recording a failure (with the worst
 * output) for each that has an output over its bound. */
static void run_case(const kt_ctx_list *L, kiln_dtype fmt, act_kind kind, int wext, int64_t n, int64_t m, int64_t k)
{
    char desc[256];
    snprintf(desc, sizeof desc, "matmul fmt=%s x=%s w=%s n=%lld m=%lld k=%lld", kt_dtype_name(fmt), act_names[kind],
             wext ? "extreme" : "gauss", (long long)n, (long long)m, (long long)k);
    kt_rng r = kt_rng_make((uint64_t)fmt * 1000003u ^ (uint64_t)kind * 7919u ^ (uint64_t)wext * 31u ^ (uint64_t)n * 65537u ^
                           (uint64_t)k);
    float *x = malloc(sizeof(float) * (size_t)(n * k)), *wf = malloc(sizeof(float) * (size_t)(m * k));
    for (int64_t i = 0; i < n * k; i++) x[i] = draw_act(&r, kind, i % k);
    for (int64_t i = 0; i < m * k; i++) wf[i] = draw_w(&r, wext, i % k);
    void *wb = kt_encode(fmt, wf, m, k, NULL);
    double *wd = malloc(sizeof(double) * (size_t)(m * k));
    kt_decode(fmt, wb, m * k, wd);
    double *ref = malloc(sizeof(double) * (size_t)(n * m)), *bound = malloc(sizeof(double) * (size_t)(n * m));
    exact_and_bound(wd, x, n, m, k, kiln_dtype_get(fmt)->block_elems == 256, ref, bound);

    for (int ci = 0; ci < L->count; ci++) {
        const kt_ctx *c = &L->items[ci];
        if (c->backend != KILN_BACKEND_CPU) continue;
        const int64_t xne[2] = {n, k}, wne[2] = {m, k}, yne[2] = {n, m};
        kiln_tensor xt = kt_tensor(c->ctx, KILN_F32, 2, xne, x), wt = kt_tensor(c->ctx, fmt, 2, wne, wb),
                    yt = kt_tensor(c->ctx, KILN_F32, 2, yne, NULL);
        kiln_matmul_params p = {.x = xt, .w = wt, .y = yt};
        char what[320];
        snprintf(what, sizeof what, "%s %s", c->label, desc);
        kt_trace(what);
        kiln_status st = kiln_matmul(c->ctx, &p);
        if (st != KILN_OK) {
            kt_fail_status(what, "kiln_matmul", st);
        } else {
            float *y = kt_download(&yt, NULL);
            int64_t over = 0, worst = -1;
            double worst_ratio = 0;
            for (int64_t i = 0; i < n * m; i++) {
                double ratio = fabs(y[i] - ref[i]) / bound[i];
                if (!(ratio <= 1.0)) over++;
                if (!(ratio <= worst_ratio)) worst_ratio = ratio, worst = i;
            }
            if (getenv("KILN_TEST_VERBOSE")) /* the margins */
                fprintf(stderr, "%s: worst error %.3f x the bound\n", what, worst_ratio);
            if (over)
                cr_expect_fail("%s [seed=%llu]: %lld of %lld outputs off by more than 8-bit activations allow; worst "
                               "[col %lld, row %lld]: got %.7g, exact %.7g, error %.3g = %.3g x the bound",
                               what, (unsigned long long)kt_seed(), (long long)over, (long long)(n * m),
                               (long long)(worst / m), (long long)(worst % m), y[worst], ref[worst],
                               fabs(y[worst] - ref[worst]), worst_ratio);
            free(y);
        }
        kt_tensor_free(&xt), kt_tensor_free(&wt), kt_tensor_free(&yt);
    }
    free(x), free(wf), free(wb), free(wd), free(ref), free(bound);
}

static const kiln_dtype int8_formats[] = {KILN_Q4_0, KILN_Q4_1, KILN_Q5_0, KILN_Q5_1,
                                          KILN_Q8_0, KILN_Q4_K, KILN_Q5_K, KILN_Q6_K};
static const int64_t token_counts[] = {1, 2, 3, 8, 67};

Test(op_matmul_int8, activation_rounding_bound, .timeout = 600)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
    for (size_t f = 0; f < sizeof int8_formats / sizeof int8_formats[0]; f++) {
        const int64_t k = kiln_dtype_get(int8_formats[f])->block_elems == 256 ? 3 * 256 : 24 * 32;
        for (int kind = 0; kind < ACT_KINDS; kind++)
            for (int wext = 0; wext < 2; wext++) {
                if (wext && kind != ACT_EXTREME && kind != ACT_OUTLIERS) continue;
                for (size_t t = 0; t < sizeof token_counts / sizeof token_counts[0]; t++)
                    run_case(&L, int8_formats[f], (act_kind)kind, wext, token_counts[t], 19, k);
            }
    }
    kt_contexts_close(&L);
}
