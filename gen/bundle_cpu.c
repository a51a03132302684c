/* gen/bundle_cpu.c — writes the CPU kernel bundle (owned by the cpu backend). */
#include "gen/bundle.h"
#include "kernels/core/backend.h"

kiln_status kiln_gen_cpu_bundle(const char *dir)
{
    (void)dir;
    return kiln_fail(KILN_ERR_UNSUPPORTED, "cpu bundle not implemented yet");
}
