/* tests/test_autotune.c — the autotuner end to end on the CPU (and on Vulkan
 * when lavapipe is there): tuning within a budget, reuse of the cache without
 * measuring, corrupt and stale cache files, a wrong candidate rejected, the
 * op entry points picking up tuned specs, exhaustive search running every
 * compiled-in cpu tile variant against the reference, the exhaustive check of
 * a guided search, and the vulkan backend's parallel precompile. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gen/space.h"
#include "kernels/cpu/cpu_registry.h"
#include "kernels/core/backend.h"
#include "kiln/autotune.h"
#include "kiln/kernel.h"
#include "kiln/kiln.h"
#include "test_vulkan_util.h"

static char cache_dir[64];

static kiln_context *make_ctx(const char *device)
{
    snprintf(cache_dir, sizeof cache_dir, "/tmp/kiln-tune-test-XXXXXX");
    cr_assert_not_null(mkdtemp(cache_dir));
    kiln_context_options o = kiln_context_options_default();
    o.cache_dir = cache_dir;
    o.chooser = &kiln_tune_chooser;
    kiln_context *ctx = NULL;
    kiln_status st = kiln_context_create(device, &o, &ctx);
    if (st != KILN_OK) return NULL;
    return ctx;
}

static void cleanup(kiln_context *ctx)
{
    kiln_context_destroy(ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
    cr_assert_eq(system(cmd), 0);
}

static kiln_tune_options quick(void)
{
    static const kiln_dtype fmts[] = {KILN_Q4_0};
    kiln_tune_options o = kiln_tune_options_default();
    o.ops = (1u << KILN_OP_MATMUL) | (1u << KILN_OP_NORM);
    o.formats = fmts;
    o.n_formats = 1;
    o.small = 1;
    o.budget_s = 20;
    return o;
}

typedef struct counter {
    int runs;                    /* candidates run */
    char corrupt[KILN_SPEC_TEXT_MAX]; /* spec whose output the hook destroys ("" = none) */
    int corrupted;
} counter;

static void count_and_corrupt(void *user, kiln_context *ctx, const kiln_spec *spec, const void *params)
{
    counter *c = user;
    c->runs++;
    char text[KILN_SPEC_TEXT_MAX];
    kiln_spec_to_text(spec, text, sizeof text);
    if (!c->corrupt[0] || strcmp(text, c->corrupt) != 0) return;
    /* overwrite the output with a plausible but wrong constant */
    const kiln_tensor *out = spec->op == KILN_OP_MATMUL ? &((const kiln_matmul_params *)params)->y
                                                        : &((const kiln_norm_params *)params)->y;
    size_t bytes = kiln_tensor_bytes(out);
    float *junk = malloc(bytes);
    for (size_t i = 0; i < bytes / sizeof(float); i++) junk[i] = 0.5f;
    cr_assert_eq(kiln_buffer_upload(out->buf, out->offset, junk, bytes), KILN_OK);
    free(junk);
    (void)ctx;
    c->corrupted++;
}

Test(autotune, tunes_within_budget_then_reuses_cache, .timeout = 240)
{
    kiln_context *ctx = make_ctx("cpu");
    cr_assert_not_null(ctx, "cpu context: %s", kiln_last_error());
    counter c = {0};
    kiln_tune_options o = quick();
    o.after_first_run = count_and_corrupt;
    o.user = &c;
    kiln_tune_result *r;
    size_t n;
    cr_assert_eq(kiln_tune(ctx, &o, &r, &n), KILN_OK, "%s", kiln_last_error());
    cr_assert_gt(n, 0);
    cr_assert_gt(c.runs, 0, "nothing was measured");
    /* on a very slow machine the budget may end before the last classes begin:
     * those are left out of the checks below (test budget_ends_the_run_... covers them) */
    int begun[64] = {0}, not_begun = 0;
    cr_assert_leq(n, 64);
    for (size_t i = 0; i < n; i++) {
        if (r[i].unfinished == 2) {
            cr_log_warn("the 20 s budget ended before %s %s began", r[i].shape_class, r[i].shape);
            not_begun++;
            continue;
        }
        begun[i] = 1;
        kiln_spec s;
        cr_assert_eq(kiln_spec_parse(r[i].tuned_spec, &s), KILN_OK, "%s", r[i].tuned_spec);
        cr_assert_gt(r[i].tuned_us, 0);
        cr_assert_eq(r[i].from_cache, 0);
        cr_assert(r[i].tuned_us <= r[i].default_us * 1.0001 || r[i].default_us < 0,
                  "tuned slower than default in %s", r[i].shape_class);
    }
    kiln_tune_results_free(r);

    /* second run: everything from the cache, nothing run */
    c.runs = 0;
    cr_assert_eq(kiln_tune(ctx, &o, &r, &n), KILN_OK, "%s", kiln_last_error());
    cr_assert_gt(n, 0);
    for (size_t i = 0; i < n; i++)
        if (begun[i]) cr_assert_eq(r[i].from_cache, 1, "%s was measured again", r[i].shape_class);
    if (!not_begun) cr_assert_eq(c.runs, 0);
    kiln_tune_results_free(r);

    /* a fresh context (same cache dir) reads the file */
    kiln_tune_result *cached;
    size_t nc;
    cr_assert_eq(kiln_tune_cache_read(ctx, &cached, &nc), KILN_OK, "%s", kiln_last_error());
    if (!not_begun) cr_assert_eq(nc, n);
    kiln_tune_results_free(cached);
    cleanup(ctx);
}

/* The budget bounds the run: no class begins after it (those are returned
 * with unfinished = 2 and nothing cached), a class cut short keeps its best
 * so far. The bound below is generous on purpose: it catches the old tenfold
 * overrun, it is not a speed figure. */
Test(autotune, budget_ends_the_run_and_names_what_it_left, .timeout = 240)
{
    kiln_context *ctx = make_ctx("cpu");
    cr_assert_not_null(ctx, "cpu context: %s", kiln_last_error());
    kiln_tune_options o = quick();
    o.budget_s = 0.05;
    kiln_tune_result *r;
    size_t n;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(kiln_tune(ctx, &o, &r, &n), KILN_OK, "%s", kiln_last_error());
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    int begun = 0, not_begun = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].unfinished == 2) {
            not_begun++;
            cr_assert_str_empty(r[i].tuned_spec, "a class not begun has no spec");
            cr_assert_not_null(strstr(r[i].shape_class, "not reached"), "%s", r[i].shape_class);
        } else {
            begun++;
            kiln_spec s;
            cr_assert_eq(kiln_spec_parse(r[i].tuned_spec, &s), KILN_OK, "%s", r[i].tuned_spec);
        }
    }
    cr_assert_geq(begun, 1, "the first class always begins");
    cr_assert_geq(not_begun, 1, "a 0.05 s budget cannot reach every class (%zu classes)", n);
    cr_assert_lt(took, 30.0, "a 0.05 s budget ran %.1f s", took);
    kiln_tune_results_free(r);
    kiln_tune_result *cached;
    size_t nc;
    cr_assert_eq(kiln_tune_cache_read(ctx, &cached, &nc), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(nc, (size_t)begun, "only the classes begun are cached");
    kiln_tune_results_free(cached);
    cleanup(ctx);
}

/* Two processes tuning into one cache at once (different op families): the
 * file ends valid and holds both processes' classes. */
static int tune_in_child(const char *dir, unsigned ops)
{
    kiln_context_options co = kiln_context_options_default();
    co.cache_dir = dir;
    kiln_context *ctx = NULL;
    if (kiln_context_create("cpu", &co, &ctx) != KILN_OK) return 10;
    kiln_tune_options o = quick();
    o.ops = ops;
    o.budget_s = 60;
    kiln_tune_result *r;
    size_t n;
    kiln_status st = kiln_tune(ctx, &o, &r, &n);
    if (st == KILN_OK) kiln_tune_results_free(r);
    kiln_context_destroy(ctx);
    return st == KILN_OK ? 0 : 11;
}

Test(autotune, two_processes_tuning_at_once_leave_a_valid_merged_cache, .timeout = 300)
{
    kiln_context *ctx = make_ctx("cpu");
    cr_assert_not_null(ctx, "cpu context: %s", kiln_last_error());
    unsigned ops[2] = {1u << KILN_OP_MATMUL, 1u << KILN_OP_NORM};
    pid_t pid[2];
    for (int i = 0; i < 2; i++) {
        fflush(NULL);
        pid[i] = fork();
        cr_assert_geq(pid[i], 0);
        if (pid[i] == 0) _exit(tune_in_child(cache_dir, ops[i]));
    }
    for (int i = 0; i < 2; i++) {
        int status = 0;
        cr_assert_eq(waitpid(pid[i], &status, 0), pid[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tuner %d failed (status %d)", i, status);
    }
    kiln_tune_result *r;
    size_t n;
    cr_assert_eq(kiln_tune_cache_read(ctx, &r, &n), KILN_OK, "the cache is valid: %s", kiln_last_error());
    int mm = 0, nm = 0;
    for (size_t i = 0; i < n; i++) {
        mm += !strncmp(r[i].shape_class, "matmul ", 7);
        nm += !strncmp(r[i].shape_class, "norm ", 5);
    }
    kiln_tune_results_free(r);
    cr_assert(mm > 0 && nm > 0, "both tuners' classes are kept: %d matmul, %d norm", mm, nm);
    cleanup(ctx);
}

Test(autotune, corrupt_and_stale_files_are_reported_and_rebuilt, .timeout = 240)
{
    kiln_context *ctx = make_ctx("cpu");
    cr_assert_not_null(ctx, "cpu context: %s", kiln_last_error());
    char path[2048];
    cr_assert_eq(kiln_tune_cache_path(ctx, path, sizeof path), KILN_OK);
    cr_assert(strstr(path, cache_dir) == path && strstr(path, "/tune/"), "path %s", path);
    char mk[2200];
    snprintf(mk, sizeof mk, "mkdir -p \"$(dirname '%s')\"", path);
    cr_assert_eq(system(mk), 0);

    FILE *f = fopen(path, "w");
    fputs("{\"kiln_tune_version\": 1, \"entries\": [{\"class\": \"x\"", f); /* truncated */
    fclose(f);
    kiln_tune_result *r;
    size_t n;
    cr_assert_eq(kiln_tune_cache_read(ctx, &r, &n), KILN_ERR_FORMAT);
    cr_assert(strstr(kiln_last_error(), "corrupt"), "message: %s", kiln_last_error());

    f = fopen(path, "w");
    fprintf(f, "{\"kiln_tune_version\": 1, \"kiln_version\": \"%s\", \"device_key\": \"some-other-gpu\", "
               "\"entries\": []}", kiln_version());
    fclose(f);
    cr_assert_eq(kiln_tune_cache_read(ctx, &r, &n), KILN_ERR_FORMAT);
    cr_assert(strstr(kiln_last_error(), "stale"), "message: %s", kiln_last_error());

    /* a valid spec text that is not a spec: corrupt */
    char key[256];
    kiln_tune_device_key(ctx, key, sizeof key);
    f = fopen(path, "w");
    fprintf(f, "{\"kiln_tune_version\": 1, \"kiln_version\": \"%s\", \"device_key\": \"%s\", \"entries\": "
               "[{\"class\": \"norm backend=cpu-avx2 | dim<=1024\", \"tuned_spec\": \"norm tm=banana\"}]}",
            kiln_version(), key);
    fclose(f);
    cr_assert_eq(kiln_tune_cache_read(ctx, &r, &n), KILN_ERR_FORMAT);

    /* tuning replaces the bad file with a good one */
    kiln_tune_options o = quick();
    o.ops = 1u << KILN_OP_NORM;
    cr_assert_eq(kiln_tune(ctx, &o, &r, &n), KILN_OK, "%s", kiln_last_error());
    cr_assert_gt(n, 0);
    kiln_tune_results_free(r);
    cr_assert_eq(kiln_tune_cache_read(ctx, &r, &n), KILN_OK, "%s", kiln_last_error());
    cr_assert_gt(n, 0);
    kiln_tune_results_free(r);
    cleanup(ctx);
}

Test(autotune, wrong_candidate_is_never_chosen, .timeout = 240)
{
    kiln_context *ctx = make_ctx("cpu");
    cr_assert_not_null(ctx, "cpu context: %s", kiln_last_error());
    kiln_tune_options o = quick();
    o.ops = 1u << KILN_OP_NORM;
    kiln_tune_result *r;
    size_t n;
    /* first learn the default of the first class, then tune again corrupting it */
    cr_assert_eq(kiln_tune(ctx, &o, &r, &n), KILN_OK, "%s", kiln_last_error());
    cr_assert_gt(n, 0);
    char cls[KILN_SPEC_TEXT_MAX];
    counter c = {0};
    snprintf(c.corrupt, sizeof c.corrupt, "%s", r[0].default_spec);
    snprintf(cls, sizeof cls, "%s", r[0].shape_class);
    kiln_tune_results_free(r);

    o.force = 1;
    o.after_first_run = count_and_corrupt;
    o.user = &c;
    cr_assert_eq(kiln_tune(ctx, &o, &r, &n), KILN_OK, "%s", kiln_last_error());
    cr_assert_gt(c.corrupted, 0, "the corrupted candidate never ran");
    for (size_t i = 0; i < n; i++) {
        if (strcmp(r[i].shape_class, cls)) continue;
        cr_assert_str_neq(r[i].tuned_spec, c.corrupt, "a wrong candidate was chosen");
        cr_assert_gt(r[i].rejected, 0);
    }
    kiln_tune_results_free(r);
    cleanup(ctx);
}

/* A q4_0 matmul call of n tokens with its buffers on ctx. */
typedef struct call { kiln_buffer *bx, *bw, *by; kiln_matmul_params p; } call;

static call make_call(kiln_context *ctx, int64_t n)
{
    int64_t m = 8, k = 64;
    call c;
    cr_assert_eq(kiln_buffer_alloc(ctx, (size_t)(n * k * 4), &c.bx), KILN_OK);
    cr_assert_eq(kiln_buffer_alloc(ctx, kiln_row_bytes(KILN_Q4_0, k) * (size_t)m, &c.bw), KILN_OK);
    cr_assert_eq(kiln_buffer_alloc(ctx, (size_t)(n * m * 4), &c.by), KILN_OK);
    memset(&c.p, 0, sizeof c.p);
    c.p.x = kiln_tensor_make(c.bx, 0, KILN_F32, 2, (int64_t[]){n, k});
    c.p.w = kiln_tensor_make(c.bw, 0, KILN_Q4_0, 2, (int64_t[]){m, k});
    c.p.y = kiln_tensor_make(c.by, 0, KILN_F32, 2, (int64_t[]){n, m});
    return c;
}

static void free_call(call *c)
{
    kiln_buffer_free(c->bx);
    kiln_buffer_free(c->bw);
    kiln_buffer_free(c->by);
}

/* Another built-in cpu instance of dflt's class (other tiles), so the cache
 * names a spec this build can run; dflt itself when there is none. */
static kiln_spec builtin_variant(const kiln_spec *dflt)
{
    kiln_spec base = *dflt;
    memset(&base.tile, 0, sizeof base.tile);
    for (size_t i = 0; i < kiln_cpu_kernel_count(); i++) {
        kiln_spec s = *kiln_cpu_kernel_spec(i), u = s;
        memset(&u.tile, 0, sizeof u.tile);
        if (kiln_spec_equal(&u, &base) && !kiln_spec_equal(&s, dflt)) return s;
    }
    return *dflt;
}

static kiln_spec choose(kiln_context *ctx, int64_t n)
{
    call c = make_call(ctx, n);
    kiln_spec s;
    cr_assert_eq(kiln_kernel_choose(ctx, KILN_OP_MATMUL, &c.p, &s), KILN_OK, "%s", kiln_last_error());
    free_call(&c);
    return s;
}

Test(autotune, entry_points_use_the_cache_and_nearest_class, .timeout = 120)
{
    kiln_context *ctx = make_ctx("cpu");
    cr_assert_not_null(ctx, "cpu context: %s", kiln_last_error());
    kiln_context_options o = kiln_context_options_default();
    o.cache_dir = cache_dir;
    o.use_tuning = 0;
    kiln_context *plain;
    cr_assert_eq(kiln_context_create("cpu", &o, &plain), KILN_OK);
    /* what the heuristics pick for n = 4 (band n=2-8) and n = 1 (band n=1) */
    kiln_spec dflt = choose(plain, 4), dflt1 = choose(plain, 1);

    /* a cache whose entry for the n=2-8 class names other tiles */
    kiln_spec tuned = builtin_variant(&dflt);
    cr_assert(!kiln_spec_equal(&tuned, &dflt), "the cpu has more than one tile variant of the class");
    char text[KILN_SPEC_TEXT_MAX], base_text[KILN_SPEC_TEXT_MAX], path[2048], key[256];
    cr_assert_gt(kiln_spec_to_text(&tuned, text, sizeof text), 0);
    kiln_spec base = dflt;
    memset(&base.tile, 0, sizeof base.tile);
    kiln_spec_to_text(&base, base_text, sizeof base_text);
    kiln_tune_cache_path(ctx, path, sizeof path);
    kiln_tune_device_key(ctx, key, sizeof key);
    char mk[2200];
    snprintf(mk, sizeof mk, "mkdir -p \"$(dirname '%s')\"", path);
    cr_assert_eq(system(mk), 0);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"kiln_tune_version\": 1, \"kiln_version\": \"%s\", \"device_key\": \"%s\", \"entries\": "
               "[{\"class\": \"%s | n=2-8\", \"shape\": \"m=8 k=64 n=4\", \"default_spec\": \"\", "
               "\"tuned_spec\": \"%s\", \"default_us\": 2, \"tuned_us\": 1, \"tried\": 2, \"rejected\": 0}]}",
            kiln_version(), key, base_text, text);
    fclose(f);

    /* ctx reads the file on its first choice: the tuned spec is used */
    kiln_spec got = choose(ctx, 4);
    cr_assert(kiln_spec_equal(&got, &tuned), "the tuned spec was not used");
    /* n = 1 is untuned: the nearest tuned band of the same kernel serves it */
    kiln_spec base1 = dflt1;
    memset(&base1.tile, 0, sizeof base1.tile);
    if (kiln_spec_equal(&base1, &base)) {
        got = choose(ctx, 1);
        cr_assert(kiln_spec_equal(&got, &tuned), "the nearest tuned class was not used");
    }
    /* use_tuning = 0 ignores the file */
    got = choose(plain, 4);
    cr_assert(kiln_spec_equal(&got, &dflt));
    kiln_context_destroy(plain);
    cleanup(ctx);
}

/* ---- search modes, the cpu's tile variants, parallel precompile */


/* Candidates run (the after_first_run hook), by canonical text. */
typedef struct visits {
    char text[256][KILN_SPEC_TEXT_MAX];
    int n;
} visits;

static void record_visit(void *user, kiln_context *ctx, const kiln_spec *spec, const void *params)
{
    (void)ctx, (void)params;
    visits *v = user;
    char text[KILN_SPEC_TEXT_MAX];
    kiln_spec_to_text(spec, text, sizeof text);
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->text[i], text)) return;
    cr_assert_lt(v->n, 256);
    snprintf(v->text[v->n++], KILN_SPEC_TEXT_MAX, "%s", text);
}

static int visited(const visits *v, const char *text)
{
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->text[i], text)) return 1;
    return 0;
}

/* Exhaustive search on the cpu runs every compiled-in tile variant of each
 * class (matmul tn x split, attention tn) against the double reference: none
 * is rejected, and the space has more than the default to offer. The small
 * matmul shapes go up to n = 80, past both column blocks (16, 64), with m and
 * k that leave partial row chunks. */
Test(autotune, exhaustive_runs_every_cpu_variant_correctly, .timeout = 300)
{
    kiln_context *ctx = make_ctx("cpu");
    cr_assert_not_null(ctx, "cpu context: %s", kiln_last_error());
    static visits v;
    memset(&v, 0, sizeof v);
    kiln_tune_options o = quick();
    o.ops = (1u << KILN_OP_MATMUL) | (1u << KILN_OP_FLASH_ATTN) | (1u << KILN_OP_PAGED_ATTN);
    o.search = KILN_TUNE_SEARCH_EXHAUSTIVE;
    o.budget_s = 90;
    o.after_first_run = record_visit;
    o.user = &v;
    kiln_tune_result *r;
    size_t n;
    cr_assert_eq(kiln_tune(ctx, &o, &r, &n), KILN_OK, "%s", kiln_last_error());
    cr_assert_geq(n, 6);
    int variants = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(r[i].search, "exhaustive");
        cr_assert_eq(r[i].rejected, 0, "%s: a tile variant failed the reference", r[i].shape_class);
        kiln_spec base;
        cr_assert_eq(kiln_spec_parse(r[i].default_spec, &base), KILN_OK, "%s", r[i].default_spec);
        kiln_search_space sp;
        cr_assert_eq(kiln_search_space_make(&base, &sp), KILN_OK);
        size_t size = kiln_search_space_size(&sp);
        cr_assert_gt(size, 1, "%s: only the default is compiled in", r[i].shape_class);
        cr_assert_eq((size_t)r[i].space_points, size);
        for (size_t p = 0; p < size; p++) {
            kiln_spec s;
            cr_assert_eq(kiln_search_space_point(&sp, p, &s), KILN_OK);
            char text[KILN_SPEC_TEXT_MAX];
            kiln_spec_to_text(&s, text, sizeof text);
            cr_assert(visited(&v, text), "%s: point %s was never run", r[i].shape_class, text);
            variants += !kiln_spec_equal(&s, &base);
        }
    }
    cr_log_info("%d non-default cpu tile variants checked against the reference", variants);
    kiln_tune_results_free(r);
    cleanup(ctx);
}

/* --check-exhaustive: guided first, then the whole space; the exhaustive best
 * is never slower than the guided pick (they share measurements). */
Test(autotune, check_exhaustive_walks_the_whole_space, .timeout = 240)
{
    kiln_context *ctx = make_ctx("cpu");
    cr_assert_not_null(ctx, "cpu context: %s", kiln_last_error());
    kiln_tune_options o = quick();
    o.ops = 1u << KILN_OP_MATMUL;
    o.check_exhaustive = 1;
    o.budget_s = 40;
    kiln_tune_result *r;
    size_t n;
    cr_assert_eq(kiln_tune(ctx, &o, &r, &n), KILN_OK, "%s", kiln_last_error());
    cr_assert_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(r[i].search, "guided", "%s", r[i].shape_class);
        cr_assert_eq(r[i].exhaustive_visited, r[i].space_points, "%s: %d of %d points walked", r[i].shape_class,
                     r[i].exhaustive_visited, r[i].space_points);
        cr_assert_gt(r[i].exhaustive_us, 0);
        /* the same measurements (the default's warm re-run included): never slower */
        cr_assert_leq(r[i].exhaustive_us, r[i].tuned_us, "%s: exhaustive %.3f us, tuned %.3f us", r[i].shape_class,
                      r[i].exhaustive_us, r[i].tuned_us);
        kiln_spec s;
        cr_assert_eq(kiln_spec_parse(r[i].exhaustive_spec, &s), KILN_OK, "%s", r[i].exhaustive_spec);
    }
    kiln_tune_results_free(r);
    cleanup(ctx);
}

/* Regular files of dir, sorted by name, concatenated as "name:size:bytes" so
 * two directories compare with one strcmp-like memcmp. */
static char *dir_digest(const char *dir, size_t *len, int *files)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd '%s' && for f in $(ls *.spv | sort); do echo \"$f\"; od -An -tx1 \"$f\"; done", dir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    for (size_t got; (got = fread(buf + n, 1, cap - n, p)) > 0;) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    pclose(p);
    *len = n;
    *files = 0;
    for (size_t i = 0; i + 4 <= n; i++) *files += !memcmp(buf + i, ".spv", 4);
    return buf;
}

/* The vulkan backend's precompile (several threads, glslang in process) builds
 * the same SPIR-V as one-at-a-time preparation, and the pipelines it built run
 * correctly. */
Test(autotune, parallel_precompile_builds_the_same_kernels, .timeout = 300)
{
    vk_skip_unless_available();
    char dir_a[] = "/tmp/kiln-precompile-a-XXXXXX", dir_b[] = "/tmp/kiln-precompile-b-XXXXXX";
    cr_assert_not_null(mkdtemp(dir_a));
    cr_assert_not_null(mkdtemp(dir_b));
    kiln_context *a = vk_open(dir_a), *b = vk_open(dir_b);
    cr_assert_not_null(a->vt->precompile, "the vulkan backend has no precompile hook");

    /* candidates: the tuner's space around the norm this problem chooses */
    vk_norm_case c;
    vk_norm_make(a, &c, 3, 77, 11);
    kiln_spec base, specs[8];
    cr_assert_eq(kiln_kernel_choose(a, KILN_OP_NORM, &c.p, &base), KILN_OK, "%s", kiln_last_error());
    kiln_search_space sp;
    cr_assert_eq(kiln_search_space_make(&base, &sp), KILN_OK);
    int n = 0;
    for (size_t i = 0, size = kiln_search_space_size(&sp); i < size && n < 8; i += 3) {
        kiln_spec s;
        if (kiln_search_space_point(&sp, i, &s) == KILN_OK && kiln_kernel_can_implement(a, &s) == KILN_OK)
            specs[n++] = s;
    }
    cr_assert_geq(n, 4, "only %d candidates", n);

    kiln_precompile(a, specs, n, 4);
    for (int i = 0; i < n; i++) cr_assert_eq(kiln_kernel_prepare(b, &specs[i]), KILN_OK, "%s", kiln_last_error());

    char sub_a[128], sub_b[128];
    snprintf(sub_a, sizeof sub_a, "%s/vulkan", dir_a);
    snprintf(sub_b, sizeof sub_b, "%s/vulkan", dir_b);
    size_t la, lb;
    int fa, fb;
    char *da = dir_digest(sub_a, &la, &fa), *db = dir_digest(sub_b, &lb, &fb);
    cr_assert_eq(fa, n, "precompile wrote %d SPIR-V entries for %d specs", fa, n);
    cr_assert_eq(fb, n);
    cr_assert(la == lb && !memcmp(da, db, la), "parallel and serial compiles differ");
    free(da), free(db);

    /* the precompiled pipelines compute the right thing */
    for (int i = 0; i < n; i++) {
        size_t bytes = sizeof(float) * (size_t)(c.rows * c.dim);
        void *nan = malloc(bytes);
        memset(nan, 0xff, bytes);
        cr_assert_eq(kiln_buffer_upload(c.by, 0, nan, bytes), KILN_OK);
        free(nan);
        cr_assert_eq(kiln_kernel_run(a, &specs[i], &c.p), KILN_OK, "%s", kiln_last_error());
        cr_assert_eq(kiln_synchronize(a), KILN_OK, "%s", kiln_last_error());
        char text[KILN_SPEC_TEXT_MAX];
        kiln_spec_to_text(&specs[i], text, sizeof text);
        cr_assert(vk_norm_matches(&c), "precompiled %s gives a wrong result", text);
    }
    vk_norm_free(&c);
    kiln_context_destroy(a);
    kiln_context_destroy(b);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir_a, dir_b);
    cr_assert_eq(system(cmd), 0);
}

/* Tuning on vulkan (lavapipe) end to end in a small budget, candidates
 * compiled ahead in parallel; a second run reuses the cache. */
Test(autotune, tunes_vulkan_within_budget, .timeout = 300)
{
    vk_skip_unless_available();
    kiln_context *ctx = make_ctx("vulkan");
    cr_assert_not_null(ctx, "vulkan context: %s", kiln_last_error());
    kiln_tune_options o = quick();
    o.ops = 1u << KILN_OP_NORM;
    o.budget_s = 30;
    o.compile_threads = 2;
    kiln_tune_result *r;
    size_t n;
    cr_assert_eq(kiln_tune(ctx, &o, &r, &n), KILN_OK, "%s", kiln_last_error());
    cr_assert_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(r[i].from_cache, 0);
        cr_assert_gt(r[i].tried, 1, "%s: nothing but the default was measured", r[i].shape_class);
        cr_assert(r[i].tuned_us <= r[i].default_us * 1.0001 || r[i].default_us < 0);
    }
    kiln_tune_results_free(r);
    cr_assert_eq(kiln_tune(ctx, &o, &r, &n), KILN_OK, "%s", kiln_last_error());
    for (size_t i = 0; i < n; i++) cr_assert_eq(r[i].from_cache, 1);
    kiln_tune_results_free(r);
    cleanup(ctx);
}
