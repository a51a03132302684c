/* gen/manifest.c — the manifest: every backend's default instances, joined.
 * Each backend lists its own (gen/manifest_<b>.c); this joins them once, on
 * first use, in backend order (cpu, cuda, vulkan). The lists are static data,
 * so the joined array lives for the life of the process. */
#include <pthread.h>
#include <stdlib.h>

#include "gen/manifest.h"
#include "kiln/kernel.h"

typedef size_t (*manifest_fn)(kiln_spec *out, size_t cap);

static const manifest_fn backend_lists[KILN_BACKEND_COUNT] = {
    [KILN_BACKEND_CPU] = kiln_manifest_cpu,
    [KILN_BACKEND_CUDA] = kiln_manifest_cuda,
    [KILN_BACKEND_VULKAN] = kiln_manifest_vulkan,
};

static pthread_once_t joined_once = PTHREAD_ONCE_INIT;
static kiln_spec *joined;
static size_t joined_count;

static void join_lists(void)
{
    size_t total = 0;
    for (int b = 0; b < KILN_BACKEND_COUNT; b++) total += backend_lists[b](NULL, 0);
    if (!total || !(joined = calloc(total, sizeof *joined))) return; /* empty (or no memory): an empty manifest */
    for (int b = 0; b < KILN_BACKEND_COUNT; b++) {
        size_t room = total - joined_count;
        size_t n = backend_lists[b](joined + joined_count, room);
        joined_count += n < room ? n : room;
    }
}

size_t kiln_manifest_count(void)
{
    pthread_once(&joined_once, join_lists);
    return joined_count;
}

const kiln_spec *kiln_manifest_get(size_t i)
{
    pthread_once(&joined_once, join_lists);
    return i < joined_count ? &joined[i] : NULL;
}
