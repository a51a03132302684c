/* kernels/vulkan/templates/matmul_blocks.glsl — whole-block weight decode for
 * the fast Vulkan matmul paths (matmul_vec.comp, matmul_tiled.comp).
 *
 * gen/math/dequant.h describes each format one element at a time; that is the
 * reference every backend shares, and what the generic path uses. A fast path
 * instead walks a row of W in *units*, each decoded by one invocation from a
 * few wide loads, in *steps* of 16 weights returned as four vec4:
 *
 *   format  unit (elements)        step s: vec4 i covers unit elements
 *   f16     32                     16s + 4i
 *   q4_0    32 (one block)         8s + 4(i&1) + 16(i>>1)   (byte j: low nibble j, high j+16)
 *   q8_0    32 (one block)         16s + 4i
 *   q4_K    64 (scale pair c)      8s + 4(i&1) + 32(i>>1)   (byte j: low nibble j, high j+32)
 *   q6_K    32 (quarter t of half n) 16s + 4i
 *
 * Same arithmetic as dequant.h, in the same order (d*(q-8), (d*sc)*q - dmin*m,
 * ...), so the values are the ones the reference reads. Loads: rows of q4_0
 * (18-byte blocks), q8_0 (34) and q6_K (210) are only 2-byte aligned, so their
 * bytes come in 16-bit words (as llama.cpp's packed16 views do); q4_K blocks
 * (144 bytes) are 4-aligned (kernels/core/validate.c guarantees it), so 32-bit
 * words; f16 rows take 32-bit words when offset and stride allow (a uniform
 * run-time test), else 16-bit. Activations: see kiln_vk_x4 below.
 * A format added here gets KILN_FMT_F_FAST_VULKAN in formats/formats.def
 * (the shader's KILN_FMT_FAST and the host's kiln_vk_fast_format follow). */

/* Wide views of x (binding 0): the fast paths load 4 activations at once. */
layout(std430, set = 0, binding = 0) readonly buffer x_view128 { uvec4 x_v4[]; };
layout(std430, set = 0, binding = 0) readonly buffer x_view64 { uvec2 x_v2[]; };

#if defined(KILN_FMT_Q4_K)
#define KILN_VK_UNIT 64u
#else
#define KILN_VK_UNIT 32u
#endif
#define KILN_VK_STEPS (KILN_VK_UNIT / 16u)

/* Set once per invocation from the push constants (uniform over the dispatch). */
bool kiln_vk_w_al4 = false; /* W offset and row stride are multiples of 4 bytes */
bool kiln_vk_x_alv = false; /* x offset and row stride allow the vec4 views */

void kiln_vk_blocks_init()
{
    kiln_vk_w_al4 = ((pc.w_off | pc.w_stride) & 3u) == 0u;
    kiln_vk_x_alv = ((pc.x_off | pc.x_stride) & (4u * KILN_VK_ACT_BYTES - 1u)) == 0u;
}

/* Element offset, within its unit, of vec4 i of step s (table above). */
uint kiln_vk_step_off(uint s, uint i)
{
#if defined(KILN_FMT_Q4_0)
    return 8u * s + 4u * (i & 1u) + 16u * (i >> 1);
#elif defined(KILN_FMT_Q4_K)
    return 8u * s + 4u * (i & 1u) + 32u * (i >> 1);
#else
    return 16u * s + 4u * i;
#endif
}

/* What a unit's steps share: where its bytes are and its scales. */
struct kiln_vk_unit {
    uint q;      /* byte offset of the unit's quants (f16: of its first element) */
    uint h;      /* q6_K: byte offset of the unit's high bits */
    uint shift;  /* q6_K: (nibble shift) | (high-bits shift << 8) */
    vec4 scale;  /* q4_0/q8_0/q6_K: x (q6_K: y for the second 16); q4_K: dl0 ml0 dl1 ml1 */
};

kiln_vk_unit kiln_vk_unit_begin(uint row_off, uint u)
{
    kiln_vk_unit un;
    un.h = 0u;
    un.shift = 0u;
    un.scale = vec4(0.0);
#if defined(KILN_FMT_F16)
    un.q = row_off + u * 64u;
#elif defined(KILN_FMT_Q4_0) || defined(KILN_FMT_Q8_0)
    uint blk = row_off + u * uint(KILN_FMT_BYTES);
    un.q = blk + 2u;
    un.scale.x = KILN_LD_F16(w, blk);
#elif defined(KILN_FMT_Q4_K)
    uint blk = row_off + (u >> 2) * 144u, c = u & 3u;
    vec2 dm = unpackHalf2x16(w_u32[blk >> 2]); /* d, dmin */
    un.q = blk + 16u + 32u * c;
    un.scale = vec4(dm.x * float(kiln_kquant_scale(blk + 4u, 2u * c)), dm.y * float(kiln_kquant_min(blk + 4u, 2u * c)),
                    dm.x * float(kiln_kquant_scale(blk + 4u, 2u * c + 1u)),
                    dm.y * float(kiln_kquant_min(blk + 4u, 2u * c + 1u)));
#elif defined(KILN_FMT_Q6_K)
    uint blk = row_off + (u >> 3) * 210u, n = (u >> 2) & 1u, t = u & 3u;
    un.q = blk + 64u * n + 32u * (t & 1u);
    un.h = blk + 128u + 32u * n;
    un.shift = 4u * (t >> 1) | ((2u * t) << 8);
    float d = KILN_LD_F16(w, blk + 208u);
    uint sc = blk + 192u + 8u * n + 2u * t;
    un.scale.x = d * float(int(KILN_LD_U8(w, sc) ^ 0x80u) - 128);
    un.scale.y = d * float(int(KILN_LD_U8(w, sc + 1u) ^ 0x80u) - 128);
#endif
    return un;
}

/* 4 bytes as a uvec4 of byte values, from two 16-bit words. */
uvec4 kiln_vk_bytes4(uint lo16, uint hi16) { return uvec4(lo16, lo16 >> 8, hi16, hi16 >> 8) & 0xffu; }

/* Step s of unit un: 16 weights, w[i] at kiln_vk_step_off(s, i). */
void kiln_vk_unit_step(kiln_vk_unit un, uint s, out vec4 wv[4])
{
#if defined(KILN_FMT_F16)
    uint o = un.q + 32u * s;
    [[unroll]] for (uint i = 0u; i < 4u; i++) {
        uint a = 0u, b = 0u;
        if (kiln_vk_w_al4) {
            a = w_u32[(o >> 2) + 2u * i];
            b = w_u32[(o >> 2) + 2u * i + 1u];
        } else {
            uint h = (o >> 1) + 4u * i;
            a = uint(w_u16[h]) | (uint(w_u16[h + 1u]) << 16);
            b = uint(w_u16[h + 2u]) | (uint(w_u16[h + 3u]) << 16);
        }
        wv[i] = vec4(unpackHalf2x16(a), unpackHalf2x16(b));
    }
#elif defined(KILN_FMT_Q4_0)
    uint h = (un.q >> 1) + 4u * s; /* bytes 8s..8s+7 of qs */
    uvec4 b0 = kiln_vk_bytes4(uint(w_u16[h]), uint(w_u16[h + 1u]));
    uvec4 b1 = kiln_vk_bytes4(uint(w_u16[h + 2u]), uint(w_u16[h + 3u]));
    float d = un.scale.x;
    wv[0] = vec4(ivec4(b0 & 15u) - 8) * d;
    wv[1] = vec4(ivec4(b1 & 15u) - 8) * d;
    wv[2] = vec4(ivec4(b0 >> 4) - 8) * d;
    wv[3] = vec4(ivec4(b1 >> 4) - 8) * d;
#elif defined(KILN_FMT_Q8_0)
    uint h = (un.q >> 1) + 8u * s; /* bytes 16s..16s+15 of qs */
    [[unroll]] for (uint i = 0u; i < 4u; i++) {
        ivec4 q = ivec4(kiln_vk_bytes4(uint(w_u16[h + 2u * i]), uint(w_u16[h + 2u * i + 1u])) ^ 0x80u) - 128;
        wv[i] = vec4(q) * un.scale.x;
    }
#elif defined(KILN_FMT_Q4_K)
    uint o = (un.q >> 2) + 2u * s; /* bytes 8s..8s+7 of the chunk's 32 */
    uint a = w_u32[o], b = w_u32[o + 1u];
    uvec4 b0 = uvec4(a, a >> 8, a >> 16, a >> 24) & 0xffu;
    uvec4 b1 = uvec4(b, b >> 8, b >> 16, b >> 24) & 0xffu;
    wv[0] = un.scale.x * vec4(b0 & 15u) - un.scale.y;
    wv[1] = un.scale.x * vec4(b1 & 15u) - un.scale.y;
    wv[2] = un.scale.z * vec4(b0 >> 4) - un.scale.w;
    wv[3] = un.scale.z * vec4(b1 >> 4) - un.scale.w;
#elif defined(KILN_FMT_Q6_K)
    uint ql = (un.q >> 1) + 8u * s, qh = (un.h >> 1) + 8u * s; /* l = 16s..16s+15 */
    uint nsh = un.shift & 0xffu, hsh = un.shift >> 8;
    float ds = s == 0u ? un.scale.x : un.scale.y;
    [[unroll]] for (uint i = 0u; i < 4u; i++) {
        uvec4 lo = (kiln_vk_bytes4(uint(w_u16[ql + 2u * i]), uint(w_u16[ql + 2u * i + 1u])) >> nsh) & 15u;
        uvec4 hi = (kiln_vk_bytes4(uint(w_u16[qh + 2u * i]), uint(w_u16[qh + 2u * i + 1u])) >> hsh) & 3u;
        wv[i] = ds * vec4(ivec4(lo | (hi << 4)) - 32);
    }
#endif
}

#if !defined(KILN_ACT_F32)
/* 4 f16 or bf16 activations, packed two per word, as floats. */
vec4 kiln_vk_act4_16(uvec2 v)
{
#if defined(KILN_ACT_F16)
    return vec4(unpackHalf2x16(v.x), unpackHalf2x16(v.y));
#else
    return uintBitsToFloat(uvec4(v.x << 16, v.x & 0xffff0000u, v.y << 16, v.y & 0xffff0000u));
#endif
}
#endif

/* x[col][kg..kg+3] (kg a multiple of 4, all four inside the row), in scalar
 * loads: no branch on alignment. The mat-vec calls this tm*4 times per step,
 * unrolled; with the alignment test inside, lavapipe's LLVM took 4x longer to
 * compile a tn=8 pipeline (4.3 s against 1.0 s), for loads that hit the cache
 * anyway (x is small, and each load serves all tm rows). */
vec4 kiln_vk_x4(uint col, uint kg)
{
    uint off = pc.x_off + col * pc.x_stride + kg * KILN_VK_ACT_BYTES;
#if defined(KILN_ACT_F32)
    return vec4(KILN_LD_F32(x, off), KILN_LD_F32(x, off + 4u), KILN_LD_F32(x, off + 8u), KILN_LD_F32(x, off + 12u));
#else
    uint h = off >> 1;
    uvec2 v = uvec2(uint(x_u16[h]) | (uint(x_u16[h + 1u]) << 16), uint(x_u16[h + 2u]) | (uint(x_u16[h + 3u]) << 16));
    return kiln_vk_act4_16(v);
#endif
}

/* The same through the 16-byte (f32) or 8-byte (f16, bf16) views when offset
 * and stride allow (a uniform test): for the tiled kernels' loaders, which
 * call it once per loop iteration. */
vec4 kiln_vk_x4_wide(uint col, uint kg)
{
    if (!kiln_vk_x_alv) return kiln_vk_x4(col, kg);
    uint off = pc.x_off + col * pc.x_stride + kg * KILN_VK_ACT_BYTES;
#if defined(KILN_ACT_F32)
    return uintBitsToFloat(x_v4[off >> 4]);
#else
    return kiln_vk_act4_16(x_v2[off >> 3]);
#endif
}
