/* kernels/core/hash.h — FNV-1a, the one hash of kiln's cache keys and
 * checksums (spec hashes, compiled-kernel and SPIR-V cache entries, memos). */
#ifndef KILN_CORE_HASH_H
#define KILN_CORE_HASH_H
#include <stddef.h>
#include <stdint.h>

#define KILN_FNV1A_SEED 0xcbf29ce484222325ull

/* Continue hash h over n bytes (start with KILN_FNV1A_SEED). */
static inline uint64_t kiln_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#endif
