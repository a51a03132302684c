/* runtime/kv_prefix.c — block ownership and prefix caching of the paged KV
 * cache (see kiln_kv_cache in kv_cache.h).
 *
 * Keys: block i of a sequence is keyed by h_i = H(h_{i-1}, its block_size
 * tokens), h_{-1} a fixed seed, so equal keys mean equal tokens from position
 * 0 to the block's end (up to a 64-bit hash collision) and therefore equal
 * K/V. Lookups scan the blocks' keys: a few thousand blocks at most, done
 * once per block of a new prompt. */
#include <string.h>

#include "runtime/kv_cache.h"

#define HASH_SEED 0x6b696c6e70726678ull /* "kilnprfx" */

static uint64_t block_key(uint64_t parent, const int32_t *ids, int32_t n)
{
    uint64_t h = parent;
    for (int32_t i = 0; i < n; i++) { /* splitmix64's finalizer over each token, chained */
        h ^= (uint64_t)(uint32_t)ids[i] + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
        h ^= h >> 30, h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 27, h *= 0x94d049bb133111ebull;
        h ^= h >> 31;
    }
    return h ? h : 1; /* 0 means "not cached" */
}

static void lru_unlink(kiln_kv_cache *kv, int32_t b)
{
    int32_t p = kv->lru_prev[b], n = kv->lru_next[b];
    if (p >= 0) kv->lru_next[p] = n;
    else kv->lru_head = n;
    if (n >= 0) kv->lru_prev[n] = p;
    else kv->lru_tail = p;
    kv->n_idle--;
}

static void lru_append(kiln_kv_cache *kv, int32_t b)
{
    kv->lru_prev[b] = kv->lru_tail, kv->lru_next[b] = -1;
    if (kv->lru_tail >= 0) kv->lru_next[kv->lru_tail] = b;
    else kv->lru_head = b;
    kv->lru_tail = b;
    kv->n_idle++;
}

int32_t kiln_kv_cache_available(const kiln_kv_cache *kv) { return kv->n_free + kv->n_idle; }
int32_t kiln_kv_cache_idle(const kiln_kv_cache *kv) { return kv->n_idle; }

int32_t kiln_kv_cache_take_block(kiln_kv_cache *kv)
{
    int32_t b;
    if (kv->n_free > 0) b = kv->free_blocks[--kv->n_free];
    else if (kv->n_idle > 0) lru_unlink(kv, b = kv->lru_head); /* the least recently used prefix goes */
    else return -1;
    kv->block_hash[b] = 0;
    kv->block_refs[b] = 1;
    return b;
}

void kiln_kv_cache_release_block(kiln_kv_cache *kv, int32_t b)
{
    if (kv->block_refs[b] > 0 && --kv->block_refs[b] > 0) return; /* still shared */
    if (kv->prefix_on && kv->block_hash[b]) {
        lru_append(kv, b);
    } else {
        kv->block_hash[b] = 0;
        kv->free_blocks[kv->n_free++] = b;
    }
}

void kiln_kv_cache_prefix_enable(kiln_kv_cache *kv, int on)
{
    kv->prefix_on = on;
    if (on) return;
    while (kv->n_idle > 0) {
        int32_t b = kv->lru_head;
        lru_unlink(kv, b);
        kv->block_hash[b] = 0;
        kv->free_blocks[kv->n_free++] = b;
    }
    for (int32_t b = 0; b < kv->n_blocks; b++) kv->block_hash[b] = 0;
}

static int32_t find_block(const kiln_kv_cache *kv, uint64_t key)
{
    for (int32_t b = 0; b < kv->n_blocks; b++)
        if (kv->block_hash[b] == key) return b;
    return -1;
}

int32_t kiln_kv_cache_attach_prefix(kiln_kv_cache *kv, int32_t seq, const int32_t *ids, int32_t n)
{
    kiln_kv_seq *q = &kv->seqs[seq];
    if (!kv->prefix_on || !q->active || q->len != 0 || q->n_blocks != 0 || n < 1) return q->len;
    int32_t *row = kv->table + (size_t)seq * kv->max_blocks_per_seq;
    int32_t bs = kv->block_size, full = (n - 1) / bs; /* leave a token to compute logits from */
    if (full > kv->max_blocks_per_seq) full = kv->max_blocks_per_seq;
    uint64_t key = HASH_SEED;
    for (int32_t i = 0; i < full; i++) {
        key = block_key(key, ids + (size_t)i * bs, bs);
        int32_t b = find_block(kv, key);
        if (b < 0) break;
        if (kv->block_refs[b] == 0) lru_unlink(kv, b); /* idle -> held again */
        kv->block_refs[b]++;
        row[q->n_blocks++] = b;
    }
    q->len = q->n_blocks * bs;
    return q->len;
}

void kiln_kv_cache_publish(kiln_kv_cache *kv, int32_t seq, const int32_t *ids, int32_t n)
{
    kiln_kv_seq *q = &kv->seqs[seq];
    if (!kv->prefix_on || !q->active) return;
    if (n > q->len) n = q->len;
    const int32_t *row = kv->table + (size_t)seq * kv->max_blocks_per_seq;
    uint64_t key = HASH_SEED;
    for (int32_t i = 0; i < n / kv->block_size; i++) {
        key = block_key(key, ids + (size_t)i * kv->block_size, kv->block_size);
        int32_t b = row[i];
        /* Already keyed (attached from the cache), or another block has
         * the same contents (prefilled at the same time): keep the first. */
        if (kv->block_hash[b] == key || find_block(kv, key) >= 0) continue;
        kv->block_hash[b] = key;
    }
}
