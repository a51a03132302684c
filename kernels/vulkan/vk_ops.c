/* kernels/vulkan/vk_ops.c — recording one op: bindings, push constants, dispatch.
 *
 * Each tensor is bound at its first byte aligned down to
 * minStorageBufferOffsetAlignment; the push constants carry the rest of the
 * offset and the byte strides (layouts of the push blocks: the `pc` structs of
 * kernels/vulkan/templates/<op>.comp, in the same order). Absent optional
 * tensors are bound to the output, which the kernel then never reads. */
#include <string.h>

#include "kernels/vulkan/vk_internal.h"

#define PUSH_WORDS 32

typedef struct op_record {
    VkDescriptorBufferInfo bind[KILN_VK_MAX_BINDINGS];
    uint32_t nbind;
    uint32_t push[PUSH_WORDS];
    uint32_t npush;
} op_record;

static void push_u32(op_record *r, uint64_t v) { r->push[r->npush++] = (uint32_t)v; }
static void push_f32(op_record *r, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    r->push[r->npush++] = u;
}

/* Binds t at binding slot; returns the byte offset of t within the binding. */
static kiln_status bind_tensor(kiln_vk_context *vk, op_record *r, uint32_t slot, const kiln_tensor *t,
                               const char *name, uint32_t *off)
{
    const kiln_buffer *b = t->buf;
    uint64_t abs = (uint64_t)b->handle_offset + t->offset;
    uint64_t base = abs & ~(uint64_t)(vk->caps.storage_align - 1);
    uint64_t delta = abs - base;
    uint64_t span = kiln_tensor_bytes(t);
    uint64_t range = (delta + span + 3u) & ~(uint64_t)3u; /* whole words for the uint views */
    uint64_t end = (uint64_t)b->handle_offset + b->size;
    if (b->owned) end = (uint64_t)b->handle_offset + ((b->size + 15u) & ~(size_t)15u);
    if (base + range > end) range = end - base;
    if (range > vk->caps.max_storage_range || delta + span > UINT32_MAX)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "vulkan: %s spans %llu bytes; the device binds at most %llu", name,
                         (unsigned long long)(delta + span), (unsigned long long)vk->caps.max_storage_range);
    r->bind[slot] = (VkDescriptorBufferInfo){.buffer = (VkBuffer)(uintptr_t)b->handle, .offset = base, .range = range};
    if (slot + 1 > r->nbind) r->nbind = slot + 1;
    *off = (uint32_t)delta;
    return KILN_OK;
}

/* Bind t (or, when NULL, the fallback) and push its offset. */
#define BIND(slot, tensor, name)                                                   \
    do {                                                                           \
        uint32_t off_;                                                             \
        kiln_status st_ = bind_tensor(vk, &rec, slot, tensor, name, &off_);        \
        if (st_ != KILN_OK) return st_;                                            \
        push_u32(&rec, off_);                                                      \
    } while (0)

static kiln_status record_dispatch(kiln_context *ctx, const kiln_vk_pipeline *p, kiln_op op, const op_record *rec,
                                   uint64_t groups)
{
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    if (groups == 0) return KILN_OK;
    uint64_t gx = groups, gy = 1;
    if (gx > vk->caps.max_group_count[0]) {
        gx = vk->caps.max_group_count[0];
        gy = (groups + gx - 1) / gx;
        if (gy > vk->caps.max_group_count[1])
            return kiln_fail(KILN_ERR_UNSUPPORTED, "vulkan: %llu workgroups exceed the device's dispatch limits",
                             (unsigned long long)groups);
    }
    VkCommandBuffer cmd;
    kiln_status s = kiln_vk_begin(vk, &cmd);
    if (s != KILN_OK) return s;
    VkWriteDescriptorSet writes[KILN_VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < rec->nbind; i++)
        writes[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstBinding = i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &rec->bind[i],
        };
    /* earlier transfers and dispatches (kiln's or the caller's) before this one */
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
    };
    vk->fd.vkCmdPipelineBarrier(cmd,
                                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                                    VK_PIPELINE_STAGE_HOST_BIT,
                                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    vk->fd.vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    vk->fd.vkCmdPushDescriptorSetKHR(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vk->pipe_layout[op], 0, rec->nbind, writes);
    vk->fd.vkCmdPushConstants(cmd, vk->pipe_layout[op], VK_SHADER_STAGE_COMPUTE_BIT, 0, PUSH_WORDS * 4, rec->push);
    vk->fd.vkCmdDispatch(cmd, (uint32_t)gx, (uint32_t)gy, 1);
    /* and this one before whatever reads its results next */
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                       VK_ACCESS_HOST_READ_BIT;
    vk->fd.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                                    VK_PIPELINE_STAGE_HOST_BIT,
                                0, 1, &mb, 0, NULL, 0, NULL);
    vk->pending++;
    return KILN_OK;
}

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

/* ------------------------------------------------------------------ matmul */

static kiln_status ensure_scratch(kiln_vk_context *vk, size_t bytes)
{
    if (vk->scratch && vk->scratch_size >= bytes) return KILN_OK;
    if (vk->scratch) {
        if (vk->caller_cmd && vk->n_retired < 16) {
            vk->retired[vk->n_retired] = vk->scratch;
            vk->retired_mem[vk->n_retired++] = vk->scratch_mem;
        } else {
            kiln_status s = kiln_vk_flush(vk);
            if (s != KILN_OK) return s;
            kiln_vk_destroy_buffer(vk, vk->scratch, vk->scratch_mem);
        }
        vk->scratch = VK_NULL_HANDLE;
        vk->scratch_size = 0;
    }
    size_t size = bytes < 65536 ? 65536 : bytes + bytes / 2;
    kiln_status s = kiln_vk_create_buffer(vk, size, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                                          VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, &vk->scratch, &vk->scratch_mem, NULL);
    if (s == KILN_OK) vk->scratch_size = size;
    return s;
}

static kiln_status run_matmul(kiln_context *ctx, const kiln_spec *spec, const kiln_matmul_params *p,
                              const kiln_vk_pipeline *pl)
{
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    const uint64_t n = (uint64_t)p->x.ne[0], k = (uint64_t)p->x.ne[1], m = (uint64_t)p->w.ne[0];
    const int swiglu = (p->epilogue & KILN_EPI_SWIGLU) != 0;
    if (swiglu && n * m * 4 > vk->caps.max_storage_range)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "vulkan: SwiGLU scratch of %llu bytes exceeds the binding limit",
                         (unsigned long long)(n * m * 4));
    if (swiglu) {
        kiln_status s = ensure_scratch(vk, (size_t)(n * m * 4));
        if (s != KILN_OK) return s;
    }
    uint64_t groups_m = ceil_div(m, (uint64_t)spec->tile.tm);
    uint64_t groups = groups_m * ceil_div(n, (uint64_t)spec->tile.tn);
    for (int pass = swiglu ? 1 : 0; pass <= (swiglu ? 2 : 0); pass++) {
        op_record rec = {0};
        push_u32(&rec, m);
        push_u32(&rec, n);
        push_u32(&rec, k);
        BIND(0, &p->x, "x");
        push_u32(&rec, (uint64_t)p->x.nb[0]);
        const kiln_tensor *w = pass == 1 ? p->w_up : &p->w;
        BIND(1, w, "w");
        push_u32(&rec, (uint64_t)w->nb[0]);
        if (swiglu) {
            uint64_t range = vk->scratch_size < vk->caps.max_storage_range ? vk->scratch_size : vk->caps.max_storage_range;
            rec.bind[2] = (VkDescriptorBufferInfo){.buffer = vk->scratch, .offset = 0, .range = range & ~(uint64_t)3};
            push_u32(&rec, 0);
        } else {
            BIND(2, &p->y, "y"); /* unused */
        }
        BIND(3, p->bias ? p->bias : &p->y, "bias");
        BIND(4, p->residual ? p->residual : &p->y, "residual");
        push_u32(&rec, p->residual ? (uint64_t)p->residual->nb[0] : 0);
        BIND(5, &p->y, "y");
        push_u32(&rec, (uint64_t)p->y.nb[0]);
        push_u32(&rec, (uint64_t)pass);
        push_u32(&rec, groups_m);
        push_f32(&rec, p->scale);
        if (groups_m > UINT32_MAX || n > UINT32_MAX || m > UINT32_MAX || k > UINT32_MAX)
            return kiln_fail(KILN_ERR_UNSUPPORTED, "vulkan: matmul sizes beyond 32 bits");
        kiln_status s = record_dispatch(ctx, pl, KILN_OP_MATMUL, &rec, groups);
        if (s != KILN_OK) return s;
    }
    return KILN_OK;
}

/* ------------------------------------------------------------------ norm */

static kiln_status run_norm(kiln_context *ctx, const kiln_norm_params *p, const kiln_vk_pipeline *pl)
{
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    op_record rec = {0};
    uint64_t rows = (uint64_t)p->x.ne[0], dim = (uint64_t)p->x.ne[1];
    push_u32(&rec, rows);
    push_u32(&rec, dim);
    BIND(0, &p->x, "x");
    push_u32(&rec, (uint64_t)p->x.nb[0]);
    BIND(1, p->residual ? p->residual : &p->x, "residual");
    push_u32(&rec, p->residual ? (uint64_t)p->residual->nb[0] : 0);
    BIND(2, p->weight ? p->weight : &p->x, "weight");
    BIND(3, p->bias ? p->bias : &p->x, "bias");
    BIND(4, p->sum_out ? p->sum_out : &p->y, "sum_out");
    push_u32(&rec, p->sum_out ? (uint64_t)p->sum_out->nb[0] : 0);
    BIND(5, &p->y, "y");
    push_u32(&rec, (uint64_t)p->y.nb[0]);
    push_f32(&rec, p->eps);
    push_u32(&rec, (p->weight ? 1u : 0u) | (p->bias ? 2u : 0u) | (p->sum_out ? 4u : 0u));
    return record_dispatch(ctx, pl, KILN_OP_NORM, &rec, rows);
}

/* ------------------------------------------------------------------ attention */

/* o's dtype as the attention templates' KILN_VK_ST_ANY code */
static uint32_t dtype_code(kiln_dtype t) { return t == KILN_F32 ? 0u : t == KILN_F16 ? 1u : 2u; }

static kiln_status run_flash_attn(kiln_context *ctx, const kiln_spec *spec, const kiln_flash_attn_params *p,
                                  const kiln_vk_pipeline *pl)
{
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    op_record rec = {0};
    uint64_t n_q = (uint64_t)p->q.ne[0], n_head = (uint64_t)p->q.ne[1], hd = (uint64_t)p->q.ne[2];
    uint64_t n_kv = (uint64_t)p->k.ne[0], n_kv_head = (uint64_t)p->k.ne[1];
    uint64_t head_max = spec->head_dim > 0 ? (uint64_t)spec->head_dim : 256;
    if (hd > head_max)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "vulkan: flash_attn head_dim %llu exceeds the kernel's %llu",
                         (unsigned long long)hd, (unsigned long long)head_max);
    if (p->q_pos0 < 0 || p->q_pos0 > INT32_MAX)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "vulkan: flash_attn q_pos0=%lld out of range", (long long)p->q_pos0);
    uint64_t groups_q = ceil_div(n_q, (uint64_t)spec->tile.tm);
    push_u32(&rec, n_q);
    push_u32(&rec, n_kv);
    push_u32(&rec, n_head);
    push_u32(&rec, n_kv_head);
    push_u32(&rec, hd);
    BIND(0, &p->q, "q");
    push_u32(&rec, (uint64_t)p->q.nb[0]);
    push_u32(&rec, (uint64_t)p->q.nb[1]);
    BIND(1, &p->k, "k");
    push_u32(&rec, (uint64_t)p->k.nb[0]);
    push_u32(&rec, (uint64_t)p->k.nb[1]);
    BIND(2, &p->v, "v");
    push_u32(&rec, (uint64_t)p->v.nb[0]);
    push_u32(&rec, (uint64_t)p->v.nb[1]);
    BIND(3, &p->o, "o");
    push_u32(&rec, (uint64_t)p->o.nb[0]);
    push_u32(&rec, (uint64_t)p->o.nb[1]);
    push_f32(&rec, p->scale);
    push_u32(&rec, p->causal ? 1u : 0u);
    push_u32(&rec, (uint64_t)p->q_pos0);
    push_u32(&rec, groups_q);
    push_u32(&rec, dtype_code(p->o.dtype));
    push_u32(&rec, (uint64_t)kiln_dtype_get(p->o.dtype)->block_bytes);
    return record_dispatch(ctx, pl, KILN_OP_FLASH_ATTN, &rec, groups_q * n_head);
}

static kiln_status run_paged_attn(kiln_context *ctx, const kiln_spec *spec, const kiln_paged_attn_params *p,
                                  const kiln_vk_pipeline *pl)
{
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    op_record rec = {0};
    uint64_t n_seq = (uint64_t)p->q.ne[0], n_head = (uint64_t)p->q.ne[1], hd = (uint64_t)p->q.ne[2];
    uint64_t block_size = (uint64_t)p->k_cache.ne[1], n_kv_head = (uint64_t)p->k_cache.ne[2];
    uint64_t head_max = spec->head_dim > 0 ? (uint64_t)spec->head_dim : 256;
    if (hd > head_max)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "vulkan: paged_attn head_dim %llu exceeds the kernel's %llu",
                         (unsigned long long)hd, (unsigned long long)head_max);
    push_u32(&rec, n_seq);
    push_u32(&rec, n_head);
    push_u32(&rec, n_kv_head);
    push_u32(&rec, hd);
    push_u32(&rec, block_size);
    push_u32(&rec, (uint64_t)p->block_table.ne[1]);
    BIND(0, &p->q, "q");
    push_u32(&rec, (uint64_t)p->q.nb[0]);
    push_u32(&rec, (uint64_t)p->q.nb[1]);
    BIND(1, &p->k_cache, "k_cache");
    push_u32(&rec, (uint64_t)p->k_cache.nb[0]);
    push_u32(&rec, (uint64_t)p->k_cache.nb[1]);
    push_u32(&rec, (uint64_t)p->k_cache.nb[2]);
    BIND(2, &p->v_cache, "v_cache");
    push_u32(&rec, (uint64_t)p->v_cache.nb[0]);
    push_u32(&rec, (uint64_t)p->v_cache.nb[1]);
    push_u32(&rec, (uint64_t)p->v_cache.nb[2]);
    BIND(3, &p->block_table, "block_table");
    push_u32(&rec, (uint64_t)p->block_table.nb[0]);
    BIND(4, &p->seq_lens, "seq_lens");
    BIND(5, &p->o, "o");
    push_u32(&rec, (uint64_t)p->o.nb[0]);
    push_u32(&rec, (uint64_t)p->o.nb[1]);
    push_f32(&rec, p->scale);
    push_u32(&rec, dtype_code(p->o.dtype));
    push_u32(&rec, (uint64_t)kiln_dtype_get(p->o.dtype)->block_bytes);
    return record_dispatch(ctx, pl, KILN_OP_PAGED_ATTN, &rec, n_seq * n_head);
}

/* ------------------------------------------------------------------ rope */

static kiln_status run_rope(kiln_context *ctx, const kiln_rope_params *p, const kiln_vk_pipeline *pl)
{
    kiln_vk_context *vk = kiln_vk_ctx(ctx);
    op_record rec = {0};
    const int append = p->k_cache != NULL;
    push_u32(&rec, (uint64_t)p->q.ne[0]);
    push_u32(&rec, (uint64_t)p->q.ne[1]);
    push_u32(&rec, (uint64_t)p->k.ne[1]);
    push_u32(&rec, (uint64_t)p->q.ne[2]);
    push_u32(&rec, (uint64_t)p->rope_dim);
    push_u32(&rec, p->neox ? 1u : 0u);
    push_f32(&rec, p->theta);
    push_f32(&rec, p->freq_scale);
    BIND(0, &p->positions, "positions");
    BIND(1, &p->q, "q");
    push_u32(&rec, (uint64_t)p->q.nb[0]);
    push_u32(&rec, (uint64_t)p->q.nb[1]);
    BIND(2, &p->k, "k");
    push_u32(&rec, (uint64_t)p->k.nb[0]);
    push_u32(&rec, (uint64_t)p->k.nb[1]);
    /* without the append, v/slots/caches are bound to inputs the kernel never reads past its flag */
    const kiln_tensor *v = append ? p->v : &p->k, *slots = append ? p->slots : &p->positions;
    const kiln_tensor *kc = append ? p->k_cache : &p->k, *vc = append ? p->v_cache : &p->k;
    BIND(3, v, "v");
    push_u32(&rec, (uint64_t)v->nb[0]);
    push_u32(&rec, (uint64_t)v->nb[1]);
    BIND(4, slots, "slots");
    BIND(5, kc, "k_cache");
    push_u32(&rec, append ? (uint64_t)kc->nb[0] : 0);
    push_u32(&rec, append ? (uint64_t)kc->nb[1] : 0);
    push_u32(&rec, append ? (uint64_t)kc->nb[2] : 0);
    BIND(6, vc, "v_cache");
    push_u32(&rec, append ? (uint64_t)vc->nb[0] : 0);
    push_u32(&rec, append ? (uint64_t)vc->nb[1] : 0);
    push_u32(&rec, append ? (uint64_t)vc->nb[2] : 0);
    push_u32(&rec, append ? (uint64_t)kc->ne[1] : 1);
    push_u32(&rec, append ? (uint64_t)kc->ne[0] : 0);
    push_u32(&rec, append ? 1u : 0u);
    return record_dispatch(ctx, pl, KILN_OP_ROPE, &rec, (uint64_t)p->q.ne[0]);
}

/* ------------------------------------------------------------------ entry */

/* The spec must describe the call it runs: the dtypes are compiled in. */
static kiln_status check_spec_matches(const kiln_spec *s, const void *params)
{
    kiln_dtype fmt = s->fmt, act = s->act, out = s->out;
    unsigned epi = s->epilogue;
    switch (s->op) {
    case KILN_OP_MATMUL: {
        const kiln_matmul_params *p = params;
        fmt = p->w.dtype, act = p->x.dtype, out = p->y.dtype, epi = p->epilogue;
        break;
    }
    case KILN_OP_FLASH_ATTN: {
        const kiln_flash_attn_params *p = params;
        fmt = p->k.dtype, act = p->q.dtype; /* o's dtype is a push constant */
        break;
    }
    case KILN_OP_PAGED_ATTN: {
        const kiln_paged_attn_params *p = params;
        fmt = p->k_cache.dtype, act = p->q.dtype; /* o's dtype is a push constant */
        if (s->head_dim && s->head_dim != p->q.ne[2]) fmt = KILN_DTYPE_COUNT;
        break;
    }
    case KILN_OP_NORM: {
        const kiln_norm_params *p = params;
        fmt = act = p->x.dtype, out = p->y.dtype;
        epi = (p->kind == KILN_NORM_LAYER ? KILN_SPEC_NORM_LAYER : 0u) | (p->residual ? KILN_SPEC_NORM_RESIDUAL : 0u);
        break;
    }
    case KILN_OP_ROPE: {
        const kiln_rope_params *p = params;
        fmt = p->k_cache ? p->k_cache->dtype : KILN_F32, act = out = KILN_F32;
        epi = p->k_cache ? KILN_SPEC_ROPE_KV : 0u;
        break;
    }
    default: break;
    }
    if (fmt != s->fmt || act != s->act || out != s->out || epi != s->epilogue) {
        char text[KILN_SPEC_TEXT_MAX];
        kiln_spec_to_text(s, text, sizeof text);
        return kiln_fail(KILN_ERR_INVALID_ARG,
                         "vulkan: spec '%s' does not match the call (fmt %s, act %s, out %s, flags 0x%x)", text,
                         kiln_dtype_get(fmt) ? kiln_dtype_get(fmt)->name : "?", kiln_dtype_get(act)->name,
                         kiln_dtype_get(out)->name, epi);
    }
    return KILN_OK;
}

kiln_status kiln_vk_run(kiln_context *ctx, const kiln_spec *spec, const void *params)
{
    kiln_status s = check_spec_matches(spec, params);
    if (s != KILN_OK) return s;
    const kiln_vk_pipeline *pl = NULL;
    if ((s = kiln_vk_pipeline_get(ctx, spec, &pl)) != KILN_OK) return s;
    switch (spec->op) {
    case KILN_OP_MATMUL: s = run_matmul(ctx, spec, params, pl); break;
    case KILN_OP_FLASH_ATTN: s = run_flash_attn(ctx, spec, params, pl); break;
    case KILN_OP_PAGED_ATTN: s = run_paged_attn(ctx, spec, params, pl); break;
    case KILN_OP_NORM: s = run_norm(ctx, params, pl); break;
    case KILN_OP_ROPE: s = run_rope(ctx, params, pl); break;
    default: s = kiln_fail(KILN_ERR_INVALID_ARG, "vulkan: unknown op %d", (int)spec->op);
    }
    if (s != KILN_OK) return s;
    return kiln_vk_check_validation(kiln_vk_ctx(ctx), kiln_op_name(spec->op));
}
