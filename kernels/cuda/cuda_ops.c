/* kernels/cuda/cuda_ops.c — the operation interface of the CUDA backend:
 * can_implement, heuristic, prepare and run. run() turns validated op params
 * into the kernel's parameter block (kernels/cuda/templates/cuda_args.h), picks
 * the grid from the spec's tiling (gen/cuda_geometry.h) and enqueues
 * on the context's active stream; nothing synchronizes. */
#include <stdlib.h>
#include <string.h>

#include "gen/cuda_geometry.h"
#include "gen/cuda_heuristic.h"
#include "kernels/cuda/cuda_internal.h"
#include "kernels/cuda/templates/cuda_args.h"

#define SMEM_STATIC_MAX (48 * 1024)

/* ---------------------------------------------------------------- helpers */

static unsigned long long addr(const kiln_tensor *t) { return t->buf->handle + t->offset; }
static unsigned long long addr_opt(const kiln_tensor *t) { return t ? addr(t) : 0; }

/* Rows of a tensor viewed as [rows][last]: the product of the outer dims, with
 * the stride of the second-to-last dim (outer dims are validated contiguous). */
static long long rows_of(const kiln_tensor *t)
{
    long long r = 1;
    for (int d = 0; d < t->ndim - 1; d++) r *= t->ne[d];
    return r;
}
static long long row_stride(const kiln_tensor *t)
{
    return t->ndim >= 2 ? t->nb[t->ndim - 2] : (long long)kiln_tensor_bytes(t);
}
static long long last_dim(const kiln_tensor *t) { return t->ne[t->ndim - 1]; }

/* KILN_T_* of cuda_common.cuh for a float dtype. */
static int type_code(kiln_dtype t) { return t == KILN_F16 ? 1 : t == KILN_BF16 ? 2 : 0; }

static unsigned ceil_div(long long a, long long b) { return (unsigned)((a + b - 1) / b); }

static kiln_status launch(kiln_cuda_ctx *c, CUfunction f, unsigned gx, unsigned gy, unsigned gz, int threads,
                          unsigned smem, void *args, const char *what)
{
    if (gx == 0 || gy == 0 || gz == 0) return KILN_OK; /* empty problem */
    if (gy > 65535 || gz > 65535)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: %s: grid %u x %u x %u exceeds the y/z limit of 65535", what, gx,
                         gy, gz);
    void *params[] = {args};
    CUresult r = c->cu->LaunchKernel(f, gx, gy, gz, (unsigned)threads, 1, 1, smem, c->active, params, NULL);
    if (r != CUDA_SUCCESS) return kiln_fail_prefix(kiln_cu_fail(r, "cuLaunchKernel"), "cuda: launching %s", what);
    return KILN_OK;
}

/* ---------------------------------------------------------------- can_implement */

kiln_status kiln_cuda_can_implement(kiln_context *ctx, const kiln_spec *s)
{
    kiln_cuda_ctx *c = kiln_cuda_of(ctx);
    const kiln_tile *t = &s->tile;
    char name[KILN_SPEC_NAME_MAX];
    kiln_spec_name(s, name, sizeof name);
    if (t->threads < 32 || t->threads > 1024 || t->threads % 32)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: %s: threads=%d, need whole warps up to 1024", name, t->threads);
    unsigned smem = 0, smem_limit = (unsigned)c->smem_optin;
    switch (s->op) {
    case KILN_OP_MATMUL:
        if (t->tn <= 8) {
            smem = kiln_cuda_mv_static_smem(s);
            smem_limit = SMEM_STATIC_MAX;
            if (t->tm > 8)
                return kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: %s: mat-vec tm=%d, at most 8 rows per block", name,
                                 t->tm);
        } else if (kiln_cuda_mm_uses_mma(s)) {
            int wm = kiln_cuda_mm_warps_m(s), wn = kiln_cuda_warps(s) / wm;
            if (t->tm % 16 || t->tk % 16 || t->tn % (8 * wn))
                return kiln_fail(KILN_ERR_UNSUPPORTED,
                                 "cuda: %s: tensor-core tiles need tm, tk multiples of 16 and tn a multiple of %d "
                                 "(8 per warp column)",
                                 name, 8 * wn);
            if ((t->tm / 16 / wm) * (t->tn / 8 / wn) > 32)
                return kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: %s: more than 32 mma fragments per warp", name);
            smem = kiln_cuda_mm_smem(s);
        } else {
            if ((t->tm * t->tn) % t->threads || t->tm * t->tn / t->threads > 64)
                return kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: %s: tm*tn must be a multiple of threads, at most 64 each",
                                 name);
            smem = kiln_cuda_mm_smem(s);
        }
        break;
    case KILN_OP_FLASH_ATTN:
        smem = kiln_cuda_fa_smem(s, kiln_cuda_attn_hd_max(s));
        if (kiln_cuda_fa_queries_per_block(s) / kiln_cuda_warps(s) > 16)
            return kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: %s: tm=%d gives more than 16 queries per warp", name, t->tm);
        break;
    case KILN_OP_PAGED_ATTN:
        smem = kiln_cuda_pa_smem(s, kiln_cuda_attn_hd_max(s));
        break;
    case KILN_OP_NORM:
    case KILN_OP_ROPE:
        break;
    default:
        return kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: op %d has no kernel", (int)s->op);
    }
    if (smem > smem_limit)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: %s needs %u bytes of shared memory, at most %u here", name, smem,
                         smem_limit);
    return KILN_OK;
}

kiln_status kiln_cuda_prepare(kiln_context *ctx, const kiln_spec *spec)
{
    const kiln_cuda_module *m;
    return kiln_cuda_module_get(ctx, spec, &m);
}

/* ---------------------------------------------------------------- heuristic */

kiln_status kiln_cuda_heuristic(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out)
{
    (void)ctx;
    switch (op) {
    case KILN_OP_MATMUL: {
        const kiln_matmul_params *p = params;
        *out = kiln_cuda_matmul_spec(p->w.dtype, p->x.dtype, p->y.dtype, p->epilogue, rows_of(&p->x));
        return KILN_OK;
    }
    case KILN_OP_FLASH_ATTN: {
        const kiln_flash_attn_params *p = params;
        *out = kiln_cuda_flash_spec(p->k.dtype, kiln_cuda_head_dim_of(last_dim(&p->q)));
        out->act = out->out = p->q.dtype;
        return KILN_OK;
    }
    case KILN_OP_PAGED_ATTN: {
        const kiln_paged_attn_params *p = params;
        int hd = kiln_cuda_head_dim_of(last_dim(&p->q));
        *out = kiln_cuda_paged_spec(p->k_cache.dtype, p->q.dtype, hd);
        return KILN_OK;
    }
    case KILN_OP_NORM: {
        const kiln_norm_params *p = params;
        unsigned flags = (p->kind == KILN_NORM_LAYER ? KILN_SPEC_NORM_LAYER : 0u) |
                         (p->residual ? KILN_SPEC_NORM_RESIDUAL : 0u);
        *out = kiln_cuda_norm_spec(p->x.dtype, flags, last_dim(&p->x));
        return KILN_OK;
    }
    case KILN_OP_ROPE: {
        const kiln_rope_params *p = params;
        *out = kiln_cuda_rope_spec(p->k_cache ? p->k_cache->dtype : KILN_DTYPE_COUNT);
        return KILN_OK;
    }
    default:
        return kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: no heuristic for op %d", (int)op);
    }
}

/* ---------------------------------------------------------------- run */

static kiln_status run_matmul(kiln_cuda_ctx *c, const kiln_spec *s, const kiln_cuda_module *m,
                              const kiln_matmul_params *p)
{
    kiln_cu_matmul_args a;
    memset(&a, 0, sizeof a);
    a.x = addr(&p->x);
    a.w = addr(&p->w);
    a.w_up = (s->epilogue & KILN_EPI_SWIGLU) ? addr_opt(p->w_up) : 0;
    a.bias = (s->epilogue & KILN_EPI_BIAS) ? addr_opt(p->bias) : 0;
    a.res = (s->epilogue & KILN_EPI_RESIDUAL) ? addr_opt(p->residual) : 0;
    a.y = addr(&p->y);
    a.x_stride = row_stride(&p->x);
    a.w_stride = row_stride(&p->w);
    a.w_up_stride = a.w_up ? row_stride(p->w_up) : 0;
    a.res_stride = a.res ? row_stride(p->residual) : 0;
    a.y_stride = row_stride(&p->y);
    a.n = (int)rows_of(&p->x);
    a.m = (int)rows_of(&p->w);
    a.k = (int)last_dim(&p->w);
    a.x_vec_ok = a.x % 16 == 0 && a.x_stride % 16 == 0;
    a.scale = p->scale;
    if (((s->epilogue & KILN_EPI_SWIGLU) && !a.w_up) || ((s->epilogue & KILN_EPI_BIAS) && !a.bias) ||
        ((s->epilogue & KILN_EPI_RESIDUAL) && !a.res))
        return kiln_fail(KILN_ERR_INVALID_ARG, "cuda: matmul: the spec's epilogue needs a tensor the params lack");
    if (s->tile.tn <= 8 && kiln_cuda_mv_int8(s->fmt)) {
        /* the int8 mat-vec reads whole words of each block: misaligned ones
         * would fault on the GPU */
        unsigned long long al = (unsigned long long)kiln_cuda_mv_w_align(s->fmt);
        unsigned long long ws = a.m > 1 ? (unsigned long long)a.w_stride : 0, us = a.m > 1 ? (unsigned long long)a.w_up_stride : 0;
        if (a.w % al || ws % al || (a.w_up && (a.w_up % al || us % al)))
            return kiln_fail(KILN_ERR_INVALID_ARG,
                             "cuda: matmul: %s weights (or their rows) start at an offset that is not a multiple of %llu "
                             "bytes",
                             kiln_dtype_get(s->fmt)->name, al);
    }
    if (s->tile.tn <= 8 && m->quantize) {
        /* int8 path: x -> per-32 int8 + f32 (scale, sum) in the workspace, then dp4a */
        a.xq_stride = kiln_cuda_mv_xq_stride(a.k);
        kiln_status st = kiln_cuda_workspace(c, (size_t)a.xq_stride * (size_t)a.n, &a.xq);
        if (st != KILN_OK) return st;
        long long groups = (long long)(a.k / 32) * a.n;
        st = launch(c, m->quantize, ceil_div(groups, m->threads / 32), 1, 1, m->threads, 0, &a,
                    "matmul (quantize x)");
        if (st != KILN_OK) return st;
    }
    if (s->tile.tn <= 8)
        return launch(c, m->main, ceil_div(a.m, kiln_cuda_mv_rows_per_block(s)), ceil_div(a.n, s->tile.tn), 1,
                      m->threads, 0, &a, "matmul (mat-vec)");
    return launch(c, m->main, ceil_div(a.m, s->tile.tm), ceil_div(a.n, s->tile.tn), 1, m->threads,
                  kiln_cuda_mm_smem(s), &a, "matmul");
}

static kiln_status run_flash(kiln_cuda_ctx *c, const kiln_spec *s, const kiln_cuda_module *m,
                             const kiln_flash_attn_params *p)
{
    kiln_cu_flash_args a;
    memset(&a, 0, sizeof a);
    a.q = addr(&p->q), a.k = addr(&p->k), a.v = addr(&p->v), a.o = addr(&p->o);
    a.q_s0 = p->q.nb[0], a.q_s1 = p->q.nb[1];
    a.k_s0 = p->k.nb[0], a.k_s1 = p->k.nb[1];
    a.v_s0 = p->v.nb[0], a.v_s1 = p->v.nb[1];
    a.o_s0 = p->o.nb[0], a.o_s1 = p->o.nb[1];
    a.q_pos0 = p->q_pos0;
    a.n_q = (int)p->q.ne[0], a.n_head = (int)p->q.ne[1], a.head_dim = (int)p->q.ne[2];
    a.n_kv = (int)p->k.ne[0], a.n_kv_head = (int)p->k.ne[1];
    a.causal = p->causal != 0;
    a.scale = p->scale;
    a.q_type = type_code(p->q.dtype), a.o_type = type_code(p->o.dtype);
    if (s->head_dim && s->head_dim != a.head_dim)
        return kiln_fail(KILN_ERR_INVALID_ARG, "cuda: flash_attn: spec hd=%d but the tensors have head_dim %d",
                         s->head_dim, a.head_dim);
    if (a.head_dim > 256)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: flash_attn: head_dim %d, at most 256", a.head_dim);
    return launch(c, m->main, ceil_div(a.n_q, kiln_cuda_fa_queries_per_block(s)), (unsigned)a.n_head, 1, m->threads,
                  kiln_cuda_fa_smem(s, a.head_dim), &a, "flash_attn");
}

static kiln_status run_paged(kiln_cuda_ctx *c, const kiln_spec *s, const kiln_cuda_module *m,
                             const kiln_paged_attn_params *p)
{
    kiln_cu_paged_args a;
    memset(&a, 0, sizeof a);
    a.q = addr(&p->q), a.o = addr(&p->o);
    a.kc = addr(&p->k_cache), a.vc = addr(&p->v_cache);
    a.bt = addr(&p->block_table), a.sl = addr(&p->seq_lens);
    a.q_s0 = p->q.nb[0], a.q_s1 = p->q.nb[1], a.o_s0 = p->o.nb[0], a.o_s1 = p->o.nb[1];
    a.kc_s0 = p->k_cache.nb[0], a.kc_s1 = p->k_cache.nb[1], a.kc_s2 = p->k_cache.nb[2];
    a.vc_s0 = p->v_cache.nb[0], a.vc_s1 = p->v_cache.nb[1], a.vc_s2 = p->v_cache.nb[2];
    a.bt_s0 = row_stride(&p->block_table);
    a.n_seq = (int)p->q.ne[0], a.n_head = (int)p->q.ne[1], a.head_dim = (int)p->q.ne[2];
    a.block_size = (int)p->k_cache.ne[1], a.n_kv_head = (int)p->k_cache.ne[2];
    a.max_blocks = (int)last_dim(&p->block_table);
    a.scale = p->scale;
    a.q_type = type_code(p->q.dtype), a.o_type = type_code(p->o.dtype);
    if (s->head_dim && s->head_dim != a.head_dim)
        return kiln_fail(KILN_ERR_INVALID_ARG, "cuda: paged_attn: spec hd=%d but the tensors have head_dim %d",
                         s->head_dim, a.head_dim);
    if (a.head_dim > 256)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: paged_attn: head_dim %d, at most 256", a.head_dim);

    /* Split the KV range so that the grid fills the GPU about eight times over; the
     * longest possible sequence (the block table's width) sets the split
     * length, since the actual lengths live on the device. */
    const int heads_per_block = kiln_cuda_pa_heads_per_block(s);
    const int group = a.n_head / a.n_kv_head;
    const unsigned groups = ceil_div(group, heads_per_block);
    const long long max_tokens = (long long)a.max_blocks * a.block_size;
    const long long blocks = (long long)a.n_kv_head * groups * a.n_seq;
    long long n_split = s->tile.split;
    if (n_split <= 0) n_split = (8LL * c->sms + blocks - 1) / blocks;
    long long max_split = (max_tokens + 31) / 32; /* at least one 32-token tile per split */
    if (n_split > max_split) n_split = max_split;
    if (n_split > 256) n_split = 256;
    if (n_split < 1) n_split = 1;
    long long split_len = (max_tokens + n_split - 1) / n_split;
    split_len = (split_len + 31) / 32 * 32;
    n_split = (max_tokens + split_len - 1) / split_len;
    a.n_split = (int)n_split;
    a.split_len = (int)split_len;
    if (n_split > 1) {
        size_t bytes = (size_t)a.n_seq * (size_t)a.n_head * (size_t)n_split * (size_t)(a.head_dim + 2) * 4;
        kiln_status st = kiln_cuda_workspace(c, bytes, &a.ws);
        if (st != KILN_OK) return st;
    }
    kiln_status st = launch(c, m->main, (unsigned)(a.n_kv_head * groups), (unsigned)a.n_seq, (unsigned)n_split,
                            m->threads, kiln_cuda_pa_smem(s, a.head_dim), &a, "paged_attn");
    if (st == KILN_OK && n_split > 1)
        st = launch(c, m->combine, (unsigned)a.n_head, (unsigned)a.n_seq, 1, m->threads, 0, &a,
                    "paged_attn (combine)");
    return st;
}

static kiln_status run_norm(kiln_cuda_ctx *c, const kiln_cuda_module *m, const kiln_norm_params *p)
{
    kiln_cu_norm_args a;
    memset(&a, 0, sizeof a);
    a.x = addr(&p->x);
    a.res = addr_opt(p->residual);
    a.w = addr_opt(p->weight);
    a.b = p->kind == KILN_NORM_LAYER ? addr_opt(p->bias) : 0;
    a.sum = addr_opt(p->sum_out);
    a.y = addr(&p->y);
    a.x_s = row_stride(&p->x);
    a.res_s = p->residual ? row_stride(p->residual) : 0;
    a.sum_s = p->sum_out ? row_stride(p->sum_out) : 0;
    a.y_s = row_stride(&p->y);
    long long rows = rows_of(&p->x);
    a.rows = (int)rows;
    a.dim = (int)last_dim(&p->x);
    a.eps = p->eps;
    return launch(c, m->main, (unsigned)rows, 1, 1, m->threads, 0, &a, "norm");
}

static kiln_status run_rope(kiln_cuda_ctx *c, const kiln_spec *s, const kiln_cuda_module *m, const kiln_rope_params *p)
{
    kiln_cu_rope_args a;
    memset(&a, 0, sizeof a);
    a.q = addr(&p->q), a.k = addr(&p->k), a.pos = addr(&p->positions);
    a.q_s0 = p->q.nb[0], a.q_s1 = p->q.nb[1], a.k_s0 = p->k.nb[0], a.k_s1 = p->k.nb[1];
    a.n = (int)p->q.ne[0], a.n_head = (int)p->q.ne[1], a.n_kv_head = (int)p->k.ne[1], a.head_dim = (int)p->q.ne[2];
    a.rope_dim = p->rope_dim, a.neox = p->neox, a.theta = p->theta, a.freq_scale = p->freq_scale;
    if (p->k_cache) {
        /* the cache dtype is compiled in: a spec for another one must not run */
        if (!(s->epilogue & KILN_SPEC_ROPE_KV) || s->fmt != p->k_cache->dtype)
            return kiln_fail(KILN_ERR_INVALID_ARG, "cuda: rope: the call appends to a %s cache but the spec has %s",
                             kiln_dtype_get(p->k_cache->dtype)->name,
                             (s->epilogue & KILN_SPEC_ROPE_KV) ? kiln_dtype_get(s->fmt)->name : "no kv flag");
        a.v = addr(p->v), a.slots = addr(p->slots), a.kc = addr(p->k_cache), a.vc = addr(p->v_cache);
        a.v_s0 = p->v->nb[0], a.v_s1 = p->v->nb[1];
        a.kc_s0 = p->k_cache->nb[0], a.kc_s1 = p->k_cache->nb[1], a.kc_s2 = p->k_cache->nb[2];
        a.vc_s0 = p->v_cache->nb[0], a.vc_s1 = p->v_cache->nb[1], a.vc_s2 = p->v_cache->nb[2];
        a.block_size = (int)p->k_cache->ne[1], a.n_blocks = (int)p->k_cache->ne[0];
    }
    return launch(c, m->main, (unsigned)a.n, 1, 1, m->threads, 0, &a, "rope");
}

kiln_status kiln_cuda_run(kiln_context *ctx, const kiln_spec *spec, const void *params)
{
    kiln_cuda_ctx *c = kiln_cuda_of(ctx);
    const kiln_cuda_module *m;
    /* can_implement ran when the module was built; a cached module passed it. */
    kiln_status st = kiln_cuda_module_get(ctx, spec, &m);
    if (st != KILN_OK) return st;
    if ((st = kiln_cuda_bind(c)) != KILN_OK) return st;
    switch (spec->op) {
    case KILN_OP_MATMUL: return run_matmul(c, spec, m, params);
    case KILN_OP_FLASH_ATTN: return run_flash(c, spec, m, params);
    case KILN_OP_PAGED_ATTN: return run_paged(c, spec, m, params);
    case KILN_OP_NORM: return run_norm(c, m, params);
    case KILN_OP_ROPE: return run_rope(c, spec, m, params);
    default: return kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: op %d has no kernel", (int)spec->op);
    }
}
