/* runtime/gguf_read.c — the validating GGUF reader (versions 2 and 3).
 *
 * Layout (little endian; docs/GGUF.md has it field by field):
 *   header   : "GGUF" u32 version, u64 n_tensors, u64 n_kv
 *   metadata : n_kv x { str key, u32 type, value }
 *   tensors  : n_tensors x { str name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
 *   padding to general.alignment, then the data section.
 * A str is u64 length + bytes; an array value is u32 elem_type, u64 count, items.
 *
 * The file is untrusted: every read goes through a cursor that checks the bytes
 * exist first, every count is checked against the bytes left before anything is
 * allocated for it (so memory stays proportional to the file size), and every
 * size computation is checked for overflow. Errors name the byte offset and the
 * key or tensor being read. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln/error.h"
#include "kiln/formats.h"
#include "kiln/gguf.h"
#include "runtime/gguf_internal.h"

/* ------------------------------------------------------------ type tables */

/* ggml's tensor types by id, with their block geometry (ggml-common.h), for
 * the types kiln does not support itself. Ids 4, 5, 31-33 and 36-38 were
 * removed from ggml and are rejected, as are ids newer than nvfp4 (40). */
static const kiln_ggml_type_info ggml_types[] = {
    [0] = {"f32", 1, 4},          [1] = {"f16", 1, 2},
    [2] = {"q4_0", 32, 18},       [3] = {"q4_1", 32, 20},
    [6] = {"q5_0", 32, 22},       [7] = {"q5_1", 32, 24},
    [8] = {"q8_0", 32, 34},       [9] = {"q8_1", 32, 36},
    [10] = {"q2_k", 256, 84},     [11] = {"q3_k", 256, 110},
    [12] = {"q4_k", 256, 144},    [13] = {"q5_k", 256, 176},
    [14] = {"q6_k", 256, 210},    [15] = {"q8_k", 256, 292},
    [16] = {"iq2_xxs", 256, 66},  [17] = {"iq2_xs", 256, 74},
    [18] = {"iq3_xxs", 256, 98},  [19] = {"iq1_s", 256, 50},
    [20] = {"iq4_nl", 32, 18},    [21] = {"iq3_s", 256, 110},
    [22] = {"iq2_s", 256, 82},    [23] = {"iq4_xs", 256, 136},
    [24] = {"i8", 1, 1},          [25] = {"i16", 1, 2},
    [26] = {"i32", 1, 4},         [27] = {"i64", 1, 8},
    [28] = {"f64", 1, 8},         [29] = {"iq1_m", 256, 56},
    [30] = {"bf16", 1, 2},        [34] = {"tq1_0", 256, 54},
    [35] = {"tq2_0", 256, 66},    [39] = {"mxfp4", 32, 17},
    [40] = {"nvfp4", 64, 36},
};

const kiln_ggml_type_info *kiln_gguf_ggml_builtin_type(int ggml_type)
{
    if (ggml_type < 0 || ggml_type >= (int)(sizeof ggml_types / sizeof ggml_types[0])) return NULL;
    return ggml_types[ggml_type].name ? &ggml_types[ggml_type] : NULL;
}

int kiln_gguf_ggml_type_info(int ggml_type, kiln_ggml_type_info *out)
{
    int dt = kiln_dtype_from_ggml(ggml_type);
    const kiln_dtype_info *k = dt >= 0 ? kiln_dtype_get((kiln_dtype)dt) : NULL;
    if (k && k->block_elems > 0 && k->block_bytes > 0) {
        *out = (kiln_ggml_type_info){k->name, k->block_elems, k->block_bytes};
        return 1;
    }
    const kiln_ggml_type_info *g = kiln_gguf_ggml_builtin_type(ggml_type);
    if (!g) return 0;
    *out = *g;
    return 1;
}

const char *kiln_gguf_ggml_type_name(int ggml_type)
{
    kiln_ggml_type_info t;
    return kiln_gguf_ggml_type_info(ggml_type, &t) ? t.name : NULL;
}

uint64_t kiln_gguf_scalar_size(kiln_gguf_type t)
{
    switch (t) {
    case KILN_GGUF_UINT8: case KILN_GGUF_INT8: case KILN_GGUF_BOOL: return 1;
    case KILN_GGUF_UINT16: case KILN_GGUF_INT16: return 2;
    case KILN_GGUF_UINT32: case KILN_GGUF_INT32: case KILN_GGUF_FLOAT32: return 4;
    case KILN_GGUF_UINT64: case KILN_GGUF_INT64: case KILN_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

const char *kiln_gguf_type_name(kiln_gguf_type t)
{
    static const char *const names[] = {
        "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
        "bool", "string", "array", "uint64", "int64", "float64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

const char *kiln_gguf_tensor_nbytes(int ggml_type, int n_dims, const int64_t *ne, uint64_t *out)
{
    kiln_ggml_type_info info, *t = &info;
    if (!kiln_gguf_ggml_type_info(ggml_type, &info)) return "its ggml type is unknown, so its size cannot be computed";
    if (n_dims < 0 || n_dims > KILN_GGUF_MAX_DIMS) return "it has more than 4 dimensions";
    uint64_t n = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 0) return "a dimension is negative";
        if (ne[d] != 0 && n > (uint64_t)INT64_MAX / (uint64_t)ne[d])
            return "its element count overflows 63 bits";
        n *= (uint64_t)ne[d];
    }
    if (n_dims > 0 && ne[0] % t->block_elems != 0)
        return "its row length ne[0] is not a multiple of the type's block size";
    uint64_t blocks = n / (uint64_t)t->block_elems;
    if (blocks > UINT64_MAX / (uint64_t)t->block_bytes) return "its byte size overflows 64 bits";
    *out = blocks * (uint64_t)t->block_bytes;
    return NULL;
}

/* ------------------------------------------------------------- the handle */

/* Index of names (keys or tensor names) sorted for duplicate detection and
 * binary-search lookups. */
typedef struct name_entry {
    kiln_gguf_str name;
    int64_t index;
} name_entry;

/* Bump allocator for the per-array indexes, freed all at once on close. */
typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char mem[];
} arena_chunk;

struct kiln_gguf {
    const uint8_t *base;   /* the file's bytes */
    uint64_t size;
    void *map;             /* non-NULL when we mmapped the file ourselves */
    size_t map_size;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    int64_t n_kv, n_tensors;
    kiln_gguf_str *keys;
    kiln_gguf_value *values;
    kiln_gguf_tensor *tensors;
    name_entry *key_index;    /* n_kv, sorted by name */
    name_entry *tensor_index; /* n_tensors, sorted by name */
    arena_chunk *arena;
};

static void *arena_alloc(kiln_gguf *g, size_t bytes)
{
    bytes = (bytes + 15) & ~(size_t)15;
    arena_chunk *c = g->arena;
    if (!c || c->cap - c->used < bytes) {
        size_t cap = bytes > (size_t)1 << 16 ? bytes : (size_t)1 << 16;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->used = 0;
        c->cap = cap;
        /* a big block gets its own chunk behind the current one, so the
         * current chunk's free space stays usable */
        if (g->arena && bytes > (size_t)1 << 16) {
            c->next = g->arena->next;
            g->arena->next = c;
        } else {
            c->next = g->arena;
            g->arena = c;
        }
    }
    void *p = c->mem + c->used;
    c->used += bytes;
    return p;
}

/* ----------------------------------------------------------------- cursor */

/* Reading position in the file plus what is being read, for error messages. */
typedef struct cursor {
    kiln_gguf *g;
    uint64_t pos;
    const char *what;   /* "key", "tensor" or "header" */
    int64_t index;      /* which key / tensor */
    kiln_gguf_str name; /* its name once known */
    int dry;            /* validating only: store nothing, allocate nothing */
} cursor;

/* A name made safe to print: at most 64 bytes, non-printables as '?'. */
static const char *printable(kiln_gguf_str s, char buf[80])
{
    uint64_t n = s.len < 64 ? s.len : 64, j = 0;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        buf[j++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    if (s.len > 64) { memcpy(buf + j, "...", 3); j += 3; }
    buf[j] = '\0';
    return buf;
}

/* Fails with "GGUF byte N (key #i 'name'): message". */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static kiln_status bad(const cursor *c, uint64_t at, const char *fmt, ...)
{
    char msg[512], where[160], nb[80];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->name.ptr)
        snprintf(where, sizeof where, " (%s #%lld '%s')", c->what, (long long)c->index, printable(c->name, nb));
    else if (c->index >= 0)
        snprintf(where, sizeof where, " (%s #%lld)", c->what, (long long)c->index);
    else
        where[0] = '\0';
    return kiln_fail(KILN_ERR_FORMAT, "GGUF byte %llu%s: %s", (unsigned long long)at, where, msg);
}

static kiln_status need(cursor *c, uint64_t n, const char *field)
{
    if (n > c->g->size - c->pos)
        return bad(c, c->pos, "%s needs %llu bytes but the file ends after %llu more",
                   field, (unsigned long long)n, (unsigned long long)(c->g->size - c->pos));
    return KILN_OK;
}

/* n (1, 2, 4 or 8) little-endian bytes; fixed-size memcpy compiles to one load. */
static uint64_t load_le(const uint8_t *p, int n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    switch (n) {
    case 1: return p[0];
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
#else
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
#endif
}

static kiln_status read_u32(cursor *c, const char *field, uint32_t *out)
{
    kiln_status s = need(c, 4, field);
    if (s) return s;
    *out = (uint32_t)load_le(c->g->base + c->pos, 4);
    c->pos += 4;
    return KILN_OK;
}

static kiln_status read_u64(cursor *c, const char *field, uint64_t *out)
{
    kiln_status s = need(c, 8, field);
    if (s) return s;
    *out = load_le(c->g->base + c->pos, 8);
    c->pos += 8;
    return KILN_OK;
}

static kiln_status read_str(cursor *c, const char *field, kiln_gguf_str *out)
{
    uint64_t at = c->pos, len;
    kiln_status s = read_u64(c, field, &len);
    if (s) return s;
    if (len > c->g->size - c->pos)
        return bad(c, at, "%s of %llu bytes runs past the end of the file (%llu bytes left)", field,
                   (unsigned long long)len, (unsigned long long)(c->g->size - c->pos));
    out->ptr = (const char *)c->g->base + c->pos;
    out->len = len;
    c->pos += len;
    return KILN_OK;
}

/* ------------------------------------------------------------------ values */

static kiln_status read_value(cursor *c, kiln_gguf_type type, kiln_gguf_value *out, int depth);

/* An array value: u32 element type, u64 count, then the elements. */
static kiln_status read_array(cursor *c, kiln_gguf_value *out, int depth)
{
    uint64_t at = c->pos;
    uint32_t et;
    uint64_t count;
    kiln_status s = read_u32(c, "array element type", &et);
    if (s) return s;
    if (et > KILN_GGUF_FLOAT64)
        return bad(c, at, "array element type %u is not a GGUF type (0..12)", et);
    if ((s = read_u64(c, "array count", &count))) return s;
    out->type = KILN_GGUF_ARRAY;
    out->v.arr.elem_type = (kiln_gguf_type)et;
    out->v.arr.count = count;
    out->v.arr.data = NULL;
    uint64_t left = c->g->size - c->pos;
    uint64_t esize = kiln_gguf_scalar_size((kiln_gguf_type)et);
    if (esize) {
        if (count > left / esize)
            return bad(c, at, "array of %llu %s elements needs %llu+ bytes but only %llu are left",
                       (unsigned long long)count, kiln_gguf_type_name((kiln_gguf_type)et),
                       (unsigned long long)(count > UINT64_MAX / esize ? UINT64_MAX : count * esize),
                       (unsigned long long)left);
        const uint8_t *p = c->g->base + c->pos;
        if (et == KILN_GGUF_BOOL)
            for (uint64_t i = 0; i < count; i++)
                if (p[i] > 1)
                    return bad(c, c->pos + i, "bool array element %llu is %u, not 0 or 1",
                               (unsigned long long)i, p[i]);
        out->v.arr.data = p;
        c->pos += count * esize;
        return KILN_OK;
    }
    if (et == KILN_GGUF_ARRAY && depth + 1 >= KILN_GGUF_MAX_ARRAY_DEPTH)
        return bad(c, at, "arrays nested more than %d deep", KILN_GGUF_MAX_ARRAY_DEPTH);
    /* strings take at least 8 bytes (their length), arrays at least 12 */
    uint64_t min_elem = et == KILN_GGUF_STRING ? 8 : 12;
    if (count > left / min_elem)
        return bad(c, at, "array of %llu %s elements cannot fit in the %llu bytes left",
                   (unsigned long long)count, kiln_gguf_type_name((kiln_gguf_type)et),
                   (unsigned long long)left);
    if (count == 0) return KILN_OK;
    /* Walk the elements once storing nothing, so that the index below is only
     * allocated for elements that really are in the file (a lying count would
     * otherwise reserve up to twice the file size before failing). */
    uint64_t start = c->pos;
    int was_dry = c->dry;
    c->dry = 1;
    for (uint64_t i = 0; i < count && !s; i++) {
        kiln_gguf_str str;
        kiln_gguf_value val;
        if (et == KILN_GGUF_STRING) s = read_str(c, "array string", &str);
        else s = read_value(c, KILN_GGUF_ARRAY, &val, depth + 1);
    }
    c->dry = was_dry;
    if (s || c->dry) return s;
    c->pos = start;
    size_t item = et == KILN_GGUF_STRING ? sizeof(kiln_gguf_str) : sizeof(kiln_gguf_value);
    if (count > SIZE_MAX / item) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF: array index too large");
    void *index = arena_alloc(c->g, (size_t)count * item);
    if (!index)
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF: no memory for the index of an array of %llu elements",
                         (unsigned long long)count);
    out->v.arr.data = index;
    for (uint64_t i = 0; i < count; i++) {
        if (et == KILN_GGUF_STRING) s = read_str(c, "array string", (kiln_gguf_str *)index + i);
        else s = read_value(c, KILN_GGUF_ARRAY, (kiln_gguf_value *)index + i, depth + 1);
        if (s) return s;
    }
    return KILN_OK;
}

static kiln_status read_value(cursor *c, kiln_gguf_type type, kiln_gguf_value *out, int depth)
{
    memset(out, 0, sizeof *out);
    out->type = type;
    if (type == KILN_GGUF_STRING) return read_str(c, "string value", &out->v.str);
    if (type == KILN_GGUF_ARRAY) return read_array(c, out, depth);
    uint64_t n = kiln_gguf_scalar_size(type);
    kiln_status s = need(c, n, kiln_gguf_type_name(type));
    if (s) return s;
    uint64_t raw = load_le(c->g->base + c->pos, (int)n);
    switch (type) {
    case KILN_GGUF_INT8: out->v.i64 = (int8_t)raw; break;
    case KILN_GGUF_INT16: out->v.i64 = (int16_t)raw; break;
    case KILN_GGUF_INT32: out->v.i64 = (int32_t)raw; break;
    case KILN_GGUF_INT64: out->v.i64 = (int64_t)raw; break;
    case KILN_GGUF_FLOAT32: { float f; uint32_t r = (uint32_t)raw; memcpy(&f, &r, 4); out->v.f64 = f; break; }
    case KILN_GGUF_FLOAT64: memcpy(&out->v.f64, &raw, 8); break;
    case KILN_GGUF_BOOL:
        if (raw > 1) return bad(c, c->pos, "bool value is %u, not 0 or 1", (unsigned)raw);
        out->v.b = (int)raw;
        break;
    default: out->v.u64 = raw; break; /* unsigned integers */
    }
    c->pos += n;
    return KILN_OK;
}

/* -------------------------------------------------------------- sections */

static int name_cmp(const void *a, const void *b)
{
    const name_entry *x = a, *y = b;
    uint64_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
    int r = n ? memcmp(x->name.ptr, y->name.ptr, n) : 0;
    if (r) return r;
    return x->name.len < y->name.len ? -1 : x->name.len > y->name.len;
}

/* Sorts names and rejects the first duplicate. what: "key" or "tensor name". */
static kiln_status index_names(kiln_gguf *g, name_entry *idx, int64_t n, const char *what)
{
    qsort(idx, (size_t)n, sizeof *idx, name_cmp);
    for (int64_t i = 1; i < n; i++) {
        if (name_cmp(&idx[i - 1], &idx[i]) == 0) {
            /* report at the later of the two entries, where the file went wrong */
            const name_entry *first = idx[i - 1].index < idx[i].index ? &idx[i - 1] : &idx[i];
            const name_entry *second = first == &idx[i] ? &idx[i - 1] : &idx[i];
            uint64_t at = (uint64_t)((const uint8_t *)second->name.ptr - g->base) - 8; /* its length field */
            char nb[80];
            return kiln_fail(KILN_ERR_FORMAT, "GGUF byte %llu: duplicate %s '%s' (entries #%lld and #%lld)",
                             (unsigned long long)at, what, printable(second->name, nb), (long long)first->index,
                             (long long)second->index);
        }
    }
    return KILN_OK;
}

static kiln_status read_header(cursor *c)
{
    kiln_gguf *g = c->g;
    if (g->size < 4 || memcmp(g->base, "GGUF", 4) != 0) {
        char m[5] = {0};
        for (uint64_t i = 0; i < 4 && i < g->size; i++)
            m[i] = g->base[i] >= 0x20 && g->base[i] < 0x7f ? (char)g->base[i] : '?';
        return bad(c, 0, "not a GGUF file: the magic is '%s', expected 'GGUF'", m);
    }
    c->pos = 4;
    uint32_t v;
    kiln_status s = read_u32(c, "version", &v);
    if (s) return s;
    if (v == 1)
        return bad(c, 4, "GGUF version 1 is not supported (it used 32-bit counts); "
                         "re-convert the file with a current llama.cpp");
    if (v == 0x02000000u || v == 0x03000000u)
        return bad(c, 4, "this is a big-endian GGUF file (version %u byte-swapped); only little-endian files are supported",
                   v == 0x02000000u ? 2 : 3);
    if (v != 2 && v != 3) return bad(c, 4, "unsupported GGUF version %u (2 and 3 are supported)", v);
    g->version = v;
    uint64_t nt, nkv;
    if ((s = read_u64(c, "tensor count", &nt)) || (s = read_u64(c, "metadata count", &nkv))) return s;
    /* smallest entries: a key/value of 13 bytes (empty key, type, a u8); a
     * tensor info of 24 bytes (empty name, n_dims 0, type, offset) */
    uint64_t left = g->size - c->pos;
    if (nkv > left / 13)
        return bad(c, 16, "metadata count %llu cannot fit in the %llu bytes left", (unsigned long long)nkv,
                   (unsigned long long)left);
    if (nt > left / 24)
        return bad(c, 8, "tensor count %llu cannot fit in the %llu bytes left", (unsigned long long)nt,
                   (unsigned long long)left);
    g->n_kv = (int64_t)nkv;
    g->n_tensors = (int64_t)nt;
    return KILN_OK;
}

/* Makes room for entry i of a table that will hold at most n entries. The
 * tables grow as entries are actually read rather than being sized from the
 * header's counts, which a damaged file can inflate. */
static int room_for(void **table, int64_t *cap, int64_t i, int64_t n, size_t item)
{
    if (i < *cap) return 1;
    int64_t c = *cap ? *cap * 2 : 64;
    if (c > n) c = n;
    void *p = realloc(*table, (size_t)c * item);
    if (!p) return 0;
    *table = p;
    *cap = c;
    return 1;
}

static kiln_status read_metadata(cursor *c)
{
    kiln_gguf *g = c->g;
    int64_t cap_keys = 0, cap_values = 0;
    c->what = "key";
    for (int64_t i = 0; i < g->n_kv; i++) {
        if (!room_for((void **)&g->keys, &cap_keys, i, g->n_kv, sizeof *g->keys) ||
            !room_for((void **)&g->values, &cap_values, i, g->n_kv, sizeof *g->values))
            return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF: no memory for metadata entry #%lld", (long long)i);
        c->index = i;
        c->name.ptr = NULL;
        kiln_status s = read_str(c, "key", &g->keys[i]);
        if (s) return s;
        c->name = g->keys[i];
        uint64_t at = c->pos;
        uint32_t type;
        if ((s = read_u32(c, "value type", &type))) return s;
        if (type > KILN_GGUF_FLOAT64) return bad(c, at, "value type %u is not a GGUF type (0..12)", type);
        if ((s = read_value(c, (kiln_gguf_type)type, &g->values[i], 0))) return s;
    }
    c->name.ptr = NULL;
    c->index = -1;
    g->key_index = malloc((size_t)(g->n_kv ? g->n_kv : 1) * sizeof *g->key_index);
    if (!g->key_index) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF: no memory for the key index");
    for (int64_t i = 0; i < g->n_kv; i++) g->key_index[i] = (name_entry){g->keys[i], i};
    return index_names(g, g->key_index, g->n_kv, "key");
}

/* general.alignment: any integer type is accepted (the spec says uint32). */
static kiln_status read_alignment(kiln_gguf *g)
{
    g->alignment = KILN_GGUF_DEFAULT_ALIGNMENT;
    int64_t i = kiln_gguf_find_key(g, "general.alignment");
    if (i < 0) return KILN_OK;
    const kiln_gguf_value *v = &g->values[i];
    uint64_t at = (uint64_t)((const uint8_t *)g->keys[i].ptr - g->base) - 8;
    uint64_t a;
    switch (v->type) {
    case KILN_GGUF_UINT8: case KILN_GGUF_UINT16: case KILN_GGUF_UINT32: case KILN_GGUF_UINT64:
        a = v->v.u64; break;
    case KILN_GGUF_INT8: case KILN_GGUF_INT16: case KILN_GGUF_INT32: case KILN_GGUF_INT64:
        a = v->v.i64 < 0 ? 0 : (uint64_t)v->v.i64; break;
    default:
        return kiln_fail(KILN_ERR_FORMAT, "GGUF byte %llu: general.alignment is a %s, expected uint32",
                         (unsigned long long)at, kiln_gguf_type_name(v->type));
    }
    if (a == 0 || (a & (a - 1)) || a > (1u << 30))
        return kiln_fail(KILN_ERR_FORMAT, "GGUF byte %llu: general.alignment %llu is not a power of two up to 2^30",
                         (unsigned long long)at, (unsigned long long)a);
    g->alignment = (uint32_t)a;
    return KILN_OK;
}

static kiln_status read_tensor_info(cursor *c, kiln_gguf_tensor *t)
{
    kiln_status s = read_str(c, "tensor name", &t->name);
    if (s) return s;
    c->name = t->name;
    uint64_t at = c->pos;
    uint32_t n_dims;
    if ((s = read_u32(c, "n_dims", &n_dims))) return s;
    if (n_dims > KILN_GGUF_MAX_DIMS) return bad(c, at, "n_dims is %u, at most %d allowed", n_dims, KILN_GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    for (int d = 0; d < KILN_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t ne, dat = c->pos;
        if ((s = read_u64(c, "dimension", &ne))) return s;
        if (ne > (uint64_t)INT64_MAX)
            return bad(c, dat, "dimension ne[%u] = %llu is negative as int64", d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
    }
    uint32_t type;
    uint64_t type_at = c->pos;
    if ((s = read_u32(c, "ggml type", &type))) return s;
    t->ggml_type = (int)type;
    if ((s = read_u64(c, "tensor offset", &t->offset))) return s;
    if (type > INT32_MAX || !kiln_gguf_ggml_type_name((int)type))
        return bad(c, type_at, "ggml type %u is unknown (removed or newer than this reader), so the tensor's size "
                               "cannot be computed", type);
    t->dtype = kiln_dtype_from_ggml((int)type);
    const char *why = kiln_gguf_tensor_nbytes((int)type, t->n_dims, t->ne, &t->size);
    if (why)
        return bad(c, at, "shape [%lld, %lld, %lld, %lld] of type %s: %s", (long long)t->ne[0], (long long)t->ne[1],
                   (long long)t->ne[2], (long long)t->ne[3], kiln_gguf_ggml_type_name((int)type), why);
    return KILN_OK;
}

typedef struct span { uint64_t offset, size; int64_t index; } span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->size != y->size) return x->size < y->size ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Offsets aligned, data inside the file, no two tensors sharing bytes. */
static kiln_status check_tensor_data(kiln_gguf *g, const uint64_t *info_at)
{
    char nb[80];
    if (g->n_tensors == 0) return KILN_OK;
    if (g->data_offset > g->size)
        return kiln_fail(KILN_ERR_FORMAT, "GGUF byte %llu: the data section starts past the end of the file (%llu bytes)",
                         (unsigned long long)g->data_offset, (unsigned long long)g->size);
    uint64_t room = g->size - g->data_offset;
    span *sp = malloc((size_t)g->n_tensors * sizeof *sp);
    if (!sp) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF: no memory to check tensor placement");
    for (int64_t i = 0; i < g->n_tensors; i++) {
        kiln_gguf_tensor *t = &g->tensors[i];
        const char *why = NULL;
        if (t->offset % g->alignment) why = "is not a multiple of the alignment";
        else if (t->offset > room || t->size > room - t->offset) why = "puts the data past the end of the file";
        if (why) {
            kiln_status s = kiln_fail(KILN_ERR_FORMAT,
                "GGUF byte %llu (tensor #%lld '%s'): data offset %llu (+%llu bytes) %s "
                "(alignment %u, data section at byte %llu, file %llu bytes)",
                (unsigned long long)info_at[i], (long long)i, printable(t->name, nb), (unsigned long long)t->offset,
                (unsigned long long)t->size, why, g->alignment, (unsigned long long)g->data_offset,
                (unsigned long long)g->size);
            free(sp);
            return s;
        }
        t->data = g->base + g->data_offset + t->offset;
        sp[i] = (span){t->offset, t->size, i};
    }
    qsort(sp, (size_t)g->n_tensors, sizeof *sp, span_cmp);
    for (int64_t i = 1; i < g->n_tensors; i++) {
        if (sp[i].size && sp[i - 1].offset + sp[i - 1].size > sp[i].offset) {
            char nb2[80];
            const kiln_gguf_tensor *a = &g->tensors[sp[i - 1].index], *b = &g->tensors[sp[i].index];
            kiln_status s = kiln_fail(KILN_ERR_FORMAT,
                "GGUF byte %llu (tensor #%lld '%s'): data [%llu, +%llu) overlaps tensor #%lld '%s' at [%llu, +%llu)",
                (unsigned long long)info_at[sp[i].index], (long long)sp[i].index, printable(b->name, nb),
                (unsigned long long)b->offset, (unsigned long long)b->size, (long long)sp[i - 1].index,
                printable(a->name, nb2), (unsigned long long)a->offset, (unsigned long long)a->size);
            free(sp);
            return s;
        }
    }
    free(sp);
    return KILN_OK;
}

static kiln_status read_tensors(cursor *c)
{
    kiln_gguf *g = c->g;
    uint64_t *info_at = NULL; /* where each tensor info starts, for messages */
    int64_t cap_tensors = 0, cap_at = 0;
    kiln_status s = KILN_OK;
    c->what = "tensor";
    for (int64_t i = 0; i < g->n_tensors && !s; i++) {
        if (!room_for((void **)&g->tensors, &cap_tensors, i, g->n_tensors, sizeof *g->tensors) ||
            !room_for((void **)&info_at, &cap_at, i, g->n_tensors, sizeof *info_at)) {
            s = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF: no memory for tensor info #%lld", (long long)i);
            break;
        }
        memset(&g->tensors[i], 0, sizeof g->tensors[i]);
        c->index = i;
        c->name.ptr = NULL;
        info_at[i] = c->pos;
        s = read_tensor_info(c, &g->tensors[i]);
    }
    c->name.ptr = NULL;
    c->index = -1;
    if (!s) {
        g->tensor_index = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *g->tensor_index);
        if (!g->tensor_index) s = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "GGUF: no memory for the tensor index");
    }
    if (!s) {
        for (int64_t i = 0; i < g->n_tensors; i++) g->tensor_index[i] = (name_entry){g->tensors[i].name, i};
        s = index_names(g, g->tensor_index, g->n_tensors, "tensor name");
    }
    if (!s) {
        uint64_t pad = (g->alignment - c->pos % g->alignment) % g->alignment;
        g->data_offset = c->pos + pad; /* c->pos <= size, so no overflow */
        s = check_tensor_data(g, info_at);
    }
    free(info_at);
    return s;
}

/* ------------------------------------------------------------------- open */

static kiln_status parse(kiln_gguf *g)
{
    cursor c = {.g = g, .pos = 0, .what = "header", .index = -1};
    kiln_status s = read_header(&c);
    if (!s) s = read_metadata(&c);
    if (!s) s = read_alignment(g);
    if (!s) s = read_tensors(&c);
    return s;
}

kiln_status kiln_gguf_open_memory(const void *data, size_t size, kiln_gguf **out)
{
    if (!out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_gguf_open_memory: out is NULL");
    *out = NULL;
    if (!data && size) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_gguf_open_memory: data is NULL");
    kiln_gguf *g = calloc(1, sizeof *g);
    if (!g) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "kiln_gguf_open_memory: no memory");
    static const uint8_t empty[1];
    g->base = data ? data : empty;
    g->size = size;
    kiln_status s = parse(g);
    if (s) {
        kiln_gguf_close(g);
        return s;
    }
    *out = g;
    return KILN_OK;
}

kiln_status kiln_gguf_open(const char *path, kiln_gguf **out)
{
    if (!path || !out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_gguf_open: path or out is NULL");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return kiln_fail(KILN_ERR_IO, "cannot open GGUF file '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return kiln_fail(KILN_ERR_IO, "cannot stat GGUF file '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return kiln_fail(KILN_ERR_IO, "GGUF file '%s' is not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return kiln_fail(KILN_ERR_FORMAT, "GGUF file '%s' is empty", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return kiln_fail(KILN_ERR_IO, "GGUF file '%s' is too large to map", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) return kiln_fail(KILN_ERR_IO, "cannot map GGUF file '%s': %s", path, strerror(e));
    kiln_gguf *g = NULL;
    kiln_status s = kiln_gguf_open_memory(map, size, &g);
    if (s) {
        munmap(map, size);
        return kiln_fail_prefix(s, "reading '%s'", path);
    }
    g->map = map;
    g->map_size = size;
    *out = g;
    return KILN_OK;
}

void kiln_gguf_close(kiln_gguf *g)
{
    if (!g) return;
    while (g->arena) {
        arena_chunk *next = g->arena->next;
        free(g->arena);
        g->arena = next;
    }
    free(g->keys);
    free(g->values);
    free(g->tensors);
    free(g->key_index);
    free(g->tensor_index);
    if (g->map) munmap(g->map, g->map_size);
    free(g);
}

/* -------------------------------------------------------------- accessors */

uint32_t kiln_gguf_version(const kiln_gguf *g) { return g ? g->version : 0; }
uint32_t kiln_gguf_alignment(const kiln_gguf *g) { return g ? g->alignment : 0; }
uint64_t kiln_gguf_data_offset(const kiln_gguf *g) { return g ? g->data_offset : 0; }
int64_t kiln_gguf_kv_count(const kiln_gguf *g) { return g ? g->n_kv : 0; }
int64_t kiln_gguf_tensor_count(const kiln_gguf *g) { return g ? g->n_tensors : 0; }

kiln_gguf_str kiln_gguf_kv_key(const kiln_gguf *g, int64_t i)
{
    kiln_gguf_str none = {"", 0};
    return g && i >= 0 && i < g->n_kv ? g->keys[i] : none;
}

const kiln_gguf_value *kiln_gguf_kv_value(const kiln_gguf *g, int64_t i)
{
    return g && i >= 0 && i < g->n_kv ? &g->values[i] : NULL;
}

const kiln_gguf_tensor *kiln_gguf_tensor_at(const kiln_gguf *g, int64_t i)
{
    return g && i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

static int64_t lookup(const name_entry *idx, int64_t n, const char *name)
{
    name_entry key = {{name, strlen(name)}, -1};
    const name_entry *hit = bsearch(&key, idx, (size_t)n, sizeof *idx, name_cmp);
    return hit ? hit->index : -1;
}

int64_t kiln_gguf_find_key(const kiln_gguf *g, const char *key)
{
    if (!g || !key || g->n_kv == 0) return -1;
    return lookup(g->key_index, g->n_kv, key);
}

const kiln_gguf_tensor *kiln_gguf_find_tensor(const kiln_gguf *g, const char *name)
{
    if (!g || !name || g->n_tensors == 0) return NULL;
    int64_t i = lookup(g->tensor_index, g->n_tensors, name);
    return i < 0 ? NULL : &g->tensors[i];
}

/* ---------------------------------------------------------- typed getters */

/* Integer value of a scalar in both signednesses. Returns 0 when v is not an
 * integer type, 1 when the value fits int64 and uint64, 2 when it fits only
 * uint64 (> INT64_MAX), 3 when it is negative (fits only int64). */
static int int_value(const kiln_gguf_value *v, uint64_t *u, int64_t *i)
{
    switch (v->type) {
    case KILN_GGUF_UINT8: case KILN_GGUF_UINT16: case KILN_GGUF_UINT32: case KILN_GGUF_UINT64:
        *u = v->v.u64;
        *i = v->v.u64 > (uint64_t)INT64_MAX ? -1 : (int64_t)v->v.u64;
        return v->v.u64 > (uint64_t)INT64_MAX ? 2 : 1; /* 2: fits u64 only */
    case KILN_GGUF_INT8: case KILN_GGUF_INT16: case KILN_GGUF_INT32: case KILN_GGUF_INT64:
        *i = v->v.i64;
        *u = (uint64_t)v->v.i64;
        return v->v.i64 < 0 ? 3 : 1; /* 3: fits i64 only */
    default: return 0;
    }
}

static kiln_status find_typed(const kiln_gguf *g, const char *key, const kiln_gguf_value **v)
{
    if (!g || !key) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_gguf_get: g or key is NULL");
    int64_t i = kiln_gguf_find_key(g, key);
    if (i < 0) return kiln_fail(KILN_ERR_FORMAT, "GGUF: key '%s' is missing", key);
    *v = &g->values[i];
    return KILN_OK;
}

static kiln_status wrong_type(const char *key, const kiln_gguf_value *v, const char *want)
{
    return kiln_fail(KILN_ERR_FORMAT, "GGUF: key '%s' is a %s, expected %s", key, kiln_gguf_type_name(v->type), want);
}

kiln_status kiln_gguf_get_u64(const kiln_gguf *g, const char *key, uint64_t *out)
{
    const kiln_gguf_value *v = NULL;
    kiln_status s = find_typed(g, key, &v);
    if (s) return s;
    uint64_t u;
    int64_t i;
    int k = int_value(v, &u, &i);
    if (!k) return wrong_type(key, v, "an integer");
    if (k == 3) return kiln_fail(KILN_ERR_FORMAT, "GGUF: key '%s' is negative (%lld)", key, (long long)i);
    *out = u;
    return KILN_OK;
}

kiln_status kiln_gguf_get_i64(const kiln_gguf *g, const char *key, int64_t *out)
{
    const kiln_gguf_value *v = NULL;
    kiln_status s = find_typed(g, key, &v);
    if (s) return s;
    uint64_t u;
    int64_t i;
    int k = int_value(v, &u, &i);
    if (!k) return wrong_type(key, v, "an integer");
    if (k == 2) return kiln_fail(KILN_ERR_FORMAT, "GGUF: key '%s' (%llu) does not fit int64", key, (unsigned long long)u);
    *out = i;
    return KILN_OK;
}

/* Floats, and integers too: some writers store e.g. rope_freq_base as one. */
kiln_status kiln_gguf_get_f64(const kiln_gguf *g, const char *key, double *out)
{
    const kiln_gguf_value *v = NULL;
    kiln_status s = find_typed(g, key, &v);
    if (s) return s;
    uint64_t u;
    int64_t i;
    int k = int_value(v, &u, &i);
    if (v->type == KILN_GGUF_FLOAT32 || v->type == KILN_GGUF_FLOAT64) *out = v->v.f64;
    else if (k == 3) *out = (double)i;
    else if (k) *out = (double)u;
    else return wrong_type(key, v, "a number");
    return KILN_OK;
}

/* The value of key, which must be of type want (what names it in the error). */
static kiln_status find_of_type(const kiln_gguf *g, const char *key, kiln_gguf_type want, const char *what,
                                const kiln_gguf_value **v)
{
    kiln_status s = find_typed(g, key, v);
    if (s) return s;
    if ((*v)->type != want) return wrong_type(key, *v, what);
    return KILN_OK;
}

kiln_status kiln_gguf_get_str(const kiln_gguf *g, const char *key, kiln_gguf_str *out)
{
    const kiln_gguf_value *v = NULL;
    kiln_status s = find_of_type(g, key, KILN_GGUF_STRING, "a string", &v);
    if (s) return s;
    *out = v->v.str;
    return KILN_OK;
}

kiln_status kiln_gguf_get_arr(const kiln_gguf *g, const char *key, kiln_gguf_value *out)
{
    const kiln_gguf_value *v = NULL;
    kiln_status s = find_of_type(g, key, KILN_GGUF_ARRAY, "an array", &v);
    if (s) return s;
    *out = *v;
    return KILN_OK;
}

kiln_status kiln_gguf_get_bool(const kiln_gguf *g, const char *key, int *out)
{
    const kiln_gguf_value *v = NULL;
    kiln_status s = find_of_type(g, key, KILN_GGUF_BOOL, "a bool", &v);
    if (s) return s;
    *out = v->v.b;
    return KILN_OK;
}

/* ------------------------------------------------------- array elements */

static kiln_status check_elem(const kiln_gguf_value *arr, uint64_t i, const char *fn)
{
    if (!arr) return kiln_fail(KILN_ERR_INVALID_ARG, "%s: arr is NULL", fn);
    if (arr->type != KILN_GGUF_ARRAY)
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s: the value is a %s, not an array", fn, kiln_gguf_type_name(arr->type));
    if (i >= arr->v.arr.count)
        return kiln_fail(KILN_ERR_INVALID_ARG, "%s: index %llu is out of range (the array has %llu elements)", fn,
                         (unsigned long long)i, (unsigned long long)arr->v.arr.count);
    return KILN_OK;
}

/* Element i of a numeric array as a scalar value. */
static kiln_status numeric_elem(const kiln_gguf_value *arr, uint64_t i, const char *fn, kiln_gguf_value *out)
{
    kiln_status s = check_elem(arr, i, fn);
    if (s) return s;
    kiln_gguf_type et = arr->v.arr.elem_type;
    uint64_t n = kiln_gguf_scalar_size(et);
    if (!n || et == KILN_GGUF_BOOL)
        return kiln_fail(KILN_ERR_FORMAT, "%s: the array holds %s elements, not numbers", fn, kiln_gguf_type_name(et));
    uint64_t raw = load_le((const uint8_t *)arr->v.arr.data + i * n, (int)n);
    memset(out, 0, sizeof *out);
    out->type = et;
    switch (et) {
    case KILN_GGUF_INT8: out->v.i64 = (int8_t)raw; break;
    case KILN_GGUF_INT16: out->v.i64 = (int16_t)raw; break;
    case KILN_GGUF_INT32: out->v.i64 = (int32_t)raw; break;
    case KILN_GGUF_INT64: out->v.i64 = (int64_t)raw; break;
    case KILN_GGUF_FLOAT32: { float f; uint32_t r = (uint32_t)raw; memcpy(&f, &r, 4); out->v.f64 = f; break; }
    case KILN_GGUF_FLOAT64: memcpy(&out->v.f64, &raw, 8); break;
    default: out->v.u64 = raw; break;
    }
    return KILN_OK;
}

kiln_status kiln_gguf_array_str(const kiln_gguf_value *arr, uint64_t i, kiln_gguf_str *out)
{
    kiln_status s = check_elem(arr, i, "kiln_gguf_array_str");
    if (s) return s;
    if (arr->v.arr.elem_type != KILN_GGUF_STRING)
        return kiln_fail(KILN_ERR_FORMAT, "kiln_gguf_array_str: the array holds %s elements, not strings",
                         kiln_gguf_type_name(arr->v.arr.elem_type));
    *out = ((const kiln_gguf_str *)arr->v.arr.data)[i];
    return KILN_OK;
}

kiln_status kiln_gguf_array_f64(const kiln_gguf_value *arr, uint64_t i, double *out)
{
    kiln_gguf_value v;
    kiln_status s = numeric_elem(arr, i, "kiln_gguf_array_f64", &v);
    if (s) return s;
    uint64_t u;
    int64_t n;
    int k = int_value(&v, &u, &n);
    *out = !k ? v.v.f64 : k == 3 ? (double)n : (double)u;
    return KILN_OK;
}

kiln_status kiln_gguf_array_i64(const kiln_gguf_value *arr, uint64_t i, int64_t *out)
{
    kiln_gguf_value v;
    kiln_status s = numeric_elem(arr, i, "kiln_gguf_array_i64", &v);
    if (s) return s;
    uint64_t u;
    int64_t n;
    int k = int_value(&v, &u, &n);
    if (!k) return kiln_fail(KILN_ERR_FORMAT, "kiln_gguf_array_i64: the array holds %s elements, not integers",
                             kiln_gguf_type_name(v.type));
    if (k == 2)
        return kiln_fail(KILN_ERR_FORMAT, "kiln_gguf_array_i64: element %llu (%llu) does not fit int64",
                         (unsigned long long)i, (unsigned long long)u);
    *out = n;
    return KILN_OK;
}

kiln_status kiln_gguf_array_arr(const kiln_gguf_value *arr, uint64_t i, kiln_gguf_value *out)
{
    kiln_status s = check_elem(arr, i, "kiln_gguf_array_arr");
    if (s) return s;
    if (arr->v.arr.elem_type != KILN_GGUF_ARRAY)
        return kiln_fail(KILN_ERR_FORMAT, "kiln_gguf_array_arr: the array holds %s elements, not arrays",
                         kiln_gguf_type_name(arr->v.arr.elem_type));
    *out = ((const kiln_gguf_value *)arr->v.arr.data)[i];
    return KILN_OK;
}
