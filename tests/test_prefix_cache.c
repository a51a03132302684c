/* tests/test_prefix_cache.c — prefix caching in the paged KV cache (cpu):
 * sequences whose prompts start alike share full blocks read-only and give
 * the logits and greedy ids of a fresh prefill; blocks stay cached after
 * their sequences end and are evicted oldest first when blocks run short;
 * keys cover everything before a block; the last prompt token is always
 * left to compute; off means off. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/runtime.h"
#include "runtime/session.h"
#include "tests/test_runtime_util.h"

#define BS 8
#define GEN 8

typedef struct fixture {
    kiln_model *m;
    kiln_context *ctx;
    kiln_session *s;
    int nv;
} fixture;

static void setup_typed(fixture *f, int kv_blocks, kiln_dtype kv_type)
{
    if (!kiln_backend_available(KILN_BACKEND_CPU)) cr_skip_test("the cpu backend is not available: %s", kiln_last_error());
    f->m = load_or_skip("synthetic:tiny-f32");
    cr_assert_eq(kiln_context_create("cpu", NULL, &f->ctx), KILN_OK, "%s", kiln_last_error());
    kiln_session_options o = kiln_session_options_default();
    o.kv_type = kv_type;
    o.kv_block_size = BS;
    o.ctx_len = 64;
    o.max_seqs = 3;
    o.kv_blocks = kv_blocks;
    cr_assert_eq(kiln_session_create(f->m, f->ctx, &o, &f->s), KILN_OK, "%s", kiln_last_error());
    kiln_session_prefix_cache(f->s, 1);
    f->nv = f->m->cfg.n_vocab;
}

static void setup(fixture *f, int kv_blocks) { setup_typed(f, kv_blocks, KILN_F32); }

static void teardown(fixture *f)
{
    kiln_session_free(f->s);
    kiln_context_destroy(f->ctx);
    kiln_model_free(f->m);
}

static void random_ids(int32_t *ids, int n, int nv, unsigned seed)
{
    srand(seed);
    for (int i = 0; i < n; i++) ids[i] = rand() % nv;
}

/* Prefills ids on a new sequence (reusing what the cache has when reuse is
 * set), offers its blocks to the cache, decodes GEN greedy tokens; returns
 * the sequence; out_ids[GEN] the tokens, *reused what came from the cache. */
static int32_t run_seq(fixture *f, const int32_t *ids, int n, int reuse, float *logits, int32_t *out_ids, int *reused)
{
    int32_t seq;
    cr_assert_eq(kiln_session_seq_begin(f->s, &seq), KILN_OK, "%s", kiln_last_error());
    int r = reuse ? kiln_session_seq_reuse_prefix(f->s, seq, ids, (size_t)n) : 0;
    cr_assert_eq(kiln_session_seq_len(f->s, seq), r);
    poison(logits, (size_t)f->nv);
    cr_assert_eq(kiln_session_prefill(f->s, seq, ids + r, (size_t)(n - r), logits), KILN_OK, "%s", kiln_last_error());
    kiln_session_seq_cache(f->s, seq, ids, (size_t)n);
    float *l = malloc((size_t)f->nv * sizeof *l);
    memcpy(l, logits, (size_t)f->nv * sizeof *l);
    for (int g = 0; g < GEN; g++) {
        out_ids[g] = argmax(l, f->nv);
        poison(l, (size_t)f->nv);
        cr_assert_eq(kiln_session_decode(f->s, 1, &seq, &out_ids[g], l), KILN_OK, "%s", kiln_last_error());
    }
    free(l);
    *reused = r;
    return seq;
}

/* Bit-identical: with prefix caching on, every prompt token is computed
 * through the block table, whether the blocks before it were cached or not. */
static void shared_blocks_case(kiln_dtype kv_type)
{
    fixture f;
    setup_typed(&f, 0, kv_type);
    int32_t p[27], ids_a[GEN], ids_b[GEN], ids_c[GEN];
    random_ids(p, 27, f.nv, 1);
    float *la = malloc((size_t)f.nv * 4), *lb = malloc((size_t)f.nv * 4), *lc = malloc((size_t)f.nv * 4);
    int ra, rb, rc;
    int32_t a = run_seq(&f, p, 27, 1, la, ids_a, &ra);
    cr_expect_eq(ra, 0, "nothing cached yet");
    int32_t b = run_seq(&f, p, 27, 1, lb, ids_b, &rb);
    cr_expect_eq(rb, 24, "three full blocks of 8 come from the cache");
    const kiln_kv_cache *kv = &f.s->kv;
    for (int i = 0; i < 3; i++) {
        int32_t blk = kv->table[(size_t)a * kv->max_blocks_per_seq + i];
        cr_expect_eq(kv->table[(size_t)b * kv->max_blocks_per_seq + i], blk, "block %d is shared", i);
        cr_expect_eq(kv->block_refs[blk], 2, "block %d has two holders", i);
    }
    cr_expect_neq(kv->table[(size_t)b * kv->max_blocks_per_seq + 3], kv->table[(size_t)a * kv->max_blocks_per_seq + 3],
                  "the partial block is each sequence's own");
    cr_expect_eq(memcmp(lb, la, (size_t)f.nv * sizeof *la), 0, "logits after the prompt differ (relative error %g)",
                 rel_err(lb, la, f.nv));
    cr_expect_eq(memcmp(ids_a, ids_b, sizeof ids_a), 0, "greedy ids with and without the cache");

    /* Both end: the full blocks stay cached, idle, and serve a third sequence. */
    kiln_session_seq_end(f.s, a);
    kiln_session_seq_end(f.s, b);
    cr_expect_gt(kiln_kv_cache_idle(kv), 2);
    cr_expect_eq(kiln_kv_cache_available(kv), kv->n_blocks, "idle blocks count as available");
    int32_t c = run_seq(&f, p, 27, 1, lc, ids_c, &rc);
    cr_expect_eq(rc, 24);
    cr_expect_eq(memcmp(ids_a, ids_c, sizeof ids_a), 0);
    cr_expect_eq(memcmp(lc, la, (size_t)f.nv * sizeof *la), 0);
    kiln_session_seq_end(f.s, c);
    free(la), free(lb), free(lc);
    teardown(&f);
}

Test(prefix_cache, shared_blocks_give_a_fresh_prefills_output)
{
    shared_blocks_case(KILN_F32);
    shared_blocks_case(KILN_F16);
}

Test(prefix_cache, keys_cover_everything_before_a_block)
{
    fixture f;
    setup(&f, 0);
    int32_t p[27], q[27], ids[GEN];
    float *l = malloc((size_t)f.nv * 4);
    random_ids(p, 27, f.nv, 2);
    memcpy(q, p, sizeof q);
    q[3] = (q[3] + 1) % f.nv; /* the first block differs, the second and third are equal */
    int r;
    kiln_session_seq_end(f.s, run_seq(&f, p, 27, 1, l, ids, &r));
    kiln_session_seq_end(f.s, run_seq(&f, q, 27, 1, l, ids, &r));
    cr_expect_eq(r, 0, "equal later blocks after a different first block are no prefix");
    /* p's second block at the start of a prompt: same tokens, other positions */
    kiln_session_seq_end(f.s, run_seq(&f, p + 8, 19, 1, l, ids, &r));
    cr_expect_eq(r, 0, "a block is keyed by what precedes it, not only its tokens");
    /* a suffix of one token after the cached blocks (mat-vec rather than mat-mat) */
    float *l1 = malloc((size_t)f.nv * 4);
    int32_t ids1[GEN];
    kiln_session_seq_end(f.s, run_seq(&f, p, 17, 0, l1, ids1, &r));
    kiln_session_seq_end(f.s, run_seq(&f, p, 17, 1, l, ids, &r));
    cr_expect_eq(r, 16);
    cr_expect_eq(memcmp(l, l1, (size_t)f.nv * 4), 0, "one token after the cache: relative error %g", rel_err(l, l1, f.nv));
    cr_expect_eq(memcmp(ids, ids1, sizeof ids), 0);
    free(l1);
    /* a prompt of exactly two blocks reuses one: its last token is computed */
    kiln_session_seq_end(f.s, run_seq(&f, p, 16, 1, l, ids, &r));
    cr_expect_eq(r, 8);
    free(l);
    teardown(&f);
}

Test(prefix_cache, least_recently_used_blocks_go_first)
{
    fixture f;
    setup(&f, 6); /* six blocks of 8 */
    int32_t p[27], q[40], ids_a[GEN], ids_b[GEN];
    float *la = malloc((size_t)f.nv * 4), *lb = malloc((size_t)f.nv * 4);
    random_ids(p, 27, f.nv, 3);
    random_ids(q, 40, f.nv, 4);
    int r;
    kiln_session_seq_end(f.s, run_seq(&f, p, 27, 1, la, ids_a, &r)); /* p: 3 full blocks cached, 3 free */
    cr_expect_eq(kiln_kv_cache_idle(&f.s->kv), 3);
    int32_t seq;
    cr_assert_eq(kiln_session_seq_begin(f.s, &seq), KILN_OK);
    cr_assert_eq(kiln_session_prefill(f.s, seq, q, 40, NULL), KILN_OK, "%s", kiln_last_error()); /* 5 blocks */
    cr_expect_eq(kiln_kv_cache_idle(&f.s->kv), 1, "two cached blocks were evicted for q");
    kiln_session_seq_end(f.s, seq);
    /* p's first block was used last... its chain ends were released first and evicted first */
    kiln_session_seq_end(f.s, run_seq(&f, p, 27, 1, lb, ids_b, &r));
    cr_expect_eq(r, 8, "only p's first block survived");
    cr_expect_eq(memcmp(ids_a, ids_b, sizeof ids_a), 0);
    free(la), free(lb);
    teardown(&f);
}

Test(prefix_cache, off_shares_and_keeps_nothing)
{
    fixture f;
    setup(&f, 0);
    int32_t p[27], ids[GEN];
    float *l = malloc((size_t)f.nv * 4);
    random_ids(p, 27, f.nv, 5);
    int r;
    kiln_session_seq_end(f.s, run_seq(&f, p, 27, 1, l, ids, &r));
    kiln_session_prefix_cache(f.s, 0);
    cr_expect_eq(f.s->kv.n_free, f.s->kv.n_blocks, "turning it off frees what was cached");
    kiln_session_seq_end(f.s, run_seq(&f, p, 27, 1, l, ids, &r));
    cr_expect_eq(r, 0);
    cr_expect_eq(f.s->kv.n_free, f.s->kv.n_blocks);
    free(l);
    teardown(&f);
}

/* The block-table prefill (a paged-attention row per token) against flash
 * attention's, on every backend under test: a prompt continued after 5 held
 * tokens, and a whole prompt with prefix caching on, give the logits of one
 * flash prefill up to f32 rounding (a row attending to the wrong length or
 * block would be off by ~100%). */
Test(prefix_cache, block_table_prefill_matches_flash_prefill, .timeout = 180)
{
    kiln_model *m = load_or_skip(MODELS "stories260K.bin");
    int nv = m->cfg.n_vocab;
    int32_t p[27];
    random_ids(p, 27, nv, 6);
    p[0] = 1; /* BOS */
    float *want = malloc((size_t)nv * 4), *got = malloc((size_t)nv * 4);
    kt_ctx_list list;
    kt_contexts_open(&list);
    for (int c = 0; c < list.count; c++) {
        kt_ctx *kc = &list.items[c];
        kiln_session_options o = kiln_session_options_default();
        o.kv_type = KILN_F32;
        o.kv_block_size = BS;
        o.ctx_len = 64;
        kiln_session *s = session_with(m, kc, &o);
        if (!s) continue;
        poison(want, (size_t)nv);
        cr_assert_eq(kiln_session_forward(s, p, 27, want), KILN_OK, "%s: %s", kc->label, kiln_last_error());
        kiln_session_reset(s);
        poison(got, (size_t)nv);
        cr_assert_eq(kiln_session_forward(s, p, 5, NULL), KILN_OK, "%s: %s", kc->label, kiln_last_error());
        cr_assert_eq(kiln_session_forward(s, p + 5, 22, got), KILN_OK, "%s: %s", kc->label, kiln_last_error());
        cr_expect_lt(rel_err(got, want, nv), 1e-4, "%s: continued prompt: relative error %g", kc->label,
                     rel_err(got, want, nv));
        kiln_session_reset(s);
        kiln_session_prefix_cache(s, 1);
        poison(got, (size_t)nv);
        cr_assert_eq(kiln_session_forward(s, p, 27, got), KILN_OK, "%s: %s", kc->label, kiln_last_error());
        cr_expect_lt(rel_err(got, want, nv), 1e-4, "%s: block-table prefill: relative error %g", kc->label,
                     rel_err(got, want, nv));
        kiln_session_free(s);
    }
    kt_contexts_close(&list);
    free(want), free(got);
    kiln_model_free(m);
}
