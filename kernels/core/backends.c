/* kernels/core/backends.c — the table of compiled-in backends.
 * Each backend defines its vtable in its own directory; the references are weak
 * so that a build without a backend's sources still links (its entry is NULL). */
#include "kernels/core/backend.h"

extern const kiln_backend_vtable kiln_cpu_backend __attribute__((weak));
extern const kiln_backend_vtable kiln_cuda_backend __attribute__((weak));
extern const kiln_backend_vtable kiln_vulkan_backend __attribute__((weak));

const kiln_backend_vtable *const kiln_backends[KILN_BACKEND_COUNT] = {
    [KILN_BACKEND_CPU] = &kiln_cpu_backend,
    [KILN_BACKEND_CUDA] = &kiln_cuda_backend,
    [KILN_BACKEND_VULKAN] = &kiln_vulkan_backend,
};
