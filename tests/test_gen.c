/* tests/test_gen.c — the emitter and kiln-gen.
 *
 * Three layers:
 * - the emitted layout and include resolution, on small in-memory templates
 *   (kiln_gen_emit_from), so they do not depend on the backends' templates;
 * - the real shared math (gen/math/) through the generator's macro block:
 *   compiled with cc into a shared object and called on fresh random data
 *   (epilogue, online softmax, kiln_dequant of every weight format), and
 *   through glslc / nvcc where those are installed;
 * - every manifest instance: emits, carries its spec, and (cpu) compiles;
 *   kiln-gen's --emit-dir output compiles standalone; its exit codes.
 * The NVRTC and glslc checks of the backends' own templates live in their tests. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gen/embedded.h"
#include "gen/emit.h"
#include "kernels/cuda/cuda_api.h"
#include "gen/cuda_heuristic.h"
#include "kiln/kernel.h"
#include "support/harness.h"
#include "support/files.h"

/* ------------------------------------------------------------ helpers */

typedef struct mem_file {
    const char *path, *text;
} mem_file;

/* In-memory files first; the embedded table behind them when fallback is set. */
typedef struct mem_fs {
    const mem_file *files;
    size_t count;
    int fallback;
} mem_fs;

static const char *mem_lookup(void *user, const char *path, size_t *len)
{
    const mem_fs *fs = user;
    for (size_t i = 0; i < fs->count; i++)
        if (!strcmp(fs->files[i].path, path)) {
            *len = strlen(fs->files[i].text);
            return fs->files[i].text;
        }
    const kiln_embedded_file *f = fs->fallback ? kiln_embedded_find(path) : NULL;
    if (!f) return NULL;
    *len = f->len;
    return f->text;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Whether a line of text is a `#pragma kiln` directive (comments may mention them). */
static int has_kiln_pragma(const char *text)
{
    for (const char *p = text; p; p = strchr(p, '\n')) {
        p += *p == '\n';
        while (*p == ' ' || *p == '\t') p++;
        if (*p != '#') continue;
        for (p++; *p == ' ' || *p == '\t'; p++) {}
        if (strncmp(p, "pragma", 6)) continue;
        for (p += 6; *p == ' ' || *p == '\t'; p++) {}
        if (!strncmp(p, "kiln", 4)) return 1;
    }
    return 0;
}

static size_t offset_of(const char *hay, const char *needle)
{
    const char *p = strstr(hay, needle);
    cr_assert_not_null(p, "emitted source lacks \"%s\"", needle);
    return (size_t)(p - hay);
}

static kiln_spec spec_of(const char *text)
{
    kiln_spec s;
    cr_assert_eq(kiln_spec_parse(text, &s), KILN_OK, "%s", kiln_last_error());
    return s;
}

static void make_tmpdir(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/kiln_test_gen_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_tmpdir(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) cr_log_warn("could not remove %s", dir);
}

static void write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* Runs a shell command with its output in dir/log; returns the exit status and
 * puts the log's tail in the test output when it failed. */
static int run(const char *dir, const char *cmd)
{
    char full[8192];
    snprintf(full, sizeof full, "cd '%s' && (%s) > log 2>&1", dir, cmd);
    int st = system(full);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (rc) {
        char path[512], tail[4096] = "";
        snprintf(path, sizeof path, "%s/log", dir);
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(tail, 1, sizeof tail - 1, f);
            tail[n] = '\0';
            fclose(f);
        }
        cr_log_error("`%s` exited %d:\n%s", cmd, rc, tail);
    }
    return rc;
}

static int have_tool(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s > /dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* ------------------------------------------------------------ layout */

static const mem_file fake_math[] = {
    {"gen/math/dialect_c.h", "/* dialect c */\n"},
    {"gen/math/dialect_glsl.h", "/* dialect glsl */\n"},
    {"gen/math/dequant.h", "/* dequant */\n"},
    {"gen/math/common.h", "/* common */\n"},
};

Test(gen, emitted_layout_header_macros_then_files_in_order)
{
    mem_file files[] = {
        fake_math[0], fake_math[2], fake_math[3],
        {"kernels/cpu/templates/matmul.c",
         "/* template */\n#pragma kiln include \"kernels/cpu/templates/helper.h\"\n"
         "  #  pragma   kiln include \"kernels/cpu/templates/helper.h\"\nvoid KILN_ENTRY(void) {}\n"},
        {"kernels/cpu/templates/helper.h",
         "/* helper */\n#pragma kiln include \"kernels/cpu/templates/leaf.h\"\nint helper_after_leaf;\n"},
        /* a cycle back to helper.h: dropped, since each file goes in once */
        {"kernels/cpu/templates/leaf.h", "/* leaf */\n#pragma kiln include \"kernels/cpu/templates/helper.h\"\n"},
    };
    mem_fs fs = {files, sizeof files / sizeof files[0], 0};
    kiln_spec s = spec_of("matmul backend=cpu-avx2 fmt=q4_0 epi=bias+swiglu tm=4 tn=8 tk=64 vec=32 split=1");
    kiln_source src;
    memset(&src, 0xff, sizeof src);
    cr_assert_eq(kiln_gen_emit_from(&s, mem_lookup, &fs, &src), KILN_OK, "%s", kiln_last_error());
    const char *t = src.text;
    char text[KILN_SPEC_TEXT_MAX], name[KILN_SPEC_NAME_MAX], line[1024];
    kiln_spec_to_text(&s, text, sizeof text);
    kiln_spec_name(&s, name, sizeof name);

    cr_assert_eq(src.len, strlen(t));
    cr_assert(!strncmp(t, "/* Generated by kiln-gen " KILN_VERSION_STRING, 28), "starts with: %.60s", t);
    snprintf(line, sizeof line, "\n * spec: %s\n * name: %s\n */\n", text, name);
    cr_assert_not_null(strstr(t, line), "header lacks the spec and name lines");
    snprintf(line, sizeof line, "#define KILN_ENTRY kiln_%s\n", name);
    cr_assert_not_null(strstr(t, line));
    snprintf(line, sizeof line, "kiln_%s", name);
    cr_assert_str_eq(src.entry, line);
    static const char *const present[] = {
        "#define KILN_OP_MATMUL 1\n", "#define KILN_BACKEND_CPU 1\n", "#define KILN_ISA_AVX2 1\n",
        "#define KILN_FMT_Q4_0 1\n", "#define KILN_FMT_BLOCK 32\n", "#define KILN_FMT_BYTES 18\n",
        "#define KILN_ACT_F32 1\n", "#define KILN_OUT_F32 1\n", "#define KILN_ACC_F32 1\n",
        "#define KILN_EPI_BIAS 1\n", "#define KILN_EPI_RESIDUAL 0\n", "#define KILN_EPI_SWIGLU 1\n",
        "#define KILN_NORM_LAYER 0\n", "#define KILN_NORM_RESIDUAL 0\n", "#define KILN_HEAD_DIM 0\n",
        "#define KILN_TM 4\n", "#define KILN_TN 8\n", "#define KILN_TK 64\n", "#define KILN_THREADS 0\n",
        "#define KILN_STAGES 0\n", "#define KILN_VEC 32\n", "#define KILN_SPLIT 1\n"};
    for (size_t i = 0; i < sizeof present / sizeof present[0]; i++)
        cr_assert_eq(count_of(t, present[i]), 1, "want exactly one %s", present[i]);
    cr_assert_null(strstr(t, "KILN_OP_NORM"), "one-hot macros of other values stay undefined");
    cr_assert_null(strstr(t, "KILN_FMT_Q8_0"));
    cr_assert_null(strstr(t, "KILN_BACKEND_CUDA"));

    /* macros, dialect, shared math, template; includes inlined once, in place */
    size_t macros = offset_of(t, "#define KILN_SPLIT"), dialect = offset_of(t, "/* dialect c */"),
           dequant = offset_of(t, "/* dequant */"), common = offset_of(t, "/* common */"),
           tmpl = offset_of(t, "/* template */"), helper = offset_of(t, "/* helper */"),
           leaf = offset_of(t, "/* leaf */"), after = offset_of(t, "int helper_after_leaf;"),
           entry = offset_of(t, "void KILN_ENTRY(void) {}");
    cr_assert(macros < dialect && dialect < dequant && dequant < common && common < tmpl);
    cr_assert(tmpl < helper && helper < leaf && leaf < after && after < entry);
    cr_assert_eq(count_of(t, "/* helper */"), 1);
    cr_assert_eq(count_of(t, "/* leaf */"), 1);
    cr_assert_not(has_kiln_pragma(t), "every kiln pragma is resolved");
    /* C maps lines back to the templates */
    cr_assert_not_null(strstr(t, "#line 1 \"kernels/cpu/templates/helper.h\"\n"));
    cr_assert_not_null(strstr(t, "#line 3 \"kernels/cpu/templates/matmul.c\"\n"), "line after the include");
    cr_assert_str_eq(src.lang, "c");
    cr_assert_eq(src.threads[0], 1);
    kiln_source_free(&src);
    cr_assert_null(src.text);
}

Test(gen, template_may_place_the_shared_math_itself)
{
    mem_file files[] = {
        fake_math[0], fake_math[2], fake_math[3],
        {"kernels/cpu/templates/norm.c", "/* buffers */\n#pragma kiln include \"kernels/cpu/templates/mid.h\"\n/* body */\n"},
        {"kernels/cpu/templates/mid.h", "#pragma kiln include \"gen/math/dequant.h\"\n"},
    };
    mem_fs fs = {files, sizeof files / sizeof files[0], 0};
    kiln_spec s = spec_of("norm backend=cpu-generic vec=16");
    kiln_source src;
    cr_assert_eq(kiln_gen_emit_from(&s, mem_lookup, &fs, &src), KILN_OK, "%s", kiln_last_error());
    const char *t = src.text;
    /* common.h first as usual; dequant.h where the template's include chain asks for it */
    cr_assert(offset_of(t, "/* dialect c */") < offset_of(t, "/* common */"));
    cr_assert(offset_of(t, "/* common */") < offset_of(t, "/* buffers */"));
    cr_assert(offset_of(t, "/* buffers */") < offset_of(t, "/* dequant */"));
    cr_assert(offset_of(t, "/* dequant */") < offset_of(t, "/* body */"));
    cr_assert_eq(count_of(t, "/* dequant */"), 1);
    kiln_source_free(&src);
}

Test(gen, glsl_starts_with_version_and_has_no_line_directives)
{
    mem_file files[] = {fake_math[1], fake_math[2], fake_math[3],
                        {"kernels/vulkan/templates/norm.comp", "void main() {}\n"}};
    mem_fs fs = {files, 4, 0};
    kiln_spec s = spec_of("norm backend=vulkan fmt=f16 act=f16 epi=residual threads=64 vec=16");
    kiln_source src;
    cr_assert_eq(kiln_gen_emit_from(&s, mem_lookup, &fs, &src), KILN_OK, "%s", kiln_last_error());
    cr_assert(!strncmp(src.text, "#version 450\n/* Generated by kiln-gen", 37), "starts with: %.60s", src.text);
    cr_assert_eq(count_of(src.text, "#version"), 1);
    cr_assert_null(strstr(src.text, "#line"));
    cr_assert_not_null(strstr(src.text, "#define KILN_NORM_RESIDUAL 1\n#"));
    cr_assert_not_null(strstr(src.text, "#define KILN_EPI_BIAS 0\n"));
    cr_assert_str_eq(src.lang, "glsl");
    cr_assert_eq(src.threads[0], 64);
    kiln_source_free(&src);
}

Test(gen, emit_errors_name_the_missing_or_broken_file)
{
    kiln_spec s = spec_of("matmul backend=cpu-generic fmt=q8_0 tm=4 tn=8 tk=32 vec=16 split=1");
    kiln_source src;
    mem_fs nothing = {fake_math, 4, 0};
    memset(&src, 0x5a, sizeof src);
    cr_assert_eq(kiln_gen_emit_from(&s, mem_lookup, &nothing, &src), KILN_ERR_UNSUPPORTED);
    cr_assert_not_null(strstr(kiln_last_error(), "kernels/cpu/templates/matmul.c"), "%s", kiln_last_error());
    cr_assert_null(src.text, "no text on failure");

    mem_file broken[] = {fake_math[0], fake_math[2], fake_math[3],
                         {"kernels/cpu/templates/matmul.c", "int a;\n#pragma kiln include \"kernels/cpu/nope.h\"\n"}};
    mem_fs fs = {broken, 4, 0};
    cr_assert_eq(kiln_gen_emit_from(&s, mem_lookup, &fs, &src), KILN_ERR_INTERNAL);
    cr_assert_not_null(strstr(kiln_last_error(), "kernels/cpu/templates/matmul.c:2"), "%s", kiln_last_error());
    cr_assert_not_null(strstr(kiln_last_error(), "kernels/cpu/nope.h"), "%s", kiln_last_error());
    cr_assert_null(src.text);

    broken[3].text = "int a;\nint b;\n#pragma kiln include kernels/cpu/x.h\n";
    cr_assert_eq(kiln_gen_emit_from(&s, mem_lookup, &fs, &src), KILN_ERR_INTERNAL);
    cr_assert_not_null(strstr(kiln_last_error(), "matmul.c:3: malformed"), "%s", kiln_last_error());

    mem_fs no_math = {broken + 3, 1, 0};
    broken[3].text = "int a;\n";
    cr_assert_eq(kiln_gen_emit_from(&s, mem_lookup, &no_math, &src), KILN_ERR_INTERNAL);
    cr_assert_not_null(strstr(kiln_last_error(), "gen/math/dialect_c.h"), "%s", kiln_last_error());

    kiln_spec bad = s;
    bad.tile.tk = 48; /* not a whole q8_0 block */
    cr_assert_eq(kiln_gen_emit(&bad, &src), KILN_ERR_INVALID_ARG);
    cr_assert_not_null(strstr(kiln_last_error(), "tk=48"), "%s", kiln_last_error());
    cr_assert_null(src.text);
}

/* ------------------------------------------------------------ the real shared math */

/* Entry points the test template gives each instance (KILN_ENTRY + suffix). */
static const char math_template_c[] =
    "#define CAT_(a, b) a##b\n"
    "#define CAT(a, b) CAT_(a, b)\n"
    "float CAT(KILN_ENTRY, _epilogue)(float acc, float up, float bias, float scale, float res);\n"
    "float CAT(KILN_ENTRY, _epilogue)(float acc, float up, float bias, float scale, float res)\n"
    "{ return kiln_epilogue(acc, up, bias, scale, res); }\n"
    "float CAT(KILN_ENTRY, _dequant)(const unsigned char *w, unsigned off, int i);\n"
    "float CAT(KILN_ENTRY, _dequant)(const unsigned char *w, unsigned off, int i)\n"
    "{ return kiln_dequant(w, off, i); }\n"
    "/* weighted mean of v under softmax(s), by the online update */\n"
    "float CAT(KILN_ENTRY, _softmax)(const float *s, const float *v, int n);\n"
    "float CAT(KILN_ENTRY, _softmax)(const float *s, const float *v, int n)\n"
    "{\n"
    "    float m = -INFINITY, l = 0.0f, acc = 0.0f;\n"
    "    for (int j = 0; j < n; j++) {\n"
    "        float m_new = kiln_softmax_max(m, s[j]);\n"
    "        float c = kiln_softmax_rescale(m, m_new), p = kiln_softmax_weight(s[j], m_new);\n"
    "        l = l * c + p;\n"
    "        acc = acc * c + p * v[j];\n"
    "        m = m_new;\n"
    "    }\n"
    "    return acc / l;\n"
    "}\n";

typedef float (*epilogue_fn)(float, float, float, float, float);
typedef float (*dequant_fn)(const unsigned char *, unsigned, int);
typedef float (*softmax_fn)(const float *, const float *, int);

static void *entry(void *lib, const char *name, const char *suffix)
{
    char sym[KILN_SPEC_NAME_MAX + 16];
    snprintf(sym, sizeof sym, "kiln_%s%s", name, suffix);
    void *f = dlsym(lib, sym);
    cr_assert_not_null(f, "%s missing: %s", sym, dlerror());
    return f;
}

static double silu(double x) { return x / (1.0 + exp(-x)); }
static double gelu_tanh(double x) { return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x))); }

static void check_epilogue(epilogue_fn f, unsigned epi, kt_rng *r)
{
    for (int k = 0; k < 64; k++) {
        float acc = (float)(4 * kt_gauss(r)), up = (float)(4 * kt_gauss(r)), bias = (float)kt_gauss(r),
              res = (float)kt_gauss(r), scale = (float)(2 * kt_gauss(r));
        if (k == 0) acc = -200.0f; /* silu's and gelu's far tail: exp overflows, result must be -0, not NaN */
        if (k == 1) acc = 200.0f;
        double y = acc, u = up;
        if (epi & KILN_EPI_BIAS) y += bias, u += bias;
        if (epi & KILN_EPI_SWIGLU) y = silu(y) * u;
        if (epi & KILN_EPI_GELU) y = gelu_tanh(y);
        if (epi & KILN_EPI_SCALE) y *= scale;
        if (epi & KILN_EPI_RESIDUAL) y += res;
        float got = f(acc, up, bias, scale, res);
        cr_assert(isfinite(got), "epilogue %u gave %g", epi, got);
        cr_assert(fabs(got - y) <= 1e-5 * (1.0 + fabs(y)), "epilogue %u: %.9g, want %.9g (seed %llu)", epi, got, y,
                  (unsigned long long)kt_seed());
    }
}

static void check_dequant(dequant_fn f, kiln_dtype t, kt_rng *r)
{
    const kiln_dtype_info *d = kiln_dtype_get(t);
    int n = 2 * d->block_elems + (d->block_elems == 1 ? 37 : 0); /* two blocks (or a ragged plain row) */
    float *x = kt_randn(r, (size_t)n, 0.0, 2.0);
    size_t bytes;
    unsigned char *w = kt_encode(t, x, 1, n, &bytes);
    float *want = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(kiln_dequantize_row(t, w, want, n), 0);
    for (int i = 0; i < n; i++) {
        unsigned blk = (unsigned)(i / d->block_elems) * (unsigned)d->block_bytes;
        float got = f(w, blk, i % d->block_elems);
        cr_assert(got == want[i] || (isnan(got) && isnan(want[i])), "%s element %d: %g, want %g", d->name, i, got,
                  want[i]);
    }
    free(x);
    free(w);
    free(want);
}

Test(gen, shared_math_through_the_generator_runs_right_in_c, .timeout = 120)
{
    if (!have_tool("cc")) cr_skip_test("no cc");
    char dir[64], path[512], names[KILN_DTYPE_COUNT][KILN_SPEC_NAME_MAX];
    make_tmpdir(dir, sizeof dir);
    mem_file tmpl = {"kernels/cpu/templates/matmul.c", math_template_c};
    mem_fs fs = {&tmpl, 1, 1};
    kiln_spec specs[KILN_DTYPE_COUNT];
    int n = 0;
    /* one instance per weight format; epilogues cycle so every combination is built */
    for (int t = 0; t < KILN_DTYPE_COUNT; t++) {
        if (!kiln_dtype_get((kiln_dtype)t)->is_weight_format) continue;
        kiln_spec s = kiln_spec_default(KILN_OP_MATMUL, KILN_BACKEND_CPU, KILN_ISA_GENERIC, (kiln_dtype)t);
        s.epilogue = (unsigned)(n % 32); /* every combination but swiglu with gelu (gen/epilogues.def) */
        if ((s.epilogue & KILN_EPI_SWIGLU) && (s.epilogue & KILN_EPI_GELU)) s.epilogue &= ~(unsigned)KILN_EPI_SWIGLU;
        kiln_source src;
        cr_assert_eq(kiln_gen_emit_from(&s, mem_lookup, &fs, &src), KILN_OK, "%s", kiln_last_error());
        kiln_spec_name(&s, names[n], KILN_SPEC_NAME_MAX);
        snprintf(path, sizeof path, "%s/%s.c", dir, names[n]);
        write_text(path, src.text, src.len);
        kiln_source_free(&src);
        specs[n++] = s;
    }
    cr_assert(n >= 8, "only %d weight formats", n);
    cr_assert_eq(run(dir, "cc -std=c11 -O1 -Wall -Wextra -Werror -shared -fPIC -o math.so *.c -lm"), 0);
    snprintf(path, sizeof path, "%s/math.so", dir);
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(lib, "%s", dlerror());
    kt_rng r = kt_rng_make(0x67656e);
    for (int i = 0; i < n; i++) {
        check_epilogue((epilogue_fn)entry(lib, names[i], "_epilogue"), specs[i].epilogue, &r);
        check_dequant((dequant_fn)entry(lib, names[i], "_dequant"), specs[i].fmt, &r);
    }
    /* online softmax against the two-pass one, on awkward lengths */
    softmax_fn sm = (softmax_fn)entry(lib, names[0], "_softmax");
    static const int lens[] = {1, 2, 7, 33, 1000};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        int len = lens[k];
        float *s = kt_randn(&r, (size_t)len, 0.0, 8.0), *v = kt_randn(&r, (size_t)len, 0.0, 1.0);
        double mx = -INFINITY, l = 0, acc = 0;
        for (int j = 0; j < len; j++) mx = fmax(mx, s[j]);
        for (int j = 0; j < len; j++) l += exp(s[j] - mx), acc += exp(s[j] - mx) * v[j];
        double want = acc / l, got = sm(s, v, len);
        cr_assert(fabs(got - want) <= 1e-5 * (1.0 + fabs(want)), "softmax n=%d: %.9g, want %.9g", len, got, want);
        free(s);
        free(v);
    }
    dlclose(lib);
    remove_tmpdir(dir);
}

/* The same math must also be valid GLSL and CUDA: compiled, not run. */
/* GLSL: dequant.h reads the global buffer w, so the template declares it and
 * then includes the shared math itself (the emitter then does not put it first). */
static const char math_template_glsl[] =
    "layout(local_size_x = KILN_THREADS) in;\n"
    "layout(std430, binding = 0) readonly buffer W8 { uint8_t w_u8[]; };\n"
    "layout(std430, binding = 0) readonly buffer W16 { uint16_t w_u16[]; };\n"
    "layout(std430, binding = 0) readonly buffer W32 { uint w_u32[]; };\n"
    "layout(std430, binding = 1) buffer Y { float y[]; };\n"
    "#pragma kiln include \"gen/math/dequant.h\"\n"
    "void main() {\n"
    "    uint i = gl_GlobalInvocationID.x;\n"
    "    float m = kiln_softmax_max(-1.0f, y[i]);\n"
    "    float p = kiln_softmax_weight(y[i], m) * kiln_softmax_rescale(-1.0f, m);\n"
    "    y[i] = kiln_epilogue(kiln_dequant(0u, int(i % uint(KILN_FMT_BLOCK))), y[i + 1u], p, 2.0f, 0.5f);\n"
    "}\n";

static const char math_template_cuda[] =
    "extern \"C\" __global__ void KILN_ENTRY(const kiln_u8 *w, float *y) {\n"
    "    unsigned i = threadIdx.x;\n"
    "    float m = kiln_softmax_max(-1.0f, y[i]);\n"
    "    float p = kiln_softmax_weight(y[i], m) * kiln_softmax_rescale(-1.0f, m);\n"
    "    y[i] = kiln_epilogue(kiln_dequant(w, 0u, (int)(i % KILN_FMT_BLOCK)), y[i + 1], p, 2.0f, 0.5f);\n"
    "}\n";

static void compile_gpu_math(kiln_backend be, const char *tool, const char *tmpl_path, const char *tmpl,
                             const char *cmd_fmt)
{
    if (!have_tool(tool)) cr_skip_test("no %s", tool);
    char dir[64], path[512], cmd[1024];
    make_tmpdir(dir, sizeof dir);
    /* The test template declares its own buffers: the Vulkan templates' shared
     * header, if the dialect pulls it in, is replaced by an empty one. */
    mem_file files[] = {{tmpl_path, tmpl}, {"kernels/vulkan/templates/io.glsl", "/* io.glsl stub */\n"}};
    mem_fs fs = {files, 2, 1};
    static const kiln_dtype fmts[] = {KILN_Q4_0, KILN_Q4_K, KILN_F16};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        kiln_spec s = kiln_spec_default(KILN_OP_MATMUL, be, KILN_ISA_NONE, fmts[i]);
        s.epilogue = i == 1 ? KILN_EPI_BIAS | KILN_EPI_GELU | KILN_EPI_SCALE | KILN_EPI_RESIDUAL
                            : KILN_EPI_BIAS | KILN_EPI_SWIGLU | (i ? KILN_EPI_RESIDUAL | KILN_EPI_SCALE : 0);
        kiln_source src;
        cr_assert_eq(kiln_gen_emit_from(&s, mem_lookup, &fs, &src), KILN_OK, "%s", kiln_last_error());
        snprintf(path, sizeof path, "%s/k%zu.%s", dir, i, kiln_gen_source_ext(be));
        write_text(path, src.text, src.len);
        kiln_source_free(&src);
        snprintf(cmd, sizeof cmd, cmd_fmt, i, i);
        cr_assert_eq(run(dir, cmd), 0, "%s rejected the shared math (k%zu)", tool, i);
    }
    remove_tmpdir(dir);
}

Test(gen, shared_math_compiles_as_glsl, .timeout = 60)
{
    compile_gpu_math(KILN_BACKEND_VULKAN, "glslc", "kernels/vulkan/templates/matmul.comp", math_template_glsl,
                     "glslc -fshader-stage=compute --target-env=vulkan1.2 -o k%zu.spv k%zu.comp");
}

Test(gen, shared_math_compiles_as_cuda, .timeout = 120)
{
    compile_gpu_math(KILN_BACKEND_CUDA, "nvcc", "kernels/cuda/templates/matmul.cu", math_template_cuda,
                     "nvcc -ptx -arch=sm_80 -o k%zu.ptx k%zu.cu");
}

/* ------------------------------------------------------------ the manifest */

Test(gen, every_manifest_instance_emits_with_its_spec)
{
    size_t n = kiln_manifest_count();
    for (size_t i = 0; i < n; i++) {
        const kiln_spec *s = kiln_manifest_get(i);
        char text[KILN_SPEC_TEXT_MAX], name[KILN_SPEC_NAME_MAX], want[KILN_SPEC_TEXT_MAX + 16];
        kiln_spec_to_text(s, text, sizeof text);
        kiln_spec_name(s, name, sizeof name);
        kiln_source src;
        cr_assert_eq(kiln_gen_emit(s, &src), KILN_OK, "%s: %s", text, kiln_last_error());
        const char *head = src.text;
        if (s->backend == KILN_BACKEND_VULKAN) {
            cr_assert(!strncmp(head, "#version 450\n", 13), "%s: GLSL must start with #version", name);
            head += 13;
        }
        cr_assert(!strncmp(head, "/* Generated by kiln-gen", 24), "%s starts with: %.40s", name, src.text);
        snprintf(want, sizeof want, " * spec: %s\n", text);
        cr_assert_not_null(strstr(src.text, want), "%s: no spec line", name);
        cr_assert_eq(strncmp(src.entry, "kiln_", 5), 0);
        cr_assert_str_eq(src.entry + 5, name);
        cr_assert_not(has_kiln_pragma(src.text), "%s: unresolved kiln pragma", name);
        cr_assert(src.threads[0] >= 1 && src.threads[1] >= 1 && src.threads[2] >= 1, "%s: launch size", name);
        kiln_source_free(&src);
    }
}

/* Flags a cpu instance of an ISA needs on the cc command line. */
static const char *isa_flags(kiln_isa isa)
{
    switch (isa) {
    case KILN_ISA_AVX2: return "-mavx2 -mfma -mf16c";
    case KILN_ISA_AVX512: return "-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx2 -mfma -mf16c";
    default: return "";
    }
}

/* Every cpu instance compiles as a standalone C file: one cc per ISA. */
Test(gen, cpu_manifest_instances_compile_with_cc, .timeout = 300)
{
    if (!have_tool("cc")) cr_skip_test("no cc");
    char dir[64], path[600], cmd[1024];
    make_tmpdir(dir, sizeof dir);
    int total = 0;
    for (int isa = KILN_ISA_GENERIC; isa < KILN_ISA_COUNT; isa++) {
        int count = 0;
        for (size_t i = 0, n = kiln_manifest_count(); i < n; i++) {
            const kiln_spec *s = kiln_manifest_get(i);
            if (s->backend != KILN_BACKEND_CPU || (int)s->isa != isa) continue;
            char name[KILN_SPEC_NAME_MAX];
            kiln_spec_name(s, name, sizeof name);
            kiln_source src;
            cr_assert_eq(kiln_gen_emit(s, &src), KILN_OK, "%s: %s", name, kiln_last_error());
            snprintf(path, sizeof path, "%s/%s.c", dir, name);
            write_text(path, src.text, src.len);
            kiln_source_free(&src);
            count++;
        }
        if (!count) continue;
        snprintf(cmd, sizeof cmd, "cc -c -O0 %s *_cpu_%s_*.c", isa_flags((kiln_isa)isa), kiln_isa_name((kiln_isa)isa));
        cr_assert_eq(run(dir, cmd), 0, "cpu %s instances do not compile", kiln_isa_name((kiln_isa)isa));
        total += count;
    }
    if (!total) cr_log_warn("the manifest has no cpu instances yet");
    remove_tmpdir(dir);
}

/* ------------------------------------------------------------ kiln-gen */

static const char *kiln_gen_path(void)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/bin/kiln-gen", KILN_BINARY_DIR);
    if (access(path, X_OK)) cr_skip_test("%s is not built", path);
    return path;
}

/* Exit code of kiln-gen with args; its stdout (up to cap) into out. */
static int kiln_gen(const char *args, char *out, size_t cap)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", kiln_gen_path(), args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    while (fgetc(p) != EOF) {}
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(gen, kiln_gen_spec_list_and_exit_codes, .timeout = 60)
{
    static char out[1 << 20];
    cr_assert_eq(kiln_gen("--help", out, sizeof out), 0);
    cr_assert_not_null(strstr(out, "usage: kiln-gen"));
    cr_assert_eq(kiln_gen("", out, sizeof out), 2);
    cr_assert_eq(kiln_gen("--bogus", out, sizeof out), 2);
    cr_assert_eq(kiln_gen("--spec", out, sizeof out), 2);
    cr_assert_eq(kiln_gen("--emit-dir /tmp/x", out, sizeof out), 2, "--emit-dir needs --backend");
    cr_assert_eq(kiln_gen("--list --backend metal", out, sizeof out), 2);
    cr_assert_eq(kiln_gen("--list --spec 'norm backend=cuda'", out, sizeof out), 2);
    cr_assert_eq(kiln_gen("--spec 'matmul backend=cuda fmt=q4_0 tk=7'", out, sizeof out), 1);

    cr_assert_eq(kiln_gen("--spec 'tm=4 tn=64 tk=256 threads=128 stages=2 vec=16 split=1 matmul backend=cuda "
                          "fmt=q4_0 epi=residual+bias'",
                          out, sizeof out),
                 0);
    cr_assert_not_null(strstr(out, "spec:    matmul backend=cuda fmt=q4_0 epi=bias+residual tm=4"), "%s", out);
    cr_assert_not_null(strstr(out, "name:    matmul_cuda_q4_0_f32_f32_bias_residual_tm4_tn64_tk256_t128_s2_v16_k1"));
    cr_assert_not_null(strstr(out, "hash:    0x17904a36498183ea"), "%s", out);
    cr_assert_not_null(strstr(out, "threads: "));

    /* --list prints every manifest instance, once, with its name */
    cr_assert_eq(kiln_gen("--list", out, sizeof out), 0);
    size_t lines = count_of(out, "\n");
    cr_assert_eq(lines, kiln_manifest_count(), "%zu lines for %zu instances", lines, kiln_manifest_count());
    for (size_t i = 0; i < kiln_manifest_count(); i++) {
        char text[KILN_SPEC_TEXT_MAX], name[KILN_SPEC_NAME_MAX], line[KILN_SPEC_TEXT_MAX + KILN_SPEC_NAME_MAX + 8];
        kiln_spec_to_text(kiln_manifest_get(i), text, sizeof text);
        kiln_spec_name(kiln_manifest_get(i), name, sizeof name);
        snprintf(line, sizeof line, "%s  # %s\n", text, name);
        cr_assert_not_null(strstr(out, line), "--list lacks %s", line);
    }
    if (kiln_manifest_count()) {
        char text[KILN_SPEC_TEXT_MAX], args[KILN_SPEC_TEXT_MAX + 32];
        kiln_spec_to_text(kiln_manifest_get(0), text, sizeof text);
        snprintf(args, sizeof args, "--spec '%s' --emit", text);
        cr_assert_eq(kiln_gen(args, out, sizeof out), 0);
        kiln_source src;
        cr_assert_eq(kiln_gen_emit(kiln_manifest_get(0), &src), KILN_OK, "%s", kiln_last_error());
        cr_assert_str_eq(out, src.text, "--emit prints what kiln_gen_emit gives");
        /* -o writes the same to a file */
        char dir[64], file[128], oargs[KILN_SPEC_TEXT_MAX + 160];
        make_tmpdir(dir, sizeof dir);
        snprintf(file, sizeof file, "%s/k.src", dir);
        snprintf(oargs, sizeof oargs, "--spec '%s' -o '%s'", text, file);
        cr_assert_eq(kiln_gen(oargs, out, sizeof out), 0);
        cr_assert_str_eq(out, "", "-o alone prints nothing");
        size_t len = 0;
        char *written = kt_read_file(file, &len);
        cr_assert(written && len == src.len && !memcmp(written, src.text, len), "-o file differs");
        free(written);
        kiln_source_free(&src);
        remove_tmpdir(dir);
    }
}

/* ------------------------------------------------------------ defaults of a spec text */

/* text without its tile fields, and with backend=cpu-ISA made plain backend=cpu when plain_cpu. */
static void strip_tiles(const char *text, char *out, size_t cap, int plain_cpu)
{
    static const char *const tile_keys[] = {"tm=", "tn=", "tk=", "threads=", "stages=", "vec=", "split="};
    char buf[KILN_SPEC_TEXT_MAX];
    snprintf(buf, sizeof buf, "%s", text);
    out[0] = '\0';
    char *save = NULL;
    for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        int tile = 0;
        for (size_t k = 0; k < sizeof tile_keys / sizeof tile_keys[0]; k++)
            tile |= !strncmp(w, tile_keys[k], strlen(tile_keys[k]));
        if (tile) continue;
        if (plain_cpu && !strncmp(w, "backend=cpu-", 12)) w[11] = '\0';
        strncat(out, out[0] ? " " : "", cap - strlen(out) - 1);
        strncat(out, w, cap - strlen(out) - 1);
    }
}

/* A text without tile fields gets the tiles of the backend's heuristic, from
 * which the manifest builds its instances: the README's own command names the
 * decode kernel the cuda backend runs, and every gpu instance the heuristic
 * made (all attention, norm and rope instances; the matmul decode ones, tn=1
 * stages=1) comes back whole from its text without tiles. */
Test(gen, spec_without_tiles_gets_the_heuristic_tiles)
{
    kiln_spec s = spec_of("matmul backend=cuda fmt=q4_0 act=f32");
    kiln_spec want = kiln_cuda_matmul_spec(KILN_Q4_0, KILN_F32, KILN_F32, 0, 1);
    cr_assert(kiln_spec_equal(&s, &want), "the README's spec did not get the cuda decode tiles");
    int whole = 0;
    for (size_t i = 0, n = kiln_manifest_count(); i < n; i++) {
        const kiln_spec *m = kiln_manifest_get(i);
        if (m->backend == KILN_BACKEND_CPU) continue;
        char text[KILN_SPEC_TEXT_MAX], bare[KILN_SPEC_TEXT_MAX];
        kiln_spec_to_text(m, text, sizeof text);
        strip_tiles(text, bare, sizeof bare, 0);
        kiln_spec p;
        cr_assert_eq(kiln_spec_parse(bare, &p), KILN_OK, "'%s': %s", bare, kiln_last_error());
        kiln_spec same = p;
        same.tile = m->tile;
        cr_assert(kiln_spec_equal(&same, m), "'%s' changed more than the tiles of '%s'", bare, text);
        if (m->op != KILN_OP_MATMUL || (m->tile.tn == 1 && m->tile.stages == 1)) {
            char got[KILN_SPEC_TEXT_MAX];
            kiln_spec_to_text(&p, got, sizeof got);
            cr_expect(kiln_spec_equal(&p, m), "'%s' gave '%s', the manifest's heuristic instance is '%s'", bare, got,
                      text);
            whole++;
        }
    }
    cr_assert(whole > 20, "only %d gpu instances checked", whole);
    /* some tile fields given: the others stay 0 and validation names them */
    kiln_spec bad;
    cr_assert_eq(kiln_spec_parse("matmul backend=cuda fmt=q4_0 tm=4", &bad), KILN_ERR_INVALID_ARG);
    cr_assert(strstr(kiln_last_error(), "tn=0"), "%s", kiln_last_error());
}

/* Plain backend=cpu means the best ISA this build has kernels for (avx512 on
 * x86-64: the bundle compiles all three), and without tiles a kernel the cpu
 * bundle has: the default instance of its op, ISA and format. */
Test(gen, plain_cpu_backend_is_the_builds_best_isa)
{
#if defined(__x86_64__)
    kiln_isa best = KILN_ISA_AVX512;
#else
    kiln_isa best = KILN_ISA_GENERIC;
#endif
    int checked = 0;
    for (size_t i = 0, n = kiln_manifest_count(); i < n; i++) {
        const kiln_spec *m = kiln_manifest_get(i);
        if (m->backend != KILN_BACKEND_CPU || m->isa != best) continue;
        kiln_spec dflt = kiln_spec_default(m->op, KILN_BACKEND_CPU, best, m->fmt);
        if (memcmp(&dflt.tile, &m->tile, sizeof dflt.tile)) continue; /* a tuner variant */
        char text[KILN_SPEC_TEXT_MAX], bare[KILN_SPEC_TEXT_MAX];
        kiln_spec_to_text(m, text, sizeof text);
        strip_tiles(text, bare, sizeof bare, 1);
        cr_assert(strstr(bare, "backend=cpu") && !strstr(bare, "backend=cpu-"), "%s", bare);
        kiln_spec p;
        cr_assert_eq(kiln_spec_parse(bare, &p), KILN_OK, "'%s': %s", bare, kiln_last_error());
        cr_expect(kiln_spec_equal(&p, m), "'%s' is not the bundle's '%s'", bare, text);
        checked++;
    }
    cr_assert(checked > 10, "only %d cpu instances checked", checked);
    /* a C struct still has to name its ISA */
    kiln_spec s = kiln_spec_default(KILN_OP_NORM, KILN_BACKEND_CPU, KILN_ISA_GENERIC, KILN_F32);
    s.isa = KILN_ISA_NONE;
    cr_assert_eq(kiln_spec_validate(&s), KILN_ERR_INVALID_ARG);
    cr_assert(strstr(kiln_last_error(), "backend=cpu needs an isa"), "%s", kiln_last_error());
}

/* kiln-gen --sass: usage errors without a compiler; with NVRTC, the figure
 * line of a spec (tests/test_cuda_static.c checks the figures themselves). */
Test(gen, kiln_gen_sass_usage_and_output, .timeout = 120)
{
    static char out[1 << 20];
    cr_assert_eq(kiln_gen("--sass", out, sizeof out), 2, "--sass alone");
    cr_assert_eq(kiln_gen("--list --sass", out, sizeof out), 2, "--list --sass needs --backend cuda");
    cr_assert_eq(kiln_gen("--list --backend cpu --sass", out, sizeof out), 2);
    cr_assert_eq(kiln_gen("--spec 'norm backend=cuda' --sass --arch 90", out, sizeof out), 2, "bad --arch");
    cr_assert_eq(kiln_gen("--spec 'norm backend=cuda' --sass --arch 'sm_90 -x'", out, sizeof out), 2);
    cr_assert_eq(kiln_gen("--spec 'norm backend=cuda' --arch sm_90", out, sizeof out), 2, "--arch without --sass");
    cr_assert_eq(kiln_gen("--spec 'norm backend=cuda' --sass -o /tmp/x", out, sizeof out), 2);
    cr_assert_eq(kiln_gen("--spec 'norm backend=vulkan' --sass", out, sizeof out), 1, "--sass is for cuda");
    cr_assert_eq(kiln_gen("--help", out, sizeof out), 0);
    cr_assert(strstr(out, "--sass") && strstr(out, "--arch"), "--help lacks --sass / --arch");
    if (!kiln_nvrtc()) cr_skip_test("NVRTC not available: the rest needs it");
    int rc = kiln_gen("--spec 'norm backend=cuda' --sass --arch sm_80", out, sizeof out);
    cr_assert(strstr(out, "== kiln_norm_cuda_f32_f32_f32_t256_v16 for sm_80"), "%s", out);
    cr_assert(strstr(out, "\nsm_80 kiln_norm_cuda_f32_f32_f32_t256_v16 regs="), "%s", out);
    cr_assert(strstr(out, " spill=0 "), "%s", out);
    if (rc == 0) cr_assert(strstr(out, ".text.kiln_norm_cuda_f32_f32_f32_t256_v16"), "no SASS printed:\n%s", out);
    else cr_assert(strstr(out, "sass=?"), "exit %d without the nvdisasm notice", rc);
}

/* --emit-dir for each backend: the sources and a header an engine can use
 * without kiln. The header is compiled and its table walked by a program; the
 * cpu sources are compiled too. */
Test(gen, kiln_gen_emit_dir_output_compiles_standalone, .timeout = 300)
{
    if (!have_tool("cc")) cr_skip_test("no cc");
    static const char main_c[] =
        "#include <stdio.h>\n#include <string.h>\n#include \"kiln_kernels.h\"\n"
        "int main(void) {\n"
        "    int n = 0;\n"
        "    for (const kiln_vendored_kernel *k = KERNELS; k->spec; k++, n++) {\n"
        "        FILE *f = fopen(k->file, \"r\");\n"
        "        if (!f || strncmp(k->entry, \"kiln_\", 5) || strcmp(k->entry + 5, k->name) || !k->threads[0])\n"
        "            return 1;\n"
        "        fclose(f);\n"
        "    }\n"
        "    return n == COUNT ? 0 : 2;\n"
        "}\n";
    static const struct { const char *backend, *table, *count; } backends[] = {
        {"cpu", "kiln_cpu_kernels", "KILN_CPU_KERNEL_COUNT"},
        {"cuda", "kiln_cuda_kernels", "KILN_CUDA_KERNEL_COUNT"},
        {"vulkan", "kiln_vulkan_kernels", "KILN_VULKAN_KERNEL_COUNT"},
    };
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        char dir[64], args[256], out[4096], cmd[1024], path[600];
        make_tmpdir(dir, sizeof dir);
        snprintf(args, sizeof args, "--emit-dir '%s/out' --backend %s", dir, backends[b].backend);
        cr_assert_eq(kiln_gen(args, out, sizeof out), 0, "kiln-gen %s failed", args);
        snprintf(path, sizeof path, "%s/out/main.c", dir);
        write_text(path, main_c, strlen(main_c));
        snprintf(cmd, sizeof cmd, "cd out && cc -std=c11 -Wall -Wextra -Werror -DKERNELS=%s -DCOUNT=%s main.c -o main && ./main",
                 backends[b].table, backends[b].count);
        cr_assert_eq(run(dir, cmd), 0, "kiln_kernels.h of %s does not compile or lies", backends[b].backend);
        /* every file is exactly what kiln_gen_emit gives (whose cpu output the
         * test above compiles); one cpu file per ISA is compiled here as well */
        for (size_t i = 0, n = kiln_manifest_count(); i < n; i++) {
            const kiln_spec *s = kiln_manifest_get(i);
            if (strcmp(kiln_backend_name(s->backend), backends[b].backend)) continue;
            char name[KILN_SPEC_NAME_MAX];
            kiln_spec_name(s, name, sizeof name);
            snprintf(path, sizeof path, "%s/out/%s.%s", dir, name, kiln_gen_source_ext(s->backend));
            kiln_source src;
            cr_assert_eq(kiln_gen_emit(s, &src), KILN_OK, "%s", kiln_last_error());
            size_t len = 0;
            char *file = kt_read_file(path, &len);
            cr_assert(file && len == src.len && !memcmp(file, src.text, len), "%s differs from kiln_gen_emit", path);
            free(file);
            kiln_source_free(&src);
        }
        if (!strcmp(backends[b].backend, "cpu")) {
            snprintf(cmd, sizeof cmd,
                     "cd out && for isa in generic avx2 avx512; do "
                     "f=$(ls *_cpu_${isa}_*.c 2>/dev/null | head -n 1); [ -n \"$f\" ] || continue; "
                     "case $isa in avx512) fl='%s';; avx2) fl='%s';; *) fl='';; esac; "
                     "cc -c -O0 $fl \"$f\" || exit 1; done",
                     isa_flags(KILN_ISA_AVX512), isa_flags(KILN_ISA_AVX2));
            cr_assert_eq(run(dir, cmd), 0, "vendored cpu sources do not compile");
            /* the header's prototypes agree with the definitions */
            snprintf(cmd, sizeof cmd,
                     "cd out && f=$(ls *_cpu_generic_*.c | head -n 1) && "
                     "printf '#include \"kiln_kernels.h\"\\n#include \"%%s\"\\n' \"$f\" > both.c && cc -c -O0 both.c");
            if (kiln_manifest_count()) cr_assert_eq(run(dir, cmd), 0, "kiln_kernels.h prototypes disagree");
        }
        remove_tmpdir(dir);
    }
}
