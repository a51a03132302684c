/* gen/bundle_cpu.c — writes the cpu kernel bundle compiled into libkiln
 * (owned by the cpu backend; run at build time as kiln-gen --cpu-bundle DIR).
 *
 *   DIR/kiln_cpu_generic.c, kiln_cpu_avx2.c, kiln_cpu_avx512.c
 *       every cpu instance of the manifest for that ISA, each exactly as
 *       kiln_gen_emit() writes it, joined into one translation unit
 *   DIR/kiln_cpu_registry.c
 *       the table spec text / procedural name -> entry point
 *       (kernels/cpu/cpu_registry.h)
 *
 * Joining sources that each define the same helpers (the shared math, the
 * template's static functions) and the same spec macros needs a namespace per
 * instance. C has none, so each instance gets one from the preprocessor:
 * before it, `#define helper kiln_i<N>_helper` for every function it defines
 * at file scope; after it, `#undef` of those and of every macro it defined
 * (which also re-arms include guards such as gen/math/dequant.h's). The entry
 * point (KILN_ENTRY, the procedural name) is already unique and stays
 * exported. Files that depend on the ISA alone (the dialect, the cpu ABI and
 * SIMD helpers) are shared: their guards keep the first copy, and their names
 * are left alone. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gen/bundle.h"
#include "gen/manifest.h"
#include "kiln/error.h"
#include "kiln/kernel.h"

static const char *const shared_files[] = {
    "gen/math/dialect_c.h",
    "kernels/cpu/templates/cpu_abi.h",
    "kernels/cpu/templates/cpu_simd.h",
};

/* A growing list of identifiers. */
typedef struct names {
    char (*v)[128];
    size_t n, cap;
} names;

static int names_add(names *l, const char *s, size_t len)
{
    if (len == 0 || len >= sizeof l->v[0]) return 0;
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == len && !memcmp(l->v[i], s, len)) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        void *p = realloc(l->v, cap * sizeof l->v[0]);
        if (!p) return -1;
        l->v = p;
        l->cap = cap;
    }
    memcpy(l->v[l->n], s, len);
    l->v[l->n][len] = '\0';
    l->n++;
    return 0;
}

static int is_ident(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

/* `#line N "path"`: copies path into file. */
static int line_directive(const char *p, size_t n, char *file, size_t cap)
{
    if (n < 7 || memcmp(p, "#line ", 6)) return 0;
    const char *q = memchr(p, '"', n), *end = p + n;
    if (!q) return 0;
    const char *r = memchr(q + 1, '"', (size_t)(end - q - 1));
    if (!r || (size_t)(r - q - 1) >= cap) return 0;
    memcpy(file, q + 1, (size_t)(r - q - 1));
    file[r - q - 1] = '\0';
    return 1;
}

/* `#define NAME...` -> NAME. */
static int define_name(const char *p, size_t n, const char **name, size_t *len)
{
    const char *end = p + n;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (p == end || *p != '#') return 0;
    for (p++; p < end && (*p == ' ' || *p == '\t'); p++) {}
    if ((size_t)(end - p) < 7 || memcmp(p, "define", 6) || (p[6] != ' ' && p[6] != '\t')) return 0;
    for (p += 6; p < end && (*p == ' ' || *p == '\t'); p++) {}
    const char *s = p;
    while (p < end && is_ident(*p)) p++;
    *name = s;
    *len = (size_t)(p - s);
    return *len > 0;
}

/* A function definition or declaration starting at column 0:
 * `type tokens... name(` -> name. At least one token (the type) precedes the
 * name; only identifiers, spaces, '*' and __attribute__((...)) may come
 * before the '('. */
static int function_name(const char *p, size_t n, const char **name, size_t *len)
{
    const char *end = p + n;
    if (p == end || !is_ident(*p) || (*p >= '0' && *p <= '9')) return 0;
    if (n >= 8 && !memcmp(p, "typedef ", 8)) return 0;
    const char *last = NULL;
    size_t last_len = 0;
    int tokens = 0;
    while (p < end) {
        if (is_ident(*p)) {
            const char *s = p;
            while (p < end && is_ident(*p)) p++;
            if ((size_t)(p - s) == 13 && !memcmp(s, "__attribute__", 13)) {
                /* skip the balanced (( ... )) that follows */
                int depth = 0;
                for (; p < end; p++) {
                    if (*p == '(') depth++;
                    else if (*p == ')' && --depth == 0) break;
                }
                if (p < end) p++;
                continue;
            }
            last = s;
            last_len = (size_t)(p - s);
            tokens++;
        } else if (*p == ' ' || *p == '\t' || *p == '*') {
            p++;
        } else if (*p == '(') {
            if (tokens < 2) return 0;
            *name = last;
            *len = last_len;
            return 1;
        } else {
            return 0;
        }
    }
    return 0;
}

static int is_shared(const char *file)
{
    for (size_t i = 0; i < sizeof shared_files / sizeof shared_files[0]; i++)
        if (!strcmp(file, shared_files[i])) return 1;
    return 0;
}

/* Names an instance defines outside the shared files: macros and functions. */
static int collect(const char *text, names *macros, names *funcs)
{
    char file[256] = "";
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *name;
        size_t nlen;
        if (line_directive(p, len, file, sizeof file)) {
            /* file switched */
        } else if (!is_shared(file)) {
            if (define_name(p, len, &name, &nlen)) {
                if (names_add(macros, name, nlen)) return -1;
            } else if (function_name(p, len, &name, &nlen) && !(nlen > 5 && !memcmp(name, "KILN_", 5))) {
                if (names_add(funcs, name, nlen)) return -1;
            }
        }
        p = nl ? nl + 1 : p + len;
    }
    return 0;
}

static kiln_status write_instance(FILE *f, const kiln_spec *spec, size_t index, char *entry, size_t entry_cap)
{
    kiln_source src;
    kiln_status st = kiln_gen_emit(spec, &src);
    if (st) return st;
    snprintf(entry, entry_cap, "%s", src.entry);
    names macros = {0}, funcs = {0};
    if (collect(src.text, &macros, &funcs)) {
        kiln_source_free(&src);
        free(macros.v);
        free(funcs.v);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "cpu bundle: out of memory");
    }
    fprintf(f, "\n/* ======== instance %zu: %s ======== */\n", index, src.entry);
    for (size_t i = 0; i < funcs.n; i++) fprintf(f, "#define %s kiln_i%zu_%s\n", funcs.v[i], index, funcs.v[i]);
    fprintf(f, "void %s(const void *args, int phase, int task, int ntasks);\n", src.entry);
    fwrite(src.text, 1, src.len, f);
    if (src.len && src.text[src.len - 1] != '\n') fputc('\n', f);
    for (size_t i = 0; i < macros.n; i++) fprintf(f, "#undef %s\n", macros.v[i]);
    for (size_t i = 0; i < funcs.n; i++) fprintf(f, "#undef %s\n", funcs.v[i]);
    kiln_source_free(&src);
    free(macros.v);
    free(funcs.v);
    return KILN_OK;
}

/* Writes path via path.tmp + rename, so an interrupted build leaves no half file. */
static FILE *open_tmp(const char *path, char *tmp, size_t cap)
{
    snprintf(tmp, cap, "%s.tmp", path);
    return fopen(tmp, "w");
}

static kiln_status finish(FILE *f, const char *tmp, const char *path)
{
    int bad = ferror(f);
    if (fclose(f) || bad || rename(tmp, path)) {
        remove(tmp);
        return kiln_fail(KILN_ERR_IO, "cpu bundle: cannot write %s: %s", path, strerror(errno));
    }
    return KILN_OK;
}

kiln_status kiln_gen_cpu_bundle(const char *dir)
{
    if (!dir || !*dir) return kiln_fail(KILN_ERR_INVALID_ARG, "cpu bundle: no output directory");
    if (mkdir(dir, 0777) && errno != EEXIST)
        return kiln_fail(KILN_ERR_IO, "cpu bundle: cannot create %s: %s", dir, strerror(errno));
    size_t count = kiln_manifest_cpu(NULL, 0);
    kiln_spec *specs = calloc(count ? count : 1, sizeof *specs);
    char (*entries)[KILN_SPEC_NAME_MAX] = calloc(count ? count : 1, sizeof *entries);
    if (!specs || !entries) {
        free(specs);
        free(entries);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "cpu bundle: out of memory");
    }
    kiln_manifest_cpu(specs, count);

    kiln_status st = KILN_OK;
    char path[4096], tmp[4200];
    static const kiln_isa isas[] = {KILN_ISA_GENERIC, KILN_ISA_AVX2, KILN_ISA_AVX512};
    for (size_t k = 0; !st && k < sizeof isas / sizeof isas[0]; k++) {
        snprintf(path, sizeof path, "%s/kiln_cpu_%s.c", dir, kiln_isa_name(isas[k]));
        FILE *f = open_tmp(path, tmp, sizeof tmp);
        if (!f) {
            st = kiln_fail(KILN_ERR_IO, "cpu bundle: cannot write %s: %s", tmp, strerror(errno));
            break;
        }
        fprintf(f, "/* Generated by kiln-gen --cpu-bundle %s -- do not edit.\n"
                   " * Every %s instance of the cpu manifest (gen/manifest_cpu.c), one namespace\n"
                   " * per instance (see gen/bundle_cpu.c). */\n",
                KILN_VERSION_STRING, kiln_isa_name(isas[k]));
        for (size_t i = 0; !st && i < count; i++)
            if (specs[i].isa == isas[k]) st = write_instance(f, &specs[i], i, entries[i], sizeof entries[i]);
        if (st) {
            fclose(f);
            remove(tmp);
            break;
        }
        st = finish(f, tmp, path);
    }

    if (!st) {
        snprintf(path, sizeof path, "%s/kiln_cpu_registry.c", dir);
        FILE *f = open_tmp(path, tmp, sizeof tmp);
        if (!f) {
            st = kiln_fail(KILN_ERR_IO, "cpu bundle: cannot write %s: %s", tmp, strerror(errno));
        } else {
            fprintf(f, "/* Generated by kiln-gen --cpu-bundle %s -- do not edit.\n"
                       " * The cpu kernels built into libkiln (kernels/cpu/cpu_registry.h). */\n"
                       "#include \"kernels/cpu/cpu_registry.h\"\n\n",
                    KILN_VERSION_STRING);
            for (size_t i = 0; i < count; i++)
                fprintf(f, "void %s(const void *args, int phase, int task, int ntasks);\n", entries[i]);
            fprintf(f, "\nconst kiln_cpu_registry_entry kiln_cpu_registry[] = {\n");
            for (size_t i = 0; i < count; i++) {
                char text[KILN_SPEC_TEXT_MAX], name[KILN_SPEC_NAME_MAX];
                kiln_spec_to_text(&specs[i], text, sizeof text);
                kiln_spec_name(&specs[i], name, sizeof name);
                fprintf(f, "    {\"%s\", \"%s\", %s},\n", text, name, entries[i]);
            }
            if (!count) fprintf(f, "    {0, 0, 0},\n");
            fprintf(f, "};\nconst size_t kiln_cpu_registry_count = %zu;\n", count);
            st = finish(f, tmp, path);
        }
    }
    free(specs);
    free(entries);
    return st;
}
