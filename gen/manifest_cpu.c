/* gen/manifest_cpu.c — the cpu instances of the manifest (owned by the cpu backend). */
#include "gen/manifest.h"

size_t kiln_manifest_cpu(kiln_spec *out, size_t cap)
{
    (void)out;
    (void)cap;
    return 0;
}
