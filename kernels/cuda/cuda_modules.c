/* kernels/cuda/cuda_modules.c — per-context cache: spec -> loaded CUmodule.
 *
 * First use of a spec: kiln_gen_emit -> cubin (NVRTC, or the disk cache) ->
 * cuModuleLoadData -> kernel handles, and the dynamic shared-memory limit raised
 * to what the launch description asks. A cached cubin the driver rejects is
 * discarded and compiled afresh once. After warm-up a launch is a list lookup
 * under the context's lock: no compile, no file access on the hot path. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_compile.h"
#include "kernels/cuda/cuda_internal.h"
#include "kiln/kernel.h"

static kiln_cuda_module *find(kiln_cuda_ctx *c, const kiln_spec *spec, uint64_t hash)
{
    for (kiln_cuda_module *m = c->modules; m; m = m->next)
        if (m->hash == hash && kiln_spec_equal(&m->spec, spec)) return m;
    return NULL;
}

/* Load image as a module; on success fill the kernel handles of m. */
static kiln_status load(kiln_cuda_ctx *c, const void *image, const kiln_source *src, kiln_cuda_module *m)
{
    kiln_status st = kiln_cu_check(c->cu->ModuleLoadData(&m->module, image), "cuModuleLoadData");
    if (st != KILN_OK) return st;
    st = kiln_cu_check(c->cu->ModuleGetFunction(&m->main, m->module, src->entry), "cuModuleGetFunction");
    if (st == KILN_OK && m->spec.op == KILN_OP_PAGED_ATTN) {
        char name[KILN_SPEC_NAME_MAX + 16];
        snprintf(name, sizeof name, "%s_combine", src->entry);
        st = kiln_cu_check(c->cu->ModuleGetFunction(&m->combine, m->module, name), "cuModuleGetFunction (combine)");
    }
    if (st == KILN_OK && m->spec.op == KILN_OP_MATMUL) {
        /* Optional: only the int8 mat-vec templates define it. */
        char name[KILN_SPEC_NAME_MAX + 16];
        snprintf(name, sizeof name, "%s_quantize_x", src->entry);
        if (c->cu->ModuleGetFunction(&m->quantize, m->module, name) != CUDA_SUCCESS) m->quantize = NULL;
    }
    /* Above 48 KB a kernel must opt in to dynamic shared memory. */
    unsigned smem = src->shared_bytes;
    if (st == KILN_OK && smem > (unsigned)c->smem_optin)
        st = kiln_fail(KILN_ERR_UNSUPPORTED, "cuda: %s needs %u bytes of shared memory, the device has %d per block",
                       src->entry, smem, c->smem_optin);
    if (st == KILN_OK && smem > 48 * 1024)
        st = kiln_cu_check(c->cu->FuncSetAttribute(m->main, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)smem),
                           "cuFuncSetAttribute (dynamic shared memory)");
    m->max_dynamic_smem = smem > 48 * 1024 ? smem : 48 * 1024;
    if (st != KILN_OK) {
        c->cu->ModuleUnload(m->module);
        m->module = NULL;
    }
    return st;
}

static kiln_status build(kiln_context *ctx, const kiln_spec *spec, kiln_cuda_module *m)
{
    kiln_cuda_ctx *c = kiln_cuda_of(ctx);
    kiln_status st = kiln_cuda_can_implement(ctx, spec);
    if (st != KILN_OK) return st;
    kiln_source src;
    memset(&src, 0, sizeof src);
    st = kiln_gen_emit(spec, &src);
    if (st != KILN_OK) return st;
    m->threads = src.threads[0];
    void *cubin = NULL;
    size_t size = 0;
    int from_cache = 0;
    st = kiln_cuda_cubin(ctx->cache_dir, src.text, src.entry, c->arch, &cubin, &size, &from_cache);
    if (st == KILN_OK) {
        st = load(c, cubin, &src, m);
        if (st != KILN_OK && from_cache) {
            /* A cache entry that passed its checksum but not the driver (say, a
             * driver update): throw it away and compile once more. */
            free(cubin);
            cubin = NULL;
            kiln_cuda_cache_discard(ctx->cache_dir, src.text, src.entry, c->arch);
            st = kiln_cuda_cubin(ctx->cache_dir, src.text, src.entry, c->arch, &cubin, &size, &from_cache);
            if (st == KILN_OK) st = load(c, cubin, &src, m);
        }
    }
    free(cubin);
    if (st != KILN_OK) kiln_fail_prefix(st, "cuda: preparing %s", src.entry);
    kiln_source_free(&src);
    return st;
}

kiln_status kiln_cuda_module_get(kiln_context *ctx, const kiln_spec *spec, const kiln_cuda_module **out)
{
    kiln_cuda_ctx *c = kiln_cuda_of(ctx);
    uint64_t hash = kiln_spec_hash(spec);
    pthread_mutex_lock(&c->lock);
    kiln_cuda_module *m = find(c, spec, hash);
    kiln_status st = KILN_OK;
    if (!m) {
        /* Compiling under the lock keeps two threads from building one spec twice;
         * it happens once per spec and context. */
        m = calloc(1, sizeof *m);
        if (!m) {
            st = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "cuda: module cache: out of memory");
        } else {
            m->spec = *spec;
            m->hash = hash;
            st = kiln_cuda_bind(c);
            if (st == KILN_OK) st = build(ctx, spec, m);
            if (st == KILN_OK) {
                m->next = c->modules;
                c->modules = m;
            } else {
                free(m);
                m = NULL;
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    *out = m;
    return st;
}

void kiln_cuda_modules_release(kiln_cuda_ctx *c)
{
    kiln_cuda_module *m = c->modules;
    while (m) {
        kiln_cuda_module *next = m->next;
        if (m->module) c->cu->ModuleUnload(m->module);
        free(m);
        m = next;
    }
    c->modules = NULL;
}

/* ---- precompile (one spec; kiln_precompile runs several on threads).
 * NVRTC is thread-safe, so the spec is emitted and compiled into the disk
 * cache (kiln_cuda_cubin: atomic writes); loading stays in module_get, on the
 * caller's thread with the context current, and finds the cubin there.
 * Without a cache directory there is nowhere to keep it: nothing to do. */
kiln_status kiln_cuda_modules_precompile(kiln_context *ctx, const kiln_spec *spec)
{
    kiln_cuda_ctx *c = kiln_cuda_of(ctx);
    if (!ctx->cache_dir[0]) return KILN_OK;
    pthread_mutex_lock(&c->lock);
    int loaded = find(c, spec, kiln_spec_hash(spec)) != NULL;
    pthread_mutex_unlock(&c->lock);
    kiln_status st;
    if (loaded || (st = kiln_cuda_can_implement(ctx, spec)) != KILN_OK) return loaded ? KILN_OK : st;
    kiln_source src;
    memset(&src, 0, sizeof src);
    if ((st = kiln_gen_emit(spec, &src)) != KILN_OK) return st;
    void *cubin = NULL;
    size_t size = 0;
    int from_cache = 0;
    st = kiln_cuda_cubin(ctx->cache_dir, src.text, src.entry, c->arch, &cubin, &size, &from_cache);
    free(cubin);
    kiln_source_free(&src);
    return st;
}
