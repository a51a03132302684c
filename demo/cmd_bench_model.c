/* demo/cmd_bench_model.c — `kiln bench -m MODEL`: prefill and decode speed of
 * a whole model with llama-bench's flags, tests (pp, tg, pg, each at a depth)
 * and table, plus peak memory; with --batch N, of N sequences decoded
 * together (continuous batching). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/busy.h"
#include "demo/args.h"
#include "demo/bench_spec.h"
#include "demo/commands.h"
#include "demo/model_flags.h"
#include "kiln/autotune.h"
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
    fprintf(f,
            "usage: kiln bench -m MODEL [-p N,..] [-n N,..] [-pg P,N] [-d N,..] [-t N,..] [-r R]\n"
            "                  [-ctk T,..] [-o md|json|jsonl] [--batch B] [--backend B | --device ID]\n\n"
            "Prefill (pp: N prompt tokens in one pass) and decode (tg: N tokens one at a time)\n"
            "speed of a model, like llama-bench, with its flags and its markdown table (model,\n"
            "size, params, backend, threads, test, t/s as mean +- standard deviation of the\n"
            "repetitions). List options take llama-bench's lists: 64,128 or 64-512*2 or\n"
            "1-4+1; each value is one row (options repeat to append). MODEL: a GGUF file, a\n"
            "llama2.c checkpoint, or synthetic:PRESET-TYPE (e.g. synthetic:7b-q4_0).\n\n"
            "  -p, --n-prompt N,..       prompt tokens (default 512; 0 = no pp test)\n"
            "  -n, --n-gen N,..          generated tokens (default 128; 0 = no tg test)\n"
            "  -pg P,N                   a prompt of P then N generated tokens, timed together\n"
            "                            (test ppP+tgN); repeat -pg for more pairs\n"
            "  -d, --n-depth N,..        each test after a context of N tokens (default 0), prefilled\n"
            "                            untimed (kiln prefills in one pass only into an empty\n"
            "                            sequence: after a depth, a pp test runs token by token)\n"
            "  -t, --threads N,..        cpu worker threads (default 0: all cores)\n"
            "  -r, --repetitions R       repetitions of each test (default 5; also --reps)\n"
            "  -ctk, --cache-type-k T,.. KV cache type: f16 (default), f32, q8_0 (also --kv-type)\n"
            "  -ctv, --cache-type-v T,.. accepted when it matches -ctk (kiln has one type for K and V)\n"
            "  -o, --output FMT          md (default: the table), json (an array), jsonl (one object\n"
            "                            per line, as --json); fields named as llama-bench's\n"
            "  -b, --batch-size N,..     accepted and ignored (a row each): kiln prefills up to 512\n"
            "  -ub, --ubatch-size N,..   tokens per pass, whatever these say\n"
            "  -fa, --flash-attn 0|1,..  accepted and ignored (a row each): kiln always uses flash\n"
            "                            attention for prefill and paged attention for decode\n"
            "  --batch B                 kiln's own: B sequences at once (default 1). B > 1: each is\n"
            "                            prefilled with P tokens, one after another (pp: all B*P\n"
            "                            tokens / time), then all decode together (tg: B*N tokens /\n"
            "                            time, the aggregate; the table gains n_seqs)\n"
            "  --backend B, --device ID  cpu (default), cuda, vulkan; e.g. cuda:1\n"
            "  --draft MODEL             speculative decoding with MODEL as the draft: greedy generation\n"
            "                            of -n tokens (the first value) after a prompt, plain and\n"
            "                            speculative, interleaved; the table gives both t/s, the\n"
            "                            acceptance rate, tokens per target pass and the speedup\n"
            "  --lookup N                the same with prompt lookup (n-grams up to N) as the proposer\n"
            "  --draft-max K             proposals per pass (default 8)\n"
            "  --prompt-file F           the prompt for --draft/--lookup (default: a request to repeat\n"
            "                            a C function with a variable renamed)\n"
            "  --busy N                  kiln's own: N spinning background processes during the\n"
            "                            measurement (a busy machine; N = the cores for the\n"
            "                            under-load figures of docs/PERF.md)\n");
    model_flags_usage_tokenizer_pre(f);
    fprintf(f, "\nAfter the table: the process's peak resident memory. Exit codes: 0 ok, 1 error, 2 usage.\n");
}

/* Prompt token i of sequence seq: spread over the vocabulary, different per sequence. */
static int32_t prompt_id(int seq, int i, int32_t n_vocab)
{
    return 1 + (int32_t)(((unsigned)i * 7919u + (unsigned)seq * 104729u) % (unsigned)(n_vocab - 1));
}

static int32_t next_id(int32_t tok, int32_t n_vocab) { return 1 + (int32_t)((tok * 31u + 7u) % (unsigned)(n_vocab - 1)); }

/* ------------------------------------------------------------ options */

enum { OUT_MD, OUT_JSON, OUT_JSONL };

typedef struct bench_opts {
    const char *model, *device, *tokenizer_pre;
    kiln_int_list p, n, pg, d, t, b, ub, fa, ctk; /* pg: pairs (P, N) back to back; ctk: kiln_dtype values */
    int reps, batch, out, busy;
    const char *draft, *prompt_file; /* speculative decoding (demo/bench_spec.c) */
    int lookup, draft_max;
} bench_opts;

#define CMD "kiln bench"

/* "f16,q8_0" -> KV types appended to l. */
static int parse_kv_types(const char *opt, const char *s, kiln_int_list *l)
{
    if (!l->given) l->n = 0;
    l->given = 1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    const char *p = buf;
    for (char *next; p; p = next) {
        next = strchr(p, ',');
        if (next) *next++ = 0;
        int d = kiln_dtype_from_name(p);
        if (d != KILN_F16 && d != KILN_F32 && d != KILN_Q8_0) {
            fprintf(stderr, CMD ": %s: '%s' is not a KV cache type (f16, f32 or q8_0)\n", opt, p);
            return -1;
        }
        if (kiln_int_list_push(l, d)) return -1;
    }
    return 0;
}

static int is(const char *a, const char *s1, const char *s2) { return !strcmp(a, s1) || (s2 && !strcmp(a, s2)); }

/* Returns 0 ok, or 2 (usage error, printed). */
static int parse_args(int argc, char **argv, bench_opts *o)
{
    o->device = "cpu";
    o->reps = 5;
    o->batch = 1;
    o->draft_max = 8;
    kiln_int_list ctv = {0};
    int ok = !kiln_int_list_push(&o->p, 512) && !kiln_int_list_push(&o->n, 128) && !kiln_int_list_push(&o->d, 0) &&
             !kiln_int_list_push(&o->t, 0) && !kiln_int_list_push(&o->b, 2048) && !kiln_int_list_push(&o->ub, 512) &&
             !kiln_int_list_push(&o->fa, 1) && !kiln_int_list_push(&o->ctk, KILN_F16);
    for (int i = 1; ok && i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (is(a, "-h", "--help")) {
            usage(stdout);
            exit(0);
        }
        if (is(a, "--json", NULL)) {
            o->out = OUT_JSONL;
            continue;
        }
        if (!v) {
            fprintf(stderr, CMD ": unknown option, or an option without its value: '%s' (see kiln bench -m x --help)\n", a);
            ok = 0;
            break;
        }
        i++;
        if (is(a, "-m", "--model")) o->model = v;
        else if (is(a, "-p", "--n-prompt")) ok = !kiln_arg_int_list(CMD, a, v, 0, 1 << 20, &o->p);
        else if (is(a, "-n", "--n-gen")) ok = !kiln_arg_int_list(CMD, a, v, 0, 1 << 20, &o->n);
        else if (is(a, "-d", "--n-depth")) ok = !kiln_arg_int_list(CMD, a, v, 0, 1 << 20, &o->d);
        else if (is(a, "-t", "--threads")) ok = !kiln_arg_int_list(CMD, a, v, 0, 4096, &o->t);
        else if (is(a, "-b", "--batch-size")) ok = !kiln_arg_int_list(CMD, a, v, 1, 1 << 20, &o->b);
        else if (is(a, "-ub", "--ubatch-size")) ok = !kiln_arg_int_list(CMD, a, v, 1, 1 << 20, &o->ub);
        else if (is(a, "-fa", "--flash-attn")) ok = !kiln_arg_int_list(CMD, a, v, 0, 1, &o->fa);
        else if (is(a, "-ctk", "--cache-type-k") || is(a, "--kv-type", NULL)) ok = !parse_kv_types(a, v, &o->ctk);
        else if (is(a, "-ctv", "--cache-type-v")) ok = !parse_kv_types(a, v, &ctv);
        else if (is(a, "-r", "--repetitions") || is(a, "--reps", NULL)) ok = !kiln_arg_i32(CMD, a, v, 1, 1000, &o->reps);
        else if (is(a, "--batch", NULL)) ok = !kiln_arg_i32(CMD, a, v, 1, 4096, &o->batch);
        else if (is(a, "--busy", NULL)) ok = !kiln_arg_i32(CMD, a, v, 0, 1024, &o->busy);
        else if (is(a, "--draft", "-md")) o->draft = v;
        else if (is(a, "--lookup", NULL)) ok = !kiln_arg_i32(CMD, a, v, 1, 64, &o->lookup);
        else if (is(a, "--draft-max", NULL)) ok = !kiln_arg_i32(CMD, a, v, 1, 64, &o->draft_max);
        else if (is(a, "--prompt-file", NULL)) o->prompt_file = v;
        else if (is(a, "--backend", "--device")) o->device = v;
        else if (is(a, "--tokenizer-pre", NULL)) o->tokenizer_pre = v;
        else if (is(a, "-pg", NULL)) {
            kiln_int_list pair = {0};
            ok = !kiln_arg_int_list(CMD, a, v, 0, 1 << 20, &pair);
            if (ok && (pair.n != 2 || pair.v[0] + pair.v[1] == 0)) {
                fprintf(stderr, CMD ": -pg: '%s' is not a pair P,N of prompt and generated tokens\n", v);
                ok = 0;
            }
            if (ok) ok = !kiln_int_list_push(&o->pg, pair.v[0]) && !kiln_int_list_push(&o->pg, pair.v[1]);
            kiln_int_list_free(&pair);
        } else if (is(a, "-o", "--output")) {
            if (!strcmp(v, "md")) o->out = OUT_MD;
            else if (!strcmp(v, "json")) o->out = OUT_JSON;
            else if (!strcmp(v, "jsonl")) o->out = OUT_JSONL;
            else {
                fprintf(stderr, CMD ": %s: '%s' is not an output format (md, json or jsonl)\n", a, v);
                ok = 0;
            }
        } else {
            fprintf(stderr, CMD ": unknown option '%s' with -m (see kiln bench -m x --help)\n", a);
            ok = 0;
        }
    }
    if (ok && ctv.given) { /* one type for K and V: -ctv must repeat -ctk */
        ok = ctv.n == o->ctk.n && !memcmp(ctv.v, o->ctk.v, (size_t)ctv.n * sizeof *ctv.v);
        if (!ok) fprintf(stderr, CMD ": -ctv must match -ctk: kiln's KV cache has one type for K and V\n");
    }
    kiln_int_list_free(&ctv);
    if (ok && !o->model) {
        fprintf(stderr, CMD ": -m MODEL is required\n");
        ok = 0;
    }
    if (ok && o->draft && o->lookup) {
        fprintf(stderr, CMD ": give one of --draft and --lookup\n");
        ok = 0;
    }
    if (ok && (o->draft || o->lookup) && (o->n.v[0] < 2 || o->batch > 1 || o->out != OUT_MD)) {
        fprintf(stderr, CMD ": --draft/--lookup measure one sequence generating -n >= 2 tokens, as a markdown table\n");
        ok = 0;
    }
    return ok ? 0 : 2;
}

static void free_opts(bench_opts *o)
{
    kiln_int_list *l[] = {&o->p, &o->n, &o->pg, &o->d, &o->t, &o->b, &o->ub, &o->fa, &o->ctk};
    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++) kiln_int_list_free(l[i]);
}

/* ------------------------------------------------------------ measuring */

/* One test: a prompt of p tokens and/or n generated, after a depth of d. */
typedef struct bench_test {
    int p, n, d;
} bench_test;

/* Host buffers of a run: ids [max(d, p, 1)], sequence ids and tokens [batch],
 * logits [batch][n_vocab]. */
typedef struct bench_bufs {
    int32_t *ids, *seqs, *toks;
    float *logits;
} bench_bufs;

/* Appends `len` prompt tokens of sequence seq starting at token `from` of its prompt. */
static kiln_status feed(kiln_session *s, int32_t seq, int from, int len, int32_t n_vocab, const bench_bufs *B)
{
    if (len <= 0) return KILN_OK;
    for (int i = 0; i < len; i++) B->ids[i] = prompt_id(seq, from + i, n_vocab);
    return kiln_session_prefill(s, seq, B->ids, (size_t)len, B->logits);
}

/* One repetition of test T over `batch` sequences: the depth untimed, then
 * the timed part (each sequence's prompt, one after another; then n decode
 * steps of all sequences together). Returns the tokens per second, or a
 * negative value on failure. */
static double run_once(kiln_session *s, kiln_context *ctx, int32_t n_vocab, bench_test T, int batch,
                       const bench_bufs *B, kiln_status *st)
{
    kiln_session_reset(s);
    for (int b = 0; b < batch && *st == KILN_OK; b++) {
        *st = kiln_session_seq_begin(s, &B->seqs[b]);
        if (*st == KILN_OK) *st = feed(s, B->seqs[b], 0, T.d, n_vocab, B);
        B->toks[b] = prompt_id(b, T.d, n_vocab);
    }
    if (*st == KILN_OK) *st = kiln_synchronize(ctx);
    double t = now_s();
    for (int b = 0; b < batch && *st == KILN_OK; b++) *st = feed(s, B->seqs[b], T.d, T.p, n_vocab, B);
    for (int i = 0; i < T.n && *st == KILN_OK; i++) {
        *st = kiln_session_decode(s, (size_t)batch, B->seqs, B->toks, B->logits);
        for (int b = 0; b < batch; b++) B->toks[b] = next_id(B->toks[b], n_vocab);
    }
    if (*st == KILN_OK) *st = kiln_synchronize(ctx);
    t = now_s() - t;
    kiln_session_reset(s);
    return *st == KILN_OK ? (double)batch * (T.p + T.n) / (t > 0 ? t : 1e-9) : -1.0;
}

/* ------------------------------------------------------------ reporting */

/* What one row reports besides the rates. */
typedef struct bench_row {
    const char *model_type; /* "llama 135M" */
    double size_bytes, n_params;
    const char *backend, *device;
    int threads, n_batch, n_ubatch, fa, n_seqs;
    kiln_dtype kv;
    bench_test test;
} bench_row;

/* llama-bench's test name: pp512, tg128, pp512+tg128, then " @ d512". */
static void test_name(bench_test T, char *buf, size_t cap)
{
    int k = T.p && T.n ? snprintf(buf, cap, "pp%d+tg%d", T.p, T.n)
                       : snprintf(buf, cap, T.p ? "pp%d" : "tg%d", T.p ? T.p : T.n);
    if (T.d && k > 0 && (size_t)k < cap) snprintf(buf + k, cap - (size_t)k, " @ d%d", T.d);
}

static void human(double v, const char *const units[], double step, char *buf, size_t cap)
{
    int u = 0;
    while (v >= step && units[u + 1]) v /= step, u++;
    snprintf(buf, cap, "%.2f %s", v, units[u]);
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* Which optional columns the table has: those whose value is not the default in some row. */
typedef struct bench_cols {
    int type_k, n_batch, n_ubatch, fa, n_seqs;
} bench_cols;

static void md_header(const bench_cols *c)
{
    printf("| %-30s | %10s | %10s | %-10s | %7s |", "model", "size", "params", "backend", "threads");
    if (c->type_k) printf(" %6s |", "type_k");
    if (c->n_batch) printf(" %7s |", "n_batch");
    if (c->n_ubatch) printf(" %8s |", "n_ubatch");
    if (c->fa) printf(" %2s |", "fa");
    if (c->n_seqs) printf(" %6s |", "n_seqs");
    printf(" %15s | %20s |\n", "test", "t/s");
    /* llama-bench's rule: as wide as the header, ':' on the right of right-aligned columns */
    printf("| ------------------------------ | ---------: | ---------: | ---------- | ------: |");
    if (c->type_k) printf(" -----: |");
    if (c->n_batch) printf(" ------: |");
    if (c->n_ubatch) printf(" -------: |");
    if (c->fa) printf(" -: |");
    if (c->n_seqs) printf(" -----: |");
    printf(" --------------: | -------------------: |\n");
}

static void print_row(int out, int first, const bench_cols *cols, const bench_row *r, const char *model_path,
                      const double *ts, int reps)
{
    double mean = 0, var = 0;
    for (int i = 0; i < reps; i++) mean += ts[i] / reps;
    for (int i = 0; i < reps; i++) var += (ts[i] - mean) * (ts[i] - mean);
    double sd = reps > 1 ? sqrt(var / (reps - 1)) : 0.0;
    char test[64];
    test_name(r->test, test, sizeof test);
    if (out == OUT_MD) {
        static const char *const bytes[] = {"B", "KiB", "MiB", "GiB", "TiB", NULL};
        static const char *const count[] = {"", "K", "M", "B", "T", NULL};
        char size[32], params[32], rate[48];
        human(r->size_bytes, bytes, 1024, size, sizeof size);
        human(r->n_params, count, 1000, params, sizeof params);
        snprintf(rate, sizeof rate, "%.2f ± %.2f", mean, sd);
        printf("| %-30s | %10s | %10s | %-10s | %7d |", r->model_type, size, params, r->backend, r->threads);
        if (cols->type_k) printf(" %6s |", kiln_dtype_get(r->kv)->name);
        if (cols->n_batch) printf(" %7d |", r->n_batch);
        if (cols->n_ubatch) printf(" %8d |", r->n_ubatch);
        if (cols->fa) printf(" %2d |", r->fa);
        if (cols->n_seqs) printf(" %6d |", r->n_seqs);
        printf(" %15s | %21s |\n", test, rate); /* "±" is two bytes: one more to align */
    } else {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        if (out == OUT_JSON) printf(first ? "[\n  " : ",\n  ");
        printf("{\"model_filename\": ");
        json_string(model_path);
        printf(", \"model_type\": ");
        json_string(r->model_type);
        printf(", \"model_size\": %.0f, \"model_n_params\": %.0f, \"backends\": ", r->size_bytes, r->n_params);
        json_string(r->backend);
        printf(", \"device\": ");
        json_string(r->device);
        const char *kv = kiln_dtype_get(r->kv)->name;
        printf(", \"n_threads\": %d, \"type_k\": \"%s\", \"type_v\": \"%s\", \"n_batch\": %d, \"n_ubatch\": %d, "
               "\"flash_attn\": %s, \"n_prompt\": %d, \"n_gen\": %d, \"n_depth\": %d, \"n_seqs\": %d, "
               "\"avg_ns\": %.0f, \"stddev_ns\": %.0f, \"avg_ts\": %.6f, \"stddev_ts\": %.6f, "
               "\"avg_ts_per_seq\": %.6f, \"samples_ts\": [",
               r->threads, kv, kv, r->n_batch, r->n_ubatch, r->fa ? "true" : "false", r->test.p, r->test.n,
               r->test.d, r->n_seqs, mean > 0 ? 1e9 * r->n_seqs * (r->test.p + r->test.n) / mean : 0.0,
               mean > 0 ? 1e9 * r->n_seqs * (r->test.p + r->test.n) * sd / (mean * mean) : 0.0, mean, sd,
               mean / r->n_seqs);
        for (int i = 0; i < reps; i++) printf(i ? ", %.6f" : "%.6f", ts[i]);
        printf("], \"peak_host_mib\": %.1f}", (double)ru.ru_maxrss / 1024.0);
        if (out == OUT_JSONL) printf("\n");
    }
    fflush(stdout);
}

/* Parameters of a Llama-family model from its shape (llama-bench's params column). */
static double llama_params(const kiln_model_config *c)
{
    double d = c->dim, q = (double)c->n_heads * c->head_dim, kv = (double)c->n_kv_heads * c->head_dim;
    double layer = d * q * 2 + d * kv * 2 + 3 * d * c->hidden_dim + 2 * d;
    return (double)c->n_vocab * d * (c->tied_output ? 1 : 2) + c->n_layers * layer + d;
}

/* "llama 135M", "llama 7B": the architecture and the rounded parameter count. */
static void model_label(const char *arch, double n_params, char *buf, size_t cap)
{
    static const char units[] = " KMBT";
    int u = 0;
    while (n_params >= 999.5 && u < 4) n_params /= 1000, u++;
    snprintf(buf, cap, "%s %.0f%.*s", arch, n_params, u ? 1 : 0, &units[u]);
}

/* ------------------------------------------------------------ the command */

int kiln_cmd_bench_model(int argc, char **argv)
{
    bench_opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc || o.draft || o.lookup) {
        bench_spec_opts so = {.model = o.model, .device = o.device, .draft = o.draft, .lookup = o.lookup,
                              .draft_max = o.draft_max, .prompt_file = o.prompt_file, .n_gen = o.n.v[0],
                              .reps = o.reps, .threads = o.t.v[0], .kv = (kiln_dtype)o.ctk.v[0]};
        if (!rc) rc = kiln_bench_speculative(&so);
        free_opts(&o);
        return rc;
    }
    /* The tests, in llama-bench's order: every pp, every tg, every pg; for each depth. */
    int n_tests = 0, max_len = 4; /* the warm-up's 2 + 1 tokens */
    bench_test *tests = malloc(((size_t)o.p.n + o.n.n + o.pg.n / 2 + 1) * (size_t)o.d.n * sizeof *tests);
    if (!tests) {
        fprintf(stderr, CMD ": out of memory\n");
        free_opts(&o);
        return 1;
    }
    for (int di = 0; di < o.d.n; di++) {
        int d = o.d.v[di];
        for (int i = 0; i < o.p.n; i++)
            if (o.p.v[i]) tests[n_tests++] = (bench_test){o.p.v[i], 0, d};
        for (int i = 0; i < o.n.n; i++)
            if (o.n.v[i]) tests[n_tests++] = (bench_test){0, o.n.v[i], d};
        for (int i = 0; i + 1 < o.pg.n; i += 2) tests[n_tests++] = (bench_test){o.pg.v[i], o.pg.v[i + 1], d};
    }
    for (int i = 0; i < n_tests; i++) {
        int len = tests[i].d + tests[i].p + tests[i].n + 1;
        if (len > max_len) max_len = len;
    }
    if (!n_tests) {
        fprintf(stderr, CMD ": no test: every -p and -n is 0 and there is no -pg\n");
        free(tests);
        free_opts(&o);
        return 2;
    }

    kiln_model *m = NULL;
    kiln_context *ctx = NULL;
    kiln_session *s = NULL;
    kiln_busy load = {0};
    bench_bufs B = {0};
    double *ts = malloc((size_t)o.reps * sizeof *ts);
    rc = 1;
    fprintf(stderr, CMD ": loading %s\n", o.model);
    if (model_flags_load("bench", o.model, o.tokenizer_pre, &m)) goto done;
    const kiln_model_config *cfg = kiln_model_get_config(m);
    int max_ids = max_len;
    B.ids = malloc((size_t)max_ids * sizeof *B.ids);
    B.seqs = malloc((size_t)o.batch * sizeof *B.seqs);
    B.toks = malloc((size_t)o.batch * sizeof *B.toks);
    B.logits = malloc((size_t)o.batch * cfg->n_vocab * sizeof *B.logits);
    if (!ts || !B.ids || !B.seqs || !B.toks || !B.logits) {
        fprintf(stderr, CMD ": out of memory for %d sequences of %d tokens\n", o.batch, max_len);
        goto done;
    }
    char model_type[64];
    double n_params = llama_params(cfg);
    model_label(cfg->arch, n_params, model_type, sizeof model_type);

    bench_cols cols = {0};
    for (int i = 0; i < o.ctk.n; i++) cols.type_k |= o.ctk.v[i] != KILN_F16;
    for (int i = 0; i < o.b.n; i++) cols.n_batch |= o.b.v[i] != 2048;
    for (int i = 0; i < o.ub.n; i++) cols.n_ubatch |= o.ub.v[i] != 512;
    for (int i = 0; i < o.fa.n; i++) cols.fa |= o.fa.v[i] != 1;
    cols.n_seqs = o.batch > 1;
    if (o.out == OUT_MD) md_header(&cols);

    int rows = 0;
    if (o.busy && kiln_busy_start(&load, o.busy) != 0) {
        fprintf(stderr, CMD ": --busy: cannot start the background processes: %s\n", strerror(errno));
        goto done;
    }
    for (int ti = 0; ti < o.t.n; ti++) {
        kiln_session_free(s); /* the session lives on the context: it goes first */
        s = NULL;
        kiln_context_destroy(ctx);
        ctx = NULL;
        kiln_context_options copt = kiln_context_options_default();
        copt.threads = kiln_demo_cap_threads("bench", o.t.v[ti]);
        copt.chooser = &kiln_tune_chooser;
        copt.warn = kiln_warn_stderr;
        if (kiln_context_create(o.device, &copt, &ctx) != KILN_OK) {
            fprintf(stderr, CMD ": device %s: %s\n", o.device, kiln_last_error());
            goto done;
        }
        kiln_device_info info;
        kiln_context_get_device(ctx, &info);
        for (int ki = 0; ki < o.ctk.n; ki++) {
            kiln_session_free(s);
            s = NULL;
            kiln_session_options so = kiln_session_options_default();
            so.ctx_len = max_len;
            so.kv_type = (kiln_dtype)o.ctk.v[ki];
            so.max_seqs = o.batch;
            if (kiln_session_create(m, ctx, &so, &s) != KILN_OK) {
                fprintf(stderr, CMD ": %s\n", kiln_last_error());
                goto done;
            }
            /* warm-up: compiles the kernels (one and `batch` rows), touches the weights */
            kiln_status st = KILN_OK;
            run_once(s, ctx, cfg->n_vocab, (bench_test){2, 1, 0}, o.batch, &B, &st);
            for (int bi = 0; bi < o.b.n && st == KILN_OK; bi++)
                for (int ui = 0; ui < o.ub.n && st == KILN_OK; ui++)
                    for (int fi = 0; fi < o.fa.n && st == KILN_OK; fi++)
                        for (int k = 0; k < n_tests && st == KILN_OK; k++) {
                            for (int r = 0; r < o.reps && st == KILN_OK; r++)
                                ts[r] = run_once(s, ctx, cfg->n_vocab, tests[k], o.batch, &B, &st);
                            if (st != KILN_OK) break;
                            bench_row row = {.model_type = model_type,
                                             .size_bytes = (double)kiln_model_weight_bytes(m),
                                             .n_params = n_params,
                                             .backend = kiln_backend_name(info.backend),
                                             .device = info.name,
                                             .threads = info.backend == KILN_BACKEND_CPU ? info.multiprocessors
                                                                                         : o.t.v[ti],
                                             .n_batch = o.b.v[bi],
                                             .n_ubatch = o.ub.v[ui],
                                             .fa = o.fa.v[fi],
                                             .n_seqs = o.batch,
                                             .kv = (kiln_dtype)o.ctk.v[ki],
                                             .test = tests[k]};
                            print_row(o.out, rows++ == 0, &cols, &row, o.model, ts, o.reps);
                        }
            if (st != KILN_OK) {
                if (o.out == OUT_JSON && rows) printf("\n]\n");
                fprintf(stderr, CMD ": %s\n", kiln_last_error());
                goto done;
            }
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (o.out == OUT_JSON) printf(rows ? "\n]\n" : "[]\n");
    if (o.out == OUT_MD) printf("\npeak host memory %.0f MiB\n", (double)ru.ru_maxrss / 1024.0);
    rc = 0;
done:
    kiln_busy_stop(&load);
    free(ts);
    free(tests);
    free(B.ids);
    free(B.seqs);
    free(B.toks);
    free(B.logits);
    kiln_session_free(s);
    kiln_model_free(m);
    kiln_context_destroy(ctx);
    free_opts(&o);
    return rc;
}
