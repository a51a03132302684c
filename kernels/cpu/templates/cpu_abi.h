/* kernels/cpu/templates/cpu_abi.h — the calling convention between the cpu
 * host code (kernels/cpu/) and the generated cpu kernels.
 *
 * Both sides include this one file: the host with #include, the templates
 * with `#pragma kiln include` (the generator inlines it). It holds only types,
 * no macros beyond its guard, so a bundle of many instances can share one copy.
 *
 * Every generated cpu kernel has the same signature:
 *     void kiln_<name>(const void *args, int phase, int task, int ntasks);
 * args points at the op's struct below. The host calls it on every thread of
 * its pool (task = 0 .. ntasks-1), once per phase; a phase finishes on all
 * threads before the next starts. Each kernel splits its own work by task,
 * because it knows its tile granularity.
 *   phase KILN_CPU_PHASE_PREPARE: matmul only — quantize the activations into
 *     args->scratch in whatever layout the kernel's dot product wants.
 *   phase KILN_CPU_PHASE_RUN: compute.
 *
 * Kernels see f32 activations and write f32 outputs; the host converts
 * f16/bf16 tensors before and after (see docs/CPU.md). Weights and K/V stay in
 * their own format. Strides of f32 tensors are in floats, of raw tensors in bytes. */
#ifndef KILN_CPU_ABI_H
#define KILN_CPU_ABI_H
#include <stddef.h>
#include <stdint.h>

enum kiln_cpu_phase { KILN_CPU_PHASE_PREPARE = 0, KILN_CPU_PHASE_RUN = 1 };

typedef void (*kiln_cpu_kernel_fn)(const void *args, int phase, int task, int ntasks);

/* The even split a kernel's RUN phase uses when its work is uniform: task
 * task's share [*begin, *end) of [0, count), contiguous, the remainder going
 * to the first tasks. */
static inline void kiln_cpu_task_range(int64_t count, int task, int ntasks, int64_t *begin, int64_t *end)
{
    int64_t base = count / ntasks, rest = count % ntasks;
    *begin = task * base + (task < rest ? task : rest);
    *end = *begin + base + (task < rest ? 1 : 0);
}

/* Matmul y[n][m] = x[n][k] · W[m][k]ᵀ with the epilogue flags of kiln.h
 * (the bits of gen/epilogues.def), chosen at run time. */
typedef struct kiln_cpu_matmul_args {
    const float *x;          /* [n][k], row stride x_stride floats */
    int64_t x_stride;
    const uint8_t *w;        /* [m] rows of k elements in the spec's format */
    const uint8_t *w_up;     /* swiglu only, same layout as w */
    int64_t w_stride;        /* bytes between rows of w and w_up */
    const float *bias;       /* [m] or NULL */
    const float *residual;   /* [n][m] or NULL; may alias y */
    int64_t res_stride;
    float *y;                /* [n][m] */
    int64_t y_stride;
    int64_t m, n, k;
    unsigned epilogue;
    void *scratch;           /* shared: prepared activations, scratch_bytes */
    size_t scratch_bytes;
    uint8_t *thread_scratch; /* task t owns thread_scratch + t * thread_scratch_bytes */
    size_t thread_scratch_bytes;
    float scale;             /* the SCALE epilogue's factor */
} kiln_cpu_matmul_args;

/* Flash attention; q/o f32 [n_q][n_head][head_dim], k/v [n_kv][n_kv_head][head_dim]
 * in the spec's K/V dtype. */
typedef struct kiln_cpu_flash_attn_args {
    const float *q;
    int64_t q_tok, q_head;   /* strides in floats */
    float *o;
    int64_t o_tok, o_head;
    const uint8_t *k, *v;
    int64_t k_tok, k_head, v_tok, v_head; /* strides in bytes */
    int64_t n_q, n_kv, n_head, n_kv_head, head_dim;
    float scale;
    int causal;
    int64_t q_pos0;
    uint8_t *thread_scratch;
    size_t thread_scratch_bytes;
} kiln_cpu_flash_attn_args;

/* Paged attention; q/o f32 [n_seq][n_head][head_dim], caches
 * [n_blocks][block_size][n_kv_head][head_dim] in the spec's K/V dtype. */
typedef struct kiln_cpu_paged_attn_args {
    const float *q;
    int64_t q_seq, q_head;   /* floats */
    float *o;
    int64_t o_seq, o_head;
    const uint8_t *k, *v;
    int64_t k_blk, k_tok, k_head; /* bytes */
    int64_t v_blk, v_tok, v_head;
    const int32_t *block_table;
    int64_t bt_stride;       /* int32 entries between sequences */
    int64_t max_blocks;      /* entries per sequence: tokens past max_blocks * block_size are not read */
    const int32_t *seq_lens;
    int64_t n_seq, n_head, n_kv_head, head_dim, block_size, n_blocks;
    float scale;
    uint8_t *thread_scratch;
    size_t thread_scratch_bytes;
} kiln_cpu_paged_attn_args;

/* Fused (residual +) RMS/Layer norm over rows of dim floats. */
typedef struct kiln_cpu_norm_args {
    const float *x;
    int64_t x_stride;
    const float *residual;   /* NULL unless the spec has the residual flag */
    int64_t res_stride;
    float *sum_out;          /* NULL or [rows][dim] */
    int64_t sum_stride;
    float *y;
    int64_t y_stride;
    const float *weight;     /* NULL = 1 */
    const float *bias;       /* NULL = 0 (layer norm only) */
    int64_t rows, dim;
    float eps;
} kiln_cpu_norm_args;

/* RoPE in place on q/k (f32), then, with the spec's kv flag and kc != NULL,
 * the K/V append of each token with slots[t] >= 0 into caches
 * [n_blocks][block_size][n_kv_head][head_dim] of the spec's fmt. */
typedef struct kiln_cpu_rope_args {
    float *q;
    int64_t q_tok, q_head;    /* floats */
    float *k;
    int64_t k_tok, k_head;
    const float *v;           /* NULL without the append */
    int64_t v_tok, v_head;
    const int32_t *positions;
    const int32_t *slots;     /* NULL without the append */
    uint8_t *kc, *vc;
    int64_t kc_blk, kc_slot, kc_head; /* bytes */
    int64_t vc_blk, vc_slot, vc_head;
    int64_t n, n_head, n_kv_head, head_dim, block_size, n_blocks;
    int rope_dim, neox;
    float theta, freq_scale;
} kiln_cpu_rope_args;

#endif
