/* gen/embedded.h — kernel templates and shared math, embedded at build time.
 * Paths are relative to the repository root, e.g. "kernels/cuda/templates/matmul.cu". */
#ifndef KILN_GEN_EMBEDDED_H
#define KILN_GEN_EMBEDDED_H
#include <stddef.h>

typedef struct kiln_embedded_file {
    const char *path;
    const char *text;
    size_t len;
} kiln_embedded_file;

extern const kiln_embedded_file kiln_embedded_files[];
extern const unsigned kiln_embedded_file_count;

/* The embedded file at path, or NULL. */
const kiln_embedded_file *kiln_embedded_find(const char *path);

#endif
