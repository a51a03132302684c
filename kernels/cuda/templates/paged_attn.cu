/* kernels/cuda/templates/paged_attn.cu — paged attention (decode): one query per sequence.
 *
 * q [n_seq][n_head][hd]; K/V caches [n_blocks][block_size][n_kv_head][hd] of f32,
 * f16 or q8_0 (blocks of 32 along hd); block_table i32 [n_seq][max_blocks];
 * seq_lens i32 [n_seq].
 *
 * Main kernel, grid (n_kv_head * head_groups, n_seq, n_split): a block takes
 * one KV head, the query heads that share it (up to PA_WARPS * PA_QPW of them,
 * so each KV token is read once for the whole group) and one split of the
 * sequence. KV tokens pass through shared memory as f32, 32 at a time, one
 * key per lane for scoring; the warp runs the online softmax, then lanes
 * accumulate their output dimensions. With one split the block writes o
 * directly; with several it writes (max, sum, unnormalized o) per split to the
 * workspace and the _combine kernel, grid (n_head, n_seq), merges them. */
#pragma kiln include "kernels/cuda/templates/cuda_common.cuh"

#define PA_WARPS (KILN_THREADS / 32)
#define PA_QPW 4 /* query heads per warp */
#define PA_HEADS (PA_WARPS * PA_QPW)
#define PA_KT 32
#if KILN_HEAD_DIM > 0
#define PA_HD_MAX KILN_HEAD_DIM
#else
#define PA_HD_MAX 256
#endif
#define PA_DPL ((PA_HD_MAX + 31) / 32)

KILN_DYNAMIC_SHARED(float, kiln_pa_smem);

/* Row of token t of the cache (K or V) for KV head kh of sequence seq. */
KILN_FN const kiln_u8 *kiln_pa_row(const kiln_cu_paged_args &a, unsigned long long cache, kiln_i64 s0, kiln_i64 s1,
                                   kiln_i64 s2, int seq, int t, int kh)
{
    const int blk = *(const int *)kiln_cu_ptr(a.bt, seq * a.bt_s0 + (kiln_i64)(t / a.block_size) * 4);
    return kiln_cu_ptr(cache, blk * s0 + (kiln_i64)(t % a.block_size) * s1 + kh * s2);
}

KILN_FN float kiln_pa_elem(const kiln_u8 *row, int d)
{
    return kiln_dequant(row, (kiln_u32)((d / KILN_FMT_BLOCK) * KILN_FMT_BYTES), d % KILN_FMT_BLOCK);
}

KILN_KERNEL(KILN_THREADS, KILN_ENTRY, kiln_cu_paged_args, a)
{
#if KILN_HEAD_DIM > 0
    const int hd = KILN_HEAD_DIM;
#else
    const int hd = a.head_dim;
#endif
    const int ks = hd + 1;
    float *sk = kiln_pa_smem;      /* [PA_KT][ks] */
    float *sv = sk + PA_KT * ks;   /* [PA_KT][ks] */
    float *sq = sv + PA_KT * ks;   /* [PA_HEADS][hd], pre-scaled */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int group = a.n_head / a.n_kv_head;
    const int groups_per_kv = (group + PA_HEADS - 1) / PA_HEADS;
    const int kh = blockIdx.x / groups_per_kv;
    const int h0 = kh * group + (blockIdx.x % groups_per_kv) * PA_HEADS; /* first query head of the block */
    const int h_end = kh * group + group;
    const int seq = blockIdx.y, split = blockIdx.z;
    const int seq_len = *(const int *)kiln_cu_ptr(a.sl, (kiln_i64)seq * 4);
    const int t_begin = split * a.split_len;
    const int t_end = t_begin + a.split_len < seq_len ? t_begin + a.split_len : seq_len;
#if !defined(KILN_FMT_Q8_0)
    const unsigned long long al = a.kc | a.vc | (unsigned long long)(a.kc_s0 | a.kc_s1 | a.kc_s2) |
                                  (unsigned long long)(a.vc_s0 | a.vc_s1 | a.vc_s2);
    const int vec = (al & 15ull) == 0 && hd % kiln_cu_vec<KILN_FMT_T>::n == 0;
#endif

    for (int e = tid; e < PA_HEADS * hd; e += KILN_THREADS) {
        const int h = h0 + e / hd, d = e % hd;
        sq[e] = h < h_end ? a.scale * kiln_cu_load_rt(kiln_cu_ptr(a.q, seq * a.q_s0 + h * a.q_s1), d, a.q_type) : 0.0f;
    }

    float m[PA_QPW], l[PA_QPW], o[PA_QPW][PA_DPL];
#pragma unroll
    for (int qq = 0; qq < PA_QPW; qq++) {
        m[qq] = KILN_CU_NEG_INF;
        l[qq] = 0.0f;
#pragma unroll
        for (int j = 0; j < PA_DPL; j++) o[qq][j] = 0.0f;
    }

    for (int t0 = t_begin; t0 < t_end; t0 += PA_KT) {
        __syncthreads();
#if !defined(KILN_FMT_Q8_0)
        if (vec) {
            /* 16-byte loads; the block-table entry of a token is one L1 hit per vector */
            constexpr int VE = kiln_cu_vec<KILN_FMT_T>::n;
            const int per_row = hd / VE;
            for (int e = tid; e < PA_KT * per_row; e += KILN_THREADS) {
                const int j = e / per_row, d = (e % per_row) * VE, t = t0 + j;
                float kv[VE], vv[VE];
                if (t < t_end) {
                    kiln_cu_load16<KILN_FMT_T>(kiln_pa_row(a, a.kc, a.kc_s0, a.kc_s1, a.kc_s2, seq, t, kh) +
                                                   d * kiln_cu_size<KILN_FMT_T>::bytes, kv);
                    kiln_cu_load16<KILN_FMT_T>(kiln_pa_row(a, a.vc, a.vc_s0, a.vc_s1, a.vc_s2, seq, t, kh) +
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
#endif
        for (int e = tid; e < PA_KT * hd; e += KILN_THREADS) {
            const int j = e / hd, d = e % hd, t = t0 + j;
            float kv = 0.0f, vv = 0.0f;
            if (t < t_end) {
                kv = kiln_pa_elem(kiln_pa_row(a, a.kc, a.kc_s0, a.kc_s1, a.kc_s2, seq, t, kh), d);
                vv = kiln_pa_elem(kiln_pa_row(a, a.vc, a.vc_s0, a.vc_s1, a.vc_s2, seq, t, kh), d);
            }
            sk[j * ks + d] = kv;
            sv[j * ks + d] = vv;
        }
        __syncthreads();
#pragma unroll
        for (int qq = 0; qq < PA_QPW; qq++) {
            const int hl = warp * PA_QPW + qq;
            if (h0 + hl >= h_end) continue; /* warp-uniform */
            float s = KILN_CU_NEG_INF;
            if (t0 + lane < t_end) {
                const float *qv = sq + hl * hd, *kr = sk + lane * ks;
                float acc = 0.0f;
                for (int d = 0; d < hd; d++) acc = fmaf(qv[d], kr[d], acc);
                s = acc;
            }
            const float m_new = fmaxf(m[qq], kiln_cu_warp_max(s)); /* finite: lane 0's token is valid */
            const float p = s == KILN_CU_NEG_INF ? 0.0f : __expf(s - m_new);
            const float alpha = __expf(m[qq] - m_new);
            l[qq] = l[qq] * alpha + kiln_cu_warp_sum(p);
            m[qq] = m_new;
#pragma unroll
            for (int j = 0; j < PA_DPL; j++) o[qq][j] *= alpha;
            for (int jk = 0; jk < PA_KT; jk++) {
                const float pj = __shfl_sync(0xffffffffu, p, jk);
                if (pj != 0.0f) {
#pragma unroll
                    for (int j = 0; j < PA_DPL; j++) {
                        const int d = lane + 32 * j;
                        if (d < hd) o[qq][j] = fmaf(pj, sv[jk * ks + d], o[qq][j]);
                    }
                }
            }
        }
    }

#pragma unroll
    for (int qq = 0; qq < PA_QPW; qq++) {
        const int h = h0 + warp * PA_QPW + qq;
        if (h >= h_end) continue;
        if (a.n_split == 1) {
            const float inv = l[qq] > 0.0f ? 1.0f / l[qq] : 0.0f;
            kiln_u8 *orow = kiln_cu_wptr(a.o, seq * a.o_s0 + h * a.o_s1);
#pragma unroll
            for (int j = 0; j < PA_DPL; j++) {
                const int d = lane + 32 * j;
                if (d < hd) kiln_cu_store_rt(orow, d, o[qq][j] * inv, a.o_type);
            }
        } else {
            float *part = (float *)kiln_cu_wptr(a.ws, (((kiln_i64)seq * a.n_head + h) * a.n_split + split) *
                                                          (kiln_i64)(hd + 2) * 4);
            if (lane == 0) part[0] = m[qq], part[1] = l[qq];
#pragma unroll
            for (int j = 0; j < PA_DPL; j++) {
                const int d = lane + 32 * j;
                if (d < hd) part[2 + d] = o[qq][j];
            }
        }
    }
}

/* Merge the splits of one (head, sequence): o = sum_s e^(m_s - M) o_s / sum_s e^(m_s - M) l_s. */
KILN_KERNEL(KILN_THREADS, KILN_CAT(KILN_ENTRY, _combine), kiln_cu_paged_args, a)
{
    const int hd = a.head_dim;
    const int h = blockIdx.x, seq = blockIdx.y;
    const float *parts = (const float *)kiln_cu_ptr(a.ws, ((kiln_i64)seq * a.n_head + h) * a.n_split *
                                                              (kiln_i64)(hd + 2) * 4);
    float mx = KILN_CU_NEG_INF;
    for (int s = 0; s < a.n_split; s++) mx = fmaxf(mx, parts[s * (hd + 2)]);
    float l = 0.0f;
    for (int s = 0; s < a.n_split; s++) {
        const float ms = parts[s * (hd + 2)];
        if (ms != KILN_CU_NEG_INF) l += __expf(ms - mx) * parts[s * (hd + 2) + 1];
    }
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    kiln_u8 *orow = kiln_cu_wptr(a.o, seq * a.o_s0 + h * a.o_s1);
    for (int d = threadIdx.x; d < hd; d += KILN_THREADS) {
        float acc = 0.0f;
        for (int s = 0; s < a.n_split; s++) {
            const float ms = parts[s * (hd + 2)];
            if (ms != KILN_CU_NEG_INF) acc += __expf(ms - mx) * parts[s * (hd + 2) + 2 + d];
        }
        kiln_cu_store_rt(orow, d, acc * inv, a.o_type);
    }
}
