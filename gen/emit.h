/* gen/emit.h — the emitter's internals, for kiln-gen and the tests.
 *
 * kiln_gen_emit() (kiln/kernel.h) reads templates from the embedded table.
 * kiln_gen_emit_from() takes the file lookup as a parameter, so tests can emit
 * from small in-memory templates (include resolution, missing files) without
 * touching the real kernel templates. */
#ifndef KILN_GEN_EMIT_H
#define KILN_GEN_EMIT_H
#include <stddef.h>

#include "kiln/kernel.h"

/* Text of the file at path (relative to the repository root) and its length,
 * or NULL when there is no such file. */
typedef const char *(*kiln_gen_lookup_fn)(void *user, const char *path, size_t *len);

kiln_status kiln_gen_emit_from(const kiln_spec *spec, kiln_gen_lookup_fn lookup, void *user, kiln_source *out);

/* Fill src->threads and src->shared_bytes for a valid spec (the backend's
 * gen/launch_<b>.c), without emitting the source. */
void kiln_gen_launch(const kiln_spec *spec, kiln_source *src);

/* Extension of the backend's template and emitted files: "c", "cu", "comp". */
const char *kiln_gen_source_ext(kiln_backend b);
/* kernels/<backend>/templates/<op>.<ext>; -1 when it does not fit in cap. */
int kiln_gen_template_path(const kiln_spec *spec, char *buf, size_t cap);

#endif
