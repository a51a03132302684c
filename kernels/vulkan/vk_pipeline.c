/* kernels/vulkan/vk_pipeline.c — from spec to VkPipeline, with the caches.
 *
 *   spec --kiln_gen_emit--> GLSL --spirv_cache (disk) / glslang--> SPIR-V
 *        --vkCreateComputePipelines (VkPipelineCache, saved to disk)--> pipeline
 *
 * Pipelines live in the context, keyed by spec, so the hot path is a list walk.
 * Descriptors are pushed (VK_KHR_push_descriptor): nothing to allocate per
 * dispatch, and nothing that must outlive a caller's command buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/launch.h"
#include "kernels/core/fsutil.h"
#include "kernels/vulkan/spirv_cache.h"
#include "kernels/vulkan/vk_internal.h"
#include "gen/vk_specs.h"

#define KILN_VK_PUSH_BYTES 128u /* the minimum every device guarantees */

uint32_t kiln_vk_op_binding_count(kiln_op op)
{
    static const uint32_t counts[KILN_OP_COUNT] = {
        [KILN_OP_MATMUL] = 6,     /* x w aux bias residual y */
        [KILN_OP_FLASH_ATTN] = 4, /* q k v o */
        [KILN_OP_PAGED_ATTN] = 6, /* q k_cache v_cache block_table seq_lens o */
        [KILN_OP_NORM] = 6,       /* x residual weight bias sum_out y */
        [KILN_OP_ROPE] = 7,       /* positions q k v slots k_cache v_cache */
    };
    return (unsigned)op < KILN_OP_COUNT ? counts[op] : 0;
}

static void load_pipeline_cache_data(kiln_vk_context *vk, void **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!vk->pipeline_cache_path[0]) return;
    void *d = NULL;
    size_t n = 0;
    if (kiln_read_file(vk->pipeline_cache_path, &d, &n) != KILN_OK) {
        kiln_clear_error();
        return;
    }
    /* The header (VkPipelineCacheHeaderVersionOne) must name this device; a
     * driver is allowed to trust the rest, so a stale or corrupt file is dropped. */
    uint32_t hdr[4];
    int ok = n >= 16 + VK_UUID_SIZE;
    if (ok) {
        memcpy(hdr, d, sizeof hdr);
        ok = hdr[0] >= 16 + VK_UUID_SIZE && hdr[1] == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
             hdr[2] == vk->props.vendorID && hdr[3] == vk->props.deviceID &&
             !memcmp((const char *)d + 16, vk->props.pipelineCacheUUID, VK_UUID_SIZE);
    }
    if (!ok) {
        free(d);
        return;
    }
    *data = d;
    *len = n;
}

kiln_status kiln_vk_layouts_create(kiln_vk_context *vk)
{
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        VkDescriptorSetLayoutBinding b[KILN_VK_MAX_BINDINGS];
        uint32_t n = kiln_vk_op_binding_count((kiln_op)op);
        for (uint32_t i = 0; i < n; i++)
            b[i] = (VkDescriptorSetLayoutBinding){
                .binding = i,
                .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                .descriptorCount = 1,
                .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
            };
        VkDescriptorSetLayoutCreateInfo dci = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
            .flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR,
            .bindingCount = n,
            .pBindings = b,
        };
        VkResult r = vk->fd.vkCreateDescriptorSetLayout(vk->device, &dci, NULL, &vk->set_layout[op]);
        if (r != VK_SUCCESS) return kiln_vk_fail_result(r, "vkCreateDescriptorSetLayout");
        VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = KILN_VK_PUSH_BYTES};
        VkPipelineLayoutCreateInfo pci = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
            .setLayoutCount = 1,
            .pSetLayouts = &vk->set_layout[op],
            .pushConstantRangeCount = 1,
            .pPushConstantRanges = &pr,
        };
        r = vk->fd.vkCreatePipelineLayout(vk->device, &pci, NULL, &vk->pipe_layout[op]);
        if (r != VK_SUCCESS) return kiln_vk_fail_result(r, "vkCreatePipelineLayout");
    }
    return KILN_OK;
}

/* Called after the paths are known (context init sets them after layouts). */
static kiln_status ensure_pipeline_cache(kiln_vk_context *vk)
{
    if (vk->pipeline_cache) return KILN_OK;
    void *data = NULL;
    size_t len = 0;
    load_pipeline_cache_data(vk, &data, &len);
    VkPipelineCacheCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
        .initialDataSize = len,
        .pInitialData = data,
    };
    VkResult r = vk->fd.vkCreatePipelineCache(vk->device, &ci, NULL, &vk->pipeline_cache);
    if (r != VK_SUCCESS && data) { /* retry empty: the driver refused the data */
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        r = vk->fd.vkCreatePipelineCache(vk->device, &ci, NULL, &vk->pipeline_cache);
    }
    free(data);
    if (r != VK_SUCCESS) return kiln_vk_fail_result(r, "vkCreatePipelineCache");
    return KILN_OK;
}

void kiln_vk_pipeline_cache_save(kiln_vk_context *vk)
{
    if (!vk->pipeline_cache || !vk->pipeline_cache_path[0] || !vk->pipelines_created) return;
    size_t n = 0;
    if (vk->fd.vkGetPipelineCacheData(vk->device, vk->pipeline_cache, &n, NULL) != VK_SUCCESS || !n) return;
    void *data = malloc(n);
    if (!data) return;
    if (vk->fd.vkGetPipelineCacheData(vk->device, vk->pipeline_cache, &n, data) == VK_SUCCESS)
        (void)kiln_write_file_atomic(vk->pipeline_cache_path, data, n); /* best effort */
    free(data);
}

void kiln_vk_pipelines_destroy(kiln_vk_context *vk)
{
    for (kiln_vk_pipeline *p = vk->pipelines, *next; p; p = next) {
        next = p->next;
        vk->fd.vkDestroyPipeline(vk->device, p->pipeline, NULL);
        free(p);
    }
    vk->pipelines = NULL;
    if (vk->pipeline_cache) vk->fd.vkDestroyPipelineCache(vk->device, vk->pipeline_cache, NULL);
    vk->pipeline_cache = VK_NULL_HANDLE;
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        if (vk->pipe_layout[op]) vk->fd.vkDestroyPipelineLayout(vk->device, vk->pipe_layout[op], NULL);
        if (vk->set_layout[op]) vk->fd.vkDestroyDescriptorSetLayout(vk->device, vk->set_layout[op], NULL);
        vk->pipe_layout[op] = VK_NULL_HANDLE;
        vk->set_layout[op] = VK_NULL_HANDLE;
    }
}

kiln_status kiln_vk_can_implement(kiln_context *ctx, const kiln_spec *spec)
{
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    char text[KILN_SPEC_TEXT_MAX];
    kiln_spec_to_text(spec, text, sizeof text);
    if (spec->backend != KILN_BACKEND_VULKAN)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "vulkan: spec '%s' is not a vulkan spec", text);
    kiln_source src;
    memset(&src, 0, sizeof src);
    kiln_gen_launch_vulkan(spec, &src);
    if ((uint32_t)src.threads[0] > vk->caps.max_invocations || (uint32_t)src.threads[0] > vk->caps.max_group_size[0])
        return kiln_fail(KILN_ERR_UNSUPPORTED, "vulkan: spec '%s' needs %d invocations per workgroup; %s allows %u",
                         text, src.threads[0], ctx->info.name, vk->caps.max_invocations);
    if (src.shared_bytes > vk->caps.max_shared)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "vulkan: spec '%s' needs %u bytes of shared memory; %s has %u", text,
                         src.shared_bytes, ctx->info.name, vk->caps.max_shared);
    /* register arrays of the templates: keep per-invocation state bounded */
    const kiln_tile *t = &spec->tile;
    if (spec->op == KILN_OP_MATMUL) {
        long per_thread = t->tn <= 8 ? (long)t->tm * t->tn : ((long)t->tm * t->tn + t->threads - 1) / t->threads;
        if (per_thread > 64)
            return kiln_fail(KILN_ERR_UNSUPPORTED,
                             "vulkan: spec '%s' gives each invocation %ld accumulators (at most 64)", text, per_thread);
        if (kiln_vk_matmul_uses_coopmat(spec) && !vk->coopmat)
            return kiln_fail(KILN_ERR_UNSUPPORTED,
                             "vulkan: spec '%s' runs on NV cooperative matrices (tn > 8, stages >= 2), which need "
                             "VK_NV_cooperative_matrix (f16 16x16x16), subgroups of 32 and KILN_VULKAN_COOPMAT=1; %s: %s",
                             text, ctx->info.name, vk->caps.coopmat_nv ? "not enabled" : "no such extension");
        if (kiln_vk_matmul_needs_subgroups(spec) && !vk->caps.subgroup_arith)
            return kiln_fail(KILN_ERR_UNSUPPORTED,
                             "vulkan: spec '%s' reduces with subgroup operations (stages >= 2), which %s lacks; "
                             "use stages=1", text, ctx->info.name);
    }
    if ((spec->op == KILN_OP_FLASH_ATTN) && t->tm > t->threads)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "vulkan: spec '%s': flash_attn needs tm <= threads", text);
    return KILN_OK;
}

static kiln_status build_pipeline(kiln_context *ctx, const kiln_spec *spec, kiln_vk_pipeline *p)
{
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    kiln_source src;
    memset(&src, 0, sizeof src);
    kiln_status s = kiln_gen_emit(spec, &src);
    if (s != KILN_OK) return s;
    kiln_spirv_result spv;
    s = kiln_spirv_get(vk->spirv_cache_dir, src.text, src.entry, &spv);
    if (s != KILN_OK) {
        kiln_source_free(&src);
        return s;
    }
    if (!spv.from_cache) __atomic_fetch_add(&vk->spirv_compiles, 1, __ATOMIC_RELAXED); /* precompile: several threads */
    VkShaderModuleCreateInfo mci = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = spv.count * 4,
        .pCode = spv.words,
    };
    VkShaderModule module = VK_NULL_HANDLE;
    VkResult r = vk->fd.vkCreateShaderModule(vk->device, &mci, NULL, &module);
    free(spv.words);
    if (r != VK_SUCCESS) {
        kiln_source_free(&src);
        return kiln_vk_fail_result(r, "vkCreateShaderModule");
    }
    uint32_t local = (uint32_t)src.threads[0];
    VkSpecializationMapEntry entry = {.constantID = 0, .offset = 0, .size = sizeof(uint32_t)};
    VkSpecializationInfo si = {.mapEntryCount = 1, .pMapEntries = &entry, .dataSize = sizeof local, .pData = &local};
    VkComputePipelineCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            .stage = VK_SHADER_STAGE_COMPUTE_BIT,
            .module = module,
            .pName = "main",
            .pSpecializationInfo = &si,
        },
        .layout = vk->pipe_layout[spec->op],
    };
    r = vk->fd.vkCreateComputePipelines(vk->device, vk->pipeline_cache, 1, &pci, NULL, &p->pipeline);
    vk->fd.vkDestroyShaderModule(vk->device, module, NULL);
    if (r != VK_SUCCESS) {
        kiln_status st = kiln_vk_fail_result(r, "vkCreateComputePipelines");
        kiln_fail_prefix(st, "vulkan: pipeline for %s", src.entry);
        kiln_source_free(&src);
        return st;
    }
    p->local_size[0] = local;
    p->local_size[1] = p->local_size[2] = 1;
    __atomic_fetch_add(&vk->pipelines_created, 1, __ATOMIC_RELAXED);
    kiln_source_free(&src);
    return kiln_vk_check_validation(vk, "pipeline creation");
}

/* The context's pipeline for spec, or NULL (pipe_lock held). */
static kiln_vk_pipeline *find_pipeline(kiln_vk_context *vk, const kiln_spec *spec)
{
    for (kiln_vk_pipeline *p = vk->pipelines; p; p = p->next)
        if (kiln_spec_equal(&p->spec, spec)) return p;
    return NULL;
}

kiln_status kiln_vk_pipeline_get(kiln_context *ctx, const kiln_spec *spec, const kiln_vk_pipeline **out)
{
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    pthread_mutex_lock(&vk->pipe_lock);
    kiln_vk_pipeline *known = find_pipeline(vk, spec);
    if (known) {
        *out = known;
        pthread_mutex_unlock(&vk->pipe_lock);
        return KILN_OK;
    }
    kiln_status s = kiln_vk_can_implement(ctx, spec);
    if (s == KILN_OK) s = ensure_pipeline_cache(vk);
    kiln_vk_pipeline *p = NULL;
    if (s == KILN_OK) {
        p = calloc(1, sizeof *p);
        if (!p) s = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "vulkan: out of memory for a pipeline");
    }
    if (s == KILN_OK) {
        p->spec = *spec;
        s = build_pipeline(ctx, spec, p);
        if (s == KILN_OK) {
            p->next = vk->pipelines;
            vk->pipelines = p;
            *out = p;
        } else {
            if (p->pipeline) vk->fd.vkDestroyPipeline(vk->device, p->pipeline, NULL);
            free(p);
        }
    }
    pthread_mutex_unlock(&vk->pipe_lock);
    return s;
}

/* ---- precompile (one spec; kiln_precompile runs several on threads).
 * build_pipeline runs outside pipe_lock here: GLSL -> SPIR-V (glslang,
 * thread-safe once its process tables exist), the disk cache (atomic writes)
 * and vkCreateComputePipelines (the device and the pipeline cache are
 * internally synchronized) all take concurrent callers. The lock only guards
 * the list and the pipeline cache's creation; a spec built twice by a race
 * keeps the first. */
kiln_status kiln_vk_pipelines_precompile(kiln_context *ctx, const kiln_spec *spec)
{
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    pthread_mutex_lock(&vk->pipe_lock);
    kiln_status s = ensure_pipeline_cache(vk);
    int known = find_pipeline(vk, spec) != NULL;
    pthread_mutex_unlock(&vk->pipe_lock);
    if (s != KILN_OK || known) return s;
    if ((s = kiln_vk_can_implement(ctx, spec)) != KILN_OK) return s;
    kiln_vk_pipeline *p = calloc(1, sizeof *p);
    if (!p) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "vulkan: out of memory for a pipeline");
    p->spec = *spec;
    if ((s = build_pipeline(ctx, spec, p)) != KILN_OK) { /* run() will build it again and say why */
        if (p->pipeline) vk->fd.vkDestroyPipeline(vk->device, p->pipeline, NULL);
        free(p);
        return s;
    }
    pthread_mutex_lock(&vk->pipe_lock);
    if (find_pipeline(vk, spec)) {
        vk->fd.vkDestroyPipeline(vk->device, p->pipeline, NULL);
        free(p);
    } else {
        p->next = vk->pipelines;
        vk->pipelines = p;
    }
    pthread_mutex_unlock(&vk->pipe_lock);
    return KILN_OK;
}
