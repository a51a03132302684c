/* tests/test_vulkan.c — Vulkan backend specifics on whatever Vulkan device is
 * here (lavapipe in CI): device listing and selection, features recorded from
 * queries, kernels compiled from the templates, SPIR-V and pipeline caches
 * (reuse, corrupt entries rebuilt), recording into a caller's command buffer,
 * and no validation errors (KILN_VULKAN_VALIDATION=1 is set for every test
 * here; with the layer installed, any validation error fails the call that
 * caused it). The op math itself is checked by tests/test_op_*.c.
 * Every test skips when no Vulkan device is available. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln/kernel.h"
#include "kiln/kiln.h"
#include "kernels/vulkan/vk_timing.h"
#include "test_vulkan_util.h"

static void setup(void) { setenv("KILN_VULKAN_VALIDATION", "1", 1); }

TestSuite(vulkan, .init = setup, .timeout = 120);

Test(vulkan, devices_listed_with_queried_features)
{
    vk_skip_unless_available();
    int count = 0;
    cr_assert_eq(kiln_device_count(KILN_BACKEND_VULKAN, &count), KILN_OK, "%s", kiln_last_error());
    cr_assert_gt(count, 0);
    for (int i = 0; i < count; i++) {
        kiln_device_info info;
        cr_assert_eq(kiln_device_get_info(KILN_BACKEND_VULKAN, i, &info), KILN_OK, "%s", kiln_last_error());
        char id[32];
        snprintf(id, sizeof id, "vulkan:%d", i);
        cr_expect_str_eq(info.id, id);
        cr_expect_eq(info.backend, KILN_BACKEND_VULKAN);
        cr_expect(strlen(info.name) > 0);
        /* queried, never assumed: a subgroup is a power of two from 1 to 128 and
         * shared memory is at least Vulkan's guaranteed 16 KB */
        cr_expect(info.subgroup_size >= 1 && info.subgroup_size <= 128 &&
                      (info.subgroup_size & (info.subgroup_size - 1)) == 0,
                  "subgroup size %d", info.subgroup_size);
        cr_expect_geq(info.shared_mem_bytes, 16384u);
        cr_expect(strstr(info.features, "storage16") && strstr(info.features, "storage8") &&
                      strstr(info.features, "push_descriptor"),
                  "features '%s' lack what kiln needs", info.features);
        cr_expect_gt(info.memory_bytes, 0u);
        if (strstr(info.name, "llvmpipe")) {
            /* lavapipe, as /work/shared/GPU.md describes it */
            cr_expect_eq(info.subgroup_size, 8);
            cr_expect_eq(info.shared_mem_bytes, 32768u);
            cr_expect(!strstr(info.features, "coopmat_nv"));
            cr_expect(strstr(info.features, "unified_memory"));
        }
    }
    kiln_device_info bad;
    cr_expect_eq(kiln_device_get_info(KILN_BACKEND_VULKAN, count, &bad), KILN_ERR_UNAVAILABLE);
}

Test(vulkan, context_reports_its_device)
{
    vk_skip_unless_available();
    kiln_context *ctx = vk_open(NULL);
    kiln_device_info a, b;
    cr_assert_eq(kiln_context_get_device(ctx, &a), KILN_OK);
    cr_assert_eq(kiln_device_get_info(KILN_BACKEND_VULKAN, 0, &b), KILN_OK);
    cr_expect_str_eq(a.name, b.name);
    /* the context adds "validation" when the layer is on; the rest is the device's */
    cr_expect(!strncmp(a.features, b.features, strlen(b.features)), "context '%s' vs device '%s'", a.features, b.features);
    kiln_vulkan_handles h;
    cr_assert_eq(kiln_context_vulkan_handles(ctx, &h), KILN_OK, "%s", kiln_last_error());
    cr_expect(h.instance && h.physical_device && h.device && h.queue);
    cr_expect_eq(kiln_synchronize(ctx), KILN_OK, "%s", kiln_last_error());
    kiln_context_destroy(ctx);
}

Test(vulkan, device_selection_by_index_and_env)
{
    vk_skip_unless_available();
    int count = 0;
    kiln_device_count(KILN_BACKEND_VULKAN, &count);
    kiln_context *ctx = NULL;
    char name[32];
    snprintf(name, sizeof name, "vulkan:%d", count);
    cr_expect_eq(kiln_context_create(name, NULL, &ctx), KILN_ERR_UNAVAILABLE, "%s opened", name);
    cr_expect_null(ctx);

    setenv("KILN_VULKAN_DEVICE", "0", 1);
    ctx = vk_open(NULL);
    kiln_context_destroy(ctx);
    setenv("KILN_VULKAN_DEVICE", "99", 1);
    kiln_status st = kiln_context_create("vulkan", NULL, &ctx);
    cr_expect_neq(st, KILN_OK);
    cr_expect(strstr(kiln_last_error(), "KILN_VULKAN_DEVICE"), "error: %s", kiln_last_error());
    unsetenv("KILN_VULKAN_DEVICE");
}

Test(vulkan, buffer_round_trip_awkward_sizes)
{
    vk_skip_unless_available();
    kiln_context *ctx = vk_open(NULL);
    const size_t sizes[] = {1, 3, 17, 4096 + 5, (size_t)3 << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        unsigned char *src = malloc(n), *dst = malloc(n);
        for (size_t i = 0; i < n; i++) src[i] = (unsigned char)(rand() & 0xff);
        memset(dst, 0xab, n);
        kiln_buffer *b = NULL;
        cr_assert_eq(kiln_buffer_alloc(ctx, n, &b), KILN_OK, "%s", kiln_last_error());
        cr_expect_null(kiln_buffer_host_ptr(b));
        cr_assert_eq(kiln_buffer_upload(b, 0, src, n), KILN_OK, "%s", kiln_last_error());
        cr_assert_eq(kiln_buffer_download(b, 0, dst, n), KILN_OK, "%s", kiln_last_error());
        cr_expect_eq(memcmp(src, dst, n), 0, "round trip of %zu bytes differs", n);
        if (n > 2) { /* partial transfers at odd offsets */
            unsigned char mid = (unsigned char)~src[1];
            cr_assert_eq(kiln_buffer_upload(b, 1, &mid, 1), KILN_OK);
            cr_assert_eq(kiln_buffer_download(b, 0, dst, 3), KILN_OK);
            cr_expect(dst[0] == src[0] && dst[1] == mid && dst[2] == src[2]);
        }
        kiln_buffer_free(b);
        free(src);
        free(dst);
    }
    kiln_context_destroy(ctx);
}

Test(vulkan, submissions_are_timed_on_the_device)
{
    vk_skip_unless_available();
    kiln_context *ctx = vk_open(NULL);
    kiln_device_info info;
    kiln_context_get_device(ctx, &info);
    double ns = -1;
    if (!strstr(info.features, "timestamps")) {
        cr_expect_eq(kiln_vk_last_submit_ns(ctx, &ns), KILN_ERR_UNSUPPORTED);
        kiln_context_destroy(ctx);
        cr_skip_test("no timestamps on %s", info.name);
    }
    vk_norm_case c;
    vk_norm_make(ctx, &c, 64, 1000, 3);
    cr_assert_eq(kiln_norm(ctx, &c.p), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_synchronize(ctx), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_vk_last_submit_ns(ctx, &ns), KILN_OK, "%s", kiln_last_error());
    cr_expect(ns > 0 && ns < 10e9, "device time of one small norm: %g ns", ns);
    cr_expect(vk_norm_matches(&c));
    vk_norm_free(&c);
    kiln_context_destroy(ctx);
}
