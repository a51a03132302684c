/* tests/test_cuda_compile.c — the CUDA kernels compile through NVRTC (no GPU needed).
 *
 * Every cuda instance of the manifest is emitted and compiled for sm_80 and
 * sm_90; the tensor-core paths show their mma.sync in the PTX; a bad source
 * fails with KILN_ERR_COMPILE and NVRTC's log; the disk cache keys, writes
 * atomically and rebuilds corrupt entries. Skipped when NVRTC is absent. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/cuda/cuda_api.h"
#include "kernels/cuda/cuda_compile.h"
#include "gen/cuda_geometry.h"
#include "gen/cuda_heuristic.h"
#include "kernels/cuda/templates/cuda_args.h"
#include "gen/embedded.h"
#include <stddef.h>
#include "kiln/kernel.h"
#include "kiln/kiln.h"

static void need_nvrtc(void)
{
    if (!kiln_nvrtc()) cr_skip_test("NVRTC not available: %s", kiln_last_error());
}

/* Compile every cuda manifest instance of op for arch; where must_have(spec)
 * names an instruction, the PTX has to contain it. */
static void compile_manifest(kiln_op op, const char *arch, const char *(*must_have)(const kiln_spec *))
{
    need_nvrtc();
    int compiled = 0;
    for (size_t i = 0, n = kiln_manifest_count(); i < n; i++) {
        const kiln_spec *s = kiln_manifest_get(i);
        if (s->backend != KILN_BACKEND_CUDA || s->op != op) continue;
        kiln_source src;
        memset(&src, 0, sizeof src);
        kiln_status st = kiln_gen_emit(s, &src);
        cr_assert_eq(st, KILN_OK, "emit %s: %s", src.entry, kiln_last_error());
        void *cubin = NULL;
        size_t size = 0;
        char *ptx = NULL;
        const char *want = must_have ? must_have(s) : NULL;
        int check = want != NULL;
        st = kiln_cuda_compile(src.text, src.entry, arch, &cubin, &size, check ? &ptx : NULL);
        cr_assert_eq(st, KILN_OK, "%s for %s: %s", src.entry, arch, kiln_last_error());
        cr_assert(size > 0 && cubin, "%s: empty cubin", src.entry);
        if (check) cr_assert(ptx && strstr(ptx, want), "%s: no %s in the PTX", src.entry, want);
        free(cubin);
        free(ptx);
        kiln_source_free(&src);
        compiled++;
    }
    cr_assert(compiled > 0, "the manifest has no cuda %s instance", kiln_op_name(op));
}

/* Quantized weights with tn > 8 go through the tensor cores; the mat-vec of
 * every integer format (kiln_cuda_mv_int8) through int8 dot products. */
static const char *matmul_uses_mma(const kiln_spec *s)
{
    if (s->tile.tn > 8 && kiln_cuda_mm_uses_mma(s)) return "mma.sync.aligned.m16n8k16";
    if (s->tile.tn <= 8 && kiln_cuda_mv_int8(s->fmt)) return "dp4a.s32.s32";
    return NULL;
}

Test(cuda_compile, matmul_sm90, .timeout = 300) { compile_manifest(KILN_OP_MATMUL, "sm_90", matmul_uses_mma); }
Test(cuda_compile, matmul_sm80, .timeout = 300) { compile_manifest(KILN_OP_MATMUL, "sm_80", matmul_uses_mma); }
Test(cuda_compile, flash_attn_sm90, .timeout = 300) { compile_manifest(KILN_OP_FLASH_ATTN, "sm_90", NULL); }
Test(cuda_compile, flash_attn_sm80, .timeout = 300) { compile_manifest(KILN_OP_FLASH_ATTN, "sm_80", NULL); }
Test(cuda_compile, paged_attn_sm90, .timeout = 300) { compile_manifest(KILN_OP_PAGED_ATTN, "sm_90", NULL); }
Test(cuda_compile, paged_attn_sm80, .timeout = 300) { compile_manifest(KILN_OP_PAGED_ATTN, "sm_80", NULL); }
Test(cuda_compile, norm_sm90, .timeout = 300) { compile_manifest(KILN_OP_NORM, "sm_90", NULL); }
Test(cuda_compile, norm_sm80, .timeout = 300) { compile_manifest(KILN_OP_NORM, "sm_80", NULL); }
Test(cuda_compile, rope_sm90, .timeout = 300) { compile_manifest(KILN_OP_ROPE, "sm_90", NULL); }
Test(cuda_compile, rope_sm80, .timeout = 300) { compile_manifest(KILN_OP_ROPE, "sm_80", NULL); }

/* The FA2 kernel (the default for 16-bit K/V at these head sizes): every head
 * size at its default tiles compiles for sm_90 with the tensor-core, ldmatrix
 * (plain for Q and K, .trans for V) and cp.async instructions in its PTX, and
 * the launch asks for its shared memory (Q and two K/V stages). */
Test(cuda_compile, flash_attn_mma_ptx, .timeout = 300)
{
    need_nvrtc();
    static const struct { int hd; kiln_dtype t; } cases[] = {
        {64, KILN_F16}, {80, KILN_BF16}, {96, KILN_F16}, {128, KILN_BF16}, {128, KILN_F16}, {256, KILN_BF16}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kiln_spec s = kiln_cuda_flash_spec(cases[i].t, cases[i].hd);
        cr_assert(kiln_cuda_fa_uses_mma(&s), "hd %d: the default spec does not select flash_attn_mma.cuh", cases[i].hd);
        kiln_source src;
        memset(&src, 0, sizeof src);
        cr_assert_eq(kiln_gen_emit(&s, &src), KILN_OK, "%s", kiln_last_error());
        void *cubin = NULL;
        size_t size = 0;
        char *ptx = NULL;
        kiln_status st = kiln_cuda_compile(src.text, src.entry, "sm_90", &cubin, &size, &ptx);
        cr_assert_eq(st, KILN_OK, "%s: %s", src.entry, kiln_last_error());
        const char *want[] = {"mma.sync.aligned.m16n8k16", "ldmatrix.sync.aligned.m8n8.x4.shared.b16",
                              "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16", "cp.async.cg.shared.global",
                              "cp.async.wait_group 1"};
        for (size_t w = 0; w < sizeof want / sizeof want[0]; w++)
            cr_assert(ptx && strstr(ptx, want[w]), "%s: no %s in the PTX", src.entry, want[w]);
        const int tm = s.tile.tm, tn = s.tile.tn;
        cr_assert_eq(src.shared_bytes, (uint32_t)((tm + 4 * tn) * (cases[i].hd + 8) * 2), "%s", src.entry);
        free(cubin);
        free(ptx);
        kiln_source_free(&src);
    }
}

Test(cuda_compile, bad_source_returns_log)
{
    need_nvrtc();
    const char *bad = "extern \"C\" __global__ void broken(float *p) { p[0] = undeclared_thing; }\n";
    void *cubin = (void *)1;
    size_t size = 7;
    kiln_status st = kiln_cuda_compile(bad, "broken", "sm_90", &cubin, &size, NULL);
    cr_assert_eq(st, KILN_ERR_COMPILE);
    cr_assert_null(cubin);
    cr_assert_eq(size, 0);
    cr_assert(strstr(kiln_last_error(), "undeclared_thing"), "log missing: %s", kiln_last_error());
    cr_assert(strstr(kiln_last_error(), "broken"), "entry missing: %s", kiln_last_error());
}

/* Host and device agree on the parameter blocks: NVRTC compiles one probe
 * kernel per field of the embedded cuda_args.h, taking the struct by value;
 * the PTX spells out the parameter's size (".b8 probe_i_param_0[SIZE]") and the
 * field's offset ("[probe_i_param_0+OFF]"), which must equal the host's. */
typedef struct layout_field {
    const char *type, *field;
    size_t size, offset;
} layout_field;
#define LF(T, m) {#T, #m, sizeof(T), offsetof(T, m)}
static const layout_field layout_fields[] = {
    LF(kiln_cu_matmul_args, w), LF(kiln_cu_matmul_args, xq), LF(kiln_cu_matmul_args, xq_stride),
    LF(kiln_cu_matmul_args, n), LF(kiln_cu_matmul_args, x_vec_ok), LF(kiln_cu_flash_args, q_pos0),
    LF(kiln_cu_flash_args, scale), LF(kiln_cu_flash_args, o_type), LF(kiln_cu_paged_args, bt_s0),
    LF(kiln_cu_paged_args, split_len), LF(kiln_cu_paged_args, o_type), LF(kiln_cu_norm_args, y_s),
    LF(kiln_cu_norm_args, eps),
};
#undef LF

Test(cuda_compile, args_layout_matches_host)
{
    need_nvrtc();
    const kiln_embedded_file *f = kiln_embedded_find("kernels/cuda/templates/cuda_args.h");
    cr_assert_not_null(f, "cuda_args.h is not embedded");
    size_t nf = sizeof layout_fields / sizeof layout_fields[0], cap = f->len + nf * 200 + 1, used;
    char *src = malloc(cap);
    used = (size_t)snprintf(src, cap, "%s\n", f->text);
    for (size_t i = 0; i < nf; i++)
        used += (size_t)snprintf(src + used, cap - used,
                                 "extern \"C\" __global__ void probe_%zu(%s a, double *o) { *o = (double)((volatile %s *)&a)->%s; }\n", i,
                                 layout_fields[i].type, layout_fields[i].type, layout_fields[i].field);
    void *cubin = NULL;
    char *ptx = NULL;
    size_t size = 0;
    cr_assert_eq(kiln_cuda_compile(src, "layout_probe", "sm_80", &cubin, &size, &ptx), KILN_OK, "%s",
                 kiln_last_error());
    for (size_t i = 0; i < nf; i++) {
        char key[64];
        snprintf(key, sizeof key, "probe_%zu_param_0[", i);
        const char *p = strstr(ptx, key);
        cr_assert_not_null(p, "no parameter declaration for %s in the PTX", layout_fields[i].type);
        size_t dev_size = strtoul(p + strlen(key), NULL, 10);
        cr_assert_eq(dev_size, layout_fields[i].size, "sizeof %s: device %zu, host %zu", layout_fields[i].type,
                     dev_size, layout_fields[i].size);
        snprintf(key, sizeof key, "[probe_%zu_param_0", i);
        p = strstr(ptx, key);
        cr_assert_not_null(p, "%s.%s is never read in the PTX", layout_fields[i].type, layout_fields[i].field);
        const char *ld = p;
        while (ld > ptx && ld[-1] != '\n') ld--; /* the load instruction: ld.param[.v2|.v4].<type> */
        size_t dev_off = p[strlen(key)] == '+' ? strtoul(p + strlen(key) + 1, NULL, 10) : 0;
        /* NVVM may widen the read into a vector load of the neighbours: the
         * field must then lie inside the loaded bytes. */
        char ins[48] = "";
        sscanf(ld, " %47s", ins); /* e.g. "ld.param.v2.u32" */
        size_t elem = strstr(ins, "64") ? 8 : 4;
        size_t lanes = strstr(ins, ".v4.") ? 4 : strstr(ins, ".v2.") ? 2 : 1;
        size_t host_off = layout_fields[i].offset;
        if (lanes == 1)
            cr_assert_eq(dev_off, host_off, "offset of %s.%s: device %zu, host %zu", layout_fields[i].type,
                         layout_fields[i].field, dev_off, host_off);
        else
            cr_assert(host_off >= dev_off && host_off < dev_off + lanes * elem && (host_off - dev_off) % elem == 0,
                      "offset of %s.%s: host %zu outside the device's vector load at %zu (%zu x %zu bytes)",
                      layout_fields[i].type, layout_fields[i].field, host_off, dev_off, lanes, elem);
    }
    free(cubin);
    free(ptx);
    free(src);
}

Test(cuda_compile, arch_names)
{
    char buf[16];
    kiln_cuda_arch_name(9, 0, 1, buf, sizeof buf);
    cr_assert_str_eq(buf, "sm_90a");
    kiln_cuda_arch_name(8, 6, 0, buf, sizeof buf);
    cr_assert_str_eq(buf, "sm_86");
}

/* ---------------------------------------------------------------- disk cache */

static const char *tiny_src = "extern \"C\" __global__ void tiny(float *p, float v) { p[threadIdx.x] = v * 2.0f; }\n";

static void make_temp_dir(char *buf, size_t cap)
{
    snprintf(buf, cap, "/tmp/kiln-cuda-cache-XXXXXX");
    cr_assert_not_null(mkdtemp(buf));
}

static void remove_tree(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Files in dir whose name contains what. */
static int count_files(const char *dir, const char *what)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, what)) n++;
    closedir(d);
    return n;
}

Test(cuda_compile, cache_key_depends_on_source_and_arch)
{
    need_nvrtc();
    kiln_cuda_cache_key a, b, c, a2;
    cr_assert_eq(kiln_cuda_cache_key_of(tiny_src, "sm_90", &a), KILN_OK);
    cr_assert_eq(kiln_cuda_cache_key_of(tiny_src, "sm_90", &a2), KILN_OK);
    cr_assert_eq(kiln_cuda_cache_key_of(tiny_src, "sm_80", &b), KILN_OK);
    cr_assert_eq(kiln_cuda_cache_key_of("// other\n", "sm_90", &c), KILN_OK);
    cr_assert(a.lo == a2.lo && a.hi == a2.hi, "key not stable");
    cr_assert(a.lo != b.lo || a.hi != b.hi, "arch not in key");
    cr_assert(a.lo != c.lo || a.hi != c.hi, "source not in key");
    char path[1200];
    cr_assert(kiln_cuda_cache_path("/x", "tiny", "sm_90", a, path, sizeof path) > 0);
    cr_assert(strncmp(path, "/x/cuda/tiny-sm_90-", 19) == 0, "%s", path);
    cr_assert_eq(strlen(path), strlen("/x/cuda/tiny-sm_90-") + 32 + strlen(".cubin"));
}

Test(cuda_compile, cache_hit_corrupt_rebuild, .timeout = 120)
{
    need_nvrtc();
    char dir[256], sub[300], path[1200];
    make_temp_dir(dir, sizeof dir);
    snprintf(sub, sizeof sub, "%s/cuda", dir);
    kiln_cuda_cache_key key;
    cr_assert_eq(kiln_cuda_cache_key_of(tiny_src, "sm_90", &key), KILN_OK);
    cr_assert(kiln_cuda_cache_path(dir, "tiny", "sm_90", key, path, sizeof path) > 0);

    void *c1 = NULL, *c2 = NULL, *c3 = NULL;
    size_t n1 = 0, n2 = 0, n3 = 0;
    int hit = -1;
    cr_assert_eq(kiln_cuda_cubin(dir, tiny_src, "tiny", "sm_90", &c1, &n1, &hit), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(hit, 0, "first build cannot be a hit");
    cr_assert(file_size(path) > (long)n1, "entry not written at %s", path);
    cr_assert_eq(count_files(sub, ".tmp"), 0, "temporary file left behind");

    cr_assert_eq(kiln_cuda_cubin(dir, tiny_src, "tiny", "sm_90", &c2, &n2, &hit), KILN_OK);
    cr_assert_eq(hit, 1, "second lookup should hit the disk cache");
    cr_assert(n1 == n2 && memcmp(c1, c2, n1) == 0, "cached cubin differs");

    /* Flip a payload byte: the checksum fails, the entry is rebuilt. */
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    long at = file_size(path) - 5;
    fseek(f, at, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(ch ^ 0x5a, f);
    fclose(f);
    cr_assert_eq(kiln_cuda_cubin(dir, tiny_src, "tiny", "sm_90", &c3, &n3, &hit), KILN_OK);
    cr_assert_eq(hit, 0, "a corrupt entry must not be used");
    cr_assert(n3 == n1 && memcmp(c3, c1, n1) == 0, "rebuilt cubin differs");
    free(c3);
    c3 = NULL;
    cr_assert_eq(kiln_cuda_cubin(dir, tiny_src, "tiny", "sm_90", &c3, &n3, &hit), KILN_OK);
    cr_assert_eq(hit, 1, "the rebuilt entry should be valid again");
    free(c3);
    c3 = NULL;

    /* Truncated entry (a crash mid-write without the rename would leave this). */
    cr_assert_eq(truncate(path, 20), 0);
    cr_assert_eq(kiln_cuda_cubin(dir, tiny_src, "tiny", "sm_90", &c3, &n3, &hit), KILN_OK);
    cr_assert_eq(hit, 0);
    free(c3);
    c3 = NULL;

    /* Discard removes it. */
    kiln_cuda_cache_discard(dir, tiny_src, "tiny", "sm_90");
    cr_assert_eq(file_size(path), -1, "discard left the entry");

    /* No cache dir: compile only. */
    cr_assert_eq(kiln_cuda_cubin(NULL, tiny_src, "tiny", "sm_90", &c3, &n3, &hit), KILN_OK);
    cr_assert_eq(hit, 0);
    free(c1);
    free(c2);
    free(c3);
    remove_tree(dir);
}

/* ---------------------------------------------------------------- availability */

Test(cuda_compile, unavailable_is_an_answer_not_a_crash)
{
    int avail = kiln_backend_available(KILN_BACKEND_CUDA);
    int count = -1;
    cr_assert_eq(kiln_device_count(KILN_BACKEND_CUDA, &count), KILN_OK);
    if (avail) {
        cr_assert(count > 0);
        return;
    }
    cr_assert(strlen(kiln_last_error()) > 0 || count == 0, "no reason given");
    cr_assert_eq(count, 0);
    kiln_context *ctx = (kiln_context *)1;
    kiln_status st = kiln_context_create("cuda", NULL, &ctx);
    cr_assert_eq(st, KILN_ERR_UNAVAILABLE, "got %s", kiln_status_name(st));
    cr_assert_null(ctx);
    cr_assert(strstr(kiln_last_error(), "cuda"), "reason should name cuda: %s", kiln_last_error());
}
