/* demo/cmd_perplexity.c — `kiln perplexity`: what llama.cpp's llama-perplexity
 * computes, on kiln's runtime.
 *
 * The text is tokenized once (BOS first when the vocabulary asks for it) and
 * cut into non-overlapping chunks of n_ctx tokens; each chunk is evaluated from
 * an empty KV cache with its first token replaced by BOS (when the vocabulary
 * adds one), and the negative log-likelihood of the second half of the chunk
 * (positions n_ctx/2 .. n_ctx-2 predicting the next token) is summed.
 * PPL = exp(mean nll). With --kl-divergence-base FILE the scored positions'
 * log-probabilities are saved (llama.cpp's file format, demo/ppl_logprobs.h);
 * with --kl-divergence as well, FILE is read instead and another model is
 * compared against it: KL divergence, same top token, PPL ratio. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo/commands.h"
#include "demo/ppl_logprobs.h"
#include "kiln/autotune.h"
#include "kiln/runtime.h"

#define LOGITS_ROWS 64 /* output-layer rows per pass: 64 x n_vocab floats of device memory */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kiln perplexity -m MODEL -f TEXT [-c CTX] [options]\n"
            "       kiln perplexity -m MODEL -f TEXT --kl-divergence-base FILE     (save base logits)\n"
            "       kiln perplexity -m MODEL --kl-divergence-base FILE --kl-divergence\n\n"
            "Perplexity of MODEL on the text in TEXT, as llama.cpp's llama-perplexity: chunks of CTX\n"
            "tokens, each from an empty cache with BOS first, the second half of each chunk scored.\n"
            "Prints [chunk]PPL-so-far per chunk and 'Final estimate: PPL = X +/- E' on stdout.\n\n"
            "  -m, --model MODEL      a GGUF model with a vocabulary\n"
            "  -f, --file TEXT        the text (one trailing newline is dropped, as llama.cpp does)\n"
            "  -c, --ctx-size CTX     tokens per chunk (default 512; the text needs 2*CTX tokens)\n"
            "  -b, --batch-size N     tokens per forward call (default CTX; kiln prefills at most 512\n"
            "                         at once, and continues a chunk token by token after its first call)\n"
            "      --chunks N         evaluate at most N chunks (default all)\n"
            "      --kl-divergence-base FILE\n"
            "                         without --kl-divergence: save the scored log-probabilities to FILE\n"
            "                         (llama.cpp's --save-all-logits format; either tool reads the other's)\n"
            "      --kl-divergence    compare MODEL with FILE's logits: mean KL divergence, same top\n"
            "                         token, PPL(Q)/PPL(base); the tokens come from FILE (-f optional:\n"
            "                         when given, its tokens must equal FILE's)\n"
            "      --backend B        cpu, cuda or vulkan (default cpu); --device cuda:1 picks a device\n"
            "  -t, --threads N        cpu worker threads (default: all cores)\n"
            "      --kv-type T        KV cache type: f16 (default, as llama.cpp), f32 or q8_0\n"
            "  -h, --help             this help\n\n"
            "Exit codes: 0 ok, 1 error (bad model, text too short, bad logits file), 2 usage.\n");
}

typedef struct ppl_opts {
    const char *model, *text, *base;
    char device[64];
    int32_t ctx, batch, chunks, threads;
    int kld;
    kiln_dtype kv_type;
} ppl_opts;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A whole positive int32 or -1. */
static int32_t parse_count(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return end == s || *end || errno || v < 1 || v > INT32_MAX ? -1 : (int32_t)v;
}

/* Returns 0 ok, 2 usage error (printed), or -1 after --help. */
static int parse_args(int argc, char **argv, ppl_opts *o)
{
    o->ctx = 512, o->chunks = INT32_MAX, o->kv_type = KILN_F16;
    snprintf(o->device, sizeof o->device, "cpu");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int32_t *count = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--kl-divergence")) {
            o->kld = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "kiln perplexity: unknown option or missing value: '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) o->text = v;
        else if (!strcmp(a, "--kl-divergence-base") || !strcmp(a, "--save-all-logits")) o->base = v;
        else if (!strcmp(a, "--backend") || !strcmp(a, "--device")) snprintf(o->device, sizeof o->device, "%s", v);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) count = &o->ctx;
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) count = &o->batch;
        else if (!strcmp(a, "--chunks")) count = &o->chunks;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) count = &o->threads;
        else if (!strcmp(a, "--kv-type")) {
            if (!strcmp(v, "f16")) o->kv_type = KILN_F16;
            else if (!strcmp(v, "f32")) o->kv_type = KILN_F32;
            else if (!strcmp(v, "q8_0")) o->kv_type = KILN_Q8_0;
            else {
                fprintf(stderr, "kiln perplexity: --kv-type must be f16, f32 or q8_0, not '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "kiln perplexity: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        if (count && (*count = parse_count(v)) < 0) {
            fprintf(stderr, "kiln perplexity: %s takes a positive integer, not '%s'\n", a, v);
            return 2;
        }
    }
    const char *missing = !o->model ? "-m MODEL" : o->kld && !o->base ? "--kl-divergence-base FILE (for --kl-divergence)"
                                                 : !o->kld && !o->text ? "-f TEXT" : NULL;
    if (missing) {
        fprintf(stderr, "kiln perplexity: %s is required\n\n", missing);
        usage(stderr);
        return 2;
    }
    if (o->ctx < 3) {
        fprintf(stderr, "kiln perplexity: -c must be at least 3 (half of each chunk is scored)\n");
        return 2;
    }
    return 0;
}

/* The text file, less one trailing newline; tokens as llama-perplexity makes
 * them (BOS when the vocabulary adds one, special-token text left as text). */
static int tokenize_file(const char *path, const kiln_tokenizer *tok, int32_t **ids, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "kiln perplexity: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) free(buf);
            buf = b;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        fprintf(stderr, "kiln perplexity: cannot read %s\n", path);
        free(buf);
        return -1;
    }
    if (len && buf[len - 1] == '\n') len--;
    kiln_status st = kiln_tokenize(tok, buf, len, kiln_tokenizer_adds_bos(tok), 0, ids, n);
    free(buf);
    if (st) {
        fprintf(stderr, "kiln perplexity: tokenizing %s: %s\n", path, kiln_last_error());
        return -1;
    }
    return 0;
}

/* The model on its device, ready to evaluate chunks. */
typedef struct evaluator {
    kiln_model *m;
    kiln_context *ctx;
    kiln_session *s;
    int32_t n_ctx, batch, n_vocab, bos; /* bos -1: the vocabulary adds none */
    int32_t *chunk_ids;                 /* [n_ctx] */
    float *logits;                      /* [n_ctx][n_vocab] */
} evaluator;

static void evaluator_free(evaluator *e)
{
    free(e->chunk_ids);
    free(e->logits);
    kiln_session_free(e->s);
    kiln_context_destroy(e->ctx);
    kiln_model_free(e->m);
}

/* The model (with its vocabulary) onto the host. */
static int evaluator_load(evaluator *e, const ppl_opts *o)
{
    memset(e, 0, sizeof *e);
    if (kiln_model_load(o->model, &e->m)) {
        fprintf(stderr, "kiln perplexity: %s\n", kiln_last_error());
        return -1;
    }
    const kiln_tokenizer *tok = kiln_model_tokenizer(e->m);
    if (!tok) {
        fprintf(stderr, "kiln perplexity: %s has no vocabulary (a GGUF model with one is needed)\n", o->model);
        return -1;
    }
    e->n_vocab = kiln_model_get_config(e->m)->n_vocab;
    e->bos = kiln_tokenizer_adds_bos(tok) ? kiln_tokenizer_bos(tok) : -1;
    return 0;
}

/* The loaded model onto the device, with a cache of n_ctx tokens. */
static int evaluator_place(evaluator *e, const ppl_opts *o, int32_t n_ctx)
{
    e->n_ctx = n_ctx;
    e->batch = o->batch ? o->batch : n_ctx;
    kiln_context_options copt = kiln_context_options_default();
    copt.threads = o->threads;
    copt.chooser = &kiln_tune_chooser;
    if (kiln_context_create(o->device, &copt, &e->ctx)) {
        fprintf(stderr, "kiln perplexity: device %s: %s\n", o->device, kiln_last_error());
        return -1;
    }
    kiln_session_options so = kiln_session_options_default();
    so.ctx_len = n_ctx;
    so.kv_type = o->kv_type;
    so.logits_rows = LOGITS_ROWS;
    if (kiln_session_create(e->m, e->ctx, &so, &e->s)) {
        fprintf(stderr, "kiln perplexity: %s\n", kiln_last_error());
        return -1;
    }
    e->chunk_ids = malloc((size_t)n_ctx * sizeof *e->chunk_ids);
    e->logits = malloc((size_t)n_ctx * e->n_vocab * sizeof *e->logits);
    if (!e->chunk_ids || !e->logits) {
        fprintf(stderr, "kiln perplexity: out of memory for %d x %d logits\n", n_ctx, e->n_vocab);
        return -1;
    }
    return 0;
}

/* logits[n_ctx][n_vocab] of one chunk, from an empty cache, BOS first. */
static int evaluate_chunk(evaluator *e, const int32_t *tokens)
{
    memcpy(e->chunk_ids, tokens, (size_t)e->n_ctx * sizeof *tokens);
    if (e->bos >= 0) e->chunk_ids[0] = e->bos;
    kiln_session_reset(e->s);
    int32_t seq = -1;
    if (kiln_session_seq_begin(e->s, &seq)) goto fail;
    for (int32_t at = 0; at < e->n_ctx; at += e->batch) {
        int32_t n = e->n_ctx - at < e->batch ? e->n_ctx - at : e->batch;
        if (kiln_session_prefill_all(e->s, seq, e->chunk_ids + at, (size_t)n, e->logits + (size_t)at * e->n_vocab))
            goto fail;
    }
    return 0;
fail:
    fprintf(stderr, "\nkiln perplexity: %s\n", kiln_last_error());
    return -1;
}

static void print_eta(double seconds_per_chunk, int32_t n_chunk)
{
    int total = (int)(seconds_per_chunk * n_chunk);
    fprintf(stderr, "kiln perplexity: %.2f seconds per pass - ETA ", seconds_per_chunk);
    if (total >= 3600) fprintf(stderr, "%d hours ", total / 3600), total %= 3600;
    fprintf(stderr, "%.2f minutes\n", total / 60.0);
}

/* Perplexity of -f's text; with o->base, the scored rows are saved there. */
static int run_perplexity(const ppl_opts *o)
{
    evaluator e = {0};
    int32_t *tokens = NULL;
    uint16_t *row = NULL;
    FILE *out = NULL;
    int rc = 1;
    size_t n_tok = 0;
    if (evaluator_load(&e, o) || evaluator_place(&e, o, o->ctx) ||
        tokenize_file(o->text, kiln_model_tokenizer(e.m), &tokens, &n_tok))
        goto done;
    if (n_tok < 2 * (size_t)o->ctx) {
        fprintf(stderr, "kiln perplexity: %s tokenizes to %zu tokens; a context of %d needs at least %d\n", o->text,
                n_tok, o->ctx, 2 * o->ctx);
        goto done;
    }
    int32_t n_chunk = (int32_t)(n_tok / (size_t)o->ctx);
    if (n_chunk > o->chunks) n_chunk = o->chunks;
    const int32_t first = o->ctx / 2, scored = ppl_scored_per_chunk(o->ctx);
    fprintf(stderr, "kiln perplexity: %zu tokens; %d chunks of %d, scoring positions %d..%d of each\n", n_tok, n_chunk,
            o->ctx, first, o->ctx - 2);
    if (o->base) {
        row = malloc(ppl_row_u16(e.n_vocab) * sizeof *row);
        if (!row || !(out = fopen(o->base, "wb")) || ppl_base_write_header(out, o->ctx, e.n_vocab, n_chunk, tokens)) {
            fprintf(stderr, "kiln perplexity: cannot write %s: %s\n", o->base, strerror(errno));
            goto done;
        }
    }
    double nll = 0, nll2 = 0;
    size_t count = 0;
    for (int32_t c = 0; c < n_chunk; c++) {
        const int32_t *chunk = tokens + (size_t)c * o->ctx;
        double t0 = now_s();
        if (evaluate_chunk(&e, chunk)) goto done;
        for (int32_t i = first; i < first + scored; i++) {
            const float *l = e.logits + (size_t)i * e.n_vocab;
            double v = row ? ppl_nll_encode(l, e.n_vocab, chunk[i + 1], row) : ppl_nll(l, e.n_vocab, chunk[i + 1]);
            if (row && fwrite(row, 2, ppl_row_u16(e.n_vocab), out) != ppl_row_u16(e.n_vocab)) {
                fprintf(stderr, "\nkiln perplexity: cannot write %s: %s\n", o->base, strerror(errno));
                goto done;
            }
            nll += v, nll2 += v * v, count++;
        }
        if (c == 0) print_eta(now_s() - t0, n_chunk);
        printf("[%d]%.4f,", c + 1, exp(nll / count));
        fflush(stdout);
    }
    printf("\n");
    double mean = nll / count, var = nll2 / count - mean * mean, ppl = exp(mean);
    if (!isfinite(ppl)) {
        fprintf(stderr, "kiln perplexity: the perplexity is not finite (%g): the model's logits are broken\n", ppl);
        goto done;
    }
    printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, var > 0 ? sqrt(var / (count - 1)) * ppl : 0.0);
    if (out && fclose(out)) {
        out = NULL;
        fprintf(stderr, "kiln perplexity: cannot write %s: %s\n", o->base, strerror(errno));
        goto done;
    }
    out = NULL;
    if (o->base) fprintf(stderr, "kiln perplexity: saved the log-probabilities to %s\n", o->base);
    rc = 0;
done:
    if (out) fclose(out);
    free(row);
    free(tokens);
    evaluator_free(&e);
    return rc;
}

/* -f's tokens, when given with --kl-divergence, must be the file's. */
static int check_tokens_match(const ppl_opts *o, const evaluator *e, const ppl_base_header *h)
{
    int32_t *ids = NULL;
    size_t n = 0;
    if (tokenize_file(o->text, kiln_model_tokenizer(e->m), &ids, &n)) return -1;
    size_t want = (size_t)h->n_chunk * h->n_ctx;
    for (size_t i = 0; i < want; i++)
        if (i >= n || ids[i] != h->tokens[i]) {
            if (i >= n) fprintf(stderr, "kiln perplexity: %s has %zu tokens; %s holds %zu\n", o->text, n, o->base, want);
            else
                fprintf(stderr, "kiln perplexity: token %zu of %s is %d, but %s holds %d there (another text or vocabulary)\n",
                        i, o->text, ids[i], o->base, h->tokens[i]);
            free(ids);
            return -1;
        }
    free(ids);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_kld_summary(const ppl_kld_sums *k, double *kld_values)
{
    double lp, lp_err, lb, lb_err, kl, kl_err, d2, d2_err;
    ppl_mean_and_error(k->nll, k->nll2, k->count, &lp, &lp_err);
    ppl_mean_and_error(k->nll_base, k->nll_base2, k->count, &lb, &lb_err);
    ppl_mean_and_error(k->kld, k->kld2, k->count, &kl, &kl_err);
    ppl_mean_and_error(k->p_diff2, k->p_diff4, k->count, &d2, &d2_err);
    double same = (double)k->same_top / k->count;
    qsort(kld_values, k->count, sizeof *kld_values, cmp_double);
    printf("Mean PPL(Q)                   : %10.6f\n", exp(lp));
    printf("Mean PPL(base)                : %10.6f\n", exp(lb));
    printf("Mean PPL(Q)/PPL(base)         : %10.6f\n", exp(lp - lb));
    printf("Mean    KLD: %10.6f ± %10.6f\n", kl, kl_err);
    printf("Maximum KLD: %10.6f\n", kld_values[k->count - 1]);
    printf("99.0%%   KLD: %10.6f\n", kld_values[(size_t)(0.99 * (k->count - 1))]);
    printf("Median  KLD: %10.6f\n", kld_values[(k->count - 1) / 2]);
    printf("RMS Δp    : %6.3f %%\n", 100.0 * sqrt(d2));
    printf("Maximum |Δp|: %6.3f %%\n", 100.0 * k->max_p_diff);
    printf("Same top p: %6.3f ± %5.3f %%\n", 100.0 * same,
           k->count > 1 ? 100.0 * sqrt(same * (1 - same) / (k->count - 1)) : 0.0);
}

/* --kl-divergence: the model against the saved base log-probabilities. */
static int run_kl_divergence(const ppl_opts *o)
{
    evaluator e = {0};
    ppl_base_header h = {0};
    uint16_t *rows = NULL;
    double *kld_values = NULL;
    int rc = 1;
    char err[512];
    FILE *f = fopen(o->base, "rb");
    if (!f) {
        fprintf(stderr, "kiln perplexity: cannot open %s: %s\n", o->base, strerror(errno));
        return 1;
    }
    /* The header first (against the model's vocabulary), then the session at the file's n_ctx. */
    if (evaluator_load(&e, o)) goto done;
    const int32_t n_vocab = e.n_vocab;
    if (ppl_base_read_header(f, o->base, n_vocab, &h, err, sizeof err)) {
        fprintf(stderr, "kiln perplexity: %s\n", err);
        goto done;
    }
    if (evaluator_place(&e, o, h.n_ctx) || (o->text && check_tokens_match(o, &e, &h))) goto done;
    const int32_t first = h.n_ctx / 2, scored = ppl_scored_per_chunk(h.n_ctx);
    const size_t nv = ppl_row_u16(n_vocab);
    int32_t n_chunk = h.n_chunk < o->chunks ? h.n_chunk : o->chunks;
    rows = malloc((size_t)scored * nv * sizeof *rows);
    kld_values = malloc((size_t)n_chunk * scored * sizeof *kld_values);
    if (!rows || !kld_values) {
        fprintf(stderr, "kiln perplexity: out of memory\n");
        goto done;
    }
    fprintf(stderr, "kiln perplexity: KL divergence against %s: %d chunks of %d tokens\n", o->base, n_chunk, h.n_ctx);
    ppl_kld_sums k = {0};
    for (int32_t c = 0; c < n_chunk; c++) {
        const int32_t *chunk = h.tokens + (size_t)c * h.n_ctx;
        if (fread(rows, 2, (size_t)scored * nv, f) != (size_t)scored * nv) {
            fprintf(stderr, "kiln perplexity: %s: cannot read the rows of chunk %d\n", o->base, c + 1);
            goto done;
        }
        double t0 = now_s();
        if (evaluate_chunk(&e, chunk)) goto done;
        for (int32_t i = 0; i < scored; i++) {
            const uint16_t *row = rows + (size_t)i * nv;
            if (ppl_row_check(row)) {
                fprintf(stderr, "kiln perplexity: %s: chunk %d, row %d has a bad scale or offset\n", o->base, c + 1, i);
                goto done;
            }
            kld_values[k.count] = ppl_kld_add(&k, e.logits + (size_t)(first + i) * n_vocab, n_vocab, row,
                                              chunk[first + i + 1], NULL);
        }
        if (c == 0) {
            print_eta(now_s() - t0, n_chunk);
            printf("chunk        PPL     ln(PPL(Q)/PPL(base))   KL Divergence   Same top p\n");
        }
        double lp, lp_err, lb, lb_err, kl, kl_err;
        ppl_mean_and_error(k.nll, k.nll2, k.count, &lp, &lp_err);
        ppl_mean_and_error(k.nll_base, k.nll_base2, k.count, &lb, &lb_err);
        ppl_mean_and_error(k.kld, k.kld2, k.count, &kl, &kl_err);
        printf("%4d  %10.4f  %14.5f  %17.5f  %9.3f %%\n", c + 1, exp(lp), lp - lb, kl, 100.0 * k.same_top / k.count);
        fflush(stdout);
    }
    printf("\n");
    print_kld_summary(&k, kld_values);
    rc = 0;
done:
    fclose(f);
    free(rows);
    free(kld_values);
    ppl_base_header_free(&h);
    evaluator_free(&e);
    return rc;
}

int kiln_cmd_perplexity(int argc, char **argv)
{
    ppl_opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    return o.kld ? run_kl_divergence(&o) : run_perplexity(&o);
}
