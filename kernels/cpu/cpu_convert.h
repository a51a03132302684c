/* kernels/cpu/cpu_convert.h — f16/bf16 <-> f32 passes around the kernels,
 * which only see f32 activations and outputs (see docs/CPU.md). */
#ifndef KILN_CPU_CONVERT_H
#define KILN_CPU_CONVERT_H
#include <stdint.h>

#include "kiln/kiln.h"

/* A tensor seen as rows of its innermost dimension: rows = product of the
 * outer dims, each outer index with its own byte stride. */
typedef struct kiln_cpu_rows {
    const kiln_tensor *t;
    int64_t rows, cols;
} kiln_cpu_rows;

kiln_cpu_rows kiln_cpu_rows_of(const kiln_tensor *t);
/* Byte address of row r of t (outer indices unravelled with their strides). */
uint8_t *kiln_cpu_row_ptr(const kiln_tensor *t, int64_t r);
/* 1 if t is f32 and its rows are equally spaced (stride a multiple of 4), so a
 * kernel can read it in place; *stride gets the row stride in floats. */
int kiln_cpu_f32_in_place(const kiln_tensor *t, int64_t *stride);
/* Copy t's rows as f32 into dst (rows x cols, contiguous). */
void kiln_cpu_to_f32(const kiln_tensor *t, float *dst);
/* Write src (rows x cols f32, contiguous) into t's rows in t's dtype. */
void kiln_cpu_from_f32(const float *src, const kiln_tensor *t);

#endif
