/* runtime/gguf_internal.h — what the GGUF reader and writer share (internal).
 *
 * The reader must bound-check tensors of every type ggml defines, including the
 * ones kiln cannot compute with (q2_k, iq*, ...), so it keeps its own table of
 * ggml block sizes; for the types kiln supports, formats/ is the source of
 * truth (kiln_dtype_from_ggml) and the tests check that both tables agree. */
#ifndef KILN_RUNTIME_GGUF_INTERNAL_H
#define KILN_RUNTIME_GGUF_INTERNAL_H

#include <stdint.h>

#include "kiln/gguf.h"

/* Nesting limit for arrays of arrays: real files never nest, so this only
 * stops a malicious file from making the reader recurse without bound. */
#define KILN_GGUF_MAX_ARRAY_DEPTH 16
#define KILN_GGUF_DEFAULT_ALIGNMENT 32u
/* ggml's GGML_MAX_DIMS. */
#define KILN_GGUF_MAX_DIMS 4

typedef struct kiln_ggml_type_info {
    const char *name;  /* "q2_k"; NULL for ids ggml never defined or removed */
    int block_elems;   /* elements per block */
    int block_bytes;   /* bytes per block */
} kiln_ggml_type_info;

/* Geometry of a tensor type id: kiln's own table (formats/) for the types kiln
 * supports, its private ids (nf4, int4g) included, else ggml's table. Returns 0
 * when the size of that id is not known. */
int kiln_gguf_ggml_type_info(int ggml_type, kiln_ggml_type_info *out);

/* ggml's own entry for an id (ignoring formats/), or NULL: lets the tests
 * check that formats/ and ggml agree on the types both know. */
const kiln_ggml_type_info *kiln_gguf_ggml_builtin_type(int ggml_type);

/* Bytes of one metadata scalar of type t (0 for strings, arrays and unknown ids). */
uint64_t kiln_gguf_scalar_size(kiln_gguf_type t);
/* Readable name of a metadata type ("uint32", "array"), "?" when unknown. */
const char *kiln_gguf_type_name(kiln_gguf_type t);

/* Bytes of a tensor of ggml_type with n_dims dimensions ne[] (innermost first).
 * Returns a static reason when the size cannot be computed (unknown type,
 * negative dimension, ne[0] not a multiple of the block, overflow), else NULL. */
const char *kiln_gguf_tensor_nbytes(int ggml_type, int n_dims, const int64_t *ne, uint64_t *out);

#endif
