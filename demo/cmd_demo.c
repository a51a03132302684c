/* demo/cmd_demo.c — `kiln demo`: the built-in end-to-end demo. On every
 * available backend: every op family (matmul in every weight format) runs on
 * random inputs and is checked against the double-precision reference, then a
 * synthetic Llama-shaped Q4_0 model (built in memory, no download) generates
 * tokens and the prefill and decode speeds are printed. Where `make models`
 * has fetched SmolLM2-135M-Instruct, it answers one chat turn on each backend
 * (its chat template rendered, greedy), with its prefill and decode speeds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo/commands.h"
#include "runtime/chat_template.h"
#include "kiln/autotune.h"
#include "kiln/kiln.h"
#include "kiln/runtime.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Synthetic model per device: a 7B shape on GPUs, TinyLlama's shape on a CPU,
 * and a tiny one on software rasterizers (lavapipe runs shaders on the CPU). */
static const char *demo_model(const kiln_device_info *d)
{
    if (d->backend == KILN_BACKEND_CPU) return "synthetic:1b-q4_0";
    if (strstr(d->name, "llvmpipe") || strstr(d->name, "lavapipe")) return "synthetic:tiny-q4_0";
    return "synthetic:7b-q4_0";
}

static int generate(kiln_context *ctx, const kiln_device_info *d)
{
    const char *path = demo_model(d);
    double t0 = now_s();
    kiln_model *m;
    if (kiln_model_load(path, &m) != KILN_OK) {
        printf("  model %s: %s\n", path, kiln_last_error());
        return 1;
    }
    const kiln_model_config *cfg = kiln_model_get_config(m);
    kiln_session_options so = kiln_session_options_default();
    so.ctx_len = 256;
    kiln_session *s;
    if (kiln_session_create(m, ctx, &so, &s) != KILN_OK) {
        printf("  model %s: %s\n", path, kiln_last_error());
        kiln_model_free(m);
        return 1;
    }
    double t_load = now_s() - t0;
    enum { PROMPT = 32, GEN = 16 };
    int32_t ids[PROMPT + GEN];
    for (int i = 0; i < PROMPT; i++) ids[i] = 1 + (i * 7919) % (cfg->n_vocab - 1);
    float *logits = malloc((size_t)cfg->n_vocab * sizeof *logits);
    int rc = 0;
    double t1 = now_s();
    kiln_status st = kiln_session_forward(s, ids, PROMPT, logits);
    double t_prefill = now_s() - t1, t_decode = 0;
    for (int i = 0; st == KILN_OK && i < GEN; i++) {
        int32_t best = 0;
        for (int32_t v = 1; v < cfg->n_vocab; v++)
            if (logits[v] > logits[best]) best = v;
        ids[PROMPT + i] = best;
        double t2 = now_s();
        st = kiln_session_forward(s, &ids[PROMPT + i], 1, logits);
        t_decode += now_s() - t2;
    }
    if (st != KILN_OK) {
        printf("  generate %s: %s\n", path, kiln_last_error());
        rc = 1;
    } else {
        printf("  %s (%.2f GiB of weights, built in %.1f s): prefill %d tokens %.1f tok/s, decode %.1f tok/s\n",
               path, (double)kiln_model_weight_bytes(m) / (1 << 30), t_load, PROMPT, PROMPT / t_prefill,
               GEN / t_decode);
    }
    free(logits);
    kiln_session_free(s);
    kiln_model_free(m);
    return rc;
}

static int check_backend(const char *device)
{
    kiln_context *ctx;
    if (kiln_context_create(device, NULL, &ctx) != KILN_OK) {
        printf("%s: cannot create a context: %s\n", device, kiln_last_error());
        return 1;
    }
    kiln_device_info d;
    kiln_context_get_device(ctx, &d);
    printf("== %s: %s\n", d.id, d.name);
    int failures = 0, checks = 0;
    double t0 = now_s();
    char report[4096];
    for (int f = 0; f < KILN_DTYPE_COUNT; f++) {
        const kiln_dtype_info *info = kiln_dtype_get((kiln_dtype)f);
        if (!info || !info->is_weight_format) continue;
        checks++;
        failures += kiln_selfcheck(ctx, KILN_OP_MATMUL, (kiln_dtype)f, report, sizeof report) != KILN_OK;
        printf("  %s\n", report);
    }
    const struct { kiln_op op; kiln_dtype fmt; } rest[] = {
        {KILN_OP_FLASH_ATTN, KILN_F16}, {KILN_OP_FLASH_ATTN, KILN_F32}, {KILN_OP_PAGED_ATTN, KILN_F16},
        {KILN_OP_PAGED_ATTN, KILN_Q8_0}, {KILN_OP_NORM, KILN_F32},
    };
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
        checks++;
        failures += kiln_selfcheck(ctx, rest[i].op, rest[i].fmt, report, sizeof report) != KILN_OK;
        printf("  %s\n", report);
    }
    const kiln_dtype rope_caches[] = {KILN_F16, KILN_Q8_0};
    for (size_t i = 0; i < sizeof rope_caches / sizeof rope_caches[0]; i++) {
        checks++;
        failures += kiln_demo_check_rope(ctx, rope_caches[i], report, sizeof report);
        printf("  %s\n", report);
    }
    printf("  %d/%d checks passed in %.2f s\n", checks - failures, checks, now_s() - t0);
    failures += generate(ctx, &d);
    kiln_context_destroy(ctx);
    return failures != 0;
}

/* The folder `make models` fills (.ci/models.txt): KILN_MODELS_DIR, else
 * $XDG_CACHE_HOME/kiln/models, else ~/.cache/kiln/models. */
static void smollm2_path(char *out, size_t cap)
{
    const char *dir = getenv("KILN_MODELS_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    const char *file = "SmolLM2-135M-Instruct.Q4_1.gguf";
    if (dir && *dir) snprintf(out, cap, "%s/%s", dir, file);
    else if (xdg && *xdg) snprintf(out, cap, "%s/kiln/models/%s", xdg, file);
    else snprintf(out, cap, "%s/.cache/kiln/models/%s", home ? home : ".", file);
}

/* Whether device renders in software (lavapipe): the real model there takes
 * minutes per turn, so the demo leaves it to the synthetic model. */
static int software_device(const char *device)
{
    kiln_context *ctx;
    if (kiln_context_create(device, NULL, &ctx) != KILN_OK) return 0;
    kiln_device_info d;
    kiln_context_get_device(ctx, &d);
    int soft = strstr(d.name, "llvmpipe") || strstr(d.name, "lavapipe");
    kiln_context_destroy(ctx);
    return soft;
}

/* One chat turn with the real model on device: the question rendered with the
 * model's own template, then `kiln run` greedy, which prints the answer and
 * its prefill/decode speeds. */
static int chat_turn(const char *model_path, const char *device)
{
    kiln_model *m;
    if (kiln_model_load(model_path, &m) != KILN_OK) {
        printf("  %s: %s\n", model_path, kiln_last_error());
        return 1;
    }
    const kiln_chat_template *t;
    char *prompt = NULL;
    size_t len = 0;
    const kiln_chat_msg msgs[] = {{KILN_CHAT_USER, "What is the capital of France? Answer in one sentence."}};
    kiln_status st = kiln_chat_template_for_model(m, NULL, &t);
    if (st == KILN_OK) st = kiln_chat_render(t, msgs, 1, 1, &prompt, &len);
    kiln_model_free(m);
    if (st != KILN_OK) {
        printf("  %s: %s\n", model_path, kiln_last_error());
        return 1;
    }
    printf("  SmolLM2-135M-Instruct on %s, user: %s\n  assistant: ", device, msgs[0].content);
    fflush(stdout);
    char *argv[] = {"run", "-m", (char *)model_path, "-p", prompt, "--no-display-prompt", "--temp", "0",
                    "-n", "48", "--backend", (char *)device, "--no-bos", NULL};
    int rc = kiln_cmd_run((int)(sizeof argv / sizeof argv[0]) - 1, argv);
    printf("\n");
    free(prompt);
    return rc != 0;
}

int kiln_cmd_demo(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: kiln demo\n\nOn every available backend (cpu, cuda:0, vulkan:0), runs every op family\n"
               "(dequant-matmul in every weight format, flash attention, paged attention,\n"
               "fused norm, RoPE with the KV-cache append) on random inputs and checks it against the double-precision reference,\n"
               "then generates tokens with a synthetic Q4_0 Llama built in memory (7B shape on\n"
               "GPUs, 1B on the CPU) and prints prefill and decode tokens/s. Where `make models`\n"
               "has fetched SmolLM2-135M-Instruct (KILN_MODELS_DIR, else ~/.cache/kiln/models), it\n"
               "answers one chat turn on each backend (not on software renderers such as lavapipe),\n"
               "with its prefill and decode tokens/s.\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "kiln demo: unexpected argument '%s' (see --help)\n", argv[1]);
        return 2;
    }
    int failed = 0, ran = 0;
    char chat_model[4096];
    smollm2_path(chat_model, sizeof chat_model);
    FILE *probe = fopen(chat_model, "rb");
    if (probe) fclose(probe);
    for (int b = 0; b < KILN_BACKEND_COUNT; b++) {
        const char *name = kiln_backend_name((kiln_backend)b);
        if (!kiln_backend_available((kiln_backend)b)) {
            printf("== %s: unavailable (%s)\n", name, kiln_last_error());
            continue;
        }
        char dev[32];
        snprintf(dev, sizeof dev, "%s:0", name);
        if (b == KILN_BACKEND_CPU) snprintf(dev, sizeof dev, "cpu");
        failed |= check_backend(dev);
        if (probe && !software_device(dev)) failed |= chat_turn(chat_model, dev);
        else if (!ran) printf("  (no chat turn: %s is absent; `make models` fetches it)\n", chat_model);
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "kiln demo: no backend is available\n");
        return 1;
    }
    printf(failed ? "demo: FAILED\n" : "demo: all checks passed\n");
    return failed;
}
