/* kernels/cpu/cpu_features.h — what this CPU can run, asked once via cpuid. */
#ifndef KILN_CPU_FEATURES_H
#define KILN_CPU_FEATURES_H
#include <stddef.h>

#include "kiln/spec.h"

typedef struct kiln_cpu_features {
    int avx2, fma, f16c;
    int avx512f, avx512bw, avx512vl, avx512vnni;
    int os_avx, os_avx512; /* the OS saves the ymm / zmm state (xgetbv) */
} kiln_cpu_features;

/* Detected once (thread-safe) and cached. */
const kiln_cpu_features *kiln_cpu_features_get(void);
/* Whether the CPU and OS can run kernels compiled for isa. */
int kiln_cpu_isa_supported(kiln_isa isa);
/* The best ISA this machine supports. */
kiln_isa kiln_cpu_best_isa(void);
/* "generic" / "avx2" / "avx512" -> isa; KILN_ISA_NONE when unknown. */
kiln_isa kiln_cpu_isa_from_name(const char *name);
/* Space-separated feature list ("avx2 fma f16c"). */
void kiln_cpu_features_string(char *buf, size_t cap);
/* The model name from /proc/cpuinfo ("AMD EPYC"), or "cpu". */
void kiln_cpu_model_name(char *buf, size_t cap);

#endif
