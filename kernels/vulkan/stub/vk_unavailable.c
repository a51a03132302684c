/* kernels/vulkan/stub/vk_unavailable.c — the Vulkan backend of a build without
 * the Vulkan headers: present (kernels/core/backends.c refers to it) but always
 * unavailable, with a reason that says how to get the real one. */
#include "kernels/core/backend.h"
#include "kernels/vulkan/vk_timing.h"

static const char *const reason =
    "vulkan: this build of kiln has no Vulkan backend (vulkan/vulkan.h was not found at build time; "
    "install libvulkan-dev and rebuild)";

static int unavailable(void)
{
    kiln_fail(KILN_ERR_UNAVAILABLE, "%s", reason);
    return 0;
}

static kiln_status no_devices(int *count)
{
    *count = 0;
    return KILN_OK;
}

static kiln_status no_info(int index, kiln_device_info *info)
{
    (void)index;
    (void)info;
    return kiln_fail(KILN_ERR_UNAVAILABLE, "%s", reason);
}

static kiln_status no_context(kiln_context *ctx, int index)
{
    (void)ctx;
    (void)index;
    return kiln_fail(KILN_ERR_UNAVAILABLE, "%s", reason);
}

static void no_fini(kiln_context *ctx) { (void)ctx; }

kiln_status kiln_context_vulkan_handles(kiln_context *ctx, kiln_vulkan_handles *out)
{
    (void)ctx;
    (void)out;
    return kiln_fail(KILN_ERR_UNAVAILABLE, "%s", reason);
}

kiln_status kiln_vk_last_submit_ns(kiln_context *ctx, double *ns)
{
    (void)ctx;
    (void)ns;
    return kiln_fail(KILN_ERR_UNAVAILABLE, "%s", reason);
}

const kiln_backend_vtable kiln_vulkan_backend = {
    .kind = KILN_BACKEND_VULKAN,
    .available = unavailable,
    .device_count = no_devices,
    .device_info = no_info,
    .context_init = no_context,
    .context_fini = no_fini,
};
