/* kernels/cpu/cpu_registry.h — the table of kernels built into libkiln.
 *
 * kiln-gen --cpu-bundle (gen/bundle_cpu.c) writes the table into
 * build/gen/cpu/kiln_cpu_registry.c: one entry per cpu instance of the
 * manifest, mapping its canonical spec text and procedural name to the
 * function compiled from kiln_cpu_<isa>.c. (Strong references: a weak one
 * would not pull the table out of libkiln.a when linking statically.) */
#ifndef KILN_CPU_REGISTRY_H
#define KILN_CPU_REGISTRY_H
#include <stddef.h>

#include "kernels/cpu/templates/cpu_abi.h"
#include "kiln/spec.h"

typedef struct kiln_cpu_registry_entry {
    const char *text;        /* canonical spec text */
    const char *name;        /* procedural name */
    kiln_cpu_kernel_fn fn;
} kiln_cpu_registry_entry;

extern const kiln_cpu_registry_entry kiln_cpu_registry[];
extern const size_t kiln_cpu_registry_count;

/* The parsed registry (parsed once, thread-safe). */
size_t kiln_cpu_kernel_count(void);
const kiln_spec *kiln_cpu_kernel_spec(size_t i);
const kiln_cpu_registry_entry *kiln_cpu_kernel_entry(size_t i);

/* The built-in kernel that serves spec: the same op, isa, weight/KV format,
 * head size and tiles, an epilogue set that includes the spec's, with any
 * act/out dtype the host converts (f32, f16, bf16). NULL with a reason in
 * kiln_last_error() when none does. */
const kiln_cpu_registry_entry *kiln_cpu_kernel_find(const kiln_spec *spec);

#endif
