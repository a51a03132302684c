/* tests/test_cpu.c — cpu backend specifics: ISA choice and forcing, thread
 * count and pool reuse, the built-in registry against the manifest, buffers.
 * Op correctness on every ISA is in tests/test_op_*.c. Criterion runs each
 * test in its own process, so setenv here does not leak into other tests. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gen/manifest.h"
#include "kernels/cpu/cpu_context.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/cpu_pool.h"
#include "kernels/cpu/cpu_registry.h"
#include "kiln/kernel.h"
#include "kiln/kiln.h"

static kiln_status open_cpu(const char *isa, int threads, kiln_context **ctx)
{
    kiln_context_options o = kiln_context_options_default();
    o.cpu_isa = isa;
    o.threads = threads;
    o.use_tuning = 0;
    return kiln_context_create("cpu", &o, ctx);
}

Test(cpu, default_isa_is_the_best_supported)
{
    unsetenv("KILN_CPU_ISA");
    kiln_context *ctx = NULL;
    cr_assert_eq(open_cpu(NULL, 1, &ctx), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(ctx->isa, kiln_cpu_best_isa());
    kiln_device_info info;
    cr_assert_eq(kiln_context_get_device(ctx, &info), KILN_OK);
    cr_assert(strstr(info.name, kiln_isa_name(kiln_cpu_best_isa())), "device name '%s' names the ISA", info.name);
    if (kiln_cpu_isa_supported(KILN_ISA_AVX2)) cr_assert(strstr(info.features, "avx2"), "features: %s", info.features);
    kiln_context_destroy(ctx);
}

Test(cpu, isa_forced_by_option_and_environment)
{
    kiln_context *ctx = NULL;
    cr_assert_eq(open_cpu("generic", 1, &ctx), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(ctx->isa, KILN_ISA_GENERIC);
    kiln_context_destroy(ctx);

    setenv("KILN_CPU_ISA", "generic", 1);
    cr_assert_eq(open_cpu(NULL, 1, &ctx), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(ctx->isa, KILN_ISA_GENERIC, "KILN_CPU_ISA=generic is honoured");
    kiln_context_destroy(ctx);

    /* the option wins over the environment */
    if (kiln_cpu_isa_supported(KILN_ISA_AVX2)) {
        cr_assert_eq(open_cpu("avx2", 1, &ctx), KILN_OK, "%s", kiln_last_error());
        cr_assert_eq(ctx->isa, KILN_ISA_AVX2);
        kiln_context_destroy(ctx);
    }
}

Test(cpu, unknown_and_unsupported_isas_are_rejected)
{
    kiln_context *ctx = NULL;
    cr_assert_eq(open_cpu("sse9", 1, &ctx), KILN_ERR_INVALID_ARG);
    cr_assert_null(ctx);
    cr_assert(strstr(kiln_last_error(), "sse9"), "message names the ISA: %s", kiln_last_error());

    setenv("KILN_CPU_ISA", "neon", 1);
    cr_assert_eq(open_cpu(NULL, 1, &ctx), KILN_ERR_INVALID_ARG);
    cr_assert(strstr(kiln_last_error(), "KILN_CPU_ISA"), "message names the variable: %s", kiln_last_error());
    unsetenv("KILN_CPU_ISA");

    if (kiln_cpu_isa_supported(KILN_ISA_AVX512)) {
        cr_assert_eq(open_cpu("avx512", 1, &ctx), KILN_OK, "%s", kiln_last_error());
        kiln_context_destroy(ctx);
    } else {
        cr_assert_eq(open_cpu("avx512", 1, &ctx), KILN_ERR_UNSUPPORTED);
        cr_assert_null(ctx);
        cr_assert(strstr(kiln_last_error(), "avx512"), "reason given: %s", kiln_last_error());
    }
}

Test(cpu, thread_count_from_option_environment_or_cores)
{
    kiln_context *ctx = NULL;
    cr_assert_eq(open_cpu("generic", 3, &ctx), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(ctx->info.multiprocessors, 3);
    kiln_context_destroy(ctx);

    setenv("KILN_THREADS", "5", 1);
    cr_assert_eq(open_cpu("generic", 0, &ctx), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(ctx->info.multiprocessors, 5);
    kiln_context_destroy(ctx);

    setenv("KILN_THREADS", "lots", 1);
    cr_assert_eq(open_cpu("generic", 0, &ctx), KILN_ERR_INVALID_ARG);
    cr_assert(strstr(kiln_last_error(), "KILN_THREADS"), "%s", kiln_last_error());

    unsetenv("KILN_THREADS");
    cr_assert_eq(open_cpu("generic", 0, &ctx), KILN_OK, "%s", kiln_last_error());
    cr_assert_geq(ctx->info.multiprocessors, 1);
    kiln_context_destroy(ctx);
}

/* ---------------------------------------------------------------- pool */

typedef struct seen_threads {
    pthread_mutex_t lock;
    pthread_t ids[64];
    int count;
    _Atomic int calls;
    _Atomic int per_task[64]; /* runs each task index took part in */
    int expect_ntasks;
    _Atomic int bad_ntasks;
} seen_threads;

static void record_thread(void *arg, int task, int ntasks)
{
    seen_threads *s = arg;
    if (task < 0 || task >= ntasks || task >= 64 || ntasks != s->expect_ntasks) {
        atomic_fetch_add(&s->bad_ntasks, 1);
        return;
    }
    atomic_fetch_add(&s->calls, 1);
    atomic_fetch_add(&s->per_task[task], 1);
    pthread_t self = pthread_self();
    pthread_mutex_lock(&s->lock);
    int known = 0;
    for (int i = 0; i < s->count; i++) known |= pthread_equal(s->ids[i], self);
    if (!known && s->count < 64) s->ids[s->count++] = self;
    pthread_mutex_unlock(&s->lock);
}

/* Tasks are claimed by whichever threads run (the caller included), so which
 * thread ran a task is not fixed; that every task ran exactly once is. */
Test(cpu, pool_runs_every_task_once_and_reuses_its_threads, .timeout = 60)
{
    kiln_cpu_pool *pool = NULL;
    cr_assert_eq(kiln_cpu_pool_create(4, &pool), KILN_OK);
    seen_threads s = {.lock = PTHREAD_MUTEX_INITIALIZER, .expect_ntasks = 4};
    for (int run = 0; run < 500; run++) kiln_cpu_pool_run(pool, record_thread, &s);
    cr_assert_eq(atomic_load(&s.bad_ntasks), 0, "every task saw its index below ntasks = 4");
    cr_assert_eq(atomic_load(&s.calls), 4 * 500, "every task of every run ran once");
    for (int t = 0; t < 4; t++) cr_assert_eq(atomic_load(&s.per_task[t]), 500, "task %d ran in every run", t);
    cr_assert(s.count >= 1 && s.count <= 4, "at most the pool's 4 threads did the work, got %d", s.count);
    cr_assert_eq(kiln_cpu_pool_threads_started(pool), 3, "no thread was started after creation");
    kiln_cpu_pool_destroy(pool);
}

/* Small ops ask for fewer tasks: one runs on the caller alone, more than the
 * pool's threads are clamped to them. */
Test(cpu, pool_run_n_clamps_the_task_count, .timeout = 60)
{
    kiln_cpu_pool *pool = NULL;
    cr_assert_eq(kiln_cpu_pool_create(3, &pool), KILN_OK);
    seen_threads one = {.lock = PTHREAD_MUTEX_INITIALIZER, .expect_ntasks = 1};
    for (int run = 0; run < 100; run++) kiln_cpu_pool_run_n(pool, record_thread, &one, 1);
    cr_assert_eq(atomic_load(&one.bad_ntasks), 0);
    cr_assert_eq(atomic_load(&one.calls), 100);
    cr_assert_eq(one.count, 1, "a one-task run stays on the caller");
    cr_assert(pthread_equal(one.ids[0], pthread_self()));
    seen_threads two = {.lock = PTHREAD_MUTEX_INITIALIZER, .expect_ntasks = 2};
    for (int run = 0; run < 100; run++) kiln_cpu_pool_run_n(pool, record_thread, &two, 2);
    cr_assert_eq(atomic_load(&two.bad_ntasks), 0);
    cr_assert_eq(atomic_load(&two.per_task[0]) + atomic_load(&two.per_task[1]), 200);
    seen_threads many = {.lock = PTHREAD_MUTEX_INITIALIZER, .expect_ntasks = 3};
    for (int run = 0; run < 100; run++) kiln_cpu_pool_run_n(pool, record_thread, &many, 50);
    cr_assert_eq(atomic_load(&many.bad_ntasks), 0, "50 tasks asked of a 3-thread pool run as 3");
    cr_assert_eq(atomic_load(&many.calls), 300);
    kiln_cpu_pool_destroy(pool);
}

/* The default thread count: the process's affinity mask caps it. */
Test(cpu, cores_available_follow_the_affinity_mask, .timeout = 60)
{
    cpu_set_t old, one;
    cr_assert_eq(sched_getaffinity(0, sizeof old, &old), 0);
    cr_assert_geq(kiln_cpu_cores_available(), 1);
    cr_assert_leq(kiln_cpu_cores_available(), CPU_COUNT(&old));
    int first = 0;
    while (!CPU_ISSET(first, &old)) first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
    int n = kiln_cpu_cores_available();
    unsetenv("KILN_THREADS");
    kiln_context *ctx = NULL;
    kiln_status st = open_cpu("generic", 0, &ctx);
    int threads = st == KILN_OK ? ctx->info.multiprocessors : -1;
    if (ctx) kiln_context_destroy(ctx);
    sched_setaffinity(0, sizeof old, &old);
    cr_assert_eq(n, 1, "one cpu in the mask, %d cores reported", n);
    cr_assert_eq(st, KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(threads, 1, "the default pool has one thread per available core, got %d", threads);
}

Test(cpu, context_pool_survives_many_ops, .timeout = 60)
{
    kiln_context *ctx = NULL;
    cr_assert_eq(open_cpu(NULL, 2, &ctx), KILN_OK, "%s", kiln_last_error());
    enum { M = 67, K = 64 };
    kiln_buffer *wb, *xb, *yb;
    cr_assert_eq(kiln_buffer_alloc(ctx, (size_t)M * K * 4, &wb), KILN_OK);
    cr_assert_eq(kiln_buffer_alloc(ctx, K * 4, &xb), KILN_OK);
    cr_assert_eq(kiln_buffer_alloc(ctx, M * 4, &yb), KILN_OK);
    float *w = kiln_buffer_host_ptr(wb), *x = kiln_buffer_host_ptr(xb), *y = kiln_buffer_host_ptr(yb);
    for (int i = 0; i < M * K; i++) w[i] = (float)((i * 7) % 13) - 6.0f;
    for (int i = 0; i < K; i++) x[i] = (float)(i % 5) - 2.0f;
    kiln_matmul_params p = {0};
    p.x = kiln_tensor_make(xb, 0, KILN_F32, 2, (int64_t[]){1, K});
    p.w = kiln_tensor_make(wb, 0, KILN_F32, 2, (int64_t[]){M, K});
    p.y = kiln_tensor_make(yb, 0, KILN_F32, 2, (int64_t[]){1, M});
    kiln_cpu_context *c = ctx->impl;
    for (int run = 0; run < 200; run++) {
        memset(y, 0xff, M * 4);
        cr_assert_eq(kiln_matmul(ctx, &p), KILN_OK, "%s", kiln_last_error());
        cr_assert_eq(kiln_synchronize(ctx), KILN_OK);
    }
    for (int r = 0; r < M; r++) {
        float ref = 0;
        for (int i = 0; i < K; i++) ref += w[r * K + i] * x[i];
        cr_assert_float_eq(y[r], ref, 1e-3f, "row %d: %g vs %g", r, y[r], ref);
    }
    cr_assert_eq(kiln_cpu_pool_threads_started(c->pool), 1, "the context's pool started its one worker once");
    kiln_buffer_free(wb);
    kiln_buffer_free(xb);
    kiln_buffer_free(yb);
    kiln_context_destroy(ctx);
}

/* ---------------------------------------------------------------- registry */

Test(cpu, every_manifest_instance_is_built_in)
{
    size_t cpu_instances = 0;
    for (size_t i = 0; i < kiln_manifest_count(); i++) {
        const kiln_spec *s = kiln_manifest_get(i);
        if (s->backend != KILN_BACKEND_CPU) continue;
        cpu_instances++;
        char text[KILN_SPEC_TEXT_MAX], name[KILN_SPEC_NAME_MAX];
        kiln_spec_to_text(s, text, sizeof text);
        kiln_spec_name(s, name, sizeof name);
        int found = 0;
        for (size_t j = 0; j < kiln_cpu_kernel_count(); j++) {
            const kiln_cpu_registry_entry *e = kiln_cpu_kernel_entry(j);
            if (!strcmp(e->text, text)) {
                cr_assert_str_eq(e->name, name, "registry name of '%s'", text);
                cr_assert_not_null(e->fn);
                found++;
            }
        }
        cr_assert_eq(found, 1, "manifest instance '%s' is in the registry exactly once (%d)", text, found);
        const kiln_cpu_registry_entry *e = kiln_cpu_kernel_find(s);
        cr_assert_not_null(e, "find('%s'): %s", text, kiln_last_error());
        cr_assert_str_eq(e->text, text, "an instance is served by itself");
    }
    cr_assert_eq(kiln_cpu_kernel_count(), cpu_instances, "the registry holds the cpu manifest and nothing else");
    for (size_t j = 0; j < kiln_cpu_kernel_count(); j++)
        cr_assert_not_null(kiln_cpu_kernel_spec(j), "registry text '%s' parses", kiln_cpu_kernel_entry(j)->text);
}

Test(cpu, specs_not_built_in_are_unsupported)
{
    kiln_context *ctx = NULL;
    cr_assert_eq(open_cpu("generic", 1, &ctx), KILN_OK, "%s", kiln_last_error());
    kiln_spec s = kiln_spec_default(KILN_OP_MATMUL, KILN_BACKEND_CPU, KILN_ISA_GENERIC, KILN_Q4_0);
    cr_assert_eq(kiln_kernel_can_implement(ctx, &s), KILN_OK, "%s", kiln_last_error());
    s.tile.tm = 8; /* no instance has these tiles */
    cr_assert_eq(kiln_kernel_can_implement(ctx, &s), KILN_ERR_UNSUPPORTED);
    cr_assert(strstr(kiln_last_error(), "tm=8"), "the message quotes the spec: %s", kiln_last_error());
    if (kiln_cpu_isa_supported(KILN_ISA_AVX2)) {
        kiln_spec other = kiln_spec_default(KILN_OP_MATMUL, KILN_BACKEND_CPU, KILN_ISA_AVX2, KILN_Q4_0);
        cr_assert_eq(kiln_kernel_can_implement(ctx, &other), KILN_ERR_UNSUPPORTED, "an avx2 spec on a generic context");
    }
    kiln_context_destroy(ctx);
}

/* ---------------------------------------------------------------- buffers */

Test(cpu, buffers_are_64_byte_aligned_and_wrapped_memory_is_used_in_place)
{
    kiln_context *ctx = NULL;
    cr_assert_eq(open_cpu(NULL, 1, &ctx), KILN_OK, "%s", kiln_last_error());
    size_t sizes[] = {1, 3, 64, 1000, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        kiln_buffer *b;
        cr_assert_eq(kiln_buffer_alloc(ctx, sizes[i], &b), KILN_OK);
        cr_assert_eq((uintptr_t)kiln_buffer_host_ptr(b) % 64, 0, "buffer of %zu bytes aligned", sizes[i]);
        cr_assert_eq(kiln_buffer_size(b), sizes[i]);
        kiln_buffer_free(b);
    }
    char mine[100];
    kiln_buffer *w;
    cr_assert_eq(kiln_buffer_wrap_host(ctx, mine + 1, 50, &w), KILN_OK);
    cr_assert_eq(kiln_buffer_host_ptr(w), mine + 1);
    cr_assert_eq(kiln_buffer_upload(w, 10, "abc", 3), KILN_OK);
    cr_assert_eq(memcmp(mine + 11, "abc", 3), 0);
    cr_assert_neq(kiln_buffer_upload(w, 48, "abc", 3), KILN_OK, "upload past the end is refused");
    kiln_buffer_free(w); /* must not free caller memory */
    kiln_context_destroy(ctx);
}
