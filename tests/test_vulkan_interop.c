/* tests/test_vulkan_interop.c — kiln inside someone else's Vulkan frame:
 *  - recording into the caller's command buffer: kiln records, never submits
 *    (the output stays untouched until the caller submits), and the result is
 *    right once the caller has submitted on kiln's queue;
 *  - wrapping a caller VkBuffer created on kiln's VkDevice (at an offset);
 *  - validation: an invalid call on kiln's device is reported through kiln
 *    (KILN_ERR_DEVICE naming the VUID), which is how every other test turns a
 *    validation error into a failure.
 * The test talks to Vulkan itself (through the loader, like kiln). */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/kernel.h"
#include "test_vulkan_util.h"

#if defined(__has_include)
#if __has_include(<vulkan/vulkan.h>)
#define KILN_TEST_HAVE_VULKAN_H 1
#endif
#endif

#ifdef KILN_TEST_HAVE_VULKAN_H
#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

static void setup(void) { setenv("KILN_VULKAN_VALIDATION", "1", 1); }
TestSuite(vulkan_interop, .init = setup, .timeout = 120);

/* The device functions this test uses, resolved on kiln's instance/device. */
typedef struct dev_fns {
    PFN_vkCreateCommandPool vkCreateCommandPool;
    PFN_vkDestroyCommandPool vkDestroyCommandPool;
    PFN_vkAllocateCommandBuffers vkAllocateCommandBuffers;
    PFN_vkBeginCommandBuffer vkBeginCommandBuffer;
    PFN_vkEndCommandBuffer vkEndCommandBuffer;
    PFN_vkQueueSubmit vkQueueSubmit;
    PFN_vkQueueWaitIdle vkQueueWaitIdle;
    PFN_vkCreateBuffer vkCreateBuffer;
    PFN_vkDestroyBuffer vkDestroyBuffer;
    PFN_vkGetBufferMemoryRequirements vkGetBufferMemoryRequirements;
    PFN_vkAllocateMemory vkAllocateMemory;
    PFN_vkFreeMemory vkFreeMemory;
    PFN_vkBindBufferMemory vkBindBufferMemory;
    PFN_vkGetPhysicalDeviceMemoryProperties vkGetPhysicalDeviceMemoryProperties;
} dev_fns;

static void load_fns(const kiln_vulkan_handles *h, dev_fns *f)
{
    void *lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(lib, "libvulkan.so.1: %s", dlerror());
    PFN_vkGetInstanceProcAddr gipa;
    void *sym = dlsym(lib, "vkGetInstanceProcAddr");
    memcpy(&gipa, &sym, sizeof sym);
    VkInstance inst = (VkInstance)(uintptr_t)h->instance;
    VkDevice dev = (VkDevice)(uintptr_t)h->device;
    PFN_vkGetDeviceProcAddr gdpa = (PFN_vkGetDeviceProcAddr)gipa(inst, "vkGetDeviceProcAddr");
    cr_assert_not_null(gdpa);
#define DEV(name)                                  \
    do {                                           \
        f->name = (PFN_##name)gdpa(dev, #name);    \
        cr_assert_not_null(f->name, #name);        \
    } while (0)
    DEV(vkCreateCommandPool);
    DEV(vkDestroyCommandPool);
    DEV(vkAllocateCommandBuffers);
    DEV(vkBeginCommandBuffer);
    DEV(vkEndCommandBuffer);
    DEV(vkQueueSubmit);
    DEV(vkQueueWaitIdle);
    DEV(vkCreateBuffer);
    DEV(vkDestroyBuffer);
    DEV(vkGetBufferMemoryRequirements);
    DEV(vkAllocateMemory);
    DEV(vkFreeMemory);
    DEV(vkBindBufferMemory);
#undef DEV
    f->vkGetPhysicalDeviceMemoryProperties =
        (PFN_vkGetPhysicalDeviceMemoryProperties)gipa(inst, "vkGetPhysicalDeviceMemoryProperties");
    cr_assert_not_null(f->vkGetPhysicalDeviceMemoryProperties);
}

Test(vulkan_interop, records_into_caller_command_buffer_without_submitting)
{
    vk_skip_unless_available();
    kiln_context *ctx = vk_open(NULL);
    kiln_vulkan_handles h;
    cr_assert_eq(kiln_context_vulkan_handles(ctx, &h), KILN_OK, "%s", kiln_last_error());
    dev_fns f;
    load_fns(&h, &f);
    VkDevice dev = (VkDevice)(uintptr_t)h.device;
    VkQueue queue = (VkQueue)(uintptr_t)h.queue;

    vk_norm_case c;
    vk_norm_make(ctx, &c, 5, 300, 11);
    /* compile ahead, so recording does no work the caller would wait for */
    kiln_spec spec;
    cr_assert_eq(kiln_kernel_choose(ctx, KILN_OP_NORM, &c.p, &spec), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_kernel_prepare(ctx, &spec), KILN_OK, "%s", kiln_last_error());

    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, .queueFamilyIndex = h.queue_family};
    VkCommandPool pool;
    cr_assert_eq(f.vkCreateCommandPool(dev, &pci, NULL, &pool), VK_SUCCESS);
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
    VkCommandBuffer cmd;
    cr_assert_eq(f.vkAllocateCommandBuffers(dev, &ai, &cmd), VK_SUCCESS);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    cr_assert_eq(f.vkBeginCommandBuffer(cmd, &bi), VK_SUCCESS);

    cr_assert_eq(kiln_context_set_vulkan_command_buffer(ctx, cmd), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_kernel_run(ctx, &spec, &c.p), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_norm(ctx, &c.p), KILN_OK, "%s", kiln_last_error()); /* twice: both recorded, in order */
    cr_assert_eq(kiln_synchronize(ctx), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_context_set_vulkan_command_buffer(ctx, NULL), KILN_OK, "%s", kiln_last_error());
    cr_expect(!vk_norm_matches(&c), "y was written before the caller submitted its command buffer");

    cr_assert_eq(f.vkEndCommandBuffer(cmd), VK_SUCCESS);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
    cr_assert_eq(f.vkQueueSubmit(queue, 1, &si, VK_NULL_HANDLE), VK_SUCCESS);
    cr_assert_eq(f.vkQueueWaitIdle(queue), VK_SUCCESS);
    cr_expect(vk_norm_matches(&c), "wrong result after the caller's submission");
    cr_expect_eq(kiln_synchronize(ctx), KILN_OK, "validation: %s", kiln_last_error());

    f.vkDestroyCommandPool(dev, pool, NULL);
    vk_norm_free(&c);
    kiln_context_destroy(ctx);
}

static int memory_type(const dev_fns *f, VkPhysicalDevice pd, uint32_t bits, VkMemoryPropertyFlags want)
{
    VkPhysicalDeviceMemoryProperties mp;
    f->vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++)
        if ((bits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

Test(vulkan_interop, wraps_caller_buffer_at_an_offset)
{
    vk_skip_unless_available();
    kiln_context *ctx = vk_open(NULL);
    kiln_vulkan_handles h;
    cr_assert_eq(kiln_context_vulkan_handles(ctx, &h), KILN_OK);
    dev_fns f;
    load_fns(&h, &f);
    VkDevice dev = (VkDevice)(uintptr_t)h.device;

    const int64_t rows = 4, dim = 133;
    const size_t off = 256, bytes = sizeof(float) * (size_t)(rows * dim);
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = off + bytes + 12,
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_DST_BIT};
    VkBuffer vb;
    cr_assert_eq(f.vkCreateBuffer(dev, &bci, NULL, &vb), VK_SUCCESS);
    VkMemoryRequirements req;
    f.vkGetBufferMemoryRequirements(dev, vb, &req);
    int type = memory_type(&f, (VkPhysicalDevice)(uintptr_t)h.physical_device, req.memoryTypeBits,
                           VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    cr_assert_geq(type, 0);
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                                .memoryTypeIndex = (uint32_t)type};
    VkDeviceMemory mem;
    cr_assert_eq(f.vkAllocateMemory(dev, &mai, NULL, &mem), VK_SUCCESS);
    cr_assert_eq(f.vkBindBufferMemory(dev, vb, mem, 0), VK_SUCCESS);

    /* x lives in the caller's buffer; y in kiln's */
    vk_norm_case c;
    vk_norm_make(ctx, &c, rows, dim, 5);
    kiln_buffer *wrapped = NULL;
    cr_assert_eq(kiln_buffer_wrap_vulkan(ctx, (uint64_t)(uintptr_t)vb, off, bytes, &wrapped), KILN_OK, "%s",
                 kiln_last_error());
    cr_assert_eq(kiln_buffer_size(wrapped), bytes);
    cr_assert_eq(kiln_buffer_upload(wrapped, 0, c.x, bytes), KILN_OK, "%s", kiln_last_error());
    int64_t ne[2] = {rows, dim};
    c.p.x = kiln_tensor_make(wrapped, 0, KILN_F32, 2, ne);
    cr_assert_eq(kiln_norm(ctx, &c.p), KILN_OK, "%s", kiln_last_error());
    cr_expect(vk_norm_matches(&c), "norm over a wrapped buffer is wrong");
    float back[8];
    cr_assert_eq(kiln_buffer_download(wrapped, sizeof(float) * 3, back, sizeof back), KILN_OK);
    cr_expect_eq(memcmp(back, c.x + 3, sizeof back), 0, "download from a wrapped buffer at an offset differs");
    cr_expect_eq(kiln_synchronize(ctx), KILN_OK, "validation: %s", kiln_last_error());

    kiln_buffer_free(wrapped); /* never frees the caller's buffer: ours to free, before the device goes */
    f.vkDestroyBuffer(dev, vb, NULL);
    f.vkFreeMemory(dev, mem, NULL);
    cr_expect_eq(kiln_synchronize(ctx), KILN_OK, "validation after freeing: %s", kiln_last_error());
    vk_norm_free(&c);
    kiln_context_destroy(ctx);
}

Test(vulkan_interop, validation_errors_fail_the_next_call)
{
    vk_skip_unless_available();
    kiln_context *ctx = vk_open(NULL);
    kiln_device_info info;
    kiln_context_get_device(ctx, &info);
    if (!strstr(info.features, "validation")) {
        kiln_context_destroy(ctx);
        cr_skip_test("VK_LAYER_KHRONOS_validation is not installed (package vulkan-validationlayers)");
    }
    kiln_vulkan_handles h;
    cr_assert_eq(kiln_context_vulkan_handles(ctx, &h), KILN_OK);
    dev_fns f;
    load_fns(&h, &f);
    VkDevice dev = (VkDevice)(uintptr_t)h.device;
    cr_expect_eq(kiln_synchronize(ctx), KILN_OK, "a clean context reports: %s", kiln_last_error());
    /* size 0 is invalid (VUID-VkBufferCreateInfo-size-00912) */
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 0,
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT};
    VkBuffer vb = VK_NULL_HANDLE;
    VkResult r = f.vkCreateBuffer(dev, &bci, NULL, &vb);
    if (r == VK_SUCCESS && vb) f.vkDestroyBuffer(dev, vb, NULL);
    kiln_status st = kiln_synchronize(ctx);
    cr_expect_eq(st, KILN_ERR_DEVICE, "the validation error was not reported");
    cr_expect(strstr(kiln_last_error(), "VUID-VkBufferCreateInfo-size"), "message: %s", kiln_last_error());
    cr_expect_eq(kiln_synchronize(ctx), KILN_OK, "reported once, then cleared: %s", kiln_last_error());
    kiln_context_destroy(ctx);
}
#endif
