/* runtime/parallel.h — a parallel for over the host cores, for the runtime's
 * host work on long prompts (RoPE, KV conversion). Internal. */
#ifndef KILN_RUNTIME_PARALLEL_H
#define KILN_RUNTIME_PARALLEL_H

#include <stdint.h>

typedef void (*kiln_range_fn)(void *ctx, int64_t begin, int64_t end);

/* Calls fn over [0, n) split into contiguous ranges of at least min_chunk
 * items, on up to 8 threads (the caller's among them); inline when small. */
void kiln_parallel_for(int64_t n, int64_t min_chunk, kiln_range_fn fn, void *ctx);

#endif
