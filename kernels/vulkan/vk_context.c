/* kernels/vulkan/vk_context.c — context lifetime, submission, validation messages.
 *
 * Dispatches are recorded into kiln's command buffer and submitted together at
 * the next synchronize / upload / download: a decode step issues dozens of small
 * kernels, and one submit per kernel would cost more than the kernels. With a
 * caller's command buffer (set_queue) kiln records into it and never submits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/vulkan/vk_internal.h"
#include "kernels/vulkan/vk_timing.h"

#ifndef KILN_VK_VALIDATION_DEFAULT
#define KILN_VK_VALIDATION_DEFAULT 0
#endif

kiln_status kiln_vk_fail_result(VkResult r, const char *what)
{
    kiln_status s = KILN_ERR_DEVICE;
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) s = KILN_ERR_OUT_OF_MEMORY;
    return kiln_fail(s, "vulkan: %s failed: %s", what, kiln_vk_result_name(r));
}

/* Validation wanted? KILN_VULKAN_VALIDATION=1/0 decides; else the build's default
 * (on in Debug builds). The layer must also be installed. */
static int validation_wanted(void)
{
    const char *e = getenv("KILN_VULKAN_VALIDATION");
    if (e && *e) return strcmp(e, "0") != 0;
    return KILN_VK_VALIDATION_DEFAULT;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                       VkDebugUtilsMessageTypeFlagsEXT types,
                                                       const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                       void *user)
{
    (void)types;
    kiln_vk_context *vk = user;
    if (!(severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) return VK_FALSE;
    pthread_mutex_lock(&vk->msg_lock);
    if (vk->validation_errors++ == 0)
        snprintf(vk->validation_msg, sizeof vk->validation_msg, "%s",
                 data && data->pMessage ? data->pMessage : "(no message)");
    pthread_mutex_unlock(&vk->msg_lock);
    return VK_FALSE;
}

kiln_status kiln_vk_check_validation(kiln_vk_context *vk, const char *where)
{
    pthread_mutex_lock(&vk->msg_lock);
    int n = vk->validation_errors;
    char msg[sizeof vk->validation_msg];
    memcpy(msg, vk->validation_msg, sizeof msg);
    vk->validation_errors = 0;
    vk->validation_msg[0] = '\0';
    pthread_mutex_unlock(&vk->msg_lock);
    if (!n) return KILN_OK;
    return kiln_fail(KILN_ERR_DEVICE, "vulkan: %d validation error(s) during %s; first: %s", n, where, msg);
}

static kiln_status create_device(kiln_vk_context *vk)
{
    const kiln_vk_caps *c = &vk->caps;
    if (!c->storage8 || !c->storage16 || !c->int16 || !c->int8)
        return kiln_fail(KILN_ERR_UNSUPPORTED,
                         "vulkan: device lacks 8/16-bit storage buffers or shaderInt8/shaderInt16 "
                         "(storage8=%d storage16=%d int8=%d int16=%d), which kiln's kernels read weights with",
                         c->storage8, c->storage16, c->int8, c->int16);
    if (!c->push_descriptor)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "vulkan: device lacks VK_KHR_push_descriptor");
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = vk->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .storageBuffer8BitAccess = VK_TRUE,
        .shaderFloat16 = c->float16 ? VK_TRUE : VK_FALSE,
        .shaderInt8 = c->int8 ? VK_TRUE : VK_FALSE,
    };
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .pNext = &f12,
        .storageBuffer16BitAccess = VK_TRUE,
    };
    VkPhysicalDeviceFeatures2 f2 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
        .pNext = &f11,
        .features = {.shaderInt16 = VK_TRUE},
    };
    const char *exts[] = {VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME, "VK_NV_cooperative_matrix"};
    /* NV cooperative matrices only on request (KILN_VULKAN_COOPMAT=1): the
     * kernel that uses them (templates/matmul_coopmat.comp) is compile-tested
     * but not yet verified on hardware. It needs the f16 16x16x16 shape, f16
     * arithmetic and subgroups of 32. */
    const char *want = getenv("KILN_VULKAN_COOPMAT");
    int coopmat = want && !strcmp(want, "1") && c->coopmat_nv_f16 && c->float16 && c->subgroup_size == 32;
    VkPhysicalDeviceCooperativeMatrixFeaturesNV fcm = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
        .cooperativeMatrix = VK_TRUE,
    };
    if (coopmat) {
        fcm.pNext = f2.pNext;
        f2.pNext = &fcm;
    }
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &f2,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
        .enabledExtensionCount = coopmat ? 2u : 1u,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vk->fi.vkCreateDevice(vk->phys, &dci, NULL, &vk->device);
    if (r != VK_SUCCESS) return kiln_vk_fail_result(r, "vkCreateDevice");
    vk->coopmat = coopmat;
    kiln_status s = kiln_vk_load_device_funcs(&vk->fi, vk->device, &vk->fd);
    if (s != KILN_OK) return s;
    vk->fd.vkGetDeviceQueue(vk->device, vk->queue_family, 0, &vk->queue);
    return KILN_OK;
}

static kiln_status create_submission(kiln_vk_context *vk)
{
    VkCommandPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = vk->queue_family,
    };
    VkResult r = vk->fd.vkCreateCommandPool(vk->device, &pci, NULL, &vk->pool);
    if (r != VK_SUCCESS) return kiln_vk_fail_result(r, "vkCreateCommandPool");
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vk->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    r = vk->fd.vkAllocateCommandBuffers(vk->device, &ai, &vk->cmd);
    if (r != VK_SUCCESS) return kiln_vk_fail_result(r, "vkAllocateCommandBuffers");
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    r = vk->fd.vkCreateFence(vk->device, &fci, NULL, &vk->fence);
    if (r != VK_SUCCESS) return kiln_vk_fail_result(r, "vkCreateFence");
    if (vk->caps.timestamps) {
        VkQueryPoolCreateInfo qp = {
            .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
            .queryType = VK_QUERY_TYPE_TIMESTAMP,
            .queryCount = 2,
        };
        r = vk->fd.vkCreateQueryPool(vk->device, &qp, NULL, &vk->query_pool);
        if (r != VK_SUCCESS) vk->query_pool = VK_NULL_HANDLE; /* timestamps are optional */
    }
    return KILN_OK;
}

static void context_fini(kiln_context *ctx)
{
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    if (!vk) return;
    if (vk->device) {
        if (vk->recording) (void)kiln_vk_flush(vk);
        vk->fd.vkDeviceWaitIdle(vk->device);
        kiln_vk_pipeline_cache_save(vk);
        kiln_vk_pipelines_destroy(vk);
        if (vk->staging) kiln_vk_destroy_buffer(vk, vk->staging, vk->staging_mem);
        if (vk->scratch) kiln_vk_destroy_buffer(vk, vk->scratch, vk->scratch_mem);
        for (int i = 0; i < vk->n_retired; i++) kiln_vk_destroy_buffer(vk, vk->retired[i], vk->retired_mem[i]);
        if (vk->query_pool) vk->fd.vkDestroyQueryPool(vk->device, vk->query_pool, NULL);
        if (vk->fence) vk->fd.vkDestroyFence(vk->device, vk->fence, NULL);
        if (vk->pool) vk->fd.vkDestroyCommandPool(vk->device, vk->pool, NULL);
        vk->fd.vkDestroyDevice(vk->device, NULL);
    }
    if (vk->messenger && vk->fi.vkDestroyDebugUtilsMessengerEXT)
        vk->fi.vkDestroyDebugUtilsMessengerEXT(vk->instance, vk->messenger, NULL);
    if (vk->instance) vk->fi.vkDestroyInstance(vk->instance, NULL);
    pthread_mutex_destroy(&vk->msg_lock);
    pthread_mutex_destroy(&vk->pipe_lock);
    free(vk);
    ctx->impl = NULL;
}

void kiln_vk_context_fini(kiln_context *ctx) { context_fini(ctx); }

kiln_status kiln_vk_context_init(kiln_context *ctx, int index)
{
    kiln_vk_context *vk = calloc(1, sizeof *vk);
    if (!vk) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "vulkan: out of memory for the context");
    pthread_mutex_init(&vk->msg_lock, NULL);
    pthread_mutex_init(&vk->pipe_lock, NULL);
    ctx->impl = vk;

    kiln_status s = kiln_vk_create_instance(validation_wanted(), &vk->instance, &vk->fi, &vk->validation);
    if (s != KILN_OK) goto fail;
    if (vk->fi.vkCreateDebugUtilsMessengerEXT) {
        VkDebugUtilsMessengerCreateInfoEXT mci = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT,
            .pfnUserCallback = on_debug_message,
            .pUserData = vk,
        };
        if (vk->fi.vkCreateDebugUtilsMessengerEXT(vk->instance, &mci, NULL, &vk->messenger) != VK_SUCCESS)
            vk->messenger = VK_NULL_HANDLE;
    }
    VkPhysicalDevice devs[16];
    uint32_t n = 0;
    s = kiln_vk_physical_devices(vk->instance, &vk->fi, devs, 16, &n);
    if (s != KILN_OK) goto fail;
    if (index < 0 || (uint32_t)index >= n) {
        s = kiln_fail(KILN_ERR_UNAVAILABLE, "vulkan: no device vulkan:%d (%u device(s) with compute)", index, n);
        goto fail;
    }
    vk->phys = devs[index];
    vk->fi.vkGetPhysicalDeviceProperties(vk->phys, &vk->props);
    vk->fi.vkGetPhysicalDeviceMemoryProperties(vk->phys, &vk->mem);
    kiln_vk_query_caps(&vk->fi, vk->phys, &vk->caps);
    vk->queue_family = (uint32_t)kiln_vk_find_compute_queue(&vk->fi, vk->phys);
    kiln_vk_fill_info(&vk->fi, vk->phys, index, &ctx->info);

    if (vk->validation) { /* a property of this context, shown with the device's features */
        size_t len = strlen(ctx->info.features);
        snprintf(ctx->info.features + len, sizeof ctx->info.features - len, "%svalidation", len ? " " : "");
    }
    if ((s = create_device(vk)) != KILN_OK) goto fail;
    if (vk->coopmat) { /* opted in (KILN_VULKAN_COOPMAT=1) and enabled on this context's device */
        size_t len = strlen(ctx->info.features);
        snprintf(ctx->info.features + len, sizeof ctx->info.features - len, "%scoopmat_on", len ? " " : "");
    }
    if ((s = create_submission(vk)) != KILN_OK) goto fail;
    if ((s = kiln_vk_layouts_create(vk)) != KILN_OK) goto fail;
    /* disk caches live under <cache_dir>/vulkan/ (no disk caching without a cache dir) */
    if (ctx->cache_dir[0]) {
        snprintf(vk->spirv_cache_dir, sizeof vk->spirv_cache_dir, "%s/vulkan", ctx->cache_dir);
        const uint8_t *u = vk->props.pipelineCacheUUID;
        snprintf(vk->pipeline_cache_path, sizeof vk->pipeline_cache_path,
                 "%s/pipelines-%04x-%04x-%02x%02x%02x%02x%02x%02x%02x%02x.bin", vk->spirv_cache_dir,
                 vk->props.vendorID, vk->props.deviceID, u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7]);
    }
    return kiln_vk_check_validation(vk, "context creation");
fail:
    {
        /* keep the reason across the cleanup, which may call kiln functions */
        char why[1024];
        snprintf(why, sizeof why, "%s", kiln_last_error());
        context_fini(ctx);
        return kiln_fail(s, "%s", why);
    }
}

kiln_status kiln_vk_begin(kiln_vk_context *vk, VkCommandBuffer *out)
{
    if (vk->caller_cmd) {
        *out = vk->caller_cmd;
        return KILN_OK;
    }
    if (!vk->recording) {
        VkCommandBufferBeginInfo bi = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
            .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
        };
        VkResult r = vk->fd.vkBeginCommandBuffer(vk->cmd, &bi);
        if (r != VK_SUCCESS) return kiln_vk_fail_result(r, "vkBeginCommandBuffer");
        vk->recording = 1;
        vk->pending = 0;
        if (vk->query_pool) { /* device time of this submission (kiln_vk_last_submit_ns) */
            vk->fd.vkCmdResetQueryPool(vk->cmd, vk->query_pool, 0, 2);
            vk->fd.vkCmdWriteTimestamp(vk->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, vk->query_pool, 0);
        }
    }
    *out = vk->cmd;
    return KILN_OK;
}

kiln_status kiln_vk_flush(kiln_vk_context *vk)
{
    if (!vk->recording) return kiln_vk_check_validation(vk, "recording");
    vk->recording = 0;
    if (vk->query_pool)
        vk->fd.vkCmdWriteTimestamp(vk->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, vk->query_pool, 1);
    VkResult r = vk->fd.vkEndCommandBuffer(vk->cmd);
    if (r != VK_SUCCESS) return kiln_vk_fail_result(r, "vkEndCommandBuffer");
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &vk->cmd,
    };
    r = vk->fd.vkQueueSubmit(vk->queue, 1, &si, vk->fence);
    if (r != VK_SUCCESS) {
        vk->fd.vkResetCommandBuffer(vk->cmd, 0);
        return kiln_vk_fail_result(r, "vkQueueSubmit");
    }
    r = vk->fd.vkWaitForFences(vk->device, 1, &vk->fence, VK_TRUE, UINT64_MAX);
    vk->fd.vkResetFences(vk->device, 1, &vk->fence);
    vk->fd.vkResetCommandBuffer(vk->cmd, 0);
    vk->pending = 0;
    if (r != VK_SUCCESS) return kiln_vk_fail_result(r, "vkWaitForFences");
    if (vk->query_pool) {
        uint64_t ts[2] = {0, 0};
        if (vk->fd.vkGetQueryPoolResults(vk->device, vk->query_pool, 0, 2, sizeof ts, ts, sizeof ts[0],
                                         VK_QUERY_RESULT_64_BIT) == VK_SUCCESS && ts[1] >= ts[0])
            vk->last_submit_ns = (double)(ts[1] - ts[0]) * vk->caps.timestamp_period_ns;
    }
    return kiln_vk_check_validation(vk, "submission");
}

kiln_status kiln_vk_last_submit_ns(kiln_context *ctx, double *ns)
{
    if (!ctx || !ns || ctx->vt->kind != KILN_BACKEND_VULKAN)
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_vk_last_submit_ns: needs a vulkan context and an output");
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    if (!vk->query_pool)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "vulkan: %s's compute queue has no timestamps", ctx->info.name);
    *ns = vk->last_submit_ns;
    return KILN_OK;
}

kiln_status kiln_vk_synchronize(kiln_context *ctx)
{
    return kiln_vk_flush(kiln_vk_ctx(ctx));
}

kiln_status kiln_vk_set_queue(kiln_context *ctx, void *queue)
{
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    /* work already recorded on kiln's own buffer runs first, in order */
    kiln_status s = kiln_vk_flush(vk);
    vk->caller_cmd = (VkCommandBuffer)queue;
    return s;
}
