/* runtime/strmap.c — string -> int32 hash map (FNV-1a, linear probing). */
#include "runtime/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

kiln_status kiln_strmap_init(kiln_strmap *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    m->cap = 16;
    while (m->cap < expected * 2 + 1) m->cap <<= 1;
    m->entries_cap = expected > 0 ? expected : 16;
    m->arena_cap = m->entries_cap * 8 + 64;
    m->slots = calloc(m->cap, sizeof *m->slots);
    m->key_off = malloc(m->entries_cap * sizeof *m->key_off);
    m->key_len = malloc(m->entries_cap * sizeof *m->key_len);
    m->values = malloc(m->entries_cap * sizeof *m->values);
    m->arena = malloc(m->arena_cap);
    if (!m->slots || !m->key_off || !m->key_len || !m->values || !m->arena) {
        kiln_strmap_free(m);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory for a table of %zu strings", expected);
    }
    return KILN_OK;
}

void kiln_strmap_free(kiln_strmap *m)
{
    free(m->slots);
    free(m->key_off);
    free(m->key_len);
    free(m->values);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

static int key_equals(const kiln_strmap *m, uint32_t entry, const char *key, size_t len)
{
    return m->key_len[entry] == len && memcmp(m->arena + m->key_off[entry], key, len) == 0;
}

int32_t kiln_strmap_get(const kiln_strmap *m, const char *key, size_t len)
{
    if (!m->cap) return -1;
    size_t mask = m->cap - 1;
    for (size_t i = hash_bytes(key, len) & mask;; i = (i + 1) & mask) {
        uint32_t s = m->slots[i];
        if (!s) return -1;
        if (key_equals(m, s - 1, key, len)) return m->values[s - 1];
    }
}

static kiln_status grow(kiln_strmap *m, size_t len)
{
    if (m->count == m->entries_cap) {
        size_t n = m->entries_cap * 2;
        uint64_t *o = realloc(m->key_off, n * sizeof *o);
        if (o) m->key_off = o;
        uint32_t *l = realloc(m->key_len, n * sizeof *l);
        if (l) m->key_len = l;
        int32_t *v = realloc(m->values, n * sizeof *v);
        if (v) m->values = v;
        if (!o || !l || !v) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory growing a string table");
        m->entries_cap = n;
    }
    if (m->arena_used + len > m->arena_cap) {
        size_t n = m->arena_cap * 2 + len;
        char *a = realloc(m->arena, n);
        if (!a) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory growing a string table");
        m->arena = a;
        m->arena_cap = n;
    }
    if ((m->count + 1) * 2 > m->cap) {
        size_t cap = m->cap * 2;
        uint32_t *slots = calloc(cap, sizeof *slots);
        if (!slots) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory growing a string table");
        for (size_t e = 0; e < m->count; e++) {
            size_t i = hash_bytes(m->arena + m->key_off[e], m->key_len[e]) & (cap - 1);
            while (slots[i]) i = (i + 1) & (cap - 1);
            slots[i] = (uint32_t)e + 1;
        }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    return KILN_OK;
}

kiln_status kiln_strmap_put(kiln_strmap *m, const char *key, size_t len, int32_t value)
{
    if (len > UINT32_MAX) return kiln_fail(KILN_ERR_INVALID_ARG, "tokenizer: string of %zu bytes is too long", len);
    kiln_status st = grow(m, len);
    if (st != KILN_OK) return st;
    size_t mask = m->cap - 1;
    size_t i = hash_bytes(key, len) & mask;
    for (; m->slots[i]; i = (i + 1) & mask)
        if (key_equals(m, m->slots[i] - 1, key, len)) return KILN_OK;
    size_t e = m->count++;
    memcpy(m->arena + m->arena_used, key, len);
    m->key_off[e] = m->arena_used;
    m->key_len[e] = (uint32_t)len;
    m->values[e] = value;
    m->arena_used += len;
    m->slots[i] = (uint32_t)e + 1;
    return KILN_OK;
}
