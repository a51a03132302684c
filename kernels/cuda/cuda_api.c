/* kernels/cuda/cuda_api.c — dlopen of libcuda and NVRTC into function tables.
 * Each library is opened once per process (pthread_once); the tables are then
 * read-only, so every context and thread shares them without a lock. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "kernels/cuda/cuda_api.h"

/* ---------------------------------------------------------------- helpers */

/* dlopen the first name that loads; on failure describe every attempt. */
static void *open_first(const char *const *names, size_t count, char *why, size_t cap)
{
    size_t used = 0;
    why[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        if (!names[i] || !names[i][0]) continue;
        void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (h) return h;
        const char *e = dlerror();
        int n = snprintf(why + used, cap - used, "%s%s", used ? "; " : "", e ? e : names[i]);
        if (n > 0 && (size_t)n < cap - used) used += (size_t)n;
    }
    return NULL;
}

/* Look up each symbol into its slot; returns the first missing name or NULL. */
typedef struct sym_slot {
    const char *name;
    void **slot;
} sym_slot;

static const char *resolve(void *lib, const sym_slot *syms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        void *p = dlsym(lib, syms[i].name);
        if (!p) return syms[i].name;
        *syms[i].slot = p;
    }
    return NULL;
}

/* ---------------------------------------------------------------- driver */

static kiln_cu_api cu_api;
static const kiln_cu_api *cu_ok;
static char cu_why[1024];
static pthread_once_t cu_once = PTHREAD_ONCE_INIT;

#define SLOT(api, field, sym) {sym, (void **)&(api).field}

static void load_driver(void)
{
    static const char *const names[] = {"libcuda.so.1", "libcuda.so"};
    char why[768];
    void *lib = open_first(names, sizeof names / sizeof names[0], why, sizeof why);
    if (!lib) {
        snprintf(cu_why, sizeof cu_why, "cuda: the driver library libcuda.so.1 could not be loaded (%s)", why);
        return;
    }
    const sym_slot syms[] = {
        SLOT(cu_api, Init, "cuInit"),
        SLOT(cu_api, DriverGetVersion, "cuDriverGetVersion"),
        SLOT(cu_api, GetErrorName, "cuGetErrorName"),
        SLOT(cu_api, GetErrorString, "cuGetErrorString"),
        SLOT(cu_api, DeviceGetCount, "cuDeviceGetCount"),
        SLOT(cu_api, DeviceGet, "cuDeviceGet"),
        SLOT(cu_api, DeviceGetName, "cuDeviceGetName"),
        SLOT(cu_api, DeviceTotalMem, "cuDeviceTotalMem_v2"),
        SLOT(cu_api, DeviceGetAttribute, "cuDeviceGetAttribute"),
        SLOT(cu_api, DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"),
        SLOT(cu_api, DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"),
        SLOT(cu_api, CtxSetCurrent, "cuCtxSetCurrent"),
        SLOT(cu_api, StreamCreate, "cuStreamCreate"),
        SLOT(cu_api, StreamDestroy, "cuStreamDestroy_v2"),
        SLOT(cu_api, StreamSynchronize, "cuStreamSynchronize"),
        SLOT(cu_api, MemAlloc, "cuMemAlloc_v2"),
        SLOT(cu_api, MemFree, "cuMemFree_v2"),
        SLOT(cu_api, MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"),
        SLOT(cu_api, MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"),
        SLOT(cu_api, MemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"),
        SLOT(cu_api, MemsetD8Async, "cuMemsetD8Async"),
        SLOT(cu_api, ModuleLoadData, "cuModuleLoadData"),
        SLOT(cu_api, ModuleUnload, "cuModuleUnload"),
        SLOT(cu_api, ModuleGetFunction, "cuModuleGetFunction"),
        SLOT(cu_api, FuncSetAttribute, "cuFuncSetAttribute"),
        SLOT(cu_api, LaunchKernel, "cuLaunchKernel"),
        SLOT(cu_api, EventCreate, "cuEventCreate"),
        SLOT(cu_api, EventDestroy, "cuEventDestroy_v2"),
        SLOT(cu_api, EventRecord, "cuEventRecord"),
        SLOT(cu_api, EventSynchronize, "cuEventSynchronize"),
        SLOT(cu_api, StreamBeginCapture, "cuStreamBeginCapture_v2"),
        SLOT(cu_api, StreamEndCapture, "cuStreamEndCapture"),
        SLOT(cu_api, GraphInstantiate, "cuGraphInstantiateWithFlags"),
        SLOT(cu_api, GraphLaunch, "cuGraphLaunch"),
        SLOT(cu_api, GraphExecDestroy, "cuGraphExecDestroy"),
        SLOT(cu_api, GraphDestroy, "cuGraphDestroy"),
    };
    const char *missing = resolve(lib, syms, sizeof syms / sizeof syms[0]);
    /* CUDA 12.8 added cuEventElapsedTime_v2; older drivers only have the plain name. */
    void *elapsed = dlsym(lib, "cuEventElapsedTime_v2");
    if (!elapsed) elapsed = dlsym(lib, "cuEventElapsedTime");
    if (!missing && !elapsed) missing = "cuEventElapsedTime";
    if (missing) {
        snprintf(cu_why, sizeof cu_why, "cuda: libcuda.so.1 lacks %s (driver too old?)", missing);
        dlclose(lib);
        return;
    }
    *(void **)&cu_api.EventElapsedTime = elapsed;
    cu_api.lib = lib;
    CUresult r = cu_api.Init(0);
    if (r != CUDA_SUCCESS) {
        const char *name = NULL;
        if (cu_api.GetErrorName(r, &name) != CUDA_SUCCESS) name = NULL;
        snprintf(cu_why, sizeof cu_why, "cuda: cuInit failed with %s (%d): no usable NVIDIA GPU or driver",
                 name ? name : "an unknown error", r);
        return; /* keep the library open: unloading a driver mid-init is not worth the risk */
    }
    cu_ok = &cu_api;
}

const kiln_cu_api *kiln_cu(void)
{
    pthread_once(&cu_once, load_driver);
    if (!cu_ok) kiln_fail(KILN_ERR_UNAVAILABLE, "%s", cu_why);
    return cu_ok;
}

static _Thread_local char cu_detail[1200];

void kiln_cu_set_detail(const char *message) { snprintf(cu_detail, sizeof cu_detail, "%s", message); }

kiln_status kiln_cu_fail(CUresult r, const char *what)
{
    if (cu_detail[0]) {
        kiln_status s = r == CUDA_ERROR_OUT_OF_MEMORY ? KILN_ERR_OUT_OF_MEMORY : KILN_ERR_DEVICE;
        s = kiln_fail(s, "cuda: %s failed (%d): %s", what, r, cu_detail);
        cu_detail[0] = '\0';
        return s;
    }
    const char *name = NULL, *text = NULL;
    if (cu_ok) {
        if (cu_ok->GetErrorName(r, &name) != CUDA_SUCCESS) name = NULL;
        if (cu_ok->GetErrorString(r, &text) != CUDA_SUCCESS) text = NULL;
    }
    kiln_status s = r == CUDA_ERROR_OUT_OF_MEMORY ? KILN_ERR_OUT_OF_MEMORY : KILN_ERR_DEVICE;
    return kiln_fail(s, "cuda: %s failed: %s (%d)%s%s", what, name ? name : "CUDA error", r,
                     text ? ": " : "", text ? text : "");
}

/* ---------------------------------------------------------------- NVRTC */

static kiln_nvrtc_api rtc_api;
static const kiln_nvrtc_api *rtc_ok;
static char rtc_why[2048];
static pthread_once_t rtc_once = PTHREAD_ONCE_INIT;

static void load_nvrtc(void)
{
    /* The toolkit's lib64 is often not on the loader path; try it and
     * $CUDA_HOME/lib64 by absolute path after the plain names. */
    char home13[512] = "", home12[512] = "", home[512] = "";
    const char *cuda_home = getenv("CUDA_HOME");
    if (!cuda_home || !cuda_home[0]) cuda_home = getenv("CUDA_PATH");
    if (cuda_home && cuda_home[0]) {
        snprintf(home, sizeof home, "%s/lib64/libnvrtc.so", cuda_home);
        snprintf(home13, sizeof home13, "%s/lib64/libnvrtc.so.13", cuda_home);
        snprintf(home12, sizeof home12, "%s/lib64/libnvrtc.so.12", cuda_home);
    }
    const char *const names[] = {
        "libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12",
        home, home13, home12,
        "/usr/local/cuda/lib64/libnvrtc.so", "/usr/local/cuda/lib64/libnvrtc.so.13",
        "/usr/local/cuda/lib64/libnvrtc.so.12",
    };
    char why[1536];
    void *lib = open_first(names, sizeof names / sizeof names[0], why, sizeof why);
    if (!lib) {
        snprintf(rtc_why, sizeof rtc_why, "cuda: NVRTC (libnvrtc.so) could not be loaded (%s)", why);
        return;
    }
    const sym_slot syms[] = {
        SLOT(rtc_api, GetErrorString, "nvrtcGetErrorString"),
        SLOT(rtc_api, Version, "nvrtcVersion"),
        SLOT(rtc_api, CreateProgram, "nvrtcCreateProgram"),
        SLOT(rtc_api, DestroyProgram, "nvrtcDestroyProgram"),
        SLOT(rtc_api, CompileProgram, "nvrtcCompileProgram"),
        SLOT(rtc_api, GetProgramLogSize, "nvrtcGetProgramLogSize"),
        SLOT(rtc_api, GetProgramLog, "nvrtcGetProgramLog"),
        SLOT(rtc_api, GetPTXSize, "nvrtcGetPTXSize"),
        SLOT(rtc_api, GetPTX, "nvrtcGetPTX"),
        SLOT(rtc_api, GetCUBINSize, "nvrtcGetCUBINSize"),
        SLOT(rtc_api, GetCUBIN, "nvrtcGetCUBIN"),
    };
    const char *missing = resolve(lib, syms, sizeof syms / sizeof syms[0]);
    if (missing) {
        snprintf(rtc_why, sizeof rtc_why, "cuda: NVRTC lacks %s (NVRTC 11.1 or newer is needed)", missing);
        dlclose(lib);
        return;
    }
    rtc_api.lib = lib;
    if (rtc_api.Version(&rtc_api.version_major, &rtc_api.version_minor) != 0) {
        snprintf(rtc_why, sizeof rtc_why, "cuda: nvrtcVersion failed");
        return;
    }
    rtc_ok = &rtc_api;
}

const kiln_nvrtc_api *kiln_nvrtc(void)
{
    pthread_once(&rtc_once, load_nvrtc);
    if (!rtc_ok) kiln_fail(KILN_ERR_UNAVAILABLE, "%s", rtc_why);
    return rtc_ok;
}
