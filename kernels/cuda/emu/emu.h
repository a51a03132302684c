/* kernels/cuda/emu/emu.h — the CUDA emulator inside libkiln (internal).
 *
 *   emu_fiber.c    one stack and a context switch per CUDA thread
 *   emu_sched.c    a launch: blocks one at a time, warps in shuffled order,
 *                  barriers and warp operations as rendezvous, the checks
 *   emu_profile.c  bank conflicts and sectors of the wrappers' accesses
 *   emu_driver.c   the emulated driver: a second kiln_cu_api table
 *   emu_compile.c  emitted source -> host shared object (the NVRTC stand-in)
 *
 * The device is "cuda-emu:0": the CUDA backend's host code (spec choice,
 * parameter blocks, launch geometry, workspace) runs unchanged on it; only the
 * driver table and the compile step differ. docs/CUDA.md, "The emulator". */
#ifndef KILN_CUDA_EMU_H
#define KILN_CUDA_EMU_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/cuda/cuda_api.h"
#include "kernels/cuda/emu/emu_abi.h"
#include "kiln/cuda_emu.h"

/* The arch name the emulator's modules are compiled and cached under. */
#define KILN_CUDA_EMU_ARCH "host"

/* The emulated driver (never NULL: it needs nothing but the host). */
const kiln_cu_api *kiln_cu_emu(void);
static inline int kiln_cuda_is_emu_arch(const char *arch)
{
    return arch && arch[0] == 'h' && arch[1] == 'o' && arch[2] == 's' && arch[3] == 't' && !arch[4];
}

/* ---- host compile (emu_compile.c) */
/* 1 when the host C++ compiler runs; else 0 with the reason in kiln_last_error(). */
int kiln_cuda_emu_compiler_available(void);
/* Source -> module image (header + shared object, malloc'd). KILN_ERR_COMPILE
 * with the compiler's log in kiln_last_error(). */
kiln_status kiln_cuda_emu_compile(const char *source, const char *entry, void **image, size_t *size);
/* The shared object inside a module image (NULL when it is not one). */
const unsigned char *kiln_cuda_emu_image_payload(const void *image, size_t *size);
/* Mix the compiler's identity, flags and the emulation headers into a cache key. */
void kiln_cuda_emu_key_salt(uint64_t h[2]);

/* ---- one launch (emu_sched.c) */
typedef struct kiln_emu_launch {
    void (*fn)(void *const *params);
    void *const *params;
    kiln_emu_dim3 grid, block;
    unsigned dynamic_smem;               /* the launch's request */
    const kiln_emu_module_info *memory;  /* the module's shared memory */
    const char *name;                    /* the kernel, for messages and the profile */
} kiln_emu_launch;

/* Run every block to completion. 0, or -1 with what went wrong in err. */
int kiln_emu_run(const kiln_emu_launch *l, char *err, size_t cap);
const kiln_emu_rt *kiln_emu_runtime(void);

/* ---- profile (emu_profile.c), called by the scheduler */
int kiln_emu_profile_on(void);
/* One lane's access (lane within warp, warp within block). */
/* instance: the thread's (syncs passed, passes of this site since) — equal for
 * the lanes of one warp instruction in converged code. */
void kiln_emu_profile_access(int warp, int lane, uintptr_t site, uint64_t instance, const void *p, unsigned bytes,
                             int stream);
void kiln_emu_profile_ldmatrix(const uint64_t *rows, int count);
void kiln_emu_profile_cp_async(void);
/* Block end: fold the block's accesses into the kernel's counters. */
void kiln_emu_profile_block_end(const char *kernel, const kiln_emu_module_info *mem);
void kiln_emu_profile_launch(const char *kernel);

#endif
