/* kernels/cpu/templates/flash_attn.c — flash attention (prefill) on the cpu:
 * each task takes whole (query, head) rows and streams the visible keys
 * through the online softmax (gen/math/common.h), so no n_q x n_kv score
 * matrix is ever stored. Causal rows stop at key q_pos0 + i; grouped-query
 * heads read KV head h / (n_head / n_kv_head). K/V stay in their dtype and
 * are converted a row at a time. */
#pragma kiln include "kernels/cpu/templates/cpu_abi.h"
#pragma kiln include "kernels/cpu/templates/cpu_simd.h"
#pragma kiln include "kernels/cpu/templates/attn_common.c"

static void flash_row(const kiln_cpu_flash_attn_args *a, int64_t i, int64_t h, float *scratch)
{
    int64_t hd = a->head_dim, group = a->n_head / a->n_kv_head, kvh = h / group;
    float *acc = scratch, *kbuf = scratch + hd, *vbuf = scratch + 2 * hd;
    const float *q = a->q + i * a->q_tok + h * a->q_head;
    int64_t visible = a->n_kv;
    if (a->causal) {
        int64_t last = a->q_pos0 + i; /* last visible key position */
        visible = last < 0 ? 0 : (last + 1 < a->n_kv ? last + 1 : a->n_kv);
    }
    for (int64_t d = 0; d < hd; d++) acc[d] = 0.0f;
    float st[2] = {-INFINITY, 0.0f};
    for (int64_t j = 0; j < visible; j++) {
        const float *k = attn_row(a->k + j * a->k_tok + kvh * a->k_head, kbuf, hd);
        float s = kiln_cpu_dot_f32(q, k, hd) * a->scale;
        attn_step(st, acc, s, attn_row(a->v + j * a->v_tok + kvh * a->v_head, vbuf, hd), hd);
    }
    attn_finish(st, acc, a->o + i * a->o_tok + h * a->o_head, hd);
}

void KILN_ENTRY(const void *args, int phase, int task, int ntasks)
{
    const kiln_cpu_flash_attn_args *a = (const kiln_cpu_flash_attn_args *)args;
    if (phase != KILN_CPU_PHASE_RUN) return;
    float *scratch = (float *)(a->thread_scratch + (size_t)task * a->thread_scratch_bytes);
    /* interleave rows over tasks: causal rows grow in cost with i */
    int64_t rows = a->n_q * a->n_head;
    for (int64_t r = task; r < rows; r += ntasks) flash_row(a, r / a->n_head, r % a->n_head, scratch);
}
