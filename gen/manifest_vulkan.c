/* gen/manifest_vulkan.c — the vulkan instances of the manifest (owned by the vulkan backend). */
#include "gen/manifest.h"

size_t kiln_manifest_vulkan(kiln_spec *out, size_t cap)
{
    (void)out;
    (void)cap;
    return 0;
}
