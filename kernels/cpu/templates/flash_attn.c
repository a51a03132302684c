/* kernels/cpu/templates/flash_attn.c — flash attention (prefill) on the cpu:
 * each task takes whole (query, head) rows and streams the visible keys
 * through the online softmax (gen/math/common.h), so no n_q x n_kv score
 * matrix is ever stored. Causal rows stop at key q_pos0 + i; grouped-query
 * heads read KV head h / (n_head / n_kv_head). K/V stay in their dtype and
 * are converted a row at a time. Tiles: tm queries x tn keys (FLASH_TM,
 * ATTN_TILE), the autotuner's cpu axes (gen/space.c). */
#pragma kiln include "kernels/cpu/templates/cpu_abi.h"
#pragma kiln include "kernels/cpu/templates/cpu_simd.h"
#pragma kiln include "kernels/cpu/templates/attn_common.c"

/* Query rows per tile, the spec's tm: the tm queries of a tile share each
 * converted K and V row (and its trip through the cache), at the price of
 * tm times the accumulators. The manifest's default is 1; the host's scratch
 * (ATTN_THREAD_SCRATCH, kernels/cpu/cpu_run.c) holds up to FLASH_TM_MAX. */
#define FLASH_TM KILN_TM
#define FLASH_TM_MAX 4
#if FLASH_TM < 1 || FLASH_TM > FLASH_TM_MAX
#error "cpu flash_attn: tm (query rows per tile) must be 1..4: the host sizes scratch for 4"
#endif

/* Queries i0 .. i0 + FLASH_TM - 1 (fewer at the end) with the G = n_head /
 * n_kv_head heads of KV head kvh. */
static void flash_unit(const kiln_cpu_flash_attn_args *a, int64_t i0, int64_t kvh, float *scratch)
{
    int64_t hd = a->head_dim, G = a->n_head / a->n_kv_head;
    int nq = (int)(a->n_q - i0 < FLASH_TM ? a->n_q - i0 : FLASH_TM);
    int64_t R = (int64_t)nq * G;
    float *acc = scratch, *kbuf = acc + R * hd, *vbuf = kbuf + ATTN_TILE * hd, *p = vbuf + hd, *st = p + R * ATTN_TILE;
    const float *q = a->q + i0 * a->q_tok + kvh * G * a->q_head;
    int64_t visible[FLASH_TM], most = 0;
    for (int i = 0; i < nq; i++) {
        visible[i] = a->n_kv;
        if (a->causal) {
            int64_t last = a->q_pos0 + i0 + i; /* last visible key position */
            visible[i] = last < 0 ? 0 : (last + 1 < a->n_kv ? last + 1 : a->n_kv);
        }
        if (visible[i] > most) most = visible[i];
    }
    attn_begin(acc, st, R, hd);
    const uint8_t *krow[ATTN_TILE], *vrow[ATTN_TILE];
    int nvis[FLASH_TM] = {0};
    for (int64_t j0 = 0; j0 < most; j0 += ATTN_TILE) {
        int n = (int)(most - j0 < ATTN_TILE ? most - j0 : ATTN_TILE);
        for (int t = 0; t < n; t++) {
            krow[t] = a->k + (j0 + t) * a->k_tok + kvh * a->k_head;
            vrow[t] = a->v + (j0 + t) * a->v_tok + kvh * a->v_head;
        }
        for (int i = 0; i < nq; i++) nvis[i] = (int)(visible[i] - j0 < 0 ? 0 : visible[i] - j0 < n ? visible[i] - j0 : n);
        attn_tile(q, a->q_tok, a->q_head, nq, G, hd, a->scale, krow, vrow, n, nvis, acc, st, kbuf, vbuf, p);
    }
    for (int i = 0; i < nq; i++)
        attn_finish(acc + (int64_t)i * G * hd, st + 2 * (int64_t)i * G, G, hd,
                    a->o + (i0 + i) * a->o_tok + kvh * G * a->o_head, a->o_head);
}

void KILN_ENTRY(const void *args, int phase, int task, int ntasks)
{
    const kiln_cpu_flash_attn_args *a = (const kiln_cpu_flash_attn_args *)args;
    if (phase != KILN_CPU_PHASE_RUN) return;
    float *scratch = (float *)(a->thread_scratch + (size_t)task * a->thread_scratch_bytes);
    /* interleave units (a tile of queries x one KV head) over tasks: causal
     * rows grow in cost with i */
    int64_t tiles = (a->n_q + FLASH_TM - 1) / FLASH_TM, units = tiles * a->n_kv_head;
    for (int64_t u = task; u < units; u += ntasks) flash_unit(a, u / a->n_kv_head * FLASH_TM, u % a->n_kv_head, scratch);
}
