/* runtime/gguf_write.c — the GGUF writer.
 *
 * Collects metadata (deep-copied) and tensors (by pointer: the caller keeps the
 * data alive until kiln_gguf_writer_write), then writes
 *   header, key/values in the order they were first set, tensor infos in the
 *   order they were added, zero padding to the alignment, and each tensor's
 *   data padded with zeros to the alignment
 * to path.tmp, syncs it and renames it over path, so a reader never sees a
 * half-written file. Everything is validated when it is added, so a file this
 * writer produces always passes the reader. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/error.h"
#include "kiln/formats.h"
#include "kiln/gguf.h"
#include "runtime/gguf_internal.h"

/* llama.cpp keeps tensor names in char[GGML_MAX_NAME = 64], NUL included. */
#define MAX_TENSOR_NAME 63

typedef struct wkv {
    char *key;
    kiln_gguf_value value; /* owns its strings and arrays */
} wkv;

typedef struct wtensor {
    char *name;
    int ggml_type;
    int n_dims;
    int64_t ne[KILN_GGUF_MAX_DIMS];
    const void *data;
    uint64_t size;
    uint64_t offset; /* assigned at write time */
} wtensor;

struct kiln_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

/* ------------------------------------------------------- owned values */

static void free_value(kiln_gguf_value *v)
{
    if (v->type == KILN_GGUF_STRING) {
        free((void *)v->v.str.ptr);
    } else if (v->type == KILN_GGUF_ARRAY) {
        if (v->v.arr.elem_type == KILN_GGUF_STRING) {
            kiln_gguf_str *s = (kiln_gguf_str *)v->v.arr.data;
            for (uint64_t i = 0; s && i < v->v.arr.count; i++) free((void *)s[i].ptr);
        } else if (v->v.arr.elem_type == KILN_GGUF_ARRAY) {
            kiln_gguf_value *a = (kiln_gguf_value *)v->v.arr.data;
            for (uint64_t i = 0; a && i < v->v.arr.count; i++) free_value(&a[i]);
        }
        free((void *)v->v.arr.data);
    }
    memset(v, 0, sizeof *v);
}

static kiln_status copy_str(kiln_gguf_str *dst, kiln_gguf_str src, const char *key)
{
    if (!src.ptr && src.len) return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: key '%s': string pointer is NULL", key);
    if (src.len >= SIZE_MAX) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF writer: key '%s': string too long", key);
    char *p = malloc((size_t)src.len + 1);
    if (!p) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF writer: key '%s': no memory for a string", key);
    if (src.len) memcpy(p, src.ptr, (size_t)src.len);
    p[src.len] = '\0';
    dst->ptr = p;
    dst->len = src.len;
    return KILN_OK;
}

/* Range of the integer types, so a value always fits the type it is written as. */
static int int_fits(kiln_gguf_type t, const kiln_gguf_value *v)
{
    switch (t) {
    case KILN_GGUF_UINT8: return v->v.u64 <= UINT8_MAX;
    case KILN_GGUF_UINT16: return v->v.u64 <= UINT16_MAX;
    case KILN_GGUF_UINT32: return v->v.u64 <= UINT32_MAX;
    case KILN_GGUF_INT8: return v->v.i64 >= INT8_MIN && v->v.i64 <= INT8_MAX;
    case KILN_GGUF_INT16: return v->v.i64 >= INT16_MIN && v->v.i64 <= INT16_MAX;
    case KILN_GGUF_INT32: return v->v.i64 >= INT32_MIN && v->v.i64 <= INT32_MAX;
    default: return 1;
    }
}

/* Deep copy of src into dst (zeroed on failure, nothing leaked). */
static kiln_status copy_value(kiln_gguf_value *dst, const kiln_gguf_value *src, const char *key, int depth)
{
    memset(dst, 0, sizeof *dst);
    if ((unsigned)src->type > KILN_GGUF_FLOAT64)
        return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: key '%s': value type %d is not a GGUF type", key,
                         (int)src->type);
    if (src->type == KILN_GGUF_STRING) {
        dst->type = KILN_GGUF_STRING;
        return copy_str(&dst->v.str, src->v.str, key);
    }
    if (src->type != KILN_GGUF_ARRAY) {
        if (!int_fits(src->type, src))
            return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: key '%s': value does not fit %s", key,
                             kiln_gguf_type_name(src->type));
        *dst = *src;
        if (src->type == KILN_GGUF_BOOL) dst->v.b = src->v.b != 0;
        return KILN_OK;
    }
    kiln_gguf_type et = src->v.arr.elem_type;
    uint64_t count = src->v.arr.count;
    if ((unsigned)et > KILN_GGUF_FLOAT64)
        return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: key '%s': array element type %d is not a GGUF type", key,
                         (int)et);
    if (et == KILN_GGUF_ARRAY && depth + 1 >= KILN_GGUF_MAX_ARRAY_DEPTH)
        return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: key '%s': arrays nested more than %d deep", key,
                         KILN_GGUF_MAX_ARRAY_DEPTH);
    if (count && !src->v.arr.data)
        return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: key '%s': array data is NULL", key);
    uint64_t esize = kiln_gguf_scalar_size(et);
    uint64_t item = esize ? esize : et == KILN_GGUF_STRING ? sizeof(kiln_gguf_str) : sizeof(kiln_gguf_value);
    if (count > SIZE_MAX / item)
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF writer: key '%s': array of %llu elements is too large", key,
                         (unsigned long long)count);
    void *copy = calloc(count ? (size_t)count : 1, (size_t)item);
    if (!copy) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF writer: key '%s': no memory for an array", key);
    dst->type = KILN_GGUF_ARRAY;
    dst->v.arr.elem_type = et;
    dst->v.arr.count = count;
    dst->v.arr.data = copy;
    kiln_status s = KILN_OK;
    if (esize) {
        if (count) memcpy(copy, src->v.arr.data, (size_t)(count * esize));
        if (et == KILN_GGUF_BOOL)
            for (uint64_t i = 0; i < count && !s; i++)
                if (((const uint8_t *)copy)[i] > 1)
                    s = kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: key '%s': bool element %llu is not 0 or 1", key,
                                  (unsigned long long)i);
    } else if (et == KILN_GGUF_STRING) {
        const kiln_gguf_str *in = src->v.arr.data;
        for (uint64_t i = 0; i < count && !s; i++) s = copy_str((kiln_gguf_str *)copy + i, in[i], key);
    } else {
        const kiln_gguf_value *in = src->v.arr.data;
        for (uint64_t i = 0; i < count && !s; i++) {
            if (in[i].type != KILN_GGUF_ARRAY)
                s = kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: key '%s': element %llu of an array of arrays is a %s",
                              key, (unsigned long long)i, kiln_gguf_type_name(in[i].type));
            else
                s = copy_value((kiln_gguf_value *)copy + i, &in[i], key, depth + 1);
        }
    }
    if (s) free_value(dst);
    return s;
}

/* ------------------------------------------------------------- collect */

kiln_status kiln_gguf_writer_create(kiln_gguf_writer **out)
{
    if (!out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_gguf_writer_create: out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? KILN_OK : kiln_fail(KILN_ERR_OUT_OF_MEMORY, "kiln_gguf_writer_create: no memory");
}

void kiln_gguf_writer_free(kiln_gguf_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free_value(&w->kv[i].value);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

static int grow(void **arr, size_t *cap, size_t n, size_t item)
{
    if (n < *cap) return 1;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, c * item);
    if (!p) return 0;
    *arr = p;
    *cap = c;
    return 1;
}

kiln_status kiln_gguf_writer_set_value(kiln_gguf_writer *w, const char *key, const kiln_gguf_value *v)
{
    if (!w || !key || !v) return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: w, key or value is NULL");
    if (!*key) return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: empty key");
    kiln_gguf_value copy;
    kiln_status s = copy_value(&copy, v, key, 0);
    if (s) return s;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) { /* setting a key again replaces its value */
            free_value(&w->kv[i].value);
            w->kv[i].value = copy;
            return KILN_OK;
        }
    }
    char *k = strdup(key);
    if (!k || !grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) {
        free(k);
        free_value(&copy);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF writer: no memory for key '%s'", key);
    }
    w->kv[w->n_kv++] = (wkv){k, copy};
    return KILN_OK;
}

static kiln_status set_scalar(kiln_gguf_writer *w, const char *key, kiln_gguf_value v)
{
    return kiln_gguf_writer_set_value(w, key, &v);
}

kiln_status kiln_gguf_writer_set_u32(kiln_gguf_writer *w, const char *key, uint32_t v)
{
    return set_scalar(w, key, (kiln_gguf_value){.type = KILN_GGUF_UINT32, .v.u64 = v});
}

kiln_status kiln_gguf_writer_set_i32(kiln_gguf_writer *w, const char *key, int32_t v)
{
    return set_scalar(w, key, (kiln_gguf_value){.type = KILN_GGUF_INT32, .v.i64 = v});
}

kiln_status kiln_gguf_writer_set_u64(kiln_gguf_writer *w, const char *key, uint64_t v)
{
    return set_scalar(w, key, (kiln_gguf_value){.type = KILN_GGUF_UINT64, .v.u64 = v});
}

kiln_status kiln_gguf_writer_set_f32(kiln_gguf_writer *w, const char *key, float v)
{
    return set_scalar(w, key, (kiln_gguf_value){.type = KILN_GGUF_FLOAT32, .v.f64 = v});
}

kiln_status kiln_gguf_writer_set_bool(kiln_gguf_writer *w, const char *key, int v)
{
    return set_scalar(w, key, (kiln_gguf_value){.type = KILN_GGUF_BOOL, .v.b = v != 0});
}

kiln_status kiln_gguf_writer_set_str(kiln_gguf_writer *w, const char *key, const char *v)
{
    if (!v) return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: key '%s': string is NULL", key ? key : "?");
    return set_scalar(w, key, (kiln_gguf_value){.type = KILN_GGUF_STRING, .v.str = {v, strlen(v)}});
}

kiln_status kiln_gguf_writer_set_arr(kiln_gguf_writer *w, const char *key, kiln_gguf_type elem_type,
                                     const void *data, uint64_t count)
{
    if (!kiln_gguf_scalar_size(elem_type))
        return kiln_fail(KILN_ERR_INVALID_ARG,
                         "GGUF writer: key '%s': kiln_gguf_writer_set_arr takes numbers or bools, not %s "
                         "(use set_str_arr or set_value)", key ? key : "?", kiln_gguf_type_name(elem_type));
    kiln_gguf_value v = {.type = KILN_GGUF_ARRAY};
    v.v.arr.elem_type = elem_type;
    v.v.arr.count = count;
    v.v.arr.data = data;
    return kiln_gguf_writer_set_value(w, key, &v);
}

kiln_status kiln_gguf_writer_set_str_arr(kiln_gguf_writer *w, const char *key, const char *const *strs,
                                         uint64_t count)
{
    if (count && !strs) return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: key '%s': strings are NULL", key ? key : "?");
    if (count > SIZE_MAX / sizeof(kiln_gguf_str))
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF writer: key '%s': too many strings", key ? key : "?");
    kiln_gguf_str *view = malloc((count ? (size_t)count : 1) * sizeof *view);
    if (!view) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF writer: no memory for key '%s'", key ? key : "?");
    for (uint64_t i = 0; i < count; i++) {
        if (!strs[i]) {
            free(view);
            return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: key '%s': string %llu is NULL", key ? key : "?",
                             (unsigned long long)i);
        }
        view[i] = (kiln_gguf_str){strs[i], strlen(strs[i])};
    }
    kiln_gguf_value v = {.type = KILN_GGUF_ARRAY};
    v.v.arr.elem_type = KILN_GGUF_STRING;
    v.v.arr.count = count;
    v.v.arr.data = view;
    kiln_status s = kiln_gguf_writer_set_value(w, key, &v);
    free(view);
    return s;
}

kiln_status kiln_gguf_writer_add_tensor_ggml(kiln_gguf_writer *w, const char *name, int ggml_type, int n_dims,
                                             const int64_t *ne, const void *data)
{
    if (!w || !name || !ne) return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: w, name or ne is NULL");
    size_t len = strlen(name);
    if (len == 0 || len > MAX_TENSOR_NAME)
        return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: tensor name '%s' must have 1 to %d bytes (llama.cpp's limit)",
                         name, MAX_TENSOR_NAME);
    if (n_dims < 1 || n_dims > KILN_GGUF_MAX_DIMS)
        return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: tensor '%s': n_dims %d is not in 1..%d", name, n_dims,
                         KILN_GGUF_MAX_DIMS);
    if (!kiln_gguf_ggml_type_name(ggml_type))
        return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: tensor '%s': ggml type %d is unknown", name, ggml_type);
    uint64_t size;
    const char *why = kiln_gguf_tensor_nbytes(ggml_type, n_dims, ne, &size);
    if (why)
        return kiln_fail(KILN_ERR_SHAPE, "GGUF writer: tensor '%s' of type %s: %s", name,
                         kiln_gguf_ggml_type_name(ggml_type), why);
    if (size && !data) return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: tensor '%s': data is NULL", name);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: tensor '%s' was already added", name);
    char *n = strdup(name);
    if (!n || !grow((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t)) {
        free(n);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF writer: no memory for tensor '%s'", name);
    }
    wtensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    t->name = n;
    t->ggml_type = ggml_type;
    t->n_dims = n_dims;
    for (int d = 0; d < KILN_GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->data = data;
    t->size = size;
    return KILN_OK;
}

kiln_status kiln_gguf_writer_add_tensor(kiln_gguf_writer *w, const char *name, kiln_dtype type, int n_dims,
                                        const int64_t *ne, const void *data)
{
    const kiln_dtype_info *info = kiln_dtype_get(type);
    if (!info) return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: tensor '%s': dtype %d is not a kiln dtype",
                                name ? name : "?", (int)type);
    if (info->ggml_type < 0)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "GGUF writer: tensor '%s': kiln dtype %s has no GGUF type",
                         name ? name : "?", info->name);
    return kiln_gguf_writer_add_tensor_ggml(w, name, info->ggml_type, n_dims, ne, data);
}

/* --------------------------------------------------------------- output */

/* Sequential little-endian output that remembers the first error. */
typedef struct out {
    FILE *f;
    uint64_t pos;
    int failed;
} out;

static void put(out *o, const void *p, size_t n)
{
    if (o->failed || n == 0) return;
    if (fwrite(p, 1, n, o->f) != n) o->failed = errno ? errno : EIO;
    o->pos += n;
}

static void put_le(out *o, uint64_t v, int n)
{
    uint8_t b[8];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(o, b, (size_t)n);
}

static void put_str(out *o, kiln_gguf_str s)
{
    put_le(o, s.len, 8);
    put(o, s.ptr, (size_t)s.len);
}

static void put_zeros(out *o, uint64_t n)
{
    static const uint8_t zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        put(o, zeros, k);
        n -= k;
    }
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* A scalar's bits as stored: floats as IEEE bits, integers two's complement. */
static uint64_t scalar_bits(kiln_gguf_type t, const kiln_gguf_value *v)
{
    if (t == KILN_GGUF_FLOAT32) {
        float f = (float)v->v.f64;
        uint32_t b;
        memcpy(&b, &f, 4);
        return b;
    }
    if (t == KILN_GGUF_FLOAT64) {
        uint64_t b;
        memcpy(&b, &v->v.f64, 8);
        return b;
    }
    if (t == KILN_GGUF_BOOL) return (uint64_t)(v->v.b != 0);
    return v->v.u64; /* signed values: the same bits through the union */
}

static void put_value(out *o, const kiln_gguf_value *v)
{
    if (v->type == KILN_GGUF_STRING) {
        put_str(o, v->v.str);
    } else if (v->type == KILN_GGUF_ARRAY) {
        kiln_gguf_type et = v->v.arr.elem_type;
        put_le(o, (uint64_t)et, 4);
        put_le(o, v->v.arr.count, 8);
        uint64_t esize = kiln_gguf_scalar_size(et);
        if (esize && host_is_little_endian()) {
            put(o, v->v.arr.data, (size_t)(v->v.arr.count * esize));
        } else if (esize) {
            const uint8_t *p = v->v.arr.data;
            for (uint64_t i = 0; i < v->v.arr.count; i++) {
                uint64_t x = 0;
                memcpy((uint8_t *)&x + (8 - esize), p + i * esize, (size_t)esize); /* big-endian host */
                put_le(o, x, (int)esize);
            }
        } else if (et == KILN_GGUF_STRING) {
            for (uint64_t i = 0; i < v->v.arr.count; i++) put_str(o, ((const kiln_gguf_str *)v->v.arr.data)[i]);
        } else {
            for (uint64_t i = 0; i < v->v.arr.count; i++) put_value(o, (const kiln_gguf_value *)v->v.arr.data + i);
        }
    } else {
        put_le(o, scalar_bits(v->type, v), (int)kiln_gguf_scalar_size(v->type));
    }
}

static kiln_status writer_alignment(const kiln_gguf_writer *w, uint32_t *align)
{
    *align = KILN_GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        const kiln_gguf_value *v = &w->kv[i].value;
        if (v->type != KILN_GGUF_UINT32 || v->v.u64 == 0 || (v->v.u64 & (v->v.u64 - 1)) || v->v.u64 > (1u << 30))
            return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: general.alignment must be a uint32 power of two up to 2^30");
        *align = (uint32_t)v->v.u64;
    }
    return KILN_OK;
}

static void put_file(out *o, const kiln_gguf_writer *w, uint32_t version, uint32_t align)
{
    put(o, "GGUF", 4);
    put_le(o, version, 4);
    put_le(o, w->n_t, 8);
    put_le(o, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(o, (kiln_gguf_str){w->kv[i].key, strlen(w->kv[i].key)});
        put_le(o, (uint64_t)w->kv[i].value.type, 4);
        put_value(o, &w->kv[i].value);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(o, (kiln_gguf_str){t->name, strlen(t->name)});
        put_le(o, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) put_le(o, (uint64_t)t->ne[d], 8);
        put_le(o, (uint64_t)t->ggml_type, 4);
        put_le(o, t->offset, 8);
    }
    put_zeros(o, (align - o->pos % align) % align);
    for (size_t i = 0; i < w->n_t; i++) {
        put(o, w->t[i].data, (size_t)w->t[i].size);
        put_zeros(o, (align - w->t[i].size % align) % align);
    }
}

kiln_status kiln_gguf_writer_write(kiln_gguf_writer *w, const char *path, uint32_t version)
{
    if (!w || !path) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_gguf_writer_write: w or path is NULL");
    if (version == 0) version = 3;
    if (version != 2 && version != 3)
        return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: version %u cannot be written (2 or 3)", version);
    uint32_t align;
    kiln_status s = writer_alignment(w, &align);
    if (s) return s;
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        uint64_t padded = w->t[i].size + (align - w->t[i].size % align) % align;
        if (padded < w->t[i].size || off > UINT64_MAX - padded || padded > SIZE_MAX)
            return kiln_fail(KILN_ERR_INVALID_ARG, "GGUF writer: tensor data exceeds 64-bit offsets");
        w->t[i].offset = off;
        off += padded;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF writer: no memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    errno = 0;
    out o = {.f = fopen(tmp, "wb")};
    if (!o.f) {
        s = kiln_fail(KILN_ERR_IO, "GGUF writer: cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    put_file(&o, w, version, align);
    if (!o.failed && fflush(o.f) != 0) o.failed = errno ? errno : EIO;
    if (!o.failed && fsync(fileno(o.f)) != 0) o.failed = errno ? errno : EIO;
    if (fclose(o.f) != 0 && !o.failed) o.failed = errno ? errno : EIO;
    if (!o.failed && rename(tmp, path) != 0) o.failed = errno ? errno : EIO;
    if (o.failed) {
        s = kiln_fail(KILN_ERR_IO, "GGUF writer: writing '%s' failed: %s", path, strerror(o.failed));
        unlink(tmp);
    }
    free(tmp);
    return s;
}
