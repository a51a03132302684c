/* kernels/cuda/templates/flash_attn.cu — flash attention (prefill) for one sequence.
 *
 * q [n_q][n_head][hd], k/v [n_kv][n_kv_head][hd], o like q; query i at position
 * q_pos0 + i, KV j at position j; grouped-query heads (h reads KV head
 * h / (n_head / n_kv_head)).
 *
 * Grid (ceil(n_q / FA_Q), n_head); block KILN_THREADS. Each warp owns FA_QPW
 * queries; keys go through shared memory 32 at a time as f32. Within a tile
 * each lane scores one key against the warp's query (no shuffles for the dot
 * product), the warp runs the online-softmax update on the 32 scores, then each
 * lane accumulates the output dimensions it owns (d = lane + 32 j). Causal
 * blocks stop at the last key their last query can see, so masked tiles are
 * never loaded. head_dim: KILN_HEAD_DIM when the spec fixes it, else any size
 * up to 256 read at run time. Specs with hd 64/80/96/128/256, f16/bf16 K/V
 * and an FA2 tile (tm = threads / 2, tn 32 or 64) get the tensor-core kernel
 * of flash_attn_mma.cuh: the heuristic's default for those. */
#pragma kiln include "kernels/cuda/templates/cuda_common.cuh"

/* The tensor-core kernel serves hd 64/80/96/128/256 with f16/bf16 K/V at its
 * own tiles (kiln_cuda_fa_uses_mma: the same condition). */
#if (KILN_HEAD_DIM == 64 || KILN_HEAD_DIM == 80 || KILN_HEAD_DIM == 96 || KILN_HEAD_DIM == 128 || \
     KILN_HEAD_DIM == 256) && (defined(KILN_FMT_F16) || defined(KILN_FMT_BF16)) && \
    (KILN_THREADS == 128 || KILN_THREADS == 256) && KILN_TM == KILN_THREADS / 2 && (KILN_TN == 32 || KILN_TN == 64)
#define FA_MMA 1
#pragma kiln include "kernels/cuda/templates/flash_attn_mma.cuh"
#else
#define FA_MMA 0
#endif

#if !FA_MMA
#define FA_WARPS (KILN_THREADS / 32)
#define FA_QPW (KILN_TM > FA_WARPS ? KILN_TM / FA_WARPS : 1) /* queries per warp */
#define FA_Q (FA_WARPS * FA_QPW)                            /* queries per block */
#define FA_KT 32                                            /* keys per tile: one per lane */
#if KILN_HEAD_DIM > 0
#define FA_HD_MAX KILN_HEAD_DIM
#else
#define FA_HD_MAX 256
#endif
#define FA_DPL ((FA_HD_MAX + 31) / 32) /* output dimensions per lane */

KILN_DYNAMIC_SHARED(float, kiln_fa_smem);

KILN_KERNEL(KILN_THREADS, KILN_ENTRY, kiln_cu_flash_args, a)
{
#if KILN_HEAD_DIM > 0
    const int hd = KILN_HEAD_DIM;
#else
    const int hd = a.head_dim;
#endif
    const int ks = hd + 1; /* odd row stride: lane j reading key j's row hits bank j */
    float *sk = kiln_fa_smem;          /* [FA_KT][ks] */
    float *sv = sk + FA_KT * ks;       /* [FA_KT][ks] */
    float *sq = sv + FA_KT * ks;       /* [FA_Q][hd], pre-scaled */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int h = blockIdx.y, kh = h / (a.n_head / a.n_kv_head);
    const int q0 = blockIdx.x * FA_Q;

    for (int e = tid; e < FA_Q * hd; e += KILN_THREADS) {
        const int qi = q0 + e / hd, d = e % hd;
        sq[e] = qi < a.n_q ? a.scale * kiln_cu_load_rt(kiln_cu_ptr(a.q, qi * a.q_s0 + h * a.q_s1), d, a.q_type) : 0.0f;
    }

    const unsigned long long al = a.k | a.v | (unsigned long long)(a.k_s0 | a.k_s1 | a.v_s0 | a.v_s1);
    const int vec = (al & 15ull) == 0 && hd % kiln_cu_vec<KILN_FMT_T>::n == 0;

    /* The last key any query of this block can see. */
    const int q_last = q0 + FA_Q - 1 < a.n_q ? q0 + FA_Q - 1 : a.n_q - 1;
    kiln_i64 kv_end = a.n_kv;
    if (a.causal && a.q_pos0 + q_last + 1 < kv_end) kv_end = a.q_pos0 + q_last + 1;

    float m[FA_QPW], l[FA_QPW], o[FA_QPW][FA_DPL];
#pragma unroll
    for (int qq = 0; qq < FA_QPW; qq++) {
        m[qq] = KILN_CU_NEG_INF;
        l[qq] = 0.0f;
#pragma unroll
        for (int j = 0; j < FA_DPL; j++) o[qq][j] = 0.0f;
    }

    for (kiln_i64 t0 = 0; t0 < kv_end; t0 += FA_KT) {
        __syncthreads();
        if (vec) {
            constexpr int VE = kiln_cu_vec<KILN_FMT_T>::n;
            const int per_row = hd / VE;
            for (int e = tid; e < FA_KT * per_row; e += KILN_THREADS) {
                const int j = e / per_row, d = (e % per_row) * VE;
                const kiln_i64 key = t0 + j;
                float kv[VE], vv[VE];
                if (key < kv_end) {
                    kiln_cu_load16<KILN_FMT_T>(kiln_cu_ptr(a.k, key * a.k_s0 + kh * a.k_s1) +
                                                   d * kiln_cu_size<KILN_FMT_T>::bytes, kv);
                    kiln_cu_load16<KILN_FMT_T>(kiln_cu_ptr(a.v, key * a.v_s0 + kh * a.v_s1) +
                                                   d * kiln_cu_size<KILN_FMT_T>::bytes, vv);
                } else {
#pragma unroll
                    for (int q = 0; q < VE; q++) kv[q] = vv[q] = 0.0f;
                }
#pragma unroll
                for (int q = 0; q < VE; q++) {
                    sk[j * ks + d + q] = kv[q];
                    sv[j * ks + d + q] = vv[q];
                }
            }
        } else
        for (int e = tid; e < FA_KT * hd; e += KILN_THREADS) {
            const int j = e / hd, d = e % hd;
            const kiln_i64 key = t0 + j;
            float kv = 0.0f, vv = 0.0f;
            if (key < kv_end) {
                kv = kiln_cu_load<KILN_FMT_T>(kiln_cu_ptr(a.k, key * a.k_s0 + kh * a.k_s1), d);
                vv = kiln_cu_load<KILN_FMT_T>(kiln_cu_ptr(a.v, key * a.v_s0 + kh * a.v_s1), d);
            }
            sk[j * ks + d] = kv;
            sv[j * ks + d] = vv;
        }
        __syncthreads();
#pragma unroll
        for (int qq = 0; qq < FA_QPW; qq++) {
            const int ql = warp * FA_QPW + qq, qi = q0 + ql;
            if (qi >= a.n_q) continue; /* warp-uniform */
            const kiln_i64 key = t0 + lane;
            const kiln_i64 limit = a.causal ? a.q_pos0 + qi : kv_end - 1;
            float s = KILN_CU_NEG_INF;
            if (key < kv_end && key <= limit) {
                const float *qv = sq + ql * hd, *kr = sk + lane * ks;
                float acc = 0.0f;
                for (int d = 0; d < hd; d++) acc = fmaf(qv[d], kr[d], acc);
                s = acc;
            }
            const float m_new = fmaxf(m[qq], kiln_cu_warp_max(s));
            if (m_new == KILN_CU_NEG_INF) continue; /* nothing visible yet */
            const float p = s == KILN_CU_NEG_INF ? 0.0f : __expf(s - m_new);
            const float alpha = __expf(m[qq] - m_new); /* 0 on the first visible tile */
            l[qq] = l[qq] * alpha + kiln_cu_warp_sum(p);
            m[qq] = m_new;
#pragma unroll
            for (int j = 0; j < FA_DPL; j++) o[qq][j] *= alpha;
            for (int jk = 0; jk < FA_KT; jk++) {
                const float pj = __shfl_sync(0xffffffffu, p, jk);
                if (pj != 0.0f) { /* uniform across the warp */
#pragma unroll
                    for (int j = 0; j < FA_DPL; j++) {
                        const int d = lane + 32 * j;
                        if (d < hd) o[qq][j] = fmaf(pj, sv[jk * ks + d], o[qq][j]);
                    }
                }
            }
        }
    }

#pragma unroll
    for (int qq = 0; qq < FA_QPW; qq++) {
        const int qi = q0 + warp * FA_QPW + qq;
        if (qi >= a.n_q) continue;
        const float inv = l[qq] > 0.0f ? 1.0f / l[qq] : 0.0f;
        kiln_u8 *orow = kiln_cu_wptr(a.o, qi * a.o_s0 + h * a.o_s1);
#pragma unroll
        for (int j = 0; j < FA_DPL; j++) {
            const int d = lane + 32 * j;
            if (d < hd) kiln_cu_store_rt(orow, d, o[qq][j] * inv, a.o_type);
        }
    }
}
#endif /* !FA_MMA */
