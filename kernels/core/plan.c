/* kernels/core/plan.c — the op entry points: plans, their runs, and the
 * one-call ops.
 *
 * A plan does once what a one-call op does on every call: validate the
 * shapes, choose the spec (kernels/core/choose.c), have the backend compile,
 * load and find its kernel. A run checks that the call has the planned shapes
 * and that its tensors lie in their buffers, then launches under the
 * context's run lock, on the call's stream when it gives one. A one-call op is
 * the same steps with the plan on the stack. */
#include <stddef.h>
#include <stdlib.h>

#include "kernels/core/backend.h"

/* Where an op's params keep their tensors: a kiln_tensor, or (optional) a
 * const kiln_tensor * that may be NULL. */
typedef struct tensor_slot {
    const char *name;
    size_t offset;
    int optional;
} tensor_slot;

/* A scalar field that decides the kernel (the epilogue, the norm kind). */
typedef struct scalar_slot {
    const char *name;
    size_t offset, bytes;
} scalar_slot;

#define MAX_SLOTS 8
typedef struct op_desc {
    const char *name;           /* of its entry point */
    size_t params_bytes;
    tensor_slot tensors[MAX_SLOTS];
    scalar_slot scalar;         /* bytes 0: none */
} op_desc;

#define T(type, f) {#f, offsetof(type, f), 0}
#define OPT(type, f) {#f, offsetof(type, f), 1}
static const op_desc ops[KILN_OP_COUNT] = {
    [KILN_OP_MATMUL] = {"kiln_matmul", sizeof(kiln_matmul_params),
                        {T(kiln_matmul_params, x), T(kiln_matmul_params, w), OPT(kiln_matmul_params, w_up),
                         OPT(kiln_matmul_params, bias), OPT(kiln_matmul_params, residual), T(kiln_matmul_params, y)},
                        {"epilogue", offsetof(kiln_matmul_params, epilogue), sizeof(unsigned)}},
    [KILN_OP_FLASH_ATTN] = {"kiln_flash_attn", sizeof(kiln_flash_attn_params),
                            {T(kiln_flash_attn_params, q), T(kiln_flash_attn_params, k), T(kiln_flash_attn_params, v),
                             T(kiln_flash_attn_params, o)},
                            {0}},
    [KILN_OP_PAGED_ATTN] = {"kiln_paged_attn", sizeof(kiln_paged_attn_params),
                            {T(kiln_paged_attn_params, q), T(kiln_paged_attn_params, o), T(kiln_paged_attn_params, k_cache),
                             T(kiln_paged_attn_params, v_cache), T(kiln_paged_attn_params, block_table),
                             T(kiln_paged_attn_params, seq_lens)},
                            {0}},
    [KILN_OP_NORM] = {"kiln_norm", sizeof(kiln_norm_params),
                      {T(kiln_norm_params, x), OPT(kiln_norm_params, residual), OPT(kiln_norm_params, weight),
                       OPT(kiln_norm_params, bias), OPT(kiln_norm_params, sum_out), T(kiln_norm_params, y)},
                      {"kind", offsetof(kiln_norm_params, kind), sizeof(kiln_norm_kind)}},
    [KILN_OP_ROPE] = {"kiln_rope", sizeof(kiln_rope_params),
                      {T(kiln_rope_params, q), T(kiln_rope_params, k), T(kiln_rope_params, positions),
                       OPT(kiln_rope_params, v), OPT(kiln_rope_params, k_cache), OPT(kiln_rope_params, v_cache),
                       OPT(kiln_rope_params, slots)},
                      {0}},
};
#undef T
#undef OPT

/* The tensor of a slot in params, or NULL for an optional one not given. */
static const kiln_tensor *slot_tensor(const void *params, const tensor_slot *s)
{
    const char *at = (const char *)params + s->offset;
    if (!s->optional) return (const kiln_tensor *)at;
    const kiln_tensor *t;
    memcpy(&t, at, sizeof t);
    return t;
}

/* Immutable once made: runs only read it, from any number of threads. */
struct kiln_plan {
    kiln_context *ctx;
    kiln_op op;
    kiln_spec spec;
    const void *kernel;         /* the backend's handle (vtable plan), or NULL */
    size_t workspace_bytes;
    kiln_tensor shape[MAX_SLOTS];
    unsigned char present[MAX_SLOTS];
    unsigned char scalar[16];
};

/* The params as this build knows them (kiln.h, Conventions: size). */
static kiln_status read_params(kiln_op op, const void *params, void *local, const void **out)
{
    if (!params) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: params is NULL", ops[op].name);
    return kiln_struct_read(params, ops[op].params_bytes, local, out, ops[op].name);
}

typedef union any_params {
    kiln_matmul_params mm;
    kiln_flash_attn_params fa;
    kiln_paged_attn_params pa;
    kiln_norm_params nm;
    kiln_rope_params rp;
} any_params;

/* One launch at a time per context; a call's own stream for this launch only. */
static kiln_status launch(kiln_context *ctx, const kiln_spec *spec, const void *kernel, const void *params, void *stream)
{
    const kiln_backend_vtable *vt = ctx->vt;
    kiln_status st = KILN_OK;
    pthread_mutex_lock(&ctx->run_lock);
    if (stream) st = vt->set_queue(ctx, stream);
    if (st == KILN_OK) st = vt->run_planned ? vt->run_planned(ctx, spec, kernel, params) : vt->run(ctx, spec, params);
    if (stream) vt->set_queue(ctx, ctx->queue);
    pthread_mutex_unlock(&ctx->run_lock);
    return st;
}

static kiln_status run_once(kiln_context *ctx, kiln_op op, const void *params)
{
    if (!ctx) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: ctx is NULL", ops[op].name);
    any_params local;
    const void *p = NULL;
    kiln_status st = read_params(op, params, &local, &p);
    if (st == KILN_OK) st = kiln_validate_params(ctx, op, p);
    kiln_spec spec;
    const void *kernel = NULL;
    if (st == KILN_OK) st = kiln_choose_validated(ctx, op, p, &spec, &kernel);
    return st == KILN_OK ? launch(ctx, &spec, kernel, p, NULL) : st;
}

kiln_status kiln_matmul(kiln_context *ctx, const kiln_matmul_params *p) { return run_once(ctx, KILN_OP_MATMUL, p); }
kiln_status kiln_flash_attn(kiln_context *ctx, const kiln_flash_attn_params *p) { return run_once(ctx, KILN_OP_FLASH_ATTN, p); }
kiln_status kiln_paged_attn(kiln_context *ctx, const kiln_paged_attn_params *p) { return run_once(ctx, KILN_OP_PAGED_ATTN, p); }
kiln_status kiln_norm(kiln_context *ctx, const kiln_norm_params *p) { return run_once(ctx, KILN_OP_NORM, p); }
kiln_status kiln_rope(kiln_context *ctx, const kiln_rope_params *p) { return run_once(ctx, KILN_OP_ROPE, p); }

static kiln_status plan_create(kiln_context *ctx, kiln_op op, const void *params, kiln_plan **out)
{
    const char *what = ops[op].name;
    if (!out) return kiln_fail(KILN_ERR_INVALID_ARG, "%s_plan: out is NULL", what);
    *out = NULL;
    if (!ctx) return kiln_fail(KILN_ERR_INVALID_ARG, "%s_plan: ctx is NULL", what);
    any_params local;
    const void *p = NULL;
    kiln_status st = read_params(op, params, &local, &p);
    if (st == KILN_OK) st = kiln_validate_shapes(ctx, op, p);
    if (st != KILN_OK) return st;
    kiln_plan *pl = calloc(1, sizeof *pl);
    if (!pl) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s_plan: out of memory", what);
    pl->ctx = ctx;
    pl->op = op;
    st = kiln_choose_validated(ctx, op, p, &pl->spec, NULL);
    if (st == KILN_OK) st = kiln_kernel_prepare(ctx, &pl->spec); /* compiled and loaded now, not on the first run */
    if (st == KILN_OK && ctx->vt->plan) st = ctx->vt->plan(ctx, &pl->spec, &pl->kernel);
    if (st != KILN_OK) {
        free(pl);
        return kiln_fail_prefix(st, "%s_plan", what);
    }
    const op_desc *d = &ops[op];
    for (int i = 0; i < MAX_SLOTS && d->tensors[i].name; i++) {
        const kiln_tensor *t = slot_tensor(p, &d->tensors[i]);
        if (t) pl->shape[i] = *t, pl->present[i] = 1;
    }
    if (d->scalar.bytes) memcpy(pl->scalar, (const char *)p + d->scalar.offset, d->scalar.bytes);
    *out = pl;
    return KILN_OK;
}

kiln_status kiln_matmul_plan(kiln_context *ctx, const kiln_matmul_params *shapes, kiln_plan **out)
{
    return plan_create(ctx, KILN_OP_MATMUL, shapes, out);
}
kiln_status kiln_flash_attn_plan(kiln_context *ctx, const kiln_flash_attn_params *shapes, kiln_plan **out)
{
    return plan_create(ctx, KILN_OP_FLASH_ATTN, shapes, out);
}
kiln_status kiln_paged_attn_plan(kiln_context *ctx, const kiln_paged_attn_params *shapes, kiln_plan **out)
{
    return plan_create(ctx, KILN_OP_PAGED_ATTN, shapes, out);
}
kiln_status kiln_norm_plan(kiln_context *ctx, const kiln_norm_params *shapes, kiln_plan **out)
{
    return plan_create(ctx, KILN_OP_NORM, shapes, out);
}
kiln_status kiln_rope_plan(kiln_context *ctx, const kiln_rope_params *shapes, kiln_plan **out)
{
    return plan_create(ctx, KILN_OP_ROPE, shapes, out);
}

void kiln_plan_destroy(kiln_plan *plan) { free(plan); }

size_t kiln_plan_workspace_size(const kiln_plan *plan) { return plan ? plan->workspace_bytes : 0; }

kiln_status kiln_plan_spec(const kiln_plan *plan, kiln_spec *out)
{
    if (!plan || !out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_plan_spec: NULL argument");
    *out = plan->spec;
    return KILN_OK;
}

/* The kernel was chosen for the planned shapes: the call must have them. */
static kiln_status check_planned(const kiln_plan *pl, const void *p)
{
    const op_desc *d = &ops[pl->op];
    for (int i = 0; i < MAX_SLOTS && d->tensors[i].name; i++) {
        const kiln_tensor *t = slot_tensor(p, &d->tensors[i]), *want = &pl->shape[i];
        if (!t != !pl->present[i])
            return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_plan_run: %s is %s but the %s plan was made %s it", d->tensors[i].name,
                             t ? "set" : "NULL", kiln_op_name(pl->op), t ? "without" : "with");
        if (!t) continue;
        int same = t->dtype == want->dtype && t->ndim == want->ndim && t->ndim >= 1 && t->ndim <= KILN_MAX_DIMS;
        for (int k = 0; same && k < t->ndim; k++) same = t->ne[k] == want->ne[k] && t->nb[k] == want->nb[k];
        if (!same)
            return kiln_fail(KILN_ERR_SHAPE, "kiln_plan_run: %s has another dtype, shape or strides than the %s plan was made for",
                             d->tensors[i].name, kiln_op_name(pl->op));
    }
    if (d->scalar.bytes && memcmp(pl->scalar, (const char *)p + d->scalar.offset, d->scalar.bytes))
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_plan_run: %s differs from the one the %s plan was made for",
                         d->scalar.name, kiln_op_name(pl->op));
    return KILN_OK;
}

kiln_status kiln_plan_run(const kiln_plan *plan, const void *params, void *stream, kiln_buffer *workspace)
{
    if (!plan) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_plan_run: plan is NULL");
    kiln_context *ctx = plan->ctx;
    any_params local;
    const void *p = NULL;
    kiln_status st = read_params(plan->op, params, &local, &p);
    if (st == KILN_OK) st = check_planned(plan, p);
    /* the buffers: where each tensor lies, what may overlap (the shapes are the planned ones) */
    if (st == KILN_OK) st = kiln_validate_params(ctx, plan->op, p);
    if (st != KILN_OK) return st;
    if (workspace && (workspace->ctx != ctx || workspace->size < plan->workspace_bytes))
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_plan_run: the workspace %s", workspace->ctx != ctx
                             ? "belongs to another context" : "is smaller than kiln_plan_workspace_size()");
    if (stream && !ctx->vt->set_queue)
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_plan_run: the %s backend takes no stream (pass NULL)",
                         kiln_backend_name(ctx->vt->kind));
    return launch(ctx, &plan->spec, plan->kernel, p, stream);
}
