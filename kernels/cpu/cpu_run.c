/* kernels/cpu/cpu_run.c — running a spec on the cpu:
 *   registry lookup -> f16/bf16 inputs to f32 scratch -> kernel phases on the
 *   pool -> f32 outputs back to the caller's dtype.
 * Parameters were validated by kernels/core/validate.c; this file still checks
 * what it relies on (host pointers, ops matching the spec) so nothing it is
 * handed can crash it. */
#include <string.h>

#include "kernels/cpu/cpu_context.h"
#include "kernels/cpu/cpu_convert.h"
#include "kernels/cpu/cpu_registry.h"

/* Per-thread scratch the kernels may assume: the generic matmul dequantizes
 * 4 rows of w and 4 of w_up as f32 (8 k floats, with room to spare); the
 * int8 mat-mat panels take at most 64 KiB whatever k (MM_PANEL_SCRATCH in
 * templates/matmul_panel.c); */
#define MATMUL_THREAD_SCRATCH(k) ((size_t)(k) * 64 + 65536)
/* attention: R = 4 G rows (up to 4 queries per tile, flash's tm, times G =
 * n_head / n_kv_head heads) of head_dim accumulators, a tile of up to 64
 * converted K rows (the spec's tn, at most ATTN_TILE_MAX), one V row, R x 64
 * scores, 2 R softmax states (floats; ATTN_SCRATCH_FLOATS in
 * templates/attn_common.c) */
#define ATTN_THREAD_SCRATCH(hd, G) \
    ((4 * (size_t)(G) * (hd) + 65 * (size_t)(hd) + 4 * 66 * (size_t)(G)) * 4 + 4096)
/* Shared scratch for prepared (quantized) activations: 2 bytes per element + 512 per row. */
#define MATMUL_ACT_SCRATCH(n, k) ((size_t)(n) * ((size_t)(k) * 2 + 512))

typedef struct phase_job {
    kiln_cpu_kernel_fn fn;
    const void *args;
    int phase;
} phase_job;

static void phase_task(void *arg, int task, int ntasks)
{
    const phase_job *j = arg;
    j->fn(j->args, j->phase, task, ntasks);
}

/* work: the op's size in multiply-adds (elements for the light ops); small
 * ops run on fewer tasks, the smallest on the caller alone. */
static void run_phase(kiln_cpu_context *c, kiln_cpu_kernel_fn fn, const void *args, int phase, double work)
{
    phase_job j = {fn, args, phase};
    double per = c->min_task_work > 0 ? (double)c->min_task_work : 1.0, tasks = work / per; /* double: no overflow */
    int threads = kiln_cpu_pool_threads(c->pool);
    kiln_cpu_pool_run_n(c->pool, phase_task, &j, tasks < 1 ? 1 : tasks > threads ? threads : (int)tasks);
}

/* A bump allocator over the context's scratch: regions are sized first, then carved. */
typedef struct arena {
    size_t used;
    unsigned char *base;
} arena;

static size_t arena_reserve(arena *a, size_t bytes)
{
    size_t at = a->used;
    a->used += (bytes + 63) / 64 * 64;
    return at;
}

static int host_ok(const kiln_tensor *t) { return t && t->buf && t->buf->host; }

/* f32 view of t for a kernel: in place, or a region of scratch (filled when load). */
typedef struct f32_view {
    float *ptr;
    int64_t stride;
    int in_place;
    size_t at; /* scratch offset when not in place */
} f32_view;

static void view_plan(f32_view *v, const kiln_tensor *t, arena *a)
{
    memset(v, 0, sizeof *v);
    if (!t) return;
    if (kiln_cpu_f32_in_place(t, &v->stride)) {
        v->in_place = 1;
        v->ptr = (float *)kiln_cpu_row_ptr(t, 0);
        return;
    }
    kiln_cpu_rows r = kiln_cpu_rows_of(t);
    v->stride = r.cols;
    v->at = arena_reserve(a, (size_t)r.rows * (size_t)r.cols * 4);
}

static void view_bind(f32_view *v, const kiln_tensor *t, const arena *a, int load)
{
    if (!t || v->in_place) return;
    v->ptr = (float *)(a->base + v->at);
    if (load) kiln_cpu_to_f32(t, v->ptr);
}

static void view_store(const f32_view *v, const kiln_tensor *t)
{
    if (t && !v->in_place) kiln_cpu_from_f32(v->ptr, t);
}

static kiln_status matmul(kiln_cpu_context *c, kiln_cpu_kernel_fn fn, const kiln_matmul_params *p)
{
    if (!host_ok(&p->x) || !host_ok(&p->w) || !host_ok(&p->y) || p->w.ndim < 1)
        return kiln_fail(KILN_ERR_INVALID_ARG, "cpu matmul: x, w and y need host buffers");
    unsigned epi = p->epilogue;
    if ((epi & KILN_EPI_SWIGLU) && !host_ok(p->w_up)) return kiln_fail(KILN_ERR_INVALID_ARG, "cpu matmul: swiglu without w_up");
    if ((epi & KILN_EPI_BIAS) && (!host_ok(p->bias) || p->bias->dtype != KILN_F32))
        return kiln_fail(KILN_ERR_INVALID_ARG, "cpu matmul: bias epilogue without an f32 bias");
    if ((epi & KILN_EPI_RESIDUAL) && !host_ok(p->residual))
        return kiln_fail(KILN_ERR_INVALID_ARG, "cpu matmul: residual epilogue without a residual");
    kiln_cpu_rows xr = kiln_cpu_rows_of(&p->x);
    int64_t n = xr.rows, k = xr.cols, m = p->w.ndim >= 2 ? p->w.ne[p->w.ndim - 2] : 1;
    if (n <= 0 || m <= 0 || k <= 0) return KILN_OK;
    int threads = kiln_cpu_pool_threads(c->pool);

    arena a = {0, NULL};
    f32_view x, y, res;
    view_plan(&x, &p->x, &a);
    view_plan(&y, &p->y, &a);
    view_plan(&res, (epi & KILN_EPI_RESIDUAL) ? p->residual : NULL, &a);
    size_t act_at = arena_reserve(&a, MATMUL_ACT_SCRATCH(n, k));
    size_t thr_at = arena_reserve(&a, MATMUL_THREAD_SCRATCH(k) * (size_t)threads);
    if (!(a.base = kiln_cpu_scratch(c, a.used))) return KILN_ERR_OUT_OF_MEMORY;
    view_bind(&x, &p->x, &a, 1);
    view_bind(&res, (epi & KILN_EPI_RESIDUAL) ? p->residual : NULL, &a, 1);
    view_bind(&y, &p->y, &a, 0);

    kiln_cpu_matmul_args args = {
        .x = x.ptr, .x_stride = x.stride,
        .w = kiln_cpu_row_ptr(&p->w, 0),
        .w_up = (epi & KILN_EPI_SWIGLU) ? kiln_cpu_row_ptr(p->w_up, 0) : NULL,
        .w_stride = p->w.ndim >= 2 ? p->w.nb[p->w.ndim - 2] : 0,
        .bias = (epi & KILN_EPI_BIAS) ? (const float *)kiln_cpu_row_ptr(p->bias, 0) : NULL,
        .residual = res.ptr, .res_stride = res.stride,
        .y = y.ptr, .y_stride = y.stride,
        .m = m, .n = n, .k = k, .epilogue = epi,
        .scratch = a.base + act_at, .scratch_bytes = MATMUL_ACT_SCRATCH(n, k),
        .thread_scratch = a.base + thr_at, .thread_scratch_bytes = MATMUL_THREAD_SCRATCH(k),
        .scale = p->scale,
    };
    run_phase(c, fn, &args, KILN_CPU_PHASE_PREPARE, (double)n * k);
    run_phase(c, fn, &args, KILN_CPU_PHASE_RUN, (double)n * m * k * ((epi & KILN_EPI_SWIGLU) ? 2 : 1));
    view_store(&y, &p->y);
    return KILN_OK;
}

/* f32 view of a 3-d [tokens][heads][dim] tensor: in place when f32 with float strides. */
static int attn_in_place(const kiln_tensor *t)
{
    return t->dtype == KILN_F32 && t->ndim == 3 && t->nb[0] % 4 == 0 && t->nb[1] % 4 == 0;
}

static kiln_status flash_attn(kiln_cpu_context *c, kiln_cpu_kernel_fn fn, const kiln_flash_attn_params *p)
{
    if (!host_ok(&p->q) || !host_ok(&p->k) || !host_ok(&p->v) || !host_ok(&p->o) || p->q.ndim != 3 || p->k.ndim != 3 ||
        p->v.ndim != 3 || p->o.ndim != 3)
        return kiln_fail(KILN_ERR_INVALID_ARG, "cpu flash_attn: q, k, v, o must be 3-d host tensors");
    int64_t n_q = p->q.ne[0], n_head = p->q.ne[1], hd = p->q.ne[2], n_kv = p->k.ne[0], n_kv_head = p->k.ne[1];
    if (n_q <= 0 || n_head <= 0) return KILN_OK;
    if (n_kv_head <= 0 || n_head % n_kv_head)
        return kiln_fail(KILN_ERR_SHAPE, "cpu flash_attn: %lld heads not a multiple of %lld kv heads", (long long)n_head,
                         (long long)n_kv_head);
    int threads = kiln_cpu_pool_threads(c->pool);
    arena a = {0, NULL};
    int q_in = attn_in_place(&p->q), o_in = attn_in_place(&p->o);
    size_t q_at = q_in ? 0 : arena_reserve(&a, (size_t)(n_q * n_head * hd) * 4);
    size_t o_at = o_in ? 0 : arena_reserve(&a, (size_t)(n_q * n_head * hd) * 4);
    size_t thr_bytes = ATTN_THREAD_SCRATCH(hd, n_head / n_kv_head);
    size_t thr_at = arena_reserve(&a, thr_bytes * (size_t)threads);
    if (!(a.base = kiln_cpu_scratch(c, a.used))) return KILN_ERR_OUT_OF_MEMORY;
    kiln_cpu_flash_attn_args args = {
        .k = kiln_cpu_row_ptr(&p->k, 0), .v = kiln_cpu_row_ptr(&p->v, 0),
        .k_tok = p->k.nb[0], .k_head = p->k.nb[1], .v_tok = p->v.nb[0], .v_head = p->v.nb[1],
        .n_q = n_q, .n_kv = n_kv, .n_head = n_head, .n_kv_head = n_kv_head, .head_dim = hd,
        .scale = p->scale, .causal = p->causal, .q_pos0 = p->q_pos0,
        .thread_scratch = a.base + thr_at, .thread_scratch_bytes = thr_bytes,
    };
    if (q_in) {
        args.q = (const float *)kiln_cpu_row_ptr(&p->q, 0);
        args.q_tok = p->q.nb[0] / 4;
        args.q_head = p->q.nb[1] / 4;
    } else {
        kiln_cpu_to_f32(&p->q, (float *)(a.base + q_at));
        args.q = (const float *)(a.base + q_at);
        args.q_tok = n_head * hd;
        args.q_head = hd;
    }
    if (o_in) {
        args.o = (float *)kiln_cpu_row_ptr(&p->o, 0);
        args.o_tok = p->o.nb[0] / 4;
        args.o_head = p->o.nb[1] / 4;
    } else {
        args.o = (float *)(a.base + o_at);
        args.o_tok = n_head * hd;
        args.o_head = hd;
    }
    run_phase(c, fn, &args, KILN_CPU_PHASE_RUN, (double)n_q * n_kv * n_head * hd * 2);
    if (!o_in) kiln_cpu_from_f32(args.o, &p->o);
    return KILN_OK;
}

static kiln_status paged_attn(kiln_cpu_context *c, kiln_cpu_kernel_fn fn, const kiln_paged_attn_params *p)
{
    if (!host_ok(&p->q) || !host_ok(&p->o) || !host_ok(&p->k_cache) || !host_ok(&p->v_cache) ||
        !host_ok(&p->block_table) || !host_ok(&p->seq_lens) || p->q.ndim != 3 || p->o.ndim != 3 ||
        p->k_cache.ndim != 4 || p->v_cache.ndim != 4 || p->block_table.ndim < 1)
        return kiln_fail(KILN_ERR_INVALID_ARG, "cpu paged_attn: tensors of the wrong rank or without host buffers");
    int64_t n_seq = p->q.ne[0], n_head = p->q.ne[1], hd = p->q.ne[2];
    int64_t n_blocks = p->k_cache.ne[0], block_size = p->k_cache.ne[1], n_kv_head = p->k_cache.ne[2];
    if (n_seq <= 0 || n_head <= 0) return KILN_OK;
    if (n_kv_head <= 0 || n_head % n_kv_head || block_size <= 0)
        return kiln_fail(KILN_ERR_SHAPE, "cpu paged_attn: %lld heads, %lld kv heads, block size %lld", (long long)n_head,
                         (long long)n_kv_head, (long long)block_size);
    int threads = kiln_cpu_pool_threads(c->pool);
    arena a = {0, NULL};
    int q_in = attn_in_place(&p->q), o_in = attn_in_place(&p->o);
    size_t q_at = q_in ? 0 : arena_reserve(&a, (size_t)(n_seq * n_head * hd) * 4);
    size_t o_at = o_in ? 0 : arena_reserve(&a, (size_t)(n_seq * n_head * hd) * 4);
    size_t thr_bytes = ATTN_THREAD_SCRATCH(hd, n_head / n_kv_head);
    size_t thr_at = arena_reserve(&a, thr_bytes * (size_t)threads);
    if (!(a.base = kiln_cpu_scratch(c, a.used))) return KILN_ERR_OUT_OF_MEMORY;
    kiln_cpu_paged_attn_args args = {
        .k = kiln_cpu_row_ptr(&p->k_cache, 0), .v = kiln_cpu_row_ptr(&p->v_cache, 0),
        .k_blk = p->k_cache.nb[0], .k_tok = p->k_cache.nb[1], .k_head = p->k_cache.nb[2],
        .v_blk = p->v_cache.nb[0], .v_tok = p->v_cache.nb[1], .v_head = p->v_cache.nb[2],
        .block_table = (const int32_t *)kiln_cpu_row_ptr(&p->block_table, 0),
        /* int32 entries between sequences; a 1-d table means one sequence */
        .bt_stride = p->block_table.ndim >= 2 ? p->block_table.nb[p->block_table.ndim - 2] / 4 : 0,
        .max_blocks = p->block_table.ne[p->block_table.ndim - 1],
        .seq_lens = (const int32_t *)kiln_cpu_row_ptr(&p->seq_lens, 0),
        .n_seq = n_seq, .n_head = n_head, .n_kv_head = n_kv_head, .head_dim = hd,
        .block_size = block_size, .n_blocks = n_blocks, .scale = p->scale,
        .thread_scratch = a.base + thr_at, .thread_scratch_bytes = thr_bytes,
    };
    if (q_in) {
        args.q = (const float *)kiln_cpu_row_ptr(&p->q, 0);
        args.q_seq = p->q.nb[0] / 4;
        args.q_head = p->q.nb[1] / 4;
    } else {
        kiln_cpu_to_f32(&p->q, (float *)(a.base + q_at));
        args.q = (const float *)(a.base + q_at);
        args.q_seq = n_head * hd;
        args.q_head = hd;
    }
    if (o_in) {
        args.o = (float *)kiln_cpu_row_ptr(&p->o, 0);
        args.o_seq = p->o.nb[0] / 4;
        args.o_head = p->o.nb[1] / 4;
    } else {
        args.o = (float *)(a.base + o_at);
        args.o_seq = n_head * hd;
        args.o_head = hd;
    }
    run_phase(c, fn, &args, KILN_CPU_PHASE_RUN, (double)n_seq * n_head * hd * args.max_blocks * block_size * 2);
    if (!o_in) kiln_cpu_from_f32(args.o, &p->o);
    return KILN_OK;
}

static kiln_status norm(kiln_cpu_context *c, kiln_cpu_kernel_fn fn, const kiln_norm_params *p)
{
    if (!host_ok(&p->x) || !host_ok(&p->y) || (p->residual && !host_ok(p->residual)) ||
        (p->sum_out && !host_ok(p->sum_out)) || (p->weight && !host_ok(p->weight)) || (p->bias && !host_ok(p->bias)))
        return kiln_fail(KILN_ERR_INVALID_ARG, "cpu norm: tensors without host buffers");
    kiln_cpu_rows xr = kiln_cpu_rows_of(&p->x);
    if (xr.rows <= 0 || xr.cols <= 0) return KILN_OK;
    arena a = {0, NULL};
    f32_view x, res, sum, y;
    view_plan(&x, &p->x, &a);
    view_plan(&res, p->residual, &a);
    view_plan(&sum, p->sum_out, &a);
    view_plan(&y, &p->y, &a);
    if (a.used && !(a.base = kiln_cpu_scratch(c, a.used))) return KILN_ERR_OUT_OF_MEMORY;
    view_bind(&x, &p->x, &a, 1);
    view_bind(&res, p->residual, &a, 1);
    view_bind(&sum, p->sum_out, &a, 0);
    view_bind(&y, &p->y, &a, 0);
    kiln_cpu_norm_args args = {
        .x = x.ptr, .x_stride = x.stride,
        .residual = res.ptr, .res_stride = res.stride,
        .sum_out = sum.ptr, .sum_stride = sum.stride,
        .y = y.ptr, .y_stride = y.stride,
        .weight = p->weight ? (const float *)kiln_cpu_row_ptr(p->weight, 0) : NULL,
        .bias = p->bias && p->kind == KILN_NORM_LAYER ? (const float *)kiln_cpu_row_ptr(p->bias, 0) : NULL,
        .rows = xr.rows, .dim = xr.cols, .eps = p->eps,
    };
    run_phase(c, fn, &args, KILN_CPU_PHASE_RUN, (double)xr.rows * xr.cols);
    view_store(&sum, p->sum_out);
    view_store(&y, &p->y);
    return KILN_OK;
}

/* q, k (and v) are f32 with float strides (validated); the caches keep their dtype. */
static kiln_status rope(kiln_cpu_context *c, kiln_cpu_kernel_fn fn, const kiln_spec *spec, const kiln_rope_params *p)
{
    const int append = p->k_cache != NULL;
    if (!host_ok(&p->q) || !host_ok(&p->k) || !host_ok(&p->positions) || p->q.ndim != 3 || p->k.ndim != 3 ||
        (append && (!host_ok(p->v) || !host_ok(p->k_cache) || !host_ok(p->v_cache) || !host_ok(p->slots) ||
                    p->k_cache->ndim != 4 || p->v_cache->ndim != 4)))
        return kiln_fail(KILN_ERR_INVALID_ARG, "cpu rope: tensors of the wrong rank or without host buffers");
    if (append && (!(spec->epilogue & KILN_SPEC_ROPE_KV) || spec->fmt != p->k_cache->dtype))
        return kiln_fail(KILN_ERR_INVALID_ARG, "cpu rope: the call appends to a %s cache but the spec has %s",
                         kiln_dtype_get(p->k_cache->dtype)->name,
                         (spec->epilogue & KILN_SPEC_ROPE_KV) ? kiln_dtype_get(spec->fmt)->name : "no kv flag");
    kiln_cpu_rope_args a = {
        .q = (float *)kiln_cpu_row_ptr(&p->q, 0), .q_tok = p->q.nb[0] / 4, .q_head = p->q.nb[1] / 4,
        .k = (float *)kiln_cpu_row_ptr(&p->k, 0), .k_tok = p->k.nb[0] / 4, .k_head = p->k.nb[1] / 4,
        .positions = (const int32_t *)kiln_cpu_row_ptr(&p->positions, 0),
        .n = p->q.ne[0], .n_head = p->q.ne[1], .n_kv_head = p->k.ne[1], .head_dim = p->q.ne[2],
        .rope_dim = p->rope_dim, .neox = p->neox, .theta = p->theta, .freq_scale = p->freq_scale,
    };
    if (append) {
        a.v = (const float *)kiln_cpu_row_ptr(p->v, 0), a.v_tok = p->v->nb[0] / 4, a.v_head = p->v->nb[1] / 4;
        a.slots = (const int32_t *)kiln_cpu_row_ptr(p->slots, 0);
        a.kc = kiln_cpu_row_ptr(p->k_cache, 0), a.vc = kiln_cpu_row_ptr(p->v_cache, 0);
        a.kc_blk = p->k_cache->nb[0], a.kc_slot = p->k_cache->nb[1], a.kc_head = p->k_cache->nb[2];
        a.vc_blk = p->v_cache->nb[0], a.vc_slot = p->v_cache->nb[1], a.vc_head = p->v_cache->nb[2];
        a.block_size = p->k_cache->ne[1], a.n_blocks = p->k_cache->ne[0];
    }
    if (a.n <= 0) return KILN_OK;
    run_phase(c, fn, &a, KILN_CPU_PHASE_RUN, (double)a.n * (a.n_head + a.n_kv_head) * a.head_dim);
    return KILN_OK;
}

/* kiln_cpu_kernel_find, remembered per context (cpu_context.h): every run
 * looks its spec up twice (can_implement, then the entry). Only successes are
 * kept, so a failure still sets its message. Keys compare by memcmp: bytes
 * that differ only in padding make a miss (a scan), never a wrong hit. */
static const kiln_cpu_registry_entry *find_kernel(kiln_cpu_context *c, const kiln_spec *spec)
{
    const kiln_cpu_registry_entry *e = NULL;
    pthread_mutex_lock(&c->memo_lock);
    for (int i = 0; i < KILN_CPU_MEMO && !e; i++)
        if (c->found[i].used && !memcmp(&c->found[i].spec, spec, sizeof *spec)) e = c->found[i].entry;
    pthread_mutex_unlock(&c->memo_lock);
    if (e || !(e = kiln_cpu_kernel_find(spec))) return e;
    pthread_mutex_lock(&c->memo_lock);
    kiln_cpu_memo *m = &c->found[c->found_next++ % KILN_CPU_MEMO];
    *m = (kiln_cpu_memo){.used = 1, .spec = *spec, .entry = e};
    pthread_mutex_unlock(&c->memo_lock);
    return e;
}

kiln_status kiln_cpu_can_implement(kiln_context *ctx, const kiln_spec *spec)
{
    kiln_cpu_context *c = ctx->impl;
    if (!spec) return kiln_fail(KILN_ERR_INVALID_ARG, "cpu: spec is NULL");
    if (spec->backend != KILN_BACKEND_CPU)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "cpu: spec is for the %s backend", kiln_backend_name(spec->backend));
    if (spec->isa != c->isa)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "cpu: spec is for isa %s but this context runs %s", kiln_isa_name(spec->isa),
                         kiln_isa_name(c->isa));
    return find_kernel(c, spec) ? KILN_OK : KILN_ERR_UNSUPPORTED;
}

/* The registry entry is looked up once per plan (find_kernel: remembered per
 * context); run() plans on each call. */
kiln_status kiln_cpu_plan(kiln_context *ctx, const kiln_spec *spec, const void **kernel)
{
    kiln_status s = kiln_cpu_can_implement(ctx, spec);
    if (s) return s;
    *kernel = find_kernel(ctx->impl, spec);
    return KILN_OK;
}

kiln_status kiln_cpu_run_planned(kiln_context *ctx, const kiln_spec *spec, const void *kernel, const void *params)
{
    kiln_cpu_context *c = ctx->impl;
    const kiln_cpu_registry_entry *e = kernel;
    if (!params || !e) return kiln_fail(KILN_ERR_INVALID_ARG, "cpu: params or kernel is NULL");
    kiln_status s;
    pthread_mutex_lock(&c->lock);
    switch (spec->op) {
    case KILN_OP_MATMUL: s = matmul(c, e->fn, params); break;
    case KILN_OP_FLASH_ATTN: s = flash_attn(c, e->fn, params); break;
    case KILN_OP_PAGED_ATTN: s = paged_attn(c, e->fn, params); break;
    case KILN_OP_ROPE: s = rope(c, e->fn, spec, params); break;
    case KILN_OP_NORM: {
        const kiln_norm_params *p = params;
        if ((p->kind == KILN_NORM_LAYER) != !!(spec->epilogue & KILN_SPEC_NORM_LAYER)) {
            s = kiln_fail(KILN_ERR_INVALID_ARG, "cpu norm: params ask for %s norm but the spec is for %s norm",
                          p->kind == KILN_NORM_LAYER ? "layer" : "rms",
                          (spec->epilogue & KILN_SPEC_NORM_LAYER) ? "layer" : "rms");
            break;
        }
        s = norm(c, e->fn, p);
        break;
    }
    default: s = kiln_fail(KILN_ERR_INVALID_ARG, "cpu: unknown op %d", (int)spec->op);
    }
    pthread_mutex_unlock(&c->lock);
    return s;
}

kiln_status kiln_cpu_run(kiln_context *ctx, const kiln_spec *spec, const void *params)
{
    const void *kernel;
    kiln_status s = kiln_cpu_plan(ctx, spec, &kernel);
    return s ? s : kiln_cpu_run_planned(ctx, spec, kernel, params);
}

/* The built-in kernel for an op call: the instance that serves the call's
 * op/format/epilogue on this context's ISA (the manifest's closest-match
 * scoring cannot know that one cpu instance serves several epilogue sets). */
kiln_status kiln_cpu_heuristic(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out)
{
    kiln_cpu_context *c = ctx->impl;
    kiln_dtype fmt = KILN_F32, act = KILN_F32, outt = KILN_F32;
    unsigned epi = 0;
    int head_dim = 0;
    switch (op) {
    case KILN_OP_MATMUL: {
        const kiln_matmul_params *p = params;
        fmt = p->w.dtype, act = p->x.dtype, outt = p->y.dtype, epi = p->epilogue;
        break;
    }
    case KILN_OP_FLASH_ATTN: {
        const kiln_flash_attn_params *p = params;
        fmt = p->k.dtype, act = p->q.dtype, outt = p->o.dtype;
        head_dim = p->q.ndim ? (int)p->q.ne[p->q.ndim - 1] : 0;
        break;
    }
    case KILN_OP_PAGED_ATTN: {
        const kiln_paged_attn_params *p = params;
        fmt = p->k_cache.dtype, act = p->q.dtype, outt = p->o.dtype;
        head_dim = p->q.ndim ? (int)p->q.ne[p->q.ndim - 1] : 0;
        break;
    }
    case KILN_OP_NORM: {
        const kiln_norm_params *p = params;
        fmt = act = p->x.dtype, outt = p->y.dtype;
        epi = (p->kind == KILN_NORM_LAYER ? KILN_SPEC_NORM_LAYER : 0u) | (p->residual ? KILN_SPEC_NORM_RESIDUAL : 0u);
        break;
    }
    case KILN_OP_ROPE: {
        const kiln_rope_params *p = params;
        fmt = p->k_cache ? p->k_cache->dtype : KILN_F32;
        epi = p->k_cache ? KILN_SPEC_ROPE_KV : 0u;
        break;
    }
    default: return kiln_fail(KILN_ERR_INVALID_ARG, "cpu: unknown op %d", (int)op);
    }
    kiln_spec want = kiln_spec_default(op, KILN_BACKEND_CPU, c->isa, fmt);
    want.act = act;
    want.out = outt;
    want.epilogue = epi;
    if (op == KILN_OP_FLASH_ATTN || op == KILN_OP_PAGED_ATTN) want.head_dim = 0; /* generic kernels serve any */
    (void)head_dim;
    for (size_t i = 0, n = kiln_cpu_kernel_count(); i < n; i++) {
        const kiln_spec *k = kiln_cpu_kernel_spec(i);
        if (k && k->op == op && k->isa == c->isa && (op == KILN_OP_NORM || k->fmt == fmt)) {
            kiln_spec probe = *k;
            /* the instance serves the call if it serves the call's own dtypes and flags */
            probe.act = act, probe.out = outt, probe.epilogue = epi;
            if (op == KILN_OP_NORM) probe.fmt = fmt;
            if (kiln_cpu_kernel_find(&probe) == kiln_cpu_kernel_entry(i)) {
                *out = *k;
                return KILN_OK;
            }
        }
    }
    *out = want; /* nothing built in: run() will say so */
    kiln_clear_error();
    return KILN_OK;
}
