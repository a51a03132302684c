/* demo/demo_rope_check.c — `kiln demo`'s check of the rope op: one small
 * random problem with the KV append (GQA, rope_dim < head_dim, a padding
 * token, scattered slots), q and k against the double reference and every
 * written cache slot byte for byte against kiln_quantize_row of the op's own
 * rotated k (and of v). The tuner's selfcheck (autotune/selfcheck.c) has no
 * rope problem — rope is not tuned and rotates in place — so it lives here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo/commands.h"
#include "kernels/ref/ref.h"
#include "kiln/kiln.h"

enum { N = 5, NH = 4, NKV = 2, HD = 64, ROPE_DIM = 48, BLOCKS = 3, BS = 8 };

static kiln_status tensor(kiln_context *ctx, kiln_dtype t, int ndim, const int64_t *ne, const void *host,
                          kiln_tensor *out)
{
    kiln_buffer *b;
    size_t bytes = kiln_row_bytes(t, ne[ndim - 1]);
    for (int d = 0; d < ndim - 1; d++) bytes *= (size_t)ne[d];
    kiln_status st = kiln_buffer_alloc(ctx, bytes, &b);
    if (st != KILN_OK) return st;
    *out = kiln_tensor_make(b, 0, t, ndim, ne);
    if (host) return kiln_buffer_upload(b, 0, host, bytes);
    void *ff = malloc(bytes); /* poison: 0xff */
    if (!ff) return KILN_ERR_OUT_OF_MEMORY;
    memset(ff, 0xff, bytes);
    st = kiln_buffer_upload(b, 0, ff, bytes);
    free(ff);
    return st;
}

int kiln_demo_check_rope(kiln_context *ctx, kiln_dtype cache, char *report, size_t cap)
{
    static float q[N * NH * HD], k[N * NKV * HD], v[N * NKV * HD], qo[N * NH * HD], ko[N * NKV * HD];
    static double qref[N * NH * HD], kref[N * NKV * HD];
    const int32_t pos[N] = {0, 17, 3, 250, 1000}, slots[N] = {21, 2, -1, 9, 16};
    uint32_t seed = 12345;
    float *all[3] = {q, k, v};
    const int sizes[3] = {N * NH * HD, N * NKV * HD, N * NKV * HD};
    for (int a = 0; a < 3; a++)
        for (int i = 0; i < sizes[a]; i++) {
            seed = seed * 1664525u + 1013904223u;
            all[a][i] = (float)((seed >> 8) / 16777216.0 * 2 - 1);
        }
    const int64_t qne[3] = {N, NH, HD}, kne[3] = {N, NKV, HD}, cne[4] = {BLOCKS, BS, NKV, HD}, n = N;
    kiln_tensor tq = {0}, tk = {0}, tv = {0}, tp = {0}, ts = {0}, tkc = {0}, tvc = {0};
    kiln_status st = tensor(ctx, KILN_F32, 3, qne, q, &tq);
    if (!st) st = tensor(ctx, KILN_F32, 3, kne, k, &tk);
    if (!st) st = tensor(ctx, KILN_F32, 3, kne, v, &tv);
    if (!st) st = tensor(ctx, KILN_I32, 1, &n, pos, &tp);
    if (!st) st = tensor(ctx, KILN_I32, 1, &n, slots, &ts);
    if (!st) st = tensor(ctx, cache, 4, cne, NULL, &tkc);
    if (!st) st = tensor(ctx, cache, 4, cne, NULL, &tvc);
    kiln_rope_params p = {.q = tq, .k = tk, .positions = tp, .rope_dim = ROPE_DIM, .theta = 10000.0f,
                          .freq_scale = 1.0f, .neox = 0, .v = &tv, .k_cache = &tkc, .v_cache = &tvc, .slots = &ts};
    if (!st) st = kiln_rope(ctx, &p);
    if (!st) st = kiln_synchronize(ctx);
    if (!st) st = kiln_buffer_download(tq.buf, 0, qo, sizeof qo);
    if (!st) st = kiln_buffer_download(tk.buf, 0, ko, sizeof ko);
    const size_t slot_bytes = kiln_row_bytes(cache, NKV * HD), cache_bytes = slot_bytes * BLOCKS * BS;
    unsigned char *kc = malloc(cache_bytes), *vc = malloc(cache_bytes), *want = malloc(slot_bytes);
    if (!kc || !vc || !want) st = KILN_ERR_OUT_OF_MEMORY;
    if (!st) st = kiln_buffer_download(tkc.buf, 0, kc, cache_bytes);
    if (!st) st = kiln_buffer_download(tvc.buf, 0, vc, cache_bytes);
    const char *problem = NULL;
    double worst = 0;
    if (!st) {
        kiln_ref_rope_args ra = {.n = N, .n_heads = NH, .head_dim = HD, .x = q, .positions = pos,
                                 .rope_dim = ROPE_DIM, .theta = 10000.0, .freq_scale = 1.0};
        kiln_ref_rope(&ra, qref, NULL);
        ra.x = k, ra.n_heads = NKV;
        kiln_ref_rope(&ra, kref, NULL);
        for (int i = 0; i < N * NH * HD; i++) worst = fmax(worst, fabs(qo[i] - qref[i]));
        for (int i = 0; i < N * NKV * HD; i++) worst = fmax(worst, fabs(ko[i] - kref[i]));
        /* float angles of positions up to 1000 are off by ~1e-4 rad (cpu), a few times that on GPUs */
        if (!(worst < 1e-3)) problem = "q/k differ from the reference";
        for (int t = 0; t < N && !problem; t++) {
            if (slots[t] < 0) continue;
            kiln_quantize_row(cache, ko + t * NKV * HD, want, NKV * HD);
            if (memcmp(kc + (size_t)slots[t] * slot_bytes, want, slot_bytes)) problem = "a k_cache slot is not the converted k";
            kiln_quantize_row(cache, v + t * NKV * HD, want, NKV * HD);
            if (memcmp(vc + (size_t)slots[t] * slot_bytes, want, slot_bytes)) problem = "a v_cache slot is not the converted v";
        }
        for (size_t s = 0; s < (size_t)BLOCKS * BS && !problem; s++) {
            int written = 0;
            for (int t = 0; t < N; t++) written |= slots[t] == (int32_t)s;
            for (size_t b = 0; b < slot_bytes && !written && !problem; b++)
                if (kc[s * slot_bytes + b] != 0xff || vc[s * slot_bytes + b] != 0xff) problem = "a slot no token maps to was written";
        }
    }
    const char *name = kiln_dtype_get(cache)->name;
    if (st) snprintf(report, cap, "rope n=%d heads=%d/%d hd=%d cache=%s: FAILED: %s", N, NH, NKV, HD, name, kiln_last_error());
    else if (problem) snprintf(report, cap, "rope n=%d heads=%d/%d hd=%d cache=%s: FAILED: %s (max q/k error %.3g)", N, NH, NKV, HD, name, problem, worst);
    else snprintf(report, cap, "rope n=%d heads=%d/%d hd=%d cache=%s: ok (max q/k error %.2g, cache bit-exact)", N, NH, NKV, HD, name, worst);
    kiln_buffer_free(tq.buf), kiln_buffer_free(tk.buf), kiln_buffer_free(tv.buf), kiln_buffer_free(tp.buf);
    kiln_buffer_free(ts.buf), kiln_buffer_free(tkc.buf), kiln_buffer_free(tvc.buf);
    free(kc), free(vc), free(want);
    return st || problem ? 1 : 0;
}
