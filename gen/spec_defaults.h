/* gen/spec_defaults.h — what a spec text may leave out (internal; gen/spec.c).
 *
 * A text without tile fields gets the tiles the backend's own heuristic
 * would choose, and backend=cpu the best ISA this build compiles kernels
 * for, so `kiln-gen --spec 'matmul backend=cuda fmt=q4_0'` names a kernel
 * kiln actually runs. */
#ifndef KILN_GEN_SPEC_DEFAULTS_H
#define KILN_GEN_SPEC_DEFAULTS_H

#include "kiln/spec.h"

/* s->tile from the heuristic of s's backend for s's op and types (matmul: a
 * decode call, n = 1; norm: a 4096-wide row), as the manifest builds its
 * instances. */
void kiln_spec_heuristic_tiles(kiln_spec *s);

#endif
