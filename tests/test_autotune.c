/* tests/test_autotune.c — the autotuner end to end on the CPU (and on Vulkan
 * when lavapipe is there): tuning within a budget, reuse of the cache without
 * measuring, corrupt and stale cache files, a wrong candidate rejected, and
 * the op entry points picking up tuned specs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/autotune.h"
#include "kiln/kernel.h"
#include "kiln/kiln.h"

static char cache_dir[64];

static kiln_context *make_ctx(const char *device)
{
    snprintf(cache_dir, sizeof cache_dir, "/tmp/kiln-tune-test-XXXXXX");
    cr_assert_not_null(mkdtemp(cache_dir));
    kiln_context_options o = kiln_context_options_default();
    o.cache_dir = cache_dir;
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
    for (size_t i = 0; i < n; i++) {
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
    for (size_t i = 0; i < n; i++) cr_assert_eq(r[i].from_cache, 1, "%s was measured again", r[i].shape_class);
    cr_assert_eq(c.runs, 0);
    kiln_tune_results_free(r);

    /* a fresh context (same cache dir) reads the file */
    kiln_tune_result *cached;
    size_t nc;
    cr_assert_eq(kiln_tune_cache_read(ctx, &cached, &nc), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(nc, n);
    kiln_tune_results_free(cached);
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
    kiln_spec tuned = dflt;
    tuned.tile.tm = dflt.tile.tm ? dflt.tile.tm * 2 : 2;
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
