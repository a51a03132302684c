/* kernels/core/backend.h — what a backend implements (internal).
 *
 * The public entry points (kernels/core/) own validation, error messages and
 * spec choice; a backend only moves bytes and runs specs. Each backend exports
 * one kiln_backend_vtable (kiln_cpu_backend, kiln_cuda_backend,
 * kiln_vulkan_backend); a backend that is not compiled in is NULL in
 * kiln_backends[]. */
#ifndef KILN_CORE_BACKEND_H
#define KILN_CORE_BACKEND_H

#include <pthread.h>
#include <string.h>

#include "kiln/error.h"
#include "kiln/kernel.h"
#include "kiln/kiln.h"
#include "kiln/spec.h"

struct kiln_context {
    const struct kiln_backend_vtable *vt;
    kiln_device_info info;
    kiln_context_options opts;
    char cache_dir[1024];          /* resolved: opts.cache_dir or $XDG_CACHE_HOME/kiln or ~/.cache/kiln */
    kiln_isa isa;                  /* cpu: the ISA this context runs (set by context_init) */
    void *chooser_state;           /* opened by opts.chooser (the autotune cache: autotune/lookup.c) */
    struct kiln_choice_memo *memo; /* op call -> chosen spec, so dispatch is a lookup */
    pthread_mutex_t memo_lock;     /* memo and chooser: kiln_kernel_choose runs on several threads */
    pthread_mutex_t run_lock;      /* one launch at a time per context (kiln.h "Threads") */
    void *queue;                   /* the caller's queue set by kiln_context_set_*, NULL: kiln's own */
    void *impl;                    /* backend-private state */
};

struct kiln_buffer {
    kiln_context *ctx;
    size_t size;
    int owned;           /* 0: wrapped caller memory, never freed by kiln */
    void *host;          /* cpu: the memory; GPU backends: NULL */
    uint64_t handle;     /* CUdeviceptr or VkBuffer */
    size_t handle_offset;/* VkBuffer offset of byte 0 */
    void *impl;          /* backend-private (VkDeviceMemory, ...) */
};

typedef struct kiln_backend_vtable {
    kiln_backend kind;
    /* 1 if usable; else 0 with the reason in kiln_last_error(). */
    int (*available)(void);
    kiln_status (*device_count)(int *count);
    kiln_status (*device_info)(int index, kiln_device_info *info);
    kiln_status (*context_init)(kiln_context *ctx, int index);
    void (*context_fini)(kiln_context *ctx);
    kiln_status (*synchronize)(kiln_context *ctx);
    /* cuda: CUstream; vulkan: VkCommandBuffer; NULL resets. cpu: NULL entry. */
    kiln_status (*set_queue)(kiln_context *ctx, void *queue);

    /* buf->ctx and buf->size are set; fill the rest. */
    kiln_status (*buffer_alloc)(kiln_context *ctx, kiln_buffer *buf);
    /* buf->host or buf->handle(/handle_offset) and size are set by the caller. */
    kiln_status (*buffer_wrap)(kiln_context *ctx, kiln_buffer *buf);
    void (*buffer_free)(kiln_buffer *buf); /* only called for owned buffers */
    kiln_status (*buffer_upload)(kiln_buffer *buf, size_t off, const void *src, size_t n);
    kiln_status (*buffer_download)(kiln_buffer *buf, size_t off, void *dst, size_t n);

    /* Operation interface; params already validated against spec->op. */
    kiln_status (*can_implement)(kiln_context *ctx, const kiln_spec *spec);
    kiln_status (*prepare)(kiln_context *ctx, const kiln_spec *spec);
    kiln_status (*run)(kiln_context *ctx, const kiln_spec *spec, const void *params);
    /* Optional, for plans: find once what run() looks up on every call
     * (*kernel: a handle that lives as long as the context), then run with it.
     * Both NULL: plans call run(). */
    kiln_status (*plan)(kiln_context *ctx, const kiln_spec *spec, const void **kernel);
    kiln_status (*run_planned)(kiln_context *ctx, const kiln_spec *spec, const void *kernel, const void *params);
    /* Optional: compile spec ahead of its first run, so run() and prepare()
     * find it built. Thread-safe: kiln_precompile calls it from several threads
     * at once (the autotuner's candidates). A spec that fails is left for run()
     * to report. NULL: nothing to compile at run time (cpu). */
    kiln_status (*precompile)(kiln_context *ctx, const kiln_spec *spec);
    /* Optional: the backend's heuristic spec for params when nothing is tuned.
     * NULL: core picks the closest manifest instance (kernels/core/choose.c). */
    kiln_status (*heuristic)(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out);
} kiln_backend_vtable;

extern const kiln_backend_vtable *const kiln_backends[KILN_BACKEND_COUNT];
/* The CUDA backend on the emulated driver (kernels/cuda/emu/): device
 * "cuda-emu:0", a test tool created by name only, never listed in
 * kiln_backends[] nor chosen by default. */
extern const kiln_backend_vtable kiln_cuda_emu_backend;

/* Tell the context's warn callback (if any) of a problem kiln worked around. */
void kiln_context_warn(const kiln_context *ctx, const char *fmt, ...) KILN_PRINTF_LIKE(2, 3);

/* Compile specs[0..n) through the backend's precompile on up to `threads`
 * threads (at most 8); nothing when the backend has no precompile. Off the hot
 * path: only the tuner calls it (kernels/core/precompile.c). */
void kiln_precompile(kiln_context *ctx, const kiln_spec *specs, int n, int threads);
/* The spec choice without the context's chooser: backend heuristic, else the
 * closest manifest instance, else the generator's default (kernels/core/choose.c). */
kiln_status kiln_choose_heuristic(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out);
/* The size band of a call (validated params): tokens for matmul, KV length
 * for attention, row length for norms. Heuristics and tuned tiles change
 * between bands, so choices are memoized, and tuned, per band. */
int kiln_shape_band(kiln_op op, const void *params);
/* Bytes of a context's choice memo (kernels/core/choose.c). */
size_t kiln_choice_memo_bytes(void);

/* Validation of op parameters, shared by every backend (kernels/core/validate.c). */
kiln_status kiln_validate_params(kiln_context *ctx, kiln_op op, const void *params);
/* The same for the shapes of a plan: tensors may have no buffer. */
kiln_status kiln_validate_shapes(kiln_context *ctx, kiln_op op, const void *params);
/* The choice of kiln_kernel_choose for params already validated; with kernel,
 * also the backend's plan of it (vtable plan; NULL without one), memoized. */
kiln_status kiln_choose_validated(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out,
                                  const void **kernel);

/* A struct that starts with its size (kiln.h, Conventions), as this build
 * knows it (known bytes): *out is src itself when its size is 0 or known, else
 * a copy in local with the fields src lacks zeroed. A larger size is refused. */
static inline kiln_status kiln_struct_read(const void *src, size_t known, void *local, const void **out,
                                           const char *what)
{
    size_t size;
    memcpy(&size, src, sizeof size);
    *out = src;
    if (size == 0 || size == known) return KILN_OK;
    if (size > known)
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s: size %zu is larger than this kiln's %zu bytes (built against a newer kiln.h?)",
                         what, size, known);
    if (size < sizeof size) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: size %zu is too small", what, size);
    memset(local, 0, known);
    memcpy(local, src, size);
    memcpy(local, &known, sizeof known);
    *out = local;
    return KILN_OK;
}

#endif
