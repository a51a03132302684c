/* demo/cmd_devices.c — `kiln devices`: every backend, available or not, and
 * the capabilities of each device; with KILN_CUDA_EMULATE=1 also the CUDA
 * emulator (cuda-emu:0, a test tool: never chosen unless named). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo/commands.h"
#include "kiln/kiln.h"

static void print_device(const kiln_device_info *d)
{
    printf("  %-9s %s\n", d->id, d->name);
    if (d->vendor[0] || d->driver[0]) printf("            vendor %s, driver %s\n", d->vendor, d->driver);
    printf("            memory %.1f GiB, %d %s, shared memory %u KiB, subgroup %d",
           (double)d->memory_bytes / (1024.0 * 1024 * 1024), d->multiprocessors,
           d->backend == KILN_BACKEND_CPU ? "threads" : "compute units", d->shared_mem_bytes / 1024,
           d->subgroup_size);
    if (d->compute_major) printf(", compute capability %d.%d", d->compute_major, d->compute_minor);
    printf("\n");
    if (d->features[0]) printf("            features: %s\n", d->features);
}

int kiln_cmd_devices(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: kiln devices\n\nLists every backend kiln was built with, whether its driver or\n"
               "library could be loaded (and why not), and each device's capabilities.\n\n"
               "With KILN_CUDA_EMULATE=1 it also lists cuda-emu:0, the CUDA emulator: kiln's\n"
               "CUDA kernels run on the CPU for tests (slow; use it by naming it, e.g.\n"
               "--backend cuda-emu). See docs/CUDA.md.\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "kiln devices: unexpected argument '%s' (see --help)\n", argv[1]);
        return 2;
    }
    for (int b = 0; b < KILN_BACKEND_COUNT; b++) {
        if (!kiln_backend_available((kiln_backend)b)) {
            printf("%s: unavailable (%s)\n", kiln_backend_name((kiln_backend)b), kiln_last_error());
            continue;
        }
        int n = 0;
        if (kiln_device_count((kiln_backend)b, &n) != KILN_OK) {
            printf("%s: error (%s)\n", kiln_backend_name((kiln_backend)b), kiln_last_error());
            continue;
        }
        printf("%s: %d device%s\n", kiln_backend_name((kiln_backend)b), n, n == 1 ? "" : "s");
        for (int i = 0; i < n; i++) {
            kiln_device_info d;
            if (kiln_device_get_info((kiln_backend)b, i, &d) == KILN_OK) print_device(&d);
            else printf("  %s:%d: %s\n", kiln_backend_name((kiln_backend)b), i, kiln_last_error());
        }
    }
    const char *emu = getenv("KILN_CUDA_EMULATE");
    if (emu && !strcmp(emu, "1")) {
        kiln_context *ctx = NULL;
        kiln_device_info d;
        if (kiln_context_create("cuda-emu", NULL, &ctx) == KILN_OK && kiln_context_get_device(ctx, &d) == KILN_OK) {
            printf("cuda-emu (KILN_CUDA_EMULATE=1; a test tool, never chosen by default): 1 device\n");
            print_device(&d);
        } else {
            printf("cuda-emu: unavailable (%s)\n", kiln_last_error());
        }
        kiln_context_destroy(ctx);
    }
    return 0;
}
