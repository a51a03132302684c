/* kernels/cpu/templates/paged_attn.c — paged attention (decode) on the cpu:
 * one query token per sequence; each task takes whole (sequence, head) rows
 * and walks the sequence's logical blocks through the block table, streaming
 * keys through the online softmax (gen/math/common.h). The cache is
 * [n_blocks][block_size][n_kv_head][head_dim] in f32, f16 or q8_0 (blocks of
 * 32 along head_dim, dequantized with the shared kiln_dequant). A block id
 * outside the cache is skipped rather than read. */
#pragma kiln include "kernels/cpu/templates/cpu_abi.h"
#pragma kiln include "kernels/cpu/templates/cpu_simd.h"
#pragma kiln include "kernels/cpu/templates/attn_common.c"

static void paged_row(const kiln_cpu_paged_attn_args *a, int64_t sq, int64_t h, float *scratch)
{
    int64_t hd = a->head_dim, group = a->n_head / a->n_kv_head, kvh = h / group, bs = a->block_size;
    float *acc = scratch, *kbuf = scratch + hd, *vbuf = scratch + 2 * hd;
    const float *q = a->q + sq * a->q_seq + h * a->q_head;
    const int32_t *table = a->block_table + sq * a->bt_stride;
    int64_t len = a->seq_lens[sq];
    for (int64_t d = 0; d < hd; d++) acc[d] = 0.0f;
    float st[2] = {-INFINITY, 0.0f};
    for (int64_t t0 = 0; t0 < len; t0 += bs) {
        int64_t blk = table[t0 / bs];
        if (blk < 0 || blk >= a->n_blocks) continue;
        int64_t n = len - t0 < bs ? len - t0 : bs;
        const uint8_t *kb = a->k + blk * a->k_blk + kvh * a->k_head, *vb = a->v + blk * a->v_blk + kvh * a->v_head;
        for (int64_t t = 0; t < n; t++) {
            float s = kiln_cpu_dot_f32(q, attn_row(kb + t * a->k_tok, kbuf, hd), hd) * a->scale;
            attn_step(st, acc, s, attn_row(vb + t * a->v_tok, vbuf, hd), hd);
        }
    }
    attn_finish(st, acc, a->o + sq * a->o_seq + h * a->o_head, hd);
}

void KILN_ENTRY(const void *args, int phase, int task, int ntasks)
{
    const kiln_cpu_paged_attn_args *a = (const kiln_cpu_paged_attn_args *)args;
    if (phase != KILN_CPU_PHASE_RUN) return;
    float *scratch = (float *)(a->thread_scratch + (size_t)task * a->thread_scratch_bytes);
    int64_t rows = a->n_seq * a->n_head;
    for (int64_t r = task; r < rows; r += ntasks) paged_row(a, r / a->n_head, r % a->n_head, scratch);
}
