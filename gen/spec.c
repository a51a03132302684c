/* gen/spec.c — a spec's canonical text, procedural name, hash and parser.
 *
 * All four walk the field table (gen/spec_fields.c) in its order, so the text
 * and the name can never disagree about which fields exist. Validation rules
 * live in gen/spec_validate.c. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gen/spec_fields.h"
#include "gen/manifest.h"
#include "gen/spec_defaults.h"
#include "kiln/error.h"
#include "kiln/spec.h"

/* The flag-name tables in spec_fields.c are indexed by these bits. */
/* (matmul's: gen/epilogues.def, checked against kiln.h by gen/epilogue.c) */
_Static_assert(KILN_SPEC_NORM_LAYER == 1u << 0 && KILN_SPEC_NORM_RESIDUAL == 1u << 1,
               "norm bits changed: update kiln_gen_flag_names");
_Static_assert(KILN_SPEC_ROPE_KV == 1u << 0, "rope bits changed: update kiln_gen_flag_names");

const char *kiln_op_name(kiln_op op)
{
    static const char *const names[KILN_OP_COUNT] = {
        [KILN_OP_MATMUL] = "matmul",
        [KILN_OP_FLASH_ATTN] = "flash_attn",
        [KILN_OP_PAGED_ATTN] = "paged_attn",
        [KILN_OP_NORM] = "norm",
        [KILN_OP_ROPE] = "rope",
    };
    return (unsigned)op < KILN_OP_COUNT ? names[op] : "?";
}

const char *kiln_isa_name(kiln_isa isa)
{
    static const char *const names[KILN_ISA_COUNT] = {
        [KILN_ISA_NONE] = "none",
        [KILN_ISA_GENERIC] = "generic",
        [KILN_ISA_AVX2] = "avx2",
        [KILN_ISA_AVX512] = "avx512",
    };
    return (unsigned)isa < KILN_ISA_COUNT ? names[isa] : "?";
}

/* ------------------------------------------------------------ writing */

/* A bounded writer: output past cap is dropped and remembered. */
typedef struct text_out {
    char *buf;
    size_t cap, len;
    int bad; /* overflow or a value with no text form */
} text_out;

static void put(text_out *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_out *t, const char *fmt, ...)
{
    char tmp[KILN_SPEC_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp || t->len + (size_t)n + 1 > t->cap) {
        t->bad = 1;
        return;
    }
    memcpy(t->buf + t->len, tmp, (size_t)n + 1);
    t->len += (size_t)n;
}

/* One field's value; name_form selects identifier spelling ("cpu_avx2",
 * "bias_residual") over text spelling ("cpu-avx2", "bias+residual"). */
static void put_value(text_out *t, const kiln_spec *s, const kiln_spec_field *f, int name_form)
{
    int v = kiln_field_get(s, f);
    switch (f->kind) {
    case KILN_FIELD_OP:
        if ((unsigned)v >= KILN_OP_COUNT) t->bad = 1;
        else put(t, "%s", kiln_op_name((kiln_op)v));
        break;
    case KILN_FIELD_BACKEND: {
        const char *b = kiln_gen_backend_name((kiln_backend)v);
        if (!b || (unsigned)s->isa >= KILN_ISA_COUNT) t->bad = 1;
        else if (s->isa == KILN_ISA_NONE) put(t, "%s", b);
        else put(t, "%s%c%s", b, name_form ? '_' : '-', kiln_isa_name(s->isa));
        break;
    }
    case KILN_FIELD_DTYPE: {
        const kiln_dtype_info *d = kiln_dtype_get((kiln_dtype)v);
        if (!d) t->bad = 1;
        else put(t, "%s", d->name);
        break;
    }
    case KILN_FIELD_FLAGS: {
        int count;
        const char *const *names = kiln_gen_flag_names(s->op, &count);
        unsigned bits = (unsigned)v;
        if (count < 32 && bits >> count) { t->bad = 1; break; } /* bits the op does not have */
        const char *sep = "";
        for (int i = 0; i < count; i++)
            if (bits & (1u << i)) {
                put(t, "%s%s", sep, names[i]);
                sep = name_form ? "_" : "+";
            }
        if (!bits) put(t, "none");
        break;
    }
    case KILN_FIELD_INT:
        if (v < 0) t->bad = 1;
        else put(t, "%d", v);
        break;
    }
}

int kiln_spec_to_text(const kiln_spec *s, char *buf, size_t cap)
{
    if (!s || !buf || cap == 0) return -1;
    text_out t = {buf, cap, 0, 0};
    buf[0] = '\0';
    for (size_t i = 0; i < kiln_spec_field_count; i++) {
        const kiln_spec_field *f = &kiln_spec_fields[i];
        if (f->kind == KILN_FIELD_OP) {
            put_value(&t, s, f, 0);
        } else if (f->kind == KILN_FIELD_BACKEND || kiln_field_get(s, f) != kiln_field_default(s, f)) {
            put(&t, " %s=", f->key);
            put_value(&t, s, f, 0);
        }
    }
    if (t.bad) {
        buf[0] = '\0';
        return -1;
    }
    return (int)t.len;
}

int kiln_spec_name(const kiln_spec *s, char *buf, size_t cap)
{
    if (!s || !buf || cap == 0) return -1;
    text_out t = {buf, cap, 0, 0};
    buf[0] = '\0';
    for (size_t i = 0; i < kiln_spec_field_count; i++) {
        const kiln_spec_field *f = &kiln_spec_fields[i];
        if (!f->always_named && kiln_field_get(s, f) == kiln_field_default(s, f)) continue;
        put(&t, "%s%s", t.len ? "_" : "", f->always_named ? "" : f->name_tag);
        put_value(&t, s, f, 1);
    }
    if (t.bad) {
        buf[0] = '\0';
        return -1;
    }
    return (int)t.len;
}

uint64_t kiln_spec_hash(const kiln_spec *s)
{
    char text[KILN_SPEC_TEXT_MAX];
    if (kiln_spec_to_text(s, text, sizeof text) < 0) return 0;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64: offset basis, then xor/multiply per byte */
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h;
}

int kiln_spec_equal(const kiln_spec *a, const kiln_spec *b)
{
    if (!a || !b) return a == b;
    if (a->isa != b->isa) return 0; /* isa rides along with the backend row */
    for (size_t i = 0; i < kiln_spec_field_count; i++)
        if (kiln_field_get(a, &kiln_spec_fields[i]) != kiln_field_get(b, &kiln_spec_fields[i])) return 0;
    return 1;
}

/* ------------------------------------------------------------ parsing */

typedef struct token {
    const char *p;
    size_t n;
} token;

static int token_is(token t, const char *word) { return strlen(word) == t.n && !memcmp(t.p, word, t.n); }

static kiln_status bad_value(const kiln_spec_field *f, token v, const char *expected)
{
    return kiln_fail(KILN_ERR_INVALID_ARG, "bad value '%.*s' for %s (expected %s)", (int)v.n, v.p, f->key,
                     expected);
}

static kiln_status parse_op(const kiln_spec_field *f, token v, int *out)
{
    for (int op = 0; op < KILN_OP_COUNT; op++)
        if (token_is(v, kiln_op_name((kiln_op)op))) {
            *out = op;
            return KILN_OK;
        }
    return bad_value(f, v, "an op: matmul, flash_attn, paged_attn, norm or rope");
}

static kiln_status parse_backend(const kiln_spec_field *f, token v, kiln_spec *s)
{
    for (int b = 0; b < KILN_BACKEND_COUNT; b++) {
        const char *name = kiln_gen_backend_name((kiln_backend)b);
        size_t n = strlen(name);
        if (v.n < n || memcmp(v.p, name, n)) continue;
        if (v.n == n) {
            s->backend = (kiln_backend)b;
            s->isa = KILN_ISA_NONE;
            return KILN_OK;
        }
        if (v.p[n] != '-') continue;
        token isa = {v.p + n + 1, v.n - n - 1};
        for (int i = KILN_ISA_NONE + 1; i < KILN_ISA_COUNT; i++)
            if (token_is(isa, kiln_isa_name((kiln_isa)i))) {
                s->backend = (kiln_backend)b;
                s->isa = (kiln_isa)i;
                return KILN_OK;
            }
    }
    return bad_value(f, v, "cuda, vulkan, cpu (the build's best ISA), cpu-generic, cpu-avx2 or cpu-avx512");
}

static kiln_status parse_dtype(const kiln_spec_field *f, token v, int *out)
{
    char name[32];
    if (v.n < sizeof name) {
        memcpy(name, v.p, v.n);
        name[v.n] = '\0';
        int d = kiln_dtype_from_name(name);
        if (d >= 0) {
            *out = d;
            return KILN_OK;
        }
    }
    return bad_value(f, v, "a type name such as f32, f16, bf16, q4_0, q8_0, q4_k");
}

static kiln_status parse_flags(const kiln_spec_field *f, token v, kiln_op op, int *out)
{
    int count;
    const char *const *names = kiln_gen_flag_names(op, &count);
    unsigned bits = 0;
    if (token_is(v, "none")) {
        *out = 0;
        return KILN_OK;
    }
    for (const char *p = v.p, *end = v.p + v.n; p < end;) {
        const char *plus = memchr(p, '+', (size_t)(end - p));
        token part = {p, (size_t)((plus ? plus : end) - p)};
        int found = -1;
        for (int i = 0; i < count; i++)
            if (token_is(part, names[i])) found = i;
        if (found < 0) {
            char list[128] = "";
            for (int i = 0; i < count; i++) {
                strcat(list, " ");
                strcat(list, names[i]);
            }
            return kiln_fail(KILN_ERR_INVALID_ARG, "bad value '%.*s' for %s: '%.*s' is not an epilogue of %s (%s%s)",
                             (int)v.n, v.p, f->key, (int)part.n, part.p, kiln_op_name(op),
                             count ? "it takes:" : "it takes none", list);
        }
        if (bits & (1u << found))
            return kiln_fail(KILN_ERR_INVALID_ARG, "bad value '%.*s' for %s: '%s' given twice", (int)v.n, v.p,
                             f->key, names[found]);
        bits |= 1u << found;
        p = plus ? plus + 1 : end;
        if (plus && p == end) return bad_value(f, v, "flags joined by '+'");
    }
    *out = (int)bits;
    return KILN_OK;
}

static kiln_status parse_int(const kiln_spec_field *f, token v, int *out)
{
    long x = 0;
    if (v.n == 0 || v.n > 7) return bad_value(f, v, "a non-negative integer");
    for (size_t i = 0; i < v.n; i++) {
        if (!isdigit((unsigned char)v.p[i])) return bad_value(f, v, "a non-negative integer");
        x = x * 10 + (v.p[i] - '0');
    }
    *out = (int)x;
    return KILN_OK;
}

#define MAX_TOKENS 32

/* Split text into words; each word is the op ("matmul") or key=value. */
static kiln_status tokenize(const char *text, token *keys, token *vals, int *count)
{
    int n = 0;
    for (const char *p = text; *p;) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *w = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        if (n == MAX_TOKENS) return kiln_fail(KILN_ERR_INVALID_ARG, "more than %d words", MAX_TOKENS);
        const char *eq = memchr(w, '=', (size_t)(p - w));
        if (eq) {
            keys[n] = (token){w, (size_t)(eq - w)};
            vals[n] = (token){eq + 1, (size_t)(p - eq - 1)};
        } else { /* a bare word is the op */
            keys[n] = (token){"op", 2};
            vals[n] = (token){w, (size_t)(p - w)};
        }
        n++;
    }
    *count = n;
    return KILN_OK;
}

static kiln_status parse_words(const char *text, kiln_spec *s)
{
    token keys[MAX_TOKENS], vals[MAX_TOKENS];
    const kiln_spec_field *fields[MAX_TOKENS];
    int n, seen_op = -1;
    unsigned seen = 0;
    kiln_status st = tokenize(text, keys, vals, &n);
    if (st) return st;

    for (int i = 0; i < n; i++) {
        fields[i] = kiln_field_find(keys[i].p, keys[i].n);
        if (!fields[i]) {
            char known[256] = "";
            for (size_t k = 1; k < kiln_spec_field_count; k++) {
                strcat(known, " ");
                strcat(known, kiln_spec_fields[k].key);
            }
            return kiln_fail(KILN_ERR_INVALID_ARG, "unknown key '%.*s' (keys:%s)", (int)keys[i].n, keys[i].p,
                             known);
        }
        unsigned bit = 1u << (fields[i] - kiln_spec_fields);
        if (seen & bit)
            return kiln_fail(KILN_ERR_INVALID_ARG, "duplicate %s '%.*s'", fields[i]->key, (int)vals[i].n,
                             vals[i].p);
        seen |= bit;
        if (fields[i]->kind == KILN_FIELD_OP) seen_op = i;
    }
    if (seen_op < 0) return kiln_fail(KILN_ERR_INVALID_ARG, "no op (matmul, flash_attn, paged_attn, norm or rope)");

    /* Constant defaults first, the op next (flag names depend on it), then the
     * given values, and last the defaults that follow another field. */
    memset(s, 0, sizeof *s);
    for (size_t k = 0; k < kiln_spec_field_count; k++)
        if (!kiln_spec_fields[k].default_key) kiln_field_set(s, &kiln_spec_fields[k], kiln_spec_fields[k].dflt);
    int op = 0;
    if ((st = parse_op(fields[seen_op], vals[seen_op], &op))) return st;
    s->op = (kiln_op)op;
    int have_backend = 0;
    for (int i = 0; i < n; i++) {
        const kiln_spec_field *f = fields[i];
        int v = 0;
        switch (f->kind) {
        case KILN_FIELD_OP: continue;
        case KILN_FIELD_BACKEND:
            if ((st = parse_backend(f, vals[i], s))) return st;
            have_backend = 1;
            continue;
        case KILN_FIELD_DTYPE: st = parse_dtype(f, vals[i], &v); break;
        case KILN_FIELD_FLAGS: st = parse_flags(f, vals[i], s->op, &v); break;
        case KILN_FIELD_INT: st = parse_int(f, vals[i], &v); break;
        }
        if (st) return st;
        kiln_field_set(s, f, v);
    }
    if (!have_backend)
        return kiln_fail(KILN_ERR_INVALID_ARG, "no backend= (cuda, vulkan, cpu, cpu-generic, cpu-avx2 or cpu-avx512)");
    for (size_t k = 0; k < kiln_spec_field_count; k++) {
        const kiln_spec_field *f = &kiln_spec_fields[k];
        if (f->default_key && !(seen & (1u << k))) kiln_field_set(s, f, kiln_field_default(s, f));
    }
    /* Plain backend=cpu: this build's best ISA. No tile field at all: the
     * backend heuristic's tiles (some given: the rest stay 0, as written). */
    if (s->backend == KILN_BACKEND_CPU && s->isa == KILN_ISA_NONE) s->isa = kiln_manifest_cpu_best_isa();
    unsigned tile_fields = 0;
    for (size_t k = 0; k < kiln_spec_field_count; k++)
        if (kiln_spec_fields[k].offset >= offsetof(kiln_spec, tile) &&
            kiln_spec_fields[k].offset < offsetof(kiln_spec, tile) + sizeof(kiln_tile))
            tile_fields |= 1u << k;
    if (!(seen & tile_fields)) kiln_spec_heuristic_tiles(s);
    return KILN_OK;
}

kiln_status kiln_spec_parse(const char *text, kiln_spec *out)
{
    if (!text || !out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_spec_parse: text and out must not be NULL");
    kiln_spec s;
    kiln_status st = parse_words(text, &s);
    if (!st) st = kiln_spec_validate(&s);
    if (st) return kiln_fail_prefix(st, "spec \"%s\"", text);
    *out = s;
    return KILN_OK;
}
