/* gen/epilogue.h — the matmul epilogue descriptors of gen/epilogues.def (internal). */
#ifndef KILN_GEN_EPILOGUE_H
#define KILN_GEN_EPILOGUE_H
#include <stddef.h>

#include "kiln/kiln.h"

typedef enum kiln_epi_shape {
    KILN_EPI_SHAPE_NONE,   /* no operand */
    KILN_EPI_SHAPE_ROW,    /* tensor [m] of the row's dtype */
    KILN_EPI_SHAPE_LIKE_Y, /* tensor [n][m], y's dtype */
    KILN_EPI_SHAPE_LIKE_W, /* tensor [m][k], w's dtype */
    KILN_EPI_SHAPE_SCALAR  /* a float of kiln_matmul_params */
} kiln_epi_shape;

typedef struct kiln_epilogue_desc {
    const char *name;     /* "bias": spec text, procedural names, macros (KILN_EPI_BIAS) */
    unsigned bit;         /* its flag is 1u << bit */
    int stage;            /* order of application: 0 bias, 1 activation, 2 scale, 3 residual */
    const char *operand;  /* kiln_matmul_params member, NULL for none */
    size_t operand_off;   /* offsetof(kiln_matmul_params, member) */
    kiln_epi_shape shape;
    kiln_dtype dtype;     /* ROW: the tensor's dtype */
    unsigned excludes;    /* flags it cannot be combined with */
    const char *math;     /* what it does, for docs and messages */
} kiln_epilogue_desc;

extern const kiln_epilogue_desc kiln_epilogues[];
extern const int kiln_epilogue_count;
/* Every epilogue flag (what a cpu instance can apply). */
unsigned kiln_epilogue_all(void);
/* The descriptor of a flag (one bit), or NULL. */
const kiln_epilogue_desc *kiln_epilogue_of(unsigned flag);
/* Checks flags alone: unknown bits and exclusions. Returns KILN_OK or fails
 * (kiln_fail) naming what: `what` prefixes the message ("matmul"). */
kiln_status kiln_epilogue_check_flags(const char *what, unsigned flags);
/* The tensor operand of d in p (NULL when d has none or it is absent), and a
 * scalar operand's value. */
const kiln_tensor *kiln_epilogue_tensor(const kiln_epilogue_desc *d, const kiln_matmul_params *p);
float kiln_epilogue_scalar(const kiln_epilogue_desc *d, const kiln_matmul_params *p);

#endif
