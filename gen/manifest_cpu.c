/* gen/manifest_cpu.c — the cpu instances of the manifest (owned by the cpu backend).
 *
 * Every cpu instance is compiled into libkiln at build time (kiln-gen
 * --cpu-bundle, kernels/cpu/cpu.cmake), so this list is exactly what the cpu
 * backend can run. Per ISA (generic, avx2, avx512):
 *   matmul     every weight format, act=f32 out=f32, every epilogue (epi=bias+residual+swiglu+gelu+scale)
 *   flash_attn K/V f32, f16, bf16 (act=out=f32), generic head size
 *   paged_attn K/V f32, f16, q8_0 (act=out=f32), generic head size
 *   norm       rms and layer, each with the residual flag (act=out=f32)
 *   rope       KV cache f32, f16, q8_0, each with the kv flag (act=out=f32)
 * plus, for the formats `kiln tune` measures by default, the tile variants
 * the autotuner chooses from (gen/space.c, kiln_space_cpu_axes: matmul
 * q4_0 q8_0 q4_k f16 x {tn, split}, flash f16 x {tm, tn}, paged f16 x tn):
 * 129 instances.
 * Two conventions keep the build short and are documented in docs/CPU.md:
 * - act/out name the kernel's own interface: kernels see f32; the host
 *   converts f16/bf16 tensors before and after (kernels/cpu/cpu_run.c), so one
 *   instance serves every activation dtype.
 * - the epilogue flags in a cpu spec say which epilogues the kernel *can*
 *   apply; which ones it does is chosen per call (kiln_matmul_params.epilogue,
 *   norm's residual pointer, rope's caches). A spec asking for a subset is
 *   served by it: rope without a cache runs the f32 kv instance. */
#include <string.h>

#include "formats/format_traits.h"
#include "gen/epilogue.h"
#include "gen/manifest.h"
#include "gen/space.h"
#include "gen/spec_fields.h"
#include "kiln/error.h"

static const kiln_isa isas[] = {KILN_ISA_GENERIC, KILN_ISA_AVX2, KILN_ISA_AVX512};
static const kiln_dtype flash_kv[] = {KILN_F32, KILN_F16, KILN_BF16};
static const kiln_dtype paged_kv[] = {KILN_F32, KILN_F16, KILN_Q8_0};
static const kiln_dtype rope_kv[] = {KILN_F32, KILN_F16, KILN_Q8_0};
static const unsigned norm_kinds[] = {KILN_SPEC_NORM_RESIDUAL, KILN_SPEC_NORM_LAYER | KILN_SPEC_NORM_RESIDUAL};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

kiln_isa kiln_manifest_cpu_best_isa(void) { return isas[COUNT(isas) - 1]; } /* isas[] is in ascending order */

/* Appends s when there is room; counts it either way. */
static void put(kiln_spec *out, size_t cap, size_t *n, kiln_spec s)
{
    if (*n < cap) out[*n] = s;
    (*n)++;
}

/* The default spec of op/isa/fmt with the kernel's f32 interface (its tiles:
 * the cpu's defaults, kiln_space_cpu_default_tiles in gen/space.c). */
static kiln_spec cpu_spec(kiln_op op, kiln_isa isa, kiln_dtype fmt)
{
    kiln_spec s = kiln_spec_default(op, KILN_BACKEND_CPU, isa, fmt);
    s.act = KILN_F32;
    s.out = KILN_F32;
    if (op == KILN_OP_NORM) s.fmt = KILN_F32;
    return s;
}

/* The default instance s first (the cpu heuristic serves calls with the first
 * instance that fits), then every other point of its tile axes
 * (kiln_space_cpu_axes): the variants the autotuner can choose from. */
static void put_with_variants(kiln_spec *out, size_t cap, size_t *n, kiln_spec s)
{
    kiln_space_axis axes[KILN_SPACE_MAX_AXES];
    int n_axes = kiln_space_cpu_axes(&s, axes);
    size_t points = 1;
    for (int a = 0; a < n_axes; a++) points *= (size_t)axes[a].count;
    for (size_t i = 0; i < points; i++) {
        kiln_spec v = s;
        size_t rest = i;
        for (int a = n_axes - 1; a >= 0; a--) {
            kiln_field_set(&v, kiln_field_find(axes[a].field, strlen(axes[a].field)),
                           axes[a].values[rest % (size_t)axes[a].count]);
            rest /= (size_t)axes[a].count;
        }
        if (i == 0 || kiln_spec_validate(&v) == KILN_OK) put(out, cap, n, v);
    }
    kiln_clear_error();
}

size_t kiln_manifest_cpu(kiln_spec *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < COUNT(isas); i++) {
        for (int f = 0; f < KILN_DTYPE_COUNT; f++) {
            if (!kiln_format_has((kiln_dtype)f, KILN_FMT_F_WEIGHT)) continue; /* formats/formats.def */
            kiln_spec s = cpu_spec(KILN_OP_MATMUL, isas[i], (kiln_dtype)f);
            s.epilogue = kiln_epilogue_all(); /* gen/epilogues.def: applied per call */
            put_with_variants(out, cap, &n, s);
        }
        for (size_t f = 0; f < COUNT(flash_kv); f++)
            put_with_variants(out, cap, &n, cpu_spec(KILN_OP_FLASH_ATTN, isas[i], flash_kv[f]));
        for (size_t f = 0; f < COUNT(paged_kv); f++)
            put_with_variants(out, cap, &n, cpu_spec(KILN_OP_PAGED_ATTN, isas[i], paged_kv[f]));
        for (size_t k = 0; k < COUNT(norm_kinds); k++) {
            kiln_spec s = cpu_spec(KILN_OP_NORM, isas[i], KILN_F32);
            s.epilogue = norm_kinds[k];
            put(out, cap, &n, s);
        }
        for (size_t f = 0; f < COUNT(rope_kv); f++) put(out, cap, &n, cpu_spec(KILN_OP_ROPE, isas[i], rope_kv[f]));
    }
    return n;
}
