/* demo/cmd_bench_model.c — `kiln bench -m MODEL`: prefill and decode speed of
 * a whole model, like llama-bench's pp and tg tests, plus peak memory; with
 * --batch N, of N sequences decoded together (continuous batching). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/busy.h"
#include "demo/commands.h"
#include "kiln/kiln.h"
#include "kiln/runtime.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln bench -m MODEL [-p N] [-n N] [--batch B] [--backend cpu|cuda|vulkan] [--device ID]\n"
               "                  [--kv-type f16|f32|q8_0] [--reps R] [--threads T] [--busy N] [--json]\n\n"
               "Prefill (pp: N prompt tokens in one pass from an empty cache) and decode (tg: N\n"
               "tokens one at a time from an empty cache) speed of a model, median of R repetitions,\n"
               "like llama-bench; then the process's peak resident memory. MODEL: a GGUF file, a\n"
               "llama2.c checkpoint, or synthetic:PRESET-TYPE (e.g. synthetic:7b-q4_0).\n\n"
               "  -p N        prompt tokens (default 512; 0 skips pp)\n"
               "  -n N        generated tokens (default 128; 0 skips tg)\n"
               "  --batch B   sequences at once (default 1). B > 1: B sequences are prefilled with\n"
               "              -p tokens each, one after another (pp: all B*p tokens / time), then\n"
               "              continue together for -n decode steps of one token per sequence\n"
               "              (tg: B*n tokens / time, the aggregate; and per sequence)\n"
               "  --reps R    repetitions (default 3)\n"
               "  --busy N    run N spinning background processes during the measurement (a busy\n"
               "              machine; N = the cores for the under-load figures of docs/PERF.md)\n");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Prompt token i of sequence seq: spread over the vocabulary, different per sequence. */
static int32_t prompt_id(int seq, int i, int32_t n_vocab)
{
    return 1 + (int32_t)(((unsigned)i * 7919u + (unsigned)seq * 104729u) % (unsigned)(n_vocab - 1));
}

static int32_t next_id(int32_t tok, int32_t n_vocab) { return 1 + (int32_t)((tok * 31u + 7u) % (unsigned)(n_vocab - 1)); }

/* One sequence: pp from an empty cache, then tg from an empty cache. */
/* Host buffers of a run: prompt ids [max(p,1)], sequence ids and tokens
 * [batch], logits [batch][n_vocab]. */
typedef struct bench_bufs {
    int32_t *ids, *seqs, *toks;
    float *logits;
} bench_bufs;

static kiln_status bench_one(kiln_session *s, kiln_context *ctx, int32_t n_vocab, int p, int n, int reps,
                             const bench_bufs *B, double *pp, double *tg)
{
    int32_t *ids = B->ids;
    float *logits = B->logits;
    for (int i = 0; i < (p > 0 ? p : 1); i++) ids[i] = prompt_id(0, i, n_vocab);
    /* warm-up: compiles kernels and touches the weights once */
    kiln_status st = kiln_session_forward(s, ids, p > 1 ? 2 : 1, logits);
    kiln_session_reset(s);
    for (int r = 0; r < reps && st == KILN_OK; r++) {
        if (p > 0) {
            double t = now_s();
            st = kiln_session_forward(s, ids, (size_t)p, logits);
            if (st == KILN_OK) st = kiln_synchronize(ctx);
            pp[r] = p / (now_s() - t);
            kiln_session_reset(s);
        }
        if (n > 0 && st == KILN_OK) {
            int32_t tok = ids[0];
            double t = now_s();
            for (int i = 0; i < n && st == KILN_OK; i++) {
                st = kiln_session_forward(s, &tok, 1, logits);
                tok = next_id(tok, n_vocab);
            }
            if (st == KILN_OK) st = kiln_synchronize(ctx);
            tg[r] = n / (now_s() - t);
            kiln_session_reset(s);
        }
    }
    return st;
}

/* batch sequences: each prefilled with p tokens (pp over all of them), then
 * n decode steps of one token per sequence, all in one pass (tg: the
 * aggregate batch*n tokens / time). */
static kiln_status bench_batched(kiln_session *s, kiln_context *ctx, int32_t n_vocab, int p, int n, int batch,
                                 int reps, const bench_bufs *B, double *pp, double *tg)
{
    int32_t *ids = B->ids, *seqs = B->seqs, *toks = B->toks;
    float *logits = B->logits;
    kiln_status st = KILN_OK;
    /* warm-up: a short prefill per sequence and one step at the full batch
     * (compiles the kernels for n = batch rows, touches the weights) */
    for (int r = -1; r < reps && st == KILN_OK; r++) {
        int warm = r < 0;
        double t = now_s();
        for (int b = 0; b < batch && st == KILN_OK; b++) {
            int len = warm ? (p > 1 ? 2 : p) : p;
            for (int i = 0; i < len; i++) ids[i] = prompt_id(b, i, n_vocab);
            st = kiln_session_seq_begin(s, &seqs[b]);
            if (st == KILN_OK && len > 0) st = kiln_session_prefill(s, seqs[b], ids, (size_t)len, logits);
            toks[b] = prompt_id(b, 0, n_vocab);
        }
        if (st == KILN_OK) st = kiln_synchronize(ctx);
        if (!warm && p > 0) pp[r] = (double)batch * p / (now_s() - t);
        int steps = warm ? (n > 0 ? 1 : 0) : n;
        t = now_s();
        for (int i = 0; i < steps && st == KILN_OK; i++) {
            st = kiln_session_decode(s, (size_t)batch, seqs, toks, logits);
            for (int b = 0; b < batch; b++) toks[b] = next_id(toks[b], n_vocab);
        }
        if (st == KILN_OK) st = kiln_synchronize(ctx);
        if (!warm && n > 0) tg[r] = (double)batch * n / (now_s() - t);
        kiln_session_reset(s);
    }
    return st;
}

int kiln_cmd_bench_model(int argc, char **argv)
{
    const char *model = NULL, *device = "cpu";
    int p = 512, n = 128, reps = 3, json = 0, threads = 0, batch = 1, busy = 0;
    kiln_dtype kv = KILN_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!v) {
            fprintf(stderr, "kiln bench: %s needs a value (see kiln bench -m x --help)\n", a);
            return 2;
        } else if (!strcmp(a, "-m")) model = v, i++;
        else if (!strcmp(a, "-p")) p = atoi(v), i++;
        else if (!strcmp(a, "-n")) n = atoi(v), i++;
        else if (!strcmp(a, "--reps")) reps = atoi(v), i++;
        else if (!strcmp(a, "--threads")) threads = atoi(v), i++;
        else if (!strcmp(a, "--backend") || !strcmp(a, "--device")) device = v, i++;
        else if (!strcmp(a, "--kv-type")) {
            int d = kiln_dtype_from_name(v);
            if (d != KILN_F16 && d != KILN_F32 && d != KILN_Q8_0) {
                fprintf(stderr, "kiln bench: --kv-type must be f16, f32 or q8_0\n");
                return 2;
            }
            kv = (kiln_dtype)d, i++;
        } else if (!strcmp(a, "--busy")) {
            char *end;
            long b = strtol(v, &end, 10);
            if (end == v || *end || b < 0 || b > 1024) {
                fprintf(stderr, "kiln bench: --busy must be 0..1024 processes, not '%s'\n", v);
                return 2;
            }
            busy = (int)b, i++;
        } else if (!strcmp(a, "--batch")) {
            batch = atoi(v), i++;
            if (batch < 1 || batch > 4096) {
                fprintf(stderr, "kiln bench: --batch must be 1..4096 sequences\n");
                return 2;
            }
        } else {
            fprintf(stderr, "kiln bench: unknown option '%s' with -m (see kiln bench -m x --help)\n", a);
            return 2;
        }
    }
    if (!model || p < 0 || n < 0 || reps < 1 || (p == 0 && n == 0)) {
        fprintf(stderr, "kiln bench: need -m MODEL, -p >= 0, -n >= 0 (not both 0), --reps >= 1\n");
        return 2;
    }
    kiln_context_options o = kiln_context_options_default();
    o.threads = kiln_demo_cap_threads("bench", threads);
    o.warn = kiln_warn_stderr;
    kiln_context *ctx;
    if (kiln_context_create(device, &o, &ctx) != KILN_OK) {
        fprintf(stderr, "kiln bench: %s\n", kiln_last_error());
        return 1;
    }
    kiln_device_info info;
    kiln_context_get_device(ctx, &info);
    fprintf(stderr, "kiln bench: loading %s\n", model);
    kiln_model *m;
    if (kiln_model_load(model, &m) != KILN_OK) {
        fprintf(stderr, "kiln bench: %s\n", kiln_last_error());
        kiln_context_destroy(ctx);
        return 1;
    }
    const kiln_model_config *cfg = kiln_model_get_config(m);
    kiln_session_options so = kiln_session_options_default();
    so.ctx_len = batch > 1 ? p + n + 1 : p > n ? p + 1 : n + 1;
    so.kv_type = kv;
    so.max_seqs = batch;
    kiln_session *s;
    if (kiln_session_create(m, ctx, &so, &s) != KILN_OK) {
        fprintf(stderr, "kiln bench: %s\n", kiln_last_error());
        kiln_model_free(m);
        kiln_context_destroy(ctx);
        return 1;
    }
    bench_bufs B = {.ids = malloc((size_t)(p > 0 ? p : 1) * sizeof *B.ids),
                    .seqs = malloc((size_t)batch * sizeof *B.seqs),
                    .toks = malloc((size_t)batch * sizeof *B.toks),
                    .logits = malloc((size_t)batch * cfg->n_vocab * sizeof *B.logits)};
    double pp[64], tg[64];
    if (reps > 64) reps = 64;
    kiln_status st = KILN_ERR_OUT_OF_MEMORY;
    kiln_busy load = {0};
    if (busy && kiln_busy_start(&load, busy) != 0) {
        perror("kiln bench: --busy: cannot start the background processes");
        busy = -1;
    }
    if (busy < 0)
        st = KILN_ERR_UNAVAILABLE;
    else if (!B.ids || !B.seqs || !B.toks || !B.logits)
        fprintf(stderr, "kiln bench: out of memory for %d sequences\n", batch);
    else if (batch > 1)
        st = bench_batched(s, ctx, cfg->n_vocab, p, n, batch, reps, &B, pp, tg);
    else
        st = bench_one(s, ctx, cfg->n_vocab, p, n, reps, &B, pp, tg);
    kiln_busy_stop(&load);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double peak_mib = (double)ru.ru_maxrss / 1024.0;
    int rc = 0;
    if (st != KILN_OK) {
        if (B.ids && B.seqs && B.toks && B.logits && busy >= 0) fprintf(stderr, "kiln bench: %s\n", kiln_last_error());
        rc = 1;
    } else {
        qsort(pp, (size_t)reps, sizeof pp[0], cmp_double);
        qsort(tg, (size_t)reps, sizeof tg[0], cmp_double);
        double weights_gib = (double)kiln_model_weight_bytes(m) / (1 << 30);
        if (json) {
            printf("{\"model\": \"%s\", \"backend\": \"%s\", \"device\": \"%s\", \"weights_gib\": %.3f, "
                   "\"kv_type\": \"%s\", \"threads\": %d, \"busy\": %d, \"batch\": %d, \"pp\": %d, \"pp_tokens_per_s\": %.2f, \"tg\": %d, "
                   "\"tg_tokens_per_s\": %.2f, \"tg_tokens_per_s_per_seq\": %.2f, \"peak_host_mib\": %.1f}\n",
                   model, kiln_backend_name(info.backend), info.name, weights_gib, kiln_dtype_get(kv)->name,
                   info.multiprocessors, busy, batch, p,
                   p ? pp[reps / 2] : 0.0, n, n ? tg[reps / 2] : 0.0, n ? tg[reps / 2] / batch : 0.0, peak_mib);
        } else if (batch > 1) {
            printf("model %s (%.2f GiB of weights) on %s (%s), KV %s, batch %d, median of %d\n", model, weights_gib,
                   info.id, info.name, kiln_dtype_get(kv)->name, batch, reps);
            if (p) printf("  pp%-5d x%-4d %10.2f tokens/s\n", p, batch, pp[reps / 2]);
            if (n)
                printf("  tg%-5d x%-4d %10.2f tokens/s (%.2f per sequence)\n", n, batch, tg[reps / 2],
                       tg[reps / 2] / batch);
            printf("  peak host memory %.0f MiB\n", peak_mib);
        } else {
            printf("model %s (%.2f GiB of weights) on %s (%s), KV %s, median of %d", model, weights_gib, info.id,
                   info.name, kiln_dtype_get(kv)->name, reps);
            if (info.backend == KILN_BACKEND_CPU) printf(", %d threads", info.multiprocessors);
            printf(busy ? ", %d busy background processes\n" : "\n", busy);
            if (p) printf("  pp%-5d %10.2f tokens/s\n", p, pp[reps / 2]);
            if (n) printf("  tg%-5d %10.2f tokens/s\n", n, tg[reps / 2]);
            printf("  peak host memory %.0f MiB\n", peak_mib);
        }
    }
    free(B.ids);
    free(B.seqs);
    free(B.toks);
    free(B.logits);
    kiln_session_free(s);
    kiln_model_free(m);
    kiln_context_destroy(ctx);
    return rc;
}
