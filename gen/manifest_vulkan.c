/* gen/manifest_vulkan.c — the vulkan instances of the manifest (owned by the vulkan backend).
 *
 * Vulkan kernels are compiled at run time for any spec (the backend's heuristic
 * builds the exact spec of each call, gen/vk_specs.h), so this list
 * is what `kiln-gen --emit-dir` vendors and what tests/test_vulkan_compile.c
 * compiles to SPIR-V: a mat-vec and a mat-mat instance per weight format, the
 * fast formats' mat-vec with subgroup and with shared-memory reductions and
 * their mat-mat on NV cooperative matrices, the
 * fused epilogues and 16-bit activations on q4_0, attention per K/V dtype at
 * head sizes 64 and 128 plus the generic kernel, every norm variant, and rope
 * alone and with each KV cache dtype. */
#include "formats/format_traits.h"
#include "gen/manifest.h"
#include "gen/vk_specs.h"

static const kiln_dtype float_types[] = {KILN_F32, KILN_F16, KILN_BF16};
static const int head_dims[] = {64, 128, 0};

static void put(kiln_spec *out, size_t cap, size_t *n, kiln_spec s)
{
    if (*n < cap) out[*n] = s;
    (*n)++;
}

size_t kiln_manifest_vulkan(kiln_spec *out, size_t cap)
{
    size_t n = 0;
    for (int f = 0; f < KILN_DTYPE_COUNT; f++) {
        if (!kiln_format_has((kiln_dtype)f, KILN_FMT_F_WEIGHT)) continue; /* formats/formats.def */
        put(out, cap, &n, kiln_vk_matmul_spec((kiln_dtype)f, KILN_F32, KILN_F32, 0, 1));
        put(out, cap, &n, kiln_vk_matmul_spec((kiln_dtype)f, KILN_F32, KILN_F32, 0, 512));
    }
    /* the fast formats' mat-vec with the subgroup reduction (what the heuristic
     * picks on devices with arithmetic subgroup ops) next to the shared-memory
     * one above, several tokens per workgroup, and the 48 KB mat-mat tile */
    kiln_dtype fast_formats[KILN_DTYPE_COUNT];
    size_t n_fast = 0;
    for (int f = 0; f < KILN_DTYPE_COUNT; f++)
        if (kiln_vk_fast_format((kiln_dtype)f)) fast_formats[n_fast++] = (kiln_dtype)f;
    for (size_t i = 0; i < n_fast; i++) {
        kiln_spec s = kiln_vk_matmul_spec(fast_formats[i], KILN_F32, KILN_F32, 0, 1);
        s.tile.stages = 2;
        put(out, cap, &n, s);
        s = kiln_vk_matmul_spec(fast_formats[i], KILN_F32, KILN_F32, 0, 8);
        s.tile.stages = i % 2 ? 2 : 1;
        put(out, cap, &n, s);
    }
    {
        kiln_spec s = kiln_vk_matmul_spec(KILN_Q4_0, KILN_F32, KILN_F32, 0, 512);
        s.tile.tn = 64;
        put(out, cap, &n, s);
    }
    /* NV cooperative matrices (opt-in; on lavapipe only compiled, by
     * tests/test_vulkan_compile.c) */
    for (size_t i = 0; i < n_fast; i++) {
        kiln_spec s = kiln_vk_matmul_spec(fast_formats[i], KILN_F32, KILN_F32, 0, 512);
        s.tile.tm = 64, s.tile.tn = 64, s.tile.threads = 128, s.tile.stages = 2;
        put(out, cap, &n, s);
    }
    put(out, cap, &n, kiln_vk_matmul_spec(KILN_Q4_0, KILN_F32, KILN_F32, KILN_EPI_BIAS | KILN_EPI_RESIDUAL, 1));
    put(out, cap, &n, kiln_vk_matmul_spec(KILN_Q4_0, KILN_F32, KILN_F32, KILN_EPI_SWIGLU, 1));
    put(out, cap, &n, kiln_vk_matmul_spec(KILN_Q4_0, KILN_F16, KILN_F16, KILN_EPI_RESIDUAL, 512));
    put(out, cap, &n, kiln_vk_matmul_spec(KILN_Q4_0, KILN_BF16, KILN_BF16, KILN_EPI_SWIGLU, 512));
    for (size_t t = 0; t < 3; t++)
        for (size_t h = 0; h < 3; h++) put(out, cap, &n, kiln_vk_flash_spec(float_types[t], float_types[t], head_dims[h], 32768));
    static const kiln_dtype kv_types[] = {KILN_F32, KILN_F16, KILN_Q8_0};
    for (size_t t = 0; t < 3; t++)
        for (size_t h = 1; h < 3; h++)
            put(out, cap, &n, kiln_vk_paged_spec(kv_types[t], t == 2 ? KILN_F16 : kv_types[t], head_dims[h]));
    for (size_t t = 0; t < 3; t++)
        for (unsigned flags = 0; flags < 4; flags++) put(out, cap, &n, kiln_vk_norm_spec(float_types[t], flags, 4096));
    put(out, cap, &n, kiln_vk_rope_spec(KILN_DTYPE_COUNT));
    for (size_t t = 0; t < 3; t++) put(out, cap, &n, kiln_vk_rope_spec(kv_types[t]));
    return n;
}
