/* kernels/vulkan/templates/matmul_vec.comp — the fast mat-vec (tn <= 8) for
 * the formats of matmul_blocks.glsl; inlined by matmul.comp.
 *
 * A workgroup owns tm rows of W and tn tokens. Its invocations take units of
 * K round-robin (consecutive invocations, consecutive units: one subgroup's
 * loads cover a contiguous stretch of each row), decode each unit of each row
 * in registers from a few wide loads and dot it with x read as vec4 (x is
 * small and stays in cache; every decoded weight is used for all tn tokens).
 * K beyond the last whole unit (f16 rows of any length) goes element by
 * element through kiln_dequant().
 *
 * The tm*tn partial sums are then reduced over the workgroup:
 *   stages >= 2: subgroupAdd within each subgroup, then one value per subgroup
 *                through shared memory (devices with arithmetic subgroup ops:
 *                kiln_vk_can_implement refuses the spec elsewhere);
 *   stages == 1: a tree in shared memory (any device).
 * Rows past m and tokens past n are clamped for loading and not stored, so
 * the loops carry no bounds tests. */
#if KILN_STAGES >= 2
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

#define NO (TM * TN)            /* outputs per workgroup */
shared float red[NO * NT];       /* gen/launch_vulkan.c: the same size */

void main()
{
    kiln_vk_blocks_init();
    uint gid = kiln_vk_group_id();
    uint r0 = (gid % pc.groups_m) * TM, c0 = (gid / pc.groups_m) * TN;
    if (c0 >= pc.n) return; /* uniform over the workgroup */
    uint t = gl_LocalInvocationID.x;
    uint row_off[TM], col[TN];
    [[unroll]] for (uint r = 0u; r < TM; r++) row_off[r] = pc.w_off + min(r0 + r, pc.m - 1u) * pc.w_stride;
    [[unroll]] for (uint c = 0u; c < TN; c++) col[c] = min(c0 + c, pc.n - 1u);
    float acc[NO];
    [[unroll]] for (uint o = 0u; o < NO; o++) acc[o] = 0.0;

    uint units = pc.k / KILN_VK_UNIT;
    [[dont_unroll]] for (uint u = t; u < units; u += NT) {
        kiln_vk_unit un[TM];
        [[unroll]] for (uint r = 0u; r < TM; r++) un[r] = kiln_vk_unit_begin(row_off[r], u);
        [[dont_unroll]] for (uint s = 0u; s < KILN_VK_STEPS; s++) {
            uint kb = u * KILN_VK_UNIT;
            /* the step of every row first, then each token's 16 activations
             * once (loads of x: tn*4 per step, not tm*tn*4) */
            vec4 wv[TM][4];
            [[unroll]] for (uint r = 0u; r < TM; r++) kiln_vk_unit_step(un[r], s, wv[r]);
            [[unroll]] for (uint c = 0u; c < TN; c++) {
                vec4 xv[4];
                [[unroll]] for (uint i = 0u; i < 4u; i++) xv[i] = kiln_vk_x4(col[c], kb + kiln_vk_step_off(s, i));
                [[unroll]] for (uint r = 0u; r < TM; r++)
                    acc[r * TN + c] += dot(wv[r][0], xv[0]) + dot(wv[r][1], xv[1]) + dot(wv[r][2], xv[2]) + dot(wv[r][3], xv[3]);
            }
        }
    }
#if defined(KILN_FMT_F16)
    /* the tail past the last whole unit (f16 only: quantized rows are whole
     * blocks, hence whole units) */
    [[dont_unroll]] for (uint kg = units * KILN_VK_UNIT + t; kg < pc.k; kg += NT) {
        [[unroll]] for (uint r = 0u; r < TM; r++) {
            float wv = kiln_dequant(row_off[r], int(kg));
            [[unroll]] for (uint c = 0u; c < TN; c++) acc[r * TN + c] += wv * kiln_vk_x(col[c], kg);
        }
    }
#endif

#if KILN_STAGES >= 2
    /* subgroups: one partial per subgroup and output left for shared memory */
    [[unroll]] for (uint o = 0u; o < NO; o++) acc[o] = subgroupAdd(acc[o]);
    uint nsg = gl_NumSubgroups;
    if (subgroupElect()) {
        [[unroll]] for (uint o = 0u; o < NO; o++) red[o * NT + gl_SubgroupID] = acc[o];
    }
    barrier();
    [[dont_unroll]] for (uint o = t; o < NO; o += NT) {
        float sum = 0.0;
        [[dont_unroll]] for (uint j = 0u; j < nsg; j++) sum += red[o * NT + j];
        uint r = o / TN, c = o % TN;
        if (r0 + r < pc.m && c0 + c < pc.n) kiln_vk_store(r0 + r, c0 + c, sum);
    }
#else
    /* shared memory only: a tree over the NT partials of every output */
    [[unroll]] for (uint o = 0u; o < NO; o++) red[o * NT + t] = acc[o];
    barrier();
    [[dont_unroll]] for (uint h = uint(KILN_VK_POW2_AT_LEAST(NT)) / 2u; h > 0u; h >>= 1) {
        if (t < h && t + h < uint(NT)) {
            [[unroll]] for (uint o = 0u; o < NO; o++) red[o * NT + t] += red[o * NT + t + h];
        }
        barrier();
    }
    [[dont_unroll]] for (uint o = t; o < NO; o += NT) {
        uint r = o / TN, c = o % TN;
        if (r0 + r < pc.m && c0 + c < pc.n) kiln_vk_store(r0 + r, c0 + c, red[o * NT]);
    }
#endif
}
