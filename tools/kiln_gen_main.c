/* tools/kiln_gen_main.c — kiln-gen, the generator's command line.
 *
 *   kiln-gen --spec TEXT [--emit] [-o FILE]   describe (and emit) one spec
 *   kiln-gen --spec TEXT --sass [--arch A]    a cuda spec's ptxas figures and SASS
 *   kiln-gen --list [--backend B] [--sass]    the manifest (with cuda: its figures)
 *   kiln-gen --emit-dir DIR --backend B       vendorable sources + DIR/kiln_kernels.h
 *   kiln-gen --cpu-bundle DIR                 the CPU kernels compiled into libkiln
 *
 * Exit codes: 0 success, 1 failure (the reason from kiln_last_error()),
 * 2 bad usage. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gen/bundle.h"
#include "tools/kiln_gen_sass.h"
#include "gen/embedded.h"
#include "gen/emit.h"
#include "gen/spec_fields.h"
#include "kiln/kernel.h"

static const char usage_text[] =
    "usage: kiln-gen --spec TEXT [--emit] [-o FILE]\n"
    "       kiln-gen --spec TEXT --sass [--arch sm_XY]\n"
    "       kiln-gen --list [--backend cpu|cuda|vulkan]\n"
    "       kiln-gen --list --backend cuda --sass\n"
    "       kiln-gen --emit-dir DIR --backend cpu|cuda|vulkan\n"
    "       kiln-gen --cpu-bundle DIR\n"
    "       kiln-gen --help\n"
    "\n"
    "  --spec TEXT     parse a kernel spec, print its canonical text, name, hash and\n"
    "                  launch description, e.g.\n"
    "                  --spec 'matmul backend=cuda fmt=q4_0 tm=4 tn=8 tk=256 threads=128 stages=1 vec=16 split=1'\n"
    "                  A spec without tile fields (tm tn tk threads stages vec split)\n"
    "                  gets the backend's heuristic tiles (matmul: those of a decode\n"
    "                  call, n = 1); backend=cpu means the best ISA of this build.\n"
    "  --emit          with --spec: print the generated source instead\n"
    "  -o FILE         with --spec: write the generated source to FILE\n"
    "  --sass          with a cuda --spec: compile it as the backend does (NVRTC) for\n"
    "                  sm_80 and sm_90 and print, per architecture, one line per\n"
    "                  function (registers, stack, spill bytes, static shared memory,\n"
    "                  key instructions + present / - absent) and the SASS (nvdisasm:\n"
    "                  $KILN_NVDISASM, build/venv from make deps, or PATH).\n"
    "                  With --list --backend cuda: those lines for every instance,\n"
    "                  the table tests/data/cuda_static.txt. Exit 1 without NVRTC or\n"
    "                  nvdisasm (the figures still print when only nvdisasm is missing)\n"
    "  --arch sm_XY    with --spec --sass: that architecture only\n"
    "  --list          print the manifest: one canonical spec per line, then its name\n"
    "  --backend B     restrict --list to backend B; required by --emit-dir\n"
    "  --emit-dir DIR  write every manifest instance of --backend as DIR/<name>.<ext>\n"
    "                  plus DIR/kiln_kernels.h listing entry points and launch sizes\n"
    "  --cpu-bundle D  write the CPU kernel bundle compiled into libkiln to D\n";

typedef struct options {
    const char *spec, *out_file, *emit_dir, *bundle_dir, *arch;
    int emit, list, help, sass;
    int backend; /* -1 = all */
} options;

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "kiln-gen: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(kiln-gen --help for usage)\n");
    return 2;
}

static int fail(const char *what)
{
    fprintf(stderr, "kiln-gen: %s: %s\n", what, kiln_last_error());
    return 1;
}

static int parse_backend(const char *name)
{
    for (int b = 0; b < KILN_BACKEND_COUNT; b++)
        if (!strcmp(name, kiln_gen_backend_name((kiln_backend)b))) return b;
    return -1;
}

/* 0 on success, else the exit code of a usage error. */
static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->backend = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **value = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) o->help = 1;
        else if (!strcmp(a, "--emit")) o->emit = 1;
        else if (!strcmp(a, "--list")) o->list = 1;
        else if (!strcmp(a, "--sass")) o->sass = 1;
        else if (!strcmp(a, "--arch")) value = &o->arch;
        else if (!strcmp(a, "--spec")) value = &o->spec;
        else if (!strcmp(a, "-o")) value = &o->out_file;
        else if (!strcmp(a, "--emit-dir")) value = &o->emit_dir;
        else if (!strcmp(a, "--cpu-bundle")) value = &o->bundle_dir;
        else if (!strcmp(a, "--backend")) {
            if (i + 1 == argc) return usage_error("%s needs a value", a);
            if ((o->backend = parse_backend(argv[++i])) < 0)
                return usage_error("unknown backend '%s' (cpu, cuda or vulkan)", argv[i]);
        } else
            return usage_error("unknown argument '%s'", a);
        if (value) {
            if (i + 1 == argc) return usage_error("%s needs a value", a);
            if (*value) return usage_error("%s given twice", a);
            *value = argv[++i];
        }
    }
    int modes = !!o->spec + o->list + !!o->emit_dir + !!o->bundle_dir;
    if (o->help) return 0;
    if (modes != 1) return usage_error("%s", "give exactly one of --spec, --list, --emit-dir, --cpu-bundle");
    if ((o->emit || o->out_file) && !o->spec) return usage_error("%s", "--emit and -o go with --spec");
    if (o->emit_dir && o->backend < 0) return usage_error("%s", "--emit-dir needs --backend");
    if (o->backend >= 0 && !o->list && !o->emit_dir) return usage_error("%s", "--backend goes with --list or --emit-dir");
    if (o->sass && o->list && o->backend != KILN_BACKEND_CUDA) return usage_error("%s", "--list --sass needs --backend cuda");
    if (o->sass && !o->spec && !o->list) return usage_error("%s", "--sass goes with --spec or --list");
    if (o->sass && o->out_file) return usage_error("%s", "--sass prints to stdout: no -o");
    if (o->arch && !(o->sass && o->spec)) return usage_error("%s", "--arch goes with --spec --sass");
    if (o->arch && !kiln_gen_arch_ok(o->arch)) return usage_error("--arch '%s': expected sm_XY (e.g. sm_90)", o->arch);
    return 0;
}

static int write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "kiln-gen: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    int bad = fwrite(text, 1, len, f) != len;
    bad |= fclose(f) != 0;
    if (bad) fprintf(stderr, "kiln-gen: writing %s failed: %s\n", path, strerror(errno));
    return bad;
}

/* ------------------------------------------------------------ --spec */

static int cmd_spec(const options *o)
{
    kiln_spec s;
    if (kiln_spec_parse(o->spec, &s)) return fail("bad spec");
    char text[KILN_SPEC_TEXT_MAX], name[KILN_SPEC_NAME_MAX];
    kiln_spec_to_text(&s, text, sizeof text);
    kiln_spec_name(&s, name, sizeof name);
    if (o->sass) return kiln_gen_sass_spec(&s, o->arch);
    if (!o->emit && !o->out_file) {
        kiln_source launch;
        memset(&launch, 0, sizeof launch);
        kiln_gen_launch(&s, &launch);
        printf("spec:    %s\nname:    %s\nhash:    0x%016" PRIx64 "\nentry:   kiln_%s\n", text, name,
               kiln_spec_hash(&s), name);
        printf("threads: %d %d %d\nshared:  %u bytes\n", launch.threads[0], launch.threads[1], launch.threads[2],
               launch.shared_bytes);
        return 0;
    }
    kiln_source src;
    if (kiln_gen_emit(&s, &src)) return fail(text);
    int rc = 0;
    if (o->out_file) rc = write_file(o->out_file, src.text, src.len);
    if (o->emit) fwrite(src.text, 1, src.len, stdout);
    kiln_source_free(&src);
    return rc;
}

/* ------------------------------------------------------------ --list */

static int cmd_list(const options *o)
{
    for (size_t i = 0, n = kiln_manifest_count(); i < n; i++) {
        const kiln_spec *s = kiln_manifest_get(i);
        if (o->backend >= 0 && (int)s->backend != o->backend) continue;
        char text[KILN_SPEC_TEXT_MAX], name[KILN_SPEC_NAME_MAX];
        if (kiln_spec_to_text(s, text, sizeof text) < 0 || kiln_spec_name(s, name, sizeof name) < 0) {
            fprintf(stderr, "kiln-gen: manifest entry %zu has no text form\n", i);
            return 1;
        }
        printf("%s  # %s\n", text, name);
    }
    return 0;
}

/* ------------------------------------------------------------ --emit-dir */

static void header_open(FILE *h, const char *backend)
{
    fprintf(h,
            "/* Generated by kiln-gen %s -- do not edit.\n"
            " * The %s kernels of the kiln manifest, one standalone source file each next\n"
            " * to this header, for engines that vendor kernels without linking kiln.\n"
            " * Each entry names the file, its entry point (the kernel symbol / function)\n"
            " * and how to launch it: threads per block (workgroup size) and dynamic shared\n"
            " * memory. The spec text says what the kernel computes (docs/GENERATOR.md).\n"
            " * Below: the parameter structs the kernels take (cpu, cuda) and the\n"
            " * prototypes of the cpu entry points. */\n"
            "#ifndef KILN_VENDORED_KERNEL_DEFINED\n"
            "#define KILN_VENDORED_KERNEL_DEFINED\n"
            "typedef struct kiln_vendored_kernel {\n"
            "    const char *spec;          /* canonical spec text */\n"
            "    const char *name;          /* procedural name */\n"
            "    const char *file;          /* source file, relative to this header */\n"
            "    const char *entry;         /* kernel symbol / function name */\n"
            "    const char *lang;          /* \"c\", \"cuda\" or \"glsl\" */\n"
            "    unsigned threads[3];       /* block / workgroup size */\n"
            "    unsigned shared_bytes;     /* dynamic shared memory (cuda), else 0 */\n"
            "    unsigned long long hash;   /* FNV-1a 64 of the spec text (kiln_spec_hash) */\n"
            "} kiln_vendored_kernel;\n"
            "#endif\n\n",
            KILN_VERSION_STRING, backend);
}

/* What a host needs besides the table: the backend's parameter structs (the
 * file its templates share with kiln's host code), and for cpu the entry
 * points' prototypes (the signature kernels/cpu/templates/cpu_abi.h fixes). */
static const struct {
    const char *abi_file;
    const char *params; /* parameter list of the entry points; NULL: none (GPU kernels are loaded, not linked) */
} host_side[KILN_BACKEND_COUNT] = {
    [KILN_BACKEND_CPU] = {"kernels/cpu/templates/cpu_abi.h", "(const void *args, int phase, int task, int ntasks)"},
    [KILN_BACKEND_CUDA] = {"kernels/cuda/templates/cuda_args.h", NULL},
    [KILN_BACKEND_VULKAN] = {NULL, NULL},
};

static void header_host_side(FILE *h, kiln_backend b)
{
    const kiln_embedded_file *abi = host_side[b].abi_file ? kiln_embedded_find(host_side[b].abi_file) : NULL;
    if (!abi) return;
    fprintf(h, "/* ---- %s: the kernels' parameter structs ---- */\n", abi->path);
    fwrite(abi->text, 1, abi->len, h);
    fprintf(h, "\n");
}

static int cmd_emit_dir(const options *o)
{
    const char *backend = kiln_gen_backend_name((kiln_backend)o->backend);
    if (mkdir(o->emit_dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "kiln-gen: cannot create %s: %s\n", o->emit_dir, strerror(errno));
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/kiln_kernels.h", o->emit_dir);
    FILE *h = fopen(path, "w");
    if (!h) {
        fprintf(stderr, "kiln-gen: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    header_open(h, backend);
    char guard[16] = ""; /* "CPU": include guard and count macro */
    for (size_t i = 0; backend[i] && i + 1 < sizeof guard; i++) guard[i] = (char)toupper((unsigned char)backend[i]);
    fprintf(h, "#ifndef KILN_%s_KERNELS_H\n#define KILN_%s_KERNELS_H\n", guard, guard);
    header_host_side(h, (kiln_backend)o->backend);
    fprintf(h, "static const kiln_vendored_kernel kiln_%s_kernels[] = {\n", backend);
    int rc = 0, count = 0;
    for (size_t i = 0, n = kiln_manifest_count(); i < n; i++) {
        const kiln_spec *s = kiln_manifest_get(i);
        if ((int)s->backend != o->backend) continue;
        char text[KILN_SPEC_TEXT_MAX], name[KILN_SPEC_NAME_MAX];
        kiln_spec_to_text(s, text, sizeof text);
        kiln_spec_name(s, name, sizeof name);
        kiln_source src;
        if (kiln_gen_emit(s, &src)) {
            rc = fail(text);
            continue;
        }
        const char *ext = kiln_gen_source_ext(s->backend);
        snprintf(path, sizeof path, "%s/%s.%s", o->emit_dir, name, ext);
        rc |= write_file(path, src.text, src.len);
        fprintf(h, "    {\"%s\", \"%s\", \"%s.%s\", \"%s\", \"%s\", {%d, %d, %d}, %u, 0x%016" PRIx64 "ull},\n", text,
                name, name, ext, src.entry, src.lang, src.threads[0], src.threads[1], src.threads[2],
                src.shared_bytes, kiln_spec_hash(s));
        kiln_source_free(&src);
        count++;
    }
    fprintf(h, "    {0, 0, 0, 0, 0, {0, 0, 0}, 0, 0} /* end */\n};\n");
    if (host_side[o->backend].params) {
        fprintf(h, "\n/* entry points */\n");
        for (size_t i = 0, n = kiln_manifest_count(); i < n; i++) {
            const kiln_spec *s = kiln_manifest_get(i);
            char name[KILN_SPEC_NAME_MAX], entry[KILN_SPEC_NAME_MAX + 8];
            if ((int)s->backend != o->backend || kiln_spec_name(s, name, sizeof name) < 0) continue;
            snprintf(entry, sizeof entry, "kiln_%s", name);
            fprintf(h, "void %s%s;\n", entry, host_side[o->backend].params);
        }
    }
    fprintf(h, "#define KILN_%s_KERNEL_COUNT %d\n#endif\n", guard, count);
    if (fclose(h)) rc = 1;
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    if (o.help) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (o.spec) return cmd_spec(&o);
    if (o.list) return o.sass ? kiln_gen_sass_manifest() : cmd_list(&o);
    if (o.emit_dir) return cmd_emit_dir(&o);
    if (kiln_gen_cpu_bundle(o.bundle_dir)) return fail("--cpu-bundle");
    return 0;
}
