/* tests/test_op_paged_attn.c — paged attention (decode) on every backend under
 * test against the double reference: block sizes 8..128, scrambled block
 * tables, sequence lengths from 1 to several blocks with partial last blocks,
 * several sequences, KV caches of f32, f16 and q8_0, GQA, and every manifest
 * instance through kiln_kernel_run.
 * Every cache block holds random data, including blocks no sequence uses and
 * the slots past a sequence's end, and unused block-table entries point at
 * real (wrong) blocks: reading past seq_lens or through a wrong entry changes
 * the result instead of going unnoticed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/ref.h"
#include "support/harness.h"

#define PA_MAX_SEQ 64

typedef struct pa_case {
    kiln_dtype qt, kvt, ot;
    int64_t n_seq, n_head, n_kv_head, hd, bs;
    int32_t lens[PA_MAX_SEQ];
    int64_t spare_blocks; /* cache blocks no sequence uses */
} pa_case;

/* Tolerances (rel on ‖out − ref‖ / max(‖ref‖, ‖err_scale‖)):
 * - f32 cache and query: f32 throughout, exp off by a few ulp: 2e-5.
 * - f16 cache or query: probabilities may be rounded to f16 for P·V and GPUs
 *   may accumulate in f16: 3e-3 (as for flash attention).
 * - q8_0 cache: the reference reads the same q8_0 bytes, but backends may
 *   quantize q to 8 bits per 32 for integer dot products (as llama.cpp does):
 *   ~0.5% relative error per score, ~0.5% of the spread of V per output: 2e-2.
 * - bf16 query: 2^-8 relative per element of q: 1.5e-2.
 * - f16/bf16 output adds up to 2^-11 / 2^-8 relative per element. */
static kt_tol pa_tol(const pa_case *c)
{
    kt_tol t = {2e-5, 1e-4};
    if (c->kvt == KILN_F16 || c->qt == KILN_F16) t = (kt_tol){3e-3, 6e-3};
    if (c->qt == KILN_BF16) t = (kt_tol){1.5e-2, 2.5e-2};
    if (c->kvt == KILN_Q8_0) t = (kt_tol){2e-2, 3e-2};
    if (c->ot == KILN_F16) t.rel += 1e-3, t.max_abs += 1e-3;
    if (c->ot == KILN_BF16) t.rel += 6e-3, t.max_abs += 6e-3;
    return t;
}

static uint64_t pa_tag(const pa_case *c)
{
    uint64_t h = (uint64_t)c->qt * 3u ^ (uint64_t)c->kvt * 101u ^ (uint64_t)c->ot * 1009u ^ (uint64_t)c->n_seq * 65537u ^
                 (uint64_t)c->n_head * 17u ^ (uint64_t)c->hd * 7919u ^ (uint64_t)c->bs * 31337u;
    for (int64_t s = 0; s < c->n_seq; s++) h = h * 1099511628211ull ^ (uint64_t)c->lens[s];
    return h;
}

/* One case on each of cs[0..nc-1]: data and reference once, then each context. */
static int run_pa(const kt_ctx *cs, int nc, const pa_case *pc, const kiln_spec *spec)
{
    const int64_t ns = pc->n_seq, nh = pc->n_head, nkh = pc->n_kv_head, hd = pc->hd, bs = pc->bs;
    cr_assert(ns >= 1 && ns <= PA_MAX_SEQ);
    char desc[600], sname[KILN_SPEC_NAME_MAX] = "", lens[160] = "";
    size_t ln = 0;
    for (int64_t s = 0; s < ns && ln + 12 < sizeof lens; s++)
        ln += (size_t)snprintf(lens + ln, sizeof lens - ln, "%s%d", s ? "," : "", pc->lens[s]);
    if (spec) kiln_spec_name(spec, sname, sizeof sname);
    snprintf(desc, sizeof desc, "paged_attn q=%s kv=%s o=%s block_size=%lld heads=%lld/%lld head_dim=%lld seq_lens=%s%s%s",
             kt_dtype_name(pc->qt), kt_dtype_name(pc->kvt), kt_dtype_name(pc->ot), (long long)bs, (long long)nh,
             (long long)nkh, (long long)hd, lens, spec ? " spec=" : "", sname);

    kt_rng r = kt_rng_make(pa_tag(pc));
    int64_t max_blocks = 1, used = 0;
    for (int64_t s = 0; s < ns; s++) {
        int64_t b = (pc->lens[s] + bs - 1) / bs;
        used += b;
        if (b > max_blocks) max_blocks = b;
    }
    const int64_t n_blocks = used + pc->spare_blocks;
    /* physical blocks: a random permutation, handed out sequence by sequence */
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)n_blocks), *table = malloc(sizeof(int32_t) * (size_t)(ns * max_blocks));
    for (int64_t i = 0; i < n_blocks; i++) perm[i] = (int32_t)i;
    for (int64_t i = n_blocks - 1; i > 0; i--) {
        int64_t j = kt_below(&r, i + 1);
        int32_t t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    int64_t next = 0;
    for (int64_t s = 0; s < ns; s++)
        for (int64_t b = 0; b < max_blocks; b++)
            table[s * max_blocks + b] = b * bs < pc->lens[s] ? perm[next++] : (int32_t)kt_below(&r, n_blocks);

    const int64_t rows = n_blocks * bs * nkh;
    float *qf = kt_randn(&r, (size_t)(ns * nh * hd), 0, 1), *kf = kt_randn(&r, (size_t)(rows * hd), 0, 1),
          *vf = kt_randn(&r, (size_t)(rows * hd), 0, 1);
    void *qb = kt_encode(pc->qt, qf, ns * nh, hd, NULL), *kb = kt_encode(pc->kvt, kf, rows, hd, NULL),
         *vb = kt_encode(pc->kvt, vf, rows, hd, NULL);
    double *ref = malloc(sizeof(double) * (size_t)(ns * nh * hd)), *es = malloc(sizeof(double) * (size_t)(ns * nh * hd));
    kiln_ref_paged_attn_args ra = {.n_seq = ns, .n_head = nh, .n_kv_head = nkh, .head_dim = hd, .n_blocks = n_blocks,
                                   .block_size = bs, .max_blocks_per_seq = max_blocks, .q_dtype = pc->qt, .q = qb,
                                   .kv_dtype = pc->kvt, .k_cache = kb, .v_cache = vb, .block_table = table,
                                   .seq_lens = pc->lens, .scale = 1.0 / sqrt((double)hd)};
    kiln_status st = kiln_ref_paged_attn(&ra, ref, es);
    cr_assert_eq(st, KILN_OK, "%s: reference failed: %s", desc, kiln_last_error());

    int passed = 0;
    for (int ci = 0; ci < nc; ci++) {
        kiln_context *ctx = cs[ci].ctx;
        char what[680];
        snprintf(what, sizeof what, "%s %s", cs[ci].label, desc);
        const int64_t qne[3] = {ns, nh, hd}, cne[4] = {n_blocks, bs, nkh, hd}, tne[2] = {ns, max_blocks};
        kiln_tensor q = kt_tensor(ctx, pc->qt, 3, qne, qb), o = kt_tensor(ctx, pc->ot, 3, qne, NULL);
        kiln_tensor kc = kt_tensor(ctx, pc->kvt, 4, cne, kb), vc = kt_tensor(ctx, pc->kvt, 4, cne, vb);
        kiln_tensor bt = kt_tensor(ctx, KILN_I32, 2, tne, table), sl = kt_tensor(ctx, KILN_I32, 1, &ns, pc->lens);
        kiln_paged_attn_params p = {.q = q, .o = o, .k_cache = kc, .v_cache = vc, .block_table = bt, .seq_lens = sl,
                                    .scale = (float)ra.scale};
        kt_trace(what);
        st = spec ? kiln_kernel_run(ctx, spec, &p) : kiln_paged_attn(ctx, &p);
        if (st != KILN_OK) kt_fail_status(what, spec ? "kiln_kernel_run" : "kiln_paged_attn", st);
        else passed += kt_check(what, &o, ref, es, pa_tol(pc));
        kt_tensor_free(&q), kt_tensor_free(&o), kt_tensor_free(&kc), kt_tensor_free(&vc), kt_tensor_free(&bt), kt_tensor_free(&sl);
    }
    free(perm), free(table), free(qf), free(kf), free(vf), free(qb), free(kb), free(vb), free(ref), free(es);
    return passed;
}

static const kiln_dtype kvts[3] = {KILN_F32, KILN_F16, KILN_Q8_0};

/* Block sizes 8..128 x KV dtypes; three sequences: one token, one past a
 * block boundary, one a token short of three blocks. */
Test(op_paged_attn, block_sizes_x_kv_dtypes, .timeout = 300)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (int64_t bs = 8; bs <= 128; bs *= 2)
            for (int d = 0; d < 3; d++) {
                pa_case pc = {.qt = KILN_F32, .kvt = kvts[d], .ot = KILN_F32, .n_seq = 3, .n_head = 4, .n_kv_head = 2,
                              .hd = 64, .bs = bs, .lens = {1, (int32_t)bs + 1, 3 * (int32_t)bs - 1}, .spare_blocks = 2};
                run_pa(L.items, L.count, &pc, NULL);
            }
    kt_contexts_close(&L);
}

/* GQA ratios 1, 2, 4 x head dims (q8_0 only where head_dim % 32 == 0) x query/output dtypes. */
Test(op_paged_attn, gqa_head_dims_dtypes, .timeout = 300)
{
    const int64_t hds[] = {32, 64, 128, 40, 96, 8};
    const int ratios[] = {1, 2, 4};
    const kiln_dtype qts[3] = {KILN_F32, KILN_F16, KILN_BF16};
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (size_t h = 0; h < sizeof hds / sizeof hds[0]; h++)
            for (int g = 0; g < 3; g++)
                for (int d = 0; d < 3; d++) {
                    if (kvts[d] == KILN_Q8_0 && hds[h] % 32) continue;
                    const int64_t bs = (int64_t)8 << ((h + g) % 4);
                    pa_case pc = {.qt = qts[(g + d) % 3], .kvt = kvts[d], .ot = qts[(h + d) % 3], .n_seq = 2,
                                  .n_head = 2 * ratios[g], .n_kv_head = 2, .hd = hds[h], .bs = bs,
                                  .lens = {(int32_t)(2 * bs + 3), (int32_t)(bs / 2)}, .spare_blocks = 1};
                    run_pa(L.items, L.count, &pc, NULL);
                }
    kt_contexts_close(&L);
}

/* Many sequences of random lengths 1..200 (a batched decode step). */
Test(op_paged_attn, many_sequences, .timeout = 300)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (int d = 0; d < 3; d++) {
            kt_rng r = kt_rng_make(777 + (uint64_t)d);
            pa_case pc = {.qt = KILN_F16, .kvt = kvts[d], .ot = KILN_F16, .n_seq = 33, .n_head = 8, .n_kv_head = 2, .hd = 64,
                          .bs = 32, .spare_blocks = 5};
            for (int s = 0; s < 33; s++) pc.lens[s] = 1 + (int32_t)kt_below(&r, 200);
            run_pa(L.items, L.count, &pc, NULL);
        }
    kt_contexts_close(&L);
}

/* stories260K: 8 heads over 4 KV heads of 8 (too small for q8_0). */
Test(op_paged_attn, stories260k_shapes)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (int d = 0; d < 2; d++) {
            pa_case pc = {.qt = KILN_F32, .kvt = kvts[d], .ot = KILN_F32, .n_seq = 4, .n_head = 8, .n_kv_head = 4, .hd = 8,
                          .bs = 16, .lens = {1, 7, 16, 20}, .spare_blocks = 3};
            run_pa(L.items, L.count, &pc, NULL);
        }
    kt_contexts_close(&L);
}

/* Long contexts: 8 sequences up to 2048 tokens, 32 heads over 8 of 128. */
Test(op_paged_attn, large, .timeout = 600)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
        for (int d = 1; d < 3; d++) {
            pa_case pc = {.qt = KILN_F16, .kvt = kvts[d], .ot = KILN_F16, .n_seq = 8, .n_head = 32, .n_kv_head = 8, .hd = 128,
                          .bs = d == 1 ? 16 : 128, .lens = {2048, 1, 1500, 777, 129, 2000, 64, 1023}, .spare_blocks = 4};
            run_pa(L.items, L.count, &pc, NULL);
        }
    kt_contexts_close(&L);
}

/* One manifest instance on context c: its own dtypes at two awkward shapes. */
static void manifest_case(const kt_ctx *c, const kiln_spec *s, int index)
{
    (void)index;
    const int64_t hd = s->head_dim ? s->head_dim : (s->fmt == KILN_Q8_0 ? 64 : 40);
    pa_case a = {.qt = s->act, .kvt = s->fmt, .ot = s->out, .n_seq = 3, .n_head = 4, .n_kv_head = 2, .hd = hd,
                 .bs = 16, .lens = {1, 17, 47}, .spare_blocks = 2};
    pa_case b = a;
    b.bs = 64, b.n_kv_head = 1, b.lens[0] = 130;
    run_pa(c, 1, &a, s);
    run_pa(c, 1, &b, s);
}

/* Every paged-attention manifest instance the context can implement. */
Test(op_paged_attn, manifest_specs, .timeout = 600)
{
    kt_for_each_manifest_spec(KILN_OP_PAGED_ATTN, manifest_case);
}
