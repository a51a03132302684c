/* runtime/parallel.c — kiln_parallel_for with short-lived pthreads. Threads
 * are made per call: the calls it serves (one or two per layer of a prefill)
 * take milliseconds, so a pool would save nothing worth its state. */
#include "runtime/parallel.h"

#include <pthread.h>
#include <unistd.h>

#define MAX_THREADS 8

typedef struct range_job {
    kiln_range_fn fn;
    void *ctx;
    int64_t begin, end;
} range_job;

static void *run_job(void *arg)
{
    range_job *j = arg;
    j->fn(j->ctx, j->begin, j->end);
    return NULL;
}

void kiln_parallel_for(int64_t n, int64_t min_chunk, kiln_range_fn fn, void *ctx)
{
    if (n <= 0) return;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t t = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : cores;
    if (min_chunk < 1) min_chunk = 1;
    if (t > n / min_chunk) t = n / min_chunk;
    if (t <= 1) {
        fn(ctx, 0, n);
        return;
    }
    range_job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int64_t i = 0; i < t; i++) jobs[i] = (range_job){fn, ctx, n * i / t, n * (i + 1) / t};
    for (int64_t i = 1; i < t; i++) started[i] = pthread_create(&tid[i], NULL, run_job, &jobs[i]) == 0;
    fn(ctx, jobs[0].begin, jobs[0].end);
    /* A thread that could not be started: its range runs here. */
    for (int64_t i = 1; i < t; i++) {
        if (started[i]) pthread_join(tid[i], NULL);
        else fn(ctx, jobs[i].begin, jobs[i].end);
    }
}
