/* gen/spec_fields.h — the one table of spec fields (internal).
 *
 * Every field of kiln_spec appears here once, with its key in the canonical
 * text, the macro the emitter defines for it, and how it shows in the
 * procedural name. spec.c (text, name, equality) and emit.c (the macro block)
 * both walk this table, so adding a field is one row, never a positional
 * array whose order has to match something else. */
#ifndef KILN_GEN_SPEC_FIELDS_H
#define KILN_GEN_SPEC_FIELDS_H
#include <stddef.h>

#include "kiln/spec.h"

typedef enum kiln_field_kind {
    KILN_FIELD_OP,      /* kiln_op; a bare word in the text ("matmul") */
    KILN_FIELD_BACKEND, /* kiln_backend + kiln_isa together: "cuda", "cpu-avx2" */
    KILN_FIELD_DTYPE,   /* kiln_dtype, by its table name ("q4_k") */
    KILN_FIELD_FLAGS,   /* epilogue bits: matmul KILN_EPI_*, norm KILN_SPEC_NORM_*, rope KILN_SPEC_ROPE_* */
    KILN_FIELD_INT      /* a non-negative integer (head size, tiles) */
} kiln_field_kind;

typedef struct kiln_spec_field {
    const char *key;      /* key in the text ("fmt"); the op has none in the canonical text */
    kiln_field_kind kind;
    size_t offset;        /* offsetof(kiln_spec, ...) of the value */
    /* Emitted macro. INT: "#define KILN_TM <value>". DTYPE: a prefix, one macro
     * per dtype set to 0 or 1 ("KILN_FMT" -> KILN_FMT_Q4_K 1); OP/BACKEND/FLAGS
     * have fixed macro sets written by the emitter (see emit.c). */
    const char *macro;
    /* Default value, omitted from the canonical text. default_key names another
     * field whose value is the default instead (out defaults to act). */
    int dflt;
    const char *default_key;
    /* In the procedural name: always (value only), or only when not default,
     * as name_tag immediately followed by the value ("tm64", "accf16"). */
    int always_named;
    const char *name_tag;
} kiln_spec_field;

extern const kiln_spec_field kiln_spec_fields[];
extern const size_t kiln_spec_field_count;

/* The integer value of a field in s (enums and flags read as int). */
int kiln_field_get(const kiln_spec *s, const kiln_spec_field *f);
void kiln_field_set(kiln_spec *s, const kiln_spec_field *f, int v);
/* The value the field takes when the text omits it. */
int kiln_field_default(const kiln_spec *s, const kiln_spec_field *f);
/* The row of a key, or NULL. */
const kiln_spec_field *kiln_field_find(const char *key, size_t len);

/* Names shared by text, names and macros. */
const char *kiln_gen_backend_name(kiln_backend b); /* "cpu", "cuda", "vulkan"; NULL out of range */
/* Epilogue flag names for an op, indexed by bit: matmul the rows of gen/epilogues.def,
 * norm {"layer","residual"}, rope {"kv"}; *count receives how many bits the op has (0 for attention). */
const char *const *kiln_gen_flag_names(kiln_op op, int *count);

#endif
