/* gen/manifest_cuda.c — the cuda instances of the manifest (owned by the cuda backend).
 *
 * CUDA kernels are compiled at run time for any spec, so this list is not what
 * limits the backend: it is what `kiln-gen --emit-dir` vendors, what the NVRTC
 * compile test (tests/test_cuda_compile.c) proves for sm_80 and sm_90, and the
 * tiles the backend's heuristic (kernels/cuda/cuda_heuristic.c) starts from.
 * One mat-vec and one mat-mat instance per weight format, the epilogue
 * variants on q4_0, attention per K/V dtype at head sizes 64 and 128 plus the
 * generic one, every norm variant, and rope alone and with each KV cache dtype. */
#include "formats/format_traits.h"
#include "gen/manifest.h"
#include "gen/cuda_heuristic.h"

static const kiln_dtype float_types[] = {KILN_F32, KILN_F16, KILN_BF16};
static const int head_dims[] = {64, 128, 0};

/* Appends s when there is room; counts it either way. */
static void put(kiln_spec *out, size_t cap, size_t *n, kiln_spec s)
{
    if (*n < cap) out[*n] = s;
    (*n)++;
}

size_t kiln_manifest_cuda(kiln_spec *out, size_t cap)
{
    size_t n = 0;
    for (int f = 0; f < KILN_DTYPE_COUNT; f++) {
        if (!kiln_format_has((kiln_dtype)f, KILN_FMT_F_WEIGHT)) continue; /* formats/formats.def */
        put(out, cap, &n, kiln_cuda_matmul_spec((kiln_dtype)f, KILN_F32, KILN_F32, 0, 1));
        put(out, cap, &n, kiln_cuda_matmul_spec((kiln_dtype)f, KILN_F32, KILN_F32, 0, 512));
    }
    /* Decode-time fused epilogues and 16-bit activations on the format that sets decode speed. */
    put(out, cap, &n, kiln_cuda_matmul_spec(KILN_Q4_0, KILN_F32, KILN_F32, KILN_EPI_BIAS | KILN_EPI_RESIDUAL, 1));
    put(out, cap, &n, kiln_cuda_matmul_spec(KILN_Q4_0, KILN_F32, KILN_F32, KILN_EPI_SWIGLU, 1));
    put(out, cap, &n, kiln_cuda_matmul_spec(KILN_Q4_0, KILN_F16, KILN_F16, KILN_EPI_RESIDUAL, 512));
    put(out, cap, &n, kiln_cuda_matmul_spec(KILN_Q4_0, KILN_BF16, KILN_BF16, KILN_EPI_SWIGLU, 512));
    for (size_t t = 0; t < 3; t++)
        for (size_t h = 0; h < 3; h++) put(out, cap, &n, kiln_cuda_flash_spec(float_types[t], head_dims[h]));
    /* The FA2 kernel's other head sizes: 80 (ten 16-byte chunks a row) and 256 (the most registers). */
    put(out, cap, &n, kiln_cuda_flash_spec(KILN_F16, 80));
    put(out, cap, &n, kiln_cuda_flash_spec(KILN_BF16, 256));
    static const kiln_dtype kv_types[] = {KILN_F32, KILN_F16, KILN_Q8_0};
    for (size_t t = 0; t < 3; t++)
        for (size_t h = 1; h < 3; h++)
            put(out, cap, &n, kiln_cuda_paged_spec(kv_types[t], t == 2 ? KILN_F16 : kv_types[t], head_dims[h]));
    for (size_t t = 0; t < 3; t++)
        for (unsigned flags = 0; flags < 4; flags++) put(out, cap, &n, kiln_cuda_norm_spec(float_types[t], flags, 4096));
    put(out, cap, &n, kiln_cuda_rope_spec(KILN_DTYPE_COUNT));
    for (size_t t = 0; t < 3; t++) put(out, cap, &n, kiln_cuda_rope_spec(kv_types[t]));
    return n;
}
