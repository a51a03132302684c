/* gen/manifest.h — the manifest of default instances, as in CUTLASS.
 * Each backend declares its own list next to the generator (gen/manifest_<b>.c)
 * as a function that writes up to cap specs into out and returns how many it
 * has in all (call with cap = 0 to count). gen/manifest.c joins them for
 * kiln_manifest_count()/kiln_manifest_get(). */
#ifndef KILN_GEN_MANIFEST_H
#define KILN_GEN_MANIFEST_H
#include <stddef.h>

#include "kiln/spec.h"

size_t kiln_manifest_cpu(kiln_spec *out, size_t cap);
size_t kiln_manifest_cuda(kiln_spec *out, size_t cap);
size_t kiln_manifest_vulkan(kiln_spec *out, size_t cap);
/* The best of the ISAs the cpu manifest (and so this build) has kernels for:
 * what a spec text's plain backend=cpu means. */
kiln_isa kiln_manifest_cpu_best_isa(void);

#endif
