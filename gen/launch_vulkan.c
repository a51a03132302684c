/* gen/launch_vulkan.c — launch description of vulkan kernels (owned by the vulkan backend). */
#include "gen/launch.h"

void kiln_gen_launch_vulkan(const kiln_spec *spec, kiln_source *src)
{
    src->threads[0] = spec->tile.threads > 0 ? spec->tile.threads : 1;
    src->threads[1] = 1;
    src->threads[2] = 1;
    src->shared_bytes = 0;
}
