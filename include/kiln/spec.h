/* kiln/spec.h — kernel specs: what the generator turns into source.
 *
 * A spec names one specialized kernel: op family, backend (and CPU ISA),
 * weight/KV format, activation and accumulator dtypes, fused epilogue, and the
 * tile parameters the autotuner searches. Runtime sizes (m, n, k, sequence
 * lengths) are never part of a spec.
 *
 * Canonical text form (fields in this order, defaults omitted except op/backend):
 *   matmul backend=cuda fmt=q4_0 epi=bias+residual tm=4 tn=64 tk=256 threads=128 stages=2 vec=16 split=1
 *   flash_attn backend=cpu-avx2 fmt=f16 act=f16 hd=128 tm=64 tn=64 threads=4
 * The procedural name (used for cache files, logs, tuning keys, test ids and the
 * emitted kernel's symbol) is derived from the same fields:
 *   matmul_cuda_q4_0_f32_f32_bias_residual_tm4_tn64_tk256_t128_s2_v16_k1
 */
#ifndef KILN_SPEC_H
#define KILN_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kiln_op {
    KILN_OP_MATMUL = 0,   /* dequant-matmul (mat-vec when tn == 1..8 via heuristics) */
    KILN_OP_FLASH_ATTN,
    KILN_OP_PAGED_ATTN,
    KILN_OP_NORM,
    KILN_OP_ROPE,         /* rotary position embedding (+ paged KV-cache append) */
    KILN_OP_COUNT
} kiln_op;

typedef enum kiln_isa {
    KILN_ISA_NONE = 0,    /* GPU backends */
    KILN_ISA_GENERIC,     /* portable C */
    KILN_ISA_AVX2,        /* AVX2 + FMA + F16C */
    KILN_ISA_AVX512,      /* AVX-512 F/BW/VL (+VNNI when present) */
    KILN_ISA_COUNT
} kiln_isa;

/* Tile parameters. 0 means "not used by this op". Meaning per op:
 *   matmul:     tm rows of W per block, tn columns (tokens) per block, tk K-step,
 *               threads per block (cpu: ignored), stages of pipelining,
 *               vec = bytes per load, split = split-K factor
 *   flash_attn: tm queries per block, tn keys per step, threads, stages
 *   paged_attn: tn keys per step, threads, split = KV splits (0 = auto)
 *   norm:       threads per row, vec
 *   rope:       threads per token (GPU workgroup; cpu: ignored) */
typedef struct kiln_tile {
    int tm, tn, tk;
    int threads;
    int stages;
    int vec;
    int split;
} kiln_tile;

typedef struct kiln_spec {
    kiln_op op;
    kiln_backend backend;
    kiln_isa isa;          /* cpu only */
    kiln_dtype fmt;        /* matmul: weight format; attention: K/V dtype; norm: unused (= act);
                            * rope: the KV cache dtype with the kv flag, else f32 */
    kiln_dtype act;        /* activation dtype (x, q, norm input) */
    kiln_dtype out;        /* output dtype */
    kiln_dtype acc;        /* accumulator: f32 (f16 allowed on GPUs for attention) */
    unsigned epilogue;     /* matmul: KILN_EPI_*; norm: KILN_SPEC_NORM_*; rope: KILN_SPEC_ROPE_* flags */
    int head_dim;          /* attention: 64/80/96/128/256, or 0 = generic */
    kiln_tile tile;
} kiln_spec;

/* Norm flags carried in kiln_spec.epilogue */
enum {
    KILN_SPEC_NORM_LAYER = 1u << 0,    /* LayerNorm instead of RMSNorm */
    KILN_SPEC_NORM_RESIDUAL = 1u << 1  /* residual add before the norm */
};

/* RoPE flags carried in kiln_spec.epilogue */
enum {
    KILN_SPEC_ROPE_KV = 1u << 0        /* append K and V to a paged cache of dtype fmt */
};

#define KILN_SPEC_TEXT_MAX 512
#define KILN_SPEC_NAME_MAX 256

/* A spec with defaults for the op/backend (tiles from heuristics are the
 * autotuner's business; these are merely valid). */
kiln_spec kiln_spec_default(kiln_op op, kiln_backend backend, kiln_isa isa, kiln_dtype fmt);
/* Canonical text; returns the length, or -1 if the buffer is too small. */
int kiln_spec_to_text(const kiln_spec *s, char *buf, size_t cap);
/* Parse the text form. On error returns KILN_ERR_INVALID_ARG with a reason in
 * kiln_last_error() naming the offending token. The result is validated. */
kiln_status kiln_spec_parse(const char *text, kiln_spec *out);
/* Procedural name (identifier-safe). */
int kiln_spec_name(const kiln_spec *s, char *buf, size_t cap);
/* Stable 64-bit hash of the canonical text (FNV-1a). */
uint64_t kiln_spec_hash(const kiln_spec *s);
/* KILN_OK, or KILN_ERR_INVALID_ARG with the reason in kiln_last_error(). */
kiln_status kiln_spec_validate(const kiln_spec *s);
int kiln_spec_equal(const kiln_spec *a, const kiln_spec *b);

const char *kiln_op_name(kiln_op op);
const char *kiln_isa_name(kiln_isa isa);   /* "generic", "avx2", "avx512" */

#ifdef __cplusplus
}
#endif
#endif
