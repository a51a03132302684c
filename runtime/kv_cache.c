/* runtime/kv_cache.c — the paged KV cache: sequences, blocks, block tables,
 * conversion of new K/V rows to the cache type. */
#include "runtime/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"

kiln_status kiln_kv_cache_init(kiln_kv_cache *kv, kiln_context *ctx, kiln_dtype type, int32_t n_layers,
                               int32_t n_kv_heads, int32_t head_dim, int32_t block_size, int32_t capacity,
                               int32_t max_seqs, int32_t n_blocks)
{
    memset(kv, 0, sizeof *kv);
    if (type != KILN_F32 && type != KILN_F16 && type != KILN_Q8_0)
        return kiln_fail(KILN_ERR_INVALID_ARG, "KV cache type %s is not supported (f16, f32 or q8_0)",
                         kiln_dtype_get(type) ? kiln_dtype_get(type)->name : "?");
    if (type == KILN_Q8_0 && head_dim % 32)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "a q8_0 KV cache needs a head size that is a multiple of 32; this model's is %d (use --kv-type f16 or f32)",
                         head_dim);
    if (block_size < 8 || block_size > 128 || (block_size & (block_size - 1)))
        return kiln_fail(KILN_ERR_INVALID_ARG, "KV block size %d must be a power of two from 8 to 128", block_size);
    if (capacity <= 0) return kiln_fail(KILN_ERR_INVALID_ARG, "KV cache capacity %d must be positive", capacity);
    if (max_seqs <= 0) return kiln_fail(KILN_ERR_INVALID_ARG, "KV cache: max_seqs %d must be positive", max_seqs);
    if (n_blocks < 0) return kiln_fail(KILN_ERR_INVALID_ARG, "KV cache: %d blocks; must be >= 0 (0 = enough)", n_blocks);
    kv->ctx = ctx;
    kv->type = type;
    kv->n_layers = n_layers, kv->n_kv_heads = n_kv_heads, kv->head_dim = head_dim;
    kv->block_size = block_size;
    kv->capacity = capacity;
    kv->max_seqs = max_seqs;
    kv->max_blocks_per_seq = (capacity + block_size - 1) / block_size;
    kv->n_blocks = n_blocks ? n_blocks : max_seqs * kv->max_blocks_per_seq;
    kv->slot_bytes = kiln_row_bytes(type, (int64_t)n_kv_heads * head_dim);
    size_t table_len = (size_t)max_seqs * (size_t)kv->max_blocks_per_seq;
    kv->k = calloc((size_t)n_layers, sizeof *kv->k);
    kv->v = calloc((size_t)n_layers, sizeof *kv->v);
    kv->free_blocks = malloc((size_t)kv->n_blocks * sizeof *kv->free_blocks);
    kv->seqs = calloc((size_t)max_seqs, sizeof *kv->seqs);
    kv->table = calloc(table_len, sizeof *kv->table);
    kv->host_rows = calloc(table_len, sizeof *kv->host_rows);
    kv->block_refs = calloc((size_t)kv->n_blocks, sizeof *kv->block_refs);
    kv->block_hash = calloc((size_t)kv->n_blocks, sizeof *kv->block_hash);
    kv->lru_prev = calloc((size_t)kv->n_blocks, sizeof *kv->lru_prev);
    kv->lru_next = calloc((size_t)kv->n_blocks, sizeof *kv->lru_next);
    if (!kv->k || !kv->v || !kv->free_blocks || !kv->seqs || !kv->table || !kv->host_rows || !kv->block_refs ||
        !kv->block_hash || !kv->lru_prev || !kv->lru_next) {
        kiln_kv_cache_free(kv);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "KV cache: out of memory");
    }
    size_t layer_bytes = (size_t)kv->n_blocks * (size_t)block_size * kv->slot_bytes;
    kiln_status st = KILN_OK;
    for (int32_t l = 0; l < n_layers && st == KILN_OK; l++) {
        st = kiln_buffer_alloc(ctx, layer_bytes, &kv->k[l]);
        if (st == KILN_OK) st = kiln_buffer_alloc(ctx, layer_bytes, &kv->v[l]);
    }
    if (st == KILN_OK) st = kiln_buffer_alloc(ctx, table_len * sizeof(int32_t), &kv->table_buf);
    if (st == KILN_OK) st = kiln_buffer_alloc(ctx, (size_t)max_seqs * sizeof(int32_t), &kv->lens_buf);
    if (st != KILN_OK) {
        int32_t blocks = kv->n_blocks;
        kiln_kv_cache_free(kv);
        return kiln_fail_prefix(st, "KV cache of %d layers x %d blocks x %d tokens (%s)", n_layers, blocks,
                                block_size, kiln_dtype_get(type)->name);
    }
    kv->max_rows = max_seqs;
    kiln_kv_cache_reset(kv);
    return KILN_OK;
}

kiln_status kiln_kv_cache_reserve_rows(kiln_kv_cache *kv, int32_t rows)
{
    if (rows <= kv->max_rows) return KILN_OK;
    size_t row = (size_t)kv->max_blocks_per_seq;
    int32_t *host = calloc((size_t)rows * row, sizeof *host);
    kiln_buffer *table = NULL, *lens = NULL;
    kiln_status st = host ? KILN_OK : kiln_fail(KILN_ERR_OUT_OF_MEMORY, "KV cache: out of memory");
    if (st == KILN_OK) st = kiln_buffer_alloc(kv->ctx, (size_t)rows * row * sizeof(int32_t), &table);
    if (st == KILN_OK) st = kiln_buffer_alloc(kv->ctx, (size_t)rows * sizeof(int32_t), &lens);
    if (st != KILN_OK) {
        free(host);
        kiln_buffer_free(table);
        kiln_buffer_free(lens);
        return kiln_fail_prefix(st, "KV cache: block table rows for %d tokens", rows);
    }
    free(kv->host_rows);
    kiln_buffer_free(kv->table_buf);
    kiln_buffer_free(kv->lens_buf);
    kv->host_rows = host, kv->table_buf = table, kv->lens_buf = lens, kv->max_rows = rows;
    return KILN_OK;
}

void kiln_kv_cache_free(kiln_kv_cache *kv)
{
    for (int32_t l = 0; l < kv->n_layers; l++) {
        if (kv->k) kiln_buffer_free(kv->k[l]);
        if (kv->v) kiln_buffer_free(kv->v[l]);
    }
    kiln_buffer_free(kv->table_buf);
    kiln_buffer_free(kv->lens_buf);
    free(kv->k);
    free(kv->v);
    free(kv->free_blocks);
    free(kv->seqs);
    free(kv->table);
    free(kv->host_rows);
    free(kv->block_refs);
    free(kv->block_hash);
    free(kv->lru_prev);
    free(kv->lru_next);
    memset(kv, 0, sizeof *kv);
}

int32_t kiln_kv_cache_capacity(const kiln_kv_cache *kv) { return kv->capacity; }

void kiln_kv_cache_reset(kiln_kv_cache *kv)
{
    /* Hand blocks out from the top, so logical and physical numbers differ
     * and a kernel that ignores the block table is caught by the tests. */
    kv->n_free = 0;
    for (int32_t b = 0; b < kv->n_blocks; b++) kv->free_blocks[kv->n_free++] = b;
    for (int32_t q = 0; q < kv->max_seqs; q++) kv->seqs[q] = (kiln_kv_seq){0};
    memset(kv->block_refs, 0, (size_t)kv->n_blocks * sizeof *kv->block_refs);
    memset(kv->block_hash, 0, (size_t)kv->n_blocks * sizeof *kv->block_hash);
    kv->lru_head = kv->lru_tail = -1;
    kv->n_idle = 0;
}

kiln_status kiln_kv_cache_seq_begin_at(kiln_kv_cache *kv, int32_t seq)
{
    if (seq < 0 || seq >= kv->max_seqs)
        return kiln_fail(KILN_ERR_INVALID_ARG, "sequence %d is outside 0..%d (the session holds %d sequences)", seq,
                         kv->max_seqs - 1, kv->max_seqs);
    if (kv->seqs[seq].active) return kiln_fail(KILN_ERR_INVALID_ARG, "sequence %d is already started", seq);
    kv->seqs[seq] = (kiln_kv_seq){.active = 1};
    return KILN_OK;
}

kiln_status kiln_kv_cache_seq_begin(kiln_kv_cache *kv, int32_t *seq)
{
    for (int32_t q = 0; q < kv->max_seqs; q++)
        if (!kv->seqs[q].active) {
            *seq = q;
            return kiln_kv_cache_seq_begin_at(kv, q);
        }
    return kiln_fail(KILN_ERR_INVALID_ARG, "all %d sequences of the session are in use (end one, or create the session with a larger max_seqs)",
                     kv->max_seqs);
}

void kiln_kv_cache_seq_end(kiln_kv_cache *kv, int32_t seq)
{
    if (seq < 0 || seq >= kv->max_seqs || !kv->seqs[seq].active) return;
    kiln_kv_seq *q = &kv->seqs[seq];
    const int32_t *row = kv->table + (size_t)seq * kv->max_blocks_per_seq;
    /* Last block first, so a sequence that starts next gets them back in the same order. */
    for (int32_t b = q->n_blocks - 1; b >= 0; b--) kiln_kv_cache_release_block(kv, row[b]);
    *q = (kiln_kv_seq){0};
}

kiln_status kiln_kv_cache_check_seq(const kiln_kv_cache *kv, int32_t seq, const char *what)
{
    if (seq < 0 || seq >= kv->max_seqs)
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s: sequence %d is outside 0..%d (the session holds %d sequences)",
                         what, seq, kv->max_seqs - 1, kv->max_seqs);
    if (!kv->seqs[seq].active)
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s: sequence %d is not started (kiln_session_seq_begin) or has ended",
                         what, seq);
    return KILN_OK;
}

int32_t kiln_kv_cache_blocks_needed(const kiln_kv_cache *kv, int32_t seq, int32_t new_len)
{
    int32_t need = (new_len + kv->block_size - 1) / kv->block_size - kv->seqs[seq].n_blocks;
    return need > 0 ? need : 0;
}

kiln_status kiln_kv_cache_reserve(kiln_kv_cache *kv, int32_t seq, int32_t new_len)
{
    if (new_len > kv->capacity)
        return kiln_fail(KILN_ERR_INVALID_ARG, "sequence %d: the KV cache holds %d tokens per sequence; %d do not fit (raise --ctx)",
                         seq, kv->capacity, new_len);
    kiln_kv_seq *q = &kv->seqs[seq];
    int32_t *row = kv->table + (size_t)seq * kv->max_blocks_per_seq;
    int32_t need = (new_len + kv->block_size - 1) / kv->block_size;
    while (q->n_blocks < need) {
        int32_t b = kiln_kv_cache_take_block(kv);
        if (b < 0)
            return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "KV cache: all %d blocks are in use; sequence %d cannot grow to %d tokens (end a sequence first)",
                             kv->n_blocks, seq, new_len);
        row[q->n_blocks++] = b;
    }
    return KILN_OK;
}

kiln_status kiln_kv_cache_truncate(kiln_kv_cache *kv, int32_t seq, int32_t len)
{
    kiln_kv_seq *q = &kv->seqs[seq];
    if (len < 0 || len > q->len)
        return kiln_fail(KILN_ERR_INVALID_ARG, "sequence %d holds %d tokens; it cannot be rolled back to %d", seq, q->len,
                         len);
    int32_t *row = kv->table + (size_t)seq * kv->max_blocks_per_seq;
    int32_t keep = (len + kv->block_size - 1) / kv->block_size;
    if (len % kv->block_size && keep <= q->n_blocks) { /* the new end falls inside block keep-1 */
        int32_t b = row[keep - 1];
        if (kv->block_refs[b] > 1)
            return kiln_fail(KILN_ERR_INVALID_ARG, "sequence %d: cannot roll back to %d tokens inside a KV block shared through the prefix cache",
                             seq, len);
        kv->block_hash[b] = 0; /* no longer full: its key would lie once it is written again */
    }
    while (q->n_blocks > keep) kiln_kv_cache_release_block(kv, row[--q->n_blocks]);
    q->len = len;
    return KILN_OK;
}

int32_t kiln_kv_cache_slot(const kiln_kv_cache *kv, int32_t seq, int32_t pos)
{
    int32_t block = kv->table[(size_t)seq * kv->max_blocks_per_seq + pos / kv->block_size];
    return block * kv->block_size + pos % kv->block_size;
}


kiln_status kiln_kv_cache_upload_rows(kiln_kv_cache *kv, int32_t n, const int32_t *seqs, const int32_t *lens)
{
    size_t row = (size_t)kv->max_blocks_per_seq;
    for (int32_t i = 0; i < n; i++)
        memcpy(kv->host_rows + i * row, kv->table + (size_t)seqs[i] * row, row * sizeof(int32_t));
    kv->n_rows = n;
    kiln_status st = kiln_buffer_upload(kv->table_buf, 0, kv->host_rows, (size_t)n * row * sizeof(int32_t));
    return st != KILN_OK ? st : kiln_buffer_upload(kv->lens_buf, 0, lens, (size_t)n * sizeof(int32_t));
}

static kiln_tensor cache_tensor(const kiln_kv_cache *kv, kiln_buffer *buf)
{
    int64_t ne[4] = {kv->n_blocks, kv->block_size, kv->n_kv_heads, kv->head_dim};
    return kiln_tensor_make(buf, 0, kv->type, 4, ne);
}

kiln_tensor kiln_kv_cache_k(const kiln_kv_cache *kv, int32_t layer) { return cache_tensor(kv, kv->k[layer]); }
kiln_tensor kiln_kv_cache_v(const kiln_kv_cache *kv, int32_t layer) { return cache_tensor(kv, kv->v[layer]); }

kiln_tensor kiln_kv_cache_table(const kiln_kv_cache *kv)
{
    int64_t ne[2] = {kv->n_rows, kv->max_blocks_per_seq};
    return kiln_tensor_make(kv->table_buf, 0, KILN_I32, 2, ne);
}

kiln_tensor kiln_kv_cache_lens(const kiln_kv_cache *kv)
{
    int64_t ne[1] = {kv->n_rows};
    return kiln_tensor_make(kv->lens_buf, 0, KILN_I32, 1, ne);
}
