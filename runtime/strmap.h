/* runtime/strmap.h — an open-addressing hash map from byte strings to int32,
 * for the tokenizer's token and merge tables. Keys are copied into the map's
 * own arena, so the map outlives whatever it was built from. */
#ifndef KILN_RUNTIME_STRMAP_H
#define KILN_RUNTIME_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln.h"

typedef struct kiln_strmap {
    uint32_t *slots;      /* [cap] entry index + 1, 0 = empty */
    size_t cap;           /* power of two */
    size_t count;
    uint64_t *key_off;    /* [count] offset of each key in arena */
    uint32_t *key_len;    /* [count] */
    int32_t *values;      /* [count] */
    char *arena;
    size_t arena_used, arena_cap;
    size_t entries_cap;
} kiln_strmap;

/* expected: the number of keys that will be added (for sizing). */
kiln_status kiln_strmap_init(kiln_strmap *m, size_t expected);
void kiln_strmap_free(kiln_strmap *m);
/* Adds key -> value; an existing key keeps its first value (llama.cpp keeps the
 * first token of duplicated texts, too). */
kiln_status kiln_strmap_put(kiln_strmap *m, const char *key, size_t len, int32_t value);
/* Value of key, or -1. */
int32_t kiln_strmap_get(const kiln_strmap *m, const char *key, size_t len);

#endif
