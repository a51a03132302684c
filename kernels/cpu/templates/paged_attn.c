/* kernels/cpu/templates/paged_attn.c — paged attention (decode) on the cpu:
 * one query token per sequence; each task takes whole (sequence, KV head)
 * units — the query heads sharing that KV head together, so each cached row is
 * read and converted once for all of them — and walks the sequence's logical
 * blocks through the block table, streaming keys in tiles through the online
 * softmax (gen/math/common.h) in tiles of the spec's tn keys (ATTN_TILE,
 * attn_common.c). The cache is
 * [n_blocks][block_size][n_kv_head][head_dim] in f32, f16 or q8_0 (blocks of
 * 32 along head_dim, dequantized with the shared kiln_dequant). A block id
 * outside the cache is skipped and a length beyond the table's row is cut,
 * rather than read: the table's contents are data nobody validated. */
#pragma kiln include "kernels/cpu/templates/cpu_abi.h"
#pragma kiln include "kernels/cpu/templates/cpu_simd.h"
#pragma kiln include "kernels/cpu/templates/attn_common.c"

/* Sequence sq with the G = n_head / n_kv_head heads of KV head kvh. */
static void paged_unit(const kiln_cpu_paged_attn_args *a, int64_t sq, int64_t kvh, float *scratch)
{
    int64_t hd = a->head_dim, G = a->n_head / a->n_kv_head, bs = a->block_size;
    float *acc = scratch, *kbuf = acc + G * hd, *vbuf = kbuf + ATTN_TILE * hd, *p = vbuf + hd, *st = p + G * ATTN_TILE;
    const float *q = a->q + sq * a->q_seq + kvh * G * a->q_head;
    const int32_t *table = a->block_table + sq * a->bt_stride;
    int64_t len = a->seq_lens[sq];
    if (len > a->max_blocks * bs) len = a->max_blocks * bs; /* never read past the table's row */
    attn_begin(acc, st, G, hd);
    const uint8_t *krow[ATTN_TILE], *vrow[ATTN_TILE];
    int n = 0;
    for (int64_t t0 = 0; t0 < len; t0 += bs) {
        int64_t blk = table[t0 / bs];
        if (blk < 0 || blk >= a->n_blocks) continue;
        int64_t count = len - t0 < bs ? len - t0 : bs;
        const uint8_t *kb = a->k + blk * a->k_blk + kvh * a->k_head, *vb = a->v + blk * a->v_blk + kvh * a->v_head;
        for (int64_t t = 0; t < count; t++) {
            krow[n] = kb + t * a->k_tok;
            vrow[n] = vb + t * a->v_tok;
            if (++n == ATTN_TILE) {
                attn_tile(q, 0, a->q_head, 1, G, hd, a->scale, krow, vrow, n, &n, acc, st, kbuf, vbuf, p);
                n = 0;
            }
        }
    }
    if (n) attn_tile(q, 0, a->q_head, 1, G, hd, a->scale, krow, vrow, n, &n, acc, st, kbuf, vbuf, p);
    attn_finish(acc, st, G, hd, a->o + sq * a->o_seq + kvh * G * a->o_head, a->o_head);
}

void KILN_ENTRY(const void *args, int phase, int task, int ntasks)
{
    const kiln_cpu_paged_attn_args *a = (const kiln_cpu_paged_attn_args *)args;
    if (phase != KILN_CPU_PHASE_RUN) return;
    float *scratch = (float *)(a->thread_scratch + (size_t)task * a->thread_scratch_bytes);
    int64_t units = a->n_seq * a->n_kv_head;
    for (int64_t u = task; u < units; u += ntasks) paged_unit(a, u / a->n_kv_head, u % a->n_kv_head, scratch);
}
