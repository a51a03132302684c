/* kernels/core/ops.c — the spec-level operation interface of
 * include/kiln/kernel.h: can_implement, prepare and run of one given spec.
 * (The op entry points, plan and run, are kernels/core/plan.c.) */
#include "kernels/core/backend.h"

static kiln_status check_spec_for(kiln_context *ctx, const kiln_spec *spec, const char *what)
{
    if (!ctx || !spec) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: NULL argument", what);
    kiln_status st = kiln_spec_validate(spec);
    if (st != KILN_OK) return st;
    if (spec->backend != ctx->vt->kind) {
        char text[KILN_SPEC_TEXT_MAX];
        kiln_spec_to_text(spec, text, sizeof text);
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: spec '%s' is for %s but the context is on %s", what,
                         text, kiln_backend_name(spec->backend), kiln_backend_name(ctx->vt->kind));
    }
    return KILN_OK;
}

kiln_status kiln_kernel_can_implement(kiln_context *ctx, const kiln_spec *spec)
{
    kiln_status st = check_spec_for(ctx, spec, "kiln_kernel_can_implement");
    if (st != KILN_OK) return st;
    return ctx->vt->can_implement ? ctx->vt->can_implement(ctx, spec) : KILN_OK;
}

kiln_status kiln_kernel_prepare(kiln_context *ctx, const kiln_spec *spec)
{
    kiln_status st = kiln_kernel_can_implement(ctx, spec);
    if (st != KILN_OK) return st;
    return ctx->vt->prepare ? ctx->vt->prepare(ctx, spec) : KILN_OK;
}

/* A spec fixes the layout its kernel reads: the weight (or KV) format, the
 * head size of a specialized attention kernel, the norm kind, whether rope
 * appends to a cache. A call whose data has another layout would be read
 * wrongly, past the end of its buffers (a q8_0 kernel over q4_0 weights). */
static kiln_status check_spec_serves(const kiln_spec *spec, const void *params)
{
    const char *op = kiln_op_name(spec->op);
    kiln_dtype data = spec->fmt;
    int64_t hd = 0;
    const char *what = "weights";
    switch (spec->op) {
    case KILN_OP_MATMUL: data = ((const kiln_matmul_params *)params)->w.dtype; break;
    case KILN_OP_FLASH_ATTN: {
        const kiln_flash_attn_params *p = params;
        data = p->k.dtype, hd = p->q.ne[p->q.ndim - 1], what = "k";
        break;
    }
    case KILN_OP_PAGED_ATTN: {
        const kiln_paged_attn_params *p = params;
        data = p->k_cache.dtype, hd = p->q.ne[p->q.ndim - 1], what = "k_cache";
        break;
    }
    case KILN_OP_ROPE: {
        const kiln_rope_params *p = params;
        if (!p->k_cache) return KILN_OK; /* any rope kernel rotates; only the append has a layout */
        if (!(spec->epilogue & KILN_SPEC_ROPE_KV))
            return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_kernel_run: the call appends to a KV cache but the %s spec has no kv flag", op);
        data = p->k_cache->dtype, what = "k_cache";
        break;
    }
    case KILN_OP_NORM: {
        const kiln_norm_params *p = params;
        if ((p->kind == KILN_NORM_LAYER) != !!(spec->epilogue & KILN_SPEC_NORM_LAYER))
            return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_kernel_run: the call asks for %s norm but the spec is for %s norm",
                             p->kind == KILN_NORM_LAYER ? "layer" : "rms",
                             (spec->epilogue & KILN_SPEC_NORM_LAYER) ? "layer" : "rms");
        return KILN_OK; /* the data's dtype is converted by every backend */
    }
    default: return KILN_OK;
    }
    if (data != spec->fmt)
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_kernel_run: the %s spec has fmt=%s but the call's %s are %s", op,
                         kiln_dtype_get(spec->fmt)->name, what, kiln_dtype_get(data)->name);
    if (spec->head_dim && hd != spec->head_dim)
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_kernel_run: the %s spec is for head_dim %d but the call's is %lld", op,
                         spec->head_dim, (long long)hd);
    return KILN_OK;
}

kiln_status kiln_kernel_run(kiln_context *ctx, const kiln_spec *spec, const void *params)
{
    kiln_status st = kiln_kernel_can_implement(ctx, spec);
    if (st != KILN_OK) return st;
    if (!params) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_kernel_run: params is NULL");
    st = kiln_validate_params(ctx, spec->op, params);
    if (st == KILN_OK) st = check_spec_serves(spec, params);
    if (st != KILN_OK) return st;
    return ctx->vt->run(ctx, spec, params);
}
