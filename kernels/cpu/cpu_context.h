/* kernels/cpu/cpu_context.h — the cpu backend's per-context state (ctx->impl). */
#ifndef KILN_CPU_CONTEXT_H
#define KILN_CPU_CONTEXT_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/core/backend.h"
#include "kernels/cpu/cpu_pool.h"

/* The registry entries a context has looked up (kernels/cpu/cpu_run.c): a
 * decode step makes a few hundred op calls with a handful of distinct specs,
 * and each lookup is a scan of the registry with a spec comparison per entry,
 * twice per call — about 4 % of SmolLM2's decode time before (perf). */
#define KILN_CPU_MEMO 16
typedef struct kiln_cpu_memo {
    int used;
    kiln_spec spec;
    const void *entry; /* the kiln_cpu_registry_entry serving spec */
} kiln_cpu_memo;

typedef struct kiln_cpu_context {
    kiln_isa isa;              /* the ISA this context runs (chosen at creation) */
    kiln_cpu_pool *pool;
    pthread_mutex_t lock;      /* one op at a time per context: scratch is shared */
    unsigned char *scratch;    /* 64-byte aligned, grown on demand, kept between runs */
    size_t scratch_cap;
    int64_t min_task_work;     /* an op gets one task per this much work (KILN_CPU_MIN_TASK_WORK); tests set 1 */
    pthread_mutex_t memo_lock; /* guards found (can_implement runs outside `lock`) */
    kiln_cpu_memo found[KILN_CPU_MEMO];
    unsigned found_next;       /* round-robin replacement */
} kiln_cpu_context;

/* Work (multiply-adds, or elements for norm and rope) below which splitting an
 * op costs more than it saves: waking a worker costs a few microseconds even
 * when it spins, tens when it sleeps, about what one core needs for this many
 * multiply-adds. The tiny synthetic model's 256 x 256 mat-vec runs alone. */
#define KILN_CPU_MIN_TASK_WORK ((int64_t)1 << 16)

/* 64-byte aligned scratch of at least bytes (caller holds lock). NULL + error when out of memory. */
void *kiln_cpu_scratch(kiln_cpu_context *c, size_t bytes);

/* Op dispatch (kernels/cpu/cpu_run.c). */
kiln_status kiln_cpu_run(kiln_context *ctx, const kiln_spec *spec, const void *params);
kiln_status kiln_cpu_plan(kiln_context *ctx, const kiln_spec *spec, const void **kernel);
kiln_status kiln_cpu_run_planned(kiln_context *ctx, const kiln_spec *spec, const void *kernel, const void *params);
kiln_status kiln_cpu_can_implement(kiln_context *ctx, const kiln_spec *spec);
kiln_status kiln_cpu_heuristic(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out);

#endif
