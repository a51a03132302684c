/* tests/test_gguf.c — the GGUF reader and writer.
 *
 * Real files first (llama.cpp's vocab files and the stories260K model, from
 * /work/shared), then write -> read round trips of every metadata type, nested
 * arrays and tensors of several types, then hand-built malformed files that
 * must each be rejected with a message naming the problem, and finally a
 * small valid file truncated at every offset and corrupted byte by byte (run
 * under ASan by `make test SANITIZE=1`: any out-of-bounds read fails there). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kiln/formats.h"
#include "kiln/gguf.h"
#include "runtime/gguf_internal.h"
#include "support/files.h"

#define SHARED_DIR KILN_SOURCE_DIR "/../shared"

/* ------------------------------------------------------------- helpers */

static int str_is(kiln_gguf_str s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* A fresh private directory for files a test writes. */
static void temp_dir(char *dir, size_t n)
{
    snprintf(dir, n, "/tmp/kiln_gguf_XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp failed");
}

static unsigned fresh_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (unsigned)(ts.tv_nsec ^ ts.tv_sec ^ (unsigned)getpid());
}

/* Byte builder for hand-made (often malformed) files. */
typedef struct bb {
    uint8_t *p;
    size_t n, cap;
} bb;

static void bb_raw(bb *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        cr_assert_not_null(b->p);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void bb_le(bb *b, uint64_t v, int n)
{
    uint8_t x[8];
    for (int i = 0; i < n; i++) x[i] = (uint8_t)(v >> (8 * i));
    bb_raw(b, x, (size_t)n);
}

static void bb_u32(bb *b, uint32_t v) { bb_le(b, v, 4); }
static void bb_u64(bb *b, uint64_t v) { bb_le(b, v, 8); }
static void bb_str(bb *b, const char *s)
{
    bb_u64(b, strlen(s));
    bb_raw(b, s, strlen(s));
}
static void bb_header(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    bb_raw(b, "GGUF", 4);
    bb_u32(b, version);
    bb_u64(b, n_tensors);
    bb_u64(b, n_kv);
}
/* key with a u32 value */
static void bb_kv_u32(bb *b, const char *key, uint32_t v)
{
    bb_str(b, key);
    bb_u32(b, KILN_GGUF_UINT32);
    bb_u32(b, v);
}
/* tensor info: 2-D f32 [ne0, ne1] */
static void bb_tensor(bb *b, const char *name, uint32_t type, uint64_t ne0, uint64_t ne1, uint64_t offset)
{
    bb_str(b, name);
    bb_u32(b, 2);
    bb_u64(b, ne0);
    bb_u64(b, ne1);
    bb_u32(b, type);
    bb_u64(b, offset);
}
static void bb_pad(bb *b, size_t align)
{
    while (b->n % align) bb_le(b, 0, 1);
}
static void bb_zeros(bb *b, size_t n)
{
    for (size_t i = 0; i < n; i++) bb_le(b, 0, 1);
}

/* Opens b's bytes from an exactly sized copy (so ASan sees any overread) and
 * expects failure with every needle in the message. */
static void expect_reject(const bb *b, const char *needle1, const char *needle2)
{
    uint8_t *copy = malloc(b->n ? b->n : 1);
    memcpy(copy, b->p, b->n);
    kiln_gguf *g = NULL;
    kiln_status s = kiln_gguf_open_memory(copy, b->n, &g);
    cr_assert_eq(s, KILN_ERR_FORMAT, "expected a format error (%s), got status %d: %s", needle1, s, kiln_last_error());
    cr_assert_null(g);
    cr_assert(strstr(kiln_last_error(), needle1), "message '%s' lacks '%s'", kiln_last_error(), needle1);
    if (needle2)
        cr_assert(strstr(kiln_last_error(), needle2), "message '%s' lacks '%s'", kiln_last_error(), needle2);
    free(copy);
}

static kiln_gguf *expect_accept(const bb *b)
{
    kiln_gguf *g = NULL;
    kiln_status s = kiln_gguf_open_memory(b->p, b->n, &g);
    cr_assert_eq(s, KILN_OK, "expected a valid file: %s", kiln_last_error());
    return g;
}

/* Touches every byte the reader hands out (strings, array elements, tensor
 * data ends), through the public accessors, and returns a checksum so the
 * reads cannot be optimized away. */
static uint64_t walk_value(const kiln_gguf_value *v)
{
    uint64_t sum = 0;
    if (v->type == KILN_GGUF_STRING) {
        for (uint64_t i = 0; i < v->v.str.len; i++) sum += (uint8_t)v->v.str.ptr[i];
    } else if (v->type == KILN_GGUF_ARRAY) {
        for (uint64_t i = 0; i < v->v.arr.count; i++) {
            kiln_gguf_str s;
            kiln_gguf_value inner;
            double d;
            int64_t x;
            if (kiln_gguf_array_str(v, i, &s) == KILN_OK) {
                for (uint64_t j = 0; j < s.len; j++) sum += (uint8_t)s.ptr[j];
            } else if (kiln_gguf_array_arr(v, i, &inner) == KILN_OK) {
                sum += walk_value(&inner);
            } else if (kiln_gguf_array_f64(v, i, &d) == KILN_OK) {
                sum += (uint64_t)(d == d);
                if (kiln_gguf_array_i64(v, i, &x) == KILN_OK) sum += (uint64_t)x;
            } else if (v->v.arr.elem_type == KILN_GGUF_BOOL) {
                sum += ((const uint8_t *)v->v.arr.data)[i];
            }
        }
        cr_assert_neq(kiln_gguf_array_str(v, v->v.arr.count, &(kiln_gguf_str){0}), KILN_OK, "index past the end accepted");
    } else {
        sum += v->v.u64;
    }
    return sum;
}

static uint64_t walk(const kiln_gguf *g)
{
    uint64_t sum = kiln_gguf_version(g) + kiln_gguf_alignment(g);
    for (int64_t i = 0; i < kiln_gguf_kv_count(g); i++) {
        kiln_gguf_str k = kiln_gguf_kv_key(g, i);
        char key[256];
        if (k.len < sizeof key && !memchr(k.ptr, 0, k.len)) {
            memcpy(key, k.ptr, k.len);
            key[k.len] = '\0';
            cr_assert_eq(kiln_gguf_find_key(g, key), i, "key #%lld not found by name", (long long)i);
            uint64_t u;
            int64_t x;
            double d;
            kiln_gguf_str s;
            int b;
            sum += kiln_gguf_get_u64(g, key, &u) == KILN_OK;
            sum += kiln_gguf_get_i64(g, key, &x) == KILN_OK;
            sum += kiln_gguf_get_f64(g, key, &d) == KILN_OK;
            sum += kiln_gguf_get_str(g, key, &s) == KILN_OK;
            sum += kiln_gguf_get_bool(g, key, &b) == KILN_OK;
        }
        sum += walk_value(kiln_gguf_kv_value(g, i));
    }
    for (int64_t i = 0; i < kiln_gguf_tensor_count(g); i++) {
        const kiln_gguf_tensor *t = kiln_gguf_tensor_at(g, i);
        cr_assert_not_null(t);
        cr_assert(t->n_dims >= 0 && t->n_dims <= 4);
        cr_assert_eq(t->offset % kiln_gguf_alignment(g), 0);
        if (t->size) sum += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->size - 1];
        for (uint64_t j = 0; j < t->name.len; j++) sum += (uint8_t)t->name.ptr[j];
    }
    return sum;
}

/* ------------------------------------------------------- real files */

Test(gguf, vocab_llama_spm)
{
    const char *path = SHARED_DIR "/vocab/ggml-vocab-llama-spm.gguf";
    if (access(path, R_OK) != 0) cr_skip_test("%s is absent", path);
    kiln_gguf *g = NULL;
    cr_assert_eq(kiln_gguf_open(path, &g), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_gguf_version(g), 3);
    cr_assert_eq(kiln_gguf_alignment(g), 32);
    cr_assert_eq(kiln_gguf_tensor_count(g), 0);
    kiln_gguf_str s;
    cr_assert_eq(kiln_gguf_get_str(g, "tokenizer.ggml.model", &s), KILN_OK);
    cr_assert(str_is(s, "llama"));
    kiln_gguf_value tokens, scores, types;
    cr_assert_eq(kiln_gguf_get_arr(g, "tokenizer.ggml.tokens", &tokens), KILN_OK);
    cr_assert_eq(tokens.v.arr.elem_type, KILN_GGUF_STRING);
    cr_assert_eq(tokens.v.arr.count, 32000);
    const char *first[] = {"<unk>", "<s>", "</s>", "<0x00>"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(kiln_gguf_array_str(&tokens, (uint64_t)i, &s), KILN_OK);
        cr_assert(str_is(s, first[i]), "token %d is '%.*s'", i, (int)s.len, s.ptr);
    }
    cr_assert_eq(kiln_gguf_array_str(&tokens, 31999, &s), KILN_OK);
    cr_assert(str_is(s, "\xe7\xbb\x99"), "last token is '%.*s'", (int)s.len, s.ptr); /* 给 */
    cr_assert_neq(kiln_gguf_array_str(&tokens, 32000, &s), KILN_OK);
    cr_assert_eq(kiln_gguf_get_arr(g, "tokenizer.ggml.scores", &scores), KILN_OK);
    cr_assert_eq(scores.v.arr.elem_type, KILN_GGUF_FLOAT32);
    cr_assert_eq(scores.v.arr.count, 32000);
    double d;
    cr_assert_eq(kiln_gguf_array_f64(&scores, 31999, &d), KILN_OK);
    cr_assert(isfinite(d));
    cr_assert_eq(kiln_gguf_get_arr(g, "tokenizer.ggml.token_type", &types), KILN_OK);
    int64_t tt;
    cr_assert_eq(kiln_gguf_array_i64(&types, 0, &tt), KILN_OK);
    cr_assert_eq(tt, 2); /* <unk> is UNKNOWN */
    cr_assert_eq(kiln_gguf_array_i64(&types, 1, &tt), KILN_OK);
    cr_assert_eq(tt, 3); /* <s> is CONTROL */
    uint64_t u;
    int b;
    cr_assert_eq(kiln_gguf_get_u64(g, "tokenizer.ggml.bos_token_id", &u), KILN_OK);
    cr_assert_eq(u, 1);
    cr_assert_eq(kiln_gguf_get_u64(g, "llama.vocab_size", &u), KILN_OK);
    cr_assert_eq(u, 32000);
    cr_assert_eq(kiln_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b), KILN_OK);
    cr_assert_eq(b, 1);
    cr_assert_eq(kiln_gguf_get_f64(g, "llama.attention.layer_norm_rms_epsilon", &d), KILN_OK);
    cr_assert_float_eq(d, 1e-5, 1e-12);
    /* wrong types and missing keys fail, naming the key */
    cr_assert_eq(kiln_gguf_get_u64(g, "tokenizer.ggml.model", &u), KILN_ERR_FORMAT);
    cr_assert(strstr(kiln_last_error(), "tokenizer.ggml.model") && strstr(kiln_last_error(), "string"));
    cr_assert_eq(kiln_gguf_get_str(g, "no.such.key", &s), KILN_ERR_FORMAT);
    cr_assert(strstr(kiln_last_error(), "no.such.key"));
    cr_assert_eq(kiln_gguf_find_key(g, "no.such.key"), -1);
    cr_assert_eq(kiln_gguf_array_str(&scores, 0, &s), KILN_ERR_FORMAT);
    kiln_gguf_close(g);
}

Test(gguf, vocab_gpt2)
{
    const char *path = SHARED_DIR "/vocab/ggml-vocab-gpt-2.gguf";
    if (access(path, R_OK) != 0) cr_skip_test("%s is absent", path);
    kiln_gguf *g = NULL;
    cr_assert_eq(kiln_gguf_open(path, &g), KILN_OK, "%s", kiln_last_error());
    kiln_gguf_str s;
    cr_assert_eq(kiln_gguf_get_str(g, "tokenizer.ggml.model", &s), KILN_OK);
    cr_assert(str_is(s, "gpt2"));
    kiln_gguf_value tokens, merges;
    cr_assert_eq(kiln_gguf_get_arr(g, "tokenizer.ggml.tokens", &tokens), KILN_OK);
    cr_assert_eq(tokens.v.arr.count, 50257);
    cr_assert_eq(kiln_gguf_array_str(&tokens, 0, &s), KILN_OK);
    cr_assert(str_is(s, "!"));
    cr_assert_eq(kiln_gguf_array_str(&tokens, 50256, &s), KILN_OK);
    cr_assert(str_is(s, "<|endoftext|>"));
    cr_assert_eq(kiln_gguf_get_arr(g, "tokenizer.ggml.merges", &merges), KILN_OK);
    cr_assert_eq(merges.v.arr.count, 50000);
    cr_assert_eq(kiln_gguf_array_str(&merges, 0, &s), KILN_OK);
    cr_assert(str_is(s, "\xc4\xa0 t"), "first merge is '%.*s'", (int)s.len, s.ptr); /* "Ġ t" */
    /* every token is reachable in O(1): a full pass stays fast */
    uint64_t total = 0;
    for (uint64_t i = 0; i < tokens.v.arr.count; i++) {
        cr_assert_eq(kiln_gguf_array_str(&tokens, i, &s), KILN_OK);
        total += s.len;
    }
    cr_assert_gt(total, 50257);
    int64_t x;
    cr_assert_eq(kiln_gguf_get_i64(g, "tokenizer.ggml.eos_token_id", &x), KILN_OK);
    cr_assert_eq(x, 50256);
    kiln_gguf_close(g);
}

/* The nine per-layer tensors of a llama block, llama.cpp names. */
static const char *const layer_tensors[] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                            "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"};

static void check_shape(const kiln_gguf *g, const char *name, int n_dims, int64_t ne0, int64_t ne1, int ggml_type)
{
    const kiln_gguf_tensor *t = kiln_gguf_find_tensor(g, name);
    cr_assert_not_null(t, "tensor %s missing", name);
    cr_assert(str_is(t->name, name));
    cr_assert_eq(t->n_dims, n_dims, "%s n_dims %d", name, t->n_dims);
    cr_assert_eq(t->ne[0], ne0, "%s ne[0] %lld", name, (long long)t->ne[0]);
    cr_assert_eq(t->ne[1], ne1, "%s ne[1] %lld", name, (long long)t->ne[1]);
    cr_assert_eq(t->ggml_type, ggml_type, "%s type %d", name, t->ggml_type);
    cr_assert_eq(t->dtype, kiln_dtype_from_ggml(ggml_type));
    cr_assert_eq(t->size, kiln_row_bytes((kiln_dtype)t->dtype, ne0) * (uint64_t)ne1, "%s size", name);
}

Test(gguf, stories_f32)
{
    const char *path = SHARED_DIR "/models/stories260K-f32.gguf";
    const char *bin = SHARED_DIR "/models/stories260K.bin";
    if (access(path, R_OK) != 0) cr_skip_test("%s is absent", path);
    kiln_gguf *g = NULL;
    cr_assert_eq(kiln_gguf_open(path, &g), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_gguf_tensor_count(g), 48);
    cr_assert_eq(kiln_gguf_data_offset(g) % 32, 0);
    check_shape(g, "token_embd.weight", 2, 64, 512, 0);
    check_shape(g, "output.weight", 2, 64, 512, 0);
    check_shape(g, "output_norm.weight", 1, 64, 1, 0);
    char name[64];
    for (int l = 0; l < 5; l++) {
        for (int j = 0; j < 9; j++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, layer_tensors[j]);
            cr_assert_not_null(kiln_gguf_find_tensor(g, name), "%s missing", name);
        }
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", l);
        check_shape(g, name, 2, 64, 64, 0);
        snprintf(name, sizeof name, "blk.%d.attn_k.weight", l);
        check_shape(g, name, 2, 64, 32, 0);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
        check_shape(g, name, 2, 172, 64, 0);
        snprintf(name, sizeof name, "blk.%d.ffn_gate.weight", l);
        check_shape(g, name, 2, 64, 172, 0);
    }
    cr_assert_null(kiln_gguf_find_tensor(g, "blk.5.attn_q.weight"));
    uint64_t u;
    cr_assert_eq(kiln_gguf_get_u64(g, "llama.embedding_length", &u), KILN_OK);
    cr_assert_eq(u, 64);
    cr_assert_eq(kiln_gguf_get_u64(g, "llama.block_count", &u), KILN_OK);
    cr_assert_eq(u, 5);
    /* the token embedding holds the llama2.c checkpoint's, bit for bit */
    size_t n = 0;
    uint8_t *ck = access(bin, R_OK) == 0 ? (uint8_t *)kt_read_file(bin, &n) : NULL;
    if (ck) {
        const kiln_gguf_tensor *t = kiln_gguf_find_tensor(g, "token_embd.weight");
        cr_assert_geq(n, 28 + t->size);
        cr_assert_eq(memcmp(ck + 28, t->data, t->size), 0, "token_embd.weight differs from stories260K.bin");
        free(ck);
    }
    walk(g);
    kiln_gguf_close(g);
}

Test(gguf, stories_q4_k_m)
{
    const char *path = SHARED_DIR "/models/stories260K-Q4_K_M.gguf";
    if (access(path, R_OK) != 0) cr_skip_test("%s is absent", path);
    kiln_gguf *g = NULL;
    cr_assert_eq(kiln_gguf_open(path, &g), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_gguf_tensor_count(g), 48);
    check_shape(g, "output.weight", 2, 64, 512, 8);        /* q8_0 */
    check_shape(g, "token_embd.weight", 2, 64, 512, 6);    /* q5_0 */
    check_shape(g, "blk.0.ffn_down.weight", 2, 172, 64, 1); /* f16: rows of 172 fit no block */
    check_shape(g, "blk.0.attn_norm.weight", 1, 64, 1, 0);
    check_shape(g, "blk.0.attn_q.weight", 2, 64, 64, 6);
    uint64_t ft;
    cr_assert_eq(kiln_gguf_get_u64(g, "general.file_type", &ft), KILN_OK);
    cr_assert_eq(ft, 15); /* MOSTLY_Q4_K_M */
    for (int64_t i = 0; i < kiln_gguf_tensor_count(g); i++)
        cr_assert_geq(kiln_gguf_tensor_at(g, i)->dtype, 0, "tensor %lld has a type kiln lacks", (long long)i);
    walk(g);
    kiln_gguf_close(g);
}

/* formats/ and the reader's ggml table must agree wherever both know an id. */
Test(gguf, type_tables_agree)
{
    int both = 0;
    for (int id = 0; id < 64; id++) {
        const kiln_ggml_type_info *gt = kiln_gguf_ggml_builtin_type(id);
        int dt = kiln_dtype_from_ggml(id);
        if (!gt || dt < 0) continue;
        const kiln_dtype_info *k = kiln_dtype_get((kiln_dtype)dt);
        cr_assert_str_eq(k->name, gt->name, "ggml id %d", id);
        cr_assert_eq(k->block_elems, gt->block_elems, "%s block elems", gt->name);
        cr_assert_eq(k->block_bytes, gt->block_bytes, "%s block bytes", gt->name);
        both++;
    }
    cr_assert_geq(both, 10);
    cr_assert_str_eq(kiln_gguf_ggml_type_name(10), "q2_k");
    cr_assert_null(kiln_gguf_ggml_type_name(4)); /* removed q4_2 */
    cr_assert_null(kiln_gguf_ggml_type_name(99));
}

/* ------------------------------------------------------- round trips */

typedef struct roundtrip_tensor {
    const char *name;
    int ggml_type;
    int n_dims;
    int64_t ne[4];
    uint8_t *data;
    uint64_t size;
} roundtrip_tensor;

static uint8_t *random_bytes(uint64_t n, unsigned *seed)
{
    uint8_t *p = malloc(n ? (size_t)n : 1);
    for (uint64_t i = 0; i < n; i++) p[i] = (uint8_t)(rand_r(seed) >> 7);
    return p;
}

/* Arrays of arrays, `levels` deep, the innermost an i32 array {1, 2, 3}. */
static kiln_gguf_value nested_chain(kiln_gguf_value *storage, int levels, const int32_t *leaf)
{
    kiln_gguf_value v = {.type = KILN_GGUF_ARRAY};
    v.v.arr.elem_type = KILN_GGUF_INT32;
    v.v.arr.count = 3;
    v.v.arr.data = leaf;
    for (int i = 1; i < levels; i++) {
        storage[i] = v;
        v.v.arr.elem_type = KILN_GGUF_ARRAY;
        v.v.arr.count = 1;
        v.v.arr.data = &storage[i];
    }
    return v;
}

Test(gguf, roundtrip_every_type, .timeout = 60)
{
    unsigned seed = fresh_seed();
    char dir[64], path[128];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/rt.gguf", dir);

    kiln_gguf_writer *w = NULL;
    cr_assert_eq(kiln_gguf_writer_create(&w), KILN_OK);
    uint32_t r32 = (uint32_t)rand_r(&seed);
    float rf = (float)rand_r(&seed) / 7.0f;
    cr_assert_eq(kiln_gguf_writer_set_u32(w, "t.u32", r32), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_i32(w, "t.i32", -(int32_t)(r32 >> 1)), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_u64(w, "t.u64", UINT64_MAX - r32), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_f32(w, "t.f32", rf), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_bool(w, "t.bool", 1), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_str(w, "t.str", "héllo"), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_str(w, "t.empty", ""), KILN_OK);
    kiln_gguf_value sv[] = {
        {.type = KILN_GGUF_UINT8, .v.u64 = 200}, {.type = KILN_GGUF_INT8, .v.i64 = -100},
        {.type = KILN_GGUF_UINT16, .v.u64 = 60000}, {.type = KILN_GGUF_INT16, .v.i64 = -30000},
        {.type = KILN_GGUF_INT64, .v.i64 = -((int64_t)1 << 40) - r32}, {.type = KILN_GGUF_FLOAT64, .v.f64 = M_PI * r32},
        {.type = KILN_GGUF_STRING, .v.str = {"a\0b", 3}}, /* embedded NUL survives */
    };
    const char *sv_keys[] = {"s.u8", "s.i8", "s.u16", "s.i16", "s.i64", "s.f64", "s.nul"};
    for (int i = 0; i < 7; i++) cr_assert_eq(kiln_gguf_writer_set_value(w, sv_keys[i], &sv[i]), KILN_OK, "%s", sv_keys[i]);
    /* out-of-range scalars are refused rather than truncated */
    kiln_gguf_value too_big = {.type = KILN_GGUF_UINT8, .v.u64 = 256};
    cr_assert_eq(kiln_gguf_writer_set_value(w, "s.bad", &too_big), KILN_ERR_INVALID_ARG);

    /* numeric arrays of every element type, awkward lengths */
    const kiln_gguf_type num_types[] = {KILN_GGUF_UINT8, KILN_GGUF_INT8, KILN_GGUF_UINT16, KILN_GGUF_INT16,
                                        KILN_GGUF_UINT32, KILN_GGUF_INT32, KILN_GGUF_FLOAT32, KILN_GGUF_BOOL,
                                        KILN_GGUF_UINT64, KILN_GGUF_INT64, KILN_GGUF_FLOAT64};
    const uint64_t lens[] = {1, 7, 1001};
    uint8_t *arr_data[11][3];
    char key[64];
    for (int t = 0; t < 11; t++) {
        for (int l = 0; l < 3; l++) {
            uint64_t bytes = lens[l] * kiln_gguf_scalar_size(num_types[t]);
            arr_data[t][l] = random_bytes(bytes, &seed);
            for (uint64_t i = 0; num_types[t] == KILN_GGUF_BOOL && i < lens[l]; i++) arr_data[t][l][i] &= 1;
            if (num_types[t] == KILN_GGUF_FLOAT32 || num_types[t] == KILN_GGUF_FLOAT64) /* keep them finite */
                for (uint64_t i = 0; i < bytes; i += kiln_gguf_scalar_size(num_types[t]))
                    arr_data[t][l][i + kiln_gguf_scalar_size(num_types[t]) - 1] &= 0x3f;
            snprintf(key, sizeof key, "a.%s.%llu", kiln_gguf_type_name(num_types[t]), (unsigned long long)lens[l]);
            cr_assert_eq(kiln_gguf_writer_set_arr(w, key, num_types[t], arr_data[t][l], lens[l]), KILN_OK, "%s", key);
        }
    }
    cr_assert_eq(kiln_gguf_writer_set_arr(w, "a.empty", KILN_GGUF_INT32, NULL, 0), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_arr(w, "a.bad", KILN_GGUF_STRING, NULL, 0), KILN_ERR_INVALID_ARG);
    const char *strs[] = {"", "x", "tokens", "\xe7\xbb\x99", "<|endoftext|>"};
    cr_assert_eq(kiln_gguf_writer_set_str_arr(w, "a.strings", strs, 5), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_str_arr(w, "a.nostrings", NULL, 0), KILN_OK);

    /* nested: [[], ["x"], ["", "x", "tokens", "给", "<|endoftext|>"]] */
    kiln_gguf_str s_views[5];
    for (int i = 0; i < 5; i++) s_views[i] = (kiln_gguf_str){strs[i], strlen(strs[i])};
    kiln_gguf_value inner[3];
    uint64_t inner_counts[3] = {0, 1, 5};
    for (int i = 0; i < 3; i++) {
        inner[i] = (kiln_gguf_value){.type = KILN_GGUF_ARRAY};
        inner[i].v.arr.elem_type = KILN_GGUF_STRING;
        inner[i].v.arr.count = inner_counts[i];
        inner[i].v.arr.data = i == 1 ? &s_views[1] : s_views;
    }
    kiln_gguf_value outer = {.type = KILN_GGUF_ARRAY};
    outer.v.arr.elem_type = KILN_GGUF_ARRAY;
    outer.v.arr.count = 3;
    outer.v.arr.data = inner;
    cr_assert_eq(kiln_gguf_writer_set_value(w, "n.strings", &outer), KILN_OK);
    /* the deepest nesting allowed, and one more refused */
    const int32_t leaf[3] = {1, -2, 3};
    kiln_gguf_value chain[KILN_GGUF_MAX_ARRAY_DEPTH + 2];
    kiln_gguf_value deep = nested_chain(chain, KILN_GGUF_MAX_ARRAY_DEPTH, leaf);
    cr_assert_eq(kiln_gguf_writer_set_value(w, "n.deep", &deep), KILN_OK, "%s", kiln_last_error());
    kiln_gguf_value too_deep = nested_chain(chain, KILN_GGUF_MAX_ARRAY_DEPTH + 1, leaf);
    cr_assert_eq(kiln_gguf_writer_set_value(w, "n.too_deep", &too_deep), KILN_ERR_INVALID_ARG);
    /* setting a key again replaces it in place */
    cr_assert_eq(kiln_gguf_writer_set_u32(w, "t.replaced", 1), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_str(w, "t.replaced", "second"), KILN_OK);

    /* tensors of several types; ne[0] an awkward size where the type allows */
    roundtrip_tensor ts[] = {
        {"f32.odd", 0, 2, {7, 3, 1, 1}, NULL, 0}, {"f16.vec", 1, 1, {5, 1, 1, 1}, NULL, 0},
        {"bf16.3d", 30, 3, {3, 2, 2, 1}, NULL, 0}, {"q4_0.w", 2, 2, {64, 3, 1, 1}, NULL, 0},
        {"q8_0.4d", 8, 4, {32, 1, 2, 3}, NULL, 0}, {"q4_k.w", 12, 2, {256, 2, 1, 1}, NULL, 0},
        {"q5_0.w", 6, 2, {96, 1, 1, 1}, NULL, 0}, {"q6_k.w", 14, 1, {512, 1, 1, 1}, NULL, 0},
        {"i32.ids", 26, 1, {9, 1, 1, 1}, NULL, 0}, {"q2_k.foreign", 10, 2, {256, 2, 1, 1}, NULL, 0}, /* kiln lacks q2_k */
        {"empty", 0, 2, {0, 4, 1, 1}, NULL, 0},
    };
    const int n_ts = (int)(sizeof ts / sizeof ts[0]);
    for (int i = 0; i < n_ts; i++) {
        cr_assert_null(kiln_gguf_tensor_nbytes(ts[i].ggml_type, ts[i].n_dims, ts[i].ne, &ts[i].size));
        ts[i].data = random_bytes(ts[i].size, &seed);
        int dt = kiln_dtype_from_ggml(ts[i].ggml_type);
        kiln_status s = dt >= 0 ? kiln_gguf_writer_add_tensor(w, ts[i].name, (kiln_dtype)dt, ts[i].n_dims, ts[i].ne, ts[i].data)
                                : kiln_gguf_writer_add_tensor_ggml(w, ts[i].name, ts[i].ggml_type, ts[i].n_dims, ts[i].ne,
                                                                   ts[i].data);
        cr_assert_eq(s, KILN_OK, "%s: %s", ts[i].name, kiln_last_error());
    }
    cr_assert_eq(kiln_gguf_writer_add_tensor(w, "f32.odd", KILN_F32, 1, (int64_t[]){4}, ts[0].data), KILN_ERR_INVALID_ARG);
    cr_assert_eq(kiln_gguf_writer_add_tensor(w, "bad.q4", KILN_Q4_0, 1, (int64_t[]){33}, ts[0].data), KILN_ERR_SHAPE);
    cr_assert_eq(kiln_gguf_writer_add_tensor(w, "bad.dims", KILN_F32, 5, (int64_t[]){1, 1, 1, 1, 1}, ts[0].data),
                 KILN_ERR_INVALID_ARG);

    for (uint32_t version = 2; version <= 3; version++) {
        cr_assert_eq(kiln_gguf_writer_write(w, path, version), KILN_OK, "%s", kiln_last_error());
        char tmp[160];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        cr_assert_neq(access(tmp, F_OK), 0, "the temporary file was left behind");
        kiln_gguf *g = NULL;
        cr_assert_eq(kiln_gguf_open(path, &g), KILN_OK, "v%u: %s", version, kiln_last_error());
        cr_assert_eq(kiln_gguf_version(g), version);
        cr_assert_eq(kiln_gguf_alignment(g), 32);
        cr_assert_eq(kiln_gguf_data_offset(g) % 32, 0);

        uint64_t u;
        int64_t x;
        double d;
        int b;
        kiln_gguf_str s;
        kiln_gguf_value v;
        cr_assert_eq(kiln_gguf_kv_count(g), 7 + 7 + 33 + 6);
        cr_assert(str_is(kiln_gguf_kv_key(g, 0), "t.u32"));
        cr_assert_eq(kiln_gguf_get_u64(g, "t.u32", &u), KILN_OK);
        cr_assert_eq(u, r32);
        cr_assert_eq(kiln_gguf_kv_value(g, 0)->type, KILN_GGUF_UINT32);
        cr_assert_eq(kiln_gguf_get_i64(g, "t.i32", &x), KILN_OK);
        cr_assert_eq(x, -(int32_t)(r32 >> 1));
        cr_assert_eq(kiln_gguf_get_u64(g, "t.u64", &u), KILN_OK);
        cr_assert_eq(u, UINT64_MAX - r32);
        cr_assert_eq(kiln_gguf_get_i64(g, "t.u64", &x), KILN_ERR_FORMAT); /* does not fit int64 */
        cr_assert_eq(kiln_gguf_get_f64(g, "t.f32", &d), KILN_OK);
        cr_assert_eq((float)d, rf);
        cr_assert_eq(kiln_gguf_get_bool(g, "t.bool", &b), KILN_OK);
        cr_assert_eq(b, 1);
        cr_assert_eq(kiln_gguf_get_str(g, "t.str", &s), KILN_OK);
        cr_assert(str_is(s, "héllo"));
        cr_assert_eq(kiln_gguf_get_str(g, "t.empty", &s), KILN_OK);
        cr_assert_eq(s.len, 0);
        for (int i = 0; i < 7; i++) {
            const kiln_gguf_value *got = kiln_gguf_kv_value(g, kiln_gguf_find_key(g, sv_keys[i]));
            cr_assert_not_null(got, "%s", sv_keys[i]);
            cr_assert_eq(got->type, sv[i].type, "%s", sv_keys[i]);
            if (sv[i].type == KILN_GGUF_STRING)
                cr_assert(got->v.str.len == 3 && memcmp(got->v.str.ptr, "a\0b", 3) == 0);
            else if (sv[i].type == KILN_GGUF_FLOAT64)
                cr_assert_eq(got->v.f64, sv[i].v.f64);
            else
                cr_assert_eq(got->v.u64, sv[i].v.u64, "%s", sv_keys[i]);
        }
        cr_assert_eq(kiln_gguf_get_i64(g, "s.i8", &x), KILN_OK);
        cr_assert_eq(x, -100);
        cr_assert_eq(kiln_gguf_get_u64(g, "s.i8", &u), KILN_ERR_FORMAT); /* negative */
        cr_assert_eq(kiln_gguf_find_key(g, "s.bad"), -1);
        for (int t = 0; t < 11; t++) {
            for (int l = 0; l < 3; l++) {
                snprintf(key, sizeof key, "a.%s.%llu", kiln_gguf_type_name(num_types[t]), (unsigned long long)lens[l]);
                cr_assert_eq(kiln_gguf_get_arr(g, key, &v), KILN_OK, "%s", key);
                cr_assert_eq(v.v.arr.elem_type, num_types[t]);
                cr_assert_eq(v.v.arr.count, lens[l]);
                uint64_t es = kiln_gguf_scalar_size(num_types[t]);
                cr_assert_eq(memcmp(v.v.arr.data, arr_data[t][l], (size_t)(lens[l] * es)), 0, "%s bytes", key);
                /* element accessors agree with the raw little-endian bytes */
                uint64_t i = lens[l] - 1, raw = 0;
                for (uint64_t k = 0; k < es; k++) raw |= (uint64_t)arr_data[t][l][i * es + k] << (8 * k);
                if (num_types[t] == KILN_GGUF_BOOL) {
                    cr_assert_eq(kiln_gguf_array_i64(&v, i, &x), KILN_ERR_FORMAT);
                } else if (num_types[t] == KILN_GGUF_FLOAT32) {
                    float f;
                    uint32_t r = (uint32_t)raw;
                    memcpy(&f, &r, 4);
                    cr_assert_eq(kiln_gguf_array_f64(&v, i, &d), KILN_OK);
                    cr_assert_eq((float)d, f);
                } else if (num_types[t] == KILN_GGUF_FLOAT64) {
                    double f;
                    memcpy(&f, &raw, 8);
                    cr_assert_eq(kiln_gguf_array_f64(&v, i, &d), KILN_OK);
                    cr_assert_eq(d, f);
                } else if (num_types[t] == KILN_GGUF_UINT64 && raw > (uint64_t)INT64_MAX) {
                    cr_assert_eq(kiln_gguf_array_i64(&v, i, &x), KILN_ERR_FORMAT);
                } else {
                    int64_t want = (int64_t)raw;
                    if (num_types[t] == KILN_GGUF_INT8) want = (int8_t)raw;
                    if (num_types[t] == KILN_GGUF_INT16) want = (int16_t)raw;
                    if (num_types[t] == KILN_GGUF_INT32) want = (int32_t)raw;
                    cr_assert_eq(kiln_gguf_array_i64(&v, i, &x), KILN_OK, "%s", key);
                    cr_assert_eq(x, want, "%s[%llu]", key, (unsigned long long)i);
                }
            }
        }
        cr_assert_eq(kiln_gguf_get_arr(g, "a.empty", &v), KILN_OK);
        cr_assert_eq(v.v.arr.count, 0);
        cr_assert_eq(kiln_gguf_get_arr(g, "a.strings", &v), KILN_OK);
        cr_assert_eq(v.v.arr.count, 5);
        for (int i = 0; i < 5; i++) {
            cr_assert_eq(kiln_gguf_array_str(&v, (uint64_t)i, &s), KILN_OK);
            cr_assert(str_is(s, strs[i]));
        }
        cr_assert_eq(kiln_gguf_get_arr(g, "a.nostrings", &v), KILN_OK);
        cr_assert_eq(v.v.arr.count, 0);
        cr_assert_eq(kiln_gguf_get_arr(g, "n.strings", &v), KILN_OK);
        cr_assert_eq(v.v.arr.elem_type, KILN_GGUF_ARRAY);
        cr_assert_eq(v.v.arr.count, 3);
        for (int i = 0; i < 3; i++) {
            kiln_gguf_value in;
            cr_assert_eq(kiln_gguf_array_arr(&v, (uint64_t)i, &in), KILN_OK);
            cr_assert_eq(in.v.arr.elem_type, KILN_GGUF_STRING);
            cr_assert_eq(in.v.arr.count, inner_counts[i]);
            for (uint64_t j = 0; j < inner_counts[i]; j++) {
                cr_assert_eq(kiln_gguf_array_str(&in, j, &s), KILN_OK);
                cr_assert(str_is(s, strs[i == 1 ? 1 + j : j]));
            }
        }
        cr_assert_eq(kiln_gguf_get_arr(g, "n.deep", &v), KILN_OK);
        for (int lvl = 1; lvl < KILN_GGUF_MAX_ARRAY_DEPTH; lvl++) {
            cr_assert_eq(v.v.arr.elem_type, KILN_GGUF_ARRAY, "level %d", lvl);
            cr_assert_eq(kiln_gguf_array_arr(&v, 0, &v), KILN_OK);
        }
        cr_assert_eq(v.v.arr.elem_type, KILN_GGUF_INT32);
        cr_assert_eq(kiln_gguf_array_i64(&v, 1, &x), KILN_OK);
        cr_assert_eq(x, -2);
        cr_assert_eq(kiln_gguf_get_str(g, "t.replaced", &s), KILN_OK);
        cr_assert(str_is(s, "second"));
        cr_assert_eq(kiln_gguf_find_key(g, "t.replaced"), 7 + 7 + 33 + 5); /* kept its first place */

        cr_assert_eq(kiln_gguf_tensor_count(g), n_ts);
        uint64_t end = 0;
        for (int i = 0; i < n_ts; i++) {
            const kiln_gguf_tensor *t = kiln_gguf_tensor_at(g, i);
            cr_assert(str_is(t->name, ts[i].name));
            cr_assert_eq(kiln_gguf_find_tensor(g, ts[i].name), t);
            cr_assert_eq(t->n_dims, ts[i].n_dims, "%s", ts[i].name);
            for (int dd = 0; dd < 4; dd++) cr_assert_eq(t->ne[dd], ts[i].ne[dd], "%s ne[%d]", ts[i].name, dd);
            cr_assert_eq(t->ggml_type, ts[i].ggml_type);
            cr_assert_eq(t->dtype, kiln_dtype_from_ggml(ts[i].ggml_type));
            cr_assert_eq(t->size, ts[i].size);
            cr_assert_eq(t->offset % 32, 0);
            cr_assert_eq(memcmp(t->data, ts[i].data, (size_t)t->size), 0, "%s data", ts[i].name);
            end = t->offset + t->size;
        }
        cr_assert_eq(kiln_gguf_tensor_at(g, 9)->dtype, -1, "q2_k has no kiln dtype");
        cr_assert_null(kiln_gguf_tensor_at(g, n_ts));
        struct stat st;
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_eq((uint64_t)st.st_size, kiln_gguf_data_offset(g) + ((end + 31) & ~(uint64_t)31));
        /* the same bytes from memory parse the same way */
        size_t n = 0;
        uint8_t *bytes = (uint8_t *)kt_read_file(path, &n);
        kiln_gguf *m = NULL;
        cr_assert_eq(kiln_gguf_open_memory(bytes, n, &m), KILN_OK);
        cr_assert_eq(walk(m), walk(g));
        kiln_gguf_close(m);
        free(bytes);
        kiln_gguf_close(g);
    }
    kiln_gguf_writer_free(w);
    for (int t = 0; t < 11; t++)
        for (int l = 0; l < 3; l++) free(arr_data[t][l]);
    for (int i = 0; i < n_ts; i++) free(ts[i].data);
    unlink(path);
    rmdir(dir);
}

/* kiln's own formats (nf4, int4g) travel through GGUF under kiln's private
 * type ids, or are refused as unsupported if formats/ gives them none. */
Test(gguf, kiln_private_types)
{
    char dir[64], path[128];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/private.gguf", dir);
    unsigned seed = fresh_seed();
    const kiln_dtype types[] = {KILN_NF4, KILN_INT4G};
    uint8_t *data[2];
    int written = 0;
    kiln_gguf_writer *w = NULL;
    cr_assert_eq(kiln_gguf_writer_create(&w), KILN_OK);
    for (int i = 0; i < 2; i++) {
        const kiln_dtype_info *info = kiln_dtype_get(types[i]);
        int64_t ne[2] = {info->block_elems * 3, 2};
        data[i] = random_bytes(kiln_row_bytes(types[i], ne[0]) * 2, &seed);
        kiln_status s = kiln_gguf_writer_add_tensor(w, info->name, types[i], 2, ne, data[i]);
        if (info->ggml_type < 0) {
            cr_assert_eq(s, KILN_ERR_UNSUPPORTED);
            continue;
        }
        cr_assert_eq(s, KILN_OK, "%s: %s", info->name, kiln_last_error());
        written++;
    }
    cr_assert_eq(kiln_gguf_writer_write(w, path, 3), KILN_OK, "%s", kiln_last_error());
    kiln_gguf_writer_free(w);
    kiln_gguf *g = NULL;
    cr_assert_eq(kiln_gguf_open(path, &g), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_gguf_tensor_count(g), written);
    for (int i = 0; i < 2; i++) {
        const kiln_dtype_info *info = kiln_dtype_get(types[i]);
        const kiln_gguf_tensor *t = kiln_gguf_find_tensor(g, info->name);
        if (info->ggml_type < 0) continue;
        cr_assert_not_null(t, "%s", info->name);
        cr_assert_eq(t->dtype, (int)types[i]);
        cr_assert_str_eq(kiln_gguf_ggml_type_name(t->ggml_type), info->name);
        cr_assert_eq(t->size, kiln_row_bytes(types[i], t->ne[0]) * 2);
        cr_assert_eq(memcmp(t->data, data[i], (size_t)t->size), 0);
    }
    kiln_gguf_close(g);
    free(data[0]);
    free(data[1]);
    unlink(path);
    rmdir(dir);
}

/* A value read from one file can be written unchanged into another. */
Test(gguf, copy_metadata_between_files)
{
    const char *src = SHARED_DIR "/vocab/ggml-vocab-llama-spm.gguf";
    if (access(src, R_OK) != 0) cr_skip_test("%s is absent", src);
    char dir[64], path[128];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/copy.gguf", dir);
    kiln_gguf *a = NULL, *b = NULL;
    cr_assert_eq(kiln_gguf_open(src, &a), KILN_OK);
    kiln_gguf_writer *w = NULL;
    cr_assert_eq(kiln_gguf_writer_create(&w), KILN_OK);
    char key[256];
    for (int64_t i = 0; i < kiln_gguf_kv_count(a); i++) {
        kiln_gguf_str k = kiln_gguf_kv_key(a, i);
        snprintf(key, sizeof key, "%.*s", (int)k.len, k.ptr);
        cr_assert_eq(kiln_gguf_writer_set_value(w, key, kiln_gguf_kv_value(a, i)), KILN_OK, "%s", key);
    }
    cr_assert_eq(kiln_gguf_writer_write(w, path, 3), KILN_OK, "%s", kiln_last_error());
    kiln_gguf_writer_free(w);
    cr_assert_eq(kiln_gguf_open(path, &b), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_gguf_kv_count(b), kiln_gguf_kv_count(a));
    cr_assert_eq(walk(a), walk(b));
    /* a vocab-only file is its metadata, byte for byte (llama.cpp writes the same layout) */
    size_t na = 0, nb = 0;
    uint8_t *pa = (uint8_t *)kt_read_file(src, &na), *pb = (uint8_t *)kt_read_file(path, &nb);
    cr_assert_eq(nb, kiln_gguf_data_offset(b));
    cr_assert_eq(memcmp(pa, pb, na < nb ? na : nb), 0);
    free(pa);
    free(pb);
    kiln_gguf_close(a);
    kiln_gguf_close(b);
    unlink(path);
    rmdir(dir);
}

Test(gguf, writer_alignment_and_versions)
{
    char dir[64], path[128];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/al.gguf", dir);
    kiln_gguf_writer *w = NULL;
    cr_assert_eq(kiln_gguf_writer_create(&w), KILN_OK);
    float data[3] = {1, 2, 3};
    cr_assert_eq(kiln_gguf_writer_add_tensor(w, "a", KILN_F32, 1, (int64_t[]){1}, data), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_add_tensor(w, "b", KILN_F32, 1, (int64_t[]){3}, data), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_set_u32(w, "general.alignment", 48), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_write(w, path, 3), KILN_ERR_INVALID_ARG, "alignment 48 accepted");
    cr_assert_eq(kiln_gguf_writer_set_u32(w, "general.alignment", 256), KILN_OK);
    cr_assert_eq(kiln_gguf_writer_write(w, path, 1), KILN_ERR_INVALID_ARG, "version 1 written");
    cr_assert_eq(kiln_gguf_writer_write(w, path, 0), KILN_OK, "%s", kiln_last_error());
    kiln_gguf *g = NULL;
    cr_assert_eq(kiln_gguf_open(path, &g), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_gguf_version(g), 3);
    cr_assert_eq(kiln_gguf_alignment(g), 256);
    cr_assert_eq(kiln_gguf_data_offset(g) % 256, 0);
    cr_assert_eq(kiln_gguf_tensor_at(g, 1)->offset, 256);
    cr_assert_eq(memcmp(kiln_gguf_tensor_at(g, 1)->data, data, 12), 0);
    kiln_gguf_close(g);
    /* writing into a directory that does not exist is an i/o error */
    cr_assert_eq(kiln_gguf_writer_write(w, "/nonexistent-dir/x.gguf", 3), KILN_ERR_IO);
    cr_assert(strstr(kiln_last_error(), "/nonexistent-dir/x.gguf"));
    kiln_gguf_writer_free(w);
    unlink(path);
    rmdir(dir);
}

Test(gguf, open_errors)
{
    kiln_gguf *g = NULL;
    cr_assert_eq(kiln_gguf_open("/nonexistent/file.gguf", &g), KILN_ERR_IO);
    cr_assert(strstr(kiln_last_error(), "/nonexistent/file.gguf"));
    cr_assert_eq(kiln_gguf_open("/tmp", &g), KILN_ERR_IO);
    char dir[64], path[128];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/empty.gguf", dir);
    FILE *f = fopen(path, "wb");
    fclose(f);
    cr_assert_eq(kiln_gguf_open(path, &g), KILN_ERR_FORMAT);
    f = fopen(path, "wb");
    fputs("GGUF\x03", f);
    fclose(f);
    cr_assert_eq(kiln_gguf_open(path, &g), KILN_ERR_FORMAT);
    cr_assert(strstr(kiln_last_error(), path), "the path is named: %s", kiln_last_error());
    cr_assert_null(g);
    cr_assert_eq(kiln_gguf_open_memory(NULL, 0, &g), KILN_ERR_FORMAT);
    cr_assert_eq(kiln_gguf_open_memory(NULL, 5, &g), KILN_ERR_INVALID_ARG);
    unlink(path);
    rmdir(dir);
}

/* ------------------------------------------------------- malformed files */

Test(gguf, rejects_bad_headers)
{
    bb b = {0};
    bb_raw(&b, "GGML", 4);
    bb_u32(&b, 3);
    expect_reject(&b, "magic is 'GGML'", NULL);
    b.n = 0;
    bb_header(&b, 1, 0, 0);
    expect_reject(&b, "version 1", "byte 4");
    b.n = 0;
    bb_header(&b, 4, 0, 0);
    expect_reject(&b, "unsupported GGUF version 4", NULL);
    b.n = 0;
    bb_raw(&b, "GGUF", 4);
    bb_le(&b, 0x03000000u, 4);
    bb_u64(&b, 0);
    bb_u64(&b, 0);
    expect_reject(&b, "big-endian", NULL);
    b.n = 0;
    bb_header(&b, 3, 0, 0);
    b.n = 20; /* n_kv cut short */
    expect_reject(&b, "metadata count needs 8 bytes", "byte 16");
    b.n = 0;
    bb_header(&b, 3, 0, UINT64_MAX);
    expect_reject(&b, "metadata count", "cannot fit");
    b.n = 0;
    bb_header(&b, 3, (uint64_t)1 << 40, 0);
    expect_reject(&b, "tensor count", "cannot fit");
    b.n = 0;
    bb_header(&b, 2, 0, 0); /* the smallest valid file */
    kiln_gguf *g = expect_accept(&b);
    cr_assert_eq(kiln_gguf_version(g), 2);
    kiln_gguf_close(g);
    free(b.p);
}

Test(gguf, rejects_bad_metadata)
{
    bb b = {0};
    /* key length past the end: names the byte and the entry */
    bb_header(&b, 3, 0, 1);
    bb_u64(&b, 1000);
    bb_raw(&b, "abcdefghijklmnop", 16);
    expect_reject(&b, "byte 24 (key #0)", "runs past the end");
    /* unknown value type */
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "my.key");
    bb_u32(&b, 13);
    bb_u32(&b, 0);
    expect_reject(&b, "value type 13", "'my.key'");
    /* bool that is neither 0 nor 1, at a known byte */
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "flag");
    bb_u32(&b, KILN_GGUF_BOOL);
    bb_le(&b, 2, 1);
    expect_reject(&b, "bool value is 2", "GGUF byte 40 (key #0 'flag')");
    /* array element type out of range, count too large for the file */
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "arr");
    bb_u32(&b, KILN_GGUF_ARRAY);
    bb_u32(&b, 77);
    bb_u64(&b, 1);
    expect_reject(&b, "element type 77", "'arr'");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "arr");
    bb_u32(&b, KILN_GGUF_ARRAY);
    bb_u32(&b, KILN_GGUF_UINT64);
    bb_u64(&b, UINT64_MAX / 4);
    bb_u64(&b, 5);
    expect_reject(&b, "array of", "'arr'");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "arr");
    bb_u32(&b, KILN_GGUF_ARRAY);
    bb_u32(&b, KILN_GGUF_STRING);
    bb_u64(&b, 3);
    bb_str(&b, "one");
    bb_u64(&b, 99); /* second string longer than what is left */
    bb_raw(&b, "only thirty bytes follow here.", 30);
    expect_reject(&b, "array string of 99 bytes", "'arr'");
    /* arrays nested one level too deep */
    for (int levels = KILN_GGUF_MAX_ARRAY_DEPTH; levels <= KILN_GGUF_MAX_ARRAY_DEPTH + 1; levels++) {
        b.n = 0;
        bb_header(&b, 3, 0, 1);
        bb_str(&b, "deep");
        bb_u32(&b, KILN_GGUF_ARRAY);
        for (int i = 1; i < levels; i++) {
            bb_u32(&b, KILN_GGUF_ARRAY);
            bb_u64(&b, 1);
        }
        bb_u32(&b, KILN_GGUF_UINT8);
        bb_u64(&b, 1);
        bb_le(&b, 7, 1);
        if (levels == KILN_GGUF_MAX_ARRAY_DEPTH) kiln_gguf_close(expect_accept(&b));
        else expect_reject(&b, "nested more than", "'deep'");
    }
    /* duplicate keys */
    b.n = 0;
    bb_header(&b, 3, 0, 3);
    bb_kv_u32(&b, "a.b", 1);
    bb_kv_u32(&b, "c", 2);
    bb_kv_u32(&b, "a.b", 3);
    expect_reject(&b, "duplicate key 'a.b'", "#0 and #2");
    /* alignment: not a power of two, wrong type */
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_kv_u32(&b, "general.alignment", 48);
    expect_reject(&b, "general.alignment 48", "power of two");
    b.n = 0;
    bb_header(&b, 3, 0, 1);
    bb_str(&b, "general.alignment");
    bb_u32(&b, KILN_GGUF_STRING);
    bb_str(&b, "32");
    expect_reject(&b, "general.alignment is a string", NULL);
    free(b.p);
}

/* A file with one f32 tensor info whose fields the caller sets; data follows. */
static void one_tensor_file(bb *b, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset, size_t data)
{
    b->n = 0;
    bb_header(b, 3, 1, 0);
    bb_str(b, "blk.0.w");
    bb_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) bb_u64(b, ne[d]);
    bb_u32(b, type);
    bb_u64(b, offset);
    bb_pad(b, 32);
    bb_zeros(b, data);
}

Test(gguf, rejects_bad_tensor_infos)
{
    bb b = {0};
    uint64_t ne[5] = {4, 2, 1, 1, 1};
    one_tensor_file(&b, 2, ne, 0, 0, 32);
    kiln_gguf_close(expect_accept(&b));
    one_tensor_file(&b, 5, ne, 0, 0, 32);
    expect_reject(&b, "n_dims is 5", "'blk.0.w'");
    ne[1] = (uint64_t)1 << 63;
    one_tensor_file(&b, 2, ne, 0, 0, 32);
    expect_reject(&b, "negative", "'blk.0.w'");
    ne[0] = (uint64_t)1 << 32;
    ne[1] = (uint64_t)1 << 32;
    one_tensor_file(&b, 2, ne, 0, 0, 32);
    expect_reject(&b, "overflows", "'blk.0.w'");
    ne[0] = 4;
    ne[1] = 2;
    one_tensor_file(&b, 2, ne, 4, 0, 32);
    expect_reject(&b, "ggml type 4 is unknown", "'blk.0.w'");
    one_tensor_file(&b, 2, ne, 99, 0, 32);
    expect_reject(&b, "ggml type 99 is unknown", "'blk.0.w'");
    ne[0] = 33;
    one_tensor_file(&b, 2, ne, 2, 0, 64); /* q4_0 rows of 33 */
    expect_reject(&b, "not a multiple of the type's block size", "q4_0");
    ne[0] = 4;
    one_tensor_file(&b, 2, ne, 0, 16, 64);
    expect_reject(&b, "not a multiple of the alignment", "'blk.0.w'");
    one_tensor_file(&b, 2, ne, 0, 0, 31); /* 32 bytes of data needed */
    expect_reject(&b, "past the end of the file", "'blk.0.w'");
    one_tensor_file(&b, 2, ne, 0, UINT64_MAX - 31, 32);
    expect_reject(&b, "past the end of the file", NULL);
    /* a zero-sized tensor is fine, even a 0-d one */
    one_tensor_file(&b, 0, ne, 0, 0, 32);
    kiln_gguf *g = expect_accept(&b);
    cr_assert_eq(kiln_gguf_tensor_at(g, 0)->n_dims, 0);
    cr_assert_eq(kiln_gguf_tensor_at(g, 0)->size, 4);
    kiln_gguf_close(g);
    /* a tensor info that runs out mid-way */
    one_tensor_file(&b, 2, ne, 0, 0, 0);
    b.n = 24 + 15 + 4 + 8;
    expect_reject(&b, "dimension needs 8 bytes", "'blk.0.w'");
    /* two tensors sharing bytes, and duplicate names */
    b.n = 0;
    bb_header(&b, 3, 2, 0);
    bb_tensor(&b, "a", 0, 8, 1, 0);
    bb_tensor(&b, "b", 0, 8, 1, 0);
    bb_pad(&b, 32);
    bb_zeros(&b, 32);
    expect_reject(&b, "overlaps", "'a'");
    b.n = 0;
    bb_header(&b, 3, 2, 0);
    bb_tensor(&b, "a", 0, 8, 1, 32);
    bb_tensor(&b, "b", 0, 16, 1, 0);
    bb_pad(&b, 32);
    bb_zeros(&b, 64);
    expect_reject(&b, "overlaps", "'b'");
    b.n = 0;
    bb_header(&b, 3, 2, 0);
    bb_tensor(&b, "same", 0, 8, 1, 0);
    bb_tensor(&b, "same", 0, 8, 1, 32);
    bb_pad(&b, 32);
    bb_zeros(&b, 64);
    expect_reject(&b, "duplicate tensor name 'same'", NULL);
    /* data section alignment follows general.alignment */
    b.n = 0;
    bb_header(&b, 3, 1, 1);
    bb_kv_u32(&b, "general.alignment", 64);
    bb_tensor(&b, "t", 0, 8, 1, 32);
    bb_pad(&b, 64);
    bb_zeros(&b, 64);
    expect_reject(&b, "not a multiple of the alignment (alignment 64", NULL);
    free(b.p);
}

/* ------------------------------------------------------- corruption */

/* A small file that exercises every section: several metadata types, a
 * string array, a nested array, and three tensors. */
static uint8_t *small_valid_file(size_t *n, uint64_t *data_end)
{
    char dir[64], path[128];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/small.gguf", dir);
    kiln_gguf_writer *w = NULL;
    cr_assert_eq(kiln_gguf_writer_create(&w), KILN_OK);
    kiln_gguf_writer_set_str(w, "general.architecture", "llama");
    kiln_gguf_writer_set_u32(w, "llama.block_count", 2);
    kiln_gguf_writer_set_f32(w, "llama.eps", 1e-5f);
    kiln_gguf_writer_set_bool(w, "add_bos", 1);
    const char *toks[] = {"<s>", "a", "bc"};
    kiln_gguf_writer_set_str_arr(w, "tokens", toks, 3);
    const int32_t ids[4] = {1, -2, 3, 4};
    kiln_gguf_writer_set_arr(w, "ids", KILN_GGUF_INT32, ids, 4);
    kiln_gguf_value in[2] = {{.type = KILN_GGUF_ARRAY}, {.type = KILN_GGUF_ARRAY}};
    in[0].v.arr.elem_type = KILN_GGUF_INT32;
    in[0].v.arr.count = 2;
    in[0].v.arr.data = ids;
    in[1].v.arr.elem_type = KILN_GGUF_STRING;
    in[1].v.arr.count = 1;
    in[1].v.arr.data = &(kiln_gguf_str){"zz", 2};
    kiln_gguf_value outer = {.type = KILN_GGUF_ARRAY};
    outer.v.arr.elem_type = KILN_GGUF_ARRAY;
    outer.v.arr.count = 2;
    outer.v.arr.data = in;
    cr_assert_eq(kiln_gguf_writer_set_value(w, "nested", &outer), KILN_OK);
    static uint8_t data[256];
    for (int i = 0; i < 256; i++) data[i] = (uint8_t)i;
    kiln_gguf_writer_add_tensor(w, "w.f32", KILN_F32, 2, (int64_t[]){3, 2}, data);
    kiln_gguf_writer_add_tensor(w, "w.q8", KILN_Q8_0, 1, (int64_t[]){32}, data);
    kiln_gguf_writer_add_tensor_ggml(w, "w.f16", 1, 1, (int64_t[]){5}, data);
    cr_assert_eq(kiln_gguf_writer_write(w, path, 3), KILN_OK, "%s", kiln_last_error());
    kiln_gguf_writer_free(w);
    uint8_t *bytes = (uint8_t *)kt_read_file(path, n);
    cr_assert_not_null(bytes);
    kiln_gguf *g = NULL;
    cr_assert_eq(kiln_gguf_open_memory(bytes, *n, &g), KILN_OK, "%s", kiln_last_error());
    const kiln_gguf_tensor *last = kiln_gguf_tensor_at(g, 2);
    *data_end = kiln_gguf_data_offset(g) + last->offset + last->size;
    kiln_gguf_close(g);
    unlink(path);
    rmdir(dir);
    return bytes;
}

/* Parses an exactly sized copy; on success walks everything. Returns the status. */
static kiln_status parse_copy(const uint8_t *bytes, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, bytes, n);
    kiln_gguf *g = NULL;
    kiln_status s = kiln_gguf_open_memory(copy, n, &g);
    if (s == KILN_OK) {
        walk(g);
        kiln_gguf_close(g);
    } else {
        cr_assert_null(g);
        cr_assert_eq(s, KILN_ERR_FORMAT, "status %d: %s", s, kiln_last_error());
        cr_assert_neq(kiln_last_error()[0], '\0', "a failure without a message");
    }
    free(copy);
    return s;
}

Test(gguf, truncated_at_every_offset, .timeout = 120)
{
    size_t n = 0;
    uint64_t data_end = 0;
    uint8_t *bytes = small_valid_file(&n, &data_end);
    cr_assert_leq(data_end, n);
    for (size_t cut = 0; cut < n; cut++) {
        kiln_status s = parse_copy(bytes, cut);
        if (cut < data_end) cr_assert_neq(s, KILN_OK, "a file cut at %zu of %zu bytes was accepted", cut, n);
        else cr_assert_eq(s, KILN_OK, "cutting only trailing padding (%zu of %zu) was rejected", cut, n);
    }
    cr_assert_eq(parse_copy(bytes, n), KILN_OK);
    free(bytes);
}

Test(gguf, corrupted_bytes, .timeout = 120)
{
    size_t n = 0;
    uint64_t data_end = 0;
    uint8_t *bytes = small_valid_file(&n, &data_end);
    uint8_t *mut = malloc(n);
    /* every byte of the header, metadata and tensor infos, several ways */
    size_t head = n;
    {
        kiln_gguf *g = NULL;
        cr_assert_eq(kiln_gguf_open_memory(bytes, n, &g), KILN_OK);
        head = (size_t)kiln_gguf_data_offset(g);
        kiln_gguf_close(g);
    }
    int cases = 0, accepted = 0;
    for (size_t pos = 0; pos < head; pos++) {
        const int ops = 8;
        for (int op = 0; op < ops; op++) {
            memcpy(mut, bytes, n);
            switch (op) {
            case 0: mut[pos] ^= 0x01; break;
            case 1: mut[pos] ^= 0x80; break;
            case 2: mut[pos] ^= 0xff; break;
            case 3: mut[pos] = 0x00; break;
            case 4: mut[pos] = 0xff; break;
            case 5: mut[pos]++; break;
            case 6: mut[pos]--; break;
            default: mut[pos] ^= 0x10; break;
            }
            accepted += parse_copy(mut, n) == KILN_OK;
            cases++;
        }
    }
    /* then random multi-byte damage anywhere, with a fresh seed */
    unsigned seed = fresh_seed(), start = seed;
    for (int i = 0; i < 3000; i++) {
        memcpy(mut, bytes, n);
        int k = 1 + rand_r(&seed) % 6;
        for (int j = 0; j < k; j++) {
            size_t pos = (size_t)rand_r(&seed) % (rand_r(&seed) % 4 ? head : n);
            mut[pos] = (uint8_t)rand_r(&seed);
        }
        size_t len = rand_r(&seed) % 8 ? n : (size_t)rand_r(&seed) % (n + 1);
        accepted += parse_copy(mut, len) == KILN_OK;
        cases++;
    }
    cr_assert_gt(cases, 3000, "seed %u", start);
    cr_assert_lt(accepted, cases, "every corruption was accepted (seed %u)", start);
    free(mut);
    free(bytes);
}
