/* kernels/cuda/emu/emu_driver.c — the emulated CUDA driver: a kiln_cu_api
 * table the CUDA backend uses exactly as it uses libcuda's.
 *
 * One device, "kiln CUDA emulator", reporting sm_80 (the kernels' floor),
 * 8 multiprocessors (so split heuristics make few blocks) and A100's
 * shared-memory opt-in limit. Device memory is host memory (fresh allocations
 * poisoned with 0xff bytes: NaN for f32/f16/bf16); streams are synchronous;
 * events read the host clock; a module is the shared object of a host compile
 * (emu_compile.c), loaded from memory with memfd + dlopen; a launch runs every
 * block on the fiber scheduler (emu_sched.c) before it returns; stream capture
 * records launches (with a copy of their parameter block) into a graph that
 * replays them. A failed launch returns CUDA_ERROR_LAUNCH_FAILED and leaves
 * its message for kiln_cu_fail (kiln_cu_set_detail). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kernels/cuda/emu/emu.h"

enum {
    ERR_INVALID_VALUE = 1,
    ERR_INVALID_IMAGE = 200,
    ERR_NOT_FOUND = 500,
    ERR_LAUNCH_FAILED = 719,
    ERR_NOT_SUPPORTED = 801,
    ERR_CAPTURE_INVALIDATED = 901,
};

#define EMU_SMS 8
#define EMU_MEMORY (8ull << 30)

typedef struct emu_module {
    void *dl;
    int fd; /* kept open while loaded: its /proc/self/fd name stays unique */
    kiln_emu_module_info info;
    struct emu_func *funcs;
} emu_module;

typedef struct emu_func {
    emu_module *m;
    void (*fn)(void *const *params);
    size_t param_size;
    int max_dynamic_smem;
    char name[160];
    struct emu_func *next;
} emu_func;

typedef struct emu_launch_rec {
    emu_func *f;
    kiln_emu_dim3 grid, block;
    unsigned smem;
    void *params; /* a copy of the parameter block */
} emu_launch_rec;

typedef struct emu_graph {
    emu_launch_rec *l;
    int n, cap;
    int failed;
} emu_graph;

typedef struct emu_stream {
    emu_graph *capture; /* non-NULL while capturing */
} emu_stream;

typedef struct emu_event {
    double ms;
} emu_event;

static CUresult fail(CUresult r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static CUresult fail(CUresult r, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kiln_cu_set_detail(msg);
    return r;
}

/* ---------------------------------------------------------------- device */

static CUresult emu_init(unsigned flags) { return flags ? ERR_INVALID_VALUE : CUDA_SUCCESS; }
static CUresult emu_driver_version(int *v) { return *v = 13000, CUDA_SUCCESS; }

static const char *error_name(CUresult r)
{
    switch (r) {
    case CUDA_SUCCESS: return "CUDA_SUCCESS";
    case ERR_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
    case CUDA_ERROR_OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
    case ERR_INVALID_IMAGE: return "CUDA_ERROR_INVALID_IMAGE";
    case ERR_NOT_FOUND: return "CUDA_ERROR_NOT_FOUND";
    case ERR_LAUNCH_FAILED: return "CUDA_ERROR_LAUNCH_FAILED";
    case ERR_NOT_SUPPORTED: return "CUDA_ERROR_NOT_SUPPORTED";
    case ERR_CAPTURE_INVALIDATED: return "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED";
    }
    return NULL;
}
static CUresult emu_error_name(CUresult r, const char **s) { return (*s = error_name(r)) ? CUDA_SUCCESS : ERR_INVALID_VALUE; }
static CUresult emu_error_string(CUresult r, const char **s)
{
    *s = r == ERR_LAUNCH_FAILED ? "the emulated kernel faulted" : error_name(r);
    return *s ? CUDA_SUCCESS : ERR_INVALID_VALUE;
}
static CUresult emu_device_count(int *n) { return *n = 1, CUDA_SUCCESS; }
static CUresult emu_device_get(CUdevice *d, int i)
{
    if (i != 0) return fail(ERR_INVALID_VALUE, "the emulator has one device, cuda-emu:0 (asked for %d)", i);
    *d = 0;
    return CUDA_SUCCESS;
}
static CUresult emu_device_name(char *name, int len, CUdevice d)
{
    (void)d;
    snprintf(name, (size_t)len, "kiln CUDA emulator (CPU, for tests; sm_80 semantics)");
    return CUDA_SUCCESS;
}
static CUresult emu_total_mem(size_t *bytes, CUdevice d) { return (void)d, *bytes = EMU_MEMORY, CUDA_SUCCESS; }
static CUresult emu_attribute(int *v, int attrib, CUdevice d)
{
    (void)d;
    switch (attrib) {
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *v = 32; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = EMU_SMS; break;
    case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: *v = 40 << 20; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 8; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *v = KILN_EMU_DYN_SMEM_MAX; break;
    default: return fail(ERR_INVALID_VALUE, "cuDeviceGetAttribute: attribute %d is not emulated", attrib);
    }
    return CUDA_SUCCESS;
}

static int primary_ctx; /* its address is the one context */
static CUresult emu_ctx_retain(CUcontext *c, CUdevice d) { return (void)d, *c = (CUcontext)&primary_ctx, CUDA_SUCCESS; }
static CUresult emu_ctx_release(CUdevice d) { return (void)d, CUDA_SUCCESS; }
static CUresult emu_ctx_set(CUcontext c) { return (void)c, CUDA_SUCCESS; }

/* ---------------------------------------------------------------- streams, memory */

static CUresult emu_stream_create(CUstream *s, unsigned flags)
{
    (void)flags;
    emu_stream *e = calloc(1, sizeof *e);
    if (!e) return CUDA_ERROR_OUT_OF_MEMORY;
    *s = (CUstream)e;
    return CUDA_SUCCESS;
}
static void graph_free(emu_graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n; i++) free(g->l[i].params);
    free(g->l);
    free(g);
}
static CUresult emu_stream_destroy(CUstream s)
{
    emu_stream *e = (emu_stream *)s;
    if (e) graph_free(e->capture);
    free(e);
    return CUDA_SUCCESS;
}
static CUresult emu_stream_sync(CUstream s) { return (void)s, CUDA_SUCCESS; }

/* Copies are not captured: a capture that sees one is invalidated, as the
 * emulator records launches only. */
static CUresult not_while_capturing(CUstream s, const char *what)
{
    emu_stream *e = (emu_stream *)s;
    if (e && e->capture) {
        e->capture->failed = 1;
        return fail(ERR_NOT_SUPPORTED, "%s during stream capture: the emulator captures kernel launches only", what);
    }
    return CUDA_SUCCESS;
}

static CUresult emu_alloc(CUdeviceptr *p, size_t bytes)
{
    /* The driver's granularity: allocations are whole 256-byte units, so a
     * kernel may read a 16-byte granule that holds a valid byte (the mat-vec
     * window loads do) without leaving the allocation, even under ASan. */
    const size_t size = (bytes + 255) & ~(size_t)255;
    void *m = NULL;
    if (size < bytes || posix_memalign(&m, 256, size ? size : 256) != 0) return CUDA_ERROR_OUT_OF_MEMORY;
    memset(m, 0xff, size); /* uninitialized device memory reads as NaN */
    *p = (CUdeviceptr)(uintptr_t)m;
    return CUDA_SUCCESS;
}
static CUresult emu_free(CUdeviceptr p) { return free((void *)(uintptr_t)p), CUDA_SUCCESS; }
static CUresult emu_htod(CUdeviceptr dst, const void *src, size_t n, CUstream s)
{
    CUresult r = not_while_capturing(s, "cuMemcpyHtoDAsync");
    if (r == CUDA_SUCCESS && n) memcpy((void *)(uintptr_t)dst, src, n);
    return r;
}
static CUresult emu_dtoh(void *dst, CUdeviceptr src, size_t n, CUstream s)
{
    CUresult r = not_while_capturing(s, "cuMemcpyDtoHAsync");
    if (r == CUDA_SUCCESS && n) memcpy(dst, (const void *)(uintptr_t)src, n);
    return r;
}
static CUresult emu_dtod(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
    CUresult r = not_while_capturing(s, "cuMemcpyDtoDAsync");
    if (r == CUDA_SUCCESS && n) memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
    return r;
}
static CUresult emu_memset(CUdeviceptr dst, unsigned char v, size_t n, CUstream s)
{
    CUresult r = not_while_capturing(s, "cuMemsetD8Async");
    if (r == CUDA_SUCCESS && n) memset((void *)(uintptr_t)dst, v, n);
    return r;
}

/* ---------------------------------------------------------------- modules */

static CUresult emu_module_load(CUmodule *out, const void *image)
{
    size_t size = 0;
    const unsigned char *so = kiln_cuda_emu_image_payload(image, &size);
    if (!so) return fail(ERR_INVALID_IMAGE, "not an emulator module image (a cubin cannot run on the emulator)");
    emu_module *m = calloc(1, sizeof *m);
    if (!m) return CUDA_ERROR_OUT_OF_MEMORY;
    m->fd = memfd_create("kiln-cuda-emu-module", MFD_CLOEXEC);
    if (m->fd < 0) {
        free(m);
        return fail(ERR_INVALID_IMAGE, "memfd_create failed for an emulator module");
    }
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(m->fd, so + done, size - done);
        if (w <= 0) break;
        done += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", m->fd);
    m->dl = done == size ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!m->dl) {
        const char *why = dlerror();
        CUresult r = fail(ERR_INVALID_IMAGE, "loading an emulator module: %s", why ? why : "short write");
        close(m->fd);
        free(m);
        return r;
    }
    int (*bind)(const kiln_emu_rt *, kiln_emu_module_info *) =
        (int (*)(const kiln_emu_rt *, kiln_emu_module_info *))dlsym(m->dl, "kiln_emu_bind");
    if (!bind || bind(kiln_emu_runtime(), &m->info) != 0 || m->info.abi != KILN_EMU_ABI) {
        dlclose(m->dl);
        close(m->fd);
        free(m);
        return fail(ERR_INVALID_IMAGE, "an emulator module without kiln_emu_bind or of another ABI than %d",
                    KILN_EMU_ABI);
    }
    *out = (CUmodule)m;
    return CUDA_SUCCESS;
}

static CUresult emu_module_unload(CUmodule mod)
{
    emu_module *m = (emu_module *)mod;
    if (!m) return ERR_INVALID_VALUE;
    for (emu_func *f = m->funcs, *next; f; f = next) {
        next = f->next;
        free(f);
    }
    dlclose(m->dl);
    close(m->fd);
    free(m);
    return CUDA_SUCCESS;
}

static CUresult emu_get_function(CUfunction *out, CUmodule mod, const char *name)
{
    emu_module *m = (emu_module *)mod;
    char size_sym[200];
    snprintf(size_sym, sizeof size_sym, "%s_kiln_emu_param_size", name);
    void *fn = dlsym(m->dl, name);
    const size_t *ps = dlsym(m->dl, size_sym);
    if (!fn || !ps) return ERR_NOT_FOUND; /* as the driver: probing an optional kernel is not an error */
    emu_func *f = calloc(1, sizeof *f);
    if (!f) return CUDA_ERROR_OUT_OF_MEMORY;
    f->m = m;
    *(void **)&f->fn = fn;
    f->param_size = *ps;
    f->max_dynamic_smem = 48 * 1024;
    snprintf(f->name, sizeof f->name, "%s", name);
    f->next = m->funcs;
    m->funcs = f;
    *out = (CUfunction)f;
    return CUDA_SUCCESS;
}

static CUresult emu_func_attribute(CUfunction fn, int attrib, int value)
{
    emu_func *f = (emu_func *)fn;
    if (attrib != CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
        return fail(ERR_INVALID_VALUE, "cuFuncSetAttribute: attribute %d is not emulated", attrib);
    if (value < 0 || value > KILN_EMU_DYN_SMEM_MAX)
        return fail(ERR_INVALID_VALUE, "%s: %d bytes of dynamic shared memory asked, the device has %d", f->name,
                    value, KILN_EMU_DYN_SMEM_MAX);
    f->max_dynamic_smem = value;
    return CUDA_SUCCESS;
}

/* ---------------------------------------------------------------- launches */

static CUresult run_launch(const emu_launch_rec *r, void **params)
{
    const emu_func *f = r->f;
    if (r->smem > (unsigned)f->max_dynamic_smem)
        return fail(ERR_INVALID_VALUE, "%s: launch asks %u bytes of dynamic shared memory, above the kernel's limit of %d "
                    "(cuFuncSetAttribute)", f->name, r->smem, f->max_dynamic_smem);
    kiln_emu_launch l = {
        .fn = f->fn,
        .params = params,
        .grid = r->grid,
        .block = r->block,
        .dynamic_smem = r->smem,
        .memory = &f->m->info,
        .name = f->name,
    };
    char err[1100];
    if (kiln_emu_run(&l, err, sizeof err) != 0) return fail(ERR_LAUNCH_FAILED, "cuda-emu: %s", err);
    return CUDA_SUCCESS;
}

static CUresult emu_launch(CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                           unsigned shared, CUstream s, void **params, void **extra)
{
    emu_func *f = (emu_func *)fn;
    if (!f || extra || !params) return fail(ERR_INVALID_VALUE, "cuLaunchKernel: the emulator takes kernelParams only");
    if (!gx || !gy || !gz || !bx || !by || !bz)
        return fail(ERR_INVALID_VALUE, "%s: empty grid or block", f->name);
    emu_launch_rec r = {f, {gx, gy, gz}, {bx, by, bz}, shared, NULL};
    emu_stream *e = (emu_stream *)s;
    if (e && e->capture) {
        emu_graph *g = e->capture;
        if (g->n == g->cap) {
            int cap = g->cap ? 2 * g->cap : 16;
            emu_launch_rec *l = realloc(g->l, (size_t)cap * sizeof *l);
            if (!l) return CUDA_ERROR_OUT_OF_MEMORY;
            g->l = l;
            g->cap = cap;
        }
        r.params = malloc(f->param_size ? f->param_size : 1);
        if (!r.params) return CUDA_ERROR_OUT_OF_MEMORY;
        memcpy(r.params, params[0], f->param_size);
        g->l[g->n++] = r;
        return CUDA_SUCCESS;
    }
    return run_launch(&r, params);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
static CUresult emu_event_create(CUevent *ev, unsigned flags)
{
    (void)flags;
    emu_event *e = calloc(1, sizeof *e);
    if (!e) return CUDA_ERROR_OUT_OF_MEMORY;
    *ev = (CUevent)e;
    return CUDA_SUCCESS;
}
static CUresult emu_event_destroy(CUevent e) { return free(e), CUDA_SUCCESS; }
static CUresult emu_event_record(CUevent ev, CUstream s) { return (void)s, ((emu_event *)ev)->ms = now_ms(), CUDA_SUCCESS; }
static CUresult emu_event_sync(CUevent e) { return (void)e, CUDA_SUCCESS; }
static CUresult emu_event_elapsed(float *ms, CUevent a, CUevent b)
{
    *ms = (float)(((emu_event *)b)->ms - ((emu_event *)a)->ms);
    return CUDA_SUCCESS;
}

static CUresult emu_begin_capture(CUstream s, int mode)
{
    (void)mode;
    emu_stream *e = (emu_stream *)s;
    if (!e) return fail(ERR_INVALID_VALUE, "cuStreamBeginCapture: the default stream cannot be captured");
    if (e->capture) return fail(ERR_INVALID_VALUE, "cuStreamBeginCapture: the stream is already capturing");
    e->capture = calloc(1, sizeof *e->capture);
    return e->capture ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}
static CUresult emu_end_capture(CUstream s, CUgraph *out)
{
    emu_stream *e = (emu_stream *)s;
    if (!e || !e->capture) return fail(ERR_INVALID_VALUE, "cuStreamEndCapture: the stream is not capturing");
    emu_graph *g = e->capture;
    e->capture = NULL;
    if (g->failed) {
        graph_free(g);
        return fail(ERR_CAPTURE_INVALIDATED, "the capture was invalidated by a copy (see the earlier error)");
    }
    *out = (CUgraph)g;
    return CUDA_SUCCESS;
}
static CUresult emu_graph_instantiate(CUgraphExec *out, CUgraph graph, unsigned long long flags)
{
    (void)flags;
    const emu_graph *g = (const emu_graph *)graph;
    emu_graph *x = calloc(1, sizeof *x);
    if (!x) return CUDA_ERROR_OUT_OF_MEMORY;
    x->l = calloc((size_t)(g->n ? g->n : 1), sizeof *x->l);
    for (int i = 0; x->l && i < g->n; i++) {
        x->l[i] = g->l[i];
        x->l[i].params = malloc(g->l[i].f->param_size ? g->l[i].f->param_size : 1);
        if (!x->l[i].params) break;
        memcpy(x->l[i].params, g->l[i].params, g->l[i].f->param_size);
        x->n = i + 1;
    }
    if (!x->l || x->n != g->n) {
        graph_free(x);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *out = (CUgraphExec)x;
    return CUDA_SUCCESS;
}
static CUresult emu_graph_launch(CUgraphExec exec, CUstream s)
{
    (void)s;
    const emu_graph *x = (const emu_graph *)exec;
    for (int i = 0; i < x->n; i++) {
        void *params[] = {x->l[i].params};
        CUresult r = run_launch(&x->l[i], params);
        if (r != CUDA_SUCCESS) return r;
    }
    return CUDA_SUCCESS;
}
static CUresult emu_graph_exec_destroy(CUgraphExec x) { return graph_free((emu_graph *)x), CUDA_SUCCESS; }
static CUresult emu_graph_destroy(CUgraph g) { return graph_free((emu_graph *)g), CUDA_SUCCESS; }

static const kiln_cu_api emu_api = {
    .lib = NULL,
    .Init = emu_init,
    .DriverGetVersion = emu_driver_version,
    .GetErrorName = emu_error_name,
    .GetErrorString = emu_error_string,
    .DeviceGetCount = emu_device_count,
    .DeviceGet = emu_device_get,
    .DeviceGetName = emu_device_name,
    .DeviceTotalMem = emu_total_mem,
    .DeviceGetAttribute = emu_attribute,
    .DevicePrimaryCtxRetain = emu_ctx_retain,
    .DevicePrimaryCtxRelease = emu_ctx_release,
    .CtxSetCurrent = emu_ctx_set,
    .StreamCreate = emu_stream_create,
    .StreamDestroy = emu_stream_destroy,
    .StreamSynchronize = emu_stream_sync,
    .MemAlloc = emu_alloc,
    .MemFree = emu_free,
    .MemcpyHtoDAsync = emu_htod,
    .MemcpyDtoHAsync = emu_dtoh,
    .MemcpyDtoDAsync = emu_dtod,
    .MemsetD8Async = emu_memset,
    .ModuleLoadData = emu_module_load,
    .ModuleUnload = emu_module_unload,
    .ModuleGetFunction = emu_get_function,
    .FuncSetAttribute = emu_func_attribute,
    .LaunchKernel = emu_launch,
    .EventCreate = emu_event_create,
    .EventDestroy = emu_event_destroy,
    .EventRecord = emu_event_record,
    .EventSynchronize = emu_event_sync,
    .EventElapsedTime = emu_event_elapsed,
    .StreamBeginCapture = emu_begin_capture,
    .StreamEndCapture = emu_end_capture,
    .GraphInstantiate = emu_graph_instantiate,
    .GraphLaunch = emu_graph_launch,
    .GraphExecDestroy = emu_graph_exec_destroy,
    .GraphDestroy = emu_graph_destroy,
};

const kiln_cu_api *kiln_cu_emu(void) { return &emu_api; }
