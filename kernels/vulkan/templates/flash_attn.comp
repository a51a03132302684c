/* kernels/vulkan/templates/flash_attn.comp — flash attention (prefill), FA2 style.
 *
 * One workgroup per (tile of tm queries, query head). The Q tile (pre-scaled)
 * and the output accumulator live in shared memory; K/V are walked in steps of
 * tn keys: scores for the tile, then the online-softmax update of
 * gen/math/common.h per query row, then O = O * rescale + P . V. Causal tiles
 * stop at the last key the tile's last query sees. Grouped-query attention:
 * query head h reads KV head h / (n_head / n_kv_head).
 * Shared memory scales with tm x head size, so the host picks tm per head size
 * (kiln_gen_launch_vulkan gives the exact bytes; the generic hd=0 kernel is sized
 * for heads up to 256). */
#pragma kiln include "kernels/vulkan/templates/io.glsl"

KILN_VK_RO_BUFFER(q, 0)
KILN_VK_RO_BUFFER(k, 1)
KILN_VK_RO_BUFFER(v, 2)
KILN_VK_RW_BUFFER(o, 3)

layout(push_constant) uniform kiln_vk_flash_push {
    uint n_q, n_kv, n_head, n_kv_head, hd;
    uint q_off, q_s0, q_s1; /* byte strides: per query, per head */
    uint k_off, k_s0, k_s1;
    uint v_off, v_s0, v_s1;
    uint o_off, o_s0, o_s1;
    float scale;
    uint causal;
    uint q_pos0;
    uint groups_q;          /* workgroups along the queries (the rest index heads) */
    uint o_dtype, o_bytes;  /* o's dtype (0 f32, 1 f16, 2 bf16) and element size */
} pc;

#if KILN_HEAD_DIM > 0
#define HD KILN_HEAD_DIM
#else
#define HD 256
#endif
#define TM KILN_TM
#define TN KILN_TN
#define NT KILN_THREADS

#if defined(KILN_FMT_F32)
#define KV_LD(b, off) KILN_LD_F32(b, off)
#define KV_BYTES 4u
#elif defined(KILN_FMT_F16)
#define KV_LD(b, off) KILN_LD_F16(b, off)
#define KV_BYTES 2u
#else
#define KV_LD(b, off) KILN_LD_BF16(b, off)
#define KV_BYTES 2u
#endif

shared float qs[TM * HD];
shared float os[TM * HD];
shared float ss[TM * TN];
shared float m_s[TM];
shared float l_s[TM];
shared float c_s[TM];

bool kiln_vk_visible(uint r, uint rows, uint kvj, uint kv_end, uint q0)
{
    return r < rows && kvj < kv_end && (pc.causal == 0u || kvj <= pc.q_pos0 + q0 + r);
}

void main()
{
    uint gid = kiln_vk_group_id();
    uint h = gid / pc.groups_q, q0 = (gid % pc.groups_q) * TM;
    if (h >= pc.n_head) return; /* uniform over the workgroup */
    uint t = gl_LocalInvocationID.x, hd = pc.hd;
    uint kvh = h / (pc.n_head / pc.n_kv_head);
    uint rows = min(uint(TM), pc.n_q - q0);

    for (uint e = t; e < TM * hd; e += NT) {
        uint r = e / hd, d = e % hd;
        qs[r * HD + d] = r < rows ? KILN_VK_LD_ACT(q, pc.q_off + (q0 + r) * pc.q_s0 + h * pc.q_s1 + d * KILN_VK_ACT_BYTES) * pc.scale : 0.0;
        os[r * HD + d] = 0.0;
    }
    if (t < TM) {
        m_s[t] = uintBitsToFloat(0xff800000u); /* -inf: nothing seen yet */
        l_s[t] = 0.0;
    }
    uint kv_end = pc.n_kv;
    if (pc.causal != 0u) kv_end = min(kv_end, pc.q_pos0 + q0 + rows);

    for (uint kv0 = 0u; kv0 < kv_end; kv0 += TN) {
        barrier();
        for (uint e = t; e < TM * TN; e += NT) {
            uint r = e / TN, kvj = kv0 + e % TN;
            float s = 0.0;
            if (kiln_vk_visible(r, rows, kvj, kv_end, q0)) {
                uint kb = pc.k_off + kvj * pc.k_s0 + kvh * pc.k_s1;
                [[dont_unroll]] for (uint d = 0u; d < hd; d++) s += qs[r * HD + d] * KV_LD(k, kb + d * KV_BYTES);
            }
            ss[e] = s;
        }
        barrier();
        if (t < TM) {
            float m_old = m_s[t], m_new = m_old;
            for (uint j = 0u; j < TN; j++)
                if (kiln_vk_visible(t, rows, kv0 + j, kv_end, q0)) m_new = kiln_softmax_max(m_new, ss[t * TN + j]);
            float c = kiln_softmax_rescale(m_old, m_new), l = l_s[t] * c;
            for (uint j = 0u; j < TN; j++) {
                float p = 0.0;
                if (kiln_vk_visible(t, rows, kv0 + j, kv_end, q0)) p = kiln_softmax_weight(ss[t * TN + j], m_new);
                ss[t * TN + j] = p;
                l += p;
            }
            m_s[t] = m_new;
            l_s[t] = l;
            c_s[t] = c;
        }
        barrier();
        uint steps = min(uint(TN), kv_end - kv0);
        for (uint e = t; e < TM * hd; e += NT) {
            uint r = e / hd, d = e % hd;
            if (r >= rows) continue;
            float acc = os[r * HD + d] * c_s[r];
            [[dont_unroll]] for (uint j = 0u; j < steps; j++)
                acc += ss[r * TN + j] * KV_LD(v, pc.v_off + (kv0 + j) * pc.v_s0 + kvh * pc.v_s1 + d * KV_BYTES);
            os[r * HD + d] = acc;
        }
    }
    barrier();
    for (uint e = t; e < TM * hd; e += NT) {
        uint r = e / hd, d = e % hd;
        if (r >= rows) continue;
        float l = l_s[r];
        KILN_VK_ST_ANY(o, pc.o_dtype, pc.o_off + (q0 + r) * pc.o_s0 + h * pc.o_s1 + d * pc.o_bytes, l > 0.0 ? os[r * HD + d] / l : 0.0);
    }
}
