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
