/* gen/spec_fields.c — the table of spec fields: text key, macro, name tag. */
#include "gen/spec_fields.h"
#include "gen/epilogues.def"

#include <string.h>

/* Fields are read and written as int: every enum of kiln_spec and the flags word
 * have int's size (checked here), and int/unsigned access the same object. */
_Static_assert(sizeof(kiln_op) == sizeof(int), "kiln_op is read as int");
_Static_assert(sizeof(kiln_backend) == sizeof(int), "kiln_backend is read as int");
_Static_assert(sizeof(kiln_dtype) == sizeof(int), "kiln_dtype is read as int");
_Static_assert(sizeof(unsigned) == sizeof(int), "epilogue is read as int");

#define FIELD_AT(member) offsetof(kiln_spec, member)

/* Order here is the order of the canonical text and of the procedural name. */
const kiln_spec_field kiln_spec_fields[] = {
    {.key = "op", .kind = KILN_FIELD_OP, .offset = FIELD_AT(op), .macro = "KILN_OP", .always_named = 1},
    {.key = "backend", .kind = KILN_FIELD_BACKEND, .offset = FIELD_AT(backend), .macro = "KILN_BACKEND",
     .always_named = 1},
    {.key = "fmt", .kind = KILN_FIELD_DTYPE, .offset = FIELD_AT(fmt), .macro = "KILN_FMT", .dflt = KILN_F32,
     .always_named = 1},
    {.key = "act", .kind = KILN_FIELD_DTYPE, .offset = FIELD_AT(act), .macro = "KILN_ACT", .dflt = KILN_F32,
     .always_named = 1},
    {.key = "out", .kind = KILN_FIELD_DTYPE, .offset = FIELD_AT(out), .macro = "KILN_OUT", .default_key = "act",
     .always_named = 1},
    {.key = "acc", .kind = KILN_FIELD_DTYPE, .offset = FIELD_AT(acc), .macro = "KILN_ACC", .dflt = KILN_F32,
     .name_tag = "acc"},
    {.key = "epi", .kind = KILN_FIELD_FLAGS, .offset = FIELD_AT(epilogue), .macro = "KILN_EPI", .name_tag = ""},
    {.key = "hd", .kind = KILN_FIELD_INT, .offset = FIELD_AT(head_dim), .macro = "KILN_HEAD_DIM", .name_tag = "hd"},
    {.key = "tm", .kind = KILN_FIELD_INT, .offset = FIELD_AT(tile.tm), .macro = "KILN_TM", .name_tag = "tm"},
    {.key = "tn", .kind = KILN_FIELD_INT, .offset = FIELD_AT(tile.tn), .macro = "KILN_TN", .name_tag = "tn"},
    {.key = "tk", .kind = KILN_FIELD_INT, .offset = FIELD_AT(tile.tk), .macro = "KILN_TK", .name_tag = "tk"},
    {.key = "threads", .kind = KILN_FIELD_INT, .offset = FIELD_AT(tile.threads), .macro = "KILN_THREADS",
     .name_tag = "t"},
    {.key = "stages", .kind = KILN_FIELD_INT, .offset = FIELD_AT(tile.stages), .macro = "KILN_STAGES",
     .name_tag = "s"},
    {.key = "vec", .kind = KILN_FIELD_INT, .offset = FIELD_AT(tile.vec), .macro = "KILN_VEC", .name_tag = "v"},
    {.key = "split", .kind = KILN_FIELD_INT, .offset = FIELD_AT(tile.split), .macro = "KILN_SPLIT",
     .name_tag = "k"},
};
const size_t kiln_spec_field_count = sizeof kiln_spec_fields / sizeof kiln_spec_fields[0];
_Static_assert(sizeof kiln_spec_fields / sizeof kiln_spec_fields[0] <= 32, "the parser tracks fields in a 32-bit set");

int kiln_field_get(const kiln_spec *s, const kiln_spec_field *f)
{
    return *(const int *)((const char *)s + f->offset);
}

void kiln_field_set(kiln_spec *s, const kiln_spec_field *f, int v)
{
    *(int *)((char *)s + f->offset) = v;
}

int kiln_field_default(const kiln_spec *s, const kiln_spec_field *f)
{
    if (f->default_key) return kiln_field_get(s, kiln_field_find(f->default_key, strlen(f->default_key)));
    return f->dflt;
}

const kiln_spec_field *kiln_field_find(const char *key, size_t len)
{
    for (size_t i = 0; i < kiln_spec_field_count; i++)
        if (strlen(kiln_spec_fields[i].key) == len && !memcmp(kiln_spec_fields[i].key, key, len))
            return &kiln_spec_fields[i];
    return NULL;
}

const char *kiln_gen_backend_name(kiln_backend b)
{
    static const char *const names[KILN_BACKEND_COUNT] = {
        [KILN_BACKEND_CPU] = "cpu",
        [KILN_BACKEND_CUDA] = "cuda",
        [KILN_BACKEND_VULKAN] = "vulkan",
    };
    return (unsigned)b < KILN_BACKEND_COUNT ? names[b] : NULL;
}

const char *const *kiln_gen_flag_names(kiln_op op, int *count)
{
    /* Indexed by bit. matmul: the rows of gen/epilogues.def (bits 0..count-1,
     * checked by gen/epilogue.c); KILN_SPEC_NORM_LAYER = 1<<0,
     * KILN_SPEC_NORM_RESIDUAL = 1<<1; KILN_SPEC_ROPE_KV = 1<<0. */
    static const char *const matmul[] = {
#define X(ID, nm, b, ...) [b] = #nm,
        KILN_EPILOGUES(X)
#undef X
    };
    static const char *const norm[] = {"layer", "residual"};
    static const char *const rope[] = {"kv"};
    switch (op) {
    case KILN_OP_MATMUL: *count = (int)(sizeof matmul / sizeof matmul[0]); return matmul;
    case KILN_OP_NORM: *count = 2; return norm;
    case KILN_OP_ROPE: *count = 1; return rope;
    default: *count = 0; return NULL;
    }
}
