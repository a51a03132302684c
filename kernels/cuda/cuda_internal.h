/* kernels/cuda/cuda_internal.h — state shared by the CUDA backend's files.
 *
 *   cuda_api.c      dlopen tables (libcuda, NVRTC)
 *   cuda_compile.c  NVRTC + disk cache of cubins
 *   cuda_backend.c  vtable: devices, context, stream, buffers
 *   cuda_modules.c  per-context cache spec -> loaded module and kernels
 *   cuda_ops.c      can_implement, heuristic, run (parameter blocks, grids)
 */
#ifndef KILN_CUDA_INTERNAL_H
#define KILN_CUDA_INTERNAL_H

#include <pthread.h>

#include "kernels/core/backend.h"
#include "kernels/cuda/cuda_api.h"

/* A spec's loaded module: its entry kernel, the split-combine kernel of paged
 * attention, and the activation quantizer of the int8 mat-vec (kiln_cuda_mv_int8). */
typedef struct kiln_cuda_module {
    kiln_spec spec;
    uint64_t hash;
    CUmodule module;
    CUfunction main, combine, quantize; /* NULL where the template has none */
    int threads;
    unsigned max_dynamic_smem; /* the kernel's dynamic shared memory limit, as raised */
    struct kiln_cuda_module *next;
} kiln_cuda_module;

typedef struct kiln_cuda_ctx {
    const kiln_cu_api *cu;
    CUdevice dev;
    CUcontext pctx;          /* the device's primary context (retained) */
    CUstream own;            /* kiln's stream */
    CUstream active;         /* own, or the caller's (kiln_context_set_cuda_stream) */
    int cc_major, cc_minor;
    int sms;
    int smem_optin;          /* shared memory per block with opt-in */
    char arch[16];           /* NVRTC target: "sm_90" */
    pthread_mutex_t lock;    /* modules and workspace */
    kiln_cuda_module *modules;
    CUdeviceptr workspace;   /* scratch for split-K / split-KV partials */
    size_t workspace_size;
} kiln_cuda_ctx;

static inline kiln_cuda_ctx *kiln_cuda_of(kiln_context *ctx) { return (kiln_cuda_ctx *)ctx->impl; }

/* Make the context's CUDA context current on the calling thread (every entry
 * point calls this first: the CUDA current context is per thread). */
kiln_status kiln_cuda_bind(kiln_cuda_ctx *c);

/* The loaded module of spec, compiling (through the disk cache) and loading it
 * on first use; later calls are a lookup under the lock. */
kiln_status kiln_cuda_module_get(kiln_context *ctx, const kiln_spec *spec, const kiln_cuda_module **out);
/* Compile specs[0..n) with NVRTC into the disk cache on up to `threads` threads
 * (the vtable's precompile); module_get then loads them without compiling. */
kiln_status kiln_cuda_modules_precompile(kiln_context *ctx, const kiln_spec *spec);
void kiln_cuda_modules_release(kiln_cuda_ctx *c);

/* Device scratch of at least bytes (grown, never shrunk; freed with the context). */
kiln_status kiln_cuda_workspace(kiln_cuda_ctx *c, size_t bytes, CUdeviceptr *out);

/* Operation interface (cuda_ops.c). */
kiln_status kiln_cuda_can_implement(kiln_context *ctx, const kiln_spec *spec);
kiln_status kiln_cuda_prepare(kiln_context *ctx, const kiln_spec *spec);
kiln_status kiln_cuda_run(kiln_context *ctx, const kiln_spec *spec, const void *params);
kiln_status kiln_cuda_heuristic(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out);

/* For benchmarks and tests on the GPU: the context's active stream. */
CUstream kiln_cuda_active_stream(kiln_context *ctx);

#endif
