/* tests/test_op_rope.c — rotary position embedding and the paged KV-cache
 * append (kiln_rope) on every backend under test against the double
 * reference: n = 1, 5, 37; head sizes 48 (rope_dim 32 < head_dim), 64, 80,
 * 128; GQA; neox 0/1; freq_scale 1 and 0.25/0.7; positions that are neither
 * contiguous nor sorted; slots scattered over the blocks with -1 (padding)
 * among them; caches f32/f16/q8_0; every manifest instance. Plus: the cpu is
 * bit for bit llama2.c's float formula (re-stated below),
 * and bad parameters are rejected with a message.
 *
 * Checks per case:
 * - q and k (rotated in place) against kiln_ref_rope, element by element
 *   (tolerances below);
 * - every written cache slot holds exactly kiln_quantize_row(cache dtype) of
 *   the backend's own rotated k row and of the v row (f16 rounding and the
 *   q8_0 quantizer are bit-exact on every backend), and decodes to the
 *   reference within the dtype's step;
 * - every other slot still holds its poison (0xff bytes): nothing else is written.
 * Data: q, k, v ~ N(0, 1). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/ref.h"
#include "support/harness.h"

#define NO_CACHE KILN_DTYPE_COUNT

typedef struct rp_case {
    int64_t n, n_heads, n_kv, hd;
    int rope_dim, neox;
    float theta, freq_scale;
    kiln_dtype cache; /* NO_CACHE: rotation only */
    int64_t n_blocks, block_size;
    int max_pos;      /* positions drawn from 0 .. max_pos-1 */
} rp_case;

/* Tolerance on |out − ref| of a rotated element, relative to the size of its
 * pair (|x0| + |x1|): the float angle is off by ~1 ulp of angle per rounding
 * (powf, two multiplies), so the error grows with the angle —
 *   cpu (libm, <= 1 ulp each; observed up to ~2.5e-7·angle): 1e-6 + 8e-7·angle
 *   GPUs (CUDA precise cosf/sinf/powf, GLSL's pow/sin/cos, which Vulkan lets
 *   be a few ulp looser, lavapipe's range reduction): 1e-5 + 2e-6·angle. */
static double rp_tol(const kt_ctx *c, double angle)
{
    if (c->backend == KILN_BACKEND_CPU) return 1e-6 + 8e-7 * angle;
    return 1e-5 + 2e-6 * angle;
}

static uint64_t rp_tag(const rp_case *c)
{
    return (uint64_t)c->n * 65537u ^ (uint64_t)c->n_heads * 257u ^ (uint64_t)c->n_kv * 31u ^ (uint64_t)c->hd * 7919u ^
           (uint64_t)c->rope_dim * 104729u ^ (uint64_t)c->neox * 3u ^ (uint64_t)c->cache * 1009u ^
           (uint64_t)(c->freq_scale * 1000) * 17u;
}

/* Rotated q or k of one context against the reference; returns failures. */
static int check_rotated(const char *what, const kt_ctx *c, const float *out, const double *ref, const double *angle,
                         const float *in, int64_t n_rows, int64_t hd, int rope_dim, int neox)
{
    int64_t worst = -1, bad = 0;
    double worst_ratio = 0;
    const int64_t half = rope_dim / 2;
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t d = 0; d < hd; d++) {
            int64_t e = r * hd + d;
            double err = fabs((double)out[e] - ref[e]);
            if (d >= rope_dim) {
                /* past rope_dim: untouched, bit for bit */
                if (memcmp(&out[e], &in[e], 4)) bad++, worst = e, worst_ratio = INFINITY;
                continue;
            }
            int64_t i = neox ? d % half : d / 2;
            int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
            double mag = fabs((double)in[r * hd + a]) + fabs((double)in[r * hd + b]) + 1e-30;
            double ratio = isfinite(out[e]) ? err / (mag * rp_tol(c, angle[e])) : INFINITY;
            if (ratio > 1) bad++;
            if (ratio > worst_ratio) worst_ratio = ratio, worst = e;
        }
    if (bad)
        cr_expect_fail("%s: %lld elements off (seed %llu); worst [%lld]: out %.9g ref %.9g (%.3g x tolerance, angle %.4g)",
                       what, (long long)bad, (unsigned long long)kt_seed(), (long long)worst, (double)out[worst],
                       ref[worst], worst_ratio, angle[worst]);
    return bad ? 1 : 0;
}

/* The caches after the run: written slots exact and close to the reference,
 * all other bytes still poison. Returns failures. */
static int check_cache(const char *what, const rp_case *rc, const kiln_tensor *cache, const int32_t *slots,
                       const float *rows, const double *ref, const char *name)
{
    const int64_t row = rc->n_kv * rc->hd, slot_bytes = (int64_t)kiln_row_bytes(rc->cache, row);
    const int64_t n_slots = rc->n_blocks * rc->block_size;
    size_t bytes = 0;
    unsigned char *got = kt_download(cache, &bytes), *want = malloc((size_t)slot_bytes);
    unsigned char *written = calloc((size_t)n_slots, 1);
    double *dec = malloc(sizeof(double) * (size_t)row);
    int fails = 0;
    for (int64_t t = 0; t < rc->n && !fails; t++) {
        if (slots[t] < 0) continue;
        written[slots[t]] = 1;
        const unsigned char *at = got + (size_t)slots[t] * (size_t)slot_bytes;
        cr_assert_eq(kiln_quantize_row(rc->cache, rows + t * row, want, row), (size_t)slot_bytes);
        if (memcmp(at, want, (size_t)slot_bytes)) {
            int64_t b = 0;
            while (at[b] == want[b]) b++;
            cr_expect_fail("%s: %s slot %d (token %lld) differs from kiln_quantize_row(%s) of the rotated row at byte %lld: %02x vs %02x (seed %llu)",
                           what, name, slots[t], (long long)t, kt_dtype_name(rc->cache), (long long)b, at[b], want[b],
                           (unsigned long long)kt_seed());
            fails++;
            break;
        }
        /* and the stored row is the reference within the dtype's step */
        kt_decode(rc->cache, at, row, dec);
        for (int64_t b0 = 0; b0 < row && !fails; b0 += 32) {
            double amax = 0;
            for (int64_t e = b0; e < b0 + 32 && e < row; e++) amax = fmax(amax, fabs(ref[t * row + e]));
            for (int64_t e = b0; e < b0 + 32 && e < row; e++) {
                double r = ref[t * row + e], step = rc->cache == KILN_Q8_0 ? amax / 127 * 0.5 + amax * 1e-3
                                                  : rc->cache == KILN_F16 ? fabs(r) * 0x1p-11 + 0x1p-24
                                                                          : 0;
                double tol = step + 3e-5 * (1 + fabs(r)) * (1 + rc->max_pos * (double)rc->freq_scale * 1e-2);
                if (!(fabs(dec[e] - r) <= tol)) {
                    cr_expect_fail("%s: %s slot %d element %lld decodes to %.7g, reference %.7g (tolerance %.3g, seed %llu)", what,
                                   name, slots[t], (long long)e, dec[e], r, tol, (unsigned long long)kt_seed());
                    fails++;
                    break;
                }
            }
        }
    }
    for (int64_t s = 0; s < n_slots && !fails; s++) {
        if (written[s]) continue;
        const unsigned char *at = got + (size_t)s * (size_t)slot_bytes;
        for (int64_t b = 0; b < slot_bytes; b++)
            if (at[b] != 0xff) {
                cr_expect_fail("%s: %s slot %lld was written but no token maps to it (seed %llu)", what, name, (long long)s,
                               (unsigned long long)kt_seed());
                fails++;
                break;
            }
    }
    free(got), free(want), free(written), free(dec);
    return fails;
}

/* One case on each of cs[0..n_ctx-1]. */
static int run_rp(const kt_ctx *cs, int n_ctx, const rp_case *rc, const kiln_spec *spec)
{
    const int64_t n = rc->n, nq = n * rc->n_heads * rc->hd, nk = n * rc->n_kv * rc->hd;
    const int append = rc->cache != NO_CACHE;
    char desc[448], sname[KILN_SPEC_NAME_MAX] = "";
    if (spec) kiln_spec_name(spec, sname, sizeof sname);
    snprintf(desc, sizeof desc, "rope n=%lld heads=%lld/%lld hd=%lld rope_dim=%d neox=%d theta=%g freq_scale=%g cache=%s blocks=%lldx%lld%s%s",
             (long long)n, (long long)rc->n_heads, (long long)rc->n_kv, (long long)rc->hd, rc->rope_dim, rc->neox,
             (double)rc->theta, (double)rc->freq_scale, append ? kt_dtype_name(rc->cache) : "none",
             (long long)rc->n_blocks, (long long)rc->block_size, spec ? " spec=" : "", sname);
    kt_rng r = kt_rng_make(rp_tag(rc));
    float *qf = kt_randn(&r, (size_t)nq, 0, 1), *kf = kt_randn(&r, (size_t)nk, 0, 1), *vf = kt_randn(&r, (size_t)nk, 0, 1);
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n), *slots = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t t = 0; t < n; t++) pos[t] = (int32_t)kt_below(&r, rc->max_pos);
    /* distinct slots from a shuffle of all of them; every fifth token (not the first) is padding */
    const int64_t n_slots = rc->n_blocks * rc->block_size;
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)n_slots);
    for (int64_t s = 0; s < n_slots; s++) perm[s] = (int32_t)s;
    for (int64_t s = n_slots - 1; s > 0; s--) {
        int64_t j = kt_below(&r, s + 1);
        int32_t tmp = perm[s];
        perm[s] = perm[j], perm[j] = tmp;
    }
    for (int64_t t = 0; t < n; t++) slots[t] = (t % 5 == 3) ? -1 : perm[t];
    free(perm);

    double *qref = malloc(sizeof(double) * (size_t)nq), *qang = malloc(sizeof(double) * (size_t)nq);
    double *kref = malloc(sizeof(double) * (size_t)nk), *kang = malloc(sizeof(double) * (size_t)nk);
    double *vref = malloc(sizeof(double) * (size_t)nk);
    kiln_ref_rope_args ra = {.n = n, .n_heads = rc->n_heads, .head_dim = rc->hd, .x = qf, .positions = pos,
                             .rope_dim = rc->rope_dim, .neox = rc->neox, .theta = rc->theta, .freq_scale = rc->freq_scale};
    cr_assert_eq(kiln_ref_rope(&ra, qref, qang), KILN_OK, "%s", kiln_last_error());
    ra.x = kf, ra.n_heads = rc->n_kv;
    cr_assert_eq(kiln_ref_rope(&ra, kref, kang), KILN_OK, "%s", kiln_last_error());
    for (int64_t e = 0; e < nk; e++) vref[e] = vf[e];

    int passed = 0;
    for (int ci = 0; ci < n_ctx; ci++) {
        kiln_context *ctx = cs[ci].ctx;
        char what[512];
        snprintf(what, sizeof what, "%s %s", cs[ci].label, desc);
        const int64_t qne[3] = {n, rc->n_heads, rc->hd}, kne[3] = {n, rc->n_kv, rc->hd};
        const int64_t cne[4] = {rc->n_blocks, rc->block_size, rc->n_kv, rc->hd};
        kiln_tensor q = kt_tensor(ctx, KILN_F32, 3, qne, qf), k = kt_tensor(ctx, KILN_F32, 3, kne, kf);
        kiln_tensor pt = kt_tensor(ctx, KILN_I32, 1, &n, pos);
        kiln_tensor v = {0}, st_ = {0}, kc = {0}, vc = {0};
        kiln_rope_params p = {.q = q, .k = k, .positions = pt, .rope_dim = rc->rope_dim, .theta = rc->theta,
                              .freq_scale = rc->freq_scale, .neox = rc->neox};
        if (append) {
            v = kt_tensor(ctx, KILN_F32, 3, kne, vf);
            st_ = kt_tensor(ctx, KILN_I32, 1, &n, slots);
            kc = kt_tensor(ctx, rc->cache, 4, cne, NULL); /* poisoned: 0xff */
            vc = kt_tensor(ctx, rc->cache, 4, cne, NULL);
            p.v = &v, p.slots = &st_, p.k_cache = &kc, p.v_cache = &vc;
        }
        kt_trace(what);
        kiln_status st = spec ? kiln_kernel_run(ctx, spec, &p) : kiln_rope(ctx, &p);
        if (st == KILN_OK) st = kiln_synchronize(ctx);
        if (st != KILN_OK) {
            kt_fail_status(what, spec ? "kiln_kernel_run" : "kiln_rope", st);
        } else {
            float *qo = kt_download(&q, NULL), *ko = kt_download(&k, NULL);
            char wq[560], wk[560];
            snprintf(wq, sizeof wq, "%s (q)", what);
            snprintf(wk, sizeof wk, "%s (k)", what);
            int fails = check_rotated(wq, &cs[ci], qo, qref, qang, qf, n * rc->n_heads, rc->hd, rc->rope_dim, rc->neox);
            fails += check_rotated(wk, &cs[ci], ko, kref, kang, kf, n * rc->n_kv, rc->hd, rc->rope_dim, rc->neox);
            if (append) {
                fails += check_cache(what, rc, &kc, slots, ko, kref, "k_cache");
                fails += check_cache(what, rc, &vc, slots, vf, vref, "v_cache");
            }
            passed += fails == 0;
            free(qo), free(ko);
        }
        kt_tensor_free(&q), kt_tensor_free(&k), kt_tensor_free(&pt);
        if (append) kt_tensor_free(&v), kt_tensor_free(&st_), kt_tensor_free(&kc), kt_tensor_free(&vc);
    }
    free(qf), free(kf), free(vf), free(pos), free(slots), free(qref), free(qang), free(kref), free(kang), free(vref);
    return passed;
}

static const kiln_dtype caches[4] = {NO_CACHE, KILN_F32, KILN_F16, KILN_Q8_0};

/* Sizes x head shapes x pairing x caches. */
Test(op_rope, shapes_x_caches, .timeout = 300)
{
    static const struct { int64_t n_heads, n_kv, hd; int rope_dim; } heads[] = {
        {4, 4, 64, 64}, {8, 2, 128, 128}, {6, 3, 80, 80}, {4, 1, 48, 32}, {3, 3, 96, 64},
    };
    const int64_t ns[] = {1, 5, 37};
    kt_ctx_list L;
    kt_contexts_open(&L);
    unsigned i = 0;
    for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++)
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
            for (int c = 0; c < 4; c++, i++) {
                kiln_dtype cache = caches[c];
                if (cache == KILN_Q8_0 && heads[h].hd % 32) cache = KILN_F16; /* q8_0 needs head_dim % 32 */
                rp_case rc = {.n = ns[ni], .n_heads = heads[h].n_heads, .n_kv = heads[h].n_kv, .hd = heads[h].hd,
                              .rope_dim = heads[h].rope_dim, .neox = (int)(i % 2), .theta = i % 3 ? 10000.0f : 500000.0f,
                              .freq_scale = i % 4 == 1 ? 0.25f : 1.0f, .cache = cache, .n_blocks = 7,
                              .block_size = ns[ni] > 16 ? 16 : 8, .max_pos = 2048};
                run_rp(L.items, L.count, &rc, NULL);
            }
    kt_contexts_close(&L);
}

/* A non-power-of-two freq_scale and long positions (angles up to ~3e4 rad). */
Test(op_rope, scaled_and_far_positions)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
    for (int neox = 0; neox < 2; neox++) {
        rp_case rc = {.n = 9, .n_heads = 8, .n_kv = 4, .hd = 64, .rope_dim = 64, .neox = neox, .theta = 10000.0f,
                      .freq_scale = 0.7f, .cache = KILN_Q8_0, .n_blocks = 4, .block_size = 32, .max_pos = 40000};
        run_rp(L.items, L.count, &rc, NULL);
    }
    kt_contexts_close(&L);
}

/* stories260K: 8 heads of 8 over 4 KV heads, rope over the whole head. */
Test(op_rope, stories260k_shapes)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
    for (int c = 0; c < 4; c++) {
        if (caches[c] == KILN_Q8_0) continue; /* head_dim 8 */
        rp_case rc = {.n = c == 1 ? 1 : 13, .n_heads = 8, .n_kv = 4, .hd = 8, .rope_dim = 8, .theta = 10000.0f,
                      .freq_scale = 1.0f, .cache = caches[c], .n_blocks = 4, .block_size = 16, .max_pos = 512};
        run_rp(L.items, L.count, &rc, NULL);
    }
    kt_contexts_close(&L);
}

/* One manifest instance on context c: its own dtypes at two awkward shapes. */
static void manifest_case(const kt_ctx *c, const kiln_spec *s, int index)
{
    rp_case rc = {.n = 6, .n_heads = 4, .n_kv = 2, .hd = 64, .rope_dim = 48, .neox = index % 2, .theta = 10000.0f,
                  .freq_scale = 1.0f, .cache = (s->epilogue & KILN_SPEC_ROPE_KV) ? s->fmt : NO_CACHE,
                  .n_blocks = 3, .block_size = 8, .max_pos = 100};
    run_rp(c, 1, &rc, s);
    if (s->epilogue & KILN_SPEC_ROPE_KV) { /* an instance with the flag also serves calls without a cache? */
        if (c->backend == KILN_BACKEND_CPU) {
            rc.cache = NO_CACHE;
            run_rp(c, 1, &rc, s);
        }
    }
}

/* Every rope manifest instance the context can implement. */
Test(op_rope, manifest_specs, .timeout = 300)
{
    kt_for_each_manifest_spec(KILN_OP_ROPE, manifest_case);
}

/* ------------------------------------------------------------ exactness */

/* llama2.c's run.c formula (the runtime's former host RoPE), re-stated: the cpu
 * instances must reproduce it bit for bit, since a stories260K greedy test
 * hinges on a 0.003 logit margin. freq_scale there is 1 / scale. */
static void host_rope(float *v, int n, int n_heads, int head_dim, int rope_dim, const int32_t *pos, float scale,
                      float theta)
{
    float freq[512];
    for (int i = 0; i < rope_dim; i += 2) freq[i / 2] = 1.0f / powf(theta, (float)i / (float)rope_dim);
    for (int t = 0; t < n; t++) {
        float p_t = (float)pos[t] / scale;
        for (int i = 0; i < rope_dim / 2; i++) {
            float a = p_t * freq[i], cs = cosf(a), sn = sinf(a);
            for (int h = 0; h < n_heads; h++) {
                float *p = v + ((size_t)t * n_heads + h) * head_dim;
                float x0 = p[2 * i], x1 = p[2 * i + 1];
                p[2 * i] = x0 * cs - x1 * sn;
                p[2 * i + 1] = x0 * sn + x1 * cs;
            }
        }
    }
}

Test(op_rope, cpu_is_the_host_formula_bit_for_bit)
{
    static const struct { int n, n_heads, n_kv, hd, rope_dim; float scale; } cases[] = {
        {1, 8, 4, 8, 8, 1.0f}, {37, 8, 4, 8, 8, 1.0f}, {7, 4, 2, 64, 64, 1.0f},
        {5, 6, 2, 128, 96, 1.0f}, {3, 4, 4, 48, 32, 2.0f}, {300, 2, 1, 256, 256, 1.0f},
    };
    kt_ctx_list L;
    kt_contexts_open(&L);
    int cpus = 0;
    for (int ci = 0; ci < L.count; ci++) {
        const kt_ctx *c = &L.items[ci];
        if (c->backend != KILN_BACKEND_CPU) continue;
        cpus++;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const int n = cases[i].n, hq = cases[i].n_heads * cases[i].hd, hk = cases[i].n_kv * cases[i].hd;
            kt_rng r = kt_rng_make(0x2095e + i);
            float *qf = kt_randn(&r, (size_t)n * hq, 0, 1), *kf = kt_randn(&r, (size_t)n * hk, 0, 1);
            int32_t *pos = malloc(sizeof(int32_t) * (size_t)n);
            for (int t = 0; t < n; t++) pos[t] = (int32_t)kt_below(&r, 4096);
            const int64_t qne[3] = {n, cases[i].n_heads, cases[i].hd}, kne[3] = {n, cases[i].n_kv, cases[i].hd}, nn = n;
            kiln_tensor q = kt_tensor(c->ctx, KILN_F32, 3, qne, qf), k = kt_tensor(c->ctx, KILN_F32, 3, kne, kf);
            kiln_tensor pt = kt_tensor(c->ctx, KILN_I32, 1, &nn, pos);
            kiln_rope_params p = {.q = q, .k = k, .positions = pt, .rope_dim = cases[i].rope_dim, .theta = 10000.0f,
                                  .freq_scale = 1.0f / cases[i].scale};
            cr_assert_eq(kiln_rope(c->ctx, &p), KILN_OK, "%s: %s", c->label, kiln_last_error());
            host_rope(qf, n, cases[i].n_heads, cases[i].hd, cases[i].rope_dim, pos, cases[i].scale, 10000.0f);
            host_rope(kf, n, cases[i].n_kv, cases[i].hd, cases[i].rope_dim, pos, cases[i].scale, 10000.0f);
            cr_expect_eq(memcmp(kiln_buffer_host_ptr(q.buf), qf, (size_t)n * hq * 4), 0,
                         "%s case %zu: q differs from llama2.c's formula (seed %llu)", c->label, i,
                         (unsigned long long)kt_seed());
            cr_expect_eq(memcmp(kiln_buffer_host_ptr(k.buf), kf, (size_t)n * hk * 4), 0,
                         "%s case %zu: k differs from llama2.c's formula (seed %llu)", c->label, i,
                         (unsigned long long)kt_seed());
            kt_tensor_free(&q), kt_tensor_free(&k), kt_tensor_free(&pt);
            free(qf), free(kf), free(pos);
        }
    }
    if (!cpus) cr_skip_test("no cpu context under test");
    kt_contexts_close(&L);
}

/* ------------------------------------------------------------ bad input */

typedef struct rp_fixture {
    kiln_context *ctx;
    kiln_tensor q, k, v, pos, slots, kc, vc;
    kiln_rope_params p;
} rp_fixture;

static void fixture(rp_fixture *f, kiln_dtype cache)
{
    memset(f, 0, sizeof *f);
    cr_assert_eq(kiln_context_create("cpu", NULL, &f->ctx), KILN_OK, "%s", kiln_last_error());
    const int64_t qne[3] = {4, 8, 64}, kne[3] = {4, 2, 64}, cne[4] = {2, 16, 2, 64}, n = 4;
    const int32_t zeros[4] = {0, 1, 2, 3};
    f->q = kt_tensor(f->ctx, KILN_F32, 3, qne, NULL);
    f->k = kt_tensor(f->ctx, KILN_F32, 3, kne, NULL);
    f->v = kt_tensor(f->ctx, KILN_F32, 3, kne, NULL);
    f->pos = kt_tensor(f->ctx, KILN_I32, 1, &n, zeros);
    f->slots = kt_tensor(f->ctx, KILN_I32, 1, &n, zeros);
    f->kc = kt_tensor(f->ctx, cache, 4, cne, NULL);
    f->vc = kt_tensor(f->ctx, cache, 4, cne, NULL);
    f->p = (kiln_rope_params){.q = f->q, .k = f->k, .positions = f->pos, .rope_dim = 64, .theta = 10000.0f,
                              .freq_scale = 1.0f, .v = &f->v, .k_cache = &f->kc, .v_cache = &f->vc, .slots = &f->slots};
}

static void fixture_free(rp_fixture *f)
{
    kiln_tensor *ts[] = {&f->q, &f->k, &f->v, &f->pos, &f->slots, &f->kc, &f->vc};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) kt_tensor_free(ts[i]);
    kiln_context_destroy(f->ctx);
}

static void expect_bad(rp_fixture *f, kiln_status want, const char *needle, const char *label)
{
    void *kc_before = kt_snapshot(f->kc.buf);
    kiln_status st = kiln_rope(f->ctx, &f->p);
    cr_expect_eq(st, want, "%s: status %s, expected %s (%s)", label, kiln_status_name(st), kiln_status_name(want),
                 kiln_last_error());
    cr_expect_not_null(strstr(kiln_last_error(), needle), "%s: message '%s' does not mention '%s'", label,
                       kiln_last_error(), needle);
    cr_expect_eq(memcmp(kc_before, kiln_buffer_host_ptr(f->kc.buf), kiln_buffer_size(f->kc.buf)), 0,
                 "%s: k_cache was touched by a rejected call", label);
    free(kc_before);
}

Test(op_rope, bad_parameters_are_rejected)
{
    rp_fixture f;
    fixture(&f, KILN_F16);
    cr_assert_eq(kiln_rope(f.ctx, &f.p), KILN_OK, "the fixture itself must be valid: %s", kiln_last_error());

    f.p.rope_dim = 63;
    expect_bad(&f, KILN_ERR_INVALID_ARG, "rope_dim=63", "odd rope_dim");
    f.p.rope_dim = 66;
    expect_bad(&f, KILN_ERR_INVALID_ARG, "rope_dim=66", "rope_dim > head_dim");
    f.p.rope_dim = 64;
    f.p.theta = 0;
    expect_bad(&f, KILN_ERR_INVALID_ARG, "theta", "theta 0");
    f.p.theta = 10000.0f, f.p.freq_scale = NAN;
    expect_bad(&f, KILN_ERR_INVALID_ARG, "freq_scale", "freq_scale NaN");
    f.p.freq_scale = 1.0f, f.p.neox = 2;
    expect_bad(&f, KILN_ERR_INVALID_ARG, "neox=2", "neox 2");
    f.p.neox = 0;

    f.p.slots = NULL;
    expect_bad(&f, KILN_ERR_INVALID_ARG, "missing: slots", "append without slots");
    f.p.slots = &f.slots, f.p.v = NULL;
    expect_bad(&f, KILN_ERR_INVALID_ARG, "missing: v", "append without v");
    f.p.v = &f.v;

    kiln_tensor saved = f.p.k;
    f.p.q.ne[1] = 7; /* 7 heads over 2 KV heads */
    expect_bad(&f, KILN_ERR_SHAPE, "not a multiple", "GQA heads");
    f.p.q = f.q;
    f.p.k.ne[2] = 32, f.p.k.nb[1] = 32 * 4, f.p.k.nb[0] = 2 * 32 * 4;
    expect_bad(&f, KILN_ERR_SHAPE, "head_dim differs", "q/k head_dim");
    f.p.k = saved;
    f.p.q.dtype = KILN_F16;
    expect_bad(&f, KILN_ERR_INVALID_ARG, "expected f32", "f16 q");
    f.p.q = f.q;
    f.p.positions.dtype = KILN_F32;
    expect_bad(&f, KILN_ERR_INVALID_ARG, "positions is f32", "f32 positions");
    f.p.positions = f.pos;
    f.p.positions.ne[0] = 3;
    expect_bad(&f, KILN_ERR_SHAPE, "positions has 3 entries", "short positions");
    f.p.positions = f.pos;

    kiln_tensor vc_saved = f.vc;
    f.vc.dtype = KILN_F32;
    f.p.v_cache = &f.vc;
    expect_bad(&f, KILN_ERR_INVALID_ARG, "must match", "cache dtypes differ");
    f.vc = vc_saved;
    f.kc.ne[2] = f.vc.ne[2] = 1, f.kc.nb[1] = f.vc.nb[1] = 64 * 2, f.kc.nb[0] = f.vc.nb[0] = 16 * 64 * 2;
    expect_bad(&f, KILN_ERR_SHAPE, "k_cache rows", "cache heads");
    fixture_free(&f);

    /* slots past the cache (host-visible on cpu) */
    fixture(&f, KILN_F32);
    int32_t *sl = kiln_buffer_host_ptr(f.slots.buf);
    sl[2] = 32;
    expect_bad(&f, KILN_ERR_SHAPE, "slots[2]=32", "slot past the cache");
    sl[2] = -1; /* padding is fine */
    cr_expect_eq(kiln_rope(f.ctx, &f.p), KILN_OK, "slot -1 must be accepted: %s", kiln_last_error());
    fixture_free(&f);

    /* q8_0 needs head_dim % 32 */
    memset(&f, 0, sizeof f);
    cr_assert_eq(kiln_context_create("cpu", NULL, &f.ctx), KILN_OK);
    const int64_t qne[3] = {2, 2, 48}, cne[4] = {1, 8, 2, 48}, n = 2;
    const int32_t z[2] = {0, 1};
    f.q = kt_tensor(f.ctx, KILN_F32, 3, qne, NULL), f.k = kt_tensor(f.ctx, KILN_F32, 3, qne, NULL);
    f.v = kt_tensor(f.ctx, KILN_F32, 3, qne, NULL);
    f.pos = kt_tensor(f.ctx, KILN_I32, 1, &n, z), f.slots = kt_tensor(f.ctx, KILN_I32, 1, &n, z);
    f.kc = kt_tensor(f.ctx, KILN_F16, 4, cne, NULL), f.vc = kt_tensor(f.ctx, KILN_F16, 4, cne, NULL);
    f.kc.dtype = f.vc.dtype = KILN_Q8_0; /* shape check comes first */
    f.p = (kiln_rope_params){.q = f.q, .k = f.k, .positions = f.pos, .rope_dim = 32, .theta = 1e4f, .freq_scale = 1,
                             .v = &f.v, .k_cache = &f.kc, .v_cache = &f.vc, .slots = &f.slots};
    expect_bad(&f, KILN_ERR_SHAPE, "head_dim % 32", "q8_0 with head_dim 48");
    fixture_free(&f);
}

/* Spec text: parses back, names, rejects what rope cannot be. */
Test(op_rope, spec_text)
{
    kiln_spec s;
    cr_assert_eq(kiln_spec_parse("rope backend=cuda fmt=q8_0 epi=kv threads=128", &s), KILN_OK, "%s", kiln_last_error());
    cr_expect_eq(s.op, KILN_OP_ROPE);
    cr_expect_eq(s.fmt, KILN_Q8_0);
    cr_expect_eq(s.epilogue, (unsigned)KILN_SPEC_ROPE_KV);
    char text[KILN_SPEC_TEXT_MAX], name[KILN_SPEC_NAME_MAX];
    kiln_spec_to_text(&s, text, sizeof text);
    kiln_spec_name(&s, name, sizeof name);
    cr_expect_str_eq(text, "rope backend=cuda fmt=q8_0 epi=kv threads=128");
    cr_expect_str_eq(name, "rope_cuda_q8_0_f32_f32_kv_t128");
    kiln_spec back;
    cr_assert_eq(kiln_spec_parse(text, &back), KILN_OK);
    cr_expect(kiln_spec_equal(&s, &back));
    cr_expect_eq(kiln_spec_hash(&s), kiln_spec_hash(&back));
    cr_expect_eq(kiln_spec_parse("rope backend=vulkan threads=64", &s), KILN_OK, "%s", kiln_last_error());
    cr_expect_eq(kiln_spec_parse("rope backend=cuda fmt=q4_0 epi=kv threads=128", &s), KILN_ERR_INVALID_ARG);
    cr_expect_eq(kiln_spec_parse("rope backend=cuda fmt=f16 threads=128", &s), KILN_ERR_INVALID_ARG,
                 "a cache dtype without epi=kv");
    cr_expect_eq(kiln_spec_parse("rope backend=cuda act=f16 threads=128", &s), KILN_ERR_INVALID_ARG);
    cr_expect_eq(kiln_spec_parse("rope backend=cuda epi=kv threads=128 tm=4", &s), KILN_ERR_INVALID_ARG);
    cr_expect_eq(kiln_spec_parse("rope backend=cuda epi=layer threads=128", &s), KILN_ERR_INVALID_ARG);
}
