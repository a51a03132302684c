/* gen/cuda_heuristic.h — the CUDA backend's default tiles per op.
 *
 * Header-only so that the manifest (gen/manifest_cuda.c, part of the generator
 * that kiln-gen links without libkiln) and the backend's run-time heuristic
 * (kernels/cuda/cuda_ops.c) build specs the same way. */
#ifndef KILN_CUDA_HEURISTIC_H
#define KILN_CUDA_HEURISTIC_H

#include <string.h>

#include "gen/cuda_geometry.h"
#include "kiln/formats.h"
#include "kiln/spec.h"

static inline kiln_spec kiln_cuda_base_spec(kiln_op op, kiln_dtype fmt, kiln_dtype act, kiln_dtype out)
{
    kiln_spec s;
    memset(&s, 0, sizeof s);
    s.op = op;
    s.backend = KILN_BACKEND_CUDA;
    s.isa = KILN_ISA_NONE;
    s.fmt = fmt;
    s.act = act;
    s.out = out;
    s.acc = KILN_F32;
    return s;
}

/* Mat-vec for n <= 8 (tn = n rounded up to a power of two: one pass over W
 * serves every token); tensor-core tiles beyond. */
static inline kiln_spec kiln_cuda_matmul_spec(kiln_dtype fmt, kiln_dtype act, kiln_dtype out, unsigned epilogue,
                                              long long n)
{
    kiln_spec s = kiln_cuda_base_spec(KILN_OP_MATMUL, fmt, act, out);
    s.epilogue = epilogue;
    int block = kiln_dtype_get(fmt)->block_elems;
    int tk = block > 32 ? block : 32;
    if (n <= 8) {
        int tn = 1;
        while (tn < n) tn *= 2;
        /* int8 path (kiln_cuda_mv_int8): 4 warps, 4 rows per block (2 when
         * more tokens need the registers), as llama.cpp's mmvq for few tokens:
         * each activation load serves every row, the grid still fills the GPU
         * at m = 4096. Float path: two rows per block share each activation
         * load; formats with big blocks keep one row so the windows and the
         * prefetch registers stay small. */
        int tm = kiln_dtype_get(fmt)->block_bytes <= 36 || block == 1 ? 2 : 1;
        int threads = 128;
        if (kiln_cuda_mv_int8(fmt)) tm = tn <= 2 ? 4 : 2;
        if (fmt == KILN_IQ4_NL) threads = 256; /* at 128 threads ptxas spills 8 bytes (sm_80 or sm_90 by tm) */
        s.tile = (kiln_tile){.tm = tm, .tn = tn, .tk = tk, .threads = threads, .stages = 1, .vec = 16, .split = 1};
    } else if (block > 1) {
        /* Tensor cores: 128x128 tiles over 8 warps (4 x 2, 32x64 each); two
         * 32-blocks per k-step for the 32-element formats. */
        int tn = n >= 128 ? 128 : 64;
        s.tile = (kiln_tile){.tm = 128, .tn = tn, .tk = block == 32 ? 64 : tk, .threads = 256, .stages = 1,
                             .vec = 16, .split = 1};
    } else {
        s.tile = (kiln_tile){.tm = 64, .tn = 64, .tk = tk, .threads = 128, .stages = 1, .vec = 16, .split = 1};
    }
    return s;
}

/* head_dim: the call's head size when it is a valid compile-time constant
 * (a multiple of 8 up to 256), else 0 (generic). */
static inline int kiln_cuda_head_dim_of(long long hd) { return hd > 0 && hd <= 256 && hd % 8 == 0 ? (int)hd : 0; }

/* Flash attention: the tensor-core kernel (FA2) for 16-bit K/V at hd
 * 64/80/96/128/256, tiles sized for two blocks per H100 SM (64K registers,
 * 227 KB of shared memory): at hd 64, 128 queries on 8 warps (about 124
 * registers) with 64-key tiles; at hd 80-128, 64 queries on 4 warps (130-180
 * registers: at hd 128 the O accumulators take 64) and 64-key tiles, 87 KB at
 * hd 128; at hd 256,
 * 64 queries on 4 warps and 32-key tiles, 101 KB. Else the generic kernel:
 * 8 queries over 4 warps. */
static inline kiln_spec kiln_cuda_flash_spec(kiln_dtype kv, int head_dim)
{
    kiln_spec s = kiln_cuda_base_spec(KILN_OP_FLASH_ATTN, kv, kv, kv);
    s.head_dim = head_dim;
    s.tile = (kiln_tile){.tm = 8, .tn = 32, .threads = 128, .stages = 1};
    if ((kv == KILN_F16 || kv == KILN_BF16) && kiln_cuda_fa_mma_head_dim(head_dim))
        s.tile = head_dim <= 64    ? (kiln_tile){.tm = 128, .tn = 64, .threads = 256, .stages = 2}
               : head_dim <= 128 ? (kiln_tile){.tm = 64, .tn = 64, .threads = 128, .stages = 2}
                                 : (kiln_tile){.tm = 64, .tn = 32, .threads = 128, .stages = 2};
    return s;
}

static inline kiln_spec kiln_cuda_paged_spec(kiln_dtype kv, kiln_dtype act, int head_dim)
{
    kiln_spec s = kiln_cuda_base_spec(KILN_OP_PAGED_ATTN, kv, act, act);
    s.head_dim = head_dim;
    s.tile = (kiln_tile){.tn = 32, .threads = 128, .split = 0};
    return s;
}

/* flags: KILN_SPEC_NORM_*. Rows up to threads x 8..16 elements stay in registers. */
static inline kiln_spec kiln_cuda_norm_spec(kiln_dtype t, unsigned flags, long long dim)
{
    kiln_spec s = kiln_cuda_base_spec(KILN_OP_NORM, t, t, t);
    s.epilogue = flags;
    int threads = dim <= 1024 ? 128 : dim <= 4096 ? 256 : 1024;
    s.tile = (kiln_tile){.threads = threads, .vec = 16};
    return s;
}

/* kv: the cache dtype of a call with the KV append, or KILN_DTYPE_COUNT for
 * rotation only. 128 threads take one token's (head, pair) items. */
static inline kiln_spec kiln_cuda_rope_spec(kiln_dtype kv)
{
    int append = kv != KILN_DTYPE_COUNT;
    kiln_spec s = kiln_cuda_base_spec(KILN_OP_ROPE, append ? kv : KILN_F32, KILN_F32, KILN_F32);
    s.epilogue = append ? KILN_SPEC_ROPE_KV : 0u;
    s.tile = (kiln_tile){.threads = 128};
    return s;
}

#endif
