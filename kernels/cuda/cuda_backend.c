/* kernels/cuda/cuda_backend.c — the kiln_cuda_backend vtable: devices, context,
 * stream, buffers. Kernels are in cuda_modules.c / cuda_ops.c.
 *
 * kiln_cuda_emu_backend is the same backend on the emulated driver
 * (kernels/cuda/emu/): device "cuda-emu:0", asked for by name only. Only the
 * device entry points differ (which driver table, which id); the context
 * carries its table, so everything after context creation is shared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_compile.h"
#include "kernels/cuda/cuda_internal.h"
#include "kernels/cuda/emu/emu.h"
#include "kernels/cuda/emu/emu_fiber.h"

/* ---------------------------------------------------------------- devices */

static int cuda_available(void)
{
    const kiln_cu_api *cu = kiln_cu();
    if (!cu) return 0;
    int n = 0;
    if (cu->DeviceGetCount(&n) != CUDA_SUCCESS || n <= 0) {
        kiln_fail(KILN_ERR_UNAVAILABLE, "cuda: the driver loaded but reports no CUDA device");
        return 0;
    }
    return 1;
}

static kiln_status cuda_device_count(int *count)
{
    *count = 0;
    const kiln_cu_api *cu = kiln_cu();
    if (!cu) return KILN_OK; /* unavailable: zero devices */
    int n = 0;
    kiln_status st = kiln_cu_check(cu->DeviceGetCount(&n), "cuDeviceGetCount");
    if (st == KILN_OK) *count = n;
    return st;
}

static kiln_status device_info_on(const kiln_cu_api *cu, const char *prefix, int index, kiln_device_info *info)
{
    if (!cu) return KILN_ERR_UNAVAILABLE;
    int n = 0;
    kiln_status st = kiln_cu_check(cu->DeviceGetCount(&n), "cuDeviceGetCount");
    if (st != KILN_OK) return st;
    if (index < 0 || index >= n)
        return kiln_fail(KILN_ERR_UNAVAILABLE, "cuda: no device %s:%d (%d device%s present)", prefix, index, n,
                         n == 1 ? "" : "s");
    CUdevice dev;
    if ((st = kiln_cu_check(cu->DeviceGet(&dev, index), "cuDeviceGet")) != KILN_OK) return st;
    memset(info, 0, sizeof *info);
    info->backend = KILN_BACKEND_CUDA;
    info->index = index;
    snprintf(info->id, sizeof info->id, "%s:%d", prefix, index);
    if ((st = kiln_cu_check(cu->DeviceGetName(info->name, (int)sizeof info->name, dev), "cuDeviceGetName")))
        return st;
    snprintf(info->vendor, sizeof info->vendor, "%s", cu == kiln_cu_emu() ? "kiln (emulated on the CPU)" : "NVIDIA");
    int ver = 0;
    if (cu->DriverGetVersion(&ver) == CUDA_SUCCESS)
        snprintf(info->driver, sizeof info->driver, "CUDA driver %d.%d", ver / 1000, (ver % 1000) / 10);
    size_t mem = 0;
    if ((st = kiln_cu_check(cu->DeviceTotalMem(&mem, dev), "cuDeviceTotalMem"))) return st;
    info->memory_bytes = mem;
    int v = 0;
    struct {
        int attr;
        int *dst;
    } attrs[] = {
        {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &info->compute_major},
        {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &info->compute_minor},
        {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, &info->multiprocessors},
        {CU_DEVICE_ATTRIBUTE_WARP_SIZE, &info->subgroup_size},
        {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, &v},
    };
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
        if ((st = kiln_cu_check(cu->DeviceGetAttribute(attrs[i].dst, attrs[i].attr, dev), "cuDeviceGetAttribute")))
            return st;
    info->shared_mem_bytes = (uint32_t)v;
    int cc = info->compute_major * 10 + info->compute_minor;
    snprintf(info->features, sizeof info->features, "sm_%d fp16 int8 dp4a%s%s%s", cc,
             cc >= 80 ? " bf16 mma_sync cp_async" : "", cc >= 89 ? " fp8" : "", cc == 90 ? " wgmma tma" : "");
    return KILN_OK;
}

static kiln_status cuda_device_info(int index, kiln_device_info *info)
{
    return device_info_on(kiln_cu(), "cuda", index, info);
}

/* ---------------------------------------------------------------- context */

kiln_status kiln_cuda_bind(kiln_cuda_ctx *c)
{
    return kiln_cu_check(c->cu->CtxSetCurrent(c->pctx), "cuCtxSetCurrent");
}

static kiln_status context_init_on(const kiln_cu_api *cu, kiln_context *ctx, int index)
{
    if (!cu) return KILN_ERR_UNAVAILABLE;
    if (ctx->info.compute_major < 8)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: %s is sm_%d%d; kiln's CUDA kernels need sm_80 or newer",
                         ctx->info.name, ctx->info.compute_major, ctx->info.compute_minor);
    kiln_cuda_ctx *c = calloc(1, sizeof *c);
    if (!c) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "cuda: context state: out of memory");
    c->cu = cu;
    c->cc_major = ctx->info.compute_major;
    c->cc_minor = ctx->info.compute_minor;
    c->sms = ctx->info.multiprocessors;
    c->smem_optin = (int)ctx->info.shared_mem_bytes;
    if (cu == kiln_cu_emu()) snprintf(c->arch, sizeof c->arch, "%s", KILN_CUDA_EMU_ARCH);
    else kiln_cuda_arch_name(c->cc_major, c->cc_minor, 0, c->arch, sizeof c->arch);
    kiln_status st = kiln_cu_check(cu->DeviceGet(&c->dev, index), "cuDeviceGet");
    if (st == KILN_OK) st = kiln_cu_check(cu->DevicePrimaryCtxRetain(&c->pctx, c->dev), "cuDevicePrimaryCtxRetain");
    if (st != KILN_OK) {
        free(c);
        return st;
    }
    if ((st = kiln_cuda_bind(c)) == KILN_OK)
        st = kiln_cu_check(cu->StreamCreate(&c->own, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    if (st != KILN_OK) {
        cu->DevicePrimaryCtxRelease(c->dev);
        free(c);
        return st;
    }
    c->active = c->own;
    pthread_mutex_init(&c->lock, NULL);
    ctx->impl = c;
    return KILN_OK;
}

static kiln_status cuda_context_init(kiln_context *ctx, int index) { return context_init_on(kiln_cu(), ctx, index); }

static void cuda_context_fini(kiln_context *ctx)
{
    kiln_cuda_ctx *c = kiln_cuda_of(ctx);
    if (!c) return;
    if (kiln_cuda_bind(c) == KILN_OK) {
        c->cu->StreamSynchronize(c->own);
        if (c->active != c->own) c->cu->StreamSynchronize(c->active);
        kiln_cuda_modules_release(c);
        if (c->workspace) c->cu->MemFree(c->workspace);
        c->cu->StreamDestroy(c->own);
    }
    c->cu->DevicePrimaryCtxRelease(c->dev);
    pthread_mutex_destroy(&c->lock);
    free(c);
    ctx->impl = NULL;
}

static kiln_status cuda_synchronize(kiln_context *ctx)
{
    kiln_cuda_ctx *c = kiln_cuda_of(ctx);
    kiln_status st = kiln_cuda_bind(c);
    if (st != KILN_OK) return st;
    return kiln_cu_check(c->cu->StreamSynchronize(c->active), "cuStreamSynchronize");
}

/* Later launches only enqueue on the caller's stream (capturable in a graph);
 * NULL goes back to kiln's stream. */
static kiln_status cuda_set_queue(kiln_context *ctx, void *queue)
{
    kiln_cuda_ctx *c = kiln_cuda_of(ctx);
    c->active = queue ? (CUstream)queue : c->own;
    return KILN_OK;
}

CUstream kiln_cuda_active_stream(kiln_context *ctx) { return kiln_cuda_of(ctx)->active; }

kiln_status kiln_cuda_workspace(kiln_cuda_ctx *c, size_t bytes, CUdeviceptr *out)
{
    kiln_status st = KILN_OK;
    pthread_mutex_lock(&c->lock);
    if (c->workspace_size < bytes) {
        /* Work in flight may still use the old scratch: wait for it first. */
        if (c->workspace) {
            c->cu->StreamSynchronize(c->active);
            c->cu->MemFree(c->workspace);
            c->workspace = 0;
            c->workspace_size = 0;
        }
        size_t want = bytes < (1u << 20) ? (1u << 20) : bytes;
        st = kiln_cu_check(c->cu->MemAlloc(&c->workspace, want), "cuMemAlloc (workspace)");
        if (st == KILN_OK) c->workspace_size = want;
    }
    *out = c->workspace;
    pthread_mutex_unlock(&c->lock);
    return st;
}

/* ---------------------------------------------------------------- buffers */

static kiln_status cuda_buffer_alloc(kiln_context *ctx, kiln_buffer *buf)
{
    kiln_cuda_ctx *c = kiln_cuda_of(ctx);
    kiln_status st = kiln_cuda_bind(c);
    if (st != KILN_OK) return st;
    CUdeviceptr p = 0;
    /* cuMemAlloc of 0 bytes fails; a 0-byte kiln buffer still gets an address. */
    st = kiln_cu_check(c->cu->MemAlloc(&p, buf->size ? buf->size : 1), "cuMemAlloc");
    if (st != KILN_OK)
        return kiln_fail_prefix(st, "cuda: allocating %zu bytes on %s", buf->size, ctx->info.id);
    buf->handle = p;
    buf->host = NULL;
    buf->owned = 1;
    return KILN_OK;
}

static kiln_status cuda_buffer_wrap(kiln_context *ctx, kiln_buffer *buf)
{
    (void)ctx;
    if (buf->host && !buf->handle)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: host memory cannot be wrapped as a device buffer; "
                                               "allocate with kiln_buffer_alloc and upload");
    if (!buf->handle) return kiln_fail(KILN_ERR_INVALID_ARG, "cuda: kiln_buffer_wrap_cuda: CUdeviceptr is 0");
    buf->owned = 0;
    return KILN_OK;
}

static void cuda_buffer_free(kiln_buffer *buf)
{
    kiln_cuda_ctx *c = kiln_cuda_of(buf->ctx);
    if (!buf->handle || kiln_cuda_bind(c) != KILN_OK) return;
    /* A kernel still reading the buffer must finish first. */
    c->cu->StreamSynchronize(c->active);
    c->cu->MemFree(buf->handle);
    buf->handle = 0;
}

static kiln_status cuda_buffer_upload(kiln_buffer *buf, size_t off, const void *src, size_t n)
{
    kiln_cuda_ctx *c = kiln_cuda_of(buf->ctx);
    kiln_status st = kiln_cuda_bind(c);
    if (st != KILN_OK || n == 0) return st;
    /* Ordered after earlier kernels on the active stream; synchronous for the
     * caller since src is pageable memory that may change after we return. */
    st = kiln_cu_check(c->cu->MemcpyHtoDAsync(buf->handle + off, src, n, c->active), "cuMemcpyHtoDAsync");
    if (st == KILN_OK) st = kiln_cu_check(c->cu->StreamSynchronize(c->active), "cuStreamSynchronize (upload)");
    return st;
}

static kiln_status cuda_buffer_download(kiln_buffer *buf, size_t off, void *dst, size_t n)
{
    kiln_cuda_ctx *c = kiln_cuda_of(buf->ctx);
    kiln_status st = kiln_cuda_bind(c);
    if (st != KILN_OK || n == 0) return st;
    st = kiln_cu_check(c->cu->MemcpyDtoHAsync(dst, buf->handle + off, n, c->active), "cuMemcpyDtoHAsync");
    if (st == KILN_OK) st = kiln_cu_check(c->cu->StreamSynchronize(c->active), "cuStreamSynchronize (download)");
    return st;
}

/* What the real and the emulated device share: everything past the driver
 * table a context is made on (device_info_on / context_init_on). */
#define CUDA_COMMON_ENTRIES                                                                                  \
    .kind = KILN_BACKEND_CUDA, .context_fini = cuda_context_fini, .synchronize = cuda_synchronize,         \
    .set_queue = cuda_set_queue, .buffer_alloc = cuda_buffer_alloc, .buffer_wrap = cuda_buffer_wrap,       \
    .buffer_free = cuda_buffer_free, .buffer_upload = cuda_buffer_upload,                                  \
    .buffer_download = cuda_buffer_download, .can_implement = kiln_cuda_can_implement,                     \
    .prepare = kiln_cuda_prepare, .precompile = kiln_cuda_modules_precompile, .run = kiln_cuda_run,        \
    .heuristic = kiln_cuda_heuristic

const kiln_backend_vtable kiln_cuda_backend = {
    CUDA_COMMON_ENTRIES,
    .available = cuda_available,
    .device_count = cuda_device_count,
    .device_info = cuda_device_info,
    .context_init = cuda_context_init,
};

/* ---------------------------------------------------------------- the emulated device */

static int emu_available(void)
{
    if (!kiln_fiber_supported()) {
        kiln_fail(KILN_ERR_UNAVAILABLE, "cuda-emu: the emulator's fibers exist for x86-64 only");
        return 0;
    }
    return kiln_cuda_emu_compiler_available();
}

static kiln_status emu_device_count(int *count)
{
    *count = emu_available() ? 1 : 0;
    return KILN_OK;
}

static kiln_status emu_device_info(int index, kiln_device_info *info)
{
    return device_info_on(kiln_cu_emu(), "cuda-emu", index, info);
}

static kiln_status emu_context_init(kiln_context *ctx, int index) { return context_init_on(kiln_cu_emu(), ctx, index); }

const kiln_backend_vtable kiln_cuda_emu_backend = {
    CUDA_COMMON_ENTRIES,
    .available = emu_available,
    .device_count = emu_device_count,
    .device_info = emu_device_info,
    .context_init = emu_context_init,
};
