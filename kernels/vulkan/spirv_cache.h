/* kernels/vulkan/spirv_cache.h — compiled SPIR-V on disk, keyed by source and compiler.
 *
 * File <dir>/<16 hex digits>.spv: the key is FNV-1a 64 of the compiler id and
 * the full GLSL source (which carries the spec's canonical text), so a changed
 * template, spec or compiler never hits a stale entry. Each file holds a header
 * (magic, key, word count, FNV-1a of the payload) and the SPIR-V words; entries
 * are written atomically (tmp + rename) and any entry that fails a check is
 * treated as absent and rebuilt. */
#ifndef KILN_VK_SPIRV_CACHE_H
#define KILN_VK_SPIRV_CACHE_H
#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln.h"

typedef struct kiln_spirv_result {
    uint32_t *words; /* malloc'd */
    size_t count;
    int from_cache;  /* 1: read from disk, 0: compiled now */
} kiln_spirv_result;

/* SPIR-V for source: from dir (if non-empty and valid there), else compiled and
 * stored in dir. A cache that cannot be written is not an error. */
kiln_status kiln_spirv_get(const char *dir, const char *source, const char *name, kiln_spirv_result *out);
/* The path the entry for source would have (for tests). */
void kiln_spirv_cache_path(const char *dir, const char *source, char *path, size_t cap);

#endif
