/* tests/test_runtime_batch.c — several sequences in one session (continuous
 * batching) on every backend under test (KILN_TEST_BACKENDS): greedy decoding
 * of sequences that join late and leave early, batched, gives the ids and
 * logits of decoding each one alone; KV blocks go back to the pool when a
 * sequence ends; bad sequence ids, too many sequences, a full pool and a full
 * context are refused with clear messages and without side effects. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/runtime.h"
#include "runtime/session.h"
#include "tests/support/harness.h"
#include "tests/test_runtime_util.h"

static kiln_session *session_on(const kiln_model *m, kt_ctx *c, int max_seqs, int ctx_len, int kv_blocks)
{
    kiln_session_options o = kiln_session_options_default();
    o.kv_type = KILN_F32;
    o.ctx_len = ctx_len;
    o.kv_block_size = 8;
    o.max_seqs = max_seqs;
    o.kv_blocks = kv_blocks;
    return session_with(m, c, &o);
}

/* ------------------------------------------------- batched equals one by one */

/* Who joins when, with how long a prompt, and how many tokens it generates.
 * With 3 sequences at most: B leaves after its 3rd token and C takes its id;
 * E arrives at step 3 while all three ids are busy and waits for D to leave.
 * Prompt lengths cross the blocks of 8 differently for each sequence. */
typedef struct seq_plan {
    int prompt_len, n_gen, join;
} seq_plan;

static const seq_plan PLAN[] = {{1, 10, 0}, {9, 3, 0}, {17, 8, 2}, {6, 6, 1}, {12, 5, 3}};
#define N_PLAN ((int)(sizeof PLAN / sizeof PLAN[0]))
#define MAX_GEN 10
#define MAX_PROMPT 17
#define MAX_SEQS 3

/* Greedy decoding of each sequence alone in a one-sequence session: the ids
 * and the logits of every generated token (logits[i][g][n_vocab]). */
static int decode_alone(const kiln_model *m, kt_ctx *c, int32_t prompts[][MAX_PROMPT], int32_t ids[][MAX_GEN],
                        float *logits)
{
    int nv = m->cfg.n_vocab;
    kiln_session *s = session_on(m, c, 1, 32, 0);
    if (!s) return 0;
    kiln_status st = KILN_OK;
    for (int i = 0; i < N_PLAN && st == KILN_OK; i++) {
        kiln_session_reset(s);
        float *out = logits + (size_t)i * MAX_GEN * nv;
        poison(out, nv);
        st = kiln_session_forward(s, prompts[i], (size_t)PLAN[i].prompt_len, out);
        for (int g = 0; g < PLAN[i].n_gen && st == KILN_OK; g++) {
            ids[i][g] = argmax(out + (size_t)g * nv, nv);
            if (g + 1 == PLAN[i].n_gen) break;
            poison(out + (size_t)(g + 1) * nv, nv);
            st = kiln_session_forward(s, &ids[i][g], 1, out + (size_t)(g + 1) * nv);
        }
    }
    if (st != KILN_OK) kt_fail_status(c->label, "kiln_session_forward (one sequence)", st);
    kiln_session_free(s);
    return st == KILN_OK;
}

typedef struct batch_state {
    int32_t seq;  /* session sequence id, -1 when not in the session */
    int done;     /* tokens generated */
    int32_t ids[MAX_GEN];
} batch_state;

/* The same sequences through one session of MAX_SEQS sequences, joining and
 * leaving as PLAN says; every decode step is one kiln_session_decode over all
 * sequences in the session. Compares with the one-by-one results as it goes;
 * returns the worst relative logit error, or -1 after a failure. */
static double decode_batched(const kiln_model *m, kt_ctx *c, const char *name, int32_t prompts[][MAX_PROMPT],
                             int32_t want_ids[][MAX_GEN], const float *want_logits, int *widest)
{
    int nv = m->cfg.n_vocab;
    kiln_session *s = session_on(m, c, MAX_SEQS, 32, 0);
    if (!s) return -1;
    batch_state st[N_PLAN];
    for (int i = 0; i < N_PLAN; i++) st[i] = (batch_state){.seq = -1};
    float *logits = malloc((size_t)MAX_SEQS * nv * sizeof *logits);
    double worst = 0;
    int finished = 0, ok = 1;
    *widest = 0;
    /* Records token g of sequence i from logits row; ends it when complete. */
#define TAKE(i, row)                                                                                                  \
    do {                                                                                                              \
        const float *got = (row), *want = want_logits + ((size_t)(i) * MAX_GEN + st[i].done) * nv;                    \
        double e = rel_err(got, want, nv);                                                                            \
        if (e > worst) worst = e;                                                                                     \
        st[i].ids[st[i].done] = argmax(got, nv);                                                                      \
        cr_expect_eq(st[i].ids[st[i].done], want_ids[i][st[i].done],                                                  \
                     "%s on %s: sequence %c token %d: batched %d, alone %d", name, c->label, 'A' + (i), st[i].done,  \
                     st[i].ids[st[i].done], want_ids[i][st[i].done]);                                                 \
        if (++st[i].done == PLAN[i].n_gen) {                                                                          \
            kiln_session_seq_end(s, st[i].seq);                                                                       \
            st[i].seq = -1;                                                                                           \
            finished++;                                                                                               \
        }                                                                                                             \
    } while (0)
    for (int step = 0; finished < N_PLAN && ok && step < 64; step++) {
        for (int i = 0; i < N_PLAN && ok; i++) { /* arrivals: begin and prefill */
            if (st[i].seq >= 0 || st[i].done || PLAN[i].join > step) continue;
            kiln_status r = kiln_session_seq_begin(s, &st[i].seq);
            if (r != KILN_OK) { /* all ids busy: it waits for the next step */
                cr_expect_eq(r, KILN_ERR_INVALID_ARG);
                cr_expect_not_null(strstr(kiln_last_error(), "in use"), "%s", kiln_last_error());
                st[i].seq = -1;
                continue;
            }
            poison(logits, nv);
            r = kiln_session_prefill(s, st[i].seq, prompts[i], (size_t)PLAN[i].prompt_len, logits);
            if (r != KILN_OK) {
                kt_fail_status(c->label, "kiln_session_prefill", r);
                ok = 0;
                break;
            }
            TAKE(i, logits);
        }
        int32_t seqs[MAX_SEQS], toks[MAX_SEQS], who[MAX_SEQS], n = 0;
        for (int i = 0; i < N_PLAN && ok; i++)
            if (st[i].seq >= 0) {
                cr_assert_lt(n, MAX_SEQS);
                who[n] = i, seqs[n] = st[i].seq, toks[n] = st[i].ids[st[i].done - 1], n++;
            }
        if (!ok || n == 0) continue;
        if (n > *widest) *widest = n;
        poison(logits, (size_t)MAX_SEQS * nv);
        kiln_status r = kiln_session_decode(s, (size_t)n, seqs, toks, logits);
        if (r != KILN_OK) {
            kt_fail_status(c->label, "kiln_session_decode", r);
            ok = 0;
            break;
        }
        for (int k = 0; k < n; k++) TAKE(who[k], logits + (size_t)k * nv);
    }
#undef TAKE
    cr_expect(!ok || finished == N_PLAN, "%s on %s: only %d of %d sequences finished", name, c->label, finished, N_PLAN);
    /* every block is back in the pool once all sequences have ended */
    cr_expect_eq(s->kv.n_free, s->kv.n_blocks, "%s on %s: %d of %d blocks free after all sequences ended", name,
                 c->label, s->kv.n_free, s->kv.n_blocks);
    free(logits);
    kiln_session_free(s);
    return ok ? worst : -1;
}

static void batched_matches_alone(const char *path, double tol)
{
    kiln_model *m = load_or_skip(path);
    int nv = m->cfg.n_vocab;
    kt_rng rng = kt_rng_make(0xba7c4);
    int32_t prompts[N_PLAN][MAX_PROMPT];
    for (int i = 0; i < N_PLAN; i++) {
        prompts[i][0] = 1; /* BOS */
        for (int t = 1; t < MAX_PROMPT; t++) prompts[i][t] = (int32_t)kt_below(&rng, nv);
    }
    int32_t want_ids[N_PLAN][MAX_GEN];
    float *want_logits = malloc((size_t)N_PLAN * MAX_GEN * nv * sizeof *want_logits);
    kt_ctx_list list;
    kt_contexts_open(&list);
    for (int c = 0; c < list.count; c++) {
        if (!decode_alone(m, &list.items[c], prompts, want_ids, want_logits)) continue;
        int widest = 0;
        double worst = decode_batched(m, &list.items[c], path, prompts, want_ids, want_logits, &widest);
        if (worst < 0) continue;
        cr_expect_eq(widest, MAX_SEQS, "%s on %s: the widest decode step had %d sequences, expected %d", path,
                     list.items[c].label, widest, MAX_SEQS);
        cr_expect_leq(worst, tol, "%s on %s: batched logits differ from one-by-one by %.3g (tolerance %.3g)", path,
                      list.items[c].label, worst, tol);
        cr_log_info("%s on %s: batched vs alone, worst rel logit error %.3g", path, list.items[c].label, worst);
    }
    kt_contexts_close(&list);
    free(want_logits);
    kiln_model_free(m);
}

/* Tolerances: a batched step runs every matmul with n = number of sequences
 * instead of 1, which may pick another kernel path (mat-mat or small-n
 * instead of mat-vec) and so another order of summation; paged attention
 * reads each sequence's own rows either way. With f32 weights and an f32
 * cache that is f32 rounding only (~1e-7 per op, a few 1e-6 through the
 * model; a kernel that mixed up sequences or positions is off by ~100%).
 * q8_0 weights: the activations are rounded to 8 bits per row either way,
 * but a different summation order can move a value across a rounding step,
 * so allow ~1e-3. */
Test(runtime_batch, batched_decode_matches_alone_stories260k, .timeout = 180)
{
    batched_matches_alone(MODELS "stories260K.bin", 1e-4);
}

Test(runtime_batch, batched_decode_matches_alone_synthetic_q8_0, .timeout = 180)
{
    batched_matches_alone("synthetic:tiny-q8_0", 1e-3);
}

/* ---------------------------------------------------- blocks and refusals */

/* A pool of 6 blocks of 8 for 3 sequences of up to 32 tokens (4 blocks each):
 * blocks come and go with sequences, and what does not fit is refused
 * without changing any sequence. */
Test(runtime_batch, blocks_return_to_the_pool_and_limits_are_clear, .timeout = 120)
{
    kiln_model *m = load_or_skip("synthetic:tiny-q8_0");
    int nv = m->cfg.n_vocab;
    kt_ctx_list list;
    kt_contexts_open(&list);
    float *logits = malloc((size_t)3 * nv * sizeof *logits);
    int32_t prompt[32];
    for (int t = 0; t < 32; t++) prompt[t] = 1 + 37 * t % (nv - 1);
    for (int c = 0; c < list.count; c++) {
        const char *L = list.items[c].label;
        kiln_session *s = session_on(m, &list.items[c], 3, 32, 6);
        if (!s) continue;
        cr_expect_eq(s->kv.n_blocks, 6);
        cr_expect_eq(kiln_session_capacity(s), 32);
        int32_t a, b, x, d;
        cr_assert_eq(kiln_session_seq_begin(s, &a), KILN_OK, "%s", kiln_last_error());
        cr_assert_eq(kiln_session_seq_begin(s, &b), KILN_OK, "%s", kiln_last_error());
        cr_assert_eq(kiln_session_seq_begin(s, &x), KILN_OK, "%s", kiln_last_error());
        cr_expect(a == 0 && b == 1 && x == 2, "%s: ids %d %d %d", L, a, b, x);
        cr_expect_eq(kiln_session_seq_begin(s, &d), KILN_ERR_INVALID_ARG, "%s: a 4th sequence must not fit", L);
        cr_expect_not_null(strstr(kiln_last_error(), "all 3 sequences"), "%s", kiln_last_error());
        cr_expect_eq(kiln_session_seq_len(s, a), 0);
        cr_expect_eq(kiln_session_seq_len(s, 3), -1);

        /* a: 20 tokens = 3 blocks; b: 17 = 3 blocks; the pool is then empty */
        cr_assert_eq(kiln_session_prefill(s, a, prompt, 20, logits), KILN_OK, "%s: %s", L, kiln_last_error());
        cr_expect_eq(s->kv.n_free, 3, "%s", L);
        cr_assert_eq(kiln_session_prefill(s, b, prompt, 17, logits), KILN_OK, "%s: %s", L, kiln_last_error());
        cr_expect_eq(s->kv.n_free, 0, "%s", L);
        cr_expect_eq(kiln_session_prefill(s, x, prompt, 1, logits), KILN_ERR_OUT_OF_MEMORY, "%s: pool exhausted", L);
        cr_expect_not_null(strstr(kiln_last_error(), "0 of 6 are free"), "%s", kiln_last_error());
        cr_expect_eq(kiln_session_seq_len(s, x), 0, "%s: a refused prefill must not advance the sequence", L);
        /* a decode step that needs a block for x (and none for a) is refused whole */
        int32_t seqs[3] = {a, x, b}, toks[3] = {5, 6, 7};
        cr_expect_eq(kiln_session_decode(s, 2, seqs, toks, logits), KILN_ERR_OUT_OF_MEMORY, "%s", L);
        cr_expect_eq(kiln_session_seq_len(s, a), 20, "%s: a refused step must not advance any sequence", L);
        /* a grows within its third block */
        cr_expect_eq(kiln_session_decode(s, 1, &a, toks, logits), KILN_OK, "%s: %s", L, kiln_last_error());
        cr_expect_eq(kiln_session_seq_len(s, a), 21);
        cr_expect_eq(s->kv.n_free, 0);

        /* b ends: its 3 blocks return and x can start; b's id is free again */
        kiln_session_seq_end(s, b);
        cr_expect_eq(s->kv.n_free, 3, "%s: b's blocks must return to the pool", L);
        cr_expect_eq(kiln_session_seq_len(s, b), -1);
        kiln_session_seq_end(s, b); /* ending twice is harmless */
        cr_expect_eq(s->kv.n_free, 3);
        cr_expect_eq(kiln_session_prefill(s, x, prompt, 9, logits), KILN_OK, "%s: %s", L, kiln_last_error());
        cr_expect_eq(s->kv.n_free, 1);

        /* bad sequence lists: out of range, ended, twice, too many */
        seqs[0] = a, seqs[1] = 7;
        cr_expect_eq(kiln_session_decode(s, 2, seqs, toks, logits), KILN_ERR_INVALID_ARG);
        cr_expect_not_null(strstr(kiln_last_error(), "sequence 7 is outside 0..2"), "%s", kiln_last_error());
        seqs[1] = b;
        cr_expect_eq(kiln_session_decode(s, 2, seqs, toks, logits), KILN_ERR_INVALID_ARG);
        cr_expect_not_null(strstr(kiln_last_error(), "not started"), "%s", kiln_last_error());
        seqs[1] = a;
        cr_expect_eq(kiln_session_decode(s, 2, seqs, toks, logits), KILN_ERR_INVALID_ARG);
        cr_expect_not_null(strstr(kiln_last_error(), "twice"), "%s", kiln_last_error());
        int32_t four[4] = {a, x, 1, 2}, ftoks[4] = {1, 2, 3, 4};
        cr_expect_eq(kiln_session_decode(s, 4, four, ftoks, logits), KILN_ERR_INVALID_ARG);
        cr_expect_not_null(strstr(kiln_last_error(), "at most 3"), "%s", kiln_last_error());
        seqs[1] = x, toks[1] = nv;
        cr_expect_eq(kiln_session_decode(s, 2, seqs, toks, logits), KILN_ERR_INVALID_ARG);
        cr_expect_not_null(strstr(kiln_last_error(), "vocabulary"), "%s", kiln_last_error());
        cr_expect_eq(kiln_session_prefill(s, b, prompt, 3, logits), KILN_ERR_INVALID_ARG, "%s: b has ended", L);
        cr_expect(kiln_session_seq_len(s, a) == 21 && kiln_session_seq_len(s, x) == 9,
                  "%s: refused calls changed lengths to %d, %d", L, kiln_session_seq_len(s, a),
                  kiln_session_seq_len(s, x));

        /* a fills its context (32 tokens, 4 blocks: the last free one), then is full */
        cr_expect_eq(kiln_session_prefill(s, a, prompt, 11, logits), KILN_OK, "%s: %s", L, kiln_last_error());
        cr_expect_eq(kiln_session_seq_len(s, a), 32);
        cr_expect_eq(s->kv.n_free, 0);
        cr_expect_eq(kiln_session_decode(s, 1, &a, toks, logits), KILN_ERR_INVALID_ARG);
        cr_expect_not_null(strstr(kiln_last_error(), "sequence 0 is full"), "%s", kiln_last_error());
        cr_expect_eq(kiln_session_prefill(s, x, prompt, 24, logits), KILN_ERR_INVALID_ARG);
        cr_expect_not_null(strstr(kiln_last_error(), "context"), "%s", kiln_last_error());

        /* reset ends everything */
        kiln_session_reset(s);
        cr_expect_eq(s->kv.n_free, 6, "%s: reset must return every block", L);
        cr_expect_eq(kiln_session_seq_len(s, a), -1);
        cr_expect_eq(kiln_session_seq_begin(s, &d), KILN_OK);
        cr_expect_eq(d, 0);
        kiln_session_free(s);
    }
    free(logits);
    kt_contexts_close(&list);
    kiln_model_free(m);
}

/* kiln_session_forward is sequence 0 of a many-sequence session too, and a
 * refused first call leaves sequence 0 free. */
Test(runtime_batch, forward_is_sequence_zero, .timeout = 60)
{
    kiln_model *m = load_or_skip("synthetic:tiny-q8_0");
    kt_ctx_list list;
    kt_contexts_open(&list);
    float *logits = malloc((size_t)m->cfg.n_vocab * sizeof *logits);
    for (int c = 0; c < list.count; c++) {
        kiln_session *s = session_on(m, &list.items[c], 2, 16, 0);
        if (!s) continue;
        int32_t bad = -1, ok[2] = {1, 2}, id;
        cr_expect_eq(kiln_session_forward(s, &bad, 1, logits), KILN_ERR_INVALID_ARG);
        cr_expect_eq(kiln_session_seq_len(s, 0), -1, "a refused first call must leave sequence 0 free");
        cr_expect_eq(kiln_session_forward(s, ok, 2, logits), KILN_OK, "%s", kiln_last_error());
        cr_expect_eq(kiln_session_pos(s), 2);
        cr_expect_eq(kiln_session_seq_begin(s, &id), KILN_OK);
        cr_expect_eq(id, 1, "sequence 0 is taken by kiln_session_forward");
        kiln_session_free(s);
    }
    free(logits);
    kt_contexts_close(&list);
    kiln_model_free(m);
}
