/* formats/quant_internal.h — what the per-format quantizers share (internal).
 *
 * Every format implements two block-row functions with the same shape, so
 * formats/quantize.c can dispatch through one table:
 *   quantize:   nblocks blocks from x (nblocks * block_elems floats) into y
 *   dequantize: nblocks blocks from x into y (nblocks * block_elems floats)
 * Blocks are read and written with memcpy through these helpers because a row
 * handed to us (a slice of a GGUF file, a caller's byte buffer) need not be
 * aligned to the block struct. */
#ifndef KILN_FORMATS_QUANT_INTERNAL_H
#define KILN_FORMATS_QUANT_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "formats/blocks.h"
#include "kiln/formats.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kiln's block formats are little-endian; a big-endian host needs byte swaps here"
#endif

typedef void (*kiln_quantize_blocks_fn)(const float *x, uint8_t *y, int64_t nblocks);
typedef void (*kiln_dequantize_blocks_fn)(const uint8_t *x, float *y, int64_t nblocks);

static inline uint16_t kiln_ld16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline void kiln_st16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline uint32_t kiln_ld32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline void kiln_st32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline float kiln_ldf32(const uint8_t *p) { float v; memcpy(&v, p, 4); return v; }
static inline void kiln_stf32(uint8_t *p, float v) { memcpy(p, &v, 4); }
static inline float kiln_ldf16(const uint8_t *p) { return kiln_f16_to_f32(kiln_ld16(p)); }

/* Round to nearest, ties to even, for |f| < 2^22 — ggml's nearest_int, which
 * the K-quant searches rely on (adding 1.5 * 2^23 leaves the rounded integer
 * in the low mantissa bits). */
static inline int kiln_nearest_int(float f)
{
    float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* legacy ggml formats (quant_legacy.c) */
void kiln_quantize_q4_0(const float *x, uint8_t *y, int64_t nb);
void kiln_dequantize_q4_0(const uint8_t *x, float *y, int64_t nb);
void kiln_quantize_q4_1(const float *x, uint8_t *y, int64_t nb);
void kiln_dequantize_q4_1(const uint8_t *x, float *y, int64_t nb);
void kiln_quantize_q5_0(const float *x, uint8_t *y, int64_t nb);
void kiln_dequantize_q5_0(const uint8_t *x, float *y, int64_t nb);
void kiln_quantize_q5_1(const float *x, uint8_t *y, int64_t nb);
void kiln_dequantize_q5_1(const uint8_t *x, float *y, int64_t nb);
void kiln_quantize_q8_0(const float *x, uint8_t *y, int64_t nb);
void kiln_dequantize_q8_0(const uint8_t *x, float *y, int64_t nb);

/* K-quants (quant_kquants.c) */
void kiln_quantize_q4_K(const float *x, uint8_t *y, int64_t nb);
void kiln_dequantize_q4_K(const uint8_t *x, float *y, int64_t nb);
void kiln_quantize_q5_K(const float *x, uint8_t *y, int64_t nb);
void kiln_dequantize_q5_K(const uint8_t *x, float *y, int64_t nb);
void kiln_quantize_q6_K(const float *x, uint8_t *y, int64_t nb);
void kiln_dequantize_q6_K(const uint8_t *x, float *y, int64_t nb);
void kiln_quantize_q8_K(const float *x, uint8_t *y, int64_t nb);
void kiln_dequantize_q8_K(const uint8_t *x, float *y, int64_t nb);

/* q3_K (quant_kquants.c) and iq4_nl (quant_iq4_nl.c) */
void kiln_quantize_q3_K(const float *x, uint8_t *y, int64_t nb);
void kiln_dequantize_q3_K(const uint8_t *x, float *y, int64_t nb);
void kiln_quantize_iq4_nl(const float *x, uint8_t *y, int64_t nb);
void kiln_dequantize_iq4_nl(const uint8_t *x, float *y, int64_t nb);

/* kiln's own weight formats (quant_nf4_int4g.c) */
void kiln_quantize_nf4(const float *x, uint8_t *y, int64_t nb);
void kiln_dequantize_nf4(const uint8_t *x, float *y, int64_t nb);
void kiln_quantize_int4g(const float *x, uint8_t *y, int64_t nb);
void kiln_dequantize_int4g(const uint8_t *x, float *y, int64_t nb);

#endif
