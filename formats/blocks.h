/* formats/blocks.h — one struct per block layout (internal).
 *
 * These structs are the byte layout of each quantized block, identical to
 * ggml/GGUF where GGUF defines the format (ggml-common.h), so llama.cpp files
 * load unchanged. Field order and sizes are asserted below; docs/FORMATS.md
 * documents every field. All fields are little-endian; f16/bf16 values are
 * stored as raw uint16_t bits.
 *
 * The quantizers/dequantizers read and write blocks through byte offsets
 * (offsetof of these structs) with memcpy, never by casting a pointer, because
 * rows inside a file or a caller's buffer need not be aligned to the struct. */
#ifndef KILN_FORMATS_BLOCKS_H
#define KILN_FORMATS_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#define KILN_QK4_0 32
#define KILN_QK4_1 32
#define KILN_QK5_0 32
#define KILN_QK5_1 32
#define KILN_QK8_0 32
#define KILN_QK_K 256      /* K-quant super-block */
#define KILN_K_SCALE_BYTES 12 /* 8 x (6-bit scale, 6-bit min) of q4_K / q5_K */
#define KILN_QK4_NL 32
#define KILN_QK_NF4 64
#define KILN_QK_INT4G 128

/* q4_0: w = d * (q - 8); element j in the low nibble of qs[j], element j+16 in the high nibble. */
typedef struct kiln_block_q4_0 {
    uint16_t d;                    /* f16 scale */
    uint8_t qs[KILN_QK4_0 / 2];
} kiln_block_q4_0;

/* q4_1: w = d * q + m; nibble order as q4_0. */
typedef struct kiln_block_q4_1 {
    uint16_t d;                    /* f16 scale */
    uint16_t m;                    /* f16 minimum */
    uint8_t qs[KILN_QK4_1 / 2];
} kiln_block_q4_1;

/* q5_0: w = d * (q - 16); low 4 bits as q4_0, bit 4 of element j is bit j of qh (little-endian u32). */
typedef struct kiln_block_q5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[KILN_QK5_0 / 2];
} kiln_block_q5_0;

/* q5_1: w = d * q + m; bits as q5_0. */
typedef struct kiln_block_q5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[KILN_QK5_1 / 2];
} kiln_block_q5_1;

/* q8_0: w = d * q. */
typedef struct kiln_block_q8_0 {
    uint16_t d;
    int8_t qs[KILN_QK8_0];
} kiln_block_q8_0;

/* q4_K: 8 sub-blocks of 32; w = d * sc[s] * q - dmin * m[s], (sc, m) 6-bit each
 * packed in scales[12] (see kiln_k_scale_min). Chunk c (64 elements) keeps its
 * first 32 in the low nibbles of qs[32c..32c+31], the next 32 in the high nibbles. */
typedef struct kiln_block_q4_K {
    uint16_t d;                    /* f16 super-block scale of the scales */
    uint16_t dmin;                 /* f16 super-block scale of the mins */
    uint8_t scales[KILN_K_SCALE_BYTES];
    uint8_t qs[KILN_QK_K / 2];
} kiln_block_q4_K;

/* q5_K: as q4_K plus a fifth bit: bit (2c + h) of qh[l] for element 64c + 32h + l. */
typedef struct kiln_block_q5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[KILN_K_SCALE_BYTES];
    uint8_t qh[KILN_QK_K / 8];
    uint8_t qs[KILN_QK_K / 2];
} kiln_block_q5_K;

/* q6_K: 16 sub-blocks of 16; w = d * scales[s] * (q - 32), q 6-bit = 4 low bits in ql + 2 in qh. */
typedef struct kiln_block_q6_K {
    uint8_t ql[KILN_QK_K / 2];
    uint8_t qh[KILN_QK_K / 4];
    int8_t scales[KILN_QK_K / 16];
    uint16_t d;
} kiln_block_q6_K;

/* q3_K: 16 sub-blocks of 16; w = d * (sc[s] - 32) * (q - 4), q 3-bit = 2 low
 * bits in qs + 1 high bit in hmask; sc 6-bit: low nibble in scales[s % 8]
 * (high half for s >= 8), top 2 bits in scales[8 + s % 4] at bit 2 * (s / 4). */
typedef struct kiln_block_q3_K {
    uint8_t hmask[KILN_QK_K / 8];  /* bit 4n + t of hmask[l]: high bit of element 128n + 32t + l */
    uint8_t qs[KILN_QK_K / 4];     /* bits 2t..2t+1 of qs[32n + l]: low bits of the same element */
    uint8_t scales[KILN_K_SCALE_BYTES];
    uint16_t d;                    /* f16 super-block scale */
} kiln_block_q3_K;

/* iq4_nl: w = d * kiln_iq4nl_values[q]; nibble order as q4_0. */
typedef struct kiln_block_iq4_nl {
    uint16_t d;
    uint8_t qs[KILN_QK4_NL / 2];
} kiln_block_iq4_nl;

/* q8_K: activations for K-quant dot products; w = d * q; bsums[g] = sum of qs[16g..16g+15]. */
typedef struct kiln_block_q8_K {
    float d;
    int8_t qs[KILN_QK_K];
    int16_t bsums[KILN_QK_K / 16];
} kiln_block_q8_K;

/* nf4 (bitsandbytes): w = absmax * NF4[code]; byte j holds element 2j in the
 * HIGH nibble and element 2j+1 in the low nibble (bitsandbytes' packing). */
typedef struct kiln_block_nf4 {
    float absmax;
    uint8_t qs[KILN_QK_NF4 / 2];
} kiln_block_nf4;

/* int4g (GPTQ/AWQ style): w = scale * (q - zero); byte j holds element 2j in
 * the LOW nibble and element 2j+1 in the high nibble (GPTQ's int32 packing
 * read as little-endian bytes). */
typedef struct kiln_block_int4g {
    uint16_t scale;                /* f16 */
    uint8_t zero;                  /* zero point 0..15 */
    uint8_t pad;                   /* 0; keeps qs 4-byte aligned */
    uint8_t qs[KILN_QK_INT4G / 2];
} kiln_block_int4g;

_Static_assert(sizeof(kiln_block_q4_0) == 18, "q4_0 block must be 18 bytes (ggml)");
_Static_assert(sizeof(kiln_block_q4_1) == 20, "q4_1 block must be 20 bytes (ggml)");
_Static_assert(sizeof(kiln_block_q5_0) == 22, "q5_0 block must be 22 bytes (ggml)");
_Static_assert(sizeof(kiln_block_q5_1) == 24, "q5_1 block must be 24 bytes (ggml)");
_Static_assert(sizeof(kiln_block_q8_0) == 34, "q8_0 block must be 34 bytes (ggml)");
_Static_assert(sizeof(kiln_block_q4_K) == 144, "q4_K block must be 144 bytes (ggml)");
_Static_assert(sizeof(kiln_block_q5_K) == 176, "q5_K block must be 176 bytes (ggml)");
_Static_assert(sizeof(kiln_block_q6_K) == 210, "q6_K block must be 210 bytes (ggml)");
_Static_assert(sizeof(kiln_block_q8_K) == 292, "q8_K block must be 292 bytes (ggml)");
_Static_assert(sizeof(kiln_block_q3_K) == 110, "q3_K block must be 110 bytes (ggml)");
_Static_assert(offsetof(kiln_block_q3_K, scales) == 96 && offsetof(kiln_block_q3_K, d) == 108, "q3_K offsets");
_Static_assert(sizeof(kiln_block_iq4_nl) == 18, "iq4_nl block must be 18 bytes (ggml)");
_Static_assert(sizeof(kiln_block_nf4) == 36, "nf4 block must be 36 bytes");
_Static_assert(sizeof(kiln_block_int4g) == 68, "int4g block must be 68 bytes");
_Static_assert(offsetof(kiln_block_q5_0, qs) == 6, "q5_0 qs offset");
_Static_assert(offsetof(kiln_block_q5_1, qs) == 8, "q5_1 qs offset");
_Static_assert(offsetof(kiln_block_q5_K, qs) == 48, "q5_K qs offset");
_Static_assert(offsetof(kiln_block_q6_K, d) == 208, "q6_K d offset");
_Static_assert(offsetof(kiln_block_q8_K, bsums) == 260, "q8_K bsums offset");
_Static_assert(offsetof(kiln_block_int4g, qs) == 4, "int4g qs offset");

/* The 16 NF4 code values (bitsandbytes, float32), ascending; code 7 is 0. */
extern const float kiln_nf4_values[16];
/* The 16 IQ4_NL code values (ggml's kvalues_iq4nl), ascending. */
extern const int8_t kiln_iq4nl_values[16];

#endif
