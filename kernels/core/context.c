/* kernels/core/context.c — devices and contexts: parse "cuda:1", find the
 * backend, let it set up its device, resolve the cache directory. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/core/backend.h"
#include "kernels/core/fsutil.h"

static const char *const backend_names[KILN_BACKEND_COUNT] = {
    [KILN_BACKEND_CPU] = "cpu",
    [KILN_BACKEND_CUDA] = "cuda",
    [KILN_BACKEND_VULKAN] = "vulkan",
};

const char *kiln_backend_name(kiln_backend b)
{
    return (unsigned)b < KILN_BACKEND_COUNT ? backend_names[b] : "unknown";
}

static const kiln_backend_vtable *backend_of(kiln_backend b)
{
    if ((unsigned)b >= KILN_BACKEND_COUNT) {
        kiln_fail(KILN_ERR_INVALID_ARG, "no backend with id %d", (int)b);
        return NULL;
    }
    if (!kiln_backends[b]) {
        kiln_fail(KILN_ERR_UNAVAILABLE, "the %s backend is not compiled into this build of kiln",
                  backend_names[b]);
        return NULL;
    }
    return kiln_backends[b];
}

int kiln_backend_available(kiln_backend b)
{
    const kiln_backend_vtable *vt = backend_of(b);
    return vt && vt->available();
}

kiln_status kiln_device_count(kiln_backend b, int *count)
{
    if (!count) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_device_count: count is NULL");
    *count = 0;
    if ((unsigned)b >= KILN_BACKEND_COUNT)
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_device_count: no backend with id %d", (int)b);
    if (!kiln_backend_available(b)) return KILN_OK; /* unavailable: zero devices, reason kept */
    return kiln_backends[b]->device_count(count);
}

kiln_status kiln_device_get_info(kiln_backend b, int index, kiln_device_info *info)
{
    if (!info) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_device_get_info: info is NULL");
    int count = 0;
    kiln_status st = kiln_device_count(b, &count);
    if (st != KILN_OK) return st;
    if (index < 0 || index >= count)
        return kiln_fail(KILN_ERR_UNAVAILABLE, "no device %s:%d (%d %s device%s found)",
                         kiln_backend_name(b), index, count, kiln_backend_name(b), count == 1 ? "" : "s");
    memset(info, 0, sizeof *info);
    return kiln_backends[b]->device_info(index, info);
}

kiln_context_options kiln_context_options_default(void)
{
    return (kiln_context_options){.size = sizeof(kiln_context_options), .use_tuning = 1};
}

void kiln_warn_stderr(void *user, const char *message)
{
    (void)user;
    fprintf(stderr, "kiln: warning: %s\n", message);
}

void kiln_context_warn(const kiln_context *ctx, const char *fmt, ...)
{
    if (!ctx || !ctx->opts.warn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->opts.warn(ctx->opts.warn_user, msg);
}

/* The CUDA emulator's device family (a test tool: only by this name). */
#define CUDA_EMU_NAME "cuda-emu"

/* "cpu", "cuda", "cuda:2", "vulkan:0", "cuda-emu:0" -> backend table and index */
static kiln_status parse_device(const char *device, const kiln_backend_vtable **vt, int *index)
{
    if (!device || !*device) return kiln_fail(KILN_ERR_INVALID_ARG, "device name is empty");
    for (int i = -1; i < KILN_BACKEND_COUNT; i++) {
        const char *name = i < 0 ? CUDA_EMU_NAME : backend_names[i];
        size_t n = strlen(name);
        if (strncmp(device, name, n) != 0 || (device[n] != '\0' && device[n] != ':')) continue;
        const char *rest = device + n;
        *vt = i < 0 ? &kiln_cuda_emu_backend : backend_of((kiln_backend)i);
        if (!*vt) return KILN_ERR_UNAVAILABLE;
        *index = 0;
        if (*rest == '\0') return KILN_OK;
        if (*rest == ':' && rest[1]) {
            char *end;
            errno = 0;
            long v = strtol(rest + 1, &end, 10);
            if (!*end && !errno && v >= 0 && v < 1024) {
                *index = (int)v;
                return KILN_OK;
            }
        }
        break;
    }
    return kiln_fail(KILN_ERR_INVALID_ARG,
                     "unknown device '%s' (expected cpu, cuda, cuda:N, vulkan, vulkan:N or cuda-emu)", device);
}

static void context_free(kiln_context *ctx)
{
    pthread_mutex_destroy(&ctx->memo_lock);
    pthread_mutex_destroy(&ctx->run_lock);
    free(ctx->memo);
    free(ctx);
}

/* The chooser is only opened where it will be consulted (use_tuning). */
static kiln_status chooser_open(kiln_context *ctx)
{
    const kiln_chooser *c = ctx->opts.chooser;
    if (!c || !ctx->opts.use_tuning) return KILN_OK;
    if (c->size < sizeof *c || !c->choose)
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_context_create: chooser '%s' is of another kiln version or has no choose()",
                         c->size >= sizeof *c && c->name ? c->name : "?");
    kiln_status st = c->open ? c->open(ctx, &ctx->chooser_state) : KILN_OK;
    return st == KILN_OK ? KILN_OK : kiln_fail_prefix(st, "kiln_context_create: chooser '%s'", c->name ? c->name : "?");
}

kiln_status kiln_context_create(const char *device, const kiln_context_options *opts,
                                kiln_context **out)
{
    if (!out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_context_create: out is NULL");
    *out = NULL;
    const kiln_backend_vtable *vt = NULL;
    int index = 0;
    kiln_status st = parse_device(device, &vt, &index);
    if (st != KILN_OK) return st;
    if (!vt->available())
        return kiln_fail_prefix(KILN_ERR_UNAVAILABLE, "device '%s' unavailable", device);

    kiln_context_options given = kiln_context_options_default(), local;
    const void *read = &given;
    if (opts && (st = kiln_struct_read(opts, sizeof *opts, &local, &read, "kiln_context_create: options")) != KILN_OK)
        return st;
    kiln_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "kiln_context_create: out of memory");
    ctx->vt = vt;
    ctx->opts = *(const kiln_context_options *)read;
    ctx->opts.size = sizeof ctx->opts;
    ctx->memo = calloc(1, kiln_choice_memo_bytes()); /* none: every call chooses, slower */
    pthread_mutex_init(&ctx->memo_lock, NULL);
    pthread_mutex_init(&ctx->run_lock, NULL);
    st = kiln_cache_dir_resolve(ctx->opts.cache_dir, ctx->cache_dir, sizeof ctx->cache_dir);
    int count = 0;
    if (st == KILN_OK) st = vt->device_count(&count);
    if (st == KILN_OK && (index < 0 || index >= count))
        st = kiln_fail(KILN_ERR_UNAVAILABLE, "no device %s (%d %s device%s found)", device, count,
                       kiln_backend_name(vt->kind), count == 1 ? "" : "s");
    if (st == KILN_OK) {
        memset(&ctx->info, 0, sizeof ctx->info);
        st = vt->device_info(index, &ctx->info);
    }
    if (st == KILN_OK) st = ctx->vt->context_init(ctx, index);
    if (st != KILN_OK) {
        context_free(ctx);
        return st;
    }
    st = chooser_open(ctx);
    if (st != KILN_OK) {
        ctx->vt->context_fini(ctx);
        context_free(ctx);
        return st;
    }
    *out = ctx;
    return KILN_OK;
}

void *kiln_context_chooser_state(kiln_context *ctx, const kiln_chooser *chooser)
{
    return ctx && chooser && ctx->opts.use_tuning && ctx->opts.chooser == chooser ? ctx->chooser_state : NULL;
}

void kiln_context_destroy(kiln_context *ctx)
{
    if (!ctx) return;
    ctx->vt->context_fini(ctx);
    if (ctx->chooser_state && ctx->opts.chooser->close) ctx->opts.chooser->close(ctx->chooser_state);
    context_free(ctx);
}

kiln_status kiln_context_get_device(const kiln_context *ctx, kiln_device_info *info)
{
    if (!ctx || !info) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_context_get_device: NULL argument");
    *info = ctx->info;
    return KILN_OK;
}

kiln_status kiln_synchronize(kiln_context *ctx)
{
    if (!ctx) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_synchronize: ctx is NULL");
    return ctx->vt->synchronize ? ctx->vt->synchronize(ctx) : KILN_OK;
}

static kiln_status set_queue(kiln_context *ctx, kiln_backend want, void *queue, const char *what)
{
    if (!ctx) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: ctx is NULL", what);
    if (ctx->vt->kind != want || !ctx->vt->set_queue)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: the context is on %s, not %s", what,
                         kiln_backend_name(ctx->vt->kind), kiln_backend_name(want));
    kiln_status st = ctx->vt->set_queue(ctx, queue);
    if (st == KILN_OK) ctx->queue = queue; /* what a plan run with its own stream goes back to */
    return st;
}

kiln_status kiln_context_set_cuda_stream(kiln_context *ctx, void *cu_stream)
{
    return set_queue(ctx, KILN_BACKEND_CUDA, cu_stream, "kiln_context_set_cuda_stream");
}

kiln_status kiln_context_set_vulkan_command_buffer(kiln_context *ctx, void *vk_command_buffer)
{
    return set_queue(ctx, KILN_BACKEND_VULKAN, vk_command_buffer, "kiln_context_set_vulkan_command_buffer");
}
