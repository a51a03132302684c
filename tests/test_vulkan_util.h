/* tests/test_vulkan_util.h — helpers shared by tests/test_vulkan*.c (header only). */
#ifndef KILN_TEST_VULKAN_UTIL_H
#define KILN_TEST_VULKAN_UTIL_H
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/kiln.h"

static inline void vk_skip_unless_available(void)
{
    if (!kiln_backend_available(KILN_BACKEND_VULKAN)) {
        if (getenv("KILN_REQUIRE_BACKENDS") && strstr(getenv("KILN_REQUIRE_BACKENDS"), "vulkan"))
            cr_assert_fail("vulkan required but unavailable: %s", kiln_last_error());
        cr_skip_test("vulkan unavailable: %s", kiln_last_error());
    }
}

/* A vulkan context with its caches under cache_dir (NULL: a fresh temp dir). */
static inline kiln_context *vk_open(const char *cache_dir)
{
    static char tmp[64];
    if (!cache_dir) {
        snprintf(tmp, sizeof tmp, "/tmp/kiln-vktest-XXXXXX");
        cr_assert_not_null(mkdtemp(tmp));
        cache_dir = tmp;
    }
    kiln_context_options o = kiln_context_options_default();
    o.cache_dir = cache_dir;
    o.use_tuning = 0;
    kiln_context *ctx = NULL;
    kiln_status st = kiln_context_create("vulkan", &o, &ctx);
    cr_assert_eq(st, KILN_OK, "kiln_context_create(vulkan): %s: %s", kiln_status_name(st), kiln_last_error());
    return ctx;
}

/* An RMSNorm problem small enough for lavapipe: x [rows][dim] f32 with a
 * weight, its double reference, and buffers on ctx (x and weight uploaded, y
 * poisoned with NaN). */
typedef struct vk_norm_case {
    int64_t rows, dim;
    float *x, *weight;
    double *ref;
    kiln_buffer *bx, *bw, *by;
    kiln_norm_params p;
    kiln_tensor weight_t;
} vk_norm_case;

static inline void vk_norm_make(kiln_context *ctx, vk_norm_case *c, int64_t rows, int64_t dim, unsigned seed)
{
    memset(c, 0, sizeof *c);
    c->rows = rows, c->dim = dim;
    srand(seed);
    c->x = malloc(sizeof(float) * (size_t)(rows * dim));
    c->weight = malloc(sizeof(float) * (size_t)dim);
    c->ref = malloc(sizeof(double) * (size_t)(rows * dim));
    for (int64_t i = 0; i < rows * dim; i++) c->x[i] = (float)(rand() % 2001 - 1000) / 250.0f;
    for (int64_t i = 0; i < dim; i++) c->weight[i] = (float)(rand() % 2001 - 1000) / 500.0f;
    for (int64_t r = 0; r < rows; r++) {
        double ss = 0;
        for (int64_t i = 0; i < dim; i++) ss += (double)c->x[r * dim + i] * c->x[r * dim + i];
        double inv = 1.0 / sqrt(ss / (double)dim + 1e-5);
        for (int64_t i = 0; i < dim; i++) c->ref[r * dim + i] = c->x[r * dim + i] * inv * c->weight[i];
    }
    size_t bytes = sizeof(float) * (size_t)(rows * dim);
    cr_assert_eq(kiln_buffer_alloc(ctx, bytes, &c->bx), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_buffer_alloc(ctx, sizeof(float) * (size_t)dim, &c->bw), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_buffer_alloc(ctx, bytes, &c->by), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_buffer_upload(c->bx, 0, c->x, bytes), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_buffer_upload(c->bw, 0, c->weight, sizeof(float) * (size_t)dim), KILN_OK);
    void *nan = malloc(bytes);
    memset(nan, 0xff, bytes);
    cr_assert_eq(kiln_buffer_upload(c->by, 0, nan, bytes), KILN_OK);
    free(nan);
    int64_t ne[2] = {rows, dim};
    c->weight_t = kiln_tensor_make(c->bw, 0, KILN_F32, 1, &dim);
    c->p = (kiln_norm_params){.kind = KILN_NORM_RMS,
                              .x = kiln_tensor_make(c->bx, 0, KILN_F32, 2, ne),
                              .weight = &c->weight_t,
                              .y = kiln_tensor_make(c->by, 0, KILN_F32, 2, ne),
                              .eps = 1e-5f};
}

/* 1 when y matches the reference (f32 path: 1e-5 relative per element, plus
 * an absolute floor for elements near zero); 0 when it does not (e.g. still NaN). */
static inline int vk_norm_matches(vk_norm_case *c)
{
    size_t n = (size_t)(c->rows * c->dim);
    float *y = malloc(sizeof(float) * n);
    cr_assert_eq(kiln_buffer_download(c->by, 0, y, sizeof(float) * n), KILN_OK, "%s", kiln_last_error());
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++)
        ok = isfinite(y[i]) && fabs(y[i] - c->ref[i]) <= 1e-5 * fabs(c->ref[i]) + 1e-6;
    free(y);
    return ok;
}

static inline void vk_norm_free(vk_norm_case *c)
{
    kiln_buffer_free(c->bx);
    kiln_buffer_free(c->bw);
    kiln_buffer_free(c->by);
    free(c->x), free(c->weight), free(c->ref);
}

#endif
