/* gen/epilogue.c — gen/epilogues.def expanded: the descriptors and their checks. */
#include <stdio.h>
#include <string.h>

#include "gen/epilogue.h"
#include "gen/epilogues.def"
#include "kiln/error.h"

/* kiln.h's flags are the table's bits, and both list the same set. */
#define X(ID, nm, bit, ...) _Static_assert(KILN_EPI_##ID == 1u << (bit), "KILN_EPI_" #ID " is not bit " #bit " of gen/epilogues.def");
KILN_EPILOGUES(X)
#undef X

/* The bits are 0..count-1, so flag-name tables can be indexed by bit (spec_fields.c). */
enum {
#define X(ID, ...) KILN_EPI_ROW_##ID,
    KILN_EPILOGUES(X)
#undef X
    KILN_EPI_ROWS
};
#define X(ID, nm, bit, ...) _Static_assert((bit) < KILN_EPI_ROWS, "gen/epilogues.def: bit " #bit " of " #nm " leaves a gap");
KILN_EPILOGUES(X)
#undef X

#define KILN_EPI_OPERAND_NONE NULL, 0
#define KILN_EPI_OPERAND(m) #m, offsetof(kiln_matmul_params, m)
#define KILN_EPI_OPND_bias KILN_EPI_OPERAND(bias)
#define KILN_EPI_OPND_residual KILN_EPI_OPERAND(residual)
#define KILN_EPI_OPND_w_up KILN_EPI_OPERAND(w_up)
#define KILN_EPI_OPND_scale KILN_EPI_OPERAND(scale)
#define KILN_EPI_OPND_NONE KILN_EPI_OPERAND_NONE

const kiln_epilogue_desc kiln_epilogues[] = {
#define X(ID, nm, b, st, opnd, shp, dt, excl, mth)                                                                   \
    {.name = #nm, .bit = b, .stage = st, KILN_EPI_OPND_##opnd, .shape = KILN_EPI_SHAPE_##shp, .dtype = KILN_##dt,  \
     .excludes = excl, .math = mth},
    KILN_EPILOGUES(X)
#undef X
};
const int kiln_epilogue_count = (int)(sizeof kiln_epilogues / sizeof kiln_epilogues[0]);

unsigned kiln_epilogue_all(void)
{
    unsigned all = 0;
    for (int i = 0; i < kiln_epilogue_count; i++) all |= 1u << kiln_epilogues[i].bit;
    return all;
}

const kiln_epilogue_desc *kiln_epilogue_of(unsigned flag)
{
    for (int i = 0; i < kiln_epilogue_count; i++)
        if (flag == 1u << kiln_epilogues[i].bit) return &kiln_epilogues[i];
    return NULL;
}

kiln_status kiln_epilogue_check_flags(const char *what, unsigned flags)
{
    if (flags & ~kiln_epilogue_all())
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s: epilogue 0x%x has unknown flags 0x%x", what, flags,
                         flags & ~kiln_epilogue_all());
    for (int i = 0; i < kiln_epilogue_count; i++) {
        const kiln_epilogue_desc *d = &kiln_epilogues[i];
        if (!(flags >> d->bit & 1u) || !(flags & d->excludes)) continue;
        const kiln_epilogue_desc *o = kiln_epilogue_of(flags & d->excludes & (0u - (flags & d->excludes)));
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s: epilogues %s and %s cannot be combined", what, d->name,
                         o ? o->name : "?");
    }
    return KILN_OK;
}

const kiln_tensor *kiln_epilogue_tensor(const kiln_epilogue_desc *d, const kiln_matmul_params *p)
{
    if (!d->operand || d->shape == KILN_EPI_SHAPE_SCALAR) return NULL;
    const kiln_tensor *t;
    memcpy(&t, (const char *)p + d->operand_off, sizeof t);
    return t;
}

float kiln_epilogue_scalar(const kiln_epilogue_desc *d, const kiln_matmul_params *p)
{
    float v = 0.0f;
    if (d->operand && d->shape == KILN_EPI_SHAPE_SCALAR) memcpy(&v, (const char *)p + d->operand_off, sizeof v);
    return v;
}
