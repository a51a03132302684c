/* demo/cmd_run.c — `kiln run`: generate tokens with a model on a backend,
 * streaming them as they come. Logs go to stderr; with --ids, stdout carries
 * only the generated ids. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo/commands.h"
#include "kiln/runtime.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kiln run -m MODEL [-p TEXT | --prompt-ids 1,2,3] [-n N] [options]\n\n"
            "Generates N tokens after the prompt and streams them to stdout.\n\n"
            "  -m, --model MODEL     a GGUF file, a llama2.c checkpoint (.bin), or synthetic:PRESET-TYPE\n"
            "                        (presets tiny, 1b, 7b, 8b; e.g. synthetic:7b-q4_0)\n"
            "  -p, --prompt TEXT     prompt text (needs a model with a vocabulary, i.e. GGUF)\n"
            "      --prompt-ids IDS  prompt as comma-separated token ids (any model)\n"
            "                        without a prompt, generation starts from BOS alone\n"
            "  -n, --n-predict N     tokens to generate (default 64)\n"
            "      --temp T          temperature, 0 = greedy (default 0.8)\n"
            "      --top-k K         keep the K most likely tokens (default 40, 0 = off)\n"
            "      --top-p P         nucleus sampling (default 0.95, 1 = off)\n"
            "      --min-p P         drop tokens below P x the best one's probability (default 0.05)\n"
            "      --repeat-penalty R  penalty on the last --repeat-last-n tokens (default 1 = off)\n"
            "      --repeat-last-n N (default 64)\n"
            "      --seed S          sampling seed (default: from the clock, printed)\n"
            "      --backend B       cpu, cuda or vulkan (default cpu); --device cuda:1 picks a device\n"
            "      --threads N       cpu worker threads (default: all cores)\n"
            "      --ctx C           KV cache size in tokens (default: the model's context length)\n"
            "      --kv-type T       KV cache type: f16 (default), f32 or q8_0\n"
            "      --no-bos          do not put BOS before a text prompt\n"
            "      --ignore-eos      keep generating after the end-of-sequence token\n"
            "      --ids             print the generated ids (space separated, one line) instead of text\n"
            "      --dump-logits F   write the logits of every forward pass to F, one line each\n"
            "  -h, --help            this help\n\n"
            "Models without a vocabulary (llama2.c checkpoints, synthetic models) take --prompt-ids\n"
            "and print ids. Generation stops at the end-of-sequence token (llama2.c checkpoints: at\n"
            "BOS, as llama2.c's run.c does), at N tokens, or when the context is full.\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* "1,2,3" -> ids; returns the count, or -1 with a message. */
static int parse_ids(const char *s, int32_t **out)
{
    size_t cap = 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    while (ids && *s) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < INT32_MIN || v > INT32_MAX) {
            fprintf(stderr, "kiln run: --prompt-ids: '%s' is not a list of integers\n", s);
            free(ids);
            *out = NULL;
            return -1;
        }
        if (n == cap) {
            int32_t *b = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!b) break;
            ids = b;
        }
        ids[n++] = (int32_t)v;
        s = end;
        while (*s == ',' || *s == ' ') s++;
    }
    *out = ids;
    return ids ? (int)n : -1;
}

static int parse_kv_type(const char *s, kiln_dtype *out)
{
    if (!strcmp(s, "f16")) *out = KILN_F16;
    else if (!strcmp(s, "f32")) *out = KILN_F32;
    else if (!strcmp(s, "q8_0")) *out = KILN_Q8_0;
    else return -1;
    return 0;
}

static void dump_logits(FILE *f, const float *logits, int n)
{
    if (!f) return;
    for (int i = 0; i < n; i++) fprintf(f, i ? " %.9g" : "%.9g", logits[i]);
    fputc('\n', f);
}

typedef struct run_opts {
    const char *model, *prompt, *prompt_ids, *device, *dump;
    int n_predict, threads, ctx, no_bos, ignore_eos, ids_only, seed_given;
    kiln_dtype kv_type;
    kiln_sampler_params sp;
} run_opts;

static int is_opt(const char *a, const char *name, const char *alias)
{
    return !strcmp(a, name) || (alias && !strcmp(a, alias));
}

/* Returns 0 ok, 2 usage error (printed). */
static int parse_args(int argc, char **argv, run_opts *o)
{
    static char device[64];
    o->n_predict = 64;
    o->kv_type = KILN_F16;
    o->sp = kiln_sampler_params_default();
    o->device = "cpu";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(s1, s2) (is_opt(a, s1, s2) && v && ++i)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (OPT("-m", "--model")) o->model = v;
        else if (OPT("-p", "--prompt")) o->prompt = v;
        else if (OPT("--prompt-ids", NULL)) o->prompt_ids = v;
        else if (OPT("-n", "--n-predict")) o->n_predict = atoi(v);
        else if (OPT("--temp", NULL)) o->sp.temperature = strtof(v, NULL);
        else if (OPT("--top-k", NULL)) o->sp.top_k = atoi(v);
        else if (OPT("--top-p", NULL)) o->sp.top_p = strtof(v, NULL);
        else if (OPT("--min-p", NULL)) o->sp.min_p = strtof(v, NULL);
        else if (OPT("--repeat-penalty", NULL)) o->sp.repeat_penalty = strtof(v, NULL);
        else if (OPT("--repeat-last-n", NULL)) o->sp.repeat_last_n = atoi(v);
        else if (OPT("--seed", NULL)) o->sp.seed = strtoull(v, NULL, 10), o->seed_given = 1;
        else if (OPT("--backend", NULL)) snprintf(device, sizeof device, "%s", v), o->device = device;
        else if (OPT("--device", NULL)) snprintf(device, sizeof device, "%s", v), o->device = device;
        else if (OPT("--threads", "-t")) o->threads = atoi(v);
        else if (OPT("--ctx", "-c")) o->ctx = atoi(v);
        else if (OPT("--dump-logits", NULL)) o->dump = v;
        else if (OPT("--kv-type", NULL)) {
            if (parse_kv_type(v, &o->kv_type)) {
                fprintf(stderr, "kiln run: --kv-type must be f16, f32 or q8_0, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--no-bos")) o->no_bos = 1;
        else if (!strcmp(a, "--ignore-eos")) o->ignore_eos = 1;
        else if (!strcmp(a, "--ids")) o->ids_only = 1;
        else {
            fprintf(stderr, "kiln run: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
#undef OPT
    }
    if (!o->model) {
        fprintf(stderr, "kiln run: -m MODEL is required\n\n");
        usage(stderr);
        return 2;
    }
    if (o->prompt && o->prompt_ids) {
        fprintf(stderr, "kiln run: give -p or --prompt-ids, not both\n");
        return 2;
    }
    if (o->n_predict < 0 || o->ctx < 0) {
        fprintf(stderr, "kiln run: -n and --ctx must not be negative\n");
        return 2;
    }
    return 0;
}

/* The prompt as ids; returns the count or -1 (message printed). */
static int prompt_ids(const run_opts *o, const kiln_model *m, int32_t **ids)
{
    const kiln_tokenizer *tok = kiln_model_tokenizer(m);
    int32_t n_vocab = kiln_model_get_config(m)->n_vocab;
    int n;
    if (o->prompt_ids) {
        n = parse_ids(o->prompt_ids, ids);
        if (n < 0) return -1;
    } else if (o->prompt) {
        if (!tok) {
            fprintf(stderr, "kiln run: %s has no vocabulary, so a text prompt cannot be tokenized; use --prompt-ids\n",
                    o->model);
            return -1;
        }
        size_t cnt = 0;
        if (kiln_tokenize(tok, o->prompt, strlen(o->prompt), !o->no_bos && kiln_tokenizer_adds_bos(tok), 1, ids, &cnt)) {
            fprintf(stderr, "kiln run: %s\n", kiln_last_error());
            return -1;
        }
        n = (int)cnt;
    } else {
        *ids = malloc(sizeof **ids);
        if (!*ids) return -1;
        (*ids)[0] = tok && kiln_tokenizer_bos(tok) >= 0 ? kiln_tokenizer_bos(tok) : 1;
        n = 1;
    }
    if (n == 0) {
        fprintf(stderr, "kiln run: the prompt is empty (no tokens); give a prompt or drop --no-bos\n");
        free(*ids);
        *ids = NULL;
        return -1;
    }
    for (int i = 0; i < n; i++)
        if ((*ids)[i] < 0 || (*ids)[i] >= n_vocab) {
            fprintf(stderr, "kiln run: prompt token %d (id %d) is outside the vocabulary 0..%d\n", i, (*ids)[i],
                    n_vocab - 1);
            free(*ids);
            *ids = NULL;
            return -1;
        }
    return n;
}

static void emit_token(const run_opts *o, const kiln_tokenizer *tok, int32_t id, int first)
{
    if (o->ids_only || !tok) {
        printf(first ? "%d" : " %d", id);
    } else {
        char piece[256];
        int k = kiln_token_to_text(tok, id, 0, piece, sizeof piece);
        if (k > (int)sizeof piece) k = (int)sizeof piece;
        if (k > 0) fwrite(piece, 1, (size_t)k, stdout);
    }
    fflush(stdout);
}

int kiln_cmd_run(int argc, char **argv)
{
    run_opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    if (!o.seed_given) o.sp.seed = (uint64_t)time(NULL);

    kiln_model *m = NULL;
    kiln_context *ctx = NULL;
    kiln_session *s = NULL;
    kiln_sampler *smp = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    FILE *dump = NULL;
    rc = 1;

    double t0 = now_s();
    fprintf(stderr, "kiln run: loading %s ...\n", o.model);
    if (kiln_model_load(o.model, &m)) {
        fprintf(stderr, "kiln run: %s\n", kiln_last_error());
        goto done;
    }
    const kiln_model_config *c = kiln_model_get_config(m);
    const kiln_tokenizer *tok = kiln_model_tokenizer(m);
    fprintf(stderr, "kiln run: %s, %d layers, dim %d, heads %d/%d, hidden %d, vocab %d, %.1f MiB of weights (%.2f s)\n",
            c->arch, c->n_layers, c->dim, c->n_heads, c->n_kv_heads, c->hidden_dim, c->n_vocab,
            (double)kiln_model_weight_bytes(m) / (1 << 20), now_s() - t0);

    int n_prompt = prompt_ids(&o, m, &ids);
    if (n_prompt < 0) goto done;
    int ctx_len = o.ctx ? o.ctx : c->ctx_len;
    if (n_prompt > ctx_len) {
        fprintf(stderr, "kiln run: the prompt has %d tokens but the context holds %d (raise --ctx)\n", n_prompt, ctx_len);
        goto done;
    }

    kiln_context_options copt = kiln_context_options_default();
    copt.threads = kiln_demo_cap_threads("run", o.threads);
    copt.warn = kiln_warn_stderr; /* e.g. a tuning-cache entry that was not used */
    t0 = now_s();
    if (kiln_context_create(o.device, &copt, &ctx)) {
        fprintf(stderr, "kiln run: device %s: %s\n", o.device, kiln_last_error());
        goto done;
    }
    kiln_device_info info;
    kiln_context_get_device(ctx, &info);
    fprintf(stderr, "kiln run: placing the model on %s (%s), KV cache %d tokens of %s ...\n", info.id, info.name,
            ctx_len, o.kv_type == KILN_F32 ? "f32" : o.kv_type == KILN_F16 ? "f16" : "q8_0");
    kiln_session_options so = kiln_session_options_default();
    so.ctx_len = ctx_len;
    so.kv_type = o.kv_type;
    if (kiln_session_create(m, ctx, &so, &s) || kiln_sampler_create(&o.sp, c->n_vocab, &smp)) {
        fprintf(stderr, "kiln run: %s\n", kiln_last_error());
        goto done;
    }
    fprintf(stderr, "kiln run: ready in %.2f s; %d prompt tokens, seed %llu, temperature %g\n", now_s() - t0, n_prompt,
            (unsigned long long)o.sp.seed, o.sp.temperature);
    if (o.dump && !(dump = fopen(o.dump, "w"))) {
        fprintf(stderr, "kiln run: cannot write %s\n", o.dump);
        goto done;
    }
    logits = malloc((size_t)c->n_vocab * sizeof *logits);
    int32_t *hist = realloc(ids, ((size_t)n_prompt + (size_t)o.n_predict + 1) * sizeof *ids);
    if (!logits || !hist) {
        fprintf(stderr, "kiln run: out of memory\n");
        goto done;
    }
    ids = hist;

    /* Stop token: EOS of the vocabulary; llama2.c checkpoints stop at BOS like run.c. */
    int32_t stop = -1;
    if (!o.ignore_eos) {
        if (tok) stop = kiln_tokenizer_eos(tok);
        else if (strncmp(o.model, "synthetic:", 10) != 0) stop = 1;
    }
    if (!o.ids_only && tok && o.prompt) fwrite(o.prompt, 1, strlen(o.prompt), stdout), fflush(stdout);

    double t_prefill = now_s();
    if (kiln_session_forward(s, ids, (size_t)n_prompt, logits)) {
        fprintf(stderr, "\nkiln run: %s\n", kiln_last_error());
        goto done;
    }
    dump_logits(dump, logits, c->n_vocab);
    t_prefill = now_s() - t_prefill;

    double t_decode = now_s();
    int n_gen = 0, n_decode = 0;
    const char *why = "reached -n";
    while (n_gen < o.n_predict) {
        int32_t next = kiln_sampler_sample(smp, logits, ids, (size_t)(n_prompt + n_gen));
        ids[n_prompt + n_gen] = next;
        emit_token(&o, tok, next, n_gen == 0);
        n_gen++;
        if (next == stop) {
            why = "end of sequence";
            break;
        }
        if (n_gen == o.n_predict) break;
        if (kiln_session_pos(s) >= kiln_session_capacity(s)) {
            why = "the context is full";
            break;
        }
        if (kiln_session_forward(s, &next, 1, logits)) {
            fprintf(stderr, "\nkiln run: %s\n", kiln_last_error());
            goto done;
        }
        n_decode++;
        dump_logits(dump, logits, c->n_vocab);
    }
    t_decode = now_s() - t_decode;
    printf("\n");
    fflush(stdout);
    fprintf(stderr, "kiln run: %d tokens (%s); prompt %d tokens in %.3f s (%.1f tok/s), %d decode steps in %.3f s (%.1f tok/s)\n",
            n_gen, why, n_prompt, t_prefill, n_prompt / (t_prefill > 0 ? t_prefill : 1e-9), n_decode, t_decode,
            n_decode / (t_decode > 0 ? t_decode : 1e-9));
    rc = 0;
done:
    if (dump) fclose(dump);
    free(logits);
    free(ids);
    kiln_sampler_free(smp);
    kiln_session_free(s);
    kiln_context_destroy(ctx);
    kiln_model_free(m);
    return rc;
}
