/* tests/stress/stress_threads.c — kiln ops from several application threads
 * at once: each thread on its own cpu context (what kiln.h allows without any
 * locking); several threads taking turns on one shared context for what
 * kiln.h leaves to one thread at a time (buffers, synchronize: the callers'
 * mutex hands it over, so the pool sees a different calling thread from one
 * run to the next); and several threads running one shared plan and the
 * one-call ops on one context with no lock of theirs at all (kiln.h
 * "Threads": kiln serializes the launches, the choice memo is locked, a plan
 * is immutable). Every result is
 * checked against a plain double reference; a deadlock is a hang (the
 * callers run it under `timeout`). Built with the rest of the suite and,
 * with -DKILN_TSAN=ON (make tsan), under ThreadSanitizer.
 *
 *   kiln_stress [ITERATIONS]   exit 0: all correct; 1: a wrong result or error */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/kiln.h"

enum { M = 700, K = 512, N = 3, APP_THREADS = 4 }; /* m x k: big enough that each op splits into tasks */

static float w_host[M * K], x_host[N * K];
static double y_ref[N * M], norm_ref[N * K];
static float poison[N * M]; /* NaN: an output the op does not write fails the check */
static int iterations = 100;
static atomic_int failures;

static void reference(void)
{
    srand(12345);
    for (int i = 0; i < N * M; i++) poison[i] = NAN;
    for (int i = 0; i < M * K; i++) w_host[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int i = 0; i < N * K; i++) x_host[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int r = 0; r < N; r++) {
        for (int c = 0; c < M; c++) {
            double s = 0;
            for (int i = 0; i < K; i++) s += (double)x_host[r * K + i] * w_host[c * K + i];
            y_ref[r * M + c] = s;
        }
        double ss = 0;
        for (int i = 0; i < K; i++) ss += (double)x_host[r * K + i] * x_host[r * K + i];
        double scale = 1.0 / sqrt(ss / K + 1e-5);
        for (int i = 0; i < K; i++) norm_ref[r * K + i] = x_host[r * K + i] * scale;
    }
}

typedef struct job {
    kiln_context *ctx;
    pthread_mutex_t *shared; /* non-NULL: the context is shared, take turns */
    int id;
} job;

static void fail(const job *j, const char *what)
{
    fprintf(stderr, "kiln_stress: thread %d: %s\n", j->id, what);
    atomic_fetch_add(&failures, 1);
}

static kiln_context *open_ctx(int threads);

static void *work(void *arg)
{
    job *j = arg;
    if (j->shared) pthread_mutex_lock(j->shared);
    kiln_buffer *bw = NULL, *bx = NULL, *by = NULL, *bn = NULL;
    int ok = kiln_buffer_alloc(j->ctx, sizeof w_host, &bw) == KILN_OK && kiln_buffer_alloc(j->ctx, sizeof x_host, &bx) == KILN_OK &&
             kiln_buffer_alloc(j->ctx, (size_t)N * M * 4, &by) == KILN_OK &&
             kiln_buffer_alloc(j->ctx, (size_t)N * K * 4, &bn) == KILN_OK &&
             kiln_buffer_upload(bw, 0, w_host, sizeof w_host) == KILN_OK &&
             kiln_buffer_upload(bx, 0, x_host, sizeof x_host) == KILN_OK;
    if (j->shared) pthread_mutex_unlock(j->shared);
    if (!ok) {
        fail(j, kiln_last_error());
        return NULL;
    }
    kiln_matmul_params mp = {.x = kiln_tensor_make(bx, 0, KILN_F32, 2, (int64_t[]){N, K}),
                             .w = kiln_tensor_make(bw, 0, KILN_F32, 2, (int64_t[]){M, K}),
                             .y = kiln_tensor_make(by, 0, KILN_F32, 2, (int64_t[]){N, M})};
    kiln_norm_params np = {.kind = KILN_NORM_RMS, .x = mp.x, .y = kiln_tensor_make(bn, 0, KILN_F32, 2, (int64_t[]){N, K}),
                           .eps = 1e-5f};
    static float y[APP_THREADS * 2][N * M], z[APP_THREADS * 2][N * K];
    float *yo = y[j->id], *zo = z[j->id];
    for (int it = 0; it < iterations && !atomic_load(&failures); it++) {
        if (j->shared) pthread_mutex_lock(j->shared);
        kiln_status st = kiln_buffer_upload(by, 0, poison, sizeof poison);
        if (st == KILN_OK) st = kiln_buffer_upload(bn, 0, poison, (size_t)N * K * 4 < sizeof poison ? (size_t)N * K * 4 : sizeof poison);
        if (st == KILN_OK) st = kiln_matmul(j->ctx, &mp);
        if (st == KILN_OK) st = kiln_norm(j->ctx, &np);
        if (st == KILN_OK) st = kiln_synchronize(j->ctx);
        if (st == KILN_OK) st = kiln_buffer_download(by, 0, yo, (size_t)N * M * 4);
        if (st == KILN_OK) st = kiln_buffer_download(bn, 0, zo, (size_t)N * K * 4);
        if (j->shared) pthread_mutex_unlock(j->shared);
        if (st != KILN_OK) {
            fail(j, kiln_last_error());
            break;
        }
        for (int i = 0; i < N * M; i++)
            if (!(fabs(yo[i] - y_ref[i]) <= 1e-3 * (1 + fabs(y_ref[i])))) {
                char msg[128];
                snprintf(msg, sizeof msg, "iteration %d: y[%d] = %g, reference %g", it, i, yo[i], y_ref[i]);
                fail(j, msg);
                break;
            }
        for (int i = 0; i < N * K; i++)
            if (!(fabs(zo[i] - norm_ref[i]) <= 1e-3 * (1 + fabs(norm_ref[i])))) {
                char msg[128];
                snprintf(msg, sizeof msg, "iteration %d: norm[%d] = %g, reference %g", it, i, zo[i], norm_ref[i]);
                fail(j, msg);
                break;
            }
    }
    if (j->shared) pthread_mutex_lock(j->shared);
    kiln_buffer_free(bw), kiln_buffer_free(bx), kiln_buffer_free(by), kiln_buffer_free(bn);
    if (j->shared) pthread_mutex_unlock(j->shared);
    return NULL;
}

/* The third group: buffers made by the main thread, then only runs. */
typedef struct free_job {
    kiln_context *ctx;
    const kiln_plan *plan;     /* the matmul, shared by every thread */
    kiln_matmul_params mp;     /* this thread's y */
    kiln_norm_params np;       /* this thread's norm output */
    int id;
} free_job;

static void *work_free(void *arg)
{
    free_job *fj = arg;
    job j = {fj->ctx, NULL, fj->id};
    float *yo = kiln_buffer_host_ptr(fj->mp.y.buf), *zo = kiln_buffer_host_ptr(fj->np.y.buf);
    for (int it = 0; it < iterations && !atomic_load(&failures); it++) {
        memcpy(yo, poison, (size_t)N * M * 4);
        memcpy(zo, poison, (size_t)N * K * 4);
        /* odd threads and iterations mix the plan with the one-call op */
        kiln_status st = (it + fj->id) % 2 ? kiln_plan_run(fj->plan, &fj->mp, NULL, NULL) : kiln_matmul(fj->ctx, &fj->mp);
        if (st == KILN_OK) st = kiln_norm(fj->ctx, &fj->np);
        if (st != KILN_OK) {
            fail(&j, kiln_last_error());
            break;
        }
        for (int i = 0; i < N * M; i++)
            if (!(fabs(yo[i] - y_ref[i]) <= 1e-3 * (1 + fabs(y_ref[i])))) {
                char msg[128];
                snprintf(msg, sizeof msg, "iteration %d (no lock): y[%d] = %g, reference %g", it, i, yo[i], y_ref[i]);
                fail(&j, msg);
                break;
            }
        for (int i = 0; i < N * K; i++)
            if (!(fabs(zo[i] - norm_ref[i]) <= 1e-3 * (1 + fabs(norm_ref[i])))) {
                char msg[128];
                snprintf(msg, sizeof msg, "iteration %d (no lock): norm[%d] = %g, reference %g", it, i, zo[i], norm_ref[i]);
                fail(&j, msg);
                break;
            }
    }
    return NULL;
}

/* APP_THREADS threads on one cpu context and one plan, without a lock of their own. */
static void run_free(void)
{
    kiln_context *ctx = open_ctx(3);
    kiln_buffer *bw = NULL, *bx = NULL, *by[APP_THREADS] = {0}, *bn[APP_THREADS] = {0};
    int ok = kiln_buffer_alloc(ctx, sizeof w_host, &bw) == KILN_OK && kiln_buffer_alloc(ctx, sizeof x_host, &bx) == KILN_OK &&
             kiln_buffer_upload(bw, 0, w_host, sizeof w_host) == KILN_OK && kiln_buffer_upload(bx, 0, x_host, sizeof x_host) == KILN_OK;
    for (int i = 0; ok && i < APP_THREADS; i++)
        ok = kiln_buffer_alloc(ctx, (size_t)N * M * 4, &by[i]) == KILN_OK && kiln_buffer_alloc(ctx, (size_t)N * K * 4, &bn[i]) == KILN_OK;
    kiln_matmul_params mp = {.size = sizeof mp,
                             .x = kiln_tensor_make(bx, 0, KILN_F32, 2, (int64_t[]){N, K}),
                             .w = kiln_tensor_make(bw, 0, KILN_F32, 2, (int64_t[]){M, K}),
                             .y = kiln_tensor_make(NULL, 0, KILN_F32, 2, (int64_t[]){N, M})};
    kiln_plan *plan = NULL;
    if (ok) ok = kiln_matmul_plan(ctx, &mp, &plan) == KILN_OK;
    if (!ok) {
        job j = {ctx, NULL, -1};
        fail(&j, kiln_last_error());
    }
    pthread_t t[APP_THREADS];
    free_job jobs[APP_THREADS];
    for (int i = 0; ok && i < APP_THREADS; i++) {
        jobs[i] = (free_job){.ctx = ctx, .plan = plan, .mp = mp, .id = 2 * APP_THREADS + i};
        jobs[i].mp.y.buf = by[i];
        jobs[i].np = (kiln_norm_params){.size = sizeof jobs[i].np, .kind = KILN_NORM_RMS, .x = mp.x,
                                        .y = kiln_tensor_make(bn[i], 0, KILN_F32, 2, (int64_t[]){N, K}), .eps = 1e-5f};
        pthread_create(&t[i], NULL, work_free, &jobs[i]);
    }
    for (int i = 0; ok && i < APP_THREADS; i++) pthread_join(t[i], NULL);
    kiln_plan_destroy(plan);
    for (int i = 0; i < APP_THREADS; i++) kiln_buffer_free(by[i]), kiln_buffer_free(bn[i]);
    kiln_buffer_free(bw), kiln_buffer_free(bx);
    kiln_context_destroy(ctx);
}

static kiln_context *open_ctx(int threads)
{
    kiln_context_options o = kiln_context_options_default();
    o.threads = threads; /* more than this machine may have: the pool must cope */
    o.use_tuning = 0;
    kiln_context *ctx = NULL;
    if (kiln_context_create("cpu", &o, &ctx) != KILN_OK) {
        fprintf(stderr, "kiln_stress: cpu context: %s\n", kiln_last_error());
        exit(1);
    }
    return ctx;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        char *end;
        long n = strtol(argv[1], &end, 10);
        if (*end || n < 1 || n > 1000000) {
            fprintf(stderr, "usage: kiln_stress [ITERATIONS 1..1000000]\n");
            return 2;
        }
        iterations = (int)n;
    }
    reference();
    pthread_t t[APP_THREADS * 2];
    job jobs[APP_THREADS * 2];
    kiln_context *own[APP_THREADS];
    pthread_mutex_t turn = PTHREAD_MUTEX_INITIALIZER;
    kiln_context *shared = open_ctx(3);
    for (int i = 0; i < APP_THREADS; i++) {
        own[i] = open_ctx(3);
        jobs[i] = (job){own[i], NULL, i};
        jobs[APP_THREADS + i] = (job){shared, &turn, APP_THREADS + i};
    }
    for (int i = 0; i < APP_THREADS * 2; i++) pthread_create(&t[i], NULL, work, &jobs[i]);
    for (int i = 0; i < APP_THREADS * 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < APP_THREADS; i++) kiln_context_destroy(own[i]);
    kiln_context_destroy(shared);
    run_free();
    int bad = atomic_load(&failures);
    printf("kiln_stress: %d threads on their own contexts, %d taking turns on one, %d on one plan and context "
           "without a lock, %d iterations each: %s\n",
           APP_THREADS, APP_THREADS, APP_THREADS, iterations, bad ? "FAILED" : "all correct");
    return bad ? 1 : 0;
}
