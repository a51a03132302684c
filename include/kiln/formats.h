/* kiln/formats.h — element types and quantized weight formats.
 *
 * One table (formats/formats.def, exposed as kiln_dtype_info) is the source of
 * truth for every type kiln knows (this enum follows its rows; new types are
 * appended, so existing values never change):
 * its name, how many elements one block holds, how many bytes that block takes,
 * and the GGUF/ggml type id it corresponds to (so GGUF files load unchanged).
 * The block layouts themselves are documented field by field in docs/FORMATS.md
 * and asserted in formats/blocks.h. */
#ifndef KILN_FORMATS_H
#define KILN_FORMATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kiln_dtype {
    KILN_F32 = 0,
    KILN_F16,
    KILN_BF16,
    KILN_Q4_0, /* ggml: 32 weights, f16 scale, 4-bit, offset 8 */
    KILN_Q4_1, /* ggml: 32 weights, f16 scale + f16 min */
    KILN_Q5_0,
    KILN_Q5_1,
    KILN_Q8_0,
    KILN_Q4_K, /* ggml K-quants: super-blocks of 256 */
    KILN_Q5_K,
    KILN_Q6_K,
    KILN_NF4,   /* bitsandbytes NF4: 64 weights, f32 absmax, 4-bit normal-float codes */
    KILN_INT4G, /* GPTQ/AWQ style: 128 weights, f16 scale, u8 zero point, 4-bit */
    KILN_Q8_K,  /* ggml's activation format for K-quant dot products (internal use) */
    KILN_I32,   /* plain 32-bit integers (block tables, token ids) */
    KILN_Q3_K,  /* ggml K-quant: 256 weights, 3-bit, 16 6-bit sub-block scales */
    KILN_IQ4_NL, /* ggml: 32 weights, f16 scale, 4-bit codes into a non-linear table */
    KILN_DTYPE_COUNT
} kiln_dtype;

typedef struct kiln_dtype_info {
    const char *name;     /* canonical lower-case name: "f32", "q4_0", "q4_k", "nf4", "int4g" */
    int block_elems;      /* elements per block (1 for plain types) */
    int block_bytes;      /* bytes per block */
    int ggml_type;        /* GGUF tensor type id; nf4 and int4g use kiln's private ids 1024 and 1025 */
    int is_quantized;     /* 1 for block formats */
    int is_weight_format; /* 1 if dequant-matmul accepts it as a weight */
} kiln_dtype_info;

/* The table entry of a type; NULL for an out-of-range value. */
const kiln_dtype_info *kiln_dtype_get(kiln_dtype t);
/* Name lookup ("q4_k", case-insensitive); returns -1 when unknown. */
int kiln_dtype_from_name(const char *name);
/* GGUF type id -> kiln dtype; -1 when kiln does not support that GGUF type. */
int kiln_dtype_from_ggml(int ggml_type);
/* Bytes taken by one row of n elements; 0 if n is not a multiple of the block size. */
size_t kiln_row_bytes(kiln_dtype t, int64_t n);

/* Scalar conversions, bit-exact with ggml's (round to nearest even). */
uint16_t kiln_f32_to_f16(float f);
float kiln_f16_to_f32(uint16_t h);
uint16_t kiln_f32_to_bf16(float f);
float kiln_bf16_to_f32(uint16_t h);

/* Quantize n floats (a multiple of the block size) into dst, round-to-nearest
 * (K-quants: the usual per-sub-block scale search). Plain types convert.
 * Returns bytes written, or 0 on bad arguments (unsupported type, n not a
 * multiple of the block). */
size_t kiln_quantize_row(kiln_dtype t, const float *src, void *dst, int64_t n);
/* Dequantize n elements of type t from src into f32. Returns 0 on success, -1 on bad arguments. */
int kiln_dequantize_row(kiln_dtype t, const void *src, float *dst, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
