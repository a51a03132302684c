/* gen/bundle.h — build-time bundles of generated kernels compiled into libkiln.
 * kiln-gen --cpu-bundle DIR writes DIR/kiln_cpu_<isa>.c for every ISA and
 * DIR/kiln_cpu_registry.c (owned by the cpu backend: gen/bundle_cpu.c). */
#ifndef KILN_GEN_BUNDLE_H
#define KILN_GEN_BUNDLE_H
#include "kiln/kiln.h"

kiln_status kiln_gen_cpu_bundle(const char *dir);

#endif
