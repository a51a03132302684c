/* kernels/vulkan/templates/paged_attn.comp — paged attention (decode): one query
 * token per sequence over a KV cache split in blocks listed by a block table.
 *
 * One workgroup per (sequence, query head). Tokens are walked in steps of tn:
 * the step's physical blocks/slots are looked up once into shared memory, the
 * threads compute one score each, one thread applies the online-softmax update
 * of gen/math/common.h, and the threads then accumulate the output over the head
 * dimension. K is read through kiln_dequant() (the K cache is bound as `w`, the
 * buffer gen/math/dequant.h reads: f32, f16 or q8_0 blocks along the head);
 * V, in its own buffer, through the small loader below (same formats). */
#pragma kiln include "kernels/vulkan/templates/io.glsl"

KILN_VK_RO_BUFFER(q, 0)
/* k_cache (binding 1) is `w`, declared by io.glsl */
KILN_VK_RO_BUFFER(v, 2)
KILN_VK_RO_BUFFER(bt, 3)
KILN_VK_RO_BUFFER(sl, 4)
KILN_VK_RW_BUFFER(o, 5)

layout(push_constant) uniform kiln_vk_paged_push {
    uint n_seq, n_head, n_kv_head, hd, block_size, max_blocks;
    uint q_off, q_s0, q_s1;
    uint k_off, k_s0, k_s1, k_s2; /* byte strides: per block, per slot, per KV head */
    uint v_off, v_s0, v_s1, v_s2;
    uint bt_off, bt_s0;           /* i32 [n_seq][max_blocks] */
    uint sl_off;                  /* i32 [n_seq] */
    uint o_off, o_s0, o_s1;
    float scale;
    uint o_dtype, o_bytes;        /* o's dtype (0 f32, 1 f16, 2 bf16) and element size */
} pc;

#if KILN_HEAD_DIM > 0
#define HD KILN_HEAD_DIM
#else
#define HD 256
#endif
#define TN KILN_TN
#define NT KILN_THREADS

shared float qs[HD];
shared float os[HD];
shared float ss[TN];
shared uint phys_s[TN];
shared uint slot_s[TN];
shared float state_s[4]; /* m, l, rescale */

/* Element d of the head row of V starting at byte base. */
float kiln_vk_v(uint base, uint d)
{
#if defined(KILN_FMT_Q8_0)
    uint b = base + (d >> 5) * 34u;
    uint u = uint(v_u8[b + 2u + (d & 31u)]);
    return KILN_LD_F16(v, b) * float(int(u) - int((u & 0x80u) << 1));
#elif defined(KILN_FMT_F16)
    return KILN_LD_F16(v, base + d * 2u);
#else
    return KILN_LD_F32(v, base + d * 4u);
#endif
}

float kiln_vk_k(uint base, uint d)
{
    uint blk = d / uint(KILN_FMT_BLOCK);
    return kiln_dequant(base + blk * uint(KILN_FMT_BYTES), int(d - blk * uint(KILN_FMT_BLOCK)));
}

void main()
{
    uint gid = kiln_vk_group_id();
    uint s = gid / pc.n_head, h = gid % pc.n_head;
    if (s >= pc.n_seq) return; /* uniform over the workgroup */
    uint t = gl_LocalInvocationID.x, hd = pc.hd;
    uint kvh = h / (pc.n_head / pc.n_kv_head);
    uint len = sl_u32[(pc.sl_off >> 2) + s];

    for (uint d = t; d < hd; d += NT) {
        qs[d] = KILN_VK_LD_ACT(q, pc.q_off + s * pc.q_s0 + h * pc.q_s1 + d * KILN_VK_ACT_BYTES) * pc.scale;
        os[d] = 0.0;
    }
    if (t == 0u) {
        state_s[0] = uintBitsToFloat(0xff800000u); /* m = -inf */
        state_s[1] = 0.0;
    }
    for (uint t0 = 0u; t0 < len; t0 += TN) {
        uint steps = min(uint(TN), len - t0);
        barrier();
        for (uint j = t; j < steps; j += NT) {
            uint tok = t0 + j;
            phys_s[j] = bt_u32[(pc.bt_off + s * pc.bt_s0) / 4u + tok / pc.block_size];
            slot_s[j] = tok % pc.block_size;
        }
        barrier();
        for (uint j = t; j < steps; j += NT) {
            uint kb = pc.k_off + phys_s[j] * pc.k_s0 + slot_s[j] * pc.k_s1 + kvh * pc.k_s2;
            float dot = 0.0;
            [[dont_unroll]] for (uint d = 0u; d < hd; d++) dot += qs[d] * kiln_vk_k(kb, d);
            ss[j] = dot;
        }
        barrier();
        if (t == 0u) {
            float m_old = state_s[0], m_new = m_old;
            for (uint j = 0u; j < steps; j++) m_new = kiln_softmax_max(m_new, ss[j]);
            float c = kiln_softmax_rescale(m_old, m_new), l = state_s[1] * c;
            for (uint j = 0u; j < steps; j++) {
                float p = kiln_softmax_weight(ss[j], m_new);
                ss[j] = p;
                l += p;
            }
            state_s[0] = m_new;
            state_s[1] = l;
            state_s[2] = c;
        }
        barrier();
        float c = state_s[2];
        for (uint d = t; d < hd; d += NT) {
            float acc = os[d] * c;
            [[dont_unroll]] for (uint j = 0u; j < steps; j++)
                acc += ss[j] * kiln_vk_v(pc.v_off + phys_s[j] * pc.v_s0 + slot_s[j] * pc.v_s1 + kvh * pc.v_s2, d);
            os[d] = acc;
        }
    }
    barrier();
    float l = state_s[1];
    for (uint d = t; d < hd; d += NT)
        KILN_VK_ST_ANY(o, pc.o_dtype, pc.o_off + s * pc.o_s0 + h * pc.o_s1 + d * pc.o_bytes, l > 0.0 ? os[d] / l : 0.0);
}
