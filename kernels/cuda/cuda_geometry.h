/* kernels/cuda/cuda_geometry.h — how each CUDA template maps a spec onto blocks.
 *
 * The same arithmetic as the #defines at the top of kernels/cuda/templates/*.cu,
 * written once for the host: gen/launch_cuda.c (launch description),
 * kernels/cuda/cuda_launch.c (grids, shared memory) and can_implement use it.
 * Keep the two in step when a template's tiling changes. */
#ifndef KILN_CUDA_GEOMETRY_H
#define KILN_CUDA_GEOMETRY_H

#include "kiln/formats.h"
#include "kiln/spec.h"

static inline int kiln_cuda_warps(const kiln_spec *s) { return s->tile.threads / 32; }

/* ---- matmul, tn <= 8 (mat-vec): MV_RPW, MV_ROWS, MV_WIN of matmul.cu */
static inline int kiln_cuda_mv_rows_per_warp(const kiln_spec *s)
{
    int w = kiln_cuda_warps(s);
    return s->tile.tm > w ? s->tile.tm / w : 1;
}
static inline int kiln_cuda_mv_rows_per_block(const kiln_spec *s)
{
    return kiln_cuda_warps(s) * kiln_cuda_mv_rows_per_warp(s);
}
static inline unsigned kiln_cuda_mv_static_smem(const kiln_spec *s)
{
    const kiln_dtype_info *f = kiln_dtype_get(s->fmt);
    int unit_bytes = f->block_elems > 1 ? f->block_bytes : 16;
    int rpw = kiln_cuda_mv_rows_per_warp(s);
    int chunk = 32 * unit_bytes;
    int u = 2048 / (rpw * chunk);
    if (u < 1) u = 1;
    return (unsigned)(kiln_cuda_warps(s) * rpw * (u * chunk + 32));
}

/* ---- matmul, tn > 8 (mat-mat): dynamic shared memory of the W and x tiles */
static inline int kiln_cuda_mm_uses_mma(const kiln_spec *s) { return kiln_dtype_get(s->fmt)->block_elems > 1; }
static inline unsigned kiln_cuda_mm_smem(const kiln_spec *s)
{
    const kiln_tile *t = &s->tile;
    if (kiln_cuda_mm_uses_mma(s)) return (unsigned)((t->tm + t->tn) * (t->tk + 8) * 2);
    return (unsigned)((t->tm + t->tn) * (t->tk + 1) * 4);
}
/* WARPS_M of matmul.cu: warps along m, each over 16-row fragments. */
static inline int kiln_cuda_mm_warps_m(const kiln_spec *s)
{
    int w = kiln_cuda_warps(s), frags = s->tile.tm / 16;
    int wm = frags < w ? frags : w;
    while (wm > 1 && (w % wm != 0 || frags % wm != 0)) wm--;
    return wm;
}

/* ---- attention: head size bound for shared memory (generic specs: 256) */
static inline int kiln_cuda_attn_hd_max(const kiln_spec *s) { return s->head_dim > 0 ? s->head_dim : 256; }

static inline int kiln_cuda_fa_queries_per_block(const kiln_spec *s)
{
    int w = kiln_cuda_warps(s);
    return w * (s->tile.tm > w ? s->tile.tm / w : 1);
}
static inline unsigned kiln_cuda_fa_smem(const kiln_spec *s, int hd)
{
    return (unsigned)((2 * 32 * (hd + 1) + kiln_cuda_fa_queries_per_block(s) * hd) * 4);
}

#define KILN_CUDA_PA_QPW 4
static inline int kiln_cuda_pa_heads_per_block(const kiln_spec *s) { return kiln_cuda_warps(s) * KILN_CUDA_PA_QPW; }
static inline unsigned kiln_cuda_pa_smem(const kiln_spec *s, int hd)
{
    return (unsigned)((2 * 32 * (hd + 1) + kiln_cuda_pa_heads_per_block(s) * hd) * 4);
}

#endif
