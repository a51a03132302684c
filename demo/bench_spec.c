/* demo/bench_spec.c — `kiln bench -m TARGET --draft DRAFT` / `--lookup N`:
 * greedy generation of the same tokens after the same prompt, plain (one
 * decode pass per token) and speculative (kiln_spec_step), repetitions
 * interleaved so both see the same machine. Reports decode tokens/s of
 * each, the acceptance rate, tokens per target pass and the speedup, and
 * checks that both produced the same tokens (greedy: they must). */
#include "demo/bench_spec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo/commands.h"
#include "demo/files.h"
#include "kiln/runtime.h"

#define CMD "kiln bench"

/* The default prompt: repeat a code block with an edit, the case prompt
 * lookup is for (and any draft model of the same family does well on). */
static const char CODE_PROMPT[] =
    "Here is a C function:\n\n"
    "```c\n"
    "static double mean_of(const double *values, size_t count)\n"
    "{\n"
    "    double total = 0.0;\n"
    "    for (size_t i = 0; i < count; i++) {\n"
    "        if (isnan(values[i])) continue;\n"
    "        total += values[i];\n"
    "    }\n"
    "    return count > 0 ? total / (double)count : 0.0;\n"
    "}\n"
    "```\n\n"
    "Here is the same function with the variable `total` renamed to `sum`:\n\n"
    "```c\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The prompt's ids: the text tokenized, or (a model without a vocabulary)
 * BOS and a pattern of ids that repeats, so that lookup has something. */
static int32_t *prompt_ids(const kiln_model *m, const char *text, size_t len, size_t *n)
{
    const kiln_tokenizer *tok = kiln_model_tokenizer(m);
    int32_t *ids = NULL;
    if (tok) {
        if (kiln_tokenize(tok, text, len, kiln_tokenizer_adds_bos(tok), 1, &ids, n)) {
            fprintf(stderr, CMD ": %s\n", kiln_last_error());
            return NULL;
        }
        return ids;
    }
    int32_t nv = kiln_model_get_config(m)->n_vocab;
    *n = 49;
    if (!(ids = malloc(*n * sizeof *ids))) return NULL;
    ids[0] = 1;
    for (size_t i = 1; i < *n; i++) ids[i] = 2 + (int32_t)(((i - 1) % 24) * 7919u % (unsigned)(nv - 2));
    return ids;
}

/* One greedy generation of n_gen tokens after the prompt; only what follows
 * the prompt's pass (the target's, and a draft model's) is timed. prop NULL:
 * plain decoding. */
typedef struct gen_result {
    double seconds;
    int passes, proposed, accepted;
} gen_result;

static kiln_status generate(kiln_session *s, kiln_sampler *smp, kiln_proposer *prop, int draft_max, const int32_t *prompt,
                            size_t n_prompt, int n_gen, int32_t *toks, float *logits, gen_result *r)
{
    *r = (gen_result){0};
    kiln_session_reset(s);
    memcpy(toks, prompt, n_prompt * sizeof *toks);
    kiln_status st = kiln_session_forward(s, prompt, n_prompt, logits);
    if (st) return st;
    toks[n_prompt] = kiln_sampler_sample(smp, logits, toks, n_prompt);
    size_t n = n_prompt + 1, end = n_prompt + (size_t)n_gen;
    int32_t guess;
    if (prop) kiln_proposer_propose(prop, toks, n_prompt, 1, &guess, NULL); /* a draft reads the prompt: untimed too */
    double t = now_s();
    while (n < end && st == KILN_OK) {
        if (prop) {
            /* no proposals past n_gen: both runs make exactly the same tokens */
            int k = end - n - 1 < (size_t)draft_max ? (int)(end - n - 1) : draft_max;
            kiln_spec_seq q = {.seq_id = 0, .proposer = prop, .sampler = smp, .tokens = toks, .n_tokens = n,
                               .cap_tokens = end + 1, .max_draft = k};
            st = kiln_spec_step(s, 1, &q);
            n = q.n_tokens;
            r->proposed += q.n_proposed, r->accepted += q.n_accepted;
        } else if ((st = kiln_session_forward(s, &toks[n - 1], 1, logits)) == KILN_OK) {
            toks[n] = kiln_sampler_sample(smp, logits, toks, n);
            n++;
        }
        r->passes++;
    }
    r->seconds = now_s() - t;
    return st;
}

static void mean_sd(const double *v, int n, double *mean, double *sd)
{
    double m = 0, var = 0;
    for (int i = 0; i < n; i++) m += v[i] / n;
    for (int i = 0; i < n; i++) var += (v[i] - m) * (v[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(var / (n - 1)) : 0.0;
}

int kiln_bench_speculative(const bench_spec_opts *o)
{
    kiln_model *m = NULL, *dm = NULL;
    kiln_context *ctx = NULL;
    kiln_session *s = NULL;
    kiln_sampler *smp = NULL;
    kiln_proposer *prop = NULL;
    int32_t *prompt = NULL, *plain_toks = NULL, *spec_toks = NULL;
    float *logits = NULL;
    double *ts = NULL;
    char *text = NULL;
    size_t text_len = sizeof CODE_PROMPT - 1, n_prompt = 0;
    int rc = 1;
    if (o->prompt_file && !(text = kiln_read_text_file(CMD, "--prompt-file", o->prompt_file, &text_len))) return 1;
    fprintf(stderr, CMD ": loading %s\n", o->model);
    if (kiln_model_load(o->model, &m)) {
        fprintf(stderr, CMD ": %s\n", kiln_last_error());
        goto done;
    }
    if (o->draft && kiln_model_load(o->draft, &dm)) {
        fprintf(stderr, CMD ": --draft: %s\n", kiln_last_error());
        goto done;
    }
    const kiln_model_config *cfg = kiln_model_get_config(m);
    if (!(prompt = prompt_ids(m, text ? text : CODE_PROMPT, text_len, &n_prompt))) goto done;
    kiln_context_options copt = kiln_context_options_default();
    copt.threads = kiln_demo_cap_threads("bench", o->threads);
    copt.warn = kiln_warn_stderr;
    if (kiln_context_create(o->device, &copt, &ctx)) {
        fprintf(stderr, CMD ": device %s: %s\n", o->device, kiln_last_error());
        goto done;
    }
    kiln_session_options so = kiln_session_options_default();
    so.ctx_len = (int32_t)n_prompt + o->n_gen + o->draft_max + 2;
    so.kv_type = o->kv;
    so.logits_rows = o->draft_max + 1;
    kiln_sampler_params greedy = kiln_sampler_params_default();
    greedy.temperature = 0;
    if (kiln_session_create(m, ctx, &so, &s) || kiln_sampler_create(&greedy, cfg->n_vocab, &smp) ||
        (o->lookup ? kiln_proposer_lookup(o->lookup, &prop) : kiln_proposer_draft(dm, m, ctx, &so, NULL, &prop))) {
        fprintf(stderr, CMD ": %s\n", kiln_last_error());
        goto done;
    }
    size_t cap = (size_t)so.ctx_len + 1;
    plain_toks = malloc(cap * sizeof *plain_toks);
    spec_toks = malloc(cap * sizeof *spec_toks);
    logits = malloc((size_t)cfg->n_vocab * sizeof *logits);
    ts = malloc(2 * (size_t)o->reps * sizeof *ts);
    if (!plain_toks || !spec_toks || !logits || !ts) {
        fprintf(stderr, CMD ": out of memory\n");
        goto done;
    }
    kiln_device_info info;
    kiln_context_get_device(ctx, &info);
    char how[96];
    if (o->lookup) snprintf(how, sizeof how, "lookup %d, k %d", o->lookup, o->draft_max);
    else snprintf(how, sizeof how, "draft, k %d", o->draft_max);
    fprintf(stderr, CMD ": %zu prompt tokens, %d generated (greedy), %s, on %s\n", n_prompt, o->n_gen, how, info.id);

    gen_result gp, gs;
    kiln_status st = KILN_OK;
    /* warm-up: compiles the kernels of both shapes, touches the weights */
    if ((st = generate(s, smp, NULL, 0, prompt, n_prompt, 4, plain_toks, logits, &gp)) == KILN_OK)
        st = generate(s, smp, prop, o->draft_max, prompt, n_prompt, 4, spec_toks, logits, &gs);
    int passes = 0, proposed = 0, accepted = 0, differ = -1;
    for (int r = 0; r < o->reps && st == KILN_OK; r++) {
        if ((st = generate(s, smp, NULL, 0, prompt, n_prompt, o->n_gen, plain_toks, logits, &gp))) break;
        if ((st = generate(s, smp, prop, o->draft_max, prompt, n_prompt, o->n_gen, spec_toks, logits, &gs))) break;
        /* the first token comes from the prompt's pass: n_gen - 1 timed */
        ts[r] = (o->n_gen - 1) / (gp.seconds > 0 ? gp.seconds : 1e-9);
        ts[o->reps + r] = (o->n_gen - 1) / (gs.seconds > 0 ? gs.seconds : 1e-9);
        passes += gs.passes, proposed += gs.proposed, accepted += gs.accepted;
        for (int i = 0; i < o->n_gen && differ < 0; i++)
            if (plain_toks[n_prompt + (size_t)i] != spec_toks[n_prompt + (size_t)i]) differ = i;
    }
    if (st != KILN_OK) {
        fprintf(stderr, CMD ": %s\n", kiln_last_error());
        goto done;
    }
    double pm, psd, sm, ssd;
    mean_sd(ts, o->reps, &pm, &psd);
    mean_sd(ts + o->reps, o->reps, &sm, &ssd);
    printf("| %-24s | %-10s | %7s | %-22s | %20s | %8s | %8s | %7s |\n", "model", "backend", "threads", "test", "t/s",
           "accepted", "tok/pass", "speedup");
    printf("| ------------------------ | ---------- | ------: | ---------------------- | -------------------: | "
           "-------: | -------: | ------: |\n");
    char rate[48], test[128];
    int threads = info.backend == KILN_BACKEND_CPU ? info.multiprocessors : o->threads;
    snprintf(test, sizeof test, "tg%d plain", o->n_gen);
    snprintf(rate, sizeof rate, "%.2f ± %.2f", pm, psd);
    printf("| %-24.24s | %-10s | %7d | %-22s | %21s | %8s | %8.2f | %7.2f |\n", cfg->arch, kiln_backend_name(info.backend),
           threads, test, rate, "-", 1.0, 1.0);
    snprintf(test, sizeof test, "tg%d %s", o->n_gen, how);
    snprintf(rate, sizeof rate, "%.2f ± %.2f", sm, ssd);
    char acc[16];
    snprintf(acc, sizeof acc, "%.1f%%", proposed ? 100.0 * accepted / proposed : 0.0);
    printf("| %-24.24s | %-10s | %7d | %-22s | %21s | %8s | %8.2f | %7.2f |\n", cfg->arch, kiln_backend_name(info.backend),
           threads, test, rate, acc, passes ? (double)(accepted + passes) / passes : 0.0, pm > 0 ? sm / pm : 0.0);
    printf("\n%d proposals, %d accepted, %d target passes for %d tokens x %d repetitions\n", proposed, accepted, passes,
           o->n_gen - 1, o->reps);
    if (differ >= 0) {
        fprintf(stderr, CMD ": speculative output differs from plain greedy at generated token %d (a bug)\n", differ);
        goto done;
    }
    rc = 0;
done:
    kiln_proposer_free(prop);
    kiln_sampler_free(smp);
    kiln_session_free(s);
    kiln_context_destroy(ctx);
    kiln_model_free(dm);
    kiln_model_free(m);
    free(prompt);
    free(plain_toks);
    free(spec_toks);
    free(logits);
    free(ts);
    free(text);
    return rc;
}
