/* kernels/cpu/templates/flash_attn.c — flash attention (prefill) on the cpu:
 * each task takes whole (query, head) rows and streams the visible keys
 * through the online softmax (gen/math/common.h), so no n_q x n_kv score
 * matrix is ever stored. Causal rows stop at key q_pos0 + i; grouped-query
 * heads read KV head h / (n_head / n_kv_head). K/V stay in their dtype and
 * are converted a row at a time. */
#pragma kiln include "kernels/cpu/templates/cpu_abi.h"
#pragma kiln include "kernels/cpu/templates/cpu_simd.h"
#pragma kiln include "kernels/cpu/templates/attn_common.c"

/* Query i with the G = n_head / n_kv_head heads of KV head kvh. */
static void flash_unit(const kiln_cpu_flash_attn_args *a, int64_t i, int64_t kvh, float *scratch)
{
    int64_t hd = a->head_dim, G = a->n_head / a->n_kv_head;
    float *acc = scratch, *kbuf = acc + G * hd, *vbuf = kbuf + ATTN_TILE * hd, *p = vbuf + hd, *st = p + G * ATTN_TILE;
    const float *q = a->q + i * a->q_tok + kvh * G * a->q_head;
    int64_t visible = a->n_kv;
    if (a->causal) {
        int64_t last = a->q_pos0 + i; /* last visible key position */
        visible = last < 0 ? 0 : (last + 1 < a->n_kv ? last + 1 : a->n_kv);
    }
    attn_begin(acc, st, G, hd);
    const uint8_t *krow[ATTN_TILE], *vrow[ATTN_TILE];
    for (int64_t j0 = 0; j0 < visible; j0 += ATTN_TILE) {
        int n = (int)(visible - j0 < ATTN_TILE ? visible - j0 : ATTN_TILE);
        for (int t = 0; t < n; t++) {
            krow[t] = a->k + (j0 + t) * a->k_tok + kvh * a->k_head;
            vrow[t] = a->v + (j0 + t) * a->v_tok + kvh * a->v_head;
        }
        attn_tile(q, a->q_head, G, hd, a->scale, krow, vrow, n, acc, st, kbuf, vbuf, p);
    }
    attn_finish(acc, st, G, hd, a->o + i * a->o_tok + kvh * G * a->o_head, a->o_head);
}

void KILN_ENTRY(const void *args, int phase, int task, int ntasks)
{
    const kiln_cpu_flash_attn_args *a = (const kiln_cpu_flash_attn_args *)args;
    if (phase != KILN_CPU_PHASE_RUN) return;
    float *scratch = (float *)(a->thread_scratch + (size_t)task * a->thread_scratch_bytes);
    /* interleave units over tasks: causal rows grow in cost with i */
    int64_t units = a->n_q * a->n_kv_head;
    for (int64_t u = task; u < units; u += ntasks) flash_unit(a, u / a->n_kv_head, u % a->n_kv_head, scratch);
}
