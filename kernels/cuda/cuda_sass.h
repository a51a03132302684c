/* kernels/cuda/cuda_sass.h — the SASS of a cubin and the key instructions in it.
 *
 * The CUDA toolkit here has ptxas but no disassembler; nvdisasm comes from
 * PyPI's nvidia-cuda-nvdisasm wheel, which `make deps` installs into the
 * build's venv (.ci/requirements.txt). Without it the SASS checks skip with
 * the reason kiln_cuda_find_nvdisasm gives.
 *
 * The key classes are the instructions the fast kernels are meant to use:
 * tensor-core MMA (HMMA f16/bf16, IMMA int8), int8 dot products (IDP, dp4a),
 * shared->register matrix loads (LDSM, ldmatrix), asynchronous global->shared
 * copies (LDGSTS, cp.async), global loads (LDG), and the generic load LD a
 * global read should not fall back to (it cannot use the global cache path). */
#ifndef KILN_CUDA_SASS_H
#define KILN_CUDA_SASS_H

#include <stddef.h>

#include "kiln/kiln.h"

enum {
    KILN_SASS_HMMA,
    KILN_SASS_IMMA,
    KILN_SASS_IDP,
    KILN_SASS_LDSM,
    KILN_SASS_LDGSTS,
    KILN_SASS_LDG,
    KILN_SASS_LD,
    KILN_SASS_CLASS_COUNT
};

/* "HMMA", ...: the opcode (before its first '.') each class matches. */
const char *kiln_sass_class_name(int k);
/* The class of an opcode name ("LDG" -> KILN_SASS_LDG), -1 for none. */
int kiln_sass_class_of(const char *opcode, size_t len);

/* Where nvdisasm is: $KILN_NVDISASM when set (it must then be executable),
 * else venv_dir/lib/python3.X/site-packages/nvidia/cuNN/bin/nvdisasm (venv_dir
 * may be NULL), else nvdisasm on $PATH, else /usr/local/cuda/bin/nvdisasm.
 * KILN_OK with the path in buf, else KILN_ERR_UNAVAILABLE with what was tried
 * in kiln_last_error(). */
kiln_status kiln_cuda_find_nvdisasm(const char *venv_dir, char *buf, size_t cap);

/* The SASS of a cubin (nvdisasm -c: code sections only); *sass malloc'd.
 * KILN_ERR_IO when nvdisasm cannot run or fails (its message included). */
kiln_status kiln_cuda_disassemble(const char *nvdisasm, const void *cubin, size_t size, char **sass);

/* The key classes in function fn of sass (bit k = KILN_SASS_* class k).
 * KILN_ERR_FORMAT when sass has no code section for fn. */
kiln_status kiln_sass_classes(const char *sass, const char *fn, unsigned *classes);

#endif
