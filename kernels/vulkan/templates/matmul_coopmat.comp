/* kernels/vulkan/templates/matmul_coopmat.comp — the fast mat-mat on NV
 * cooperative matrices (GL_NV_cooperative_matrix, 16x16x16, f16 inputs, f32
 * accumulators); inlined by matmul.comp for tn > 8 with stages >= 2.
 *
 * UNVERIFIED ON HARDWARE: lavapipe has no VK_NV_cooperative_matrix, so here
 * this kernel is only compiled to SPIR-V (tests/test_vulkan_compile.c). The
 * backend builds it only on a device that reports the extension with the
 * 16x16x16 f16/f32 shape and subgroups of 32, and only when
 * KILN_VULKAN_COOPMAT=1 (kiln_vk_can_implement, docs/VULKAN.md).
 *
 * A workgroup of tm*tn/1024 subgroups owns a tm x tn output tile; subgroup g
 * owns the 32 x 32 sub-tile (g % (tm/32), g / (tm/32)), four 16x16 matrices.
 * Per unit of K (BK = 32, or 64 for q4_K) W is decoded block-wise
 * (matmul_blocks.glsl) and x converted, both to f16 in shared memory (rows
 * padded by 8 halves: 16-byte aligned strides), then each subgroup runs
 * BK/16 steps of 2x2 coopMatMulAddNV. The f32 results go, 16 x 16 at a time
 * per subgroup, through shared memory to kiln_vk_store (epilogue, bounds,
 * output dtype). */
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require

#define BK KILN_VK_UNIT
#define LDH (BK + 8u)            /* halves per shared row of W and x */
#define WGM (TM / 32)            /* subgroups along m */
shared float16_t ws[TM * LDH];
shared float16_t xs[TN * LDH];
shared float outs[NT * 8];       /* 256 floats per subgroup; gen/launch_vulkan.c: the same sizes */

void main()
{
    kiln_vk_blocks_init();
    uint gid = kiln_vk_group_id();
    uint r0 = (gid % pc.groups_m) * TM, c0 = (gid / pc.groups_m) * TN;
    if (c0 >= pc.n) return;
    uint t = gl_LocalInvocationID.x;
    uint sm = (gl_SubgroupID % uint(WGM)) * 32u, sn = (gl_SubgroupID / uint(WGM)) * 32u;
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc00 = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc01 = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc10 = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc11 = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);

    [[dont_unroll]] for (uint k0 = 0u; k0 < pc.k; k0 += BK) {
        barrier();
        uint u = k0 / BK;
        bool whole = k0 + BK <= pc.k;
        [[dont_unroll]] for (uint e = t; e < TM * KILN_VK_STEPS; e += NT) {
            uint r = e / KILN_VK_STEPS, s = e % KILN_VK_STEPS;
            uint row = r0 + r;
            if (row < pc.m && whole) {
                vec4 wv[4];
                kiln_vk_unit_step(kiln_vk_unit_begin(pc.w_off + row * pc.w_stride, u), s, wv);
                [[unroll]] for (uint i = 0u; i < 4u; i++) {
                    uint o = r * LDH + kiln_vk_step_off(s, i);
                    ws[o] = float16_t(wv[i].x), ws[o + 1u] = float16_t(wv[i].y);
                    ws[o + 2u] = float16_t(wv[i].z), ws[o + 3u] = float16_t(wv[i].w);
                }
            } else {
                [[dont_unroll]] for (uint i = 0u; i < 16u; i++) {
                    uint kk = 16u * s + i, kg = k0 + kk;
                    ws[r * LDH + kk] = float16_t((row < pc.m && kg < pc.k) ? kiln_vk_w(row, kg) : 0.0);
                }
            }
        }
        [[dont_unroll]] for (uint e = t; e < TN * BK; e += NT) {
            uint c = e / BK, kk = e % BK, kg = k0 + kk;
            xs[c * LDH + kk] = float16_t((c0 + c < pc.n && kg < pc.k) ? kiln_vk_x(c0 + c, kg) : 0.0);
        }
        barrier();
        [[dont_unroll]] for (uint kk = 0u; kk < BK; kk += 16u) {
            fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a0, a1, b0, b1;
            coopMatLoadNV(a0, ws, (sm + 0u) * LDH + kk, LDH, false);   /* W rows x K: row-major */
            coopMatLoadNV(a1, ws, (sm + 16u) * LDH + kk, LDH, false);
            coopMatLoadNV(b0, xs, (sn + 0u) * LDH + kk, LDH, true);    /* K x tokens: x rows are its columns */
            coopMatLoadNV(b1, xs, (sn + 16u) * LDH + kk, LDH, true);
            acc00 = coopMatMulAddNV(a0, b0, acc00);
            acc01 = coopMatMulAddNV(a0, b1, acc01);
            acc10 = coopMatMulAddNV(a1, b0, acc10);
            acc11 = coopMatMulAddNV(a1, b1, acc11);
        }
    }
    /* each subgroup stages its four 16 x 16 results through its own 1 KB of
     * shared memory (the K-loop arrays cannot be reused: GLSL has no aliasing).
     * A macro, not a loop: a select between cooperative matrices is no valid
     * SPIR-V. */
    uint base = gl_SubgroupID * 256u, lane = gl_SubgroupInvocationID;
#define KILN_VK_COOPMAT_OUT(d, rq, cq)                                                                       \
    subgroupMemoryBarrierShared();                                                                      \
    subgroupBarrier();                                                                                  \
    coopMatStoreNV(d, outs, base, 16u, false); /* outs[base + r*16 + c] */                              \
    subgroupMemoryBarrierShared();                                                                      \
    subgroupBarrier();                                                                                  \
    [[dont_unroll]] for (uint e = lane; e < 256u; e += gl_SubgroupSize) {                               \
        uint r = e % 16u, c = e / 16u; /* consecutive lanes: consecutive rows of y */                   \
        if (r0 + (rq) + r < pc.m && c0 + (cq) + c < pc.n)                                               \
            kiln_vk_store(r0 + (rq) + r, c0 + (cq) + c, outs[base + r * 16u + c]);                      \
    }
    KILN_VK_COOPMAT_OUT(acc00, sm, sn)
    KILN_VK_COOPMAT_OUT(acc01, sm, sn + 16u)
    KILN_VK_COOPMAT_OUT(acc10, sm + 16u, sn)
    KILN_VK_COOPMAT_OUT(acc11, sm + 16u, sn + 16u)
}
