/* gen/space.h — the autotuner's search spaces, declared next to the generator.
 *
 * A space is a base spec (everything but the tiles fixed) plus, per tile field,
 * the values to try. Each op family x backend declares its axes in gen/space.c;
 * a backend without a declaration gets the neighbourhood of its default tiles
 * (each used field at x/4 .. 4x, powers of two), and backends whose kernels are
 * compiled at build time (cpu) search the manifest instances, which are the
 * cross product of the axes declared for them (kiln_space_cpu_axes). Invalid
 * points are pruned by kiln_spec_validate here and by the backend's
 * can_implement (shared memory, registers, features) before anything compiles. */
#ifndef KILN_GEN_SPACE_H
#define KILN_GEN_SPACE_H
#include <stddef.h>

#include "kiln/spec.h"

#define KILN_SPACE_MAX_AXES 7
#define KILN_SPACE_MAX_VALUES 8

typedef struct kiln_space_axis {
    const char *field;                 /* spec field key: "tm", "tn", "threads", ... */
    int count;
    int values[KILN_SPACE_MAX_VALUES];
} kiln_space_axis;

typedef struct kiln_search_space {
    kiln_spec base;                    /* the default point: its tiles are the start */
    int n_axes;
    kiln_space_axis axes[KILN_SPACE_MAX_AXES];
    /* cpu: the candidates are the manifest instances matching base */
    int from_manifest;
    unsigned fixed;                    /* tile fields held at base's value, by bit
                                        * (tm tn tk threads stages vec split) */
} kiln_search_space;

/* The space around base (base's tiles are the starting point). */
kiln_status kiln_search_space_make(const kiln_spec *base, kiln_search_space *out);
/* Number of points in the cross product (manifest spaces: matching instances). */
size_t kiln_search_space_size(const kiln_search_space *sp);
/* Point i of the cross product (i < size) into *out; KILN_ERR_INVALID_ARG if the
 * point fails kiln_spec_validate (the reason stays in kiln_last_error()). */
kiln_status kiln_search_space_point(const kiln_search_space *sp, size_t i, kiln_spec *out);
/* Search only the tile fields named in the comma list (e.g. "tm,tn,threads");
 * every other field stays at base's value. KILN_ERR_INVALID_ARG for a name
 * that is not a tile field. Makes a large space walkable in full, e.g. for
 * checking a guided search against exhaustive on a GPU. */
kiln_status kiln_search_space_restrict(kiln_search_space *sp, const char *fields);
/* Set axis a of s to value index v. */
void kiln_search_space_apply(const kiln_search_space *sp, int a, int v, kiln_spec *s);

/* ---- the cpu: what its tiles mean and which variants are compiled in.
 * The cpu cannot compile at run time, so its space is declared here once and
 * used twice: gen/manifest_cpu.c compiles the cross product of these axes into
 * libkiln, and the tuner searches exactly those instances. */

/* Whether cpu matmul of fmt on isa takes a direct path (int8 or f16 kernels
 * reading W as stored) rather than the generic dequantize-then-dot one; the
 * same rule as MM_PATH_DIRECT in kernels/cpu/templates/matmul.c. */
int kiln_space_cpu_matmul_direct(kiln_isa isa, kiln_dtype fmt);
/* The cpu manifest's default tiles for s (op, isa, fmt set): the constants the
 * templates had before the tiles meant anything, so defaults run as before. */
void kiln_space_cpu_default_tiles(kiln_spec *s);
/* The tile axes compiled in for the cpu default instance dflt; values[0] of
 * each axis is dflt's own value. Returns the number of axes (0: the default
 * is the only instance). */
int kiln_space_cpu_axes(const kiln_spec *dflt, kiln_space_axis axes[KILN_SPACE_MAX_AXES]);

#endif
