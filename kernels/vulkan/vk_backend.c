/* kernels/vulkan/vk_backend.c — the kiln_vulkan_backend vtable, device queries,
 * the heuristic spec per call, and the public Vulkan interop entry point. */
#include <string.h>

#include "kernels/vulkan/vk_internal.h"
#include "gen/vk_specs.h"

/* vk_context.c / vk_buffer.c */
kiln_status kiln_vk_context_init(kiln_context *ctx, int index);
void kiln_vk_context_fini(kiln_context *ctx);
kiln_status kiln_vk_synchronize(kiln_context *ctx);
kiln_status kiln_vk_set_queue(kiln_context *ctx, void *queue);
kiln_status kiln_vk_buffer_alloc(kiln_context *ctx, kiln_buffer *buf);
kiln_status kiln_vk_buffer_wrap(kiln_context *ctx, kiln_buffer *buf);
void kiln_vk_buffer_free(kiln_buffer *buf);
kiln_status kiln_vk_buffer_upload(kiln_buffer *buf, size_t off, const void *src, size_t n);
kiln_status kiln_vk_buffer_download(kiln_buffer *buf, size_t off, void *dst, size_t n);

static kiln_status vk_device_count(int *count)
{
    VkInstance inst;
    const kiln_vk_instance_funcs *fi;
    *count = 0;
    kiln_status s = kiln_vk_enum_instance(&inst, &fi);
    if (s != KILN_OK) return s;
    VkPhysicalDevice devs[16];
    uint32_t n = 0;
    s = kiln_vk_physical_devices(inst, fi, devs, 16, &n);
    if (s == KILN_OK) *count = (int)n;
    return s;
}

static int vk_available(void)
{
    int n = 0;
    if (vk_device_count(&n) != KILN_OK) return 0;
    if (n == 0) {
        kiln_fail(KILN_ERR_UNAVAILABLE, "vulkan: the loader works but no device has a compute queue");
        return 0;
    }
    return 1;
}

static kiln_status vk_device_info(int index, kiln_device_info *info)
{
    VkInstance inst;
    const kiln_vk_instance_funcs *fi;
    kiln_status s = kiln_vk_enum_instance(&inst, &fi);
    if (s != KILN_OK) return s;
    VkPhysicalDevice devs[16];
    uint32_t n = 0;
    if ((s = kiln_vk_physical_devices(inst, fi, devs, 16, &n)) != KILN_OK) return s;
    if (index < 0 || (uint32_t)index >= n)
        return kiln_fail(KILN_ERR_UNAVAILABLE, "vulkan: no device vulkan:%d (%u found)", index, n);
    kiln_vk_fill_info(fi, devs[index], index, info);
    return KILN_OK;
}

static kiln_status vk_prepare(kiln_context *ctx, const kiln_spec *spec)
{
    const kiln_vk_pipeline *p;
    return kiln_vk_pipeline_get(ctx, spec, &p);
}

/* ------------------------------------------------------------------ heuristic */

/* The exact spec of a call (dtypes, epilogue, head size) with the default
 * tiles of gen/vk_specs.h: any spec compiles at run time, so the
 * manifest's nearest instance would only be a worse fit. */
static kiln_status vk_heuristic(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out)
{
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    unsigned shared = vk->caps.max_shared;
    switch (op) {
    case KILN_OP_MATMUL: {
        const kiln_matmul_params *p = params;
        *out = kiln_vk_matmul_spec(p->w.dtype, p->x.dtype, p->y.dtype, p->epilogue, (long long)p->x.ne[0]);
        /* queried, not assumed: the fast mat-vec reduces through subgroupAdd
         * where the device has it; 48 KB of shared memory (NVIDIA) takes
         * twice the tokens per mat-mat tile (8 per invocation) */
        if (vk->caps.subgroup_arith && kiln_vk_fast_format(out->fmt) && out->tile.tn <= 8) out->tile.stages = 2;
        if (kiln_vk_fast_format(out->fmt) && out->tile.tn > 8 && shared >= 48u * 1024u) out->tile.tn = 64;
        /* 64 x 64 on four subgroups of NV cooperative matrices, when opted in */
        if (kiln_vk_fast_format(out->fmt) && out->tile.tn > 8 && vk->coopmat)
            out->tile.tm = 64, out->tile.tn = 64, out->tile.threads = 128, out->tile.stages = 2;
        break;
    }
    case KILN_OP_FLASH_ATTN: {
        const kiln_flash_attn_params *p = params;
        *out = kiln_vk_flash_spec(p->k.dtype, p->q.dtype, kiln_vk_head_dim(p->q.ne[2]), shared);
        break;
    }
    case KILN_OP_PAGED_ATTN: {
        const kiln_paged_attn_params *p = params;
        *out = kiln_vk_paged_spec(p->k_cache.dtype, p->q.dtype, kiln_vk_head_dim(p->q.ne[2]));
        break;
    }
    case KILN_OP_NORM: {
        const kiln_norm_params *p = params;
        unsigned flags = (p->kind == KILN_NORM_LAYER ? KILN_SPEC_NORM_LAYER : 0u) |
                         (p->residual ? KILN_SPEC_NORM_RESIDUAL : 0u);
        *out = kiln_vk_norm_spec(p->x.dtype, flags, (long long)p->x.ne[1]);
        break;
    }
    case KILN_OP_ROPE: {
        const kiln_rope_params *p = params;
        *out = kiln_vk_rope_spec(p->k_cache ? p->k_cache->dtype : KILN_DTYPE_COUNT);
        break;
    }
    default:
        return kiln_fail(KILN_ERR_INVALID_ARG, "vulkan: unknown op %d", (int)op);
    }
    return kiln_spec_validate(out);
}

/* ------------------------------------------------------------------ interop */

kiln_status kiln_context_vulkan_handles(kiln_context *ctx, kiln_vulkan_handles *out)
{
    if (!ctx || !out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_context_vulkan_handles: NULL argument");
    if (ctx->vt->kind != KILN_BACKEND_VULKAN)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "kiln_context_vulkan_handles: the context is on %s, not vulkan",
                         kiln_backend_name(ctx->vt->kind));
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    out->instance = (uint64_t)(uintptr_t)vk->instance;
    out->physical_device = (uint64_t)(uintptr_t)vk->phys;
    out->device = (uint64_t)(uintptr_t)vk->device;
    out->queue = (uint64_t)(uintptr_t)vk->queue;
    out->queue_family = vk->queue_family;
    return KILN_OK;
}

const kiln_backend_vtable kiln_vulkan_backend = {
    .kind = KILN_BACKEND_VULKAN,
    .available = vk_available,
    .device_count = vk_device_count,
    .device_info = vk_device_info,
    .context_init = kiln_vk_context_init,
    .context_fini = kiln_vk_context_fini,
    .synchronize = kiln_vk_synchronize,
    .set_queue = kiln_vk_set_queue,
    .buffer_alloc = kiln_vk_buffer_alloc,
    .buffer_wrap = kiln_vk_buffer_wrap,
    .buffer_free = kiln_vk_buffer_free,
    .buffer_upload = kiln_vk_buffer_upload,
    .buffer_download = kiln_vk_buffer_download,
    .can_implement = kiln_vk_can_implement,
    .prepare = vk_prepare,
    .precompile = kiln_vk_pipelines_precompile,
    .run = kiln_vk_run,
    .heuristic = vk_heuristic,
};
