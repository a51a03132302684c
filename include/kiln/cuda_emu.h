/* kiln/cuda_emu.h — profile counters of the CUDA emulator (device "cuda-emu:0").
 *
 * The emulator runs kiln's CUDA kernels on the CPU for tests (docs/CUDA.md,
 * "The emulator"). While profiling is on, it counts the memory traffic that
 * goes through the kernels' access wrappers (ldmatrix, cp.async, 16-byte
 * shared and global loads and stores), per warp instruction, summed per
 * kernel: shared-memory wavefronts and bank conflicts (32 banks of 4 bytes;
 * 16-byte accesses in 4 phases of 8 lanes, 8-byte in 2 of 16, ldmatrix one
 * phase per 8x8 matrix) and 32-byte sectors per global request. Accesses
 * outside the wrappers are not seen. Nothing is timed. */
#ifndef KILN_CUDA_EMU_PUBLIC_H
#define KILN_CUDA_EMU_PUBLIC_H

#include <stdint.h>

#include "kiln/kiln.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_cuda_emu_counters {
    char kernel[128];          /* the kernel's entry name */
    uint64_t launches, blocks;
    uint64_t shared_requests;  /* warp instructions on shared memory (ldmatrix counts one) */
    uint64_t shared_wavefronts;/* what they took; == requests' phases when conflict-free */
    uint64_t bank_conflicts;   /* wavefronts beyond one per phase */
    uint64_t global_requests;  /* warp instructions on global memory (cp.async included) */
    uint64_t global_sectors;   /* distinct 32-byte sectors each touched, summed */
    uint64_t global_bytes;     /* bytes the lanes asked for */
    uint64_t stream_requests, stream_sectors, stream_bytes; /* the same for the streaming
                                  weight loads (ld.global.nc, kiln_arch_ld_stream16) alone */
    uint64_t ldmatrix, cp_async;
} kiln_cuda_emu_counters;

/* on = 1 clears the counters and starts counting; 0 stops (counters kept). */
void kiln_cuda_emu_profile(int on);
/* Kernels counted so far, and the counters of the i-th. */
int kiln_cuda_emu_profile_count(void);
kiln_status kiln_cuda_emu_profile_get(int i, kiln_cuda_emu_counters *out);

#ifdef __cplusplus
}
#endif
#endif
