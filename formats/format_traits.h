/* formats/format_traits.h — the per-format facts of formats/formats.def that
 * are not public API (internal): family, activation pairing, fast paths per
 * backend, scale fields. Read them here instead of listing formats anywhere. */
#ifndef KILN_FORMATS_FORMAT_TRAITS_H
#define KILN_FORMATS_FORMAT_TRAITS_H

#include "kiln/formats.h"
#include "kiln/kiln.h"

typedef enum kiln_format_family {
    KILN_FAMILY_FLOAT,  /* f32, f16, bf16 */
    KILN_FAMILY_INT,    /* i32 */
    KILN_FAMILY_LEGACY, /* ggml blocks of 32 with one scale (and min) */
    KILN_FAMILY_KQUANT, /* ggml super-blocks of 256 with sub-block scales */
    KILN_FAMILY_IQUANT, /* ggml non-linear codebooks */
    KILN_FAMILY_GROUP,  /* kiln's own group-wise formats (nf4, int4g) */
    KILN_FAMILY_COUNT
} kiln_format_family;

enum {
    KILN_FMT_F_WEIGHT = 1u << 0,         /* dequant-matmul takes it as a weight */
    KILN_FMT_F_TUNE = 1u << 1,           /* measured by `kiln tune` by default; cpu tile variants compiled in */
    KILN_FMT_F_FAST_CPU = 1u << 2,       /* AVX2/AVX-512 direct kernels (int8 with `act`, or F16C) */
    KILN_FMT_F_FAST_CPU_PANEL = 1u << 3, /* AVX2 mat-mat 8-row panels (needs FAST_CPU) */
    KILN_FMT_F_FAST_VULKAN = 1u << 4,    /* Vulkan's matmul_blocks.glsl kernels */
    KILN_FMT_F_FAST_CUDA = 1u << 5,      /* matmul.cu's own block decoders */
};

typedef enum kiln_scale_kind { KILN_SCALE_NONE, KILN_SCALE_F32, KILN_SCALE_F16, KILN_SCALE_BF16 } kiln_scale_kind;

typedef struct kiln_format {
    const char *name;
    kiln_format_family family;
    kiln_dtype act;         /* activation quantization of its integer dot product; KILN_F32: none */
    unsigned flags;         /* KILN_FMT_F_* */
    kiln_scale_kind scale;  /* type of the block's floating-point fields */
    int scale_off[2];       /* their byte offsets in the block; -1: none */
} kiln_format;

/* The row of t; NULL out of range. */
const kiln_format *kiln_format_get(kiln_dtype t);
/* Whether t has every flag of `flags` (0 for an out-of-range t). */
int kiln_format_has(kiln_dtype t, unsigned flags);
/* Whether backend b has a fast matmul path for t (cpu: on AVX2/AVX-512). */
int kiln_format_fast(kiln_dtype t, kiln_backend b);
/* "float", "legacy", "k-quant", ... */
const char *kiln_format_family_name(kiln_format_family f);

#endif
