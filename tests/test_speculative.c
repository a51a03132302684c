/* tests/test_speculative.c — speculative decoding (runtime/speculative.c,
 * runtime/propose.c) on every backend under test (KILN_TEST_BACKENDS):
 * - greedy output with speculation equals plain greedy decoding token for
 *   token, several prompts, k in {1, 4, 8}, prompt lookup and a draft model
 *   (stories260K; SmolLM2 f16 with its Q4_1 file as the draft, cpu);
 * - sequences of one batch speculating different lengths (kiln_spec_step);
 * - rolling the KV cache back: the kept positions byte-identical to a run
 *   that never saw the rejected tokens, blocks back in the pool, and what
 *   follows bit-identical;
 * - the sampling rule: over many seeded runs the first (and second) token's
 *   empirical distribution matches the target's within a chi-square bound;
 * - a draft with another vocabulary, and bad calls, refused by message. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kiln/runtime.h"
#include "runtime/session.h"
#include "tests/support/harness.h"
#include "tests/test_runtime_util.h"

#define N_GEN 40
#define MAX_TOK 128

static kiln_session *spec_session(const kiln_model *m, kt_ctx *c, int max_seqs, kiln_dtype kv, int logits_rows)
{
    kiln_session_options o = kiln_session_options_default();
    o.kv_type = kv;
    o.ctx_len = MAX_TOK;
    o.kv_block_size = 8;
    o.max_seqs = max_seqs;
    o.logits_rows = logits_rows;
    return session_with(m, c, &o);
}

static kiln_sampler *greedy_sampler(int32_t n_vocab)
{
    kiln_sampler_params p = kiln_sampler_params_default();
    p.temperature = 0;
    kiln_sampler *smp = NULL;
    cr_assert_eq(kiln_sampler_create(&p, n_vocab, &smp), KILN_OK, "%s", kiln_last_error());
    return smp;
}

/* Plain greedy: prompt, then n_gen tokens one decode at a time. */
static int plain_greedy(kiln_session *s, const int32_t *prompt, int n_prompt, int n_gen, int32_t *out, const char *label)
{
    int nv = s->m->cfg.n_vocab;
    float *logits = malloc((size_t)nv * sizeof *logits);
    kiln_sampler *smp = greedy_sampler(nv);
    int32_t hist[MAX_TOK];
    memcpy(hist, prompt, (size_t)n_prompt * sizeof *hist);
    kiln_session_reset(s);
    kiln_status st = kiln_session_forward(s, prompt, (size_t)n_prompt, logits);
    for (int g = 0; g < n_gen && st == KILN_OK; g++) {
        out[g] = hist[n_prompt + g] = kiln_sampler_sample(smp, logits, hist, (size_t)(n_prompt + g));
        if (g + 1 < n_gen) st = kiln_session_forward(s, &out[g], 1, logits);
    }
    if (st != KILN_OK) kt_fail_status(label, "plain greedy decoding", st);
    kiln_sampler_free(smp);
    free(logits);
    return st == KILN_OK;
}

/* The same with speculation on sequence 0: the first token from the
 * prompt's logits, then kiln_spec_step until n_gen tokens. Counts the
 * target passes and accepted proposals. */
static int spec_greedy(kiln_session *s, kiln_proposer *p, int k, const int32_t *prompt, int n_prompt, int n_gen,
                       int32_t *out, int *passes, int *accepted, const char *label)
{
    int nv = s->m->cfg.n_vocab;
    float *logits = malloc((size_t)nv * sizeof *logits);
    kiln_sampler *smp = greedy_sampler(nv);
    int32_t toks[MAX_TOK + 16];
    memcpy(toks, prompt, (size_t)n_prompt * sizeof *toks);
    kiln_session_reset(s);
    kiln_status st = kiln_session_forward(s, prompt, (size_t)n_prompt, logits);
    if (st == KILN_OK) toks[n_prompt] = kiln_sampler_sample(smp, logits, toks, (size_t)n_prompt);
    kiln_spec_seq q = {.seq_id = 0, .proposer = p, .sampler = smp, .tokens = toks, .n_tokens = (size_t)n_prompt + 1,
                       .cap_tokens = MAX_TOK, .max_draft = k};
    *passes = *accepted = 0;
    while (st == KILN_OK && (int)q.n_tokens - n_prompt < n_gen) {
        st = kiln_spec_step(s, 1, &q);
        cr_expect(st != KILN_OK || q.n_accepted <= q.n_proposed, "accepted %d of %d", q.n_accepted, q.n_proposed);
        cr_expect(st != KILN_OK || q.n_proposed <= k, "proposed %d, more than k = %d", q.n_proposed, k);
        cr_expect(st != KILN_OK || kiln_session_seq_len(s, 0) == (int32_t)q.n_tokens - 1,
                  "the cache holds %d tokens, the sequence %zu (all but the last)", kiln_session_seq_len(s, 0),
                  q.n_tokens);
        (*passes)++;
        *accepted += q.n_accepted;
    }
    if (st != KILN_OK) kt_fail_status(label, "kiln_spec_step", st);
    memcpy(out, toks + n_prompt, (size_t)n_gen * sizeof *out);
    kiln_sampler_free(smp);
    free(logits);
    return st == KILN_OK;
}

/* The CUDA emulator runs a kernel thread per fiber: ~100x slower than the
 * cpu backend, so it gets one prompt, one k and fewer tokens. */
static int emulated(const kt_ctx *c) { return !strncmp(c->label, "cuda-emu", 8); }

static void expect_same_ids(const int32_t *want, const int32_t *got, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        if (want[i] != got[i]) {
            cr_expect_eq(got[i], want[i], "%s: token %d is %d with speculation, %d without", what, i, got[i], want[i]);
            return;
        }
}

/* Prompts for stories260K (ids of its 512): BOS alone, a repetitive one
 * (lookup finds matches), and a random one. */
#define N_PROMPTS 3
static int stories_prompt(int i, int32_t *ids)
{
    static const int32_t rep[] = {1, 403, 407, 261, 378, 403, 407, 261, 378, 403};
    if (i == 0) return ids[0] = 1, 1;
    if (i == 1) return memcpy(ids, rep, sizeof rep), (int)(sizeof rep / sizeof rep[0]);
    kt_rng r = kt_rng_make(0x5bec);
    ids[0] = 1;
    for (int t = 1; t < 14; t++) ids[t] = 3 + (int32_t)kt_below(&r, 500);
    return 14;
}

/* Greedy with proposer `make(c)` equals plain greedy, every prompt, k in {1,4,8}. */
typedef kiln_proposer *(*make_proposer)(kt_ctx *c, void *user);
static kiln_proposer *make_lookup(kt_ctx *c, void *user);

static void greedy_equal_everywhere(const char *target, make_proposer make, void *user, const char *name)
{
    kiln_model *m = load_or_skip(target);
    kt_ctx_list list;
    kt_contexts_open(&list);
    for (int ci = 0; ci < list.count; ci++) {
        kt_ctx *c = &list.items[ci];
        kiln_session *s = spec_session(m, c, 1, KILN_F32, 9);
        kiln_proposer *p = s ? make(c, user) : NULL;
        if (!p) {
            kiln_session_free(s);
            continue;
        }
        static const int ks[] = {1, 4, 8};
        int total_acc = 0, total_passes = 0, emu = emulated(c), n_gen = emu ? 12 : N_GEN;
        for (int pi = emu ? 1 : 0; pi < (emu ? 2 : N_PROMPTS); pi++) {
            int32_t prompt[32], want[N_GEN], got[N_GEN];
            int n = stories_prompt(pi, prompt);
            if (!plain_greedy(s, prompt, n, n_gen, want, c->label)) break;
            for (int ki = emu ? 1 : 0; ki < (emu ? 2 : 3); ki++) {
                int passes, acc;
                char what[128];
                snprintf(what, sizeof what, "%s on %s, prompt %d, k %d", name, c->label, pi, ks[ki]);
                if (!spec_greedy(s, p, ks[ki], prompt, n, n_gen, got, &passes, &acc, what)) break;
                expect_same_ids(want, got, n_gen, what);
                total_acc += acc, total_passes += passes;
            }
        }
        cr_log_info("%s on %s: %d proposals accepted over %d target passes", name, c->label, total_acc, total_passes);
        /* (the emulator's 12 tokens may end before a lookup matches: rejections and
         * rollbacks are still checked there, acceptance by the draft case) */
        cr_expect(total_acc > 0 || (emu && make == make_lookup),
                  "%s on %s: no proposal was ever accepted (the test would not test much)", name, c->label);
        kiln_proposer_free(p);
        kiln_session_free(s);
    }
    kt_contexts_close(&list);
    kiln_model_free(m);
}

static kiln_proposer *make_lookup(kt_ctx *c, void *user)
{
    (void)c, (void)user;
    kiln_proposer *p = NULL;
    cr_assert_eq(kiln_proposer_lookup(3, &p), KILN_OK, "%s", kiln_last_error());
    return p;
}

static kiln_proposer *make_draft(kt_ctx *c, void *user)
{
    kiln_model **models = user; /* draft, target */
    kiln_session_options o = kiln_session_options_default();
    o.ctx_len = MAX_TOK;
    o.kv_type = KILN_F32;
    kiln_proposer *p = NULL;
    kiln_status st = kiln_proposer_draft(models[0], models[1], c->ctx, &o, NULL, &p);
    if (st != KILN_OK) kt_fail_status(c->label, "kiln_proposer_draft", st);
    return p;
}

Test(speculative, greedy_equals_plain_with_prompt_lookup, .timeout = 600)
{
    greedy_equal_everywhere(MODELS "stories260K.bin", make_lookup, NULL, "lookup");
}

Test(speculative, greedy_equals_plain_with_a_draft_model, .timeout = 600)
{
    kiln_model *models[2] = {load_or_skip(MODELS "stories260K-Q4_K_M.gguf"), load_or_skip(MODELS "stories260K-f32.gguf")};
    greedy_equal_everywhere(MODELS "stories260K-f32.gguf", make_draft, models, "draft Q4_K_M");
    kiln_model_free(models[0]);
    kiln_model_free(models[1]);
}

/* SmolLM2: the target in f16 (kiln_model_save_gguf from the Q4_1 file), the
 * Q4_1 file its draft; a text prompt; cpu only (the f16 model is 270 MB). */
Test(speculative, greedy_equals_plain_smollm2_f16_with_q4_1_draft, .timeout = 600)
{
    const char *q41 = kt_smollm2_path();
    if (!q41) cr_skip_test("SmolLM2 is not fetched (make models)");
    kiln_model *draft = load_or_skip(q41);
    char f16[256];
    snprintf(f16, sizeof f16, "/tmp/kiln_test_spec_%d_f16.gguf", (int)getpid());
    cr_assert_eq(kiln_model_save_gguf(draft, f16, KILN_F16, NULL, NULL), KILN_OK, "%s", kiln_last_error());
    kiln_model *target = load_or_skip(f16);
    kiln_context *ctx = NULL;
    cr_assert_eq(kiln_context_create("cpu", NULL, &ctx), KILN_OK, "%s", kiln_last_error());
    kt_ctx c = {.ctx = ctx, .backend = KILN_BACKEND_CPU};
    snprintf(c.label, sizeof c.label, "cpu");
    const char *text = "<|im_start|>user\nRepeat this code with the loop counting down:\n"
                       "for (int i = 0; i < n; i++) sum += a[i];<|im_end|>\n<|im_start|>assistant\n";
    int32_t *prompt = NULL;
    size_t n = 0;
    cr_assert_eq(kiln_tokenize(kiln_model_tokenizer(target), text, strlen(text), 0, 1, &prompt, &n), KILN_OK);
    cr_assert_lt(n + 32, (size_t)MAX_TOK);
    kiln_session *s = spec_session(target, &c, 1, KILN_F16, 5);
    kiln_model *models[2] = {draft, target};
    kiln_proposer *p = make_draft(&c, models), *lk = make_lookup(&c, NULL);
    int32_t want[24], got[24];
    int passes = 0, acc = 0;
    if (s && p && plain_greedy(s, prompt, (int)n, 24, want, "cpu")) {
        cr_assert(spec_greedy(s, p, 4, prompt, (int)n, 24, got, &passes, &acc, "smollm2 draft"));
        expect_same_ids(want, got, 24, "SmolLM2 f16 with the Q4_1 draft, k 4");
        cr_log_info("SmolLM2 draft: %d accepted over %d passes", acc, passes);
        cr_expect_gt(acc, 0, "the Q4_1 draft of the same model never agreed with it");
        cr_assert(spec_greedy(s, lk, 4, prompt, (int)n, 24, got, &passes, &acc, "smollm2 lookup"));
        expect_same_ids(want, got, 24, "SmolLM2 f16 with prompt lookup, k 4");
    }
    kiln_proposer_free(p);
    kiln_proposer_free(lk);
    kiln_session_free(s);
    kiln_context_destroy(ctx);
    kiln_model_free(target);
    kiln_model_free(draft);
    free(prompt);
    unlink(f16);
}

/* ------------------------------------------------------------ batching */

/* Three sequences in one session, one kiln_spec_step for all per pass: one
 * with lookup at k 8, one with the draft at k 2 (the emulator: lookup), one
 * with no proposer; each gives its plain greedy ids. */
Test(speculative, batched_sequences_speculate_different_lengths, .timeout = 600)
{
    kiln_model *m = load_or_skip(MODELS "stories260K-f32.gguf");
    kiln_model *d = load_or_skip(MODELS "stories260K-Q4_K_M.gguf");
    kiln_model *models[2] = {d, m};
    int nv = m->cfg.n_vocab;
    kt_ctx_list list;
    kt_contexts_open(&list);
    for (int ci = 0; ci < list.count; ci++) {
        kt_ctx *c = &list.items[ci];
        kiln_session *alone = spec_session(m, c, 1, KILN_F32, 1), *s = spec_session(m, c, 3, KILN_F32, 16);
        /* the emulator compiles every kernel it meets: the draft's formats are the
         * draft test's there, so the second sequence looks up too */
        kiln_proposer *props[3] = {make_lookup(c, NULL), emulated(c) ? make_lookup(c, NULL) : make_draft(c, models), NULL};
        kiln_sampler *smp[3] = {greedy_sampler(nv), greedy_sampler(nv), greedy_sampler(nv)};
        int32_t toks[3][MAX_TOK + 16], want[3][N_GEN], n_prompt[3];
        kiln_spec_seq q[3];
        float *logits = malloc((size_t)nv * sizeof *logits);
        kiln_status st = alone && s && props[1] ? KILN_OK : KILN_ERR_INTERNAL;
        int n_gen = emulated(c) ? 10 : N_GEN;
        for (int i = 0; i < 3 && st == KILN_OK; i++) {
            n_prompt[i] = stories_prompt(i, toks[i]);
            if (!plain_greedy(alone, toks[i], n_prompt[i], n_gen, want[i], c->label)) st = KILN_ERR_INTERNAL;
            int32_t seq;
            if (st == KILN_OK) st = kiln_session_seq_begin(s, &seq);
            if (st == KILN_OK) st = kiln_session_prefill(s, seq, toks[i], (size_t)n_prompt[i], logits);
            if (st != KILN_OK) break;
            toks[i][n_prompt[i]] = kiln_sampler_sample(smp[i], logits, toks[i], (size_t)n_prompt[i]);
            static const int ks[3] = {8, 2, 0};
            q[i] = (kiln_spec_seq){.seq_id = seq, .proposer = props[i], .sampler = smp[i], .tokens = toks[i],
                                   .n_tokens = (size_t)n_prompt[i] + 1, .cap_tokens = MAX_TOK, .max_draft = ks[i]};
        }
        int widest = 0, passes = 0;
        while (st == KILN_OK && passes < 2 * n_gen) {
            kiln_spec_seq *live[3];
            kiln_spec_seq batch[3];
            int n = 0;
            for (int i = 0; i < 3; i++)
                if ((int)q[i].n_tokens - n_prompt[i] < n_gen) live[n] = &q[i], batch[n++] = q[i];
            if (!n) break;
            if ((st = kiln_spec_step(s, (size_t)n, batch))) {
                kt_fail_status(c->label, "kiln_spec_step (3 sequences)", st);
                break;
            }
            int distinct = 0;
            for (int i = 0; i < n; i++) {
                *live[i] = batch[i];
                for (int j = 0; j < i; j++) distinct |= batch[i].n_proposed != batch[j].n_proposed;
            }
            if (distinct && n > widest) widest = n;
            passes++;
        }
        for (int i = 0; i < 3 && st == KILN_OK; i++) {
            char what[96];
            snprintf(what, sizeof what, "batched on %s, sequence %d", c->label, i);
            expect_same_ids(want[i], toks[i] + n_prompt[i], n_gen, what);
        }
        cr_expect(st != KILN_OK || widest >= 2, "on %s: no pass had sequences proposing different lengths", c->label);
        free(logits);
        for (int i = 0; i < 3; i++) kiln_proposer_free(props[i]), kiln_sampler_free(smp[i]);
        kiln_session_free(s);
        kiln_session_free(alone);
    }
    kt_contexts_close(&list);
    kiln_model_free(d);
    kiln_model_free(m);
}

/* ------------------------------------------------------------ rollback */

/* The K and V bytes of positions [0, len) of sequence seq, every layer, in
 * position order (read through the block table). */
static unsigned char *kv_bytes(kiln_session *s, int32_t seq, int32_t len, size_t *n_bytes)
{
    kiln_kv_cache *kv = &s->kv;
    size_t layer = (size_t)kv->n_blocks * kv->block_size * kv->slot_bytes, per = 2 * (size_t)len * kv->slot_bytes;
    unsigned char *all = malloc(layer), *out = malloc(per * kv->n_layers);
    for (int l = 0; l < kv->n_layers; l++)
        for (int which = 0; which < 2; which++) {
            cr_assert_eq(kiln_buffer_download(which ? kv->v[l] : kv->k[l], 0, all, layer), KILN_OK);
            for (int32_t p = 0; p < len; p++)
                memcpy(out + l * per + ((size_t)which * len + p) * kv->slot_bytes,
                       all + (size_t)kiln_kv_cache_slot(kv, seq, p) * kv->slot_bytes, kv->slot_bytes);
        }
    free(all);
    *n_bytes = per * kv->n_layers;
    return out;
}

/* Run A verifies 7 tokens after a prompt of 11 (crossing two blocks of 8)
 * and keeps 2; run B decodes those 2 one at a time and never sees the
 * others. Their caches must read the same, byte for byte, hold the same
 * number of blocks, and give bit-identical logits for what follows. */
static void rollback_case(const kiln_model *m, kt_ctx *c, kiln_dtype kv)
{
    int nv = m->cfg.n_vocab;
    kiln_session *a = spec_session(m, c, 1, kv, 8), *b = spec_session(m, c, 1, kv, 8);
    if (!a || !b) goto out;
    int32_t prompt[11], seq_a, seq_b;
    for (int i = 0; i < 11; i++) prompt[i] = 1 + (i * 37) % 500;
    const int32_t verify[7] = {45, 99, 300, 7, 12, 480, 33}; /* 45 and 99 kept */
    float *la = malloc(8 * (size_t)nv * sizeof *la), *lb = malloc((size_t)nv * sizeof *lb);
    cr_assert_eq(kiln_session_seq_begin(a, &seq_a), KILN_OK);
    cr_assert_eq(kiln_session_seq_begin(b, &seq_b), KILN_OK);
    cr_assert_eq(kiln_session_prefill(a, seq_a, prompt, 11, la), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_session_prefill(b, seq_b, prompt, 11, lb), KILN_OK, "%s", kiln_last_error());
    int32_t free_before = kiln_kv_cache_available(&a->kv);
    const int32_t *rows[1] = {verify};
    int32_t count = 7;
    cr_assert_eq(kiln_session_verify(a, 1, &seq_a, rows, &count, la), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_session_seq_len(a, seq_a), 18);
    cr_assert_lt(kiln_kv_cache_available(&a->kv), free_before, "7 tokens after 11 take a third block");
    cr_assert_eq(kiln_session_seq_truncate(a, seq_a, 13), KILN_OK, "%s", kiln_last_error());
    for (int i = 0; i < 2; i++)
        cr_assert_eq(kiln_session_decode(b, 1, &seq_b, &verify[i], lb), KILN_OK, "%s", kiln_last_error());
    const char *kv_name = kiln_dtype_get(kv)->name;
    cr_expect_eq(kiln_session_seq_len(a, seq_a), 13);
    cr_expect_eq(kiln_kv_cache_available(&a->kv), kiln_kv_cache_available(&b->kv),
                 "%s %s: %d blocks available after the rollback, %d in the run that never saw the suffix", c->label,
                 kv_name, kiln_kv_cache_available(&a->kv), kiln_kv_cache_available(&b->kv));
    cr_expect_eq(a->kv.seqs[seq_a].n_blocks, 2);
    for (int step = 0; step < 6; step++) {
        size_t na, nb;
        unsigned char *ka = kv_bytes(a, seq_a, kiln_session_seq_len(a, seq_a), &na);
        unsigned char *kb = kv_bytes(b, seq_b, kiln_session_seq_len(b, seq_b), &nb);
        cr_expect(na == nb && !memcmp(ka, kb, na), "%s %s: after the rollback and %d more tokens the KV caches differ",
                  c->label, kv_name, step);
        free(ka), free(kb);
        if (step == 5) break;
        int32_t t = 200 + step;
        poison(la, (size_t)nv), poison(lb, (size_t)nv);
        cr_assert_eq(kiln_session_decode(a, 1, &seq_a, &t, la), KILN_OK);
        cr_assert_eq(kiln_session_decode(b, 1, &seq_b, &t, lb), KILN_OK);
        cr_expect(!memcmp(la, lb, (size_t)nv * sizeof *la), "%s %s: logits after the rollback differ at step %d",
                  c->label, kv_name, step);
    }
    /* rolling back to everything, or past the end, and nothing */
    cr_expect_eq(kiln_session_seq_truncate(a, seq_a, 40), KILN_ERR_INVALID_ARG);
    cr_expect_eq(kiln_session_seq_truncate(a, seq_a, -1), KILN_ERR_INVALID_ARG);
    cr_expect_eq(kiln_session_seq_truncate(a, 5, 0), KILN_ERR_INVALID_ARG);
    cr_expect_eq(kiln_session_seq_truncate(a, seq_a, 0), KILN_OK);
    cr_expect_eq(kiln_kv_cache_available(&a->kv), a->kv.n_blocks, "%s: blocks left after rolling back to 0", c->label);
    free(la), free(lb);
out:
    kiln_session_free(a);
    kiln_session_free(b);
}

Test(speculative, rollback_leaves_the_cache_as_if_never_written, .timeout = 180)
{
    kiln_model *m = load_or_skip(MODELS "stories260K.bin");
    kt_ctx_list list;
    kt_contexts_open(&list);
    for (int ci = 0; ci < list.count; ci++) {
        rollback_case(m, &list.items[ci], KILN_F32);
        if (!emulated(&list.items[ci])) rollback_case(m, &list.items[ci], KILN_F16); /* f32 suffices on the slow emulator */
    }
    kt_contexts_close(&list);
    kiln_model_free(m);
}

/* A block shared through the prefix cache cannot be cut into. */
Test(speculative, rollback_refuses_to_cut_a_shared_block, .timeout = 60)
{
    kiln_model *m = load_or_skip(MODELS "stories260K.bin");
    kiln_context *ctx = NULL;
    cr_assert_eq(kiln_context_create("cpu", NULL, &ctx), KILN_OK);
    kt_ctx c = {.ctx = ctx, .backend = KILN_BACKEND_CPU, .label = "cpu"};
    kiln_session *s = spec_session(m, &c, 2, KILN_F32, 2);
    kiln_session_prefix_cache(s, 1);
    int32_t ids[20], a, b;
    for (int i = 0; i < 20; i++) ids[i] = 1 + i;
    cr_assert_eq(kiln_session_seq_begin(s, &a), KILN_OK);
    cr_assert_eq(kiln_session_prefill(s, a, ids, 20, NULL), KILN_OK);
    kiln_session_seq_cache(s, a, ids, 20);
    cr_assert_eq(kiln_session_seq_begin(s, &b), KILN_OK);
    cr_assert_eq(kiln_session_seq_reuse_prefix(s, b, ids, 20), 16);
    cr_expect_eq(kiln_session_seq_truncate(s, b, 12), KILN_ERR_INVALID_ARG);
    cr_expect_not_null(strstr(kiln_last_error(), "shared"), "%s", kiln_last_error());
    cr_expect_eq(kiln_session_seq_len(s, b), 16, "a refused rollback changes nothing");
    cr_expect_eq(kiln_session_seq_truncate(s, b, 8), KILN_OK, "whole shared blocks can go: %s", kiln_last_error());
    kiln_session_free(s);
    kiln_context_destroy(ctx);
    kiln_model_free(m);
}

/* ------------------------------------------------------------ sampling */

/* Pearson's chi-square of counts against probabilities p over n draws:
 * cells expecting >= 5 on their own, the rest pooled. *df gets the degrees
 * of freedom. */
static double chi_square(const int *counts, const float *p, int nv, int n, int *df)
{
    double chi = 0, pool_e = 0, pool_o = 0;
    int cells = 0;
    for (int v = 0; v < nv; v++) {
        double e = (double)p[v] * n;
        if (e >= 5) {
            chi += (counts[v] - e) * (counts[v] - e) / e;
            cells++;
        } else {
            pool_e += e, pool_o += counts[v];
        }
    }
    if (pool_e >= 5) chi += (pool_o - pool_e) * (pool_o - pool_e) / pool_e, cells++;
    else if (pool_o > 5 + 5 * pool_e) chi += 1e9; /* mass where the target has almost none */
    *df = cells - 1;
    return chi;
}

/* The chi-square quantile of df degrees at a tail of 1e-5 (z = 4.265),
 * Wilson-Hilferty: runs are seeded, so this is a bound, not a coin. */
static double chi_bound(int df)
{
    double h = 2.0 / (9.0 * df), z = 4.265;
    return df * pow(1 - h + z * sqrt(h), 3);
}

/* The target's sampled distribution after ids[n] (logits of the last). */
static void target_probs(kiln_session *s, const kiln_sampler_params *sp, const int32_t *ids, int n, float *p)
{
    int nv = s->m->cfg.n_vocab;
    float *logits = malloc((size_t)nv * sizeof *logits);
    kiln_sampler *smp = NULL;
    cr_assert_eq(kiln_sampler_create(sp, nv, &smp), KILN_OK);
    kiln_session_reset(s);
    cr_assert_eq(kiln_session_forward(s, ids, (size_t)n, logits), KILN_OK, "%s", kiln_last_error());
    kiln_sampler_probs(smp, logits, ids, (size_t)n, p);
    kiln_session_reset(s);
    kiln_sampler_free(smp);
    free(logits);
}

/* Many seeded speculative steps from one state: the first token each gives
 * and, when the first is the target's likeliest, the second, against the
 * target's distributions. Draft: the Q4_K_M file at another temperature
 * (q far from p, so rejections and residual draws happen often). */
static void sampling_matches(int k, const kiln_sampler_params *draft_sp)
{
    kiln_model *m = load_or_skip(MODELS "stories260K-f32.gguf"), *d = load_or_skip(MODELS "stories260K-Q4_K_M.gguf");
    int nv = m->cfg.n_vocab;
    kiln_context *ctx = NULL;
    cr_assert_eq(kiln_context_create("cpu", NULL, &ctx), KILN_OK);
    kt_ctx c = {.ctx = ctx, .backend = KILN_BACKEND_CPU, .label = "cpu"};
    kiln_sampler_params sp = kiln_sampler_params_default();
    sp.temperature = 1.0f, sp.top_k = 0, sp.top_p = 1, sp.min_p = 0, sp.seed = 7;
    kiln_session *s = spec_session(m, &c, 1, KILN_F32, 9);
    const int32_t prompt[] = {1, 403, 407};
    const int np = 3;
    float *p1 = malloc((size_t)nv * sizeof *p1), *p2 = malloc((size_t)nv * sizeof *p2);
    target_probs(s, &sp, prompt, np, p1);
    int top = argmax(p1, nv);
    int32_t two[8];
    memcpy(two, prompt, sizeof prompt);
    two[np] = top;
    target_probs(s, &sp, two, np + 1, p2);

    kiln_session_options o = kiln_session_options_default();
    o.ctx_len = MAX_TOK;
    o.kv_type = KILN_F32;
    kiln_proposer *p = NULL;
    cr_assert_eq(kiln_proposer_draft(d, m, ctx, &o, draft_sp, &p), KILN_OK, "%s", kiln_last_error());
    kiln_sampler *smp = NULL;
    cr_assert_eq(kiln_sampler_create(&sp, nv, &smp), KILN_OK);
    /* The state every run starts from: the prompt but its last token in the cache. */
    int32_t seq = 0;
    cr_assert_eq(kiln_session_seq_begin(s, &seq), KILN_OK);
    cr_assert_eq(kiln_session_prefill(s, seq, prompt, np - 1, NULL), KILN_OK);
    int *c1 = calloc((size_t)nv, sizeof *c1), *c2 = calloc((size_t)nv, sizeof *c2);
    int runs = 3000, n2 = 0, accepted = 0, proposed = 0;
    for (int r = 0; r < runs; r++) {
        int32_t toks[64];
        memcpy(toks, prompt, sizeof prompt);
        kiln_spec_seq q = {.seq_id = seq, .proposer = p, .sampler = smp, .tokens = toks, .n_tokens = np,
                           .cap_tokens = 64, .max_draft = k};
        cr_assert_eq(kiln_spec_step(s, 1, &q), KILN_OK, "%s", kiln_last_error());
        accepted += q.n_accepted, proposed += q.n_proposed;
        if (q.n_tokens == np + 1 && toks[np] == top) cr_assert_eq(kiln_spec_step(s, 1, &q), KILN_OK);
        c1[toks[np]]++;
        if (toks[np] == top) c2[toks[np + 1]]++, n2++;
        cr_assert_eq(kiln_session_seq_truncate(s, seq, np - 1), KILN_OK);
    }
    int df1, df2;
    double x1 = chi_square(c1, p1, nv, runs, &df1), x2 = chi_square(c2, p2, nv, n2, &df2);
    cr_log_info("p(top %d) = %.3f, p2 max %.3f", top, p1[top], p2[argmax(p2, nv)]);
    cr_log_info("k %d: first token chi2 %.1f (df %d, bound %.1f); second %.1f over %d (df %d, bound %.1f); %d of %d accepted",
                k, x1, df1, chi_bound(df1), x2, n2, df2, chi_bound(df2), accepted, proposed);
    cr_expect_gt(df1, 3, "the target's distribution is too peaked to test anything");
    cr_expect_gt(n2, 200, "too few runs reached the second token (%d)", n2);
    cr_expect(accepted > proposed / 10 && accepted < proposed, "k %d: %d of %d proposals accepted: the rule is barely exercised",
              k, accepted, proposed);
    cr_expect_leq(x1, chi_bound(df1), "k %d: the first token's distribution is not the target's: chi2 %.1f > %.1f (df %d)",
                  k, x1, chi_bound(df1), df1);
    cr_expect_leq(x2, chi_bound(df2), "k %d: the second token's distribution is not the target's: chi2 %.1f > %.1f (df %d)",
                  k, x2, chi_bound(df2), df2);
    free(c1), free(c2), free(p1), free(p2);
    kiln_sampler_free(smp);
    kiln_proposer_free(p);
    kiln_session_free(s);
    kiln_context_destroy(ctx);
    kiln_model_free(d);
    kiln_model_free(m);
}

Test(speculative, sampling_keeps_the_target_distribution_draft_k1, .timeout = 300)
{
    kiln_sampler_params dsp = kiln_sampler_params_default();
    dsp.temperature = 0.6f, dsp.top_k = 0, dsp.top_p = 1, dsp.min_p = 0, dsp.seed = 99;
    sampling_matches(1, &dsp);
}

Test(speculative, sampling_keeps_the_target_distribution_draft_k4, .timeout = 300)
{
    kiln_sampler_params dsp = kiln_sampler_params_default();
    dsp.temperature = 0.6f, dsp.top_k = 0, dsp.top_p = 1, dsp.min_p = 0, dsp.seed = 99;
    sampling_matches(4, &dsp);
}

/* A deterministic proposer (a point mass, as prompt lookup): the rule
 * straight on fixed rows, many draws. Proposals: the likeliest token, then
 * a likely one, so both acceptance and the residual p - q are exercised. */
Test(speculative, sampling_rule_with_a_deterministic_proposer, .timeout = 60)
{
    enum { NV = 64, RUNS = 40000 };
    kt_rng rng = kt_rng_make(0xacce);
    float logits[2][NV], p[NV], row[2][NV];
    for (int r = 0; r < 2; r++)
        for (int v = 0; v < NV; v++) logits[r][v] = (float)(1.5 * kt_gauss(&rng));
    kiln_sampler_params sp = kiln_sampler_params_default();
    sp.temperature = 1, sp.top_k = 0, sp.top_p = 1, sp.min_p = 0, sp.seed = 3;
    kiln_sampler *smp = NULL;
    cr_assert_eq(kiln_sampler_create(&sp, NV, &smp), KILN_OK);
    memcpy(row[0], logits[0], sizeof row[0]);
    kiln_sampler_probs(smp, row[0], NULL, 0, p);
    int32_t toks[2] = {5, (int32_t)argmax(p, NV)};
    int counts[NV] = {0}, acc = 0;
    for (int r = 0; r < RUNS; r++) {
        memcpy(row, logits, sizeof row);
        int32_t n_acc, next;
        cr_assert_eq(kiln_spec_accept(smp, toks, 1, 1, &row[0][0], NULL, &n_acc, &next), KILN_OK);
        acc += n_acc;
        counts[n_acc ? toks[1] : next]++;
    }
    int df;
    double x = chi_square(counts, p, NV, RUNS, &df);
    cr_log_info("point mass: chi2 %.1f (df %d, bound %.1f); %d of %d accepted (p %.3f)", x, df, chi_bound(df), acc, RUNS,
                p[toks[1]]);
    cr_expect_leq(x, chi_bound(df), "point-mass proposals: the distribution is not the target's: chi2 %.1f > %.1f", x,
                  chi_bound(df));
    cr_expect(fabs((double)acc / RUNS - p[toks[1]]) < 0.02, "accepted %.3f of the time, p = %.3f", (double)acc / RUNS,
              p[toks[1]]);
    kiln_sampler_free(smp);
}

/* ------------------------------------------------------------ refusals */

Test(speculative, a_draft_with_another_vocabulary_is_refused, .timeout = 60)
{
    kiln_model *m = load_or_skip(MODELS "stories260K.bin"), *d = load_or_skip("synthetic:tiny-f32");
    kiln_context *ctx = NULL;
    cr_assert_eq(kiln_context_create("cpu", NULL, &ctx), KILN_OK);
    kiln_proposer *p = NULL;
    cr_expect_eq(kiln_proposer_draft(d, m, ctx, NULL, NULL, &p), KILN_ERR_INVALID_ARG);
    cr_expect_null(p);
    cr_expect_not_null(strstr(kiln_last_error(), "vocabulary has 1024 tokens, the target's 512"), "%s", kiln_last_error());
    const char *q41 = kt_smollm2_path();
    if (q41) { /* same size would not do either: the texts differ (SmolLM2 vs the stories vocabulary) */
        kiln_model *sm = load_or_skip(q41);
        cr_expect_eq(kiln_proposer_draft(sm, m, ctx, NULL, NULL, &p), KILN_ERR_INVALID_ARG);
        kiln_model_free(sm);
    }
    cr_expect_eq(kiln_proposer_lookup(0, &p), KILN_ERR_INVALID_ARG);
    kiln_context_destroy(ctx);
    kiln_model_free(d);
    kiln_model_free(m);
}

Test(speculative, bad_calls_are_refused_without_changes, .timeout = 60)
{
    kiln_model *m = load_or_skip(MODELS "stories260K.bin");
    kiln_context *ctx = NULL;
    cr_assert_eq(kiln_context_create("cpu", NULL, &ctx), KILN_OK);
    kt_ctx c = {.ctx = ctx, .backend = KILN_BACKEND_CPU, .label = "cpu"};
    kiln_session *s = spec_session(m, &c, 2, KILN_F32, 2);
    int32_t seq, ids[4] = {1, 2, 3, 4}, bad[2] = {1, 512}, count = 2;
    float *logits = malloc(8 * 512 * sizeof *logits);
    cr_assert_eq(kiln_session_seq_begin(s, &seq), KILN_OK);
    cr_assert_eq(kiln_session_prefill(s, seq, ids, 4, NULL), KILN_OK);
    const int32_t *rows[2] = {bad, ids};
    cr_expect_eq(kiln_session_verify(s, 1, &seq, rows, &count, logits), KILN_ERR_INVALID_ARG);
    cr_expect_not_null(strstr(kiln_last_error(), "outside the vocabulary"), "%s", kiln_last_error());
    int32_t twice[2] = {seq, seq}, counts[2] = {1, 1};
    rows[0] = ids;
    cr_expect_eq(kiln_session_verify(s, 2, twice, rows, counts, logits), KILN_ERR_INVALID_ARG);
    int32_t zero = 0;
    cr_expect_eq(kiln_session_verify(s, 1, &seq, rows, &zero, logits), KILN_ERR_INVALID_ARG);
    int32_t other = 1;
    cr_expect_eq(kiln_session_verify(s, 1, &other, rows, &count, logits), KILN_ERR_INVALID_ARG, "not started");
    cr_expect_eq(kiln_session_seq_len(s, seq), 4, "refused calls change nothing");
    /* kiln_spec_step: the array must be the cache's tokens plus the sampled one */
    kiln_sampler *smp = greedy_sampler(512);
    int32_t toks[8] = {1, 2, 3, 4, 5};
    kiln_spec_seq q = {.seq_id = seq, .sampler = smp, .tokens = toks, .n_tokens = 4, .cap_tokens = 8, .max_draft = 2};
    cr_expect_eq(kiln_spec_step(s, 1, &q), KILN_ERR_INVALID_ARG);
    cr_expect_not_null(strstr(kiln_last_error(), "holds 4 tokens"), "%s", kiln_last_error());
    q.n_tokens = 5;
    cr_expect_eq(kiln_spec_step(s, 1, &q), KILN_OK, "%s", kiln_last_error());
    cr_expect_eq(q.n_new, 1, "no proposer: one token");
    cr_expect_eq(kiln_session_seq_len(s, seq), 5);
    kiln_sampler_free(smp);
    free(logits);
    kiln_session_free(s);
    kiln_context_destroy(ctx);
    kiln_model_free(m);
}

/* ------------------------------------------------------------ commands */

#define KILN KILN_BINARY_DIR "/bin/kiln"

/* Runs cmd; returns its exit code, stdout in out (cap bytes, NUL-terminated). */
static int run_cmd(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(speculative, kiln_run_with_lookup_or_draft_prints_the_plain_greedy_ids, .timeout = 120)
{
    FILE *f = fopen(MODELS "stories260K-Q4_K_M.gguf", "rb");
    if (!f) cr_skip_test("stories260K-Q4_K_M.gguf is absent");
    fclose(f);
    const char *base = KILN " run -m " MODELS "stories260K-f32.gguf -n 50 --temp 0 --kv-type f32 --ids "
                       "--prompt-ids 1,403,407,261,378";
    char want[4096], got[4096], cmd[1024];
    /* -c 20: the context fills (and with --context-shift, shifts) mid-pass */
    const char *plain[] = {"", "", "", "-c 20", "-c 20 --context-shift"};
    const char *extra[] = {"--lookup 3", "--lookup 1 --draft-max 1", "--draft " MODELS "stories260K-Q4_K_M.gguf",
                           "--draft " MODELS "stories260K-Q4_K_M.gguf --draft-max 3 -c 20",
                           "--lookup 2 -c 20 --context-shift"};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", base, plain[i]);
        cr_assert_eq(run_cmd(cmd, want, sizeof want), 0, "%s", cmd);
        snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", base, extra[i]);
        int rc = run_cmd(cmd, got, sizeof got);
        cr_expect_eq(rc, 0, "%s: exit %d", extra[i], rc);
        cr_expect_str_eq(got, want, "%s", extra[i]);
    }
    snprintf(cmd, sizeof cmd, "%s --draft synthetic:tiny-f32 2>&1", base);
    cr_expect_eq(run_cmd(cmd, got, sizeof got), 1);
    cr_expect_not_null(strstr(got, "vocabulary has 1024 tokens, the target's 512"), "%s", got);
    snprintf(cmd, sizeof cmd, "%s --lookup 2 --draft x 2>&1", base);
    cr_expect_eq(run_cmd(cmd, got, sizeof got), 2, "--lookup and --draft together");
    snprintf(cmd, sizeof cmd, "%s --lookup 0 2>&1", base);
    cr_expect_eq(run_cmd(cmd, got, sizeof got), 2, "--lookup 0");
}

Test(speculative, kiln_bench_reports_both_and_the_acceptance, .timeout = 120)
{
    char out[8192];
    int rc = run_cmd(KILN " bench -m " MODELS "stories260K-f32.gguf --lookup 3 -n 24 -r 2 -ctk f32 2>/dev/null", out,
                     sizeof out);
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect_not_null(strstr(out, "| tg24 plain"), "%s", out);
    cr_expect_not_null(strstr(out, "| tg24 lookup 3, k 8"), "%s", out);
    cr_expect_not_null(strstr(out, "accepted | tok/pass | speedup |"), "%s", out);
    rc = run_cmd(KILN " bench -m " MODELS "stories260K-f32.gguf --lookup 3 --batch 2 2>&1", out, sizeof out);
    cr_expect_eq(rc, 2, "--lookup with --batch: %s", out);
    /* the built-in prompt is bench/prompts/code_edit.txt (docs/PERF.md gives llama.cpp the file) */
    char a[512], b[512];
    rc = run_cmd(KILN " bench -m " MODELS "stories260K-f32.gguf --lookup 3 -n 2 -r 1 2>&1 | grep 'prompt tokens'", a,
                 sizeof a);
    cr_expect_eq(rc, 0);
    rc = run_cmd(KILN " bench -m " MODELS "stories260K-f32.gguf --lookup 3 -n 2 -r 1 --prompt-file " KILN_SOURCE_DIR
                      "/bench/prompts/code_edit.txt 2>&1 | grep 'prompt tokens'",
                 b, sizeof b);
    cr_expect_eq(rc, 0);
    cr_expect_str_eq(a, b, "the built-in prompt and bench/prompts/code_edit.txt differ");
}
