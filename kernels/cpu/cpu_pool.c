/* kernels/cpu/cpu_pool.c — the worker pool.
 *
 * A run publishes (fn, arg), bumps a generation counter and wakes the
 * workers; every worker runs its task and counts down `pending`. Workers spin briefly on the generation before sleeping on a
 * condition variable, because mat-vec calls are ~1 ms apart during decode and a
 * futex wake-up costs tens of microseconds; the spin is short so idle workers
 * do not steal the cores from the rest of the machine. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/core/backend.h"
#include "kernels/cpu/cpu_pool.h"

#define SPIN_ITERATIONS 4000 /* ~0.1 ms: ops of one decode step follow each other closely */

struct kiln_cpu_pool {
    int threads;
    pthread_t *workers;
    int started;
    pthread_mutex_t run_lock;  /* one run at a time */
    pthread_mutex_t lock;      /* guards the condition variables */
    pthread_cond_t wake, done;
    kiln_cpu_task_fn fn;
    void *arg;
    int ntasks;
    _Atomic unsigned generation;
    _Atomic int pending;
    _Atomic int stop;
};

typedef struct worker_start {
    kiln_cpu_pool *pool;
    int index;
} worker_start;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static unsigned wait_for_generation(kiln_cpu_pool *p, unsigned seen)
{
    for (int i = 0; i < SPIN_ITERATIONS; i++) {
        unsigned g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g != seen || atomic_load(&p->stop)) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&p->lock);
    unsigned g;
    while ((g = atomic_load(&p->generation)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->wake, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return g;
}

static void *worker_main(void *arg)
{
    worker_start start = *(worker_start *)arg;
    free(arg);
    kiln_cpu_pool *p = start.pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_generation(p, seen);
        if (atomic_load(&p->stop)) break;
        p->fn(p->arg, start.index, p->ntasks);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
    return NULL;
}

kiln_status kiln_cpu_pool_create(int threads, kiln_cpu_pool **out)
{
    *out = NULL;
    if (threads < 1 || threads > 1024)
        return kiln_fail(KILN_ERR_INVALID_ARG, "cpu: thread count %d out of range 1..1024", threads);
    kiln_cpu_pool *p = calloc(1, sizeof *p);
    if (!p) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory for the thread pool");
    p->threads = threads;
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (threads > 1) {
        p->workers = calloc((size_t)threads - 1, sizeof *p->workers);
        if (!p->workers) {
            kiln_cpu_pool_destroy(p);
            return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory for the thread pool");
        }
    }
    for (int i = 1; i < threads; i++) {
        worker_start *s = malloc(sizeof *s);
        if (!s) {
            kiln_cpu_pool_destroy(p);
            return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory for the thread pool");
        }
        s->pool = p;
        s->index = i;
        int rc = pthread_create(&p->workers[i - 1], NULL, worker_main, s);
        if (rc) {
            free(s);
            kiln_cpu_pool_destroy(p);
            return kiln_fail(KILN_ERR_UNAVAILABLE, "cpu: cannot start worker thread %d: %s", i, strerror(rc));
        }
        p->started++;
    }
    *out = p;
    return KILN_OK;
}

void kiln_cpu_pool_destroy(kiln_cpu_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->started; i++) pthread_join(p->workers[i], NULL);
    free(p->workers);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->run_lock);
    free(p);
}

int kiln_cpu_pool_threads(const kiln_cpu_pool *p) { return p->threads; }
int kiln_cpu_pool_threads_started(const kiln_cpu_pool *p) { return p->started; }

void kiln_cpu_pool_run(kiln_cpu_pool *p, kiln_cpu_task_fn fn, void *arg)
{
    int ntasks = p->threads;
    if (ntasks == 1) { /* nothing to hand out: skip the wake-up entirely */
        pthread_mutex_lock(&p->run_lock);
        fn(arg, 0, 1);
        pthread_mutex_unlock(&p->run_lock);
        return;
    }
    pthread_mutex_lock(&p->run_lock);
    p->fn = fn;
    p->arg = arg;
    p->ntasks = ntasks;
    atomic_store(&p->pending, ntasks - 1);
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);

    fn(arg, 0, ntasks);

    for (int i = 0; i < SPIN_ITERATIONS && atomic_load_explicit(&p->pending, memory_order_acquire); i++)
        cpu_relax();
    if (atomic_load(&p->pending)) {
        pthread_mutex_lock(&p->lock);
        while (atomic_load(&p->pending)) pthread_cond_wait(&p->done, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&p->run_lock);
}
