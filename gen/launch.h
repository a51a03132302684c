/* gen/launch.h — per-backend launch descriptions of emitted kernels.
 * Each backend owns gen/launch_<backend>.c: given a spec, fill src->threads and
 * src->shared_bytes (and nothing else). gen/emit.c calls the one for spec->backend. */
#ifndef KILN_GEN_LAUNCH_H
#define KILN_GEN_LAUNCH_H
#include "kiln/kernel.h"

void kiln_gen_launch_cpu(const kiln_spec *spec, kiln_source *src);
void kiln_gen_launch_cuda(const kiln_spec *spec, kiln_source *src);
void kiln_gen_launch_vulkan(const kiln_spec *spec, kiln_source *src);

#endif
