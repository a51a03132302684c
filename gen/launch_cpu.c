/* gen/launch_cpu.c — launch description of cpu kernels (owned by the cpu backend). */
#include "gen/launch.h"

void kiln_gen_launch_cpu(const kiln_spec *spec, kiln_source *src)
{
    src->threads[0] = spec->tile.threads > 0 ? spec->tile.threads : 1;
    src->threads[1] = 1;
    src->threads[2] = 1;
    src->shared_bytes = 0;
}
