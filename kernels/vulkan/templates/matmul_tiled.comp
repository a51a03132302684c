/* kernels/vulkan/templates/matmul_tiled.comp — the fast mat-mat (tn > 8) for
 * the formats of matmul_blocks.glsl; inlined by matmul.comp when the tiles
 * allow it (KILN_VK_TILED there, vk_tiled() in gen/launch_vulkan.c).
 *
 * A workgroup owns a tm x tn output tile and walks K one unit (BK = 32, or 64
 * for q4_K) at a time:
 *   - W: its tm x BK tile is decoded unit by unit, one 16-weight step per task
 *     (kiln_vk_unit_step: wide loads, scales once per unit), into shared
 *     memory;
 *   - x: tn x BK activations, four per task, into shared memory;
 *   - each invocation accumulates a register micro-tile of RM = 4 rows by
 *     RN = tm*tn / (4*threads) tokens. Its rows are tx + i*(tm/4) and tokens
 *     ty + j*(tn/RN): neighbouring invocations take neighbouring rows, so
 *     stores to y (rows contiguous) are coalesced and shared reads of W hit
 *     distinct banks (rows padded to BK+1 floats).
 * Rows past m, tokens past n and K past the row (f16 rows of any length) are
 * zeros in shared memory and never stored. */
#define BK KILN_VK_UNIT
#define KP (BK + 1u)
#define RM 4u
#define RN ((TM * TN) / (4 * NT))
#define TX (TM / 4)              /* invocations along m */
#define TY (TN / RN)             /* invocations along n */
shared float ws[TM * KP];
shared float xs[TN * KP];

void main()
{
    kiln_vk_blocks_init();
    uint gid = kiln_vk_group_id();
    uint r0 = (gid % pc.groups_m) * TM, c0 = (gid / pc.groups_m) * TN;
    if (c0 >= pc.n) return;
    uint t = gl_LocalInvocationID.x;
    uint tx = t % uint(TX), ty = t / uint(TX);
    float acc[RM * RN];
    [[unroll]] for (uint o = 0u; o < RM * RN; o++) acc[o] = 0.0;

    [[dont_unroll]] for (uint k0 = 0u; k0 < pc.k; k0 += BK) {
        barrier();
        uint u = k0 / BK;
        bool whole = k0 + BK <= pc.k;
        /* W: tm rows x STEPS steps of 16 weights */
        [[dont_unroll]] for (uint e = t; e < TM * KILN_VK_STEPS; e += NT) {
            uint r = e / KILN_VK_STEPS, s = e % KILN_VK_STEPS;
            uint row = r0 + r;
            if (row < pc.m && whole) {
                vec4 wv[4];
                kiln_vk_unit_step(kiln_vk_unit_begin(pc.w_off + row * pc.w_stride, u), s, wv);
                [[unroll]] for (uint i = 0u; i < 4u; i++) {
                    uint o = r * KP + kiln_vk_step_off(s, i);
                    ws[o] = wv[i].x, ws[o + 1u] = wv[i].y, ws[o + 2u] = wv[i].z, ws[o + 3u] = wv[i].w;
                }
            } else {
                [[dont_unroll]] for (uint i = 0u; i < 16u; i++) {
                    uint kk = 16u * s + i, kg = k0 + kk;
                    ws[r * KP + kk] = (row < pc.m && kg < pc.k) ? kiln_vk_w(row, kg) : 0.0;
                }
            }
        }
        /* x: tn tokens x BK, four at a time */
        [[dont_unroll]] for (uint e = t; e < TN * (BK / 4u); e += NT) {
            uint c = e / (BK / 4u), kk = 4u * (e % (BK / 4u)), kg = k0 + kk;
            vec4 xv = vec4(0.0);
            if (c0 + c < pc.n) {
                if (kg + 4u <= pc.k) xv = kiln_vk_x4_wide(c0 + c, kg);
                else
                    xv = vec4(kg < pc.k ? kiln_vk_x(c0 + c, kg) : 0.0, kg + 1u < pc.k ? kiln_vk_x(c0 + c, kg + 1u) : 0.0,
                              kg + 2u < pc.k ? kiln_vk_x(c0 + c, kg + 2u) : 0.0, 0.0);
            }
            uint o = c * KP + kk;
            xs[o] = xv.x, xs[o + 1u] = xv.y, xs[o + 2u] = xv.z, xs[o + 3u] = xv.w;
        }
        barrier();
        [[dont_unroll]] for (uint kk = 0u; kk < BK; kk++) {
            float a[RM], b[RN];
            [[unroll]] for (uint i = 0u; i < RM; i++) a[i] = ws[(tx + i * uint(TX)) * KP + kk];
            [[unroll]] for (uint j = 0u; j < RN; j++) b[j] = xs[(ty + j * uint(TY)) * KP + kk];
            [[unroll]] for (uint j = 0u; j < RN; j++)
                [[unroll]] for (uint i = 0u; i < RM; i++) acc[j * RM + i] += a[i] * b[j];
        }
    }
    [[unroll]] for (uint j = 0u; j < RN; j++) {
        uint c = c0 + ty + j * uint(TY);
        [[unroll]] for (uint i = 0u; i < RM; i++) {
            uint r = r0 + tx + i * uint(TX);
            if (r < pc.m && c < pc.n) kiln_vk_store(r, c, acc[j * RM + i]);
        }
    }
}
