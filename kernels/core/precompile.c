/* kernels/core/precompile.c — compiling a batch of specs on a few threads
 * before their first run (the autotuner's candidates). Backends provide the
 * one-spec step (the vtable's thread-safe precompile); the fan-out over
 * threads is the same for every backend and lives here. */
#include <pthread.h>

#include "kernels/core/backend.h"

#define MAX_PRECOMPILE_THREADS 8

typedef struct precompile_job {
    kiln_context *ctx;
    const kiln_spec *specs;
    int n;
    int next; /* the next index to take (atomic) */
} precompile_job;

static void *precompile_worker(void *arg)
{
    precompile_job *j = arg;
    for (int i; (i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED)) < j->n;)
        (void)j->ctx->vt->precompile(j->ctx, &j->specs[i]);
    kiln_clear_error(); /* failures are reported by the spec's own run */
    return NULL;
}

void kiln_precompile(kiln_context *ctx, const kiln_spec *specs, int n, int threads)
{
    if (!ctx || !specs || n <= 0 || !ctx->vt->precompile) return;
    if (threads > n) threads = n;
    if (threads > MAX_PRECOMPILE_THREADS) threads = MAX_PRECOMPILE_THREADS;
    precompile_job job = {.ctx = ctx, .specs = specs, .n = n};
    pthread_t tid[MAX_PRECOMPILE_THREADS];
    int started = 0;
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[started], NULL, precompile_worker, &job) == 0) started++;
    precompile_worker(&job); /* the caller takes specs too */
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
}
