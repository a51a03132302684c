/* tests/test_op_matmul.c — dequant-matmul on every backend under test against
 * the double reference (kernels/ref): every weight format x activation dtype,
 * every epilogue combination, awkward and model-sized shapes, strided views,
 * and every manifest instance through kiln_kernel_run.
 *
 * Data: x ~ N(0,1), W ~ N(0,1/k) so outputs are O(1) whatever k; bias and
 * residual ~ N(0,1). W is quantized once and the reference reads the very same
 * bytes, so quantization of W is not an error here — only the backend's
 * rounding (and its quantization of x, for block formats) is. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/ref.h"
#include "support/harness.h"

typedef struct mm_case {
    kiln_dtype fmt, act, out;
    unsigned epi;
    int64_t n, m, k;
    int alias_residual; /* residual is y itself (in-place residual add) */
    int strided;        /* x and y with padded rows and a leading offset */
} mm_case;

/* Tolerances, per path (rel: on ‖out − ref‖ / max(‖ref‖, ‖err_scale‖); max_abs:
 * on the largest error over the largest magnitude):
 * - f32 weights: f32 accumulation only. The error of a k-term f32 sum relative
 *   to the L2 norm of its terms grows like 2^-24·sqrt(k): ~4e-6 at k = 4097.
 * - f16 weights: a backend may round x to f16 to use f16 dot products (as
 *   llama.cpp does): 2^-11/sqrt(12) ≈ 1.4e-4 relative per element; allow 1e-3.
 * - bf16 weights: the same with bf16 x: 2^-8/sqrt(12) ≈ 1.1e-3; allow 6e-3.
 * - block formats: backends may quantize x to 8 bits per block (q8_0 over 32,
 *   q8_K over 256): error std amax/(127·sqrt(12)) ≈ 0.0048σ (32) .. 0.0064σ (256)
 *   relative per dot product. A case with a single output sees one draw of
 *   that, so allow ~4 standard deviations: 2.5e-2. The CUDA mat-vec (n <= 8)
 *   quantizes x so for every integer format, K-quants included (int8 per 32,
 *   rounded to nearest, weight offsets and mins applied to the rounded sum),
 *   and the cpu int8 paths likewise: the same bound holds.
 * - outputs rounded to f16 add up to 2^-11 (≈5e-4) relative, bf16 up to 2^-8
 *   (≈4e-3) relative per element. */
static kt_tol mm_tol(kiln_dtype fmt, kiln_dtype out)
{
    kt_tol t;
    if (fmt == KILN_F32) t = (kt_tol){1e-5, 5e-5};
    else if (fmt == KILN_F16) t = (kt_tol){1e-3, 3e-3};
    else if (fmt == KILN_BF16) t = (kt_tol){6e-3, 1.5e-2};
    else t = (kt_tol){2.5e-2, 3e-2};
    if (out == KILN_F16) t.rel += 1e-3, t.max_abs += 1e-3;
    if (out == KILN_BF16) t.rel += 6e-3, t.max_abs += 6e-3;
    return t;
}

static void epi_text(unsigned e, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%s%s%s%s", e ? "" : "none", (e & KILN_EPI_SWIGLU) ? "swiglu+" : "", (e & KILN_EPI_BIAS) ? "bias+" : "",
             (e & KILN_EPI_RESIDUAL) ? "residual+" : "", (e & KILN_EPI_GELU) ? "gelu+" : "", (e & KILN_EPI_SCALE) ? "scale+" : "");
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '+') buf[n - 1] = '\0';
}

static uint64_t case_tag(const mm_case *c)
{
    return (uint64_t)c->fmt * 1000003u ^ (uint64_t)c->act * 7919u ^ (uint64_t)c->out * 104729u ^ c->epi * 31u ^
           (uint64_t)c->n * 65537u ^ (uint64_t)c->m * 257u ^ (uint64_t)c->k * 17u ^ (uint64_t)c->strided;
}

/* One case on each of the contexts cs[0..nc-1]: data and reference are made
 * once, then each context runs it (kiln_matmul, or exactly spec through
 * kiln_kernel_run when given) and is compared. Returns how many passed. */
static int run_mm(const kt_ctx *cs, int nc, const mm_case *mc, const kiln_spec *spec)
{
    const int64_t n = mc->n, m = mc->m, k = mc->k;
    char epi[64], desc[448], sname[KILN_SPEC_NAME_MAX] = "";
    epi_text(mc->epi, epi, sizeof epi);
    if (spec) kiln_spec_name(spec, sname, sizeof sname);
    snprintf(desc, sizeof desc, "matmul fmt=%s x=%s y=%s epi=%s n=%lld m=%lld k=%lld%s%s%s%s", kt_dtype_name(mc->fmt),
             kt_dtype_name(mc->act), kt_dtype_name(mc->out), epi, (long long)n, (long long)m, (long long)k,
             mc->alias_residual ? " residual=y" : "", mc->strided ? " strided" : "", spec ? " spec=" : "", sname);

    kt_rng r = kt_rng_make(case_tag(mc));
    const double wsig = 1.0 / sqrt((double)k);
    const int swiglu = (mc->epi & KILN_EPI_SWIGLU) != 0, bias = (mc->epi & KILN_EPI_BIAS) != 0,
              residual = (mc->epi & KILN_EPI_RESIDUAL) != 0;
    float *xf = kt_randn(&r, (size_t)(n * k), 0, 1), *wf = kt_randn(&r, (size_t)(m * k), 0, wsig);
    float *uf = kt_randn(&r, swiglu ? (size_t)(m * k) : 1, 0, wsig), *bf = kt_randn(&r, (size_t)m, 0, 1);
    float *rf = kt_randn(&r, (size_t)(n * m), 0, 1);
    void *xb = kt_encode(mc->act, xf, n, k, NULL), *wb = kt_encode(mc->fmt, wf, m, k, NULL);
    void *ub = swiglu ? kt_encode(mc->fmt, uf, m, k, NULL) : NULL, *rb = kt_encode(mc->out, rf, n, m, NULL);
    /* SCALE: a factor of either sign, not a power of two (a rounding in the
     * wrong place shows) */
    const float epi_scale = (mc->epi & KILN_EPI_SCALE) ? (float)(kt_uniform(&r) < 0.5 ? -1 : 1) * (0.3f + (float)kt_uniform(&r)) : 0.0f;

    double *ref = malloc(sizeof(double) * (size_t)(n * m)), *scale = malloc(sizeof(double) * (size_t)(n * m));
    kiln_ref_matmul_args ra = {.n = n, .m = m, .k = k, .x_dtype = mc->act, .x = xb, .w_dtype = mc->fmt, .w = wb,
                               .w_up = ub, .bias = bias ? bf : NULL, .residual_dtype = mc->out,
                               .residual = residual ? rb : NULL, .epilogue = mc->epi, .scale = epi_scale};
    kiln_status st = kiln_ref_matmul(&ra, ref, scale);
    cr_assert_eq(st, KILN_OK, "%s: reference failed: %s", desc, kiln_last_error());

    int passed = 0;
    for (int ci = 0; ci < nc; ci++) {
        kiln_context *ctx = cs[ci].ctx;
        char what[512];
        snprintf(what, sizeof what, "%s %s", cs[ci].label, desc);
        const int64_t xne[2] = {n, k}, wne[2] = {m, k}, yne[2] = {n, m};
        kiln_tensor x, y, w = kt_tensor(ctx, mc->fmt, 2, wne, wb), wu = {0}, bt = {0}, rt = {0};
        if (mc->strided) {
            /* rows padded by 24 elements (x) / 5 elements (y), 64 bytes in front */
            const int64_t xnb[1] = {(int64_t)kiln_row_bytes(mc->act, k + 24)}, ynb[1] = {(int64_t)kiln_row_bytes(mc->out, m + 5)};
            x = kt_tensor_strided(ctx, mc->act, 2, xne, xnb, 64, xb);
            y = kt_tensor_strided(ctx, mc->out, 2, yne, ynb, 64, mc->alias_residual ? rb : NULL);
        } else {
            x = kt_tensor(ctx, mc->act, 2, xne, xb);
            y = kt_tensor(ctx, mc->out, 2, yne, mc->alias_residual ? rb : NULL);
        }
        if (swiglu) wu = kt_tensor(ctx, mc->fmt, 2, wne, ub);
        if (bias) bt = kt_tensor(ctx, KILN_F32, 1, &m, bf);
        if (residual && !mc->alias_residual) rt = kt_tensor(ctx, mc->out, 2, yne, rb);
        kiln_matmul_params p = {.x = x, .w = w, .w_up = swiglu ? &wu : NULL, .bias = bias ? &bt : NULL,
                                .residual = residual ? (mc->alias_residual ? &y : &rt) : NULL, .y = y, .epilogue = mc->epi,
                                .scale = epi_scale};
        kt_trace(what);
        st = spec ? kiln_kernel_run(ctx, spec, &p) : kiln_matmul(ctx, &p);
        if (st != KILN_OK) kt_fail_status(what, spec ? "kiln_kernel_run" : "kiln_matmul", st);
        else passed += kt_check(what, &y, ref, scale, mm_tol(mc->fmt, mc->out));
        kt_tensor_free(&x), kt_tensor_free(&y), kt_tensor_free(&w), kt_tensor_free(&wu), kt_tensor_free(&bt), kt_tensor_free(&rt);
    }
    free(xf), free(wf), free(uf), free(bf), free(rf), free(xb), free(wb), free(ub), free(rb), free(ref), free(scale);
    return passed;
}

static int block_of(kiln_dtype t) { return kiln_dtype_get(t)->block_elems; }

static const kiln_dtype acts[3] = {KILN_F32, KILN_F16, KILN_BF16};

/* Every weight format x every x dtype, three shapes each (matvec, a small
 * odd-sized matmul, a wider one), y f32. */
/* 600 s: on cuda-emu every (format, activation, n class) is a host compile. */
Test(op_matmul, formats_x_activations, .timeout = 600)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (int f = 0; f < KILN_DTYPE_COUNT; f++) {
            const kiln_dtype_info *info = kiln_dtype_get((kiln_dtype)f);
            if (!info->is_weight_format) continue;
            const int64_t B = info->block_elems == 1 ? 32 : info->block_elems;
            const int64_t shapes[3][3] = {{1, 33, 3 * B}, {5, 3, B}, {17, 40, 5 * B}};
            for (int a = 0; a < 3; a++)
                for (int s = 0; s < 3; s++) {
                    mm_case mc = {.fmt = (kiln_dtype)f, .act = acts[a], .out = KILN_F32, .n = shapes[s][0],
                                  .m = shapes[s][1], .k = shapes[s][2]};
                    run_mm(L.items, L.count, &mc, NULL);
                }
        }
    kt_contexts_close(&L);
}

/* All 8 epilogue combinations x output dtypes, on a few formats; the residual
 * aliases y in every other case. */
Test(op_matmul, epilogues_x_outputs, .timeout = 600)
{
    const kiln_dtype fmts[] = {KILN_F32, KILN_F16, KILN_Q4_0, KILN_Q8_0, KILN_Q4_K};
    kt_ctx_list L;
    kt_contexts_open(&L);
    {
        int i = 0;
        for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++)
            for (int o = 0; o < 3; o++)
                for (unsigned e = 0; e < 8; e++, i++) {
                    const int64_t B = block_of(fmts[f]) == 1 ? 32 : block_of(fmts[f]);
                    mm_case mc = {.fmt = fmts[f], .act = acts[(f + e) % 3], .out = acts[o], .epi = e,
                                  .n = (e & 1) ? 3 : 9, .m = 33, .k = 2 * B, .alias_residual = (e & KILN_EPI_RESIDUAL) && (i & 1)};
                    run_mm(L.items, L.count, &mc, NULL);
                }
    }
    kt_contexts_close(&L);
}

/* GELU and SCALE (gen/epilogues.def), alone and with the others, on the
 * mat-vec (n = 1) and mat-mat paths of a plain, a legacy, a K-quant and an
 * i-quant format, f32 and 16-bit outputs; GELU's inputs ~ N(0,1) cover its
 * curved part. */
Test(op_matmul, gelu_and_scale, .timeout = 600)
{
    const kiln_dtype fmts[] = {KILN_F16, KILN_Q4_0, KILN_Q4_K, KILN_IQ4_NL};
    const unsigned epis[] = {KILN_EPI_GELU, KILN_EPI_SCALE, KILN_EPI_BIAS | KILN_EPI_GELU | KILN_EPI_SCALE | KILN_EPI_RESIDUAL,
                             KILN_EPI_SWIGLU | KILN_EPI_SCALE | KILN_EPI_RESIDUAL};
    kt_ctx_list L;
    kt_contexts_open(&L);
    for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++)
        for (size_t e = 0; e < sizeof epis / sizeof epis[0]; e++)
            for (int wide = 0; wide < 2; wide++) {
                const int64_t B = block_of(fmts[f]) == 1 ? 32 : block_of(fmts[f]);
                mm_case mc = {.fmt = fmts[f], .act = acts[(f + e) % 3], .out = acts[(e + (size_t)wide) % 3], .epi = epis[e],
                              .n = wide ? 7 : 1, .m = 37, .k = 2 * B, .alias_residual = (epis[e] & KILN_EPI_RESIDUAL) && wide};
                run_mm(L.items, L.count, &mc, NULL);
            }
    kt_contexts_close(&L);
}

/* Awkward sizes: n and m that are no multiple of any tile, k of 1, 3, 5
 * blocks, and for plain types k = 1, 172, 4097. */
Test(op_matmul, awkward_sizes, .timeout = 600)
{
    const int64_t ns[] = {1, 2, 3, 5, 8, 16, 33, 64, 65}, ms[] = {1, 3, 33, 172, 257};
    kt_ctx_list L;
    kt_contexts_open(&L);
    {
        /* the decode-critical formats: full cross product of n x m x k */
        const kiln_dtype q[] = {KILN_Q4_0, KILN_Q4_K};
        for (int f = 0; f < 2; f++)
            for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
                for (size_t b = 0; b < sizeof ms / sizeof ms[0]; b++)
                    for (int kb = 1; kb <= 5; kb += 2) {
                        if (q[f] == KILN_Q4_K && kb == 5 && ns[a] > 16) continue; /* keep the big K-quant corner small */
                        mm_case mc = {.fmt = q[f], .act = KILN_F32, .out = KILN_F32, .n = ns[a], .m = ms[b],
                                      .k = kb * block_of(q[f])};
                        run_mm(L.items, L.count, &mc, NULL);
                    }
        /* plain weights with k that no block format allows */
        const int64_t ks[] = {1, 172, 4097}, ns2[] = {1, 3, 33, 65}, ms2[] = {1, 33, 257};
        const kiln_dtype plain[] = {KILN_F32, KILN_F16, KILN_BF16};
        for (int f = 0; f < 3; f++)
            for (int ki = 0; ki < 3; ki++)
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 3; b++) {
                        if (ks[ki] == 4097 && ns2[a] * ms2[b] > 33 * 33) continue;
                        mm_case mc = {.fmt = plain[f], .act = acts[(a + b) % 3], .out = KILN_F32, .n = ns2[a], .m = ms2[b],
                                      .k = ks[ki]};
                        run_mm(L.items, L.count, &mc, NULL);
                    }
        /* every other format once at an odd shape */
        for (int f = 0; f < KILN_DTYPE_COUNT; f++) {
            const kiln_dtype_info *info = kiln_dtype_get((kiln_dtype)f);
            if (!info->is_weight_format || f == KILN_Q4_0 || f == KILN_Q4_K || info->block_elems == 1) continue;
            mm_case mc = {.fmt = (kiln_dtype)f, .act = KILN_F16, .out = KILN_F32, .n = 33, .m = 172, .k = 3 * info->block_elems};
            run_mm(L.items, L.count, &mc, NULL);
        }
        /* the cpu mat-mat panels expand k in chunks of 64 blocks of 32 (2048
         * values, kernels/cpu/templates/matmul_panel.c): k past one chunk with
         * a partial last one, panels of 8 rows with a tail (m = 33), column
         * groups of 4, 2 and 1 (n = 7), and SwiGLU's second panel */
        const kiln_dtype panel[] = {KILN_Q4_0, KILN_Q4_1, KILN_Q5_0, KILN_Q5_1, KILN_Q8_0, KILN_Q4_K, KILN_Q5_K, KILN_Q6_K};
        for (int f = 0; f < 8; f++) {
            mm_case mc = {.fmt = panel[f], .act = KILN_F32, .out = KILN_F32, .n = 7, .m = 33,
                          .k = block_of(panel[f]) == 256 ? 256 * 9 : 32 * 131,
                          .epi = f % 2 ? KILN_EPI_SWIGLU : KILN_EPI_BIAS};
            run_mm(L.items, L.count, &mc, NULL);
        }
    }
    kt_contexts_close(&L);
}

/* The matmuls of stories260K (dim 64, hidden 172, 8 heads, 4 KV heads of 8,
 * vocab 512), for one decode token and a 7-token prompt. 172 is no multiple
 * of any block, so the FFN-down weight is plain. */
Test(op_matmul, stories260k_shapes, .timeout = 300)
{
    typedef struct { int64_t m, k; unsigned epi; } shape;
    const shape shapes[] = {
        {64, 64, 0},                                /* wq, wo */
        {32, 64, 0},                                /* wk, wv: 4 KV heads x 8 */
        {172, 64, KILN_EPI_SWIGLU},                 /* w1/w3 fused with SwiGLU */
        {64, 172, KILN_EPI_RESIDUAL},               /* w2 + residual */
        {512, 64, 0},                               /* classifier */
    };
    const kiln_dtype quant[] = {KILN_Q4_0, KILN_Q8_0, KILN_Q5_1}, plain[] = {KILN_F32, KILN_F16};
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int tok = 0; tok < 2; tok++) {
                const int64_t n = tok ? 7 : 1;
                for (int f = 0; f < 3; f++) {
                    const kiln_dtype fmt = shapes[s].k % 32 ? plain[f % 2] : quant[f];
                    mm_case mc = {.fmt = fmt, .act = KILN_F32, .out = KILN_F32, .epi = shapes[s].epi, .n = n,
                                  .m = shapes[s].m, .k = shapes[s].k, .alias_residual = shapes[s].epi == KILN_EPI_RESIDUAL};
                    run_mm(L.items, L.count, &mc, NULL);
                }
            }
    kt_contexts_close(&L);
}

/* Views: x and y with padded rows and a leading offset (backends must honour nb). */
Test(op_matmul, strided_views, .timeout = 300)
{
    const kiln_dtype fmts[] = {KILN_F32, KILN_F16, KILN_Q4_0, KILN_Q8_0, KILN_Q4_K};
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++)
            for (int v = 0; v < 2; v++) {
                const int64_t B = block_of(fmts[f]) == 1 ? 32 : block_of(fmts[f]);
                mm_case mc = {.fmt = fmts[f], .act = acts[f % 3], .out = acts[(f + v) % 3], .n = v ? 1 : 11, .m = 35,
                              .k = 2 * B, .epi = v ? KILN_EPI_BIAS | KILN_EPI_RESIDUAL : KILN_EPI_NONE,
                              .alias_residual = v, .strided = 1};
                run_mm(L.items, L.count, &mc, NULL);
            }
    kt_contexts_close(&L);
}

/* One large case each: the 4096 x 4096 q4_0 mat-vec of a 7B layer and a
 * 64-token prefill matmul (m kept at 1024 to bound the reference's time). */
Test(op_matmul, large, .timeout = 600)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
    {
        mm_case mv = {.fmt = KILN_Q4_0, .act = KILN_F32, .out = KILN_F32, .n = 1, .m = 4096, .k = 4096};
        run_mm(L.items, L.count, &mv, NULL);
        mm_case mk = {.fmt = KILN_Q4_K, .act = KILN_F16, .out = KILN_F16, .n = 64, .m = 1024, .k = 4096, .epi = KILN_EPI_RESIDUAL,
                      .alias_residual = 1};
        run_mm(L.items, L.count, &mk, NULL);
    }
    kt_contexts_close(&L);
}

/* Vulkan's fast paths (templates/matmul_vec.comp, matmul_tiled.comp) forced by
 * spec on each format they serve: the mat-vec with both reductions (stages=2:
 * subgroupAdd, stages=1: shared memory only, the fallback of devices without
 * arithmetic subgroup ops), 1..9 and 33 tokens against tn=8 (partial token
 * groups), m = 37 (no multiple of tm), f16 K tails (k = 40, 4097); and the
 * tiled mat-mat with 8 tokens per invocation (tn=64) at odd sizes. Specs the
 * device cannot take (shared memory, subgroups) are skipped. */
Test(op_matmul, vulkan_fast_paths, .timeout = 900)
{
    static const char *fmts[] = {"f16", "q4_0", "q8_0", "q4_k", "q6_k"};
    static const kiln_dtype dts[] = {KILN_F16, KILN_Q4_0, KILN_Q8_0, KILN_Q4_K, KILN_Q6_K};
    kt_ctx_list L;
    kt_contexts_open(&L);
    for (int ci = 0; ci < L.count; ci++) {
        const kt_ctx *c = &L.items[ci];
        if (c->backend != KILN_BACKEND_VULKAN) continue;
        int ran = 0;
        for (int f = 0; f < 5; f++) {
            const int64_t B = block_of(dts[f]) == 1 ? 32 : block_of(dts[f]);
            const int64_t ks[2] = {dts[f] == KILN_F16 ? 40 : B, dts[f] == KILN_F16 ? 4097 : 3 * B};
            for (int stages = 1; stages <= 2; stages++) {
                char text[256];
                snprintf(text, sizeof text,
                         "matmul backend=vulkan fmt=%s act=%s tm=4 tn=8 tk=256 threads=64 stages=%d vec=16 split=1", fmts[f],
                         f % 2 ? "f16" : "f32", stages);
                kiln_spec s;
                cr_assert_eq(kiln_spec_parse(text, &s), KILN_OK, "%s: %s", text, kiln_last_error());
                if (kiln_kernel_can_implement(c->ctx, &s) != KILN_OK) {
                    cr_log_info("%s: skipped '%s': %s", c->label, text, kiln_last_error());
                    continue;
                }
                const int64_t ns[] = {1, 2, 3, 5, 8, 9, 33};
                for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
                    for (int ki = 0; ki < 2; ki++) {
                        if (ki == 1 && ns[a] != 1 && ns[a] != 9) continue; /* the long K: two token counts */
                        mm_case mc = {.fmt = dts[f], .act = s.act, .out = s.out, .n = ns[a], .m = 37, .k = ks[ki]};
                        run_mm(c, 1, &mc, &s);
                        ran++;
                    }
            }
            char text[256];
            snprintf(text, sizeof text, "matmul backend=vulkan fmt=%s act=bf16 out=f16 epi=residual tm=64 tn=64 tk=256 threads=128 stages=1 vec=16 split=1",
                     fmts[f]);
            kiln_spec s;
            cr_assert_eq(kiln_spec_parse(text, &s), KILN_OK, "%s: %s", text, kiln_last_error());
            if (kiln_kernel_can_implement(c->ctx, &s) != KILN_OK) {
                cr_log_info("%s: skipped '%s': %s", c->label, text, kiln_last_error());
                continue;
            }
            mm_case mc = {.fmt = dts[f], .act = KILN_BF16, .out = KILN_F16, .epi = KILN_EPI_RESIDUAL, .n = 65, .m = 70,
                          .k = dts[f] == KILN_F16 ? 4097 : 3 * B};
            run_mm(c, 1, &mc, &s);
            ran++;
        }
        cr_log_info("%s: %d fast-path cases run", c->label, ran);
        cr_expect_geq(ran, 45, "%s: only %d fast-path cases ran", c->label, ran); /* stages=1 runs everywhere */
    }
    kt_contexts_close(&L);
}

/* One manifest instance on context c: its own dtypes at two awkward shapes. */
static void manifest_case(const kt_ctx *c, const kiln_spec *s, int index)
{
    (void)index;
    const int64_t B = block_of(s->fmt) == 1 ? 32 : block_of(s->fmt);
    mm_case a = {.fmt = s->fmt, .act = s->act, .out = s->out, .epi = s->epilogue, .n = 1, .m = 33, .k = 2 * B};
    mm_case b = a;
    b.n = 19, b.m = 70, b.k = 3 * B;
    /* a cpu instance lists every epilogue it can apply, SwiGLU and GELU too,
     * which no call combines: one call with each */
    const unsigned both = KILN_EPI_SWIGLU | KILN_EPI_GELU;
    if ((s->epilogue & both) == both) a.epi &= ~(unsigned)KILN_EPI_GELU, b.epi &= ~(unsigned)KILN_EPI_SWIGLU;
    run_mm(c, 1, &a, s);
    run_mm(c, 1, &b, s);
}

/* Every manifest instance of this op that the context can implement, run
 * through kiln_kernel_run on a mat-vec and on an odd-sized matmul. */
Test(op_matmul, manifest_specs, .timeout = 600)
{
    kt_for_each_manifest_spec(KILN_OP_MATMUL, manifest_case);
}
