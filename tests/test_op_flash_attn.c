/* tests/test_op_flash_attn.c — flash attention on every backend under test
 * against the double reference: head dims 64/80/96/128/256 and odd ones,
 * causal or not with q_pos0, GQA ratios 1/2/4, f32/f16/bf16 (also mixed),
 * views into a fused QKV buffer, large prefill/decode cases, and every
 * manifest instance through kiln_kernel_run.
 * Data: q, k, v ~ N(0,1), scale 1/sqrt(head_dim), so scores are O(1) and the
 * softmax is neither one-hot nor flat. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/cuda_geometry.h"
#include "gen/cuda_heuristic.h"
#include "kernels/ref/ref.h"
#include "support/harness.h"

typedef struct fa_case {
    kiln_dtype qt, kvt, ot;
    int64_t n_q, n_kv, n_head, n_kv_head, hd;
    int causal;
    int64_t q_pos0;
    int fused_qkv; /* q, k, v as views of one [n][(n_head + 2 n_kv_head) hd] buffer (needs n_q == n_kv, one dtype) */
} fa_case;

/* Tolerances (rel on ‖out − ref‖ / max(‖ref‖, ‖err_scale‖), max_abs on the
 * largest error over the largest magnitude):
 * - f32 K/V: f32 dot products and softmax; a vectorized exp may be off by a
 *   few ulp, i.e. ~1e-6 relative per probability: allow 2e-5.
 * - f16 K/V: backends may round the probabilities to f16 for the P·V product
 *   (tensor cores) and GPUs may accumulate in f16 (spec acc=f16): 2^-11
 *   relative per term, growing with the number of keys: allow 3e-3.
 * - bf16 K/V: the same with bf16's 2^-8: allow 1.5e-2.
 * - an f16/bf16 output adds up to 2^-11 / 2^-8 relative per element. */
static kt_tol fa_tol(kiln_dtype kvt, kiln_dtype qt, kiln_dtype ot)
{
    kt_tol t = {2e-5, 1e-4};
    if (kvt == KILN_F16 || qt == KILN_F16) t = (kt_tol){3e-3, 6e-3};
    if (kvt == KILN_BF16 || qt == KILN_BF16) t = (kt_tol){1.5e-2, 2.5e-2};
    if (ot == KILN_F16) t.rel += 1e-3, t.max_abs += 1e-3;
    if (ot == KILN_BF16) t.rel += 6e-3, t.max_abs += 6e-3;
    return t;
}

static uint64_t fa_tag(const fa_case *c)
{
    return (uint64_t)c->qt * 3u ^ (uint64_t)c->kvt * 101u ^ (uint64_t)c->ot * 1009u ^ (uint64_t)c->n_q * 65537u ^
           (uint64_t)c->n_kv * 257u ^ (uint64_t)c->n_head * 17u ^ (uint64_t)c->hd * 7919u ^ (uint64_t)c->causal ^
           (uint64_t)c->q_pos0 * 31337u ^ (uint64_t)c->fused_qkv * 99991u;
}

/* One case on each of cs[0..nc-1]: data and reference once, then each
 * context runs it (spec: exactly that instance through kiln_kernel_run). */
static int run_fa(const kt_ctx *cs, int nc, const fa_case *fc, const kiln_spec *spec)
{
    const int64_t nq = fc->n_q, nkv = fc->n_kv, nh = fc->n_head, nkh = fc->n_kv_head, hd = fc->hd;
    char desc[448], sname[KILN_SPEC_NAME_MAX] = "";
    if (spec) kiln_spec_name(spec, sname, sizeof sname);
    snprintf(desc, sizeof desc, "flash_attn q=%s kv=%s o=%s n_q=%lld n_kv=%lld heads=%lld/%lld head_dim=%lld %s q_pos0=%lld%s%s%s",
             kt_dtype_name(fc->qt), kt_dtype_name(fc->kvt), kt_dtype_name(fc->ot), (long long)nq, (long long)nkv,
             (long long)nh, (long long)nkh, (long long)hd, fc->causal ? "causal" : "full", (long long)fc->q_pos0,
             fc->fused_qkv ? " fused-qkv" : "", spec ? " spec=" : "", sname);
    kt_rng r = kt_rng_make(fa_tag(fc));
    const double scale = 1.0 / sqrt((double)hd);
    double *ref = malloc(sizeof(double) * (size_t)(nq * nh * hd)), *es = malloc(sizeof(double) * (size_t)(nq * nh * hd));
    const int64_t qne[3] = {nq, nh, hd}, kne[3] = {nkv, nkh, hd};
    const int64_t width = (nh + 2 * nkh) * hd; /* fused: one row per token, [q heads | k heads | v heads] */
    const size_t esz = kiln_row_bytes(fc->qt, 1), fused_row = (size_t)width * esz;
    void *host = NULL, *qb = NULL, *kb = NULL, *vb = NULL;
    kiln_ref_flash_attn_args ra = {.n_q = nq, .n_kv = nkv, .n_head = nh, .n_kv_head = nkh, .head_dim = hd, .q_dtype = fc->qt,
                                   .kv_dtype = fc->kvt, .scale = scale, .causal = fc->causal, .q_pos0 = fc->q_pos0};
    if (fc->fused_qkv) {
        cr_assert(nq == nkv && fc->qt == fc->kvt, "fused qkv needs n_q == n_kv and one dtype");
        float *f = kt_randn(&r, (size_t)(nq * width), 0, 1);
        host = kt_encode(fc->qt, f, nq, width, NULL);
        free(f);
        ra.q = host, ra.k = (char *)host + (size_t)(nh * hd) * esz, ra.v = (char *)host + (size_t)((nh + nkh) * hd) * esz;
        ra.q_nb[0] = ra.k_nb[0] = ra.v_nb[0] = fused_row;
    } else {
        float *qf = kt_randn(&r, (size_t)(nq * nh * hd), 0, 1), *kf = kt_randn(&r, (size_t)(nkv * nkh * hd), 0, 1),
              *vf = kt_randn(&r, (size_t)(nkv * nkh * hd), 0, 1);
        qb = kt_encode(fc->qt, qf, nq * nh, hd, NULL);
        kb = kt_encode(fc->kvt, kf, nkv * nkh, hd, NULL);
        vb = kt_encode(fc->kvt, vf, nkv * nkh, hd, NULL);
        free(qf), free(kf), free(vf);
        ra.q = qb, ra.k = kb, ra.v = vb;
    }
    kiln_status st = kiln_ref_flash_attn(&ra, ref, es);
    cr_assert_eq(st, KILN_OK, "%s: reference failed: %s", desc, kiln_last_error());

    int passed = 0;
    for (int ci = 0; ci < nc; ci++) {
        kiln_context *ctx = cs[ci].ctx;
        char what[512];
        snprintf(what, sizeof what, "%s %s", cs[ci].label, desc);
        kiln_tensor q, k, v, qkv = {0};
        if (fc->fused_qkv) {
            const int64_t ne[2] = {nq, width};
            qkv = kt_tensor(ctx, fc->qt, 2, ne, host);
            q = kiln_tensor_make(qkv.buf, 0, fc->qt, 3, qne);
            k = kiln_tensor_make(qkv.buf, (size_t)(nh * hd) * esz, fc->qt, 3, kne);
            v = kiln_tensor_make(qkv.buf, (size_t)((nh + nkh) * hd) * esz, fc->qt, 3, kne);
            q.nb[0] = k.nb[0] = v.nb[0] = (int64_t)fused_row;
        } else {
            q = kt_tensor(ctx, fc->qt, 3, qne, qb);
            k = kt_tensor(ctx, fc->kvt, 3, kne, kb);
            v = kt_tensor(ctx, fc->kvt, 3, kne, vb);
        }
        kiln_tensor o = kt_tensor(ctx, fc->ot, 3, qne, NULL);
        kiln_flash_attn_params p = {.q = q, .k = k, .v = v, .o = o, .scale = (float)scale, .causal = fc->causal, .q_pos0 = fc->q_pos0};
        kt_trace(what);
        st = spec ? kiln_kernel_run(ctx, spec, &p) : kiln_flash_attn(ctx, &p);
        if (st != KILN_OK) kt_fail_status(what, spec ? "kiln_kernel_run" : "kiln_flash_attn", st);
        else passed += kt_check(what, &o, ref, es, fa_tol(fc->kvt, fc->qt, fc->ot));
        if (fc->fused_qkv) kt_tensor_free(&qkv);
        else kt_tensor_free(&q), kt_tensor_free(&k), kt_tensor_free(&v);
        kt_tensor_free(&o);
    }
    free(host), free(qb), free(kb), free(vb), free(ref), free(es);
    return passed;
}

static const kiln_dtype dts[3] = {KILN_F32, KILN_F16, KILN_BF16};

/* Head dims with a specialized path and odd ones x causal x dtype. */
Test(op_flash_attn, head_dims_x_dtypes, .timeout = 300)
{
    const int64_t hds[] = {64, 80, 96, 128, 256, 8, 40, 72};
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (size_t h = 0; h < sizeof hds / sizeof hds[0]; h++)
            for (int causal = 0; causal < 2; causal++)
                for (int d = 0; d < 3; d++) {
                    fa_case fc = {.qt = dts[d], .kvt = dts[d], .ot = dts[d], .n_q = 7, .n_kv = 19, .n_head = 4, .n_kv_head = 2,
                                  .hd = hds[h], .causal = causal, .q_pos0 = causal ? 12 : 0};
                    run_fa(L.items, L.count, &fc, NULL);
                }
    kt_contexts_close(&L);
}

/* GQA ratios 1, 2, 4 x query/KV layouts: decode (1 query at the end),
 * prefill (square), a chunk in the middle of a longer KV, a window that sees
 * only the start of the KV, and more queries than keys without a mask. */
Test(op_flash_attn, gqa_and_positions, .timeout = 300)
{
    typedef struct { int64_t nq, nkv, pos0; int causal; } layout;
    const layout lay[] = {{1, 33, 32, 1}, {5, 5, 0, 1}, {17, 40, 23, 1}, {3, 70, 10, 1}, {33, 9, 0, 0}, {64, 65, 1, 1}};
    const int ratios[] = {1, 2, 4};
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (size_t l = 0; l < sizeof lay / sizeof lay[0]; l++)
            for (int g = 0; g < 3; g++) {
                fa_case fc = {.qt = dts[(l + g) % 3], .kvt = dts[(l + g) % 3], .ot = dts[(l + g) % 3], .n_q = lay[l].nq,
                              .n_kv = lay[l].nkv, .n_head = 2 * ratios[g], .n_kv_head = 2, .hd = g == 1 ? 64 : 40,
                              .causal = lay[l].causal, .q_pos0 = lay[l].pos0};
                run_fa(L.items, L.count, &fc, NULL);
            }
    kt_contexts_close(&L);
}

/* Q, K/V and O in different dtypes. */
Test(op_flash_attn, mixed_dtypes, .timeout = 300)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) {
                if (a == b) continue;
                fa_case fc = {.qt = dts[a], .kvt = dts[b], .ot = dts[(a + b) % 3], .n_q = 9, .n_kv = 21, .n_head = 4,
                              .n_kv_head = 1, .hd = 64, .causal = 1, .q_pos0 = 12};
                run_fa(L.items, L.count, &fc, NULL);
            }
    kt_contexts_close(&L);
}

/* stories260K: 8 heads over 4 KV heads of 8; a 7-token prompt and a decode step. */
Test(op_flash_attn, stories260k_shapes)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
    {
        fa_case pre = {.qt = KILN_F32, .kvt = KILN_F32, .ot = KILN_F32, .n_q = 7, .n_kv = 7, .n_head = 8, .n_kv_head = 4,
                       .hd = 8, .causal = 1};
        fa_case dec = pre;
        dec.n_q = 1, dec.n_kv = 20, dec.q_pos0 = 19;
        run_fa(L.items, L.count, &pre, NULL);
        run_fa(L.items, L.count, &dec, NULL);
    }
    kt_contexts_close(&L);
}

/* Q, K, V as strided views into one fused QKV projection output. */
Test(op_flash_attn, fused_qkv_views)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (int d = 0; d < 3; d++) {
            fa_case fc = {.qt = dts[d], .kvt = dts[d], .ot = dts[d], .n_q = 13, .n_kv = 13, .n_head = 4, .n_kv_head = 2,
                          .hd = d == 0 ? 64 : 40, .causal = 1, .fused_qkv = 1};
            run_fa(L.items, L.count, &fc, NULL);
        }
    kt_contexts_close(&L);
}

/* A 384-token causal prefill with head_dim 128 and a 4096-key decode step. */
Test(op_flash_attn, large, .timeout = 600)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
    {
        fa_case pre = {.qt = KILN_F16, .kvt = KILN_F16, .ot = KILN_F16, .n_q = 384, .n_kv = 384, .n_head = 8, .n_kv_head = 2,
                       .hd = 128, .causal = 1};
        fa_case dec = {.qt = KILN_F32, .kvt = KILN_F16, .ot = KILN_F32, .n_q = 1, .n_kv = 4096, .n_head = 32, .n_kv_head = 8,
                       .hd = 128, .causal = 1, .q_pos0 = 4095};
        run_fa(L.items, L.count, &pre, NULL);
        run_fa(L.items, L.count, &dec, NULL);
    }
    kt_contexts_close(&L);
}

/* One manifest instance on context c: its own dtypes at two awkward shapes. */
static void manifest_case(const kt_ctx *c, const kiln_spec *s, int index)
{
    (void)index;
    const int64_t hd = s->head_dim ? s->head_dim : 40;
    fa_case a = {.qt = s->act, .kvt = s->fmt, .ot = s->out, .n_q = 1, .n_kv = 37, .n_head = 4, .n_kv_head = 2, .hd = hd,
                 .causal = 1, .q_pos0 = 36};
    fa_case b = a;
    b.n_q = 21, b.n_kv = 29, b.q_pos0 = 8, b.n_kv_head = 1;
    run_fa(c, 1, &a, s);
    run_fa(c, 1, &b, s);
}

/* Every flash-attention manifest instance the context can implement. */
Test(op_flash_attn, manifest_specs, .timeout = 600)
{
    kt_for_each_manifest_spec(KILN_OP_FLASH_ATTN, manifest_case);
}

/* The tensor-core kernel (flash_attn_mma.cuh, the heuristic's default for
 * 16-bit K/V at hd 64/80/96/128/256) by its spec, on every cuda context: the
 * emulator runs it in every CI run. Each head size at its default tiles and
 * at another FA2 tile (4 or 8 warps), f16 and bf16, causal or not,
 * GQA 2 and 4, partial query and key tiles (one or several, more queries
 * than keys), Q and O in other dtypes, and strided K/V rows of a fused QKV
 * buffer (GQA 3). */
Test(op_flash_attn, tensor_core_kernel, .timeout = 900)
{
    typedef struct { int64_t nq, nkv, pos0; } layout;
    const layout lay[] = {{80, 80, 0}, {40, 100, 60}, {1, 130, 129}, {150, 70, 0}};
    static const int hds[] = {64, 80, 96, 128, 256};
    const kiln_dtype kvs[2] = {KILN_F16, KILN_BF16};
    kt_ctx_list L;
    kt_contexts_open(&L);
    int ran = 0;
    for (int ci = 0; ci < L.count; ci++) {
        if (L.items[ci].backend != KILN_BACKEND_CUDA) continue;
        for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++)
            for (int tile = 0; tile < 2; tile++)
                for (size_t l = 0; l < sizeof lay / sizeof lay[0]; l++) {
                    const int t = (int)(hi + l + (size_t)tile) % 2;
                    const int causal = l == 3 ? 0 : l == 0 ? 1 : (int)(hi + (size_t)tile) % 2;
                    kiln_spec s = kiln_cuda_flash_spec(kvs[t], hds[hi]);
                    if (tile) /* another FA2 tile, within an A100's (and the emulator's) 163 KB */
                        s.tile = s.tile.tm == 128 ? (kiln_tile){.tm = 64, .tn = 64, .threads = 128, .stages = 2}
                               : hds[hi] <= 128   ? (kiln_tile){.tm = 128, .tn = 64, .threads = 256, .stages = 2}
                                                  : (kiln_tile){.tm = 128, .tn = 32, .threads = 256, .stages = 2};
                    s.act = l == 1 ? KILN_F32 : kvs[t];
                    s.out = l == 2 ? KILN_F32 : kvs[t];
                    cr_assert(kiln_cuda_fa_uses_mma(&s), "the spec does not select flash_attn_mma.cuh");
                    fa_case fc = {.qt = s.act, .kvt = kvs[t], .ot = s.out, .n_q = lay[l].nq, .n_kv = lay[l].nkv,
                                  .n_head = 4, .n_kv_head = l == 1 ? 1 : 2, .hd = hds[hi], .causal = causal,
                                  .q_pos0 = causal ? lay[l].pos0 : 0};
                    run_fa(&L.items[ci], 1, &fc, &s);
                    ran++;
                }
        /* Views into a fused QKV buffer: K/V rows 640 bytes apart. */
        kiln_spec s = kiln_cuda_flash_spec(KILN_F16, 64);
        fa_case fc = {.qt = KILN_F16, .kvt = KILN_F16, .ot = KILN_F16, .n_q = 70, .n_kv = 70, .n_head = 3, .n_kv_head = 1,
                      .hd = 64, .causal = 1, .fused_qkv = 1};
        run_fa(&L.items[ci], 1, &fc, &s);
    }
    kt_contexts_close(&L);
    if (!ran) cr_skip_test("no cuda context (cuda or cuda-emu) under test");
}
