/* kernels/core/buffer.c — buffers: kiln's own allocations and wrapped caller
 * memory. Bounds are checked here once, so backends can trust offsets. */
#include <stdlib.h>

#include "kernels/core/backend.h"

static kiln_status new_buffer(kiln_context *ctx, size_t bytes, int owned, kiln_buffer **out,
                              const char *what)
{
    if (!out) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: out is NULL", what);
    *out = NULL;
    if (!ctx) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: ctx is NULL", what);
    if (bytes == 0) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: size is 0", what);
    kiln_buffer *b = calloc(1, sizeof *b);
    if (!b) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    b->ctx = ctx;
    b->size = bytes;
    b->owned = owned;
    *out = b;
    return KILN_OK;
}

kiln_status kiln_buffer_alloc(kiln_context *ctx, size_t bytes, kiln_buffer **out)
{
    kiln_status st = new_buffer(ctx, bytes, 1, out, "kiln_buffer_alloc");
    if (st != KILN_OK) return st;
    st = ctx->vt->buffer_alloc(ctx, *out);
    if (st != KILN_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

static kiln_status wrap(kiln_context *ctx, kiln_backend want, kiln_buffer *b, kiln_buffer **out,
                        const char *what)
{
    kiln_status st = KILN_OK;
    if (ctx->vt->kind != want || !ctx->vt->buffer_wrap)
        st = kiln_fail(KILN_ERR_UNSUPPORTED, "%s: the context is on %s; this wraps %s memory", what,
                       kiln_backend_name(ctx->vt->kind), kiln_backend_name(want));
    else
        st = ctx->vt->buffer_wrap(ctx, b);
    if (st != KILN_OK) {
        free(b);
        *out = NULL;
    }
    return st;
}

kiln_status kiln_buffer_wrap_host(kiln_context *ctx, void *ptr, size_t bytes, kiln_buffer **out)
{
    kiln_status st = new_buffer(ctx, bytes, 0, out, "kiln_buffer_wrap_host");
    if (st != KILN_OK) return st;
    if (!ptr) {
        free(*out);
        *out = NULL;
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_buffer_wrap_host: ptr is NULL");
    }
    (*out)->host = ptr;
    return wrap(ctx, KILN_BACKEND_CPU, *out, out, "kiln_buffer_wrap_host");
}

kiln_status kiln_buffer_wrap_cuda(kiln_context *ctx, uint64_t cu_deviceptr, size_t bytes,
                                  kiln_buffer **out)
{
    kiln_status st = new_buffer(ctx, bytes, 0, out, "kiln_buffer_wrap_cuda");
    if (st != KILN_OK) return st;
    if (!cu_deviceptr) {
        free(*out);
        *out = NULL;
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_buffer_wrap_cuda: device pointer is 0");
    }
    (*out)->handle = cu_deviceptr;
    return wrap(ctx, KILN_BACKEND_CUDA, *out, out, "kiln_buffer_wrap_cuda");
}

kiln_status kiln_buffer_wrap_vulkan(kiln_context *ctx, uint64_t vk_buffer, size_t offset,
                                    size_t bytes, kiln_buffer **out)
{
    kiln_status st = new_buffer(ctx, bytes, 0, out, "kiln_buffer_wrap_vulkan");
    if (st != KILN_OK) return st;
    if (!vk_buffer) {
        free(*out);
        *out = NULL;
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_buffer_wrap_vulkan: VkBuffer is VK_NULL_HANDLE");
    }
    (*out)->handle = vk_buffer;
    (*out)->handle_offset = offset;
    return wrap(ctx, KILN_BACKEND_VULKAN, *out, out, "kiln_buffer_wrap_vulkan");
}

void kiln_buffer_free(kiln_buffer *buf)
{
    if (!buf) return;
    if (buf->owned && buf->ctx->vt->buffer_free) buf->ctx->vt->buffer_free(buf);
    free(buf);
}

size_t kiln_buffer_size(const kiln_buffer *buf) { return buf ? buf->size : 0; }

void *kiln_buffer_host_ptr(kiln_buffer *buf) { return buf ? buf->host : NULL; }

static kiln_status check_range(const kiln_buffer *buf, size_t offset, const void *p, size_t bytes,
                               const char *what)
{
    if (!buf) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: buffer is NULL", what);
    if (!p && bytes) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: host pointer is NULL", what);
    if (offset > buf->size || bytes > buf->size - offset)
        return kiln_fail(KILN_ERR_INVALID_ARG,
                         "%s: %zu bytes at offset %zu do not fit in a buffer of %zu bytes", what,
                         bytes, offset, buf->size);
    return KILN_OK;
}

kiln_status kiln_buffer_upload(kiln_buffer *buf, size_t offset, const void *src, size_t bytes)
{
    kiln_status st = check_range(buf, offset, src, bytes, "kiln_buffer_upload");
    if (st != KILN_OK || bytes == 0) return st;
    return buf->ctx->vt->buffer_upload(buf, offset, src, bytes);
}

kiln_status kiln_buffer_download(kiln_buffer *buf, size_t offset, void *dst, size_t bytes)
{
    kiln_status st = check_range(buf, offset, dst, bytes, "kiln_buffer_download");
    if (st != KILN_OK || bytes == 0) return st;
    return buf->ctx->vt->buffer_download(buf, offset, dst, bytes);
}
