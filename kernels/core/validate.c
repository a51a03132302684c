/* kernels/core/validate.c — parameter validation shared by every backend.
 *
 * kiln_validate_params() runs before any spec is chosen or any kernel runs, so
 * a backend may assume: every tensor lies inside its buffer, on the calling
 * context, with the documented ndim, matching shapes, allowed dtypes, an
 * innermost dimension that is contiguous and a whole number of blocks, strides
 * and offsets aligned to the dtype's natural alignment, and outputs that do not
 * overlap inputs except where the op's contract allows aliasing. Every failure
 * is KILN_ERR_INVALID_ARG (wrong kind of argument) or KILN_ERR_SHAPE (sizes
 * that do not fit together) with a message naming the op, the parameter and
 * the numbers. Nothing is read from device memory; values inside the paged
 * attention tables and rope's slots are checked only when they are
 * host-visible (cpu). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gen/epilogue.h"
#include "kernels/core/backend.h"

#define LL(x) ((long long)(x))

/* What a check is for: a call on ctx, or (shapes_only) the shapes of a plan,
 * whose tensors may have no buffer yet. */
typedef struct checking {
    kiln_context *ctx;
    int shapes_only;
} checking;

static const char *dname(kiln_dtype t)
{
    const kiln_dtype_info *info = kiln_dtype_get(t);
    return info ? info->name : "unknown dtype";
}

static int is_act(kiln_dtype t) { return t == KILN_F32 || t == KILN_F16 || t == KILN_BF16; }

/* Alignment every block of a contiguous row keeps: gcd(block bytes, 4). */
static size_t natural_align(kiln_dtype t)
{
    const kiln_dtype_info *info = kiln_dtype_get(t);
    int b = info->block_bytes;
    return (b % 4 == 0) ? 4 : (b % 2 == 0) ? 2 : 1;
}

/* Everything about one tensor that does not depend on the others. */
static kiln_status check_tensor(const checking *ck, const char *op, const char *name,
                                const kiln_tensor *t, int ndim)
{
    if (!t) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: %s is NULL", op, name);
    if (!t->buf && !ck->shapes_only) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: %s has no buffer", op, name);
    if (t->buf && t->buf->ctx != ck->ctx)
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s: %s's buffer belongs to another context", op, name);
    const kiln_dtype_info *info = kiln_dtype_get(t->dtype);
    if (!info) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: %s has an unknown dtype %d", op, name, (int)t->dtype);
    if (t->ndim != ndim)
        return kiln_fail(KILN_ERR_SHAPE, "%s: %s has ndim=%d, expected %d", op, name, t->ndim, ndim);
    for (int d = 0; d < ndim; d++)
        if (t->ne[d] < 1)
            return kiln_fail(KILN_ERR_SHAPE, "%s: %s has ne[%d]=%lld, expected >= 1", op, name, d, LL(t->ne[d]));
    const int64_t row_len = t->ne[ndim - 1];
    const size_t row = kiln_row_bytes(t->dtype, row_len);
    if (row == 0)
        return kiln_fail(KILN_ERR_SHAPE, "%s: %s rows have %lld elements, not a multiple of %s's block of %d",
                         op, name, LL(row_len), info->name, info->block_elems);
    if (t->nb[ndim - 1] != info->block_bytes)
        return kiln_fail(KILN_ERR_SHAPE, "%s: %s innermost stride is %lld bytes; it must be contiguous (%d bytes per %s %s)",
                         op, name, LL(t->nb[ndim - 1]), info->block_bytes, info->name,
                         info->is_quantized ? "block" : "element");
    const size_t align = natural_align(t->dtype);
    for (int d = 0; d < ndim - 1; d++) {
        if (t->ne[d] == 1) continue; /* a stride never taken does not matter */
        if (t->nb[d] < 0 || (size_t)t->nb[d] < row)
            return kiln_fail(KILN_ERR_SHAPE, "%s: %s has nb[%d]=%lld bytes, less than one row of %zu bytes",
                             op, name, d, LL(t->nb[d]), row);
        if ((size_t)t->nb[d] % align)
            return kiln_fail(KILN_ERR_SHAPE, "%s: %s has nb[%d]=%lld, not a multiple of %s's alignment %zu",
                             op, name, d, LL(t->nb[d]), info->name, align);
    }
    if (t->offset % align)
        return kiln_fail(KILN_ERR_SHAPE, "%s: %s offset %zu is not a multiple of %s's alignment %zu",
                         op, name, t->offset, info->name, align);
    const size_t span = kiln_tensor_bytes(t), size = kiln_buffer_size(t->buf);
    if (span == 0)
        return kiln_fail(KILN_ERR_SHAPE, "%s: %s spans more bytes than can be addressed", op, name);
    if (!t->buf) return KILN_OK; /* a shape to plan: where it lies is checked by each run */
    if (t->offset > size || span > size - t->offset)
        return kiln_fail(KILN_ERR_SHAPE, "%s: %s spans bytes %zu..%zu but its buffer has %zu bytes",
                         op, name, t->offset, t->offset + span, size);
    return KILN_OK;
}

static kiln_status check_dtype_act(const char *op, const char *name, const kiln_tensor *t)
{
    if (!is_act(t->dtype))
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s: %s is %s; expected f32, f16 or bf16", op, name, dname(t->dtype));
    return KILN_OK;
}

static int same_shape(const kiln_tensor *a, const kiln_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->ne[d] != b->ne[d]) return 0;
    return 1;
}

static void shape_text(const kiln_tensor *t, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int d = 0; d < t->ndim && n + 1 < cap; d++) {
        int w = snprintf(buf + n, cap - n, "[%lld]", LL(t->ne[d]));
        if (w < 0) break;
        n += (size_t)w;
    }
}

/* b must have a's dtype and shape ("residual must be like y"). */
static kiln_status check_like(const char *op, const char *name, const kiln_tensor *t,
                              const char *ref_name, const kiln_tensor *ref)
{
    if (t->dtype != ref->dtype)
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s: %s is %s but %s is %s; they must match", op, name,
                         dname(t->dtype), ref_name, dname(ref->dtype));
    if (!same_shape(t, ref)) {
        char a[96], b[96];
        shape_text(t, a, sizeof a);
        shape_text(ref, b, sizeof b);
        return kiln_fail(KILN_ERR_SHAPE, "%s: %s has shape %s but %s has shape %s; they must match", op, name, a,
                         ref_name, b);
    }
    return KILN_OK;
}

static int same_view(const kiln_tensor *a, const kiln_tensor *b)
{
    return a->buf == b->buf && a->offset == b->offset && a->dtype == b->dtype && a->ndim == b->ndim &&
           memcmp(a->ne, b->ne, sizeof a->ne) == 0 && memcmp(a->nb, b->nb, sizeof a->nb) == 0;
}

/* An output must not overlap an input (a kernel would read what it already
 * wrote), except where the op allows the two to be the very same view. */
static kiln_status check_no_overlap(const char *op, const char *out_name, const kiln_tensor *out,
                                    const char *in_name, const kiln_tensor *in, int may_alias)
{
    if (!in || !out->buf || out->buf != in->buf) return KILN_OK;
    if (may_alias && same_view(out, in)) return KILN_OK;
    const size_t a0 = out->offset, a1 = a0 + kiln_tensor_bytes(out);
    const size_t b0 = in->offset, b1 = b0 + kiln_tensor_bytes(in);
    if (a0 < b1 && b0 < a1)
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s: %s (bytes %zu..%zu) overlaps %s (bytes %zu..%zu) in the same buffer%s",
                         op, out_name, a0, a1, in_name, b0, b1,
                         may_alias ? "; it may only alias it exactly (same offset, shape and strides)" : "");
    return KILN_OK;
}

#define TRY(expr)                            \
    do {                                     \
        kiln_status st_ = (expr);            \
        if (st_ != KILN_OK) return st_;      \
    } while (0)

/* ---------------------------------------------------------------- matmul */

/* The epilogue's operands, row by row of gen/epilogues.def: each flag's
 * operand present exactly when the flag is set, with the shape rule's shape
 * and dtype. */
static kiln_status validate_epilogue(const checking *ck, const kiln_matmul_params *p)
{
    const char *op = "matmul";
    TRY(kiln_epilogue_check_flags(op, p->epilogue));
    const int64_t m = p->w.ne[0];
    for (int i = 0; i < kiln_epilogue_count; i++) {
        const kiln_epilogue_desc *d = &kiln_epilogues[i];
        const int on = (p->epilogue >> d->bit & 1u) != 0;
        char upname[16]; /* the flag as kiln.h spells it: SWIGLU */
        size_t j = 0;
        for (; d->name[j] && j + 1 < sizeof upname; j++) upname[j] = (char)toupper((unsigned char)d->name[j]);
        upname[j] = '\0';
        if (d->shape == KILN_EPI_SHAPE_SCALAR) {
            const float v = kiln_epilogue_scalar(d, p);
            if (on && !isfinite(v))
                return kiln_fail(KILN_ERR_INVALID_ARG, "matmul: epilogue %s needs a finite %s, got %g", upname, d->operand, (double)v);
            if (!on && v != 0.0f)
                return kiln_fail(KILN_ERR_INVALID_ARG, "matmul: %s is %g but the epilogue has no %s", d->operand, (double)v, upname);
            continue;
        }
        if (d->shape == KILN_EPI_SHAPE_NONE) continue;
        const kiln_tensor *t = kiln_epilogue_tensor(d, p);
        if (on != (t != NULL))
            return on ? kiln_fail(KILN_ERR_INVALID_ARG, "matmul: epilogue %s needs %s, which is NULL", upname, d->operand)
                      : kiln_fail(KILN_ERR_INVALID_ARG, "matmul: %s is set but the epilogue has no %s", d->operand, upname);
        if (!on) continue;
        switch (d->shape) {
        case KILN_EPI_SHAPE_ROW:
            TRY(check_tensor(ck, op, d->operand, t, 1));
            if (t->dtype != d->dtype)
                return kiln_fail(KILN_ERR_INVALID_ARG, "matmul: %s is %s; expected %s", d->operand, dname(t->dtype),
                                 dname(d->dtype));
            if (t->ne[0] != m)
                return kiln_fail(KILN_ERR_SHAPE, "matmul: %s has %lld elements but w has m=%lld rows", d->operand,
                                 LL(t->ne[0]), LL(m));
            break;
        case KILN_EPI_SHAPE_LIKE_Y:
            TRY(check_tensor(ck, op, d->operand, t, 2));
            TRY(check_like(op, d->operand, t, "y", &p->y));
            break;
        case KILN_EPI_SHAPE_LIKE_W:
            TRY(check_tensor(ck, op, d->operand, t, 2));
            TRY(check_like(op, d->operand, t, "w", &p->w));
            break;
        default: break;
        }
    }
    return KILN_OK;
}

static kiln_status validate_matmul(const checking *ck, const kiln_matmul_params *p)
{
    const char *op = "matmul";
    /* dtype roles first: "w is i32" says more than the stride complaint it would cause */
    TRY(check_dtype_act(op, "x", &p->x));
    const kiln_dtype_info *wi = kiln_dtype_get(p->w.dtype);
    if (!wi || !wi->is_weight_format)
        return kiln_fail(KILN_ERR_INVALID_ARG, "matmul: w is %s, which is not a weight format", dname(p->w.dtype));
    TRY(check_dtype_act(op, "y", &p->y));
    TRY(check_tensor(ck, op, "x", &p->x, 2));
    TRY(check_tensor(ck, op, "w", &p->w, 2));
    TRY(check_tensor(ck, op, "y", &p->y, 2));
    const int64_t n = p->x.ne[0], k = p->x.ne[1], m = p->w.ne[0];
    if (p->w.ne[1] != k)
        return kiln_fail(KILN_ERR_SHAPE, "matmul: x has k=%lld but w rows have k=%lld", LL(k), LL(p->w.ne[1]));
    if (p->y.ne[0] != n || p->y.ne[1] != m)
        return kiln_fail(KILN_ERR_SHAPE, "matmul: y is [%lld][%lld] but x·wᵀ is [n=%lld][m=%lld]", LL(p->y.ne[0]),
                         LL(p->y.ne[1]), LL(n), LL(m));

    TRY(validate_epilogue(ck, p));
    TRY(check_no_overlap(op, "y", &p->y, "x", &p->x, 0));
    TRY(check_no_overlap(op, "y", &p->y, "w", &p->w, 0));
    TRY(check_no_overlap(op, "y", &p->y, "w_up", p->w_up, 0));
    TRY(check_no_overlap(op, "y", &p->y, "bias", p->bias, 0));
    TRY(check_no_overlap(op, "y", &p->y, "residual", p->residual, 1));
    return KILN_OK;
}

/* ---------------------------------------------------------------- attention */

static kiln_status check_scale(const char *op, float scale)
{
    if (!isfinite(scale) || scale == 0.0f)
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s: scale=%g must be finite and non-zero", op, (double)scale);
    return KILN_OK;
}

static kiln_status check_heads(const char *op, int64_t n_head, int64_t n_kv_head)
{
    if (n_head % n_kv_head)
        return kiln_fail(KILN_ERR_SHAPE, "%s: n_head=%lld is not a multiple of n_kv_head=%lld", op, LL(n_head), LL(n_kv_head));
    return KILN_OK;
}

static kiln_status validate_flash_attn(const checking *ck, const kiln_flash_attn_params *p)
{
    const char *op = "flash_attn";
    TRY(check_tensor(ck, op, "q", &p->q, 3));
    TRY(check_tensor(ck, op, "k", &p->k, 3));
    TRY(check_tensor(ck, op, "v", &p->v, 3));
    TRY(check_tensor(ck, op, "o", &p->o, 3));
    TRY(check_dtype_act(op, "q", &p->q));
    TRY(check_dtype_act(op, "k", &p->k));
    TRY(check_dtype_act(op, "o", &p->o));
    if (p->v.dtype != p->k.dtype)
        return kiln_fail(KILN_ERR_INVALID_ARG, "flash_attn: k is %s but v is %s; they must match", dname(p->k.dtype), dname(p->v.dtype));
    const int64_t hd = p->q.ne[2];
    if (p->k.ne[2] != hd || p->v.ne[2] != hd || p->o.ne[2] != hd)
        return kiln_fail(KILN_ERR_SHAPE, "flash_attn: head_dim differs: q %lld, k %lld, v %lld, o %lld", LL(hd),
                         LL(p->k.ne[2]), LL(p->v.ne[2]), LL(p->o.ne[2]));
    if (p->v.ne[0] != p->k.ne[0] || p->v.ne[1] != p->k.ne[1])
        return kiln_fail(KILN_ERR_SHAPE, "flash_attn: k is [%lld][%lld][..] but v is [%lld][%lld][..]", LL(p->k.ne[0]),
                         LL(p->k.ne[1]), LL(p->v.ne[0]), LL(p->v.ne[1]));
    if (p->o.ne[0] != p->q.ne[0] || p->o.ne[1] != p->q.ne[1])
        return kiln_fail(KILN_ERR_SHAPE, "flash_attn: q is [%lld][%lld][..] but o is [%lld][%lld][..]", LL(p->q.ne[0]),
                         LL(p->q.ne[1]), LL(p->o.ne[0]), LL(p->o.ne[1]));
    TRY(check_heads(op, p->q.ne[1], p->k.ne[1]));
    TRY(check_scale(op, p->scale));
    if (p->causal != 0 && p->causal != 1)
        return kiln_fail(KILN_ERR_INVALID_ARG, "flash_attn: causal=%d must be 0 or 1", p->causal);
    if (p->causal && p->q_pos0 < 0)
        return kiln_fail(KILN_ERR_INVALID_ARG, "flash_attn: q_pos0=%lld is negative", LL(p->q_pos0));
    TRY(check_no_overlap(op, "o", &p->o, "q", &p->q, 0));
    TRY(check_no_overlap(op, "o", &p->o, "k", &p->k, 0));
    TRY(check_no_overlap(op, "o", &p->o, "v", &p->v, 0));
    return KILN_OK;
}

/* Block table entries and sequence lengths, when the cpu can see them. */
static kiln_status check_paged_tables(const kiln_paged_attn_params *p, int64_t n_blocks, int64_t block_size)
{
    const char *bt = kiln_buffer_host_ptr(p->block_table.buf), *sl = kiln_buffer_host_ptr(p->seq_lens.buf);
    if (!bt || !sl) return KILN_OK;
    const int64_t n_seq = p->seq_lens.ne[0], max_blocks = p->block_table.ne[1];
    for (int64_t s = 0; s < n_seq; s++) {
        int32_t len;
        memcpy(&len, sl + p->seq_lens.offset + (size_t)s * 4, 4);
        if (len < 1 || (int64_t)len > max_blocks * block_size)
            return kiln_fail(KILN_ERR_SHAPE, "paged_attn: seq_lens[%lld]=%d outside 1..%lld (max_blocks_per_seq=%lld x block_size=%lld)",
                             LL(s), len, LL(max_blocks * block_size), LL(max_blocks), LL(block_size));
        const int64_t used = (len + block_size - 1) / block_size;
        for (int64_t b = 0; b < used; b++) {
            int32_t phys;
            memcpy(&phys, bt + p->block_table.offset + (size_t)(s * p->block_table.nb[0] + b * 4), 4);
            if (phys < 0 || phys >= n_blocks)
                return kiln_fail(KILN_ERR_SHAPE, "paged_attn: block_table[%lld][%lld]=%d outside the cache's blocks 0..%lld",
                                 LL(s), LL(b), phys, LL(n_blocks - 1));
        }
    }
    return KILN_OK;
}

static kiln_status validate_paged_attn(const checking *ck, const kiln_paged_attn_params *p)
{
    const char *op = "paged_attn";
    TRY(check_tensor(ck, op, "q", &p->q, 3));
    TRY(check_tensor(ck, op, "o", &p->o, 3));
    TRY(check_dtype_act(op, "q", &p->q));
    TRY(check_dtype_act(op, "o", &p->o));
    const kiln_tensor *kc = &p->k_cache, *vc = &p->v_cache;
    const kiln_dtype kv = kc->dtype;
    if (kv != KILN_F32 && kv != KILN_F16 && kv != KILN_Q8_0)
        return kiln_fail(KILN_ERR_INVALID_ARG, "paged_attn: k_cache is %s; expected f32, f16 or q8_0", dname(kv));
    if (vc->dtype != kv)
        return kiln_fail(KILN_ERR_INVALID_ARG, "paged_attn: k_cache is %s but v_cache is %s; they must match", dname(kv), dname(vc->dtype));
    const int64_t hd = p->q.ne[2];
    if (kv == KILN_Q8_0 && hd % 32)
        return kiln_fail(KILN_ERR_SHAPE, "paged_attn: a q8_0 KV cache needs head_dim %% 32 == 0, but head_dim=%lld", LL(hd));
    TRY(check_tensor(ck, op, "k_cache", kc, 4));
    TRY(check_tensor(ck, op, "v_cache", vc, 4));
    TRY(check_like(op, "v_cache", vc, "k_cache", kc));
    if (kc->ne[3] != hd || p->o.ne[2] != hd)
        return kiln_fail(KILN_ERR_SHAPE, "paged_attn: head_dim differs: q %lld, k_cache/v_cache %lld, o %lld", LL(hd),
                         LL(kc->ne[3]), LL(p->o.ne[2]));
    if (p->o.ne[0] != p->q.ne[0] || p->o.ne[1] != p->q.ne[1])
        return kiln_fail(KILN_ERR_SHAPE, "paged_attn: q is [%lld][%lld][..] but o is [%lld][%lld][..]", LL(p->q.ne[0]),
                         LL(p->q.ne[1]), LL(p->o.ne[0]), LL(p->o.ne[1]));
    TRY(check_heads(op, p->q.ne[1], kc->ne[2]));
    const int64_t bs = kc->ne[1];
    if (bs < 8 || bs > 128 || (bs & (bs - 1)))
        return kiln_fail(KILN_ERR_SHAPE, "paged_attn: block_size=%lld (k_cache ne[1]) must be a power of two from 8 to 128", LL(bs));

    TRY(check_tensor(ck, op, "block_table", &p->block_table, 2));
    TRY(check_tensor(ck, op, "seq_lens", &p->seq_lens, 1));
    if (p->block_table.dtype != KILN_I32)
        return kiln_fail(KILN_ERR_INVALID_ARG, "paged_attn: block_table is %s; expected i32", dname(p->block_table.dtype));
    if (p->seq_lens.dtype != KILN_I32)
        return kiln_fail(KILN_ERR_INVALID_ARG, "paged_attn: seq_lens is %s; expected i32", dname(p->seq_lens.dtype));
    const int64_t n_seq = p->q.ne[0];
    if (p->block_table.ne[0] != n_seq || p->seq_lens.ne[0] != n_seq)
        return kiln_fail(KILN_ERR_SHAPE, "paged_attn: q has n_seq=%lld but block_table has %lld rows and seq_lens %lld entries",
                         LL(n_seq), LL(p->block_table.ne[0]), LL(p->seq_lens.ne[0]));
    TRY(check_scale(op, p->scale));
    TRY(check_no_overlap(op, "o", &p->o, "q", &p->q, 0));
    TRY(check_no_overlap(op, "o", &p->o, "k_cache", kc, 0));
    TRY(check_no_overlap(op, "o", &p->o, "v_cache", vc, 0));
    TRY(check_no_overlap(op, "o", &p->o, "block_table", &p->block_table, 0));
    TRY(check_no_overlap(op, "o", &p->o, "seq_lens", &p->seq_lens, 0));
    return check_paged_tables(p, kc->ne[0], bs);
}

/* ---------------------------------------------------------------- norm */

static kiln_status check_norm_vector(const checking *ck, const char *name, const kiln_tensor *t, int64_t dim)
{
    TRY(check_tensor(ck, "norm", name, t, 1));
    if (t->dtype != KILN_F32)
        return kiln_fail(KILN_ERR_INVALID_ARG, "norm: %s is %s; expected f32", name, dname(t->dtype));
    if (t->ne[0] != dim)
        return kiln_fail(KILN_ERR_SHAPE, "norm: %s has %lld elements but x rows have dim=%lld", name, LL(t->ne[0]), LL(dim));
    return KILN_OK;
}

static kiln_status validate_norm(const checking *ck, const kiln_norm_params *p)
{
    const char *op = "norm";
    if (p->kind != KILN_NORM_RMS && p->kind != KILN_NORM_LAYER)
        return kiln_fail(KILN_ERR_INVALID_ARG, "norm: kind=%d is neither KILN_NORM_RMS nor KILN_NORM_LAYER", (int)p->kind);
    TRY(check_tensor(ck, op, "x", &p->x, 2));
    TRY(check_dtype_act(op, "x", &p->x));
    TRY(check_tensor(ck, op, "y", &p->y, 2));
    TRY(check_like(op, "y", &p->y, "x", &p->x));
    if (p->residual) {
        TRY(check_tensor(ck, op, "residual", p->residual, 2));
        TRY(check_like(op, "residual", p->residual, "x", &p->x));
    }
    if (p->sum_out) {
        TRY(check_tensor(ck, op, "sum_out", p->sum_out, 2));
        TRY(check_like(op, "sum_out", p->sum_out, "x", &p->x));
    }
    const int64_t dim = p->x.ne[1];
    if (p->weight) TRY(check_norm_vector(ck, "weight", p->weight, dim));
    if (p->bias) {
        if (p->kind != KILN_NORM_LAYER)
            return kiln_fail(KILN_ERR_INVALID_ARG, "norm: bias is set but RMS norm has no bias (LAYER only)");
        TRY(check_norm_vector(ck, "bias", p->bias, dim));
    }
    if (!(p->eps > 0.0f) || !isfinite(p->eps))
        return kiln_fail(KILN_ERR_INVALID_ARG, "norm: eps=%g must be finite and > 0", (double)p->eps);
    /* y and sum_out may each be the very view of x or residual (in-place
     * residual stream), never a partial overlap; they must not overlap each other. */
    TRY(check_no_overlap(op, "y", &p->y, "x", &p->x, 1));
    TRY(check_no_overlap(op, "y", &p->y, "residual", p->residual, 1));
    TRY(check_no_overlap(op, "y", &p->y, "weight", p->weight, 0));
    TRY(check_no_overlap(op, "y", &p->y, "bias", p->bias, 0));
    if (p->sum_out) {
        TRY(check_no_overlap(op, "sum_out", p->sum_out, "x", &p->x, 1));
        TRY(check_no_overlap(op, "sum_out", p->sum_out, "residual", p->residual, 1));
        TRY(check_no_overlap(op, "sum_out", p->sum_out, "weight", p->weight, 0));
        TRY(check_no_overlap(op, "sum_out", p->sum_out, "bias", p->bias, 0));
        TRY(check_no_overlap(op, "sum_out", p->sum_out, "y", &p->y, 0));
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------- rope */

static kiln_status check_i32_vector(const checking *ck, const char *name, const kiln_tensor *t, int64_t n)
{
    if (t->dtype != KILN_I32) /* the dtype first: it says more than the stride complaint it would cause */
        return kiln_fail(KILN_ERR_INVALID_ARG, "rope: %s is %s; expected i32", name, dname(t->dtype));
    TRY(check_tensor(ck, "rope", name, t, 1));
    if (t->ne[0] != n)
        return kiln_fail(KILN_ERR_SHAPE, "rope: %s has %lld entries but q has n=%lld tokens", name, LL(t->ne[0]), LL(n));
    return KILN_OK;
}

static kiln_status check_f32_heads(const checking *ck, const char *name, const kiln_tensor *t)
{
    if (t->dtype != KILN_F32)
        return kiln_fail(KILN_ERR_INVALID_ARG, "rope: %s is %s; expected f32", name, dname(t->dtype));
    TRY(check_tensor(ck, "rope", name, t, 3));
    return KILN_OK;
}

/* Slot values, when the cpu can see them: each must name a slot of the cache. */
static kiln_status check_rope_slots(const kiln_tensor *slots, int64_t n_slots)
{
    const char *sl = kiln_buffer_host_ptr(slots->buf);
    if (!sl) return KILN_OK;
    for (int64_t t = 0; t < slots->ne[0]; t++) {
        int32_t v;
        memcpy(&v, sl + slots->offset + (size_t)t * 4, 4);
        if (v >= n_slots)
            return kiln_fail(KILN_ERR_SHAPE, "rope: slots[%lld]=%d is past the cache's %lld slots (n_blocks x block_size)",
                             LL(t), v, LL(n_slots));
    }
    return KILN_OK;
}

static kiln_status validate_rope_cache(const checking *ck, const kiln_rope_params *p)
{
    const char *op = "rope";
    const int64_t n = p->q.ne[0], n_kv = p->k.ne[1], hd = p->q.ne[2];
    TRY(check_f32_heads(ck, "v", p->v));
    if (!same_shape(p->v, &p->k)) {
        char a[96], b[96];
        shape_text(p->v, a, sizeof a);
        shape_text(&p->k, b, sizeof b);
        return kiln_fail(KILN_ERR_SHAPE, "rope: v has shape %s but k has shape %s; they must match", a, b);
    }
    const kiln_tensor *kc = p->k_cache, *vc = p->v_cache;
    const kiln_dtype kv = kc->dtype;
    if (kv != KILN_F32 && kv != KILN_F16 && kv != KILN_Q8_0)
        return kiln_fail(KILN_ERR_INVALID_ARG, "rope: k_cache is %s; expected f32, f16 or q8_0", dname(kv));
    if (vc->dtype != kv)
        return kiln_fail(KILN_ERR_INVALID_ARG, "rope: k_cache is %s but v_cache is %s; they must match", dname(kv),
                         dname(vc->dtype));
    if (kv == KILN_Q8_0 && hd % 32)
        return kiln_fail(KILN_ERR_SHAPE, "rope: a q8_0 KV cache needs head_dim %% 32 == 0, but head_dim=%lld", LL(hd));
    TRY(check_tensor(ck, op, "k_cache", kc, 4));
    TRY(check_tensor(ck, op, "v_cache", vc, 4));
    TRY(check_like(op, "v_cache", vc, "k_cache", kc));
    if (kc->ne[2] != n_kv || kc->ne[3] != hd)
        return kiln_fail(KILN_ERR_SHAPE, "rope: k_cache rows are [%lld][%lld] (n_kv_heads, head_dim) but k is [%lld][%lld]",
                         LL(kc->ne[2]), LL(kc->ne[3]), LL(n_kv), LL(hd));
    const int64_t bs = kc->ne[1];
    if (bs < 8 || bs > 128 || (bs & (bs - 1)))
        return kiln_fail(KILN_ERR_SHAPE, "rope: block_size=%lld (k_cache ne[1]) must be a power of two from 8 to 128", LL(bs));
    if (kc->ne[0] * bs > INT32_MAX)
        return kiln_fail(KILN_ERR_SHAPE, "rope: %lld cache slots do not fit the i32 slots", LL(kc->ne[0] * bs));
    TRY(check_i32_vector(ck, "slots", p->slots, n));
    /* the caches are written: they must not overlap each other or any input */
    static const char *const ins[] = {"q", "k", "v", "positions", "slots"};
    const kiln_tensor *in[] = {&p->q, &p->k, p->v, &p->positions, p->slots};
    for (int i = 0; i < 5; i++) {
        TRY(check_no_overlap(op, "k_cache", kc, ins[i], in[i], 0));
        TRY(check_no_overlap(op, "v_cache", vc, ins[i], in[i], 0));
    }
    TRY(check_no_overlap(op, "v_cache", vc, "k_cache", kc, 0));
    return check_rope_slots(p->slots, kc->ne[0] * bs);
}

static kiln_status validate_rope(const checking *ck, const kiln_rope_params *p)
{
    const char *op = "rope";
    TRY(check_f32_heads(ck, "q", &p->q));
    TRY(check_f32_heads(ck, "k", &p->k));
    const int64_t n = p->q.ne[0], hd = p->q.ne[2];
    if (p->k.ne[0] != n)
        return kiln_fail(KILN_ERR_SHAPE, "rope: q has n=%lld tokens but k has %lld", LL(n), LL(p->k.ne[0]));
    if (p->k.ne[2] != hd)
        return kiln_fail(KILN_ERR_SHAPE, "rope: head_dim differs: q %lld, k %lld", LL(hd), LL(p->k.ne[2]));
    TRY(check_heads(op, p->q.ne[1], p->k.ne[1]));
    TRY(check_i32_vector(ck, "positions", &p->positions, n));
    if (p->rope_dim < 2 || p->rope_dim % 2 || p->rope_dim > hd)
        return kiln_fail(KILN_ERR_INVALID_ARG, "rope: rope_dim=%d must be even, from 2 to head_dim=%lld", p->rope_dim,
                         LL(hd));
    if (!isfinite(p->theta) || !(p->theta > 0.0f))
        return kiln_fail(KILN_ERR_INVALID_ARG, "rope: theta=%g must be finite and > 0", (double)p->theta);
    if (!isfinite(p->freq_scale) || !(p->freq_scale > 0.0f))
        return kiln_fail(KILN_ERR_INVALID_ARG, "rope: freq_scale=%g must be finite and > 0 (1 = no scaling)",
                         (double)p->freq_scale);
    if (p->neox != 0 && p->neox != 1)
        return kiln_fail(KILN_ERR_INVALID_ARG, "rope: neox=%d must be 0 (pairs x[2i], x[2i+1]) or 1 (x[i], x[i+rope_dim/2])",
                         p->neox);
    /* q and k are written in place: they must not overlap each other or the positions */
    TRY(check_no_overlap(op, "q", &p->q, "k", &p->k, 0));
    TRY(check_no_overlap(op, "q", &p->q, "positions", &p->positions, 0));
    TRY(check_no_overlap(op, "k", &p->k, "positions", &p->positions, 0));
    const int set = (p->v != NULL) + (p->k_cache != NULL) + (p->v_cache != NULL) + (p->slots != NULL);
    if (set == 0) return KILN_OK;
    if (set != 4)
        return kiln_fail(KILN_ERR_INVALID_ARG,
                         "rope: the KV append needs v, k_cache, v_cache and slots all set (or all NULL); missing:%s%s%s%s",
                         p->v ? "" : " v", p->k_cache ? "" : " k_cache", p->v_cache ? "" : " v_cache",
                         p->slots ? "" : " slots");
    TRY(check_no_overlap(op, "q", &p->q, "v", p->v, 0));
    TRY(check_no_overlap(op, "k", &p->k, "v", p->v, 0));
    TRY(check_no_overlap(op, "q", &p->q, "slots", p->slots, 0));
    TRY(check_no_overlap(op, "k", &p->k, "slots", p->slots, 0));
    return validate_rope_cache(ck, p);
}

static kiln_status validate(const checking *ck, kiln_op op, const void *params)
{
    if (!ck->ctx) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: ctx is NULL", kiln_op_name(op));
    if (!params) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: params is NULL", kiln_op_name(op));
    switch (op) {
    case KILN_OP_MATMUL: return validate_matmul(ck, params);
    case KILN_OP_FLASH_ATTN: return validate_flash_attn(ck, params);
    case KILN_OP_PAGED_ATTN: return validate_paged_attn(ck, params);
    case KILN_OP_NORM: return validate_norm(ck, params);
    case KILN_OP_ROPE: return validate_rope(ck, params);
    default: return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_validate_params: unknown op %d", (int)op);
    }
}

kiln_status kiln_validate_params(kiln_context *ctx, kiln_op op, const void *params)
{
    return validate(&(checking){ctx, 0}, op, params);
}

kiln_status kiln_validate_shapes(kiln_context *ctx, kiln_op op, const void *params)
{
    return validate(&(checking){ctx, 1}, op, params);
}
