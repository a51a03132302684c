/* tests/test_tune_trust.c — the tuning cache is input: every kind of entry
 * kiln cannot trust (a spec of another weight format than its class, a spec
 * this build does not have, a spec for another backend, a tile out of range,
 * a spec that does not parse) is skipped with one warning, and the
 * call gets the default kernel's exact output. Under ASan (make test
 * SANITIZE=1) this also shows no entry makes a kernel read past its buffers. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/core/backend.h"
#include "kernels/cpu/cpu_registry.h"
#include "kiln/autotune.h"
#include "kiln/formats.h"
#include "kiln/kernel.h"
#include "kiln/kiln.h"

enum { M = 40, K = 256, N = 4 }; /* n = 4: the "n=2-8" band */

typedef struct warnings {
    int count;
    char last[1024];
} warnings;

static void collect(void *user, const char *message)
{
    warnings *w = user;
    w->count++;
    snprintf(w->last, sizeof w->last, "%s", message);
}

static kiln_context *open_ctx(const char *dir, int use_tuning, warnings *w)
{
    kiln_context_options o = kiln_context_options_default();
    o.cache_dir = dir;
    o.use_tuning = use_tuning;
    o.chooser = &kiln_tune_chooser;
    o.warn = w ? collect : NULL;
    o.warn_user = w;
    kiln_context *ctx = NULL;
    cr_assert_eq(kiln_context_create("cpu", &o, &ctx), KILN_OK, "%s", kiln_last_error());
    return ctx;
}

/* y = x W^T for a q4_0 W, on ctx, twice (the warning is said once), y NaN-poisoned first. */
static void run_matmul(kiln_context *ctx, const float *w32, const float *x, float *y)
{
    size_t row = kiln_row_bytes(KILN_Q4_0, K);
    kiln_buffer *bx, *bw, *by;
    cr_assert_eq(kiln_buffer_alloc(ctx, (size_t)N * K * 4, &bx), KILN_OK);
    cr_assert_eq(kiln_buffer_alloc(ctx, row * M, &bw), KILN_OK); /* exactly sized: ASan sees an overread */
    cr_assert_eq(kiln_buffer_alloc(ctx, (size_t)N * M * 4, &by), KILN_OK);
    unsigned char *q = kiln_buffer_host_ptr(bw);
    for (int r = 0; r < M; r++) kiln_quantize_row(KILN_Q4_0, w32 + (size_t)r * K, q + (size_t)r * row, K);
    memcpy(kiln_buffer_host_ptr(bx), x, (size_t)N * K * 4);
    kiln_matmul_params p = {0};
    p.x = kiln_tensor_make(bx, 0, KILN_F32, 2, (int64_t[]){N, K});
    p.w = kiln_tensor_make(bw, 0, KILN_Q4_0, 2, (int64_t[]){M, K});
    p.y = kiln_tensor_make(by, 0, KILN_F32, 2, (int64_t[]){N, M});
    for (int rep = 0; rep < 2; rep++) {
        float *out = kiln_buffer_host_ptr(by);
        for (int i = 0; i < N * M; i++) out[i] = NAN;
        cr_assert_eq(kiln_matmul(ctx, &p), KILN_OK, "%s", kiln_last_error());
        cr_assert_eq(kiln_synchronize(ctx), KILN_OK);
        memcpy(y, out, (size_t)N * M * 4);
    }
    kiln_buffer_free(bx);
    kiln_buffer_free(bw);
    kiln_buffer_free(by);
}

/* A built-in cpu spec of ctx's isa like `like` but with weight format fmt. */
static int builtin_of_format(const kiln_spec *like, kiln_dtype fmt, kiln_spec *out)
{
    for (size_t i = 0; i < kiln_cpu_kernel_count(); i++) {
        const kiln_spec *s = kiln_cpu_kernel_spec(i);
        if (s->op == like->op && s->isa == like->isa && s->fmt == fmt) {
            *out = *s;
            return 1;
        }
    }
    return 0;
}

static void write_cache(kiln_context *ctx, const char *class_text, const char *tuned_text)
{
    char path[2048], key[256], cmd[2200];
    cr_assert_eq(kiln_tune_cache_path(ctx, path, sizeof path), KILN_OK);
    cr_assert_eq(kiln_tune_device_key(ctx, key, sizeof key), KILN_OK);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    cr_assert_eq(system(cmd), 0);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "{\"kiln_tune_version\": 1, \"kiln_version\": \"%s\", \"device_key\": \"%s\", \"entries\": "
               "[{\"class\": \"%s | n=2-8\", \"shape\": \"m=%d k=%d n=%d\", \"default_spec\": \"\", "
               "\"tuned_spec\": \"%s\", \"default_us\": 2, \"tuned_us\": 1, \"tried\": 2, \"rejected\": 0}]}",
            kiln_version(), key, class_text, M, K, N, tuned_text);
    fclose(f);
}

Test(tune_trust, untrusted_entries_are_skipped_with_one_warning, .timeout = 120)
{
    char dir[] = "/tmp/kiln-tune-trust-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    srand((unsigned)getpid());
    float *w32 = malloc((size_t)M * K * 4), *x = malloc((size_t)N * K * 4);
    float *want = malloc((size_t)N * M * 4), *got = malloc((size_t)N * M * 4);
    for (int i = 0; i < M * K; i++) w32[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int i = 0; i < N * K; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;

    /* the default kernel's output, and its class */
    kiln_context *plain = open_ctx(dir, 0, NULL);
    run_matmul(plain, w32, x, want);
    kiln_spec dflt, q8, base;
    {
        kiln_buffer *bx, *bw, *by;
        cr_assert_eq(kiln_buffer_alloc(plain, (size_t)N * K * 4, &bx), KILN_OK);
        cr_assert_eq(kiln_buffer_alloc(plain, kiln_row_bytes(KILN_Q4_0, K) * M, &bw), KILN_OK);
        cr_assert_eq(kiln_buffer_alloc(plain, (size_t)N * M * 4, &by), KILN_OK);
        kiln_matmul_params p = {0};
        p.x = kiln_tensor_make(bx, 0, KILN_F32, 2, (int64_t[]){N, K});
        p.w = kiln_tensor_make(bw, 0, KILN_Q4_0, 2, (int64_t[]){M, K});
        p.y = kiln_tensor_make(by, 0, KILN_F32, 2, (int64_t[]){N, M});
        cr_assert_eq(kiln_kernel_choose(plain, KILN_OP_MATMUL, &p, &dflt), KILN_OK, "%s", kiln_last_error());
        kiln_buffer_free(bx);
        kiln_buffer_free(bw);
        kiln_buffer_free(by);
    }
    kiln_context_destroy(plain);
    cr_assert(builtin_of_format(&dflt, KILN_Q8_0, &q8), "a built-in q8_0 matmul");
    base = dflt;
    memset(&base.tile, 0, sizeof base.tile);
    char class_text[KILN_SPEC_TEXT_MAX], q8_text[KILN_SPEC_TEXT_MAX], t[KILN_SPEC_TEXT_MAX];
    kiln_spec_to_text(&base, class_text, sizeof class_text);
    kiln_spec_to_text(&q8, q8_text, sizeof q8_text);

    kiln_spec odd = dflt; /* a valid spec with tiles no cpu instance has */
    odd.tile.tm = 3, odd.tile.tn = 48;
    char odd_text[KILN_SPEC_TEXT_MAX];
    kiln_spec_to_text(&odd, odd_text, sizeof odd_text);
    cr_assert_eq(kiln_spec_validate(&odd), KILN_OK, "'%s' is a valid spec: %s", odd_text, kiln_last_error());

    char big_text[KILN_SPEC_TEXT_MAX + 8]; /* the odd spec with tm=100000 */
    const char *tm3 = strstr(odd_text, "tm=3 ");
    cr_assert_not_null(tm3);
    snprintf(big_text, sizeof big_text, "%.*stm=100000 %s", (int)(tm3 - odd_text), odd_text, tm3 + 5);

    struct {
        const char *what, *class_text, *tuned;
    } cases[] = {
        {"a q8_0 spec under a q4_0 class", class_text, q8_text},
        {"a spec not built in", class_text, odd_text},
        {"a cuda spec in the cpu file", class_text, "matmul backend=cuda fmt=q4_0 act=f32 tm=4 tn=64 tk=256 threads=128 stages=2 vec=16 split=1"},
        {"a tile out of range", class_text, big_text},
        {"a spec that does not parse", class_text, "matmul backend=cpu fmt=q4_0 bogus=1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        warnings w = {0};
        kiln_context *ctx = open_ctx(dir, 1, &w);
        write_cache(ctx, cases[i].class_text, cases[i].tuned);
        run_matmul(ctx, w32, x, got);
        for (int j = 0; j < N * M; j++)
            cr_assert(got[j] == want[j], "%s: y[%d] = %g, the default kernel gives %g", cases[i].what, j, got[j], want[j]);
        cr_assert_eq(w.count, 1, "%s: one warning, got %d (last: %s)", cases[i].what, w.count, w.last);
        cr_log_info("%s: %s", cases[i].what, w.last);
        kiln_context_destroy(ctx);
    }
    (void)t;

    /* a sound entry is still used, and says nothing */
    {
        warnings w = {0};
        kiln_context *ctx = open_ctx(dir, 1, &w);
        kiln_spec_to_text(&dflt, t, sizeof t);
        write_cache(ctx, class_text, t);
        run_matmul(ctx, w32, x, got);
        cr_assert_eq(memcmp(got, want, (size_t)N * M * 4), 0);
        cr_assert_eq(w.count, 0, "no warning for a sound entry: %s", w.last);
        kiln_context_destroy(ctx);
    }
    free(w32), free(x), free(want), free(got);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
