/* tests/test_runtime_util.h — helpers shared by tests/test_runtime*.c (header only). */
#ifndef KILN_TEST_RUNTIME_UTIL_H
#define KILN_TEST_RUNTIME_UTIL_H
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/runtime.h"
#include "tests/support/harness.h"
#include "tests/support/models.h"

#define MODELS KILN_SOURCE_DIR "/../shared/models/"

/* A model file (skipped when ../shared lacks it) or a "synthetic:" preset. */
static inline kiln_model *load_or_skip(const char *path)
{
    if (strncmp(path, "synthetic:", 10) != 0) {
        FILE *f = fopen(path, "rb");
        if (!f) cr_skip_test("%s is absent", path);
        fclose(f);
    }
    kiln_model *m = NULL;
    cr_assert_eq(kiln_model_load(path, &m), KILN_OK, "%s", kiln_last_error());
    return m;
}

/* A session of m on context c with options o; NULL (the test failed, with
 * the reason) when it cannot be made. */
static inline kiln_session *session_with(const kiln_model *m, kt_ctx *c, const kiln_session_options *o)
{
    kiln_session *s = NULL;
    kiln_status st = kiln_session_create(m, c->ctx, o, &s);
    if (st != KILN_OK) {
        kt_fail_status(c->label, "kiln_session_create", st);
        return NULL;
    }
    return s;
}

static inline int argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

static inline void poison(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) v[i] = NAN;
}

/* ‖a − b‖ / ‖b‖, with NaN anywhere counting as infinitely wrong. */
static inline double rel_err(const float *a, const float *b, int n)
{
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

#endif
