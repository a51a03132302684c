/* runtime/kv_cache.h — a paged KV cache on a kiln context (internal).
 *
 * Per layer, K and V live in [n_blocks][block_size][n_kv_head][head_dim]
 * tensors of f32, f16 or q8_0, the layout kiln_paged_attn reads. A sequence
 * owns blocks through its block table (logical block -> physical block),
 * taken from a free list as it grows and returned on reset, so memory is
 * committed per block, never per maximum sequence length. */
#ifndef KILN_RUNTIME_KV_CACHE_H
#define KILN_RUNTIME_KV_CACHE_H

#include "kiln/kiln.h"

typedef struct kiln_kv_cache {
    kiln_context *ctx;
    kiln_dtype type;
    int32_t n_layers, n_kv_heads, head_dim;
    int32_t block_size, n_blocks;
    int32_t capacity;           /* tokens the sequence may hold (<= n_blocks * block_size) */
    size_t slot_bytes;          /* one token of one layer: n_kv_heads*head_dim in `type` */
    kiln_buffer **k, **v;       /* [n_layers] each [n_blocks][block_size][n_kv_heads][head_dim] */
    int32_t *free_blocks;       /* stack of free physical blocks */
    int32_t n_free;
    int32_t *table;             /* [n_blocks] the sequence's block table (host copy) */
    int32_t n_table;            /* blocks the sequence holds */
    int32_t len;                /* tokens in the sequence */
    kiln_buffer *table_buf;     /* i32 [1][n_blocks] on the device */
    kiln_buffer *len_buf;       /* i32 [1] */
    char *staging;              /* devices: new K then V rows converted to `type` */
    size_t staging_cap;
} kiln_kv_cache;

/* Room for capacity tokens (memory for whole blocks). */
kiln_status kiln_kv_cache_init(kiln_kv_cache *kv, kiln_context *ctx, kiln_dtype type, int32_t n_layers,
                               int32_t n_kv_heads, int32_t head_dim, int32_t block_size, int32_t capacity);
void kiln_kv_cache_free(kiln_kv_cache *kv);
int32_t kiln_kv_cache_capacity(const kiln_kv_cache *kv);
/* Makes room for the sequence to grow to new_len tokens (takes blocks). */
kiln_status kiln_kv_cache_reserve(kiln_kv_cache *kv, int32_t new_len);
/* Stores K and V of n tokens (f32 [n][n_kv_heads*head_dim] each) of layer at
 * positions pos0.., converted to the cache type; on devices one upload per
 * block touched. The positions must be reserved. */
kiln_status kiln_kv_cache_store(kiln_kv_cache *kv, int32_t layer, int32_t pos0, int32_t n, const float *k,
                                const float *v);
/* Sets the sequence length and puts the block table and length on the device. */
kiln_status kiln_kv_cache_commit(kiln_kv_cache *kv, int32_t len);
/* Tensors for kiln_paged_attn. */
kiln_tensor kiln_kv_cache_k(const kiln_kv_cache *kv, int32_t layer);
kiln_tensor kiln_kv_cache_v(const kiln_kv_cache *kv, int32_t layer);
kiln_tensor kiln_kv_cache_table(const kiln_kv_cache *kv);
kiln_tensor kiln_kv_cache_lens(const kiln_kv_cache *kv);
/* Empties the sequence; its blocks go back to the free list. */
void kiln_kv_cache_reset(kiln_kv_cache *kv);
/* f32 -> f16 (round to nearest even, bit-exact with kiln_f32_to_f16). */
void kiln_kv_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n);

#endif
