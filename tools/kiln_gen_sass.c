/* tools/kiln_gen_sass.c — kiln-gen --sass: what a cuda kernel compiles to.
 *
 *   --spec S --sass [--arch A]      per architecture (sm_80 and sm_90, or A):
 *                                   the launch, one figure line per function,
 *                                   then the SASS
 *   --list --backend cuda --sass    the figure lines of every cuda manifest
 *                                   instance: tests/data/cuda_static.txt
 *
 * Compiles exactly as the backend does (NVRTC, kiln's options; ptxas -v only
 * adds the report) through kernels/cuda/cuda_static.h, which kiln-gen links
 * on its own (kernels/cuda/cuda.cmake): the generator library stays free of
 * NVRTC. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/kiln_gen_sass.h"
#include "kernels/cuda/cuda_api.h"
#include "kernels/cuda/cuda_sass.h"
#include "kernels/cuda/cuda_static.h"
#include "kiln/kernel.h"

#ifndef KILN_VENV_DIR
#define KILN_VENV_DIR NULL
#endif

int kiln_gen_arch_ok(const char *arch)
{
    if (strncmp(arch, "sm_", 3) || !arch[3]) return 0;
    const char *p = arch + 3;
    while (*p >= '0' && *p <= '9') p++;
    return p - arch >= 5 && p - arch <= 6 && (*p == '\0' || (*p == 'a' && p[1] == '\0'));
}

/* The figure lines of every function of r (the table's format). */
static int print_lines(const char *arch, const kiln_cuda_static_report *r)
{
    for (size_t i = 0; i < r->usage.count; i++) {
        char line[KILN_CUDA_STATIC_LINE_MAX];
        if (kiln_cuda_static_line(arch, &r->usage.fn[i], r->sass != NULL, r->sass ? r->sass_classes[i] : 0, line,
                                  sizeof line) < 0) {
            fprintf(stderr, "kiln-gen: the figures of %s do not fit a line\n", r->usage.fn[i].name);
            return 1;
        }
        printf("%s\n", line);
    }
    return 0;
}

/* nvdisasm's path in buf, or NULL with the reason on stderr (the figures
 * still print; the command then fails). */
static const char *disassembler(char *buf, size_t cap)
{
    if (kiln_cuda_find_nvdisasm(KILN_VENV_DIR, buf, cap) == KILN_OK) return buf;
    fprintf(stderr, "kiln-gen: --sass: %s\n", kiln_last_error());
    return NULL;
}

static int need_nvrtc(void)
{
    if (kiln_nvrtc()) return 0;
    fprintf(stderr, "kiln-gen: --sass needs NVRTC: %s\n", kiln_last_error());
    return 1;
}

int kiln_gen_sass_spec(const kiln_spec *s, const char *arch_only)
{
    if (s->backend != KILN_BACKEND_CUDA) {
        fprintf(stderr, "kiln-gen: --sass is for backend=cuda specs\n");
        return 1;
    }
    if (need_nvrtc()) return 1;
    char tool[1024];
    const char *nvdisasm = disassembler(tool, sizeof tool);
    kiln_source src;
    if (kiln_gen_emit(s, &src)) {
        fprintf(stderr, "kiln-gen: %s\n", kiln_last_error());
        return 1;
    }
    const kiln_nvrtc_api *rtc = kiln_nvrtc();
    int rc = 0;
    for (int a = 0; a < KILN_CUDA_STATIC_ARCH_COUNT && !rc; a++) {
        const char *arch = arch_only ? arch_only : kiln_cuda_static_archs[a];
        kiln_cuda_static_report r;
        if (kiln_cuda_static_report_of(src.text, src.entry, arch, nvdisasm, &r)) {
            fprintf(stderr, "kiln-gen: %s\n", kiln_last_error());
            rc = 1;
            break;
        }
        printf("== %s for %s (NVRTC %d.%d): %u threads, %u bytes of dynamic shared memory at launch\n", src.entry,
               arch, rtc->version_major, rtc->version_minor, (unsigned)src.threads[0], src.shared_bytes);
        rc = print_lines(arch, &r);
        if (r.sass) fputs(r.sass, stdout);
        kiln_cuda_static_report_free(&r);
        if (arch_only) break;
    }
    kiln_source_free(&src);
    return rc || !nvdisasm;
}

int kiln_gen_sass_manifest(void)
{
    if (need_nvrtc()) return 1;
    char tool[1024];
    const char *nvdisasm = disassembler(tool, sizeof tool);
    const kiln_nvrtc_api *rtc = kiln_nvrtc();
    printf("# tests/data/cuda_static.txt: what every cuda manifest instance compiles to, per architecture\n"
           "# and function: registers, stack, spill bytes (stores + loads), static shared memory, and the\n"
           "# key SASS instructions (+ present, - absent; kernels/cuda/cuda_sass.h). Compared by\n"
           "# tests/test_cuda_static.c. Refresh (docs/CUDA.md, \"Static checks\"):\n"
           "#   build/bin/kiln-gen --list --backend cuda --sass > tests/data/cuda_static.txt\n"
           "nvrtc %d.%d\n",
           rtc->version_major, rtc->version_minor);
    int rc = 0;
    for (size_t i = 0, n = kiln_manifest_count(); i < n && !rc; i++) {
        const kiln_spec *s = kiln_manifest_get(i);
        if (s->backend != KILN_BACKEND_CUDA) continue;
        char text[KILN_SPEC_TEXT_MAX];
        kiln_spec_to_text(s, text, sizeof text);
        kiln_source src;
        if (kiln_gen_emit(s, &src)) {
            fprintf(stderr, "kiln-gen: %s\n", kiln_last_error());
            return 1;
        }
        printf("# %s\n", text);
        for (int a = 0; a < KILN_CUDA_STATIC_ARCH_COUNT && !rc; a++) {
            kiln_cuda_static_report r;
            if (kiln_cuda_static_report_of(src.text, src.entry, kiln_cuda_static_archs[a], nvdisasm, &r)) {
                fprintf(stderr, "kiln-gen: %s\n", kiln_last_error());
                rc = 1;
                break;
            }
            rc = print_lines(kiln_cuda_static_archs[a], &r);
            kiln_cuda_static_report_free(&r);
        }
        kiln_source_free(&src);
    }
    return rc || !nvdisasm;
}
