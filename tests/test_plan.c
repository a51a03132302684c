/* tests/test_plan.c — plans: made once from shapes (no buffers), run on fresh
 * tensors each call on every backend against the double reference; the
 * cheap checks of a run refuse every call that is not the planned one; one
 * plan runs from several threads at once; versioned structs. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/ref.h"
#include "support/harness.h"

typedef struct mm_shape {
    kiln_dtype fmt;
    int64_t n, m, k;
    unsigned epi;
} mm_shape;

static kiln_tensor shape_only(kiln_dtype t, int64_t rows, int64_t cols)
{
    return kiln_tensor_make(NULL, 0, t, 2, (int64_t[]){rows, cols});
}

/* Block formats: x may go to 8 bits per block (see test_op_matmul.c mm_tol). */
static kt_tol tol_of(kiln_dtype fmt)
{
    return fmt == KILN_F32 ? (kt_tol){1e-5, 5e-5} : fmt == KILN_F16 ? (kt_tol){1e-3, 3e-3} : (kt_tol){2.5e-2, 3e-2};
}

/* One plan per context, then `rounds` runs, each on new x (and residual/y)
 * buffers with new data, poisoned outputs, compared with the reference. */
static void plan_and_run(const kt_ctx *c, const mm_shape *s, int rounds)
{
    kiln_context *ctx = c->ctx;
    char what[256];
    snprintf(what, sizeof what, "%s plan matmul fmt=%s n=%lld m=%lld k=%lld epi=%u", c->label, kt_dtype_name(s->fmt),
             (long long)s->n, (long long)s->m, (long long)s->k, s->epi);
    const int bias = (s->epi & KILN_EPI_BIAS) != 0, residual = (s->epi & KILN_EPI_RESIDUAL) != 0;
    kiln_tensor b_shape = kiln_tensor_make(NULL, 0, KILN_F32, 1, &s->m), r_shape = shape_only(KILN_F32, s->n, s->m);
    kiln_matmul_params shapes = {.size = sizeof shapes, .x = shape_only(KILN_F32, s->n, s->k),
                                 .w = shape_only(s->fmt, s->m, s->k), .bias = bias ? &b_shape : NULL,
                                 .residual = residual ? &r_shape : NULL, .y = shape_only(KILN_F32, s->n, s->m),
                                 .epilogue = s->epi};
    kiln_plan *plan = NULL;
    kiln_status st = kiln_matmul_plan(ctx, &shapes, &plan);
    cr_assert_eq(st, KILN_OK, "%s: kiln_matmul_plan: %s", what, kiln_last_error());
    cr_expect_eq(kiln_plan_workspace_size(plan), 0);

    kt_rng r = kt_rng_make((uint64_t)s->fmt * 131 + (uint64_t)s->n * 7 + (uint64_t)s->m + s->epi);
    float *wf = kt_randn(&r, (size_t)(s->m * s->k), 0, 1 / sqrt((double)s->k)), *bf = kt_randn(&r, (size_t)s->m, 0, 1);
    void *wb = kt_encode(s->fmt, wf, s->m, s->k, NULL);
    kiln_tensor w = kt_tensor(ctx, s->fmt, 2, (int64_t[]){s->m, s->k}, wb), bt = {0};
    if (bias) bt = kt_tensor(ctx, KILN_F32, 1, &s->m, bf);
    for (int round = 0; round < rounds; round++) {
        float *xf = kt_randn(&r, (size_t)(s->n * s->k), 0, 1), *rf = kt_randn(&r, (size_t)(s->n * s->m), 0, 1);
        double *ref = malloc(sizeof(double) * (size_t)(s->n * s->m)), *scale = malloc(sizeof(double) * (size_t)(s->n * s->m));
        kiln_ref_matmul_args ra = {.n = s->n, .m = s->m, .k = s->k, .x_dtype = KILN_F32, .x = xf, .w_dtype = s->fmt, .w = wb,
                                   .bias = bias ? bf : NULL, .residual_dtype = KILN_F32, .residual = residual ? rf : NULL,
                                   .epilogue = s->epi};
        cr_assert_eq(kiln_ref_matmul(&ra, ref, scale), KILN_OK);
        kiln_tensor x = kt_tensor(ctx, KILN_F32, 2, (int64_t[]){s->n, s->k}, xf);
        /* residual added in place: y holds it (aliasing is allowed) */
        kiln_tensor y = kt_tensor(ctx, KILN_F32, 2, (int64_t[]){s->n, s->m}, residual ? rf : NULL);
        kiln_matmul_params p = shapes;
        p.x = x, p.w = w, p.y = y, p.bias = bias ? &bt : NULL, p.residual = residual ? &y : NULL;
        st = kiln_plan_run(plan, &p, NULL, NULL);
        if (st != KILN_OK) kt_fail_status(what, "kiln_plan_run", st);
        else kt_check(what, &y, ref, scale, tol_of(s->fmt));
        kt_tensor_free(&x), kt_tensor_free(&y);
        free(xf), free(rf), free(ref), free(scale);
    }
    /* the plan runs what the one-call op would choose */
    kiln_spec planned, chosen;
    kiln_matmul_params p = shapes;
    kiln_tensor x = kt_tensor(ctx, KILN_F32, 2, (int64_t[]){s->n, s->k}, NULL), y = kt_tensor(ctx, KILN_F32, 2, (int64_t[]){s->n, s->m}, NULL);
    p.x = x, p.w = w, p.y = y, p.bias = bias ? &bt : NULL, p.residual = residual ? &y : NULL;
    cr_assert_eq(kiln_plan_spec(plan, &planned), KILN_OK);
    cr_assert_eq(kiln_kernel_choose(ctx, KILN_OP_MATMUL, &p, &chosen), KILN_OK, "%s", kiln_last_error());
    cr_expect(kiln_spec_equal(&planned, &chosen), "%s: the plan's spec is not the one kiln_matmul chooses", what);
    kt_tensor_free(&x), kt_tensor_free(&y), kt_tensor_free(&w), kt_tensor_free(&bt);
    free(wf), free(bf), free(wb);
    kiln_plan_destroy(plan);
}

Test(plan, runs_match_the_reference_on_every_backend, .timeout = 600)
{
    const mm_shape shapes[] = {
        {KILN_Q4_0, 1, 40, 64, KILN_EPI_RESIDUAL},
        {KILN_Q8_0, 5, 33, 96, KILN_EPI_BIAS},
        {KILN_F16, 3, 17, 48, KILN_EPI_NONE},
    };
    kt_ctx_list L;
    kt_contexts_open(&L);
    for (int c = 0; c < L.count; c++)
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) plan_and_run(&L.items[c], &shapes[i], 2);
    kt_contexts_close(&L);
}

/* ------------------------------------------------------------ the checks of a run */

typedef struct fixture {
    kiln_context *ctx, *other;
    kiln_tensor x, w, y, r;
    kiln_matmul_params p;
    kiln_plan *plan;
} fixture;

static void fixture_open(fixture *f)
{
    memset(f, 0, sizeof *f);
    kiln_context_options o = kiln_context_options_default();
    o.use_tuning = 0;
    cr_assert_eq(kiln_context_create("cpu", &o, &f->ctx), KILN_OK);
    cr_assert_eq(kiln_context_create("cpu", &o, &f->other), KILN_OK);
    f->x = kt_tensor(f->ctx, KILN_F32, 2, (int64_t[]){2, 64}, NULL);
    f->w = kt_tensor(f->ctx, KILN_Q8_0, 2, (int64_t[]){8, 64}, NULL);
    f->y = kt_tensor(f->ctx, KILN_F32, 2, (int64_t[]){2, 8}, NULL);
    f->r = kt_tensor(f->ctx, KILN_F32, 2, (int64_t[]){2, 8}, NULL);
    f->p = (kiln_matmul_params){.size = sizeof f->p, .x = f->x, .w = f->w, .residual = &f->r, .y = f->y,
                                .epilogue = KILN_EPI_RESIDUAL};
    cr_assert_eq(kiln_matmul_plan(f->ctx, &f->p, &f->plan), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_plan_run(f->plan, &f->p, NULL, NULL), KILN_OK, "%s", kiln_last_error());
}

static void fixture_close(fixture *f)
{
    kiln_plan_destroy(f->plan);
    kt_tensor_free(&f->x), kt_tensor_free(&f->w), kt_tensor_free(&f->y), kt_tensor_free(&f->r);
    kiln_context_destroy(f->ctx);
    kiln_context_destroy(f->other);
}

static void refused(const fixture *f, const kiln_matmul_params *p, kiln_status want, const char *words, void *stream,
                    kiln_buffer *ws)
{
    kiln_status st = kiln_plan_run(f->plan, p, stream, ws);
    cr_expect_eq(st, want, "expected %s, got %s (%s)", kiln_status_name(want), kiln_status_name(st), kiln_last_error());
    cr_expect(strstr(kiln_last_error(), words), "'%s' does not say '%s'", kiln_last_error(), words);
}

Test(plan, a_run_refuses_what_was_not_planned)
{
    fixture f;
    fixture_open(&f);
    kiln_matmul_params p = f.p;
    kiln_tensor x3 = kt_tensor(f.ctx, KILN_F32, 2, (int64_t[]){3, 64}, NULL);
    p.x = x3;
    refused(&f, &p, KILN_ERR_SHAPE, "x has another dtype, shape or strides", NULL, NULL);
    p = f.p, p.residual = NULL, p.epilogue = 0;
    refused(&f, &p, KILN_ERR_INVALID_ARG, "residual is NULL", NULL, NULL);
    p = f.p, p.epilogue = KILN_EPI_RESIDUAL | KILN_EPI_BIAS;
    refused(&f, &p, KILN_ERR_INVALID_ARG, "epilogue differs", NULL, NULL);
    /* a y that lies past the end of its (small) buffer */
    kiln_buffer *small = NULL;
    cr_assert_eq(kiln_buffer_alloc(f.ctx, 16, &small), KILN_OK);
    p = f.p, p.y.buf = small;
    refused(&f, &p, KILN_ERR_SHAPE, "buffer has 16 bytes", NULL, NULL);
    p = f.p, p.y.buf = NULL;
    refused(&f, &p, KILN_ERR_INVALID_ARG, "y has no buffer", NULL, NULL);
    /* a buffer of another context */
    kiln_tensor y_other = kt_tensor(f.other, KILN_F32, 2, (int64_t[]){2, 8}, NULL);
    p = f.p, p.y = y_other;
    refused(&f, &p, KILN_ERR_INVALID_ARG, "another context", NULL, NULL);
    /* y overlapping x in one buffer */
    p = f.p, p.y.buf = f.x.buf, p.y.offset = 0;
    refused(&f, &p, KILN_ERR_INVALID_ARG, "overlaps", NULL, NULL);
    refused(&f, &f.p, KILN_ERR_INVALID_ARG, "takes no stream", (void *)&p, NULL);
    refused(&f, &f.p, KILN_ERR_INVALID_ARG, "another context", NULL, y_other.buf);
    p = f.p, p.size = sizeof p + 8;
    refused(&f, &p, KILN_ERR_INVALID_ARG, "newer kiln.h", NULL, NULL);
    cr_expect_eq(kiln_plan_run(NULL, &f.p, NULL, NULL), KILN_ERR_INVALID_ARG);
    cr_expect_eq(kiln_plan_run(f.plan, NULL, NULL, NULL), KILN_ERR_INVALID_ARG);
    /* and the planned call still runs */
    cr_expect_eq(kiln_plan_run(f.plan, &f.p, NULL, NULL), KILN_OK, "%s", kiln_last_error());
    kiln_buffer_free(small);
    kt_tensor_free(&x3), kt_tensor_free(&y_other);
    fixture_close(&f);
}

Test(plan, bad_shapes_are_refused_at_plan_time)
{
    fixture f;
    fixture_open(&f);
    kiln_plan *pl = (kiln_plan *)&f; /* must be reset to NULL on failure */
    kiln_matmul_params p = f.p;
    p.w.ne[1] = 32; /* k mismatch */
    cr_expect_eq(kiln_matmul_plan(f.ctx, &p, &pl), KILN_ERR_SHAPE);
    cr_expect_null(pl);
    cr_expect(strstr(kiln_last_error(), "k=64"), "%s", kiln_last_error());
    p = f.p, p.x.buf = NULL, p.y.buf = NULL, p.residual = NULL, p.epilogue = 0; /* shapes without buffers are fine */
    cr_expect_eq(kiln_matmul_plan(f.ctx, &p, &pl), KILN_OK, "%s", kiln_last_error());
    kiln_plan_destroy(pl);
    cr_expect_eq(kiln_matmul_plan(f.ctx, NULL, &pl), KILN_ERR_INVALID_ARG);
    cr_expect_eq(kiln_matmul_plan(NULL, &f.p, &pl), KILN_ERR_INVALID_ARG);
    fixture_close(&f);
}

/* A params struct from an older header: shorter, its missing fields read as 0. */
Test(plan, structs_carry_their_size)
{
    fixture f;
    fixture_open(&f);
    kiln_matmul_params p = f.p;
    p.size = 0; /* zero-initialized callers */
    cr_expect_eq(kiln_matmul(f.ctx, &p), KILN_OK, "%s", kiln_last_error());
    p.size = offsetof(kiln_matmul_params, epilogue); /* an "older" struct without the epilogue */
    p.residual = NULL;
    kiln_status st = kiln_matmul(f.ctx, &p);
    cr_expect_eq(st, KILN_OK, "the missing epilogue reads as none: %s", kiln_last_error());
    p.size = 3;
    cr_expect_eq(kiln_matmul(f.ctx, &p), KILN_ERR_INVALID_ARG);
    kiln_context_options o = kiln_context_options_default();
    cr_expect_eq(o.size, sizeof o);
    o.size = sizeof o + 16;
    kiln_context *ctx = NULL;
    cr_expect_eq(kiln_context_create("cpu", &o, &ctx), KILN_ERR_INVALID_ARG);
    cr_expect_null(ctx);
    fixture_close(&f);
}

/* ------------------------------------------------------------ threads */

enum { THREADS = 4, RUNS = 40, TM = 96, TK = 128, TN = 3 };

typedef struct worker {
    kiln_context *ctx;
    const kiln_plan *plan;
    kiln_tensor x, y;       /* this worker's own (allocated by the main thread: buffers are not shared-safe) */
    const kiln_tensor *w;
    const double *ref;      /* and its expected output */
    int one_call;           /* use kiln_matmul instead of the plan */
    int bad;
    char why[256];
} worker;

static void *work(void *arg)
{
    worker *wk = arg;
    kiln_tensor x = wk->x, y = wk->y;
    kiln_matmul_params p = {.size = sizeof p, .x = x, .w = *wk->w, .y = y};
    for (int i = 0; i < RUNS && !wk->bad; i++) {
        memset(kiln_buffer_host_ptr(y.buf), 0xff, kiln_buffer_size(y.buf));
        kiln_status st = wk->one_call ? kiln_matmul(wk->ctx, &p) : kiln_plan_run(wk->plan, &p, NULL, NULL);
        if (st != KILN_OK) {
            wk->bad = 1;
            snprintf(wk->why, sizeof wk->why, "run %d: %s", i, kiln_last_error());
            break;
        }
        const float *out = kiln_buffer_host_ptr(y.buf);
        for (int j = 0; j < TN * TM; j++)
            if (!(fabs(out[j] - wk->ref[j]) <= 1e-4 * (1 + fabs(wk->ref[j])))) {
                wk->bad = 1;
                snprintf(wk->why, sizeof wk->why, "run %d: y[%d] = %g, expected %g", i, j, out[j], wk->ref[j]);
                break;
            }
    }
    return NULL;
}

/* kiln.h "Threads": one plan, shared, run from several threads on one
 * context while another thread uses the one-call op; each thread has its own
 * x and y. (tests/stress/ runs the same under ThreadSanitizer: make tsan.) */
Test(plan, one_plan_runs_from_several_threads_at_once, .timeout = 300)
{
    kiln_context_options o = kiln_context_options_default();
    o.use_tuning = 0;
    o.threads = 2;
    kiln_context *ctx = NULL;
    cr_assert_eq(kiln_context_create("cpu", &o, &ctx), KILN_OK);
    kt_rng r = kt_rng_make(77);
    float *wf = kt_randn(&r, TM * TK, 0, 0.1);
    kiln_tensor w = kt_tensor(ctx, KILN_F32, 2, (int64_t[]){TM, TK}, wf);
    kiln_matmul_params shapes = {.size = sizeof shapes, .x = shape_only(KILN_F32, TN, TK), .w = w,
                                 .y = shape_only(KILN_F32, TN, TM)};
    kiln_plan *plan = NULL;
    cr_assert_eq(kiln_matmul_plan(ctx, &shapes, &plan), KILN_OK, "%s", kiln_last_error());
    worker wk[THREADS + 1];
    float *xs[THREADS + 1];
    double *refs[THREADS + 1];
    pthread_t th[THREADS + 1];
    for (int t = 0; t <= THREADS; t++) {
        xs[t] = kt_randn(&r, TN * TK, 0, 1);
        refs[t] = malloc(sizeof(double) * TN * TM);
        kiln_ref_matmul_args ra = {.n = TN, .m = TM, .k = TK, .x_dtype = KILN_F32, .x = xs[t], .w_dtype = KILN_F32, .w = wf};
        cr_assert_eq(kiln_ref_matmul(&ra, refs[t], NULL), KILN_OK);
        wk[t] = (worker){.ctx = ctx, .plan = plan, .w = &w, .ref = refs[t], .one_call = t == THREADS,
                         .x = kt_tensor(ctx, KILN_F32, 2, (int64_t[]){TN, TK}, xs[t]),
                         .y = kt_tensor(ctx, KILN_F32, 2, (int64_t[]){TN, TM}, NULL)};
    }
    for (int t = 0; t <= THREADS; t++) cr_assert_eq(pthread_create(&th[t], NULL, work, &wk[t]), 0);
    for (int t = 0; t <= THREADS; t++) pthread_join(th[t], NULL);
    for (int t = 0; t <= THREADS; t++) cr_expect(!wk[t].bad, "thread %d (%s): %s", t, wk[t].one_call ? "kiln_matmul" : "plan", wk[t].why);
    for (int t = 0; t <= THREADS; t++) free(xs[t]), free(refs[t]), kt_tensor_free(&wk[t].x), kt_tensor_free(&wk[t].y);
    kiln_plan_destroy(plan);
    kt_tensor_free(&w);
    free(wf);
    kiln_context_destroy(ctx);
}
