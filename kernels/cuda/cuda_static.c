/* kernels/cuda/cuda_static.c — ptxas's report of a compile, the architectures'
 * limits, and the lines of the regression table (see cuda_static.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "kernels/cuda/cuda_compile.h"
#include "kernels/cuda/cuda_sass.h"
#include "kernels/cuda/cuda_static.h"

const char *const kiln_cuda_static_archs[KILN_CUDA_STATIC_ARCH_COUNT] = {"sm_80", "sm_90"};

static const kiln_cuda_arch_limits arch_limits[] = {
    {.arch = "sm_80", .smem_static_max = 48 * 1024, .smem_block_max = 163 * 1024, .regs_per_block = 65536,
     .regs_per_thread = 255},
    {.arch = "sm_90", .smem_static_max = 48 * 1024, .smem_block_max = 227 * 1024, .regs_per_block = 65536,
     .regs_per_thread = 255},
};

const kiln_cuda_arch_limits *kiln_cuda_arch_limits_of(const char *arch)
{
    for (size_t i = 0; arch && i < sizeof arch_limits / sizeof arch_limits[0]; i++)
        if (!strcmp(arch, arch_limits[i].arch)) return &arch_limits[i];
    return NULL;
}

/* ---------------------------------------------------------------- ptxas's report
 *
 * The lines read (ptxas -v, CUDA 12-13; others are skipped):
 *   ptxas info    : Compiling entry function 'NAME' for 'sm_90'
 *   ptxas info    : Function properties for NAME
 *   ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
 *   ptxas info    : Used 10 registers, used 1 barriers, 256 bytes smem, 360 bytes cmem[0]
 * "Used" belongs to the last entry compiled, the stack line to the last
 * function whose properties were announced. */

static kiln_cuda_fn_usage *fn_get(kiln_cuda_usage *u, const char *name, size_t len, size_t *cap)
{
    if (len == 0 || len >= KILN_CUDA_FN_NAME_MAX) return NULL;
    for (size_t i = 0; i < u->count; i++)
        if (strlen(u->fn[i].name) == len && !memcmp(u->fn[i].name, name, len)) return &u->fn[i];
    if (u->count == *cap) {
        size_t n = *cap ? 2 * *cap : 8;
        void *p = realloc(u->fn, n * sizeof *u->fn);
        if (!p) return NULL;
        u->fn = p;
        *cap = n;
    }
    kiln_cuda_fn_usage *f = &u->fn[u->count++];
    memset(f, 0, sizeof *f);
    memcpy(f->name, name, len);
    f->registers = -1;
    return f;
}

/* The number right before phrase in line ("256" of "256 bytes smem" for
 * " bytes smem"): 1 found, 0 when the phrase is absent, -1 when no number. */
static int number_before(const char *line, const char *phrase, unsigned *out)
{
    const char *p = strstr(line, phrase), *q = p;
    if (!p) return 0;
    while (q > line && isdigit((unsigned char)q[-1])) q--;
    if (q == p || p - q > 9) return -1;
    *out = (unsigned)strtoul(q, NULL, 10);
    return 1;
}

/* The name after key: between quotes ('NAME') or to the end of the line. */
static int name_after(const char *line, const char *key, int quoted, const char **name, size_t *len)
{
    const char *p = strstr(line, key);
    if (!p) return 0;
    p += strlen(key);
    const char *e = p + strlen(p);
    if (quoted) {
        if (*p != '\'' || !(e = strchr(p + 1, '\''))) return 0;
        p++;
    }
    while (e > p && isspace((unsigned char)e[-1])) e--;
    *name = p, *len = (size_t)(e - p);
    return 1;
}

static kiln_status bad_line(const char *line, const char *why)
{
    return kiln_fail(KILN_ERR_COMPILE, "cuda: ptxas report: %s in \"%s\"", why, line);
}

static kiln_status read_line(kiln_cuda_usage *u, size_t *cap, const char *line, kiln_cuda_fn_usage **entry,
                             kiln_cuda_fn_usage **props)
{
    const char *name;
    size_t len;
    unsigned v[3];
    if (name_after(line, "Compiling entry function ", 1, &name, &len)) {
        if (!(*entry = fn_get(u, name, len, cap))) return bad_line(line, "an empty or too long function name");
        (*entry)->is_entry = 1;
    } else if (name_after(line, "Function properties for ", 0, &name, &len)) {
        if (!(*props = fn_get(u, name, len, cap))) return bad_line(line, "an empty or too long function name");
    } else if (strstr(line, " bytes stack frame")) {
        if (!*props) return bad_line(line, "stack figures before any function");
        if (number_before(line, " bytes stack frame", &v[0]) != 1 ||
            number_before(line, " bytes spill stores", &v[1]) != 1 ||
            number_before(line, " bytes spill loads", &v[2]) != 1)
            return bad_line(line, "unreadable stack or spill figures");
        (*props)->stack_bytes = v[0], (*props)->spill_store_bytes = v[1], (*props)->spill_load_bytes = v[2];
    } else if (strstr(line, "Used ") && strstr(line, " registers")) {
        if (!*entry) return bad_line(line, "register figures before any entry");
        if (number_before(line, " registers", &v[0]) != 1) return bad_line(line, "an unreadable register count");
        v[1] = 0;
        if (number_before(line, " bytes smem", &v[1]) < 0) return bad_line(line, "an unreadable shared memory size");
        (*entry)->registers = (int)v[0], (*entry)->smem_bytes = v[1];
    }
    return KILN_OK;
}

kiln_status kiln_cuda_usage_parse(const char *log, kiln_cuda_usage *out)
{
    if (!log || !out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_cuda_usage_parse: null argument");
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    kiln_cuda_fn_usage *entry = NULL, *props = NULL;
    kiln_status st = KILN_OK;
    char line[1024];
    for (const char *p = log; *p && st == KILN_OK;) {
        size_t n = strcspn(p, "\n");
        if (n >= sizeof line) {
            st = kiln_fail(KILN_ERR_COMPILE, "cuda: ptxas report: a line of %zu bytes", n);
            break;
        }
        memcpy(line, p, n);
        line[n] = '\0';
        st = read_line(out, &cap, line, &entry, &props);
        p += n + (p[n] == '\n');
    }
    size_t entries = 0;
    for (size_t i = 0; st == KILN_OK && i < out->count; i++)
        if (out->fn[i].is_entry) {
            entries++;
            if (out->fn[i].registers < 0)
                st = kiln_fail(KILN_ERR_COMPILE, "cuda: ptxas report: no register count for %s", out->fn[i].name);
        }
    if (st == KILN_OK && entries == 0)
        st = kiln_fail(KILN_ERR_COMPILE, "cuda: ptxas report names no entry function (was it compiled with -v?)");
    if (st != KILN_OK) kiln_cuda_usage_free(out);
    return st;
}

void kiln_cuda_usage_free(kiln_cuda_usage *u)
{
    if (!u) return;
    free(u->fn);
    u->fn = NULL;
    u->count = 0;
}

const kiln_cuda_fn_usage *kiln_cuda_usage_find(const kiln_cuda_usage *u, const char *name)
{
    for (size_t i = 0; u && name && i < u->count; i++)
        if (!strcmp(u->fn[i].name, name)) return &u->fn[i];
    return NULL;
}

/* ---------------------------------------------------------------- one compile */

kiln_status kiln_cuda_static_report_of(const char *source, const char *entry, const char *arch,
                                       const char *nvdisasm, kiln_cuda_static_report *r)
{
    if (!r) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_cuda_static_report_of: null report");
    memset(r, 0, sizeof *r);
    void *cubin = NULL;
    size_t size = 0;
    char *log = NULL;
    kiln_status st = kiln_cuda_compile_verbose(source, entry, arch, &cubin, &size, &log);
    if (st == KILN_OK) st = kiln_cuda_usage_parse(log, &r->usage);
    if (st == KILN_OK && nvdisasm) st = kiln_cuda_disassemble(nvdisasm, cubin, size, &r->sass);
    if (st == KILN_OK && nvdisasm && !(r->sass_classes = calloc(r->usage.count + 1, sizeof *r->sass_classes)))
        st = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "cuda: no room for the SASS classes of %s", entry);
    for (size_t i = 0; st == KILN_OK && nvdisasm && i < r->usage.count; i++)
        st = kiln_sass_classes(r->sass, r->usage.fn[i].name, &r->sass_classes[i]);
    free(cubin);
    free(log);
    if (st != KILN_OK) {
        kiln_fail_prefix(st, "%s for %s", entry, arch);
        kiln_cuda_static_report_free(r);
    }
    return st;
}

void kiln_cuda_static_report_free(kiln_cuda_static_report *r)
{
    if (!r) return;
    kiln_cuda_usage_free(&r->usage);
    free(r->sass);
    free(r->sass_classes);
    r->sass = NULL;
    r->sass_classes = NULL;
}

/* ---------------------------------------------------------------- table lines */

int kiln_cuda_static_line(const char *arch, const kiln_cuda_fn_usage *fn, int has_sass, unsigned sass, char *buf,
                          size_t cap)
{
    int n = snprintf(buf, cap, "%s %s regs=%d stack=%u spill=%u smem=%u sass=", arch, fn->name, fn->registers,
                     fn->stack_bytes, fn->spill_store_bytes + fn->spill_load_bytes, fn->smem_bytes);
    for (int k = 0; has_sass && k < KILN_SASS_CLASS_COUNT && n > 0 && (size_t)n < cap; k++)
        n += snprintf(buf + n, cap - (size_t)n, "%s%c%s", k ? "," : "", sass >> k & 1 ? '+' : '-',
                      kiln_sass_class_name(k));
    if (!has_sass && n > 0 && (size_t)n < cap) n += snprintf(buf + n, cap - (size_t)n, "?");
    return n > 0 && (size_t)n < cap ? n : -1;
}

/* "key=N" as the next word of *p. */
static int read_field(const char **p, const char *key, long *v)
{
    size_t k = strlen(key);
    while (**p == ' ') (*p)++;
    if (strncmp(*p, key, k) || (*p)[k] != '=' || !isdigit((unsigned char)(*p)[k + 1])) return -1;
    char *end;
    *v = strtol(*p + k + 1, &end, 10);
    if (*v < 0 || *v > 1 << 30 || (*end != ' ' && *end != '\0')) return -1;
    *p = end;
    return 0;
}

kiln_status kiln_cuda_static_line_parse(const char *line, kiln_cuda_static_row *row)
{
    memset(row, 0, sizeof *row);
    char name[KILN_CUDA_FN_NAME_MAX], sass[256];
    int used = 0;
    if (sscanf(line, "%15s %255s%n", row->arch, name, &used) != 2)
        return kiln_fail(KILN_ERR_INVALID_ARG, "cuda static table: no ARCH FUNCTION in \"%s\"", line);
    memcpy(row->fn.name, name, sizeof name);
    row->fn.is_entry = 1;
    const char *p = line + used;
    long regs, stack, spill, smem;
    if (read_field(&p, "regs", &regs) || read_field(&p, "stack", &stack) || read_field(&p, "spill", &spill) ||
        read_field(&p, "smem", &smem) || sscanf(p, " sass=%255s", sass) != 1)
        return kiln_fail(KILN_ERR_INVALID_ARG,
                         "cuda static table: \"%s\" is not ARCH FUNCTION regs=N stack=N spill=N smem=N sass=...", line);
    row->fn.registers = (int)regs;
    row->fn.stack_bytes = (unsigned)stack;
    row->fn.spill_store_bytes = (unsigned)spill;
    row->fn.smem_bytes = (unsigned)smem;
    if (!strcmp(sass, "?")) return KILN_OK;
    row->has_sass = 1;
    unsigned seen = 0;
    char *save = NULL;
    for (char *tok = strtok_r(sass, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int k = tok[0] == '+' || tok[0] == '-' ? kiln_sass_class_of(tok + 1, strlen(tok + 1)) : -1;
        if (k < 0 || seen >> k & 1)
            return kiln_fail(KILN_ERR_INVALID_ARG, "cuda static table: bad or repeated sass item '%s' in \"%s\"", tok,
                             line);
        seen |= 1u << k;
        if (tok[0] == '+') row->sass |= 1u << k;
    }
    if (seen != (1u << KILN_SASS_CLASS_COUNT) - 1)
        return kiln_fail(KILN_ERR_INVALID_ARG, "cuda static table: sass= must name every class (+ or -) in \"%s\"",
                         line);
    return KILN_OK;
}
