/* kernels/cuda/templates/rope.cu — rotary position embedding in place on q and
 * k, then (spec flag kv) the paged KV-cache append of the same tokens, so Q/K/V
 * stay on the device between the QKV matmul and attention.
 *
 * Grid (n tokens); block KILN_THREADS. The threads first take the (head, pair)
 * items of the token's q and k heads, then — after a barrier, so the rotated k
 * written by other threads is visible — the k and v rows go to slot slots[t]
 * of the caches: f32/f16 one element per item, q8_0 one block of 32 per item.
 * The math is gen/math/rope.h (shared with the cpu and Vulkan templates):
 * precise powf/cosf/sinf and products kept out of fmas, so results are within
 * a few ulp of the cpu's; the f16 and q8_0 conversions are bit-exact with
 * formats/ (kiln_f32_to_f16, kiln_quantize_q8_0). */
#pragma kiln include "kernels/cuda/templates/cuda_common.cuh"
#pragma kiln include "gen/math/rope.h"

KILN_FN void kiln_rope_pair(const kiln_cu_rope_args &a, int t, int pos, int j)
{
    const int half = a.rope_dim / 2, h = j / half, i = j - h * half;
    float *p = h < a.n_head ? (float *)kiln_cu_wptr(a.q, t * a.q_s0 + h * a.q_s1)
                            : (float *)kiln_cu_wptr(a.k, t * a.k_s0 + (h - a.n_head) * a.k_s1);
    const float ang = kiln_rope_angle(pos, a.freq_scale, kiln_rope_freq(i, a.rope_dim, a.theta));
    const float c = KILN_COS(ang), s = KILN_SIN(ang);
    const int i0 = a.neox ? i : 2 * i, i1 = a.neox ? i + half : 2 * i + 1;
    const float x0 = p[i0], x1 = p[i1];
    p[i0] = kiln_rope_first(x0, x1, c, s);
    p[i1] = kiln_rope_second(x0, x1, c, s);
}

KILN_KERNEL(KILN_THREADS, KILN_ENTRY, kiln_cu_rope_args, a)
{
    const int t = blockIdx.x;
    if (t >= a.n) return;
    const int pos = *(const int *)kiln_cu_ptr(a.pos, (kiln_i64)t * 4);
    const int items = (a.n_head + a.n_kv_head) * (a.rope_dim / 2);
    for (int j = threadIdx.x; j < items; j += KILN_THREADS) kiln_rope_pair(a, t, pos, j);
#if KILN_ROPE_KV
    if (!a.kc) return;
    const int slot = *(const int *)kiln_cu_ptr(a.slots, (kiln_i64)t * 4);
    if (slot < 0 || slot / a.block_size >= a.n_blocks) return; /* padding, or outside the cache: uniform */
    const kiln_i64 blk = slot / a.block_size, off = slot % a.block_size;
    __syncthreads(); /* the rotated k of every thread */
    const int hd = a.head_dim;
#if defined(KILN_FMT_Q8_0)
    const int nb = a.n_kv_head * (hd / 32); /* q8_0 blocks per row of each of k and v */
    for (int j = threadIdx.x; j < 2 * nb; j += KILN_THREADS) {
        const int is_v = j >= nb, b = is_v ? j - nb : j, h = b / (hd / 32), c = b - h * (hd / 32);
        const float *src = is_v ? (const float *)kiln_cu_ptr(a.v, t * a.v_s0 + h * a.v_s1) + 32 * c
                                : (const float *)kiln_cu_ptr(a.k, t * a.k_s0 + h * a.k_s1) + 32 * c;
        kiln_u8 *dst = is_v ? kiln_cu_wptr(a.vc, blk * a.vc_s0 + off * a.vc_s1 + h * a.vc_s2 + 34 * c)
                            : kiln_cu_wptr(a.kc, blk * a.kc_s0 + off * a.kc_s1 + h * a.kc_s2 + 34 * c);
        float amax = 0.0f;
        for (int e = 0; e < 32; e++) amax = fmaxf(amax, fabsf(src[e]));
        const float d = kiln_q8_0_scale(amax), id = kiln_q8_0_inverse(d);
        const unsigned dh = kiln_f32_to_f16_bits(d);
        dst[0] = (kiln_u8)(dh & 0xffu); /* the block is only 2-byte aligned: bytes */
        dst[1] = (kiln_u8)(dh >> 8);
        for (int e = 0; e < 32; e++) dst[2 + e] = (kiln_u8)(signed char)kiln_q8_0_code(src[e], id);
    }
#else
    const int row = a.n_kv_head * hd;
    for (int j = threadIdx.x; j < 2 * row; j += KILN_THREADS) {
        const int is_v = j >= row, e = is_v ? j - row : j, h = e / hd, d = e - h * hd;
        const float x = is_v ? ((const float *)kiln_cu_ptr(a.v, t * a.v_s0 + h * a.v_s1))[d]
                             : ((const float *)kiln_cu_ptr(a.k, t * a.k_s0 + h * a.k_s1))[d];
        kiln_u8 *dst = is_v ? kiln_cu_wptr(a.vc, blk * a.vc_s0 + off * a.vc_s1 + h * a.vc_s2)
                            : kiln_cu_wptr(a.kc, blk * a.kc_s0 + off * a.kc_s1 + h * a.kc_s2);
#if defined(KILN_FMT_F16)
        ((kiln_u16 *)dst)[d] = (kiln_u16)kiln_f32_to_f16_bits(x);
#else
        ((float *)dst)[d] = x;
#endif
    }
#endif
#endif
}
