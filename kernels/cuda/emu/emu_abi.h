/* kernels/cuda/emu/emu_abi.h — the contract between the CUDA emulator's runtime
 * (kernels/cuda/emu/emu_*.c, inside libkiln) and an emulated kernel module (the
 * emitted CUDA source compiled by the host C++ compiler into a shared object).
 *
 * Plain C, read by both sides: the runtime includes it from C, and the host
 * compile prepends it (embedded text) to the kernel source. The module exports
 *   int kiln_emu_bind(const kiln_emu_rt *rt, kiln_emu_module_info *info)
 * and one `void NAME(void *const *params)` per kernel (cuLaunchKernel's
 * parameter array), plus `NAME_kiln_emu_param_size` (the parameter block's
 * size, so a captured launch can keep a copy). Bump KILN_EMU_ABI when any of
 * this changes: it is part of the compiled modules' cache key. */
#ifndef KILN_CUDA_EMU_ABI_H
#define KILN_CUDA_EMU_ABI_H

#include <stddef.h>
#include <stdint.h>

#define KILN_EMU_ABI 2
#define KILN_EMU_XCHG_WORDS 8 /* 32-bit words a lane contributes to one warp operation */
/* Dynamic shared memory each module reserves (the emulated device's opt-in
 * limit: A100's 163 KB). Kernels see it through KILN_DYNAMIC_SHARED. */
#define KILN_EMU_DYN_SMEM_MAX (163 * 1024)

typedef struct kiln_emu_dim3 {
    unsigned x, y, z;
} kiln_emu_dim3;

/* What a CUDA thread can ask about itself; the runtime points `current` at
 * the running fiber's copy before every switch into it. */
typedef struct kiln_emu_thread {
    kiln_emu_dim3 thread_idx, block_idx, block_dim, grid_dim;
} kiln_emu_thread;

/* Warp operations, checked to match across the lanes that meet. */
typedef enum kiln_emu_warp_op {
    KILN_EMU_OP_SYNCWARP = 1,
    KILN_EMU_OP_SHFL,
    KILN_EMU_OP_MMA_F16,
    KILN_EMU_OP_MMA_BF16,
    KILN_EMU_OP_MMA_S8,
    KILN_EMU_OP_LDMATRIX,
} kiln_emu_warp_op;

typedef struct kiln_emu_rt {
    int abi;
    kiln_emu_thread *const *current;
    /* __syncthreads: every live thread of the block must arrive. */
    void (*sync_threads)(void);
    /* Lanes of `mask` meet at op: each deposits n words; the call returns
     * every lane's words, [lane][word], valid until the lane's next warp op. */
    const uint32_t (*(*warp_exchange)(kiln_emu_warp_op op, unsigned mask, const uint32_t *in,
                                      int n))[KILN_EMU_XCHG_WORDS];
    /* A fault found on the kernel side (misalignment, ...): ends the launch
     * with the message as its error. Does not return. */
    void (*fail)(const char *message);
    /* cp.async: the copy is queued and done at wait time. */
    void (*cp_async)(void *dst, const void *src, unsigned bytes);
    void (*cp_async_commit)(void);
    void (*cp_async_wait)(int pending);
    /* One lane's access of bytes at p by a wrapper (profiling; cheap when off).
     * The runtime tells shared from global memory by the address; stream: 1
     * for the streaming weight loads (kiln_arch_ld_stream16). */
    void (*access)(const void *p, unsigned bytes, int stream);
    /* ldmatrix: the 8 row addresses of each of the x matrices (bank conflicts). */
    void (*access_ldmatrix)(const uint64_t *rows, int count);
} kiln_emu_rt;

/* What a module tells the runtime when bound: where its shared memory lives. */
typedef struct kiln_emu_module_info {
    int abi;
    unsigned char *static_smem;   /* every __shared__ variable of the module (one section) */
    size_t static_smem_bytes;
    unsigned char *dynamic_smem;  /* KILN_DYNAMIC_SHARED arrays: KILN_EMU_DYN_SMEM_MAX bytes */
} kiln_emu_module_info;

#endif
