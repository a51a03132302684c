/* formats/dtype_table.c — the one table of element types and block formats.
 *
 * The rows are formats/formats.def's; this file expands them into the public
 * kiln_dtype_info table and the internal kiln_format traits. GGUF ids are
 * ggml's `enum ggml_type`; nf4 and int4g have no GGUF id, so kiln gives them
 * private ids from 1024 up (kiln extensions: only kiln writes or reads them;
 * see docs/FORMATS.md). */
#include <ctype.h>

#include "formats/blocks.h"
#include "formats/format_traits.h"
#include "formats/formats.def"
#include "kiln/formats.h"

/* The public enum is written out in kiln/formats.h (it is ABI); check that it
 * names the table's rows in the table's order. */
enum {
#define X(ID, ...) KILN_ROW_##ID,
    KILN_FORMATS(X)
#undef X
    KILN_ROW_COUNT
};
_Static_assert((int)KILN_ROW_COUNT == (int)KILN_DTYPE_COUNT, "kiln_dtype and formats/formats.def disagree on the count");
#define X(ID, ...) _Static_assert((int)KILN_##ID == (int)KILN_ROW_##ID, "kiln_dtype out of order: KILN_" #ID);
KILN_FORMATS(X)
#undef X

static const kiln_dtype_info kiln_dtypes[KILN_DTYPE_COUNT] = {
#define X(ID, nm, elems, bytes, ggml, fam, act, flags, ...)                                                          \
    [KILN_##ID] = {.name = #nm, .block_elems = elems, .block_bytes = bytes, .ggml_type = ggml,                    \
                   .is_quantized = (elems) > 1, .is_weight_format = ((flags) & KILN_FMT_F_WEIGHT) != 0},
    KILN_FORMATS(X)
#undef X
};

static const kiln_format kiln_formats[KILN_DTYPE_COUNT] = {
#define X(ID, nm, elems, bytes, ggml, fam, act_t, fl, sc, s0, s1, ...)                                                \
    [KILN_##ID] = {.name = #nm, .family = KILN_FAMILY_##fam, .act = KILN_##act_t, .flags = (fl),                     \
                   .scale = KILN_SCALE_##sc, .scale_off = {s0, s1}},
    KILN_FORMATS(X)
#undef X
};

const kiln_format *kiln_format_get(kiln_dtype t)
{
    if ((unsigned)t >= KILN_DTYPE_COUNT) return NULL;
    return &kiln_formats[t];
}

int kiln_format_has(kiln_dtype t, unsigned flags)
{
    const kiln_format *f = kiln_format_get(t);
    return f && (f->flags & flags) == flags;
}

int kiln_format_fast(kiln_dtype t, kiln_backend b)
{
    switch (b) {
    case KILN_BACKEND_CPU: return kiln_format_has(t, KILN_FMT_F_FAST_CPU);
    case KILN_BACKEND_CUDA: return kiln_format_has(t, KILN_FMT_F_FAST_CUDA);
    case KILN_BACKEND_VULKAN: return kiln_format_has(t, KILN_FMT_F_FAST_VULKAN);
    default: return 0;
    }
}

const char *kiln_format_family_name(kiln_format_family f)
{
    static const char *const names[KILN_FAMILY_COUNT] = {
        [KILN_FAMILY_FLOAT] = "float",     [KILN_FAMILY_INT] = "int",         [KILN_FAMILY_LEGACY] = "legacy",
        [KILN_FAMILY_KQUANT] = "k-quant",  [KILN_FAMILY_IQUANT] = "i-quant", [KILN_FAMILY_GROUP] = "group-wise",
    };
    return (unsigned)f < KILN_FAMILY_COUNT ? names[f] : "?";
}

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
