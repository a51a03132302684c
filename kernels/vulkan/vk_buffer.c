/* kernels/vulkan/vk_buffer.c — device buffers, wrapped caller buffers, transfers.
 *
 * On unified-memory devices (lavapipe, integrated GPUs) kiln's buffers are
 * device-local *and* host-visible: they stay mapped and transfers are memcpy.
 * Elsewhere transfers go through a staging buffer and vkCmdCopyBuffer. Either
 * way a transfer first submits the dispatches recorded so far, so it observes
 * (and is observed by) them in program order. */
#include <stdlib.h>
#include <string.h>

#include "kernels/vulkan/vk_internal.h"

/* per-buffer backend state (owned buffers only) */
typedef struct kiln_vk_buffer {
    VkDeviceMemory mem;
    void *map; /* persistent mapping on unified memory, else NULL */
} kiln_vk_buffer;

#define KILN_VK_STAGING_MAX ((size_t)64 << 20)

static inline VkBuffer vkbuf(const kiln_buffer *b) { return (VkBuffer)(uintptr_t)b->handle; }

int kiln_vk_memory_type(const kiln_vk_context *vk, uint32_t type_bits, VkMemoryPropertyFlags want)
{
    for (uint32_t i = 0; i < vk->mem.memoryTypeCount; i++)
        if ((type_bits & (1u << i)) && (vk->mem.memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

kiln_status kiln_vk_create_buffer(kiln_vk_context *vk, VkDeviceSize size, VkBufferUsageFlags usage,
                                  VkMemoryPropertyFlags want, VkBuffer *buf, VkDeviceMemory *mem,
                                  void **map)
{
    *buf = VK_NULL_HANDLE;
    *mem = VK_NULL_HANDLE;
    if (map) *map = NULL;
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = usage,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vk->fd.vkCreateBuffer(vk->device, &bci, NULL, buf);
    if (r != VK_SUCCESS) return kiln_vk_fail_result(r, "vkCreateBuffer");
    VkMemoryRequirements req;
    vk->fd.vkGetBufferMemoryRequirements(vk->device, *buf, &req);
    int type = kiln_vk_memory_type(vk, req.memoryTypeBits, want);
    if (type < 0) {
        vk->fd.vkDestroyBuffer(vk->device, *buf, NULL);
        *buf = VK_NULL_HANDLE;
        return kiln_fail(KILN_ERR_UNSUPPORTED, "vulkan: no memory type with properties 0x%x for a buffer",
                         (unsigned)want);
    }
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = (uint32_t)type,
    };
    r = vk->fd.vkAllocateMemory(vk->device, &mai, NULL, mem);
    if (r == VK_SUCCESS) r = vk->fd.vkBindBufferMemory(vk->device, *buf, *mem, 0);
    if (r == VK_SUCCESS && map) r = vk->fd.vkMapMemory(vk->device, *mem, 0, VK_WHOLE_SIZE, 0, map);
    if (r != VK_SUCCESS) {
        kiln_vk_destroy_buffer(vk, *buf, *mem);
        *buf = VK_NULL_HANDLE;
        *mem = VK_NULL_HANDLE;
        return kiln_vk_fail_result(r, "allocating buffer memory");
    }
    return KILN_OK;
}

void kiln_vk_destroy_buffer(kiln_vk_context *vk, VkBuffer buf, VkDeviceMemory mem)
{
    if (buf) vk->fd.vkDestroyBuffer(vk->device, buf, NULL);
    if (mem) vk->fd.vkFreeMemory(vk->device, mem, NULL); /* unmaps implicitly */
}

kiln_status kiln_vk_buffer_alloc(kiln_context *ctx, kiln_buffer *buf)
{
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    kiln_vk_buffer *b = calloc(1, sizeof *b);
    if (!b) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "vulkan: out of memory for a buffer record");
    /* rounded up to whole 32-bit words: kernels read through uint[] views */
    VkDeviceSize size = ((VkDeviceSize)buf->size + 15u) & ~(VkDeviceSize)15u;
    VkBufferUsageFlags usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                               VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    if (vk->caps.unified_memory)
        want |= VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    VkBuffer vb;
    kiln_status s = kiln_vk_create_buffer(vk, size, usage, want, &vb, &b->mem,
                                          vk->caps.unified_memory ? &b->map : NULL);
    if (s != KILN_OK) {
        free(b);
        return kiln_fail_prefix(s, "kiln_buffer_alloc(%zu bytes)", buf->size);
    }
    buf->handle = (uint64_t)(uintptr_t)vb;
    buf->handle_offset = 0;
    buf->host = NULL;
    buf->impl = b;
    return KILN_OK;
}

kiln_status kiln_vk_buffer_wrap(kiln_context *ctx, kiln_buffer *buf)
{
    (void)ctx;
    /* The caller's VkBuffer on kiln's device: transfers go through staging,
     * dispatches bind it at handle_offset (aligned down per binding). */
    buf->impl = NULL;
    buf->host = NULL;
    return KILN_OK;
}

void kiln_vk_buffer_free(kiln_buffer *buf)
{
    kiln_vk_context *vk = kiln_vk_ctx(buf->ctx);
    kiln_vk_buffer *b = buf->impl;
    if (!vk || !b) return;
    /* the GPU may still use it: finish what kiln recorded first */
    if (vk->recording) (void)kiln_vk_flush(vk);
    kiln_vk_destroy_buffer(vk, vkbuf(buf), b->mem);
    free(b);
    buf->impl = NULL;
}

static kiln_status ensure_staging(kiln_vk_context *vk, size_t want)
{
    if (vk->staging && vk->staging_size >= want) return KILN_OK;
    if (vk->staging) kiln_vk_destroy_buffer(vk, vk->staging, vk->staging_mem);
    vk->staging = VK_NULL_HANDLE;
    vk->staging_size = 0;
    kiln_status s = kiln_vk_create_buffer(vk, want, VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                                          VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                                          &vk->staging, &vk->staging_mem, &vk->staging_map);
    if (s == KILN_OK) vk->staging_size = want;
    return s;
}

/* One staged copy on kiln's own command buffer (never the caller's: a
 * transfer is synchronous for the host). */
static kiln_status staged_copy(kiln_vk_context *vk, kiln_buffer *buf, size_t off, size_t n, int to_device)
{
    VkCommandBuffer saved = vk->caller_cmd, cmd;
    vk->caller_cmd = VK_NULL_HANDLE;
    kiln_status s = kiln_vk_begin(vk, &cmd);
    vk->caller_cmd = saved;
    if (s != KILN_OK) return s;
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT,
    };
    vk->fd.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1,
                                &mb, 0, NULL, 0, NULL);
    VkBufferCopy region = {.size = n};
    if (to_device) {
        region.dstOffset = buf->handle_offset + off;
        vk->fd.vkCmdCopyBuffer(cmd, vk->staging, vkbuf(buf), 1, &region);
    } else {
        region.srcOffset = buf->handle_offset + off;
        vk->fd.vkCmdCopyBuffer(cmd, vkbuf(buf), vk->staging, 1, &region);
    }
    mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
    vk->fd.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                                VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0,
                                NULL, 0, NULL);
    return kiln_vk_flush(vk);
}

static kiln_status transfer(kiln_buffer *buf, size_t off, void *host, size_t n, int to_device)
{
    kiln_vk_context *vk = kiln_vk_ctx(buf->ctx);
    kiln_status s = kiln_vk_flush(vk); /* program order with recorded dispatches */
    if (s != KILN_OK) return s;
    kiln_vk_buffer *b = buf->impl;
    if (b && b->map) {
        if (to_device) memcpy((char *)b->map + off, host, n);
        else memcpy(host, (const char *)b->map + off, n);
        return KILN_OK;
    }
    size_t chunk = n < KILN_VK_STAGING_MAX ? n : KILN_VK_STAGING_MAX;
    if ((s = ensure_staging(vk, chunk)) != KILN_OK) return s;
    for (size_t done = 0; done < n; done += chunk) {
        size_t m = n - done < chunk ? n - done : chunk;
        if (to_device) memcpy(vk->staging_map, (const char *)host + done, m);
        if ((s = staged_copy(vk, buf, off + done, m, to_device)) != KILN_OK) return s;
        if (!to_device) memcpy((char *)host + done, vk->staging_map, m);
    }
    return KILN_OK;
}

kiln_status kiln_vk_buffer_upload(kiln_buffer *buf, size_t off, const void *src, size_t n)
{
    return transfer(buf, off, (void *)src, n, 1);
}

kiln_status kiln_vk_buffer_download(kiln_buffer *buf, size_t off, void *dst, size_t n)
{
    return transfer(buf, off, dst, n, 0);
}
