/* kernels/cpu/cpu_backend.c — the cpu backend's vtable: device info, contexts
 * (ISA choice, thread pool), host buffers. Running ops is in cpu_run.c. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/cpu_context.h"
#include "kernels/cpu/cpu_features.h"

#define KILN_CPU_ALIGN 64

static int cpu_available(void) { return 1; }

static kiln_status cpu_device_count(int *count)
{
    *count = 1;
    return KILN_OK;
}

/* Lanes of f32 per vector register of an ISA. */
static int isa_lanes(kiln_isa isa) { return isa == KILN_ISA_AVX512 ? 16 : isa == KILN_ISA_AVX2 ? 8 : 1; }

static void fill_info(kiln_device_info *info, kiln_isa isa, int threads)
{
    memset(info, 0, sizeof *info);
    info->backend = KILN_BACKEND_CPU;
    info->index = 0;
    snprintf(info->id, sizeof info->id, "cpu");
    char model[96];
    kiln_cpu_model_name(model, sizeof model);
    snprintf(info->name, sizeof info->name, "%s (%s)", model, kiln_isa_name(isa));
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(info->vendor, sizeof info->vendor, "unknown");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "vendor_id", 9)) continue;
            char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                while (*colon == ' ') colon++;
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(info->vendor, sizeof info->vendor, "%s", colon);
            }
            break;
        }
        fclose(f);
    }
    snprintf(info->driver, sizeof info->driver, "kiln %s", kiln_version());
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    info->memory_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    info->multiprocessors = threads;
#ifdef _SC_LEVEL1_DCACHE_SIZE
    long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    info->shared_mem_bytes = l1 > 0 ? (uint32_t)l1 : 32768;
#else
    info->shared_mem_bytes = 32768;
#endif
    info->subgroup_size = isa_lanes(isa);
    kiln_cpu_features_string(info->features, sizeof info->features);
}

static kiln_status cpu_device_info(int index, kiln_device_info *info)
{
    if (index != 0) return kiln_fail(KILN_ERR_UNAVAILABLE, "cpu: no device %d (the cpu backend has device 0 only)", index);
    fill_info(info, kiln_cpu_best_isa(), kiln_cpu_cores_available());
    return KILN_OK;
}

/* opts.cpu_isa, else $KILN_CPU_ISA, else the best the machine supports. */
static kiln_status choose_isa(const kiln_context_options *opts, kiln_isa *out)
{
    const char *name = opts->cpu_isa, *from = "cpu_isa option";
    if (!name || !*name) {
        name = getenv("KILN_CPU_ISA");
        from = "KILN_CPU_ISA";
    }
    if (!name || !*name) {
        *out = kiln_cpu_best_isa();
        return KILN_OK;
    }
    kiln_isa isa = kiln_cpu_isa_from_name(name);
    if (isa == KILN_ISA_NONE)
        return kiln_fail(KILN_ERR_INVALID_ARG, "cpu: unknown ISA '%s' in %s (expected generic, avx2 or avx512)", name, from);
    if (!kiln_cpu_isa_supported(isa)) {
        char feats[256];
        kiln_cpu_features_string(feats, sizeof feats);
        return kiln_fail(KILN_ERR_UNSUPPORTED,
                         "cpu: ISA '%s' (from %s) is not supported by this CPU (%s needs %s; it has: %s)", name, from,
                         name, isa == KILN_ISA_AVX512 ? "avx512f avx512bw avx512vl with OS zmm state" : "avx2 fma f16c",
                         feats[0] ? feats : "none of them");
    }
    *out = isa;
    return KILN_OK;
}

/* opts.threads, else $KILN_THREADS, else the cores this process may use. */
static kiln_status choose_threads(const kiln_context_options *opts, int *out)
{
    if (opts->threads < 0) return kiln_fail(KILN_ERR_INVALID_ARG, "cpu: threads option is %d (expected >= 0)", opts->threads);
    if (opts->threads > 0) {
        *out = opts->threads;
        return KILN_OK;
    }
    const char *env = getenv("KILN_THREADS");
    if (env && *env) {
        char *end;
        errno = 0;
        long n = strtol(env, &end, 10);
        while (isspace((unsigned char)*end)) end++;
        if (errno || *end || n < 1 || n > 1024)
            return kiln_fail(KILN_ERR_INVALID_ARG, "cpu: KILN_THREADS='%s' is not a thread count in 1..1024", env);
        *out = (int)n;
        return KILN_OK;
    }
    *out = kiln_cpu_cores_available();
    return KILN_OK;
}

static kiln_status cpu_context_init(kiln_context *ctx, int index)
{
    if (index != 0) return kiln_fail(KILN_ERR_UNAVAILABLE, "cpu: no device %d (the cpu backend has device 0 only)", index);
    kiln_isa isa = KILN_ISA_GENERIC;
    int threads = 1;
    kiln_status s = choose_isa(&ctx->opts, &isa);
    if (s) return s;
    if ((s = choose_threads(&ctx->opts, &threads))) return s;
    kiln_cpu_context *c = calloc(1, sizeof *c);
    if (!c) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory for a context");
    c->isa = isa;
    c->min_task_work = KILN_CPU_MIN_TASK_WORK;
    if ((s = kiln_cpu_pool_create(threads, &c->pool))) {
        free(c);
        return s;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->memo_lock, NULL);
    ctx->impl = c;
    /* Record the choice where the rest of kiln (spec choice, tests) can see it. */
    ctx->isa = isa;
    ctx->opts.cpu_isa = kiln_isa_name(isa);
    ctx->opts.threads = threads;
    fill_info(&ctx->info, isa, threads);
    return KILN_OK;
}

static void cpu_context_fini(kiln_context *ctx)
{
    kiln_cpu_context *c = ctx->impl;
    if (!c) return;
    kiln_cpu_pool_destroy(c->pool);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->memo_lock);
    free(c->scratch);
    free(c);
    ctx->impl = NULL;
}

void *kiln_cpu_scratch(kiln_cpu_context *c, size_t bytes)
{
    if (bytes <= c->scratch_cap) return c->scratch;
    size_t cap = bytes + bytes / 4 + KILN_CPU_ALIGN;
    cap = (cap + KILN_CPU_ALIGN - 1) / KILN_CPU_ALIGN * KILN_CPU_ALIGN;
    void *p = aligned_alloc(KILN_CPU_ALIGN, cap);
    if (!p) {
        kiln_fail(KILN_ERR_OUT_OF_MEMORY, "cpu: out of memory for %zu bytes of scratch", bytes);
        return NULL;
    }
    free(c->scratch);
    c->scratch = p;
    c->scratch_cap = cap;
    return p;
}

/* Work is synchronous on the cpu: every op has finished when it returns. */
static kiln_status cpu_synchronize(kiln_context *ctx)
{
    (void)ctx;
    return KILN_OK;
}

static kiln_status cpu_buffer_alloc(kiln_context *ctx, kiln_buffer *buf)
{
    (void)ctx;
    size_t bytes = buf->size ? buf->size : 1;
    bytes = (bytes + KILN_CPU_ALIGN - 1) / KILN_CPU_ALIGN * KILN_CPU_ALIGN;
    if (bytes < buf->size) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "cpu: buffer of %zu bytes is too large", buf->size);
    buf->host = aligned_alloc(KILN_CPU_ALIGN, bytes);
    if (!buf->host) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "cpu: cannot allocate a buffer of %zu bytes", buf->size);
    buf->owned = 1;
    buf->handle = 0;
    buf->handle_offset = 0;
    buf->impl = NULL;
    return KILN_OK;
}

static kiln_status cpu_buffer_wrap(kiln_context *ctx, kiln_buffer *buf)
{
    (void)ctx;
    if (!buf->host) return kiln_fail(KILN_ERR_INVALID_ARG, "cpu: wrap_host needs a host pointer (got NULL)");
    buf->owned = 0;
    return KILN_OK;
}

static void cpu_buffer_free(kiln_buffer *buf)
{
    if (buf->owned) free(buf->host);
    buf->host = NULL;
}

static kiln_status check_range(const kiln_buffer *buf, size_t off, size_t n, const char *what)
{
    if (off > buf->size || n > buf->size - off)
        return kiln_fail(KILN_ERR_INVALID_ARG, "cpu: %s of %zu bytes at offset %zu exceeds the buffer's %zu bytes", what,
                         n, off, buf->size);
    return KILN_OK;
}

static kiln_status cpu_buffer_upload(kiln_buffer *buf, size_t off, const void *src, size_t n)
{
    kiln_status s = check_range(buf, off, n, "upload");
    if (s) return s;
    if (n) memmove((char *)buf->host + off, src, n);
    return KILN_OK;
}

static kiln_status cpu_buffer_download(kiln_buffer *buf, size_t off, void *dst, size_t n)
{
    kiln_status s = check_range(buf, off, n, "download");
    if (s) return s;
    if (n) memmove(dst, (const char *)buf->host + off, n);
    return KILN_OK;
}

/* Kernels are compiled into the library: nothing to prepare beyond checking. */
static kiln_status cpu_prepare(kiln_context *ctx, const kiln_spec *spec) { return kiln_cpu_can_implement(ctx, spec); }

const kiln_backend_vtable kiln_cpu_backend = {
    .kind = KILN_BACKEND_CPU,
    .available = cpu_available,
    .device_count = cpu_device_count,
    .device_info = cpu_device_info,
    .context_init = cpu_context_init,
    .context_fini = cpu_context_fini,
    .synchronize = cpu_synchronize,
    .set_queue = NULL,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_wrap = cpu_buffer_wrap,
    .buffer_free = cpu_buffer_free,
    .buffer_upload = cpu_buffer_upload,
    .buffer_download = cpu_buffer_download,
    .can_implement = kiln_cpu_can_implement,
    .prepare = cpu_prepare,
    .run = kiln_cpu_run,
    .plan = kiln_cpu_plan,
    .run_planned = kiln_cpu_run_planned,
    .heuristic = kiln_cpu_heuristic,
};
