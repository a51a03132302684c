/* kernels/vulkan/spirv_cache.c — the on-disk SPIR-V cache (see spirv_cache.h). */
#include "kernels/vulkan/spirv_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "kernels/core/fsutil.h"
#include "kernels/vulkan/glsl_compile.h"

#define SPV_MAGIC "KILNSPV1"
#define SPIRV_MAGIC 0x07230203u

typedef struct spv_header {
    char magic[8];
    uint64_t key;
    uint64_t words;
    uint64_t checksum;
} spv_header;

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t key_of(const char *source)
{
    const char *id = kiln_glsl_compiler_id();
    uint64_t h = fnv1a(0xcbf29ce484222325ull, id, strlen(id) + 1);
    return fnv1a(h, source, strlen(source));
}

void kiln_spirv_cache_path(const char *dir, const char *source, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%016llx.spv", dir, (unsigned long long)key_of(source));
}

/* 1 and fills out when path holds a valid entry for key. */
static int read_entry(const char *path, uint64_t key, kiln_spirv_result *out)
{
    void *data = NULL;
    size_t len = 0;
    if (kiln_read_file(path, &data, &len) != KILN_OK) return 0;
    int ok = 0;
    spv_header h;
    if (len >= sizeof h) {
        memcpy(&h, data, sizeof h);
        size_t payload = len - sizeof h;
        const unsigned char *words = (const unsigned char *)data + sizeof h;
        uint32_t first = 0;
        if (payload >= 4) memcpy(&first, words, 4);
        ok = !memcmp(h.magic, SPV_MAGIC, 8) && h.key == key && h.words > 0 && h.words * 4 == payload &&
             h.checksum == fnv1a(0xcbf29ce484222325ull, words, payload) && first == SPIRV_MAGIC;
        if (ok) {
            out->words = malloc(payload);
            ok = out->words != NULL;
            if (ok) {
                memcpy(out->words, words, payload);
                out->count = (size_t)h.words;
                out->from_cache = 1;
            }
        }
    }
    free(data);
    return ok;
}

static void write_entry(const char *path, uint64_t key, const uint32_t *words, size_t count)
{
    size_t payload = count * 4;
    unsigned char *buf = malloc(sizeof(spv_header) + payload);
    if (!buf) return;
    spv_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, SPV_MAGIC, 8);
    h.key = key;
    h.words = count;
    h.checksum = fnv1a(0xcbf29ce484222325ull, words, payload);
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, words, payload);
    /* best effort: a read-only cache directory only costs recompiles */
    (void)kiln_write_file_atomic(path, buf, sizeof h + payload);
    free(buf);
}

kiln_status kiln_spirv_get(const char *dir, const char *source, const char *name, kiln_spirv_result *out)
{
    memset(out, 0, sizeof *out);
    uint64_t key = key_of(source);
    char path[1400];
    if (dir && *dir) {
        kiln_spirv_cache_path(dir, source, path, sizeof path);
        if (read_entry(path, key, out)) return KILN_OK;
    }
    kiln_status s = kiln_glsl_compile(source, name, &out->words, &out->count);
    if (s != KILN_OK) return s;
    if (dir && *dir) write_entry(path, key, out->words, out->count);
    return KILN_OK;
}
