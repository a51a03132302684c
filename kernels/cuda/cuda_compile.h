/* kernels/cuda/cuda_compile.h — NVRTC compile of emitted sources, with a disk cache.
 *
 * source -> nvrtcCompileProgram(--gpu-architecture=ARCH) -> cubin, cached as
 *   <cache_dir>/cuda/<entry>-<arch>-<key>.cubin
 * where key is a 128-bit hash of (source, arch, NVRTC version, options, cache
 * format). The emulator's arch "host" goes to the host C++ compiler instead
 * (kernels/cuda/emu/emu_compile.c) and is cached as <entry>-host-<key>.so. Entries are written atomically (temporary file + rename) and carry a
 * header (magic, key, size, payload hash); an entry that fails any check is
 * deleted and rebuilt. Works without a GPU: only NVRTC is needed. */
#ifndef KILN_CUDA_COMPILE_H
#define KILN_CUDA_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln.h"

/* The NVRTC target for a device: "sm_90", or "sm_90a" when the kernel needs
 * the architecture-specific features (wgmma, setmaxnreg). */
void kiln_cuda_arch_name(int cc_major, int cc_minor, int arch_specific, char *buf, size_t cap);

/* Compile source (entry names the program in logs). On success *cubin (malloc'd,
 * caller frees) and *cubin_size; if ptx is not NULL, *ptx receives the PTX text
 * (malloc'd). KILN_ERR_COMPILE with the NVRTC log in kiln_last_error() when the
 * source does not compile; KILN_ERR_UNAVAILABLE without NVRTC. */
kiln_status kiln_cuda_compile(const char *source, const char *entry, const char *arch,
                              void **cubin, size_t *cubin_size, char **ptx);

/* kiln_cuda_compile with ptxas asked to report (--ptxas-options=-v, which
 * leaves the code unchanged): *ptxas_log (malloc'd, caller frees) receives
 * NVRTC's log of the successful compile, the registers, spills, stack and
 * shared memory of every function (read by kernels/cuda/cuda_static.h). */
kiln_status kiln_cuda_compile_verbose(const char *source, const char *entry, const char *arch,
                                      void **cubin, size_t *cubin_size, char **ptxas_log);

typedef struct kiln_cuda_cache_key {
    uint64_t lo, hi;
} kiln_cuda_cache_key;

/* The cache key of (source, arch) under the loaded NVRTC and kiln's options. */
kiln_status kiln_cuda_cache_key_of(const char *source, const char *arch, kiln_cuda_cache_key *key);
/* The path of an entry: <cache_dir>/cuda/<entry>-<arch>-<32 hex digits>.cubin */
int kiln_cuda_cache_path(const char *cache_dir, const char *entry, const char *arch,
                         kiln_cuda_cache_key key, char *buf, size_t cap);

/* The cubin for (source, arch): from the disk cache when a valid entry exists
 * (*from_cache = 1), else compiled and stored (*from_cache = 0). cache_dir may
 * be NULL or "" to bypass the disk. A cache that cannot be written is not an
 * error (the compile result is returned all the same). */
kiln_status kiln_cuda_cubin(const char *cache_dir, const char *source, const char *entry,
                            const char *arch, void **cubin, size_t *cubin_size, int *from_cache);
/* Delete the entry for (source, arch), e.g. after cuModuleLoadData rejected it. */
void kiln_cuda_cache_discard(const char *cache_dir, const char *source, const char *entry,
                             const char *arch);

#endif
