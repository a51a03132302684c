/* gen/launch_cuda.c — launch description of cuda kernels (owned by the cuda backend). */
#include "gen/launch.h"

void kiln_gen_launch_cuda(const kiln_spec *spec, kiln_source *src)
{
    src->threads[0] = spec->tile.threads > 0 ? spec->tile.threads : 1;
    src->threads[1] = 1;
    src->threads[2] = 1;
    src->shared_bytes = 0;
}
