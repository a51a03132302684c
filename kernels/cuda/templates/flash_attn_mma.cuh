/* kernels/cuda/templates/flash_attn_mma.cuh — flash attention on the tensor cores (FA2 style).
 *
 * Included by flash_attn.cu for specs with hd 64/80/96/128/256, f16/bf16 K/V
 * and an FA2 tile (kiln_cuda_fa_uses_mma in cuda_geometry.h): tm = 16 queries
 * per warp (threads / 2), tn = 32 or 64 keys per tile. Grid (ceil(n_q / tm),
 * n_head); a query head h reads KV head h / (n_head / n_kv_head).
 *
 * Shared memory, 16-bit rows padded to hd + 8 elements (a row stride that is
 * an odd number of 16-byte units, so the 8 rows of an ldmatrix matrix and the
 * 8 rows a quarter-warp's cp.async writes fall in 8 distinct bank groups):
 *   Q [tm][hd]                staged once (any float type, converted)
 *   K [2][tn][hd], V [2][tn][hd]   row-major, double-buffered
 * K/V tiles arrive by cp.async (16 bytes per lane; a warp takes 16 rows x 2
 * chunks: 16 whole 32-byte sectors of global memory) one tile ahead of the
 * math, so the next tile's loads fly during this tile's mma. Per tile and
 * warp: S = Q·Kᵀ on mma.sync m16n8k16 with Q fragments by ldmatrix and K's by
 * ldmatrix (K rows are the B matrix's columns), scale, mask only on the tiles
 * that need it, online softmax on the accumulator layout (each thread holds
 * rows g and g+8, reduced over the 4 threads of a quad), P repacked from the
 * S accumulators into A fragments, O += P·V with V's fragments by
 * ldmatrix.trans straight from the row-major tile. Causal: a block stops at
 * the last key its last query sees, and a warp skips the tiles wholly after
 * its queries. o is written in its own type; accumulation in f32. */

#define FM_WARPS (KILN_THREADS / 32)
#define FM_BQ (16 * FM_WARPS)
#define FM_BK KILN_TN
#define FM_HD KILN_HEAD_DIM
#define FM_S (FM_HD + 8)   /* row stride (16-bit elements) of Q, K and V */
#define FM_CPR (FM_HD / 8) /* 16-byte chunks per row */

#if defined(KILN_FMT_BF16)
#define FM_BF16 true
KILN_FN kiln_u16 kiln_fm_pack(float v) { return kiln_cu_f2bf(v); }
#else
#define FM_BF16 false
KILN_FN kiln_u16 kiln_fm_pack(float v) { return kiln_cu_f2h(v); }
#endif
KILN_FN unsigned kiln_fm_pack2(float lo, float hi)
{
    return (unsigned)kiln_fm_pack(lo) | ((unsigned)kiln_fm_pack(hi) << 16);
}

KILN_FN void kiln_fm_mma(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1)
{
    const unsigned b[2] = {b0, b1};
    kiln_arch_mma_m16n8k16<FM_BF16>(c, a, b);
}

KILN_FN uint4 kiln_fm_ld16_unaligned(const kiln_u8 *p)
{
    return make_uint4(KILN_LD_U16(p, 0) | (KILN_LD_U16(p, 2) << 16), KILN_LD_U16(p, 4) | (KILN_LD_U16(p, 6) << 16),
                      KILN_LD_U16(p, 8) | (KILN_LD_U16(p, 10) << 16), KILN_LD_U16(p, 12) | (KILN_LD_U16(p, 14) << 16));
}

/* Keys t0.. of KV head kh into sk/sv: cp.async when aligned (vec), else plain
 * loads; rows at or past kv_end are zeros (0 * a masked p stays 0). Lane
 * order: item e of the tile is row 16 (b % (BK/16)) + (e & 15), chunk
 * 2 (b / (BK/16)) + ((e >> 4) & 1), with b = e / 32. */
KILN_FN void kiln_fm_load_tile(const kiln_cu_flash_args &a, kiln_u16 *sk, kiln_u16 *sv, kiln_i64 t0, kiln_i64 kv_end,
                               int kh, bool vec)
{
    for (int e = threadIdx.x; e < FM_BK * FM_CPR; e += KILN_THREADS) {
        const int b = e >> 5, r = (b % (FM_BK / 16)) * 16 + (e & 15), c = (b / (FM_BK / 16)) * 2 + ((e >> 4) & 1);
        const kiln_i64 key = t0 + r;
        kiln_u16 *dk = sk + r * FM_S + c * 8, *dv = sv + r * FM_S + c * 8;
        if (key < kv_end) {
            const kiln_u8 *kr = kiln_cu_ptr(a.k, key * a.k_s0 + kh * a.k_s1) + c * 16;
            const kiln_u8 *vr = kiln_cu_ptr(a.v, key * a.v_s0 + kh * a.v_s1) + c * 16;
            if (vec) {
                kiln_arch_cp_async16(dk, kr);
                kiln_arch_cp_async16(dv, vr);
            } else {
                kiln_arch_st16(dk, kiln_fm_ld16_unaligned(kr));
                kiln_arch_st16(dv, kiln_fm_ld16_unaligned(vr));
            }
        } else {
            kiln_arch_st16(dk, make_uint4(0u, 0u, 0u, 0u));
            kiln_arch_st16(dv, make_uint4(0u, 0u, 0u, 0u));
        }
    }
}

KILN_DYNAMIC_SHARED(kiln_u16, kiln_fm_smem);

KILN_KERNEL(KILN_THREADS, KILN_ENTRY, kiln_cu_flash_args, a)
{
    kiln_u16 *sq = kiln_fm_smem;        /* [FM_BQ][FM_S] */
    kiln_u16 *skv = sq + FM_BQ * FM_S;  /* stage s: K at skv + 2 s BK S, V after it */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int h = blockIdx.y, kh = h / (a.n_head / a.n_kv_head);
    const int q0 = blockIdx.x * FM_BQ;
    const unsigned long long al = a.k | a.v | (unsigned long long)(a.k_s0 | a.k_s1 | a.v_s0 | a.v_s1);
    const bool vec = (al & 15ull) == 0;

    const int q_last = q0 + FM_BQ < a.n_q ? q0 + FM_BQ - 1 : a.n_q - 1;
    kiln_i64 kv_end = a.n_kv;
    if (a.causal && a.q_pos0 + q_last + 1 < kv_end) kv_end = a.q_pos0 + q_last + 1;
    const int ntiles = kv_end > 0 ? (int)((kv_end + FM_BK - 1) / FM_BK) : 0;
    if (ntiles > 0) kiln_fm_load_tile(a, skv, skv + FM_BK * FM_S, 0, kv_end, kh, vec);
    kiln_arch_cp_async_commit();

    /* Q while the first tile flies (ordered before the reads by the loop's first barrier). */
    for (int e = tid; e < FM_BQ * FM_HD; e += KILN_THREADS) {
        const int r = e / FM_HD, d = e % FM_HD, qi = q0 + r;
        const float v = qi < a.n_q ? kiln_cu_load_rt(kiln_cu_ptr(a.q, qi * a.q_s0 + h * a.q_s1), d, a.q_type) : 0.0f;
        sq[r * FM_S + d] = kiln_fm_pack(v);
    }

    const int qa = q0 + warp * 16 + g, qb = qa + 8; /* this thread's two query rows */
    /* The keys this warp's rows may see: [0, warp_end), a row r up to q_pos0 + r. */
    const int w_first = q0 + warp * 16, w_last = w_first + 15 < a.n_q ? w_first + 15 : a.n_q - 1;
    const kiln_i64 warp_end = w_first >= a.n_q                               ? 0 /* rows past the end: nothing to do */
                            : a.causal && a.q_pos0 + w_last + 1 < kv_end ? a.q_pos0 + w_last + 1
                                                                         : kv_end;
    const kiln_i64 lim_a = a.causal ? a.q_pos0 + qa : kv_end - 1, lim_b = a.causal ? a.q_pos0 + qb : kv_end - 1;
    const float sc = a.scale * 1.44269504088896341f; /* scores in log2 units: exp2f */

    float o[FM_HD / 8][4];
#pragma unroll
    for (int nd = 0; nd < FM_HD / 8; nd++) o[nd][0] = o[nd][1] = o[nd][2] = o[nd][3] = 0.0f;
    float m_a = KILN_CU_NEG_INF, m_b = KILN_CU_NEG_INF, l_a = 0.0f, l_b = 0.0f;

    /* ldmatrix row addresses (16-bit elements), fixed per lane: Q's A fragment
     * (matrices rows 0-7/8-15 x cols 0-7/8-15), K's B fragments for two 8-key
     * blocks (keys 0-7/8-15 x dims 0-7/8-15), V's for two 8-dim blocks via .trans. */
    const kiln_u16 *q_row = sq + (warp * 16 + (lane & 15)) * FM_S + (lane >> 4) * 8;
    const int k_off = ((lane & 7) + ((lane >> 4) << 3)) * FM_S + ((lane >> 3) & 1) * 8;
    const int v_off = ((lane & 7) + (((lane >> 3) & 1) << 3)) * FM_S + (lane >> 4) * 8;

    for (int it = 0; it < ntiles; it++) {
        const kiln_i64 t0 = (kiln_i64)it * FM_BK;
        kiln_u16 *ck = skv + (it & 1) * 2 * FM_BK * FM_S, *cv = ck + FM_BK * FM_S;
        if (it + 1 < ntiles) {
            kiln_u16 *nk = skv + ((it + 1) & 1) * 2 * FM_BK * FM_S;
            kiln_fm_load_tile(a, nk, nk + FM_BK * FM_S, t0 + FM_BK, kv_end, kh, vec);
        }
        kiln_arch_cp_async_commit();
        kiln_arch_cp_async_wait<1>(); /* this thread's copies of tile it have landed */
        __syncthreads();              /* ... and every thread's */

        if (t0 < warp_end) {
            /* S = Q Kᵀ: 16 rows x BK keys per warp */
            float s[FM_BK / 8][4];
#pragma unroll
            for (int nb = 0; nb < FM_BK / 8; nb++) s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.0f;
#pragma unroll
            for (int kc = 0; kc < FM_HD / 16; kc++) {
                unsigned qf[4];
                kiln_arch_ldmatrix<4, false>(qf, q_row + kc * 16);
#pragma unroll
                for (int nb2 = 0; nb2 < FM_BK / 16; nb2++) {
                    unsigned kf[4];
                    kiln_arch_ldmatrix<4, false>(kf, ck + nb2 * 16 * FM_S + kc * 16 + k_off);
                    kiln_fm_mma(s[2 * nb2], qf, kf[0], kf[1]);
                    kiln_fm_mma(s[2 * nb2 + 1], qf, kf[2], kf[3]);
                }
            }

            /* scale, mask where the tile crosses a limit; row maxima over the quad */
            const bool masked = t0 + FM_BK > kv_end || (a.causal && t0 + FM_BK - 1 > a.q_pos0 + w_first);
            float mx_a = m_a, mx_b = m_b;
#pragma unroll
            for (int nb = 0; nb < FM_BK / 8; nb++)
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    float v = s[nb][q] * sc;
                    if (masked) {
                        const kiln_i64 key = t0 + nb * 8 + 2 * t + (q & 1);
                        if (key >= kv_end || key > (q < 2 ? lim_a : lim_b)) v = KILN_CU_NEG_INF;
                    }
                    s[nb][q] = v;
                    if (q < 2) mx_a = fmaxf(mx_a, v);
                    else mx_b = fmaxf(mx_b, v);
                }
            mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 1));
            mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 2));
            mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 1));
            mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 2));
            /* Rows with nothing visible yet keep m = -inf: rescale by 1, p = 0. */
            const float alpha_a = mx_a == KILN_CU_NEG_INF ? 1.0f : exp2f(m_a - mx_a);
            const float alpha_b = mx_b == KILN_CU_NEG_INF ? 1.0f : exp2f(m_b - mx_b);
            m_a = mx_a;
            m_b = mx_b;
            float sum_a = 0.0f, sum_b = 0.0f;
#pragma unroll
            for (int nb = 0; nb < FM_BK / 8; nb++)
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    const float mm = q < 2 ? m_a : m_b;
                    const float p = s[nb][q] == KILN_CU_NEG_INF ? 0.0f : exp2f(s[nb][q] - mm);
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
                const unsigned pf[4] = {kiln_fm_pack2(s[2 * j][0], s[2 * j][1]), kiln_fm_pack2(s[2 * j][2], s[2 * j][3]),
                                        kiln_fm_pack2(s[2 * j + 1][0], s[2 * j + 1][1]),
                                        kiln_fm_pack2(s[2 * j + 1][2], s[2 * j + 1][3])};
#pragma unroll
                for (int nd2 = 0; nd2 < FM_HD / 16; nd2++) {
                    unsigned vf[4];
                    kiln_arch_ldmatrix<4, true>(vf, cv + j * 16 * FM_S + nd2 * 16 + v_off);
                    kiln_fm_mma(o[2 * nd2], pf, vf[0], vf[1]);
                    kiln_fm_mma(o[2 * nd2 + 1], pf, vf[2], vf[3]);
                }
            }
        }
        __syncthreads(); /* every warp is done with this stage before the next tile's loads refill it */
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
