/* gen/vk_specs.h — the Vulkan backend's default specs per call shape.
 *
 * Header-only (no Vulkan types) because two places use it: the backend's
 * heuristic (vk_backend.c), which turns an op call into a spec, and the
 * manifest (gen/manifest_vulkan.c), which is part of the generator core and
 * lists the same specs for `kiln-gen --emit-dir` and the compile tests.
 * The tiles fit 32 KB of shared memory (lavapipe; the H100 has 48 KB), keep
 * every invocation's accumulators in registers (<= 64 floats), and use
 * workgroups of whole subgroups of 32 (which also covers lavapipe's 8). */
#ifndef KILN_VK_SPECS_H
#define KILN_VK_SPECS_H
#include <string.h>

#include "formats/format_traits.h"
#include "kiln/spec.h"

static inline kiln_spec kiln_vk_spec_base(kiln_op op)
{
    kiln_spec s;
    memset(&s, 0, sizeof s);
    s.op = op;
    s.backend = KILN_BACKEND_VULKAN;
    s.isa = KILN_ISA_NONE;
    s.acc = KILN_F32;
    return s;
}

/* Formats with the fast matmul kernels (templates/matmul_blocks.glsl): the
 * FAST_VULKAN column of formats/formats.def, which the generator also hands
 * the shader (KILN_FMT_FAST -> KILN_VK_FAST_FMT in templates/matmul.comp). */
static inline int kiln_vk_fast_format(kiln_dtype f) { return kiln_format_fast(f, KILN_BACKEND_VULKAN); }

/* Whether the tiled mat-mat (templates/matmul_tiled.comp) takes these tiles:
 * micro-tiles of 4 rows x rn tokens cover tm x tn exactly with nt invocations
 * (KILN_VK_TILED in templates/matmul.comp); other tiles run the generic kernel. */
static inline int kiln_vk_tiled(unsigned tm, unsigned tn, unsigned nt)
{
    if (nt == 0) return 0;
    unsigned rn = tm * tn / (4u * nt);
    return tm % 4u == 0 && (tm * tn) % (4u * nt) == 0 && rn >= 1 && rn <= 16 && tn % rn == 0;
}

/* The cooperative-matrix mat-mat's tiles: a 32 x 32 sub-tile per subgroup of
 * 32 (KILN_VK_COOPMAT_TILES in templates/matmul.comp). */
static inline int kiln_vk_coopmat_tiles(unsigned tm, unsigned tn, unsigned nt)
{
    return tm % 32u == 0 && tn % 32u == 0 && tm * tn == 32u * nt;
}

/* tn > 8 with stages >= 2 and such tiles runs on NV cooperative matrices
 * (templates/matmul_coopmat.comp); other stages or tiles on the SIMT kernels. */
static inline int kiln_vk_matmul_uses_coopmat(const kiln_spec *s)
{
    return s->op == KILN_OP_MATMUL && kiln_vk_fast_format(s->fmt) && s->tile.tn > 8 && s->tile.stages >= 2 &&
           kiln_vk_coopmat_tiles((unsigned)s->tile.tm, (unsigned)s->tile.tn, (unsigned)s->tile.threads);
}

/* The fast mat-vec reduces through subgroupAdd (stages >= 2), which needs a
 * device with arithmetic subgroup operations, or shared memory (stages = 1). */
static inline int kiln_vk_matmul_needs_subgroups(const kiln_spec *s)
{
    return s->op == KILN_OP_MATMUL && kiln_vk_fast_format(s->fmt) && s->tile.tn <= 8 && s->tile.stages >= 2;
}

/* n tokens: up to 8 take the mat-vec path (all tokens in one workgroup, K
 * split over the threads), more the tiled mat-mat path. */
static inline kiln_spec kiln_vk_matmul_spec(kiln_dtype fmt, kiln_dtype act, kiln_dtype out, unsigned epi, long long n)
{
    kiln_spec s = kiln_vk_spec_base(KILN_OP_MATMUL);
    s.fmt = fmt, s.act = act, s.out = out, s.epilogue = epi;
    if (n <= 8)
        s.tile = (kiln_tile){.tm = 4, .tn = n <= 1 ? 1 : n <= 2 ? 2 : n <= 4 ? 4 : 8, .tk = 256, .threads = 64,
                             .stages = 1, .vec = 16, .split = 1};
    else
        s.tile = (kiln_tile){.tm = 64, .tn = 32, .tk = 256, .threads = 128, .stages = 1, .vec = 16, .split = 1};
    return s;
}

/* Head sizes that are a multiple of 8 get a kernel sized exactly for them;
 * others run the generic one (hd=0, arrays sized for 256). */
static inline int kiln_vk_head_dim(long long hd) { return hd % 8 == 0 && hd <= 256 ? (int)hd : 0; }

/* tm: the most queries per workgroup whose Q and O tiles fit shared_budget. */
static inline kiln_spec kiln_vk_flash_spec(kiln_dtype kv, kiln_dtype act, int head_dim, unsigned shared_budget)
{
    kiln_spec s = kiln_vk_spec_base(KILN_OP_FLASH_ATTN);
    s.fmt = kv, s.act = act, s.out = act, s.head_dim = head_dim;
    unsigned hd = head_dim ? (unsigned)head_dim : 256u, tn = 32, per_query = 4u * (2u * hd + tn + 3u);
    int tm = 1;
    while (tm < 32 && (unsigned)(2 * tm) * per_query <= shared_budget) tm *= 2;
    s.tile = (kiln_tile){.tm = tm, .tn = (int)tn, .threads = 64, .stages = 1};
    return s;
}

static inline kiln_spec kiln_vk_paged_spec(kiln_dtype kv, kiln_dtype act, int head_dim)
{
    kiln_spec s = kiln_vk_spec_base(KILN_OP_PAGED_ATTN);
    s.fmt = kv, s.act = act, s.out = act, s.head_dim = head_dim;
    s.tile = (kiln_tile){.tn = 32, .threads = 64, .split = 0};
    return s;
}

/* flags: KILN_SPEC_NORM_*. Short rows get fewer threads (idle ones cost barriers). */
static inline kiln_spec kiln_vk_norm_spec(kiln_dtype t, unsigned flags, long long dim)
{
    kiln_spec s = kiln_vk_spec_base(KILN_OP_NORM);
    s.fmt = s.act = s.out = t, s.epilogue = flags;
    s.tile = (kiln_tile){.threads = dim <= 256 ? 64 : 256, .vec = 16};
    return s;
}

/* kv: the cache dtype of a call with the KV append, or KILN_DTYPE_COUNT for
 * rotation only. One workgroup per token; 64 invocations take its items. */
static inline kiln_spec kiln_vk_rope_spec(kiln_dtype kv)
{
    kiln_spec s = kiln_vk_spec_base(KILN_OP_ROPE);
    int append = kv != KILN_DTYPE_COUNT;
    s.fmt = append ? kv : KILN_F32, s.act = s.out = KILN_F32;
    s.epilogue = append ? KILN_SPEC_ROPE_KV : 0u;
    s.tile = (kiln_tile){.threads = 64};
    return s;
}

#endif
