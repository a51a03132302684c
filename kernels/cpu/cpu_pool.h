/* kernels/cpu/cpu_pool.h — a persistent pool of worker threads per context.
 * Threads are created once with the context; each run wakes them, the caller
 * claims tasks too, and run returns when every task has finished. */
#ifndef KILN_CPU_POOL_H
#define KILN_CPU_POOL_H
#include "kiln/kiln.h"

typedef struct kiln_cpu_pool kiln_cpu_pool;
typedef void (*kiln_cpu_task_fn)(void *arg, int task, int ntasks);

/* threads >= 1 (the caller counts as one, so threads - 1 workers start). */
kiln_status kiln_cpu_pool_create(int threads, kiln_cpu_pool **out);
void kiln_cpu_pool_destroy(kiln_cpu_pool *pool);
int kiln_cpu_pool_threads(const kiln_cpu_pool *pool);
/* fn(arg, t, threads) for every t in 0..threads-1, each exactly once. Tasks
 * are claimed by whichever threads are running (the caller included), so a
 * task index is not a thread: it only names that task's scratch. A worker the
 * OS has not scheduled is not waited for. Calls from several threads are
 * serialized. */
void kiln_cpu_pool_run(kiln_cpu_pool *pool, kiln_cpu_task_fn fn, void *arg);
/* The same with ntasks tasks (clamped to 1..threads): small ops use fewer. */
void kiln_cpu_pool_run_n(kiln_cpu_pool *pool, kiln_cpu_task_fn fn, void *arg, int ntasks);
/* Worker threads started since the pool was created (stays threads - 1: tests
 * check that runs reuse the workers). */
int kiln_cpu_pool_threads_started(const kiln_cpu_pool *pool);

#endif
