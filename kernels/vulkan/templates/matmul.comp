/* kernels/vulkan/templates/matmul.comp — dequant-matmul y[n][m] = x[n][k] . W[m][k]^T (+ epilogue).
 *
 * Four kernels share the push constants, the stores and the epilogue below;
 * the spec picks one at compile time:
 *   fast formats (f16, q4_0, q8_0, q4_K, q6_K: matmul_blocks.glsl decodes W a
 *   unit of 32 or 64 weights at a time from wide loads)
 *     tn <= 8                  matmul_vec.comp: rows per workgroup, K split over
 *                              the invocations, subgroup (stages >= 2) or
 *                              shared-memory (stages = 1) reduction;
 *     tn > 8, stages >= 2      matmul_coopmat.comp: the same tiles in f16 on
 *       and 32x32 per subgroup NV cooperative matrices (compile-tested only;
 *                              opt-in, KILN_VULKAN_COOPMAT=1);
 *     tn > 8, tiles that fit   matmul_tiled.comp: W and x tiles decoded into
 *                              shared memory, register micro-tiles of 4 x RN;
 *   every format (the generic paths, W element by element through kiln_dequant(),
 *   gen/math/dequant.h, the one description of each format)
 *     tn <= 8  (mat-vec, decode): a workgroup owns tm rows of W and all tn tokens;
 *            its threads split K, each dequantizes W straight from memory and
 *            multiplies with the x chunk staged in shared memory; a shared-memory
 *            reduction sums the threads' partial dot products. Every W element is
 *            read once per tn tokens.
 *     tn > 8   (mat-mat, prefill): a workgroup owns a tm x tn output tile; W and x
 *            K-chunks of 32 are dequantized / converted into shared memory and
 *            each thread accumulates its outputs from there.
 * gen/vk_specs.h makes the same choice in C (kiln_vk_fast_format,
 * kiln_vk_tiled, kiln_vk_coopmat_tiles) for gen/launch_vulkan.c's shared-memory
 * sizes and the backend's checks: change both together.
 * SwiGLU needs x . W_up^T too, but the kernels read the buffer named `w`,
 * so the host runs this kernel twice: mode 1 with W_up bound as w writes the raw
 * up products to the f32 scratch `aux`; mode 2 with W bound reads them back and
 * applies kiln_epilogue(). Without SwiGLU one dispatch (mode 0) does all. */
#pragma kiln include "kernels/vulkan/templates/io.glsl"

KILN_VK_RO_BUFFER(x, 0)
/* w (binding 1) is declared by io.glsl, ahead of gen/math/dequant.h */
KILN_VK_RW_BUFFER(aux, 2)
KILN_VK_RO_BUFFER(bias, 3)
KILN_VK_RO_BUFFER(res, 4)
KILN_VK_RW_BUFFER(y, 5)

layout(push_constant) uniform kiln_vk_matmul_push {
    uint m, n, k;          /* rows of W, tokens, reduction length */
    uint x_off, x_stride;  /* byte offset in its binding, bytes per token row */
    uint w_off, w_stride;  /* bytes per W row (whole blocks) */
    uint aux_off;          /* f32 [n][m] scratch of the SwiGLU up products */
    uint bias_off;         /* f32 [m] */
    uint res_off, res_stride;
    uint y_off, y_stride;
    uint mode;             /* 0 one pass; 1 SwiGLU up pass; 2 SwiGLU gate pass */
    uint groups_m;         /* workgroups along m (the rest index tokens) */
    float scale;           /* the SCALE epilogue's factor */
} pc;

#define TM KILN_TM
#define TN KILN_TN
#define NT KILN_THREADS

void kiln_vk_store(uint row, uint col, float acc)
{
    if (pc.mode == 1u) {
        aux_u32[(pc.aux_off >> 2) + col * pc.m + row] = floatBitsToUint(acc);
        return;
    }
    float up = 0.0, b = 0.0, r = 0.0;
#if KILN_EPI_SWIGLU
    up = uintBitsToFloat(aux_u32[(pc.aux_off >> 2) + col * pc.m + row]);
#endif
#if KILN_EPI_BIAS
    b = KILN_LD_F32(bias, pc.bias_off + row * 4u);
#endif
#if KILN_EPI_RESIDUAL
    r = KILN_VK_LD_OUT(res, pc.res_off + col * pc.res_stride + row * KILN_VK_OUT_BYTES);
#endif
    float v = kiln_epilogue(acc, up, b, pc.scale, r);
    KILN_VK_ST_OUT(y, pc.y_off + col * pc.y_stride + row * KILN_VK_OUT_BYTES, v);
}

float kiln_vk_w(uint row, uint kg)
{
    uint blk = kg / uint(KILN_FMT_BLOCK);
    return kiln_dequant(pc.w_off + row * pc.w_stride + blk * uint(KILN_FMT_BYTES), int(kg - blk * uint(KILN_FMT_BLOCK)));
}

float kiln_vk_x(uint col, uint kg) { return KILN_VK_LD_ACT(x, pc.x_off + col * pc.x_stride + kg * KILN_VK_ACT_BYTES); }

/* formats/formats.def's FAST_VULKAN column (emitted by gen/emit.c) */
#define KILN_VK_FAST_FMT KILN_FMT_FAST
/* the tiled kernel's micro-tile (4 rows x RN tokens per invocation) must tile
 * tm x tn exactly with `threads` invocations and keep RN <= 16 (no division
 * by RN = 0: the preprocessor evaluates every operand) */
#define KILN_VK_TILED_RN ((KILN_TM * KILN_TN) / (4 * KILN_THREADS))
#define KILN_VK_TILED                                                                                          \
    (KILN_TM % 4 == 0 && (KILN_TM * KILN_TN) % (4 * KILN_THREADS) == 0 && KILN_VK_TILED_RN >= 1 &&              \
     KILN_VK_TILED_RN <= 16 && KILN_TN % (KILN_VK_TILED_RN + (KILN_VK_TILED_RN == 0)) == 0)

/* NV cooperative matrices (stages >= 2, tn > 8): 32 x 32 per subgroup of 32 */
#define KILN_VK_COOPMAT_TILES (KILN_TM % 32 == 0 && KILN_TN % 32 == 0 && KILN_TM * KILN_TN == 32 * KILN_THREADS)

#if KILN_VK_FAST_FMT
#pragma kiln include "kernels/vulkan/templates/matmul_blocks.glsl"
#endif

#if KILN_VK_FAST_FMT && KILN_TN <= 8
#pragma kiln include "kernels/vulkan/templates/matmul_vec.comp"
#elif KILN_VK_FAST_FMT && KILN_STAGES >= 2 && KILN_VK_COOPMAT_TILES
#pragma kiln include "kernels/vulkan/templates/matmul_coopmat.comp"
#elif KILN_VK_FAST_FMT && KILN_VK_TILED
#pragma kiln include "kernels/vulkan/templates/matmul_tiled.comp"
#elif KILN_TN <= 8
/* ------------------------------------------------------- generic mat-vec */
#define KC KILN_TK
shared float xs[TN * KC];
shared float red[TM * TN * NT];

void main()
{
    uint gid = kiln_vk_group_id();
    uint r0 = (gid % pc.groups_m) * TM, c0 = (gid / pc.groups_m) * TN;
    if (c0 >= pc.n) return; /* uniform over the workgroup */
    uint t = gl_LocalInvocationID.x;
    float acc[TM * TN];
    [[unroll]] for (uint o = 0u; o < TM * TN; o++) acc[o] = 0.0;

    for (uint k0 = 0u; k0 < pc.k; k0 += KC) {
        barrier();
        [[dont_unroll]] for (uint e = t; e < TN * KC; e += NT) {
            uint c = e / KC, kg = k0 + e % KC;
            xs[e] = (c0 + c < pc.n && kg < pc.k) ? kiln_vk_x(c0 + c, kg) : 0.0;
        }
        barrier();
        [[dont_unroll]] for (uint kk = t; kk < KC && k0 + kk < pc.k; kk += NT) {
            [[unroll]] for (uint r = 0u; r < TM; r++) {
                if (r0 + r >= pc.m) break;
                float wv = kiln_vk_w(r0 + r, k0 + kk);
                [[unroll]] for (uint c = 0u; c < TN; c++) acc[r * TN + c] += wv * xs[c * KC + kk];
            }
        }
    }
    [[unroll]] for (uint o = 0u; o < TM * TN; o++) red[o * NT + t] = acc[o];
    barrier();
    for (uint o = t; o < TM * TN; o += NT) {
        uint r = o / TN, c = o % TN;
        if (r0 + r >= pc.m || c0 + c >= pc.n) continue;
        float s = 0.0;
        for (uint j = 0u; j < NT; j++) s += red[o * NT + j];
        kiln_vk_store(r0 + r, c0 + c, s);
    }
}

#else
/* ------------------------------------------------------- generic mat-mat */
#define KC 32u
#define KP (KC + 1u) /* padded rows: no shared-memory bank conflicts on column reads */
#define OPT ((TM * TN + NT - 1) / NT)
shared float ws[TM * KP];
shared float xs[TN * KP];

void main()
{
    uint gid = kiln_vk_group_id();
    uint r0 = (gid % pc.groups_m) * TM, c0 = (gid / pc.groups_m) * TN;
    if (c0 >= pc.n) return;
    uint t = gl_LocalInvocationID.x;
    /* this invocation's outputs o = t + j*NT: row o % TM, token o / TM (a
     * warp's stores are then consecutive in y) */
    float acc[OPT];
    uint wrow[OPT], xrow[OPT];
    [[unroll]] for (uint j = 0u; j < OPT; j++) {
        uint o = min(t + j * NT, uint(TM * TN - 1));
        acc[j] = 0.0;
        wrow[j] = (o % TM) * KP;
        xrow[j] = (o / TM) * KP;
    }
    /* Loops that call kiln_dequant() or run over K stay loops ([[dont_unroll]]):
     * unrolled, they multiply the code the driver compiles (seconds per pipeline
     * on lavapipe) for no gain. */
    for (uint k0 = 0u; k0 < pc.k; k0 += KC) {
        barrier();
        [[dont_unroll]] for (uint e = t; e < TM * KC; e += NT) {
            uint r = e / KC, kg = k0 + e % KC;
            ws[r * KP + e % KC] = (r0 + r < pc.m && kg < pc.k) ? kiln_vk_w(r0 + r, kg) : 0.0;
        }
        [[dont_unroll]] for (uint e = t; e < TN * KC; e += NT) {
            uint c = e / KC, kg = k0 + e % KC;
            xs[c * KP + e % KC] = (c0 + c < pc.n && kg < pc.k) ? kiln_vk_x(c0 + c, kg) : 0.0;
        }
        barrier();
        [[dont_unroll]] for (uint kk = 0u; kk < KC; kk++) {
            [[unroll]] for (uint j = 0u; j < OPT; j++) acc[j] += ws[wrow[j] + kk] * xs[xrow[j] + kk];
        }
    }
    [[dont_unroll]] for (uint j = 0u; j < OPT; j++) {
        uint o = t + j * NT;
        if (o >= TM * TN) break;
        uint r = o % TM, c = o / TM;
        if (r0 + r < pc.m && c0 + c < pc.n) kiln_vk_store(r0 + r, c0 + c, acc[j]);
    }
}
#endif
