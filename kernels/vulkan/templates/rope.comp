/* kernels/vulkan/templates/rope.comp — rotary position embedding in place on q
 * and k, then (spec flag kv) the paged KV-cache append of the same tokens, so
 * Q/K/V stay on the device between the QKV matmul and attention.
 *
 * One workgroup per token. The invocations first take the (head, pair) items
 * of the token's q and k heads; then, after a buffer barrier (k is `coherent`
 * so the rotated values of other invocations are visible), the k and v rows go
 * to slot slots[t] of the caches: f32/f16 one element per item, q8_0 one block
 * of 32 per item. The math is gen/math/rope.h, shared with the cpu and CUDA
 * templates; the f16 and q8_0 conversions are integer code, bit-exact with
 * formats/ (packHalf2x16 and round() leave rounding to the implementation). */
#pragma kiln include "kernels/vulkan/templates/io.glsl"

KILN_VK_RO_BUFFER(pos, 0)
layout(std430, set = 0, binding = 1) buffer q_view32 { uint q_u32[]; };
layout(std430, set = 0, binding = 2) coherent buffer k_view32 { uint k_u32[]; };
KILN_VK_RO_BUFFER(v, 3)
KILN_VK_RO_BUFFER(slots, 4)
KILN_VK_RW_BUFFER(kc, 5)
KILN_VK_RW_BUFFER(vc, 6)

#pragma kiln include "gen/math/rope.h"

layout(push_constant) uniform kiln_vk_rope_push {
    uint n, n_head, n_kv_head, head_dim, rope_dim, neox;
    float theta, freq_scale;
    uint pos_off;
    uint q_off, q_s0, q_s1;
    uint k_off, k_s0, k_s1;
    uint v_off, v_s0, v_s1;
    uint slots_off;
    uint kc_off, kc_s0, kc_s1, kc_s2;
    uint vc_off, vc_s0, vc_s1, vc_s2;
    uint block_size, n_blocks;
    uint has_kv;               /* 1: the call appends to the caches */
} pc;

#define NT KILN_THREADS

/* Rotate pair i of head h (q heads first, then k heads) of token t. */
void kiln_vk_rope_pair(uint t, int pos, uint h, uint i)
{
    uint hr = pc.rope_dim / 2u;
    float ang = kiln_rope_angle(pos, pc.freq_scale, kiln_rope_freq(int(i), int(pc.rope_dim), pc.theta));
    float c = KILN_COS(ang), s = KILN_SIN(ang);
    uint i0 = pc.neox != 0u ? i : 2u * i, i1 = pc.neox != 0u ? i + hr : 2u * i + 1u;
    if (h < pc.n_head) {
        uint base = (pc.q_off + t * pc.q_s0 + h * pc.q_s1) >> 2;
        float x0 = uintBitsToFloat(q_u32[base + i0]), x1 = uintBitsToFloat(q_u32[base + i1]);
        q_u32[base + i0] = floatBitsToUint(kiln_rope_first(x0, x1, c, s));
        q_u32[base + i1] = floatBitsToUint(kiln_rope_second(x0, x1, c, s));
    } else {
        uint base = (pc.k_off + t * pc.k_s0 + (h - pc.n_head) * pc.k_s1) >> 2;
        float x0 = uintBitsToFloat(k_u32[base + i0]), x1 = uintBitsToFloat(k_u32[base + i1]);
        k_u32[base + i0] = floatBitsToUint(kiln_rope_first(x0, x1, c, s));
        k_u32[base + i1] = floatBitsToUint(kiln_rope_second(x0, x1, c, s));
    }
}

/* Element d of kv head h of token t: the rotated k or the v. */
float kiln_vk_kv_value(bool is_v, uint t, uint h, uint d)
{
    if (is_v) return KILN_LD_F32(v, pc.v_off + t * pc.v_s0 + h * pc.v_s1 + 4u * d);
    return uintBitsToFloat(k_u32[(pc.k_off + t * pc.k_s0 + h * pc.k_s1 + 4u * d) >> 2]);
}

void main()
{
    uint t = kiln_vk_group_id();
    if (t >= pc.n) return; /* uniform over the workgroup */
    int pos = int(KILN_LD_U32(pos, pc.pos_off + 4u * t));
    uint hr = pc.rope_dim / 2u, items = (pc.n_head + pc.n_kv_head) * hr;
    for (uint j = gl_LocalInvocationID.x; j < items; j += NT) kiln_vk_rope_pair(t, pos, j / hr, j % hr);
#if KILN_ROPE_KV
    if (pc.has_kv == 0u) return;
    int slot = int(KILN_LD_U32(slots, pc.slots_off + 4u * t));
    if (slot < 0 || uint(slot) / pc.block_size >= pc.n_blocks) return; /* padding, or outside the cache: uniform */
    uint blk = uint(slot) / pc.block_size, off = uint(slot) % pc.block_size, hd = pc.head_dim;
    memoryBarrierBuffer();
    barrier(); /* the rotated k of every invocation */
#if defined(KILN_FMT_Q8_0)
    uint per_head = hd / 32u, nb = pc.n_kv_head * per_head;
    for (uint j = gl_LocalInvocationID.x; j < 2u * nb; j += NT) {
        bool is_v = j >= nb;
        uint b = is_v ? j - nb : j, h = b / per_head, c = b % per_head;
        float amax = 0.0;
        for (uint e = 0u; e < 32u; e++) amax = max(amax, abs(kiln_vk_kv_value(is_v, t, h, 32u * c + e)));
        float d = kiln_q8_0_scale(amax), id = kiln_q8_0_inverse(d);
        uint dh = kiln_f32_to_f16_bits(d);
        if (is_v) {
            uint dst = pc.vc_off + blk * pc.vc_s0 + off * pc.vc_s1 + h * pc.vc_s2 + 34u * c;
            vc_u16[dst >> 1] = uint16_t(dh);
            for (uint e = 0u; e < 32u; e++)
                vc_u8[dst + 2u + e] = uint8_t(uint(kiln_q8_0_code(kiln_vk_kv_value(true, t, h, 32u * c + e), id)) & 0xffu);
        } else {
            uint dst = pc.kc_off + blk * pc.kc_s0 + off * pc.kc_s1 + h * pc.kc_s2 + 34u * c;
            kc_u16[dst >> 1] = uint16_t(dh);
            for (uint e = 0u; e < 32u; e++)
                kc_u8[dst + 2u + e] = uint8_t(uint(kiln_q8_0_code(kiln_vk_kv_value(false, t, h, 32u * c + e), id)) & 0xffu);
        }
    }
#else
    uint row = pc.n_kv_head * hd;
    for (uint j = gl_LocalInvocationID.x; j < 2u * row; j += NT) {
        bool is_v = j >= row;
        uint e = is_v ? j - row : j, h = e / hd, d = e % hd;
        float x = kiln_vk_kv_value(is_v, t, h, d);
#if defined(KILN_FMT_F16)
        if (is_v) vc_u16[(pc.vc_off + blk * pc.vc_s0 + off * pc.vc_s1 + h * pc.vc_s2 + 2u * d) >> 1] = uint16_t(kiln_f32_to_f16_bits(x));
        else kc_u16[(pc.kc_off + blk * pc.kc_s0 + off * pc.kc_s1 + h * pc.kc_s2 + 2u * d) >> 1] = uint16_t(kiln_f32_to_f16_bits(x));
#else
        if (is_v) vc_u32[(pc.vc_off + blk * pc.vc_s0 + off * pc.vc_s1 + h * pc.vc_s2 + 4u * d) >> 2] = floatBitsToUint(x);
        else kc_u32[(pc.kc_off + blk * pc.kc_s0 + off * pc.kc_s1 + h * pc.kc_s2 + 4u * d) >> 2] = floatBitsToUint(x);
#endif
    }
#endif
#endif
}
