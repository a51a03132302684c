/* kernels/core/fsutil.h — small file helpers shared by the caches
 * (compiled kernels, pipeline caches, tuning results). */
#ifndef KILN_CORE_FSUTIL_H
#define KILN_CORE_FSUTIL_H
#include <stddef.h>

#include "kiln/kiln.h"

/* dir if given, else $XDG_CACHE_HOME/kiln, else $HOME/.cache/kiln. */
kiln_status kiln_cache_dir_resolve(const char *dir, char *out, size_t cap);
/* mkdir -p */
kiln_status kiln_mkdir_p(const char *path);
/* Write atomically: path.tmp.<pid>.<n>, fsync-free rename over path.
 * Creates the parent directory. */
kiln_status kiln_write_file_atomic(const char *path, const void *data, size_t len);
/* Read a whole file into malloc'd memory (NUL-terminated for convenience). */
kiln_status kiln_read_file(const char *path, void **data, size_t *len);

#endif
