/* tests/test_vulkan_compile.c — every Vulkan instance of the manifest emits
 * GLSL that compiles to SPIR-V (no device needed: the compile step of
 * kernels/vulkan/glsl_compile.h alone), and a broken source fails with
 * KILN_ERR_COMPILE and the compiler's log naming the problem. Skipped in a
 * build without the Vulkan backend. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/kernel.h"

/* The backend's compile step; weak so this file links in a build without it. */
kiln_status kiln_glsl_compile(const char *source, const char *name, uint32_t **spirv, size_t *words)
    __attribute__((weak));
/* Referencing the interop entry point pulls the Vulkan backend out of libkiln.a. */
static kiln_status (*const keep_backend)(kiln_context *, kiln_vulkan_handles *) = kiln_context_vulkan_handles;

static void skip_without_compiler(void)
{
    (void)keep_backend;
    if (!kiln_glsl_compile) cr_skip_test("this build has no Vulkan backend");
}

Test(vulkan_compile, every_manifest_instance_compiles, .timeout = 300)
{
    skip_without_compiler();
    int compiled = 0;
    for (size_t i = 0; i < kiln_manifest_count(); i++) {
        const kiln_spec *s = kiln_manifest_get(i);
        if (s->backend != KILN_BACKEND_VULKAN) continue;
        char text[KILN_SPEC_TEXT_MAX];
        kiln_spec_to_text(s, text, sizeof text);
        kiln_source src;
        kiln_status st = kiln_gen_emit(s, &src);
        cr_assert_eq(st, KILN_OK, "emit '%s': %s", text, kiln_last_error());
        cr_expect_str_eq(src.lang, "glsl");
        cr_expect(!strncmp(src.text, "#version 450", 12), "'%s' does not start with #version", text);
        if (s->op != KILN_OP_ROPE) /* rope needs none: its items are independent until one barrier */
            cr_expect_gt(src.shared_bytes, 0u, "'%s' has no shared memory size", text);
        cr_expect_leq(src.shared_bytes, 32768u, "'%s' needs %u bytes of shared memory, more than lavapipe's 32 KB", text,
                      src.shared_bytes);
        uint32_t *spv = NULL;
        size_t words = 0;
        st = kiln_glsl_compile(src.text, src.entry, &spv, &words);
        cr_expect_eq(st, KILN_OK, "'%s' does not compile: %s", text, kiln_last_error());
        if (st == KILN_OK) {
            cr_expect_gt(words, 5u);
            cr_expect_eq(spv[0], 0x07230203u, "'%s': not SPIR-V", text);
            compiled++;
        }
        free(spv);
        kiln_source_free(&src);
    }
    cr_expect_geq(compiled, 40, "only %d vulkan manifest instances compiled", compiled);
}

/* The NV cooperative-matrix mat-mat (templates/matmul_coopmat.comp) cannot
 * run on lavapipe, so here it is checked as far as it can be: each fast format
 * compiles to SPIR-V that declares the CooperativeMatrixNV capability (the
 * kernel really took that path, not the SIMT fallback, whose text the
 * generator inlines too, behind #if), and needs no more
 * shared memory than the H100's 48 KB. */
Test(vulkan_compile, coopmat_nv_matmul_compiles_with_the_capability, .timeout = 120)
{
    skip_without_compiler();
    const char *fmts[] = {"f16", "q4_0", "q8_0", "q4_k", "q6_k"};
    for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
        char text[256];
        snprintf(text, sizeof text,
                 "matmul backend=vulkan fmt=%s act=f16 out=bf16 epi=bias+residual tm=64 tn=64 tk=256 threads=128 "
                 "stages=2 vec=16 split=1",
                 fmts[f]);
        kiln_spec s;
        cr_assert_eq(kiln_spec_parse(text, &s), KILN_OK, "%s: %s", text, kiln_last_error());
        kiln_source src;
        cr_assert_eq(kiln_gen_emit(&s, &src), KILN_OK, "emit '%s': %s", text, kiln_last_error());
        cr_expect_leq(src.shared_bytes, 49152u, "'%s' needs %u bytes of shared memory", text, src.shared_bytes);
        uint32_t *spv = NULL;
        size_t words = 0;
        kiln_status st = kiln_glsl_compile(src.text, src.entry, &spv, &words);
        cr_expect_eq(st, KILN_OK, "'%s' does not compile: %s", text, kiln_last_error());
        int has_cap = 0;
        /* OpCapability (opcode 17, 2 words) CooperativeMatrixNV (5357) */
        for (size_t i = 5; i + 1 < words; i++)
            if (spv[i] == ((2u << 16) | 17u) && spv[i + 1] == 5357u) has_cap = 1;
        cr_expect(st != KILN_OK || has_cap, "'%s': SPIR-V without the CooperativeMatrixNV capability", text);
        free(spv);
        kiln_source_free(&src);
    }
}

Test(vulkan_compile, broken_source_reports_the_log)
{
    skip_without_compiler();
    const char *bad = "#version 450\nlayout(local_size_x = 1) in;\nvoid main() { float x = undefined_thing; }\n";
    uint32_t *spv = (uint32_t *)0x1;
    size_t words = 99;
    kiln_status st = kiln_glsl_compile(bad, "broken_kernel", &spv, &words);
    cr_assert_eq(st, KILN_ERR_COMPILE);
    cr_expect_null(spv);
    cr_expect_eq(words, 0u);
    cr_expect(strstr(kiln_last_error(), "broken_kernel"), "the message names the kernel: %s", kiln_last_error());
    cr_expect(strstr(kiln_last_error(), "undefined_thing"), "the message carries the log: %s", kiln_last_error());
}
