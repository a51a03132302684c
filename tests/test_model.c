/* tests/test_model.c — model loading without a backend: the config read from
 * each source, malformed files refused with a message naming the problem,
 * convert/quantize round trips (checked with the C reference forward),
 * synthetic presets, and the sampler. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/runtime.h"
#include "runtime/model.h"
#include "tests/test_model_reference.h"

#define MODELS KILN_SOURCE_DIR "/../shared/models/"

static void need(const char *path)
{
    if (access(path, R_OK) != 0) cr_skip_test("%s is absent", path);
}

static char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 256, "/tmp/kiln_test_model_%d_%s", (int)getpid(), name);
    return p;
}

Test(model, configs_of_bin_and_gguf_agree)
{
    need(MODELS "stories260K.bin");
    need(MODELS "stories260K-f32.gguf");
    kiln_model *a = NULL, *b = NULL;
    cr_assert_eq(kiln_model_load(MODELS "stories260K.bin", &a), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_model_load(MODELS "stories260K-f32.gguf", &b), KILN_OK, "%s", kiln_last_error());
    const kiln_model_config *x = kiln_model_get_config(a), *y = kiln_model_get_config(b);
    cr_assert_eq(x->dim, 64);
    cr_assert_eq(x->hidden_dim, 172);
    cr_assert_eq(x->n_layers, 5);
    cr_assert_eq(x->n_heads, 8);
    cr_assert_eq(x->n_kv_heads, 4);
    cr_assert_eq(x->head_dim, 8);
    cr_assert_eq(x->n_vocab, 512);
    cr_assert(x->tied_output);
    cr_assert_eq(x->dim, y->dim);
    cr_assert_eq(x->hidden_dim, y->hidden_dim);
    cr_assert_eq(x->n_kv_heads, y->n_kv_heads);
    cr_assert_eq(x->rope_dim, y->rope_dim);
    cr_assert_float_eq(y->norm_eps, 1e-5f, 1e-9);
    cr_assert_float_eq(y->rope_theta, 10000.0f, 1e-3);
    cr_assert_null(kiln_model_tokenizer(a));
    cr_assert_not_null(kiln_model_tokenizer(b));
    /* The same weights, row for row (no Q/K permutation between the formats). */
    cr_assert_eq(memcmp(a->layers[3].w[KILN_ROLE_ATTN_K].data, b->layers[3].w[KILN_ROLE_ATTN_K].data, 32 * 64 * 4), 0);
    kiln_model_free(a);
    kiln_model_free(b);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void expect_load_error(const char *path, kiln_status want, const char *needle)
{
    kiln_model *m = NULL;
    kiln_status st = kiln_model_load(path, &m);
    cr_expect_eq(st, want, "loading %s: status %d (%s), expected %d", path, st, kiln_last_error(), want);
    cr_expect_null(m);
    cr_expect_not_null(strstr(kiln_last_error(), needle), "message '%s' should mention '%s'", kiln_last_error(), needle);
}

Test(model, malformed_files_fail_by_name)
{
    need(MODELS "stories260K.bin");
    expect_load_error("/nonexistent/model.bin", KILN_ERR_IO, "/nonexistent/model.bin");

    /* A truncated checkpoint. */
    FILE *f = fopen(MODELS "stories260K.bin", "rb");
    char *buf = malloc(200000);
    size_t n = fread(buf, 1, 200000, f);
    fclose(f);
    char *p = tmp_path("trunc.bin");
    write_file(p, buf, n);
    expect_load_error(p, KILN_ERR_FORMAT, "truncated");
    /* A header that is no checkpoint. */
    int32_t bad[7] = {64, 172, -5, 8, 4, 512, 512};
    write_file(p, bad, sizeof bad);
    expect_load_error(p, KILN_ERR_FORMAT, "not a llama2.c checkpoint");
    remove(p);
    free(buf);

    /* GGUF: garbage, an unknown architecture, a missing tensor, a bad shape. */
    char *g = tmp_path("bad.gguf");
    write_file(g, "GGUFgarbage", 11);
    kiln_model *m = NULL;
    cr_expect_neq(kiln_model_load(g, &m), KILN_OK);

    kiln_gguf_writer *w;
    cr_assert_eq(kiln_gguf_writer_create(&w), KILN_OK);
    kiln_gguf_writer_set_str(w, "general.architecture", "mamba");
    cr_assert_eq(kiln_gguf_writer_write(w, g, 3), KILN_OK, "%s", kiln_last_error());
    kiln_gguf_writer_free(w);
    expect_load_error(g, KILN_ERR_UNSUPPORTED, "mamba");

    kiln_model *src = NULL;
    cr_assert_eq(kiln_model_load(MODELS "stories260K.bin", &src), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_create(&w), KILN_OK);
    kiln_gguf_writer_set_str(w, "general.architecture", "llama");
    kiln_gguf_writer_set_u32(w, "llama.embedding_length", 64);
    kiln_gguf_writer_set_u32(w, "llama.block_count", 1);
    kiln_gguf_writer_set_u32(w, "llama.attention.head_count", 8);
    kiln_gguf_writer_set_u32(w, "llama.attention.head_count_kv", 4);
    kiln_gguf_writer_set_u32(w, "llama.feed_forward_length", 172);
    int64_t ne_emb[2] = {64, 512}, ne_norm[1] = {64};
    kiln_gguf_writer_add_tensor(w, "token_embd.weight", KILN_F32, 2, ne_emb, src->token_embd.data);
    kiln_gguf_writer_add_tensor(w, "output_norm.weight", KILN_F32, 1, ne_norm, src->output_norm.data);
    cr_assert_eq(kiln_gguf_writer_write(w, g, 3), KILN_OK, "%s", kiln_last_error());
    expect_load_error(g, KILN_ERR_FORMAT, "blk.0.attn_norm.weight");
    /* Now every tensor but one of the wrong width. */
    const kiln_layer_weights *L = &src->layers[0];
    const char *names[] = {NULL, NULL, NULL, "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
                           "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_norm.weight",
                           "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight"};
    for (int r = KILN_ROLE_FIRST_PER_LAYER; r < KILN_ROLE_COUNT; r++) {
        const kiln_weight *x = &L->w[r];
        int64_t ne[2] = {x->cols, x->rows};
        if (r == KILN_ROLE_FFN_UP) ne[1] = 171; /* one row short */
        kiln_gguf_writer_add_tensor(w, names[r], KILN_F32, x->rows == 1 ? 1 : 2, ne, x->data);
    }
    cr_assert_eq(kiln_gguf_writer_write(w, g, 3), KILN_OK, "%s", kiln_last_error());
    kiln_gguf_writer_free(w);
    expect_load_error(g, KILN_ERR_SHAPE, "blk.0.ffn_up.weight");
    kiln_model_free(src);
    remove(g);

    expect_load_error("synthetic:13b", KILN_ERR_INVALID_ARG, "13b");
    expect_load_error("synthetic:tiny-i32", KILN_ERR_INVALID_ARG, "i32");
}

static int greedy_agreement(const char *path, const int32_t *expect, int n)
{
    kiln_model *m = NULL;
    cr_assert_eq(kiln_model_load(path, &m), KILN_OK, "%s: %s", path, kiln_last_error());
    kiln_ref_state *s = kiln_ref_create(m, 128);
    int token = 1, same = 0;
    for (int pos = 0; pos < n; pos++) {
        const float *l = kiln_ref_forward(s, token, pos);
        int b = 0;
        for (int i = 1; i < m->cfg.n_vocab; i++)
            if (l[i] > l[b]) b = i;
        token = b;
        if (token != expect[pos]) break;
        same++;
    }
    kiln_ref_free(s);
    kiln_model_free(m);
    return same;
}

/* ‖logits(b) − logits(a)‖ / ‖logits(a)‖ over the first n steps of a's greedy path. */
static double logits_rel_err(const char *a, const char *b, int n)
{
    kiln_model *ma = NULL, *mb = NULL;
    cr_assert_eq(kiln_model_load(a, &ma), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_model_load(b, &mb), KILN_OK, "%s", kiln_last_error());
    kiln_ref_state *sa = kiln_ref_create(ma, 64), *sb = kiln_ref_create(mb, 64);
    int token = 1, nv = ma->cfg.n_vocab;
    double worst = 0;
    for (int pos = 0; pos < n; pos++) {
        const float *la = kiln_ref_forward(sa, token, pos), *lb = kiln_ref_forward(sb, token, pos);
        double num = 0, den = 0;
        int best = 0;
        for (int i = 0; i < nv; i++) {
            num += ((double)lb[i] - la[i]) * ((double)lb[i] - la[i]);
            den += (double)la[i] * la[i];
            if (la[i] > la[best]) best = i;
        }
        worst = fmax(worst, sqrt(num / den));
        token = best;
    }
    kiln_ref_free(sa), kiln_ref_free(sb);
    kiln_model_free(ma), kiln_model_free(mb);
    return worst;
}

/* convert keeps the weights bit for bit; quantize to q8_0 keeps the greedy path for a while. */
Test(model, convert_and_quantize_round_trip, .timeout = 60)
{
    need(MODELS "stories260K.bin");
    int32_t expect[64];
    if (kiln_ref_read_expected(expect, 64) != 64) cr_skip_test("reference ids absent");
    kiln_model *m = NULL;
    cr_assert_eq(kiln_model_load(MODELS "stories260K.bin", &m), KILN_OK);
    char *conv = tmp_path("conv.gguf"), *q8 = tmp_path("q8.gguf"), *q4k = tmp_path("q4k.gguf");
    cr_assert_eq(kiln_model_save_gguf(m, conv, -1, NULL, NULL), KILN_OK, "%s", kiln_last_error());
    kiln_model_free(m);
    cr_assert_eq(greedy_agreement(conv, expect, 64), 64);

    cr_assert_eq(kiln_model_load(conv, &m), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_model_save_gguf(m, q8, KILN_Q8_0, NULL, NULL), KILN_OK, "%s", kiln_last_error());
    int notes = 0;
    void count(void *u, const char *msg);
    cr_assert_eq(kiln_model_save_gguf(m, q4k, KILN_Q4_K, count, &notes), KILN_OK, "%s", kiln_last_error());
    cr_assert_gt(notes, 0, "rows of 64 and 172 cannot be q4_k; the fallback must be reported");
    kiln_model_free(m);

    cr_assert_eq(kiln_model_load(q8, &m), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(m->layers[0].w[KILN_ROLE_ATTN_Q].dtype, KILN_Q8_0);
    cr_assert_eq(m->layers[0].w[KILN_ROLE_FFN_DOWN].dtype, KILN_F16, "rows of 172 fit no 32-block: f16");
    cr_assert_eq(m->layers[0].w[KILN_ROLE_ATTN_NORM].dtype, KILN_F32);
    kiln_model_free(m);
    /* The model is tiny and its first greedy margin 0.1, so q8_0 (like llama.cpp's
     * Q4_K_M) may pick another first token: judge it by the logits instead.
     * q8_0 rounds these weights by ~0.6% per tensor, which five layers of a
     * 64-wide model amplify to ~5% in the logits; a broken conversion is ~100%. */
    double e = logits_rel_err(conv, q8, 8);
    cr_assert_lt(e, 0.15, "q8_0 logits differ from f32 by %.3g", e);
    cr_assert_eq(kiln_model_load(q4k, &m), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(m->layers[0].w[KILN_ROLE_ATTN_Q].dtype, KILN_Q5_0);
    kiln_model_free(m);
    remove(conv), remove(q8), remove(q4k);
}

void count(void *u, const char *msg)
{
    (void)msg;
    (*(int *)u)++;
}

Test(model, synthetic_presets, .timeout = 60)
{
    kiln_model *m = NULL;
    cr_assert_eq(kiln_model_load("synthetic:tiny-q4_k", &m), KILN_OK, "%s", kiln_last_error());
    const kiln_model_config *c = kiln_model_get_config(m);
    cr_assert_eq(c->dim, 256);
    cr_assert_eq(m->layers[1].w[KILN_ROLE_FFN_DOWN].dtype, KILN_Q4_K);
    /* sane scales: the reference forward gives finite, non-constant logits */
    kiln_ref_state *s = kiln_ref_create(m, 4);
    const float *l = kiln_ref_forward(s, 7, 0);
    float lo = l[0], hi = l[0];
    for (int i = 0; i < c->n_vocab; i++) {
        cr_assert(isfinite(l[i]));
        lo = fminf(lo, l[i]), hi = fmaxf(hi, l[i]);
    }
    cr_assert_gt(hi - lo, 1e-3);
    kiln_ref_free(s);
    kiln_model_free(m);
}

/* ---------------------------------------------------------------- sampler */

Test(sampler, greedy_and_top_k_1_pick_the_argmax)
{
    float logits[100];
    for (int trial = 0; trial < 20; trial++) {
        int best = rand() % 100;
        for (int i = 0; i < 100; i++) logits[i] = (float)(rand() % 1000) / 100.0f;
        logits[best] = 20.0f;
        kiln_sampler_params p = kiln_sampler_params_default();
        p.temperature = 0;
        kiln_sampler *s;
        cr_assert_eq(kiln_sampler_create(&p, 100, &s), KILN_OK);
        cr_assert_eq(kiln_sampler_sample(s, logits, NULL, 0), best);
        kiln_sampler_free(s);
        p.temperature = 5.0f, p.top_k = 1, p.seed = (uint64_t)trial;
        cr_assert_eq(kiln_sampler_create(&p, 100, &s), KILN_OK);
        cr_assert_eq(kiln_sampler_sample(s, logits, NULL, 0), best);
        kiln_sampler_free(s);
    }
}

static void draw(const kiln_sampler_params *p, int n, int *counts, int32_t *seq)
{
    kiln_sampler *s;
    cr_assert_eq(kiln_sampler_create(p, 8, &s), KILN_OK);
    for (int i = 0; i < n; i++) {
        float logits[8] = {0, 1, 2, 3, 0.5f, -1, -2, 2.5f};
        int32_t t = kiln_sampler_sample(s, logits, NULL, 0);
        cr_assert(t >= 0 && t < 8);
        counts[t]++;
        if (seq) seq[i] = t;
    }
    kiln_sampler_free(s);
}

Test(sampler, seeded_draws_repeat_and_follow_the_distribution)
{
    kiln_sampler_params p = kiln_sampler_params_default();
    p.temperature = 1, p.top_k = 0, p.top_p = 1, p.min_p = 0, p.seed = 42;
    int c1[8] = {0}, c2[8] = {0};
    int32_t s1[4000], s2[4000];
    draw(&p, 4000, c1, s1);
    draw(&p, 4000, c2, s2);
    cr_assert_eq(memcmp(s1, s2, sizeof s1), 0, "same seed, different draws");
    /* softmax of the logits: p(3) = e^3 / sum */
    double sum = 0;
    float logits[8] = {0, 1, 2, 3, 0.5f, -1, -2, 2.5f};
    for (int i = 0; i < 8; i++) sum += exp(logits[i]);
    for (int i = 0; i < 8; i++) {
        double want = exp(logits[i]) / sum * 4000;
        cr_expect(fabs(c1[i] - want) < 5 * sqrt(want) + 5, "token %d drawn %d times, expected ~%.0f", i, c1[i], want);
    }
    /* top-k 2 leaves only tokens 3 and 7; min-p 0.5 leaves 3 and 7 (e^-0.5 = 0.61) */
    int c3[8] = {0}, c4[8] = {0};
    p.top_k = 2;
    draw(&p, 500, c3, NULL);
    cr_expect_eq(c3[3] + c3[7], 500);
    p.top_k = 0, p.min_p = 0.5f;
    draw(&p, 500, c4, NULL);
    cr_expect_eq(c4[3] + c4[7], 500);
    /* top-p 0.5: p(3) ~ 0.42 < 0.5, so 3 and 7 */
    int c5[8] = {0};
    p.min_p = 0, p.top_p = 0.5f;
    draw(&p, 500, c5, NULL);
    cr_expect_eq(c5[3] + c5[7], 500);
    cr_expect_gt(c5[7], 0);
}

Test(sampler, repetition_penalty_and_bad_parameters)
{
    kiln_sampler_params p = kiln_sampler_params_default();
    p.temperature = 0, p.repeat_penalty = 10.0f;
    kiln_sampler *s;
    cr_assert_eq(kiln_sampler_create(&p, 4, &s), KILN_OK);
    float logits[4] = {1, 3, 2, -1};
    int32_t hist[2] = {1, 1};
    cr_assert_eq(kiln_sampler_sample(s, logits, hist, 2), 2, "token 1 (3 -> 0.3) must lose to token 2");
    kiln_sampler_free(s);
    p.top_p = 0;
    cr_assert_eq(kiln_sampler_create(&p, 4, &s), KILN_ERR_INVALID_ARG);
    p.top_p = 1, p.temperature = -1;
    cr_assert_eq(kiln_sampler_create(&p, 4, &s), KILN_ERR_INVALID_ARG);
}

/* top-k picks exactly the k largest logits (ties broken by id), whatever the vocabulary size. */
Test(sampler, top_k_keeps_exactly_the_k_largest)
{
    int nv = 5000, k = 7;
    float *logits = malloc((size_t)nv * sizeof *logits), *copy = malloc((size_t)nv * sizeof *copy);
    srand(1234);
    for (int i = 0; i < nv; i++) logits[i] = (float)(rand() % 100000) / 1000.0f;
    /* the k largest, by brute force */
    int top[7];
    for (int j = 0; j < k; j++) {
        int b = -1;
        for (int i = 0; i < nv; i++) {
            int taken = 0;
            for (int q = 0; q < j; q++) taken |= top[q] == i;
            if (!taken && (b < 0 || logits[i] > logits[b])) b = i;
        }
        top[j] = b;
    }
    kiln_sampler_params p = kiln_sampler_params_default();
    p.temperature = 1000, p.top_k = k, p.top_p = 1, p.min_p = 0, p.seed = 9;
    kiln_sampler *s;
    cr_assert_eq(kiln_sampler_create(&p, nv, &s), KILN_OK);
    int seen[7] = {0};
    for (int d = 0; d < 700; d++) {
        memcpy(copy, logits, (size_t)nv * sizeof *copy);
        int32_t t = kiln_sampler_sample(s, copy, NULL, 0);
        int found = 0;
        for (int j = 0; j < k; j++)
            if (t == top[j]) found = 1, seen[j]++;
        cr_assert(found, "token %d (logit %g) is not among the %d largest", t, logits[t], k);
    }
    for (int j = 0; j < k; j++) cr_expect_gt(seen[j], 0, "top token %d never drawn at temperature 1000", top[j]);
    kiln_sampler_free(s);
    free(logits);
    free(copy);
}
