/* kernels/cpu/cpu_pool.h — a persistent pool of worker threads per context.
 * Threads are created once with the context; each run wakes them, the caller
 * itself takes task 0, and run returns when every task has finished. */
#ifndef KILN_CPU_POOL_H
#define KILN_CPU_POOL_H
#include "kiln/kiln.h"

typedef struct kiln_cpu_pool kiln_cpu_pool;
typedef void (*kiln_cpu_task_fn)(void *arg, int task, int ntasks);

/* threads >= 1 (the caller counts as one, so threads - 1 workers start). */
kiln_status kiln_cpu_pool_create(int threads, kiln_cpu_pool **out);
void kiln_cpu_pool_destroy(kiln_cpu_pool *pool);
int kiln_cpu_pool_threads(const kiln_cpu_pool *pool);
/* fn(arg, t, threads) for every t in 0..threads-1, each on its own thread
 * (every worker takes part in every run, so none can miss a generation).
 * Calls from several threads are serialized. */
void kiln_cpu_pool_run(kiln_cpu_pool *pool, kiln_cpu_task_fn fn, void *arg);
/* Worker threads started since the pool was created (stays threads - 1: tests
 * check that runs reuse the workers). */
int kiln_cpu_pool_threads_started(const kiln_cpu_pool *pool);

#endif
