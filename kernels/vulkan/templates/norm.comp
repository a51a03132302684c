/* kernels/vulkan/templates/norm.comp — fused residual add + RMSNorm / LayerNorm.
 *
 * One workgroup per row. Each invocation handles the elements t, t+NT, ... in
 * every pass, always the same ones, and every pass recomputes s = x + residual
 * exactly; sum_out and y are written only in the last pass, after that
 * element's inputs were read, so either may alias x or residual. LayerNorm takes the mean first and then the
 * centred sum of squares (two passes over the row) instead of E[x^2]-E[x]^2,
 * which cancels catastrophically for rows with a large mean. */
#pragma kiln include "kernels/vulkan/templates/io.glsl"

KILN_VK_RO_BUFFER(x, 0)
KILN_VK_RO_BUFFER(res, 1)
KILN_VK_RO_BUFFER(weight, 2)
KILN_VK_RO_BUFFER(bias, 3)
KILN_VK_RW_BUFFER(sum, 4)
KILN_VK_RW_BUFFER(y, 5)

layout(push_constant) uniform kiln_vk_norm_push {
    uint rows, dim;
    uint x_off, x_stride;
    uint res_off, res_stride;
    uint weight_off, bias_off; /* f32 [dim] */
    uint sum_off, sum_stride;
    uint y_off, y_stride;
    float eps;
    uint flags;                /* 1: weight, 2: bias, 4: sum_out */
} pc;

#define NT KILN_THREADS
shared float red[NT];
KILN_VK_DEFINE_REDUCE_SUM(NT)

float kiln_vk_input(uint row, uint i)
{
    float s = KILN_VK_LD_ACT(x, pc.x_off + row * pc.x_stride + i * KILN_VK_ACT_BYTES);
#if KILN_NORM_RESIDUAL
    s += KILN_VK_LD_ACT(res, pc.res_off + row * pc.res_stride + i * KILN_VK_ACT_BYTES);
#endif
    return s;
}

void main()
{
    uint row = kiln_vk_group_id();
    if (row >= pc.rows) return; /* uniform over the workgroup */
    uint t = gl_LocalInvocationID.x;
    float total = 0.0;
    for (uint i = t; i < pc.dim; i += NT) {
        float s = kiln_vk_input(row, i);
#if KILN_NORM_LAYER
        total += s;
#else
        total += s * s;
#endif
    }
    total = kiln_vk_reduce_sum(total);
    float mean = 0.0, inv;
#if KILN_NORM_LAYER
    mean = total / float(pc.dim);
    float sq = 0.0;
    for (uint i = t; i < pc.dim; i += NT) {
        float d = kiln_vk_input(row, i) - mean;
        sq += d * d;
    }
    sq = kiln_vk_reduce_sum(sq);
    inv = KILN_RSQRT(sq / float(pc.dim) + pc.eps);
#else
    inv = KILN_RSQRT(total / float(pc.dim) + pc.eps);
#endif
    for (uint i = t; i < pc.dim; i += NT) {
        float s = kiln_vk_input(row, i);
        if ((pc.flags & 4u) != 0u) KILN_VK_ST_OUT(sum, pc.sum_off + row * pc.sum_stride + i * KILN_VK_OUT_BYTES, s);
        float v = (s - mean) * inv;
        if ((pc.flags & 1u) != 0u) v *= KILN_LD_F32(weight, pc.weight_off + i * 4u);
#if KILN_NORM_LAYER
        if ((pc.flags & 2u) != 0u) v += KILN_LD_F32(bias, pc.bias_off + i * 4u);
#endif
        KILN_VK_ST_OUT(y, pc.y_off + row * pc.y_stride + i * KILN_VK_OUT_BYTES, v);
    }
}
