/* autotune/tune.c — kiln_tune(): for each shape class, search the op's space
 * and keep the fastest candidate that matches the reference.
 *
 * Small spaces are searched exhaustively; larger ones by coordinate descent
 * from the heuristic default (one tile field at a time, keeping any gain,
 * until a full round gains nothing or the class's share of the budget is
 * spent). A candidate is poisoned, run once, checked against the double
 * reference, and only then timed; a wrong one scores as infinitely slow and is
 * reported through the progress callback. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autotune/tune_internal.h"
#include "gen/space.h"

#define EXHAUSTIVE_LIMIT 48

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

kiln_tune_options kiln_tune_options_default(void)
{
    return (kiln_tune_options){.budget_s = 120};
}

/* One class being tuned. */
typedef struct search {
    kiln_context *ctx;
    const kiln_tune_options *o;
    kiln_tune_problem *prob;
    double deadline;
    double per_candidate_s;
    /* candidates already evaluated (by canonical text) */
    struct { char text[KILN_SPEC_TEXT_MAX]; double us; } *seen;
    size_t n_seen, cap_seen;
    int tried, rejected;
    int done, total; /* progress */
    char what[256];
} search;

static void progress(search *s, const char *fmt, const char *detail)
{
    if (!s->o->progress) return;
    char msg[2048];
    snprintf(msg, sizeof msg, fmt, s->what, detail);
    s->o->progress(s->o->user, s->done, s->total, msg);
}

/* Median microseconds of spec, or INFINITY when it cannot run or is wrong. */
static double evaluate(search *s, const kiln_spec *spec)
{
    char text[KILN_SPEC_TEXT_MAX];
    if (kiln_spec_to_text(spec, text, sizeof text) < 0) return INFINITY;
    for (size_t i = 0; i < s->n_seen; i++)
        if (!strcmp(s->seen[i].text, text)) return s->seen[i].us;
    double us = INFINITY;
    if (kiln_spec_validate(spec) == KILN_OK && kiln_kernel_can_implement(s->ctx, spec) == KILN_OK) {
        s->tried++;
        progress(s, "%s: %s", text);
        const void *params = kiln_tune_problem_params(s->prob, 0);
        kiln_status st = kiln_tune_problem_poison(s->prob, 0);
        if (st == KILN_OK) st = kiln_kernel_run(s->ctx, spec, params);
        if (st == KILN_OK && s->o->after_first_run) {
            kiln_synchronize(s->ctx);
            s->o->after_first_run(s->o->user, s->ctx, spec, params);
        }
        if (st == KILN_OK) st = kiln_tune_problem_check(s->prob, 0, spec);
        if (st == KILN_OK) {
            st = kiln_tune_measure(s->ctx, s->prob, spec, s->per_candidate_s, &us);
            if (st != KILN_OK) us = INFINITY;
        } else {
            s->rejected++;
            progress(s, "%s: rejected: %s", kiln_last_error());
        }
    }
    if (s->n_seen == s->cap_seen) {
        size_t cap = s->cap_seen ? s->cap_seen * 2 : 32;
        void *v = realloc(s->seen, cap * sizeof *s->seen);
        if (!v) return us;
        s->seen = v;
        s->cap_seen = cap;
    }
    memcpy(s->seen[s->n_seen].text, text, sizeof text);
    s->seen[s->n_seen++].us = us;
    return us;
}

static void search_space(search *s, const kiln_search_space *sp, kiln_spec *best, double *best_us)
{
    size_t size = kiln_search_space_size(sp);
    if (size <= EXHAUSTIVE_LIMIT || s->o->exhaustive) {
        for (size_t i = 0; i < size && now_s() < s->deadline; i++) {
            kiln_spec c;
            if (kiln_search_space_point(sp, i, &c) != KILN_OK) continue; /* pruned: invalid */
            double us = evaluate(s, &c);
            if (us < *best_us) *best_us = us, *best = c;
        }
        return;
    }
    /* coordinate descent from the default */
    for (int round = 0, improved = 1; improved && round < 4 && now_s() < s->deadline; round++) {
        improved = 0;
        for (int a = 0; a < sp->n_axes && now_s() < s->deadline; a++)
            for (int v = 0; v < sp->axes[a].count; v++) {
                kiln_spec c = *best;
                kiln_search_space_apply(sp, a, v, &c);
                double us = evaluate(s, &c);
                if (us < *best_us) {
                    *best_us = us, *best = c;
                    improved = 1;
                }
            }
    }
}

static kiln_status tune_class(kiln_context *ctx, const kiln_tune_options *o, const kiln_tune_shape *shape,
                              double deadline, int done, int total, kiln_tune_result *res)
{
    memset(res, 0, sizeof *res);
    kiln_tune_shape_text(shape, res->shape, sizeof res->shape);
    kiln_tune_problem *prob;
    kiln_status st = kiln_tune_problem_create(ctx, shape, &prob);
    if (st != KILN_OK) return kiln_fail_prefix(st, "%s %s", kiln_op_name(shape->op), res->shape);
    const void *params = kiln_tune_problem_params(prob, 0);
    kiln_spec base;
    st = kiln_choose_heuristic(ctx, shape->op, params, &base);
    if (st != KILN_OK) {
        kiln_tune_problem_free(prob);
        return st;
    }
    int band = kiln_tune_band(shape->op, params);
    kiln_tune_class_key(&base, band, res->shape_class, sizeof res->shape_class);
    kiln_spec_to_text(&base, res->default_spec, sizeof res->default_spec);

    struct kiln_tune_cache *cache = kiln_tune_cache_of(ctx);
    const kiln_tune_entry *hit = cache ? kiln_tune_cache_find(cache, res->shape_class) : NULL;
    if (hit && !o->force) {
        *res = hit->r;
        res->from_cache = 1;
        kiln_tune_problem_free(prob);
        return KILN_OK;
    }

    search s = {.ctx = ctx, .o = o, .prob = prob, .deadline = deadline, .done = done, .total = total};
    snprintf(s.what, sizeof s.what, "%s %s", kiln_op_name(shape->op), res->shape);
    s.per_candidate_s = (deadline - now_s()) / 16;
    if (s.per_candidate_s > 0.5) s.per_candidate_s = 0.5;
    if (s.per_candidate_s < 0.05) s.per_candidate_s = 0.05;

    double default_us = evaluate(&s, &base);
    kiln_spec best = base;
    double best_us = default_us;
    kiln_search_space sp;
    st = kiln_search_space_make(&base, &sp);
    if (st == KILN_OK) search_space(&s, &sp, &best, &best_us);
    free(s.seen);
    kiln_tune_problem_free(prob);
    if (st != KILN_OK) return st;
    if (!isfinite(best_us))
        return kiln_fail(KILN_ERR_INTERNAL, "%s: no candidate ran correctly (%d tried, %d rejected)", s.what,
                         s.tried, s.rejected);
    res->default_us = isfinite(default_us) ? default_us : -1;
    res->tuned_us = best_us;
    res->tried = s.tried;
    res->rejected = s.rejected;
    kiln_spec_to_text(&best, res->tuned_spec, sizeof res->tuned_spec);
    return KILN_OK;
}

kiln_status kiln_tune(kiln_context *ctx, const kiln_tune_options *opts, kiln_tune_result **results,
                      size_t *n_results)
{
    if (!ctx || !results || !n_results) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_tune: NULL argument");
    *results = NULL;
    *n_results = 0;
    kiln_tune_options o = opts ? *opts : kiln_tune_options_default();
    if (o.budget_s <= 0) o.budget_s = 120;
    kiln_tune_shape *shapes;
    size_t n;
    kiln_status st = o.model_path ? kiln_tune_model_shapes(&o, &shapes, &n)
                                  : kiln_tune_default_shapes(ctx, &o, &shapes, &n);
    if (st != KILN_OK) return st;
    struct kiln_tune_cache *cache = kiln_tune_cache_of(ctx);
    if (!cache) {
        free(shapes);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
    }
    kiln_tune_result *res = calloc(n ? n : 1, sizeof *res);
    if (!res) {
        free(shapes);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
    }
    double start = now_s(), end = start + o.budget_s;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        /* each class gets an equal share of what is left */
        double share = (end - now_s()) / (double)(n - i);
        kiln_tune_result r;
        st = tune_class(ctx, &o, &shapes[i], now_s() + (share > 0 ? share : 0), (int)i, (int)n, &r);
        if (st != KILN_OK) {
            if (o.progress) o.progress(o.user, (int)i, (int)n, kiln_last_error());
            continue; /* one class failing does not stop the others */
        }
        res[kept++] = r;
        if (!r.from_cache && kiln_tune_cache_put(cache, &r) == KILN_OK) {
            st = kiln_tune_cache_save(ctx, cache); /* after each class: progress survives interruption */
            if (st != KILN_OK && o.progress) o.progress(o.user, (int)i, (int)n, kiln_last_error());
        }
    }
    if (o.progress) o.progress(o.user, (int)n, (int)n, "done");
    free(shapes);
    kiln_choice_memo_reset(ctx);
    *results = res;
    *n_results = kept;
    return KILN_OK;
}

void kiln_tune_results_free(kiln_tune_result *results) { free(results); }
