/* gen/launch_cuda.c — launch description of cuda kernels (owned by the cuda backend).
 * threads: the spec's block size. shared_bytes: the most dynamic shared memory
 * the kernel can ask for (attention with a generic head size assumes 256; the
 * backend computes the exact amount per launch). The mat-vec kernel uses
 * static shared memory only. */
#include "gen/launch.h"
#include "gen/cuda_geometry.h"

void kiln_gen_launch_cuda(const kiln_spec *spec, kiln_source *src)
{
    src->threads[0] = spec->tile.threads > 0 ? spec->tile.threads : 32;
    src->threads[1] = 1;
    src->threads[2] = 1;
    switch (spec->op) {
    case KILN_OP_MATMUL:
        src->shared_bytes = spec->tile.tn <= 8 ? 0 : kiln_cuda_mm_smem(spec);
        break;
    case KILN_OP_FLASH_ATTN:
        src->shared_bytes = kiln_cuda_fa_smem(spec, kiln_cuda_attn_hd_max(spec));
        break;
    case KILN_OP_PAGED_ATTN:
        src->shared_bytes = kiln_cuda_pa_smem(spec, kiln_cuda_attn_hd_max(spec));
        break;
    default:
        src->shared_bytes = 0;
        break;
    }
}
