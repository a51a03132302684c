/* autotune/tune.c — kiln_tune(): for each shape class, search the op's space
 * and keep the fastest candidate that matches the reference.
 *
 * Small spaces are searched exhaustively; larger ones by coordinate descent
 * (one tile field at a time, keeping any gain, until a full round gains
 * nothing or the class's share of the budget is spent) from two starts: the
 * heuristic default and the combination of each field's best value when
 * moved alone; options force either mode. A candidate is poisoned, run once, checked
 * against the double reference, and only then timed; a wrong one scores as
 * infinitely slow and is reported through the progress callback. Backends that
 * compile at run time get each batch of candidates (a window of the
 * exhaustive walk, one axis of a descent round) to compile on a few threads
 * first (the vtable's precompile), so compiles overlap instead of queueing
 * behind measurements. check_exhaustive walks the whole space after the
 * guided search, reusing every time already measured, to compare the two. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "autotune/tune_internal.h"
#include "gen/space.h"

#define EXHAUSTIVE_LIMIT 48
/* A candidate must beat the default by this fraction to replace it: on a
 * shared machine two runs of one kernel differ by a few percent, and a pick
 * made on noise is churn in the cache, not a gain. */
#define KEEP_DEFAULT_MARGIN 0.02
#define MAX_COMPILE_THREADS 8
#define COMPILE_WINDOW_PER_THREAD 4 /* exhaustive walk: candidates compiled per batch, per thread */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

kiln_tune_options kiln_tune_options_default(void)
{
    return (kiln_tune_options){.size = sizeof(kiln_tune_options), .budget_s = 120};
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
    int compile_threads; /* > 1: precompile batches (backend permitting) */
    char what[256];
} search;

static void progress(search *s, const char *fmt, const char *detail)
{
    if (!s->o->progress) return;
    char msg[2048];
    snprintf(msg, sizeof msg, fmt, s->what, detail);
    s->o->progress(s->o->user, s->done, s->total, msg);
}

static int already_seen(const search *s, const char *text, double *us)
{
    for (size_t i = 0; i < s->n_seen; i++)
        if (!strcmp(s->seen[i].text, text)) {
            if (us) *us = s->seen[i].us;
            return 1;
        }
    return 0;
}

/* Whether spec could be a candidate: valid, implementable, not measured yet. */
static int runnable_new(search *s, const kiln_spec *spec)
{
    char text[KILN_SPEC_TEXT_MAX];
    int ok = kiln_spec_to_text(spec, text, sizeof text) >= 0 && !already_seen(s, text, NULL) &&
             kiln_spec_validate(spec) == KILN_OK && kiln_kernel_can_implement(s->ctx, spec) == KILN_OK;
    kiln_clear_error();
    return ok;
}

/* Compile ahead of measuring them those of specs[0..n) that are candidates
 * not measured yet (runnable_new), where the backend compiles at run time and
 * more than one thread is allowed. Failures are left for the candidate's own
 * run to report. */
#define PRECOMPILE_MAX (MAX_COMPILE_THREADS * COMPILE_WINDOW_PER_THREAD)
_Static_assert(PRECOMPILE_MAX >= KILN_SPACE_MAX_VALUES, "an axis's points fit one precompile batch");
static void precompile(search *s, const kiln_spec *specs, int n)
{
    if (s->compile_threads < 2 || !s->ctx->vt->precompile) return; /* nothing to overlap */
    kiln_spec fresh[PRECOMPILE_MAX];
    int n_fresh = 0;
    for (int i = 0; i < n && n_fresh < PRECOMPILE_MAX; i++)
        if (runnable_new(s, &specs[i])) fresh[n_fresh++] = specs[i];
    if (n_fresh < 2) return;
    char msg[64];
    snprintf(msg, sizeof msg, "compiling %d candidates", n_fresh);
    progress(s, "%s: %s", msg);
    kiln_precompile(s->ctx, fresh, n_fresh, s->compile_threads);
    kiln_clear_error();
}

/* The points of axis a moved away from spec from, compiled ahead. */
static void precompile_axis(search *s, const kiln_search_space *sp, int a, const kiln_spec *from)
{
    kiln_spec points[KILN_SPACE_MAX_VALUES];
    for (int v = 0; v < sp->axes[a].count; v++) {
        points[v] = *from;
        kiln_search_space_apply(sp, a, v, &points[v]);
    }
    precompile(s, points, sp->axes[a].count);
}

/* Microseconds per run of spec (measure.c), or INFINITY when it cannot run or is wrong. */
static double evaluate(search *s, const kiln_spec *spec)
{
    char text[KILN_SPEC_TEXT_MAX];
    double seen_us;
    if (kiln_spec_to_text(spec, text, sizeof text) < 0) return INFINITY;
    if (already_seen(s, text, &seen_us)) return seen_us;
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

/* Every point of the space in order, compiled a window at a time; returns
 * the number of points walked (all of them unless the deadline came first). */
static size_t walk_exhaustive(search *s, const kiln_search_space *sp, kiln_spec *best, double *best_us)
{
    size_t size = kiln_search_space_size(sp), i = 0;
    int window = s->compile_threads > 1 ? s->compile_threads * COMPILE_WINDOW_PER_THREAD : 1;
    kiln_spec *batch = malloc((size_t)window * sizeof *batch);
    size_t *index = malloc((size_t)window * sizeof *index);
    if (!batch || !index) window = 0;
    while (i < size && now_s() < s->deadline) {
        /* the next window of valid points, compiled together */
        int n = 0;
        size_t j = i;
        for (; j < size && n < window; j++) {
            if (kiln_search_space_point(sp, j, &batch[n]) != KILN_OK) continue; /* pruned: invalid */
            index[n++] = j;
        }
        kiln_clear_error();
        if (window == 0) { /* out of memory for batches: one point at a time */
            kiln_spec c;
            if (kiln_search_space_point(sp, i, &c) == KILN_OK) {
                double us = evaluate(s, &c);
                if (us < *best_us) *best_us = us, *best = c;
            }
            i++;
            continue;
        }
        precompile(s, batch, n);
        int b = 0;
        for (; b < n && now_s() < s->deadline; b++) {
            double us = evaluate(s, &batch[b]);
            if (us < *best_us) *best_us = us, *best = batch[b];
        }
        i = b == n ? j : index[b]; /* the deadline stops the walk before point index[b] */
    }
    free(batch);
    free(index);
    return i;
}

/* Coordinate descent from *best: one axis at a time, keeping any gain, until
 * a round gains nothing (at most 4 rounds) or the deadline. */
static void descend(search *s, const kiln_search_space *sp, kiln_spec *best, double *best_us)
{
    for (int round = 0, improved = 1; improved && round < 4 && now_s() < s->deadline; round++) {
        improved = 0;
        for (int a = 0; a < sp->n_axes && now_s() < s->deadline; a++) {
            precompile_axis(s, sp, a, best);
            for (int v = 0; v < sp->axes[a].count && now_s() < s->deadline; v++) {
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
}

/* Guided search: coordinate descent from the default, then a second descent
 * from the point that takes, on every axis, the value that was fastest when
 * that axis alone moved away from the default (one sweep per axis, mostly
 * measured already). Two starts cost about twice one descent and catch the
 * interactions that trap a single descent in a local optimum: on lavapipe's
 * norm, threads and vec interact, and one start missed the best by 1.3-2x. */
static void guided(search *s, const kiln_search_space *sp, const kiln_spec *dflt, kiln_spec *best, double *best_us)
{
    descend(s, sp, best, best_us);
    kiln_spec start = *dflt;
    for (int a = 0; a < sp->n_axes && now_s() < s->deadline; a++) {
        precompile_axis(s, sp, a, dflt);
        double axis_best = INFINITY;
        int pick = -1;
        for (int v = 0; v < sp->axes[a].count && now_s() < s->deadline; v++) {
            kiln_spec c = *dflt;
            kiln_search_space_apply(sp, a, v, &c);
            double us = evaluate(s, &c);
            if (us < *best_us) *best_us = us, *best = c;
            if (us < axis_best) axis_best = us, pick = v;
        }
        if (pick >= 0) kiln_search_space_apply(sp, a, pick, &start);
    }
    if (now_s() >= s->deadline) return;
    double start_us = evaluate(s, &start);
    if (!isfinite(start_us)) return; /* an invalid combination: nothing to descend from */
    kiln_spec second = start;
    double second_us = start_us;
    descend(s, sp, &second, &second_us);
    if (second_us < *best_us) *best_us = second_us, *best = second;
}

static int use_exhaustive(const kiln_tune_options *o, size_t size)
{
    if (o->exhaustive || o->search == KILN_TUNE_SEARCH_EXHAUSTIVE) return 1;
    if (o->search == KILN_TUNE_SEARCH_GUIDED || o->check_exhaustive) return 0;
    return size <= EXHAUSTIVE_LIMIT;
}

static kiln_status tune_class(kiln_context *ctx, const struct kiln_tune_cache *cache, const kiln_tune_options *o,
                              const kiln_tune_shape *shape,
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
    int band = kiln_shape_band(shape->op, params);
    kiln_tune_class_key(&base, band, res->shape_class, sizeof res->shape_class);
    kiln_spec_to_text(&base, res->default_spec, sizeof res->default_spec);

    const kiln_tune_entry *hit = kiln_tune_cache_find(cache, res->shape_class);
    if (hit && !o->force) {
        *res = hit->r;
        res->from_cache = 1;
        kiln_tune_problem_free(prob);
        return KILN_OK;
    }

    search s = {.ctx = ctx, .o = o, .prob = prob, .deadline = deadline, .done = done, .total = total};
    snprintf(s.what, sizeof s.what, "%s %s", kiln_op_name(shape->op), res->shape);
    s.compile_threads = o->compile_threads;
    if (s.compile_threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        s.compile_threads = cores < 1 ? 1 : cores > MAX_COMPILE_THREADS ? MAX_COMPILE_THREADS : (int)cores;
    }
    if (s.compile_threads > MAX_COMPILE_THREADS) s.compile_threads = MAX_COMPILE_THREADS;
    s.per_candidate_s = (deadline - now_s()) / 16;
    if (s.per_candidate_s > 0.5) s.per_candidate_s = 0.5;
    if (s.per_candidate_s < 0.05) s.per_candidate_s = 0.05;

    double default_us = evaluate(&s, &base);
    kiln_spec best = base;
    double best_us = default_us;
    kiln_search_space sp;
    st = kiln_search_space_make(&base, &sp);
    if (st == KILN_OK && o->axes) st = kiln_search_space_restrict(&sp, o->axes);
    if (st == KILN_OK) {
        size_t size = kiln_search_space_size(&sp);
        res->space_points = size > (size_t)1 << 30 ? 1 << 30 : (int)size;
        if (use_exhaustive(o, size)) {
            snprintf(res->search, sizeof res->search, "exhaustive");
            walk_exhaustive(&s, &sp, &best, &best_us);
        } else {
            snprintf(res->search, sizeof res->search, "guided");
            guided(&s, &sp, &base, &best, &best_us);
        }
        if (isfinite(default_us) && best_us > default_us * (1.0 - KEEP_DEFAULT_MARGIN)) best = base, best_us = default_us;
        res->tried = s.tried; /* the search's own candidates, not the check's */
        if (o->check_exhaustive) {
            /* the whole space, after the guided pick is made; every time
             * already measured is reused, so both sides saw the same numbers */
            kiln_spec ex = best;
            double ex_us = best_us;
            size_t visited = walk_exhaustive(&s, &sp, &ex, &ex_us);
            res->exhaustive_visited = visited > (size_t)1 << 30 ? 1 << 30 : (int)visited;
            res->exhaustive_us = ex_us;
            kiln_spec_to_text(&ex, res->exhaustive_spec, sizeof res->exhaustive_spec);
        }
    }
    /* The default ran first, on a cold problem (pages of the weights not yet
     * touched, threads just woken); measured again now it is compared warm
     * with the candidates that followed it, not flattered by the order. */
    /* Past the deadline: keep the best so far and say so; no re-measure (the
     * budget bounds the run to itself plus one candidate's measurement). */
    if (now_s() >= deadline) res->unfinished = 1;
    if (st == KILN_OK && isfinite(default_us) && !res->unfinished) {
        double again;
        if (kiln_tune_measure(ctx, prob, &base, s.per_candidate_s, &again) == KILN_OK && again < default_us)
            default_us = again;
        kiln_clear_error();
        /* the default kept, or now no slower than the pick: the default, at its new time */
        if (kiln_spec_equal(&best, &base) || best_us > default_us) best = base, best_us = default_us;
        /* and the exhaustive check sees that time too, so its best is never
         * slower than the pick by construction, not by the noise of a re-run */
        if (o->check_exhaustive && res->exhaustive_us > default_us) {
            res->exhaustive_us = default_us;
            kiln_spec_to_text(&base, res->exhaustive_spec, sizeof res->exhaustive_spec);
        }
    }
    free(s.seen);
    kiln_tune_problem_free(prob);
    if (st != KILN_OK) return st;
    if (!isfinite(best_us))
        return kiln_fail(KILN_ERR_INTERNAL, "%s: no candidate ran correctly (%d tried, %d rejected)", s.what,
                         s.tried, s.rejected);
    res->default_us = isfinite(default_us) ? default_us : -1;
    res->tuned_us = best_us;
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
    kiln_tune_options o = kiln_tune_options_default(), local;
    const void *read = &o;
    if (opts) {
        kiln_status bad = kiln_struct_read(opts, sizeof *opts, &local, &read, "kiln_tune: options");
        if (bad != KILN_OK) return bad;
        o = *(const kiln_tune_options *)read;
    }
    if (o.budget_s <= 0) o.budget_s = 120;
    if (o.axes) { /* a misspelt field fails the run, not each class */
        kiln_search_space probe;
        memset(&probe, 0, sizeof probe);
        kiln_status bad = kiln_search_space_restrict(&probe, o.axes);
        if (bad != KILN_OK) return kiln_fail_prefix(bad, "kiln_tune");
    }
    kiln_tune_shape *shapes;
    size_t n;
    kiln_status st = o.model_path ? kiln_tune_model_shapes(&o, &shapes, &n)
                                  : kiln_tune_default_shapes(ctx, &o, &shapes, &n);
    if (st != KILN_OK) return st;
    /* the context's own cache when it consults one, so its next calls see the results */
    struct kiln_tune_cache own = {0}, *cache = kiln_tune_cache_of(ctx);
    if (!cache) cache = kiln_tune_cache_loaded(ctx, &own);
    kiln_tune_result *res = calloc(n ? n : 1, sizeof *res);
    if (!res) {
        free(shapes);
        kiln_tune_cache_clear(&own);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
    }
    double start = now_s(), end = start + o.budget_s;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        /* each class gets an equal share of what is left */
        double share = (end - now_s()) / (double)(n - i);
        kiln_tune_result r;
        if (now_s() >= end) { /* the budget is spent: this class is not begun */
            memset(&r, 0, sizeof r);
            kiln_tune_shape_text(&shapes[i], r.shape, sizeof r.shape);
            snprintf(r.shape_class, sizeof r.shape_class, "%s fmt=%s (not reached)", kiln_op_name(shapes[i].op),
                     kiln_dtype_get(shapes[i].fmt)->name);
            r.unfinished = 2;
            res[kept++] = r;
            continue;
        }
        double class_end = now_s() + (share > 0 ? share : 0);
        st = tune_class(ctx, cache, &o, &shapes[i], class_end < end ? class_end : end, (int)i, (int)n, &r);
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
    kiln_tune_cache_clear(&own);
    kiln_kernel_choices_forget(ctx);
    *results = res;
    *n_results = kept;
    return KILN_OK;
}

void kiln_tune_results_free(kiln_tune_result *results) { free(results); }
