/* kiln/kernel.h — the operation interface below the op entry points.
 *
 * kiln_matmul() and friends validate their parameters, choose a spec (the
 * autotune cache, else heuristics) and run it. This header exposes the same
 * steps one by one, for the autotuner, for benchmarks and tests that sweep
 * specs, and for engines that want to pin a kernel:
 *
 *   spec --kiln_gen_emit--> source --backend compile (cached)--> launch
 *
 * params is the op's parameter struct: kiln_matmul_params for KILN_OP_MATMUL,
 * kiln_flash_attn_params, kiln_paged_attn_params or kiln_norm_params. */
#ifndef KILN_KERNEL_H
#define KILN_KERNEL_H

#include "kiln/kiln.h"
#include "kiln/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Generated source and its launch description. */
typedef struct kiln_source {
    char *text;              /* NUL-terminated source (owned; kiln_source_free) */
    size_t len;
    char entry[KILN_SPEC_NAME_MAX]; /* kernel symbol / function name */
    const char *lang;        /* "c", "cuda", "glsl" */
    int threads[3];          /* block / workgroup size */
    uint32_t shared_bytes;   /* dynamic shared memory (cuda); 0 where static */
} kiln_source;

/* Emit the specialized source of a spec (validates the spec first). */
kiln_status kiln_gen_emit(const kiln_spec *spec, kiln_source *out);
void kiln_source_free(kiln_source *src);

/* The manifest: default instances built into the library, per backend. */
size_t kiln_manifest_count(void);
const kiln_spec *kiln_manifest_get(size_t i);

/* Whether the context's device can run this spec at all (shared memory,
 * registers, features, built-in instance present for cpu). KILN_OK or a reason. */
kiln_status kiln_kernel_can_implement(kiln_context *ctx, const kiln_spec *spec);
/* Compile and load ahead of time (no-op where already cached). */
kiln_status kiln_kernel_prepare(kiln_context *ctx, const kiln_spec *spec);
/* Validate params for spec->op and run exactly this spec. */
kiln_status kiln_kernel_run(kiln_context *ctx, const kiln_spec *spec, const void *params);
/* The spec a plan runs (kiln.h, plans). */
kiln_status kiln_plan_spec(const kiln_plan *plan, kiln_spec *out);
/* The spec kiln_matmul() etc. would choose for these params on this context. */
kiln_status kiln_kernel_choose(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out);

/* A chooser: where a context looks for a better spec than the heuristics'
 * (kiln_context_options.chooser; the autotune cache is kiln_tune_chooser).
 * The core asks it once per kind of call (op, dtypes, epilogue, head size and
 * size band) and memoizes the answer, so choose() is off the hot path. */
typedef struct kiln_chooser {
    size_t size;        /* sizeof(kiln_chooser): the struct may grow */
    const char *name;
    /* Per-context state, made by kiln_context_create (optional: NULL leaves it
     * NULL) and released by close() in kiln_context_destroy. */
    kiln_status (*open)(kiln_context *ctx, void **state);
    void (*close)(void *state);
    /* KILN_OK and *out, or anything else for the heuristic spec. */
    kiln_status (*choose)(void *state, kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out);
} kiln_chooser;

/* The state ctx's chooser opened, when ctx consults that chooser; else NULL. */
void *kiln_context_chooser_state(kiln_context *ctx, const kiln_chooser *chooser);
/* Forget the memoized choices (after what the chooser reads has changed). */
void kiln_kernel_choices_forget(kiln_context *ctx);

#ifdef __cplusplus
}
#endif
#endif
