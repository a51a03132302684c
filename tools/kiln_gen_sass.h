/* tools/kiln_gen_sass.h — kiln-gen --sass (tools/kiln_gen_sass.c).
 * Each returns kiln-gen's exit code: 0, or 1 with the reason on stderr. */
#ifndef KILN_GEN_CLI_SASS_H
#define KILN_GEN_CLI_SASS_H

#include "kiln/spec.h"

/* Whether arch names an NVRTC target the way kiln does: sm_XY, sm_XYZ, optional 'a'. */
int kiln_gen_arch_ok(const char *arch);
/* Figures and SASS of one cuda spec for sm_80 and sm_90, or for arch_only when not NULL. */
int kiln_gen_sass_spec(const kiln_spec *s, const char *arch_only);
/* The regression table of every cuda manifest instance (tests/data/cuda_static.txt). */
int kiln_gen_sass_manifest(void);

#endif
