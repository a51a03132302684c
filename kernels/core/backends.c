/* kernels/core/backends.c — the table of backends.
 * Each backend defines its vtable in its own directory, always: a backend whose
 * driver or headers are missing still links and reports itself unavailable.
 * (Strong references on purpose: with weak ones a static link would silently
 * leave a backend out.) */
#include "kernels/core/backend.h"

/* The cpu backend is always built (kernels/cpu/cpu.cmake), and a weak reference
 * would not pull its object out of libkiln.a when linking statically. */
extern const kiln_backend_vtable kiln_cpu_backend;
extern const kiln_backend_vtable kiln_cuda_backend;
extern const kiln_backend_vtable kiln_vulkan_backend;

const kiln_backend_vtable *const kiln_backends[KILN_BACKEND_COUNT] = {
    [KILN_BACKEND_CPU] = &kiln_cpu_backend,
    [KILN_BACKEND_CUDA] = &kiln_cuda_backend,
    [KILN_BACKEND_VULKAN] = &kiln_vulkan_backend,
};
