/* gen/cuda_geometry.h — how each CUDA template maps a spec onto blocks.
 *
 * The same arithmetic as the #defines at the top of kernels/cuda/templates/ (*.cu),
 * written once for the host: gen/launch_cuda.c (launch description),
 * kernels/cuda/cuda_ops.c (grids, shared memory) and can_implement use it.
 * Here in gen/ because the generator's launch description needs it and gen/
 * may not include kernels/. Keep the two in step when a template's tiling
 * changes (tests/test_cuda_static.c compares the static shared memory). */
#ifndef KILN_CUDA_GEOMETRY_H
#define KILN_CUDA_GEOMETRY_H

#include "kiln/formats.h"
#include "kiln/spec.h"

static inline int kiln_cuda_warps(const kiln_spec *s) { return s->tile.threads / 32; }

/* ---- matmul, tn <= 8 (mat-vec): MV_RPW (= tm rows per block) and the shared memory of matmul.cu.
 * The formats with integer codes take the int8 path (activations quantized to
 * int8 blocks, dp4a, weights read straight from global memory: the list of
 * matmul.cu's MV_DP4A); the others stream W through shared-memory windows. */
static inline int kiln_cuda_mv_int8(kiln_dtype fmt)
{
    switch (fmt) {
    case KILN_Q4_0: case KILN_Q4_1: case KILN_Q5_0: case KILN_Q5_1: case KILN_Q8_0:
    case KILN_Q4_K: case KILN_Q5_K: case KILN_Q6_K: return 1;
    default: return 0;
    }
}
/* The alignment the int8 path's weight loads assume of every block: the
 * largest power of two dividing the block size, at most 16 (q4_0 2, q4_1 4,
 * q5_1 8, q4_K 16). Rows and the tensor must start at a multiple of it. */
static inline int kiln_cuda_mv_w_align(kiln_dtype fmt)
{
    int b = kiln_dtype_get(fmt)->block_bytes, a = 1;
    while (a < 16 && b % (2 * a) == 0) a *= 2;
    return a;
}
/* Bytes per column of the int8 path's quantized activations: k codes, then an
 * f32 (scale, sum) pair per 32, padded to 16. */
static inline long long kiln_cuda_mv_xq_stride(long long k) { return (k + 8 * (k / 32) + 15) / 16 * 16; }
static inline int kiln_cuda_mv_rows_per_block(const kiln_spec *s) { return s->tile.tm; }
static inline unsigned kiln_cuda_mv_static_smem(const kiln_spec *s)
{
    const kiln_dtype_info *f = kiln_dtype_get(s->fmt);
    int unit_bytes = f->block_elems > 1 ? f->block_bytes : 16;
    int win = kiln_cuda_mv_int8(s->fmt) ? 0 : 32 * unit_bytes + 32;
    return (unsigned)(kiln_cuda_warps(s) * s->tile.tm * win + 2 * kiln_cuda_warps(s) * s->tile.tm * s->tile.tn * 4);
}

/* ---- matmul, tn > 8 (mat-mat): dynamic shared memory of the W and x tiles */
static inline int kiln_cuda_mm_uses_mma(const kiln_spec *s) { return kiln_dtype_get(s->fmt)->block_elems > 1; }
static inline unsigned kiln_cuda_mm_smem(const kiln_spec *s)
{
    const kiln_tile *t = &s->tile;
    if (kiln_cuda_mm_uses_mma(s)) return (unsigned)((t->tm + t->tn) * (t->tk + 8) * 2);
    return (unsigned)((t->tm + t->tn) * (t->tk + 1) * 4);
}
/* WARPS_M of matmul.cu: the split of the warps whose warp tile is closest to
 * square, among those that divide the tile evenly (1 when none does). */
static inline int kiln_cuda_mm_warps_m(const kiln_spec *s)
{
    int w = kiln_cuda_warps(s), bm = s->tile.tm, bn = s->tile.tn, best = 1, best_cost = 1 << 30;
    for (int wm = 1; wm <= w; wm++) {
        if (w % wm || (bm / 16) % wm || bn % (8 * (w / wm))) continue;
        int dm = bm / wm, dn = bn / (w / wm), cost = dm > dn ? dm - dn : dn - dm;
        if (cost < best_cost) best = wm, best_cost = cost;
    }
    return best;
}

/* ---- attention: head size bound for shared memory (generic specs: 256) */
static inline int kiln_cuda_attn_hd_max(const kiln_spec *s) { return s->head_dim > 0 ? s->head_dim : 256; }

static inline int kiln_cuda_fa_queries_per_block(const kiln_spec *s)
{
    int w = kiln_cuda_warps(s);
    return w * (s->tile.tm > w ? s->tile.tm / w : 1);
}
/* The FA2 tensor-core kernel (flash_attn_mma.cuh): hd 64/80/96/128/256, 16-bit
 * K/V, 16 queries per warp (tm = threads / 2), 32 or 64 keys per tile. */
static inline int kiln_cuda_fa_mma_head_dim(int hd) { return hd == 64 || hd == 80 || hd == 96 || hd == 128 || hd == 256; }
static inline int kiln_cuda_fa_uses_mma(const kiln_spec *s)
{
    const kiln_tile *t = &s->tile;
    return kiln_cuda_fa_mma_head_dim(s->head_dim) && (s->fmt == KILN_F16 || s->fmt == KILN_BF16) &&
           (t->threads == 128 || t->threads == 256) && t->tm == t->threads / 2 && (t->tn == 32 || t->tn == 64);
}
/* mma: Q [tm] and two stages of K and V [tn] rows of hd + 8 16-bit values. */
static inline unsigned kiln_cuda_fa_smem(const kiln_spec *s, int hd)
{
    if (kiln_cuda_fa_uses_mma(s)) return (unsigned)((s->tile.tm + 4 * s->tile.tn) * (hd + 8) * 2);
    return (unsigned)((2 * 32 * (hd + 1) + kiln_cuda_fa_queries_per_block(s) * hd) * 4);
}

#define KILN_CUDA_PA_QPW 4
static inline int kiln_cuda_pa_heads_per_block(const kiln_spec *s) { return kiln_cuda_warps(s) * KILN_CUDA_PA_QPW; }
static inline unsigned kiln_cuda_pa_smem(const kiln_spec *s, int hd)
{
    return (unsigned)((2 * 32 * (hd + 1) + kiln_cuda_pa_heads_per_block(s) * hd) * 4);
}

#endif
