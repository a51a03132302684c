/* kiln/gguf.h — GGUF files: a validating reader over mmap, and a writer.
 *
 * GGUF (versions 2 and 3), little endian:
 *   magic "GGUF" u32 version  u64 n_tensors  u64 n_kv
 *   n_kv x { string key, u32 type, value }        (arrays: u32 elem_type, u64 n, items)
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims] (innermost first), u32 ggml_type, u64 offset }
 *   padding to general.alignment (default 32), then tensor data; offsets are
 *   relative to the start of the data section and aligned.
 * strings are u64 length + bytes (no NUL). The reader checks every count, size,
 * offset and overflow against the file length and reports what is wrong and
 * where (byte offset) through kiln_last_error(). */
#ifndef KILN_GGUF_H
#define KILN_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kiln_gguf_type {
    KILN_GGUF_UINT8 = 0, KILN_GGUF_INT8 = 1, KILN_GGUF_UINT16 = 2, KILN_GGUF_INT16 = 3,
    KILN_GGUF_UINT32 = 4, KILN_GGUF_INT32 = 5, KILN_GGUF_FLOAT32 = 6, KILN_GGUF_BOOL = 7,
    KILN_GGUF_STRING = 8, KILN_GGUF_ARRAY = 9, KILN_GGUF_UINT64 = 10, KILN_GGUF_INT64 = 11,
    KILN_GGUF_FLOAT64 = 12
} kiln_gguf_type;

typedef struct kiln_gguf kiln_gguf;

/* A string inside the mapped file (not NUL-terminated). */
typedef struct kiln_gguf_str { const char *ptr; uint64_t len; } kiln_gguf_str;

/* A metadata value. For arrays: elem_type, count, and data pointing at the
 * first element inside the file (strings/nested arrays: use kiln_gguf_array_*).
 * Precisely: numeric and bool arrays point at the packed little-endian elements
 * in the file (possibly unaligned: read them with memcpy or kiln_gguf_array_*);
 * string arrays point at a kiln_gguf_str[count] index and nested arrays at a
 * kiln_gguf_value[count] index, both built by the reader so that element i is
 * found in O(1). The writer's kiln_gguf_writer_set_value takes the same shape
 * (numeric elements in host order), so a value read can be written back. */
typedef struct kiln_gguf_value {
    kiln_gguf_type type;
    union {
        uint64_t u64; int64_t i64; double f64; int b;
        kiln_gguf_str str;
        struct { kiln_gguf_type elem_type; uint64_t count; const void *data; } arr;
    } v;
} kiln_gguf_value;

typedef struct kiln_gguf_tensor {
    kiln_gguf_str name;
    int n_dims;
    int64_t ne[4];       /* innermost first, as GGUF stores it */
    int ggml_type;
    int dtype;           /* kiln_dtype, or -1 when kiln does not support the type */
    uint64_t offset;     /* from the start of the data section */
    uint64_t size;       /* bytes */
    const void *data;    /* inside the mapping */
} kiln_gguf_tensor;

/* Open and validate a file (mmap, read-only). */
kiln_status kiln_gguf_open(const char *path, kiln_gguf **out);
/* Validate a file already in memory (the reader keeps pointers into it). */
kiln_status kiln_gguf_open_memory(const void *data, size_t size, kiln_gguf **out);
void kiln_gguf_close(kiln_gguf *g);

uint32_t kiln_gguf_version(const kiln_gguf *g);
uint32_t kiln_gguf_alignment(const kiln_gguf *g);
int64_t kiln_gguf_kv_count(const kiln_gguf *g);
kiln_gguf_str kiln_gguf_kv_key(const kiln_gguf *g, int64_t i);
const kiln_gguf_value *kiln_gguf_kv_value(const kiln_gguf *g, int64_t i);
/* Index of key (exact match), or -1. */
int64_t kiln_gguf_find_key(const kiln_gguf *g, const char *key);
/* Typed getters: KILN_OK, or KILN_ERR_FORMAT if missing or of another type
 * (integers convert between widths when the value fits; get_f64 also takes
 * integers, which some writers use for float hyperparameters). */
kiln_status kiln_gguf_get_u64(const kiln_gguf *g, const char *key, uint64_t *out);
kiln_status kiln_gguf_get_i64(const kiln_gguf *g, const char *key, int64_t *out);
kiln_status kiln_gguf_get_f64(const kiln_gguf *g, const char *key, double *out);
kiln_status kiln_gguf_get_str(const kiln_gguf *g, const char *key, kiln_gguf_str *out);
kiln_status kiln_gguf_get_arr(const kiln_gguf *g, const char *key, kiln_gguf_value *out);
kiln_status kiln_gguf_get_bool(const kiln_gguf *g, const char *key, int *out);
/* Element i of an array value: strings, numbers, and nested arrays. */
kiln_status kiln_gguf_array_str(const kiln_gguf_value *arr, uint64_t i, kiln_gguf_str *out);
kiln_status kiln_gguf_array_f64(const kiln_gguf_value *arr, uint64_t i, double *out);
kiln_status kiln_gguf_array_i64(const kiln_gguf_value *arr, uint64_t i, int64_t *out);
kiln_status kiln_gguf_array_arr(const kiln_gguf_value *arr, uint64_t i, kiln_gguf_value *out);

int64_t kiln_gguf_tensor_count(const kiln_gguf *g);
const kiln_gguf_tensor *kiln_gguf_tensor_at(const kiln_gguf *g, int64_t i);
const kiln_gguf_tensor *kiln_gguf_find_tensor(const kiln_gguf *g, const char *name);
/* Byte offset of the data section in the file (tensor offsets are relative to it). */
uint64_t kiln_gguf_data_offset(const kiln_gguf *g);
/* Name of a GGUF tensor type id ("q2_k", "iq4_xs", or kiln's private "nf4"/"int4g"), NULL when unknown. */
const char *kiln_gguf_ggml_type_name(int ggml_type);

/* ---- writer: collect metadata and tensors, then write the file atomically
 * (to path.tmp, then rename). Data pointers must stay valid until write. */
typedef struct kiln_gguf_writer kiln_gguf_writer;
kiln_status kiln_gguf_writer_create(kiln_gguf_writer **out);
void kiln_gguf_writer_free(kiln_gguf_writer *w);
kiln_status kiln_gguf_writer_set_u32(kiln_gguf_writer *w, const char *key, uint32_t v);
kiln_status kiln_gguf_writer_set_i32(kiln_gguf_writer *w, const char *key, int32_t v);
kiln_status kiln_gguf_writer_set_u64(kiln_gguf_writer *w, const char *key, uint64_t v);
kiln_status kiln_gguf_writer_set_f32(kiln_gguf_writer *w, const char *key, float v);
kiln_status kiln_gguf_writer_set_bool(kiln_gguf_writer *w, const char *key, int v);
kiln_status kiln_gguf_writer_set_str(kiln_gguf_writer *w, const char *key, const char *v);
/* Arrays of numbers (elem_type a numeric kiln_gguf_type) or strings. */
kiln_status kiln_gguf_writer_set_arr(kiln_gguf_writer *w, const char *key, kiln_gguf_type elem_type,
                                     const void *data, uint64_t count);
kiln_status kiln_gguf_writer_set_str_arr(kiln_gguf_writer *w, const char *key,
                                         const char *const *strs, uint64_t count);
/* ne innermost first, as in GGUF. */
kiln_status kiln_gguf_writer_add_tensor(kiln_gguf_writer *w, const char *name, kiln_dtype type,
                                        int n_dims, const int64_t *ne, const void *data);
/* Any value, nested arrays included, in the shape kiln_gguf_value documents;
 * deep-copied, so v need not outlive the call. */
kiln_status kiln_gguf_writer_set_value(kiln_gguf_writer *w, const char *key, const kiln_gguf_value *v);
/* A tensor of any ggml type id the reader knows (kiln_gguf_ggml_type_name != NULL),
 * including types kiln cannot compute with, e.g. to copy them unchanged. */
kiln_status kiln_gguf_writer_add_tensor_ggml(kiln_gguf_writer *w, const char *name, int ggml_type,
                                             int n_dims, const int64_t *ne, const void *data);
/* version: 3 (or 0 for the default, 3) or 2. Alignment: general.alignment if it
 * was set (a power of two, as uint32), else 32. */
kiln_status kiln_gguf_writer_write(kiln_gguf_writer *w, const char *path, uint32_t version);

#ifdef __cplusplus
}
#endif
#endif
