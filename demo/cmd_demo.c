/* demo/cmd_demo.c — `kiln demo`: the built-in end-to-end demo. On every
 * available backend, every op family (matmul in every weight format) runs on
 * random inputs and is checked against the double-precision reference. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "demo/commands.h"
#include "kiln/autotune.h"
#include "kiln/kiln.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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
    printf("  %d/%d checks passed in %.2f s\n", checks - failures, checks, now_s() - t0);
    kiln_context_destroy(ctx);
    return failures != 0;
}

int kiln_cmd_demo(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: kiln demo\n\nOn every available backend (cpu, cuda:0, vulkan:0), runs every op family\n"
               "(dequant-matmul in every weight format, flash attention, paged attention,\n"
               "fused norm) on random inputs and checks it against the double-precision reference.\n");
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
