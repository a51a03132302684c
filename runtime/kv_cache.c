/* runtime/kv_cache.c — the paged KV cache: blocks, block table, conversion of
 * new K/V rows to the cache type. */
#include "runtime/kv_cache.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/core/backend.h"
#include "runtime/parallel.h"

kiln_status kiln_kv_cache_init(kiln_kv_cache *kv, kiln_context *ctx, kiln_dtype type, int32_t n_layers,
                               int32_t n_kv_heads, int32_t head_dim, int32_t block_size, int32_t capacity)
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
    kv->ctx = ctx;
    kv->type = type;
    kv->n_layers = n_layers, kv->n_kv_heads = n_kv_heads, kv->head_dim = head_dim;
    kv->block_size = block_size;
    kv->n_blocks = (capacity + block_size - 1) / block_size;
    kv->capacity = capacity;
    kv->slot_bytes = kiln_row_bytes(type, (int64_t)n_kv_heads * head_dim);
    kv->k = calloc((size_t)n_layers, sizeof *kv->k);
    kv->v = calloc((size_t)n_layers, sizeof *kv->v);
    kv->free_blocks = malloc((size_t)kv->n_blocks * sizeof *kv->free_blocks);
    kv->table = calloc((size_t)kv->n_blocks, sizeof *kv->table);
    if (!kv->k || !kv->v || !kv->free_blocks || !kv->table) {
        kiln_kv_cache_free(kv);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "KV cache: out of memory");
    }
    size_t layer_bytes = (size_t)kv->n_blocks * (size_t)block_size * kv->slot_bytes;
    kiln_status st = KILN_OK;
    for (int32_t l = 0; l < n_layers && st == KILN_OK; l++) {
        st = kiln_buffer_alloc(ctx, layer_bytes, &kv->k[l]);
        if (st == KILN_OK) st = kiln_buffer_alloc(ctx, layer_bytes, &kv->v[l]);
    }
    if (st == KILN_OK) st = kiln_buffer_alloc(ctx, (size_t)kv->n_blocks * sizeof(int32_t), &kv->table_buf);
    if (st == KILN_OK) st = kiln_buffer_alloc(ctx, sizeof(int32_t), &kv->len_buf);
    if (st != KILN_OK) {
        kiln_kv_cache_free(kv);
        return kiln_fail_prefix(st, "KV cache of %d layers x %d blocks x %d tokens (%s)", n_layers, kv->n_blocks,
                                block_size, kiln_dtype_get(type)->name);
    }
    kiln_kv_cache_reset(kv);
    return KILN_OK;
}

void kiln_kv_cache_free(kiln_kv_cache *kv)
{
    for (int32_t l = 0; l < kv->n_layers; l++) {
        if (kv->k) kiln_buffer_free(kv->k[l]);
        if (kv->v) kiln_buffer_free(kv->v[l]);
    }
    kiln_buffer_free(kv->table_buf);
    kiln_buffer_free(kv->len_buf);
    free(kv->k);
    free(kv->v);
    free(kv->free_blocks);
    free(kv->table);
    free(kv->staging);
    memset(kv, 0, sizeof *kv);
}

int32_t kiln_kv_cache_capacity(const kiln_kv_cache *kv) { return kv->capacity; }

void kiln_kv_cache_reset(kiln_kv_cache *kv)
{
    /* Hand blocks out from the top, so logical and physical numbers differ
     * and a kernel that ignores the block table is caught by the tests. */
    kv->n_free = 0;
    for (int32_t b = 0; b < kv->n_blocks; b++) kv->free_blocks[kv->n_free++] = b;
    kv->n_table = 0;
    kv->len = 0;
}

kiln_status kiln_kv_cache_reserve(kiln_kv_cache *kv, int32_t new_len)
{
    if (new_len > kiln_kv_cache_capacity(kv))
        return kiln_fail(KILN_ERR_INVALID_ARG, "the KV cache holds %d tokens; %d do not fit (raise --ctx)",
                         kiln_kv_cache_capacity(kv), new_len);
    int32_t need = (new_len + kv->block_size - 1) / kv->block_size;
    while (kv->n_table < need) {
        if (kv->n_free == 0) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "KV cache: no free block left");
        kv->table[kv->n_table++] = kv->free_blocks[--kv->n_free];
    }
    return KILN_OK;
}

static size_t slot_offset(const kiln_kv_cache *kv, int32_t pos)
{
    int32_t block = kv->table[pos / kv->block_size];
    return ((size_t)block * (size_t)kv->block_size + (size_t)(pos % kv->block_size)) * kv->slot_bytes;
}

/* f32 -> f16, round to nearest even, as kiln_f32_to_f16 but fast enough for
 * every K/V row of a prefill (that one goes through the generic dtype table):
 * normal results re-bias the exponent and round the mantissa with integer
 * adds; subnormal results let the FPU round by adding 0.5f, whose ulp is
 * exactly f16's subnormal step 2^-24. */
static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7FFFFFFFu;
    if (a >= 0x7F800000u) return (uint16_t)(sign | (a > 0x7F800000u ? 0x7E00u : 0x7C00u)); /* NaN, Inf */
    if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u);                               /* rounds past 65504 */
    if (a < 0x38800000u) {                                                                  /* below 2^-14 */
        float v, r;
        memcpy(&v, &a, 4);
        r = v + 0.5f;
        uint32_t rb;
        memcpy(&rb, &r, 4);
        return (uint16_t)(sign | (rb - 0x3F000000u));
    }
    uint32_t r = a - 0x38000000u; /* exponent bias 127 -> 15 */
    r += 0x0FFFu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

void kiln_kv_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = f32_to_f16(src[i]);
}

static int convert_row(kiln_dtype type, const float *src, void *dst, int64_t n)
{
    if (type == KILN_F32) memcpy(dst, src, (size_t)n * 4);
    else if (type == KILN_F16) kiln_kv_f32_to_f16_row(src, dst, n);
    else return kiln_quantize_row(type, src, dst, n) != 0;
    return 1;
}

/* Converting the rows of a store, split over threads for long prompts. */
typedef struct store_job {
    kiln_kv_cache *kv;
    const float *k, *v;
    char *k_dst, *v_dst; /* cpu: the cache buffers themselves; devices: staging */
    int32_t pos0;
    int direct;          /* 1: rows go to their slots; 0: packed rows in staging */
    atomic_int failed;
} store_job;

static void convert_range(void *ctx, int64_t b, int64_t e)
{
    store_job *j = ctx;
    const kiln_kv_cache *kv = j->kv;
    int64_t row = (int64_t)kv->n_kv_heads * kv->head_dim;
    for (int64_t t = b; t < e; t++) {
        size_t off = j->direct ? slot_offset(kv, j->pos0 + (int32_t)t) : (size_t)t * kv->slot_bytes;
        if (!convert_row(kv->type, j->k + t * row, j->k_dst + off, row) ||
            !convert_row(kv->type, j->v + t * row, j->v_dst + off, row))
            atomic_store(&j->failed, 1);
    }
}

kiln_status kiln_kv_cache_store(kiln_kv_cache *kv, int32_t layer, int32_t pos0, int32_t n, const float *k,
                                const float *v)
{
    if (pos0 < 0 || n < 0 || (n > 0 && (pos0 + n - 1) / kv->block_size >= kv->n_table))
        return kiln_fail(KILN_ERR_INTERNAL, "KV cache: positions %d..%d were not reserved", pos0, pos0 + n - 1);
    char *hk = kiln_buffer_host_ptr(kv->k[layer]), *hv = kiln_buffer_host_ptr(kv->v[layer]);
    store_job job = {.kv = kv, .k = k, .v = v, .pos0 = pos0, .direct = hk && hv};
    atomic_init(&job.failed, 0);
    size_t bytes = (size_t)n * kv->slot_bytes;
    if (job.direct) {
        job.k_dst = hk, job.v_dst = hv;
    } else {
        if (2 * bytes > kv->staging_cap) {
            char *p = realloc(kv->staging, 2 * bytes);
            if (!p) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "KV cache: out of memory staging %d rows", n);
            kv->staging = p, kv->staging_cap = 2 * bytes;
        }
        job.k_dst = kv->staging, job.v_dst = kv->staging + bytes;
    }
    kiln_parallel_for(n, 32, convert_range, &job);
    if (atomic_load(&job.failed))
        return kiln_fail(KILN_ERR_INTERNAL, "KV cache: converting rows to %s failed", kiln_dtype_get(kv->type)->name);
    if (job.direct) return KILN_OK;
    /* One upload of K and one of V per block the rows fall in. */
    for (int32_t done = 0; done < n;) {
        int32_t pos = pos0 + done, run = kv->block_size - pos % kv->block_size;
        if (run > n - done) run = n - done;
        size_t off = slot_offset(kv, pos), src = (size_t)done * kv->slot_bytes, len = (size_t)run * kv->slot_bytes;
        kiln_status st = kiln_buffer_upload(kv->k[layer], off, job.k_dst + src, len);
        if (st == KILN_OK) st = kiln_buffer_upload(kv->v[layer], off, job.v_dst + src, len);
        if (st != KILN_OK) return st;
        done += run;
    }
    return KILN_OK;
}

kiln_status kiln_kv_cache_commit(kiln_kv_cache *kv, int32_t len)
{
    kv->len = len;
    kiln_status st = kiln_buffer_upload(kv->table_buf, 0, kv->table, (size_t)kv->n_blocks * sizeof(int32_t));
    return st != KILN_OK ? st : kiln_buffer_upload(kv->len_buf, 0, &kv->len, sizeof kv->len);
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
    int64_t ne[2] = {1, kv->n_blocks};
    return kiln_tensor_make(kv->table_buf, 0, KILN_I32, 2, ne);
}

kiln_tensor kiln_kv_cache_lens(const kiln_kv_cache *kv)
{
    int64_t ne[1] = {1};
    return kiln_tensor_make(kv->len_buf, 0, KILN_I32, 1, ne);
}
