/* formats/dtype_table.c — the one table of element types and block formats.
 *
 * Every place in kiln that needs a type's name, block size or GGUF id reads it
 * from here. GGUF ids are ggml's `enum ggml_type`; nf4 and int4g have no GGUF
 * id, so kiln gives them private ids from 1024 up (kiln extensions: only
 * kiln writes or reads them; see docs/FORMATS.md). */
#include <ctype.h>

#include "formats/blocks.h"
#include "kiln/formats.h"

#define KILN_GGML_ID_NF4 1024
#define KILN_GGML_ID_INT4G 1025

static const kiln_dtype_info kiln_dtypes[KILN_DTYPE_COUNT] = {
    [KILN_F32] = {.name = "f32", .block_elems = 1, .block_bytes = 4, .ggml_type = 0,
                  .is_quantized = 0, .is_weight_format = 1},
    [KILN_F16] = {.name = "f16", .block_elems = 1, .block_bytes = 2, .ggml_type = 1,
                  .is_quantized = 0, .is_weight_format = 1},
    [KILN_BF16] = {.name = "bf16", .block_elems = 1, .block_bytes = 2, .ggml_type = 30,
                   .is_quantized = 0, .is_weight_format = 1},
    [KILN_Q4_0] = {.name = "q4_0", .block_elems = KILN_QK4_0, .block_bytes = sizeof(kiln_block_q4_0),
                   .ggml_type = 2, .is_quantized = 1, .is_weight_format = 1},
    [KILN_Q4_1] = {.name = "q4_1", .block_elems = KILN_QK4_1, .block_bytes = sizeof(kiln_block_q4_1),
                   .ggml_type = 3, .is_quantized = 1, .is_weight_format = 1},
    [KILN_Q5_0] = {.name = "q5_0", .block_elems = KILN_QK5_0, .block_bytes = sizeof(kiln_block_q5_0),
                   .ggml_type = 6, .is_quantized = 1, .is_weight_format = 1},
    [KILN_Q5_1] = {.name = "q5_1", .block_elems = KILN_QK5_1, .block_bytes = sizeof(kiln_block_q5_1),
                   .ggml_type = 7, .is_quantized = 1, .is_weight_format = 1},
    [KILN_Q8_0] = {.name = "q8_0", .block_elems = KILN_QK8_0, .block_bytes = sizeof(kiln_block_q8_0),
                   .ggml_type = 8, .is_quantized = 1, .is_weight_format = 1},
    [KILN_Q4_K] = {.name = "q4_k", .block_elems = KILN_QK_K, .block_bytes = sizeof(kiln_block_q4_K),
                   .ggml_type = 12, .is_quantized = 1, .is_weight_format = 1},
    [KILN_Q5_K] = {.name = "q5_k", .block_elems = KILN_QK_K, .block_bytes = sizeof(kiln_block_q5_K),
                   .ggml_type = 13, .is_quantized = 1, .is_weight_format = 1},
    [KILN_Q6_K] = {.name = "q6_k", .block_elems = KILN_QK_K, .block_bytes = sizeof(kiln_block_q6_K),
                   .ggml_type = 14, .is_quantized = 1, .is_weight_format = 1},
    [KILN_NF4] = {.name = "nf4", .block_elems = KILN_QK_NF4, .block_bytes = sizeof(kiln_block_nf4),
                  .ggml_type = KILN_GGML_ID_NF4, .is_quantized = 1, .is_weight_format = 1},
    [KILN_INT4G] = {.name = "int4g", .block_elems = KILN_QK_INT4G, .block_bytes = sizeof(kiln_block_int4g),
                    .ggml_type = KILN_GGML_ID_INT4G, .is_quantized = 1, .is_weight_format = 1},
    /* q8_K only ever holds activations (the K-quant dot-product partner). */
    [KILN_Q8_K] = {.name = "q8_k", .block_elems = KILN_QK_K, .block_bytes = sizeof(kiln_block_q8_K),
                   .ggml_type = 15, .is_quantized = 1, .is_weight_format = 0},
    [KILN_I32] = {.name = "i32", .block_elems = 1, .block_bytes = 4, .ggml_type = 26,
                  .is_quantized = 0, .is_weight_format = 0},
};

const kiln_dtype_info *kiln_dtype_get(kiln_dtype t)
{
    if ((unsigned)t >= KILN_DTYPE_COUNT) return NULL;
    return &kiln_dtypes[t];
}

static int kiln_name_equal_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

int kiln_dtype_from_name(const char *name)
{
    if (!name) return -1;
    for (int t = 0; t < KILN_DTYPE_COUNT; t++)
        if (kiln_name_equal_nocase(name, kiln_dtypes[t].name)) return t;
    return -1;
}

int kiln_dtype_from_ggml(int ggml_type)
{
    for (int t = 0; t < KILN_DTYPE_COUNT; t++)
        if (kiln_dtypes[t].ggml_type == ggml_type) return t;
    return -1;
}

size_t kiln_row_bytes(kiln_dtype t, int64_t n)
{
    const kiln_dtype_info *info = kiln_dtype_get(t);
    if (!info || n < 0 || n % info->block_elems != 0) return 0;
    return (size_t)(n / info->block_elems) * (size_t)info->block_bytes;
}
