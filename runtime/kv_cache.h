/* runtime/kv_cache.h — a paged KV cache for several sequences on a kiln
 * context (internal).
 *
 * Per layer, K and V live in [n_blocks][block_size][n_kv_head][head_dim]
 * tensors of f32, f16 or q8_0, the layout kiln_paged_attn reads. The blocks
 * form one pool shared by up to max_seqs sequences. A sequence owns blocks
 * through its row of the block table (logical block -> physical block), taken
 * from the free list as it grows and given back when it ends, so memory is
 * committed per block, never per maximum sequence length.
 *
 * A token's place in the cache is its slot: physical_block * block_size +
 * offset in the block. Stores take one slot per token, so one call can write
 * tokens of different sequences (a batched decode step). */
#ifndef KILN_RUNTIME_KV_CACHE_H
#define KILN_RUNTIME_KV_CACHE_H

#include "kiln/kiln.h"

typedef struct kiln_kv_seq {
    int active;
    int32_t len;                /* tokens in the sequence */
    int32_t n_blocks;           /* blocks it holds: the first n_blocks of its table row */
} kiln_kv_seq;

typedef struct kiln_kv_cache {
    kiln_context *ctx;
    kiln_dtype type;
    int32_t n_layers, n_kv_heads, head_dim;
    int32_t block_size, n_blocks;
    int32_t capacity;           /* tokens one sequence may hold */
    int32_t max_seqs;
    int32_t max_blocks_per_seq; /* ceil(capacity / block_size): the table's row length */
    size_t slot_bytes;          /* one token of one layer: n_kv_heads*head_dim in `type` */
    kiln_buffer **k, **v;       /* [n_layers] each [n_blocks][block_size][n_kv_heads][head_dim] */
    int32_t *free_blocks;       /* stack of free physical blocks */
    int32_t n_free;
    kiln_kv_seq *seqs;          /* [max_seqs] */
    int32_t *table;             /* [max_seqs][max_blocks_per_seq] block tables (host) */
    /* The rows and lengths of the sequences one paged attention call reads,
     * compacted in the order of the call: i32 [max_seqs][max_blocks_per_seq]
     * and i32 [max_seqs] on the device. */
    kiln_buffer *table_buf;
    kiln_buffer *lens_buf;
    int32_t *host_rows;         /* staging of table_buf's rows */
    int32_t n_rows;             /* rows uploaded by the last kiln_kv_cache_upload_rows */
    int32_t max_rows;           /* rows table_buf, lens_buf and host_rows hold (>= max_seqs) */
    /* Prefix caching (kv_prefix.c). A full block of a sequence is keyed by the
     * hash of its tokens and of every token before them; sequences whose
     * prompts start alike share such blocks read-only (a block is only ever
     * written while it is not full, so a shared one never changes). Blocks
     * count their holders; a cached block nobody holds stays idle, oldest
     * first in the LRU list, until a new block is needed and none is free. */
    int prefix_on;
    int32_t *block_refs;        /* [n_blocks] sequences holding each block */
    uint64_t *block_hash;       /* [n_blocks] the key of a cached block; 0 = not cached */
    int32_t *lru_prev, *lru_next; /* [n_blocks] the idle cached blocks, oldest first */
    int32_t lru_head, lru_tail, n_idle;
} kiln_kv_cache;

/* Room for max_seqs sequences of up to capacity tokens each, in a pool of
 * n_blocks blocks (0: enough for every sequence to reach capacity). */
kiln_status kiln_kv_cache_init(kiln_kv_cache *kv, kiln_context *ctx, kiln_dtype type, int32_t n_layers,
                               int32_t n_kv_heads, int32_t head_dim, int32_t block_size, int32_t capacity,
                               int32_t max_seqs, int32_t n_blocks);
void kiln_kv_cache_free(kiln_kv_cache *kv);
int32_t kiln_kv_cache_capacity(const kiln_kv_cache *kv);

/* Starts a sequence (the lowest free id) or fails when all are in use. */
kiln_status kiln_kv_cache_seq_begin(kiln_kv_cache *kv, int32_t *seq);
/* Starts sequence seq in particular (it must be free). */
kiln_status kiln_kv_cache_seq_begin_at(kiln_kv_cache *kv, int32_t seq);
/* Ends a sequence; its blocks go back to the free list. */
void kiln_kv_cache_seq_end(kiln_kv_cache *kv, int32_t seq);
/* Whether seq is a started sequence; if not, why, through kiln_fail (for `what`). */
kiln_status kiln_kv_cache_check_seq(const kiln_kv_cache *kv, int32_t seq, const char *what);
/* Blocks sequence seq would take to grow to new_len tokens. */
int32_t kiln_kv_cache_blocks_needed(const kiln_kv_cache *kv, int32_t seq, int32_t new_len);
/* Makes room for sequence seq to grow to new_len tokens (takes blocks). */
kiln_status kiln_kv_cache_reserve(kiln_kv_cache *kv, int32_t seq, int32_t new_len);
/* Rolls sequence seq back to its first len tokens (<= its length): the
 * blocks wholly past the new end go back to the pool (last first, as
 * seq_end), the kept ones are neither copied nor touched; the slots past len
 * in the last kept block are overwritten as the sequence grows again. A kept
 * block that is shared through the prefix cache cannot be cut into (its
 * contents would change under the other holders): refused, nothing changed. */
kiln_status kiln_kv_cache_truncate(kiln_kv_cache *kv, int32_t seq, int32_t len);
/* The slot of position pos of sequence seq (the position must be reserved). */
int32_t kiln_kv_cache_slot(const kiln_kv_cache *kv, int32_t seq, int32_t pos);

/* Room for `rows` rows in one kiln_kv_cache_upload_rows (init makes room
 * for max_seqs; a prefill that attends through the block table needs one
 * row per token). */
kiln_status kiln_kv_cache_reserve_rows(kiln_kv_cache *kv, int32_t rows);
/* Puts the table rows of seqs[n] and the lengths lens[n] on the device,
 * compacted in that order, for kiln_kv_cache_table/lens. */
kiln_status kiln_kv_cache_upload_rows(kiln_kv_cache *kv, int32_t n, const int32_t *seqs, const int32_t *lens);
/* Tensors for kiln_paged_attn (table and lens: the last uploaded rows). */
kiln_tensor kiln_kv_cache_k(const kiln_kv_cache *kv, int32_t layer);
kiln_tensor kiln_kv_cache_v(const kiln_kv_cache *kv, int32_t layer);
kiln_tensor kiln_kv_cache_table(const kiln_kv_cache *kv);
kiln_tensor kiln_kv_cache_lens(const kiln_kv_cache *kv);
/* Ends every sequence; all blocks go back to the free list (the prefix
 * cache is emptied). */
void kiln_kv_cache_reset(kiln_kv_cache *kv);

/* Blocks a sequence can still get: free ones and idle cached ones. */
int32_t kiln_kv_cache_available(const kiln_kv_cache *kv);
/* Idle cached blocks (held by no sequence, kept for their prefix). */
int32_t kiln_kv_cache_idle(const kiln_kv_cache *kv);
/* A block for a growing sequence (free, else the oldest idle cached one,
 * which leaves the cache), held once; -1 when there is none. */
int32_t kiln_kv_cache_take_block(kiln_kv_cache *kv);
/* A sequence lets go of block b: free again, or idle in the cache. */
void kiln_kv_cache_release_block(kiln_kv_cache *kv, int32_t b);
/* Prefix caching on or off (off: every idle block is freed). */
void kiln_kv_cache_prefix_enable(kiln_kv_cache *kv, int on);
/* For a started, empty sequence: the cached full blocks that hold ids'
 * prefix become its first blocks (held, read-only); at most (n-1) tokens, so
 * that one is left to compute logits from. Returns the tokens it now holds. */
int32_t kiln_kv_cache_attach_prefix(kiln_kv_cache *kv, int32_t seq, const int32_t *ids, int32_t n);
/* Keys the full blocks of sequence seq, whose tokens are ids[n] (n may be
 * less than its length), so later sequences can share them. */
void kiln_kv_cache_publish(kiln_kv_cache *kv, int32_t seq, const int32_t *ids, int32_t n);

#endif
