/* kiln/kiln.h — the public C API of kiln.
 *
 * kiln is a kernel library for quantized transformer inference: dequant-matmul,
 * flash attention, paged attention, fused norms and RoPE, generated per spec for CUDA
 * (NVRTC), Vulkan (GLSL -> SPIR-V) and SIMD CPUs.
 *
 * Conventions
 * - Every function returns a kiln_status; on failure kiln_last_error() returns a
 *   message for the calling thread (valid until that thread's next kiln call).
 *   No function prints or exits.
 * - Shapes are written outermost first, as in C: a tensor of shape [n][k] has
 *   ne[0] = n rows and ne[1] = k elements per row. Strides are in bytes and the
 *   innermost dimension is always contiguous (for block formats, in whole blocks).
 * - There is no hidden global state: everything lives in a kiln_context.
 * - Every params and options struct starts with `size_t size`, so it can grow
 *   without breaking callers built against an older kiln.h: set it to
 *   sizeof(the struct) (the *_default() functions do). 0 is read as this
 *   header's size, so zero-initialized structs keep working; a size larger
 *   than the library knows is refused (a caller built against a newer kiln).
 *
 * Threads
 * - Separate contexts are independent: use them from separate threads freely.
 * - On one context, these may be called from several threads at once:
 *   kiln_matmul() and the other one-call ops, kiln_*_plan(), kiln_plan_run(),
 *   kiln_plan_destroy() (of different plans), kiln_plan_workspace_size() and
 *   kiln_kernel_choose(). kiln serializes their launches per context (on the
 *   cpu one op already uses all of the context's threads); the choice memo is
 *   locked. A plan is immutable: one plan may run from several threads at once.
 * - Everything else on a context (kiln_context_destroy, kiln_synchronize,
 *   kiln_context_set_*, the kiln_buffer_* functions, kiln_tune) is called by
 *   one thread at a time, and not while a call of the list above runs on it.
 *   A plan is destroyed after its last run returned, and before its context.
 */
#ifndef KILN_KILN_H
#define KILN_KILN_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_VERSION_MAJOR 0
#define KILN_VERSION_MINOR 1
#define KILN_VERSION_PATCH 0
#define KILN_VERSION_STRING "0.1.0"
#define KILN_VERSION_NUMBER (KILN_VERSION_MAJOR * 10000 + KILN_VERSION_MINOR * 100 + KILN_VERSION_PATCH)

/* The version of the library actually linked (may differ from the header's). */
const char *kiln_version(void);

/* ---------------------------------------------------------------- status */

typedef enum kiln_status {
    KILN_OK = 0,
    KILN_ERR_INVALID_ARG,   /* null pointer, bad enum, inconsistent parameters */
    KILN_ERR_SHAPE,         /* shapes or strides that do not fit together */
    KILN_ERR_UNSUPPORTED,   /* valid request this backend/device cannot do */
    KILN_ERR_UNAVAILABLE,   /* backend driver or library absent, no such device */
    KILN_ERR_OUT_OF_MEMORY,
    KILN_ERR_COMPILE,       /* run-time kernel compile failed (log in kiln_last_error) */
    KILN_ERR_DEVICE,        /* driver/launch error reported by the device */
    KILN_ERR_IO,            /* file could not be read or written */
    KILN_ERR_FORMAT,        /* malformed file (GGUF, cache, model) */
    KILN_ERR_INTERNAL
} kiln_status;

const char *kiln_status_name(kiln_status s);
/* Message of the last failed kiln call on this thread ("" if none). */
const char *kiln_last_error(void);

/* --------------------------------------------------------------- devices */

typedef enum kiln_backend {
    KILN_BACKEND_CPU = 0,
    KILN_BACKEND_CUDA,
    KILN_BACKEND_VULKAN,
    KILN_BACKEND_COUNT
} kiln_backend;

const char *kiln_backend_name(kiln_backend b); /* "cpu", "cuda", "vulkan" */

typedef struct kiln_device_info {
    kiln_backend backend;
    int index;                  /* N in "cuda:N" */
    char id[32];                /* "cpu", "cuda:0", "vulkan:1" */
    char name[128];             /* "NVIDIA H100 80GB HBM3", "AMD EPYC (avx2)" */
    char vendor[64];
    char driver[64];            /* driver / API version string */
    uint64_t memory_bytes;      /* device memory (system memory for cpu) */
    int compute_major;          /* CUDA compute capability, 0 elsewhere */
    int compute_minor;
    int multiprocessors;        /* SMs / compute units / CPU threads */
    uint32_t shared_mem_bytes;  /* per block / workgroup; L1d for cpu */
    int subgroup_size;          /* warp / subgroup size; SIMD lanes of f32 for cpu */
    char features[256];         /* space-separated: "avx2 fma f16c", "fp16 int8 coopmat_nv" */
} kiln_device_info;

/* Whether a backend is compiled in and its driver/library can be loaded.
 * Writes a reason to kiln_last_error() when it cannot. Never crashes. */
int kiln_backend_available(kiln_backend b);
/* Number of devices of a backend (0 when unavailable). */
kiln_status kiln_device_count(kiln_backend b, int *count);
kiln_status kiln_device_get_info(kiln_backend b, int index, kiln_device_info *info);
/* Cores this process may use: its CPU affinity, limited by a cgroup CPU quota.
 * The cpu backend's default thread count; more threads only wait for each other. */
int kiln_cpu_cores_available(void);

/* --------------------------------------------------------------- context */

/* Which calls may share a context between threads: "Threads" above. */
typedef struct kiln_context kiln_context;

typedef struct kiln_context_options {
    size_t size;           /* sizeof(kiln_context_options); see Conventions */
    int threads;           /* cpu: worker threads, 0 = KILN_THREADS or kiln_cpu_cores_available() */
    const char *cache_dir; /* NULL = $XDG_CACHE_HOME/kiln or ~/.cache/kiln */
    int use_tuning;        /* 1 (default via kiln_context_options_default): consult the chooser below */
    const char *cpu_isa;   /* cpu: "generic", "avx2", "avx512"; NULL = KILN_CPU_ISA or the best supported */
    /* Told, once each, of problems kiln worked around (a tuning-cache entry it
     * would not trust and replaced by the default kernel, ...). NULL = silent;
     * kiln_warn_stderr prints "kiln: warning: ..." lines. May be called from
     * whichever thread runs an op on the context. */
    void (*warn)(void *user, const char *message);
    void *warn_user;
    /* What op calls consult before the heuristics when use_tuning is 1: the
     * autotune cache is &kiln_tune_chooser (kiln/autotune.h). NULL = heuristics
     * only. See kiln_chooser in kiln/kernel.h. */
    const struct kiln_chooser *chooser;
} kiln_context_options;

void kiln_warn_stderr(void *user, const char *message);

kiln_context_options kiln_context_options_default(void);
/* device: "cpu", "cuda", "cuda:N", "vulkan", "vulkan:N". opts may be NULL. */
kiln_status kiln_context_create(const char *device, const kiln_context_options *opts,
                                kiln_context **out);
void kiln_context_destroy(kiln_context *ctx);
kiln_status kiln_context_get_device(const kiln_context *ctx, kiln_device_info *info);
/* Wait until all work submitted through this context has finished. */
kiln_status kiln_synchronize(kiln_context *ctx);

/* Interop: run subsequent work on the caller's queue instead of kiln's own.
 * CUDA: a CUstream (pass NULL for kiln's stream). Work is only enqueued; the
 *   caller synchronizes. Launches on a caller stream are capturable in a graph.
 * Vulkan: a VkCommandBuffer in the recording state; kiln records its dispatches
 *   and barriers into it and never submits it (pass NULL to go back to kiln's). */
kiln_status kiln_context_set_cuda_stream(kiln_context *ctx, void *cu_stream);
kiln_status kiln_context_set_vulkan_command_buffer(kiln_context *ctx, void *vk_command_buffer);

/* ---------------------------------------------------------------- buffers */

typedef struct kiln_buffer kiln_buffer;

kiln_status kiln_buffer_alloc(kiln_context *ctx, size_t bytes, kiln_buffer **out);
/* Bring your own memory: kiln uses, and never frees, memory the caller owns.
 * host: a host pointer, on cpu contexts (GPU contexts: KILN_ERR_UNSUPPORTED;
 *   use kiln_buffer_upload/download there).
 * cuda: a CUdeviceptr on the context's device.
 * vulkan: a VkBuffer (with offset) created on the context's VkDevice, which must
 *   be the one kiln_context_vulkan_handles() reports, with STORAGE_BUFFER usage. */
kiln_status kiln_buffer_wrap_host(kiln_context *ctx, void *ptr, size_t bytes, kiln_buffer **out);
kiln_status kiln_buffer_wrap_cuda(kiln_context *ctx, uint64_t cu_deviceptr, size_t bytes,
                                  kiln_buffer **out);
kiln_status kiln_buffer_wrap_vulkan(kiln_context *ctx, uint64_t vk_buffer, size_t offset,
                                    size_t bytes, kiln_buffer **out);
void kiln_buffer_free(kiln_buffer *buf);
size_t kiln_buffer_size(const kiln_buffer *buf);
/* Host pointer for cpu buffers, NULL for device buffers. */
void *kiln_buffer_host_ptr(kiln_buffer *buf);
kiln_status kiln_buffer_upload(kiln_buffer *buf, size_t offset, const void *src, size_t bytes);
kiln_status kiln_buffer_download(kiln_buffer *buf, size_t offset, void *dst, size_t bytes);

/* Vulkan handles of a context (VkInstance, VkPhysicalDevice, VkDevice, VkQueue,
 * queue family), so an engine can create buffers kiln can wrap. */
typedef struct kiln_vulkan_handles {
    uint64_t instance, physical_device, device, queue;
    uint32_t queue_family;
} kiln_vulkan_handles;
kiln_status kiln_context_vulkan_handles(kiln_context *ctx, kiln_vulkan_handles *out);

/* ---------------------------------------------------------------- tensors */

#define KILN_MAX_DIMS 4

/* A view of a buffer. ne[] is outermost first; nb[] are byte strides, with
 * the innermost dimension contiguous. */
typedef struct kiln_tensor {
    kiln_buffer *buf;
    size_t offset;              /* bytes from the start of buf */
    kiln_dtype dtype;
    int ndim;
    int64_t ne[KILN_MAX_DIMS];
    int64_t nb[KILN_MAX_DIMS];
} kiln_tensor;

/* A contiguous tensor over buf at offset, shape ne[0..ndim-1]. */
kiln_tensor kiln_tensor_make(kiln_buffer *buf, size_t offset, kiln_dtype dtype, int ndim,
                             const int64_t *ne);
/* Bytes spanned by a tensor (0 if its shape is invalid for its dtype). */
size_t kiln_tensor_bytes(const kiln_tensor *t);

/* ---------------------------------------------------------------- ops */

/* Dequant-matmul: y[n][m] = x[n][k] · W[m][k]ᵀ (+ epilogue).
 * x: f32, f16 or bf16 activations. W: any weight format (rows of k elements).
 * y: f32 (or f16/bf16) output. Epilogues (gen/epilogues.def), applied in this order:
 *   BIAS:     y = x·Wᵀ + bias[m]             (bias: f32 [m])
 *   SWIGLU:   y = silu(y) * (x·W_upᵀ + bias)  (w_up required, same shape/format as W)
 *   GELU:     y = gelu_tanh(y)               (not with SWIGLU)
 *   SCALE:    y = y * scale                  (scale: a finite float; 0 without SCALE)
 *   RESIDUAL: y += residual[n][m]            (residual: same dtype/shape as y; may alias y)
 * With SWIGLU, the bias (if any) applies to both products before the gate. */
enum {
    KILN_EPI_NONE = 0,
    KILN_EPI_BIAS = 1u << 0,
    KILN_EPI_RESIDUAL = 1u << 1,
    KILN_EPI_SWIGLU = 1u << 2,
    KILN_EPI_GELU = 1u << 3,
    KILN_EPI_SCALE = 1u << 4
};

typedef struct kiln_matmul_params {
    size_t size;                /* sizeof(kiln_matmul_params) or 0; see Conventions */
    kiln_tensor x;              /* [n][k] */
    kiln_tensor w;              /* [m][k] */
    const kiln_tensor *w_up;    /* [m][k], SWIGLU only */
    const kiln_tensor *bias;    /* [m] f32, BIAS only */
    const kiln_tensor *residual;/* [n][m], RESIDUAL only */
    kiln_tensor y;              /* [n][m] */
    unsigned epilogue;          /* KILN_EPI_* flags */
    float scale;                /* SCALE only (0 otherwise) */
} kiln_matmul_params;

kiln_status kiln_matmul(kiln_context *ctx, const kiln_matmul_params *p);

/* Flash attention (prefill) for one sequence:
 * q [n_q][n_head][head_dim], k and v [n_kv][n_kv_head][head_dim], o like q.
 * n_head must be a multiple of n_kv_head (grouped-query attention: query head h
 * reads KV head h / (n_head / n_kv_head)). Query i sits at position
 * q_pos0 + i; KV j at position j. causal: query i sees KV j only when
 * j <= q_pos0 + i. Q/K/V/O: f32, f16 or bf16 (K and V the same dtype). */
typedef struct kiln_flash_attn_params {
    size_t size;                /* sizeof(kiln_flash_attn_params) or 0 */
    kiln_tensor q, k, v, o;
    float scale;                /* softmax scale, usually 1/sqrt(head_dim) */
    int causal;
    int64_t q_pos0;             /* position of the first query (causal only) */
} kiln_flash_attn_params;

kiln_status kiln_flash_attn(kiln_context *ctx, const kiln_flash_attn_params *p);

/* Paged attention (decode): one query token per sequence over a paged KV cache.
 * q [n_seq][n_head][head_dim] (f32/f16/bf16), o like q.
 * k_cache, v_cache [n_blocks][block_size][n_kv_head][head_dim] of f32, f16 or
 *   q8_0 (q8_0 requires head_dim % 32 == 0; blocks run along head_dim).
 * block_table i32 [n_seq][max_blocks_per_seq]: physical block of each logical block.
 * seq_lens i32 [n_seq]: tokens in each sequence's cache (>= 1); the query
 *   attends to all of them. block_size: a power of two from 8 to 128. */
typedef struct kiln_paged_attn_params {
    size_t size;                /* sizeof(kiln_paged_attn_params) or 0 */
    kiln_tensor q, o;
    kiln_tensor k_cache, v_cache;
    kiln_tensor block_table, seq_lens;
    float scale;
} kiln_paged_attn_params;

kiln_status kiln_paged_attn(kiln_context *ctx, const kiln_paged_attn_params *p);

/* Fused norm over rows of x [rows][dim]:
 *   s = x + residual (if residual), else s = x
 *   RMS:   y = s / sqrt(mean(s^2) + eps) * weight
 *   LAYER: y = (s - mean(s)) / sqrt(var(s) + eps) * weight + bias
 * sum_out (optional) receives s, which is what the next residual add needs.
 * All of x, residual, sum_out, y share one dtype (f32, f16 or bf16); weight and
 * bias are f32 [dim]. y may alias x. */
typedef enum kiln_norm_kind { KILN_NORM_RMS = 0, KILN_NORM_LAYER = 1 } kiln_norm_kind;

typedef struct kiln_norm_params {
    size_t size;                /* sizeof(kiln_norm_params) or 0 */
    kiln_norm_kind kind;
    kiln_tensor x;
    const kiln_tensor *residual;
    const kiln_tensor *weight;  /* optional: NULL means 1 */
    const kiln_tensor *bias;    /* LAYER only, optional */
    const kiln_tensor *sum_out;
    kiln_tensor y;
    float eps;
} kiln_norm_params;

kiln_status kiln_norm(kiln_context *ctx, const kiln_norm_params *p);

/* Rotary position embedding, in place, plus the optional paged KV-cache append
 * of the same tokens (so Q/K/V never leave the device between the QKV matmul
 * and attention).
 * q f32 [n][n_heads][head_dim] and k f32 [n][n_kv_heads][head_dim] (n_heads a
 *   multiple of n_kv_heads) are rotated in place; positions i32 [n] is each
 *   token's position. The first rope_dim values of every head (even,
 *   <= head_dim) turn; the rest are left alone. For pair i < rope_dim/2:
 *     freq  = 1 / theta^(2i / rope_dim)
 *     angle = (pos * freq_scale) * freq
 *     (a, b) -> (a cos - b sin, a sin + b cos)
 *   with pairs (x[2i], x[2i+1]) (neox = 0, llama/GGUF "normal") or
 *   (x[i], x[i + rope_dim/2]) (neox = 1, GPT-NeoX). freq_scale is linear
 *   position scaling: 1 = none; a model's rope "scale" s (positions divided by
 *   s, as GGUF's rope.scaling.factor means) is freq_scale = 1/s. Everything is computed in
 *   float in that order (cpu: bit for bit llama2.c's run.c formula when
 *   freq_scale = 1; GPUs: precise cosf/sinf/powf, a few ulp apart).
 * KV append (v, k_cache, v_cache and slots all set, or all NULL): after the
 *   rotation, the k and v rows of token t are written to slot slots[t]
 *   (block slots[t] / block_size, offset slots[t] % block_size) of the caches,
 *   [n_blocks][block_size][n_kv_heads][head_dim] of f32, f16 or q8_0 — the
 *   layout kiln_paged_attn reads (q8_0 needs head_dim % 32 == 0). f16 rounds
 *   to nearest even as kiln_f32_to_f16; q8_0 is kiln_quantize_row's. A
 *   negative slot skips its token (padding); other slots are left untouched.
 *   v is f32 [n][n_kv_heads][head_dim]; slots is i32 [n]. */
typedef struct kiln_rope_params {
    size_t size;                  /* sizeof(kiln_rope_params) or 0 */
    kiln_tensor q;                /* f32 [n][n_heads][head_dim], rotated in place */
    kiln_tensor k;                /* f32 [n][n_kv_heads][head_dim], rotated in place */
    kiln_tensor positions;        /* i32 [n] */
    int rope_dim;                 /* even, 2..head_dim */
    float theta;                  /* base, e.g. 10000 */
    float freq_scale;             /* 1 = no scaling */
    int neox;                     /* 0: pairs (x[2i], x[2i+1]); 1: pairs (x[i], x[i + rope_dim/2]) */
    const kiln_tensor *v;         /* KV append: f32 [n][n_kv_heads][head_dim] */
    const kiln_tensor *k_cache;   /* KV append: [n_blocks][block_size][n_kv_heads][head_dim] */
    const kiln_tensor *v_cache;   /* KV append: like k_cache */
    const kiln_tensor *slots;     /* KV append: i32 [n], block * block_size + offset; < 0 skips */
} kiln_rope_params;

kiln_status kiln_rope(kiln_context *ctx, const kiln_rope_params *p);

/* ---------------------------------------------------------------- plans
 *
 * For an engine that runs one op on the same shapes many times (CUTLASS's
 * can_implement / get_workspace_size / initialize / run, FlashInfer's
 * plan / run): kiln_*_plan() validates the shapes, chooses the kernel (as the
 * one-call op would), compiles and loads it, and reports the workspace it
 * needs, once. kiln_plan_run() then only binds tensors and launches: it checks
 * that the call has the planned shapes (dtype, ne, nb of every tensor, which
 * optional tensors are set, the epilogue / norm kind) and that every tensor
 * lies inside its buffer on the plan's context; it neither chooses, hashes
 * nor compiles. The one-call ops are plan + run on the stack.
 *
 * The params given to a *_plan function describe the shapes; their tensors'
 * buffers may be NULL (they are not read; given, they are checked as a run
 * would). kiln_plan_run takes the same struct, with buffers, for the plan's op. */
typedef struct kiln_plan kiln_plan;

kiln_status kiln_matmul_plan(kiln_context *ctx, const kiln_matmul_params *shapes, kiln_plan **out);
kiln_status kiln_flash_attn_plan(kiln_context *ctx, const kiln_flash_attn_params *shapes, kiln_plan **out);
kiln_status kiln_paged_attn_plan(kiln_context *ctx, const kiln_paged_attn_params *shapes, kiln_plan **out);
kiln_status kiln_norm_plan(kiln_context *ctx, const kiln_norm_params *shapes, kiln_plan **out);
kiln_status kiln_rope_plan(kiln_context *ctx, const kiln_rope_params *shapes, kiln_plan **out);
/* Bytes of caller workspace kiln_plan_run may use (0: none; every backend
 * keeps its own scratch today, so 0 everywhere for now). */
size_t kiln_plan_workspace_size(const kiln_plan *plan);
/* Run plan on params (the plan op's struct).
 * stream: where this call's work goes. CUDA: a CUstream; Vulkan: a
 *   VkCommandBuffer in the recording state, recorded into and never submitted;
 *   NULL: the context's queue (kiln_context_set_*). cpu: NULL.
 * workspace: NULL, or a buffer of the plan's context of at least
 *   kiln_plan_workspace_size() bytes that no other run uses at the same time. */
kiln_status kiln_plan_run(const kiln_plan *plan, const void *params, void *stream, kiln_buffer *workspace);
void kiln_plan_destroy(kiln_plan *plan);

#ifdef __cplusplus
}
#endif
#endif
