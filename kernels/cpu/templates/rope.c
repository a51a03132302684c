/* kernels/cpu/templates/rope.c — rotary position embedding in place on q and
 * k, then (spec flag kv) the paged KV-cache append of the same tokens.
 * Tokens are split over the tasks; per token the angles are computed once per
 * pair (in chunks, as llama2.c does) and applied to every q and k head,
 * then its k (rotated) and v rows are converted into slot slots[t] of the
 * caches. The math — angle, rotation, f16 and q8_0 conversions — is
 * gen/math/rope.h, shared with the GPU templates; for neox = 0 and
 * freq_scale = 1 this reproduces llama2.c's float formula bit for bit. Plain C: the work
 * is a few multiplies per element and cosf/sinf per pair, and ISO C keeps each
 * product rounded on its own (no fma contraction), which the exactness needs. */
#pragma kiln include "kernels/cpu/templates/cpu_abi.h"
#pragma kiln include "gen/math/rope.h"

#define ROPE_CHUNK 64 /* pairs whose cos/sin are computed at once */

static void rope_heads(float *x, int64_t tok_stride, int64_t head_stride, int64_t n_heads, int64_t t, int64_t i0,
                       int64_t m, int64_t half, int neox, const float *cs, const float *sn)
{
    for (int64_t h = 0; h < n_heads; h++) {
        float *p = x + t * tok_stride + h * head_stride;
        for (int64_t i = 0; i < m; i++) {
            int64_t a = neox ? i0 + i : 2 * (i0 + i), b = neox ? i0 + i + half : 2 * (i0 + i) + 1;
            float x0 = p[a], x1 = p[b];
            p[a] = kiln_rope_first(x0, x1, cs[i], sn[i]);
            p[b] = kiln_rope_second(x0, x1, cs[i], sn[i]);
        }
    }
}

#if KILN_ROPE_KV
/* One head row of hd floats into the cache's dtype at dst. */
static void rope_store_row(const float *src, uint8_t *dst, int64_t hd)
{
#if defined(KILN_FMT_F32)
    memcpy(dst, src, (size_t)hd * 4);
#elif defined(KILN_FMT_F16)
    for (int64_t i = 0; i < hd; i++) {
        uint16_t h = (uint16_t)kiln_f32_to_f16_bits(src[i]);
        memcpy(dst + 2 * i, &h, 2);
    }
#else /* q8_0: blocks of 32 along the row, 2-byte f16 scale then 32 codes */
    for (int64_t b = 0; b < hd / 32; b++, src += 32, dst += 34) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(src[j]));
        float d = kiln_q8_0_scale(amax), id = kiln_q8_0_inverse(d);
        uint16_t dh = (uint16_t)kiln_f32_to_f16_bits(d);
        memcpy(dst, &dh, 2);
        for (int j = 0; j < 32; j++) dst[2 + j] = (uint8_t)(int8_t)kiln_q8_0_code(src[j], id);
    }
#endif
}

static void rope_append(const kiln_cpu_rope_args *a, int64_t t)
{
    int32_t slot = a->slots[t];
    if (slot < 0) return; /* padding */
    int64_t blk = slot / a->block_size, off = slot % a->block_size;
    if (blk >= a->n_blocks) return; /* never write outside the cache */
    for (int64_t h = 0; h < a->n_kv_head; h++) {
        rope_store_row(a->k + t * a->k_tok + h * a->k_head, a->kc + blk * a->kc_blk + off * a->kc_slot + h * a->kc_head,
                       a->head_dim);
        rope_store_row(a->v + t * a->v_tok + h * a->v_head, a->vc + blk * a->vc_blk + off * a->vc_slot + h * a->vc_head,
                       a->head_dim);
    }
}
#endif

static void rope_token(const kiln_cpu_rope_args *a, int64_t t)
{
    float cs[ROPE_CHUNK], sn[ROPE_CHUNK];
    int64_t half = a->rope_dim / 2;
    for (int64_t i0 = 0; i0 < half; i0 += ROPE_CHUNK) {
        int64_t m = half - i0 < ROPE_CHUNK ? half - i0 : ROPE_CHUNK;
        for (int64_t i = 0; i < m; i++) {
            float ang = kiln_rope_angle(a->positions[t], a->freq_scale,
                                        kiln_rope_freq((kiln_i32)(i0 + i), a->rope_dim, a->theta));
            cs[i] = cosf(ang);
            sn[i] = sinf(ang);
        }
        rope_heads(a->q, a->q_tok, a->q_head, a->n_head, t, i0, m, half, a->neox, cs, sn);
        rope_heads(a->k, a->k_tok, a->k_head, a->n_kv_head, t, i0, m, half, a->neox, cs, sn);
    }
#if KILN_ROPE_KV
    if (a->kc) rope_append(a, t);
#endif
}

void KILN_ENTRY(const void *args, int phase, int task, int ntasks)
{
    const kiln_cpu_rope_args *a = (const kiln_cpu_rope_args *)args;
    if (phase != KILN_CPU_PHASE_RUN) return;
    int64_t t0, t1;
    kiln_cpu_task_range(a->n, task, ntasks, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) rope_token(a, t);
}
