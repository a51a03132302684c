/* tests/test_ref.c — the reference kernels against hand-computed cases and
 * identities (they are what every backend is judged by, so they are checked
 * on their own first, without any backend). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/ref.h"
#include "support/harness.h"

#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol) * fmax(1.0, fabs(b)))

Test(ref, load_row_plain_types)
{
    const uint16_t h[] = {0x3c00, 0xc000, 0x0001, 0x7bff, 0x3555};
    const double hv[] = {1.0, -2.0, ldexp(1.0, -24), 65504.0, 0.333251953125};
    double out[5];
    cr_assert_eq(kiln_ref_load_row(KILN_F16, h, 5, out), KILN_OK);
    for (int i = 0; i < 5; i++) cr_expect_eq(out[i], hv[i], "f16 %#x -> %.17g, expected %.17g", h[i], out[i], hv[i]);
    const uint16_t b[] = {0x3f80, 0x4049, 0xbf00};
    const double bv[] = {1.0, 3.140625, -0.5};
    cr_assert_eq(kiln_ref_load_row(KILN_BF16, b, 3, out), KILN_OK);
    for (int i = 0; i < 3; i++) cr_expect_eq(out[i], bv[i], "bf16 %#x -> %.17g", b[i], out[i]);
    const int32_t iv[] = {-7, 123456};
    cr_assert_eq(kiln_ref_load_row(KILN_I32, iv, 2, out), KILN_OK);
    cr_expect(out[0] == -7 && out[1] == 123456);
}

Test(ref, matmul_hand_case)
{
    /* x [2][2], W [3][2]: y = x·Wᵀ = [[1,2,3],[3,4,7]] */
    const float x[] = {1, 2, 3, 4}, w[] = {1, 0, 0, 1, 1, 1};
    const float bias[] = {0.5f, -1.0f, 2.0f}, res[] = {10, 20, 30, 40, 50, 60};
    double y[6], s[6];
    kiln_ref_matmul_args a = {.n = 2, .m = 3, .k = 2, .x_dtype = KILN_F32, .x = x, .w_dtype = KILN_F32, .w = w};
    cr_assert_eq(kiln_ref_matmul(&a, y, s), KILN_OK, "%s", kiln_last_error());
    const double plain[] = {1, 2, 3, 3, 4, 7};
    for (int i = 0; i < 6; i++) cr_expect_eq(y[i], plain[i], "y[%d]=%g", i, y[i]);
    /* err_scale = L2 norm of the products x_i·w_i: row 1, col 2: sqrt(3² + 4²) = 5 */
    cr_expect(NEAR(s[5], 5.0, 1e-15), "err_scale[5]=%g", s[5]);

    a.epilogue = KILN_EPI_BIAS | KILN_EPI_RESIDUAL;
    a.bias = bias;
    a.residual = res;
    a.residual_dtype = KILN_F32;
    cr_assert_eq(kiln_ref_matmul(&a, y, NULL), KILN_OK, "%s", kiln_last_error());
    for (int i = 0; i < 6; i++)
        cr_expect_eq(y[i], plain[i] + bias[i % 3] + res[i], "bias+residual y[%d]=%g", i, y[i]);

    /* SWIGLU with W_up = 2·W: y = silu(g + b) · (2g + b), then + residual */
    const float wu[] = {2, 0, 0, 2, 2, 2};
    a.w_up = wu;
    a.epilogue = KILN_EPI_SWIGLU | KILN_EPI_BIAS | KILN_EPI_RESIDUAL;
    cr_assert_eq(kiln_ref_matmul(&a, y, NULL), KILN_OK, "%s", kiln_last_error());
    for (int i = 0; i < 6; i++) {
        double g = plain[i] + bias[i % 3], u = 2 * plain[i] + bias[i % 3];
        double want = g / (1 + exp(-g)) * u + res[i];
        cr_expect(NEAR(y[i], want, 1e-14), "swiglu y[%d]=%.17g want %.17g", i, y[i], want);
    }
}

Test(ref, matmul_block_format_equals_its_dequantized_floats)
{
    /* q8_0 W of 3 rows x 96 (3 blocks per row): the reference must dot with
     * exactly the dequantized values, row after row. */
    kt_rng r = kt_rng_make(11);
    const int64_t m = 3, k = 96, n = 2;
    float *wf = kt_randn(&r, (size_t)(m * k), 0, 1), *x = kt_randn(&r, (size_t)(n * k), 0, 1);
    size_t bytes;
    void *wq = kt_encode(KILN_Q8_0, wf, m, k, &bytes);
    cr_assert_eq(bytes, (size_t)(m * 3 * 34));
    float *wd = malloc(sizeof(float) * (size_t)(m * k));
    for (int64_t j = 0; j < m; j++) cr_assert_eq(kiln_dequantize_row(KILN_Q8_0, (char *)wq + j * 3 * 34, wd + j * k, k), 0);
    double yq[6], yf[6];
    kiln_ref_matmul_args a = {.n = n, .m = m, .k = k, .x_dtype = KILN_F32, .x = x, .w_dtype = KILN_Q8_0, .w = wq};
    cr_assert_eq(kiln_ref_matmul(&a, yq, NULL), KILN_OK, "%s", kiln_last_error());
    a.w_dtype = KILN_F32;
    a.w = wd;
    cr_assert_eq(kiln_ref_matmul(&a, yf, NULL), KILN_OK, "%s", kiln_last_error());
    for (int i = 0; i < 6; i++) cr_expect_eq(yq[i], yf[i], "[%d] %.17g vs %.17g", i, yq[i], yf[i]);
    free(wf), free(x), free(wq), free(wd);
}

Test(ref, matmul_row_strides)
{
    /* x rows padded to 5 floats must give the packed result */
    const float xs[] = {1, 2, 3, -99, -99, 4, 5, 6, -99, -99};
    const float x[] = {1, 2, 3, 4, 5, 6}, w[] = {1, 1, 1, 0, 1, 0};
    double y1[4], y2[4];
    kiln_ref_matmul_args a = {.n = 2, .m = 2, .k = 3, .x_dtype = KILN_F32, .x = x, .w_dtype = KILN_F32, .w = w};
    cr_assert_eq(kiln_ref_matmul(&a, y1, NULL), KILN_OK);
    a.x = xs;
    a.x_stride = 5 * sizeof(float);
    cr_assert_eq(kiln_ref_matmul(&a, y2, NULL), KILN_OK);
    for (int i = 0; i < 4; i++) cr_expect_eq(y1[i], y2[i]);
    cr_expect(y1[0] == 6 && y1[1] == 2 && y1[2] == 15 && y1[3] == 5);
}

Test(ref, flash_hand_case)
{
    /* head_dim 1, q = 1, keys 0 and ln 2, scale 1: p = [1/3, 2/3]; v = [3, 6] -> 5 */
    const float q[] = {1}, k[] = {0, (float)M_LN2}, v[] = {3, 6};
    double o, e;
    kiln_ref_flash_attn_args a = {.n_q = 1, .n_kv = 2, .n_head = 1, .n_kv_head = 1, .head_dim = 1, .q_dtype = KILN_F32,
                                  .q = q, .kv_dtype = KILN_F32, .k = k, .v = v, .scale = 1.0};
    cr_assert_eq(kiln_ref_flash_attn(&a, &o, &e), KILN_OK, "%s", kiln_last_error());
    cr_expect(NEAR(o, 5.0, 1e-7), "o=%.17g", o); /* k was rounded to float */
    cr_expect(NEAR(e, sqrt(1.0 + 16.0), 1e-6), "err_scale=%.17g", e);
}

static float *fill(kt_rng *r, size_t n) { return kt_randn(r, n, 0, 1); }

Test(ref, flash_equal_scores_average_v)
{
    /* q = 0: every score is 0, so o is the mean of the visible V rows. */
    kt_rng r = kt_rng_make(21);
    const int64_t nq = 5, nkv = 7, hd = 3;
    float *q = calloc((size_t)(nq * hd), sizeof(float)), *k = fill(&r, (size_t)(nkv * hd)), *v = fill(&r, (size_t)(nkv * hd));
    double o[5 * 3];
    kiln_ref_flash_attn_args a = {.n_q = nq, .n_kv = nkv, .n_head = 1, .n_kv_head = 1, .head_dim = hd, .q_dtype = KILN_F32,
                                  .q = q, .kv_dtype = KILN_F32, .k = k, .v = v, .scale = 0.7};
    cr_assert_eq(kiln_ref_flash_attn(&a, o, NULL), KILN_OK);
    for (int64_t d = 0; d < hd; d++) {
        double mean = 0;
        for (int64_t j = 0; j < nkv; j++) mean += v[j * hd + d];
        mean /= nkv;
        for (int64_t i = 0; i < nq; i++) cr_expect(NEAR(o[i * hd + d], mean, 1e-14));
    }
    /* causal from q_pos0 = 1: query i sees KV 0..i+1 */
    a.causal = 1;
    a.q_pos0 = 1;
    cr_assert_eq(kiln_ref_flash_attn(&a, o, NULL), KILN_OK);
    for (int64_t i = 0; i < nq; i++)
        for (int64_t d = 0; d < hd; d++) {
            double mean = 0;
            for (int64_t j = 0; j <= i + 1; j++) mean += v[j * hd + d];
            mean /= (double)(i + 2);
            cr_expect(NEAR(o[i * hd + d], mean, 1e-14), "causal o[%lld][%lld]", (long long)i, (long long)d);
        }
    free(q), free(k), free(v);
}

Test(ref, flash_causal_row0_sees_only_kv0)
{
    kt_rng r = kt_rng_make(31);
    const int64_t nq = 4, nkv = 4, nh = 2, hd = 8;
    float *q = fill(&r, (size_t)(nq * nh * hd)), *k = fill(&r, (size_t)(nkv * nh * hd)), *v = fill(&r, (size_t)(nkv * nh * hd));
    double o[4 * 2 * 8];
    kiln_ref_flash_attn_args a = {.n_q = nq, .n_kv = nkv, .n_head = nh, .n_kv_head = nh, .head_dim = hd, .q_dtype = KILN_F32,
                                  .q = q, .kv_dtype = KILN_F32, .k = k, .v = v, .scale = 0.35, .causal = 1};
    cr_assert_eq(kiln_ref_flash_attn(&a, o, NULL), KILN_OK);
    for (int64_t h = 0; h < nh; h++)
        for (int64_t d = 0; d < hd; d++) cr_expect_eq(o[h * hd + d], (double)v[h * hd + d], "head %lld dim %lld", (long long)h, (long long)d);
    /* and the last query (position 3 = n_kv-1) sees everything: equal to non-causal */
    double o2[4 * 2 * 8];
    a.causal = 0;
    cr_assert_eq(kiln_ref_flash_attn(&a, o2, NULL), KILN_OK);
    for (int64_t i = 3 * nh * hd; i < nq * nh * hd; i++) cr_expect(NEAR(o[i], o2[i], 1e-14));
    free(q), free(k), free(v);
}

Test(ref, flash_gqa_equals_repeated_kv)
{
    kt_rng r = kt_rng_make(41);
    const int64_t nq = 3, nkv = 6, nh = 4, nkvh = 2, hd = 5;
    float *q = fill(&r, (size_t)(nq * nh * hd)), *k = fill(&r, (size_t)(nkv * nkvh * hd)), *v = fill(&r, (size_t)(nkv * nkvh * hd));
    float *k4 = malloc(sizeof(float) * (size_t)(nkv * nh * hd)), *v4 = malloc(sizeof(float) * (size_t)(nkv * nh * hd));
    for (int64_t j = 0; j < nkv; j++)
        for (int64_t h = 0; h < nh; h++)
            for (int64_t d = 0; d < hd; d++) {
                k4[(j * nh + h) * hd + d] = k[(j * nkvh + h / 2) * hd + d];
                v4[(j * nh + h) * hd + d] = v[(j * nkvh + h / 2) * hd + d];
            }
    double og[3 * 4 * 5], om[3 * 4 * 5];
    kiln_ref_flash_attn_args a = {.n_q = nq, .n_kv = nkv, .n_head = nh, .n_kv_head = nkvh, .head_dim = hd, .q_dtype = KILN_F32,
                                  .q = q, .kv_dtype = KILN_F32, .k = k, .v = v, .scale = 0.4, .causal = 1, .q_pos0 = 2};
    cr_assert_eq(kiln_ref_flash_attn(&a, og, NULL), KILN_OK);
    a.n_kv_head = nh;
    a.k = k4;
    a.v = v4;
    cr_assert_eq(kiln_ref_flash_attn(&a, om, NULL), KILN_OK);
    for (int i = 0; i < 60; i++) cr_expect_eq(og[i], om[i], "[%d]", i);
    free(q), free(k), free(v), free(k4), free(v4);
}

Test(ref, paged_equals_flash_on_gathered_kv)
{
    kt_rng r = kt_rng_make(51);
    const int64_t nseq = 3, nh = 4, nkvh = 2, hd = 8, bs = 8, nblocks = 9, maxb = 3;
    const int32_t lens[3] = {1, 17, 24};
    int32_t table[3][3] = {{7, 0, 0}, {4, 1, 8}, {2, 6, 3}}; /* scrambled; unused entries 0 */
    const size_t slot = (size_t)(nkvh * hd);
    float *q = fill(&r, (size_t)(nseq * nh * hd));
    float *kc = fill(&r, (size_t)nblocks * bs * slot), *vc = fill(&r, (size_t)nblocks * bs * slot);
    double op[3 * 4 * 8];
    kiln_ref_paged_attn_args a = {.n_seq = nseq, .n_head = nh, .n_kv_head = nkvh, .head_dim = hd, .n_blocks = nblocks,
                                  .block_size = bs, .max_blocks_per_seq = maxb, .q_dtype = KILN_F32, .q = q,
                                  .kv_dtype = KILN_F32, .k_cache = kc, .v_cache = vc, .block_table = &table[0][0],
                                  .seq_lens = lens, .scale = 0.3};
    cr_assert_eq(kiln_ref_paged_attn(&a, op, NULL), KILN_OK, "%s", kiln_last_error());
    for (int64_t s = 0; s < nseq; s++) {
        float *k = malloc(sizeof(float) * (size_t)lens[s] * slot), *v = malloc(sizeof(float) * (size_t)lens[s] * slot);
        for (int64_t t = 0; t < lens[s]; t++) {
            size_t src = ((size_t)table[s][t / bs] * bs + (size_t)(t % bs)) * slot;
            memcpy(k + t * slot, kc + src, slot * sizeof(float));
            memcpy(v + t * slot, vc + src, slot * sizeof(float));
        }
        double of[4 * 8];
        kiln_ref_flash_attn_args f = {.n_q = 1, .n_kv = lens[s], .n_head = nh, .n_kv_head = nkvh, .head_dim = hd,
                                      .q_dtype = KILN_F32, .q = q + s * nh * hd, .kv_dtype = KILN_F32, .k = k, .v = v,
                                      .scale = 0.3};
        cr_assert_eq(kiln_ref_flash_attn(&f, of, NULL), KILN_OK);
        for (int i = 0; i < nh * hd; i++) cr_expect_eq(op[s * nh * hd + i], of[i], "seq %lld [%d]", (long long)s, i);
        free(k), free(v);
    }
    /* a block table entry outside the cache is rejected, not read */
    table[1][2] = 9;
    cr_expect_eq(kiln_ref_paged_attn(&a, op, NULL), KILN_ERR_SHAPE);
    cr_expect(strstr(kiln_last_error(), "block_table") != NULL, "%s", kiln_last_error());
    free(q), free(kc), free(vc);
}

Test(ref, norm_hand_cases)
{
    const float x[] = {1, 2, 3, 4};
    double y[4], s[4];
    kiln_ref_norm_args a = {.kind = KILN_NORM_RMS, .rows = 1, .dim = 4, .dtype = KILN_F32, .x = x, .eps = 1e-6};
    cr_assert_eq(kiln_ref_norm(&a, y, s), KILN_OK);
    for (int i = 0; i < 4; i++) {
        cr_expect(NEAR(y[i], x[i] / sqrt(7.5 + 1e-6), 1e-15), "rms y[%d]=%.17g", i, y[i]);
        cr_expect_eq(s[i], x[i]);
    }
    a.kind = KILN_NORM_LAYER;
    const float w[] = {1, 2, 3, 4}, b[] = {0.5f, 0.5f, 0.5f, 0.5f};
    a.weight = w;
    a.bias = b;
    cr_assert_eq(kiln_ref_norm(&a, y, NULL), KILN_OK);
    for (int i = 0; i < 4; i++) {
        double want = (x[i] - 2.5) / sqrt(1.25 + 1e-6) * w[i] + 0.5;
        cr_expect(NEAR(y[i], want, 1e-15), "layer y[%d]=%.17g want %.17g", i, y[i], want);
    }
    /* residual: s = x + r */
    const float res[] = {-1, -2, -3, 6};
    a.residual = res;
    a.bias = NULL;
    a.weight = NULL;
    cr_assert_eq(kiln_ref_norm(&a, y, s), KILN_OK);
    cr_expect(s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 10);
    /* s = [0,0,0,10]: mean 2.5, var 18.75 */
    cr_expect(NEAR(y[3], 7.5 / sqrt(18.75 + 1e-6), 1e-15));
}

Test(ref, norm_of_constant_row)
{
    float x[64];
    for (int i = 0; i < 64; i++) x[i] = -3.0f;
    double y[64];
    kiln_ref_norm_args a = {.kind = KILN_NORM_RMS, .rows = 1, .dim = 64, .dtype = KILN_F32, .x = x, .eps = 1e-5};
    cr_assert_eq(kiln_ref_norm(&a, y, NULL), KILN_OK);
    for (int i = 0; i < 64; i++) cr_expect(NEAR(y[i], -3.0 / sqrt(9.0 + 1e-5), 1e-15));
    a.kind = KILN_NORM_LAYER; /* centred: a constant row normalizes to 0 (then the bias) */
    cr_assert_eq(kiln_ref_norm(&a, y, NULL), KILN_OK);
    for (int i = 0; i < 64; i++) cr_expect_eq(y[i], 0.0);
}

Test(ref, rejects_bad_arguments)
{
    const float x[4] = {0};
    double y[4];
    kiln_ref_matmul_args m = {.n = 1, .m = 1, .k = 3, .x_dtype = KILN_F32, .x = x, .w_dtype = KILN_Q4_0, .w = x};
    cr_expect_eq(kiln_ref_matmul(&m, y, NULL), KILN_ERR_SHAPE, "k=3 of q4_0 must be rejected");
    m.w_dtype = KILN_F32;
    m.epilogue = KILN_EPI_SWIGLU;
    cr_expect_eq(kiln_ref_matmul(&m, y, NULL), KILN_ERR_INVALID_ARG, "SWIGLU without w_up");
    kiln_ref_flash_attn_args f = {.n_q = 1, .n_kv = 1, .n_head = 3, .n_kv_head = 2, .head_dim = 1, .q_dtype = KILN_F32,
                                  .q = x, .kv_dtype = KILN_F32, .k = x, .v = x, .scale = 1};
    cr_expect_eq(kiln_ref_flash_attn(&f, y, NULL), KILN_ERR_SHAPE);
    cr_expect(strstr(kiln_last_error(), "multiple") != NULL, "%s", kiln_last_error());
    kiln_ref_norm_args n = {.kind = KILN_NORM_RMS, .rows = 1, .dim = 4, .dtype = KILN_F32, .x = x, .eps = 0};
    cr_expect_eq(kiln_ref_norm(&n, y, NULL), KILN_ERR_INVALID_ARG);
}

/* The harness's comparison itself: it must flag NaN, relative and element
 * errors, and judge an all-zero reference by absolute error. */
Test(ref, harness_comparison_can_fail)
{
    const double ref[4] = {1, -2, 3, 0.5};
    float out[4] = {1, -2, 3, 0.5f};
    const kt_tol tol = {1e-5, 1e-5};
    cr_expect(kt_compare_host(KILN_F32, out, 4, ref, NULL, tol).ok, "identical outputs must pass");
    out[2] = 3.001f; /* 1e-3 of 3 */
    kt_stats s = kt_compare_host(KILN_F32, out, 4, ref, NULL, tol);
    cr_expect(!s.ok && s.worst == 2, "a 3e-4 relative error must fail a 1e-5 tolerance (rel %g)", s.rel);
    out[2] = NAN;
    s = kt_compare_host(KILN_F32, out, 4, ref, NULL, (kt_tol){1e9, 1e9});
    cr_expect(!s.ok && s.nonfinite == 1 && s.first_nonfinite == 2, "NaN must fail whatever the tolerance");
    const uint16_t poisoned[2] = {0xffff, 0xffff}; /* what kt_poison leaves in f16/bf16 outputs */
    const double zero[2] = {0, 0};
    cr_expect(!kt_compare_host(KILN_F16, poisoned, 2, zero, NULL, (kt_tol){1e9, 1e9}).ok);
    cr_expect(!kt_compare_host(KILN_BF16, poisoned, 2, zero, NULL, (kt_tol){1e9, 1e9}).ok);
    const float small[2] = {1e-7f, 0};
    cr_expect(kt_compare_host(KILN_F32, small, 2, zero, NULL, tol).ok, "zero reference: absolute 1e-7 is within 1e-5");
    /* err_scale keeps a cancelled result from being judged by its own tiny size */
    const double tiny_ref[1] = {1e-6}, scale[1] = {1.0};
    const float near[1] = {2e-6f};
    cr_expect(!kt_compare_host(KILN_F32, near, 1, tiny_ref, NULL, tol).ok);
    cr_expect(kt_compare_host(KILN_F32, near, 1, tiny_ref, scale, tol).ok);
}
