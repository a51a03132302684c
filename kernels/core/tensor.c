/* kernels/core/tensor.c — tensor views: contiguous strides and byte spans.
 * Innermost dimension is contiguous; for block formats its stride is the block
 * size in bytes and a row of n elements takes kiln_row_bytes(dtype, n). */
#include <string.h>

#include "kiln/error.h"

kiln_tensor kiln_tensor_make(kiln_buffer *buf, size_t offset, kiln_dtype dtype, int ndim,
                             const int64_t *ne)
{
    kiln_tensor t;
    memset(&t, 0, sizeof t);
    t.buf = buf;
    t.offset = offset;
    t.dtype = dtype;
    if (ndim < 1 || ndim > KILN_MAX_DIMS || !ne) return t; /* ndim 0: invalid, rejected later */
    t.ndim = ndim;
    const kiln_dtype_info *info = kiln_dtype_get(dtype);
    for (int d = 0; d < ndim; d++) t.ne[d] = ne[d];
    if (!info) return t;
    t.nb[ndim - 1] = info->block_bytes;
    /* A shape whose strides do not fit int64 (or has a non-positive extent)
     * gets stride -1 from there outwards: validation refuses it by name
     * instead of the multiplication wrapping into a plausible stride. */
    int64_t stride = (int64_t)kiln_row_bytes(dtype, ne[ndim - 1]);
    for (int d = ndim - 2; d >= 0; d--) {
        t.nb[d] = stride;
        if (stride < 0 || ne[d] <= 0 || __builtin_mul_overflow(stride, ne[d], &stride)) stride = -1;
    }
    return t;
}

size_t kiln_tensor_bytes(const kiln_tensor *t)
{
    if (!t || t->ndim < 1 || t->ndim > KILN_MAX_DIMS) return 0;
    for (int d = 0; d < t->ndim; d++)
        if (t->ne[d] <= 0 || t->nb[d] < 0) return 0;
    size_t span = kiln_row_bytes(t->dtype, t->ne[t->ndim - 1]);
    if (span == 0) return 0;
    for (int d = 0; d < t->ndim - 1; d++) {
        /* overflow-safe: (ne-1)*nb must fit */
        uint64_t extra = (uint64_t)(t->ne[d] - 1);
        if (extra && (uint64_t)t->nb[d] > (UINT64_MAX - span) / extra) return 0;
        span += (size_t)(extra * (uint64_t)t->nb[d]);
    }
    return span;
}
