/* kernels/core/choose.c — which spec runs an op call.
 *
 * In order: the autotune cache for this device (autotune/, when it has an
 * entry for the call's shape class), the backend's own heuristic (optional
 * vtable entry), else the closest instance of the manifest, else the
 * generator's default spec for the op. The tuner and heuristics only choose
 * specs; running them is the backend's job. */
#include <string.h>

#include "gen/manifest.h"
#include "kernels/core/backend.h"

/* The autotuner's lookup, when linked in (autotune/). */
kiln_status kiln_tune_lookup(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out)
    __attribute__((weak));

/* The spec fields an op call pins down. */
typedef struct call_key {
    kiln_dtype fmt, act, out;
    unsigned epilogue;
    int head_dim;
    int64_t n; /* matmul: tokens */
} call_key;

static call_key key_of(kiln_op op, const void *params)
{
    call_key k = {0};
    switch (op) {
    case KILN_OP_MATMUL: {
        const kiln_matmul_params *p = params;
        k = (call_key){p->w.dtype, p->x.dtype, p->y.dtype, p->epilogue, 0, p->x.ne[0]};
        break;
    }
    case KILN_OP_FLASH_ATTN: {
        const kiln_flash_attn_params *p = params;
        k = (call_key){p->k.dtype, p->q.dtype, p->o.dtype, 0, (int)p->q.ne[p->q.ndim - 1], 0};
        break;
    }
    case KILN_OP_PAGED_ATTN: {
        const kiln_paged_attn_params *p = params;
        k = (call_key){p->k_cache.dtype, p->q.dtype, p->o.dtype, 0, (int)p->q.ne[p->q.ndim - 1], 0};
        break;
    }
    case KILN_OP_NORM: {
        const kiln_norm_params *p = params;
        unsigned flags = (p->kind == KILN_NORM_LAYER ? KILN_SPEC_NORM_LAYER : 0u) |
                         (p->residual ? KILN_SPEC_NORM_RESIDUAL : 0u);
        k = (call_key){p->x.dtype, p->x.dtype, p->y.dtype, flags, 0, 0};
        break;
    }
    default:
        break;
    }
    return k;
}

/* Higher is closer; -1 when the instance cannot serve the call. */
static int score(const kiln_context *ctx, kiln_op op, const call_key *k, const kiln_spec *s)
{
    if (s->op != op || s->backend != ctx->vt->kind || s->fmt != k->fmt) return -1;
    if (s->backend == KILN_BACKEND_CPU && ctx->isa != KILN_ISA_NONE && s->isa != ctx->isa) return -1;
    if (s->head_dim != 0 && s->head_dim != k->head_dim) return -1;
    int v = 0;
    if (s->head_dim == k->head_dim) v += 16;
    if (s->act == k->act) v += 8;
    if (s->out == k->out) v += 4;
    if (s->epilogue == k->epilogue) v += 2;
    if (op == KILN_OP_MATMUL && ((k->n <= 8) == (s->tile.tn <= 8))) v += 3;
    return v;
}

kiln_status kiln_kernel_choose(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out)
{
    if (!ctx || !params || !out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_kernel_choose: NULL argument");
    kiln_status st = kiln_validate_params(ctx, op, params);
    if (st != KILN_OK) return st;
    if (ctx->opts.use_tuning && kiln_tune_lookup && kiln_tune_lookup(ctx, op, params, out) == KILN_OK)
        return KILN_OK;
    if (ctx->vt->heuristic) return ctx->vt->heuristic(ctx, op, params, out);

    call_key k = key_of(op, params);
    int best = -1;
    for (size_t i = 0, n = kiln_manifest_count(); i < n; i++) {
        const kiln_spec *s = kiln_manifest_get(i);
        int v = score(ctx, op, &k, s);
        if (v > best) {
            best = v;
            *out = *s;
        }
    }
    if (best >= 0) return KILN_OK;

    /* Nothing built in: the generator's default (GPU backends compile any spec). */
    *out = kiln_spec_default(op, ctx->vt->kind, ctx->isa, k.fmt);
    out->act = k.act;
    out->out = k.out;
    out->epilogue = k.epilogue;
    out->head_dim = 0;
    return KILN_OK;
}
