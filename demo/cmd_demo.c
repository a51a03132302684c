/* demo/cmd_demo.c — `kiln demo`: the built-in end-to-end demo. On every
 * available backend: every op family (matmul in every weight format) runs on
 * random inputs and is checked against the double-precision reference, then a
 * synthetic Llama-shaped Q4_0 model (built in memory, no download) generates
 * tokens and the prefill and decode speeds are printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo/commands.h"
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

int kiln_cmd_demo(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: kiln demo\n\nOn every available backend (cpu, cuda:0, vulkan:0), runs every op family\n"
               "(dequant-matmul in every weight format, flash attention, paged attention,\n"
               "fused norm, RoPE with the KV-cache append) on random inputs and checks it against the double-precision reference,\n"
               "then generates tokens with a synthetic Q4_0 Llama built in memory (7B shape on\n"
               "GPUs, 1B on the CPU) and prints prefill and decode tokens/s.\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "kiln demo: unexpected argument '%s' (see --help)\n", argv[1]);
        return 2;
    }
    int failed = 0, ran = 0;
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
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "kiln demo: no backend is available\n");
        return 1;
    }
    printf(failed ? "demo: FAILED\n" : "demo: all checks passed\n");
    return failed;
}
