/* gen/emit.c — spec -> standalone kernel source (docs/GENERATOR.md).
 *
 * The emitter writes no kernel logic. It writes, in order: a header comment,
 * the spec as macros (walking gen/spec_fields.c), then inlines the backend
 * dialect, the shared math and the op template from the embedded files,
 * resolving `#pragma kiln include "path"` lines on the way, and finally asks
 * the backend for the launch description (gen/launch_<backend>.c). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/embedded.h"
#include "formats/format_traits.h"
#include "gen/emit.h"
#include "gen/epilogue.h"
#include "gen/launch.h"
#include "gen/spec_fields.h"
#include "kiln/error.h"

#define MAX_FILES 64  /* distinct files inlined into one source */
#define MAX_DEPTH 16  /* nesting of #pragma kiln include */
#define MAX_PATH 256

/* Per backend: language tag, file extension, dialect file, launch description. */
typedef struct backend_lang {
    const char *lang, *ext, *dialect;
    int line_directives; /* C and CUDA map errors back to template lines via #line */
    void (*launch)(const kiln_spec *, kiln_source *);
} backend_lang;

static const backend_lang langs[KILN_BACKEND_COUNT] = {
    [KILN_BACKEND_CPU] = {"c", "c", "gen/math/dialect_c.h", 1, kiln_gen_launch_cpu},
    [KILN_BACKEND_CUDA] = {"cuda", "cu", "gen/math/dialect_cuda.h", 1, kiln_gen_launch_cuda},
    [KILN_BACKEND_VULKAN] = {"glsl", "comp", "gen/math/dialect_glsl.h", 0, kiln_gen_launch_vulkan},
};

/* Shared math every source gets after the dialect, in this order (unless the
 * template includes it itself, see kiln_gen_emit_from). */
static const char *const shared_math[] = {"gen/math/dequant.h", "gen/math/common.h"};

const char *kiln_gen_source_ext(kiln_backend b)
{
    return (unsigned)b < KILN_BACKEND_COUNT ? langs[b].ext : NULL;
}

void kiln_gen_launch(const kiln_spec *spec, kiln_source *src)
{
    if ((unsigned)spec->backend < KILN_BACKEND_COUNT) langs[spec->backend].launch(spec, src);
}

int kiln_gen_template_path(const kiln_spec *spec, char *buf, size_t cap)
{
    const char *b = kiln_gen_backend_name(spec->backend);
    if (!b || (unsigned)spec->op >= KILN_OP_COUNT) return -1;
    int n = snprintf(buf, cap, "kernels/%s/templates/%s.%s", b, kiln_op_name(spec->op), langs[spec->backend].ext);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* ------------------------------------------------------------ output */

typedef struct emitter {
    char *buf;
    size_t len, cap;
    int oom;
    const backend_lang *lang;
    kiln_gen_lookup_fn lookup;
    void *user;
    char done[MAX_FILES][MAX_PATH]; /* files already inlined (each goes in once) */
    int ndone;
} emitter;

static void grow(emitter *e, size_t extra)
{
    if (e->oom || e->len + extra + 1 <= e->cap) return;
    size_t cap = e->cap ? e->cap : 16384;
    while (cap < e->len + extra + 1) cap *= 2;
    char *p = realloc(e->buf, cap);
    if (!p) {
        e->oom = 1;
        return;
    }
    e->buf = p;
    e->cap = cap;
}

static void emit_bytes(emitter *e, const char *s, size_t n)
{
    grow(e, n);
    if (e->oom) return;
    memcpy(e->buf + e->len, s, n);
    e->len += n;
    e->buf[e->len] = '\0';
}

static void emitf(emitter *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emitf(emitter *e, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof line) n = (int)sizeof line - 1; /* only macro lines pass here; none is this long */
    if (n > 0) emit_bytes(e, line, (size_t)n);
}

/* "q4_k" -> "Q4_K", for macro names. */
static const char *upper(const char *s, char *buf, size_t cap)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) buf[i] = (char)toupper((unsigned char)s[i]);
    buf[i] = '\0';
    return buf;
}

/* ------------------------------------------------------------ the macro block */

/* One-hot macros (KILN_FMT_Q4_K, KILN_OP_MATMUL, ...) are defined, to 1, only
 * for the spec's value and left undefined for the others, so templates and
 * gen/math/dequant.h may test them with #if, #ifdef or defined(). */
static void emit_one_hot(emitter *e, const char *prefix, const char *name)
{
    char up[64];
    emitf(e, "#define %s_%s 1\n", prefix, upper(name, up, sizeof up));
}

/* Flag macros are always defined, to 0 or 1, for `#if KILN_EPI_BIAS`. */
static void emit_flag(emitter *e, const char *prefix, const char *name, int on)
{
    char up[64];
    emitf(e, "#define %s_%s %d\n", prefix, upper(name, up, sizeof up), on);
}

/* What formats/formats.def says about the spec's format, so templates never
 * list formats: kiln_dequant (its gen/math/dequant.h function), KILN_FMT_FAST
 * (this backend has a fast matmul path for it; 0: the generic path),
 * KILN_FMT_PANEL (the cpu's mat-mat panels), and KILN_FMT_ACT_Q8_0 /
 * KILN_FMT_ACT_Q8_K (one-hot: the activation quantization of its integer dot
 * product, undefined for formats without one). */
static void emit_format_traits(emitter *e, const kiln_spec *s, kiln_dtype fmt)
{
    const kiln_format *f = kiln_format_get(fmt);
    emitf(e, "#define kiln_dequant kiln_dequant_%s\n", f->name);
    emitf(e, "#define KILN_FMT_FAST %d\n", kiln_format_fast(fmt, s->backend));
    emitf(e, "#define KILN_FMT_PANEL %d\n",
          s->backend == KILN_BACKEND_CPU && kiln_format_has(fmt, KILN_FMT_F_FAST_CPU_PANEL));
    if (f->act != KILN_F32) emit_one_hot(e, "KILN_FMT_ACT", kiln_dtype_get(f->act)->name);
}

static void emit_field_macros(emitter *e, const kiln_spec *s, const kiln_spec_field *f)
{
    int v = kiln_field_get(s, f);
    switch (f->kind) {
    case KILN_FIELD_OP:
        emit_one_hot(e, f->macro, kiln_op_name((kiln_op)v));
        break;
    case KILN_FIELD_BACKEND:
        emit_one_hot(e, f->macro, kiln_gen_backend_name((kiln_backend)v));
        if (s->isa != KILN_ISA_NONE) emit_one_hot(e, "KILN_ISA", kiln_isa_name(s->isa));
        break;
    case KILN_FIELD_DTYPE:
        emit_one_hot(e, f->macro, kiln_dtype_get((kiln_dtype)v)->name);
        if (!strcmp(f->key, "fmt")) {
            const kiln_dtype_info *d = kiln_dtype_get((kiln_dtype)v);
            emitf(e, "#define KILN_FMT_BLOCK %d\n#define KILN_FMT_BYTES %d\n", d->block_elems, d->block_bytes);
            emit_format_traits(e, s, (kiln_dtype)v);
        }
        break;
    case KILN_FIELD_FLAGS: {
        /* Every flag set, always: only the spec's op has bits set. */
        static const struct { kiln_op op; const char *prefix; } sets[] = {
            {KILN_OP_MATMUL, "KILN_EPI"},
            {KILN_OP_NORM, "KILN_NORM"},
            {KILN_OP_ROPE, "KILN_ROPE"},
        };
        for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
            int count;
            const char *const *names = kiln_gen_flag_names(sets[k].op, &count);
            for (int i = 0; i < count; i++)
                emit_flag(e, sets[k].prefix, names[i], s->op == sets[k].op && ((unsigned)v >> i & 1u));
        }
        /* the matmul epilogue's bits and the spec's set of them, for
         * kiln_epilogue_apply (gen/math/common.h; gen/epilogues.def) */
        for (int i = 0; i < kiln_epilogue_count; i++) {
            char up[64];
            emitf(e, "#define KILN_EPI_BIT_%s %uu\n", upper(kiln_epilogues[i].name, up, sizeof up), 1u << kiln_epilogues[i].bit);
        }
        emitf(e, "#define KILN_EPI_FLAGS %uu\n", s->op == KILN_OP_MATMUL ? (unsigned)v : 0u);
        break;
    }
    case KILN_FIELD_INT:
        emitf(e, "#define %s %d\n", f->macro, v);
        break;
    }
}

static void emit_header(emitter *e, const kiln_spec *s, const char *text, const char *name)
{
    if (s->backend == KILN_BACKEND_VULKAN) emitf(e, "#version 450\n");
    emitf(e, "/* Generated by kiln-gen %s -- do not edit.\n * spec: %s\n * name: %s\n */\n", KILN_VERSION_STRING,
          text, name);
    emitf(e, "#define KILN_ENTRY kiln_%s\n", name);
    for (size_t i = 0; i < kiln_spec_field_count; i++) emit_field_macros(e, s, &kiln_spec_fields[i]);
}

/* ------------------------------------------------------------ inlining files */

/* If line is `#pragma kiln include "path"`, copy path to buf and return 1;
 * a malformed directive returns -1; any other line 0. */
static int include_directive(const char *line, size_t n, char *buf, size_t cap)
{
    const char *p = line, *end = line + n;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (p == end || *p != '#') return 0;
    for (p++; p < end && (*p == ' ' || *p == '\t'); p++) {}
    static const char kw[] = "pragma";
    if ((size_t)(end - p) < sizeof kw - 1 || memcmp(p, kw, sizeof kw - 1)) return 0;
    for (p += sizeof kw - 1; p < end && (*p == ' ' || *p == '\t'); p++) {}
    static const char kiln[] = "kiln";
    if ((size_t)(end - p) < sizeof kiln - 1 || memcmp(p, kiln, sizeof kiln - 1)) return 0;
    p += sizeof kiln - 1;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    static const char inc[] = "include";
    if ((size_t)(end - p) < sizeof inc - 1 || memcmp(p, inc, sizeof inc - 1)) return -1;
    for (p += sizeof inc - 1; p < end && (*p == ' ' || *p == '\t'); p++) {}
    if (p == end || *p != '"') return -1;
    const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
    if (!q || (size_t)(q - p - 1) >= cap || q == p + 1) return -1;
    memcpy(buf, p + 1, (size_t)(q - p - 1));
    buf[q - p - 1] = '\0';
    return 1;
}

static int already_inlined(emitter *e, const char *path)
{
    for (int i = 0; i < e->ndone; i++)
        if (!strcmp(e->done[i], path)) return 1;
    return 0;
}

/* Whether the file at path, or a file it includes, includes target. */
static int includes_file(emitter *e, const char *path, const char *target, int depth)
{
    size_t n = 0;
    const char *text = e->lookup(e->user, path, &n);
    if (!text || depth >= MAX_DEPTH) return 0;
    for (const char *p = text, *end = text + n; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char inc[MAX_PATH];
        if (include_directive(p, len, inc, sizeof inc) > 0 &&
            (!strcmp(inc, target) || includes_file(e, inc, target, depth + 1)))
            return 1;
        p = nl ? nl + 1 : end;
    }
    return 0;
}

/* Inline the file at path (once per source), resolving its includes. from and
 * from_line name the directive that asked for it, for error messages. */
static kiln_status inline_file(emitter *e, const char *path, const char *from, int from_line, int depth)
{
    if (already_inlined(e, path)) return KILN_OK;
    size_t n = 0;
    const char *text = e->lookup(e->user, path, &n);
    if (!text) {
        if (from)
            return kiln_fail(KILN_ERR_INTERNAL, "%s:%d: #pragma kiln include \"%s\": no such embedded file", from,
                             from_line, path);
        return kiln_fail(KILN_ERR_INTERNAL, "embedded file %s is missing (gen/gen.cmake embeds gen/math/*)", path);
    }
    if (depth >= MAX_DEPTH)
        return kiln_fail(KILN_ERR_INTERNAL, "%s:%d: includes nested deeper than %d", from, from_line, MAX_DEPTH);
    if (e->ndone == MAX_FILES)
        return kiln_fail(KILN_ERR_INTERNAL, "%s: more than %d files in one source", path, MAX_FILES);
    snprintf(e->done[e->ndone++], MAX_PATH, "%s", path);

    emitf(e, "/* ---- %s ---- */\n", path);
    if (e->lang->line_directives) emitf(e, "#line 1 \"%s\"\n", path);
    int line_no = 1;
    for (const char *p = text, *end = text + n; p < end; line_no++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char inc[MAX_PATH];
        int d = include_directive(p, len, inc, sizeof inc);
        if (d < 0)
            return kiln_fail(KILN_ERR_INTERNAL, "%s:%d: malformed directive (expected #pragma kiln include \"path\")",
                             path, line_no);
        if (d > 0) {
            kiln_status st = inline_file(e, inc, path, line_no, depth + 1);
            if (st) return st;
            if (e->lang->line_directives) emitf(e, "#line %d \"%s\"\n", line_no + 1, path);
        } else {
            emit_bytes(e, p, len);
            emit_bytes(e, "\n", 1);
        }
        p = nl ? nl + 1 : end;
    }
    return KILN_OK;
}

/* ------------------------------------------------------------ entry points */

kiln_status kiln_gen_emit_from(const kiln_spec *spec, kiln_gen_lookup_fn lookup, void *user, kiln_source *out)
{
    if (!spec || !lookup || !out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_gen_emit: spec and out must not be NULL");
    memset(out, 0, sizeof *out);
    kiln_status st = kiln_spec_validate(spec);
    if (st) return kiln_fail_prefix(st, "kiln_gen_emit");

    char text[KILN_SPEC_TEXT_MAX], name[KILN_SPEC_NAME_MAX - 5], tmpl[MAX_PATH]; /* "kiln_" + name fits entry */
    if (kiln_spec_to_text(spec, text, sizeof text) < 0 || kiln_spec_name(spec, name, sizeof name) < 0 ||
        kiln_gen_template_path(spec, tmpl, sizeof tmpl) < 0)
        return kiln_fail(KILN_ERR_INTERNAL, "kiln_gen_emit: spec has no text form");
    size_t unused;
    if (!lookup(user, tmpl, &unused))
        return kiln_fail(KILN_ERR_UNSUPPORTED, "no %s template for %s: %s does not exist (spec \"%s\")",
                         kiln_gen_backend_name(spec->backend), kiln_op_name(spec->op), tmpl, text);

    emitter *e = calloc(1, sizeof *e);
    if (!e) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "kiln_gen_emit: out of memory");
    e->lang = &langs[spec->backend];
    e->lookup = lookup;
    e->user = user;

    emit_header(e, spec, text, name);
    st = inline_file(e, e->lang->dialect, NULL, 0, 0);
    /* Shared math goes before the template, unless the template includes it
     * itself: GLSL templates must declare the buffer `w` that dequant.h reads
     * before the functions that read it. */
    for (size_t i = 0; !st && i < sizeof shared_math / sizeof shared_math[0]; i++)
        if (!includes_file(e, tmpl, shared_math[i], 0)) st = inline_file(e, shared_math[i], NULL, 0, 0);
    if (!st) st = inline_file(e, tmpl, NULL, 0, 0);
    if (!st && e->oom) st = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "kiln_gen_emit: out of memory for %s", name);
    if (st) {
        free(e->buf);
        free(e);
        return kiln_fail_prefix(st, "emitting %s", name);
    }

    out->text = e->buf;
    out->len = e->len;
    snprintf(out->entry, sizeof out->entry, "kiln_%s", name);
    out->lang = e->lang->lang;
    e->lang->launch(spec, out);
    free(e);
    return KILN_OK;
}

static const char *embedded_lookup(void *user, const char *path, size_t *len)
{
    (void)user;
    const kiln_embedded_file *f = kiln_embedded_find(path);
    if (!f) return NULL;
    *len = f->len;
    return f->text;
}

kiln_status kiln_gen_emit(const kiln_spec *spec, kiln_source *out)
{
    return kiln_gen_emit_from(spec, embedded_lookup, NULL, out);
}

void kiln_source_free(kiln_source *src)
{
    if (!src) return;
    free(src->text);
    memset(src, 0, sizeof *src);
}
