/* kernels/cuda/cuda_api.h — the CUDA driver API and NVRTC, opened with dlopen.
 *
 * kiln builds without CUDA headers and runs without a GPU: the few types and
 * constants the backend uses are declared here (values from cuda.h / nvrtc.h,
 * stable across CUDA 11..13), and the functions are looked up at run time into
 * two tables. A missing library makes the backend unavailable with a reason;
 * the driver and NVRTC load independently, so kernels compile (and CI tests
 * them) on a machine with the toolkit but no GPU. */
#ifndef KILN_CUDA_API_H
#define KILN_CUDA_API_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln.h"

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef struct CUgraph_st *CUgraph;
typedef struct CUgraphExec_st *CUgraphExec;

enum {
    CUDA_SUCCESS = 0,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_NOT_READY = 600,
    CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10,
    CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
    CU_STREAM_NON_BLOCKING = 1,
    CU_STREAM_CAPTURE_MODE_RELAXED = 2,
};

/* The driver API entry points kiln uses (versioned symbols where cuda.h maps
 * the plain name onto a _v2/_v3). */
typedef struct kiln_cu_api {
    void *lib;
    CUresult (*Init)(unsigned flags);
    CUresult (*DriverGetVersion)(int *v);
    CUresult (*GetErrorName)(CUresult r, const char **s);
    CUresult (*GetErrorString)(CUresult r, const char **s);
    CUresult (*DeviceGetCount)(int *n);
    CUresult (*DeviceGet)(CUdevice *d, int ordinal);
    CUresult (*DeviceGetName)(char *name, int len, CUdevice d);
    CUresult (*DeviceTotalMem)(size_t *bytes, CUdevice d);
    CUresult (*DeviceGetAttribute)(int *v, int attrib, CUdevice d);
    CUresult (*DevicePrimaryCtxRetain)(CUcontext *c, CUdevice d);
    CUresult (*DevicePrimaryCtxRelease)(CUdevice d);
    CUresult (*CtxSetCurrent)(CUcontext c);
    CUresult (*StreamCreate)(CUstream *s, unsigned flags);
    CUresult (*StreamDestroy)(CUstream s);
    CUresult (*StreamSynchronize)(CUstream s);
    CUresult (*MemAlloc)(CUdeviceptr *p, size_t bytes);
    CUresult (*MemFree)(CUdeviceptr p);
    CUresult (*MemcpyHtoDAsync)(CUdeviceptr dst, const void *src, size_t n, CUstream s);
    CUresult (*MemcpyDtoHAsync)(void *dst, CUdeviceptr src, size_t n, CUstream s);
    CUresult (*MemcpyDtoDAsync)(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s);
    CUresult (*MemsetD8Async)(CUdeviceptr dst, unsigned char v, size_t n, CUstream s);
    CUresult (*ModuleLoadData)(CUmodule *m, const void *image);
    CUresult (*ModuleUnload)(CUmodule m);
    CUresult (*ModuleGetFunction)(CUfunction *f, CUmodule m, const char *name);
    CUresult (*FuncSetAttribute)(CUfunction f, int attrib, int value);
    CUresult (*LaunchKernel)(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                             unsigned by, unsigned bz, unsigned shared, CUstream s,
                             void **params, void **extra);
    CUresult (*EventCreate)(CUevent *e, unsigned flags);
    CUresult (*EventDestroy)(CUevent e);
    CUresult (*EventRecord)(CUevent e, CUstream s);
    CUresult (*EventSynchronize)(CUevent e);
    CUresult (*EventElapsedTime)(float *ms, CUevent a, CUevent b);
    CUresult (*StreamBeginCapture)(CUstream s, int mode);
    CUresult (*StreamEndCapture)(CUstream s, CUgraph *g);
    CUresult (*GraphInstantiate)(CUgraphExec *e, CUgraph g, unsigned long long flags);
    CUresult (*GraphLaunch)(CUgraphExec e, CUstream s);
    CUresult (*GraphExecDestroy)(CUgraphExec e);
    CUresult (*GraphDestroy)(CUgraph g);
} kiln_cu_api;

typedef int nvrtcResult;
typedef struct _nvrtcProgram *nvrtcProgram;

typedef struct kiln_nvrtc_api {
    void *lib;
    int version_major, version_minor;
    const char *(*GetErrorString)(nvrtcResult r);
    nvrtcResult (*Version)(int *major, int *minor);
    nvrtcResult (*CreateProgram)(nvrtcProgram *p, const char *src, const char *name, int nheaders,
                                 const char *const *headers, const char *const *include_names);
    nvrtcResult (*DestroyProgram)(nvrtcProgram *p);
    nvrtcResult (*CompileProgram)(nvrtcProgram p, int nopts, const char *const *opts);
    nvrtcResult (*GetProgramLogSize)(nvrtcProgram p, size_t *n);
    nvrtcResult (*GetProgramLog)(nvrtcProgram p, char *log);
    nvrtcResult (*GetPTXSize)(nvrtcProgram p, size_t *n);
    nvrtcResult (*GetPTX)(nvrtcProgram p, char *ptx);
    nvrtcResult (*GetCUBINSize)(nvrtcProgram p, size_t *n);
    nvrtcResult (*GetCUBIN)(nvrtcProgram p, char *cubin);
} kiln_nvrtc_api;

/* Load once (thread-safe). NULL when the library is missing or lacks a symbol,
 * with the reason in kiln_last_error(). The driver table also requires cuInit
 * to succeed (a driver without a usable GPU is "unavailable"). */
const kiln_cu_api *kiln_cu(void);
const kiln_nvrtc_api *kiln_nvrtc(void);

/* Turn a failed driver call into a kiln status with "what: CUDA_ERROR_X (text)". */
kiln_status kiln_cu_fail(CUresult r, const char *what);
/* The emulated driver's account of its next failing call on this thread
 * (what went wrong in the kernel): kiln_cu_fail reports it and clears it. */
void kiln_cu_set_detail(const char *message);
/* `if ((st = kiln_cu_check(api->X(...), "X")) != KILN_OK) return st;` */
static inline kiln_status kiln_cu_check(CUresult r, const char *what)
{
    return r == CUDA_SUCCESS ? KILN_OK : kiln_cu_fail(r, what);
}

#endif
