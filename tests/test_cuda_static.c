/* tests/test_cuda_static.c — what the cuda kernels compile to, checked without a GPU.
 *
 * Each kernel family's representatives (the first manifest instance of each
 * template path x weight block size x activation type x epilogue or none x
 * fixed or generic head size, and each format of the int8 mat-vec; every cuda
 * instance with KILN_CUDA_STATIC_ALL=1)
 * are compiled through NVRTC for sm_80 and sm_90 exactly as the backend
 * compiles them, and compared with the committed table
 * tests/data/cuda_static.txt (kernels/cuda/cuda_static.h has its format):
 *   - no function spills registers;
 *   - registers and stack no more than the table's (under the table's NVRTC
 *     version; another version only reports them), and registers x threads
 *     fit one block's register file;
 *   - static shared memory as in the table, within 48 KB, and with the
 *     launch's dynamic request within the architecture's per-block limit; the
 *     mat-vec's equal to what the host computes (kiln_cuda_mv_static_smem);
 *   - the key SASS instructions present and absent as the table says
 *     (nvdisasm from the build's venv; without it this part skips, see
 *     cuda_static/nvdisasm_runs), and, whatever the table says, every mat-vec
 *     function with LDG and no generic LD, the int8 ones with dp4a (IDP).
 * Refresh the table after an intended change (docs/CUDA.md, "Static checks"):
 *   build/bin/kiln-gen --list --backend cuda --sass > tests/data/cuda_static.txt
 * The parsers of ptxas's report, of nvdisasm's output and of the table read
 * another program's text, so they are tested on good and bad input too. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_api.h"
#include "kernels/cuda/cuda_compile.h"
#include "gen/cuda_geometry.h"
#include "kernels/cuda/cuda_sass.h"
#include "kernels/cuda/cuda_static.h"
#include "kiln/kernel.h"
#include "kiln/kiln.h"

#define TABLE_PATH KILN_SOURCE_DIR "/tests/data/cuda_static.txt"
#define REFRESH "build/bin/kiln-gen --list --backend cuda --sass > tests/data/cuda_static.txt"

/* ---------------------------------------------------------------- the table */

typedef struct table {
    kiln_cuda_static_row *rows;
    size_t count;
    int nvrtc_major, nvrtc_minor;
} table;

static table load_table(void)
{
    table t = {0};
    FILE *f = fopen(TABLE_PATH, "r");
    cr_assert_not_null(f, "cannot open %s", TABLE_PATH);
    size_t cap = 0;
    char line[KILN_CUDA_STATIC_LINE_MAX + 2];
    for (int no = 1; fgets(line, sizeof line, f); no++) {
        size_t n = strcspn(line, "\n");
        cr_assert(line[n] == '\n' || feof(f), "%s:%d: line too long", TABLE_PATH, no);
        line[n] = '\0';
        if (line[0] == '#' || line[0] == '\0') continue;
        if (sscanf(line, "nvrtc %d.%d", &t.nvrtc_major, &t.nvrtc_minor) == 2) continue;
        if (t.count == cap) {
            cap = cap ? 2 * cap : 256;
            t.rows = realloc(t.rows, cap * sizeof *t.rows);
            cr_assert_not_null(t.rows);
        }
        cr_assert_eq(kiln_cuda_static_line_parse(line, &t.rows[t.count]), KILN_OK, "%s:%d: %s", TABLE_PATH, no,
                     kiln_last_error());
        t.count++;
    }
    fclose(f);
    cr_assert(t.nvrtc_major > 0, "%s has no 'nvrtc X.Y' line", TABLE_PATH);
    return t;
}

static const kiln_cuda_static_row *table_find(const table *t, const char *arch, const char *fn)
{
    for (size_t i = 0; i < t->count; i++)
        if (!strcmp(t->rows[i].arch, arch) && !strcmp(t->rows[i].fn.name, fn)) return &t->rows[i];
    return NULL;
}

/* ---------------------------------------------------------------- representatives */

/* Which template a spec instantiates (kernels/cuda/templates/). */
static int path_of(const kiln_spec *s)
{
    switch (s->op) {
    case KILN_OP_MATMUL:
        if (s->tile.tn <= 8) return kiln_cuda_mv_int8(s->fmt) ? 1 : 2; /* int8 / f32 mat-vec */
        return kiln_cuda_mm_uses_mma(s) ? 3 : 4;                       /* tensor cores / FMA tile */
    case KILN_OP_FLASH_ATTN: return kiln_cuda_fa_uses_mma(s) ? 5 : 6;
    default: return 0;
    }
}

typedef struct family_key {
    int path, block, act, epilogue, generic_hd, int8_fmt;
} family_key;

/* The int8 mat-vec has code of its own per format (loads, code layout): each
 * format is a family there. */
static family_key key_of(const kiln_spec *s)
{
    int path = path_of(s);
    return (family_key){path, kiln_dtype_get(s->fmt)->block_elems, s->act, s->epilogue != 0, s->head_dim == 0,
                        path == 1 ? (int)s->fmt : -1};
}

/* Whether manifest instance i is the first of its key (among op's instances). */
static int representative(size_t i)
{
    const kiln_spec *s = kiln_manifest_get(i);
    family_key k = key_of(s);
    for (size_t j = 0; j < i; j++) {
        const kiln_spec *o = kiln_manifest_get(j);
        family_key ko = key_of(o);
        if (o->backend == s->backend && o->op == s->op && !memcmp(&k, &ko, sizeof k)) return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- the checks */

static int same_nvrtc(const table *t)
{
    const kiln_nvrtc_api *rtc = kiln_nvrtc();
    return rtc->version_major == t->nvrtc_major && rtc->version_minor == t->nvrtc_minor;
}

/* The key classes that differ, as "+LDSM (table: absent), ...". */
static void sass_diff(unsigned got, unsigned want, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < KILN_SASS_CLASS_COUNT; k++)
        if ((got ^ want) >> k & 1)
            used += (size_t)snprintf(buf + used, cap - used, "%s%c%s (table: %s)", used ? ", " : "",
                                     got >> k & 1 ? '+' : '-', kiln_sass_class_name(k),
                                     want >> k & 1 ? "present" : "absent");
}

/* The instructions a fast kernel is built around, whatever the table says:
 * every mat-vec function (the kernel and the int8 path's activation
 * quantizer) reads global memory through LDG only, never the generic LD (a
 * pointer of unknown space, no read-only cache path), and the int8 mat-vec
 * multiplies by dp4a (IDP). */
static void check_required_sass(const kiln_spec *s, const char *arch, const char *fn, unsigned sass)
{
    if (s->op != KILN_OP_MATMUL || s->tile.tn > 8) return;
    const int quantizer = strstr(fn, "_quantize_x") != NULL;
    cr_expect(sass >> KILN_SASS_LDG & 1, "%s %s: a mat-vec function without LDG", arch, fn);
    cr_expect(!(sass >> KILN_SASS_LD & 1), "%s %s: a mat-vec function with a generic LD: global reads go through "
              "the ldg wrappers (cuda_arch.cuh)", arch, fn);
    if (kiln_cuda_mv_int8(s->fmt) && !quantizer)
        cr_expect(sass >> KILN_SASS_IDP & 1, "%s %s: the int8 mat-vec without dp4a (IDP)", arch, fn);
}

static void check_function(const kiln_spec *s, const kiln_source *src, const char *arch, const table *t,
                           const kiln_cuda_fn_usage *f, const unsigned *sass)
{
    const kiln_cuda_arch_limits *lim = kiln_cuda_arch_limits_of(arch);
    const kiln_cuda_static_row *row = table_find(t, arch, f->name);
    cr_expect_not_null(row, "%s %s is not in %s: refresh it with %s", arch, f->name, TABLE_PATH, REFRESH);
    /* No kernel may spill (the table's records of one do not excuse it). */
    cr_expect(f->spill_store_bytes + f->spill_load_bytes == 0,
              "%s %s: spills %u bytes (stores) and %u (loads): no kernel may spill", arch, f->name,
              f->spill_store_bytes, f->spill_load_bytes);
    if (f->is_entry) {
        cr_expect(f->smem_bytes <= lim->smem_static_max, "%s %s: %u bytes of static shared memory, at most %u",
                  arch, f->name, f->smem_bytes, lim->smem_static_max);
        cr_expect(f->registers <= lim->regs_per_thread, "%s %s: %d registers", arch, f->name, f->registers);
    }
    if (!strcmp(f->name, src->entry)) { /* the kernel the launch description is about */
        unsigned regs = ((unsigned)f->registers + 7u) & ~7u; /* allocated 8 per thread (256 per warp) at a time */
        cr_expect(regs * (unsigned)src->threads[0] <= lim->regs_per_block,
                  "%s %s: %d registers x %d threads exceed a block's %u", arch, f->name, f->registers,
                  src->threads[0], lim->regs_per_block);
        cr_expect(f->smem_bytes + src->shared_bytes <= lim->smem_block_max,
                  "%s %s: %u static + %u dynamic bytes of shared memory exceed %u", arch, f->name, f->smem_bytes,
                  src->shared_bytes, lim->smem_block_max);
        if (s->op == KILN_OP_MATMUL && s->tile.tn <= 8)
            cr_expect_eq(f->smem_bytes, kiln_cuda_mv_static_smem(s),
                         "%s %s: the mat-vec has %u bytes of static shared memory, the host computes %u "
                         "(gen/cuda_geometry.h)",
                         arch, f->name, f->smem_bytes, kiln_cuda_mv_static_smem(s));
    }
    if (sass) check_required_sass(s, arch, f->name, *sass);
    if (!row) return;
    if (same_nvrtc(t)) {
        cr_expect(f->registers <= row->fn.registers,
                  "%s %s: %d registers, the table has %d (if intended: %s)", arch, f->name, f->registers,
                  row->fn.registers, REFRESH);
        cr_expect(f->stack_bytes <= row->fn.stack_bytes, "%s %s: %u bytes of stack, the table has %u (if intended: %s)",
                  arch, f->name, f->stack_bytes, row->fn.stack_bytes, REFRESH);
    }
    cr_expect_eq(f->smem_bytes, row->fn.smem_bytes, "%s %s: %u bytes of static shared memory, the table has %u",
                 arch, f->name, f->smem_bytes, row->fn.smem_bytes);
    if (sass && row->has_sass && *sass != row->sass) {
        char diff[256];
        sass_diff(*sass, row->sass, diff, sizeof diff);
        cr_expect_fail("%s %s: key SASS instructions changed: %s (if intended: %s)", arch, f->name, diff, REFRESH);
    }
}

static void need_nvrtc(void)
{
    if (!kiln_nvrtc()) cr_skip_test("NVRTC not available: %s", kiln_last_error());
}

/* Compiles op's representatives (or all instances) for both archs and checks
 * every function of each. */
static void check_family(kiln_op op)
{
    need_nvrtc();
    table t = load_table();
    if (!same_nvrtc(&t))
        cr_log_warn("NVRTC %d.%d, the table was written by %d.%d: registers and stack are not compared",
                    kiln_nvrtc()->version_major, kiln_nvrtc()->version_minor, t.nvrtc_major, t.nvrtc_minor);
    char tool[1024];
    const char *nvdisasm = kiln_cuda_find_nvdisasm(KILN_BINARY_DIR "/venv", tool, sizeof tool) == KILN_OK ? tool : NULL;
    if (!nvdisasm) cr_log_warn("SASS not checked: %s", kiln_last_error());
    const char *all = getenv("KILN_CUDA_STATIC_ALL");
    int every = all && !strcmp(all, "1"), checked = 0;
    for (size_t i = 0, n = kiln_manifest_count(); i < n; i++) {
        const kiln_spec *s = kiln_manifest_get(i);
        if (s->backend != KILN_BACKEND_CUDA || s->op != op || !(every || representative(i))) continue;
        kiln_source src;
        cr_assert_eq(kiln_gen_emit(s, &src), KILN_OK, "%s", kiln_last_error());
        for (int a = 0; a < KILN_CUDA_STATIC_ARCH_COUNT; a++) {
            const char *arch = kiln_cuda_static_archs[a];
            kiln_cuda_static_report r;
            cr_assert_eq(kiln_cuda_static_report_of(src.text, src.entry, arch, nvdisasm, &r), KILN_OK, "%s",
                         kiln_last_error());
            cr_assert_not_null(kiln_cuda_usage_find(&r.usage, src.entry), "%s: ptxas did not report the entry",
                               src.entry);
            for (size_t k = 0; k < r.usage.count; k++)
                check_function(s, &src, arch, &t, &r.usage.fn[k], r.sass ? &r.sass_classes[k] : NULL);
            kiln_cuda_static_report_free(&r);
        }
        kiln_source_free(&src);
        checked++;
    }
    cr_assert(checked > 0, "no cuda %s instance in the manifest", kiln_op_name(op));
    free(t.rows);
}

Test(cuda_static, matmul, .timeout = 400) { check_family(KILN_OP_MATMUL); }
Test(cuda_static, flash_attn, .timeout = 400) { check_family(KILN_OP_FLASH_ATTN); }
Test(cuda_static, paged_attn, .timeout = 400) { check_family(KILN_OP_PAGED_ATTN); }
Test(cuda_static, norm, .timeout = 400) { check_family(KILN_OP_NORM); }
Test(cuda_static, rope, .timeout = 400) { check_family(KILN_OP_ROPE); }

/* The table covers the whole manifest (without compiling: entry names only),
 * so a new instance or a renamed one asks for a refresh. */
Test(cuda_static, table_lists_every_instance)
{
    table t = load_table();
    for (size_t i = 0, n = kiln_manifest_count(); i < n; i++) {
        const kiln_spec *s = kiln_manifest_get(i);
        if (s->backend != KILN_BACKEND_CUDA) continue;
        kiln_source src;
        cr_assert_eq(kiln_gen_emit(s, &src), KILN_OK, "%s", kiln_last_error());
        for (int a = 0; a < KILN_CUDA_STATIC_ARCH_COUNT; a++)
            cr_expect_not_null(table_find(&t, kiln_cuda_static_archs[a], src.entry),
                               "%s %s is not in %s: refresh it with %s", kiln_cuda_static_archs[a], src.entry,
                               TABLE_PATH, REFRESH);
        kiln_source_free(&src);
    }
    free(t.rows);
}

/* ---------------------------------------------------------------- nvdisasm */

/* A kernel with a known instruction mix: a global load (LDG), an f16 mma
 * (HMMA), no int8 work. Shows the class reader on real nvdisasm output. */
static const char *probe_src =
    "extern \"C\" __global__ void probe(const float *__restrict__ x, float *y, const unsigned *a) {\n"
    "  float d0 = 0, d1 = 0, d2 = 0, d3 = 0;\n"
    "  unsigned a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], b0 = a[4], b1 = a[5];\n"
    "  asm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
    "{%0,%1,%2,%3};\"\n"
    "      : \"+f\"(d0), \"+f\"(d1), \"+f\"(d2), \"+f\"(d3) : \"r\"(a0), \"r\"(a1), \"r\"(a2), \"r\"(a3), \"r\"(b0), "
    "\"r\"(b1));\n"
    "  y[threadIdx.x] = x[threadIdx.x] + d0 + d1 + d2 + d3;\n"
    "}\n";

Test(cuda_static, nvdisasm_runs, .timeout = 120)
{
    need_nvrtc();
    char tool[1024];
    if (kiln_cuda_find_nvdisasm(KILN_BINARY_DIR "/venv", tool, sizeof tool) != KILN_OK)
        cr_skip_test("SASS checks skipped: %s", kiln_last_error());
    for (int a = 0; a < KILN_CUDA_STATIC_ARCH_COUNT; a++) {
        kiln_cuda_static_report r;
        cr_assert_eq(kiln_cuda_static_report_of(probe_src, "probe", kiln_cuda_static_archs[a], tool, &r), KILN_OK,
                     "%s", kiln_last_error());
        cr_assert_eq(r.usage.count, 1);
        unsigned c = r.sass_classes[0];
        cr_expect(c >> KILN_SASS_HMMA & 1, "%s: no HMMA in the probe's SASS", kiln_cuda_static_archs[a]);
        cr_expect(c >> KILN_SASS_LDG & 1, "%s: no LDG in the probe's SASS", kiln_cuda_static_archs[a]);
        cr_expect(!(c >> KILN_SASS_LD & 1) && !(c >> KILN_SASS_IMMA & 1) && !(c >> KILN_SASS_IDP & 1),
                  "%s: classes the probe does not have: 0x%x", kiln_cuda_static_archs[a], c);
        kiln_cuda_static_report_free(&r);
    }
    /* a cubin nvdisasm cannot read is an error with its message, not a crash */
    char *sass = (char *)1;
    cr_assert_eq(kiln_cuda_disassemble(tool, "not a cubin", 11, &sass), KILN_ERR_IO);
    cr_assert_null(sass);
    cr_assert(strstr(kiln_last_error(), "nvdisasm"), "%s", kiln_last_error());
}

Test(cuda_static, nvdisasm_from_env)
{
    setenv("KILN_NVDISASM", "/nonexistent/nvdisasm", 1);
    char buf[256];
    cr_assert_eq(kiln_cuda_find_nvdisasm(NULL, buf, sizeof buf), KILN_ERR_UNAVAILABLE);
    cr_assert(strstr(kiln_last_error(), "KILN_NVDISASM=/nonexistent/nvdisasm"), "%s", kiln_last_error());
    setenv("KILN_NVDISASM", "/bin/true", 1);
    cr_assert_eq(kiln_cuda_find_nvdisasm(NULL, buf, sizeof buf), KILN_OK);
    cr_assert_str_eq(buf, "/bin/true");
    unsetenv("KILN_NVDISASM");
}

/* ---------------------------------------------------------------- parsers on text */

static const char *good_log =
    "ptxas info    : 0 bytes gmem\n"
    "ptxas info    : Function properties for helper_fn\n"
    "ptxas         .     16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads\n"
    "ptxas info    : Compiling entry function 'k_main' for 'sm_90'\n"
    "ptxas info    : Function properties for k_main\n"
    "ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
    "ptxas info    : Used 40 registers, used 1 barriers, 4672 bytes smem, 400 bytes cmem[0]\n"
    "ptxas info    : Compiling entry function 'k_second' for 'sm_90'\n"
    "ptxas info    : Function properties for k_second\n"
    "ptxas         .     32 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
    "ptxas info    : Used 128 registers, 360 bytes cmem[0]\n"
    "ptxas info    : Compile time = 10.0 ms\n";

Test(cuda_static, usage_parse)
{
    kiln_cuda_usage u;
    cr_assert_eq(kiln_cuda_usage_parse(good_log, &u), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(u.count, 3);
    const kiln_cuda_fn_usage *h = kiln_cuda_usage_find(&u, "helper_fn"), *m = kiln_cuda_usage_find(&u, "k_main"),
                             *s = kiln_cuda_usage_find(&u, "k_second");
    cr_assert(h && m && s);
    cr_expect(!h->is_entry && h->stack_bytes == 16 && h->spill_store_bytes == 8 && h->spill_load_bytes == 4);
    cr_expect(m->is_entry && m->registers == 40 && m->smem_bytes == 4672 && m->stack_bytes == 0);
    cr_expect(s->is_entry && s->registers == 128 && s->smem_bytes == 0 && s->stack_bytes == 32);
    kiln_cuda_usage_free(&u);

    static const char *const bad[] = {
        "",                                                     /* no entry */
        "ptxas info    : 0 bytes gmem\n",                       /* no entry */
        "ptxas info    : Compiling entry function 'k' for 'sm_90'\n", /* no register count */
        "ptxas info    : Used 10 registers\n",                  /* before any entry */
        "ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n", /* no function */
        "ptxas info    : Compiling entry function 'k' for 'sm_90'\nptxas info    : Used many registers\n",
        "ptxas info    : Function properties for k\nptxas         .     x bytes stack frame, 0 bytes spill stores\n",
        "ptxas info    : Compiling entry function '' for 'sm_90'\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kiln_cuda_usage v = {(kiln_cuda_fn_usage *)1, 5};
        cr_expect_eq(kiln_cuda_usage_parse(bad[i], &v), KILN_ERR_COMPILE, "bad log %zu accepted", i);
        cr_expect(v.fn == NULL && v.count == 0, "bad log %zu left a result", i);
        cr_expect(strstr(kiln_last_error(), "ptxas report"), "%s", kiln_last_error());
    }
    /* a name too long for the record is refused, not cut */
    char longlog[600];
    snprintf(longlog, sizeof longlog, "ptxas info    : Compiling entry function '%0300d' for 'sm_90'\n", 0);
    kiln_cuda_usage v;
    cr_expect_eq(kiln_cuda_usage_parse(longlog, &v), KILN_ERR_COMPILE);
}

static const char *good_sass =
    "\t.target\tsm_90\n"
    "//--------------------- .text.k_other --------------------------\n"
    "\t.section\t.text.k_other,\"ax\",@progbits\n"
    "        /*0000*/                   IMMA.16832.S8.S8 R4, R8.ROW, R12.COL, R4 ;\n"
    "\t.section\t.text.k_main,\"ax\",@progbits\n"
    "\t.sectioninfo\t@\"SHI_REGISTERS=16\"\n"
    "        /*0000*/                   LDC R1, c[0x0][0x28] ;\n"
    "        /*0010*/              @!P0 LDG.E.128 R4, desc[UR6][R2.64] ;\n"
    "        /*0020*/                   LD.E.U16 R5, desc[UR6][R2.64+0x2] ;\n"
    "        /*0030*/                   HMMA.16816.F32 R8, R12, R14, R8 ;\n"
    "        /*0040*/                   LDS.U.128 R4, [R2] ;\n"
    "        /*0050*/                   EXIT ;\n"
    "\t.section\t.nv.shared.k_main,\"aw\",@nobits\n"
    "        /*0060*/                   LDSM.16.M88.4 R4, [R2] ;\n";

Test(cuda_static, sass_classes)
{
    unsigned c = 0;
    cr_assert_eq(kiln_sass_classes(good_sass, "k_main", &c), KILN_OK, "%s", kiln_last_error());
    cr_expect_eq(c, 1u << KILN_SASS_LDG | 1u << KILN_SASS_LD | 1u << KILN_SASS_HMMA, "classes 0x%x", c);
    cr_assert_eq(kiln_sass_classes(good_sass, "k_other", &c), KILN_OK);
    cr_expect_eq(c, 1u << KILN_SASS_IMMA);
    cr_expect_eq(kiln_sass_classes(good_sass, "k_mai", &c), KILN_ERR_FORMAT, "a prefix is not the function");
    cr_expect_eq(kiln_sass_classes("", "k_main", &c), KILN_ERR_FORMAT);
    cr_expect_eq(kiln_sass_class_of("LDGSTS", 6), KILN_SASS_LDGSTS);
    cr_expect_eq(kiln_sass_class_of("LDS", 3), -1);
}

Test(cuda_static, table_line_round_trip)
{
    kiln_cuda_fn_usage f = {.name = "kiln_x", .is_entry = 1, .registers = 72, .stack_bytes = 8,
                            .spill_store_bytes = 0, .spill_load_bytes = 0, .smem_bytes = 4672};
    unsigned sass = 1u << KILN_SASS_HMMA | 1u << KILN_SASS_LD;
    char line[KILN_CUDA_STATIC_LINE_MAX];
    cr_assert(kiln_cuda_static_line("sm_90", &f, 1, sass, line, sizeof line) > 0);
    cr_expect_str_eq(line, "sm_90 kiln_x regs=72 stack=8 spill=0 smem=4672 sass=+HMMA,-IMMA,-IDP,-LDSM,-LDGSTS,-LDG,+LD");
    kiln_cuda_static_row row;
    cr_assert_eq(kiln_cuda_static_line_parse(line, &row), KILN_OK, "%s", kiln_last_error());
    cr_expect(!strcmp(row.arch, "sm_90") && !strcmp(row.fn.name, "kiln_x") && row.fn.registers == 72 &&
              row.fn.stack_bytes == 8 && row.fn.smem_bytes == 4672 && row.has_sass && row.sass == sass);
    cr_assert(kiln_cuda_static_line("sm_80", &f, 0, 0, line, sizeof line) > 0);
    cr_assert_eq(kiln_cuda_static_line_parse(line, &row), KILN_OK);
    cr_expect_eq(row.has_sass, 0);
    cr_expect_eq(kiln_cuda_static_line("sm_80", &f, 1, sass, line, 20), -1, "a line that does not fit");

    static const char *const bad[] = {
        "sm_90",
        "sm_90 k regs=1 stack=0 spill=0 smem=0",
        "sm_90 k regs=x stack=0 spill=0 smem=0 sass=?",
        "sm_90 k stack=0 regs=1 spill=0 smem=0 sass=?",
        "sm_90 k regs=-1 stack=0 spill=0 smem=0 sass=?",
        "sm_90 k regs=1 stack=0 spill=0 smem=0 sass=+HMMA",
        "sm_90 k regs=1 stack=0 spill=0 smem=0 sass=+HMMA,-IMMA,-IDP,-LDSM,-LDGSTS,-LDG,+LD,+LD",
        "sm_90 k regs=1 stack=0 spill=0 smem=0 sass=+HMMA,-IMMA,-IDP,-LDSM,-LDGSTS,-LDG,*LD",
        "sm_90 k regs=1 stack=0 spill=0 smem=0 sass=+HMMA,-IMMA,-IDP,-LDSM,-LDGSTS,-LDG,+STG",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(kiln_cuda_static_line_parse(bad[i], &row), KILN_ERR_INVALID_ARG, "accepted: %s", bad[i]);
}

Test(cuda_static, arch_limits)
{
    const kiln_cuda_arch_limits *a = kiln_cuda_arch_limits_of("sm_80"), *h = kiln_cuda_arch_limits_of("sm_90");
    cr_assert(a && h);
    cr_expect_eq(a->smem_block_max, 163u * 1024);
    cr_expect_eq(h->smem_block_max, 227u * 1024);
    cr_expect_null(kiln_cuda_arch_limits_of("sm_75"));
    for (int i = 0; i < KILN_CUDA_STATIC_ARCH_COUNT; i++)
        cr_expect_not_null(kiln_cuda_arch_limits_of(kiln_cuda_static_archs[i]));
}
