/* demo/cmd_run.c — `kiln run`: generate tokens with a model on a backend,
 * streaming them as they come. Logs go to stderr; with --ids, stdout carries
 * only the generated ids. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo/args.h"
#include "demo/commands.h"
#include "demo/files.h"
#include "demo/model_flags.h"
#include "kiln/autotune.h"
#include "kiln/runtime.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kiln run -m MODEL [-p TEXT | -f FILE | --prompt-ids 1,2,3] [-n N] [options]\n\n"
            "Generates N tokens after the prompt and streams them to stdout. The flags are\n"
            "llama-cli's where llama-cli has the same thing.\n\n"
            "  -m, --model MODEL       a GGUF file, a llama2.c checkpoint (.bin), or synthetic:PRESET-TYPE\n"
            "                          (presets tiny, 1b, 7b, 8b; e.g. synthetic:7b-q4_0)\n"
            "  -p, --prompt TEXT       prompt text (needs a model with a vocabulary, i.e. GGUF)\n"
            "  -f, --file FILE         read the prompt text from FILE\n"
            "  -e, --escape            turn \\n \\r \\t \\' \\\" \\\\ and \\xHH in the prompt into the characters\n"
            "      --prompt-ids IDS    prompt as comma-separated token ids (any model)\n"
            "                          without a prompt, generation starts from BOS alone\n"
            "      --no-display-prompt do not echo the prompt text before the generated text\n"
            "  -n, --n-predict N       tokens to generate (default 64; -1 = until the context is full)\n"
            "      --temp T            temperature, 0 = greedy (default 0.8)\n"
            "      --top-k K           keep the K most likely tokens (default 40, 0 = off)\n"
            "      --top-p P           nucleus sampling (default 0.95, 1 = off)\n"
            "      --min-p P           drop tokens below P x the best one's probability (default 0.05, 0 = off)\n"
            "      --repeat-penalty R  divide the logits of tokens seen in the last --repeat-last-n\n"
            "                          tokens by R (default 1 = off), as llama.cpp\n"
            "      --repeat-last-n N   tokens the penalty looks back (default 64, 0 = off, -1 = the context)\n"
            "  -s, --seed S            sampling seed (default: from the clock, printed)\n"
            "      --backend B         cpu, cuda or vulkan (default cpu); --device cuda:1 picks a device\n"
            "  -t, --threads N         cpu worker threads (default 0: all cores)\n"
            "  -c, --ctx-size N        KV cache size in tokens (default 0: the model's context length);\n"
            "                          also --ctx\n"
            "      --context-shift     when the context is full, keep the first --keep tokens, drop half\n"
            "                          of the rest and go on (default: stop with a message)\n"
            "      --keep N            tokens of the prompt kept by a context shift (default 0, -1 = all),\n"
            "                          BOS not counted\n"
            "      --kv-type T         KV cache type: f16 (default), f32 or q8_0\n"
            "      --no-bos            do not put BOS before a text prompt\n"
            "      --ignore-eos        keep generating after the end-of-sequence token\n"
            "      --ids               print the generated ids (space separated, one line) instead of text\n"
            "  -cnv, --conversation    talk instead: runs kiln chat with these flags (-p/-sys become its\n"
            "                          --system message; see kiln chat --help)\n"
            "      --dump-logits F     write the logits of every forward pass to F, one line each\n"
            "      --draft MODEL       speculative decoding with MODEL as the draft (same vocabulary as -m):\n"
            "                          it proposes up to --draft-max tokens, the model checks them in one pass\n"
            "      --draft-max N       proposals per pass (default 8)\n"
            "      --draft-device D    the draft model's device (default: --device's)\n"
            "      --lookup N          speculative decoding by prompt lookup: the longest suffix of up to N\n"
            "                          tokens seen before in the prompt or output proposes what followed it\n"
            "                          (no second model); greedy output is the same as without, sampled\n"
            "                          output has the same distribution\n"
            "  -h, --help              this help\n");
    model_flags_usage_tokenizer_pre(f);
    fprintf(f,
            "\nModels without a vocabulary (llama2.c checkpoints, synthetic models) take --prompt-ids\n"
            "and print ids. Generation stops at the end-of-sequence token (llama2.c checkpoints: at\n"
            "BOS, as llama2.c's run.c does), at N tokens, or when the context is full (unless\n"
            "--context-shift: then the kept tokens and the newer half are prefilled again, at their\n"
            "new positions). Exit codes: 0 ok (also when the context filled), 1 error, 2 usage.\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* "1,2,3" -> ids (spaces after commas allowed); returns the count, or -1 with a message. */
static int parse_ids(const char *s, int32_t **out)
{
    *out = NULL;
    char *copy = strdup(s);
    int32_t *ids = malloc((strlen(s) / 2 + 1) * sizeof *ids); /* at most one id per two characters */
    int n = 0, ok = copy && ids;
    for (char *item = copy, *next; ok && item; item = next) {
        next = strchr(item, ',');
        if (next) *next++ = 0;
        while (*item == ' ') item++;
        int v;
        ok = !kiln_arg_i32("kiln run", "--prompt-ids", item, 0, INT32_MAX, &v);
        if (ok) ids[n++] = v;
    }
    if (!copy || !ids) fprintf(stderr, "kiln run: --prompt-ids: out of memory\n");
    free(copy);
    if (!ok) {
        free(ids);
        return -1;
    }
    *out = ids;
    return n;
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
    const char *model, *prompt_ids, *device, *dump, *prompt_file, *draft, *draft_device, *tokenizer_pre;
    int32_t *ids;        /* --prompt-ids, parsed (malloc'ed) */
    int n_ids;
    char *prompt;        /* -p or -f text (malloc'ed), escapes processed with -e */
    size_t prompt_len;
    int n_predict;       /* -1: until the context is full */
    int threads, ctx, no_bos, ignore_eos, ids_only, seed_given, escape, no_display_prompt;
    int context_shift, keep;
    int lookup, draft_max; /* speculative decoding: prompt lookup's n-gram, proposals per pass */
    kiln_dtype kv_type;
    kiln_sampler_params sp;
} run_opts;

static int is_opt(const char *a, const char *name, const char *alias)
{
    return !strcmp(a, name) || (alias && !strcmp(a, alias));
}

#define CMD "kiln run"
#define MAX_CTX (1 << 24) /* tokens; far beyond any model, and no int overflow in the KV cache's sizes */

/* Returns 0 ok, 2 usage error (printed), 1 an unreadable -f file. */
static int parse_args(int argc, char **argv, run_opts *o)
{
    const char *prompt_arg = NULL;
    o->n_predict = 64;
    o->kv_type = KILN_F16;
    o->sp = kiln_sampler_params_default();
    o->device = "cpu";
    o->draft_max = 8;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
#define OPT(s1, s2) (is_opt(a, s1, s2) && v && ++i)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (OPT("-m", "--model")) o->model = v;
        else if (OPT("-p", "--prompt")) prompt_arg = v;
        else if (OPT("-f", "--file")) o->prompt_file = v;
        else if (OPT("--prompt-ids", NULL)) o->prompt_ids = v;
        else if (OPT("-n", "--n-predict")) bad = kiln_arg_i32(CMD, a, v, -1, INT32_MAX, &o->n_predict);
        else if (OPT("--temp", NULL)) bad = kiln_arg_float(CMD, a, v, 0, 1e6, &o->sp.temperature);
        else if (OPT("--top-k", NULL)) bad = kiln_arg_i32(CMD, a, v, 0, INT32_MAX, &o->sp.top_k);
        else if (OPT("--top-p", NULL)) bad = kiln_arg_float(CMD, a, v, 0, 1, &o->sp.top_p);
        else if (OPT("--min-p", NULL)) bad = kiln_arg_float(CMD, a, v, 0, 1, &o->sp.min_p);
        else if (OPT("--repeat-penalty", NULL)) bad = kiln_arg_float(CMD, a, v, 0, 1e6, &o->sp.repeat_penalty);
        else if (OPT("--repeat-last-n", NULL)) bad = kiln_arg_i32(CMD, a, v, -1, INT32_MAX, &o->sp.repeat_last_n);
        else if (OPT("--seed", "-s")) bad = kiln_arg_u64(CMD, a, v, &o->sp.seed), o->seed_given = 1;
        else if (OPT("--backend", NULL) || OPT("--device", NULL)) o->device = v; /* argv outlives the command */
        else if (OPT("--threads", "-t")) bad = kiln_arg_i32(CMD, a, v, 0, 4096, &o->threads);
        else if (OPT("--ctx-size", "-c") || OPT("--ctx", NULL)) bad = kiln_arg_i32(CMD, a, v, 0, MAX_CTX, &o->ctx);
        else if (OPT("--keep", NULL)) bad = kiln_arg_i32(CMD, a, v, -1, MAX_CTX, &o->keep);
        else if (OPT("--dump-logits", NULL)) o->dump = v;
        else if (OPT("--draft", "-md")) o->draft = v;
        else if (OPT("--draft-device", NULL)) o->draft_device = v;
        else if (OPT("--draft-max", NULL)) bad = kiln_arg_i32(CMD, a, v, 1, 64, &o->draft_max);
        else if (OPT("--lookup", NULL)) bad = kiln_arg_i32(CMD, a, v, 1, 64, &o->lookup);
        else if (OPT("--tokenizer-pre", NULL)) o->tokenizer_pre = v;
        else if (OPT("--kv-type", NULL)) {
            if (parse_kv_type(v, &o->kv_type)) {
                fprintf(stderr, CMD ": --kv-type must be f16, f32 or q8_0, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--no-bos")) o->no_bos = 1;
        else if (!strcmp(a, "--ignore-eos")) o->ignore_eos = 1;
        else if (!strcmp(a, "--ids")) o->ids_only = 1;
        else if (!strcmp(a, "-e") || !strcmp(a, "--escape")) o->escape = 1;
        else if (!strcmp(a, "--no-display-prompt")) o->no_display_prompt = 1;
        else if (!strcmp(a, "--context-shift")) o->context_shift = 1;
        else {
            fprintf(stderr, CMD ": unknown option, or an option without its value: '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        if (bad) return 2;
#undef OPT
    }
    if (!o->model) {
        fprintf(stderr, CMD ": -m MODEL is required\n\n");
        usage(stderr);
        return 2;
    }
    if (!!prompt_arg + !!o->prompt_file + !!o->prompt_ids > 1) {
        fprintf(stderr, CMD ": give one of -p, -f and --prompt-ids\n");
        return 2;
    }
    if (o->draft && o->lookup) {
        fprintf(stderr, CMD ": give one of --draft and --lookup\n");
        return 2;
    }
    if ((o->draft || o->lookup) && o->dump) {
        fprintf(stderr, CMD ": --dump-logits writes one line per forward pass; not with --draft or --lookup\n");
        return 2;
    }
    if (o->sp.repeat_last_n < 0) o->sp.repeat_last_n = o->ctx ? o->ctx : MAX_CTX; /* -1: the whole context */
    if (prompt_arg) {
        o->prompt_len = strlen(prompt_arg);
        o->prompt = strdup(prompt_arg);
        if (!o->prompt) {
            fprintf(stderr, CMD ": out of memory\n");
            return 1;
        }
    } else if (o->prompt_file) {
        if (!(o->prompt = kiln_read_text_file(CMD, "-f", o->prompt_file, &o->prompt_len))) return 1;
    }
    if (o->prompt && o->escape) o->prompt_len = kiln_arg_unescape(o->prompt);
    if (o->prompt_ids && (o->n_ids = parse_ids(o->prompt_ids, &o->ids)) < 0) return 2;
    return 0;
}

/* The prompt as ids; returns the count or -1 (message printed). */
static int prompt_ids(run_opts *o, const kiln_model *m, int32_t **ids)
{
    const kiln_tokenizer *tok = kiln_model_tokenizer(m);
    int32_t n_vocab = kiln_model_get_config(m)->n_vocab;
    int n;
    if (o->prompt_ids) { /* parsed with the options; the caller owns them now */
        *ids = o->ids;
        n = o->n_ids;
        o->ids = NULL;
    } else if (o->prompt) {
        if (!tok) {
            fprintf(stderr, "kiln run: %s has no vocabulary, so a text prompt cannot be tokenized; use --prompt-ids\n",
                    o->model);
            return -1;
        }
        size_t cnt = 0;
        if (kiln_tokenize(tok, o->prompt, o->prompt_len, !o->no_bos && kiln_tokenizer_adds_bos(tok), 1, ids, &cnt)) {
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

/* The tokens in the KV cache, in order, and what generation does when they
 * fill it. win[capacity + 1]: room for the cache and the token about to go in. */
typedef struct run_window {
    int32_t *win;
    int n;       /* tokens in the cache */
    int n_keep;  /* kept by a context shift */
    int shifts;
} run_window;

/* llama.cpp's context shift: keep the first n_keep tokens, drop half of the
 * rest, and go on with `next` appended. kiln's cache has no way to move keys
 * to new positions (their RoPE is baked in), so the kept tokens are prefilled
 * again at their new positions: exact, and the cost of one prompt. Returns
 * 0 ok, 1 error (printed), 2 when there is nothing to drop. */
static int shift_context(kiln_session *s, run_window *w, int32_t next, float *logits)
{
    int n_discard = (w->n - w->n_keep) / 2;
    if (n_discard < 1) return 2;
    memmove(w->win + w->n_keep, w->win + w->n_keep + n_discard, (size_t)(w->n - w->n_keep - n_discard) * sizeof *w->win);
    w->n -= n_discard;
    w->win[w->n] = next;
    kiln_session_reset(s);
    if (kiln_session_forward(s, w->win, (size_t)w->n + 1, logits)) {
        fprintf(stderr, "\n" CMD ": context shift: %s\n", kiln_last_error());
        return 1;
    }
    w->n++;
    w->shifts++;
    return 0;
}

/* What a generation did, for the closing log line. */
typedef struct run_counts {
    int n_gen, n_decode, full;
    const char *why;
    int passes, proposed, accepted; /* speculative decoding */
} run_counts;

/* Emits token t; returns 1 when generation stops there (EOS, or -n reached). */
static int emit_and_check(const run_opts *o, const kiln_tokenizer *tok, int32_t t, int32_t stop, run_counts *g)
{
    emit_token(o, tok, t, g->n_gen == 0);
    g->n_gen++;
    if (t == stop) {
        g->why = "end of sequence";
        return 1;
    }
    return g->n_gen == o->n_predict;
}

/* Generation with speculative decoding: every pass the proposer guesses up
 * to --draft-max tokens after the window, the model checks them in one
 * forward pass (kiln_spec_step), and the accepted ones plus the model's own
 * next token are emitted. The window is the token array: the cache holds all
 * of it but the last (sampled, not yet fed). A full context shifts (or
 * stops) as without speculation. Returns 0 ok, 1 error (printed). */
static int generate_speculative(const run_opts *o, kiln_session *s, kiln_sampler *smp, kiln_proposer *prop,
                                const kiln_tokenizer *tok, run_window *w, float *logits, int32_t stop, run_counts *g)
{
    int32_t next = kiln_sampler_sample(smp, logits, w->win, (size_t)w->n);
    int32_t cap = kiln_session_capacity(s);
    while (!emit_and_check(o, tok, next, stop, g)) {
        if (w->n >= cap) { /* no room for `next` */
            int r = o->context_shift ? shift_context(s, w, next, logits) : 2;
            if (r == 1) return 1;
            if (r == 2) {
                g->full = 1;
                g->why = "the context is full";
                return 0;
            }
            g->n_decode++;
            next = kiln_sampler_sample(smp, logits, w->win, (size_t)w->n);
            continue;
        }
        w->win[w->n] = next;
        kiln_spec_seq q = {.seq_id = 0, .proposer = prop, .sampler = smp, .tokens = w->win,
                           .n_tokens = (size_t)w->n + 1, .cap_tokens = (size_t)cap + 1, .max_draft = o->draft_max};
        if (kiln_spec_step(s, 1, &q)) {
            fprintf(stderr, "\n" CMD ": %s\n", kiln_last_error());
            return 1;
        }
        g->passes++, g->n_decode++;
        g->proposed += q.n_proposed, g->accepted += q.n_accepted;
        for (int i = w->n + 1; i + 1 < (int)q.n_tokens; i++) /* the accepted proposals */
            if (emit_and_check(o, tok, w->win[i], stop, g)) return 0;
        w->n = (int)q.n_tokens - 1;
        next = w->win[w->n];
    }
    return 0;
}

/* -cnv / --conversation: llama-cli's conversation mode is kiln chat. The
 * prompt becomes the system message, as llama-cli takes it; llama-cli's
 * spellings of the shared flags map onto chat's, the rest pass through (and
 * chat refuses what it does not take, e.g. -f, with its usage). */
static int run_as_chat(int argc, char **argv)
{
    static const struct {
        const char *run, *chat;
    } renamed[] = {{"-p", "--system"},    {"--prompt", "--system"}, {"-sys", "--system"},
                   {"--system-prompt", "--system"}, {"-s", "--seed"}, {"--ctx-size", "--ctx"}};
    char **chat_argv = calloc((size_t)argc + 1, sizeof *chat_argv);
    if (!chat_argv) {
        fprintf(stderr, CMD ": out of memory\n");
        return 1;
    }
    int n = 0;
    chat_argv[n++] = "chat";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-cnv") || !strcmp(argv[i], "--conversation")) continue;
        char *a = argv[i];
        for (size_t r = 0; r < sizeof renamed / sizeof renamed[0]; r++)
            if (!strcmp(a, renamed[r].run)) a = (char *)renamed[r].chat;
        chat_argv[n++] = a;
    }
    int rc = kiln_cmd_chat(n, chat_argv);
    free(chat_argv);
    return rc;
}

int kiln_cmd_run(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-cnv") || !strcmp(argv[i], "--conversation")) return run_as_chat(argc, argv);
    run_opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        free(o.prompt);
        free(o.ids);
        return rc;
    }
    if (!o.seed_given) o.sp.seed = (uint64_t)time(NULL);

    kiln_model *m = NULL, *draft = NULL;
    kiln_context *ctx = NULL, *draft_ctx = NULL;
    kiln_session *s = NULL;
    kiln_sampler *smp = NULL;
    kiln_proposer *prop = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    FILE *dump = NULL;
    rc = 1;

    double t0 = now_s();
    fprintf(stderr, CMD ": loading %s ...\n", o.model);
    if (model_flags_load("run", o.model, o.tokenizer_pre, &m)) goto done;
    const kiln_model_config *c = kiln_model_get_config(m);
    const kiln_tokenizer *tok = kiln_model_tokenizer(m);
    fprintf(stderr, CMD ": %s, %d layers, dim %d, heads %d/%d, hidden %d, vocab %d, %.1f MiB of weights (%.2f s)\n",
            c->arch, c->n_layers, c->dim, c->n_heads, c->n_kv_heads, c->hidden_dim, c->n_vocab,
            (double)kiln_model_weight_bytes(m) / (1 << 20), now_s() - t0);

    int n_prompt = prompt_ids(&o, m, &ids);
    if (n_prompt < 0) goto done;
    int ctx_len = o.ctx ? o.ctx : c->ctx_len;
    if (n_prompt > ctx_len) {
        fprintf(stderr, CMD ": the prompt has %d tokens but the context holds %d (raise -c)\n", n_prompt, ctx_len);
        goto done;
    }

    kiln_context_options copt = kiln_context_options_default();
    copt.threads = kiln_demo_cap_threads("run", o.threads);
    copt.chooser = &kiln_tune_chooser;
    copt.warn = kiln_warn_stderr; /* e.g. a tuning-cache entry that was not used */
    t0 = now_s();
    if (kiln_context_create(o.device, &copt, &ctx)) {
        fprintf(stderr, CMD ": device %s: %s\n", o.device, kiln_last_error());
        goto done;
    }
    kiln_device_info info;
    kiln_context_get_device(ctx, &info);
    fprintf(stderr, CMD ": placing the model on %s (%s), KV cache %d tokens of %s ...\n", info.id, info.name, ctx_len,
            o.kv_type == KILN_F32 ? "f32" : o.kv_type == KILN_F16 ? "f16" : "q8_0");
    kiln_session_options so = kiln_session_options_default();
    so.ctx_len = ctx_len;
    so.kv_type = o.kv_type;
    if (o.draft || o.lookup) so.logits_rows = o.draft_max + 1; /* a verify pass's rows through the output layer at once */
    if (kiln_session_create(m, ctx, &so, &s) || kiln_sampler_create(&o.sp, c->n_vocab, &smp)) {
        fprintf(stderr, CMD ": %s\n", kiln_last_error());
        goto done;
    }
    if (o.lookup && kiln_proposer_lookup(o.lookup, &prop)) {
        fprintf(stderr, CMD ": %s\n", kiln_last_error());
        goto done;
    }
    if (o.draft) {
        fprintf(stderr, CMD ": loading the draft model %s ...\n", o.draft);
        if (kiln_model_load(o.draft, &draft)) {
            fprintf(stderr, CMD ": --draft: %s\n", kiln_last_error());
            goto done;
        }
        if (o.draft_device && strcmp(o.draft_device, o.device) &&
            kiln_context_create(o.draft_device, &copt, &draft_ctx)) {
            fprintf(stderr, CMD ": --draft-device %s: %s\n", o.draft_device, kiln_last_error());
            goto done;
        }
        kiln_sampler_params dsp = o.sp;
        dsp.seed = o.sp.seed ^ 0x9E3779B97F4A7C15ull; /* its own draws, not the target's */
        if (kiln_proposer_draft(draft, m, draft_ctx ? draft_ctx : ctx, &so, &dsp, &prop)) {
            fprintf(stderr, CMD ": --draft %s: %s\n", o.draft, kiln_last_error());
            goto done;
        }
    }
    fprintf(stderr, CMD ": ready in %.2f s; %d prompt tokens, seed %llu, temperature %g\n", now_s() - t0, n_prompt,
            (unsigned long long)o.sp.seed, o.sp.temperature);
    if (o.dump && !(dump = kiln_open_for_writing(CMD, "--dump-logits", o.dump))) goto done;
    logits = malloc((size_t)c->n_vocab * sizeof *logits);
    int32_t *win = realloc(ids, ((size_t)ctx_len + 1) * sizeof *ids);
    if (!logits || !win) {
        fprintf(stderr, CMD ": out of memory\n");
        goto done;
    }
    ids = win;
    int bos_added = n_prompt > 0 && tok && ids[0] == kiln_tokenizer_bos(tok) && !o.prompt_ids;
    run_window w = {.win = ids, .n = n_prompt};
    w.n_keep = o.keep < 0 || o.keep + bos_added > n_prompt ? n_prompt : o.keep + bos_added;

    /* Stop token: EOS of the vocabulary; llama2.c checkpoints stop at BOS like run.c. */
    int32_t stop = -1;
    if (!o.ignore_eos) {
        if (tok) stop = kiln_tokenizer_eos(tok);
        else if (strncmp(o.model, "synthetic:", 10) != 0) stop = 1;
    }
    if (!o.ids_only && tok && o.prompt && !o.no_display_prompt) fwrite(o.prompt, 1, o.prompt_len, stdout), fflush(stdout);

    double t_prefill = now_s();
    if (kiln_session_forward(s, ids, (size_t)n_prompt, logits)) {
        fprintf(stderr, "\n" CMD ": %s\n", kiln_last_error());
        goto done;
    }
    dump_logits(dump, logits, c->n_vocab);
    int32_t guess;
    if (prop) kiln_proposer_propose(prop, ids, (size_t)n_prompt, 1, &guess, NULL); /* a draft reads the prompt too */
    t_prefill = now_s() - t_prefill;

    double t_decode = now_s();
    run_counts g = {.why = "reached -n"};
    if (prop && o.n_predict != 0 && generate_speculative(&o, s, smp, prop, tok, &w, logits, stop, &g)) goto done;
    while (!prop && (o.n_predict < 0 || g.n_gen < o.n_predict)) {
        int32_t next = kiln_sampler_sample(smp, logits, w.win, (size_t)w.n);
        if (emit_and_check(&o, tok, next, stop, &g)) break;
        if (w.n >= kiln_session_capacity(s)) { /* no room for `next`: never write past the cache */
            int r = o.context_shift ? shift_context(s, &w, next, logits) : 2;
            if (r == 1) goto done;
            if (r == 2) {
                g.full = 1;
                g.why = "the context is full";
                break;
            }
        } else {
            if (kiln_session_forward(s, &next, 1, logits)) {
                fprintf(stderr, "\n" CMD ": %s\n", kiln_last_error());
                goto done;
            }
            w.win[w.n++] = next;
        }
        g.n_decode++;
        dump_logits(dump, logits, c->n_vocab);
    }
    t_decode = now_s() - t_decode;
    printf("\n");
    fflush(stdout);
    if (g.full)
        fprintf(stderr, CMD ": stopped: the context is full (%d tokens)%s\n", kiln_session_capacity(s),
                o.context_shift ? "; --keep leaves nothing to drop"
                                : "; raise -c, or pass --context-shift to drop old tokens and go on");
    /* tokens after the first (which the prompt's pass gives) per second of decoding */
    int n_after = g.n_gen > 0 ? g.n_gen - 1 : 0;
    fprintf(stderr, CMD ": %d tokens (%s); prompt %d tokens in %.3f s (%.1f tok/s), %d decode steps in %.3f s (%.1f tok/s)",
            g.n_gen, g.why, n_prompt, t_prefill, n_prompt / (t_prefill > 0 ? t_prefill : 1e-9), g.n_decode, t_decode,
            (prop ? n_after : g.n_decode) / (t_decode > 0 ? t_decode : 1e-9));
    if (prop)
        fprintf(stderr, "; speculative: %d of %d proposals accepted (%.1f%%), %.2f tokens per pass",
                g.accepted, g.proposed, g.proposed ? 100.0 * g.accepted / g.proposed : 0.0,
                g.passes ? (double)(g.accepted + g.passes) / g.passes : 0.0);
    if (w.shifts) fprintf(stderr, "; %d context shift%s", w.shifts, w.shifts == 1 ? "" : "s");
    fprintf(stderr, "\n");
    rc = 0;
done:
    if (dump) fclose(dump);
    free(logits);
    free(ids);
    free(o.ids);
    free(o.prompt);
    kiln_sampler_free(smp);
    kiln_proposer_free(prop); /* its session lives on a context: before the contexts */
    kiln_session_free(s);
    kiln_context_destroy(draft_ctx);
    kiln_context_destroy(ctx);
    kiln_model_free(draft);
    kiln_model_free(m);
    return rc;
}
