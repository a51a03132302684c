/* demo/cmd_bench_model.c — `kiln bench -m MODEL`: prefill and decode speed of
 * a whole model, like llama-bench's pp and tg tests, plus peak memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

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
    fprintf(f, "usage: kiln bench -m MODEL [-p N] [-n N] [--backend cpu|cuda|vulkan] [--device ID]\n"
               "                  [--kv-type f16|f32|q8_0] [--reps R] [--threads T] [--json]\n\n"
               "Prefill (pp: N prompt tokens in one pass from an empty cache) and decode (tg: N\n"
               "tokens one at a time from an empty cache) speed of a model, median of R repetitions,\n"
               "like llama-bench; then the process's peak resident memory. MODEL: a GGUF file, a\n"
               "llama2.c checkpoint, or synthetic:PRESET-TYPE (e.g. synthetic:7b-q4_0).\n\n"
               "  -p N        prompt tokens (default 512; 0 skips pp)\n"
               "  -n N        generated tokens (default 128; 0 skips tg)\n"
               "  --reps R    repetitions (default 3)\n");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int kiln_cmd_bench_model(int argc, char **argv)
{
    const char *model = NULL, *device = "cpu";
    int p = 512, n = 128, reps = 3, json = 0, threads = 0;
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
        } else if (!strcmp(a, "--batch")) {
            fprintf(stderr, "kiln bench: --batch (several sequences at once) is not implemented yet\n");
            return 2;
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
    o.threads = threads;
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
    so.ctx_len = p > n ? p + 1 : n + 1;
    so.kv_type = kv;
    kiln_session *s;
    if (kiln_session_create(m, ctx, &so, &s) != KILN_OK) {
        fprintf(stderr, "kiln bench: %s\n", kiln_last_error());
        kiln_model_free(m);
        kiln_context_destroy(ctx);
        return 1;
    }
    int32_t *ids = malloc((size_t)(p > 0 ? p : 1) * sizeof *ids);
    float *logits = malloc((size_t)cfg->n_vocab * sizeof *logits);
    for (int i = 0; i < (p > 0 ? p : 1); i++) ids[i] = 1 + (int32_t)((i * 7919u) % (unsigned)(cfg->n_vocab - 1));
    double pp[64], tg[64];
    if (reps > 64) reps = 64;
    kiln_status st = KILN_OK;
    /* warm-up: compiles kernels and touches the weights once */
    st = kiln_session_forward(s, ids, p > 1 ? 2 : 1, logits);
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
                tok = 1 + (int32_t)((tok * 31u + 7u) % (unsigned)(cfg->n_vocab - 1));
            }
            if (st == KILN_OK) st = kiln_synchronize(ctx);
            tg[r] = n / (now_s() - t);
            kiln_session_reset(s);
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double peak_mib = (double)ru.ru_maxrss / 1024.0;
    int rc = 0;
    if (st != KILN_OK) {
        fprintf(stderr, "kiln bench: %s\n", kiln_last_error());
        rc = 1;
    } else {
        qsort(pp, (size_t)reps, sizeof pp[0], cmp_double);
        qsort(tg, (size_t)reps, sizeof tg[0], cmp_double);
        double weights_gib = (double)kiln_model_weight_bytes(m) / (1 << 30);
        if (json) {
            printf("{\"model\": \"%s\", \"backend\": \"%s\", \"device\": \"%s\", \"weights_gib\": %.3f, "
                   "\"kv_type\": \"%s\", \"pp\": %d, \"pp_tokens_per_s\": %.2f, \"tg\": %d, \"tg_tokens_per_s\": %.2f, "
                   "\"peak_host_mib\": %.1f}\n",
                   model, kiln_backend_name(info.backend), info.name, weights_gib, kiln_dtype_get(kv)->name, p,
                   p ? pp[reps / 2] : 0.0, n, n ? tg[reps / 2] : 0.0, peak_mib);
        } else {
            printf("model %s (%.2f GiB of weights) on %s (%s), KV %s, median of %d\n", model, weights_gib, info.id,
                   info.name, kiln_dtype_get(kv)->name, reps);
            if (p) printf("  pp%-5d %10.2f tokens/s\n", p, pp[reps / 2]);
            if (n) printf("  tg%-5d %10.2f tokens/s\n", n, tg[reps / 2]);
            printf("  peak host memory %.0f MiB\n", peak_mib);
        }
    }
    free(ids);
    free(logits);
    kiln_session_free(s);
    kiln_model_free(m);
    kiln_context_destroy(ctx);
    return rc;
}
