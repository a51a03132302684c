/* gen/launch_vulkan.c — launch description of vulkan kernels (owned by the vulkan backend).
 * threads: the workgroup size (the templates' local_size_x_id = 0 specialization
 * constant). shared_bytes: the static shared memory the template declares for
 * this spec — the same formulas as the `shared` arrays in
 * kernels/vulkan/templates/<op>.comp, so the backend can refuse a spec that does
 * not fit the device (32 KB on lavapipe, 48 KB on the H100) before compiling it. */
#include "gen/launch.h"
#include "gen/vk_specs.h"

/* The largest head size the generic (hd=0) attention kernels size their arrays for. */
#define KILN_VK_HEAD_MAX 256

static unsigned head_dim_of(const kiln_spec *s) { return s->head_dim > 0 ? (unsigned)s->head_dim : KILN_VK_HEAD_MAX; }

void kiln_gen_launch_vulkan(const kiln_spec *spec, kiln_source *src)
{
    const kiln_tile *t = &spec->tile;
    unsigned nt = t->threads > 0 ? (unsigned)t->threads : 1u;
    unsigned tm = (unsigned)t->tm, tn = (unsigned)t->tn, tk = (unsigned)t->tk, hd = head_dim_of(spec);
    src->threads[0] = (int)nt;
    src->threads[1] = 1;
    src->threads[2] = 1;
    unsigned floats = 0;
    switch (spec->op) {
    case KILN_OP_MATMUL:
        if (kiln_vk_matmul_uses_coopmat(spec)) { /* f16 W and x units (rows + 8 halves), 256 f32 per subgroup */
            src->shared_bytes = (tm + tn) * ((spec->fmt == KILN_Q4_K ? 64u : 32u) + 8u) * 2u + nt * 8u * 4u;
            return;
        }
        if (kiln_vk_fast_format(spec->fmt) && tn <= 8)
            floats = tm * tn * nt; /* partial sums (matmul_vec.comp) */
        else if (kiln_vk_fast_format(spec->fmt) && kiln_vk_tiled(tm, tn, nt))
            floats = (tm + tn) * ((spec->fmt == KILN_Q4_K ? 64u : 32u) + 1u); /* W and x units, padded */
        else
            floats = tn <= 8 ? tn * tk + tm * tn * nt /* x chunk + partial sums */
                             : (tm + tn) * 33u;       /* W and x K-chunks of 32, padded */
        break;
    case KILN_OP_FLASH_ATTN:
        floats = 2u * tm * hd + tm * tn + 3u * tm; /* Q tile, O tile, scores, m/l/alpha */
        break;
    case KILN_OP_PAGED_ATTN:
        floats = 2u * hd + 3u * tn + 4u;            /* q, o, scores, blocks/slots, softmax state */
        break;
    case KILN_OP_NORM:
        floats = nt;                                /* reduction */
        break;
    case KILN_OP_ROPE:
        floats = 0;                                 /* no shared memory */
        break;
    default:
        break;
    }
    src->shared_bytes = floats * 4u;
}
