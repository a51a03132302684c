/* kernels/cuda/cuda_static.h — what a compiled CUDA kernel uses, read without a GPU.
 *
 *   emitted source -> NVRTC with ptxas -v (kiln_cuda_compile_verbose)
 *       -> ptxas's report -> per function: registers, stack, spills, static
 *          shared memory (kiln_cuda_usage_parse)
 *   the limits of the architectures a kernel must fit (kiln_cuda_arch_limits_of)
 *   one line of text per (arch, function): the regression table
 *       tests/data/cuda_static.txt that tests/test_cuda_static.c compares
 *       against, written by `kiln-gen --list --backend cuda --sass`
 * The SASS half (which instructions each function has) is cuda_sass.h. */
#ifndef KILN_CUDA_STATIC_H
#define KILN_CUDA_STATIC_H

#include <stddef.h>

#include "kiln/kiln.h"

/* The architectures the static checks compile for: the oldest the backend
 * runs on (mma.sync, bf16) and the H100. */
#define KILN_CUDA_STATIC_ARCH_COUNT 2
extern const char *const kiln_cuda_static_archs[KILN_CUDA_STATIC_ARCH_COUNT];

typedef struct kiln_cuda_arch_limits {
    const char *arch;
    unsigned smem_static_max; /* static shared memory per block (no opt-in exists for it) */
    unsigned smem_block_max;  /* static + dynamic per block, with the opt-in */
    unsigned regs_per_block;  /* registers x threads of one block */
    int regs_per_thread;
} kiln_cuda_arch_limits;

/* The limits of "sm_80" / "sm_90" (CUDA C Programming Guide, compute
 * capabilities table); NULL for an architecture the table lacks. */
const kiln_cuda_arch_limits *kiln_cuda_arch_limits_of(const char *arch);

#define KILN_CUDA_FN_NAME_MAX 256

/* One function of a compiled program, as ptxas reported it. */
typedef struct kiln_cuda_fn_usage {
    char name[KILN_CUDA_FN_NAME_MAX];
    int is_entry;               /* a kernel (__global__), else a called function */
    int registers;              /* entries only; -1 when not reported */
    unsigned stack_bytes;       /* stack frame */
    unsigned spill_store_bytes; /* registers spilled to local memory */
    unsigned spill_load_bytes;
    unsigned smem_bytes;        /* static shared memory (entries) */
} kiln_cuda_fn_usage;

typedef struct kiln_cuda_usage {
    kiln_cuda_fn_usage *fn;
    size_t count;
} kiln_cuda_usage;

/* Reads the report of kiln_cuda_compile_verbose. KILN_ERR_COMPILE naming the
 * line when the report is not what ptxas writes, or names no entry. */
kiln_status kiln_cuda_usage_parse(const char *ptxas_log, kiln_cuda_usage *out);
void kiln_cuda_usage_free(kiln_cuda_usage *u);
const kiln_cuda_fn_usage *kiln_cuda_usage_find(const kiln_cuda_usage *u, const char *name);

/* ---- one compile, read both ways */
typedef struct kiln_cuda_static_report {
    kiln_cuda_usage usage;
    char *sass;             /* nvdisasm's output; NULL when compiled without a disassembler */
    unsigned *sass_classes; /* with sass: per usage.fn[i], bit k = KILN_SASS_* class k present */
} kiln_cuda_static_report;

/* Compiles source for arch as the backend does (kiln_cuda_compile_verbose),
 * reads ptxas's report and, when nvdisasm is not NULL, the SASS of every
 * function in it. KILN_ERR_UNAVAILABLE without NVRTC; KILN_ERR_COMPILE,
 * KILN_ERR_IO, KILN_ERR_FORMAT with the step that failed. */
kiln_status kiln_cuda_static_report_of(const char *source, const char *entry, const char *arch,
                                       const char *nvdisasm, kiln_cuda_static_report *r);
void kiln_cuda_static_report_free(kiln_cuda_static_report *r);

/* ---- the regression table, one line per (arch, function):
 *   ARCH FUNCTION regs=R stack=B spill=B smem=B sass=+HMMA,-IMMA,...
 * sass= lists every key instruction class of cuda_sass.h, + present, - absent
 * ("sass=?" when the line was written without a disassembler). '#' starts a
 * comment line. */
#define KILN_CUDA_STATIC_LINE_MAX 512

typedef struct kiln_cuda_static_row {
    char arch[16];
    kiln_cuda_fn_usage fn; /* spills: spill_store_bytes holds stores + loads */
    int has_sass;          /* 0: sass=? */
    unsigned sass;         /* bit k: class k present (KILN_SASS_*) */
} kiln_cuda_static_row;

/* The line of fn (no newline); -1 when it does not fit in cap. */
int kiln_cuda_static_line(const char *arch, const kiln_cuda_fn_usage *fn, int has_sass, unsigned sass, char *buf,
                          size_t cap);
/* Parses one line written by kiln_cuda_static_line; KILN_ERR_INVALID_ARG
 * naming what is wrong. */
kiln_status kiln_cuda_static_line_parse(const char *line, kiln_cuda_static_row *row);

#endif
