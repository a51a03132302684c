/* kernels/cuda/templates/flash_attn_mma.cuh — flash attention on the tensor cores (FA2 style).
 *
 * Included by flash_attn.cu for specs with hd 64 or 128, f16/bf16 K/V and the
 * tiles tm=64 tn=64 threads=128 (kiln_cuda_fa_uses_mma in cuda_geometry.h).
 * Grid (ceil(n_q / 64), n_head); 4 warps, each owning 16 queries.
 *
 * Per 64-key tile: K [64][hd] and V transposed [hd][64] land in shared memory
 * (16-byte loads); S = Q·Kᵀ with mma.sync m16n8k16 (Q fragments stay in
 * registers for the whole kernel); scale, causal/length mask, online softmax
 * on the accumulator layout (each thread holds two rows, g and g+8, reduced
 * across the 4 threads of a quad); P is repacked from the S accumulators
 * straight into A fragments (no shared-memory round trip) and O += P·V with
 * mma.sync. Causal blocks stop at the last key their last query sees.
 * Q may be any float type (converted while staged); o is written in its own
 * type. Accumulation in f32. */

#define FM_BQ 64
#define FM_BK 64
#define FM_HD KILN_HEAD_DIM
#define FM_QS (FM_HD + 8) /* smem row stride (16-bit elements) of Q and K: conflict-free fragments */
#define FM_VS (FM_BK + 8) /* smem row stride of Vᵀ */

#if defined(KILN_FMT_BF16)
#define FM_BF16 true
KILN_FN kiln_u16 kiln_fm_pack(float v) { return kiln_cu_f2bf(v); }
#else
#define FM_BF16 false
KILN_FN kiln_u16 kiln_fm_pack(float v) { return kiln_cu_f2h(v); }
#endif
KILN_FN kiln_u32 kiln_fm_pack2(float lo, float hi)
{
    return (kiln_u32)kiln_fm_pack(lo) | ((kiln_u32)kiln_fm_pack(hi) << 16);
}

KILN_FN void kiln_fm_mma(float (&c)[4], kiln_u32 a0, kiln_u32 a1, kiln_u32 a2, kiln_u32 a3, kiln_u32 b0, kiln_u32 b1)
{
    const kiln_u32 a[4] = {a0, a1, a2, a3}, b[2] = {b0, b1};
    kiln_arch_mma_m16n8k16<FM_BF16>(c, a, b);
}

KILN_DYNAMIC_SHARED(kiln_u16, kiln_fm_smem);

KILN_KERNEL(128, KILN_ENTRY, kiln_cu_flash_args, a)
{
    kiln_u16 *sq = kiln_fm_smem;          /* [FM_BQ][FM_QS] */
    kiln_u16 *sk = sq + FM_BQ * FM_QS;    /* [FM_BK][FM_QS] */
    kiln_u16 *svt = sk + FM_BK * FM_QS;   /* [FM_HD][FM_VS] */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int h = blockIdx.y, kh = h / (a.n_head / a.n_kv_head);
    const int q0 = blockIdx.x * FM_BQ;
    const unsigned long long al = a.k | a.v | (unsigned long long)(a.k_s0 | a.k_s1 | a.v_s0 | a.v_s1);
    const int vec = (al & 15ull) == 0;

    for (int e = tid; e < FM_BQ * FM_HD; e += 128) {
        const int r = e / FM_HD, d = e % FM_HD, qi = q0 + r;
        const float v = qi < a.n_q ? kiln_cu_load_rt(kiln_cu_ptr(a.q, qi * a.q_s0 + h * a.q_s1), d, a.q_type) : 0.0f;
        sq[r * FM_QS + d] = kiln_fm_pack(v);
    }
    __syncthreads();
    kiln_u32 qf[FM_HD / 16][4];
#pragma unroll
    for (int kc = 0; kc < FM_HD / 16; kc++) {
        const kiln_u16 *p = sq + (warp * 16 + g) * FM_QS + kc * 16 + 2 * t;
        qf[kc][0] = *(const kiln_u32 *)p;
        qf[kc][1] = *(const kiln_u32 *)(p + 8 * FM_QS);
        qf[kc][2] = *(const kiln_u32 *)(p + 8);
        qf[kc][3] = *(const kiln_u32 *)(p + 8 * FM_QS + 8);
    }

    const int qa = q0 + warp * 16 + g, qb = qa + 8; /* this thread's two query rows */
    const int q_last = q0 + FM_BQ < a.n_q ? q0 + FM_BQ - 1 : a.n_q - 1;
    kiln_i64 kv_end = a.n_kv;
    if (a.causal && a.q_pos0 + q_last + 1 < kv_end) kv_end = a.q_pos0 + q_last + 1;
    const kiln_i64 lim_a = a.causal ? a.q_pos0 + qa : kv_end - 1, lim_b = a.causal ? a.q_pos0 + qb : kv_end - 1;

    float o[FM_HD / 8][4];
#pragma unroll
    for (int nd = 0; nd < FM_HD / 8; nd++) o[nd][0] = o[nd][1] = o[nd][2] = o[nd][3] = 0.0f;
    float m_a = KILN_CU_NEG_INF, m_b = KILN_CU_NEG_INF, l_a = 0.0f, l_b = 0.0f;

    for (kiln_i64 t0 = 0; t0 < kv_end; t0 += FM_BK) {
        __syncthreads(); /* the previous tile's fragments are read */
        for (int e = tid; e < FM_BK * (FM_HD / 8); e += 128) {
            const int j = e / (FM_HD / 8), d = (e % (FM_HD / 8)) * 8;
            const kiln_i64 key = t0 + j;
            uint4 kq = make_uint4(0u, 0u, 0u, 0u), vq = make_uint4(0u, 0u, 0u, 0u);
            if (key < kv_end) {
                const kiln_u8 *kr = kiln_cu_ptr(a.k, key * a.k_s0 + kh * a.k_s1) + d * 2;
                const kiln_u8 *vr = kiln_cu_ptr(a.v, key * a.v_s0 + kh * a.v_s1) + d * 2;
                if (vec) {
                    kq = kiln_arch_ld16(kr);
                    vq = kiln_arch_ld16(vr);
                } else {
                    kq = make_uint4(KILN_LD_U16(kr, 0) | (KILN_LD_U16(kr, 2) << 16), KILN_LD_U16(kr, 4) | (KILN_LD_U16(kr, 6) << 16),
                                    KILN_LD_U16(kr, 8) | (KILN_LD_U16(kr, 10) << 16), KILN_LD_U16(kr, 12) | (KILN_LD_U16(kr, 14) << 16));
                    vq = make_uint4(KILN_LD_U16(vr, 0) | (KILN_LD_U16(vr, 2) << 16), KILN_LD_U16(vr, 4) | (KILN_LD_U16(vr, 6) << 16),
                                    KILN_LD_U16(vr, 8) | (KILN_LD_U16(vr, 10) << 16), KILN_LD_U16(vr, 12) | (KILN_LD_U16(vr, 14) << 16));
                }
            }
            kiln_arch_st16(sk + j * FM_QS + d, kq);
            const unsigned int vw[4] = {vq.x, vq.y, vq.z, vq.w};
#pragma unroll
            for (int i = 0; i < 4; i++) {
                svt[(d + 2 * i) * FM_VS + j] = (kiln_u16)(vw[i] & 0xffffu);
                svt[(d + 2 * i + 1) * FM_VS + j] = (kiln_u16)(vw[i] >> 16);
            }
        }
        __syncthreads();

        /* S = Q Kᵀ: 16 rows x 64 keys per warp */
        float s[FM_BK / 8][4];
#pragma unroll
        for (int nb = 0; nb < FM_BK / 8; nb++) {
            s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.0f;
#pragma unroll
            for (int kc = 0; kc < FM_HD / 16; kc++) {
                const kiln_u16 *pk = sk + (nb * 8 + g) * FM_QS + kc * 16 + 2 * t;
                kiln_fm_mma(s[nb], qf[kc][0], qf[kc][1], qf[kc][2], qf[kc][3], *(const kiln_u32 *)pk,
                            *(const kiln_u32 *)(pk + 8));
            }
        }

        /* scale and mask; row maxima over the quad */
        float mx_a = m_a, mx_b = m_b;
#pragma unroll
        for (int nb = 0; nb < FM_BK / 8; nb++)
#pragma unroll
            for (int q = 0; q < 4; q++) {
                const kiln_i64 key = t0 + nb * 8 + 2 * t + (q & 1);
                const kiln_i64 lim = q < 2 ? lim_a : lim_b;
                const float v = key < kv_end && key <= lim ? s[nb][q] * a.scale : KILN_CU_NEG_INF;
                s[nb][q] = v;
                if (q < 2) mx_a = fmaxf(mx_a, v);
                else mx_b = fmaxf(mx_b, v);
            }
        mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 1));
        mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 2));
        mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 1));
        mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 2));
        /* Rows with nothing visible yet keep m = -inf: rescale by 1, p = 0. */
        const float alpha_a = mx_a == KILN_CU_NEG_INF ? 1.0f : __expf(m_a - mx_a);
        const float alpha_b = mx_b == KILN_CU_NEG_INF ? 1.0f : __expf(m_b - mx_b);
        m_a = mx_a;
        m_b = mx_b;
        float sum_a = 0.0f, sum_b = 0.0f;
#pragma unroll
        for (int nb = 0; nb < FM_BK / 8; nb++)
#pragma unroll
            for (int q = 0; q < 4; q++) {
                const float mm = q < 2 ? m_a : m_b;
                const float p = s[nb][q] == KILN_CU_NEG_INF ? 0.0f : __expf(s[nb][q] - mm);
                s[nb][q] = p;
                if (q < 2) sum_a += p;
                else sum_b += p;
            }
        l_a = l_a * alpha_a + sum_a; /* per-thread partial; the quad sum comes at the end */
        l_b = l_b * alpha_b + sum_b;
#pragma unroll
        for (int nd = 0; nd < FM_HD / 8; nd++) {
            o[nd][0] *= alpha_a, o[nd][1] *= alpha_a;
            o[nd][2] *= alpha_b, o[nd][3] *= alpha_b;
        }

        /* O += P V: the S accumulators of key blocks 2j, 2j+1 are the A fragment of keys 16j..16j+15 */
#pragma unroll
        for (int j = 0; j < FM_BK / 16; j++) {
            const kiln_u32 a0 = kiln_fm_pack2(s[2 * j][0], s[2 * j][1]);
            const kiln_u32 a1 = kiln_fm_pack2(s[2 * j][2], s[2 * j][3]);
            const kiln_u32 a2 = kiln_fm_pack2(s[2 * j + 1][0], s[2 * j + 1][1]);
            const kiln_u32 a3 = kiln_fm_pack2(s[2 * j + 1][2], s[2 * j + 1][3]);
#pragma unroll
            for (int nd = 0; nd < FM_HD / 8; nd++) {
                const kiln_u16 *pv = svt + (nd * 8 + g) * FM_VS + j * 16 + 2 * t;
                kiln_fm_mma(o[nd], a0, a1, a2, a3, *(const kiln_u32 *)pv, *(const kiln_u32 *)(pv + 8));
            }
        }
    }

    l_a += __shfl_xor_sync(0xffffffffu, l_a, 1);
    l_a += __shfl_xor_sync(0xffffffffu, l_a, 2);
    l_b += __shfl_xor_sync(0xffffffffu, l_b, 1);
    l_b += __shfl_xor_sync(0xffffffffu, l_b, 2);
    const float inv_a = l_a > 0.0f ? 1.0f / l_a : 0.0f, inv_b = l_b > 0.0f ? 1.0f / l_b : 0.0f;
    if (qa < a.n_q) {
        kiln_u8 *orow = kiln_cu_wptr(a.o, qa * a.o_s0 + h * a.o_s1);
#pragma unroll
        for (int nd = 0; nd < FM_HD / 8; nd++) {
            kiln_cu_store_rt(orow, nd * 8 + 2 * t, o[nd][0] * inv_a, a.o_type);
            kiln_cu_store_rt(orow, nd * 8 + 2 * t + 1, o[nd][1] * inv_a, a.o_type);
        }
    }
    if (qb < a.n_q) {
        kiln_u8 *orow = kiln_cu_wptr(a.o, qb * a.o_s0 + h * a.o_s1);
#pragma unroll
        for (int nd = 0; nd < FM_HD / 8; nd++) {
            kiln_cu_store_rt(orow, nd * 8 + 2 * t, o[nd][2] * inv_b, a.o_type);
            kiln_cu_store_rt(orow, nd * 8 + 2 * t + 1, o[nd][3] * inv_b, a.o_type);
        }
    }
}
