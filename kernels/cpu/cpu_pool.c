/* kernels/cpu/cpu_pool.c — the worker pool.
 *
 * A run publishes (fn, arg) and one atomic word holding the run's generation,
 * its task count and the next unclaimed task. The caller and every awake
 * worker claim tasks from that word until none is left, so the caller does its
 * share and a worker that the OS has not scheduled yet simply finds nothing to
 * claim: no run waits for a thread that never started its task. The caller
 * then waits only for tasks another thread has claimed and is running.
 *
 * Waiting (a worker for the next run, the caller for claimed tasks) spins for
 * a bounded number of cycles, then sleeps on a condition variable. The spin
 * is worth it on an idle machine (ops of one decode step follow each other
 * within microseconds, a futex wake-up costs tens of them); it is bounded in
 * time, not iterations, so a descheduled peer costs at most that much CPU
 * before the waiter gives its core back to the rest of the machine.
 *
 * The word: generation (32 bits) | ntasks (16) | next task (16). A claim is a
 * fetch_add on it; it succeeds when the returned next < ntasks. fn and arg are
 * read only after a successful claim, when the run cannot have ended (one of
 * its tasks is still unfinished), so they are that run's. Each thread makes at
 * most one failed claim per generation, so next stays below
 * ntasks + threads <= 2048 and never carries into ntasks. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln/error.h"
#include "kernels/cpu/cpu_pool.h"

/* ~40 us at 2.5 GHz: longer than the gap between the ops of a decode step on
 * an idle machine, short enough that a waiter whose peer was descheduled gives
 * its core back quickly. */
#define SPIN_CYCLES 100000u
#define MAX_THREADS 1024

#define WORD_GEN(w) ((uint32_t)((w) >> 32))
#define WORD_NTASKS(w) ((int)(((w) >> 16) & 0xffffu))
#define WORD_NEXT(w) ((int)((w)&0xffffu))

struct kiln_cpu_pool {
    int threads;
    pthread_t *workers;
    int started;
    pthread_mutex_t run_lock; /* one run at a time */
    pthread_mutex_t lock;     /* guards the condition variables */
    pthread_cond_t wake, done;
    kiln_cpu_task_fn fn;
    void *arg;
    _Atomic uint64_t work;     /* see the header comment */
    _Atomic int finished;      /* tasks of the current run finished */
    _Atomic int sleepers;      /* workers asleep on `wake` */
    _Atomic int caller_asleep; /* the caller sleeps on `done` */
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

/* A cycle counter for the spin bound: the TSC on x86, else nanoseconds
 * (within a small factor of cycles, which is all the bound needs). */
static inline uint64_t cycles_now(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_ia32_rdtsc();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

/* Claims and runs tasks of the current run until none is left; returns the
 * generation of the word its last (failed) claim saw. */
static uint32_t run_tasks(kiln_cpu_pool *p)
{
    for (;;) {
        uint64_t w = atomic_fetch_add_explicit(&p->work, 1, memory_order_acq_rel);
        int task = WORD_NEXT(w), ntasks = WORD_NTASKS(w);
        if (task >= ntasks) return WORD_GEN(w);
        p->fn(p->arg, task, ntasks);
        if (atomic_fetch_add(&p->finished, 1) + 1 == ntasks && atomic_load(&p->caller_asleep)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
}

/* Returns once a generation other than `seen` is published, or stop is set. */
static void wait_for_run(kiln_cpu_pool *p, uint32_t seen)
{
    uint64_t start = cycles_now();
    while (cycles_now() - start < SPIN_CYCLES) {
        if (WORD_GEN(atomic_load_explicit(&p->work, memory_order_acquire)) != seen || atomic_load(&p->stop)) return;
        cpu_relax();
    }
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add(&p->sleepers, 1); /* seq_cst pairs with the publisher's store then load of sleepers */
    while (WORD_GEN(atomic_load(&p->work)) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->wake, &p->lock);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->lock);
}

static void *worker_main(void *arg)
{
    worker_start start = *(worker_start *)arg;
    free(arg);
    kiln_cpu_pool *p = start.pool;
    uint32_t seen = 0;
    for (;;) {
        wait_for_run(p, seen);
        if (atomic_load(&p->stop)) break;
        seen = run_tasks(p);
    }
    return NULL;
}

kiln_status kiln_cpu_pool_create(int threads, kiln_cpu_pool **out)
{
    *out = NULL;
    if (threads < 1 || threads > MAX_THREADS)
        return kiln_fail(KILN_ERR_INVALID_ARG, "cpu: thread count %d out of range 1..%d", threads, MAX_THREADS);
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

void kiln_cpu_pool_run_n(kiln_cpu_pool *p, kiln_cpu_task_fn fn, void *arg, int ntasks)
{
    if (ntasks > p->threads) ntasks = p->threads;
    pthread_mutex_lock(&p->run_lock);
    if (ntasks <= 1) { /* nothing to hand out: skip the wake-up entirely */
        fn(arg, 0, 1);
        pthread_mutex_unlock(&p->run_lock);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->finished, 0);
    uint32_t gen = WORD_GEN(atomic_load(&p->work)) + 1;
    atomic_store(&p->work, (uint64_t)gen << 32 | (uint64_t)ntasks << 16);
    /* Wake sleepers, at most as many as there are tasks for them. */
    int asleep = atomic_load(&p->sleepers);
    if (asleep) {
        pthread_mutex_lock(&p->lock);
        if (asleep >= ntasks - 1)
            for (int i = 0; i < ntasks - 1; i++) pthread_cond_signal(&p->wake);
        else
            pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }

    run_tasks(p);

    uint64_t start = cycles_now();
    while (atomic_load_explicit(&p->finished, memory_order_acquire) < ntasks && cycles_now() - start < SPIN_CYCLES)
        cpu_relax();
    if (atomic_load(&p->finished) < ntasks) {
        pthread_mutex_lock(&p->lock);
        atomic_store(&p->caller_asleep, 1);
        while (atomic_load(&p->finished) < ntasks) pthread_cond_wait(&p->done, &p->lock);
        atomic_store(&p->caller_asleep, 0);
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&p->run_lock);
}

void kiln_cpu_pool_run(kiln_cpu_pool *p, kiln_cpu_task_fn fn, void *arg) { kiln_cpu_pool_run_n(p, fn, arg, p->threads); }
